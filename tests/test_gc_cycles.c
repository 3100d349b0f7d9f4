/*
 * test_gc_cycles.c — the cycle collector (objmem.h §11) frees unreachable
 * cycles and nothing else: self-references (node, list, dict), simple and
 * long cycles (100 000 nodes; a ring through lists, tuples and dicts),
 * reachable cycles survive, references from untracked and non-GC objects
 * count as external, immortal (static) containers (no collector header
 * before them: never read, never tracked).  Deep structures collected on
 * a small stack are in test_gc_deep.c.
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

/* ------------------------------------------------------------ cycles */

static void test_self_reference(void)
{
    gt_reset();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1);
    REQUIRE(a != NULL);
    gt_set_ref(a, 0, a);
    CHECK_EQ(a->ob.refcount, 2);
    om_decref(a);
    CHECK_LOG(""); /* reference counting cannot free it */
    CHECK_EQ(om_gc_collect(2), 1);
    CHECK_LOG("C1 R1");
    CHECK_EQ(gt_released[1], 1);

    /* the same through the example containers */
    uint64_t l0 = ot_live(&ex_list_type), d0 = ot_live(&ex_dict_type),
             s0 = ot_live(&ex_str_type);
    om_object *l = ex_list_new(0);
    REQUIRE(l != NULL);
    REQUIRE_EQ(ex_list_append(l, l), 0);
    om_decref(l);
    om_object *d = ex_dict_new(), *k = ex_str_from("self");
    REQUIRE(d != NULL && k != NULL);
    REQUIRE_EQ(ex_dict_set(d, k, d), 0);
    om_decref(k);
    om_decref(d);
    CHECK_EQ(ot_live(&ex_list_type), l0 + 1);
    CHECK_EQ(ot_live(&ex_dict_type), d0 + 1);
    CHECK_EQ(om_gc_collect(0), 2);
    CHECK_EQ(ot_live(&ex_list_type), l0);
    CHECK_EQ(ot_live(&ex_dict_type), d0);
    CHECK_EQ(ot_live(&ex_str_type), s0);
    CHECK_EQ(om_gc_collect(2), 0);
}

static void test_simple_cycle(void)
{
    gt_reset();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2);
    REQUIRE(a != NULL && b != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    /* held from outside: nothing found, nothing touched */
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_LOG("");
    om_decref(b);
    CHECK_EQ(om_gc_collect(2), 0); /* a's outside reference keeps b too */
    CHECK_LOG("");
    CHECK_PTR_EQ(a->ref[0], b);
    CHECK_PTR_EQ(b->ref[0], a);
    om_decref(a);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_released[1], 1);
    CHECK_EQ(gt_released[2], 1);
    CHECK_EQ(gt_cleared[1] + gt_cleared[2], 2);
    CHECK_EQ(om_gc_collect(2), 0);

    /* two cycles joined by a one-way edge; a tree hanging off a cycle */
    gt_reset_counters();
    gt_gnode *n[8];
    for (int i = 0; i < 8; i++) {
        n[i] = gt_mk(&gt_gnode_type, 10 + i);
        REQUIRE(n[i] != NULL);
    }
    gt_set_ref(n[0], 0, n[1]);
    gt_set_ref(n[1], 0, n[0]);
    gt_set_ref(n[1], 1, n[2]); /* cycle 0-1 -> cycle 2-3 */
    gt_set_ref(n[2], 0, n[3]);
    gt_set_ref(n[3], 0, n[2]);
    gt_set_ref(n[3], 1, n[4]); /* -> tree 4 -> 5, 6 */
    gt_set_ref(n[4], 0, n[5]);
    gt_set_ref(n[4], 1, n[6]);
    gt_set_ref(n[6], 0, n[7]);
    for (int i = 0; i < 8; i++)
        om_decref(n[i]);
    CHECK_EQ(gt_n_released, 0);
    CHECK_EQ(om_gc_collect(2), 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(gt_released[10 + i], 1);
}

#define RING_LEN ((long)OM_TEST_SCALE(100000))

static void test_long_cycle(void)
{
    gt_reset();
    gt_quiet = 1;
    gt_gnode *first = gt_mk(&gt_gnode_type, 1000), *prev = first;
    REQUIRE(first != NULL);
    for (long i = 1; i < RING_LEN; i++) {
        gt_gnode *n = gt_mk(&gt_gnode_type, 1000 + i);
        REQUIRE(n != NULL);
        gt_set_ref(prev, 0, n);
        om_decref(n);
        prev = n;
    }
    gt_set_ref(prev, 0, first);
    CHECK_EQ(om_gc_collect(0), 0); /* held: promoted, not freed */
    CHECK_EQ(gt_gen_of(first), 1);
    om_decref(first);
    CHECK_EQ(gt_n_released, 0);
    CHECK_EQ(om_gc_collect(0), 0); /* in generation 1 now */
    CHECK_EQ(om_gc_collect(1), RING_LEN);
    CHECK_EQ(gt_n_released, (unsigned long)RING_LEN);
    CHECK_EQ(gt_n_cleared, (unsigned long)RING_LEN);
}

/* list -> tuple -> dict -> list ... -> back to the first list */
static void test_long_ring_of_containers(void)
{
    gt_reset();
    const size_t depth = OM_TEST_SCALE(30000);
    uint64_t t0 = ot_live(&ex_tuple_type), l0 = ot_live(&ex_list_type),
             d0 = ot_live(&ex_dict_type), s0 = ot_live(&ex_str_type), i0 = ot_live(&ex_int_type);
    om_object *head = ex_list_new(0);
    REQUIRE(head != NULL);
    om_object *cur = om_newref(head);
    for (size_t i = 0; i < depth; i++) {
        om_object *next = NULL;
        switch (i % 3) {
        case 0: {
            next = ex_tuple_new(2);
            om_object *v = ex_int_new((int64_t)i);
            REQUIRE(next != NULL && v != NULL);
            ex_tuple_set_item(next, 0, cur); /* steals */
            ex_tuple_set_item(next, 1, v);
            break;
        }
        case 1:
            next = ex_list_new(0);
            REQUIRE(next != NULL);
            REQUIRE_EQ(ex_list_append(next, cur), 0);
            om_decref(cur);
            break;
        default: {
            next = ex_dict_new();
            om_object *k = ex_str_from("next");
            REQUIRE(next != NULL && k != NULL);
            REQUIRE_EQ(ex_dict_set(next, k, cur), 0);
            om_decref(k);
            om_decref(cur);
            break;
        }
        }
        cur = next;
    }
    REQUIRE_EQ(ex_list_append(head, cur), 0); /* close the ring */
    om_decref(cur);
    om_decref(head);
    CHECK_EQ(ot_live(&ex_list_type) - l0, 1 + (depth + 1) / 3);
    CHECK_EQ(om_gc_collect(2), (long)depth + 1);
    CHECK_EQ(ot_live(&ex_tuple_type), t0);
    CHECK_EQ(ot_live(&ex_list_type), l0);
    CHECK_EQ(ot_live(&ex_dict_type), d0);
    CHECK_EQ(ot_live(&ex_str_type), s0);
    CHECK_EQ(ot_live(&ex_int_type), i0);
}

/* references from objects the collector does not see are external */
static void test_external_references(void)
{
    gt_reset();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2);
    gt_link *x = (gt_link *)om_new(&gt_box_type);
    REQUIRE(a != NULL && b != NULL && x != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    x->ref = om_newref(OM_OBJ(a)); /* a non-container holds the cycle */
    om_decref(a);
    om_decref(b);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(gt_n_released, 0);
    om_decref(x); /* drops a: the cycle is garbage now */
    CHECK_EQ(gt_n_released, 0);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_n_released, 2);

    /* an untracked container holding a cycle member keeps the cycle */
    gt_reset_counters();
    gt_gnode *u = gt_mk(&gt_gnode_type, 3), *c = gt_mk(&gt_gnode_type, 4), *d = gt_mk(&gt_gnode_type, 5);
    REQUIRE(u != NULL && c != NULL && d != NULL);
    gt_set_ref(c, 0, d);
    gt_set_ref(d, 0, c);
    gt_set_ref(u, 0, c);
    gt_set_ref(u, 1, u); /* u is in a cycle too, but untracked */
    CHECK_EQ(om_gc_untrack(OM_OBJ(u)), 0);
    om_decref(c);
    om_decref(d);
    om_decref(u);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(gt_n_released, 0);
    CHECK_EQ(om_gc_track(OM_OBJ(u)), 0);
    CHECK_EQ(om_gc_collect(2), 3);
    CHECK_EQ(gt_released[3] + gt_released[4] + gt_released[5], 3);
}

/* gt_static_gc (gctest.h): a static container with a guard before it */
static void test_static_container(void)
{
    gt_reset();
    gt_gnode *warm = gt_mk(&gt_gnode_type, 1); /* the type is ready: it has its header size */
    REQUIRE(warm != NULL);
    om_decref(warm);
    om_object *s = OM_OBJ(&gt_static_gc.obj);
    CHECK(om_is_immortal(s));
    CHECK_EQ(om_gc_track(s), EINVAL);
    int tracked = om_gc_is_tracked(s);
    CHECK_MSG(tracked == 0, "om_gc_is_tracked(static object) = %d: it read a header before the object", tracked);
    int fin = om_gc_is_finalized(s);
    CHECK_MSG(fin == 0, "om_gc_is_finalized(static object) = %d: it read a header before the object", fin);
    if (tracked == 0)
        CHECK_EQ(om_gc_untrack(s), 0); /* would unlink garbage otherwise */
    CHECK_EQ(gt_static_gc.guard[0], ~(uintptr_t)0xf);
    CHECK_EQ(gt_static_gc.guard[1], ~(uintptr_t)0);

    /* a cycle that refers to the static object is still garbage; one the
     * static object refers to is not */
    gt_gnode *a = gt_mk(&gt_gnode_type, 2), *b = gt_mk(&gt_gnode_type, 3);
    REQUIRE(a != NULL && b != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    gt_set_ref(a, 1, s);
    gt_set_ref(b, 1, s);
    om_decref(a);
    om_decref(b);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_released[2] + gt_released[3], 2);
    CHECK(om_is_immortal(s));

    gt_gnode *c = gt_mk(&gt_gnode_type, 4), *d = gt_mk(&gt_gnode_type, 5);
    REQUIRE(c != NULL && d != NULL);
    gt_set_ref(c, 0, d);
    gt_set_ref(d, 0, c);
    gt_static_gc.obj.ref[0] = OM_OBJ(c); /* steals */
    om_decref(d);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(gt_released[4] + gt_released[5], 0);
    om_clear_ref(&gt_static_gc.obj.ref[0]);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_released[4] + gt_released[5], 2);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_self_reference),
        CHECK_CASE(test_simple_cycle),
        CHECK_CASE(test_long_cycle),
        CHECK_CASE(test_long_ring_of_containers),
        CHECK_CASE(test_external_references),
        CHECK_CASE(test_static_container),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
