/*
 * suite.h — shared pieces of the standard-workload programs (w_*.c):
 * the seeded RNG, option parsing, block stamps (the data check), scratch
 * memory that bypasses the allocator under test, and the output line.
 *
 * Every program is run as a whole process under LD_PRELOAD by
 * bench/suite.sh, so the programs call plain malloc/calloc/realloc/free.
 * Their stdout is one line of key=value pairs that depends only on the
 * parameters (never on addresses or timing), so the driver can compare
 * it across allocators.  Any failed check prints a message on stderr and
 * exits with status 1; a NULL from the allocator exits with status 2.
 */
#ifndef SUITE_H
#define SUITE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sys/mman.h>

/* ------------------------------------------------------------- RNG */

/* splitmix64: seeds the per-thread generators. */
static inline uint64_t su_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* xorshift64*: the workloads' generator (state never 0). */
typedef struct su_rng {
    uint64_t s;
} su_rng;

static inline void su_rng_seed(su_rng *r, uint64_t seed, uint64_t stream)
{
    r->s = su_mix(seed ^ su_mix(stream + 1)) | 1;
}

static inline uint64_t su_next(su_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n), n < 2^32. */
static inline uint32_t su_below(su_rng *r, uint32_t n)
{
    return (uint32_t)(((su_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static inline size_t su_range(su_rng *r, size_t lo, size_t hi)
{
    return lo + su_below(r, (uint32_t)(hi - lo + 1));
}

/* CPython-like request size (the mix of bench/bench.h): 75% 16..128,
 * ~24% 129..512, ~1% 513..8192. */
static inline size_t su_size_python(su_rng *r)
{
    uint32_t p = su_below(r, 1000);
    if (p < 750)
        return su_range(r, 16, 128);
    if (p < 990)
        return su_range(r, 129, 512);
    return su_range(r, 513, 8192);
}

/* ------------------------------------------------------------- failures */

#define su_die(...)                                                            \
    do {                                                                       \
        fprintf(stderr, "%s: ", su_prog);                                      \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
        exit(1);                                                               \
    } while (0)

extern const char *su_prog;

static inline void *su_nonnull(void *p, size_t n)
{
    if (!p && n) {
        fprintf(stderr, "%s: allocation of %zu bytes failed\n", su_prog, n);
        exit(2);
    }
    return p;
}

/* ------------------------------------------------------------- stamps */

/*
 * A block of n >= 16 bytes is stamped with a 64-bit key: words at a
 * stride (every word up to 256 bytes, every 8th word -- one per cache
 * line -- up to 4 KiB, every 64th word beyond) hold key + index * odd
 * constant, and the last 8 bytes hold key ^ n.  Two live blocks that
 * overlap overwrite each other's words, and the check before the free
 * reports it.  Blocks of 8..15 bytes hold the key in their first word
 * only.
 */
#define SU_K 0x9E3779B97F4A7C15ULL

static inline size_t su_stride_words(size_t n)
{
    return n <= 256 ? 1 : n <= 4096 ? 8 : 64;
}

static inline void su_stamp_stride(void *p, size_t n, uint64_t key, size_t stride)
{
    unsigned char *b = p;
    if (n < 16) {
        memcpy(b, &key, 8);
        return;
    }
    size_t words = n / 8;
    for (size_t i = 0; i < words; i += stride) {
        uint64_t v = key + i * SU_K;
        memcpy(b + i * 8, &v, 8);
    }
    uint64_t t = key ^ n;
    memcpy(b + n - 8, &t, 8);
}

/* Returns 0 when the stamp is intact. */
static inline int su_check_stride(const void *p, size_t n, uint64_t key, size_t stride)
{
    const unsigned char *b = p;
    uint64_t v;
    if (n < 16) {
        memcpy(&v, b, 8);
        return v != key;
    }
    memcpy(&v, b + n - 8, 8);
    if (v != (key ^ n))
        return 1;
    size_t words = (n - 8) / 8; /* the tail word may cover the last stride word */
    for (size_t i = 0; i < words; i += stride) {
        memcpy(&v, b + i * 8, 8);
        if (v != key + i * SU_K)
            return 1;
    }
    return 0;
}

static inline void su_stamp(void *p, size_t n, uint64_t key)
{
    su_stamp_stride(p, n, key, su_stride_words(n));
}

static inline int su_check(const void *p, size_t n, uint64_t key)
{
    return su_check_stride(p, n, key, su_stride_words(n));
}

/* A block that travels between threads carries its size and key in its
 * first two words (n >= 16), the stamp covering the rest (when it is at
 * least 8 bytes). */
static inline void su_stamp_self(void *p, size_t n, uint64_t key)
{
    uint64_t *w = p;
    w[0] = n;
    w[1] = key;
    if (n >= 24)
        su_stamp((char *)p + 16, n - 16, key);
}

/* Checks a self-describing block, adds its key to *sum, returns its size
 * (0 on a failed check). */
static inline size_t su_check_self(const void *p, uint64_t *sum)
{
    const uint64_t *w = p;
    size_t n = (size_t)w[0];
    uint64_t key = w[1];
    if (n < 16 || n > ((size_t)1 << 40) ||
        (n >= 24 && su_check((const char *)p + 16, n - 16, key)))
        return 0;
    *sum += key;
    return n;
}

/* ------------------------------------------------------------- scratch */

/* Memory for the programs' own tables, straight from mmap so it never
 * comes from (or disturbs) the allocator under test. */
static inline void *su_scratch(size_t n)
{
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        su_die("mmap of %zu bytes for scratch failed", n);
    return p;
}

static inline void su_scratch_free(void *p, size_t n)
{
    munmap(p, n ? n : 1);
}

/* ------------------------------------------------------------- threads */

static inline void su_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int e = pthread_create(t, NULL, fn, arg);
    if (e)
        su_die("pthread_create failed (%s)", strerror(e));
}

static inline void su_thread_join(pthread_t t)
{
    int e = pthread_join(t, NULL);
    if (e)
        su_die("pthread_join failed (%s)", strerror(e));
}

/* ------------------------------------------------------------- options */

/*
 * Options are --name VALUE pairs plus the flag --quick.  su_opts_parse
 * records them; su_opt_long() reads one with its default (full scale or
 * quick scale).  Unknown options are an error, listed with --help.
 */
#define SU_MAX_OPTS 16

typedef struct su_opt {
    const char *name;  /* without the leading "--" */
    const char *value; /* NULL: not given */
    const char *help;
} su_opt;

typedef struct su_opts {
    su_opt opt[SU_MAX_OPTS];
    int n;
    int quick;
    const char *usage;
} su_opts;

void su_opts_init(su_opts *o, const char *prog, const char *usage);
/* Declares an option (before su_opts_parse). */
void su_opts_add(su_opts *o, const char *name, const char *help);
void su_opts_parse(su_opts *o, int argc, char **argv);
/* The value of a declared option: given, else quick_def under --quick,
 * else def.  Dies on a malformed or out-of-range number. */
long su_opt_long(const su_opts *o, const char *name, long def, long quick_def, long min, long max);
const char *su_opt_str(const su_opts *o, const char *name, const char *def);

#endif
