/*
 * object_check.c — the checked reference-count functions (OM_DEBUG) and
 * the graveyard that lets them name the type of a dead object.
 *
 * om_incref_checked / om_decref_checked validate before they count:
 *   NULL, or a pointer that is neither immortal nor at the start of an
 *   object in objmem's heap                         → OM_ERR_BAD_OBJECT
 *   the runtime lock in use but not held            → OM_ERR_LOCK
 *   a dead object (count < 0: parked, pending, in the graveyard), one
 *   being destroyed (incref at 0), or one whose block is free
 *                                                   → OM_ERR_USE_AFTER_FREE
 *   a decref at count 0                             → OM_ERR_REFCOUNT
 * A handler that returns makes the call a no-op (error.c).
 *
 * Graveyard: in checked mode (OBJMEM_CHECKED=1) a destroyed object is not
 * reused at once: it waits, dead but with its type, in a ring of
 * OM_GRAVEYARD slots, and the oldest goes back to the allocator.  A stale reference used within that window is reported with
 * the type's name; later, if the block is free, without it.  The ring has
 * its own mutex: checked mode is for finding bugs, not speed.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>

#include "object/object.h"

#define OM_GRAVEYARD 1024

static struct {
    pthread_mutex_t lock;
    om_object *ring[OM_GRAVEYARD];
    size_t next;                 /* slot to fill (and to evict) */
} graveyard = {.lock = PTHREAD_MUTEX_INITIALIZER};

om_object *omi_graveyard_swap(om_object *o) {
    o->refcount = omi_dead_link(NULL);
    pthread_mutex_lock(&graveyard.lock);
    om_object *old = graveyard.ring[graveyard.next];
    graveyard.ring[graveyard.next] = o;
    graveyard.next = (graveyard.next + 1) % OM_GRAVEYARD;
    pthread_mutex_unlock(&graveyard.lock);
    return old;
}

size_t omi_graveyard_flush(void) {
    size_t n = 0;
    pthread_mutex_lock(&graveyard.lock);
    for (size_t i = 0; i < OM_GRAVEYARD; i++) {
        om_object *o = graveyard.ring[i];
        if (!o)
            continue;
        graveyard.ring[i] = NULL;
        omi_obj_free((char *)o - omi_tstate(o->type)->prefix);
        n++;
    }
    pthread_mutex_unlock(&graveyard.lock);
    return n;
}

/* 1 if the header at o can be read (its pages are mapped). */
static int readable(const om_object *o) {
    uintptr_t page = (uintptr_t)o & ~(uintptr_t)4095, end = (uintptr_t)(o + 1);
    unsigned char vec[2];
    return mincore((void *)page, end - page, vec) == 0;
}

/* 0 if the operation may go on, 1 if it must not count (immortal), -1 if
 * an error was reported. */
static int check(om_object *o, const char *op, const char *file, int line, int is_decref) {
    char detail[256];
    if (!o) {
        snprintf(detail, sizeof detail, "NULL object (at %s:%d)", file, line);
        omi_report_object(OM_ERR_BAD_OBJECT, op, o, NULL, detail);
        return -1;
    }
    if (omi_lock_in_use() && !om_lock_held()) {
        snprintf(detail, sizeof detail, "the runtime lock is not held by this thread (at %s:%d)", file, line);
        omi_report_object(OM_ERR_LOCK, op, o, NULL, detail);
        return -1;
    }
    /* Never read o before knowing it is readable: a freed large object's
     * mapping may be gone. */
    om_block_info bi;
    if (omi_debug_describe(o, &bi) != 0 || !bi.block) {
        if (!readable(o)) {
            snprintf(detail, sizeof detail, "unmapped memory, not an object (a freed large object?) (at %s:%d)",
                     file, line);
            omi_report_object(OM_ERR_BAD_OBJECT, op, o, NULL, detail);
            return -1;
        }
        if (o->refcount >= OM_IMMORTAL_REFCNT) /* a static object */
            return 1;
        snprintf(detail, sizeof detail, "not in objmem's heap and not immortal (at %s:%d)", file, line);
        omi_report_object(OM_ERR_BAD_OBJECT, op, o, NULL, detail);
        return -1;
    }
    if (o->refcount >= OM_IMMORTAL_REFCNT)
        return 1;
    size_t offset = (size_t)((char *)o - (char *)bi.block);
    if (offset != 0 && offset != sizeof(om_gc_head)) {
        snprintf(detail, sizeof detail, "%zu bytes inside block %p, not an object's start (at %s:%d)", offset,
                 bi.block, file, line);
        omi_report_object(OM_ERR_BAD_OBJECT, op, o, NULL, detail);
        return -1;
    }
    if (omi_debug_block_is_free(bi.block)) {
        snprintf(detail, sizeof detail, "its block %p is free (at %s:%d)", bi.block, file, line);
        omi_report_object(OM_ERR_USE_AFTER_FREE, op, o, NULL, detail);
        return -1;
    }
    const om_type *t = o->type;
    if (!t || !omi_tstate(t) || omi_tstate(t)->prefix != offset) {
        snprintf(detail, sizeof detail, "its type pointer %p is not a ready type (at %s:%d)", (const void *)t,
                 file, line);
        omi_report_object(OM_ERR_BAD_OBJECT, op, o, NULL, detail);
        return -1;
    }
    const char *name = t->name ? t->name : "?";
    size_t need = t->size + offset;
    if (t->item_size && o->refcount > 0)
        need += (size_t)((om_varobject *)o)->nitems * t->item_size;
    if (bi.block_size < need) {
        snprintf(detail, sizeof detail, "block %p holds %zu bytes, its type '%s' needs %zu (at %s:%d)", bi.block,
                 bi.block_size, name, need, file, line);
        omi_report_object(OM_ERR_BAD_OBJECT, op, o, NULL, detail);
        return -1;
    }
    if (o->refcount < 0) {
        snprintf(detail, sizeof detail, "dead object (its count reached zero; now parked or freed) (at %s:%d)",
                 file, line);
        omi_report_object(OM_ERR_USE_AFTER_FREE, op, o, name, detail);
        return -1;
    }
    if (o->refcount == 0) {
        if (is_decref)
            snprintf(detail, sizeof detail, "count would go from 0 to -1 (at %s:%d)", file, line);
        else
            snprintf(detail, sizeof detail, "incref of an object being destroyed (at %s:%d)", file, line);
        omi_report_object(is_decref ? OM_ERR_REFCOUNT : OM_ERR_USE_AFTER_FREE, op, o, name, detail);
        return -1;
    }
    return 0;
}

void om_incref_checked(om_object *o, const char *file, int line) {
    if (check(o, "om_incref", file, line, 0) == 0)
        o->refcount++;
}

void om_decref_checked(om_object *o, const char *file, int line) {
    if (check(o, "om_decref", file, line, 1) == 0 && --o->refcount == 0)
        om_dealloc(o);
}
