/*
 * side.h — the cycle collector's side table: a byte per object, kept by
 * the collector outside the object and outside the allocator's structs,
 * and the cache through which the passes find it.
 *
 * The two passes that follow references (omi_gc_count_refs,
 * omi_gc_move_unreachable) keep their per-object state in this byte, so
 * that following a reference reads and writes a byte in a small dense
 * table (1/32 of the heap) instead of the referent's own cache line,
 * which on a large heap is a miss per reference.
 *
 * Where the bytes are.  The allocator maps memory in 1 MiB slots (its
 * ownership map, alloc/arena_map.c); a small arena is one slot, a medium
 * arena four, a large block one or more.  The collector keeps one table
 * per slot that ever held an object of a collection: a byte per 32-byte
 * granule (SIDE_SHIFT), 32 KiB, found through a two-level directory
 * indexed by slot number (side.c).  Any two objects are at least a
 * granule apart (a container has a collector header and an object header
 * in its block; blocks are 16-byte multiples from a page-aligned base;
 * medium and large blocks are bigger still), so each has a byte of its
 * own; an object outside objmem's memory (static) has none.  A table is
 * made on first touch, from the OS layer, and never freed: it is keyed by
 * address, so an arena released and mapped again meets its old table,
 * all zero.  Only pages a collection touched are resident.  If a table
 * cannot be made (out of memory), its objects have no byte for this
 * collection, and an object without a byte is kept, as if referenced from
 * outside: a collection never frees wrongly for want of memory.
 *
 *   0 .. SIDE_CMAX      omi_gc_count_refs: references to the object from
 *                       the set (the rest in the header: overflow_ref,
 *                       scan.c)
 *   SIDE_REACHED        omi_gc_move_unreachable: referred to by a kept
 *                       object; it will be kept when the scan reaches it
 *   SIDE_KEPT           scanned and kept
 *   SIDE_UNREACHABLE    scanned at gc_refs 0: on the tentative list
 *
 * Bytes of objects outside the set are counted and marked too (nothing
 * reads them: the passes cannot tell them apart without reading their
 * headers, the very miss the table avoids).  So every byte a collection
 * touched is zeroed before it ends: by omi_gc_side_clean as soon as
 * omi_gc_move_unreachable's lists are split, before any finalizer or
 * callback runs; on omi_gc_delete_fast's path, which still reads the set's
 * bytes, once the set is freed (the code that runs meanwhile, release
 * hooks and the destruction of objects outside whose last reference the
 * set held, cannot reach the set; tables do not move when the allocator
 * releases or reuses memory meanwhile).  Either each table a lookup went
 * to is zeroed (the collection's side_dirty list, linked by
 * omi_gc_side_miss; omi_gc_side_done), or, when that would be more bytes,
 * the set and its references are walked again (omi_gc_side_walks, in
 * scan.c).
 */
#ifndef OM_GC_SIDE_H
#define OM_GC_SIDE_H

#include "gc/gc.h"

#define SIDE_SHIFT 5                              /* a byte per 32 bytes */
#define SIDE_TABLE_BYTES (OM_ARENA_SIZE >> SIDE_SHIFT) /* per 1 MiB slot */

/* One slot's table.  dirty_next links the tables a collection touched
 * (gc_collection.side_dirty); on_dirty says it is linked. */
typedef struct side_table {
    struct side_table *dirty_next;
    uint8_t on_dirty;
    _Alignas(64) uint8_t bytes[SIDE_TABLE_BYTES];
} side_table;

#define SIDE_CMAX 0xFB
#define SIDE_REACHED 0xFC
#define SIDE_KEPT 0xFD
#define SIDE_UNREACHABLE 0xFE
#define SIDE_WAYS 256 /* ways of the referents' cache, chosen by arena */

/* A cache way: one slot's table, so that the common case is a shift, a
 * compare and an add.  key is the slot's number (address >>
 * OM_ARENA_SHIFT; 0: empty, no slot starts at 0), bias the table's
 * address less the slot's first granule number. */
typedef struct side_way {
    uintptr_t key, bias;
} side_way;

/* A lookup the cache missed: fills the way, links the table for cleanup
 * on the running collection's list (omi_gc.running: the lookups inline
 * into the passes' loops, which are faster without one more argument to
 * keep for this rare call); NULL if o is not in objmem's memory (or its
 * table could not be made). */
OM_HIDDEN __attribute__((noinline)) uint8_t *omi_gc_side_miss(side_way *k, const om_object *o);
/* Bytes the side tables and their directory have mapped (never given back). */
OM_HIDDEN uint64_t omi_gc_side_mapped(void);

/* The byte of o through a cache of ways (a power of two of them). */
static inline uint8_t *gc_side_at(side_way *ways, unsigned nways, const om_object *o) {
    uintptr_t a = (uintptr_t)o;
    side_way *k = &ways[(a >> OM_ARENA_SHIFT) & (nways - 1)];
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> SIDE_SHIFT));
    return omi_gc_side_miss(k, o);
}

/* A referent's byte: most references go to the slot the last one went
 * to (*mru); others through the ways, which then become the last. */
static inline uint8_t *gc_kid_at(side_way **mru, side_way *ways, const om_object *kid) {
    uintptr_t a = (uintptr_t)kid;
    side_way *k = *mru;
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> SIDE_SHIFT));
    k = &ways[(a >> OM_ARENA_SHIFT) & (SIDE_WAYS - 1)];
    *mru = k;
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> SIDE_SHIFT));
    return omi_gc_side_miss(k, kid);
}

#endif /* OM_GC_SIDE_H */
