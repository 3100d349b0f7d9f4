/*
 * unreachable.c — what happens to the objects a collection found
 * unreachable (steps 5-10 of gc.c): the uncollectable set aside, weak
 * references cleared, finalizers run and the resurrected found again,
 * then the rest freed, by omi_gc_delete_fast when the set is plain, else by
 * clearing each (omi_gc_delete_garbage).  Objects freed here unlink
 * themselves from whichever list holds them (omi_gc_untrack_dead).
 *
 * Uncollectable (objmem.h §11): an object whose type has no clear keeps
 * its references; every other one is cleared, and reference counting then
 * frees what that leaves unreferenced, objects without clear included.
 * What it cannot free is uncollectable: objects without clear that a cycle
 * of objects without clear holds (through such objects only), and
 * everything they reach.  omi_gc_classify_unreachable finds them before
 * anything runs (weak references, finalizers, clear) and sets them aside
 * intact, as CPython does for legacy finalizers and what they reach; gc.c
 * lists on the garbage list only those without clear (CPython's
 * handle_legacy_finalizers: gc.garbage gets what cannot be freed; with
 * SAVEALL, everything) and returns the rest to the old generation, held
 * by them; all count as uncollectable.  Clearing an object that an
 * uncollectable one refers to never happens (it is set aside with it);
 * an object without clear that is freed once its neighbours are cleared
 * still holds its references until its own destruction (release), and
 * those keep what they refer to alive until then.
 */
#include <stdio.h>

#include "gc/side.h"

#define GC_AHEAD 8 /* objects omi_gc_delete_garbage prefetches ahead */

static int visit_move_uncollectable(om_object *c, void *arg) {
    if (is_gc(c)) {
        om_gc_head *g = omi_gc_head_of(c);
        if (g->prev & GC_COLLECTING) {
            g->prev &= ~GC_COLLECTING;
            list_move(g, arg);
        }
    }
    return 0;
}

/* omi_gc_classify_unreachable's peeling.  The objects without clear are on
 * a list of their own, linked through next; prev holds, above
 * GC_REFS_SHIFT, how many references they have from one another (with
 * COLLECTING, and FINALIZED kept), or, once PEEL_FREED, the next one on a
 * stack.  An unreachable object's references all come from the
 * unreachable set, so once every object with clear has been cleared,
 * those counts are its whole count. */
#define PEEL_FREED GC_TAG(1)

static inline int peel_member(om_object *c) {
    return is_gc(c) && (omi_gc_head_of(c)->prev & GC_COLLECTING) && !omi_type_has_clear(c->type);
}

static int visit_peel_count(om_object *c, void *arg) {
    (void)arg;
    if (peel_member(c))
        omi_gc_head_of(c)->prev += (uintptr_t)1 << GC_REFS_SHIFT;
    return 0;
}

static void peel_push(om_gc_head *g, om_gc_head **top) {
    g->prev = (uintptr_t)*top | (g->prev & (OM_GC_FINALIZED | GC_COLLECTING)) | PEEL_FREED;
    *top = g;
}

static int visit_peel_drop(om_object *c, void *arg) {
    if (peel_member(c)) {
        om_gc_head *g = omi_gc_head_of(c);
        if (!(g->prev & PEEL_FREED) && ((g->prev -= (uintptr_t)1 << GC_REFS_SHIFT) >> GC_REFS_SHIFT) == 0)
            peel_push(g, arg);
    }
    return 0;
}

/* Step 6, only when some unreachable object has no clear (the collector
 * cannot drop its references).  Those that reference counting would free
 * once every object with clear has been cleared are collected as any
 * other; the rest cannot be freed: a cycle of objects without clear (an
 * object referring to itself, say), and those it holds through objects
 * without clear.  Those, and everything they reach, move to out, intact
 * (CPython's move_legacy_finalizers and move_legacy_finalizer_reachable,
 * with "cannot be freed" for "has a legacy finalizer").  Finding them is
 * reference counting played on the objects without clear alone: count
 * their references from one another, then free, in turn, each left with
 * none (dropping its references); what is left cannot be freed.  Linear,
 * no recursion, no allocation.  Returns what the rest need.  The object
 * moved out go to c->uncollectable. */
/* Reference counting played on nc alone: those it frees are PEEL_FREED. */
static void peel(om_gc_head *nc) {
    om_gc_head *g, *top = NULL;
    for (g = gc_next(nc); g != nc; g = gc_next(g))
        g->prev = (g->prev & OM_GC_FINALIZED) | GC_COLLECTING; /* a count of 0 */
    for (g = gc_next(nc); g != nc; g = gc_next(g))
        om_traverse(gc_obj(g), visit_peel_count, NULL);
    for (g = gc_next(nc); g != nc; g = gc_next(g))
        if (!(g->prev >> GC_REFS_SHIFT))
            peel_push(g, &top);
    while ((g = top) != NULL) {
        top = gc_prev(g);
        om_traverse(gc_obj(g), visit_peel_drop, &top);
    }
}

int omi_gc_classify_unreachable(gc_collection *c) {
    om_gc_head *unreachable = &c->unreachable, *out = &c->uncollectable;
    om_gc_head nc, *g, *n;
    list_init(&nc);
    for (g = gc_next(unreachable); g != unreachable; g = n) {
        n = gc_next(g);
        if (!omi_type_has_clear(gc_obj(g)->type))
            list_move(g, &nc);
    }
    peel(&nc);
    /* The freed go back to the unreachable, the rest to out (links rebuilt
     * from next, which the peeling left alone). */
    for (g = gc_next(&nc); g != &nc; g = n) {
        n = gc_next(g);
        if (g->prev & PEEL_FREED) {
            g->prev &= OM_GC_FINALIZED | GC_COLLECTING;
            list_append(g, unreachable);
        } else {
            g->prev &= OM_GC_FINALIZED;
            list_append(g, out);
        }
    }
    for (g = gc_next(out); g != out; g = gc_next(g))
        om_traverse(gc_obj(g), visit_move_uncollectable, out);
    int what = 0;
    for (g = gc_next(unreachable); g != unreachable; g = gc_next(g)) {
        om_object *o = gc_obj(g);
        const om_type *t = o->type;
        if (t == &om_weakref_type || (t->weaklist_offset && *(om_weakref **)((char *)o + t->weaklist_offset)))
            what |= GC_HAS_WEAKREFS;
        if (t->finalize && !(g->prev & OM_GC_FINALIZED))
            what |= GC_HAS_FINALIZERS;
    }
    return what;
}

static int in_unreachable(om_object *o) {
    return is_gc(o) && (omi_gc_head_of(o)->prev & GC_COLLECTING);
}

/* Step 7: nobody may reach the unreachable through a weak reference. */
void omi_gc_handle_weakrefs(om_gc_head *unreachable) {
    om_weakref *run = NULL, **tail = &run;
    for (om_gc_head *g = gc_next(unreachable); g != unreachable; g = gc_next(g)) {
        om_object *o = gc_obj(g);
        if (o->type == &om_weakref_type)
            omi_weakref_gc_disarm(o);
        if (o->type->weaklist_offset)
            tail = omi_weakref_gc_detach(o, in_unreachable, tail);
    }
    omi_weakref_run_callbacks(run);
}

/* Step 8.  Returns how many finalizers ran. */
size_t omi_gc_finalize_garbage(om_gc_head *unreachable) {
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
 * Returns how many came back to life (they join the old generation); the
 * rest go to c->still. */
size_t omi_gc_handle_resurrected(gc_collection *c) {
    om_gc_head *unreachable = &c->unreachable, *still = &c->still;
    /* The set is the unreachable list: each of its objects holds a count
     * (0) in its header from the start (overflow_ref), and no other does. */
    for (om_gc_head *g = gc_next(unreachable); g != unreachable; g = gc_next(g))
        g->prev = (g->prev & (OM_GC_FINALIZED | GC_GEN_MASK)) | GC_COLLECTING;
    size_t n = omi_gc_count_refs(c, unreachable, -1);
    om_gc_head *tentative;
    size_t dead = omi_gc_move_unreachable(c, unreachable, &tentative);
    omi_gc_split_tentative(c, unreachable, tentative, still);
    omi_gc_side_clean(c, unreachable, still);
    list_merge(unreachable, c->old);
    return n - dead;
}

void omi_gc_report(const char *what, om_object *o) {
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
size_t omi_gc_delete_garbage(gc_collection *c, om_gc_head *list) {
    om_gc_head *g;
    if (omi_gc.debug & OM_GC_DEBUG_SAVEALL) {
        while ((g = gc_next(list)) != list) {
            g->prev = (g->prev & ~GC_COLLECTING) | GC_TAG_OTHER;
            list_move(g, &omi_gc.garbage);
            om_incref(gc_obj(g));
        }
        return 0;
    }
    /* The chain: next == 0 (untracked), prev = the next one in the chain
     * | COLLECTING (om_gc_track refuses such an object: a clear that tried
     * to track one would break the chain).  FINALIZED was set on every
     * object that had a finalizer (omi_gc_finalize_garbage ran first), so pass 3
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
    om_gc_head *ahead = c->prefetch ? first : NULL;
    for (int i = 0; i < GC_AHEAD && ahead; i++)
        ahead = gc_prev(ahead);
    for (g = first; g; g = gc_prev(g)) {
        if (ahead) {
            omi_gc_prefetch_children(gc_obj(ahead));
            ahead = gc_prev(ahead);
        }
        omi_type_clear(gc_obj(g));
    }
    size_t kept = 0;
    for (g = first; g;) {
        om_gc_head *n = gc_prev(g);
        om_object *o = gc_obj(g);
        const om_type *t = o->type;
        g->prev = (t->finalize ? OM_GC_FINALIZED : 0) | c->dest_tag;
        if (o->refcount == 1 && (!t->weaklist_offset || !*(om_weakref **)((char *)o + t->weaklist_offset))) {
            omi_destroy_cleared(o); /* ours was the last reference */
        } else {
            if (o->refcount > 1) { /* someone kept it: back on a list */
                list_append(g, c->old);
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
 * referent's cache line touched.  walk: omi_gc_side_walks() (the bytes of
 * the set and of what it refers to are zeroed here; else by
 * omi_gc_side_done).  Objects kept after all go back to c->young. */
#define GC_OUT 16 /* references out of the set in flight (omi_gc_delete_fast) */

typedef struct fast_ctx {
    int walk;
    size_t nout;
    side_way *mru;
    om_object *out[GC_OUT];
    side_way kid[SIDE_WAYS];
} fast_ctx;

/* Pass 1 for one reference: empty the slot; a reference out of the set is
 * dropped a few references later, when the prefetch of its referent's
 * line has landed. */
static inline int slot_drop(om_object **slot, void *arg) {
    fast_ctx *f = arg;
    om_object *r = *slot;
    *slot = NULL;
    uint8_t *s = gc_kid_at(&f->mru, f->kid, r);
    if (s && *s == SIDE_UNREACHABLE)
        return 0;
    /* Walking: an object outside the set has its byte zeroed here; a kept
     * one (perhaps one of the tentative list not reached yet) keeps it,
     * for the test in omi_gc_delete_fast and omi_gc_side_walk. */
    if (s && f->walk && *s != SIDE_KEPT)
        *s = 0;
    __builtin_prefetch(r, 1);
    om_object *due = f->out[f->nout % GC_OUT];
    f->out[f->nout++ % GC_OUT] = r;
    if (f->nout > GC_OUT)
        om_decref(due);
    return 0;
}

void omi_gc_delete_fast(gc_collection *c, om_gc_head *tentative, int walk) {
    om_gc_head *young = c->young;
    side_way self[1] = {{0, 0}};
    fast_ctx f = {.walk = walk};
    f.mru = f.kid;
    om_gc_head *dead = NULL; /* pass 2's list, linked through next */
    om_gc_head late; /* the kept, until the bytes are clean */
    list_init(&late);
    const int stream = c->stream;
    for (om_gc_head *g = tentative; g;) {
        om_gc_head *next = (om_gc_head *)g->next;
        om_object *o = gc_obj(g);
        if (stream)
            __builtin_prefetch((char *)g + GC_STREAM_AHEAD);
        if (*gc_side_at(self, 1, o) == SIDE_KEPT) { /* kept after all */
            gc_rejoin(&late, c->dest_tag, g);
            g = next;
            continue;
        }
        if (omi_gc.debug & OM_GC_DEBUG_COLLECTABLE)
            omi_gc_report("collectable", o);
        g->next = (uintptr_t)dead;
        dead = g;
        g = next;
        omi_declared_each(o, slot_drop, &f, 1);
    }
    size_t nout = f.nout;
    om_object **out = f.out;
    for (size_t i = nout > GC_OUT ? nout - GC_OUT : 0; i < nout; i++)
        om_decref(out[i % GC_OUT]);
    if (walk) {
        omi_gc_side_walk(young);
        omi_gc_side_walk(&late);
    }
    /* (a kept object that died meanwhile left late by itself) */
    omi_gc_untrack_atomic(c, &late, &late);
    list_merge(&late, young);
    while (dead) { /* in the opposite order */
        om_gc_head *n = (om_gc_head *)dead->next;
        om_object *o = gc_obj(dead);
        if (stream)
            __builtin_prefetch((char *)dead - GC_STREAM_AHEAD);
        if (walk)
            *gc_side_at(self, 1, o) = 0;
        dead->next = 0;
        dead->prev = 0;
        o->refcount = 1;
        omi_destroy_cleared(o);
        dead = n;
    }
}
