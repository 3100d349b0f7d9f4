/*
 * bench_objects.c — objmem's object layer against CPython's, in one
 * process.
 *
 *   bench_objects [--rounds N] [--warmup N] [--quick] [--only W[,W...]]
 *                 [--clock cpu|wall] [--out DIR]
 *
 * Starts CPython once (libpython3.11, Py_InitializeEx(0), pymalloc), takes
 * objmem's runtime lock, then for every round runs each workload once on
 * each side, the two sides back to back and their order alternating from
 * workload to workload and round to round.  --warmup rounds (default 1)
 * run first and are not recorded.  The workloads are in objects_om.c and
 * objects_py.c (same code on both sides); each reports nanoseconds per
 * object for one or two phases, and a checksum that must be the same on
 * both sides (a mismatch stops the run with status 3).
 *
 * Every phase is timed on two clocks: the thread's CPU time (the default
 * for the tables: it leaves out the time the thread sat descheduled, the
 * main noise on a shared machine) and the wall clock (--clock wall).  At
 * the end it prints, per row, the median ns/object of each side over the
 * rounds, min-max, and CPython's median / objmem's median (above 1: objmem
 * is faster), then the same medians on the other clock.  With --out DIR it also writes DIR/objects.json,
 * DIR/objects.md and DIR/objects-raw.txt (one line per measurement).
 */
#include "bench.h"
#include "objects.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define K 1000u
#define M 1000000u

static const struct work {
    const char *name;       /* --only name */
    enum obj_work w;
    int variant;
    int nphases;
    const char *row[OBJ_MAX_PHASES];
    const char *what[OBJ_MAX_PHASES];
    size_t n, n_quick, batch, batch_quick, reps, reps_quick;
} works[] = {
    {"float", OBJ_W_FLOAT, OBJ_V_DEFAULT, 1, {"float_freelist"},
     {"f = float(i); decref(f), N times: both sides reuse the object from their float free list"},
     10 * M, 1 * M, 0, 0, 0, 0},
    {"float_batch", OBJ_W_FLOAT_BATCH, OBJ_V_DEFAULT, 1, {"float_batch"},
     {"create 100k floats into an array, then decref all, 20 times: the free list (100) serves "
      "0.1%, the rest is the allocator"},
     0, 0, 100 * K, 100 * K, 20, 5},
    {"float_batch_nofl", OBJ_W_FLOAT_BATCH, OBJ_V_NOFL, 1, {"float_batch_nofl"},
     {"float_batch with objmem's float free-list limit set to 0 (om_type_set_freelist_limit): "
      "every object from om_malloc; CPython side unchanged"},
     0, 0, 100 * K, 100 * K, 20, 5},
    {"int", OBJ_W_INT, OBJ_V_DEFAULT, 1, {"int"},
     {"v = int(1000 + i); decref(v), N times: objmem's int has a free list of 100, CPython 3.11's "
      "int has none (pymalloc each time)"},
     10 * M, 1 * M, 0, 0, 0, 0},
    {"int_batch", OBJ_W_INT_BATCH, OBJ_V_DEFAULT, 1, {"int_batch"},
     {"create 100k ints (1000 + i) into an array, then decref all, 20 times"},
     0, 0, 100 * K, 100 * K, 20, 5},
    {"incref", OBJ_W_INCREF, OBJ_V_DEFAULT, 1, {"incref_decref"},
     {"om_incref + om_decref vs Py_INCREF + Py_DECREF on one live float, pointer made opaque "
      "before each (ns per pair)"},
     100 * M, 10 * M, 0, 0, 0, 0},
    {"list", OBJ_W_LIST, OBJ_V_DEFAULT, 2, {"list_build", "list_teardown"},
     {"append 1M tuples (2 new floats each) to a new list, decref each tuple after the append "
      "(ns per element); both cycle collectors on, with their default thresholds (objmem's "
      "runs at om_gc_poll, called once per element; CPython's inside PyTuple_New)",
      "decref the list of 1M tuples (ns per element; frees 3 objects each)"},
     1 * M, 200 * K, 0, 0, 0, 0},
    {"list_nogc", OBJ_W_LIST, OBJ_V_NOGC, 2, {"list_build_nogc", "list_teardown_nogc"},
     {"list_build with both cycle collectors off (PyGC_Disable, om_gc_disable)",
      "list_teardown with both cycle collectors off"},
     1 * M, 200 * K, 0, 0, 0, 0},
    {"dict", OBJ_W_DICT, OBJ_V_DEFAULT, 2, {"dict_set", "dict_get"},
     {"d[k] = v into a new dict for 100k str keys (hash cached) -> int values, 10 times (growth "
      "included)",
      "d[k] lookups of the 100k keys, all hits (PyDict_GetItemWithError)"},
     0, 0, 100 * K, 100 * K, 10, 2},
};
#define NWORKS (sizeof works / sizeof works[0])

static void die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int status, const char *fmt, ...)
{
    va_list ap;
    fputs("bench_objects: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

static void usage(FILE *f)
{
    fputs("usage: bench_objects [--rounds N] [--warmup N] [--quick] [--only W[,W...]]\n"
          "                     [--clock cpu|wall] [--out DIR]\n"
          "  workloads:",
          f);
    for (size_t i = 0; i < NWORKS; i++)
        fprintf(f, " %s", works[i].name);
    fputc('\n', f);
}

static long parse_count(const char *opt, const char *s, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > 100000)
        die(1, "%s: bad number '%s'", opt, s);
    return v;
}

/* ---------------------------------------------------------- statistics */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stat3 { double med, min, max; } stat3;

static stat3 stats_of(const double *v, int n)
{
    stat3 s = {0, 0, 0};
    if (n <= 0)
        return s;
    double *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp)
        die(2, "out of memory");
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    s.min = tmp[0];
    s.max = tmp[n - 1];
    s.med = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    free(tmp);
    return s;
}

/* ---------------------------------------------------------- results */

enum { SIDE_OM, SIDE_PY, NSIDES };
enum { CLOCK_CPU, CLOCK_WALL, NCLOCKS };
static const char *const clock_names[NCLOCKS] = {"cpu", "wall"};
static int clk = CLOCK_CPU; /* the clock of the main table (--clock) */

typedef struct row {
    const struct work *work;
    int phase;
    double *ns[NCLOCKS][NSIDES]; /* ns/object, one per recorded round */
    double *faults[NSIDES];      /* page faults per 1000 objects, per round */
    double faults_med[NSIDES];
    stat3 st[NCLOCKS][NSIDES];
    stat3 ratio[NCLOCKS];        /* per-round CPython/objmem */
    double ratio_of_medians[NCLOCKS];
} row;

static row rows[NWORKS * OBJ_MAX_PHASES];
static size_t nrows;

static void compute(row *r, int rounds)
{
    double *ratios = calloc((size_t)rounds, sizeof *ratios);
    if (!ratios)
        die(2, "out of memory");
    for (int c = 0; c < NCLOCKS; c++) {
        double *const *ns = r->ns[c];
        stat3 *st = r->st[c];
        for (int s = 0; s < NSIDES; s++)
            st[s] = stats_of(ns[s], rounds);
        for (int i = 0; i < rounds; i++)
            ratios[i] = ns[SIDE_OM][i] > 0 ? ns[SIDE_PY][i] / ns[SIDE_OM][i] : 0;
        r->ratio[c] = stats_of(ratios, rounds);
        r->ratio_of_medians[c] = st[SIDE_OM].med > 0 ? st[SIDE_PY].med / st[SIDE_OM].med : 0;
    }
    free(ratios);
    for (int s = 0; s < NSIDES; s++)
        r->faults_med[s] = stats_of(r->faults[s], rounds).med;
}

static const char *row_name(const row *r) { return r->work->row[r->phase]; }

static void print_table(FILE *f, int rounds, int markdown)
{
    const int c = clk, o = 1 - clk;
    if (markdown) {
        fputs("| workload | objmem ns/obj | CPython ns/obj | CPython/objmem | per-round ratio "
              "(min–max) |\n|---|---:|---:|---:|---:|\n",
              f);
        for (size_t i = 0; i < nrows; i++) {
            const row *r = &rows[i];
            fprintf(f, "| `%s` | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | **%.2f×** | %.2f–%.2f |\n",
                    row_name(r), r->st[c][SIDE_OM].med, r->st[c][SIDE_OM].min,
                    r->st[c][SIDE_OM].max, r->st[c][SIDE_PY].med, r->st[c][SIDE_PY].min,
                    r->st[c][SIDE_PY].max, r->ratio_of_medians[c], r->ratio[c].min,
                    r->ratio[c].max);
        }
        fprintf(f, "\nThe same runs on the %s clock (medians), and page faults per 1000 "
                   "objects (medians):\n\n"
                   "| workload | objmem ns/obj | CPython ns/obj | CPython/objmem | objmem faults "
                   "| CPython faults |\n"
                   "|---|---:|---:|---:|---:|---:|\n",
                clock_names[o]);
        for (size_t i = 0; i < nrows; i++) {
            const row *r = &rows[i];
            fprintf(f, "| `%s` | %.2f | %.2f | %.2f× | %.2f | %.2f |\n", row_name(r),
                    r->st[o][SIDE_OM].med, r->st[o][SIDE_PY].med, r->ratio_of_medians[o],
                    r->faults_med[SIDE_OM], r->faults_med[SIDE_PY]);
        }
        return;
    }
    fprintf(f, "== objects (%d round%s; %s time, ns per object: median [min-max]) ==\n", rounds,
            rounds == 1 ? "" : "s", clock_names[c]);
    fprintf(f, "%-20s %26s %26s %9s %14s\n", "workload", "objmem ns/obj", "CPython ns/obj",
            "CPy/om", "round ratios");
    for (size_t i = 0; i < nrows; i++) {
        const row *r = &rows[i];
        char om[64], py[64], rr[32];
        snprintf(om, sizeof om, "%8.2f [%6.2f-%6.2f]", r->st[c][SIDE_OM].med,
                 r->st[c][SIDE_OM].min, r->st[c][SIDE_OM].max);
        snprintf(py, sizeof py, "%8.2f [%6.2f-%6.2f]", r->st[c][SIDE_PY].med,
                 r->st[c][SIDE_PY].min, r->st[c][SIDE_PY].max);
        snprintf(rr, sizeof rr, "%.2f-%.2f", r->ratio[c].min, r->ratio[c].max);
        fprintf(f, "%-20s %26s %26s %8.2fx %14s\n", row_name(r), om, py, r->ratio_of_medians[c],
                rr);
    }
    fprintf(f, "-- the same runs: %s time (medians), page faults per 1000 objects (medians) --\n",
            clock_names[o]);
    for (size_t i = 0; i < nrows; i++)
        fprintf(f, "%-20s %26.2f %26.2f %8.2fx   faults objmem %.2f CPython %.2f\n",
                row_name(&rows[i]), rows[i].st[o][SIDE_OM].med, rows[i].st[o][SIDE_PY].med,
                rows[i].ratio_of_medians[o], rows[i].faults_med[SIDE_OM],
                rows[i].faults_med[SIDE_PY]);
}

/* Verdict lines: the rows where objmem is not the faster side, if any. */
static int print_verdict(FILE *f, const char *prefix)
{
    int slower = 0;
    for (size_t i = 0; i < nrows; i++)
        if (rows[i].ratio_of_medians[clk] <= 1.0) {
            fprintf(f, "%sobjmem NOT faster on %s (%.2fx)\n", prefix, row_name(&rows[i]),
                    rows[i].ratio_of_medians[clk]);
            slower++;
        }
    if (!slower)
        fprintf(f, "%sobjmem faster than CPython on every row (%zu rows)\n", prefix, nrows);
    return slower;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void json_side(FILE *f, const row *r, int c, int s, int rounds)
{
    fprintf(f, "{\"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"rounds\": [",
            r->st[c][s].med, r->st[c][s].min, r->st[c][s].max);
    for (int i = 0; i < rounds; i++)
        fprintf(f, "%s%.4f", i ? ", " : "", r->ns[c][s][i]);
    fputs("]}", f);
}

static FILE *open_out(const char *dir, const char *file, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (!f)
        die(1, "cannot write %s: %s", path, strerror(errno));
    return f;
}

static void close_out(FILE *f, const char *path)
{
    if (ferror(f) || fclose(f) != 0)
        die(1, "error writing %s", path);
}

static void write_results(const char *dir, int rounds, int warmup, int quick, const long gc[3],
                          const long omgc[3])
{
    char path[4096];
    FILE *f = open_out(dir, "objects.json", path, sizeof path);
    fputs("{\n  \"bench\": \"objects\",\n  \"unit\": \"ns per object\",\n", f);
    fprintf(f, "  \"clock\": \"%s\",\n", clock_names[clk]);
    fprintf(f, "  \"rounds\": %d,\n  \"warmup\": %d,\n  \"quick\": %d,\n", rounds, warmup, quick);
    fputs("  \"objmem_version\": ", f);
    json_str(f, obj_objmem_version());
    fputs(",\n  \"cpython_version\": ", f);
    json_str(f, obj_cpython_version());
    fprintf(f, ",\n  \"cpython_gc_threshold\": [%ld, %ld, %ld],", gc[0], gc[1], gc[2]);
    fprintf(f, "\n  \"objmem_gc_threshold\": [%ld, %ld, %ld],\n  \"rows\": [\n", omgc[0],
            omgc[1], omgc[2]);
    for (size_t i = 0; i < nrows; i++) {
        const row *r = &rows[i];
        const struct work *w = r->work;
        fputs("    {\"workload\": ", f);
        json_str(f, row_name(r));
        fputs(", \"what\": ", f);
        json_str(f, w->what[r->phase]);
        fprintf(f, ", \"objects\": %zu,\n     \"clocks\": ",
                quick ? (w->n_quick ? w->n_quick : w->batch_quick * w->reps_quick)
                      : (w->n ? w->n : w->batch * w->reps));
        for (int c = 0; c < NCLOCKS; c++) {
            fprintf(f, "%s\"%s\": {\"objmem\": ", c ? ",\n       " : "{", clock_names[c]);
            json_side(f, r, c, SIDE_OM, rounds);
            fputs(",\n        \"cpython\": ", f);
            json_side(f, r, c, SIDE_PY, rounds);
            fprintf(f,
                    ",\n        \"ratio_cpython_over_objmem\": %.4f, \"round_ratio\": "
                    "{\"median\": %.4f, \"min\": %.4f, \"max\": %.4f}}",
                    r->ratio_of_medians[c], r->ratio[c].med, r->ratio[c].min, r->ratio[c].max);
        }
        fprintf(f, "},\n     \"page_faults_per_1000\": {\"objmem\": %.4f, \"cpython\": %.4f}}%s\n",
                r->faults_med[SIDE_OM], r->faults_med[SIDE_PY], i + 1 < nrows ? "," : "");
    }
    int all = 1;
    for (size_t i = 0; i < nrows; i++)
        all &= rows[i].ratio_of_medians[clk] > 1.0;
    fprintf(f, "  ],\n  \"objmem_faster_on_every_row\": %s", all ? "true" : "false");
    fputs("\n}\n", f);
    close_out(f, path);

    f = open_out(dir, "objects.md", path, sizeof path);
    fprintf(f, "# bench_objects: objmem vs CPython objects\n\n"
               "ns per object (thread %s time), median of %d rounds (min–max), %d warm-up "
               "round%s discarded%s. Ratio = CPython median ÷ objmem median: above 1 means "
               "objmem is faster.\n\n",
            clk == CLOCK_CPU ? "CPU" : "wall-clock", rounds, warmup, warmup == 1 ? "" : "s",
            quick ? "; `--quick` sizes" : "");
    fprintf(f, "objmem %s; CPython %s. Cycle-collector thresholds (defaults): objmem (%ld, "
               "%ld, %ld), CPython (%ld, %ld, %ld).\n\n",
            obj_objmem_version(), obj_cpython_version(), omgc[0], omgc[1], omgc[2], gc[0], gc[1],
            gc[2]);
    print_table(f, rounds, 1);
    fputc('\n', f);
    print_verdict(f, "- ");
    fputs("\n## Workloads\n\n", f);
    for (size_t i = 0; i < nrows; i++)
        fprintf(f, "- `%s`: %s\n", row_name(&rows[i]), rows[i].work->what[rows[i].phase]);
    close_out(f, path);
}

/* ---------------------------------------------------------- main */

int main(int argc, char **argv)
{
    int rounds = 7, warmup = 1, quick = 0;
    const char *only = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has_arg = i + 1 < argc;
        if (strcmp(o, "--rounds") == 0 && has_arg)
            rounds = (int)parse_count(o, argv[++i], 1);
        else if (strcmp(o, "--warmup") == 0 && has_arg)
            warmup = (int)parse_count(o, argv[++i], 0);
        else if (strcmp(o, "--quick") == 0)
            quick = 1;
        else if (strcmp(o, "--only") == 0 && has_arg)
            only = argv[++i];
        else if (strcmp(o, "--out") == 0 && has_arg)
            out = argv[++i];
        else if (strcmp(o, "--clock") == 0 && has_arg) {
            const char *v = argv[++i];
            if (strcmp(v, "cpu") == 0)
                clk = CLOCK_CPU;
            else if (strcmp(v, "wall") == 0)
                clk = CLOCK_WALL;
            else
                die(1, "--clock: cpu or wall, not '%s'", v);
        } else if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            die(1, "unknown or incomplete option '%s'", o);
        }
    }

    /* selected workloads, in table order */
    int want[NWORKS];
    for (size_t i = 0; i < NWORKS; i++)
        want[i] = only == NULL;
    for (const char *s = only; s && *s;) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s), i;
        for (i = 0; i < NWORKS; i++)
            if (strlen(works[i].name) == l && strncmp(s, works[i].name, l) == 0)
                break;
        if (i == NWORKS) {
            usage(stderr);
            die(1, "unknown workload '%.*s'", (int)l, s);
        }
        want[i] = 1;
        s += l + (e != NULL);
    }
    int selected[NWORKS];
    size_t nsel = 0;
    for (size_t i = 0; i < NWORKS; i++)
        if (want[i])
            selected[nsel++] = (int)i;
    if (nsel == 0)
        die(1, "no workload selected");
    if (out) {
        struct stat sb;
        if (stat(out, &sb) != 0 || !S_ISDIR(sb.st_mode))
            die(1, "--out %s: not a directory", out);
    }

    /* scratch arrays outside both allocators */
    size_t slots_len = 0;
    for (size_t i = 0; i < NWORKS; i++)
        if (works[i].batch > slots_len)
            slots_len = works[i].batch;
    void **slots = bench_scratch(slots_len * sizeof(void *));
    void **slots2 = bench_scratch(slots_len * sizeof(void *));

    if (obj_cpython_init() != 0)
        die(2, "cannot start CPython");
    if (obj_objmem_init() != 0)
        die(2, "cannot take objmem's runtime lock");
    long gc[3], omgc[3];
    obj_cpython_gc_thresholds(gc);
    obj_objmem_gc_thresholds(omgc);

    for (size_t k = 0; k < nsel; k++) {
        const struct work *w = &works[selected[k]];
        for (int ph = 0; ph < w->nphases; ph++) {
            row *r = &rows[nrows++];
            r->work = w;
            r->phase = ph;
            for (int s = 0; s < NSIDES; s++) {
                for (int c = 0; c < NCLOCKS; c++)
                    r->ns[c][s] = calloc((size_t)rounds, sizeof(double));
                r->faults[s] = calloc((size_t)rounds, sizeof(double));
                if (!r->ns[CLOCK_CPU][s] || !r->ns[CLOCK_WALL][s] || !r->faults[s])
                    die(2, "out of memory");
            }
        }
    }

    FILE *raw = NULL;
    char raw_path[4096];
    if (out)
        raw = open_out(out, "objects-raw.txt", raw_path, sizeof raw_path);

    const char *pyv = obj_cpython_version();
    fprintf(stderr, "bench_objects: objmem %s vs CPython %.*s; gc thresholds objmem "
                    "%ld/%ld/%ld, CPython %ld/%ld/%ld; %d round%s + %d warm-up; %s time%s\n",
            obj_objmem_version(), (int)strcspn(pyv, " "), pyv, omgc[0], omgc[1], omgc[2], gc[0], gc[1],
            gc[2], rounds,
            rounds == 1 ? "" : "s", warmup, clock_names[clk], quick ? "; quick sizes" : "");
    const obj_side *sides[NSIDES] = {&obj_side_objmem, &obj_side_cpython};
    uint64_t start = bench_now_ns();
    for (int round = -warmup; round < rounds; round++) {
        size_t ri = 0;
        for (size_t k = 0; k < nsel; k++) {
            const struct work *w = &works[selected[k]];
            obj_params p = {
                .n = quick ? w->n_quick : w->n,
                .batch = quick ? w->batch_quick : w->batch,
                .reps = quick ? w->reps_quick : w->reps,
                .variant = w->variant,
                .slots = slots,
                .slots2 = slots2,
            };
            obj_timing t[NSIDES];
            int first = (int)((unsigned)(round + warmup + (int)k) & 1u); /* alternate */
            for (int j = 0; j < NSIDES; j++) {
                int s = j ? 1 - first : first;
                memset(&t[s], 0, sizeof t[s]);
                if (sides[s]->fn[w->w](&p, &t[s]) != 0)
                    die(2, "%s: workload %s failed", sides[s]->name, w->name);
            }
            if (t[SIDE_OM].chk != t[SIDE_PY].chk)
                die(3, "%s: checksums differ: objmem %llu, CPython %llu", w->name,
                    (unsigned long long)t[SIDE_OM].chk, (unsigned long long)t[SIDE_PY].chk);
            for (int ph = 0; ph < w->nphases; ph++, ri++) {
                double v[NCLOCKS][NSIDES];
                for (int s = 0; s < NSIDES; s++) {
                    double ops = t[s].ops[ph] ? (double)t[s].ops[ph] : 1.0;
                    v[CLOCK_CPU][s] = (double)t[s].cpu_ns[ph] / ops;
                    v[CLOCK_WALL][s] = (double)t[s].wall_ns[ph] / ops;
                }
                if (round >= 0) {
                    for (int s = 0; s < NSIDES; s++) {
                        for (int c = 0; c < NCLOCKS; c++)
                            rows[ri].ns[c][s][round] = v[c][s];
                        rows[ri].faults[s][round] =
                            t[s].ops[ph] ? 1000.0 * (double)t[s].faults[ph] / (double)t[s].ops[ph]
                                         : 0;
                        if (raw)
                            fprintf(raw, "round=%d work=%s side=%s first=%s cpu_ns_per_obj=%.4f "
                                         "wall_ns_per_obj=%.4f cpu_ns=%llu wall_ns=%llu "
                                         "objects=%llu page_faults=%llu chk=%llu\n",
                                    round + 1, w->row[ph], s == SIDE_OM ? "objmem" : "cpython",
                                    first == SIDE_OM ? "objmem" : "cpython", v[CLOCK_CPU][s],
                                    v[CLOCK_WALL][s], (unsigned long long)t[s].cpu_ns[ph],
                                    (unsigned long long)t[s].wall_ns[ph],
                                    (unsigned long long)t[s].ops[ph],
                                    (unsigned long long)t[s].faults[ph],
                                    (unsigned long long)t[s].chk);
                    }
                }
                const double *vc = v[clk];
                fprintf(stderr,
                        "[%5.1fs] %s %-2d %-20s objmem %8.2f  CPython %8.2f ns/obj  %5.2fx\n",
                        (double)(bench_now_ns() - start) / 1e9, round < 0 ? "warm " : "round",
                        round < 0 ? round + warmup + 1 : round + 1, w->row[ph], vc[SIDE_OM],
                        vc[SIDE_PY], vc[SIDE_OM] > 0 ? vc[SIDE_PY] / vc[SIDE_OM] : 0.0);
            }
        }
    }
    if (raw)
        close_out(raw, raw_path);

    for (size_t i = 0; i < nrows; i++)
        compute(&rows[i], rounds);
    putchar('\n');
    print_table(stdout, rounds, 0);
    print_verdict(stdout, "");
    if (out) {
        write_results(out, rounds, warmup, quick, gc, omgc);
        printf("results: %s/objects.json, %s/objects.md, %s/objects-raw.txt\n", out, out, out);
    }
    fflush(stdout);
    return 0;
}
