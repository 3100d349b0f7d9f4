/*
 * object.h — the object layer's internal header: objects with a reference
 * count and a type, their types' registry and free lists, weak
 * references and the runtime lock.  Built on the allocator (alloc.h);
 * the collector (gc/) builds on it.  The collector's entry points that
 * object creation and destruction call are declared here (they are the
 * object layer's contract with the layer above, as CPython's object.c
 * calls _PyObject_GC_TRACK): gc/gc.c defines them.
 */
#ifndef OM_OBJECT_H
#define OM_OBJECT_H

#include "alloc/alloc.h"
#include "debug/debug.h"

/* ---- objects ---------------------------------------------------------
 *
 *   block from om_malloc (types with OM_TYPE_GC or a finalizer)
 *   ┌──────────────────────────┬──────────┬──────────┬─────────────────┐
 *   │ om_gc_head: next, prev   │ refcount │ type     │ instance fields │
 *   └──────────────────────────┴──────────┴──────────┴─────────────────┘
 *   ▲ block                    ▲ om_object * (block + omi_tstate(type)->prefix)
 *
 * Other types have no prefix: the object is the block.  om_gc_head is
 * CPython's PyGC_Head: the cycle collector's list links; the low bits of
 * prev are flags (blocks are 16-byte aligned, so four bits are free).
 * Refcount states: >= OM_IMMORTAL_REFCNT immortal; >= 1 alive; 0 being
 * destroyed; < 0 dead (parked on a free list or waiting in the destruction
 * loop: the count holds ~next, see omi_dead_link).
 */
typedef struct om_gc_head {
    /* 16-byte aligned, so that prev's low four bits are free for flags
     * even when the head is a list sentinel (static or on the stack),
     * not a block start. */
    _Alignas(16) uintptr_t next;
    uintptr_t prev;              /* pointer | OM_GC_* flags */
} om_gc_head;

#define OM_GC_FINALIZED ((uintptr_t)1)   /* finalize has run (PEP 442) */
#define OM_GC_FLAG_MASK ((uintptr_t)15)

/* ---- a type's state ------------------------------------------------------
 *
 *   om_type (the program's)          omi_type_state (objmem's metadata)
 *   ┌──────────────┬────────┬───┐    ┌──────────────────────────┬───────┐
 *   │ struct_size  │ state_ │...│ ─▶ │ om_type_state: freelist, │ the   │
 *   └──────────────┴────────┴───┘    │ freelist_len, small      │ rest  │
 *                                    └──────────────────────────┴───────┘
 * omi_type_ready (type.c) allocates it when the type makes its first
 * object, fills it, then publishes it in state_ (release): a type is ready
 * exactly when state_ is set, and its state is never freed (types stay
 * in the registry).  It starts with objmem.h's om_type_state, whose
 * fields the inline om_new reads; the fields of the program's om_type
 * that struct_size may leave out (ref_fields, freelist_limit) are copied
 * here once, 0 when absent, and read only here after.
 */
typedef struct omi_type_state {
    om_object *freelist;        /* om_type_state's three fields, in its layout */
    uint32_t freelist_len;
    uint8_t small;
    uint8_t ready;              /* OM_TYPE_READY_FIXED or _VAR */
    uint8_t simple;             /* destruction is only "park or free" */
    uint8_t ref_first, ref_run; /* ref_fields as one run of words, if it is and there
                                   are no items: the collector's fast walk */
    uint16_t prefix;            /* bytes of collector header before objects */
    unsigned freelist_limit;    /* om_type.freelist_limit */
    uint64_t ref_fields;        /* om_type.ref_fields */
    /* Event counts; om_type_get_stats derives the rest from them, so the
     * fast paths update one count each. */
    uint64_t parks;             /* destructions that parked the instance */
    uint64_t allocs;            /* creations that took a new block */
    uint64_t frees;             /* destructions that gave the block back */
    uint64_t trimmed;           /* parked instances freed (limit, clear) */
    const om_type *next;        /* registry of types in use */
} omi_type_state;

_Static_assert(offsetof(omi_type_state, freelist) == offsetof(om_type_state, freelist) &&
                   offsetof(omi_type_state, freelist_len) == offsetof(om_type_state, freelist_len) &&
                   offsetof(omi_type_state, small) == offsetof(om_type_state, small),
               "omi_type_state starts with om_type_state");

#define OM_TYPE_READY_FIXED 1
#define OM_TYPE_READY_VAR 2

/* The state of a ready type (NULL before its first object). */
static inline omi_type_state *omi_tstate(const om_type *t) { return (omi_type_state *)t->state_; }

/* A field of the program's om_type, or 0 if its struct_size ends before
 * it (objmem.h, section 8). */
#define OMI_TYPE_FIELD(t, f) \
    (offsetof(om_type, f) + sizeof((t)->f) <= (t)->struct_size ? (t)->f : 0)

/* ---- misuse.c: a misuse of an object, reported through the error handler */
OM_HIDDEN void omi_report_object(om_error_code code, const char *op, const void *obj, const char *type_name,
                                 const char *detail);

/* ---- object.c: lifecycle of objects ------------------------------------- */
/* A dead object's count holds ~next: negative, so that weak references,
 * the checked functions and om_weakref_new see it as dead. */
static inline intptr_t omi_dead_link(om_object *next) { return (intptr_t)~(uintptr_t)next; }
static inline om_object *omi_dead_next(const om_object *o) { return (om_object *)~(uintptr_t)o->refcount; }
static inline om_gc_head *omi_gc_head_of(om_object *o) { return (om_gc_head *)o - 1; }
OM_HIDDEN int omi_object_is_finalized(om_object *o);
OM_HIDDEN void omi_destroy_cleared(om_object *o);

/* ---- type.c and freelist.c: the registry, per-type allocators -------------  */
OM_HIDDEN int omi_type_ready(om_type *t);
/* 1 if t is in the registry (a ready type); no lock: the list only grows. */
OM_HIDDEN int omi_type_registered(const om_type *t);
/* traced.c: the type of the live object in block (tracing's reports). */
OM_HIDDEN const void *omi_object_in_block(const void *block, const char **name);

/* Declared references (om_type.ref_fields, OM_TYPE_REF_ITEMS): what a
 * type's traverse and clear do when the type leaves them NULL. */
static inline int omi_type_declares_refs(const om_type *t) {
    return omi_tstate(t)->ref_fields || (t->flags & OM_TYPE_REF_ITEMS);
}
OM_HIDDEN int omi_declared_traverse(om_object *o, om_visit_fn visit, void *arg);
OM_HIDDEN void omi_declared_clear(om_object *o);

typedef int (*omi_slot_fn)(om_object **slot, void *ctx);
#define OMI_WALK_STOPPED ((size_t)-1)

/* omi_declared_each's general case: fields bit by bit, then items. */
static inline __attribute__((always_inline)) size_t omi_declared_each_more(om_object *o, omi_slot_fn fn, void *ctx,
                                                                           int backward) {
    const om_type *t = o->type;
    om_object **w = (om_object **)o;
    size_t n = 0;
    for (uint64_t m = omi_tstate(t)->ref_fields; m; m &= m - 1, n++) {
        om_object **slot = &w[__builtin_ctzll(m)];
        if (*slot && fn(slot, ctx))
            return OMI_WALK_STOPPED;
    }
    if (!(t->flags & OM_TYPE_REF_ITEMS))
        return n;
    om_object **item = (om_object **)((char *)o + t->size);
    size_t k = (size_t)((om_varobject *)o)->nitems;
    for (size_t i = 0; i < k; i++) {
        om_object **slot = &item[backward ? k - 1 - i : i];
        if (*slot && fn(slot, ctx))
            return OMI_WALK_STOPPED;
    }
    return n + k;
}

/* The one walk over an object's declared references, used by every walker
 * (omi_declared_traverse and omi_declared_clear here, the collector's
 * passes and its fast delete): fn(slot, ctx) for each slot that holds a
 * reference, first the fields of ref_fields, then the items of an
 * OM_TYPE_REF_ITEMS type, last to first if backward.  The usual case, a
 * type whose references are one run of fields (type.c: ref_run), is one
 * array loop.  Returns how many slots it looked at (empty ones too), or
 * OMI_WALK_STOPPED as soon as fn returns nonzero.  always_inline, with fn
 * a static inline function: each walker gets its own loops with fn
 * inlined, no call per reference. */
static inline __attribute__((always_inline)) size_t omi_declared_each(om_object *o, omi_slot_fn fn, void *ctx,
                                                                      int backward) {
    const om_type *t = o->type;
    const omi_type_state *s = omi_tstate(t);
    size_t run = s->ref_run;
    if (om_likely(run)) {
        om_object **w = (om_object **)o + s->ref_first;
        size_t i = 0;
        do {
            if (w[i] && fn(&w[i], ctx))
                return OMI_WALK_STOPPED;
        } while (++i < run);
        return run;
    }
    return omi_declared_each_more(o, fn, ctx, backward);
}

/* The type's clear, or the declared references' (none: nothing to do). */
static inline int omi_type_has_clear(const om_type *t) { return t->clear || omi_type_declares_refs(t); }
static inline void omi_type_clear(om_object *o) {
    const om_type *t = o->type;
    if (t->clear)
        t->clear(o);
    else if (omi_type_declares_refs(t))
        omi_declared_clear(o);
}
OM_HIDDEN void omi_freelist_release(om_type *t, om_object *o);


/* ---- object_check.c: the checked functions' graveyard ---------------------- */
/* Checked mode: hold o (dead, type kept) for a while before its memory is
 * reused; returns the object evicted to make room, or NULL. */
OM_HIDDEN om_object *omi_graveyard_swap(om_object *o);
OM_HIDDEN size_t omi_graveyard_flush(void);

/* ---- weakref.c: the collector's access to weak references ------------------ */
OM_HIDDEN om_weakref **omi_weakref_gc_detach(om_object *o, int (*garbage)(om_object *w), om_weakref **tail);
OM_HIDDEN void omi_weakref_run_callbacks(om_weakref *run);
OM_HIDDEN void omi_weakref_gc_disarm(om_object *self);

/* ---- gc/gc.c: tracking (object.c) and safe points (lock.c) ------------------ */
OM_HIDDEN void omi_gc_track_new(om_object *o);
OM_HIDDEN void omi_gc_untrack_dead(om_object *o);
OM_HIDDEN int omi_gc_pending(void);
/* om_resize_var: off the lists while the block moves, back to the same
 * generation (0 if it was untracked) after. */
OM_HIDDEN uintptr_t omi_gc_detach(om_object *o);
OM_HIDDEN void omi_gc_reattach(om_object *o, uintptr_t tag);
/* The destruction loop: a container waiting dead is off the lists. */
OM_HIDDEN void omi_gc_park_dying(om_object *o);
OM_HIDDEN void omi_gc_unpark_dying(om_object *o);

/* ---- lock.c: the runtime lock ------------------------------------------ */
/* 1 if the lock has ever been taken (objects then need it). */
OM_HIDDEN int omi_lock_in_use(void);

#endif /* OM_OBJECT_H */
