/*
 * gc.c — the cycle collector: CPython's generational algorithm
 * (Python/gc.c, InternalDocs/garbage_collector.md), written anew.
 *
 * Lists.  Every tracked container is on exactly one circular, doubly
 * linked list of om_gc_head (types.h): a generation (0, 1, 2), the
 * permanent generation (om_gc_freeze) or the garbage list.  An untracked
 * object has next == 0.  Sentinels are list heads that are not objects.
 *
 * The header's bits (om_gc_head, blocks are 16-byte aligned):
 *   prev, bit 0  OM_GC_FINALIZED   finalize has run (PEP 442), for ever
 *   prev, bit 1  GC_COLLECTING     on a collection's unreachable list; and
 *                                  inside count_refs/move_unreachable:
 *                                  prev holds a reference count, not a
 *                                  pointer (overflow_ref)
 *   prev, 2-3    generation tag    0, 1, 2, or 3 (permanent, garbage): the
 *                                  generation the object was put in (a
 *                                  younger one merged into an older keeps
 *                                  its tag: "tag <= g" is "in the set of a
 *                                  collection of g"); new objects are 0
 *
 * A collection of generation g (collect):
 *   1. merge generations 0..g into g: the "young" list (the set);
 *   2. count_refs: for every reference from an object of the set, count
 *      one on the referent's side byte (see "the side table": a byte per
 *      object outside the object, so the referent's own cache line is
 *      not touched);
 *   3. move_unreachable: scan young; gc_refs = refcount - that count is
 *      what refers to an object from outside the set; an object with
 *      gc_refs > 0, or that something kept refers to, is kept and marks
 *      what it refers to; one with gc_refs 0 goes to a tentative list,
 *      and is kept after all if something kept refers to it later.  What
 *      is left on the tentative list is unreachable (COLLECTING set);
 *      CPython's update_refs, subtract_refs and move_unreachable, with
 *      the counting turned round and no object moved twice;
 *   4. survivors move to generation g + 1;
 *   5. if every unreachable object is plain (declared references, no
 *      clear hook, finalizer or weak reference), delete_fast frees them
 *      all, dropping only the references that leave the set: done;
 *   6. unreachable objects whose type has no clear, and whatever they
 *      reach, are uncollectable: they go to the garbage list;
 *   7. weak references to the unreachable are cleared; callbacks run only
 *      for weak references that are themselves reachable;
 *   8. finalizers run, once per object ever;
 *   9. if any ran, steps 2-3 again on the unreachable set: objects a
 *      finalizer resurrected go to the old generation;
 *  10. clear each one left (reference counting then frees them); one that
 *      survives its clear goes to the old generation.
 * No step recurses or allocates: traversals visit one level, lists are
 * intrusive, the side table is part of each arena's descriptor.  Objects
 * freed during steps 7-10 unlink themselves from whichever list holds
 * them (om_gc_untrack_dead, from object.c).
 *
 * Triggers: count[0] is tracked allocations minus deallocations; when it
 * passes threshold 0 a collection becomes pending and runs at the next
 * safe point (om_gc_poll, om_lock_yield).  CPython's rules pick the
 * generation, including the 25% long-lived rule for full collections,
 * with one refinement: "long-lived" is measured in work (objects plus the
 * references they hold), which is what a full collection costs.
 *
 * Everything here runs under the runtime lock (or in a single thread);
 * the collector's state is one struct (gc.h); the gc module's knobs and
 * introspection are in gc_api.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gc.h"

om_gc_state om_gc = {.threshold = {2000, 10, 10}, .enabled = 1};

void om_gc_init(void) {
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        list_init(&om_gc.gen[i]);
    list_init(&om_gc.permanent);
    list_init(&om_gc.garbage);
    om_gc.ready = 1;
}


/* ---- tracking ----------------------------------------------------------- */
static inline void link_young(om_object *o) {
    if (om_unlikely(!om_gc.ready))
        om_gc_init();
    om_gc_head *g = om_gc_head_of(o);
    g->prev &= ~GC_GEN_MASK; /* tag 0 (an untracked object may remember another) */
    list_append(g, &om_gc.gen[0]);
}

/* A new container (om_new): tracked, and counted towards threshold 0. */
void om_gc_track_new(om_object *o) {
    link_young(o);
    if (++om_gc.count[0] > om_gc.threshold[0] && om_gc.threshold[0] && om_gc.enabled && !om_gc.collecting)
        om_gc.pending = 1;
}

void om_gc_untrack_dead(om_object *o) {
    om_gc_head *g = om_gc_head_of(o);
    if (g->next) {
        list_remove(g);
        g->prev &= OM_GC_FINALIZED;
    }
    if (om_gc.count[0] > 0)
        om_gc.count[0]--;
}

int om_gc_track(om_object *o) {
    if (!o || !(o->type->flags & OM_TYPE_GC) || o->refcount >= OM_IMMORTAL_REFCNT)
        return EINVAL;
    om_gc_head *g = om_gc_head_of(o);
    if (!g->next) {
        if (g->prev & GC_COLLECTING) /* being deleted by a collection */
            return EBUSY;
        link_young(o); /* counted once, at creation, as CPython */
    }
    return 0;
}

static int on_garbage_list(om_gc_head *g) {
    for (om_gc_head *x = gc_next(&om_gc.garbage); x != &om_gc.garbage; x = gc_next(x))
        if (x == g)
            return 1;
    return 0;
}

int om_gc_untrack(om_object *o) {
    if (!o || !(o->type->flags & OM_TYPE_GC))
        return EINVAL;
    if (o->refcount >= OM_IMMORTAL_REFCNT) /* never tracked (static: no header) */
        return 0;
    om_gc_head *g = om_gc_head_of(o);
    if (g->next) {
        /* The garbage list holds a reference to each of its objects: they
         * leave it only through om_gc_garbage_clear. */
        if ((g->prev & GC_GEN_MASK) == GC_TAG_OTHER && on_garbage_list(g))
            return EBUSY;
        list_remove(g);
        g->prev &= OM_GC_FINALIZED;
    }
    return 0;
}

/* The destruction loop's pair (object.c): a container whose count reached
 * zero while another was being destroyed waits off the lists (no
 * collection may see a dead object), remembering its generation in its
 * tag; if its finalizer then resurrects it, it goes back there. */
void om_gc_park_dying(om_object *o) {
    uintptr_t tag = om_gc_detach(o);
    om_gc_head_of(o)->prev |= tag;
}

void om_gc_unpark_dying(om_object *o) {
    om_gc_head *g = om_gc_head_of(o);
    if (!g->next && o->refcount < OM_IMMORTAL_REFCNT && !(g->prev & GC_COLLECTING))
        om_gc_reattach(o, g->prev & GC_GEN_MASK);
}

/* om_resize_var's pair: leave the lists while the block moves, and come
 * back to the same generation (0 if it was not tracked: new items). */
uintptr_t om_gc_detach(om_object *o) {
    om_gc_head *g = om_gc_head_of(o);
    uintptr_t tag = g->next ? (g->prev & GC_GEN_MASK) : 0;
    if (g->next) {
        list_remove(g);
        g->prev &= OM_GC_FINALIZED;
    }
    return tag;
}

void om_gc_reattach(om_object *o, uintptr_t tag) {
    if (om_unlikely(!om_gc.ready))
        om_gc_init();
    om_gc_head *g = om_gc_head_of(o);
    g->prev &= ~GC_GEN_MASK;
    om_gc_head *list = tag == GC_TAG_OTHER ? &om_gc.permanent : &om_gc.gen[tag >> GC_GEN_SHIFT];
    list_append(g, list);
    g->prev |= tag;
}

int om_gc_is_tracked(const om_object *o) {
    /* Immortal objects are never tracked (and a static one has no header). */
    return (o->type->flags & OM_TYPE_GC) && o->refcount < OM_IMMORTAL_REFCNT &&
           om_gc_head_of((om_object *)o)->next != 0;
}

int om_gc_is_finalized(const om_object *o) { return om_object_is_finalized((om_object *)o); }

/* ---- the side table ----------------------------------------------------- *
 * The two passes that follow references (count_refs, move_unreachable)
 * keep their per-object state in a byte outside the object (om_arena's
 * gc_side, om_large's), so that following a reference reads and writes a
 * byte in a small dense table (1/32 of the heap) instead of the
 * referent's own cache line, which on a large heap is a miss per
 * reference.  Every object in objmem's memory has a byte (types.h: any two
 * objects are at least a granule apart); a static object has none.
 *
 *   0 .. SIDE_CMAX      count_refs: references to the object from the set
 *                       (the rest in the header, see overflow_ref)
 *   SIDE_REACHED        move_unreachable: referred to by a kept object;
 *                       it will be kept when the scan reaches it
 *   SIDE_KEPT           scanned and kept
 *   SIDE_UNREACHABLE    scanned at gc_refs 0: on the tentative list
 *
 * Bytes of objects outside the set are counted and marked too (nothing
 * reads them: the passes cannot tell them apart without reading their
 * headers, the very miss the table avoids).  So every byte a collection
 * touched is zeroed before it ends: by side_clean as soon as
 * move_unreachable has split its lists, before any finalizer or callback
 * runs; on delete_fast's path, which still reads the set's bytes, once
 * the set is freed (the code that runs meanwhile, release hooks and the
 * destruction of objects outside whose last reference the set held,
 * cannot reach the set; a descriptor freed and taken again meanwhile
 * keeps its place on the lists, and its whole table is zeroed).  Either
 * each table a lookup went to is zeroed (om_gc.side_arenas and
 * side_larges, linked by side_miss), or, when that would be more bytes,
 * the set and its references are walked again (side_walks). */
#define SIDE_CMAX 0xFB
#define SIDE_REACHED 0xFC
#define SIDE_KEPT 0xFD
#define SIDE_UNREACHABLE 0xFE
#define SIDE_WAYS 256 /* ways of the referents' cache, chosen by arena */

/* A cache way: one small arena's table, so that the common case is a
 * shift, a compare and an add.  key is the arena's number (address >>
 * OM_ARENA_SHIFT; 0: empty, no arena starts at 0), bias the table's
 * address less the arena's first granule number.  Medium and large blocks
 * (rare containers) are looked up each time. */
typedef struct side_way {
    uintptr_t key, bias;
} side_way;

static __attribute__((noinline)) uint8_t *side_miss(side_way *k, const om_object *o) {
    uintptr_t a = (uintptr_t)o, e = om_map_lookup(a);
    uintptr_t tag = e & OM_MAP_TAG;
    if (tag == OM_MAP_LARGE) { /* one object: this one */
        om_large *l = (om_large *)(e - OM_MAP_LARGE);
        if (!l->gc_on_dirty) {
            l->gc_on_dirty = 1;
            l->gc_dirty_next = om_gc.side_larges;
            om_gc.side_larges = l;
        }
        return &l->gc_side;
    }
    if (tag != OM_MAP_SMALL && tag != OM_MAP_MEDIUM)
        return NULL; /* not objmem's memory: a static object, never in a set */
    om_arena *ar = (om_arena *)(e - tag);
    if (!ar->gc_on_dirty) {
        ar->gc_on_dirty = 1;
        ar->gc_dirty_next = om_gc.side_arenas;
        om_gc.side_arenas = ar;
        om_gc.side_bytes += sizeof ar->gc_side;
    }
    if (tag == OM_MAP_MEDIUM)
        return ar->gc_side + ((a - (uintptr_t)ar->base) >> OM_GC_SIDE_MSHIFT);
    k->key = a >> OM_ARENA_SHIFT;
    k->bias = (uintptr_t)ar->gc_side - ((uintptr_t)ar->base >> OM_GC_SIDE_SHIFT);
    return (uint8_t *)(k->bias + (a >> OM_GC_SIDE_SHIFT));
}

/* The byte of o through a cache of ways (a power of two of them). */
static inline uint8_t *side_at(side_way *ways, unsigned nways, const om_object *o) {
    uintptr_t a = (uintptr_t)o;
    side_way *k = &ways[(a >> OM_ARENA_SHIFT) & (nways - 1)];
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> OM_GC_SIDE_SHIFT));
    return side_miss(k, o);
}

/* A referent's byte: most references go to the arena the last one went
 * to (*mru); others through the ways, which then become the last. */
static inline uint8_t *kid_at(side_way **mru, side_way *ways, const om_object *c) {
    uintptr_t a = (uintptr_t)c;
    side_way *k = *mru;
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> OM_GC_SIDE_SHIFT));
    k = &ways[(a >> OM_ARENA_SHIFT) & (SIDE_WAYS - 1)];
    *mru = k;
    if (om_likely(k->key == a >> OM_ARENA_SHIFT))
        return (uint8_t *)(k->bias + (a >> OM_GC_SIDE_SHIFT));
    return side_miss(k, c);
}

/* Forget which tables the passes touched; zero them if zero (else the
 * caller has zeroed every byte it touched). */
static void side_done(int zero) {
    for (om_arena *ar = om_gc.side_arenas; ar; ar = ar->gc_dirty_next) {
        /* All of it: the arena may have been released, and its descriptor
         * taken by an arena of the other geometry, while delete_fast ran. */
        if (zero)
            memset(ar->gc_side, 0, sizeof ar->gc_side);
        ar->gc_on_dirty = 0;
    }
    for (om_large *l = om_gc.side_larges; l; l = l->gc_dirty_next) {
        l->gc_side = 0;
        l->gc_on_dirty = 0;
    }
    om_gc.side_arenas = NULL;
    om_gc.side_larges = NULL;
    om_gc.side_bytes = 0;
}

/* ---- the core: which objects are referenced only from inside ---------- */

/* Apply one of the visits below to each reference of an object, in the
 * fastest form its type offers: declared references (ref_fields, then
 * OM_TYPE_REF_ITEMS) and the refs array are walked inline, with no call at
 * all; only a type with nothing but traverse costs a call per reference.
 * Specialised per op by always_inline. */
enum { OP_COUNT, OP_REACHABLE, OP_PREFETCH, OP_PROBE, OP_CLEAN };
#define GC_PROBE 4096                     /* objects count_refs probes */
#define GC_AHEAD 8                        /* objects delete_garbage prefetches ahead */
#define GC_AHEAD_REFS 16                  /* references prefetched ahead, at most */
#define GC_NEAR ((uintptr_t)1 << 18)      /* a reference within 256 KiB is near */
/* A list in address order (objects linked as they were allocated, the
 * usual case) is read far faster with a software prefetch a few pages
 * ahead of the scan than by the hardware's stream detection alone
 * (measured: 12% off a full collection of a 1M-node ring or tree).
 * count_refs' probe turns it on when nearly every next link goes
 * forward by less than GC_SEQ_STEP. */
#define GC_STREAM_AHEAD 4096
#define GC_SEQ_STEP ((uintptr_t)256)

/* move_unreachable's queue of objects found reachable after the scan
 * passed them: their references are visited a little later, so that the
 * prefetch of each one's cache line has landed by then; when the queue is
 * full, a spill stack linked through the objects' prev words. */
#define GC_LATE 64                        /* queue slots (a power of two) */
#define GC_LATE_LAG 16                    /* entries left in flight during the scan */

/* What a pass carries through its visits (in registers, once inlined). */
typedef struct pass_ctx {
    intptr_t max_tag;            /* OP_COUNT: see overflow_ref */
    size_t far;                  /* OP_PROBE: references that jump far */
    unsigned qhead, nq;          /* OP_REACHABLE: the late queue */
    size_t late;                 /* objects kept after the scan passed them */
    om_gc_head *spill;
    om_object *q[GC_LATE];
    side_way self[1];            /* the scanned objects' side bytes */
    side_way kid[SIDE_WAYS];     /* their referents' */
    side_way *mru;               /* the kid way used last (kid_at) */
} pass_ctx;

/* A byte's count is full: SIDE_CMAX + 1 references go to the header of
 * the referent if it is in the set (its prev word, which the passes
 * rebuild, holds the count: GC_COLLECTING says so); a referent outside
 * the set just wraps.  The set: in a collection, tracked objects whose
 * tag is at most max_tag; in handle_resurrected's check, max_tag is -1 and
 * every object of the set holds a count (possibly 0) from the start. */
static __attribute__((noinline)) void overflow_ref(om_object *c, intptr_t max_tag) {
    if (!is_gc(c))
        return;
    om_gc_head *h = om_gc_head_of(c);
    const uintptr_t add = (uintptr_t)(SIDE_CMAX + 1) << GC_REFS_SHIFT;
    if (!h->next)
        return;
    if (h->prev & GC_COLLECTING)
        h->prev += add;
    else if ((intptr_t)(h->prev & GC_GEN_MASK) <= max_tag)
        h->prev = add | (h->prev & (OM_GC_FINALIZED | GC_GEN_MASK)) | GC_COLLECTING;
}

/* A reference from an object of the set. */
static inline void count_ref(om_object *c, pass_ctx *x) {
    uint8_t *s = kid_at(&x->mru, x->kid, c);
    if (!s)
        return;
    unsigned v = *s;
    if (om_likely(v < SIDE_CMAX)) {
        *s = (uint8_t)(v + 1);
    } else {
        *s = 0;
        overflow_ref(c, x->max_tag);
    }
}

/* A kept object's referent is kept too: one the scan has not reached yet
 * (or not in the set) is marked; one it passed at gc_refs 0 is kept now,
 * and its references are visited from the late queue. */
static inline void reach_ref(om_object *c, pass_ctx *x) {
    uint8_t *s = kid_at(&x->mru, x->kid, c);
    if (!s)
        return;
    unsigned v = *s;
    if (v <= SIDE_CMAX) {
        *s = SIDE_REACHED;
    } else if (v == SIDE_UNREACHABLE) {
        *s = SIDE_KEPT;
        x->late++;
        if (om_likely(x->nq < GC_LATE)) {
            __builtin_prefetch(c);
            x->q[(x->qhead + x->nq++) & (GC_LATE - 1)] = c;
        } else {
            om_gc_head *g = om_gc_head_of(c);
            g->prev = (uintptr_t)x->spill | (g->prev & OM_GC_FLAG_MASK);
            x->spill = g;
        }
    }
}

/* The traverse-hook forms (the inline forms count references per object,
 * in a register; these count in om_gc.edges). */
static int visit_count(om_object *c, void *arg) {
    om_gc.edges++;
    count_ref(c, arg);
    return 0;
}

static int visit_reachable(om_object *c, void *arg) {
    reach_ref(c, arg);
    return 0;
}

static inline void clean_ref(om_object *c, pass_ctx *x) {
    uint8_t *s = kid_at(&x->mru, x->kid, c);
    if (s && *s != SIDE_UNREACHABLE)
        *s = 0;
}

static int visit_clean(om_object *c, void *arg) {
    clean_ref(c, arg);
    return 0;
}

static inline int visit_prefetch(om_object *c, void *arg) {
    (void)arg;
    __builtin_prefetch((char *)c - sizeof(om_gc_head), 1);
    __builtin_prefetch(c, 1);
    return 0;
}

static inline __attribute__((always_inline)) void visit_child(int op, om_object *o, om_object *c, pass_ctx *x) {
    if (op == OP_COUNT) {
        count_ref(c, x);
    } else if (op == OP_PREFETCH) {
        visit_prefetch(c, NULL);
    } else if (op == OP_CLEAN) {
        clean_ref(c, x);
    } else if (op == OP_PROBE) {
        /* count_refs' first objects: also measure how far the references
         * jump (see count_refs) */
        uintptr_t d = (uintptr_t)c - (uintptr_t)o;
        x->far += d + GC_NEAR > 2 * GC_NEAR; /* |d| > GC_NEAR */
        count_ref(c, x);
    } else {
        reach_ref(c, x);
    }
}

/* An array of references (items, or a refs hook's). */
static inline __attribute__((always_inline)) void for_array(int op, om_object *o, om_object *const *a, size_t n,
                                                            pass_ctx *x) {
    if (op == OP_PREFETCH) {
        /* The lookahead: a few references are enough to overlap the
         * misses. */
        for (size_t i = 0; i < n && i < GC_AHEAD_REFS; i++)
            if (a[i])
                visit_prefetch(a[i], NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        om_object *c = a[i];
        if (c)
            visit_child(op, o, c, x);
    }
}

/* Returns how many references o has in arrays and fields (0 through
 * traverse, whose visits count themselves in om_gc.edges). */
static inline __attribute__((always_inline)) size_t for_children(int op, om_object *o, pass_ctx *x) {
    const om_type *t = o->type;
    size_t n = t->state_.ref_run;
    if (om_likely(n)) {
        /* declared fields, one run of words */
        om_object *const *w = (om_object *const *)o + t->state_.ref_first;
        size_t i = 0;
        do {
            om_object *c = w[i];
            if (c)
                visit_child(op, o, c, x);
        } while (++i < n);
        if (om_likely(!(t->flags & OM_TYPE_REF_ITEMS)))
            return n;
    } else if (t->ref_fields) {
        /* declared fields, scattered */
        for (uint64_t m = t->ref_fields; m; m &= m - 1, n++) {
            om_object *c = ((om_object *const *)o)[__builtin_ctzll(m)];
            if (c)
                visit_child(op, o, c, x);
        }
        if (!(t->flags & OM_TYPE_REF_ITEMS))
            return n;
    }
    if (t->flags & OM_TYPE_REF_ITEMS) {
        size_t k = (size_t)((om_varobject *)o)->nitems;
        for_array(op, o, (om_object *const *)((char *)o + t->size), k, x);
        return n + k;
    }
    if (t->refs) {
        om_refs r = t->refs(o);
        for_array(op, o, r.items, r.count, x);
        return r.count;
    }
    t->traverse(o, op == OP_COUNT || op == OP_PROBE ? visit_count
                   : op == OP_REACHABLE            ? visit_reachable
                   : op == OP_CLEAN                ? visit_clean
                                                   : visit_prefetch,
                x);
    return 0;
}

/* Count, for each object, the references to it from the objects of list
 * (CPython's update_refs and subtract_refs, turned round: gc_refs =
 * refcount - count, taken when move_unreachable reaches the object, whose
 * own cache line it reads then anyway; the referents' lines are never
 * touched).  max_tag: see overflow_ref.
 *
 * The first GC_PROBE objects also measure how far their references jump:
 * if more than one in eight goes further than GC_NEAR, delete_garbage
 * prefetches ahead (its clears touch each referent's header).  On graphs
 * laid out in allocation order (rings, trees, lists of new objects) the
 * hardware prefetcher already keeps up.  Returns how many objects list
 * has. */
static size_t count_refs(om_gc_head *list, intptr_t max_tag) {
    pass_ctx x = {.max_tag = max_tag};
    x.mru = x.kid;
    om_gc_head *g = gc_next(list);
    size_t n = 0, edges = 0;
    om_gc.edges = 0; /* the traverse-hook visits count there */
    size_t seq = 0;
    for (; n < GC_PROBE && g != list; n++, g = gc_next(g)) {
        seq += (uintptr_t)gc_next(g) - (uintptr_t)g < GC_SEQ_STEP;
        edges += for_children(OP_PROBE, gc_obj(g), &x);
    }
    /* Sets smaller than the probe (young collections) are in cache. */
    om_gc.prefetch = g != list && x.far * 8 > edges + om_gc.edges;
    om_gc.stream = g != list && seq * 8 > n * 7;
    if (om_gc.stream)
        for (; g != list; n++, g = gc_next(g)) {
            __builtin_prefetch((char *)g + GC_STREAM_AHEAD);
            edges += for_children(OP_COUNT, gc_obj(g), &x);
        }
    else
        for (; g != list; n++, g = gc_next(g))
            edges += for_children(OP_COUNT, gc_obj(g), &x);
    om_gc.edges += edges;
    om_gc.examined_now = n;
    return n;
}

/* What the unreachable need beyond clear: said while they are found, so
 * that the passes for weak references, finalizers and uncollectable
 * objects run only when some object needs them.  Objects later found
 * reachable leave their bits behind: the passes then run for nothing, but
 * never wrongly. */
enum { GC_HAS_WEAKREFS = 1, GC_HAS_FINALIZERS = 2, GC_HAS_UNCOLLECTABLE = 4, GC_HAS_HOOKS = 8 };

static inline int unreachable_needs(om_gc_head *g) {
    om_object *o = gc_obj(g);
    const om_type *t = o->type;
    int what = 0;
    if (!om_type_has_clear(t))
        return GC_HAS_UNCOLLECTABLE;
    if (t->clear || !om_type_declares_refs(t))
        what |= GC_HAS_HOOKS; /* not for delete_fast */
    if (t->finalize && !(g->prev & OM_GC_FINALIZED))
        what |= GC_HAS_FINALIZERS;
    if (t == &om_weakref_type || (t->weaklist_offset && *(om_weakref **)((char *)o + t->weaklist_offset)))
        what |= GC_HAS_WEAKREFS;
    return what;
}

/* An immutable container whose references are all set and all atomic
 * (CPython's _PyTuple_MaybeUntrack): not containers, or immutable
 * containers already untracked.  Any other container, even untracked now,
 * may be tracked again later (om_gc_track), so it keeps the tuple tracked. */
static int atomic_ref(om_object *c) {
    return c && (!is_gc(c) || ((c->type->flags & OM_TYPE_GC_IMMUTABLE) && !om_gc_head_of(c)->next));
}

static int all_atomic(om_object *o) {
    const om_type *t = o->type;
    om_object *const *a;
    size_t n;
    for (uint64_t m = t->ref_fields; m; m &= m - 1)
        if (!atomic_ref(((om_object *const *)o)[__builtin_ctzll(m)]))
            return 0;
    if (t->flags & OM_TYPE_REF_ITEMS) {
        a = (om_object *const *)((char *)o + t->size);
        n = (size_t)((om_varobject *)o)->nitems;
    } else if (t->refs) {
        om_refs r = t->refs(o);
        a = r.items;
        n = r.count;
    } else {
        return t->ref_fields != 0; /* traverse only: cannot tell */
    }
    for (size_t i = 0; i < n; i++)
        if (!atomic_ref(a[i]))
            return 0;
    return 1;
}

/* The passes are over: every side byte they touched goes back to 0.
 * Zeroing whole tables costs their size; walking the objects and their
 * references again costs a lookup each: a young collection whose objects
 * refer across a large old heap walks, a large collection zeroes.
 * side_walks says which, side_walk zeroes the bytes of one list's objects
 * and of their referents (a byte SIDE_UNREACHABLE is left: delete_fast
 * still reads them), side_done ends (zeroing the tables if walks were not
 * made). */
static int side_walks(void) { return (om_gc.examined_now + om_gc.edges) * 16 < om_gc.side_bytes; }

static void side_walk(om_gc_head *list) {
    pass_ctx x = {0};
    x.mru = x.kid;
    for (om_gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
        uint8_t *s = side_at(x.self, 1, gc_obj(g));
        if (s && *s != SIDE_UNREACHABLE)
            *s = 0;
        for_children(OP_CLEAN, gc_obj(g), &x);
    }
}

static void side_clean(om_gc_head *young, om_gc_head *unreachable) {
    int walk = side_walks();
    if (walk) {
        side_walk(young);
        side_way self[1] = {{0, 0}};
        for (om_gc_head *g = gc_next(unreachable); g != unreachable; g = gc_next(g))
            *side_at(self, 1, gc_obj(g)) = 0; /* SIDE_UNREACHABLE: has a byte */
        side_walk(unreachable);
    }
    side_done(!walk);
}

/* Visit the references of queued objects until at most lag are left in
 * the queue (and none spilled). */
static void late_drain(pass_ctx *x, unsigned lag) {
    for (;;) {
        om_object *c;
        if (x->nq > lag) {
            c = x->q[x->qhead++ & (GC_LATE - 1)];
            x->nq--;
        } else if (x->spill && x->nq < GC_LATE) {
            c = gc_obj(x->spill);
            x->spill = gc_prev(x->spill);
        } else {
            return;
        }
        for_children(OP_REACHABLE, c, x);
    }
}

/* Split young (after count_refs) into the kept, left in young, and the
 * unreachable, appended to unreachable with GC_COLLECTING set; returns how
 * many are unreachable.  An object is kept if something kept refers to it
 * (SIDE_REACHED) or if gc_refs = refcount - references from the set is
 * above 0: referenced from outside; a kept object's referents are kept.
 *
 * The scan keeps young linked forward only: a kept object's prev is put
 * right when it is scanned (written only if it changes: on an all-live
 * heap the scan writes nothing into the objects it keeps but new
 * generation tags).  An object at gc_refs 0 leaves young for a tentative
 * list (singly linked, in scan order, SIDE_UNREACHABLE); if something kept
 * refers to it later it is kept (SIDE_KEPT) and its references are
 * visited through the late queue, without moving it.  When the scan and
 * the queue are done, *tentative is that list (NULL-terminated; young is
 * a proper list again), to be split (split_tentative, or delete_fast):
 * the kept go back to young's tail, the rest are the unreachable.
 * om_gc.what says what they may need (bits of objects kept late too). */
static size_t move_unreachable(om_gc_head *young, om_gc_head **tentative_out) {
    pass_ctx x = {0};
    x.mru = x.kid;
    const uintptr_t dest_tag = om_gc.dest_tag;
    om_gc_head tentative = {0, 0}, *ttail = &tentative;
    size_t ntent = 0;
    int what = 0;
    om_gc.untracked_now = 0;
    om_gc_head *prev = young;
    om_gc_head *g;
    const int stream = om_gc.stream;
    while ((g = (om_gc_head *)prev->next) != young) {
        om_object *o = gc_obj(g);
        if (stream)
            __builtin_prefetch((char *)g + GC_STREAM_AHEAD);
        uint8_t *s = side_at(x.self, 1, o);
        int keep;
        if (om_unlikely(!s)) {
            keep = 1; /* cannot be: om_new's memory; kept, as from outside */
        } else if (*s == SIDE_REACHED) {
            keep = 1;
        } else {
            uintptr_t count = *s + (g->prev & GC_COLLECTING ? g->prev >> GC_REFS_SHIFT : 0);
            keep = (uintptr_t)o->refcount > count;
        }
        if (keep) {
            if (s)
                *s = SIDE_KEPT;
            if (om_unlikely(o->type->flags & OM_TYPE_GC_IMMUTABLE) && all_atomic(o)) {
                /* Nothing to reach from it, and never will be: untrack
                 * (and forget the bytes it touched: side_clean's walk
                 * will not see it). */
                if (s)
                    *s = 0;
                for_children(OP_CLEAN, o, &x);
                prev->next = g->next;
                g->next = 0;
                g->prev &= OM_GC_FINALIZED;
                om_gc.untracked_now++;
                continue;
            }
            for_children(OP_REACHABLE, o, &x);
            uintptr_t want = (uintptr_t)prev | (g->prev & OM_GC_FINALIZED) | dest_tag;
            if (g->prev != want)
                g->prev = want;
            prev = g;
            if (x.nq > GC_LATE_LAG)
                late_drain(&x, GC_LATE_LAG);
        } else {
            prev->next = g->next;
            ttail->next = (uintptr_t)g;
            ttail = g;
            *s = SIDE_UNREACHABLE;
            ntent++;
            what |= unreachable_needs(g);
        }
    }
    late_drain(&x, 0);
    ttail->next = 0;
    prev->next = (uintptr_t)young;
    young->prev = (uintptr_t)prev;
    *tentative_out = (om_gc_head *)tentative.next;
    om_gc.what = what;
    return ntent - x.late;
}

/* A tentative object move_unreachable kept after all goes back to young's
 * tail, as a survivor. */
static inline void rejoin(om_gc_head *young, om_gc_head *g) {
    om_gc_head *tail = gc_prev(young);
    tail->next = (uintptr_t)g;
    g->prev = (uintptr_t)tail | (g->prev & OM_GC_FINALIZED) | om_gc.dest_tag;
    g->next = (uintptr_t)young;
    young->prev = (uintptr_t)g;
}

/* Split move_unreachable's tentative list: the kept back to young, the
 * rest to unreachable (COLLECTING set); om_gc.what for them alone. */
static void split_tentative(om_gc_head *young, om_gc_head *tentative, om_gc_head *unreachable) {
    side_way self[1] = {{0, 0}};
    int what = 0;
    om_gc_head *last = gc_prev(unreachable);
    for (om_gc_head *g = tentative; g;) {
        om_gc_head *n = (om_gc_head *)g->next;
        if (*side_at(self, 1, gc_obj(g)) == SIDE_KEPT) {
            rejoin(young, g);
        } else {
            last->next = (uintptr_t)g;
            g->prev = (uintptr_t)last | (g->prev & (OM_GC_FINALIZED | GC_GEN_MASK)) | GC_COLLECTING;
            last = g;
            what |= unreachable_needs(g);
        }
        g = n;
    }
    last->next = (uintptr_t)unreachable;
    unreachable->prev = (uintptr_t)last;
    om_gc.what = what;
}

/* ---- what happens to the unreachable ------------------------------------ */
static int visit_move_uncollectable(om_object *c, void *arg) {
    if (is_gc(c)) {
        om_gc_head *g = om_gc_head_of(c);
        if (g->prev & GC_COLLECTING) {
            g->prev &= ~GC_COLLECTING;
            list_move(g, arg);
        }
    }
    return 0;
}

/* Only when some unreachable object has no clear: a pass that drops the
 * scan's marks, moves the objects without clear (they cannot be freed),
 * and what they reach, to out, and says again what the rest need. */
static int classify_unreachable(om_gc_head *unreachable, om_gc_head *out) {
    int what = 0, uncollectable = 0;
    om_gc_head *g = gc_next(unreachable);
    while (g != unreachable) {
        om_gc_head *n = gc_next(g);
        const om_type *t = gc_obj(g)->type;
        if (!om_type_has_clear(t)) {
            g->prev &= ~GC_COLLECTING;
            list_move(g, out);
            uncollectable = 1;
        } else {
            om_object *o = gc_obj(g);
            if (t == &om_weakref_type ||
                (t->weaklist_offset && *(om_weakref **)((char *)o + t->weaklist_offset)))
                what |= GC_HAS_WEAKREFS;
            if (t->finalize && !(g->prev & OM_GC_FINALIZED))
                what |= GC_HAS_FINALIZERS;
        }
        g = n;
    }
    if (uncollectable)
        for (g = gc_next(out); g != out; g = gc_next(g))
            om_traverse(gc_obj(g), visit_move_uncollectable, out);
    return what;
}

static int in_unreachable(om_object *o) {
    return is_gc(o) && (om_gc_head_of(o)->prev & GC_COLLECTING);
}

/* Step 7: nobody may reach the unreachable through a weak reference. */
static void handle_weakrefs(om_gc_head *unreachable) {
    om_weakref *run = NULL, **tail = &run;
    for (om_gc_head *g = gc_next(unreachable); g != unreachable; g = gc_next(g)) {
        om_object *o = gc_obj(g);
        if (o->type == &om_weakref_type)
            om_weakref_gc_disarm(o);
        if (o->type->weaklist_offset)
            tail = om_weakref_gc_detach(o, in_unreachable, tail);
    }
    om_weakref_run_callbacks(run);
}

/* Step 8.  Returns how many finalizers ran. */
static size_t finalize_garbage(om_gc_head *unreachable) {
    om_gc_head seen;
    size_t ran = 0;
    list_init(&seen);
    om_gc_head *g;
    while ((g = gc_next(unreachable)) != unreachable) {
        list_move(g, &seen);
        om_object *o = gc_obj(g);
        if (o->type->finalize && !(g->prev & OM_GC_FINALIZED)) {
            g->prev |= OM_GC_FINALIZED;
            om_incref(o);
            o->type->finalize(o);
            om_decref(o);
            ran++;
        }
    }
    list_merge(&seen, unreachable);
    return ran;
}

/* Step 9: finalizers may have stored references to the unreachable.
 * Returns how many came back to life (they join the old generation). */
static size_t handle_resurrected(om_gc_head *unreachable, om_gc_head *still, om_gc_head *old) {
    /* The set is the unreachable list: each of its objects holds a count
     * (0) in its header from the start (overflow_ref), and no other does. */
    for (om_gc_head *g = gc_next(unreachable); g != unreachable; g = gc_next(g))
        g->prev = (g->prev & (OM_GC_FINALIZED | GC_GEN_MASK)) | GC_COLLECTING;
    size_t n = count_refs(unreachable, -1);
    om_gc_head *tentative;
    size_t dead = move_unreachable(unreachable, &tentative);
    split_tentative(unreachable, tentative, still);
    side_clean(unreachable, still);
    list_merge(unreachable, old);
    return n - dead;
}

static void report(const char *what, om_object *o) {
    fprintf(stderr, "gc: %s <%s %p>\n", what, o->type->name ? o->type->name : "?", (void *)o);
}

/* Step 10 (with SAVEALL: everything to the garbage list instead).
 * Returns how many survived their clear (they join the old generation).
 *
 * Three sequential passes instead of CPython's "clear the first, see if it
 * died": (1) hold every object and take it off the lists, chaining them
 * through their headers' prev words; (2) clear each (nothing dies: we hold
 * them all; references to objects outside the set may die, but no such
 * object can reach the set, or the set would not be unreachable); (3) drop
 * our references: each dies in turn, with nothing left to cascade.  So no
 * object is unlinked from the middle of a list at a random place, and
 * pass 2 can prefetch ahead. */
static size_t delete_garbage(om_gc_head *list, om_gc_head *old) {
    om_gc_head *g;
    if (om_gc.debug & OM_GC_DEBUG_SAVEALL) {
        while ((g = gc_next(list)) != list) {
            g->prev = (g->prev & ~GC_COLLECTING) | GC_TAG_OTHER;
            list_move(g, &om_gc.garbage);
            om_incref(gc_obj(g));
        }
        return 0;
    }
    /* The chain: next == 0 (untracked), prev = the next one in the chain
     * | COLLECTING (om_gc_track refuses such an object: a clear that tried
     * to track one would break the chain).  FINALIZED was set on every
     * object that had a finalizer (finalize_garbage ran first), so pass 3
     * rebuilds the flags from the type. */
    om_gc_head *first = NULL, *last = NULL;
    for (g = gc_next(list); g != list;) {
        om_gc_head *n = gc_next(g);
        gc_obj(g)->refcount++;
        g->next = 0;
        g->prev = GC_COLLECTING;
        if (last)
            last->prev = (uintptr_t)g | GC_COLLECTING;
        else
            first = g;
        last = g;
        g = n;
    }
    list_init(list);
    om_gc_head *ahead = om_gc.prefetch ? first : NULL;
    for (int i = 0; i < GC_AHEAD && ahead; i++)
        ahead = gc_prev(ahead);
    pass_ctx x = {0};
    x.mru = x.kid;
    for (g = first; g; g = gc_prev(g)) {
        if (ahead) {
            for_children(OP_PREFETCH, gc_obj(ahead), &x);
            ahead = gc_prev(ahead);
        }
        om_type_clear(gc_obj(g));
    }
    size_t kept = 0;
    for (g = first; g;) {
        om_gc_head *n = gc_prev(g);
        om_object *o = gc_obj(g);
        const om_type *t = o->type;
        g->prev = (t->finalize ? OM_GC_FINALIZED : 0) | om_gc.dest_tag;
        if (o->refcount == 1 && (!t->weaklist_offset || !*(om_weakref **)((char *)o + t->weaklist_offset))) {
            om_destroy_cleared(o); /* ours was the last reference */
        } else {
            if (o->refcount > 1) { /* someone kept it: back on a list */
                list_append(g, old);
                kept++;
            }
            om_decref(o); /* (a finalizer gave it new weak references) */
        }
        g = n;
    }
    return kept;
}

/* Step 10 when every unreachable object is plain: no finalizer left to
 * run, no weak references, its references declared and no clear hook of
 * its own (unreachable_needs), and SAVEALL off.  Then nothing can look at
 * the set while it is freed, and the references inside it need no
 * counting: nothing outside refers to an object of the set (or it would be
 * reachable).  Pass 1 drops the references that leave the set (the side
 * bytes still say SIDE_UNREACHABLE for the set; whatever dies of it
 * cannot reach the set either) and empties every reference field; pass 2
 * frees each object.  No reference inside the set is counted down, no
 * referent's cache line touched.  walk: side_walks() (the bytes of the set
 * and of what it refers to are zeroed here; else by side_done). */
#define GC_OUT 16 /* references out of the set in flight (delete_fast) */

static void delete_fast(om_gc_head *young, om_gc_head *tentative, int walk) {
    pass_ctx x = {0};
    x.mru = x.kid;
    om_object *out[GC_OUT];
    size_t nout = 0;
    om_gc_head *dead = NULL; /* pass 2's list, linked through next */
    const int stream = om_gc.stream;
    for (om_gc_head *g = tentative; g;) {
        om_gc_head *next = (om_gc_head *)g->next;
        om_object *o = gc_obj(g);
        if (stream)
            __builtin_prefetch((char *)g + GC_STREAM_AHEAD);
        if (*side_at(x.self, 1, o) == SIDE_KEPT) { /* kept after all */
            rejoin(young, g);
            g = next;
            continue;
        }
        if (om_gc.debug & OM_GC_DEBUG_COLLECTABLE)
            report("collectable", o);
        g->next = (uintptr_t)dead;
        dead = g;
        g = next;
        const om_type *t = o->type;
        om_object **w = (om_object **)o;
        size_t n = 0;
        uint64_t m = t->ref_fields;
        om_object **items = NULL;
        if (t->flags & OM_TYPE_REF_ITEMS) {
            items = (om_object **)((char *)o + t->size);
            n = (size_t)((om_varobject *)o)->nitems;
        }
        for (;;) {
            om_object **slot;
            if (m) {
                slot = &w[__builtin_ctzll(m)];
                m &= m - 1;
            } else if (n) {
                slot = &items[--n];
            } else {
                break;
            }
            om_object *c = *slot;
            if (!c)
                continue;
            *slot = NULL;
            uint8_t *s = kid_at(&x.mru, x.kid, c);
            if (s && *s == SIDE_UNREACHABLE)
                continue;
            /* Walking: an object outside the set has its byte zeroed here; a
             * kept one (perhaps one of the tentative list not reached yet)
             * keeps it, for the test above and side_walk. */
            if (s && walk && *s != SIDE_KEPT)
                *s = 0;
            /* A reference out of the set: dropped a few references later,
             * when the prefetch of its referent's line has landed. */
            __builtin_prefetch(c, 1);
            om_object *due = out[nout % GC_OUT];
            out[nout++ % GC_OUT] = c;
            if (nout > GC_OUT)
                om_decref(due);
        }
    }
    for (size_t i = nout > GC_OUT ? nout - GC_OUT : 0; i < nout; i++)
        om_decref(out[i % GC_OUT]);
    if (walk)
        side_walk(young);
    while (dead) { /* in the opposite order */
        om_gc_head *n = (om_gc_head *)dead->next;
        om_object *o = gc_obj(dead);
        if (stream)
            __builtin_prefetch((char *)dead - GC_STREAM_AHEAD);
        if (walk)
            *side_at(x.self, 1, o) = 0;
        dead->next = 0;
        dead->prev = 0;
        o->refcount = 1;
        om_destroy_cleared(o);
        dead = n;
    }
}

/* Collections are timed with the precise clock (om_os_now_ns is the
 * coarse one, good enough for purge deadlines, not for a 3 µs pass). */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void run_callbacks(om_gc_phase phase, const om_gc_info *info) {
    for (int i = 0; i < om_gc.ncallbacks; i++)
        om_gc.callbacks[i].fn(phase, info, om_gc.callbacks[i].arg);
}

static long collect(int generation) {
    if (om_unlikely(!om_gc.ready))
        om_gc_init();
    om_gc.collecting = 1;
    om_gc.pending = 0;
    om_gc_info info = {.generation = generation};
    uint64_t t0 = now_ns();
    if (om_gc.ncallbacks)
        run_callbacks(OM_GC_START, &info);

    if (generation + 1 < OM_GC_GENERATIONS)
        om_gc.count[generation + 1]++;
    for (int i = 0; i <= generation; i++)
        om_gc.count[i] = 0;
    for (int i = 0; i < generation; i++)
        list_merge(&om_gc.gen[i], &om_gc.gen[generation]);
    om_gc_head *young = &om_gc.gen[generation];
    om_gc_head *old = generation + 1 < OM_GC_GENERATIONS ? &om_gc.gen[generation + 1] : young;

    om_gc_head unreachable, uncollectable, still;
    list_init(&unreachable);
    list_init(&uncollectable);
    list_init(&still);
    om_gc.dest_tag = GC_TAG(old == young ? generation : generation + 1);
    info.examined = count_refs(young, (intptr_t)GC_TAG(generation));
    om_gc_head *tentative;
    size_t found = move_unreachable(young, &tentative);
    size_t survivors = info.examined - found - om_gc.untracked_now;
    /* The 25% rule weighs work, not objects: a full collection costs its
     * objects plus the references it follows (a list of a million
     * untracked tuples is one object, but a million visits). */
    size_t work = survivors + (info.examined ? (size_t)((double)om_gc.edges * survivors / info.examined) : 0);
    if (generation == OM_GC_GENERATIONS - 2)
        om_gc.long_lived_pending += work;
    /* The side bytes: delete_fast still reads the unreachable's. */
    if (om_gc.what == 0 && !(om_gc.debug & OM_GC_DEBUG_SAVEALL)) {
        int walk = side_walks();
        delete_fast(young, tentative, walk);
        side_done(!walk);
    } else {
        split_tentative(young, tentative, &unreachable);
        side_clean(young, &unreachable);
    }
    int what = om_gc.what;
    if (young != old)
        list_merge(young, old);
    if (what & GC_HAS_UNCOLLECTABLE)
        what = classify_unreachable(&unreachable, &uncollectable);
    if (om_gc.debug & OM_GC_DEBUG_COLLECTABLE)
        for (om_gc_head *g = gc_next(&unreachable); g != &unreachable; g = gc_next(g))
            report("collectable", gc_obj(g));
    if (what & GC_HAS_WEAKREFS)
        handle_weakrefs(&unreachable);
    size_t resurrected = 0;
    if ((what & GC_HAS_FINALIZERS) && finalize_garbage(&unreachable))
        resurrected = handle_resurrected(&unreachable, &still, old);
    else
        list_merge(&unreachable, &still);
    delete_garbage(&still, old);

    size_t n_uncollectable = 0;
    om_gc_head *g;
    while ((g = gc_next(&uncollectable)) != &uncollectable) {
        if (om_gc.debug & OM_GC_DEBUG_UNCOLLECTABLE)
            report("uncollectable", gc_obj(g));
        list_move(g, &om_gc.garbage);
        g->prev |= GC_TAG_OTHER;
        om_incref(gc_obj(g));
        n_uncollectable++;
    }
    /* As CPython: the resurrected are not collected; those that survive
     * their clear (a pathological type) are counted, as CPython does. */
    long collected = (long)(found - n_uncollectable - resurrected);

    if (generation == OM_GC_GENERATIONS - 1) {
        om_freelists_clear();
        om_gc.long_lived_pending = 0;
        om_gc.long_lived_total = work;
    }
    uint64_t dt = now_ns() - t0;
    om_gc_gen_stats *st = &om_gc.stats[generation];
    st->collections++;
    st->collected += (uint64_t)collected;
    st->uncollectable += n_uncollectable;
    st->total_ns += dt;
    if (om_gc.debug & OM_GC_DEBUG_STATS)
        fprintf(stderr, "gc: generation %d: %llu examined, %ld unreachable, %zu uncollectable, %.3f ms\n",
                generation, (unsigned long long)info.examined, collected + (long)n_uncollectable,
                n_uncollectable, (double)dt / 1e6);
    info.collected = collected;
    info.uncollectable = (long)n_uncollectable;
    info.duration_ns = dt;
    if (om_gc.ncallbacks)
        run_callbacks(OM_GC_STOP, &info);
    om_gc.collecting = 0;
    return collected + (long)n_uncollectable;
}

long om_gc_collect(int generation) {
    if (generation == -1)
        generation = OM_GC_GENERATIONS - 1;
    if (generation < 0 || generation >= OM_GC_GENERATIONS) {
        errno = EINVAL;
        return -1;
    }
    if (om_gc.collecting) {
        errno = EBUSY;
        return -1;
    }
    return collect(generation);
}

long om_gc_poll(void) {
    if (om_likely(!om_gc.pending) || om_gc.collecting)
        return 0;
    om_gc.pending = 0;
    if (!om_gc.enabled)
        return 0;
    for (int i = OM_GC_GENERATIONS - 1; i >= 0; i--) {
        if (om_gc.count[i] > om_gc.threshold[i]) {
            /* A full collection only when a quarter of the long-lived
             * objects are new since the last one: amortised linear. */
            if (i == OM_GC_GENERATIONS - 1 && om_gc.long_lived_pending < om_gc.long_lived_total / 4)
                continue;
            return collect(i);
        }
    }
    return 0;
}

int om_gc_pending(void) { return om_gc.pending; }

