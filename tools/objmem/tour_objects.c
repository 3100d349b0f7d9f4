/*
 * tour_objects.c — the tour chapter on objects: the layer above the blocks.
 *
 *   reference counts   a float held by a tuple and a list: 1 -> 2 -> 3 -> 2 -> 1
 *   freed at zero      a str dropped by its list: its block goes back to its pool
 *   free lists         a dead float parked, then handed to the next float;
 *                      a list of 10000 tuples and a chain of nested tuples torn
 *                      down without recursion
 *   weak references    a weakref with a callback outliving its list
 *
 * The objects are the example types (examples/examples.h: int, float, str,
 * tuple, list), built on objmem's object API (objmem.h sections 8-10), as a
 * language runtime would build them.  Every count printed is read back from
 * the objects themselves (om_object.refcount), from the types' statistics
 * (om_type_get_stats) or from the allocator (om_block_describe, om_owns).
 * The chapter holds the runtime lock throughout, as CPython code holds the
 * GIL, and empties the free lists at its end so that the report chapter
 * sees only its own blocks.
 */
#include "tour.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples.h"

enum {
    TEARDOWN_ITEMS = 10000, /* tuples in the list torn down */
    CHAIN_DEPTH = 100000,   /* nested 1-tuples: far deeper than C recursion could go safely */
};

static const char dying_text[] = "a str that lives in a list";

/* ------------------------------------------------------------ helpers */


static om_type_stats type_stats(const om_type *t)
{
    om_type_stats st;

    om_type_get_stats(t, &st);
    return st;
}

static intptr_t refcount(const om_object *o)
{
    return o->refcount;
}

/* A pointer that may be NULL: "NULL" in text (clearer than "-"), null in JSON. */
static out_val ptr_or_null(const out *o, const void *p)
{
    if (p == NULL && !out_is_json(o))
        return OV_S("NULL");
    return OV_P(p);
}

/* Pool occupancy of the block at p, which may be free by now; -1 if the
 * allocator does not describe it. */
static int64_t pool_used(const void *p)
{
    om_block_info bi;

    if (om_block_describe(p, &bi) != 0 || bi.kind == OM_BLOCK_FOREIGN)
        return -1;
    return bi.pool_blocks_used;
}

static out_val opt_count(int64_t v)
{
    return v < 0 ? OV_NA : OV_I(v);
}

/* ------------------------------------------------------------ 1. reference counts */

static void refcount_row(out *o, int *step, const char *python, const char *c_call,
                         const om_object *f)
{
    out_val row[] = {OV_I((*step)++), OV_S(python), OV_S(c_call), OV_I(refcount(f))};
    out_row(o, row);
}

/* Returns the float, still alive with count 1: part 3 destroys it. */
static om_object *show_refcounts(out *o)
{
    static const out_col cols[] = {
        {"step", "step", 4, 0},      {"python", "in Python", 14, 0},
        {"c_call", "in C", 40, 0},   {"refcount", "f's count", 9, 0},
    };
    om_object *f, *t, *l;
    int step = 1;

    out_para(o, "Reference counts. Every object starts with a count of the references "
                "to it; a new object has 1, its creator's. Storing the object somewhere "
                "adds one (Py_INCREF), forgetting it drops one (Py_DECREF). We put one "
                "float in a tuple and in a list and read f->refcount after each step.");
    out_table_begin(o, "refcounts", cols, (int)(sizeof cols / sizeof cols[0]));
    f = tour_need(ex_float_new(1.5), "ex_float_new");
    refcount_row(o, &step, "f = 1.5", "f = ex_float_new(1.5)", f);
    t = tour_need(ex_tuple_new(1), "ex_tuple_new");
    om_incref(f); /* the tuple steals a reference: give it one of its own */
    ex_tuple_set_item(t, 0, f);
    refcount_row(o, &step, "t = (f,)", "om_incref(f); ex_tuple_set_item(t, 0, f)", f);
    l = tour_need(ex_list_new(0), "ex_list_new");
    tour_need_ok(ex_list_append(l, f), "ex_list_append");
    refcount_row(o, &step, "l = [f]", "ex_list_append(l, f)", f);
    om_decref(t);
    refcount_row(o, &step, "del t", "om_decref(t)", f);
    om_decref(l);
    refcount_row(o, &step, "del l", "om_decref(l)", f);
    out_table_end(o);
    out_para(o, "ex_tuple_set_item steals the reference it is given, as PyTuple_SET_ITEM "
                "does, so we add one first; ex_list_append takes its own, as "
                "PyList_Append. Dropping the tuple and the list brought their counts to "
                "zero: each was destroyed, and its clear (CPython's tp_clear, called from "
                "tp_dealloc) dropped the reference it held to f. f is alive with only ours.");
    return f;
}

/* ------------------------------------------------------------ 2. freed at zero */

static void show_freed_at_zero(out *o)
{
    om_object *l, *s, *zero;
    om_block_info sbi, lbi;
    om_type_stats before, after;
    int64_t used_before, used_after;
    int owned_before, owned_after;
    const void *block;

    l = tour_need(ex_list_new(0), "ex_list_new");
    s = tour_need(ex_str_from(dying_text), "ex_str_from");
    tour_need_ok(ex_list_append(l, s), "ex_list_append");
    om_decref(s); /* now the list holds the only reference */
    zero = tour_need(ex_int_new(0), "ex_int_new");
    tour_describe(s, &sbi);
    tour_describe(l, &lbi);
    block = sbi.block;

    before = type_stats(&ex_str_type);
    used_before = pool_used(block);
    owned_before = om_owns(block);
    tour_need_ok(ex_list_set_item(l, 0, zero), "ex_list_set_item"); /* l[0] = 0: drops s */
    after = type_stats(&ex_str_type);
    used_after = pool_used(block);
    owned_after = om_owns(block);

    out_para(o, "Freed at zero. s = '%s' goes into a list and we drop our own reference: "
                "the list's is the last. Then l[0] = 0 (ex_list_set_item) makes the list "
                "drop it. The count reaches zero inside that call and the str is destroyed "
                "at once (Py_DECREF calling tp_dealloc), before the call returns; there is "
                "no collector pass to wait for.", dying_text);
    out_object_begin(o, "freed_at_zero");
    out_fact(o, "object", "the str object", OV_P(s));
    out_fact(o, "block", NULL, OV_P(block));
    out_fact(o, "block_size", "block size", OV_U(sbi.block_size));
    out_fact(o, "str_live_before", "live str objects before", OV_U(before.live));
    out_fact(o, "str_live_after", "live str objects after", OV_U(after.live));
    out_fact(o, "str_destroyed", NULL, OV_U(after.destroyed));
    out_fact(o, "owned_before", "om_owns(block) before", OV_YN(owned_before));
    out_fact(o, "owned_after", "om_owns(block) after", OV_YN(owned_after));
    out_fact(o, "pool_blocks_used_before", "blocks used in its pool before", opt_count(used_before));
    out_fact(o, "pool_blocks_used_after", "blocks used in its pool after", opt_count(used_after));
    out_fact(o, "str_header_bytes", "str: object starts at block +",
             OV_U((uintptr_t)s - (uintptr_t)sbi.block));
    out_fact(o, "list_header_bytes", "list: object starts at block +",
             OV_U((uintptr_t)l - (uintptr_t)lbi.block));
    out_object_end(o);
    out_para(o, "%s, so its %zu-byte block %s. A str starts at the start of its block; a "
                "list, a container the cycle collector must see, starts %zu bytes in: the "
                "collector's header (CPython's PyGC_Head) sits in front of it, and objects "
                "that cannot form cycles do not pay for it.",
             after.freelist_limit == 0
                 ? "The str type keeps no free list (objmem's are for fixed-size types only)"
                 : "The str type keeps a free list",
             sbi.block_size,
             owned_after ? "is still allocated" : "went straight back to its pool with om_free()",
             (size_t)((uintptr_t)l - (uintptr_t)lbi.block));
    om_decref(l);
}

/* ------------------------------------------------------------ 3. free lists */

/* Returns om_owns(addr): is the block allocated? */
static int freelist_row(out *o, const char *python, const char *event, const void *addr)
{
    om_type_stats st = type_stats(&ex_float_type);
    int owned = om_owns(addr);
    out_val row[] = {OV_S(python),           OV_S(event),
                     OV_P(addr),             OV_YN(owned),
                     OV_U(st.freelist_len),  OV_U(st.freelist_hits),
                     OV_U(st.freelist_misses)};
    out_row(o, row);
    return owned;
}

static void show_freelist(out *o, om_object *f)
{
    static const out_col cols[] = {
        {"python", "Python", 7, 0},         {"event", "what happens", 20, 0},
        {"address", "f / g", 14, 0},        {"block_allocated", "om_owns", 7, 0},
        {"freelist_len", "parked", 6, 0},   {"freelist_hits", "hits", 4, 0},
        {"freelist_misses", "misses", 6, 0},
    };
    om_type_stats before, parked, after;
    void *old = f;
    om_object *g;
    int owned_parked;

    out_para(o, "Free lists. Some types keep a few dead instances for the next new one, "
                "skipping the allocator: CPython keeps 100 floats and 80 lists. "
                "ex_float_type does the same ('parked' is its free list's length, 'hits' "
                "the om_new calls it served, 'misses' those that went to om_malloc). We "
                "drop f, the float of the first table, then make a new one.");
    out_object_begin(o, "freelist");
    out_table_begin(o, "steps", cols, (int)(sizeof cols / sizeof cols[0]));
    before = type_stats(&ex_float_type);
    freelist_row(o, "f = 1.5", "alive, count 1", old);
    om_decref(f);
    parked = type_stats(&ex_float_type);
    owned_parked = freelist_row(o, "del f", "count 0: parked", old);
    g = tour_need(ex_float_new(2.5), "ex_float_new");
    after = type_stats(&ex_float_type);
    freelist_row(o, "g = 2.5", "taken from free list", g);
    out_table_end(o);
    out_fact(o, "same_address", "g got f's address", OV_YN((void *)g == old));
    out_fact(o, "parked_block_allocated", NULL, OV_YN(owned_parked));
    out_fact(o, "parked_after_free", NULL, OV_U(parked.freelist_len));
    out_fact(o, "parked_before", NULL, OV_U(before.freelist_len));
    out_fact(o, "hits_before", NULL, OV_U(before.freelist_hits));
    out_fact(o, "hits_after", NULL, OV_U(after.freelist_hits));
    out_fact(o, "freelist_limit", "float free list limit", OV_U(after.freelist_limit));
    out_object_end(o);
    out_para(o, "A parked float is dead (its count is negative, so a checked om_decref "
                "would name the mistake) but its block is still allocated: om_owns says "
                "%s. The next float %s without calling om_malloc; the hit counter went "
                "from %" PRIu64 " to %" PRIu64 ".", owned_parked ? "yes" : "no",
             (void *)g == old ? "took the most recently parked one, the very same address,"
                              : "was served from the free list",
             before.freelist_hits, after.freelist_hits);
    om_decref(g);
}

typedef struct census {
    uint64_t tuples, ints, floats, lists, floats_parked, ints_parked;
} census;

static void census_take(census *c)
{
    om_type_stats st;

    c->tuples = type_stats(&ex_tuple_type).live;
    c->ints = type_stats(&ex_int_type).live;
    c->lists = type_stats(&ex_list_type).live;
    st = type_stats(&ex_float_type);
    c->floats = st.live;
    c->floats_parked = st.freelist_len;
    c->ints_parked = type_stats(&ex_int_type).freelist_len;
}

static void census_row(out *o, const char *moment, census *c)
{
    census_take(c);
    out_val row[] = {OV_S(moment),  OV_U(c->lists),         OV_U(c->tuples),
                     OV_U(c->ints), OV_U(c->floats),        OV_U(c->ints_parked),
                     OV_U(c->floats_parked)};
    out_row(o, row);
}

static om_object *build_list_of_tuples(size_t n)
{
    om_object *l = tour_need(ex_list_new(n), "ex_list_new");

    for (size_t i = 0; i < n; i++) {
        om_object *t = tour_need(ex_tuple_new(2), "ex_tuple_new");
        ex_tuple_set_item(t, 0, tour_need(ex_int_new((int64_t)i), "ex_int_new"));
        ex_tuple_set_item(t, 1, tour_need(ex_float_new((double)i * 0.5), "ex_float_new"));
        tour_need_ok(ex_list_append(l, t), "ex_list_append");
        om_decref(t);
    }
    return l;
}

/* ((((-1,),),),): each tuple holds the one made before it. */
static om_object *build_chain(size_t depth)
{
    om_object *inner = tour_need(ex_int_new(-1), "ex_int_new");

    for (size_t i = 0; i < depth; i++) {
        om_object *t = tour_need(ex_tuple_new(1), "ex_tuple_new");
        ex_tuple_set_item(t, 0, inner); /* steals */
        inner = t;
    }
    return inner;
}

static void show_teardown(out *o)
{
    static const out_col cols[] = {
        {"moment", "moment", 28, 0}, {"lists", "lists", 5, 0},   {"tuples", "tuples", 6, 0},
        {"ints", "ints", 5, 0},      {"floats", "floats", 6, 0}, {"ints_parked", "int fl", 6, 0},
        {"floats_parked", "float fl", 8, 0},
    };
    census base, built, freed, chained, unchained;
    om_type_stats fbase, fafter;
    om_object *l, *chain;
    char what[64];
    int back;

    out_para(o, "Tearing down a structure. l = [(i, i * 0.5) for i in range(%d)] is %d "
                "objects; one om_decref(l) destroys them all. The columns count live "
                "objects per type (om_type_get_stats), and 'fl' the instances parked on "
                "a free list. Then a chain of %d nested tuples, ((((-1,),),),), freed by "
                "one om_decref of the outermost.",
             TEARDOWN_ITEMS, 1 + 3 * TEARDOWN_ITEMS, CHAIN_DEPTH);
    out_object_begin(o, "teardown");
    out_fact(o, "items", NULL, OV_U(TEARDOWN_ITEMS));
    out_fact(o, "chain_depth", NULL, OV_U(CHAIN_DEPTH));
    out_table_begin(o, "moments", cols, (int)(sizeof cols / sizeof cols[0]));
    census_row(o, "before", &base);
    l = build_list_of_tuples(TEARDOWN_ITEMS);
    snprintf(what, sizeof what, "list of %d tuples built", TEARDOWN_ITEMS);
    census_row(o, what, &built);
    tour_heapmap_point();
    fbase = type_stats(&ex_float_type);
    om_decref(l);
    census_row(o, "om_decref(l)", &freed);
    fafter = type_stats(&ex_float_type);
    chain = build_chain(CHAIN_DEPTH);
    snprintf(what, sizeof what, "chain of %d tuples built", CHAIN_DEPTH);
    census_row(o, what, &chained);
    om_decref(chain);
    census_row(o, "om_decref(outermost)", &unchained);
    out_table_end(o);
    back = freed.tuples == base.tuples && freed.ints == base.ints &&
           freed.floats == base.floats && freed.lists == base.lists &&
           unchained.tuples == base.tuples && unchained.ints == base.ints;
    out_fact(o, "back_to_baseline", "live counts back where they began", OV_YN(back));
    out_fact(o, "floats_destroyed", "floats destroyed by om_decref(l)",
             OV_U(fafter.destroyed - fbase.destroyed));
    out_fact(o, "floats_parked", "of which parked on the free list",
             OV_U(fafter.freelist_len - fbase.freelist_len));
    out_object_end(o);
    out_para(o, "Of the %" PRIu64 " floats that died, %" PRIu64 " were parked, up to the "
                "free list's limit of %" PRIu64 " (CPython keeps 100 floats), and the other "
                "%" PRIu64 " went back to their pools with om_free(). "
                "Destruction is a loop, not a recursion: an object whose count reaches "
                "zero while another is being destroyed is pushed on a pending list that "
                "the outermost om_decref drains, so the %d-deep chain needed no more C stack than one tuple. "
                "CPython gets the same effect with its 'trashcan' (Py_TRASHCAN_BEGIN in "
                "tuple and list deallocation).",
             fafter.destroyed - fbase.destroyed, fafter.freelist_len - fbase.freelist_len,
             fafter.freelist_limit,
             (fafter.destroyed - fbase.destroyed) - (fafter.freelist_len - fbase.freelist_len),
             CHAIN_DEPTH);
}

/* ------------------------------------------------------------ 4. weak references */

static struct weak_seen {
    out *o;
    int calls;
    const om_weakref *ref;
    const void *get_inside; /* om_weakref_get(ref) inside the callback */
} weak_seen;

static void weak_callback(om_weakref *ref, om_object *data)
{
    om_object *referent = om_weakref_get(ref);

    weak_seen.calls++;
    weak_seen.ref = ref;
    weak_seen.get_inside = referent;
    if (!out_is_json(weak_seen.o))
        printf("  -> callback(r, '%s') runs: om_weakref_get(r) = %s\n",
               data ? ex_str_data(data) : "", referent ? "the list" : "NULL");
    om_xdecref(referent);
}

static void show_weakref(out *o)
{
    om_object *l, *name, *got;
    om_weakref *r;
    const void *list_addr, *got_after;
    size_t nrefs;
    intptr_t count_alive;

    weak_seen = (struct weak_seen){.o = o};
    out_para(o, "Weak references. r = weakref.ref(l, callback) points to a list without "
                "keeping it alive. om_weakref_get(r) returns the list (a new reference) "
                "while it lives; when the list dies, r is cleared and then its callback "
                "runs, once, with r and the data given to om_weakref_new.");
    l = tour_need(ex_list_new(0), "ex_list_new");
    list_addr = l;
    name = tour_need(ex_str_from("shopping list"), "ex_str_from");
    r = (om_weakref *)tour_need((om_object *)om_weakref_new(l, weak_callback, name), "om_weakref_new");
    om_decref(name); /* r keeps its data alive */
    got = om_weakref_get(r);
    nrefs = om_weakref_count(l);
    om_xdecref(got);
    count_alive = refcount(l);

    out_object_begin(o, "weakref");
    out_fact(o, "list", "the list l", OV_P(list_addr));
    out_fact(o, "get_while_alive", "om_weakref_get(r) while l lives", ptr_or_null(o, got));
    out_fact(o, "weakref_count", "weak references to l", OV_U(nrefs));
    out_fact(o, "list_refcount", "l's count (r adds nothing)", OV_I(count_alive));
    if (!out_is_json(o))
        printf("\n  del l\n");
    om_decref(l);
    got_after = om_weakref_get(r);
    out_fact(o, "callback_calls", "callbacks run", OV_U(weak_seen.calls));
    out_fact(o, "callback_ref_matches", NULL, OV_YN(weak_seen.ref == r));
    out_fact(o, "get_in_callback", NULL, OV_P(weak_seen.get_inside));
    out_fact(o, "get_after", "om_weakref_get(r) after del l", ptr_or_null(o, got_after));
    out_object_end(o);
    om_xdecref((om_object *)got_after);
    om_decref(r);
    if (weak_seen.calls == 1 && weak_seen.get_inside == NULL)
        out_para(o, "The callback ran during om_decref(l), after r was cleared, so it "
                    "already saw NULL, as in CPython, where the dying object's tp_dealloc "
                    "calls PyObject_ClearWeakRefs.");
    if (ex_float_type.weaklist_offset == 0 && ex_int_type.weaklist_offset == 0 &&
        ex_tuple_type.weaklist_offset == 0)
        out_para(o, "Floats, ints and tuples cannot be weakly referenced (their types' "
                    "weaklist_offset is 0), as in CPython; a list or a str can.");
}

/* ------------------------------------------------------------ the types */

static void show_types(out *o)
{
    static const out_col cols[] = {
        {"type", "type", 8, 0},           {"live", "live", 4, 0},
        {"created", "created", 7, 0},
        {"destroyed", "destroyed", 9, 0}, {"freelist_hits", "fl hits", 7, 0},
        {"freelist_len", "parked", 6, 0}, {"freelist_limit", "limit", 5, 0},
    };
    size_t cleared;

    out_para(o, "Every type keeps its own statistics, as PyTypeObject holds CPython's "
                "per-type free lists; om_type_next() walks the types that have made an "
                "object.");
    out_table_begin(o, "types", cols, (int)(sizeof cols / sizeof cols[0]));
    for (const om_type *t = om_type_next(NULL); t != NULL; t = om_type_next(t)) {
        om_type_stats st = type_stats(t);
        out_val row[] = {OV_S(st.name),         OV_U(st.live),         OV_U(st.created),
                         OV_U(st.destroyed),    OV_U(st.freelist_hits),
                         OV_U(st.freelist_len), OV_U(st.freelist_limit)};
        out_row(o, row);
    }
    out_table_end(o);
    cleared = om_freelists_clear();
    out_fact(o, "freelists_cleared", "om_freelists_clear() freed", OV_U(cleared));
    out_para(o, "The parked instances are freed by om_freelists_clear(), as CPython empties "
                "its free lists during a full gc.collect().");
}

/* ------------------------------------------------------------ the chapter */

void tour_objects(out *o)
{
    om_object *f;
    int held, held_after;
    unsigned long interval;

    tour_reset_heap();
    om_lock_acquire();
    held = om_lock_held();
    interval = om_lock_get_switch_interval();
    out_section_begin(o, "objects", "Objects: counted, freed at zero, reused");
    out_para(o, "Above the blocks sit objects. objmem's object layer is CPython's: an "
                "object is a block that starts with a reference count and a type, and it "
                "is destroyed the moment its count reaches zero. The objects here are the "
                "example types of examples/ (int, float, str, tuple, list), built on "
                "om_new and om_decref as a language runtime would build them.");
    out_para(o, "Objects are touched only under the runtime lock, CPython's GIL, so this "
                "chapter takes it first with om_lock_acquire(). A thread waiting for it "
                "asks the holder to let go after the switch interval (CPython's "
                "sys.getswitchinterval(), 5 ms by default); the allocator itself never needs it.");
    out_fact(o, "lock_held", "om_lock_held()", OV_YN(held));
    out_fact(o, "switch_interval_us", "switch interval (microseconds)", OV_U(interval));

    f = show_refcounts(o);
    show_freed_at_zero(o);
    show_freelist(o, f);
    show_teardown(o);
    show_weakref(o);
    show_types(o);

    om_lock_release();
    held_after = om_lock_held();
    out_fact(o, "lock_held_after", NULL, OV_YN(held_after));
    out_section_end(o);
}
