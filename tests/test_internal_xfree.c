/*
 * test_internal_xfree.c — frees from other threads (src/alloc/heap.c,
 * pool.c), one test per state transition of a pool's xfree word:
 *   USED pool, block freed by another thread   → on the pool's stack, the
 *     owner takes it back when the pool runs dry (before carving more);
 *   exhausted pool, stack empty                → FULL, watched;
 *   FULL, first block freed by another thread  → watch cleared, block on
 *     the heap's delayed stack; later ones on the pool's stack; the owner's
 *     next slow path puts the pool back on its used list;
 *   FULL, block freed by the owner             → USED, watch cleared;
 *   om_trim                                    → every stack taken back,
 *     pools emptied by it go back to their arena;
 *   a heap abandoned with blocks on its stacks → left there by the exit
 *     (it walks no pool), taken back by the abandoned heap's purge tick,
 *     which another heap's tick runs, with no thread adopting the heap.
 * And a stress of several threads freeing into one owner that allocates
 * all the while (the TSan run's subject).
 */
#include <pthread.h>
#include <unistd.h>

#include "check.h"

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

#define SIZE 48 /* a small class of its own in these tests */

static om_pool *pool_of(void *p) { return omi_pool_of((uintptr_t)p, omi_map_lookup((uintptr_t)p)); }

static uintptr_t xfree_word(void *p) { return atomic_load(omi_pool_xfree(pool_of(p))); }

static size_t xfree_len(void *p) {
    size_t n = 0;
    for (om_block *b = (om_block *)(xfree_word(p) & ~OM_XFREE_FLAGS); b; b = b->next)
        n++;
    return n;
}

/* Free blocks[from..to) on another thread (one with no heap of its own). */
typedef struct job {
    void **blocks;
    size_t from, to;
} job;

static void *free_job(void *arg) {
    job *j = arg;
    for (size_t i = j->from; i < j->to; i++)
        om_free(j->blocks[i]);
    return NULL;
}

static void free_elsewhere(void **blocks, size_t from, size_t to) {
    job j = {blocks, from, to};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, free_job, &j) == 0);
    pthread_join(t, NULL);
}

static unsigned capacity(void) { return omi_class_capacity(omi_size_class(SIZE)); }

/* A fresh pool for SIZE: allocate until a block is the first of its pool. */
static void *fresh_block(void) {
    for (;;) {
        void *p = om_malloc(SIZE);
        if (pool_of(p)->nused == 1 && (char *)p == omi_pool_block_base(pool_of(p)))
            return p;
    }
}

static void test_used_pool_takes_back_when_dry(void) {
    unsigned cap = capacity();
    void **b = om_malloc(sizeof(void *) * cap);
    REQUIRE(b != NULL);
    b[0] = fresh_block();
    om_pool *p = pool_of(b[0]);
    for (unsigned i = 1; i < cap / 2; i++)
        b[i] = om_malloc(SIZE);
    CHECK(pool_of(b[cap / 2 - 1]) == p);
    free_elsewhere(b, 0, cap / 4);
    CHECK_EQ(xfree_len(b[0]), cap / 4);
    CHECK_EQ(p->nused, cap / 2); /* counted as used until taken back */
    CHECK_EQ(p->state, OM_POOL_USED);
    CHECK_EQ(om_heap_check(0), 0);
    /* At the end of the carved page the pool is dry: the owner takes the
     * stack back before carving more, and hands out a block freed
     * elsewhere. */
    void **extra = om_malloc(sizeof(void *) * cap);
    REQUIRE(extra != NULL);
    size_t ne = 0;
    void *again = NULL;
    while (ne < cap && !again) {
        void *x = om_malloc(SIZE);
        if (xfree_len(b[0]) == 0)
            again = x;
        else
            extra[ne++] = x;
    }
    REQUIRE(again != NULL);
    CHECK(pool_of(again) == p);
    int was_freed = 0;
    for (unsigned i = 0; i < cap / 4; i++)
        was_freed |= b[i] == again;
    CHECK(was_freed);
    CHECK_EQ(p->nused, cap / 2 - cap / 4 + ne + 1);
    CHECK_EQ(om_heap_check(0), 0);
    om_free(again);
    for (size_t i = 0; i < ne; i++)
        om_free(extra[i]);
    for (unsigned i = cap / 4; i < cap / 2; i++)
        om_free(b[i]);
    om_free(extra);
    om_free(b);
}

/* A fresh pool filled: its cap blocks in b (allocated here, NULL when
 * out of memory), then one more block, from another pool, in *next: the
 * pool was found dry, so it is FULL and watched. */
static void **full_pool(unsigned cap, void **next) {
    void **b = om_malloc(sizeof(void *) * cap);
    if (!b)
        return NULL;
    b[0] = fresh_block();
    for (unsigned i = 1; i < cap; i++)
        b[i] = om_malloc(SIZE);
    *next = om_malloc(SIZE);
    return b;
}

static void test_full_pool_watch_and_delayed(void) {
    unsigned cap = capacity();
    void *next;
    void **b = full_pool(cap, &next);
    REQUIRE(b != NULL);
    om_pool *p = pool_of(b[0]);
    CHECK(pool_of(next) != p);
    CHECK_EQ(p->state, OM_POOL_FULL);
    CHECK_EQ(xfree_word(b[0]), OM_XFREE_WATCH);
    free_elsewhere(b, 0, 1); /* the first: delayed */
    CHECK_EQ(xfree_word(b[0]), 0);
    CHECK(atomic_load(&omi_tls_heap->delayed) == (om_block *)b[0]);
    free_elsewhere(b, 1, 3); /* the next ones: the pool's stack */
    CHECK_EQ(xfree_len(b[0]), 2);
    CHECK_EQ(p->state, OM_POOL_FULL);
    /* Any slow path drains the delayed stack: the pool is back in use. */
    void *other = om_malloc(100000); /* a medium class: its own slow path */
    CHECK(atomic_load(&omi_tls_heap->delayed) == NULL);
    CHECK_EQ(p->state, OM_POOL_USED);
    CHECK_EQ(p->nused, cap - 1);
    CHECK_EQ(xfree_len(b[0]), 2);
    CHECK_EQ(om_heap_check(0), 0);
    om_free(other);
    om_free(next);
    for (unsigned i = 3; i < cap; i++)
        om_free(b[i]);
    om_trim(0);
    CHECK_EQ(om_heap_check(0), 0);
    om_free(b);
}

static void test_full_pool_owner_free_clears_watch(void) {
    unsigned cap = capacity();
    void *next;
    void **b = full_pool(cap, &next);
    REQUIRE(b != NULL);
    om_pool *p = pool_of(b[0]);
    CHECK_EQ(p->state, OM_POOL_FULL);
    CHECK_EQ(xfree_word(b[0]), OM_XFREE_WATCH);
    om_free(b[5]);
    CHECK_EQ(p->state, OM_POOL_USED);
    CHECK_EQ(xfree_word(b[0]), 0);
    free_elsewhere(b, 6, 8); /* now on the stack, not delayed */
    CHECK_EQ(xfree_len(b[0]), 2);
    CHECK(atomic_load(&omi_tls_heap->delayed) == NULL);
    CHECK_EQ(om_heap_check(0), 0);
    om_free(next);
    for (unsigned i = 0; i < cap; i++)
        if (i != 5 && i != 6 && i != 7)
            om_free(b[i]);
    om_trim(0);
    om_free(b);
}

static void test_trim_takes_every_stack_back(void) {
    unsigned cap = capacity();
    size_t n = 4 * (size_t)cap;
    void **b = om_malloc(sizeof(void *) * n);
    REQUIRE(b != NULL);
    b[0] = fresh_block();
    for (size_t i = 1; i < n; i++)
        b[i] = om_malloc(SIZE);
    om_pool *p0 = pool_of(b[0]);
    om_arena *a = omi_pool_arena(p0);
    free_elsewhere(b, 0, n); /* every block, from elsewhere */
    CHECK_GE(xfree_len(b[0]), 1);
    CHECK_EQ(om_heap_check(0), 0);
    om_trim(0);
    CHECK_EQ(om_heap_check(0), 0);
    /* b[0]'s pool emptied and went back to its arena (unless the arena
     * itself went back to the kernel). */
    uintptr_t e = omi_map_lookup((uintptr_t)b[0] & ~(uintptr_t)(OM_ARENA_SIZE - 1));
    if (e && (om_arena *)(e & ~(uintptr_t)OM_MAP_TAG) == a)
        CHECK(a->free_mask >> p0->index & 1);
    om_free(b);
}

/* ---- a heap abandoned with blocks on its stacks -------------------------- */
typedef struct owner_job {
    void **blocks;
    size_t n;
    pthread_barrier_t *freed, *exit;
} owner_job;

static void *owner_thread(void *arg) {
    owner_job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->blocks[i] = om_malloc(SIZE);
    pthread_barrier_wait(j->freed); /* main may free now ... */
    pthread_barrier_wait(j->exit);  /* ... and has */
    return NULL;
}

static void test_abandoned_heap_takes_back(void) {
    size_t n = 3 * (size_t)capacity();
    void **b = om_malloc(sizeof(void *) * n);
    REQUIRE(b != NULL);
    pthread_barrier_t freed, done;
    pthread_barrier_init(&freed, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    owner_job j = {b, n, &freed, &done};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, owner_thread, &j) == 0);
    pthread_barrier_wait(&freed);
    for (size_t i = 0; i < n; i += 2) /* the owner is alive: its stacks */
        om_free(b[i]);
    size_t before = 0;
    for (size_t i = 1; i < n; i += 2)
        before += xfree_len(b[i]) > 0;
    CHECK_GT(before, 0);
    long delay = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 1);
    pthread_barrier_wait(&done);
    pthread_join(t, NULL);
    /* The exit left the stacks as they were. */
    size_t after_exit = 0;
    for (size_t i = 1; i < n; i += 2)
        after_exit += xfree_len(b[i]) > 0;
    CHECK_EQ(after_exit, before);
    /* This heap's purge ticks tick the abandoned one: a pool of a class of
     * its own, emptied, arms the tick, and emptied again after the
     * deadline, runs it (within a few delays: busy ticks are further
     * apart). */
    size_t left = after_exit;
    for (int round = 0; round < 200 && left; round++) {
        void *x = om_malloc(4000);
        REQUIRE(x != NULL);
        om_free(x);
        usleep(2000);
        left = 0;
        for (size_t i = 1; i < n; i += 2)
            left += xfree_len(b[i]) > 0;
    }
    for (size_t i = 1; i < n; i += 2)
        if (!check_record(xfree_len(b[i]) == 0, __FILE__, __LINE__, "stack taken back by the tick"))
            break;
    om_option_set(OM_OPTION_PURGE_DELAY_MS, delay);
    for (size_t i = 1; i < n; i += 2) /* the owner is gone: freed in place */
        om_free(b[i]);
    pthread_barrier_destroy(&freed);
    pthread_barrier_destroy(&done);
    om_free(b);
}

/* ---- stress: one owner allocating, three threads freeing into it --------- */
#define QCAP 4096
typedef struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void *items[QCAP];
    size_t head, len;
    int done;
} queue;

static queue q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};

static void *consumer(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&q.lock);
        while (!q.len && !q.done)
            pthread_cond_wait(&q.cond, &q.lock);
        if (!q.len) {
            pthread_mutex_unlock(&q.lock);
            return NULL;
        }
        void *p = q.items[q.head];
        q.head = (q.head + 1) % QCAP;
        q.len--;
        pthread_cond_broadcast(&q.cond);
        pthread_mutex_unlock(&q.lock);
        unsigned char *c = p;
        if (c[0] != c[SIZE - 1])
            check_record(0, __FILE__, __LINE__, "block intact when freed elsewhere");
        om_free(p);
    }
}

static void test_stress_many_freers(void) {
    size_t total = (size_t)OM_TEST_SCALE(400000);
    om_trim(0);
    om_stats s0;
    om_stats_get(&s0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        REQUIRE(pthread_create(&t[i], NULL, consumer, NULL) == 0);
    void *keep[256] = {0};
    for (size_t i = 0; i < total; i++) {
        unsigned char *p = om_malloc(SIZE);
        REQUIRE(p != NULL);
        p[0] = p[SIZE - 1] = (unsigned char)i;
        if (i % 7 == 0) { /* some stay a while, freed by the owner */
            size_t k = (i / 7) % 256;
            om_free(keep[k]);
            keep[k] = p;
            continue;
        }
        pthread_mutex_lock(&q.lock);
        while (q.len == QCAP)
            pthread_cond_wait(&q.cond, &q.lock);
        q.items[(q.head + q.len) % QCAP] = p;
        q.len++;
        pthread_cond_broadcast(&q.cond);
        pthread_mutex_unlock(&q.lock);
    }
    pthread_mutex_lock(&q.lock);
    q.done = 1;
    pthread_cond_broadcast(&q.cond);
    pthread_mutex_unlock(&q.lock);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < 256; k++)
        om_free(keep[k]);
    om_trim(0);
    CHECK_EQ(om_heap_check(0), 0);
    om_stats s;
    om_stats_get(&s);
    CHECK_EQ(s.classes[omi_size_class(SIZE)].blocks_used, s0.classes[omi_size_class(SIZE)].blocks_used);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        CHECK_CASE(test_used_pool_takes_back_when_dry),
        CHECK_CASE(test_full_pool_watch_and_delayed),
        CHECK_CASE(test_full_pool_owner_free_clears_watch),
        CHECK_CASE(test_trim_takes_every_stack_back),
        CHECK_CASE(test_abandoned_heap_takes_back),
        CHECK_CASE(test_stress_many_freers),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
