/*
 * test_object_oom.c — out of memory in the object layer, the sqlite way:
 * OS hooks (objmem.h §5) that fail the 1st, 2nd, ... Nth reserve while a
 * workload builds objects of every kind (examples' float, int, str, list,
 * dict; weak references with data; fixed and variable-size test types, up
 * to large blocks; om_resize_var).  The call that meets the failure
 * returns NULL (or ENOMEM) with errno ENOMEM and changes nothing it was
 * given (list and dict contents, reference counts of items, keys, values,
 * weak-reference data); afterwards everything is dropped and every type's
 * live count, the mapped bytes and the heap's consistency are back where
 * they were.  No crash, no leak.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"
#include "objtest.h"

/* ---- failing hooks */
static struct {
    atomic_long reserve_calls, reserve_failed;
    atomic_long mapped;
    atomic_long fail_countdown; /* fail the reserve that takes this to 0 */
    om_os_hooks inner;
} hk;

static void *fail_reserve(size_t size, size_t align, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&hk.reserve_calls, 1);
    if (atomic_fetch_sub(&hk.fail_countdown, 1) == 1) {
        atomic_fetch_add(&hk.reserve_failed, 1);
        return NULL;
    }
    void *p = hk.inner.reserve(size, align, hk.inner.ctx);
    if (p != NULL)
        atomic_fetch_add(&hk.mapped, (long)size);
    return p;
}

static int count_release(void *p, size_t size, void *ctx)
{
    (void)ctx;
    int rc = hk.inner.release(p, size, hk.inner.ctx);
    if (rc == 0)
        atomic_fetch_sub(&hk.mapped, (long)size);
    return rc;
}

static int pass_purge(void *p, size_t size, void *ctx)
{
    (void)ctx;
    return hk.inner.purge(p, size, hk.inner.ctx);
}

/* ---- test types */
typedef struct big { om_object ob; om_weakref *weaklist; char body[3000]; } big; /* medium */
static om_type big_type = { OM_TYPE_INIT, .name = "big", .size = sizeof(big), .freelist_limit = 3,
                            .weaklist_offset = offsetof(big, weaklist) };

typedef struct ovec { om_varobject ob; int64_t items[]; } ovec;
static int ovec_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}
static om_type ovec_type = { OM_TYPE_INIT, .name = "ovec", .size = sizeof(ovec), .item_size = 8,
                             .flags = OM_TYPE_GC, .traverse = ovec_traverse };

static om_type *const watched[] = { &ex_float_type, &ex_int_type, &ex_str_type, &ex_list_type,
                                     &ex_dict_type, &ex_tuple_type, &om_weakref_type, &big_type,
                                     &ovec_type };
#define NWATCHED (sizeof watched / sizeof watched[0])

/* ---- the workload */
#define STEPS (OM_TEST_SANITIZED ? 1500L : 4000L)
static om_object **objs;
static size_t nobjs;

typedef struct outcome {
    long step;        /* where it failed, or -1 */
    int err;          /* errno / return code there */
    const char *what;
} outcome;

static void keep(om_object *o)
{
    objs[nobjs++] = o;
}

static int fail_at(outcome *out, long step, int err, const char *what)
{
    out->step = step;
    out->err = err;
    out->what = what;
    return 1;
}

/* One step; returns 1 when a call failed (after checking that it left its
 * arguments as they were). */
static int step(long i, outcome *out)
{
    errno = 0;
    switch (i % 8) {
    case 0: {
        om_object *f = ex_float_new((double)i);
        if (f == NULL)
            return fail_at(out, i, errno, "ex_float_new");
        keep(f);
        return 0;
    }
    case 1: {
        om_object *n = ex_int_new(i * 1000003);
        if (n == NULL)
            return fail_at(out, i, errno, "ex_int_new");
        keep(n);
        return 0;
    }
    case 2: {
        static char text[9000];
        size_t len = 500 + (size_t)(i * 37) % 8000; /* small and medium */
        memset(text, 'a' + (int)(i % 26), len);
        om_object *s = ex_str_new(text, len);
        if (s == NULL)
            return fail_at(out, i, errno, "ex_str_new");
        keep(s);
        return 0;
    }
    case 3: {
        om_object *l = ex_list_new(0);
        if (l == NULL)
            return fail_at(out, i, errno, "ex_list_new");
        keep(l);
        for (int k = 0; k < 200; k++) {
            om_object *x = ex_float_new(k);
            if (x == NULL)
                return fail_at(out, i, errno, "ex_float_new (list item)");
            size_t len = ex_list_len(l);
            int rc = ex_list_append(l, x);
            if (rc != 0) {
                CHECK_EQ(ex_list_len(l), len);
                CHECK_EQ(x->refcount, 1);
                om_decref(x);
                return fail_at(out, i, rc, "ex_list_append");
            }
            om_decref(x);
        }
        return 0;
    }
    case 4: {
        om_object *d = ex_dict_new();
        if (d == NULL)
            return fail_at(out, i, errno, "ex_dict_new");
        keep(d);
        for (int k = 0; k < 100; k++) {
            char key[32];
            snprintf(key, sizeof key, "key-%ld-%d", i, k);
            om_object *ks = ex_str_from(key);
            if (ks == NULL)
                return fail_at(out, i, errno, "ex_str_from (key)");
            om_object *v = ex_int_new(k);
            if (v == NULL) {
                om_decref(ks);
                return fail_at(out, i, errno, "ex_int_new (value)");
            }
            size_t len = ex_dict_len(d);
            int rc = ex_dict_set(d, ks, v);
            if (rc != 0) {
                CHECK_EQ(ex_dict_len(d), len);
                CHECK_EQ(ks->refcount, 1);
                CHECK_EQ(v->refcount, 1);
                CHECK(ex_dict_get(d, ks) == NULL);
                om_decref(ks);
                om_decref(v);
                return fail_at(out, i, rc, "ex_dict_set");
            }
            om_decref(ks);
            om_decref(v);
        }
        return 0;
    }
    case 5: {
        /* a weak reference with data to the latest str, list or dict */
        om_object *target = NULL;
        for (size_t k = nobjs; k-- > 0;)
            if (objs[k]->type->weaklist_offset != 0 && objs[k]->type != &om_weakref_type) {
                target = objs[k];
                break;
            }
        if (target == NULL)
            return 0;
        om_object *data = ex_float_new(0.5);
        if (data == NULL)
            return fail_at(out, i, errno, "ex_float_new (data)");
        size_t wc = om_weakref_count(target);
        intptr_t trc = target->refcount;
        om_weakref *w = om_weakref_new(target, NULL, data);
        int e = errno;
        if (w == NULL) {
            CHECK_EQ(data->refcount, 1);
            CHECK_EQ(om_weakref_count(target), wc);
            CHECK_EQ(target->refcount, trc);
            om_decref(data);
            return fail_at(out, i, e, "om_weakref_new");
        }
        om_decref(data);
        keep(OM_OBJ(w));
        return 0;
    }
    case 6: {
        big *b = (big *)om_new(&big_type);
        if (b == NULL)
            return fail_at(out, i, errno, "om_new (medium)");
        keep(OM_OBJ(b));
        return 0;
    }
    default: {
        /* a variable-size object, sometimes resized up to a large block */
        size_t n = 4 + (size_t)i % 100;
        om_object *v = om_new_var(&ovec_type, n);
        if (v == NULL)
            return fail_at(out, i, errno, "om_new_var");
        for (size_t k = 0; k < n; k++)
            ((ovec *)v)->items[k] = (int64_t)k;
        if (i % 64 == 15) {
            om_object *before = v;
            int rc = om_resize_var(&v, 25000 + (size_t)i);
            if (rc != 0) {
                CHECK_PTR_EQ(v, before);
                CHECK_EQ(((ovec *)v)->ob.nitems, n);
                CHECK_EQ(((ovec *)v)->items[n - 1], (int64_t)n - 1);
                keep(v);
                return fail_at(out, i, rc, "om_resize_var");
            }
            CHECK_EQ(((ovec *)v)->items[n - 1], (int64_t)n - 1);
        }
        keep(v);
        return 0;
    }
    }
}

static outcome run_workload(void)
{
    outcome out = { -1, 0, NULL };
    nobjs = 0;
    for (long i = 0; i < STEPS; i++)
        if (step(i, &out))
            break;
    return out;
}

static void drop_all(void)
{
    while (nobjs > 0)
        om_decref(objs[--nobjs]);
    om_freelists_clear();
    om_trim(1);
}

static void test_oom_sweep(void)
{
    objs = calloc(STEPS * 2, sizeof *objs);
    REQUIRE(objs != NULL);
    om_get_os_hooks(&hk.inner);
    atomic_store(&hk.fail_countdown, 0);
    om_os_hooks h = { fail_reserve, count_release, pass_purge, &hk };
    om_set_os_hooks(&h);

    /* warm up: what lives forever is mapped before the baseline */
    outcome o = run_workload();
    CHECK_EQ(o.step, -1);
    drop_all();
    o = run_workload();
    CHECK_EQ(o.step, -1);
    drop_all();
    long baseline = atomic_load(&hk.mapped);
    uint64_t live0[NWATCHED];
    for (size_t k = 0; k < NWATCHED; k++)
        live0[k] = ot_live(watched[k]);

    long failures = 0, absorbed = 0, n;
    const long max_n = 3000;
    int kinds_seen[8] = { 0 };
    for (n = 1; n <= max_n; n++) {
        atomic_store(&hk.fail_countdown, n);
        long failed_before = atomic_load(&hk.reserve_failed);
        o = run_workload();
        long injected = atomic_load(&hk.reserve_failed) - failed_before;
        atomic_store(&hk.fail_countdown, 0);
        if (o.step >= 0) {
            failures++;
            if (getenv("OM_TEST_VERBOSE"))
                printf("    N=%ld: %s failed at step %ld\n", n, o.what, o.step);
            kinds_seen[o.step % 8] = 1;
            CHECK_MSG(injected == 1, "N=%ld: %s failed at step %ld with %ld injected failures", n,
                      o.what, o.step, injected);
            CHECK_MSG(o.err == ENOMEM, "N=%ld: %s failed at step %ld with errno %d", n, o.what,
                      o.step, o.err);
        } else {
            absorbed += injected;
        }
        int problems = om_heap_check(0);
        CHECK_MSG(problems == 0, "N=%ld: om_heap_check found %d problems", n, problems);
        drop_all();
        for (size_t k = 0; k < NWATCHED; k++)
            CHECK_MSG(ot_live(watched[k]) == live0[k], "N=%ld (%s at step %ld): %llu %s alive, %llu before",
                      n, o.what ? o.what : "no failure", o.step,
                      (unsigned long long)ot_live(watched[k]), watched[k]->name,
                      (unsigned long long)live0[k]);
        long mapped = atomic_load(&hk.mapped);
        CHECK_MSG(mapped == baseline, "N=%ld (%s at step %ld): %ld bytes mapped, baseline %ld", n,
                  o.what ? o.what : "no failure", o.step, mapped, baseline);
        if (check_failures() > 20)
            break;
        if (injected == 0)
            break; /* the workload needs fewer than n reserves: swept them all */
    }
    printf("    swept %ld reserves: %ld failures reported, %ld absorbed\n", n - 1, failures, absorbed);
    CHECK_LE(n, max_n);
    CHECK_GT(failures, 5);
    /* failures met in several kinds of step */
    int kinds = 0;
    for (int k = 0; k < 8; k++)
        kinds += kinds_seen[k];
    CHECK_GE(kinds, 3);
    om_set_os_hooks(NULL);
    free(objs);
}

/* om_new / om_new_var / om_weakref_new with the very next reserve failing,
 * from an empty heap: NULL + ENOMEM, stats unchanged. */
static void test_first_reserve_fails(void)
{
    om_get_os_hooks(&hk.inner);
    om_os_hooks h = { fail_reserve, count_release, pass_purge, &hk };
    om_set_os_hooks(&h);
    om_freelists_clear();
    om_trim(1);
    /* a large variable-size object always needs its own mapping */
    om_type_stats s0 = ot_stats(&ovec_type);
    atomic_store(&hk.fail_countdown, 1);
    errno = 0;
    om_object *v = om_new_var(&ovec_type, 100000);
    CHECK(v == NULL);
    CHECK_EQ(errno, ENOMEM);
    CHECK_EQ(atomic_load(&hk.fail_countdown), 0);
    om_type_stats s1 = ot_stats(&ovec_type);
    CHECK_EQ(s1.created, s0.created);
    CHECK_EQ(s1.live, s0.live);
    atomic_store(&hk.fail_countdown, 0);
    /* a resize from a small block to a large one needs a new mapping */
    v = om_new_var(&ovec_type, 100);
    REQUIRE(v != NULL);
    ((ovec *)v)->items[99] = 7;
    om_object *before = v;
    atomic_store(&hk.fail_countdown, 1);
    int rc = om_resize_var(&v, 100000);
    CHECK_EQ(atomic_load(&hk.fail_countdown), 0);
    atomic_store(&hk.fail_countdown, 0);
    CHECK_EQ(rc, ENOMEM);
    CHECK_PTR_EQ(v, before);
    CHECK_EQ(((ovec *)v)->ob.nitems, 100);
    CHECK_EQ(((ovec *)v)->items[99], 7);
    CHECK_EQ(om_resize_var(&v, 100000), 0);
    CHECK_EQ(((ovec *)v)->items[99], 7);
    om_decref(v);
    CHECK_EQ(ot_stats(&ovec_type).live, s0.live);
    om_trim(1);
    om_set_os_hooks(NULL);
}

/* ---- one API at a time: call it until the next reserve (which fails)
 * is needed; the failing call returns NULL / ENOMEM and leaves everything
 * as it was. */
typedef struct filler {
    const char *name;
    /* 0 on success (result kept), else the errno */
    int (*call)(void);
    /* checks after the failure */
    void (*after)(void);
} filler;

static om_object *fill_target, *fill_data, *fill_dict;
static size_t fill_n;

static int call_weakref(void)
{
    om_weakref *w = om_weakref_new(fill_target, NULL, fill_data);
    if (w == NULL)
        return errno;
    keep(OM_OBJ(w));
    fill_n++;
    return 0;
}
static void after_weakref(void)
{
    CHECK_EQ(om_weakref_count(fill_target), fill_n);
    CHECK_EQ(fill_data->refcount, (intptr_t)fill_n + 1);
    CHECK_EQ(fill_target->refcount, 1);
}

static int call_new(void)
{
    om_object *o = om_new(&big_type);
    if (o == NULL)
        return errno;
    keep(o);
    fill_n++;
    return 0;
}

static int call_float(void)
{
    om_object *o = ex_float_new(1.0);
    if (o == NULL)
        return errno;
    keep(o);
    fill_n++;
    return 0;
}

static int call_tuple(void)
{
    om_object *t = ex_tuple_new(3);
    if (t == NULL)
        return errno;
    ex_tuple_set_item(t, 0, om_newref(fill_data));
    keep(t);
    fill_n++;
    return 0;
}
static void after_tuple(void)
{
    CHECK_EQ(fill_data->refcount, (intptr_t)fill_n + 1);
}

static int call_str(void)
{
    static char text[3000];
    memset(text, 'x', sizeof text);
    om_object *o = ex_str_new(text, sizeof text);
    if (o == NULL)
        return errno;
    keep(o);
    fill_n++;
    return 0;
}

static int call_list_append(void)
{
    om_object *l = ex_list_new(0);
    if (l == NULL)
        return errno;
    keep(l);
    for (int k = 0; k < 100; k++) {
        int rc = ex_list_append(l, fill_data);
        if (rc != 0) {
            CHECK_EQ(ex_list_len(l), (size_t)k);
            return rc;
        }
        fill_n++;
    }
    return 0;
}
static void after_list(void)
{
    CHECK_EQ(fill_data->refcount, (intptr_t)fill_n + 1);
}

static int call_dict_set(void)
{
    om_object *key = ex_int_new((int64_t)fill_n);
    if (key == NULL)
        return errno;
    size_t len = ex_dict_len(fill_dict);
    int rc = ex_dict_set(fill_dict, key, fill_data);
    if (rc != 0) {
        CHECK_EQ(ex_dict_len(fill_dict), len);
        CHECK(ex_dict_get(fill_dict, key) == NULL);
        CHECK_EQ(key->refcount, 1);
        om_decref(key);
        return rc;
    }
    om_decref(key);
    fill_n++;
    return 0;
}
static void after_dict(void)
{
    CHECK_EQ(ex_dict_len(fill_dict), fill_n);
    CHECK_EQ(fill_data->refcount, (intptr_t)fill_n + 1);
}

static void test_fill_until_failure(void)
{
    static const filler fillers[] = {
        { "om_weakref_new", call_weakref, after_weakref },
        { "om_new", call_new, NULL },
        { "ex_float_new", call_float, NULL },
        { "ex_tuple_new", call_tuple, after_tuple },
        { "ex_str_new", call_str, NULL },
        { "ex_list_append", call_list_append, after_list },
        { "ex_dict_set", call_dict_set, after_dict },
    };
    const size_t cap = 4000000;
    objs = calloc(cap, sizeof *objs);
    REQUIRE(objs != NULL);
    om_get_os_hooks(&hk.inner);
    om_os_hooks h = { fail_reserve, count_release, pass_purge, &hk };
    om_set_os_hooks(&h);
    for (size_t f = 0; f < CHECK_COUNT(fillers); f++) {
        nobjs = 0;
        fill_n = 0;
        om_freelists_clear();
        om_trim(1);
        long baseline = atomic_load(&hk.mapped);
        uint64_t live0[NWATCHED];
        for (size_t k = 0; k < NWATCHED; k++)
            live0[k] = ot_live(watched[k]);
        fill_target = ex_str_from("target");
        fill_data = ex_float_new(9.0);
        fill_dict = ex_dict_new();
        REQUIRE(fill_target != NULL && fill_data != NULL && fill_dict != NULL);
        atomic_store(&hk.fail_countdown, 1);
        int err = 0;
        while (nobjs < cap - 1 && (err = fillers[f].call()) == 0) {
        }
        long left = atomic_load(&hk.fail_countdown);
        atomic_store(&hk.fail_countdown, 0);
        CHECK_MSG(err == ENOMEM, "%s: stopped after %zu with error %d", fillers[f].name, fill_n, err);
        CHECK_MSG(left == 0, "%s: the failing reserve was not the one met", fillers[f].name);
        if (fillers[f].after)
            fillers[f].after();
        CHECK_EQ(om_heap_check(0), 0);
        printf("    %s: failed cleanly after %zu\n", fillers[f].name, fill_n);
        om_clear_ref(&fill_target);
        om_clear_ref(&fill_data);
        om_clear_ref(&fill_dict);
        drop_all();
        for (size_t k = 0; k < NWATCHED; k++)
            CHECK_MSG(ot_live(watched[k]) == live0[k], "%s: %llu %s alive, %llu before",
                      fillers[f].name, (unsigned long long)ot_live(watched[k]), watched[k]->name,
                      (unsigned long long)live0[k]);
        long mapped = atomic_load(&hk.mapped);
        CHECK_MSG(mapped == baseline, "%s: %ld bytes mapped, baseline %ld", fillers[f].name, mapped,
                  baseline);
    }
    om_set_os_hooks(NULL);
    free(objs);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_oom_sweep),
        CHECK_CASE(test_first_reserve_fails),
        CHECK_CASE(test_fill_until_failure),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
