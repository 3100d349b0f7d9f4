/*
 * objects.h — the object benchmark (bench_objects): one interface, two
 * implementations of every workload.
 *
 *   objects_om.c   objmem's object layer through the example types
 *                  (examples.h: ex_float, ex_int, ex_tuple, ex_list, ...)
 *   objects_py.c   the same operations through CPython's C API
 *                  (libpython3.11, interpreter initialised)
 *
 * The two files are written line for line alike: same loops, same error
 * checks, same checksum reads (a field load on both sides), same
 * compiler barrier, loop bounds copied to locals (a store through an
 * object pointer could alias *p and force a reload every iteration).
 * Each workload fills an obj_timing: up to OBJ_MAX_PHASES timed phases
 * (nanoseconds on two clocks and an object count each) and a checksum
 * that must be equal on both sides.
 */
#ifndef BENCH_OBJECTS_H
#define BENCH_OBJECTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#define OBJ_MAX_PHASES 2

/* Hide a pointer's value from the optimiser: after OBJ_OPAQUE(p) the
 * compiler must assume p may point anywhere, so loads and stores through
 * it cannot be merged or removed across the barrier.  Costs no
 * instruction. */
#define OBJ_OPAQUE(p) __asm__ __volatile__("" : "+r"(p))

enum obj_variant {
    OBJ_V_DEFAULT = 0,
    OBJ_V_NOFL,    /* objmem: ex_float_type's free-list limit set to 0 */
    OBJ_V_NOGC     /* both cycle collectors disabled (PyGC_Disable, om_gc_disable) */
};

typedef struct obj_params {
    size_t n;           /* iterations / elements */
    size_t batch;       /* batch workloads: objects per batch; dict: keys */
    size_t reps;        /* batch workloads and dict: repeats */
    int variant;        /* enum obj_variant */
    void **slots;       /* scratch (mmap) of at least `batch` pointers */
    void **slots2;      /* second scratch array, same size */
} obj_params;

typedef struct obj_timing {
    uint64_t wall_ns[OBJ_MAX_PHASES];  /* CLOCK_MONOTONIC */
    uint64_t cpu_ns[OBJ_MAX_PHASES];   /* CLOCK_THREAD_CPUTIME_ID */
    uint64_t faults[OBJ_MAX_PHASES];   /* page faults (minor + major) */
    uint64_t ops[OBJ_MAX_PHASES];
    uint64_t chk;
} obj_timing;

/* Both clocks and the thread's page-fault count are read at every phase
 * boundary (never inside a timed loop).  The thread's CPU time leaves out
 * the time this thread spent descheduled, which on a shared machine is
 * most of the noise; the wall clock is recorded too.  Page faults show
 * how much of a phase went to the kernel handing out fresh pages. */
typedef struct obj_clock { uint64_t wall, cpu, faults; } obj_clock;

static inline obj_clock obj_now(void)
{
    struct timespec w, c;
    struct rusage ru;
    clock_gettime(CLOCK_MONOTONIC, &w);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        ru.ru_minflt = ru.ru_majflt = 0;
    obj_clock r = {(uint64_t)w.tv_sec * 1000000000u + (uint64_t)w.tv_nsec,
                   (uint64_t)c.tv_sec * 1000000000u + (uint64_t)c.tv_nsec,
                   (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt};
    return r;
}

/* Add the interval [from, to] to phase ph. */
static inline void obj_add(obj_timing *t, int ph, obj_clock from, obj_clock to)
{
    t->wall_ns[ph] += to.wall - from.wall;
    t->cpu_ns[ph] += to.cpu - from.cpu;
    t->faults[ph] += to.faults - from.faults;
}

/* 0 on success; -1 after printing why on stderr. */
typedef int (*obj_fn)(const obj_params *p, obj_timing *t);

enum obj_work {
    OBJ_W_FLOAT,        /* create + destroy one float at a time */
    OBJ_W_FLOAT_BATCH,  /* create `batch` floats, then destroy them all */
    OBJ_W_INT,          /* one int at a time, values 1000 + i */
    OBJ_W_INT_BATCH,
    OBJ_W_INCREF,       /* incref + decref of one live object */
    OBJ_W_LIST,         /* phase 0: build list of n 2-tuples of floats; 1: drop it */
    OBJ_W_DICT,         /* phase 0: d[k] = v for `batch` str keys; 1: d[k] lookups */
    OBJ_W_COUNT
};

typedef struct obj_side {
    const char *name;
    obj_fn fn[OBJ_W_COUNT];
} obj_side;

extern const obj_side obj_side_objmem;
extern const obj_side obj_side_cpython;

/* objects_om.c: take the runtime lock (as a runtime would). */
int obj_objmem_init(void);
const char *obj_objmem_version(void);
/* objmem's cycle-collector thresholds, for the report. */
void obj_objmem_gc_thresholds(long out[3]);
/* objects_py.c: start the interpreter once (pymalloc forced, as
 * bench_alloc's pymalloc does); 0 or -1. */
int obj_cpython_init(void);
const char *obj_cpython_version(void);
/* CPython's gc thresholds, for the report. */
void obj_cpython_gc_thresholds(long out[3]);

#endif /* BENCH_OBJECTS_H */
