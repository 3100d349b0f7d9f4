/*
 * libs.c — libunwind and libdw, loaded when tracing first needs them
 * (dlopen), not linked: a process on the drop-in that never traces does
 * not map them (with libelf, libz, liblzma and libbz2 behind libdw they
 * are about 0.6 MB of RSS in every process that maps them).
 *
 * omi_trace_libs_load() loads both once (pthread_once) by the SONAMEs
 * CMake read from the libraries it found (OM_TRACE_UNWIND_SONAME,
 * OM_TRACE_DW_SONAME) and fills omi_tl's pointers; it returns 1 when
 * stacks can be captured.  libdw's part is all or nothing: one missing
 * function leaves every pointer NULL, and reports name frames by module
 * and offset.  Called from om_trace_start and the reports, never from an
 * allocation path (dlopen allocates).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "trace/trace.h"

omi_trace_libs omi_tl;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
#ifdef OM_TRACE_UNWIND
    void *u = dlopen(OM_TRACE_UNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (u)
        *(void **)&omi_tl.unw_backtrace = dlsym(u, "unw_backtrace");
#endif
#ifdef OM_TRACE_LIBDW
    void *d = dlopen(OM_TRACE_DW_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (d) {
        int all = 1;
#define X(f) all &= (*(void **)&omi_tl.f = dlsym(d, #f)) != NULL;
        OMI_TRACE_DW_FUNCS(X)
#undef X
        if (!all) {
#define X(f) omi_tl.f = NULL;
            OMI_TRACE_DW_FUNCS(X)
#undef X
        }
    }
#endif
}

int omi_trace_libs_load(void) {
    pthread_once(&once, load);
#ifdef OM_TRACE_UNWIND
    return omi_tl.unw_backtrace != NULL;
#else
    return 0;
#endif
}
