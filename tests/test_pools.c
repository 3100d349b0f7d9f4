/*
 * test_pools.c — pools seen through om_block_describe and om_stats_get:
 * a class fills one pool before it takes another, the used/full/empty
 * states of DESIGN.md §1, block and pool geometry inside their arena, and
 * how medium and large blocks are described.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

static om_block_info describe(const void *p)
{
    om_block_info bi;
    memset(&bi, 0xEE, sizeof bi);
    int rc = om_block_describe(p, &bi);
    CHECK_EQ(rc, 0);
    return bi;
}

/* Geometry every small/medium description must satisfy. */
static void check_geometry(const void *p, const om_block_info *bi, size_t pool_size,
                           size_t arena_size, unsigned pools_per_arena)
{
    uintptr_t b = (uintptr_t)bi->block, pool = (uintptr_t)bi->pool,
              arena = (uintptr_t)bi->arena;
    CHECK_LE(b, (uintptr_t)p);
    CHECK_LT((uintptr_t)p, b + bi->block_size);
    CHECK_EQ(pool % pool_size, 0);
    CHECK_EQ(arena % arena_size, 0);
    CHECK_EQ(bi->arena_size, arena_size);
    CHECK_GE(pool, arena);
    CHECK_LT(pool, arena + arena_size);
    CHECK_EQ((pool - arena) / pool_size, (uintptr_t)bi->pool_index);
    CHECK_GE(b, pool);
    CHECK_LE(b + bi->block_size, pool + pool_size);
    CHECK_EQ(bi->arena_pools_total, pools_per_arena);
    CHECK_LT(bi->arena_pools_free, pools_per_arena);
    CHECK_GE(bi->pool_blocks_total, 1);
    CHECK_LE(bi->pool_blocks_used, bi->pool_blocks_total);
}

/* Blocks of one class fill one pool (USED ... FULL), then go to another;
 * freeing walks it back FULL -> USED -> EMPTY. */
static void run_pool_lifecycle(size_t size)
{
    om_trim(0); /* no emptied pool left with its class by an earlier case */
    om_stats s0;
    om_stats_get(&s0);
    int cls = tu_small_class(size);
    /* keeps the arena alive while the class under test empties its pool */
    void *anchor = om_malloc(size == 16 ? 32 : 16);
    REQUIRE(anchor != NULL);

    void *first = om_malloc(size);
    REQUIRE(first != NULL);
    om_block_info b0 = describe(first);
    REQUIRE_EQ(b0.kind, OM_BLOCK_SMALL);
    CHECK_EQ(b0.size_class, cls);
    CHECK_EQ(b0.block_size, size);
    CHECK_PTR_EQ(b0.block, first);
    check_geometry(first, &b0, TU_POOL_SIZE, TU_ARENA_SIZE, 64);
    unsigned total = b0.pool_blocks_total;
    /* pool header is small and not hard-coded: total blocks fill the pool
     * up to less than one block plus 64 bytes of header */
    CHECK_LE((size_t)total * size, TU_POOL_SIZE);
    CHECK_GT((size_t)(total + 1) * size, TU_POOL_SIZE - 64);
    CHECK_EQ(b0.pool_blocks_used, 1);
    CHECK_EQ(b0.pool_state, total == 1 ? OM_POOL_FULL : OM_POOL_USED);

    void **blk = calloc(total + 1, sizeof *blk);
    REQUIRE(blk != NULL);
    blk[0] = first;
    for (unsigned i = 1; i < total; i++) {
        blk[i] = om_malloc(size);
        REQUIRE(blk[i] != NULL);
        om_block_info bi = describe(blk[i]);
        CHECK_MSG(bi.pool == b0.pool, "block %u of class %zu left the pool before it was full",
                  i, size);
        CHECK_EQ(bi.pool_blocks_used, i + 1);
        CHECK_EQ(bi.pool_state, i + 1 == total ? OM_POOL_FULL : OM_POOL_USED);
        /* blocks sit on the class grid of their pool */
        CHECK_EQ(((uintptr_t)blk[i] - (uintptr_t)first) % size, 0);
        for (unsigned j = 0; j < i; j++)
            CHECK(blk[j] != blk[i]);
    }
    om_stats s1;
    om_stats_get(&s1);
    CHECK_EQ(s1.classes[cls].blocks_per_pool, total);
    CHECK_EQ(s1.classes[cls].full_pools, s0.classes[cls].full_pools + 1);
    CHECK_EQ(s1.classes[cls].blocks_used, s0.classes[cls].blocks_used + total);

    /* the pool is full: the next block comes from another pool */
    blk[total] = om_malloc(size);
    REQUIRE(blk[total] != NULL);
    om_block_info bn = describe(blk[total]);
    CHECK(bn.pool != b0.pool);
    CHECK_EQ(bn.pool_blocks_used, 1);

    /* FULL -> USED.  objmem appends a pool that was full at the back of its
     * class's list (pymalloc: the front), so the freed slot is handed out
     * once allocation has used up the pool in front of it. */
    om_free(blk[total / 2]);
    om_block_info bu = describe(first);
    CHECK_EQ(bu.pool_state, total == 1 ? OM_POOL_EMPTY : OM_POOL_USED);
    CHECK_EQ(bu.pool_blocks_used, total - 1);
    void **extra = calloc(2 * (size_t)total + 2, sizeof *extra);
    REQUIRE(extra != NULL);
    unsigned nextra = 0;
    void *again = NULL;
    while (nextra < 2 * total + 2) {
        void *q = om_malloc(size);
        REQUIRE(q != NULL);
        if (q == blk[total / 2]) {
            again = q;
            break;
        }
        CHECK(describe(q).pool == bn.pool);
        extra[nextra++] = q;
    }
    CHECK_PTR_EQ(again, blk[total / 2]);
    CHECK_EQ(nextra, describe(blk[total]).pool_blocks_total - 1); /* bn's pool was used up first */
    blk[total / 2] = again;
    CHECK_EQ(describe(first).pool_state, OM_POOL_FULL);
    for (unsigned i = 0; i < nextra; i++)
        om_free(extra[i]);
    free(extra);
    om_free(blk[total]);

    /* USED -> EMPTY: free all; the pool's arena lives on through the anchor */
    unsigned arena_free_before = describe(anchor).arena_pools_free;
    for (unsigned i = 0; i < total; i++)
        om_free(blk[i]);
    om_block_info be = describe(first);
    /* the last pool of a class to empty stays with it until the next purge */
    if (be.pool_state != OM_POOL_EMPTY) {
        CHECK_EQ(be.pool_state, OM_POOL_USED);
        om_trim(0);
        be = describe(first);
    }
    CHECK_EQ(be.pool_state, OM_POOL_EMPTY);
    CHECK_EQ(be.pool_blocks_used, 0);
    CHECK_PTR_EQ(be.pool, b0.pool);
    if (b0.arena == describe(anchor).arena)
        CHECK_EQ(describe(anchor).arena_pools_free, arena_free_before + 1);
    om_stats s2;
    om_stats_get(&s2);
    CHECK_EQ(s2.classes[cls].blocks_used, s0.classes[cls].blocks_used);
    /* an emptied pool may stay with its class until the next purge */
    om_trim(0);
    om_stats_get(&s2);
    CHECK_EQ(s2.classes[cls].pools, s0.classes[cls].pools);
    free(blk);
    om_free(anchor);
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_pool_lifecycle_48(void) { run_pool_lifecycle(48); }
static void test_pool_lifecycle_16(void) { run_pool_lifecycle(16); }
static void test_pool_lifecycle_512(void) { run_pool_lifecycle(512); }
static void test_pool_lifecycle_336(void) { run_pool_lifecycle(336); }

/* blocks_total obeys the pool geometry for every small class */
static void test_small_class_geometry(void)
{
    om_stats st;
    void *p[OM_NUM_SMALL_CLASSES];
    for (int c = 0; c < OM_NUM_SMALL_CLASSES; c++) {
        size_t size = (size_t)(c + 1) * 16;
        p[c] = om_malloc(size);
        REQUIRE(p[c] != NULL);
        om_block_info bi = describe(p[c]);
        CHECK_EQ(bi.kind, OM_BLOCK_SMALL);
        CHECK_EQ(bi.size_class, c);
        CHECK_EQ(bi.block_size, size);
        check_geometry(p[c], &bi, TU_POOL_SIZE, TU_ARENA_SIZE, 64);
        CHECK_MSG((size_t)bi.pool_blocks_total * size <= TU_POOL_SIZE &&
                      (size_t)(bi.pool_blocks_total + 1) * size > TU_POOL_SIZE - 64,
                  "class %zu: %u blocks per 16 KiB pool", size, bi.pool_blocks_total);
        om_stats_get(&st);
        CHECK_EQ(st.classes[c].block_size, size);
        CHECK_EQ(st.classes[c].blocks_per_pool, bi.pool_blocks_total);
        /* interior pointers describe the same block */
        om_block_info in = describe((char *)p[c] + size - 1);
        CHECK_PTR_EQ(in.block, p[c]);
        CHECK_PTR_EQ(in.pool, bi.pool);
    }
    for (int c = 0; c < OM_NUM_SMALL_CLASSES; c++)
        om_free(p[c]);
}

static void test_medium_description(void)
{
    om_stats st;
    for (int c = OM_NUM_SMALL_CLASSES; c < OM_NUM_CLASSES; c++) {
        size_t size = tu_class_size_at(c);
        size_t req = size - (size - tu_class_size_at(c - 1)) / 2;
        void *p = om_malloc(req);
        REQUIRE(p != NULL);
        om_block_info bi = describe(p);
        /* up to 1 KiB in 16 KiB pools (at least 16 blocks), above in 256 KiB ones */
        int in16 = size <= TU_POOL16_MAX;
        size_t pool_size = in16 ? TU_POOL_SIZE : TU_MEDIUM_POOL_SIZE;
        CHECK_EQ(bi.kind, in16 ? OM_BLOCK_SMALL : OM_BLOCK_MEDIUM);
        CHECK_EQ(bi.block_size, size);
        CHECK_PTR_EQ(bi.block, p);
        if (in16)
            check_geometry(p, &bi, TU_POOL_SIZE, TU_ARENA_SIZE, 64);
        else
            check_geometry(p, &bi, TU_MEDIUM_POOL_SIZE, TU_MEDIUM_ARENA_SIZE, 16);
        if (in16)
            CHECK_GE(bi.pool_blocks_total, 16);
        CHECK_MSG((size_t)bi.pool_blocks_total * size <= pool_size &&
                      (size_t)(bi.pool_blocks_total + 1) * size > pool_size,
                  "class %zu: %u blocks per %zu KiB pool", size, bi.pool_blocks_total, pool_size / 1024);
        CHECK_GE(bi.size_class, 0);
        CHECK_LT(bi.size_class, OM_NUM_CLASSES);
        om_stats_get(&st);
        if (bi.size_class >= 0 && bi.size_class < OM_NUM_CLASSES) {
            CHECK_EQ(st.classes[bi.size_class].block_size, size);
            CHECK_EQ(st.classes[bi.size_class].blocks_per_pool, bi.pool_blocks_total);
        }
        CHECK_EQ(bi.size_class, c);
        om_block_info in = describe((char *)p + size / 2);
        CHECK_PTR_EQ(in.block, p);
        om_free(p);
    }
}

/* A medium class fills its pool before moving on, like a small one. */
static void test_medium_pool_fills(void)
{
    size_t size = 5000; /* class 5120 */
    void *first = om_malloc(size);
    REQUIRE(first != NULL);
    om_block_info b0 = describe(first);
    unsigned total = b0.pool_blocks_total;
    CHECK_EQ(b0.block_size, 5120);
    void **blk = calloc(total + 1, sizeof *blk);
    REQUIRE(blk != NULL);
    blk[0] = first;
    for (unsigned i = 1; i <= total; i++) {
        blk[i] = om_malloc(size);
        REQUIRE(blk[i] != NULL);
        om_block_info bi = describe(blk[i]);
        if (i < total) {
            CHECK_PTR_EQ(bi.pool, b0.pool);
            CHECK_EQ(bi.pool_state, i + 1 == total ? OM_POOL_FULL : OM_POOL_USED);
        } else {
            CHECK(bi.pool != b0.pool);
        }
    }
    for (unsigned i = 0; i <= total; i++)
        om_free(blk[i]);
    free(blk);
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_large_description(void)
{
    size_t sizes[] = { TU_MEDIUM_MAX + 1, 200000, TU_MIB, 5 * TU_MIB + 3 };
    for (size_t i = 0; i < CHECK_COUNT(sizes); i++) {
        char *p = om_malloc(sizes[i]);
        REQUIRE(p != NULL);
        om_block_info bi = describe(p);
        CHECK_EQ(bi.kind, OM_BLOCK_LARGE);
        CHECK_EQ(bi.size_class, -1);
        CHECK(bi.pool == NULL);
        CHECK_PTR_EQ(bi.block, p);
        CHECK_GE(bi.block_size, sizes[i]);
        CHECK_EQ(bi.block_size, om_usable_size(p));
        CHECK(bi.arena != NULL);
        CHECK_LE((uintptr_t)bi.arena, (uintptr_t)p);
        CHECK_LE((uintptr_t)p + bi.block_size, (uintptr_t)bi.arena + bi.arena_size);
        CHECK_EQ((uintptr_t)bi.arena % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
        om_block_info in = describe(p + sizes[i] - 1);
        CHECK_PTR_EQ(in.block, p);
        om_free(p);
    }
}

static void test_describe_foreign(void)
{
    om_block_info bi;
    _Alignas(16) char stack_buf[32];
    memset(stack_buf, 0, sizeof stack_buf);
    CHECK_EQ(om_block_describe(stack_buf, &bi), ENOENT);
    void *lp = malloc(32);
    REQUIRE(lp != NULL);
    CHECK_EQ(om_block_describe(lp, &bi), ENOENT);
    free(lp);
    CHECK_EQ(om_block_describe(NULL, &bi), ENOENT);
    /* a freed and unmapped large block */
    void *big = om_malloc(64 * TU_MIB);
    REQUIRE(big != NULL);
    om_free(big);
    om_trim(1);
    CHECK_EQ(om_block_describe(big, &bi), ENOENT);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_pool_lifecycle_48),
        CHECK_CASE(test_pool_lifecycle_16),
        CHECK_CASE(test_pool_lifecycle_512),
        CHECK_CASE(test_pool_lifecycle_336),
        CHECK_CASE(test_small_class_geometry),
        CHECK_CASE(test_medium_description),
        CHECK_CASE(test_medium_pool_fills),
        CHECK_CASE(test_large_description),
        CHECK_CASE(test_describe_foreign),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
