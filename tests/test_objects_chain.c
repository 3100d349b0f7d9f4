/*
 * test_objects_chain.c — destruction of very long chains in constant C
 * stack (objmem.h §8): 10 million nodes (with and without a collector
 * header) freed on a thread with a 256 KiB stack, a probe at the end of a
 * chain still destroyed in order, a million nested example lists, nested
 * tuples, lists and dicts.  Starts threads (ot_run_on_stack).
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

/* ------------------------------------------------------------ long chains */

static om_type gcnode_type = { OM_TYPE_INIT, .name = "gcnode", .size = sizeof(ot_node), .flags = OM_TYPE_GC,
                               .traverse = ot_node_traverse, .clear = ot_node_clear,
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
        ot_node *n = (ot_node *)om_new(t);
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

static void test_long_chain_plain(void) { chain_case(&ot_node_type); }
static void test_long_chain_gc(void) { chain_case(&gcnode_type); }

/* a probe at the end of the chain is still destroyed in order */
static void test_chain_reaches_the_end(void)
{
    ot_probe *last = ot_new_probe(11);
    REQUIRE(last != NULL);
    om_object *head = OM_OBJ(last);
    for (int i = 0; i < 100000; i++) {
        ot_node *n = (ot_node *)om_new(&ot_node_type);
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

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_long_chain_plain),
        CHECK_CASE(test_long_chain_gc),
        CHECK_CASE(test_chain_reaches_the_end),
        CHECK_CASE(test_nested_lists),
        CHECK_CASE(test_nested_mixed_containers),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
