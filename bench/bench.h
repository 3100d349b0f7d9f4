/*
 * bench.h — shared pieces of bench_alloc: the allocator table every
 * workload calls through, the workload entry points, the RNG and size
 * mixes, the clock, RSS probes and scratch memory that bypasses the
 * allocator under test.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------- allocators */

/* Every allocator is reached through these pointers, so call overhead is
 * the same for all of them (one indirect call). */
typedef struct bench_allocator {
    const char *name;
    void *(*malloc_fn)(size_t size);
    void *(*calloc_fn)(size_t count, size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
} bench_allocator;

/* alloc_pymalloc.c: initialise CPython (forcing pymalloc) and fill *out
 * with PyObject_Malloc & co.  Returns 0, or -1 with a message on stderr. */
int bench_pymalloc_init(bench_allocator *out);

/* ---------------------------------------------------------- workloads */

typedef struct bench_params {
    int quick;              /* smaller sizes for a smoke test */
    const char *trace_path; /* --trace FILE (trace workload) */
    long passes;            /* --passes N (trace workload), 0 = default */
    uint64_t seed;
} bench_params;

typedef struct bench_result {
    uint64_t ops;          /* allocator calls in the timed phase */
    uint64_t ns;           /* nanoseconds spent in the timed phase */
    long base_rss_kb;      /* RSS after setup, before the workload */
    long peak_rss_kb;      /* VmHWM over the workload (reset after setup) */
    long final_rss_kb;     /* RSS after everything was freed and settled */
    long after_free90_kb;  /* frag only: RSS after freeing 90%, else -1 */
    long extra;            /* workload-specific count (live blocks, events) */
    uint64_t checksum;     /* bytes read back from blocks; defeats DCE */
} bench_result;

typedef int (*bench_workload_fn)(const bench_allocator *a, const bench_params *p,
                                 bench_result *r);

int bench_work_churn(const bench_allocator *a, const bench_params *p, bench_result *r);
int bench_work_lifo(const bench_allocator *a, const bench_params *p, bench_result *r);
int bench_work_fifo(const bench_allocator *a, const bench_params *p, bench_result *r);
int bench_work_frag(const bench_allocator *a, const bench_params *p, bench_result *r);
int bench_work_trace(const bench_allocator *a, const bench_params *p, bench_result *r);

/* ---------------------------------------------------------- utilities */

/* xorshift64* — small, fast, fixed seed => identical sequence every run. */
static inline uint64_t bench_rng(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform integer in [0, n) from 32 random bits (multiply-shift). */
static inline uint32_t bench_below(uint32_t bits, uint32_t n)
{
    return (uint32_t)(((uint64_t)bits * n) >> 32);
}

/* Python-like request size: 75% 16..128, ~24% 129..512, ~1% 513..8192. */
static inline size_t bench_size_python(uint64_t *state)
{
    uint64_t r = bench_rng(state);
    uint32_t pick = (uint32_t)(r & 1023u);
    uint32_t bits = (uint32_t)(r >> 32);
    if (pick < 768)
        return 16 + bench_below(bits, 113);
    if (pick < 1013)
        return 129 + bench_below(bits, 384);
    return 513 + bench_below(bits, 7680);
}

/* Small-only mix: the same shape without the >512 tail (16..512). */
static inline size_t bench_size_small(uint64_t *state)
{
    uint64_t r = bench_rng(state);
    uint32_t pick = (uint32_t)(r & 1023u);
    uint32_t bits = (uint32_t)(r >> 32);
    if (pick < 768)
        return 16 + bench_below(bits, 113);
    return 129 + bench_below(bits, 384);
}

uint64_t bench_now_ns(void);                 /* CLOCK_MONOTONIC */
long bench_rss_kb(void);                     /* current RSS, /proc/self/statm */
long bench_hwm_kb(void);                     /* VmHWM, /proc/self/status */
void bench_reset_hwm(void);                  /* clear_refs "5": VmHWM := RSS */
/* Sleep 50 ms, then one malloc+free of a 16-byte block: the same settling
 * step for every allocator before any RSS reading taken after frees. */
void bench_settle(const bench_allocator *a);
/* Zeroed, pre-touched scratch memory straight from mmap (never from the
 * allocator under test); bench_scratch_free to give it back. */
void *bench_scratch(size_t bytes);
/* Like bench_scratch, but not pre-touched: only the pages used count. */
void *bench_scratch_lazy(size_t bytes);
void bench_scratch_free(void *p, size_t bytes);
/* Print "bench_alloc: ..." to stderr and exit(2). */
void bench_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif /* BENCH_H */
