/*
 * freelist.c — object-specific allocators: each type's free list of freed
 * instances.
 *
 *   type->state_->freelist ─▶ obj ─▶ obj ─▶ ... (at most freelist_limit)
 *                            count = ~next (omi_dead_link), type kept
 *
 * CPython keeps 100 floats, 100 ints, 80 lists and 80 dicts this way: a
 * freed instance is parked intact (its collector header too), and the next
 * om_new of the type takes it back without touching the allocator.  Only
 * fixed-size types have a free list.  Parked objects are dead: their count
 * is negative, so weak references and the checked functions see them so.
 * Free lists, like every object, are guarded by the runtime lock (section
 * 10 of the header): they are plain fields, as in CPython.
 */
#include "object/object.h"

/* The last step of destruction: park o on its type's free list, or give
 * its block back to the allocator. */
void omi_freelist_release(om_type *t, om_object *o) {
    omi_type_state *s = omi_tstate(t);
    if (om_unlikely(atomic_load_explicit(&omi_fast.checked, memory_order_relaxed))) {
        /* Checked mode: o waits in the graveyard, so that a use after
         * free can still name its type; the oldest there is freed. */
        s->frees++;
        if ((o = omi_graveyard_swap(o)) != NULL)
            omi_obj_free((char *)o - omi_tstate(o->type)->prefix);
        return;
    }
    if (s->freelist_len < s->freelist_limit && s->ready == OM_TYPE_READY_FIXED) {
        o->refcount = omi_dead_link(s->freelist);
        s->freelist = o;
        s->freelist_len++;
        s->parks++;
        return;
    }
    s->frees++;
    omi_obj_free((char *)o - s->prefix);
}

static size_t freelist_trim(om_type *t, size_t keep) {
    omi_type_state *s = omi_tstate(t);
    size_t n = 0;
    if (!s)
        return 0;
    while (s->freelist_len > keep && s->freelist) {
        om_object *o = s->freelist;
        s->freelist = omi_dead_next(o);
        s->freelist_len--;
        omi_obj_free((char *)o - s->prefix);
        s->trimmed++;
        n++;
    }
    return n;
}

/* Before the type's first object, the limit goes where that object will
 * read it from: the program's om_type (if it has the field). */
void om_type_set_freelist_limit(om_type *t, unsigned limit) {
    omi_type_state *s = omi_tstate(t);
    if (s)
        s->freelist_limit = limit;
    else if (offsetof(om_type, freelist_limit) + sizeof t->freelist_limit <= t->struct_size)
        t->freelist_limit = limit;
    freelist_trim(t, limit);
}

size_t om_type_freelist_clear(om_type *t) { return freelist_trim(t, 0); }

size_t om_freelists_clear(void) {
    size_t n = omi_graveyard_flush();
    for (const om_type *t = om_type_next(NULL); t; t = om_type_next(t))
        n += freelist_trim((om_type *)t, 0);
    return n;
}

