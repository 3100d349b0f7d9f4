/*
 * test_trace_threads.c — tracing while threads allocate (runs under TSan
 * with the other threaded tests):
 *   - sampling at 64 KiB leaves the fast paths open and counts per heap:
 *     four threads allocate, free their own blocks and each other's, and
 *     once all is freed the traced total is 0 and the heap checks clean;
 *   - the main thread switches tracing on and off, sampled and full, while
 *     the workers run: every switch changes the gates and the epoch under
 *     threads that are in the middle of allocations and frees.
 * Skipped (77) in a build without libunwind (om_trace_start: ENOSYS).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "objmem.h"

enum { WORKERS = 4, OPS = 60000, SLOTS = 256 };

typedef struct handoff {
    pthread_mutex_t lock;
    void *box[64];
    int n;
} handoff;

static handoff hand = {.lock = PTHREAD_MUTEX_INITIALIZER};
static atomic_int stop_switching;

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick_size(uint64_t r) {
    switch (r % 10) {
    case 0:
        return 600 + r % 20000; /* medium */
    case 1:
        return r % 97 == 0 ? 300000 : 48; /* now and then a large one */
    default:
        return 1 + r % 256; /* small */
    }
}

static void *worker(void *arg) {
    uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15u + 1;
    void *slot[SLOTS] = {0};
    for (int i = 0; i < OPS; i++) {
        uint64_t r = next(&s);
        int k = (int)(r % SLOTS);
        if (slot[k]) {
            unsigned char *p = slot[k];
            CHECK(p[0] == (unsigned char)k); /* contents kept, sampled or not */
            if (r % 5 == 0) { /* to another thread */
                pthread_mutex_lock(&hand.lock);
                if (hand.n < 64) {
                    hand.box[hand.n++] = p;
                    p = NULL;
                }
                pthread_mutex_unlock(&hand.lock);
            }
            om_free(p);
            slot[k] = NULL;
        } else {
            size_t n = pick_size(r >> 8);
            unsigned char *p = (r & 1) ? om_malloc(n) : om_calloc(1, n);
            if (!p) {
                CHECK(p != NULL);
                return NULL;
            }
            p[0] = (unsigned char)k;
            if (r % 7 == 0) { /* grown in place or moved: contents kept */
                unsigned char *q = om_realloc(p, n * 2);
                if (!q) {
                    CHECK(q != NULL);
                    om_free(p);
                    return NULL;
                }
                p = q;
                CHECK(p[0] == (unsigned char)k);
            }
            slot[k] = p;
        }
        if (i % 64 == 0) { /* free what others handed over */
            pthread_mutex_lock(&hand.lock);
            while (hand.n)
                om_free(hand.box[--hand.n]);
            pthread_mutex_unlock(&hand.lock);
        }
    }
    for (int k = 0; k < SLOTS; k++)
        om_free(slot[k]);
    return NULL;
}

static void run_workers(void) {
    pthread_t t[WORKERS];
    for (intptr_t i = 0; i < WORKERS; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_lock(&hand.lock);
    while (hand.n)
        om_free(hand.box[--hand.n]);
    pthread_mutex_unlock(&hand.lock);
}

static void test_sampled_threads(void) {
    om_option_set(OM_OPTION_TRACE_SAMPLE, 64 << 10);
    REQUIRE_EQ(om_trace_start(4), 0);
    run_workers();
    uint64_t cur = 1, peak = 0;
    om_trace_get_traced_memory(&cur, &peak);
    CHECK_EQ(cur, 0);
    CHECK(peak > 0); /* something was sampled */
    CHECK_EQ(om_heap_check(0), 0);
    om_trace_stop();
    om_option_set(OM_OPTION_TRACE_SAMPLE, 0);
}

static void *switcher(void *arg) {
    (void)arg;
    for (int i = 0; !atomic_load(&stop_switching); i++) {
        om_option_set(OM_OPTION_TRACE_SAMPLE, i % 2 ? 64 << 10 : 0);
        CHECK_EQ(om_trace_start(1 + i % 3), 0);
        om_trace_stop();
    }
    return NULL;
}

static void test_switching_under_threads(void) {
    pthread_t sw;
    atomic_store(&stop_switching, 0);
    REQUIRE(pthread_create(&sw, NULL, switcher, NULL) == 0);
    run_workers();
    atomic_store(&stop_switching, 1);
    pthread_join(sw, NULL);
    om_option_set(OM_OPTION_TRACE_SAMPLE, 0);
    CHECK_EQ(om_heap_check(0), 0);
    /* tracing again from a clean start sees exactly what is made now */
    REQUIRE_EQ(om_trace_start(2), 0);
    void *p = om_malloc(1000);
    uint64_t cur = 0;
    om_trace_get_traced_memory(&cur, NULL);
    CHECK_EQ(cur, 1000);
    om_free(p);
    om_trace_get_traced_memory(&cur, NULL);
    CHECK_EQ(cur, 0);
    om_trace_stop();
}

int main(int argc, char **argv) {
    int rc = om_trace_start(1);
    if (rc == ENOSYS)
        return 77; /* no libunwind in this build */
    om_trace_stop();
    static const check_case cases[] = {
        CHECK_CASE(test_sampled_threads),
        CHECK_CASE(test_switching_under_threads),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
