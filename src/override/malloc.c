/*
 * override/malloc.c — the C library's malloc family, served by objmem.
 *
 * Built only into libobjmem-malloc.so (LD_PRELOAD) and libobjmem-malloc.a
 * (link it before libc to make objmem a static program's malloc), never
 * into libobjmem: a general-purpose library must not take over malloc.
 * It is compiled in place of alloc/alloc.c (which it includes first), so
 * the entry points that need no adapting are aliases of om_* (an alias
 * must live in its target's file: no extra call), like glibc's own
 * __libc_* names.
 *
 * glibc's semantics where they differ from om_*:
 *   realloc(p, 0)    frees p and returns NULL (glibc's behaviour)
 *   memalign(a, n)   a not a power of two is rounded up to one
 *   valloc/pvalloc   page alignment; pvalloc rounds the size up to pages
 *   free(foreign)    ignored and counted (OBJMEM_REPORT_FOREIGN=1 reports it):
 *                    the dynamic loader frees a few blocks it allocated
 *                    before objmem was its malloc
 *   mallinfo2()      from om_stats_get(): arena = bytes mapped for arenas,
 *                    hblks/hblkhd = large blocks, uordblks = bytes in use,
 *                    fordblks = free bytes in pools, keepcost = 0
 *   malloc_trim()    om_trim(1); returns 1
 *   malloc_stats()   the text report on stderr
 *   operator new, delete   C++'s replaceable operators, every form libstdc++
 *                    exports (below), on objmem whether or not debug mode
 *                    is on; in debug mode new, new[] and malloc are
 *                    families, so new[] then free or new then delete[] is
 *                    reported (debug/debug.h)
 * At exit (a destructor): OBJMEM_STATS_JSON=FILE writes the JSON report to
 * FILE (each "%p" in FILE becomes the process id: child processes inherit
 * the variable); a FILE that cannot be written is reported on stderr with
 * its path and errno's text.  OBJMEM_STATS=1, the text report, is the
 * core's (alloc/runtime.c), for libobjmem too.  OBJMEM_SNAPSHOT_FILE, heap
 * snapshots on a timer, is capture.c's.
 */
#include "alloc/alloc.c"
#include "override/override.h"
#include "debug/debug.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's prototypes carry attributes (malloc, alloc_size, nothrow) that
 * aliases of om_* need not repeat: optimisation hints only. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif

#define OM_ALIAS(name) __attribute__((alias(#name), used, visibility("default")))
#define OM_EXPORT __attribute__((visibility("default")))

/* ---- aliases: the same code under glibc's names ------------------------- */
void *malloc(size_t n) OM_ALIAS(om_malloc);
void *calloc(size_t count, size_t size) OM_ALIAS(om_calloc);
void free(void *p) OM_ALIAS(om_free);
int posix_memalign(void **out, size_t align, size_t n) OM_ALIAS(om_posix_memalign);
void *aligned_alloc(size_t align, size_t n) OM_ALIAS(om_aligned_alloc);
size_t malloc_usable_size(void *p) OM_ALIAS(om_usable_size);
void *__libc_malloc(size_t n) OM_ALIAS(om_malloc);
void *__libc_calloc(size_t count, size_t size) OM_ALIAS(om_calloc);
void __libc_free(void *p) OM_ALIAS(om_free);

/* ---- adapted entry points -------------------------------------------------- */
OMI_ENTRY OM_EXPORT void *realloc(void *p, size_t n) {
    if (p && n == 0) {
        om_free(p);
        return NULL;
    }
    return om_realloc(p, n);
}

OMI_ENTRY OM_EXPORT void *reallocarray(void *p, size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

OMI_ENTRY OM_EXPORT void *memalign(size_t align, size_t n) {
    if (align & (align - 1)) {
        size_t a = OM_ALIGNMENT;
        while (a < align && a <= OM_MAX_ALIGNMENT)
            a <<= 1;
        align = a;
    }
    return om_aligned_alloc(align < OM_ALIGNMENT ? OM_ALIGNMENT : align, n);
}

OMI_ENTRY OM_EXPORT void *valloc(size_t n) { return om_aligned_alloc(omi_os_page_size(), n); }

OMI_ENTRY OM_EXPORT void *pvalloc(size_t n) {
    size_t page = omi_os_page_size(), rounded = (n + page - 1) & ~(page - 1);
    if (rounded < n) {
        errno = ENOMEM;
        return NULL;
    }
    return om_aligned_alloc(page, rounded ? rounded : page);
}

void *__libc_realloc(void *p, size_t n) __attribute__((alias("realloc"), visibility("default")));
void *__libc_memalign(size_t align, size_t n) __attribute__((alias("memalign"), visibility("default")));
void *__libc_valloc(size_t n) __attribute__((alias("valloc"), visibility("default")));
void *__libc_pvalloc(size_t n) __attribute__((alias("pvalloc"), visibility("default")));

/* ---- glibc's malloc queries -------------------------------------------------- */
static size_t clamp_int(uint64_t v) { return v > (uint64_t)INT32_MAX ? (size_t)INT32_MAX : (size_t)v; }

OM_EXPORT struct mallinfo2 mallinfo2(void) {
    om_stats s;
    om_stats_get(&s);
    struct mallinfo2 mi = {0};
    mi.arena = s.bytes_arena_mapped;
    mi.ordblks = s.pools_empty;
    mi.hblks = s.large_count;
    mi.hblkhd = s.large_bytes;
    mi.uordblks = s.bytes_in_use + s.large_bytes;
    mi.fordblks = s.bytes_free_blocks + s.bytes_empty_pools;
    return mi;
}

/* mallinfo is deprecated in glibc's header but still called by programs. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
OM_EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi = {0};
    mi.arena = (int)clamp_int(m2.arena);
    mi.ordblks = (int)clamp_int(m2.ordblks);
    mi.hblks = (int)clamp_int(m2.hblks);
    mi.hblkhd = (int)clamp_int(m2.hblkhd);
    mi.uordblks = (int)clamp_int(m2.uordblks);
    mi.fordblks = (int)clamp_int(m2.fordblks);
    return mi;
}
#pragma GCC diagnostic pop

OM_EXPORT int malloc_trim(size_t pad) {
    (void)pad;
    om_trim(1);
    return 1;
}

OM_EXPORT void malloc_stats(void) { om_stats_write(2, OM_REPORT_TEXT); }

/* ---- C++: operator new and delete -------------------------------------------------
 * The 20 forms libstdc++ exports, by their Itanium names (size_t is
 * unsigned long, 'm'; std::align_val_t is a size_t; std::nothrow_t is
 * passed by reference and unused).  Sized deletes ignore the size.
 * Out of memory: C cannot throw std::bad_alloc, so the throwing forms do
 * what libstdc++'s do up to the throw: while the program has a new
 * handler (std::get_new_handler, found when libstdc++ is loaded: a weak
 * reference, NULL in a C program) call it and try again; with none,
 * write "objmem: out of memory in operator new (N bytes)" and abort
 * (mimalloc's C override ends the same way).  The nothrow forms return
 * NULL at once: a handler may throw, and they may not. */
typedef void (*new_handler_fn)(void);
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));

OMI_ENTRY static void *cxx_alloc(size_t n, size_t align, int family) {
#if OM_HARDENED
    if (align <= OM_ALIGNMENT) {
        void *p = hardened_alloc(n, family);
        if (om_likely(p != NULL))
            return p;
    }
#endif
    if (om_unlikely(omi_divert() != NULL))
        return omi_family_alloc(n, align, family);
    return align > OM_ALIGNMENT ? om_aligned_alloc(align, n) : om_malloc(n);
}

__attribute__((noreturn, noinline)) static void cxx_out_of_memory(size_t n) {
    char msg[128];
    int len = snprintf(msg, sizeof msg, "objmem: out of memory in operator new (%zu bytes)\n", n);
    if (len > 0) {
        ssize_t w = write(2, msg, (size_t)len < sizeof msg ? (size_t)len : sizeof msg - 1);
        (void)w;
    }
    abort();
}

OMI_ENTRY static void *cxx_new(size_t n, size_t align, int family) {
    for (;;) {
        void *p = cxx_alloc(n, align, family);
        if (om_likely(p != NULL))
            return p;
        new_handler_fn handler = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
        if (!handler)
            cxx_out_of_memory(n);
        handler();
    }
}

OMI_ENTRY static void cxx_delete(void *p, int family) {
#if OM_HARDENED
    if (om_likely(hardened_free(p, family)))
        return;
#endif
    if (om_unlikely(omi_divert() != NULL))
        omi_family_free(p, family, family == OM_FAMILY_NEW_ARRAY ? "operator delete[]" : "operator delete");
    else
        om_free(p);
}

/* In OMI_ENTRY's section, so that tracing names the program's new, not
 * these (alloc.h). */
#define NEW_FN(name, args, call)        \
    OM_EXPORT void *name args;          \
    OMI_ENTRY OM_EXPORT void *name args { return call; }
#define DELETE_FN(name, args, family) \
    OM_EXPORT void name args;         \
    OMI_ENTRY OM_EXPORT void name args { cxx_delete(p, family); }
#define N OM_FAMILY_NEW
#define A OM_FAMILY_NEW_ARRAY

NEW_FN(_Znwm, (size_t n), cxx_new(n, 0, N))
NEW_FN(_Znam, (size_t n), cxx_new(n, 0, A))
NEW_FN(_ZnwmRKSt9nothrow_t, (size_t n, const void *nt), ((void)nt, cxx_alloc(n, 0, N)))
NEW_FN(_ZnamRKSt9nothrow_t, (size_t n, const void *nt), ((void)nt, cxx_alloc(n, 0, A)))
NEW_FN(_ZnwmSt11align_val_t, (size_t n, size_t al), cxx_new(n, al, N))
NEW_FN(_ZnamSt11align_val_t, (size_t n, size_t al), cxx_new(n, al, A))
NEW_FN(_ZnwmSt11align_val_tRKSt9nothrow_t, (size_t n, size_t al, const void *nt), ((void)nt, cxx_alloc(n, al, N)))
NEW_FN(_ZnamSt11align_val_tRKSt9nothrow_t, (size_t n, size_t al, const void *nt), ((void)nt, cxx_alloc(n, al, A)))

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
DELETE_FN(_ZdlPv, (void *p), N)
DELETE_FN(_ZdaPv, (void *p), A)
DELETE_FN(_ZdlPvm, (void *p, size_t n), N)
DELETE_FN(_ZdaPvm, (void *p, size_t n), A)
DELETE_FN(_ZdlPvRKSt9nothrow_t, (void *p, const void *nt), N)
DELETE_FN(_ZdaPvRKSt9nothrow_t, (void *p, const void *nt), A)
DELETE_FN(_ZdlPvSt11align_val_t, (void *p, size_t al), N)
DELETE_FN(_ZdaPvSt11align_val_t, (void *p, size_t al), A)
DELETE_FN(_ZdlPvmSt11align_val_t, (void *p, size_t n, size_t al), N)
DELETE_FN(_ZdaPvmSt11align_val_t, (void *p, size_t n, size_t al), A)
DELETE_FN(_ZdlPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t al, const void *nt), N)
DELETE_FN(_ZdaPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t al, const void *nt), A)
#pragma GCC diagnostic pop
#undef N
#undef A

/* ---- start and end ---------------------------------------------------------- */
/* The loader may call malloc before libc has set `environ`; read the
 * options again once constructors run. */
__attribute__((constructor)) static void override_start(void) {
    omi_options_init();
    /* Hardened mode is decided at the first allocation: if the loader
     * allocated before `environ` was set, OBJMEM_SECURE was not seen then.
     * A program that asked for it must not run unprotected in silence.
     * (Initialise now if nothing has allocated yet: it decides.) */
    omi_runtime_init();
    if (omi_option_value(OM_OPTION_SECURE) && !omi_secure.on && !omi_option_value(OM_OPTION_DEBUG)) {
        static const char msg[] = "objmem: OBJMEM_SECURE was read after the first allocation: hardened mode is off\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
    omi_capture_start();
}

int omi_expand_pid(const char *pattern, char *out, size_t cap) {
    char pid[24];
    int plen = snprintf(pid, sizeof pid, "%ld", (long)getpid());
    size_t n = 0;
    for (const char *s = pattern; *s; s++) {
        const char *piece = s;
        size_t len = 1;
        if (s[0] == '%' && s[1] == 'p') {
            piece = pid;
            len = (size_t)plen;
            s++;
        }
        if (n + len >= cap)
            return 0;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 1;
}

void omi_report_write_failure(const char *what, const char *path, int error) {
    char msg[4096 + 256];
    int n = snprintf(msg, sizeof msg, "objmem: cannot write %s to %s: %s\n", what, path,
                     error ? strerror(error) : "path too long after expanding %p");
    if (n > 0) {
        ssize_t w = write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        (void)w;
    }
}

static void report_json_failure(const char *path, int error) {
    omi_report_write_failure("the statistics report", path, error);
}

/* OBJMEM_STATS_JSON=FILE: the JSON report to FILE; a failure to open,
 * write or close it is reported, naming FILE (the program's exit status
 * is its own and stays unchanged). */
static void write_json_report(const char *pattern) {
    char path[4096];
    int fd, rc;
    if (!omi_expand_pid(pattern, path, sizeof path)) {
        report_json_failure(pattern, 0);
        return;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        report_json_failure(path, errno);
        return;
    }
    rc = om_stats_write(fd, OM_REPORT_JSON);
    if (close(fd) != 0 && rc == 0 && errno != EINTR)
        rc = errno;
    if (rc != 0)
        report_json_failure(path, rc);
}

__attribute__((destructor)) static void override_end(void) {
    omi_capture_end();
    const char *pattern = omi_option_string("STATS_JSON");
    if (pattern && *pattern)
        write_json_report(pattern);
}
