/*
 * gc_py.c — bench_gc's CPython side: the graphs as instances of a Python
 * class, collected with gc.collect() (libpython3.11 embedded in the same
 * process).
 *
 * A node is an instance of
 *
 *     class Node2: __slots__ = ('a', 'b')
 *     class Node3: __slots__ = ('a', 'b', 'c')      # trees
 *
 * the CPython object with exactly two (three) references and nothing
 * else: no __dict__, no __weakref__, 32 (40) bytes plus the 16-byte
 * PyGC_Head, the same layout as objmem's node (a 2-element list would
 * carry a separate item array and a length).  Instances come from the
 * type's tp_alloc (PyType_GenericAlloc: what object.__new__ calls; the
 * instance is tracked by the collector) and the slots are written through
 * the member descriptors' offsets, so building a million nodes costs no
 * interpreted bytecode.  Instances die through the class's normal
 * subtype_dealloc.
 *
 * gcb_py_init (in the parent process) starts the interpreter with
 * pymalloc, defines the classes, then gc.disable(), gc.collect() and
 * gc.freeze(): the interpreter's own few tens of thousands of objects
 * move to the permanent generation, so a timed gc.collect() examines the
 * benchmark's graph only, as om_gc_collect does on the objmem side.  The
 * collection is timed around the call of the gc module's collect
 * function, gc.collect(2) or gc.collect(0).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* must come first */

#include "gc_bench.h"

#include <stdio.h>
#include <structmember.h>
#include <sys/mman.h>

static PyObject *gc_collect;           /* gc.collect */
static PyTypeObject *node_type[2];     /* Node2, Node3 */
static Py_ssize_t slot_off[2][GCB_MAX_SLOTS];

#define FAIL(what)                                                             \
    do {                                                                       \
        fprintf(stderr, "bench_gc: CPython: %s failed\n", what);              \
        if (PyErr_Occurred())                                                  \
            PyErr_Print();                                                     \
        return -1;                                                             \
    } while (0)

static const char setup_code[] =
    "import gc\n"
    "class Node2:\n"
    "    __slots__ = ('a', 'b')\n"
    "class Node3:\n"
    "    __slots__ = ('a', 'b', 'c')\n"
    "gc.disable()\n"
    "gc.collect()\n"
    "gc.freeze()\n";

int gcb_py_init(void)
{
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_PYMALLOC;
    PyStatus st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "bench_gc: Py_PreInitialize failed: %s\n", st.err_msg ? st.err_msg : "?");
        return -1;
    }
    Py_InitializeEx(0);
    if (!Py_IsInitialized())
        FAIL("Py_InitializeEx");
    PyObject *mainmod = PyImport_AddModule("__main__"); /* borrowed */
    PyObject *globals = mainmod ? PyModule_GetDict(mainmod) : NULL;
    if (!globals)
        FAIL("__main__");
    PyObject *r = PyRun_String(setup_code, Py_file_input, globals, globals);
    if (!r)
        FAIL("the setup code");
    Py_DECREF(r);
    PyObject *gcmod = PyImport_ImportModule("gc");
    if (!gcmod || !(gc_collect = PyObject_GetAttrString(gcmod, "collect")))
        FAIL("import gc");
    Py_DECREF(gcmod);
    static const char *const names[2] = {"Node2", "Node3"};
    static const char *const slots[GCB_MAX_SLOTS] = {"a", "b", "c"};
    for (int t = 0; t < 2; t++) {
        PyObject *cls = PyDict_GetItemString(globals, names[t]); /* borrowed */
        if (!cls || !PyType_Check(cls))
            FAIL("finding the node class");
        node_type[t] = (PyTypeObject *)cls;
        Py_INCREF(cls);
        int nslots = t == 0 ? 2 : 3;
        if (node_type[t]->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + (size_t)nslots * sizeof(PyObject *)) ||
            node_type[t]->tp_dictoffset != 0 || node_type[t]->tp_weaklistoffset != 0 ||
            !PyType_IS_GC(node_type[t])) {
            fprintf(stderr, "bench_gc: CPython: %s has an unexpected layout\n", names[t]);
            return -1;
        }
        for (int k = 0; k < nslots; k++) {
            PyObject *d = PyObject_GetAttrString(cls, slots[k]);
            if (!d || !PyObject_TypeCheck(d, &PyMemberDescr_Type))
                FAIL("finding a slot descriptor");
            PyMemberDef *md = ((PyMemberDescrObject *)d)->d_member;
            if (md->type != T_OBJECT_EX || md->offset < (Py_ssize_t)sizeof(PyObject) ||
                md->offset + (Py_ssize_t)sizeof(PyObject *) > node_type[t]->tp_basicsize) {
                fprintf(stderr, "bench_gc: CPython: slot %s has an unexpected member\n", slots[k]);
                return -1;
            }
            slot_off[t][k] = md->offset;
            Py_DECREF(d);
        }
    }
    if (PyGC_IsEnabled())
        FAIL("gc.disable()");
    return 0;
}

const char *gcb_py_version(void) { return Py_GetVersion(); }

void gcb_py_before_fork(void) { PyOS_BeforeFork(); }

void gcb_py_after_fork(int child)
{
    if (child)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
}

/* gc.collect(gen), timed; the result's count in *found.  main_one: the
 * measured collection (see gcb_begin). */
static int timed_collect(int gen, int main_one, gcb_meas *m, long *found)
{
    PyObject *arg = PyLong_FromLong(gen);
    if (!arg)
        FAIL("PyLong_FromLong");
    gcb_clock c;
    gcb_begin(&c, main_one);
    PyObject *r = PyObject_CallOneArg(gc_collect, arg);
    gcb_end(&c, m);
    Py_DECREF(arg);
    if (!r)
        FAIL("gc.collect");
    *found = PyLong_AsLong(r);
    Py_DECREF(r);
    return 0;
}

static PyObject **scratch(size_t n)
{
    void *p = mmap(NULL, (n ? n : 1) * sizeof(PyObject *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void scratch_free(PyObject **p, size_t n) { munmap(p, (n ? n : 1) * sizeof(PyObject *)); }

static inline PyObject **slot(PyObject *o, int t, unsigned k)
{
    return (PyObject **)((char *)o + slot_off[t][k]);
}

static int build(const gcb_graph *g, PyObject **v)
{
    int t = g->nslots == 3;
    PyTypeObject *tp = node_type[t];
    for (size_t i = 0; i < g->n; i++)
        if (!(v[i] = tp->tp_alloc(tp, 0)))
            FAIL("tp_alloc");
    for (size_t i = 0; i < g->n; i++) {
        for (unsigned k = 0; k < g->nslots; k++) {
            uint32_t e = g->edges[i * g->nslots + k];
            if (e != GCB_NONE)
                *slot(v[i], t, k) = Py_NewRef(v[e]);
        }
    }
    return 0;
}

static uint64_t block_bytes(int t)
{
    return ((uint64_t)node_type[t]->tp_basicsize + 16 /* PyGC_Head */ + 15) & ~(uint64_t)15;
}

int gcb_py_full(const gcb_graph *g, int hold, int garbage, gcb_meas *m)
{
    long found;
    if (timed_collect(2, 0, m, &found) != 0)
        return -1;
    m->base_cpu_ns = m->cpu_ns;
    m->node_bytes = block_bytes(g->nslots == 3);

    uint64_t t0 = gcb_wall_ns();
    PyObject *keep; /* the external reference */
    if (hold == GCB_HOLD_LIST) {
        /* [Node() for i in range(n)], preallocated: the list is created
         * first, its item array holds the build references. */
        PyObject *list = PyList_New((Py_ssize_t)g->n);
        if (!list)
            FAIL("PyList_New");
        if (build(g, ((PyListObject *)list)->ob_item) != 0)
            return -1;
        keep = list;
    } else {
        PyObject **v = scratch(g->n);
        if (!v)
            return -1;
        if (build(g, v) != 0)
            return -1;
        keep = Py_NewRef(v[0]);
        for (size_t i = 0; i < g->n; i++)
            Py_DECREF(v[i]);
        scratch_free(v, g->n);
    }
    if (garbage)
        Py_DECREF(keep);
    m->build_ns = gcb_wall_ns() - t0;

    if (timed_collect(2, 1, m, &found) != 0)
        return -1;
    m->found = found;
    if (!garbage)
        Py_DECREF(keep);
    return 0;
}

int gcb_py_young(const gcb_young *y, gcb_meas *m)
{
    const gcb_graph *old = y->old;
    long found;
    if (timed_collect(0, 0, m, &found) != 0)
        return -1;
    m->base_cpu_ns = m->cpu_ns;
    m->node_bytes = block_bytes(0);

    uint64_t t0 = gcb_wall_ns();
    PyObject **v = scratch(old->n);
    if (!v)
        return -1;
    if (build(old, v) != 0)
        return -1;
    PyObject *root = old->n ? Py_NewRef(v[0]) : NULL;
    for (size_t i = 0; i < old->n; i++)
        Py_DECREF(v[i]);
    /* Promote: after gc.collect() everything left is in generation 2. */
    gcb_meas scratch_m = {0};
    if (timed_collect(2, 0, &scratch_m, &found) != 0)
        return -1;
    if (found != 0) {
        fprintf(stderr, "bench_gc: CPython: the old heap was not all live (%ld)\n", found);
        return -1;
    }
    m->build_ns = gcb_wall_ns() - t0;
    PyTypeObject *tp = node_type[0];
    gcb_meas rep[64];
    int reps = y->reps < 1 ? 1 : y->reps > 64 ? 64 : y->reps;
    m->found = (long)(2 * y->cycles);
    for (int r = 0; r < reps; r++) {
        for (size_t i = 0; i < y->cycles; i++) {
            PyObject *x = tp->tp_alloc(tp, 0), *z = tp->tp_alloc(tp, 0);
            if (!x || !z)
                FAIL("tp_alloc");
            *slot(x, 0, 0) = Py_NewRef(z);
            *slot(z, 0, 0) = Py_NewRef(x);
            if (y->oldrefs) {
                *slot(x, 0, 1) = Py_NewRef(v[y->refs[2 * i]]);
                *slot(z, 0, 1) = Py_NewRef(v[y->refs[2 * i + 1]]);
            }
            Py_DECREF(x);
            Py_DECREF(z);
        }
        if (timed_collect(0, 1, &rep[r], &found) != 0)
            return -1;
        if (found != (long)(2 * y->cycles))
            m->found = found; /* reported as a mismatch */
    }
    gcb_keep_median(m, rep, reps);
    scratch_free(v, old->n);
    Py_XDECREF(root);
    return 0;
}
