/*
 * test_gc_declared.c — declared references (om_type.ref_fields,
 * OM_TYPE_REF_ITEMS) and big containers in the collector.
 *
 * Part 1, the API: which declarations om_new refuses (EINVAL); the
 * traverse and clear objmem supplies (exactly the declared, non-NULL
 * references, fields scattered or in a run, then items); a hook the type
 * gives is used instead; cycles of such objects are collected; immutable
 * item containers of atomic objects are untracked.
 *
 * Part 2, big containers (1024 references or more, which the collector
 * visits in step with its scan through cursors, at most 4 at a time)
 * against a reachability model: random graphs of nodes of the four
 * reference forms (declared run, declared scattered, refs hook, traverse
 * only) and up to 7 big holders whose items are in creation order,
 * reversed, shuffled, or to objects made before or after the holder, with
 * NULLs, non-container objects and duplicates; random roots; then a
 * full collection (with and without finalizers, which make the collector
 * scan the unreachable a second time) or a young collection under old
 * holders.  Exactly the objects the model finds unreachable are freed,
 * and om_gc_collect returns their number.
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

/* ---- part 1: the API ---------------------------------------------------- */
typedef struct pair {
    om_object ob;
    om_object *a;
    intptr_t id;     /* not a reference */
    om_object *b;
} pair;

static int leaf_freed;
static void leaf_release(om_object *self) { (void)self; leaf_freed++; }
static om_type leaf_type = {.name = "leaf", .size = sizeof(om_object) + 16, .release = leaf_release};

/* GC, fields a and b scattered (words 2 and 4), no traverse, no clear */
static int pair_freed;
static void pair_release(om_object *self) { (void)self; pair_freed++; }
static om_type pair_type = {
    .name = "pair",
    .size = sizeof(pair),
    .flags = OM_TYPE_GC,
    .ref_fields = OM_REF_FIELD(pair, a) | OM_REF_FIELD(pair, b),
    .release = pair_release,
};

/* not a container, but holds a reference: objmem's clear drops it */
typedef struct box {
    om_object ob;
    om_object *v;
} box;
static om_type box_type = {.name = "box", .size = sizeof(box), .ref_fields = OM_REF_FIELD(box, v)};

/* a tuple: items only, immutable */
static om_type tup_type = {
    .name = "tup",
    .size = sizeof(om_varobject),
    .item_size = sizeof(om_object *),
    .flags = OM_TYPE_GC | OM_TYPE_GC_IMMUTABLE | OM_TYPE_REF_ITEMS,
};

/* fields and items: a record with a header reference and items */
typedef struct rec {
    om_varobject ob;
    om_object *head;
} rec;
static om_type rec_type = {
    .name = "rec",
    .size = sizeof(rec),
    .item_size = sizeof(om_object *),
    .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS,
    .ref_fields = OM_REF_FIELD(rec, head),
};

static void test_refused_declarations(void)
{
    static om_type no_refs = {.name = "x", .size = sizeof(pair), .flags = OM_TYPE_GC};
    static om_type header = {.name = "x", .size = sizeof(pair), .flags = OM_TYPE_GC, .ref_fields = 1};
    static om_type type_word = {.name = "x", .size = sizeof(pair), .flags = OM_TYPE_GC, .ref_fields = 2};
    static om_type outside = {.name = "x", .size = sizeof(pair), .flags = OM_TYPE_GC, .ref_fields = 1u << 5};
    static om_type nitems = {.name = "x", .size = sizeof(rec), .item_size = 8, .flags = OM_TYPE_GC,
                             .ref_fields = 1u << 2};
    static om_type items_size = {.name = "x", .size = sizeof(om_varobject), .item_size = 4,
                                 .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS};
    static om_type weak = {.name = "x", .size = sizeof(pair), .flags = OM_TYPE_GC,
                           .weaklist_offset = offsetof(pair, b), .ref_fields = OM_REF_FIELD(pair, b)};
    om_type *bad[] = {&no_refs, &header, &type_word, &outside, &weak};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK(om_new(bad[i]) == NULL);
        CHECK_EQ(errno, EINVAL);
    }
    errno = 0;
    CHECK(om_new_var(&nitems, 1) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(om_new_var(&items_size, 1) == NULL);
    CHECK_EQ(errno, EINVAL);
}

static om_refs hook_refs(om_object *self) { return (om_refs){&((box *)self)->v, 1}; }
static int hook_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    return ((box *)self)->v ? visit(((box *)self)->v, arg) : 0;
}

static void test_refused_with_hook(void)
{
    static om_type both = {.name = "x", .size = sizeof(box), .flags = OM_TYPE_GC, .traverse = hook_traverse,
                           .refs = hook_refs, .ref_fields = OM_REF_FIELD(box, v)};
    errno = 0;
    CHECK(om_new(&both) == NULL);
    CHECK_EQ(errno, EINVAL);
}

typedef struct seen {
    om_object *o[8];
    int n;
} seen;
static int visit_record(om_object *c, void *arg)
{
    seen *s = arg;
    if (s->n < 8)
        s->o[s->n] = c;
    s->n++;
    return 0;
}
static int visit_stop(om_object *c, void *arg)
{
    (void)c;
    return ++*(int *)arg == 2 ? 7 : 0;
}

static void test_supplied_traverse(void)
{
    om_object *x = om_new(&leaf_type), *y = om_new(&leaf_type), *z = om_new(&leaf_type);
    pair *p = (pair *)om_new(&pair_type);
    REQUIRE(x && y && z && p);
    p->id = 12345; /* never visited: not declared */
    seen s = {0};
    CHECK_EQ(om_traverse(OM_OBJ(p), visit_record, &s), 0);
    CHECK_EQ(s.n, 0); /* NULL fields are skipped */
    p->b = om_newref(y);
    s.n = 0;
    om_traverse(OM_OBJ(p), visit_record, &s);
    CHECK_EQ(s.n, 1);
    CHECK(s.o[0] == y);
    p->a = om_newref(x);
    s.n = 0;
    om_gc_get_referents(OM_OBJ(p), visit_record, &s);
    CHECK_EQ(s.n, 2);
    CHECK(s.o[0] == x && s.o[1] == y); /* in field order */

    rec *r = (rec *)om_new_var(&rec_type, 3);
    REQUIRE(r != NULL);
    r->head = om_newref(z);
    om_object **items = (om_object **)(r + 1);
    items[0] = om_newref(x);
    items[2] = om_newref(y);
    s.n = 0;
    om_traverse(OM_OBJ(r), visit_record, &s);
    CHECK_EQ(s.n, 3);
    CHECK(s.o[0] == z && s.o[1] == x && s.o[2] == y); /* fields, then items */
    int calls = 0;
    CHECK_EQ(om_traverse(OM_OBJ(r), visit_stop, &calls), 7); /* stops early, returns the visit's value */
    CHECK_EQ(calls, 2);

    /* objmem's clear: every reference dropped */
    leaf_freed = pair_freed = 0;
    om_decref(x);
    om_decref(y);
    om_decref(z);
    CHECK_EQ(leaf_freed, 0);
    om_decref(r);
    CHECK_EQ(leaf_freed, 1); /* z: only r held it */
    om_decref(p);
    CHECK_EQ(pair_freed, 1);
    CHECK_EQ(leaf_freed, 3);
}

static void test_non_container_clear(void)
{
    leaf_freed = 0;
    box *b = (box *)om_new(&box_type);
    REQUIRE(b != NULL);
    b->v = om_new(&leaf_type);
    REQUIRE(b->v != NULL);
    CHECK(!om_gc_is_tracked(OM_OBJ(b)));
    om_decref(b);
    CHECK_EQ(leaf_freed, 1);
}

static int given_traverse_calls, given_clear_calls;
static int given_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    given_traverse_calls++;
    pair *p = (pair *)self;
    int r;
    if (p->a && (r = visit(p->a, arg)) != 0)
        return r;
    return p->b ? visit(p->b, arg) : 0;
}
static void given_clear(om_object *self)
{
    given_clear_calls++;
    pair *p = (pair *)self;
    om_clear_ref(&p->a);
    om_clear_ref(&p->b);
}

static void test_given_hooks_win(void)
{
    om_gc_collect(2);
    static om_type t = {.name = "given", .size = sizeof(pair), .flags = OM_TYPE_GC,
                        .traverse = given_traverse, .clear = given_clear,
                        .ref_fields = OM_REF_FIELD(pair, a) | OM_REF_FIELD(pair, b)};
    pair *p = (pair *)om_new(&t), *q = (pair *)om_new(&t);
    REQUIRE(p && q);
    p->a = om_newref(OM_OBJ(q));
    q->b = om_newref(OM_OBJ(p));
    seen s = {0};
    given_traverse_calls = given_clear_calls = 0;
    om_traverse(OM_OBJ(p), visit_record, &s);
    CHECK_EQ(given_traverse_calls, 1);
    CHECK_EQ(s.n, 1);
    om_decref(p);
    om_decref(q);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(given_clear_calls, 2); /* the collector clears through the given hook */
}

static void test_declared_cycles_collected(void)
{
    om_gc_collect(2);
    pair_freed = 0;
    /* a self-reference, a 2-cycle through b, and a 1000-long ring */
    pair *self = (pair *)om_new(&pair_type);
    REQUIRE(self != NULL);
    self->a = om_newref(OM_OBJ(self));
    pair *p = (pair *)om_new(&pair_type), *q = (pair *)om_new(&pair_type);
    REQUIRE(p && q);
    p->b = om_newref(OM_OBJ(q));
    q->b = om_newref(OM_OBJ(p));
    pair *first = (pair *)om_new(&pair_type), *cur = first;
    REQUIRE(first != NULL);
    for (int i = 1; i < 1000; i++) {
        pair *n = (pair *)om_new(&pair_type);
        REQUIRE(n != NULL);
        cur->a = OM_OBJ(n); /* takes n's reference */
        cur = n;
    }
    cur->a = om_newref(OM_OBJ(first));
    /* who refers to first: the last of the ring */
    seen s = {0};
    om_gc_get_referrers(OM_OBJ(first), visit_record, &s);
    CHECK_EQ(s.n, 1);
    CHECK(s.o[0] == OM_OBJ(cur));
    om_decref(self);
    om_decref(p);
    om_decref(q);
    om_decref(first);
    CHECK_EQ(pair_freed, 0);
    CHECK_EQ(om_gc_collect(2), 1003);
    CHECK_EQ(pair_freed, 1003);
}

static void test_item_tuples_untracked(void)
{
    om_object *leaf = om_new(&leaf_type);
    om_varobject *t = (om_varobject *)om_new_var(&tup_type, 2);
    om_varobject *u = (om_varobject *)om_new_var(&tup_type, 1);
    pair *p = (pair *)om_new(&pair_type);
    REQUIRE(leaf && t && u && p);
    om_object **ti = (om_object **)(t + 1), **ui = (om_object **)(u + 1);
    ti[0] = om_newref(leaf);
    ti[1] = om_newref(leaf);
    ui[0] = om_newref(OM_OBJ(p)); /* a mutable container: stays tracked */
    CHECK(om_gc_is_tracked(OM_OBJ(t)) && om_gc_is_tracked(OM_OBJ(u)));
    om_gc_collect(2);
    CHECK(!om_gc_is_tracked(OM_OBJ(t)));
    CHECK(om_gc_is_tracked(OM_OBJ(u)));
    om_decref(t);
    om_decref(u);
    om_decref(p);
    om_decref(leaf);
}

/* ---- part 2: big containers against a model ------------------------------ */
#define MAXOBJ 20000
#define MAXH 7
#define MAXITEMS 3000

typedef struct node {
    om_object ob;
    om_object *a, *b;
    intptr_t id;
} node;
typedef struct snode { /* scattered */
    om_object ob;
    om_object *a;
    intptr_t id;
    om_object *b;
} snode;
typedef struct hold {
    om_varobject ob;
    intptr_t id;
} hold;

static int freed[MAXOBJ];
static int finalized[MAXOBJ];

static intptr_t obj_id(om_object *o);
static void any_release(om_object *self) { freed[obj_id(self)]++; }
static void any_finalize(om_object *self) { finalized[obj_id(self)]++; }
static int node_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    int r;
    if (n->a && (r = visit(n->a, arg)) != 0)
        return r;
    return n->b ? visit(n->b, arg) : 0;
}
static void node_clear(om_object *self)
{
    node *n = (node *)self;
    om_clear_ref(&n->a);
    om_clear_ref(&n->b);
}
static om_refs node_refs(om_object *self) { return (om_refs){&((node *)self)->a, 2}; }

#define NODE_FIELDS (OM_REF_FIELD(node, a) | OM_REF_FIELD(node, b))
#define SNODE_FIELDS (OM_REF_FIELD(snode, a) | OM_REF_FIELD(snode, b))
/* [finalizer?][form]: declared run, declared scattered, refs hook, traverse */
static om_type ntypes[2][4] = {
    {
        {.name = "n-run", .size = sizeof(node), .flags = OM_TYPE_GC, .ref_fields = NODE_FIELDS,
         .release = any_release},
        {.name = "n-scattered", .size = sizeof(snode), .flags = OM_TYPE_GC, .ref_fields = SNODE_FIELDS,
         .release = any_release},
        {.name = "n-hook", .size = sizeof(node), .flags = OM_TYPE_GC, .traverse = node_traverse,
         .clear = node_clear, .refs = node_refs, .release = any_release},
        {.name = "n-traverse", .size = sizeof(node), .flags = OM_TYPE_GC, .traverse = node_traverse,
         .clear = node_clear, .release = any_release},
    },
    {
        {.name = "nf-run", .size = sizeof(node), .flags = OM_TYPE_GC, .ref_fields = NODE_FIELDS,
         .release = any_release, .finalize = any_finalize},
        {.name = "nf-scattered", .size = sizeof(snode), .flags = OM_TYPE_GC, .ref_fields = SNODE_FIELDS,
         .release = any_release, .finalize = any_finalize},
        {.name = "nf-hook", .size = sizeof(node), .flags = OM_TYPE_GC, .traverse = node_traverse,
         .clear = node_clear, .refs = node_refs, .release = any_release, .finalize = any_finalize},
        {.name = "nf-traverse", .size = sizeof(node), .flags = OM_TYPE_GC, .traverse = node_traverse,
         .clear = node_clear, .release = any_release, .finalize = any_finalize},
    },
};
static om_type hold_type = {.name = "hold", .size = sizeof(hold), .item_size = sizeof(om_object *),
                            .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS, .release = any_release};
static om_type atom_type = {.name = "atom", .size = sizeof(om_object) + 8};

static intptr_t obj_id(om_object *o)
{
    if (o->type == &hold_type)
        return ((hold *)o)->id;
    if (o->type == &ntypes[0][1] || o->type == &ntypes[1][1])
        return ((snode *)o)->id;
    return ((node *)o)->id;
}
static om_object **slot(om_object *o, int k)
{
    if (o->type == &ntypes[0][1] || o->type == &ntypes[1][1])
        return k ? &((snode *)o)->b : &((snode *)o)->a;
    return k ? &((node *)o)->b : &((node *)o)->a;
}
static om_object **items_of(hold *h) { return (om_object **)(h + 1); }

/* the model: objects by id, their out-edges by id (-1: none or an atom) */
static om_object *obj[MAXOBJ];
static int nobj, is_hold[MAXOBJ], nitems_of[MAXOBJ];
static int *edges[MAXOBJ];
static int rooted[MAXOBJ], mark[MAXOBJ], queue[MAXOBJ];

static void model_reach(const int *src, int nsrc)
{
    memset(mark, 0, sizeof(int) * (size_t)nobj);
    int qh = 0, qt = 0;
    for (int i = 0; i < nsrc; i++)
        if (!mark[src[i]]) {
            mark[src[i]] = 1;
            queue[qt++] = src[i];
        }
    while (qh < qt) {
        int i = queue[qh++];
        int ne = is_hold[i] ? nitems_of[i] : 2;
        for (int k = 0; k < ne; k++) {
            int t = edges[i][k];
            if (t >= 0 && !mark[t]) {
                mark[t] = 1;
                queue[qt++] = t;
            }
        }
    }
}

static int new_node(uint64_t *rng, int fin)
{
    int id = nobj++;
    NEED(id < MAXOBJ);
    om_object *o = om_new(&ntypes[fin][tu_range(rng, 0, 3)]);
    NEED(o != NULL);
    if (o->type == &ntypes[0][1] || o->type == &ntypes[1][1])
        ((snode *)o)->id = id;
    else
        ((node *)o)->id = id;
    obj[id] = o;
    is_hold[id] = 0;
    edges[id] = calloc(2, sizeof(int));
    NEED(edges[id] != NULL);
    edges[id][0] = edges[id][1] = -1;
    return id;
}

static int new_hold(int n)
{
    int id = nobj++;
    NEED(id < MAXOBJ);
    hold *h = (hold *)om_new_var(&hold_type, n);
    NEED(h != NULL);
    h->id = id;
    obj[id] = OM_OBJ(h);
    is_hold[id] = 1;
    nitems_of[id] = n;
    edges[id] = malloc(sizeof(int) * (size_t)n);
    NEED(edges[id] != NULL);
    for (int k = 0; k < n; k++)
        edges[id][k] = -1;
    return id;
}

static void set_edge(int from, int k, int to)
{
    om_object **s = is_hold[from] ? &items_of((hold *)obj[from])[k] : slot(obj[from], k);
    REQUIRE(*s == NULL);
    *s = om_newref(obj[to]);
    edges[from][k] = to;
}

/* Fill holder h's items from the node ids in order[0..n), with NULLs,
 * atoms and duplicates mixed in. */
static void fill_hold(uint64_t *rng, int h, const int *order, int n)
{
    hold *hp = (hold *)obj[h];
    for (int k = 0; k < n; k++) {
        if (items_of(hp)[k])
            continue; /* set already */
        unsigned r = (unsigned)tu_range(rng, 0, 99);
        if (r < 8)
            continue; /* NULL */
        if (r < 12) {
            items_of(hp)[k] = om_new(&atom_type);
            REQUIRE(items_of(hp)[k] != NULL);
            continue;
        }
        int t = order[k];
        if (r < 15 && k > 0 && edges[h][k - 1] >= 0)
            t = edges[h][k - 1]; /* a duplicate */
        set_edge(h, k, t);
    }
}

static void shuffle(uint64_t *rng, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)tu_range(rng, 0, (size_t)i), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static int failures;
static void check_freed(const char *what, uint64_t seed, int expect_freed_unmarked)
{
    int bad = 0;
    for (int i = 0; i < nobj; i++) {
        int want = expect_freed_unmarked ? !mark[i] : 0;
        if (freed[i] != want && bad++ < 5)
            fprintf(stderr, "%s seed %llu: object %d (%s%s) freed %d times, model says %d\n", what,
                    (unsigned long long)seed, i, is_hold[i] ? "holder" : "node",
                    rooted[i] ? ", rooted" : "", freed[i], want);
    }
    CHECK_EQ(bad, 0);
    failures += bad != 0;
}

static void model_reset(void)
{
    for (int i = 0; i < nobj; i++)
        free(edges[i]);
    nobj = 0;
    memset(freed, 0, sizeof freed);
    memset(finalized, 0, sizeof finalized);
    memset(rooted, 0, sizeof rooted);
}

/* One full collection of a random heap with big holders. */
static void big_full(uint64_t seed, int fin)
{
    uint64_t rng = seed;
    model_reset();
    om_gc_collect(2);
    int nn = (int)tu_range(&rng, 2000, 6000), nh = (int)tu_range(&rng, 1, MAXH);
    int before = (int)tu_range(&rng, 0, nh); /* holders made before the nodes */
    int hid[MAXH];
    int sizes[MAXH];
    for (int h = 0; h < nh; h++)
        sizes[h] = (int)tu_range(&rng, 1024, MAXITEMS);
    for (int h = 0; h < before; h++)
        hid[h] = new_hold(sizes[h]);
    int first = nobj;
    for (int i = 0; i < nn; i++)
        new_node(&rng, fin && tu_range(&rng, 0, 3) == 0);
    for (int h = before; h < nh; h++)
        hid[h] = new_hold(sizes[h]);
    /* node edges: mostly to neighbours (local), some anywhere */
    for (int i = first; i < first + nn; i++)
        for (int k = 0; k < 2; k++) {
            unsigned r = (unsigned)tu_range(&rng, 0, 99);
            if (r < 30)
                continue;
            int t = r < 80 ? i + (int)tu_range(&rng, 0, 4) - 2 : first + (int)tu_range(&rng, 0, (size_t)nn - 1);
            if (t < first || t >= first + nn)
                t = i;
            set_edge(i, k, t);
        }
    /* holder items: in order, reversed, shuffled */
    int *order = malloc(sizeof(int) * MAXITEMS);
    REQUIRE(order != NULL);
    for (int h = 0; h < nh; h++) {
        int n = sizes[h], mode = (int)tu_range(&rng, 0, 2);
        int start = first + (int)tu_range(&rng, 0, (size_t)(nn > n ? nn - n : 0));
        for (int k = 0; k < n; k++)
            order[k] = first + (start - first + k) % nn;
        if (mode == 1)
            for (int k = 0; k < n / 2; k++) {
                int t = order[k];
                order[k] = order[n - 1 - k];
                order[n - 1 - k] = t;
            }
        else if (mode == 2)
            shuffle(&rng, order, n);
        fill_hold(&rng, hid[h], order, n);
    }
    free(order);
    /* roots: some holders, a few nodes; drop the rest */
    int roots[MAXOBJ], nr = 0;
    for (int i = 0; i < nobj; i++) {
        int keep = is_hold[i] ? tu_range(&rng, 0, 2) == 0 : tu_range(&rng, 0, 199) == 0;
        if (keep) {
            rooted[i] = 1;
            roots[nr++] = i;
        }
    }
    for (int i = 0; i < nobj; i++)
        if (!rooted[i])
            om_decref(obj[i]);
    /* nothing is freed by counting: every node is referenced or cyclic?
     * Not so: a node nobody refers to dies now.  The model: the reachable
     * from the roots survive; the rest die, now or in the collection. */
    model_reach(roots, nr);
    int dead_now = 0;
    for (int i = 0; i < nobj; i++)
        dead_now += freed[i];
    int unreachable = 0;
    for (int i = 0; i < nobj; i++)
        unreachable += !mark[i];
    long got = om_gc_collect(2);
    CHECK_EQ(got, (long)(unreachable - dead_now));
    check_freed(fin ? "big_full(finalizers)" : "big_full", seed, 1);
    for (int i = 0; i < nobj; i++)
        if (fin && freed[i] && finalized[i] > 1)
            CHECK_EQ(finalized[i], 1);
    for (int i = 0; i < nr; i++)
        om_decref(obj[roots[i]]);
    om_gc_collect(2);
    for (int i = 0; i < nobj; i++)
        CHECK_EQ(freed[i], 1);
}

static void test_big_containers_full(void)
{
    for (uint64_t s = 1; s <= 12; s++)
        big_full(s * 7919, 0);
}

static void test_big_containers_finalizers(void)
{
    for (uint64_t s = 1; s <= 6; s++)
        big_full(s * 104729, 1);
}

/* Old holders (promoted by a full collection, some of them garbage by
 * now) refer to young nodes: a young collection treats them as outside
 * references, whatever becomes of them later. */
static void big_young(uint64_t seed)
{
    uint64_t rng = seed;
    model_reset();
    om_gc_collect(2);
    int nh = (int)tu_range(&rng, 1, MAXH), hid[MAXH];
    for (int h = 0; h < nh; h++) {
        hid[h] = new_hold((int)tu_range(&rng, 1024, MAXITEMS));
        rooted[hid[h]] = tu_range(&rng, 0, 1) == 0;
    }
    for (int h = 0; h < nh; h++)
        if (!rooted[hid[h]])
            set_edge(hid[h], 0, hid[h]); /* it will outlive our reference: a cycle */
    om_gc_collect(2); /* holders are old now (we still hold all of them) */
    int first = nobj, nn = (int)tu_range(&rng, 2000, 6000);
    for (int i = 0; i < nn; i++)
        new_node(&rng, 0);
    for (int i = first; i < first + nn; i++) /* rings of 2..5 */
        set_edge(i, 0, i + 1 < first + nn && tu_range(&rng, 0, 4) ? i + 1 : i);
    int *order = malloc(sizeof(int) * MAXITEMS);
    REQUIRE(order != NULL);
    for (int h = 0; h < nh; h++) {
        int n = nitems_of[hid[h]];
        for (int k = 0; k < n; k++)
            order[k] = first + (int)tu_range(&rng, 0, (size_t)nn - 1);
        if (tu_range(&rng, 0, 1)) {
            for (int k = 0; k < n; k++)
                order[k] = first + k % nn;
        }
        fill_hold(&rng, hid[h], order, n);
    }
    free(order);
    for (int i = first; i < first + nn; i++)
        om_decref(obj[i]);
    for (int h = 0; h < nh; h++)
        if (!rooted[hid[h]])
            om_decref(obj[hid[h]]); /* garbage (its own cycle), but old: outside a young collection */
    int src[MAXH], ns = 0;
    for (int h = 0; h < nh; h++)
        src[ns++] = hid[h];
    model_reach(src, ns);
    for (int h = 0; h < nh; h++)
        mark[hid[h]] = 1; /* not in the young collection */
    int dead_now = 0, unreachable = 0;
    for (int i = 0; i < nobj; i++) {
        dead_now += freed[i];
        unreachable += !mark[i];
    }
    CHECK_EQ(om_gc_collect(0), (long)(unreachable - dead_now));
    check_freed("big_young", seed, 1);
    /* the full collection takes the unrooted holders and what only they hold */
    int roots[MAXH], nr = 0;
    for (int h = 0; h < nh; h++)
        if (rooted[hid[h]])
            roots[nr++] = hid[h];
    model_reach(roots, nr);
    om_gc_collect(2);
    check_freed("big_young, then full", seed, 1);
    for (int i = 0; i < nr; i++)
        om_decref(obj[roots[i]]);
    om_gc_collect(2);
    for (int i = 0; i < nobj; i++)
        CHECK_EQ(freed[i], 1);
}

static void test_big_containers_young(void)
{
    for (uint64_t s = 1; s <= 8; s++)
        big_young(s * 15485863);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_refused_declarations),
        CHECK_CASE(test_refused_with_hook),
        CHECK_CASE(test_supplied_traverse),
        CHECK_CASE(test_non_container_clear),
        CHECK_CASE(test_given_hooks_win),
        CHECK_CASE(test_declared_cycles_collected),
        CHECK_CASE(test_item_tuples_untracked),
        CHECK_CASE(test_big_containers_full),
        CHECK_CASE(test_big_containers_finalizers),
        CHECK_CASE(test_big_containers_young),
    };
    int rc = check_main(cases, CHECK_COUNT(cases), argc, argv);
    model_reset();
    return rc;
}
