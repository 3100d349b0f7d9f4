/*
 * gc_boehm.c — bench_gc's Boehm GC side (libgc, bdw-gc 8.x): the graphs
 * as GC_MALLOC'd blocks of 2 (3) pointers, collected with GC_gcollect().
 *
 * A node is just its pointers (16 or 24 bytes requested; Boehm rounds to
 * its 16-byte granules): a tracing collector needs no header in the
 * object, so this is what a C program using Boehm would allocate.
 *
 * Boehm starts in the child process (GC_INIT), with one marker thread
 * (GC_MARKERS=1, set before GC_INIT): the other two collectors are
 * single-threaded and the table is on the thread's CPU clock, which would
 * not see parallel marker threads.  Unlike the other sides, Boehm keeps
 * collecting while the graph is built (as it would in a program): its
 * mark stack starts at 4096 entries and only grows after a collection
 * overflowed it, so a first collection of a 1 M-node random graph would
 * overflow and rescan the heap many times, a state a running program is
 * not in.  "Live" keeps the root in a static variable (a root Boehm
 * scans); "garbage" clears it.  Boehm scans the stack and registers conservatively, so the
 * building happens in a separate function and the stack below it is
 * cleared before the timed collection; `found` is the drop in
 * GC_get_memory_use() over the collection, in nodes.  Boehm sweeps
 * lazily: blocks left completely empty are reclaimed inside GC_gcollect,
 * others are swept by later allocations (not timed), which is part of
 * Boehm's design.
 */
#include "gc_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef BENCH_HAVE_BOEHM
#include <gc/gc.h>

static void *volatile boehm_root;
int gcb_boehm_warmup = 8;
static char version_buf[32];

int gcb_boehm_available(void) { return 1; }

const char *gcb_boehm_version(void)
{
    unsigned v = GC_get_version();
    snprintf(version_buf, sizeof version_buf, "%u.%u.%u", v >> 16, (v >> 8) & 0xff, v & 0xff);
    return version_buf;
}

static void start(void)
{
    setenv("GC_MARKERS", "1", 1);
    GC_INIT();
}

/* Build g; the root goes to boehm_root.  Not inlined, so its frame (and
 * the pointers in it) is gone when the collection runs.  The index array
 * is a Boehm object (scanned: it keeps the nodes alive while the graph is
 * incomplete) freed explicitly at the end. */
static __attribute__((noinline)) int build(const gcb_graph *g, int hold)
{
    size_t bytes = (g->n ? g->n : 1) * sizeof(void *);
    void **v = GC_MALLOC(bytes);
    if (!v)
        return -1;
    for (size_t i = 0; i < g->n; i++) {
        if (!(v[i] = GC_MALLOC(g->nslots * sizeof(void *)))) {
            fprintf(stderr, "bench_gc: Boehm: GC_MALLOC failed at node %zu\n", i);
            return -1;
        }
    }
    for (size_t i = 0; i < g->n; i++) {
        void **nd = v[i];
        for (unsigned k = 0; k < g->nslots; k++) {
            uint32_t e = g->edges[i * g->nslots + k];
            nd[k] = e != GCB_NONE ? v[e] : NULL;
        }
    }
    if (hold == GCB_HOLD_LIST) {
        boehm_root = v; /* the list of all the nodes */
    } else {
        boehm_root = v[0];
        memset(v, 0, bytes);
        GC_FREE(v);
    }
    return 0;
}

/* Overwrite the stack below the caller with zeros. */
static __attribute__((noinline)) void clear_stack(void)
{
    volatile char pad[16384];
    memset((char *)pad, 0, sizeof pad);
}

int gcb_boehm_full(const gcb_graph *g, int hold, int garbage, gcb_meas *m)
{
    start();
    gcb_clock c;
    gcb_begin(&c, 0);
    GC_gcollect();
    gcb_end(&c, m);
    m->base_cpu_ns = m->cpu_ns;
    void *probe = GC_MALLOC(g->nslots * sizeof(void *));
    m->node_bytes = probe ? GC_size(probe) : 0;
    probe = NULL;

    uint64_t t0 = gcb_wall_ns();
    if (build(g, hold) != 0)
        return -1;
    for (int i = 0; i < gcb_boehm_warmup; i++)
        GC_gcollect();
    if (garbage)
        boehm_root = NULL;
    m->build_ns = gcb_wall_ns() - t0;
    clear_stack();

    size_t before = GC_get_memory_use();
    gcb_begin(&c, 1);
    GC_gcollect();
    gcb_end(&c, m);
    size_t after = GC_get_memory_use();
    m->found = m->node_bytes && before > after ? (long)((before - after) / m->node_bytes) : 0;
    boehm_root = NULL;
    return 0;
}

#else /* no libgc */

int gcb_boehm_available(void) { return 0; }
const char *gcb_boehm_version(void) { return "absent"; }
int gcb_boehm_full(const gcb_graph *g, int hold, int garbage, gcb_meas *m)
{
    (void)g;
    (void)hold;
    (void)garbage;
    (void)m;
    fprintf(stderr, "bench_gc: built without Boehm GC (libgc-dev)\n");
    return -1;
}

#endif
