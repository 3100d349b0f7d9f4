/*
 * dense.c — the live traced blocks of full tracing, by address: for each
 * 16-byte granule that starts a traced block, its trace id and requested
 * size in one 8-byte entry.
 *
 * A hash by address (blocks.c) sends every allocation and every free to a
 * random line of a table as big as the heap's block count: a cache miss
 * each.  Here the entries of neighbouring blocks are neighbours, so a
 * program that allocates and frees in a pool touches lines it touched a
 * moment ago.  Space: 8 bytes per 16 bytes of the address ranges holding
 * traced blocks, taken from the OS a page (8 KiB of heap) at a time when
 * first written: about half the traced heap, against about 48 bytes per
 * block for the hash (tracemalloc's entries cost more).
 *
 * Layout: regions of 1 MiB of address space, each a 512 KiB array of
 * entries reserved from the OS when its first block is recorded; a
 * two-level table (4096 × 32768 pointers, the second level made on
 * demand, never freed) finds the region of an address below 2^47.  An
 * entry is id | size << 32, 0 when empty.  Blocks of 4 GiB or more,
 * weighted (sampled) blocks and addresses from 2^47 go to blocks.c's hash.
 *
 * Locking: 64 mutexes chosen by region number.  A region's entries, and
 * its slot in the second level, are read and written only under its
 * mutex (with the session check on insertion), so a stop, which takes
 * every mutex in turn and gives the regions back, leaves nothing behind
 * and frees nothing another thread is reading.  A second level is
 * installed by compare-and-swap and read with acquire loads.
 */
#include <errno.h>

#include "trace/trace.h"

#define REGION_SHIFT 20
#define GRANULE_SHIFT 4
#define ENTRIES ((size_t)1 << (REGION_SHIFT - GRANULE_SHIFT))
#define L2_BITS 15
#define L1_BITS (47 - REGION_SHIFT - L2_BITS)
#define LOCKS 64

typedef struct region {
    uint64_t e[ENTRIES];
} region;

typedef struct level2 {
    region *r[(size_t)1 << L2_BITS];
} level2;

static struct {
    _Atomic(level2 *) l1[(size_t)1 << L1_BITS];
    struct {
        _Alignas(64) pthread_mutex_t m;
    } locks[LOCKS];
    pthread_once_t once;
} dn = {.once = PTHREAD_ONCE_INIT};

static void locks_init(void) {
    for (int i = 0; i < LOCKS; i++)
        pthread_mutex_init(&dn.locks[i].m, NULL);
}

int omi_dense_covers(uintptr_t a) { return (a >> 47) == 0; }

static pthread_mutex_t *lock_of(uintptr_t a) {
    pthread_once(&dn.once, locks_init);
    return &dn.locks[(a >> REGION_SHIFT) & (LOCKS - 1)].m;
}

/* The second-level slot of a's region (made if create), or NULL. */
static region **slot_of(uintptr_t a, int create) {
    _Atomic(level2 *) *top = &dn.l1[a >> (REGION_SHIFT + L2_BITS)];
    level2 *l2 = atomic_load_explicit(top, memory_order_acquire);
    if (!l2) {
        if (!create)
            return NULL;
        level2 *fresh = omi_trace_mem_alloc(sizeof(level2)), *none = NULL;
        if (!fresh)
            return NULL;
        if (atomic_compare_exchange_strong_explicit(top, &none, fresh, memory_order_acq_rel, memory_order_acquire))
            l2 = fresh;
        else
            omi_trace_mem_free(fresh), l2 = none;
    }
    return &l2->r[(a >> REGION_SHIFT) & (((size_t)1 << L2_BITS) - 1)];
}

static size_t index_of(uintptr_t a) { return (a >> GRANULE_SHIFT) & (ENTRIES - 1); }

static uint64_t pack(uint32_t id, uint64_t size) { return (uint64_t)id | size << 32; }

static void unpack(uintptr_t a, uint64_t e, omi_block_rec *out) {
    *out = (omi_block_rec){.addr = a, .size = e >> 32, .id = (uint32_t)e, .weight = OMI_TRACE_ONE};
}

int omi_dense_insert(const omi_block_rec *rec, uint64_t session) {
    uintptr_t a = rec->addr;
    pthread_mutex_t *m = lock_of(a);
    int rc = 0;
    pthread_mutex_lock(m);
    if (atomic_load_explicit(&omi_trace_st.session, memory_order_acquire) != session)
        goto out; /* tracing stopped (and maybe restarted) since the block was seen */
    region **slot = slot_of(a, 1);
    if (slot && !*slot)
        *slot = omi_trace_mem_alloc(sizeof(region));
    if (!slot || !*slot) {
        rc = ENOMEM;
        goto out;
    }
    uint64_t *e = &(*slot)->e[index_of(a)];
    if (*e) { /* a block freed without our seeing it: forget it */
        omi_block_rec old;
        unpack(a, *e, &old);
        omi_trace_count_rec(&old, -1);
    }
    *e = pack(rec->id, rec->size);
    omi_trace_count_rec(rec, +1);
out:
    pthread_mutex_unlock(m);
    return rc;
}

/* a's entry: removed into *out if take, else copied; 1 if there is one. */
static int lookup(uintptr_t a, omi_block_rec *out, int take) {
    pthread_mutex_t *m = lock_of(a);
    int found = 0;
    pthread_mutex_lock(m);
    region **slot = slot_of(a, 0);
    if (slot && *slot) {
        uint64_t *e = &(*slot)->e[index_of(a)];
        if ((found = *e != 0)) {
            unpack(a, *e, out);
            if (take) {
                *e = 0;
                omi_trace_count_rec(out, -1);
            }
        }
    }
    pthread_mutex_unlock(m);
    return found;
}

int omi_dense_remove(uintptr_t a, omi_block_rec *out) { return lookup(a, out, 1); }

int omi_dense_find(uintptr_t a, omi_block_rec *out) { return lookup(a, out, 0); }

/* visit(slot, region's address, arg) for every region, each under its
 * mutex (the mutexes taken in turn). */
static void each_region(void (*visit)(region **slot, uintptr_t base, void *arg), void *arg) {
    pthread_once(&dn.once, locks_init);
    for (int k = 0; k < LOCKS; k++) {
        pthread_mutex_lock(&dn.locks[k].m);
        for (size_t i = 0; i < ((size_t)1 << L1_BITS); i++) {
            level2 *l2 = atomic_load_explicit(&dn.l1[i], memory_order_acquire);
            for (size_t j = (size_t)k; l2 && j < ((size_t)1 << L2_BITS); j += LOCKS)
                if (l2->r[j])
                    visit(&l2->r[j], ((uintptr_t)i << (REGION_SHIFT + L2_BITS)) | ((uintptr_t)j << REGION_SHIFT), arg);
        }
        pthread_mutex_unlock(&dn.locks[k].m);
    }
}

typedef struct walk {
    void (*fn)(const omi_block_rec *r, void *arg);
    void *arg;
} walk;

static void visit_records(region **slot, uintptr_t base, void *arg) {
    walk *w = arg;
    for (size_t e = 0; e < ENTRIES; e++) {
        if (!(*slot)->e[e])
            continue;
        omi_block_rec rec;
        unpack(base + (e << GRANULE_SHIFT), (*slot)->e[e], &rec);
        w->fn(&rec, w->arg);
    }
}

void omi_dense_foreach(void (*fn)(const omi_block_rec *r, void *arg), void *arg) {
    walk w = {fn, arg};
    each_region(visit_records, &w);
}

static void release_region(region **slot, uintptr_t base, void *arg) {
    (void)base;
    (void)arg;
    omi_trace_mem_free(*slot);
    *slot = NULL;
}

void omi_dense_clear(void) { each_region(release_region, NULL); }

void omi_dense_fork(int phase) {
    pthread_once(&dn.once, locks_init);
    for (int k = 0; k < LOCKS; k++) {
        if (phase == OMI_FORK_PREPARE)
            pthread_mutex_lock(&dn.locks[k].m);
        else
            pthread_mutex_unlock(&dn.locks[k].m);
    }
}
