/*
 * bench_gc.c — objmem's cycle collector against CPython's gc.collect()
 * and Boehm GC's GC_gcollect() on the same object graphs.
 *
 *   bench_gc [--nodes N] [--old N] [--young-cycles N] [--young-reps N]
 *            [--rounds N] [--quick] [--only ring,random,tree,young]
 *            [--sides objmem,cpython,boehm] [--hold root,list]
 *            [--state live,garbage] [--clock cpu|wall] [--seed S]
 *            [--boehm-warmup K] [--om-refs declared|hook|traverse] [--no-fork]
 *            [--out DIR]
 *
 * Graphs (gc_bench.h): ring, random (out-degree 2), tree (binary, with
 * parent pointers), N nodes each (default 1 M), node 0 the root.  For
 * each graph and each way of holding it (--hold: only the root is
 * referenced from outside, or a list of all the nodes is) two rows:
 * "live" (the hold is kept: everything survives) and "garbage" (the hold
 * is dropped before the collection: the collection finds and frees every
 * node).  Then the young-collection rows (--only young): an old heap of 0
 * or --old nodes (default 3 M, a live ring promoted by a full collection),
 * then --young-cycles (default 10 k) garbage cycles of 2 new nodes and a
 * timed generation-0 collection, --young-reps times (default 5, median
 * kept); "young+refs" has each young node also refer to a random old
 * node.  Boehm is in the full rows only (it is not generational here).
 *
 * Every measurement runs in a fresh child process (fork of this one, so
 * each collector starts from an empty heap and no run inherits another's
 * free lists or caches): build the graph, drop the external references,
 * time one collection.  CPython is initialised once in the parent
 * (gc_py.c).  Rounds are interleaved: in every round each row runs once
 * per side, the sides in an order rotated from row to row and round to
 * round.  The tables give medians over the rounds on the thread's CPU
 * clock (--clock wall for the wall clock; both are recorded), in ms and
 * ns per node (per young object for the young rows), and CPython's median
 * / objmem's median (above 1: objmem is faster).
 *
 * --no-fork measures in this process instead, one measurement after
 * the other on the same heaps: for profilers that do not follow forks
 * well (bench/gc.sh --profile runs one collection that way).
 *
 * With --out DIR: DIR/gc.json, DIR/gc.md (the tables in markdown) and
 * DIR/gc-raw.txt (one line per measurement).  Exit status 3 if a
 * collector reported an unexpected number of unreachable objects, 2 on a
 * usage or setup error, 1 if a measurement failed.
 */
#include "bench.h"
#include "gc_bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { SIDE_OM, SIDE_PY, SIDE_BOEHM, NSIDES };
static const char *const side_name[NSIDES] = {"objmem", "cpython", "boehm"};
static const char *const side_title[NSIDES] = {"objmem", "CPython", "Boehm"};

enum { CLOCK_CPU, CLOCK_WALL };

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("bench_gc: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* ---------------------------------------------------------- clocks */

uint64_t gcb_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t gcb_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long minflt_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void gcb_keep_median(gcb_meas *m, const gcb_meas *reps, int n)
{
    uint64_t cpu[64], wall[64], flt[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++) {
        cpu[i] = reps[i].cpu_ns;
        wall[i] = reps[i].wall_ns;
        flt[i] = (uint64_t)reps[i].minflt;
    }
    qsort(cpu, (size_t)n, sizeof cpu[0], cmp_u64);
    qsort(wall, (size_t)n, sizeof wall[0], cmp_u64);
    qsort(flt, (size_t)n, sizeof flt[0], cmp_u64);
    m->cpu_ns = cpu[n / 2];
    m->wall_ns = wall[n / 2];
    m->minflt = (long)flt[n / 2];
}

/* perf's control FIFOs (perf record --control=fifo:CTL,ACK -D -1). */
static int perf_ctl = -2, perf_ack = -2;

static void perf_cmd(const char *cmd)
{
    if (perf_ctl == -2) {
        const char *c = getenv("BENCH_PERF_CTL"), *a = getenv("BENCH_PERF_ACK");
        perf_ctl = perf_ack = -1;
        if (c && *c && a && *a) {
            perf_ctl = open(c, O_WRONLY | O_CLOEXEC);
            perf_ack = open(a, O_RDONLY | O_CLOEXEC);
            if (perf_ctl < 0 || perf_ack < 0)
                die("cannot open the perf control FIFOs %s, %s: %s", c, a, strerror(errno));
        }
    }
    if (perf_ctl < 0)
        return;
    if (write(perf_ctl, cmd, strlen(cmd)) < 0)
        die("perf control: %s", strerror(errno));
    char buf[16];
    if (read(perf_ack, buf, sizeof buf) <= 0)
        die("perf control: no acknowledgement");
}

void gcb_begin(gcb_clock *c, int main_one)
{
    if (main_one)
        perf_cmd("enable\n");
    c->minflt = minflt_now();
    c->wall = gcb_wall_ns();
    c->cpu = gcb_cpu_ns();
}

void gcb_end(const gcb_clock *c, gcb_meas *m)
{
    uint64_t cpu = gcb_cpu_ns(), wall = gcb_wall_ns();
    m->cpu_ns = cpu - c->cpu;
    m->wall_ns = wall - c->wall;
    m->minflt = minflt_now() - c->minflt;
    if (perf_ctl >= 0)
        perf_cmd("disable\n");
}

/* ---------------------------------------------------------- graphs */

static uint32_t *edge_array(size_t n, unsigned nslots)
{
    size_t bytes = (n ? n : 1) * nslots * sizeof(uint32_t);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap of %zu bytes: %s", bytes, strerror(errno));
    return p;
}

static void make_ring(gcb_graph *g, const char *name, size_t n)
{
    uint32_t *e = edge_array(n, 2);
    for (size_t i = 0; i < n; i++) {
        e[2 * i] = (uint32_t)((i + 1) % n);
        e[2 * i + 1] = (uint32_t)((i + n - 1) % n);
    }
    *g = (gcb_graph){name, n, 2, e};
}

static void make_random(gcb_graph *g, size_t n, uint64_t seed)
{
    uint32_t *e = edge_array(n, 2);
    uint32_t *perm = edge_array(n, 1);
    uint64_t rng = seed;
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
        size_t j = bench_below((uint32_t)(bench_rng(&rng) >> 32), (uint32_t)i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (size_t k = 0; k < n; k++)
        e[2 * (size_t)perm[k]] = perm[(k + 1) % n];
    for (size_t i = 0; i < n; i++)
        e[2 * i + 1] = bench_below((uint32_t)(bench_rng(&rng) >> 32), (uint32_t)n);
    munmap(perm, n * sizeof(uint32_t));
    *g = (gcb_graph){"random", n, 2, e};
}

static void make_tree(gcb_graph *g, size_t n)
{
    uint32_t *e = edge_array(n, 3);
    for (size_t i = 0; i < n; i++) {
        e[3 * i] = 2 * i + 1 < n ? (uint32_t)(2 * i + 1) : GCB_NONE;
        e[3 * i + 1] = 2 * i + 2 < n ? (uint32_t)(2 * i + 2) : GCB_NONE;
        e[3 * i + 2] = i ? (uint32_t)((i - 1) / 2) : GCB_NONE;
    }
    *g = (gcb_graph){"tree", n, 3, e};
}

/* ---------------------------------------------------------- rows */

enum { ROW_FULL, ROW_YOUNG };

typedef struct row {
    char graph[24];
    const char *held;    /* "root", "list", "-" */
    char state[24];
    int kind;
    const gcb_graph *g;  /* ROW_FULL */
    int hold;            /* GCB_HOLD_* */
    int garbage;
    gcb_young y;         /* ROW_YOUNG */
    size_t objs;         /* denominator of ns/node */
    long expect;         /* unreachable objects the collection must report */
    unsigned sides;      /* bit per side */
} row;

#define MAX_ROWS 24
static row rows[MAX_ROWS];
static int nrows;

static int py_ready;
static int no_fork;  /* --no-fork: measure in this process (for profilers) */

static int measure_in_child(const row *r, int side, gcb_meas *m)
{
    if (r->kind == ROW_FULL) {
        switch (side) {
        case SIDE_OM: return gcb_om_full(r->g, r->hold, r->garbage, m);
        case SIDE_PY: return gcb_py_full(r->g, r->hold, r->garbage, m);
        default: return gcb_boehm_full(r->g, r->hold, r->garbage, m);
        }
    }
    return side == SIDE_OM ? gcb_om_young(&r->y, m) : gcb_py_young(&r->y, m);
}

/* Fork, measure in the child, bring the record back through a pipe. */
static int run_one(const row *r, int side, gcb_meas *out)
{
    if (no_fork) {
        memset(out, 0, sizeof *out);
        out->found = -1;
        return measure_in_child(r, side, out);
    }
    int fd[2];
    if (pipe(fd) != 0)
        die("pipe: %s", strerror(errno));
    fflush(NULL);
    if (py_ready)
        gcb_py_before_fork();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        if (py_ready)
            gcb_py_after_fork(1);
        close(fd[0]);
        gcb_meas m;
        memset(&m, 0, sizeof m);
        m.found = -1;
        int rc = measure_in_child(r, side, &m);
        if (rc == 0 && write(fd[1], &m, sizeof m) != (ssize_t)sizeof m)
            rc = -1;
        fflush(NULL);
        _exit(rc == 0 ? 0 : 1);
    }
    if (py_ready)
        gcb_py_after_fork(0);
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *out) {
        ssize_t k = read(fd[0], (char *)out + got, sizeof *out - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof *out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            fprintf(stderr, "bench_gc: %s %s/%s: child killed by signal %d\n", side_name[side],
                    r->graph, r->state, WTERMSIG(status));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- statistics */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct summary {
    int n;
    double med, min, max; /* ns per collection */
} summary;

static summary summarize(const double *v, int n)
{
    summary s = {0, 0, 0, 0};
    double t[256];
    int k = 0;
    for (int i = 0; i < n && k < 256; i++)
        if (v[i] >= 0)
            t[k++] = v[i];
    if (!k)
        return s;
    qsort(t, (size_t)k, sizeof t[0], cmp_double);
    s.n = k;
    s.min = t[0];
    s.max = t[k - 1];
    s.med = k % 2 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
    return s;
}

/* ---------------------------------------------------------- main */

static size_t parse_count(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end == 'k' || *end == 'K')
        v *= 1e3, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1e6, end++;
    if (errno || *end || v < 0 || v > 4e9)
        die("%s: bad count '%s'", opt, s);
    return (size_t)v;
}

static int in_list(const char *list, const char *name)
{
    if (!list)
        return 1;
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == len && !strncmp(p, name, len))
            return 1;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

static void check_list(const char *opt, const char *list, const char *const *names, int n)
{
    if (!list)
        return;
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        int ok = 0;
        for (int i = 0; i < n; i++)
            if (strlen(names[i]) == l && !strncmp(p, names[i], l))
                ok = 1;
        if (!ok)
            die("%s: unknown name '%.*s'", opt, (int)l, p);
        if (!c)
            break;
        p = c + 1;
    }
}

static void fmt_count(char *buf, size_t cap, size_t n)
{
    if (n >= 1000000 && n % 100000 == 0)
        snprintf(buf, cap, n % 1000000 ? "%.1fM" : "%.0fM", (double)n / 1e6);
    else if (n >= 1000 && n % 100 == 0)
        snprintf(buf, cap, n % 1000 ? "%.1fk" : "%.0fk", (double)n / 1e3);
    else
        snprintf(buf, cap, "%zu", n);
}

static void usage(FILE *f)
{
    fputs("usage: bench_gc [--nodes N] [--old N] [--young-cycles N] [--young-reps N] [--rounds N] [--quick]\n"
          "                [--only ring,random,tree,young] [--sides objmem,cpython,boehm]\n"
          "                [--hold root,list] [--state live,garbage] [--clock cpu|wall] [--seed S]\n"
          "                [--boehm-warmup K] [--om-refs declared|hook|traverse] [--no-fork]\n"
          "                [--out DIR]\n",
          f);
}

int main(int argc, char **argv)
{
    size_t nodes = 1000000, old_n = 3000000, cycles = 10000;
    int young_reps = 5;
    int rounds = 0, quick = 0, clk = CLOCK_CPU;
    const char *only = NULL, *sides_opt = NULL, *out_dir = NULL, *hold_opt = NULL, *state_opt = NULL;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int set_nodes = 0, set_old = 0, set_cycles = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!v) die("%s needs a value", a); i++; } while (0)
        if (!strcmp(a, "--nodes")) { NEED(); nodes = parse_count(a, v); set_nodes = 1; }
        else if (!strcmp(a, "--old")) { NEED(); old_n = parse_count(a, v); set_old = 1; }
        else if (!strcmp(a, "--young-cycles")) { NEED(); cycles = parse_count(a, v); set_cycles = 1; }
        else if (!strcmp(a, "--young-reps")) { NEED(); young_reps = atoi(v); if (young_reps < 1 || young_reps > 64) die("--young-reps: 1..64"); }
        else if (!strcmp(a, "--rounds")) { NEED(); rounds = atoi(v); if (rounds < 1 || rounds > 256) die("--rounds: 1..256"); }
        else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--no-fork")) no_fork = 1;
        else if (!strcmp(a, "--om-no-refs")) gcb_om_refs = GCB_OM_TRAVERSE;
        else if (!strcmp(a, "--om-refs")) {
            NEED();
            if (!strcmp(v, "declared")) gcb_om_refs = GCB_OM_DECLARED;
            else if (!strcmp(v, "hook")) gcb_om_refs = GCB_OM_HOOK;
            else if (!strcmp(v, "traverse")) gcb_om_refs = GCB_OM_TRAVERSE;
            else die("--om-refs: declared, hook or traverse");
        }
        else if (!strcmp(a, "--only")) { NEED(); only = v; }
        else if (!strcmp(a, "--sides")) { NEED(); sides_opt = v; }
        else if (!strcmp(a, "--hold")) { NEED(); hold_opt = v; }
        else if (!strcmp(a, "--state")) { NEED(); state_opt = v; }
        else if (!strcmp(a, "--boehm-warmup")) { NEED(); gcb_boehm_warmup = atoi(v); if (gcb_boehm_warmup < 0) die("--boehm-warmup: 0 or more"); }
        else if (!strcmp(a, "--clock")) {
            NEED();
            if (!strcmp(v, "cpu")) clk = CLOCK_CPU;
            else if (!strcmp(v, "wall")) clk = CLOCK_WALL;
            else die("--clock: cpu or wall");
        }
        else if (!strcmp(a, "--seed")) { NEED(); seed = strtoull(v, NULL, 0); if (!seed) seed = 1; }
        else if (!strcmp(a, "--out")) { NEED(); out_dir = v; }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else { usage(stderr); die("unknown option %s", a); }
#undef NEED
    }
    if (quick) {
        if (!set_nodes) nodes = 100000;
        if (!set_old) old_n = 300000;
        if (!set_cycles) cycles = 2000;
    }
    if (!rounds)
        rounds = quick ? 2 : 5;
    if (nodes < 2)
        die("--nodes: at least 2");
    if (cycles < 1)
        die("--young-cycles: at least 1");
    static const char *const graph_names[] = {"ring", "random", "tree", "young"};
    check_list("--only", only, graph_names, 4);
    check_list("--sides", sides_opt, side_name, NSIDES);
    static const char *const hold_names[] = {"root", "list"};
    check_list("--hold", hold_opt, hold_names, 2);
    static const char *const state_names[] = {"live", "garbage"};
    check_list("--state", state_opt, state_names, 2);
    unsigned want = 0;
    for (int s = 0; s < NSIDES; s++)
        if (in_list(sides_opt, side_name[s]))
            want |= 1u << s;
    if ((want & (1u << SIDE_BOEHM)) && !gcb_boehm_available()) {
        if (sides_opt)
            die("Boehm GC asked for, but bench_gc was built without libgc (install libgc-dev)");
        fprintf(stderr, "bench_gc: built without libgc: no Boehm column\n");
        want &= ~(1u << SIDE_BOEHM);
    }

    /* The graphs, built once here and shared with the children. */
    static gcb_graph g_ring, g_random, g_tree, g_old, g_empty;
    make_ring(&g_ring, "ring", nodes);
    make_random(&g_random, nodes, seed);
    make_tree(&g_tree, nodes);
    const gcb_graph *graphs[3] = {&g_ring, &g_random, &g_tree};
    for (int gi = 0; gi < 3; gi++) {
        if (!in_list(only, graphs[gi]->name))
            continue;
        for (int rk = 0; rk < 4; rk++) {
            int hold = rk / 2, garbage = rk % 2;
            if (!in_list(hold_opt, hold_names[hold]) || !in_list(state_opt, state_names[garbage]))
                continue;
            row *r = &rows[nrows++];
            snprintf(r->graph, sizeof r->graph, "%s", graphs[gi]->name);
            snprintf(r->state, sizeof r->state, "%s", garbage ? "garbage" : "live");
            r->kind = ROW_FULL;
            r->g = graphs[gi];
            r->hold = hold;
            r->held = hold_names[hold];
            r->garbage = garbage;
            r->objs = nodes;
            r->expect = garbage ? (long)nodes : 0;
            r->sides = want;
        }
    }
    uint32_t *refs = NULL;
    if (in_list(only, "young") && (want & ((1u << SIDE_OM) | (1u << SIDE_PY)))) {
        make_ring(&g_old, "ring", old_n);
        g_empty = (gcb_graph){"ring", 0, 2, NULL};
        refs = edge_array(2 * cycles, 1);
        uint64_t rng = seed ^ 0xABCDEFull;
        for (size_t i = 0; i < 2 * cycles; i++)
            refs[i] = old_n ? bench_below((uint32_t)(bench_rng(&rng) >> 32), (uint32_t)old_n) : 0;
        char oc[16];
        fmt_count(oc, sizeof oc, old_n);
        for (int v = 0; v < 3; v++) {
            if (v == 2 && !old_n)
                break;
            row *r = &rows[nrows++];
            snprintf(r->graph, sizeof r->graph, "%s", v == 2 ? "young+refs" : "young");
            if (v == 0)
                snprintf(r->state, sizeof r->state, "old 0");
            else
                snprintf(r->state, sizeof r->state, "old %s", oc);
            r->kind = ROW_YOUNG;
            r->held = "root";
            r->y.old = v == 0 ? &g_empty : &g_old;
            r->y.cycles = cycles;
            r->y.oldrefs = v == 2;
            r->y.refs = refs;
            r->y.reps = young_reps;
            r->objs = 2 * cycles;
            r->expect = (long)(2 * cycles);
            r->sides = want & ((1u << SIDE_OM) | (1u << SIDE_PY));
        }
    }
    if (!nrows)
        die("nothing to run");

    if (want & (1u << SIDE_PY)) {
        if (gcb_py_init() != 0)
            die("cannot start CPython");
        py_ready = 1;
    }

    /* meas[row][side][round] */
    static gcb_meas meas[MAX_ROWS][NSIDES][256];
    static int ok[MAX_ROWS][NSIDES][256];
    FILE *raw = NULL;
    char path[4096];
    if (out_dir) {
        mkdir(out_dir, 0777);
        snprintf(path, sizeof path, "%s/gc-raw.txt", out_dir);
        if (!(raw = fopen(path, "w")))
            die("%s: %s", path, strerror(errno));
    }

    int total = 0, count = 0, failures = 0, mismatches = 0;
    for (int j = 0; j < nrows; j++)
        total += rounds * __builtin_popcount(rows[j].sides);
    char nc[16];
    fmt_count(nc, sizeof nc, nodes);
    fprintf(stderr, "bench_gc: %d collections, %d rounds, %s nodes, sides:%s%s%s\n", total, rounds, nc,
            want & 1 ? " objmem" : "", want & 2 ? " cpython" : "", want & 4 ? " boehm" : "");
    uint64_t start = gcb_wall_ns();
    for (int rd = 0; rd < rounds; rd++) {
        for (int j = 0; j < nrows; j++) {
            const row *r = &rows[j];
            int order[NSIDES], no = 0;
            for (int k = 0; k < NSIDES; k++) {
                int s = (k + rd + j) % NSIDES;
                if (r->sides & (1u << s))
                    order[no++] = s;
            }
            for (int k = 0; k < no; k++) {
                int s = order[k];
                gcb_meas *m = &meas[j][s][rd];
                count++;
                if (run_one(r, s, m) != 0) {
                    failures++;
                    fprintf(stderr, "bench_gc: FAILED %s/%s on %s (round %d)\n", r->graph, r->state,
                            side_name[s], rd + 1);
                    if (raw)
                        fprintf(raw, "round=%d graph=%s hold=%s state=%s side=%s status=failed\n", rd + 1,
                                r->graph, r->held, r->state, side_name[s]);
                    continue;
                }
                ok[j][s][rd] = 1;
                int bad;
                if (s == SIDE_BOEHM) /* measured from the heap size: approximate */
                    bad = r->expect ? m->found < r->expect * 9 / 10 : m->found > (long)r->objs / 100;
                else
                    bad = m->found != r->expect;
                if (bad) {
                    mismatches++;
                    fprintf(stderr, "bench_gc: CHECK %s/%s on %s: found %ld unreachable, expected %ld\n",
                            r->graph, r->state, side_name[s], m->found, r->expect);
                }
                if (raw)
                    fprintf(raw,
                            "round=%d graph=%s hold=%s state=%s side=%s objs=%zu cpu_ns=%llu wall_ns=%llu "
                            "base_cpu_ns=%llu build_ns=%llu found=%ld expect=%ld minflt=%ld node_bytes=%llu%s\n",
                            rd + 1, r->graph, r->held, r->state, side_name[s], r->objs, (unsigned long long)m->cpu_ns,
                            (unsigned long long)m->wall_ns, (unsigned long long)m->base_cpu_ns,
                            (unsigned long long)m->build_ns, m->found, r->expect, m->minflt,
                            (unsigned long long)m->node_bytes, bad ? " check=MISMATCH" : "");
                fprintf(stderr, "[%3d/%d %4.0fs] round %d %-10s %-4s %-8s %-7s %9.3f ms %7.1f ns/node\n", count,
                        total, (double)(gcb_wall_ns() - start) / 1e9, rd + 1, r->graph, r->held, r->state, side_name[s],
                        (double)(clk == CLOCK_CPU ? m->cpu_ns : m->wall_ns) / 1e6,
                        (double)(clk == CLOCK_CPU ? m->cpu_ns : m->wall_ns) / (double)r->objs);
            }
        }
    }
    if (raw)
        fclose(raw);

    /* ------------------------------------------------------ tables */
    summary sum[2][MAX_ROWS][NSIDES];
    summary base[MAX_ROWS][NSIDES];
    for (int j = 0; j < nrows; j++) {
        for (int s = 0; s < NSIDES; s++) {
            double v[2][256], b[256];
            for (int rd = 0; rd < rounds; rd++) {
                int have = ok[j][s][rd];
                v[CLOCK_CPU][rd] = have ? (double)meas[j][s][rd].cpu_ns : -1;
                v[CLOCK_WALL][rd] = have ? (double)meas[j][s][rd].wall_ns : -1;
                b[rd] = have ? (double)meas[j][s][rd].base_cpu_ns : -1;
            }
            sum[CLOCK_CPU][j][s] = summarize(v[CLOCK_CPU], rounds);
            sum[CLOCK_WALL][j][s] = summarize(v[CLOCK_WALL], rounds);
            base[j][s] = summarize(b, rounds);
        }
    }

    FILE *md = NULL, *js = NULL;
    if (out_dir) {
        snprintf(path, sizeof path, "%s/gc.md", out_dir);
        if (!(md = fopen(path, "w")))
            die("%s: %s", path, strerror(errno));
        snprintf(path, sizeof path, "%s/gc.json", out_dir);
        if (!(js = fopen(path, "w")))
            die("%s: %s", path, strerror(errno));
    }
    char oc[16], yc[16];
    fmt_count(oc, sizeof oc, old_n);
    fmt_count(yc, sizeof yc, cycles);
    if (md) {
        fprintf(md, "# bench_gc: full and young collections, objmem vs CPython vs Boehm\n\n");
        fprintf(md, "objmem %s; CPython %.6s; Boehm GC %s. %s nodes per graph, %d rounds, each collection "
                    "in a fresh child process. Medians.\n\n",
                gcb_om_version(), py_ready ? gcb_py_version() : "-", gcb_boehm_version(), nc, rounds);
    }
    for (int pass = 0; pass < 2; pass++) {
        int c = pass == 0 ? clk : !clk;
        const char *cname = c == CLOCK_CPU ? "thread CPU time" : "wall-clock time";
        printf("\n%s (medians of %d rounds, %s)%s\n", pass == 0 ? "Full and young collections" : "Same runs",
               rounds, cname, pass == 0 ? "" : "");
        printf("%-10s %-4s %-8s %6s | %9s %8s | %9s %8s | %9s %8s | %8s\n", "graph", "held", "state", "N", "objmem ms",
               "ns/node", "CPy ms", "ns/node", "Boehm ms", "ns/node", "CPy/om");
        printf("-------------------------------------------------------------------------------------------------------\n");
        if (md) {
            fprintf(md, "## %s%s\n\n", cname, pass == 0 ? " (main table)" : "");
            fprintf(md, "| graph | held by | state | N | objmem ms | ns/node | CPython ms | ns/node | Boehm ms | "
                        "ns/node | CPython/objmem |\n");
            fprintf(md, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        }
        for (int j = 0; j < nrows; j++) {
            const row *r = &rows[j];
            char n_s[16];
            fmt_count(n_s, sizeof n_s, r->objs);
            char cell[NSIDES][2][24];
            for (int s = 0; s < NSIDES; s++) {
                const summary *x = &sum[c][j][s];
                if (!x->n) {
                    snprintf(cell[s][0], 24, "-");
                    snprintf(cell[s][1], 24, "-");
                } else {
                    snprintf(cell[s][0], 24, "%.2f", x->med / 1e6);
                    snprintf(cell[s][1], 24, "%.1f", x->med / (double)r->objs);
                }
            }
            char ratio[24] = "-";
            if (sum[c][j][SIDE_OM].n && sum[c][j][SIDE_PY].n)
                snprintf(ratio, sizeof ratio, "%.2f", sum[c][j][SIDE_PY].med / sum[c][j][SIDE_OM].med);
            printf("%-10s %-4s %-8s %6s | %9s %8s | %9s %8s | %9s %8s | %8s\n", r->graph, r->held, r->state, n_s,
                   cell[0][0], cell[0][1], cell[1][0], cell[1][1], cell[2][0], cell[2][1], ratio);
            if (md)
                fprintf(md, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->graph, r->held,
                        r->state, n_s,
                        cell[0][0], cell[0][1], cell[1][0], cell[1][1], cell[2][0], cell[2][1], ratio);
        }
        if (md)
            fprintf(md, "\n");
    }

    /* Young collections: old heap vs none. */
    int young_rows[3] = {-1, -1, -1};
    for (int j = 0; j < nrows; j++)
        if (rows[j].kind == ROW_YOUNG)
            young_rows[rows[j].y.oldrefs ? 2 : rows[j].y.old->n ? 1 : 0] = j;
    if (young_rows[0] >= 0 && young_rows[1] >= 0) {
        printf("\nYoung collection (%s 2-node garbage cycles), %s-node old heap vs none (%s):\n", yc, oc,
               clk == CLOCK_CPU ? "CPU" : "wall");
        if (md)
            fprintf(md, "## Young collection with a %s-node old heap vs an empty one\n\n"
                        "| side | old 0 ms | old %s ms | ratio (≤ 1: no cost from the old heap) |\n"
                        "| --- | ---: | ---: | ---: |\n",
                    oc, oc);
        for (int s = 0; s < 2; s++) {
            const summary *a = &sum[clk][young_rows[0]][s], *b = &sum[clk][young_rows[1]][s];
            if (!a->n || !b->n)
                continue;
            printf("  %-8s %8.3f ms -> %8.3f ms   ratio %.2f\n", side_title[s], a->med / 1e6, b->med / 1e6,
                   b->med / a->med);
            if (md)
                fprintf(md, "| %s | %.3f | %.3f | %.2f |\n", side_title[s], a->med / 1e6, b->med / 1e6,
                        b->med / a->med);
        }
        if (md)
            fprintf(md, "\n");
    }

    printf("\nEmpty-heap collection before each build (median, CPU):");
    for (int s = 0; s < NSIDES; s++) {
        for (int j = 0; j < nrows; j++)
            if (rows[j].kind == ROW_FULL && base[j][s].n) {
                printf(" %s %.3f ms", side_title[s], base[j][s].med / 1e6);
                break;
            }
    }
    printf("\n");
    if (py_ready)
        printf("CPython %s\n", gcb_py_version());
    printf("objmem %s, Boehm GC %s\n", gcb_om_version(), gcb_boehm_version());

    if (js) {
        fprintf(js, "{\n  \"benchmark\": \"bench_gc\",\n  \"objmem_version\": \"%s\",\n", gcb_om_version());
        fprintf(js, "  \"boehm_version\": \"%s\",\n", gcb_boehm_version());
        fprintf(js, "  \"nodes\": %zu, \"old_nodes\": %zu, \"young_cycles\": %zu, \"rounds\": %d, "
                    "\"young_reps\": %d, \"quick\": %d, \"seed\": %llu, \"clock\": \"%s\", \"boehm_warmup\": %d, \"om_refs\": \"%s\",\n",
                nodes, old_n, cycles, rounds, young_reps, quick, (unsigned long long)seed,
                clk == CLOCK_CPU ? "cpu" : "wall", gcb_boehm_warmup,
                gcb_om_refs == GCB_OM_DECLARED ? "declared" : gcb_om_refs == GCB_OM_HOOK ? "hook" : "traverse");
        fprintf(js, "  \"failures\": %d, \"mismatches\": %d,\n  \"rows\": [\n", failures, mismatches);
        for (int j = 0; j < nrows; j++) {
            const row *r = &rows[j];
            fprintf(js, "    {\"graph\": \"%s\", \"hold\": \"%s\", \"state\": \"%s\", \"objects\": %zu, \"sides\": {",
                    r->graph, r->held, r->state, r->objs);
            int first = 1;
            for (int s = 0; s < NSIDES; s++) {
                if (!sum[CLOCK_CPU][j][s].n)
                    continue;
                fprintf(js, "%s\n      \"%s\": {", first ? "" : ",", side_name[s]);
                first = 0;
                for (int c = 0; c < 2; c++) {
                    const summary *x = &sum[c][j][s];
                    fprintf(js, "\"%s\": {\"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, "
                                "\"ns_per_node\": %.2f}, ",
                            c == CLOCK_CPU ? "cpu" : "wall", x->med / 1e6, x->min / 1e6, x->max / 1e6,
                            x->med / (double)r->objs);
                }
                fprintf(js, "\"empty_heap_collect_ms\": %.4f, \"node_bytes\": %llu, \"cpu_ns\": [", base[j][s].med / 1e6,
                        (unsigned long long)meas[j][s][0].node_bytes);
                for (int rd = 0, f2 = 1; rd < rounds; rd++)
                    if (ok[j][s][rd]) {
                        fprintf(js, "%s%llu", f2 ? "" : ", ", (unsigned long long)meas[j][s][rd].cpu_ns);
                        f2 = 0;
                    }
                fprintf(js, "], \"wall_ns\": [");
                for (int rd = 0, f2 = 1; rd < rounds; rd++)
                    if (ok[j][s][rd]) {
                        fprintf(js, "%s%llu", f2 ? "" : ", ", (unsigned long long)meas[j][s][rd].wall_ns);
                        f2 = 0;
                    }
                fprintf(js, "]}");
            }
            fprintf(js, "\n    }");
            if (sum[clk][j][SIDE_OM].n && sum[clk][j][SIDE_PY].n)
                fprintf(js, ",\n    \"cpython_over_objmem\": %.3f",
                        sum[clk][j][SIDE_PY].med / sum[clk][j][SIDE_OM].med);
            fprintf(js, "}%s\n", j + 1 < nrows ? "," : "");
        }
        fprintf(js, "  ]\n}\n");
        fclose(js);
    }
    if (md)
        fclose(md);
    if (out_dir)
        printf("results: %s/gc.json, %s/gc.md, %s/gc-raw.txt (%.0f s of runs)\n", out_dir, out_dir, out_dir,
               (double)(gcb_wall_ns() - start) / 1e9);
    if (mismatches) {
        fprintf(stderr, "bench_gc: %d collection(s) reported an unexpected number of unreachable objects\n",
                mismatches);
        return 3;
    }
    return failures ? 1 : 0;
}
