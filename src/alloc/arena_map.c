/*
 * arena_map.c — "is this pointer ours?" in O(1), never reading memory that
 * may not be objmem's.
 *
 * A two-level radix tree over the 48-bit address space in 1 MiB slots
 * (CPython 3.10 uses the same idea with three levels):
 *
 *   address bits  47 ........ 34 | 33 ........ 20 | 19 ..... 0
 *                 root index (14) | leaf index (14) | in-slot offset
 *
 * The root is a static array (128 KiB of zero pages until used); each leaf
 * (128 KiB, covering 16 GiB) is mapped on first use and never freed.  A
 * slot's entry is its descriptor's address (64-byte aligned) or'ed with an
 * OM_MAP_* tag, or 0.  Every arena and large mapping starts on a 1 MiB
 * boundary, so no slot is shared by two of them.
 *
 * Writers hold omi_rt.lock; readers are lock-free (atomic loads, which cost
 * a plain load on x86-64).
 */
#include <errno.h>

#include "alloc/alloc.h"

_Atomic(om_map_leaf *) omi_map_root[(size_t)1 << OM_MAP_ROOT_BITS];

#define LEAF_MASK (((size_t)1 << OM_MAP_LEAF_BITS) - 1)

static om_map_leaf *leaf_for(uintptr_t a, int create) {
    size_t ri = a >> (OM_ARENA_SHIFT + OM_MAP_LEAF_BITS);
    om_map_leaf *leaf = atomic_load_explicit(&omi_map_root[ri], memory_order_relaxed);
    if (!leaf && create) {
        leaf = omi_meta_alloc(sizeof(om_map_leaf));
        if (leaf)
            atomic_store_explicit(&omi_map_root[ri], leaf, memory_order_release);
    }
    return leaf;
}

int omi_map_set(uintptr_t start, size_t size, uintptr_t value) {
    if ((start + size - 1) >> OM_MAP_ADDR_BITS)
        return EINVAL;
    for (uintptr_t a = start; a < start + size; a += OM_ARENA_SIZE) {
        om_map_leaf *leaf = leaf_for(a, 1);
        if (!leaf) {
            omi_map_clear(start, (size_t)(a - start));
            return ENOMEM;
        }
        atomic_store_explicit(&(*leaf)[(a >> OM_ARENA_SHIFT) & LEAF_MASK], value, memory_order_relaxed);
    }
    return 0;
}

void omi_map_clear(uintptr_t start, size_t size) {
    for (uintptr_t a = start; a < start + size; a += OM_ARENA_SIZE) {
        om_map_leaf *leaf = leaf_for(a, 0);
        if (leaf)
            atomic_store_explicit(&(*leaf)[(a >> OM_ARENA_SHIFT) & LEAF_MASK], 0, memory_order_relaxed);
    }
}
