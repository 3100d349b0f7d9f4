/*
 * bigbuf.c — repeated big buffers: NLIVE slots of calloc'd blocks of
 * MIN..MAX MiB; each step frees a random slot and callocs a new block of a
 * random size there, checks that it reads zero where it is about to write,
 * then writes it (one byte per 4 KiB page, or all of it with "full").
 * Uses plain malloc/calloc/free: run it under LD_PRELOAD to pick the
 * allocator.  Prints time, page faults and max RSS.
 *
 *   bigbuf [steps] [page|full|none] [min_mib] [max_mib] [nlive]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long steps = argc > 1 ? atol(argv[1]) : 2000;
    const char *mode = argc > 2 ? argv[2] : "page";
    size_t minb = (argc > 3 ? (size_t)atol(argv[3]) : 5) << 20;
    size_t maxb = (argc > 4 ? (size_t)atol(argv[4]) : 25) << 20;
    int nlive = argc > 5 ? atoi(argv[5]) : 20;
    int full = strcmp(mode, "full") == 0, none = strcmp(mode, "none") == 0;
    unsigned char **slot = calloc((size_t)nlive, sizeof *slot);
    size_t *len = calloc((size_t)nlive, sizeof *len);
    uint64_t bad = 0, sum = 0;
    double t0 = now();
    for (long s = 0; s < steps + nlive; s++) {
        int i = s < nlive ? (int)s : (int)(next() % (uint64_t)nlive);
        if (slot[i]) {
            sum += slot[i][len[i] / 2];
            free(slot[i]);
        }
        size_t n = minb + next() % (maxb - minb + 1);
        unsigned char *p = calloc(1, n);
        if (!p) {
            perror("calloc");
            return 1;
        }
        /* it must read zero (sampled: one word per page and the ends) */
        for (size_t o = 0; o < n; o += 4096)
            bad += p[o] != 0;
        bad += p[n - 1] != 0;
        if (full)
            memset(p, (int)(s & 0xff) | 1, n);
        else if (!none)
            for (size_t o = 0; o < n; o += 4096)
                p[o] = (unsigned char)(s | 1);
        slot[i] = p;
        len[i] = n;
    }
    double t1 = now();
    for (int i = 0; i < nlive; i++)
        free(slot[i]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bigbuf steps=%ld mode=%s time_s=%.3f minflt=%ld maxrss_mib=%.1f bad=%llu sum=%llu\n", steps, mode,
           t1 - t0, ru.ru_minflt, ru.ru_maxrss / 1024.0, (unsigned long long)bad, (unsigned long long)sum);
    return bad != 0;
}
