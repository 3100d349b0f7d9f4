/*
 * alloc.h — the object allocator's internal header (pymalloc's layer):
 * the runtime struct that holds its process-wide state and the
 * prototypes its files share, grouped by the file that defines them.
 * Layout structs and constants are in types.h, size classes in
 * sizeclass.h.  Nothing here knows of objects or the collector: layers
 * above keep their own per-block data, keyed by what this one exposes
 * (the ownership map, block and arena addresses).
 *
 * Locking order: heap->lock (omi_heap_lock_arenas) before omi_rt.lock;
 * while holding one heap's lock, another only by trylock.
 * omi_rt.lock guards: metadata, the ownership map's writes, the live-arena
 * list, the heap lists, large blocks and the large cache, statistics walks.
 */
#ifndef OM_ALLOC_H
#define OM_ALLOC_H

#include <string.h>

#include "alloc/types.h"
#include "os/os.h"

/* 1 in the hardened build (libobjmem-malloc-secure.so): always in
 * hardened mode, with fast paths of its own (alloc.c). */
#ifndef OM_HARDENED
#define OM_HARDENED 0
#endif

/* ---- runtime state (one per process) --------------------------------- */
typedef struct om_runtime {
    pthread_mutex_t lock;
    size_t page_size;
    pthread_key_t heap_key;
    om_heap *heaps;              /* every heap ever created */
    om_heap *abandoned;          /* heaps waiting for adoption */
    om_arena *arenas;            /* every live arena (gnext/gprev) */
    om_arena *free_arena_descs;
    om_large *large_live;
    om_large *large_cache;       /* most recent first */
    om_large *free_large_descs;
    /* statistics kept under the lock */
    uint64_t arenas_allocated, arenas_reclaimed, arenas_current, arenas_highwater;
    uint64_t large_count, large_bytes, large_cached, large_cached_bytes;
    uint64_t heaps_active, heaps_abandoned;
} om_runtime;

extern OM_HIDDEN om_runtime omi_rt;
extern OM_HIDDEN om_fast_state omi_fast;
extern OM_HIDDEN om_pool omi_pool_empty;
extern OM_HIDDEN om_heap omi_heap_empty;
extern OM_HIDDEN __thread om_heap *omi_tls_heap __attribute__((tls_model("initial-exec")));
/* The heap whose blocks om_free may free on its fast path: omi_tls_heap, or
 * &omi_heap_empty (owns no pool) in checked mode, so that every free is
 * validated without the fast path testing a flag. */
extern OM_HIDDEN __thread om_heap *omi_tls_free_heap __attribute__((tls_model("initial-exec")));
OM_HIDDEN void omi_heap_sync_checked(void);

/* ---- meta.c: descriptor memory (omi_rt.lock held) ----------------------- */
OM_HIDDEN void *omi_meta_alloc(size_t size);
OM_HIDDEN uint64_t omi_meta_bytes(void);

/* ---- arena_map.c: "is this pointer ours?" ----------------------------- */
enum { OM_MAP_NONE = 0, OM_MAP_SMALL = 1, OM_MAP_MEDIUM = 2, OM_MAP_LARGE = 3, OM_MAP_TAG = 3 };
OM_HIDDEN int omi_map_set(uintptr_t start, size_t size, uintptr_t value);
OM_HIDDEN void omi_map_clear(uintptr_t start, size_t size);

#define OM_MAP_ROOT_BITS 14
#define OM_MAP_LEAF_BITS 14
#define OM_MAP_ADDR_BITS (OM_ARENA_SHIFT + OM_MAP_ROOT_BITS + OM_MAP_LEAF_BITS) /* 48 */
typedef _Atomic(uintptr_t) om_map_leaf[(size_t)1 << OM_MAP_LEAF_BITS];
extern OM_HIDDEN _Atomic(om_map_leaf *) omi_map_root[(size_t)1 << OM_MAP_ROOT_BITS];

/* Descriptor of the 1 MiB slot holding a, tagged with OM_MAP_*; 0 if not ours. */
static inline uintptr_t omi_map_lookup(uintptr_t a) {
    uintptr_t ri = a >> (OM_ARENA_SHIFT + OM_MAP_LEAF_BITS);
    if (om_unlikely(ri >= ((uintptr_t)1 << OM_MAP_ROOT_BITS))) /* above 48 bits: not ours */
        return 0;
    om_map_leaf *leaf = atomic_load_explicit(&omi_map_root[ri], memory_order_acquire);
    if (om_unlikely(!leaf))
        return 0;
    return atomic_load_explicit(&(*leaf)[(a >> OM_ARENA_SHIFT) & (((size_t)1 << OM_MAP_LEAF_BITS) - 1)],
                                memory_order_relaxed);
}

/* The pool header of address a in a small or medium arena (map entry e). */
static inline om_pool *omi_pool_of(uintptr_t a, uintptr_t e) {
    om_arena *ar = (om_arena *)(e & ~(uintptr_t)OM_MAP_TAG);
    unsigned shift = (e & OM_MAP_TAG) == OM_MAP_SMALL ? OM_POOL_SHIFT : OM_MPOOL_SHIFT;
    return &ar->pools[(a - (uintptr_t)ar->base) >> shift];
}

/* ---- arena.c: arenas of a heap ----------------------------------------- */
OM_HIDDEN om_pool *omi_arena_take_pool(om_heap *h, int geom, unsigned list, int *intact);
OM_HIDDEN void omi_arena_return_pool(om_heap *h, om_arena *a, unsigned idx);
OM_HIDDEN uint64_t omi_arena_purge(om_heap *h, int all, int tick);
OM_HIDDEN void omi_arena_release_spares(om_heap *h);
OM_HIDDEN om_pool *omi_arena_pool_at(om_arena *a, unsigned idx);
OM_HIDDEN char *omi_pool_block_base(const om_pool *pool);

/* ---- pool.c: blocks inside pools --------------------------------------- */
OM_HIDDEN void *omi_pool_alloc_slow(om_heap *h, unsigned list);
/* The class whose pools a used list holds (types.h, OM_PLAIN_LIST). */
static inline unsigned omi_list_class(unsigned list) {
    return list >= OM_PLAIN_LIST ? list - OM_PLAIN_LIST : list;
}
OM_HIDDEN void omi_pool_free_transition(om_heap *h, om_pool *pool, om_block *old_head);
OM_HIDDEN int omi_pool_block_offset_ok(const om_pool *pool, uintptr_t a, int carved);
OM_HIDDEN int omi_pool_block_is_free(const om_pool *pool, const om_block *b);
OM_HIDDEN void omi_pool_free_local(om_heap *h, om_pool *pool, om_block *b);
OM_HIDDEN void omi_pool_release_retained(om_heap *h);
OM_HIDDEN void omi_pool_collect_xfree(om_heap *h);

/* The stack of blocks other threads freed into pool (types.h). */
static inline _Atomic(uintptr_t) *omi_pool_xfree(om_pool *pool) { return &omi_pool_arena(pool)->xfree[pool->index]; }

static inline void *omi_pool_pop(om_pool *pool, om_block *b) {
    pool->freeblock = b->next;
    pool->sig ^= omi_block_sig(b);
    pool->nused++;
    b->check = 0;
    return b;
}

/* Hardened mode's versions (secure.c): pop after checking the head's
 * link; push writing the block's free tag. */
OM_HIDDEN void *omi_pool_alloc_secure(om_heap *h, unsigned list);
OM_HIDDEN void omi_pool_free_secure(om_heap *h, om_pool *pool, om_block *b);
/* omi_pool_free_local, or its hardened version in hardened mode (the
 * slow paths that free on behalf of others: heap.c). */
OM_HIDDEN void omi_pool_free_any(om_heap *h, om_pool *pool, om_block *b);

/* ---- large.c: requests above the medium classes ------------------------ */
/* zero: the block must read zero (calloc); only bytes that may not are cleared. */
OM_HIDDEN void *omi_large_alloc(size_t size, size_t align, int zero);
OM_HIDDEN void omi_large_free(om_large *l);
/* A live block to size bytes without copying, or NULL (then copy, from
 * l->user: a resize that moved the block and then stopped leaves it moved). */
OM_HIDDEN void *omi_large_resize(om_large *l, size_t size);
OM_HIDDEN void omi_large_collect(void);
/* Decay the cache if due (never waits for the lock); returns when to call
 * again (0: nothing cached): heap ticks and a background thread use it. */
OM_HIDDEN uint64_t omi_large_purge_old(uint64_t now);
OM_HIDDEN void omi_large_purge_idle(uint64_t now, uint64_t idle_ns);
OM_HIDDEN void omi_large_reclaim(size_t bytes);
OM_HIDDEN void omi_large_stats(om_stats *s); /* omi_rt.lock held */
/* om_heap_check's part (omi_rt.lock held): each problem to report; how many. */
OM_HIDDEN unsigned omi_large_check(void (*report)(void *arg, const char *msg), void *arg);

/* ---- heap.c: thread heaps ------------------------------------------------ */
OM_HIDDEN om_heap *omi_heap_init_thread(void);
OM_HIDDEN void omi_heap_drain_delayed(om_heap *h);
OM_HIDDEN void omi_heap_free_remote(om_heap *owner, om_pool *pool, om_block *b);
OM_HIDDEN void omi_heap_maybe_purge(om_heap *h);
OM_HIDDEN void omi_heap_note_dirty(om_heap *h);
OM_HIDDEN void omi_heap_arm_purge(om_heap *h, uint64_t now);
OM_HIDDEN uint64_t omi_heap_remote_frees(void);
OM_HIDDEN void omi_heap_thread_exit(void *heap);

/* Arena state (usable lists, free and dirty masks, purge deadlines) is
 * the owner's, but the background purge thread works on it too: the
 * owner's slow paths that change it hold the heap's lock (uncontended but
 * for that thread).  An abandoned heap's is changed only by whoever holds
 * its lock already.  Returns whether it locked. */
static inline int omi_heap_lock_arenas(om_heap *h) {
    if (atomic_load_explicit(&h->state, memory_order_relaxed) != OM_HEAP_ACTIVE)
        return 0;
    pthread_mutex_lock(&h->lock);
    return 1;
}
static inline void omi_heap_unlock_arenas(om_heap *h, int locked) {
    if (locked)
        pthread_mutex_unlock(&h->lock);
}
/* With h's lock held: om_trim's work on an abandoned heap, or the arena
 * part of a purge tick on an active one (nothing on its used lists). */
OM_HIDDEN void omi_heap_trim_locked(om_heap *h, int force);
OM_HIDDEN void omi_heap_purge_arenas(om_heap *h, uint64_t now);
OM_HIDDEN int omi_heap_idle(const om_heap *h, uint64_t now);

/* ---- background.c: the purge thread --------------------------------------- */
extern OM_HIDDEN _Atomic int omi_bg_running;
OM_HIDDEN void omi_background_forget(void);

/* ---- secure.c: hardened mode (OBJMEM_SECURE) ---------------------------------
 * Fixed when the runtime initialises, before the first allocation: then
 * the entry points are diverted to secure.c (as debug mode's are to
 * debug/), so the default build's fast paths are never taken and cost
 * nothing.  The hardened build (OM_HARDENED, libobjmem-malloc-secure.so)
 * is always in this mode and gives om_malloc and om_free fast paths of
 * their own for small blocks of the calling thread (alloc.c), which make
 * the same checks and leave for secure.c at anything unusual.  Every
 * block of a pool ends in a trailer word, tag ^ key(block), key a hash of
 * the block's address and a per-process secret (secure.c has the layout),
 *   live      1 | family << 8 | pad << 16   (pad: unused bytes before it)
 * and every free block, in its third word, a tag of the same kind:
 *   free      2 | next << 8                 (the free-list link, authenticated)
 *   xfree     3                             (on another thread's stack)
 * The first pad bytes (up to OMI_PAD_CHECKED) hold the process's pad
 * byte, never 0.  pool.c writes and checks the free tags when it carves,
 * pushes, splices and pops. */
typedef struct omi_secure_state {
    int on;            /* hardened mode */
    int zero;          /* OBJMEM_SECURE=2: zero on free, checked at reuse */
    unsigned shuffle;  /* carving shuffles groups of this many blocks (pool.c) */
    int plain;         /* plain lists (omi_secure_small_list) in use: level 1 */
    uintptr_t secret;
    uint64_t secret2;  /* odd: the key's multiplier */
    uint64_t pad;      /* the pad byte in every byte of a word */
} omi_secure_state;
extern OM_HIDDEN omi_secure_state omi_secure;
typedef struct omi_secure_classes {
    uint64_t magic[OM_NUM_CLASSES]; /* omi_medium_magic, for every class */
    uint32_t span[OM_NUM_CLASSES];  /* bytes a pool's blocks span */
} omi_secure_classes;
extern OM_HIDDEN omi_secure_classes omi_secure_class;
extern OM_HIDDEN const struct omi_alloc_divert omi_secure_divert;
OM_HIDDEN void omi_secure_init(int level);
/* The divert's work with the caller's family (OM_FAMILY_*; -1 at a free:
 * any); C++'s operators pass theirs (debug.c's omi_family_*). */
OM_HIDDEN void *omi_secure_alloc(size_t size, size_t align, int zero, int family);
OM_HIDDEN void omi_secure_free(void *p, int family, const char *op);
OM_HIDDEN void *omi_secure_realloc(void *p, size_t size, int family, const char *op);

enum { OMI_TAG_LIVE = 1, OMI_TAG_FREE = 2, OMI_TAG_XFREE = 3 };
#define OMI_TRAILER sizeof(uintptr_t)
#define OMI_SECURE_MIN_BLOCK 24 /* the trailer after a free block's link and check word */
#define OMI_PAD_CHECKED 8       /* pad bytes filled and checked: an overflow starts at the first */

/* The used list of a small request of n bytes (n <= OM_SMALL_MAX) of
 * malloc's family: the class of n + 8 (at least 24 bytes), unless n
 * leaves its own class less than the trailer's 8 bytes: then that class's
 * plain list, whose live blocks have no trailer (no class up for 8 bytes:
 * half of the requests, CPython's objects being multiples of 8). */
static inline unsigned omi_secure_small_list(size_t n) {
    if (n <= 16)
        return 1;
    unsigned c = (unsigned)((n - 1) >> OM_ALIGNMENT_SHIFT);
    return ((n - 1) & 8) ? OM_PLAIN_LIST + c : c;
}

/* One 64x64->128 multiplication by a secret, its halves folded (wyhash's
 * mix): a key read back out of memory (a stale trailer or tag) gives
 * neither secret back, as an invertible mix would. */
__extension__ typedef unsigned __int128 omi_u128;
static inline uintptr_t omi_secure_key(const void *b) {
    omi_u128 m = (omi_u128)((uintptr_t)b ^ omi_secure.secret) * omi_secure.secret2;
    return (uintptr_t)(m >> 64) ^ (uintptr_t)m;
}
/* The last word of a block of size bytes; read and written relaxed (a
 * neighbour's trailer is read while its owner may write it). */
static inline uintptr_t omi_trailer_get(const void *b, size_t size) {
    return __atomic_load_n((const uintptr_t *)((const char *)b + size - sizeof(uintptr_t)), __ATOMIC_RELAXED);
}
static inline void omi_trailer_set(void *b, size_t size, uintptr_t v) {
    __atomic_store_n((uintptr_t *)((char *)b + size - sizeof(uintptr_t)), v, __ATOMIC_RELAXED);
}
/* A free block's tag: its third word, in the block's first cache line with
 * the link and the free mark (every block of hardened mode has 24 bytes:
 * OMI_SECURE_MIN_BLOCK); a live block's trailer is left as it was. */
static inline uintptr_t omi_free_tag_get(const om_block *b) {
    return __atomic_load_n(&((const uintptr_t *)b)[2], __ATOMIC_RELAXED);
}
static inline void omi_free_tag_set(om_block *b, uintptr_t v) { __atomic_store_n(&((uintptr_t *)b)[2], v, __ATOMIC_RELAXED); }
/* Set a free block's tag: its third word, and for a pool of a tagged list
 * its trailer too (a copy, which an underflow from the block above changes:
 * the pop checks both). */
static inline void omi_secure_set_free_tag(const om_pool *pool, om_block *b, uintptr_t tag) {
    omi_free_tag_set(b, tag);
    if (pool->list < OM_PLAIN_LIST)
        omi_trailer_set(b, pool->block_size, tag);
}
/* Whether a block of a pool is free: its free mark, the per-process random
 * cookie (a live block holds it only by chance, 2^-64, or by a write after
 * free; its tag is what a pop checks). */
static inline int omi_secure_block_free(const om_block *b) {
    return __atomic_load_n(&b->check, __ATOMIC_RELAXED) == omi_fast.cookie;
}
/* A free block's tag before the key: its link (48 bits of address). */
static inline uintptr_t omi_free_bits(const om_block *next) { return (uintptr_t)next << 8 | OMI_TAG_FREE; }
static inline uintptr_t omi_free_tag(const om_block *b, const om_block *next) {
    return omi_secure_key(b) ^ omi_free_bits(next);
}
static inline uintptr_t omi_live_bits(int family, size_t pad) {
    return OMI_TAG_LIVE | (uintptr_t)(unsigned char)family << 8 | (uintptr_t)pad << 16;
}
/* The bytes of a word read at the pad's start that are pad bytes. */
static inline uint64_t omi_pad_mask(size_t pad) {
    return pad >= OMI_PAD_CHECKED ? ~(uint64_t)0 : ((uint64_t)1 << (pad * 8)) - 1;
}
/* Mark b (S bytes) live for size bytes of family, k = key(b): the pad's
 * first word, then the trailer (which the word may overlap). */
static inline void omi_secure_mark_live(void *b, size_t size, size_t S, uintptr_t k, int family) {
    _Static_assert(OMI_PAD_CHECKED == 8, "one word of pad");
    size_t pad = S - OMI_TRAILER - size;
    memcpy((char *)b + size, &omi_secure.pad, 8);
    omi_trailer_set(b, S, k ^ omi_live_bits(family, pad));
}
/* Whether b's first pad bytes (after size bytes, pad of them) are intact. */
static inline int omi_secure_pad_intact(const void *b, size_t size, size_t pad) {
    uint64_t w;
    memcpy(&w, (const char *)b + size, 8);
    return ((w ^ omi_secure.pad) & omi_pad_mask(pad)) == 0;
}

/* ---- runtime.c: process-wide state ----------------------------------------- */
OM_HIDDEN void omi_runtime_init(void);
OM_HIDDEN void omi_runtime_register_atfork(void);

/* ---- error.c: one place for bad-pointer reports ------------------------ */
OM_HIDDEN void omi_report(om_error_code code, const char *op, const void *p);
OM_HIDDEN uint64_t omi_error_foreign_ignored(void);
OM_HIDDEN void omi_error_ignore_foreign(void); /* count one, unreported */
/* For reports built above this layer: fill info's common fields (and
 * clear the rest), then hand info with its message to the handler. */
/* Start a report whose block description is *block (zeroed: foreign). */
OM_HIDDEN void omi_error_start(om_error_info *info, om_block_info *block, om_error_code code, const char *op,
                               const void *p);
OM_HIDDEN void omi_error_deliver(om_error_info *info, const char *msg);

/* ---- check.c: describing blocks, checking heaps ------------------------- */
OM_HIDDEN int omi_describe(const void *p, om_block_info *out);
OM_HIDDEN int omi_block_is_free(const void *p);

/* ---- census.c: the layout copied at one moment, for heap snapshots ---------- */
/* A pool slot's state, as snapshots number them (objmem.h: om_heap_snapshot_write). */
enum {
    OMI_POOL_NEVER = 0,       /* empty, never used since its arena was mapped */
    OMI_POOL_DIRTY = 1,       /* empty, pages resident */
    OMI_POOL_PURGED = 2,      /* empty, pages given back */
    OMI_POOL_USED = 3,        /* some blocks allocated */
    OMI_POOL_FULL = 4,        /* every block allocated */
    OMI_POOL_QUARANTINED = 5  /* free list found corrupt: never reused */
};
typedef struct omi_census_pool {
    uint8_t state;
    int8_t cls;                 /* -1 when empty */
    uint16_t used, carved, capacity;
} omi_census_pool;
typedef struct omi_census_arena {
    uintptr_t base;
    int32_t heap;               /* the owner's id */
    int32_t order;              /* position on its heap's usable list, -1 if not on it */
    uint8_t geom, npools;
    omi_census_pool pools[OM_MAX_POOLS];
} omi_census_arena;
typedef struct omi_census_heap {
    uint32_t id;                /* creation order: 0 is the oldest */
    int tid;                    /* owner thread while active, else 0 */
    uint8_t state;              /* OM_HEAP_* */
} omi_census_heap;
typedef struct omi_census_large {
    uintptr_t base;
    uint64_t usable, map_size, resident; /* usable 0 when cached */
    uint8_t cached;
} omi_census_large;
typedef struct omi_census_slot {
    const void *key;
    uint32_t value;
} omi_census_slot;
/* The caller's arrays and their capacities (cap_slots: a power of two,
 * at least twice cap_heaps + cap_arenas); the counts found, which may
 * exceed the capacities (then only the first are copied). */
typedef struct omi_census {
    omi_census_heap *heaps;
    omi_census_arena *arenas;
    omi_census_large *large;
    omi_census_slot *slots;
    size_t cap_heaps, cap_arenas, cap_large, cap_slots;
    size_t nheaps, narenas, nlarge;
    uint64_t stop_ns;           /* how long the census held the first lock it took */
    int all_locked;             /* every heap's lock was held: every arena has its order */
} omi_census;
/* How many of each there are now (to size the arrays). */
OM_HIDDEN void omi_census_need(size_t *heaps, size_t *arenas, size_t *large);
/* 0, or ENOSPC when a capacity was too small (the counts say how many). */
OM_HIDDEN int omi_census_take(omi_census *c);

/* ---- alloc.c --------------------------------------------------------------- */
extern OM_HIDDEN const uint64_t omi_medium_magic_table[OM_NUM_CLASSES];
OM_HIDDEN void omi_free_slow(void *p, uintptr_t entry, const char *op);
/* The allocator's own paths, never diverted: what a wrapping layer builds
 * on.  align: 0 or a power of two; omi_free_plain validates p fully. */
OM_HIDDEN void *omi_alloc_plain(size_t size, size_t align);
OM_HIDDEN void omi_free_plain(void *p);
OM_HIDDEN size_t omi_usable_size_plain(const void *p);

/* ---- diverting the entry points (runtime.c) -----------------------------------
 * A layer above that wraps every block (debug mode, debug/debug.c) installs
 * its omi_alloc_divert before the first allocation; from then on
 * om_malloc, om_calloc, om_realloc, om_aligned_alloc (so om_posix_memalign),
 * om_usable_size and om_owns test omi_fast.divert once at entry, and
 * om_free pays nothing on its fast path: the calling thread's free heap is
 * &omi_heap_empty (as in checked mode), so every free reaches the slow
 * path, which diverts.  Until the runtime is initialised divert is
 * omi_divert_init, whose functions initialise it (reading OBJMEM_DEBUG,
 * which installs debug mode or clears divert) and call again.
 * omi_divert_install fails (EBUSY) once an allocation has been made. */
extern OM_HIDDEN const omi_alloc_divert omi_divert_init;
OM_HIDDEN int omi_divert_install(const omi_alloc_divert *d);
OM_HIDDEN void omi_alloc_note_started(void);
static inline const omi_alloc_divert *omi_divert(void) {
    return atomic_load_explicit(&omi_fast.divert, memory_order_relaxed);
}

/* Observers (the tracing layer): told of every block handed out, after
 * the allocation, and of every free, before the block goes back (so an
 * address is never reported live twice).  A realloc is a free of the old
 * block and an allocation of the new one; a failed realloc reports the
 * old block allocated again.  Calls made while an observer runs (and the
 * allocations inside om_realloc & co.) are not observed: the observer may
 * call anything, malloc included, without recursion. */
typedef struct om_alloc_observer {
    void (*alloc)(void *p, size_t size);
    void (*free)(void *p);
    /* Non-NULL for a sampling observer, which sees only some blocks and
     * leaves the fast paths open.  Each heap counts down the bytes it hands
     * out (om_heap.sample_left); the allocation that takes the count below
     * zero is moved to a large block of its own (so that its free leaves
     * the fast path and reaches free) and given to sampled(p, size), which
     * records it and returns the bytes to the next sample point.  sampled
     * (NULL, 0) only returns a first distance.  alloc is then never called
     * (except by a wrapping layer, which closes the gates anyway); free is
     * called for every large block freed. */
    int64_t (*sampled)(void *p, size_t size);
} om_alloc_observer;
/* Set (NULL: remove) the observer; takes effect for every thread at its
 * next call. */
OM_HIDDEN void omi_alloc_observe(const om_alloc_observer *obs);
OM_HIDDEN void omi_alloc_gates_update(void); /* after the observer or the diversion changed */
/* Inside an observer's alloc: the return address of the program's call
 * when the entry point could tell it without unwinding, else NULL (or an
 * address inside OMI_ENTRY's section, which is objmem's own). */
OM_HIDDEN const void *omi_alloc_caller(void);
/* Suspend observation on the calling thread (1) or resume it (0); returns
 * the previous state (reports that call libraries that allocate). */
OM_HIDDEN int omi_alloc_observe_suspend(int suspend);

/* Every function between a program's call into the allocator and the
 * observer lives in this section, so that the tracing layer can tell the
 * program's frames from objmem's (trace/stack.c). */
#define OMI_ENTRY __attribute__((section("omi_entry")))

#endif /* OM_ALLOC_H */
