/*
 * w_falseshare.c — false sharing that the allocator causes (the shapes
 * of the Hoard benchmarks "cache-thrash" and "cache-scratch").
 *
 *   --mode thrash   (active false sharing) each of --threads T threads
 *                   repeatedly allocates a small object (--size 8 bytes),
 *                   writes every byte of it --writes times, checks it and
 *                   frees it.  An allocator that gives two threads
 *                   objects in the same cache line makes the writes
 *                   bounce that line between the cores.
 *   --mode scratch  (passive false sharing) the main thread allocates T
 *                   small objects back to back and hands one to each
 *                   thread; the thread writes to it, frees it, and then
 *                   allocates, writes and frees its own objects as in
 *                   thrash.  An allocator that reuses the freed object
 *                   (which sits next to the other threads' objects) for
 *                   the thread's own requests keeps the false sharing
 *                   going.
 *
 * --iters N objects in all, split over the threads (the same work at
 * every thread count).  The writes are volatile increments; before its
 * free an object must hold exactly the count written to each byte,
 * which fails if two threads were given the same bytes.
 */
#include "suite.h"

typedef struct worker {
    long id;
    long iters, writes, size;
    unsigned char *handed; /* scratch: the object from the main thread */
    uint64_t sum;
} worker;

static void hammer(volatile unsigned char *p, long size, long writes)
{
    for (long w = 0; w < writes; w++)
        for (long k = 0; k < size; k++)
            p[k] = (unsigned char)(p[k] + 1);
}

static void verify(const volatile unsigned char *p, long size, unsigned char want)
{
    for (long k = 0; k < size; k++)
        if (p[k] != want)
            su_die("an object's byte %ld holds %u, not %u: another thread wrote to it", k,
                   (unsigned)p[k], (unsigned)want);
}

static void *work(void *arg)
{
    worker *w = arg;
    unsigned char want = (unsigned char)w->writes;
    if (w->handed) {
        memset(w->handed, 0, (size_t)w->size);
        hammer(w->handed, w->size, w->writes);
        verify(w->handed, w->size, want);
        free(w->handed);
    }
    for (long i = 0; i < w->iters; i++) {
        unsigned char *p = su_nonnull(malloc((size_t)w->size), (size_t)w->size);
        memset(p, 0, (size_t)w->size);
        hammer(p, w->size, w->writes);
        verify(p, w->size, want);
        w->sum += (uint64_t)p[0] + (uint64_t)w->size;
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    su_opts o;
    su_opts_init(&o, "w_falseshare", "Allocator-induced false sharing (cache-thrash, cache-scratch).");
    su_opts_add(&o, "mode", "thrash | scratch (default thrash)");
    su_opts_add(&o, "threads", "threads (default 2)");
    su_opts_add(&o, "iters", "objects in all (default 8000, quick 800)");
    su_opts_add(&o, "writes", "writes to each byte of an object (default 50000)");
    su_opts_add(&o, "size", "object size in bytes (default 8)");
    su_opts_parse(&o, argc, argv);
    const char *ms = su_opt_str(&o, "mode", "thrash");
    int scratch = !strcmp(ms, "scratch");
    if (!scratch && strcmp(ms, "thrash"))
        su_die("unknown --mode '%s'", ms);
    long T = su_opt_long(&o, "threads", 2, 2, 1, 1024);
    long N = su_opt_long(&o, "iters", 8000, 800, 1, 1L << 40);
    long W = su_opt_long(&o, "writes", 50000, 50000, 1, 1L << 40);
    long S = su_opt_long(&o, "size", 8, 8, 1, 1L << 20);

    worker *w = su_scratch(sizeof(worker) * (size_t)T);
    pthread_t *th = su_scratch(sizeof(pthread_t) * (size_t)T);
    for (long t = 0; t < T; t++) {
        w[t].id = t;
        w[t].iters = N / T + (t < N % T);
        w[t].writes = W;
        w[t].size = S;
        if (scratch)
            w[t].handed = su_nonnull(malloc((size_t)S), (size_t)S);
    }
    for (long t = 0; t < T; t++)
        su_thread_start(&th[t], work, &w[t]);
    for (long t = 0; t < T; t++)
        su_thread_join(th[t]);
    uint64_t sum = 0;
    for (long t = 0; t < T; t++)
        sum += w[t].sum;
    printf("mode=%s threads=%ld iters=%ld writes=%ld size=%ld chk=%llu\n", ms, T, N, W, S,
           (unsigned long long)sum);
    return 0;
}
