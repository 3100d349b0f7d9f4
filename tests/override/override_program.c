/*
 * override_program.c — an ordinary multi-threaded C program, run with
 * objmem as its malloc and without, whose stdout must not change.
 *
 *   override_program objmem PLUGIN.so   under LD_PRELOAD=libobjmem-malloc.so
 *   override_program libc PLUGIN.so     plain: glibc's malloc
 *   override_program_static static PLUGIN.so   linked with libobjmem-malloc.a
 *
 * The mode says which allocator must be serving malloc; the program checks
 * it with om_owns (found by dlsym when preloaded, linked when static, and
 * required to be absent in libc mode), so a preload that silently did not
 * happen fails the test.  What it exercises: glibc's semantics of the whole
 * malloc family, threads started before and after the main thread's first
 * allocation, blocks freed by other threads and after their owner exited,
 * fork() while other threads allocate, and memory crossing a dlopen
 * boundary both ways.
 *
 * stdout holds only what does not depend on the allocator (checksums of
 * data written and read back); every check reports to stderr, ending with
 * "N passed, N failed".  Exit status 0 only if nothing failed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "override_plugin.h"
#include "testutil.h"

#ifdef OVR_STATIC
#include <objmem.h>
#endif

typedef int (*ovr_owns_fn)(const void *);

/* Sizes no allocator can serve, out of the compiler's sight (it would warn
 * about the constant, or fold the failing call away). */
static volatile size_t ovr_huge = SIZE_MAX / 2;

static struct {
    ovr_owns_fn owns;   /* objmem's om_owns; NULL when glibc serves malloc */
    int expect_objmem;
} ovr;

/* Every block the program checks must come from the expected allocator. */
static int ovr_placed(const void *p)
{
    if (p == NULL)
        return 0;
    return ovr.expect_objmem ? ovr.owns(p) == 1 : 1;
}

static uint64_t ovr_mix(uint64_t sum, uint64_t v)
{
    return (sum ^ v) * 1099511628211u + 0x9e3779b97f4a7c15u;
}

static void ovr_fill(unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = ovr_pattern_byte(seed, i);
}

static int ovr_intact(const unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ovr_pattern_byte(seed, i))
            return 0;
    return 1;
}

static int ovr_aligned(const void *p, size_t align)
{
    return p != NULL && ((uintptr_t)p & (align - 1)) == 0;
}

/* ---- which allocator ----------------------------------------------------- */
static int ovr_setup(const char *mode)
{
    ovr_owns_fn found;

    *(void **)&found = dlsym(RTLD_DEFAULT, "om_owns");
    if (strcmp(mode, "objmem") == 0) {
        ovr.owns = found;
        ovr.expect_objmem = 1;
        CHECK_MSG(found != NULL, "om_owns not found: libobjmem-malloc.so is not preloaded");
        return found != NULL;
    }
    if (strcmp(mode, "libc") == 0) {
        CHECK_MSG(found == NULL, "om_owns found: objmem is preloaded in libc mode");
        return 1;
    }
#ifdef OVR_STATIC
    if (strcmp(mode, "static") == 0) {
        ovr.owns = om_owns;
        ovr.expect_objmem = 1;
        return 1;
    }
#endif
    fprintf(stderr, "override_program: unknown mode '%s'\n", mode);
    return 0;
}

/* ---- glibc's semantics ---------------------------------------------------- */
static uint64_t test_realloc_family(void)
{
    uint64_t sum = 0;
    unsigned char *p = malloc(100), *q;

    CHECK(ovr_placed(p));
    CHECK_GE(malloc_usable_size(p), 100);
    ovr_fill(p, 100, 1);
    q = realloc(p, 5000);           /* small to medium: contents move */
    CHECK(ovr_placed(q));
    CHECK(q && ovr_intact(q, 100, 1));
    p = realloc(q, 300000);         /* to large */
    CHECK(p && ovr_intact(p, 100, 1));
    sum = ovr_mix(sum, p ? p[99] : 0);
    errno = 0;
    CHECK(realloc(p, 0) == NULL);   /* glibc: frees p */
    q = realloc(NULL, 0);           /* malloc(0): a unique pointer */
    CHECK(ovr_placed(q));
    free(q);
    errno = 0;
    CHECK(reallocarray(NULL, ovr_huge, 3) == NULL);
    CHECK_EQ(errno, ENOMEM);
    p = reallocarray(NULL, 10, 10);
    CHECK(ovr_placed(p));
    if (p) {
        ovr_fill(p, 100, 2);
        q = reallocarray(p, 100, 10);
        CHECK(q && ovr_intact(q, 100, 2));
        sum = ovr_mix(sum, q ? q[50] : 0);
        free(q);
    }
    return sum;
}

static void test_aligned_family(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p;

    /* memalign rounds an alignment that is not a power of two up */
    static const size_t odd[][2] = {{24, 32}, {48, 64}, {100, 128}, {3000, 4096}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        p = memalign(odd[i][0], 200);
        CHECK_MSG(ovr_aligned(p, odd[i][1]), "memalign(%zu) gave %p", odd[i][0], p);
        CHECK(ovr_placed(p));
        free(p);
    }
    p = memalign(4096, 10);
    CHECK(ovr_aligned(p, 4096) && ovr_placed(p));
    free(p);
    p = valloc(100);
    CHECK(ovr_aligned(p, page) && ovr_placed(p));
    free(p);
    p = pvalloc(100);
    CHECK(ovr_aligned(p, page) && ovr_placed(p));
    CHECK_GE(malloc_usable_size(p), page);
    free(p);
    CHECK_EQ(posix_memalign(&p, 3, 8), EINVAL);
    CHECK_EQ(posix_memalign(&p, sizeof(void *) / 2, 8), EINVAL);
    CHECK_EQ(posix_memalign(&p, 64, 100), 0);
    CHECK(ovr_aligned(p, 64) && ovr_placed(p));
    free(p);
    p = aligned_alloc(256, 1000);
    CHECK(ovr_aligned(p, 256) && ovr_placed(p));
    free(p);
    p = aligned_alloc(1 << 16, 70000);
    CHECK(ovr_aligned(p, 1 << 16) && ovr_placed(p));
    free(p);
}

/* calloc must zero memory that malloc just handed out dirty. */
static void test_calloc_and_sizes(void)
{
    static const size_t sizes[] = {1, 16, 100, 512, 513, 4000, 65536, 131072, 131073, 400000};

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], nonzero = 0;
        unsigned char *p = malloc(n), *z;
        if (p)
            memset(p, 0xa5, n);
        CHECK_GE(malloc_usable_size(p), n);
        free(p);
        z = calloc(n, 1);
        CHECK(ovr_placed(z));
        for (size_t k = 0; z != NULL && k < n; k++)
            nonzero += z[k] != 0;
        CHECK_MSG(nonzero == 0, "calloc(%zu): %zu bytes not zero", n, nonzero);
        free(z);
    }
    errno = 0;
    CHECK(calloc(ovr_huge, 3) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(malloc(ovr_huge * 2 - 4096) == NULL);
    CHECK_EQ(errno, ENOMEM);
}

static void test_mallinfo_trim(void)
{
    enum { N = 1000, SIZE = 1000, BIG = 1 << 20 };
    void **blocks = malloc(N * sizeof *blocks);
    void *big = malloc(BIG);
    struct mallinfo2 mi;

    REQUIRE(blocks != NULL && big != NULL);
    memset(big, 1, BIG);
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        if (blocks[i])
            memset(blocks[i], i, SIZE);
    }
    mi = mallinfo2();
    CHECK_GE(mi.uordblks + mi.hblkhd, (size_t)N * SIZE + BIG);
    if (ovr.expect_objmem) {
        CHECK_GT(mi.arena, 0);
        CHECK_GE(mi.hblks, 1);
        CHECK_GE(mi.hblkhd, BIG);
    }
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    free(blocks);
    free(big);
    int trimmed = malloc_trim(0);
    CHECK(trimmed == 0 || trimmed == 1);
}

/* ---- threads ---------------------------------------------------------------- */
/* Early threads start before main allocates anything itself; each leaves a
 * chain of blocks behind for main to free after it has exited. */
typedef struct ovr_chain {
    struct ovr_chain *next;
    uint32_t seed;
    uint32_t n;
} ovr_chain;

static void *early_thread(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    ovr_chain *head = NULL;

    for (int i = 0; i < 3000; i++) {
        uint32_t n = (uint32_t)tu_range(&rng, 0, 2000);
        ovr_chain *c = malloc(sizeof *c + n);
        if (c == NULL || !ovr_placed(c)) {
            CHECK_MSG(0, "early thread: block %d misplaced", i);
            free(c);
            break;
        }
        c->seed = (uint32_t)tu_rand(&rng);
        c->n = n;
        ovr_fill((unsigned char *)(c + 1), n, c->seed);
        if (i % 3 == 0) {           /* keep a third, free the rest now */
            c->next = head;
            head = c;
        } else {
            CHECK(ovr_intact((unsigned char *)(c + 1), n, c->seed));
            free(c);
        }
    }
    return head;
}

static uint64_t free_chain(ovr_chain *c)
{
    uint64_t sum = 0;

    while (c != NULL) {
        ovr_chain *next = c->next;
        CHECK(ovr_intact((unsigned char *)(c + 1), c->n, c->seed));
        sum += ovr_mix(c->seed, c->n);
        free(c);
        c = next;
    }
    return sum;
}

/* Producers malloc messages, consumers check and free them: every block is
 * freed by a thread other than the one that allocated it. */
enum { QUEUE_SLOTS = 64, PRODUCERS = 3, CONSUMERS = 3, MESSAGES = 4000 };

typedef struct ovr_message {
    uint32_t seed;
    uint32_t n;
} ovr_message;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    ovr_message *slot[QUEUE_SLOTS];
    unsigned head, count;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
           {NULL}, 0, 0};

static void queue_push(ovr_message *m)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == QUEUE_SLOTS)
        pthread_cond_wait(&queue.not_full, &queue.lock);
    queue.slot[(queue.head + queue.count++) % QUEUE_SLOTS] = m;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

static ovr_message *queue_pop(void)
{
    ovr_message *m;

    pthread_mutex_lock(&queue.lock);
    while (queue.count == 0)
        pthread_cond_wait(&queue.not_empty, &queue.lock);
    m = queue.slot[queue.head];
    queue.head = (queue.head + 1) % QUEUE_SLOTS;
    queue.count--;
    pthread_cond_signal(&queue.not_full);
    pthread_mutex_unlock(&queue.lock);
    return m;
}

static void *producer(void *arg)
{
    uint64_t rng = 1000 + (uint64_t)(uintptr_t)arg;

    for (int i = 0; i < MESSAGES; i++) {
        size_t pick = tu_range(&rng, 0, 99);
        size_t n = pick < 80 ? tu_range(&rng, 1, 512)
                 : pick < 99 ? tu_range(&rng, 513, 65536) : tu_range(&rng, 131073, 400000);
        ovr_message *m = malloc(sizeof *m + n);
        CHECK(ovr_placed(m));
        if (m == NULL)
            continue;
        m->seed = (uint32_t)tu_rand(&rng);
        m->n = (uint32_t)n;
        ovr_fill((unsigned char *)(m + 1), n, m->seed);
        queue_push(m);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    uint64_t *sum = arg;
    ovr_message *m;

    while ((m = queue_pop()) != NULL) {
        CHECK(ovr_intact((unsigned char *)(m + 1), m->n, m->seed));
        *sum += ovr_mix(m->seed, m->n);
        free(m);
    }
    return NULL;
}

static uint64_t run_producers_consumers(void)
{
    pthread_t p[PRODUCERS], c[CONSUMERS];
    uint64_t sums[CONSUMERS] = {0}, total = 0;

    for (int i = 0; i < CONSUMERS; i++)
        CHECK_EQ(pthread_create(&c[i], NULL, consumer, &sums[i]), 0);
    for (int i = 0; i < PRODUCERS; i++)
        CHECK_EQ(pthread_create(&p[i], NULL, producer, (void *)(uintptr_t)i), 0);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        queue_push(NULL);
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(c[i], NULL);
        total += sums[i];
    }
    return total;
}

/* Late threads, many and short-lived, start after the heap is busy: each
 * frees blocks main allocated and leaves some of its own to main. */
typedef struct late_job {
    ovr_chain *from_main;
    ovr_chain *to_main;
    uint64_t sum;
    int index;
} late_job;

static void *late_thread(void *arg)
{
    late_job *job = arg;
    uint64_t rng = 5000 + (uint64_t)job->index;

    job->sum = free_chain(job->from_main);
    job->to_main = NULL;
    for (int i = 0; i < 200; i++) {
        uint32_t n = (uint32_t)tu_range(&rng, 0, 3000);
        ovr_chain *c = malloc(sizeof *c + n);
        CHECK(ovr_placed(c));
        if (c == NULL)
            break;
        c->seed = (uint32_t)tu_rand(&rng);
        c->n = n;
        ovr_fill((unsigned char *)(c + 1), n, c->seed);
        c->next = job->to_main;
        job->to_main = c;
    }
    return NULL;
}

static ovr_chain *make_chain(uint64_t *rng, int count)
{
    ovr_chain *head = NULL;

    for (int i = 0; i < count; i++) {
        uint32_t n = (uint32_t)tu_range(rng, 0, 1500);
        ovr_chain *c = malloc(sizeof *c + n);
        if (c == NULL)
            break;
        c->seed = (uint32_t)tu_rand(rng);
        c->n = n;
        ovr_fill((unsigned char *)(c + 1), n, c->seed);
        c->next = head;
        head = c;
    }
    return head;
}

static uint64_t run_late_threads(void)
{
    enum { BATCHES = 16, WIDTH = 4 };
    uint64_t rng = 77, sum = 0;

    for (int b = 0; b < BATCHES; b++) {
        pthread_t t[WIDTH];
        late_job jobs[WIDTH];
        for (int i = 0; i < WIDTH; i++) {
            jobs[i].from_main = make_chain(&rng, 100);
            jobs[i].index = b * WIDTH + i;
            CHECK_EQ(pthread_create(&t[i], NULL, late_thread, &jobs[i]), 0);
        }
        for (int i = 0; i < WIDTH; i++) {
            pthread_join(t[i], NULL);
            sum += jobs[i].sum + free_chain(jobs[i].to_main);
        }
    }
    return sum;
}

/* ---- fork() from a threaded parent ----------------------------------------- */
static atomic_int churn_stop;

static void *churn(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    void *slots[128] = {NULL};

    while (!atomic_load(&churn_stop)) {
        size_t i = tu_range(&rng, 0, 127), pick = tu_range(&rng, 0, 15);
        free(slots[i]);
        slots[i] = malloc(pick == 0 ? tu_range(&rng, 131073, 300000) : tu_range(&rng, 1, 4000));
    }
    for (int i = 0; i < 128; i++)
        free(slots[i]);
    return NULL;
}

static void *child_thread(void *arg)
{
    return early_thread(arg);
}

/* In the child: much allocation, a thread, and a block from before fork. */
static int child_work(void *inherited, uint32_t seed)
{
    uint64_t rng = seed;
    void *keep[2048];
    pthread_t t;
    int ok = ovr_intact(inherited, 1000, seed);

    free(inherited);
    for (int round = 0; round < 10 && ok; round++) {
        for (int i = 0; i < 2048; i++) {
            keep[i] = malloc(i % 97 == 0 ? 200000 : tu_range(&rng, 1, 3000));
            ok &= ovr_placed(keep[i]);
        }
        for (int i = 0; i < 2048; i++)
            free(keep[i]);
    }
    if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)seed) != 0)
        return 2;
    void *chain = NULL;
    pthread_join(t, &chain);
    free_chain(chain);
    return ok && check_failures() == 0 ? 0 : 3;
}

/* Wait for a child for at most 30 s: a deadlock after fork must fail the
 * test with a message, not hang it. */
static int wait_child(pid_t pid)
{
    struct timespec tick = {0, 2000000};
    int status = 0;

    for (int waited = 0; waited < 15000; waited++) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (got < 0)
            return -1;
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "child %d still running after 30 s: deadlocked after fork?\n", (int)pid);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static int run_forks(void)
{
    enum { THREADS = 3, FORKS = 8 };
    pthread_t t[THREADS];
    int ok_children = 0;

    atomic_store(&churn_stop, 0);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)), 0);
    for (int f = 0; f < FORKS; f++) {
        uint32_t seed = 900 + (uint32_t)f;
        unsigned char *before = malloc(1000);
        if (before == NULL) {
            CHECK(before != NULL);
            break;
        }
        ovr_fill(before, 1000, seed);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0)
            exit(child_work(before, seed));
        CHECK(pid > 0);
        int rc = pid > 0 ? wait_child(pid) : -1;
        CHECK_MSG(rc == 0, "fork %d: child exit status %d", f, rc);
        ok_children += rc == 0;
        free(before);
    }
    atomic_store(&churn_stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    return ok_children;
}

/* ---- across a dlopen boundary --------------------------------------------- */
typedef struct ovr_plugin {
    void *(*make)(size_t, uint32_t);
    uint64_t (*consume)(void *, size_t, uint32_t);
    void *(*resize)(void *, size_t);
} ovr_plugin;

static int plugin_load(const char *path, void **handle, ovr_plugin *pl)
{
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK_MSG(*handle != NULL, "dlopen(%s): %s", path, dlerror());
    if (*handle == NULL)
        return 0;
    *(void **)&pl->make = dlsym(*handle, "ovr_plugin_make");
    *(void **)&pl->consume = dlsym(*handle, "ovr_plugin_consume");
    *(void **)&pl->resize = dlsym(*handle, "ovr_plugin_resize");
    return pl->make && pl->consume && pl->resize;
}

static uint64_t run_plugin(const char *path)
{
    static const size_t sizes[] = {1, 40, 700, 20000, 140000, 1 << 20};
    enum { NSIZES = sizeof sizes / sizeof sizes[0] };
    unsigned char *from_plugin[NSIZES];
    uint64_t sum = 0;
    ovr_plugin pl;
    void *handle;

    if (!plugin_load(path, &handle, &pl))
        return 0;
    for (int i = 0; i < NSIZES; i++) {
        uint32_t seed = 40 + (uint32_t)i;
        /* the plugin allocates, the program frees (after dlclose, some) */
        from_plugin[i] = pl.make(sizes[i], seed);
        CHECK(ovr_placed(from_plugin[i]));
        /* the program allocates, the plugin grows it, then frees it */
        unsigned char *mine = malloc(sizes[i]);
        CHECK(ovr_placed(mine));
        if (mine == NULL)
            continue;
        ovr_fill(mine, sizes[i], seed);
        mine = pl.resize(mine, sizes[i] * 2);
        CHECK(ovr_placed(mine));
        uint64_t got = mine ? pl.consume(mine, sizes[i], seed) : 0;
        CHECK_NE(got, 0);
        sum = ovr_mix(sum, got);
    }
    dlclose(handle);
    for (int i = 0; i < NSIZES; i++) {
        CHECK(from_plugin[i] && ovr_intact(from_plugin[i], sizes[i], 40 + (uint32_t)i));
        sum = ovr_mix(sum, from_plugin[i] ? from_plugin[i][sizes[i] - 1] : 0);
        free(from_plugin[i]);
    }
    return sum;
}

/* ---- main ---------------------------------------------------------------- */
int main(int argc, char **argv)
{
    enum { EARLY = 3 };
    pthread_t early[EARLY];
    uint64_t early_sum = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: %s objmem|libc|static PLUGIN.so\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < EARLY; i++)   /* before main's first malloc */
        CHECK_EQ(pthread_create(&early[i], NULL, early_thread, (void *)(uintptr_t)(i + 1)), 0);
    if (!ovr_setup(argv[1]))
        return 1;
    printf("realloc family: %016llx\n", (unsigned long long)test_realloc_family());
    test_aligned_family();
    test_calloc_and_sizes();
    test_mallinfo_trim();
    printf("aligned, calloc, mallinfo: done\n");
    for (int i = 0; i < EARLY; i++) {
        void *chain = NULL;
        pthread_join(early[i], &chain);
        early_sum += free_chain(chain);   /* its owner has exited */
    }
    printf("early threads: %016llx\n", (unsigned long long)early_sum);
    printf("producers/consumers: %016llx\n", (unsigned long long)run_producers_consumers());
    printf("late threads: %016llx\n", (unsigned long long)run_late_threads());
    printf("fork: %d children exited 0\n", run_forks());
    printf("plugin: %016llx\n", (unsigned long long)run_plugin(argv[2]));
    fflush(stdout);
    fprintf(stderr, "%lu passed, %lu failed\n", (unsigned long)atomic_load(&check_passed_n),
            check_failures());
    return check_failures() == 0 ? 0 : 1;
}
