/*
 * stack.c — the return addresses of the program's frames at an
 * allocation, captured without allocating.
 *
 * libunwind's unw_backtrace in its local-only mode walks the stack from
 * the DWARF call frame information (.eh_frame), so it works in code built
 * without frame pointers (Debian's libraries), and it takes its caches
 * from mmap, never from malloc (libunwind is written to run inside
 * allocators: gperftools uses it the same way).  tests/test_trace.c checks
 * that no allocation happens while a stack is captured.  glibc's
 * backtrace() is not used: its first call dlopens libgcc_s, which
 * allocates.
 *
 * Which frames are objmem's: every function between a program's call and
 * this file (om_malloc, om_realloc, the drop-in's realloc, the observer,
 * this capture) is placed in the section OMI_ENTRY_SECTION (alloc.h), and
 * the linker brackets it with __start_/__stop_ symbols.  The innermost run
 * of frames inside it is dropped; the first frame after it is the
 * program's call (tail calls inside objmem make no frame, so nothing else
 * of objmem's can sit there).  The walk asks for a few frames more than
 * wanted and again for more if that was short: libunwind's cost is per
 * frame walked.  For one frame, when alloc.c's entry point saw the
 * program's return address (omi_alloc_caller), that is the frame, and
 * nothing is walked: it is the frame the walk would have found.
 *
 * libunwind is loaded when tracing starts (libs.c).  Without it (not
 * found at build time, or not loadable) there are no stacks:
 * omi_trace_stack_available() is 0 and om_trace_start fails with ENOSYS.
 */
#include "trace/trace.h"

#ifdef OM_TRACE_UNWIND
extern const char __start_omi_entry[] OM_HIDDEN;
extern const char __stop_omi_entry[] OM_HIDDEN;
/* OMI_ENTRY_OBJECT's section, given by the object layer when it is
 * linked in (omi_trace_set_object_namer); empty until then. */
static _Atomic(const char *) obj_start, obj_stop;

void omi_trace_set_object_entry(const char *start, const char *stop) {
    atomic_store(&obj_stop, stop);
    atomic_store(&obj_start, start);
}

int omi_trace_stack_available(void) { return omi_trace_libs_load(); }

static int is_object_entry(const void *ra) {
    const char *p = ra, *start = atomic_load_explicit(&obj_start, memory_order_acquire);
    return start && p > start && p <= atomic_load_explicit(&obj_stop, memory_order_relaxed);
}

static int is_ours(const void *ra) {
    const char *p = ra;
    /* a return address follows its call: > start, <= stop */
    return (p > __start_omi_entry && p <= __stop_omi_entry) || is_object_entry(ra);
}

/* Frames walked beyond the max asked for, at first: objmem's own frames
 * on the deepest common path (libunwind's, this file's, the observer's,
 * alloc.c's) are fewer; a walk that comes up short is made again with
 * OMI_TRACE_EXTRA. */
#define FIRST_EXTRA 8
#define OMI_TRACE_EXTRA 24

static int walk(void **frames, int max, int extra, uint32_t *flags) {
    void *raw[OMI_TRACE_MAX_FRAMES + OMI_TRACE_EXTRA];
    int want = max + extra;
    int n = omi_tl.unw_backtrace ? omi_tl.unw_backtrace(raw, want) : 0;
    int i = 0;
    while (i < n && !is_ours(raw[i])) /* libunwind's own frames */
        i++;
    while (i < n && is_ours(raw[i])) {
        if (flags && is_object_entry(raw[i]))
            *flags |= OMI_TRACE_OBJECT;
        i++;
    }
    if (i == n) { /* no program frame seen: all objmem's, or the walk stopped short */
        if (n == want && extra < OMI_TRACE_EXTRA)
            return -1;
        i = 0;
    }
    if (n - i < max && n == want && extra < OMI_TRACE_EXTRA)
        return -1;
    int out = 0;
    for (; i < n && out < max; i++)
        frames[out++] = raw[i];
    return out;
}

OMI_ENTRY int omi_trace_stack_capture(void **frames, int max, uint32_t *flags) {
    const void *ra = omi_alloc_caller();
    if (max == 1 && ra && !is_ours(ra)) { /* the entry point saw the program's call */
        frames[0] = (void *)ra;
        return 1;
    }
    uint32_t f = 0;
    int n = walk(frames, max, FIRST_EXTRA, &f);
    if (n < 0)
        f = 0, n = walk(frames, max, OMI_TRACE_EXTRA, &f);
    if (flags)
        *flags = f;
    return n;
}

#else /* no libunwind */

void omi_trace_set_object_entry(const char *start, const char *stop) {
    (void)start;
    (void)stop;
}

int omi_trace_stack_available(void) { return 0; }

int omi_trace_stack_capture(void **frames, int max, uint32_t *flags) {
    (void)frames;
    (void)max;
    if (flags)
        *flags = 0;
    return 0;
}

#endif
