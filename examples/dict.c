/*
 * dict.c — a hash table with open addressing and tombstones, as CPython's
 * dict before 3.6 (the compact, ordered layout came later):
 *
 *     [gc header] ex_dict: [ ob | used | filled | mask | table | weaklist ]
 *                                                         |
 *            om_calloc'd, mask + 1 slots (a power of two, at least 8)
 *            [ {hash, key, value} | {0, NULL, NULL} | {hash, TOMBSTONE, NULL} | ... ]
 *                  live                 empty             deleted
 *
 * A deleted slot becomes a tombstone, not empty, so probe chains running
 * through it still reach the keys behind it.  used counts live slots,
 * filled live slots and tombstones.  Lookup follows CPython's probe
 * sequence and stops at the key or at an empty slot; one always exists
 * because an insertion that would take filled above 2/3 of the slots
 * first moves the live entries to a table of at least 3 * used slots,
 * leaving the tombstones behind.  The table is allocated on the first
 * insertion (before it, table is NULL and mask 0).
 *
 * Keys are ex_str or ex_int, equal when of the same type and value: str
 * hashes are the cached FNV-1a of str.c, int values are mixed (splitmix64)
 * so that consecutive ints spread over the table.  Comparing keys runs no
 * code, so a lookup never sees the table change under it (CPython's can:
 * __eq__ may mutate the dict).  References are dropped only after the
 * table is consistent again, because a decref may run any code.
 *
 * traverse visits every live key and value; clear turns the live slots
 * into tombstones, dropping their references, then empties the table;
 * release frees it.  A free list of 80 recycles the dict objects.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "examples.h"

#define DICT_MIN_SIZE 8

/* Marks a deleted slot; never a real object, only its address is used. */
static om_object tombstone;
#define TOMBSTONE (&tombstone)

static int is_live(const ex_dict_entry *e) {
    return e->key != NULL && e->key != TOMBSTONE;
}

/* 0 and *hash set, or EINVAL when key is not a str or an int. */
static int key_hash(om_object *key, uint64_t *hash) {
    if (key->type == &ex_str_type) {
        *hash = ex_str_hash(key);
        return 0;
    }
    if (key->type != &ex_int_type)
        return EINVAL;
    uint64_t x = (uint64_t)ex_int_value(key); /* splitmix64's finalizer */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    *hash = x ^ (x >> 31);
    return 0;
}

static int keys_equal(const om_object *a, const om_object *b) {
    if (a == b)
        return 1;
    if (a->type != b->type)
        return 0;
    if (a->type == &ex_int_type)
        return ex_int_value(a) == ex_int_value(b);
    size_t n = ex_str_len(a);
    return n == ex_str_len(b) && memcmp(ex_str_data(a), ex_str_data(b), n) == 0;
}

/* CPython's probe sequence: i = 5i + 1 + perturb, with the hash's high
 * bits shifted into perturb 5 at a time; once they are spent, the
 * recurrence alone visits every slot. */
static size_t next_slot(size_t i, uint64_t *perturb, size_t mask) {
    *perturb >>= 5;
    return (i * 5 + 1 + (size_t)*perturb) & mask;
}

/* The slot holding key (*found = 1), or where to insert it (*found = 0):
 * the first tombstone on its chain, else the empty slot ending it.
 * Needs a table. */
static size_t dict_lookup(const ex_dict *d, const om_object *key, uint64_t hash, int *found) {
    size_t i = (size_t)hash & d->mask, insert_at = SIZE_MAX;
    for (uint64_t perturb = hash;; i = next_slot(i, &perturb, d->mask)) {
        const ex_dict_entry *e = &d->table[i];
        if (e->key == NULL) {
            *found = 0;
            return insert_at != SIZE_MAX ? insert_at : i;
        }
        if (e->key == TOMBSTONE) {
            if (insert_at == SIZE_MAX)
                insert_at = i;
        } else if (e->hash == hash && keys_equal(e->key, key)) {
            *found = 1;
            return i;
        }
    }
}

/* Move the live entries to a new table of the smallest power of two
 * >= max(8, 3 * used): no tombstones, at most 1/3 full.  No reference
 * changes hands.  0 or ENOMEM (the old table stays). */
static int dict_resize(ex_dict *d, size_t used) {
    size_t size = DICT_MIN_SIZE;
    while (size < used * 3) /* no overflow: each entry takes 24 bytes */
        size <<= 1;
    ex_dict_entry *table = om_calloc(size, sizeof *table);
    if (!table)
        return ENOMEM;
    for (size_t i = 0; d->table && i <= d->mask; i++) {
        const ex_dict_entry *e = &d->table[i];
        if (!is_live(e))
            continue;
        size_t j = (size_t)e->hash & (size - 1);
        for (uint64_t perturb = e->hash; table[j].key; )
            j = next_slot(j, &perturb, size - 1);
        table[j] = *e;
    }
    om_free(d->table);
    d->table = table;
    d->mask = size - 1;
    d->filled = d->used;
    return 0;
}

/* Turn live slot i into a tombstone, then drop its key and value. */
static void dict_remove(ex_dict *d, size_t i) {
    ex_dict_entry *e = &d->table[i];
    om_object *key = e->key, *value = e->value;
    e->key = TOMBSTONE;
    e->value = NULL;
    d->used--;
    om_decref(key);
    om_decref(value);
}

static int dict_traverse(om_object *self, om_visit_fn visit, void *arg) {
    ex_dict *d = (ex_dict *)self;
    for (size_t i = 0; d->table && i <= d->mask; i++) {
        ex_dict_entry *e = &d->table[i];
        if (!is_live(e))
            continue;
        int r = visit(e->key, arg);
        if (r == 0)
            r = visit(e->value, arg);
        if (r)
            return r;
    }
    return 0;
}

static void dict_clear(om_object *self) {
    ex_dict *d = (ex_dict *)self;
    /* A decref may run code that inserts, even resizes: rescan until empty. */
    while (d->used > 0) {
        for (size_t i = 0; i <= d->mask && d->used > 0; i++) {
            if (is_live(&d->table[i]))
                dict_remove(d, i);
        }
    }
    if (d->table)
        memset(d->table, 0, (d->mask + 1) * sizeof *d->table); /* drop the tombstones */
    d->filled = 0;
}

static void dict_release(om_object *self) {
    ex_dict *d = (ex_dict *)self;
    om_free(d->table);
    d->table = NULL;
    d->used = d->filled = d->mask = 0;
}

om_type ex_dict_type = {
    OM_TYPE_INIT,
    .name = "dict",
    .size = sizeof(ex_dict),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(ex_dict, weaklist),
    .traverse = dict_traverse,
    .clear = dict_clear,
    .release = dict_release,
    .freelist_limit = 80,
};

om_object *ex_dict_new(void) {
    return om_new(&ex_dict_type); /* the table comes with the first key */
}

int ex_dict_set(om_object *self, om_object *key, om_object *value) {
    assert(self->type == &ex_dict_type && key && value);
    ex_dict *d = (ex_dict *)self;
    uint64_t hash;
    if (key_hash(key, &hash))
        return EINVAL;
    int found = 0;
    size_t i = d->table ? dict_lookup(d, key, hash, &found) : 0;
    if (found) {
        om_object *old = d->table[i].value;
        d->table[i].value = om_newref(value);
        om_decref(old); /* after the store, as Py_SETREF */
        return 0;
    }
    /* Only a new key in an empty slot adds to filled; a tombstone is reused. */
    if (!d->table || (d->table[i].key == NULL && (d->filled + 1) * 3 > (d->mask + 1) * 2)) {
        int err = dict_resize(d, d->used + 1);
        if (err)
            return err;
        i = dict_lookup(d, key, hash, &found);
    }
    ex_dict_entry *e = &d->table[i];
    if (e->key == NULL)
        d->filled++;
    e->hash = hash;
    e->key = om_newref(key);
    e->value = om_newref(value);
    d->used++;
    return 0;
}

om_object *ex_dict_get(const om_object *self, om_object *key) {
    assert(self->type == &ex_dict_type && key);
    const ex_dict *d = (const ex_dict *)self;
    uint64_t hash;
    int found;
    if (!d->table || key_hash(key, &hash))
        return NULL;
    size_t i = dict_lookup(d, key, hash, &found);
    return found ? d->table[i].value : NULL;
}

int ex_dict_del(om_object *self, om_object *key) {
    assert(self->type == &ex_dict_type && key);
    ex_dict *d = (ex_dict *)self;
    uint64_t hash;
    int found;
    if (!d->table || key_hash(key, &hash))
        return ENOENT; /* a key of another type cannot be there */
    size_t i = dict_lookup(d, key, hash, &found);
    if (!found)
        return ENOENT;
    dict_remove(d, i);
    return 0;
}

size_t ex_dict_len(const om_object *self) {
    assert(self->type == &ex_dict_type);
    return ((const ex_dict *)self)->used;
}

int ex_dict_next(const om_object *self, size_t *pos, om_object **key, om_object **value) {
    assert(self->type == &ex_dict_type);
    const ex_dict *d = (const ex_dict *)self;
    for (size_t i = *pos; d->table && i <= d->mask; i++) {
        const ex_dict_entry *e = &d->table[i];
        if (is_live(e)) {
            *pos = i + 1;
            if (key)
                *key = e->key;
            if (value)
                *value = e->value;
            return 1;
        }
    }
    return 0;
}
