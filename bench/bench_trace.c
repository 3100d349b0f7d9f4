/*
 * bench_trace.c — an LD_PRELOAD library that records every malloc, calloc,
 * realloc and free of a process into a binary trace (trace_format.h) for
 * bench_alloc's `trace` workload.
 *
 *   BENCH_TRACE_OUT=file.trace [BENCH_TRACE_MAX=4000000] \
 *   LD_PRELOAD=.../libbench_trace.so program ...
 *
 * The real functions come from dlsym(RTLD_NEXT); while dlsym itself runs,
 * allocations are served from a static bootstrap buffer (and frees of that
 * buffer are ignored).  Records go into a static buffer under a spinlock
 * and are written with write(2) when it fills, when BENCH_TRACE_MAX events
 * have been recorded (recording then stops) and at exit.  The tracer never
 * allocates itself; a per-thread flag keeps calls made from inside the
 * tracer out of the trace.  Without BENCH_TRACE_OUT it only passes through.
 */
#include "trace_format.h"

#include <errno.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TLS __attribute__((tls_model("initial-exec"))) _Thread_local

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

/* ------------------------------------------------------------ bootstrap */

#define BOOT_BYTES (64 * 1024)
static _Alignas(16) unsigned char boot_buf[BOOT_BYTES];
static atomic_size_t boot_used;
static TLS int resolving; /* this thread is inside dlsym */

static int in_boot(const void *p)
{
    return (const unsigned char *)p >= boot_buf && (const unsigned char *)p < boot_buf + BOOT_BYTES;
}

/* Bump allocation with a 16-byte size header; zeroed (static storage). */
static void *boot_alloc(size_t n)
{
    size_t need = 16 + ((n + 15) & ~(size_t)15);
    size_t at = atomic_fetch_add(&boot_used, need);
    if (at + need > BOOT_BYTES)
        return NULL;
    memcpy(boot_buf + at, &n, sizeof n);
    return boot_buf + at + 16;
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - 16, sizeof n);
    return n;
}

/* dlsym returns an object pointer; copy it into the function pointer
 * (the POSIX-sanctioned way, and clean under -Wpedantic). */
static void load_next(void *fn_ptr_out, const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    memcpy(fn_ptr_out, &p, sizeof p);
}

static void resolve(void)
{
    resolving = 1;
    load_next(&real_malloc, "malloc");
    load_next(&real_calloc, "calloc");
    load_next(&real_realloc, "realloc");
    load_next(&real_free, "free");
    resolving = 0;
    if (!real_malloc || !real_calloc || !real_realloc || !real_free) {
        static const char msg[] = "bench_trace: dlsym(RTLD_NEXT) failed\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        abort();
    }
}

/* ------------------------------------------------------------ recording */

#define BUF_RECS 65536
static trace_rec buf[BUF_RECS];
static size_t nbuf;
static atomic_flag lock = ATOMIC_FLAG_INIT;
static atomic_int enabled;   /* 1 while recording */
static int out_fd = -1;
static uint64_t recorded, max_events = 4000000;
static atomic_uint next_tid;
static TLS uint16_t my_tid;
static TLS int in_tracer;    /* calls from inside the tracer are not recorded */

static void spin_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire)) {
    }
}

static void spin_unlock(void)
{
    atomic_flag_clear_explicit(&lock, memory_order_release);
}

static void write_all(const void *p, size_t len)
{
    const unsigned char *c = p;
    while (len > 0 && out_fd >= 0) {
        ssize_t n = write(out_fd, c, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            atomic_store(&enabled, 0); /* disk full or similar: stop */
            return;
        }
        c += n;
        len -= (size_t)n;
    }
}

/* Lock held. */
static void flush_locked(void)
{
    write_all(buf, nbuf * sizeof buf[0]);
    nbuf = 0;
}

/* Lock held: stop recording for good. */
static void finish_locked(void)
{
    atomic_store(&enabled, 0);
    flush_locked();
    if (out_fd >= 0) {
        close(out_fd);
        out_fd = -1;
    }
}

static void record(uint16_t op, const void *ptr, const void *old, size_t size)
{
    if (!atomic_load_explicit(&enabled, memory_order_relaxed) || in_tracer)
        return;
    in_tracer = 1;
    if (!my_tid)
        my_tid = (uint16_t)(atomic_fetch_add(&next_tid, 1) + 1);
    spin_lock();
    if (atomic_load_explicit(&enabled, memory_order_relaxed)) {
        trace_rec *r = &buf[nbuf++];
        r->ptr = (uint64_t)(uintptr_t)ptr;
        r->old = (uint64_t)(uintptr_t)old;
        r->size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
        r->op = op;
        r->tid = my_tid;
        if (++recorded >= max_events)
            finish_locked();
        else if (nbuf == BUF_RECS)
            flush_locked();
    }
    spin_unlock();
    in_tracer = 0;
}

__attribute__((constructor)) static void trace_start(void)
{
    if (!real_malloc)
        resolve();
    const char *path = getenv("BENCH_TRACE_OUT");
    if (!path || !*path)
        return;
    const char *max = getenv("BENCH_TRACE_MAX");
    if (max && *max) {
        char *end;
        unsigned long long v = strtoull(max, &end, 10);
        if (*end == '\0' && v > 0)
            max_events = v;
    }
    out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0)
        return;
    write_all(TRACE_MAGIC, TRACE_MAGIC_LEN);
    atomic_store(&enabled, 1);
}

__attribute__((destructor)) static void trace_stop(void)
{
    spin_lock();
    finish_locked();
    spin_unlock();
}

/* ------------------------------------------------------------- wrappers */

void *malloc(size_t size)
{
    if (!real_malloc) {
        if (resolving)
            return boot_alloc(size);
        resolve();
    }
    void *p = real_malloc(size);
    if (p)
        record(TRACE_MALLOC, p, NULL, size);
    return p;
}

void *calloc(size_t count, size_t size)
{
    if (!real_calloc) {
        if (resolving) {
            if (size && count > SIZE_MAX / size)
                return NULL;
            return boot_alloc(count * size); /* static storage: zeroed */
        }
        resolve();
    }
    void *p = real_calloc(count, size);
    if (p)
        record(TRACE_CALLOC, p, NULL, count * size);
    return p;
}

void *realloc(void *ptr, size_t size)
{
    if (!real_realloc) {
        if (resolving) {
            void *q = boot_alloc(size);
            if (q && ptr)
                memcpy(q, ptr, boot_size(ptr) < size ? boot_size(ptr) : size);
            return q;
        }
        resolve();
    }
    if (ptr && in_boot(ptr)) {
        /* move a bootstrap block onto the real heap; untraced origin */
        void *q = real_malloc(size);
        if (q)
            memcpy(q, ptr, boot_size(ptr) < size ? boot_size(ptr) : size);
        if (q)
            record(TRACE_MALLOC, q, NULL, size);
        return q;
    }
    void *p = real_realloc(ptr, size);
    record(TRACE_REALLOC, p, ptr, size);
    return p;
}

void free(void *ptr)
{
    if (!ptr || in_boot(ptr))
        return;
    if (!real_free) {
        if (resolving)
            return; /* a free inside dlsym before free is known: leak it */
        resolve();
    }
    record(TRACE_FREE, ptr, NULL, 0);
    real_free(ptr);
}
