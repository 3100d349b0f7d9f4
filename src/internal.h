/*
 * internal.h — cross-file prototypes, grouped by the file that defines them,
 * and the runtime struct that holds all global state.
 *
 * Locking order: heap->lock (abandoned heaps only) before om_rt.lock.
 * om_rt.lock guards: metadata, the ownership map's writes, the live-arena
 * list, the heap lists, large blocks and the large cache, statistics walks.
 */
#ifndef OM_INTERNAL_H
#define OM_INTERNAL_H

#include "types.h"

#define OM_HIDDEN __attribute__((visibility("hidden")))
#define om_likely(x) __builtin_expect(!!(x), 1)
#define om_unlikely(x) __builtin_expect(!!(x), 0)

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

extern OM_HIDDEN om_runtime om_rt;
extern OM_HIDDEN om_fast_state om_fast;
extern OM_HIDDEN om_pool om_pool_empty;
extern OM_HIDDEN om_heap om_heap_empty;
extern OM_HIDDEN __thread om_heap *om_tls_heap __attribute__((tls_model("initial-exec")));
/* The heap whose blocks om_free may free on its fast path: om_tls_heap, or
 * &om_heap_empty (owns no pool) in checked mode, so that every free is
 * validated without the fast path testing a flag. */
extern OM_HIDDEN __thread om_heap *om_tls_free_heap __attribute__((tls_model("initial-exec")));
OM_HIDDEN void om_heap_sync_checked(void);

/* ---- os.c: kernel memory behind the hooks ----------------------------- */
OM_HIDDEN void *om_os_reserve(size_t size, size_t align);
OM_HIDDEN int om_os_release(void *p, size_t size);
OM_HIDDEN int om_os_purge(void *p, size_t size);
OM_HIDDEN void *om_os_remap(void *old, size_t old_size, size_t new_size, size_t align);
OM_HIDDEN size_t om_os_page_size(void);
OM_HIDDEN uint64_t om_os_now_ns(void);
OM_HIDDEN void om_os_stats(om_stats *out);

/* ---- meta.c: descriptor memory (om_rt.lock held) ----------------------- */
OM_HIDDEN void *om_meta_alloc(size_t size);
OM_HIDDEN uint64_t om_meta_bytes(void);

/* ---- arena_map.c: "is this pointer ours?" ----------------------------- */
enum { OM_MAP_NONE = 0, OM_MAP_SMALL = 1, OM_MAP_MEDIUM = 2, OM_MAP_LARGE = 3, OM_MAP_TAG = 3 };
OM_HIDDEN int om_map_set(uintptr_t start, size_t size, uintptr_t value);
OM_HIDDEN void om_map_clear(uintptr_t start, size_t size);

#define OM_MAP_ROOT_BITS 14
#define OM_MAP_LEAF_BITS 14
#define OM_MAP_ADDR_BITS (OM_ARENA_SHIFT + OM_MAP_ROOT_BITS + OM_MAP_LEAF_BITS) /* 48 */
typedef _Atomic(uintptr_t) om_map_leaf[(size_t)1 << OM_MAP_LEAF_BITS];
extern OM_HIDDEN _Atomic(om_map_leaf *) om_map_root[(size_t)1 << OM_MAP_ROOT_BITS];

/* Descriptor of the 1 MiB slot holding a, tagged with OM_MAP_*; 0 if not ours. */
static inline uintptr_t om_map_lookup(uintptr_t a) {
    uintptr_t ri = a >> (OM_ARENA_SHIFT + OM_MAP_LEAF_BITS);
    if (om_unlikely(ri >= ((uintptr_t)1 << OM_MAP_ROOT_BITS))) /* above 48 bits: not ours */
        return 0;
    om_map_leaf *leaf = atomic_load_explicit(&om_map_root[ri], memory_order_acquire);
    if (om_unlikely(!leaf))
        return 0;
    return atomic_load_explicit(&(*leaf)[(a >> OM_ARENA_SHIFT) & (((size_t)1 << OM_MAP_LEAF_BITS) - 1)],
                                memory_order_relaxed);
}

/* The pool header of address a in a small or medium arena (map entry e). */
static inline om_pool *om_pool_of(uintptr_t a, uintptr_t e) {
    om_arena *ar = (om_arena *)(e & ~(uintptr_t)OM_MAP_TAG);
    unsigned shift = (e & OM_MAP_TAG) == OM_MAP_SMALL ? OM_POOL_SHIFT : OM_MPOOL_SHIFT;
    return &ar->pools[(a - (uintptr_t)ar->base) >> shift];
}

/* ---- arena.c: arenas of a heap ----------------------------------------- */
OM_HIDDEN om_pool *om_arena_take_pool(om_heap *h, int geom, unsigned cls, int *intact);
OM_HIDDEN void om_arena_return_pool(om_heap *h, om_arena *a, unsigned idx);
OM_HIDDEN uint64_t om_arena_purge(om_heap *h, int all);
OM_HIDDEN void om_arena_release_spares(om_heap *h);
OM_HIDDEN om_pool *om_arena_pool_at(om_arena *a, unsigned idx);
OM_HIDDEN char *om_pool_block_base(const om_pool *pool);

/* ---- pool.c: blocks inside pools --------------------------------------- */
OM_HIDDEN void *om_pool_alloc_slow(om_heap *h, unsigned cls);
OM_HIDDEN void om_pool_free_transition(om_heap *h, om_pool *pool, om_block *old_head);
OM_HIDDEN int om_pool_block_offset_ok(const om_pool *pool, uintptr_t a, int carved);
OM_HIDDEN int om_pool_block_is_free(const om_pool *pool, const om_block *b);
OM_HIDDEN void om_pool_free_local(om_heap *h, om_pool *pool, om_block *b);
OM_HIDDEN void om_pool_release_retained(om_heap *h);

static inline void *om_pool_pop(om_pool *pool, om_block *b) {
    pool->freeblock = b->next;
    pool->sig ^= om_block_sig(b);
    pool->nused++;
    b->check = 0;
    return b;
}

/* ---- large.c: requests above the medium classes ------------------------ */
OM_HIDDEN void *om_large_alloc(size_t size, size_t align);
OM_HIDDEN void om_large_free(om_large *l);
OM_HIDDEN void *om_large_grow(om_large *l, size_t size);
OM_HIDDEN void om_large_collect(void);
OM_HIDDEN void om_large_purge_old(uint64_t now);

/* ---- heap.c: thread heaps ------------------------------------------------ */
OM_HIDDEN om_heap *om_heap_init_thread(void);
OM_HIDDEN void om_heap_drain_remote(om_heap *h);
OM_HIDDEN void om_heap_free_remote(om_heap *owner, om_pool *pool, om_block *b);
OM_HIDDEN void om_heap_maybe_purge(om_heap *h);
OM_HIDDEN void om_heap_note_dirty(om_heap *h);
OM_HIDDEN void om_heap_arm_purge(om_heap *h, uint64_t now);
OM_HIDDEN uint64_t om_heap_remote_frees(void);
OM_HIDDEN void om_runtime_init(void);

/* ---- error.c: one place for bad-pointer reports ------------------------ */
OM_HIDDEN void om_report(om_error_code code, const char *op, const void *p);
OM_HIDDEN uint64_t om_error_foreign_ignored(void);
OM_HIDDEN void om_report_object(om_error_code code, const char *op, const void *obj, const char *type_name,
                                const char *detail);

/* ---- check.c: describing blocks, checking heaps ------------------------- */
OM_HIDDEN int om_describe(const void *p, om_block_info *out);
OM_HIDDEN int om_block_is_free(const void *p);

/* ---- options.c ------------------------------------------------------------ */
OM_HIDDEN void om_options_init(void);
OM_HIDDEN long om_option_value(om_option opt);
OM_HIDDEN const char *om_option_string(const char *name);

/* ---- object.c: lifecycle of objects ------------------------------------- */
/* A dead object's count holds ~next: negative, so that weak references,
 * the checked functions and om_weakref_new see it as dead. */
static inline intptr_t om_dead_link(om_object *next) { return (intptr_t)~(uintptr_t)next; }
static inline om_object *om_dead_next(const om_object *o) { return (om_object *)~(uintptr_t)o->refcount; }
static inline om_gc_head *om_gc_head_of(om_object *o) { return (om_gc_head *)o - 1; }
OM_HIDDEN int om_object_is_finalized(om_object *o);
OM_HIDDEN void om_destroy_cleared(om_object *o);

/* ---- freelist.c: per-type allocators and statistics ------------------------ */
OM_HIDDEN int om_type_ready(om_type *t);

/* Declared references (om_type.ref_fields, OM_TYPE_REF_ITEMS): what a
 * type's traverse and clear do when the type leaves them NULL. */
static inline int om_type_declares_refs(const om_type *t) {
    return t->ref_fields || (t->flags & OM_TYPE_REF_ITEMS);
}
OM_HIDDEN int om_declared_traverse(om_object *o, om_visit_fn visit, void *arg);
OM_HIDDEN void om_declared_clear(om_object *o);
/* The type's clear, or the declared references' (none: nothing to do). */
static inline int om_type_has_clear(const om_type *t) { return t->clear || om_type_declares_refs(t); }
static inline void om_type_clear(om_object *o) {
    const om_type *t = o->type;
    if (t->clear)
        t->clear(o);
    else if (om_type_declares_refs(t))
        om_declared_clear(o);
}
OM_HIDDEN void om_freelist_release(om_type *t, om_object *o);


/* ---- object_check.c: the checked functions' graveyard ---------------------- */
/* Checked mode: hold o (dead, type kept) for a while before its memory is
 * reused; returns the object evicted to make room, or NULL. */
OM_HIDDEN om_object *om_graveyard_swap(om_object *o);
OM_HIDDEN size_t om_graveyard_flush(void);

/* ---- weakref.c: the collector's access to weak references ------------------ */
OM_HIDDEN om_weakref **om_weakref_gc_detach(om_object *o, int (*garbage)(om_object *w), om_weakref **tail);
OM_HIDDEN void om_weakref_run_callbacks(om_weakref *run);
OM_HIDDEN void om_weakref_gc_disarm(om_object *self);

/* ---- gc.c: tracking (object.c) and safe points (runtime.c) ------------------ */
OM_HIDDEN void om_gc_track_new(om_object *o);
OM_HIDDEN void om_gc_untrack_dead(om_object *o);
OM_HIDDEN int om_gc_pending(void);
/* om_resize_var: off the lists while the block moves, back to the same
 * generation (0 if it was untracked) after. */
OM_HIDDEN uintptr_t om_gc_detach(om_object *o);
OM_HIDDEN void om_gc_reattach(om_object *o, uintptr_t tag);
/* The destruction loop: a container waiting dead is off the lists. */
OM_HIDDEN void om_gc_park_dying(om_object *o);
OM_HIDDEN void om_gc_unpark_dying(om_object *o);

/* ---- runtime.c: the runtime lock ------------------------------------------ */
/* 1 if the lock has ever been taken (objects then need it). */
OM_HIDDEN int om_lock_in_use(void);

/* ---- alloc.c --------------------------------------------------------------- */
extern OM_HIDDEN const uint64_t om_medium_magic_table[OM_NUM_CLASSES];
OM_HIDDEN void om_free_slow(void *p, uintptr_t entry, const char *op);

#endif /* OM_INTERNAL_H */
