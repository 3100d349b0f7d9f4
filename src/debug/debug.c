/*
 * debug.c — debug mode's entry points: every allocation wrapped in a
 * debug block (debug.h), every free checked and held in the quarantine.
 *
 *   alloc    allocator block of offset + size + 16 bytes; header, guards,
 *            0xCD (calloc: 0); linked on the live list
 *   free     validated (take): the pointer is a debug block's data, its
 *            header sound, its guards intact, its family the caller's;
 *            then 0xDD, and to the tail of the quarantine.  Blocks pushed
 *            out at the head (over OBJMEM_DEBUG_QUARANTINE_MB) are checked
 *            for writes and really freed
 *   realloc  always moves: a new block, the data copied, the old one freed
 *            as above (so a stale pointer to it reads 0xDD)
 * A check that fails is one report (verify.c); the call then does nothing
 * and the block is never freed.  om_debug_enable installs the entry
 * points as the allocator's divert (alloc.h) before the first allocation.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "debug/debug.h"

omi_debug_state omi_dbg = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .live = {.next = &omi_dbg.live, .prev = &omi_dbg.live},
    .quarantine = {.next = &omi_dbg.quarantine, .prev = &omi_dbg.quarantine},
};

/* ---- lists ------------------------------------------------------------------ */
void omi_dbg_link(omi_dbg_block *head, omi_dbg_block *b) {
    b->prev = head->prev;
    b->next = head;
    head->prev->next = b;
    head->prev = b;
}

/* x, if a walk of the list may go on to it: the head, or a block in
 * objmem's heap whose header is sound; else NULL (a write over headers,
 * an overflow of the block before, must not be followed). */
static omi_dbg_block *trusted(omi_dbg_block *head, omi_dbg_block *x) {
    if (x == head)
        return x;
    return x && ((uintptr_t)x & (OM_ALIGNMENT - 1)) == 0 && omi_map_lookup((uintptr_t)x) && x->sum == omi_dbg_sum(x)
               ? x
               : NULL;
}

omi_dbg_block *omi_dbg_next(omi_dbg_block *head, omi_dbg_block *b) {
    omi_dbg_block *n = trusted(head, b->next);
    return n ? n : head; /* the list ends where a header is damaged */
}

/* b's neighbour on the side of dir (next or prev) that links back to it,
 * found by a walk from the head over trusted blocks; NULL if none. */
static omi_dbg_block *neighbour(omi_dbg_block *head, omi_dbg_block *b, int forward) {
    omi_dbg_block *x = head;
    for (;;) {
        omi_dbg_block *y = trusted(head, forward ? x->next : x->prev);
        if (y == b)
            return x;
        if (!y || y == head)
            return NULL;
        x = y;
    }
}

int omi_dbg_unlink(omi_dbg_block *head, omi_dbg_block *b) {
    omi_dbg_block *p = trusted(head, b->prev), *n = trusted(head, b->next);
    if (!p || !n || p->next != b || n->prev != b) {
        /* b's links or its neighbours' are damaged: find who points at b,
         * and close the list over what cannot be trusted */
        p = neighbour(head, b, 1);
        n = neighbour(head, b, 0);
        if (!p && !n)
            return 0; /* not on this list */
        if (!p)
            p = head;
        if (!n)
            n = head;
    }
    p->next = n;
    n->prev = p;
    b->next = b->prev = NULL;
    return 1;
}

/* ---- finding a header ----------------------------------------------------------- */
/* The header of the debug block at p, whatever its state, if p is an
 * objmem block's data at the header's offset; *bi describes the block. */
static omi_dbg_block *header_at(const void *p, om_block_info *bi) {
    if (!p || !omi_map_lookup((uintptr_t)p) || omi_describe(p, bi) != 0 || !bi->block)
        return NULL;
    omi_dbg_block *b = bi->block;
    size_t off = (size_t)((const char *)p - (const char *)b);
    if (bi->block_size < OMI_DBG_OFFSET + OMI_DBG_GUARD || off < OMI_DBG_OFFSET)
        return NULL;
    if (b->sum != omi_dbg_sum(b) || b->offset != off || (size_t)b->offset + b->size + OMI_DBG_GUARD > bi->block_size)
        return NULL;
    return b;
}

omi_dbg_block *omi_dbg_header_of(const void *p) {
    om_block_info bi;
    return header_at(p, &bi);
}

/* ---- allocation ------------------------------------------------------------------ */
/* ---- tracing (trace/) ---------------------------------------------------------
 * Debug mode diverts every call before tracing's observer would see it
 * (alloc.c), so it shows the observer its own blocks, by their user
 * addresses, and keeps the trace ids for its reports: where a block was
 * allocated (the observer's record) and where it was freed (a stack taken
 * at the free). */
OMI_ENTRY static uint32_t observe_alloc(void *user, size_t size) {
    const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
    if (!o)
        return 0;
    int busy = omi_alloc_observe_suspend(1);
    uint32_t id = 0;
    if (!busy) {
        o->alloc(user, size);
        id = omi_trace_id_of(user);
    }
    omi_alloc_observe_suspend(busy);
    return id;
}

OMI_ENTRY static uint32_t observe_free(void *user) {
    const om_alloc_observer *o = atomic_load_explicit(&omi_fast.observer, memory_order_acquire);
    if (!o)
        return 0;
    int busy = omi_alloc_observe_suspend(1);
    uint32_t id = 0;
    if (!busy) {
        void *frames[64];
        int n = omi_trace_st.for_debug ? 0 : omi_trace_st.nframes < 64 ? omi_trace_st.nframes : 64;
        n = n > 0 ? omi_trace_stack_capture(frames, n, NULL) : 0;
        id = n > 0 ? omi_trace_intern(frames, n, 0) : 0;
        o->free(user);
    }
    omi_alloc_observe_suspend(busy);
    return id;
}

OMI_ENTRY static void *dbg_alloc(size_t size, size_t align, int zero, int family) {
    size_t off = align > OMI_DBG_OFFSET ? align : OMI_DBG_OFFSET;
    if (size > SIZE_MAX - off - OMI_DBG_GUARD) {
        errno = ENOMEM;
        return NULL;
    }
    omi_dbg_block *b = omi_alloc_plain(off + size + OMI_DBG_GUARD, align > OM_ALIGNMENT ? align : 0);
    if (!b)
        return NULL;
    char *user = (char *)b + off;
    b->size = size;
    b->serial = atomic_fetch_add_explicit(&omi_dbg.serial, 1, memory_order_relaxed) + 1;
    b->trace_id = b->free_trace_id = 0;
    b->offset = (uint32_t)off;
    b->family = (uint8_t)family;
    b->state = OMI_DBG_LIVE;
    b->sum = omi_dbg_sum(b);
    memset(b + 1, OMI_DBG_BYTE_GUARD, off - sizeof *b);
    memset(user, zero ? 0 : OMI_DBG_BYTE_NEW, size);
    memset(user + size, OMI_DBG_BYTE_GUARD, OMI_DBG_GUARD);
    (void)family;
    b->trace_id = observe_alloc(user, size);
    pthread_mutex_lock(&omi_dbg.lock);
    omi_dbg_link(&omi_dbg.live, b);
    omi_dbg.nlive++;
    pthread_mutex_unlock(&omi_dbg.lock);
    return user;
}

/* ---- freeing ---------------------------------------------------------------------- */
/* A foreign pointer: always reported when it is on the caller's stack
 * (between this frame and 8 MiB above it, where the callers' frames are);
 * otherwise as the allocator reports foreign frees (OBJMEM_REPORT_FOREIGN:
 * the drop-in ignores them by default, the loader makes a few). */
__attribute__((noinline)) static void report_foreign(void *p, const char *op, int family) {
    uintptr_t a = (uintptr_t)p, sp = (uintptr_t)__builtin_frame_address(0);
    if (a >= sp && a - sp < ((uintptr_t)8 << 20))
        omi_dbg_report(OM_ERR_FOREIGN_POINTER, op, p, NULL, "an address on the caller's stack, not a block",
                       family);
    else
        omi_report(OM_ERR_FOREIGN_POINTER, op, p);
}

/* Bytes of the allocator's block a quarantined b holds. */
static size_t held(const omi_dbg_block *b) { return (size_t)b->offset + b->size + OMI_DBG_GUARD; }

/* Validate the free of p by family; on success b is off the live list,
 * FREED, and the caller's.  NULL after a report (or for a block already
 * reported). */
static omi_dbg_block *take(void *p, int family, const char *op) {
    om_block_info bi;
    if (!omi_map_lookup((uintptr_t)p) || omi_describe(p, &bi) != 0 || !bi.block) {
        report_foreign(p, op, family);
        return NULL;
    }
    omi_dbg_block *b = bi.block;
    size_t off = (size_t)((char *)p - (char *)b);
    /* A free block: on a pool's free list its check word (the header's
     * prev, an even address while live) holds the allocator's odd cookie;
     * its header may also be stale or purged.  Only then is the pool's
     * list walked (omi_block_is_free is linear in it). */
    int maybe_free = ((const om_block *)b)->check == omi_fast.cookie ||
                     bi.block_size < OMI_DBG_OFFSET + OMI_DBG_GUARD || b->sum != omi_dbg_sum(b);
    if (maybe_free && omi_block_is_free(b)) { /* it keeps its header but for the links: name it if it can */
        int named = bi.block_size >= OMI_DBG_OFFSET + OMI_DBG_GUARD && b->sum == omi_dbg_sum(b) && b->offset == off;
        omi_dbg_report(OM_ERR_DOUBLE_FREE, op, p, named ? b : NULL,
                       "its block was freed already (and left the quarantine)", family);
        return NULL;
    }
    if (bi.block_size < OMI_DBG_OFFSET + OMI_DBG_GUARD || off < OMI_DBG_OFFSET) {
        omi_dbg_report(OM_ERR_INTERIOR_POINTER, op, p, NULL, "not the start of a block debug mode gave out", family);
        return NULL;
    }
    omi_dbg_problem pr = {0};
    om_error_code code = 0;
    pthread_mutex_lock(&omi_dbg.lock);
    int sound = b->sum == omi_dbg_sum(b) && (size_t)b->offset + b->size + OMI_DBG_GUARD <= bi.block_size;
    if (sound && b->state == OMI_DBG_REPORTED) {
        pthread_mutex_unlock(&omi_dbg.lock);
        return NULL;
    }
    if (sound && b->offset != off) {
        code = OM_ERR_INTERIOR_POINTER;
        snprintf(pr.detail, sizeof pr.detail, "%zu bytes into the data of a debug block",
                 off - (size_t)b->offset);
    } else if (sound && b->state == OMI_DBG_FREED) {
        code = OM_ERR_DOUBLE_FREE;
        snprintf(pr.detail, sizeof pr.detail, "freed already (it is in the quarantine)");
    } else if (!sound || b->state != OMI_DBG_LIVE || omi_dbg_verify(b, 0, &pr)) {
        if (!sound || b->state != OMI_DBG_LIVE) {
            pr.code = OM_ERR_BUFFER_UNDERFLOW;
            snprintf(pr.detail, sizeof pr.detail, "the block's header is damaged (a write before its data)");
        }
        code = pr.code;
        /* reported: off its list and left alone from now on */
        if (omi_dbg_unlink(&omi_dbg.live, b))
            omi_dbg.nlive--;
        else if (omi_dbg_unlink(&omi_dbg.quarantine, b))
            omi_dbg.nquarantined--;
        b->state = OMI_DBG_REPORTED;
    } else if (b->family != family) {
        code = OM_ERR_FAMILY_MISMATCH;
        snprintf(pr.detail, sizeof pr.detail, "allocated by %s, freed by %s", omi_dbg_family_name(b->family),
                 omi_dbg_free_name(family));
    } else {
        omi_dbg_unlink(&omi_dbg.live, b);
        omi_dbg.nlive--;
        b->state = OMI_DBG_FREED;
    }
    pthread_mutex_unlock(&omi_dbg.lock);
    if (code) {
        omi_dbg_report(code, op, p, b, pr.detail, family);
        return NULL;
    }
    return b;
}

static void release(omi_dbg_block *b) {
    b->state = 0;
    omi_free_plain(b);
}

/* b (FREED, on no list) to the quarantine's tail; the oldest blocks over
 * the budget leave at its head, checked. */
static void quarantine(omi_dbg_block *b) {
    b->free_trace_id = observe_free(omi_dbg_user(b));
    memset(omi_dbg_user(b), OMI_DBG_BYTE_FREED, b->size);
    uint64_t budget = (uint64_t)omi_option_value(OM_OPTION_DEBUG_QUARANTINE_MB) << 20;
    if (held(b) > budget) {
        release(b);
        return;
    }
    omi_dbg_block *out = NULL; /* pushed out, chained through next */
    pthread_mutex_lock(&omi_dbg.lock);
    omi_dbg_link(&omi_dbg.quarantine, b);
    omi_dbg.nquarantined++;
    omi_dbg.quarantine_bytes += held(b);
    while (omi_dbg.quarantine_bytes > budget) {
        omi_dbg_block *old = omi_dbg_next(&omi_dbg.quarantine, &omi_dbg.quarantine);
        if (old == &omi_dbg.quarantine || !omi_dbg_unlink(&omi_dbg.quarantine, old)) {
            /* a damaged header at the head: the rest is kept, never freed */
            omi_dbg.quarantine.next = omi_dbg.quarantine.prev = &omi_dbg.quarantine;
            omi_dbg.nquarantined = 0;
            omi_dbg.quarantine_bytes = 0;
            break;
        }
        size_t n = held(old);
        omi_dbg.nquarantined--;
        omi_dbg.quarantine_bytes -= n < omi_dbg.quarantine_bytes ? n : omi_dbg.quarantine_bytes;
        old->next = out;
        out = old;
    }
    pthread_mutex_unlock(&omi_dbg.lock);
    while (out) {
        omi_dbg_block *next = out->next;
        omi_dbg_problem pr;
        if (omi_dbg_verify(out, 1, &pr)) {
            char *user = out->sum == omi_dbg_sum(out) ? omi_dbg_user(out) : (char *)out + OMI_DBG_OFFSET;
            out->state = OMI_DBG_REPORTED;
            omi_dbg_report(pr.code, "om_free (leaving the quarantine)", user, out, pr.detail, 0);
        } else {
            release(out);
        }
        out = next;
    }
}

OMI_ENTRY static void dbg_free(void *p, int family, const char *op) {
    if (!p)
        return;
    omi_dbg_block *b = take(p, family, op);
    if (b)
        quarantine(b);
}

OMI_ENTRY static void *dbg_realloc(void *p, size_t n, int family, const char *op) {
    if (!p)
        return dbg_alloc(n, 0, 0, family);
    omi_dbg_block *b = take(p, family, op);
    if (!b) {
        errno = EINVAL;
        return NULL;
    }
    void *q = dbg_alloc(n, 0, 0, family);
    if (!q) { /* p stays as it was */
        pthread_mutex_lock(&omi_dbg.lock);
        b->state = OMI_DBG_LIVE;
        omi_dbg_link(&omi_dbg.live, b);
        omi_dbg.nlive++;
        pthread_mutex_unlock(&omi_dbg.lock);
        return NULL;
    }
    memcpy(q, p, n < b->size ? n : b->size);
    quarantine(b);
    return q;
}

/* ---- the divert: om_malloc & co. are family 'm' ------------------------------------ */
OMI_ENTRY static void *divert_alloc(size_t size, size_t align, int zero) { return dbg_alloc(size, align, zero, OM_FAMILY_MALLOC); }
OMI_ENTRY static void divert_free(void *p) { dbg_free(p, OM_FAMILY_MALLOC, "om_free"); }
OMI_ENTRY static void *divert_realloc(void *p, size_t n) { return dbg_realloc(p, n, OM_FAMILY_MALLOC, "om_realloc"); }

static size_t divert_usable_size(const void *p) {
    omi_dbg_block *b = omi_dbg_header_of(p);
    return b && b->state == OMI_DBG_LIVE ? b->size : 0;
}

static int divert_owns(const void *p) {
    omi_dbg_block *b = omi_dbg_header_of(p);
    return b && b->state == OMI_DBG_LIVE;
}

const omi_alloc_divert omi_debug_divert = {divert_alloc, divert_free, divert_realloc, divert_usable_size, divert_owns};

OMI_ENTRY void *omi_family_alloc(size_t size, size_t align, int family) {
    if (omi_divert() == &omi_divert_init)
        omi_runtime_init();
    if (omi_debug_on())
        return dbg_alloc(size, align, 0, family);
    if (omi_divert() == &omi_secure_divert)
        return omi_secure_alloc(size, align, 0, family);
    return align > OM_ALIGNMENT ? om_aligned_alloc(align, size) : om_malloc(size);
}

OMI_ENTRY void *omi_family_realloc(void *p, size_t size, int family, const char *op) {
    if (omi_divert() == &omi_divert_init)
        omi_runtime_init();
    if (omi_debug_on())
        return dbg_realloc(p, size, family, op);
    if (omi_divert() == &omi_secure_divert)
        return omi_secure_realloc(p, size, family, op);
    return om_realloc(p, size);
}

OMI_ENTRY void omi_family_free(void *p, int family, const char *op) {
    if (omi_divert() == &omi_divert_init)
        omi_runtime_init();
    if (omi_debug_on())
        dbg_free(p, family, op);
    else if (omi_divert() == &omi_secure_divert)
        omi_secure_free(p, family, op);
    else
        om_free(p);
}

/* ---- enabling ------------------------------------------------------------------------ */
static void fork_prepare(void) { pthread_mutex_lock(&omi_dbg.lock); }
static void fork_parent(void) { pthread_mutex_unlock(&omi_dbg.lock); }
static void fork_child(void) { pthread_mutex_init(&omi_dbg.lock, NULL); }
static void register_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

int om_debug_enable(void) {
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    if (omi_debug_on())
        return 0;
    int rc = omi_divert_install(&omi_debug_divert);
    if (rc == 0)
        pthread_once(&atfork_once, register_atfork);
    return rc;
}

int om_debug_enabled(void) {
    if (omi_divert() == &omi_divert_init)
        omi_runtime_init();
    return omi_debug_on();
}

uint64_t om_debug_serial(const void *p) {
    omi_dbg_block *b = omi_debug_on() ? omi_dbg_header_of(p) : NULL;
    return b && b->state == OMI_DBG_LIVE ? b->serial : 0;
}

/* ---- for the layers above ---------------------------------------------------------- */
int omi_debug_describe(const void *p, om_block_info *out) {
    int rc = omi_describe(p, out);
    if (rc != 0 || !omi_debug_on() || !out->block)
        return rc;
    omi_dbg_block *b = out->block;
    if (out->block_size >= OMI_DBG_OFFSET + OMI_DBG_GUARD && b->sum == omi_dbg_sum(b) &&
        (const char *)p >= omi_dbg_user(b) &&
        (size_t)b->offset + b->size + OMI_DBG_GUARD <= out->block_size) {
        out->block = omi_dbg_user(b);
        out->block_size = b->size;
    }
    return rc;
}

int omi_debug_block_is_free(const void *p) {
    omi_dbg_block *b = omi_debug_on() ? omi_dbg_header_of(p) : NULL;
    if (b)
        return b->state != OMI_DBG_LIVE;
    return omi_block_is_free(p);
}

/* ---- tracing's hook ---------------------------------------------------------------- */
static int set_id(void *user, uint32_t id, int freed) {
    omi_dbg_block *b = omi_dbg_header_of(user);
    if (!b)
        return EINVAL;
    if (freed)
        b->free_trace_id = id;
    else
        b->trace_id = id;
    return 0;
}

int omi_debug_set_trace_id(void *user, uint32_t id) { return set_id(user, id, 0); }
int omi_debug_set_free_trace_id(void *user, uint32_t id) { return set_id(user, id, 1); }

uint32_t omi_debug_trace_id(const void *user) {
    omi_dbg_block *b = omi_dbg_header_of(user);
    return b ? b->trace_id : 0;
}

