/*
 * bench_alloc.c — entry point of the allocator benchmark.
 *
 *   bench_alloc --alloc NAME --work NAME [--trace FILE] [--quick]
 *               [--passes N] [--seed N]
 *
 * Picks one allocator (objmem, pymalloc, glibc, mimalloc, jemalloc,
 * tcmalloc), runs one workload (churn, lifo, fifo, frag, trace) once, and
 * prints one line of key=value pairs on stdout, e.g.
 *
 *   alloc=glibc work=churn ns_per_op=41.20 ops=40000000 time_s=1.6480
 *   base_rss_kb=9000 peak_rss_kb=120000 final_rss_kb=15000 ... malloc_lib=libc.so.6
 *
 * mimalloc, jemalloc and tcmalloc are not linked in: the driver (run.sh)
 * starts this binary with LD_PRELOAD of their shared library and the
 * binary calls plain malloc/free.  The preload is checked at start (the
 * allocator's own symbol must be present and `malloc` must resolve into
 * its library); for every other allocator no peer may be preloaded.
 */
#include "bench.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef BENCH_HAVE_OBJMEM
#include "objmem.h"
#endif

/* Peers that must arrive by LD_PRELOAD: a symbol only they export (NULL:
 * told by malloc's library alone), and a substring of their library's
 * file name.  objmem-secure is objmem's hardened drop-in,
 * libobjmem-malloc-secure.so. */
static const struct preload_peer {
    const char *name;
    const char *symbol;
    const char *libpart;
} peers[] = {
    {"mimalloc", "mi_malloc", "mimalloc"},
    {"jemalloc", "mallocx", "jemalloc"},
    {"tcmalloc", "tc_malloc", "tcmalloc"},
    {"objmem-secure", NULL, "objmem-malloc-secure"},
};
#define NPEERS (sizeof peers / sizeof peers[0])

static const struct workload {
    const char *name;
    bench_workload_fn fn;
} workloads[] = {
    {"churn", bench_work_churn},
    {"lifo", bench_work_lifo},
    {"fifo", bench_work_fifo},
    {"frag", bench_work_frag},
    {"trace", bench_work_trace},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static void usage(FILE *f)
{
    fputs("usage: bench_alloc --alloc NAME --work NAME [--trace FILE] [--quick]\n"
          "                   [--passes N] [--seed N]\n"
          "  allocators: objmem pymalloc glibc mimalloc jemalloc tcmalloc objmem-secure\n"
          "              (mimalloc/jemalloc/tcmalloc/objmem-secure need LD_PRELOAD of their .so)\n"
          "  workloads:  churn lifo fifo frag trace (trace needs --trace FILE)\n",
          f);
}

/* File name (basename) of the object that the global `malloc` resolves to. */
static const char *malloc_library(void)
{
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (!sym || !dladdr(sym, &info) || !info.dli_fname)
        return "unknown";
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

/* Fail loudly unless the LD_PRELOAD state matches the allocator asked for. */
static void check_preload(const char *alloc, const char *malloc_lib)
{
    const struct preload_peer *want = NULL;
    for (size_t i = 0; i < NPEERS; i++)
        if (strcmp(alloc, peers[i].name) == 0)
            want = &peers[i];
    for (size_t i = 0; i < NPEERS; i++) {
        int present = peers[i].symbol ? dlsym(RTLD_DEFAULT, peers[i].symbol) != NULL
                                      : strstr(malloc_lib, peers[i].libpart) != NULL;
        if (&peers[i] == want) {
            if (!present || !strstr(malloc_lib, want->libpart))
                bench_die("--alloc %s needs LD_PRELOAD of lib%s (symbol %s %s; malloc "
                          "comes from %s)",
                          alloc, want->libpart, want->symbol ? want->symbol : "malloc",
                          present ? "present" : "missing", malloc_lib);
        } else if (present) {
            bench_die("--alloc %s, but %s is preloaded (symbol %s found): unset LD_PRELOAD",
                      alloc, peers[i].name, peers[i].symbol ? peers[i].symbol : "malloc");
        }
    }
}

static void select_allocator(const char *name, bench_allocator *a)
{
    memset(a, 0, sizeof *a);
    if (strcmp(name, "objmem") == 0) {
#ifdef BENCH_HAVE_OBJMEM
        a->name = "objmem";
        a->malloc_fn = om_malloc;
        a->calloc_fn = om_calloc;
        a->realloc_fn = om_realloc;
        a->free_fn = om_free;
        return;
#else
        bench_die("this bench_alloc was built without objmem (peers-only build)");
#endif
    }
    if (strcmp(name, "pymalloc") == 0) {
        if (bench_pymalloc_init(a) != 0)
            bench_die("cannot start CPython for pymalloc");
        return;
    }
    int libc_api = strcmp(name, "glibc") == 0;
    for (size_t i = 0; i < NPEERS; i++)
        libc_api |= strcmp(name, peers[i].name) == 0;
    if (!libc_api) {
        usage(stderr);
        bench_die("unknown allocator '%s'", name);
    }
    a->name = name;
    a->malloc_fn = malloc;
    a->calloc_fn = calloc;
    a->realloc_fn = realloc;
    a->free_fn = free;
}

static long parse_long(const char *opt, const char *s)
{
    char *end;
    long v = strtol(s, &end, 0);
    if (!*s || *end || v < 0)
        bench_die("%s: bad number '%s'", opt, s);
    return v;
}

int main(int argc, char **argv)
{
    const char *alloc = NULL, *work = NULL;
    bench_params params = {0, NULL, 0, 0x9E3779B97F4A7C15ULL};

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has_arg = i + 1 < argc;
        if (strcmp(o, "--alloc") == 0 && has_arg)
            alloc = argv[++i];
        else if (strcmp(o, "--work") == 0 && has_arg)
            work = argv[++i];
        else if (strcmp(o, "--trace") == 0 && has_arg)
            params.trace_path = argv[++i];
        else if (strcmp(o, "--passes") == 0 && has_arg)
            params.passes = parse_long(o, argv[++i]);
        else if (strcmp(o, "--seed") == 0 && has_arg)
            params.seed = (uint64_t)parse_long(o, argv[++i]) | 1;
        else if (strcmp(o, "--quick") == 0)
            params.quick = 1;
        else if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            bench_die("unknown or incomplete option '%s'", o);
        }
    }
    if (!alloc || !work) {
        usage(stderr);
        bench_die("--alloc and --work are required");
    }

    const struct workload *w = NULL;
    for (size_t i = 0; i < NWORKLOADS; i++)
        if (strcmp(work, workloads[i].name) == 0)
            w = &workloads[i];
    if (!w) {
        usage(stderr);
        bench_die("unknown workload '%s'", work);
    }

    const char *malloc_lib = malloc_library();
    check_preload(alloc, malloc_lib);
    bench_allocator a;
    select_allocator(alloc, &a);

    bench_result r;
    memset(&r, 0, sizeof r);
    r.after_free90_kb = -1;
    if (w->fn(&a, &params, &r) != 0)
        bench_die("workload %s failed", work);

    double ns_per_op = r.ops ? (double)r.ns / (double)r.ops : 0.0;
    printf("alloc=%s work=%s ns_per_op=%.3f ops=%llu time_s=%.4f base_rss_kb=%ld "
           "peak_rss_kb=%ld final_rss_kb=%ld",
           a.name, w->name, ns_per_op, (unsigned long long)r.ops, (double)r.ns / 1e9,
           r.base_rss_kb, r.peak_rss_kb, r.final_rss_kb);
    if (r.after_free90_kb >= 0)
        printf(" rss_after_free90_kb=%ld", r.after_free90_kb);
    printf(" extra=%ld quick=%d malloc_lib=%s chk=%llu\n", r.extra, params.quick, malloc_lib,
           (unsigned long long)r.checksum);
    return 0;
}
