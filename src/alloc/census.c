/*
 * census.c — a copy of the allocator's layout at one moment, for heap
 * snapshots (diag/snapshot.c formats it): every heap, every live arena
 * with the state of each of its pools, every large mapping, live or
 * cached.  The caller provides the memory (omi_census's arrays); this
 * file allocates nothing, so that a snapshot does not change what it
 * shows and can run where allocating cannot.
 *
 * The stop.  Arena state (free/dirty masks, usable lists) is changed by
 * a heap's owner only with the heap's lock held, and an abandoned heap's
 * only by whoever holds that lock (heap.c), so the census takes every
 * heap's lock, in the order of omi_rt.heaps as fork_prepare does
 * (runtime.c), then omi_rt.lock (the live-arena list, the large lists).
 * Owners' fast paths keep running meanwhile; their slow paths that take
 * or give back a pool wait.  Only copying happens under the locks (about
 * 8 bytes a pool), never formatting or I/O; omi_census.stop_ns says how
 * long the first lock was held.  A heap created between reading the list
 * and taking omi_rt.lock makes the census start again (a few times, then
 * it goes on without that heap's lock: its arenas are copied, their
 * usable-list order is not).
 *
 * Pool headers are written by their owners without a lock (the fast
 * paths), so the counts of other running threads' pools are read racily:
 * each field once (volatile), clamped to what the class allows, in a
 * function TSan does not instrument (as om_stats_get's walk, stats.c; a
 * C11 atomic load would not help, the owner's writes being plain).  They
 * are approximate while those threads run and exact for the calling
 * thread's heap and for quiescent ones.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

#define RETRIES 4

/* ---- index: descriptor address -> record number ----------------------------
 * Open addressing over caller memory; heaps and arenas share it (distinct
 * descriptors never share an address). */
static size_t slot_of(const omi_census *c, const void *key) {
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 20) & (c->cap_slots - 1);
}

static void index_put(omi_census *c, const void *key, uint32_t value) {
    for (size_t i = slot_of(c, key);; i = (i + 1) & (c->cap_slots - 1))
        if (!c->slots[i].key) {
            c->slots[i].key = key;
            c->slots[i].value = value;
            return;
        }
}

static int64_t index_get(const omi_census *c, const void *key) {
    for (size_t i = slot_of(c, key); c->slots[i].key; i = (i + 1) & (c->cap_slots - 1))
        if (c->slots[i].key == key)
            return c->slots[i].value;
    return -1;
}

/* ---- pools ---------------------------------------------------------------------- */
#define ONCE(x) (*(const volatile __typeof__(x) *)&(x))

__attribute__((no_sanitize("thread"))) static void copy_pools(omi_census_arena *r, const om_arena *a) {
    uint64_t free_mask = ONCE(a->free_mask), dirty = ONCE(a->dirty_mask), served = ONCE(a->served_mask);
    for (unsigned i = 0; i < r->npools; i++) {
        omi_census_pool *p = &r->pools[i];
        uint64_t bit = (uint64_t)1 << i;
        memset(p, 0, sizeof *p);
        p->cls = -1;
        if (free_mask & bit) {
            p->state = dirty & bit ? OMI_POOL_DIRTY : served & bit ? OMI_POOL_PURGED : OMI_POOL_NEVER;
            continue;
        }
        const om_pool *pool = &a->pools[i];
        unsigned cls = ONCE(pool->szidx), used = ONCE(pool->nused), next = ONCE(pool->nextoffset);
        p->state = OMI_POOL_USED;
        if (cls >= OM_NUM_CLASSES)
            continue; /* being set up by its owner */
        unsigned cap = omi_class_capacity(cls), carved = next / (unsigned)omi_class_size(cls);
        p->cls = (int8_t)cls;
        p->capacity = (uint16_t)cap;
        p->used = (uint16_t)(used < cap ? used : cap);
        p->carved = (uint16_t)(carved < cap ? carved : cap);
        if (ONCE(pool->quarantined))
            p->state = OMI_POOL_QUARANTINED;
        else if (p->used == cap)
            p->state = OMI_POOL_FULL;
    }
}

/* ---- the copy, under the locks ------------------------------------------------------- */
static void copy_heaps(omi_census *c) {
    size_t n = 0;
    for (om_heap *h = omi_rt.heaps; h; h = h->next_all)
        n++;
    c->nheaps = n;
    size_t pos = 0;
    for (om_heap *h = omi_rt.heaps; h; h = h->next_all, pos++) {
        uint32_t id = (uint32_t)(n - 1 - pos); /* the oldest is 0: ids stay across snapshots */
        if (pos < c->cap_heaps)
            c->heaps[pos] = (omi_census_heap){.id = id, .tid = h->tid, .state = (uint8_t)atomic_load(&h->state)};
        if (pos < c->cap_heaps)
            index_put(c, h, id);
    }
}

static void copy_arenas(omi_census *c) {
    size_t n = 0;
    for (om_arena *a = omi_rt.arenas; a; a = a->gnext, n++) {
        if (n >= c->cap_arenas)
            continue;
        omi_census_arena *r = &c->arenas[n];
        int64_t heap = index_get(c, a->heap);
        r->base = (uintptr_t)a->base;
        r->heap = (int32_t)heap;
        r->order = -1;
        r->geom = a->geom;
        r->npools = (uint8_t)a->ntotal;
        copy_pools(r, a);
        index_put(c, a, (uint32_t)n);
    }
    c->narenas = n;
}

/* Each locked heap's usable lists give their arenas' order. */
static void copy_orders(omi_census *c, om_heap *locked) {
    for (om_heap *h = locked; h; h = h->next_all)
        for (int g = 0; g < OM_NGEOM; g++) {
            int32_t k = 0;
            for (om_arena *a = h->arenas[g].head; a && (size_t)k < c->narenas; a = a->next, k++) {
                int64_t i = index_get(c, a);
                if (i >= 0)
                    c->arenas[i].order = k;
            }
        }
}

static size_t copy_large_list(omi_census *c, size_t n, const om_large *l, int cached) {
    for (; l; l = l->next, n++)
        if (n < c->cap_large)
            c->large[n] = (omi_census_large){.base = (uintptr_t)l->base,
                                             .usable = cached ? 0 : l->usable,
                                             .map_size = l->map_size,
                                             .resident = l->resident,
                                             .cached = (uint8_t)cached};
    return n;
}

/* The precise clock: omi_os_now_ns is the coarse one, too coarse to time a stop. */
static uint64_t now_precise_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- taking the locks ------------------------------------------------------------------- */
static om_heap *heap_list(void) {
    pthread_mutex_lock(&omi_rt.lock);
    om_heap *head = omi_rt.heaps;
    pthread_mutex_unlock(&omi_rt.lock);
    return head;
}

static void unlock_heaps(om_heap *head) {
    for (om_heap *h = head; h; h = h->next_all)
        pthread_mutex_unlock(&h->lock);
}

/* Every heap of the list from head locked, then omi_rt.lock; returns head. */
static om_heap *stop_world(uint64_t *t0) {
    for (int tries = 0;; tries++) {
        om_heap *head = heap_list();
        *t0 = now_precise_ns();
        for (om_heap *h = head; h; h = h->next_all)
            pthread_mutex_lock(&h->lock);
        pthread_mutex_lock(&omi_rt.lock);
        if (omi_rt.heaps == head || tries == RETRIES)
            return head;
        pthread_mutex_unlock(&omi_rt.lock);
        unlock_heaps(head);
    }
}

void omi_census_need(size_t *heaps, size_t *arenas, size_t *large) {
    omi_runtime_init();
    size_t n = 0;
    pthread_mutex_lock(&omi_rt.lock);
    for (om_heap *h = omi_rt.heaps; h; h = h->next_all)
        n++;
    *heaps = n;
    *arenas = (size_t)omi_rt.arenas_current;
    *large = (size_t)(omi_rt.large_count + omi_rt.large_cached);
    pthread_mutex_unlock(&omi_rt.lock);
}

int omi_census_take(omi_census *c) {
    uint64_t t0;
    memset(c->slots, 0, c->cap_slots * sizeof *c->slots);
    c->nheaps = c->narenas = c->nlarge = 0;
    omi_runtime_init();
    om_heap *locked = stop_world(&t0);
    copy_heaps(c);
    copy_arenas(c);
    c->all_locked = omi_rt.heaps == locked;
    size_t nl = copy_large_list(c, 0, omi_rt.large_live, 0);
    c->nlarge = copy_large_list(c, nl, omi_rt.large_cache, 1);
    if (c->narenas <= c->cap_arenas)
        copy_orders(c, locked);
    pthread_mutex_unlock(&omi_rt.lock);
    unlock_heaps(locked);
    c->stop_ns = now_precise_ns() - t0;
    return c->nheaps > c->cap_heaps || c->narenas > c->cap_arenas || c->nlarge > c->cap_large ? ENOSPC : 0;
}
