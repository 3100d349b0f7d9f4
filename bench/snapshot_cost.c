/*
 * snapshot_cost.c — what a heap snapshot costs on a big heap.
 *
 *   snapshot_cost [MiB [snapshots [threads]]]     (defaults: 1024 20 2)
 *
 * Builds a heap of MiB of small blocks (16..512 bytes, every class, kept
 * live), then takes the snapshots, each into a temporary file, while
 * `threads` threads allocate and free small blocks in their own heaps
 * (so that the stop has someone to stop).  Prints, for the snapshots:
 *   total ms    om_heap_snapshot_write's wall time (census, formatting, write)
 *   stop ms     the document's stop_ns: how long the census held the heap
 *               locks and omi_rt.lock (the time other threads' slow paths
 *               could wait; their fast paths never do)
 *   bytes       the document's size
 *   churn ops   allocations the threads made per ms, with and without
 *               snapshots running (the snapshots' effect on them)
 * median and maximum of each.  Not part of the test suite.
 */
#include <objmem.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;
static atomic_ullong churn_ops;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *churn(void *arg)
{
    enum { SLOTS = 8192 };
    void **slot = calloc(SLOTS, sizeof *slot);
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 1024; i++) {
            x = x * 1103515245u + 12345u;
            unsigned k = (x >> 8) % SLOTS;
            om_free(slot[k]);
            slot[k] = om_malloc(16 + (x >> 16) % 497);
        }
        atomic_fetch_add_explicit(&churn_ops, 1024, memory_order_relaxed);
    }
    for (int i = 0; i < SLOTS; i++)
        om_free(slot[i]);
    free(slot);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void show(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("%-10s median %10.3f   max %10.3f\n", what, v[n / 2], v[n - 1]);
}

/* stop_ns and the size of the last snapshot in f. */
static void read_back(FILE *f, long start, double *stop_ms, double *bytes)
{
    long end = ftell(f);
    size_t n = (size_t)(end - start);
    char *text = malloc(n + 1);
    fseek(f, start, SEEK_SET);
    text[fread(text, 1, n, f)] = '\0';
    const char *p = strstr(text, "\"stop_ns\":");
    *stop_ms = p ? strtod(p + 10, NULL) / 1e6 : -1;
    *bytes = (double)n;
    free(text);
    fseek(f, end, SEEK_SET);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    int n = argc > 2 ? atoi(argv[2]) : 20, nthreads = argc > 3 ? atoi(argv[3]) : 2;
    size_t target = mib << 20, built = 0;
    double *total = calloc((size_t)n, sizeof *total), *stopped = calloc((size_t)n, sizeof *stopped),
           *bytes = calloc((size_t)n, sizeof *bytes);
    pthread_t *t = calloc((size_t)nthreads + 1, sizeof *t);
    FILE *f = tmpfile();

    if (n < 1 || !f || !total || !stopped || !bytes || !t)
        return 1;
    for (unsigned i = 0; built < target; i++) {
        size_t size = 16 + (i * 16) % 512;
        if (!om_malloc(size))
            return perror("om_malloc"), 1;
        built += size;
    }
    om_stats s;
    om_stats_get(&s);
    printf("heap: %zu MiB of small blocks in %llu arenas (%llu pools); %d threads churning\n", mib,
           (unsigned long long)s.arenas_current, (unsigned long long)s.pools_total, nthreads);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    usleep(200000);
    unsigned long long ops0 = atomic_load(&churn_ops);
    double t0 = now_ms();
    usleep(500000);
    double quiet_rate = (atomic_load(&churn_ops) - ops0) / (now_ms() - t0);
    ops0 = atomic_load(&churn_ops);
    t0 = now_ms();
    for (int i = 0; i < n; i++) {
        long start = ftell(f);
        double a = now_ms();
        if (om_heap_snapshot_write(fileno(f), 0) != 0)
            return fprintf(stderr, "om_heap_snapshot_write failed\n"), 1;
        total[i] = now_ms() - a;
        fseek(f, 0, SEEK_END);
        read_back(f, start, &stopped[i], &bytes[i]);
    }
    double busy_rate = (atomic_load(&churn_ops) - ops0) / (now_ms() - t0);
    atomic_store(&stop, 1);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    show("total ms", total, n);
    show("stop ms", stopped, n);
    show("bytes", bytes, n);
    printf("churn ops/ms: %.0f without snapshots, %.0f while snapshotting\n", quiet_rate, busy_rate);
    fclose(f);
    return 0;
}
