/*
 * float.c — a fixed-size immutable object recycled through a free list of
 * 100, as CPython's float (Objects/floatobject.c keeps up to 100 freed
 * floats for reuse).
 *
 *     ex_float: [ om_object ob | double value ]    24 bytes, no GC header
 *
 * The free list is objmem's, configured by .freelist_limit: a float whose
 * count reaches zero is parked, and the next ex_float_new takes it back
 * without touching the allocator (om_type_get_stats counts the hits).
 */
#include <assert.h>

#include "examples.h"

om_type ex_float_type = {
    OM_TYPE_INIT,
    .name = "float",
    .size = sizeof(ex_float),
    .freelist_limit = 100,
};

om_object *ex_float_new(double v) {
    ex_float *o = (ex_float *)om_new(&ex_float_type);
    if (!o)
        return NULL; /* errno from om_new */
    o->value = v;
    return OM_OBJ(o);
}

double ex_float_value(const om_object *o) {
    assert(o->type == &ex_float_type);
    return ((const ex_float *)o)->value;
}
