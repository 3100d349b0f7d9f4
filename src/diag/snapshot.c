/*
 * snapshot.c — heap snapshots (om_heap_snapshot_write): the whole heap at
 * one moment as one line of JSON, for `objmem heapmap` and its page.
 *
 *   om_stats_get ─▶ totals          (the report's counters)
 *   census (alloc/census.c) ─▶ heaps, arenas and their pools, large blocks
 *   types, gc ─▶ objects            (the public per-type and gc counters)
 *
 * Memory: the census is copied into a private anonymous mapping made with
 * mmap here, sized from a count taken first with some room to spare (made
 * again, larger, if the heap grew past it meanwhile); the text is built in
 * a fixed buffer on the stack and written out whenever it fills.  Nothing
 * comes from objmem's allocator, so the snapshot neither changes what it
 * shows nor calls malloc (the drop-in's capture thread has no heap), and
 * nothing goes through the OS layer's hooks, whose counters it reports.
 *
 * The locks the census holds cover only its copy: the formatting and the
 * writes happen after they are released.  The document's schema is in
 * objmem.h (section 4) and the README ("Heap map").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"
#include "diag/diag.h"

#define ATTEMPTS 4

static struct {
    _Atomic uint64_t first_ns; /* the first snapshot's clock reading: time_ms 0 */
    _Atomic uint64_t seq;
} snap;

/* ---- the output: os/fdbuf.c's buffer ------------------------------------------- */
typedef omi_fdbuf sink;

static void put_mem(sink *o, const char *s, size_t n) { omi_fdbuf_put(o, s, n); }

static void put(sink *o, const char *s) { put_mem(o, s, strlen(s)); }

static void put_u(sink *o, uint64_t v) {
    char d[24];
    size_t n = sizeof d;
    do
        d[--n] = (char)('0' + v % 10);
    while (v /= 10);
    put_mem(o, d + n, sizeof d - n);
}

static void put_i(sink *o, int64_t v) {
    if (v < 0)
        put(o, "-");
    put_u(o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

static void put_addr(sink *o, uintptr_t v) {
    char d[24];
    size_t n = sizeof d;
    d[--n] = '"';
    do
        d[--n] = "0123456789abcdef"[v & 15];
    while (v >>= 4);
    d[--n] = 'x';
    d[--n] = '0';
    d[--n] = '"';
    put_mem(o, d + n, sizeof d - n);
}

/* s as a JSON string; "</" is written "<\/" so that the text can sit in a
 * <script> element as it is. */
static void put_string(sink *o, const char *s, size_t n) {
    put(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7] = {'\\', (char)c, 0};
        if (c < 0x20) {
            esc[1] = 'u', esc[2] = '0', esc[3] = '0';
            esc[4] = "0123456789abcdef"[c >> 4], esc[5] = "0123456789abcdef"[c & 15];
            put_mem(o, esc, 6);
        } else if (c == '"' || c == '\\' || (c == '/' && i && s[i - 1] == '<')) {
            put_mem(o, esc, 2);
        } else {
            put_mem(o, s + i, 1);
        }
    }
    put(o, "\"");
}

/* ---- scratch memory for the census ---------------------------------------------- */
typedef struct scratch {
    void *base;
    size_t size;
} scratch;

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

/* Arrays for heaps, arenas and large blocks with room for a quarter more. */
static int scratch_make(scratch *m, omi_census *c, size_t heaps, size_t arenas, size_t large) {
    c->cap_heaps = heaps + heaps / 4 + 8;
    c->cap_arenas = arenas + arenas / 4 + 16;
    c->cap_large = large + large / 4 + 16;
    c->cap_slots = pow2_at_least(2 * (c->cap_heaps + c->cap_arenas));
    size_t sizes[4] = {c->cap_heaps * sizeof *c->heaps, c->cap_arenas * sizeof *c->arenas,
                       c->cap_large * sizeof *c->large, c->cap_slots * sizeof *c->slots};
    size_t total = 0;
    for (int i = 0; i < 4; i++)
        total += (sizes[i] + 63) & ~(size_t)63;
    void *p = omi_fail_point(OMI_FAIL_RESERVE)
                  ? MAP_FAILED
                  : mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return ENOMEM;
    m->base = p, m->size = total;
    char *q = p;
    c->heaps = (omi_census_heap *)q, q += (sizes[0] + 63) & ~(size_t)63;
    c->arenas = (omi_census_arena *)q, q += (sizes[1] + 63) & ~(size_t)63;
    c->large = (omi_census_large *)q, q += (sizes[2] + 63) & ~(size_t)63;
    c->slots = (omi_census_slot *)q;
    return 0;
}

static void scratch_drop(scratch *m) {
    if (m->base)
        munmap(m->base, m->size);
    m->base = NULL;
}

/* The census, in memory of its size; *truncated if the heap kept growing
 * past every size tried. */
static int take_census(scratch *m, omi_census *c, int *truncated) {
    size_t heaps, arenas, large;
    omi_census_need(&heaps, &arenas, &large);
    for (int attempt = 0;; attempt++) {
        int rc = scratch_make(m, c, heaps, arenas, large);
        if (rc)
            return rc;
        rc = omi_census_take(c);
        *truncated = rc != 0;
        if (rc == 0 || attempt + 1 == ATTEMPTS)
            break;
        heaps = c->nheaps, arenas = c->narenas, large = c->nlarge;
        scratch_drop(m);
    }
    c->nheaps = c->nheaps < c->cap_heaps ? c->nheaps : c->cap_heaps;
    c->narenas = c->narenas < c->cap_arenas ? c->narenas : c->cap_arenas;
    c->nlarge = c->nlarge < c->cap_large ? c->nlarge : c->cap_large;
    return 0;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the sections ------------------------------------------------------------------ */
static void put_head(sink *o, uint64_t now) {
    uint64_t first = 0;
    if (!atomic_compare_exchange_strong(&snap.first_ns, &first, now))
        now = now < first ? first : now;
    else
        first = now;
    char cmd[1024];
    size_t n = omi_process_command(cmd, sizeof cmd);
    put(o, "{\"objmem_snapshot\":1,\"version\":\"" OM_VERSION_STRING "\",\"pid\":");
    put_i(o, (int64_t)getpid());
    put(o, ",\"command\":");
    put_string(o, cmd, n);
    put(o, ",\"seq\":");
    put_u(o, atomic_fetch_add(&snap.seq, 1));
    put(o, ",\"time_ms\":");
    put_u(o, (now - first) / 1000000);
}

static void put_geometry(sink *o) {
    put(o, ",\"geometry\":{\"pool\":");
    put_u(o, OM_POOL_SIZE);
    put(o, ",\"arena\":");
    put_u(o, OM_ARENA_SIZE);
    put(o, ",\"medium_pool\":");
    put_u(o, OM_MPOOL_SIZE);
    put(o, ",\"medium_arena\":");
    put_u(o, OM_MARENA_SIZE);
    put(o, ",\"page\":");
    put_u(o, omi_os_page_size());
    put(o, "},\"classes\":[");
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        put(o, c ? "," : "");
        put_u(o, omi_class_size(c));
    }
    put(o, "]");
}

static void put_heaps(sink *o, const omi_census *c) {
    put(o, ",\"heaps\":[");
    for (size_t i = 0; i < c->nheaps; i++) {
        put(o, i ? ",{\"id\":" : "{\"id\":");
        put_u(o, c->heaps[i].id);
        put(o, c->heaps[i].state == OM_HEAP_ACTIVE ? ",\"state\":\"active\",\"thread\":"
                                                   : ",\"state\":\"abandoned\",\"thread\":");
        put_i(o, c->heaps[i].tid);
        put(o, "}");
    }
    put(o, "]");
}

static void put_arena(sink *o, const omi_census_arena *a) {
    put(o, "{\"base\":");
    put_addr(o, a->base);
    put(o, a->geom == OM_GEOM_MEDIUM ? ",\"geom\":\"medium\",\"heap\":" : ",\"geom\":\"small\",\"heap\":");
    put_i(o, a->heap);
    put(o, ",\"order\":");
    put_i(o, a->order);
    put(o, ",\"pools\":[");
    for (unsigned i = 0; i < a->npools; i++) {
        const omi_census_pool *p = &a->pools[i];
        put(o, i ? ",[" : "[");
        put_u(o, p->state);
        put(o, ",");
        put_i(o, p->cls);
        put(o, ",");
        put_u(o, p->used);
        put(o, ",");
        put_u(o, p->carved);
        put(o, ",");
        put_u(o, p->capacity);
        put(o, "]");
    }
    put(o, "]}");
}

static void put_large(sink *o, const omi_census *c) {
    put(o, "],\"large\":[");
    for (size_t i = 0; i < c->nlarge; i++) {
        const omi_census_large *l = &c->large[i];
        put(o, i ? ",{\"base\":" : "{\"base\":");
        put_addr(o, l->base);
        put(o, ",\"size\":");
        put_u(o, l->usable);
        put(o, ",\"mapped\":");
        put_u(o, l->map_size);
        put(o, ",\"resident\":");
        put_u(o, l->resident);
        put(o, l->cached ? ",\"state\":\"cached\"}" : ",\"state\":\"live\"}");
    }
    put(o, "]");
}

/* Resident bytes of the process (/proc/self/statm's second field), -1 if unknown. */
static int64_t rss_bytes(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strchr(buf, ' ');
    if (!p)
        return -1;
    int64_t pages = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (*p - '0');
    return pages * (int64_t)omi_os_page_size();
}

static void put_totals(sink *o, const om_stats *s) {
    put(o, ",\"totals\":{");
    for (size_t i = 0; i < omi_report_total_count(); i++) {
        unsigned long long v;
        const char *key = omi_report_total(i, s, &v);
        put(o, i ? ",\"" : "\"");
        put(o, key);
        put(o, "\":");
        put_u(o, v);
    }
    put(o, ",\"rss\":");
    put_i(o, rss_bytes());
    put(o, "}");
}

/* Types' counters and the collector's, read as the report reads them
 * (report.c: without the runtime lock, exact when no other thread is
 * touching objects).  bytes: live instances times the type's size. */
static void put_objects(sink *o) {
    put(o, ",\"objects\":{\"types\":[");
    int i = 0;
    for (const om_type *t = om_type_next(NULL); t; t = om_type_next(t), i++) {
        om_type_stats ts;
        om_type_get_stats(t, &ts);
        const char *name = ts.name ? ts.name : "?";
        put(o, i ? ",{\"name\":" : "{\"name\":");
        put_string(o, name, strlen(name));
        put(o, ",\"live\":");
        put_u(o, ts.live);
        put(o, ",\"bytes\":");
        put_u(o, ts.live * (uint64_t)t->size);
        put(o, "}");
    }
    long count[OM_GC_GENERATIONS];
    om_gc_gen_stats gs[OM_GC_GENERATIONS];
    om_gc_get_count(count);
    om_gc_get_stats(gs);
    put(o, "],\"gc\":{\"generations\":[");
    for (int g = 0; g < OM_GC_GENERATIONS; g++) {
        put(o, g ? "," : "");
        put_i(o, count[g]);
    }
    put(o, "],\"collections\":[");
    for (int g = 0; g < OM_GC_GENERATIONS; g++) {
        put(o, g ? "," : "");
        put_u(o, gs[g].collections);
    }
    put(o, "]}}");
}

/* ---- the document ---------------------------------------------------------------------- */
int om_heap_snapshot_write(int fd, unsigned flags) {
    if (flags != 0 || fd < 0)
        return EINVAL;
    om_stats s;
    om_stats_get(&s);
    scratch m = {NULL, 0};
    omi_census c;
    int truncated = 0, rc = take_census(&m, &c, &truncated);
    if (rc)
        return rc;
    sink o = {.fd = fd, .err = 0, .len = 0};
    put_head(&o, now_ns());
    put_geometry(&o);
    put_heaps(&o, &c);
    put(&o, ",\"arenas\":[");
    for (size_t i = 0; i < c.narenas; i++) {
        put(&o, i ? "," : "");
        put_arena(&o, &c.arenas[i]);
    }
    put_large(&o, &c);
    put_totals(&o, &s);
    put_objects(&o);
    put(&o, ",\"stop_ns\":");
    put_u(&o, c.stop_ns);
    put(&o, truncated ? ",\"truncated\":true}\n" : ",\"truncated\":false}\n");
    scratch_drop(&m);
    omi_fdbuf_flush(&o);
    return o.err;
}
