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
 *   8. objects             om_object / om_type, reference counts, free lists
 *   9. weak references     om_weakref_* with callbacks
 *  10. runtime lock        the GIL: hand-off, blocking calls, thread state
 *  11. cycle collector     om_gc_*: CPython's gc module
 *  12. allocation tracing  om_trace_*: CPython's tracemalloc
 *
 * Conventions: every allocation function (sections 2-7) is safe to call
 * from any thread; objects (sections 8-9) follow CPython's rule instead: use
 * them only while holding the runtime lock (section 10) when more than one
 * thread touches objects.  Allocation
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
 * The ABI (what a compiled program relies on) is named by the shared
 * library's SONAME, libobjmem.so.N: N changes with every incompatible
 * change (a function removed or its parameters changed, a struct laid out
 * by the caller changed other than as allowed below), whatever the version
 * number does.  Within one SONAME a program built against an older
 * objmem.h runs with a newer library.  abi/libobjmem.abi records the ABI
 * of the current release; tools/check_abi.sh compares a build with it.
 *
 * Structs grow only at their end, and a struct the caller allocates
 * carries its size, so that a newer library never writes or reads past
 * what an older caller compiled (Linux's clone3 and openat2, Windows'
 * cbSize):
 *   - a function that fills a struct takes the caller's sizeof as its last
 *     argument; for an array, the count and then the element size.  The
 *     library writes min(caller's size, its own) bytes of each struct and
 *     nothing beyond (a newer caller's extra bytes are left as they were).
 *     A function that reads a struct the same way reads the fields past the
 *     caller's size as 0.  A macro of the function's own name passes the
 *     size: om_stats_get(&s) is (om_stats_get)(&s, sizeof(om_stats)); an
 *     FFI calls the function with the size it has.
 *   - om_type, which the library keeps a pointer to for the life of the
 *     process, carries its size in its first member (OM_TYPE_INIT) and keeps
 *     its mutable state in library memory (section 8).
 * Structs the library allocates and hands to a callback (om_error_info,
 * om_gc_info) grow at their end: a callback reads the fields it knows.
 * Layouts fixed for the life of a SONAME: om_object, om_varobject,
 * om_refs (a hook returns it), om_class_stats and OM_NUM_CLASSES (the
 * array at the start of om_stats), the head of om_type_state (the inline
 * om_new reads it), OM_GC_GENERATIONS (om_gc_get_threshold's array).
 * OM_VERSION_MAJOR, _MINOR, _PATCH and OM_VERSION_STRING are in
 * objmem_version.h, generated from the project's version.
 * ---------------------------------------------------------------------- */
#include "objmem_version.h"

/* Attributes: GNU C's (gcc, clang), and nothing on other compilers. */
#if defined(__GNUC__) || defined(__clang__)
#define OM_API __attribute__((visibility("default")))
#define OM_WARN_UNUSED __attribute__((warn_unused_result))
#define OM_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define OM_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define OM_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#define OM_ALLOC_ALIGN(n) __attribute__((alloc_align(n)))
#define OM_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define OM_API
#define OM_WARN_UNUSED
#define OM_MALLOC_ATTR
#define OM_ALLOC_SIZE(n)
#define OM_ALLOC_SIZE2(n, m)
#define OM_ALLOC_ALIGN(n)
#define OM_DEPRECATED(msg)
#endif

/* Casts in the header's macros and inline functions: C++'s own casts
 * there, so that C++ code builds clean with -Wold-style-cast. */
#ifdef __cplusplus
#define OM_CAST(type, v) (static_cast<type>(v))
#define OM_PTR_CAST(type, v) (reinterpret_cast<type>(v))
#else
#define OM_CAST(type, v) ((type)(v))
#define OM_PTR_CAST(type, v) ((type)(v))
#endif

OM_API const char *om_version(void);

/* ------------------------------------------------------------------------
 * 2. Allocation
 *
 * Requests of 1..512 bytes fall in 32 classes spaced 16 bytes apart,
 * 513 bytes to 128 KiB in 32 geometric classes (4 per power of two, waste
 * under 25%).  Classes of up to 1 KiB are small: served from 16 KiB pools
 * inside 1 MiB arenas (pymalloc); the larger ones are medium: 256 KiB
 * pools inside 4 MiB arenas.  Larger requests are mapped directly.
 * om_malloc(0) returns a unique pointer.
 *
 * Every returned pointer is 16-byte aligned.  om_free(NULL) does nothing.
 * Bad frees are reported through the error handler (section 6), whose
 * default writes the report to stderr and aborts; a handler that returns
 * makes the bad call do nothing.  What is caught where:
 *   - a pointer objmem does not own, or not 16-byte aligned: always, at
 *     the free (a pointer it does not own is only counted, not reported,
 *     with OBJMEM_REPORT_FOREIGN=0, the drop-in malloc's default);
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
 * om_realloc(NULL, n) is om_malloc(n); om_realloc(p, 0) returns a minimal
 * block (the drop-in malloc's
 * realloc(p, 0) frees p and returns NULL, as glibc's does).  On failure p
 * is untouched. */
OM_API void *om_realloc(void *ptr, size_t size) OM_WARN_UNUSED OM_ALLOC_SIZE(2);
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

/* Give free memory back to the kernel now, as malloc_trim does: drain
 * frees from other threads, purge empty pools (instead of after the purge
 * delay), release empty arenas and the large-block cache.  force = 1 also
 * releases the spare arenas.  (Finding unreachable cycles of objects is
 * the collector's om_gc_collect, section 11.) */
OM_API void om_trim(int force);
/* The background purge thread (jemalloc's background_thread): empty
 * pools, empty arenas and cached large blocks normally go back to the
 * kernel at the owning thread's allocator calls once the purge delay has
 * passed, so a thread that frees a lot and then blocks (on I/O, a lock)
 * keeps that memory resident.  With the thread running, they go back
 * within about the purge delay (at most 50 ms later) whatever the threads
 * do.  The price: each thread's slow paths that take or return pools take
 * their heap's lock (uncontended but for the purge thread), and one
 * thread that wakes up at most 20 times a second, less when nothing is
 * waiting to be purged.  OBJMEM_BACKGROUND=1 starts it when objmem is
 * loaded.  Returns 0, or an errno value (EAGAIN: no thread could be
 * made).  Stopping waits for the thread to finish its round.  A child of
 * fork() has no purge thread until it starts one. */
OM_API int om_background_start(void);
OM_API void om_background_stop(void);
OM_API int om_background_running(void);

/* ------------------------------------------------------------------------
 * 3. Statistics
 *
 * A snapshot of the whole allocator.  Counts for heaps of other threads are
 * read without stopping them, so they are exact only when those threads are
 * quiescent; the calling thread's heap is always exact.  om_stats grows at
 * its end; its class table (first) keeps its length and layout for the
 * life of a SONAME.
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
    /* the large-block cache (large.c) */
    uint64_t large_cached_resident; /* of large_cached_bytes, pages that may be resident */
    uint64_t large_reused;         /* large allocations served by a cached mapping (ever) */
    uint64_t large_mapped;         /* large allocations that mapped anew (ever) */
    uint64_t large_decayed;        /* cached mappings whose pages decay gave back (ever) */
} om_stats;

/* Fill the first size bytes of *out (size: the caller's sizeof(om_stats),
 * which the macro passes). */
OM_API void om_stats_get(om_stats *out, size_t size);
#define om_stats_get(out) (om_stats_get)((out), sizeof(om_stats))

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

/* Describe the block containing ptr (ptr may be interior) in the first
 * size bytes of *out.  Returns 0, or ENOENT if ptr is not in objmem's heap
 * (then *out says OM_BLOCK_FOREIGN, the rest 0). */
OM_API int om_block_describe(const void *ptr, om_block_info *out, size_t size);
#define om_block_describe(ptr, out) (om_block_describe)((ptr), (out), sizeof(om_block_info))

typedef struct om_arena_info {
    void *base;
    size_t size;
    int medium;              /* 0: small geometry, 1: medium */
    unsigned pools_total;
    unsigned pools_free;     /* empty pools (resident + purged) */
    unsigned pools_purged;
} om_arena_info;

/* The calling thread's usable arenas in allocation order (fullest first),
 * small arenas then medium arenas.  Fills at most cap entries of elem_size
 * bytes each (the caller's sizeof(om_arena_info)); returns how many there
 * are. */
OM_API size_t om_heap_arenas(om_arena_info *out, size_t cap, size_t elem_size);
#define om_heap_arenas(out, cap) (om_heap_arenas)((out), (cap), sizeof(om_arena_info))

/* Heap snapshot: the whole heap now as ONE line of JSON (then "\n"),
 * appended to fd, so that a file of snapshots is JSON Lines; `objmem
 * heapmap` turns such a file into a page.  flags: 0 (others are EINVAL).
 * Returns 0 or an errno value (of write(2), or ENOMEM).  Allocates
 * nothing from objmem (a private mapping, freed before it returns), so it
 * may run in any thread, one without a heap included.  The layout is
 * copied with every heap's lock and the runtime's held (their slow paths
 * wait; fast paths go on), then formatted and written unlocked.  Counts in
 * the pools of other running threads are approximate; the caller's own
 * and those of quiescent threads are exact.
 *   {"objmem_snapshot":1, "version":"0.3.0", "pid":N, "command":"...",
 *    "seq":K (this process's snapshots, from 0),
 *    "time_ms":T (since this process's first snapshot, monotonic clock),
 *    "geometry":{"pool":16384,"arena":1048576,"medium_pool":262144,
 *                "medium_arena":4194304,"page":4096},
 *    "classes":[block size of each class],
 *    "heaps":[{"id":I (0 the oldest),"state":"active"|"abandoned",
 *              "thread":TID (0 when abandoned)}],
 *    "arenas":[{"base":"0x...","geom":"small"|"medium","heap":I,
 *               "order":k (on its heap's usable list; -1 not on it),
 *               "pools":[[state,class,used,carved,capacity], one a slot]}],
 *       state: 0 never used, 1 empty and resident, 2 empty and purged,
 *       3 used, 4 full, 5 quarantined; class -1 (and used, carved,
 *       capacity 0) when empty
 *    "large":[{"base":"0x...","size":bytes handed out (0 when cached),
 *              "mapped":B,"resident":B,"state":"live"|"cached"}],
 *    "totals":{the om_stats counters by member name, as the JSON report,
 *              and "rss": resident bytes of the process, -1 if unknown},
 *    "objects":{"types":[{"name":...,"live":n,"bytes":n times the type's size}],
 *               "gc":{"generations":[om_gc_get_count],"collections":[per generation]}},
 *    "stop_ns":how long the locks were held,
 *    "truncated":true if the heap grew faster than the copy could follow}
 * Strings escape "</" as "<\/" (the document may sit in a <script>). */
OM_API int om_heap_snapshot_write(int fd, unsigned flags);

/* ------------------------------------------------------------------------
 * 5. OS layer hooks
 *
 * objmem takes memory from the kernel through three calls.  Replace them to
 * inject failures, count, or run on another platform.  Contract:
 *   reserve(size, align): size and align are multiples of the page size,
 *       align a power of two.  Returns a readable, writable, zero-filled
 *       region aligned to align, or NULL.
 *   release(p, size): p/size as reserved (or a page-aligned sub-range).
 *       Returns 0 or an errno value; a range whose release failed stays
 *       mapped and is released again at the next reserve, release or
 *       om_trim, until that succeeds (at most 64 are kept).
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

/* Install hooks (NULL, or a NULL member, restores the default mmap-based
 * ones); size: the caller's sizeof(om_os_hooks). */
OM_API void om_set_os_hooks(const om_os_hooks *hooks, size_t size);
OM_API void om_get_os_hooks(om_os_hooks *out, size_t size);
#define om_set_os_hooks(hooks) (om_set_os_hooks)((hooks), sizeof(om_os_hooks))
#define om_get_os_hooks(out) (om_get_os_hooks)((out), sizeof(om_os_hooks))
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
    OM_ERR_CORRUPTION,           /* heap structure damaged */
    OM_ERR_REFCOUNT,             /* object's count would go below zero */
    OM_ERR_USE_AFTER_FREE,       /* object used after its count reached zero */
    OM_ERR_BAD_OBJECT,           /* NULL or not an object (bad type, bad size) */
    OM_ERR_LOCK,                 /* runtime lock not held, or held twice */
    /* debug mode (om_debug_enable) */
    OM_ERR_BUFFER_OVERFLOW,      /* a write past the end of a block (its trailing guard) */
    OM_ERR_BUFFER_UNDERFLOW,     /* a write before its start (leading guard or header) */
    OM_ERR_WRITE_AFTER_FREE,     /* a freed block changed while in the quarantine */
    OM_ERR_FAMILY_MISMATCH       /* freed by another family: new[] then free, new then delete[]... */
} om_error_code;

/* Handed to the error handler, valid during the call (the library's, so
 * it grows at its end; block points to a library-sized om_block_info). */
typedef struct om_error_info {
    om_error_code code;
    const char *operation;       /* "om_free", "om_realloc", ... */
    const void *pointer;
    const char *message;         /* one line, with block/pool/arena/class */
    const om_block_info *block;  /* never NULL; kind == OM_BLOCK_FOREIGN if unknown */
    const char *type_name;       /* object errors: the object's type, or NULL */
    /* Debug mode's errors: the debug block (else 0).  block describes the
     * allocator's block that holds it (header, guards and data). */
    uint64_t serial;             /* its serial number: the n-th debug allocation */
    size_t requested_size;       /* the bytes asked for */
    int family;                  /* who allocated it: OM_FAMILY_* */
    int free_family;             /* who tried to free it (OM_ERR_FAMILY_MISMATCH) */
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

/* Debug mode: CPython's PYTHONMALLOC=debug hooks.  Every block gets a
 * header (requested size, family, serial number) and guard bytes on both
 * sides:
 *     [header | 0xFD x16 | data (size bytes) | 0xFD x16]
 * New data reads 0xCD (calloc's 0), freed data 0xDD.  Freed blocks wait in
 * a FIFO quarantine (OBJMEM_DEBUG_QUARANTINE_MB, default 16) before they
 * are really freed.  Caught, each as one report through the error handler
 * (serial, requested_size and family filled in):
 *   - at a free or realloc: overflow and underflow (the guards), a double
 *     free, a family mismatch (om_malloc/malloc, objects, C++ new and
 *     new[] are four families), a pointer objmem never gave out, including
 *     one on the caller's stack;
 *   - when a block leaves the quarantine: a write after its free;
 *   - by om_debug_check: all of these, in every live and quarantined block.
 * A block with an error is reported once and then left alone (never freed
 * or reused).  om_usable_size gives the requested size.  The cost: 80 bytes
 * and a lock per block, the fills, the quarantine's memory.
 * Turned on by OBJMEM_DEBUG=1 (objmem run --debug) or by om_debug_enable
 * before the first allocation: 0, or EBUSY once objmem has allocated. */
#define OM_FAMILY_MALLOC 'm'   /* om_malloc & co., and the drop-in's malloc family */
#define OM_FAMILY_OBJECT 'o'   /* om_new, om_new_var: freed by om_dealloc */
#define OM_FAMILY_NEW 'n'      /* the drop-in's C++ operator new / delete */
#define OM_FAMILY_NEW_ARRAY 'a' /* operator new[] / delete[] */
OM_API int om_debug_enable(void);
/* 1 when debug mode is on. */
OM_API int om_debug_enabled(void);
/* Check every live and quarantined block; returns the number of problems
 * (each reported through the error handler; 0 when debug mode is off). */
OM_API int om_debug_check(void);
/* The serial number of the live debug block at ptr, 0 if there is none. */
OM_API uint64_t om_debug_serial(const void *ptr);

/* ------------------------------------------------------------------------
 * 7. Options
 *
 * Read from the environment (OBJMEM_<NAME>) when objmem starts, without
 * allocating; om_option_set overrides at run time.  Values: a switch is
 * 1/yes/true/on or 0/no/false/off (any case); a number is decimal digits
 * (no sign, fraction or hex), in ms or MiB as the name says; a MiB option
 * may end in M (MiB) or G (GiB).  A value outside this grammar keeps the
 * default; a number above the option's maximum is clamped to it; an
 * unknown OBJMEM_ name is ignored: each with one warning on stderr, always
 * (OBJMEM_VERBOSE is not needed), once per process.  OBJMEM_VERBOSE=1
 * also lists every option in force at start.  Reports at exit are written
 * by exit() and a return from main; a process that ends in _exit() or a
 * fatal signal writes none (there is no hook for it).
 * ---------------------------------------------------------------------- */
typedef enum om_option {
    OM_OPTION_CHECKED = 0,       /* OBJMEM_CHECKED: validate every free fully (0/1; section 2).
                                    Set at run time, it applies at once to the calling thread
                                    and to others from their next fresh pool. */
    OM_OPTION_PURGE_DELAY_MS,    /* OBJMEM_PURGE_DELAY_MS: empty pools and arenas go back after this
                                    (default 10) once the heap is quiet (no pool emptied or taken
                                    for this long), at the next allocator call after it; while it
                                    is busy, after about 3x this.  A heap that takes back pools it
                                    had purged doubles that busy delay (up to 64x) and halves it
                                    when quiet.  At most 10^12 (about 31 years) */
    OM_OPTION_PURGE_DECOMMIT,    /* OBJMEM_PURGE_DECOMMIT: 1 MADV_DONTNEED (default), 0 MADV_FREE */
    OM_OPTION_LARGE_CACHE_MB,    /* OBJMEM_LARGE_CACHE_MB: freed large blocks keep resident for
                                    reuse at most max(this, min(recent peak - live, live)) bytes,
                                    live and peak counting large blocks in use (default 64; 0: no
                                    cache, every free unmaps; at most 1048576, 1 TiB) */
    OM_OPTION_VERBOSE,           /* OBJMEM_VERBOSE: messages on stderr, and the options in force
                                    listed at start (0/1) */
    OM_OPTION_STATS,             /* OBJMEM_STATS: the statistics report on stderr at exit, after a
                                    line naming the process (0/1): libobjmem and the drop-in alike,
                                    once per process */
    OM_OPTION_REPORT_FOREIGN,    /* OBJMEM_REPORT_FOREIGN: free of a pointer objmem does not own is
                                    reported (1, libobjmem's default) or ignored and counted (0,
                                    the drop-in malloc's default: the loader frees a few blocks it
                                    allocated before objmem was its malloc) */
    OM_OPTION_BACKGROUND,        /* OBJMEM_BACKGROUND: 1 starts the background purge thread when
                                    objmem is loaded (om_background_start); default 0 */
    OM_OPTION_LARGE_DECAY_MS,    /* OBJMEM_LARGE_DECAY_MS: a freed large block not reused for this
                                    long gives its pages back (madvise), and its mapping goes after
                                    as long again (default 1000; 0: no cache; at most 10^12).
                                    Runs at the next large allocation or free, or heap purge
                                    tick, after it */
    OM_OPTION_SNAPSHOT_EVERY_MS, /* OBJMEM_SNAPSHOT_EVERY_MS: with OBJMEM_SNAPSHOT_FILE=FILE, the
                                    drop-in appends a heap snapshot (om_heap_snapshot_write) to
                                    FILE at start, this often from a thread of its own, and at
                                    exit (default 100; 0: at start and exit only) */
    OM_OPTION_TRACE,             /* OBJMEM_TRACE: allocation tracing with this many frames per
                                    stack from load, and its report at exit (0: off, the default;
                                    at most 128; section 12) */
    OM_OPTION_TRACE_SAMPLE,      /* OBJMEM_TRACE_SAMPLE: trace about one allocation per this many
                                    bytes (K, M or G suffix allowed; 0: every one, the default) */
    OM_OPTION_DEBUG,             /* OBJMEM_DEBUG: debug mode from the first allocation (0/1;
                                    section 6, om_debug_enable) */
    OM_OPTION_DEBUG_QUARANTINE_MB, /* OBJMEM_DEBUG_QUARANTINE_MB: freed blocks debug mode holds
                                    back, checking them when they leave (default 16; 0: none) */
    OM_OPTION_SECURE,            /* OBJMEM_SECURE: hardened mode from the first allocation (section
                                    6): 1 checks links, canaries and frees, randomises blocks, adds
                                    guard pages and aborts on a foreign free; 2 also zeroes blocks
                                    when freed and checks they are still zero when reused
                                    (default 0; read once, at start) */
    OM_OPTION_COUNT
} om_option;

/* Where the value in force came from. */
typedef enum om_option_origin {
    OM_ORIGIN_DEFAULT = 0,     /* objmem's default (also after a rejected value) */
    OM_ORIGIN_ENVIRONMENT,     /* OBJMEM_<NAME> (clamped to the maximum if above it) */
    OM_ORIGIN_API              /* om_option_set */
} om_option_origin;

typedef struct om_option_info {
    const char *name;          /* the environment variable: "OBJMEM_PURGE_DELAY_MS" */
    const char *kind;          /* "switch", "ms", "MiB", "count" or "bytes" */
    const char *summary;       /* one line */
    long value;                /* in force: om_option_get */
    long default_value;
    long max;                  /* the largest value accepted (1 for a switch) */
    om_option_origin origin;
} om_option_info;

/* The value in force; 0 for an unknown option. */
OM_API long om_option_get(om_option opt);
/* Set an option (clamped to 0..max; a switch stores 0 or 1). */
OM_API void om_option_set(om_option opt, long value);
/* Describe opt into the first size bytes of *out: 0, or EINVAL for an
 * unknown option. */
OM_API int om_option_describe(om_option opt, om_option_info *out, size_t size);
#define om_option_describe(opt, out) (om_option_describe)((opt), (out), sizeof(om_option_info))
/* "default", "environment" or "om_option_set". */
OM_API const char *om_option_origin_name(om_option_origin origin);

/* ------------------------------------------------------------------------
 * 8. Objects
 *
 * CPython's object model.  Every object starts with an om_object header:
 * a reference count and a type (16 bytes on 64-bit).  A type with
 * OM_TYPE_GC (a container) or a finalizer also carries a 16-byte header
 * *before* the object, for the cycle collector, as CPython's PyGC_Head;
 * other objects pay nothing.
 *
 *     struct point { om_object ob; double x, y; };
 *     static om_type point_type = { OM_TYPE_INIT, .name = "point",
 *                                   .size = sizeof(struct point),
 *                                   .freelist_limit = 100 };
 *     struct point *p = (struct point *)om_new(&point_type);
 *     ...
 *     om_decref(p);           // freed (or parked on the free list) at zero
 *
 * Reference counts: a new object has count 1 (the caller's reference).
 * When a count reaches zero the object is destroyed at once, in this order:
 * finalize (once per object; it may resurrect by storing a new reference),
 * weak references cleared and their callbacks run (newest first), clear
 * (drops the references the object holds), release (frees what is not an
 * object), then the memory goes to the type's free list or back to the
 * allocator.  References dropped while destroying are destroyed by a loop,
 * not by recursion: a chain of any length is freed in constant C stack.
 * So an object whose last reference its parent's clear drops is destroyed
 * after the parent's release, not inside clear.
 *
 * Counts at or above OM_IMMORTAL_REFCNT are immortal (PEP 683): never
 * changed, never freed.  A negative count marks a dead object (on a free
 * list, or waiting in the destruction loop); om_incref_checked reports it.
 *
 * om_incref/om_decref are macros over static inline functions; with
 * OM_DEBUG defined before including this header they become the checked
 * functions, which report (through the error handler, section 6) a count
 * that would go negative, a dead object (naming its type), a pointer that
 * is not an object, and use without the runtime lock.  The exported
 * functions of the same names serve other languages' FFIs:
 * (om_incref)(o).
 *
 * Types and the ABI.  An om_type starts with its own size: begin its
 * initialiser with OM_TYPE_INIT (a type filled in at run time sets
 * struct_size = sizeof(om_type)); om_new fails with EINVAL without it.
 * objmem reads only the fields that struct_size covers: every om_type has
 * those up to refs (OM_TYPE_SIZE_MIN); ref_fields, freelist_limit and the
 * fields later versions add read as 0 for a type compiled before them.
 * What objmem changes (the free list, the counts, the registry link) is
 * not in om_type (CPython keeps it in PyTypeObject) but in memory of
 * objmem's that the first om_new allocates and state_ points to: that
 * state can grow without changing the layout of the types programs
 * compiled, and programs never lay it out.  Only its head, om_type_state,
 * is fixed (the inline om_new reads it).
 * So define types without const (state_ is set once), zero-initialise what
 * you do not set, and do not change a type's fields after its first
 * object exists (ref_fields and freelist_limit are read then, once;
 * om_type_set_freelist_limit changes the limit).  A type that has made an
 * object joins a registry (om_type_next) for the rest of the process: it
 * must stay valid that long (static types do).
 * ---------------------------------------------------------------------- */
typedef struct om_type om_type;

typedef struct om_object {
    intptr_t refcount;
    const om_type *type;
} om_object;

/* Header of variable-size objects (om_new_var): nitems items follow. */
typedef struct om_varobject {
    om_object ob;
    intptr_t nitems;
} om_varobject;

#define OM_OBJ(p) OM_PTR_CAST(om_object *, p)
#define OM_IMMORTAL_REFCNT (OM_CAST(intptr_t, 1) << 62)
/* Initialiser for a statically allocated (hence immortal) object:
 *     static struct my_none none = { OM_STATIC_OBJECT_INIT(&none_type) }; */
#define OM_STATIC_OBJECT_INIT(type_ptr) { OM_IMMORTAL_REFCNT, (type_ptr) }

/* traverse calls visit once for each reference the object holds (NULLs
 * may be skipped); it stops early and returns what visit returned if that
 * is not 0.  The cycle collector and om_get_referents use it. */
typedef int (*om_visit_fn)(om_object *child, void *arg);
typedef int (*om_traverse_fn)(om_object *self, om_visit_fn visit, void *arg);
/* Drop every reference the object holds (om_clear_ref on each field); the
 * object must stay valid (its other methods may still run). */
typedef void (*om_clear_fn)(om_object *self);
/* Runs once, while the object is still intact and before clear; it may
 * store a new reference to self somewhere (resurrection). */
typedef void (*om_finalize_fn)(om_object *self);
/* Free what the object owns that is not an object (buffers, handles).
 * Runs after clear, just before the memory is released or parked. */
typedef void (*om_release_fn)(om_object *self);
/* Optional fast path for the cycle collector: a type whose references are
 * one contiguous array (a tuple's items, a list's buffer, a node's slots)
 * returns it and its length (NULL entries allowed; returned by value, in
 * two registers); the collector then
 * walks it inline instead of calling visit once per reference.  Such a
 * type still provides traverse (the contract: both report the same
 * references). */
typedef struct om_refs {
    om_object *const *items;
    size_t count;
} om_refs;
typedef om_refs (*om_refs_fn)(om_object *self);

enum {
    OM_TYPE_GC = 1u << 0,       /* container: may be part of a reference cycle */
    /* With OM_TYPE_GC and a refs hook or declared references
     * (ref_fields, OM_TYPE_REF_ITEMS): the references never change once
     * all are set (a tuple).  A collection then stops tracking an instance
     * whose references are all non-NULL and to objects it does not track
     * (CPython's tuple untracking), so tuples of numbers and strings cost
     * the collector nothing after their first collection, whatever the
     * order they and their holders were made in (a tuple of such tuples:
     * after two at most). */
    OM_TYPE_GC_IMMUTABLE = 1u << 1,
    /* A variable-size type whose items are references (item_size is
     * sizeof(om_object *)): a tuple.  See om_type.ref_fields. */
    OM_TYPE_REF_ITEMS = 1u << 2
};

/* One bit of om_type.ref_fields: the field member of struct st holds a
 * reference (an om_object * or a pointer to a struct starting with one). */
#define OM_REF_FIELD(st, member) (OM_CAST(uint64_t, 1) << (offsetof(st, member) / sizeof(void *)))

/* The head of a type's state, in objmem's memory (om_type.state_, set by
 * the type's first om_new): what the inline om_new reads, fixed for the
 * life of a SONAME.  objmem's private state follows it. */
typedef struct om_type_state {
    om_object *freelist;        /* parked instances, linked through refcount */
    uint32_t freelist_len;
    uint8_t small;              /* no prefix, 1..16 bytes past the header (a 32-byte block) */
} om_type_state;

struct om_type {
    size_t struct_size;        /* sizeof(om_type) where the type is compiled:
                                  OM_TYPE_INIT */
    om_type_state *state_;     /* objmem's (see above): leave it NULL */
    const char *name;
    size_t size;               /* bytes of an instance, header included (for
                                  om_new_var: before the items) */
    size_t item_size;          /* bytes per item: om_new_var(t, n) allocates
                                  size + n * item_size; 0 if fixed-size */
    unsigned flags;            /* OM_TYPE_* */
    /* offset of an om_weakref * field inside instances (0: the type cannot
     * be weakly referenced, as CPython's int, float and tuple) */
    size_t weaklist_offset;
    om_traverse_fn traverse;   /* OM_TYPE_GC types: this or ref_fields */
    om_clear_fn clear;         /* if instances hold references not declared
                                  in ref_fields */
    om_finalize_fn finalize;   /* optional */
    om_release_fn release;     /* optional */
    om_refs_fn refs;           /* optional, OM_TYPE_GC types only */
    /* Declared references: bit k says that the pointer-sized word k of an
     * instance (bytes 8k to 8k+7, k < 64; build the bits with
     * OM_REF_FIELD) holds a reference or NULL; OM_TYPE_REF_ITEMS adds a
     * variable-size instance's items.  A type that declares its
     * references needs no traverse and no clear: objmem visits and drops
     * them itself where those hooks are left NULL (a hook that is given
     * is used, and must agree).  The collector walks declared references
     * inline, with no call per object or per reference: the fastest form.
     * Not with a refs hook (one description of the references, not two);
     * the header words, nitems and the weaklist field cannot be declared. */
    uint64_t ref_fields;
    /* Object-specific allocator: how many freed instances to keep for
     * reuse (CPython: float 100, list 80).  Fixed-size types only. */
    unsigned freelist_limit;
};
/* The start of an om_type initialiser: { OM_TYPE_INIT, .name = ... }. */
#define OM_TYPE_INIT .struct_size = sizeof(om_type)
/* The fields every om_type has: those before ref_fields. */
#define OM_TYPE_SIZE_MIN offsetof(om_type, ref_fields)

/* A new object with count 1, the rest of the instance zeroed; NULL with
 * errno ENOMEM (out of memory) or EINVAL (type too small for its header,
 * or om_new on a variable-size type). */
OM_API om_object *om_new(om_type *type) OM_WARN_UNUSED;
/* om_new's fast path, inline: a small type's parked instance (the float
 * case).  The macro om_new uses it; (om_new)(t) calls the function. */
static inline om_object *om_new_inline(om_type *t) {
    om_type_state *s;
    om_object *o;
    if (t && (s = t->state_) != NULL && (o = s->freelist) != NULL && s->small) {
        uint64_t *body = OM_PTR_CAST(uint64_t *, o + 1);
        s->freelist = OM_PTR_CAST(om_object *, ~OM_CAST(uintptr_t, o->refcount));
        s->freelist_len--;
        o->refcount = 1;
        body[0] = 0;             /* small: the block has 16 bytes past the header */
        body[1] = 0;
        return o;
    }
    return (om_new)(t);
}
#define om_new(t) om_new_inline(t)
/* A variable-size object of nitems items (om_varobject.nitems set, items
 * zeroed); ENOMEM also when the size overflows. */
OM_API om_object *om_new_var(om_type *type, size_t nitems) OM_WARN_UNUSED;
/* Resize a variable-size object that only the caller references (count 1,
 * no weak references): *op may move.  0, or ENOMEM (*op untouched), or
 * EINVAL. */
OM_API int om_resize_var(om_object **op, size_t nitems);

OM_API void om_incref(om_object *o);
OM_API void om_decref(om_object *o);
/* Called when a count reaches zero (by om_decref); not for direct use. */
OM_API void om_dealloc(om_object *o);
OM_API void om_incref_checked(om_object *o, const char *file, int line);
OM_API void om_decref_checked(om_object *o, const char *file, int line);
/* Make o immortal: its count never changes again and it is never freed. */
OM_API void om_immortalize(om_object *o);

static inline int om_is_immortal(const om_object *o) { return o->refcount >= OM_IMMORTAL_REFCNT; }

static inline void om_incref_inline(om_object *o) {
    if (o->refcount < OM_IMMORTAL_REFCNT)
        o->refcount++;
}

static inline void om_decref_inline(om_object *o) {
    intptr_t rc = o->refcount;
    if (rc >= OM_IMMORTAL_REFCNT)
        return;
    o->refcount = --rc;
    if (rc == 0)
        om_dealloc(o);
}

#ifdef OM_DEBUG
#define om_incref(o) om_incref_checked(OM_OBJ(o), __FILE__, __LINE__)
#define om_decref(o) om_decref_checked(OM_OBJ(o), __FILE__, __LINE__)
#else
#define om_incref(o) om_incref_inline(OM_OBJ(o))
#define om_decref(o) om_decref_inline(OM_OBJ(o))
#endif
/* NULL-tolerant forms, new-reference helper and Py_CLEAR / Py_SETREF. */
#define om_xincref(o) do { om_object *om_x_ = OM_OBJ(o); if (om_x_) om_incref(om_x_); } while (0)
#define om_xdecref(o) do { om_object *om_x_ = OM_OBJ(o); if (om_x_) om_decref(om_x_); } while (0)
static inline om_object *om_newref(om_object *o) { om_incref(o); return o; }
/* Set *slot to NULL, then drop the reference it held (safe against
 * destruction code that looks at *slot). */
#define om_clear_ref(slot) do { om_object *om_c_ = OM_OBJ(*(slot)); *(slot) = NULL; om_xdecref(om_c_); } while (0)

typedef struct om_type_stats {
    const char *name;
    uint64_t live;             /* instances alive now (created - destroyed) */
    uint64_t created;          /* om_new / om_new_var that succeeded */
    uint64_t destroyed;        /* counts that reached zero (not resurrected) */
    uint64_t freelist_hits;    /* om_new served by the free list */
    uint64_t freelist_misses;  /* creations that took a block from om_malloc */
    uint64_t freelist_len;     /* instances parked now */
    uint64_t freelist_limit;
} om_type_stats;

OM_API void om_type_get_stats(const om_type *type, om_type_stats *out, size_t size);
#define om_type_get_stats(type, out) (om_type_get_stats)((type), (out), sizeof(om_type_stats))
/* Types that have created an object, in registration order: start with
 * NULL, NULL at the end. */
OM_API const om_type *om_type_next(const om_type *prev);
/* Change a type's free-list limit (parked instances above it are freed). */
OM_API void om_type_set_freelist_limit(om_type *type, unsigned limit);
/* Free the parked instances of one type / of every type; return how many. */
OM_API size_t om_type_freelist_clear(om_type *type);
OM_API size_t om_freelists_clear(void);
/* Call visit on each reference o holds (its type's traverse); 0 if none. */
OM_API int om_traverse(om_object *o, om_visit_fn visit, void *arg);

/* ------------------------------------------------------------------------
 * 9. Weak references
 *
 * A weak reference points to an object without keeping it alive.  When the
 * referent dies, every weak reference to it is cleared (om_weakref_get
 * then returns NULL) and the callbacks of those still alive run, newest
 * first, each with the weak reference and its data.  A weak reference is
 * itself an object (om_decref it when done); dropping it before its
 * referent simply unregisters it.  Only types with a weaklist_offset can be
 * weakly referenced.
 * ---------------------------------------------------------------------- */
typedef struct om_weakref om_weakref;
/* data: the object given to om_weakref_new (borrowed; may be NULL). */
typedef void (*om_weakref_callback)(om_weakref *ref, om_object *data);

/* A new weak reference to referent.  callback may be NULL; data (may be
 * NULL) is kept alive by the weak reference until its callback has run or
 * the weak reference dies.  Without a
 * callback, an existing callback-less reference is shared (as CPython).
 * NULL with errno EINVAL (referent cannot be weakly referenced, or is
 * dead) or ENOMEM. */
OM_API om_weakref *om_weakref_new(om_object *referent, om_weakref_callback callback, om_object *data)
    OM_WARN_UNUSED;
/* The referent as a new reference, or NULL once it is dead. */
OM_API om_object *om_weakref_get(om_weakref *ref);
/* How many weak references point to o. */
OM_API size_t om_weakref_count(const om_object *o);
/* Clear o's weak references and run their callbacks now (the destruction
 * path does this; the cycle collector calls it with callbacks = 0 for
 * weak references that are themselves garbage). */
OM_API void om_weakref_clear_all(om_object *o, int callbacks);
extern OM_API om_type om_weakref_type;

/* ------------------------------------------------------------------------
 * 10. Runtime lock (the GIL)
 *
 * One lock for the object world: hold it to touch objects and counts from
 * more than one thread.  CPython's hand-off protocol: a thread waiting for
 * longer than the switch interval (5 ms by default) asks the holder to
 * drop it; the holder does so at its next om_lock_yield (a safe point the
 * runtime calls in its loops) and waits until another thread has taken it,
 * so the lock cannot bounce back to the same thread.  Around blocking
 * calls, release it with OM_BEGIN_ALLOW_THREADS / OM_END_ALLOW_THREADS.
 * The allocator (section 2) never needs it.
 * ---------------------------------------------------------------------- */
typedef struct om_thread om_thread;

OM_API void om_lock_acquire(void);
OM_API void om_lock_release(void);
/* 1 if the calling thread holds the lock. */
OM_API int om_lock_held(void);
/* Safe point: if another thread asked for the lock, hand it over and wait
 * to get it back.  Costs one load otherwise.  Returns 1 if it switched. */
OM_API int om_lock_yield(void);
/* Release the lock around a blocking call; om_lock_restore re-acquires.
 * om_lock_save returns NULL (and does nothing) if the lock is not held. */
OM_API om_thread *om_lock_save(void);
OM_API void om_lock_restore(om_thread *saved);
#define OM_BEGIN_ALLOW_THREADS { om_thread *om_saved_ = om_lock_save();
#define OM_END_ALLOW_THREADS om_lock_restore(om_saved_); }
/* Switch interval in microseconds (default 5000, at least 1). */
OM_API void om_lock_set_switch_interval(unsigned long usec);
OM_API unsigned long om_lock_get_switch_interval(void);
/* The calling thread's state (created on first use, freed at exit). */
OM_API om_thread *om_thread_current(void);

typedef struct om_lock_stats {
    uint64_t acquisitions;     /* times the lock was taken */
    uint64_t contended;        /* of which had to wait */
    uint64_t drop_requests;    /* hand-offs asked for by waiting threads */
    uint64_t switches;         /* hand-offs performed at om_lock_yield */
} om_lock_stats;
OM_API void om_lock_get_stats(om_lock_stats *out, size_t size);
#define om_lock_get_stats(out) (om_lock_get_stats)((out), sizeof(om_lock_stats))

/* ------------------------------------------------------------------------
 * 11. Cycle collector (CPython's gc module)
 *
 * Reference counting cannot free a cycle; the collector does.  Containers
 * (OM_TYPE_GC) are tracked from om_new on, in three generations; a young
 * collection runs when tracked allocations minus deallocations exceed
 * threshold 0 (2000), generation 1 every threshold 1 (10) young ones,
 * generation 2 every threshold 2 (10) of those and only when the objects
 * waiting for their first full collection exceed 25% of the long-lived
 * ones (both weighed as objects plus the references they hold: what a
 * full collection costs).  Automatic collections run at safe points only: om_gc_poll (call
 * it where your runtime can tolerate arbitrary code, as CPython's eval
 * loop does) and om_lock_yield; never inside an allocation.
 *
 * A collection finds the objects that only other objects of the
 * collected generations reference (CPython's update_refs, subtract_refs,
 * move_unreachable, iteratively; its per-object state lives in a side
 * table, a byte per object outside the object, so following a reference
 * does not touch the referent; a table is mapped the first time a
 * collection reaches memory that has none, and if it cannot be, the
 * objects there are kept for that collection), then: weak
 * references to them are cleared (callbacks run only for weak references
 * that are themselves reachable); finalizers run, once per object ever
 * (PEP 442); objects a finalizer resurrected survive; clear breaks the
 * remaining cycles and reference counting frees them.  A full collection
 * also empties the free lists.
 * When every unreachable object is of a type that declares its references
 * (ref_fields, OM_TYPE_REF_ITEMS) and has no clear, finalize or weak
 * references of its own, the collector frees them without calling clear
 * on each: it drops only the references that leave the set (each field
 * still set to NULL before release runs), which is the same outcome.
 *
 * Uncollectable objects and the garbage list.  The collector cannot drop
 * the references of an object whose type has no clear (and declares
 * none).  It clears the others; an object without clear in a cycle that
 * those clears break is then freed by reference counting, as CPython
 * frees a type without tp_clear (what it refers to is released only if
 * its release hook drops those references).  What clearing cannot
 * free is uncollectable: a cycle made only of objects without clear (one
 * that refers to itself, say), the objects without clear such a cycle
 * holds through others without clear, and everything those reach, which
 * is left intact for them (CPython's objects with a legacy finalizer and
 * what they reach): not finalized, not cleared, their weak references
 * kept.  The ones without clear go to the garbage list (CPython's
 * gc.garbage, which lists only what cannot be freed); the rest stay
 * alive, held by them, in the generation the survivors went to.  All of
 * them count as uncollectable, the other unreachable objects as
 * collected.  With OM_GC_DEBUG_SAVEALL every unreachable object goes to
 * the garbage list and none is cleared (the counts are the same).
 *
 * All of it needs the runtime lock when threads share objects.
 * ---------------------------------------------------------------------- */
#define OM_GC_GENERATIONS 3

/* Run a collection of generations 0..generation (2: full; -1 is 2).
 * Returns the number of unreachable objects found (collected plus
 * uncollectable), or -1 with errno EINVAL (bad generation) or EBUSY (a
 * collection is already running, e.g. called from a finalizer). */
OM_API long om_gc_collect(int generation);
/* Safe point: run the automatic collection if one is due.  Cheap when
 * none is.  Returns what om_gc_collect returned, or 0. */
OM_API long om_gc_poll(void);

OM_API void om_gc_enable(void);
OM_API void om_gc_disable(void);
OM_API int om_gc_isenabled(void);
OM_API void om_gc_set_threshold(long threshold0, long threshold1, long threshold2);
OM_API void om_gc_get_threshold(long out[OM_GC_GENERATIONS]);
/* count[0]: tracked allocations minus deallocations since the last young
 * collection; count[1], count[2]: collections of the younger generation
 * since the last of this one (gc.get_count()). */
OM_API void om_gc_get_count(long out[OM_GC_GENERATIONS]);

typedef struct om_gc_gen_stats {
    uint64_t collections;
    uint64_t collected;        /* unreachable objects freed */
    uint64_t uncollectable;    /* unreachable objects that cannot be freed (the
                                  garbage list's, and what they hold) */
    uint64_t total_ns;         /* time spent collecting this generation */
} om_gc_gen_stats;
/* Fill min(count, OM_GC_GENERATIONS) entries of elem_size bytes (the
 * caller's sizeof(om_gc_gen_stats)), generation 0 first; returns
 * OM_GC_GENERATIONS.  The macro fills an array of OM_GC_GENERATIONS. */
OM_API size_t om_gc_get_stats(om_gc_gen_stats *out, size_t count, size_t elem_size);
#define om_gc_get_stats(out) (om_gc_get_stats)((out), OM_GC_GENERATIONS, sizeof(om_gc_gen_stats))

/* Tracking: om_new tracks containers; these are for types that want to
 * track only once fully built, or to stop tracking an object that can no
 * longer be part of a cycle.  Both are idempotent and leave the counts
 * alone (an object counts towards threshold 0 once, at creation); 0, or
 * EINVAL for non-GC types, EBUSY to untrack an object the garbage list
 * holds (om_gc_garbage_clear releases those) or to track one a collection
 * is deleting. */
OM_API int om_gc_track(om_object *o);
OM_API int om_gc_untrack(om_object *o);
OM_API int om_gc_is_tracked(const om_object *o);
OM_API int om_gc_is_finalized(const om_object *o);

/* Callbacks (gc.callbacks): called at the start and the end of every
 * collection, with the generation and, at the end, what it found. */
typedef enum om_gc_phase { OM_GC_START = 0, OM_GC_STOP = 1 } om_gc_phase;
typedef struct om_gc_info {
    int generation;
    long collected;            /* OM_GC_STOP only */
    long uncollectable;        /* OM_GC_STOP only */
    uint64_t duration_ns;      /* OM_GC_STOP only */
    uint64_t examined;         /* objects in the collected generations */
} om_gc_info;
typedef void (*om_gc_callback)(om_gc_phase phase, const om_gc_info *info, void *arg);
/* 0, or ENOMEM (at most 16 callbacks); remove: 0 or ENOENT. */
OM_API int om_gc_callback_add(om_gc_callback fn, void *arg);
OM_API int om_gc_callback_remove(om_gc_callback fn, void *arg);

/* Freeze (gc.freeze): move every tracked object to a permanent generation
 * that collections ignore (keeps pages shared after fork). */
OM_API void om_gc_freeze(void);
OM_API void om_gc_unfreeze(void);
OM_API size_t om_gc_get_freeze_count(void);

/* Introspection.  Each calls visit for every object found (a borrowed
 * reference; do not create or destroy tracked objects from visit) and
 * stops early if visit returns non-zero, returning that value.
 * generation -1: every generation (not the permanent one). */
OM_API int om_gc_get_objects(int generation, om_visit_fn visit, void *arg);
/* Tracked objects that refer to target (gc.get_referrers). */
OM_API int om_gc_get_referrers(om_object *target, om_visit_fn visit, void *arg);
/* What o refers to (gc.get_referents): its traverse. */
OM_API int om_gc_get_referents(om_object *o, om_visit_fn visit, void *arg);
/* How many objects are tracked in a generation (-1: all three). */
OM_API size_t om_gc_count_objects(int generation);

/* Debug flags (gc.set_debug); messages go to stderr. */
enum {
    OM_GC_DEBUG_STATS = 1 << 0,          /* a line per collection */
    OM_GC_DEBUG_COLLECTABLE = 1 << 1,    /* each collectable object found */
    OM_GC_DEBUG_UNCOLLECTABLE = 1 << 2,  /* each uncollectable object found */
    OM_GC_DEBUG_SAVEALL = 1 << 5,        /* keep every unreachable object in the garbage list */
    OM_GC_DEBUG_LEAK = OM_GC_DEBUG_COLLECTABLE | OM_GC_DEBUG_UNCOLLECTABLE | OM_GC_DEBUG_SAVEALL
};
OM_API void om_gc_set_debug(unsigned flags);
OM_API unsigned om_gc_get_debug(void);

/* The garbage list (gc.garbage): the uncollectable objects without clear
 * (see above), and with SAVEALL every unreachable one, each held by a
 * reference of the list. */
OM_API size_t om_gc_garbage_count(void);
OM_API int om_gc_garbage_visit(om_visit_fn visit, void *arg);
/* Drop the list's references (objects in cycles stay until the next
 * collection finds them again); returns how many. */
OM_API size_t om_gc_garbage_clear(void);

/* ------------------------------------------------------------------------
 * 12. Allocation tracing (CPython's tracemalloc, jemalloc's sampling)
 *
 * While tracing is on, every block om_malloc & co. (and the drop-in's
 * malloc family) hand out is recorded with the stack of the call that
 * asked for it (up to nframes return addresses, innermost first, objmem's
 * own frames left out), until it is freed.  Stacks are captured without
 * allocating (libunwind) and stored once each; everything tracing keeps
 * lives in memory from the OS layer, outside the traced heap.  Symbols
 * (function, file:line, from the DWARF line tables through libdw) are
 * looked up only when a report is written.
 *
 * Sampling: with OM_OPTION_TRACE_SAMPLE (OBJMEM_TRACE_SAMPLE=bytes) at
 * start, about one allocation per that many bytes is recorded (a random
 * byte countdown per thread, as jemalloc's heap profiling), and each one
 * stands for the blocks it represents: counts and bytes are unbiased
 * estimates, exact only with full tracing (the option 0, the default).
 * Off costs the fast paths nothing; on, every call takes the slow path.
 *
 * Built without libunwind, tracing is unavailable: om_trace_start fails
 * with ENOSYS and the rest reports nothing traced.  OBJMEM_TRACE=N starts
 * tracing at load with N frames and writes a report at exit (libobjmem(3)).
 * ---------------------------------------------------------------------- */
#define OM_TRACE_MAX_FRAMES 128

/* Start recording (nframes: 1..OM_TRACE_MAX_FRAMES); restarting with
 * another depth or sample rate forgets what was recorded.  0, EINVAL,
 * ENOSYS (no stack unwinder in this build). */
OM_API int om_trace_start(int nframes);
/* Stop and forget every record (traces' ids stay valid); 0. */
OM_API int om_trace_stop(void);
OM_API int om_trace_is_tracing(void);
/* Frames per stack while tracing, else 0. */
OM_API int om_trace_get_traceback_limit(void);
/* Bytes of the traced blocks live now, and at most since the start or
 * om_trace_reset_peak (either pointer may be NULL). */
OM_API void om_trace_get_traced_memory(uint64_t *current, uint64_t *peak);
OM_API void om_trace_reset_peak(void);

/* A snapshot: every live traced block's trace, counted (memory from the
 * OS layer, not the traced heap); NULL with errno (ENOMEM; ENOSYS when
 * tracing is unavailable).  A snapshot taken when tracing is off is empty. */
typedef struct om_trace_snap om_trace_snap;
OM_API om_trace_snap *om_trace_snapshot(void);
OM_API void om_trace_snapshot_free(om_trace_snap *snap);

/* How statistics group blocks: by their whole stack, or by the innermost
 * frame's file:line, function or file. */
typedef enum om_trace_group {
    OM_TRACE_TRACEBACK = 0,
    OM_TRACE_LINENO = 1,
    OM_TRACE_FUNCTION = 2,
    OM_TRACE_FILENAME = 3
} om_trace_group;

/* One group of a snapshot's statistics or of a comparison, handed to a
 * callback (the library's; valid during the call; grows at its end). */
typedef struct om_trace_stat {
    const char *site;          /* "file.c:12", "function", "file.c"; traceback: the innermost frame */
    const char *function;      /* the innermost frame's function ("?" if unknown) */
    uint64_t count, bytes;     /* live blocks and bytes in the (newer) snapshot */
    int64_t count_diff;        /* newer - older (statistics: = count) */
    int64_t bytes_diff;
    uint32_t trace_id;         /* OM_TRACE_TRACEBACK: the trace (om_trace_block_traceback's) */
    uint32_t nframes;          /* OM_TRACE_TRACEBACK: the stack, innermost first */
    void *const *frames;
} om_trace_stat;
/* Return nonzero to stop the walk. */
typedef int (*om_trace_stat_fn)(const om_trace_stat *stat, void *arg);

/* Every group of newer (compared with older, which may be NULL), largest
 * first: by bytes, or by |bytes_diff| when comparing.  0 or an errno value. */
OM_API int om_trace_foreach(const om_trace_snap *newer, const om_trace_snap *older, om_trace_group by,
                            om_trace_stat_fn fn, void *arg);
/* The same written to fd as text or JSON (OM_REPORT_TEXT, OM_REPORT_JSON). */
OM_API int om_trace_statistics(const om_trace_snap *snap, om_trace_group by, int fd, int format);
OM_API int om_trace_compare(const om_trace_snap *older, const om_trace_snap *newer, om_trace_group by, int fd,
                            int format);

/* The stack that allocated the live block ptr: up to n return addresses
 * into frames, innermost first; how many (0: not traced). */
OM_API size_t om_trace_block_traceback(const void *ptr, void **frames, size_t n);

/* The tracing report: totals and peak, the top sites by live bytes and by
 * count, and every live site with its stack (at exit: the leak report).
 * 0 or an errno value (ENOSYS: unavailable). */
OM_API int om_trace_report(int fd, int format);

#ifdef __cplusplus
}
#endif
#endif /* OBJMEM_H */
