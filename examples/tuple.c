/*
 * tuple.c — a variable-size container: a fixed number of references
 * stored inside the object (om_new_var), as CPython's tuple.
 *
 *     [gc header] ex_tuple: [ om_varobject ob | items[0] ... items[n-1] ]
 *                             ob.nitems = n
 *
 * OM_TYPE_GC gives it the collector's header and makes traverse and clear
 * required: traverse reports each item so cycles through tuples can be
 * found; clear drops them (om_clear_ref: the slot is NULL before the
 * reference goes, so destruction code never sees a dangling item).
 * Nothing to release: the items are part of the object's memory.
 *
 * A new tuple's items are NULL; fill each once with ex_tuple_set_item,
 * which steals the reference (PyTuple_SET_ITEM).  After that a tuple is
 * immutable.  No free list: objmem keeps those for fixed-size types only
 * (CPython keeps one per small length).
 */
#include <assert.h>

#include "examples.h"

static int tuple_traverse(om_object *self, om_visit_fn visit, void *arg) {
    ex_tuple *t = (ex_tuple *)self;
    for (intptr_t i = 0; i < t->ob.nitems; i++) {
        if (t->items[i]) {
            int r = visit(t->items[i], arg);
            if (r)
                return r;
        }
    }
    return 0;
}

static void tuple_clear(om_object *self) {
    ex_tuple *t = (ex_tuple *)self;
    for (intptr_t i = 0; i < t->ob.nitems; i++)
        om_clear_ref(&t->items[i]);
}

/* The collector's fast path: the items are one array. */
static om_refs tuple_refs(om_object *self) {
    ex_tuple *t = (ex_tuple *)self;
    return (om_refs){t->items, (size_t)t->ob.nitems};
}

om_type ex_tuple_type = {
    .name = "tuple",
    .size = offsetof(ex_tuple, items),
    .item_size = sizeof(om_object *),
    .flags = OM_TYPE_GC | OM_TYPE_GC_IMMUTABLE,
    .traverse = tuple_traverse,
    .clear = tuple_clear,
    .refs = tuple_refs,
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
