/*
 * test_gc_regress.c — regression tests for bugs found in review of the
 * object layer and the collector.  Each case failed (crash, wrong count or
 * leak) before its fix.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "objmem.h"
#include "check.h"
#include "gctest.h"

/* ---- 1. a basic weak reference waiting dead is never shared ------------ */
typedef struct tgt { om_object ob; om_weakref *wl; } tgt;
static om_type tgt_type = { OM_TYPE_INIT, .name = "tgt", .size = sizeof(tgt), .weaklist_offset = offsetof(tgt, wl) };

typedef struct holder { om_object ob; om_object *w, *r; } holder;
static om_weakref *shared;
static void holder_clear(om_object *self)
{
    holder *h = (holder *)self;
    om_clear_ref(&h->w); /* the weak reference's last reference: it waits in the loop */
    shared = om_weakref_new(h->r, NULL, NULL);
    om_clear_ref(&h->r);
}
static om_type holder_type = { OM_TYPE_INIT, .name = "holder", .size = sizeof(holder), .clear = holder_clear };

static void test_dead_weakref_not_shared(void)
{
    om_object *r = om_new(&tgt_type);
    REQUIRE(r != NULL);
    om_weakref *w = om_weakref_new(r, NULL, NULL);
    holder *h = (holder *)om_new(&holder_type);
    REQUIRE(w != NULL && h != NULL);
    h->w = OM_OBJ(w);
    h->r = om_newref(r);
    shared = NULL;
    om_decref(h);
    REQUIRE(shared != NULL);
    CHECK(shared != w);
    CHECK_EQ(OM_OBJ(shared)->refcount, 1);
    om_object *got = om_weakref_get(shared);
    CHECK_PTR_EQ(got, r);
    om_xdecref(got);
    CHECK_EQ(om_weakref_count(r), 1);
    om_decref(shared);
    om_decref(r);
}

/* ---- 2. a collection inside the destruction loop never sees the dead --- */
/* node: a gt_link (gctest.h), one reference and an id */
static int fin_runs[3];
static intptr_t fin_count_seen[3];
static void node_finalize(om_object *s)
{
    gt_link *n = (gt_link *)s;
    fin_runs[n->id]++;
    fin_count_seen[n->id] = s->refcount;
    if (n->id == 1)
        om_clear_ref(&n->ref); /* drops 1 -> 2: 2's count reaches zero in the loop */
    else {
        om_incref(s); /* any pair on a dead object would corrupt the loop */
        om_decref(s);
    }
}
static om_type fnode_type = { OM_TYPE_INIT, .name = "fnode", .size = sizeof(gt_link), .flags = OM_TYPE_GC,
                              .traverse = gt_link_traverse, .clear = gt_link_clear, .finalize = node_finalize };

static long nested_ret;
static size_t nested_seen_dead;
static int count_dead(om_object *o, void *arg)
{
    (void)arg;
    if (o->refcount <= 0)
        nested_seen_dead++;
    return 0;
}
static void trig_finalize(om_object *s)
{
    (void)s;
    nested_ret = om_gc_collect(2);
    om_gc_get_objects(-1, count_dead, NULL);
}
static om_type trig_type = { OM_TYPE_INIT, .name = "trig", .size = sizeof(om_object), .finalize = trig_finalize };

static void test_collect_in_destroy_loop(void)
{
    gt_link *a = (gt_link *)om_new(&fnode_type), *b = (gt_link *)om_new(&fnode_type);
    REQUIRE(a != NULL && b != NULL);
    a->id = 1;
    b->id = 2;
    a->ref = om_newref(OM_OBJ(b));
    b->ref = om_newref(OM_OBJ(a));
    om_decref(a);
    om_decref(b);
    om_object *t = om_new(&trig_type);
    REQUIRE(t != NULL);
    fin_runs[1] = fin_runs[2] = 0;
    nested_seen_dead = 0;
    om_decref(t); /* the loop: trig's finalizer collects */
    CHECK_EQ(fin_runs[1], 1);
    CHECK_EQ(fin_runs[2], 1);
    CHECK(fin_count_seen[2] >= 1); /* a finalizer never runs on a dead count */
    CHECK_EQ(nested_seen_dead, 0);
    om_type_stats st;
    om_type_get_stats(&fnode_type, &st);
    CHECK_EQ(st.live, 0);
    CHECK_EQ(om_gc_collect(2), 0);
}

/* ---- 3. collected counts only what was freed ----------------------------- */
static om_object *saved;
static void save_finalize(om_object *s) { saved = om_newref(s); }
static om_type snode_type = { OM_TYPE_INIT, .name = "snode", .size = sizeof(gt_link), .flags = OM_TYPE_GC,
                              .traverse = gt_link_traverse, .clear = gt_link_clear, .finalize = save_finalize };

static void test_resurrected_not_collected(void)
{
    om_gc_collect(2);
    om_gc_gen_stats s0[OM_GC_GENERATIONS], s1[OM_GC_GENERATIONS];
    om_gc_get_stats(s0);
    gt_link *a = (gt_link *)om_new(&snode_type);
    REQUIRE(a != NULL);
    a->ref = om_newref(OM_OBJ(a));
    om_decref(a);
    saved = NULL;
    CHECK_EQ(om_gc_collect(2), 0);
    om_gc_get_stats(s1);
    CHECK_EQ(s1[2].collected - s0[2].collected, 0);
    CHECK_PTR_EQ(saved, a);
    CHECK(om_gc_is_tracked(saved));
    gt_link_clear(saved);
    om_decref(saved);
}

/* ---- 4. the garbage list keeps its objects ------------------------------- */
static om_type noclear_type = { OM_TYPE_INIT, .name = "noclear", .size = sizeof(gt_link), .flags = OM_TYPE_GC,
                                .traverse = gt_link_traverse };

static void test_garbage_list_untrack(void)
{
    gt_link *a = (gt_link *)om_new(&noclear_type);
    REQUIRE(a != NULL);
    a->ref = om_newref(OM_OBJ(a));
    om_decref(a); /* uncollectable: no clear */
    CHECK_EQ(om_gc_collect(2), 1);
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK_EQ(om_gc_untrack(OM_OBJ(a)), EBUSY);
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    om_clear_ref(&a->ref); /* break it by hand: it dies */
    om_type_stats st;
    om_type_get_stats(&noclear_type, &st);
    CHECK_EQ(st.live, 0);
}

/* ---- 5. resize keeps the generation; freeze resets only count[0] --------- */
/* vec: a gt_vec whose items are followed by traverse and clear hooks */
static om_type vec_type = { OM_TYPE_INIT, .name = "vec", .size = sizeof(gt_vec), .item_size = sizeof(om_object *),
                            .flags = OM_TYPE_GC, .traverse = gt_vec_traverse, .clear = gt_vec_clear };

static void test_resize_keeps_generation(void)
{
    om_object *v = om_new_var(&vec_type, 2);
    REQUIRE(v != NULL);
    om_gc_collect(0);
    om_gc_collect(1); /* now in generation 2 */
    size_t g2 = om_gc_count_objects(2);
    CHECK_EQ(om_resize_var(&v, 100), 0);
    CHECK_EQ(om_gc_count_objects(2), g2);
    om_gc_freeze();
    size_t frozen = om_gc_get_freeze_count();
    CHECK_EQ(om_resize_var(&v, 3), 0);
    CHECK_EQ(om_gc_get_freeze_count(), frozen); /* still frozen */
    om_gc_unfreeze();
    om_decref(v);
}

static void test_freeze_counts(void)
{
    om_gc_collect(2);
    om_gc_collect(0); /* count[1] = 1 */
    long c[OM_GC_GENERATIONS];
    om_gc_get_count(c);
    long c1 = c[1];
    CHECK(c1 >= 1);
    om_object *v = om_new_var(&vec_type, 1);
    REQUIRE(v != NULL);
    om_gc_freeze();
    om_gc_get_count(c);
    CHECK_EQ(c[0], 0);
    CHECK_EQ(c[1], c1); /* as CPython's gc.freeze: only generation 0's count */
    om_gc_unfreeze();
    om_decref(v);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_dead_weakref_not_shared),
        CHECK_CASE(test_collect_in_destroy_loop),
        CHECK_CASE(test_resurrected_not_collected),
        CHECK_CASE(test_garbage_list_untrack),
        CHECK_CASE(test_resize_keeps_generation),
        CHECK_CASE(test_freeze_counts),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
