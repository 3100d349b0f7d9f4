/* trace_sites.h — the allocation sites of trace_sites.c and their lines. */
#ifndef OM_TEST_TRACE_SITES_H
#define OM_TEST_TRACE_SITES_H
#include "objmem.h"

void *ts_small(size_t n);
void *ts_calloc(size_t n);
void *ts_aligned(size_t n);
void *ts_realloc(void *p, size_t n);
void *ts_grow(size_t n);
om_object *ts_object(om_type *t);
om_object *ts_object_var(om_type *t, size_t n);
extern const int ts_line_small, ts_line_calloc, ts_line_aligned, ts_line_realloc, ts_line_grow;
extern const int ts_line_object, ts_line_object_var;
/* trace_sites_o2.c, built with -O2 -g: om_new inlined into it. */
om_object *ts_object_o2(om_type *t);
extern const int ts_line_object_o2;
#endif
