/*
 * test_weakref.c — weak references (objmem.h §9): om_weakref_get returns a
 * new reference while the referent lives and NULL after; each callback runs
 * exactly once, newest first, with its own weak reference and data, after
 * every weak reference to the referent has been cleared; weak references
 * dropped before the referent, or inside their own callback; callbacks that
 * create weak references or kill other weakly referenced objects (nested
 * destruction); sharing of callback-less weak references; EINVAL for types
 * without weaklist_offset and for dead referents; the data object's
 * lifetime; om_weakref_count; om_weakref_clear_all with and without
 * callbacks; weak references to the example str, list and dict.
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

/* target: weakly referenceable, logs R<id> at release */
typedef struct target {
    om_object ob;
    om_weakref *weaklist;
    int id;
    om_object *ref;          /* strong reference, dropped by clear */
} target;

static om_weakref *dead_new_result = (om_weakref *)1;
static int dead_new_errno = -1;
static int try_new_on_dead;

static void target_clear(om_object *self)
{
    target *t = (target *)self;
    ot_ev("C%d", t->id);
    om_clear_ref(&t->ref);
}

static void target_release(om_object *self)
{
    ot_ev("R%d", ((target *)self)->id);
    if (try_new_on_dead) {
        errno = 0;
        dead_new_result = om_weakref_new(self, NULL, NULL);
        dead_new_errno = errno;
    }
}

static int target_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    target *t = (target *)self;
    return t->ref ? visit(t->ref, arg) : 0;
}

static om_type target_type = { .name = "target", .size = sizeof(target),
                               .weaklist_offset = offsetof(target, weaklist),
                               .clear = target_clear, .release = target_release,
                               .traverse = target_traverse };
/* the same with a collector header before the object */
static om_type gctarget_type = { .name = "gctarget", .size = sizeof(target), .flags = OM_TYPE_GC,
                                 .weaklist_offset = offsetof(target, weaklist),
                                 .clear = target_clear, .release = target_release,
                                 .traverse = target_traverse };

typedef struct noweak { om_object ob; void *pad; } noweak;
static om_type noweak_type = { .name = "noweak", .size = sizeof(noweak) };

static target *new_target(om_type *t, int id)
{
    target *o = (target *)om_new(t);
    if (o != NULL)
        o->id = id;
    return o;
}


static int tag_id(om_object *data)
{
    return data ? ((ot_tag *)data)->id : -1;
}

/* ---- callbacks */
static int cb_calls;
static om_weakref *cb_last_ref;
static om_object *cb_last_data;
static om_weakref *cb_other;         /* must already read NULL in any callback */

static void log_cb(om_weakref *ref, om_object *data)
{
    cb_calls++;
    cb_last_ref = ref;
    cb_last_data = data;
    CHECK(om_weakref_get(ref) == NULL);
    if (cb_other != NULL)
        CHECK(om_weakref_get(cb_other) == NULL);
    if (data != NULL)
        CHECK_GE(data->refcount, 1); /* alive while its callback runs */
    ot_ev("W%d", tag_id(data));
}

static uint64_t weakrefs_live(void)
{
    return ot_live(&om_weakref_type);
}

/* ------------------------------------------------------------ tests */

static void get_case(om_type *t)
{
    uint64_t w0 = weakrefs_live();
    target *o = new_target(t, 1);
    REQUIRE(o != NULL);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 0);
    om_weakref *w = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(w != NULL);
    CHECK_PTR_EQ(OM_OBJ(w)->type, &om_weakref_type);
    CHECK_EQ(OM_OBJ(w)->refcount, 1);
    CHECK_EQ(weakrefs_live() - w0, 1);
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
    CHECK_EQ(weakrefs_live(), w0);
}

static void test_get(void)
{
    get_case(&target_type);
    get_case(&gctarget_type);
}

static void callback_once_case(om_type *t)
{
    target *o = new_target(t, 2);
    om_object *d = ot_new_tag(20);
    REQUIRE(o != NULL && d != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), log_cb, d);
    REQUIRE(w != NULL);
    cb_calls = 0;
    cb_last_ref = NULL;
    cb_last_data = NULL;
    ot_log_reset();
    om_decref(o);
    CHECK_EQ(cb_calls, 1);
    CHECK_PTR_EQ(cb_last_ref, w);
    CHECK_PTR_EQ(cb_last_data, d);
    CHECK_LOG("W20 C2 R2");
    CHECK(om_weakref_get(w) == NULL);
    om_decref(w);
    CHECK_EQ(cb_calls, 1);
    om_decref(d);
    CHECK_LOG("W20 C2 R2 t20");
}

static void test_callback_once(void)
{
    callback_once_case(&target_type);
    callback_once_case(&gctarget_type);
}

static void test_callbacks_newest_first(void)
{
    target *o = new_target(&target_type, 3);
    REQUIRE(o != NULL);
    om_object *d[5];
    om_weakref *w[5];
    for (int i = 0; i < 5; i++) {
        d[i] = ot_new_tag(30 + i);
        REQUIRE(d[i] != NULL);
        w[i] = om_weakref_new(OM_OBJ(o), log_cb, d[i]);
        REQUIRE(w[i] != NULL);
        for (int j = 0; j < i; j++)
            CHECK(w[j] != w[i]);
    }
    /* callback-less ones in between change nothing */
    om_weakref *plain = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(plain != NULL);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 6);
    cb_calls = 0;
    cb_other = plain; /* already cleared when any callback runs */
    ot_log_reset();
    om_decref(o);
    cb_other = NULL;
    CHECK_LOG("W34 W33 W32 W31 W30 C3 R3");
    CHECK_EQ(cb_calls, 5);
    for (int i = 0; i < 5; i++) {
        CHECK(om_weakref_get(w[i]) == NULL);
        om_decref(w[i]);
        om_decref(d[i]);
    }
    CHECK(om_weakref_get(plain) == NULL);
    om_decref(plain);
}

static void test_dropped_before_referent(void)
{
    uint64_t w0 = weakrefs_live();
    target *o = new_target(&target_type, 4);
    om_object *d = ot_new_tag(40);
    REQUIRE(o != NULL && d != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), log_cb, d);
    REQUIRE(w != NULL);
    CHECK_EQ(d->refcount, 2); /* the weak reference holds its data */
    ot_log_reset();
    om_decref(w);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 0);
    CHECK_EQ(d->refcount, 1);
    CHECK_EQ(weakrefs_live(), w0);
    cb_calls = 0;
    om_decref(o);
    CHECK_EQ(cb_calls, 0);
    CHECK_LOG("C4 R4");
    om_decref(d);

    /* the middle one of three dropped: the other two still fire, in order */
    o = new_target(&target_type, 5);
    om_object *t0 = ot_new_tag(50), *t1 = ot_new_tag(51), *t2 = ot_new_tag(52);
    REQUIRE(o != NULL && t0 != NULL && t1 != NULL && t2 != NULL);
    om_weakref *a = om_weakref_new(OM_OBJ(o), log_cb, t0);
    om_weakref *b = om_weakref_new(OM_OBJ(o), log_cb, t1);
    om_weakref *c = om_weakref_new(OM_OBJ(o), log_cb, t2);
    REQUIRE(a != NULL && b != NULL && c != NULL);
    om_decref(b);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 2);
    ot_log_reset();
    om_decref(o);
    CHECK_LOG("W52 W50 C5 R5");
    om_decref(a);
    om_decref(c);
    om_decref(t0);
    om_decref(t1);
    om_decref(t2);
    CHECK_LOG("W52 W50 C5 R5 t50 t51 t52");
    CHECK_EQ(weakrefs_live(), w0);
}

/* ---- a weak reference that is dropped inside its own callback */
static void drop_self_cb(om_weakref *ref, om_object *data)
{
    ot_ev("W%d", tag_id(data));
    om_decref(ref); /* the test's only reference */
    ot_ev("w%d", tag_id(data));
}

static void test_dropped_in_own_callback(void)
{
    uint64_t w0 = weakrefs_live();
    target *o = new_target(&target_type, 6);
    om_object *d1 = ot_new_tag(60), *d2 = ot_new_tag(61);
    REQUIRE(o != NULL && d1 != NULL && d2 != NULL);
    om_weakref *a = om_weakref_new(OM_OBJ(o), drop_self_cb, d1);
    om_weakref *b = om_weakref_new(OM_OBJ(o), drop_self_cb, d2);
    REQUIRE(a != NULL && b != NULL);
    om_decref(d1); /* only the weak references hold the data now */
    om_decref(d2);
    ot_log_reset();
    om_decref(o);
    /* the data dies with its weak reference, after the callback returns */
    CHECK_LOG_SUBSEQ("W61", "w61", "W60", "w60", "C6", "R6");
    CHECK_LOG_SUBSEQ("w61", "t61");
    CHECK_LOG_SUBSEQ("w60", "t60");
    CHECK_EQ(strlen(ot_log), strlen("W61 w61 t61 W60 w60 t60 C6 R6"));
    CHECK_EQ(weakrefs_live(), w0);
    CHECK_EQ(ot_live(&ot_tag_type), 0);
}

/* ---- a callback that creates a weak reference to another object */
static target *other_target;
static om_weakref *created_in_cb;
static void create_cb(om_weakref *ref, om_object *data)
{
    (void)ref;
    ot_ev("W%d", tag_id(data));
    created_in_cb = om_weakref_new(OM_OBJ(other_target), log_cb, data);
    CHECK(created_in_cb != NULL);
}

static void test_callback_creates_weakref(void)
{
    target *o = new_target(&target_type, 7);
    other_target = new_target(&target_type, 8);
    om_object *d = ot_new_tag(70);
    REQUIRE(o != NULL && other_target != NULL && d != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), create_cb, d);
    REQUIRE(w != NULL);
    created_in_cb = NULL;
    ot_log_reset();
    om_decref(o);
    CHECK_LOG("W70 C7 R7");
    REQUIRE(created_in_cb != NULL);
    CHECK_EQ(om_weakref_count(OM_OBJ(other_target)), 1);
    om_object *g = om_weakref_get(created_in_cb);
    CHECK_PTR_EQ(g, other_target);
    om_xdecref(g);
    om_decref(other_target);
    CHECK_LOG("W70 C7 R7 W70 C8 R8");
    om_decref(w);
    om_decref(created_in_cb);
    CHECK_LOG("W70 C7 R7 W70 C8 R8");
    om_decref(d);
    CHECK_LOG("W70 C7 R7 W70 C8 R8 t70");
}

/* ---- a callback that drops the last reference to another weakly
 * referenced object, whose callback drops the last one of a third */
static om_object *kill_next[4];
static void kill_cb(om_weakref *ref, om_object *data)
{
    (void)ref;
    int id = tag_id(data);
    ot_ev("W%d", id);
    om_clear_ref(&kill_next[id % 4]);
    ot_ev("w%d", id);
}

static void test_callback_kills_another(void)
{
    uint64_t t0 = ot_live(&target_type), w0 = weakrefs_live();
    target *o[3];
    om_weakref *w[3];
    om_object *d[3];
    for (int i = 0; i < 3; i++) {
        o[i] = new_target(&target_type, 90 + i);
        d[i] = ot_new_tag(i);
        REQUIRE(o[i] != NULL && d[i] != NULL);
        w[i] = om_weakref_new(OM_OBJ(o[i]), kill_cb, d[i]);
        REQUIRE(w[i] != NULL);
    }
    /* W0 kills o[1]; W1 kills o[2]; W2 kills nothing */
    kill_next[0] = OM_OBJ(o[1]);
    kill_next[1] = OM_OBJ(o[2]);
    kill_next[2] = NULL;
    ot_log_reset();
    om_decref(o[0]);
    /* each death waits until the one being destroyed is over */
    CHECK_LOG("W0 w0 C90 R90 W1 w1 C91 R91 W2 w2 C92 R92");
    CHECK(kill_next[0] == NULL && kill_next[1] == NULL);
    CHECK_EQ(ot_live(&target_type), t0);
    for (int i = 0; i < 3; i++) {
        CHECK(om_weakref_get(w[i]) == NULL);
        om_decref(w[i]);
        om_decref(d[i]);
    }
    CHECK_EQ(weakrefs_live(), w0);

    /* a referent's clear drops a weakly referenced child: its callback runs */
    target *parent = new_target(&target_type, 93), *child = new_target(&gctarget_type, 94);
    om_object *dc = ot_new_tag(3);
    REQUIRE(parent != NULL && child != NULL && dc != NULL);
    parent->ref = OM_OBJ(child);
    om_weakref *wc = om_weakref_new(OM_OBJ(child), log_cb, dc);
    REQUIRE(wc != NULL);
    ot_log_reset();
    om_decref(parent);
    CHECK_LOG("C93 R93 W3 C94 R94"); /* the child dies after the parent's release */
    om_decref(wc);
    om_decref(dc);
}

static void test_sharing(void)
{
    target *o = new_target(&target_type, 10);
    REQUIRE(o != NULL);
    om_weakref *a = om_weakref_new(OM_OBJ(o), NULL, NULL);
    om_weakref *b = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(a != NULL && b != NULL);
    CHECK_PTR_EQ(a, b);
    CHECK_EQ(OM_OBJ(a)->refcount, 2);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 1);
    om_weakref *c = om_weakref_new(OM_OBJ(o), log_cb, NULL);
    om_weakref *e = om_weakref_new(OM_OBJ(o), log_cb, NULL);
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
    cb_calls = 0;
    om_decref(o);
    CHECK_EQ(cb_calls, 2);
    om_decref(c);
    om_decref(e);
    om_decref(g);
}

static void test_einval(void)
{
    noweak *n = (noweak *)om_new(&noweak_type);
    REQUIRE(n != NULL);
    errno = 0;
    CHECK(om_weakref_new(OM_OBJ(n), NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    om_object *d = ot_new_tag(1);
    REQUIRE(d != NULL);
    errno = 0;
    CHECK(om_weakref_new(OM_OBJ(n), log_cb, d) == NULL);
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
    target *o = new_target(&target_type, 11);
    REQUIRE(o != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(w != NULL);
    if (om_weakref_type.weaklist_offset == 0) {
        errno = 0;
        CHECK(om_weakref_new(OM_OBJ(w), NULL, NULL) == NULL);
        CHECK_EQ(errno, EINVAL);
    }
    /* a dead referent: asked from its own release */
    try_new_on_dead = 1;
    dead_new_result = (om_weakref *)1;
    dead_new_errno = -1;
    om_decref(o);
    try_new_on_dead = 0;
    CHECK(dead_new_result == NULL);
    CHECK_EQ(dead_new_errno, EINVAL);
    om_decref(w);
    om_decref(d);
}

/* The data is held by the weak reference; once the callback has run it is
 * dropped (as CPython drops a weakref's callback after calling it);
 * without a callback run it lives until the weak reference dies. */
static void test_data_lifetime(void)
{
    target *o = new_target(&target_type, 12);
    om_object *d = ot_new_tag(120);
    REQUIRE(o != NULL && d != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), log_cb, d);
    REQUIRE(w != NULL);
    CHECK_EQ(d->refcount, 2);
    om_decref(d); /* only the weak reference holds it */
    ot_log_reset();
    cb_calls = 0;
    om_decref(o);
    CHECK_EQ(cb_calls, 1);
    CHECK_PTR_EQ(cb_last_data, d);
    /* alive during the callback (log_cb checked its count), released after
     * it, by the time the referent's destruction is over */
    CHECK_LOG_SUBSEQ("W120", "C12", "R12");
    CHECK_LOG_SUBSEQ("W120", "t120");
    CHECK_EQ(strlen(ot_log), strlen("W120 C12 R12 t120"));
    CHECK_EQ(ot_live(&ot_tag_type), 0);
    om_decref(w);
    CHECK_EQ(strlen(ot_log), strlen("W120 C12 R12 t120"));

    /* no callback run: the data lives until the weak reference dies */
    o = new_target(&target_type, 13);
    d = ot_new_tag(130);
    REQUIRE(o != NULL && d != NULL);
    w = om_weakref_new(OM_OBJ(o), log_cb, d);
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
    o = new_target(&target_type, 14);
    d = ot_new_tag(140);
    REQUIRE(o != NULL && d != NULL);
    w = om_weakref_new(OM_OBJ(o), log_cb, d);
    REQUIRE(w != NULL);
    om_decref(d);
    ot_log_reset();
    om_decref(w);
    CHECK_LOG("t140");
    om_decref(o);
    CHECK_LOG("t140 C14 R14");

    /* an example object as data: same rule */
    om_object *l = ex_list_new(0);
    target *o2 = new_target(&target_type, 15);
    REQUIRE(l != NULL && o2 != NULL);
    om_weakref *w2 = om_weakref_new(OM_OBJ(o2), log_cb, l);
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
    target *o = new_target(&gctarget_type, 14);
    REQUIRE(o != NULL);
    om_weakref *w[10];
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 0);
    for (int i = 0; i < 10; i++) {
        w[i] = om_weakref_new(OM_OBJ(o), log_cb, NULL);
        REQUIRE(w[i] != NULL);
        CHECK_EQ(om_weakref_count(OM_OBJ(o)), (size_t)i + 1);
    }
    for (int i = 0; i < 10; i += 2)
        om_decref(w[i]);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 5);
    cb_calls = 0;
    om_decref(o);
    CHECK_EQ(cb_calls, 5);
    for (int i = 1; i < 10; i += 2)
        om_decref(w[i]);
}

static void test_clear_all(void)
{
    for (int callbacks = 0; callbacks <= 1; callbacks++) {
        target *o = new_target(&target_type, 15);
        om_object *d0 = ot_new_tag(150), *d1 = ot_new_tag(151);
        REQUIRE(o != NULL && d0 != NULL && d1 != NULL);
        om_weakref *a = om_weakref_new(OM_OBJ(o), log_cb, d0);
        om_weakref *b = om_weakref_new(OM_OBJ(o), log_cb, d1);
        om_weakref *c = om_weakref_new(OM_OBJ(o), NULL, NULL);
        REQUIRE(a != NULL && b != NULL && c != NULL);
        ot_log_reset();
        cb_calls = 0;
        om_weakref_clear_all(OM_OBJ(o), callbacks);
        CHECK_LOG(callbacks ? "W151 W150" : "");
        CHECK_EQ(cb_calls, callbacks ? 2 : 0);
        CHECK_EQ(om_weakref_count(OM_OBJ(o)), 0);
        CHECK(om_weakref_get(a) == NULL);
        CHECK(om_weakref_get(b) == NULL);
        CHECK(om_weakref_get(c) == NULL);
        CHECK_EQ(o->ob.refcount, 1); /* the referent lives on */
        CHECK(o->weaklist == NULL);
        /* clearing again does nothing */
        om_weakref_clear_all(OM_OBJ(o), 1);
        CHECK_EQ(cb_calls, callbacks ? 2 : 0);
        /* new weak references work; its death runs only theirs */
        om_weakref *n = om_weakref_new(OM_OBJ(o), log_cb, d0);
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
    om_weakref *w = om_weakref_new(o, log_cb, d);
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
    cb_calls = 0;
    cb_last_ref = NULL;
    om_decref(o);
    CHECK_MSG(cb_calls == 1, "%s: %d callbacks", what, cb_calls);
    CHECK_PTR_EQ(cb_last_ref, w);
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
    static target *o[N];
    static om_weakref *w[N][3];
    uint64_t w0 = weakrefs_live(), t0 = ot_live(&target_type);
    uint64_t rng = 12345;
    for (int i = 0; i < N; i++) {
        o[i] = new_target(i % 2 ? &target_type : &gctarget_type, 1000 + i);
        REQUIRE(o[i] != NULL);
        for (int j = 0; j < 3; j++) {
            w[i][j] = om_weakref_new(OM_OBJ(o[i]), j == 1 ? NULL : log_cb, NULL);
            REQUIRE(w[i][j] != NULL);
        }
    }
    int expected_callbacks = 0, dropped_refs = 0;
    cb_calls = 0;
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
    CHECK_EQ(cb_calls, expected_callbacks);
    CHECK_GT(dropped_refs, 0);
    CHECK_EQ(weakrefs_live(), w0);
    CHECK_EQ(ot_live(&target_type), t0);
}

/* ---- weak references made and met during a destruction */

/* finalize makes a weak reference (with a callback) to the dying object:
 * the object is still alive then, so it works, and it is cleared and its
 * callback run right after finalize, like the others */
static om_weakref *made_in_finalize;
static void fin_make_weakref(om_object *self)
{
    ot_ev("F%d", ((target *)self)->id);
    made_in_finalize = om_weakref_new(self, log_cb, NULL);
    CHECK(made_in_finalize != NULL);
}
static om_type fin_target_type = { .name = "fin_target", .size = sizeof(target),
                                   .weaklist_offset = offsetof(target, weaklist),
                                   .finalize = fin_make_weakref, .clear = target_clear,
                                   .release = target_release, .traverse = target_traverse };

/* a callback asks for a weak reference to the referent that is dying */
static om_object *dying;
static om_weakref *made_in_callback = (om_weakref *)1;
static int made_in_callback_errno;
static void cb_new_to_dying(om_weakref *ref, om_object *data)
{
    (void)ref, (void)data;
    ot_ev("W");
    errno = 0;
    made_in_callback = om_weakref_new(dying, log_cb, NULL);
    made_in_callback_errno = errno;
}

/* holder: two references, dropped by clear in field order */
typedef struct holder { om_object ob; om_object *a, *b; } holder;
static void holder_clear(om_object *self)
{
    holder *h = (holder *)self;
    om_clear_ref(&h->a);
    om_clear_ref(&h->b);
}
static om_type holder_type = { .name = "holder", .size = sizeof(holder), .clear = holder_clear };

static om_type parked_type = { .name = "parked", .size = sizeof(target), .freelist_limit = 4,
                               .weaklist_offset = offsetof(target, weaklist) };

static void test_during_destruction(void)
{
    uint64_t w0 = weakrefs_live();
    /* a) */
    target *o = new_target(&fin_target_type, 16);
    REQUIRE(o != NULL);
    made_in_finalize = NULL;
    cb_calls = 0;
    ot_log_reset();
    om_decref(o);
    CHECK_LOG("F16 W-1 C16 R16");
    CHECK_EQ(cb_calls, 1);
    REQUIRE(made_in_finalize != NULL);
    CHECK(om_weakref_get(made_in_finalize) == NULL);
    om_decref(made_in_finalize);
    CHECK_EQ(weakrefs_live(), w0);

    /* b) */
    o = new_target(&target_type, 17);
    REQUIRE(o != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), cb_new_to_dying, NULL);
    REQUIRE(w != NULL);
    dying = OM_OBJ(o);
    ot_log_reset();
    om_decref(o);
    dying = NULL;
    CHECK_LOG("W C17 R17");
    CHECK(made_in_callback == NULL);
    CHECK_EQ(made_in_callback_errno, EINVAL);
    if (made_in_callback != NULL && made_in_callback != (om_weakref *)1)
        om_decref(made_in_callback);
    om_decref(w);
    CHECK_EQ(weakrefs_live(), w0);

    /* c) a weak reference that dies in the same cascade as its referent is
     * not alive when the referent's weak references are cleared: no
     * callback, whichever is dropped first */
    for (int order = 0; order < 2; order++) {
        holder *h = (holder *)om_new(&holder_type);
        target *c = new_target(order ? &gctarget_type : &target_type, 18);
        REQUIRE(h != NULL && c != NULL);
        om_weakref *cw = om_weakref_new(OM_OBJ(c), log_cb, NULL);
        REQUIRE(cw != NULL);
        h->a = order ? OM_OBJ(cw) : OM_OBJ(c);
        h->b = order ? OM_OBJ(c) : OM_OBJ(cw);
        cb_calls = 0;
        ot_log_reset();
        om_decref(h);
        CHECK_MSG(cb_calls == 0, "order %d: %d callbacks", order, cb_calls);
        CHECK_LOG("C18 R18");
        CHECK_EQ(weakrefs_live(), w0);
    }
    CHECK_EQ(ot_live(&holder_type), 0);

    /* d) a parked (dead) object cannot be weakly referenced */
    om_object *p = om_new(&parked_type);
    REQUIRE(p != NULL);
    om_decref(p);
    CHECK_EQ(ot_stats(&parked_type).freelist_len, 1);
    errno = 0;
    CHECK(om_weakref_new(p, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    om_object *q = om_new(&parked_type);
    CHECK_PTR_EQ(q, p);
    CHECK_EQ(om_weakref_count(q), 0);
    om_xdecref(q);

    /* e) clear_all on a type that cannot be weakly referenced does nothing */
    om_object *n = om_new(&noweak_type);
    REQUIRE(n != NULL);
    om_weakref_clear_all(n, 1);
    CHECK_EQ(om_weakref_count(n), 0);
    CHECK_EQ(n->refcount, 1);
    om_decref(n);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_get),
        CHECK_CASE(test_callback_once),
        CHECK_CASE(test_callbacks_newest_first),
        CHECK_CASE(test_dropped_before_referent),
        CHECK_CASE(test_dropped_in_own_callback),
        CHECK_CASE(test_callback_creates_weakref),
        CHECK_CASE(test_callback_kills_another),
        CHECK_CASE(test_sharing),
        CHECK_CASE(test_einval),
        CHECK_CASE(test_data_lifetime),
        CHECK_CASE(test_count),
        CHECK_CASE(test_clear_all),
        CHECK_CASE(test_during_destruction),
        CHECK_CASE(test_examples),
        CHECK_CASE(test_many),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
