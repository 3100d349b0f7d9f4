/*
 * background.c — the background purge thread (om_background_start,
 * OBJMEM_BACKGROUND=1): gives memory back to the kernel on a timer, so
 * that a process whose threads have stopped calling the allocator (blocked
 * on I/O, idle) still returns what it freed.  jemalloc's background_thread
 * is the model; objmem's version is small because its purge is already
 * timed per heap (heap.c: purge_deadline_ns).
 *
 * Each round, for every heap whose purge deadline has passed, or that has
 * been idle for the option's purge delay (a heap's own delay may have
 * grown while it was busy, heap.c):
 *   ACTIVE heap     its purge tick's arena part (omi_arena_purge: empty
 *                   pools purged, wholly free arenas released), under the
 *                   heap's lock.  Nothing on the owner's used lists is
 *                   touched: a class's last empty pool, which an owner
 *                   keeps on its list until its next tick (pool.c), stays
 *                   resident; while the thread runs, only small classes
 *                   keep one (16 KiB each, at most 512 KiB), so the
 *                   owner's fast paths stay lock-free; its slow paths that
 *                   change arena state always hold the same lock
 *                   (omi_heap_lock_arenas: a pool taken or given back, a
 *                   purge tick), uncontended but for this thread.
 *   ABANDONED heap  everything om_trim would do, under its lock.
 * then the large-block cache: its old entries as any tick does, and, once
 * no block has joined it for the purge delay, every entry's pages (the
 * mappings stay for reuse until their decay time).  The thread sleeps until the
 * earliest deadline, at most BG_MAX_SLEEP_MS, on a condition variable
 * that om_background_stop signals.
 *
 * State: one struct, under its own lock.  Lock order: bg.lock is never
 * held while a heap's lock or omi_rt.lock is taken.
 */
#include <time.h>

#include "alloc/alloc.h"

#define BG_MAX_SLEEP_MS 50

_Atomic int omi_bg_running;

static struct {
    pthread_mutex_t lock; /* guards running, stop, thread */
    pthread_cond_t wake;
    pthread_t thread;
    int running, stop;
} bg = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

/* One heap's share of a round; returns its next deadline (0: none). */
static uint64_t purge_heap(om_heap *h, uint64_t now) {
    pthread_mutex_lock(&h->lock);
    int state = atomic_load(&h->state);
    uint64_t deadline = h->purge_deadline_ns;
    if (deadline && (now >= deadline || omi_heap_idle(h, now))) {
        if (state == OM_HEAP_ABANDONED)
            omi_heap_trim_locked(h, 1);
        else if (state == OM_HEAP_ACTIVE)
            omi_heap_purge_arenas(h, now);
        deadline = h->purge_deadline_ns;
    }
    pthread_mutex_unlock(&h->lock);
    return deadline;
}

/* A round over every heap; returns the earliest deadline left (0: none). */
static uint64_t round_all(void) {
    uint64_t now = omi_os_now_ns(), next = 0;
    pthread_mutex_lock(&omi_rt.lock);
    om_heap *list = omi_rt.heaps; /* heaps are never freed: walk unlocked */
    pthread_mutex_unlock(&omi_rt.lock);
    for (om_heap *h = list; h; h = h->next_all) {
        uint64_t d = purge_heap(h, now);
        if (d && (!next || d < next))
            next = d;
    }
    omi_large_purge_old(now);
    /* Idle big blocks go back after the purge delay, not the cache's
     * decay time (large.c): the thread is there for idle processes. */
    long delay = omi_option_value(OM_OPTION_PURGE_DELAY_MS);
    omi_large_purge_idle(now, (uint64_t)(delay > 0 ? delay : 0) * 1000000u);
    return next;
}

static void *bg_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&bg.lock);
    while (!bg.stop) {
        pthread_mutex_unlock(&bg.lock);
        uint64_t next = round_all(), now = omi_os_now_ns();
        uint64_t wait = (uint64_t)BG_MAX_SLEEP_MS * 1000000u;
        if (next && next > now && next - now < wait)
            wait = next - now;
        else if (next && next <= now)
            wait = 1000000u; /* a deadline passed during the round: soon */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + wait;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_mutex_lock(&bg.lock);
        if (!bg.stop)
            pthread_cond_timedwait(&bg.wake, &bg.lock, &ts);
    }
    pthread_mutex_unlock(&bg.lock);
    return NULL;
}

int om_background_start(void) {
    omi_runtime_init();
    pthread_mutex_lock(&bg.lock);
    int err = 0;
    if (!bg.running) {
        bg.stop = 0;
        err = pthread_create(&bg.thread, NULL, bg_main, NULL);
        bg.running = err == 0;
        atomic_store(&omi_bg_running, bg.running);
    }
    pthread_mutex_unlock(&bg.lock);
    return err;
}

void om_background_stop(void) {
    pthread_mutex_lock(&bg.lock);
    if (!bg.running) {
        pthread_mutex_unlock(&bg.lock);
        return;
    }
    bg.stop = 1;
    pthread_cond_signal(&bg.wake);
    pthread_t t = bg.thread;
    pthread_mutex_unlock(&bg.lock);
    pthread_join(t, NULL);
    pthread_mutex_lock(&bg.lock);
    bg.running = 0;
    atomic_store(&omi_bg_running, 0);
    pthread_mutex_unlock(&bg.lock);
}

int om_background_running(void) {
    pthread_mutex_lock(&bg.lock);
    int r = bg.running;
    pthread_mutex_unlock(&bg.lock);
    return r;
}

/* fork's child: the thread is not there (its locks are re-made by the
 * caller, runtime.c). */
void omi_background_forget(void) {
    pthread_mutex_init(&bg.lock, NULL);
    pthread_cond_init(&bg.wake, NULL);
    bg.running = bg.stop = 0;
    atomic_store(&omi_bg_running, 0);
}

/* OBJMEM_BACKGROUND=1: started when objmem is loaded (constructors run
 * after the C library is ready, so a thread may be made). */
__attribute__((constructor)) static void bg_autostart(void) {
    if (omi_option_value(OM_OPTION_BACKGROUND))
        om_background_start();
}
