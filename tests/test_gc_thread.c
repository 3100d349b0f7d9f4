/*
 * test_gc_thread.c — the cycle collector with several threads taking turns
 * under the runtime lock (objmem.h §10, §11).  Run under TSan by
 * `ctest -L thread`.
 *
 *   test_threads_take_turns: four threads build garbage cycles (lists,
 *   dicts, tuples), reachable cyclic structures they later check, and
 *   cycles passed between threads through a shared list; a low threshold
 *   makes om_lock_yield run automatic collections, which free the other
 *   threads' garbage too; explicit collections of every generation; the
 *   lock released around a yield.  Each thread must have run automatic
 *   collections itself, every reachable structure must be intact, and at
 *   the end every example object must be gone.
 *
 *   test_finalizer_releases_lock: a finalizer that releases the lock in
 *   the middle of a collection (CPython allows it in __del__); while it
 *   waits, another thread takes the lock and finds om_gc_collect EBUSY and
 *   om_gc_poll 0, creates, drops and collects nothing but what it may, and
 *   the collection then completes with the right result.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"
#include "objtest.h"
#include "gctest.h"

#define NTHREADS 4
#define ITERS (OM_TEST_SANITIZED ? 5000 : 20000)

/* ------------------------------------------------------------ bookkeeping */

static __thread int my_index = -1;
static __thread int in_yield;
/* written under the runtime lock only (collections run under it) */
static long auto_collections[NTHREADS], all_collections[NTHREADS];
static long other_collections;

static void count_cb(om_gc_phase phase, const om_gc_info *info, void *arg)
{
    (void)info, (void)arg;
    if (phase != OM_GC_START)
        return;
    CHECK(om_lock_held());
    if (my_index < 0 || my_index >= NTHREADS) {
        other_collections++;
        return;
    }
    all_collections[my_index]++;
    if (in_yield)
        auto_collections[my_index]++;
}

/* ------------------------------------------------------------ helpers */

/* (tag, [tag, <the tuple itself>]): a reachable cycle with a known value */
static om_object *make_pair(int64_t tag)
{
    om_object *t = ex_tuple_new(2), *l = ex_list_new(2), *a = ex_int_new(tag), *b = ex_int_new(tag);
    if (t == NULL || l == NULL || a == NULL || b == NULL) {
        CHECK(0);
        return NULL;
    }
    ex_tuple_set_item(t, 0, a);
    if (ex_list_append(l, b) != 0 || ex_list_append(l, t) != 0)
        CHECK(0);
    om_decref(b);
    ex_tuple_set_item(t, 1, l);
    return t;
}

static int pair_ok(om_object *t)
{
    if (t == NULL || t->type != &ex_tuple_type || ex_tuple_len(t) != 2)
        return 0;
    om_object *a = ex_tuple_get_item(t, 0), *l = ex_tuple_get_item(t, 1);
    if (a == NULL || l == NULL || l->type != &ex_list_type || ex_list_len(l) != 2)
        return 0;
    om_object *b = ex_list_get_item(l, 0);
    return b != NULL && ex_int_value(a) == ex_int_value(b) && ex_list_get_item(l, 1) == t;
}

/* garbage: two lists holding each other, a dict holding itself */
static void make_garbage(int64_t tag)
{
    om_object *x = ex_list_new(0), *y = ex_list_new(0), *d = ex_dict_new(), *k = ex_int_new(tag);
    if (x == NULL || y == NULL || d == NULL || k == NULL) {
        CHECK(0);
        return;
    }
    if (ex_list_append(x, y) || ex_list_append(y, x) || ex_dict_set(d, k, d) || ex_list_append(x, d))
        CHECK(0);
    om_decref(x);
    om_decref(y);
    om_decref(d);
    om_decref(k);
}

/* ------------------------------------------------------------ take turns */

static om_object *shared; /* a list, touched under the lock */
static int last_runner = -1;
static long interleavings; /* iterations whose thread differs from the previous one's */
static atomic_int bad_pairs, bad_results;

static void *turns_worker(void *arg)
{
    my_index = (int)(intptr_t)arg;
    uint64_t rng = 77 + (uint64_t)my_index;
    om_lock_acquire();
    om_object *mine = ex_list_new(0);
    if (mine == NULL) {
        CHECK(0);
        om_lock_release();
        return NULL;
    }
    for (int it = 0; it < ITERS; it++) {
        if (last_runner != my_index) {
            interleavings++;
            last_runner = my_index;
        }
        int64_t tag = (int64_t)my_index * 1000000 + it;
        make_garbage(tag);
        om_object *p = make_pair(tag);
        if (p != NULL) {
            if (ex_list_append(mine, p) != 0)
                CHECK(0);
            om_decref(p);
        }
        /* hand a cycle to whoever comes next, take one from someone */
        om_object *q = make_pair(-tag);
        if (q != NULL) {
            if (ex_list_append(shared, q) != 0)
                CHECK(0);
            om_decref(q);
        }
        if (tu_range(&rng, 0, 1) == 0) {
            om_object *got = ex_list_pop(shared);
            if (got != NULL) {
                if (!pair_ok(got))
                    atomic_fetch_add(&bad_pairs, 1);
                om_decref(got); /* garbage now: a cycle */
            }
        }
        /* drop some of mine: more cyclic garbage */
        if (ex_list_len(mine) > 64) {
            for (int i = 0; i < 32; i++) {
                om_object *old = ex_list_pop(mine);
                if (!pair_ok(old))
                    atomic_fetch_add(&bad_pairs, 1);
                om_xdecref(old);
            }
        }
        if (it % 4 == 0) {
            in_yield = 1;
            om_lock_yield(); /* automatic collections run here */
            in_yield = 0;
        }
        if (it % 97 == 0) {
            long r = om_gc_collect(it % 3);
            if (r < 0)
                atomic_fetch_add(&bad_results, 1);
        }
        if (it % 61 == 0) {
            OM_BEGIN_ALLOW_THREADS
            sched_yield();
            OM_END_ALLOW_THREADS
        }
    }
    for (size_t i = 0; i < ex_list_len(mine); i++)
        if (!pair_ok(ex_list_get_item(mine, i)))
            atomic_fetch_add(&bad_pairs, 1);
    om_decref(mine);
    om_lock_release();
    return NULL;
}

static void test_threads_take_turns(void)
{
    om_gc_collect(2);
    uint64_t l0 = ot_live(&ex_list_type), t0 = ot_live(&ex_tuple_type), d0 = ot_live(&ex_dict_type),
             i0 = ot_live(&ex_int_type);
    unsigned long interval = om_lock_get_switch_interval();
    om_lock_set_switch_interval(200);
    om_gc_set_threshold(100, 5, 5);
    memset(auto_collections, 0, sizeof auto_collections);
    memset(all_collections, 0, sizeof all_collections);
    REQUIRE_EQ(om_gc_callback_add(count_cb, NULL), 0);
    om_lock_acquire();
    shared = ex_list_new(0);
    om_lock_release();
    REQUIRE(shared != NULL);
    om_lock_stats ls0, ls1;
    om_lock_get_stats(&ls0);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        REQUIRE_EQ(pthread_create(&th[i], NULL, turns_worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    om_lock_get_stats(&ls1);
    om_lock_acquire();
    for (size_t i = 0; i < ex_list_len(shared); i++)
        if (!pair_ok(ex_list_get_item(shared, i)))
            atomic_fetch_add(&bad_pairs, 1);
    om_decref(shared);
    shared = NULL;
    CHECK_GE(om_gc_collect(2), 0);
    CHECK_EQ(om_gc_collect(2), 0);
    om_lock_release();
    CHECK_EQ(atomic_load(&bad_pairs), 0);
    CHECK_EQ(atomic_load(&bad_results), 0);
    long autos = 0;
    for (int i = 0; i < NTHREADS; i++) {
        CHECK_MSG(auto_collections[i] > 0, "thread %d ran no automatic collection (%ld in all)", i,
                  all_collections[i]);
        autos += auto_collections[i];
    }
    printf("   %ld automatic collections, %llu lock hand-offs, %ld interleavings\n", autos,
           (unsigned long long)(ls1.switches - ls0.switches), interleavings);
    CHECK_GT(interleavings, NTHREADS); /* the threads really took turns */
    CHECK_EQ(ot_live(&ex_list_type), l0);
    CHECK_EQ(ot_live(&ex_tuple_type), t0);
    CHECK_EQ(ot_live(&ex_dict_type), d0);
    CHECK_EQ(ot_live(&ex_int_type), i0);
    CHECK_EQ(om_gc_garbage_count(), 0);
    CHECK_EQ(om_gc_callback_remove(count_cb, NULL), 0);
    om_gc_set_threshold(2000, 10, 10);
    om_lock_set_switch_interval(interval);
}

/* ------------------------------------------------------------ lock released in a finalizer */

/* fnode: a gt_link (gctest.h) whose finalizer releases the lock */
static atomic_int fin_in_finalizer, fin_other_done, fin_calls, fin_released;

static void fnode_release(om_object *self)
{
    (void)self;
    atomic_fetch_add(&fin_released, 1);
}

/* Release the lock, let the other thread run a whole turn, take it back */
static void fnode_finalize(om_object *self)
{
    (void)self;
    atomic_fetch_add(&fin_calls, 1);
    OM_BEGIN_ALLOW_THREADS
    atomic_store(&fin_in_finalizer, 1);
    for (long spin = 0; !atomic_load(&fin_other_done) && spin < 200000000L; spin++)
        sched_yield();
    atomic_store(&fin_other_done, 0);
    OM_END_ALLOW_THREADS
}

static om_type fnode_type = {
    OM_TYPE_INIT,
    .name = "lockfin", .size = sizeof(gt_link), .flags = OM_TYPE_GC,
    .traverse = gt_link_traverse, .clear = gt_link_clear, .finalize = fnode_finalize,
    .release = fnode_release,
};

#define ROUNDS (OM_TEST_SANITIZED ? 100 : 200)
static atomic_int stop_other;
static atomic_int other_busy, other_bad, other_turns;

/* While a collection on the main thread waits in a finalizer, this thread
 * takes the lock and works */
static void *other_worker(void *arg)
{
    (void)arg;
    my_index = -1;
    int turn = 0;
    for (;;) {
        while (!atomic_load(&fin_in_finalizer) && !atomic_load(&stop_other))
            sched_yield();
        if (!atomic_load(&fin_in_finalizer))
            break;
        atomic_store(&fin_in_finalizer, 0);
        om_lock_acquire();
        errno = 0;
        long r = om_gc_collect(turn % 3);
        if (r == -1 && errno == EBUSY)
            atomic_fetch_add(&other_busy, 1);
        else
            atomic_fetch_add(&other_bad, 1);
        if (om_gc_poll() != 0)
            atomic_fetch_add(&other_bad, 1);
        /* new objects, garbage, objects dying, freeze/unfreeze, counts */
        make_garbage(turn);
        om_object *p = make_pair(turn);
        om_object *l = ex_list_new(0);
        if (p && l) {
            for (int i = 0; i < 50; i++) {
                om_object *f = ex_float_new(i);
                if (f == NULL || ex_list_append(l, f) != 0)
                    atomic_fetch_add(&other_bad, 1);
                om_xdecref(f);
            }
            if (!pair_ok(p))
                atomic_fetch_add(&other_bad, 1);
        }
        om_xdecref(p);
        om_xdecref(l);
        size_t n = om_gc_count_objects(-1);
        (void)n;
        if (turn % 5 == 0) {
            om_gc_freeze();
            om_gc_unfreeze();
        }
        om_lock_yield();
        om_lock_release();
        atomic_fetch_add(&other_turns, 1);
        atomic_store(&fin_other_done, 1);
        turn++;
    }
    return NULL;
}

static void test_finalizer_releases_lock(void)
{
    om_gc_collect(2);
    uint64_t l0 = ot_live(&ex_list_type), t0 = ot_live(&ex_tuple_type), d0 = ot_live(&ex_dict_type);
    atomic_store(&stop_other, 0);
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, other_worker, NULL), 0);
    om_lock_acquire();
    int wrong = 0;
    for (int round = 0; round < ROUNDS; round++) {
        /* two finalizable nodes in a cycle, with a garbage list cycle beside */
        gt_link *a = (gt_link *)om_new(&fnode_type), *b = (gt_link *)om_new(&fnode_type);
        if (a == NULL || b == NULL) {
            CHECK(0);
            break;
        }
        a->ref = om_newref(OM_OBJ(b));
        b->ref = om_newref(OM_OBJ(a));
        om_decref(a);
        om_decref(b);
        make_garbage(round);
        int rel0 = atomic_load(&fin_released);
        long r = om_gc_collect(round % 3);
        /* 2 nodes, 2 lists, 1 dict; plus whatever the other thread left
         * as garbage in the generations collected */
        if (r < 5 || atomic_load(&fin_released) - rel0 != 2)
            wrong++;
    }
    om_lock_release();
    atomic_store(&stop_other, 1);
    pthread_join(th, NULL);
    CHECK_EQ(wrong, 0);
    CHECK_EQ(atomic_load(&fin_calls), 2 * ROUNDS);
    CHECK_EQ(atomic_load(&other_turns), 2 * ROUNDS);
    CHECK_EQ(atomic_load(&other_busy), 2 * ROUNDS);
    CHECK_EQ(atomic_load(&other_bad), 0);
    om_lock_acquire();
    CHECK_GE(om_gc_collect(2), 0);
    CHECK_EQ(om_gc_collect(2), 0);
    om_lock_release();
    CHECK_EQ(ot_live(&ex_list_type), l0);
    CHECK_EQ(ot_live(&ex_tuple_type), t0);
    CHECK_EQ(ot_live(&ex_dict_type), d0);
    CHECK_EQ(ot_live(&fnode_type), 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_threads_take_turns),
        CHECK_CASE(test_finalizer_releases_lock),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
