/*
 * stats.c — snapshots and their statistics: tracemalloc's take_snapshot,
 * Snapshot.statistics and Snapshot.compare_to.
 *
 * A snapshot copies, for every trace with live blocks, its id, count and
 * bytes (the counters table.c keeps), into memory from the OS layer.  The
 * copy is taken trace by trace while other threads may allocate: each
 * trace's pair is its own at some moment, the whole is not one instant.
 *
 * Grouping turns the records of one snapshot (or two, to compare) into
 * groups keyed by the innermost frame's file:line, function or file, or
 * by the whole trace: every record gets its key (symbolized once per
 * trace), the records are sorted by key and equal keys merged, then the
 * groups are sorted largest first (bytes, or the size of the change).
 * Sorting is a heapsort in place: no allocation, no qsort (glibc's may
 * call malloc).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trace/trace.h"

#define SNAP_MAGIC 0x6f6d74726163650aull
#define KEY_MAX 448 /* a key, at most: "function (file:line)" */

/* ---- snapshots ----------------------------------------------------------------- */
om_trace_snap *om_trace_snapshot(void) {
    if (!omi_trace_stack_available()) {
        errno = ENOSYS;
        return NULL;
    }
    uint32_t n = omi_trace_count();
    om_trace_snap *s = omi_trace_mem_alloc(sizeof *s + (size_t)n * sizeof(omi_snap_rec));
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->magic = SNAP_MAGIC;
    s->nframes = om_trace_get_traceback_limit();
    s->sample_bytes = omi_trace_st.sample_bytes;
    om_trace_get_traced_memory(&s->current, &s->peak);
    s->count = atomic_load(&omi_trace_st.blocks);
    if (!om_trace_is_tracing())
        return s;
    for (uint32_t id = 1; id <= n; id++) {
        omi_trace *t = omi_trace_get(id);
        uint64_t c = atomic_load_explicit(&t->count, memory_order_relaxed);
        if (c)
            s->recs[s->nrecs++] = (omi_snap_rec){.id = id,
                                                 .count = c,
                                                 .bytes = atomic_load_explicit(&t->bytes, memory_order_relaxed)};
    }
    return s;
}

void om_trace_snapshot_free(om_trace_snap *s) {
    if (s && s->magic == SNAP_MAGIC) {
        s->magic = 0;
        omi_trace_mem_free(s);
    }
}

/* ---- heapsort --------------------------------------------------------------------- */
typedef int (*less_fn)(const omi_group *a, const omi_group *b);

static void swap(omi_group *a, omi_group *b) {
    omi_group t = *a;
    *a = *b;
    *b = t;
}

static void sift(omi_group *g, size_t root, size_t n, less_fn less) {
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && less(&g[child], &g[child + 1]))
            child++;
        if (!less(&g[root], &g[child]))
            return;
        swap(&g[root], &g[child]);
    }
}

static void heapsort(omi_group *g, size_t n, less_fn less) {
    for (size_t i = n / 2; i-- > 0;)
        sift(g, i, n, less);
    for (size_t end = n; end-- > 1;) {
        swap(&g[0], &g[end]);
        sift(g, 0, end, less);
    }
}

static int key_less(const omi_group *a, const omi_group *b) {
    if (a->hash != b->hash)
        return a->hash < b->hash;
    return strcmp(a->key, b->key) < 0;
}

static uint64_t magnitude(int64_t v) { return v < 0 ? 0 - (uint64_t)v : (uint64_t)v; }

/* "a comes after b" in report order: largest first, then by key. */
static int order_less(const omi_group *a, const omi_group *b) {
    uint64_t da = magnitude((int64_t)(a->bytes - a->old_bytes)), db = magnitude((int64_t)(b->bytes - b->old_bytes));
    if (da != db)
        return da < db;
    if (a->bytes != b->bytes)
        return a->bytes < b->bytes;
    if (a->count != b->count)
        return a->count < b->count;
    return strcmp(a->key, b->key) > 0;
}

/* ---- grouping ----------------------------------------------------------------------- */
static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static char *arena_put(omi_grouping *g, const char *s) {
    size_t n = strlen(s) + 1;
    if (g->arena_used + n > g->arena_cap)
        return (char *)"?";
    char *p = g->arena + g->arena_used;
    memcpy(p, s, n);
    g->arena_used += n;
    return p;
}

/* rec's group (key, function) from its trace's site (omi_trace_site). */
static void make_group(omi_grouping *g, const omi_snap_rec *rec, int by, omi_symbolizer *sym, omi_group *out) {
    omi_trace *t = omi_trace_get(rec->id);
    omi_symbol s;
    char key[KEY_MAX];
    memset(out, 0, sizeof *out);
    const void *ra = omi_trace_site(sym, t, &s);
    if (!ra)
        snprintf(key, sizeof key, "<no stack>");
    else if (by == OM_TRACE_LINENO && s.file[0])
        snprintf(key, sizeof key, "%s:%d", s.file, s.line);
    else if (by == OM_TRACE_FUNCTION && s.function[0])
        snprintf(key, sizeof key, "%s", s.function);
    else if (by == OM_TRACE_FILENAME && s.file[0])
        snprintf(key, sizeof key, "%s", s.file);
    else if (by == OM_TRACE_FILENAME && s.module[0])
        snprintf(key, sizeof key, "%s", s.module);
    else
        omi_symbol_format(&s, ra, key, sizeof key);
    out->key = arena_put(g, key);
    out->function = arena_put(g, s.function[0] ? s.function : "?");
    if (by == OM_TRACE_TRACEBACK) {
        out->id = rec->id;
        out->hash = rec->id;
    } else {
        out->hash = hash_str(out->key);
    }
}

static void add_records(omi_grouping *g, const om_trace_snap *s, int old, int by, omi_symbolizer *sym) {
    for (size_t i = 0; s && i < s->nrecs; i++) {
        omi_group *grp = &g->groups[g->ngroups++];
        make_group(g, &s->recs[i], by, sym, grp);
        if (old)
            grp->old_count = s->recs[i].count, grp->old_bytes = s->recs[i].bytes;
        else
            grp->count = s->recs[i].count, grp->bytes = s->recs[i].bytes;
    }
}

/* Equal keys (adjacent after sorting by key) become one group. */
static void merge(omi_grouping *g, int by) {
    size_t out = 0;
    for (size_t i = 0; i < g->ngroups; i++) {
        omi_group *cur = &g->groups[i];
        omi_group *last = out ? &g->groups[out - 1] : NULL;
        int same = last && last->hash == cur->hash && (by == OM_TRACE_TRACEBACK || strcmp(last->key, cur->key) == 0);
        if (same) {
            last->count += cur->count, last->bytes += cur->bytes;
            last->old_count += cur->old_count, last->old_bytes += cur->old_bytes;
        } else {
            g->groups[out++] = *cur;
        }
    }
    g->ngroups = out;
}

int omi_group_snaps(const om_trace_snap *newer, const om_trace_snap *older, int by, omi_symbolizer *sym,
              omi_grouping *out) {
    memset(out, 0, sizeof *out);
    if (!newer || newer->magic != SNAP_MAGIC || (older && older->magic != SNAP_MAGIC))
        return EINVAL;
    if (by < OM_TRACE_TRACEBACK || by > OM_TRACE_FILENAME)
        return EINVAL;
    size_t n = newer->nrecs + (older ? older->nrecs : 0);
    size_t groups_size = (n * sizeof(omi_group) + 63) & ~(size_t)63;
    out->arena_cap = n * (KEY_MAX + sizeof(((omi_symbol *)0)->function)) + 1;
    out->groups = omi_trace_mem_alloc(groups_size + out->arena_cap);
    if (!out->groups)
        return ENOMEM;
    out->arena = (char *)out->groups + groups_size;
    add_records(out, newer, 0, by, sym);
    add_records(out, older, 1, by, sym);
    heapsort(out->groups, out->ngroups, key_less);
    merge(out, by);
    heapsort(out->groups, out->ngroups, order_less);
    /* order_less sorts ascending; the report wants largest first */
    for (size_t i = 0, j = out->ngroups; i + 1 < j--; i++)
        swap(&out->groups[i], &out->groups[j]);
    return 0;
}

void omi_grouping_free(omi_grouping *g) {
    omi_trace_mem_free(g->groups);
    memset(g, 0, sizeof *g);
}

/* ---- the public walk ------------------------------------------------------------------- */
int om_trace_foreach(const om_trace_snap *newer, const om_trace_snap *older, om_trace_group by, om_trace_stat_fn fn,
                     void *arg) {
    if (!fn)
        return EINVAL;
    if (!omi_trace_stack_available())
        return ENOSYS;
    int was = omi_alloc_observe_suspend(1);
    omi_symbolizer *sym = omi_symbolizer_open();
    omi_grouping g;
    int rc = omi_group_snaps(newer, older, (int)by, sym, &g);
    omi_symbolizer_close(sym);
    omi_alloc_observe_suspend(was);
    if (rc)
        return rc;
    for (size_t i = 0; i < g.ngroups; i++) {
        const omi_group *grp = &g.groups[i];
        omi_trace *t = by == OM_TRACE_TRACEBACK ? omi_trace_get(grp->id) : NULL;
        om_trace_stat st = {
            .site = grp->key,
            .function = grp->function,
            .count = (grp->count + OMI_TRACE_ONE / 2) / OMI_TRACE_ONE,
            .bytes = grp->bytes,
            .count_diff = ((int64_t)grp->count - (int64_t)grp->old_count) / (int64_t)OMI_TRACE_ONE,
            .bytes_diff = (int64_t)grp->bytes - (int64_t)grp->old_bytes,
            .trace_id = grp->id,
            .nframes = t ? t->nframes : 0,
            .frames = t ? t->frames : NULL,
        };
        if (fn(&st, arg))
            break;
    }
    omi_grouping_free(&g);
    return 0;
}
