/*
 * w_rptest.c — batched allocation with cross-thread frees (the shape of
 * rpmalloc's benchmark, "rptest" in mimalloc-bench).
 *
 * --threads T threads.  Each keeps a ring of --window batches of --batch
 * blocks.  A loop allocates a new batch (sizes: 70% 16..256 bytes, 20%
 * 257..4096, 8% 4 KiB..64 KiB, 2% 64 KiB..256 KiB), stamps every block,
 * and retires the oldest batch of the ring: every fourth retired batch is
 * handed to the next thread's inbox, which frees it there, the others
 * are freed by the thread itself.  Each loop also frees whatever its
 * own inbox holds.  Blocks therefore live for --window loops (or until
 * the receiver gets to them), and a quarter of them die on another
 * thread.
 *
 * --blocks N blocks in all, split over the threads.  When no spare batch
 * buffer is free for a hand-off, the thread frees the batch itself
 * (this keeps the memory bounded and cannot deadlock); the checksum, the
 * sum of the keys freed, is the same either way.
 */
#include "suite.h"

typedef struct batch {
    struct batch *next;
    long n;
    void *p[];
} batch;

typedef struct worker {
    long id, T;
    long loops, bsize, window;
    uint64_t seed;
    uint64_t sum;
    long sent, received;
    batch **ring;
    pthread_mutex_t mu; /* guards inbox */
    batch *inbox;
} worker;

static worker *workers;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static batch *pool; /* spare batch buffers for hand-offs */
static pthread_barrier_t done_barrier;

static size_t pick_size(su_rng *r)
{
    uint32_t p = su_below(r, 100);
    if (p < 70)
        return su_range(r, 16, 256);
    if (p < 90)
        return su_range(r, 257, 4096);
    if (p < 98)
        return su_range(r, 4097, 64 * 1024);
    return su_range(r, 64 * 1024 + 1, 256 * 1024);
}

static void free_batch(batch *b, uint64_t *sum)
{
    for (long i = 0; i < b->n; i++) {
        if (!su_check_self(b->p[i], sum))
            su_die("a block was overwritten while live");
        free(b->p[i]);
    }
    b->n = 0;
}

static void drain(worker *w)
{
    pthread_mutex_lock(&w->mu);
    batch *b = w->inbox;
    w->inbox = NULL;
    pthread_mutex_unlock(&w->mu);
    while (b) {
        batch *next = b->next;
        free_batch(b, &w->sum);
        w->received++;
        pthread_mutex_lock(&pool_mu);
        b->next = pool;
        pool = b;
        pthread_mutex_unlock(&pool_mu);
        b = next;
    }
}

static void retire(worker *w, batch *b, int hand_off)
{
    batch *spare = NULL;
    if (hand_off) {
        pthread_mutex_lock(&pool_mu);
        spare = pool;
        if (spare)
            pool = spare->next;
        pthread_mutex_unlock(&pool_mu);
    }
    if (!spare) {
        free_batch(b, &w->sum);
        return;
    }
    /* the ring keeps its buffer; the pointers travel in the spare one */
    memcpy(spare->p, b->p, sizeof(void *) * (size_t)b->n);
    spare->n = b->n;
    b->n = 0;
    worker *to = &workers[(w->id + 1) % w->T];
    pthread_mutex_lock(&to->mu);
    spare->next = to->inbox;
    to->inbox = spare;
    pthread_mutex_unlock(&to->mu);
    w->sent++;
}

static void *work(void *arg)
{
    worker *w = arg;
    su_rng rng;
    su_rng_seed(&rng, w->seed, (uint64_t)w->id);
    for (long loop = 0; loop < w->loops; loop++) {
        batch *b = w->ring[loop % w->window];
        if (b->n)
            retire(w, b, (loop / w->window) % 4 == 3);
        for (long i = 0; i < w->bsize; i++) {
            size_t n = pick_size(&rng);
            void *p = su_nonnull(malloc(n), n);
            su_stamp_self(p, n, su_next(&rng));
            b->p[i] = p;
        }
        b->n = w->bsize;
        drain(w);
    }
    /* nobody hands anything on after the barrier */
    pthread_barrier_wait(&done_barrier);
    drain(w);
    for (long k = 0; k < w->window; k++)
        if (w->ring[k]->n)
            free_batch(w->ring[k], &w->sum);
    return NULL;
}

int main(int argc, char **argv)
{
    su_opts o;
    su_opts_init(&o, "w_rptest", "Batched allocation; a quarter of the batches are freed by another thread.");
    su_opts_add(&o, "threads", "threads (default 2)");
    su_opts_add(&o, "blocks", "blocks in all (default 6000000, quick 600000)");
    su_opts_add(&o, "batch", "blocks per batch (default 200)");
    su_opts_add(&o, "window", "batches live per thread (default 16)");
    su_opts_add(&o, "seed", "RNG seed (default 1)");
    su_opts_parse(&o, argc, argv);
    long T = su_opt_long(&o, "threads", 2, 2, 1, 1024);
    long N = su_opt_long(&o, "blocks", 6000000, 600000, 1, 1L << 40);
    long B = su_opt_long(&o, "batch", 200, 200, 1, 1L << 20);
    long W = su_opt_long(&o, "window", 16, 16, 1, 1L << 16);
    uint64_t seed = (uint64_t)su_opt_long(&o, "seed", 1, 1, 0, 1L << 62);

    size_t bbytes = sizeof(batch) + sizeof(void *) * (size_t)B;
    long nspare = 4 * T;
    char *mem = su_scratch(bbytes * (size_t)(T * W + nspare));
    for (long i = 0; i < nspare; i++) {
        batch *b = (batch *)(mem + bbytes * (size_t)(T * W + i));
        b->next = pool;
        pool = b;
    }
    workers = su_scratch(sizeof(worker) * (size_t)T);
    pthread_t *th = su_scratch(sizeof(pthread_t) * (size_t)T);
    pthread_barrier_init(&done_barrier, NULL, (unsigned)T);
    long loops = N / B / T;
    for (long t = 0; t < T; t++) {
        worker *w = &workers[t];
        w->id = t;
        w->T = T;
        w->loops = loops;
        w->bsize = B;
        w->window = W;
        w->seed = seed;
        w->ring = su_scratch(sizeof(batch *) * (size_t)W);
        for (long k = 0; k < W; k++)
            w->ring[k] = (batch *)(mem + bbytes * (size_t)(t * W + k));
        pthread_mutex_init(&w->mu, NULL);
    }
    for (long t = 0; t < T; t++)
        su_thread_start(&th[t], work, &workers[t]);
    for (long t = 0; t < T; t++)
        su_thread_join(th[t]);
    uint64_t sum = 0;
    for (long t = 0; t < T; t++)
        sum += workers[t].sum;
    printf("threads=%ld blocks=%ld batch=%ld window=%ld chk=%016llx\n", T, loops * B * T, B, W,
           (unsigned long long)sum);
    return 0;
}
