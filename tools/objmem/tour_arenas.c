/*
 * tour_arenas.c — tour chapters on arenas and the OS.
 *
 *   arena order     four arenas made differently full, listed fullest first
 *   arena release   64 MiB allocated and freed: arenas go back to the kernel
 *   pool purge      one live block per arena: its empty pools are purged
 *   large blocks    a request above the medium classes: its own mapping
 *
 * Counters that only grow (munmap calls, arenas returned) are shown as the
 * change since the chapter began.  The big chapters thread a list through
 * the blocks themselves, so the tool's own memory does not blur the RSS.
 */
#include "tour.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ORDER_ARENAS = 4,
    ORDER_SIZE = 512,   /* big small blocks: few per pool, quick to fill */
    ORDER_PROBE = 48,   /* a class no pool serves yet */
    MAX_ARENAS = 16,
    BAR_WIDTH = 32,
    RELEASE_MIB = 64,
    LIST_SIZE = 256,    /* block size of the list-threaded chapters */
    PURGE_ARENAS = 8,
    LARGE_SIZE = 1 << 20,
};

static const unsigned order_free_pools[ORDER_ARENAS] = {40, 6, 22, 12};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        fprintf(stderr, "objmem tour: out of memory\n");
        exit(CLI_FAIL);
    }
    return p;
}

/* ------------------------------------------------------------ arena order */

typedef struct arena_seen {
    void *base[MAX_ARENAS];
    int first_pool[MAX_ARENAS];
    int count;
} arena_seen;

/* Ordinal of the arena (in the order first seen), adding it if new. */
static int arena_ordinal(arena_seen *s, const om_block_info *bi)
{
    for (int i = 0; i < s->count; i++) {
        if (s->base[i] == bi->arena) {
            if (bi->pool_index < s->first_pool[i])
                s->first_pool[i] = bi->pool_index;
            return i;
        }
    }
    if (s->count == MAX_ARENAS)
        return MAX_ARENAS - 1;
    s->base[s->count] = bi->arena;
    s->first_pool[s->count] = bi->pool_index;
    return s->count++;
}

static int arena_label(const arena_seen *s, const void *base)
{
    for (int i = 0; i < s->count; i++)
        if (s->base[i] == base)
            return i + 1;
    return 0;
}

/* Free every block in the lowest order_free_pools[k] pools of arena k. */
static void thin_arenas(void **blocks, size_t n, arena_seen *s)
{
    om_block_info bi;

    for (size_t i = 0; i < n; i++) {
        int k;
        tour_describe(blocks[i], &bi);
        k = arena_ordinal(s, &bi);
        if (k < ORDER_ARENAS && bi.pool_index - s->first_pool[k] < (int)order_free_pools[k]) {
            om_free(blocks[i]);
            blocks[i] = NULL;
        }
    }
}

static void occupancy_bar(char *bar, unsigned used, unsigned total)
{
    unsigned full = total ? (used * BAR_WIDTH + total / 2) / total : 0;

    for (unsigned i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < full ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
}

/* Print om_heap_arenas(); returns 1 if it is sorted by ascending free pools. */
static int print_arena_list(out *o, const arena_seen *s)
{
    static const out_col cols[] = {
        {"position", "list", 4, 0}, {"arena", "arena", 14, 0},  {"filled_as", "filled", 6, 0},
        {"pools", "pools", 5, 0},   {"free_pools", "free", 4, 0}, {"used", "used pools", BAR_WIDTH, OUT_TEXT_ONLY},
    };
    om_arena_info list[MAX_ARENAS];
    size_t n = om_heap_arenas(list, MAX_ARENAS);
    int sorted = 1;
    char label[16], bar[BAR_WIDTH + 1];

    if (n > MAX_ARENAS)
        n = MAX_ARENAS;
    out_table_begin(o, "usable_arenas", cols, (int)(sizeof cols / sizeof cols[0]));
    for (size_t i = 0; i < n; i++) {
        int which = arena_label(s, list[i].base);
        snprintf(label, sizeof label, which ? "#%d" : "-", which);
        occupancy_bar(bar, list[i].pools_total - list[i].pools_free, list[i].pools_total);
        out_val row[] = {OV_U(i + 1), OV_P(list[i].base), OV_S(label), OV_U(list[i].pools_total),
                         OV_U(list[i].pools_free), OV_S(bar)};
        out_row(o, row);
        if (i > 0 && list[i].medium == list[i - 1].medium && list[i].pools_free < list[i - 1].pools_free)
            sorted = 0;
    }
    out_table_end(o);
    return sorted;
}

/* Which arena serves a request that needs a brand-new pool? */
static void probe_new_pool(out *o, const arena_seen *s)
{
    om_arena_info head;
    om_block_info bi;
    void *p;
    char label[16];

    if (om_heap_arenas(&head, 1) == 0)
        return;
    p = tour_alloc(ORDER_PROBE);
    tour_describe(p, &bi);
    snprintf(label, sizeof label, "#%d", arena_label(s, bi.arena));
    out_fact(o, "new_pool_arena", "a new pool was taken from arena", OV_S(label));
    out_fact(o, "new_pool_from_head", "that is the head of the list", OV_YN(bi.arena == head.base));
    om_free(p);
}

void tour_arena_order(out *o)
{
    arena_seen seen = {.count = 0};
    om_block_info bi;
    void **blocks, *first;
    size_t n;
    int sorted;

    tour_reset_heap();
    out_section_begin(o, "arena_order", "Arenas are used fullest first");
    out_para(o, "We fill %d arenas with %d-byte blocks (#1 to #%d, in the order they "
                "were filled), then free whole pools: %u in #1, %u in #2, %u in #3, %u in "
                "#4. Then we print the list of arenas that have free pools, "
                "om_heap_arenas(), in the order the allocator uses them.",
             ORDER_ARENAS, ORDER_SIZE, ORDER_ARENAS, order_free_pools[0], order_free_pools[1],
             order_free_pools[2], order_free_pools[3]);
    first = tour_alloc(ORDER_SIZE);
    tour_describe(first, &bi);
    arena_ordinal(&seen, &bi);
    n = (size_t)ORDER_ARENAS * bi.arena_pools_total * bi.pool_blocks_total;
    blocks = xcalloc(n, sizeof *blocks);
    blocks[0] = first;
    for (size_t i = 1; i < n; i++) {
        blocks[i] = tour_alloc(ORDER_SIZE);
        tour_describe(blocks[i], &bi);
        arena_ordinal(&seen, &bi);
    }
    thin_arenas(blocks, n, &seen);
    sorted = print_arena_list(o, &seen);
    out_fact(o, "fullest_first", "ordered by free pools, fewest first", OV_YN(sorted));
    probe_new_pool(o, &seen);
    out_para(o, "Arenas with free pools sit on one list kept sorted by their number of "
                "free pools, fewest first. A request that needs a new pool takes it from "
                "the head: the fullest arena. Arenas near the tail get no new pools, so as "
                "their blocks are freed they drain to empty, and an empty arena can go back "
                "to the kernel (next chapter). Taking pools from the emptiest arena would "
                "instead spread live blocks over every arena and keep them all. CPython "
                "keeps this order in O(1) per change with its nfp2lasta[] array.");
    tour_heapmap_point();
    for (size_t i = 0; i < n; i++)
        om_free(blocks[i]);
    free(blocks);
    out_section_end(o);
}

/* ------------------------------------------------------------ block lists */

typedef struct block_list {
    void *head;
    size_t count;
} block_list;

/* Allocate a LIST_SIZE block, touch all of it (as a program would) and
 * push it on the list threaded through the blocks. */
static void *list_push_new(block_list *l)
{
    void *p = tour_alloc(LIST_SIZE);

    memset(p, 0xab, LIST_SIZE);
    *(void **)p = l->head;
    l->head = p;
    l->count++;
    return p;
}

static void list_free(block_list *l)
{
    while (l->head) {
        void *next = *(void **)l->head;
        om_free(l->head);
        l->head = next;
    }
    l->count = 0;
}

/* One moment of a chapter: RSS and the counters. */
typedef struct moment {
    int64_t rss;
    om_stats st;
} moment;

static void moment_take(moment *m)
{
    om_stats_get(&m->st);
    m->rss = tour_rss_bytes();
}

static out_val rss_val(const moment *m)
{
    return m->rss < 0 ? OV_NA : OV_B(m->rss);
}

static void rss_drop(char *buf, size_t cap, const moment *from, const moment *to)
{
    if (from->rss < 0 || to->rss < 0)
        snprintf(buf, cap, "an unknown amount (no /proc/self/statm)");
    else if (to->rss <= from->rss)
        out_format_bytes(buf, cap, (uint64_t)(from->rss - to->rss));
    else
        snprintf(buf, cap, "nothing");
}

/* ------------------------------------------------------------ arena release */

static void release_row(out *o, const char *what, moment *m, const moment *base)
{
    moment_take(m);
    out_val row[] = {
        OV_S(what), rss_val(m), OV_U(m->st.arenas_current),
        OV_U(m->st.arenas_reclaimed - base->st.arenas_reclaimed),
        OV_U(m->st.os_release_calls - base->st.os_release_calls), OV_B(m->st.os_bytes_reserved),
    };
    out_row(o, row);
}

static void release_explain(out *o, const moment *base, const moment *full, const moment *freed,
                            const moment *end)
{
    char drop[64];
    uint64_t returned = end->st.arenas_reclaimed - base->st.arenas_reclaimed;

    rss_drop(drop, sizeof drop, full, end);
    out_para(o, "The blocks took %" PRIu64 " arenas. Freeing them all left every pool "
                "empty, and an arena whose pools are all empty is unmapped%s: %" PRIu64
                " arenas went back to the kernel and RSS fell by %s. Memory goes back only "
                "as whole arenas, which is why the order of the previous chapter matters.",
             full->st.arenas_current - base->st.arenas_current,
             freed->st.arenas_reclaimed > base->st.arenas_reclaimed
                 ? " by the om_free() that empties its last pool" : " by om_trim()",
             returned, drop);
    if (freed->st.arenas_reclaimed == base->st.arenas_reclaimed)
        out_para(o, "Unlike pymalloc, objmem does not unmap an arena the moment it empties: "
                    "it waits for the next purge tick, OBJMEM_PURGE_DELAY_MS (default 10) "
                    "after the arena's last pool emptied, at a later allocator call. A program "
                    "that frees and rebuilds a structure in a loop reuses the same arenas "
                    "instead of paying an munmap, an mmap and a page fault per 4 KiB each "
                    "round. om_trim() runs the tick at once, as here.");
    if (end->st.arenas_current > 0)
        out_para(o, "%" PRIu64 " arena%s stayed mapped as a spare, so a program that frees "
                    "everything and starts again does not pay for an munmap and an mmap "
                    "at once. om_trim(1) releases spares too.",
                 end->st.arenas_current, end->st.arenas_current == 1 ? "" : "s");
}

void tour_arena_release(out *o)
{
    static const out_col cols[] = {
        {"moment", "moment", 26, 0}, {"rss", "RSS", 9, 0},          {"arenas_current", "arenas", 6, 0},
        {"arenas_returned", "returned", 8, 0}, {"munmap_calls", "munmap", 6, 0},
        {"os_bytes_mapped", "mapped", 9, 0},
    };
    block_list l = {NULL, 0};
    moment base, full, freed, end;
    const size_t total = (size_t)RELEASE_MIB << 20;

    tour_reset_heap();
    out_section_begin(o, "arena_release", "Arenas go back to the kernel");
    out_para(o, "We allocate %d MiB of %d-byte blocks (%zu blocks, each written to), free "
                "them all, then call om_trim(0). RSS is this process's resident memory "
                "(/proc/self/statm); 'mapped' is all the memory objmem holds from the "
                "kernel, its own bookkeeping included; 'returned' and 'munmap' count from "
                "the first line.",
             RELEASE_MIB, LIST_SIZE, total / LIST_SIZE);
    out_table_begin(o, "moments", cols, (int)(sizeof cols / sizeof cols[0]));
    release_row(o, "before", &base, &base);
    while (l.count * LIST_SIZE < total)
        list_push_new(&l);
    release_row(o, "after allocating", &full, &base);
    tour_heapmap_point();
    list_free(&l);
    release_row(o, "after freeing every block", &freed, &base);
    tour_heapmap_point();
    om_trim(0);
    release_row(o, "after om_trim(0)", &end, &base);
    out_table_end(o);
    release_explain(o, &base, &full, &freed, &end);
    out_section_end(o);
}

/* ------------------------------------------------------------ pool purge */

static void purge_row(out *o, const char *what, size_t live, moment *m, const moment *base)
{
    moment_take(m);
    out_val row[] = {
        OV_S(what), rss_val(m), OV_U(live), OV_U(m->st.pools_empty), OV_U(m->st.pools_purged),
        OV_U(m->st.os_purge_calls - base->st.os_purge_calls),
    };
    out_row(o, row);
}

/* Fill PURGE_ARENAS arenas; keep the first block of each arena as its pin,
 * on `pins`, and every other block on `rest`. */
static void fill_and_pin(block_list *pins, block_list *rest)
{
    arena_seen seen = {.count = 0};
    om_block_info bi;
    size_t n = 1;

    for (size_t i = 0; i < n; i++) {
        void *p = list_push_new(rest);
        tour_describe(p, &bi);
        if (i == 0)
            n = (size_t)PURGE_ARENAS * bi.arena_pools_total * bi.pool_blocks_total;
        if (arena_label(&seen, bi.arena) == 0) {
            arena_ordinal(&seen, &bi);
            rest->head = *(void **)p; /* move p from rest to pins */
            rest->count--;
            *(void **)p = pins->head;
            pins->head = p;
            pins->count++;
        }
    }
}

static void print_pinned_arenas(out *o)
{
    static const out_col cols[] = {
        {"arena", "arena", 14, 0}, {"pools", "pools", 5, 0}, {"free_pools", "empty", 5, 0},
        {"purged_pools", "purged", 6, 0},
    };
    om_arena_info list[MAX_ARENAS];
    size_t n = om_heap_arenas(list, MAX_ARENAS);

    out_table_begin(o, "arenas", cols, (int)(sizeof cols / sizeof cols[0]));
    for (size_t i = 0; i < n && i < MAX_ARENAS; i++) {
        out_val row[] = {OV_P(list[i].base), OV_U(list[i].pools_total), OV_U(list[i].pools_free),
                         OV_U(list[i].pools_purged)};
        out_row(o, row);
    }
    out_table_end(o);
}

void tour_pool_purge(out *o)
{
    static const out_col cols[] = {
        {"moment", "moment", 26, 0}, {"rss", "RSS", 9, 0}, {"live_blocks", "live", 6, 0},
        {"pools_empty", "empty pools", 11, 0}, {"pools_purged", "purged", 6, 0},
        {"madvise_calls", "madvise", 7, 0},
    };
    block_list pins = {NULL, 0}, rest = {NULL, 0};
    moment base, full, thinned, end;
    long delay = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    char drop[64], what[48];

    tour_reset_heap();
    om_option_set(OM_OPTION_PURGE_DELAY_MS, 3600L * 1000);
    out_section_begin(o, "pool_purge", "One live block no longer pins an arena");
    out_para(o, "CPython's best-known memory complaint: one live object keeps its whole "
                "arena resident, because pymalloc returns memory only as whole arenas. "
                "objmem also purges the empty pools of an arena it cannot release: their "
                "pages go back with madvise() while the addresses stay reserved for reuse.");
    out_para(o, "We fill %d arenas with %d-byte blocks, then free all but the first block "
                "of each arena. Purging normally happens OBJMEM_PURGE_DELAY_MS (default 10) "
                "milliseconds after a pool empties; here the delay is set to an hour and "
                "om_trim(0) purges at once.", PURGE_ARENAS, LIST_SIZE);
    out_table_begin(o, "moments", cols, (int)(sizeof cols / sizeof cols[0]));
    moment_take(&base);
    fill_and_pin(&pins, &rest);
    purge_row(o, "after filling", pins.count + rest.count, &full, &base);
    tour_heapmap_point();
    list_free(&rest);
    snprintf(what, sizeof what, "after freeing all but %zu", pins.count);
    purge_row(o, what, pins.count, &thinned, &base);
    tour_heapmap_point();
    om_trim(0);
    purge_row(o, "after om_trim(0)", pins.count, &end, &base);
    tour_heapmap_point();
    out_table_end(o);
    print_pinned_arenas(o);
    rss_drop(drop, sizeof drop, &thinned, &end);
    out_para(o, "%zu live blocks of %d bytes were keeping %zu arenas resident. After the "
                "purge they keep only their own pools: RSS fell by %s.",
             pins.count, LIST_SIZE, pins.count, drop);
    list_free(&pins);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, delay);
    out_section_end(o);
}

/* ------------------------------------------------------------ large blocks */

static void large_row(out *o, const char *what, moment *m, const moment *base)
{
    moment_take(m);
    out_val row[] = {
        OV_S(what), OV_U(m->st.os_reserve_calls - base->st.os_reserve_calls),
        OV_U(m->st.os_release_calls - base->st.os_release_calls), OV_U(m->st.large_count),
        OV_B(m->st.large_bytes), OV_U(m->st.large_cached),
    };
    out_row(o, row);
}

/* Returns the bytes between the mapping's start and the block. */
static size_t large_facts(out *o, const void *p)
{
    om_block_info bi;
    size_t header;

    tour_describe(p, &bi);
    header = (size_t)((uintptr_t)p - (uintptr_t)bi.arena);
    out_object_begin(o, "block");
    out_fact(o, "kind", "kind", OV_S(tour_kind_name(bi.kind)));
    out_fact(o, "block", "block address", OV_P(p));
    out_fact(o, "mapping", "its mapping", OV_P(bi.arena));
    out_fact(o, "mapping_size", "mapping size", OV_B(bi.arena_size));
    out_fact(o, "header_bytes", "bytes before the block", OV_B(header));
    out_fact(o, "usable_size", "om_usable_size()", OV_B(om_usable_size(p)));
    out_object_end(o);
    return header;
}

static void large_explain(out *o, size_t header, const moment *cached, const moment *again)
{
    if (header == 0)
        out_para(o, "The block is the start of its mapping: its record lives in objmem's "
                    "metadata, not in a header in front, so a large block is page-aligned.");
    if (again->st.os_reserve_calls == cached->st.os_reserve_calls)
        out_para(o, "om_free() kept the mapping in the cache, and the second om_malloc() "
                    "took it from there without calling mmap.");
    out_para(o, "Finally om_free() and om_trim(0): the cache is emptied and the mapping "
                "goes back to the kernel with munmap.");
}

void tour_large(out *o)
{
    static const out_col cols[] = {
        {"step", "step", 26, 0},          {"mmap_calls", "mmap", 4, 0},
        {"munmap_calls", "munmap", 6, 0}, {"large_blocks", "large blocks", 12, 0},
        {"large_bytes", "mapped", 9, 0},  {"cached_mappings", "cached", 6, 0},
    };
    enum { NCOLS = sizeof cols / sizeof cols[0] };
    moment base, m, cached, again;
    size_t header;
    void *p;

    tour_reset_heap();
    out_section_begin(o, "large", "Large requests take another path");
    out_para(o, "Requests above the largest medium class (128 KiB) use no arena and no "
                "pool: each gets a mapping of its own from the kernel. A freed mapping "
                "waits in a cache, its pages still resident, so that a loop allocating and "
                "freeing a big buffer neither calls the kernel nor faults its pages every "
                "time; pages not reused within OBJMEM_LARGE_DECAY_MS (default 1000) go "
                "back. 'mmap' and 'munmap' count from the first line.");
    moment_take(&base);
    out_table_begin(o, "steps", cols, NCOLS);
    large_row(o, "before", &m, &base);
    p = tour_alloc(LARGE_SIZE);
    large_row(o, "om_malloc(1 MiB)", &m, &base);
    tour_heapmap_point();
    om_free(p);
    large_row(o, "om_free()", &cached, &base);
    p = tour_alloc(LARGE_SIZE);
    large_row(o, "om_malloc(1 MiB) again", &again, &base);
    om_free(p);
    om_trim(0);
    large_row(o, "om_free(), om_trim(0)", &m, &base);
    out_table_end(o);
    p = tour_alloc(LARGE_SIZE);
    header = large_facts(o, p);
    om_free(p);
    large_explain(o, header, &cached, &again);
    out_section_end(o);
}
