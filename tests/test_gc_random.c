/*
 * test_gc_random.c — the cycle collector against a reachability model.
 *
 * Random graphs of nodes (a test container type with K reference slots)
 * are built, roots (references the test holds) are taken and dropped,
 * edges rewired, weak references with callbacks attached, and collections
 * of random generations run.  A model in the test predicts, after every
 * operation:
 *   - which nodes reference counting frees (a node whose count reaches
 *     zero; with finalizers, one whose finalizer has not run and that
 *     resurrects stays, held by `holder`);
 *   - what a collection of generation g finds: the nodes of generations
 *     0..g that nothing outside them (roots, holder, older nodes) reaches;
 *     with finalizers, the finalizers that run (once per node ever), the
 *     nodes they resurrect and everything those reach, which survive;
 *   - the generation of every survivor (one older than it was), the
 *     weak-reference callbacks that ran (reachable weak references to
 *     found nodes, or to nodes freed by reference counting).
 * Then every node is checked: freed exactly when the model says (release
 * hook counts), and for those alive: the same edges, the reference count
 * the model computes, the generation, finalized or not, holder, weak
 * reference state.  om_gc_collect's result must be the model's count.
 *
 * Half the nodes have a refs hook (the collector walks their slots inline),
 * half only traverse.
 *
 * test_single_shot is the plain form: N nodes, random edges, random roots,
 * drop the rest, one full collection: exactly the unreachable are freed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"
#include "objtest.h"
#include "gctest.h"

#define K GT_NSLOT
#define MAXN 32768

/* rnode: a gt_gnode (gctest.h); resurrect: its finalizer resurrects it */

/* what really happened, per id */
static int destroyed[MAXN];     /* release calls */
static int fin_runs[MAXN];      /* finalize calls */
static int wfired[MAXN];        /* weak-reference callbacks */
static int wbad;                /* a callback saw its referent */
static om_object *holder[MAXN]; /* resurrected nodes */

static void rnode_release(om_object *self)
{
    destroyed[((gt_gnode *)self)->id]++;
}

static void rnode_finalize(om_object *self)
{
    gt_gnode *n = (gt_gnode *)self;
    fin_runs[n->id]++;
    if (n->resurrect && holder[n->id] == NULL)
        holder[n->id] = om_newref(self);
}

static om_type rnode_type = {
    OM_TYPE_INIT,
    .name = "rnode", .size = sizeof(gt_gnode), .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(gt_gnode, weaklist),
    .traverse = gt_gnode_traverse, .clear = gt_gnode_clear_refs, .release = rnode_release,
};
static om_type rfnode_type = {
    OM_TYPE_INIT,
    .name = "rfnode", .size = sizeof(gt_gnode), .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(gt_gnode, weaklist),
    .traverse = gt_gnode_traverse, .clear = gt_gnode_clear_refs, .release = rnode_release,
    .finalize = rnode_finalize,
};
/* the same with the refs hook: graphs mix both kinds of node */
static om_type rnode_refs_type = {
    OM_TYPE_INIT,
    .name = "rnode_refs", .size = sizeof(gt_gnode), .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(gt_gnode, weaklist),
    .traverse = gt_gnode_traverse, .clear = gt_gnode_clear_refs, .release = rnode_release,
    .refs = gt_gnode_refs,
};
static om_type rfnode_refs_type = {
    OM_TYPE_INIT,
    .name = "rfnode_refs", .size = sizeof(gt_gnode), .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(gt_gnode, weaklist),
    .traverse = gt_gnode_traverse, .clear = gt_gnode_clear_refs, .release = rnode_release,
    .finalize = rnode_finalize, .refs = gt_gnode_refs,
};

static int is_rnode(const om_object *o)
{
    return o->type == &rnode_type || o->type == &rfnode_type || o->type == &rnode_refs_type ||
           o->type == &rfnode_refs_type;
}

static void weak_cb(om_weakref *ref, om_object *data)
{
    int id = (int)ex_int_value(data);
    wfired[id]++;
    om_object *o = om_weakref_get(ref);
    if (o != NULL) {
        wbad++;
        om_decref(o);
    }
}

/* ------------------------------------------------------------ the model */
enum { W_NONE, W_ARMED, W_FIRED };

static struct {
    int n;                      /* ids used */
    int fin_mode;               /* nodes have finalizers */
    gt_gnode *ptr[MAXN];
    om_weakref *weak[MAXN];
    unsigned char alive[MAXN], root[MAXN], held[MAXN], gen[MAXN], finalized[MAXN], res[MAXN],
        wstate[MAXN];
    int edge[MAXN][K];
    int indeg[MAXN];
    /* scratch */
    int stack[MAXN * (K + 1)];
    unsigned char inY[MAXN], kept[MAXN], inU[MAXN];
} m;

static uint64_t rng;
/* what the runs exercised (printed per test) */
static struct { long collections, found, gc_saved, rc_saved, weak_fired, max_nodes; } tally;

static void model_kill(int i)
{
    m.alive[i] = 0;
    if (m.wstate[i] == W_ARMED) {
        m.wstate[i] = W_FIRED;
        tally.weak_fired++;
    }
}

/* Reference counting: free every node whose count is zero, cascading;
 * a node with a pending resurrecting finalizer comes back instead. */
static void model_settle(void)
{
    memset(m.indeg, 0, sizeof m.indeg[0] * (size_t)m.n);
    for (int i = 0; i < m.n; i++)
        if (m.alive[i])
            for (int k = 0; k < K; k++)
                if (m.edge[i][k] >= 0)
                    m.indeg[m.edge[i][k]]++;
    int sp = 0;
    for (int i = 0; i < m.n; i++)
        if (m.alive[i] && m.indeg[i] == 0 && !m.root[i] && !m.held[i])
            m.stack[sp++] = i;
    while (sp > 0) {
        int i = m.stack[--sp];
        if (!m.alive[i] || m.indeg[i] || m.root[i] || m.held[i])
            continue;
        if (m.fin_mode && !m.finalized[i]) {
            m.finalized[i] = 1;
            if (m.res[i]) {
                m.held[i] = 1;
                tally.rc_saved++;
                continue;
            }
        }
        model_kill(i);
        for (int k = 0; k < K; k++) {
            int t = m.edge[i][k];
            m.edge[i][k] = -1;
            if (t >= 0 && --m.indeg[t] == 0)
                m.stack[sp++] = t;
        }
    }
}

/* Follow edges from the nodes on the stack, marking targets in `in` not yet
 * in `mark`. */
static void model_closure(int sp, const unsigned char *in, unsigned char *mark)
{
    while (sp > 0) {
        int i = m.stack[--sp];
        for (int k = 0; k < K; k++) {
            int t = m.edge[i][k];
            if (t >= 0 && in[t] && !mark[t]) {
                mark[t] = 1;
                m.stack[sp++] = t;
            }
        }
    }
}

/* A collection of generations 0..g; returns what it finds. */
static long model_collect(int g)
{
    int n = m.n;
    for (int i = 0; i < n; i++) {
        m.inY[i] = m.alive[i] && m.gen[i] <= g;
        m.kept[i] = 0;
        m.inU[i] = 0;
    }
    /* referenced from outside: roots, holder, nodes of older generations */
    for (int i = 0; i < n; i++) {
        if (m.inY[i] && (m.root[i] || m.held[i]))
            m.kept[i] = 1;
        if (m.alive[i] && !m.inY[i])
            for (int k = 0; k < K; k++)
                if (m.edge[i][k] >= 0 && m.inY[m.edge[i][k]])
                    m.kept[m.edge[i][k]] = 1;
    }
    int sp = 0;
    for (int i = 0; i < n; i++)
        if (m.kept[i])
            m.stack[sp++] = i;
    model_closure(sp, m.inY, m.kept);
    long found = 0;
    for (int i = 0; i < n; i++) {
        if (m.inY[i] && !m.kept[i]) {
            m.inU[i] = 1;
            found++;
            if (m.wstate[i] == W_ARMED) {
                m.wstate[i] = W_FIRED; /* weak references cleared first */
                tally.weak_fired++;
            }
        }
    }
    /* finalizers: once per node ever; resurrected nodes and what they reach survive */
    static unsigned char saved[MAXN];
    memset(saved, 0, sizeof saved);
    if (m.fin_mode) {
        sp = 0;
        for (int i = 0; i < n; i++) {
            if (m.inU[i] && !m.finalized[i]) {
                m.finalized[i] = 1;
                if (m.res[i]) {
                    m.held[i] = 1;
                    saved[i] = 1;
                    m.stack[sp++] = i;
                }
            }
        }
        model_closure(sp, m.inU, saved);
    }
    tally.collections++;
    tally.found += found;
    for (int i = 0; i < n; i++)
        tally.gc_saved += saved[i];
    int older = g + 1 < OM_GC_GENERATIONS ? g + 1 : g;
    for (int i = 0; i < n; i++)
        if (m.inY[i] && (m.kept[i] || saved[i]))
            m.gen[i] = (unsigned char)older;
    /* the rest is cleared: freed, and reference counting goes on from there */
    for (int i = 0; i < n; i++) {
        if (m.inU[i] && !saved[i]) {
            model_kill(i);
            for (int k = 0; k < K; k++)
                m.edge[i][k] = -1;
        }
    }
    model_settle();
    /* What om_gc_collect reports: as CPython's gc.collect(), the objects
     * found unreachable less those a finalizer resurrected. */
    long resurrected = 0;
    for (int i = 0; i < n; i++)
        resurrected += saved[i];
    return found - resurrected;
}

/* ------------------------------------------------------------ real operations */

static void op_set_edge(int i, int k, int t)
{
    gt_gnode *n = m.ptr[i];
    om_object *old = n->ref[k];
    n->ref[k] = t >= 0 ? om_newref(OM_OBJ(m.ptr[t])) : NULL;
    m.edge[i][k] = t;
    om_xdecref(old);
}

static int random_alive(void)
{
    for (int tries = 0; tries < 64; tries++) {
        int i = (int)tu_range(&rng, 0, (size_t)m.n - 1);
        if (m.alive[i])
            return i;
    }
    for (int i = 0; i < m.n; i++)
        if (m.alive[i])
            return i;
    return -1;
}

static void op_create(int count, int edge_pct, int res_pct, int weak_pct)
{
    if (m.n + count > MAXN)
        count = MAXN - m.n;
    int first = m.n;
    for (int c = 0; c < count; c++) {
        int id = m.n++;
        int fast = (int)tu_range(&rng, 0, 1);
        om_type *t = m.fin_mode ? (fast ? &rfnode_refs_type : &rfnode_type)
                                : (fast ? &rnode_refs_type : &rnode_type);
        gt_gnode *n = (gt_gnode *)om_new(t);
        if (n == NULL) {
            CHECK(0);
            m.n--;
            return;
        }
        n->id = id;
        n->resurrect = m.fin_mode && (int)tu_range(&rng, 0, 99) < res_pct;
        m.ptr[id] = n;
        m.alive[id] = 1;
        m.root[id] = 1;
        m.held[id] = 0;
        m.gen[id] = 0;
        m.finalized[id] = 0;
        m.res[id] = (unsigned char)n->resurrect;
        m.wstate[id] = W_NONE;
        m.weak[id] = NULL;
        for (int k = 0; k < K; k++)
            m.edge[id][k] = -1;
        if ((int)tu_range(&rng, 0, 99) < weak_pct) {
            om_object *data = ex_int_new(id);
            om_weakref *w = data ? om_weakref_new(OM_OBJ(n), weak_cb, data) : NULL;
            om_xdecref(data);
            if (w == NULL) {
                CHECK(0);
            } else {
                m.weak[id] = w;
                m.wstate[id] = W_ARMED;
            }
        }
    }
    /* edges of the new nodes: to new or old nodes, alive (all new ones are rooted) */
    for (int id = first; id < m.n; id++) {
        for (int k = 0; k < K; k++) {
            if ((int)tu_range(&rng, 0, 99) >= edge_pct)
                continue;
            int t;
            if (tu_range(&rng, 0, 1) == 0)
                t = (int)tu_range(&rng, (size_t)first, (size_t)m.n - 1);
            else
                t = random_alive();
            if (t >= 0 && m.alive[t])
                op_set_edge(id, k, t);
        }
    }
}

/* settle: 0 when the caller settles the model once after many drops */
static void op_drop_root_n(int i, int settle)
{
    m.root[i] = 0;
    om_decref(m.ptr[i]);
    if (settle)
        model_settle();
}
static void op_drop_root(int i) { op_drop_root_n(i, 1); }

static void op_take_root(int i)
{
    m.root[i] = 1;
    om_incref(m.ptr[i]);
}

static void op_drop_holder_n(int i, int settle)
{
    m.held[i] = 0;
    om_clear_ref(&holder[i]);
    if (settle)
        model_settle();
}
static void op_drop_holder(int i) { op_drop_holder_n(i, 1); }

static void op_rewire(int i)
{
    int k = (int)tu_range(&rng, 0, K - 1);
    int t = tu_range(&rng, 0, 3) == 0 ? -1 : random_alive();
    op_set_edge(i, k, t);
    model_settle();
}

/* ------------------------------------------------------------ verification */

static int real_gen[MAXN], real_seen[MAXN];
static int visit_gen_g;
static int visit_gen(om_object *o, void *arg)
{
    (void)arg;
    if (is_rnode(o)) {
        int id = ((gt_gnode *)o)->id;
        real_gen[id] = visit_gen_g;
        real_seen[id]++;
    }
    return 0;
}

static int failures_reported;
#define VCHECK(cond, ...)                                     \
    do {                                                      \
        if (!(cond)) {                                        \
            bad++;                                            \
            if (failures_reported++ < 20)                     \
                CHECK_MSG(cond, __VA_ARGS__);                 \
        }                                                     \
    } while (0)

static int verify(const char *where)
{
    int bad = 0;
    memset(real_seen, 0, sizeof real_seen[0] * (size_t)m.n);
    for (int g = 0; g < OM_GC_GENERATIONS; g++) {
        visit_gen_g = g;
        om_gc_get_objects(g, visit_gen, NULL);
    }
    for (int i = 0; i < m.n; i++) {
        VCHECK(destroyed[i] == !m.alive[i], "%s: node %d destroyed %d times, model alive %d", where, i,
               destroyed[i], m.alive[i]);
        VCHECK(fin_runs[i] <= 1, "%s: node %d finalized %d times", where, i, fin_runs[i]);
        VCHECK((holder[i] != NULL) == m.held[i], "%s: node %d holder %p, model %d", where, i,
               (void *)holder[i], m.held[i]);
        int wf = m.wstate[i] == W_FIRED;
        VCHECK(wfired[i] == wf, "%s: node %d weak callback ran %d times, model %d", where, i, wfired[i], wf);
        if (!m.alive[i]) {
            VCHECK(real_seen[i] == 0, "%s: dead node %d listed in a generation", where, i);
            continue;
        }
        gt_gnode *n = m.ptr[i];
        VCHECK(real_seen[i] == 1 && real_gen[i] == m.gen[i],
               "%s: node %d in generation %d (listed %d times), model %d", where, i, real_gen[i],
               real_seen[i], m.gen[i]);
        for (int k = 0; k < K; k++) {
            int t = m.edge[i][k];
            om_object *want = t >= 0 ? OM_OBJ(m.ptr[t]) : NULL;
            VCHECK(n->ref[k] == want, "%s: node %d slot %d changed", where, i, k);
        }
        if (m.fin_mode) {
            VCHECK(fin_runs[i] == m.finalized[i], "%s: node %d finalizer ran %d, model %d", where, i,
                   fin_runs[i], m.finalized[i]);
            VCHECK(om_gc_is_finalized(OM_OBJ(n)) == m.finalized[i], "%s: node %d is_finalized %d, model %d",
                   where, i, om_gc_is_finalized(OM_OBJ(n)), m.finalized[i]);
        }
        if (m.wstate[i] == W_ARMED) {
            om_object *o = om_weakref_get(m.weak[i]);
            VCHECK(o == OM_OBJ(n), "%s: node %d weak reference lost its referent", where, i);
            om_xdecref(o);
        } else if (m.wstate[i] == W_FIRED) {
            VCHECK(om_weakref_get(m.weak[i]) == NULL, "%s: node %d weak reference not cleared", where, i);
        }
    }
    /* reference counts: in-edges from alive nodes + root + holder */
    memset(m.indeg, 0, sizeof m.indeg[0] * (size_t)m.n);
    for (int i = 0; i < m.n; i++)
        if (m.alive[i])
            for (int k = 0; k < K; k++)
                if (m.edge[i][k] >= 0)
                    m.indeg[m.edge[i][k]]++;
    for (int i = 0; i < m.n; i++) {
        if (!m.alive[i])
            continue;
        intptr_t want = m.indeg[i] + m.root[i] + m.held[i];
        VCHECK(m.ptr[i]->ob.refcount == want, "%s: node %d count %ld, model %ld", where, i,
               (long)m.ptr[i]->ob.refcount, (long)want);
    }
    VCHECK(wbad == 0, "%s: %d callbacks saw their referent", where, wbad);
    VCHECK(om_gc_garbage_count() == 0, "%s: garbage list not empty", where);
    /* fired weak references are done: drop them */
    for (int i = 0; i < m.n; i++) {
        if (m.wstate[i] == W_FIRED) {
            om_decref(m.weak[i]);
            m.weak[i] = NULL;
            m.wstate[i] = W_NONE;
            wfired[i] = 0;
        }
    }
    return bad;
}

static void collect_and_check(int g, const char *where)
{
    om_gc_gen_stats s0[3], s1[3];
    om_gc_get_stats(s0);
    long want = model_collect(g);
    long got = om_gc_collect(g);
    om_gc_get_stats(s1);
    if (got != want && failures_reported++ < 20)
        CHECK_MSG(got == want, "%s: om_gc_collect(%d) = %ld, model %ld", where, g, got, want);
    CHECK_EQ(s1[g].collected - s0[g].collected, (uint64_t)want);
    CHECK_EQ(s1[g].uncollectable, s0[g].uncollectable);
}

static void print_tally(const char *name)
{
    printf("   %s: %ld collections found %ld nodes; %ld resurrected in collections, %ld by "
           "reference counting; %ld weak callbacks; up to %ld nodes\n",
           name, tally.collections, tally.found, tally.gc_saved, tally.rc_saved, tally.weak_fired,
           tally.max_nodes);
    memset(&tally, 0, sizeof tally);
}

static void start(int fin_mode, uint64_t seed)
{
    rng = seed;
    om_gc_set_debug(0);
    om_gc_collect(2);
    memset(destroyed, 0, sizeof destroyed);
    memset(fin_runs, 0, sizeof fin_runs);
    memset(wfired, 0, sizeof wfired);
    memset(holder, 0, sizeof holder); /* what a failed run left there leaks */
    wbad = 0;
    m.n = 0;
    m.fin_mode = fin_mode;
    failures_reported = 0;
}

/* drop everything the test holds; everything must go */
static void finish(const char *where)
{
    for (int i = 0; i < m.n; i++) {
        if (m.alive[i] && m.wstate[i] != W_NONE) {
            om_decref(m.weak[i]);
            m.weak[i] = NULL;
            m.wstate[i] = W_NONE;
        }
    }
    for (int i = 0; i < m.n; i++)
        if (m.alive[i] && m.root[i])
            op_drop_root_n(i, 0);
    model_settle();
    /* dropping a holder can expose a node whose finalizer has not run
     * yet, which resurrects in turn: go on until nothing is left */
    for (int round = 0; round < 10000; round++) {
        int any = 0;
        for (int i = 0; i < m.n; i++)
            if (m.alive[i] && m.held[i])
                op_drop_holder_n(i, 0);
        model_settle();
        for (int i = 0; i < m.n; i++)
            any |= m.alive[i];
        if (!any)
            break;
        collect_and_check(2, where);
    }
    if (m.n > tally.max_nodes)
        tally.max_nodes = m.n;
    verify(where);
    int left = 0;
    for (int i = 0; i < m.n; i++)
        left += m.alive[i];
    CHECK_EQ(left, 0);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* ------------------------------------------------------------ tests */

static void single_shot(int fin_mode, uint64_t seed, int n, int edge_pct, int root_pct)
{
    start(fin_mode, seed);
    op_create(n, edge_pct, fin_mode ? 20 : 0, 10);
    for (int i = 0; i < m.n; i++)
        if ((int)tu_range(&rng, 0, 99) >= root_pct)
            op_drop_root_n(i, 0);
    model_settle();
    int bad = verify("single shot, after the drops");
    collect_and_check(2, "single shot");
    bad += verify("single shot, after the collection");
    /* every node alive is reachable from a root or the holder */
    int reach_ok = 1;
    if (!fin_mode) {
        static unsigned char r[MAXN];
        memset(r, 0, sizeof r);
        int sp = 0;
        for (int i = 0; i < m.n; i++)
            if (m.alive[i] && m.root[i]) {
                r[i] = 1;
                m.stack[sp++] = i;
            }
        static unsigned char all[MAXN];
        memset(all, 1, sizeof all);
        model_closure(sp, all, r);
        for (int i = 0; i < m.n; i++)
            if ((r[i] != 0) != (destroyed[i] == 0))
                reach_ok = 0;
    }
    CHECK(reach_ok);
    if (bad)
        CHECK_MSG(0, "seed %llu: %d mismatches", (unsigned long long)seed, bad);
    finish("single shot, cleanup");
}

static void test_single_shot(void)
{
    const int n = OM_TEST_SANITIZED ? 4000 : 20000; /* over 16K: the prefetching passes */
    for (uint64_t seed = 1; seed <= 6; seed++) {
        single_shot(0, seed, n, 30 + (int)seed * 8, 5 + (int)seed * 3);
        single_shot(1, 100 + seed, n, 30 + (int)seed * 8, 5 + (int)seed * 3);
    }
    print_tally("single shot");
}

static void random_steps(int fin_mode, uint64_t seed, int steps)
{
    start(fin_mode, seed);
    int bad = 0;
    char where[96];
    for (int step = 0; step < steps; step++) {
        snprintf(where, sizeof where, "seed %llu step %d", (unsigned long long)seed, step);
        int what = (int)tu_range(&rng, 0, 99);
        if (m.n < 20 || what < 25) {
            op_create((int)tu_range(&rng, 1, 40), (int)tu_range(&rng, 20, 90), 25, 15);
        } else if (what < 50) {
            int drops = (int)tu_range(&rng, 1, 30);
            for (int d = 0; d < drops; d++) {
                int i = random_alive();
                if (i >= 0 && m.root[i])
                    op_drop_root(i);
            }
        } else if (what < 60) {
            for (int d = 0; d < 10; d++) {
                int i = random_alive();
                if (i >= 0)
                    op_rewire(i);
            }
        } else if (what < 64) {
            int i = random_alive(); /* even garbage that is still there */
            if (i >= 0 && !m.root[i])
                op_take_root(i);
        } else if (what < 68) {
            for (int i = 0; i < m.n; i++)
                if (m.held[i] && tu_range(&rng, 0, 2) == 0)
                    op_drop_holder(i);
        } else if (what < 70) {
            int i = random_alive();
            if (i >= 0 && m.wstate[i] == W_ARMED) {
                om_decref(m.weak[i]); /* dropped before its referent */
                m.weak[i] = NULL;
                m.wstate[i] = W_NONE;
            }
        } else {
            int g = (int)tu_range(&rng, 0, 9);
            g = g < 5 ? 0 : g < 8 ? 1 : 2;
            collect_and_check(g, where);
        }
        bad += verify(where);
        if (bad)
            break;
        if (step % 64 == 0)
            CHECK_EQ(om_heap_check(1), 0);
    }
    if (bad)
        CHECK_MSG(0, "seed %llu (finalizers %d): %d mismatches", (unsigned long long)seed, fin_mode, bad);
    finish(where);
}

static void test_random_steps(void)
{
    const int steps = OM_TEST_SANITIZED ? 300 : 600;
    for (uint64_t seed = 1; seed <= 5; seed++)
        random_steps(0, 1000 + seed, steps);
    print_tally("random steps");
}

static void test_random_steps_finalizers(void)
{
    const int steps = OM_TEST_SANITIZED ? 300 : 600;
    for (uint64_t seed = 1; seed <= 5; seed++)
        random_steps(1, 2000 + seed, steps);
    print_tally("random steps with finalizers");
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_single_shot),
        CHECK_CASE(test_random_steps),
        CHECK_CASE(test_random_steps_finalizers),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
