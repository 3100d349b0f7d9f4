/*
 * heap.c — one heap per thread (mimalloc's shape on pymalloc's pools).
 *
 *   thread ──TLS──▶ om_heap ──used[class]──▶ pools ──▶ blocks
 *                     │ remote: atomic stack of blocks other threads freed
 *                     └ arenas[small|medium]: usable lists, spares
 *
 * A thread's first allocation finds om_tls_heap pointing at om_heap_empty,
 * whose used lists are all the empty pool, so the fast path fails into
 * om_pool_alloc_slow, which calls om_heap_init_thread: adopt an abandoned
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

#include "internal.h"
#include "sizeclass.h"

#define P1 &om_pool_empty
#define P8 P1, P1, P1, P1, P1, P1, P1, P1
#define P64 P8, P8, P8, P8, P8, P8, P8, P8

om_pool om_pool_empty;
om_heap om_heap_empty = {.used = {P64}};
_Static_assert(OM_NUM_CLASSES == 64, "om_heap_empty's initializer lists 64 classes");
__thread om_heap *om_tls_heap __attribute__((tls_model("initial-exec"))) = &om_heap_empty;
__thread om_heap *om_tls_free_heap __attribute__((tls_model("initial-exec"))) = &om_heap_empty;

/* Checked mode off: the calling thread frees its own blocks on the fast
 * path.  Called when a thread gets its heap, when the option changes (for
 * the calling thread) and at every fresh pool (for the others). */
void om_heap_sync_checked(void) {
    om_tls_free_heap = atomic_load_explicit(&om_fast.checked, memory_order_relaxed) ? &om_heap_empty : om_tls_heap;
}

om_runtime om_rt = {.lock = PTHREAD_MUTEX_INITIALIZER};
om_fast_state om_fast;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* ---- fork --------------------------------------------------------------------
 * The child of a threaded parent has only the thread that forked, whose
 * heap is consistent (it was in fork(), not in objmem).  Shared state is
 * made consistent by holding every lock across fork(), in the lock order
 * (heap locks, then om_rt.lock), and re-creating the locks in the child.
 * Heaps of threads that do not exist in the child stay ACTIVE and unowned:
 * blocks freed into them go to their remote stacks (lock-free, touches no
 * heap internals) and are never reused, a bounded leak rather than a risk,
 * since such a heap may have been mid-operation when its thread was lost.
 */
static om_heap *fork_heaps;

static void fork_prepare(void) {
    pthread_mutex_lock(&om_rt.lock);
    fork_heaps = om_rt.heaps;
    pthread_mutex_unlock(&om_rt.lock);
    for (om_heap *h = fork_heaps; h; h = h->next_all)
        pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&om_rt.lock);
}

static void fork_parent(void) {
    pthread_mutex_unlock(&om_rt.lock);
    for (om_heap *h = fork_heaps; h; h = h->next_all)
        pthread_mutex_unlock(&h->lock);
}

static void fork_child(void) {
    pthread_mutex_init(&om_rt.lock, NULL);
    for (om_heap *h = om_rt.heaps; h; h = h->next_all)
        pthread_mutex_init(&h->lock, NULL);
}

static void register_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

static void heap_thread_exit(void *arg);
static void heap_collect(om_heap *h, int force);

static void runtime_init_once(void) {
    om_options_init();
    om_rt.page_size = om_os_page_size();
    /* A per-process random cookie marks free blocks (see types.h). */
    uintptr_t c = (uintptr_t)&om_rt ^ ((uintptr_t)om_os_now_ns() * 0x9E3779B97F4A7C15u);
    om_fast.cookie = c | 1; /* never 0: allocated blocks hold 0 */
    atomic_store(&om_fast.checked, (int)om_option_value(OM_OPTION_CHECKED));
    pthread_key_create(&om_rt.heap_key, heap_thread_exit);
}

void om_runtime_init(void) { pthread_once(&init_once, runtime_init_once); }

static om_heap *heap_create(void) {
    om_heap *h = om_meta_alloc(sizeof(om_heap));
    if (!h)
        return NULL;
    memset(h, 0, sizeof *h);
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++)
        h->used[c] = &om_pool_empty;
    pthread_mutex_init(&h->lock, NULL);
    h->next_all = om_rt.heaps;
    om_rt.heaps = h;
    return h;
}

om_heap *om_heap_init_thread(void) {
    om_runtime_init();
    pthread_mutex_lock(&om_rt.lock);
    om_heap *h = om_rt.abandoned;
    if (h) {
        om_rt.abandoned = h->next_abandoned;
        om_rt.heaps_abandoned--;
    } else {
        h = heap_create();
    }
    if (h)
        om_rt.heaps_active++;
    pthread_mutex_unlock(&om_rt.lock);
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&h->lock);
    atomic_store(&h->state, OM_HEAP_ACTIVE);
    pthread_mutex_unlock(&h->lock);
    om_tls_heap = h;
    om_heap_sync_checked();
    /* Both may allocate (glibc): only now that this thread has a heap. */
    pthread_setspecific(om_rt.heap_key, h);
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    pthread_once(&atfork_once, register_atfork);
    om_heap_drain_remote(h);
    return h;
}

static void heap_thread_exit(void *arg) {
    om_heap *h = arg;
    om_tls_heap = om_tls_free_heap = &om_heap_empty;
    pthread_mutex_lock(&h->lock);
    atomic_store(&h->state, OM_HEAP_ABANDONED);
    heap_collect(h, 1);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&om_rt.lock);
    h->next_abandoned = om_rt.abandoned;
    om_rt.abandoned = h;
    om_rt.heaps_active--;
    om_rt.heaps_abandoned++;
    pthread_mutex_unlock(&om_rt.lock);
}

/* ---- frees from other threads ----------------------------------------- */
void om_heap_drain_remote(om_heap *h) {
    om_block *b = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
    while (b) {
        om_block *next = b->next;
        om_pool_free_local(h, om_pool_of((uintptr_t)b, om_map_lookup((uintptr_t)b)), b);
        b = next;
    }
}

static _Atomic uint64_t remote_free_count;

uint64_t om_heap_remote_frees(void) { return atomic_load(&remote_free_count); }

void om_heap_free_remote(om_heap *owner, om_pool *pool, om_block *b) {
    atomic_fetch_add_explicit(&remote_free_count, 1, memory_order_relaxed);
    if (atomic_load_explicit(&owner->state, memory_order_acquire) == OM_HEAP_ABANDONED) {
        pthread_mutex_lock(&owner->lock);
        if (atomic_load(&owner->state) == OM_HEAP_ABANDONED) {
            om_heap_drain_remote(owner);
            om_pool_free_local(owner, pool, b);
            if (owner->ndirty)
                om_heap_maybe_purge(owner);
            pthread_mutex_unlock(&owner->lock);
            return;
        }
        pthread_mutex_unlock(&owner->lock);
    }
    b->check = om_fast.cookie;
    om_block *old = atomic_load_explicit(&owner->remote, memory_order_relaxed);
    do {
        b->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &old, b, memory_order_release,
                                                    memory_order_relaxed));
}

/* ---- purging ------------------------------------------------------------- */
static uint64_t purge_delay_ns(void) {
    long delay = om_option_value(OM_OPTION_PURGE_DELAY_MS);
    return (uint64_t)(delay > 0 ? delay : 0) * 1000000u;
}

/* Arm the purge tick (a pool was retained, or went dirty). */
void om_heap_arm_purge(om_heap *h, uint64_t now) {
    if (h->purge_deadline_ns)
        return;
    h->purge_deadline_ns = now + purge_delay_ns();
    if (purge_delay_ns() == 0)
        om_heap_maybe_purge(h);
}

void om_heap_note_dirty(om_heap *h) {
    uint64_t now = om_os_now_ns();
    h->last_dirty_ns = now;
    om_heap_arm_purge(h, now);
}

/* The purge tick.  Quiet for a whole delay: purge everything; otherwise
 * only what was already dirty at the previous tick (arena.c), with ticks
 * OM_BUSY_TICKS delays apart, so that while the heap is busy a pool is
 * purged only after staying empty that long (a CPython object workload
 * spent 4% of its time faulting back pools purged after 10 ms). */
#define OM_BUSY_TICKS 3

void om_heap_maybe_purge(om_heap *h) {
    uint64_t now = om_os_now_ns(), delay = purge_delay_ns();
    if (!h->purge_deadline_ns || now < h->purge_deadline_ns)
        return;
    int quiet = now - h->last_dirty_ns >= delay;
    om_pool_release_retained(h);
    uint64_t next = quiet ? delay : OM_BUSY_TICKS * delay;
    h->purge_deadline_ns = om_arena_purge(h, quiet) ? now + (next ? next : 1) : 0;
    om_large_purge_old(now);
}

/* ---- om_collect ------------------------------------------------------------ */
static void heap_collect(om_heap *h, int force) {
    om_heap_drain_remote(h);
    om_pool_release_retained(h);
    om_arena_purge(h, 1);
    h->purge_deadline_ns = 0;
    if (force)
        om_arena_release_spares(h);
}

void om_collect(int force) {
    om_heap *h = om_tls_heap;
    if (h != &om_heap_empty)
        heap_collect(h, force);
    /* Abandoned heaps have no owner to do this for them. */
    pthread_mutex_lock(&om_rt.lock);
    om_heap *list = om_rt.heaps;
    pthread_mutex_unlock(&om_rt.lock);
    for (om_heap *a = list; a; a = a->next_all) {
        if (atomic_load(&a->state) != OM_HEAP_ABANDONED)
            continue;
        pthread_mutex_lock(&a->lock);
        if (atomic_load(&a->state) == OM_HEAP_ABANDONED)
            heap_collect(a, 1);
        pthread_mutex_unlock(&a->lock);
    }
    om_large_collect();
}
