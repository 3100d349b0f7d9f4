/*
 * test_freelist.c — the per-type free lists of objmem.h §8: a freed
 * instance is parked and handed out again (same address, zeroed body, count
 * 1, hits and misses counted, last in first out); the limit is respected
 * and the rest goes back to the allocator (om_stats.bytes_in_use proves
 * it); om_type_set_freelist_limit trims; om_type_freelist_clear and
 * om_freelists_clear return exact counts and give the memory back; limit 0
 * and variable-size types never park; a reused instance is a new object
 * (finalize runs again, old weak references stay dead); the examples' free
 * lists (float 100, list 80).
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

typedef struct flobj {
    om_object ob;
    om_weakref *weaklist;
    int id;
    unsigned char body[36];
} flobj; /* 64 bytes */

static om_type fl_type = { OM_TYPE_INIT, .name = "fl", .size = sizeof(flobj), .freelist_limit = 100,
                           .weaklist_offset = offsetof(flobj, weaklist) };

static int fl_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}
static om_type flgc_type = { OM_TYPE_INIT, .name = "flgc", .size = sizeof(flobj), .flags = OM_TYPE_GC,
                             .traverse = fl_traverse, .freelist_limit = 10 };

static void flfin_finalize(om_object *self) { ot_ev("F%d", ((flobj *)self)->id); }
static void flfin_release(om_object *self) { ot_ev("R%d", ((flobj *)self)->id); }
static om_type flfin_type = { OM_TYPE_INIT, .name = "flfin", .size = sizeof(flobj), .freelist_limit = 5,
                              .finalize = flfin_finalize, .release = flfin_release };

static om_type nofl_type = { OM_TYPE_INIT, .name = "nofl", .size = sizeof(flobj), .freelist_limit = 0 };

typedef struct flvar { om_varobject ob; int64_t items[]; } flvar;
static om_type flvar_type = { OM_TYPE_INIT, .name = "flvar", .size = sizeof(flvar), .item_size = 8,
                              .freelist_limit = 100 };

#define FL_BLOCK ((uint64_t)tu_class_size(sizeof(flobj)))       /* no collector header */
#define FLGC_BLOCK ((uint64_t)tu_class_size(sizeof(flobj) + 16)) /* with it */

/* Everything the test types may have parked goes back, and one object of t
 * has been created (so the type is ready and the registry holds it). */
static void settle(om_type *t)
{
    om_object *o = om_new(t);
    if (o != NULL)
        om_decref(o);
    om_freelists_clear();
}

static void check_identity(const om_type *t)
{
    om_type_stats s = ot_stats(t);
    CHECK_EQ(s.freelist_hits + s.freelist_misses, s.created);
    CHECK_EQ(s.created - s.destroyed, s.live);
    CHECK_LE(s.freelist_len, s.freelist_limit);
}

static void test_reuse_same_address(void)
{
    settle(&fl_type);
    om_type_stats s0 = ot_stats(&fl_type);
    CHECK_EQ(s0.freelist_len, 0);
    CHECK_EQ(s0.freelist_limit, 100);
    flobj *a = (flobj *)om_new(&fl_type);
    REQUIRE(a != NULL);
    om_type_stats s1 = ot_stats(&fl_type);
    CHECK_EQ(s1.freelist_misses - s0.freelist_misses, 1);
    CHECK_EQ(s1.freelist_hits, s0.freelist_hits);
    a->id = 42;
    memset(a->body, 0x5a, sizeof a->body);
    om_decref(a);
    om_type_stats s2 = ot_stats(&fl_type);
    CHECK_EQ(s2.freelist_len, 1);
    CHECK_EQ(s2.destroyed - s0.destroyed, 1);
    CHECK_EQ(s2.live, s0.live);
    CHECK_EQ((uintptr_t)a->ob.refcount >> 63, 1); /* a negative count marks it dead */
    flobj *b = (flobj *)om_new(&fl_type);
    REQUIRE(b != NULL);
    CHECK_PTR_EQ(b, a);
    CHECK_EQ(b->ob.refcount, 1);
    CHECK_PTR_EQ(b->ob.type, &fl_type);
    CHECK_EQ(b->id, 0);
    CHECK(b->weaklist == NULL);
    CHECK(tu_all_bytes(b->body, sizeof b->body, 0));
    om_type_stats s3 = ot_stats(&fl_type);
    CHECK_EQ(s3.freelist_hits - s0.freelist_hits, 1);
    CHECK_EQ(s3.freelist_misses - s0.freelist_misses, 1);
    CHECK_EQ(s3.freelist_len, 0);
    CHECK_EQ(s3.created - s0.created, 2);

    /* last in, first out */
    flobj *c = (flobj *)om_new(&fl_type);
    REQUIRE(c != NULL);
    CHECK_NE((uintptr_t)c, (uintptr_t)b);
    om_decref(b);
    om_decref(c);
    CHECK_EQ(ot_stats(&fl_type).freelist_len, 2);
    flobj *d = (flobj *)om_new(&fl_type);
    flobj *e = (flobj *)om_new(&fl_type);
    CHECK_PTR_EQ(d, c);
    CHECK_PTR_EQ(e, b);
    om_type_stats s4 = ot_stats(&fl_type);
    CHECK_EQ(s4.freelist_hits - s0.freelist_hits, 3);
    CHECK_EQ(s4.freelist_misses - s0.freelist_misses, 2);
    om_decref(d);
    om_decref(e);
    check_identity(&fl_type);
}

static void test_limit_respected(void)
{
    enum { N = 150 };
    static om_object *o[N];
    settle(&fl_type);
    uint64_t b0 = ot_bytes_in_use();
    om_type_stats s0 = ot_stats(&fl_type);
    for (int i = 0; i < N; i++) {
        o[i] = om_new(&fl_type);
        REQUIRE(o[i] != NULL);
        for (int j = 0; j < i; j++)
            if (o[j] == o[i]) {
                CHECK_MSG(0, "objects %d and %d share an address", j, i);
                return;
            }
    }
    CHECK_EQ(ot_bytes_in_use() - b0, N * FL_BLOCK);
    om_type_stats s1 = ot_stats(&fl_type);
    CHECK_EQ(s1.live - s0.live, N);
    CHECK_EQ(s1.freelist_misses - s0.freelist_misses, N);
    for (int i = 0; i < N; i++)
        om_decref(o[i]);
    om_type_stats s2 = ot_stats(&fl_type);
    CHECK_EQ(s2.freelist_len, 100);
    CHECK_EQ(s2.destroyed - s0.destroyed, N);
    CHECK_EQ(s2.live, s0.live);
    /* the parked 100 still hold their blocks; the other 50 went back */
    CHECK_EQ(ot_bytes_in_use() - b0, 100 * FL_BLOCK);
    /* 100 come from the free list, the 101st from the allocator */
    for (int i = 0; i < 101; i++) {
        o[i] = om_new(&fl_type);
        REQUIRE(o[i] != NULL);
    }
    om_type_stats s3 = ot_stats(&fl_type);
    CHECK_EQ(s3.freelist_hits - s2.freelist_hits, 100);
    CHECK_EQ(s3.freelist_misses - s2.freelist_misses, 1);
    CHECK_EQ(s3.freelist_len, 0);
    CHECK_EQ(ot_bytes_in_use() - b0, 101 * FL_BLOCK);
    for (int i = 0; i < 101; i++)
        om_decref(o[i]);
    CHECK_EQ(ot_stats(&fl_type).freelist_len, 100);
    CHECK_EQ(om_type_freelist_clear(&fl_type), 100);
    CHECK_EQ(ot_bytes_in_use(), b0);
    check_identity(&fl_type);
}

static void test_set_limit_trims(void)
{
    enum { N = 100 };
    static om_object *o[N];
    settle(&fl_type);
    uint64_t b0 = ot_bytes_in_use();
    for (int i = 0; i < N; i++) {
        o[i] = om_new(&fl_type);
        REQUIRE(o[i] != NULL);
    }
    for (int i = 0; i < N; i++)
        om_decref(o[i]);
    CHECK_EQ(ot_stats(&fl_type).freelist_len, 100);
    om_type_set_freelist_limit(&fl_type, 10);
    om_type_stats s = ot_stats(&fl_type);
    CHECK_EQ(s.freelist_len, 10);
    CHECK_EQ(s.freelist_limit, 10);
    CHECK_EQ(ot_bytes_in_use() - b0, 10 * FL_BLOCK);
    /* the new limit holds for later frees */
    for (int i = 0; i < 30; i++) {
        o[i] = om_new(&fl_type);
        REQUIRE(o[i] != NULL);
    }
    for (int i = 0; i < 30; i++)
        om_decref(o[i]);
    CHECK_EQ(ot_stats(&fl_type).freelist_len, 10);
    CHECK_EQ(ot_bytes_in_use() - b0, 10 * FL_BLOCK);
    /* raising it keeps what is parked and lets more in */
    om_type_set_freelist_limit(&fl_type, 100);
    s = ot_stats(&fl_type);
    CHECK_EQ(s.freelist_len, 10);
    CHECK_EQ(s.freelist_limit, 100);
    for (int i = 0; i < 30; i++) {
        o[i] = om_new(&fl_type);
        REQUIRE(o[i] != NULL);
    }
    for (int i = 0; i < 30; i++)
        om_decref(o[i]);
    CHECK_EQ(ot_stats(&fl_type).freelist_len, 30);
    /* 0 empties it */
    om_type_set_freelist_limit(&fl_type, 0);
    s = ot_stats(&fl_type);
    CHECK_EQ(s.freelist_len, 0);
    CHECK_EQ(s.freelist_limit, 0);
    CHECK_EQ(ot_bytes_in_use(), b0);
    om_type_set_freelist_limit(&fl_type, 100);
    check_identity(&fl_type);
}

static void test_clear_counts_and_memory(void)
{
    settle(&fl_type);
    settle(&flgc_type);
    CHECK_EQ(om_freelists_clear(), 0);
    CHECK_EQ(om_type_freelist_clear(&fl_type), 0);
    uint64_t b0 = ot_bytes_in_use();
    om_object *a[5], *g[7];
    for (int i = 0; i < 5; i++)
        a[i] = om_new(&fl_type);
    for (int i = 0; i < 7; i++)
        g[i] = om_new(&flgc_type);
    for (int i = 0; i < 5; i++)
        REQUIRE(a[i] != NULL);
    for (int i = 0; i < 7; i++)
        REQUIRE(g[i] != NULL);
    CHECK_EQ(ot_bytes_in_use() - b0, 5 * FL_BLOCK + 7 * FLGC_BLOCK);
    for (int i = 0; i < 5; i++)
        om_decref(a[i]);
    for (int i = 0; i < 7; i++)
        om_decref(g[i]);
    CHECK_EQ(ot_stats(&fl_type).freelist_len, 5);
    CHECK_EQ(ot_stats(&flgc_type).freelist_len, 7);
    CHECK_EQ(ot_bytes_in_use() - b0, 5 * FL_BLOCK + 7 * FLGC_BLOCK);
    CHECK_EQ(om_type_freelist_clear(&flgc_type), 7);
    CHECK_EQ(ot_stats(&flgc_type).freelist_len, 0);
    CHECK_EQ(ot_stats(&fl_type).freelist_len, 5);
    CHECK_EQ(ot_bytes_in_use() - b0, 5 * FL_BLOCK);
    CHECK_EQ(om_type_freelist_clear(&flgc_type), 0);
    for (int i = 0; i < 7; i++)
        g[i] = om_new(&flgc_type);
    for (int i = 0; i < 7; i++)
        om_decref(g[i]);
    CHECK_EQ(om_freelists_clear(), 12);
    CHECK_EQ(ot_stats(&fl_type).freelist_len, 0);
    CHECK_EQ(ot_stats(&flgc_type).freelist_len, 0);
    CHECK_EQ(ot_bytes_in_use(), b0);
    CHECK_EQ(om_freelists_clear(), 0);
    /* the free lists work again after a clear */
    om_object *x = om_new(&fl_type);
    REQUIRE(x != NULL);
    om_decref(x);
    om_object *y = om_new(&fl_type);
    CHECK_PTR_EQ(y, x);
    om_decref(y);
    CHECK_EQ(om_type_freelist_clear(&fl_type), 1);
    check_identity(&fl_type);
    check_identity(&flgc_type);
}

static void test_limit_zero(void)
{
    settle(&nofl_type);
    uint64_t b0 = ot_bytes_in_use();
    om_type_stats s0 = ot_stats(&nofl_type);
    CHECK_EQ(s0.freelist_limit, 0);
    for (int i = 0; i < 20; i++) {
        om_object *o = om_new(&nofl_type);
        REQUIRE(o != NULL);
        CHECK_EQ(ot_bytes_in_use() - b0, FL_BLOCK);
        om_decref(o);
        CHECK_EQ(ot_bytes_in_use(), b0);
        CHECK_EQ(ot_stats(&nofl_type).freelist_len, 0);
    }
    om_type_stats s1 = ot_stats(&nofl_type);
    CHECK_EQ(s1.freelist_hits, s0.freelist_hits);
    CHECK_EQ(s1.freelist_misses - s0.freelist_misses, 20);
    CHECK_EQ(om_type_freelist_clear(&nofl_type), 0);
    check_identity(&nofl_type);
}

static void test_variable_size_never_parked(void)
{
    settle(&fl_type);
    om_object *warm = om_new_var(&flvar_type, 1);
    REQUIRE(warm != NULL);
    om_decref(warm);
    uint64_t b0 = ot_bytes_in_use();
    om_type_stats s0 = ot_stats(&flvar_type);
    size_t sizes[] = { 0, 1, 4, 4, 4, 50, 4 };
    for (size_t k = 0; k < CHECK_COUNT(sizes); k++) {
        om_object *o = om_new_var(&flvar_type, sizes[k]);
        REQUIRE(o != NULL);
        CHECK_EQ(((flvar *)o)->ob.nitems, sizes[k]);
        CHECK(tu_all_bytes(((flvar *)o)->items, sizes[k] * 8, 0));
        memset(((flvar *)o)->items, 0x77, sizes[k] * 8);
        om_decref(o);
        CHECK_EQ(ot_stats(&flvar_type).freelist_len, 0);
        CHECK_EQ(ot_bytes_in_use(), b0);
    }
    om_type_stats s1 = ot_stats(&flvar_type);
    CHECK_EQ(s1.freelist_hits, s0.freelist_hits);
    CHECK_EQ(s1.created - s0.created, CHECK_COUNT(sizes));
    CHECK_EQ(om_type_freelist_clear(&flvar_type), 0);
    /* the examples' variable-size types too (str, tuple) */
    om_object *s = ex_str_from("hello");
    om_object *t = ex_tuple_new(2);
    REQUIRE(s != NULL && t != NULL);
    om_decref(s);
    om_decref(t);
    CHECK_EQ(ot_stats(&ex_str_type).freelist_len, 0);
    CHECK_EQ(ot_stats(&ex_tuple_type).freelist_len, 0);
}

static void test_gc_type_reuse(void)
{
    settle(&flgc_type);
    flobj *a = (flobj *)om_new(&flgc_type);
    REQUIRE(a != NULL);
    CHECK(!om_owns(a));
    CHECK(om_owns((char *)a - 16));
    memset(a->body, 0xee, sizeof a->body);
    a->id = 9;
    om_decref(a);
    flobj *b = (flobj *)om_new(&flgc_type);
    CHECK_PTR_EQ(b, a);
    REQUIRE(b != NULL);
    CHECK_EQ(b->ob.refcount, 1);
    CHECK_EQ(b->id, 0);
    CHECK(tu_all_bytes(b->body, sizeof b->body, 0));
    CHECK(om_owns((char *)b - 16));
    om_decref(b);
    /* limit 10 */
    om_object *o[25];
    for (int i = 0; i < 25; i++) {
        o[i] = om_new(&flgc_type);
        REQUIRE(o[i] != NULL);
    }
    for (int i = 0; i < 25; i++)
        om_decref(o[i]);
    CHECK_EQ(ot_stats(&flgc_type).freelist_len, 10);
    check_identity(&flgc_type);
}

/* A reused instance is a new object: its finalizer runs again. */
static void test_reuse_is_a_new_object(void)
{
    settle(&flfin_type);
    ot_log_reset();
    flobj *a = (flobj *)om_new(&flfin_type);
    REQUIRE(a != NULL);
    a->id = 1;
    om_decref(a);
    CHECK_LOG("F1 R1");
    flobj *b = (flobj *)om_new(&flfin_type);
    REQUIRE(b != NULL);
    CHECK_PTR_EQ(b, a);
    b->id = 2;
    om_decref(b);
    CHECK_LOG("F1 R1 F2 R2");
    CHECK_EQ(om_type_freelist_clear(&flfin_type), 1);
    CHECK_LOG("F1 R1 F2 R2"); /* clearing the free list runs no hook again */

    /* weak references to the old object stay dead when the memory is reused */
    settle(&fl_type);
    flobj *c = (flobj *)om_new(&fl_type);
    REQUIRE(c != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(c), NULL, NULL);
    REQUIRE(w != NULL);
    CHECK_EQ(om_weakref_count(OM_OBJ(c)), 1);
    om_decref(c);
    CHECK(om_weakref_get(w) == NULL);
    flobj *d = (flobj *)om_new(&fl_type);
    REQUIRE(d != NULL);
    CHECK_PTR_EQ(d, c);
    CHECK(om_weakref_get(w) == NULL);
    CHECK(d->weaklist == NULL);
    CHECK_EQ(om_weakref_count(OM_OBJ(d)), 0);
    om_weakref *w2 = om_weakref_new(OM_OBJ(d), NULL, NULL);
    REQUIRE(w2 != NULL);
    CHECK(w2 != w);
    CHECK_PTR_EQ(om_weakref_get(w2), d);
    om_decref(d); /* the reference om_weakref_get returned */
    om_decref(d);
    CHECK(om_weakref_get(w2) == NULL);
    om_decref(w);
    om_decref(w2);
}

static void test_examples_free_lists(void)
{
    enum { N = 150 };
    static om_object *o[N];
    om_type_freelist_clear(&ex_float_type);
    om_type_freelist_clear(&ex_list_type);
    CHECK_EQ(ot_stats(&ex_float_type).freelist_limit, 100);
    CHECK_EQ(ot_stats(&ex_list_type).freelist_limit, 80);
    CHECK_EQ(ot_stats(&ex_dict_type).freelist_limit, 80);
    CHECK_EQ(ot_stats(&ex_int_type).freelist_limit, 100);
    for (int i = 0; i < N; i++) {
        o[i] = ex_float_new(i + 0.5);
        REQUIRE(o[i] != NULL);
    }
    for (int i = 0; i < N; i++)
        om_decref(o[i]);
    CHECK_EQ(ot_stats(&ex_float_type).freelist_len, 100);
    om_type_stats f0 = ot_stats(&ex_float_type);
    om_object *f = ex_float_new(2.25);
    REQUIRE(f != NULL);
    CHECK_PTR_EQ(f, o[99]); /* the last one parked: 100..149 went to the allocator */
    CHECK(ex_float_value(f) == 2.25);
    CHECK_EQ(ot_stats(&ex_float_type).freelist_hits - f0.freelist_hits, 1);
    om_decref(f);

    /* a reused list is empty */
    for (int i = 0; i < N; i++) {
        o[i] = ex_list_new(0);
        REQUIRE(o[i] != NULL);
        om_object *x = ex_float_new(i);
        REQUIRE(x != NULL);
        CHECK_EQ(ex_list_append(o[i], x), 0);
        om_decref(x);
    }
    for (int i = 0; i < N; i++)
        om_decref(o[i]);
    CHECK_EQ(ot_stats(&ex_list_type).freelist_len, 80);
    om_object *l = ex_list_new(0);
    REQUIRE(l != NULL);
    CHECK_PTR_EQ(l, o[79]);
    CHECK_EQ(ex_list_len(l), 0);
    CHECK(ex_list_get_item(l, 0) == NULL);
    om_decref(l);
    size_t cleared = om_freelists_clear();
    CHECK_GE(cleared, 180);
    CHECK_EQ(ot_stats(&ex_float_type).freelist_len, 0);
    CHECK_EQ(ot_stats(&ex_list_type).freelist_len, 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_reuse_same_address),
        CHECK_CASE(test_limit_respected),
        CHECK_CASE(test_set_limit_trims),
        CHECK_CASE(test_clear_counts_and_memory),
        CHECK_CASE(test_limit_zero),
        CHECK_CASE(test_variable_size_never_parked),
        CHECK_CASE(test_gc_type_reuse),
        CHECK_CASE(test_reuse_is_a_new_object),
        CHECK_CASE(test_examples_free_lists),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
