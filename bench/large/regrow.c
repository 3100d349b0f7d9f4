/*
 * regrow.c — a buffer grown by realloc in steps up to TOTAL MiB, the new
 * part written each time (one byte per 4 KiB page), the old contents
 * checked at the end; repeated ROUNDS times.  Plain realloc: run it under
 * LD_PRELOAD to pick the allocator.
 *
 *   regrow [total_mib] [step: +K KiB, or xF for a factor] [rounds]
 *   regrow 1024 1024 1      1 MiB steps to 1 GiB
 *   regrow 1024 x1.125 1    12.5% steps (CPython's list/bytearray growth)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    size_t total = (argc > 1 ? (size_t)atol(argv[1]) : 1024) << 20;
    const char *step = argc > 2 ? argv[2] : "1024";
    int rounds = argc > 3 ? atoi(argv[3]) : 1;
    double factor = step[0] == 'x' ? atof(step + 1) : 0;
    size_t add = factor ? 0 : (size_t)atol(step) << 10;
    long reallocs = 0, moves = 0;
    uint64_t bad = 0;
    double t0 = now();
    for (int r = 0; r < rounds; r++) {
        size_t n = 0;
        unsigned char *p = NULL;
        while (n < total) {
            size_t m = factor ? (size_t)(n * factor) : n + add;
            if (m < n + 4096)
                m = n + 4096;
            if (m > total)
                m = total;
            unsigned char *q = realloc(p, m);
            if (!q) {
                perror("realloc");
                return 1;
            }
            reallocs++;
            moves += q != p && p != NULL;
            for (size_t o = (n + 4095) & ~(size_t)4095; o < m; o += 4096)
                q[o] = (unsigned char)(o >> 12);
            p = q;
            n = m;
        }
        for (size_t o = 0; o < n; o += 4096)
            bad += p[o] != (unsigned char)(o >> 12);
        free(p);
    }
    double t1 = now();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("regrow total_mib=%zu step=%s rounds=%d reallocs=%ld moved=%ld time_s=%.3f minflt=%ld maxrss_mib=%.1f "
           "bad=%llu\n",
           total >> 20, step, rounds, reallocs, moves, t1 - t0, ru.ru_minflt, ru.ru_maxrss / 1024.0,
           (unsigned long long)bad);
    return bad != 0;
}
