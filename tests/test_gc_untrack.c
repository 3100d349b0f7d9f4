/*
 * test_gc_untrack.c — immutable containers (tuples) untracked as CPython
 * does: in every collection, each surviving tuple whose items are all
 * atomic (Python/gc.c, untrack_tuples(young) after deduce_unreachable;
 * _PyTuple_MaybeUntrack), whatever the order the objects were allocated
 * in; a nest of two tuples needs at most two collections
 * (Lib/test/test_tuple.py, _not_tracked).  Here: a tuple created before
 * the container that holds it (so the scan first finds it unreferenced
 * from outside, and keeps it only when its holder is scanned), on every
 * path a collection takes (nothing unreachable, plain garbage freed by
 * omi_gc_delete_fast, garbage that needs the ordinary path); a nest of two
 * in every order of creation; never a tuple holding a container that is
 * still tracked, whatever the order; rounds of all of it beside garbage of
 * every kind, each collection finding exactly that garbage (side table
 * left clean).  Types: gcsem.h.
 */
#include "gcsem.h"

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

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_tuple_before_holder_untracked),
        CHECK_CASE(test_many_tuples_before_holder),
        CHECK_CASE(test_nested_tuple_two_collections),
        CHECK_CASE(test_late_tuple_of_container_stays_tracked),
        CHECK_CASE(test_tuples_and_garbage_rounds),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
