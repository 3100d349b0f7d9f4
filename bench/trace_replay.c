/*
 * trace_replay.c — the `trace` workload of bench_alloc: load a trace
 * recorded by bench_trace.so (see trace_format.h), turn the traced
 * process's addresses into dense slot ids, and replay it against the
 * allocator under test.
 *
 * Conversion (once, at load time, untimed):
 *   - every malloc/calloc gets the lowest free slot id (ids are recycled,
 *     so the slot table is as big as the most blocks ever live at once);
 *   - a realloc keeps its block's slot; realloc(NULL, n) or realloc of an
 *     unknown address becomes a malloc; realloc(p, 0) returning NULL is a
 *     free; a failed realloc is dropped;
 *   - frees of addresses the trace never saw allocated are skipped;
 *   - an address handed out again without a traced free (it was freed by
 *     an untraced path) first frees the stale slot.
 * Replay (timed): the op list is run `passes` times; after each pass every
 * block still live is freed (those frees are timed and counted too).
 */
#include "bench.h"
#include "trace_format.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct replay_op {
    uint32_t slot;
    uint32_t size;
    uint32_t op; /* enum trace_op */
} replay_op;

/* ---------------------------------------- address -> slot hash (mmap'd) */

typedef struct addr_map {
    uint64_t *keys; /* 0 = empty */
    uint32_t *vals;
    size_t cap;     /* power of two */
    size_t count;
} addr_map;

static size_t hash_addr(uint64_t k, size_t mask)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & mask;
}

static void map_init(addr_map *m, size_t cap)
{
    m->cap = cap;
    m->count = 0;
    m->keys = bench_scratch(cap * sizeof *m->keys);
    m->vals = bench_scratch(cap * sizeof *m->vals);
}

static void map_destroy(addr_map *m)
{
    bench_scratch_free(m->keys, m->cap * sizeof *m->keys);
    bench_scratch_free(m->vals, m->cap * sizeof *m->vals);
}

static void map_put(addr_map *m, uint64_t key, uint32_t val);

static void map_grow(addr_map *m)
{
    addr_map old = *m;
    map_init(m, old.cap * 2);
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i])
            map_put(m, old.keys[i], old.vals[i]);
    map_destroy(&old);
}

static void map_put(addr_map *m, uint64_t key, uint32_t val)
{
    if ((m->count + 1) * 2 > m->cap)
        map_grow(m);
    size_t mask = m->cap - 1, i = hash_addr(key, mask);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & mask;
    if (!m->keys[i])
        m->count++;
    m->keys[i] = key;
    m->vals[i] = val;
}

/* Index of key, or (size_t)-1. */
static size_t map_find(const addr_map *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = hash_addr(key, mask);
    while (m->keys[i]) {
        if (m->keys[i] == key)
            return i;
        i = (i + 1) & mask;
    }
    return (size_t)-1;
}

/* Remove the entry at index i (linear probing, backward-shift delete). */
static void map_remove_at(addr_map *m, size_t i)
{
    size_t mask = m->cap - 1, j = i;
    m->keys[i] = 0;
    m->count--;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->keys[j])
            return;
        size_t home = hash_addr(m->keys[j], mask);
        /* move j back into the hole at i unless its home lies in (i, j] */
        int in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            m->keys[j] = 0;
            i = j;
        }
    }
}

/* ------------------------------------------------------------- loading */

typedef struct loaded_trace {
    replay_op *ops;
    size_t nops, ops_bytes;
    uint32_t nslots;
    size_t events, skipped;
} loaded_trace;

typedef struct slot_ids {
    uint32_t *free_ids; /* stack of recycled ids */
    size_t nfree;
    uint32_t next;
} slot_ids;

static uint32_t id_take(slot_ids *s)
{
    return s->nfree ? s->free_ids[--s->nfree] : s->next++;
}

static void id_give(slot_ids *s, uint32_t id)
{
    s->free_ids[s->nfree++] = id;
}

static void emit(loaded_trace *t, uint32_t op, uint32_t slot, uint32_t size)
{
    replay_op *o = &t->ops[t->nops++];
    o->op = op;
    o->slot = slot;
    o->size = size;
}

/* The traced program freed (or reused) the block at map position at: emit
 * its free and forget it. */
static void release_at(loaded_trace *t, addr_map *map, slot_ids *ids, size_t at)
{
    uint32_t slot = map->vals[at];
    emit(t, TRACE_FREE, slot, 0);
    map_remove_at(map, at);
    id_give(ids, slot);
}

static void load_trace(const char *path, loaded_trace *t)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        bench_die("trace: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < TRACE_MAGIC_LEN)
        bench_die("trace: %s is empty or unreadable", path);
    size_t len = (size_t)st.st_size;
    unsigned char *raw = bench_scratch_lazy(len);
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, raw + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_die("trace: short read on %s", path);
        got += (size_t)n;
    }
    close(fd);
    if (memcmp(raw, TRACE_MAGIC, TRACE_MAGIC_LEN) != 0)
        bench_die("trace: %s is not a trace file (bad magic)", path);

    const size_t nrec = (len - TRACE_MAGIC_LEN) / sizeof(trace_rec);
    const trace_rec *recs = (const trace_rec *)(raw + TRACE_MAGIC_LEN);
    /* each record emits at most two ops (a stale free plus itself) */
    t->ops_bytes = (2 * nrec + 1) * sizeof(replay_op);
    t->ops = bench_scratch_lazy(t->ops_bytes); /* only the used part gets resident */
    t->nops = 0;
    t->events = nrec;
    t->skipped = 0;

    slot_ids ids = {bench_scratch_lazy((nrec + 1) * sizeof(uint32_t)), 0, 0};
    addr_map map;
    map_init(&map, 1 << 16);

    for (size_t i = 0; i < nrec; i++) {
        trace_rec rec;
        memcpy(&rec, &recs[i], sizeof rec);
        size_t at;
        switch (rec.op) {
        case TRACE_MALLOC:
        case TRACE_CALLOC:
            if (!rec.ptr) {
                t->skipped++;
                break;
            }
            if ((at = map_find(&map, rec.ptr)) != (size_t)-1)
                release_at(t, &map, &ids, at);
            {
                uint32_t id = id_take(&ids);
                emit(t, rec.op, id, rec.size);
                map_put(&map, rec.ptr, id);
            }
            break;
        case TRACE_FREE:
            if ((at = map_find(&map, rec.ptr)) == (size_t)-1) {
                t->skipped++;
                break;
            }
            release_at(t, &map, &ids, at);
            break;
        case TRACE_REALLOC: {
            size_t old_at = rec.old ? map_find(&map, rec.old) : (size_t)-1;
            if (!rec.ptr) {
                /* realloc(p, 0) freed p, or the realloc failed */
                if (rec.size == 0 && old_at != (size_t)-1) {
                    release_at(t, &map, &ids, old_at);
                } else {
                    t->skipped++;
                }
                break;
            }
            if (old_at == (size_t)-1) {
                /* realloc(NULL, n) or of a block we never saw: a malloc */
                if ((at = map_find(&map, rec.ptr)) != (size_t)-1)
                    release_at(t, &map, &ids, at);
                uint32_t id = id_take(&ids);
                emit(t, TRACE_MALLOC, id, rec.size);
                map_put(&map, rec.ptr, id);
                break;
            }
            uint32_t id = map.vals[old_at];
            emit(t, TRACE_REALLOC, id, rec.size);
            if (rec.ptr != rec.old) {
                map_remove_at(&map, old_at);
                if ((at = map_find(&map, rec.ptr)) != (size_t)-1) {
                    uint32_t stale = map.vals[at];
                    /* cannot happen in a consistent trace; keep it sane */
                    map_remove_at(&map, at);
                    id_give(&ids, stale);
                }
                map_put(&map, rec.ptr, id);
            }
            break;
        }
        default:
            bench_die("trace: bad op %u in record %zu", (unsigned)rec.op, i);
        }
    }
    t->nslots = ids.next;
    map_destroy(&map);
    bench_scratch_free(ids.free_ids, (nrec + 1) * sizeof(uint32_t));
    bench_scratch_free(raw, len);
}

/* ------------------------------------------------------------- replay */

int bench_work_trace(const bench_allocator *a, const bench_params *p, bench_result *r)
{
    if (!p->trace_path)
        bench_die("trace: --trace FILE is required");
    const long passes = p->passes > 0 ? p->passes : (p->quick ? 2 : 6);
    void *(*const mal)(size_t) = a->malloc_fn;
    void *(*const cal)(size_t, size_t) = a->calloc_fn;
    void *(*const rea)(void *, size_t) = a->realloc_fn;
    void (*const fre)(void *) = a->free_fn;
    uint64_t chk = 0, ops = 0;

    loaded_trace t;
    load_trace(p->trace_path, &t);
    if (t.nops == 0)
        bench_die("trace: %s holds no usable events", p->trace_path);
    unsigned char **live = bench_scratch((size_t)t.nslots * sizeof *live + 1);
    r->base_rss_kb = bench_rss_kb();
    bench_reset_hwm();

    uint64_t t0 = bench_now_ns();
    for (long pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i < t.nops; i++) {
            const replay_op *o = &t.ops[i];
            unsigned char *q;
            switch (o->op) {
            case TRACE_MALLOC:
                q = mal(o->size);
                if (!q && o->size)
                    bench_die("trace: malloc(%u) failed", o->size);
                if (q && o->size)
                    q[0] = (unsigned char)i;
                live[o->slot] = q;
                break;
            case TRACE_CALLOC:
                q = cal(1, o->size);
                if (!q && o->size)
                    bench_die("trace: calloc(%u) failed", o->size);
                if (q && o->size)
                    q[0] = (unsigned char)i;
                live[o->slot] = q;
                break;
            case TRACE_REALLOC:
                q = rea(live[o->slot], o->size);
                if (!q && o->size)
                    bench_die("trace: realloc(%u) failed", o->size);
                if (q && o->size)
                    q[0] = (unsigned char)i;
                live[o->slot] = q;
                break;
            default: /* TRACE_FREE */
                q = live[o->slot];
                if (q)
                    chk += q[0];
                fre(q);
                live[o->slot] = NULL;
                break;
            }
        }
        ops += t.nops;
        for (uint32_t s = 0; s < t.nslots; s++) {
            if (live[s]) {
                fre(live[s]);
                live[s] = NULL;
                ops++;
            }
        }
    }
    r->ns = bench_now_ns() - t0;
    r->ops = ops;
    r->peak_rss_kb = bench_hwm_kb();
    bench_settle(a);
    r->final_rss_kb = bench_rss_kb();
    r->extra = (long)t.events;
    r->checksum = chk;
    bench_scratch_free(live, (size_t)t.nslots * sizeof *live + 1);
    bench_scratch_free(t.ops, t.ops_bytes);
    return 0;
}
