/*
 * examples.h — the example types a language runtime would have, built on
 * objmem's object layer: int and float (immutable, with free lists),
 * str (variable-size), tuple (variable-size container), list and dict
 * (growable containers).  Containers carry OM_TYPE_GC with traverse and
 * clear, so the cycle collector can see through them.
 *
 * Reference conventions are CPython's:
 *   - constructors return a new reference (count 1) or NULL + errno;
 *   - ex_tuple_set_item / ex_list_set_item *steal* the item's reference
 *     (PyTuple_SET_ITEM, PyList_SetItem); ex_list_append and ex_dict_set
 *     take their own (PyList_Append, PyDict_SetItem);
 *   - getters return borrowed references (PyTuple_GET_ITEM, PyDict_GetItem).
 * Call them with the runtime lock held when objects are shared between
 * threads.  Every function is in the file named after its type.
 */
#ifndef OBJMEM_EXAMPLES_H
#define OBJMEM_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "objmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* int.c — a 64-bit integer; free list of 100 (CPython's). */
typedef struct ex_int { om_object ob; int64_t value; } ex_int;
extern om_type ex_int_type;
om_object *ex_int_new(int64_t v);
int64_t ex_int_value(const om_object *o);

/* float.c — a double; free list of 100 (CPython's). */
typedef struct ex_float { om_object ob; double value; } ex_float;
extern om_type ex_float_type;
om_object *ex_float_new(double v);
double ex_float_value(const om_object *o);

/* str.c — immutable bytes, NUL-terminated, hash cached; variable-size
 * (the characters live in the object), weakly referenceable. */
typedef struct ex_str {
    om_varobject ob;            /* ob.nitems: length in bytes */
    uint64_t hash;              /* 0: not computed yet */
    om_weakref *weaklist;
    char data[];                /* nitems + 1 bytes */
} ex_str;
extern om_type ex_str_type;
om_object *ex_str_new(const char *s, size_t len);
om_object *ex_str_from(const char *cstr);
const char *ex_str_data(const om_object *o);
size_t ex_str_len(const om_object *o);
uint64_t ex_str_hash(om_object *o);            /* FNV-1a, cached; never 0 */

/* tuple.c — fixed-length array of references, variable-size container. */
typedef struct ex_tuple {
    om_varobject ob;            /* ob.nitems: length */
    om_object *items[];
} ex_tuple;
extern om_type ex_tuple_type;
om_object *ex_tuple_new(size_t n);               /* items NULL */
void ex_tuple_set_item(om_object *t, size_t i, om_object *item); /* steals; only on a new tuple */
om_object *ex_tuple_get_item(const om_object *t, size_t i);      /* borrowed, NULL if out of range */
size_t ex_tuple_len(const om_object *t);

/* list.c — growable array of references (items in a separate buffer,
 * over-allocated as CPython's list); free list of 80; weakly referenceable. */
typedef struct ex_list {
    om_object ob;
    size_t len, cap;
    om_object **items;
    om_weakref *weaklist;
} ex_list;
extern om_type ex_list_type;
om_object *ex_list_new(size_t reserve);
int ex_list_append(om_object *l, om_object *item);     /* 0 or ENOMEM */
/* Steals item even on failure (as PyList_SetItem); drops the old item
 * after storing the new one.  0 or EINVAL (index out of range). */
int ex_list_set_item(om_object *l, size_t i, om_object *item);
om_object *ex_list_get_item(const om_object *l, size_t i);     /* borrowed, NULL if out of range */
om_object *ex_list_pop(om_object *l);                  /* new reference, NULL if empty */
size_t ex_list_len(const om_object *l);

/* dict.c — hash table with open addressing; keys are ex_str or ex_int
 * (compared by value), values any object; free list of 80; weakly
 * referenceable. */
typedef struct ex_dict_entry { uint64_t hash; om_object *key, *value; } ex_dict_entry;
typedef struct ex_dict {
    om_object ob;
    size_t used, filled, mask;   /* mask + 1 slots; filled counts tombstones too */
    ex_dict_entry *table;        /* NULL (mask 0) until the first insertion */
    om_weakref *weaklist;
} ex_dict;
extern om_type ex_dict_type;
om_object *ex_dict_new(void);
int ex_dict_set(om_object *d, om_object *key, om_object *value); /* 0, ENOMEM, EINVAL (key type) */
om_object *ex_dict_get(const om_object *d, om_object *key);      /* borrowed or NULL */
int ex_dict_del(om_object *d, om_object *key);                  /* 0 or ENOENT */
size_t ex_dict_len(const om_object *d);
/* Iterate: pos starts at 0; returns 0 at the end. Borrowed key/value
 * (either pointer may be NULL).  Replacing values and deleting keys while
 * iterating is fine; inserting a new key may reorder the table. */
int ex_dict_next(const om_object *d, size_t *pos, om_object **key, om_object **value);

#ifdef __cplusplus
}
#endif
#endif /* OBJMEM_EXAMPLES_H */
