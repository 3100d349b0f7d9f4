/*
 * tuple.c — a variable-size container: a fixed number of references
 * stored inside the object (om_new_var), as CPython's tuple.
 *
 *     [gc header] ex_tuple: [ om_varobject ob | items[0] ... items[n-1] ]
 *                             ob.nitems = n
 *
 * OM_TYPE_GC gives it the collector's header.  Its references are its
 * items, and it says so (OM_TYPE_REF_ITEMS): objmem then visits them for
 * the collector and om_traverse, and drops them when the tuple dies (each
 * slot NULL before its reference goes, as om_clear_ref), so the type
 * needs no traverse or clear of its own, and the collector walks the
 * items inline.  Nothing to release: the items are part of the object's
 * memory.  OM_TYPE_GC_IMMUTABLE: a tuple that holds only atomic objects
 * is untracked by the next collection, as CPython's.
 *
 * A new tuple's items are NULL; fill each once with ex_tuple_set_item,
 * which steals the reference (PyTuple_SET_ITEM).  After that a tuple is
 * immutable.  No free list: objmem keeps those for fixed-size types only
 * (CPython keeps one per small length).
 */
#include <assert.h>

#include "examples.h"

om_type ex_tuple_type = {
    OM_TYPE_INIT,
    .name = "tuple",
    .size = offsetof(ex_tuple, items),
    .item_size = sizeof(om_object *),
    .flags = OM_TYPE_GC | OM_TYPE_GC_IMMUTABLE | OM_TYPE_REF_ITEMS,
};

om_object *ex_tuple_new(size_t n) {
    return om_new_var(&ex_tuple_type, n); /* NULL + ENOMEM, also on overflow */
}

void ex_tuple_set_item(om_object *t, size_t i, om_object *item) {
    assert(t->type == &ex_tuple_type && i < ex_tuple_len(t));
    if (i >= ex_tuple_len(t)) {
        om_xdecref(item); /* stolen even on misuse, as PyTuple_SetItem */
        return;
    }
    om_object **slot = &((ex_tuple *)t)->items[i];
    om_object *old = *slot;
    *slot = item;
    om_xdecref(old); /* NULL on a new tuple; dropped last, as Py_SETREF */
}

om_object *ex_tuple_get_item(const om_object *t, size_t i) {
    assert(t->type == &ex_tuple_type);
    return i < ex_tuple_len(t) ? ((const ex_tuple *)t)->items[i] : NULL;
}

size_t ex_tuple_len(const om_object *t) {
    assert(t->type == &ex_tuple_type);
    return (size_t)((const ex_tuple *)t)->ob.nitems;
}
