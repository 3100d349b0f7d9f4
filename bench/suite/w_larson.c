/*
 * w_larson.c — a server simulation (the shape of Larson and Krishnan's
 * "larson" benchmark).
 *
 * --threads T lanes.  The main thread first allocates every lane's set of
 * --blocks K blocks of 8..1000 bytes (random sizes), then starts one
 * thread per lane.  A lane's thread repeatedly picks a random block of
 * its set, checks and frees it, and allocates a new one of a random size
 * in its place.  After --gen replacements (default K, as many as the
 * set has blocks) it hands the whole set to a new thread, which it
 * starts, and exits: blocks are freed by threads other than the one that
 * allocated them, and threads come and go all the time, as in a server
 * that gives each connection a short-lived thread.
 *
 * --ops N replacements (a free plus a malloc) in all, split over the
 * lanes, so the work is the same at every thread count and the
 * throughput is N / wall time.  Each lane has its own RNG stream that
 * moves from thread to thread with the set, so the requests (and the
 * checksum) do not depend on the scheduling.
 */
#include "suite.h"

typedef struct lane {
    void **p;
    uint32_t *n;
    uint64_t *key;
    su_rng rng;
    long k;           /* blocks in the set */
    long gen;         /* replacements per thread */
    long left;        /* replacements still to do */
    long lo, hi;      /* block sizes */
    uint64_t sum;     /* keys of the blocks freed */
    long threads;     /* threads this lane has had */
} lane;

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static long lanes_done;
static pthread_attr_t detached;

static void fresh(lane *l, long i)
{
    size_t n = su_range(&l->rng, (size_t)l->lo, (size_t)l->hi);
    uint64_t key = su_next(&l->rng);
    void *p = su_nonnull(malloc(n), n);
    su_stamp(p, n, key);
    l->p[i] = p;
    l->n[i] = (uint32_t)n;
    l->key[i] = key;
}

static void drop(lane *l, long i)
{
    if (su_check(l->p[i], l->n[i], l->key[i]))
        su_die("a block of %u bytes was overwritten while live", l->n[i]);
    l->sum += l->key[i];
    free(l->p[i]);
}

static void *lane_thread(void *arg)
{
    lane *l = arg;
    long todo = l->left < l->gen ? l->left : l->gen;
    for (long j = 0; j < todo; j++) {
        long i = (long)su_below(&l->rng, (uint32_t)l->k);
        drop(l, i);
        fresh(l, i);
    }
    l->left -= todo;
    if (l->left > 0) {
        /* hand the set to a new thread and go away */
        pthread_t t;
        l->threads++;
        int e = pthread_create(&t, &detached, lane_thread, l);
        if (e)
            su_die("pthread_create failed (%s)", strerror(e));
    } else {
        pthread_mutex_lock(&done_mu);
        lanes_done++;
        pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&done_mu);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    su_opts o;
    su_opts_init(&o, "w_larson", "Server simulation: threads replace random blocks and hand their sets on.");
    su_opts_add(&o, "threads", "lanes (threads alive at once), default 2");
    su_opts_add(&o, "blocks", "blocks per lane (default 5000)");
    su_opts_add(&o, "ops", "replacements in all (default 24000000, quick 2000000)");
    su_opts_add(&o, "gen", "replacements per thread before the hand-off (default: --blocks)");
    su_opts_add(&o, "min", "smallest block (default 8)");
    su_opts_add(&o, "max", "largest block (default 1000)");
    su_opts_add(&o, "seed", "RNG seed (default 1)");
    su_opts_parse(&o, argc, argv);
    long T = su_opt_long(&o, "threads", 2, 2, 1, 1024);
    long K = su_opt_long(&o, "blocks", 5000, 5000, 1, 1L << 24);
    long N = su_opt_long(&o, "ops", 24000000, 2000000, 1, 1L << 40);
    long gen = su_opt_long(&o, "gen", K, K, 1, 1L << 40);
    long lo = su_opt_long(&o, "min", 8, 8, 8, 1L << 30);
    long hi = su_opt_long(&o, "max", 1000, 1000, lo, 1L << 30);
    uint64_t seed = (uint64_t)su_opt_long(&o, "seed", 1, 1, 0, 1L << 62);

    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    lane *lanes = su_scratch(sizeof(lane) * (size_t)T);
    for (long t = 0; t < T; t++) {
        lane *l = &lanes[t];
        l->p = su_scratch(sizeof(void *) * (size_t)K);
        l->n = su_scratch(sizeof(uint32_t) * (size_t)K);
        l->key = su_scratch(sizeof(uint64_t) * (size_t)K);
        su_rng_seed(&l->rng, seed, (uint64_t)t);
        l->k = K;
        l->gen = gen;
        l->left = N / T + (t < N % T);
        l->lo = lo;
        l->hi = hi;
        for (long i = 0; i < K; i++)
            fresh(l, i);
    }
    for (long t = 0; t < T; t++) {
        pthread_t th;
        lanes[t].threads = 1;
        int e = pthread_create(&th, &detached, lane_thread, &lanes[t]);
        if (e)
            su_die("pthread_create failed (%s)", strerror(e));
    }
    pthread_mutex_lock(&done_mu);
    while (lanes_done < T)
        pthread_cond_wait(&done_cv, &done_mu);
    pthread_mutex_unlock(&done_mu);

    uint64_t sum = 0;
    long threads = 0;
    for (long t = 0; t < T; t++) {
        lane *l = &lanes[t];
        for (long i = 0; i < K; i++)
            drop(l, i);
        sum += l->sum;
        threads += l->threads;
    }
    printf("threads=%ld blocks=%ld ops=%ld spawned=%ld chk=%016llx\n", T, K, N, threads,
           (unsigned long long)sum);
    return 0;
}
