/*
 * test_gc_tracking.c — which objects the collector tracks (objmem.h §11):
 * om_gc_track / om_gc_untrack / om_gc_is_tracked / om_gc_is_finalized,
 * both idempotent, EINVAL for non-containers, NULL and immortal
 * containers; an untracked cycle is not collected, tracked again it is;
 * tracking is not allocating (count[0] does not move, om_resize_var
 * included); immutable containers (the example tuple) untracked once their
 * references are atomic, but not while they hold a container untracked
 * only for now, and tracked again when om_resize_var reopens them.
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

/* ------------------------------------------------------------ tracking */

static void test_track_untrack(void)
{
    gt_reset();
    gt_gnode *n = gt_mk(&gt_gnode_type, 1);
    REQUIRE(n != NULL);
    CHECK_EQ(om_gc_is_tracked(OM_OBJ(n)), 1);
    CHECK_EQ(om_gc_untrack(OM_OBJ(n)), 0);
    CHECK_EQ(om_gc_is_tracked(OM_OBJ(n)), 0);
    CHECK_EQ(gt_gen_of(n), -1);
    CHECK_EQ(om_gc_count_objects(-1), 0);
    CHECK_EQ(om_gc_untrack(OM_OBJ(n)), 0); /* idempotent */
    CHECK_EQ(om_gc_is_tracked(OM_OBJ(n)), 0);
    CHECK_EQ(om_gc_track(OM_OBJ(n)), 0);
    CHECK_EQ(om_gc_is_tracked(OM_OBJ(n)), 1);
    CHECK_EQ(gt_gen_of(n), 0);
    CHECK_EQ(om_gc_track(OM_OBJ(n)), 0); /* idempotent: listed once */
    CHECK_EQ(om_gc_count_objects(-1), 1);
    /* an object moved up keeps its generation when tracked again */
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_EQ(gt_gen_of(n), 1);
    CHECK_EQ(om_gc_track(OM_OBJ(n)), 0);
    CHECK_EQ(gt_gen_of(n), 1);
    CHECK_EQ(om_gc_count_objects(-1), 1);
    om_decref(n); /* an untracked-or-tracked object dies cleanly */
    CHECK_EQ(om_gc_count_objects(-1), 0);
    CHECK_EQ(gt_released[1], 1);

    /* an untracked object can die too */
    gt_gnode *m = gt_mk(&gt_gnode_type, 2);
    REQUIRE(m != NULL);
    CHECK_EQ(om_gc_untrack(OM_OBJ(m)), 0);
    om_decref(m);
    CHECK_EQ(gt_released[2], 1);
    CHECK_EQ(om_gc_count_objects(-1), 0);

    /* not containers, NULL: EINVAL */
    gt_link *x = (gt_link *)om_new(&gt_box_type);
    om_object *i1 = ex_int_new(7);
    REQUIRE(x != NULL && i1 != NULL);
    CHECK_EQ(om_gc_track(OM_OBJ(x)), EINVAL);
    CHECK_EQ(om_gc_untrack(OM_OBJ(x)), EINVAL);
    CHECK_EQ(om_gc_is_tracked(OM_OBJ(x)), 0);
    CHECK_EQ(om_gc_track(i1), EINVAL);
    CHECK_EQ(om_gc_is_tracked(i1), 0);
    CHECK_EQ(om_gc_is_finalized(i1), 0);
    CHECK_EQ(om_gc_track(NULL), EINVAL);
    CHECK_EQ(om_gc_untrack(NULL), EINVAL);
    om_decref(x);
    om_decref(i1);

    /* an immortal container is not tracked and cannot be */
    gt_gnode *im = gt_mk(&gt_gnode_type, 3);
    REQUIRE(im != NULL);
    om_immortalize(OM_OBJ(im));
    CHECK_EQ(om_gc_is_tracked(OM_OBJ(im)), 0);
    CHECK_EQ(om_gc_track(OM_OBJ(im)), EINVAL);
    CHECK_EQ(om_gc_is_tracked(OM_OBJ(im)), 0);
    CHECK_EQ(gt_gen_of(im), -1);

    /* an untracked cycle is not collected; tracked again, it is */
    gt_gnode *a = gt_mk(&gt_gnode_type, 4), *b = gt_mk(&gt_gnode_type, 5);
    REQUIRE(a != NULL && b != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    CHECK_EQ(om_gc_untrack(OM_OBJ(a)), 0);
    CHECK_EQ(om_gc_untrack(OM_OBJ(b)), 0);
    om_decref(a);
    om_decref(b);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(gt_released[4] + gt_released[5], 0);
    CHECK_EQ(om_gc_track(OM_OBJ(a)), 0);
    CHECK_EQ(om_gc_collect(2), 0); /* b, untracked, holds a from outside */
    CHECK_EQ(gt_released[4] + gt_released[5], 0);
    CHECK_EQ(om_gc_track(OM_OBJ(b)), 0);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_released[4] + gt_released[5], 2);

    /* tracking is not allocating: count[0] (tracked allocations minus
     * deallocations) does not move when an object is untracked and
     * tracked again, the "track once fully built" pattern */
    gt_reset();
    gt_gnode *p = gt_mk(&gt_gnode_type, 6);
    REQUIRE(p != NULL);
    CHECK_EQ(gt_count0(), 1);
    CHECK_EQ(om_gc_untrack(OM_OBJ(p)), 0);
    CHECK_EQ(om_gc_track(OM_OBJ(p)), 0);
    CHECK_MSG(gt_count0() == 1, "count[0] after untrack + track: %ld, want 1", gt_count0());
    for (int i = 0; i < 100; i++) {
        om_gc_untrack(OM_OBJ(p));
        om_gc_track(OM_OBJ(p));
    }
    CHECK_MSG(gt_count0() == 1, "count[0] after 100 untrack + track: %ld, want 1", gt_count0());
    om_decref(p);
    CHECK_EQ(gt_count0(), 0);
    /* om_resize_var moves a tuple (untrack, realloc, track): not an allocation */
    om_object *t = ex_tuple_new(2);
    REQUIRE(t != NULL);
    CHECK_EQ(gt_count0(), 1);
    REQUIRE_EQ(om_resize_var(&t, 1000), 0);
    REQUIRE_EQ(om_resize_var(&t, 3), 0);
    CHECK(om_gc_is_tracked(t));
    CHECK_MSG(gt_count0() == 1, "count[0] after two om_resize_var: %ld, want 1", gt_count0());
    om_decref(t);
}

/* Immutable containers (OM_TYPE_GC_IMMUTABLE: the example tuple): a
 * collection stops tracking one whose references are all set and all to
 * objects that cannot be part of a cycle; it stays tracked otherwise. */
static om_object *tuple2(om_object *a, om_object *b) /* steals both */
{
    om_object *t = ex_tuple_new(2);
    if (t == NULL) {
        om_xdecref(a);
        om_xdecref(b);
        return NULL;
    }
    ex_tuple_set_item(t, 0, a);
    ex_tuple_set_item(t, 1, b);
    return t;
}

static void test_immutable_untracked(void)
{
    gt_reset();
    uint64_t t0 = ot_live(&ex_tuple_type);
    om_object *atoms = tuple2(ex_int_new(1), ex_str_from("a"));
    om_object *hole = ex_tuple_new(2); /* a NULL item: not finished */
    om_object *withlist = tuple2(ex_int_new(2), ex_list_new(0));
    om_object *inner = tuple2(ex_int_new(3), ex_float_new(3.5));
    om_object *outer = tuple2(om_newref(inner), ex_int_new(4));
    om_object *outer_first = ex_tuple_new(1); /* created before what it holds */
    om_object *inner_late = tuple2(ex_int_new(5), ex_int_new(6));
    om_object *withstatic = tuple2(om_newref(OM_OBJ(&gt_static_gc.obj)), ex_int_new(7));
    REQUIRE(atoms && hole && withlist && inner && outer && outer_first && inner_late && withstatic);
    ex_tuple_set_item(hole, 0, ex_int_new(8));
    ex_tuple_set_item(outer_first, 0, om_newref(inner_late));
    om_object *all[] = { atoms, hole, withlist, inner, outer, outer_first, inner_late, withstatic };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        CHECK(om_gc_is_tracked(all[i])); /* every new container is tracked */
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK(!om_gc_is_tracked(atoms));
    CHECK(om_gc_is_tracked(hole));
    CHECK(om_gc_is_tracked(withlist));
    CHECK(!om_gc_is_tracked(inner));
    CHECK(!om_gc_is_tracked(withstatic));
    CHECK_EQ(om_gc_collect(1), 0); /* the rest of a nest within two collections */
    CHECK(!om_gc_is_tracked(outer));
    CHECK(!om_gc_is_tracked(outer_first));
    CHECK(!om_gc_is_tracked(inner_late));
    CHECK(om_gc_is_tracked(hole));
    CHECK(om_gc_is_tracked(withlist));
    CHECK_EQ(gt_gen_of(withlist), 2);
    CHECK_EQ(ex_int_value(ex_tuple_get_item(atoms, 0)), 1); /* untouched */
    CHECK_STR_HAS(ex_str_data(ex_tuple_get_item(atoms, 1)), "a");
    /* untracked ones still die normally */
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        om_decref(all[i]);
    CHECK_EQ(ot_live(&ex_tuple_type), t0);
    CHECK_EQ(om_gc_count_objects(-1), 0);
    CHECK_COUNT3(0, 0, 1);
}

/* A container that is untracked only for now ("track once fully built")
 * is not atomic: a tuple holding it must not stop being tracked, or the
 * cycle it later closes through the tuple is invisible for ever (CPython
 * treats only untracked tuples as atomic, _PyObject_GC_MAY_BE_TRACKED). */
static void test_tuple_of_untracked_container(void)
{
    gt_reset();
    uint64_t t0 = ot_live(&ex_tuple_type);
    gt_gnode *n = gt_mk(&gt_gnode_type, 1);
    REQUIRE(n != NULL);
    CHECK_EQ(om_gc_untrack(OM_OBJ(n)), 0); /* being built */
    om_object *t = tuple2(om_newref(OM_OBJ(n)), ex_int_new(1));
    REQUIRE(t != NULL);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_EQ(om_gc_track(OM_OBJ(n)), 0); /* built: tracked from now on */
    gt_set_ref(n, 0, t);                      /* n -> t -> n */
    om_decref(t);
    om_decref(n);
    long r = om_gc_collect(2);
    CHECK_MSG(r == 2 && gt_released[1] == 1,
              "cycle node -> tuple -> node: om_gc_collect(2) = %ld, node freed %d times "
              "(the tuple was untracked while the node was: the cycle leaks)", r, gt_released[1]);
    if (gt_released[1] == 0)
        om_clear_ref(&n->ref[0]); /* leaked: break it by hand for the next cases */
    CHECK_EQ(ot_live(&ex_tuple_type), t0);
}

/* om_resize_var gives a finished tuple new (NULL) items: it is being built
 * again and must be tracked again (CPython's _PyTuple_Resize tracks the
 * result), or a cycle through the new items leaks. */
static void test_resized_tuple_tracked_again(void)
{
    gt_reset();
    uint64_t t0 = ot_live(&ex_tuple_type);
    om_object *t = tuple2(ex_int_new(1), ex_int_new(2));
    REQUIRE(t != NULL);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK(!om_gc_is_tracked(t)); /* finished, atomic: untracked */
    REQUIRE_EQ(om_resize_var(&t, 3), 0);
    CHECK_MSG(om_gc_is_tracked(t), "a resized tuple (NULL items again) is not tracked");
    gt_gnode *n = gt_mk(&gt_gnode_type, 1);
    REQUIRE(n != NULL);
    ex_tuple_set_item(t, 2, om_newref(OM_OBJ(n)));
    gt_set_ref(n, 0, t); /* n -> t -> n */
    om_decref(t);
    om_decref(n);
    long r = om_gc_collect(2);
    CHECK_MSG(r == 2 && gt_released[1] == 1,
              "cycle node -> resized tuple -> node: om_gc_collect(2) = %ld, node freed %d times", r,
              gt_released[1]);
    if (gt_released[1] == 0)
        om_clear_ref(&n->ref[0]); /* leaked: break it by hand for the next cases */
    CHECK_EQ(ot_live(&ex_tuple_type), t0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_track_untrack),
        CHECK_CASE(test_immutable_untracked),
        CHECK_CASE(test_tuple_of_untracked_container),
        CHECK_CASE(test_resized_tuple_tracked_again),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
