/*
 * fail.c — failure injection: every place objmem gets memory fails on
 * demand, for the out-of-memory sweeps (tests/test_internal_oom.c).
 *
 * The places, by kind: each OS call of os.c (reserve, release, purge,
 * remap and move, protect) and each carve of internal metadata that does
 * not make one (a descriptor from meta.c's chunk, a collector's side
 * table from side.c's).  Each asks omi_fail_point(kind) first: 0 goes on, 1 fails as
 * that call fails for real (NULL with ENOMEM, or an errno value).
 *
 * Disarmed (always, outside the sweeps), a point costs one relaxed atomic
 * load, on paths that already make a system call or take the runtime
 * lock.  Armed with (kinds, first, count): the points of those kinds are
 * numbered from 1 as they are met, in every thread; numbers first ..
 * first + count - 1 fail; every point met is counted per kind, so that a
 * run armed with first = 0 (none fails) counts a workload's points.
 * Arm and disarm while no other thread allocates: a thread that is between
 * the load of `armed` and the rest may count its point in the new plan.
 */
#include <stdatomic.h>

#include "os/os.h"

static struct {
    atomic_int armed;
    atomic_uint kinds; /* mask of 1 << omi_fail_kind */
    atomic_uint_fast64_t first, count;
    atomic_uint_fast64_t seen; /* points of the armed kinds met */
    atomic_uint_fast64_t calls[OMI_FAIL_KINDS], injected[OMI_FAIL_KINDS];
} fl;

int omi_fail_point(omi_fail_kind kind) {
    if (om_likely(!atomic_load_explicit(&fl.armed, memory_order_relaxed)))
        return 0;
    atomic_fetch_add(&fl.calls[kind], 1);
    if (!(atomic_load_explicit(&fl.kinds, memory_order_relaxed) & (1u << kind)))
        return 0;
    uint64_t n = atomic_fetch_add(&fl.seen, 1) + 1;
    uint64_t first = atomic_load_explicit(&fl.first, memory_order_relaxed);
    if (first == 0 || n < first || n - first >= atomic_load_explicit(&fl.count, memory_order_relaxed))
        return 0;
    atomic_fetch_add(&fl.injected[kind], 1);
    return 1;
}

void omi_fail_arm(unsigned kinds, uint64_t first, uint64_t count) {
    atomic_store(&fl.armed, 0);
    atomic_store(&fl.kinds, kinds);
    atomic_store(&fl.first, first);
    atomic_store(&fl.count, count);
    atomic_store(&fl.seen, 0);
    for (int k = 0; k < OMI_FAIL_KINDS; k++) {
        atomic_store(&fl.calls[k], 0);
        atomic_store(&fl.injected[k], 0);
    }
    atomic_store(&fl.armed, 1);
}

void omi_fail_disarm(void) { atomic_store(&fl.armed, 0); }

uint64_t omi_fail_calls(omi_fail_kind kind) { return atomic_load(&fl.calls[kind]); }

uint64_t omi_fail_injected(omi_fail_kind kind) { return atomic_load(&fl.injected[kind]); }
