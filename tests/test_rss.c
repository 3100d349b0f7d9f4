/*
 * test_rss.c — memory goes back to the kernel.  Allocate ~200 MiB of small
 * blocks, ~100 MiB of medium ones and some large ones (all touched), free
 * them, and the resident set size must come back to within 20 MiB of where
 * it started: (a) after om_trim(0), (b) with no om_trim, once the
 * purge delay (and the large cache's decay time) has passed and one
 * allocator call ran, (c) with one live
 * block left in every arena (the case plain pymalloc cannot handle: empty
 * pools inside live arenas must be purged), (d) idle for 100 ms with no
 * allocator call: with the background purge thread RSS comes back within
 * 10% of the baseline, without it the memory stays until the next call.
 *
 * The test's own bookkeeping lives in an mmap'ed array touched before the
 * baseline, so libc (or a sanitizer's quarantine) does not blur the numbers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

#define SMALL_BYTES (OM_TEST_SANITIZED ? 50 * TU_MIB : 200 * TU_MIB)
#define MEDIUM_BYTES (OM_TEST_SANITIZED ? 25 * TU_MIB : 100 * TU_MIB)
#define LARGE_BYTES (OM_TEST_SANITIZED ? 16 * TU_MIB : 48 * TU_MIB)
#define MARGIN (20 * TU_MIB)
#define MAX_BLOCKS ((size_t)2 << 20)

static void **blocks;
static size_t nblocks;

static void record(void *p, size_t n)
{
    REQUIRE(p != NULL);
    REQUIRE(nblocks < MAX_BLOCKS);
    memset(p, 0x6B, n);
    blocks[nblocks++] = p;
}

static void allocate_everything(uint64_t seed)
{
    uint64_t rng = seed;
    size_t small = 0, medium = 0, large = 0;
    nblocks = 0;
    while (small < SMALL_BYTES || medium < MEDIUM_BYTES) {
        if (small < SMALL_BYTES) {
            size_t n = tu_range(&rng, 16, 512);
            record(om_malloc(n), n);
            small += n;
        }
        if (medium < MEDIUM_BYTES && tu_rand(&rng) % 4 == 0) {
            size_t n = tu_range(&rng, 513, 64 * TU_KIB);
            record(om_malloc(n), n);
            medium += n;
        }
    }
    while (large < LARGE_BYTES) {
        size_t n = tu_range(&rng, 200 * TU_KIB, 6 * TU_MIB);
        record(om_malloc(n), n);
        large += n;
    }
}

static size_t peak_check(size_t base)
{
    size_t rss = tu_rss_bytes();
    size_t total = SMALL_BYTES + MEDIUM_BYTES + LARGE_BYTES;
    /* the measurement works: the blocks really were resident */
    CHECK_MSG(rss >= base + total * 9 / 10, "peak RSS %zu MiB, base %zu MiB, allocated %zu MiB",
              rss / TU_MIB, base / TU_MIB, total / TU_MIB);
    return rss;
}

static void report(const char *what, size_t base, size_t peak, size_t after)
{
    printf("%s: base %zu MiB, peak %zu MiB, after %zu MiB\n", what, base / TU_MIB, peak / TU_MIB,
           after / TU_MIB);
    CHECK_MSG(after <= base + MARGIN, "%s: RSS %zu MiB is more than %zu MiB above %zu MiB", what,
              after / TU_MIB, MARGIN / TU_MIB, base / TU_MIB);
}

static void test_rss_after_collect(void)
{
    om_trim(1);
    size_t base = tu_rss_bytes();
    allocate_everything(1);
    size_t peak = peak_check(base);
    for (size_t i = 0; i < nblocks; i++)
        om_free(blocks[i]);
    om_trim(0);
    report("om_trim(0)", base, peak, tu_rss_bytes());
    CHECK_EQ(om_heap_check(0), 0);
}

static void test_rss_after_delay(void)
{
    om_trim(1);
    long old = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    long old_decay = om_option_get(OM_OPTION_LARGE_DECAY_MS);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 10);
    om_option_set(OM_OPTION_LARGE_DECAY_MS, 10); /* the large cache's own delay */
    size_t base = tu_rss_bytes();
    allocate_everything(2);
    size_t peak = peak_check(base);
    for (size_t i = 0; i < nblocks; i++)
        om_free(blocks[i]);
    tu_sleep_ms(50); /* a busy heap ticks every 3 delays (heap.c) */
    /* one allocator call runs the delayed purge: one of a class the mix did
     * not use, so that it leaves the fast path, which does not read the clock */
    void *p = om_malloc(100000);
    om_free(p);
    report("delayed purge", base, peak, tu_rss_bytes());
    om_option_set(OM_OPTION_PURGE_DELAY_MS, old);
    om_option_set(OM_OPTION_LARGE_DECAY_MS, old_decay);
}

/* A small open-addressing set of arena bases. */
static uintptr_t arena_set[8192];

static int arena_first_seen(uintptr_t a)
{
    size_t i = (size_t)((a >> 20) * 0x9e3779b97f4a7c15u >> 51) & 8191;
    while (arena_set[i] != 0) {
        if (arena_set[i] == a)
            return 0;
        i = (i + 1) & 8191;
    }
    arena_set[i] = a;
    return 1;
}

static void test_rss_one_live_block_per_arena(void)
{
    om_trim(1);
    size_t base = tu_rss_bytes();
    allocate_everything(3);
    size_t peak = peak_check(base);
    memset(arena_set, 0, sizeof arena_set);
    size_t kept = 0, arenas_small = 0;
    for (size_t i = 0; i < nblocks; i++) {
        om_block_info bi;
        CHECK_EQ(om_block_describe(blocks[i], &bi), 0);
        if (bi.kind != OM_BLOCK_LARGE && arena_first_seen((uintptr_t)bi.arena)) {
            kept++;
            arenas_small += bi.kind == OM_BLOCK_SMALL;
            continue; /* stays live, pins its arena */
        }
        om_free(blocks[i]);
        blocks[i] = NULL;
    }
    om_stats s;
    om_stats_get(&s);
    CHECK_EQ(s.arenas_current, kept);
    CHECK_GE(arenas_small, SMALL_BYTES / TU_ARENA_SIZE);
    om_trim(0);
    report("one live block per arena", base, peak, tu_rss_bytes());
    for (size_t i = 0; i < nblocks; i++)
        om_free(blocks[i]);
    CHECK_EQ(om_heap_check(0), 0);
}

/* Freed, then idle: no allocator call at all.  Without the purge thread
 * the empty arenas wait for the next call (so this would fail); with it,
 * 100 ms of idleness is enough for RSS to come back within 10% of where it
 * started (and within MARGIN, as the other cases).  On a machine loaded
 * by other processes the thread may not get the CPU within 100 ms (2 runs
 * of 8 missed it at a load average of 8 on 2 cores): the scenario is tried
 * up to three times, and fails if it misses every time. */
static void test_rss_idle_with_background(void)
{
    om_trim(1);
    long old = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 10);
    CHECK_EQ(om_background_start(), 0);
    CHECK(om_background_running());
    size_t base = 0, after = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        base = tu_rss_bytes();
        allocate_everything(4);
        size_t peak = peak_check(base);
        for (size_t i = 0; i < nblocks; i++)
            om_free(blocks[i]);
        nblocks = 0;
        tu_sleep_ms(100);
        after = tu_rss_bytes();
        printf("attempt %d: ", attempt + 1);
        if (after <= base + base / 10 + TU_MIB) {
            report("idle, background thread", base, peak, after);
            break;
        }
        printf("idle, background thread: base %zu MiB, after %zu MiB: again\n", base / TU_MIB, after / TU_MIB);
        tu_sleep_ms(200); /* whatever is left goes back before the next try */
    }
    CHECK_MSG(after <= base + base / 10 + TU_MIB, "idle 100 ms: RSS %zu KiB, base %zu KiB", after / 1024,
              base / 1024);
    om_background_stop();
    CHECK(!om_background_running());
    CHECK_EQ(om_heap_check(0), 0);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, old);
}

/* The same without the thread: whatever is still resident when the frees
 * end stays so through the idle time (what the thread is for). */
static void test_rss_idle_without_background(void)
{
    om_trim(1);
    long old = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 10);
    size_t base = tu_rss_bytes();
    allocate_everything(5);
    peak_check(base);
    for (size_t i = 0; i < nblocks; i++)
        om_free(blocks[i]);
    size_t freed = tu_rss_bytes();
    tu_sleep_ms(100);
    size_t after = tu_rss_bytes();
    printf("idle, no background thread: base %zu MiB, after the frees %zu MiB, 100 ms later %zu MiB\n",
           base / TU_MIB, freed / TU_MIB, after / TU_MIB);
    CHECK_GT(freed, base + MARGIN); /* the purge ticks during the frees left some */
    CHECK_GE(after + TU_MIB, freed);
    om_trim(0);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, old);
}

int main(int argc, char **argv)
{
    if (OM_TEST_TSAN) {
        printf("RSS is not meaningful under TSan: skipped\n0 passed, 0 failed\n");
        return CHECK_SKIP;
    }
    blocks = mmap(NULL, MAX_BLOCKS * sizeof *blocks, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED)
        return 1;
    memset(blocks, 0, MAX_BLOCKS * sizeof *blocks); /* resident before any baseline */
    static const check_case cases[] = {
        CHECK_CASE(test_rss_after_collect),
        CHECK_CASE(test_rss_after_delay),
        CHECK_CASE(test_rss_one_live_block_per_arena),
        CHECK_CASE(test_rss_idle_without_background),
        CHECK_CASE(test_rss_idle_with_background),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
