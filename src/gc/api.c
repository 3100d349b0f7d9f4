/*
 * api.c — the gc module's surface over the collector (gc.c): enable
 * and thresholds, counts and statistics, callbacks, freeze, introspection
 * (get_objects, get_referrers, get_referents), debug flags and the garbage
 * list.  Nothing here collects; everything runs under the runtime lock.
 * Moving objects between lists keeps their generation tags right (gc.h):
 * freeze retags to the permanent generation, unfreeze and garbage_clear
 * to generation 2.
 */
#include <errno.h>

#include "gc/gc.h"

/* ---- the gc module's knobs ---------------------------------------------- */
void om_gc_enable(void) { omi_gc.enabled = 1; }
void om_gc_disable(void) { omi_gc.enabled = 0; }
int om_gc_isenabled(void) { return omi_gc.enabled; }

void om_gc_set_threshold(long t0, long t1, long t2) {
    omi_gc.threshold[0] = t0 < 0 ? 0 : t0;
    omi_gc.threshold[1] = t1 < 0 ? 0 : t1;
    omi_gc.threshold[2] = t2 < 0 ? 0 : t2;
}

void om_gc_get_threshold(long out[OM_GC_GENERATIONS]) {
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        out[i] = omi_gc.threshold[i];
}

void om_gc_get_count(long out[OM_GC_GENERATIONS]) {
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        out[i] = omi_gc.count[i];
}

size_t (om_gc_get_stats)(om_gc_gen_stats *out, size_t count, size_t elem_size) {
    for (size_t i = 0; i < count && i < OM_GC_GENERATIONS; i++)
        omi_struct_out((char *)out + i * elem_size, elem_size, &omi_gc.stats[i], sizeof omi_gc.stats[i]);
    return OM_GC_GENERATIONS;
}

int om_gc_callback_add(om_gc_callback fn, void *arg) {
    if (!fn)
        return EINVAL;
    if (omi_gc.ncallbacks == GC_MAX_CALLBACKS)
        return ENOMEM;
    omi_gc.callbacks[omi_gc.ncallbacks].fn = fn;
    omi_gc.callbacks[omi_gc.ncallbacks].arg = arg;
    omi_gc.ncallbacks++;
    return 0;
}

int om_gc_callback_remove(om_gc_callback fn, void *arg) {
    for (int i = 0; i < omi_gc.ncallbacks; i++) {
        if (omi_gc.callbacks[i].fn == fn && omi_gc.callbacks[i].arg == arg) {
            for (int j = i + 1; j < omi_gc.ncallbacks; j++)
                omi_gc.callbacks[j - 1] = omi_gc.callbacks[j];
            omi_gc.ncallbacks--;
            return 0;
        }
    }
    return ENOENT;
}

static void retag(om_gc_head *list, uintptr_t tag) {
    for (om_gc_head *g = gc_next(list); g != list; g = gc_next(g))
        g->prev = (g->prev & ~GC_GEN_MASK) | tag;
}

void om_gc_freeze(void) {
    if (om_unlikely(!omi_gc.ready))
        omi_gc_init();
    for (int i = 0; i < OM_GC_GENERATIONS; i++) {
        retag(&omi_gc.gen[i], GC_TAG_OTHER);
        list_merge(&omi_gc.gen[i], &omi_gc.permanent);
    }
    omi_gc.count[0] = 0; /* as CPython's gc.freeze */
}

void om_gc_unfreeze(void) {
    if (om_unlikely(!omi_gc.ready))
        omi_gc_init();
    retag(&omi_gc.permanent, GC_TAG(OM_GC_GENERATIONS - 1));
    list_merge(&omi_gc.permanent, &omi_gc.gen[OM_GC_GENERATIONS - 1]);
}

size_t om_gc_get_freeze_count(void) { return omi_gc.ready ? list_size(&omi_gc.permanent) : 0; }

size_t om_gc_count_objects(int generation) {
    if (!omi_gc.ready || generation < -1 || generation >= OM_GC_GENERATIONS)
        return 0;
    if (generation >= 0)
        return list_size(&omi_gc.gen[generation]);
    size_t n = 0;
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        n += list_size(&omi_gc.gen[i]);
    return n;
}

/* ---- introspection -------------------------------------------------------- */
static int visit_list(om_gc_head *l, om_visit_fn visit, void *arg) {
    for (om_gc_head *g = gc_next(l); g != l; g = gc_next(g)) {
        int r = visit(gc_obj(g), arg);
        if (r)
            return r;
    }
    return 0;
}

int om_gc_get_objects(int generation, om_visit_fn visit, void *arg) {
    if (!omi_gc.ready || generation < -1 || generation >= OM_GC_GENERATIONS)
        return 0;
    if (generation >= 0)
        return visit_list(&omi_gc.gen[generation], visit, arg);
    for (int i = 0; i < OM_GC_GENERATIONS; i++) {
        int r = visit_list(&omi_gc.gen[i], visit, arg);
        if (r)
            return r;
    }
    return 0;
}

struct referrer_search {
    om_object *target;
    int found;
};

static int visit_is_target(om_object *c, void *arg) {
    struct referrer_search *s = arg;
    if (c == s->target)
        s->found = 1;
    return s->found;
}

int om_gc_get_referrers(om_object *target, om_visit_fn visit, void *arg) {
    if (!omi_gc.ready)
        return 0;
    for (int i = 0; i < OM_GC_GENERATIONS; i++) {
        for (om_gc_head *g = gc_next(&omi_gc.gen[i]); g != &omi_gc.gen[i]; g = gc_next(g)) {
            struct referrer_search s = {target, 0};
            om_traverse(gc_obj(g), visit_is_target, &s);
            if (s.found) {
                int r = visit(gc_obj(g), arg);
                if (r)
                    return r;
            }
        }
    }
    return 0;
}

int om_gc_get_referents(om_object *o, om_visit_fn visit, void *arg) { return om_traverse(o, visit, arg); }

void om_gc_set_debug(unsigned flags) { omi_gc.debug = flags; }
unsigned om_gc_get_debug(void) { return omi_gc.debug; }

size_t om_gc_garbage_count(void) { return omi_gc.ready ? list_size(&omi_gc.garbage) : 0; }

int om_gc_garbage_visit(om_visit_fn visit, void *arg) { return omi_gc.ready ? visit_list(&omi_gc.garbage, visit, arg) : 0; }

size_t om_gc_garbage_clear(void) {
    if (!omi_gc.ready)
        return 0;
    size_t n = 0;
    om_gc_head *g;
    while ((g = gc_next(&omi_gc.garbage)) != &omi_gc.garbage) {
        list_move(g, &omi_gc.gen[OM_GC_GENERATIONS - 1]);
        g->prev = (g->prev & ~GC_GEN_MASK) | GC_TAG(OM_GC_GENERATIONS - 1);
        om_decref(gc_obj(g));
        n++;
    }
    return n;
}
