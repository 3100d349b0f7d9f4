/*
 * test_gc_side_clean.c — the collector's side table, seen from outside:
 * every byte back to 0, in arenas of every geometry.
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
 *   geometry      containers in medium arenas and large blocks, mixed with
 *                 small ones, garbage and live;
 *   cleanup       after young collections on each deletion path
 *                 (delete_fast, clear hook, finalizer), small sets and big
 *                 ones, pointing into a big old heap, the next collections
 *                 find exactly what they should (stale bytes would make
 *                 objects look referenced, reached, or unreachable).
 *
 * test_large_descriptor_reused_during_delete_fast and
 * test_arena_descriptor_reused_during_delete_fast are regression tests for
 * two bugs found while writing these (see their comments): a descriptor
 * released and taken again while delete_fast ran lost its place on the
 * collector's cleanup list (omi_large_alloc cleared it) or had only part of
 * its table zeroed (taken by an arena of the other geometry).  The same
 * cleanup against a random reachability model is test_gc_side_model.c.
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

/* ---- medium and large containers ----------------------------------- */
static void test_medium_large_containers(void)
{
    gs_fresh();
    om_object *s = gs_new_node(&gs_node_type, 0), *m = gs_new_vec(&gs_vec_type, 300, 0), *l = gs_new_vec(&gs_vec_type, 20000, 0);
    REQUIRE(gt_block_kind(s) == OM_BLOCK_SMALL);
    REQUIRE(gt_block_kind(m) == OM_BLOCK_MEDIUM);
    REQUIRE(gt_block_kind(l) == OM_BLOCK_LARGE);
    om_decref(s);
    om_decref(m);
    om_decref(l);

    /* a cycle small -> medium -> large -> small, with the large one also
     * holding the other two many times; garbage, then held at each member */
    for (int hold = -1; hold < 3; hold++) {
        s = gs_new_node(&gs_node_type, 0);
        m = gs_new_vec(&gs_vec_type, 300, 0);
        l = gs_new_vec(&gs_vec_type, 20000, 0);
        gs_set_ref(&GT_A(s), m);
        gs_set_ref(&gt_items(m)[0], l);
        gs_set_ref(&gt_items(m)[99], s);
        for (int i = 0; i < 20000; i += 3)
            gs_set_ref(&gt_items(l)[i], i % 2 ? m : s);
        om_object *all[3] = {s, m, l};
        for (int k = 0; k < 3; k++)
            if (k != hold)
                om_decref(all[k]);
        CHECK_COLLECT(2, hold < 0 ? 3 : 0, "small/medium/large cycle, held %d", hold);
        if (hold >= 0) {
            CHECK_EQ(s->refcount, 1 + 3334 + (hold == 0));
            CHECK_EQ(m->refcount, 1 + 3333 + (hold == 1));
            CHECK_EQ(l->refcount, 1 + (hold == 2));
            CHECK_COLLECT(0, 0, "%s", "young, nothing");
            om_decref(all[hold]);
            CHECK_COLLECT(2, 3, "small/medium/large cycle, %d dropped", hold);
        }
    }
    CHECK_EQ(gs_freed_n[GS_T_NODE], 5);
    CHECK_EQ(gs_freed_n[GS_T_VEC], 10);

    /* a ring of 40 medium vecs (neighbours in one medium pool), each in a
     * cycle with a small partner; held at M_10, then the ring broken */
    om_object *mv[40], *sp[40];
    for (int i = 0; i < 40; i++) {
        mv[i] = gs_new_vec(&gs_vec_type, 300, 0);
        sp[i] = gs_new_node(&gs_node_type, 0);
        gs_set_ref(&gt_items(mv[i])[1], sp[i]);
        gs_set_ref(&GT_A(sp[i]), mv[i]);
    }
    for (int i = 0; i < 40; i++)
        gs_set_ref(&gt_items(mv[i])[0], mv[(i + 1) % 40]);
    for (int i = 0; i < 40; i++) {
        if (i != 10)
            om_decref(mv[i]);
        om_decref(sp[i]);
    }
    gs_reset_counts();
    CHECK_COLLECT(2, 0, "%s", "medium ring held");
    om_clear_ref(&gt_items(mv[20])[0]);
    /* reachable from M_10: M_10..M_20 and their partners; the other 29 pairs are garbage */
    CHECK_COLLECT(2, 58, "%s", "medium ring broken");
    CHECK_EQ(gs_freed_n[GS_T_VEC], 29);
    CHECK_EQ(gs_freed_n[GS_T_NODE], 29);
    CHECK_EQ(mv[10]->refcount, 2); /* the test, its partner */
    CHECK_EQ(mv[11]->refcount, 2);
    om_decref(mv[10]);
    CHECK_COLLECT(2, 22, "%s", "medium ring dropped");

    /* large blocks: 4 big vecs holding small nodes (some also held by the
     * test) and each other, in young and full collections */
    gs_reset_counts();
    om_object *big[4], *sm[64];
    for (int i = 0; i < 64; i++) {
        sm[i] = gs_new_node(&gs_node_type, 0);
        gs_set_ref(&GT_B(sm[i]), sm[i]);
    }
    for (int k = 0; k < 4; k++) {
        big[k] = gs_new_vec(&gs_vec_type, 20000 + (size_t)k * 7000, 0);
        REQUIRE(gt_block_kind(big[k]) == OM_BLOCK_LARGE);
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < 40; j++)
                gs_set_ref(&gt_items(big[k])[(size_t)i * 41 + (size_t)j], sm[i]);
    }
    for (int k = 0; k < 4; k++)
        gs_set_ref(&gt_items(big[k])[19999], big[(k + 1) % 4]);
    for (int i = 0; i < 64; i++)
        gs_set_ref(&GT_A(sm[i]), big[i % 4]);
    om_object *keep = sm[5];
    for (int i = 0; i < 64; i++)
        if (sm[i] != keep)
            om_decref(sm[i]);
    for (int k = 0; k < 4; k++)
        om_decref(big[k]);
    CHECK_COLLECT(0, 0, "%s", "large ring held through a small node, young");
    CHECK_COLLECT(2, 0, "%s", "large ring held through a small node, full");
    CHECK_EQ(sm[6]->refcount, 1 + 4 * 40);
    om_decref(keep);
    CHECK_COLLECT(2, 68, "%s", "large ring dropped");
    CHECK_EQ(gs_freed_n[GS_T_VEC], 4);
    CHECK_EQ(gs_freed_n[GS_T_NODE], 64);
    CHECK_EQ(gs_saw_ref, 0);
}

/* ---- every byte back to 0: targeted ------------------------------------
 * After a young collection (small sets: the bytes are zeroed by walking;
 * big sets: by zeroing the tables) on each deletion path, the next
 * collections must see nothing of it: an old object held only by the test
 * (a stale count would make it unreachable), an old garbage cycle (a stale
 * "reached" would keep it), the young survivors (a stale "kept" counts as
 * 252 references), and new objects in the freed blocks (a stale
 * "unreachable" counts the same). */
enum { PATH_FAST, PATH_CLEAR, PATH_FINAL };
static const char *const path_name[] = {"delete_fast", "clear hook", "finalizer"};

static om_object **oldheap;
static size_t noldheap;

static void side_after_young(uint64_t *rng, om_object *o, int path, size_t m, int keep)
{
    om_type *t = path == PATH_FAST ? &gs_node_type : path == PATH_CLEAR ? &gs_cnode_type : &gs_fnode_type;
    om_object *g = gs_new_node(&gs_node_type, 0);
    gs_set_ref(&GT_B(g), g);
    CHECK_COLLECT(2, 0, "%s", "g old");
    gs_reset_counts();
    om_object **y = malloc(m * sizeof *y);
    NEED(y != NULL);
    size_t o_refs = 0, g_refs = 0;
    for (size_t i = 0; i < m; i++)
        y[i] = gs_new_node(t, 0);
    for (size_t i = 0; i < m; i++) {
        om_object *target;
        if (i % 3 == 0) {
            target = o;
            o_refs++;
        } else if (i % 3 == 1) {
            target = g;
            g_refs++;
        } else {
            target = oldheap[tu_range(rng, 0, noldheap - 1)];
        }
        gs_set_ref(&GT_A(y[i]), target);
        gs_set_ref(&GT_B(y[i]), y[i ^ 1]); /* pairs: 2-cycles */
    }
    if (!keep)
        for (size_t i = 0; i < m; i++)
            om_decref(y[i]);
    CHECK_COLLECT(0, keep ? 0 : m, "%s, %zu young, %s", path_name[path], m, keep ? "kept" : "garbage");
    CHECK_EQ(o->refcount, 1 + (keep ? o_refs : 0));
    CHECK_EQ(g->refcount, 2 + (keep ? g_refs : 0));
    if (keep) {
        CHECK_COLLECT(2, 0, "%s, %zu survivors held", path_name[path], m);
        CHECK_COLLECT(1, 0, "%s, %zu survivors held", path_name[path], m);
        for (size_t i = 0; i < m; i++)
            om_decref(y[i]);
    }
    om_decref(g);
    CHECK_COLLECT(2, 1 + (keep ? m : 0), "%s, %zu young, then the old cycle dropped", path_name[path], m);
    CHECK_EQ(o->refcount, 1);
    CHECK_EQ(gs_freed_n[GS_T_NODE] + gs_freed_n[GS_T_CNODE] + gs_freed_n[GS_T_FNODE], (long)m + 1);
    CHECK_EQ(gs_fin_calls, path == PATH_FINAL ? (long)m : 0);
    /* new objects in the blocks just freed, held: nothing to find */
    for (size_t i = 0; i < m; i++) {
        y[i] = gs_new_node(t, 0);
        if (i & 1)
            gs_set_ref(&GT_B(y[i]), y[i]);
    }
    CHECK_COLLECT(0, 0, "%s, %zu new objects in freed blocks", path_name[path], m);
    CHECK_COLLECT(2, 0, "%s, %zu new objects in freed blocks", path_name[path], m);
    for (size_t i = 0; i < m; i++)
        om_decref(y[i]);
    CHECK_COLLECT(2, m / 2, "%s, new objects dropped", path_name[path]);
    CHECK_EQ(gs_saw_ref, 0);
    free(y);
}

static void test_side_clean_after_young(void)
{
    gs_fresh();
    uint64_t rng = 12345;
    /* a big old heap over several arenas, held by the test */
    noldheap = (size_t)OM_TEST_SCALE(60000);
    oldheap = malloc(noldheap * sizeof *oldheap);
    NEED(oldheap != NULL);
    for (size_t i = 0; i < noldheap; i++)
        oldheap[i] = gs_new_node(&gs_node_type, 0);
    om_object *o = gs_new_node(&gs_node_type, 0);
    CHECK_COLLECT(2, 0, "%s", "old heap");
    static const size_t sizes[] = {40, 600, 8000};
    for (int path = PATH_FAST; path <= PATH_FINAL; path++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int keep = 0; keep < 2; keep++)
                side_after_young(&rng, o, path, sizes[s], keep);
    CHECK_EQ(o->refcount, 1);
    om_decref(o);
    for (size_t i = 0; i < noldheap; i++) {
        CHECK_EQ(oldheap[i]->refcount, 1);
        om_decref(oldheap[i]);
    }
    free(oldheap);
    oldheap = NULL;
    CHECK_EQ(om_gc_collect(2), 0);
}

/* ---- a bug: a large block's descriptor reused while delete_fast frees ------
 * omi_gc.side_larges links the large blocks whose side byte a collection
 * touched, through om_large.gc_dirty_next, and omi_gc_side_done (src/gc/side.c)
 * walks that chain after delete_fast to zero the bytes and clear gc_on_dirty.  delete_fast
 * frees objects and runs code (release hooks, finalizers of outside objects
 * that die) before omi_gc_side_done.  A large block bigger than a quarter of the
 * large cache (4 MiB by default) gives its descriptor back at once
 * (src/alloc/large.c: forget), and omi_large_alloc memsets a reused descriptor whole,
 * gc_dirty_next and gc_on_dirty included.  So a large allocation in that
 * window cuts the chain: every large block linked before the freed one
 * keeps its side byte (SIDE_KEPT for a kept container) and gc_on_dirty = 1,
 * so no later collection links it again to zero it.  The next collection
 * reads 0xFD as 253 references (or, counting, as a full byte: 252 more in
 * the header), and frees a container the program holds. */
static void *large_stash;
static int large_hook_armed;
static void release_allocates_large(om_object *self)
{
    (void)self;
    if (large_hook_armed && !large_stash) {
        large_stash = om_malloc(256 * 1024);
        NEED(large_stash != NULL);
    }
}

static void fin_allocates_large(om_object *self)
{
    release_allocates_large(self);
}

static void large_desc_case(int from_finalizer)
{
    gs_fresh();
    /* the default cache bound (16 MiB: blocks over 4 MiB are not cached),
     * and no cached mapping the allocation could take instead */
    long cache_mb = om_option_get(OM_OPTION_LARGE_CACHE_MB);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, 16);
    om_trim(1);
    large_stash = NULL;
    /* held by the test, a large container in a cycle with itself: linked
     * first (omi_gc_count_refs meets it as its own referent) */
    om_object *live = gs_new_vec(&gs_vec_type, 20000, 1);
    REQUIRE(gt_block_kind(live) == OM_BLOCK_LARGE);
    gs_set_ref(&gt_items(live)[0], live);
    om_object *big, *hook;
    if (!from_finalizer) {
        /* garbage: a 4.8 MB vec and a node whose release allocates */
        big = gs_new_vec(&gs_vec_type, 600000, 2);
        hook = gs_new_node(&gs_node_type, 3);
        gs_set_ref(&gt_items(big)[0], big);
        gs_set_ref(&gt_items(big)[1], hook);
        gs_set_ref(&GT_A(hook), big);
        gs_release_hook = release_allocates_large;
    } else {
        /* garbage: a node holding a 5 MB blob (not a container, freed when
         * delete_fast drops the reference) and then an object with a
         * finalizer that allocates */
        big = gs_new_vec(&gs_blob_type, 5u << 20, 0);
        hook = gs_new_node(&gs_node_type, 3);
        om_object *h2 = gs_new_node(&gs_node_type, 4);
        om_object *of = gs_new_leaf(&gs_ofin_type, 0);
        gs_set_ref(&GT_A(hook), big);
        gs_set_ref(&GT_B(hook), h2);
        gs_set_ref(&GT_A(h2), hook);
        GT_B(h2) = of;
        gs_fin_hook = fin_allocates_large;
        om_decref(h2);
    }
    om_decref(big);
    om_decref(hook);
    large_hook_armed = 1;
    CHECK_COLLECT(2, 2, "large descriptor reuse (%s)", from_finalizer ? "finalizer" : "release hook");
    large_hook_armed = 0;
    gs_release_hook = NULL;
    gs_fin_hook = NULL;
    CHECK(large_stash != NULL);
    CHECK_EQ(gs_freed_id[1], 0);
    /* the test still holds live: nothing to find */
    long freed_before = gs_freed_id[1];
    CHECK_COLLECT(2, 0, "large descriptor reuse (%s): the live container", from_finalizer ? "finalizer" : "release hook");
    int live_freed = gs_freed_id[1] != freed_before;
    CHECK_MSG(!live_freed, "a large container the test holds was freed by the collection after "
                           "the one whose delete_fast reused a large descriptor");
    if (!live_freed) {
        CHECK_EQ(live->refcount, 2);
        om_decref(live);
        CHECK_COLLECT(2, 1, "%s", "large descriptor reuse: live dropped");
    }
    /* else: live is gone (use after free if touched); its reference is leaked */
    om_free(large_stash);
    large_stash = NULL;
    om_trim(1); /* a cached mapping keeps its descriptor, stale byte and all */
    om_option_set(OM_OPTION_LARGE_CACHE_MB, cache_mb);
}

static void test_large_descriptor_reused_during_delete_fast(void)
{
    large_desc_case(0);
    large_desc_case(1);
}

/* ---- a bug: a small arena's descriptor reused as a medium arena's ---------
 * omi_gc_side_done zeroes each touched arena's table by the arena's geometry *when
 * it runs*: 32 KiB for a small arena, 8 KiB for a medium one.  After
 * delete_fast, that can be too late: the set's arenas empty as it is freed
 * and go back (om_trim, or any purge tick: with OBJMEM_PURGE_DELAY_MS=0
 * at once), their descriptors go on omi_rt.free_arena_descs (src/alloc/arena.c
 * memsets a reused descriptor only up to pools, gc_side and the dirty
 * chain kept), and a new medium arena made in the same window (a release
 * hook or an outside object's finalizer that allocates) takes one.  Then
 * only the first 8 KiB of a small table are zeroed: the bytes of granules
 * at 256 KiB and beyond keep SIDE_UNREACHABLE (0xFE, the set's own marks,
 * which delete_fast leaves to omi_gc_side_done when it does not walk).  When the
 * descriptor serves a small arena again, the objects there start a
 * collection at 254 "references from the set": one the program holds
 * (count 1) is unreachable, and freed. */
#define PROBES (16 * 16384)
static void *mblocks[1024];
static int nmblocks;
static om_object *arena_hook_on;
static int arena_hook_collects;
static unsigned char *probe_dead;
static long probes_freed;

static void release_grows_medium(om_object *self)
{
    if (self != arena_hook_on)
        return;
    arena_hook_on = NULL;
    if (arena_hook_collects)
        om_trim(1); /* the set's arenas, empty now, go back */
    /* new medium arenas: 12 of them (128 KiB blocks, 32 to an arena) */
    void *bases[16];
    int nbases = 0;
    while (nmblocks < 1024 && nbases < 12) {
        void *b = om_malloc(128 * 1024);
        NEED(b != NULL);
        mblocks[nmblocks++] = b;
        om_block_info bi;
        NEED(om_block_describe(b, &bi) == 0);
        int seen = 0;
        for (int i = 0; i < nbases; i++)
            seen |= bases[i] == bi.arena;
        if (!seen)
            bases[nbases++] = bi.arena;
    }
}

static void probe_release(om_object *o)
{
    intptr_t id = ((gt_node *)o)->id;
    if (id < 0 && -id <= PROBES) {
        probe_dead[-id - 1] = 1;
        probes_freed++;
    }
}
static om_type probe_type = {OM_TYPE_INIT, .name = "side-probe", .size = sizeof(gt_node), .flags = OM_TYPE_GC,
                             .ref_fields = GT_NODE_REFS, .release = probe_release};

static void arena_desc_case(int purge_now)
{
    gs_fresh();
    long delay = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    if (purge_now)
        om_option_set(OM_OPTION_PURGE_DELAY_MS, 0);
    om_trim(1);
    /* garbage filling three small arenas: 2-cycles of plain nodes */
    int n = 3 * 16384;
    om_object **g = malloc(sizeof *g * (size_t)n);
    NEED(g != NULL);
    for (int i = 0; i < n; i++)
        g[i] = gs_new_node(&gs_node_type, 0);
    for (int i = 0; i < n; i++)
        gs_set_ref(&GT_A(g[i]), g[i ^ 1]);
    arena_hook_on = g[n - 1]; /* freed last */
    arena_hook_collects = !purge_now;
    gs_release_hook = release_grows_medium;
    nmblocks = 0;
    for (int i = 0; i < n; i++)
        om_decref(g[i]);
    free(g);
    CHECK_COLLECT(2, n, "arena descriptor reuse (%s)", purge_now ? "purge delay 0" : "om_trim in a release hook");
    gs_release_hook = NULL;
    CHECK(nmblocks > 0);
    for (int i = 0; i < nmblocks; i++)
        om_free(mblocks[i]);
    om_trim(1); /* the medium arenas go back: small arenas may take their descriptors */
    if (purge_now)
        om_option_set(OM_OPTION_PURGE_DELAY_MS, delay);

    /* held objects over many new small arenas: nothing to find */
    probe_dead = calloc(PROBES, 1);
    om_object **p = malloc(sizeof *p * PROBES);
    NEED(probe_dead != NULL && p != NULL);
    probes_freed = 0;
    for (int i = 0; i < PROBES; i++)
        p[i] = gs_new_node(&probe_type, -(intptr_t)(i + 1));
    CHECK_COLLECT(2, 0, "%d held objects in new small arenas", PROBES);
    CHECK_MSG(probes_freed == 0, "%ld objects the test holds were freed (stale side bytes of a small "
              "arena whose descriptor served a medium arena during delete_fast)", probes_freed);
    for (int i = 0; i < PROBES; i++)
        if (!probe_dead[i]) /* a freed one's reference is leaked: its memory is gone */
            om_decref(p[i]);
    free(p);
    free(probe_dead);
    probe_dead = NULL;
}

static void test_arena_descriptor_reused_during_delete_fast(void)
{
    arena_desc_case(0);
    arena_desc_case(1);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_medium_large_containers),
        CHECK_CASE(test_side_clean_after_young),
        CHECK_CASE(test_large_descriptor_reused_during_delete_fast),
        CHECK_CASE(test_arena_descriptor_reused_during_delete_fast),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
