/*
 * test_errors.c — the error path with a handler that returns (objmem.h §6):
 * the handler sees the right code, operation, pointer and block details;
 * the offending call is a no-op; the heap stays consistent and the block
 * involved remains usable and freeable.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

typedef struct recorded {
    int calls;
    om_error_info info;
    char operation[64];
    char message[512];
    om_block_info block;
    void *arg;
} recorded;

static recorded rec;

static void record(const om_error_info *info, void *arg)
{
    rec.calls++;
    rec.info = *info;
    rec.block = *info->block;      /* info->block is valid during the call only */
    rec.info.block = &rec.block;
    rec.arg = arg;
    snprintf(rec.operation, sizeof rec.operation, "%s", info->operation ? info->operation : "");
    snprintf(rec.message, sizeof rec.message, "%s", info->message ? info->message : "");
}

static int marker;

static void reset(void)
{
    memset(&rec, 0, sizeof rec);
    om_set_error_handler(record, &marker);
}

static void expect_error(om_error_code code, const char *op, const void *p)
{
    CHECK_EQ(rec.calls, 1);
    CHECK_EQ(rec.info.code, code);
    CHECK_MSG(strcmp(rec.operation, op) == 0, "operation \"%s\", want \"%s\"", rec.operation, op);
    CHECK_PTR_EQ(rec.info.pointer, p);
    CHECK(rec.arg == &marker);
    CHECK_STR_HAS(rec.message, om_error_name(code));
    const char *nl = strchr(rec.message, '\n');
    CHECK(nl == NULL || nl[1] == '\0');
}

static void expect_block(om_block_kind kind, const void *block, size_t size)
{
    CHECK_EQ(rec.block.kind, kind);
    CHECK_PTR_EQ(rec.block.block, block);
    CHECK_EQ(rec.block.block_size, size);
    CHECK(rec.block.arena != NULL);
    if (kind == OM_BLOCK_LARGE) {
        CHECK_EQ(rec.block.size_class, -1);
        CHECK(rec.block.pool == NULL);
    } else {
        CHECK_GE(rec.block.size_class, 0);
        CHECK(rec.block.pool != NULL);
        CHECK_LE((uintptr_t)rec.block.pool, (uintptr_t)block);
    }
}

static void test_error_names(void)
{
    om_error_code codes[] = { OM_ERR_FOREIGN_POINTER, OM_ERR_INTERIOR_POINTER,
                              OM_ERR_MISALIGNED_POINTER, OM_ERR_DOUBLE_FREE, OM_ERR_CORRUPTION };
    for (size_t i = 0; i < CHECK_COUNT(codes); i++) {
        const char *n = om_error_name(codes[i]);
        CHECK(n != NULL && n[0] != '\0');
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(n, om_error_name(codes[j])) != 0);
    }
    CHECK_STR_HAS(om_error_name(OM_ERR_DOUBLE_FREE), "double free");
    CHECK(om_error_name((om_error_code)999) != NULL);
}

static void test_foreign(void)
{
    reset();
    _Alignas(16) char buf[64];
    memset(buf, 0x5C, sizeof buf);
    om_free(buf);
    expect_error(OM_ERR_FOREIGN_POINTER, "om_free", buf);
    CHECK_EQ(rec.block.kind, OM_BLOCK_FOREIGN);
    CHECK(tu_all_bytes(buf, sizeof buf, 0x5C)); /* not written */

    reset();
    void *lp = aligned_alloc(16, 128);
    REQUIRE(lp != NULL);
    om_free(lp);
    expect_error(OM_ERR_FOREIGN_POINTER, "om_free", lp);
    free(lp);

    reset();
    errno = 0;
    void *q = om_realloc(buf, 300);
    expect_error(OM_ERR_FOREIGN_POINTER, "om_realloc", buf);
    CHECK(q == NULL);
    CHECK(tu_all_bytes(buf, sizeof buf, 0x5C));

    /* NULL is not an error, neither is usable_size of a foreign pointer */
    reset();
    om_free(NULL);
    CHECK_EQ(om_usable_size(buf), 0);
    CHECK_EQ(rec.calls, 0);
    CHECK_EQ(om_heap_check(1), 0);
    om_set_error_handler(NULL, NULL);
}

/* bad free of a block that is then still usable */
static void run_misaligned(size_t n, size_t off)
{
    reset();
    unsigned char *p = om_malloc(n);
    REQUIRE(p != NULL);
    size_t us = om_usable_size(p);
    tu_fill(p, us, 1);
    om_free(p + off);
    expect_error(OM_ERR_MISALIGNED_POINTER, "om_free", p + off);
    om_block_info bi;
    REQUIRE_EQ(om_block_describe(p, &bi), 0);
    expect_block(bi.kind, p, us);
    CHECK_EQ(rec.block.size_class, bi.size_class);
    CHECK_PTR_EQ(rec.block.pool, bi.pool);
    CHECK_EQ(om_heap_check(1), 0);
    CHECK(om_owns(p));
    CHECK_EQ(om_usable_size(p), us);
    CHECK_EQ(tu_verify_from(p, p, us, 1), us);
    /* the block was not freed: the next allocation of the class is elsewhere */
    void *other = om_malloc(n);
    CHECK(other != p);
    om_free(other);
    om_free(p);
    CHECK_EQ(rec.calls, 1);
    CHECK_EQ(om_heap_check(1), 0);
    om_set_error_handler(NULL, NULL);
}

static void test_misaligned_small(void) { run_misaligned(64, 8); }

/* Small blocks of another thread's heap (alive: frees go on its pools'
 * stacks, through the cross-thread path of om_free): a double free and a
 * misaligned pointer are caught at the free, a pointer inside the block in
 * checked mode, as for the thread's own blocks. */
typedef struct owner_job {
    void *b[3];
    pthread_barrier_t made, done;
} owner_job;

static void *owner_main(void *arg)
{
    owner_job *j = arg;
    for (int i = 0; i < 3; i++)
        j->b[i] = om_malloc(64);
    pthread_barrier_wait(&j->made);
    pthread_barrier_wait(&j->done);
    return NULL;
}

static void test_other_threads_small_blocks(void)
{
    owner_job j;
    pthread_t t;
    pthread_barrier_init(&j.made, NULL, 2);
    pthread_barrier_init(&j.done, NULL, 2);
    REQUIRE(pthread_create(&t, NULL, owner_main, &j) == 0);
    pthread_barrier_wait(&j.made);
    void *warm = om_malloc(64); /* this thread has a heap */
    unsigned char *b1 = j.b[1], *b2 = j.b[2];
    reset();
    om_free(j.b[0]);
    CHECK_EQ(rec.calls, 0);
    om_free(j.b[0]);
    expect_error(OM_ERR_DOUBLE_FREE, "om_free", j.b[0]);
    reset();
    om_free(b1 + 8);
    expect_error(OM_ERR_MISALIGNED_POINTER, "om_free", b1 + 8);
    long old = om_option_get(OM_OPTION_CHECKED);
    om_option_set(OM_OPTION_CHECKED, 1);
    om_free(warm); /* a fresh allocation picks the mode up */
    warm = om_malloc(64);
    reset();
    om_free(b2 + 16);
    expect_error(OM_ERR_INTERIOR_POINTER, "om_free", b2 + 16);
    om_option_set(OM_OPTION_CHECKED, old);
    reset();
    om_free(b1);
    om_free(b2);
    om_free(warm);
    CHECK_EQ(rec.calls, 0);
    pthread_barrier_wait(&j.done);
    pthread_join(t, NULL);
    CHECK_EQ(om_heap_check(1), 0);
    pthread_barrier_destroy(&j.made);
    pthread_barrier_destroy(&j.done);
    om_set_error_handler(NULL, NULL);
}
static void test_misaligned_small_1(void) { run_misaligned(100, 1); }
static void test_misaligned_medium(void) { run_misaligned(3000, 24); }
static void test_misaligned_large(void) { run_misaligned(400000, 4); }

static void test_interior_checked(void)
{
    long old = om_option_get(OM_OPTION_CHECKED);
    om_option_set(OM_OPTION_CHECKED, 1);
    size_t sizes[] = { 64, 2048, 500000 };
    for (size_t i = 0; i < CHECK_COUNT(sizes); i++) {
        reset();
        unsigned char *p = om_malloc(sizes[i]);
        REQUIRE(p != NULL);
        memset(p, 0x21, sizes[i]);
        om_free(p + 16);
        expect_error(OM_ERR_INTERIOR_POINTER, "om_free", p + 16);
        expect_block(sizes[i] <= TU_POOL16_MAX ? OM_BLOCK_SMALL
                     : sizes[i] <= TU_MEDIUM_MAX ? OM_BLOCK_MEDIUM
                                                 : OM_BLOCK_LARGE,
                     p, om_usable_size(p));
        CHECK_EQ(om_heap_check(1), 0);
        CHECK(tu_all_bytes(p, sizes[i], 0x21));
        void *r = om_realloc(p + 32, 10);
        CHECK(r == NULL);
        CHECK_EQ(rec.calls, 2);
        CHECK_EQ(rec.info.code, OM_ERR_INTERIOR_POINTER);
        om_free(p);
        CHECK_EQ(rec.calls, 2);
    }
    om_option_set(OM_OPTION_CHECKED, old);
    om_set_error_handler(NULL, NULL);
}

/* Double free: reported, ignored, and the free list is not corrupted (the
 * block is not handed out twice). */
static void run_double_free(size_t n, int separate)
{
    reset();
    void *keep = om_malloc(n);
    unsigned char *p = om_malloc(n);
    void *q = om_malloc(n);
    REQUIRE(keep != NULL && p != NULL && q != NULL);
    size_t us = om_usable_size(p);
    om_block_info bi;
    REQUIRE_EQ(om_block_describe(p, &bi), 0);
    om_free(p);
    if (separate)
        om_free(q); /* p is no longer the most recent free */
    om_free(p);
    expect_error(OM_ERR_DOUBLE_FREE, "om_free", p);
    if (bi.kind != OM_BLOCK_LARGE) {
        expect_block(bi.kind, p, us);
        CHECK_EQ(rec.block.size_class, bi.size_class);
        CHECK_PTR_EQ(rec.block.pool, bi.pool);
    } else {
        CHECK_EQ(rec.block.kind, OM_BLOCK_LARGE);
    }
    CHECK_EQ(om_heap_check(1), 0);
    /* two allocations must be two blocks */
    void *a = om_malloc(n), *b = om_malloc(n), *c = om_malloc(n);
    CHECK(a != NULL && b != NULL && c != NULL);
    CHECK(a != b && b != c && a != c);
    CHECK(a != keep && b != keep && c != keep);
    if (!separate)
        om_free(q);
    om_free(a);
    om_free(b);
    om_free(c);
    om_free(keep);
    CHECK_EQ(rec.calls, 1);
    CHECK_EQ(om_heap_check(1), 0);
    om_set_error_handler(NULL, NULL);
}

/* Small blocks: caught at the free in checked mode (section 2 of the header). */
static void run_double_free_checked(size_t n, int separate)
{
    long old = om_option_get(OM_OPTION_CHECKED);
    om_option_set(OM_OPTION_CHECKED, 1);
    run_double_free(n, separate);
    om_option_set(OM_OPTION_CHECKED, old);
}

static void test_double_free_small(void) { run_double_free_checked(48, 0); }
static void test_double_free_small_not_last(void) { run_double_free_checked(48, 1); }

/* Without checked mode: caught by the allocation that would hand the block
 * out a second time; no block is ever handed out twice. */
static void test_double_free_small_at_allocation(void)
{
    reset();
    void *keep = om_malloc(48);
    void *p = om_malloc(48);
    REQUIRE(keep != NULL && p != NULL);
    om_free(p);
    om_free(p);
    CHECK_EQ(rec.calls, 0);
    void *a = om_malloc(48);
    void *b = om_malloc(48);
    CHECK_EQ(rec.calls, 1);
    expect_error(OM_ERR_DOUBLE_FREE, "om_malloc", p);
    CHECK_PTR_EQ(a, p);
    CHECK(b != NULL && b != p && b != keep);
    om_set_error_handler(NULL, NULL);
}

static om_block_info describe_or_fail(const void *p)
{
    om_block_info bi;
    memset(&bi, 0, sizeof bi);
    CHECK_EQ(om_block_describe(p, &bi), 0);
    return bi;
}

/* Regression: a double free that takes a pool's count to zero while a block
 * in it is still live must be reported at that free, and the pool must not
 * go back to its arena (the live block would be handed out again). */
static void test_double_free_cannot_release_live_pool(void)
{
    reset();
    enum { SIZE = 256, CAP = 16384 / SIZE };
    void *blk[CAP];
    for (int i = 0; i < CAP; i++)
        REQUIRE((blk[i] = om_malloc(SIZE)) != NULL);
    om_block_info a = describe_or_fail(blk[0]);
    for (int i = 1; i < CAP; i++)
        REQUIRE(describe_or_fail(blk[i]).pool == a.pool);
    void *other = om_malloc(SIZE); /* a second pool: the first is not retained */
    REQUIRE(other != NULL && describe_or_fail(other).pool != a.pool);
    for (int i = 2; i < CAP; i++)
        om_free(blk[i]);
    om_free(blk[1]);
    CHECK_EQ(rec.calls, 0);
    om_free(blk[1]); /* count says empty; blk[0] is live */
    CHECK_EQ(rec.calls, 1);
    expect_error(OM_ERR_DOUBLE_FREE, "om_free", blk[1]);
    om_block_info after = describe_or_fail(blk[0]);
    CHECK(after.pool_state != OM_POOL_EMPTY);
    memset(blk[0], 0x5a, SIZE);
    CHECK_EQ(om_heap_check(1), 0);
    static char *more[4 * CAP];
    for (int i = 0; i < 4 * CAP; i++) { /* nothing handed out overlaps blk[0] */
        more[i] = om_malloc(SIZE);
        REQUIRE(more[i] != NULL);
        CHECK(more[i] + SIZE <= (char *)blk[0] || more[i] >= (char *)blk[0] + SIZE);
    }
    for (int i = 0; i < 4 * CAP; i++)
        om_free(more[i]);
    om_free(blk[0]);
    om_free(other);
    om_set_error_handler(NULL, NULL);
}

/* A write to a small block after its free is caught the same way. */
static void test_write_after_free_small(void)
{
    reset();
    void *keep = om_malloc(64);
    uint64_t *p = om_malloc(64);
    REQUIRE(keep != NULL && p != NULL);
    om_free(p);
    p[1] = 42; /* the free mark */
    void *a = om_malloc(64);
    CHECK_EQ(rec.calls, 1);
    expect_error(OM_ERR_DOUBLE_FREE, "om_malloc", p);
    CHECK(a != NULL && a != (void *)p);
    om_set_error_handler(NULL, NULL);
}
static void test_double_free_medium(void) { run_double_free(5000, 0); }
static void test_double_free_medium_not_last(void) { run_double_free(5000, 1); }
static void test_double_free_large(void) { run_double_free(300000, 0); }

static void test_realloc_after_free(void)
{
    reset();
    void *keep = om_malloc(80);
    void *p = om_malloc(80);
    REQUIRE(keep != NULL && p != NULL);
    om_free(p);
    void *r = om_realloc(p, 200);
    CHECK(r == NULL);
    expect_error(OM_ERR_DOUBLE_FREE, "om_realloc", p);
    CHECK_EQ(om_heap_check(1), 0);
    om_free(keep);
    om_set_error_handler(NULL, NULL);
}

static void test_handler_restored(void)
{
    reset();
    om_set_error_handler(NULL, NULL);
    /* the default is back: nothing recorded for a good free */
    void *p = om_malloc(10);
    om_free(p);
    CHECK_EQ(rec.calls, 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_error_names),
        CHECK_CASE(test_foreign),
        CHECK_CASE(test_misaligned_small),
        CHECK_CASE(test_other_threads_small_blocks),
        CHECK_CASE(test_misaligned_small_1),
        CHECK_CASE(test_misaligned_medium),
        CHECK_CASE(test_misaligned_large),
        CHECK_CASE(test_interior_checked),
        CHECK_CASE(test_double_free_small),
        CHECK_CASE(test_double_free_small_not_last),
        CHECK_CASE(test_double_free_small_at_allocation),
        CHECK_CASE(test_write_after_free_small),
        CHECK_CASE(test_double_free_cannot_release_live_pool),
        CHECK_CASE(test_double_free_medium),
        CHECK_CASE(test_double_free_medium_not_last),
        CHECK_CASE(test_double_free_large),
        CHECK_CASE(test_realloc_after_free),
        CHECK_CASE(test_handler_restored),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
