/*
 * test_gc_side_overflow.c — the collector's side table, seen from outside:
 * counts past a side byte's limit.
 *
 * The two passes that follow references (src/gc/scan.c) keep a byte per
 * object outside the object (src/gc/side.h, src/gc/side.c): a count of
 * references from the set (at most SIDE_CMAX, the rest in the referent's
 * header), then reached / kept / unreachable marks; every byte must be 0
 * again when a collection ends.  Plain unreachable sets (declared
 * references, no clear, no finalizer, no weak references) are freed by
 * delete_fast (omi_gc_delete_fast, src/gc/unreachable.c) without counting
 * down internal references.  None of that is visible through the API, so
 * these tests check what it must produce.  The types are gctest.h's
 * side-table family (gs_).
 *
 *   overflow      objects referenced 250..100000 times from the set (many
 *                 small referrers, item arrays holding one target many
 *                 times, an object holding itself), garbage, held, held
 *                 only through the popular object; references declared,
 *                 through traverse, through a refs hook; popular OLD and
 *                 FROZEN objects under referrers from the set (their lists
 *                 stay intact); SAVEALL and uncollectable referrers;
 *   resurrection  finalizers that resurrect a popular object (the re-check
 *                 counts past SIDE_CMAX too);
 *   immutable     tuples of atomic objects untracked inside the set,
 *                 popular ones, garbage ones, nested ones.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"
#include "gctest.h"

/* Reference counts around a side byte's limit (SIDE_CMAX = 251 counted in
 * the byte, the rest in the header, 252 at a time), and far beyond. */
static const size_t ovf_counts[] = {250, 251, 252, 253, 254, 255, 256, 503, 504, 505, 756, 100000};
#define NOVF (sizeof ovf_counts / sizeof ovf_counts[0])
static size_t ovf_n(size_t i)
{
    size_t n = ovf_counts[i];
    return n > 1000 ? (size_t)OM_TEST_SCALE(n) : n;
}

/* ---- count overflow ---------------------------------------------------- */
enum { HOLD_NONE, HOLD_ALL, HOLD_POPULAR, HOLD_FIRST };
static const char *const hold_name[] = {"garbage", "all held", "popular held", "first held"};

/* A star: n nodes N_i, each in its own cycle (N_i.b = N_i) and pointing
 * at the popular node T (N_i.a = T); T points back at N_0 only.  T is
 * created before or after the nodes (the scan meets it first or last). */
static void star_of(om_type *nt, size_t n, int popular_last, int hold)
{
    gs_fresh();
    om_object **nd = malloc(n * sizeof *nd);
    NEED(nd != NULL);
    om_object *t = popular_last ? NULL : gs_new_node(nt, 0);
    for (size_t i = 0; i < n; i++) {
        nd[i] = gs_new_node(nt, 0);
        gs_set_ref(&GT_B(nd[i]), nd[i]);
    }
    if (popular_last)
        t = gs_new_node(nt, 0);
    for (size_t i = 0; i < n; i++)
        gs_set_ref(&GT_A(nd[i]), t);
    gs_set_ref(&GT_A(t), nd[0]);
    CHECK_EQ(t->refcount, n + 1);

    for (size_t i = 1; i < n; i++)
        if (hold != HOLD_ALL)
            om_decref(nd[i]);
    if (hold != HOLD_ALL && hold != HOLD_FIRST)
        om_decref(nd[0]);
    if (hold != HOLD_POPULAR)
        om_decref(t);
    /* garbage: everything; all held: nothing; popular or first held: the
     * other n - 1 nodes (T and N_0 reach each other) */
    long want = hold == HOLD_NONE ? (long)n + 1 : hold == HOLD_ALL ? 0 : (long)n - 1;
    CHECK_COLLECT(2, want, "%s star n=%zu, popular %s, %s", nt->name, n, popular_last ? "last" : "first",
                  hold_name[hold]);
    CHECK_EQ(gs_total_freed(), want);
    if (hold == HOLD_ALL) {
        CHECK_EQ(t->refcount, n);
        CHECK_EQ(nd[0]->refcount, 3);
        CHECK_EQ(nd[n - 1]->refcount, 2);
    } else if (hold == HOLD_POPULAR) {
        CHECK_EQ(t->refcount, 2);
        CHECK_EQ(nd[0]->refcount, 2);
        CHECK(gt_in_generation(t, 2));
    } else if (hold == HOLD_FIRST) {
        CHECK_EQ(t->refcount, 1);
        CHECK_EQ(nd[0]->refcount, 3);
        CHECK(gt_in_generation(nd[0], 2));
    }
    /* again: nothing new (a stale byte would count or mark something) */
    CHECK_COLLECT(2, 0, "star n=%zu again", n);

    if (hold == HOLD_ALL)
        for (size_t i = 0; i < n; i++)
            om_decref(nd[i]);
    else if (hold == HOLD_POPULAR)
        om_decref(t);
    else if (hold == HOLD_FIRST)
        om_decref(nd[0]);
    CHECK_COLLECT(2, (long)n + 1 - want, "star n=%zu, the rest", n);
    CHECK_EQ(gs_total_freed(), n + 1);
    CHECK_EQ(gs_saw_ref, 0);
    free(nd);
}

static void star(size_t n, int popular_last, int hold) { star_of(&gs_node_type, n, popular_last, hold); }

static void test_overflow_many_referrers(void)
{
    for (size_t i = 0; i < NOVF; i++)
        for (int last = 0; last < 2; last++)
            for (int hold = HOLD_NONE; hold <= HOLD_FIRST; hold++)
                star(ovf_n(i), last, hold);
}

/* The same through the other forms of references: a traverse hook (a
 * call per reference) and a refs hook (an array), both with clear (the
 * ordinary path); a finalizer (the re-check); a clear hook on declared
 * references. */
static void test_overflow_hook_forms(void)
{
    om_type *forms[] = {&gs_tnode_type, &gs_rnode_type, &gs_fnode_type, &gs_cnode_type};
    static const size_t counts[] = {250, 251, 252, 253, 504, 505, 3000};
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++)
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
            for (int last = 0; last < 2; last++)
                for (int hold = HOLD_NONE; hold <= HOLD_FIRST; hold++)
                    star_of(forms[f], counts[i], last, hold);
}

/* Frozen objects (the permanent generation, tag 3) are outside even a
 * full collection: a popular one's byte counts and wraps, its header and
 * the permanent list stay as they are; after om_gc_unfreeze it is an
 * ordinary old object again, with nothing left over. */
static void test_overflow_frozen_popular(void)
{
    gs_fresh();
    om_object *p = gs_new_node(&gs_node_type, 0);
    gs_set_ref(&GT_B(p), p);
    om_gc_freeze();
    size_t frozen = om_gc_get_freeze_count();
    REQUIRE(frozen >= 1);
    static const size_t counts[] = {251, 252, 253, 504, 100000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c] > 1000 ? (size_t)OM_TEST_SCALE(counts[c]) : counts[c];
        for (int held = 0; held < 2; held++) {
            om_object **y = malloc(n * sizeof *y);
            NEED(y != NULL);
            for (size_t i = 0; i < n; i++) {
                y[i] = gs_new_node(&gs_node_type, 0);
                gs_set_ref(&GT_A(y[i]), p);
                gs_set_ref(&GT_B(y[i]), y[i]);
                if (!held)
                    om_decref(y[i]);
            }
            CHECK_COLLECT(2, held ? 0 : n, "frozen popular, %zu referrers %s", n, held ? "held" : "garbage");
            CHECK_EQ(p->refcount, 2 + (held ? n : 0));
            CHECK_EQ(om_gc_get_freeze_count(), frozen);
            if (held) {
                for (size_t i = 0; i < n; i++)
                    om_decref(y[i]);
                CHECK_COLLECT(2, n, "frozen popular, %zu referrers dropped", n);
            }
            free(y);
        }
    }
    om_gc_unfreeze();
    CHECK(gt_in_generation(p, 2));
    CHECK_COLLECT(2, 0, "%s", "unfrozen, held");
    CHECK_COLLECT(0, 0, "%s", "unfrozen, held, young");
    CHECK_EQ(p->refcount, 2);
    om_decref(p);
    CHECK_COLLECT(2, 1, "%s", "unfrozen, dropped");
}

/* SAVEALL (everything found goes to the garbage list: the side-table
 * cleanup of the ordinary path) and uncollectable referrers (no clear:
 * they go to the garbage list, the popular object they reach stays); back in
 * generation 2 after om_gc_garbage_clear, found again exactly. */
static void test_overflow_saveall_uncollectable(void)
{
    static const size_t counts[] = {251, 252, 253, 600};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c];
        gs_fresh();
        om_gc_set_debug(OM_GC_DEBUG_SAVEALL);
        om_object *t = gs_new_node(&gs_node_type, 0);
        gs_set_ref(&GT_A(t), t);
        for (size_t i = 0; i < n; i++) {
            om_object *y = gs_new_node(&gs_node_type, 0);
            gs_set_ref(&GT_A(y), t);
            gs_set_ref(&GT_B(y), y);
            om_decref(y);
        }
        om_decref(t);
        CHECK_COLLECT(0, n + 1, "saveall, %zu referrers", n);
        CHECK_EQ(om_gc_garbage_count(), n + 1);
        CHECK_EQ(t->refcount, n + 2);
        CHECK_COLLECT(2, 0, "saveall, %zu referrers, again", n);
        om_gc_set_debug(0);
        CHECK_EQ(om_gc_garbage_clear(), n + 1);
        CHECK_COLLECT(2, n + 1, "saveall cleared, %zu referrers", n);
        CHECK_EQ(gs_total_freed(), n + 1);

        /* uncollectable referrers */
        gs_reset_counts();
        om_object **u = malloc(n * sizeof *u);
        NEED(u != NULL);
        t = gs_new_node(&gs_node_type, 0);
        for (size_t i = 0; i < n; i++) {
            u[i] = gs_new_node(&gs_unode_type, 0);
            gs_set_ref(&GT_A(u[i]), t);
            gs_set_ref(&GT_B(u[i]), u[i]);
            om_decref(u[i]);
        }
        gs_set_ref(&GT_A(t), u[0]);
        om_decref(t);
        CHECK_COLLECT(2, n + 1, "uncollectable, %zu referrers", n);
        CHECK_EQ(om_gc_garbage_count(), n); /* not t: the collector can clear it */
        CHECK_EQ(t->refcount, n);
        CHECK_EQ(gs_total_freed(), 0);
        CHECK_EQ(om_gc_garbage_clear(), n);
        CHECK_COLLECT(2, n + 1, "uncollectable, %zu referrers, again", n);
        CHECK_EQ(om_gc_garbage_clear(), n);
        /* by hand (they have no clear): drop their references to t (t
         * dies, dropping u[0]), then their own cycles */
        for (size_t i = 0; i < n; i++)
            om_clear_ref(&GT_A(u[i]));
        CHECK_EQ(gs_freed_n[GS_T_NODE], 1);
        for (size_t i = 0; i < n; i++)
            om_clear_ref(&GT_B(u[i]));
        CHECK_EQ(gs_total_freed(), n + 1);
        CHECK_COLLECT(2, 0, "%s", "uncollectable, all freed");
        free(u);
    }
}

/* One vec holding the same target n times, in a cycle with it (T.a = V). */
static void items_same_target(size_t n, int hold)
{
    gs_fresh();
    om_object *t = gs_new_node(&gs_node_type, 0), *v = gs_new_vec(&gs_vec_type, n, 0);
    for (size_t i = 0; i < n; i++)
        gt_items(v)[i] = om_newref(t);
    gs_set_ref(&GT_A(t), v);
    if (hold != HOLD_ALL)
        om_decref(v);
    if (hold != HOLD_POPULAR)
        om_decref(t);
    long want = hold == HOLD_NONE ? 2 : 0;
    CHECK_COLLECT(2, want, "items n=%zu, %s", n, hold == HOLD_ALL ? "vec held" : hold_name[hold]);
    if (hold != HOLD_NONE) {
        CHECK_EQ(t->refcount, n + (hold == HOLD_POPULAR));
        CHECK_EQ(v->refcount, 1 + (hold == HOLD_ALL));
        CHECK_COLLECT(2, 0, "items n=%zu again", n);
        om_decref(hold == HOLD_ALL ? v : t);
        CHECK_COLLECT(2, 2, "items n=%zu, the rest", n);
    }
    CHECK_EQ(gs_freed_n[GS_T_NODE], 1);
    CHECK_EQ(gs_freed_n[GS_T_VEC], 1);
    CHECK_EQ(gs_saw_ref, 0);
}

/* Three vecs share the target: the byte overflows across referrers. */
static void items_split(size_t n0, size_t n1, size_t n2, int hold_target)
{
    gs_fresh();
    size_t n[3] = {n0, n1, n2};
    om_object *t = gs_new_node(&gs_node_type, 0), *v[3];
    for (int k = 0; k < 3; k++) {
        v[k] = gs_new_vec(&gs_vec_type, n[k] + 1, 0);
        for (size_t i = 0; i < n[k]; i++)
            gt_items(v[k])[i] = om_newref(t);
    }
    gs_set_ref(&GT_A(t), v[0]);
    gs_set_ref(&gt_items(v[0])[n0], v[1]);
    gs_set_ref(&gt_items(v[1])[n1], v[2]);
    for (int k = 0; k < 3; k++)
        om_decref(v[k]);
    if (!hold_target)
        om_decref(t);
    CHECK_COLLECT(2, hold_target ? 0 : 4, "split %zu+%zu+%zu, target %s", n0, n1, n2,
                  hold_target ? "held" : "garbage");
    if (hold_target) {
        CHECK_EQ(t->refcount, n0 + n1 + n2 + 1);
        om_decref(t);
        CHECK_COLLECT(2, 4, "split %zu+%zu+%zu, the rest", n0, n1, n2);
    }
    CHECK_EQ(gs_freed_n[GS_T_VEC], 3);
    CHECK_EQ(gs_freed_n[GS_T_NODE], 1);
}

/* A non-container referenced n - 1 times by a garbage vec (its byte just
 * wraps: nobody reads it). */
static void items_leaf_target(size_t n, int hold_leaf)
{
    gs_fresh();
    om_object *lf = gs_new_leaf(&gs_leaf_type, 0), *v = gs_new_vec(&gs_vec_type, n, 0);
    gs_set_ref(&gt_items(v)[0], v);
    for (size_t i = 1; i < n; i++)
        gt_items(v)[i] = om_newref(lf);
    om_decref(v);
    if (!hold_leaf)
        om_decref(lf);
    CHECK_COLLECT(2, 1, "leaf target n=%zu", n);
    CHECK_EQ(gs_freed_n[GS_T_LEAF], hold_leaf ? 0 : 1);
    if (hold_leaf) {
        CHECK_EQ(lf->refcount, 1);
        om_decref(lf);
        CHECK_EQ(gs_freed_n[GS_T_LEAF], 1);
    }
}

static void test_overflow_items(void)
{
    for (size_t i = 0; i < NOVF; i++) {
        items_same_target(ovf_n(i), HOLD_NONE);
        items_same_target(ovf_n(i), HOLD_ALL);
        items_same_target(ovf_n(i), HOLD_POPULAR);
        items_leaf_target(ovf_n(i), 0);
        items_leaf_target(ovf_n(i), 1);
    }
    static const size_t splits[][3] = {{84, 84, 84}, {84, 84, 83}, {84, 84, 85}, {250, 1, 1},
                                       {251, 1, 0}, {1, 251, 1}, {200, 200, 104}, {300, 300, 300}};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        for (int h = 0; h < 2; h++)
            items_split(splits[i][0], splits[i][1], splits[i][2], h);
}

/* A vec whose every item is itself: count n from the set, refcount n (+1). */
static void test_overflow_self_items(void)
{
    for (size_t i = 0; i < NOVF; i++) {
        size_t n = ovf_n(i);
        for (int held = 0; held < 2; held++) {
            gs_fresh();
            om_object *v = gs_new_vec(&gs_vec_type, n, 0);
            for (size_t k = 0; k < n; k++)
                gt_items(v)[k] = om_newref(v);
            if (!held)
                om_decref(v);
            CHECK_COLLECT(2, held ? 0 : 1, "self items n=%zu %s", n, held ? "held" : "garbage");
            if (held) {
                CHECK_EQ(v->refcount, n + 1);
                CHECK_COLLECT(0, 0, "self items n=%zu, young", n);
                CHECK_COLLECT(2, 0, "self items n=%zu again", n);
                om_decref(v);
                CHECK_COLLECT(2, 1, "self items n=%zu, dropped", n);
            }
            CHECK_EQ(gs_freed_n[GS_T_VEC], 1);
        }
    }
}

/* A popular OLD object under young referrers: outside the young set, its
 * byte counts and wraps but its header and its list are not touched. */
static void test_overflow_old_popular(void)
{
    gs_fresh();
    om_object *p = gs_new_node(&gs_node_type, 0);
    /* old companions: a ring of 100 that only p holds */
    om_object *first = gs_new_node(&gs_node_type, 0), *cur = first;
    for (int i = 1; i < 100; i++) {
        om_object *n = gs_new_node(&gs_node_type, 0);
        GT_A(cur) = n; /* takes n's reference */
        cur = n;
    }
    gs_set_ref(&GT_A(cur), first);
    GT_B(p) = first; /* takes ours */
    CHECK_COLLECT(2, 0, "%s", "old setup");
    REQUIRE(gt_in_generation(p, 2));
    size_t old2 = om_gc_count_objects(2), old1 = om_gc_count_objects(1);
    static const size_t counts[] = {251, 252, 253, 504, 505, 100000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c] > 1000 ? (size_t)OM_TEST_SCALE(counts[c]) : counts[c];
        om_object **nd = malloc(n * sizeof *nd);
        NEED(nd != NULL);
        /* all young referrers garbage */
        for (size_t i = 0; i < n; i++) {
            nd[i] = gs_new_node(&gs_node_type, 0);
            gs_set_ref(&GT_A(nd[i]), p);
            gs_set_ref(&GT_B(nd[i]), nd[i]);
            om_decref(nd[i]);
        }
        CHECK_EQ(p->refcount, n + 1);
        CHECK_COLLECT(0, n, "old popular, %zu young garbage referrers", n);
        CHECK_EQ(p->refcount, 1);
        CHECK_EQ(om_gc_count_objects(0), 0);
        CHECK_EQ(om_gc_count_objects(1), old1);
        CHECK_EQ(om_gc_count_objects(2), old2);
        CHECK(gt_in_generation(p, 2));
        CHECK(gt_in_generation(first, 2));
        /* half of them held: they move to generation 1 */
        size_t held = 0;
        for (size_t i = 0; i < n; i++) {
            nd[i] = gs_new_node(&gs_node_type, 0);
            gs_set_ref(&GT_A(nd[i]), p);
            gs_set_ref(&GT_B(nd[i]), nd[i]);
            if (i & 1) {
                om_decref(nd[i]);
                nd[i] = NULL;
            } else {
                held++;
            }
        }
        CHECK_COLLECT(0, n - held, "old popular, %zu young referrers, %zu held", n, held);
        CHECK_EQ(p->refcount, 1 + held);
        CHECK_EQ(om_gc_count_objects(1), old1 + held);
        CHECK_EQ(om_gc_count_objects(2), old2);
        CHECK_EQ(gt_referrers_of(p), held);
        CHECK(gt_in_generation(p, 2));
        CHECK(gt_in_generation(nd[0], 1));
        for (size_t i = 0; i < n; i++)
            if (nd[i])
                om_decref(nd[i]);
        CHECK_COLLECT(1, held, "old popular, %zu held referrers dropped", held);
        CHECK_EQ(p->refcount, 1);
        CHECK_EQ(om_gc_count_objects(1), old1);
        CHECK_EQ(om_gc_count_objects(2), old2);
        CHECK(gt_in_generation(p, 2));
        free(nd);
    }
    /* a young vec holding p 100000 times */
    size_t n = (size_t)OM_TEST_SCALE(100000);
    om_object *v = gs_new_vec(&gs_vec_type, n, 0);
    gs_set_ref(&gt_items(v)[0], v);
    for (size_t i = 1; i < n; i++)
        gt_items(v)[i] = om_newref(p);
    om_decref(v);
    CHECK_COLLECT(0, 1, "%s", "young vec holding an old object");
    CHECK_EQ(p->refcount, 1);
    CHECK_EQ(om_gc_count_objects(2), old2);
    CHECK(gt_in_generation(p, 2));

    /* a popular object of generation 1: outside a young collection, inside
     * a collection of generation 1 (its header then takes the overflow) */
    om_object *q = gs_new_node(&gs_node_type, 0);
    CHECK_COLLECT(0, 0, "%s", "q to generation 1");
    REQUIRE(gt_in_generation(q, 1));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 300; i++) {
            om_object *y = gs_new_node(&gs_node_type, 0);
            gs_set_ref(&GT_A(y), q);
            gs_set_ref(&GT_B(y), y);
            om_decref(y);
        }
        if (round == 0) {
            CHECK_COLLECT(0, 300, "%s", "generation-1 popular, young collection");
            CHECK_EQ(q->refcount, 1);
            CHECK(gt_in_generation(q, 1));
        } else {
            om_decref(q); /* only the garbage holds it now */
            CHECK_COLLECT(1, 301, "%s", "generation-1 popular, collection of 1");
        }
    }
    CHECK_EQ(om_gc_count_objects(2), old2);
    om_decref(p); /* freed now (nothing refers to it); the ring it held is garbage */
    CHECK_COLLECT(2, 100, "%s", "old popular dropped");
    CHECK_EQ(gs_saw_ref, 0);
    CHECK_EQ(om_heap_check(1), 0);
}

/* ---- resurrection re-check with a popular object ------------------------
 * n finalizer nodes F_i in their own cycles, all pointing at T (T.a =
 * F_0); optionally a vec holding T 300 times in a cycle with it (T.b = V).
 * The finalizer of F_5 stores a reference to T, or to F_7, or nothing: the
 * re-check counts T's n (+300) references from the set again. */
static om_object *stash;
static om_object *res_who, *res_what;
static void fin_resurrect(om_object *self)
{
    if (self == res_who && !stash)
        stash = om_newref(res_what);
}

static void resurrect_case(size_t n, int what, int with_vec, int t_final)
{
    gs_fresh();
    stash = NULL;
    om_object **f = malloc(n * sizeof *f);
    NEED(f != NULL);
    om_object *t = gs_new_node(t_final ? &gs_fnode_type : &gs_node_type, 0);
    for (size_t i = 0; i < n; i++) {
        f[i] = gs_new_node(&gs_fnode_type, 0);
        gs_set_ref(&GT_A(f[i]), t);
        gs_set_ref(&GT_B(f[i]), f[i]);
    }
    gs_set_ref(&GT_A(t), f[0]);
    om_object *v = NULL;
    if (with_vec) {
        v = gs_new_vec(&gs_vec_type, 301, 0);
        for (int i = 0; i < 300; i++)
            gt_items(v)[i] = om_newref(t);
        gs_set_ref(&gt_items(v)[300], t);
        gs_set_ref(&GT_B(t), v);
        om_decref(v);
    }
    res_who = f[5];
    res_what = what == 1 ? t : what == 2 ? f[7] : NULL;
    gs_fin_hook = what ? fin_resurrect : NULL;
    for (size_t i = 0; i < n; i++)
        om_decref(f[i]);
    om_decref(t);
    long found = (long)n + 1 + (with_vec ? 1 : 0);
    /* survivors: T, F_0 (and V) for what 1; plus F_7 for what 2 */
    long kept = what == 0 ? 0 : 2 + (with_vec ? 1 : 0) + (what == 2 ? 1 : 0);
    CHECK_COLLECT(2, found - kept, "resurrect n=%zu what=%d vec=%d t_final=%d", n, what, with_vec, t_final);
    CHECK_EQ(gs_fin_calls, (long)n + (t_final ? 1 : 0));
    CHECK_EQ(gs_total_freed(), found - kept);
    if (what) {
        REQUIRE(stash != NULL);
        CHECK_EQ(t->refcount, 1 + (what == 1) + (what == 2) + (with_vec ? 301 : 0));
        CHECK_EQ(f[0]->refcount, 2);
        if (what == 2)
            CHECK_EQ(f[7]->refcount, 2);
        CHECK(om_gc_is_finalized(f[0]));
        CHECK(gt_in_generation(t, 2));
        gs_fin_hook = NULL;
        CHECK_COLLECT(2, 0, "resurrect n=%zu what=%d, held", n, what);
        om_clear_ref(&stash);
        long calls = gs_fin_calls;
        CHECK_COLLECT(2, kept, "resurrect n=%zu what=%d, dropped", n, what);
        CHECK_EQ(gs_fin_calls, calls); /* once per object ever */
    }
    CHECK_EQ(gs_total_freed(), found);
    CHECK_EQ(gs_saw_ref, 0);
    gs_fin_hook = NULL;
    free(f);
}

static void test_resurrect_popular(void)
{
    static const size_t counts[] = {250, 252, 300, 504, 1000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
        for (int what = 0; what < 3; what++)
            for (int with_vec = 0; with_vec < 2; with_vec++)
                resurrect_case(counts[c], what, with_vec, c % 2);
}

/* ---- immutable containers ---------------------------------------------- */
static om_object *new_tup(size_t n, om_object *const *items)
{
    om_object *t = gs_new_vec(&gs_tup_type, n, 0);
    for (size_t i = 0; i < n; i++)
        gs_set_ref(&gt_items(t)[i], items[i]);
    return t;
}

static void test_immutable_in_set(void)
{
    gs_fresh();
    om_object *l1 = gs_new_leaf(&gs_leaf_type, 0), *l2 = gs_new_leaf(&gs_leaf_type, 0);
    om_object *its[3] = {l1, l2, OM_OBJ(&gs_imm_leaf)};

    /* held by a live node and by garbage 300 times: untracked in the
     * collection that frees the garbage, counts exact */
    for (int order = 0; order < 2; order++) {
        om_object *holder = order ? NULL : gs_new_node(&gs_node_type, 0);
        om_object *t = new_tup(3, its);
        if (order)
            holder = gs_new_node(&gs_node_type, 0);
        gs_set_ref(&GT_A(holder), t);
        om_object *v = gs_new_vec(&gs_vec_type, 301, 0);
        gs_set_ref(&gt_items(v)[300], v);
        for (int i = 0; i < 300; i++)
            gs_set_ref(&gt_items(v)[i], t);
        om_decref(v);
        om_decref(t);
        CHECK(om_gc_is_tracked(t));
        CHECK_COLLECT(0, 1, "tuple held and referenced by garbage, order %d", order);
        /* order 1: the tuple was scanned before its holder at gc_refs 0
         * (every reference to it came from the set) and kept when the
         * holder reached it: untracked all the same (CPython's
         * untrack_tuples runs over every survivor) */
        CHECK(!om_gc_is_tracked(t));
        CHECK_EQ(t->refcount, 1);
        CHECK_EQ(l1->refcount, 2);
        CHECK_COLLECT(2, 0, "%s", "untracked tuple, again");
        om_decref(holder);
        CHECK_EQ(gs_freed_n[GS_T_TUP], order + 1);
        CHECK_EQ(l1->refcount, 1);
    }

    /* a popular tuple held by the test: kept, untracked, its count read
     * past the byte */
    for (size_t c = 0; c < 4; c++) {
        size_t n = c == 0 ? 251 : c == 1 ? 252 : c == 2 ? 253 : 1000;
        om_object *t = new_tup(3, its);
        for (size_t i = 0; i < n; i++) {
            om_object *y = gs_new_node(&gs_node_type, 0);
            gs_set_ref(&GT_A(y), t);
            gs_set_ref(&GT_B(y), y);
            om_decref(y);
        }
        CHECK_COLLECT(0, n, "popular tuple held, %zu referrers", n);
        CHECK(!om_gc_is_tracked(t));
        CHECK_EQ(t->refcount, 1);
        om_decref(t);
        /* the same, not held: the tuple is garbage too; its leaves stay */
        t = new_tup(3, its);
        for (size_t i = 0; i < n; i++) {
            om_object *y = gs_new_node(&gs_node_type, 0);
            gs_set_ref(&GT_A(y), t);
            gs_set_ref(&GT_B(y), y);
            om_decref(y);
        }
        om_decref(t);
        long tups = gs_freed_n[GS_T_TUP];
        CHECK_COLLECT(0, n + 1, "popular tuple garbage, %zu referrers", n);
        CHECK_EQ(gs_freed_n[GS_T_TUP], tups + 1);
        CHECK_EQ(l1->refcount, 1);
        CHECK_EQ(l2->refcount, 1);
    }

    /* a tuple holding one leaf 300 times (a non-container's byte wraps) */
    om_object *many[300];
    for (int i = 0; i < 300; i++)
        many[i] = l2;
    om_object *t300 = new_tup(300, many);
    CHECK_EQ(l2->refcount, 301);
    CHECK_COLLECT(0, 0, "%s", "tuple of one leaf 300 times");
    CHECK(!om_gc_is_tracked(t300));
    om_decref(t300);
    CHECK_EQ(l2->refcount, 1);

    /* nested: the inner tuple is untracked first, then the outer */
    om_object *inner = new_tup(2, its);
    om_object *outer_items[2] = {inner, l1};
    om_object *outer = new_tup(2, outer_items);
    om_decref(inner);
    /* the outer one is untracked only once the inner one is (one collection
     * or two, by scan order; a third at most) */
    for (int i = 0; i < 3 && om_gc_is_tracked(outer); i++)
        CHECK_COLLECT(i, 0, "nested tuples, collection %d", i);
    CHECK(!om_gc_is_tracked(inner));
    CHECK(!om_gc_is_tracked(outer));
    CHECK_EQ(inner->refcount, 1);
    om_decref(outer);
    CHECK_EQ(l1->refcount, 1);

    /* a tuple holding a container stays tracked; garbage tuples in a cycle
     * through a node are freed */
    om_object *nd = gs_new_node(&gs_node_type, 0);
    om_object *mixed_items[2] = {nd, l1};
    om_object *mt = new_tup(2, mixed_items);
    gs_set_ref(&GT_A(nd), mt);
    CHECK_COLLECT(0, 0, "%s", "tuple holding a container");
    CHECK(om_gc_is_tracked(mt));
    om_decref(mt);
    om_decref(nd);
    long tups = gs_freed_n[GS_T_TUP];
    CHECK_COLLECT(1, 2, "%s", "tuple and node cycle");
    CHECK_EQ(gs_freed_n[GS_T_TUP], tups + 1);
    CHECK_EQ(l1->refcount, 1);

    CHECK_EQ(gs_saw_ref, 0);
    om_decref(l1);
    om_decref(l2);
    CHECK_EQ(om_gc_collect(2), 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_overflow_many_referrers),
        CHECK_CASE(test_overflow_hook_forms),
        CHECK_CASE(test_overflow_frozen_popular),
        CHECK_CASE(test_overflow_saveall_uncollectable),
        CHECK_CASE(test_overflow_items),
        CHECK_CASE(test_overflow_self_items),
        CHECK_CASE(test_overflow_old_popular),
        CHECK_CASE(test_resurrect_popular),
        CHECK_CASE(test_immutable_in_set),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
