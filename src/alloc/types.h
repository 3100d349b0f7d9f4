/*
 * types.h — every layout struct and tunable constant of the allocator.
 *
 *   kernel ──mmap──▶ arena (1 MiB small / 4 MiB medium, aligned to its size)
 *
 *   small arena: 64 pools of 16 KiB      medium arena: 16 pools of 256 KiB
 *   ┌────────┬────────┬─────┬────────┐   ┌────────────┬─────┬────────────┐
 *   │ blocks │ blocks │ ... │ blocks │   │ blocks     │ ... │ blocks     │
 *   └────────┴────────┴─────┴────────┘   └────────────┴─────┴────────────┘
 *        ▲ every block of a pool has the pool's one size class
 *
 *   arena descriptor (metadata):  base, heap, free/dirty masks, list links,
 *                                 pools[64]: one 64-byte header per pool
 *   pool of p = desc->pools[(p - base) >> pool_shift]
 *
 *   large request: its own mapping, described by an om_large in metadata.
 *
 * Pool headers live in the arena descriptor, not at the start of the pool
 * as in pymalloc: measured on a 1 M-block churn, inline headers (one per
 * 16 KiB, each on its own page) made the header load of every free a TLB
 * miss; packed 64 to a descriptor they stay cached.  Pools hold nothing but
 * blocks, so power-of-two classes are naturally aligned and purging a pool
 * never touches a header.  Descriptors (om_arena, om_large, om_heap) live
 * in metadata memory (meta.c).  The ownership map (arena_map.c) maps every
 * 1 MiB slot that objmem mapped to its descriptor, tagged with the kind.
 *
 * Ownership: an arena belongs to exactly one heap; only that heap's thread
 * (or whoever holds the heap's lock once it is abandoned) touches its pools.
 */
#ifndef OM_TYPES_H
#define OM_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "objmem.h"

/* ---- geometry ------------------------------------------------------- */
#define OM_ALIGNMENT 16
#define OM_ALIGNMENT_SHIFT 4
#define OM_SMALL_MAX 512
#define OM_MEDIUM_MAX (128 * 1024)
#define OM_MAX_ALIGNMENT ((size_t)1 << 30) /* om_aligned_alloc's documented limit */

#define OM_POOL_SHIFT 14 /* small pool: 16 KiB */
#define OM_POOL_SIZE ((size_t)1 << OM_POOL_SHIFT)
#define OM_ARENA_SHIFT 20 /* small arena: 1 MiB; also the map granule */
#define OM_ARENA_SIZE ((size_t)1 << OM_ARENA_SHIFT)

#define OM_MPOOL_SHIFT 18 /* medium pool: 256 KiB */
#define OM_MPOOL_SIZE ((size_t)1 << OM_MPOOL_SHIFT)
#define OM_MARENA_SHIFT 22 /* medium arena: 4 MiB */
#define OM_MARENA_SIZE ((size_t)1 << OM_MARENA_SHIFT)

#define OM_SMALL_POOLS (OM_ARENA_SIZE / OM_POOL_SIZE)    /* 64 */
#define OM_MEDIUM_POOLS (OM_MARENA_SIZE / OM_MPOOL_SIZE) /* 16 */
#define OM_MAX_POOLS OM_SMALL_POOLS

/* Classes of up to OM_POOL16_MAX bytes live in the 16 KiB pools of small
 * arenas (at least 16 blocks a pool), the rest in medium ones: a heap that
 * uses a class holds one pool of it at least, and a 256 KiB pool per
 * class of 640..1024 bytes per thread is what made many-thread servers
 * 2x the peers' RSS. */
#define OM_POOL16_MAX 1024

enum { OM_GEOM_SMALL = 0, OM_GEOM_MEDIUM = 1, OM_NGEOM = 2 };

/* ---- blocks and pools -------------------------------------------------
 * A free block holds the free-list link and a check word equal to
 * omi_fast.cookie: a block whose check word is the cookie is (almost
 * certainly) free, which makes double frees cheap to suspect.  Allocation
 * clears the check word.
 */
typedef struct om_block {
    struct om_block *next;
    uintptr_t check;
} om_block;

struct om_heap;
struct om_arena;

/* Pool states: on heap->used[class] (USED, possibly exhausted at the head
 * until the next allocation notices), on no list (FULL), or a set bit in
 * the arena's free_mask (EMPTY; header contents meaningless). */
typedef struct om_pool {
    om_block *freeblock;      /* free list; NULL when nothing is free */
    uint32_t nused;           /* allocated blocks */
    uint32_t block_size;
    struct om_heap *heap;     /* owner, equal to arena->heap */
    struct om_pool *next;     /* used list */
    struct om_pool *prev;
    uint32_t sig;             /* XOR of omi_block_sig() over the free list */
    uint32_t carved_sig;      /* ... over every carved block */
    uint32_t nextoffset;      /* next uncarved block, from the block base */
    uint32_t maxnextoffset;   /* last offset where a whole block fits */
    uint8_t szidx;            /* size class */
    uint8_t state;            /* OM_POOL_USED / OM_POOL_FULL */
    uint8_t index;            /* slot in the arena */
    uint8_t quarantined;      /* free list found corrupt: never reused */
    uint8_t list;             /* its used list (om_heap.used): szidx, or a plain list */
} om_pool;

_Static_assert(sizeof(om_pool) <= 64, "a pool header fits one cache line");

/* Free-list membership signature: every push and pop XORs the block's
 * hash into pool->sig, and carving XORs each new block into carved_sig, so
 * when a pool's count says it is empty, sig must equal carved_sig.  A block
 * freed twice makes the two sets differ (pool.c).  Multiplying by an odd
 * constant is a bijection on the low 32 bits, which differ between any two
 * blocks of a pool: two blocks never share a hash. */
static inline uint32_t omi_block_sig(const void *b) { return (uint32_t)((uintptr_t)b * 0x6F4A7C15u); }

/* ---- arenas ----------------------------------------------------------- */
typedef struct om_arena {
    char *base;
    struct om_heap *heap;
    struct om_arena *next, *prev;    /* heap's usable list (sorted) */
    struct om_arena *gnext, *gprev;  /* runtime's list of live arenas */
    uint64_t free_mask;              /* bit i: pool i empty */
    uint64_t dirty_mask;             /* empty pools with resident pages */
    uint64_t fresh_mask;             /* dirty pools emptied since the last purge tick */
    uint64_t purged_mask;            /* empty pools purged since they last served */
    uint64_t served_mask;            /* pools that have served a class since the arena was mapped */
    uint32_t nfree;                  /* popcount(free_mask) */
    uint32_t ntotal;
    uint8_t geom;
    uint8_t in_usable;               /* on heap's usable list */
    _Alignas(64) om_pool pools[OM_MAX_POOLS]; /* ntotal used */
    /* Frees from other threads, a stack per pool (xfree[i] for pools[i]):
     * kept apart from the headers, so that a thread freeing into a pool
     * does not write the line its owner's fast path works on, and frees
     * into different pools do not all meet on one line.  A word holds the
     * stack's top block | flags (OM_XFREE_*, blocks are 16-byte aligned). */
    _Alignas(64) _Atomic(uintptr_t) xfree[OM_MAX_POOLS];
} om_arena;

/* xfree's flag: the pool is FULL and its owner wants to hear of the first
 * block freed into it (set only while the stack is empty).  That freer
 * clears it and pushes the block on the owner heap's `delayed` stack
 * instead, so the owner finds the pool again (heap.c). */
#define OM_XFREE_WATCH ((uintptr_t)1)
#define OM_XFREE_FLAGS ((uintptr_t)15)

/* A pool header lives at arena->pools[index]. */
static inline om_arena *omi_pool_arena(const om_pool *p) {
    return (om_arena *)((char *)(p - p->index) - offsetof(om_arena, pools));
}

/* Usable arenas of one geometry, sorted by ascending nfree, with
 * lasta[k] = last arena on the list with exactly k free pools (CPython's
 * nfp2lasta), so re-sorting after a pool changes state is O(1). */
typedef struct om_arena_list {
    om_arena *head;
    om_arena *spare;                  /* the one wholly free arena kept */
    om_arena *lasta[OM_MAX_POOLS + 1];
} om_arena_list;

/* ---- large blocks ------------------------------------------------------
 * One mapping each (large.c has the picture and the states).  base is
 * 1 MiB aligned and map_size a multiple of 1 MiB, so a mapping owns its
 * ownership-map slots alone; pages past the request cost no memory until
 * written.  resident <= dirty <= map_size: the pages at and past dirty read
 * zero (never written since the mapping was made or purged), those at and
 * past resident are not resident. */
typedef struct om_large {
    char *base;              /* mapping */
    size_t map_size;         /* bytes reserved: a multiple of 1 MiB */
    char *user;              /* pointer handed out (== base) */
    size_t usable;           /* live: bytes handed out, a multiple of the page size */
    size_t dirty;            /* bytes from base that may not read zero */
    size_t resident;         /* bytes from base whose pages may be resident */
    struct om_large *next, *prev; /* live list, or cache list (newest first) */
    uint64_t cached_at_ns;   /* cached: when it entered its cache state */
    uint8_t cached;          /* not handed out: in the cache (or busy) */
    uint8_t purged;          /* cached, its pages given back by decay: unmapped at the next deadline */
    uint8_t busy;            /* cached, off the list while an OS call runs on it */
} om_large;

/* ---- heaps --------------------------------------------------------------
 * One per thread.  The fast paths touch only used[] and the pools.
 */
enum { OM_HEAP_EMPTY = 0, OM_HEAP_ACTIVE = 1, OM_HEAP_ABANDONED = 2 };

/* Used lists: one per class, then, for hardened mode, one per small class
 * for its plain pools, whose live blocks carry no trailer (secure.c):
 * used[OM_PLAIN_LIST + c]. */
#define OM_PLAIN_LIST OM_NUM_CLASSES
#define OM_NUM_LISTS (OM_NUM_CLASSES + OM_NUM_SMALL_CLASSES)

typedef struct om_heap {
    om_pool *used[OM_NUM_LISTS];     /* &omi_pool_empty when none */
    /* Bytes this heap may still hand out before its next allocation event
     * (alloc.c, sample_event): a sample point of a sampling observer, or
     * without one, a re-arm every OMI_SAMPLE_IDLE bytes. */
    int64_t sample_left;
    uint64_t sample_epoch;           /* omi_fast.sample_epoch its countdown was drawn in */
    uint64_t remote_frees;           /* blocks this heap's thread freed into others */
    _Atomic int state;
    pthread_mutex_t lock;            /* arena state: owner, purge thread, users of an abandoned heap */
    om_arena_list arenas[OM_NGEOM];
    om_pool *retained[OM_NUM_LISTS]; /* empty pool kept on its used list */
    uint64_t purge_deadline_ns;      /* next purge tick; 0: nothing dirty or retained */
    uint64_t last_active_ns;         /* when a pool last became empty or was taken */
    uint64_t last_busy_purge_ns;     /* the last purge of a busy tick (heap.c) */
    uint64_t ndirty;                 /* pools in dirty masks */
    uint32_t refaults;               /* purged pools taken again since the last tick */
    uint32_t released;               /* arenas given back and not yet made up for */
    uint8_t delay_shift;             /* purge delay: the option's << this (heap.c) */
    int tid;                         /* owner thread's id while ACTIVE, else 0 (under lock) */
    int collecting;                  /* omi_pool_collect_xfree runs: no purge */
    struct om_heap *next_all;        /* runtime's list of every heap */
    struct om_heap *next_abandoned;
    /* The first block freed by another thread into each FULL pool (see
     * OM_XFREE_WATCH): a lock-free stack, on a line of its own. */
    _Alignas(64) _Atomic(om_block *) delayed;
} om_heap;

struct om_alloc_observer;

/* Entry points of a layer that wraps the allocator (debug mode, debug/):
 * om_malloc & co. hand their calls to it while omi_fast.divert points to
 * one (alloc.h). */
typedef struct omi_alloc_divert {
    void *(*alloc)(size_t size, size_t align, int zero); /* align 0: om_malloc's */
    void (*free)(void *p);
    void *(*realloc)(void *p, size_t size);
    size_t (*usable_size)(const void *p);
    int (*owns)(const void *p);
} omi_alloc_divert;

/* Read-mostly values the fast paths need, in the struct's first cache line
 * (sample_epoch, read only when a countdown ends, comes after).  While an
 * observer is set (tracing) or the entry points are diverted (debug mode,
 * or the runtime not yet initialised), small_limit is 0 and free_mask all
 * ones, so that every om_malloc and om_free leaves its fast path by the
 * test it makes anyway (the size class, the alignment) and meets them on
 * the slow path: both cost the fast paths no instruction while off
 * (alloc.c, omi_alloc_gates_update). */
typedef struct om_fast_state {
    _Alignas(64) uintptr_t cookie;
    _Atomic int checked;
    _Atomic size_t small_limit;  /* OM_SMALL_MAX, or 0 while observed or diverted */
    _Atomic uintptr_t free_mask; /* OM_ALIGNMENT - 1, or all ones while observed or diverted */
    _Atomic(const struct om_alloc_observer *) observer;
    _Atomic(const omi_alloc_divert *) divert; /* NULL: the allocator's own paths */
    /* The hardened build's gates (alloc.c), like the two above: open only
     * in hardened mode with no observer and no zeroing. */
    _Atomic size_t secure_limit;   /* OM_MEDIUM_MAX - the trailer, or 0 */
    _Atomic uintptr_t secure_mask; /* OM_ALIGNMENT - 1, or all ones */
    _Atomic uint64_t sample_epoch;    /* changes with the observer: countdowns start over */
} om_fast_state;
_Static_assert(offsetof(om_fast_state, sample_epoch) == 64, "the fast paths' values fill the first line");

#endif /* OM_TYPES_H */
