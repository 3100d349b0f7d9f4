/*
 * heap.c — one heap per thread (mimalloc's shape on pymalloc's pools).
 *
 *   thread ──TLS──▶ om_heap ──used[class]──▶ pools ──▶ blocks
 *                     │ delayed: the first block freed back into each
 *                     │          FULL pool by another thread
 *                     └ arenas[small|medium]: usable lists, spares
 *                         └ xfree[pool]: blocks other threads freed
 *
 * A thread's first allocation finds omi_tls_heap pointing at omi_heap_empty,
 * whose used lists are all the empty pool, so the fast path fails into
 * omi_pool_alloc_slow, which calls omi_heap_init_thread: adopt an abandoned
 * heap if there is one, else make a new one.
 *
 * Frees: a block whose pool belongs to the calling thread's heap is freed
 * in place; any other is pushed on its pool's xfree stack (lock-free push;
 * the owner takes the whole stack with one exchange, so no ABA), which the
 * owner takes back when that pool runs dry (below, and pool.c).  Remote
 * frees into different pools touch different words, and none touches the
 * line the owner's fast path works on.  When a thread exits, its heap is
 * abandoned, warm: state ABANDONED, retained pools returned, the purge
 * tick armed (the tick takes the stacks back), nothing purged at once.  From then on,
 * whoever frees into it takes heap->lock and frees in place; a new thread
 * may adopt it (under the same lock) and own it again; other heaps' purge
 * ticks tick it meanwhile (tick_abandoned).  Heaps are never destroyed, so
 * a racing free never touches freed memory.
 *
 * Locks: the owner's pool take/return and purge paths hold heap->lock
 * (omi_heap_lock_arenas), which the background purge thread takes too;
 * lock order heap->lock, then omi_rt.lock; while holding one heap's lock,
 * another only by trylock.
 *
 * Purge timing: the first pool to become empty (or retained) after a purge
 * arms purge_deadline_ns = now + OBJMEM_PURGE_DELAY_MS; the first slow path
 * or pool-emptying free after the deadline is a purge tick: if no pool was
 * emptied or taken during the last delay it purges everything; otherwise,
 * every OM_BUSY_TICKS of the heap's own (adaptive) delays, it purges the
 * pools empty since the previous such purge; either purge returns the
 * retained pools first.  It re-arms while dirty pools are left, and purges old
 * large-cache entries (purge_tick below).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

static om_heap *heap_create(void) {
    om_heap *h = omi_meta_alloc(sizeof(om_heap));
    if (!h)
        return NULL;
    memset(h, 0, sizeof *h);
    for (unsigned c = 0; c < OM_NUM_LISTS; c++)
        h->used[c] = &omi_pool_empty;
    pthread_mutex_init(&h->lock, NULL);
    h->next_all = omi_rt.heaps;
    omi_rt.heaps = h;
    return h;
}

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
    int tid = (int)gettid();
    omi_alloc_note_started();
    pthread_mutex_lock(&h->lock);
    atomic_store(&h->state, OM_HEAP_ACTIVE);
    h->tid = tid;
    pthread_mutex_unlock(&h->lock);
    omi_tls_heap = h;
    omi_heap_sync_checked();
    /* Both may allocate (glibc): only now that this thread has a heap. */
    pthread_setspecific(omi_rt.heap_key, h);
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    pthread_once(&atfork_once, omi_runtime_register_atfork);
    omi_heap_drain_delayed(h);
    return h;
}

static void take_back(om_heap *h);

/* A thread's exit: its heap waits, warm, for a new thread to adopt it.
 * Retained pools go back to their arenas, but nothing is purged or
 * unmapped now (a server that gives each connection a short-lived thread
 * would fault it all in again), and the pools' xfree stacks stay as they
 * are: walking every pool of the heap cost a many-thread server 14% of its
 * time, and an adopter takes each stack back when it needs that pool.  The
 * purge tick is armed; it takes every stack back and purges, and runs when
 * the heap is adopted, when a thread frees into it, from other heaps'
 * ticks (tick_abandoned) or from the purge thread. */
void omi_heap_thread_exit(void *arg) {
    om_heap *h = arg;
    omi_tls_heap = omi_tls_free_heap = &omi_heap_empty;
    pthread_mutex_lock(&h->lock);
    atomic_store(&h->state, OM_HEAP_ABANDONED);
    h->tid = 0;
    omi_heap_drain_delayed(h);
    omi_pool_release_retained(h);
    omi_heap_arm_purge(h, omi_os_now_ns());
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&omi_rt.lock);
    h->next_abandoned = omi_rt.abandoned;
    omi_rt.abandoned = h;
    omi_rt.heaps_active--;
    omi_rt.heaps_abandoned++;
    pthread_mutex_unlock(&omi_rt.lock);
}

/* ---- frees from other threads ---------------------------------------------
 * A block of another thread's heap goes on its pool's xfree stack: one
 * CAS on a word that only the freers of that pool and, at its slow path,
 * the owner touch.  The owner takes the stack back when the pool runs dry
 * (pool.c).  A FULL pool is on no list, so the first block freed into it
 * (OM_XFREE_WATCH set) goes on the heap's delayed stack instead, which
 * the owner drains at its slow paths: the pool then joins a used list and
 * later blocks go to its own stack.  An abandoned heap has no owner: the
 * freer takes its lock and frees in place. */
static _Atomic uint64_t remote_free_orphans; /* from threads with no heap */

uint64_t omi_heap_remote_frees(void) {
    uint64_t n = atomic_load(&remote_free_orphans);
    pthread_mutex_lock(&omi_rt.lock);
    for (om_heap *h = omi_rt.heaps; h; h = h->next_all)
        n += __atomic_load_n(&h->remote_frees, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&omi_rt.lock);
    return n;
}

void omi_heap_drain_delayed(om_heap *h) {
    om_block *b = atomic_exchange_explicit(&h->delayed, NULL, memory_order_acquire);
    while (b) {
        om_block *next = b->next;
        omi_pool_free_any(h, omi_pool_of((uintptr_t)b, omi_map_lookup((uintptr_t)b)), b);
        b = next;
    }
}

static void push_delayed(om_heap *owner, om_block *b) {
    om_block *old = atomic_load_explicit(&owner->delayed, memory_order_relaxed);
    do {
        b->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&owner->delayed, &old, b, memory_order_release,
                                                    memory_order_relaxed));
}

static void free_abandoned(om_heap *owner, om_pool *pool, om_block *b) {
    omi_heap_drain_delayed(owner);
    omi_pool_free_any(owner, pool, b);
    omi_heap_maybe_purge(owner);
}

void omi_heap_free_remote(om_heap *owner, om_pool *pool, om_block *b) {
    om_heap *self = omi_tls_heap;
    if (self != &omi_heap_empty)
        __atomic_store_n(&self->remote_frees, __atomic_load_n(&self->remote_frees, __ATOMIC_RELAXED) + 1,
                         __ATOMIC_RELAXED);
    else
        atomic_fetch_add_explicit(&remote_free_orphans, 1, memory_order_relaxed);
    if (om_unlikely(atomic_load_explicit(&owner->state, memory_order_acquire) == OM_HEAP_ABANDONED)) {
        pthread_mutex_lock(&owner->lock);
        int abandoned = atomic_load(&owner->state) == OM_HEAP_ABANDONED;
        if (abandoned)
            free_abandoned(owner, pool, b);
        pthread_mutex_unlock(&owner->lock);
        if (abandoned)
            return;
    }
    b->check = omi_fast.cookie;
    _Atomic(uintptr_t) *xf = omi_pool_xfree(pool);
    uintptr_t old = atomic_load_explicit(xf, memory_order_relaxed);
    for (;;) {
        if (om_unlikely(old & OM_XFREE_WATCH)) {
            /* FULL, and this is its first block back: tell the owner. */
            if (atomic_compare_exchange_weak_explicit(xf, &old, old & ~OM_XFREE_WATCH, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                push_delayed(owner, b);
                return;
            }
            continue;
        }
        b->next = (om_block *)(old & ~OM_XFREE_FLAGS);
        if (atomic_compare_exchange_weak_explicit(xf, &old, (uintptr_t)b | (old & OM_XFREE_FLAGS),
                                                  memory_order_release, memory_order_relaxed))
            return;
    }
}

/* ---- purging ------------------------------------------------------------- */
static uint64_t purge_delay_ns(void) {
    long delay = omi_option_value(OM_OPTION_PURGE_DELAY_MS);
    return (uint64_t)(delay > 0 ? delay : 0) * 1000000u;
}

/* The heap's own delay: the option's, doubled while its purges only make
 * work (below), up to OM_DELAY_SHIFT_MAX doublings. */
#define OM_DELAY_SHIFT_MAX 6

static uint64_t heap_delay_ns(const om_heap *h) { return purge_delay_ns() << h->delay_shift; }

/* Arm the purge tick (a pool was retained, or went dirty): the option's
 * delay from now. */
void omi_heap_arm_purge(om_heap *h, uint64_t now) {
    if (h->purge_deadline_ns)
        return;
    uint64_t delay = purge_delay_ns();
    h->purge_deadline_ns = now + delay;
    if (delay == 0)
        omi_heap_maybe_purge(h);
}

void omi_heap_note_dirty(om_heap *h) {
    uint64_t now = omi_os_now_ns();
    h->last_active_ns = now;
    omi_heap_arm_purge(h, now);
}

/* The purge tick, the option's delay apart while anything is dirty.
 *
 * Quiet (no pool emptied or taken for the option's delay): everything
 * goes back, as an idle program wants it.  Busy: only what was already
 * dirty at the previous busy purge (arena.c's fresh mask), and busy purges
 * are OM_BUSY_TICKS of the heap's own delays apart, so that while the heap
 * is busy a pool is purged only after staying empty that long (a CPython
 * object workload spent 4% of its time faulting back pools purged after
 * 10 ms).
 *
 * The heap's delay adapts, as glibc's mmap threshold does: a tick that
 * finds purged pools taken again (or unmapped arenas mapped again) since
 * the last one, OM_REFAULTS_GROW of them at least, doubles it: the program
 * frees and reuses memory in phases longer than the delay (one that frees
 * a million objects and builds them again faulted 2.5x the pages mimalloc
 * did with 10 ms).  A quiet tick with no such refault halves it.  It
 * stretches only the busy purges: a heap that goes quiet gives its memory
 * back after the option's delay whatever its own. */
#define OM_BUSY_TICKS 3
#define OM_REFAULTS_GROW 4

/* Idle for the option's delay: nothing emptied or taken meanwhile. */
int omi_heap_idle(const om_heap *h, uint64_t now) { return now - h->last_active_ns >= purge_delay_ns(); }

/* retained: the owner's tick, which gives its retained pools back first
 * when it purges (they are on its used lists: nobody else may). */
static void purge_tick(om_heap *h, uint64_t now, int quiet, int retained) {
    if (h->refaults >= OM_REFAULTS_GROW) {
        if (h->delay_shift < OM_DELAY_SHIFT_MAX)
            h->delay_shift++;
    } else if (quiet && h->refaults == 0 && h->delay_shift) {
        h->delay_shift--;
    }
    h->refaults = 0;
    uint64_t left = h->ndirty;
    int busy_due = now - h->last_busy_purge_ns >= OM_BUSY_TICKS * heap_delay_ns(h);
    if (retained && (quiet || busy_due))
        omi_pool_release_retained(h);
    if (quiet) {
        left = omi_arena_purge(h, 1, 1);
    } else if (busy_due) {
        left = omi_arena_purge(h, 0, 1);
        h->last_busy_purge_ns = now;
    } else {
        left = h->ndirty + 1; /* retained pools wait too: tick again */
    }
    uint64_t next = purge_delay_ns();
    h->purge_deadline_ns = left ? now + (next ? next : 1) : 0;
}

void omi_heap_purge_arenas(om_heap *h, uint64_t now) { purge_tick(h, now, omi_heap_idle(h, now), 0); }

/* Abandoned heaps, a few per call (in turn), ticked by whoever ticks:
 * memory of exited threads goes back even if no thread adopts their heaps.
 * trylock: the caller holds its own heap's lock. */
#define OM_TICK_ABANDONED 8

static void tick_abandoned(uint64_t now) {
    static unsigned turn; /* under omi_rt.lock */
    om_heap *some[OM_TICK_ABANDONED];
    unsigned n = 0;
    pthread_mutex_lock(&omi_rt.lock);
    uint64_t total = omi_rt.heaps_abandoned;
    if (total) {
        uint64_t skip = turn % total;
        om_heap *a = omi_rt.abandoned;
        for (; a && skip; a = a->next_abandoned)
            skip--;
        for (; a && n < OM_TICK_ABANDONED; a = a->next_abandoned)
            some[n++] = a;
        turn += n;
    }
    pthread_mutex_unlock(&omi_rt.lock);
    for (unsigned i = 0; i < n; i++) {
        om_heap *a = some[i];
        if (pthread_mutex_trylock(&a->lock) != 0)
            continue;
        if (atomic_load(&a->state) == OM_HEAP_ABANDONED && a->purge_deadline_ns && now >= a->purge_deadline_ns) {
            take_back(a);
            purge_tick(a, now, omi_heap_idle(a, now), 0);
        }
        pthread_mutex_unlock(&a->lock);
    }
}

/* Called with the arenas locked (omi_heap_lock_arenas).  Quiet or busy is
 * decided before the retained pools go back (which makes them dirty now). */
void omi_heap_maybe_purge(om_heap *h) {
    if (!h->purge_deadline_ns)
        return;
    uint64_t now = omi_os_now_ns();
    if (now < h->purge_deadline_ns)
        return;
    int quiet = omi_heap_idle(h, now);
    purge_tick(h, now, quiet, 1);
    /* with nothing dirty, tick again when the large cache's next entry is due */
    uint64_t large = omi_large_purge_old(now);
    if (large && !h->purge_deadline_ns)
        h->purge_deadline_ns = large;
    tick_abandoned(now);
}

/* ---- om_trim ------------------------------------------------------------ */
/* Other threads' blocks come back; pools they empty go back to their
 * arenas (locking the arenas themselves if h is active: the caller must
 * not hold them then). */
static void take_back(om_heap *h) {
    omi_heap_drain_delayed(h);
    omi_pool_collect_xfree(h);
}

/* Everything empty goes back now; the arenas locked (or h abandoned). */
static void trim_arenas(om_heap *h, int force) {
    omi_pool_release_retained(h);
    omi_arena_purge(h, 1, 0);
    h->purge_deadline_ns = 0;
    if (force)
        omi_arena_release_spares(h);
}

void omi_heap_trim_locked(om_heap *h, int force) {
    take_back(h);
    trim_arenas(h, force);
}

static void trim_own(om_heap *h, int force) {
    take_back(h);
    int locked = omi_heap_lock_arenas(h);
    trim_arenas(h, force);
    omi_heap_unlock_arenas(h, locked);
}

void om_trim(int force) {
    om_heap *h = omi_tls_heap;
    if (h != &omi_heap_empty)
        trim_own(h, force);
    /* Abandoned heaps have no owner to do this for them. */
    pthread_mutex_lock(&omi_rt.lock);
    om_heap *list = omi_rt.heaps;
    pthread_mutex_unlock(&omi_rt.lock);
    for (om_heap *a = list; a; a = a->next_all) {
        if (atomic_load(&a->state) != OM_HEAP_ABANDONED)
            continue;
        pthread_mutex_lock(&a->lock);
        if (atomic_load(&a->state) == OM_HEAP_ABANDONED)
            omi_heap_trim_locked(a, 1);
        pthread_mutex_unlock(&a->lock);
    }
    omi_large_collect();
    omi_os_retry_releases(); /* ranges whose release failed before (os.c) */
}
