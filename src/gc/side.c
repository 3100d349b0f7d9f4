/*
 * side.c — the side table's slow path: a lookup that missed the cache
 * goes through the arena map and links the table it found for cleanup;
 * omi_gc_side_done ends a collection's use of the tables.  The table's states
 * and its invariant (every byte 0 outside a collection) are in side.h.
 */
#include <string.h>

#include "gc/side.h"

uint8_t *omi_gc_side_miss(side_way *k, const om_object *o) {
    uintptr_t a = (uintptr_t)o, e = omi_map_lookup(a);
    uintptr_t tag = e & OM_MAP_TAG;
    if (tag == OM_MAP_LARGE) { /* one object: this one */
        om_large *l = (om_large *)(e - OM_MAP_LARGE);
        if (!l->gc_on_dirty) {
            l->gc_on_dirty = 1;
            l->gc_dirty_next = omi_gc.side_larges;
            omi_gc.side_larges = l;
        }
        return &l->gc_side;
    }
    if (tag != OM_MAP_SMALL && tag != OM_MAP_MEDIUM)
        return NULL; /* not objmem's memory: a static object, never in a set */
    om_arena *ar = (om_arena *)(e - tag);
    if (!ar->gc_on_dirty) {
        ar->gc_on_dirty = 1;
        ar->gc_dirty_next = omi_gc.side_arenas;
        omi_gc.side_arenas = ar;
        omi_gc.side_bytes += sizeof ar->gc_side;
    }
    if (tag == OM_MAP_MEDIUM)
        return ar->gc_side + ((a - (uintptr_t)ar->base) >> OM_GC_SIDE_MSHIFT);
    k->key = a >> OM_ARENA_SHIFT;
    k->bias = (uintptr_t)ar->gc_side - ((uintptr_t)ar->base >> OM_GC_SIDE_SHIFT);
    return (uint8_t *)(k->bias + (a >> OM_GC_SIDE_SHIFT));
}

void omi_gc_side_done(int zero) {
    for (om_arena *ar = omi_gc.side_arenas; ar; ar = ar->gc_dirty_next) {
        /* All of it: the arena may have been released, and its descriptor
         * taken by an arena of the other geometry, while omi_gc_delete_fast ran. */
        if (zero)
            memset(ar->gc_side, 0, sizeof ar->gc_side);
        ar->gc_on_dirty = 0;
    }
    for (om_large *l = omi_gc.side_larges; l; l = l->gc_dirty_next) {
        l->gc_side = 0;
        l->gc_on_dirty = 0;
    }
    omi_gc.side_arenas = NULL;
    omi_gc.side_larges = NULL;
    omi_gc.side_bytes = 0;
}
