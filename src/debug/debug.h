/*
 * debug.h — debug mode's internal header: the debug block, its families,
 * and what the layers above (objects, the drop-in, tracing) call.
 *
 * Debug mode is CPython's PYTHONMALLOC=debug: a layer that wraps the
 * allocator.  Every block it hands out is carved from one block of the
 * allocator (omi_alloc_plain), header first:
 *
 *   +------------------+--------------+------------------+------------+
 *   | omi_dbg_block    | 0xFD ...     | data: size bytes | 0xFD x 16  |
 *   | (48 bytes)       | (>= 16)      | 0xCD new, 0xDD   | trailing   |
 *   |                  | leading guard| freed            | guard      |
 *   +------------------+--------------+------------------+------------+
 *   ^ the allocator's block           ^ user = header + offset
 *
 * offset is 64, or the alignment asked for when it is larger (the leading
 * guard fills the gap), so the header is always at the allocator's block
 * start: om_block_describe of any pointer into it finds the header
 * without trusting the pointer.  The header's size, serial, offset and
 * family are covered by a 16-bit sum, so a damaged header is told from a
 * foreign one.
 *
 * Where every block is: a live block is on omi_dbg.live, a freed one on
 * omi_dbg.quarantine (circular doubly linked lists through the headers,
 * under omi_dbg.lock) until the quarantine's budget pushes it out, when
 * its data is checked (all 0xDD) and it is really freed.  A block with an
 * error is reported once, taken off its list (state REPORTED) and never
 * freed.  A list rather than a walk of the pools: om_debug_check must find
 * exactly the blocks debug mode made, in every thread's heap and among
 * large blocks, without stopping the owners; two pointers per block and a
 * lock per call are debug mode's price (CPython's hooks run under the GIL).
 *
 * Locking: omi_dbg.lock is taken alone, never while calling the allocator
 * or the error handler, so it is independent of alloc/'s lock order; it
 * is held across fork() (debug.c).
 */
#ifndef OM_DEBUG_H
#define OM_DEBUG_H

#include "alloc/alloc.h"
#include "trace/trace.h"

#define OMI_DBG_OFFSET 64 /* header + leading guard, for alignments up to 64 */
#define OMI_DBG_GUARD 16  /* trailing guard bytes */
#define OMI_DBG_BYTE_GUARD 0xFD
#define OMI_DBG_BYTE_NEW 0xCD
#define OMI_DBG_BYTE_FREED 0xDD

enum { OMI_DBG_LIVE = 0x4c, OMI_DBG_FREED = 0x46, OMI_DBG_REPORTED = 0x52 };

typedef struct omi_dbg_block {
    struct omi_dbg_block *next, *prev; /* live or quarantine list (omi_dbg.lock) */
    uint64_t size;                     /* requested bytes */
    uint64_t serial;                   /* 1, 2, ...: the n-th debug allocation */
    uint32_t trace_id;                 /* where it was allocated (tracing), 0: unknown */
    uint32_t free_trace_id;            /* where it was freed */
    uint32_t offset;                   /* user - header */
    uint8_t family;                    /* OM_FAMILY_* */
    uint8_t state;                     /* OMI_DBG_* */
    uint16_t sum;                      /* omi_dbg_sum */
} omi_dbg_block;
_Static_assert(sizeof(omi_dbg_block) == 48, "the header and a 16-byte guard fill OMI_DBG_OFFSET");

static inline uint16_t omi_dbg_sum(const omi_dbg_block *b) {
    uint64_t x = b->size * 0x9E3779B97F4A7C15u ^ b->serial * 0xC2B2AE3D27D4EB4Fu ^
                 ((uint64_t)b->offset << 8 | b->family);
    x ^= x >> 32;
    x ^= x >> 16;
    return (uint16_t)(x ^ 0x5a5a);
}

static inline char *omi_dbg_user(omi_dbg_block *b) { return (char *)b + b->offset; }


/* ---- debug.c: the module's state and the wrapped entry points ----------- */
typedef struct omi_debug_state {
    pthread_mutex_t lock;
    omi_dbg_block live;       /* list heads: sentinels, only next/prev used */
    omi_dbg_block quarantine; /* oldest first */
    uint64_t nlive, nquarantined;
    uint64_t quarantine_bytes; /* of the allocator's blocks held */
    _Atomic uint64_t serial;
} omi_debug_state;

extern OM_HIDDEN omi_debug_state omi_dbg;
extern OM_HIDDEN const omi_alloc_divert omi_debug_divert;

static inline int omi_debug_on(void) { return omi_divert() == &omi_debug_divert; }

/* Entry points of a family other than om_malloc's (objects, C++ new):
 * diverted only in debug mode, else the allocator's own (align 0: 16). */
OM_HIDDEN void *omi_family_alloc(size_t size, size_t align, int family);
OM_HIDDEN void omi_family_free(void *p, int family, const char *op);
OM_HIDDEN void *omi_family_realloc(void *p, size_t size, int family, const char *op);

/* List primitives (omi_dbg.lock held).  A walk goes only to blocks whose
 * header is sound: omi_dbg_next gives head where the next one is not (an
 * overflow wrote over it), so the list ends there.  omi_dbg_unlink
 * repairs around links that were damaged, closing the list over what
 * cannot be trusted; 0 if b is not on the list. */
OM_HIDDEN void omi_dbg_link(omi_dbg_block *head, omi_dbg_block *b);
OM_HIDDEN omi_dbg_block *omi_dbg_next(omi_dbg_block *head, omi_dbg_block *b);
OM_HIDDEN int omi_dbg_unlink(omi_dbg_block *head, omi_dbg_block *b);

/* The debug block whose data starts at p, if its header is sound (else
 * NULL): a pointer objmem does not own is never read. */
OM_HIDDEN omi_dbg_block *omi_dbg_header_of(const void *p);

/* ---- verify.c: checking blocks, reporting -------------------------------- */
typedef struct omi_dbg_problem {
    om_error_code code; /* 0: none */
    char detail[192];
} omi_dbg_problem;

/* Check b's header and guards, and (freed) that its data reads 0xDD:
 * 0, or 1 with *out filled. */
OM_HIDDEN int omi_dbg_verify(const omi_dbg_block *b, int freed, omi_dbg_problem *out);
/* One report through the error handler (alloc/error.c): b may be NULL. */
OM_HIDDEN void omi_dbg_report(om_error_code code, const char *op, const void *p, const omi_dbg_block *b,
                              const char *detail, int free_family);
/* "malloc", "operator new[]"...; the matching free: "free", "operator delete[]"... */
OM_HIDDEN const char *omi_dbg_family_name(int family);
OM_HIDDEN const char *omi_dbg_free_name(int family);

/* ---- for the layers above --------------------------------------------------- */
/* Objects are family 'o': the object layer allocates and frees through
 * these (one test of omi_fast.divert more than om_malloc's, on the
 * allocator path only: free lists are untouched). */
static inline void *omi_obj_malloc(size_t n) {
    if (om_unlikely(omi_divert() != NULL))
        return omi_family_alloc(n, 0, OM_FAMILY_OBJECT);
    return om_malloc(n);
}
static inline void omi_obj_free(void *p) {
    if (om_unlikely(omi_divert() != NULL))
        omi_family_free(p, OM_FAMILY_OBJECT, "om_dealloc");
    else
        om_free(p);
}
static inline void *omi_obj_realloc(void *p, size_t n) {
    if (om_unlikely(omi_divert() != NULL))
        return omi_family_realloc(p, n, OM_FAMILY_OBJECT, "om_resize_var");
    return om_realloc(p, n);
}
/* om_block_describe's view from above: in debug mode, a debug block is
 * its data (block, block_size = requested size), not the allocator's. */
OM_HIDDEN int omi_debug_describe(const void *p, om_block_info *out);
/* omi_block_is_free for a block omi_debug_describe gave: a quarantined
 * debug block is free. */
OM_HIDDEN int omi_debug_block_is_free(const void *p);

/* Tracing: the id of the call site that allocated (or freed) the debug
 * block at user; 0 or EINVAL (not a debug block). */
OM_HIDDEN int omi_debug_set_trace_id(void *user, uint32_t id);
OM_HIDDEN int omi_debug_set_free_trace_id(void *user, uint32_t id);
OM_HIDDEN uint32_t omi_debug_trace_id(const void *user);

#endif /* OM_DEBUG_H */
