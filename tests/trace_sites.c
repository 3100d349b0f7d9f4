/*
 * trace_sites.c — allocation sites at known lines for test_trace.c, in a
 * unit of their own built with -g -O0 -fno-omit-frame-pointer so that each
 * call stays on its line and in its function.  Each site's line is
 * exported next to it (__LINE__ on the same line as the call).
 */
#include "trace_sites.h"

void *ts_small(size_t n) { return om_malloc(n); } const int ts_line_small = __LINE__;
void *ts_calloc(size_t n) { return om_calloc(1, n); } const int ts_line_calloc = __LINE__;
void *ts_aligned(size_t n) { return om_aligned_alloc(4096, n); } const int ts_line_aligned = __LINE__;
void *ts_realloc(void *p, size_t n) { return om_realloc(p, n); } const int ts_line_realloc = __LINE__;
void *ts_grow(size_t n) { return om_malloc(n); } const int ts_line_grow = __LINE__;
om_object *ts_object(om_type *t) { return om_new(t); } const int ts_line_object = __LINE__;
om_object *ts_object_var(om_type *t, size_t n) { return om_new_var(t, n); } const int ts_line_object_var = __LINE__;
