/*
 * testutil.h — helpers shared by objmem's black-box tests: the documented
 * size-class arithmetic, a seeded PRNG, fill patterns, RSS and sleeping.
 * Everything here is derived from objmem.h's documentation, not from src/.
 */
#ifndef OM_TEST_UTIL_H
#define OM_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TU_KIB ((size_t)1024)
#define TU_MIB ((size_t)1024 * 1024)

#define TU_SMALL_MAX ((size_t)512)
#define TU_POOL16_MAX ((size_t)1024) /* classes up to here: 16 KiB pools */
#define TU_MEDIUM_MAX ((size_t)128 * 1024)
#define TU_POOL_SIZE ((size_t)16 * 1024)
#define TU_ARENA_SIZE ((size_t)1024 * 1024)
#define TU_MEDIUM_POOL_SIZE ((size_t)256 * 1024)
#define TU_MEDIUM_ARENA_SIZE ((size_t)4 * 1024 * 1024)

/* splitmix64: deterministic, seedable, good enough for test mixes. */
static inline uint64_t tu_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline size_t tu_range(uint64_t *state, size_t lo, size_t hi)
{
    return lo + (size_t)(tu_rand(state) % (uint64_t)(hi - lo + 1));
}

/* Block size objmem documents for a request of n bytes, 1 <= n <= 128 KiB:
 * 16-byte steps up to 512, then 4 classes per power of two. */
static inline size_t tu_class_size(size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= TU_SMALL_MAX)
        return (n + 15) & ~(size_t)15;
    size_t pow = TU_SMALL_MAX; /* largest power of two below n */
    while (pow * 2 < n)
        pow *= 2;
    size_t step = pow / 4;
    return (n + step - 1) / step * step;
}

/* Documented small class index: (n - 1) >> 4. */
static inline int tu_small_class(size_t n)
{
    return (int)((n - 1) >> 4);
}

/* The i-th block size of the 64 classes (small then medium), ascending. */
static inline size_t tu_class_size_at(int i)
{
    if (i < 32)
        return (size_t)(i + 1) * 16;
    int m = i - 32;
    size_t pow = TU_SMALL_MAX << (m / 4);
    return pow + (size_t)(m % 4 + 1) * (pow / 4);
}

/* A byte pattern that depends on the address, so a block that is handed
 * out twice or moved without copying is noticed. */
static inline unsigned char tu_pattern(const void *base, size_t i, unsigned salt)
{
    uintptr_t a = (uintptr_t)base;
    return (unsigned char)((a >> 4) * 31u + i * 7u + salt);
}

static inline void tu_fill(void *p, size_t n, unsigned salt)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = tu_pattern(p, i, salt);
}

/* Index of the first byte that differs from the pattern, or n. The pattern
 * is keyed by `key` (the address the block had when it was filled). */
static inline size_t tu_verify_from(const void *p, const void *key, size_t n, unsigned salt)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != tu_pattern(key, i, salt))
            return i;
    return n;
}

static inline int tu_all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return 0;
    return 1;
}

/* Resident set size in bytes, from /proc/self/statm (0 if unavailable). */
static inline size_t tu_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static inline void tu_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static inline int tu_is_pow2(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* A failed setup ends the program (the checks after it would only crash):
 * for calls that return what the test goes on with. */
#define NEED(cond)                                                                   \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: setup failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#endif /* OM_TEST_UTIL_H */
