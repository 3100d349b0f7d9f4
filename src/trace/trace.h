/*
 * trace.h — allocation tracing's internal header (CPython's tracemalloc,
 * with jemalloc's sampled heap profiling): the state its files share and
 * their prototypes, grouped by the file that defines them.
 *
 * The layer sits on the allocator: alloc.c calls it through an observer
 * (alloc.h: omi_alloc_observe) on every allocation and free once tracing
 * is on, and nothing at all is called while it is off.  Everything it
 * keeps is in memory from the OS layer, never from the allocator it
 * traces:
 *
 *   stack.c    the caller's return addresses (libunwind, no malloc)
 *   table.c    traces: each distinct stack once, numbered 1, 2, ...
 *              (an id never changes nor goes away), with its live count
 *              and bytes
 *   blocks.c   live traced blocks: address -> trace id and size
 *   dense.c    the same for full tracing, in address order
 *   sample.c   OBJMEM_TRACE_SAMPLE: which allocations are traced
 *   trace.c    the observer, start/stop, the counters, om_trace_* basics
 *   symbols.c  return addresses -> function, file:line (libdw), at reports
 *   stats.c    snapshots, grouping by site, comparison
 *   report.c   the text and JSON reports: on demand, at exit, on a signal
 *
 * Counts and bytes are kept in fixed point (OMI_TRACE_ONE per block) so
 * that a sampled block can stand for the 1 / P(sampled) blocks it
 * represents; with full tracing every block weighs exactly OMI_TRACE_ONE
 * and its own size, so the totals are exact.
 */
#ifndef OM_TRACE_H
#define OM_TRACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/alloc.h"
#include "os/os.h"

#define OMI_TRACE_MAX_FRAMES 128
#define OMI_TRACE_ONE ((uint64_t)1 << 8) /* one block, in count units */

/* ---- mem.c-like helpers in table.c: OS memory for the layer ------------ */
/* size bytes, zeroed, from the OS layer (rounded up to pages); NULL on failure. */
OM_HIDDEN void *omi_trace_mem_alloc(size_t size);
OM_HIDDEN void omi_trace_mem_free(void *p);
/* Bytes tracing holds from the OS layer (its tables and records). */
OM_HIDDEN uint64_t omi_trace_mem_bytes(void);

/* ---- stack.c ------------------------------------------------------------- */
/* 1 if stacks can be captured (libunwind was found at build time). */
OM_HIDDEN int omi_trace_stack_available(void);
/* Up to max return addresses of the program's frames (objmem's own frames
 * skipped), innermost first; how many.  *flags gets OMI_TRACE_OBJECT when
 * a skipped frame was an OMI_ENTRY_OBJECT function (flags may be NULL). */
OM_HIDDEN int omi_trace_stack_capture(void **frames, int max, uint32_t *flags);
/* Functions of the layers above that allocate a block on their caller's
 * behalf, the block being an object (om_new & co.): skipped like
 * OMI_ENTRY's, and their blocks' traces flagged OMI_TRACE_OBJECT, which
 * lets a report name their types (omi_trace_set_object_namer). */
#define OMI_ENTRY_OBJECT __attribute__((section("omi_entry_obj")))
/* The section's bounds (the object layer's __start_/__stop_omi_entry_obj). */
OM_HIDDEN void omi_trace_set_object_entry(const char *start, const char *stop);
#define OMI_TRACE_OBJECT 1u

/* ---- table.c: traces ---------------------------------------------------- */
typedef struct omi_trace {
    _Atomic uint64_t count;       /* live blocks, in OMI_TRACE_ONE units */
    _Atomic uint64_t bytes;       /* live bytes (estimate when sampled) */
    uint32_t hash;
    uint32_t nframes;
    uint32_t flags;               /* OMI_TRACE_OBJECT: its blocks are objects */
    uint32_t pad;
    void *frames[];               /* return addresses, innermost first */
} omi_trace;

/* The id of the stack frames[0..n) (0 if the table cannot grow). */
OM_HIDDEN uint32_t omi_trace_intern(void *const *frames, int n, uint32_t flags);
/* The trace of an id, NULL if there is none. */
OM_HIDDEN omi_trace *omi_trace_get(uint32_t id);
/* How many ids exist (ids are 1..this). */
OM_HIDDEN uint32_t omi_trace_count(void);
/* Every trace's count and bytes back to 0 (tracing stops). */
OM_HIDDEN void omi_trace_table_zero(void);

/* ---- blocks.c: the live traced blocks ------------------------------------ */
typedef struct omi_block_rec {
    uintptr_t addr;               /* 0: empty slot */
    uint64_t size;                /* the size asked for */
    uint32_t id;                  /* its trace */
    uint32_t weight;              /* OMI_TRACE_ONE / P(sampled), saturated */
} omi_block_rec;

/* Record p (replacing any stale record of it) if tracing's session is
 * still session; 0, or ENOMEM when the map cannot grow. */
OM_HIDDEN int omi_blocks_insert(const omi_block_rec *rec, uint64_t session);
/* Remove p's record into *out; 1 if there was one. */
OM_HIDDEN int omi_blocks_remove(uintptr_t p, omi_block_rec *out);
/* p's record into *out; 1 if there is one. */
OM_HIDDEN int omi_blocks_find(uintptr_t p, omi_block_rec *out);
/* Drop every record (tracing stops); each shard is emptied under its lock. */
OM_HIDDEN void omi_blocks_clear(void);
/* fn(record, arg) for every live record, each under the lock that guards
 * it (its block stays live during the call; fn must not trace). */
OM_HIDDEN void omi_blocks_foreach(void (*fn)(const omi_block_rec *r, void *arg), void *arg);

/* ---- dense.c: full tracing's records, by address (blocks.c's API) -------- */
OM_HIDDEN int omi_dense_covers(uintptr_t p); /* p below 2^47 */
OM_HIDDEN int omi_dense_insert(const omi_block_rec *rec, uint64_t session); /* size < 2^32, weight one */
OM_HIDDEN int omi_dense_remove(uintptr_t p, omi_block_rec *out);
OM_HIDDEN int omi_dense_find(uintptr_t p, omi_block_rec *out);
OM_HIDDEN void omi_dense_clear(void);
OM_HIDDEN void omi_dense_foreach(void (*fn)(const omi_block_rec *r, void *arg), void *arg);

/* ---- fork: every lock of the layer held across fork() (trace.c) ----------
 * Phases: prepare takes each lock; the parent and the child (whose only
 * thread is the forking one, their owner) release them. */
#define OMI_FORK_PREPARE 0
#define OMI_FORK_PARENT 1
#define OMI_FORK_CHILD 2
OM_HIDDEN void omi_trace_table_fork(int phase);
OM_HIDDEN void omi_blocks_fork(int phase); /* the hash's shards and dense.c's regions */
OM_HIDDEN void omi_dense_fork(int phase);

/* ---- trace.c: counting -------------------------------------------------- */
/* r's block counted in (sign > 0) or out of its trace and the totals;
 * called under the lock that guards r's record. */
OM_HIDDEN void omi_trace_count_rec(const omi_block_rec *r, int sign);

/* ---- sample.c ------------------------------------------------------------ */
/* Set the mean bytes between samples (0: trace everything) for new countdowns. */
OM_HIDDEN void omi_sample_configure(uint64_t mean_bytes);
/* Whether an allocation of size bytes is traced; its weight (OMI_TRACE_ONE
 * per block it stands for) into *weight. */
OM_HIDDEN int omi_sample_take(size_t size, uint32_t *weight);
/* The calling thread's distance in bytes to its next sample point, drawn
 * at the configured mean (0 when it is 0). */
OM_HIDDEN int64_t omi_sample_gap(void);
/* The mean from which sampling leaves the fast paths open (alloc.h's
 * sampling observers): each sampled block then takes a large block of its
 * own, at least a page, so below this mean the memory that costs would
 * exceed 1/16 of what is sampled; there, the observer sees every call. */
#define OMI_SAMPLE_OPEN_MIN ((uint64_t)64 << 10)
/* Seed every thread's generator from seed (tests: reproducible samples). */
OM_HIDDEN void omi_trace_seed(uint64_t seed);
/* Weight of a sampled block of size bytes at mean bytes between samples:
 * OMI_TRACE_ONE / (1 - exp(-size / mean)). */
OM_HIDDEN uint32_t omi_sample_weight(size_t size, uint64_t mean);

/* ---- trace.c: state ------------------------------------------------------- */
typedef struct omi_trace_state {
    _Atomic int on;
    _Atomic uint64_t session;     /* changes at every start and stop */
    /* Set under lock by start and stop, read by recording threads: */
    _Atomic int nframes;
    _Atomic int for_debug;        /* started for debug mode's allocation sites, not asked for */
    _Atomic uint64_t sample_bytes; /* 0: every allocation */
    _Atomic uint64_t current;     /* live traced bytes (estimate when sampled) */
    _Atomic uint64_t peak;
    _Atomic uint64_t blocks;      /* live traced blocks, OMI_TRACE_ONE units */
    _Atomic uint64_t dropped;     /* allocations not traced: no memory for their record */
    pthread_mutex_t lock;         /* start, stop, reports */
} omi_trace_state;
extern OM_HIDDEN omi_trace_state omi_trace_st;

/* The debug layer names a block's trace in its reports with these: the
 * trace id of the live block at p (0: not traced), and a trace's stack as
 * one line of text ("f (file.c:12) <- g (main.c:40)", cut to cap). */
OM_HIDDEN uint32_t omi_trace_id_of(const void *p);
OM_HIDDEN void omi_trace_describe(uint32_t id, char *buf, size_t cap);

/* ---- libs.c: libunwind and libdw, by dlopen when tracing starts ---------- */
#ifdef OM_TRACE_UNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif
#ifdef OM_TRACE_LIBDW
#include <elfutils/libdwfl.h>
#define OMI_TRACE_DW_FUNCS(X)                                                                              \
    X(dwfl_begin) X(dwfl_end) X(dwfl_linux_proc_report) X(dwfl_report_end) X(dwfl_addrmodule)              \
    X(dwfl_module_addrinfo) X(dwfl_module_getsrc) X(dwfl_lineinfo) X(dwfl_module_getdwarf) X(dwarf_nextcu) \
    X(dwarf_offdie) X(dwarf_haspc) X(dwarf_getsrc_die) X(dwarf_linesrc) X(dwarf_lineno)                    \
    X(dwfl_linux_proc_find_elf) X(dwfl_standard_find_debuginfo) X(dwfl_module_addrdie) X(dwarf_getscopes)      \
    X(dwarf_tag) X(dwarf_attr) X(dwarf_formudata) X(dwarf_getsrcfiles) X(dwarf_filesrc)
#endif
/* The functions tracing uses, NULL until loaded (or when absent). */
typedef struct omi_trace_libs {
#ifdef OM_TRACE_UNWIND
    __typeof__(unw_backtrace) *unw_backtrace;
#endif
#ifdef OM_TRACE_LIBDW
#define X(f) __typeof__(f) *f;
    OMI_TRACE_DW_FUNCS(X)
#undef X
#endif
    int unused;
} omi_trace_libs;
extern OM_HIDDEN omi_trace_libs omi_tl;
/* Load them once; 1 when stacks can be captured. */
OM_HIDDEN int omi_trace_libs_load(void);

/* ---- symbols.c --------------------------------------------------------------- */
typedef struct omi_symbol {
    char function[160];
    char file[256];               /* "" if unknown */
    int line;                     /* 0 if unknown */
    char module[128];             /* the object file's name, without directories */
    uintptr_t offset;             /* the address inside module */
} omi_symbol;
typedef struct omi_symbolizer omi_symbolizer;
/* A symbolizer for this process's current mappings (NULL: addresses only). */
OM_HIDDEN omi_symbolizer *omi_symbolizer_open(void);
OM_HIDDEN void omi_symbolizer_close(omi_symbolizer *s);
/* The call site of return address ra. */
OM_HIDDEN void omi_symbolize(omi_symbolizer *s, const void *ra, omi_symbol *out);
/* The site of trace t: its innermost frame outside objmem.h's inline
 * wrappers (the last frame if all are), symbolized into *out; that
 * frame's address, NULL for an empty trace. */
OM_HIDDEN const void *omi_trace_site(omi_symbolizer *s, const struct omi_trace *t, omi_symbol *out);
/* "f (file.c:12)", "f (libx.so+0x1f0)" or "0x1234" into buf. */
OM_HIDDEN void omi_symbol_format(const omi_symbol *sym, const void *ra, char *buf, size_t cap);

/* ---- objects.c: live objects by type in reports ---------------------------- */
/* The type of the live object in block (its name in *name), or NULL when
 * the block holds none; set by the object layer. */
typedef const void *(*omi_object_namer)(const void *block, const char **name);
OM_HIDDEN void omi_trace_set_object_namer(omi_object_namer fn);
/* The report's section (text, or JSON's "objects" member and its comma). */
OM_HIDDEN void omi_trace_report_objects(omi_fdbuf *w, int json, omi_symbolizer *sym);

/* ---- stats.c -------------------------------------------------------------------- */
typedef struct omi_snap_rec {
    uint32_t id;
    uint32_t pad;
    uint64_t count;               /* OMI_TRACE_ONE units */
    uint64_t bytes;
} omi_snap_rec;

struct om_trace_snap {
    uint64_t magic;
    size_t map_size;              /* bytes of OS memory this snapshot holds */
    uint64_t current, peak, count;
    uint64_t sample_bytes;
    int nframes;
    size_t nrecs;
    omi_snap_rec recs[];
};

/* One line of a grouped statistics or comparison. */
typedef struct omi_group {
    uint64_t hash;
    const char *key;              /* in the grouping's string arena */
    const char *function;         /* the first frame's function */
    uint32_t id;                  /* traceback grouping: the trace */
    uint64_t count, bytes;        /* in the newer snapshot (OMI_TRACE_ONE units for count) */
    uint64_t old_count, old_bytes;
} omi_group;

typedef struct omi_grouping {
    omi_group *groups;
    size_t ngroups;
    char *arena;
    size_t arena_used, arena_cap;
    size_t map_size;
} omi_grouping;

/* Group newer (and older, if not NULL) by by; sorted by bytes, or by the
 * size of the change when comparing.  0 or an errno value. */
OM_HIDDEN int omi_group_snaps(const om_trace_snap *newer, const om_trace_snap *older, int by, omi_symbolizer *sym,
                        omi_grouping *out);
OM_HIDDEN void omi_grouping_free(omi_grouping *g);

/* ---- report.c ------------------------------------------------------------------ */
/* The exit report (OBJMEM_TRACE on): text on stderr, JSON to OBJMEM_TRACE_FILE. */
OM_HIDDEN void omi_trace_exit_report(void);
/* Install the OBJMEM_REPORT_SIGNAL handler and its reporter thread. */
OM_HIDDEN void omi_trace_signal_setup(void);

#endif /* OM_TRACE_H */
