/*
 * objmem_stress.c — randomized multi-threaded allocation against a model.
 *
 *   objmem_stress --ops N --threads T [--seed S] [--phase-ops M] [--quiet]
 *
 * T threads do N operations in all (malloc, calloc, realloc, aligned_alloc,
 * posix_memalign, free, and hand-offs), split into phases of M operations.
 * Each thread owns SLOTS slots; a slot is empty or holds a block of a known
 * size, alignment and generation.  An operation picks a slot at random: an
 * empty one gets a new block, a full one is freed, reallocated, or handed
 * to another thread's inbox, which that thread drains and frees (frees
 * from other threads).  Sizes follow real programs: mostly small (1-512
 * bytes), some medium (to 128 KiB), a few large (to 4 MiB).
 *
 * The model: every block is filled from (thread, slot, generation): every
 * 8-byte word of the first and last 256 bytes and one word in 32 between
 * (small blocks are therefore filled entirely), and checked before every
 * free and realloc (the realloc'd prefix keeps its old pattern), on
 * arrival in an inbox, and at every phase end.  calloc'd blocks are checked
 * for zeros at the same positions; aligned blocks for their alignment.
 *
 * At a phase end all threads stop (a barrier), drain their inboxes,
 * check every live block, and one thread runs om_heap_check(1).  The
 * program prints ops/s and totals, and exits 1 on any mismatch.
 *
 * Built twice: objmem_stress calls om_*; objmem_stress_libc calls the
 * plain malloc family, to run under the drop-in (LD_PRELOAD
 * libobjmem-malloc.so), and finds om_heap_check with dlsym (skipped when
 * objmem is not loaded).  The environment goes through untouched, so
 * OBJMEM_* options (OBJMEM_SECURE=1, OBJMEM_DEBUG=1...) apply to a run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef STRESS_LIBC
#include "objmem.h"
#define S_MALLOC om_malloc
#define S_CALLOC om_calloc
#define S_REALLOC om_realloc
#define S_FREE om_free
#define S_ALIGNED om_aligned_alloc
#define S_MEMALIGN om_posix_memalign
#define S_NAME "objmem_stress"
#else
#define S_MALLOC malloc
#define S_CALLOC calloc
#define S_REALLOC realloc
#define S_FREE free
#define S_ALIGNED aligned_alloc
#define S_MEMALIGN posix_memalign
#define S_NAME "objmem_stress_libc"
#endif

#define SLOTS 2048       /* per thread */
#define INBOX_CAP 1024   /* hand-offs waiting per thread */
#define EDGE 256         /* bytes checked entirely at each end */
#define STRIDE_WORDS 32  /* one word in 32 between the edges */
#define MAX_THREADS 64

typedef struct block {
    unsigned char *p;
    size_t size;
    uint64_t key; /* (thread, slot, generation) hashed */
    uint32_t align;
    uint8_t zero; /* calloc'd and not yet written: checked for zeros */
} block;

typedef struct inbox {
    pthread_mutex_t lock;
    size_t n;
    block items[INBOX_CAP];
} inbox;

typedef struct worker {
    pthread_t tid;
    int id;
    uint64_t rng;
    uint64_t gen;
    uint64_t ops, allocs, frees, reallocs, sent, received, remote_frees, bytes;
    uint64_t full_inbox;
    block slots[SLOTS];
    inbox in;
} worker;

static struct {
    uint64_t ops_per_thread, phase_ops_per_thread;
    int threads, quiet, phase;
    double t0;
    worker *w;
    pthread_barrier_t barrier;
    atomic_ulong mismatches;
    atomic_ulong heap_problems;
    int (*heap_check)(int);
} st;

/* ---- pattern ------------------------------------------------------------- */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rnd(worker *w)
{
    return mix64(w->rng += 0x9e3779b97f4a7c15u);
}

static uint64_t word_at(uint64_t key, size_t i)
{
    return key ^ (i * 0x2545f4914f6cdd1du);
}

/* The checked word positions: every word of the edges, one in
 * STRIDE_WORDS between; the bytes past the last whole word too. */
static size_t next_word(size_t i, size_t nw)
{
    size_t edge = EDGE / 8, tail = nw > 2 * edge ? nw - edge : 0;
    if (++i < edge || i >= tail)
        return i;
    size_t next = (i + STRIDE_WORDS - 1) / STRIDE_WORDS * STRIDE_WORDS;
    return next < tail ? next : tail;
}
#define FOR_CHECKED(size, i) for (size_t i = 0, nw_ = (size) / 8; i < nw_; i = next_word(i, nw_))

static void fill(block *b)
{
    FOR_CHECKED(b->size, i)
    {
        uint64_t v = word_at(b->key, i);
        memcpy(b->p + i * 8, &v, 8);
    }
    /* the tail bytes past the last whole word */
    for (size_t i = b->size & ~(size_t)7; i < b->size; i++)
        b->p[i] = (unsigned char)b->key;
    b->zero = 0;
}

static void mismatch(worker *w, const block *b, size_t off, const char *what)
{
    unsigned long n = atomic_fetch_add(&st.mismatches, 1);
    if (n < 20)
        fprintf(stderr, "%s: thread %d: block %p (%zu bytes) %s at offset %zu\n", S_NAME, w->id,
                (void *)b->p, b->size, what, off);
}

/* Check the first `upto` bytes of b's pattern (or zeros). */
static int check_upto(worker *w, const block *b, size_t upto)
{
    if (b->align && ((uintptr_t)b->p & (b->align - 1))) {
        mismatch(w, b, 0, "misaligned");
        return 0;
    }
    FOR_CHECKED(b->size, i)
    {
        if (i * 8 + 8 > upto)
            break;
        uint64_t v;
        memcpy(&v, b->p + i * 8, 8);
        if (v != (b->zero ? 0 : word_at(b->key, i))) {
            mismatch(w, b, i * 8, b->zero ? "not zero" : "damaged");
            return 0;
        }
    }
    for (size_t i = b->size & ~(size_t)7; i < b->size && i < upto; i++)
        if (b->p[i] != (b->zero ? 0 : (unsigned char)b->key)) {
            mismatch(w, b, i, "tail damaged");
            return 0;
        }
    return 1;
}

/* ---- sizes: mostly small, like real programs ------------------------------ */
static size_t pick_size(worker *w)
{
    uint64_t r = rnd(w);
    unsigned k = (unsigned)(r % 10000);
    r >>= 16;
    if (k < 8500) /* small: mostly under 128 bytes */
        return 1 + (size_t)(r % ((r >> 20) % 4 ? 128 : 512));
    if (k < 9950) /* medium, log-uniform 513 .. 128 KiB */
        return 513 + (size_t)(r % ((size_t)1024 << (r >> 40) % 8));
    if (k < 9995) /* large, to 1 MiB */
        return 128 * 1024 + 1 + (size_t)(r % (1024 * 1024 - 128 * 1024));
    return 1024 * 1024 + (size_t)(r % (3 * 1024 * 1024)); /* to 4 MiB */
}

/* ---- operations ------------------------------------------------------------ */
static void oom(worker *w, size_t n, const char *what)
{
    fprintf(stderr, "%s: thread %d: %s of %zu bytes failed (%s)\n", S_NAME, w->id, what, n,
            strerror(errno));
    atomic_fetch_add(&st.mismatches, 1);
}

static void do_alloc(worker *w, int s)
{
    block *b = &w->slots[s];
    size_t n = pick_size(w);
    unsigned kind = (unsigned)(rnd(w) % 20);
    b->align = 0;
    b->zero = 0;
    b->size = n;
    b->key = mix64(((uint64_t)w->id << 48) ^ ((uint64_t)s << 32) ^ ++w->gen);
    if (kind < 14) {
        b->p = S_MALLOC(n);
    } else if (kind < 17) {
        b->p = S_CALLOC(1, n);
        b->zero = 1;
    } else if (kind < 19) {
        b->align = 16u << (rnd(w) % 8); /* 16 .. 2048 */
        b->p = S_ALIGNED(b->align, (n + b->align - 1) & ~(size_t)(b->align - 1));
    } else {
        b->align = 8u << (rnd(w) % 10); /* 8 .. 4096 */
        void *p = NULL;
        if (S_MEMALIGN(&p, b->align, n) != 0)
            p = NULL;
        b->p = p;
    }
    if (!b->p) {
        oom(w, n, "allocation");
        b->size = 0;
        return;
    }
    w->allocs++;
    w->bytes += n;
    if (b->zero) {
        check_upto(w, b, n);
        if (rnd(w) % 2 == 0) /* half stay zero until freed */
            return;
    }
    fill(b);
}

static void do_free(worker *w, int s)
{
    block *b = &w->slots[s];
    check_upto(w, b, b->size);
    S_FREE(b->p);
    b->p = NULL;
    w->frees++;
}

static void do_realloc(worker *w, int s)
{
    block *b = &w->slots[s];
    check_upto(w, b, b->size);
    size_t n = rnd(w) % 4 ? pick_size(w) : b->size + 1 + rnd(w) % (b->size + 1);
    if (n > 8 * 1024 * 1024)
        n = pick_size(w);
    unsigned char *p = S_REALLOC(b->p, n);
    if (!p) {
        oom(w, n, "realloc");
        return;
    }
    block moved = *b;
    moved.p = p;
    moved.align = 0; /* realloc keeps only the default alignment */
    check_upto(w, &moved, n < b->size ? n : b->size);
    b->p = p;
    b->size = n;
    b->align = 0;
    b->key = mix64(((uint64_t)w->id << 48) ^ ((uint64_t)s << 32) ^ ++w->gen);
    fill(b);
    w->reallocs++;
}

static void drain(worker *w)
{
    static _Thread_local block got[INBOX_CAP];
    pthread_mutex_lock(&w->in.lock);
    size_t n = w->in.n;
    memcpy(got, w->in.items, n * sizeof(block));
    w->in.n = 0;
    pthread_mutex_unlock(&w->in.lock);
    for (size_t i = 0; i < n; i++) {
        check_upto(w, &got[i], got[i].size);
        S_FREE(got[i].p);
        w->remote_frees++;
    }
    w->received += n;
}

static void do_send(worker *w, int s)
{
    block *b = &w->slots[s];
    worker *to = &st.w[(size_t)(w->id + 1 + rnd(w) % (uint64_t)(st.threads - 1)) % (size_t)st.threads];
    pthread_mutex_lock(&to->in.lock);
    int sent = to->in.n < INBOX_CAP;
    if (sent)
        to->in.items[to->in.n++] = *b;
    pthread_mutex_unlock(&to->in.lock);
    if (!sent) {
        w->full_inbox++;
        do_free(w, s);
        return;
    }
    b->p = NULL;
    w->sent++;
}

static void one_op(worker *w)
{
    int s = (int)(rnd(w) % SLOTS);
    block *b = &w->slots[s];
    if (!b->p) {
        do_alloc(w, s);
        return;
    }
    unsigned k = (unsigned)(rnd(w) % 100);
    if (k < 55)
        do_free(w, s);
    else if (k < 80)
        do_realloc(w, s);
    else if (st.threads > 1)
        do_send(w, s);
    else
        do_free(w, s);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- phases ------------------------------------------------------------------ */
static void check_all(worker *w)
{
    for (int s = 0; s < SLOTS; s++)
        if (w->slots[s].p)
            check_upto(w, &w->slots[s], w->slots[s].size);
}

static void phase_end(worker *w)
{
    pthread_barrier_wait(&st.barrier); /* nobody sends any more */
    drain(w);
    check_all(w);
    if (pthread_barrier_wait(&st.barrier) == PTHREAD_BARRIER_SERIAL_THREAD) {
        int problems = st.heap_check ? st.heap_check(1) : 0;
        if (problems) {
            fprintf(stderr, "%s: om_heap_check found %d problems\n", S_NAME, problems);
            atomic_fetch_add(&st.heap_problems, (unsigned long)problems);
        }
        if (!st.quiet)
            printf("%s: phase %d done at %.1f s: %lu mismatches, om_heap_check %d\n", S_NAME,
                   ++st.phase, now_s() - st.t0, atomic_load(&st.mismatches), problems);
        fflush(stdout);
    }
    pthread_barrier_wait(&st.barrier);
}

static void *run(void *arg)
{
    worker *w = arg;
    uint64_t done = 0;
    while (done < st.ops_per_thread) {
        uint64_t end = done + st.phase_ops_per_thread;
        if (end > st.ops_per_thread)
            end = st.ops_per_thread;
        for (; done < end; done++) {
            one_op(w);
            if ((done & 63) == 0)
                drain(w);
        }
        phase_end(w);
    }
    for (int s = 0; s < SLOTS; s++)
        if (w->slots[s].p)
            do_free(w, s);
    pthread_barrier_wait(&st.barrier);
    drain(w);
    w->ops = done;
    return NULL;
}

/* ---- main -------------------------------------------------------------------- */
static int usage(void)
{
    fprintf(stderr, "usage: %s --ops N --threads T [--seed S] [--phase-ops M] [--quiet]\n", S_NAME);
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end); /* 1e9 and 1000000000 alike */
    if (errno || end == s || *end || v < 0 || v > 1e18)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t ops = 1000000, threads = 4, seed = 1, phase_ops = 0;
    for (int i = 1; i < argc; i++) {
        uint64_t *dst = NULL;
        if (!strcmp(argv[i], "--ops"))
            dst = &ops;
        else if (!strcmp(argv[i], "--threads"))
            dst = &threads;
        else if (!strcmp(argv[i], "--seed"))
            dst = &seed;
        else if (!strcmp(argv[i], "--phase-ops"))
            dst = &phase_ops;
        else if (!strcmp(argv[i], "--quiet")) {
            st.quiet = 1;
            continue;
        } else
            return usage();
        if (++i >= argc || parse_u64(argv[i], dst) != 0)
            return usage();
    }
    if (threads < 1 || threads > MAX_THREADS || ops < threads)
        return usage();
    if (phase_ops == 0)
        phase_ops = ops / 10 > 0 ? ops / 10 : ops;
    st.threads = (int)threads;
    st.ops_per_thread = ops / threads;
    st.phase_ops_per_thread = phase_ops / threads > 0 ? phase_ops / threads : 1;
#ifndef STRESS_LIBC
    st.heap_check = om_heap_check;
#else
    *(void **)&st.heap_check = dlsym(RTLD_DEFAULT, "om_heap_check");
#endif
    st.w = calloc(threads, sizeof(worker));
    if (!st.w)
        return 1;
    pthread_barrier_init(&st.barrier, NULL, (unsigned)threads);
    const char *secure = getenv("OBJMEM_SECURE");
    printf("%s: %" PRIu64 " ops, %" PRIu64 " threads, seed %" PRIu64 ", phases of %" PRIu64
           " ops, om_heap_check %s%s%s\n",
           S_NAME, st.ops_per_thread * threads, threads, seed, st.phase_ops_per_thread * threads,
           st.heap_check ? "on" : "off (objmem not loaded)", secure ? ", OBJMEM_SECURE=" : "",
           secure ? secure : "");
    fflush(stdout);
    double t0 = st.t0 = now_s();
    for (int i = 0; i < (int)threads; i++) {
        worker *w = &st.w[i];
        w->id = i;
        w->rng = mix64(seed * 0x100000001b3u + (uint64_t)i);
        pthread_mutex_init(&w->in.lock, NULL);
    }
    for (int i = 0; i < (int)threads; i++)
        if (pthread_create(&st.w[i].tid, NULL, run, &st.w[i]) != 0) {
            fprintf(stderr, "%s: pthread_create failed\n", S_NAME);
            return 1;
        }
    uint64_t t_ops = 0, allocs = 0, frees = 0, reallocs = 0, sent = 0, remote = 0, bytes = 0, full = 0;
    for (int i = 0; i < (int)threads; i++) {
        pthread_join(st.w[i].tid, NULL);
        worker *w = &st.w[i];
        t_ops += w->ops;
        allocs += w->allocs;
        frees += w->frees;
        reallocs += w->reallocs;
        sent += w->sent;
        remote += w->remote_frees;
        bytes += w->bytes;
        full += w->full_inbox;
    }
    double dt = now_s() - t0;
    int problems = st.heap_check ? st.heap_check(1) : 0;
    unsigned long bad = atomic_load(&st.mismatches);
    unsigned long hp = atomic_load(&st.heap_problems) + (unsigned long)problems;
    printf("%s: %" PRIu64 " ops in %.1f s (%.2f Mops/s): %" PRIu64 " allocations (%.1f GiB), %" PRIu64
           " reallocs, %" PRIu64 " frees, %" PRIu64 " handed to other threads (%" PRIu64
           " freed there), %" PRIu64 " inbox-full frees\n",
           S_NAME, t_ops, dt, (double)t_ops / dt / 1e6, allocs, (double)bytes / (1 << 30), reallocs,
           frees, sent, remote, full);
    printf("%s: %lu content mismatches, %lu om_heap_check problems: %s\n", S_NAME, bad, hp,
           bad || hp || allocs != frees + remote ? "FAILED" : "ok");
    if (allocs != frees + remote)
        printf("%s: %" PRIu64 " allocations but %" PRIu64 " frees\n", S_NAME, allocs, frees + remote);
    return bad || hp || allocs != frees + remote ? 1 : 0;
}
