/*
 * test_objects.c — the object layer's lifecycle (objmem.h §8): a new object
 * has count 1 and a zeroed body; destruction runs finalize -> weak-reference
 * callbacks (newest first) -> clear -> release, finalize once per object even
 * across a resurrection; om_new_var sizes, overflow and EINVAL; om_resize_var;
 * destruction of very long chains in constant C stack (10 million nodes
 * freed on a thread with a 256 KiB stack, a million nested example lists);
 * immortal objects (om_immortalize, OM_STATIC_OBJECT_INIT); the NULL-tolerant
 * and exported forms; om_traverse; per-type statistics and the type registry.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"
#include "objtest.h"

/* ------------------------------------------------------------ probe type
 * Logs F<id> (finalize), C<id> (clear), R<id> (release).  finalize
 * resurrects the object whose id is resurrect_id by storing a reference in
 * `saved`. */
typedef struct probe {
    om_object ob;
    om_object *ref;          /* strong reference, dropped by clear */
    om_weakref *weaklist;
    int id;
    unsigned char body[44];
} probe;

static int resurrect_id = -1;
static om_object *saved;
static int finalize_calls[64];
static om_object **watched_slot;  /* finalize records whether *watched_slot was NULL */
static int watched_was_null = -1;

static void probe_finalize(om_object *self)
{
    probe *p = (probe *)self;
    ot_ev("F%d", p->id);
    if (p->id >= 0 && p->id < 64)
        finalize_calls[p->id]++;
    if (watched_slot != NULL)
        watched_was_null = *watched_slot == NULL;
    if (p->id == resurrect_id)
        saved = om_newref(self);
}

static void probe_clear(om_object *self)
{
    probe *p = (probe *)self;
    ot_ev("C%d", p->id);
    om_clear_ref(&p->ref);
}

static void probe_release(om_object *self)
{
    ot_ev("R%d", ((probe *)self)->id);
}

static int probe_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    probe *p = (probe *)self;
    return p->ref ? visit(p->ref, arg) : 0;
}

static om_type probe_type = {
    .name = "probe",
    .size = sizeof(probe),
    .weaklist_offset = offsetof(probe, weaklist),
    .traverse = probe_traverse,
    .clear = probe_clear,
    .finalize = probe_finalize,
    .release = probe_release,
};

static probe *new_probe(int id)
{
    probe *p = (probe *)om_new(&probe_type);
    if (p != NULL)
        p->id = id;
    return p;
}


static int cb_calls;
static void log_callback(om_weakref *ref, om_object *data)
{
    cb_calls++;
    CHECK(om_weakref_get(ref) == NULL); /* cleared before any callback runs */
    ot_ev("W%d", data ? ((ot_tag *)data)->id : -1);
}

/* plain: no methods, no collector header */
typedef struct plain { om_object ob; unsigned char body[112]; } plain;
static om_type plain_type = { .name = "plain", .size = sizeof(plain) };

/* ------------------------------------------------------------ lifecycle */

static void test_new_count_and_zeroed_body(void)
{
    om_type_stats s0 = ot_stats(&plain_type);
    for (int round = 0; round < 3; round++) {
        plain *p = (plain *)om_new(&plain_type);
        REQUIRE(p != NULL);
        CHECK_EQ(p->ob.refcount, 1);
        CHECK_PTR_EQ(p->ob.type, &plain_type);
        CHECK_EQ((uintptr_t)p % 16, 0);
        CHECK(tu_all_bytes(p->body, sizeof p->body, 0));
        CHECK(om_owns(p)); /* no collector header: the object is the block */
        CHECK_GE(om_usable_size(p), sizeof(plain));
        memset(p->body, 0xab, sizeof p->body); /* the next round must see zeros again */
        om_decref(p);
    }
    om_type_stats s1 = ot_stats(&plain_type);
    CHECK_EQ(s1.created - s0.created, 3);
    CHECK_EQ(s1.destroyed - s0.destroyed, 3);
    CHECK_EQ(s1.live, s0.live);

    /* a type with a finalizer carries a header before the object */
    probe *q = new_probe(0);
    REQUIRE(q != NULL);
    CHECK_EQ((uintptr_t)q % 16, 0);
    CHECK(!om_owns(q));
    CHECK(om_owns((char *)q - 16));
    CHECK(tu_all_bytes((char *)q + sizeof(om_object), sizeof(probe) - sizeof(om_object), 0));
    ot_log_reset();
    om_decref(q);
    CHECK_LOG("F0 C0 R0");
}

static void test_incref_decref(void)
{
    om_type_stats s0 = ot_stats(&probe_type);
    probe *p = new_probe(1);
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
    om_type_stats s1 = ot_stats(&probe_type);
    CHECK_EQ(s1.created - s0.created, 1);
    CHECK_EQ(s1.live - s0.live, 1);
    CHECK_EQ(s1.destroyed, s0.destroyed);
    om_decref(p);
    CHECK_LOG("F1 C1 R1");
    om_type_stats s2 = ot_stats(&probe_type);
    CHECK_EQ(s2.destroyed - s0.destroyed, 1);
    CHECK_EQ(s2.live, s0.live);
}

/* finalize -> weak-reference callbacks (newest first) -> clear -> release */
static void test_destruction_order(void)
{
    om_object *ta = ot_new_tag(10), *tb = ot_new_tag(11), *tc = ot_new_tag(12);
    probe *p = new_probe(2);
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
    probe *parent = new_probe(3), *child = new_probe(4);
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
    om_type_stats s0 = ot_stats(&probe_type);
    om_object *t = ot_new_tag(13);
    probe *p = new_probe(5);
    REQUIRE(p != NULL && t != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(p), log_callback, t);
    REQUIRE(w != NULL);
    memset(finalize_calls, 0, sizeof finalize_calls);
    resurrect_id = 5;
    saved = NULL;
    ot_log_reset();
    cb_calls = 0;
    om_decref(p);
    CHECK_LOG("F5");
    CHECK_PTR_EQ(saved, p);
    CHECK_EQ(p->ob.refcount, 1);
    CHECK_PTR_EQ(p->ob.type, &probe_type);
    CHECK_EQ(cb_calls, 0);
    om_type_stats s1 = ot_stats(&probe_type);
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
    om_clear_ref(&saved);
    CHECK_LOG("F5 W13 C5 R5");
    CHECK_EQ(finalize_calls[5], 1);
    CHECK_EQ(cb_calls, 1);
    CHECK(om_weakref_get(w) == NULL);
    om_type_stats s2 = ot_stats(&probe_type);
    CHECK_EQ(s2.destroyed - s0.destroyed, 1);
    CHECK_EQ(s2.live, s0.live);
    resurrect_id = -1;
    om_decref(w);
    om_decref(t);
}

/* A resurrection in the middle of a cascade: the child of a dying parent
 * resurrects and keeps its own child alive. */
static void test_resurrection_in_cascade(void)
{
    probe *parent = new_probe(20), *child = new_probe(21), *grandchild = new_probe(22);
    REQUIRE(parent != NULL && child != NULL && grandchild != NULL);
    parent->ref = OM_OBJ(child);
    child->ref = OM_OBJ(grandchild);
    memset(finalize_calls, 0, sizeof finalize_calls);
    resurrect_id = 21;
    saved = NULL;
    ot_log_reset();
    om_decref(parent);
    CHECK_LOG("F20 C20 R20 F21");
    CHECK_PTR_EQ(saved, child);
    CHECK_EQ(child->ob.refcount, 1);
    CHECK_PTR_EQ(child->ref, grandchild);
    CHECK_EQ(grandchild->ob.refcount, 1);
    CHECK_EQ(grandchild->id, 22);
    om_clear_ref(&saved);
    CHECK_LOG("F20 C20 R20 F21 C21 R21 F22 C22 R22");
    CHECK_EQ(finalize_calls[21], 1);
    resurrect_id = -1;
}

/* om_clear_ref sets the slot to NULL before the reference is dropped */
static void test_clear_ref(void)
{
    struct { om_object *field; } holder;
    holder.field = OM_OBJ(new_probe(6));
    REQUIRE(holder.field != NULL);
    watched_slot = &holder.field;
    watched_was_null = -1;
    ot_log_reset();
    om_clear_ref(&holder.field);
    CHECK(holder.field == NULL);
    CHECK_EQ(watched_was_null, 1);
    CHECK_LOG("F6 C6 R6");
    watched_slot = NULL;
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
    probe *p = new_probe(7);
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
    probe *p = new_probe(8);
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
    p = new_probe(9);
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
    probe *p = new_probe(10);
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

static struct plain static_plain = { OM_STATIC_OBJECT_INIT(&plain_type), { 0 } };

static void test_static_object(void)
{
    CHECK(om_is_immortal(OM_OBJ(&static_plain)));
    CHECK_EQ(static_plain.ob.refcount, OM_IMMORTAL_REFCNT);
    CHECK_PTR_EQ(static_plain.ob.type, &plain_type);
    om_type_stats s0 = ot_stats(&plain_type);
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
    om_type_stats s1 = ot_stats(&plain_type);
    CHECK_EQ(s1.destroyed, s0.destroyed);
    CHECK_EQ(s1.live, s0.live);
}

/* ------------------------------------------------------------ variable size */

typedef struct vec {
    om_varobject ob;
    om_weakref *weaklist;
    int64_t items[];
} vec;
static om_type vec_type = { .name = "vec", .size = sizeof(vec), .item_size = sizeof(int64_t),
                            .weaklist_offset = offsetof(vec, weaklist) };

static int gcvec_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}
static om_type gcvec_type = { .name = "gcvec", .size = sizeof(vec), .item_size = sizeof(int64_t),
                              .flags = OM_TYPE_GC, .traverse = gcvec_traverse };

typedef struct bytesobj { om_varobject ob; char data[]; } bytesobj;
static om_type bytes_type = { .name = "bytes", .size = sizeof(bytesobj), .item_size = 1 };

static void test_new_var_sizes(void)
{
    size_t counts[] = { 0, 1, 2, 7, 60, 61, 62, 100, 1000, 16000, 20000, 100000 };
    om_type_stats s0 = ot_stats(&vec_type);
    for (size_t k = 0; k < CHECK_COUNT(counts); k++) {
        size_t n = counts[k];
        vec *v = (vec *)om_new_var(&vec_type, n);
        REQUIRE(v != NULL);
        CHECK_EQ(v->ob.ob.refcount, 1);
        CHECK_PTR_EQ(v->ob.ob.type, &vec_type);
        CHECK_EQ(v->ob.nitems, n);
        CHECK(v->weaklist == NULL);
        CHECK_EQ((uintptr_t)v % 16, 0);
        CHECK_MSG(om_usable_size(v) >= sizeof(vec) + n * sizeof(int64_t),
                  "n=%zu: usable %zu < %zu", n, om_usable_size(v), sizeof(vec) + n * sizeof(int64_t));
        CHECK(tu_all_bytes(v->items, n * sizeof(int64_t), 0));
        for (size_t i = 0; i < n; i++)
            v->items[i] = -1;
        om_decref(v);
        /* a GC variable-size object: items zeroed too */
        vec *g = (vec *)om_new_var(&gcvec_type, n);
        REQUIRE(g != NULL);
        CHECK_EQ(g->ob.nitems, n);
        CHECK(tu_all_bytes(g->items, n * sizeof(int64_t), 0));
        for (size_t i = 0; i < n; i++)
            g->items[i] = -1;
        om_decref(g);
    }
    om_type_stats s1 = ot_stats(&vec_type);
    CHECK_EQ(s1.created - s0.created, CHECK_COUNT(counts));
    CHECK_EQ(s1.destroyed - s0.destroyed, CHECK_COUNT(counts));
    CHECK_EQ(s1.live, s0.live);
    CHECK_EQ(ot_live(&gcvec_type), 0);

    bytesobj *b = (bytesobj *)om_new_var(&bytes_type, 5);
    REQUIRE(b != NULL);
    CHECK_EQ(b->ob.nitems, 5);
    CHECK_GE(om_usable_size(b), sizeof(bytesobj) + 5);
    CHECK(tu_all_bytes(b->data, 5, 0));
    om_decref(b);
}

static void test_new_var_overflow(void)
{
    struct { om_type *t; size_t n; } bad[] = {
        { &vec_type, SIZE_MAX },
        { &vec_type, SIZE_MAX / 8 + 1 },          /* n * 8 overflows */
        { &vec_type, SIZE_MAX / 8 },              /* n * 8 fits, + header overflows */
        { &vec_type, (SIZE_MAX - sizeof(vec)) / 8 + 1 },
        { &vec_type, (size_t)INTPTR_MAX + 1 },    /* does not fit nitems */
        { &gcvec_type, SIZE_MAX },
        { &gcvec_type, SIZE_MAX / 8 },
        { &bytes_type, SIZE_MAX },
        { &bytes_type, SIZE_MAX - sizeof(bytesobj) + 1 },
        { &bytes_type, SIZE_MAX - 8 },            /* + header + collector/rounding overflows */
        { &bytes_type, (size_t)INTPTR_MAX + 1 },  /* fits size_t, not nitems */
    };
    om_type_stats v0 = ot_stats(&vec_type), b0 = ot_stats(&bytes_type);
    for (size_t k = 0; k < CHECK_COUNT(bad); k++) {
        errno = 0;
        om_object *o = om_new_var(bad[k].t, bad[k].n);
        CHECK_MSG(o == NULL, "case %zu (%s, %zu items): got an object", k, bad[k].t->name, bad[k].n);
        CHECK_MSG(errno == ENOMEM, "case %zu: errno %d, want ENOMEM", k, errno);
    }
    om_type_stats v1 = ot_stats(&vec_type), b1 = ot_stats(&bytes_type);
    CHECK_EQ(v1.created, v0.created);
    CHECK_EQ(v1.live, v0.live);
    CHECK_EQ(b1.created, b0.created);
    /* still works afterwards */
    om_object *o = om_new_var(&vec_type, 3);
    CHECK(o != NULL);
    om_xdecref(o);
}

static om_type tiny_type = { .name = "tiny", .size = sizeof(om_object) - 8 };
static om_type zero_type = { .name = "zero", .size = 0 };
static om_type tinyvar_type = { .name = "tinyvar", .size = sizeof(om_object), .item_size = 8 };

static void test_einval(void)
{
    errno = 0;
    CHECK(om_new(&tiny_type) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(om_new(&zero_type) == NULL);
    CHECK_EQ(errno, EINVAL);
    /* a variable-size type must have room for om_varobject */
    errno = 0;
    CHECK(om_new_var(&tinyvar_type, 4) == NULL);
    CHECK_EQ(errno, EINVAL);
    /* om_new on a variable-size type */
    errno = 0;
    CHECK(om_new(&vec_type) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(ot_stats(&tiny_type).created, 0);
    CHECK_EQ(ot_stats(&tinyvar_type).created, 0);
    /* exactly the header is fine */
    static om_type header_only = { .name = "header_only", .size = sizeof(om_object) };
    om_object *o = om_new(&header_only);
    CHECK(o != NULL);
    if (o != NULL) {
        CHECK_EQ(o->refcount, 1);
        om_decref(o);
    }
}

static void resize_case(om_type *t)
{
    om_type_stats s0 = ot_stats(t);
    om_object *o = om_new_var(t, 4);
    REQUIRE(o != NULL);
    vec *v = (vec *)o;
    for (int i = 0; i < 4; i++)
        v->items[i] = 100 + i;
    size_t sizes[] = { 1000, 5, 20000, 2, 300000, 3 };
    int64_t keep = 4;
    for (size_t k = 0; k < CHECK_COUNT(sizes); k++) {
        size_t n = sizes[k];
        CHECK_EQ(om_resize_var(&o, n), 0);
        REQUIRE(o != NULL);
        v = (vec *)o;
        CHECK_EQ(v->ob.nitems, n);
        CHECK_EQ(o->refcount, 1);
        CHECK_PTR_EQ(o->type, t);
        CHECK_EQ((uintptr_t)o % 16, 0);
        int64_t m = keep < (int64_t)n ? keep : (int64_t)n;
        for (int64_t i = 0; i < m; i++)
            if (v->items[i] != 100 + i) {
                CHECK_MSG(0, "%s: resize to %zu lost item %lld (%lld)", t->name, n, (long long)i,
                          (long long)v->items[i]);
                break;
            }
        for (size_t i = 0; i < n; i++)
            v->items[i] = 100 + (int64_t)i;
        keep = (int64_t)n;
    }
    /* ENOMEM: *op untouched, the object intact */
    om_object *before = o;
    errno = 0;
    CHECK_EQ(om_resize_var(&o, SIZE_MAX / 2), ENOMEM);
    CHECK_PTR_EQ(o, before);
    CHECK_EQ(((vec *)o)->ob.nitems, 3);
    CHECK_EQ(((vec *)o)->items[2], 102);
    /* shared: EINVAL */
    om_incref(o);
    CHECK_EQ(om_resize_var(&o, 10), EINVAL);
    CHECK_PTR_EQ(o, before);
    CHECK_EQ(((vec *)o)->ob.nitems, 3);
    om_decref(o);
    om_decref(o);
    om_type_stats s1 = ot_stats(t);
    CHECK_EQ(s1.created - s0.created, 1);
    CHECK_EQ(s1.destroyed - s0.destroyed, 1);
    CHECK_EQ(s1.live, s0.live);
}

static void test_resize_var(void)
{
    resize_case(&vec_type);
    resize_case(&gcvec_type);
    /* weakly referenced: EINVAL */
    om_object *o = om_new_var(&vec_type, 2);
    REQUIRE(o != NULL);
    om_weakref *w = om_weakref_new(o, NULL, NULL);
    REQUIRE(w != NULL);
    om_object *before = o;
    CHECK_EQ(om_resize_var(&o, 500), EINVAL);
    CHECK_PTR_EQ(o, before);
    CHECK_EQ(((vec *)o)->ob.nitems, 2);
    om_decref(w);
    CHECK_EQ(om_resize_var(&o, 500), 0);
    CHECK_EQ(((vec *)o)->ob.nitems, 500);
    om_decref(o);
    /* a fixed-size object: EINVAL */
    om_object *p = om_new(&plain_type);
    REQUIRE(p != NULL);
    before = p;
    CHECK_EQ(om_resize_var(&p, 5), EINVAL);
    CHECK_PTR_EQ(p, before);
    om_decref(p);
}

/* ------------------------------------------------------------ long chains */

typedef struct node { om_object ob; om_object *next; } node;
static void node_clear(om_object *self) { om_clear_ref(&((node *)self)->next); }
static int node_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    return n->next ? visit(n->next, arg) : 0;
}
static om_type node_type = { .name = "node", .size = sizeof(node),
                             .traverse = node_traverse, .clear = node_clear };
static om_type gcnode_type = { .name = "gcnode", .size = sizeof(node), .flags = OM_TYPE_GC,
                               .traverse = node_traverse, .clear = node_clear,
                               .freelist_limit = 50 };

#define CHAIN_LEN ((size_t)OM_TEST_SCALE(10000000))
#define SMALL_STACK ((size_t)256 * 1024)

static void *decref_thread(void *arg)
{
    om_decref((om_object *)arg);
    return NULL;
}

static void chain_case(om_type *t)
{
    om_type_stats s0 = ot_stats(t);
    om_object *head = NULL;
    for (size_t i = 0; i < CHAIN_LEN; i++) {
        node *n = (node *)om_new(t);
        if (n == NULL) {
            CHECK_MSG(0, "%s: om_new failed at %zu", t->name, i);
            break;
        }
        n->next = head; /* steals */
        head = OM_OBJ(n);
    }
    REQUIRE(head != NULL);
    om_type_stats s1 = ot_stats(t);
    CHECK_EQ(s1.live - s0.live, CHAIN_LEN);
    CHECK_EQ(s1.created - s0.created, CHAIN_LEN);
    /* a recursive destructor would need far more than 256 KiB here */
    CHECK_EQ(ot_run_on_stack(decref_thread, head, SMALL_STACK), 0);
    om_type_stats s2 = ot_stats(t);
    CHECK_EQ(s2.live, s0.live);
    CHECK_EQ(s2.destroyed - s0.destroyed, CHAIN_LEN);
    CHECK_EQ(s2.freelist_len, t->freelist_limit < CHAIN_LEN ? t->freelist_limit : CHAIN_LEN);
}

static void test_long_chain_plain(void) { chain_case(&node_type); }
static void test_long_chain_gc(void) { chain_case(&gcnode_type); }

/* a probe at the end of the chain is still destroyed in order */
static void test_chain_reaches_the_end(void)
{
    probe *last = new_probe(11);
    REQUIRE(last != NULL);
    om_object *head = OM_OBJ(last);
    for (int i = 0; i < 100000; i++) {
        node *n = (node *)om_new(&node_type);
        REQUIRE(n != NULL);
        n->next = head;
        head = OM_OBJ(n);
    }
    ot_log_reset();
    CHECK_EQ(ot_run_on_stack(decref_thread, head, SMALL_STACK), 0);
    CHECK_LOG("F11 C11 R11");
}

#define NEST_DEPTH ((size_t)OM_TEST_SCALE(1000000))

static void test_nested_lists(void)
{
    uint64_t l0 = ot_live(&ex_list_type);
    om_object *cur = ex_list_new(0);
    REQUIRE(cur != NULL);
    for (size_t i = 0; i < NEST_DEPTH; i++) {
        om_object *outer = ex_list_new(1);
        REQUIRE(outer != NULL);
        REQUIRE_EQ(ex_list_append(outer, cur), 0);
        CHECK_EQ(cur->refcount, 2);
        om_decref(cur);
        cur = outer;
    }
    CHECK_EQ(ot_live(&ex_list_type) - l0, NEST_DEPTH + 1);
    CHECK_EQ(ot_run_on_stack(decref_thread, cur, SMALL_STACK), 0);
    CHECK_EQ(ot_live(&ex_list_type), l0);
}

/* tuple -> list -> dict -> tuple ... each holding the next */
static void test_nested_mixed_containers(void)
{
    const size_t depth = OM_TEST_SCALE(300000);
    uint64_t t0 = ot_live(&ex_tuple_type), l0 = ot_live(&ex_list_type),
             d0 = ot_live(&ex_dict_type), s0 = ot_live(&ex_str_type),
             f0 = ot_live(&ex_float_type);
    om_object *cur = ex_float_new(1.5);
    REQUIRE(cur != NULL);
    for (size_t i = 0; i < depth; i++) {
        om_object *next = NULL;
        switch (i % 3) {
        case 0:
            next = ex_tuple_new(1);
            REQUIRE(next != NULL);
            ex_tuple_set_item(next, 0, cur); /* steals */
            break;
        case 1:
            next = ex_list_new(0);
            REQUIRE(next != NULL);
            REQUIRE_EQ(ex_list_append(next, cur), 0);
            om_decref(cur);
            break;
        default: {
            next = ex_dict_new();
            om_object *k = ex_str_from("k");
            REQUIRE(next != NULL && k != NULL);
            REQUIRE_EQ(ex_dict_set(next, k, cur), 0);
            om_decref(k);
            om_decref(cur);
            break;
        }
        }
        cur = next;
    }
    CHECK_EQ(ot_live(&ex_tuple_type) - t0, (depth + 2) / 3);
    CHECK_EQ(ot_live(&ex_list_type) - l0, (depth + 1) / 3);
    CHECK_EQ(ot_live(&ex_dict_type) - d0, depth / 3);
    CHECK_EQ(ot_live(&ex_str_type) - s0, depth / 3);
    CHECK_EQ(ot_run_on_stack(decref_thread, cur, SMALL_STACK), 0);
    CHECK_EQ(ot_live(&ex_tuple_type), t0);
    CHECK_EQ(ot_live(&ex_list_type), l0);
    CHECK_EQ(ot_live(&ex_dict_type), d0);
    CHECK_EQ(ot_live(&ex_str_type), s0);
    CHECK_EQ(ot_live(&ex_float_type), f0);
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
    node *a = (node *)om_new(&node_type);
    node *b = (node *)om_new(&node_type);
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
    om_object *p = om_new(&plain_type);
    REQUIRE(p != NULL);
    n = 0;
    CHECK_EQ(om_traverse(p, visit_count, &n), 0);
    CHECK_EQ(n, 0);
    om_decref(p);
    om_decref(a);
    CHECK_EQ(ot_live(&node_type), 0);

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

static om_type reg_a = { .name = "reg_a", .size = 32 };
static om_type reg_b = { .name = "reg_b", .size = 48 };
static om_type reg_c = { .name = "reg_c", .size = 64, .freelist_limit = 7 };
static om_type reg_unused = { .name = "reg_unused", .size = 32, .freelist_limit = 3 };

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
    probe *p = new_probe(12);
    REQUIRE(p != NULL);
    CHECK(registry_position(&probe_type, &n) >= 0);
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

static om_type stat_type = { .name = "stat_type", .size = 40, .freelist_limit = 2 };

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
        CHECK_CASE(test_new_var_sizes),
        CHECK_CASE(test_new_var_overflow),
        CHECK_CASE(test_einval),
        CHECK_CASE(test_resize_var),
        CHECK_CASE(test_long_chain_plain),
        CHECK_CASE(test_long_chain_gc),
        CHECK_CASE(test_chain_reaches_the_end),
        CHECK_CASE(test_nested_lists),
        CHECK_CASE(test_nested_mixed_containers),
        CHECK_CASE(test_traverse),
        CHECK_CASE(test_type_registry),
        CHECK_CASE(test_type_stats),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
