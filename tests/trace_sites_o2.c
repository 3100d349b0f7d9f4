/*
 * trace_sites_o2.c — an object allocation site built with -O2 -g, where
 * om_new's inline fast path (objmem.h) is inlined into the caller: the
 * line table gives objmem.h's line for the call, and the tracer must name
 * this file's line (the inlined scope's call site) instead.
 */
#include <stdlib.h>

#include "trace_sites.h"

const int ts_line_object_o2 = __LINE__ + 2; /* om_new's line, below */
om_object *ts_object_o2(om_type *t) {
    om_object *o = om_new(t);
    if (!o)
        abort(); /* and no tail call: the call keeps its return address here */
    return o;
}
