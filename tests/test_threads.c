/*
 * test_threads.c — per-thread heaps under stress, in the manner of
 * mimalloc's test-stress: threads allocate, check, free and trade blocks
 * through a shared exchange array (frees from other threads), exit while
 * their blocks are still live elsewhere, and new threads start after others
 * have exited (abandoned heaps).  Plus a mutex/condvar producer-consumer
 * queue, a live owner draining remote frees, and heap accounting.
 * Per-thread seeds are deterministic.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

#define THREADS (OM_TEST_SANITIZED ? 4 : 8)
#define ROUNDS (OM_TEST_SANITIZED ? 3 : 6)
#define ITER OM_TEST_SCALE(20000)
#define TRANSFERS 1000

/* ---- self-checking blocks: word 0 = length in words, then a cookie per
 * word keyed by the block's own address */
static uintptr_t cookie(const void *p, size_t i)
{
    return ((uintptr_t)p * 0x9e3779b97f4a7c15u) ^ (i * 0x2545f4914f6cdd1du);
}

static uintptr_t *alloc_items(size_t words, uint64_t *rng)
{
    if (words < 2)
        words = 2;
    uintptr_t *p;
    switch (tu_rand(rng) % 8) {
    case 0: p = om_calloc(words, sizeof(uintptr_t)); break;
    case 1: p = om_aligned_alloc(64, words * sizeof(uintptr_t)); break;
    default: p = om_malloc(words * sizeof(uintptr_t)); break;
    }
    if (p == NULL) {
        CHECK_MSG(0, "allocation of %zu words failed", words);
        return NULL;
    }
    p[0] = words;
    for (size_t i = 1; i < words; i++)
        p[i] = cookie(p, i);
    return p;
}

static int items_ok(const uintptr_t *p)
{
    if (p == NULL)
        return 1;
    size_t words = p[0];
    if (words < 2 || words > 4 * TU_MIB)
        return 0;
    if (om_usable_size(p) < words * sizeof(uintptr_t))
        return 0;
    for (size_t i = 1; i < words; i++)
        if (p[i] != cookie(p, i))
            return 0;
    return 1;
}

static void free_items(uintptr_t *p)
{
    if (p == NULL)
        return;
    CHECK_MSG(items_ok(p), "block %p damaged", (void *)p);
    om_free(p);
}

static size_t pick_words(uint64_t *rng)
{
    uint64_t r = tu_rand(rng) % 1000;
    if (r == 0)
        return tu_range(rng, 16 * 1024, OM_TEST_SANITIZED ? 40 * 1024 : 100 * 1024); /* large */
    if (r < 20)
        return tu_range(rng, 65, 16 * 1024); /* medium */
    return tu_range(rng, 2, 64);             /* small */
}

static _Atomic(uintptr_t *) transfer[TRANSFERS];

typedef struct worker {
    pthread_t th;
    uint64_t seed;
    long iterations;
    int check_heap;
} worker;

static void *stress(void *arg)
{
    worker *w = arg;
    uint64_t rng = w->seed;
    size_t cap = 512, n = 0;
    uintptr_t **data = calloc(cap, sizeof *data);
    if (data == NULL)
        return NULL;
    for (long it = 0; it < w->iterations; it++) {
        uint64_t r = tu_rand(&rng) % 100;
        if (r < 45 || n == 0) {
            if (n == cap) { /* full: free one instead */
                size_t i = (size_t)tu_range(&rng, 0, n - 1);
                free_items(data[i]);
                data[i] = data[--n];
                continue;
            }
            data[n++] = alloc_items(pick_words(&rng), &rng);
        } else if (r < 55) {
            /* realloc an own (or adopted) block, check, rewrite */
            size_t i = (size_t)tu_range(&rng, 0, n - 1);
            uintptr_t *p = data[i];
            if (p == NULL)
                continue;
            CHECK_MSG(items_ok(p), "block %p damaged before realloc", (void *)p);
            size_t words = pick_words(&rng);
            if (words < 2)
                words = 2;
            uintptr_t *q = om_realloc(p, words * sizeof(uintptr_t));
            CHECK(q != NULL);
            if (q == NULL)
                continue;
            q[0] = words;
            for (size_t k = 1; k < words; k++)
                q[k] = cookie(q, k);
            data[i] = q;
        } else if (r < 70) {
            /* trade a block with whichever thread comes next */
            size_t i = (size_t)tu_range(&rng, 0, n - 1);
            size_t k = (size_t)tu_range(&rng, 0, TRANSFERS - 1);
            uintptr_t *got = atomic_exchange(&transfer[k], data[i]);
            CHECK_MSG(items_ok(got), "traded block %p damaged", (void *)got);
            if (got != NULL)
                data[i] = got;
            else
                data[i] = data[--n];
        } else {
            size_t i = (size_t)tu_range(&rng, 0, n - 1);
            free_items(data[i]);
            data[i] = data[--n];
        }
        if (w->check_heap && it % 4096 == 0)
            CHECK_EQ(om_heap_check(0), 0);
    }
    /* leave a few blocks in the exchange array: they outlive this thread */
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0) {
            size_t k = (size_t)tu_range(&rng, 0, TRANSFERS - 1);
            uintptr_t *got = atomic_exchange(&transfer[k], data[i]);
            free_items(got);
        } else {
            free_items(data[i]);
        }
    }
    free(data);
    CHECK_EQ(om_heap_check(0), 0);
    return NULL;
}

static void run_workers(int count, long iterations, uint64_t seed_base)
{
    worker w[16];
    for (int i = 0; i < count; i++) {
        w[i].seed = seed_base * 1000 + (uint64_t)i + 1;
        w[i].iterations = iterations;
        w[i].check_heap = 1;
        CHECK_EQ(pthread_create(&w[i].th, NULL, stress, &w[i]), 0);
    }
    for (int i = 0; i < count; i++)
        pthread_join(w[i].th, NULL);
}

static uint64_t blocks_in_use(void)
{
    om_stats st;
    om_stats_get(&st);
    uint64_t used = 0;
    for (int c = 0; c < OM_NUM_CLASSES; c++)
        used += st.classes[c].blocks_used;
    return used + st.large_count;
}

static void drain_transfers(void)
{
    for (size_t k = 0; k < TRANSFERS; k++)
        free_items(atomic_exchange(&transfer[k], NULL));
}

/* Rounds of threads: each round's threads start after the previous round's
 * exited, and free what those left behind. */
static void test_stress_rounds(void)
{
    uint64_t base = blocks_in_use();
    for (int round = 0; round < ROUNDS; round++)
        run_workers(THREADS, ITER, (uint64_t)round + 1);
    /* staggered: short-lived threads exit while long ones run */
    worker w[16];
    for (int i = 0; i < THREADS; i++) {
        w[i].seed = 777 + (uint64_t)i;
        w[i].iterations = (i % 2) ? ITER / 20 : ITER;
        w[i].check_heap = 0;
        CHECK_EQ(pthread_create(&w[i].th, NULL, stress, &w[i]), 0);
    }
    for (int i = 1; i < THREADS; i += 2)
        pthread_join(w[i].th, NULL);
    for (int i = 1; i < THREADS; i += 2) { /* restart them: new threads, old heaps */
        w[i].seed += 100;
        CHECK_EQ(pthread_create(&w[i].th, NULL, stress, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].th, NULL);

    drain_transfers();
    CHECK_EQ(om_heap_check(1), 0);
    om_trim(1);
    CHECK_EQ(om_heap_check(1), 0);
    /* every block was freed by someone: nothing is counted as in use */
    CHECK_EQ(blocks_in_use(), base);
}

/* ---- producer/consumer through a mutex-protected ring */
#define QCAP 256
static struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    uintptr_t *ring[QCAP];
    size_t head, count;
    int producers_left;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
        { 0 }, 0, 0, 0 };

static void q_push(uintptr_t *p)
{
    pthread_mutex_lock(&q.mu);
    while (q.count == QCAP)
        pthread_cond_wait(&q.not_full, &q.mu);
    q.ring[(q.head + q.count++) % QCAP] = p;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
}

/* NULL when the queue is empty and every producer is done */
static uintptr_t *q_pop(void)
{
    pthread_mutex_lock(&q.mu);
    while (q.count == 0 && q.producers_left > 0)
        pthread_cond_wait(&q.not_empty, &q.mu);
    uintptr_t *p = NULL;
    if (q.count > 0) {
        p = q.ring[q.head];
        q.head = (q.head + 1) % QCAP;
        q.count--;
        pthread_cond_signal(&q.not_full);
    }
    pthread_mutex_unlock(&q.mu);
    return p;
}

static void *producer(void *arg)
{
    worker *w = arg;
    uint64_t rng = w->seed;
    for (long i = 0; i < w->iterations; i++)
        q_push(alloc_items(pick_words(&rng), &rng));
    CHECK_EQ(om_heap_check(0), 0);
    pthread_mutex_lock(&q.mu);
    q.producers_left--;
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
    return NULL; /* exits with its blocks still queued or held by consumers */
}

static void *consumer(void *arg)
{
    worker *w = arg;
    uint64_t rng = w->seed;
    uintptr_t *held[64] = { 0 };
    uintptr_t *p;
    while ((p = q_pop()) != NULL) {
        /* hold some blocks a while so they outlive their producer */
        size_t k = (size_t)tu_range(&rng, 0, 63);
        free_items(held[k]);
        held[k] = p;
    }
    for (size_t k = 0; k < 64; k++)
        free_items(held[k]);
    CHECK_EQ(om_heap_check(0), 0);
    return NULL;
}

/* A thread created late (maybe on an adopted heap) allocates and frees
 * correctly; then everything is back and the heap is consistent. */
static void finish_with_late_thread(uint64_t seed, uint64_t base)
{
    worker late = { .seed = seed, .iterations = ITER / 4, .check_heap = 1 };
    CHECK_EQ(pthread_create(&late.th, NULL, stress, &late), 0);
    pthread_join(late.th, NULL);
    drain_transfers();
    om_trim(1);
    CHECK_EQ(om_heap_check(1), 0);
    CHECK_EQ(blocks_in_use(), base);
}

static void test_producer_consumer(void)
{
    uint64_t base = blocks_in_use();
    enum { PRODUCERS = 3, CONSUMERS = 3 };
    worker pw[PRODUCERS], cw[CONSUMERS];
    q.producers_left = PRODUCERS;
    for (int i = 0; i < PRODUCERS; i++) {
        pw[i].seed = 50 + (uint64_t)i;
        pw[i].iterations = OM_TEST_SCALE(30000) / (i + 1); /* they finish at different times */
        CHECK_EQ(pthread_create(&pw[i].th, NULL, producer, &pw[i]), 0);
    }
    for (int i = 0; i < CONSUMERS; i++) {
        cw[i].seed = 90 + (uint64_t)i;
        CHECK_EQ(pthread_create(&cw[i].th, NULL, consumer, &cw[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pw[i].th, NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(cw[i].th, NULL);
    CHECK_EQ(q.count, 0);
    /* a thread created now still allocates and frees correctly */
    finish_with_late_thread(4242, base);
}

/* ---- a live owner: frees from main are remote until the owner drains */
enum { OWNED = 500 };
static uintptr_t *owned[OWNED];
static pthread_barrier_t bar;

static void *owner(void *arg)
{
    (void)arg;
    uint64_t rng = 99;
    for (int i = 0; i < OWNED; i++)
        owned[i] = alloc_items(tu_range(&rng, 2, 40), &rng);
    pthread_barrier_wait(&bar); /* 1: main may look at and free them */
    pthread_barrier_wait(&bar); /* 2: main has freed them */
    om_trim(0);              /* drain the remote frees */
    CHECK_EQ(om_heap_check(1), 0);
    /* drained blocks are reusable by the owner */
    void *again[OWNED];
    for (int i = 0; i < OWNED; i++) {
        again[i] = om_malloc(64);
        CHECK(again[i] != NULL);
    }
    for (int i = 0; i < OWNED; i++)
        om_free(again[i]);
    pthread_barrier_wait(&bar); /* 3: owner done, still alive */
    pthread_barrier_wait(&bar); /* 4: main has looked at the stats */
    return NULL;
}

static void test_remote_free_live_owner(void)
{
    om_stats s0, s1, s2;
    om_stats_get(&s0);
    uint64_t base = blocks_in_use();
    CHECK_EQ(pthread_barrier_init(&bar, NULL, 2), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, owner, NULL), 0);
    pthread_barrier_wait(&bar); /* 1 */
    om_stats_get(&s1);
    CHECK_GE(s1.heaps_active, s0.heaps_active + 1);
    CHECK_EQ(blocks_in_use(), base + OWNED);
    for (int i = 0; i < OWNED; i++) {
        CHECK(om_owns(owned[i]));
        free_items(owned[i]);
    }
    om_stats_get(&s2);
    CHECK_GE(s2.remote_frees - s1.remote_frees, OWNED);
    pthread_barrier_wait(&bar); /* 2 */
    pthread_barrier_wait(&bar); /* 3 */
    /* the owner is alive and quiescent: its drained heap counts exactly */
    CHECK_EQ(blocks_in_use(), base);
    pthread_barrier_wait(&bar); /* 4 */
    pthread_join(th, NULL);
    pthread_barrier_destroy(&bar);
    om_stats s3;
    om_stats_get(&s3);
    CHECK_EQ(s3.heaps_active, s0.heaps_active);
}

/* ---- heaps of exited threads with live blocks */
static void *leave_blocks(void *arg)
{
    uintptr_t **out = arg;
    uint64_t rng = 5;
    for (int i = 0; i < 100; i++)
        out[i] = alloc_items(tu_range(&rng, 2, 600), &rng);
    return NULL;
}

static void test_abandoned_heap(void)
{
    om_stats s0;
    om_stats_get(&s0);
    uint64_t base = blocks_in_use();
    static uintptr_t *left[4][100];
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        CHECK_EQ(pthread_create(&th[t], NULL, leave_blocks, left[t]), 0);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    om_stats s1;
    om_stats_get(&s1);
    CHECK_EQ(s1.heaps_active, s0.heaps_active);
    CHECK_GE(s1.heaps_abandoned, 1);
    CHECK_EQ(blocks_in_use(), base + 400);
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 100; i++) {
            CHECK(om_owns(left[t][i]));
            free_items(left[t][i]);
        }
    /* a new thread after all that works, possibly on an adopted heap */
    finish_with_late_thread(31337, base);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_remote_free_live_owner),
        CHECK_CASE(test_abandoned_heap),
        CHECK_CASE(test_stress_rounds),
        CHECK_CASE(test_producer_consumer),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
