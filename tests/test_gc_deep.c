/*
 * test_gc_deep.c — deep structures collected without recursion: a million
 * nested lists in one cycle, and million-node chains (held at the newest
 * or the oldest end, then garbage, then freed by reference counting), each
 * collection and the last decref run on a thread with a 256 KiB stack
 * (hence the `thread` label).
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

/* ------------------------------------------------------------ deep structures */

#define SMALL_STACK ((size_t)256 * 1024)
#define DEEP ((size_t)OM_TEST_SCALE(1000000))

struct collect_job { int generation; long result; };
static void *collect_thread(void *arg)
{
    struct collect_job *j = arg;
    j->result = om_gc_collect(j->generation);
    return NULL;
}

static long collect_on_small_stack(int generation)
{
    struct collect_job j = { generation, -99 };
    int rc = ot_run_on_stack(collect_thread, &j, SMALL_STACK);
    CHECK_EQ(rc, 0);
    return j.result;
}

static void *decref_thread(void *arg)
{
    om_decref((om_object *)arg);
    return NULL;
}

/* a million nested lists, the innermost holding the outermost: one cycle */
static void test_deep_nested_lists(void)
{
    gt_reset();
    uint64_t l0 = ot_live(&ex_list_type);
    om_object *inner = ex_list_new(1);
    REQUIRE(inner != NULL);
    om_object *cur = om_newref(inner);
    for (size_t i = 0; i < DEEP; i++) {
        om_object *outer = ex_list_new(1);
        REQUIRE(outer != NULL);
        REQUIRE_EQ(ex_list_append(outer, cur), 0);
        om_decref(cur);
        cur = outer;
    }
    /* reachable, deep: examined without recursion, promoted */
    CHECK_EQ(collect_on_small_stack(0), 0);
    CHECK_EQ(ot_live(&ex_list_type) - l0, DEEP + 1);
    REQUIRE_EQ(ex_list_append(inner, cur), 0);
    om_decref(inner);
    om_decref(cur);
    CHECK_EQ(ot_live(&ex_list_type) - l0, DEEP + 1);
    CHECK_EQ(collect_on_small_stack(2), (long)DEEP + 1);
    CHECK_EQ(ot_live(&ex_list_type), l0);
}

/* chains of nodes whose newest end is held: omi_gc_move_unreachable
 * (src/gc/scan.c) first sets everything aside, then takes it back one
 * node at a time */
static void test_deep_chains(void)
{
    gt_reset();
    gt_quiet = 1;
    gt_gnode *oldest = gt_mk(&gt_gnode_type, 1000), *cur = oldest;
    REQUIRE(oldest != NULL);
    for (size_t i = 0; i < DEEP; i++) {
        gt_gnode *n = gt_mk(&gt_gnode_type, 1000);
        REQUIRE(n != NULL);
        n->ref[0] = OM_OBJ(cur); /* steals: newest -> ... -> oldest */
        cur = n;
    }
    CHECK_EQ(collect_on_small_stack(2), 0);
    CHECK_EQ(gt_n_released, 0);
    CHECK_EQ(om_gc_count_objects(2), DEEP + 1);
    /* close it: the oldest refers to the newest; one big cycle, garbage */
    gt_set_ref(oldest, 1, cur);
    om_decref(cur);
    CHECK_EQ(collect_on_small_stack(1), 0); /* in generation 2 */
    CHECK_EQ(collect_on_small_stack(2), (long)DEEP + 1);
    CHECK_EQ(gt_n_released, DEEP + 1);

    /* oldest -> ... -> newest, held at the oldest; then garbage, found by
     * a young collection; then a non-cyclic one freed by reference counting
     * on a small stack after surviving a collection */
    gt_n_released = 0;
    gt_gnode *head = gt_mk(&gt_gnode_type, 1000), *tail = head;
    REQUIRE(head != NULL);
    for (size_t i = 0; i < DEEP; i++) {
        gt_gnode *n = gt_mk(&gt_gnode_type, 1000);
        REQUIRE(n != NULL);
        tail->ref[0] = OM_OBJ(n); /* steals */
        tail = n;
    }
    CHECK_EQ(collect_on_small_stack(0), 0);
    CHECK_EQ(om_gc_count_objects(1), DEEP + 1);
    CHECK_EQ(ot_run_on_stack(decref_thread, head, SMALL_STACK), 0);
    CHECK_EQ(gt_n_released, DEEP + 1);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_deep_nested_lists),
        CHECK_CASE(test_deep_chains),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
