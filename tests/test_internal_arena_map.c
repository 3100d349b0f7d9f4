/*
 * test_internal_arena_map.c — the ownership map (arena_map.c): set, look
 * up and clear slots; foreign addresses, including ones above 48 bits,
 * are never ours.
 */
#include "check.h"
#include <errno.h>

#include "alloc/alloc.h"

/* A fake descriptor: only its address (64-byte aligned) matters. */
static _Alignas(64) char desc[2][64];

static void test_set_lookup_clear(void) {
    uintptr_t start = (uintptr_t)0x5a5a00000000ull; /* 1 MiB aligned */
    uintptr_t v = (uintptr_t)desc[0] | OM_MAP_MEDIUM;
    pthread_mutex_lock(&omi_rt.lock);
    CHECK_EQ(omi_map_set(start, 4 * OM_ARENA_SIZE, v), 0);
    pthread_mutex_unlock(&omi_rt.lock);
    for (uintptr_t a = start; a < start + 4 * OM_ARENA_SIZE; a += 4096)
        if (!check_record(omi_map_lookup(a) == v, __FILE__, __LINE__, "every address of the range maps"))
            break;
    CHECK_EQ(omi_map_lookup(start - 1), 0);
    CHECK_EQ(omi_map_lookup(start + 4 * OM_ARENA_SIZE), 0);
    pthread_mutex_lock(&omi_rt.lock);
    omi_map_clear(start, 4 * OM_ARENA_SIZE);
    pthread_mutex_unlock(&omi_rt.lock);
    CHECK_EQ(omi_map_lookup(start), 0);
    CHECK_EQ(omi_map_lookup(start + 3 * OM_ARENA_SIZE + 5), 0);
}

/* A range whose last slot is partial still owns that slot; neighbours
 * across a leaf boundary (16 GiB) are independent. */
static void test_partial_and_leaf_boundary(void) {
    uintptr_t leaf_span = (uintptr_t)1 << (OM_ARENA_SHIFT + OM_MAP_LEAF_BITS);
    uintptr_t start = 0x300000000000ull + leaf_span - OM_ARENA_SIZE; /* last slot of a leaf */
    uintptr_t v = (uintptr_t)desc[1] | OM_MAP_LARGE;
    pthread_mutex_lock(&omi_rt.lock);
    CHECK_EQ(omi_map_set(start, OM_ARENA_SIZE + 4096, v), 0); /* spills into the next leaf */
    pthread_mutex_unlock(&omi_rt.lock);
    CHECK_EQ(omi_map_lookup(start), v);
    CHECK_EQ(omi_map_lookup(start + OM_ARENA_SIZE), v);
    CHECK_EQ(omi_map_lookup(start + 2 * OM_ARENA_SIZE), 0);
    pthread_mutex_lock(&omi_rt.lock);
    omi_map_clear(start, OM_ARENA_SIZE + 4096);
    pthread_mutex_unlock(&omi_rt.lock);
    CHECK_EQ(omi_map_lookup(start + OM_ARENA_SIZE), 0);
}

static void test_foreign_addresses(void) {
    int local;
    CHECK_EQ(omi_map_lookup(0), 0);
    CHECK_EQ(omi_map_lookup((uintptr_t)&local), 0);
    CHECK_EQ(omi_map_lookup((uintptr_t)1 << 48), 0);
    CHECK_EQ(omi_map_lookup(~(uintptr_t)0), 0);
    CHECK_EQ(omi_map_set(((uintptr_t)1 << 48) - OM_ARENA_SIZE, 2 * OM_ARENA_SIZE, 1), EINVAL);
}

/* Real arenas register themselves; the tags say which geometry. */
static void test_real_blocks_are_tagged(void) {
    void *s = om_malloc(64), *m = om_malloc(4000), *l = om_malloc(1 << 20);
    REQUIRE(s && m && l);
    CHECK_EQ(omi_map_lookup((uintptr_t)s) & OM_MAP_TAG, OM_MAP_SMALL);
    CHECK_EQ(omi_map_lookup((uintptr_t)m) & OM_MAP_TAG, OM_MAP_MEDIUM);
    CHECK_EQ(omi_map_lookup((uintptr_t)l) & OM_MAP_TAG, OM_MAP_LARGE);
    om_free(s);
    om_free(m);
    om_free(l);
    om_trim(1);
    CHECK_EQ(omi_map_lookup((uintptr_t)l), 0);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        CHECK_CASE(test_set_lookup_clear),
        CHECK_CASE(test_partial_and_leaf_boundary),
        CHECK_CASE(test_foreign_addresses),
        CHECK_CASE(test_real_blocks_are_tagged),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
