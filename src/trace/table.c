/*
 * table.c — traces: each distinct stack stored once and numbered, and the
 * OS memory the tracing layer lives in.
 *
 *   index[id >> 12][id & 4095] -> omi_trace { count, bytes, hash, n, frames[n] }
 *   dedup: open addressing (linear probing) of ids, keyed by the stack's hash
 *
 * Invariants: ids are 1, 2, ... in order of first sight and never reused;
 * a trace, once published in index, never moves, changes its frames or
 * goes away (the debug layer may name an id long after its block is
 * gone), so index and traces are read without the lock.  dedup holds
 * every id; it is at most half full.
 *
 * Locking: `lock` guards interning (dedup, the bump region, new index
 * chunks), which each thread's cache of recent ids mostly spares; a
 * trace's counters are atomics.  Memory comes from the OS
 * layer: traces from 1 MiB regions carved in order, index chunks and dedup
 * tables on their own (dedup's old table is released when it doubles).
 */
#include <errno.h>
#include <string.h>

#include "trace/trace.h"

#define CHUNK_SHIFT 12
#define CHUNK_IDS ((uint32_t)1 << CHUNK_SHIFT)
#define MAX_CHUNKS 1024 /* 4 Mi traces */
#define REGION (1u << 20)

static struct {
    pthread_mutex_t lock;
    _Atomic(omi_trace **) index[MAX_CHUNKS];
    _Atomic uint32_t count;
    uint32_t *dedup;
    size_t dedup_cap; /* a power of two, or 0 */
    char *region;
    size_t region_used;
    _Atomic uint64_t mem_bytes; /* from omi_trace_mem_alloc, not yet freed */
} tab = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- OS memory ------------------------------------------------------------ */
typedef struct mem_head {
    size_t size;
    size_t pad;
} mem_head;

void *omi_trace_mem_alloc(size_t size) {
    size_t page = omi_os_page_size(), total = (size + sizeof(mem_head) + page - 1) & ~(page - 1);
    if (total < size)
        return NULL;
    mem_head *h = omi_os_reserve(total, page);
    if (!h)
        return NULL;
    h->size = total;
    atomic_fetch_add_explicit(&tab.mem_bytes, total, memory_order_relaxed);
    return h + 1;
}

uint64_t omi_trace_mem_bytes(void) { return atomic_load_explicit(&tab.mem_bytes, memory_order_relaxed); }

void omi_trace_mem_free(void *p) {
    if (!p)
        return;
    mem_head *h = (mem_head *)p - 1;
    atomic_fetch_sub_explicit(&tab.mem_bytes, h->size, memory_order_relaxed);
    omi_os_release(h, h->size);
}

/* ---- traces ----------------------------------------------------------------- */
static uint32_t hash_frames(void *const *frames, int n) {
    uint64_t h = 0x9E3779B97F4A7C15u ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)frames[i];
        h *= 0xff51afd7ed558ccdu;
        h ^= h >> 33;
    }
    return (uint32_t)h;
}

omi_trace *omi_trace_get(uint32_t id) {
    if (id == 0 || id > atomic_load_explicit(&tab.count, memory_order_acquire))
        return NULL;
    omi_trace **chunk = atomic_load_explicit(&tab.index[id >> CHUNK_SHIFT], memory_order_acquire);
    return chunk ? chunk[id & (CHUNK_IDS - 1)] : NULL;
}

uint32_t omi_trace_count(void) { return atomic_load_explicit(&tab.count, memory_order_acquire); }

static int same(const omi_trace *t, uint32_t hash, void *const *frames, int n, uint32_t flags) {
    return t->hash == hash && t->nframes == (uint32_t)n && t->flags == flags &&
           memcmp(t->frames, frames, (size_t)n * sizeof(void *)) == 0;
}

/* dedup at twice its size, every id re-inserted; 0 or ENOMEM. */
static int dedup_grow(void) {
    size_t cap = tab.dedup_cap ? tab.dedup_cap * 2 : 4096;
    uint32_t *d = omi_trace_mem_alloc(cap * sizeof(uint32_t));
    if (!d)
        return ENOMEM;
    for (size_t i = 0; i < tab.dedup_cap; i++) {
        uint32_t id = tab.dedup[i];
        if (!id)
            continue;
        size_t j = omi_trace_get(id)->hash & (cap - 1);
        while (d[j])
            j = (j + 1) & (cap - 1);
        d[j] = id;
    }
    omi_trace_mem_free(tab.dedup);
    tab.dedup = d;
    tab.dedup_cap = cap;
    return 0;
}

/* A new trace of the stack, from the bump region (lock held); NULL if full. */
static omi_trace *trace_new(uint32_t hash, void *const *frames, int n, uint32_t flags) {
    size_t size = (sizeof(omi_trace) + (size_t)n * sizeof(void *) + 15) & ~(size_t)15;
    if (!tab.region || tab.region_used + size > REGION) {
        tab.region = omi_trace_mem_alloc(REGION);
        tab.region_used = 0;
        if (!tab.region)
            return NULL;
    }
    omi_trace *t = (omi_trace *)(tab.region + tab.region_used);
    tab.region_used += size;
    t->hash = hash;
    t->nframes = (uint32_t)n;
    t->flags = flags;
    memcpy(t->frames, frames, (size_t)n * sizeof(void *));
    return t;
}

/* Publish t under the next id (lock held); 0 if the index is full. */
static uint32_t publish(omi_trace *t) {
    uint32_t id = atomic_load_explicit(&tab.count, memory_order_relaxed) + 1;
    uint32_t c = id >> CHUNK_SHIFT;
    if (c >= MAX_CHUNKS)
        return 0;
    omi_trace **chunk = atomic_load_explicit(&tab.index[c], memory_order_relaxed);
    if (!chunk) {
        chunk = omi_trace_mem_alloc(CHUNK_IDS * sizeof(omi_trace *));
        if (!chunk)
            return 0;
        atomic_store_explicit(&tab.index[c], chunk, memory_order_release);
    }
    chunk[id & (CHUNK_IDS - 1)] = t;
    atomic_store_explicit(&tab.count, id, memory_order_release);
    return id;
}

/* Each thread's last ids by hash: a stack interned before is found here
 * without the lock (traces never change once published). */
#define RECENT 64
static __thread uint32_t recent[RECENT];

uint32_t omi_trace_intern(void *const *frames, int n, uint32_t flags) {
    uint32_t hash = hash_frames(frames, n) ^ flags, id = 0;
    uint32_t *mine = &recent[hash & (RECENT - 1)];
    omi_trace *seen = omi_trace_get(*mine);
    if (seen && same(seen, hash, frames, n, flags))
        return *mine;
    pthread_mutex_lock(&tab.lock);
    if ((size_t)omi_trace_count() * 2 + 2 > tab.dedup_cap && dedup_grow() != 0)
        goto out;
    size_t j = hash & (tab.dedup_cap - 1);
    for (; tab.dedup[j]; j = (j + 1) & (tab.dedup_cap - 1))
        if (same(omi_trace_get(tab.dedup[j]), hash, frames, n, flags)) {
            id = tab.dedup[j];
            goto out;
        }
    omi_trace *t = trace_new(hash, frames, n, flags);
    if (t && (id = publish(t)) != 0)
        tab.dedup[j] = id;
out:
    pthread_mutex_unlock(&tab.lock);
    if (id)
        *mine = id;
    return id;
}

void omi_trace_table_zero(void) {
    uint32_t n = omi_trace_count();
    for (uint32_t id = 1; id <= n; id++) {
        omi_trace *t = omi_trace_get(id);
        atomic_store_explicit(&t->count, 0, memory_order_relaxed);
        atomic_store_explicit(&t->bytes, 0, memory_order_relaxed);
    }
}

void omi_trace_table_fork(int phase) {
    if (phase == OMI_FORK_PREPARE)
        pthread_mutex_lock(&tab.lock);
    else
        pthread_mutex_unlock(&tab.lock);
}
