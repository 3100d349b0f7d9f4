/*
 * test_gc_declared_model.c — big containers of declared references
 * (OM_TYPE_REF_ITEMS: 1024 references or more, which the collector visits
 * in step with its scan through cursors, at most 4 at a time) against a
 * reachability model: random graphs of nodes of the four reference forms
 * (declared run, declared scattered, refs hook, traverse only) and up to 7
 * big holders whose items are in creation order, reversed, shuffled, or to
 * objects made before or after the holder, with NULLs, non-container
 * objects and duplicates; random roots; then a full collection (with and
 * without finalizers, which make the collector scan the unreachable a
 * second time) or a young collection under old holders.  Exactly the
 * objects the model finds unreachable are freed, and om_gc_collect returns
 * their number.  The declarations themselves: test_gc_declared.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"
#include "gctest.h"

#define MAXOBJ 20000
#define MAXH 7
#define MAXITEMS 3000

/* nodes: gt_node (a, b in a run) and gt_snode (scattered); holders:
 * gt_vec (gctest.h) */

static int freed[MAXOBJ];
static int finalized[MAXOBJ];

static intptr_t obj_id(om_object *o);
static void any_release(om_object *self) { freed[obj_id(self)]++; }
static void any_finalize(om_object *self) { finalized[obj_id(self)]++; }
/* [finalizer?][form]: declared run, declared scattered, refs hook, traverse */
static om_type ntypes[2][4] = {
    {
        {OM_TYPE_INIT, .name = "n-run", .size = sizeof(gt_node), .flags = OM_TYPE_GC, .ref_fields = GT_NODE_REFS,
         .release = any_release},
        {OM_TYPE_INIT, .name = "n-scattered", .size = sizeof(gt_snode), .flags = OM_TYPE_GC, .ref_fields = GT_SNODE_REFS,
         .release = any_release},
        {OM_TYPE_INIT, .name = "n-hook", .size = sizeof(gt_node), .flags = OM_TYPE_GC, .traverse = gt_node_traverse,
         .clear = gt_node_clear, .refs = gt_node_refs, .release = any_release},
        {OM_TYPE_INIT, .name = "n-traverse", .size = sizeof(gt_node), .flags = OM_TYPE_GC, .traverse = gt_node_traverse,
         .clear = gt_node_clear, .release = any_release},
    },
    {
        {OM_TYPE_INIT, .name = "nf-run", .size = sizeof(gt_node), .flags = OM_TYPE_GC, .ref_fields = GT_NODE_REFS,
         .release = any_release, .finalize = any_finalize},
        {OM_TYPE_INIT, .name = "nf-scattered", .size = sizeof(gt_snode), .flags = OM_TYPE_GC, .ref_fields = GT_SNODE_REFS,
         .release = any_release, .finalize = any_finalize},
        {OM_TYPE_INIT, .name = "nf-hook", .size = sizeof(gt_node), .flags = OM_TYPE_GC, .traverse = gt_node_traverse,
         .clear = gt_node_clear, .refs = gt_node_refs, .release = any_release, .finalize = any_finalize},
        {OM_TYPE_INIT, .name = "nf-traverse", .size = sizeof(gt_node), .flags = OM_TYPE_GC, .traverse = gt_node_traverse,
         .clear = gt_node_clear, .release = any_release, .finalize = any_finalize},
    },
};
static om_type hold_type = {OM_TYPE_INIT, .name = "hold", .size = sizeof(gt_vec), .item_size = sizeof(om_object *),
                            .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS, .release = any_release};
static om_type atom_type = {OM_TYPE_INIT, .name = "atom", .size = sizeof(om_object) + 8};

static intptr_t obj_id(om_object *o)
{
    if (o->type == &hold_type)
        return ((gt_vec *)o)->id;
    if (o->type == &ntypes[0][1] || o->type == &ntypes[1][1])
        return ((gt_snode *)o)->id;
    return ((gt_node *)o)->id;
}
static om_object **slot(om_object *o, int k)
{
    if (o->type == &ntypes[0][1] || o->type == &ntypes[1][1])
        return k ? &((gt_snode *)o)->b : &((gt_snode *)o)->a;
    return k ? &((gt_node *)o)->b : &((gt_node *)o)->a;
}

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
        ((gt_snode *)o)->id = id;
    else
        ((gt_node *)o)->id = id;
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
    gt_vec *h = (gt_vec *)om_new_var(&hold_type, n);
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
    om_object **s = is_hold[from] ? &gt_items(obj[from])[k] : slot(obj[from], k);
    REQUIRE(*s == NULL);
    *s = om_newref(obj[to]);
    edges[from][k] = to;
}

/* Fill holder h's items from the node ids in order[0..n), with NULLs,
 * atoms and duplicates mixed in. */
static void fill_hold(uint64_t *rng, int h, const int *order, int n)
{
    om_object *hp = obj[h];
    for (int k = 0; k < n; k++) {
        if (gt_items(hp)[k])
            continue; /* set already */
        unsigned r = (unsigned)tu_range(rng, 0, 99);
        if (r < 8)
            continue; /* NULL */
        if (r < 12) {
            gt_items(hp)[k] = om_new(&atom_type);
            REQUIRE(gt_items(hp)[k] != NULL);
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
        CHECK_CASE(test_big_containers_full),
        CHECK_CASE(test_big_containers_finalizers),
        CHECK_CASE(test_big_containers_young),
    };
    int rc = check_main(cases, CHECK_COUNT(cases), argc, argv);
    model_reset();
    return rc;
}
