/*
 * alloc_pymalloc.c — the `pymalloc` allocator of bench_alloc: CPython's own
 * object allocator (PyObject_Malloc & co.) from libpython3.11.
 *
 * The interpreter is pre-initialised with PYMEM_ALLOCATOR_PYMALLOC so that
 * a PYTHONMALLOC variable in the environment cannot silently swap pymalloc
 * for plain malloc, then started with Py_InitializeEx(0).  Requests above
 * 512 bytes go to the C malloc, exactly as they do inside CPython.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* must come first */

#include "bench.h"

#include <stdio.h>

int bench_pymalloc_init(bench_allocator *out)
{
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_PYMALLOC;
    PyStatus st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "bench_alloc: Py_PreInitialize failed: %s\n",
                st.err_msg ? st.err_msg : "?");
        return -1;
    }
    Py_InitializeEx(0);
    if (!Py_IsInitialized()) {
        fprintf(stderr, "bench_alloc: Py_InitializeEx failed\n");
        return -1;
    }
    out->name = "pymalloc";
    out->malloc_fn = PyObject_Malloc;
    out->calloc_fn = PyObject_Calloc;
    out->realloc_fn = PyObject_Realloc;
    out->free_fn = PyObject_Free;
    return 0;
}
