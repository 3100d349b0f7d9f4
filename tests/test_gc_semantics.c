/*
 * test_gc_semantics.c — the cycle collector (objmem.h §11) held to
 * CPython's gc semantics where objmem once differed:
 *
 *   immutable containers (tuples): CPython untracks, in every collection,
 *   each surviving tuple whose items are all atomic (Python/gc.c,
 *   untrack_tuples(young) after deduce_unreachable; _PyTuple_MaybeUntrack),
 *   whatever the order the objects were allocated in; a nest of two tuples
 *   needs at most two collections (Lib/test/test_tuple.py, _not_tracked:
 *   "Nested tuples can take several collections to untrack", two
 *   gc.collect()).  Here: a tuple created before the container that holds
 *   it (so the scan first finds it unreferenced from outside, and keeps it
 *   only when its holder is scanned), on every path a collection takes
 *   (nothing unreachable, plain garbage freed by omi_gc_delete_fast,
 *   garbage that needs the ordinary path); a nest of two in every order of
 *   creation; never a tuple holding a container that is still tracked,
 *   whatever the order; rounds of all of it beside garbage of every kind,
 *   each collection finding exactly that garbage (side table left clean);
 *
 *   the garbage list: only objects that cannot be freed go there (CPython's
 *   gc.garbage gets the uncollectable objects only, handle_legacy_finalizers;
 *   with DEBUG_SAVEALL, every unreachable object).  An object without clear
 *   in a cycle with objects that have one is freed once their clear breaks
 *   the cycle (CPython clears whatever has tp_clear); one that its own
 *   cycle of objects without clear holds cannot be freed: it goes to the
 *   garbage list, intact (no finalizer, weak references kept, as CPython's
 *   legacy finalizers in test_finalization), and what it reaches stays
 *   intact and alive but is not listed; the statistics count all of those
 *   uncollectable (CPython's n), the rest collected; SAVEALL; long chains
 *   (no recursion, linear); an object without clear reads what it holds
 *   from release, after its neighbours' clear (safe: run under ASan).
 */
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

static int quiet;
static int released[MAXID], cleared[MAXID], finalized[MAXID];
static unsigned long n_released, n_cleared, n_finalized;

static void note(int *counts, unsigned long *total, char tag, long id)
{
    (*total)++;
    if (id >= 0 && id < MAXID)
        counts[id]++;
    if (!quiet)
        ot_ev("%c%ld", tag, id);
}

static int node_traverse(om_object *self, om_visit_fn visit, void *arg)
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

static void node_clear(om_object *self)
{
    node *n = (node *)self;
    if (!n->was_cleared) {
        n->was_cleared = 1;
        note(cleared, &n_cleared, 'C', n->id);
    }
    for (int i = 0; i < NSLOT; i++)
        om_clear_ref(&n->ref[i]);
}

static void node_release(om_object *self) { note(released, &n_released, 'R', ((node *)self)->id); }

/* No clear: destruction drops the references here.  Each referent is
 * read first: it must still be alive (this node holds it). */
static volatile intptr_t sink;
static void nnode_release(om_object *self)
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

static void node_finalize(om_object *self) { note(finalized, &n_finalized, 'F', ((node *)self)->id); }

static om_type cnode_type = {
    .name = "cnode",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(node, weaklist),
    .traverse = node_traverse,
    .clear = node_clear,
    .release = node_release,
};

static om_type nnode_type = {
    .name = "nnode",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(node, weaklist),
    .traverse = node_traverse,
    .release = nnode_release,
};

static om_type fnnode_type = {
    .name = "fnnode",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(node, weaklist),
    .traverse = node_traverse,
    .finalize = node_finalize,
    .release = nnode_release,
};

static om_type dnode_type = {
    .name = "dnode",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .ref_fields = OM_REF_FIELD(node, ref[0]) | OM_REF_FIELD(node, ref[1]) | OM_REF_FIELD(node, ref[2]) |
                  OM_REF_FIELD(node, ref[3]),
    .release = node_release,
};

static node *mk(om_type *t, long id)
{
    node *n = (node *)om_new(t);
    if (n != NULL)
        n->id = id;
    return n;
}

/* n->ref[slot] = a new reference to target (or NULL); drops the old one */
static void set_ref(node *n, int slot, void *target)
{
    om_object *old = n->ref[slot];
    n->ref[slot] = target ? om_newref(OM_OBJ(target)) : NULL;
    om_xdecref(old);
}

static void reset_counters(void)
{
    memset(released, 0, sizeof released);
    memset(cleared, 0, sizeof cleared);
    memset(finalized, 0, sizeof finalized);
    n_released = n_cleared = n_finalized = 0;
    ot_log_reset();
}

static void gc_reset(void)
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
static int visit_find(om_object *o, void *arg)
{
    struct find *f = arg;
    if ((const void *)o == f->target) {
        f->found++;
        return 1;
    }
    return 0;
}

/* The generation o is tracked in (0..2), or -1 */
static int gen_of(const void *o)
{
    for (int g = 0; g < OM_GC_GENERATIONS; g++) {
        struct find f = { o, 0 };
        om_gc_get_objects(g, visit_find, &f);
        if (f.found)
            return g;
    }
    return -1;
}

static int in_garbage(const void *o)
{
    struct find f = { o, 0 };
    om_gc_garbage_visit(visit_find, &f);
    return f.found;
}

/* What the last collection reported to its callback. */
static long cb_collected = -1, cb_uncollectable = -1;
static void recorder(om_gc_phase phase, const om_gc_info *info, void *arg)
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
static outcome collect_checked(int gen)
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

/* ------------------------------------------------------------ tuples */

static om_object *tuple2(om_object *a, om_object *b) /* steals both */
{
    om_object *t = ex_tuple_new(2);
    if (t == NULL) {
        om_xdecref(a);
        om_xdecref(b);
        return NULL;
    }
    ex_tuple_set_item(t, 0, a);
    ex_tuple_set_item(t, 1, b);
    return t;
}

static om_object *tuple1(om_object *a) /* steals */
{
    om_object *t = ex_tuple_new(1);
    if (t == NULL) {
        om_xdecref(a);
        return NULL;
    }
    ex_tuple_set_item(t, 0, a);
    return t;
}

/* The kinds of garbage that pick a collection's path: none, plain garbage
 * (declared references, no hooks: omi_gc_delete_fast), garbage with a
 * clear hook, a finalizer and a weak reference (the ordinary path). */
enum { G_NONE, G_PLAIN, G_HOOKS, G_KINDS };
static const char *const gkind_name[] = { "no garbage", "plain garbage", "garbage with hooks" };

/* Make a two-node cycle of that kind, unreferenced; returns how many
 * objects it has. */
static long make_garbage(int kind, long id)
{
    if (kind == G_NONE)
        return 0;
    node *a = mk(kind == G_PLAIN ? &dnode_type : &cnode_type, id);
    node *b = mk(kind == G_PLAIN ? &dnode_type : &cnode_type, id + 1);
    NEED(a != NULL && b != NULL);
    set_ref(a, 0, b);
    set_ref(b, 0, a);
    om_decref(a);
    om_decref(b);
    return 2;
}

/* A tuple of atomic objects (numbers, a string) created before the
 * container that holds it: first found with no reference from outside
 * the set, then kept when its holder is scanned.  CPython untracks it in
 * that first collection (untrack_tuples runs over the survivors, whatever
 * their order); so must objmem, on every path a collection takes, for a
 * holder of each kind, in a young and in a full collection. */
static void test_tuple_before_holder_untracked(void)
{
    for (int kind = 0; kind < G_KINDS; kind++) {
        for (int holder_kind = 0; holder_kind < 3; holder_kind++) {
            for (int gen = 0; gen <= 2; gen += 2) {
                gc_reset();
                om_object *t = tuple2(ex_int_new(1), ex_str_from("atom"));
                REQUIRE(t != NULL);
                om_object *h = NULL;
                if (holder_kind == 0) {
                    h = ex_list_new(0);
                    REQUIRE(h != NULL);
                    REQUIRE_EQ(ex_list_append(h, t), 0);
                } else if (holder_kind == 1) {
                    h = ex_dict_new();
                    om_object *k = ex_str_from("key");
                    REQUIRE(h != NULL && k != NULL);
                    REQUIRE_EQ(ex_dict_set(h, k, t), 0);
                    om_decref(k);
                } else {
                    h = OM_OBJ(mk(&cnode_type, 1));
                    REQUIRE(h != NULL);
                    set_ref((node *)h, 0, t);
                }
                om_decref(t); /* the holder's reference only */
                long want = make_garbage(kind, 10);
                CHECK(om_gc_is_tracked(t));
                long r = om_gc_collect(gen);
                CHECK_EQ(r, want);
                CHECK_MSG(!om_gc_is_tracked(t),
                          "tuple (1, \"atom\") created before its holder (%s), %s: still tracked "
                          "after its first collection (generation %d)",
                          holder_kind == 0 ? "list" : holder_kind == 1 ? "dict" : "node", gkind_name[kind],
                          gen);
                CHECK(om_gc_is_tracked(h));
                /* costs nothing after: only the holder is left to examine */
                CHECK_EQ(om_gc_count_objects(-1), 1);
                CHECK_EQ(ex_int_value(ex_tuple_get_item(t, 0)), 1);
                om_decref(h);
                CHECK_EQ(om_gc_count_objects(-1), 0);
            }
        }
    }
}

/* Many tuples, all made before the list that holds them, next to
 * garbage: one collection untracks every one of them, and the
 * collections after it still find exactly the garbage (the side table
 * was left clean). */
static void test_many_tuples_before_holder(void)
{
    enum { N = 5000 };
    for (int kind = 0; kind < G_KINDS; kind++) {
        gc_reset();
        quiet = 1;
        uint64_t t0 = ot_live(&ex_tuple_type);
        om_object **tup = malloc(N * sizeof *tup);
        REQUIRE(tup != NULL);
        for (int i = 0; i < N; i++) {
            tup[i] = tuple2(ex_int_new(i), ex_float_new(i + 0.5));
            REQUIRE(tup[i] != NULL);
        }
        om_object *l = ex_list_new(0);
        REQUIRE(l != NULL);
        for (int i = 0; i < N; i++) {
            REQUIRE_EQ(ex_list_append(l, tup[i]), 0);
            om_decref(tup[i]);
        }
        long want = make_garbage(kind, 10);
        CHECK_EQ(om_gc_collect(0), want);
        size_t still = 0;
        for (int i = 0; i < N; i++)
            still += om_gc_is_tracked(tup[i]) != 0;
        CHECK_MSG(still == 0, "%s: %zu of %d tuples made before their list still tracked", gkind_name[kind],
                  still, N);
        CHECK_EQ(om_gc_count_objects(-1), 1);
        for (int round = 0; round < 3; round++) {
            want = make_garbage(round % 2 ? G_PLAIN : G_HOOKS, 20);
            CHECK_EQ(om_gc_collect(round), want);
            CHECK_EQ(om_gc_count_objects(-1), 1);
        }
        om_decref(l);
        free(tup);
        CHECK_EQ(ot_live(&ex_tuple_type), t0);
        CHECK_EQ(om_gc_count_objects(-1), 0);
    }
}

/* ((1, 2),): at most two collections untrack both, whichever tuple was
 * made first and whether the nest is held from outside or by a list
 * made after it (CPython: test_tuple's _not_tracked, two collections). */
static void test_nested_tuple_two_collections(void)
{
    for (int outer_first = 0; outer_first < 2; outer_first++) {
        for (int held_by_list = 0; held_by_list < 2; held_by_list++) {
            for (int kind = 0; kind < G_KINDS; kind++) {
                gc_reset();
                om_object *inner, *outer;
                if (outer_first) {
                    outer = ex_tuple_new(1);
                    inner = tuple2(ex_int_new(1), ex_int_new(2));
                    REQUIRE(outer != NULL && inner != NULL);
                    ex_tuple_set_item(outer, 0, inner);
                } else {
                    inner = tuple2(ex_int_new(1), ex_int_new(2));
                    REQUIRE(inner != NULL);
                    outer = tuple1(inner);
                    REQUIRE(outer != NULL);
                }
                om_object *l = NULL;
                if (held_by_list) {
                    l = ex_list_new(0);
                    REQUIRE(l != NULL);
                    REQUIRE_EQ(ex_list_append(l, outer), 0);
                    om_decref(outer);
                }
                int n;
                for (n = 1; n <= 3; n++) {
                    long want = make_garbage(kind, 10 + 2 * n);
                    CHECK_EQ(om_gc_collect(2), want);
                    if (!om_gc_is_tracked(outer) && !om_gc_is_tracked(inner))
                        break;
                }
                CHECK_MSG(n <= 2,
                          "((1, 2),), %s made first, held %s, %s: %s collections to untrack (CPython: 2)",
                          outer_first ? "outer" : "inner", held_by_list ? "by a list made after it" : "from outside",
                          gkind_name[kind], n > 3 ? "more than 3" : n == 3 ? "3" : "?");
                if (held_by_list)
                    om_decref(l);
                else
                    om_decref(outer);
                om_gc_collect(2);
                CHECK_EQ(om_gc_count_objects(-1), 0);
            }
        }
    }
}

/* Never untracked while it holds a tracked container, in any order: a
 * tuple (made first) holding a tuple that holds a list, all held by a
 * list made last.  Then the inner list closes a cycle through the outer
 * tuple: the cycle must be found. */
static void test_late_tuple_of_container_stays_tracked(void)
{
    for (int order = 0; order < 3; order++) {
        gc_reset();
        uint64_t t0 = ot_live(&ex_tuple_type);
        om_object *m = NULL, *x = NULL, *t = NULL;
        if (order == 0) { /* t, m, x */
            t = ex_tuple_new(1);
            m = ex_list_new(0);
            x = tuple2(om_newref(m), ex_int_new(1));
        } else if (order == 1) { /* m, t, x */
            m = ex_list_new(0);
            t = ex_tuple_new(1);
            x = tuple2(om_newref(m), ex_int_new(1));
        } else { /* m, x, t */
            m = ex_list_new(0);
            x = tuple2(om_newref(m), ex_int_new(1));
            t = ex_tuple_new(1);
        }
        REQUIRE(m != NULL && x != NULL && t != NULL);
        ex_tuple_set_item(t, 0, x); /* steals x */
        om_object *h = ex_list_new(0);
        REQUIRE(h != NULL);
        REQUIRE_EQ(ex_list_append(h, t), 0);
        om_decref(t);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ(om_gc_collect(i % 2 ? 2 : 0), 0);
            CHECK_MSG(om_gc_is_tracked(t) && om_gc_is_tracked(x),
                      "order %d: a tuple holding a list stopped being tracked (t %d, x %d)", order,
                      om_gc_is_tracked(t), om_gc_is_tracked(x));
        }
        /* m -> t -> x -> m, and nothing else holds any of them */
        REQUIRE_EQ(ex_list_append(m, t), 0);
        om_decref(m);
        om_decref(h); /* drops t */
        long r = om_gc_collect(2);
        CHECK_MSG(r == 3, "order %d: the cycle list -> tuple -> tuple -> list: om_gc_collect(2) = %ld, want 3",
                  order, r);
        CHECK_EQ(ot_live(&ex_tuple_type), t0);
        CHECK_EQ(om_gc_count_objects(-1), 0);
    }
}

/* Rounds of: tuples of atomic objects (some nested) made before the
 * lists that hold them, tuples that hold lists (never untracked), cycles
 * through tuples made before or after their lists, plain and hooked
 * garbage, old holders dropped; a collection of a rotating generation
 * after each.  Each collection finds exactly the garbage made since the
 * last one (stale side bytes would make objects look referenced or
 * unreachable), and every atomic tuple that has been through two
 * collections is untracked. */
static uint64_t rng_state = 88172645463325252u;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static void test_tuples_and_garbage_rounds(void)
{
    enum { ROUNDS = 60, HOLDERS = 16, PER = 40 };
    gc_reset();
    quiet = 1;
    uint64_t t0 = ot_live(&ex_tuple_type);
    om_object *holder[HOLDERS] = { NULL };
    int age[HOLDERS] = { 0 }; /* collections each holder has been through */
    for (int round = 0; round < ROUNDS; round++) {
        int h = (int)rnd(HOLDERS);
        if (holder[h] != NULL)
            om_decref(holder[h]); /* its tuples die by reference counting */
        om_object *tup[PER];
        for (int i = 0; i < PER; i++) {
            switch (rnd(4)) {
            case 0:
                tup[i] = tuple2(ex_int_new(i), ex_str_from("s"));
                break;
            case 1:
                tup[i] = tuple1(tuple2(ex_int_new(i), ex_float_new(0.5)));
                break;
            case 2: {
                om_object *outer = ex_tuple_new(1);
                NEED(outer != NULL);
                ex_tuple_set_item(outer, 0, tuple2(ex_int_new(i), ex_int_new(-i)));
                tup[i] = outer;
                break;
            }
            default:
                tup[i] = tuple2(ex_int_new(i), ex_list_new(0)); /* holds a container */
                break;
            }
            NEED(tup[i] != NULL);
        }
        om_object *l = ex_list_new(0);
        NEED(l != NULL);
        for (int i = 0; i < PER; i++) {
            NEED(ex_list_append(l, tup[i]) == 0);
            om_decref(tup[i]);
        }
        holder[h] = l;
        age[h] = 0;
        long want = 0;
        for (int k = (int)rnd(4); k > 0; k--) {
            switch (rnd(4)) {
            case 0:
            case 1:
                want += make_garbage(rnd(2) ? G_PLAIN : G_HOOKS, 100);
                break;
            default: { /* list <-> tuple, the tuple made first or last */
                om_object *t = NULL, *gl;
                if (rnd(2))
                    t = ex_tuple_new(1);
                gl = ex_list_new(0);
                if (t == NULL)
                    t = ex_tuple_new(1);
                NEED(t != NULL && gl != NULL);
                ex_tuple_set_item(t, 0, om_newref(gl));
                NEED(ex_list_append(gl, t) == 0);
                om_decref(t);
                om_decref(gl);
                want += 2;
                break;
            }
            }
        }
        int gen = round % 3;
        long r = om_gc_collect(gen);
        CHECK_MSG(r == want, "round %d, generation %d: om_gc_collect = %ld, want %ld", round, gen, r, want);
        for (int j = 0; j < HOLDERS; j++) {
            if (holder[j] == NULL)
                continue;
            /* a young collection examines only young holders' tuples */
            if (gen == 2 || j == h)
                age[j]++;
            for (size_t i = 0; i < ex_list_len(holder[j]); i++) {
                om_object *t = ex_list_get_item(holder[j], i);
                om_object *first = ex_tuple_get_item(t, 0);
                int holds_list = ex_tuple_len(t) == 2 && ex_tuple_get_item(t, 1)->type == &ex_list_type;
                if (holds_list)
                    CHECK(om_gc_is_tracked(t));
                else if (age[j] >= 2)
                    CHECK_MSG(!om_gc_is_tracked(t) && !(first->type == &ex_tuple_type && om_gc_is_tracked(first)),
                              "round %d: an atomic tuple of holder %d still tracked after %d collections", round, j,
                              age[j]);
            }
        }
    }
    for (int j = 0; j < HOLDERS; j++)
        om_xdecref(holder[j]);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(ot_live(&ex_tuple_type), t0);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* ------------------------------------------------------------ the garbage list */

/* A cycle of an object without clear and one with it: clearing the one
 * with clear breaks the cycle, and reference counting frees the other.
 * Nothing is uncollectable; the garbage list stays empty; the object
 * without clear goes through weak references and its finalizer as any
 * garbage does.  In both orders of creation. */
static void test_noclear_with_clear_cycle_is_freed(void)
{
    for (int order = 0; order < 2; order++) {
        for (int fin = 0; fin < 2; fin++) {
            gc_reset();
            node *a, *b;
            if (order == 0) {
                a = mk(fin ? &fnnode_type : &nnode_type, 1);
                b = mk(&cnode_type, 2);
            } else {
                b = mk(&cnode_type, 2);
                a = mk(fin ? &fnnode_type : &nnode_type, 1);
            }
            REQUIRE(a != NULL && b != NULL);
            set_ref(a, 0, b);
            set_ref(b, 0, a);
            om_weakref *wa = om_weakref_new(OM_OBJ(a), NULL, NULL);
            om_weakref *wb = om_weakref_new(OM_OBJ(b), NULL, NULL);
            REQUIRE(wa != NULL && wb != NULL);
            om_decref(a);
            om_decref(b);
            outcome o = collect_checked(2);
            CHECK_OUTCOME(o, 2, 2, 0);
            CHECK_MSG(om_gc_garbage_count() == 0,
                      "order %d, finalizer %d: %zu objects on the garbage list, want none (log: %s)", order, fin,
                      om_gc_garbage_count(), ot_log);
            CHECK_EQ(cleared[2], 1);
            CHECK_EQ(released[1], 1);
            CHECK_EQ(released[2], 1);
            CHECK_EQ(finalized[1], fin);
            CHECK(om_weakref_get(wa) == NULL);
            CHECK(om_weakref_get(wb) == NULL);
            CHECK(strstr(ot_log, "DEAD-REF") == NULL);
            om_decref(wa);
            om_decref(wb);
            CHECK_EQ(om_gc_count_objects(-1), 0);
            om_gc_garbage_clear();
        }
    }
}

/* An object without clear that its own cycle holds (here: itself) cannot
 * be freed.  It alone goes to the garbage list; what it reaches (objects
 * with clear) stays alive and intact, in the oldest generation, and is
 * counted uncollectable with it (CPython's handle_legacy_finalizers and
 * its statistics); weak references to all of them stay; no finalizer
 * runs.  Next to it, an ordinary cycle is collected. */
static void test_uncollectable_lists_only_what_cannot_be_freed(void)
{
    gc_reset();
    node *u = mk(&fnnode_type, 1), *b = mk(&cnode_type, 2), *c = mk(&cnode_type, 3);
    node *x = mk(&cnode_type, 4), *y = mk(&cnode_type, 5);
    REQUIRE(u != NULL && b != NULL && c != NULL && x != NULL && y != NULL);
    set_ref(u, 0, u); /* its own cycle: no clear can break it */
    set_ref(u, 1, b); /* reachable from it: kept intact */
    set_ref(b, 0, c);
    set_ref(c, 0, b);
    set_ref(c, 1, u);
    set_ref(x, 0, y); /* an ordinary cycle beside it */
    set_ref(y, 0, x);
    om_weakref *wu = om_weakref_new(OM_OBJ(u), NULL, NULL);
    om_weakref *wb = om_weakref_new(OM_OBJ(b), NULL, NULL);
    REQUIRE(wu != NULL && wb != NULL);
    node *all[] = { u, b, c, x, y };
    for (int i = 0; i < 5; i++)
        om_decref(all[i]);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, 5, 2, 3);
    CHECK_MSG(om_gc_garbage_count() == 1, "%zu objects on the garbage list, want 1 (the one without clear)",
              om_gc_garbage_count());
    CHECK(in_garbage(u));
    CHECK(!in_garbage(b));
    CHECK(!in_garbage(c));
    CHECK_EQ(gen_of(u), -1);
    CHECK_EQ(gen_of(b), 2);
    CHECK_EQ(gen_of(c), 2);
    for (int id = 1; id <= 3; id++) {
        CHECK_EQ(cleared[id], 0);
        CHECK_EQ(released[id], 0);
        CHECK_EQ(finalized[id], 0);
    }
    CHECK_EQ(released[4] + released[5], 2);
    CHECK_PTR_EQ(u->ref[1], b);
    CHECK_PTR_EQ(b->ref[0], c);
    CHECK_PTR_EQ(c->ref[1], u);
    om_object *g = om_weakref_get(wu);
    CHECK_PTR_EQ(g, u);
    om_xdecref(g);
    g = om_weakref_get(wb);
    CHECK_PTR_EQ(g, b);
    om_xdecref(g);
    /* held by the garbage list: nothing found again */
    o = collect_checked(2);
    CHECK_OUTCOME(o, 0, 0, 0);
    CHECK_EQ(om_gc_garbage_count(), 1);
    /* released by the list, found again, the same way */
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(gen_of(u), 2);
    o = collect_checked(2);
    CHECK_OUTCOME(o, 3, 0, 3);
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK(in_garbage(u));
    /* broken by hand: everything dies by reference counting */
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(gen_of(u), 2); /* c still holds it */
    o = collect_checked(2); /* no longer its own cycle: collectable */
    CHECK_OUTCOME(o, 3, 3, 0);
    CHECK_EQ(om_gc_garbage_count(), 0);
    for (int id = 1; id <= 3; id++)
        CHECK_EQ(released[id], 1);
    CHECK_EQ(finalized[1], 1); /* once, when it finally died */
    CHECK(om_weakref_get(wu) == NULL);
    CHECK(om_weakref_get(wb) == NULL);
    om_decref(wu);
    om_decref(wb);
    CHECK(strstr(ot_log, "DEAD-REF") == NULL);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* An object without clear that could be freed (its cycle goes through an
 * object with clear) but that an uncollectable one holds: it cannot be
 * freed either, so it is listed too; the object with clear between them
 * is kept intact (not listed). */
static void test_noclear_held_by_uncollectable_is_listed(void)
{
    gc_reset();
    node *u = mk(&nnode_type, 1), *a = mk(&nnode_type, 2), *b = mk(&cnode_type, 3);
    REQUIRE(u != NULL && a != NULL && b != NULL);
    set_ref(u, 0, u);
    set_ref(u, 1, a);
    set_ref(a, 0, b);
    set_ref(b, 0, a);
    om_decref(u);
    om_decref(a);
    om_decref(b);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, 3, 0, 3);
    CHECK_MSG(om_gc_garbage_count() == 2, "%zu on the garbage list, want 2", om_gc_garbage_count());
    CHECK(in_garbage(u));
    CHECK(in_garbage(a));
    CHECK(!in_garbage(b));
    CHECK_EQ(gen_of(b), 2);
    CHECK_EQ(n_cleared, 0);
    CHECK_EQ(n_released, 0);
    /* drop the uncollectable self-cycle: then the rest is freeable */
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 2);
    CHECK_EQ(released[1], 1); /* u died, dropping a */
    o = collect_checked(2);
    CHECK_OUTCOME(o, 2, 2, 0);
    CHECK_EQ(om_gc_garbage_count(), 0);
    CHECK_EQ(n_released, 3);
    CHECK(strstr(ot_log, "DEAD-REF") == NULL);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* Mixed shapes, each checked against what reference counting would free
 * once every object with clear has dropped its references:
 *   - a cycle of two objects without clear (uncollectable), and an object
 *     with clear that refers to them but that they do not reach
 *     (collected: its clear drops its references to them);
 *   - an object without clear that only objects with clear refer to,
 *     hanging off an uncollectable one through one of them (kept: it is
 *     reachable from the uncollectable, so listed). */
static void test_noclear_mixed_shapes(void)
{
    gc_reset();
    node *u1 = mk(&nnode_type, 1), *u2 = mk(&nnode_type, 2), *c = mk(&cnode_type, 3);
    REQUIRE(u1 != NULL && u2 != NULL && c != NULL);
    set_ref(u1, 0, u2);
    set_ref(u2, 0, u1);
    set_ref(c, 0, u1);
    set_ref(c, 1, c);
    om_decref(u1);
    om_decref(u2);
    om_decref(c);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, 3, 1, 2);
    CHECK_EQ(om_gc_garbage_count(), 2);
    CHECK(in_garbage(u1) && in_garbage(u2));
    CHECK_EQ(released[3], 1);
    CHECK_EQ(cleared[3], 1);
    om_clear_ref(&u1->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 2); /* u1 dies (u2 held it), then u2 */
    CHECK_EQ(n_released, 3);

    reset_counters();
    node *u = mk(&nnode_type, 1), *k = mk(&cnode_type, 2), *n = mk(&nnode_type, 3), *k2 = mk(&cnode_type, 4);
    REQUIRE(u != NULL && k != NULL && n != NULL && k2 != NULL);
    set_ref(u, 0, u);
    set_ref(u, 1, k);
    set_ref(k, 0, n);  /* u -> k -> n: n reachable from the uncollectable */
    set_ref(n, 0, k2); /* n -> k2 -> n */
    set_ref(k2, 0, n);
    om_decref(u);
    om_decref(k);
    om_decref(n);
    om_decref(k2);
    o = collect_checked(2);
    CHECK_OUTCOME(o, 4, 0, 4);
    CHECK_EQ(om_gc_garbage_count(), 2);
    CHECK(in_garbage(u) && in_garbage(n));
    CHECK_EQ(n_cleared, 0);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 2);
    CHECK_EQ(released[1], 1);
    o = collect_checked(2);
    CHECK_OUTCOME(o, 2, 2, 0);
    CHECK_EQ(n_released, 4);
    CHECK(strstr(ot_log, "DEAD-REF") == NULL);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* SAVEALL: every unreachable object to the garbage list, nothing cleared;
 * the statistics still say which could not have been freed. */
static void test_saveall_keeps_everything(void)
{
    gc_reset();
    om_gc_set_debug(OM_GC_DEBUG_SAVEALL);
    node *a = mk(&nnode_type, 1), *b = mk(&cnode_type, 2);
    node *u = mk(&nnode_type, 3), *k = mk(&cnode_type, 4);
    REQUIRE(a != NULL && b != NULL && u != NULL && k != NULL);
    set_ref(a, 0, b);
    set_ref(b, 0, a);
    set_ref(u, 0, u);
    set_ref(u, 1, k);
    om_decref(a);
    om_decref(b);
    om_decref(u);
    om_decref(k);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, 4, 2, 2);
    CHECK_EQ(om_gc_garbage_count(), 4);
    CHECK(in_garbage(a) && in_garbage(b) && in_garbage(u) && in_garbage(k));
    CHECK_EQ(n_cleared, 0);
    CHECK_EQ(n_released, 0);
    om_gc_set_debug(0);
    CHECK_EQ(om_gc_garbage_clear(), 4);
    o = collect_checked(2);
    CHECK_OUTCOME(o, 4, 2, 2);
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK(in_garbage(u));
    CHECK_EQ(released[1] + released[2], 2);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(n_released, 4);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* Long chains, so that a recursive or quadratic classification shows:
 *   - a ring through one object with clear and n objects without
 *     (every one freed);
 *   - a chain of n objects without clear hanging off an uncollectable
 *     self-cycle (every one listed);
 *   - a chain of n objects without clear in front of (referring to) an
 *     uncollectable self-cycle (every one of the chain freed). */
static void test_noclear_long_chains(void)
{
    const long n = OM_TEST_SCALE(200000);
    gc_reset();
    quiet = 1;
    node *k = mk(&cnode_type, -1), *prev = k;
    REQUIRE(k != NULL);
    for (long i = 0; i < n; i++) {
        node *x = mk(&nnode_type, -1);
        REQUIRE(x != NULL);
        set_ref(prev, 0, x);
        if (prev != k)
            om_decref(prev);
        prev = x;
    }
    set_ref(prev, 0, k);
    om_decref(prev);
    om_decref(k);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, n + 1, n + 1, 0);
    CHECK_EQ(om_gc_garbage_count(), 0);
    CHECK_EQ(n_released, (unsigned long)n + 1);

    reset_counters();
    node *u = mk(&nnode_type, -1);
    REQUIRE(u != NULL);
    set_ref(u, 0, u);
    prev = u;
    for (long i = 0; i < n; i++) {
        node *x = mk(&nnode_type, -1);
        REQUIRE(x != NULL);
        set_ref(prev, 1, x);
        om_decref(x);
        prev = x;
    }
    om_decref(u);
    o = collect_checked(2);
    CHECK_OUTCOME(o, n + 1, 0, n + 1);
    CHECK_EQ(om_gc_garbage_count(), (size_t)n + 1);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), (size_t)n + 1);
    CHECK_EQ(n_released, (unsigned long)n + 1);
    CHECK_EQ(om_gc_count_objects(-1), 0);

    reset_counters();
    u = mk(&nnode_type, -1);
    REQUIRE(u != NULL);
    set_ref(u, 0, u);
    node *head = mk(&nnode_type, -1);
    REQUIRE(head != NULL);
    prev = head;
    for (long i = 1; i < n; i++) {
        node *x = mk(&nnode_type, -1);
        REQUIRE(x != NULL);
        set_ref(prev, 0, x);
        om_decref(x);
        prev = x;
    }
    set_ref(prev, 0, u);
    om_decref(u);
    /* head is held from outside until a clear-able cycle holds it */
    node *c = mk(&cnode_type, -1);
    REQUIRE(c != NULL);
    set_ref(c, 0, head);
    set_ref(head, 1, c);
    om_decref(head);
    om_decref(c);
    o = collect_checked(2);
    CHECK_OUTCOME(o, n + 2, n + 1, 1);
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK(in_garbage(u));
    CHECK_EQ(n_released, (unsigned long)n + 1);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_tuple_before_holder_untracked),
        CHECK_CASE(test_many_tuples_before_holder),
        CHECK_CASE(test_nested_tuple_two_collections),
        CHECK_CASE(test_late_tuple_of_container_stays_tracked),
        CHECK_CASE(test_tuples_and_garbage_rounds),
        CHECK_CASE(test_noclear_with_clear_cycle_is_freed),
        CHECK_CASE(test_uncollectable_lists_only_what_cannot_be_freed),
        CHECK_CASE(test_noclear_held_by_uncollectable_is_listed),
        CHECK_CASE(test_noclear_mixed_shapes),
        CHECK_CASE(test_saveall_keeps_everything),
        CHECK_CASE(test_noclear_long_chains),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
