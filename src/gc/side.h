/*
 * side.h — the cycle collector's side table, a byte per object outside
 * the object (alloc/types.h: om_arena.gc_side, om_large.gc_side), and the cache
 * through which the passes find it.
 *
 * The two passes that follow references (omi_gc_count_refs, omi_gc_move_unreachable)
 * keep their per-object state in a byte outside the object (om_arena's
 * gc_side, om_large's), so that following a reference reads and writes a
 * byte in a small dense table (1/32 of the heap) instead of the
 * referent's own cache line, which on a large heap is a miss per
 * reference.  Every object in objmem's memory has a byte (alloc/types.h: any two
 * objects are at least a granule apart); a static object has none.
 *
 *   0 .. SIDE_CMAX      omi_gc_count_refs: references to the object from the set
 *                       (the rest in the header: overflow_ref,
 *                       scan.c)
 *   SIDE_REACHED        omi_gc_move_unreachable: referred to by a kept object;
 *                       it will be kept when the scan reaches it
 *   SIDE_KEPT           scanned and kept
 *   SIDE_UNREACHABLE    scanned at gc_refs 0: on the tentative list
 *
 * Bytes of objects outside the set are counted and marked too (nothing
 * reads them: the passes cannot tell them apart without reading their
 * headers, the very miss the table avoids).  So every byte a collection
 * touched is zeroed before it ends: by omi_gc_side_clean as soon as
 * omi_gc_move_unreachable's lists are split, before any finalizer or callback
 * runs; on omi_gc_delete_fast's path, which still reads the set's bytes, once
 * the set is freed (the code that runs meanwhile, release hooks and the
 * destruction of objects outside whose last reference the set held,
 * cannot reach the set; a descriptor freed and taken again meanwhile
 * keeps its place on the lists, and its whole table is zeroed).  Either
 * each table a lookup went to is zeroed (omi_gc.side_arenas and
 * side_larges, linked by omi_gc_side_miss; omi_gc_side_done), or, when that would
 * be more bytes, the set and its references are walked again
 * (omi_gc_side_walks, in scan.c). */
#ifndef OM_GC_SIDE_H
#define OM_GC_SIDE_H

#include "gc/gc.h"

#define SIDE_CMAX 0xFB
#define SIDE_REACHED 0xFC
#define SIDE_KEPT 0xFD
#define SIDE_UNREACHABLE 0xFE
#define SIDE_WAYS 256 /* ways of the referents' cache, chosen by arena */

/* A cache way: one small arena's table, so that the common case is a
 * shift, a compare and an add.  key is the arena's number (address >>
 * OM_ARENA_SHIFT; 0: empty, no arena starts at 0), bias the table's
 * address less the arena's first granule number.  Medium and large blocks
 * (rare containers) are looked up each time. */
typedef struct side_way {
    uintptr_t key, bias;
} side_way;

/* A lookup the cache missed: fills the way (a small arena), links the
 * table for cleanup; NULL if o is not in objmem's memory. */
OM_HIDDEN __attribute__((noinline)) uint8_t *omi_gc_side_miss(side_way *k, const om_object *o);

/* The byte of o through a cache of ways (a power of two of them). */
static inline uint8_t *gc_side_at(side_way *ways, unsigned nways, const om_object *o) {
    uintptr_t a = (uintptr_t)o;
    side_way *k = &ways[(a >> OM_ARENA_SHIFT) & (nways - 1)];
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> OM_GC_SIDE_SHIFT));
    return omi_gc_side_miss(k, o);
}

/* A referent's byte: most references go to the arena the last one went
 * to (*mru); others through the ways, which then become the last. */
static inline uint8_t *gc_kid_at(side_way **mru, side_way *ways, const om_object *c) {
    uintptr_t a = (uintptr_t)c;
    side_way *k = *mru;
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> OM_GC_SIDE_SHIFT));
    k = &ways[(a >> OM_ARENA_SHIFT) & (SIDE_WAYS - 1)];
    *mru = k;
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> OM_GC_SIDE_SHIFT));
    return omi_gc_side_miss(k, c);
}

#endif /* OM_GC_SIDE_H */
