/*
 * side.c — where the side tables live (their states and invariant are in
 * side.h): a two-level directory from a 1 MiB slot's number to its table,
 * tables made on first touch, and the end of a collection's use of them.
 *
 *   slot number (address >> 20, 28 bits)
 *     bits 27..14 → dir.root[]   (static: zero pages until used)
 *     bits 13..0  → leaf[]       (128 KiB, from the OS layer on first use)
 *                     → side_table (32 KiB of bytes and a link, carved
 *                       from chunks the OS layer maps, never freed)
 *
 * Only the collector touches the directory, under the runtime lock (or in
 * a single thread), like the rest of the collector's state.
 */
#include <string.h>

#include "gc/side.h"

#define DIR_LEAF_BITS 14
#define DIR_ROOT_BITS (48 - OM_ARENA_SHIFT - DIR_LEAF_BITS) /* 14 */
#define DIR_CHUNK_TABLES 32                                 /* tables per chunk */

static struct {
    side_table **root[(size_t)1 << DIR_ROOT_BITS];
    char *chunk;      /* the rest of the chunk tables are carved from */
    size_t chunk_left;
    uint64_t mapped; /* bytes of leaves and chunks: never given back */
} dir;

static void *os_alloc(size_t size) {
    size_t page = omi_os_page_size();
    size = (size + page - 1) & ~(page - 1);
    void *p = omi_os_reserve(size, page);
    if (p)
        dir.mapped += size;
    return p;
}

uint64_t omi_gc_side_mapped(void) { return dir.mapped; }

static side_table *table_new(void) {
    if (omi_fail_point(OMI_FAIL_SIDE))
        return NULL;
    if (dir.chunk_left < sizeof(side_table)) {
        char *c = os_alloc(DIR_CHUNK_TABLES * sizeof(side_table));
        if (!c)
            return NULL;
        dir.chunk = c;
        dir.chunk_left = DIR_CHUNK_TABLES * sizeof(side_table);
    }
    side_table *t = (side_table *)dir.chunk; /* zero: fresh from the kernel */
    dir.chunk += sizeof(side_table);
    dir.chunk_left -= sizeof(side_table);
    return t;
}

/* The table of slot, made if it has none; NULL when out of memory. */
static side_table *table_of(uintptr_t slot) {
    uintptr_t ri = slot >> DIR_LEAF_BITS, li = slot & (((uintptr_t)1 << DIR_LEAF_BITS) - 1);
    side_table **leaf = dir.root[ri];
    if (om_unlikely(!leaf)) {
        leaf = os_alloc(sizeof(side_table *) << DIR_LEAF_BITS);
        if (!leaf)
            return NULL;
        dir.root[ri] = leaf;
    }
    if (om_unlikely(!leaf[li]))
        leaf[li] = table_new();
    return leaf[li];
}

uint8_t *omi_gc_side_miss(side_way *k, const om_object *o) {
    gc_collection *c = omi_gc.running;
    uintptr_t a = (uintptr_t)o;
    if (a >> 48 || !omi_map_lookup(a))
        return NULL; /* not objmem's memory: a static object, never in a set */
    side_table *t = table_of(a >> OM_ARENA_SHIFT);
    if (om_unlikely(!t))
        return NULL; /* out of memory: the object is kept (side.h) */
    if (!t->on_dirty) {
        t->on_dirty = 1;
        t->dirty_next = c->side_dirty;
        c->side_dirty = t;
        c->side_bytes += sizeof t->bytes;
    }
    k->key = a >> OM_ARENA_SHIFT;
    k->bias = (uintptr_t)t->bytes - ((a >> OM_ARENA_SHIFT) << (OM_ARENA_SHIFT - SIDE_SHIFT));
    return (uint8_t *)(k->bias + (a >> SIDE_SHIFT));
}

void omi_gc_side_done(gc_collection *c, int zero) {
    for (side_table *t = c->side_dirty; t; t = t->dirty_next) {
        if (zero)
            memset(t->bytes, 0, sizeof t->bytes);
        t->on_dirty = 0;
    }
    c->side_dirty = NULL;
    c->side_bytes = 0;
}
