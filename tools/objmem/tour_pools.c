/*
 * tour_pools.c — tour chapters on blocks and pools.
 *
 *   size classes   one request of each interesting size, and where it landed
 *   pool's life    one pool of 256-byte blocks filled, then emptied:
 *
 *                   alloc            alloc (last)         free one
 *          empty ---------> used ---------------> full ----------> used
 *            ^                                                      |
 *            +------------------- free the last block -------------+
 *
 * Both read the layout through om_block_describe only.
 */
#include "tour.h"

#include <stdint.h>
#include <stdio.h>

enum { LIFE_SIZE = 256, LIFE_MAX = 4096 };

/* ------------------------------------------------------------ size classes */

static out_val opt_int(int v)
{
    return v < 0 ? OV_NA : OV_I(v);
}

static void size_class_row(out *o, size_t request, const om_block_info *bi)
{
    out_val row[] = {
        OV_U(request),
        opt_int(bi->size_class),
        OV_U(bi->block_size),
        OV_U(bi->block_size - request),
        OV_S(tour_kind_name(bi->kind)),
        OV_P(bi->pool),
        bi->pool ? OV_I(bi->pool_index) : OV_NA,
        OV_P(bi->arena),
        OV_B(bi->arena_size),
    };
    out_row(o, row);
}

/* True if the pool and arena of a small block are its address rounded down. */
static int found_by_masking(const om_block_info *bi)
{
    uintptr_t p = (uintptr_t)bi->block;
    size_t pool = tour_pool_size(bi);

    return pool != 0 && (p & ~(uintptr_t)(pool - 1)) == (uintptr_t)bi->pool &&
           (p & ~(uintptr_t)(bi->arena_size - 1)) == (uintptr_t)bi->arena;
}

void tour_size_classes(out *o)
{
    static const size_t sizes[] = {1, 16, 17, 100, 512, 513, 1025, 4000, 100000, 1u << 20};
    static const out_col cols[] = {
        {"request", "request", 7, 0},  {"class", "class", 5, 0}, {"block_size", "block", 7, 0},
        {"slack", "slack", 5, 0},      {"kind", "kind", 6, 0},   {"pool", "pool", 14, 0},
        {"pool_slot", "slot", 4, 0},   {"arena", "arena", 14, 0},
        {"arena_size", "arena size", 0, OUT_JSON_ONLY},
    };
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *blocks[N];
    om_block_info bi, small;
    int masking = 1;

    tour_reset_heap();
    out_section_begin(o, "size_classes", "Size classes: where each request goes");
    out_para(o, "Every request is rounded up to a size class: 1..512 bytes to one of 32 "
                "classes 16 bytes apart, class = (n - 1) >> 4; 513 bytes..128 KiB to one of "
                "32 classes, four per power of two. Classes of up to 1 KiB are small: served "
                "from 16 KiB pools inside 1 MiB arenas, as in CPython's pymalloc. The larger "
                "ones are medium: 256 KiB pools inside 4 MiB arenas. Anything larger is "
                "large: it gets a mapping of its own.");
    out_para(o, "We allocate one block of each size below and ask om_block_describe() "
                "where it lives. 'slot' is the pool's index inside its arena; 'slack' is "
                "what rounding up costs. A large block's 'arena' is its own mapping.");
    out_table_begin(o, "blocks", cols, (int)(sizeof cols / sizeof cols[0]));
    for (int i = 0; i < N; i++) {
        blocks[i] = tour_alloc(sizes[i]);
        tour_describe(blocks[i], &bi);
        size_class_row(o, sizes[i], &bi);
        if (bi.kind == OM_BLOCK_SMALL) {
            masking = masking && found_by_masking(&bi);
            small = bi;
        }
    }
    out_table_end(o);
    out_fact(o, "pool_found_by_masking", NULL, OV_YN(masking));
    if (masking)
        out_para(o, "1 and 16 share class 0; 17 needs class 1. Pools and arenas are aligned "
                    "to their size, so the pool of any small block is its address with the "
                    "low %d bits cleared, and its arena with the low %d cleared (compare "
                    "the columns). That is how om_free() needs no size: the address finds "
                    "the arena's record, and the record holds every pool's header.",
                 __builtin_ctzll(tour_pool_size(&small)), __builtin_ctzll(small.arena_size));
    tour_heapmap_point();
    for (int i = 0; i < N; i++)
        om_free(blocks[i]);
    out_section_end(o);
}

/* ------------------------------------------------------------ a pool's life */

enum { MAX_SLOTS = 256 };

typedef struct pool_watch {
    out *o;
    void *pool;
    unsigned total;
    int step;
    int have_state;
    int retained;                       /* used, yet no block in use */
    om_pool_state state;
    unsigned char was_empty[MAX_SLOTS]; /* arena slots empty before we began */
} pool_watch;

/* Full means "no free block".  The allocator notices a pool is full only at
 * the next allocation of its class, and om_block_describe reports what it
 * has noticed; the counts say it exactly, so the tour goes by them. */
static om_pool_state pool_state(const om_block_info *bi)
{
    if (bi->pool_blocks_total > 0 && bi->pool_blocks_used == bi->pool_blocks_total)
        return OM_POOL_FULL;
    return bi->pool_state;
}

static void pool_row(pool_watch *w, const char *event, om_pool_state state, unsigned used,
                     unsigned total)
{
    w->have_state = 1;
    w->state = state;
    out_val row[] = {OV_I(w->step++), OV_S(event), OV_S(tour_state_name(state)), OV_U(used),
                     total ? OV_U(total) : OV_NA};
    out_row(w->o, row);
}

/* Print a row if the pool's state changed since the last event.  `probe`
 * is any block of the pool (it may be free once the pool is empty). */
static void pool_event(pool_watch *w, const void *probe, const char *event, int always)
{
    om_block_info bi;
    om_pool_state state;

    if (om_block_describe(probe, &bi) != 0 || bi.pool != w->pool) {
        out_val row[] = {OV_I(w->step++), OV_S(event), OV_S("(not described)"), OV_NA, OV_NA};
        out_row(w->o, row);
        return;
    }
    state = pool_state(&bi);
    if (bi.pool_blocks_total > 0)
        w->total = bi.pool_blocks_total;
    if (always || !w->have_state || state != w->state)
        pool_row(w, event, state, bi.pool_blocks_used, bi.pool_blocks_total);
    w->retained = state == OM_POOL_USED && bi.pool_blocks_used == 0;
}

/* Before the first allocation: which pools of the pin's arena are empty?
 * Each slot is described through an address in its middle. */
static void snapshot_empty(const void *pin, unsigned char *was_empty, int slots)
{
    om_block_info bi, at;
    size_t pool;

    tour_describe(pin, &bi);
    pool = tour_pool_size(&bi);
    for (int i = 0; i < slots; i++) {
        const char *mid = (const char *)bi.arena + (size_t)i * pool + pool / 2;
        was_empty[i] = i < (int)bi.arena_pools_total && om_block_describe(mid, &at) == 0 &&
                       at.pool_state == OM_POOL_EMPTY;
    }
}

/* Allocate LIFE_SIZE blocks until the first block's pool is full. */
static size_t fill_one_pool(pool_watch *w, void **blocks)
{
    om_block_info bi;
    char event[64];
    size_t n = 0;

    do {
        void *p = tour_alloc(LIFE_SIZE);
        tour_describe(p, &bi);
        if (n > 0 && bi.pool != w->pool) { /* the pool filled up behind our back */
            om_free(p);
            break;
        }
        blocks[n++] = p;
        if (n == 1) {
            w->pool = bi.pool;
            if (bi.pool_index >= 0 && bi.pool_index < MAX_SLOTS && w->was_empty[bi.pool_index])
                pool_row(w, "(before we start)", OM_POOL_EMPTY, 0, 0);
        }
        snprintf(event, sizeof event, "allocate block %zu", n);
        pool_event(w, p, event, 0);
    } while (pool_state(&bi) != OM_POOL_FULL && n < LIFE_MAX);
    return n;
}

/* Free every block; returns 1 if the pool was kept (used, 0 blocks) by the
 * last free and went back to the arena only at om_trim(). */
static int empty_the_pool(pool_watch *w, void **blocks, size_t n)
{
    char event[64];
    int retained;

    for (size_t i = 0; i < n; i++) {
        om_free(blocks[i]);
        if (i + 1 < n)
            snprintf(event, sizeof event, "free block %zu", i + 1);
        else
            snprintf(event, sizeof event, "free block %zu (the last)", i + 1);
        pool_event(w, blocks[i], event, i + 1 == n);
    }
    retained = w->retained;
    om_trim(0);
    pool_event(w, blocks[0], "om_trim(0)", 0);
    return retained;
}

void tour_pool_life(out *o)
{
    static const out_col cols[] = {
        {"step", "step", 4, 0}, {"event", "event", 28, 0}, {"state", "state", 5, 0},
        {"used", "used", 4, 0}, {"total", "of", 3, 0},
    };
    void *blocks[LIFE_MAX];
    pool_watch w = {.o = o, .step = 0};
    om_block_info bi;
    void *pin, *again, *freed;
    size_t n;
    int retained;

    tour_reset_heap();
    out_section_begin(o, "pool_life", "A pool's life: empty, used, full");
    out_para(o, "A pool holds blocks of one size class. It is always in one of three "
                "states. Used: some blocks free; it is on its class's list of used pools, "
                "where the next request of that class looks first. Full: no free block; on "
                "no list at all. Empty: nothing in use; back on its arena's list of free "
                "pools, ready to be given to any class.");
    out_para(o, "We allocate %d-byte blocks until their pool is full, then free them, "
                "printing a line each time the pool changes state. (A 16-byte block "
                "allocated first keeps the arena alive, so the empty pool can still be "
                "looked at.)", LIFE_SIZE);
    pin = tour_alloc(16);
    snapshot_empty(pin, w.was_empty, MAX_SLOTS);
    out_table_begin(o, "events", cols, (int)(sizeof cols / sizeof cols[0]));
    n = fill_one_pool(&w, blocks);
    freed = blocks[n / 2];
    om_free(freed);
    pool_event(&w, blocks[0], "free one block in the middle", 0);
    again = tour_alloc(LIFE_SIZE);
    blocks[n / 2] = again;
    pool_event(&w, again, "allocate one more", 0);
    retained = empty_the_pool(&w, blocks, n);
    out_table_end(o);

    tour_describe(pin, &bi);
    out_fact(o, "pool", "pool address", OV_P(w.pool));
    out_fact(o, "block_size", "block size", OV_U(LIFE_SIZE));
    out_fact(o, "blocks_per_pool", "blocks per pool", OV_U(w.total));
    out_fact(o, "freed_block_reused", "next alloc got the freed block", OV_YN(again == freed));
    out_para(o, "%u blocks of %d bytes fill a %zu-byte pool: its header lives in the arena's "
                "record (unlike pymalloc, which puts it at the start of the pool).", w.total,
             LIFE_SIZE, tour_pool_size(&bi));
    if (again == freed)
        out_para(o, "A freed block goes to the front of its pool's free list, so the next "
                    "request of the same class gets exactly that block back, still warm "
                    "in the cache.");
    if (retained)
        out_para(o, "After the last free the pool is still 'used', with 0 blocks: objmem "
                    "(unlike pymalloc) keeps the only pool of a class on its list, so a "
                    "loop that allocates and frees a few blocks does not give the pool back "
                    "and take it again each time. The next purge returns it to the arena; "
                    "om_trim() purges now.");
    tour_heapmap_point();
    om_free(pin);
    out_section_end(o);
}
