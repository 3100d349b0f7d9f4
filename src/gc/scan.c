/*
 * scan.c — the collector's core: which objects of the set are
 * referenced only from inside it.  omi_gc_count_refs counts, on each
 * referent's side byte (side.h), the references from the set;
 * omi_gc_move_unreachable scans the set, keeps what is referenced from
 * outside and all it reaches, and leaves the rest on a tentative list
 * that omi_gc_split_tentative (or omi_gc_delete_fast) splits; omi_gc_side_clean and
 * its parts zero what the passes touched.  Every reference is followed by
 * for_children, specialised per operation, which walks declared
 * references and refs arrays inline and calls traverse only for types
 * that have nothing else.  No recursion, no allocation.
 */
#include "gc/side.h"

/* Apply one of the visits below to each reference of an object, in the
 * fastest form its type offers: declared references (ref_fields, then
 * OM_TYPE_REF_ITEMS) and the refs array are walked inline, with no call at
 * all; only a type with nothing but traverse costs a call per reference.
 * Specialised per op by always_inline. */
enum { OP_COUNT, OP_REACHABLE, OP_PREFETCH, OP_PROBE, OP_CLEAN };
#define GC_PROBE 4096                     /* objects omi_gc_count_refs probes */
#define GC_AHEAD_REFS 16                  /* references prefetched ahead, at most */
#define GC_NEAR ((uintptr_t)1 << 18)      /* a reference within 256 KiB is near */

/* omi_gc_move_unreachable's queue of objects found reachable after the scan
 * passed them: their references are visited a little later, so that the
 * prefetch of each one's cache line has landed by then; when the queue is
 * full, a spill stack linked through the objects' prev words. */
#define GC_LATE 64                        /* queue slots (a power of two) */
#define GC_LATE_LAG 16                    /* entries left in flight during the scan */

/* What a pass carries through its visits (in registers, once inlined). */
typedef struct pass_ctx {
    size_t hook_edges;           /* references visited through traverse */
    intptr_t max_tag;            /* OP_COUNT: see overflow_ref */
    size_t far;                  /* OP_PROBE: references that jump far */
    om_object *cur;              /* OP_PROBE: the object whose references these are */
    unsigned qhead, nq;          /* OP_REACHABLE: the late queue */
    size_t late;                 /* objects kept after the scan passed them */
    om_gc_head *spill;
    om_object *q[GC_LATE];
    side_way self[1];            /* the scanned objects' side bytes */
    side_way kid[SIDE_WAYS];     /* their referents' */
    side_way *mru;               /* the kid way used last (gc_kid_at) */
} pass_ctx;

/* A byte's count is full: SIDE_CMAX + 1 references go to the header of
 * the referent if it is in the set (its prev word, which the passes
 * rebuild, holds the count: GC_COLLECTING says so); a referent outside
 * the set just wraps.  The set: in a collection, tracked objects whose
 * tag is at most max_tag; in omi_gc_handle_resurrected's check, max_tag is -1 and
 * every object of the set holds a count (possibly 0) from the start. */
static __attribute__((noinline)) void overflow_ref(om_object *c, intptr_t max_tag) {
    if (!is_gc(c))
        return;
    om_gc_head *h = omi_gc_head_of(c);
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
    uint8_t *s = gc_kid_at(&x->mru, x->kid, c);
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
    uint8_t *s = gc_kid_at(&x->mru, x->kid, c);
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
            om_gc_head *g = omi_gc_head_of(c);
            g->prev = (uintptr_t)x->spill | (g->prev & OM_GC_FLAG_MASK);
            x->spill = g;
        }
    }
}

/* The traverse-hook forms (the inline forms count references per object,
 * in a register; these count in hook_edges). */
static int visit_count(om_object *c, void *arg) {
    ((pass_ctx *)arg)->hook_edges++;
    count_ref(c, arg);
    return 0;
}

static int visit_reachable(om_object *c, void *arg) {
    reach_ref(c, arg);
    return 0;
}

static inline void clean_ref(om_object *c, pass_ctx *x) {
    uint8_t *s = gc_kid_at(&x->mru, x->kid, c);
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
        /* omi_gc_count_refs' first objects: also measure how far the references
         * jump (see omi_gc_count_refs) */
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

/* The declared references' form of each op (omi_declared_each). */
static inline int slot_count(om_object **s, void *x) {
    count_ref(*s, x);
    return 0;
}
static inline int slot_probe(om_object **s, void *x) {
    visit_child(OP_PROBE, ((pass_ctx *)x)->cur, *s, x);
    return 0;
}
static inline int slot_reach(om_object **s, void *x) {
    reach_ref(*s, x);
    return 0;
}
static inline int slot_clean(om_object **s, void *x) {
    clean_ref(*s, x);
    return 0;
}
/* The lookahead: a few references are enough to overlap the misses. */
static inline int slot_prefetch(om_object **s, void *count) {
    visit_prefetch(*s, NULL);
    return ++*(unsigned *)count >= GC_AHEAD_REFS;
}

/* Returns how many references o has in arrays and fields (0 through
 * traverse, whose visits count themselves in hook_edges). */
static inline __attribute__((always_inline)) size_t for_children(int op, om_object *o, pass_ctx *x) {
    const om_type *t = o->type;
    if (om_likely(omi_tstate(t)->ref_run) || omi_type_declares_refs(t)) {
        if (op == OP_PREFETCH) {
            unsigned count = 0;
            omi_declared_each(o, slot_prefetch, &count, 0);
            return 0;
        }
        if (op == OP_PROBE)
            x->cur = o;
        return omi_declared_each(o,
                                 op == OP_COUNT   ? slot_count
                                 : op == OP_PROBE ? slot_probe
                                 : op == OP_CLEAN ? slot_clean
                                                  : slot_reach,
                                 x, 0);
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
 * refcount - count, taken when omi_gc_move_unreachable reaches the object, whose
 * own cache line it reads then anyway; the referents' lines are never
 * touched).  max_tag: see overflow_ref.
 *
 * The first GC_PROBE objects are a probe of the heap's layout: if more
 * than one reference in eight jumps further than GC_NEAR,
 * omi_gc_delete_garbage prefetches its referents ahead (its clears touch each
 * referent's header; in allocation order they come in order anyway); if
 * nearly every next link goes forward by less than GC_SEQ_STEP, the list
 * is in address order and the passes prefetch a page ahead of their scan
 * (c->stream).  Sets c->examined and c->edges; returns how many objects list
 * has. */
size_t omi_gc_count_refs(gc_collection *c, om_gc_head *list, intptr_t max_tag) {
    pass_ctx x = {.max_tag = max_tag};
    x.mru = x.kid;
    om_gc_head *g = gc_next(list);
    size_t n = 0, edges = 0;
    size_t seq = 0;
    for (; n < GC_PROBE && g != list; n++, g = gc_next(g)) {
        seq += (uintptr_t)gc_next(g) - (uintptr_t)g < GC_SEQ_STEP;
        edges += for_children(OP_PROBE, gc_obj(g), &x);
    }
    /* Sets smaller than the probe (young collections) are in cache. */
    c->prefetch = g != list && x.far * 8 > edges + x.hook_edges;
    c->stream = g != list && seq * 8 > n * 7;
    if (c->stream)
        for (; g != list; n++, g = gc_next(g)) {
            __builtin_prefetch((char *)g + GC_STREAM_AHEAD);
            edges += for_children(OP_COUNT, gc_obj(g), &x);
        }
    else
        for (; g != list; n++, g = gc_next(g))
            edges += for_children(OP_COUNT, gc_obj(g), &x);
    c->edges = edges + x.hook_edges;
    c->examined = n;
    return n;
}

static inline int unreachable_needs(om_gc_head *g) {
    om_object *o = gc_obj(g);
    const om_type *t = o->type;
    int what = 0;
    if (!omi_type_has_clear(t))
        return GC_HAS_UNCOLLECTABLE;
    if (t->clear || !omi_type_declares_refs(t))
        what |= GC_HAS_HOOKS; /* not for omi_gc_delete_fast */
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
    return c && (!is_gc(c) || ((c->type->flags & OM_TYPE_GC_IMMUTABLE) && !omi_gc_head_of(c)->next));
}

static inline int slot_atomic(om_object **s, void *set) {
    ++*(size_t *)set;
    return !atomic_ref(*s);
}

static int all_atomic(om_object *o) {
    const om_type *t = o->type;
    if (omi_type_declares_refs(t)) {
        size_t set = 0; /* an empty slot is not atomic: it may be set later */
        return omi_declared_each(o, slot_atomic, &set, 0) == set;
    }
    if (!t->refs)
        return 0; /* traverse only: cannot tell */
    om_refs r = t->refs(o);
    for (size_t i = 0; i < r.count; i++)
        if (!atomic_ref(r.items[i]))
            return 0;
    return 1;
}

/* CPython's untrack_tuples, for the survivors omi_gc_move_unreachable kept
 * late (found unreferenced from outside, then reached from a kept object:
 * a tuple made before its holder); its scan untracks those it keeps in
 * passing.  Every immutable container after from on list whose references
 * are all atomic stops being tracked, in list order (the tentative list's:
 * an inner tuple made before its outer one goes first, and the outer one
 * with it).  Only once every object of the set is linked where it belongs
 * (on the tentative list the last has next 0, which atomic_ref would take
 * for untracked) and the side bytes are clean: a survivor leaving the
 * lists here is not walked. */
void omi_gc_untrack_atomic(gc_collection *c, om_gc_head *from, om_gc_head *list) {
    for (om_gc_head *g = gc_next(from), *n; g != list; g = n) {
        n = gc_next(g);
        om_object *o = gc_obj(g);
        if (om_unlikely(o->type->flags & OM_TYPE_GC_IMMUTABLE) && all_atomic(o)) {
            list_remove(g);
            g->prev &= OM_GC_FINALIZED;
            c->untracked++;
        }
    }
}

/* The passes are over: every side byte they touched goes back to 0.
 * Zeroing whole tables costs their size; walking the objects and their
 * references again costs a lookup each: a young collection whose objects
 * refer across a large old heap walks, a large collection zeroes.
 * omi_gc_side_walks says which; omi_gc_side_walk zeroes the bytes of one list's
 * objects and of their referents (a byte SIDE_UNREACHABLE is left:
 * omi_gc_delete_fast still reads them); omi_gc_side_done ends (zeroing the tables
 * if walks were not made). */
int omi_gc_side_walks(const gc_collection *c) { return (c->examined + c->edges) * 16 < c->side_bytes; }

void omi_gc_side_walk(om_gc_head *list) {
    pass_ctx x = {0};
    x.mru = x.kid;
    for (om_gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
        uint8_t *s = gc_side_at(x.self, 1, gc_obj(g));
        if (s && *s != SIDE_UNREACHABLE)
            *s = 0;
        for_children(OP_CLEAN, gc_obj(g), &x);
    }
}

void omi_gc_side_clean(gc_collection *c, om_gc_head *young, om_gc_head *unreachable) {
    int walk = omi_gc_side_walks(c);
    if (walk) {
        omi_gc_side_walk(young);
        side_way self[1] = {{0, 0}};
        for (om_gc_head *g = gc_next(unreachable); g != unreachable; g = gc_next(g))
            *gc_side_at(self, 1, gc_obj(g)) = 0; /* SIDE_UNREACHABLE: has a byte */
        omi_gc_side_walk(unreachable);
    }
    omi_gc_side_done(c, !walk);
}

/* Visit the references of queued objects until at most lag are left in
 * the queue, and of every spilled one. */
static void late_drain(pass_ctx *x, unsigned lag) {
    for (;;) {
        om_object *c;
        if (x->nq > lag) {
            c = x->q[x->qhead++ & (GC_LATE - 1)];
            x->nq--;
        } else if (x->spill) {
            c = gc_obj(x->spill);
            x->spill = gc_prev(x->spill);
        } else {
            return;
        }
        for_children(OP_REACHABLE, c, x);
    }
}

/* Scan young (after omi_gc_count_refs) and find which of its objects are
 * unreachable; returns how many.  An object is kept if something kept
 * refers to it (SIDE_REACHED) or if gc_refs = refcount - references from
 * the set is above 0: referenced from outside; a kept object's referents
 * are kept.
 *
 * The scan keeps young linked forward only: a kept object's prev is put
 * right when it is scanned (written only if it changes: on an all-live
 * heap the scan writes nothing into the objects it keeps but new
 * generation tags).  An object at gc_refs 0 leaves young for a tentative
 * list (singly linked, in scan order, SIDE_UNREACHABLE); if something kept
 * refers to it later it is kept (SIDE_KEPT) and its references are
 * visited through the late queue, without moving it.  When the scan and
 * the queue are done, *tentative is that list (NULL-terminated; young is
 * a proper list again), to be split (omi_gc_split_tentative, or omi_gc_delete_fast):
 * the kept go back to young's tail, the rest are the unreachable.
 * c->what says what they may need (bits of objects kept late too). */
size_t omi_gc_move_unreachable(gc_collection *c, om_gc_head *young, om_gc_head **tentative_out) {
    pass_ctx x = {0};
    x.mru = x.kid;
    const uintptr_t dest_tag = c->dest_tag;
    om_gc_head tentative = {0, 0}, *ttail = &tentative;
    size_t ntent = 0;
    int what = 0;
    size_t untracked = 0;
    om_gc_head *prev = young;
    om_gc_head *g;
    const int stream = c->stream;
    while ((g = (om_gc_head *)prev->next) != young) {
        om_object *o = gc_obj(g);
        if (stream)
            __builtin_prefetch((char *)g + GC_STREAM_AHEAD);
        uint8_t *s = gc_side_at(x.self, 1, o);
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
                 * (and forget the bytes it touched: omi_gc_side_clean's walk
                 * will not see it). */
                if (s)
                    *s = 0;
                for_children(OP_CLEAN, o, &x);
                prev->next = g->next;
                g->next = 0;
                g->prev &= OM_GC_FINALIZED;
                untracked++;
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
    c->what = what;
    c->untracked = untracked;
    return ntent - x.late;
}

/* Split omi_gc_move_unreachable's tentative list: the kept back to young, the
 * rest to unreachable (COLLECTING set); c->what for them alone. */
void omi_gc_split_tentative(gc_collection *c, om_gc_head *young, om_gc_head *tentative, om_gc_head *unreachable) {
    side_way self[1] = {{0, 0}};
    int what = 0;
    om_gc_head *last = gc_prev(unreachable);
    for (om_gc_head *g = tentative; g;) {
        om_gc_head *n = (om_gc_head *)g->next;
        if (*gc_side_at(self, 1, gc_obj(g)) == SIDE_KEPT) {
            gc_rejoin(young, c->dest_tag, g);
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
    c->what = what;
}

/* omi_gc_delete_garbage's lookahead: prefetch the headers of o's first
 * references. */
void omi_gc_prefetch_children(om_object *o) { for_children(OP_PREFETCH, o, NULL); }
