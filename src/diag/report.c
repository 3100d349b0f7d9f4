/*
 * report.c — the statistics report of every layer (om_stats_format,
 * om_stats_write): the allocator's counters (om_stats_get), each type's
 * counters and the collector's generations, as text or JSON.  Formatted
 * with snprintf into the caller's buffer: no allocation.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

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
    put(o, "\ntype                    live       created     destroyed  free-list hits    misses  parked/limit\n");
    put(o, "----------------  ----------  ------------  ------------  --------------  --------  ------------\n");
    for (; t; t = om_type_next(t)) {
        om_type_stats ts;
        om_type_get_stats(t, &ts);
        put(o, "%-16.16s  %10llu  %12llu  %12llu  %14llu  %8llu  %5llu/%-6llu\n", ts.name ? ts.name : "?",
            U(ts.live), U(ts.created), U(ts.destroyed), U(ts.freelist_hits), U(ts.freelist_misses),
            U(ts.freelist_len), U(ts.freelist_limit));
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
        put(o,
            "%s\n  {\"name\": \"%s\", \"live\": %llu, \"created\": %llu, \"destroyed\": %llu, "
            "\"freelist_hits\": %llu, \"freelist_misses\": %llu, \"freelist_len\": %llu, \"freelist_limit\": %llu}",
            sep, ts.name ? ts.name : "?", U(ts.live), U(ts.created), U(ts.destroyed), U(ts.freelist_hits),
            U(ts.freelist_misses), U(ts.freelist_len), U(ts.freelist_limit));
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

static void format_text(out *o, const om_stats *s) {
    put(o, "objmem %s allocator statistics\n\n", OM_VERSION_STRING);
    put(o, "class   size  per pool   pools   full    blocks used    blocks free\n");
    put(o, "-----  ------  --------  ------  -----  -------------  -------------\n");
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        const om_class_stats *cs = &s->classes[c];
        if (!cs->pools)
            continue;
        put(o, "%5u  %6u  %8u  %6llu  %5llu  %13llu  %13llu\n", c, cs->block_size, cs->blocks_per_pool, U(cs->pools),
            U(cs->full_pools), U(cs->blocks_used), U(cs->blocks_free));
    }
    put(o, "\n# arenas allocated total      %14llu\n", U(s->arenas_allocated));
    put(o, "# arenas reclaimed            %14llu\n", U(s->arenas_reclaimed));
    put(o, "# arenas highwater mark       %14llu\n", U(s->arenas_highwater));
    put(o, "# arenas allocated current    %14llu  (%llu small x 1 MiB, %llu medium x 4 MiB)\n",
        U(s->arenas_current), U(s->small_arenas), U(s->medium_arenas));
    put(o, "# pools: total / empty / purged %8llu / %llu / %llu\n", U(s->pools_total), U(s->pools_empty),
        U(s->pools_purged));
    put(o, "\n# bytes in allocated blocks   %14llu\n", U(s->bytes_in_use));
    put(o, "# bytes in available blocks   %14llu\n", U(s->bytes_free_blocks));
    put(o, "# bytes in empty pools        %14llu\n", U(s->bytes_empty_pools));
    put(o, "# bytes in pool headers       %14llu  (in arena descriptors)\n", U(s->bytes_pool_headers));
    put(o, "# bytes lost to quantization  %14llu\n", U(s->bytes_quantisation));
    put(o, "# bytes in arenas (mapped)    %14llu\n", U(s->bytes_arena_mapped));
    put(o, "\n# large blocks live           %14llu  (%llu bytes)\n", U(s->large_count), U(s->large_bytes));
    put(o, "# large mappings cached       %14llu  (%llu bytes)\n", U(s->large_cached), U(s->large_cached_bytes));
    put(o, "\n# OS calls: reserve (mmap)    %14llu\n", U(s->os_reserve_calls));
    put(o, "# OS calls: release (munmap)  %14llu\n", U(s->os_release_calls));
    put(o, "# OS calls: purge (madvise)   %14llu\n", U(s->os_purge_calls));
    put(o, "# OS calls: remap (mremap)    %14llu\n", U(s->os_remap_calls));
    put(o, "# OS calls: failed            %14llu\n", U(s->os_failures));
    put(o, "# bytes mapped now / peak     %14llu / %llu\n", U(s->os_bytes_reserved), U(s->os_bytes_peak));
    put(o, "\n# heaps active / abandoned    %14llu / %llu\n", U(s->heaps_active), U(s->heaps_abandoned));
    put(o, "# frees from other threads    %14llu\n", U(s->remote_frees));
    put(o, "# foreign frees ignored       %14llu\n", U(s->foreign_frees_ignored));
    put(o, "# metadata bytes              %14llu\n", U(s->meta_bytes));
    format_objects_text(o);
}

static void format_json(out *o, const om_stats *s) {
    put(o, "{\"version\": \"%s\", \"classes\": [", OM_VERSION_STRING);
    const char *sep = "";
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        const om_class_stats *cs = &s->classes[c];
        put(o,
            "%s\n  {\"class\": %u, \"block_size\": %u, \"blocks_per_pool\": %u, \"pools\": %llu, "
            "\"full_pools\": %llu, \"blocks_used\": %llu, \"blocks_free\": %llu}",
            sep, c, cs->block_size, cs->blocks_per_pool, U(cs->pools), U(cs->full_pools), U(cs->blocks_used),
            U(cs->blocks_free));
        sep = ",";
    }
    put(o, "\n],\n");
#define F(name) put(o, " \"" #name "\": %llu%s\n", U(s->name), last ? "" : ",")
    int last = 0;
    F(arenas_allocated); F(arenas_reclaimed); F(arenas_highwater); F(arenas_current);
    F(small_arenas); F(medium_arenas); F(pools_total); F(pools_empty); F(pools_purged);
    F(bytes_in_use); F(bytes_free_blocks); F(bytes_empty_pools); F(bytes_pool_headers);
    F(bytes_quantisation); F(bytes_arena_mapped); F(large_count); F(large_bytes);
    F(large_cached); F(large_cached_bytes); F(os_reserve_calls); F(os_release_calls);
    F(os_purge_calls); F(os_failures); F(os_bytes_reserved); F(os_bytes_peak);
    F(heaps_active); F(heaps_abandoned); F(remote_frees); F(meta_bytes);
    F(os_remap_calls);
    F(foreign_frees_ignored);
#undef F
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
