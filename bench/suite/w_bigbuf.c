/*
 * w_bigbuf.c — big zero-initialised buffers, and one buffer grown by
 * realloc.
 *
 *   --mode calloc   at most --live (20) buffers of 5..25 MiB live in slots;
 *                   each step picks a random slot, checks and frees what is
 *                   there, and puts a new calloc'd buffer of a random size
 *                   in it (the shape of mimalloc-bench's "big buffers"
 *                   tests, and of programs that keep a few large zeroed
 *                   work areas).
 *   --mode memset   the same with malloc + memset(0): what a program that
 *                   zeroes by hand asks of the allocator (no calloc
 *                   shortcut for fresh pages).
 *   --mode new      the same with C++ `new char[n]()` / `delete[]`
 *                   (bigbuf_new.cpp; only when the suite was built with a
 *                   C++ compiler).
 *   --mode realloc  one buffer starts at 1 MiB and grows by realloc in
 *                   steps of 1/8 of its size (a growing string or log
 *                   buffer) up to --max-mib (1024), --reps times.
 *
 * Every new buffer is read back in full and must be zero (calloc, memset,
 * new); then each of its pages gets a stamp, checked before the free.
 * realloc stamps each new page and checks the old ones after each step.
 */
#include "suite.h"

#define PAGE 4096

/* bigbuf_new.cpp: new char[n]() and delete[] (weak: absent in a C-only
 * build). */
void *bb_new_zeroed(size_t n) __attribute__((weak));
void bb_delete(void *p) __attribute__((weak));

enum { M_CALLOC, M_MEMSET, M_NEW, M_REALLOC };

static void *zeroed(int mode, size_t n)
{
    void *p;
    switch (mode) {
    case M_CALLOC:
        p = calloc(1, n);
        break;
    case M_MEMSET:
        p = malloc(n);
        if (p)
            memset(p, 0, n);
        break;
    default:
        p = bb_new_zeroed(n);
        break;
    }
    return su_nonnull(p, n);
}

static void release(int mode, void *p)
{
    if (mode == M_NEW)
        bb_delete(p);
    else
        free(p);
}

/* Must be all zero: read every byte (as 8-byte words). */
static void check_zero(const unsigned char *p, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint64_t w[8];
        memcpy(w, p + i, 64);
        acc |= w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7];
    }
    for (; i < n; i++)
        acc |= p[i];
    if (acc)
        su_die("a new buffer of %zu bytes is not zero-initialised", n);
}

/* One stamp at the start of each page (that leaves room for the tail
 * word: off + 16 <= n). */
static void stamp_pages(unsigned char *p, size_t from, size_t n, uint64_t key)
{
    for (size_t off = from; off + 16 <= n; off += PAGE) {
        uint64_t v = key + (off / PAGE) * SU_K;
        memcpy(p + off, &v, 8);
    }
}

static void check_pages(const unsigned char *p, size_t n, uint64_t key, size_t every)
{
    for (size_t off = 0; off + 16 <= n; off += PAGE * every) {
        uint64_t v;
        memcpy(&v, p + off, 8);
        if (v != key + (off / PAGE) * SU_K)
            su_die("buffer of %zu bytes: page at offset %zu was overwritten", n, off);
    }
}

static void check_tail(const unsigned char *p, size_t n, uint64_t key)
{
    uint64_t v;
    memcpy(&v, p + n - 8, 8);
    if (v != (key ^ n))
        su_die("buffer of %zu bytes: its last word was overwritten", n);
}

static void run_slots(int mode, long iters, long live, size_t lo, size_t hi, uint64_t seed)
{
    struct slot {
        unsigned char *p;
        size_t n;
        uint64_t key;
    } *slot = su_scratch(sizeof(struct slot) * (size_t)live);
    su_rng rng;
    su_rng_seed(&rng, seed, 0);
    uint64_t sum = 0, bytes = 0;
    for (long it = 0; it < iters; it++) {
        struct slot *s = &slot[su_below(&rng, (uint32_t)live)];
        if (s->p) {
            check_pages(s->p, s->n, s->key, 1);
            check_tail(s->p, s->n, s->key);
            sum += s->key;
            release(mode, s->p);
        }
        s->n = su_range(&rng, lo, hi);
        s->key = su_next(&rng);
        s->p = zeroed(mode, s->n);
        check_zero(s->p, s->n);
        stamp_pages(s->p, 0, s->n, s->key);
        uint64_t t = s->key ^ s->n;
        memcpy(s->p + s->n - 8, &t, 8);
        bytes += s->n;
    }
    for (long i = 0; i < live; i++) {
        struct slot *s = &slot[i];
        if (!s->p)
            continue;
        check_pages(s->p, s->n, s->key, 1);
        check_tail(s->p, s->n, s->key);
        sum += s->key;
        release(mode, s->p);
    }
    su_scratch_free(slot, sizeof(struct slot) * (size_t)live);
    printf("iters=%ld live=%ld bytes=%llu chk=%016llx\n", iters, live, (unsigned long long)bytes,
           (unsigned long long)sum);
}

static void run_realloc(long reps, size_t max, uint64_t seed)
{
    su_rng rng;
    su_rng_seed(&rng, seed, 1);
    uint64_t sum = 0, steps = 0;
    for (long r = 0; r < reps; r++) {
        uint64_t key = su_next(&rng);
        size_t n = (size_t)1 << 20;
        unsigned char *p = su_nonnull(malloc(n), n);
        stamp_pages(p, 0, n, key);
        while (n < max) {
            size_t m = n + n / 8;
            if (m > max)
                m = max;
            p = su_nonnull(realloc(p, m), m);
            /* the old contents must have moved along: a sample of pages
             * (every 16th) and the old last page */
            check_pages(p, n, key, 16);
            size_t last = (n - 16) / PAGE * PAGE;
            uint64_t v;
            memcpy(&v, p + last, 8);
            if (v != key + (last / PAGE) * SU_K)
                su_die("realloc to %zu bytes lost the old contents", m);
            /* the new part gets used: stamp each of its pages */
            size_t from = (n + PAGE - 1) / PAGE * PAGE;
            stamp_pages(p, from, m, key);
            n = m;
            steps++;
        }
        check_pages(p, n, key, 1);
        sum += key;
        free(p);
    }
    printf("reps=%ld max=%zu steps=%llu chk=%016llx\n", reps, max, (unsigned long long)steps,
           (unsigned long long)sum);
}

int main(int argc, char **argv)
{
    su_opts o;
    su_opts_init(&o, "w_bigbuf", "Big zero-initialised buffers (calloc, memset, new) or realloc growth.");
    su_opts_add(&o, "mode", "calloc | memset | new | realloc (default calloc)");
    su_opts_add(&o, "iters", "buffers allocated (default 600, quick 60)");
    su_opts_add(&o, "live", "slots, at most this many buffers live (default 20)");
    su_opts_add(&o, "min-mib", "smallest buffer in MiB (default 5)");
    su_opts_add(&o, "max-mib", "largest buffer in MiB (default 25); realloc: final size (1024, quick 64)");
    su_opts_add(&o, "reps", "realloc: growths from 1 MiB (default 2, quick 2)");
    su_opts_add(&o, "seed", "RNG seed (default 1)");
    su_opts_parse(&o, argc, argv);
    const char *ms = su_opt_str(&o, "mode", "calloc");
    int mode;
    if (!strcmp(ms, "calloc"))
        mode = M_CALLOC;
    else if (!strcmp(ms, "memset"))
        mode = M_MEMSET;
    else if (!strcmp(ms, "new"))
        mode = M_NEW;
    else if (!strcmp(ms, "realloc"))
        mode = M_REALLOC;
    else
        su_die("unknown --mode '%s'", ms);
    if (mode == M_NEW && (!bb_new_zeroed || !bb_delete))
        su_die("--mode new: this build has no C++ part (bigbuf_new.cpp)");
    uint64_t seed = (uint64_t)su_opt_long(&o, "seed", 1, 1, 0, 1L << 62);
    printf("mode=%s ", ms);
    if (mode == M_REALLOC) {
        long max = su_opt_long(&o, "max-mib", 1024, 64, 2, 1 << 20);
        long reps = su_opt_long(&o, "reps", 2, 2, 1, 1 << 20);
        run_realloc(reps, (size_t)max << 20, seed);
    } else {
        long iters = su_opt_long(&o, "iters", 600, 60, 1, 1L << 40);
        long live = su_opt_long(&o, "live", 20, 20, 1, 1 << 20);
        long lo = su_opt_long(&o, "min-mib", 5, 5, 1, 1 << 20);
        long hi = su_opt_long(&o, "max-mib", 25, 25, lo, 1 << 20);
        run_slots(mode, iters, live, (size_t)lo << 20, (size_t)hi << 20, seed);
    }
    return 0;
}
