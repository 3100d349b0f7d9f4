/*
 * alloc.c — om_malloc & co.: the fast paths, nothing else.
 *
 * om_malloc of 1..512 bytes: TLS heap → used[class] → pop the pool's free
 * list → subtract the size from the heap's sampling countdown.  One
 * branch decides; everything else (carving, exhausted pools, medium and
 * large sizes, the first call of a thread, the allocation that ends a
 * countdown) is om_malloc_slow, small_refill or sample_event.
 *
 * om_free: the ownership map says which kind of memory p is in; a small
 * block of the calling thread's heap, 16-byte aligned, is pushed on its
 * pool's free list without reading the block (a cache miss mimalloc does
 * not pay either).  A medium block of the calling thread is validated
 * fully in free_medium (block boundary by multiplication, free mark) and
 * freed.  A small block of another thread's heap is pushed on its pool's
 * xfree stack after the same cheap checks plus the free mark
 * (free_small_other).  Everything else, and every free in checked mode,
 * goes to omi_free_slow, which validates the pointer fully before it frees:
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
 * The gates: while an observer that sees every call is set (tracing,
 * alloc.h's om_alloc_observer; a sampling one counts on the fast paths
 * instead, see sample_event) or the entry points are diverted (debug mode,
 * debug/; and until the runtime is initialised, omi_divert_init),
 * omi_fast makes every malloc and free miss its fast path by the tests it
 * makes anyway (no size is below small_limit, no address passes
 * free_mask), so both cost the fast paths nothing while off.  The slow
 * paths then divert first, else call the observer: om_malloc_slow,
 * om_calloc, om_realloc, om_aligned_alloc's large path, free_slow for
 * every free; om_usable_size and om_owns divert at entry.  The *_plain
 * functions are the allocator's own paths, never diverted nor observed,
 * for the wrapping layer.  A thread-local flag keeps the calls an observed
 * call makes, and the observer's own, unobserved.  Every function on the
 * way from a program's call to the observer is in the OMI_ENTRY section
 * (the tracer skips those frames).
 *
 * The hardened build (OM_HARDENED, libobjmem-malloc-secure.so) replaces
 * om_malloc's and om_free's fast paths with its own (secure.c's layout:
 * a trailer, a pad), behind their own gates (omi_fast.secure_limit and
 * secure_mask, open in hardened mode with no observer and no zeroing);
 * every other call takes the secure divert.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

/* ---- observation ----------------------------------------------------------- */
static __thread int observe_busy __attribute__((tls_model("initial-exec")));
/* The return address into the program's code of the observed call under
 * way, when the entry point knows it (else NULL). */
static __thread const void *observed_caller __attribute__((tls_model("initial-exec")));

const void *omi_alloc_caller(void) { return observed_caller; }

/* The observer to call, NULL when none is set or the thread is inside one. */
static inline const om_alloc_observer *observer(void) {
    const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
    return om_unlikely(o != NULL) && !observe_busy ? o : NULL;
}

/* Open the fast paths' gates only with neither a diversion nor an observer
 * that must see every block (a sampling one counts on the fast paths). */
void omi_alloc_gates_update(void) {
    const om_alloc_observer *o = atomic_load(&omi_fast.observer);
    int open = (o == NULL || o->sampled != NULL) && atomic_load(&omi_fast.divert) == NULL;
    atomic_store(&omi_fast.small_limit, open ? (size_t)OM_SMALL_MAX : (size_t)0);
    atomic_store(&omi_fast.free_mask, open ? (uintptr_t)(OM_ALIGNMENT - 1) : ~(uintptr_t)0);
    int secure = OM_HARDENED && o == NULL && atomic_load(&omi_fast.divert) == &omi_secure_divert && !omi_secure.zero;
    atomic_store(&omi_fast.secure_limit, secure ? (size_t)(OM_MEDIUM_MAX - OMI_TRAILER) : (size_t)0);
    atomic_store(&omi_fast.secure_mask, secure ? (uintptr_t)(OM_ALIGNMENT - 1) : ~(uintptr_t)0);
}

void omi_alloc_observe(const om_alloc_observer *obs) {
    atomic_store(&omi_fast.observer, obs);
    atomic_fetch_add(&omi_fast.sample_epoch, 1);
    om_heap *h = omi_tls_heap;
    if (h != &omi_heap_empty)
        h->sample_left = 0; /* the calling thread starts counting at its next allocation */
    omi_alloc_gates_update();
}

int omi_alloc_observe_suspend(int suspend) {
    int old = observe_busy;
    observe_busy = suspend;
    return old;
}

static void *malloc_plain(size_t n);

/* ra: the return address of the entry point's caller (a program's call
 * when om_malloc jumped to om_malloc_slow without a frame; objmem's own
 * otherwise, which the tracer tells by its section). */
OMI_ENTRY __attribute__((noinline)) static void *observed_malloc(const om_alloc_observer *o, size_t n,
                                                                  const void *ra) {
    observe_busy = 1;
    void *p = malloc_plain(n);
    if (p) {
        observed_caller = ra;
        o->alloc(p, n);
        observed_caller = NULL;
    }
    observe_busy = 0;
    return p;
}

OMI_ENTRY __attribute__((noinline)) static void *observed_large(const om_alloc_observer *o, size_t n, size_t align,
                                                                 int zero) {
    observe_busy = 1;
    void *p = omi_large_alloc(n, align, zero);
    if (p)
        o->alloc(p, n);
    observe_busy = 0;
    return p;
}

/* ---- allocation events: sampling -------------------------------------------
 * Every allocation a program makes through om_malloc & co. (not the
 * *_plain paths) subtracts its size from its heap's sample_left; the one
 * that takes it below zero calls sample_event.  That costs the fast path
 * a subtraction and a branch, and with no sampling observer a call every
 * OMI_SAMPLE_IDLE bytes.  A thread whose countdown was drawn before the
 * observer changed (another epoch) starts over at its next event, so a
 * thread that is not the one starting a sampler counts at most
 * OMI_SAMPLE_IDLE bytes before its first sample point. */
#define OMI_SAMPLE_IDLE ((int64_t)1 << 18)

/* p (n bytes, just handed out by the allocator's own paths, its contents
 * the caller's) took its heap below zero: re-arm the count and, when a
 * sampling observer wants the block, hand out a large block of its own
 * with the same contents instead and record it. */
OMI_ENTRY __attribute__((noinline)) static void *sample_event(void *p, size_t n) {
    om_heap *h = omi_tls_heap;
    const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
    uint64_t epoch = atomic_load_explicit(&omi_fast.sample_epoch, memory_order_relaxed);
    if (o == NULL || o->sampled == NULL || observe_busy) {
        h->sample_left = OMI_SAMPLE_IDLE;
        return p;
    }
    observe_busy = 1;
    if (h->sample_epoch != epoch) {
        h->sample_epoch = epoch;
        h->sample_left = o->sampled(NULL, 0);
        observe_busy = 0;
        return p;
    }
    void *q = p;
    if ((omi_map_lookup((uintptr_t)p) & OM_MAP_TAG) != OM_MAP_LARGE) {
        q = omi_large_alloc(n ? n : 1, OM_ALIGNMENT, 0);
        if (q) {
            memcpy(q, p, n);
            omi_free_plain(p);
        }
    }
    /* no large block to spare: p goes out unsampled rather than not at all */
    h->sample_left = o->sampled(q, q ? n : 0);
    observe_busy = 0;
    return q ? q : p;
}

/* Count p's n bytes on the calling thread's heap (none yet: a thread whose
 * first request was large). */
static inline __attribute__((always_inline)) void *count_event(void *p, size_t n) {
    om_heap *h = omi_tls_heap;
    if (om_likely(p != NULL) && om_likely(h != &omi_heap_empty) &&
        om_unlikely((h->sample_left -= (int64_t)n) < 0)) /* n < 2^63: p is not NULL */
        return sample_event(p, n);
    return p;
}

/* ---- allocation ---------------------------------------------------------- */

/* om_malloc's path past the fast one, without the gates' business. */
static void *malloc_slow_plain(size_t n) {
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

/* The wrapping layer's allocation, told the program's return address as
 * an observed call is (its observer call then needs no unwinding). */
OMI_ENTRY __attribute__((noinline)) static void *diverted_malloc(const omi_alloc_divert *d, size_t n,
                                                                  const void *ra) {
    const void *saved = observed_caller;
    observed_caller = ra;
    void *p = d->alloc(n, 0, 0);
    observed_caller = saved;
    return p;
}

OMI_ENTRY __attribute__((noinline)) static void *om_malloc_slow(size_t n) {
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return diverted_malloc(d, n, __builtin_return_address(0));
    const om_alloc_observer *o = observer();
    if (om_unlikely(o != NULL) && o->sampled == NULL)
        return observed_malloc(o, n, __builtin_return_address(0));
    return count_event(malloc_slow_plain(n), n);
}

/* A small block from a fresh or refilled pool, counted. */
OMI_ENTRY __attribute__((noinline)) static void *small_refill(om_heap *h, unsigned cls, size_t n) {
    return count_event(omi_pool_alloc_slow(h, cls), n);
}

/* The fast path for sizes below limit, else slow(n); counted says whether
 * the allocation counts toward sampling (the program's calls do, the
 * *_plain paths' do not). */
static inline __attribute__((always_inline)) void *malloc_fast(size_t n, size_t limit, void *(*slow)(size_t),
                                                               int counted) {
    if (om_likely(n - 1 < limit)) {
        om_heap *h = omi_tls_heap;
        unsigned cls = omi_small_class(n);
        om_pool *pool = h->used[cls];
        om_block *b = pool->freeblock;
        if (om_likely(b != NULL) && om_likely(b->check == omi_fast.cookie)) {
            void *p = omi_pool_pop(pool, b);
            if (counted && om_unlikely((h->sample_left -= (int64_t)n) < 0))
                return sample_event(p, n);
            return p;
        }
        return counted ? small_refill(h, cls, n) : omi_pool_alloc_slow(h, cls);
    }
    return slow(n);
}

/* om_malloc with the gate open: what the wrapping layer and observed
 * calls allocate with. */
static void *malloc_plain(size_t n) { return malloc_fast(n, OM_SMALL_MAX, malloc_slow_plain, 0); }

#if !OM_HARDENED
OMI_ENTRY void *om_malloc(size_t n) {
    return malloc_fast(n, atomic_load_explicit(&omi_fast.small_limit, memory_order_relaxed), om_malloc_slow, 1);
}
#else
/* The used list of a request of n bytes (0 < n <= the secure_limit) of
 * family, as secure.c's request_list chooses it at level 1. */
static inline unsigned hardened_list(size_t n, int family) {
    if (family == OM_FAMILY_MALLOC && n <= OM_SMALL_MAX)
        return omi_secure_small_list(n);
    /* medium, or a family that needs the trailer */
    return omi_size_class(n + OMI_TRAILER < OMI_SECURE_MIN_BLOCK ? OMI_SECURE_MIN_BLOCK : n + OMI_TRAILER);
}

/* The hardened build's fast path (alloc.h, secure.c's layout): a block of
 * a pool of the calling thread whose free tag authenticates its link,
 * handed out with its pad word and live trailer for family (a plain
 * block: as it is); NULL when it does not apply (anything else, a tag
 * that does not match included, takes the divert, and secure.c reports
 * it).  The drop-in's C++ operators call it too (override/malloc.c). */
static inline __attribute__((always_inline)) void *hardened_alloc(size_t n, int family) {
    if (om_likely(n - 1 < atomic_load_explicit(&omi_fast.secure_limit, memory_order_relaxed))) {
        om_heap *h = omi_tls_heap;
        unsigned list = hardened_list(n, family);
        om_pool *pool = h->used[list];
        om_block *b = pool->freeblock;
        if (om_likely(b != NULL) && om_likely(b->check == omi_fast.cookie)) {
            size_t size = pool->block_size;
            uintptr_t k = omi_secure_key(b), next = (uintptr_t)b->next, tag = k ^ omi_free_bits((om_block *)next);
            uintptr_t span = size <= OM_POOL16_MAX ? OM_POOL_SIZE : OM_MPOOL_SIZE;
            /* the tag (and a tagged list's copy in the trailer) authenticates
             * the link, which must also stay in the pool */
            if (om_likely(omi_free_tag_get(b) == tag) && om_likely(next == 0 || ((next ^ (uintptr_t)b) & ~(span - 1)) == 0) &&
                om_likely(list >= OM_PLAIN_LIST || omi_trailer_get(b, size) == tag)) {
                omi_pool_pop(pool, b);
                omi_free_tag_set(b, 0); /* keyed: not for the program to read */
                if (list < OM_PLAIN_LIST)
                    omi_secure_mark_live(b, n, size, k, family);
                return b;
            }
        }
    }
    return NULL;
}

OMI_ENTRY void *om_malloc(size_t n) {
    void *p = hardened_alloc(n, OM_FAMILY_MALLOC);
    return om_likely(p != NULL) ? p : om_malloc_slow(n);
}
#endif

OMI_ENTRY void *om_calloc(size_t count, size_t size) {
    size_t n;
    if (om_unlikely(__builtin_mul_overflow(count, size, &n))) {
        errno = ENOMEM;
        return NULL;
    }
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->alloc(n, 0, 1);
    /* large.c clears only what may not read zero: nothing when fresh */
    if (n > OM_MEDIUM_MAX) {
        const om_alloc_observer *o = observer();
        if (om_unlikely(o != NULL) && o->sampled == NULL)
            return observed_large(o, n, OM_ALIGNMENT, 1);
        return count_event(omi_large_alloc(n, OM_ALIGNMENT, 1), n);
    }
    void *p = om_malloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

/* ---- freeing -------------------------------------------------------------- */
static void free_slow_entry(void *p);
static void free_slow(void *p, uintptr_t e);

/* omi_medium_magic(c) for every medium class, as constants (free may run
 * before any constructor); tests/test_internal_sizeclass.c checks them. */
#define MSIZE(j) ((1ull << (9 + (j) / 4)) + ((j) % 4 + 1) * (1ull << (7 + (j) / 4)))
#define MAGIC(j) [OM_NUM_SMALL_CLASSES + (j)] = (1ull << 48) / MSIZE(j) + 1
#define MAGIC4(j) MAGIC(j), MAGIC(j + 1), MAGIC(j + 2), MAGIC(j + 3)
const uint64_t omi_medium_magic_table[OM_NUM_CLASSES] = {
    MAGIC4(0), MAGIC4(4), MAGIC4(8), MAGIC4(12), MAGIC4(16), MAGIC4(20), MAGIC4(24), MAGIC4(28),
};

#if !OM_HARDENED
static void free_medium(void *p, uintptr_t e);
static void free_small_other(void *p, uintptr_t e, om_pool *pool);

OMI_ENTRY void om_free(void *p) {
    uintptr_t a = (uintptr_t)p;
    uintptr_t e = omi_map_lookup(a);
    if (om_likely((e & OM_MAP_TAG) == OM_MAP_SMALL)) {
        /* &arena->pools[slot], the slot's byte offset in one shift and mask */
        _Static_assert(sizeof(om_pool) == 64, "pool headers are 64 bytes apart");
        om_pool *pool = (om_pool *)((e - OM_MAP_SMALL) + offsetof(om_arena, pools) +
                                    ((a >> (OM_POOL_SHIFT - 6)) & ((OM_SMALL_POOLS - 1) << 6)));
        if (om_likely(pool->heap == omi_tls_free_heap) &&
            om_likely((a & atomic_load_explicit(&omi_fast.free_mask, memory_order_relaxed)) == 0)) {
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
        free_small_other(p, e, pool);
        return;
    } else if ((e & OM_MAP_TAG) == OM_MAP_MEDIUM) {
        free_medium(p, e);
        return;
    }
    free_slow_entry(p);
}

/* A medium block of the calling thread: validated fully (alignment, block
 * boundary by multiplication, free mark) but without omi_free_slow's
 * division; CPython's lists and dicts live here. */
OMI_ENTRY __attribute__((noinline)) static void free_medium(void *p, uintptr_t e) {
    uintptr_t a = (uintptr_t)p;
    om_arena *ar = (om_arena *)(e - OM_MAP_MEDIUM);
    uintptr_t off = a - (uintptr_t)ar->base;
    om_pool *pool = &ar->pools[off >> OM_MPOOL_SHIFT];
    om_block *b = p;
    off &= OM_MPOOL_SIZE - 1;
    uint64_t magic = omi_medium_magic_table[pool->szidx & (OM_NUM_CLASSES - 1)];
    if (om_likely(pool->heap == omi_tls_free_heap) &&
        om_likely((a & atomic_load_explicit(&omi_fast.free_mask, memory_order_relaxed)) == 0) && magic &&
        om_likely(off < pool->nextoffset && omi_medium_offset_ok(off, pool->block_size, magic)) &&
        om_likely(b->check != omi_fast.cookie)) {
        omi_pool_free_local(pool->heap, pool, b);
        return;
    }
    free_slow(p, e);
}

/* A small block of another thread's heap, outside checked mode, from a
 * thread that has a heap: validated as the owner's own free validates it
 * (alignment; the free mark, which the push writes next to anyway), not
 * by omi_free_slow's division: a server's cross-thread frees spent 11% of
 * their instructions there.  A pointer inside a small block is caught in
 * checked mode, for other threads' blocks as for one's own. */
OMI_ENTRY __attribute__((noinline)) static void free_small_other(void *p, uintptr_t e, om_pool *pool) {
    om_heap *owner = pool->heap;
    om_block *b = p;
    if (omi_tls_free_heap != &omi_heap_empty && owner != NULL && owner != omi_tls_heap &&
        ((uintptr_t)p & atomic_load_explicit(&omi_fast.free_mask, memory_order_relaxed)) == 0 &&
        b->check != omi_fast.cookie) {
        omi_heap_free_remote(owner, pool, b);
        return;
    }
    free_slow(p, e); /* observed frees too (free_mask) */
}

#else
/* The hardened build's fast path: a block of a pool of the calling
 * thread whose trailer says live, of family, with its pad's first 8 bytes
 * intact (a plain block: of malloc's family, at a block start, without
 * the free mark) is pushed with its free tag (1); anything else (0) takes
 * the divert, whose checks report it (secure.c).  The trailer also checks the
 * block start: read at any other 16-byte boundary of the carved blocks,
 * the word ^ key(p) passes the tag, the family and the pad bound only by
 * chance (about 2^-50), and so goes to secure.c, which reports it.
 *
 * hardened_live: p, if it is a live block of family in a pool of the
 * calling thread that passes those checks: its pool, its key and the bytes
 * it may hold (the request, or a plain block's size); else NULL. */
static inline __attribute__((always_inline)) om_pool *hardened_live(void *p, int family, uintptr_t *key,
                                                                    size_t *usable) {
    uintptr_t a = (uintptr_t)p;
    uintptr_t e = omi_map_lookup(a);
    om_pool *pool;
    uintptr_t off;
    if (om_likely((e & OM_MAP_TAG) == OM_MAP_SMALL)) {
        pool = (om_pool *)((e - OM_MAP_SMALL) + offsetof(om_arena, pools) +
                           ((a >> (OM_POOL_SHIFT - 6)) & ((OM_SMALL_POOLS - 1) << 6)));
        off = a & (OM_POOL_SIZE - 1);
    } else if ((e & OM_MAP_TAG) == OM_MAP_MEDIUM) {
        om_arena *ar = (om_arena *)(e - OM_MAP_MEDIUM);
        uintptr_t o = a - (uintptr_t)ar->base;
        pool = &ar->pools[o >> OM_MPOOL_SHIFT];
        off = o & (OM_MPOOL_SIZE - 1);
    } else {
        return NULL;
    }
    size_t size = pool->block_size;
    if (om_likely(pool->heap == omi_tls_heap) &&
        om_likely((a & atomic_load_explicit(&omi_fast.secure_mask, memory_order_relaxed)) == 0) &&
        om_likely(off + size <= pool->nextoffset)) { /* the trailer read stays in carved blocks */
        om_block *b = p;
        uintptr_t k = omi_secure_key(b);
        if (pool->list >= OM_PLAIN_LIST) {
            /* no trailer: malloc's family, a block start, not free */
            if (om_likely(family == OM_FAMILY_MALLOC && b->check != omi_fast.cookie &&
                          omi_medium_offset_ok(off, (uint32_t)size,
                                               omi_secure_class.magic[pool->szidx & (OM_NUM_CLASSES - 1)]))) {
                *key = k;
                *usable = size;
                return pool;
            }
        } else {
            uintptr_t d = omi_trailer_get(b, size) ^ k;
            size_t pad = (size_t)(d >> 16);
            if (om_likely((d & 0xffff) == omi_live_bits(family, 0) && pad <= size - OMI_TRAILER &&
                          b->check != omi_fast.cookie && /* freed: the trailer may still say live */
                          omi_secure_pad_intact(b, size - OMI_TRAILER - pad, pad))) {
                *key = k;
                *usable = size - OMI_TRAILER - pad;
                return pool;
            }
        }
    }
    return NULL;
}

/* Push b (hardened_live's) with its free tag. */
static inline __attribute__((always_inline)) void hardened_push(om_pool *pool, om_block *b, uintptr_t k) {
    om_block *old = pool->freeblock;
    b->next = old;
    b->check = omi_fast.cookie;
    omi_secure_set_free_tag(pool, b, k ^ omi_free_bits(old));
    pool->freeblock = b;
    pool->sig ^= omi_block_sig(b);
    if (om_unlikely(--pool->nused == 0 || old == NULL))
        omi_pool_free_transition(pool->heap, pool, old);
}

static inline __attribute__((always_inline)) int hardened_free(void *p, int family) {
    uintptr_t k;
    size_t usable;
    om_pool *pool = hardened_live(p, family, &k, &usable);
    if (om_likely(pool != NULL)) {
        hardened_push(pool, p, k);
        return 1;
    }
    return 0;
}

OMI_ENTRY void om_free(void *p) {
    if (om_unlikely(!hardened_free(p, OM_FAMILY_MALLOC)))
        free_slow_entry(p);
}
#endif /* OM_HARDENED */

OMI_ENTRY __attribute__((noinline)) static void free_slow_entry(void *p) { free_slow(p, omi_map_lookup((uintptr_t)p)); }

/* Every free an observer must see comes here (observed or not, inside an
 * observed call or not: a block must never stay recorded once freed). */
OMI_ENTRY static void free_slow(void *p, uintptr_t e) {
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL)) {
        d->free(p);
        return;
    }
    const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
    if (om_unlikely(o != NULL) && p)
        o->free(p);
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

static void *realloc_plain(void *p, size_t n);

OMI_ENTRY __attribute__((noinline)) static void *observed_realloc(const om_alloc_observer *o, void *p, size_t n) {
    observe_busy = 1;
    size_t old = p ? om_usable_size(p) : 0;
    if (old)
        o->free(p);
    void *q = realloc_plain(p, n);
    if (q)
        o->alloc(q, n);
    else if (old)
        o->alloc(p, old); /* p stays live */
    observe_busy = 0;
    return q;
}

/* With a sampling observer: the old block's record (only a large block
 * can have one) goes before the block may be freed, and the result is a
 * new allocation, counted (and if sampled, moved to a large block). */
OMI_ENTRY __attribute__((noinline)) static void *sampled_realloc(const om_alloc_observer *o, void *p, size_t n) {
    if (p && (omi_map_lookup((uintptr_t)p) & OM_MAP_TAG) == OM_MAP_LARGE) {
        observe_busy = 1;
        o->free(p);
        observe_busy = 0;
    }
    return count_event(realloc_plain(p, n), n);
}

OMI_ENTRY void *om_realloc(void *p, size_t n) {
#if OM_HARDENED
    /* A live block of the calling thread (hardened_live's checks) to a
     * size of the pools: in place when the list stays the same, else moved
     * on the fast paths. */
    if (p && n - 1 < atomic_load_explicit(&omi_fast.secure_limit, memory_order_relaxed)) {
        uintptr_t k;
        size_t usable;
        om_pool *pool = hardened_live(p, OM_FAMILY_MALLOC, &k, &usable);
        if (pool) {
            unsigned list = hardened_list(n, OM_FAMILY_MALLOC);
            if (list == pool->list) {
                if (list < OM_PLAIN_LIST)
                    omi_secure_mark_live(p, n, pool->block_size, k, OM_FAMILY_MALLOC);
                return p;
            }
            void *q = hardened_alloc(n, OM_FAMILY_MALLOC);
            if (q) {
                memcpy(q, p, n < usable ? n : usable);
                hardened_push(pool, p, k);
                return q;
            }
        }
    }
#endif
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->realloc(p, n);
    const om_alloc_observer *o = observer();
    if (om_unlikely(o != NULL))
        return o->sampled ? sampled_realloc(o, p, n) : observed_realloc(o, p, n);
    return realloc_plain(p, n);
}

OMI_ENTRY static void *realloc_plain(void *p, size_t n) {
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
        om_large *l = (om_large *)(e & ~(uintptr_t)OM_MAP_TAG);
        void *q = omi_large_resize(l, n);
        if (q)
            return q;
        if (om_unlikely(p != l->user)) {
            /* A resize the kernel cut short (out of mappings) after moving
             * the block: the caller's pointer is gone, so a NULL cannot
             * leave the block where it was. */
            q = malloc_plain(n);
            if (!q)
                omi_os_fatal("a large block moved by realloc could not be grown, nor copied (out of memory)");
            memcpy(q, l->user, n < have ? n : have);
            omi_large_free(l);
            return q;
        }
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
/* align: a power of two, at most OM_MAX_ALIGNMENT; observed says whether a
 * large block is shown to the observer (om_aligned_alloc's call). */
static void *aligned_plain(size_t align, size_t size, int observed) {
    if (align <= OM_ALIGNMENT)
        return observed ? om_malloc(size) : malloc_plain(size);
    /* Pools start on their own size and hold nothing but blocks, so a class
     * whose size is a multiple of align gives align-aligned blocks: small
     * classes are multiples of 16, medium power-of-two classes of
     * themselves. */
    if (align <= OM_SMALL_MAX && size <= OM_SMALL_MAX) {
        size_t n = (size + align - 1) & ~(align - 1);
        return observed ? om_malloc(n ? n : align) : malloc_plain(n ? n : align);
    }
    if (align <= OM_MEDIUM_MAX && size <= OM_MEDIUM_MAX) {
        size_t n = size < 1024 ? 1024 : size;
        n = (size_t)1 << (64 - __builtin_clzll((unsigned long long)(n - 1)));
        if (n < align)
            n = align;
        return observed ? om_malloc(n) : malloc_plain(n);
    }
    if (!observed)
        return omi_large_alloc(size, align, 0);
    const om_alloc_observer *o = observer();
    if (om_unlikely(o != NULL) && o->sampled == NULL)
        return observed_large(o, size, align, 0);
    return count_event(omi_large_alloc(size, align, 0), size);
}

OMI_ENTRY void *om_aligned_alloc(size_t align, size_t size) {
    if (align == 0 || (align & (align - 1)) || align > OM_MAX_ALIGNMENT) {
        errno = EINVAL;
        return NULL;
    }
    const omi_alloc_divert *d = omi_divert();
    if (om_unlikely(d != NULL))
        return d->alloc(size, align, 0);
    return aligned_plain(align, size, 1);
}

void *omi_alloc_plain(size_t size, size_t align) {
    if (align > OM_MAX_ALIGNMENT) {
        errno = EINVAL;
        return NULL;
    }
    return align ? aligned_plain(align, size, 0) : malloc_plain(size);
}

OMI_ENTRY int om_posix_memalign(void **out, size_t align, size_t size) {
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
