/*
 * gc.h — the cycle collector's internal header: its state, header bits and
 * list primitives, shared by every file of src/gc/ (gc.c runs the steps,
 * scan.c and side.c follow references, unreachable.c handles what they
 * find, api.c is the gc module's surface).  The header
 * bits and the algorithm are described at the top of gc.c.
 */
#ifndef OM_GC_H
#define OM_GC_H

#include "object/object.h"

#define GC_COLLECTING ((uintptr_t)2)
#define GC_GEN_SHIFT 2
#define GC_GEN_MASK ((uintptr_t)3 << GC_GEN_SHIFT)
#define GC_TAG(gen) ((uintptr_t)(gen) << GC_GEN_SHIFT)
#define GC_TAG_OTHER GC_GEN_MASK          /* permanent generation, garbage list */
#define GC_REFS_SHIFT 4
#define GC_MAX_CALLBACKS 16

typedef struct om_gc_state {
    om_gc_head gen[OM_GC_GENERATIONS];
    om_gc_head permanent;
    om_gc_head garbage;
    long count[OM_GC_GENERATIONS];
    long threshold[OM_GC_GENERATIONS];
    size_t long_lived_total, long_lived_pending;
    int ready, enabled, pending;
    struct gc_collection *running; /* the collection in progress, NULL between them */
    unsigned debug;
    om_gc_gen_stats stats[OM_GC_GENERATIONS];
    struct {
        om_gc_callback fn;
        void *arg;
    } callbacks[GC_MAX_CALLBACKS];
    int ncallbacks;
} om_gc_state;

extern OM_HIDDEN om_gc_state omi_gc;

/* One collection's state: a struct on collect()'s stack (gc.c), passed to
 * every step and pass; nothing of it outlives the collection.  The
 * resurrection check (omi_gc_handle_resurrected) runs the passes again on
 * the same struct. */
struct side_table;
typedef struct gc_collection {
    int generation;
    om_gc_head *young;           /* the set: generations 0..generation merged */
    om_gc_head *old;             /* where survivors go (young itself for the oldest) */
    uintptr_t dest_tag;          /* the tag of old */
    om_gc_head unreachable;      /* found unreachable (COLLECTING set) */
    om_gc_head uncollectable;    /* without clear, and what they reach */
    om_gc_head still;            /* unreachable after finalizers ran */
    /* what the passes learn (scan.c) */
    int prefetch;                /* large enough for delete_garbage to prefetch */
    int stream;                  /* the list is in address order */
    int what;                    /* GC_HAS_*: what the unreachable need */
    size_t examined;             /* objects omi_gc_count_refs went through */
    size_t edges;                /* references it followed */
    size_t untracked;            /* immutable containers no longer tracked */
    /* the side tables touched (side.c): zeroed before the collection ends */
    struct side_table *side_dirty;
    size_t side_bytes;
    /* the outcome */
    size_t found, resurrected, uncollected;
    long collected;
    om_gc_info info;
    uint64_t t0;
} gc_collection;

/* ---- list primitives -------------------------------------------------- */
static inline om_gc_head *gc_next(const om_gc_head *g) { return (om_gc_head *)g->next; }
static inline om_gc_head *gc_prev(const om_gc_head *g) { return (om_gc_head *)(g->prev & ~OM_GC_FLAG_MASK); }
static inline void gc_set_prev(om_gc_head *g, om_gc_head *p) {
    g->prev = (g->prev & OM_GC_FLAG_MASK) | (uintptr_t)p;
}
static inline om_object *gc_obj(om_gc_head *g) { return (om_object *)(g + 1); }

static inline void list_init(om_gc_head *l) {
    l->next = (uintptr_t)l;
    l->prev = (uintptr_t)l;
}
static inline int list_empty(const om_gc_head *l) { return gc_next(l) == l; }

static inline void list_append(om_gc_head *g, om_gc_head *l) {
    om_gc_head *last = gc_prev(l);
    last->next = (uintptr_t)g;
    gc_set_prev(g, last);
    g->next = (uintptr_t)l;
    l->prev = (uintptr_t)g;
}

static inline void list_remove(om_gc_head *g) {
    om_gc_head *p = gc_prev(g), *n = gc_next(g);
    p->next = (uintptr_t)n;
    gc_set_prev(n, p);
    g->next = 0;
}

static inline void list_move(om_gc_head *g, om_gc_head *to) {
    om_gc_head *p = gc_prev(g), *n = gc_next(g);
    p->next = (uintptr_t)n;
    gc_set_prev(n, p);
    list_append(g, to);
}

/* Append every element of from to to; from becomes empty. */
static inline void list_merge(om_gc_head *from, om_gc_head *to) {
    if (list_empty(from))
        return;
    om_gc_head *first = gc_next(from), *last = gc_prev(from), *tail = gc_prev(to);
    tail->next = (uintptr_t)first;
    gc_set_prev(first, tail);
    last->next = (uintptr_t)to;
    to->prev = (uintptr_t)last;
    list_init(from);
}

static inline size_t list_size(const om_gc_head *l) {
    size_t n = 0;
    for (const om_gc_head *g = gc_next(l); g != l; g = gc_next(g))
        n++;
    return n;
}


OM_HIDDEN void omi_gc_init(void);

static inline int is_gc(const om_object *o) {
    return (o->type->flags & OM_TYPE_GC) && o->refcount < OM_IMMORTAL_REFCNT;
}

/* ---- across the collector's files (gc.c runs the steps) ---------------- */
/* What the unreachable need beyond clear: said while they are found, so
 * that the passes for weak references, finalizers and uncollectable
 * objects run only when some object needs them.  Objects later found
 * reachable leave their bits behind: the passes then run for nothing, but
 * never wrongly. */
enum { GC_HAS_WEAKREFS = 1, GC_HAS_FINALIZERS = 2, GC_HAS_UNCOLLECTABLE = 4, GC_HAS_HOOKS = 8 };

/* side.c: forget which side tables the passes touched; zero them if
 * zero (else the caller has zeroed every byte it touched) */
OM_HIDDEN void omi_gc_side_done(gc_collection *c, int zero);
/* scan.c */
OM_HIDDEN size_t omi_gc_count_refs(gc_collection *c, om_gc_head *list, intptr_t max_tag);
OM_HIDDEN size_t omi_gc_move_unreachable(gc_collection *c, om_gc_head *young, om_gc_head **tentative);
OM_HIDDEN void omi_gc_split_tentative(gc_collection *c, om_gc_head *young, om_gc_head *tentative,
                                      om_gc_head *unreachable);
OM_HIDDEN int omi_gc_side_walks(const gc_collection *c);
OM_HIDDEN void omi_gc_side_walk(om_gc_head *list);
OM_HIDDEN void omi_gc_side_clean(gc_collection *c, om_gc_head *young, om_gc_head *unreachable);
OM_HIDDEN void omi_gc_prefetch_children(om_object *o);
OM_HIDDEN void omi_gc_untrack_atomic(gc_collection *c, om_gc_head *from, om_gc_head *list);
/* unreachable.c */
OM_HIDDEN int omi_gc_classify_unreachable(gc_collection *c);
OM_HIDDEN void omi_gc_handle_weakrefs(om_gc_head *unreachable);
OM_HIDDEN size_t omi_gc_finalize_garbage(om_gc_head *unreachable);
OM_HIDDEN size_t omi_gc_handle_resurrected(gc_collection *c);
OM_HIDDEN size_t omi_gc_delete_garbage(gc_collection *c, om_gc_head *list);
OM_HIDDEN void omi_gc_delete_fast(gc_collection *c, om_gc_head *tentative, int walk);
OM_HIDDEN void omi_gc_report(const char *what, om_object *o);

/* A list in address order (objects linked as they were allocated, the
 * usual case) is read far faster with a software prefetch a few pages
 * ahead of the scan than by the hardware's stream detection alone
 * (measured: 12% off a full collection of a 1M-node ring or tree).
 * omi_gc_count_refs' probe turns it on when nearly every next link goes
 * forward by less than GC_SEQ_STEP. */
#define GC_STREAM_AHEAD 4096
#define GC_SEQ_STEP ((uintptr_t)256)

/* A tentative object omi_gc_move_unreachable kept after all goes back to
 * young's tail, as a survivor (tagged for the generation it goes to). */
static inline void gc_rejoin(om_gc_head *young, uintptr_t dest_tag, om_gc_head *g) {
    om_gc_head *tail = gc_prev(young);
    tail->next = (uintptr_t)g;
    g->prev = (uintptr_t)tail | (g->prev & OM_GC_FINALIZED) | dest_tag;
    g->next = (uintptr_t)young;
    young->prev = (uintptr_t)g;
}

#endif /* OM_GC_H */
