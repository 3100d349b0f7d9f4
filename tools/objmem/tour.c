/*
 * tour.c — `objmem tour [--json]`: the live allocator, explained step by
 * step.  This file runs the chapters in order and holds their helpers; the
 * chapters are in tour_pools.c (blocks, pools), tour_arenas.c (arenas, the
 * OS, large blocks), tour_objects.c (objects on top of the blocks) and
 * tour_gc.c (the cycle collector) and tour_trace.c (tracing; debug and
 * hardened modes).  The last chapter, the statistics
 * report, is here.
 *
 * The tour allocates only through objmem's public API, and the tool's own
 * bookkeeping (pointer arrays, stdio) comes from libc, so every number it
 * prints is caused by the chapter that prints it.
 *
 * --heapmap DIR: each chapter's heap as a page, DIR/NN-name.html.  The
 * chapter's snapshots go to a temporary file: one wherever the chapter
 * calls tour_heapmap_point() (before it frees what it built), one at its
 * end; the file then becomes the page (cli_heapmap_convert) and is
 * removed.
 */
#include "tour.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

void *tour_alloc(size_t size)
{
    void *p = om_malloc(size);

    if (p == NULL) {
        fprintf(stderr, "objmem tour: om_malloc(%zu) failed: %s\n", size, strerror(errno));
        exit(CLI_FAIL);
    }
    return p;
}

void tour_describe(const void *p, om_block_info *bi)
{
    int rc = om_block_describe(p, bi);

    if (rc != 0 || bi->kind == OM_BLOCK_FOREIGN) {
        fprintf(stderr, "objmem tour: om_block_describe(%p) failed on a live block (%s); "
                        "this is a bug in objmem\n", p, rc ? strerror(rc) : "kind foreign");
        exit(CLI_FAIL);
    }
}

const char *tour_kind_name(om_block_kind kind)
{
    switch (kind) {
    case OM_BLOCK_SMALL: return "small";
    case OM_BLOCK_MEDIUM: return "medium";
    case OM_BLOCK_LARGE: return "large";
    case OM_BLOCK_FOREIGN: break;
    }
    return "foreign";
}

const char *tour_state_name(om_pool_state state)
{
    switch (state) {
    case OM_POOL_EMPTY: return "empty";
    case OM_POOL_USED: return "used";
    case OM_POOL_FULL: return "full";
    }
    return "?";
}

/* Start a chapter from a heap with no spare arenas and no cached mappings,
 * so that what it shows is its own doing. */
void tour_reset_heap(void)
{
    om_trim(1);
}

om_object *tour_need(om_object *o, const char *what)
{
    if (o == NULL) {
        fprintf(stderr, "objmem tour: %s failed: %s\n", what, strerror(errno));
        exit(CLI_FAIL);
    }
    return o;
}

void tour_need_ok(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "objmem tour: %s failed: %s\n", what, strerror(rc));
        exit(CLI_FAIL);
    }
}

int64_t tour_rss_bytes(void)
{
    char buf[128];
    long long size = 0, resident = 0;
    ssize_t n;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (sscanf(buf, "%lld %lld", &size, &resident) != 2)
        return -1;
    return (int64_t)resident * (int64_t)sysconf(_SC_PAGESIZE);
}

out_val tour_rss(void)
{
    int64_t rss = tour_rss_bytes();

    return rss < 0 ? OV_NA : OV_B(rss);
}

/* Pools tile their arena (perhaps after a header): the pool size is the
 * largest power of two not above arena_size / pools. */
size_t tour_pool_size(const om_block_info *bi)
{
    size_t share, pool = 1;

    if (bi->kind == OM_BLOCK_LARGE || bi->arena_pools_total == 0)
        return 0;
    share = bi->arena_size / bi->arena_pools_total;
    while (pool * 2 <= share)
        pool *= 2;
    return pool;
}

/* ------------------------------------------------------------ the report */

static void tour_stats_report(out *o)
{
    cli_demo demo;
    char small[256], *buf;
    size_t need, live;
    int format = out_is_json(o) ? OM_REPORT_JSON : OM_REPORT_TEXT;

    tour_reset_heap();
    out_section_begin(o, "stats", "The statistics report");
    out_para(o, "Everything above is also counted, in the spirit of CPython's "
                "sys._debugmallocstats(). To give the report something to count we run "
                "the same demo pattern as 'objmem stats': about 20000 Python-sized blocks "
                "(mostly 16..64 bytes, a few medium and large), then free every third. "
                "Per class: its pools and blocks; then arenas, bytes by where they are "
                "lost, large blocks and calls to the OS; then, for the object layer, "
                "each type's counts and the collector's generations. om_stats_get() "
                "gives the allocator's numbers as a struct, om_stats_format() the "
                "whole report as text or JSON.");
    if (cli_demo_begin(&demo) != 0) {
        fprintf(stderr, "objmem tour: out of memory running the demo pattern\n");
        exit(CLI_FAIL);
    }
    tour_heapmap_point();
    /* The report walks the collector's lists only for a thread that holds
     * the runtime lock (the object chapters used it). */
    om_lock_acquire();
    need = om_stats_format(small, sizeof small, format);
    buf = malloc(need + 1);
    if (buf == NULL) {
        fprintf(stderr, "objmem tour: out of memory formatting the report\n");
        exit(CLI_FAIL);
    }
    om_stats_format(buf, need + 1, format);
    om_lock_release();
    live = demo.live;
    cli_demo_end(&demo);
    if (out_is_json(o)) {
        out_fact(o, "demo_live_blocks", NULL, OV_U(live));
        out_raw_json(o, "report", buf);
    } else {
        fputc('\n', stdout);
        fputs(buf, stdout);
        if (need > 0 && buf[need - 1] != '\n')
            fputc('\n', stdout);
    }
    free(buf);
    out_section_end(o);
}

/* ------------------------------------------------------------ heap maps */

const char cli_tour_help[] =
    "options:\n"
    "  --json           the same facts as one JSON document, for tools\n"
    "  --heapmap DIR    also write DIR/NN-chapter.html: each chapter's heap as a page\n"
    "                   (snapshots where it has built its blocks, and at its end)\n"
    "  -h, --help       this message\n";

static struct {
    const char *dir;  /* NULL: no heap maps */
    char tmp[4096];
    int fd;           /* the chapter's snapshot file, -1 between chapters */
} heapmap = {NULL, "", -1};

void tour_heapmap_point(void)
{
    if (heapmap.fd >= 0)
        tour_need_ok(om_heap_snapshot_write(heapmap.fd, 0), "om_heap_snapshot_write");
}

static void heapmap_chapter_begin(void)
{
    if (heapmap.dir == NULL)
        return;
    snprintf(heapmap.tmp, sizeof heapmap.tmp, "%s/.objmem-tour-XXXXXX", heapmap.dir);
    heapmap.fd = mkstemp(heapmap.tmp);
    if (heapmap.fd < 0) {
        fprintf(stderr, "objmem tour: %s: %s\n", heapmap.tmp, strerror(errno));
        exit(CLI_FAIL);
    }
}

static void heapmap_chapter_end(size_t number, const char *name)
{
    char page[4096];
    int rc;

    if (heapmap.fd < 0)
        return;
    tour_heapmap_point();
    close(heapmap.fd);
    heapmap.fd = -1;
    snprintf(page, sizeof page, "%s/%02zu-%s.html", heapmap.dir, number, name);
    rc = cli_heapmap_convert("objmem tour", heapmap.tmp, page, NULL);
    unlink(heapmap.tmp);
    if (rc != CLI_OK)
        exit(CLI_FAIL);
}

/* --json, --heapmap DIR (an existing directory), -h. */
static int tour_parse(int argc, char **argv, int *json)
{
    struct stat st;

    *json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = 1;
        } else if (cli_is_help_option(argv[i])) {
            return cli_help("tour") == CLI_OK ? CLI_DONE : CLI_FAIL;
        } else if (strcmp(argv[i], "--heapmap") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0')
                return cli_usage_error("tour", "--heapmap needs a directory");
            heapmap.dir = argv[++i];
            if (stat(heapmap.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "objmem tour: --heapmap %s: %s\n", heapmap.dir,
                        stat(heapmap.dir, &st) != 0 ? strerror(errno) : "not a directory");
                return CLI_FAIL;
            }
        } else {
            return cli_usage_error("tour", "unknown option '%s'", argv[i]);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the tour */

static void tour_intro(out *o)
{
    out_fact(o, "tool", NULL, OV_S("objmem tour"));
    out_fact(o, "version", NULL, OV_S(om_version()));
    out_para(o, "objmem is CPython's object allocator (pymalloc) as a C library. Memory "
                "comes from the kernel in arenas; an arena is cut into pools; a pool is cut "
                "into blocks of one size. Each chapter below does one thing on the live "
                "allocator inside this process and shows what happened.");
    if (!out_is_json(o))
        printf("\n    kernel (mmap) -> arenas -> pools -> blocks -> your objects\n");
}

int cli_cmd_tour(int argc, char **argv)
{
    static const struct {
        void (*run)(out *);
        const char *name; /* its heap map: NN-name.html */
    } chapters[] = {
        {tour_size_classes, "size-classes"}, {tour_pool_life, "pool-life"},
        {tour_arena_order, "arena-order"},   {tour_arena_release, "arena-release"},
        {tour_pool_purge, "pool-purge"},     {tour_large, "large"},
        {tour_objects, "objects"},           {tour_gc, "gc"},
        {tour_trace, "tracing"},             {tour_stats_report, "stats"},
    };
    out o;
    int json, rc;

    rc = tour_parse(argc, argv, &json);
    if (rc != 0)
        return rc;
    out_init(&o, stdout, json);
    out_doc_begin(&o, "objmem tour: the live allocator, step by step");
    tour_intro(&o);
    for (size_t i = 0; i < sizeof chapters / sizeof chapters[0]; i++) {
        heapmap_chapter_begin();
        chapters[i].run(&o);
        heapmap_chapter_end(i + 1, chapters[i].name);
        fflush(stdout);
    }
    if (!json)
        printf("\nEnd of the tour. 'objmem stats' prints the report alone; the API is\n"
               "in include/objmem.h. To read next: src/alloc/pool.c and src/alloc/arena.c (the allocator),\n"
               "src/object/object.c and src/gc/gc.c (objects and the collector), examples/ (types to copy).\n");
    out_doc_end(&o);
    return CLI_OK;
}
