/*
 * verify.c — debug mode's checks and reports: a block's header, guards and
 * freed fill; one report per error, through the allocator's error handler
 * (alloc/error.c); om_debug_check over every live and quarantined block.
 *
 * A report names the error, the pointer, the debug block (requested size,
 * serial, family), the allocator's block that holds it (om_block_describe:
 * kind, class, pool, arena) and, when tracing gave ids, where the block was
 * allocated and freed (omi_trace_describe).  The handler is called with
 * no lock held: it may call objmem.
 */
#include <stdio.h>
#include <string.h>

#include "debug/debug.h"

const char *omi_dbg_family_name(int family) {
    switch (family) {
    case OM_FAMILY_MALLOC: return "malloc";
    case OM_FAMILY_OBJECT: return "om_new";
    case OM_FAMILY_NEW: return "operator new";
    case OM_FAMILY_NEW_ARRAY: return "operator new[]";
    default: return "?";
    }
}

const char *omi_dbg_free_name(int family) {
    switch (family) {
    case OM_FAMILY_MALLOC: return "free";
    case OM_FAMILY_OBJECT: return "om_dealloc";
    case OM_FAMILY_NEW: return "operator delete";
    case OM_FAMILY_NEW_ARRAY: return "operator delete[]";
    default: return "?";
    }
}

/* Index of the first of n bytes at p that is not v, or n. */
static size_t first_not(const unsigned char *p, size_t n, unsigned char v) {
    size_t i = 0;
    uint64_t word = 0x0101010101010101u * v, w;
    for (; i < n && ((uintptr_t)(p + i) & 7); i++)
        if (p[i] != v)
            return i;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        if (w != word)
            break;
    }
    for (; i < n; i++)
        if (p[i] != v)
            return i;
    return n;
}

int omi_dbg_verify(const omi_dbg_block *b, int freed, omi_dbg_problem *out) {
    const unsigned char *base = (const unsigned char *)b;
    out->code = 0;
    out->detail[0] = '\0';
    if (b->sum != omi_dbg_sum(b) || b->offset < OMI_DBG_OFFSET) {
        out->code = freed ? OM_ERR_WRITE_AFTER_FREE : OM_ERR_BUFFER_UNDERFLOW;
        snprintf(out->detail, sizeof out->detail, "the block's header is damaged (a write before its data)");
        return 1;
    }
    const unsigned char *user = base + b->offset;
    size_t lead = b->offset - sizeof *b;
    size_t i = first_not(base + sizeof *b, lead, OMI_DBG_BYTE_GUARD);
    if (i < lead) {
        out->code = OM_ERR_BUFFER_UNDERFLOW;
        snprintf(out->detail, sizeof out->detail, "byte %zu before the data (at %p) is 0x%02x, not 0xfd",
                 lead - i, (const void *)(user - (lead - i)), user[-(ptrdiff_t)(lead - i)]);
        return 1;
    }
    i = first_not(user + b->size, OMI_DBG_GUARD, OMI_DBG_BYTE_GUARD);
    if (i < OMI_DBG_GUARD) {
        out->code = OM_ERR_BUFFER_OVERFLOW;
        snprintf(out->detail, sizeof out->detail, "byte %zu past the end (at %p) is 0x%02x, not 0xfd", i,
                 (const void *)(user + b->size + i), user[b->size + i]);
        return 1;
    }
    if (freed && (i = first_not(user, b->size, OMI_DBG_BYTE_FREED)) < b->size) {
        out->code = OM_ERR_WRITE_AFTER_FREE;
        snprintf(out->detail, sizeof out->detail, "byte %zu of the freed data (at %p) is 0x%02x, not 0xdd", i,
                 (const void *)(user + i), user[i]);
        return 1;
    }
    return 0;
}

/* "; allocated at: SITE" for a trace id, when tracing describes it. */
static size_t put_site(char *buf, size_t cap, const char *what, uint32_t id) {
    char site[512];
    if (!id)
        return 0;
    site[0] = '\0';
    omi_trace_describe(id, site, sizeof site);
    if (!site[0])
        return 0;
    int n = snprintf(buf, cap, "; %s at %s", what, site);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
}

void omi_dbg_report(om_error_code code, const char *op, const void *p, const omi_dbg_block *b, const char *detail,
                    int free_family) {
    om_error_info info;
    om_block_info bi;
    char msg[1600];
    size_t n;
    omi_error_start(&info, &bi, code, op, p);
    if (omi_describe(p, &bi) != 0)
        bi.kind = OM_BLOCK_FOREIGN;
    info.free_family = free_family;
    n = (size_t)snprintf(msg, sizeof msg, "%s: %s %p: %s", op, om_error_name(code), p, detail);
    if (b) {
        info.serial = b->serial;
        info.requested_size = b->size;
        info.family = b->family;
        n += (size_t)snprintf(msg + n, sizeof msg - n, "; debug block of %llu bytes, serial %llu, from %s",
                              (unsigned long long)b->size, (unsigned long long)b->serial,
                              omi_dbg_family_name(b->family));
    }
    if (n < sizeof msg && bi.kind == OM_BLOCK_LARGE)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "; in large block %p (%zu bytes), mapping %p", bi.block,
                              bi.block_size, bi.arena);
    else if (n < sizeof msg && bi.kind != OM_BLOCK_FOREIGN)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "; in %s block %p, class %d (%zu bytes), pool %p (slot %d), arena %p",
                              bi.kind == OM_BLOCK_SMALL ? "small" : "medium", bi.block, bi.size_class,
                              bi.block_size, bi.pool, bi.pool_index, bi.arena);
    if (b && n < sizeof msg)
        n += put_site(msg + n, sizeof msg - n, "allocated", b->trace_id);
    if (b && n < sizeof msg)
        put_site(msg + n, sizeof msg - n, "freed", b->free_trace_id);
    omi_error_deliver(&info, msg);
}

/* The first bad block on list head (taken off it and marked REPORTED), or
 * NULL; omi_dbg.lock held. */
static omi_dbg_block *find_bad(omi_dbg_block *head, int freed, omi_dbg_problem *pr) {
    for (omi_dbg_block *b = omi_dbg_next(head, head); b != head; b = omi_dbg_next(head, b)) {
        if (!omi_dbg_verify(b, freed, pr))
            continue;
        omi_dbg_unlink(head, b);
        b->state = OMI_DBG_REPORTED;
        return b;
    }
    return NULL;
}

/* Each bad block is reported with the lock released, and the walk starts
 * again: the handler may allocate and free. */
int om_debug_check(void) {
    int problems = 0;
    if (!omi_debug_on())
        return 0;
    for (;;) {
        omi_dbg_problem pr;
        pthread_mutex_lock(&omi_dbg.lock);
        omi_dbg_block *b = find_bad(&omi_dbg.live, 0, &pr);
        if (b) {
            omi_dbg.nlive--;
        } else if ((b = find_bad(&omi_dbg.quarantine, 1, &pr)) != NULL) {
            omi_dbg.nquarantined--;
            if (b->sum == omi_dbg_sum(b)) {
                size_t held = (size_t)b->offset + b->size + OMI_DBG_GUARD;
                omi_dbg.quarantine_bytes -= held < omi_dbg.quarantine_bytes ? held : omi_dbg.quarantine_bytes;
            }
        }
        pthread_mutex_unlock(&omi_dbg.lock);
        if (!b)
            return problems;
        const char *user = b->sum == omi_dbg_sum(b) ? omi_dbg_user(b) : (char *)b + OMI_DBG_OFFSET;
        omi_dbg_report(pr.code, "om_debug_check", user, b, pr.detail, 0);
        problems++;
    }
}
