/*
 * test_gc_generations.c — generations and when collections run (objmem.h
 * §11), as CPython's gc does it: the state a fresh process sees
 * (thresholds 2000/10/10, enabled, no debug flags, no garbage, nothing
 * frozen); promotion (a survivor of generation g is in g + 1), young
 * collections leave older generations alone, a cycle across generations;
 * om_gc_get_count; triggers: om_gc_poll after more than threshold 0
 * tracked allocations, om_lock_yield (lock held), never inside om_new,
 * threshold 0 and om_gc_disable, the generation CPython's rules pick (a
 * model checks every poll) with the 25% long-lived rule; freeze and
 * unfreeze; per-generation statistics, EINVAL for a bad generation; a full
 * collection empties the types' free lists.
 *
 * test_defaults must stay the first case: it checks the fresh process.
 */
#include <errno.h>
#include <limits.h>
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

/* ------------------------------------------------------------ defaults */

/* first case: the state a fresh process sees */
static void test_defaults(void)
{
    long t[OM_GC_GENERATIONS];
    om_gc_get_threshold(t);
    CHECK_EQ(t[0], 2000);
    CHECK_EQ(t[1], 10);
    CHECK_EQ(t[2], 10);
    CHECK(om_gc_isenabled());
    CHECK_EQ(om_gc_get_debug(), 0);
    CHECK_EQ(om_gc_garbage_count(), 0);
    CHECK_EQ(om_gc_get_freeze_count(), 0);
    om_gc_set_threshold(700, 5, 3);
    om_gc_get_threshold(t);
    CHECK_EQ(t[0], 700);
    CHECK_EQ(t[1], 5);
    CHECK_EQ(t[2], 3);
    om_gc_disable();
    CHECK(!om_gc_isenabled());
    om_gc_enable();
    CHECK(om_gc_isenabled());
    gt_reset();
}

/* ------------------------------------------------------------ generations */

static void test_promotion(void)
{
    gt_reset();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1);
    REQUIRE(a != NULL);
    CHECK(om_gc_is_tracked(OM_OBJ(a)));
    CHECK_EQ(gt_gen_of(a), 0);
    CHECK_EQ(om_gc_count_objects(0), 1);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_EQ(gt_gen_of(a), 1);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_EQ(gt_gen_of(a), 1); /* a young collection leaves generation 1 alone */
    CHECK_EQ(om_gc_collect(1), 0);
    CHECK_EQ(gt_gen_of(a), 2);
    CHECK_EQ(om_gc_collect(1), 0);
    CHECK_EQ(gt_gen_of(a), 2);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(gt_gen_of(a), 2); /* the oldest stays the oldest */
    gt_gnode *b = gt_mk(&gt_gnode_type, 2);
    REQUIRE(b != NULL);
    CHECK_EQ(gt_gen_of(b), 0);
    CHECK_EQ(om_gc_collect(1), 0); /* generations 0 and 1 go to 2 */
    CHECK_EQ(gt_gen_of(b), 2);
    gt_gnode *c = gt_mk(&gt_gnode_type, 3);
    REQUIRE(c != NULL);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(gt_gen_of(c), 2);
    CHECK_EQ(om_gc_count_objects(0), 0);
    CHECK_EQ(om_gc_count_objects(1), 0);
    CHECK_EQ(om_gc_count_objects(2), 3);
    CHECK_EQ(om_gc_count_objects(-1), 3);
    om_decref(a);
    om_decref(b);
    om_decref(c);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

static void test_young_collection_spares_older_garbage(void)
{
    gt_reset();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2);
    REQUIRE(a != NULL && b != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_EQ(gt_gen_of(a), 1);
    CHECK_EQ(gt_gen_of(b), 1);
    om_decref(a);
    om_decref(b);
    CHECK_EQ(om_gc_collect(0), 0); /* garbage, but in generation 1 */
    CHECK_EQ(gt_n_released, 0);
    CHECK_EQ(om_gc_collect(1), 2);
    CHECK_EQ(gt_n_released, 2);

    /* a cycle with one member in generation 1 and one in generation 0:
     * the young one is referenced from outside its generation */
    gt_reset_counters();
    gt_gnode *o = gt_mk(&gt_gnode_type, 3);
    REQUIRE(o != NULL);
    CHECK_EQ(om_gc_collect(0), 0);
    gt_gnode *y = gt_mk(&gt_gnode_type, 4);
    REQUIRE(y != NULL);
    gt_set_ref(o, 0, y);
    gt_set_ref(y, 0, o);
    om_decref(o);
    om_decref(y);
    CHECK_EQ(gt_gen_of(o), 1);
    CHECK_EQ(gt_gen_of(y), 0);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_EQ(gt_gen_of(y), 1);
    CHECK_EQ(gt_n_released, 0);
    CHECK_EQ(om_gc_collect(1), 2);
    CHECK_EQ(gt_n_released, 2);
}

static void test_get_count(void)
{
    gt_reset();
    CHECK_COUNT3(0, 0, 0);
    gt_gnode *n[5];
    for (int i = 0; i < 5; i++) {
        n[i] = gt_mk(&gt_gnode_type, i);
        REQUIRE(n[i] != NULL);
    }
    CHECK_COUNT3(5, 0, 0);
    /* objects without a collector header do not count */
    om_object *i1 = ex_int_new(12345), *f1 = ex_float_new(1.5), *s1 = ex_str_from("x");
    gt_link *x = (gt_link *)om_new(&gt_box_type);
    REQUIRE(i1 != NULL && f1 != NULL && s1 != NULL && x != NULL);
    CHECK_COUNT3(5, 0, 0);
    om_decref(i1);
    om_decref(f1);
    om_decref(s1);
    om_decref(x);
    /* deallocations count down */
    om_decref(n[3]);
    om_decref(n[4]);
    CHECK_COUNT3(3, 0, 0);
    /* every container counts, the examples' parked ones included */
    om_object *l = ex_list_new(0), *d = ex_dict_new(), *t = ex_tuple_new(3);
    REQUIRE(l != NULL && d != NULL && t != NULL);
    CHECK_COUNT3(6, 0, 0);
    om_decref(l);
    om_decref(d);
    om_decref(t);
    CHECK_COUNT3(3, 0, 0);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_COUNT3(0, 1, 0);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_COUNT3(0, 2, 0);
    n[3] = gt_mk(&gt_gnode_type, 3);
    REQUIRE(n[3] != NULL);
    CHECK_COUNT3(1, 2, 0);
    CHECK_EQ(om_gc_collect(1), 0);
    CHECK_COUNT3(0, 0, 1);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_COUNT3(0, 1, 1);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_COUNT3(0, 0, 0);
    /* the count never goes below zero */
    for (int i = 0; i < 4; i++)
        om_decref(n[i]);
    CHECK_COUNT3(0, 0, 0);
}

/* ------------------------------------------------------------ triggers */

static void test_automatic_collection(void)
{
    gt_reset();
    gt_quiet = 1;
    om_gc_set_threshold(100, 10, 10);
    gt_recorder_start();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2);
    REQUIRE(a != NULL && b != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_decref(a);
    om_decref(b);
    gt_gnode *keep[200];
    for (int i = 0; i < 98; i++) {
        keep[i] = gt_mk(&gt_gnode_type, 100 + i);
        REQUIRE(keep[i] != NULL);
    }
    CHECK_COUNT3(100, 0, 0);
    CHECK_EQ(om_gc_poll(), 0); /* not over the threshold */
    CHECK_EQ(gt_rec_n, 0);
    keep[98] = gt_mk(&gt_gnode_type, 198);
    REQUIRE(keep[98] != NULL);
    /* over the threshold, but om_new never collects: a safe point does */
    CHECK_COUNT3(101, 0, 0);
    CHECK_EQ(gt_rec_n, 0);
    CHECK_EQ(gt_n_released, 0);
    for (int i = 99; i < 200; i++) {
        keep[i] = gt_mk(&gt_gnode_type, 100 + i);
        REQUIRE(keep[i] != NULL);
    }
    CHECK_EQ(gt_rec_n, 0);
    CHECK_EQ(om_gc_poll(), 2);
    CHECK_EQ(gt_rec_n, 1);
    CHECK_EQ(gt_rec_gen[0], 0);
    CHECK_EQ(gt_released[1] + gt_released[2], 2);
    CHECK_COUNT3(0, 1, 0);
    CHECK_EQ(om_gc_poll(), 0); /* nothing due any more */
    CHECK_EQ(gt_rec_n, 1);

    /* threshold 0: no automatic collection */
    om_gc_set_threshold(0, 10, 10);
    gt_gnode *more[300];
    for (int i = 0; i < 300; i++) {
        more[i] = gt_mk(&gt_gnode_type, 400 + i);
        REQUIRE(more[i] != NULL);
    }
    CHECK_EQ(om_gc_poll(), 0);
    CHECK_EQ(gt_rec_n, 1);
    for (int i = 0; i < 300; i++)
        om_decref(more[i]);

    /* disabled: no automatic collection, om_gc_collect still works */
    om_gc_set_threshold(100, 10, 10);
    om_gc_disable();
    for (int i = 0; i < 300; i++) {
        more[i] = gt_mk(&gt_gnode_type, 400 + i);
        REQUIRE(more[i] != NULL);
    }
    CHECK_EQ(om_gc_poll(), 0);
    CHECK_EQ(gt_rec_n, 1);
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_EQ(gt_rec_n, 2);
    om_gc_enable();
    for (int i = 0; i < 300; i++)
        om_decref(more[i]);
    CHECK_EQ(om_gc_poll(), 0);
    for (int i = 0; i < 101; i++) {
        more[i] = gt_mk(&gt_gnode_type, 400 + i);
        REQUIRE(more[i] != NULL);
    }
    CHECK_EQ(gt_rec_n, 2);
    CHECK_EQ(om_gc_poll(), 0);
    CHECK_EQ(gt_rec_n, 3);
    for (int i = 0; i < 101; i++)
        om_decref(more[i]);
    for (int i = 0; i < 200; i++)
        om_decref(keep[i]);
    gt_recorder_stop();
    gt_reset();
}

static void test_lock_yield_collects(void)
{
    gt_reset();
    gt_quiet = 1;
    om_gc_set_threshold(50, 10, 10);
    gt_recorder_start();
    om_lock_acquire();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1);
    REQUIRE(a != NULL);
    gt_set_ref(a, 0, a);
    om_decref(a);
    gt_gnode *keep[60];
    for (int i = 0; i < 60; i++) {
        keep[i] = gt_mk(&gt_gnode_type, 10 + i);
        REQUIRE(keep[i] != NULL);
    }
    CHECK_EQ(gt_rec_n, 0);
    CHECK_EQ(gt_released[1], 0);
    (void)om_lock_yield(); /* nobody waits: no switch, but a safe point */
    CHECK_EQ(gt_rec_n, 1);
    CHECK_EQ(gt_released[1], 1);
    CHECK_COUNT3(0, 1, 0);
    CHECK_EQ(om_lock_yield(), 0);
    CHECK_EQ(gt_rec_n, 1);
    for (int i = 0; i < 60; i++)
        om_decref(keep[i]);
    om_lock_release();
    gt_recorder_stop();
    gt_reset();
}

/* Every automatic collection picks the generation CPython's rules give
 * (checked against a model before each poll), including the 25% rule: a
 * full collection only when the objects promoted to generation 2 since
 * the last one reach a quarter of those it left there.  The objects hold
 * no references, so weighing the rule by references followed (as src/gc/gc.c
 * does) changes nothing here. */
static void test_poll_generations_and_long_lived_rule(void)
{
    gt_reset();
    gt_quiet = 1;
    const size_t n_long = 4000, iters = 300, per_iter = 13;
    om_object **keep = calloc(n_long + iters * per_iter, sizeof *keep);
    REQUIRE(keep != NULL);
    size_t nk = 0;
    for (size_t i = 0; i < n_long; i++) {
        keep[nk] = OM_OBJ(gt_mk(&gt_gnode_type, 1000));
        REQUIRE(keep[nk] != NULL);
        nk++;
    }
    CHECK_EQ(om_gc_collect(2), 0);
    size_t total = om_gc_count_objects(2), base = total;
    CHECK_EQ(total, n_long);
    const long th[3] = { 10, 1, 1 };
    om_gc_set_threshold(th[0], th[1], th[2]);
    gt_recorder_start();
    int skips = 0, fulls = 0, mismatches = 0;
    for (size_t it = 0; it < iters; it++) {
        for (size_t i = 0; i < per_iter; i++) {
            keep[nk] = OM_OBJ(gt_mk(&gt_gnode_type, 1000));
            REQUIRE(keep[nk] != NULL);
            nk++;
        }
        long cnt[3];
        om_gc_get_count(cnt);
        size_t pending = om_gc_count_objects(2) - base;
        int expect = -1;
        for (int g = 2; g >= 0; g--) {
            if (cnt[g] > th[g]) {
                if (g == 2 && pending < total / 4) {
                    skips++;
                    continue;
                }
                expect = g;
                break;
            }
        }
        int before = gt_rec_n;
        CHECK_EQ(om_gc_poll(), 0); /* nothing to find */
        CHECK_EQ(gt_rec_n - before, 1);
        if (gt_rec_n - before == 1 && gt_rec_gen[before] != expect && mismatches++ < 5)
            CHECK_MSG(0, "poll %zu: collected generation %d, want %d (count %ld %ld %ld, pending %zu of %zu)",
                      it, gt_rec_gen[before], expect, cnt[0], cnt[1], cnt[2], pending, total);
        if (expect == 2) {
            fulls++;
            total = base = om_gc_count_objects(2);
        }
    }
    CHECK_EQ(mismatches, 0);
    CHECK_GT(skips, 10);
    CHECK_GE(fulls, 1);
    gt_recorder_stop();
    for (size_t i = 0; i < nk; i++)
        om_decref(keep[i]);
    free(keep);
    gt_reset();
}

/* ------------------------------------------------------------ freeze */

static void test_freeze(void)
{
    gt_reset();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2), *k = gt_mk(&gt_gnode_type, 3);
    REQUIRE(a != NULL && b != NULL && k != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_decref(a);
    om_decref(b);
    CHECK_EQ(om_gc_collect(0), 2); /* the cycle was young garbage... */
    CHECK_EQ(gt_released[1] + gt_released[2], 2);
    gt_reset_counters();
    a = gt_mk(&gt_gnode_type, 1);
    b = gt_mk(&gt_gnode_type, 2);
    REQUIRE(a != NULL && b != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_decref(a);
    om_decref(b);
    size_t tracked = om_gc_count_objects(-1);
    CHECK_EQ(tracked, 3);
    om_gc_freeze();
    CHECK_EQ(om_gc_get_freeze_count(), tracked);
    CHECK_EQ(om_gc_count_objects(-1), 0);
    CHECK_EQ(gt_gen_of(k), -1);
    CHECK(om_gc_is_tracked(OM_OBJ(k))); /* still tracked, in the permanent generation */
    CHECK_EQ(gt_count0(), 0);
    for (int g = 0; g < OM_GC_GENERATIONS; g++)
        CHECK_EQ(om_gc_collect(g), 0); /* ...but frozen garbage is never examined */
    CHECK_EQ(gt_n_released, 0);
    gt_gnode *c = gt_mk(&gt_gnode_type, 4); /* new objects are young as usual */
    REQUIRE(c != NULL);
    CHECK_EQ(gt_gen_of(c), 0);
    CHECK_EQ(om_gc_get_freeze_count(), tracked);
    om_gc_freeze(); /* again: adds the new ones */
    CHECK_EQ(om_gc_get_freeze_count(), tracked + 1);
    om_decref(c); /* a frozen object can die */
    CHECK_EQ(gt_released[4], 1);
    CHECK_EQ(om_gc_get_freeze_count(), tracked);
    om_gc_unfreeze();
    CHECK_EQ(om_gc_get_freeze_count(), 0);
    CHECK_EQ(gt_gen_of(k), 2); /* unfrozen objects are the oldest */
    CHECK_EQ(gt_gen_of(a), 2);
    CHECK_EQ(om_gc_collect(1), 0);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_released[1] + gt_released[2], 2);
    om_gc_unfreeze(); /* nothing frozen: no-op */
    CHECK_EQ(om_gc_get_freeze_count(), 0);
    om_decref(k);
}

/* ------------------------------------------------------------ statistics */
static void test_stats_per_generation(void)
{
    gt_reset();
    om_gc_gen_stats s0[3], s1[3];
    om_gc_get_stats(s0);
    gt_garbage_pair(1);
    CHECK_EQ(om_gc_collect(0), 2);
    gt_garbage_pair(3);
    gt_garbage_pair(5);
    CHECK_EQ(om_gc_collect(1), 4);
    CHECK_EQ(om_gc_collect(1), 0);
    gt_gnode *u = gt_mk(&gt_noclear_type, 7);
    REQUIRE(u != NULL);
    gt_set_ref(u, 0, u);
    om_decref(u);
    gt_garbage_pair(8);
    CHECK_EQ(om_gc_collect(-1), 3); /* -1: the full collection */
    om_gc_get_stats(s1);
    CHECK_EQ(s1[0].collections - s0[0].collections, 1);
    CHECK_EQ(s1[0].collected - s0[0].collected, 2);
    CHECK_EQ(s1[0].uncollectable - s0[0].uncollectable, 0);
    CHECK_EQ(s1[1].collections - s0[1].collections, 2);
    CHECK_EQ(s1[1].collected - s0[1].collected, 4);
    CHECK_EQ(s1[1].uncollectable - s0[1].uncollectable, 0);
    CHECK_EQ(s1[2].collections - s0[2].collections, 1);
    CHECK_EQ(s1[2].collected - s0[2].collected, 2);
    CHECK_EQ(s1[2].uncollectable - s0[2].uncollectable, 1);
    for (int g = 0; g < 3; g++)
        CHECK_GE(s1[g].total_ns, s0[g].total_ns);
    /* clean up the uncollectable one */
    CHECK_EQ(om_gc_garbage_count(), 1);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(gt_released[7], 1);
}

static void test_bad_generation(void)
{
    gt_reset();
    int bad[] = { 3, 4, 100, -2, -3, INT_MAX, INT_MIN };
    om_gc_gen_stats s0[3], s1[3];
    om_gc_get_stats(s0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK_EQ(om_gc_collect(bad[i]), -1);
        CHECK_EQ(errno, EINVAL);
    }
    om_gc_get_stats(s1);
    for (int g = 0; g < 3; g++)
        CHECK_EQ(s1[g].collections, s0[g].collections);
    CHECK_EQ(om_gc_collect(-1), 0);
    om_gc_get_stats(s1);
    CHECK_EQ(s1[2].collections - s0[2].collections, 1);
}

static void test_full_collection_clears_freelists(void)
{
    gt_reset();
    om_object *f[50], *l[20], *d[20];
    for (int i = 0; i < 50; i++) {
        f[i] = ex_float_new(i + 0.5);
        REQUIRE(f[i] != NULL);
    }
    for (int i = 0; i < 20; i++) {
        l[i] = ex_list_new(0);
        d[i] = ex_dict_new();
        REQUIRE(l[i] != NULL && d[i] != NULL);
    }
    for (int i = 0; i < 50; i++)
        om_decref(f[i]);
    for (int i = 0; i < 20; i++) {
        om_decref(l[i]);
        om_decref(d[i]);
    }
    CHECK_GE(ot_stats(&ex_float_type).freelist_len, 50);
    CHECK_GE(ot_stats(&ex_list_type).freelist_len, 20);
    CHECK_GE(ot_stats(&ex_dict_type).freelist_len, 20);
    /* lists dying in the full collection itself are not parked either */
    om_object *c1 = ex_list_new(0), *c2 = ex_list_new(0);
    REQUIRE(c1 != NULL && c2 != NULL);
    REQUIRE_EQ(ex_list_append(c1, c2), 0);
    REQUIRE_EQ(ex_list_append(c2, c1), 0);
    om_decref(c1);
    om_decref(c2);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(ot_stats(&ex_float_type).freelist_len, 0);
    CHECK_EQ(ot_stats(&ex_list_type).freelist_len, 0);
    CHECK_EQ(ot_stats(&ex_dict_type).freelist_len, 0);
    CHECK_EQ(ot_stats(&ex_int_type).freelist_len, 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_defaults),
        CHECK_CASE(test_promotion),
        CHECK_CASE(test_young_collection_spares_older_garbage),
        CHECK_CASE(test_get_count),
        CHECK_CASE(test_automatic_collection),
        CHECK_CASE(test_lock_yield_collects),
        CHECK_CASE(test_poll_generations_and_long_lived_rule),
        CHECK_CASE(test_freeze),
        CHECK_CASE(test_stats_per_generation),
        CHECK_CASE(test_bad_generation),
        CHECK_CASE(test_full_collection_clears_freelists),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
