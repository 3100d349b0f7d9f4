/*
 * test_large.c — the life of a large block (large.c): each state
 * transition, seen through the public API, om_stats' counters and the
 * kernel's residency map (mincore: resident pages were not faulted again,
 * non-resident ones were not written).
 *
 *   live -> cached (dirty) -> reused             test_free_then_reuse
 *   cached -> purged (decay) -> reused -> gone   test_decay_purge_reuse_unmap
 *   decay driven by small allocations only       test_decay_from_heap_ticks
 *   calloc of fresh / purged / dirty memory      test_calloc_states
 *   realloc: headroom, cached neighbour, mremap  test_realloc_grow_*, _shrink
 *   several cached entries gathered by mremap    test_gather
 *   the resident bound, the entry bound          test_cache_bound
 *   om_trim empties the cache                    test_trim_empties
 *   replaced OS hooks (no mremap): still right   test_hooks_without_remap
 *   threads churning large blocks                test_threads_churn
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

#define PAGE ((size_t)4096)
/* Biggest random block: pattern fills are slow under the sanitizers. */
#define RAND_MAX_SIZE (OM_TEST_SANITIZED ? 2 * TU_MIB : 6 * TU_MIB)

static om_stats st(void)
{
    om_stats s;
    om_stats_get(&s);
    return s;
}

/* Pages of [p, p + n) the kernel holds resident. */
static size_t resident_bytes(const void *p, size_t n)
{
    static unsigned char vec[(256 * TU_MIB) / PAGE];
    size_t pages = n / PAGE;
    NEED(pages <= sizeof vec);
    if (mincore((void *)p, pages * PAGE, vec) != 0)
        return (size_t)-1;
    size_t r = 0;
    for (size_t i = 0; i < pages; i++)
        r += vec[i] & 1;
    return r * PAGE;
}

static void fill(void *p, size_t n, unsigned char v) { memset(p, v, n); }

/* Run the cache's decay now: a large free runs it.  The trigger block
 * takes its own entry back at once (its resident pages make it the best
 * fit), so it leaves nothing in the cache that a test's request could
 * prefer to the entry under test. */
static void *trigger;
static void tick(void)
{
    om_free(trigger);
    trigger = om_malloc(200 * TU_KIB);
    NEED(trigger != NULL);
}

/* Options for one test, put back by restore(). */
static long saved_decay, saved_cache;
static void set_options(long decay_ms, long cache_mb)
{
    saved_decay = om_option_get(OM_OPTION_LARGE_DECAY_MS);
    saved_cache = om_option_get(OM_OPTION_LARGE_CACHE_MB);
    om_option_set(OM_OPTION_LARGE_DECAY_MS, decay_ms);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, cache_mb);
    om_trim(1);
    trigger = om_malloc(200 * TU_KIB);
    NEED(trigger != NULL);
}
static void restore(void)
{
    om_free(trigger);
    trigger = NULL;
    om_trim(1);
    om_option_set(OM_OPTION_LARGE_DECAY_MS, saved_decay);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, saved_cache);
}

/* ---- live -> cached (dirty) -> reused ------------------------------------ */
static void test_free_then_reuse(void)
{
    set_options(60000, 64);
    size_t n = 8 * TU_MIB;
    unsigned char *p = om_malloc(n);
    REQUIRE(p != NULL);
    fill(p, n, 0x5A);
    om_stats s0 = st();
    om_free(p);
    om_stats s1 = st();
    CHECK_EQ(s1.large_cached, s0.large_cached + 1);
    CHECK_GE(s1.large_cached_resident, n);
    CHECK_EQ(s1.os_release_calls, s0.os_release_calls); /* kept, not unmapped */
    CHECK(!om_owns(p));
    om_block_info bi;
    CHECK_EQ(om_block_describe(p, &bi), 0);
    CHECK_EQ(bi.pool_state, OM_POOL_EMPTY); /* a cached mapping is a freed block */
    CHECK_EQ(resident_bytes(p, n), n);      /* its pages stay */

    unsigned char *q = om_malloc(n);
    om_stats s2 = st();
    CHECK(q == p);
    CHECK_EQ(s2.os_reserve_calls, s1.os_reserve_calls);
    CHECK_EQ(s2.large_reused, s1.large_reused + 1);
    CHECK_EQ(s2.large_cached, s0.large_cached);
    CHECK_EQ(resident_bytes(q, n), n); /* no page to fault again */
    CHECK(om_owns(q));
    /* a smaller request reuses it too, the tail staying cached */
    om_free(q);
    unsigned char *r = om_malloc(3 * TU_MIB);
    om_stats s3 = st();
    CHECK(r == p);
    CHECK_EQ(s3.large_cached, s0.large_cached + 1);
    CHECK_GE(s3.large_cached_resident, n - 4 * TU_MIB);
    CHECK_EQ(om_usable_size(r), 3 * TU_MIB);
    om_free(r);
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

/* ---- cached -> purged after the decay time -> reused -> unmapped ------------ */
static void test_decay_purge_reuse_unmap(void)
{
    set_options(150, 64); /* long enough that a loaded machine does not trip "not yet" */
    size_t n = 6 * TU_MIB;
    unsigned char *p = om_malloc(n);
    REQUIRE(p != NULL);
    fill(p, n, 0xA5);
    om_free(p);
    om_stats s0 = st();
    CHECK_EQ(resident_bytes(p, n), n);
    /* not yet: a tick before the delay leaves it alone */
    tick();
    CHECK_EQ(resident_bytes(p, n), n);
    tu_sleep_ms(350);
    tick();
    om_stats s1 = st();
    CHECK_GE(s1.large_decayed, s0.large_decayed + 1);
    CHECK_EQ(resident_bytes(p, n), 0); /* pages given back ... */
    om_block_info bi;
    CHECK_EQ(om_block_describe(p, &bi), 0); /* ... the mapping kept */
    CHECK_EQ(bi.pool_state, OM_POOL_EMPTY);
    CHECK_GT(s1.os_purge_calls, s0.os_purge_calls);

    /* reused while purged: no mmap, reads zero, nothing written */
    unsigned char *q = om_calloc(1, n);
    om_stats s2 = st();
    CHECK(q == p);
    CHECK_EQ(s2.os_reserve_calls, s1.os_reserve_calls);
    CHECK_EQ(resident_bytes(q, n), 0); /* calloc did not memset */
    CHECK(tu_all_bytes(q, n, 0));
    om_free(q);

    /* purged again, then unmapped after another delay */
    tu_sleep_ms(350);
    tick();
    CHECK_EQ(resident_bytes(p, n), 0);
    CHECK_EQ(om_block_describe(p, &bi), 0);
    om_stats s3 = st();
    tu_sleep_ms(350);
    tick();
    om_stats s4 = st();
    CHECK_EQ(om_block_describe(p, &bi), ENOENT);
    CHECK_GT(s4.os_release_calls, s3.os_release_calls);
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

/* A program that goes on with small and medium blocks only: the freeing
 * thread's heap ticks decay the cache (heap.c). */
static void test_decay_from_heap_ticks(void)
{
    set_options(150, 64); /* long enough that a loaded machine does not trip "not yet" */
    om_free(om_malloc(16)); /* this thread has a heap */
    size_t n = 4 * TU_MIB;
    unsigned char *p = om_malloc(n);
    REQUIRE(p != NULL);
    fill(p, n, 0x3C);
    om_free(p);
    CHECK_EQ(resident_bytes(p, n), n);
    tu_sleep_ms(350);
    /* a medium class nothing else here uses leaves the fast path: a tick */
    void *m = om_malloc(120000);
    CHECK_EQ(resident_bytes(p, n), 0);
    om_free(m);
    restore();
}

/* ---- calloc of fresh, purged and dirty memory reads zero -------------------- */
static void test_calloc_states(void)
{
    set_options(60000, 64);
    size_t n = 5 * TU_MIB + 123;
    /* fresh: zero without a write (its pages not even resident) */
    unsigned char *p = om_calloc(n, 1);
    REQUIRE(p != NULL);
    CHECK_EQ(resident_bytes(p, 5 * TU_MIB), 0);
    CHECK(tu_all_bytes(p, n, 0));
    fill(p, om_usable_size(p), 0xEE);
    om_free(p);
    /* dirty: reused and cleared, every requested byte */
    unsigned char *q = om_calloc(1, n);
    CHECK(q == p);
    CHECK(tu_all_bytes(q, n, 0));
    fill(q, om_usable_size(q), 0xDD);
    om_free(q);
    /* a bigger request over the dirty one: cleared below, fresh above */
    unsigned char *r = om_calloc(1, 3 * n);
    REQUIRE(r != NULL);
    CHECK(tu_all_bytes(r, 3 * n, 0));
    fill(r, 3 * n, 0xCC);
    om_free(r);
    /* a smaller one out of a dirty bigger one */
    for (size_t k = 1; k <= 4; k++) {
        unsigned char *z = om_calloc(k, 700 * TU_KIB);
        REQUIRE(z != NULL);
        CHECK_MSG(tu_all_bytes(z, k * 700 * TU_KIB, 0), "calloc(%zu, 700 KiB) over a dirty mapping", k);
        fill(z, k * 700 * TU_KIB, 0xBB);
        om_free(z);
    }
    /* purged: zero, nothing written (MADV_DONTNEED reads back zero) */
    om_trim(1);
    om_option_set(OM_OPTION_LARGE_DECAY_MS, 30);
    p = om_malloc(n);
    fill(p, n, 0x77);
    om_free(p);
    tu_sleep_ms(80);
    tick();
    q = om_calloc(1, n);
    CHECK(q == p);
    CHECK(tu_all_bytes(q, n, 0));
    om_free(q);
    restore();
}

/* ---- realloc -------------------------------------------------------------------- */
/* Growing by small steps: contents kept, pages already there stay resident
 * (never faulted again), no new mapping and no copy (a copy would allocate:
 * os_reserve_calls), and an mremap only every few steps (50% headroom). */
static void test_realloc_grow_steps(void)
{
    set_options(60000, 64);
    size_t n = 2 * TU_MIB, top = OM_TEST_SANITIZED ? 24 * TU_MIB : 96 * TU_MIB;
    unsigned char *p = om_malloc(n);
    REQUIRE(p != NULL);
    tu_fill(p, n, 1);
    om_stats s0 = st();
    long steps = 0;
    while (n < top) {
        size_t m = n + TU_MIB;
        unsigned char *q = om_realloc(p, m);
        REQUIRE(q != NULL);
        CHECK_EQ(resident_bytes(q, n), n);
        tu_fill(q + n, m - n, 1 + (unsigned)steps);
        p = q;
        n = m;
        steps++;
    }
    om_stats s1 = st();
    CHECK_EQ(s1.os_reserve_calls, s0.os_reserve_calls);
    CHECK_MSG(s1.os_remap_calls - s0.os_remap_calls <= (uint64_t)steps / 3, "%" PRIu64 " mremaps for %ld steps",
              s1.os_remap_calls - s0.os_remap_calls, steps);
    CHECK_EQ(tu_verify_from(p, p, 2 * TU_MIB, 1), 2 * TU_MIB);
    om_free(p);
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

/* A block followed by a cached mapping grows into it: same address, no
 * system call, the neighbour's pages still resident. */
static void test_realloc_grow_into_neighbour(void)
{
    set_options(60000, 64);
    unsigned char *x = om_malloc(16 * TU_MIB);
    REQUIRE(x != NULL);
    fill(x, 16 * TU_MIB, 0x11);
    om_free(x);
    unsigned char *a = om_malloc(2 * TU_MIB); /* x's head; its tail stays cached */
    CHECK(a == x);
    tu_fill(a, 2 * TU_MIB, 9);
    om_stats s0 = st();
    unsigned char *b = om_realloc(a, 9 * TU_MIB);
    om_stats s1 = st();
    CHECK(b == a);
    CHECK_EQ(s1.os_remap_calls, s0.os_remap_calls);
    CHECK_EQ(s1.os_reserve_calls, s0.os_reserve_calls);
    CHECK_EQ(resident_bytes(b, 9 * TU_MIB), 9 * TU_MIB);
    CHECK_EQ(tu_verify_from(b, b, 2 * TU_MIB, 9), 2 * TU_MIB);
    CHECK_GE(om_usable_size(b), 9 * TU_MIB);
    b[9 * TU_MIB - 1] = 1;
    om_free(b);
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

/* Shrinking keeps the address and the contents; the tail goes to the cache. */
static void test_realloc_shrink(void)
{
    set_options(60000, 64);
    size_t n = 20 * TU_MIB;
    unsigned char *p = om_malloc(n);
    REQUIRE(p != NULL);
    tu_fill(p, n, 3);
    om_stats s0 = st();
    unsigned char *q = om_realloc(p, 3 * TU_MIB);
    om_stats s1 = st();
    CHECK(q == p);
    CHECK_EQ(om_usable_size(q), 3 * TU_MIB);
    CHECK_EQ(tu_verify_from(q, q, 3 * TU_MIB, 3), 3 * TU_MIB);
    CHECK_EQ(s1.large_cached, s0.large_cached + 1);
    CHECK_GE(s1.large_cached_resident, s0.large_cached_resident + 17 * TU_MIB);
    CHECK_EQ(s1.large_bytes, s0.large_bytes - 17 * TU_MIB);
    /* into the medium classes: copied, still right */
    unsigned char *r = om_realloc(q, 100000);
    REQUIRE(r != NULL);
    CHECK_EQ(tu_verify_from(r, q == r ? r : p, 100000, 3), 100000);
    om_block_info bi;
    CHECK_EQ(om_block_describe(r, &bi), 0);
    CHECK_EQ(bi.kind, OM_BLOCK_MEDIUM);
    om_free(r);
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

/* ---- gathering: two cached entries serve one bigger request ----------------- */
static void test_gather(void)
{
    set_options(60000, 64);
    if (om_option_get(OM_OPTION_PURGE_DECOMMIT) == 0)
        return;
    /* two blocks apart (a live one between), both freed */
    unsigned char *a = om_malloc(4 * TU_MIB), *sep = om_malloc(TU_MIB), *b = om_malloc(4 * TU_MIB);
    REQUIRE(a && sep && b);
    fill(a, 4 * TU_MIB, 0x21);
    fill(b, 4 * TU_MIB, 0x22);
    om_free(a);
    om_free(b);
    om_stats s0 = st();
    CHECK_GE(s0.large_cached_resident, 8 * TU_MIB);
    unsigned char *c = om_calloc(1, 8 * TU_MIB);
    REQUIRE(c != NULL);
    om_stats s1 = st();
    CHECK_EQ(s1.os_reserve_calls, s0.os_reserve_calls);
    CHECK_EQ(s1.large_cached_resident, 0);
    CHECK_GE(s1.large_reused, s0.large_reused + 1);
    CHECK(tu_all_bytes(c, 8 * TU_MIB, 0));
    om_free(c);
    om_free(sep);
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

/* ---- bounds ------------------------------------------------------------------ */
static void test_cache_bound(void)
{
    set_options(60000, 8);
    /* with nothing live, at most 8 MiB stay resident in the cache */
    unsigned char *p[6];
    for (int i = 0; i < 6; i++) {
        p[i] = om_malloc(6 * TU_MIB);
        REQUIRE(p[i] != NULL);
        fill(p[i], 6 * TU_MIB, (unsigned char)i);
    }
    for (int i = 0; i < 6; i++)
        om_free(p[i]);
    om_stats s = st();
    CHECK_MSG(s.large_cached_resident <= 8 * TU_MIB, "%" PRIu64 " bytes resident in the cache",
              s.large_cached_resident);
    size_t res = 0;
    for (int i = 0; i < 6; i++)
        res += resident_bytes(p[i], 6 * TU_MIB);
    CHECK_MSG(res <= 8 * TU_MIB + PAGE, "%zu bytes of the freed blocks still resident", res);
    /* the newest keeps its pages */
    CHECK_EQ(resident_bytes(p[5], 6 * TU_MIB), 6 * TU_MIB);
    /* with a big live heap, what brings it back to its recent peak */
    om_trim(1);
    size_t live_n = OM_TEST_SANITIZED ? 64 * TU_MIB : 160 * TU_MIB;
    unsigned char *live = om_malloc(live_n);
    REQUIRE(live != NULL);
    for (int i = 0; i < 6; i++) {
        p[i] = om_malloc(6 * TU_MIB);
        fill(p[i], 6 * TU_MIB, (unsigned char)i);
    }
    for (int i = 0; i < 6; i++)
        om_free(p[i]);
    s = st();
    CHECK_GE(s.large_cached_resident, 36 * TU_MIB);
    CHECK_LE(s.large_cached_resident, 36 * TU_MIB + TU_MIB);
    /* after a mass free, never more than is live: the floor */
    om_free(live);
    s = st();
    CHECK_LE(s.large_cached_resident, 8 * TU_MIB);
    /* at most 64 entries */
    om_trim(1);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, 1024);
    void *many[100];
    for (int i = 0; i < 100; i++)
        many[i] = om_malloc(200 * TU_KIB);
    for (int i = 0; i < 100; i++)
        om_free(many[i]);
    CHECK_LE(st().large_cached, 64);
    /* a cache of 0 keeps nothing */
    om_option_set(OM_OPTION_LARGE_CACHE_MB, 0);
    om_stats t0 = st();
    om_free(om_malloc(3 * TU_MIB));
    om_stats t1 = st();
    CHECK_EQ(t1.os_release_calls, t0.os_release_calls + (t0.large_cached ? t0.large_cached : 0) + 1);
    CHECK_EQ(t1.large_cached, 0);
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

/* Entries off the list while their purge runs do not count against the
 * 64-entry bound; once they come back, the bound holds again: thread A's
 * purge is held in the hook while this thread frees more blocks. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t held;      /* whose purges wait */
    int holding, in_purge, release;
    om_os_hooks inner;
} hp = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int held_purge(void *p, size_t size, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&hp.lock);
    if (hp.holding && pthread_equal(pthread_self(), hp.held)) {
        hp.in_purge = 1;
        pthread_cond_broadcast(&hp.cond);
        while (!hp.release)
            pthread_cond_wait(&hp.cond, &hp.lock);
    }
    pthread_mutex_unlock(&hp.lock);
    return hp.inner.purge(p, size, hp.inner.ctx);
}

static void *free_one(void *arg)
{
    om_free(arg);
    return NULL;
}

static void test_cache_bound_after_purges(void)
{
    set_options(60000, 1024);
    om_get_os_hooks(&hp.inner);
    om_os_hooks h = {hp.inner.reserve, hp.inner.release, held_purge, NULL};
    om_set_os_hooks(&h);
    enum { FIRST = 64, SECOND = 24 };
    void *a[FIRST], *b[SECOND];
    for (int i = 0; i < FIRST; i++)
        NEED((a[i] = om_malloc(TU_MIB + PAGE)) != NULL);
    for (int i = 0; i < SECOND; i++)
        NEED((b[i] = om_malloc(TU_MIB + PAGE)) != NULL);
    void *last = om_malloc(TU_MIB + PAGE);
    NEED(last != NULL);
    for (int i = 0; i < FIRST; i++) /* 64 entries, all resident */
        om_free(a[i]);
    CHECK_EQ(st().large_cached, FIRST);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, 1); /* the next free purges */
    pthread_t t;
    pthread_mutex_lock(&hp.lock);
    hp.holding = 1;
    hp.in_purge = hp.release = 0;
    NEED(pthread_create(&t, NULL, free_one, last) == 0);
    hp.held = t;
    pthread_mutex_unlock(&hp.lock);
    pthread_mutex_lock(&hp.lock);
    while (!hp.in_purge)
        pthread_cond_wait(&hp.cond, &hp.lock);
    pthread_mutex_unlock(&hp.lock);
    uint64_t listed = st().large_cached;
    CHECK_LT(listed, FIRST); /* entries are off the list, purging */
    for (int i = 0; i < SECOND; i++)
        om_free(b[i]);
    pthread_mutex_lock(&hp.lock);
    hp.release = 1;
    pthread_cond_broadcast(&hp.cond);
    pthread_mutex_unlock(&hp.lock);
    pthread_join(t, NULL);
    hp.holding = 0;
    CHECK_MSG(st().large_cached <= 64, "%" PRIu64 " entries in the cache (%" PRIu64 " while purging)",
              st().large_cached, listed);
    CHECK_EQ(om_heap_check(1), 0);
    om_set_os_hooks(&hp.inner);
    restore();
}

static void test_trim_empties(void)
{
    set_options(60000, 64);
    void *p[5];
    for (int i = 0; i < 5; i++) {
        p[i] = om_malloc((size_t)(i + 1) * 700 * TU_KIB);
        fill(p[i], (size_t)(i + 1) * 700 * TU_KIB, 1);
    }
    for (int i = 0; i < 5; i++)
        om_free(p[i]);
    CHECK_GT(st().large_cached, 0);
    om_trim(1);
    om_stats s = st();
    CHECK_EQ(s.large_cached, 0);
    CHECK_EQ(s.large_cached_bytes, 0);
    CHECK_EQ(s.large_cached_resident, 0);
    om_block_info bi;
    for (int i = 0; i < 5; i++)
        CHECK_EQ(om_block_describe(p[i], &bi), ENOENT);
    restore();
}

/* A cached block's pages make room for new arenas: the program's memory
 * moving from big blocks to small ones does not peak at both. */
static void test_arena_reclaims_cache(void)
{
    set_options(60000, 64);
    om_trim(1);
    size_t n = 8 * TU_MIB;
    void *big = om_malloc(n);
    REQUIRE(big != NULL);
    fill(big, n, 1);
    om_free(big);
    size_t before = (size_t)st().large_cached_resident;
    CHECK_GE(before, n);
    /* small blocks until more than four arenas have been mapped */
    uint64_t arenas0 = st().arenas_allocated;
    enum { MAXB = 40000 };
    static void *b[MAXB];
    size_t nb = 0;
    while (nb < MAXB && st().arenas_allocated < arenas0 + 5) {
        for (int k = 0; k < 256 && nb < MAXB; k++)
            b[nb++] = om_malloc(512);
    }
    size_t after = (size_t)st().large_cached_resident;
    CHECK_LE(after + 4 * TU_MIB, before);
    for (size_t i = 0; i < nb; i++)
        om_free(b[i]);
    om_trim(1);
    restore();
}

/* ---- replaced hooks: no mremap, so no growing or gathering; still right ---- */
static _Atomic long hook_reserved;
static void *count_reserve(size_t size, size_t align, void *ctx)
{
    void *p = om_os_default_reserve(size, align, ctx);
    if (p)
        hook_reserved += (long)size;
    return p;
}
static int count_release(void *p, size_t size, void *ctx)
{
    int e = om_os_default_release(p, size, ctx);
    if (!e)
        hook_reserved -= (long)size;
    return e;
}

static void test_hooks_without_remap(void)
{
    set_options(60000, 64);
    om_os_hooks h = {count_reserve, count_release, NULL, NULL};
    om_set_os_hooks(&h);
    hook_reserved = 0;
    uint64_t rng = 7;
    unsigned char *slot[8] = {0};
    size_t len[8] = {0};
    for (int i = 0; i < OM_TEST_SCALE(400); i++) {
        int k = (int)(tu_rand(&rng) % 8);
        if (slot[k]) {
            CHECK_EQ(tu_verify_from(slot[k], slot[k], len[k], (unsigned)len[k]), len[k]);
            if (tu_rand(&rng) % 3 == 0) {
                size_t m = tu_range(&rng, 200 * TU_KIB, RAND_MAX_SIZE);
                unsigned char *q = om_realloc(slot[k], m);
                REQUIRE(q != NULL);
                CHECK_EQ(tu_verify_from(q, slot[k], len[k] < m ? len[k] : m, (unsigned)len[k]),
                         len[k] < m ? len[k] : m);
                slot[k] = q;
                len[k] = m;
                tu_fill(q, m, (unsigned)m);
                continue;
            }
            om_free(slot[k]);
        }
        len[k] = tu_range(&rng, 200 * TU_KIB, RAND_MAX_SIZE);
        slot[k] = om_calloc(1, len[k]);
        REQUIRE(slot[k] != NULL);
        CHECK(tu_all_bytes(slot[k], len[k], 0));
        tu_fill(slot[k], len[k], (unsigned)len[k]);
    }
    for (int k = 0; k < 8; k++)
        om_free(slot[k]);
    om_trim(1);
    om_set_os_hooks(NULL);
    CHECK_EQ(st().large_cached, 0);
    /* everything large mapped through the hooks went back through them
     * (arenas and metadata may stay: at most what they took) */
    CHECK_LE(hook_reserved, (long)(64 * TU_MIB));
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

/* ---- threads: calloc / realloc / free of large blocks on 4 threads --------- */
static void *churn(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15u + 1;
    unsigned char *slot[4] = {0};
    size_t len[4] = {0};
    for (int i = 0; i < OM_TEST_SCALE(300); i++) {
        int k = (int)(tu_rand(&rng) % 4);
        if (slot[k]) {
            NEED(tu_verify_from(slot[k], slot[k], len[k], (unsigned)(uintptr_t)arg) == len[k]);
            if (tu_rand(&rng) & 1) {
                size_t m = tu_range(&rng, 130 * TU_KIB, RAND_MAX_SIZE);
                unsigned char *q = om_realloc(slot[k], m);
                NEED(q != NULL);
                size_t keep = len[k] < m ? len[k] : m;
                NEED(tu_verify_from(q, slot[k], keep, (unsigned)(uintptr_t)arg) == keep);
                tu_fill(q, m, (unsigned)(uintptr_t)arg);
                slot[k] = q;
                len[k] = m;
                continue;
            }
            om_free(slot[k]);
        }
        len[k] = tu_range(&rng, 130 * TU_KIB, RAND_MAX_SIZE);
        slot[k] = om_calloc(1, len[k]);
        NEED(slot[k] != NULL);
        NEED(tu_all_bytes(slot[k], len[k], 0));
        tu_fill(slot[k], len[k], (unsigned)(uintptr_t)arg);
    }
    for (int k = 0; k < 4; k++)
        om_free(slot[k]);
    return NULL;
}

static void test_threads_churn(void)
{
    set_options(5, 16); /* decay and the bound at work meanwhile */
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        REQUIRE(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    om_stats s = st();
    CHECK_EQ(s.large_count, 1); /* the trigger */
    CHECK_LE(s.large_cached, 64);
    CHECK_EQ(om_heap_check(1), 0);
    restore();
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_free_then_reuse),
        CHECK_CASE(test_decay_purge_reuse_unmap),
        CHECK_CASE(test_decay_from_heap_ticks),
        CHECK_CASE(test_calloc_states),
        CHECK_CASE(test_realloc_grow_steps),
        CHECK_CASE(test_realloc_grow_into_neighbour),
        CHECK_CASE(test_realloc_shrink),
        CHECK_CASE(test_gather),
        CHECK_CASE(test_cache_bound),
        CHECK_CASE(test_cache_bound_after_purges),
        CHECK_CASE(test_trim_empties),
        CHECK_CASE(test_arena_reclaims_cache),
        CHECK_CASE(test_hooks_without_remap),
        CHECK_CASE(test_threads_churn),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
