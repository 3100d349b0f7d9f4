/*
 * gcsem.h — test types shared by test_gc_untrack.c and
 * test_gc_uncollectable.c, the collector held to CPython's gc semantics:
 * nodes with and without clear, release and finalizer hooks that count
 * what ran, and helpers that find an object's generation, look for it on
 * the garbage list and check a collection's outcome against the
 * statistics and the callbacks.  Static definitions: each test is its own
 * executable.
 */
#ifndef OM_TEST_GCSEM_H
#define OM_TEST_GCSEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "objtest.h"
#include "testutil.h"

/* ------------------------------------------------------------ test types
 * node: a container with four reference slots and a weak-reference list.
 *   cnode  has clear (logs C<id>) and release (logs R<id>);
 *   nnode  has no clear: the collector cannot drop its references; its
 *          release drops them (as any type's destruction must), after
 *          reading each referent (a use after free shows under ASan);
 *   fnnode an nnode with a finalizer (logs F<id>);
 *   dnode  declares its references (ref_fields), no hooks: the kind
 *          omi_gc_delete_fast frees. */
#define MAXID 4096
#define NSLOT 4

typedef struct node {
    om_object ob;
    om_weakref *weaklist;
    long id;
    int was_cleared;
    om_object *ref[NSLOT];
} node;

static __attribute__((unused)) int quiet;
static __attribute__((unused)) int released[MAXID], cleared[MAXID], finalized[MAXID];
static __attribute__((unused)) unsigned long n_released, n_cleared, n_finalized;

static inline void note(int *counts, unsigned long *total, char tag, long id)
{
    (*total)++;
    if (id >= 0 && id < MAXID)
        counts[id]++;
    if (!quiet)
        ot_ev("%c%ld", tag, id);
}

static inline int node_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    for (int i = 0; i < NSLOT; i++) {
        if (n->ref[i] != NULL) {
            int r = visit(n->ref[i], arg);
            if (r)
                return r;
        }
    }
    return 0;
}

static inline void node_clear(om_object *self)
{
    node *n = (node *)self;
    if (!n->was_cleared) {
        n->was_cleared = 1;
        note(cleared, &n_cleared, 'C', n->id);
    }
    for (int i = 0; i < NSLOT; i++)
        om_clear_ref(&n->ref[i]);
}

static inline void node_release(om_object *self) { note(released, &n_released, 'R', ((node *)self)->id); }

/* No clear: destruction drops the references here.  Each referent is
 * read first: it must still be alive (this node holds it). */
static __attribute__((unused)) volatile intptr_t sink;
static inline void nnode_release(om_object *self)
{
    node *n = (node *)self;
    note(released, &n_released, 'R', n->id);
    for (int i = 0; i < NSLOT; i++) {
        if (n->ref[i] != NULL) {
            sink += n->ref[i]->refcount;
            if (n->ref[i]->refcount <= 0)
                ot_ev("DEAD-REF%ld", n->id);
            om_clear_ref(&n->ref[i]);
        }
    }
}

static inline void node_finalize(om_object *self) { note(finalized, &n_finalized, 'F', ((node *)self)->id); }

static om_type cnode_type __attribute__((unused)) = {
    OM_TYPE_INIT,
    .name = "cnode",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(node, weaklist),
    .traverse = node_traverse,
    .clear = node_clear,
    .release = node_release,
};

static om_type nnode_type __attribute__((unused)) = {
    OM_TYPE_INIT,
    .name = "nnode",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(node, weaklist),
    .traverse = node_traverse,
    .release = nnode_release,
};

static om_type fnnode_type __attribute__((unused)) = {
    OM_TYPE_INIT,
    .name = "fnnode",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(node, weaklist),
    .traverse = node_traverse,
    .finalize = node_finalize,
    .release = nnode_release,
};

static om_type dnode_type __attribute__((unused)) = {
    OM_TYPE_INIT,
    .name = "dnode",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .ref_fields = OM_REF_FIELD(node, ref[0]) | OM_REF_FIELD(node, ref[1]) | OM_REF_FIELD(node, ref[2]) |
                  OM_REF_FIELD(node, ref[3]),
    .release = node_release,
};

static inline node *mk(om_type *t, long id)
{
    node *n = (node *)om_new(t);
    if (n != NULL)
        n->id = id;
    return n;
}

/* n->ref[slot] = a new reference to target (or NULL); drops the old one */
static inline void set_ref(node *n, int slot, void *target)
{
    om_object *old = n->ref[slot];
    n->ref[slot] = target ? om_newref(OM_OBJ(target)) : NULL;
    om_xdecref(old);
}

static inline void reset_counters(void)
{
    memset(released, 0, sizeof released);
    memset(cleared, 0, sizeof cleared);
    memset(finalized, 0, sizeof finalized);
    n_released = n_cleared = n_finalized = 0;
    ot_log_reset();
}

static inline void gc_reset(void)
{
    quiet = 0;
    om_gc_set_debug(0);
    om_gc_enable();
    om_gc_set_threshold(2000, 10, 10);
    om_gc_garbage_clear();
    om_gc_collect(2);
    om_gc_collect(2);
    reset_counters();
}

struct find { const void *target; int found; };
static inline int visit_find(om_object *o, void *arg)
{
    struct find *f = arg;
    if ((const void *)o == f->target) {
        f->found++;
        return 1;
    }
    return 0;
}

/* The generation o is tracked in (0..2), or -1 */
static inline int gen_of(const void *o)
{
    for (int g = 0; g < OM_GC_GENERATIONS; g++) {
        struct find f = { o, 0 };
        om_gc_get_objects(g, visit_find, &f);
        if (f.found)
            return g;
    }
    return -1;
}

static inline int in_garbage(const void *o)
{
    struct find f = { o, 0 };
    om_gc_garbage_visit(visit_find, &f);
    return f.found;
}

/* What the last collection reported to its callback. */
static __attribute__((unused)) long cb_collected = -1, cb_uncollectable = -1;
static inline void recorder(om_gc_phase phase, const om_gc_info *info, void *arg)
{
    (void)arg;
    if (phase == OM_GC_STOP) {
        cb_collected = info->collected;
        cb_uncollectable = info->uncollectable;
    }
}

/* One collection of generation gen, with what it reported: the result,
 * the callback's counts and the statistics' growth must agree. */
typedef struct outcome { long found, collected, uncollectable; } outcome;
static inline outcome collect_checked(int gen)
{
    om_gc_gen_stats s0[OM_GC_GENERATIONS], s1[OM_GC_GENERATIONS];
    om_gc_get_stats(s0);
    cb_collected = cb_uncollectable = -1;
    CHECK_EQ(om_gc_callback_add(recorder, NULL), 0);
    outcome r = { om_gc_collect(gen), 0, 0 };
    CHECK_EQ(om_gc_callback_remove(recorder, NULL), 0);
    om_gc_get_stats(s1);
    r.collected = (long)(s1[gen].collected - s0[gen].collected);
    r.uncollectable = (long)(s1[gen].uncollectable - s0[gen].uncollectable);
    CHECK_EQ(cb_collected, r.collected);
    CHECK_EQ(cb_uncollectable, r.uncollectable);
    CHECK_EQ(r.found, r.collected + r.uncollectable);
    return r;
}

#define CHECK_OUTCOME(o, f, c, u)                                                                  \
    CHECK_MSG((o).found == (f) && (o).collected == (c) && (o).uncollectable == (u),               \
              "collection found %ld (collected %ld, uncollectable %ld), want %ld (%ld, %ld)",      \
              (o).found, (o).collected, (o).uncollectable, (long)(f), (long)(c), (long)(u))

#endif /* OM_TEST_GCSEM_H */
