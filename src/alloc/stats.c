/*
 * stats.c — statistics in the spirit of sys._debugmallocstats().
 *
 * om_stats_get walks every live arena under omi_rt.lock (so none is unmapped
 * under it) and reads pool headers and the arena's free and dirty masks.
 * Those of other threads' heaps are read without stopping those threads
 * (the owners change masks under their heap's lock, headers under none): a
 * deliberate benign race, exact when they are quiescent (hence
 * no_sanitize("thread") on the walk, which reads both).  Reports are
 * formatted with snprintf into the caller's buffer: no allocation.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

__attribute__((no_sanitize("thread"))) static void walk_pools(om_stats *s, om_arena *a) {
    size_t psize = a->geom == OM_GEOM_MEDIUM ? OM_MPOOL_SIZE : OM_POOL_SIZE;
    for (unsigned i = 0; i < a->ntotal; i++) {
        if (a->free_mask >> i & 1)
            continue;
        om_pool *pool = omi_arena_pool_at(a, i);
        unsigned cls = pool->szidx;
        if (cls >= OM_NUM_CLASSES)
            continue;
        om_class_stats *cs = &s->classes[cls];
        uint64_t size = cs->block_size, cap = cs->blocks_per_pool, used = pool->nused;
        if (used > cap)
            used = cap;
        cs->pools++;
        cs->full_pools += used == cap;
        cs->blocks_used += used;
        cs->blocks_free += cap - used;
        s->bytes_in_use += used * size;
        s->bytes_free_blocks += (cap - used) * size;
        s->bytes_pool_headers += sizeof(om_pool);
        s->bytes_quantisation += omi_class_pool_bytes(cls) - cap * size;
    }
    s->bytes_empty_pools += (uint64_t)a->nfree * psize;
    s->pools_empty += a->nfree;
    s->pools_purged += (uint64_t)__builtin_popcountll(a->free_mask & ~a->dirty_mask);
}

static void stats_collect(om_stats *s) {
    memset(s, 0, sizeof *s);
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        s->classes[c].block_size = (uint32_t)omi_class_size(c);
        s->classes[c].blocks_per_pool = omi_class_capacity(c);
    }
    pthread_mutex_lock(&omi_rt.lock);
    for (om_arena *a = omi_rt.arenas; a; a = a->gnext) {
        int medium = a->geom == OM_GEOM_MEDIUM;
        s->small_arenas += !medium;
        s->medium_arenas += medium;
        s->pools_total += a->ntotal;
        s->bytes_arena_mapped += medium ? OM_MARENA_SIZE : OM_ARENA_SIZE;
        walk_pools(s, a);
    }
    s->arenas_allocated = omi_rt.arenas_allocated;
    s->arenas_reclaimed = omi_rt.arenas_reclaimed;
    s->arenas_highwater = omi_rt.arenas_highwater;
    s->arenas_current = omi_rt.arenas_current;
    s->large_count = omi_rt.large_count;
    s->large_bytes = omi_rt.large_bytes;
    s->large_cached = omi_rt.large_cached;
    s->large_cached_bytes = omi_rt.large_cached_bytes;
    omi_large_stats(s);
    s->heaps_active = omi_rt.heaps_active;
    s->heaps_abandoned = omi_rt.heaps_abandoned;
    s->meta_bytes = omi_meta_bytes() + sizeof omi_map_root;
    pthread_mutex_unlock(&omi_rt.lock);
    s->remote_frees = omi_heap_remote_frees();
    s->foreign_frees_ignored = omi_error_foreign_ignored();
    omi_os_stats(s);
}

void (om_stats_get)(om_stats *out, size_t size) {
    om_stats s;
    stats_collect(&s);
    omi_struct_out(out, size, &s, sizeof s);
}
