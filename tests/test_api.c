/*
 * test_api.c — the allocation API of objmem.h section 2, black box:
 * malloc/calloc/realloc/free/usable_size/aligned_alloc/posix_memalign/owns,
 * the documented size classes, failure modes (NULL + errno) and ownership;
 * om_trim.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

static void test_version(void)
{
    CHECK(om_version() != NULL);
    CHECK(strcmp(om_version(), OM_VERSION_STRING) == 0);
}

static void test_free_null(void)
{
    om_free(NULL);
    CHECK_EQ(om_usable_size(NULL), 0);
    CHECK_EQ(om_owns(NULL), 0);
}

static void test_malloc_zero_unique(void)
{
    enum { N = 200 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = om_malloc(0);
        REQUIRE(p[i] != NULL);
        CHECK_EQ((uintptr_t)p[i] % 16, 0);
        CHECK(om_owns(p[i]));
        for (int j = 0; j < i; j++)
            CHECK(p[i] != p[j]);
    }
    for (int i = 0; i < N; i++)
        om_free(p[i]);
    CHECK_EQ(om_heap_check(1), 0);
}

/* Every size 1..600: 16-aligned, usable >= n, small usable == class size,
 * writable over its usable size, described as the right class. */
static void test_every_size_small(void)
{
    void *p[601];
    for (size_t n = 1; n <= 600; n++) {
        p[n] = om_malloc(n);
        REQUIRE(p[n] != NULL);
        CHECK_EQ((uintptr_t)p[n] % 16, 0);
        size_t us = om_usable_size(p[n]);
        CHECK_GE(us, n);
        CHECK_EQ(us, tu_class_size(n));
        memset(p[n], (int)(n & 0xff), us);
        CHECK(om_owns(p[n]));
        om_block_info bi;
        REQUIRE_EQ(om_block_describe(p[n], &bi), 0);
        CHECK_EQ(bi.kind, tu_class_size(n) <= TU_POOL16_MAX ? OM_BLOCK_SMALL : OM_BLOCK_MEDIUM);
        CHECK_PTR_EQ(bi.block, p[n]);
        CHECK_EQ(bi.block_size, tu_class_size(n));
        if (n <= 512)
            CHECK_EQ(bi.size_class, tu_small_class(n));
    }
    for (size_t n = 1; n <= 600; n++) {
        CHECK(tu_all_bytes(p[n], om_usable_size(p[n]), (unsigned char)(n & 0xff)));
        om_free(p[n]);
    }
    CHECK_EQ(om_heap_check(1), 0);
}

static void check_one_size(size_t n)
{
    void *p = om_malloc(n);
    CHECK_MSG(p != NULL, "om_malloc(%zu)", n);
    if (p == NULL)
        return;
    CHECK_EQ((uintptr_t)p % 16, 0);
    size_t us = om_usable_size(p);
    CHECK_GE(us, n);
    om_block_info bi;
    CHECK_EQ(om_block_describe(p, &bi), 0);
    if (n <= TU_MEDIUM_MAX) {
        CHECK_MSG(us == tu_class_size(n), "usable_size(%zu) = %zu, class %zu", n, us,
                  tu_class_size(n));
        CHECK_EQ(bi.kind, tu_class_size(n) <= TU_POOL16_MAX ? OM_BLOCK_SMALL : OM_BLOCK_MEDIUM);
    } else {
        CHECK_EQ(bi.kind, OM_BLOCK_LARGE);
        CHECK_EQ(bi.size_class, -1);
    }
    CHECK_EQ(bi.block_size, us);
    /* touch first, last usable and request-end bytes */
    unsigned char *b = p;
    b[0] = 1;
    b[n - 1] = 2;
    b[us - 1] = 3;
    CHECK(om_owns(p));
    om_free(p);
}

static void test_medium_large_sweep(void)
{
    /* every class boundary and its neighbours */
    for (int i = 32; i < OM_NUM_CLASSES; i++) {
        size_t cs = tu_class_size_at(i);
        check_one_size(cs - 1);
        check_one_size(cs);
        check_one_size(cs + 1);
    }
    /* a pseudo-random sweep through medium and large */
    uint64_t rng = 42;
    for (int i = 0; i < OM_TEST_SCALE(2000); i++)
        check_one_size(tu_range(&rng, 513, TU_MEDIUM_MAX));
    for (int i = 0; i < OM_TEST_SCALE(200); i++)
        check_one_size(tu_range(&rng, TU_MEDIUM_MAX + 1, 8 * TU_MIB));
    size_t big[] = { TU_MEDIUM_MAX + 1, 256 * TU_KIB, TU_MIB, TU_MIB + 1, 4 * TU_MIB - 1,
                     32 * TU_MIB, 100 * TU_MIB };
    for (size_t i = 0; i < CHECK_COUNT(big); i++)
        check_one_size(big[i]);
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_calloc_zeroes(void)
{
    size_t sizes[] = { 1, 15, 16, 100, 512, 513, 1000, 4000, 70000, TU_MEDIUM_MAX,
                       TU_MEDIUM_MAX + 1, 300000, 2 * TU_MIB };
    for (size_t k = 0; k < CHECK_COUNT(sizes); k++) {
        size_t n = sizes[k];
        /* make dirty blocks of this class, free them, calloc must zero reuse */
        void *dirty[8];
        for (int i = 0; i < 8; i++) {
            dirty[i] = om_malloc(n);
            REQUIRE(dirty[i] != NULL);
            memset(dirty[i], 0xAB, om_usable_size(dirty[i]));
        }
        for (int i = 0; i < 8; i++)
            om_free(dirty[i]);
        for (int i = 0; i < 8; i++) {
            unsigned char *z = om_calloc(1, n);
            REQUIRE(z != NULL);
            CHECK_MSG(tu_all_bytes(z, n, 0), "om_calloc(1, %zu) not zeroed", n);
            dirty[i] = z;
            memset(z, 0xCD, n);
        }
        for (int i = 0; i < 8; i++)
            om_free(dirty[i]);
        /* count * size form */
        unsigned char *z = om_calloc(n, 3);
        REQUIRE(z != NULL);
        CHECK_GE(om_usable_size(z), n * 3);
        CHECK(tu_all_bytes(z, n * 3, 0));
        om_free(z);
    }
    om_free(om_calloc(0, 16));
    om_free(om_calloc(16, 0));
}

static void expect_enomem_ptr(void *p, const char *what, size_t a, size_t b)
{
    int e = errno;
    CHECK_MSG(p == NULL, "%s(%zu, %zu) returned %p", what, a, b, p);
    CHECK_MSG(e == ENOMEM, "%s(%zu, %zu) errno %d, want ENOMEM", what, a, b, e);
    if (p != NULL)
        om_free(p);
}

static void test_calloc_overflow(void)
{
    struct { size_t a, b; } cases[] = {
        { SIZE_MAX / 2 + 1, 2 },
        { 2, SIZE_MAX / 2 + 1 },
        { SIZE_MAX, SIZE_MAX },
        { (size_t)1 << 32, ((size_t)1 << 32) + 1 },
        { ((size_t)1 << 33) + 1, (size_t)1 << 31 },
        { SIZE_MAX, 2 },
        { SIZE_MAX / 16 + 1, 16 },
    };
    for (size_t i = 0; i < CHECK_COUNT(cases); i++) {
        errno = 0;
        void *p = om_calloc(cases[i].a, cases[i].b);
        expect_enomem_ptr(p, "om_calloc", cases[i].a, cases[i].b);
    }
}

static void test_huge_sizes(void)
{
    size_t huge[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX - 4096 * 2,
                      (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX, (size_t)1 << 60 };
    void *keep = om_malloc(100);
    REQUIRE(keep != NULL);
    tu_fill(keep, 100, 9);
    for (size_t i = 0; i < CHECK_COUNT(huge); i++) {
        size_t n = huge[i];
        errno = 0;
        expect_enomem_ptr(om_malloc(n), "om_malloc", n, 0);
        errno = 0;
        expect_enomem_ptr(om_calloc(1, n), "om_calloc", 1, n);
        errno = 0;
        expect_enomem_ptr(om_calloc(n, 1), "om_calloc", n, 1);
        errno = 0;
        expect_enomem_ptr(om_aligned_alloc(16, n), "om_aligned_alloc", 16, n);
        errno = 0;
        expect_enomem_ptr(om_aligned_alloc(4096, n), "om_aligned_alloc", 4096, n);
        errno = 0;
        expect_enomem_ptr(om_realloc(NULL, n), "om_realloc(NULL)", 0, n);
        /* a failed realloc leaves the block alone */
        errno = 0;
        void *r = om_realloc(keep, n);
        expect_enomem_ptr(r, "om_realloc", 100, n);
        CHECK(om_owns(keep));
        CHECK_EQ(tu_verify_from(keep, keep, 100, 9), 100);
        void *out = (void *)&out;
        CHECK_EQ(om_posix_memalign(&out, 64, n), ENOMEM);
    }
    om_free(keep);
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_posix_memalign(void)
{
    void *p = NULL;
    size_t bad[] = { 0, 1, 2, 4, 3, 12, 24, 48, 96, 100, 4097, ((size_t)1 << 20) + 16 };
    for (size_t i = 0; i < CHECK_COUNT(bad); i++) {
        if (bad[i] >= sizeof(void *) && tu_is_pow2(bad[i]))
            continue;
        p = NULL;
        int rc = om_posix_memalign(&p, bad[i], 64);
        CHECK_MSG(rc == EINVAL, "om_posix_memalign(align %zu) = %d, want EINVAL", bad[i], rc);
        if (rc == 0)
            om_free(p);
    }
    for (size_t a = sizeof(void *); a <= 1u << 20; a *= 2) {
        size_t sizes[] = { 0, 1, 8, 24, a, a + 1, 1000 };
        for (size_t k = 0; k < CHECK_COUNT(sizes); k++) {
            p = NULL;
            CHECK_EQ(om_posix_memalign(&p, a, sizes[k]), 0);
            REQUIRE(p != NULL);
            CHECK_EQ((uintptr_t)p % a, 0);
            CHECK_GE(om_usable_size(p), sizes[k]);
            CHECK(om_owns(p));
            if (sizes[k] > 0)
                memset(p, 0x5A, sizes[k]);
            om_free(p);
        }
    }
}

static void test_aligned_alloc(void)
{
    size_t bad[] = { 0, 3, 5, 6, 12, 24, 48, 100, 1000, 4097, (size_t)3 << 20 };
    for (size_t i = 0; i < CHECK_COUNT(bad); i++) {
        errno = 0;
        void *p = om_aligned_alloc(bad[i], 64);
        int e = errno;
        CHECK_MSG(p == NULL && e == EINVAL, "om_aligned_alloc(%zu, 64) = %p errno %d", bad[i], p,
                  e);
        if (p != NULL)
            om_free(p);
    }
    errno = 0;
    void *toolarge = om_aligned_alloc((size_t)1 << 31, 64);
    int e = errno;
    CHECK_MSG(toolarge == NULL && e == EINVAL, "alignment 2^31: %p errno %d", toolarge, e);
    if (toolarge != NULL)
        om_free(toolarge);

    /* small alignments are valid powers of two; every pointer is 16-aligned anyway */
    for (size_t a = 1; a <= 8; a *= 2) {
        void *p = om_aligned_alloc(a, 40);
        CHECK(p != NULL);
        CHECK_EQ((uintptr_t)p % 16, 0);
        om_free(p);
    }
    size_t sizes[] = { 1, 8, 16, 100, 512, 513, 1000, 4096, 5000, 65536, TU_MEDIUM_MAX,
                       200000, TU_MIB };
    size_t aligns[] = { 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536,
                        TU_MIB };
    for (size_t i = 0; i < CHECK_COUNT(aligns); i++) {
        for (size_t k = 0; k < CHECK_COUNT(sizes); k++) {
            void *q[3];
            for (int r = 0; r < 3; r++) {
                q[r] = om_aligned_alloc(aligns[i], sizes[k]);
                CHECK_MSG(q[r] != NULL, "om_aligned_alloc(%zu, %zu)", aligns[i], sizes[k]);
                if (q[r] == NULL)
                    return;
                CHECK_MSG((uintptr_t)q[r] % aligns[i] == 0, "om_aligned_alloc(%zu, %zu) = %p",
                          aligns[i], sizes[k], q[r]);
                CHECK_GE(om_usable_size(q[r]), sizes[k]);
                CHECK(om_owns(q[r]));
                memset(q[r], 0x77, sizes[k]);
            }
            for (int r = 0; r < 3; r++) {
                CHECK(tu_all_bytes(q[r], sizes[k], 0x77));
                om_free(q[r]);
            }
        }
    }
    /* the largest documented alignment */
    void *g = om_aligned_alloc((size_t)1 << 30, 100);
    CHECK(g != NULL);
    CHECK_EQ((uintptr_t)g % ((size_t)1 << 30), 0);
    om_free(g);
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_realloc_moves_across_kinds(void)
{
    size_t chain[] = { 40, 1000, 300000, 100, 5000, 600, 2 * TU_MIB, 20, 17, 70000, 1 };
    unsigned char *p = om_realloc(NULL, chain[0]);
    REQUIRE(p != NULL);
    tu_fill(p, chain[0], 1);
    const void *key = p;
    size_t have = chain[0];
    for (size_t i = 1; i < CHECK_COUNT(chain); i++) {
        size_t n = chain[i];
        unsigned char *q = om_realloc(p, n);
        REQUIRE(q != NULL);
        size_t keep = have < n ? have : n;
        CHECK_MSG(tu_verify_from(q, key, keep, (unsigned)i) == keep,
                  "contents lost in realloc %zu -> %zu", have, n);
        CHECK_GE(om_usable_size(q), n);
        CHECK_EQ((uintptr_t)q % 16, 0);
        if (q != p)
            CHECK(!om_owns(p) || chain[i - 1] <= TU_MEDIUM_MAX);
        p = q;
        tu_fill(p, n, (unsigned)i + 1);
        key = p;
        have = n;
    }
    om_free(p);
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_realloc_in_place(void)
{
    /* within one small class */
    void *p = om_malloc(40);
    REQUIRE(p != NULL);
    tu_fill(p, 40, 3);
    for (size_t n = 33; n <= 48; n++) {
        void *q = om_realloc(p, n);
        CHECK_PTR_EQ(q, p);
        if (q != p)
            p = q;
    }
    CHECK_EQ(tu_verify_from(p, p, 33, 3), 33);
    om_free(p);
    /* within one medium class (641..768) */
    p = om_malloc(700);
    REQUIRE(p != NULL);
    for (size_t n = 641; n <= 768; n += 7) {
        void *q = om_realloc(p, n);
        CHECK_PTR_EQ(q, p);
        p = q;
    }
    om_free(p);
    /* realloc(NULL, n) is malloc */
    p = om_realloc(NULL, 100);
    CHECK(p != NULL);
    CHECK(om_owns(p));
    CHECK_GE(om_usable_size(p), 100);
    om_free(p);
}

static int static_object[64];

static void test_owns(void)
{
    _Alignas(16) char stack_buf[64];
    memset(stack_buf, 0, sizeof stack_buf);
    CHECK(!om_owns(stack_buf));
    CHECK(!om_owns(static_object));
    CHECK(!om_owns("a string literal in rodata, long enough"));
    void *lp = malloc(64);
    REQUIRE(lp != NULL);
    CHECK(!om_owns(lp));
    CHECK_EQ(om_usable_size(lp), 0);
    CHECK_EQ(om_usable_size(stack_buf), 0);
    free(lp);
    CHECK(!om_owns((void *)(uintptr_t)16));
    CHECK(!om_owns((void *)(uintptr_t)0x7ffffffff000u));

    size_t sizes[] = { 64, 1000, 500000 };
    for (size_t i = 0; i < CHECK_COUNT(sizes); i++) {
        char *p = om_malloc(sizes[i]);
        REQUIRE(p != NULL);
        CHECK(om_owns(p));
        CHECK(!om_owns(p + 16));
        CHECK(!om_owns(p + 1));
        CHECK(!om_owns(p + 32));
        om_free(p);
    }
    /* freed large blocks are not owned, whether cached or unmapped */
    size_t large[] = { 200000, 1000000, 3 * TU_MIB, 40 * TU_MIB };
    for (size_t i = 0; i < CHECK_COUNT(large); i++) {
        void *p = om_malloc(large[i]);
        REQUIRE(p != NULL);
        CHECK(om_owns(p));
        om_free(p);
        CHECK_MSG(!om_owns(p), "freed large block of %zu still owned", large[i]);
    }
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_options_roundtrip(void)
{
    long old = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 123);
    CHECK_EQ(om_option_get(OM_OPTION_PURGE_DELAY_MS), 123);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, old);
    CHECK_EQ(om_option_get(OM_OPTION_PURGE_DELAY_MS), old);
    if (getenv("OBJMEM_PURGE_DELAY_MS") == NULL)
        CHECK_EQ(old, 10);
    if (getenv("OBJMEM_LARGE_CACHE_MB") == NULL)
        CHECK_EQ(om_option_get(OM_OPTION_LARGE_CACHE_MB), 64);
    if (getenv("OBJMEM_LARGE_DECAY_MS") == NULL)
        CHECK_EQ(om_option_get(OM_OPTION_LARGE_DECAY_MS), 1000);
    if (getenv("OBJMEM_CHECKED") == NULL)
        CHECK_EQ(om_option_get(OM_OPTION_CHECKED), 0);
    if (getenv("OBJMEM_PURGE_DECOMMIT") == NULL)
        CHECK_EQ(om_option_get(OM_OPTION_PURGE_DECOMMIT), 1);
}

/* Many live blocks of many sizes at once: no two overlap, all intact. */
static void test_many_live(void)
{
    enum { N = 3000 };
    static unsigned char *p[N];
    static size_t sz[N];
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        sz[i] = (i % 10 == 0) ? tu_range(&rng, 513, 20000) : tu_range(&rng, 1, 512);
        p[i] = om_malloc(sz[i]);
        REQUIRE(p[i] != NULL);
        tu_fill(p[i], sz[i], (unsigned)i);
    }
    for (int i = 0; i < N; i += 2) {
        CHECK_EQ(tu_verify_from(p[i], p[i], sz[i], (unsigned)i), sz[i]);
        om_free(p[i]);
        p[i] = NULL;
    }
    for (int i = 1; i < N; i += 2)
        CHECK_EQ(tu_verify_from(p[i], p[i], sz[i], (unsigned)i), sz[i]);
    for (int i = 1; i < N; i += 2)
        om_free(p[i]);
    CHECK_EQ(om_heap_check(1), 0);
}

/* A large block grows by moving pages (mremap), not bytes: contents kept,
 * the ownership map follows the block, the old address is no longer ours.
 * (The large cache emptied first: a cached mapping right after the block
 * would be taken over without an mremap; test_large.c tests that.) */
static void test_realloc_large_grows_by_remap(void)
{
    size_t n = 1 << 20;
    om_trim(0);
    unsigned char *p = om_malloc(n);
    REQUIRE(p != NULL);
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (unsigned char)(i >> 12);
    om_stats s0, s1;
    om_stats_get(&s0);
    for (size_t grow = 4 * n; grow <= 64 * n; grow *= 4) {
        unsigned char *q = om_realloc(p, grow);
        REQUIRE(q != NULL);
        CHECK_EQ((uintptr_t)q % 16, 0);
        CHECK(om_usable_size(q) >= grow);
        CHECK(om_owns(q));
        if (q != p)
            CHECK(!om_owns(p));
        for (size_t i = 0; i < n; i += 4096)
            if (!check_record(q[i] == (unsigned char)(i >> 12), __FILE__, __LINE__, "contents kept"))
                break;
        q[grow - 1] = 7; /* the new tail is usable */
        p = q;
    }
    om_stats_get(&s1);
    CHECK(s1.os_remap_calls >= s0.os_remap_calls + 3);
    CHECK_EQ(om_heap_check(1), 0);
    om_free(p);
    CHECK(!om_owns(p));
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_version),
        CHECK_CASE(test_free_null),
        CHECK_CASE(test_malloc_zero_unique),
        CHECK_CASE(test_every_size_small),
        CHECK_CASE(test_medium_large_sweep),
        CHECK_CASE(test_calloc_zeroes),
        CHECK_CASE(test_calloc_overflow),
        CHECK_CASE(test_huge_sizes),
        CHECK_CASE(test_posix_memalign),
        CHECK_CASE(test_aligned_alloc),
        CHECK_CASE(test_realloc_moves_across_kinds),
        CHECK_CASE(test_realloc_in_place),
        CHECK_CASE(test_realloc_large_grows_by_remap),
        CHECK_CASE(test_owns),
        CHECK_CASE(test_options_roundtrip),
        CHECK_CASE(test_many_live),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
