/*
 * int.c — the smallest useful type: a fixed-size immutable object with no
 * references, recycled through a free list of 100 (CPython's float has
 * one; its small ints are preallocated instead).
 *
 *     ex_int: [ om_object ob | int64_t value ]     24 bytes, no GC header
 *
 * Nothing to clear or release: the count reaching zero parks the instance
 * on ex_int_type's free list (or frees it above the limit), and om_new
 * hands it out again zeroed.  Copy this file for any leaf value type.
 */
#include <assert.h>

#include "examples.h"

om_type ex_int_type = {
    OM_TYPE_INIT,
    .name = "int",
    .size = sizeof(ex_int),
    .freelist_limit = 100,
};

om_object *ex_int_new(int64_t v) {
    ex_int *o = (ex_int *)om_new(&ex_int_type);
    if (!o)
        return NULL; /* errno from om_new */
    o->value = v;
    return OM_OBJ(o);
}

int64_t ex_int_value(const om_object *o) {
    assert(o->type == &ex_int_type);
    return ((const ex_int *)o)->value;
}
