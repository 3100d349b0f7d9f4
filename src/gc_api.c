/*
 * gc_api.c — the gc module's surface over the collector (gc.c): enable
 * and thresholds, counts and statistics, callbacks, freeze, introspection
 * (get_objects, get_referrers, get_referents), debug flags and the garbage
 * list.  Nothing here collects; everything runs under the runtime lock.
 * Moving objects between lists keeps their generation tags right (gc.h):
 * freeze retags to the permanent generation, unfreeze and garbage_clear
 * to generation 2.
 */
#include <errno.h>

#include "gc.h"

/* ---- the gc module's knobs ---------------------------------------------- */
void om_gc_enable(void) { om_gc.enabled = 1; }
void om_gc_disable(void) { om_gc.enabled = 0; }
int om_gc_isenabled(void) { return om_gc.enabled; }

void om_gc_set_threshold(long t0, long t1, long t2) {
    om_gc.threshold[0] = t0 < 0 ? 0 : t0;
    om_gc.threshold[1] = t1 < 0 ? 0 : t1;
    om_gc.threshold[2] = t2 < 0 ? 0 : t2;
}

void om_gc_get_threshold(long out[OM_GC_GENERATIONS]) {
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        out[i] = om_gc.threshold[i];
}

void om_gc_get_count(long out[OM_GC_GENERATIONS]) {
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        out[i] = om_gc.count[i];
}

void om_gc_get_stats(om_gc_gen_stats out[OM_GC_GENERATIONS]) {
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        out[i] = om_gc.stats[i];
}

int om_gc_callback_add(om_gc_callback fn, void *arg) {
    if (!fn)
        return EINVAL;
    if (om_gc.ncallbacks == GC_MAX_CALLBACKS)
        return ENOMEM;
    om_gc.callbacks[om_gc.ncallbacks].fn = fn;
    om_gc.callbacks[om_gc.ncallbacks].arg = arg;
    om_gc.ncallbacks++;
    return 0;
}

int om_gc_callback_remove(om_gc_callback fn, void *arg) {
    for (int i = 0; i < om_gc.ncallbacks; i++) {
        if (om_gc.callbacks[i].fn == fn && om_gc.callbacks[i].arg == arg) {
            for (int j = i + 1; j < om_gc.ncallbacks; j++)
                om_gc.callbacks[j - 1] = om_gc.callbacks[j];
            om_gc.ncallbacks--;
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
    if (om_unlikely(!om_gc.ready))
        om_gc_init();
    for (int i = 0; i < OM_GC_GENERATIONS; i++) {
        retag(&om_gc.gen[i], GC_TAG_OTHER);
        list_merge(&om_gc.gen[i], &om_gc.permanent);
    }
    om_gc.count[0] = 0; /* as CPython's gc.freeze */
}

void om_gc_unfreeze(void) {
    if (om_unlikely(!om_gc.ready))
        om_gc_init();
    retag(&om_gc.permanent, GC_TAG(OM_GC_GENERATIONS - 1));
    list_merge(&om_gc.permanent, &om_gc.gen[OM_GC_GENERATIONS - 1]);
}

size_t om_gc_get_freeze_count(void) { return om_gc.ready ? list_size(&om_gc.permanent) : 0; }

size_t om_gc_count_objects(int generation) {
    if (!om_gc.ready || generation < -1 || generation >= OM_GC_GENERATIONS)
        return 0;
    if (generation >= 0)
        return list_size(&om_gc.gen[generation]);
    size_t n = 0;
    for (int i = 0; i < OM_GC_GENERATIONS; i++)
        n += list_size(&om_gc.gen[i]);
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
    if (!om_gc.ready || generation < -1 || generation >= OM_GC_GENERATIONS)
        return 0;
    if (generation >= 0)
        return visit_list(&om_gc.gen[generation], visit, arg);
    for (int i = 0; i < OM_GC_GENERATIONS; i++) {
        int r = visit_list(&om_gc.gen[i], visit, arg);
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
    if (!om_gc.ready)
        return 0;
    for (int i = 0; i < OM_GC_GENERATIONS; i++) {
        for (om_gc_head *g = gc_next(&om_gc.gen[i]); g != &om_gc.gen[i]; g = gc_next(g)) {
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

void om_gc_set_debug(unsigned flags) { om_gc.debug = flags; }
unsigned om_gc_get_debug(void) { return om_gc.debug; }

size_t om_gc_garbage_count(void) { return om_gc.ready ? list_size(&om_gc.garbage) : 0; }

int om_gc_garbage_visit(om_visit_fn visit, void *arg) { return om_gc.ready ? visit_list(&om_gc.garbage, visit, arg) : 0; }

size_t om_gc_garbage_clear(void) {
    if (!om_gc.ready)
        return 0;
    size_t n = 0;
    om_gc_head *g;
    while ((g = gc_next(&om_gc.garbage)) != &om_gc.garbage) {
        list_move(g, &om_gc.gen[OM_GC_GENERATIONS - 1]);
        g->prev = (g->prev & ~GC_GEN_MASK) | GC_TAG(OM_GC_GENERATIONS - 1);
        om_decref(gc_obj(g));
        n++;
    }
    return n;
}
