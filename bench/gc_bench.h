/*
 * gc_bench.h — shared pieces of bench_gc: the object graphs every
 * collector gets, the measurement record, and the three sides (objmem in
 * gc_om.c, CPython in gc_py.c, Boehm GC in gc_boehm.c).
 *
 * A graph is n nodes with nslots references each, given as indices:
 * edges[i * nslots + k] is the node that slot k of node i refers to, or
 * GCB_NONE.  Node 0 is the root.  Every side allocates the nodes in index
 * order, fills the slots from the same array, then drops its references
 * to everything but the root (or the list, see GCB_HOLD_LIST below):
 *
 *   ring    2 slots: a = next (i + 1), b = prev (i - 1), closed;
 *   random  2 slots: a = successor in one random Hamiltonian cycle (a
 *           seeded shuffle, so every node is reachable from the root and
 *           nothing dies by reference counting), b = a uniformly random
 *           node (self-references and duplicates allowed);
 *   tree    3 slots: a complete binary tree in breadth-first order,
 *           a = left child (2i + 1), b = right child (2i + 2), c = parent
 *           ((i - 1) / 2); missing children and the root's parent are
 *           GCB_NONE.
 *
 * The young-collection scenario (gcb_young) has an old heap (a ring of
 * old_n nodes, promoted to the oldest generation by a full collection)
 * and then `cycles` garbage cycles of two fresh nodes (x.a = y, y.a = x);
 * with oldrefs, each fresh node's b refers to a random old node.  That
 * (make the cycles, time a young collection) is repeated `reps` times in
 * the same process; the result is the median repeat.
 */
#ifndef GC_BENCH_H
#define GC_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define GCB_NONE UINT32_MAX
#define GCB_MAX_SLOTS 3

typedef struct gcb_graph {
    const char *name;
    size_t n;
    unsigned nslots;
    const uint32_t *edges;  /* n * nslots */
} gcb_graph;

typedef struct gcb_young {
    const gcb_graph *old;   /* the old heap: a live ring (n may be 0) */
    size_t cycles;          /* 2-node garbage cycles created after promotion */
    int oldrefs;            /* young nodes' b -> random old node */
    const uint32_t *refs;   /* 2 * cycles old indices when oldrefs */
    int reps;               /* make the cycles and collect, this many times */
} gcb_young;

/* One timed collection. */
typedef struct gcb_meas {
    uint64_t cpu_ns;        /* thread CPU time of the collection */
    uint64_t wall_ns;       /* wall-clock time of the collection */
    uint64_t base_cpu_ns;   /* an empty-heap collection of the same kind, before building */
    uint64_t build_ns;      /* building the graph (wall clock, not part of the result) */
    long found;             /* what the collector reported as unreachable (-1: unknown) */
    long minflt;            /* minor page faults during the collection */
    uint64_t node_bytes;    /* bytes one node takes on this side's heap (block size) */
} gcb_meas;

/* Timing helpers (bench_gc.c): a collection is bracketed by
 * gcb_begin / gcb_end.  For the measured collection (main_one = 1, not
 * the empty-heap or promoting ones) they also switch perf's sampling on
 * and off when BENCH_PERF_CTL / BENCH_PERF_ACK name perf's control and
 * acknowledgement FIFOs (perf record --control=fifo:CTL,ACK -D -1;
 * bench/gc.sh --profile). */
typedef struct gcb_clock {
    uint64_t cpu, wall;
    long minflt;
} gcb_clock;
void gcb_begin(gcb_clock *c, int main_one);
void gcb_end(const gcb_clock *c, gcb_meas *m);
uint64_t gcb_cpu_ns(void);
/* Store the median of n repeats (cpu, wall, minflt) in m. */
void gcb_keep_median(gcb_meas *m, const gcb_meas *reps, int n);
uint64_t gcb_wall_ns(void);

/* Who holds the graph from outside:
 *   GCB_HOLD_ROOT  one reference to the root (node 0): every other node is
 *                  held by the graph alone;
 *   GCB_HOLD_LIST  a list of all the nodes, created before them (CPython's
 *                  `nodes = [Node() for i in range(n)]`; objmem: one
 *                  variable-size GC object of n references; Boehm: one
 *                  GC_MALLOC'd array of n pointers).
 * "Garbage" drops that reference before the timed collection (the list
 * itself is freed by reference counting then; the nodes stay, in cycles:
 * every node of every graph has a referrer inside the graph). */
enum { GCB_HOLD_ROOT, GCB_HOLD_LIST };

/* Each side: 0 on success, -1 with a message on stderr.  full: build g,
 * held as `hold` says, drop that hold if garbage, time a full
 * collection.  young: build and promote the old heap, make the young
 * cycles, time a generation-0 collection. */
int gcb_om_full(const gcb_graph *g, int hold, int garbage, gcb_meas *m);
int gcb_om_young(const gcb_young *y, gcb_meas *m);
const char *gcb_om_version(void);
/* How objmem's node types give their references (--om-refs): declared
 * fields (om_type.ref_fields, the default), a refs hook, or traverse. */
enum { GCB_OM_TRAVERSE, GCB_OM_HOOK, GCB_OM_DECLARED };
extern int gcb_om_refs;

int gcb_py_init(void);   /* in the parent, before any fork */
void gcb_py_before_fork(void);
void gcb_py_after_fork(int child);
int gcb_py_full(const gcb_graph *g, int hold, int garbage, gcb_meas *m);
int gcb_py_young(const gcb_young *y, gcb_meas *m);
const char *gcb_py_version(void);

int gcb_boehm_available(void);
extern int gcb_boehm_warmup; /* untimed collections of the live graph first */
int gcb_boehm_full(const gcb_graph *g, int hold, int garbage, gcb_meas *m);
const char *gcb_boehm_version(void);

#endif
