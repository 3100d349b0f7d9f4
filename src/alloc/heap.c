/*
 * heap.c — one heap per thread (mimalloc's shape on pymalloc's pools).
 *
 *   thread ──TLS──▶ om_heap ──used[class]──▶ pools ──▶ blocks
 *                     │ remote: atomic stack of blocks other threads freed
 *                     └ arenas[small|medium]: usable lists, spares
 *
 * A thread's first allocation finds omi_tls_heap pointing at omi_heap_empty,
 * whose used lists are all the empty pool, so the fast path fails into
 * omi_pool_alloc_slow, which calls omi_heap_init_thread: adopt an abandoned
 * heap if there is one, else make a new one.
 *
 * Frees: a block whose pool belongs to the calling thread's heap is freed
 * in place; any other is pushed on its owner's `remote` stack (lock-free
 * push; the owner takes the whole stack with one exchange, so no ABA), and
 * the owner frees it at its next slow path.  When a thread exits, its heap
 * is abandoned: state ABANDONED, remote stack drained, spares released.
 * From then on, whoever frees into it takes heap->lock and frees in place;
 * a new thread may adopt it (under the same lock) and own it again.
 * Heaps are never destroyed, so a racing free never touches freed memory.
 *
 * Purge timing: the first pool to become empty (or retained) after a purge
 * arms purge_deadline_ns = now + OBJMEM_PURGE_DELAY_MS; the first slow path
 * or pool-emptying free after the deadline is a purge tick: it returns
 * retained pools, purges the pools that have been empty for a whole delay
 * (everything, if no pool emptied during the last delay), re-arms while
 * dirty pools are left, and purges old large-cache entries.
 */
#include <errno.h>
#include <string.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

static om_heap *heap_create(void) {
    om_heap *h = omi_meta_alloc(sizeof(om_heap));
    if (!h)
        return NULL;
    memset(h, 0, sizeof *h);
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++)
        h->used[c] = &omi_pool_empty;
    pthread_mutex_init(&h->lock, NULL);
    h->next_all = omi_rt.heaps;
    omi_rt.heaps = h;
    return h;
}

static void heap_collect(om_heap *h, int force);

om_heap *omi_heap_init_thread(void) {
    omi_runtime_init();
    pthread_mutex_lock(&omi_rt.lock);
    om_heap *h = omi_rt.abandoned;
    if (h) {
        omi_rt.abandoned = h->next_abandoned;
        omi_rt.heaps_abandoned--;
    } else {
        h = heap_create();
    }
    if (h)
        omi_rt.heaps_active++;
    pthread_mutex_unlock(&omi_rt.lock);
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&h->lock);
    atomic_store(&h->state, OM_HEAP_ACTIVE);
    pthread_mutex_unlock(&h->lock);
    omi_tls_heap = h;
    omi_heap_sync_checked();
    /* Both may allocate (glibc): only now that this thread has a heap. */
    pthread_setspecific(omi_rt.heap_key, h);
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    pthread_once(&atfork_once, omi_runtime_register_atfork);
    omi_heap_drain_remote(h);
    return h;
}

void omi_heap_thread_exit(void *arg) {
    om_heap *h = arg;
    omi_tls_heap = omi_tls_free_heap = &omi_heap_empty;
    pthread_mutex_lock(&h->lock);
    atomic_store(&h->state, OM_HEAP_ABANDONED);
    heap_collect(h, 1);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&omi_rt.lock);
    h->next_abandoned = omi_rt.abandoned;
    omi_rt.abandoned = h;
    omi_rt.heaps_active--;
    omi_rt.heaps_abandoned++;
    pthread_mutex_unlock(&omi_rt.lock);
}

/* ---- frees from other threads ----------------------------------------- */
void omi_heap_drain_remote(om_heap *h) {
    om_block *b = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
    while (b) {
        om_block *next = b->next;
        omi_pool_free_local(h, omi_pool_of((uintptr_t)b, omi_map_lookup((uintptr_t)b)), b);
        b = next;
    }
}

static _Atomic uint64_t remote_free_count;

uint64_t omi_heap_remote_frees(void) { return atomic_load(&remote_free_count); }

void omi_heap_free_remote(om_heap *owner, om_pool *pool, om_block *b) {
    atomic_fetch_add_explicit(&remote_free_count, 1, memory_order_relaxed);
    if (atomic_load_explicit(&owner->state, memory_order_acquire) == OM_HEAP_ABANDONED) {
        pthread_mutex_lock(&owner->lock);
        if (atomic_load(&owner->state) == OM_HEAP_ABANDONED) {
            omi_heap_drain_remote(owner);
            omi_pool_free_local(owner, pool, b);
            if (owner->ndirty)
                omi_heap_maybe_purge(owner);
            pthread_mutex_unlock(&owner->lock);
            return;
        }
        pthread_mutex_unlock(&owner->lock);
    }
    b->check = omi_fast.cookie;
    om_block *old = atomic_load_explicit(&owner->remote, memory_order_relaxed);
    do {
        b->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &old, b, memory_order_release,
                                                    memory_order_relaxed));
}

/* ---- purging ------------------------------------------------------------- */
static uint64_t purge_delay_ns(void) {
    long delay = omi_option_value(OM_OPTION_PURGE_DELAY_MS);
    return (uint64_t)(delay > 0 ? delay : 0) * 1000000u;
}

/* Arm the purge tick (a pool was retained, or went dirty). */
void omi_heap_arm_purge(om_heap *h, uint64_t now) {
    if (h->purge_deadline_ns)
        return;
    h->purge_deadline_ns = now + purge_delay_ns();
    if (purge_delay_ns() == 0)
        omi_heap_maybe_purge(h);
}

void omi_heap_note_dirty(om_heap *h) {
    uint64_t now = omi_os_now_ns();
    h->last_dirty_ns = now;
    omi_heap_arm_purge(h, now);
}

/* The purge tick.  Quiet for a whole delay: purge everything; otherwise
 * only what was already dirty at the previous tick (arena.c), with ticks
 * OM_BUSY_TICKS delays apart, so that while the heap is busy a pool is
 * purged only after staying empty that long (a CPython object workload
 * spent 4% of its time faulting back pools purged after 10 ms). */
#define OM_BUSY_TICKS 3

void omi_heap_maybe_purge(om_heap *h) {
    uint64_t now = omi_os_now_ns(), delay = purge_delay_ns();
    if (!h->purge_deadline_ns || now < h->purge_deadline_ns)
        return;
    int quiet = now - h->last_dirty_ns >= delay;
    omi_pool_release_retained(h);
    uint64_t next = quiet ? delay : OM_BUSY_TICKS * delay;
    h->purge_deadline_ns = omi_arena_purge(h, quiet) ? now + (next ? next : 1) : 0;
    /* with nothing dirty, tick again when the large cache's next entry is due */
    uint64_t large = omi_large_purge_old(now);
    if (large && !h->purge_deadline_ns)
        h->purge_deadline_ns = large;
}

/* ---- om_trim ------------------------------------------------------------ */
static void heap_collect(om_heap *h, int force) {
    omi_heap_drain_remote(h);
    omi_pool_release_retained(h);
    omi_arena_purge(h, 1);
    h->purge_deadline_ns = 0;
    if (force)
        omi_arena_release_spares(h);
}

void om_trim(int force) {
    om_heap *h = omi_tls_heap;
    if (h != &omi_heap_empty)
        heap_collect(h, force);
    /* Abandoned heaps have no owner to do this for them. */
    pthread_mutex_lock(&omi_rt.lock);
    om_heap *list = omi_rt.heaps;
    pthread_mutex_unlock(&omi_rt.lock);
    for (om_heap *a = list; a; a = a->next_all) {
        if (atomic_load(&a->state) != OM_HEAP_ABANDONED)
            continue;
        pthread_mutex_lock(&a->lock);
        if (atomic_load(&a->state) == OM_HEAP_ABANDONED)
            heap_collect(a, 1);
        pthread_mutex_unlock(&a->lock);
    }
    omi_large_collect();
}

/* The deprecated name (objmem.h). */
void om_collect(int force) __attribute__((alias("om_trim")));
