/*
 * test_gc_side.c — the cycle collector's side table (src/gc/side.h, "the side
 * table"), seen from outside.
 *
 * The two passes that follow references keep a byte per object outside
 * the object: a count of references from the set (at most SIDE_CMAX, the
 * rest in the referent's header), then reached / kept / unreachable marks;
 * every byte must be 0 again when a collection ends.  Plain unreachable
 * sets (declared references, no clear, no finalizer, no weak references)
 * are freed by delete_fast without counting down internal references.
 * None of that is visible through the API, so these tests check what it
 * must produce:
 *
 *   overflow      objects referenced 250..100000 times from the set (many
 *                 small referrers, item arrays holding one target many
 *                 times, an object holding itself), garbage, held, held
 *                 only through the popular object; references declared,
 *                 through traverse, through a refs hook; popular OLD and
 *                 FROZEN objects under referrers from the set (their lists
 *                 stay intact); SAVEALL and uncollectable referrers;
 *   geometry      containers in medium arenas and large blocks, mixed with
 *                 small ones, garbage and live;
 *   cleanup       after collections of every kind (young sets pointing into
 *                 a big old heap, big sets, fast and ordinary paths,
 *                 finalizers) the next collections still find exactly
 *                 what a reachability model says (stale bytes would make
 *                 objects look referenced, reached, or unreachable); the
 *                 model also checks every survivor's reference count and
 *                 the generation sizes after every collection;
 *   delete_fast   references leaving the set dropped exactly once (non-GC,
 *                 live containers, untracked and old objects only the
 *                 garbage holds, static immortal objects), release hooks
 *                 once per object with their fields already NULL, free
 *                 lists, sets that need the ordinary path (clear hook,
 *                 finalizer, weak reference), outside objects whose
 *                 finalizers allocate while the set is being freed;
 *   resurrection  finalizers that resurrect a popular object (the re-check
 *                 counts past SIDE_CMAX too);
 *   immutable     tuples of atomic objects untracked inside the set,
 *                 popular ones, garbage ones, nested ones.
 *
 * test_large_descriptor_reused_during_delete_fast and
 * test_arena_descriptor_reused_during_delete_fast are regression tests for
 * two bugs found while writing these (see their comments): a descriptor
 * released and taken again while delete_fast ran lost its place on the
 * collector's cleanup list (omi_large_alloc cleared it) or had only part of
 * its table zeroed (taken by an arena of the other geometry).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "objmem.h"
#include "testutil.h"

/* om_gc_collect(gen) must return want; the message says which case. */
#define CHECK_COLLECT(gen, want, fmt, ...)                                                   \
    do {                                                                                     \
        long got_ = om_gc_collect(gen), want_ = (long)(want);                               \
        CHECK_MSG(got_ == want_, "om_gc_collect(%d) = %ld, expected %ld: " fmt, (int)(gen), \
                  got_, want_, __VA_ARGS__);                                                 \
    } while (0)

/* ---- types ---------------------------------------------------------------
 * node: a container with two declared references (the delete_fast kind);
 * cnode adds a clear hook, fnode a finalizer, pnode a free list, wnode a
 * weak-reference list: each of those needs the ordinary path.  vec: a
 * variable-size container of items (OM_TYPE_REF_ITEMS); tup the same,
 * immutable.  leaf: not a container; ofin: not a container, with a
 * finalizer; blob: a variable-size byte buffer. */
typedef struct node {
    om_object ob;
    om_object *a, *b;
    intptr_t id;
} node;

typedef struct wnode {
    om_object ob;
    om_object *a, *b; /* where node has them: A() and B() work on both */
    intptr_t id;
    om_weakref *weaklist;
} wnode;

typedef struct vec {
    om_varobject ob;
    intptr_t id;
} vec; /* items follow */

typedef struct leaf {
    om_object ob;
    intptr_t id;
} leaf;

#define A(o) (((node *)(o))->a)
#define B(o) (((node *)(o))->b)
#define NODE_REFS (OM_REF_FIELD(node, a) | OM_REF_FIELD(node, b))

enum { T_NODE, T_CNODE, T_FNODE, T_PNODE, T_WNODE, T_TNODE, T_RNODE, T_UNODE, T_VEC, T_TUP, T_LEAF, T_OFIN, T_BLOB, T_COUNT };

#define MAXID 100008
static long freed_n[T_COUNT];  /* release calls per type */
static int freed_id[MAXID];    /* release calls per id (id 0: not followed) */
static long saw_ref;           /* release hooks that found a reference still set */
static long clear_calls, fin_calls;
static void (*fin_hook)(om_object *self);  /* what fnode's and ofin's finalizers do */
static void (*release_hook)(om_object *self); /* what node's release does besides counting */

static om_object **items_of(om_object *v) { return (om_object **)((char *)v + sizeof(vec)); }

static void note(int kind, intptr_t id)
{
    freed_n[kind]++;
    if (id > 0 && id < MAXID)
        freed_id[id]++;
}

static void node_check_fields(om_object *o)
{
    if (A(o) || B(o))
        saw_ref++;
}

static void node_release(om_object *o)
{
    node_check_fields(o);
    note(T_NODE, ((node *)o)->id);
    if (release_hook)
        release_hook(o);
}

static void cnode_clear(om_object *o)
{
    clear_calls++;
    om_clear_ref(&A(o));
    om_clear_ref(&B(o));
}

static void cnode_release(om_object *o)
{
    node_check_fields(o);
    note(T_CNODE, ((node *)o)->id);
}

static void fnode_finalize(om_object *o)
{
    fin_calls++;
    if (fin_hook)
        fin_hook(o);
}

static void fnode_release(om_object *o)
{
    node_check_fields(o);
    note(T_FNODE, ((node *)o)->id);
}

static void pnode_release(om_object *o)
{
    node_check_fields(o);
    note(T_PNODE, ((node *)o)->id);
}

static void wnode_release(om_object *o)
{
    node_check_fields(o);
    note(T_WNODE, ((wnode *)o)->id);
}

/* traverse and clear hooks (no declared references): the collector calls
 * them per reference (visit_count, visit_reachable, visit_clean) */
static int node_traverse(om_object *o, om_visit_fn visit, void *arg)
{
    int r;
    if (A(o) && (r = visit(A(o), arg)) != 0)
        return r;
    return B(o) ? visit(B(o), arg) : 0;
}

static void node_clear(om_object *o)
{
    clear_calls++;
    om_clear_ref(&A(o));
    om_clear_ref(&B(o));
}

static om_refs node_refs(om_object *o) { return (om_refs){&A(o), 2}; }

static void tnode_release(om_object *o)
{
    node_check_fields(o);
    note(T_TNODE, ((node *)o)->id);
}

static void rnode_release(om_object *o)
{
    node_check_fields(o);
    note(T_RNODE, ((node *)o)->id);
}

static void unode_release(om_object *o) { note(T_UNODE, ((node *)o)->id); }

static void items_check(om_object *o)
{
    om_object **it = items_of(o);
    for (intptr_t i = 0; i < ((om_varobject *)o)->nitems; i++)
        if (it[i]) {
            saw_ref++;
            return;
        }
}

static void vec_release(om_object *o)
{
    items_check(o);
    note(T_VEC, ((vec *)o)->id);
}

static void tup_release(om_object *o)
{
    items_check(o);
    note(T_TUP, ((vec *)o)->id);
}

static void leaf_release(om_object *o) { note(T_LEAF, ((leaf *)o)->id); }
static void ofin_release(om_object *o) { note(T_OFIN, ((leaf *)o)->id); }
static void blob_release(om_object *o) { (void)o; note(T_BLOB, 0); }

static om_type node_type = {.name = "side-node", .size = sizeof(node), .flags = OM_TYPE_GC,
                            .ref_fields = NODE_REFS, .release = node_release};
static om_type cnode_type = {.name = "side-cnode", .size = sizeof(node), .flags = OM_TYPE_GC,
                             .ref_fields = NODE_REFS, .clear = cnode_clear, .release = cnode_release};
static om_type fnode_type = {.name = "side-fnode", .size = sizeof(node), .flags = OM_TYPE_GC,
                             .ref_fields = NODE_REFS, .finalize = fnode_finalize, .release = fnode_release};
static om_type pnode_type = {.name = "side-pnode", .size = sizeof(node), .flags = OM_TYPE_GC,
                             .ref_fields = NODE_REFS, .release = pnode_release, .freelist_limit = 16};
static om_type wnode_type = {.name = "side-wnode", .size = sizeof(wnode), .flags = OM_TYPE_GC,
                             .weaklist_offset = offsetof(wnode, weaklist),
                             .ref_fields = OM_REF_FIELD(wnode, a) | OM_REF_FIELD(wnode, b),
                             .release = wnode_release};
static om_type tnode_type = {.name = "side-tnode", .size = sizeof(node), .flags = OM_TYPE_GC,
                             .traverse = node_traverse, .clear = node_clear, .release = tnode_release};
static om_type rnode_type = {.name = "side-rnode", .size = sizeof(node), .flags = OM_TYPE_GC,
                             .traverse = node_traverse, .refs = node_refs, .clear = node_clear,
                             .release = rnode_release};
/* no clear: uncollectable */
static om_type unode_type = {.name = "side-unode", .size = sizeof(node), .flags = OM_TYPE_GC,
                             .traverse = node_traverse, .release = unode_release};
static om_type vec_type = {.name = "side-vec", .size = sizeof(vec), .item_size = sizeof(om_object *),
                           .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS, .release = vec_release};
static om_type tup_type = {.name = "side-tup", .size = sizeof(vec), .item_size = sizeof(om_object *),
                           .flags = OM_TYPE_GC | OM_TYPE_GC_IMMUTABLE | OM_TYPE_REF_ITEMS,
                           .release = tup_release};
static om_type leaf_type = {.name = "side-leaf", .size = sizeof(leaf), .release = leaf_release};
static om_type ofin_type = {.name = "side-ofin", .size = sizeof(leaf), .finalize = fnode_finalize,
                            .release = ofin_release};
static om_type blob_type = {.name = "side-blob", .size = sizeof(om_varobject), .item_size = 1,
                            .release = blob_release};

/* Static, hence immortal, objects: no side byte, no header. */
static leaf imm_leaf = {OM_STATIC_OBJECT_INIT(&leaf_type), 0};
static node imm_node = {OM_STATIC_OBJECT_INIT(&node_type), NULL, NULL, 0};

static om_object *new_node(om_type *t, intptr_t id)
{
    om_object *o = om_new(t);
    NEED(o != NULL);
    ((node *)o)->id = id;
    return o;
}

static om_object *new_vec(om_type *t, size_t n, intptr_t id)
{
    om_object *o = om_new_var(t, n);
    NEED(o != NULL);
    ((vec *)o)->id = id;
    return o;
}

static om_object *new_leaf(om_type *t, intptr_t id)
{
    om_object *o = om_new(t);
    NEED(o != NULL);
    ((leaf *)o)->id = id;
    return o;
}

/* slot must be empty; it takes a new reference to target */
static void set_ref(om_object **slot, om_object *target)
{
    NEED(*slot == NULL);
    *slot = om_newref(target);
}

static void reset_counts(void)
{
    memset(freed_n, 0, sizeof freed_n);
    memset(freed_id, 0, sizeof freed_id);
    saw_ref = clear_calls = fin_calls = 0;
    fin_hook = NULL;
    release_hook = NULL;
}

/* A clean start: nothing collectable left, the counters at 0. */
static void fresh(void)
{
    om_gc_collect(2);
    reset_counts();
}

static long total_freed(void)
{
    long n = 0;
    for (int i = 0; i < T_COUNT; i++)
        n += freed_n[i];
    return n;
}

typedef struct finder {
    om_object *target;
    size_t n;
    int found;
} finder;

static int visit_find(om_object *o, void *arg)
{
    finder *f = arg;
    f->n++;
    if (o == f->target)
        f->found = 1;
    return 0;
}

/* Is o on generation gen's list?  (Walks the whole list: a damaged list
 * shows here, or as a count that differs from om_gc_count_objects.) */
static int in_generation(om_object *o, int gen)
{
    finder f = {o, 0, 0};
    om_gc_get_objects(gen, visit_find, &f);
    return f.found && f.n == om_gc_count_objects(gen);
}

static size_t referrers_of(om_object *o)
{
    finder f = {NULL, 0, 0};
    om_gc_get_referrers(o, visit_find, &f);
    return f.n;
}

static int block_kind(const void *p)
{
    om_block_info bi;
    return om_block_describe(p, &bi) == 0 ? (int)bi.kind : -1;
}

/* Reference counts around a side byte's limit (SIDE_CMAX = 251 counted in
 * the byte, the rest in the header, 252 at a time), and far beyond. */
static const size_t ovf_counts[] = {250, 251, 252, 253, 254, 255, 256, 503, 504, 505, 756, 100000};
#define NOVF (sizeof ovf_counts / sizeof ovf_counts[0])
static size_t ovf_n(size_t i)
{
    size_t n = ovf_counts[i];
    return n > 1000 ? (size_t)OM_TEST_SCALE(n) : n;
}

/* ---- 1. count overflow ---------------------------------------------------- */
enum { HOLD_NONE, HOLD_ALL, HOLD_POPULAR, HOLD_FIRST };
static const char *const hold_name[] = {"garbage", "all held", "popular held", "first held"};

/* A star: n nodes N_i, each in its own cycle (N_i.b = N_i) and pointing
 * at the popular node T (N_i.a = T); T points back at N_0 only.  T is
 * created before or after the nodes (the scan meets it first or last). */
static void star_of(om_type *nt, size_t n, int popular_last, int hold)
{
    fresh();
    om_object **nd = malloc(n * sizeof *nd);
    NEED(nd != NULL);
    om_object *t = popular_last ? NULL : new_node(nt, 0);
    for (size_t i = 0; i < n; i++) {
        nd[i] = new_node(nt, 0);
        set_ref(&B(nd[i]), nd[i]);
    }
    if (popular_last)
        t = new_node(nt, 0);
    for (size_t i = 0; i < n; i++)
        set_ref(&A(nd[i]), t);
    set_ref(&A(t), nd[0]);
    CHECK_EQ(t->refcount, n + 1);

    for (size_t i = 1; i < n; i++)
        if (hold != HOLD_ALL)
            om_decref(nd[i]);
    if (hold != HOLD_ALL && hold != HOLD_FIRST)
        om_decref(nd[0]);
    if (hold != HOLD_POPULAR)
        om_decref(t);
    /* garbage: everything; all held: nothing; popular or first held: the
     * other n - 1 nodes (T and N_0 reach each other) */
    long want = hold == HOLD_NONE ? (long)n + 1 : hold == HOLD_ALL ? 0 : (long)n - 1;
    CHECK_COLLECT(2, want, "%s star n=%zu, popular %s, %s", nt->name, n, popular_last ? "last" : "first",
                  hold_name[hold]);
    CHECK_EQ(total_freed(), want);
    if (hold == HOLD_ALL) {
        CHECK_EQ(t->refcount, n);
        CHECK_EQ(nd[0]->refcount, 3);
        CHECK_EQ(nd[n - 1]->refcount, 2);
    } else if (hold == HOLD_POPULAR) {
        CHECK_EQ(t->refcount, 2);
        CHECK_EQ(nd[0]->refcount, 2);
        CHECK(in_generation(t, 2));
    } else if (hold == HOLD_FIRST) {
        CHECK_EQ(t->refcount, 1);
        CHECK_EQ(nd[0]->refcount, 3);
        CHECK(in_generation(nd[0], 2));
    }
    /* again: nothing new (a stale byte would count or mark something) */
    CHECK_COLLECT(2, 0, "star n=%zu again", n);

    if (hold == HOLD_ALL)
        for (size_t i = 0; i < n; i++)
            om_decref(nd[i]);
    else if (hold == HOLD_POPULAR)
        om_decref(t);
    else if (hold == HOLD_FIRST)
        om_decref(nd[0]);
    CHECK_COLLECT(2, (long)n + 1 - want, "star n=%zu, the rest", n);
    CHECK_EQ(total_freed(), n + 1);
    CHECK_EQ(saw_ref, 0);
    free(nd);
}

static void star(size_t n, int popular_last, int hold) { star_of(&node_type, n, popular_last, hold); }

static void test_overflow_many_referrers(void)
{
    for (size_t i = 0; i < NOVF; i++)
        for (int last = 0; last < 2; last++)
            for (int hold = HOLD_NONE; hold <= HOLD_FIRST; hold++)
                star(ovf_n(i), last, hold);
}

/* The same through the other forms of references: a traverse hook (a
 * call per reference) and a refs hook (an array), both with clear (the
 * ordinary path); a finalizer (the re-check); a clear hook on declared
 * references. */
static void test_overflow_hook_forms(void)
{
    om_type *forms[] = {&tnode_type, &rnode_type, &fnode_type, &cnode_type};
    static const size_t counts[] = {250, 251, 252, 253, 504, 505, 3000};
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++)
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
            for (int last = 0; last < 2; last++)
                for (int hold = HOLD_NONE; hold <= HOLD_FIRST; hold++)
                    star_of(forms[f], counts[i], last, hold);
}

/* Frozen objects (the permanent generation, tag 3) are outside even a
 * full collection: a popular one's byte counts and wraps, its header and
 * the permanent list stay as they are; after om_gc_unfreeze it is an
 * ordinary old object again, with nothing left over. */
static void test_overflow_frozen_popular(void)
{
    fresh();
    om_object *p = new_node(&node_type, 0);
    set_ref(&B(p), p);
    om_gc_freeze();
    size_t frozen = om_gc_get_freeze_count();
    REQUIRE(frozen >= 1);
    static const size_t counts[] = {251, 252, 253, 504, 100000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c] > 1000 ? (size_t)OM_TEST_SCALE(counts[c]) : counts[c];
        for (int held = 0; held < 2; held++) {
            om_object **y = malloc(n * sizeof *y);
            NEED(y != NULL);
            for (size_t i = 0; i < n; i++) {
                y[i] = new_node(&node_type, 0);
                set_ref(&A(y[i]), p);
                set_ref(&B(y[i]), y[i]);
                if (!held)
                    om_decref(y[i]);
            }
            CHECK_COLLECT(2, held ? 0 : n, "frozen popular, %zu referrers %s", n, held ? "held" : "garbage");
            CHECK_EQ(p->refcount, 2 + (held ? n : 0));
            CHECK_EQ(om_gc_get_freeze_count(), frozen);
            if (held) {
                for (size_t i = 0; i < n; i++)
                    om_decref(y[i]);
                CHECK_COLLECT(2, n, "frozen popular, %zu referrers dropped", n);
            }
            free(y);
        }
    }
    om_gc_unfreeze();
    CHECK(in_generation(p, 2));
    CHECK_COLLECT(2, 0, "%s", "unfrozen, held");
    CHECK_COLLECT(0, 0, "%s", "unfrozen, held, young");
    CHECK_EQ(p->refcount, 2);
    om_decref(p);
    CHECK_COLLECT(2, 1, "%s", "unfrozen, dropped");
}

/* SAVEALL (everything found goes to the garbage list: the side-table
 * cleanup of the ordinary path) and uncollectable referrers (no clear:
 * they go to the garbage list, the popular object they reach stays); back in
 * generation 2 after om_gc_garbage_clear, found again exactly. */
static void test_overflow_saveall_uncollectable(void)
{
    static const size_t counts[] = {251, 252, 253, 600};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c];
        fresh();
        om_gc_set_debug(OM_GC_DEBUG_SAVEALL);
        om_object *t = new_node(&node_type, 0);
        set_ref(&A(t), t);
        for (size_t i = 0; i < n; i++) {
            om_object *y = new_node(&node_type, 0);
            set_ref(&A(y), t);
            set_ref(&B(y), y);
            om_decref(y);
        }
        om_decref(t);
        CHECK_COLLECT(0, n + 1, "saveall, %zu referrers", n);
        CHECK_EQ(om_gc_garbage_count(), n + 1);
        CHECK_EQ(t->refcount, n + 2);
        CHECK_COLLECT(2, 0, "saveall, %zu referrers, again", n);
        om_gc_set_debug(0);
        CHECK_EQ(om_gc_garbage_clear(), n + 1);
        CHECK_COLLECT(2, n + 1, "saveall cleared, %zu referrers", n);
        CHECK_EQ(total_freed(), n + 1);

        /* uncollectable referrers */
        reset_counts();
        om_object **u = malloc(n * sizeof *u);
        NEED(u != NULL);
        t = new_node(&node_type, 0);
        for (size_t i = 0; i < n; i++) {
            u[i] = new_node(&unode_type, 0);
            set_ref(&A(u[i]), t);
            set_ref(&B(u[i]), u[i]);
            om_decref(u[i]);
        }
        set_ref(&A(t), u[0]);
        om_decref(t);
        CHECK_COLLECT(2, n + 1, "uncollectable, %zu referrers", n);
        CHECK_EQ(om_gc_garbage_count(), n); /* not t: the collector can clear it */
        CHECK_EQ(t->refcount, n);
        CHECK_EQ(total_freed(), 0);
        CHECK_EQ(om_gc_garbage_clear(), n);
        CHECK_COLLECT(2, n + 1, "uncollectable, %zu referrers, again", n);
        CHECK_EQ(om_gc_garbage_clear(), n);
        /* by hand (they have no clear): drop their references to t (t
         * dies, dropping u[0]), then their own cycles */
        for (size_t i = 0; i < n; i++)
            om_clear_ref(&A(u[i]));
        CHECK_EQ(freed_n[T_NODE], 1);
        for (size_t i = 0; i < n; i++)
            om_clear_ref(&B(u[i]));
        CHECK_EQ(total_freed(), n + 1);
        CHECK_COLLECT(2, 0, "%s", "uncollectable, all freed");
        free(u);
    }
}

/* One vec holding the same target n times, in a cycle with it (T.a = V). */
static void items_same_target(size_t n, int hold)
{
    fresh();
    om_object *t = new_node(&node_type, 0), *v = new_vec(&vec_type, n, 0);
    for (size_t i = 0; i < n; i++)
        items_of(v)[i] = om_newref(t);
    set_ref(&A(t), v);
    if (hold != HOLD_ALL)
        om_decref(v);
    if (hold != HOLD_POPULAR)
        om_decref(t);
    long want = hold == HOLD_NONE ? 2 : 0;
    CHECK_COLLECT(2, want, "items n=%zu, %s", n, hold == HOLD_ALL ? "vec held" : hold_name[hold]);
    if (hold != HOLD_NONE) {
        CHECK_EQ(t->refcount, n + (hold == HOLD_POPULAR));
        CHECK_EQ(v->refcount, 1 + (hold == HOLD_ALL));
        CHECK_COLLECT(2, 0, "items n=%zu again", n);
        om_decref(hold == HOLD_ALL ? v : t);
        CHECK_COLLECT(2, 2, "items n=%zu, the rest", n);
    }
    CHECK_EQ(freed_n[T_NODE], 1);
    CHECK_EQ(freed_n[T_VEC], 1);
    CHECK_EQ(saw_ref, 0);
}

/* Three vecs share the target: the byte overflows across referrers. */
static void items_split(size_t n0, size_t n1, size_t n2, int hold_target)
{
    fresh();
    size_t n[3] = {n0, n1, n2};
    om_object *t = new_node(&node_type, 0), *v[3];
    for (int k = 0; k < 3; k++) {
        v[k] = new_vec(&vec_type, n[k] + 1, 0);
        for (size_t i = 0; i < n[k]; i++)
            items_of(v[k])[i] = om_newref(t);
    }
    set_ref(&A(t), v[0]);
    set_ref(&items_of(v[0])[n0], v[1]);
    set_ref(&items_of(v[1])[n1], v[2]);
    for (int k = 0; k < 3; k++)
        om_decref(v[k]);
    if (!hold_target)
        om_decref(t);
    CHECK_COLLECT(2, hold_target ? 0 : 4, "split %zu+%zu+%zu, target %s", n0, n1, n2,
                  hold_target ? "held" : "garbage");
    if (hold_target) {
        CHECK_EQ(t->refcount, n0 + n1 + n2 + 1);
        om_decref(t);
        CHECK_COLLECT(2, 4, "split %zu+%zu+%zu, the rest", n0, n1, n2);
    }
    CHECK_EQ(freed_n[T_VEC], 3);
    CHECK_EQ(freed_n[T_NODE], 1);
}

/* A non-container referenced n - 1 times by a garbage vec (its byte just
 * wraps: nobody reads it). */
static void items_leaf_target(size_t n, int hold_leaf)
{
    fresh();
    om_object *lf = new_leaf(&leaf_type, 0), *v = new_vec(&vec_type, n, 0);
    set_ref(&items_of(v)[0], v);
    for (size_t i = 1; i < n; i++)
        items_of(v)[i] = om_newref(lf);
    om_decref(v);
    if (!hold_leaf)
        om_decref(lf);
    CHECK_COLLECT(2, 1, "leaf target n=%zu", n);
    CHECK_EQ(freed_n[T_LEAF], hold_leaf ? 0 : 1);
    if (hold_leaf) {
        CHECK_EQ(lf->refcount, 1);
        om_decref(lf);
        CHECK_EQ(freed_n[T_LEAF], 1);
    }
}

static void test_overflow_items(void)
{
    for (size_t i = 0; i < NOVF; i++) {
        items_same_target(ovf_n(i), HOLD_NONE);
        items_same_target(ovf_n(i), HOLD_ALL);
        items_same_target(ovf_n(i), HOLD_POPULAR);
        items_leaf_target(ovf_n(i), 0);
        items_leaf_target(ovf_n(i), 1);
    }
    static const size_t splits[][3] = {{84, 84, 84}, {84, 84, 83}, {84, 84, 85}, {250, 1, 1},
                                       {251, 1, 0}, {1, 251, 1}, {200, 200, 104}, {300, 300, 300}};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        for (int h = 0; h < 2; h++)
            items_split(splits[i][0], splits[i][1], splits[i][2], h);
}

/* A vec whose every item is itself: count n from the set, refcount n (+1). */
static void test_overflow_self_items(void)
{
    for (size_t i = 0; i < NOVF; i++) {
        size_t n = ovf_n(i);
        for (int held = 0; held < 2; held++) {
            fresh();
            om_object *v = new_vec(&vec_type, n, 0);
            for (size_t k = 0; k < n; k++)
                items_of(v)[k] = om_newref(v);
            if (!held)
                om_decref(v);
            CHECK_COLLECT(2, held ? 0 : 1, "self items n=%zu %s", n, held ? "held" : "garbage");
            if (held) {
                CHECK_EQ(v->refcount, n + 1);
                CHECK_COLLECT(0, 0, "self items n=%zu, young", n);
                CHECK_COLLECT(2, 0, "self items n=%zu again", n);
                om_decref(v);
                CHECK_COLLECT(2, 1, "self items n=%zu, dropped", n);
            }
            CHECK_EQ(freed_n[T_VEC], 1);
        }
    }
}

/* A popular OLD object under young referrers: outside the young set, its
 * byte counts and wraps but its header and its list are not touched. */
static void test_overflow_old_popular(void)
{
    fresh();
    om_object *p = new_node(&node_type, 0);
    /* old companions: a ring of 100 that only p holds */
    om_object *first = new_node(&node_type, 0), *cur = first;
    for (int i = 1; i < 100; i++) {
        om_object *n = new_node(&node_type, 0);
        A(cur) = n; /* takes n's reference */
        cur = n;
    }
    set_ref(&A(cur), first);
    B(p) = first; /* takes ours */
    CHECK_COLLECT(2, 0, "%s", "old setup");
    REQUIRE(in_generation(p, 2));
    size_t old2 = om_gc_count_objects(2), old1 = om_gc_count_objects(1);
    static const size_t counts[] = {251, 252, 253, 504, 505, 100000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c] > 1000 ? (size_t)OM_TEST_SCALE(counts[c]) : counts[c];
        om_object **nd = malloc(n * sizeof *nd);
        NEED(nd != NULL);
        /* all young referrers garbage */
        for (size_t i = 0; i < n; i++) {
            nd[i] = new_node(&node_type, 0);
            set_ref(&A(nd[i]), p);
            set_ref(&B(nd[i]), nd[i]);
            om_decref(nd[i]);
        }
        CHECK_EQ(p->refcount, n + 1);
        CHECK_COLLECT(0, n, "old popular, %zu young garbage referrers", n);
        CHECK_EQ(p->refcount, 1);
        CHECK_EQ(om_gc_count_objects(0), 0);
        CHECK_EQ(om_gc_count_objects(1), old1);
        CHECK_EQ(om_gc_count_objects(2), old2);
        CHECK(in_generation(p, 2));
        CHECK(in_generation(first, 2));
        /* half of them held: they move to generation 1 */
        size_t held = 0;
        for (size_t i = 0; i < n; i++) {
            nd[i] = new_node(&node_type, 0);
            set_ref(&A(nd[i]), p);
            set_ref(&B(nd[i]), nd[i]);
            if (i & 1) {
                om_decref(nd[i]);
                nd[i] = NULL;
            } else {
                held++;
            }
        }
        CHECK_COLLECT(0, n - held, "old popular, %zu young referrers, %zu held", n, held);
        CHECK_EQ(p->refcount, 1 + held);
        CHECK_EQ(om_gc_count_objects(1), old1 + held);
        CHECK_EQ(om_gc_count_objects(2), old2);
        CHECK_EQ(referrers_of(p), held);
        CHECK(in_generation(p, 2));
        CHECK(in_generation(nd[0], 1));
        for (size_t i = 0; i < n; i++)
            if (nd[i])
                om_decref(nd[i]);
        CHECK_COLLECT(1, held, "old popular, %zu held referrers dropped", held);
        CHECK_EQ(p->refcount, 1);
        CHECK_EQ(om_gc_count_objects(1), old1);
        CHECK_EQ(om_gc_count_objects(2), old2);
        CHECK(in_generation(p, 2));
        free(nd);
    }
    /* a young vec holding p 100000 times */
    size_t n = (size_t)OM_TEST_SCALE(100000);
    om_object *v = new_vec(&vec_type, n, 0);
    set_ref(&items_of(v)[0], v);
    for (size_t i = 1; i < n; i++)
        items_of(v)[i] = om_newref(p);
    om_decref(v);
    CHECK_COLLECT(0, 1, "%s", "young vec holding an old object");
    CHECK_EQ(p->refcount, 1);
    CHECK_EQ(om_gc_count_objects(2), old2);
    CHECK(in_generation(p, 2));

    /* a popular object of generation 1: outside a young collection, inside
     * a collection of generation 1 (its header then takes the overflow) */
    om_object *q = new_node(&node_type, 0);
    CHECK_COLLECT(0, 0, "%s", "q to generation 1");
    REQUIRE(in_generation(q, 1));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 300; i++) {
            om_object *y = new_node(&node_type, 0);
            set_ref(&A(y), q);
            set_ref(&B(y), y);
            om_decref(y);
        }
        if (round == 0) {
            CHECK_COLLECT(0, 300, "%s", "generation-1 popular, young collection");
            CHECK_EQ(q->refcount, 1);
            CHECK(in_generation(q, 1));
        } else {
            om_decref(q); /* only the garbage holds it now */
            CHECK_COLLECT(1, 301, "%s", "generation-1 popular, collection of 1");
        }
    }
    CHECK_EQ(om_gc_count_objects(2), old2);
    om_decref(p); /* freed now (nothing refers to it); the ring it held is garbage */
    CHECK_COLLECT(2, 100, "%s", "old popular dropped");
    CHECK_EQ(saw_ref, 0);
    CHECK_EQ(om_heap_check(1), 0);
}

/* ---- 2. medium and large containers ----------------------------------- */
static void test_medium_large_containers(void)
{
    fresh();
    om_object *s = new_node(&node_type, 0), *m = new_vec(&vec_type, 100, 0), *l = new_vec(&vec_type, 20000, 0);
    REQUIRE(block_kind(s) == OM_BLOCK_SMALL);
    REQUIRE(block_kind(m) == OM_BLOCK_MEDIUM);
    REQUIRE(block_kind(l) == OM_BLOCK_LARGE);
    om_decref(s);
    om_decref(m);
    om_decref(l);

    /* a cycle small -> medium -> large -> small, with the large one also
     * holding the other two many times; garbage, then held at each member */
    for (int hold = -1; hold < 3; hold++) {
        s = new_node(&node_type, 0);
        m = new_vec(&vec_type, 100, 0);
        l = new_vec(&vec_type, 20000, 0);
        set_ref(&A(s), m);
        set_ref(&items_of(m)[0], l);
        set_ref(&items_of(m)[99], s);
        for (int i = 0; i < 20000; i += 3)
            set_ref(&items_of(l)[i], i % 2 ? m : s);
        om_object *all[3] = {s, m, l};
        for (int k = 0; k < 3; k++)
            if (k != hold)
                om_decref(all[k]);
        CHECK_COLLECT(2, hold < 0 ? 3 : 0, "small/medium/large cycle, held %d", hold);
        if (hold >= 0) {
            CHECK_EQ(s->refcount, 1 + 3334 + (hold == 0));
            CHECK_EQ(m->refcount, 1 + 3333 + (hold == 1));
            CHECK_EQ(l->refcount, 1 + (hold == 2));
            CHECK_COLLECT(0, 0, "%s", "young, nothing");
            om_decref(all[hold]);
            CHECK_COLLECT(2, 3, "small/medium/large cycle, %d dropped", hold);
        }
    }
    CHECK_EQ(freed_n[T_NODE], 5);
    CHECK_EQ(freed_n[T_VEC], 10);

    /* a ring of 40 medium vecs (neighbours in one medium pool), each in a
     * cycle with a small partner; held at M_10, then the ring broken */
    om_object *mv[40], *sp[40];
    for (int i = 0; i < 40; i++) {
        mv[i] = new_vec(&vec_type, 100, 0);
        sp[i] = new_node(&node_type, 0);
        set_ref(&items_of(mv[i])[1], sp[i]);
        set_ref(&A(sp[i]), mv[i]);
    }
    for (int i = 0; i < 40; i++)
        set_ref(&items_of(mv[i])[0], mv[(i + 1) % 40]);
    for (int i = 0; i < 40; i++) {
        if (i != 10)
            om_decref(mv[i]);
        om_decref(sp[i]);
    }
    reset_counts();
    CHECK_COLLECT(2, 0, "%s", "medium ring held");
    om_clear_ref(&items_of(mv[20])[0]);
    /* reachable from M_10: M_10..M_20 and their partners; the other 29 pairs are garbage */
    CHECK_COLLECT(2, 58, "%s", "medium ring broken");
    CHECK_EQ(freed_n[T_VEC], 29);
    CHECK_EQ(freed_n[T_NODE], 29);
    CHECK_EQ(mv[10]->refcount, 2); /* the test, its partner */
    CHECK_EQ(mv[11]->refcount, 2);
    om_decref(mv[10]);
    CHECK_COLLECT(2, 22, "%s", "medium ring dropped");

    /* large blocks: 4 big vecs holding small nodes (some also held by the
     * test) and each other, in young and full collections */
    reset_counts();
    om_object *big[4], *sm[64];
    for (int i = 0; i < 64; i++) {
        sm[i] = new_node(&node_type, 0);
        set_ref(&B(sm[i]), sm[i]);
    }
    for (int k = 0; k < 4; k++) {
        big[k] = new_vec(&vec_type, 20000 + (size_t)k * 7000, 0);
        REQUIRE(block_kind(big[k]) == OM_BLOCK_LARGE);
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < 40; j++)
                set_ref(&items_of(big[k])[(size_t)i * 41 + (size_t)j], sm[i]);
    }
    for (int k = 0; k < 4; k++)
        set_ref(&items_of(big[k])[19999], big[(k + 1) % 4]);
    for (int i = 0; i < 64; i++)
        set_ref(&A(sm[i]), big[i % 4]);
    om_object *keep = sm[5];
    for (int i = 0; i < 64; i++)
        if (sm[i] != keep)
            om_decref(sm[i]);
    for (int k = 0; k < 4; k++)
        om_decref(big[k]);
    CHECK_COLLECT(0, 0, "%s", "large ring held through a small node, young");
    CHECK_COLLECT(2, 0, "%s", "large ring held through a small node, full");
    CHECK_EQ(sm[6]->refcount, 1 + 4 * 40);
    om_decref(keep);
    CHECK_COLLECT(2, 68, "%s", "large ring dropped");
    CHECK_EQ(freed_n[T_VEC], 4);
    CHECK_EQ(freed_n[T_NODE], 64);
    CHECK_EQ(saw_ref, 0);
}

/* ---- 3. every byte back to 0: targeted ------------------------------------
 * After a young collection (small sets: the bytes are zeroed by walking;
 * big sets: by zeroing the tables) on each deletion path, the next
 * collections must see nothing of it: an old object held only by the test
 * (a stale count would make it unreachable), an old garbage cycle (a stale
 * "reached" would keep it), the young survivors (a stale "kept" counts as
 * 252 references), and new objects in the freed blocks (a stale
 * "unreachable" counts the same). */
enum { PATH_FAST, PATH_CLEAR, PATH_FINAL };
static const char *const path_name[] = {"delete_fast", "clear hook", "finalizer"};

static om_object **oldheap;
static size_t noldheap;

static void side_after_young(uint64_t *rng, om_object *o, int path, size_t m, int keep)
{
    om_type *t = path == PATH_FAST ? &node_type : path == PATH_CLEAR ? &cnode_type : &fnode_type;
    om_object *g = new_node(&node_type, 0);
    set_ref(&B(g), g);
    CHECK_COLLECT(2, 0, "%s", "g old");
    reset_counts();
    om_object **y = malloc(m * sizeof *y);
    NEED(y != NULL);
    size_t o_refs = 0, g_refs = 0;
    for (size_t i = 0; i < m; i++)
        y[i] = new_node(t, 0);
    for (size_t i = 0; i < m; i++) {
        om_object *target;
        if (i % 3 == 0) {
            target = o;
            o_refs++;
        } else if (i % 3 == 1) {
            target = g;
            g_refs++;
        } else {
            target = oldheap[tu_range(rng, 0, noldheap - 1)];
        }
        set_ref(&A(y[i]), target);
        set_ref(&B(y[i]), y[i ^ 1]); /* pairs: 2-cycles */
    }
    if (!keep)
        for (size_t i = 0; i < m; i++)
            om_decref(y[i]);
    CHECK_COLLECT(0, keep ? 0 : m, "%s, %zu young, %s", path_name[path], m, keep ? "kept" : "garbage");
    CHECK_EQ(o->refcount, 1 + (keep ? o_refs : 0));
    CHECK_EQ(g->refcount, 2 + (keep ? g_refs : 0));
    if (keep) {
        CHECK_COLLECT(2, 0, "%s, %zu survivors held", path_name[path], m);
        CHECK_COLLECT(1, 0, "%s, %zu survivors held", path_name[path], m);
        for (size_t i = 0; i < m; i++)
            om_decref(y[i]);
    }
    om_decref(g);
    CHECK_COLLECT(2, 1 + (keep ? m : 0), "%s, %zu young, then the old cycle dropped", path_name[path], m);
    CHECK_EQ(o->refcount, 1);
    CHECK_EQ(freed_n[T_NODE] + freed_n[T_CNODE] + freed_n[T_FNODE], (long)m + 1);
    CHECK_EQ(fin_calls, path == PATH_FINAL ? (long)m : 0);
    /* new objects in the blocks just freed, held: nothing to find */
    for (size_t i = 0; i < m; i++) {
        y[i] = new_node(t, 0);
        if (i & 1)
            set_ref(&B(y[i]), y[i]);
    }
    CHECK_COLLECT(0, 0, "%s, %zu new objects in freed blocks", path_name[path], m);
    CHECK_COLLECT(2, 0, "%s, %zu new objects in freed blocks", path_name[path], m);
    for (size_t i = 0; i < m; i++)
        om_decref(y[i]);
    CHECK_COLLECT(2, m / 2, "%s, new objects dropped", path_name[path]);
    CHECK_EQ(saw_ref, 0);
    free(y);
}

static void test_side_clean_after_young(void)
{
    fresh();
    uint64_t rng = 12345;
    /* a big old heap over several arenas, held by the test */
    noldheap = (size_t)OM_TEST_SCALE(60000);
    oldheap = malloc(noldheap * sizeof *oldheap);
    NEED(oldheap != NULL);
    for (size_t i = 0; i < noldheap; i++)
        oldheap[i] = new_node(&node_type, 0);
    om_object *o = new_node(&node_type, 0);
    CHECK_COLLECT(2, 0, "%s", "old heap");
    static const size_t sizes[] = {40, 600, 8000};
    for (int path = PATH_FAST; path <= PATH_FINAL; path++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int keep = 0; keep < 2; keep++)
                side_after_young(&rng, o, path, sizes[s], keep);
    CHECK_EQ(o->refcount, 1);
    om_decref(o);
    for (size_t i = 0; i < noldheap; i++) {
        CHECK_EQ(oldheap[i]->refcount, 1);
        om_decref(oldheap[i]);
    }
    free(oldheap);
    oldheap = NULL;
    CHECK_EQ(om_gc_collect(2), 0);
}

/* ---- 3. every byte back to 0: against a model -----------------------------
 * Random graphs of nodes (fast, clear hook, finalizer), medium and large
 * vecs, tuples of leaves and leaves, over a big old heap; every round adds
 * a batch (a few objects: a small young set, bytes walked; thousands: the
 * tables zeroed) wired to itself, to old objects, to popular objects (vecs
 * holding one of them up to 20000 times) and to static objects, old
 * objects pointing at the batch, references cleared, references dropped,
 * then a collection of a random generation.  The model says which objects
 * die (the collection's unreachable set, and what reference counting frees
 * after it), the collection's result, every survivor's count and the size
 * of each generation. */
enum { RK_NODE, RK_CNODE, RK_FNODE, RK_TNODE, RK_RNODE, RK_VEC, RK_BIGVEC, RK_TUP, RK_LEAF };
#define RMAX 100000
#define R_NIL (-1)
#define R_IMM_NODE (-2)
#define R_IMM_LEAF (-3)

typedef struct robj {
    om_object *o;
    int *slot; /* target per reference slot: an index, R_NIL or a static object */
    int nslots, kind, alive, tracked, gen, ext, rc;
} robj;

static robj *R;
static int rn, nbigvec;
static int *rstack, *rqueue;
static unsigned char *rin, *rmark;
static int *rset, *rinner;
static size_t rbase[3];
static long rbad;

static int r_is_container(int i) { return R[i].kind != RK_LEAF && R[i].kind != RK_TUP; }

static om_object **r_slot(int i, int k)
{
    om_object *o = R[i].o;
    if (R[i].kind <= RK_RNODE)
        return k ? &B(o) : &A(o);
    return &items_of(o)[k];
}

static om_object *r_obj(int t)
{
    return t == R_IMM_NODE ? OM_OBJ(&imm_node) : t == R_IMM_LEAF ? OM_OBJ(&imm_leaf) : R[t].o;
}

/* A count fell: what reference counting frees, freed in the model. */
static void r_decrc(int t)
{
    if (!R[t].alive || --R[t].rc > 0)
        return;
    int sp = 0;
    rstack[sp++] = t;
    while (sp) {
        int x = rstack[--sp];
        R[x].alive = 0;
        for (int k = 0; k < R[x].nslots; k++) {
            int s = R[x].slot[k];
            if (s >= 0 && R[s].alive && --R[s].rc == 0)
                rstack[sp++] = s;
        }
    }
}

static void r_set(int i, int k, int t)
{
    set_ref(r_slot(i, k), r_obj(t));
    R[i].slot[k] = t;
    if (t >= 0)
        R[t].rc++;
}

static void r_clear(int i, int k)
{
    int t = R[i].slot[k];
    om_clear_ref(r_slot(i, k));
    R[i].slot[k] = R_NIL;
    if (t >= 0)
        r_decrc(t);
}

static void r_drop(int i)
{
    if (!R[i].alive || R[i].ext == 0)
        return;
    R[i].ext--;
    om_decref(R[i].o);
    r_decrc(i);
}

/* a random live object among [lo, rn) (R_NIL if none found quickly) */
static int r_pick(uint64_t *rng, int lo, int kind)
{
    if (lo >= rn)
        return R_NIL;
    for (int tries = 0; tries < 16; tries++) {
        int i = (int)tu_range(rng, (size_t)lo, (size_t)rn - 1);
        if (R[i].alive && (kind < 0 || R[i].kind == kind))
            return i;
    }
    return R_NIL;
}

static int r_new(uint64_t *rng, int kind)
{
    NEED(rn < RMAX && rn + 1 < MAXID);
    int i = rn++;
    robj *r = &R[i];
    memset(r, 0, sizeof *r);
    intptr_t id = i + 1;
    r->kind = kind;
    r->alive = 1;
    r->ext = 1;
    r->rc = 1;
    r->tracked = kind != RK_LEAF;
    switch (kind) {
    case RK_NODE:
        r->o = new_node(&node_type, id);
        r->nslots = 2;
        break;
    case RK_CNODE:
        r->o = new_node(&cnode_type, id);
        r->nslots = 2;
        break;
    case RK_FNODE:
        r->o = new_node(&fnode_type, id);
        r->nslots = 2;
        break;
    case RK_TNODE:
        r->o = new_node(&tnode_type, id);
        r->nslots = 2;
        break;
    case RK_RNODE:
        r->o = new_node(&rnode_type, id);
        r->nslots = 2;
        break;
    case RK_VEC:
        r->nslots = 100;
        r->o = new_vec(&vec_type, 100, id);
        break;
    case RK_BIGVEC:
        r->nslots = 20000;
        r->o = new_vec(&vec_type, 20000, id);
        nbigvec++;
        break;
    case RK_TUP:
        r->nslots = (int)tu_range(rng, 1, 5);
        r->o = new_vec(&tup_type, (size_t)r->nslots, id);
        break;
    default:
        r->o = new_leaf(&leaf_type, id);
        break;
    }
    if (r->nslots) {
        r->slot = malloc(sizeof(int) * (size_t)r->nslots);
        NEED(r->slot != NULL);
        for (int k = 0; k < r->nslots; k++)
            r->slot[k] = R_NIL;
    }
    if (kind == RK_TUP) /* immutable: every item set now, all atomic */
        for (int k = 0; k < r->nslots; k++) {
            int t = r_pick(rng, rn > 3000 ? rn - 3000 : 0, RK_LEAF);
            r_set(i, k, t >= 0 ? t : R_IMM_LEAF);
        }
    return i;
}

/* The model's collection of generation gen; returns what it finds.  The
 * set S: live tracked objects of generations 0..gen.  An object of S is
 * referred to from outside when its count (the test's references and
 * those of live objects, kept by the model itself) exceeds the references
 * from S; what those reach inside S survives, the rest is found. */
static long r_model_collect(int gen)
{
    int ns = 0, qh = 0, qt = 0;
    for (int i = 0; i < rn; i++) {
        rin[i] = R[i].alive && R[i].tracked && R[i].gen <= gen;
        rmark[i] = 0;
        if (rin[i]) {
            rset[ns++] = i;
            rinner[i] = 0;
        }
    }
    for (int j = 0; j < ns; j++) {
        robj *r = &R[rset[j]];
        for (int k = 0; k < r->nslots; k++)
            if (r->slot[k] >= 0 && rin[r->slot[k]])
                rinner[r->slot[k]]++;
    }
    for (int j = 0; j < ns; j++) {
        int i = rset[j];
        if (R[i].rc > rinner[i]) {
            rmark[i] = 1;
            rqueue[qt++] = i;
        }
    }
    while (qh < qt) {
        int i = rqueue[qh++];
        for (int k = 0; k < R[i].nslots; k++) {
            int t = R[i].slot[k];
            if (t >= 0 && rin[t] && !rmark[t]) {
                rmark[t] = 1;
                rqueue[qt++] = t;
            }
        }
    }
    long found = 0;
    for (int j = 0; j < ns; j++)
        if (!rmark[rset[j]]) {
            R[rset[j]].alive = 0;
            found++;
        }
    /* what only the found objects held dies with them */
    for (int j = 0; j < ns; j++) {
        int i = rset[j];
        if (!rmark[i])
            for (int k = 0; k < R[i].nslots; k++) {
                int t = R[i].slot[k];
                if (t >= 0 && R[t].alive)
                    r_decrc(t);
            }
    }
    for (int j = 0; j < ns; j++) {
        int i = rset[j];
        if (rmark[i] && R[i].gen < 2)
            R[i].gen = gen + 1 < 2 ? gen + 1 : 2;
    }
    return found;
}

/* Freed exactly what the model says; deep: also every survivor's count,
 * and (gens) the size of each generation. */
static void r_verify(const char *what, int round, int deep, int gens)
{
    int bad = 0;
    size_t per_gen[3] = {0, 0, 0};
    for (int i = 0; i < rn; i++) {
        int want = !R[i].alive;
        if (freed_id[i + 1] != want) {
            if (bad++ < 5)
                fprintf(stderr, "round %d (%s): object %d (kind %d, gen %d) freed %d times, model says %d\n",
                        round, what, i, R[i].kind, R[i].gen, freed_id[i + 1], want);
            continue;
        }
        if (!R[i].alive || !deep)
            continue;
        if (R[i].o->refcount != R[i].rc && bad++ < 5)
            fprintf(stderr, "round %d (%s): object %d (kind %d) count %ld, model says %d\n", round, what, i,
                    R[i].kind, (long)R[i].o->refcount, R[i].rc);
        if (R[i].tracked)
            per_gen[R[i].gen]++;
    }
    for (int g = 0; g < 3 && gens; g++)
        if (om_gc_count_objects(g) != rbase[g] + per_gen[g] && bad++ < 5)
            fprintf(stderr, "round %d (%s): generation %d has %zu objects, model says %zu\n", round, what, g,
                    om_gc_count_objects(g), rbase[g] + per_gen[g]);
    CHECK_EQ(bad, 0);
    rbad += bad;
}

static void r_collect(int gen, int round)
{
    /* tuples the collector may stop tracking: those in the set */
    long want = r_model_collect(gen);
    long got = om_gc_collect(gen);
    CHECK_MSG(got == want, "round %d: om_gc_collect(%d) = %ld, model %ld", round, gen, got, want);
    rbad += got != want;
    for (int i = 0; i < rn; i++) {
        if (!R[i].alive || R[i].kind != RK_TUP || !R[i].tracked)
            continue;
        if (!om_gc_is_tracked(R[i].o)) {
            /* only a tuple the collection kept may be untracked by it */
            CHECK(rin[i] && rmark[i]);
            R[i].tracked = 0;
        }
    }
    char what[32];
    snprintf(what, sizeof what, "collect(%d)", gen);
    r_verify(what, round, 1, round % 4 == 0 || round < 0);
}

static int r_kind(uint64_t *rng, int plain)
{
    unsigned w = (unsigned)tu_range(rng, 0, 999);
    if (w == 999 && nbigvec < 4)
        return RK_BIGVEC;
    w %= 100;
    if (plain) /* only what delete_fast takes */
        return w < 55 ? RK_NODE : w < 65 ? RK_VEC : w < 80 ? RK_TUP : RK_LEAF;
    return w < 36   ? RK_NODE
           : w < 42 ? RK_CNODE
           : w < 46 ? RK_FNODE
           : w < 50 ? RK_TNODE
           : w < 54 ? RK_RNODE
           : w < 63 ? RK_VEC
           : w < 74 ? RK_TUP
                    : RK_LEAF;
}

static void r_round(uint64_t *rng, int round, int nb, int plain, int gen)
{
    int first = rn;
    if (rn + nb + 8 > RMAX)
        nb = RMAX - rn - 8;
    int pop[3];
    for (int j = 0; j < 3; j++)
        pop[j] = r_pick(rng, 0, -1);
    for (int b = 0; b < nb; b++)
        r_new(rng, r_kind(rng, plain));
    for (int i = first; i < rn; i++) {
        if (!r_is_container(i))
            continue;
        int nfill = R[i].kind == RK_VEC      ? (int)tu_range(rng, 0, 100)
                    : R[i].kind == RK_BIGVEC ? (int)tu_range(rng, 300, (size_t)OM_TEST_SCALE(20000))
                                             : 2;
        int same = R[i].kind == RK_BIGVEC || (R[i].kind == RK_VEC && tu_range(rng, 0, 99) < 30);
        int same_t = pop[tu_range(rng, 0, 2)];
        for (int k = 0; k < nfill && k < R[i].nslots; k++) {
            int t;
            if (same && same_t >= 0 && tu_range(rng, 0, 99) < 95) {
                t = same_t;
            } else {
                unsigned r = (unsigned)tu_range(rng, 0, 99);
                if (R[i].nslots == 2 && r >= 85)
                    continue; /* a node's slot left empty */
                t = r < 45   ? r_pick(rng, first, -1)
                    : r < 65 ? r_pick(rng, 0, -1)
                    : r < 78 ? pop[r % 3]
                    : r < 80 ? (r & 1 ? R_IMM_NODE : R_IMM_LEAF)
                             : i;
            }
            if (t != R_NIL)
                r_set(i, k, t);
        }
    }
    /* old objects pointing at the batch */
    int nold = (int)tu_range(rng, 0, 6);
    for (int j = 0; j < nold && first > 0; j++) {
        int o = r_pick(rng, 0, -1);
        if (o < 0 || o >= first || !r_is_container(o))
            continue;
        int k = (int)tu_range(rng, 0, (size_t)R[o].nslots - 1);
        int t = r_pick(rng, first, -1);
        if (R[o].slot[k] == R_NIL && t >= 0)
            r_set(o, k, t);
    }
    /* references cleared anywhere */
    int nclr = (int)tu_range(rng, 0, 8);
    for (int j = 0; j < nclr; j++) {
        int o = r_pick(rng, 0, -1);
        if (o < 0 || !r_is_container(o))
            continue;
        int k = (int)tu_range(rng, 0, (size_t)R[o].nslots - 1);
        if (R[o].slot[k] != R_NIL)
            r_clear(o, k);
    }
    /* references the test held */
    for (int i = first; i < rn; i++)
        if (tu_range(rng, 0, 99) < 80)
            r_drop(i);
    int ndrop = (int)tu_range(rng, 0, 12);
    for (int j = 0; j < ndrop; j++) {
        int o = r_pick(rng, 0, -1);
        if (o >= 0 && o < first)
            r_drop(o);
    }
    r_verify("built", round, 0, 0);
    r_collect(gen, round);
}

static void test_side_clean_random(void)
{
    fresh();
    R = calloc(RMAX, sizeof *R);
    rstack = malloc(sizeof(int) * RMAX);
    rqueue = malloc(sizeof(int) * RMAX);
    rin = malloc(RMAX);
    rmark = malloc(RMAX);
    rset = malloc(sizeof(int) * RMAX);
    rinner = malloc(sizeof(int) * RMAX);
    NEED(R && rstack && rqueue && rin && rmark && rset && rinner);
    rn = nbigvec = 0;
    rbad = 0;
    for (int g = 0; g < 3; g++)
        rbase[g] = om_gc_count_objects(g);
    uint64_t rng = 0x5eed51deULL;
    int rounds = OM_TEST_SANITIZED ? 80 : 120;
    /* the old heap: a full collection of a big first batch */
    r_round(&rng, -1, OM_TEST_SANITIZED ? 10000 : 24000, 1, 2);
    for (int round = 0; round < rounds && !rbad; round++) {
        unsigned w = (unsigned)tu_range(&rng, 0, 99);
        int nb = w < 75 ? (int)tu_range(&rng, 2, 80) : (int)tu_range(&rng, 500, OM_TEST_SANITIZED ? 2000 : 2500);
        int plain = tu_range(&rng, 0, 99) < 35;
        unsigned gw = (unsigned)tu_range(&rng, 0, 99);
        int gen = gw < 65 ? 0 : gw < 85 ? 1 : 2;
        r_round(&rng, round, nb, plain, gen);
        if (rn > RMAX - 6000)
            break;
    }
    /* everything dropped: one full collection frees the rest */
    for (int i = 0; i < rn; i++)
        while (R[i].alive && R[i].ext > 0)
            r_drop(i);
    r_collect(2, -2);
    for (int i = 0; i < rn; i++) {
        CHECK(!R[i].alive);
        free(R[i].slot);
    }
    CHECK_EQ(saw_ref, 0);
    CHECK_EQ(om_heap_check(1), 0);
    free(R);
    free(rstack);
    free(rqueue);
    free(rin);
    free(rmark);
    free(rset);
    free(rinner);
    R = NULL;
}

/* ---- 4. delete_fast ------------------------------------------------------- */
/* A garbage ring of 10 nodes and a vec, pointing out of the set at: a leaf
 * and a container the test holds (the vec holds the container 300 times),
 * a leaf, an untracked container and (young collection) an old container
 * only the garbage holds, and static objects. */
static void fast_outside(int young)
{
    fresh();
    om_object *lf = new_leaf(&leaf_type, 0), *live = new_node(&node_type, 0);
    om_object *only_leaf = new_leaf(&leaf_type, 0), *untracked = new_node(&node_type, 0);
    set_ref(&A(untracked), only_leaf); /* the only reference to only_leaf after ours goes */
    om_decref(only_leaf);
    REQUIRE(om_gc_untrack(untracked) == 0);
    om_object *old_only = NULL;
    if (young) {
        old_only = new_node(&node_type, 0);
        CHECK_COLLECT(2, 0, "%s", "old_only old");
        REQUIRE(in_generation(old_only, 2));
    }
    size_t old2 = om_gc_count_objects(2);
    om_object *ring[10], *v = new_vec(&vec_type, 1000, 0);
    for (int i = 0; i < 10; i++)
        ring[i] = new_node(&node_type, 0);
    for (int i = 0; i < 10; i++)
        set_ref(&A(ring[i]), i < 9 ? ring[i + 1] : v);
    set_ref(&items_of(v)[0], ring[0]);
    set_ref(&B(ring[0]), lf);
    set_ref(&B(ring[1]), live);
    set_ref(&B(ring[2]), untracked);
    set_ref(&B(ring[3]), OM_OBJ(&imm_leaf));
    set_ref(&B(ring[4]), OM_OBJ(&imm_node));
    if (old_only)
        set_ref(&B(ring[5]), old_only);
    set_ref(&B(ring[6]), lf);
    set_ref(&B(ring[7]), ring[7]);
    for (int i = 1; i < 301; i++)
        set_ref(&items_of(v)[i], live);
    for (int i = 301; i < 601; i++)
        set_ref(&items_of(v)[i], OM_OBJ(&imm_node));
    for (int i = 601; i < 700; i++)
        set_ref(&items_of(v)[i], lf);
    for (int i = 700; i < 710; i++)
        set_ref(&items_of(v)[i], ring[i % 10]);
    if (old_only) {
        for (int i = 710; i < 1000; i++)
            set_ref(&items_of(v)[i], old_only);
        om_decref(old_only); /* only the garbage holds it now */
    }
    om_decref(untracked);
    for (int i = 0; i < 10; i++)
        om_decref(ring[i]);
    om_decref(v);
    CHECK_EQ(lf->refcount, 1 + 2 + 99);
    CHECK_EQ(live->refcount, 1 + 1 + 300);
    om_type_stats before;
    om_type_get_stats(&node_type, &before);
    CHECK_COLLECT(young ? 0 : 2, 11, "fast outside, %s", young ? "young" : "full");
    CHECK_EQ(lf->refcount, 1);
    CHECK_EQ(live->refcount, 1);
    CHECK_EQ(OM_OBJ(&imm_leaf)->refcount, OM_IMMORTAL_REFCNT);
    CHECK_EQ(OM_OBJ(&imm_node)->refcount, OM_IMMORTAL_REFCNT);
    CHECK_EQ(freed_n[T_VEC], 1);
    CHECK_EQ(freed_n[T_NODE], 10 + 1 + (young ? 1 : 0)); /* the ring, untracked, old_only */
    CHECK_EQ(freed_n[T_LEAF], 1);                        /* only_leaf */
    CHECK_EQ(saw_ref, 0);
    om_type_stats after;
    om_type_get_stats(&node_type, &after);
    CHECK_EQ(after.destroyed - before.destroyed, 10 + 1 + (young ? 1 : 0));
    /* young: old_only left generation 2; full: live joined it */
    CHECK_EQ(om_gc_count_objects(2), young ? old2 - 1 : old2 + 1);
    CHECK(in_generation(live, 2));
    CHECK_COLLECT(2, 0, "%s", "fast outside, again");
    om_decref(lf);
    om_decref(live);
    CHECK_EQ(freed_n[T_LEAF], 2);
}

static void test_fast_outside_references(void)
{
    fast_outside(0);
    fast_outside(1);
}

/* Each object's release runs once, with every reference of the whole set
 * already NULL (delete_fast empties the set before freeing any of it).  The
 * hook looks at the members not freed yet: the watch list forgets each one
 * in its own release, so no freed memory is read. */
static om_object *watch[64];
static int nwatch;
static void release_checks_others(om_object *self)
{
    for (int i = 0; i < nwatch; i++)
        if (watch[i] == self)
            watch[i] = NULL;
    for (int i = 0; i < nwatch; i++)
        if (watch[i] && (A(watch[i]) || B(watch[i])))
            saw_ref++;
}

/* A kept object behind garbage on the tentative list, small set (the walk
 * cleans): g1 <-> g2 garbage, g1 -> k; k's only other referrer h is held
 * from outside but comes after k in the scan.  The scan leaves g1, g2 and
 * k tentative, then h keeps k.  delete_fast, freeing g1, must not take k's
 * "kept" byte for an outside object's and zero it: k would then be freed
 * with h still holding it. */
static void test_fast_kept_after_garbage(void)
{
    fresh();
    om_object *g1 = new_node(&node_type, 1), *g2 = new_node(&node_type, 2);
    om_object *k = new_node(&node_type, 3), *h = new_node(&node_type, 4);
    set_ref(&((node *)g1)->a, g2);
    set_ref(&((node *)g2)->a, g1);
    set_ref(&((node *)g1)->b, k);
    set_ref(&((node *)h)->a, k);
    om_decref(g1);
    om_decref(g2);
    om_decref(k);
    CHECK_EQ(om_gc_collect(0), 2);
    CHECK_EQ(freed_id[1], 1);
    CHECK_EQ(freed_id[2], 1);
    CHECK_EQ(freed_id[3], 0);
    CHECK_EQ(k->refcount, 1);
    CHECK(om_gc_is_tracked(k));
    CHECK_EQ(om_gc_collect(0), 0); /* k's byte is clean: still held */
    CHECK_EQ(freed_id[3], 0);
    om_decref(h); /* h, then k, by counting */
    CHECK_EQ(freed_id[3], 1);
    CHECK_EQ(freed_id[4], 1);
}

static void test_fast_release_hooks(void)
{
    /* 64 nodes, each referred to twice from the set, young */
    fresh();
    nwatch = 64;
    for (int i = 0; i < 64; i++)
        watch[i] = new_node(&node_type, i + 1);
    for (int i = 0; i < 64; i++) {
        set_ref(&A(watch[i]), watch[(i + 1) % 64]);
        set_ref(&B(watch[i]), watch[(i * 7) % 64]);
    }
    for (int i = 0; i < 64; i++)
        om_decref(watch[i]);
    release_hook = release_checks_others;
    CHECK_COLLECT(0, 64, "%s", "64-node set");
    for (int i = 1; i <= 64; i++)
        CHECK_EQ(freed_id[i], 1);
    CHECK_EQ(saw_ref, 0);

    /* 32 nodes and a vec holding them 300 times, full */
    reset_counts();
    nwatch = 32;
    for (int i = 0; i < 32; i++)
        watch[i] = new_node(&node_type, i + 1);
    om_object *v = new_vec(&vec_type, 300, 0);
    for (int i = 0; i < 32; i++) {
        set_ref(&A(watch[i]), watch[(i + 1) % 32]);
        set_ref(&B(watch[i]), v);
    }
    for (int i = 0; i < 300; i++)
        set_ref(&items_of(v)[i], watch[i % 32]);
    for (int i = 0; i < 32; i++)
        om_decref(watch[i]);
    om_decref(v);
    release_hook = release_checks_others;
    CHECK_COLLECT(2, 33, "%s", "32 nodes and a vec");
    release_hook = NULL;
    nwatch = 0;
    for (int i = 1; i <= 32; i++)
        CHECK_EQ(freed_id[i], 1);
    CHECK_EQ(freed_n[T_VEC], 1);
    CHECK_EQ(saw_ref, 0);
}

/* A type with a free list: freed members are parked, and a parked instance
 * comes back zeroed and tracked. */
static void test_fast_free_list(void)
{
    fresh();
    om_type_freelist_clear(&pnode_type);
    om_object *lf = new_leaf(&leaf_type, 0);
    for (int round = 0; round < 3; round++) {
        om_type_stats st0, st1;
        om_type_get_stats(&pnode_type, &st0);
        om_object *p[40];
        for (int i = 0; i < 40; i++) {
            p[i] = new_node(&pnode_type, i + 1);
            CHECK(A(p[i]) == NULL && B(p[i]) == NULL);
            CHECK(om_gc_is_tracked(p[i]));
            CHECK_EQ(p[i]->refcount, 1);
        }
        for (int i = 0; i < 40; i++) {
            set_ref(&A(p[i]), p[(i + 1) % 40]);
            set_ref(&B(p[i]), i % 4 ? lf : p[i]);
        }
        for (int i = 0; i < 40; i++)
            om_decref(p[i]);
        memset(freed_id, 0, sizeof freed_id);
        CHECK_COLLECT(0, 40, "free-list round %d", round);
        om_type_get_stats(&pnode_type, &st1);
        CHECK_EQ(st1.freelist_len, 16);
        CHECK_EQ(st1.live, st0.live);
        CHECK_EQ(st1.destroyed - st0.destroyed, 40);
        if (round > 0)
            CHECK_EQ(st1.freelist_hits - st0.freelist_hits, 16);
        for (int i = 1; i <= 40; i++)
            CHECK_EQ(freed_id[i], 1);
        CHECK_EQ(lf->refcount, 1);
    }
    CHECK_EQ(saw_ref, 0);
    om_decref(lf);
    CHECK_COLLECT(2, 0, "%s", "free lists emptied");
    om_type_stats st;
    om_type_get_stats(&pnode_type, &st);
    CHECK_EQ(st.freelist_len, 0);
}

/* One member needs the ordinary path: a clear hook, a finalizer, a weak
 * reference (with a callback the test holds).  The result is the same. */
static int wr_calls;
static om_object *wr_seen;
static void wr_callback(om_weakref *ref, om_object *data)
{
    (void)data;
    wr_calls++;
    wr_seen = om_weakref_get(ref);
}

static void mixed_set(int which)
{
    fresh();
    wr_calls = 0;
    wr_seen = NULL;
    om_object *lf = new_leaf(&leaf_type, 0), *live = new_node(&node_type, 0);
    om_object *only = new_leaf(&leaf_type, 0);
    om_object *ring[20];
    for (int i = 0; i < 20; i++) {
        om_type *t = &node_type;
        if (i == 7)
            t = which == 0 ? &cnode_type : which == 1 ? &fnode_type : which == 2 ? &wnode_type : &node_type;
        ring[i] = new_node(t, i + 1);
    }
    om_weakref *wr = NULL;
    if (which == 2) {
        wr = om_weakref_new(ring[7], wr_callback, NULL);
        REQUIRE(wr != NULL);
    }
    om_object *v = new_vec(&vec_type, 600, 100);
    for (int i = 0; i < 20; i++) {
        set_ref(&A(ring[i]), i < 19 ? ring[i + 1] : v);
        set_ref(&B(ring[i]), i % 3 == 0 ? lf : i % 3 == 1 ? live : ring[(i * 3) % 20]);
    }
    set_ref(&items_of(v)[0], ring[0]);
    for (int i = 1; i < 599; i++)
        set_ref(&items_of(v)[i], i % 2 ? live : i % 5 ? ring[7] : lf);
    set_ref(&items_of(v)[599], only);
    om_decref(only);
    long lf_extra = lf->refcount - 1, live_extra = live->refcount - 1;
    CHECK(lf_extra > 0 && live_extra > 0);
    for (int i = 0; i < 20; i++)
        om_decref(ring[i]);
    om_decref(v);
    CHECK_COLLECT(which == 3 ? 2 : 0, 21, "mixed set %d", which);
    CHECK_EQ(lf->refcount, 1);
    CHECK_EQ(live->refcount, 1);
    CHECK_EQ(freed_n[T_LEAF], 1);
    for (int i = 1; i <= 20; i++)
        CHECK_EQ(freed_id[i], 1);
    CHECK_EQ(freed_id[100], 1);
    CHECK_EQ(clear_calls, which == 0 ? 1 : 0);
    CHECK_EQ(fin_calls, which == 1 ? 1 : 0);
    if (which == 2) {
        CHECK_EQ(wr_calls, 1);
        CHECK(wr_seen == NULL);
        CHECK(om_weakref_get(wr) == NULL);
        om_decref(wr);
    }
    CHECK_EQ(saw_ref, 0);
    CHECK_COLLECT(2, 0, "mixed set %d, again", which);
    om_decref(lf);
    om_decref(live);
}

static void test_fast_mixed_paths(void)
{
    for (int which = 0; which < 4; which++)
        mixed_set(which);
}

/* Objects outside the set that only the garbage holds die while it is
 * freed; their finalizers build new objects and cycles (small, medium,
 * large) and drop them, and a weak-reference callback does the same. */
static om_object *made[16];
static int nmade;
static void fin_allocates(om_object *self)
{
    (void)self;
    om_object *a = new_node(&node_type, 0), *b = new_vec(&vec_type, 150, 0), *c = new_vec(&vec_type, 17000, 0);
    set_ref(&A(a), b);
    set_ref(&items_of(b)[0], c);
    set_ref(&items_of(c)[16999], a);
    om_decref(b);
    om_decref(c);
    if (nmade < 16)
        made[nmade++] = a; /* held: a new live cycle */
    else
        om_decref(a);
    void *blk = om_malloc(200 * 1024);
    NEED(blk != NULL);
    om_free(blk);
}

static void wr_allocates(om_weakref *ref, om_object *data)
{
    (void)ref;
    (void)data;
    wr_calls++;
    fin_allocates(NULL);
}

static void test_fast_outside_finalizers_allocate(void)
{
    fresh();
    nmade = 0;
    wr_calls = 0;
    fin_hook = fin_allocates;
    om_object *ring[8], *v = new_vec(&vec_type, 400, 0);
    for (int i = 0; i < 8; i++)
        ring[i] = new_node(&node_type, 0);
    om_object *target = new_node(&wnode_type, 0); /* untracked, only the garbage holds it */
    REQUIRE(om_gc_untrack(target) == 0);
    om_weakref *wr = om_weakref_new(target, wr_allocates, NULL);
    REQUIRE(wr != NULL);
    for (int i = 0; i < 8; i++) {
        set_ref(&A(ring[i]), i < 7 ? ring[i + 1] : v);
        om_object *of = new_leaf(&ofin_type, 0); /* a finalizer, not a container */
        B(ring[i]) = of;
    }
    set_ref(&items_of(v)[0], ring[0]);
    for (int i = 1; i < 400; i++)
        set_ref(&items_of(v)[i], target);
    om_decref(target);
    for (int i = 0; i < 8; i++)
        om_decref(ring[i]);
    om_decref(v);
    CHECK_COLLECT(0, 9, "%s", "garbage whose outside objects allocate as they die");
    CHECK_EQ(fin_calls, 8);
    CHECK_EQ(freed_n[T_OFIN], 8);
    CHECK_EQ(freed_n[T_WNODE], 1);
    CHECK_EQ(wr_calls, 1);
    CHECK_EQ(nmade, 9);
    fin_hook = NULL;
    CHECK_COLLECT(2, 0, "%s", "the cycles they made are held");
    for (int i = 0; i < nmade; i++) {
        CHECK_EQ(made[i]->refcount, 2);
        om_decref(made[i]);
    }
    CHECK_COLLECT(2, 3 * 9, "%s", "the cycles they made, dropped");
    om_decref(wr);
    CHECK_EQ(saw_ref, 0);
    CHECK_EQ(om_heap_check(1), 0);
}

/* ---- 5. resurrection re-check with a popular object ------------------------
 * n finalizer nodes F_i in their own cycles, all pointing at T (T.a =
 * F_0); optionally a vec holding T 300 times in a cycle with it (T.b = V).
 * The finalizer of F_5 stores a reference to T, or to F_7, or nothing: the
 * re-check counts T's n (+300) references from the set again. */
static om_object *stash;
static om_object *res_who, *res_what;
static void fin_resurrect(om_object *self)
{
    if (self == res_who && !stash)
        stash = om_newref(res_what);
}

static void resurrect_case(size_t n, int what, int with_vec, int t_final)
{
    fresh();
    stash = NULL;
    om_object **f = malloc(n * sizeof *f);
    NEED(f != NULL);
    om_object *t = new_node(t_final ? &fnode_type : &node_type, 0);
    for (size_t i = 0; i < n; i++) {
        f[i] = new_node(&fnode_type, 0);
        set_ref(&A(f[i]), t);
        set_ref(&B(f[i]), f[i]);
    }
    set_ref(&A(t), f[0]);
    om_object *v = NULL;
    if (with_vec) {
        v = new_vec(&vec_type, 301, 0);
        for (int i = 0; i < 300; i++)
            items_of(v)[i] = om_newref(t);
        set_ref(&items_of(v)[300], t);
        set_ref(&B(t), v);
        om_decref(v);
    }
    res_who = f[5];
    res_what = what == 1 ? t : what == 2 ? f[7] : NULL;
    fin_hook = what ? fin_resurrect : NULL;
    for (size_t i = 0; i < n; i++)
        om_decref(f[i]);
    om_decref(t);
    long found = (long)n + 1 + (with_vec ? 1 : 0);
    /* survivors: T, F_0 (and V) for what 1; plus F_7 for what 2 */
    long kept = what == 0 ? 0 : 2 + (with_vec ? 1 : 0) + (what == 2 ? 1 : 0);
    CHECK_COLLECT(2, found - kept, "resurrect n=%zu what=%d vec=%d t_final=%d", n, what, with_vec, t_final);
    CHECK_EQ(fin_calls, (long)n + (t_final ? 1 : 0));
    CHECK_EQ(total_freed(), found - kept);
    if (what) {
        REQUIRE(stash != NULL);
        CHECK_EQ(t->refcount, 1 + (what == 1) + (what == 2) + (with_vec ? 301 : 0));
        CHECK_EQ(f[0]->refcount, 2);
        if (what == 2)
            CHECK_EQ(f[7]->refcount, 2);
        CHECK(om_gc_is_finalized(f[0]));
        CHECK(in_generation(t, 2));
        fin_hook = NULL;
        CHECK_COLLECT(2, 0, "resurrect n=%zu what=%d, held", n, what);
        om_clear_ref(&stash);
        long calls = fin_calls;
        CHECK_COLLECT(2, kept, "resurrect n=%zu what=%d, dropped", n, what);
        CHECK_EQ(fin_calls, calls); /* once per object ever */
    }
    CHECK_EQ(total_freed(), found);
    CHECK_EQ(saw_ref, 0);
    fin_hook = NULL;
    free(f);
}

static void test_resurrect_popular(void)
{
    static const size_t counts[] = {250, 252, 300, 504, 1000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
        for (int what = 0; what < 3; what++)
            for (int with_vec = 0; with_vec < 2; with_vec++)
                resurrect_case(counts[c], what, with_vec, c % 2);
}

/* ---- 6. immutable containers ---------------------------------------------- */
static om_object *new_tup(size_t n, om_object *const *items)
{
    om_object *t = new_vec(&tup_type, n, 0);
    for (size_t i = 0; i < n; i++)
        set_ref(&items_of(t)[i], items[i]);
    return t;
}

static void test_immutable_in_set(void)
{
    fresh();
    om_object *l1 = new_leaf(&leaf_type, 0), *l2 = new_leaf(&leaf_type, 0);
    om_object *its[3] = {l1, l2, OM_OBJ(&imm_leaf)};

    /* held by a live node and by garbage 300 times: untracked in the
     * collection that frees the garbage, counts exact */
    for (int order = 0; order < 2; order++) {
        om_object *holder = order ? NULL : new_node(&node_type, 0);
        om_object *t = new_tup(3, its);
        if (order)
            holder = new_node(&node_type, 0);
        set_ref(&A(holder), t);
        om_object *v = new_vec(&vec_type, 301, 0);
        set_ref(&items_of(v)[300], v);
        for (int i = 0; i < 300; i++)
            set_ref(&items_of(v)[i], t);
        om_decref(v);
        om_decref(t);
        CHECK(om_gc_is_tracked(t));
        CHECK_COLLECT(0, 1, "tuple held and referenced by garbage, order %d", order);
        /* order 1: the tuple was scanned before its holder at gc_refs 0
         * (every reference to it came from the set) and kept when the
         * holder reached it: untracked all the same (CPython's
         * untrack_tuples runs over every survivor) */
        CHECK(!om_gc_is_tracked(t));
        CHECK_EQ(t->refcount, 1);
        CHECK_EQ(l1->refcount, 2);
        CHECK_COLLECT(2, 0, "%s", "untracked tuple, again");
        om_decref(holder);
        CHECK_EQ(freed_n[T_TUP], order + 1);
        CHECK_EQ(l1->refcount, 1);
    }

    /* a popular tuple held by the test: kept, untracked, its count read
     * past the byte */
    for (size_t c = 0; c < 4; c++) {
        size_t n = c == 0 ? 251 : c == 1 ? 252 : c == 2 ? 253 : 1000;
        om_object *t = new_tup(3, its);
        for (size_t i = 0; i < n; i++) {
            om_object *y = new_node(&node_type, 0);
            set_ref(&A(y), t);
            set_ref(&B(y), y);
            om_decref(y);
        }
        CHECK_COLLECT(0, n, "popular tuple held, %zu referrers", n);
        CHECK(!om_gc_is_tracked(t));
        CHECK_EQ(t->refcount, 1);
        om_decref(t);
        /* the same, not held: the tuple is garbage too; its leaves stay */
        t = new_tup(3, its);
        for (size_t i = 0; i < n; i++) {
            om_object *y = new_node(&node_type, 0);
            set_ref(&A(y), t);
            set_ref(&B(y), y);
            om_decref(y);
        }
        om_decref(t);
        long tups = freed_n[T_TUP];
        CHECK_COLLECT(0, n + 1, "popular tuple garbage, %zu referrers", n);
        CHECK_EQ(freed_n[T_TUP], tups + 1);
        CHECK_EQ(l1->refcount, 1);
        CHECK_EQ(l2->refcount, 1);
    }

    /* a tuple holding one leaf 300 times (a non-container's byte wraps) */
    om_object *many[300];
    for (int i = 0; i < 300; i++)
        many[i] = l2;
    om_object *t300 = new_tup(300, many);
    CHECK_EQ(l2->refcount, 301);
    CHECK_COLLECT(0, 0, "%s", "tuple of one leaf 300 times");
    CHECK(!om_gc_is_tracked(t300));
    om_decref(t300);
    CHECK_EQ(l2->refcount, 1);

    /* nested: the inner tuple is untracked first, then the outer */
    om_object *inner = new_tup(2, its);
    om_object *outer_items[2] = {inner, l1};
    om_object *outer = new_tup(2, outer_items);
    om_decref(inner);
    /* the outer one is untracked only once the inner one is (one collection
     * or two, by scan order; a third at most) */
    for (int i = 0; i < 3 && om_gc_is_tracked(outer); i++)
        CHECK_COLLECT(i, 0, "nested tuples, collection %d", i);
    CHECK(!om_gc_is_tracked(inner));
    CHECK(!om_gc_is_tracked(outer));
    CHECK_EQ(inner->refcount, 1);
    om_decref(outer);
    CHECK_EQ(l1->refcount, 1);

    /* a tuple holding a container stays tracked; garbage tuples in a cycle
     * through a node are freed */
    om_object *nd = new_node(&node_type, 0);
    om_object *mixed_items[2] = {nd, l1};
    om_object *mt = new_tup(2, mixed_items);
    set_ref(&A(nd), mt);
    CHECK_COLLECT(0, 0, "%s", "tuple holding a container");
    CHECK(om_gc_is_tracked(mt));
    om_decref(mt);
    om_decref(nd);
    long tups = freed_n[T_TUP];
    CHECK_COLLECT(1, 2, "%s", "tuple and node cycle");
    CHECK_EQ(freed_n[T_TUP], tups + 1);
    CHECK_EQ(l1->refcount, 1);

    CHECK_EQ(saw_ref, 0);
    om_decref(l1);
    om_decref(l2);
    CHECK_EQ(om_gc_collect(2), 0);
}

/* ---- a bug: a large block's descriptor reused while delete_fast frees ------
 * omi_gc.side_larges links the large blocks whose side byte a collection
 * touched, through om_large.gc_dirty_next, and side_done walks that chain
 * after delete_fast to zero the bytes and clear gc_on_dirty.  delete_fast
 * frees objects and runs code (release hooks, finalizers of outside objects
 * that die) before side_done.  A large block bigger than a quarter of the
 * large cache (4 MiB by default) gives its descriptor back at once
 * (large.c: forget), and omi_large_alloc memsets a reused descriptor whole,
 * gc_dirty_next and gc_on_dirty included.  So a large allocation in that
 * window cuts the chain: every large block linked before the freed one
 * keeps its side byte (SIDE_KEPT for a kept container) and gc_on_dirty = 1,
 * so no later collection links it again to zero it.  The next collection
 * reads 0xFD as 253 references (or, counting, as a full byte: 252 more in
 * the header), and frees a container the program holds. */
static void *large_stash;
static int large_hook_armed;
static void release_allocates_large(om_object *self)
{
    (void)self;
    if (large_hook_armed && !large_stash) {
        large_stash = om_malloc(256 * 1024);
        NEED(large_stash != NULL);
    }
}

static void fin_allocates_large(om_object *self)
{
    release_allocates_large(self);
}

static void large_desc_case(int from_finalizer)
{
    fresh();
    /* the default cache bound (16 MiB: blocks over 4 MiB are not cached),
     * and no cached mapping the allocation could take instead */
    long cache_mb = om_option_get(OM_OPTION_LARGE_CACHE_MB);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, 16);
    om_trim(1);
    large_stash = NULL;
    /* held by the test, a large container in a cycle with itself: linked
     * first (count_refs meets it as its own referent) */
    om_object *live = new_vec(&vec_type, 20000, 1);
    REQUIRE(block_kind(live) == OM_BLOCK_LARGE);
    set_ref(&items_of(live)[0], live);
    om_object *big, *hook;
    if (!from_finalizer) {
        /* garbage: a 4.8 MB vec and a node whose release allocates */
        big = new_vec(&vec_type, 600000, 2);
        hook = new_node(&node_type, 3);
        set_ref(&items_of(big)[0], big);
        set_ref(&items_of(big)[1], hook);
        set_ref(&A(hook), big);
        release_hook = release_allocates_large;
    } else {
        /* garbage: a node holding a 5 MB blob (not a container, freed when
         * delete_fast drops the reference) and then an object with a
         * finalizer that allocates */
        big = new_vec(&blob_type, 5u << 20, 0);
        hook = new_node(&node_type, 3);
        om_object *h2 = new_node(&node_type, 4);
        om_object *of = new_leaf(&ofin_type, 0);
        set_ref(&A(hook), big);
        set_ref(&B(hook), h2);
        set_ref(&A(h2), hook);
        B(h2) = of;
        fin_hook = fin_allocates_large;
        om_decref(h2);
    }
    om_decref(big);
    om_decref(hook);
    large_hook_armed = 1;
    CHECK_COLLECT(2, 2, "large descriptor reuse (%s)", from_finalizer ? "finalizer" : "release hook");
    large_hook_armed = 0;
    release_hook = NULL;
    fin_hook = NULL;
    CHECK(large_stash != NULL);
    CHECK_EQ(freed_id[1], 0);
    /* the test still holds live: nothing to find */
    long freed_before = freed_id[1];
    CHECK_COLLECT(2, 0, "large descriptor reuse (%s): the live container", from_finalizer ? "finalizer" : "release hook");
    int live_freed = freed_id[1] != freed_before;
    CHECK_MSG(!live_freed, "a large container the test holds was freed by the collection after "
                           "the one whose delete_fast reused a large descriptor");
    if (!live_freed) {
        CHECK_EQ(live->refcount, 2);
        om_decref(live);
        CHECK_COLLECT(2, 1, "%s", "large descriptor reuse: live dropped");
    }
    /* else: live is gone (use after free if touched); its reference is leaked */
    om_free(large_stash);
    large_stash = NULL;
    om_trim(1); /* a cached mapping keeps its descriptor, stale byte and all */
    om_option_set(OM_OPTION_LARGE_CACHE_MB, cache_mb);
}

static void test_large_descriptor_reused_during_delete_fast(void)
{
    large_desc_case(0);
    large_desc_case(1);
}

/* ---- a bug: a small arena's descriptor reused as a medium arena's ---------
 * side_done zeroes each touched arena's table by the arena's geometry *when
 * it runs*: 32 KiB for a small arena, 8 KiB for a medium one.  After
 * delete_fast, that can be too late: the set's arenas empty as it is freed
 * and go back (om_trim, or any purge tick: with OBJMEM_PURGE_DELAY_MS=0
 * at once), their descriptors go on omi_rt.free_arena_descs (arena.c
 * memsets a reused descriptor only up to pools, gc_side and the dirty
 * chain kept), and a new medium arena made in the same window (a release
 * hook or an outside object's finalizer that allocates) takes one.  Then
 * only the first 8 KiB of a small table are zeroed: the bytes of granules
 * at 256 KiB and beyond keep SIDE_UNREACHABLE (0xFE, the set's own marks,
 * which delete_fast leaves to side_done when it does not walk).  When the
 * descriptor serves a small arena again, the objects there start a
 * collection at 254 "references from the set": one the program holds
 * (count 1) is unreachable, and freed. */
#define PROBES (16 * 16384)
static void *mblocks[1024];
static int nmblocks;
static om_object *arena_hook_on;
static int arena_hook_collects;
static unsigned char *probe_dead;
static long probes_freed;

static void release_grows_medium(om_object *self)
{
    if (self != arena_hook_on)
        return;
    arena_hook_on = NULL;
    if (arena_hook_collects)
        om_trim(1); /* the set's arenas, empty now, go back */
    /* new medium arenas: 12 of them (128 KiB blocks, 32 to an arena) */
    void *bases[16];
    int nbases = 0;
    while (nmblocks < 1024 && nbases < 12) {
        void *b = om_malloc(128 * 1024);
        NEED(b != NULL);
        mblocks[nmblocks++] = b;
        om_block_info bi;
        NEED(om_block_describe(b, &bi) == 0);
        int seen = 0;
        for (int i = 0; i < nbases; i++)
            seen |= bases[i] == bi.arena;
        if (!seen)
            bases[nbases++] = bi.arena;
    }
}

static void probe_release(om_object *o)
{
    intptr_t id = ((node *)o)->id;
    if (id < 0 && -id <= PROBES) {
        probe_dead[-id - 1] = 1;
        probes_freed++;
    }
}
static om_type probe_type = {.name = "side-probe", .size = sizeof(node), .flags = OM_TYPE_GC,
                             .ref_fields = NODE_REFS, .release = probe_release};

static void arena_desc_case(int purge_now)
{
    fresh();
    long delay = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    if (purge_now)
        om_option_set(OM_OPTION_PURGE_DELAY_MS, 0);
    om_trim(1);
    /* garbage filling three small arenas: 2-cycles of plain nodes */
    int n = 3 * 16384;
    om_object **g = malloc(sizeof *g * (size_t)n);
    NEED(g != NULL);
    for (int i = 0; i < n; i++)
        g[i] = new_node(&node_type, 0);
    for (int i = 0; i < n; i++)
        set_ref(&A(g[i]), g[i ^ 1]);
    arena_hook_on = g[n - 1]; /* freed last */
    arena_hook_collects = !purge_now;
    release_hook = release_grows_medium;
    nmblocks = 0;
    for (int i = 0; i < n; i++)
        om_decref(g[i]);
    free(g);
    CHECK_COLLECT(2, n, "arena descriptor reuse (%s)", purge_now ? "purge delay 0" : "om_trim in a release hook");
    release_hook = NULL;
    CHECK(nmblocks > 0);
    for (int i = 0; i < nmblocks; i++)
        om_free(mblocks[i]);
    om_trim(1); /* the medium arenas go back: small arenas may take their descriptors */
    if (purge_now)
        om_option_set(OM_OPTION_PURGE_DELAY_MS, delay);

    /* held objects over many new small arenas: nothing to find */
    probe_dead = calloc(PROBES, 1);
    om_object **p = malloc(sizeof *p * PROBES);
    NEED(probe_dead != NULL && p != NULL);
    probes_freed = 0;
    for (int i = 0; i < PROBES; i++)
        p[i] = new_node(&probe_type, -(intptr_t)(i + 1));
    CHECK_COLLECT(2, 0, "%d held objects in new small arenas", PROBES);
    CHECK_MSG(probes_freed == 0, "%ld objects the test holds were freed (stale side bytes of a small "
              "arena whose descriptor served a medium arena during delete_fast)", probes_freed);
    for (int i = 0; i < PROBES; i++)
        if (!probe_dead[i]) /* a freed one's reference is leaked: its memory is gone */
            om_decref(p[i]);
    free(p);
    free(probe_dead);
    probe_dead = NULL;
}

static void test_arena_descriptor_reused_during_delete_fast(void)
{
    arena_desc_case(0);
    arena_desc_case(1);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_overflow_many_referrers),
        CHECK_CASE(test_overflow_hook_forms),
        CHECK_CASE(test_overflow_frozen_popular),
        CHECK_CASE(test_overflow_saveall_uncollectable),
        CHECK_CASE(test_overflow_items),
        CHECK_CASE(test_overflow_self_items),
        CHECK_CASE(test_overflow_old_popular),
        CHECK_CASE(test_medium_large_containers),
        CHECK_CASE(test_side_clean_after_young),
        CHECK_CASE(test_side_clean_random),
        CHECK_CASE(test_fast_outside_references),
        CHECK_CASE(test_fast_kept_after_garbage),
        CHECK_CASE(test_fast_release_hooks),
        CHECK_CASE(test_fast_free_list),
        CHECK_CASE(test_fast_mixed_paths),
        CHECK_CASE(test_fast_outside_finalizers_allocate),
        CHECK_CASE(test_resurrect_popular),
        CHECK_CASE(test_immutable_in_set),
        CHECK_CASE(test_large_descriptor_reused_during_delete_fast),
        CHECK_CASE(test_arena_descriptor_reused_during_delete_fast),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
