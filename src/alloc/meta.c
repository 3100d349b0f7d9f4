/*
 * meta.c — memory for descriptors (arenas, large blocks, heaps).
 *
 * A bump allocator over 256 KiB chunks taken from the OS layer, 64-byte
 * aligned so descriptor pointers have free low bits for the ownership
 * map's tags.  Nothing is ever returned: callers recycle descriptors on
 * their own free lists, so metadata stays bounded by the peak number of
 * live descriptors.  Called with omi_rt.lock held.
 */
#include <string.h>

#include "alloc/alloc.h"

#define OM_META_CHUNK ((size_t)256 * 1024)
#define OM_META_ALIGN 64

static struct {
    char *cur, *end;
    uint64_t bytes;
} meta;

void *omi_meta_alloc(size_t size) {
    if (omi_fail_point(OMI_FAIL_META))
        return NULL;
    size = (size + OM_META_ALIGN - 1) & ~(size_t)(OM_META_ALIGN - 1);
    if ((size_t)(meta.end - meta.cur) < size) {
        size_t chunk = size > OM_META_CHUNK ? size : OM_META_CHUNK;
        char *c = omi_os_reserve(chunk, omi_os_page_size());
        if (!c)
            return NULL;
        meta.cur = c;
        meta.end = c + chunk;
        meta.bytes += chunk;
    }
    void *p = meta.cur;
    meta.cur += size;
    return p;
}

uint64_t omi_meta_bytes(void) { return meta.bytes; }
