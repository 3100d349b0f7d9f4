/*
 * sample.c — OBJMEM_TRACE_SAMPLE=bytes: trace about one allocation per
 * that many bytes allocated, as jemalloc's heap profiling does
 * (lg_prof_sample), instead of every one.
 *
 * Each thread counts bytes down from a gap drawn from an exponential
 * distribution of mean R (a Poisson process of sample points over the
 * bytes it allocates).  An allocation that crosses a sample point is
 * traced and a new gap is drawn (the process is memoryless).  So a block
 * of s bytes is traced with probability p = 1 - exp(-s / R) whatever the
 * sizes around it, and stands for 1 / p blocks of s bytes: counts and
 * bytes built from those weights are unbiased estimates of the real ones
 * (the same correction as jemalloc's and Go's profilers).
 *
 * Two countdowns use these gaps.  At a mean of OMI_SAMPLE_OPEN_MIN bytes
 * or more, the allocator's own, per heap, on its fast paths (alloc.c's
 * sample_event; omi_sample_gap draws its distances), which costs an
 * untraced allocation a subtraction and a branch.  Below that mean, and
 * under debug mode, every allocation reaches the observer, which counts
 * down here (omi_sample_take).
 *
 * No libm (the core links only libc and pthreads): ln and exp are
 * computed here, to about 1e-9, from their series after range reduction.
 * The generator is xorshift64* seeded per thread from a process seed
 * (time and address at start; omi_trace_seed for tests) and a thread
 * number.
 */
#include <string.h>

#include "trace/trace.h"

#define LN2 0.69314718055994530942

static struct {
    _Atomic uint64_t mean;
    _Atomic uint64_t seed;
    _Atomic uint64_t epoch;   /* changes when mean or seed do: threads start over */
    _Atomic uint64_t threads; /* thread numbers handed out */
} smp;

typedef struct sample_thread {
    int64_t left;     /* bytes before the next sample point */
    uint64_t rng;
    uint64_t epoch;
} sample_thread;

static __thread sample_thread tl __attribute__((tls_model("initial-exec")));

/* ln x for x in (0, 1]. */
static double ln01(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1023 << 52);
    double m, t, t2, sum = 0, term;
    memcpy(&m, &bits, sizeof m); /* x = m * 2^e, m in [1, 2) */
    t = (m - 1) / (m + 1);       /* ln m = 2 atanh t, t in [0, 1/3) */
    t2 = t * t;
    term = t;
    for (int k = 1; k <= 31; k += 2) {
        sum += term / k;
        term *= t2;
    }
    return e * LN2 + 2 * sum;
}

/* exp(-x) for x >= 0. */
static double exp_neg(double x) {
    if (x > 700)
        return 0;
    int n = (int)(x / LN2);
    double r = x - n * LN2, sum = 1, term = 1; /* exp(-r), r in [0, ln 2) */
    for (int k = 1; k <= 20; k++) {
        term *= -r / k;
        sum += term;
    }
    while (n-- > 0)
        sum *= 0.5;
    return sum;
}

uint32_t omi_sample_weight(size_t size, uint64_t mean) {
    double x = (double)size / (double)mean, p;
    if (x < 1e-3) /* 1 - exp(-x) without the cancellation */
        p = x * (1 - x / 2 * (1 - x / 3 * (1 - x / 4)));
    else
        p = 1 - exp_neg(x);
    double w = (double)OMI_TRACE_ONE / p + 0.5;
    return w >= 4294967295.0 ? UINT32_MAX : (uint32_t)w;
}

static uint64_t next_random(void) {
    uint64_t x = tl.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    tl.rng = x;
    return x * 0x2545F4914F6CDD1Du;
}

static int64_t next_gap(uint64_t mean) {
    double u = (double)((next_random() >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double gap = -ln01(u) * (double)mean;
    return gap > 9e18 ? INT64_MAX : (int64_t)gap;
}

static void thread_start(uint64_t epoch, uint64_t mean) {
    uint64_t z = atomic_load_explicit(&smp.seed, memory_order_relaxed) +
                 0x9E3779B97F4A7C15u * (atomic_fetch_add_explicit(&smp.threads, 1, memory_order_relaxed) + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u; /* splitmix64's finaliser */
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    tl.rng = (z ^ (z >> 31)) | 1;
    tl.epoch = epoch;
    tl.left = next_gap(mean);
}

int omi_sample_take(size_t size, uint32_t *weight) {
    uint64_t mean = atomic_load_explicit(&smp.mean, memory_order_relaxed);
    if (mean == 0) {
        *weight = OMI_TRACE_ONE;
        return 1;
    }
    uint64_t epoch = atomic_load_explicit(&smp.epoch, memory_order_relaxed);
    if (om_unlikely(tl.epoch != epoch))
        thread_start(epoch, mean);
    tl.left -= (int64_t)(size > INT64_MAX ? INT64_MAX : size);
    if (om_likely(tl.left > 0))
        return 0;
    tl.left = next_gap(mean);
    *weight = omi_sample_weight(size ? size : 1, mean);
    return 1;
}

int64_t omi_sample_gap(void) {
    uint64_t mean = atomic_load_explicit(&smp.mean, memory_order_relaxed);
    uint64_t epoch = atomic_load_explicit(&smp.epoch, memory_order_relaxed);
    if (om_unlikely(tl.epoch != epoch))
        thread_start(epoch, mean);
    return mean ? next_gap(mean) : 0;
}

void omi_sample_configure(uint64_t mean_bytes) {
    if (!atomic_load_explicit(&smp.seed, memory_order_relaxed))
        atomic_store(&smp.seed, omi_os_now_ns() ^ (uint64_t)(uintptr_t)&smp);
    atomic_store(&smp.mean, mean_bytes);
    atomic_fetch_add(&smp.epoch, 1);
}

void omi_trace_seed(uint64_t seed) {
    atomic_store(&smp.seed, seed ? seed : 1);
    atomic_store(&smp.threads, 0);
    atomic_fetch_add(&smp.epoch, 1);
}
