/*
 * list.c — a growable container whose items live in a separate buffer,
 * as CPython's list:
 *
 *     [gc header] ex_list: [ ob | len | cap | items | weaklist ]
 *                                              |
 *                                              v  om_malloc'd, cap slots
 *                                [ item 0 ... item len-1 | spare ... ]
 *
 * Invariants: len <= cap; items[0, len) are references, never NULL; items
 * is NULL when cap is 0.  Growth is CPython's list_resize: room for n
 * items means n + n/8 + 6 slots rounded down to a multiple of 4
 * (0, 4, 8, 16, 24, 32, 40, 52, 64, 76, ...), so appends are amortised
 * O(1); the buffer shrinks the same way once under half full.
 *
 * The three hooks show the split of work at destruction: traverse reports
 * items[0, len) to the collector; clear drops them from the end, shrinking
 * len before each om_clear_ref so the list is valid at every step (a
 * decref may run code that looks at it) and keeps the buffer; release
 * frees the buffer, which is not an object.  A free list of 80 recycles
 * the list objects (CPython's), not their buffers.
 */
#include <assert.h>
#include <errno.h>

#include "examples.h"

/* The most items list_resize accepts: its cap (under n * 9/8 + 6) times
 * the slot size then stays well below PTRDIFF_MAX. */
#define LIST_MAX_ITEMS (PTRDIFF_MAX / sizeof(om_object *) / 2)

static int list_traverse(om_object *self, om_visit_fn visit, void *arg) {
    ex_list *l = (ex_list *)self;
    for (size_t i = 0; i < l->len; i++) {
        int r = visit(l->items[i], arg);
        if (r)
            return r;
    }
    return 0;
}

static void list_clear(om_object *self) {
    ex_list *l = (ex_list *)self;
    while (l->len > 0) {
        l->len--;
        om_clear_ref(&l->items[l->len]);
    }
}

static void list_release(om_object *self) {
    ex_list *l = (ex_list *)self;
    om_free(l->items);
    l->items = NULL;
    l->cap = 0;
}

/* The collector's fast path: items[0, len) is one array. */
static om_refs list_refs(om_object *self) {
    ex_list *l = (ex_list *)self;
    return (om_refs){l->items, l->len};
}

om_type ex_list_type = {
    OM_TYPE_INIT,
    .name = "list",
    .size = sizeof(ex_list),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(ex_list, weaklist),
    .traverse = list_traverse,
    .refs = list_refs,
    .clear = list_clear,
    .release = list_release,
    .freelist_limit = 80,
};

/* Make the buffer fit n items (CPython's list_resize; only the capacity
 * changes, len is the caller's).  0 or ENOMEM. */
static int list_resize(ex_list *l, size_t n) {
    if (n <= l->cap && n >= l->cap / 2)
        return 0;
    if (n > LIST_MAX_ITEMS)
        return ENOMEM;
    size_t cap = n ? (n + (n >> 3) + 6) & ~(size_t)3 : 0;
    if (cap == 0) {
        om_free(l->items);
        l->items = NULL;
    } else {
        om_object **items = om_realloc(l->items, cap * sizeof *items);
        if (!items)
            return n <= l->cap ? 0 : ENOMEM; /* a failed shrink keeps the bigger buffer */
        l->items = items;
    }
    l->cap = cap;
    return 0;
}

om_object *ex_list_new(size_t reserve) {
    if (reserve > LIST_MAX_ITEMS) {
        errno = ENOMEM;
        return NULL;
    }
    ex_list *l = (ex_list *)om_new(&ex_list_type);
    if (!l)
        return NULL;
    if (reserve) {
        l->items = om_malloc(reserve * sizeof *l->items);
        if (!l->items) {
            om_decref(l); /* a valid empty list: parked like any other */
            errno = ENOMEM;
            return NULL;
        }
        l->cap = reserve;
    }
    return OM_OBJ(l);
}

int ex_list_append(om_object *self, om_object *item) {
    assert(self->type == &ex_list_type && item);
    ex_list *l = (ex_list *)self;
    int err = list_resize(l, l->len + 1);
    if (err)
        return err;
    l->items[l->len++] = om_newref(item);
    return 0;
}

int ex_list_set_item(om_object *self, size_t i, om_object *item) {
    assert(self->type == &ex_list_type && item);
    ex_list *l = (ex_list *)self;
    if (i >= l->len) {
        om_xdecref(item); /* stolen even on failure, as PyList_SetItem */
        return EINVAL;
    }
    om_object *old = l->items[i];
    l->items[i] = item;
    om_decref(old); /* after the store, as Py_SETREF: old's destruction sees the new item */
    return 0;
}

om_object *ex_list_get_item(const om_object *self, size_t i) {
    assert(self->type == &ex_list_type);
    const ex_list *l = (const ex_list *)self;
    return i < l->len ? l->items[i] : NULL;
}

om_object *ex_list_pop(om_object *self) {
    assert(self->type == &ex_list_type);
    ex_list *l = (ex_list *)self;
    if (l->len == 0)
        return NULL;
    om_object *item = l->items[--l->len]; /* the list's reference becomes the caller's */
    (void)list_resize(l, l->len);        /* shrinking cannot fail */
    return item;
}

size_t ex_list_len(const om_object *self) {
    assert(self->type == &ex_list_type);
    return ((const ex_list *)self)->len;
}
