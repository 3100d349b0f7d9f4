/*
 * workloads.c — the synthetic workloads of bench_alloc: churn, lifo, fifo
 * and frag (the trace replay lives in trace_replay.c).
 *
 * All are single-threaded and driven by a fixed-seed xorshift RNG, so every
 * allocator sees exactly the same request sequence.  Every block gets its
 * first byte written when allocated and read back before it is freed, so
 * no allocator is measured on memory nobody touches.  Bookkeeping arrays
 * come from mmap (bench_scratch), never from the allocator under test.
 */
#include "bench.h"

#include <string.h>

/* ------------------------------------------------------------------ churn
 * ~1 M live blocks of the Python-like size mix; then N random replacements
 * (free a random slot, allocate a new random size into it).  Timed: the
 * replacement phase only (2 allocator calls per replacement). */
int bench_work_churn(const bench_allocator *a, const bench_params *p, bench_result *r)
{
    const size_t live = p->quick ? 100000 : 1000000;
    const uint64_t replacements = p->quick ? 2000000 : 20000000;
    void *(*const mal)(size_t) = a->malloc_fn;
    void (*const fre)(void *) = a->free_fn;
    uint64_t rng = p->seed;
    uint64_t chk = 0;

    unsigned char **slots = bench_scratch(live * sizeof *slots);
    r->base_rss_kb = bench_rss_kb();
    bench_reset_hwm();

    for (size_t i = 0; i < live; i++) {
        unsigned char *q = mal(bench_size_python(&rng));
        if (!q)
            bench_die("churn: fill malloc failed");
        q[0] = (unsigned char)i;
        slots[i] = q;
    }

    uint64_t t0 = bench_now_ns();
    for (uint64_t n = 0; n < replacements; n++) {
        uint32_t idx = bench_below((uint32_t)(bench_rng(&rng) >> 32), (uint32_t)live);
        unsigned char *old = slots[idx];
        chk += old[0];
        fre(old);
        unsigned char *q = mal(bench_size_python(&rng));
        if (!q)
            bench_die("churn: malloc failed");
        q[0] = (unsigned char)n;
        slots[idx] = q;
    }
    r->ns = bench_now_ns() - t0;
    r->ops = 2 * replacements;
    r->peak_rss_kb = bench_hwm_kb();

    for (size_t i = 0; i < live; i++) {
        chk += slots[i][0];
        fre(slots[i]);
    }
    bench_settle(a);
    r->final_rss_kb = bench_rss_kb();
    r->extra = (long)live;
    r->checksum = chk;
    bench_scratch_free(slots, live * sizeof *slots);
    return 0;
}

/* ------------------------------------------------------------ lifo / fifo
 * K blocks of mixed small sizes (16..512) allocated, then all freed in
 * reverse (lifo) or allocation (fifo) order; repeated.  The size list is
 * drawn once, so each repetition asks for the same sequence.  Timed:
 * everything (2 allocator calls per block per repetition). */
static int stack_or_queue(const bench_allocator *a, const bench_params *p, bench_result *r,
                          int lifo)
{
    const size_t k = p->quick ? 20000 : 100000;
    const unsigned reps = p->quick ? 20 : 100;
    void *(*const mal)(size_t) = a->malloc_fn;
    void (*const fre)(void *) = a->free_fn;
    uint64_t rng = p->seed;
    uint64_t chk = 0;

    unsigned char **slots = bench_scratch(k * sizeof *slots);
    uint32_t *sizes = bench_scratch(k * sizeof *sizes);
    for (size_t i = 0; i < k; i++)
        sizes[i] = (uint32_t)bench_size_small(&rng);
    r->base_rss_kb = bench_rss_kb();
    bench_reset_hwm();

    uint64_t t0 = bench_now_ns();
    for (unsigned rep = 0; rep < reps; rep++) {
        for (size_t i = 0; i < k; i++) {
            unsigned char *q = mal(sizes[i]);
            if (!q)
                bench_die("%s: malloc failed", lifo ? "lifo" : "fifo");
            q[0] = (unsigned char)(i + rep);
            slots[i] = q;
        }
        if (lifo) {
            for (size_t i = k; i-- > 0;) {
                chk += slots[i][0];
                fre(slots[i]);
            }
        } else {
            for (size_t i = 0; i < k; i++) {
                chk += slots[i][0];
                fre(slots[i]);
            }
        }
    }
    r->ns = bench_now_ns() - t0;
    r->ops = 2ull * k * reps;
    r->peak_rss_kb = bench_hwm_kb();

    bench_settle(a);
    r->final_rss_kb = bench_rss_kb();
    r->extra = (long)k;
    r->checksum = chk;
    bench_scratch_free(slots, k * sizeof *slots);
    bench_scratch_free(sizes, k * sizeof *sizes);
    return 0;
}

int bench_work_lifo(const bench_allocator *a, const bench_params *p, bench_result *r)
{
    return stack_or_queue(a, p, r, 1);
}

int bench_work_fifo(const bench_allocator *a, const bench_params *p, bench_result *r)
{
    return stack_or_queue(a, p, r, 0);
}

/* ------------------------------------------------------------------ frag
 * Fill ~1 GiB (requested bytes) with blocks of 16..512 bytes, free a random
 * 90% of them, read RSS; allocate the freed amount again (into the freed
 * slots, then fresh ones), read the peak; free everything, read RSS.  RSS
 * readings after frees follow bench_settle (50 ms sleep + one tiny
 * malloc/free) for every allocator alike.  Timed: all allocator calls. */
int bench_work_frag(const bench_allocator *a, const bench_params *p, bench_result *r)
{
    const uint64_t target = p->quick ? (64ull << 20) : (1ull << 30);
    /* mean size is 264; allow plenty of extra slots for the refill */
    const size_t cap = (size_t)(target / 200) + 4096;
    void *(*const mal)(size_t) = a->malloc_fn;
    void (*const fre)(void *) = a->free_fn;
    uint64_t rng = p->seed;
    uint64_t chk = 0;
    uint64_t ns = 0, ops = 0, t0;

    unsigned char **slots = bench_scratch(cap * sizeof *slots);
    uint32_t *sizes = bench_scratch(cap * sizeof *sizes);
    uint32_t *perm = bench_scratch(cap * sizeof *perm);
    r->base_rss_kb = bench_rss_kb();
    bench_reset_hwm();

    /* 1. fill */
    size_t n = 0;
    uint64_t bytes = 0;
    t0 = bench_now_ns();
    while (bytes < target) {
        uint32_t sz = 16 + bench_below((uint32_t)(bench_rng(&rng) >> 32), 497);
        unsigned char *q = mal(sz);
        if (!q)
            bench_die("frag: fill malloc failed after %zu blocks", n);
        q[0] = (unsigned char)n;
        slots[n] = q;
        sizes[n] = sz;
        bytes += sz;
        n++;
    }
    ns += bench_now_ns() - t0;
    ops += n;

    /* 2. free a random 90% (untimed shuffle, timed frees) */
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = bench_below((uint32_t)(bench_rng(&rng) >> 32), (uint32_t)(i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    const size_t nfree = n - n / 10;
    uint64_t freed = 0;
    t0 = bench_now_ns();
    for (size_t i = 0; i < nfree; i++) {
        uint32_t s = perm[i];
        chk += slots[s][0];
        fre(slots[s]);
        slots[s] = NULL;
        freed += sizes[s];
    }
    ns += bench_now_ns() - t0;
    ops += nfree;
    bench_settle(a);
    r->after_free90_kb = bench_rss_kb();

    /* 3. allocate the freed amount again */
    size_t used = n, refilled = 0;
    uint64_t again = 0;
    t0 = bench_now_ns();
    while (again < freed) {
        size_t s;
        if (refilled < nfree) {
            s = perm[refilled];
        } else {
            if (used == cap)
                bench_die("frag: slot capacity exceeded");
            s = used++;
        }
        uint32_t sz = 16 + bench_below((uint32_t)(bench_rng(&rng) >> 32), 497);
        unsigned char *q = mal(sz);
        if (!q)
            bench_die("frag: refill malloc failed");
        q[0] = (unsigned char)s;
        slots[s] = q;
        again += sz;
        refilled++;
    }
    ns += bench_now_ns() - t0;
    ops += refilled;
    r->peak_rss_kb = bench_hwm_kb();

    /* 4. free everything */
    size_t nlive = 0;
    t0 = bench_now_ns();
    for (size_t s = 0; s < used; s++) {
        if (slots[s]) {
            chk += slots[s][0];
            fre(slots[s]);
            nlive++;
        }
    }
    ns += bench_now_ns() - t0;
    ops += nlive;
    bench_settle(a);
    r->final_rss_kb = bench_rss_kb();

    r->ns = ns;
    r->ops = ops;
    r->extra = (long)n;
    r->checksum = chk;
    bench_scratch_free(slots, cap * sizeof *slots);
    bench_scratch_free(sizes, cap * sizeof *sizes);
    bench_scratch_free(perm, cap * sizeof *perm);
    return 0;
}
