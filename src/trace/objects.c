/*
 * objects.c — the report's live objects by type, with their allocation
 * sites.
 *
 * The object layer's allocating functions are OMI_ENTRY_OBJECT (trace.h),
 * so a block allocated through them has a trace flagged OMI_TRACE_OBJECT.
 * When a report is made, every live record (blocks.c's walk, each record
 * visited under the lock that guards it, so its block cannot be freed
 * meanwhile) whose trace is flagged is shown to the namer the object
 * layer registered, which reads the object's header and says its type (or
 * that the block holds no live object: an instance parked on its type's
 * free list).  The pairs (type, trace) are summed in a table of OS memory
 * and printed per type, largest first, each with its top sites.
 *
 * Nothing here runs while tracing records; the namer is set once, by the
 * object layer's constructor.
 */
#include <string.h>

#include "trace/trace.h"

#define TOP_TYPES 20
#define TOP_TYPE_SITES 3

static _Atomic(omi_object_namer) namer;

void omi_trace_set_object_namer(omi_object_namer fn) { atomic_store(&namer, fn); }

typedef struct pair {
    const void *type; /* NULL: empty slot */
    const char *name;
    uint32_t id;
    uint64_t count, bytes; /* count in OMI_TRACE_ONE units */
} pair;

typedef struct table {
    pair *slots;
    size_t cap, used;
    int failed;
    omi_object_namer name_of;
} table;

static size_t slot_of(const table *t, const void *type, uint32_t id) {
    uint64_t h = ((uint64_t)(uintptr_t)type >> 4 ^ (uint64_t)id * 0x9E3779B97F4A7C15u) * 0xff51afd7ed558ccdu;
    size_t i = (size_t)(h >> 20) & (t->cap - 1);
    while (t->slots[i].type && (t->slots[i].type != type || t->slots[i].id != id))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int grow(table *t) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    pair *old = t->slots, *fresh = omi_trace_mem_alloc(cap * sizeof *fresh);
    size_t oldcap = t->cap;
    if (!fresh)
        return -1;
    t->slots = fresh;
    t->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].type)
            t->slots[slot_of(t, old[i].type, old[i].id)] = old[i];
    omi_trace_mem_free(old);
    return 0;
}

static void visit(const omi_block_rec *r, void *arg) {
    table *t = arg;
    omi_trace *tr = omi_trace_get(r->id);
    if (!tr || !(tr->flags & OMI_TRACE_OBJECT) || t->failed)
        return;
    const char *name = NULL;
    const void *type = t->name_of((const void *)r->addr, &name);
    if (!type)
        return;
    if ((t->used + 1) * 2 > t->cap && grow(t) != 0) {
        t->failed = 1;
        return;
    }
    pair *p = &t->slots[slot_of(t, type, r->id)];
    if (!p->type) {
        *p = (pair){.type = type, .name = name ? name : "?", .id = r->id};
        t->used++;
    }
    p->count += r->weight;
    p->bytes += r->weight == OMI_TRACE_ONE ? r->size
                                           : (uint64_t)((unsigned __int128)r->size * r->weight / OMI_TRACE_ONE);
}

/* Per-type totals, gathered from the pairs: a type's first pair holds
 * them in a second table keyed by (type, 0). */
static int by_bytes_desc(const void *a, const void *b) {
    const pair *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static void sort_pairs(pair *v, size_t n) {
    for (size_t i = 1; i < n; i++) { /* insertion sort: n is small next to the records walked */
        pair x = v[i];
        size_t j = i;
        for (; j > 0 && by_bytes_desc(&v[j - 1], &x) > 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

void omi_trace_report_objects(omi_fdbuf *w, int json, omi_symbolizer *sym) {
    omi_object_namer fn = atomic_load(&namer);
    if (!fn)
        return;
    table t = {.name_of = fn};
    omi_blocks_foreach(visit, &t);
    /* the pairs, packed, sorted by type then bytes */
    pair *v = t.slots;
    size_t n = 0;
    for (size_t i = 0; i < t.cap; i++)
        if (v[i].type)
            v[n++] = v[i];
    /* per-type totals */
    table types = {0};
    for (size_t i = 0; i < n && !types.failed; i++) {
        if ((types.used + 1) * 2 > types.cap && grow(&types) != 0) {
            types.failed = 1;
            break;
        }
        pair *p = &types.slots[slot_of(&types, v[i].type, 0)];
        if (!p->type) {
            *p = (pair){.type = v[i].type, .name = v[i].name};
            types.used++;
        }
        p->count += v[i].count;
        p->bytes += v[i].bytes;
    }
    size_t nt = 0;
    for (size_t i = 0; i < types.cap; i++)
        if (types.slots[i].type)
            types.slots[nt++] = types.slots[i];
    sort_pairs(types.slots, nt);
    sort_pairs(v, n);
    if (json)
        omi_fdbuf_put(w, " \"objects\": [", 13);
    else if (nt)
        omi_fdbuf_printf(w, "\nlive objects by type (allocated through om_new & co.; %zu types):\n", nt);
    for (size_t k = 0; k < nt && (json || k < TOP_TYPES); k++) {
        const pair *ty = &types.slots[k];
        if (json) {
            omi_fdbuf_printf(w, "%s\n  {\"type\": ", k ? "," : "");
            omi_fdbuf_json_str(w, ty->name);
            omi_fdbuf_printf(w, ", \"count\": %llu, \"bytes\": %llu, \"sites\": [",
                             (unsigned long long)((ty->count + OMI_TRACE_ONE / 2) / OMI_TRACE_ONE),
                             (unsigned long long)ty->bytes);
        } else {
            omi_fdbuf_printf(w, "  %12llu bytes %9llu objects  %s\n", (unsigned long long)ty->bytes,
                             (unsigned long long)((ty->count + OMI_TRACE_ONE / 2) / OMI_TRACE_ONE), ty->name);
        }
        int shown = 0;
        for (size_t i = 0; i < n && (json || shown < TOP_TYPE_SITES); i++) {
            if (v[i].type != ty->type)
                continue;
            omi_trace *tr = omi_trace_get(v[i].id);
            char site[512] = "<no stack>";
            omi_symbol s;
            const void *ra = omi_trace_site(sym, tr, &s);
            if (ra)
                omi_symbol_format(&s, ra, site, sizeof site);
            unsigned long long cnt = (unsigned long long)((v[i].count + OMI_TRACE_ONE / 2) / OMI_TRACE_ONE);
            if (json) {
                omi_fdbuf_printf(w, "%s{\"site\": ", shown ? ", " : "");
                omi_fdbuf_json_str(w, site);
                omi_fdbuf_printf(w, ", \"count\": %llu, \"bytes\": %llu}", cnt, (unsigned long long)v[i].bytes);
            } else {
                omi_fdbuf_printf(w, "        %12llu bytes %9llu objects  at %s\n", (unsigned long long)v[i].bytes,
                                 cnt, site);
            }
            shown++;
        }
        if (json)
            omi_fdbuf_put(w, "]}", 2);
    }
    if (json)
        omi_fdbuf_put(w, "\n],\n", 4);
    else if (t.failed || types.failed)
        omi_fdbuf_printf(w, "  (incomplete: no memory for the table)\n");
    omi_trace_mem_free(t.slots);
    omi_trace_mem_free(types.slots);
}
