/*
 * type.c — the type registry: a type is made ready by its first om_new
 * (omi_type_ready): its fields are validated, the collector prefix
 * computed, and it joins the registry (om_type_next), a list guarded by
 * its own mutex.  Per-type statistics are derived from the counters the
 * free lists and object.c keep in om_type_state.
 */
#include <errno.h>
#include <pthread.h>

#include "object/object.h"

static struct {
    pthread_mutex_t lock;
    const om_type *first, *last;
} registry = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL};

static int type_valid(const om_type *t) {
    size_t header = t->item_size ? sizeof(om_varobject) : sizeof(om_object);
    if (t->size < header || t->size > ((size_t)1 << 40))
        return 0;
    uint64_t m = t->ref_fields;
    int items = (t->flags & OM_TYPE_REF_ITEMS) != 0;
    if ((t->flags & OM_TYPE_GC) && !t->traverse && !m && !items)
        return 0;
    /* Declared references: not the header, not nitems, inside the
     * instance, not the weaklist field, not as well as a refs hook. */
    if (m && ((m & 3) || (t->item_size && (m & 4)) || (size_t)(64 - __builtin_clzll(m)) * sizeof(void *) > t->size ||
              t->refs))
        return 0;
    if (items && (t->item_size != sizeof(om_object *) || t->size % sizeof(void *) != 0 || t->refs))
        return 0;
    if (m && t->weaklist_offset && t->weaklist_offset / sizeof(void *) < 64 &&
        ((m >> (t->weaklist_offset / sizeof(void *))) & 1))
        return 0;
    if (t->weaklist_offset &&
        (t->weaklist_offset < sizeof(om_object) || t->weaklist_offset % sizeof(void *) != 0 ||
         t->weaklist_offset > t->size - sizeof(void *)))
        return 0;
    return 1;
}

int omi_type_ready(om_type *t) {
    if (t->state_.ready)
        return 0;
    if (!type_valid(t))
        return EINVAL;
    pthread_mutex_lock(&registry.lock);
    if (!t->state_.ready) {
        t->state_.prefix = (t->flags & OM_TYPE_GC) || t->finalize ? sizeof(om_gc_head) : 0;
        t->state_.small = !t->state_.prefix && !t->item_size && t->size > sizeof(om_object) &&
                          t->size <= sizeof(om_object) + 16;
        t->state_.simple = !(t->flags & OM_TYPE_GC) && !t->item_size && !t->finalize && !t->weaklist_offset && !t->clear && !t->release &&
                            !t->ref_fields;
        /* Declared references that are one run of words, and all the
         * type's references (the usual case), are walked as an array. */
        uint64_t m = t->ref_fields;
        t->state_.ref_first = t->state_.ref_run = 0;
        if (m && !(t->flags & OM_TYPE_REF_ITEMS)) {
            unsigned first = (unsigned)__builtin_ctzll(m);
            uint64_t run = m >> first;
            if ((run & (run + 1)) == 0) {
                t->state_.ref_first = (uint8_t)first;
                t->state_.ref_run = (uint8_t)__builtin_popcountll(m);
            }
        }
        t->state_.next = NULL;
        if (registry.last)
            ((om_type *)registry.last)->state_.next = t;
        else
            registry.first = t;
        registry.last = t;
        t->state_.ready = t->item_size ? OM_TYPE_READY_VAR : OM_TYPE_READY_FIXED;
    }
    pthread_mutex_unlock(&registry.lock);
    return 0;
}

const om_type *om_type_next(const om_type *prev) {
    pthread_mutex_lock(&registry.lock);
    const om_type *t = prev ? prev->state_.next : registry.first;
    pthread_mutex_unlock(&registry.lock);
    return t;
}

void om_type_get_stats(const om_type *t, om_type_stats *out) {
    const om_type_state *s = &t->state_;
    out->name = t->name;
    uint64_t hits = s->parks - s->freelist_len - s->trimmed;
    out->created = hits + s->allocs;
    out->destroyed = s->parks + s->frees;
    out->live = out->created - out->destroyed;
    out->freelist_hits = hits;
    out->freelist_misses = s->allocs;
    out->freelist_len = s->freelist_len;
    out->freelist_limit = t->freelist_limit;
}
