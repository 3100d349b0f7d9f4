/*
 * fuzz_objects.c — objects, weak references, finalizers and the cycle
 * collector (objmem.h sections 8, 9, 11) under random object graphs,
 * against a reachability model.
 *
 * Nodes have four reference slots and an id.  Their types cover the
 * collector's paths: traverse and clear; a refs hook; declared
 * references (ref_fields, no traverse, no clear), with and without a
 * weak list (without one, the collector frees them without calling
 * clear); and finalizers, which resurrect the node when its flag says
 * so, by storing a reference in holder[id].  The input creates nodes,
 * sets and clears references, takes and drops roots (references the
 * harness holds), makes and drops weak references (with or without a
 * callback), drops resurrected nodes, freezes and unfreezes, untracks and
 * tracks nodes, and runs collections of random generations and
 * om_gc_poll.  Frozen and untracked nodes are, for the collector, held
 * from outside: the model counts them with the roots.
 *
 * The model is the edges the harness set, and what the hooks report
 * (release: freed; finalize: finalized).  After every operation:
 *   - release and finalize ran at most once per node (PEP 442);
 *   - every node reachable from the roots and holder is alive, with its
 *     contents (id, magic word, its four slots as set) intact, and the
 *     reference count the model computes (roots + holder + edges from
 *     live nodes); om_gc_is_finalized agrees with the finalize hook,
 *     om_gc_is_tracked with the model, om_gc_get_freeze_count with the
 *     nodes frozen;
 *   - a weak reference gives its referent while it is alive and was
 *     never part of a collection's unreachable set, and never gives a
 *     freed one; a callback ran exactly once for each weak reference the
 *     harness held when its referent died, and saw its referent gone.
 * After a full collection, the live nodes are exactly the reachable ones,
 * counting as reachable what kept nodes that died during it held: a kept
 * node freed when a collected node let it go leaves what it referenced
 * to the next collection, as in CPython.
 * What a collection reports finding is at most the nodes unreachable
 * before it, and for a full one at least the nodes it freed.
 * At the end of each input everything is dropped and collected: every
 * node must have been freed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "objmem.h"
#include "fuzz.h"

#define MAXN 256
#define NSLOT 4
#define NROOT 32
#define NWEAK 32
#define MAGIC 0x6f626a6d656d2121ull

typedef struct fnode {
    om_object ob;
    om_object *slot[NSLOT];
    om_weakref *weaklist;
    uint64_t id, magic;
    int resurrect;
} fnode;

static struct {
    int n;                    /* ids used in this input */
    fnode *ptr[MAXN];
    int edge[MAXN][NSLOT];    /* -1: NULL */
    unsigned char released[MAXN], finalized[MAXN], tainted[MAXN], reach[MAXN];
    unsigned char frozen[MAXN], untracked[MAXN]; /* om_gc_freeze, om_gc_untrack */
    om_object *holder[MAXN];  /* resurrected by their finalizer */
    int root[NROOT];          /* id, -1: empty */
    om_weakref *weak[NWEAK];
    int weakid[NWEAK], weakcb[NWEAK], fired[NWEAK];
    unsigned char weakfrozen[NWEAK]; /* a weak reference is a tracked object too */
    int bad_callback;
    int stack[MAXN];
} m;

static uint64_t magic_of(uint64_t id) { return MAGIC ^ (id * 0x9e3779b97f4a7c15ull); }

/* ---- the node types -------------------------------------------------------- */
static int node_traverse(om_object *self, om_visit_fn visit, void *arg) {
    fnode *n = (fnode *)self;
    for (int k = 0; k < NSLOT; k++)
        if (n->slot[k]) {
            int r = visit(n->slot[k], arg);
            if (r)
                return r;
        }
    return 0;
}

static void node_clear(om_object *self) {
    fnode *n = (fnode *)self;
    for (int k = 0; k < NSLOT; k++)
        om_clear_ref(&n->slot[k]);
}

static om_refs node_refs(om_object *self) { return (om_refs){((fnode *)self)->slot, NSLOT}; }

static void node_release(om_object *self) {
    fnode *n = (fnode *)self;
    FZ_CHECK(n->id < MAXN && n->magic == magic_of(n->id), "release of a node with id %llu, magic %llx",
             (unsigned long long)n->id, (unsigned long long)n->magic);
    for (int k = 0; k < NSLOT; k++)
        FZ_CHECK(n->slot[k] == NULL, "node %llu released with slot %d set", (unsigned long long)n->id, k);
    m.released[n->id]++;
}

static void node_finalize(om_object *self) {
    fnode *n = (fnode *)self;
    FZ_CHECK(n->magic == magic_of(n->id), "finalize of a damaged node %llu", (unsigned long long)n->id);
    m.finalized[n->id]++;
    /* A finalizer runs on a tracked object: one the harness untracked is
     * tracked again, young (as CPython's subtype_dealloc does). */
    if (m.untracked[n->id])
        m.untracked[n->id] = m.frozen[n->id] = 0;
    if (n->resurrect && m.holder[n->id] == NULL)
        m.holder[n->id] = om_newref(self);
}

#define SLOTS                                                                                                          \
    (OM_REF_FIELD(fnode, slot[0]) | OM_REF_FIELD(fnode, slot[1]) | OM_REF_FIELD(fnode, slot[2]) |                     \
     OM_REF_FIELD(fnode, slot[3]))
#define NODE(nm, ...)                                                                                                  \
    {OM_TYPE_INIT, .name = nm, .size = sizeof(fnode), .flags = OM_TYPE_GC, .release = node_release, __VA_ARGS__}
#define WEAK .weaklist_offset = offsetof(fnode, weaklist)

static om_type types[] = {
    NODE("fz_plain", WEAK, .traverse = node_traverse, .clear = node_clear),
    NODE("fz_final", WEAK, .traverse = node_traverse, .clear = node_clear, .finalize = node_finalize),
    NODE("fz_refs", WEAK, .traverse = node_traverse, .clear = node_clear, .refs = node_refs),
    NODE("fz_refs_final", WEAK, .traverse = node_traverse, .clear = node_clear, .refs = node_refs,
         .finalize = node_finalize),
    NODE("fz_declared", WEAK, .ref_fields = SLOTS),
    NODE("fz_declared_noweak", .ref_fields = SLOTS),
    NODE("fz_declared_final", WEAK, .ref_fields = SLOTS, .finalize = node_finalize),
};
#define NTYPES (int)(sizeof types / sizeof types[0])

/* ---- the model --------------------------------------------------------------- */
static int alive(int id) { return id >= 0 && id < m.n && !m.released[id]; }

/* Frozen and untracked nodes are outside the collector's view: for it
 * they are held from outside, as roots are. */
static int kept(int i) { return m.frozen[i] || m.untracked[i]; }

/* m.reach: the nodes reachable from roots, holder and kept nodes. */
static void mark_reachable(void) {
    int sp = 0;
    memset(m.reach, 0, sizeof m.reach);
    for (int r = 0; r < NROOT; r++)
        if (m.root[r] >= 0 && !m.reach[m.root[r]])
            m.reach[m.stack[sp++] = m.root[r]] = 1;
    for (int i = 0; i < m.n; i++)
        if ((m.holder[i] || (alive(i) && kept(i))) && !m.reach[i])
            m.reach[m.stack[sp++] = i] = 1;
    while (sp > 0) {
        int i = m.stack[--sp];
        FZ_CHECK(alive(i), "node %d is reachable but was freed", i);
        for (int k = 0; k < NSLOT; k++) {
            int j = m.edge[i][k];
            if (j >= 0 && !m.reach[j])
                m.reach[m.stack[sp++] = j] = 1;
        }
    }
}

static void check_node(int i) {
    fnode *n = m.ptr[i];
    FZ_CHECK(n->id == (uint64_t)i && n->magic == magic_of((uint64_t)i), "node %d damaged", i);
    intptr_t want = m.holder[i] != NULL;
    for (int r = 0; r < NROOT; r++)
        want += m.root[r] == i;
    for (int j = 0; j < m.n; j++)
        for (int k = 0; k < NSLOT && alive(j); k++)
            want += m.edge[j][k] == i;
    for (int k = 0; k < NSLOT; k++) {
        int j = m.edge[i][k];
        FZ_CHECK(n->slot[k] == (j >= 0 ? &m.ptr[j]->ob : NULL), "node %d slot %d changed (model: %d)", i, k, j);
    }
    FZ_CHECK(n->ob.refcount == want, "node %d has count %ld, the model %ld", i, (long)n->ob.refcount, (long)want);
    FZ_CHECK(om_gc_is_finalized(&n->ob) == (m.finalized[i] != 0), "node %d: om_gc_is_finalized %d, finalize ran %d",
             i, om_gc_is_finalized(&n->ob), m.finalized[i]);
    FZ_CHECK(om_gc_is_tracked(&n->ob) == !m.untracked[i], "node %d: om_gc_is_tracked %d, untracked %d", i,
             om_gc_is_tracked(&n->ob), m.untracked[i]);
}

static void check_weak(int w) {
    int i = m.weakid[w];
    om_object *got = om_weakref_get(m.weak[w]);
    if (got) {
        FZ_CHECK(alive(i) && got == &m.ptr[i]->ob, "weak reference %d gives %p, node %d (alive %d)", w, (void *)got, i,
                 alive(i));
        om_decref(got);
    } else {
        FZ_CHECK(!alive(i) || m.tainted[i], "weak reference %d cleared while node %d lives", w, i);
    }
    if (m.weakcb[w] && m.released[i])
        FZ_CHECK(m.fired[w] == 1, "weak reference %d: callback ran %d times, node %d freed", w, m.fired[w], i);
    FZ_CHECK(m.fired[w] <= 1, "weak reference %d: callback ran %d times", w, m.fired[w]);
}

static void check_all(void) {
    FZ_CHECK(m.bad_callback == 0, "a weak reference callback saw its referent");
    mark_reachable();
    for (int i = 0; i < m.n; i++) {
        FZ_CHECK(m.released[i] <= 1 && m.finalized[i] <= 1, "node %d: released %d times, finalized %d times", i,
                 m.released[i], m.finalized[i]);
        if (alive(i))
            check_node(i);
    }
    for (int w = 0; w < NWEAK; w++)
        if (m.weak[w])
            check_weak(w);
}

static void weak_callback(om_weakref *ref, om_object *data) {
    (void)data;
    om_object *o = om_weakref_get(ref);
    if (o) {
        m.bad_callback++;
        om_decref(o);
    }
    for (int w = 0; w < NWEAK; w++)
        if (m.weak[w] == ref)
            m.fired[w]++;
}

/* ---- operations --------------------------------------------------------------- */
static void set_root(int r, int id) {
    int old = m.root[r];
    m.root[r] = id;
    if (old >= 0)
        om_decref(&m.ptr[old]->ob);
}

static void op_new(fz_input *in) {
    int t = (int)fz_below(in, NTYPES), r = (int)fz_below(in, NROOT), res = fz_byte(in) & 1;
    if (m.n == MAXN)
        return;
    fnode *n = (fnode *)om_new(&types[t]);
    FZ_CHECK(n != NULL, "om_new failed: errno %d", errno);
    int id = m.n++;
    n->id = (uint64_t)id, n->magic = magic_of((uint64_t)id), n->resurrect = res;
    m.ptr[id] = n;
    for (int k = 0; k < NSLOT; k++)
        m.edge[id][k] = -1;
    set_root(r, id);
}

static int pick(fz_input *in) {
    int id = m.n ? (int)fz_below(in, (unsigned)m.n) : -1;
    return alive(id) ? id : -1;
}

static void op_link(fz_input *in) {
    int a = pick(in), k = (int)fz_below(in, NSLOT), b = fz_byte(in) & 1 ? pick(in) : -1;
    if (a < 0)
        return;
    fnode *n = m.ptr[a];
    om_object *old = n->slot[k];
    n->slot[k] = b >= 0 ? om_newref(&m.ptr[b]->ob) : NULL;
    m.edge[a][k] = b;
    om_xdecref(old);
}

static void op_root(fz_input *in) {
    int r = (int)fz_below(in, NROOT), id = fz_byte(in) & 1 ? pick(in) : -1;
    if (id >= 0)
        om_incref(&m.ptr[id]->ob);
    set_root(r, id);
}

static void drop_weak(int w) {
    om_weakref *ref = m.weak[w];
    m.weak[w] = NULL;
    om_decref(ref);
}

static void op_weak(fz_input *in) {
    int w = (int)fz_below(in, NWEAK), id = pick(in), cb = fz_byte(in) & 1;
    if (m.weak[w])
        drop_weak(w);
    if (id < 0)
        return;
    errno = 0;
    om_weakref *ref = om_weakref_new(&m.ptr[id]->ob, cb ? weak_callback : NULL, NULL);
    if (m.ptr[id]->ob.type->weaklist_offset == 0) {
        FZ_CHECK(ref == NULL && errno == EINVAL, "om_weakref_new on a type without weak list: %p, errno %d",
                 (void *)ref, errno);
        return;
    }
    FZ_CHECK(ref != NULL, "om_weakref_new failed: errno %d", errno);
    m.weak[w] = ref, m.weakid[w] = id, m.weakcb[w] = cb, m.fired[w] = 0, m.weakfrozen[w] = 0;
    for (int v = 0; v < NWEAK; v++)
        if (v != w && m.weak[v] == ref)
            m.weakfrozen[w] |= m.weakfrozen[v];
}

/* After a full collection every live node is reachable from roots,
 * holder and kept nodes, or from a kept node that died during it (what
 * that held was released after the collection had looked: the next one
 * finds it).  Dead nodes are followed through the edges they had. */
static void check_full(const unsigned char *was_kept) {
    unsigned char seen[MAXN] = {0};
    int sp = 0;
    for (int r = 0; r < NROOT; r++)
        if (m.root[r] >= 0 && !seen[m.root[r]])
            seen[m.stack[sp++] = m.root[r]] = 1;
    for (int i = 0; i < m.n; i++)
        if ((m.holder[i] || (alive(i) ? kept(i) : was_kept[i])) && !seen[i])
            seen[m.stack[sp++] = i] = 1;
    while (sp > 0) {
        int i = m.stack[--sp];
        for (int k = 0; k < NSLOT; k++) {
            int j = m.edge[i][k];
            if (j >= 0 && !seen[j])
                seen[m.stack[sp++] = j] = 1;
        }
    }
    for (int i = 0; i < m.n; i++)
        FZ_CHECK(!alive(i) || seen[i], "node %d unreachable yet alive after a full collection", i);
}

/* A collection: nodes it leaves alive that were unreachable before may
 * have had their weak references cleared (they were resurrected, or held
 * by what was). */
static void collect(int gen) {
    unsigned char before[MAXN], was_alive[MAXN], was_kept[MAXN];
    long unreachable = 0, freed = 0;
    mark_reachable();
    memcpy(before, m.reach, sizeof before);
    for (int i = 0; i < m.n; i++) {
        unreachable += (was_alive[i] = (unsigned char)alive(i)) && !before[i];
        was_kept[i] = (unsigned char)(alive(i) && kept(i));
    }
    long r = gen < 0 ? om_gc_poll() : om_gc_collect(gen);
    FZ_CHECK(r >= 0, "collection of generation %d returned %ld: errno %d", gen, r, errno);
    for (int i = 0; i < m.n; i++) {
        freed += was_alive[i] && !before[i] && !alive(i);
        if (alive(i) && !before[i])
            m.tainted[i] = 1;
    }
    /* What a collection finds is unreachable from the roots; a full one
     * finds at least the unreachable nodes it frees (a young one may
     * free an older node only garbage held; any, a kept node). */
    FZ_CHECK(r <= unreachable, "generation %d found %ld objects, %ld are unreachable", gen, r, unreachable);
    FZ_CHECK(gen != 2 || freed <= r, "a full collection found %ld objects and freed %ld nodes", r, freed);
    if (gen == 2)
        check_full(was_kept);
}

static void op_freeze(fz_input *in) {
    size_t want = 0;
    if (fz_byte(in) & 1) {
        om_gc_unfreeze();
        memset(m.frozen, 0, sizeof m.frozen);
        memset(m.weakfrozen, 0, sizeof m.weakfrozen);
    } else {
        om_gc_freeze();
        for (int i = 0; i < m.n; i++)
            m.frozen[i] |= alive(i) && !m.untracked[i];
        for (int w = 0; w < NWEAK; w++)
            m.weakfrozen[w] = m.weak[w] && om_gc_is_tracked((om_object *)m.weak[w]);
    }
    for (int i = 0; i < m.n; i++)
        want += alive(i) && m.frozen[i] && !m.untracked[i];
    for (int w = 0; w < NWEAK; w++) { /* each weak reference once: callback-less ones are shared */
        int first = 1;
        for (int v = 0; v < w && first; v++)
            first = m.weak[v] != m.weak[w] || !m.weakfrozen[v];
        want += m.weak[w] && m.weakfrozen[w] && first;
    }
    FZ_CHECK(om_gc_get_freeze_count() == want, "om_gc_get_freeze_count %zu, frozen nodes %zu",
             om_gc_get_freeze_count(), want);
}

/* om_gc_track puts a node back among the young (not frozen). */
static void op_track(fz_input *in) {
    int id = pick(in), untrack = fz_byte(in) & 1;
    if (id < 0)
        return;
    om_object *o = &m.ptr[id]->ob;
    int rc = untrack ? om_gc_untrack(o) : om_gc_track(o);
    FZ_CHECK(rc == 0, "om_gc_%strack(node %d) returned %d", untrack ? "un" : "", id, rc);
    if (!untrack && m.untracked[id])
        m.frozen[id] = 0;
    m.untracked[id] = (unsigned char)untrack;
}

static void op_unhold(fz_input *in) {
    int id = pick(in);
    if (id >= 0 && m.holder[id]) {
        om_object *o = m.holder[id];
        m.holder[id] = NULL;
        om_decref(o);
    }
}

static void finish(void) {
    om_gc_unfreeze();
    for (int i = 0; i < m.n; i++)
        if (alive(i) && m.untracked[i])
            FZ_CHECK(om_gc_track(&m.ptr[i]->ob) == 0, "om_gc_track(node %d) at the end", i);
    memset(m.frozen, 0, sizeof m.frozen);
    memset(m.untracked, 0, sizeof m.untracked);
    for (int w = 0; w < NWEAK; w++)
        if (m.weak[w])
            drop_weak(w);
    for (int r = 0; r < NROOT; r++)
        set_root(r, -1);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < m.n; i++)
            if (m.holder[i]) {
                om_object *o = m.holder[i];
                m.holder[i] = NULL;
                om_decref(o);
            }
        FZ_CHECK(om_gc_collect(2) >= 0, "the last collection failed");
    }
    for (int i = 0; i < m.n; i++)
        FZ_CHECK(m.released[i] == 1 && m.holder[i] == NULL, "node %d: released %d times at the end", i,
                 m.released[i]);
    FZ_CHECK(m.bad_callback == 0, "a weak reference callback saw its referent");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in = {data, size};
    static int ready;
    if (!ready) {
        om_gc_set_threshold(8, 3, 3); /* so that om_gc_poll collects now and then */
        ready = 1;
    }
    memset(&m, 0, sizeof m);
    for (int r = 0; r < NROOT; r++)
        m.root[r] = -1;
    for (int ops = 0; fz_more(&in) && ops < 3000; ops++) {
        unsigned op = fz_byte(&in) % 12;
        switch (op) {
        case 0: op_new(&in); break;
        case 1:
        case 2: op_link(&in); break;
        case 3: op_root(&in); break;
        case 4: op_weak(&in); break;
        case 5:
            if (m.weak[op = fz_below(&in, NWEAK)])
                drop_weak((int)op);
            break;
        case 6: op_unhold(&in); break;
        case 7: collect(-1); break;
        case 10: op_freeze(&in); break;
        case 11: op_track(&in); break;
        default: collect((int)fz_below(&in, 3));
        }
        check_all();
    }
    finish();
    return 0;
}
