/*
 * report.c — the statistics report of every layer (om_stats_format,
 * om_stats_write): the allocator's counters (om_stats_get), each type's
 * counters and the collector's generations, as text or JSON.  Formatted
 * with snprintf into the caller's buffer: no allocation.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag/diag.h"
#include "object/object.h"

/* ---- reports ----------------------------------------------------------------- */
typedef struct out {
    char *buf;
    size_t cap, len;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...);

static void put(out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

#define U(x) ((unsigned long long)(x))

/* ---- the tables -------------------------------------------------------------- */
/* Each counter is named once, in a table that both renderers walk: the JSON
 * key (the struct member's name), how the text report shows it, and where
 * it lives (offsetof).  Values are read by their size, so one reader serves
 * uint32_t and uint64_t members. */
static unsigned long long value_at(const void *base, size_t off, size_t size) {
    const unsigned char *p = (const unsigned char *)base + off;
    if (size == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define MEMBER_SIZE(type, m) sizeof(((type *)0)->m)

/* Per-row tables (size classes, types): one text column per field, one JSON
 * key per field, in the same order.  The row's first column (class number,
 * type name) is the caller's.  A column without a heading continues the one
 * before it after a '/' (parked/limit); width < 0 aligns it left. */
typedef struct stat_column {
    const char *key;
    const char *head;
    size_t off, size;
    int width;
} stat_column;

#define COLUMN(type, m, head, width) {#m, head, offsetof(type, m), MEMBER_SIZE(type, m), width}

static const stat_column class_columns[] = {
    COLUMN(om_class_stats, block_size, "size", 6),
    COLUMN(om_class_stats, blocks_per_pool, "per pool", 8),
    COLUMN(om_class_stats, pools, "pools", 6),
    COLUMN(om_class_stats, full_pools, "full", 5),
    COLUMN(om_class_stats, blocks_used, "blocks used", 13),
    COLUMN(om_class_stats, blocks_free, "blocks free", 13),
};

static const stat_column type_columns[] = {
    COLUMN(om_type_stats, live, "live", 10),
    COLUMN(om_type_stats, created, "created", 12),
    COLUMN(om_type_stats, destroyed, "destroyed", 12),
    COLUMN(om_type_stats, freelist_hits, "free-list hits", 14),
    COLUMN(om_type_stats, freelist_misses, "misses", 8),
    COLUMN(om_type_stats, freelist_len, "parked/limit", 5),
    COLUMN(om_type_stats, freelist_limit, NULL, -6),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(COUNT(type_columns) == (sizeof(om_type_stats) - offsetof(om_type_stats, live)) / sizeof(uint64_t),
               "every om_type_stats counter has a column");
_Static_assert(sizeof(om_class_stats) == 2 * sizeof(uint32_t) + 4 * sizeof(uint64_t),
               "every om_class_stats field has a column (and a size value_at reads)");

/* A column's text width: its own, plus those of the columns continuing it. */
static int column_span(const stat_column *c, size_t i, size_t n) {
    int w = abs(c[i].width);
    for (size_t j = i + 1; j < n && !c[j].head; j++)
        w += 1 + abs(c[j].width);
    return w;
}

static void dashes(out *o, int n) {
    static const char d[] = "----------------";
    for (; n > 0; n -= (int)sizeof d - 1)
        put(o, "%.*s", n, d);
}

/* The heading line and the dashes under it; the first column is the row's
 * own (width < 0: left-aligned). */
static void columns_head(out *o, const char *first, int first_width, const stat_column *c, size_t n) {
    put(o, "%*s", first_width, first);
    for (size_t i = 0; i < n; i++)
        if (c[i].head)
            put(o, "  %*s", column_span(c, i, n), c[i].head);
    put(o, "\n");
    dashes(o, abs(first_width));
    for (size_t i = 0; i < n; i++)
        if (c[i].head) {
            put(o, "  ");
            dashes(o, column_span(c, i, n));
        }
    put(o, "\n");
}

static void columns_text(out *o, const void *row, const stat_column *c, size_t n) {
    for (size_t i = 0; i < n; i++)
        put(o, c[i].head ? "  %*llu" : "/%*llu", c[i].width, value_at(row, c[i].off, c[i].size));
    put(o, "\n");
}

static void columns_json(out *o, const void *row, const stat_column *c, size_t n) {
    for (size_t i = 0; i < n; i++)
        put(o, ", \"%s\": %llu", c[i].key, value_at(row, c[i].off, c[i].size));
    put(o, "}");
}

/* The allocator's counters (om_stats after its classes, all uint64_t), in
 * the text report's order, which JSON follows too.  In the text report:
 *   LINE   starts a line "# label   value": label padded to 28 columns,
 *          value right-aligned in 14 (unless widths are given); gap puts a
 *          blank line before it; a note goes in parentheses after the value
 *   SLASH  adds " / value" to the line
 *   PAREN  adds "value note" inside the line's parentheses */
enum { LINE, SLASH, PAREN };

typedef struct stat_field {
    const char *key;
    size_t off;
    unsigned char text, gap, label_width, value_width;
    const char *label; /* LINE */
    const char *note;  /* LINE: in parentheses; PAREN: after the value */
} stat_field;

#define OFF(m) #m, offsetof(om_stats, m)
#define LINE_(m, label) {OFF(m), LINE, 0, 0, 0, label, NULL}
#define GAP_(m, label) {OFF(m), LINE, 1, 0, 0, label, NULL}
#define SLASH_(m) {OFF(m), SLASH, 0, 0, 0, NULL, NULL}
#define PAREN_(m, note) {OFF(m), PAREN, 0, 0, 0, NULL, note}

static const stat_field stat_fields[] = {
    GAP_(arenas_allocated, "arenas allocated total"),
    LINE_(arenas_reclaimed, "arenas reclaimed"),
    LINE_(arenas_highwater, "arenas highwater mark"),
    LINE_(arenas_current, "arenas allocated current"),
    PAREN_(small_arenas, "small x 1 MiB"),
    PAREN_(medium_arenas, "medium x 4 MiB"),
    /* (a label too long for the column: narrower value, as it always was) */
    {OFF(pools_total), LINE, 0, 30, 8, "pools: total / empty / purged", NULL},
    SLASH_(pools_empty),
    SLASH_(pools_purged),

    GAP_(bytes_in_use, "bytes in allocated blocks"),
    LINE_(bytes_free_blocks, "bytes in available blocks"),
    LINE_(bytes_empty_pools, "bytes in empty pools"),
    {OFF(bytes_pool_headers), LINE, 0, 0, 0, "bytes in pool headers", "in arena descriptors"},
    LINE_(bytes_quantisation, "bytes lost to quantization"),
    LINE_(bytes_arena_mapped, "bytes in arenas (mapped)"),

    GAP_(large_count, "large blocks live"),
    PAREN_(large_bytes, "bytes"),
    LINE_(large_cached, "large mappings cached"),
    PAREN_(large_cached_bytes, "bytes"),
    LINE_(large_cached_resident, "large cache bytes resident"),
    LINE_(large_reused, "large allocations reused / mapped"),
    SLASH_(large_mapped),
    LINE_(large_decayed, "large mappings decayed"),

    GAP_(os_reserve_calls, "OS calls: reserve (mmap)"),
    LINE_(os_release_calls, "OS calls: release (munmap)"),
    LINE_(os_purge_calls, "OS calls: purge (madvise)"),
    LINE_(os_remap_calls, "OS calls: remap (mremap)"),
    LINE_(os_failures, "OS calls: failed"),
    LINE_(os_bytes_reserved, "bytes mapped now / peak"),
    SLASH_(os_bytes_peak),

    GAP_(heaps_active, "heaps active / abandoned"),
    SLASH_(heaps_abandoned),
    LINE_(remote_frees, "frees from other threads"),
    LINE_(foreign_frees_ignored, "foreign frees ignored"),
    LINE_(meta_bytes, "metadata bytes"),
};

_Static_assert(COUNT(stat_fields) == (sizeof(om_stats) - offsetof(om_stats, arenas_allocated)) / sizeof(uint64_t),
               "every om_stats counter is in the report");

static void fields_text(out *o, const om_stats *s) {
    int in_paren = 0;
    for (size_t i = 0; i < COUNT(stat_fields); i++) {
        const stat_field *f = &stat_fields[i];
        unsigned long long v = value_at(s, f->off, sizeof(uint64_t));
        switch (f->text) {
        case LINE:
            if (i)
                put(o, "%s\n", in_paren ? ")" : "");
            put(o, "%s# %-*s%*llu", f->gap ? "\n" : "", f->label_width ? f->label_width : 28, f->label,
                f->value_width ? f->value_width : 14, v);
            in_paren = f->note != NULL;
            if (in_paren)
                put(o, "  (%s", f->note);
            break;
        case SLASH:
            put(o, " / %llu", v);
            break;
        case PAREN:
            put(o, "%s%llu %s", in_paren ? ", " : "  (", v, f->note);
            in_paren = 1;
            break;
        }
    }
    put(o, "%s\n", in_paren ? ")" : "");
}

size_t omi_report_total_count(void) { return COUNT(stat_fields); }

const char *omi_report_total(size_t i, const om_stats *s, unsigned long long *value) {
    *value = value_at(s, stat_fields[i].off, sizeof(uint64_t));
    return stat_fields[i].key;
}

/* Each key ends with a comma: the types and gc sections follow. */
static void fields_json(out *o, const om_stats *s) {
    for (size_t i = 0; i < COUNT(stat_fields); i++)
        put(o, " \"%s\": %llu,\n", stat_fields[i].key, value_at(s, stat_fields[i].off, sizeof(uint64_t)));
}

/* The object layer, when it is in use: each type that has made an object
 * (om_type_get_stats), and the collector's generations.  Counters are read
 * without the runtime lock (exact when no other thread is touching
 * objects); the generations' lists are walked only by a thread that holds
 * the lock, or when no thread uses it. */
static int lists_readable(void) { return !omi_lock_in_use() || om_lock_held(); }

static long long gen_objects(int g) { return lists_readable() ? (long long)om_gc_count_objects(g) : -1; }

static void format_objects_text(out *o) {
    const om_type *t = om_type_next(NULL);
    if (!t)
        return;
    put(o, "\n");
    columns_head(o, "type", -16, type_columns, COUNT(type_columns));
    for (; t; t = om_type_next(t)) {
        om_type_stats ts;
        om_type_get_stats(t, &ts);
        put(o, "%-16.16s", ts.name ? ts.name : "?");
        columns_text(o, &ts, type_columns, COUNT(type_columns));
    }
    long count[OM_GC_GENERATIONS], thr[OM_GC_GENERATIONS];
    om_gc_gen_stats gs[OM_GC_GENERATIONS];
    om_gc_get_count(count);
    om_gc_get_threshold(thr);
    om_gc_get_stats(gs);
    put(o, "\n# gc %s, thresholds %ld/%ld/%ld, counts %ld/%ld/%ld, frozen %llu, garbage %llu\n",
        om_gc_isenabled() ? "enabled" : "disabled", thr[0], thr[1], thr[2], count[0], count[1], count[2],
        lists_readable() ? U(om_gc_get_freeze_count()) : 0, lists_readable() ? U(om_gc_garbage_count()) : 0);
    for (int g = 0; g < OM_GC_GENERATIONS; g++) {
        char objects[32] = "? (runtime lock not held)";
        if (lists_readable())
            snprintf(objects, sizeof objects, "%llu", U(om_gc_count_objects(g)));
        put(o, "# gc generation %d: %s objects, %llu collections, %llu collected, %llu uncollectable, %.3f ms\n", g,
            objects, U(gs[g].collections), U(gs[g].collected), U(gs[g].uncollectable),
            (double)gs[g].total_ns / 1e6);
    }
}

static void format_objects_json(out *o) {
    const om_type *t = om_type_next(NULL);
    put(o, " \"types\": [");
    for (const char *sep = ""; t; t = om_type_next(t), sep = ",") {
        om_type_stats ts;
        om_type_get_stats(t, &ts);
        put(o, "%s\n  {\"name\": \"%s\"", sep, ts.name ? ts.name : "?");
        columns_json(o, &ts, type_columns, COUNT(type_columns));
    }
    long count[OM_GC_GENERATIONS];
    om_gc_gen_stats gs[OM_GC_GENERATIONS];
    om_gc_get_count(count);
    om_gc_get_stats(gs);
    put(o, "],\n \"gc\": {\"enabled\": %s, \"generations\": [", om_gc_isenabled() ? "true" : "false");
    for (int g = 0; g < OM_GC_GENERATIONS; g++)
        put(o,
            "%s{\"objects\": %lld, \"count\": %ld, \"collections\": %llu, \"collected\": %llu, "
            "\"uncollectable\": %llu, \"total_ns\": %llu}",
            g ? ", " : "", gen_objects(g), count[g], U(gs[g].collections), U(gs[g].collected),
            U(gs[g].uncollectable), U(gs[g].total_ns));
    put(o, "]}\n");
}

/* Text lists the classes in use; JSON lists every class. */
static void format_text(out *o, const om_stats *s) {
    put(o, "objmem %s allocator statistics\n\n", OM_VERSION_STRING);
    columns_head(o, "class", 5, class_columns, COUNT(class_columns));
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        if (!s->classes[c].pools)
            continue;
        put(o, "%5u", c);
        columns_text(o, &s->classes[c], class_columns, COUNT(class_columns));
    }
    fields_text(o, s);
    format_objects_text(o);
}

/* s as a JSON string: quotes, backslashes and control characters escaped. */
static void put_json_string(out *o, const char *s, size_t n) {
    put(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            put(o, "\\%c", c);
        else if (c < 0x20)
            put(o, "\\u%04x", c);
        else
            put(o, "%c", c);
    }
    put(o, "\"");
}

/* The process the report is of: a file of reports from many processes
 * (OBJMEM_STATS_JSON, a wrapper script's children) says whose each is. */
static void format_json_process(out *o) {
    char cmd[1024];
    size_t n = omi_process_command(cmd, sizeof cmd);
    put(o, "\"pid\": %ld, \"command\": ", (long)getpid());
    put_json_string(o, cmd, n);
}

static void format_json(out *o, const om_stats *s) {
    put(o, "{\"version\": \"%s\", ", OM_VERSION_STRING);
    format_json_process(o);
    put(o, ", \"classes\": [");
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        put(o, "%s\n  {\"class\": %u", c ? "," : "", c);
        columns_json(o, &s->classes[c], class_columns, COUNT(class_columns));
    }
    put(o, "\n],\n");
    fields_json(o, s);
    format_objects_json(o);
    put(o, "}\n");
}

size_t om_stats_format(char *buf, size_t cap, int format) {
    om_stats s;
    om_stats_get(&s);
    out o = {buf, cap, 0};
    if (format == OM_REPORT_JSON)
        format_json(&o, &s);
    else
        format_text(&o, &s);
    if (cap)
        buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}

int om_stats_write(int fd, int format) {
    char buf[24576];
    size_t n = om_stats_format(buf, sizeof buf, format);
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        done += (size_t)w;
    }
    return 0;
}

const char *om_version(void) { return OM_VERSION_STRING; }
