/*
 * weakref.c — weak references with callbacks (CPython's weakref.ref).
 *
 *   referent ─(its type's weaklist_offset)─▶ head
 *   head ◀─▶ ref ◀─▶ ref ◀─▶ ref        doubly linked, newest first,
 *             │                        except that the shared
 *             └─ referent (borrowed)   callback-less ref stays at the head
 *
 * A weak reference is an object of om_weakref_type (a container: it holds
 * its callback's data).  Invariants: a ref is in its referent's list iff
 * its referent field is not NULL; a ref is never linked to a dead object.
 *
 * When the referent dies (om_weakref_clear_all, from object.c's destroy,
 * or the cycle collector): every ref is unlinked and cleared first, so
 * om_weakref_get answers NULL from then on; then the callbacks of refs
 * that are still alive run, newest first, each ref held alive (and its
 * data with it) during its own callback.  A callback runs at most once;
 * its data is dropped after it.  The list of callbacks to run is threaded
 * through the refs' next fields, so clearing allocates nothing.
 */
#include <errno.h>

#include "object/object.h"

struct om_weakref {
    om_object ob;
    om_object *referent;         /* borrowed; NULL once cleared */
    om_weakref *prev, *next;
    om_weakref_callback callback;
    om_object *data;             /* owned */
};

static int weakref_traverse(om_object *self, om_visit_fn visit, void *arg) {
    om_weakref *w = (om_weakref *)self;
    return w->data ? visit(w->data, arg) : 0;
}

static om_weakref **weaklist_of(const om_object *o) {
    return (om_weakref **)((char *)o + o->type->weaklist_offset);
}

static void unlink_ref(om_weakref *w) {
    if (!w->referent)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        *weaklist_of(w->referent) = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->referent = NULL;
}

/* Unlink from the referent, forget the callback, drop the data (also the
 * cycle collector's clear for a weak reference). */
static void weakref_clear(om_object *self) {
    om_weakref *w = (om_weakref *)self;
    unlink_ref(w);
    w->callback = NULL;
    om_clear_ref(&w->data);
}

om_type om_weakref_type = {
    OM_TYPE_INIT,
    .name = "weakref",
    .size = sizeof(om_weakref),
    .flags = OM_TYPE_GC,
    .traverse = weakref_traverse,
    .clear = weakref_clear,
    .freelist_limit = 0,
};

static int is_basic(const om_weakref *w) { return !w->callback && !w->data; }

om_weakref *om_weakref_new(om_object *referent, om_weakref_callback callback, om_object *data) {
    if (!referent || !referent->type->weaklist_offset || referent->refcount <= 0) {
        errno = EINVAL;
        return NULL;
    }
    om_weakref **head = weaklist_of(referent);
    int basic = !callback && !data;
    if (basic && *head && is_basic(*head) && (*head)->ob.refcount > 0) {
        /* (a basic ref whose count reached zero may still be linked while
         * it waits in a destruction loop: never hand that one out) */
        om_incref(*head);
        return *head;
    }
    om_weakref *w = (om_weakref *)om_new(&om_weakref_type);
    if (!w)
        return NULL;
    w->referent = referent;
    w->callback = callback;
    if (data)
        w->data = om_newref(data);
    /* Insert at the head, or just after a shared basic ref. */
    om_weakref *prev = (!basic && *head && is_basic(*head)) ? *head : NULL;
    om_weakref **link = prev ? &prev->next : head;
    w->prev = prev;
    w->next = *link;
    if (*link)
        (*link)->prev = w;
    *link = w;
    return w;
}

om_object *om_weakref_get(om_weakref *w) {
    om_object *o = w->referent;
    if (!o || o->refcount <= 0)
        return NULL;
    om_incref(o);
    return o;
}

size_t om_weakref_count(const om_object *o) {
    if (!o->type->weaklist_offset)
        return 0;
    size_t n = 0;
    for (const om_weakref *w = *weaklist_of(o); w; w = w->next)
        n++;
    return n;
}

/* Unlink every weak reference to o (they answer NULL from now on).  Those
 * with a callback that are alive and not garbage (keep(w) false) are held
 * and appended to the chain ending at *tail; returns the new tail. */
om_weakref **omi_weakref_gc_detach(om_object *o, int (*garbage)(om_object *w), om_weakref **tail) {
    om_weakref **head = weaklist_of(o);
    om_weakref *w;
    while ((w = *head) != NULL) {
        unlink_ref(w);
        if (w->callback && w->ob.refcount > 0 && !(garbage && garbage(&w->ob))) {
            om_incref(w); /* alive through its callback */
            *tail = w;
            tail = &w->next;
        }
    }
    return tail;
}

/* Run the callbacks of a chain built by omi_weakref_gc_detach. */
void omi_weakref_run_callbacks(om_weakref *run) {
    om_weakref *w;
    while ((w = run) != NULL) {
        run = w->next;
        w->next = NULL;
        om_weakref_callback cb = w->callback;
        w->callback = NULL;
        cb(w, w->data);
        om_clear_ref(&w->data);
        om_decref(w);
    }
}

/* A weak reference that is itself garbage: it must never call back. */
void omi_weakref_gc_disarm(om_object *self) {
    om_weakref *w = (om_weakref *)self;
    unlink_ref(w);
    w->callback = NULL;
}

void om_weakref_clear_all(om_object *o, int callbacks) {
    if (!o->type->weaklist_offset)
        return;
    om_weakref *run = NULL, **tail = &run;
    if (callbacks) {
        omi_weakref_gc_detach(o, NULL, tail);
        omi_weakref_run_callbacks(run);
    } else {
        om_weakref *w;
        while ((w = *weaklist_of(o)) != NULL)
            unlink_ref(w);
    }
}
