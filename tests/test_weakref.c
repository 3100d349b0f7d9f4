/*
 * test_weakref.c — weak references (objmem.h §9), the API: om_weakref_get
 * returns a new reference while the referent lives and NULL after; sharing
 * of callback-less weak references; EINVAL for types without
 * weaklist_offset and for dead referents; the data object's lifetime;
 * om_weakref_count; om_weakref_clear_all with and without callbacks; weak
 * references to the example str, list and dict; many referents dropped in
 * mixed orders.  Callbacks and destruction are in test_weakref_callback.c;
 * the target type and the ot_log_cb callback are objtest.h's.
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

/* ------------------------------------------------------------ tests */

static void get_case(om_type *t)
{
    uint64_t w0 = ot_weakrefs_live();
    ot_target *o = ot_new_target(t, 1);
    REQUIRE(o != NULL);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 0);
    om_weakref *w = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(w != NULL);
    CHECK_PTR_EQ(OM_OBJ(w)->type, &om_weakref_type);
    CHECK_EQ(OM_OBJ(w)->refcount, 1);
    CHECK_EQ(ot_weakrefs_live() - w0, 1);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 1);
    CHECK_EQ(o->ob.refcount, 1); /* a weak reference does not count */
    for (int i = 0; i < 3; i++) {
        om_object *g = om_weakref_get(w);
        CHECK_PTR_EQ(g, o);
        CHECK_EQ(o->ob.refcount, 2);
        if (g != NULL)
            om_decref(g);
    }
    CHECK_EQ(o->ob.refcount, 1);
    /* a reference from om_weakref_get keeps it alive */
    om_object *g = om_weakref_get(w);
    REQUIRE(g != NULL);
    ot_log_reset();
    om_decref(o);
    CHECK_LOG("");
    CHECK_PTR_EQ(om_weakref_get(w), g);
    om_decref(g);
    om_decref(g);
    CHECK_LOG("C1 R1");
    CHECK(om_weakref_get(w) == NULL);
    CHECK(om_weakref_get(w) == NULL);
    om_decref(w);
    CHECK_EQ(ot_weakrefs_live(), w0);
}

static void test_get(void)
{
    get_case(&ot_target_type);
    get_case(&ot_gctarget_type);
}

static void test_sharing(void)
{
    ot_target *o = ot_new_target(&ot_target_type, 10);
    REQUIRE(o != NULL);
    om_weakref *a = om_weakref_new(OM_OBJ(o), NULL, NULL);
    om_weakref *b = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(a != NULL && b != NULL);
    CHECK_PTR_EQ(a, b);
    CHECK_EQ(OM_OBJ(a)->refcount, 2);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 1);
    om_weakref *c = om_weakref_new(OM_OBJ(o), ot_log_cb, NULL);
    om_weakref *e = om_weakref_new(OM_OBJ(o), ot_log_cb, NULL);
    REQUIRE(c != NULL && e != NULL);
    CHECK(c != a);
    CHECK(e != a);
    CHECK(c != e);
    CHECK_EQ(OM_OBJ(c)->refcount, 1);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 3);
    /* still shared after callback ones were added */
    om_weakref *f = om_weakref_new(OM_OBJ(o), NULL, NULL);
    CHECK_PTR_EQ(f, a);
    CHECK_EQ(OM_OBJ(a)->refcount, 3);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 3);
    om_decref(a);
    om_decref(b);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 3);
    om_decref(f);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 2);
    /* a new callback-less one once the shared one is gone */
    om_weakref *g = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(g != NULL);
    CHECK_EQ(OM_OBJ(g)->refcount, 1);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 3);
    ot_cb_calls = 0;
    om_decref(o);
    CHECK_EQ(ot_cb_calls, 2);
    om_decref(c);
    om_decref(e);
    om_decref(g);
}

static void test_einval(void)
{
    ot_noweak *n = (ot_noweak *)om_new(&ot_noweak_type);
    REQUIRE(n != NULL);
    errno = 0;
    CHECK(om_weakref_new(OM_OBJ(n), NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    om_object *d = ot_new_tag(1);
    REQUIRE(d != NULL);
    errno = 0;
    CHECK(om_weakref_new(OM_OBJ(n), ot_log_cb, d) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(d->refcount, 1); /* the data is not kept on failure */
    CHECK_EQ(n->ob.refcount, 1);
    om_decref(n);
    /* the examples that CPython cannot weakly reference either */
    om_object *i = ex_int_new(5), *f = ex_float_new(2.5), *t = ex_tuple_new(0);
    REQUIRE(i != NULL && f != NULL && t != NULL);
    errno = 0;
    CHECK(om_weakref_new(i, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(om_weakref_new(f, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(om_weakref_new(t, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    om_decref(i);
    om_decref(f);
    om_decref(t);
    /* a weak reference cannot point to a weak reference (no weaklist) */
    ot_target *o = ot_new_target(&ot_target_type, 11);
    REQUIRE(o != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(w != NULL);
    if (om_weakref_type.weaklist_offset == 0) {
        errno = 0;
        CHECK(om_weakref_new(OM_OBJ(w), NULL, NULL) == NULL);
        CHECK_EQ(errno, EINVAL);
    }
    /* a dead referent: asked from its own release */
    ot_try_new_on_dead = 1;
    ot_dead_new_result = (om_weakref *)1;
    ot_dead_new_errno = -1;
    om_decref(o);
    ot_try_new_on_dead = 0;
    CHECK(ot_dead_new_result == NULL);
    CHECK_EQ(ot_dead_new_errno, EINVAL);
    om_decref(w);
    om_decref(d);
}

/* The data is held by the weak reference; once the callback has run it is
 * dropped (as CPython drops a weakref's callback after calling it);
 * without a callback run it lives until the weak reference dies. */
static void test_data_lifetime(void)
{
    ot_target *o = ot_new_target(&ot_target_type, 12);
    om_object *d = ot_new_tag(120);
    REQUIRE(o != NULL && d != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), ot_log_cb, d);
    REQUIRE(w != NULL);
    CHECK_EQ(d->refcount, 2);
    om_decref(d); /* only the weak reference holds it */
    ot_log_reset();
    ot_cb_calls = 0;
    om_decref(o);
    CHECK_EQ(ot_cb_calls, 1);
    CHECK_PTR_EQ(ot_cb_last_data, d);
    /* alive during the callback (log_cb checked its count), released after
     * it, by the time the referent's destruction is over */
    CHECK_LOG_SUBSEQ("W120", "C12", "R12");
    CHECK_LOG_SUBSEQ("W120", "t120");
    CHECK_EQ(strlen(ot_log), strlen("W120 C12 R12 t120"));
    CHECK_EQ(ot_live(&ot_tag_type), 0);
    om_decref(w);
    CHECK_EQ(strlen(ot_log), strlen("W120 C12 R12 t120"));

    /* no callback run: the data lives until the weak reference dies */
    o = ot_new_target(&ot_target_type, 13);
    d = ot_new_tag(130);
    REQUIRE(o != NULL && d != NULL);
    w = om_weakref_new(OM_OBJ(o), ot_log_cb, d);
    REQUIRE(w != NULL);
    om_decref(d);
    ot_log_reset();
    om_weakref_clear_all(OM_OBJ(o), 0);
    CHECK_LOG("");
    CHECK_EQ(d->refcount, 1);
    om_decref(o);
    CHECK_LOG("C13 R13");
    om_decref(w);
    CHECK_LOG("C13 R13 t130");

    /* a weak reference dropped first takes its data with it */
    o = ot_new_target(&ot_target_type, 14);
    d = ot_new_tag(140);
    REQUIRE(o != NULL && d != NULL);
    w = om_weakref_new(OM_OBJ(o), ot_log_cb, d);
    REQUIRE(w != NULL);
    om_decref(d);
    ot_log_reset();
    om_decref(w);
    CHECK_LOG("t140");
    om_decref(o);
    CHECK_LOG("t140 C14 R14");

    /* an example object as data: same rule */
    om_object *l = ex_list_new(0);
    ot_target *o2 = ot_new_target(&ot_target_type, 15);
    REQUIRE(l != NULL && o2 != NULL);
    om_weakref *w2 = om_weakref_new(OM_OBJ(o2), ot_log_cb, l);
    REQUIRE(w2 != NULL);
    CHECK_EQ(l->refcount, 2);
    om_decref(l);
    uint64_t l0 = ot_live(&ex_list_type);
    om_decref(o2);
    CHECK_EQ(ot_live(&ex_list_type), l0 - 1);
    om_decref(w2);
    CHECK_EQ(ot_live(&ex_list_type), l0 - 1);
}

static void test_count(void)
{
    ot_target *o = ot_new_target(&ot_gctarget_type, 14);
    REQUIRE(o != NULL);
    om_weakref *w[10];
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 0);
    for (int i = 0; i < 10; i++) {
        w[i] = om_weakref_new(OM_OBJ(o), ot_log_cb, NULL);
        REQUIRE(w[i] != NULL);
        CHECK_EQ(om_weakref_count(OM_OBJ(o)), (size_t)i + 1);
    }
    for (int i = 0; i < 10; i += 2)
        om_decref(w[i]);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 5);
    ot_cb_calls = 0;
    om_decref(o);
    CHECK_EQ(ot_cb_calls, 5);
    for (int i = 1; i < 10; i += 2)
        om_decref(w[i]);
}

static void test_clear_all(void)
{
    for (int callbacks = 0; callbacks <= 1; callbacks++) {
        ot_target *o = ot_new_target(&ot_target_type, 15);
        om_object *d0 = ot_new_tag(150), *d1 = ot_new_tag(151);
        REQUIRE(o != NULL && d0 != NULL && d1 != NULL);
        om_weakref *a = om_weakref_new(OM_OBJ(o), ot_log_cb, d0);
        om_weakref *b = om_weakref_new(OM_OBJ(o), ot_log_cb, d1);
        om_weakref *c = om_weakref_new(OM_OBJ(o), NULL, NULL);
        REQUIRE(a != NULL && b != NULL && c != NULL);
        ot_log_reset();
        ot_cb_calls = 0;
        om_weakref_clear_all(OM_OBJ(o), callbacks);
        CHECK_LOG(callbacks ? "W151 W150" : "");
        CHECK_EQ(ot_cb_calls, callbacks ? 2 : 0);
        CHECK_EQ(om_weakref_count(OM_OBJ(o)), 0);
        CHECK(om_weakref_get(a) == NULL);
        CHECK(om_weakref_get(b) == NULL);
        CHECK(om_weakref_get(c) == NULL);
        CHECK_EQ(o->ob.refcount, 1); /* the referent lives on */
        CHECK(o->weaklist == NULL);
        /* clearing again does nothing */
        om_weakref_clear_all(OM_OBJ(o), 1);
        CHECK_EQ(ot_cb_calls, callbacks ? 2 : 0);
        /* new weak references work; its death runs only theirs */
        om_weakref *n = om_weakref_new(OM_OBJ(o), ot_log_cb, d0);
        REQUIRE(n != NULL);
        CHECK(n != c);
        om_decref(o);
        CHECK_LOG(callbacks ? "W151 W150 W150 C15 R15" : "W150 C15 R15");
        om_decref(a);
        om_decref(b);
        om_decref(c);
        om_decref(n);
        om_decref(d0);
        om_decref(d1);
    }
}

static void example_case(om_object *o, const char *what)
{
    om_object *d = ot_new_tag(200);
    REQUIRE(d != NULL);
    om_weakref *w = om_weakref_new(o, ot_log_cb, d);
    CHECK_MSG(w != NULL, "%s: cannot be weakly referenced", what);
    if (w == NULL) {
        om_decref(o);
        om_decref(d);
        return;
    }
    om_weakref *shared = om_weakref_new(o, NULL, NULL);
    REQUIRE(shared != NULL);
    CHECK_EQ(om_weakref_count(o), 2);
    om_object *g = om_weakref_get(w);
    CHECK_PTR_EQ(g, o);
    CHECK_EQ(o->refcount, 2);
    om_xdecref(g);
    ot_cb_calls = 0;
    ot_cb_last_ref = NULL;
    om_decref(o);
    CHECK_MSG(ot_cb_calls == 1, "%s: %d callbacks", what, ot_cb_calls);
    CHECK_PTR_EQ(ot_cb_last_ref, w);
    CHECK(om_weakref_get(w) == NULL);
    CHECK(om_weakref_get(shared) == NULL);
    om_decref(w);
    om_decref(shared);
    om_decref(d);
}

static void test_examples(void)
{
    uint64_t s0 = ot_live(&ex_str_type), l0 = ot_live(&ex_list_type), d0 = ot_live(&ex_dict_type);
    om_object *s = ex_str_from("weakly referenced");
    REQUIRE(s != NULL);
    example_case(s, "str");
    om_object *l = ex_list_new(0);
    REQUIRE(l != NULL);
    om_object *x = ex_str_from("item");
    REQUIRE(x != NULL);
    CHECK_EQ(ex_list_append(l, x), 0);
    /* a weak reference to the item, which dies with the list */
    om_weakref *wx = om_weakref_new(x, NULL, NULL);
    REQUIRE(wx != NULL);
    om_decref(x);
    example_case(l, "list");
    CHECK(om_weakref_get(wx) == NULL);
    om_decref(wx);
    om_object *dct = ex_dict_new();
    om_object *k = ex_str_from("key"), *v = ex_float_new(1.0);
    REQUIRE(dct != NULL && k != NULL && v != NULL);
    CHECK_EQ(ex_dict_set(dct, k, v), 0);
    om_decref(k);
    om_decref(v);
    example_case(dct, "dict");
    CHECK_EQ(ot_live(&ex_str_type), s0);
    CHECK_EQ(ot_live(&ex_list_type), l0);
    CHECK_EQ(ot_live(&ex_dict_type), d0);
}

/* Many referents and weak references, dropped in mixed orders. */
static void test_many(void)
{
    enum { N = 2000 };
    static ot_target *o[N];
    static om_weakref *w[N][3];
    uint64_t w0 = ot_weakrefs_live(), t0 = ot_live(&ot_target_type);
    uint64_t rng = 12345;
    for (int i = 0; i < N; i++) {
        o[i] = ot_new_target(i % 2 ? &ot_target_type : &ot_gctarget_type, 1000 + i);
        REQUIRE(o[i] != NULL);
        for (int j = 0; j < 3; j++) {
            w[i][j] = om_weakref_new(OM_OBJ(o[i]), j == 1 ? NULL : ot_log_cb, NULL);
            REQUIRE(w[i][j] != NULL);
        }
    }
    int expected_callbacks = 0, dropped_refs = 0;
    ot_cb_calls = 0;
    for (int i = 0; i < N; i++) {
        size_t r = tu_range(&rng, 0, 2);
        if (r == 0) { /* weak references first */
            for (int j = 0; j < 3; j++)
                om_decref(w[i][j]);
            dropped_refs++;
            om_decref(o[i]);
        } else if (r == 1) { /* referent first */
            om_decref(o[i]);
            expected_callbacks += 2;
            for (int j = 0; j < 3; j++)
                om_decref(w[i][j]);
        } else { /* one weak reference, the referent, the rest */
            om_decref(w[i][0]);
            om_decref(o[i]);
            expected_callbacks += 1;
            om_decref(w[i][1]);
            om_decref(w[i][2]);
        }
    }
    CHECK_EQ(ot_cb_calls, expected_callbacks);
    CHECK_GT(dropped_refs, 0);
    CHECK_EQ(ot_weakrefs_live(), w0);
    CHECK_EQ(ot_live(&ot_target_type), t0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_get),
        CHECK_CASE(test_sharing),
        CHECK_CASE(test_einval),
        CHECK_CASE(test_data_lifetime),
        CHECK_CASE(test_count),
        CHECK_CASE(test_clear_all),
        CHECK_CASE(test_examples),
        CHECK_CASE(test_many),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
