/*
 * w_xmalloc.c — producer/consumer (the shape of Lever and Boreham's
 * "xmalloc-test"): some threads only allocate, others only free.
 *
 * --threads P gives P producers and P consumers (so 1 is one thread
 * allocating and another freeing, 2 is 2x2).  A producer allocates
 * blocks of 16..1024 bytes (random sizes), stamps each with its size and
 * a key, and puts them in batches of --batch pointers on one shared
 * queue; a consumer takes a batch, checks every block and frees it.  The
 * queue holds at most 8 batches per producer, so producers wait when the
 * consumers fall behind and the live memory stays bounded.
 *
 * --blocks N blocks in all, split over the producers (the same work at
 * every thread count; throughput is N / wall time).  The checksum is the
 * sum of the keys of the blocks freed: every block is freed once, so it
 * does not depend on which consumer freed what.
 */
#include "suite.h"

typedef struct batch {
    struct batch *next;
    long n;
    void *p[];
} batch;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t full_cv, free_cv;
    batch *full_head, *full_tail; /* FIFO of filled batches */
    batch *free_list;             /* empty batch buffers */
    long producers_left;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
       NULL, NULL, NULL, 0};

typedef struct worker {
    long id;
    long blocks; /* producer: blocks to allocate */
    long bsize;
    long lo, hi;
    uint64_t seed;
    uint64_t sum; /* consumer: keys freed */
    long freed;
} worker;

static void *producer(void *arg)
{
    worker *w = arg;
    su_rng rng;
    su_rng_seed(&rng, w->seed, (uint64_t)w->id);
    long left = w->blocks;
    while (left > 0) {
        pthread_mutex_lock(&q.mu);
        while (!q.free_list)
            pthread_cond_wait(&q.free_cv, &q.mu);
        batch *b = q.free_list;
        q.free_list = b->next;
        pthread_mutex_unlock(&q.mu);

        long n = left < w->bsize ? left : w->bsize;
        for (long i = 0; i < n; i++) {
            size_t sz = su_range(&rng, (size_t)w->lo, (size_t)w->hi);
            void *p = su_nonnull(malloc(sz), sz);
            su_stamp_self(p, sz, su_next(&rng));
            b->p[i] = p;
        }
        b->n = n;
        left -= n;

        b->next = NULL;
        pthread_mutex_lock(&q.mu);
        if (q.full_tail)
            q.full_tail->next = b;
        else
            q.full_head = b;
        q.full_tail = b;
        pthread_cond_signal(&q.full_cv);
        pthread_mutex_unlock(&q.mu);
    }
    pthread_mutex_lock(&q.mu);
    q.producers_left--;
    pthread_cond_broadcast(&q.full_cv);
    pthread_mutex_unlock(&q.mu);
    return NULL;
}

static void *consumer(void *arg)
{
    worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&q.mu);
        while (!q.full_head && q.producers_left > 0)
            pthread_cond_wait(&q.full_cv, &q.mu);
        batch *b = q.full_head;
        if (!b) {
            pthread_mutex_unlock(&q.mu);
            return NULL;
        }
        q.full_head = b->next;
        if (!q.full_head)
            q.full_tail = NULL;
        pthread_mutex_unlock(&q.mu);

        for (long i = 0; i < b->n; i++) {
            if (!su_check_self(b->p[i], &w->sum))
                su_die("a block was overwritten between its producer and its consumer");
            free(b->p[i]);
        }
        w->freed += b->n;

        pthread_mutex_lock(&q.mu);
        b->next = q.free_list;
        q.free_list = b;
        pthread_cond_signal(&q.free_cv);
        pthread_mutex_unlock(&q.mu);
    }
}

int main(int argc, char **argv)
{
    su_opts o;
    su_opts_init(&o, "w_xmalloc", "Producer/consumer: P threads allocate, P others free.");
    su_opts_add(&o, "threads", "producer/consumer pairs P (default 1)");
    su_opts_add(&o, "blocks", "blocks in all (default 15000000, quick 1500000)");
    su_opts_add(&o, "batch", "blocks per batch on the queue (default 256)");
    su_opts_add(&o, "min", "smallest block (default 16)");
    su_opts_add(&o, "max", "largest block (default 1024)");
    su_opts_add(&o, "seed", "RNG seed (default 1)");
    su_opts_parse(&o, argc, argv);
    long P = su_opt_long(&o, "threads", 1, 1, 1, 512);
    long N = su_opt_long(&o, "blocks", 15000000, 1500000, 1, 1L << 40);
    long B = su_opt_long(&o, "batch", 256, 256, 1, 1L << 20);
    long lo = su_opt_long(&o, "min", 16, 16, 16, 1L << 30);
    long hi = su_opt_long(&o, "max", 1024, 1024, lo, 1L << 30);
    uint64_t seed = (uint64_t)su_opt_long(&o, "seed", 1, 1, 0, 1L << 62);

    long nbuf = 8 * P;
    size_t bbytes = sizeof(batch) + sizeof(void *) * (size_t)B;
    char *pool = su_scratch(bbytes * (size_t)nbuf);
    for (long i = 0; i < nbuf; i++) {
        batch *b = (batch *)(pool + bbytes * (size_t)i);
        b->next = q.free_list;
        q.free_list = b;
    }
    q.producers_left = P;

    worker *w = su_scratch(sizeof(worker) * (size_t)(2 * P));
    pthread_t *th = su_scratch(sizeof(pthread_t) * (size_t)(2 * P));
    for (long i = 0; i < 2 * P; i++) {
        w[i].id = i;
        w[i].bsize = B;
        w[i].lo = lo;
        w[i].hi = hi;
        w[i].seed = seed;
        if (i < P)
            w[i].blocks = N / P + (i < N % P);
    }
    for (long i = 0; i < P; i++) {
        su_thread_start(&th[P + i], consumer, &w[P + i]);
        su_thread_start(&th[i], producer, &w[i]);
    }
    for (long i = 0; i < 2 * P; i++)
        su_thread_join(th[i]);
    uint64_t sum = 0;
    long freed = 0;
    for (long i = P; i < 2 * P; i++) {
        sum += w[i].sum;
        freed += w[i].freed;
    }
    if (freed != N)
        su_die("%ld blocks allocated but %ld freed", N, freed);
    printf("pairs=%ld blocks=%ld chk=%016llx\n", P, N, (unsigned long long)sum);
    return 0;
}
