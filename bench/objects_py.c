/*
 * objects_py.c — bench_objects workloads through CPython's C API
 * (libpython3.11, interpreter initialised once, GIL held by this thread).
 *
 * Mirrors objects_om.c line for line; see objects.h.  The interpreter is
 * pre-initialised with PYMEM_ALLOCATOR_PYMALLOC, as bench_alloc's
 * `pymalloc` allocator is, so that a PYTHONMALLOC variable in the
 * environment cannot swap CPython's object allocator for plain malloc.
 * The cyclic GC is left as CPython runs it (enabled, default thresholds)
 * except in the OBJ_V_NOGC variant of the list workload.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* must come first */

#include "objects.h"


#include <stdio.h>

#define FAIL(what)                                                             \
    do {                                                                       \
        fprintf(stderr, "bench_objects: CPython: %s failed\n", what);         \
        if (PyErr_Occurred())                                                  \
            PyErr_Print();                                                     \
        return -1;                                                             \
    } while (0)

int obj_cpython_init(void)
{
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_PYMALLOC;
    PyStatus st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "bench_objects: Py_PreInitialize failed: %s\n",
                st.err_msg ? st.err_msg : "?");
        return -1;
    }
    Py_InitializeEx(0);
    if (!Py_IsInitialized()) {
        fprintf(stderr, "bench_objects: Py_InitializeEx failed\n");
        return -1;
    }
    if (!PyGC_IsEnabled()) {
        fprintf(stderr, "bench_objects: CPython's gc is disabled after start-up\n");
        return -1;
    }
    return 0;
}

const char *obj_cpython_version(void) { return Py_GetVersion(); }

void obj_cpython_gc_thresholds(long out[3])
{
    out[0] = out[1] = out[2] = -1;
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *th = gc ? PyObject_CallMethod(gc, "get_threshold", NULL) : NULL;
    if (th && PyTuple_Check(th) && PyTuple_GET_SIZE(th) == 3)
        for (int i = 0; i < 3; i++)
            out[i] = PyLong_AsLong(PyTuple_GET_ITEM(th, i));
    Py_XDECREF(th);
    Py_XDECREF(gc);
    PyErr_Clear();
}

/* ---------------------------------------------------------- float */

static int w_float(const obj_params *p, obj_timing *t)
{
    const size_t n = p->n;
    double sum = 0;
    obj_clock t0 = obj_now();
    for (size_t i = 0; i < n; i++) {
        PyObject *f = PyFloat_FromDouble((double)i);
        if (!f)
            FAIL("PyFloat_FromDouble");
        sum += PyFloat_AS_DOUBLE(f);
        Py_DECREF(f);
    }
    obj_add(t, 0, t0, obj_now());
    t->ops[0] = n;
    t->chk = (uint64_t)sum;
    return 0;
}

/* OBJ_V_NOFL has no CPython counterpart (the float free list is a
 * compile-time constant); the variant runs the same code. */
static int w_float_batch(const obj_params *p, obj_timing *t)
{
    const size_t batch = p->batch;
    const size_t reps = p->reps;
    PyObject **a = (PyObject **)p->slots;
    double sum = 0;
    obj_clock t0 = obj_now();
    for (size_t r = 0; r < reps; r++) {
        for (size_t i = 0; i < batch; i++) {
            a[i] = PyFloat_FromDouble((double)i);
            if (!a[i])
                FAIL("PyFloat_FromDouble");
        }
        for (size_t i = 0; i < batch; i++) {
            sum += PyFloat_AS_DOUBLE(a[i]);
            Py_DECREF(a[i]);
        }
    }
    obj_add(t, 0, t0, obj_now());
    t->ops[0] = batch * reps;
    t->chk = (uint64_t)sum;
    return 0;
}

/* ---------------------------------------------------------- int */

/* 1000 + i is outside the small-int cache (-5..256) and below 2**30, so
 * every value is a fresh one-digit int whose digit is the value. */
static int w_int(const obj_params *p, obj_timing *t)
{
    const size_t n = p->n;
    uint64_t sum = 0;
    obj_clock t0 = obj_now();
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLongLong((long long)(1000 + i));
        if (!v)
            FAIL("PyLong_FromLongLong");
        sum += ((PyLongObject *)v)->ob_digit[0];
        Py_DECREF(v);
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
    PyObject **a = (PyObject **)p->slots;
    uint64_t sum = 0;
    obj_clock t0 = obj_now();
    for (size_t r = 0; r < reps; r++) {
        for (size_t i = 0; i < batch; i++) {
            a[i] = PyLong_FromLongLong((long long)(1000 + i));
            if (!a[i])
                FAIL("PyLong_FromLongLong");
        }
        for (size_t i = 0; i < batch; i++) {
            sum += ((PyLongObject *)a[i])->ob_digit[0];
            Py_DECREF(a[i]);
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
    PyObject *o = PyFloat_FromDouble(1.5);
    if (!o)
        FAIL("PyFloat_FromDouble");
    PyObject *q = o;
    obj_clock t0 = obj_now();
    for (size_t i = 0; i < n; i++) {
        OBJ_OPAQUE(q);
        Py_INCREF(q);
        OBJ_OPAQUE(q);
        Py_DECREF(q);
    }
    obj_add(t, 0, t0, obj_now());
    t->ops[0] = n;
    t->chk = (uint64_t)Py_REFCNT(o) * 1000 + (uint64_t)PyFloat_AS_DOUBLE(q);
    Py_DECREF(o);
    return 0;
}

/* ---------------------------------------------------------- list of tuples */

static int w_list(const obj_params *p, obj_timing *t)
{
    const size_t n = p->n;
    /* Same collector state for every run: collect everything first
     * (untimed).  OBJ_V_NOGC then switches the collector off for the
     * build and the teardown. */
    PyGC_Collect();
    int was_enabled = 1;
    if (p->variant == OBJ_V_NOGC)
        was_enabled = PyGC_Disable();

    obj_clock t0 = obj_now();
    PyObject *l = PyList_New(0);
    if (!l)
        FAIL("PyList_New");
    for (size_t i = 0; i < n; i++) {
        PyObject *tup = PyTuple_New(2);
        PyObject *a = PyFloat_FromDouble((double)i);
        PyObject *b = PyFloat_FromDouble((double)i + 0.5);
        if (!tup || !a || !b)
            FAIL("PyTuple_New/PyFloat_FromDouble");
        PyTuple_SET_ITEM(tup, 0, a);
        PyTuple_SET_ITEM(tup, 1, b);
        if (PyList_Append(l, tup) != 0)
            FAIL("PyList_Append");
        Py_DECREF(tup);
        /* (no safe-point call: CPython's collector runs inside
         * PyTuple_New when one is due) */
    }
    obj_clock t1 = obj_now();

    /* checksum (untimed): element count and the sum of all floats */
    Py_ssize_t len = PyList_GET_SIZE(l);
    double sum = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *tup = PyList_GET_ITEM(l, i);
        sum += PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(tup, 0)) +
               PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(tup, 1));
    }
    t->chk = (uint64_t)len * 1000003u + (uint64_t)(sum * 2.0);

    obj_clock t2 = obj_now();
    Py_DECREF(l);
    obj_clock t3 = obj_now();
    if (p->variant == OBJ_V_NOGC && was_enabled)
        PyGC_Enable();
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
    PyObject **keys = (PyObject **)p->slots;
    PyObject **vals = (PyObject **)p->slots2;
    char buf[32];
    for (size_t i = 0; i < batch; i++) {
        int len = snprintf(buf, sizeof buf, "key:%zu", i);
        keys[i] = PyUnicode_FromStringAndSize(buf, (Py_ssize_t)len);
        vals[i] = PyLong_FromLongLong((long long)(1000 + i));
        if (!keys[i] || !vals[i])
            FAIL("PyUnicode_FromStringAndSize/PyLong_FromLongLong");
        if (PyObject_Hash(keys[i]) == -1) /* cached in the str */
            FAIL("PyObject_Hash");
    }
    uint64_t hits = 0;
    for (size_t r = 0; r < reps; r++) {
        obj_clock t0 = obj_now();
        PyObject *d = PyDict_New();
        if (!d)
            FAIL("PyDict_New");
        for (size_t i = 0; i < batch; i++)
            if (PyDict_SetItem(d, keys[i], vals[i]) != 0)
                FAIL("PyDict_SetItem");
        obj_clock t1 = obj_now();
        for (size_t i = 0; i < batch; i++)
            hits += PyDict_GetItemWithError(d, keys[i]) == vals[i];
        obj_clock t2 = obj_now();
        obj_add(t, 0, t0, t1);
        obj_add(t, 1, t1, t2);
        if ((size_t)PyDict_GET_SIZE(d) != batch)
            FAIL("PyDict_GET_SIZE");
        Py_DECREF(d);
    }
    for (size_t i = 0; i < batch; i++) {
        Py_DECREF(keys[i]);
        Py_DECREF(vals[i]);
    }
    t->ops[0] = t->ops[1] = batch * reps;
    t->chk = hits;
    return 0;
}

const obj_side obj_side_cpython = {
    "CPython",
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
