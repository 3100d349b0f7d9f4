/*
 * test_objects_var.c — variable-size objects (objmem.h §8): om_new_var
 * sizes from 0 to 100000 items, with and without a collector header, items
 * zeroed; size overflow (ENOMEM, nothing created); EINVAL for types too
 * small for their header and for om_new on a variable-size type;
 * om_resize_var growing and shrinking with the items kept, ENOMEM leaving
 * the object intact, EINVAL when shared, weakly referenced or fixed-size.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"
#include "objtest.h"

/* ------------------------------------------------------------ variable size */

typedef struct vec {
    om_varobject ob;
    om_weakref *weaklist;
    int64_t items[];
} vec;
static om_type vec_type = { OM_TYPE_INIT, .name = "vec", .size = sizeof(vec), .item_size = sizeof(int64_t),
                            .weaklist_offset = offsetof(vec, weaklist) };

static int gcvec_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}
static om_type gcvec_type = { OM_TYPE_INIT, .name = "gcvec", .size = sizeof(vec), .item_size = sizeof(int64_t),
                              .flags = OM_TYPE_GC, .traverse = gcvec_traverse };

typedef struct bytesobj { om_varobject ob; char data[]; } bytesobj;
static om_type bytes_type = { OM_TYPE_INIT, .name = "bytes", .size = sizeof(bytesobj), .item_size = 1 };

static void test_new_var_sizes(void)
{
    size_t counts[] = { 0, 1, 2, 7, 60, 61, 62, 100, 1000, 16000, 20000, 100000 };
    om_type_stats s0 = ot_stats(&vec_type);
    for (size_t k = 0; k < CHECK_COUNT(counts); k++) {
        size_t n = counts[k];
        vec *v = (vec *)om_new_var(&vec_type, n);
        REQUIRE(v != NULL);
        CHECK_EQ(v->ob.ob.refcount, 1);
        CHECK_PTR_EQ(v->ob.ob.type, &vec_type);
        CHECK_EQ(v->ob.nitems, n);
        CHECK(v->weaklist == NULL);
        CHECK_EQ((uintptr_t)v % 16, 0);
        CHECK_MSG(om_usable_size(v) >= sizeof(vec) + n * sizeof(int64_t),
                  "n=%zu: usable %zu < %zu", n, om_usable_size(v), sizeof(vec) + n * sizeof(int64_t));
        CHECK(tu_all_bytes(v->items, n * sizeof(int64_t), 0));
        for (size_t i = 0; i < n; i++)
            v->items[i] = -1;
        om_decref(v);
        /* a GC variable-size object: items zeroed too */
        vec *g = (vec *)om_new_var(&gcvec_type, n);
        REQUIRE(g != NULL);
        CHECK_EQ(g->ob.nitems, n);
        CHECK(tu_all_bytes(g->items, n * sizeof(int64_t), 0));
        for (size_t i = 0; i < n; i++)
            g->items[i] = -1;
        om_decref(g);
    }
    om_type_stats s1 = ot_stats(&vec_type);
    CHECK_EQ(s1.created - s0.created, CHECK_COUNT(counts));
    CHECK_EQ(s1.destroyed - s0.destroyed, CHECK_COUNT(counts));
    CHECK_EQ(s1.live, s0.live);
    CHECK_EQ(ot_live(&gcvec_type), 0);

    bytesobj *b = (bytesobj *)om_new_var(&bytes_type, 5);
    REQUIRE(b != NULL);
    CHECK_EQ(b->ob.nitems, 5);
    CHECK_GE(om_usable_size(b), sizeof(bytesobj) + 5);
    CHECK(tu_all_bytes(b->data, 5, 0));
    om_decref(b);
}

static void test_new_var_overflow(void)
{
    struct { om_type *t; size_t n; } bad[] = {
        { &vec_type, SIZE_MAX },
        { &vec_type, SIZE_MAX / 8 + 1 },          /* n * 8 overflows */
        { &vec_type, SIZE_MAX / 8 },              /* n * 8 fits, + header overflows */
        { &vec_type, (SIZE_MAX - sizeof(vec)) / 8 + 1 },
        { &vec_type, (size_t)INTPTR_MAX + 1 },    /* does not fit nitems */
        { &gcvec_type, SIZE_MAX },
        { &gcvec_type, SIZE_MAX / 8 },
        { &bytes_type, SIZE_MAX },
        { &bytes_type, SIZE_MAX - sizeof(bytesobj) + 1 },
        { &bytes_type, SIZE_MAX - 8 },            /* + header + collector/rounding overflows */
        { &bytes_type, (size_t)INTPTR_MAX + 1 },  /* fits size_t, not nitems */
    };
    om_type_stats v0 = ot_stats(&vec_type), b0 = ot_stats(&bytes_type);
    for (size_t k = 0; k < CHECK_COUNT(bad); k++) {
        errno = 0;
        om_object *o = om_new_var(bad[k].t, bad[k].n);
        CHECK_MSG(o == NULL, "case %zu (%s, %zu items): got an object", k, bad[k].t->name, bad[k].n);
        CHECK_MSG(errno == ENOMEM, "case %zu: errno %d, want ENOMEM", k, errno);
    }
    om_type_stats v1 = ot_stats(&vec_type), b1 = ot_stats(&bytes_type);
    CHECK_EQ(v1.created, v0.created);
    CHECK_EQ(v1.live, v0.live);
    CHECK_EQ(b1.created, b0.created);
    /* still works afterwards */
    om_object *o = om_new_var(&vec_type, 3);
    CHECK(o != NULL);
    om_xdecref(o);
}

static om_type tiny_type = { OM_TYPE_INIT, .name = "tiny", .size = sizeof(om_object) - 8 };
static om_type zero_type = { OM_TYPE_INIT, .name = "zero", .size = 0 };
static om_type tinyvar_type = { OM_TYPE_INIT, .name = "tinyvar", .size = sizeof(om_object), .item_size = 8 };

static void test_einval(void)
{
    errno = 0;
    CHECK(om_new(&tiny_type) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(om_new(&zero_type) == NULL);
    CHECK_EQ(errno, EINVAL);
    /* a variable-size type must have room for om_varobject */
    errno = 0;
    CHECK(om_new_var(&tinyvar_type, 4) == NULL);
    CHECK_EQ(errno, EINVAL);
    /* om_new on a variable-size type */
    errno = 0;
    CHECK(om_new(&vec_type) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(ot_stats(&tiny_type).created, 0);
    CHECK_EQ(ot_stats(&tinyvar_type).created, 0);
    /* exactly the header is fine */
    static om_type header_only = { OM_TYPE_INIT, .name = "header_only", .size = sizeof(om_object) };
    om_object *o = om_new(&header_only);
    CHECK(o != NULL);
    if (o != NULL) {
        CHECK_EQ(o->refcount, 1);
        om_decref(o);
    }
}

static void resize_case(om_type *t)
{
    om_type_stats s0 = ot_stats(t);
    om_object *o = om_new_var(t, 4);
    REQUIRE(o != NULL);
    vec *v = (vec *)o;
    for (int i = 0; i < 4; i++)
        v->items[i] = 100 + i;
    size_t sizes[] = { 1000, 5, 20000, 2, 300000, 3 };
    int64_t keep = 4;
    for (size_t k = 0; k < CHECK_COUNT(sizes); k++) {
        size_t n = sizes[k];
        CHECK_EQ(om_resize_var(&o, n), 0);
        REQUIRE(o != NULL);
        v = (vec *)o;
        CHECK_EQ(v->ob.nitems, n);
        CHECK_EQ(o->refcount, 1);
        CHECK_PTR_EQ(o->type, t);
        CHECK_EQ((uintptr_t)o % 16, 0);
        int64_t m = keep < (int64_t)n ? keep : (int64_t)n;
        for (int64_t i = 0; i < m; i++)
            if (v->items[i] != 100 + i) {
                CHECK_MSG(0, "%s: resize to %zu lost item %lld (%lld)", t->name, n, (long long)i,
                          (long long)v->items[i]);
                break;
            }
        for (size_t i = 0; i < n; i++)
            v->items[i] = 100 + (int64_t)i;
        keep = (int64_t)n;
    }
    /* ENOMEM: *op untouched, the object intact */
    om_object *before = o;
    errno = 0;
    CHECK_EQ(om_resize_var(&o, SIZE_MAX / 2), ENOMEM);
    CHECK_PTR_EQ(o, before);
    CHECK_EQ(((vec *)o)->ob.nitems, 3);
    CHECK_EQ(((vec *)o)->items[2], 102);
    /* shared: EINVAL */
    om_incref(o);
    CHECK_EQ(om_resize_var(&o, 10), EINVAL);
    CHECK_PTR_EQ(o, before);
    CHECK_EQ(((vec *)o)->ob.nitems, 3);
    om_decref(o);
    om_decref(o);
    om_type_stats s1 = ot_stats(t);
    CHECK_EQ(s1.created - s0.created, 1);
    CHECK_EQ(s1.destroyed - s0.destroyed, 1);
    CHECK_EQ(s1.live, s0.live);
}

static void test_resize_var(void)
{
    resize_case(&vec_type);
    resize_case(&gcvec_type);
    /* weakly referenced: EINVAL */
    om_object *o = om_new_var(&vec_type, 2);
    REQUIRE(o != NULL);
    om_weakref *w = om_weakref_new(o, NULL, NULL);
    REQUIRE(w != NULL);
    om_object *before = o;
    CHECK_EQ(om_resize_var(&o, 500), EINVAL);
    CHECK_PTR_EQ(o, before);
    CHECK_EQ(((vec *)o)->ob.nitems, 2);
    om_decref(w);
    CHECK_EQ(om_resize_var(&o, 500), 0);
    CHECK_EQ(((vec *)o)->ob.nitems, 500);
    om_decref(o);
    /* a fixed-size object: EINVAL */
    om_object *p = om_new(&ot_plain_type);
    REQUIRE(p != NULL);
    before = p;
    CHECK_EQ(om_resize_var(&p, 5), EINVAL);
    CHECK_PTR_EQ(p, before);
    om_decref(p);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_new_var_sizes),
        CHECK_CASE(test_new_var_overflow),
        CHECK_CASE(test_einval),
        CHECK_CASE(test_resize_var),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
