/*
 * test_objects.c — the object layer's lifecycle (objmem.h §8): a new object
 * has count 1 and a zeroed body; destruction runs finalize -> weak-reference
 * callbacks (newest first) -> clear -> release, finalize once per object even
 * across a resurrection; om_clear_ref; the NULL-tolerant and exported forms;
 * immortal objects (om_immortalize, OM_STATIC_OBJECT_INIT); om_traverse;
 * per-type statistics and the type registry.  Variable-size objects are in
 * test_objects_var.c, long chains in test_objects_chain.c; the probe, plain
 * and node types are objtest.h's.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"
#include "objtest.h"

static int cb_calls;
static void log_callback(om_weakref *ref, om_object *data)
{
    cb_calls++;
    CHECK(om_weakref_get(ref) == NULL); /* cleared before any callback runs */
    ot_ev("W%d", data ? ((ot_tag *)data)->id : -1);
}

/* ------------------------------------------------------------ lifecycle */

static void test_new_count_and_zeroed_body(void)
{
    om_type_stats s0 = ot_stats(&ot_plain_type);
    for (int round = 0; round < 3; round++) {
        ot_plain *p = (ot_plain *)om_new(&ot_plain_type);
        REQUIRE(p != NULL);
        CHECK_EQ(p->ob.refcount, 1);
        CHECK_PTR_EQ(p->ob.type, &ot_plain_type);
        CHECK_EQ((uintptr_t)p % 16, 0);
        CHECK(tu_all_bytes(p->body, sizeof p->body, 0));
        CHECK(om_owns(p)); /* no collector header: the object is the block */
        CHECK_GE(om_usable_size(p), sizeof(ot_plain));
        memset(p->body, 0xab, sizeof p->body); /* the next round must see zeros again */
        om_decref(p);
    }
    om_type_stats s1 = ot_stats(&ot_plain_type);
    CHECK_EQ(s1.created - s0.created, 3);
    CHECK_EQ(s1.destroyed - s0.destroyed, 3);
    CHECK_EQ(s1.live, s0.live);

    /* a type with a finalizer carries a header before the object */
    ot_probe *q = ot_new_probe(0);
    REQUIRE(q != NULL);
    CHECK_EQ((uintptr_t)q % 16, 0);
    CHECK(!om_owns(q));
    CHECK(om_owns((char *)q - 16));
    CHECK(tu_all_bytes((char *)q + sizeof(om_object), sizeof(ot_probe) - sizeof(om_object), 0));
    ot_log_reset();
    om_decref(q);
    CHECK_LOG("F0 C0 R0");
}

static void test_incref_decref(void)
{
    om_type_stats s0 = ot_stats(&ot_probe_type);
    ot_probe *p = ot_new_probe(1);
    REQUIRE(p != NULL);
    ot_log_reset();
    om_incref(p);
    CHECK_EQ(p->ob.refcount, 2);
    om_incref(p);
    om_incref(p);
    CHECK_EQ(p->ob.refcount, 4);
    om_decref(p);
    om_decref(p);
    om_decref(p);
    CHECK_EQ(p->ob.refcount, 1);
    CHECK_LOG("");
    om_object *r = om_newref(OM_OBJ(p));
    CHECK_PTR_EQ(r, p);
    CHECK_EQ(p->ob.refcount, 2);
    om_decref(r);
    om_type_stats s1 = ot_stats(&ot_probe_type);
    CHECK_EQ(s1.created - s0.created, 1);
    CHECK_EQ(s1.live - s0.live, 1);
    CHECK_EQ(s1.destroyed, s0.destroyed);
    om_decref(p);
    CHECK_LOG("F1 C1 R1");
    om_type_stats s2 = ot_stats(&ot_probe_type);
    CHECK_EQ(s2.destroyed - s0.destroyed, 1);
    CHECK_EQ(s2.live, s0.live);
}

/* finalize -> weak-reference callbacks (newest first) -> clear -> release */
static void test_destruction_order(void)
{
    om_object *ta = ot_new_tag(10), *tb = ot_new_tag(11), *tc = ot_new_tag(12);
    ot_probe *p = ot_new_probe(2);
    REQUIRE(p != NULL && ta != NULL && tb != NULL && tc != NULL);
    om_weakref *wa = om_weakref_new(OM_OBJ(p), log_callback, ta);
    om_weakref *wb = om_weakref_new(OM_OBJ(p), log_callback, tb);
    om_weakref *wc = om_weakref_new(OM_OBJ(p), log_callback, tc);
    REQUIRE(wa != NULL && wb != NULL && wc != NULL);
    ot_log_reset();
    cb_calls = 0;
    om_decref(p);
    CHECK_LOG("F2 W12 W11 W10 C2 R2");
    CHECK_EQ(cb_calls, 3);
    om_decref(wa);
    om_decref(wb);
    om_decref(wc);
    CHECK_EQ(cb_calls, 3);
    ot_log_reset();
    om_decref(ta);
    om_decref(tb);
    om_decref(tc);
    CHECK_LOG("t10 t11 t12");

    /* an object whose clear drops the last reference to another: each runs
     * its own steps in order, each exactly once */
    ot_probe *parent = ot_new_probe(3), *child = ot_new_probe(4);
    REQUIRE(parent != NULL && child != NULL);
    parent->ref = OM_OBJ(child); /* steals */
    ot_log_reset();
    om_decref(parent);
    /* the child is destroyed after the parent's release, not inside its
     * clear (a loop, not a recursion) */
    CHECK_LOG("F3 C3 R3 F4 C4 R4");
}

/* finalize may resurrect; it runs once per object, even when the
 * resurrected object dies again */
static void test_resurrection(void)
{
    om_type_stats s0 = ot_stats(&ot_probe_type);
    om_object *t = ot_new_tag(13);
    ot_probe *p = ot_new_probe(5);
    REQUIRE(p != NULL && t != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(p), log_callback, t);
    REQUIRE(w != NULL);
    memset(ot_finalize_calls, 0, sizeof ot_finalize_calls);
    ot_resurrect_id = 5;
    ot_saved = NULL;
    ot_log_reset();
    cb_calls = 0;
    om_decref(p);
    CHECK_LOG("F5");
    CHECK_PTR_EQ(ot_saved, p);
    CHECK_EQ(p->ob.refcount, 1);
    CHECK_PTR_EQ(p->ob.type, &ot_probe_type);
    CHECK_EQ(cb_calls, 0);
    om_type_stats s1 = ot_stats(&ot_probe_type);
    CHECK_EQ(s1.destroyed, s0.destroyed);
    CHECK_EQ(s1.live - s0.live, 1);
    /* still alive: the weak reference still sees it */
    CHECK_EQ(om_weakref_count(OM_OBJ(p)), 1);
    om_object *g = om_weakref_get(w);
    CHECK_PTR_EQ(g, p);
    if (g != NULL) {
        CHECK_EQ(p->ob.refcount, 2);
        om_decref(g);
    }
    /* usable as before */
    om_incref(p);
    om_decref(p);
    CHECK_LOG("F5");

    /* dies again: no second finalize (it would resurrect again) */
    om_clear_ref(&ot_saved);
    CHECK_LOG("F5 W13 C5 R5");
    CHECK_EQ(ot_finalize_calls[5], 1);
    CHECK_EQ(cb_calls, 1);
    CHECK(om_weakref_get(w) == NULL);
    om_type_stats s2 = ot_stats(&ot_probe_type);
    CHECK_EQ(s2.destroyed - s0.destroyed, 1);
    CHECK_EQ(s2.live, s0.live);
    ot_resurrect_id = -1;
    om_decref(w);
    om_decref(t);
}

/* A resurrection in the middle of a cascade: the child of a dying parent
 * resurrects and keeps its own child alive. */
static void test_resurrection_in_cascade(void)
{
    ot_probe *parent = ot_new_probe(20), *child = ot_new_probe(21), *grandchild = ot_new_probe(22);
    REQUIRE(parent != NULL && child != NULL && grandchild != NULL);
    parent->ref = OM_OBJ(child);
    child->ref = OM_OBJ(grandchild);
    memset(ot_finalize_calls, 0, sizeof ot_finalize_calls);
    ot_resurrect_id = 21;
    ot_saved = NULL;
    ot_log_reset();
    om_decref(parent);
    CHECK_LOG("F20 C20 R20 F21");
    CHECK_PTR_EQ(ot_saved, child);
    CHECK_EQ(child->ob.refcount, 1);
    CHECK_PTR_EQ(child->ref, grandchild);
    CHECK_EQ(grandchild->ob.refcount, 1);
    CHECK_EQ(grandchild->id, 22);
    om_clear_ref(&ot_saved);
    CHECK_LOG("F20 C20 R20 F21 C21 R21 F22 C22 R22");
    CHECK_EQ(ot_finalize_calls[21], 1);
    ot_resurrect_id = -1;
}

/* om_clear_ref sets the slot to NULL before the reference is dropped */
static void test_clear_ref(void)
{
    struct { om_object *field; } holder;
    holder.field = OM_OBJ(ot_new_probe(6));
    REQUIRE(holder.field != NULL);
    ot_watched_slot = &holder.field;
    ot_watched_was_null = -1;
    ot_log_reset();
    om_clear_ref(&holder.field);
    CHECK(holder.field == NULL);
    CHECK_EQ(ot_watched_was_null, 1);
    CHECK_LOG("F6 C6 R6");
    ot_watched_slot = NULL;
    om_clear_ref(&holder.field); /* NULL slot: nothing happens */
    CHECK(holder.field == NULL);
    CHECK_LOG("F6 C6 R6");
}

static void test_xincref_xdecref(void)
{
    om_object *none = NULL;
    om_xincref(none);
    om_xdecref(none);
    om_xincref(NULL);
    om_xdecref(NULL);
    ot_probe *p = ot_new_probe(7);
    REQUIRE(p != NULL);
    ot_log_reset();
    om_xincref(p);
    CHECK_EQ(p->ob.refcount, 2);
    om_xdecref(p);
    CHECK_EQ(p->ob.refcount, 1);
    CHECK_LOG("");
    om_xdecref(p);
    CHECK_LOG("F7 C7 R7");
}

/* The exported functions behind the macros (for other languages' FFIs). */
static void test_exported_functions(void)
{
    ot_probe *p = ot_new_probe(8);
    REQUIRE(p != NULL);
    ot_log_reset();
    (om_incref)(OM_OBJ(p));
    CHECK_EQ(p->ob.refcount, 2);
    (om_incref)(OM_OBJ(p));
    CHECK_EQ(p->ob.refcount, 3);
    (om_decref)(OM_OBJ(p));
    (om_decref)(OM_OBJ(p));
    CHECK_EQ(p->ob.refcount, 1);
    CHECK_LOG("");
    (om_decref)(OM_OBJ(p));
    CHECK_LOG("F8 C8 R8");
    /* through function pointers, as an FFI would call them */
    void (*inc)(om_object *) = om_incref;
    void (*dec)(om_object *) = om_decref;
    p = ot_new_probe(9);
    REQUIRE(p != NULL);
    inc(OM_OBJ(p));
    CHECK_EQ(p->ob.refcount, 2);
    dec(OM_OBJ(p));
    dec(OM_OBJ(p));
    CHECK_LOG("F8 C8 R8 F9 C9 R9");
}

/* ------------------------------------------------------------ immortality */

static void test_immortalize(void)
{
    ot_probe *p = ot_new_probe(10);
    REQUIRE(p != NULL);
    CHECK(!om_is_immortal(OM_OBJ(p)));
    om_immortalize(OM_OBJ(p));
    CHECK(om_is_immortal(OM_OBJ(p)));
    intptr_t rc = p->ob.refcount;
    CHECK_GE(rc, OM_IMMORTAL_REFCNT);
    ot_log_reset();
    for (int i = 0; i < 1000; i++) {
        om_incref(p);
        (om_incref)(OM_OBJ(p));
        CHECK_EQ(p->ob.refcount, rc);
    }
    for (int i = 0; i < 3000; i++) {
        om_decref(p);
        (om_decref)(OM_OBJ(p));
        if (p->ob.refcount != rc) {
            CHECK_EQ(p->ob.refcount, rc);
            break;
        }
    }
    CHECK_EQ(p->ob.refcount, rc);
    CHECK_LOG(""); /* never finalized, cleared or released */
    om_object *r = om_newref(OM_OBJ(p));
    CHECK_EQ(r->refcount, rc);
    om_xdecref(r);
    CHECK_LOG("");
    /* weak references to an immortal object never fire */
    om_weakref *w = om_weakref_new(OM_OBJ(p), log_callback, NULL);
    REQUIRE(w != NULL);
    om_object *g = om_weakref_get(w);
    CHECK_PTR_EQ(g, p);
    om_xdecref(g);
    om_decref(p);
    CHECK_PTR_EQ(om_weakref_get(w), p);
    om_decref(p);
    om_decref(w);
    CHECK_LOG("");
}

static struct ot_plain static_plain = { OM_STATIC_OBJECT_INIT(&ot_plain_type), { 0 } };

static void test_static_object(void)
{
    CHECK(om_is_immortal(OM_OBJ(&static_plain)));
    CHECK_EQ(static_plain.ob.refcount, OM_IMMORTAL_REFCNT);
    CHECK_PTR_EQ(static_plain.ob.type, &ot_plain_type);
    om_type_stats s0 = ot_stats(&ot_plain_type);
    for (int i = 0; i < 1000; i++) {
        om_incref(&static_plain);
        (om_incref)(OM_OBJ(&static_plain));
    }
    CHECK_EQ(static_plain.ob.refcount, OM_IMMORTAL_REFCNT);
    for (int i = 0; i < 5000; i++) {
        om_decref(&static_plain);
        (om_decref)(OM_OBJ(&static_plain));
    }
    CHECK_EQ(static_plain.ob.refcount, OM_IMMORTAL_REFCNT);
    om_type_stats s1 = ot_stats(&ot_plain_type);
    CHECK_EQ(s1.destroyed, s0.destroyed);
    CHECK_EQ(s1.live, s0.live);
}

/* ------------------------------------------------------------ traverse */

static int visit_count(om_object *child, void *arg)
{
    (void)child;
    (*(int *)arg)++;
    return 0;
}

static om_object *visited_child;
static int visit_record(om_object *child, void *arg)
{
    (void)arg;
    visited_child = child;
    return 7;
}

static void test_traverse(void)
{
    ot_node *a = (ot_node *)om_new(&ot_node_type);
    ot_node *b = (ot_node *)om_new(&ot_node_type);
    REQUIRE(a != NULL && b != NULL);
    int n = 0;
    CHECK_EQ(om_traverse(OM_OBJ(a), visit_count, &n), 0);
    CHECK_EQ(n, 0);
    a->next = OM_OBJ(b);
    CHECK_EQ(om_traverse(OM_OBJ(a), visit_count, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(om_traverse(OM_OBJ(a), visit_record, NULL), 7);
    CHECK_PTR_EQ(visited_child, b);
    /* a type without traverse holds no references */
    om_object *p = om_new(&ot_plain_type);
    REQUIRE(p != NULL);
    n = 0;
    CHECK_EQ(om_traverse(p, visit_count, &n), 0);
    CHECK_EQ(n, 0);
    om_decref(p);
    om_decref(a);
    CHECK_EQ(ot_live(&ot_node_type), 0);

    /* the examples: a list of three visits three */
    om_object *l = ex_list_new(0);
    REQUIRE(l != NULL);
    for (int i = 0; i < 3; i++) {
        om_object *f = ex_float_new(i);
        REQUIRE(f != NULL);
        CHECK_EQ(ex_list_append(l, f), 0);
        om_decref(f);
    }
    n = 0;
    CHECK_EQ(om_traverse(l, visit_count, &n), 0);
    CHECK_EQ(n, 3);
    om_decref(l);
}

/* ------------------------------------------------------------ statistics */

static om_type reg_a = { OM_TYPE_INIT, .name = "reg_a", .size = 32 };
static om_type reg_b = { OM_TYPE_INIT, .name = "reg_b", .size = 48 };
static om_type reg_c = { OM_TYPE_INIT, .name = "reg_c", .size = 64, .freelist_limit = 7 };
static om_type reg_unused = { OM_TYPE_INIT, .name = "reg_unused", .size = 32, .freelist_limit = 3 };

static int registry_position(const om_type *t, int *count)
{
    int pos = -1, i = 0;
    *count = 0;
    for (const om_type *it = om_type_next(NULL); it != NULL && i < 100000; it = om_type_next(it), i++) {
        if (it == t) {
            if (pos < 0)
                pos = i;
            (*count)++;
        }
    }
    CHECK_LT(i, 100000); /* the registry ends */
    return pos;
}

static void test_type_registry(void)
{
    om_type_stats u = ot_stats(&reg_unused);
    CHECK(u.name != NULL && strcmp(u.name, "reg_unused") == 0);
    CHECK_EQ(u.live, 0);
    CHECK_EQ(u.created, 0);
    CHECK_EQ(u.destroyed, 0);
    CHECK_EQ(u.freelist_hits, 0);
    CHECK_EQ(u.freelist_misses, 0);
    CHECK_EQ(u.freelist_len, 0);
    CHECK_EQ(u.freelist_limit, 3);
    int n;
    CHECK_EQ(registry_position(&reg_a, &n), -1);
    CHECK_EQ(n, 0);

    om_object *a = om_new(&reg_a);
    om_object *c = om_new(&reg_c);
    om_object *b = om_new(&reg_b);
    om_object *a2 = om_new(&reg_a);
    REQUIRE(a != NULL && b != NULL && c != NULL && a2 != NULL);
    int na, nb, nc, nu;
    int pa = registry_position(&reg_a, &na), pb = registry_position(&reg_b, &nb),
        pc = registry_position(&reg_c, &nc), pu = registry_position(&reg_unused, &nu);
    CHECK_EQ(na, 1);
    CHECK_EQ(nb, 1);
    CHECK_EQ(nc, 1);
    CHECK_EQ(nu, 0);
    CHECK_EQ(pu, -1);
    CHECK_MSG(pa >= 0 && pa < pc && pc < pb, "registry positions a=%d c=%d b=%d", pa, pc, pb);
    /* a type with a collector header is registered the same way */
    ot_probe *p = ot_new_probe(12);
    REQUIRE(p != NULL);
    CHECK(registry_position(&ot_probe_type, &n) >= 0);
    CHECK_EQ(n, 1);
    om_decref(p);
    om_decref(a);
    om_decref(b);
    om_decref(c);
    om_decref(a2);
    /* still registered when nothing is alive */
    CHECK_EQ(registry_position(&reg_a, &n), pa);
    CHECK_EQ(n, 1);
}

static om_type stat_type = { OM_TYPE_INIT, .name = "stat_type", .size = 40, .freelist_limit = 2 };

static void test_type_stats(void)
{
    om_object *o[5];
    for (int i = 0; i < 3; i++)
        o[i] = om_new(&stat_type);
    REQUIRE(o[0] != NULL && o[1] != NULL && o[2] != NULL);
    om_type_stats s = ot_stats(&stat_type);
    CHECK_PTR_EQ(s.name, stat_type.name);
    CHECK_EQ(s.live, 3);
    CHECK_EQ(s.created, 3);
    CHECK_EQ(s.destroyed, 0);
    CHECK_EQ(s.freelist_hits, 0);
    CHECK_EQ(s.freelist_misses, 3);
    CHECK_EQ(s.freelist_len, 0);
    CHECK_EQ(s.freelist_limit, 2);
    om_decref(o[0]);
    om_decref(o[1]);
    om_decref(o[2]);
    s = ot_stats(&stat_type);
    CHECK_EQ(s.live, 0);
    CHECK_EQ(s.destroyed, 3);
    CHECK_EQ(s.freelist_len, 2);
    for (int i = 0; i < 5; i++)
        o[i] = om_new(&stat_type);
    s = ot_stats(&stat_type);
    CHECK_EQ(s.live, 5);
    CHECK_EQ(s.created, 8);
    CHECK_EQ(s.freelist_hits, 2);
    CHECK_EQ(s.freelist_misses, 6);
    CHECK_EQ(s.freelist_len, 0);
    for (int i = 0; i < 5; i++)
        om_decref(o[i]);
    s = ot_stats(&stat_type);
    CHECK_EQ(s.live, 0);
    CHECK_EQ(s.destroyed, 8);
    CHECK_EQ(s.freelist_len, 2);
    CHECK_EQ(om_type_freelist_clear(&stat_type), 2);
    CHECK_EQ(ot_stats(&stat_type).freelist_len, 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_new_count_and_zeroed_body),
        CHECK_CASE(test_incref_decref),
        CHECK_CASE(test_destruction_order),
        CHECK_CASE(test_resurrection),
        CHECK_CASE(test_resurrection_in_cascade),
        CHECK_CASE(test_clear_ref),
        CHECK_CASE(test_xincref_xdecref),
        CHECK_CASE(test_exported_functions),
        CHECK_CASE(test_immortalize),
        CHECK_CASE(test_static_object),
        CHECK_CASE(test_traverse),
        CHECK_CASE(test_type_registry),
        CHECK_CASE(test_type_stats),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
