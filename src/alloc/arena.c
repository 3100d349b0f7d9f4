/*
 * arena.c — the arenas of a heap: where pools come from and go back to.
 *
 * Each heap keeps, per geometry, CPython's `usable_arenas`: the arenas that
 * have at least one empty pool, doubly linked and sorted by ascending number
 * of free pools.  Pools are always taken from the head, the fullest arena,
 * so nearly-empty arenas drain and can be returned to the OS.  lasta[k]
 * (CPython's nfp2lasta) is the last arena on the list with exactly k free
 * pools, which makes re-sorting O(1) when one pool changes state:
 *
 *   head ─▶ [nf=1] ─▶ [nf=1] ─▶ [nf=3] ─▶ [nf=64: spare]
 *                        ▲ lasta[1]  ▲ lasta[3]      ▲ lasta[64]
 *
 * Invariants (checked by om_heap_check):
 *   - an arena is on the list iff nfree > 0 (in_usable);
 *   - nfree == popcount(free_mask); dirty_mask ⊆ free_mask;
 *   - empty pools are "dirty" until purged (madvise); fresh_mask ⊆
 *     dirty_mask marks those emptied since the last purge tick.  A tick
 *     purges only the others, which have been empty for a whole purge
 *     delay, so a pool emptied just before a tick and reused just after is
 *     not faulted back in (measured: 20% of the time of a recorded CPython
 *     trace with a 10 ms delay); a heap quiet for a whole delay is purged
 *     completely;
 *   - a wholly free arena stays mapped until a tick finds it old enough,
 *     which returns every wholly free arena but one per geometry (the
 *     spare) to the OS.  pymalloc unmaps at once: a program that frees and rebuilds
 *     a structure of a few arenas in a loop then pays an munmap, an mmap
 *     and a page fault per 4 KiB each round (measured: 4x slower than
 *     mimalloc on a 100 K-block LIFO loop).
 * Only the owning thread (or the holder of an abandoned heap's lock) calls
 * these; omi_rt.lock is taken only to map, unmap and register arenas.
 */
#include <stddef.h>
#include <string.h>

#include "alloc/alloc.h"

static const struct {
    size_t size;
    unsigned shift, pool_shift, npools;
} geometry[OM_NGEOM] = {
    {OM_ARENA_SIZE, OM_ARENA_SHIFT, OM_POOL_SHIFT, OM_SMALL_POOLS},
    {OM_MARENA_SIZE, OM_MARENA_SHIFT, OM_MPOOL_SHIFT, OM_MEDIUM_POOLS},
};

om_pool *omi_arena_pool_at(om_arena *a, unsigned idx) { return &a->pools[idx]; }

char *omi_pool_block_base(const om_pool *pool) {
    const om_arena *a = omi_pool_arena(pool);
    return a->base + ((size_t)pool->index << geometry[a->geom].pool_shift);
}

/* ---- the sorted list -------------------------------------------------- */
static void list_unlink(om_arena_list *L, om_arena *a) {
    if (L->lasta[a->nfree] == a)
        L->lasta[a->nfree] = (a->prev && a->prev->nfree == a->nfree) ? a->prev : NULL;
    if (a->prev)
        a->prev->next = a->next;
    else
        L->head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->next = a->prev = NULL;
    a->in_usable = 0;
}

static void list_insert_after(om_arena_list *L, om_arena *after, om_arena *a) {
    a->prev = after;
    a->next = after ? after->next : L->head;
    if (a->next)
        a->next->prev = a;
    if (after)
        after->next = a;
    else
        L->head = a;
    a->in_usable = 1;
}

/* ---- mapping and unmapping ------------------------------------------------ */
static om_arena *arena_new(om_heap *h, int geom) {
    size_t size = geometry[geom].size;
    omi_large_reclaim(size); /* cached big blocks make room (large.c) */
    char *base = omi_os_reserve(size, size);
    if (!base)
        return NULL;
    pthread_mutex_lock(&omi_rt.lock);
    om_arena *a = omi_rt.free_arena_descs;
    if (a)
        omi_rt.free_arena_descs = a->next;
    else
        a = omi_meta_alloc(sizeof(om_arena));
    if (!a || omi_map_set((uintptr_t)base, size, (uintptr_t)a | (uintptr_t)(geom == OM_GEOM_SMALL ? OM_MAP_SMALL : OM_MAP_MEDIUM))) {
        if (a) {
            a->next = omi_rt.free_arena_descs;
            omi_rt.free_arena_descs = a;
        }
        pthread_mutex_unlock(&omi_rt.lock);
        omi_os_release(base, size);
        return NULL;
    }
    memset(a, 0, offsetof(om_arena, pools)); /* pool headers: set when taken */
    a->base = base;
    a->heap = h;
    a->geom = (uint8_t)geom;
    a->ntotal = a->nfree = geometry[geom].npools;
    /* Hardened mode: the last pool is a PROT_NONE guard between this
     * arena and whatever is mapped above it, never handed out. */
    if (omi_secure.on) {
        size_t pool = (size_t)1 << geometry[geom].pool_shift;
        if (omi_os_protect(base + size - pool, pool, 0) == 0)
            a->ntotal = a->nfree = geometry[geom].npools - 1;
    }
    a->free_mask = a->ntotal == 64 ? ~(uint64_t)0 : (((uint64_t)1 << a->ntotal) - 1);
    a->gnext = omi_rt.arenas;
    if (omi_rt.arenas)
        omi_rt.arenas->gprev = a;
    omi_rt.arenas = a;
    omi_rt.arenas_allocated++;
    if (++omi_rt.arenas_current > omi_rt.arenas_highwater)
        omi_rt.arenas_highwater = omi_rt.arenas_current;
    pthread_mutex_unlock(&omi_rt.lock);
    return a;
}

static void arena_release(om_heap *h, om_arena *a) {
    om_arena_list *L = &h->arenas[a->geom];
    if (a->in_usable)
        list_unlink(L, a);
    if (L->spare == a)
        L->spare = NULL;
    h->ndirty -= (uint64_t)__builtin_popcountll(a->dirty_mask);
    char *base = a->base;
    size_t size = geometry[a->geom].size;
    pthread_mutex_lock(&omi_rt.lock);
    omi_map_clear((uintptr_t)base, size);
    if (a->gprev)
        a->gprev->gnext = a->gnext;
    else
        omi_rt.arenas = a->gnext;
    if (a->gnext)
        a->gnext->gprev = a->gprev;
    a->heap = NULL;
    a->base = NULL;
    a->next = omi_rt.free_arena_descs;
    omi_rt.free_arena_descs = a;
    omi_rt.arenas_reclaimed++;
    omi_rt.arenas_current--;
    pthread_mutex_unlock(&omi_rt.lock);
    omi_os_release(base, size);
}

/* ---- pools out and back ------------------------------------------------- */
/* Pick an empty pool of a: one that last served list (its class, or in
 * hardened mode that class's plain or tagged list) and is still resident
 * (its blocks are carved and linked: *intact), else any resident one, else
 * the lowest never-used or purged one. */
static unsigned pick_pool(const om_arena *a, unsigned list, int *intact) {
    for (uint64_t m = a->dirty_mask; m; m &= m - 1) {
        unsigned i = (unsigned)__builtin_ctzll(m);
        if (a->pools[i].list == list) {
            *intact = 1;
            return i;
        }
    }
    *intact = 0;
    return (unsigned)__builtin_ctzll(a->dirty_mask ? a->dirty_mask : a->free_mask);
}

om_pool *omi_arena_take_pool(om_heap *h, int geom, unsigned list, int *intact) {
    om_arena_list *L = &h->arenas[geom];
    om_arena *a = L->head;
    if (!a) {
        a = arena_new(h, geom);
        if (!a)
            return NULL;
        if (h->released) { /* mapped again what a tick unmapped */
            h->released--;
            h->refaults += OM_SMALL_POOLS / 8;
        }
        list_insert_after(L, NULL, a);
        L->lasta[a->nfree] = a;
    }
    if (L->spare == a)
        L->spare = NULL;
    unsigned idx = pick_pool(a, list, intact);
    uint64_t bit = (uint64_t)1 << idx;
    if (a->dirty_mask & bit)
        h->ndirty--;
    if (a->purged_mask & bit) /* a purge that only made work: heap.c */
        h->refaults++;
    a->purged_mask &= ~bit;
    a->served_mask |= bit;
    h->last_active_ns = omi_os_now_ns();
    a->free_mask &= ~bit;
    a->dirty_mask &= ~bit;
    a->fresh_mask &= ~bit;
    /* a is the head, with the fewest free pools: it stays first. */
    unsigned nf = a->nfree;
    if (L->lasta[nf] == a)
        L->lasta[nf] = NULL;
    a->nfree = nf - 1;
    if (nf - 1 == 0) {
        L->head = a->next;
        if (a->next)
            a->next->prev = NULL;
        a->next = a->prev = NULL;
        a->in_usable = 0;
    } else if (!L->lasta[nf - 1]) {
        L->lasta[nf - 1] = a;
    }
    om_pool *pool = omi_arena_pool_at(a, idx);
    pool->index = (uint8_t)idx;
    pool->heap = h;
    return pool;
}

void omi_arena_return_pool(om_heap *h, om_arena *a, unsigned idx) {
    om_arena_list *L = &h->arenas[a->geom];
    uint64_t bit = (uint64_t)1 << idx;
    a->free_mask |= bit;
    a->dirty_mask |= bit;
    a->fresh_mask |= bit;
    h->ndirty++;
    unsigned nf = a->nfree;
    if (!a->in_usable) {
        a->nfree = 1;
        list_insert_after(L, NULL, a);
        if (!L->lasta[1])
            L->lasta[1] = a;
    } else {
        om_arena *last = L->lasta[nf];
        if (last == a)
            L->lasta[nf] = (a->prev && a->prev->nfree == nf) ? a->prev : NULL;
        a->nfree = nf + 1;
        if (last != a) {
            /* unlink without touching lasta (a is not the last with nf) */
            if (a->prev)
                a->prev->next = a->next;
            else
                L->head = a->next;
            if (a->next)
                a->next->prev = a->prev;
            list_insert_after(L, last, a);
        }
        if (!L->lasta[nf + 1])
            L->lasta[nf + 1] = a;
    }
    if (a->nfree == a->ntotal && !L->spare)
        L->spare = a;
}

/* ---- giving memory back -------------------------------------------------
 * A purge tick (all = 0): old dirty pools are purged, runs of adjacent
 * pools in one call, and fresh ones become old; wholly free arenas with no
 * fresh pool, but the spare, go back to the OS.  all = 1 does everything
 * now.  tick = 1 (a purge tick, not om_trim): what it purges or unmaps and
 * the heap takes again counts as a refault (heap.c adapts its delay).
 * Returns the number of dirty pools left. */
static void purge_runs(om_arena *a, uint64_t m, size_t psize) {
    while (m) {
        unsigned start = (unsigned)__builtin_ctzll(m);
        uint64_t run = m >> start;
        unsigned len = ~run ? (unsigned)__builtin_ctzll(~run) : 64 - start;
        omi_os_purge(a->base + start * psize, len * psize);
        m = len >= 64 ? 0 : m & ~((((uint64_t)1 << len) - 1) << start);
    }
}

uint64_t omi_arena_purge(om_heap *h, int all, int tick) {
    for (int g = 0; g < OM_NGEOM; g++) {
        size_t psize = (size_t)1 << geometry[g].pool_shift;
        om_arena_list *L = &h->arenas[g];
        for (om_arena *a = L->head, *next; a; a = next) {
            next = a->next;
            if (a->nfree == a->ntotal && (all || !a->fresh_mask)) {
                if (!L->spare)
                    L->spare = a;
                if (L->spare != a) {
                    arena_release(h, a);
                    h->released += (uint32_t)tick;
                    continue;
                }
            }
            uint64_t m = all ? a->dirty_mask : a->dirty_mask & ~a->fresh_mask;
            purge_runs(a, m, psize);
            a->dirty_mask &= ~m;
            if (tick)
                a->purged_mask |= m;
            a->fresh_mask = 0;
            h->ndirty -= (uint64_t)__builtin_popcountll(m);
        }
    }
    return h->ndirty;
}

void omi_arena_release_spares(om_heap *h) {
    for (int g = 0; g < OM_NGEOM; g++)
        if (h->arenas[g].spare)
            arena_release(h, h->arenas[g].spare);
}
