/*
 * str.c — a variable-size object: the bytes live inside the object, after
 * a fixed part, so a string is one allocation (CPython's bytes and str do
 * the same).  Weakly referenceable; holds no references.
 *
 *     ex_str: [ om_varobject ob | hash | weaklist | data[nitems] '\0' ]
 *               ob.nitems = length
 *
 * ex_str_type.size counts the fixed part plus the terminating NUL and
 * item_size is 1, so om_new_var(&ex_str_type, len) holds len + 1 bytes,
 * already zeroed.  The hash (64-bit FNV-1a) is computed on first use and
 * cached; 0 means "not yet", so a true hash of 0 is stored as 1.  Strings
 * are immutable once returned: the cached hash depends on it.
 */
#include <assert.h>
#include <string.h>

#include "examples.h"

om_type ex_str_type = {
    OM_TYPE_INIT,
    .name = "str",
    .size = offsetof(ex_str, data) + 1,
    .item_size = 1,
    .weaklist_offset = offsetof(ex_str, weaklist),
};

om_object *ex_str_new(const char *s, size_t len) {
    ex_str *o = (ex_str *)om_new_var(&ex_str_type, len);
    if (!o)
        return NULL; /* errno from om_new_var: ENOMEM, also for a size that overflows */
    if (len)
        memcpy(o->data, s, len);
    return OM_OBJ(o);
}

om_object *ex_str_from(const char *cstr) {
    return ex_str_new(cstr, strlen(cstr));
}

const char *ex_str_data(const om_object *o) {
    assert(o->type == &ex_str_type);
    return ((const ex_str *)o)->data;
}

size_t ex_str_len(const om_object *o) {
    assert(o->type == &ex_str_type);
    return (size_t)((const ex_str *)o)->ob.nitems;
}

uint64_t ex_str_hash(om_object *o) {
    assert(o->type == &ex_str_type);
    ex_str *s = (ex_str *)o;
    if (s->hash == 0) {
        uint64_t h = 0xcbf29ce484222325u; /* FNV-1a offset basis and prime */
        for (intptr_t i = 0; i < s->ob.nitems; i++)
            h = (h ^ (unsigned char)s->data[i]) * 0x100000001b3u;
        s->hash = h ? h : 1;
    }
    return s->hash;
}
