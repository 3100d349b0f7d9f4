/*
 * gc.c — the cycle collector: CPython's generational algorithm
 * (Python/gc.c, InternalDocs/garbage_collector.md), written anew.
 *
 * Lists.  Every tracked container is on exactly one circular, doubly
 * linked list of om_gc_head (object/object.h): a generation (0, 1, 2), the
 * permanent generation (om_gc_freeze) or the garbage list.  An untracked
 * object has next == 0.  Sentinels are list heads that are not objects.
 *
 * The header's bits (om_gc_head, blocks are 16-byte aligned):
 *   prev, bit 0  OM_GC_FINALIZED   finalize has run (PEP 442), for ever
 *   prev, bit 1  GC_COLLECTING     on a collection's unreachable list; and
 *                                  inside omi_gc_count_refs/omi_gc_move_unreachable:
 *                                  prev holds a reference count, not a
 *                                  pointer (overflow_ref, scan.c)
 *   prev, 2-3    generation tag    0, 1, 2, or 3 (permanent, garbage): the
 *                                  generation the object was put in (a
 *                                  younger one merged into an older keeps
 *                                  its tag: "tag <= g" is "in the set of a
 *                                  collection of g"); new objects are 0
 *
 * A collection of generation g (collect):
 *   1. merge generations 0..g into g: the "young" list (the set);
 *   2. omi_gc_count_refs: for every reference from an object of the set, count
 *      one on the referent's side byte (side.h: a byte per
 *      object outside the object, so the referent's own cache line is
 *      not touched);
 *   3. omi_gc_move_unreachable: scan young; gc_refs = refcount - that count is
 *      what refers to an object from outside the set; an object with
 *      gc_refs > 0, or that something kept refers to, is kept and marks
 *      what it refers to; one with gc_refs 0 goes to a tentative list,
 *      and is kept after all if something kept refers to it later.  What
 *      is left on the tentative list is unreachable (COLLECTING set);
 *      CPython's update_refs, subtract_refs and omi_gc_move_unreachable, with
 *      the counting turned round and no object moved twice;
 *   4. survivors move to generation g + 1; immutable containers among
 *      them whose references are all atomic stop being tracked (CPython's
 *      untrack_tuples: in the scan for those it keeps in passing, after
 *      the split for those it kept late, omi_gc_untrack_atomic);
 *   5. if every unreachable object is plain (declared references, no
 *      clear hook, finalizer or weak reference), omi_gc_delete_fast frees them
 *      all, dropping only the references that leave the set: done;
 *   6. if some unreachable objects have no clear: those that clearing
 *      the rest would not free (cycles of objects without clear and what
 *      they hold through such objects), and whatever they reach, are
 *      uncollectable: set aside intact; at the end those without clear go
 *      to the garbage list, the rest to the old generation (unreachable.c);
 *   7. weak references to the unreachable are cleared; callbacks run only
 *      for weak references that are themselves reachable;
 *   8. finalizers run, once per object ever;
 *   9. if any ran, steps 2-3 again on the unreachable set: objects a
 *      finalizer resurrected go to the old generation;
 *  10. clear each one left (reference counting then frees them); one that
 *      survives its clear goes to the old generation.
 * No step recurses: traversals visit one level, lists are intrusive.  The
 * only memory a collection may take is a side table for a 1 MiB slot it
 * meets for the first time (side.c; without it, that slot's objects are
 * kept).  Objects
 * freed during steps 7-10 unlink themselves from whichever list holds
 * them (omi_gc_untrack_dead, from object.c).
 *
 * Triggers: count[0] is tracked allocations minus deallocations; when it
 * passes threshold 0 a collection becomes pending and runs at the next
 * safe point (om_gc_poll, om_lock_yield).  CPython's rules pick the
 * generation, including the 25% long-lived rule for full collections,
 * with one refinement: "long-lived" is measured in work (objects plus the
 * references they hold), which is what a full collection costs.
 *
 * Everything here runs under the runtime lock (or in a single thread);
 * the collector's state is one struct (gc.h).  This file tracks objects
 * and runs the steps; steps 2-3 are in scan.c, over the side table of
 * side.h and side.c; steps 5-10 in unreachable.c; the gc
 * module's knobs and introspection in api.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gc/gc.h"

om_gc_state omi_gc = {.threshold = {2000, 10, 10}, .enabled = 1};

void omi_gc_init(void) {
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        list_init(&omi_gc.gen[i]);
    list_init(&omi_gc.permanent);
    list_init(&omi_gc.garbage);
    omi_gc.ready = 1;
}


/* ---- tracking ----------------------------------------------------------- */
static inline void link_young(om_object *o) {
    if (om_unlikely(!omi_gc.ready))
        omi_gc_init();
    om_gc_head *g = omi_gc_head_of(o);
    g->prev &= ~GC_GEN_MASK; /* tag 0 (an untracked object may remember another) */
    list_append(g, &omi_gc.gen[0]);
}

/* A new container (om_new): tracked, and counted towards threshold 0. */
void omi_gc_track_new(om_object *o) {
    link_young(o);
    if (++omi_gc.count[0] > omi_gc.threshold[0] && omi_gc.threshold[0] && omi_gc.enabled && !omi_gc.running)
        omi_gc.pending = 1;
}

void omi_gc_untrack_dead(om_object *o) {
    om_gc_head *g = omi_gc_head_of(o);
    if (g->next) {
        list_remove(g);
        g->prev &= OM_GC_FINALIZED;
    }
    if (omi_gc.count[0] > 0)
        omi_gc.count[0]--;
}

int om_gc_track(om_object *o) {
    if (!o || !(o->type->flags & OM_TYPE_GC) || o->refcount >= OM_IMMORTAL_REFCNT)
        return EINVAL;
    om_gc_head *g = omi_gc_head_of(o);
    if (!g->next) {
        if (g->prev & GC_COLLECTING) /* being deleted by a collection */
            return EBUSY;
        link_young(o); /* counted once, at creation, as CPython */
    }
    return 0;
}

static int on_garbage_list(om_gc_head *g) {
    for (om_gc_head *x = gc_next(&omi_gc.garbage); x != &omi_gc.garbage; x = gc_next(x))
        if (x == g)
            return 1;
    return 0;
}

int om_gc_untrack(om_object *o) {
    if (!o || !(o->type->flags & OM_TYPE_GC))
        return EINVAL;
    if (o->refcount >= OM_IMMORTAL_REFCNT) /* never tracked (static: no header) */
        return 0;
    om_gc_head *g = omi_gc_head_of(o);
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
void omi_gc_park_dying(om_object *o) {
    uintptr_t tag = omi_gc_detach(o);
    omi_gc_head_of(o)->prev |= tag;
}

void omi_gc_unpark_dying(om_object *o) {
    om_gc_head *g = omi_gc_head_of(o);
    if (!g->next && o->refcount < OM_IMMORTAL_REFCNT && !(g->prev & GC_COLLECTING))
        omi_gc_reattach(o, g->prev & GC_GEN_MASK);
}

/* om_resize_var's pair: leave the lists while the block moves, and come
 * back to the same generation (0 if it was not tracked: new items). */
uintptr_t omi_gc_detach(om_object *o) {
    om_gc_head *g = omi_gc_head_of(o);
    uintptr_t tag = g->next ? (g->prev & GC_GEN_MASK) : 0;
    if (g->next) {
        list_remove(g);
        g->prev &= OM_GC_FINALIZED;
    }
    return tag;
}

void omi_gc_reattach(om_object *o, uintptr_t tag) {
    if (om_unlikely(!omi_gc.ready))
        omi_gc_init();
    om_gc_head *g = omi_gc_head_of(o);
    g->prev &= ~GC_GEN_MASK;
    om_gc_head *list = tag == GC_TAG_OTHER ? &omi_gc.permanent : &omi_gc.gen[tag >> GC_GEN_SHIFT];
    list_append(g, list);
    g->prev |= tag;
}

int om_gc_is_tracked(const om_object *o) {
    /* Immortal objects are never tracked (and a static one has no header). */
    return (o->type->flags & OM_TYPE_GC) && o->refcount < OM_IMMORTAL_REFCNT &&
           omi_gc_head_of((om_object *)o)->next != 0;
}

int om_gc_is_finalized(const om_object *o) { return omi_object_is_finalized((om_object *)o); }

/* Collections are timed with the precise clock (omi_os_now_ns is the
 * coarse one, good enough for purge deadlines, not for a 3 µs pass). */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void run_callbacks(om_gc_phase phase, const om_gc_info *info) {
    for (int i = 0; i < omi_gc.ncallbacks; i++)
        omi_gc.callbacks[i].fn(phase, info, omi_gc.callbacks[i].arg);
}

/* ---- a collection, step by step (the numbers of the top comment) ------- */
/* Callbacks, counts, and step 1: generations 0..g merged into g. */
static void collect_begin(gc_collection *c, int generation) {
    c->generation = generation;
    c->info.generation = generation;
    c->t0 = now_ns();
    if (omi_gc.ncallbacks)
        run_callbacks(OM_GC_START, &c->info);
    if (generation + 1 < OM_GC_GENERATIONS)
        omi_gc.count[generation + 1]++;
    for (int i = 0; i <= generation; i++)
        omi_gc.count[i] = 0;
    for (int i = 0; i < generation; i++)
        list_merge(&omi_gc.gen[i], &omi_gc.gen[generation]);
    c->young = &omi_gc.gen[generation];
    c->old = generation + 1 < OM_GC_GENERATIONS ? &omi_gc.gen[generation + 1] : c->young;
    c->dest_tag = GC_TAG(c->old == c->young ? generation : generation + 1);
    list_init(&c->unreachable);
    list_init(&c->uncollectable);
    list_init(&c->still);
}

/* The 25% rule weighs work, not objects: a full collection costs its
 * objects plus the references it follows (a list of a million untracked
 * tuples is one object, but a million visits).  After the survivors'
 * untracking, which they no longer cost. */
static void count_long_lived(const gc_collection *c) {
    size_t survivors = c->examined - c->found - c->untracked, work = survivors;
    if (c->examined)
        work += (size_t)((double)c->edges * survivors / c->examined);
    if (c->generation == OM_GC_GENERATIONS - 2)
        omi_gc.long_lived_pending += work;
    if (c->generation == OM_GC_GENERATIONS - 1) {
        omi_gc.long_lived_pending = 0;
        omi_gc.long_lived_total = work;
    }
}

/* Steps 2-5: find the unreachable; free them at once if they are all
 * plain (omi_gc_delete_fast), else leave them on c->unreachable.  The side
 * bytes are zeroed either way (delete_fast still reads the set's). */
static void find_unreachable(gc_collection *c) {
    c->info.examined = omi_gc_count_refs(c, c->young, (intptr_t)GC_TAG(c->generation));
    om_gc_head *tentative;
    c->found = omi_gc_move_unreachable(c, c->young, &tentative);
    /* Survivors kept late rejoin young after late; the immutable ones
     * among them are untracked once the bytes are clean (delete_fast does
     * it itself). */
    om_gc_head *late = gc_prev(c->young);
    if (c->what == 0 && !(omi_gc.debug & OM_GC_DEBUG_SAVEALL)) {
        int walk = omi_gc_side_walks(c);
        omi_gc_delete_fast(c, tentative, walk);
        omi_gc_side_done(c, !walk);
    } else {
        omi_gc_split_tentative(c, c->young, tentative, &c->unreachable);
        omi_gc_side_clean(c, c->young, &c->unreachable);
        omi_gc_untrack_atomic(c, late, c->young);
    }
    count_long_lived(c);
    if (c->young != c->old)
        list_merge(c->young, c->old);
}

/* Steps 6-10 for what omi_gc_delete_fast did not free. */
static void handle_unreachable(gc_collection *c) {
    int what = c->what;
    if (what & GC_HAS_UNCOLLECTABLE)
        what = omi_gc_classify_unreachable(c);
    if (omi_gc.debug & OM_GC_DEBUG_COLLECTABLE)
        for (om_gc_head *g = gc_next(&c->unreachable); g != &c->unreachable; g = gc_next(g))
            omi_gc_report("collectable", gc_obj(g));
    if (what & GC_HAS_WEAKREFS)
        omi_gc_handle_weakrefs(&c->unreachable);
    if ((what & GC_HAS_FINALIZERS) && omi_gc_finalize_garbage(&c->unreachable))
        c->resurrected = omi_gc_handle_resurrected(c);
    else
        list_merge(&c->unreachable, &c->still);
    omi_gc_delete_garbage(c, &c->still);
}

/* As CPython's handle_legacy_finalizers: only the objects that cannot be
 * freed (no clear) join the garbage list, which holds a reference to each
 * (with SAVEALL, all do); what they hold stays alive, intact, in the old
 * generation.  All count as uncollectable. */
static void keep_uncollectable(gc_collection *c) {
    om_gc_head *g;
    while ((g = gc_next(&c->uncollectable)) != &c->uncollectable) {
        if (omi_gc.debug & OM_GC_DEBUG_UNCOLLECTABLE)
            omi_gc_report("uncollectable", gc_obj(g));
        if ((omi_gc.debug & OM_GC_DEBUG_SAVEALL) || !omi_type_has_clear(gc_obj(g)->type)) {
            list_move(g, &omi_gc.garbage);
            g->prev |= GC_TAG_OTHER;
            om_incref(gc_obj(g));
        } else {
            list_move(g, c->old);
            g->prev = (g->prev & ~GC_GEN_MASK) | c->dest_tag;
        }
        c->uncollected++;
    }
    /* As CPython: the resurrected are not collected; those that survive
     * their clear (a pathological type) are counted, as CPython does. */
    c->collected = (long)(c->found - c->uncollected - c->resurrected);
}

/* Statistics, the debug line and the stop callbacks. */
static void collect_end(gc_collection *c) {
    if (c->generation == OM_GC_GENERATIONS - 1)
        om_freelists_clear();
    uint64_t dt = now_ns() - c->t0;
    om_gc_gen_stats *st = &omi_gc.stats[c->generation];
    st->collections++;
    st->collected += (uint64_t)c->collected;
    st->uncollectable += c->uncollected;
    st->total_ns += dt;
    if (omi_gc.debug & OM_GC_DEBUG_STATS)
        fprintf(stderr, "gc: generation %d: %llu examined, %ld unreachable, %zu uncollectable, %.3f ms\n",
                c->generation, (unsigned long long)c->info.examined, c->collected + (long)c->uncollected,
                c->uncollected, (double)dt / 1e6);
    c->info.collected = c->collected;
    c->info.uncollectable = (long)c->uncollected;
    c->info.duration_ns = dt;
    if (omi_gc.ncallbacks)
        run_callbacks(OM_GC_STOP, &c->info);
}

static long collect(int generation) {
    if (om_unlikely(!omi_gc.ready))
        omi_gc_init();
    omi_gc.pending = 0;
    gc_collection c = {0};
    omi_gc.running = &c;
    collect_begin(&c, generation);
    find_unreachable(&c);
    handle_unreachable(&c);
    keep_uncollectable(&c);
    collect_end(&c);
    omi_gc.running = NULL;
    return c.collected + (long)c.uncollected;
}

long om_gc_collect(int generation) {
    if (generation == -1)
        generation = OM_GC_GENERATIONS - 1;
    if (generation < 0 || generation >= OM_GC_GENERATIONS) {
        errno = EINVAL;
        return -1;
    }
    if (omi_gc.running) {
        errno = EBUSY;
        return -1;
    }
    return collect(generation);
}

long om_gc_poll(void) {
    if (om_likely(!omi_gc.pending) || omi_gc.running)
        return 0;
    omi_gc.pending = 0;
    if (!omi_gc.enabled)
        return 0;
    for (int i = OM_GC_GENERATIONS - 1; i >= 0; i--) {
        if (omi_gc.count[i] > omi_gc.threshold[i]) {
            /* A full collection only when a quarter of the long-lived
             * objects are new since the last one: amortised linear. */
            if (i == OM_GC_GENERATIONS - 1 && omi_gc.long_lived_pending < omi_gc.long_lived_total / 4)
                continue;
            return collect(i);
        }
    }
    return 0;
}

int omi_gc_pending(void) { return omi_gc.pending; }

