/*
 * test_object_debug.c — OM_DEBUG's checked reference counts (objmem.h §6,
 * §8) with an error handler that records and returns (the offending call
 * becomes a no-op): a decref below zero (OM_ERR_REFCOUNT), incref/decref of
 * a destroyed object, parked on its free list or given back to the
 * allocator, with and without checked mode (OM_ERR_USE_AFTER_FREE, naming
 * the type where it is still known), pointers that are not objects (NULL,
 * the stack, libc's heap, a raw om_malloc block, interior and misaligned
 * pointers: OM_ERR_BAD_OBJECT), and the runtime lock (OM_ERR_LOCK: use
 * without the lock once threads use it, acquire twice, release unheld,
 * restore of another thread's state).  Also: no report at all for correct
 * use of every kind of object, immortal and static ones included.
 */
#ifndef OM_DEBUG
#define OM_DEBUG 1
#endif

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"
#include "objtest.h"

/* ------------------------------------------------------------ recorder */
typedef struct recorded {
    int calls;
    om_error_code code;
    const void *pointer;
    int had_type_name;
    char operation[64];
    char type_name[64];
    char message[512];
} recorded;

static recorded rec;
static int handler_arg;

static void record(const om_error_info *info, void *arg)
{
    rec.calls++;
    rec.code = info->code;
    rec.pointer = info->pointer;
    rec.had_type_name = info->type_name != NULL;
    snprintf(rec.operation, sizeof rec.operation, "%s", info->operation ? info->operation : "");
    snprintf(rec.type_name, sizeof rec.type_name, "%s", info->type_name ? info->type_name : "");
    snprintf(rec.message, sizeof rec.message, "%s", info->message ? info->message : "");
    CHECK(arg == &handler_arg);
}

static void reset(void)
{
    memset(&rec, 0, sizeof rec);
    om_set_error_handler(record, &handler_arg);
}

/* One report of code, by op, about p; type NULL means no type name. */
static void expect_report(int line, om_error_code code, const char *op, const void *p, const char *type)
{
    CHECK_MSG(rec.calls == 1, "line %d: %d reports (last: %s)", line, rec.calls, rec.message);
    CHECK_MSG(rec.code == code, "line %d: code %d (%s), want %d (%s): %s", line, (int)rec.code,
              om_error_name(rec.code), (int)code, om_error_name(code), rec.message);
    CHECK_MSG(strcmp(rec.operation, op) == 0, "line %d: operation \"%s\", want \"%s\"", line,
              rec.operation, op);
    CHECK_MSG(rec.pointer == p, "line %d: pointer %p, want %p", line, rec.pointer, p);
    CHECK_MSG(strstr(rec.message, om_error_name(code)) != NULL, "line %d: message lacks \"%s\": %s",
              line, om_error_name(code), rec.message);
    CHECK_MSG(strstr(rec.message, op) != NULL, "line %d: message lacks \"%s\": %s", line, op,
              rec.message);
    CHECK_MSG(strchr(rec.message, '\n') == NULL, "line %d: message not one line: %s", line,
              rec.message);
    if (type != NULL) {
        CHECK_MSG(rec.had_type_name && strcmp(rec.type_name, type) == 0,
                  "line %d: type_name \"%s\" (%s), want \"%s\"", line, rec.type_name,
                  rec.had_type_name ? "set" : "NULL", type);
        CHECK_MSG(strstr(rec.message, type) != NULL, "line %d: message lacks the type \"%s\": %s",
                  line, type, rec.message);
    } else {
        CHECK_MSG(!rec.had_type_name, "line %d: type_name \"%s\", want NULL", line, rec.type_name);
    }
    memset(&rec, 0, sizeof rec);
}
#define EXPECT_REPORT(code, op, p, type) expect_report(__LINE__, code, op, p, type)
#define EXPECT_NO_REPORT() \
    CHECK_MSG(rec.calls == 0, "%d unexpected reports, last: %s", rec.calls, rec.message)

/* The checked functions name the call site. */
static void expect_site(int line)
{
    CHECK_MSG(strstr(rec.message, "test_object_debug.c") != NULL, "line %d: message lacks the file: %s",
              line, rec.message);
}

/* ------------------------------------------------------------ types */
typedef struct dbgobj { om_object ob; om_weakref *weaklist; long v[3]; } dbgobj;
static om_type dbg_type = { OM_TYPE_INIT, .name = "dbgobj", .size = sizeof(dbgobj),
                            .weaklist_offset = offsetof(dbgobj, weaklist) };
static om_type parkable_type = { OM_TYPE_INIT, .name = "parkable", .size = sizeof(dbgobj), .freelist_limit = 4 };
static om_type unparked_type = { OM_TYPE_INIT, .name = "unparked", .size = sizeof(dbgobj) };
static int dbg_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}
static om_type dbggc_type = { OM_TYPE_INIT, .name = "dbggc", .size = sizeof(dbgobj), .flags = OM_TYPE_GC,
                              .traverse = dbg_traverse };

static om_object *resurrected;
static void res_finalize(om_object *self) { resurrected = om_newref(self); }
static om_type resurrecting_type = { OM_TYPE_INIT, .name = "resurrecting", .size = sizeof(dbgobj),
                                     .finalize = res_finalize };

typedef struct dvec { om_varobject ob; int64_t items[]; } dvec;
static om_type dvec_type = { OM_TYPE_INIT, .name = "dvec", .size = sizeof(dvec), .item_size = 8 };

static om_type not_ready_type = { OM_TYPE_INIT, .name = "not_ready", .size = sizeof(dbgobj) };

static dbgobj static_obj = { OM_STATIC_OBJECT_INIT(&dbg_type), NULL, { 0 } };

/* ------------------------------------------------------------ tests */

static void test_correct_use_is_silent(void)
{
    reset();
    om_type *types[] = { &dbg_type, &parkable_type, &unparked_type, &dbggc_type };
    for (size_t k = 0; k < CHECK_COUNT(types); k++) {
        for (int round = 0; round < 10; round++) { /* free lists included */
            om_object *o = om_new(types[k]);
            REQUIRE(o != NULL);
            om_incref(o);
            om_incref(o);
            CHECK_EQ(o->refcount, 3);
            om_decref(o);
            om_decref(o);
            om_xincref(o);
            om_xdecref(o);
            om_decref(o);
        }
    }
    /* variable-size, medium-sized */
    om_object *v = om_new_var(&dvec_type, 5000);
    REQUIRE(v != NULL);
    om_incref(v);
    om_decref(v);
    om_decref(v);
    /* immortal and static objects */
    for (int i = 0; i < 100; i++) {
        om_incref(&static_obj);
        om_decref(&static_obj);
        om_decref(&static_obj);
    }
    CHECK_EQ(static_obj.ob.refcount, OM_IMMORTAL_REFCNT);
    om_object *im = om_new(&dbg_type);
    REQUIRE(im != NULL);
    om_immortalize(im);
    for (int i = 0; i < 100; i++)
        om_decref(im);
    /* resurrection: finalize runs with the object alive */
    om_object *r = om_new(&resurrecting_type);
    REQUIRE(r != NULL);
    om_decref(r);
    CHECK_PTR_EQ(resurrected, r);
    CHECK_EQ(r->refcount, 1);
    om_clear_ref(&resurrected);
    /* weak references and the examples */
    om_object *w = OM_OBJ(om_weakref_new(im, NULL, NULL));
    REQUIRE(w != NULL);
    om_incref(w);
    om_decref(w);
    om_decref(w);
    om_object *l = ex_list_new(0), *f = ex_float_new(1.0), *s = ex_str_from("x");
    REQUIRE(l != NULL && f != NULL && s != NULL);
    CHECK_EQ(ex_list_append(l, f), 0);
    CHECK_EQ(ex_list_append(l, s), 0);
    om_decref(f);
    om_decref(s);
    om_incref(l);
    om_decref(l);
    om_decref(l);
    EXPECT_NO_REPORT();
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_decref_below_zero(void)
{
    reset();
    om_type_stats s0 = ot_stats(&dbg_type);
    dbgobj *o = (dbgobj *)om_new(&dbg_type);
    REQUIRE(o != NULL);
    o->ob.refcount = 0; /* as after a missing incref */
    om_decref(o);
    expect_site(__LINE__);
    EXPECT_REPORT(OM_ERR_REFCOUNT, "om_decref", o, "dbgobj");
    CHECK_EQ(o->ob.refcount, 0); /* the call did nothing */
    CHECK_EQ(ot_stats(&dbg_type).destroyed, s0.destroyed);
    /* the same through om_decref_checked, as a binding would call it */
    om_decref_checked(OM_OBJ(o), "binding.c", 77);
    CHECK_STR_HAS(rec.message, "binding.c:77");
    EXPECT_REPORT(OM_ERR_REFCOUNT, "om_decref", o, "dbgobj");
    o->ob.refcount = 1;
    om_decref(o);
    EXPECT_NO_REPORT();
    CHECK_EQ(ot_stats(&dbg_type).destroyed - s0.destroyed, 1);
    CHECK_EQ(ot_stats(&dbg_type).live, s0.live);
}

static void test_use_after_free_freelist(void)
{
    reset();
    om_type_freelist_clear(&parkable_type);
    om_object *o = om_new(&parkable_type);
    REQUIRE(o != NULL);
    om_decref(o);
    CHECK_EQ(ot_stats(&parkable_type).freelist_len, 1);
    intptr_t dead = o->refcount;
    om_incref(o);
    expect_site(__LINE__);
    EXPECT_REPORT(OM_ERR_USE_AFTER_FREE, "om_incref", o, "parkable");
    CHECK_EQ(o->refcount, dead);
    om_decref(o);
    EXPECT_REPORT(OM_ERR_USE_AFTER_FREE, "om_decref", o, "parkable");
    CHECK_EQ(o->refcount, dead);
    /* the free list is intact: the next object is this one, alive */
    CHECK_EQ(ot_stats(&parkable_type).freelist_len, 1);
    om_object *again = om_new(&parkable_type);
    CHECK_PTR_EQ(again, o);
    REQUIRE(again != NULL);
    CHECK_EQ(again->refcount, 1);
    om_incref(again);
    om_decref(again);
    om_decref(again);
    EXPECT_NO_REPORT();

    /* an example float, parked on its free list */
    om_object *f = ex_float_new(2.0);
    REQUIRE(f != NULL);
    om_decref(f);
    om_decref(f);
    EXPECT_REPORT(OM_ERR_USE_AFTER_FREE, "om_decref", f, "float");
}

static void allocator_case(om_type *t, size_t nitems)
{
    reset();
    om_object *keep = nitems ? om_new_var(t, nitems) : om_new(t); /* the pool stays in use */
    om_object *o = nitems ? om_new_var(t, nitems) : om_new(t);
    REQUIRE(keep != NULL && o != NULL);
    om_decref(o);
    CHECK_EQ(ot_stats(t).freelist_len, 0);
    om_incref(o);
    CHECK_MSG(rec.calls == 1, "%s: incref of a freed object: %d reports", t->name, rec.calls);
    if (rec.calls == 1)
        printf("    %s, freed to the allocator, unchecked mode: %s\n", t->name, rec.message);
    EXPECT_REPORT(OM_ERR_USE_AFTER_FREE, "om_incref", o, NULL);
    om_decref(o);
    EXPECT_REPORT(OM_ERR_USE_AFTER_FREE, "om_decref", o, NULL);
    /* nothing was written: the allocator's free block is intact */
    CHECK_EQ(om_heap_check(1), 0);
    om_object *again = nitems ? om_new_var(t, nitems) : om_new(t);
    REQUIRE(again != NULL);
    CHECK_EQ(again->refcount, 1);
    om_decref(again);
    om_decref(keep);
    EXPECT_NO_REPORT();
    CHECK_EQ(om_heap_check(1), 0);

    /* checked mode: the type is still known */
    om_option_set(OM_OPTION_CHECKED, 1);
    o = nitems ? om_new_var(t, nitems) : om_new(t);
    REQUIRE(o != NULL);
    om_decref(o);
    om_incref(o);
    if (rec.calls == 1)
        printf("    %s, freed to the allocator, checked mode: %s\n", t->name, rec.message);
    EXPECT_REPORT(OM_ERR_USE_AFTER_FREE, "om_incref", o, t->name);
    om_decref(o);
    EXPECT_REPORT(OM_ERR_USE_AFTER_FREE, "om_decref", o, t->name);
    om_option_set(OM_OPTION_CHECKED, 0);
    om_freelists_clear();
    EXPECT_NO_REPORT();
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_use_after_free_allocator(void)
{
    allocator_case(&unparked_type, 0);
    allocator_case(&dbggc_type, 0);          /* collector header before the object */
    allocator_case(&dvec_type, 3);           /* small variable-size */
    allocator_case(&dvec_type, 5000);        /* medium block */
}

/* A large object (its own mapping) given back to the allocator.  The
 * mapping is kept in the large-block cache so that reading the stale
 * header cannot fault; whatever the cache holds, the report must say "use
 * after free", for incref and decref alike. */
static void test_use_after_free_large(void)
{
    reset();
    long cache = om_option_get(OM_OPTION_LARGE_CACHE_MB);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, 64);
    om_object *v = om_new_var(&dvec_type, 100000); /* 800 KB */
    REQUIRE(v != NULL);
    om_decref(v);
    const char *ops[2] = { "om_incref", "om_decref" };
    for (int k = 0; k < 2; k++) {
        memset(&rec, 0, sizeof rec);
        if (k == 0)
            om_incref(v);
        else
            om_decref(v);
        printf("    large, freed, %s: %s\n", ops[k], rec.message);
        CHECK_MSG(rec.calls == 1, "%s: %d reports", ops[k], rec.calls);
        CHECK_MSG(rec.code == OM_ERR_USE_AFTER_FREE, "%s of a freed large object: %s, want %s: %s",
                  ops[k], om_error_name(rec.code), om_error_name(OM_ERR_USE_AFTER_FREE), rec.message);
        CHECK_MSG(strcmp(rec.operation, ops[k]) == 0, "operation %s", rec.operation);
        CHECK(rec.pointer == v);
    }
    memset(&rec, 0, sizeof rec);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, cache);
    CHECK_EQ(om_heap_check(1), 0);
}

static void test_not_an_object(void)
{
    reset();
    om_incref((om_object *)NULL);
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_incref", NULL, NULL);
    om_decref((om_object *)NULL);
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_decref", NULL, NULL);

    /* object-shaped, on the stack */
    _Alignas(16) dbgobj fake;
    memset(&fake, 0, sizeof fake);
    fake.ob.refcount = 3;
    fake.ob.type = &dbg_type;
    om_decref(&fake);
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_decref", &fake, NULL);
    CHECK_EQ(fake.ob.refcount, 3);
    om_incref(&fake);
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_incref", &fake, NULL);
    CHECK_EQ(fake.ob.refcount, 3);

    /* libc's heap */
    dbgobj *lf = aligned_alloc(16, sizeof(dbgobj));
    REQUIRE(lf != NULL);
    memset(lf, 0, sizeof *lf);
    lf->ob.refcount = 3;
    lf->ob.type = &dbg_type;
    om_decref(lf);
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_decref", lf, NULL);
    CHECK_EQ(lf->ob.refcount, 3);
    free(lf);

    /* a raw block of objmem's heap that never was an object */
    om_object *raw = om_calloc(1, 64);
    REQUIRE(raw != NULL);
    raw->refcount = 3;
    om_decref(raw);
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_decref", raw, NULL);
    CHECK_EQ(raw->refcount, 3);
    raw->type = &not_ready_type; /* a type that never made an object */
    om_incref(raw);
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_incref", raw, NULL);
    CHECK_EQ(raw->refcount, 3);
    om_free(raw);

    /* interior and misaligned pointers into a live object */
    dbgobj *o = (dbgobj *)om_new(&dbg_type);
    REQUIRE(o != NULL);
    char *base = (char *)o;
    om_incref((om_object *)(base + 32));
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_incref", base + 32, NULL);
    om_decref((om_object *)(base + 8));
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_decref", base + 8, NULL);
    /* 16 bytes in, where a collector header would end, with a fake object
     * there: still not an object (dbgobj has no header) */
    o->weaklist = (om_weakref *)(intptr_t)3;   /* refcount of the fake */
    o->v[0] = (long)(intptr_t)&dbg_type;       /* its type */
    om_decref((om_object *)(base + 16));
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_decref", base + 16, NULL);
    CHECK_EQ((intptr_t)o->weaklist, 3);
    o->weaklist = NULL;
    CHECK_EQ(o->ob.refcount, 1);
    om_decref(o);
    EXPECT_NO_REPORT();
}

/* A raw om_malloc block too small for the type it claims: "bad size". */
static void test_bad_size(void)
{
    reset();
    om_object *raw = om_malloc(16);
    REQUIRE(raw != NULL);
    raw->refcount = 3;
    raw->type = &dbg_type; /* 48-byte instances, 16-byte block */
    om_incref(raw);
    EXPECT_REPORT(OM_ERR_BAD_OBJECT, "om_incref", raw, NULL);
    CHECK_EQ(raw->refcount, 3);
    om_free(raw);
}

/* ---- the runtime lock: last, since once a thread has used the lock every
 * object use must hold it */
static void *lock_user(void *arg)
{
    om_object *o = arg;
    om_lock_acquire();
    om_incref(o);
    om_decref(o);
    om_lock_release();
    return NULL;
}

static om_thread *other_state;
static void *state_of_other(void *arg)
{
    (void)arg;
    om_lock_acquire();
    other_state = om_lock_save();
    om_lock_restore(other_state);
    om_lock_release();
    return NULL;
}

static void test_lock_errors(void)
{
    reset();
    uint64_t live0 = ot_live(&dbg_type);
    om_object *o = om_new(&dbg_type);
    REQUIRE(o != NULL);
    om_incref(o); /* no thread has used the lock yet: fine without it */
    om_decref(o);
    EXPECT_NO_REPORT();
    pthread_t t;
    REQUIRE_EQ(pthread_create(&t, NULL, lock_user, o), 0);
    pthread_join(t, NULL);
    EXPECT_NO_REPORT();
    CHECK_EQ(o->refcount, 1);
    /* now objects need the lock */
    om_incref(o);
    expect_site(__LINE__);
    CHECK_STR_HAS(rec.message, "lock");
    EXPECT_REPORT(OM_ERR_LOCK, "om_incref", o, NULL);
    CHECK_EQ(o->refcount, 1);
    om_decref(o);
    EXPECT_REPORT(OM_ERR_LOCK, "om_decref", o, NULL);
    CHECK_EQ(o->refcount, 1);
    om_incref(&static_obj); /* immortal objects too */
    EXPECT_REPORT(OM_ERR_LOCK, "om_incref", &static_obj, NULL);
    om_lock_acquire();
    om_incref(o);
    CHECK_EQ(o->refcount, 2);
    om_decref(o);
    EXPECT_NO_REPORT();

    /* acquire while holding: reported, still held once */
    om_lock_acquire();
    EXPECT_REPORT(OM_ERR_LOCK, "om_lock_acquire", NULL, NULL);
    CHECK_EQ(om_lock_held(), 1);
    om_lock_release();
    EXPECT_NO_REPORT();
    CHECK_EQ(om_lock_held(), 0);
    /* release while not holding */
    om_lock_release();
    EXPECT_REPORT(OM_ERR_LOCK, "om_lock_release", NULL, NULL);
    CHECK_EQ(om_lock_held(), 0);
    /* restore of another thread's saved state */
    REQUIRE_EQ(pthread_create(&t, NULL, state_of_other, NULL), 0);
    pthread_join(t, NULL);
    REQUIRE(other_state != NULL);
    om_lock_restore(other_state);
    EXPECT_REPORT(OM_ERR_LOCK, "om_lock_restore", other_state, NULL);
    CHECK_EQ(om_lock_held(), 0);
    /* the lock still works */
    om_lock_acquire();
    om_decref(o);
    om_lock_release();
    EXPECT_NO_REPORT();
    CHECK_EQ(ot_live(&dbg_type), live0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_correct_use_is_silent),
        CHECK_CASE(test_decref_below_zero),
        CHECK_CASE(test_use_after_free_freelist),
        CHECK_CASE(test_use_after_free_allocator),
        CHECK_CASE(test_use_after_free_large),
        CHECK_CASE(test_not_an_object),
        CHECK_CASE(test_bad_size),
        CHECK_CASE(test_lock_errors),
    };
    int rc = check_main(cases, CHECK_COUNT(cases), argc, argv);
    om_set_error_handler(NULL, NULL);
    return rc;
}
