/*
 * objmem.h — the one public header of objmem.
 *
 * objmem is CPython's memory system as a standalone C library.  This header
 * is split into banner-delimited sections:
 *
 *   1. version and ABI
 *   2. allocation          om_malloc & co. (pymalloc design, thread-safe)
 *   3. statistics          om_stats_get, text / JSON reports
 *   4. introspection       where a block lives (class, pool, arena)
 *   5. OS layer            replaceable hooks for kernel memory
 *   6. errors and checks   bad-pointer reports, heap consistency check
 *   7. options             runtime tunables
 *
 * Conventions: every function is safe to call from any thread.  Allocation
 * failure returns NULL with errno = ENOMEM and never aborts.  Functions that
 * return an int status return 0 on success or an errno value.
 */
#ifndef OBJMEM_H
#define OBJMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * 1. Version and ABI
 *
 * OM_VERSION_MAJOR changes when the ABI breaks (it is the SONAME version).
 * Structs in this header only grow at their end within a major version.
 * ---------------------------------------------------------------------- */
#define OM_VERSION_MAJOR 0
#define OM_VERSION_MINOR 1
#define OM_VERSION_PATCH 0
#define OM_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define OM_API __attribute__((visibility("default")))
#define OM_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define OM_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define OM_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#define OM_ALLOC_ALIGN(n) __attribute__((alloc_align(n)))
#else
#define OM_API
#define OM_MALLOC_ATTR
#define OM_ALLOC_SIZE(n)
#define OM_ALLOC_SIZE2(n, m)
#define OM_ALLOC_ALIGN(n)
#endif

OM_API const char *om_version(void);

/* ------------------------------------------------------------------------
 * 2. Allocation
 *
 * Requests of 1..512 bytes are small: 32 classes spaced 16 bytes apart,
 * served from 16 KiB pools inside 1 MiB arenas (pymalloc).  513 bytes to
 * 128 KiB are medium: 32 geometric classes (4 per power of two, waste
 * under 25%) served from 256 KiB pools inside 4 MiB arenas.  Larger
 * requests are mapped directly.  om_malloc(0) returns a unique pointer.
 *
 * Every returned pointer is 16-byte aligned.  om_free(NULL) does nothing.
 * Bad frees are reported through the error handler (section 6) and then
 * ignored; what is caught where:
 *   - a pointer objmem does not own, or not 16-byte aligned: always, at
 *     the free;
 *   - a medium or large block freed twice, or a pointer inside one: always,
 *     at the free;
 *   - a small block freed twice: at the free in checked mode
 *     (OBJMEM_CHECKED=1); otherwise when the allocator would hand the block
 *     out a second time (free blocks carry a mark that allocation checks,
 *     so the free path need not read the block), reported by om_malloc as
 *     a double free, and the pool's free list is dropped (its blocks leak)
 *     rather than any block being handed out twice.  The same check
 *     catches a write to a small block after its free;
 *   - a pointer inside a small block: in checked mode.
 * ---------------------------------------------------------------------- */
OM_API void *om_malloc(size_t size) OM_MALLOC_ATTR OM_ALLOC_SIZE(1);
OM_API void *om_calloc(size_t count, size_t size) OM_MALLOC_ATTR OM_ALLOC_SIZE2(1, 2);
/* In place while the block fits and either stays in its class or is at
 * most half empty; large blocks grow by remapping pages, not copying.
 * om_realloc(p, 0) returns a minimal block (the drop-in malloc's
 * realloc(p, 0) frees p and returns NULL, as glibc's does).  On failure p
 * is untouched. */
OM_API void *om_realloc(void *ptr, size_t size) __attribute__((warn_unused_result)) OM_ALLOC_SIZE(2);
OM_API void om_free(void *ptr);
/* Bytes usable at ptr (>= the size requested); 0 for NULL or a foreign pointer. */
OM_API size_t om_usable_size(const void *ptr);
/* alignment: a power of two (any size up to 2^30).  EINVAL otherwise. */
OM_API void *om_aligned_alloc(size_t alignment, size_t size) OM_MALLOC_ATTR OM_ALLOC_SIZE(2) OM_ALLOC_ALIGN(1);
/* alignment: a power of two multiple of sizeof(void *): else EINVAL. */
OM_API int om_posix_memalign(void **out, size_t alignment, size_t size);
/* 1 if ptr is the start of a live block of objmem's heap, else 0.  Never
 * reads memory that may not belong to objmem. */
OM_API int om_owns(const void *ptr);

/* Return what can be returned: drain frees from other threads, purge empty
 * pools now (instead of after the purge delay), release empty arenas and
 * the large-block cache.  force = 1 also releases the spare arenas. */
OM_API void om_collect(int force);

/* ------------------------------------------------------------------------
 * 3. Statistics
 *
 * A snapshot of the whole allocator.  Counts for heaps of other threads are
 * read without stopping them, so they are exact only when those threads are
 * quiescent; the calling thread's heap is always exact.
 * ---------------------------------------------------------------------- */
#define OM_NUM_SMALL_CLASSES 32
#define OM_NUM_MEDIUM_CLASSES 32
#define OM_NUM_CLASSES (OM_NUM_SMALL_CLASSES + OM_NUM_MEDIUM_CLASSES)

typedef struct om_class_stats {
    uint32_t block_size;    /* bytes per block */
    uint32_t blocks_per_pool;
    uint64_t pools;         /* pools currently holding this class */
    uint64_t full_pools;    /* of which full */
    uint64_t blocks_used;   /* allocated blocks */
    uint64_t blocks_free;   /* free blocks in those pools (carved or not) */
} om_class_stats;

typedef struct om_stats {
    om_class_stats classes[OM_NUM_CLASSES];
    /* arenas (small and medium together) */
    uint64_t arenas_allocated;     /* ever mapped */
    uint64_t arenas_reclaimed;     /* ever returned to the OS */
    uint64_t arenas_highwater;     /* most alive at once */
    uint64_t arenas_current;       /* alive now */
    uint64_t small_arenas;         /* alive now, small geometry */
    uint64_t medium_arenas;        /* alive now, medium geometry */
    uint64_t pools_total;          /* pool slots in live arenas */
    uint64_t pools_empty;          /* empty pools in live arenas */
    uint64_t pools_purged;         /* empty pools whose pages went back */
    /* bytes */
    uint64_t bytes_in_use;         /* in allocated blocks (class size) */
    uint64_t bytes_free_blocks;    /* in free blocks of used pools */
    uint64_t bytes_empty_pools;    /* in empty pools, resident or not */
    uint64_t bytes_pool_headers;   /* lost to pool headers */
    uint64_t bytes_quantisation;   /* pool tails too small for a block */
    uint64_t bytes_arena_mapped;   /* arena memory mapped from the OS */
    /* large blocks (mapped directly) */
    uint64_t large_count;          /* live large blocks */
    uint64_t large_bytes;          /* bytes mapped for them */
    uint64_t large_cached;         /* mappings held in the reuse cache */
    uint64_t large_cached_bytes;
    /* OS calls */
    uint64_t os_reserve_calls;     /* mmap */
    uint64_t os_release_calls;     /* munmap */
    uint64_t os_purge_calls;       /* madvise */
    uint64_t os_failures;          /* calls that returned an error */
    uint64_t os_bytes_reserved;    /* mapped now */
    uint64_t os_bytes_peak;        /* most mapped at once */
    /* threads */
    uint64_t heaps_active;         /* heaps owned by a live thread */
    uint64_t heaps_abandoned;      /* heaps left by exited threads */
    uint64_t remote_frees;         /* frees pushed to another thread's heap */
    /* metadata */
    uint64_t meta_bytes;           /* descriptors, heaps, ownership map */
    uint64_t os_remap_calls;       /* mremap: large blocks grown without a copy */
    uint64_t foreign_frees_ignored; /* with OBJMEM_REPORT_FOREIGN=0 */
} om_stats;

OM_API void om_stats_get(om_stats *out);

#define OM_REPORT_TEXT 0
#define OM_REPORT_JSON 1
/* Format the statistics report into buf (NUL-terminated, truncated to cap).
 * Returns the length the whole report needs, excluding the NUL. */
OM_API size_t om_stats_format(char *buf, size_t cap, int format);
/* Write the report to a file descriptor; 0 or an errno value. */
OM_API int om_stats_write(int fd, int format);

/* ------------------------------------------------------------------------
 * 4. Introspection (for tools, tests and the tour)
 * ---------------------------------------------------------------------- */
typedef enum om_block_kind {
    OM_BLOCK_FOREIGN = 0,   /* not objmem's */
    OM_BLOCK_SMALL = 1,
    OM_BLOCK_MEDIUM = 2,
    OM_BLOCK_LARGE = 3
} om_block_kind;

typedef enum om_pool_state {
    OM_POOL_EMPTY = 0,
    OM_POOL_USED = 1,
    OM_POOL_FULL = 2
} om_pool_state;

typedef struct om_block_info {
    om_block_kind kind;
    int size_class;          /* -1 for large */
    size_t block_size;       /* usable bytes */
    void *block;             /* start of the block containing ptr */
    void *pool;              /* pool start (NULL for large) */
    void *arena;             /* arena start, or the large mapping */
    size_t arena_size;
    int pool_index;          /* pool's slot in its arena */
    om_pool_state pool_state;
    unsigned pool_blocks_used;
    unsigned pool_blocks_total;
    unsigned arena_pools_free;
    unsigned arena_pools_total;
} om_block_info;

/* Describe the block containing ptr (ptr may be interior).  Returns 0, or
 * ENOENT if ptr is not in objmem's heap. */
OM_API int om_block_describe(const void *ptr, om_block_info *out);

typedef struct om_arena_info {
    void *base;
    size_t size;
    int medium;              /* 0: small geometry, 1: medium */
    unsigned pools_total;
    unsigned pools_free;     /* empty pools (resident + purged) */
    unsigned pools_purged;
} om_arena_info;

/* The calling thread's usable arenas in allocation order (fullest first),
 * small arenas then medium arenas.  Fills at most cap entries; returns how
 * many there are. */
OM_API size_t om_heap_arenas(om_arena_info *out, size_t cap);

/* ------------------------------------------------------------------------
 * 5. OS layer hooks
 *
 * objmem takes memory from the kernel through three calls.  Replace them to
 * inject failures, count, or run on another platform.  Contract:
 *   reserve(size, align): size and align are multiples of the page size,
 *       align a power of two.  Returns a readable, writable, zero-filled
 *       region aligned to align, or NULL.
 *   release(p, size): p/size as reserved (or a page-aligned sub-range).
 *       Returns 0 or an errno value.
 *   purge(p, size): page-aligned range of a reserved region whose contents
 *       may be discarded; it must read back as zeros.  0 or errno.
 * The hooks may be called with objmem's internal locks held: they must not
 * call back into objmem.
 * ---------------------------------------------------------------------- */
typedef struct om_os_hooks {
    void *(*reserve)(size_t size, size_t align, void *ctx);
    int (*release)(void *p, size_t size, void *ctx);
    int (*purge)(void *p, size_t size, void *ctx);
    void *ctx;
} om_os_hooks;

/* Install hooks (NULL restores the default mmap-based ones). */
OM_API void om_set_os_hooks(const om_os_hooks *hooks);
OM_API void om_get_os_hooks(om_os_hooks *out);
/* The defaults, for hooks that wrap them. */
OM_API void *om_os_default_reserve(size_t size, size_t align, void *ctx);
OM_API int om_os_default_release(void *p, size_t size, void *ctx);
OM_API int om_os_default_purge(void *p, size_t size, void *ctx);

/* ------------------------------------------------------------------------
 * 6. Errors and checks
 * ---------------------------------------------------------------------- */
typedef enum om_error_code {
    OM_ERR_FOREIGN_POINTER = 1,  /* pointer not in objmem's heap */
    OM_ERR_INTERIOR_POINTER,     /* inside a block, not at its start */
    OM_ERR_MISALIGNED_POINTER,   /* not on a 16-byte boundary */
    OM_ERR_DOUBLE_FREE,          /* block already free */
    OM_ERR_CORRUPTION            /* heap structure damaged */
} om_error_code;

typedef struct om_error_info {
    om_error_code code;
    const char *operation;       /* "om_free", "om_realloc", ... */
    const void *pointer;
    const char *message;         /* one line, with block/pool/arena/class */
    om_block_info block;         /* kind == OM_BLOCK_FOREIGN if unknown */
} om_error_info;

typedef void (*om_error_fn)(const om_error_info *info, void *arg);

/* Replace the error handler (NULL restores the default, which writes the
 * message to stderr and aborts).  A handler that returns makes the
 * offending call a no-op. */
OM_API void om_set_error_handler(om_error_fn fn, void *arg);
OM_API const char *om_error_name(om_error_code code);

/* Check every invariant of the calling thread's heap and of the global
 * structures.  Returns 0 if consistent, else the number of problems found
 * (each described on stderr when verbose). */
OM_API int om_heap_check(int verbose);

/* ------------------------------------------------------------------------
 * 7. Options
 *
 * Read once from the environment (OBJMEM_<NAME>) at initialisation, without
 * allocating; om_option_set overrides at run time.
 * ---------------------------------------------------------------------- */
typedef enum om_option {
    OM_OPTION_CHECKED = 0,       /* OBJMEM_CHECKED: validate every free fully (0/1; section 2).
                                    Set at run time, it applies at once to the calling thread
                                    and to others from their next fresh pool. */
    OM_OPTION_PURGE_DELAY_MS,    /* OBJMEM_PURGE_DELAY_MS: empty pools and arenas go back after this
                                    (default 10) once the heap is quiet; while it keeps freeing,
                                    after about 3x this, at the next allocator call after it */
    OM_OPTION_PURGE_DECOMMIT,    /* OBJMEM_PURGE_DECOMMIT: 1 MADV_DONTNEED (default), 0 MADV_FREE */
    OM_OPTION_LARGE_CACHE_MB,    /* OBJMEM_LARGE_CACHE_MB: large-mapping cache bound (default 16) */
    OM_OPTION_VERBOSE,           /* OBJMEM_VERBOSE: messages on stderr (0/1) */
    OM_OPTION_STATS,             /* OBJMEM_STATS: drop-in malloc prints the report at exit (0/1) */
    OM_OPTION_REPORT_FOREIGN,    /* OBJMEM_REPORT_FOREIGN: free of a pointer objmem does not own is
                                    reported (1, libobjmem's default) or ignored and counted (0,
                                    the drop-in malloc's default: the loader frees a few blocks it
                                    allocated before objmem was its malloc) */
    OM_OPTION_COUNT
} om_option;

OM_API long om_option_get(om_option opt);
OM_API void om_option_set(om_option opt, long value);

#ifdef __cplusplus
}
#endif
#endif /* OBJMEM_H */
