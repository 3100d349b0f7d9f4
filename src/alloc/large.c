/*
 * large.c — requests above the medium classes (> 128 KiB) and large
 * alignments: one mapping each, returned to the OS on free.
 *
 * A mapping starts on a 1 MiB boundary (or the requested alignment, if
 * larger) so it owns its ownership-map slots alone; the pointer handed out
 * is the mapping's start, so large blocks are page aligned.  The
 * descriptor (om_large) lives in metadata, never in the mapping.
 *
 * Cache: a freed mapping of at most a quarter of the cache bound
 * (OBJMEM_LARGE_CACHE_MB, default 16) is kept for reuse by a request of
 * between half its size and its size: this saves the mmap/munmap pair
 * and the page faults for programs that repeatedly grow big buffers.
 * Cached pages are purged after the purge delay, and om_trim() empties
 * the cache.  At most OM_LARGE_CACHE_SLOTS entries, least recent evicted.
 *
 * Everything here runs under omi_rt.lock, except the mmap/munmap calls.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc/alloc.h"

#define OM_LARGE_CACHE_SLOTS 16

static size_t cache_bound(void) {
    long mb = omi_option_value(OM_OPTION_LARGE_CACHE_MB);
    return mb > 0 ? (size_t)mb << 20 : 0;
}

static void list_remove(om_large **head, om_large *l) {
    if (l->prev)
        l->prev->next = l->next;
    else
        *head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->next = l->prev = NULL;
}

static void list_push(om_large **head, om_large *l) {
    l->prev = NULL;
    l->next = *head;
    if (*head)
        (*head)->prev = l;
    *head = l;
}

/* Called with the lock held: forget a mapping (its munmap is the caller's). */
static void forget(om_large *l) {
    omi_map_clear((uintptr_t)l->base, l->map_size);
    l->next = omi_rt.free_large_descs;
    omi_rt.free_large_descs = l;
}

static om_large *cache_take(size_t need, size_t align) {
    for (om_large *l = omi_rt.large_cache; l; l = l->next) {
        if (l->map_size >= need && l->map_size / 2 <= need && ((uintptr_t)l->base & (align - 1)) == 0) {
            list_remove(&omi_rt.large_cache, l);
            omi_rt.large_cached--;
            omi_rt.large_cached_bytes -= l->map_size;
            return l;
        }
    }
    return NULL;
}

void *omi_large_alloc(size_t size, size_t align) {
    size_t page = omi_os_page_size();
    if (size > (size_t)PTRDIFF_MAX - OM_ARENA_SIZE || align > OM_MAX_ALIGNMENT) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = (size + page - 1) & ~(page - 1);
    if (need == 0)
        need = page;
    size_t map_align = align > OM_ARENA_SIZE ? align : OM_ARENA_SIZE;

    pthread_mutex_lock(&omi_rt.lock);
    om_large *l = cache_take(need, map_align);
    if (l) {
        l->cached = 0;
        int dirty = !l->purged || omi_option_value(OM_OPTION_PURGE_DECOMMIT) == 0;
        l->purged = 0;
        list_push(&omi_rt.large_live, l);
        omi_rt.large_count++;
        omi_rt.large_bytes += l->map_size;
        pthread_mutex_unlock(&omi_rt.lock);
        /* malloc gives no zero guarantee, but calloc relies on fresh
         * mappings being zero: keep that true for every large block. */
        if (dirty)
            memset(l->user, 0, size);
        return l->user;
    }
    pthread_mutex_unlock(&omi_rt.lock);

    char *base = omi_os_reserve(need, map_align);
    if (!base)
        return NULL;
    pthread_mutex_lock(&omi_rt.lock);
    l = omi_rt.free_large_descs;
    if (l)
        omi_rt.free_large_descs = l->next;
    else
        l = omi_meta_alloc(sizeof(om_large));
    if (!l || omi_map_set((uintptr_t)base, need, (uintptr_t)l | OM_MAP_LARGE)) {
        if (l) {
            l->next = omi_rt.free_large_descs;
            omi_rt.free_large_descs = l;
        }
        pthread_mutex_unlock(&omi_rt.lock);
        omi_os_release(base, need);
        errno = ENOMEM;
        return NULL;
    }
    memset(l, 0, sizeof *l);
    l->base = l->user = base;
    l->map_size = l->usable = need;
    list_push(&omi_rt.large_live, l);
    omi_rt.large_count++;
    omi_rt.large_bytes += need;
    pthread_mutex_unlock(&omi_rt.lock);
    return base;
}

/* Grow a live large block without copying (os.c's omi_os_remap), keeping
 * the ownership map right.  NULL: not possible, l unchanged. */
void *omi_large_grow(om_large *l, size_t size) {
    size_t page = omi_os_page_size();
    if (size > (size_t)PTRDIFF_MAX - OM_ARENA_SIZE || l->user != l->base)
        return NULL;
    size_t need = (size + page - 1) & ~(page - 1);
    char *old = l->base;
    size_t old_size = l->map_size;
    char *p = omi_os_remap(old, old_size, need, OM_ARENA_SIZE);
    if (!p)
        return NULL;
    pthread_mutex_lock(&omi_rt.lock);
    omi_map_clear((uintptr_t)old, old_size);
    if (omi_map_set((uintptr_t)p, need, (uintptr_t)l | OM_MAP_LARGE)) {
        /* No memory for a map leaf: put the block back where it was. */
        void *back = mremap(p, need, old_size, MREMAP_MAYMOVE | MREMAP_FIXED, old);
        (void)back;
        omi_map_set((uintptr_t)old, old_size, (uintptr_t)l | OM_MAP_LARGE);
        pthread_mutex_unlock(&omi_rt.lock);
        return NULL;
    }
    omi_rt.large_bytes += need - old_size;
    l->base = l->user = p;
    l->map_size = l->usable = need;
    pthread_mutex_unlock(&omi_rt.lock);
    return p;
}

void omi_large_free(om_large *l) {
    om_large *evict[OM_LARGE_CACHE_SLOTS + 1];
    size_t nevict = 0;
    char *release_base = NULL;
    size_t release_size = 0;

    pthread_mutex_lock(&omi_rt.lock);
    list_remove(&omi_rt.large_live, l);
    omi_rt.large_count--;
    omi_rt.large_bytes -= l->map_size;
    size_t bound = cache_bound();
    if (l->map_size <= bound / 4) {
        l->cached = 1;
        l->purged = 0;
        l->cached_at_ns = omi_os_now_ns();
        list_push(&omi_rt.large_cache, l);
        omi_rt.large_cached++;
        omi_rt.large_cached_bytes += l->map_size;
        while (omi_rt.large_cached > OM_LARGE_CACHE_SLOTS || omi_rt.large_cached_bytes > bound) {
            om_large *old = omi_rt.large_cache;
            while (old->next)
                old = old->next;
            list_remove(&omi_rt.large_cache, old);
            omi_rt.large_cached--;
            omi_rt.large_cached_bytes -= old->map_size;
            evict[nevict++] = old;
        }
    } else {
        release_base = l->base;
        release_size = l->map_size;
        forget(l);
    }
    /* Unmap outside the lock; remember ranges before the descriptors go. */
    char *bases[OM_LARGE_CACHE_SLOTS + 1];
    size_t sizes[OM_LARGE_CACHE_SLOTS + 1];
    for (size_t i = 0; i < nevict; i++) {
        bases[i] = evict[i]->base;
        sizes[i] = evict[i]->map_size;
        forget(evict[i]);
    }
    pthread_mutex_unlock(&omi_rt.lock);
    if (release_base)
        omi_os_release(release_base, release_size);
    for (size_t i = 0; i < nevict; i++)
        omi_os_release(bases[i], sizes[i]);
}

void omi_large_purge_old(uint64_t now) {
    uint64_t delay = (uint64_t)omi_option_value(OM_OPTION_PURGE_DELAY_MS) * 1000000u;
    if (pthread_mutex_trylock(&omi_rt.lock) != 0)
        return;
    for (om_large *l = omi_rt.large_cache; l; l = l->next) {
        if (!l->purged && now - l->cached_at_ns >= delay) {
            omi_os_purge(l->base, l->map_size);
            l->purged = 1;
        }
    }
    pthread_mutex_unlock(&omi_rt.lock);
}

void omi_large_collect(void) {
    for (;;) {
        pthread_mutex_lock(&omi_rt.lock);
        om_large *l = omi_rt.large_cache;
        if (!l) {
            pthread_mutex_unlock(&omi_rt.lock);
            return;
        }
        list_remove(&omi_rt.large_cache, l);
        omi_rt.large_cached--;
        omi_rt.large_cached_bytes -= l->map_size;
        char *base = l->base;
        size_t size = l->map_size;
        forget(l);
        pthread_mutex_unlock(&omi_rt.lock);
        omi_os_release(base, size);
    }
}
