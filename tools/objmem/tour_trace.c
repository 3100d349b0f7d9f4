/*
 * tour_trace.c — the tour chapter on diagnostics: allocation tracing on
 * the live heap (CPython's tracemalloc), and what debug and hardened
 * modes add (they are chosen before a process's first allocation, so the
 * chapter describes them and names the commands).
 *
 * The chapter traces its own allocations from three functions of this
 * file, takes two snapshots around a partial free and shows the sites,
 * their counts and bytes, and the difference; everything is freed and
 * tracing stopped at the end.  Without libunwind in the build, tracing
 * is unavailable (ENOSYS) and the chapter says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "tour.h"

enum { SMALL = 64, NSMALL = 2000, BIG = 4096, NBIG = 40, LEAK = 80, KEEP = 500 };

/* Three allocation sites, each calling om_malloc itself (the statistics
 * name the caller of om_malloc); the test after the call keeps it from
 * becoming a jump that would leave no frame. */
static void *need(void *p)
{
    if (!p)
        tour_need_ok(ENOMEM, "om_malloc");
    return p;
}
__attribute__((noinline)) static void *tour_site_small(void) { return need(om_malloc(SMALL)); }
__attribute__((noinline)) static void *tour_site_big(void) { return need(om_malloc(BIG)); }
__attribute__((noinline)) static void *tour_site_leak(void) { return need(om_malloc(LEAK)); }

typedef struct rows {
    out *o;
    int left;
    int compare;
} rows;

static int print_stat(const om_trace_stat *st, void *arg)
{
    rows *r = arg;
    if (r->left-- <= 0)
        return 1;
    if (r->compare)
        out_row(r->o, (out_val[]){OV_S(st->function), OV_U(st->count), OV_B(st->bytes), OV_I(st->count_diff),
                                  OV_I(st->bytes_diff)});
    else
        out_row(r->o, (out_val[]){OV_S(st->function), OV_U(st->count), OV_B(st->bytes)});
    return 0;
}

static void show_sites(out *o, const char *key, const om_trace_snap *newer, const om_trace_snap *older)
{
    static const out_col cols[] = {
        {"function", "site (function)", 24, 0}, {"count", "blocks", 8, 0}, {"bytes", "bytes", 10, 0},
        {"count_diff", "+/- blocks", 10, 0},    {"bytes_diff", "+/- bytes", 10, 0},
    };
    rows r = {o, 4, older != NULL};
    out_table_begin(o, key, cols, older ? 5 : 3);
    om_trace_foreach(newer, older, OM_TRACE_FUNCTION, print_stat, &r);
    out_table_end(o);
}

/* The chapter's claim: tracing counted exactly what it allocated. */
static void claim_traced(uint64_t got, uint64_t want, const char *when)
{
    if (got != want) {
        fprintf(stderr, "objmem tour: tracing: %llu bytes traced %s, the chapter has %llu live\n",
                (unsigned long long)got, when, (unsigned long long)want);
        exit(CLI_FAIL);
    }
}

static void describe_modes(out *o)
{
    out_para(o, "Two more modes watch the heap; each is chosen before a process's first "
                "allocation, so they are not switched on here. Debug mode (objmem run --debug, "
                "CPython's PYTHONMALLOC=debug): every block has a header, 16 guard bytes 0xFD "
                "on each side, new memory reads 0xCD and freed memory 0xDD, and freed blocks "
                "wait in a quarantine; an overflow, an underflow, a write after free, a double "
                "free or a new[]/free mix-up is one report naming the block, its serial number "
                "and, with tracing on, where it was allocated and freed.");
    out_para(o, "Hardened mode (objmem run --secure: the hardened build, "
                "libobjmem-malloc-secure.so; or OBJMEM_SECURE=1) is for production: a "
                "keyed canary after the blocks that have room for one, checked at their free, "
                "double frees caught at the second free, free-list links checked before they "
                "are followed, blocks handed out in a random order, guard pages around large "
                "blocks and after arenas, and a free of a pointer objmem never handed out "
                "aborts the program, as glibc's does.");
}

void tour_trace(out *o)
{
    void *small[NSMALL], *big[NBIG], *leak[KEEP];
    uint64_t current = 0, peak = 0;

    tour_reset_heap();
    out_section_begin(o, "tracing", "Tracing: where the memory was allocated");
    out_para(o, "CPython's tracemalloc answers 'which line allocated this memory?'. objmem "
                "traces any program the same way (objmem run --trace, or om_trace_start()): "
                "each block handed out is recorded with the stack of the call that asked for "
                "it, until it is freed. Below, tracing is started in this process with 4 "
                "frames, three functions of the tour allocate, and snapshots are compared.");
    int rc = om_trace_start(4);
    out_fact(o, "available", "tracing available", OV_YN(rc == 0));
    if (rc != 0) {
        out_para(o, "This build has no tracing (%s): it needs libunwind (libunwind-dev) at build "
                    "time, and libdw (libdw-dev) for file:line names.",
                 rc == ENOSYS ? "objmem was built without libunwind" : strerror(rc));
        describe_modes(o);
        out_section_end(o);
        return;
    }
    for (int i = 0; i < NSMALL; i++)
        small[i] = tour_site_small();
    for (int i = 0; i < NBIG; i++)
        big[i] = tour_site_big();
    for (int i = 0; i < KEEP; i++)
        leak[i] = tour_site_leak();
    om_trace_snap *a = om_trace_snapshot();
    if (!a) {
        om_trace_stop();
        tour_need_ok(errno ? errno : ENOMEM, "om_trace_snapshot");
    }
    om_trace_get_traced_memory(&current, &peak);
    claim_traced(current, (uint64_t)NSMALL * SMALL + (uint64_t)NBIG * BIG + (uint64_t)KEEP * LEAK,
                 "at the first snapshot");
    out_fact(o, "traced_bytes", "traced memory now", OV_B(current));
    out_para(o, "The first snapshot, grouped by function (om_trace_foreach with "
                "OM_TRACE_FUNCTION; OM_TRACE_LINENO gives file:line when the program has "
                "debug information). Counts and bytes are exact: every block is traced.");
    show_sites(o, "sites", a, NULL);
    for (int i = 0; i < NSMALL; i++)
        om_free(small[i]);
    for (int i = 0; i < NBIG / 2; i++)
        om_free(big[i]);
    om_trace_snap *b = om_trace_snapshot();
    if (!b) {
        om_trace_snapshot_free(a);
        om_trace_stop();
        tour_need_ok(errno ? errno : ENOMEM, "om_trace_snapshot");
    }
    out_para(o, "All of tour_site_small's blocks and half of tour_site_big's are freed, and a "
                "second snapshot is compared with the first (om_trace_compare): the "
                "differences name who gave memory back. tour_site_leak's blocks are still "
                "there: at a process's exit, what is left is the leak report.");
    show_sites(o, "compare", b, a);
    om_trace_get_traced_memory(&current, &peak);
    claim_traced(current, (uint64_t)(NBIG - NBIG / 2) * BIG + (uint64_t)KEEP * LEAK, "after the frees");
    out_fact(o, "traced_bytes_after", "traced memory after the frees", OV_B(current));
    out_fact(o, "traced_peak", "peak traced memory", OV_B(peak));
    void *frames[4];
    size_t n = om_trace_block_traceback(leak[0], frames, 4);
    out_fact(o, "block_traceback_frames", "frames kept for one block (om_trace_block_traceback)", OV_U(n));
    om_trace_snapshot_free(a);
    om_trace_snapshot_free(b);
    for (int i = NBIG / 2; i < NBIG; i++)
        om_free(big[i]);
    for (int i = 0; i < KEEP; i++)
        om_free(leak[i]);
    om_trace_stop();
    out_para(o, "Tracing every block costs time (an entry per block, a stack per allocation); "
                "OBJMEM_TRACE_SAMPLE=512K traces about one allocation per 512 KiB instead, "
                "weighting each so that counts and bytes are unbiased estimates, with the "
                "fast paths left open: cheap enough to leave on in a server, whose report "
                "OBJMEM_REPORT_SIGNAL=USR2 asks for while it runs.");
    describe_modes(o);
    out_section_end(o);
}
