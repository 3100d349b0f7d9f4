/*
 * alloc.c — om_malloc & co.: the fast paths, nothing else.
 *
 * om_malloc of 1..512 bytes: TLS heap → used[class] → pop the pool's free
 * list.  One branch decides; everything else (carving, exhausted pools,
 * medium and large sizes, the first call of a thread) is om_malloc_slow.
 *
 * om_free: the ownership map says which kind of memory p is in; a small
 * block of the calling thread's heap, 16-byte aligned, is pushed on its
 * pool's free list without reading the block (a cache miss mimalloc does
 * not pay either).  A medium block of the calling thread is validated
 * fully in free_medium (block boundary by multiplication, free mark) and
 * freed.  Everything else, and every free in checked mode, goes to
 * omi_free_slow, which validates the pointer fully before it frees:
 * foreign, misaligned, interior and double frees are reported (error.c)
 * and then ignored.
 *
 * Double frees without checked mode cost the fast paths no memory access
 * beyond the pool header and the block they already touch:
 *   - a free block carries the cookie in its check word, and allocation
 *     (which loads that cache line anyway) refuses a block without it: a
 *     block freed twice is linked into a cycle, its first allocation clears
 *     the mark, and the second is caught before it is handed out again (a
 *     write after free is caught the same way);
 *   - every push and pop updates the pool's free-list signature, so when a
 *     double free makes a pool look empty while a block in it is live, the
 *     check before the pool leaves its class catches it (pool.c).
 * A pool caught either way is quarantined: reported, never reused.
 *
 * Debug mode (debug/) wraps these entry points (alloc.h, "diverting"): one
 * predictable test of omi_fast.divert at the entry of om_malloc and of the
 * entry points that are not fast paths; none on om_free's fast path.  The
 * *_plain functions are the allocator's own paths, for the wrapper.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

/* ---- allocation ---------------------------------------------------------- */

__attribute__((noinline)) static void *om_malloc_slow(size_t n) {
    om_heap *h = omi_tls_heap;
    if (n <= OM_MEDIUM_MAX) {
        unsigned cls = omi_size_class(n);
        om_pool *pool = h->used[cls];
        om_block *b = pool->freeblock;
        if (b && b->check == omi_fast.cookie)
            return omi_pool_pop(pool, b);
        return omi_pool_alloc_slow(h, cls);
    }
    return omi_large_alloc(n, OM_ALIGNMENT, 0);
}

static inline void *malloc_plain(size_t n) {
    if (om_likely(n - 1 < OM_SMALL_MAX)) {
        om_heap *h = omi_tls_heap;
        unsigned cls = omi_small_class(n);
        om_pool *pool = h->used[cls];
        om_block *b = pool->freeblock;
        if (om_likely(b != NULL) && om_likely(b->check == omi_fast.cookie))
            return omi_pool_pop(pool, b);
        return omi_pool_alloc_slow(h, cls);
    }
    return om_malloc_slow(n);
}

void *om_malloc(size_t n) {
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->alloc(n, 0, 0);
    return malloc_plain(n);
}

void *om_calloc(size_t count, size_t size) {
    size_t n;
    if (om_unlikely(__builtin_mul_overflow(count, size, &n))) {
        errno = ENOMEM;
        return NULL;
    }
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->alloc(n, 0, 1);
    /* large.c clears only what may not read zero: nothing when fresh */
    if (n > OM_MEDIUM_MAX)
        return omi_large_alloc(n, OM_ALIGNMENT, 1);
    void *p = malloc_plain(n);
    if (p)
        memset(p, 0, n);
    return p;
}

/* ---- freeing -------------------------------------------------------------- */
static void free_checked(void *p, uintptr_t e);
static void free_medium(void *p, uintptr_t e);

/* omi_medium_magic(c) for every medium class, as constants (free may run
 * before any constructor); tests/test_internal_sizeclass.c checks them. */
#define MSIZE(j) ((1ull << (9 + (j) / 4)) + ((j) % 4 + 1) * (1ull << (7 + (j) / 4)))
#define MAGIC(j) [OM_NUM_SMALL_CLASSES + (j)] = (1ull << 48) / MSIZE(j) + 1
#define MAGIC4(j) MAGIC(j), MAGIC(j + 1), MAGIC(j + 2), MAGIC(j + 3)
const uint64_t omi_medium_magic_table[OM_NUM_CLASSES] = {
    MAGIC4(0), MAGIC4(4), MAGIC4(8), MAGIC4(12), MAGIC4(16), MAGIC4(20), MAGIC4(24), MAGIC4(28),
};

void om_free(void *p) {
    uintptr_t a = (uintptr_t)p;
    uintptr_t e = omi_map_lookup(a);
    if (om_likely((e & OM_MAP_TAG) == OM_MAP_SMALL)) {
        /* &arena->pools[slot], the slot's byte offset in one shift and mask */
        _Static_assert(sizeof(om_pool) == 64, "pool headers are 64 bytes apart");
        om_pool *pool = (om_pool *)((e - OM_MAP_SMALL) + offsetof(om_arena, pools) +
                                    ((a >> (OM_POOL_SHIFT - 6)) & ((OM_SMALL_POOLS - 1) << 6)));
        if (om_likely(pool->heap == omi_tls_free_heap) && om_likely((a & (OM_ALIGNMENT - 1)) == 0)) {
            om_block *b = p, *old = pool->freeblock;
            b->next = old;
            b->check = omi_fast.cookie;
            pool->freeblock = b;
            pool->sig ^= omi_block_sig(b);
            if (om_likely(--pool->nused != 0 && old != NULL))
                return;
            omi_pool_free_transition(pool->heap, pool, old);
            return;
        }
    } else if ((e & OM_MAP_TAG) == OM_MAP_MEDIUM) {
        free_medium(p, e);
        return;
    }
    free_checked(p, e);
}

/* A medium block of the calling thread: validated fully (alignment, block
 * boundary by multiplication, free mark) but without omi_free_slow's
 * division; CPython's lists and dicts live here. */
__attribute__((noinline)) static void free_medium(void *p, uintptr_t e) {
    uintptr_t a = (uintptr_t)p;
    om_arena *ar = (om_arena *)(e - OM_MAP_MEDIUM);
    uintptr_t off = a - (uintptr_t)ar->base;
    om_pool *pool = &ar->pools[off >> OM_MPOOL_SHIFT];
    om_block *b = p;
    off &= OM_MPOOL_SIZE - 1;
    uint64_t magic = omi_medium_magic_table[pool->szidx & (OM_NUM_CLASSES - 1)];
    if (om_likely(pool->heap == omi_tls_free_heap) && om_likely((a & (OM_ALIGNMENT - 1)) == 0) && magic &&
        om_likely(off < pool->nextoffset && omi_medium_offset_ok(off, pool->block_size, magic)) &&
        om_likely(b->check != omi_fast.cookie)) {
        omi_pool_free_local(pool->heap, pool, b);
        return;
    }
    free_checked(p, e);
}

/* Every free the fast paths do not take: diverted (debug mode frees only
 * here), or validated fully. */
__attribute__((noinline)) static void free_checked(void *p, uintptr_t e) {
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL)) {
        d->free(p);
        return;
    }
    omi_free_slow(p, e, "om_free");
}

void omi_free_plain(void *p) { omi_free_slow(p, omi_map_lookup((uintptr_t)p), "om_free"); }

/* Find and validate the block p; NULL (after a report) if it is bad. */
static om_pool *checked_pool(void *p, uintptr_t e, const char *op) {
    uintptr_t a = (uintptr_t)p;
    om_arena *ar = (om_arena *)(e & ~(uintptr_t)OM_MAP_TAG);
    om_pool *pool = omi_pool_of(a, e);
    unsigned idx = (unsigned)(pool - ar->pools); /* from the address: a free pool's header is stale */
    if (a & (OM_ALIGNMENT - 1)) {
        omi_report(OM_ERR_MISALIGNED_POINTER, op, p);
        return NULL;
    }
    /* Another thread's pool: only fields that cannot change while it holds
     * a live block may be read (class, size, slot); the owner writes the
     * rest without a lock. */
    int mine = pool->heap == omi_tls_heap;
    if (mine && (ar->free_mask >> idx & 1)) {
        omi_report(OM_ERR_DOUBLE_FREE, op, p); /* its whole pool is free */
        return NULL;
    }
    if (!omi_pool_block_offset_ok(pool, a, mine)) {
        omi_report(OM_ERR_INTERIOR_POINTER, op, p);
        return NULL;
    }
    om_block *b = p;
    if (b->check == omi_fast.cookie && (!mine || omi_pool_block_is_free(pool, b))) {
        omi_report(OM_ERR_DOUBLE_FREE, op, p);
        return NULL;
    }
    return pool;
}

void omi_free_slow(void *p, uintptr_t e, const char *op) {
    if (!p)
        return;
    if (e == 0) {
        omi_report(OM_ERR_FOREIGN_POINTER, op, p);
        return;
    }
    if ((e & OM_MAP_TAG) == OM_MAP_LARGE) {
        om_large *l = (om_large *)(e & ~(uintptr_t)OM_MAP_TAG);
        if (l->cached)
            omi_report(OM_ERR_DOUBLE_FREE, op, p);
        else if ((char *)p != l->user)
            omi_report(((uintptr_t)p & (OM_ALIGNMENT - 1)) ? OM_ERR_MISALIGNED_POINTER : OM_ERR_INTERIOR_POINTER, op, p);
        else
            omi_large_free(l);
        return;
    }
    om_pool *pool = checked_pool(p, e, op);
    if (!pool)
        return;
    om_heap *h = omi_tls_heap;
    if (pool->heap == h)
        omi_pool_free_local(h, pool, p);
    else
        omi_heap_free_remote(pool->heap, pool, p);
}

/* ---- sizes -------------------------------------------------------------------- */
/* Usable size of a block objmem handed out, or 0 if p is not one. */
static size_t block_size_of(const void *p, uintptr_t e) {
    switch (e & OM_MAP_TAG) {
    case OM_MAP_SMALL:
    case OM_MAP_MEDIUM:
        return omi_pool_of((uintptr_t)p, e)->block_size;
    case OM_MAP_LARGE: {
        om_large *l = (om_large *)(e & ~(uintptr_t)OM_MAP_TAG);
        return l->usable - (size_t)((const char *)p - l->user);
    }
    default:
        return 0;
    }
}

size_t omi_usable_size_plain(const void *p) {
    if (!p)
        return 0;
    return block_size_of(p, omi_map_lookup((uintptr_t)p));
}

size_t om_usable_size(const void *p) {
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->usable_size(p);
    return omi_usable_size_plain(p);
}

int om_owns(const void *p) {
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->owns(p);
    om_block_info info;
    return p && omi_describe(p, &info) == 0 && info.block == p && info.pool_state != OM_POOL_EMPTY &&
           !(info.kind != OM_BLOCK_LARGE && ((const om_block *)p)->check == omi_fast.cookie);
}

/* The pool of p for om_realloc, validated as om_free validates: a small
 * block of the calling thread's heap outside checked mode cheaply (the
 * interior-pointer check is checked mode's), everything else fully. */
static om_pool *realloc_pool(void *p, uintptr_t e) {
    uintptr_t a = (uintptr_t)p;
    if ((e & OM_MAP_TAG) == OM_MAP_SMALL) {
        om_pool *pool = &((om_arena *)(e - OM_MAP_SMALL))->pools[(a >> OM_POOL_SHIFT) & (OM_SMALL_POOLS - 1)];
        if (om_likely(pool->heap == omi_tls_free_heap && (a & (OM_ALIGNMENT - 1)) == 0 &&
                      ((om_block *)p)->check != omi_fast.cookie))
            return pool;
    }
    return checked_pool(p, e, "om_realloc");
}

void *om_realloc(void *p, size_t n) {
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->realloc(p, n);
    if (!p)
        return malloc_plain(n);
    uintptr_t e = omi_map_lookup((uintptr_t)p);
    if (om_unlikely(e == 0)) {
        omi_report(OM_ERR_FOREIGN_POINTER, "om_realloc", p);
        errno = EINVAL;
        return NULL;
    }
    om_pool *pool = NULL;
    if ((e & OM_MAP_TAG) == OM_MAP_LARGE) {
        om_large *l = (om_large *)(e & ~(uintptr_t)OM_MAP_TAG);
        if (l->cached || (char *)p != l->user) {
            omi_free_slow(p, e, "om_realloc"); /* reports, frees nothing */
            return NULL;
        }
    } else if (!(pool = realloc_pool(p, e))) {
        return NULL;
    }
    size_t have = block_size_of(p, e);
    /* In place while the block fits and either stays in its class or is
     * not more than half empty (shrinking further frees memory). */
    if (n <= have && (n >= have / 2 || ((e & OM_MAP_TAG) != OM_MAP_LARGE && omi_size_class(n) == omi_size_class(have))))
        return p;
    /* A large block is resized in place or by moving pages, not bytes. */
    if ((e & OM_MAP_TAG) == OM_MAP_LARGE) {
        void *q = omi_large_resize((om_large *)(e & ~(uintptr_t)OM_MAP_TAG), n);
        if (q)
            return q;
    }
    void *q = malloc_plain(n);
    if (!q)
        return NULL;
    memcpy(q, p, n < have ? n : have);
    om_heap *h = omi_tls_heap;
    if (!pool) /* large */
        omi_large_free((om_large *)(e & ~(uintptr_t)OM_MAP_TAG));
    else if (pool->heap == h) /* validated above */
        omi_pool_free_local(h, pool, p);
    else
        omi_heap_free_remote(pool->heap, pool, p);
    return q;
}

/* ---- alignment ------------------------------------------------------------- */
static void *aligned_plain(size_t align, size_t size) {
    if (align <= OM_ALIGNMENT)
        return malloc_plain(size);
    /* Pools start on their own size and hold nothing but blocks, so a class
     * whose size is a multiple of align gives align-aligned blocks: small
     * classes are multiples of 16, medium power-of-two classes of
     * themselves. */
    if (align <= OM_SMALL_MAX && size <= OM_SMALL_MAX) {
        size_t n = (size + align - 1) & ~(align - 1);
        return malloc_plain(n ? n : align);
    }
    if (align <= OM_MEDIUM_MAX && size <= OM_MEDIUM_MAX) {
        size_t n = size < 1024 ? 1024 : size;
        n = (size_t)1 << (64 - __builtin_clzll((unsigned long long)(n - 1)));
        if (n < align)
            n = align;
        return malloc_plain(n);
    }
    return omi_large_alloc(size, align, 0);
}

void *om_aligned_alloc(size_t align, size_t size) {
    if (align == 0 || (align & (align - 1)) || align > OM_MAX_ALIGNMENT) {
        errno = EINVAL;
        return NULL;
    }
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->alloc(size, align, 0);
    return aligned_plain(align, size);
}

void *omi_alloc_plain(size_t size, size_t align) {
    if (align > OM_MAX_ALIGNMENT) {
        errno = EINVAL;
        return NULL;
    }
    return align ? aligned_plain(align, size) : malloc_plain(size);
}

int om_posix_memalign(void **out, size_t align, size_t size) {
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    int saved = errno;
    void *p = om_aligned_alloc(align, size);
    if (!p)
        return ENOMEM;
    errno = saved;
    *out = p;
    return 0;
}
