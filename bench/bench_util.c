/*
 * bench_util.c — clocks, RSS probes and scratch memory for bench_alloc.
 *
 * Nothing here allocates through malloc: /proc files are read with
 * open/read into stack buffers and scratch arrays come from mmap, so the
 * allocator under test only ever sees the workload's own requests.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

void bench_die(const char *fmt, ...)
{
    va_list ap;
    fputs("bench_alloc: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Read a small /proc file into buf (NUL-terminated); returns length or -1. */
static ssize_t read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

long bench_rss_kb(void)
{
    char buf[256];
    if (read_proc("/proc/self/statm", buf, sizeof buf) <= 0)
        return -1;
    /* fields: size resident shared text lib data dt (pages) */
    char *end;
    strtol(buf, &end, 10);
    long resident = strtol(end, NULL, 10);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

long bench_hwm_kb(void)
{
    char buf[4096];
    if (read_proc("/proc/self/status", buf, sizeof buf) <= 0)
        return -1;
    const char *line = strstr(buf, "VmHWM:");
    if (!line)
        return -1;
    return strtol(line + 6, NULL, 10);
}

void bench_reset_hwm(void)
{
    /* Linux >= 4.0: writing 5 resets the peak RSS to the current RSS.  If
     * this fails the peak simply covers the whole process lifetime. */
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (write(fd, "5", 1) != 1) {
        /* ignored: see above */
    }
    close(fd);
}

void bench_settle(const bench_allocator *a)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    volatile char *p = a->malloc_fn(16);
    if (!p)
        bench_die("settle: malloc(16) failed");
    p[0] = 1;
    a->free_fn((void *)p);
}

void *bench_scratch_lazy(size_t bytes)
{
    if (bytes == 0)
        bytes = 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap of %zu scratch bytes failed: %s", bytes, strerror(errno));
    return p;
}

void *bench_scratch(size_t bytes)
{
    void *p = bench_scratch_lazy(bytes);
    memset(p, 0, bytes ? bytes : 1); /* pre-touch so it is in the baseline RSS */
    return p;
}

void bench_scratch_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes ? bytes : 1);
}
