/*
 * test_arenas.c — arenas: om_heap_arenas order (fullest first, i.e.
 * ascending free pools), return of wholly free arenas to the OS except one
 * spare per heap, and the purge of empty pools inside live arenas.
 *
 * Every case starts and ends with nothing allocated and om_trim(1), so
 * this (single-threaded) process holds no arena between cases.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

#define MAX_ARENAS 64

static om_block_info describe(const void *p)
{
    om_block_info bi;
    memset(&bi, 0, sizeof bi);
    CHECK_EQ(om_block_describe(p, &bi), 0);
    return bi;
}

static om_stats stats(void)
{
    om_stats s;
    om_stats_get(&s);
    return s;
}

static void start_clean(void)
{
    om_trim(1);
    om_stats s = stats();
    CHECK_EQ(s.arenas_current, 0);
    CHECK_EQ(s.bytes_arena_mapped, 0);
}

/* Blocks of `size` until `narenas` distinct arenas are completely used
 * (every pool holds one of our blocks) plus one block in the next arena. */
typedef struct fill {
    void **blocks;
    size_t n, cap;
    void *arena[MAX_ARENAS];
    size_t narenas;
} fill;

static size_t arena_slot(fill *f, void *arena)
{
    for (size_t i = 0; i < f->narenas; i++)
        if (f->arena[i] == arena)
            return i;
    if (f->narenas < MAX_ARENAS)
        f->arena[f->narenas++] = arena;
    return f->narenas - 1;
}

static int fill_arenas(fill *f, size_t size, size_t narenas)
{
    memset(f, 0, sizeof *f);
    f->cap = 1024;
    f->blocks = malloc(f->cap * sizeof *f->blocks);
    if (f->blocks == NULL)
        return 0;
    for (;;) {
        void *p = om_malloc(size);
        if (p == NULL)
            return 0;
        if (f->n == f->cap) {
            void **nb = realloc(f->blocks, 2 * f->cap * sizeof *nb);
            if (nb == NULL)
                return 0;
            f->blocks = nb;
            f->cap *= 2;
        }
        f->blocks[f->n++] = p;
        arena_slot(f, describe(p).arena);
        if (f->narenas > narenas)
            return 1;
    }
}

static void free_all(fill *f)
{
    for (size_t i = 0; i < f->n; i++)
        om_free(f->blocks[i]);
    free(f->blocks);
    memset(f, 0, sizeof *f);
}

static void check_arena_list(void)
{
    om_arena_info ai[MAX_ARENAS];
    size_t n = om_heap_arenas(ai, MAX_ARENAS);
    CHECK_LE(n, MAX_ARENAS);
    if (n > MAX_ARENAS)
        n = MAX_ARENAS;
    for (size_t i = 0; i < n; i++) {
        size_t expect_size = ai[i].medium ? TU_MEDIUM_ARENA_SIZE : TU_ARENA_SIZE;
        CHECK_EQ(ai[i].size, expect_size);
        CHECK_EQ((uintptr_t)ai[i].base % expect_size, 0);
        CHECK_EQ(ai[i].pools_total, ai[i].medium ? 16 : 64);
        CHECK_LE(ai[i].pools_free, ai[i].pools_total);
        CHECK_GE(ai[i].pools_free, 1); /* usable arenas have a free pool */
        CHECK_LE(ai[i].pools_purged, ai[i].pools_free);
        if (i > 0) {
            /* small arenas first, then medium; fullest first within each */
            CHECK_LE(ai[i - 1].medium, ai[i].medium);
            if (ai[i - 1].medium == ai[i].medium)
                CHECK_MSG(ai[i - 1].pools_free <= ai[i].pools_free,
                          "arena %zu has %u free pools, arena %zu has %u", i - 1,
                          ai[i - 1].pools_free, i, ai[i].pools_free);
        }
    }
}

/* Free whole pools in three full arenas so they have 20, 3 and 40 free
 * pools: om_heap_arenas lists them 3, 20, 40. */
static void test_arena_order(void)
{
    start_clean();
    fill f;
    REQUIRE(fill_arenas(&f, 512, 3));
    om_stats s = stats();
    CHECK_EQ(s.small_arenas, 4);
    CHECK_EQ(s.arenas_current, 4);
    CHECK_GE(s.arenas_highwater, 4);

    /* where each block lives, looked up once */
    size_t *where = malloc(f.n * sizeof *where);
    REQUIRE(where != NULL);
    for (size_t i = 0; i < f.n; i++) {
        om_block_info bi = describe(f.blocks[i]);
        where[i] = arena_slot(&f, bi.arena) * 64 + (size_t)bi.pool_index;
    }
    /* free whole pools: 20 in arena 0, 3 in arena 1, 40 in arena 2 */
    unsigned want_free[3] = { 20, 3, 40 };
    unsigned freed_pools[3] = { 0, 0, 0 };
    for (size_t a = 0; a < 3; a++) {
        for (size_t pool = 0; pool < 64 && freed_pools[a] < want_free[a]; pool++) {
            int any = 0;
            for (size_t i = 0; i < f.n; i++) {
                if (f.blocks[i] != NULL && where[i] == a * 64 + pool) {
                    om_free(f.blocks[i]);
                    f.blocks[i] = NULL;
                    any = 1;
                }
            }
            freed_pools[a] += (unsigned)any;
        }
    }
    CHECK_EQ(freed_pools[0], 20);
    CHECK_EQ(freed_pools[1], 3);
    CHECK_EQ(freed_pools[2], 40);

    om_arena_info ai[MAX_ARENAS];
    size_t n = om_heap_arenas(ai, MAX_ARENAS);
    CHECK_EQ(n, 4);
    check_arena_list();
    /* our three, plus the fourth (one pool used), in ascending free pools */
    size_t pos[3] = { SIZE_MAX, SIZE_MAX, SIZE_MAX };
    for (size_t i = 0; i < n && i < MAX_ARENAS; i++)
        for (size_t a = 0; a < 3; a++)
            if (ai[i].base == f.arena[a]) {
                pos[a] = i;
                CHECK_EQ(ai[i].pools_free, want_free[a]);
            }
    CHECK_EQ(pos[1], 0);
    CHECK_EQ(pos[0], 1);
    CHECK_EQ(pos[2], 2);
    if (n == 4 && MAX_ARENAS >= 4) {
        CHECK_PTR_EQ(ai[3].base, f.arena[3]);
        CHECK_EQ(ai[3].pools_free, 63);
    }
    /* capacity smaller than the list: fills cap, returns the full count */
    om_arena_info two[3];
    memset(two, 0x5A, sizeof two);
    CHECK_EQ(om_heap_arenas(two, 2), n);
    CHECK_PTR_EQ(two[0].base, ai[0].base);
    CHECK_PTR_EQ(two[1].base, ai[1].base);
    unsigned char *guard = (unsigned char *)&two[2];
    CHECK(tu_all_bytes(guard, sizeof two[2], 0x5A));
    CHECK_EQ(om_heap_arenas(two, 0), n);

    /* emptying more pools of the fullest arena moves it behind the others */
    for (size_t i = 0; i < f.n; i++) {
        if (f.blocks[i] != NULL && where[i] / 64 == 1 &&
            describe(f.blocks[i]).arena_pools_free < 50) {
            om_free(f.blocks[i]);
            f.blocks[i] = NULL;
        }
    }
    free(where);
    check_arena_list();
    n = om_heap_arenas(ai, MAX_ARENAS);
    CHECK_EQ(n, 4);
    CHECK(n < 1 || ai[0].base == f.arena[0]);

    free_all(&f);
    check_arena_list();
    CHECK_EQ(om_heap_check(1), 0);
    om_trim(1);
}

/* Wholly free arenas go back to the OS, except one spare per heap. */
static void run_reclaim(size_t size, int medium)
{
    start_clean();
    om_stats s0 = stats();
    fill f;
    REQUIRE(fill_arenas(&f, size, 3));
    om_stats s1 = stats();
    CHECK_EQ(s1.arenas_current, 4);
    CHECK_EQ(medium ? s1.medium_arenas : s1.small_arenas, 4);
    CHECK_EQ(s1.arenas_allocated - s0.arenas_allocated, 4);
    CHECK_GE(s1.arenas_highwater, 4);
    CHECK_EQ(s1.bytes_arena_mapped, 4 * (medium ? TU_MEDIUM_ARENA_SIZE : TU_ARENA_SIZE));
    CHECK_GE(s1.os_reserve_calls - s0.os_reserve_calls, 4);

    free_all(&f);
    /* a pool emptied last may stay with its class (and pin its arena) until
     * the next purge; om_trim(0) is that purge, and keeps the spare */
    om_trim(0);
    om_stats s2 = stats();
    CHECK_EQ(s2.arenas_current, 1); /* the spare */
    CHECK_EQ(s2.arenas_reclaimed - s0.arenas_reclaimed, 3);
    CHECK_GE(s2.os_release_calls - s1.os_release_calls, 3);
    CHECK_EQ(s2.bytes_arena_mapped, medium ? TU_MEDIUM_ARENA_SIZE : TU_ARENA_SIZE);
    CHECK_EQ(s2.arenas_allocated - s2.arenas_reclaimed, s2.arenas_current);
    CHECK_EQ(om_heap_check(1), 0);

    /* the spare serves the next arena need without a new mapping */
    void *p = om_malloc(size);
    REQUIRE(p != NULL);
    om_stats s3 = stats();
    CHECK_EQ(s3.arenas_allocated, s2.arenas_allocated);
    CHECK_EQ(s3.arenas_current, 1);
    om_free(p);

    /* om_trim(0) keeps the spare, om_trim(1) releases it */
    om_trim(0);
    CHECK_EQ(stats().arenas_current, 1);
    om_trim(1);
    om_stats s4 = stats();
    CHECK_EQ(s4.arenas_current, 0);
    CHECK_EQ(s4.arenas_reclaimed - s0.arenas_reclaimed, 4);
    CHECK_EQ(s4.bytes_arena_mapped, 0);
    CHECK_GT(s4.os_release_calls, s2.os_release_calls);
    CHECK_GE(s4.arenas_highwater, 4);
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_reclaim_small(void) { run_reclaim(512, 0); }
static void test_reclaim_medium(void) { run_reclaim(65536, 1); }

/* Alloc/free thrash at an arena boundary does not map and unmap each time. */
static void test_spare_stops_thrash(void)
{
    start_clean();
    fill f;
    REQUIRE(fill_arenas(&f, 256, 1));
    /* the last block is alone in arena 2: free and reallocate it */
    om_stats s0 = stats();
    for (int i = 0; i < 100; i++) {
        om_free(f.blocks[f.n - 1]);
        f.blocks[f.n - 1] = om_malloc(256);
        REQUIRE(f.blocks[f.n - 1] != NULL);
    }
    om_stats s1 = stats();
    CHECK_LE(s1.os_reserve_calls - s0.os_reserve_calls, 1);
    CHECK_LE(s1.arenas_allocated - s0.arenas_allocated, 1);
    free_all(&f);
    om_trim(1);
}

/* Empty pools inside a live arena are purged by om_trim(0). */
static void test_purge_on_collect(void)
{
    start_clean();
    long old_delay = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 100000); /* only om_trim purges */
    enum { POOLS = 12 };
    void *keep = om_malloc(512);
    REQUIRE(keep != NULL);
    om_block_info kb = describe(keep);
    unsigned per = kb.pool_blocks_total;
    size_t n = (size_t)per * POOLS;
    void **b = malloc(n * sizeof *b);
    REQUIRE(b != NULL);
    for (size_t i = 0; i < n; i++) {
        b[i] = om_malloc(512);
        REQUIRE(b[i] != NULL);
        memset(b[i], 0xA5, 512);
        CHECK_PTR_EQ(describe(b[i]).arena, kb.arena);
    }
    om_stats s0 = stats();
    for (size_t i = 0; i < n; i++)
        om_free(b[i]);
    om_stats s1 = stats();
    /* the keep pool had per-1 free slots that absorbed blocks first, so at
     * least POOLS-1 pools are now empty */
    CHECK_GE(s1.pools_empty - s0.pools_empty, POOLS - 1);
    CHECK_EQ(s1.pools_purged, s0.pools_purged); /* delay not expired */
    CHECK_EQ(s1.arenas_current, 1);

    om_trim(0);
    om_stats s2 = stats();
    CHECK_GE(s2.pools_purged, s1.pools_purged + POOLS - 1);
    CHECK_LE(s2.pools_purged, s2.pools_empty);
    CHECK_GT(s2.os_purge_calls, s1.os_purge_calls);
    CHECK_EQ(s2.arenas_current, 1);
    CHECK_PTR_EQ(describe(keep).arena, kb.arena);
    om_arena_info ai[4];
    size_t na = om_heap_arenas(ai, 4);
    CHECK_EQ(na, 1);
    if (na >= 1) {
        CHECK_PTR_EQ(ai[0].base, kb.arena);
        CHECK_GE(ai[0].pools_purged, POOLS - 1);
        CHECK_EQ(ai[0].pools_free, 63);
    }
    CHECK_EQ(om_heap_check(1), 0);

    /* purged pools are reused, and their blocks behave as new */
    for (size_t i = 0; i < n; i++) {
        b[i] = om_malloc(512);
        REQUIRE(b[i] != NULL);
        memset(b[i], 0x3C, 512);
    }
    om_stats s3 = stats();
    CHECK_LT(s3.pools_purged, s2.pools_purged);
    CHECK_EQ(s3.arenas_current, 1);
    for (size_t i = 0; i < n; i++) {
        CHECK(tu_all_bytes(b[i], 512, 0x3C));
        om_free(b[i]);
    }
    free(b);
    om_free(keep);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, old_delay);
    om_trim(1);
}

/* Without om_trim: an allocator call after the delay purges. */
static void test_purge_after_delay(void)
{
    start_clean();
    long old_delay = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 10);
    void *keep = om_malloc(256);
    REQUIRE(keep != NULL);
    enum { N = 2000 };
    void *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = om_malloc(256);
        REQUIRE(b[i] != NULL);
        memset(b[i], 1, 256);
    }
    om_stats s0 = stats();
    for (int i = 0; i < N; i++)
        om_free(b[i]);
    tu_sleep_ms(50); /* a busy heap ticks every 3 delays (heap.c) */
    /* an allocator call that leaves the fast path (a class not in use):
     * the fast paths do not read the clock */
    void *t = om_malloc(100000);
    om_free(t);
    om_stats s1 = stats();
    CHECK_GT(s1.pools_purged, s0.pools_purged);
    CHECK_GT(s1.os_purge_calls, s0.os_purge_calls);
    CHECK_EQ(om_heap_check(1), 0);
    om_free(keep);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, old_delay);
    om_trim(1);
}

static void test_stats_identities(void)
{
    start_clean();
    fill f, g;
    REQUIRE(fill_arenas(&f, 96, 2));
    REQUIRE(fill_arenas(&g, 3000, 1));
    for (size_t i = 0; i < f.n; i += 3) {
        om_free(f.blocks[i]);
        f.blocks[i] = NULL;
    }
    for (size_t i = 0; i < g.n; i += 2) {
        om_free(g.blocks[i]);
        g.blocks[i] = NULL;
    }
    om_stats s = stats();
    CHECK_EQ(s.small_arenas, 3);
    CHECK_EQ(s.medium_arenas, 2);
    CHECK_EQ(s.arenas_current, s.small_arenas + s.medium_arenas);
    CHECK_EQ(s.arenas_allocated - s.arenas_reclaimed, s.arenas_current);
    CHECK_EQ(s.pools_total, 64 * s.small_arenas + 16 * s.medium_arenas);
    CHECK_EQ(s.bytes_arena_mapped,
             TU_ARENA_SIZE * s.small_arenas + TU_MEDIUM_ARENA_SIZE * s.medium_arenas);
    uint64_t pools = 0;
    for (int c = 0; c < OM_NUM_CLASSES; c++)
        pools += s.classes[c].pools;
    CHECK_EQ(pools + s.pools_empty, s.pools_total);
    free_all(&f);
    free_all(&g);
    om_trim(1);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_arena_order),
        CHECK_CASE(test_reclaim_small),
        CHECK_CASE(test_reclaim_medium),
        CHECK_CASE(test_spare_stops_thrash),
        CHECK_CASE(test_purge_on_collect),
        CHECK_CASE(test_purge_after_delay),
        CHECK_CASE(test_stats_identities),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
