/*
 * trace_format.h — the on-disk format of an allocation trace, shared by the
 * recorder (bench_trace.c, an LD_PRELOAD library) and the replayer
 * (trace_replay.c, the `--work trace` workload of bench_alloc).
 *
 * A trace file is the 8-byte magic TRACE_MAGIC followed by fixed-size
 * little-endian records, one per allocator call, in the order the calls
 * completed (calls from different threads are serialised by the recorder's
 * lock).  Addresses are the raw pointers of the traced process; the
 * replayer turns them into dense slot ids when it loads the file.
 */
#ifndef BENCH_TRACE_FORMAT_H
#define BENCH_TRACE_FORMAT_H

#include <stdint.h>

#define TRACE_MAGIC "OMTRACE1"
#define TRACE_MAGIC_LEN 8

enum trace_op {
    TRACE_MALLOC = 1,  /* ptr = malloc(size) */
    TRACE_CALLOC = 2,  /* ptr = calloc(1, size): size is nmemb * size */
    TRACE_REALLOC = 3, /* ptr = realloc(old, size) */
    TRACE_FREE = 4     /* free(ptr) */
};

typedef struct trace_rec {
    uint64_t ptr;  /* block returned (malloc/calloc/realloc) or freed */
    uint64_t old;  /* realloc: the block passed in; otherwise 0 */
    uint32_t size; /* bytes requested (clamped to UINT32_MAX) */
    uint16_t op;   /* enum trace_op */
    uint16_t tid;  /* small per-thread number, informational */
} trace_rec;

_Static_assert(sizeof(trace_rec) == 24, "trace_rec must be 24 bytes");

#endif /* BENCH_TRACE_FORMAT_H */
