/*
 * lock.c — the runtime lock (CPython's GIL) and per-thread state.
 *
 * The protocol is CPython's since 3.2 (Python/ceval_gil.c):
 *   - a thread that wants the lock waits on `released` for one switch
 *     interval at a time; if an interval passes with no hand-off
 *     (switch_number unchanged), it sets drop_request;
 *   - the holder polls drop_request at its safe points (om_lock_yield:
 *     one relaxed load when nobody asks); when set, it releases the lock
 *     and waits on `switched` until another thread has taken it (forced
 *     switching: otherwise the holder, already running, would usually win
 *     the lock straight back);
 *   - whoever takes the lock clears drop_request and bumps switch_number.
 *
 *   state (gil.mu guards all but drop_request and in_use):
 *     locked, holder     who has it
 *     switch_number      hand-offs so far
 *     drop_request       atomic: a waiter asks the holder to let go
 *
 * Per-thread state (om_thread) is thread-local: whether this thread holds
 * the lock.  A thread that exits holding the lock releases it (a pthread
 * key destructor), so the others cannot hang on a dead thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "object/object.h"

struct om_thread {
    int holds;
    int key_set;                 /* exit hook registered */
};

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t released;     /* the lock became free */
    pthread_cond_t switched;     /* a waiter took it after a forced drop */
    pthread_key_t exit_key;
    int locked;
    om_thread *holder;
    uint64_t switch_number;
    unsigned long interval_us;
    _Atomic int drop_request;
    _Atomic int in_use;
    om_lock_stats stats;
} gil = {.once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER, .interval_us = 5000};

static __thread om_thread om_tls_thread;

static void thread_exit(void *arg);

static void gil_init(void) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&gil.released, &ca);
    pthread_cond_init(&gil.switched, &ca);
    pthread_condattr_destroy(&ca);
    pthread_key_create(&gil.exit_key, thread_exit);
}

om_thread *om_thread_current(void) { return &om_tls_thread; }

int omi_lock_in_use(void) { return atomic_load_explicit(&gil.in_use, memory_order_relaxed); }

int om_lock_held(void) { return om_tls_thread.holds; }

static void deadline_after(struct timespec *ts, unsigned long us) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(us / 1000000);
    ts->tv_nsec += (long)(us % 1000000) * 1000;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Take the lock (gil.mu held). */
static void take(om_thread *self) {
    if (gil.locked) {
        gil.stats.contended++;
        while (gil.locked) {
            uint64_t seen = gil.switch_number;
            struct timespec ts;
            deadline_after(&ts, gil.interval_us);
            int rc = pthread_cond_timedwait(&gil.released, &gil.mu, &ts);
            if (rc == ETIMEDOUT && gil.locked && gil.switch_number == seen &&
                !atomic_load_explicit(&gil.drop_request, memory_order_relaxed)) {
                atomic_store_explicit(&gil.drop_request, 1, memory_order_relaxed);
                gil.stats.drop_requests++;
            }
        }
    }
    gil.locked = 1;
    gil.holder = self;
    gil.switch_number++;
    gil.stats.acquisitions++;
    atomic_store_explicit(&gil.drop_request, 0, memory_order_relaxed);
    pthread_cond_broadcast(&gil.switched);
    self->holds = 1;
}

/* Let the lock go (gil.mu held). */
static void drop(om_thread *self) {
    gil.locked = 0;
    gil.holder = NULL;
    self->holds = 0;
    pthread_cond_signal(&gil.released);
}

static void thread_exit(void *arg) {
    om_thread *self = arg;
    if (!self->holds)
        return;
    pthread_mutex_lock(&gil.mu);
    drop(self);
    pthread_mutex_unlock(&gil.mu);
}

void om_lock_acquire(void) {
    om_thread *self = &om_tls_thread;
    pthread_once(&gil.once, gil_init);
    if (self->holds) {
        omi_report_object(OM_ERR_LOCK, "om_lock_acquire", NULL, NULL,
                         "the calling thread already holds the runtime lock");
        return;
    }
    if (!self->key_set) {
        pthread_setspecific(gil.exit_key, self);
        self->key_set = 1;
    }
    atomic_store_explicit(&gil.in_use, 1, memory_order_relaxed);
    pthread_mutex_lock(&gil.mu);
    take(self);
    pthread_mutex_unlock(&gil.mu);
}

void om_lock_release(void) {
    om_thread *self = &om_tls_thread;
    if (!self->holds) {
        omi_report_object(OM_ERR_LOCK, "om_lock_release", NULL, NULL,
                         "the calling thread does not hold the runtime lock");
        return;
    }
    pthread_mutex_lock(&gil.mu);
    drop(self);
    pthread_mutex_unlock(&gil.mu);
}

int om_lock_yield(void) {
    om_thread *self = &om_tls_thread;
    if (self->holds && om_unlikely(omi_gc_pending()))
        om_gc_poll();
    if (om_likely(!atomic_load_explicit(&gil.drop_request, memory_order_relaxed)) || !self->holds)
        return 0;
    pthread_mutex_lock(&gil.mu);
    uint64_t seen = gil.switch_number;
    drop(self);
    /* Forced switch: wait until a waiter has taken the lock, unless the
     * waiter has gone (then nobody else sets drop_request again). */
    while (gil.switch_number == seen && atomic_load_explicit(&gil.drop_request, memory_order_relaxed))
        pthread_cond_wait(&gil.switched, &gil.mu);
    gil.stats.switches++;
    take(self);
    pthread_mutex_unlock(&gil.mu);
    return 1;
}

om_thread *om_lock_save(void) {
    om_thread *self = &om_tls_thread;
    if (!self->holds)
        return NULL;
    om_lock_release();
    return self;
}

void om_lock_restore(om_thread *saved) {
    if (!saved)
        return;
    if (saved != &om_tls_thread) {
        omi_report_object(OM_ERR_LOCK, "om_lock_restore", saved, NULL,
                         "thread state saved by another thread");
        return;
    }
    om_lock_acquire();
}

void om_lock_set_switch_interval(unsigned long usec) {
    pthread_mutex_lock(&gil.mu);
    gil.interval_us = usec ? usec : 1;
    pthread_mutex_unlock(&gil.mu);
}

unsigned long om_lock_get_switch_interval(void) {
    pthread_mutex_lock(&gil.mu);
    unsigned long us = gil.interval_us;
    pthread_mutex_unlock(&gil.mu);
    return us;
}

void (om_lock_get_stats)(om_lock_stats *out, size_t size) {
    pthread_mutex_lock(&gil.mu);
    om_lock_stats s = gil.stats;
    pthread_mutex_unlock(&gil.mu);
    omi_struct_out(out, size, &s, sizeof s);
}
