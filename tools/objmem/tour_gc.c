/*
 * tour_gc.c — the tour chapter on the cycle collector: what reference
 * counting cannot free.
 *
 *   a cycle            a = []; b = [a]; a.append(b); del a, b: both counts
 *                      stay at 1 and the lists stay alive
 *   a collection       om_gc_collect(0) finds the two, breaks the cycle,
 *                      and reference counting frees them; gc.get_count()
 *                      and the per-generation statistics before and after
 *   generations        survivors move up; thresholds; an automatic
 *                      collection waits for a safe point (om_gc_poll)
 *   the order          weak reference cleared (callback) -> finalizers ->
 *                      clear, on a cycle of a type with a finalizer
 *   a timed run        a ring of 100000 lists collected
 *
 * The collector is objmem.h section 11 (src/gc/), CPython's gc module.
 * A callback registered with om_gc_callback_add (gc.callbacks) prints a
 * line when each collection starts and ends.  Every number is read back
 * from the objects (om_object.refcount), the types (om_type_get_stats) or
 * the collector (om_gc_get_count, om_gc_get_stats, om_gc_count_objects).
 * The chapter holds the runtime lock throughout, leaves the collector as
 * it found it (enabled, same thresholds, no callback) and empties the free
 * lists at its end.
 */
#include "tour.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "examples.h"

enum {
    DICTS_KEPT = 3,       /* l = [{}, {}, {}] survives a young collection */
    RING_SIZE = 100000,   /* lists in the ring collected against the clock */
    GC_EVENTS_MAX = 8,    /* callback calls remembered per collection */
    ORDER_EVENTS_MAX = 16 /* destruction steps remembered in part 4 */
};

/* ------------------------------------------------------------ helpers */


static long collect(int generation)
{
    long found = om_gc_collect(generation);

    if (found < 0) {
        fprintf(stderr, "objmem tour: om_gc_collect(%d) failed: %s\n", generation,
                strerror(errno));
        exit(CLI_FAIL);
    }
    return found;
}

static uint64_t lists_live(void)
{
    om_type_stats st;

    om_type_get_stats(&ex_list_type, &st);
    return st.live;
}

/* ------------------------------------------------------------ the callback */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What the collector told the callback during one collection, and the
 * time from its start call to its stop call on the callback's own clock
 * (om_gc_info.duration_ns comes from the library's coarse clock). */
static struct gc_seen {
    out *o;
    int n;
    uint64_t started_ns;
    om_gc_phase phase[GC_EVENTS_MAX];
    om_gc_info info[GC_EVENTS_MAX];
    uint64_t elapsed_ns[GC_EVENTS_MAX]; /* OM_GC_STOP only */
} gc_seen;

static void gc_callback(om_gc_phase phase, const om_gc_info *info, void *arg)
{
    struct gc_seen *seen = arg;
    uint64_t elapsed = phase == OM_GC_STOP ? now_ns() - seen->started_ns : 0;

    if (seen->n < GC_EVENTS_MAX) {
        seen->phase[seen->n] = phase;
        seen->info[seen->n] = *info;
        seen->elapsed_ns[seen->n] = elapsed;
        seen->n++;
    }
    if (!out_is_json(seen->o)) {
        if (phase == OM_GC_START)
            printf("  -> callback: collection of generation %d starting\n", info->generation);
        else
            printf("  -> callback: collection of generation %d done: %ld collected in %.1f "
                   "\xc2\xb5s\n", /* UTF-8 micro sign */
                   info->generation, info->collected, (double)elapsed / 1e3);
    }
    if (phase == OM_GC_START)
        seen->started_ns = now_ns(); /* after printing: the collection's time only */
}

static void gc_seen_reset(void)
{
    gc_seen.n = 0;
}

/* The last OM_GC_STOP seen, or NULL; *elapsed_ns (if not NULL) its time. */
static const om_gc_info *gc_seen_stop(uint64_t *elapsed_ns)
{
    for (int i = gc_seen.n - 1; i >= 0; i--) {
        if (gc_seen.phase[i] == OM_GC_STOP) {
            if (elapsed_ns != NULL)
                *elapsed_ns = gc_seen.elapsed_ns[i];
            return &gc_seen.info[i];
        }
    }
    return NULL;
}

/* JSON: the callback's calls since gc_seen_reset (the text printed them). */
static void gc_seen_emit(out *o)
{
    static const out_col cols[] = {
        {"phase", "phase", 0, 0},           {"generation", "generation", 0, 0},
        {"collected", "collected", 0, 0},   {"uncollectable", "uncollectable", 0, 0},
        {"examined", "examined", 0, 0},     {"duration_ns", "duration_ns", 0, 0},
        {"elapsed_ns", "elapsed_ns", 0, 0},
    };

    if (!out_is_json(o))
        return;
    out_table_begin(o, "callbacks", cols, (int)(sizeof cols / sizeof cols[0]));
    for (int i = 0; i < gc_seen.n; i++) {
        const om_gc_info *in = &gc_seen.info[i];
        int stop = gc_seen.phase[i] == OM_GC_STOP;
        out_val row[] = {OV_S(stop ? "stop" : "start"), OV_I(in->generation),
                         stop ? OV_I(in->collected) : OV_NA,
                         stop ? OV_I(in->uncollectable) : OV_NA,
                         stop ? OV_U(in->examined) : OV_NA,
                         stop ? OV_U(in->duration_ns) : OV_NA,
                         stop ? OV_U(gc_seen.elapsed_ns[i]) : OV_NA};
        out_row(o, row);
    }
    out_table_end(o);
}

/* ------------------------------------------------------------ 1. a cycle */

static void cycle_row(out *o, const char *python, const char *c_call, const om_object *a,
                      const om_object *b)
{
    out_val row[] = {OV_S(python), OV_S(c_call), OV_I(a->refcount),
                     b ? OV_I(b->refcount) : OV_NA, OV_U(lists_live())};
    out_row(o, row);
}

/* Leaves a and b alive in their cycle: part 2 collects them. */
static void show_cycle(out *o)
{
    static const out_col cols[] = {
        {"python", "in Python", 11, 0},     {"c_call", "in C", 40, 0},
        {"a_refcount", "a", 2, 0},          {"b_refcount", "b", 2, 0},
        {"lists_live", "lists", 5, 0},
    };
    om_object *a, *b;
    uint64_t base = lists_live();
    int a_tracked, b_tracked;
    om_block_info bi;

    out_para(o, "A cycle. a = []; b = [a]; a.append(b): each list holds the other. Then "
                "del a, b. Columns a and b are the lists' reference counts (read from "
                "a->refcount after the names are gone: we kept the addresses to look), "
                "'lists' the live lists, om_type_get_stats(&ex_list_type).live.");
    out_object_begin(o, "cycle");
    out_table_begin(o, "steps", cols, (int)(sizeof cols / sizeof cols[0]));
    a = tour_need(ex_list_new(0), "ex_list_new");
    cycle_row(o, "a = []", "a = ex_list_new(0)", a, NULL);
    b = tour_need(ex_list_new(0), "ex_list_new");
    tour_need_ok(ex_list_append(b, a), "ex_list_append");
    cycle_row(o, "b = [a]", "b = ex_list_new(0); ex_list_append(b, a)", a, b);
    tour_need_ok(ex_list_append(a, b), "ex_list_append");
    cycle_row(o, "a.append(b)", "ex_list_append(a, b)", a, b);
    tour_heapmap_point();
    om_decref(a);
    cycle_row(o, "del a", "om_decref(a)", a, b);
    om_decref(b);
    cycle_row(o, "del b", "om_decref(b)", a, b);
    out_table_end(o);
    a_tracked = om_gc_is_tracked(a);
    b_tracked = om_gc_is_tracked(b);
    tour_describe(a, &bi);
    out_fact(o, "lists_live_before", "live lists before a = []", OV_U(base));
    out_fact(o, "lists_live_after", "live lists after del a, b", OV_U(lists_live()));
    out_fact(o, "a_tracked", "om_gc_is_tracked(a)", OV_YN(a_tracked));
    out_fact(o, "b_tracked", "om_gc_is_tracked(b)", OV_YN(b_tracked));
    out_fact(o, "gc_header_bytes", "list: object starts at block +",
             OV_U((uintptr_t)a - (uintptr_t)bi.block));
    out_object_end(o);
    out_para(o, "Nothing outside refers to them any more, yet each count stopped at %" PRIdPTR
                " and %" PRIdPTR ", the reference the other list holds. No om_decref "
                "will ever bring them to zero: counting alone leaks the %" PRIu64 " lists "
                "for as long as the process lives (CPython with gc.disable() does the "
                "same). Both are tracked: the collector links every container, from "
                "om_new on, through the %zu-byte header in front of it (CPython's "
                "PyGC_Head).",
             a->refcount, b->refcount, lists_live() - base,
             (size_t)((uintptr_t)a - (uintptr_t)bi.block));
}

/* ------------------------------------------------------------ 2. a collection */

typedef struct gc_moment {
    long count[OM_GC_GENERATIONS];
    size_t objects[OM_GC_GENERATIONS];
    uint64_t lists;
} gc_moment;

static void moment_take(gc_moment *m)
{
    om_gc_get_count(m->count);
    for (int g = 0; g < OM_GC_GENERATIONS; g++)
        m->objects[g] = om_gc_count_objects(g);
    m->lists = lists_live();
}

static void moment_row(out *o, const char *what, const gc_moment *m)
{
    out_val row[] = {OV_S(what),           OV_I(m->count[0]),     OV_I(m->count[1]),
                     OV_I(m->count[2]),    OV_U(m->objects[0]),   OV_U(m->objects[1]),
                     OV_U(m->lists)};
    out_row(o, row);
}

static void stats_rows(out *o, const char *moment, const om_gc_gen_stats *st)
{
    for (int g = 0; g < OM_GC_GENERATIONS; g++) {
        out_val row[] = {OV_S(moment), OV_I(g), OV_U(st[g].collections), OV_U(st[g].collected),
                         OV_U(st[g].uncollectable), OV_U(st[g].total_ns)};
        out_row(o, row);
    }
}

static void show_collection(out *o, const gc_moment *start)
{
    static const out_col moment_cols[] = {
        {"moment", "moment", 22, 0},        {"count0", "count[0]", 8, 0},
        {"count1", "count[1]", 8, 0},       {"count2", "count[2]", 8, 0},
        {"gen0_objects", "gen 0", 5, 0},    {"gen1_objects", "gen 1", 5, 0},
        {"lists_live", "lists", 5, 0},
    };
    static const out_col stats_cols[] = {
        {"moment", "moment", 6, 0},         {"generation", "gen", 3, 0},
        {"collections", "collections", 11, 0}, {"collected", "collected", 9, 0},
        {"uncollectable", "uncollectable", 13, 0},
        {"total_ns", "time", 0, OUT_JSON_ONLY},
    };
    om_gc_gen_stats st_before[OM_GC_GENERATIONS], st_after[OM_GC_GENERATIONS];
    gc_moment before, after;
    const om_gc_info *stop;
    long found;

    moment_take(&before);
    om_gc_get_stats(st_before);
    out_para(o, "The collector. om_gc_get_count() is CPython's gc.get_count(): count[0] "
                "is tracked allocations minus deallocations since the last young "
                "collection (the two lists added %ld), count[1] the young collections "
                "since the last of generation 1, count[2] the generation-1 collections "
                "since the last full one. We ask for a young collection, om_gc_collect(0) "
                "(gc.collect(0)); the callback speaks at its start and its end.",
             before.count[0] - start->count[0]);
    if (!out_is_json(o))
        printf("\n  om_gc_collect(0)\n");
    gc_seen_reset();
    found = collect(0);
    stop = gc_seen_stop(NULL);
    moment_take(&after);
    om_gc_get_stats(st_after);

    out_object_begin(o, "collect");
    gc_seen_emit(o);
    out_table_begin(o, "moments", moment_cols, (int)(sizeof moment_cols / sizeof moment_cols[0]));
    moment_row(o, "chapter start", start);
    moment_row(o, "a, b dropped", &before);
    moment_row(o, "after om_gc_collect(0)", &after);
    out_table_end(o);
    out_fact(o, "returned", "om_gc_collect(0) returned", OV_I(found));
    out_fact(o, "examined", "objects examined", OV_U(stop ? stop->examined : 0));
    out_fact(o, "collected", "collected (callback)", stop ? OV_I(stop->collected) : OV_NA);
    out_fact(o, "uncollectable", "uncollectable (callback)",
             stop ? OV_I(stop->uncollectable) : OV_NA);
    out_table_begin(o, "stats", stats_cols, (int)(sizeof stats_cols / sizeof stats_cols[0]));
    stats_rows(o, "before", st_before);
    stats_rows(o, "after", st_after);
    out_table_end(o);
    out_object_end(o);
    out_para(o, "om_gc_collect(0) returned %ld: the lists were found unreachable. The "
                "collector counts, for each object, the references to it from other "
                "objects of the generation (found by the type's traverse; the counts are "
                "kept in a side table, a byte per object outside it); an object whose "
                "reference count is all counted there, and that no object referenced "
                "from outside reaches, is garbage: CPython's update_refs, subtract_refs "
                "and move_unreachable. Then clear (tp_clear) empties the lists, which "
                "breaks the cycle, and counting frees them. Live lists went "
                "from %" PRIu64 " to %" PRIu64 ". count[0] went back to %ld, count[1] from "
                "%ld to %ld; om_gc_get_stats() (gc.get_stats()) counted one more collection "
                "of generation 0, with %" PRIu64 " collected.",
             found, before.lists, after.lists, after.count[0], before.count[1], after.count[1],
             st_after[0].collected - st_before[0].collected);
}

/* ------------------------------------------------------------ 3. generations */

static void gens_row(out *o, const char *what, const gc_moment *m)
{
    out_val row[] = {OV_S(what), OV_I(m->count[0]), OV_U(m->objects[0]), OV_U(m->objects[1]),
                     OV_U(m->objects[2])};
    out_row(o, row);
}

/* l = [{}, {}, {}]: four live containers. */
static om_object *build_kept(void)
{
    om_object *l = tour_need(ex_list_new(DICTS_KEPT), "ex_list_new");

    for (int i = 0; i < DICTS_KEPT; i++) {
        om_object *d = tour_need(ex_dict_new(), "ex_dict_new");
        tour_need_ok(ex_list_append(l, d), "ex_list_append");
        om_decref(d);
    }
    return l;
}

static void show_generations(out *o)
{
    static const out_col cols[] = {
        {"moment", "moment", 34, 0},        {"count0", "count[0]", 8, 0},
        {"gen0", "gen 0", 5, 0},            {"gen1", "gen 1", 5, 0},
        {"gen2", "gen 2", 5, 0},
    };
    long threshold[OM_GC_GENERATIONS], returned, poll_again;
    om_gc_gen_stats st0[OM_GC_GENERATIONS], st1[OM_GC_GENERATIONS], st2[OM_GC_GENERATIONS];
    gc_moment built, young, filled, polled;
    int starts_alloc, poll_gen = -1, poll_again_runs;
    const om_gc_info *stop;
    om_object *l;
    size_t added;
    char what[64];

    out_para(o, "Generations. Most objects die young, so the collector looks at new "
                "objects most often. A container that survives a collection moves up a "
                "generation, and older generations are collected more rarely. "
                "l = [{}, {}, {}] is %d live containers; we run om_gc_collect(0) again.",
             1 + DICTS_KEPT);
    l = build_kept();
    moment_take(&built);
    if (!out_is_json(o))
        printf("\n  om_gc_collect(0)\n");
    gc_seen_reset();
    collect(0);
    moment_take(&young);

    om_gc_get_threshold(threshold);
    added = threshold[0] >= young.count[0] ? (size_t)(threshold[0] - young.count[0] + 1) : 1;
    out_object_begin(o, "generations");
    gc_seen_emit(o);
    out_table_begin(o, "moments", cols, (int)(sizeof cols / sizeof cols[0]));
    gens_row(o, "l = [{}, {}, {}]", &built);
    gens_row(o, "after om_gc_collect(0)", &young);
    out_table_end(o);
    out_fact(o, "threshold0", "threshold 0 (young collection)", OV_I(threshold[0]));
    out_fact(o, "threshold1", "threshold 1", OV_I(threshold[1]));
    out_fact(o, "threshold2", "threshold 2", OV_I(threshold[2]));
    out_para(o, "The %zu containers moved from generation 0 to generation 1. "
                "om_gc_get_threshold() is gc.get_threshold(): (%ld, %ld, %ld). A young "
                "collection is due when count[0] exceeds %ld, generation 1 is collected "
                "every %ld young collections, and generation 2 (a full collection) every "
                "%ld of those, and only when the objects waiting for their first full "
                "collection exceed 25%% of the long-lived ones.",
             young.objects[1] - built.objects[1], threshold[0], threshold[1], threshold[2],
             threshold[0], threshold[1], threshold[2]);

    /* An automatic collection: due after the allocations, run at the poll. */
    out_para(o, "A due collection does not run inside the allocation that made it due: "
                "a finalizer or a weak reference callback would then run in the middle of "
                "any om_new, in code not written for it. It waits for a safe point, "
                "om_gc_poll() (om_lock_yield polls too), as CPython's eval loop runs it "
                "from its eval breaker. We append %zu new lists to l, then poll.",
             added);
    om_gc_get_stats(st0);
    gc_seen_reset();
    for (size_t i = 0; i < added; i++) {
        om_object *item = tour_need(ex_list_new(0), "ex_list_new");
        tour_need_ok(ex_list_append(l, item), "ex_list_append");
        om_decref(item);
    }
    moment_take(&filled);
    om_gc_get_stats(st1);
    starts_alloc = gc_seen.n;
    if (!out_is_json(o))
        printf("\n  om_gc_poll()\n");
    gc_seen_reset();
    returned = om_gc_poll();
    stop = gc_seen_stop(NULL);
    if (stop != NULL)
        poll_gen = stop->generation;
    moment_take(&polled);
    om_gc_get_stats(st2);
    out_object_begin(o, "poll");
    gc_seen_emit(o);
    out_fact(o, "lists_added", NULL, OV_U(added));
    out_table_begin(o, "moments", cols, (int)(sizeof cols / sizeof cols[0]));
    snprintf(what, sizeof what, "%zu lists appended", added);
    gens_row(o, what, &filled);
    gens_row(o, "after om_gc_poll()", &polled);
    out_table_end(o);
    out_fact(o, "collections_during_allocation", "collections while allocating",
             OV_U(st1[0].collections + st1[1].collections + st1[2].collections -
                  st0[0].collections - st0[1].collections - st0[2].collections));
    out_fact(o, "callbacks_during_allocation", NULL, OV_I(starts_alloc));
    out_fact(o, "poll_returned", "om_gc_poll() returned", OV_I(returned));
    out_fact(o, "poll_generation", "generation om_gc_poll() collected",
             poll_gen >= 0 ? OV_I(poll_gen) : OV_NA);
    out_fact(o, "poll_collections", NULL,
             OV_U(st2[0].collections + st2[1].collections + st2[2].collections -
                  st1[0].collections - st1[1].collections - st1[2].collections));
    gc_seen_reset();
    poll_again = om_gc_poll();
    poll_again_runs = gc_seen.n;
    out_fact(o, "poll_again_returned", NULL, OV_I(poll_again));
    out_fact(o, "poll_again_callbacks", "callbacks from a second om_gc_poll()",
             OV_I(poll_again_runs));
    out_object_end(o);
    out_object_end(o);
    out_para(o, "count[0] passed %ld during the appends, but no collection ran there; "
                "the poll ran it. It found %ld unreachable (everything is still in l) and "
                "moved the survivors up: generation 1 holds %zu now. A second poll has "
                "nothing due and costs one load. del l frees all %zu containers by "
                "counting alone: no cycle, no collector needed.",
             threshold[0], returned, polled.objects[1], 1 + DICTS_KEPT + added);
    om_decref(l);
}

/* ------------------------------------------------------------ 4. the order */

/* A type with a finalizer (Python: a class with __del__) that can form
 * cycles and be weakly referenced; its hooks write down when they run. */
typedef struct node {
    om_object ob;
    om_object *other;
    om_weakref *weaklist;
    char name[4];
} node;

static struct order_log {
    int n;
    struct {
        const char *call;
        char object[4];
        char note[56];
    } ev[ORDER_EVENTS_MAX];
} order_log;

static void order_add(const char *call, const char *object, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void order_add(const char *call, const char *object, const char *fmt, ...)
{
    va_list ap;

    if (order_log.n >= ORDER_EVENTS_MAX)
        return;
    order_log.ev[order_log.n].call = call;
    snprintf(order_log.ev[order_log.n].object, sizeof order_log.ev[0].object, "%s", object);
    va_start(ap, fmt);
    vsnprintf(order_log.ev[order_log.n].note, sizeof order_log.ev[0].note, fmt, ap);
    va_end(ap);
    order_log.n++;
}

static const char *node_name(const om_object *o)
{
    return ((const node *)o)->name;
}

static int node_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    node *n = (node *)self;

    return n->other ? visit(n->other, arg) : 0;
}

static void node_clear(om_object *self)
{
    node *n = (node *)self;
    const char *who = self->refcount > 0 ? "by the collector" : "while destroyed";

    if (n->other == NULL) {
        order_add("clear", n->name, "%s: nothing left to drop", who);
        return;
    }
    order_add("clear", n->name, "%s: drops %s.other, %s's count %" PRIdPTR " -> %" PRIdPTR,
              who, n->name, node_name(n->other), n->other->refcount, n->other->refcount - 1);
    om_clear_ref(&n->other);
}

static void node_finalize(om_object *self)
{
    node *n = (node *)self;

    order_add("finalize", n->name, "%s.other = %s: the cycle still intact", n->name,
              n->other ? node_name(n->other) : "NULL");
}

static void node_release(om_object *self)
{
    order_add("release", node_name(self), "memory goes back");
}

static om_type node_type = {
    OM_TYPE_INIT,
    .name = "node",
    .size = sizeof(node),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(node, weaklist),
    .traverse = node_traverse,
    .clear = node_clear,
    .finalize = node_finalize,
    .release = node_release,
};

static void node_weak_callback(om_weakref *ref, om_object *data)
{
    om_object *referent = om_weakref_get(ref);

    (void)data;
    order_add("callback", "r", "om_weakref_get(r) = %s", referent ? "x" : "NULL");
    om_xdecref(referent);
}

static om_object *node_new(const char *name)
{
    node *n = (node *)tour_need(om_new(&node_type), "om_new(node)");

    snprintf(n->name, sizeof n->name, "%s", name);
    return &n->ob;
}

static void show_order(out *o)
{
    static const out_col cols[] = {
        {"step", "step", 4, 0},     {"call", "call", 8, 0},
        {"object", "on", 2, 0},     {"note", "what it sees or does", 54, 0},
    };
    om_object *x, *y;
    om_weakref *r;
    om_type_stats st;
    long found;

    order_log.n = 0;
    out_para(o, "The order. x and y are instances of a type with a finalizer (a class "
                "with __del__), each holding the other; r = weakref.ref(x, callback). "
                "We drop x and y and collect. Each hook of the type writes a line when "
                "it runs.");
    x = node_new("x");
    y = node_new("y");
    ((node *)x)->other = om_newref(y);
    ((node *)y)->other = om_newref(x);
    r = (om_weakref *)tour_need((om_object *)om_weakref_new(x, node_weak_callback, NULL),
                           "om_weakref_new");
    om_decref(x);
    om_decref(y);
    if (!out_is_json(o))
        printf("\n  om_gc_collect(0)\n");
    gc_seen_reset();
    found = collect(0);
    om_type_get_stats(&node_type, &st);

    out_object_begin(o, "order");
    gc_seen_emit(o);
    out_table_begin(o, "events", cols, (int)(sizeof cols / sizeof cols[0]));
    for (int i = 0; i < order_log.n; i++) {
        out_val row[] = {OV_I(i + 1), OV_S(order_log.ev[i].call), OV_S(order_log.ev[i].object),
                         OV_S(order_log.ev[i].note)};
        out_row(o, row);
    }
    out_table_end(o);
    out_fact(o, "returned", "om_gc_collect(0) returned", OV_I(found));
    out_fact(o, "nodes_live", "live nodes after", OV_U(st.live));
    out_object_end(o);
    out_para(o, "First the weak references to the garbage are cleared and their "
                "callbacks run (r is reachable, so its callback runs; it already sees "
                "NULL), so that no code run later can reach the garbage through them. "
                "Then each finalizer, once (PEP 442), while every object is intact: a "
                "finalizer may even resurrect its object, and the collector checks for "
                "that before going on. Last, clear (tp_clear) breaks the cycle (the "
                "counts include the references the collector holds while it clears), and "
                "counting frees the objects: each one's own destruction clears once more, "
                "with nothing left to drop, then releases it. A plain om_decref runs finalize first, then the weak "
                "references: objmem.h section 8. The collector returned %ld: r is "
                "reachable, only x and y were garbage.",
             found);
    om_decref(r);
}

/* ------------------------------------------------------------ 5. a timed run */

/* A ring of n lists, each holding the next, the last holding the first:
 * one cycle of n objects.  Returns nothing: we drop the ring at once. */
static void build_ring(size_t n)
{
    om_object *first = tour_need(ex_list_new(1), "ex_list_new"), *prev = first;

    for (size_t i = 1; i < n; i++) {
        om_object *l = tour_need(ex_list_new(1), "ex_list_new");
        tour_need_ok(ex_list_append(prev, l), "ex_list_append");
        om_decref(l); /* prev holds it */
        prev = l;
    }
    tour_need_ok(ex_list_append(prev, first), "ex_list_append");
    om_decref(first); /* the last list holds it */
}

static void show_timed(out *o)
{
    uint64_t before, after, ns;
    const om_gc_info *stop;
    char buf[48];
    long found;

    out_para(o, "A timed run. A ring of %d lists, each holding the next and the last "
                "holding the first, built and dropped: one cycle that counting cannot "
                "free, collected by one om_gc_collect(0). The times are this machine's "
                "and change from run to run.",
             RING_SIZE);
    before = lists_live();
    build_ring(RING_SIZE);
    after = lists_live();
    if (!out_is_json(o))
        printf("\n  om_gc_collect(0)\n");
    gc_seen_reset();
    found = collect(0);
    stop = gc_seen_stop(&ns);
    if (stop == NULL)
        ns = 0;

    out_object_begin(o, "timed");
    gc_seen_emit(o);
    out_fact(o, "objects", "lists in the ring", OV_U(after - before));
    out_fact(o, "returned", "om_gc_collect(0) returned", OV_I(found));
    out_fact(o, "lists_live_after", NULL, OV_U(lists_live() - before));
    if (out_is_json(o)) {
        out_fact(o, "duration_ns", NULL, OV_U(ns));
        out_fact(o, "ns_per_object", NULL, OV_U(found > 0 ? ns / (uint64_t)found : 0));
    } else {
        snprintf(buf, sizeof buf, "%.2f ms", (double)ns / 1e6);
        out_fact(o, "duration_ns", "time (machine-dependent)", OV_S(buf));
        snprintf(buf, sizeof buf, "%.1f ns",
                 found > 0 ? (double)ns / (double)found : 0.0);
        out_fact(o, "ns_per_object", "per object (machine-dependent)", OV_S(buf));
    }
    out_object_end(o);
    out_para(o, "The time includes freeing the lists: clear, then each list's destruction "
                "and its item buffer's om_free. A collection costs in proportion to the "
                "objects it examines: each of its two passes (count the references from "
                "inside, then keep or set aside) walks the collected generations once, "
                "without recursion or allocation. That is why the small young generation is collected often "
                "and a full collection, over every long-lived object, rarely.");
}

/* ------------------------------------------------------------ the chapter */

void tour_gc(out *o)
{
    long threshold[OM_GC_GENERATIONS], threshold_end[OM_GC_GENERATIONS];
    int held, held_after, enabled, added, removed, restored;
    gc_moment start;
    size_t cleared;

    tour_reset_heap();
    om_lock_acquire();
    held = om_lock_held();
    enabled = om_gc_isenabled();
    om_gc_get_threshold(threshold);
    moment_take(&start);
    gc_seen = (struct gc_seen){.o = o};
    added = om_gc_callback_add(gc_callback, &gc_seen);
    tour_need_ok(added, "om_gc_callback_add");

    out_section_begin(o, "gc", "Cycles: what counting cannot free");
    out_para(o, "Counting frees an object when the last reference to it goes. Objects "
                "that refer to each other keep each other's counts above zero after the "
                "program has forgotten them all: a cycle. CPython's answer is its cycle "
                "collector, the gc module; objmem's (om_gc_*, src/gc/) is the same "
                "generational algorithm. It looks only at containers, the types with "
                "OM_TYPE_GC (list, dict and tuple here), which it tracks from om_new on.");
    out_para(o, "The chapter holds the runtime lock, as the previous one, and registers "
                "a callback with om_gc_callback_add() (CPython's gc.callbacks): the lines "
                "marked -> are the collector calling it at the start and the end of each "
                "collection.");
    out_fact(o, "lock_held", "om_lock_held()", OV_YN(held));
    out_fact(o, "enabled", "om_gc_isenabled()", OV_YN(enabled));
    out_fact(o, "callback_add", "om_gc_callback_add() returned", OV_I(added));

    show_cycle(o);
    show_collection(o, &start);
    show_generations(o);
    show_order(o);
    show_timed(o);

    removed = om_gc_callback_remove(gc_callback, &gc_seen);
    om_gc_get_threshold(threshold_end);
    restored = om_gc_isenabled() == enabled && memcmp(threshold, threshold_end, sizeof threshold) == 0;
    cleared = om_freelists_clear();
    out_fact(o, "callback_remove", "om_gc_callback_remove() returned", OV_I(removed));
    out_fact(o, "collector_as_found", "collector enabled, same thresholds", OV_YN(restored));
    out_fact(o, "freelists_cleared", NULL, OV_U(cleared));
    om_lock_release();
    held_after = om_lock_held();
    out_fact(o, "lock_held_after", NULL, OV_YN(held_after));
    out_section_end(o);
}
