/*
 * object.c — the life of an object: creation, reference counts, and
 * destruction at zero.
 *
 * Creation (om_new, om_new_var) takes a parked instance from the type's
 * free list or a block from om_malloc, leaving room for the collector
 * header before the object when the type needs one (see object.h).
 *
 * Destruction is a loop, not a recursion (CPython needs its "trashcan" for
 * this).  The thread's first om_dealloc runs the loop; a count that reaches
 * zero while it runs (a child dropped by clear, say) is pushed on the
 * thread's pending stack, linked through the dead objects' counts, and
 * destroyed by the same loop.  So freeing a chain of ten million objects
 * uses the C stack of one.  Each object goes through:
 *
 *   finalize (once: the header's OM_GC_FINALIZED bit; count held at 1 while
 *   it runs, so a resurrection leaves it above 0 and stops here)
 *   → weak references cleared, callbacks run      (weakref.c)
 *   → clear: drop the references it holds         (pushes children)
 *   → release: free what is not an object
 *   → parked on the free list, or om_free         (freelist.c)
 *
 * Invariant: a pending object has count < 0 (omi_dead_link), so that
 * om_weakref_get refuses it while it waits.
 */
#include <errno.h>
#include <string.h>

#include "object/object.h"

typedef struct om_destroy_state {
    om_object *pending;          /* counts reached zero, not yet destroyed */
    int running;                 /* this thread is inside the loop */
} om_destroy_state;

static __thread om_destroy_state om_tls_destroy __attribute__((tls_model("initial-exec")));

/* Zero the instance past its header.  Small bodies (a float's 8 bytes)
 * are written in 16-byte steps without a call: blocks are 16-byte
 * multiples, so rounding up stays inside the block. */
static inline void zero_body(om_object *o, size_t size) {
    char *p = (char *)(o + 1);
    size_t n = size - sizeof(om_object);
    if (om_likely(n <= 64)) {
        for (size_t i = 0; i < n; i += 16) {
            uint64_t *w = (uint64_t *)(p + i);
            w[0] = 0;
            w[1] = 0;
        }
    } else {
        memset(p, 0, n);
    }
}

static om_object *object_init(om_type *t, void *block, size_t size) {
    omi_type_state *s = omi_tstate(t);
    om_object *o = (om_object *)((char *)block + s->prefix);
    if (s->prefix)
        memset(block, 0, sizeof(om_gc_head));
    o->refcount = 1;
    o->type = t;
    zero_body(o, size);
    s->allocs++;
    if (t->flags & OM_TYPE_GC)
        omi_gc_track_new(o);
    return o;
}

static int type_check(om_type *t, int want) {
    int rc = t ? omi_type_ready(t) : EINVAL;
    if (rc == 0 && omi_tstate(t)->ready != want)
        rc = EINVAL;
    if (rc)
        errno = rc;
    return rc;
}

OMI_ENTRY_OBJECT static __attribute__((noinline)) om_object *new_from_allocator(om_type *t) {
    if ((!t || !t->state_ || omi_tstate(t)->ready != OM_TYPE_READY_FIXED) && type_check(t, OM_TYPE_READY_FIXED))
        return NULL;
    void *block = omi_obj_malloc(t->size + omi_tstate(t)->prefix);
    return block ? object_init(t, block, t->size) : NULL;
}

OMI_ENTRY_OBJECT om_object *(om_new)(om_type *t) {
    om_object *o;
    omi_type_state *s;
    if (om_unlikely(!t || !(s = omi_tstate(t)) || s->ready != OM_TYPE_READY_FIXED))
        return new_from_allocator(t);
    if ((o = s->freelist) != NULL) { /* a parked instance (it kept its type) */
        s->freelist = omi_dead_next(o);
        s->freelist_len--;
        o->refcount = 1;
        zero_body(o, t->size);
        if (s->prefix) {
            memset(omi_gc_head_of(o), 0, sizeof(om_gc_head));
            if (t->flags & OM_TYPE_GC)
                omi_gc_track_new(o);
        }
        return o;
    }
    if (s->small) { /* the float case: no prefix, a 32-byte block */
        uint64_t *w = omi_obj_malloc(32);
        if (om_unlikely(!w))
            return NULL;
        o = (om_object *)w;
        o->refcount = 1;
        o->type = t;
        w[2] = 0;
        w[3] = 0;
        s->allocs++;
        return o;
    }
    return new_from_allocator(t);
}

/* Bytes of a variable-size instance of nitems items; 0 on overflow. */
static size_t var_size(const om_type *t, size_t nitems) {
    size_t items;
    if (__builtin_mul_overflow(nitems, t->item_size, &items) || items > PTRDIFF_MAX - t->size - 64)
        return 0;
    return t->size + items;
}

OMI_ENTRY_OBJECT om_object *om_new_var(om_type *t, size_t nitems) {
    if (type_check(t, OM_TYPE_READY_VAR))
        return NULL;
    size_t size = var_size(t, nitems);
    if (!size) {
        errno = ENOMEM;
        return NULL;
    }
    void *block = omi_obj_malloc(size + omi_tstate(t)->prefix);
    if (!block)
        return NULL;
    om_object *o = object_init(t, block, size);
    ((om_varobject *)o)->nitems = (intptr_t)nitems;
    return o;
}

OMI_ENTRY_OBJECT int om_resize_var(om_object **op, size_t nitems) {
    om_object *o = op ? *op : NULL;
    if (!o || o->refcount != 1 || omi_tstate(o->type)->ready != OM_TYPE_READY_VAR)
        return EINVAL;
    const om_type *t = o->type;
    if (t->weaklist_offset && *(om_weakref **)((char *)o + t->weaklist_offset))
        return EINVAL;
    size_t size = var_size(t, nitems), old = var_size(t, (size_t)((om_varobject *)o)->nitems);
    if (!size)
        return ENOMEM;
    size_t prefix = omi_tstate(t)->prefix;
    /* The collector's lists point at the header: leave them while moving,
     * and come back tracked, as a new object (a tuple the collector had
     * untracked has NULL items again: CPython's _PyTuple_Resize). */
    int gc = (t->flags & OM_TYPE_GC) != 0;
    uintptr_t tag = gc ? omi_gc_detach(o) : 0;
    char *block = omi_obj_realloc((char *)o - prefix, size + prefix);
    if (!block) {
        if (gc)
            omi_gc_reattach(o, tag);
        return ENOMEM;
    }
    o = (om_object *)(block + prefix);
    if (gc)
        omi_gc_reattach(o, tag);
    if (size > old)
        memset((char *)o + old, 0, size - old);
    ((om_varobject *)o)->nitems = (intptr_t)nitems;
    *op = o;
    return 0;
}

int omi_object_is_finalized(om_object *o) {
    if (!omi_tstate(o->type)->prefix)
        return 0;
    /* A static (immortal) object has no header before it. */
    if (o->refcount >= OM_IMMORTAL_REFCNT && !om_owns(omi_gc_head_of(o)))
        return 0;
    return (omi_gc_head_of(o)->prev & OM_GC_FINALIZED) != 0;
}

/* Run the finalizer if it has not run yet.  Returns 1 if o came back to
 * life (someone stored a new reference), 0 if destruction goes on. */
static int finalize(om_object *o) {
    om_gc_head *g = omi_gc_head_of(o);
    if (g->prev & OM_GC_FINALIZED)
        return 0;
    g->prev |= OM_GC_FINALIZED;
    o->refcount = 1;
    /* Alive again while it runs: tracked, as any live container (it may
     * have waited off the lists in the loop), so that a resurrected object
     * is the collector's again, in its generation. */
    if (o->type->flags & OM_TYPE_GC)
        omi_gc_unpark_dying(o);
    o->type->finalize(o);
    if (--o->refcount == 0)
        return 0;
    /* Resurrected: it was destroyed as far as the statistics go only if it
     * dies again. */
    return 1;
}

static void destroy(om_object *o) {
    om_type *t = (om_type *)o->type;
    if (om_unlikely(t->finalize) && finalize(o))
        return;
    if (t->flags & OM_TYPE_GC)
        omi_gc_untrack_dead(o);
    if (t->weaklist_offset && *(om_weakref **)((char *)o + t->weaklist_offset))
        om_weakref_clear_all(o, 1);
    omi_type_clear(o);
    if (t->release)
        t->release(o);
    omi_freelist_release(t, o);
}

static __attribute__((noinline)) void destroy_loop(om_object *o) {
    om_destroy_state *d = &om_tls_destroy;
    if (d->running) {
        /* Waiting dead: off the collector's lists, so that no collection
         * (one may run inside a finalizer of the loop) sees it. */
        if (o->type->flags & OM_TYPE_GC)
            omi_gc_park_dying(o);
        o->refcount = omi_dead_link(d->pending);
        d->pending = o;
        return;
    }
    d->running = 1;
    for (;;) {
        destroy(o);
        if (!(o = d->pending))
            break;
        d->pending = omi_dead_next(o);
        o->refcount = 0;
    }
    d->running = 0;
}

void om_dealloc(om_object *o) {
    om_type *t = (om_type *)o->type;
    omi_type_state *s = omi_tstate(t);
    /* A simple type's destruction cannot recurse and needs no hook: park
     * it, or free it, right here (CPython's float_dealloc). */
    if (om_likely(s->simple) && !atomic_load_explicit(&omi_fast.checked, memory_order_relaxed)) {
        if (s->freelist_len < s->freelist_limit) {
            o->refcount = omi_dead_link(s->freelist);
            s->freelist = o;
            s->freelist_len++;
            s->parks++;
        } else {
            s->frees++;
            omi_obj_free(o); /* simple types have no prefix */
        }
        return;
    }
    destroy_loop(o);
}

/* The collector's shortcut for an object it has finalized, unhooked from
 * its weak references, untracked and cleared, and holds the last
 * reference to: all that is left of destroy is release and the memory. */
void omi_destroy_cleared(om_object *o) {
    om_type *t = (om_type *)o->type;
    o->refcount = 0;
    omi_gc_untrack_dead(o);
    if (t->release)
        t->release(o);
    omi_freelist_release(t, o);
}

void(om_incref)(om_object *o) { om_incref_inline(o); }
void(om_decref)(om_object *o) { om_decref_inline(o); }

void om_immortalize(om_object *o) {
    if (o->type->flags & OM_TYPE_GC)
        om_gc_untrack(o);
    o->refcount = OM_IMMORTAL_REFCNT;
}

int om_traverse(om_object *o, om_visit_fn visit, void *arg) {
    const om_type *t = o->type;
    if (t->traverse)
        return t->traverse(o, visit, arg);
    return omi_type_declares_refs(t) ? omi_declared_traverse(o, visit, arg) : 0;
}

/* ---- declared references ----------------------------------------------- */
typedef struct visit_ctx {
    om_visit_fn visit;
    void *arg;
    int result; /* the visit's nonzero return that stopped the walk */
} visit_ctx;

static inline int slot_visit(om_object **slot, void *ctx) {
    visit_ctx *v = ctx;
    return (v->result = v->visit(*slot, v->arg)) != 0;
}

int omi_declared_traverse(om_object *o, om_visit_fn visit, void *arg) {
    visit_ctx v = {visit, arg, 0};
    omi_declared_each(o, slot_visit, &v, 0);
    return v.result;
}

static inline int slot_clear(om_object **slot, void *ctx) {
    (void)ctx;
    om_clear_ref(slot);
    return 0;
}

/* Each field is set to NULL before its reference is dropped (om_clear_ref),
 * so whatever that runs sees a consistent object; items go last to first. */
void omi_declared_clear(om_object *o) { omi_declared_each(o, slot_clear, NULL, 1); }
