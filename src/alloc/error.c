/*
 * error.c — one place where bad pointers are reported.
 *
 * omi_report builds an om_error_info (with what is known of the block:
 * kind, class, pool, arena) and a one-line message, then calls the
 * handler.  The default handler writes the message to stderr with
 * write(2) (no stdio, no allocation) and aborts; a user handler that
 * returns makes the offending call a no-op.  Layers above build their
 * own reports (object/misuse.c) with omi_error_start and
 * omi_error_deliver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"

static struct {
    om_error_fn fn;
    void *arg;
} handler;

static const char *const names[] = {
    [OM_ERR_FOREIGN_POINTER] = "foreign pointer",
    [OM_ERR_INTERIOR_POINTER] = "interior pointer",
    [OM_ERR_MISALIGNED_POINTER] = "misaligned pointer",
    [OM_ERR_DOUBLE_FREE] = "double free",
    [OM_ERR_CORRUPTION] = "heap corruption",
    [OM_ERR_REFCOUNT] = "reference count below zero",
    [OM_ERR_USE_AFTER_FREE] = "use after free",
    [OM_ERR_BAD_OBJECT] = "not an object",
    [OM_ERR_LOCK] = "runtime lock misuse",
    [OM_ERR_BUFFER_OVERFLOW] = "buffer overflow",
    [OM_ERR_BUFFER_UNDERFLOW] = "buffer underflow",
    [OM_ERR_WRITE_AFTER_FREE] = "write after free",
    [OM_ERR_FAMILY_MISMATCH] = "allocator family mismatch",
};

const char *om_error_name(om_error_code code) {
    if ((unsigned)code < sizeof names / sizeof names[0] && names[code])
        return names[code];
    return "unknown error";
}

void om_set_error_handler(om_error_fn fn, void *arg) {
    handler.arg = arg;
    handler.fn = fn;
}

static void default_handler(const om_error_info *info, void *arg) {
    (void)arg;
    char line[2048];
    int n = snprintf(line, sizeof line, "objmem: %s\n", info->message);
    if (n > 0) {
        ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
    abort();
}

static const char *kind_name(om_block_kind k) {
    static const char *const k_names[] = {"foreign", "small", "medium", "large"};
    return k_names[k];
}

void omi_error_start(om_error_info *info, om_block_info *block, om_error_code code, const char *op,
                     const void *p) {
    memset(info, 0, sizeof *info);
    memset(block, 0, sizeof *block);
    info->block = block;
    info->code = code;
    info->operation = op;
    info->pointer = p;
}

/* Hand a report to the handler (the default one aborts). */
void omi_error_deliver(om_error_info *info, const char *msg) {
    info->message = msg;
    om_error_fn fn = handler.fn ? handler.fn : default_handler;
    fn(info, handler.fn ? handler.arg : NULL);
}

static _Atomic uint64_t foreign_ignored;

uint64_t omi_error_foreign_ignored(void) { return atomic_load(&foreign_ignored); }

void omi_error_ignore_foreign(void) { atomic_fetch_add_explicit(&foreign_ignored, 1, memory_order_relaxed); }

void omi_report(om_error_code code, const char *op, const void *p) {
    /* hardened mode reports every foreign free (secure.c spares the loader's) */
    if (code == OM_ERR_FOREIGN_POINTER && !omi_secure.on && !omi_option_value(OM_OPTION_REPORT_FOREIGN)) {
        omi_error_ignore_foreign();
        return;
    }
    om_error_info info;
    om_block_info bi;
    char msg[400];
    omi_error_start(&info, &bi, code, op, p);
    if (code == OM_ERR_FOREIGN_POINTER || omi_describe(p, &bi) != 0) {
        bi.kind = OM_BLOCK_FOREIGN;
        snprintf(msg, sizeof msg, "%s: %s %p: not in objmem's heap", op, om_error_name(code), p);
    } else if (bi.kind == OM_BLOCK_LARGE) {
        snprintf(msg, sizeof msg, "%s: %s %p: large block %p (%zu bytes) in mapping %p", op, om_error_name(code),
                 p, bi.block, bi.block_size, bi.arena);
    } else {
        snprintf(msg, sizeof msg, "%s: %s %p: %s block %p, class %d (%zu bytes), pool %p (slot %d), arena %p", op,
                 om_error_name(code), p, kind_name(bi.kind), bi.block, bi.size_class,
                 bi.block_size, bi.pool, bi.pool_index, bi.arena);
    }
    omi_error_deliver(&info, msg);
}
