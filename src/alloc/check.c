/*
 * check.c — describing blocks and checking the heap's invariants.
 *
 * om_block_describe answers "where does this pointer live" for tools, the
 * tour and error reports.  om_heap_check verifies every invariant of the
 * calling thread's heap that pool.c and arena.c state in their headers;
 * the tests run it after every step of their randomized sequences.
 * Reading another thread's pools here is a deliberate, benign race (for
 * descriptions only), hence no_sanitize("thread").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

#define OM_NO_TSAN __attribute__((no_sanitize("thread")))

/* ---- describing --------------------------------------------------------- */
OM_NO_TSAN int omi_describe(const void *p, om_block_info *out) {
    uintptr_t a = (uintptr_t)p, e = omi_map_lookup(a);
    memset(out, 0, sizeof *out);
    out->size_class = -1;
    out->pool_index = -1;
    if (!e)
        return ENOENT;
    if ((e & OM_MAP_TAG) == OM_MAP_LARGE) {
        om_large *l = (om_large *)(e & ~(uintptr_t)OM_MAP_TAG);
        if (a < (uintptr_t)l->base || a >= (uintptr_t)l->base + l->map_size)
            return ENOENT;
        out->kind = OM_BLOCK_LARGE;
        out->block = l->user;
        out->block_size = l->usable;
        out->arena = l->base;
        out->arena_size = l->map_size;
        out->pool_state = l->cached ? OM_POOL_EMPTY : OM_POOL_FULL;
        return 0;
    }
    om_arena *ar = (om_arena *)(e & ~(uintptr_t)OM_MAP_TAG);
    int medium = ar->geom == OM_GEOM_MEDIUM;
    unsigned shift = medium ? OM_MPOOL_SHIFT : OM_POOL_SHIFT;
    unsigned idx = (unsigned)((a - (uintptr_t)ar->base) >> shift);
    out->kind = medium ? OM_BLOCK_MEDIUM : OM_BLOCK_SMALL;
    out->arena = ar->base;
    out->arena_size = medium ? OM_MARENA_SIZE : OM_ARENA_SIZE;
    out->pool_index = (int)idx;
    out->arena_pools_free = ar->nfree;
    out->arena_pools_total = ar->ntotal;
    out->pool = ar->base + ((size_t)idx << shift);
    if (ar->free_mask >> idx & 1) {
        out->pool_state = OM_POOL_EMPTY;
        return 0;
    }
    om_pool *pool = omi_arena_pool_at(ar, idx);
    uintptr_t base = (uintptr_t)omi_pool_block_base(pool);
    size_t size = pool->block_size;
    out->size_class = pool->szidx;
    out->block_size = size;
    out->pool_blocks_used = pool->nused;
    out->pool_blocks_total = omi_class_capacity(pool->szidx);
    /* Full means no free block, whether or not the used list has noticed. */
    out->pool_state = pool->nused >= out->pool_blocks_total ? OM_POOL_FULL : OM_POOL_USED;
    if (a >= base && size && (a - base) / size < out->pool_blocks_total)
        out->block = (void *)(base + (a - base) / size * size);
    return 0;
}

/* 1 if p is the start of a small or medium block that is free (never
 * carved, in an empty pool, or on its pool's free list), else 0.  For the
 * checked object functions: a dead object whose block went back. */
OM_NO_TSAN int omi_block_is_free(const void *p) {
    om_block_info bi;
    if (omi_describe(p, &bi) != 0 || bi.kind == OM_BLOCK_FOREIGN)
        return 0;
    if (bi.kind == OM_BLOCK_LARGE) /* a cached mapping is a freed block */
        return bi.pool_state == OM_POOL_EMPTY;
    if (bi.pool_state == OM_POOL_EMPTY && !bi.block_size)
        return 1;
    if (bi.block != p)
        return 0;
    uintptr_t e = omi_map_lookup((uintptr_t)p);
    om_pool *pool = omi_pool_of((uintptr_t)p, e);
    if (!omi_pool_block_offset_ok(pool, (uintptr_t)p, 1))
        return 1;
    return omi_pool_block_is_free(pool, (const om_block *)p);
}

int (om_block_describe)(const void *p, om_block_info *out, size_t size) {
    if (!out)
        return EINVAL;
    om_block_info bi;
    int rc = omi_describe(p, &bi);
    omi_struct_out(out, size, &bi, sizeof bi);
    return rc;
}

size_t (om_heap_arenas)(om_arena_info *out, size_t cap, size_t elem_size) {
    om_heap *h = omi_tls_heap;
    size_t n = 0;
    for (int g = 0; g < OM_NGEOM && h != &omi_heap_empty; g++) {
        for (om_arena *a = h->arenas[g].head; a; a = a->next, n++) {
            if (n >= cap)
                continue;
            om_arena_info ai = {
                .base = a->base,
                .size = g == OM_GEOM_MEDIUM ? OM_MARENA_SIZE : OM_ARENA_SIZE,
                .medium = g == OM_GEOM_MEDIUM,
                .pools_total = a->ntotal,
                .pools_free = a->nfree,
                .pools_purged = (unsigned)__builtin_popcountll(a->free_mask & ~a->dirty_mask),
            };
            omi_struct_out((char *)out + n * elem_size, elem_size, &ai, sizeof ai);
        }
    }
    return n;
}

/* ---- checking -------------------------------------------------------------- */
typedef struct checker {
    om_heap *h;
    int verbose;
    int problems;
} checker;

__attribute__((format(printf, 2, 3))) static void fail(checker *c, const char *fmt, ...);

static void fail(checker *c, const char *fmt, ...) {
    c->problems++;
    if (!c->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("om_heap_check: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void check_usable_list(checker *c, int g) {
    om_arena_list *L = &c->h->arenas[g];
    om_arena *last_with[OM_MAX_POOLS + 1] = {0};
    unsigned prev_nf = 0, wholly_free = 0;
    om_arena *prev = NULL;
    for (om_arena *a = L->head; a; prev = a, a = a->next) {
        if (a->prev != prev)
            fail(c, "arena %p: broken prev link", (void *)a->base);
        if (!a->in_usable || a->nfree == 0 || a->nfree > a->ntotal)
            fail(c, "arena %p: on usable list with nfree %u", (void *)a->base, a->nfree);
        if (a->nfree < prev_nf)
            fail(c, "arena %p: usable list not sorted (%u after %u)", (void *)a->base, a->nfree, prev_nf);
        if (a->heap != c->h)
            fail(c, "arena %p: on another heap's list", (void *)a->base);
        if (a->nfree == a->ntotal)
            wholly_free++;
        prev_nf = a->nfree;
        if (a->nfree <= OM_MAX_POOLS)
            last_with[a->nfree] = a;
    }
    for (unsigned k = 0; k <= OM_MAX_POOLS; k++)
        if (L->lasta[k] != last_with[k])
            fail(c, "geometry %d: lasta[%u] is %p, expected %p", g, k, (void *)L->lasta[k], (void *)last_with[k]);
    if (wholly_free > 1 && !c->h->purge_deadline_ns)
        fail(c, "geometry %d: %u wholly free arenas and no purge pending", g, wholly_free);
    if (L->spare && L->spare->nfree != L->spare->ntotal)
        fail(c, "geometry %d: spare arena is not wholly free", g);
}

static unsigned check_free_list(checker *c, om_pool *pool) {
    unsigned n = 0, cap = omi_class_capacity(pool->szidx);
    uint32_t sig = 0, carved_sig = 0;
    for (om_block *b = pool->freeblock; b; b = b->next) {
        sig ^= omi_block_sig(b);
        if (++n > cap) {
            fail(c, "pool %p: free list longer than its capacity (cycle?)", (void *)pool);
            break;
        }
        if (!omi_pool_block_offset_ok(pool, (uintptr_t)b, 1)) {
            fail(c, "pool %p: free block %p outside the carved blocks or off a boundary", (void *)pool, (void *)b);
            break;
        }
        if (b->check != omi_fast.cookie)
            fail(c, "pool %p: free block %p lost its free mark (written after free?)", (void *)pool, (void *)b);
    }
    if (n <= cap && sig != pool->sig)
        fail(c, "pool %p: free-list signature does not match its blocks", (void *)pool);
    uintptr_t b = (uintptr_t)omi_pool_block_base(pool), end = b + pool->nextoffset;
    for (; b < end; b += pool->block_size)
        carved_sig ^= omi_block_sig((const void *)b);
    if (carved_sig != pool->carved_sig)
        fail(c, "pool %p: carved-block signature does not match its carved blocks", (void *)pool);
    return n;
}

static void check_pool(checker *c, om_arena *a, unsigned i) {
    om_pool *pool = omi_arena_pool_at(a, i);
    if (pool->index != i || pool->heap != c->h) {
        fail(c, "pool %p: header names slot %u heap %p", (void *)pool, pool->index, (void *)pool->heap);
        return;
    }
    if (pool->szidx >= OM_NUM_CLASSES || pool->block_size != omi_class_size(pool->szidx) ||
        omi_class_geom(pool->szidx) != a->geom) {
        fail(c, "pool %p: bad class %u / size %u", (void *)pool, pool->szidx, pool->block_size);
        return;
    }
    if (pool->quarantined)
        return; /* reported when it was found; its counts are not trusted */
    unsigned nfree = check_free_list(c, pool);
    unsigned carved = pool->nextoffset / pool->block_size;
    if (pool->nused + nfree != carved)
        fail(c, "pool %p: %u used + %u free != %u carved", (void *)pool, pool->nused, nfree, carved);
    if (pool->nused == 0 && c->h->retained[pool->list] != pool)
        fail(c, "pool %p: no block in use but neither empty nor retained", (void *)pool);
    if (pool->state == OM_POOL_FULL && (nfree || pool->nextoffset <= pool->maxnextoffset))
        fail(c, "pool %p: FULL with free blocks", (void *)pool);
    if (pool->state != OM_POOL_FULL && pool->state != OM_POOL_USED)
        fail(c, "pool %p: bad state %u", (void *)pool, pool->state);
    /* Other threads' frees: watched only while FULL (cleared by the first
     * of them); a stack only holds blocks the pool counts as used. */
    uintptr_t xf = atomic_load_explicit(omi_pool_xfree(pool), memory_order_acquire);
    if (pool->state == OM_POOL_USED && (xf & OM_XFREE_WATCH))
        fail(c, "pool %p: USED but watched for other threads' frees", (void *)pool);
    unsigned nx = 0;
    for (om_block *b = (om_block *)(xf & ~OM_XFREE_FLAGS); b && nx <= pool->nused; b = b->next)
        nx++;
    if (nx > pool->nused)
        fail(c, "pool %p: more blocks freed by other threads than in use", (void *)pool);
}

static unsigned count_used_lists(checker *c) {
    unsigned n = 0;
    for (unsigned cls = 0; cls < OM_NUM_LISTS; cls++) {
        om_pool *head = c->h->used[cls], *p = head;
        if (head == &omi_pool_empty)
            continue;
        do {
            if (!p || !p->next || p->next->prev != p || p->list != cls || p->szidx != omi_list_class(cls) ||
                p->state != OM_POOL_USED ||
                p->heap != c->h || ++n > 1u << 24) {
                fail(c, "class %u: used list broken at pool %p", cls, (void *)p);
                break;
            }
            p = p->next;
        } while (p != head);
    }
    return n;
}

static unsigned check_arena(checker *c, om_arena *a) {
    uintptr_t tag = a->geom == OM_GEOM_MEDIUM ? OM_MAP_MEDIUM : OM_MAP_SMALL;
    if (omi_map_lookup((uintptr_t)a->base) != ((uintptr_t)a | tag))
        fail(c, "arena %p: ownership map entry wrong", (void *)a->base);
    if ((unsigned)__builtin_popcountll(a->free_mask) != a->nfree)
        fail(c, "arena %p: nfree %u but %d pools marked free", (void *)a->base, a->nfree,
             __builtin_popcountll(a->free_mask));
    if (a->dirty_mask & ~a->free_mask)
        fail(c, "arena %p: a dirty pool that is not free", (void *)a->base);
    if (!a->in_usable && a->nfree)
        fail(c, "arena %p: has free pools but is not usable", (void *)a->base);
    unsigned used = 0;
    for (unsigned i = 0; i < a->ntotal; i++) {
        if (a->free_mask >> i & 1) {
            if (atomic_load_explicit(&a->xfree[i], memory_order_relaxed))
                fail(c, "arena %p: empty pool %u has blocks freed by other threads", (void *)a->base, i);
            continue;
        }
        check_pool(c, a, i);
        used += omi_arena_pool_at(a, i)->state == OM_POOL_USED;
    }
    return used;
}

static void large_problem(void *arg, const char *msg) { fail(arg, "%s", msg); }

int om_heap_check(int verbose) {
    checker c = {omi_tls_heap, verbose, 0};
    if (c.h == &omi_heap_empty) { /* no heap of its own: the large blocks still */
        pthread_mutex_lock(&omi_rt.lock);
        omi_large_check(large_problem, &c);
        pthread_mutex_unlock(&omi_rt.lock);
        return c.problems;
    }
    int locked = omi_heap_lock_arenas(c.h); /* the purge thread's too */
    for (int g = 0; g < OM_NGEOM; g++)
        check_usable_list(&c, g);
    unsigned listed = count_used_lists(&c), used = 0;
    uint64_t dirty = 0;
    pthread_mutex_lock(&omi_rt.lock);
    for (om_arena *a = omi_rt.arenas; a; a = a->gnext) {
        if (a->heap != c.h)
            continue;
        used += check_arena(&c, a);
        dirty += (uint64_t)__builtin_popcountll(a->dirty_mask);
        if (a->fresh_mask & ~a->dirty_mask)
            fail(&c, "arena %p: a fresh pool that is not dirty", (void *)a->base);
    }
    omi_large_check(large_problem, &c);
    pthread_mutex_unlock(&omi_rt.lock);
    if (listed != used)
        fail(&c, "%u pools on used lists but %u pools in state USED", listed, used);
    if (dirty != c.h->ndirty)
        fail(&c, "heap counts %llu dirty pools, arenas hold %llu", (unsigned long long)c.h->ndirty,
             (unsigned long long)dirty);
    omi_heap_unlock_arenas(c.h, locked);
    return c.problems;
}
