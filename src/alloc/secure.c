/*
 * secure.c — hardened mode (OBJMEM_SECURE=1, or 2 to zero on free): the
 * entry points' divert that checks every block at its free.
 *
 * Decided once, when the runtime initialises (before the first block):
 * the divert is installed, so om_malloc and om_free leave their fast
 * paths by the tests they make anyway (alloc.c's gates) and default mode
 * pays nothing.  OBJMEM_DEBUG wins over it (debug mode checks more).  The
 * hardened build (OM_HARDENED: libobjmem-malloc-secure.so) is always in
 * this mode, and its om_malloc and om_free (alloc.c) serve small blocks of
 * the calling thread themselves, with the layout and checks below (the
 * neighbour's trailer excepted); they leave the rest, and anything that
 * fails a check, to this file, which reports it.
 *
 * A block of a pool, S bytes (the class chosen for size + 8, at least 24
 * so that a free block's link, free mark and tag fit before the trailer):
 *
 *   ┌──────────────────────┬───────────────┬─────────────────────────┐
 *   │ size bytes (user)    │ pad: pad bytes│ trailer: tag ^ key(p)   │
 *   └──────────────────────┴───────────────┴─────────────────────────┘
 *   0                      size            S - 8                     S
 *
 * key(p) mixes the block's address with a per-process random secret; the
 * first pad bytes (up to OMI_PAD_CHECKED, 8: an overflow starts with the
 * first byte past the request) hold the process's pad byte, never 0.  The
 * trailer's tag (alloc.h) says live, with the family and pad.  A free
 * block carries its free mark in its second word and a tag in its third:
 * free on the pool's list (with its link: pool.c checks it before
 * following the link), or on another thread's stack; a block of a tagged
 * list keeps a copy of the first in its trailer (alloc.h,
 * omi_secure_set_free_tag), checked at the pop too.  The tag is cleared
 * when the block is handed out.  Keys multiply by a second secret into
 * 128 bits (alloc.h): a key read back does not give the secrets.  A large
 * block (one mapping, large.c) has the same layout between two PROT_NONE
 * guards: a page (or the alignment) before, a page after the trailer;
 * freed, it is PROT_NONE whole while large.c caches it.
 *
 * Plain blocks (level 1 only): a malloc of 17..512 bytes that leaves its
 * class less than 8 bytes comes from a plain list of that class (types.h,
 * alloc.h's omi_secure_small_list) instead of the next class up: its
 * pools' live blocks have no trailer and no pad (no canary), are malloc's
 * family, and are told free by the free mark and the free tag together;
 * their free blocks are tagged as every pool's are.  That saves the 16
 * bytes the trailer would cost half of the requests.
 *
 * At a free, in O(1) and in this order: the pointer is objmem's (else a
 * foreign free: reported, unless the loader's early allocator gave it out,
 * os/loader.c), a block start (misaligned / interior), live (the free
 * mark: double free, at the second free whatever came between), its
 * trailer and pad intact (1 byte past the request is caught), the family
 * the caller's (C++ delete vs delete[] vs free), and the trailer of the
 * block just below it in the pool intact (an underflow of 1 byte and up).
 * Each report goes through the error handler (error.c), whose default
 * aborts; a handler that returns makes the call a no-op.  Pools also get
 * shuffled carving and tagged links (pool.c), and arenas a PROT_NONE last
 * pool (arena.c).  OBJMEM_SECURE=2 zeroes each block at its free and
 * pool.c checks it still reads zero when handed out again.
 *
 * Costs over default mode: 8 bytes a block of the tagged lists; here, the
 * map lookup, a block-start check, the trailer, 8 pad bytes and the
 * neighbour's trailer at every free, a pad word and the trailer at every
 * allocation, one multiplication per key; three mprotect calls per large
 * block (two at the allocation, one at the free).  The hardened build's
 * fast paths: about 35 instructions a malloc/free pair, and for a tagged
 * block its last cache line (the trailer).
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

omi_secure_state omi_secure;

/* Carving shuffles the blocks it links in groups of consecutive blocks
 * (pool.c): at level 1 groups of SECURE_SHUFFLE_GROUP, so a block's
 * neighbours in allocation order are one of a few, while blocks handed
 * out one after the other stay within a few cache lines of each other.
 * Shuffling whole carves (up to 256 blocks, a few pages) as level 2 does
 * costs CPython's workloads 15-30% more than no shuffle on this
 * machine: objects built together end up scattered, which defeats the
 * caches and the prefetcher. */
#define SECURE_SHUFFLE_GROUP 4
#define SECURE_SHUFFLE_ALL 65536

/* Per class, filled at init: the block-index magic (sizeclass.h) and the
 * bytes a pool's blocks span, so a block start is checked without a
 * division (alloc.c's hardened free reads magic too). */
omi_secure_classes omi_secure_class;

/* a is the start of a block of pool (mine: carved already; only the
 * owner may read nextoffset); pool_mask: the pool's size - 1. */
static int block_start_ok(const om_pool *pool, uintptr_t a, uintptr_t pool_mask, int mine) {
    unsigned c = pool->szidx & (OM_NUM_CLASSES - 1);
    uint64_t off = a & pool_mask;
    uint32_t size = pool->block_size;
    return size == omi_class_size(c) && off < (mine ? pool->nextoffset : omi_secure_class.span[c]) &&
           omi_medium_offset_ok(off, size, omi_secure_class.magic[c]);
}

static inline uintptr_t pool_mask_of(uintptr_t e) {
    return ((e & OM_MAP_TAG) == OM_MAP_SMALL ? OM_POOL_SIZE : OM_MPOOL_SIZE) - 1;
}

/* The block size to ask a pool for: size + trailer, fitted to align as
 * alloc.c's aligned_plain fits it; 0 for a large block. */
static size_t pool_request(size_t size, size_t align) {
    if (size > OM_MEDIUM_MAX)
        return 0;
    size_t n = size + OMI_TRAILER < OMI_SECURE_MIN_BLOCK ? OMI_SECURE_MIN_BLOCK : size + OMI_TRAILER;
    if (align <= OM_ALIGNMENT)
        return n <= OM_MEDIUM_MAX ? n : 0;
    if (align <= OM_SMALL_MAX && n <= OM_SMALL_MAX)
        return (n + align - 1) & ~(align - 1);
    if (align <= OM_MEDIUM_MAX && n <= OM_MEDIUM_MAX) {
        size_t m = n < 1024 ? 1024 : n;
        m = (size_t)1 << (64 - __builtin_clzll((unsigned long long)(m - 1)));
        return m < align ? align : m;
    }
    return 0;
}

static om_large *large_of(const void *p) {
    return (om_large *)(omi_map_lookup((uintptr_t)p) & ~(uintptr_t)OM_MAP_TAG);
}

/* A large block is handed out past its leading guard: a page, or align
 * bytes when that is more.  The lead of p in l, 0 if p is not a block. */
static size_t large_lead(const om_large *l, const void *p) {
    size_t d = (size_t)((const char *)p - l->user), page = omi_os_page_size();
    if ((const char *)p < l->user || d < page || (d & (d - 1)) || ((uintptr_t)p & (d - 1)))
        return 0;
    if (d != page && d + 2 * page > l->usable)
        return 0;
    return d;
}

/* The used list (types.h) of a request of family, or -1 for a large
 * block: a plain list only at level 1 (OBJMEM_SECURE=2 gives every block
 * its trailer), for malloc's family (the others need the trailer's family
 * byte) and no alignment beyond the usual. */
static int request_list(size_t size, size_t align, int family) {
    if (omi_secure.plain && family == OM_FAMILY_MALLOC && align <= OM_ALIGNMENT && size - 1 < OM_SMALL_MAX)
        return (int)omi_secure_small_list(size);
    size_t need = pool_request(size, align);
    return need ? (int)omi_size_class(need) : -1;
}

/* ---- allocation ------------------------------------------------------------- */
/* Tell o of p (n bytes), unless the thread is inside an observer already. */
static void observe_alloc(const om_alloc_observer *o, void *p, size_t n) {
    int busy = omi_alloc_observe_suspend(1);
    if (!busy)
        o->alloc(p, n);
    omi_alloc_observe_suspend(busy);
}

/* A block for size bytes: *bytes its S, *plain whether it has no trailer. */
static void *alloc_block(size_t size, size_t align, int zero, int family, size_t *bytes, int *plain) {
    int list = request_list(size, align, family);
    *plain = list >= OM_PLAIN_LIST;
    if (list >= 0) {
        *bytes = omi_class_size(omi_list_class((unsigned)list));
        char *p = omi_pool_alloc_secure(omi_tls_heap, (unsigned)list);
        if (p && zero)
            memset(p, 0, size);
        return p;
    }
    size_t page = omi_os_page_size();
    size_t lead = align > page ? align : page;
    if (size > SIZE_MAX / 2 || lead > SIZE_MAX / 4) {
        errno = ENOMEM;
        return NULL;
    }
    size_t body = (size + OMI_TRAILER + page - 1) & ~(page - 1);
    char *base = omi_large_alloc(lead + body + page, align < OM_ALIGNMENT ? OM_ALIGNMENT : align, 0);
    if (!base)
        return NULL;
    om_large *l = large_of(base);
    size_t usable = l->usable;
    *bytes = usable - lead - page;
    /* All of it PROT_NONE (a cached block is already: release), then the
     * body read/write: the page before it and the page after are the
     * guards.  A block without its guards is not handed out: when the
     * kernel cannot split the mapping (out of mappings: vm.max_map_count),
     * it goes back and the call fails. */
    if (omi_os_protect(base, usable, 0) != 0 || omi_os_protect(base + lead, *bytes, 1) != 0) {
        omi_large_free(l);
        errno = ENOMEM;
        return NULL;
    }
    if (zero)
        memset(base + lead, 0, size); /* large.c clears only as it hands out: not here */
    return base + lead;
}

OMI_ENTRY void *omi_secure_alloc(size_t size, size_t align, int zero, int family) {
    size_t bytes;
    int plain;
    char *p = alloc_block(size, align, zero, family, &bytes, &plain);
    if (!p)
        return NULL;
    if (!plain)
        omi_secure_mark_live(p, size, bytes, omi_secure_key(p), family);
    const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
    if (om_unlikely(o != NULL))
        observe_alloc(o, p, size);
    return p;
}

/* ---- finding and checking a block ---------------------------------------------- */
typedef struct found {
    char *p;
    size_t bytes;      /* S: up to the trailer's end */
    size_t size;       /* the request */
    int family;
    om_pool *pool;     /* NULL: large */
    om_large *large;
    int plain;         /* a plain list's block: no trailer while live */
} found;

/* 1 if the block b of bytes bytes (of a tagged list) has a sound trailer:
 * live, or free with its tag's copy (on another thread's stack, its
 * trailer is what it was until its owner splices it). */
static int trailer_sound(const char *b, size_t bytes) {
    uintptr_t k = omi_secure_key(b), t = omi_trailer_get(b, bytes);
    if (omi_secure_block_free((const om_block *)b)) {
        uintptr_t tag = omi_free_tag_get((const om_block *)b);
        return (tag ^ k) == OMI_TAG_XFREE || t == tag;
    }
    uintptr_t d = t ^ k;
    return (d & 0xff) == OMI_TAG_LIVE && (d >> 16) <= bytes - OMI_TRAILER;
}

/* pool_mask: the pool's size - 1 (pools start on their size), 0 for a
 * large block. */
static om_error_code check_block(found *f, int mine, uintptr_t pool_mask) {
    char *p = f->p;
    uintptr_t k = omi_secure_key(p);
    /* Free: the free mark (whatever a write after free did to the rest) */
    if (f->pool && omi_secure_block_free((om_block *)p))
        return OM_ERR_DOUBLE_FREE;
    if (f->plain) {
        f->size = f->bytes;
        f->family = OM_FAMILY_MALLOC;
        return 0;
    }
    uintptr_t d = omi_trailer_get(p, f->bytes) ^ k;
    if ((d & 0xff) != OMI_TAG_LIVE || (d >> 16) > f->bytes - OMI_TRAILER)
        return OM_ERR_BUFFER_OVERFLOW;
    size_t pad = (size_t)(d >> 16);
    f->size = f->bytes - OMI_TRAILER - pad;
    f->family = (int)(d >> 8 & 0xff);
    if (!omi_secure_pad_intact(p, f->size, pad))
        return OM_ERR_BUFFER_OVERFLOW;
    /* The neighbour below: its trailer ends where this block starts.  Only
     * the owner looks (it alone pops and pushes, so a free tag's link is
     * stable); the block at the pool's start has none. */
    if (mine && ((uintptr_t)p & pool_mask) && !trailer_sound(p - f->bytes, f->bytes))
        return OM_ERR_BUFFER_UNDERFLOW;
    return 0;
}

/* Report a pointer objmem did not hand out, unless the loader did. */
static void foreign(const void *p, const char *op) {
    if (omi_loader_block(p))
        omi_error_ignore_foreign();
    else
        omi_report(OM_ERR_FOREIGN_POINTER, op, p);
}

/* Validate p as free would (family -1: any); 0 and *f, or reported. */
static int find(void *p, int family, const char *op, found *f) {
    uintptr_t a = (uintptr_t)p, e = omi_map_lookup(a);
    om_error_code code = 0;
    memset(f, 0, sizeof *f);
    f->p = p;
    if (e == 0) {
        foreign(p, op);
        return -1;
    }
    if ((e & OM_MAP_TAG) == OM_MAP_LARGE) {
        om_large *l = (om_large *)(e & ~(uintptr_t)OM_MAP_TAG);
        size_t lead = large_lead(l, p);
        f->large = l;
        f->bytes = lead ? l->usable - lead - omi_os_page_size() : 0;
        if (l->cached)
            code = OM_ERR_DOUBLE_FREE;
        else if (!lead)
            code = (a & (OM_ALIGNMENT - 1)) ? OM_ERR_MISALIGNED_POINTER : OM_ERR_INTERIOR_POINTER;
        else
            code = check_block(f, 0, 0);
    } else if (a & (OM_ALIGNMENT - 1)) {
        code = OM_ERR_MISALIGNED_POINTER;
    } else {
        om_arena *ar = (om_arena *)(e & ~(uintptr_t)OM_MAP_TAG);
        om_pool *pool = omi_pool_of(a, e);
        int mine = pool->heap == omi_tls_heap;
        f->pool = pool;
        f->plain = pool->list >= OM_PLAIN_LIST;
        if ((unsigned)(pool - ar->pools) >= ar->ntotal)
            code = OM_ERR_INTERIOR_POINTER; /* the arena's guard pool */
        else if (pool->heap == NULL || (mine && (ar->free_mask >> (pool - ar->pools) & 1)))
            code = OM_ERR_DOUBLE_FREE; /* its whole pool is free (a returned one has no heap) */
        else if (!block_start_ok(pool, a, pool_mask_of(e), mine))
            code = OM_ERR_INTERIOR_POINTER;
        else {
            f->bytes = pool->block_size;
            code = check_block(f, mine, pool_mask_of(e));
        }
    }
    if (!code && family >= 0 && f->family != family)
        code = OM_ERR_FAMILY_MISMATCH;
    if (code) {
        omi_report(code, op, p);
        return -1;
    }
    return 0;
}

/* ---- freeing ------------------------------------------------------------------ */
static void release(found *f) {
    if (f->large) {
        /* Cached, the whole block is PROT_NONE until handed out again: a
         * write after free faults (if the kernel can change it: else the
         * block stays accessible in the cache, which protects it again
         * before handing it out). */
        if (omi_secure.zero)
            memset(f->p, 0, f->bytes);
        (void)omi_os_protect(f->large->user, f->large->usable, 0);
        omi_large_free(f->large);
        return;
    }
    om_pool *pool = f->pool;
    om_block *b = (om_block *)f->p;
    om_heap *h = omi_tls_heap;
    if (pool->heap == h) {
        if (omi_secure.zero)
            memset(b, 0, f->bytes);
        omi_pool_free_secure(h, pool, b);
        return;
    }
    /* Another thread's pool: free (the mark, the tag) before anything else
     * changes, for the owner may read it as a neighbour meanwhile. */
    omi_free_tag_set(b, omi_secure_key(b) ^ OMI_TAG_XFREE);
    __atomic_store_n(&b->check, omi_fast.cookie, __ATOMIC_RELAXED);
    if (omi_secure.zero)
        memset((char *)b + 3 * sizeof(uintptr_t), 0, f->bytes - 3 * sizeof(uintptr_t));
    omi_heap_free_remote(pool->heap, pool, b);
}

OMI_ENTRY void omi_secure_free(void *p, int family, const char *op) {
    if (!p)
        return;
    const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
    if (om_unlikely(o != NULL))
        o->free(p);
    found f;
    if (find(p, family, op, &f) == 0)
        release(&f);
}

OMI_ENTRY void *omi_secure_realloc(void *p, size_t n, int family, const char *op) {
    if (!p)
        return omi_secure_alloc(n, 0, 0, family);
    found f;
    if (find(p, -1, op, &f) != 0) {
        errno = EINVAL;
        return NULL;
    }
    /* Same list: in place, by the owner only (its trailer is what the
     * owner's frees read as the neighbour's) */
    if (f.pool && f.pool->heap == omi_tls_heap && request_list(n, 0, f.family) == (int)f.pool->list) {
        const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
        if (om_unlikely(o != NULL))
            o->free(p);
        if (!f.plain)
            omi_secure_mark_live(p, n, f.bytes, omi_secure_key(p), f.family);
        if (om_unlikely(o != NULL))
            observe_alloc(o, p, n);
        return p;
    }
    void *q = omi_secure_alloc(n, 0, 0, f.family);
    if (!q)
        return NULL;
    memcpy(q, p, n < f.size ? n : f.size);
    const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
    if (om_unlikely(o != NULL))
        o->free(p);
    release(&f);
    return q;
}

/* The request size of a live block p (a plain one's: its size), or -1 if
 * p is not one (no report). */
static long long live_size(const void *p) {
    uintptr_t a = (uintptr_t)p, e = p ? omi_map_lookup(a) : 0;
    size_t bytes;
    if (e == 0)
        return -1;
    if ((e & OM_MAP_TAG) == OM_MAP_LARGE) {
        om_large *l = (om_large *)(e & ~(uintptr_t)OM_MAP_TAG);
        size_t lead = large_lead(l, p);
        if (l->cached || !lead)
            return -1;
        bytes = l->usable - lead - omi_os_page_size();
    } else {
        om_arena *ar = (om_arena *)(e & ~(uintptr_t)OM_MAP_TAG);
        om_pool *pool = omi_pool_of(a, e);
        if ((a & (OM_ALIGNMENT - 1)) || (unsigned)(pool - ar->pools) >= ar->ntotal ||
            (ar->free_mask >> (pool - ar->pools) & 1) || !block_start_ok(pool, a, pool_mask_of(e), 0))
            return -1;
        bytes = pool->block_size;
        if (omi_secure_block_free(p))
            return -1;
        if (pool->list >= OM_PLAIN_LIST) /* no trailer: the whole block */
            return (long long)bytes;
    }
    uintptr_t d = omi_trailer_get(p, bytes) ^ omi_secure_key(p);
    if ((d & 0xff) != OMI_TAG_LIVE || (d >> 16) > bytes - OMI_TRAILER)
        return -1;
    return (long long)(bytes - OMI_TRAILER - (size_t)(d >> 16));
}

/* ---- the divert: om_malloc & co. are family 'm' -------------------------------- */
static void *divert_alloc(size_t size, size_t align, int zero) {
    return omi_secure_alloc(size, align, zero, OM_FAMILY_MALLOC);
}
static void divert_free(void *p) { omi_secure_free(p, OM_FAMILY_MALLOC, "om_free"); }
static void *divert_realloc(void *p, size_t n) { return omi_secure_realloc(p, n, OM_FAMILY_MALLOC, "om_realloc"); }
static size_t divert_usable_size(const void *p) {
    long long n = live_size(p);
    return n < 0 ? 0 : (size_t)n;
}
static int divert_owns(const void *p) { return live_size(p) >= 0; }

const omi_alloc_divert omi_secure_divert = {divert_alloc, divert_free, divert_realloc, divert_usable_size,
                                            divert_owns};

/* Called once by runtime.c, before the first allocation. */
void omi_secure_init(int level) {
    uint64_t s[3] = {0, 0, 0};
    if (getrandom(s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        for (int i = 0; i < 3; i++) /* no entropy yet: addresses and the clock, mixed */
            s[i] = ((uintptr_t)&s ^ (uint64_t)omi_os_now_ns() ^ (uint64_t)i << 56) * 0x9E3779B97F4A7C15ull;
    omi_secure.secret = (uintptr_t)s[0];
    omi_secure.secret2 = s[1] | 1;
    omi_secure.pad = (s[2] >> 40) % 255 + 1; /* never 0: a stray NUL shows */
    omi_secure.pad *= 0x0101010101010101ull;
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        omi_secure_class.magic[c] = omi_medium_magic(c);
        omi_secure_class.span[c] = (uint32_t)(omi_class_capacity(c) * omi_class_size(c));
    }
    omi_secure.zero = level >= 2;
    omi_secure.plain = level < 2;
    omi_secure.shuffle = level >= 2 ? SECURE_SHUFFLE_ALL : SECURE_SHUFFLE_GROUP;
    omi_secure.on = 1;
    omi_loader_note();
    omi_divert_install(&omi_secure_divert);
}
