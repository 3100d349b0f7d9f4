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
 *   prev, bit 1  OM_GC_COLLECTING  in the set being collected
 *   prev, 2-3    generation tag    0, 1, 2, or 3 (permanent, garbage): the
 *                                  generation the object was put in (a
 *                                  younger one merged into an older keeps
 *                                  its tag: "tag <= g" is "in the set of a
 *                                  collection of g"); new objects are 0
 *   prev, >> 4   gc_refs           during a collection, while COLLECTING:
 *                                  prev is not a pointer then
 *   next, bit 0  OM_GC_UNREACHABLE on the tentatively-unreachable list
 *                                  (only inside move_unreachable)
 *
 * A collection of generation g (collect):
 *   1. merge generations 0..g into g: the "young" list;
 *   2. update_refs: gc_refs = refcount, COLLECTING set;
 *   3. subtract_refs: traverse each; a referent that is COLLECTING loses
 *      one gc_ref.  gc_refs > 0 now means "referenced from outside".
 *      Steps 2 and 3 run as one pass (update_and_subtract): the generation
 *      tag tells a referent of the set that is not initialised yet;
 *   4. move_unreachable: scan young; gc_refs == 0 goes tentatively to
 *      unreachable; a reachable object's traverse pulls its referents back
 *      (visit_reachable).  Reachable objects get their prev pointer back
 *      and lose COLLECTING: the young list is a plain list again;
 *   5. survivors move to generation g + 1;
 *   6. unreachable objects whose type has no clear, and whatever they
 *      reach, are uncollectable: they go to the garbage list;
 *   7. weak references to the unreachable are cleared; callbacks run only
 *      for weak references that are themselves reachable;
 *   8. finalizers run, once per object ever;
 *   9. if any ran, steps 2-4 again on the unreachable set: objects a
 *      finalizer resurrected go to the old generation;
 *  10. clear each one left (reference counting then frees them); one that
 *      survives its clear goes to the old generation.
 * No step recurses or allocates: traversals visit one level, lists are
 * intrusive.  Objects freed during steps 7-10 unlink themselves from
 * whichever list holds them (om_gc_untrack_dead, from object.c).
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

/* ---- the core: which objects are referenced only from inside ---------- */
static inline uintptr_t gc_refs(const om_gc_head *g) { return g->prev >> GC_REFS_SHIFT; }

/* gc_refs := refcount, COLLECTING set (prev stops being a pointer). */
static size_t update_refs(om_gc_head *list) {
    size_t n = 0;
    for (om_gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
        g->prev = ((uintptr_t)gc_obj(g)->refcount << GC_REFS_SHIFT) | (g->prev & OM_GC_FINALIZED) | GC_COLLECTING;
        n++;
    }
    return n;
}

static inline void decref_plain(om_object *c) {
    if (is_gc(c)) {
        om_gc_head *g = om_gc_head_of(c);
        if (g->prev & GC_COLLECTING)
            g->prev -= (uintptr_t)1 << GC_REFS_SHIFT;
    }
}

/* The traverse-hook form (the refs form counts references per object, in
 * a register: a global counter bumped per reference is a store-to-load
 * chain through every visit). */
static int visit_decref(om_object *c, void *arg) {
    (void)arg;
    om_gc.edges++;
    decref_plain(c);
    return 0;
}

/* update_refs and subtract_refs in one pass (the first pass of a
 * collection): an object of the set is initialised (gc_refs = refcount,
 * COLLECTING) by whichever comes first, its own turn in the scan or the
 * first reference to it, which the generation tag recognises as in the
 * set.  One pass over the set instead of two. */
static inline void decref_new(om_object *c, uintptr_t max_tag) {
    if (is_gc(c)) {
        om_gc_head *h = om_gc_head_of(c);
        uintptr_t p = h->prev;
        if (p & GC_COLLECTING)
            h->prev = p - ((uintptr_t)1 << GC_REFS_SHIFT);
        else if (h->next && (p & GC_GEN_MASK) <= max_tag)
            h->prev = ((uintptr_t)(c->refcount - 1) << GC_REFS_SHIFT) | (p & (OM_GC_FINALIZED | GC_GEN_MASK)) |
                      GC_COLLECTING;
    }
}

static int visit_decref_new(om_object *c, void *arg) {
    (void)arg;
    om_gc.edges++;
    decref_new(c, om_gc.max_tag);
    return 0;
}

static inline void init_self(om_gc_head *g) {
    uintptr_t p = g->prev;
    if (!(p & GC_COLLECTING))
        g->prev = ((uintptr_t)gc_obj(g)->refcount << GC_REFS_SHIFT) | (p & (OM_GC_FINALIZED | GC_GEN_MASK)) |
                  GC_COLLECTING;
}

/* A reachable object's referent is reachable too. */
static inline int visit_reachable(om_object *c, void *arg) {
    om_gc_head *young = arg;
    if (!is_gc(c))
        return 0;
    om_gc_head *g = om_gc_head_of(c);
    if (!(g->prev & GC_COLLECTING))
        return 0;
    if (g->next & GC_UNREACHABLE) {
        /* Scanned already and found at 0: take it back off the unreachable
         * list (whose next links carry the mark) to young's tail, where the
         * scan will reach it again. */
        om_gc_head *p = gc_prev(g), *n = gc_next(g);
        p->next = g->next;
        gc_set_prev(n, p);
        om_gc_head *last = gc_prev(young);
        last->next = (uintptr_t)g;
        g->next = (uintptr_t)young;
        young->prev = (uintptr_t)g;
        g->prev = ((uintptr_t)1 << GC_REFS_SHIFT) | (g->prev & OM_GC_FINALIZED) | GC_COLLECTING;
        om_gc.unreachable_now--;
    } else if (gc_refs(g) == 0) {
        g->prev |= (uintptr_t)1 << GC_REFS_SHIFT;
    }
    return 0;
}

static inline int visit_prefetch(om_object *c, void *arg) {
    (void)arg;
    __builtin_prefetch((char *)c - sizeof(om_gc_head), 1);
    __builtin_prefetch(c, 1);
    return 0;
}

/* Apply one of the visits above to each reference of o, in the fastest
 * form its type offers: declared references (ref_fields, then
 * OM_TYPE_REF_ITEMS) and the refs array are walked inline, with no call at
 * all; only a type with nothing but traverse costs a call per reference.
 * Specialised per op by always_inline. */
enum { OP_DECREF, OP_REACHABLE, OP_PREFETCH, OP_PROBE, OP_DECREF_NEW, OP_PROBE_NEW };
#define GC_PROBE 4096                     /* objects subtract_refs probes */
#define GC_AHEAD_REFS 16                  /* references prefetched ahead, at most */
#define GC_NEAR ((uintptr_t)1 << 18)      /* a reference within 256 KiB is near */

/* Big containers in step with the scan.  A list of a million objects,
 * made as they were (the usual way), holds them in the order the scan
 * meets them; visiting its references all at once sweeps the heap once
 * more per pass, and by the time the scan comes to each object its cache
 * line is gone.  So a pass keeps a cursor into each big container's array
 * (up to GC_CURSORS of them) and visits a reference when the scan reaches
 * the object it refers to, while its line is hot; whatever a cursor has
 * not visited when the scan ends (references out of order, to objects
 * outside the set or behind the container) is visited then.  Correct in
 * any order: subtract_refs' decrements commute, and move_unreachable only
 * needs every reachable container's references visited before it ends
 * (an object the scan left as unreachable comes back when visited, as
 * always). */
#define GC_BIG 1024                       /* references that make a container big */
#define GC_CURSORS 4

typedef struct gc_cursor {
    om_object *const *items;
    size_t n, pos;
} gc_cursor;

/* What a pass carries through its visits (in registers, once inlined). */
typedef struct pass_ctx {
    om_gc_head *young;           /* OP_REACHABLE */
    uintptr_t max_tag;           /* OP_DECREF_NEW, OP_PROBE_NEW */
    size_t far;                  /* OP_PROBE*: references that jump far */
    int prefetch;                /* copy of om_gc.prefetch */
    unsigned ncur, maxcur;       /* cursors in use, allowed */
    size_t deferred;             /* references given to cursors */
    gc_cursor cur[GC_CURSORS];
} pass_ctx;

/* The visit a cursor makes for a pass's op (the probe's are plain). */
static inline int cursor_op(int op) {
    return op == OP_PROBE ? OP_DECREF : op == OP_PROBE_NEW ? OP_DECREF_NEW : op;
}

static inline __attribute__((always_inline)) void visit_child(int op, om_object *o, om_object *c, pass_ctx *x) {
    if (op == OP_DECREF) {
        decref_plain(c);
    } else if (op == OP_DECREF_NEW) {
        decref_new(c, x->max_tag);
    } else if (op == OP_PREFETCH) {
        visit_prefetch(c, NULL);
    } else if (op == OP_PROBE || op == OP_PROBE_NEW) {
        /* subtract_refs' first objects: also measure how far the
         * references jump (see subtract_refs) */
        uintptr_t d = (uintptr_t)c - (uintptr_t)o;
        x->far += d + GC_NEAR > 2 * GC_NEAR; /* |d| > GC_NEAR */
        if (op == OP_PROBE)
            decref_plain(c);
        else
            decref_new(c, x->max_tag);
    } else {
        visit_reachable(c, x->young);
    }
}

/* An array of references (items, or a refs hook's). */
static inline __attribute__((always_inline)) void for_array(int op, om_object *o, om_object *const *a, size_t n,
                                                            pass_ctx *x) {
    if (op != OP_PREFETCH && om_unlikely(n >= GC_BIG) && x->ncur < x->maxcur) {
        x->cur[x->ncur++] = (gc_cursor){a, n, 0};
        x->deferred += n;
        return;
    }
    if (op == OP_PREFETCH) {
        /* The lookahead: a few references are enough to overlap the
         * misses; a big container prefetches for itself (below). */
        for (size_t i = 0; i < n && i < GC_AHEAD_REFS; i++)
            if (a[i])
                visit_prefetch(a[i], NULL);
        return;
    }
    /* A big container's references: prefetch GC_AHEAD_REFS ahead of the
     * one visited (when this collection prefetches at all). */
    if (om_unlikely(n > GC_AHEAD_REFS) && x->prefetch) {
        for (size_t i = 0; i + GC_AHEAD_REFS < n; i++) {
            if (a[i + GC_AHEAD_REFS])
                visit_prefetch(a[i + GC_AHEAD_REFS], NULL);
            if (a[i])
                visit_child(op, o, a[i], x);
        }
        a += n - GC_AHEAD_REFS;
        n = GC_AHEAD_REFS;
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
    t->traverse(o, op == OP_DECREF || op == OP_PROBE           ? visit_decref
                   : op == OP_DECREF_NEW || op == OP_PROBE_NEW ? visit_decref_new
                   : op == OP_REACHABLE                         ? visit_reachable
                                                                : visit_prefetch,
                x->young);
    return 0;
}

/* Whether a cursor waits for the scan to reach t: t is an object of the
 * set the visit would change that the scan has not reached (the first
 * pass: not initialised yet; move_unreachable: gc_refs 0, not scanned).
 * Anything else (NULL, not a container, outside the set, seen already)
 * is visited at once. */
static inline int cursor_waits(int op, om_object *t, pass_ctx *x) {
    if (!is_gc(t))
        return 0;
    om_gc_head *h = om_gc_head_of(t);
    uintptr_t p = h->prev;
    if (op == OP_REACHABLE)
        return (p & ~(OM_GC_FINALIZED | GC_GEN_MASK)) == GC_COLLECTING && !(h->next & GC_UNREACHABLE);
    return !(p & GC_COLLECTING) && h->next && (p & GC_GEN_MASK) <= x->max_tag;
}

/* The scan is at o: each cursor visits its references up to the first
 * one that must wait for the scan (o itself is visited); a spent cursor
 * is dropped. */
static inline __attribute__((always_inline)) void cursors_at(int op, om_object *o, pass_ctx *x) {
    op = cursor_op(op);
    for (unsigned k = 0; k < x->ncur;) {
        gc_cursor *c = &x->cur[k];
        while (c->pos < c->n) {
            om_object *t = c->items[c->pos];
            if (t) {
                if (t != o && cursor_waits(op, t, x))
                    break;
                visit_child(op, o, t, x);
            }
            c->pos++;
        }
        if (c->pos == c->n)
            x->cur[k] = x->cur[--x->ncur]; /* spent: the last takes its place */
        else
            k++;
    }
}

/* The scan has ended: visit what the cursors have left, as any array
 * (no more cursors: anything visited later is visited at once). */
static inline __attribute__((always_inline)) void cursors_flush(int op, pass_ctx *x) {
    op = cursor_op(op);
    x->maxcur = 0;
    while (x->ncur) {
        gc_cursor c = x->cur[--x->ncur];
        for_array(op, NULL, c.items + c.pos, c.n - c.pos, x);
    }
}

/* Prefetching.  The passes that traverse (subtract_refs, move_unreachable,
 * delete_garbage) touch each referent's header: on a large heap, a cache
 * miss per edge, taken one after the other.  A cursor GC_AHEAD objects
 * ahead of the scan visits early with visit_prefetch, so those misses
 * overlap; the objects themselves come in order (lists follow allocation
 * order, which the hardware prefetcher follows).  Each pass has two
 * loops, with and without the cursor (always_inline on a constant), so
 * that the common case pays nothing for it. */
#define GC_AHEAD 8

static inline om_gc_head *ahead_step(om_gc_head *ahead, om_gc_head *end, pass_ctx *x) {
    if (!ahead)
        return NULL;
    for_children(OP_PREFETCH, gc_obj(ahead), x);
    ahead = gc_next(ahead);
    return ahead == end ? NULL : ahead;
}

/* The cursor GC_AHEAD objects past g (NULL if the list ends first). */
static inline om_gc_head *ahead_from(om_gc_head *g, om_gc_head *end) {
    for (int i = 0; i < GC_AHEAD && g != end; i++)
        g = gc_next(g);
    return g == end ? NULL : g;
}

/* Whether to prefetch is decided on the heap itself: subtract_refs probes
 * its first GC_PROBE objects' references, and turns the lookahead on (for
 * itself, move_unreachable and delete_garbage) only if more than one in
 * eight jumps further than GC_NEAR.  On graphs laid out in allocation
 * order (rings, trees, lists of new objects) the hardware prefetcher
 * already keeps up, and the lookahead would only cost a second traversal. */
typedef struct pass_count {
    size_t n, edges;
} pass_count;

static inline __attribute__((always_inline)) pass_count subtract_from(om_gc_head *g, om_gc_head *list, int fused,
                                                                      int pf, pass_ctx *x) {
    pass_count k = {0, 0};
    om_gc_head *ahead = pf ? ahead_from(g, list) : NULL;
    for (; g != list; g = gc_next(g), k.n++) {
        if (pf)
            ahead = ahead_step(ahead, list, x);
        if (x->ncur)
            cursors_at(fused ? OP_DECREF_NEW : OP_DECREF, gc_obj(g), x);
        if (fused)
            init_self(g);
        k.edges += for_children(fused ? OP_DECREF_NEW : OP_DECREF, gc_obj(g), x);
    }
    return k;
}

static inline __attribute__((always_inline)) size_t subtract_pass(om_gc_head *list, int fused) {
    om_gc_head *g = gc_next(list);
    size_t n = 0, edges = 0;
    /* Cursors in the fused pass only: after update_refs every object of
     * the set looks the same, so a cursor could not tell what to wait for. */
    pass_ctx x = {.max_tag = om_gc.max_tag, .maxcur = fused ? GC_CURSORS : 0};
    om_gc.edges = 0; /* the traverse-hook visits count there */
    for (; n < GC_PROBE && g != list; n++, g = gc_next(g)) {
        if (x.ncur)
            cursors_at(fused ? OP_DECREF_NEW : OP_DECREF, gc_obj(g), &x);
        if (fused)
            init_self(g);
        edges += for_children(fused ? OP_PROBE_NEW : OP_PROBE, gc_obj(g), &x);
    }
    /* Sets smaller than the probe (young collections) are in cache. */
    om_gc.prefetch = x.prefetch = g != list && x.far * 8 > edges + om_gc.edges - x.deferred;
    pass_count k = x.prefetch ? subtract_from(g, list, fused, 1, &x) : subtract_from(g, list, fused, 0, &x);
    if (x.ncur)
        cursors_flush(fused ? OP_DECREF_NEW : OP_DECREF, &x);
    om_gc.edges += edges + k.edges;
    return n + k.n;
}

/* After update_refs (the resurrection check). */
static void subtract_refs(om_gc_head *list) { subtract_pass(list, 0); }

/* The first pass of a collection of generation gen: update_refs and
 * subtract_refs at once; returns how many objects the set has. */
static size_t update_and_subtract(om_gc_head *list, int gen) {
    om_gc.max_tag = GC_TAG(gen);
    return subtract_pass(list, 1);
}

/* Split young (after update_refs and subtract_refs) into the reachable,
 * left in young as a normal list without COLLECTING, and the unreachable,
 * appended to unreachable with COLLECTING kept; returns how many are
 * unreachable.  During the scan young is linked forward only (prev holds
 * gc_refs) and young->prev is its tail; the unreachable list is doubly
 * linked and its next links carry OM_GC_UNREACHABLE, which the caller
 * clears (clear_marks, or its first pass over the list). */
/* What the unreachable need beyond clear: said while they are found, so
 * that the passes for weak references, finalizers and uncollectable
 * objects run only when some object needs them.  Objects later found
 * reachable leave their bits behind: the passes then run for nothing, but
 * never wrongly. */
enum { GC_HAS_WEAKREFS = 1, GC_HAS_FINALIZERS = 2, GC_HAS_UNCOLLECTABLE = 4 };

static inline int unreachable_needs(om_gc_head *g) {
    om_object *o = gc_obj(g);
    const om_type *t = o->type;
    int what = 0;
    if (!om_type_has_clear(t))
        return GC_HAS_UNCOLLECTABLE;
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

static inline __attribute__((always_inline)) om_gc_head *move_unreachable_from(om_gc_head *young,
                                                                               om_gc_head *unreachable, int pf,
                                                                               pass_ctx *x) {
    const uintptr_t dest_tag = om_gc.dest_tag;
    om_gc_head *prev = young;
    om_gc_head *g = gc_next(young);
    om_gc_head *ahead = pf ? ahead_from(g, young) : NULL;
    for (;;) {
        if (g == young) {
            if (!x->ncur)
                break;
            /* What the cursors left may bring objects back to the tail. */
            cursors_flush(OP_REACHABLE, x);
            g = (om_gc_head *)prev->next;
            continue;
        }
        if (pf)
            ahead = ahead_step(ahead, young, x);
        if (x->ncur)
            cursors_at(OP_REACHABLE, gc_obj(g), x);
        if (gc_refs(g) > 0) {
            if (om_unlikely(gc_obj(g)->type->flags & OM_TYPE_GC_IMMUTABLE) && all_atomic(gc_obj(g))) {
                /* Nothing to reach from it, and never will be: untrack. */
                prev->next = g->next;
                if (g->next == (uintptr_t)young)
                    young->prev = (uintptr_t)prev;
                g->next = 0;
                g->prev &= OM_GC_FINALIZED;
                om_gc.untracked_now++;
                g = (om_gc_head *)prev->next;
                continue;
            }
            for_children(OP_REACHABLE, gc_obj(g), x);
            g->prev = (uintptr_t)prev | (g->prev & OM_GC_FINALIZED) | dest_tag;
            prev = g;
        } else {
            prev->next = g->next;
            if (g->next == (uintptr_t)young) /* was the tail */
                young->prev = (uintptr_t)prev;
            om_gc_head *last = gc_prev(unreachable);
            last->next = GC_UNREACHABLE | (uintptr_t)g;
            gc_set_prev(g, last);
            g->next = (uintptr_t)unreachable | GC_UNREACHABLE;
            unreachable->prev = (uintptr_t)g;
            om_gc.unreachable_now++;
            om_gc.what |= unreachable_needs(g);
        }
        g = (om_gc_head *)prev->next;
    }
    return prev;
}

static size_t move_unreachable(om_gc_head *young, om_gc_head *unreachable) {
    /* Cursors only on a local heap: where references scatter (the probe
     * turned prefetching on), a big container's visits in one sweep
     * leave the scan's scattered visits read-only (its referents are
     * marked already), which costs less than the sweep saves. */
    pass_ctx x = {.young = young, .prefetch = om_gc.prefetch, .maxcur = om_gc.prefetch ? 0 : GC_CURSORS};
    om_gc.unreachable_now = 0;
    om_gc.untracked_now = 0;
    om_gc.what = 0;
    om_gc_head *tail = x.prefetch ? move_unreachable_from(young, unreachable, 1, &x)
                                  : move_unreachable_from(young, unreachable, 0, &x);
    young->prev = (uintptr_t)tail;
    unreachable->next &= ~GC_UNREACHABLE;
    return om_gc.unreachable_now;
}

static void clear_marks(om_gc_head *list) {
    for (om_gc_head *u = gc_next(list); u != list; u = gc_next(u))
        u->next &= ~GC_UNREACHABLE;
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
        g->next &= ~GC_UNREACHABLE;
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
    clear_marks(unreachable); /* visit_reachable reads them */
    size_t n = update_refs(unreachable);
    subtract_refs(unreachable);
    size_t dead = move_unreachable(unreachable, still);
    clear_marks(still);
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
    pass_ctx x = {.prefetch = 0};
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
    info.examined = update_and_subtract(young, generation);
    size_t found = move_unreachable(young, &unreachable);
    size_t survivors = info.examined - found - om_gc.untracked_now;
    /* The 25% rule weighs work, not objects: a full collection costs its
     * objects plus the references it follows (a list of a million
     * untracked tuples is one object, but a million visits). */
    size_t work = survivors + (info.examined ? (size_t)((double)om_gc.edges * survivors / info.examined) : 0);
    if (generation == OM_GC_GENERATIONS - 2)
        om_gc.long_lived_pending += work;
    if (young != old)
        list_merge(young, old);

    /* The unreachable list keeps the scan's marks in its next links until
     * delete_garbage rewrites them: every pass reads next through gc_next,
     * which drops them, and handle_resurrected clears them first. */
    int what = om_gc.what;
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

