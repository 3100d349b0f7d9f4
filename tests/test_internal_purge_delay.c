/*
 * test_internal_purge_delay.c — the heap's adaptive purge delay
 * (src/alloc/heap.c, arena.c), one test per transition:
 *   a tick that finds purged pools taken again since the last one
 *     → the heap's delay doubles (delay_shift + 1), up to its bound;
 *   a tick with pools taken but none of them purged before → unchanged;
 *   a quiet tick with no refault → the delay halves (delay_shift - 1);
 *   quiet for the option's delay, with the heap's own at its longest →
 *     everything purged (the heap's delay stretches busy purges only);
 *   a pool taken within the delay → the tick is not quiet: it purges only
 *     the pools that were already dirty at the previous tick; a delay
 *     later, with nothing taken, it is quiet and purges everything.
 * Ticks are run by hand (omi_heap_maybe_purge, as the slow paths run it),
 * with the option's delay at 1 ms (50 ms where a test needs a tick to
 * come soon enough after an allocation).
 */
#include <unistd.h>

#include "check.h"

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

#define SIZE 48
#define POOLS 12

static void *blocks[POOLS * 400];
static size_t nblocks;

static om_heap *heap(void) { return omi_tls_heap; }

/* Enough blocks of one class to fill POOLS pools. */
static void fill(void) {
    size_t n = (size_t)POOLS * omi_class_capacity(omi_size_class(SIZE));
    REQUIRE(n <= sizeof blocks / sizeof blocks[0]);
    for (size_t i = 0; i < n; i++) {
        blocks[i] = om_malloc(SIZE);
        REQUIRE(blocks[i] != NULL);
    }
    nblocks = n;
}

static void empty(void) {
    for (size_t i = 0; i < nblocks; i++)
        om_free(blocks[i]);
    nblocks = 0;
}

/* A purge tick as the allocator's slow paths run it. */
static void tick_now(void) {
    om_heap *h = heap();
    int locked = omi_heap_lock_arenas(h);
    h->purge_deadline_ns = 1; /* due */
    omi_heap_maybe_purge(h);
    omi_heap_unlock_arenas(h, locked);
}

/* The same after longer than the heap's busy tick interval. */
static void tick(void) {
    usleep((useconds_t)(((1000u << heap()->delay_shift) * 3) + 2000));
    tick_now();
}

/* Free everything and tick until nothing of it is dirty. */
static void purge_all(void) {
    empty();
    for (int i = 0; i < 4 && heap()->ndirty; i++)
        tick();
    CHECK_EQ(heap()->ndirty, 0);
}

static void test_refaults_double_the_delay(void) {
    om_heap *h = heap();
    fill();
    purge_all();
    unsigned before = h->delay_shift;
    fill(); /* the purged pools again */
    CHECK_GE(h->refaults, 4);
    tick();
    CHECK_EQ(h->delay_shift, before + 1);
    CHECK_EQ(h->refaults, 0);
    empty();
}

/* Everything dirty purged now, as a quiet tick would, without adapting. */
static void purge_now(void) {
    om_heap *h = heap();
    int locked = omi_heap_lock_arenas(h);
    omi_pool_release_retained(h);
    omi_arena_purge(h, 1, 1);
    omi_heap_unlock_arenas(h, locked);
}

static void test_delay_is_bounded(void) {
    om_heap *h = heap();
    /* a program that frees and rebuilds, never quiet for a tick */
    for (int i = 0; i < 10; i++) {
        empty();
        purge_now();
        fill();
        tick();
    }
    empty();
    CHECK_EQ(h->delay_shift, 6);
    /* quiet for the option's delay, far less than the heap's own: all of
     * it goes back all the same (the heap's delay stretches busy purges) */
    CHECK_GT(h->ndirty, 0);
    usleep(5000);
    tick_now();
    CHECK_EQ(h->ndirty, 0);
    /* a quiet heap comes back down, one halving a tick */
    purge_all();
    unsigned top = h->delay_shift;
    tick();
    tick();
    CHECK_LT(h->delay_shift, top);
    while (h->delay_shift)
        tick();
    CHECK_EQ(h->delay_shift, 0);
}

static void test_fresh_pools_are_no_refault(void) {
    om_heap *h = heap();
    /* dirty pools taken again: no purge happened in between (none of the
     * slow paths' ticks either, whatever the machine's load) */
    h->purge_deadline_ns = UINT64_MAX;
    fill();
    empty();
    unsigned before = h->delay_shift;
    uint32_t r0 = h->refaults;
    fill();
    CHECK_EQ(h->refaults, r0);
    tick_now(); /* busy: neither grows nor shrinks */
    CHECK_EQ(h->delay_shift, before);
    empty();
    purge_all();
}

static void test_taking_pools_is_not_quiet(void) {
    om_heap *h = heap();
    purge_all();
    /* a delay long enough that the tick surely comes within it of the
     * allocations before it, even on a loaded machine */
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 50);
    unsigned shift = h->delay_shift;
    h->delay_shift = 0;
    fill();
    empty();
    uint64_t dirty = h->ndirty;
    CHECK_GT(dirty, 0);
    /* a pool taken a whole delay after they went dirty, just before the
     * tick: it is busy, and purges none of them (they were fresh), only
     * ages them */
    h->purge_deadline_ns = UINT64_MAX; /* no tick of the slow paths meanwhile */
    usleep(60000);
    enum { M = 100 }; /* more than a 20 KiB class's pool holds: one taken at least */
    void *p[M];
    for (int i = 0; i < M; i++) {
        p[i] = om_malloc(20000);
        REQUIRE(p[i] != NULL);
    }
    tick_now();
    CHECK_GE(h->ndirty, dirty);
    for (int i = 0; i < M; i++)
        om_free(p[i]);
    /* a delay later with nothing taken: quiet, everything goes (the
     * heap's delay: taking pools purged before may have doubled it) */
    usleep((useconds_t)((50000u << h->delay_shift) + 10000));
    tick_now();
    CHECK_EQ(h->ndirty, 0);
    h->delay_shift = (uint8_t)shift;
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 1);
    purge_all();
}

int main(int argc, char **argv) {
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 1);
    void *warm = om_malloc(SIZE); /* this thread's heap */
    if (!warm)
        return 1;
    static const check_case cases[] = {
        CHECK_CASE(test_refaults_double_the_delay),
        CHECK_CASE(test_fresh_pools_are_no_refault),
        CHECK_CASE(test_taking_pools_is_not_quiet),
        CHECK_CASE(test_delay_is_bounded),
    };
    int rc = check_main(cases, CHECK_COUNT(cases), argc, argv);
    om_free(warm);
    return rc;
}
