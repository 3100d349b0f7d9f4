/*
 * test_gc_declared.c — declared references (om_type.ref_fields,
 * OM_TYPE_REF_ITEMS), the API: which declarations om_new refuses (EINVAL);
 * the traverse and clear objmem supplies (exactly the declared, non-NULL
 * references, fields scattered or in a run, then items); a hook the type
 * gives is used instead; cycles of such objects are collected; immutable
 * item containers of atomic objects are untracked.  Big containers of
 * declared references against a model: test_gc_declared_model.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "gctest.h"

/* pair: a gt_snode (gctest.h): a, an id, then b */
static int leaf_freed;
static void leaf_release(om_object *self) { (void)self; leaf_freed++; }
static om_type leaf_type = {OM_TYPE_INIT, .name = "leaf", .size = sizeof(om_object) + 16, .release = leaf_release};

/* GC, fields a and b scattered (words 2 and 4), no traverse, no clear */
static int pair_freed;
static void pair_release(om_object *self) { (void)self; pair_freed++; }
static om_type pair_type = {
    OM_TYPE_INIT,
    .name = "pair",
    .size = sizeof(gt_snode),
    .flags = OM_TYPE_GC,
    .ref_fields = GT_SNODE_REFS,
    .release = pair_release,
};

/* box: a gt_link, not a container, but it holds a reference: objmem's
 * clear drops it */
static om_type box_type = {OM_TYPE_INIT, .name = "box", .size = sizeof(gt_link), .ref_fields = OM_REF_FIELD(gt_link, ref)};

/* a tuple: items only, immutable */
static om_type tup_type = {
    OM_TYPE_INIT,
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
    OM_TYPE_INIT,
    .name = "rec",
    .size = sizeof(rec),
    .item_size = sizeof(om_object *),
    .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS,
    .ref_fields = OM_REF_FIELD(rec, head),
};

static void test_refused_declarations(void)
{
    static om_type no_refs = {OM_TYPE_INIT, .name = "x", .size = sizeof(gt_snode), .flags = OM_TYPE_GC};
    static om_type header = {OM_TYPE_INIT, .name = "x", .size = sizeof(gt_snode), .flags = OM_TYPE_GC, .ref_fields = 1};
    static om_type type_word = {OM_TYPE_INIT, .name = "x", .size = sizeof(gt_snode), .flags = OM_TYPE_GC, .ref_fields = 2};
    static om_type outside = {OM_TYPE_INIT, .name = "x", .size = sizeof(gt_snode), .flags = OM_TYPE_GC, .ref_fields = 1u << 5};
    static om_type nitems = {OM_TYPE_INIT, .name = "x", .size = sizeof(rec), .item_size = 8, .flags = OM_TYPE_GC,
                             .ref_fields = 1u << 2};
    static om_type items_size = {OM_TYPE_INIT, .name = "x", .size = sizeof(om_varobject), .item_size = 4,
                                 .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS};
    static om_type weak = {OM_TYPE_INIT, .name = "x", .size = sizeof(gt_snode), .flags = OM_TYPE_GC,
                           .weaklist_offset = offsetof(gt_snode, b), .ref_fields = OM_REF_FIELD(gt_snode, b)};
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

static om_refs hook_refs(om_object *self) { return (om_refs){&((gt_link *)self)->ref, 1}; }
static int hook_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    return ((gt_link *)self)->ref ? visit(((gt_link *)self)->ref, arg) : 0;
}

static void test_refused_with_hook(void)
{
    static om_type both = {OM_TYPE_INIT, .name = "x", .size = sizeof(gt_link), .flags = OM_TYPE_GC, .traverse = hook_traverse,
                           .refs = hook_refs, .ref_fields = OM_REF_FIELD(gt_link, ref)};
    errno = 0;
    CHECK(om_new(&both) == NULL);
    CHECK_EQ(errno, EINVAL);
}

static int visit_stop(om_object *c, void *arg)
{
    (void)c;
    return ++*(int *)arg == 2 ? 7 : 0;
}

static void test_supplied_traverse(void)
{
    om_object *x = om_new(&leaf_type), *y = om_new(&leaf_type), *z = om_new(&leaf_type);
    gt_snode *p = (gt_snode *)om_new(&pair_type);
    REQUIRE(x && y && z && p);
    p->id = 12345; /* never visited: not declared */
    gt_seen s = {0};
    CHECK_EQ(om_traverse(OM_OBJ(p), gt_visit_record, &s), 0);
    CHECK_EQ(s.n, 0); /* NULL fields are skipped */
    p->b = om_newref(y);
    s.n = 0;
    om_traverse(OM_OBJ(p), gt_visit_record, &s);
    CHECK_EQ(s.n, 1);
    CHECK(s.o[0] == y);
    p->a = om_newref(x);
    s.n = 0;
    om_gc_get_referents(OM_OBJ(p), gt_visit_record, &s);
    CHECK_EQ(s.n, 2);
    CHECK(s.o[0] == x && s.o[1] == y); /* in field order */

    rec *r = (rec *)om_new_var(&rec_type, 3);
    REQUIRE(r != NULL);
    r->head = om_newref(z);
    om_object **items = (om_object **)(r + 1);
    items[0] = om_newref(x);
    items[2] = om_newref(y);
    s.n = 0;
    om_traverse(OM_OBJ(r), gt_visit_record, &s);
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
    gt_link *b = (gt_link *)om_new(&box_type);
    REQUIRE(b != NULL);
    b->ref = om_new(&leaf_type);
    REQUIRE(b->ref != NULL);
    CHECK(!om_gc_is_tracked(OM_OBJ(b)));
    om_decref(b);
    CHECK_EQ(leaf_freed, 1);
}

static int given_traverse_calls, given_clear_calls;
static int given_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    given_traverse_calls++;
    gt_snode *p = (gt_snode *)self;
    int r;
    if (p->a && (r = visit(p->a, arg)) != 0)
        return r;
    return p->b ? visit(p->b, arg) : 0;
}
static void given_clear(om_object *self)
{
    given_clear_calls++;
    gt_snode *p = (gt_snode *)self;
    om_clear_ref(&p->a);
    om_clear_ref(&p->b);
}

static void test_given_hooks_win(void)
{
    om_gc_collect(2);
    static om_type t = {OM_TYPE_INIT, .name = "given", .size = sizeof(gt_snode), .flags = OM_TYPE_GC,
                        .traverse = given_traverse, .clear = given_clear,
                        .ref_fields = OM_REF_FIELD(gt_snode, a) | OM_REF_FIELD(gt_snode, b)};
    gt_snode *p = (gt_snode *)om_new(&t), *q = (gt_snode *)om_new(&t);
    REQUIRE(p && q);
    p->a = om_newref(OM_OBJ(q));
    q->b = om_newref(OM_OBJ(p));
    gt_seen s = {0};
    given_traverse_calls = given_clear_calls = 0;
    om_traverse(OM_OBJ(p), gt_visit_record, &s);
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
    gt_snode *self = (gt_snode *)om_new(&pair_type);
    REQUIRE(self != NULL);
    self->a = om_newref(OM_OBJ(self));
    gt_snode *p = (gt_snode *)om_new(&pair_type), *q = (gt_snode *)om_new(&pair_type);
    REQUIRE(p && q);
    p->b = om_newref(OM_OBJ(q));
    q->b = om_newref(OM_OBJ(p));
    gt_snode *first = (gt_snode *)om_new(&pair_type), *cur = first;
    REQUIRE(first != NULL);
    for (int i = 1; i < 1000; i++) {
        gt_snode *n = (gt_snode *)om_new(&pair_type);
        REQUIRE(n != NULL);
        cur->a = OM_OBJ(n); /* takes n's reference */
        cur = n;
    }
    cur->a = om_newref(OM_OBJ(first));
    /* who refers to first: the last of the ring */
    gt_seen s = {0};
    om_gc_get_referrers(OM_OBJ(first), gt_visit_record, &s);
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
    gt_snode *p = (gt_snode *)om_new(&pair_type);
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
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
