/*
 * w_mstress.c — multi-thread stress with random lifetimes and transfers
 * (the shape of mimalloc's stress test, "mstress" in mimalloc-bench).
 *
 * --rounds R times, --threads T threads are started and joined.  Each
 * thread keeps a table of --live slots.  Every step, drawn at random:
 *   - 50%: allocate a block into a random slot (the old one is checked
 *          and freed first), so lifetimes are random;
 *   - 25%: check and free a random slot's block;
 *   - 25%: swap a random slot with a random slot of a global transfer
 *          table of 1000 blocks (an atomic exchange), so blocks move
 *          between threads and are freed by threads that did not
 *          allocate them.
 * Sizes: 89% 16..256 bytes, 10% 257..8192, 1% 8 KiB..256 KiB.  At the
 * end of a round each thread frees what its table holds; the transfer
 * table lives on from round to round and is emptied at the end.
 *
 * --ops N steps in all, split over rounds and threads.  Blocks carry
 * their size and key; the checksum is the sum of the keys freed.
 */
#include "suite.h"

#define TRANSFERS 1000

static _Atomic(void *) transfer[TRANSFERS];

typedef struct worker {
    long id, round;
    long steps, live;
    uint64_t seed;
    uint64_t sum;
    void **slot;
} worker;

static size_t pick_size(su_rng *r)
{
    uint32_t p = su_below(r, 100);
    if (p < 89)
        return su_range(r, 16, 256);
    if (p < 99)
        return su_range(r, 257, 8192);
    return su_range(r, 8193, 256 * 1024);
}

static void drop(void *p, uint64_t *sum)
{
    if (!p)
        return;
    if (!su_check_self(p, sum))
        su_die("a block was overwritten while live");
    free(p);
}

static void *work(void *arg)
{
    worker *w = arg;
    su_rng rng;
    su_rng_seed(&rng, w->seed, (uint64_t)(w->round * 4096 + w->id));
    void **slot = w->slot;
    for (long s = 0; s < w->steps; s++) {
        uint32_t what = su_below(&rng, 4);
        long i = (long)su_below(&rng, (uint32_t)w->live);
        if (what < 2) {
            drop(slot[i], &w->sum);
            size_t n = pick_size(&rng);
            void *p = su_nonnull(malloc(n), n);
            su_stamp_self(p, n, su_next(&rng));
            slot[i] = p;
        } else if (what == 2) {
            drop(slot[i], &w->sum);
            slot[i] = NULL;
        } else {
            long j = (long)su_below(&rng, TRANSFERS);
            slot[i] = atomic_exchange_explicit(&transfer[j], slot[i], memory_order_acq_rel);
        }
    }
    for (long i = 0; i < w->live; i++) {
        drop(slot[i], &w->sum);
        slot[i] = NULL;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    su_opts o;
    su_opts_init(&o, "w_mstress", "Multi-thread stress: random lifetimes and sizes, blocks move between threads.");
    su_opts_add(&o, "threads", "threads (default 2)");
    su_opts_add(&o, "rounds", "times the threads are started and joined (default 10)");
    su_opts_add(&o, "ops", "steps in all (default 16000000, quick 1600000)");
    su_opts_add(&o, "live", "slots per thread (default 2000)");
    su_opts_add(&o, "seed", "RNG seed (default 1)");
    su_opts_parse(&o, argc, argv);
    long T = su_opt_long(&o, "threads", 2, 2, 1, 1024);
    long R = su_opt_long(&o, "rounds", 10, 10, 1, 1L << 20);
    long N = su_opt_long(&o, "ops", 16000000, 1600000, 1, 1L << 40);
    long L = su_opt_long(&o, "live", 2000, 2000, 1, 1L << 24);
    uint64_t seed = (uint64_t)su_opt_long(&o, "seed", 1, 1, 0, 1L << 62);

    worker *w = su_scratch(sizeof(worker) * (size_t)T);
    pthread_t *th = su_scratch(sizeof(pthread_t) * (size_t)T);
    for (long t = 0; t < T; t++)
        w[t].slot = su_scratch(sizeof(void *) * (size_t)L);
    long per = N / (R * T);
    for (long r = 0; r < R; r++) {
        for (long t = 0; t < T; t++) {
            w[t].id = t;
            w[t].round = r;
            w[t].steps = per;
            w[t].live = L;
            w[t].seed = seed;
            su_thread_start(&th[t], work, &w[t]);
        }
        for (long t = 0; t < T; t++)
            su_thread_join(th[t]);
    }
    uint64_t sum = 0;
    for (long t = 0; t < T; t++)
        sum += w[t].sum;
    for (long j = 0; j < TRANSFERS; j++)
        drop(atomic_load(&transfer[j]), &sum);
    printf("threads=%ld rounds=%ld ops=%ld live=%ld chk=%016llx\n", T, R, per * R * T, L,
           (unsigned long long)sum);
    return 0;
}
