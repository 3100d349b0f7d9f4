/*
 * gc_om.c — bench_gc's objmem side: the graphs as objmem GC objects,
 * collected with om_gc_collect.
 *
 * A node is an om_object header and 2 (or 3, for trees) om_object *
 * slots: 32 (40) bytes, plus objmem's 16-byte collector header before the
 * object, so 48 (56, a 64-byte block) bytes in all, as a CPython instance
 * of a class with __slots__ = ('a', 'b') (('a', 'b', 'c')) takes with its
 * PyGC_Head.  The types declare their slots (om_type.ref_fields: the
 * collector walks them inline, and objmem supplies traverse and clear),
 * the form a runtime would use; CPython's heap types walk __slots__ with
 * traverse_slots, a call per slot.  bench_gc --om-refs hook gives the
 * slots through a refs hook instead, --om-refs traverse (or --om-no-refs)
 * through traverse and clear functions only, to measure what each form
 * costs.  No free list (CPython's heap types have none).
 *
 * Runs in a child process of bench_gc that holds the runtime lock; the
 * automatic collector is disabled (om_gc_disable, as gc.disable() on the
 * CPython side) so only the timed om_gc_collect runs.  The process exits
 * right after the measurement, so nothing is torn down.
 */
#include "gc_bench.h"

#include "objmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

typedef struct node {
    om_object ob;
    om_object *s[GCB_MAX_SLOTS];
} node;

static int node2_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    int r;
    if (n->s[0] && (r = visit(n->s[0], arg)) != 0)
        return r;
    if (n->s[1] && (r = visit(n->s[1], arg)) != 0)
        return r;
    return 0;
}

static int node3_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    int r;
    if ((r = node2_traverse(self, visit, arg)) != 0)
        return r;
    if (n->s[2] && (r = visit(n->s[2], arg)) != 0)
        return r;
    return 0;
}

static om_refs node2_refs(om_object *self)
{
    return (om_refs){((node *)self)->s, 2};
}

static om_refs node3_refs(om_object *self)
{
    return (om_refs){((node *)self)->s, 3};
}

static void node2_clear(om_object *self)
{
    node *n = (node *)self;
    om_clear_ref(&n->s[0]);
    om_clear_ref(&n->s[1]);
}

static void node3_clear(om_object *self)
{
    node *n = (node *)self;
    om_clear_ref(&n->s[0]);
    om_clear_ref(&n->s[1]);
    om_clear_ref(&n->s[2]);
}

static om_type node2_type = {
    OM_TYPE_INIT,
    .name = "node2",
    .size = sizeof(om_object) + 2 * sizeof(om_object *),
    .flags = OM_TYPE_GC,
    .ref_fields = OM_REF_FIELD(node, s[0]) | OM_REF_FIELD(node, s[1]),
};

static om_type node3_type = {
    OM_TYPE_INIT,
    .name = "node3",
    .size = sizeof(om_object) + 3 * sizeof(om_object *),
    .flags = OM_TYPE_GC,
    .ref_fields = OM_REF_FIELD(node, s[0]) | OM_REF_FIELD(node, s[1]) | OM_REF_FIELD(node, s[2]),
};

/* GCB_HOLD_LIST's list: one variable-size object of n references (as a
 * CPython list, whose item array is a separate block, the references are
 * not nodes of the graph). */
typedef struct holder {
    om_varobject ob;
    om_object *items[];
} holder;

static int holder_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    holder *h = (holder *)self;
    for (intptr_t i = 0; i < h->ob.nitems; i++) {
        int r;
        if (h->items[i] && (r = visit(h->items[i], arg)) != 0)
            return r;
    }
    return 0;
}

static om_refs holder_refs(om_object *self)
{
    holder *h = (holder *)self;
    return (om_refs){h->items, (size_t)h->ob.nitems};
}

static void holder_clear(om_object *self)
{
    holder *h = (holder *)self;
    for (intptr_t i = h->ob.nitems; i-- > 0;)
        om_clear_ref(&h->items[i]);
}

static om_type holder_type = {
    OM_TYPE_INIT,
    .name = "holder",
    .size = sizeof(holder),
    .item_size = sizeof(om_object *),
    .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS,
};

int gcb_om_refs = GCB_OM_DECLARED;

const char *gcb_om_version(void) { return om_version(); }

static void start(void)
{
    static int done;
    if (!done) { /* before the first om_new */
        done = 1;
        if (gcb_om_refs != GCB_OM_DECLARED) {
            node2_type.ref_fields = node3_type.ref_fields = 0;
            holder_type.flags = OM_TYPE_GC;
            node2_type.traverse = node2_traverse;
            node3_type.traverse = node3_traverse;
            holder_type.traverse = holder_traverse;
            node2_type.clear = node2_clear;
            node3_type.clear = node3_clear;
            holder_type.clear = holder_clear;
        }
        if (gcb_om_refs == GCB_OM_HOOK) {
            node2_type.refs = node2_refs;
            node3_type.refs = node3_refs;
            holder_type.refs = holder_refs;
        }
    }
    if (!om_lock_held())
        om_lock_acquire();
    om_gc_disable();
}

static om_object **scratch(size_t n)
{
    if (n == 0)
        n = 1;
    void *p = mmap(NULL, n * sizeof(om_object *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void scratch_free(om_object **p, size_t n)
{
    munmap(p, (n ? n : 1) * sizeof(om_object *));
}

/* Allocate the nodes of g in index order into v[] (one reference each),
 * then fill the slots.  Returns 0 or -1. */
static int build(const gcb_graph *g, om_object **v)
{
    om_type *t = g->nslots == 3 ? &node3_type : &node2_type;
    for (size_t i = 0; i < g->n; i++) {
        if (!(v[i] = om_new(t))) {
            fprintf(stderr, "bench_gc: objmem: om_new failed at node %zu\n", i);
            return -1;
        }
    }
    for (size_t i = 0; i < g->n; i++) {
        node *nd = (node *)v[i];
        for (unsigned k = 0; k < g->nslots; k++) {
            uint32_t e = g->edges[i * g->nslots + k];
            if (e != GCB_NONE)
                nd->s[k] = om_newref(v[e]);
        }
    }
    return 0;
}

static uint64_t block_bytes(om_type *t)
{
    om_object *o = om_new(t);
    if (!o)
        return 0;
    om_block_info bi;   /* the block holds the collector's header too */
    uint64_t b = om_block_describe(o, &bi) == 0 ? bi.block_size : 0;
    om_decref(o);
    return b;
}

int gcb_om_full(const gcb_graph *g, int hold, int garbage, gcb_meas *m)
{
    start();
    gcb_clock c;
    gcb_begin(&c, 0);
    om_gc_collect(2);
    gcb_end(&c, m);
    m->base_cpu_ns = m->cpu_ns;
    m->node_bytes = block_bytes(g->nslots == 3 ? &node3_type : &node2_type);

    uint64_t t0 = gcb_wall_ns();
    om_object *keep; /* the external reference */
    if (hold == GCB_HOLD_LIST) {
        holder *h = (holder *)om_new_var(&holder_type, g->n);
        if (!h) {
            fprintf(stderr, "bench_gc: objmem: om_new_var(holder, %zu) failed\n", g->n);
            return -1;
        }
        if (build(g, h->items) != 0)
            return -1;
        keep = OM_OBJ(h);
    } else {
        om_object **v = scratch(g->n);
        if (!v)
            return -1;
        if (build(g, v) != 0)
            return -1;
        keep = om_newref(v[0]);
        for (size_t i = 0; i < g->n; i++)
            om_decref(v[i]);
        scratch_free(v, g->n);
    }
    if (garbage)
        om_decref(keep);
    m->build_ns = gcb_wall_ns() - t0;

    gcb_begin(&c, 1);
    long found = om_gc_collect(2);
    gcb_end(&c, m);
    m->found = found;
    if (!garbage)
        om_decref(keep); /* the nodes are still cyclic: nothing much freed here */
    return 0;
}

int gcb_om_young(const gcb_young *y, gcb_meas *m)
{
    start();
    const gcb_graph *old = y->old;
    m->node_bytes = block_bytes(&node2_type);
    gcb_clock c;
    gcb_begin(&c, 0);
    om_gc_collect(0);
    gcb_end(&c, m);
    m->base_cpu_ns = m->cpu_ns;

    uint64_t t0 = gcb_wall_ns();
    om_object **v = scratch(old->n);
    if (!v)
        return -1;
    if (build(old, v) != 0)
        return -1;
    om_object *root = old->n ? om_newref(v[0]) : NULL;
    for (size_t i = 0; i < old->n; i++)
        om_decref(v[i]);
    /* Promote: after a full collection the old heap is in generation 2. */
    if (om_gc_collect(2) != 0) {
        fprintf(stderr, "bench_gc: objmem: the old heap was not all live\n");
        return -1;
    }
    if (om_gc_count_objects(2) != old->n || om_gc_count_objects(0) != 0) {
        fprintf(stderr, "bench_gc: objmem: old heap not promoted (%zu in gen 2)\n",
                om_gc_count_objects(2));
        return -1;
    }
    /* v[] holds no references any more, but the old nodes stay alive
     * (the ring holds them): the young nodes' oldrefs use it. */
    m->build_ns = gcb_wall_ns() - t0;
    gcb_meas rep[64];
    int reps = y->reps < 1 ? 1 : y->reps > 64 ? 64 : y->reps;
    m->found = (long)(2 * y->cycles);
    for (int r = 0; r < reps; r++) {
        for (size_t i = 0; i < y->cycles; i++) {
            node *x = (node *)om_new(&node2_type);
            node *z = (node *)om_new(&node2_type);
            if (!x || !z)
                return -1;
            x->s[0] = om_newref(OM_OBJ(z));
            z->s[0] = om_newref(OM_OBJ(x));
            if (y->oldrefs) {
                x->s[1] = om_newref(v[y->refs[2 * i]]);
                z->s[1] = om_newref(v[y->refs[2 * i + 1]]);
            }
            om_decref(x);
            om_decref(z);
        }
        gcb_begin(&c, 1);
        long found = om_gc_collect(0);
        gcb_end(&c, &rep[r]);
        if (found != (long)(2 * y->cycles))
            m->found = found; /* reported as a mismatch */
    }
    gcb_keep_median(m, rep, reps);
    scratch_free(v, old->n);
    if (root)
        om_decref(root);
    return 0;
}
