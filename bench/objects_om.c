/*
 * objects_om.c — bench_objects workloads on objmem's object layer, through
 * the example types of examples/ (objmem_examples).
 *
 * Mirrors objects_py.c line for line; see objects.h.  All objects are
 * used by this one thread, which holds the runtime lock (as CPython's
 * main thread holds the GIL on the other side).
 */
#include "objects.h"

#include "examples.h"
#include "objmem.h"

#include <stdio.h>

#define FAIL(what)                                                             \
    do {                                                                       \
        fprintf(stderr, "bench_objects: objmem: %s failed\n", what);          \
        return -1;                                                             \
    } while (0)

int obj_objmem_init(void)
{
    om_lock_acquire();
    return om_lock_held() ? 0 : -1;
}

const char *obj_objmem_version(void) { return om_version(); }

void obj_objmem_gc_thresholds(long out[3]) { om_gc_get_threshold(out); }

/* ---------------------------------------------------------- float */

static int w_float(const obj_params *p, obj_timing *t)
{
    const size_t n = p->n;
    double sum = 0;
    obj_clock t0 = obj_now();
    for (size_t i = 0; i < n; i++) {
        om_object *f = ex_float_new((double)i);
        if (!f)
            FAIL("ex_float_new");
        sum += ((ex_float *)f)->value;
        om_decref(f);
    }
    obj_add(t, 0, t0, obj_now());
    t->ops[0] = n;
    t->chk = (uint64_t)sum;
    return 0;
}

static int w_float_batch(const obj_params *p, obj_timing *t)
{
    const size_t batch = p->batch;
    const size_t reps = p->reps;
    om_object **a = (om_object **)p->slots;
    unsigned saved = ex_float_type.freelist_limit;
    if (p->variant == OBJ_V_NOFL)
        om_type_set_freelist_limit(&ex_float_type, 0);
    double sum = 0;
    obj_clock t0 = obj_now();
    for (size_t r = 0; r < reps; r++) {
        for (size_t i = 0; i < batch; i++) {
            a[i] = ex_float_new((double)i);
            if (!a[i])
                FAIL("ex_float_new");
        }
        for (size_t i = 0; i < batch; i++) {
            sum += ((ex_float *)a[i])->value;
            om_decref(a[i]);
        }
    }
    obj_add(t, 0, t0, obj_now());
    if (p->variant == OBJ_V_NOFL)
        om_type_set_freelist_limit(&ex_float_type, saved);
    t->ops[0] = batch * reps;
    t->chk = (uint64_t)sum;
    return 0;
}

/* ---------------------------------------------------------- int */

static int w_int(const obj_params *p, obj_timing *t)
{
    const size_t n = p->n;
    uint64_t sum = 0;
    obj_clock t0 = obj_now();
    for (size_t i = 0; i < n; i++) {
        om_object *v = ex_int_new((int64_t)(1000 + i));
        if (!v)
            FAIL("ex_int_new");
        sum += (uint64_t)((ex_int *)v)->value;
        om_decref(v);
    }
    obj_add(t, 0, t0, obj_now());
    t->ops[0] = n;
    t->chk = sum;
    return 0;
}

static int w_int_batch(const obj_params *p, obj_timing *t)
{
    const size_t batch = p->batch;
    const size_t reps = p->reps;
    om_object **a = (om_object **)p->slots;
    uint64_t sum = 0;
    obj_clock t0 = obj_now();
    for (size_t r = 0; r < reps; r++) {
        for (size_t i = 0; i < batch; i++) {
            a[i] = ex_int_new((int64_t)(1000 + i));
            if (!a[i])
                FAIL("ex_int_new");
        }
        for (size_t i = 0; i < batch; i++) {
            sum += (uint64_t)((ex_int *)a[i])->value;
            om_decref(a[i]);
        }
    }
    obj_add(t, 0, t0, obj_now());
    t->ops[0] = batch * reps;
    t->chk = sum;
    return 0;
}

/* ---------------------------------------------------------- incref/decref */

static int w_incref(const obj_params *p, obj_timing *t)
{
    const size_t n = p->n;
    om_object *o = ex_float_new(1.5);
    if (!o)
        FAIL("ex_float_new");
    om_object *q = o;
    obj_clock t0 = obj_now();
    for (size_t i = 0; i < n; i++) {
        OBJ_OPAQUE(q);
        om_incref(q);
        OBJ_OPAQUE(q);
        om_decref(q);
    }
    obj_add(t, 0, t0, obj_now());
    t->ops[0] = n;
    t->chk = (uint64_t)o->refcount * 1000 + (uint64_t)((ex_float *)q)->value;
    om_decref(o);
    return 0;
}

/* ---------------------------------------------------------- list of tuples */

static int w_list(const obj_params *p, obj_timing *t)
{
    const size_t n = p->n;
    /* Same collector state for every run: collect everything first
     * (untimed).  OBJ_V_NOGC then switches the collector off for the
     * build and the teardown. */
    if (om_gc_collect(2) < 0)
        FAIL("om_gc_collect");
    int was_enabled = om_gc_isenabled();
    if (p->variant == OBJ_V_NOGC)
        om_gc_disable();

    obj_clock t0 = obj_now();
    om_object *l = ex_list_new(0);
    if (!l)
        FAIL("ex_list_new");
    for (size_t i = 0; i < n; i++) {
        om_object *tup = ex_tuple_new(2);
        om_object *a = ex_float_new((double)i);
        om_object *b = ex_float_new((double)i + 0.5);
        if (!tup || !a || !b)
            FAIL("ex_tuple_new/ex_float_new");
        ex_tuple_set_item(tup, 0, a);
        ex_tuple_set_item(tup, 1, b);
        if (ex_list_append(l, tup) != 0)
            FAIL("ex_list_append");
        om_decref(tup);
        /* The safe point a runtime's eval loop provides: a young
         * collection runs here when one is due (CPython runs its own
         * inside PyTuple_New). */
        om_gc_poll();
    }
    obj_clock t1 = obj_now();

    /* checksum (untimed): element count and the sum of all floats */
    ex_list *lo = (ex_list *)l;
    double sum = 0;
    for (size_t i = 0; i < lo->len; i++) {
        ex_tuple *tup = (ex_tuple *)lo->items[i];
        sum += ((ex_float *)tup->items[0])->value + ((ex_float *)tup->items[1])->value;
    }
    t->chk = (uint64_t)lo->len * 1000003u + (uint64_t)(sum * 2.0);

    obj_clock t2 = obj_now();
    om_decref(l);
    obj_clock t3 = obj_now();
    if (p->variant == OBJ_V_NOGC && was_enabled)
        om_gc_enable();
    obj_add(t, 0, t0, t1);
    t->ops[0] = n;
    obj_add(t, 1, t2, t3);
    t->ops[1] = n;
    return 0;
}

/* ---------------------------------------------------------- dict */

static int w_dict(const obj_params *p, obj_timing *t)
{
    const size_t batch = p->batch;
    const size_t reps = p->reps;
    om_object **keys = (om_object **)p->slots;
    om_object **vals = (om_object **)p->slots2;
    char buf[32];
    for (size_t i = 0; i < batch; i++) {
        int len = snprintf(buf, sizeof buf, "key:%zu", i);
        keys[i] = ex_str_new(buf, (size_t)len);
        vals[i] = ex_int_new((int64_t)(1000 + i));
        if (!keys[i] || !vals[i])
            FAIL("ex_str_new/ex_int_new");
        (void)ex_str_hash(keys[i]); /* cached, as CPython caches str hashes */
    }
    uint64_t hits = 0;
    for (size_t r = 0; r < reps; r++) {
        obj_clock t0 = obj_now();
        om_object *d = ex_dict_new();
        if (!d)
            FAIL("ex_dict_new");
        for (size_t i = 0; i < batch; i++)
            if (ex_dict_set(d, keys[i], vals[i]) != 0)
                FAIL("ex_dict_set");
        obj_clock t1 = obj_now();
        for (size_t i = 0; i < batch; i++)
            hits += ex_dict_get(d, keys[i]) == vals[i];
        obj_clock t2 = obj_now();
        obj_add(t, 0, t0, t1);
        obj_add(t, 1, t1, t2);
        if (ex_dict_len(d) != batch)
            FAIL("ex_dict_len");
        om_decref(d);
    }
    for (size_t i = 0; i < batch; i++) {
        om_decref(keys[i]);
        om_decref(vals[i]);
    }
    t->ops[0] = t->ops[1] = batch * reps;
    t->chk = hits;
    return 0;
}

const obj_side obj_side_objmem = {
    "objmem",
    {
        [OBJ_W_FLOAT] = w_float,
        [OBJ_W_FLOAT_BATCH] = w_float_batch,
        [OBJ_W_INT] = w_int,
        [OBJ_W_INT_BATCH] = w_int_batch,
        [OBJ_W_INCREF] = w_incref,
        [OBJ_W_LIST] = w_list,
        [OBJ_W_DICT] = w_dict,
    },
};
