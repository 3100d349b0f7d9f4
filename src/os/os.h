/*
 * os.h — the platform layer's internal header: what objmem takes from the
 * process it runs in.  Kernel memory behind the replaceable hooks (os.c:
 * its contract opens that file), a clock, the OBJMEM_* options read
 * from the environment (options.c), and the process itself: which copy of
 * objmem speaks for it, and its name in reports (process.c).  Every other
 * layer builds on this one; it includes nothing of theirs.
 *
 * Internal names: functions and variables shared between objmem's files
 * are prefixed omi_ and hidden (OM_HIDDEN), so that the shared library
 * exports only the public om_ API and the static archives define nothing
 * outside objmem's two prefixes.
 */
#ifndef OM_OS_H
#define OM_OS_H

#include <stddef.h>
#include <stdint.h>

#include "objmem.h"

#define OM_HIDDEN __attribute__((visibility("hidden")))
#define om_likely(x) __builtin_expect(!!(x), 1)
#define om_unlikely(x) __builtin_expect(!!(x), 0)

/* The size convention for structs the caller allocates (objmem.h,
 * section 1): the caller's struct has caller_size bytes, the library's
 * lib_size.  Out: copy min of the two, write nothing beyond.  In: the
 * fields past the caller's size read as 0. */
static inline void omi_struct_out(void *caller, size_t caller_size, const void *lib, size_t lib_size) {
    __builtin_memcpy(caller, lib, caller_size < lib_size ? caller_size : lib_size);
}
static inline void omi_struct_in(void *lib, size_t lib_size, const void *caller, size_t caller_size) {
    __builtin_memset(lib, 0, lib_size);
    __builtin_memcpy(lib, caller, caller_size < lib_size ? caller_size : lib_size);
}

/* ---- os.c: kernel memory behind the hooks ----------------------------- */
OM_HIDDEN void *omi_os_reserve(size_t size, size_t align);
OM_HIDDEN int omi_os_release(void *p, size_t size);
/* Release again the ranges whose release failed (os.c). */
OM_HIDDEN void omi_os_retry_releases(void);
/* Hold that table across fork (after omi_rt.lock), release it after. */
OM_HIDDEN void omi_os_fork_lock(void);
OM_HIDDEN void omi_os_fork_unlock(void);
OM_HIDDEN int omi_os_purge(void *p, size_t size);
OM_HIDDEN void *omi_os_remap(void *old, size_t old_size, size_t new_size, size_t align);
OM_HIDDEN int omi_os_can_remap(void);
OM_HIDDEN int omi_os_move(void *from, void *to, size_t size, size_t *moved);
OM_HIDDEN void omi_os_put_back(void *from, void *to, size_t size);
OM_HIDDEN int omi_os_protect(void *p, size_t size, int access);
/* "objmem: why" on stderr, then abort: for a state no return value can
 * describe (a block the kernel left in two places). */
OM_HIDDEN _Noreturn void omi_os_fatal(const char *why);
OM_HIDDEN size_t omi_os_page_size(void);
OM_HIDDEN uint64_t omi_os_now_ns(void);
OM_HIDDEN void omi_os_stats(om_stats *out);

/* ---- fail.c: failure injection for the out-of-memory sweeps ------------ */
typedef enum omi_fail_kind {
    OMI_FAIL_RESERVE, /* omi_os_reserve, the snapshot's mmap */
    OMI_FAIL_RELEASE, /* omi_os_release: kept and retried (os.c) */
    OMI_FAIL_PURGE,   /* omi_os_purge: the pages stay as they were */
    OMI_FAIL_REMAP,   /* omi_os_remap and omi_os_move: nothing moves */
    OMI_FAIL_PROTECT, /* omi_os_protect: the pages keep their access */
    OMI_FAIL_META,    /* a descriptor from meta.c's chunk */
    OMI_FAIL_SIDE,    /* a collector's side table from side.c's chunk */
    OMI_FAIL_KINDS
} omi_fail_kind;
/* 1: the caller fails this call as if the system had (fail.c). */
OM_HIDDEN int omi_fail_point(omi_fail_kind kind);
/* Number the points of the kinds in the mask from 1; first .. first +
 * count - 1 fail (first 0: none, only counted). */
OM_HIDDEN void omi_fail_arm(unsigned kinds, uint64_t first, uint64_t count);
OM_HIDDEN void omi_fail_disarm(void);
/* Points met of a kind since arming (of any kind armed or not), and failed. */
OM_HIDDEN uint64_t omi_fail_calls(omi_fail_kind kind);
OM_HIDDEN uint64_t omi_fail_injected(omi_fail_kind kind);

/* ---- options.c: OBJMEM_* from the environment --------------------------- */
/* Read the environment (again): values om_option_set gave are kept, the
 * others come from the environment or their defaults.  The first reading
 * that finds `environ` prints the warnings (and, with OBJMEM_VERBOSE, the
 * list), if this copy speaks for the process. */
OM_HIDDEN void omi_options_init(void);
OM_HIDDEN long omi_option_value(om_option opt);
/* Store a value, clamped to the option's range; returns what was stored
 * (om_option_set, in the allocator, adds its side effects). */
OM_HIDDEN long omi_option_store(om_option opt, long value);
/* OBJMEM_<name>'s value as it is in environ (not an option: STATS_JSON). */
OM_HIDDEN const char *omi_option_string(const char *name);
/* Let the next reading print its warnings again, as the first does (for
 * fuzz/fuzz_options.c, which reads environments over and over). */
OM_HIDDEN void omi_options_rearm_warnings(void);
/* Re-make the options' lock in fork's child (runtime.c's handler). */
OM_HIDDEN void omi_options_fork_child(void);
/* This copy's own om_option_get (a hidden alias). */
OM_HIDDEN extern long omi_option_get_own(om_option opt);

/* ---- loader.c: blocks the dynamic loader allocated before objmem --------- */
/* Remember where the loader's own early allocator put its blocks (call
 * before objmem's first allocation is handed out; no allocation). */
OM_HIDDEN void omi_loader_note(void);
/* 1 if p may be a block of the loader's early allocator (loader.c). */
OM_HIDDEN int omi_loader_block(const void *p);

/* ---- fdbuf.c: buffered output to a file descriptor, no allocation -------- */
typedef struct omi_fdbuf {
    int fd, err;  /* err: the first write error (0: none) */
    size_t len;
    char buf[8192];
} omi_fdbuf;
OM_HIDDEN void omi_fdbuf_put(omi_fdbuf *w, const char *s, size_t n);
OM_HIDDEN void omi_fdbuf_flush(omi_fdbuf *w);
OM_HIDDEN void omi_fdbuf_printf(omi_fdbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
OM_HIDDEN void omi_fdbuf_json_str(omi_fdbuf *w, const char *s); /* s as a JSON string, quotes included */

/* ---- process.c: the process objmem runs in ------------------------------- */
/* 1 if this copy of objmem speaks for the process: warnings, the option
 * list, the report at exit. */
OM_HIDDEN int omi_process_speaks(void);
/* "pid 1234 (./prog arg1 arg2)", NUL-terminated, cut to cap; no allocation. */
OM_HIDDEN void omi_process_describe(char *buf, size_t cap);
/* The command line, arguments separated by spaces: at most cap - 1 bytes,
 * not NUL-terminated; returns the length.  No allocation. */
OM_HIDDEN size_t omi_process_command(char *buf, size_t cap);

#endif /* OM_OS_H */
