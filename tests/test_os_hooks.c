/*
 * test_os_hooks.c — the OS layer behind om_set_os_hooks (objmem.h §5):
 * counting hooks that wrap the defaults agree with om_stats, every call
 * honours the documented contract, and an out-of-memory sweep in the sqlite
 * manner: fail the 1st, 2nd, ... Nth reserve while a mixed workload runs;
 * the failing call returns NULL with ENOMEM, the heap stays consistent, and
 * once everything is freed and om_trim(1) has run, the mapped bytes are
 * back at the baseline; a release that fails is tried again, so that
 * nothing stays mapped once the failures stop.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

typedef struct counter {
    atomic_long reserve_calls, reserve_failed, release_calls, purge_calls;
    atomic_long mapped;        /* bytes reserved minus bytes released */
    atomic_long contract_bad;  /* calls outside the documented contract */
    atomic_long fail_countdown; /* fail the reserve that takes this to 0 */
    atomic_int purge_fails;
    atomic_int release_fails; /* releases that fail from now on */
    om_os_hooks inner;
} counter;

static counter ctr;
static size_t page_size;

static int page_multiple(size_t x)
{
    return x % page_size == 0;
}

static void *count_reserve(size_t size, size_t align, void *ctx)
{
    counter *c = ctx;
    atomic_fetch_add(&c->reserve_calls, 1);
    if (size == 0 || !page_multiple(size) || !tu_is_pow2(align) || !page_multiple(align))
        atomic_fetch_add(&c->contract_bad, 1);
    if (atomic_fetch_sub(&c->fail_countdown, 1) == 1) {
        atomic_fetch_add(&c->reserve_failed, 1);
        return NULL;
    }
    void *p = c->inner.reserve(size, align, c->inner.ctx);
    if (p == NULL) {
        atomic_fetch_add(&c->reserve_failed, 1);
        return NULL;
    }
    if ((uintptr_t)p % align != 0)
        atomic_fetch_add(&c->contract_bad, 1);
    atomic_fetch_add(&c->mapped, (long)size);
    return p;
}

static int count_release(void *p, size_t size, void *ctx)
{
    counter *c = ctx;
    atomic_fetch_add(&c->release_calls, 1);
    if (!page_multiple((uintptr_t)p) || !page_multiple(size) || size == 0)
        atomic_fetch_add(&c->contract_bad, 1);
    if (atomic_load(&c->release_fails) > 0) {
        atomic_fetch_sub(&c->release_fails, 1);
        return ENOMEM; /* as munmap when splitting a mapping needs one more */
    }
    int rc = c->inner.release(p, size, c->inner.ctx);
    if (rc == 0)
        atomic_fetch_sub(&c->mapped, (long)size);
    return rc;
}

static int count_purge(void *p, size_t size, void *ctx)
{
    counter *c = ctx;
    atomic_fetch_add(&c->purge_calls, 1);
    if (!page_multiple((uintptr_t)p) || !page_multiple(size) || size == 0)
        atomic_fetch_add(&c->contract_bad, 1);
    if (atomic_load(&c->purge_fails))
        return EIO;
    return c->inner.purge(p, size, c->inner.ctx);
}

static void install(void)
{
    om_get_os_hooks(&ctr.inner);
    atomic_store(&ctr.fail_countdown, 0);
    om_os_hooks h = { count_reserve, count_release, count_purge, &ctr };
    om_set_os_hooks(&h);
}

static void uninstall(void)
{
    om_set_os_hooks(NULL);
}

static void test_defaults_and_restore(void)
{
    om_os_hooks h;
    om_set_os_hooks(NULL);
    om_get_os_hooks(&h);
    CHECK(h.reserve == om_os_default_reserve);
    CHECK(h.release == om_os_default_release);
    CHECK(h.purge == om_os_default_purge);
    install();
    om_os_hooks now;
    om_get_os_hooks(&now);
    CHECK(now.reserve == count_reserve);
    CHECK(now.release == count_release);
    CHECK(now.purge == count_purge);
    CHECK(now.ctx == &ctr);
    uninstall();
    om_get_os_hooks(&now);
    CHECK(now.reserve == om_os_default_reserve);

    /* the defaults honour their own contract */
    size_t sz = 4 * TU_MIB, al = 4 * TU_MIB;
    unsigned char *p = om_os_default_reserve(sz, al, h.ctx);
    REQUIRE(p != NULL);
    CHECK_EQ((uintptr_t)p % al, 0);
    CHECK(tu_all_bytes(p, sz, 0));
    memset(p, 0x11, sz);
    CHECK_EQ(om_os_default_purge(p + page_size, 4 * page_size, h.ctx), 0);
    if (om_option_get(OM_OPTION_PURGE_DECOMMIT) == 1) /* MADV_DONTNEED reads back zeros */
        CHECK(tu_all_bytes(p + page_size, 4 * page_size, 0));
    CHECK_EQ(p[0], 0x11);
    CHECK_EQ(om_os_default_release(p, sz, h.ctx), 0);
}

/* One round of mixed allocations; on failure returns how far it got. */
enum { MIX_N = 400 };
static size_t mix_size(size_t i)
{
    switch (i % 10) {
    case 7: return 513 + (i * 7919) % 60000;            /* medium */
    case 9: return TU_MEDIUM_MAX + 1 + (i * 104729) % (3 * TU_MIB); /* large */
    default: return 1 + (i * 31) % 512;                 /* small */
    }
}

static size_t run_mix(void **out, int *failed_errno)
{
    *failed_errno = 0;
    for (size_t i = 0; i < MIX_N; i++) {
        size_t n = mix_size(i);
        errno = 0;
        void *p;
        switch (i % 4) {
        case 0: p = om_calloc(1, n); break;
        case 1: p = om_aligned_alloc(64, n); break;
        case 2: {
            p = om_malloc(n / 2 + 1);
            if (p != NULL) {
                void *q = om_realloc(p, n);
                if (q == NULL) {
                    int e = errno;
                    om_free(p);
                    errno = e;
                }
                p = q;
            }
            break;
        }
        default: p = om_malloc(n); break;
        }
        if (p == NULL) {
            *failed_errno = errno;
            return i;
        }
        memset(p, (int)i, n);
        out[i] = p;
    }
    return MIX_N;
}

/* mapped bytes and OS counters move together with om_stats */
static void test_counts_match_stats(void)
{
    static void *blocks[MIX_N];
    int e;
    install();
    /* warm up: metadata mapped on first use stays, by design */
    size_t got = run_mix(blocks, &e);
    CHECK_EQ(got, MIX_N);
    for (size_t i = 0; i < got; i++)
        om_free(blocks[i]);
    om_trim(1);
    om_stats s0;
    om_stats_get(&s0);
    long r0 = atomic_load(&ctr.reserve_calls), rel0 = atomic_load(&ctr.release_calls),
         pu0 = atomic_load(&ctr.purge_calls), m0 = atomic_load(&ctr.mapped);
    got = run_mix(blocks, &e);
    CHECK_EQ(got, MIX_N);
    om_stats s1;
    om_stats_get(&s1);
    CHECK_EQ(s1.os_reserve_calls - s0.os_reserve_calls,
             (uint64_t)(atomic_load(&ctr.reserve_calls) - r0));
    CHECK_EQ(s1.os_release_calls - s0.os_release_calls,
             (uint64_t)(atomic_load(&ctr.release_calls) - rel0));
    CHECK_EQ((int64_t)(s1.os_bytes_reserved - s0.os_bytes_reserved),
             (int64_t)(atomic_load(&ctr.mapped) - m0));
    CHECK_GT(atomic_load(&ctr.reserve_calls) - r0, 0);
    CHECK_GE(s1.os_bytes_peak, s1.os_bytes_reserved);
    for (size_t i = 0; i < got; i++)
        om_free(blocks[i]);
    om_trim(1);
    om_stats s2;
    om_stats_get(&s2);
    CHECK_EQ(s2.os_reserve_calls - s0.os_reserve_calls,
             (uint64_t)(atomic_load(&ctr.reserve_calls) - r0));
    CHECK_EQ(s2.os_release_calls - s0.os_release_calls,
             (uint64_t)(atomic_load(&ctr.release_calls) - rel0));
    CHECK_EQ(s2.os_purge_calls - s0.os_purge_calls,
             (uint64_t)(atomic_load(&ctr.purge_calls) - pu0));
    CHECK_GT(atomic_load(&ctr.release_calls) - rel0, 0);
    CHECK_EQ((int64_t)(s2.os_bytes_reserved - s0.os_bytes_reserved),
             (int64_t)(atomic_load(&ctr.mapped) - m0));
    CHECK_MSG(atomic_load(&ctr.mapped) == m0, "mapped %ld bytes, baseline %ld",
              atomic_load(&ctr.mapped), m0);
    CHECK_EQ(s2.os_failures, s0.os_failures);
    CHECK_EQ(atomic_load(&ctr.contract_bad), 0);
    CHECK_EQ(om_heap_check(1), 0);
    uninstall();
}

/* The sqlite-style sweep. */
static void test_oom_sweep(void)
{
    install();
    static void *blocks[MIX_N];
    int e;
    /* warm up: metadata that lives forever is mapped once, before the baseline */
    size_t got = run_mix(blocks, &e);
    REQUIRE_EQ(got, MIX_N);
    for (size_t i = 0; i < got; i++)
        om_free(blocks[i]);
    om_trim(1);
    long baseline = atomic_load(&ctr.mapped);
    om_stats s0;
    om_stats_get(&s0);

    long max_n = 400;
    long n;
    long failures_seen = 0;
    for (n = 1; n <= max_n; n++) {
        memset(blocks, 0, sizeof blocks);
        atomic_store(&ctr.fail_countdown, n);
        long failed_before = atomic_load(&ctr.reserve_failed);
        got = run_mix(blocks, &e);
        long injected = atomic_load(&ctr.reserve_failed) - failed_before;
        atomic_store(&ctr.fail_countdown, 0);
        if (got < MIX_N) {
            failures_seen++;
            CHECK_MSG(injected == 1, "N=%ld: allocation %zu failed with %ld injected failures", n,
                      got, injected);
            CHECK_MSG(e == ENOMEM, "N=%ld: allocation %zu failed with errno %d", n, got, e);
        } else {
            /* the injected failure may be absorbed (e.g. a retry); fine, but
             * it must not be silently lost when nothing was mapped */
            CHECK_LE(injected, 1);
        }
        int problems = om_heap_check(1);
        CHECK_MSG(problems == 0, "N=%ld: om_heap_check found %d problems", n, problems);
        for (size_t i = 0; i < got; i++)
            CHECK_MSG(tu_all_bytes(blocks[i], mix_size(i), (unsigned char)i),
                      "N=%ld: block %zu damaged", n, i);
        for (size_t i = 0; i < got; i++)
            om_free(blocks[i]);
        /* the heap is usable after the failure */
        void *after = om_malloc(100);
        CHECK(after != NULL);
        om_free(after);
        om_trim(1);
        long mapped = atomic_load(&ctr.mapped);
        CHECK_MSG(mapped == baseline, "N=%ld: %ld bytes mapped, baseline %ld (leak %ld)", n,
                  mapped, baseline, mapped - baseline);
        if (injected == 0)
            break; /* the workload needs fewer than n reserves: swept all */
    }
    CHECK_LT(n, max_n + 1);
    CHECK_GT(failures_seen, 3);
    om_stats s1;
    om_stats_get(&s1);
    CHECK_GE(s1.os_failures - s0.os_failures, (uint64_t)failures_seen);
    CHECK_EQ(atomic_load(&ctr.contract_bad), 0);
    uninstall();
}

/* A failing purge is tolerated: the heap stays consistent and usable. */
static void test_purge_failure_tolerated(void)
{
    install();
    om_trim(1);
    atomic_store(&ctr.purge_fails, 1);
    void *keep = om_malloc(64);
    REQUIRE(keep != NULL);
    enum { N = 3000 };
    static void *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = om_malloc(64);
        REQUIRE(b[i] != NULL);
        memset(b[i], 0x42, 64);
    }
    for (int i = 0; i < N; i++)
        om_free(b[i]);
    long pu0 = atomic_load(&ctr.purge_calls);
    om_stats s0;
    om_stats_get(&s0);
    om_trim(0);
    om_stats s1;
    om_stats_get(&s1);
    CHECK_GT(atomic_load(&ctr.purge_calls), pu0);
    CHECK_GT(s1.os_failures, s0.os_failures);
    CHECK_EQ(om_heap_check(1), 0);
    for (int i = 0; i < N; i++) {
        b[i] = om_malloc(64);
        REQUIRE(b[i] != NULL);
        memset(b[i], 0x43, 64);
    }
    for (int i = 0; i < N; i++) {
        CHECK(tu_all_bytes(b[i], 64, 0x43));
        om_free(b[i]);
    }
    atomic_store(&ctr.purge_fails, 0);
    om_free(keep);
    om_trim(1);
    CHECK_EQ(om_heap_check(1), 0);
    uninstall();
}

/* A release that fails leaves its range mapped, and objmem tries it again
 * (at the next reserve, release or om_trim): once the failures stop,
 * nothing stays mapped that objmem no longer uses. */
static void test_release_failure_retried(void)
{
    install();
    om_trim(1);
    long baseline = atomic_load(&ctr.mapped);
    om_stats s0;
    om_stats_get(&s0);
    void *big = om_malloc(3 * TU_MIB);
    REQUIRE(big != NULL);
    enum { N = 2000 };
    static void *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = om_malloc(i % 2 ? 200 : 20000);
        REQUIRE(b[i] != NULL);
    }
    atomic_store(&ctr.release_fails, 1000);
    om_free(big);
    for (int i = 0; i < N; i++)
        om_free(b[i]);
    om_trim(1);
    om_stats s1;
    om_stats_get(&s1);
    CHECK_GT(s1.os_failures, s0.os_failures);
    CHECK_GT(atomic_load(&ctr.mapped), baseline); /* still mapped: released nothing */
    CHECK_EQ((int64_t)(s1.os_bytes_reserved - s0.os_bytes_reserved),
             (int64_t)(atomic_load(&ctr.mapped) - baseline));
    CHECK_EQ(om_heap_check(1), 0);
    atomic_store(&ctr.release_fails, 0);
    om_trim(1);
    CHECK_MSG(atomic_load(&ctr.mapped) == baseline, "%ld bytes mapped, baseline %ld",
              atomic_load(&ctr.mapped), baseline);
    om_stats s2;
    om_stats_get(&s2);
    CHECK_EQ(s2.os_bytes_reserved, s0.os_bytes_reserved);
    uninstall();
}

int main(int argc, char **argv)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    static const check_case cases[] = {
        CHECK_CASE(test_defaults_and_restore),
        CHECK_CASE(test_counts_match_stats),
        CHECK_CASE(test_oom_sweep),
        CHECK_CASE(test_purge_failure_tolerated),
        CHECK_CASE(test_release_failure_retried),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
