/*
 * test_lock.c — the runtime lock of objmem.h §10 and objects shared between
 * threads under it: held/save/restore bookkeeping, the switch interval,
 * thread states; four threads mutating shared objects (a list of floats
 * replaced with incremented copies, a plain counter in a shared object, a
 * shared list used as a stack, objects created and destroyed through a
 * shared free list, weak references to a shared object) with om_lock_yield
 * and OM_BEGIN/END_ALLOW_THREADS in their loops, and exact final counts;
 * the hand-off: a waiting thread gets the lock from a holder that only calls
 * om_lock_yield, after about the switch interval, and the holder does not
 * get it back before the waiter has had it; blocking calls inside
 * OM_BEGIN_ALLOW_THREADS let another thread run, and without it the holder
 * keeps the lock.  Run under TSan by `ctest -L thread`.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"
#include "objtest.h"

#define NTHREADS 4
#define ITERS ((int)OM_TEST_SCALE(100000))
#define NFLOATS 8

static unsigned long initial_interval;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static om_lock_stats lock_stats(void)
{
    om_lock_stats s;
    memset(&s, 0, sizeof s);
    om_lock_get_stats(&s);
    return s;
}

/* ------------------------------------------------------------ basics */

static void test_basics(void)
{
    CHECK_EQ(initial_interval, 5000);
    CHECK_EQ(om_lock_held(), 0);
    CHECK(om_lock_save() == NULL);
    CHECK_EQ(om_lock_held(), 0);
    /* a save/restore pair around nothing held does nothing */
    OM_BEGIN_ALLOW_THREADS
    CHECK_EQ(om_lock_held(), 0);
    OM_END_ALLOW_THREADS
    CHECK_EQ(om_lock_held(), 0);

    om_thread *me = om_thread_current();
    CHECK(me != NULL);
    CHECK(om_thread_current() == me);

    om_lock_stats s0 = lock_stats();
    om_lock_acquire();
    CHECK_EQ(om_lock_held(), 1);
    om_lock_stats s1 = lock_stats();
    CHECK_EQ(s1.acquisitions - s0.acquisitions, 1);
    CHECK_EQ(s1.contended, s0.contended);
    CHECK_EQ(om_lock_yield(), 0); /* nobody waits */
    CHECK_EQ(om_lock_held(), 1);
    om_thread *saved = om_lock_save();
    CHECK(saved != NULL);
    CHECK(saved == me);
    CHECK_EQ(om_lock_held(), 0);
    om_lock_restore(saved);
    CHECK_EQ(om_lock_held(), 1);
    OM_BEGIN_ALLOW_THREADS
    CHECK_EQ(om_lock_held(), 0);
    OM_END_ALLOW_THREADS
    CHECK_EQ(om_lock_held(), 1);
    om_lock_release();
    CHECK_EQ(om_lock_held(), 0);

    for (int i = 0; i < 10; i++) {
        om_lock_acquire();
        om_lock_release();
    }
    om_lock_stats s2 = lock_stats();
    CHECK_GE(s2.acquisitions - s1.acquisitions, 10);
    CHECK_LE(s2.acquisitions - s1.acquisitions, 12); /* + the restores */
    CHECK_EQ(s2.contended, s0.contended);
    CHECK_EQ(s2.drop_requests, s0.drop_requests);
    CHECK_EQ(s2.switches, s0.switches);
}

static void test_switch_interval(void)
{
    om_lock_set_switch_interval(1000);
    CHECK_EQ(om_lock_get_switch_interval(), 1000);
    om_lock_set_switch_interval(123456);
    CHECK_EQ(om_lock_get_switch_interval(), 123456);
    om_lock_set_switch_interval(1);
    CHECK_EQ(om_lock_get_switch_interval(), 1);
    om_lock_set_switch_interval(0); /* at least 1 */
    CHECK_GE(om_lock_get_switch_interval(), 1);
    om_lock_set_switch_interval(5000);
    CHECK_EQ(om_lock_get_switch_interval(), 5000);
}

static void *thread_state_main(void *arg)
{
    om_thread **out = arg;
    out[0] = om_thread_current();
    out[1] = om_thread_current();
    om_lock_acquire();
    out[2] = om_lock_save();
    om_lock_restore(out[2]);
    om_lock_release();
    return NULL;
}

static void test_thread_states(void)
{
    om_thread *a[3], *b[3];
    pthread_t ta, tb;
    REQUIRE_EQ(pthread_create(&ta, NULL, thread_state_main, a), 0);
    REQUIRE_EQ(pthread_join(ta, NULL), 0);
    REQUIRE_EQ(pthread_create(&tb, NULL, thread_state_main, b), 0);
    REQUIRE_EQ(pthread_join(tb, NULL), 0);
    CHECK(a[0] != NULL && a[0] == a[1] && a[2] == a[0]);
    CHECK(b[0] != NULL && b[0] == b[1] && b[2] == b[0]);
    CHECK(a[0] != om_thread_current());
    CHECK(b[0] != om_thread_current());
    CHECK_EQ(om_lock_held(), 0);
}

/* ------------------------------------------------------------ stress */

typedef struct shared_obj {
    om_object ob;
    om_weakref *weaklist;
    long counter;             /* plain: only the lock protects it */
    long pad[4];
} shared_obj;
static om_type shared_type = { OM_TYPE_INIT, .name = "shared", .size = sizeof(shared_obj),
                               .weaklist_offset = offsetof(shared_obj, weaklist) };

typedef struct work { om_object ob; long v; long w[3]; } work;
static om_type work_type = { OM_TYPE_INIT, .name = "work", .size = sizeof(work), .freelist_limit = 16 };

static om_object *floats;   /* ex_list of NFLOATS floats */
static om_object *stack;    /* ex_list used as a stack */
static shared_obj *shared;
static atomic_long failures_in_threads;

static void thread_fail(const char *what, long i)
{
    if (atomic_fetch_add(&failures_in_threads, 1) < 5)
        fprintf(stderr, "thread: %s at %ld\n", what, i);
}

static pthread_barrier_t start_line;
static int started; /* under the runtime lock */

static void *stress_main(void *arg)
{
    long tid = (long)(intptr_t)arg;
    long pops = 0;
    pthread_barrier_wait(&start_line);
    /* Hold the lock, with safe points only, until every thread has had it:
     * the others can get it only by the hand-off (so the threads really
     * overlap, however the kernel schedules them). */
    om_lock_acquire();
    started++;
    while (started < NTHREADS)
        om_lock_yield();
    om_lock_release();
    for (long i = 0; i < ITERS; i++) {
        om_lock_acquire();
        /* 1. replace a float with an incremented copy */
        size_t k = (size_t)(tid + i) % NFLOATS;
        om_object *f = ex_list_get_item(floats, k);
        om_object *nf = f ? ex_float_new(ex_float_value(f) + 1.0) : NULL;
        if (nf == NULL || ex_list_set_item(floats, k, nf) != 0)
            thread_fail("float update", i);
        om_lock_yield();
        /* 2. the shared object: a plain counter and its reference count */
        om_incref(shared);
        long c = shared->counter;
        shared->counter = c + 1; /* no safe point in between: no lost update */
        om_lock_yield();
        /* 3. the shared stack: push one, pop every other time */
        om_object *item = ex_int_new(tid * 1000000 + i);
        if (item == NULL || ex_list_append(stack, item) != 0)
            thread_fail("append", i);
        om_xdecref(item);
        if (i % 2) {
            om_object *p = ex_list_pop(stack);
            if (p == NULL || p->type != &ex_int_type)
                thread_fail("pop", i);
            else
                pops++;
            om_xdecref(p);
        }
        /* 4. objects created and destroyed through a shared free list */
        work *w[3];
        for (int j = 0; j < 3; j++) {
            w[j] = (work *)om_new(&work_type);
            if (w[j] == NULL) {
                thread_fail("om_new", i);
                continue;
            }
            if (w[j]->v != 0)
                thread_fail("reused object not zeroed", i);
            w[j]->v = tid;
        }
        om_lock_yield();
        for (int j = 0; j < 3; j++) {
            if (w[j] != NULL && w[j]->v != tid)
                thread_fail("object changed under us", i);
            om_xdecref(w[j]);
        }
        /* 5. a weak reference to the shared object */
        if (i % 16 == 0) {
            om_weakref *wr = om_weakref_new(OM_OBJ(shared), NULL, NULL);
            om_object *g = wr ? om_weakref_get(wr) : NULL;
            if (g != OM_OBJ(shared))
                thread_fail("weakref", i);
            om_xdecref(g);
            om_xdecref(wr);
        }
        om_decref(shared);
        /* 6. sometimes a blocking call */
        if (i % 64 == 0) {
            OM_BEGIN_ALLOW_THREADS
            sched_yield();
            OM_END_ALLOW_THREADS
            if (!om_lock_held())
                thread_fail("not held after OM_END_ALLOW_THREADS", i);
        }
        om_lock_release();
    }
    return (void *)(intptr_t)pops;
}

static void test_stress(void)
{
    uint64_t f0 = ot_live(&ex_float_type), i0 = ot_live(&ex_int_type),
             l0 = ot_live(&ex_list_type);
    om_lock_stats s0 = lock_stats();
    floats = ex_list_new(NFLOATS);
    stack = ex_list_new(0);
    shared = (shared_obj *)om_new(&shared_type);
    REQUIRE(floats != NULL && stack != NULL && shared != NULL);
    for (int k = 0; k < NFLOATS; k++) {
        om_object *f = ex_float_new(0.0);
        REQUIRE(f != NULL);
        REQUIRE_EQ(ex_list_append(floats, f), 0);
        om_decref(f);
    }
    atomic_store(&failures_in_threads, 0);
    pthread_barrier_init(&start_line, NULL, NTHREADS);
    started = 0;
    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        REQUIRE_EQ(pthread_create(&t[i], NULL, stress_main, (void *)(intptr_t)i), 0);
    long pops = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        pops += (long)(intptr_t)r;
    }
    pthread_barrier_destroy(&start_line);
    CHECK_EQ(atomic_load(&failures_in_threads), 0);
    om_lock_acquire();
    double sum = 0;
    for (int k = 0; k < NFLOATS; k++) {
        om_object *f = ex_list_get_item(floats, k);
        REQUIRE(f != NULL);
        CHECK_EQ(f->refcount, 1);
        sum += ex_float_value(f);
    }
    CHECK_EQ((long)sum, (long)NTHREADS * ITERS);
    CHECK_EQ(shared->counter, (long)NTHREADS * ITERS);
    CHECK_EQ(shared->ob.refcount, 1);
    CHECK_EQ(om_weakref_count(OM_OBJ(shared)), 0);
    CHECK_EQ(pops, (long)NTHREADS * (ITERS / 2));
    CHECK_EQ(ex_list_len(stack), (size_t)NTHREADS * ITERS - (size_t)pops);
    for (size_t k = 0; k < ex_list_len(stack); k++) {
        om_object *x = ex_list_get_item(stack, k);
        if (x == NULL || x->type != &ex_int_type || x->refcount != 1) {
            CHECK_MSG(0, "stack item %zu is damaged", k);
            break;
        }
    }
    CHECK_EQ(ot_live(&work_type), 0);
    CHECK_EQ(ot_stats(&work_type).created, (uint64_t)NTHREADS * ITERS * 3);
    CHECK_EQ(ot_live(&ex_float_type) - f0, NFLOATS);
    CHECK_EQ(ot_live(&ex_int_type) - i0, ex_list_len(stack));
    om_clear_ref(&floats);
    om_clear_ref(&stack);
    om_decref(shared);
    shared = NULL;
    CHECK_EQ(ot_live(&ex_float_type), f0);
    CHECK_EQ(ot_live(&ex_int_type), i0);
    CHECK_EQ(ot_live(&ex_list_type), l0);
    CHECK_EQ(ot_live(&shared_type), 0);
    om_lock_release();
    om_lock_stats s1 = lock_stats();
    printf("lock: %llu acquisitions, %llu contended, %llu drop requests, %llu switches\n",
           (unsigned long long)(s1.acquisitions - s0.acquisitions),
           (unsigned long long)(s1.contended - s0.contended),
           (unsigned long long)(s1.drop_requests - s0.drop_requests),
           (unsigned long long)(s1.switches - s0.switches));
    CHECK_GE(s1.acquisitions - s0.acquisitions, (uint64_t)NTHREADS * ITERS);
    CHECK_GE(s1.contended - s0.contended, 1);
    CHECK_GE(s1.drop_requests - s0.drop_requests, 1);
    CHECK_GE(s1.switches - s0.switches, 1);
    CHECK_LE(s1.switches - s0.switches, s1.drop_requests - s0.drop_requests);
}

/* ------------------------------------------------------------ hand-off */

static atomic_int a_holds, b_got, b_done;
static atomic_long b_waited_us;

static void *waiter_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&a_holds))
        sched_yield();
    int64_t t0 = now_us();
    om_lock_acquire();
    atomic_store(&b_waited_us, (long)(now_us() - t0));
    atomic_store(&b_got, 1);
    om_lock_release();
    atomic_store(&b_done, 1);
    return NULL;
}

/* The holder only calls om_lock_yield; returns how many switches it saw. */
static void handoff_case(unsigned long interval_us)
{
    om_lock_set_switch_interval(interval_us);
    atomic_store(&a_holds, 0);
    atomic_store(&b_got, 0);
    atomic_store(&b_done, 0);
    atomic_store(&b_waited_us, -1);
    om_lock_stats s0 = lock_stats();
    pthread_t t;
    om_lock_acquire();
    REQUIRE_EQ(pthread_create(&t, NULL, waiter_main, NULL), 0);
    atomic_store(&a_holds, 1);
    int64_t start = now_us();
    int switched = 0, bounced = 0;
    while (!atomic_load(&b_done) && now_us() - start < 5000000) {
        if (om_lock_yield()) {
            switched++;
            if (!atomic_load(&b_got))
                bounced++; /* got the lock back before the waiter had it */
        }
        CHECK_EQ(om_lock_held(), 1);
    }
    CHECK_EQ(om_lock_held(), 1);
    om_lock_release();
    pthread_join(t, NULL);
    long waited = atomic_load(&b_waited_us);
    CHECK_EQ(atomic_load(&b_got), 1);
    CHECK_EQ(atomic_load(&b_done), 1);
    CHECK_GE(switched, 1);
    CHECK_EQ(bounced, 0);
    /* the waiter asks for the lock only after the switch interval */
    CHECK_MSG(waited >= (long)(interval_us * 9 / 10), "interval %lu us: waited %ld us",
              interval_us, waited);
    CHECK_MSG(waited < 2000000, "interval %lu us: waited %ld us", interval_us, waited);
    om_lock_stats s1 = lock_stats();
    CHECK_GE(s1.drop_requests - s0.drop_requests, 1);
    CHECK_GE(s1.switches - s0.switches, 1);
    CHECK_GE(s1.contended - s0.contended, 1);
    om_lock_set_switch_interval(5000);
}

static void test_handoff(void)
{
    handoff_case(1000);
    handoff_case(20000);
}

/* ------------------------------------------------------------ blocking calls */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int other_started, other_got;

static void *other_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    other_started = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    om_lock_acquire();
    om_object *f = ex_float_new(3.0); /* touch objects while holding it */
    om_xdecref(f);
    pthread_mutex_lock(&mu);
    other_got = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    om_lock_release();
    return NULL;
}

static int wait_for(int *flag, long timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (!*flag)
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    int v = *flag;
    pthread_mutex_unlock(&mu);
    return v;
}

static int read_flag(int *flag)
{
    pthread_mutex_lock(&mu);
    int v = *flag;
    pthread_mutex_unlock(&mu);
    return v;
}

static void allow_threads_case(int use_condvar)
{
    other_started = other_got = 0;
    om_lock_acquire();
    pthread_t t;
    REQUIRE_EQ(pthread_create(&t, NULL, other_main, NULL), 0);
    CHECK(wait_for(&other_started, 5000));
    /* holding the lock without a safe point: the other thread waits, even
     * past the switch interval */
    tu_sleep_ms(30);
    CHECK_EQ(read_flag(&other_got), 0);
    CHECK_EQ(om_lock_held(), 1);
    if (use_condvar) {
        int got;
        OM_BEGIN_ALLOW_THREADS
        got = wait_for(&other_got, 5000);
        OM_END_ALLOW_THREADS
        CHECK_EQ(got, 1);
    } else {
        OM_BEGIN_ALLOW_THREADS
        for (int i = 0; i < 500 && !read_flag(&other_got); i++)
            usleep(10000);
        OM_END_ALLOW_THREADS
        CHECK_EQ(read_flag(&other_got), 1);
    }
    CHECK_EQ(om_lock_held(), 1);
    om_lock_release();
    pthread_join(t, NULL);
    CHECK_EQ(om_lock_held(), 0);
}

static void test_allow_threads(void)
{
    allow_threads_case(1);
    allow_threads_case(0);
}

/* Objects made on one thread and destroyed on another, one at a time. */
typedef struct relay { om_object *items[64]; } relay;

static void *consumer_main(void *arg)
{
    relay *r = arg;
    om_lock_acquire();
    for (int i = 0; i < 64; i++)
        om_clear_ref(&r->items[i]);
    om_lock_release();
    return NULL;
}

static void test_cross_thread_destruction(void)
{
    uint64_t d0 = ot_live(&ex_dict_type), s0 = ot_live(&ex_str_type);
    for (int round = 0; round < 20; round++) {
        relay r;
        om_lock_acquire();
        for (int i = 0; i < 64; i++) {
            om_object *d = ex_dict_new();
            om_object *k = ex_str_from("key");
            om_object *v = ex_str_from("value");
            if (d == NULL || k == NULL || v == NULL || ex_dict_set(d, k, v) != 0) {
                CHECK_MSG(0, "round %d item %d", round, i);
                om_lock_release();
                return;
            }
            om_decref(k);
            om_decref(v);
            r.items[i] = d;
        }
        om_lock_release();
        pthread_t t;
        REQUIRE_EQ(pthread_create(&t, NULL, consumer_main, &r), 0);
        pthread_join(t, NULL);
        for (int i = 0; i < 64; i++)
            CHECK(r.items[i] == NULL);
    }
    om_lock_acquire();
    CHECK_EQ(ot_live(&ex_dict_type), d0);
    CHECK_EQ(ot_live(&ex_str_type), s0);
    om_lock_release();
}

int main(int argc, char **argv)
{
    initial_interval = om_lock_get_switch_interval();
    static const check_case cases[] = {
        CHECK_CASE(test_basics),
        CHECK_CASE(test_switch_interval),
        CHECK_CASE(test_thread_states),
        CHECK_CASE(test_stress),
        CHECK_CASE(test_handoff),
        CHECK_CASE(test_allow_threads),
        CHECK_CASE(test_cross_thread_destruction),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
