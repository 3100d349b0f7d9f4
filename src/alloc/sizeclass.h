/*
 * sizeclass.h — size ↔ class.
 *
 * Small classes 0..31: block size 16 * (c + 1); class of n = (n - 1) >> 4.
 * Medium classes 32..63: four per power of two above 512:
 *   j = c - 32, k = 9 + j / 4, size = 2^k + (j % 4 + 1) * 2^(k - 2)
 *   → 640 768 896 1024 1280 ... 98304 114688 131072.
 * Worst internal waste of a medium class: a request one byte above the
 * previous class, (2^(k-2) - 1) / (2^k + 2^(k-2)) < 20% of the block, < 25%
 * of the request.  tests/test_internal_sizeclass.c checks this table.
 *
 * Pools: classes of up to OM_POOL16_MAX (1024) bytes in 16 KiB pools of
 * 1 MiB arenas, the larger ones in 256 KiB pools of 4 MiB arenas
 * (omi_class_geom).
 */
#ifndef OM_SIZECLASS_H
#define OM_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#include "alloc/types.h"

static inline unsigned omi_small_class(size_t n) { return (unsigned)((n - 1) >> OM_ALIGNMENT_SHIFT); }

/* n in (512, OM_MEDIUM_MAX] */
static inline unsigned omi_medium_class(size_t n) {
    size_t m = n - 1;
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)m);
    unsigned sub = (unsigned)(m >> (k - 2)) & 3u;
    return OM_NUM_SMALL_CLASSES + (k - 9) * 4 + sub;
}

static inline size_t omi_class_size(unsigned c) {
    if (c < OM_NUM_SMALL_CLASSES)
        return (size_t)(c + 1) << OM_ALIGNMENT_SHIFT;
    unsigned j = c - OM_NUM_SMALL_CLASSES, k = 9 + j / 4;
    return ((size_t)1 << k) + (size_t)(j % 4 + 1) * ((size_t)1 << (k - 2));
}

/* Class for any n in [0, OM_MEDIUM_MAX]. */
static inline unsigned omi_size_class(size_t n) {
    if (n <= OM_SMALL_MAX)
        return n == 0 ? 0 : omi_small_class(n);
    return omi_medium_class(n);
}

/* The arena geometry a class's pools have (types.h, OM_POOL16_MAX). */
static inline unsigned omi_class_geom(unsigned c) {
    return omi_class_size(c) <= OM_POOL16_MAX ? OM_GEOM_SMALL : OM_GEOM_MEDIUM;
}

/* Block index of a medium pool offset without dividing: off < 2^18 and
 * size <= 2^17, so (off * (2^48 / size + 1)) >> 48 is exact (the error
 * term off * size / 2^48 stays below 1). */
static inline uint64_t omi_medium_magic(unsigned c) { return ((uint64_t)1 << 48) / omi_class_size(c) + 1; }
static inline int omi_medium_offset_ok(uint64_t off, uint32_t size, uint64_t magic) {
    return ((off * magic) >> 48) * size == off;
}

/* Bytes of a pool available to blocks, and blocks per pool. */
static inline size_t omi_class_pool_bytes(unsigned c) {
    return omi_class_geom(c) == OM_GEOM_MEDIUM ? OM_MPOOL_SIZE : OM_POOL_SIZE;
}
static inline unsigned omi_class_capacity(unsigned c) {
    return (unsigned)(omi_class_pool_bytes(c) / omi_class_size(c));
}

#endif /* OM_SIZECLASS_H */
