/*
 * test_gc_weakref.c — weak references in collections (objmem.h §9, §11):
 * callbacks run for reachable weak references to garbage (newest first,
 * referent already NULL, before finalizers and clear), not for weak
 * references that are garbage themselves (also when their referent is an
 * outsider dying while the garbage is cleared); an object that is not a
 * container, owned by the garbage, gets its callbacks when the garbage is
 * cleared; neither a callback nor a finalizer can reach garbage through
 * another weak reference (CPython bug 1055820); cycles through weak
 * references' data.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "objtest.h"
#include "gctest.h"

/* ------------------------------------------------------------ weak references */
static void test_weakref_callback_for_reachable_ref(void)
{
    gt_reset();
    gt_reset_weak();
    gt_gnode *a = gt_mk(&gt_fnode_type, 1), *b = gt_mk(&gt_gnode_type, 2);
    om_object *d1 = ex_int_new(1), *d2 = ex_int_new(2), *d3 = ex_int_new(3);
    REQUIRE(a != NULL && b != NULL && d1 != NULL && d2 != NULL && d3 != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_weakref *w1 = om_weakref_new(OM_OBJ(a), gt_weak_cb, d1);
    om_weakref *w2 = om_weakref_new(OM_OBJ(a), gt_weak_cb, d2);
    om_weakref *w3 = om_weakref_new(OM_OBJ(b), gt_weak_cb, d3);
    om_weakref *wb = om_weakref_new(OM_OBJ(b), NULL, NULL); /* no callback */
    REQUIRE(w1 != NULL && w2 != NULL && w3 != NULL && wb != NULL);
    om_decref(d1);
    om_decref(d2);
    om_decref(d3);
    om_decref(a);
    om_decref(b);
    CHECK_EQ(om_gc_collect(2), 2); /* the weak references are reachable: not found */
    CHECK_EQ(gt_wcb_calls, 3);
    CHECK(gt_wcb_get_null);            /* each callback saw its referent gone */
    CHECK_EQ(gt_wcb_cleared_before, 0); /* ... and nothing cleared yet */
    /* newest first; callbacks before finalizers, finalizers before clear */
    CHECK_LOG_SUBSEQ("W2", "W1", "F1", "C1", "R1");
    CHECK_LOG_SUBSEQ("W3", "F1", "C2", "R2");
    CHECK(om_weakref_get(w1) == NULL);
    CHECK(om_weakref_get(wb) == NULL);
    int n;
    ot_log_find("W1", &n);
    CHECK_EQ(n, 1);
    om_decref(w1);
    om_decref(w2);
    om_decref(w3);
    om_decref(wb);
    CHECK_EQ(gt_wcb_calls, 3);
}

static void test_weakref_in_garbage_has_no_callback(void)
{
    gt_reset();
    gt_reset_weak();
    uint64_t w0 = ot_live(&om_weakref_type), i0 = ot_live(&ex_int_type);
    /* a <-> b, b holds the weak reference to a */
    gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2);
    om_object *d = ex_int_new(9);
    REQUIRE(a != NULL && b != NULL && d != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_weakref *w = om_weakref_new(OM_OBJ(a), gt_weak_cb, d);
    REQUIRE(w != NULL);
    om_decref(d);
    b->ref[1] = OM_OBJ(w); /* steals */
    /* a self-referencing node holding a weak reference to itself */
    gt_gnode *c = gt_mk(&gt_gnode_type, 3);
    REQUIRE(c != NULL);
    gt_set_ref(c, 0, c);
    om_weakref *wc = om_weakref_new(OM_OBJ(c), gt_weak_cb, NULL);
    REQUIRE(wc != NULL);
    c->ref[1] = OM_OBJ(wc);
    om_decref(a);
    om_decref(b);
    om_decref(c);
    CHECK_EQ(om_gc_collect(2), 5); /* a, b, c and both weak references */
    CHECK_EQ(gt_wcb_calls, 0);
    CHECK_EQ(gt_released[1] + gt_released[2] + gt_released[3], 3);
    CHECK_EQ(ot_live(&om_weakref_type), w0);
    CHECK_EQ(ot_live(&ex_int_type), i0);

    /* a cycle through a weak reference's data: g -> w -> (data) g, w
     * pointing at a live object; w dies with the cycle, silently */
    gt_reset_weak();
    gt_gnode *live = gt_mk(&gt_gnode_type, 4), *g = gt_mk(&gt_gnode_type, 5);
    REQUIRE(live != NULL && g != NULL);
    om_weakref *wg = om_weakref_new(OM_OBJ(live), gt_weak_cb, OM_OBJ(g));
    REQUIRE(wg != NULL);
    g->ref[0] = OM_OBJ(wg);
    om_decref(g);
    CHECK_EQ(om_weakref_count(OM_OBJ(live)), 1);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_released[5], 1);
    CHECK_EQ(om_weakref_count(OM_OBJ(live)), 0);
    om_decref(live);
    CHECK_EQ(gt_released[4], 1);
    CHECK_EQ(gt_wcb_calls, 0);
    CHECK_EQ(ot_live(&om_weakref_type), w0);
}

/* an object that is not a container, owned by the garbage, dies by
 * reference counting when the garbage is cleared: its callbacks run then */
static void test_weakref_to_object_owned_by_garbage(void)
{
    gt_reset();
    gt_reset_weak();
    uint64_t s0 = ot_live(&ex_str_type);
    gt_gnode *a = gt_mk(&gt_gnode_type, 1);
    om_object *s = ex_str_from("owned"), *d = ex_int_new(5);
    REQUIRE(a != NULL && s != NULL && d != NULL);
    gt_set_ref(a, 0, a);
    a->ref[1] = s; /* steals */
    om_weakref *w = om_weakref_new(s, gt_weak_cb, d);
    REQUIRE(w != NULL);
    om_decref(d);
    om_decref(a);
    CHECK_EQ(om_gc_collect(2), 1);
    CHECK_EQ(gt_wcb_calls, 1);
    CHECK(gt_wcb_get_null);
    CHECK_LOG_SUBSEQ("C1", "W5", "R1");
    CHECK_EQ(ot_live(&ex_str_type), s0);
    om_decref(w);
}

/* CPython bug 1055820: a callback must not reach other garbage through
 * another weak reference: every weak reference to the garbage is cleared
 * before any callback runs (both creation orders) */
static om_weakref *peek_ref;
static int peek_calls, peek_saw_object;
static void peek_cb(om_weakref *ref, om_object *data)
{
    (void)ref, (void)data;
    peek_calls++;
    om_object *o = om_weakref_get(peek_ref);
    if (o != NULL) {
        peek_saw_object++;
        om_decref(o);
    }
}

static void fin_peek(gt_gnode *self)
{
    (void)self;
    om_object *o = om_weakref_get(peek_ref);
    if (o != NULL) {
        peek_saw_object++;
        om_decref(o);
    }
}

static void test_weakref_callback_cannot_reach_garbage(void)
{
    for (int order = 0; order < 4; order++) {
        gt_reset();
        peek_calls = peek_saw_object = 0;
        gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2);
        REQUIRE(a != NULL && b != NULL);
        if (order & 1) {
            gt_gnode *t = a;
            a = b;
            b = t;
        }
        gt_set_ref(a, 0, b);
        gt_set_ref(b, 0, a);
        om_weakref *wa = NULL, *wb = NULL;
        if (order & 2) {
            wb = om_weakref_new(OM_OBJ(b), NULL, NULL);
            wa = om_weakref_new(OM_OBJ(a), peek_cb, NULL);
        } else {
            wa = om_weakref_new(OM_OBJ(a), peek_cb, NULL);
            wb = om_weakref_new(OM_OBJ(b), NULL, NULL);
        }
        REQUIRE(wa != NULL && wb != NULL);
        peek_ref = wb;
        om_decref(a);
        om_decref(b);
        CHECK_EQ(om_gc_collect(2), 2);
        CHECK_EQ(peek_calls, 1);
        CHECK_EQ(peek_saw_object, 0);
        om_decref(wa);
        om_decref(wb);
    }

    /* a finalizer cannot either: weak references to the garbage are
     * cleared before finalizers run */
    gt_reset();
    peek_saw_object = 0;
    gt_fin_hook = fin_peek;
    gt_gnode *f = gt_mk(&gt_fnode_type, 3), *g = gt_mk(&gt_gnode_type, 4);
    REQUIRE(f != NULL && g != NULL);
    gt_set_ref(f, 0, g);
    gt_set_ref(g, 0, f);
    peek_ref = om_weakref_new(OM_OBJ(g), NULL, NULL);
    REQUIRE(peek_ref != NULL);
    om_decref(f);
    om_decref(g);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_finalized[3], 1);
    CHECK_EQ(peek_saw_object, 0);
    om_decref(peek_ref);
    peek_ref = NULL;
}

/* CPython bug 38006's shape: an object outside the garbage (a str that
 * only the garbage holds) dies while the garbage is being cleared; a weak
 * reference to it that is itself garbage, and whose data is garbage, must
 * not call back into half-cleared objects */
static void test_garbage_weakref_to_dying_outsider(void)
{
    gt_reset();
    gt_reset_weak();
    uint64_t s0 = ot_live(&ex_str_type), w0 = ot_live(&om_weakref_type);
    for (int order = 0; order < 2; order++) {
        gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2);
        om_object *s = ex_str_from("outsider");
        REQUIRE(a != NULL && b != NULL && s != NULL);
        gt_set_ref(a, 0, b);
        gt_set_ref(b, 0, a);
        (order ? a : b)->ref[1] = s; /* steals */
        om_weakref *w = om_weakref_new(s, gt_weak_cb, OM_OBJ(order ? b : a));
        REQUIRE(w != NULL);
        (order ? b : a)->ref[2] = OM_OBJ(w); /* steals: w is garbage too */
        om_decref(a);
        om_decref(b);
        CHECK_EQ(om_gc_collect(2), 3);
        CHECK_EQ(gt_wcb_calls, 0);
        CHECK_EQ(ot_live(&ex_str_type), s0);
        CHECK_EQ(ot_live(&om_weakref_type), w0);
    }
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_weakref_callback_for_reachable_ref),
        CHECK_CASE(test_weakref_in_garbage_has_no_callback),
        CHECK_CASE(test_weakref_to_object_owned_by_garbage),
        CHECK_CASE(test_weakref_callback_cannot_reach_garbage),
        CHECK_CASE(test_garbage_weakref_to_dying_outsider),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
