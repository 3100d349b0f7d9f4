/*
 * type.c — the type registry: a type is made ready by its first om_new
 * (omi_type_ready): its fields are validated, its state (object.h:
 * omi_type_state, in metadata memory) allocated and filled, the collector
 * prefix computed, and it joins the registry (om_type_next), a list
 * guarded by its own mutex.  Lock order: registry.lock, then omi_rt.lock
 * (the metadata allocator's).  Per-type statistics are derived from the
 * counters the free lists and object.c keep in the state.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "object/object.h"

/* OMI_ENTRY_OBJECT's section (om_new & co.), bracketed by the linker. */
extern const char __start_omi_entry_obj[] OM_HIDDEN;
extern const char __stop_omi_entry_obj[] OM_HIDDEN;

static struct {
    pthread_mutex_t lock;
    const om_type *first, *last;
} registry = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL};

static int type_valid(const om_type *t) {
    if (t->struct_size < OM_TYPE_SIZE_MIN)
        return 0;
    size_t header = t->item_size ? sizeof(om_varobject) : sizeof(om_object);
    if (t->size < header || t->size > ((size_t)1 << 40))
        return 0;
    uint64_t m = OMI_TYPE_FIELD(t, ref_fields);
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

/* The state of a valid type, filled from its fields; NULL when out of
 * memory. */
static omi_type_state *state_new(const om_type *t) {
    pthread_mutex_lock(&omi_rt.lock);
    omi_type_state *s = omi_meta_alloc(sizeof *s);
    pthread_mutex_unlock(&omi_rt.lock);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    uint64_t m = OMI_TYPE_FIELD(t, ref_fields);
    s->ref_fields = m;
    s->freelist_limit = OMI_TYPE_FIELD(t, freelist_limit);
    s->prefix = (t->flags & OM_TYPE_GC) || t->finalize ? sizeof(om_gc_head) : 0;
    s->small = !s->prefix && !t->item_size && t->size > sizeof(om_object) && t->size <= sizeof(om_object) + 16;
    s->simple = !(t->flags & OM_TYPE_GC) && !t->item_size && !t->finalize && !t->weaklist_offset && !t->clear &&
                !t->release && !m;
    /* Declared references that are one run of words, and all the
     * type's references (the usual case), are walked as an array. */
    if (m && !(t->flags & OM_TYPE_REF_ITEMS)) {
        unsigned first = (unsigned)__builtin_ctzll(m);
        uint64_t run = m >> first;
        if ((run & (run + 1)) == 0) {
            s->ref_first = (uint8_t)first;
            s->ref_run = (uint8_t)__builtin_popcountll(m);
        }
    }
    s->ready = t->item_size ? OM_TYPE_READY_VAR : OM_TYPE_READY_FIXED;
    return s;
}

int omi_type_ready(om_type *t) {
    if (__atomic_load_n(&t->state_, __ATOMIC_ACQUIRE))
        return 0;
    if (!type_valid(t))
        return EINVAL;
    int rc = 0;
    pthread_mutex_lock(&registry.lock);
    if (!t->state_) {
        omi_type_state *s = state_new(t);
        if (s) {
            if (!registry.first) { /* objects from now on: reports can name their types */
                omi_trace_set_object_entry(__start_omi_entry_obj, __stop_omi_entry_obj);
                omi_trace_set_object_namer(omi_object_in_block);
            }
            if (registry.last) /* release: omi_type_registered reads without the lock */
                __atomic_store_n(&omi_tstate(registry.last)->next, t, __ATOMIC_RELEASE);
            else
                __atomic_store_n(&registry.first, t, __ATOMIC_RELEASE);
            registry.last = t;
            __atomic_store_n(&t->state_, (om_type_state *)s, __ATOMIC_RELEASE);
        } else {
            rc = ENOMEM;
        }
    }
    pthread_mutex_unlock(&registry.lock);
    return rc;
}

int omi_type_registered(const om_type *t) {
    for (const om_type *x = __atomic_load_n(&registry.first, __ATOMIC_ACQUIRE); x;
         x = __atomic_load_n(&omi_tstate(x)->next, __ATOMIC_ACQUIRE))
        if (x == t)
            return 1;
    return 0;
}

const om_type *om_type_next(const om_type *prev) {
    pthread_mutex_lock(&registry.lock);
    const om_type *t = prev ? omi_tstate(prev)->next : registry.first;
    pthread_mutex_unlock(&registry.lock);
    return t;
}

void (om_type_get_stats)(const om_type *t, om_type_stats *out, size_t size) {
    const omi_type_state *s = omi_tstate(t);
    om_type_stats st = {.name = t->name, .freelist_limit = OMI_TYPE_FIELD(t, freelist_limit)};
    if (s) {
        uint64_t hits = s->parks - s->freelist_len - s->trimmed;
        st.created = hits + s->allocs;
        st.destroyed = s->parks + s->frees;
        st.live = st.created - st.destroyed;
        st.freelist_hits = hits;
        st.freelist_misses = s->allocs;
        st.freelist_len = s->freelist_len;
        st.freelist_limit = s->freelist_limit;
    }
    omi_struct_out(out, size, &st, sizeof st);
}
