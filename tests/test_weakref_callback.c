/*
 * test_weakref_callback.c — weak-reference callbacks (objmem.h §9): each
 * runs exactly once, newest first, with its own weak reference and data,
 * after every weak reference to the referent has been cleared; weak
 * references dropped before the referent, or inside their own callback;
 * callbacks that create weak references or kill other weakly referenced
 * objects (nested destruction); weak references made and met during a
 * destruction (in finalize, in a callback, in the same cascade, to a parked
 * object).  The target type and the ot_log_cb callback are objtest.h's.
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

/* ------------------------------------------------------------ callbacks */

static void callback_once_case(om_type *t)
{
    ot_target *o = ot_new_target(t, 2);
    om_object *d = ot_new_tag(20);
    REQUIRE(o != NULL && d != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), ot_log_cb, d);
    REQUIRE(w != NULL);
    ot_cb_calls = 0;
    ot_cb_last_ref = NULL;
    ot_cb_last_data = NULL;
    ot_log_reset();
    om_decref(o);
    CHECK_EQ(ot_cb_calls, 1);
    CHECK_PTR_EQ(ot_cb_last_ref, w);
    CHECK_PTR_EQ(ot_cb_last_data, d);
    CHECK_LOG("W20 C2 R2");
    CHECK(om_weakref_get(w) == NULL);
    om_decref(w);
    CHECK_EQ(ot_cb_calls, 1);
    om_decref(d);
    CHECK_LOG("W20 C2 R2 t20");
}

static void test_callback_once(void)
{
    callback_once_case(&ot_target_type);
    callback_once_case(&ot_gctarget_type);
}

static void test_callbacks_newest_first(void)
{
    ot_target *o = ot_new_target(&ot_target_type, 3);
    REQUIRE(o != NULL);
    om_object *d[5];
    om_weakref *w[5];
    for (int i = 0; i < 5; i++) {
        d[i] = ot_new_tag(30 + i);
        REQUIRE(d[i] != NULL);
        w[i] = om_weakref_new(OM_OBJ(o), ot_log_cb, d[i]);
        REQUIRE(w[i] != NULL);
        for (int j = 0; j < i; j++)
            CHECK(w[j] != w[i]);
    }
    /* callback-less ones in between change nothing */
    om_weakref *plain = om_weakref_new(OM_OBJ(o), NULL, NULL);
    REQUIRE(plain != NULL);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 6);
    ot_cb_calls = 0;
    ot_cb_other = plain; /* already cleared when any callback runs */
    ot_log_reset();
    om_decref(o);
    ot_cb_other = NULL;
    CHECK_LOG("W34 W33 W32 W31 W30 C3 R3");
    CHECK_EQ(ot_cb_calls, 5);
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
    uint64_t w0 = ot_weakrefs_live();
    ot_target *o = ot_new_target(&ot_target_type, 4);
    om_object *d = ot_new_tag(40);
    REQUIRE(o != NULL && d != NULL);
    om_weakref *w = om_weakref_new(OM_OBJ(o), ot_log_cb, d);
    REQUIRE(w != NULL);
    CHECK_EQ(d->refcount, 2); /* the weak reference holds its data */
    ot_log_reset();
    om_decref(w);
    CHECK_EQ(om_weakref_count(OM_OBJ(o)), 0);
    CHECK_EQ(d->refcount, 1);
    CHECK_EQ(ot_weakrefs_live(), w0);
    ot_cb_calls = 0;
    om_decref(o);
    CHECK_EQ(ot_cb_calls, 0);
    CHECK_LOG("C4 R4");
    om_decref(d);

    /* the middle one of three dropped: the other two still fire, in order */
    o = ot_new_target(&ot_target_type, 5);
    om_object *t0 = ot_new_tag(50), *t1 = ot_new_tag(51), *t2 = ot_new_tag(52);
    REQUIRE(o != NULL && t0 != NULL && t1 != NULL && t2 != NULL);
    om_weakref *a = om_weakref_new(OM_OBJ(o), ot_log_cb, t0);
    om_weakref *b = om_weakref_new(OM_OBJ(o), ot_log_cb, t1);
    om_weakref *c = om_weakref_new(OM_OBJ(o), ot_log_cb, t2);
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
    CHECK_EQ(ot_weakrefs_live(), w0);
}

/* ---- a weak reference that is dropped inside its own callback */
static void drop_self_cb(om_weakref *ref, om_object *data)
{
    ot_ev("W%d", ot_tag_id(data));
    om_decref(ref); /* the test's only reference */
    ot_ev("w%d", ot_tag_id(data));
}

static void test_dropped_in_own_callback(void)
{
    uint64_t w0 = ot_weakrefs_live();
    ot_target *o = ot_new_target(&ot_target_type, 6);
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
    CHECK_EQ(ot_weakrefs_live(), w0);
    CHECK_EQ(ot_live(&ot_tag_type), 0);
}

/* ---- a callback that creates a weak reference to another object */
static ot_target *other_target;
static om_weakref *created_in_cb;
static void create_cb(om_weakref *ref, om_object *data)
{
    (void)ref;
    ot_ev("W%d", ot_tag_id(data));
    created_in_cb = om_weakref_new(OM_OBJ(other_target), ot_log_cb, data);
    CHECK(created_in_cb != NULL);
}

static void test_callback_creates_weakref(void)
{
    ot_target *o = ot_new_target(&ot_target_type, 7);
    other_target = ot_new_target(&ot_target_type, 8);
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
    int id = ot_tag_id(data);
    ot_ev("W%d", id);
    om_clear_ref(&kill_next[id % 4]);
    ot_ev("w%d", id);
}

static void test_callback_kills_another(void)
{
    uint64_t t0 = ot_live(&ot_target_type), w0 = ot_weakrefs_live();
    ot_target *o[3];
    om_weakref *w[3];
    om_object *d[3];
    for (int i = 0; i < 3; i++) {
        o[i] = ot_new_target(&ot_target_type, 90 + i);
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
    CHECK_EQ(ot_live(&ot_target_type), t0);
    for (int i = 0; i < 3; i++) {
        CHECK(om_weakref_get(w[i]) == NULL);
        om_decref(w[i]);
        om_decref(d[i]);
    }
    CHECK_EQ(ot_weakrefs_live(), w0);

    /* a referent's clear drops a weakly referenced child: its callback runs */
    ot_target *parent = ot_new_target(&ot_target_type, 93), *child = ot_new_target(&ot_gctarget_type, 94);
    om_object *dc = ot_new_tag(3);
    REQUIRE(parent != NULL && child != NULL && dc != NULL);
    parent->ref = OM_OBJ(child);
    om_weakref *wc = om_weakref_new(OM_OBJ(child), ot_log_cb, dc);
    REQUIRE(wc != NULL);
    ot_log_reset();
    om_decref(parent);
    CHECK_LOG("C93 R93 W3 C94 R94"); /* the child dies after the parent's release */
    om_decref(wc);
    om_decref(dc);
}

/* ---- weak references made and met during a destruction */

/* finalize makes a weak reference (with a callback) to the dying object:
 * the object is still alive then, so it works, and it is cleared and its
 * callback run right after finalize, like the others */
static om_weakref *made_in_finalize;
static void fin_make_weakref(om_object *self)
{
    ot_ev("F%d", ((ot_target *)self)->id);
    made_in_finalize = om_weakref_new(self, ot_log_cb, NULL);
    CHECK(made_in_finalize != NULL);
}
static om_type fin_target_type = { OM_TYPE_INIT, .name = "fin_target", .size = sizeof(ot_target),
                                   .weaklist_offset = offsetof(ot_target, weaklist),
                                   .finalize = fin_make_weakref, .clear = ot_target_clear,
                                   .release = ot_target_release, .traverse = ot_target_traverse };

/* a callback asks for a weak reference to the referent that is dying */
static om_object *dying;
static om_weakref *made_in_callback = (om_weakref *)1;
static int made_in_callback_errno;
static void cb_new_to_dying(om_weakref *ref, om_object *data)
{
    (void)ref, (void)data;
    ot_ev("W");
    errno = 0;
    made_in_callback = om_weakref_new(dying, ot_log_cb, NULL);
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
static om_type holder_type = { OM_TYPE_INIT, .name = "holder", .size = sizeof(holder), .clear = holder_clear };

static om_type parked_type = { OM_TYPE_INIT, .name = "parked", .size = sizeof(ot_target), .freelist_limit = 4,
                               .weaklist_offset = offsetof(ot_target, weaklist) };

static void test_during_destruction(void)
{
    uint64_t w0 = ot_weakrefs_live();
    /* a) */
    ot_target *o = ot_new_target(&fin_target_type, 16);
    REQUIRE(o != NULL);
    made_in_finalize = NULL;
    ot_cb_calls = 0;
    ot_log_reset();
    om_decref(o);
    CHECK_LOG("F16 W-1 C16 R16");
    CHECK_EQ(ot_cb_calls, 1);
    REQUIRE(made_in_finalize != NULL);
    CHECK(om_weakref_get(made_in_finalize) == NULL);
    om_decref(made_in_finalize);
    CHECK_EQ(ot_weakrefs_live(), w0);

    /* b) */
    o = ot_new_target(&ot_target_type, 17);
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
    CHECK_EQ(ot_weakrefs_live(), w0);

    /* c) a weak reference that dies in the same cascade as its referent is
     * not alive when the referent's weak references are cleared: no
     * callback, whichever is dropped first */
    for (int order = 0; order < 2; order++) {
        holder *h = (holder *)om_new(&holder_type);
        ot_target *c = ot_new_target(order ? &ot_gctarget_type : &ot_target_type, 18);
        REQUIRE(h != NULL && c != NULL);
        om_weakref *cw = om_weakref_new(OM_OBJ(c), ot_log_cb, NULL);
        REQUIRE(cw != NULL);
        h->a = order ? OM_OBJ(cw) : OM_OBJ(c);
        h->b = order ? OM_OBJ(c) : OM_OBJ(cw);
        ot_cb_calls = 0;
        ot_log_reset();
        om_decref(h);
        CHECK_MSG(ot_cb_calls == 0, "order %d: %d callbacks", order, ot_cb_calls);
        CHECK_LOG("C18 R18");
        CHECK_EQ(ot_weakrefs_live(), w0);
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
    om_object *n = om_new(&ot_noweak_type);
    REQUIRE(n != NULL);
    om_weakref_clear_all(n, 1);
    CHECK_EQ(om_weakref_count(n), 0);
    CHECK_EQ(n->refcount, 1);
    om_decref(n);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_callback_once),
        CHECK_CASE(test_callbacks_newest_first),
        CHECK_CASE(test_dropped_before_referent),
        CHECK_CASE(test_dropped_in_own_callback),
        CHECK_CASE(test_callback_creates_weakref),
        CHECK_CASE(test_callback_kills_another),
        CHECK_CASE(test_during_destruction),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
