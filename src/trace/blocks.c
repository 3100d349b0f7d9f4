/*
 * blocks.c — the live traced blocks: address -> trace id, size, weight.
 *
 * Full tracing's blocks live in dense.c's address-ordered entries; the
 * rest (sampled blocks, with their weights; blocks of 4 GiB or more) in
 * the hash below, which lookups skip while it is empty.
 *
 * The hash: 64 shards chosen by the address's hash, each an open-addressing table
 * (linear probing) behind its own mutex, so threads that allocate at the
 * same time rarely meet.  A shard doubles when it is half full (its table
 * re-made from OS memory and the old one released, under its lock) and
 * deletes by backward shift, so no tombstones build up and a probe stops
 * at the first empty slot.
 *
 * Invariants: an address is in at most one shard, at most once; every
 * record's trace counts it in its count and bytes (trace.c adds and
 * subtracts them under the shard's lock, so a clear that takes each lock
 * in turn leaves no half-counted block).  A record is added after its
 * block is allocated and removed before its block is freed (alloc.c's
 * observer order), so an address reused by another thread is never in
 * the map twice.
 */
#include <errno.h>
#include <string.h>

#include "trace/trace.h"

#define SHARDS 64

typedef struct shard {
    _Alignas(64) pthread_mutex_t lock; /* a cache line (or two) per shard */
    omi_block_rec *slots;
    size_t cap, used; /* cap a power of two, or 0 */
} shard;

static shard shards[SHARDS];
static _Atomic size_t sparse_records; /* records in every shard */
static pthread_once_t shards_once = PTHREAD_ONCE_INIT;

static void shards_init(void) {
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&shards[i].lock, NULL);
}

static uint64_t mix(uintptr_t a) {
    uint64_t h = (uint64_t)a >> 4;
    h *= 0x9E3779B97F4A7C15u;
    return h ^ (h >> 29);
}

static shard *shard_of(uintptr_t a, uint64_t *h) {
    pthread_once(&shards_once, shards_init);
    *h = mix(a);
    return &shards[*h >> 58]; /* the top 6 bits pick the shard, the rest the slot */
}

static size_t slot_of(const shard *s, uint64_t h) { return (size_t)h & (s->cap - 1); }

/* Index of a's slot in s, or of the empty slot that ends its probe. */
static size_t probe(const shard *s, uintptr_t a, uint64_t h) {
    size_t i = slot_of(s, h);
    while (s->slots[i].addr && s->slots[i].addr != a)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static int grow(shard *s) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    omi_block_rec *old = s->slots, *t = omi_trace_mem_alloc(cap * sizeof *t);
    size_t oldcap = s->cap;
    if (!t)
        return ENOMEM;
    s->slots = t;
    s->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].addr)
            s->slots[probe(s, old[i].addr, mix(old[i].addr))] = old[i];
    omi_trace_mem_free(old);
    return 0;
}

/* Remove slot i by backward shift: later records of the probe move up. */
static void delete_at(shard *s, size_t i) {
    size_t j = i;
    for (;;) {
        j = (j + 1) & (s->cap - 1);
        if (!s->slots[j].addr)
            break;
        size_t home = slot_of(s, mix(s->slots[j].addr));
        /* j's record may fill the hole at i unless its home lies in (i, j] */
        if (((j - home) & (s->cap - 1)) >= ((j - i) & (s->cap - 1))) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].addr = 0;
    s->used--;
}

static int sparse_insert(const omi_block_rec *rec, uint64_t session) {
    uint64_t h;
    shard *s = shard_of(rec->addr, &h);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (atomic_load_explicit(&omi_trace_st.session, memory_order_acquire) != session)
        goto out; /* tracing stopped (and maybe restarted) since the block was seen */
    if ((s->used + 1) * 2 > s->cap && (rc = grow(s)) != 0)
        goto out;
    size_t i = probe(s, rec->addr, h);
    if (s->slots[i].addr) /* a block freed without our seeing it: forget it */
        omi_trace_count_rec(&s->slots[i], -1);
    else
        s->used++, atomic_fetch_add_explicit(&sparse_records, 1, memory_order_relaxed);
    s->slots[i] = *rec;
    omi_trace_count_rec(rec, +1);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* a's record: removed into *out if take, else copied; 1 if there is one. */
static int sparse_lookup(uintptr_t a, omi_block_rec *out, int take) {
    uint64_t h;
    shard *s = shard_of(a, &h);
    int found = 0;
    pthread_mutex_lock(&s->lock);
    if (s->cap) {
        size_t i = probe(s, a, h);
        if ((found = s->slots[i].addr != 0)) {
            *out = s->slots[i];
            if (take) {
                omi_trace_count_rec(out, -1);
                delete_at(s, i);
                atomic_fetch_sub_explicit(&sparse_records, 1, memory_order_relaxed);
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

static void sparse_clear(void) {
    pthread_once(&shards_once, shards_init);
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        if (s->cap)
            memset(s->slots, 0, s->cap * sizeof *s->slots);
        atomic_fetch_sub_explicit(&sparse_records, s->used, memory_order_relaxed);
        s->used = 0;
        pthread_mutex_unlock(&s->lock);
    }
}

/* ---- the map: dense.c for full tracing, the hash for the rest ---------------- */
static int dense_kind(const omi_block_rec *rec) {
    return rec->weight == OMI_TRACE_ONE && rec->size < ((uint64_t)1 << 32) && omi_dense_covers(rec->addr);
}

int omi_blocks_insert(const omi_block_rec *rec, uint64_t session) {
    if (!dense_kind(rec))
        return sparse_insert(rec, session);
    if (atomic_load_explicit(&sparse_records, memory_order_relaxed)) {
        omi_block_rec stale; /* a hashed block at this address freed unseen */
        sparse_lookup(rec->addr, &stale, 1);
    }
    return omi_dense_insert(rec, session);
}

int omi_blocks_remove(uintptr_t a, omi_block_rec *out) {
    if (omi_dense_covers(a) && omi_dense_remove(a, out))
        return 1;
    return atomic_load_explicit(&sparse_records, memory_order_relaxed) && sparse_lookup(a, out, 1);
}

int omi_blocks_find(uintptr_t a, omi_block_rec *out) {
    if (omi_dense_covers(a) && omi_dense_find(a, out))
        return 1;
    return atomic_load_explicit(&sparse_records, memory_order_relaxed) && sparse_lookup(a, out, 0);
}

void omi_blocks_clear(void) {
    omi_dense_clear();
    sparse_clear();
}

void omi_blocks_foreach(void (*fn)(const omi_block_rec *r, void *arg), void *arg) {
    omi_dense_foreach(fn, arg);
    pthread_once(&shards_once, shards_init);
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        for (size_t k = 0; k < s->cap; k++)
            if (s->slots[k].addr)
                fn(&s->slots[k], arg);
        pthread_mutex_unlock(&s->lock);
    }
}

void omi_blocks_fork(int phase) {
    pthread_once(&shards_once, shards_init);
    for (int i = 0; i < SHARDS; i++) {
        if (phase == OMI_FORK_PREPARE)
            pthread_mutex_lock(&shards[i].lock);
        else
            pthread_mutex_unlock(&shards[i].lock);
    }
    omi_dense_fork(phase);
}
