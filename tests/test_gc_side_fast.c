/*
 * test_gc_side_fast.c — delete_fast, the collector's way of freeing a plain
 * unreachable set (omi_gc_delete_fast, src/gc/unreachable.c: declared
 * references, no clear, no finalizer, no weak references), seen from
 * outside:
 *
 *   references leaving the set dropped exactly once (non-GC, live
 *   containers, untracked and old objects only the garbage holds, static
 *   immortal objects); a kept object behind garbage keeps its side byte;
 *   release hooks once per object with their fields already NULL; free
 *   lists; sets that need the ordinary path (clear hook, finalizer, weak
 *   reference); outside objects whose finalizers allocate while the set is
 *   being freed.
 *
 * The types are gctest.h's side-table family (gs_).
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

/* ---- delete_fast ------------------------------------------------------- */
/* A garbage ring of 10 nodes and a vec, pointing out of the set at: a leaf
 * and a container the test holds (the vec holds the container 300 times),
 * a leaf, an untracked container and (young collection) an old container
 * only the garbage holds, and static objects. */
static void fast_outside(int young)
{
    gs_fresh();
    om_object *lf = gs_new_leaf(&gs_leaf_type, 0), *live = gs_new_node(&gs_node_type, 0);
    om_object *only_leaf = gs_new_leaf(&gs_leaf_type, 0), *untracked = gs_new_node(&gs_node_type, 0);
    gs_set_ref(&GT_A(untracked), only_leaf); /* the only reference to only_leaf after ours goes */
    om_decref(only_leaf);
    REQUIRE(om_gc_untrack(untracked) == 0);
    om_object *old_only = NULL;
    if (young) {
        old_only = gs_new_node(&gs_node_type, 0);
        CHECK_COLLECT(2, 0, "%s", "old_only old");
        REQUIRE(gt_in_generation(old_only, 2));
    }
    size_t old2 = om_gc_count_objects(2);
    om_object *ring[10], *v = gs_new_vec(&gs_vec_type, 1000, 0);
    for (int i = 0; i < 10; i++)
        ring[i] = gs_new_node(&gs_node_type, 0);
    for (int i = 0; i < 10; i++)
        gs_set_ref(&GT_A(ring[i]), i < 9 ? ring[i + 1] : v);
    gs_set_ref(&gt_items(v)[0], ring[0]);
    gs_set_ref(&GT_B(ring[0]), lf);
    gs_set_ref(&GT_B(ring[1]), live);
    gs_set_ref(&GT_B(ring[2]), untracked);
    gs_set_ref(&GT_B(ring[3]), OM_OBJ(&gs_imm_leaf));
    gs_set_ref(&GT_B(ring[4]), OM_OBJ(&gs_imm_node));
    if (old_only)
        gs_set_ref(&GT_B(ring[5]), old_only);
    gs_set_ref(&GT_B(ring[6]), lf);
    gs_set_ref(&GT_B(ring[7]), ring[7]);
    for (int i = 1; i < 301; i++)
        gs_set_ref(&gt_items(v)[i], live);
    for (int i = 301; i < 601; i++)
        gs_set_ref(&gt_items(v)[i], OM_OBJ(&gs_imm_node));
    for (int i = 601; i < 700; i++)
        gs_set_ref(&gt_items(v)[i], lf);
    for (int i = 700; i < 710; i++)
        gs_set_ref(&gt_items(v)[i], ring[i % 10]);
    if (old_only) {
        for (int i = 710; i < 1000; i++)
            gs_set_ref(&gt_items(v)[i], old_only);
        om_decref(old_only); /* only the garbage holds it now */
    }
    om_decref(untracked);
    for (int i = 0; i < 10; i++)
        om_decref(ring[i]);
    om_decref(v);
    CHECK_EQ(lf->refcount, 1 + 2 + 99);
    CHECK_EQ(live->refcount, 1 + 1 + 300);
    om_type_stats before;
    om_type_get_stats(&gs_node_type, &before);
    CHECK_COLLECT(young ? 0 : 2, 11, "fast outside, %s", young ? "young" : "full");
    CHECK_EQ(lf->refcount, 1);
    CHECK_EQ(live->refcount, 1);
    CHECK_EQ(OM_OBJ(&gs_imm_leaf)->refcount, OM_IMMORTAL_REFCNT);
    CHECK_EQ(OM_OBJ(&gs_imm_node)->refcount, OM_IMMORTAL_REFCNT);
    CHECK_EQ(gs_freed_n[GS_T_VEC], 1);
    CHECK_EQ(gs_freed_n[GS_T_NODE], 10 + 1 + (young ? 1 : 0)); /* the ring, untracked, old_only */
    CHECK_EQ(gs_freed_n[GS_T_LEAF], 1);                        /* only_leaf */
    CHECK_EQ(gs_saw_ref, 0);
    om_type_stats after;
    om_type_get_stats(&gs_node_type, &after);
    CHECK_EQ(after.destroyed - before.destroyed, 10 + 1 + (young ? 1 : 0));
    /* young: old_only left generation 2; full: live joined it */
    CHECK_EQ(om_gc_count_objects(2), young ? old2 - 1 : old2 + 1);
    CHECK(gt_in_generation(live, 2));
    CHECK_COLLECT(2, 0, "%s", "fast outside, again");
    om_decref(lf);
    om_decref(live);
    CHECK_EQ(gs_freed_n[GS_T_LEAF], 2);
}

static void test_fast_outside_references(void)
{
    fast_outside(0);
    fast_outside(1);
}

/* Each object's release runs once, with every reference of the whole set
 * already NULL (delete_fast empties the set before freeing any of it).  The
 * hook looks at the members not freed yet: the watch list forgets each one
 * in its own release, so no freed memory is read. */
static om_object *watch[64];
static int nwatch;
static void release_checks_others(om_object *self)
{
    for (int i = 0; i < nwatch; i++)
        if (watch[i] == self)
            watch[i] = NULL;
    for (int i = 0; i < nwatch; i++)
        if (watch[i] && (GT_A(watch[i]) || GT_B(watch[i])))
            gs_saw_ref++;
}

/* A kept object behind garbage on the tentative list, small set (the walk
 * cleans): g1 <-> g2 garbage, g1 -> k; k's only other referrer h is held
 * from outside but comes after k in the scan.  The scan leaves g1, g2 and
 * k tentative, then h keeps k.  delete_fast, freeing g1, must not take k's
 * "kept" byte for an outside object's and zero it: k would then be freed
 * with h still holding it. */
static void test_fast_kept_after_garbage(void)
{
    gs_fresh();
    om_object *g1 = gs_new_node(&gs_node_type, 1), *g2 = gs_new_node(&gs_node_type, 2);
    om_object *k = gs_new_node(&gs_node_type, 3), *h = gs_new_node(&gs_node_type, 4);
    gs_set_ref(&((gt_node *)g1)->a, g2);
    gs_set_ref(&((gt_node *)g2)->a, g1);
    gs_set_ref(&((gt_node *)g1)->b, k);
    gs_set_ref(&((gt_node *)h)->a, k);
    om_decref(g1);
    om_decref(g2);
    om_decref(k);
    CHECK_EQ(om_gc_collect(0), 2);
    CHECK_EQ(gs_freed_id[1], 1);
    CHECK_EQ(gs_freed_id[2], 1);
    CHECK_EQ(gs_freed_id[3], 0);
    CHECK_EQ(k->refcount, 1);
    CHECK(om_gc_is_tracked(k));
    CHECK_EQ(om_gc_collect(0), 0); /* k's byte is clean: still held */
    CHECK_EQ(gs_freed_id[3], 0);
    om_decref(h); /* h, then k, by counting */
    CHECK_EQ(gs_freed_id[3], 1);
    CHECK_EQ(gs_freed_id[4], 1);
}

static void test_fast_release_hooks(void)
{
    /* 64 nodes, each referred to twice from the set, young */
    gs_fresh();
    nwatch = 64;
    for (int i = 0; i < 64; i++)
        watch[i] = gs_new_node(&gs_node_type, i + 1);
    for (int i = 0; i < 64; i++) {
        gs_set_ref(&GT_A(watch[i]), watch[(i + 1) % 64]);
        gs_set_ref(&GT_B(watch[i]), watch[(i * 7) % 64]);
    }
    for (int i = 0; i < 64; i++)
        om_decref(watch[i]);
    gs_release_hook = release_checks_others;
    CHECK_COLLECT(0, 64, "%s", "64-node set");
    for (int i = 1; i <= 64; i++)
        CHECK_EQ(gs_freed_id[i], 1);
    CHECK_EQ(gs_saw_ref, 0);

    /* 32 nodes and a vec holding them 300 times, full */
    gs_reset_counts();
    nwatch = 32;
    for (int i = 0; i < 32; i++)
        watch[i] = gs_new_node(&gs_node_type, i + 1);
    om_object *v = gs_new_vec(&gs_vec_type, 300, 0);
    for (int i = 0; i < 32; i++) {
        gs_set_ref(&GT_A(watch[i]), watch[(i + 1) % 32]);
        gs_set_ref(&GT_B(watch[i]), v);
    }
    for (int i = 0; i < 300; i++)
        gs_set_ref(&gt_items(v)[i], watch[i % 32]);
    for (int i = 0; i < 32; i++)
        om_decref(watch[i]);
    om_decref(v);
    gs_release_hook = release_checks_others;
    CHECK_COLLECT(2, 33, "%s", "32 nodes and a vec");
    gs_release_hook = NULL;
    nwatch = 0;
    for (int i = 1; i <= 32; i++)
        CHECK_EQ(gs_freed_id[i], 1);
    CHECK_EQ(gs_freed_n[GS_T_VEC], 1);
    CHECK_EQ(gs_saw_ref, 0);
}

/* A type with a free list: freed members are parked, and a parked instance
 * comes back zeroed and tracked. */
static void test_fast_free_list(void)
{
    gs_fresh();
    om_type_freelist_clear(&gs_pnode_type);
    om_object *lf = gs_new_leaf(&gs_leaf_type, 0);
    for (int round = 0; round < 3; round++) {
        om_type_stats st0, st1;
        om_type_get_stats(&gs_pnode_type, &st0);
        om_object *p[40];
        for (int i = 0; i < 40; i++) {
            p[i] = gs_new_node(&gs_pnode_type, i + 1);
            CHECK(GT_A(p[i]) == NULL && GT_B(p[i]) == NULL);
            CHECK(om_gc_is_tracked(p[i]));
            CHECK_EQ(p[i]->refcount, 1);
        }
        for (int i = 0; i < 40; i++) {
            gs_set_ref(&GT_A(p[i]), p[(i + 1) % 40]);
            gs_set_ref(&GT_B(p[i]), i % 4 ? lf : p[i]);
        }
        for (int i = 0; i < 40; i++)
            om_decref(p[i]);
        memset(gs_freed_id, 0, sizeof gs_freed_id);
        CHECK_COLLECT(0, 40, "free-list round %d", round);
        om_type_get_stats(&gs_pnode_type, &st1);
        CHECK_EQ(st1.freelist_len, 16);
        CHECK_EQ(st1.live, st0.live);
        CHECK_EQ(st1.destroyed - st0.destroyed, 40);
        if (round > 0)
            CHECK_EQ(st1.freelist_hits - st0.freelist_hits, 16);
        for (int i = 1; i <= 40; i++)
            CHECK_EQ(gs_freed_id[i], 1);
        CHECK_EQ(lf->refcount, 1);
    }
    CHECK_EQ(gs_saw_ref, 0);
    om_decref(lf);
    CHECK_COLLECT(2, 0, "%s", "free lists emptied");
    om_type_stats st;
    om_type_get_stats(&gs_pnode_type, &st);
    CHECK_EQ(st.freelist_len, 0);
}

/* One member needs the ordinary path: a clear hook, a finalizer, a weak
 * reference (with a callback the test holds).  The result is the same. */
static int wr_calls;
static om_object *wr_seen;
static void wr_callback(om_weakref *ref, om_object *data)
{
    (void)data;
    wr_calls++;
    wr_seen = om_weakref_get(ref);
}

static void mixed_set(int which)
{
    gs_fresh();
    wr_calls = 0;
    wr_seen = NULL;
    om_object *lf = gs_new_leaf(&gs_leaf_type, 0), *live = gs_new_node(&gs_node_type, 0);
    om_object *only = gs_new_leaf(&gs_leaf_type, 0);
    om_object *ring[20];
    for (int i = 0; i < 20; i++) {
        om_type *t = &gs_node_type;
        if (i == 7)
            t = which == 0 ? &gs_cnode_type : which == 1 ? &gs_fnode_type : which == 2 ? &gs_wnode_type : &gs_node_type;
        ring[i] = gs_new_node(t, i + 1);
    }
    om_weakref *wr = NULL;
    if (which == 2) {
        wr = om_weakref_new(ring[7], wr_callback, NULL);
        REQUIRE(wr != NULL);
    }
    om_object *v = gs_new_vec(&gs_vec_type, 600, 100);
    for (int i = 0; i < 20; i++) {
        gs_set_ref(&GT_A(ring[i]), i < 19 ? ring[i + 1] : v);
        gs_set_ref(&GT_B(ring[i]), i % 3 == 0 ? lf : i % 3 == 1 ? live : ring[(i * 3) % 20]);
    }
    gs_set_ref(&gt_items(v)[0], ring[0]);
    for (int i = 1; i < 599; i++)
        gs_set_ref(&gt_items(v)[i], i % 2 ? live : i % 5 ? ring[7] : lf);
    gs_set_ref(&gt_items(v)[599], only);
    om_decref(only);
    long lf_extra = lf->refcount - 1, live_extra = live->refcount - 1;
    CHECK(lf_extra > 0 && live_extra > 0);
    for (int i = 0; i < 20; i++)
        om_decref(ring[i]);
    om_decref(v);
    CHECK_COLLECT(which == 3 ? 2 : 0, 21, "mixed set %d", which);
    CHECK_EQ(lf->refcount, 1);
    CHECK_EQ(live->refcount, 1);
    CHECK_EQ(gs_freed_n[GS_T_LEAF], 1);
    for (int i = 1; i <= 20; i++)
        CHECK_EQ(gs_freed_id[i], 1);
    CHECK_EQ(gs_freed_id[100], 1);
    CHECK_EQ(gs_clear_calls, which == 0 ? 1 : 0);
    CHECK_EQ(gs_fin_calls, which == 1 ? 1 : 0);
    if (which == 2) {
        CHECK_EQ(wr_calls, 1);
        CHECK(wr_seen == NULL);
        CHECK(om_weakref_get(wr) == NULL);
        om_decref(wr);
    }
    CHECK_EQ(gs_saw_ref, 0);
    CHECK_COLLECT(2, 0, "mixed set %d, again", which);
    om_decref(lf);
    om_decref(live);
}

static void test_fast_mixed_paths(void)
{
    for (int which = 0; which < 4; which++)
        mixed_set(which);
}

/* Objects outside the set that only the garbage holds die while it is
 * freed; their finalizers build new objects and cycles (small, medium,
 * large) and drop them, and a weak-reference callback does the same. */
static om_object *made[16];
static int nmade;
static void fin_allocates(om_object *self)
{
    (void)self;
    om_object *a = gs_new_node(&gs_node_type, 0), *b = gs_new_vec(&gs_vec_type, 150, 0), *c = gs_new_vec(&gs_vec_type, 17000, 0);
    gs_set_ref(&GT_A(a), b);
    gs_set_ref(&gt_items(b)[0], c);
    gs_set_ref(&gt_items(c)[16999], a);
    om_decref(b);
    om_decref(c);
    if (nmade < 16)
        made[nmade++] = a; /* held: a new live cycle */
    else
        om_decref(a);
    void *blk = om_malloc(200 * 1024);
    NEED(blk != NULL);
    om_free(blk);
}

static void wr_allocates(om_weakref *ref, om_object *data)
{
    (void)ref;
    (void)data;
    wr_calls++;
    fin_allocates(NULL);
}

static void test_fast_outside_finalizers_allocate(void)
{
    gs_fresh();
    nmade = 0;
    wr_calls = 0;
    gs_fin_hook = fin_allocates;
    om_object *ring[8], *v = gs_new_vec(&gs_vec_type, 400, 0);
    for (int i = 0; i < 8; i++)
        ring[i] = gs_new_node(&gs_node_type, 0);
    om_object *target = gs_new_node(&gs_wnode_type, 0); /* untracked, only the garbage holds it */
    REQUIRE(om_gc_untrack(target) == 0);
    om_weakref *wr = om_weakref_new(target, wr_allocates, NULL);
    REQUIRE(wr != NULL);
    for (int i = 0; i < 8; i++) {
        gs_set_ref(&GT_A(ring[i]), i < 7 ? ring[i + 1] : v);
        om_object *of = gs_new_leaf(&gs_ofin_type, 0); /* a finalizer, not a container */
        GT_B(ring[i]) = of;
    }
    gs_set_ref(&gt_items(v)[0], ring[0]);
    for (int i = 1; i < 400; i++)
        gs_set_ref(&gt_items(v)[i], target);
    om_decref(target);
    for (int i = 0; i < 8; i++)
        om_decref(ring[i]);
    om_decref(v);
    CHECK_COLLECT(0, 9, "%s", "garbage whose outside objects allocate as they die");
    CHECK_EQ(gs_fin_calls, 8);
    CHECK_EQ(gs_freed_n[GS_T_OFIN], 8);
    CHECK_EQ(gs_freed_n[GS_T_WNODE], 1);
    CHECK_EQ(wr_calls, 1);
    CHECK_EQ(nmade, 9);
    gs_fin_hook = NULL;
    CHECK_COLLECT(2, 0, "%s", "the cycles they made are held");
    for (int i = 0; i < nmade; i++) {
        CHECK_EQ(made[i]->refcount, 2);
        om_decref(made[i]);
    }
    CHECK_COLLECT(2, 3 * 9, "%s", "the cycles they made, dropped");
    om_decref(wr);
    CHECK_EQ(gs_saw_ref, 0);
    CHECK_EQ(om_heap_check(1), 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_fast_outside_references),
        CHECK_CASE(test_fast_kept_after_garbage),
        CHECK_CASE(test_fast_release_hooks),
        CHECK_CASE(test_fast_free_list),
        CHECK_CASE(test_fast_mixed_paths),
        CHECK_CASE(test_fast_outside_finalizers_allocate),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
