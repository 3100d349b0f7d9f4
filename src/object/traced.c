/*
 * traced.c — what the tracing report asks of objects: the type of the
 * live object in a block that om_new & co. allocated (trace/objects.c
 * groups live objects by type and allocation site with it).
 *
 * The block is the object (no prefix) or a collector header followed by
 * it; of the two places, the one whose header names a registered type
 * with that prefix is the object.  An instance parked on its type's free
 * list (refcount holding ~next, negative) is no live object.  The block
 * cannot be freed while this reads it (the report holds its record's
 * lock), but the object may be changing: only the two header words are
 * read, and the type is trusted only once found in the registry.  The
 * registry installs it when the first type joins (type.c).
 */
#include "object/object.h"

const void *omi_object_in_block(const void *block, const char **name) {
    static const size_t prefixes[] = {0, sizeof(om_gc_head)};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        const om_object *o = (const om_object *)((const char *)block + prefixes[i]);
        const om_type *t = o->type;
        if (o->refcount <= 0 || !t || ((uintptr_t)t & (sizeof(void *) - 1)) || !omi_type_registered(t) ||
            omi_tstate(t)->prefix != prefixes[i])
            continue;
        *name = t->name ? t->name : "?";
        return t;
    }
    return NULL;
}
