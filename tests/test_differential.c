/*
 * test_differential.c — randomized differential test of the allocation API
 * against a trivial model: an array of {pointer, size, fill byte}.
 *
 * Each step is one of malloc, calloc, realloc, free, aligned_alloc,
 * posix_memalign with mostly small, some medium and a few large sizes.
 * Checked: om_heap_check after every step (every --check-every steps),
 * alignment, usable size, calloc zeroing, contents kept by realloc and
 * untouched by everything else, no two live blocks overlapping, in-place
 * realloc within a class, and reuse: once a block of class c was freed into
 * a pool that stays in use, the next allocation of class c returns an
 * address class c has returned before (pymalloc never carves a new block
 * while one of its freed blocks waits).
 *
 *   test_differential [--seed=N] [--steps=N] [--check-every=N]
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

typedef struct live {
    unsigned char *p;
    size_t size;
    unsigned char fill;
    int aligned; /* came from an aligned call: its class may be larger */
} live;

enum { MAX_LIVE = 1500 };

static live model[MAX_LIVE];
static size_t nlive;
static uint64_t rng;
static uint64_t seed = 20240611;
static long steps = 20000;
static long check_every = 1;
static long step;

/* ---- set of (address, class) pairs ever handed out */
static uint64_t *seen;
static size_t seen_cap, seen_n;

static uint64_t seen_key(const void *p, int cls)
{
    return ((uint64_t)(uintptr_t)p << 6) | (uint64_t)(cls & 63);
}

static void seen_add_raw(uint64_t k)
{
    size_t m = seen_cap - 1, i = (size_t)((k * 0x9e3779b97f4a7c15u) >> 20) & m;
    while (seen[i] != 0 && seen[i] != k)
        i = (i + 1) & m;
    if (seen[i] == 0) {
        seen[i] = k;
        seen_n++;
    }
}

static void seen_add(const void *p, int cls)
{
    if (2 * (seen_n + 1) > seen_cap) {
        uint64_t *old = seen;
        size_t oldcap = seen_cap;
        seen_cap = seen_cap ? 2 * seen_cap : 4096;
        seen = calloc(seen_cap, sizeof *seen);
        if (seen == NULL)
            abort();
        seen_n = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i] != 0)
                seen_add_raw(old[i]);
        free(old);
    }
    seen_add_raw(seen_key(p, cls));
}

static int seen_has(const void *p, int cls)
{
    uint64_t k = seen_key(p, cls);
    size_t m = seen_cap - 1, i = (size_t)((k * 0x9e3779b97f4a7c15u) >> 20) & m;
    while (seen[i] != 0) {
        if (seen[i] == k)
            return 1;
        i = (i + 1) & m;
    }
    return 0;
}

/* ---- the model checks */
static int block_class(const void *p)
{
    om_block_info bi;
    if (om_block_describe(p, &bi) != 0)
        return -2;
    return bi.kind == OM_BLOCK_LARGE ? -1 : bi.size_class;
}

/* After a free of class c (the pool not emptied), c's next malloc must come
 * from a pool c has used before: no new pool while a freed block waits.
 * (Which block is free to choose: objmem finishes the pool at the head of
 * the class's list before it returns to pools that were full.) */
static int pending_class = -1;
static const void *pending_block;

static const void *pool_key(const void *p)
{
    om_block_info bi;
    if (om_block_describe(p, &bi) != 0 || bi.pool == NULL)
        return NULL;
    return (const char *)bi.pool + 1; /* +1: never equal to a block's address */
}

static size_t random_size(void)
{
    unsigned r = (unsigned)(tu_rand(&rng) % 1000);
    if (r < 500)
        return tu_range(&rng, 0, 128);
    if (r < 850)
        return tu_range(&rng, 129, 512);
    if (r < 990)
        return tu_range(&rng, 513, TU_MEDIUM_MAX);
    return tu_range(&rng, TU_MEDIUM_MAX + 1, OM_TEST_SANITIZED ? 512 * TU_KIB : 3 * TU_MIB);
}

static void check_new_block(unsigned char *p, size_t size, size_t align, const char *op)
{
    CHECK_MSG(p != NULL, "step %ld: %s(%zu) returned NULL", step, op, size);
    if (p == NULL)
        return;
    CHECK_MSG((uintptr_t)p % (align < 16 ? 16 : align) == 0, "step %ld: %s(%zu) = %p unaligned",
              step, op, size, (void *)p);
    CHECK_MSG(om_usable_size(p) >= size, "step %ld: %s(%zu) usable %zu", step, op, size,
              om_usable_size(p));
    CHECK_MSG(om_owns(p), "step %ld: %s(%zu) = %p not owned", step, op, size, (void *)p);
    int cls = block_class(p);
    CHECK_MSG(cls >= -1, "step %ld: %s(%zu) = %p not describable", step, op, size, (void *)p);
    /* a fresh block overlaps no live block */
    for (size_t i = 0; i < nlive; i++) {
        const unsigned char *q = model[i].p;
        int disjoint = p + (size ? size : 1) <= q || q + (model[i].size ? model[i].size : 1) <= p;
        CHECK_MSG(disjoint, "step %ld: %s(%zu) = %p overlaps live %p (%zu)", step, op, size,
                  (void *)p, (const void *)q, model[i].size);
    }
}

static void verify_fill(const live *l, const char *when)
{
    CHECK_MSG(tu_all_bytes(l->p, l->size, l->fill),
              "step %ld: block %p (%zu bytes, fill %02x) damaged %s", step, (void *)l->p, l->size,
              l->fill, when);
}

static void add_live(unsigned char *p, size_t size, int aligned)
{
    live *l = &model[nlive++];
    l->p = p;
    l->size = size;
    l->aligned = aligned;
    l->fill = (unsigned char)tu_rand(&rng);
    memset(p, l->fill, size);
    int cls = block_class(p);
    if (cls >= 0) {
        seen_add(p, cls);
        seen_add(pool_key(p), cls);
    }
}

static void check_reuse(const unsigned char *p)
{
    int cls = block_class(p);
    if (pending_class >= 0 && cls == pending_class) {
        om_block_info waiting;
        int still_waits = om_block_describe(pending_block, &waiting) == 0 && waiting.pool_state != OM_POOL_EMPTY;
        CHECK_MSG(!still_waits || seen_has(pool_key(p), cls),
                  "step %ld: class %d took a new pool (%p) while a freed block waited", step, cls,
                  (const void *)p);
        pending_class = -1;
    }
}

static void op_malloc(int zeroed)
{
    size_t n = random_size();
    unsigned char *p;
    if (zeroed) {
        size_t count = (tu_rand(&rng) & 1) && n > 1 ? 2 : 1;
        p = om_calloc(count, n / count);
        n = n / count * count;
        check_new_block(p, n, 16, "om_calloc");
        if (p != NULL)
            CHECK_MSG(tu_all_bytes(p, n, 0), "step %ld: om_calloc(%zu) not zeroed", step, n);
    } else {
        p = om_malloc(n);
        check_new_block(p, n, 16, "om_malloc");
    }
    if (p == NULL)
        return;
    check_reuse(p);
    add_live(p, n, 0);
}

static void op_aligned(int posix)
{
    size_t align = (size_t)16 << tu_range(&rng, 0, 8); /* 16 .. 4096 */
    if (posix && tu_rand(&rng) % 8 == 0)
        align = 8;
    size_t n = random_size();
    void *p = NULL;
    if (posix) {
        int rc = om_posix_memalign(&p, align, n);
        CHECK_EQ(rc, 0);
        if (rc != 0)
            p = NULL;
    } else {
        p = om_aligned_alloc(align, n);
    }
    check_new_block(p, n, align, posix ? "om_posix_memalign" : "om_aligned_alloc");
    pending_class = -1;
    if (p != NULL)
        add_live(p, n, 1);
}

static void remove_live(size_t i)
{
    model[i] = model[--nlive];
}

static void op_free(void)
{
    size_t i = (size_t)tu_range(&rng, 0, nlive - 1);
    live l = model[i];
    verify_fill(&l, "before om_free");
    om_block_info bi;
    int rc = om_block_describe(l.p, &bi);
    CHECK_EQ(rc, 0);
    remove_live(i);
    om_free(l.p);
    pending_class = -1;
    if (rc == 0 && bi.kind != OM_BLOCK_LARGE && bi.pool_blocks_used > 1) {
        pending_class = bi.size_class;
        pending_block = l.p;
    }
}

static void op_realloc(void)
{
    size_t i = (size_t)tu_range(&rng, 0, nlive - 1);
    live *l = &model[i];
    verify_fill(l, "before om_realloc");
    size_t n = random_size();
    if (n == 0)
        n = 1; /* om_realloc(p, 0) is not specified by objmem.h */
    size_t old_usable = om_usable_size(l->p);
    int old_cls = block_class(l->p);
    unsigned char *q = om_realloc(l->p, n);
    pending_class = -1;
    CHECK_MSG(q != NULL, "step %ld: om_realloc(%zu -> %zu) failed", step, l->size, n);
    if (q == NULL)
        return;
    size_t keep = l->size < n ? l->size : n;
    CHECK_MSG(tu_all_bytes(q, keep, l->fill), "step %ld: om_realloc(%zu -> %zu) lost contents",
              step, l->size, n);
    CHECK_MSG((uintptr_t)q % 16 == 0, "step %ld: realloc unaligned", step);
    CHECK_GE(om_usable_size(q), n);
    if (old_cls >= 0 && !l->aligned && n > 0 && n <= TU_MEDIUM_MAX &&
        tu_class_size(n) == old_usable)
        CHECK_MSG(q == l->p, "step %ld: om_realloc(%zu -> %zu) in the same class moved", step,
                  l->size, n);
    unsigned char *oldp = l->p;
    remove_live(i);
    if (q != oldp) {
        check_new_block(q, n, 16, "om_realloc");
    }
    add_live(q, n, 0);
}

static int cmp_live(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const live *)a)->p, y = (uintptr_t)((const live *)b)->p;
    return x < y ? -1 : x > y;
}

/* Sort by address: each block ends (usable size) before the next begins. */
static void full_check(void)
{
    static live sorted[MAX_LIVE];
    memcpy(sorted, model, nlive * sizeof *model);
    qsort(sorted, nlive, sizeof *sorted, cmp_live);
    for (size_t i = 0; i < nlive; i++) {
        verify_fill(&sorted[i], "at full check");
        size_t us = om_usable_size(sorted[i].p);
        CHECK_GE(us, sorted[i].size);
        if (i + 1 < nlive)
            CHECK_MSG(sorted[i].p + us <= sorted[i + 1].p,
                      "step %ld: %p (+%zu usable) overlaps %p", step, (void *)sorted[i].p, us,
                      (void *)sorted[i + 1].p);
    }
}

static void test_differential(void)
{
    rng = seed;
    printf("seed=%llu steps=%ld check-every=%ld\n", (unsigned long long)seed, steps,
           check_every);
    unsigned long failed0 = check_failures();
    for (step = 0; step < steps; step++) {
        unsigned r = (unsigned)(tu_rand(&rng) % 100);
        if (nlive == 0)
            r = 0;
        else if (nlive == MAX_LIVE)
            r = 99;
        if (r < 30)
            op_malloc(0);
        else if (r < 40)
            op_malloc(1);
        else if (r < 45)
            op_aligned(0);
        else if (r < 48)
            op_aligned(1);
        else if (r < 66)
            op_realloc();
        else
            op_free();
        if (step % check_every == 0) {
            int problems = om_heap_check(0);
            CHECK_MSG(problems == 0, "step %ld: om_heap_check found %d problems", step, problems);
        }
        if (step % 256 == 0)
            full_check();
        if (check_failures() - failed0 > 20) {
            fprintf(stderr, "too many failures, stopping at step %ld\n", step);
            break;
        }
    }
    full_check();
    while (nlive > 0)
        op_free();
    CHECK_EQ(om_heap_check(1), 0);
    om_stats st;
    om_stats_get(&st);
    uint64_t used = 0;
    for (int c = 0; c < OM_NUM_CLASSES; c++)
        used += st.classes[c].blocks_used;
    CHECK_EQ(used, 0);
    CHECK_EQ(st.large_count, 0);
    CHECK_EQ(st.bytes_in_use, 0);
    if (check_failures() != failed0)
        fprintf(stderr, "reproduce with: test_differential --seed=%llu --steps=%ld\n",
                (unsigned long long)seed, steps);
    free(seen);
}

int main(int argc, char **argv)
{
    steps = OM_TEST_SCALE(20000L);
    check_every = OM_TEST_SANITIZED ? 16 : 1;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--seed=", 7) == 0)
            seed = strtoull(argv[i] + 7, NULL, 0);
        else if (strncmp(argv[i], "--steps=", 8) == 0)
            steps = strtol(argv[i] + 8, NULL, 0);
        else if (strncmp(argv[i], "--check-every=", 14) == 0)
            check_every = strtol(argv[i] + 14, NULL, 0);
    }
    if (check_every < 1)
        check_every = 1;
    static const check_case cases[] = {
        CHECK_CASE(test_differential),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
