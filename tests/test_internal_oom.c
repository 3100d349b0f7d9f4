/*
 * test_internal_oom.c — every failure point of a full workload, in the
 * sqlite manner, through fail.c's injection (src/os/os.h): each OS call
 * (reserve, release, purge, remap/move; protect in hardened mode, where
 * the CTest test test_internal_oom_secure runs the allocator's sweeps
 * again) and each carve of internal metadata (descriptors, the
 * collector's side tables).
 *
 * A workload runs once armed with no failure, to count its points of each
 * kind; then again for each point k (with a stride when there are many),
 * with the kth point failing alone, and with every point from the kth on
 * failing until the end (memory stays short, then comes back).  After
 * each run:
 *   - nothing crashed; every call that promises NULL + ENOMEM (malloc,
 *     calloc, realloc, aligned_alloc, posix_memalign's status, om_new,
 *     the snapshot's status) gave that and nothing else, and a realloc that
 *     failed left its block as it was;
 *   - releases, purges and remaps that fail are not allocation failures:
 *     with only those failing, every allocation succeeds;
 *   - every live block still holds its pattern, om_heap_check passes;
 *   - once everything is freed and om_trim(1) has run, the bytes mapped
 *     (less the metadata kept for good: descriptors, the ownership map,
 *     the side tables) are back at the baseline: nothing leaked, even
 *     from releases that failed (os.c tries them again).
 * The collector's sweep: live and garbage rings over several 1 MiB slots,
 * watched by weak references with callbacks, a collection while points
 * fail: it must not crash, free a live node, or leave a garbage one (or
 * its callback) once memory is back (collect again and count).
 * Side tables are never freed, so each of its points runs in a child
 * forked before any collection.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"
#include "os/os.h"
#include "alloc/alloc.h"
#include "gc/side.h"
#include "trace/trace.h"

static const char *const kind_name[OMI_FAIL_KINDS] = {"reserve", "release", "purge", "remap",
                                                      "protect", "meta", "side"};
#define ALL_KINDS ((1u << OMI_FAIL_KINDS) - 1)
/* Kinds whose failure is not an allocation failure. */
#define NOT_ALLOC ((1u << OMI_FAIL_RELEASE) | (1u << OMI_FAIL_PURGE) | (1u << OMI_FAIL_REMAP))

/* Mapped bytes that are not kept for good. */
static int64_t mapped_now(void) {
    om_stats s;
    om_stats_get(&s);
    return (int64_t)s.os_bytes_reserved - (int64_t)omi_meta_bytes() - (int64_t)omi_gc_side_mapped() -
           (int64_t)omi_trace_mem_bytes();
}

/* ---- the allocator's workload ---------------------------------------------- */
enum { NB = 96 };
static struct blk {
    unsigned char *p;
    size_t n;
    unsigned char salt;
} blk[NB];

static struct {
    long nulls;       /* allocations that failed, with ENOMEM */
    long bad_errno;   /* ... with anything else */
    long damaged;     /* a block whose contents changed */
    long bad_zero;    /* calloc memory not zero */
} res;

static size_t size_at(int i) {
    switch (i % 8) {
    case 3: return 600 + (size_t)i * 997 % 60000;                     /* medium */
    case 6: return TU_MEDIUM_MAX + 1 + (size_t)i * 104729 % (3 * TU_MIB); /* large */
    default: return 1 + (size_t)i * 37 % 500;                         /* small */
    }
}

/* The bytes a pattern covers: every one of the first 4 KiB, then one in
 * 61 (large blocks would make the sweep slow). */
static size_t next_byte(size_t j) { return j < 4096 ? j + 1 : j + 61; }

static void fill(struct blk *b) {
    for (size_t j = 0; j < b->n; j = next_byte(j))
        b->p[j] = tu_pattern(b, j, b->salt);
}

static int intact(const struct blk *b, size_t n) {
    for (size_t j = 0; j < n; j = next_byte(j))
        if (b->p[j] != tu_pattern(b, j, b->salt))
            return 0;
    return 1;
}

static void failed(void) {
    res.nulls++;
    if (errno != ENOMEM)
        res.bad_errno++;
}

/* Block i made by one of the malloc family, filled, or NULL counted. */
static void make(int i, size_t n) {
    struct blk *b = &blk[i];
    void *p = NULL;
    errno = 0;
    switch (i % 5) {
    case 0: p = om_malloc(n); break;
    case 1:
        p = om_calloc(1, n);
        if (p && !tu_all_bytes(p, n, 0))
            res.bad_zero++;
        break;
    case 2: p = om_aligned_alloc(256, n); break;
    case 3: {
        int rc = om_posix_memalign(&p, 4096, n);
        if (rc) {
            p = NULL;
            errno = rc;
        }
        break;
    }
    default: p = om_malloc(n / 2 + 1);
        if (p) {
            void *q = om_realloc(p, n);
            if (!q) {
                int e = errno;
                om_free(p);
                errno = e;
            }
            p = q;
        }
        break;
    }
    b->p = p;
    b->n = p ? n : 0;
    b->salt = (unsigned char)(i * 13 + 7);
    if (!p) {
        failed();
        return;
    }
    fill(b);
}

/* Block i to n bytes: kept as it was when realloc fails. */
static void grow(int i, size_t n) {
    struct blk *b = &blk[i];
    if (!b->p)
        return;
    errno = 0;
    unsigned char *q = om_realloc(b->p, n);
    if (!q) {
        failed();
        if (!intact(b, b->n))
            res.damaged++;
        return;
    }
    struct blk moved = *b;
    moved.p = q;
    size_t keep = n < b->n ? n : b->n;
    for (size_t j = 0; j < keep; j = next_byte(j))
        if (q[j] != tu_pattern(b, j, b->salt)) {
            res.damaged++;
            break;
        }
    (void)moved;
    b->p = q;
    b->n = n;
    fill(b);
}

static void drop(int i) {
    struct blk *b = &blk[i];
    if (b->p && !intact(b, b->n))
        res.damaged++;
    om_free(b->p);
    b->p = NULL;
}

/* A thread's first allocation makes its heap (a descriptor); it exits with
 * its last blocks live, which the main thread frees later (an abandoned
 * heap, frees from another thread). */
enum { THREAD_BLOCKS = 12 };
static void *thread_body(void *arg) {
    (void)arg;
    for (int i = NB - THREAD_BLOCKS; i < NB; i++)
        make(i, size_at(i));
    return NULL;
}

static int traced; /* the workload runs with allocation tracing on */

static void workload_alloc(void) {
    for (int i = 0; i < NB; i++)
        make(i, size_at(i));
    if (traced) {
        errno = 0;
        om_trace_snap *snap = om_trace_snapshot();
        if (!snap)
            failed();
        om_trace_snapshot_free(snap);
    }
    /* shapes change: small to medium to large, large grows (mremap) */
    for (int i = 0; i < NB; i += 4)
        grow(i, size_at(i) * 3 + 1000);
    for (int i = 6; i < NB; i += 16)
        grow(i, size_at(i) + 5 * TU_MIB);
    /* frees leave pools and arenas empty: purges and releases */
    for (int i = 0; i < NB; i += 3)
        drop(i);
    om_trim(0);
    /* cached large mappings gathered into a bigger one (mremap moves) */
    for (int i = 14; i < NB; i += 32)
        drop(i);
    make(0, 9 * TU_MIB);
    for (int i = 3; i < NB; i += 3)
        make(i, size_at(i + 1));
    om_trim(1);
    for (int i = NB - THREAD_BLOCKS; i < NB; i++)
        drop(i);
    pthread_t t;
    if (pthread_create(&t, NULL, thread_body, NULL) == 0)
        pthread_join(t, NULL);
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        int rc = om_heap_snapshot_write(fd, 0);
        if (rc != 0 && rc != ENOMEM)
            res.bad_errno++;
        close(fd);
    }
}

static void free_all(void) {
    for (int i = 0; i < NB; i++)
        drop(i);
    om_trim(1);
}

/* One run: armed with (kinds, first, count).  Returns the points met. */
static uint64_t run_alloc(unsigned kinds, uint64_t first, uint64_t count, const char *what) {
    memset(&res, 0, sizeof res);
    om_trim(1); /* what earlier cases left in the caches goes first */
    int64_t base = mapped_now();
    if (traced)
        CHECK_EQ(om_trace_start(8), 0);
    omi_fail_arm(kinds, first, count);
    workload_alloc();
    uint64_t met = 0, injected = 0;
    for (int k = 0; k < OMI_FAIL_KINDS; k++) {
        if (kinds & (1u << k))
            met += omi_fail_calls((omi_fail_kind)k);
        injected += omi_fail_injected((omi_fail_kind)k);
    }
    omi_fail_disarm();
    if (traced)
        om_trace_stop();
    CHECK_MSG(res.bad_errno == 0, "%s %llu: %ld failures without ENOMEM", what,
              (unsigned long long)first, res.bad_errno);
    CHECK_MSG(res.damaged == 0, "%s %llu: %ld blocks damaged", what, (unsigned long long)first,
              res.damaged);
    CHECK_MSG(res.bad_zero == 0, "%s %llu: calloc not zero", what, (unsigned long long)first);
    if ((kinds & ~NOT_ALLOC) == 0)
        CHECK_MSG(res.nulls == 0, "%s %llu: %ld allocations failed with only %s failing", what,
                  (unsigned long long)first, res.nulls, "release/purge/remap");
    if (injected == 0)
        CHECK_MSG(res.nulls == 0, "%s %llu: %ld allocations failed, none injected", what,
                  (unsigned long long)first, res.nulls);
    int problems = om_heap_check(1);
    CHECK_MSG(problems == 0, "%s %llu: om_heap_check found %d problems", what,
              (unsigned long long)first, problems);
    for (int i = 0; i < NB; i++)
        if (blk[i].p && !intact(&blk[i], blk[i].n))
            CHECK_MSG(0, "%s %llu: block %d damaged", what, (unsigned long long)first, i);
    free_all();
    int64_t leak = mapped_now() - base;
    CHECK_MSG(leak == 0, "%s %llu (count %llu): %lld bytes mapped past the baseline", what,
              (unsigned long long)first, (unsigned long long)count, (long long)leak);
    return met;
}

/* Every kind alone, then all together: each point (with a stride past
 * max_points) failing alone, and from it to the end. */
static void sweep_alloc(unsigned kinds, const char *what, uint64_t max_points) {
    uint64_t n = run_alloc(kinds, 0, 0, what); /* count */
    uint64_t stride = n > max_points ? (n + max_points - 1) / max_points : 1;
    uint64_t swept = 0;
    for (uint64_t k = 1; k <= n; k += stride, swept++) {
        run_alloc(kinds, k, 1, what);
        run_alloc(kinds, k, UINT64_MAX / 2, what);
    }
    printf("   %s: %llu points, %llu swept (alone and to the end)\n", what, (unsigned long long)n,
           (unsigned long long)swept);
}

static void test_alloc_sweep(void) {
    /* warm up twice: what stays mapped for good is mapped now */
    run_alloc(0, 0, 0, "warm-up");
    run_alloc(0, 0, 0, "warm-up");
    uint64_t max = OM_TEST_SANITIZED ? 5 : 60;
    for (int k = 0; k < OMI_FAIL_KINDS; k++) {
        if (k == OMI_FAIL_SIDE || k == OMI_FAIL_META)
            continue; /* the collector's; the first run's (test_first_run_sweep) */
        uint64_t n = run_alloc(1u << k, 0, 0, kind_name[k]);
        if (k == OMI_FAIL_PROTECT && !omi_secure.on) {
            CHECK_EQ(n, 0); /* guard pages are hardened mode's */
            continue;
        }
        CHECK_MSG(n > 0, "the workload met no %s point", kind_name[k]);
        sweep_alloc(1u << k, kind_name[k], max);
    }
    sweep_alloc(ALL_KINDS, "all kinds", max * 2);
}

/* Releases that fail stay mapped and are tried again: nothing leaks. */
static void test_release_retried(void) {
    om_trim(1);
    int64_t base = mapped_now();
    void *p = om_malloc(3 * TU_MIB);
    REQUIRE(p != NULL);
    omi_fail_arm(1u << OMI_FAIL_RELEASE, 1, UINT64_MAX / 2);
    om_free(p);
    om_trim(1);
    CHECK_GT(omi_fail_injected(OMI_FAIL_RELEASE), 0);
    CHECK_GT(mapped_now(), base); /* still mapped: the release failed */
    omi_fail_disarm();
    CHECK_EQ(om_heap_check(1), 0);
    om_trim(1); /* tries the failed releases again */
    CHECK_EQ(mapped_now(), base);
}

/* ---- growing a large block in place across a map leaf's boundary -------------
 * The ownership map's leaves cover 16 GiB each and are made on first use:
 * a block that mremap grows in place past such a boundary needs a new leaf
 * (metadata).  When that fails, the block must stay as it was, known to
 * the map.  The block is placed just below a boundary whose leaf does not
 * exist by filling every gap of the address space above it (PROT_NONE,
 * no memory), but for a small hole where metadata chunks land. */
#define LEAF_SPAN ((uintptr_t)16 << 30)

static struct { uintptr_t a, n; } fills[64];
static int nfills;

static void fill_gaps(uintptr_t lo, uintptr_t hi) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    uintptr_t cur = lo, s, e;
    char line[512];
    int more = 1;
    while (more && nfills < 64) {
        more = fgets(line, sizeof line, f) != NULL;
        if (more && sscanf(line, "%lx-%lx", &s, &e) != 2)
            continue;
        if (!more)
            s = e = hi;
        if (e <= cur)
            continue;
        uintptr_t end = s < hi ? s : hi;
        if (end > cur && mmap((void *)cur, end - cur, PROT_NONE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
                              0) == (void *)cur) {
            fills[nfills].a = cur;
            fills[nfills].n = end - cur;
            nfills++;
        }
        cur = e;
        if (cur >= hi)
            break;
    }
    fclose(f);
}

static void test_remap_in_place_new_leaf(void) {
    om_trim(1);
    void *probe = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(probe != MAP_FAILED);
    uintptr_t top = (uintptr_t)probe, b = top / LEAF_SPAN * LEAF_SPAN - LEAF_SPAN;
    munmap(probe, 4096);
    fill_gaps(b, top + 4096);
    if (nfills && fills[0].a == b && fills[0].n > ((size_t)1 << 20)) {
        fills[0].n -= (size_t)1 << 20; /* the hole for metadata */
        munmap((void *)(fills[0].a + fills[0].n), (size_t)1 << 20);
    }
    unsigned char *p = om_malloc(3 * TU_MIB);
    for (int i = 0; i < nfills; i++)
        munmap((void *)fills[i].a, fills[i].n);
    REQUIRE(p != NULL);
    if ((uintptr_t)p >= b || b - (uintptr_t)p > 8 * TU_MIB || !omi_os_can_remap()) {
        printf("   skipped: the block is at %p, not just below %#lx\n", (void *)p, (unsigned long)b);
        om_free(p);
        return;
    }
    memset(p, 0x5a, 3 * TU_MIB);
    omi_fail_arm(1u << OMI_FAIL_META, 1, UINT64_MAX / 2); /* no new leaf */
    errno = 0;
    unsigned char *q = om_realloc(p, 12 * TU_MIB);
    int e = errno;
    omi_fail_disarm();
    if (!q) {
        CHECK_EQ(e, ENOMEM);
        q = p;
    }
    CHECK_MSG(om_owns(q), "the block at %p is no longer objmem's", (void *)q);
    CHECK(tu_all_bytes(q, 3 * TU_MIB, 0x5a));
    CHECK_EQ(om_heap_check(1), 0);
    if (om_owns(q))
        om_free(q);
}

/* om_heap_check in a thread that has made no heap (it allocated only
 * large blocks) still checks the large blocks: the test above relies on it. */
static void *large_only(void *arg) {
    int *problems = arg;
    char *p = om_malloc(3 * TU_MIB);
    if (!p)
        return NULL;
    uintptr_t e = omi_map_lookup((uintptr_t)p);
    pthread_mutex_lock(&omi_rt.lock);
    omi_map_clear((uintptr_t)p, TU_MIB); /* the map forgets the block's first slot */
    pthread_mutex_unlock(&omi_rt.lock);
    problems[0] = om_heap_check(0);
    pthread_mutex_lock(&omi_rt.lock);
    omi_map_set((uintptr_t)p, TU_MIB, e);
    pthread_mutex_unlock(&omi_rt.lock);
    problems[1] = om_heap_check(0);
    om_free(p);
    return NULL;
}

static void test_check_without_heap(void) {
    int problems[2] = {-1, -1};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, large_only, problems) == 0);
    pthread_join(t, NULL);
    CHECK_EQ(problems[0], 1);
    CHECK_EQ(problems[1], 0);
}

/* ---- the collector's workload -------------------------------------------------- */
typedef struct node {
    om_object ob;
    om_object *next;
    intptr_t value;
    om_weakref *weaklist;
} node;
static om_type node_type = {OM_TYPE_INIT, .name = "oomnode", .size = sizeof(node), .flags = OM_TYPE_GC,
                            .ref_fields = OM_REF_FIELD(node, next),
                            .weaklist_offset = offsetof(node, weaklist)};
/* Used first in a child: its state is made there, under failures. */
static om_type late_type = {OM_TYPE_INIT, .name = "oomlate", .size = sizeof(node), .flags = OM_TYPE_GC,
                            .ref_fields = OM_REF_FIELD(node, next),
                            .weaklist_offset = offsetof(node, weaklist)};

static long callbacks; /* weak-reference callbacks run */
static void on_dead(om_weakref *ref, om_object *data) {
    (void)ref, (void)data;
    callbacks++;
}

/* A weak reference to o with a callback, or NULL (ENOMEM counted). */
static om_weakref *watch(node *o) {
    if (!o)
        return NULL;
    errno = 0;
    om_weakref *w = om_weakref_new(&o->ob, on_dead, NULL);
    if (!w)
        failed();
    return w;
}

static uint64_t live_of(const om_type *t) {
    om_type_stats s;
    om_type_get_stats(t, &s);
    return s.live;
}

/* A ring of up to n nodes (fewer when om_new fails: then ENOMEM); NULL if
 * none was made.  *made: its length. */
static node *ring(om_type *t, size_t n, intptr_t base, size_t *made) {
    node *first = NULL, *prev = NULL;
    size_t i = 0;
    for (; i < n; i++) {
        errno = 0;
        node *x = (node *)om_new(t);
        if (!x) {
            failed();
            break;
        }
        x->value = base + (intptr_t)i;
        if (prev)
            prev->next = &x->ob;
        else
            first = x;
        prev = x;
    }
    *made = i;
    if (first) {
        om_incref(&first->ob);
        prev->next = &first->ob;
    }
    return first;
}

static int ring_intact(node *first, size_t n, intptr_t base) {
    node *x = first;
    for (size_t i = 0; i < n; i++, x = (node *)x->next)
        if (!x || x->value != base + (intptr_t)i || x->ob.refcount < 1)
            return 0;
    return x == first;
}

#define RINGS 5

/* One point, in this process (a child): build under failures, collect
 * under failures, then check with memory back.  Returns the points met. */
static uint64_t gc_point(unsigned kinds, uint64_t first, uint64_t count, size_t n) {
    memset(&res, 0, sizeof res);
    om_trim(1);
    int64_t base = mapped_now();
    uint64_t live0 = live_of(&node_type), late0 = live_of(&late_type), weak0 = live_of(&om_weakref_type);
    callbacks = 0;
    omi_fail_arm(kinds, first, count);
    size_t garbage = 0, made, live_n;
    om_weakref *weak[RINGS];
    long watched = 0;
    for (int r = 0; r < RINGS; r++) {
        node *g = ring(r % 2 ? &late_type : &node_type, n, 1000000 * (r + 1), &made);
        garbage += made;
        weak[r] = watch(g);
        watched += weak[r] != NULL;
        if (g)
            om_decref(&g->ob);
    }
    node *live = ring(&node_type, n, 7, &live_n);
    om_weakref *weak_live = watch(live);
    long got = om_gc_collect(-1);
    uint64_t met = 0;
    for (int k = 0; k < OMI_FAIL_KINDS; k++)
        if (kinds & (1u << k))
            met += omi_fail_calls((omi_fail_kind)k);
    omi_fail_disarm();
    CHECK_MSG(res.bad_errno == 0, "gc %llu: om_new failed without ENOMEM", (unsigned long long)first);
    CHECK_MSG(got >= 0 && (size_t)got <= garbage, "gc %llu: collected %ld of %zu",
              (unsigned long long)first, got, garbage);
    CHECK_MSG(!live || ring_intact(live, live_n, 7), "gc %llu: a live node was freed",
              (unsigned long long)first);
    CHECK_EQ(om_heap_check(1), 0);
    long rest = om_gc_collect(-1);
    CHECK_MSG((size_t)(got + rest) == garbage, "gc %llu: %ld + %ld collected of %zu garbage",
              (unsigned long long)first, got, rest, garbage);
    CHECK(!live || ring_intact(live, live_n, 7));
    CHECK_MSG(callbacks == watched, "gc %llu: %ld callbacks for %ld garbage rings watched",
              (unsigned long long)first, callbacks, watched);
    if (weak_live) {
        om_object *o = om_weakref_get(weak_live);
        CHECK(o == &live->ob);
        om_xdecref(o);
    }
    if (live)
        om_decref(&live->ob);
    CHECK_EQ((size_t)om_gc_collect(-1), live_n);
    CHECK_EQ(callbacks, watched + (weak_live != NULL));
    for (int r = 0; r < RINGS; r++)
        if (weak[r])
            om_decref(weak[r]);
    if (weak_live)
        om_decref(weak_live);
    CHECK_EQ(live_of(&node_type), live0);
    CHECK_EQ(live_of(&late_type), late0);
    CHECK_EQ(live_of(&om_weakref_type), weak0);
    om_freelists_clear();
    om_trim(1);
    int64_t leak = mapped_now() - base;
    CHECK_MSG(leak == 0, "gc %llu: %lld bytes mapped past the baseline", (unsigned long long)first,
              (long long)leak);
    return met;
}

typedef uint64_t point_fn(unsigned kinds, uint64_t first, uint64_t count, size_t n);

/* One point run by fn in a child: 0 passed, 2 failed; *met: the points it met. */
static int in_child(point_fn *fn, unsigned kinds, uint64_t first, uint64_t count, size_t n,
                    uint64_t *met) {
    int fds[2];
    if (pipe(fds) != 0)
        return 2;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        close(fds[0]);
        unsigned long before = check_failures();
        uint64_t m = fn(kinds, first, count, n);
        ssize_t w = write(fds[1], &m, sizeof m);
        (void)w;
        fflush(stdout);
        fflush(stderr);
        _exit(check_failures() != before ? 2 : 0);
    }
    close(fds[1]);
    uint64_t m = 0;
    if (read(fds[0], &m, sizeof m) != (ssize_t)sizeof m)
        m = 0;
    close(fds[0]);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "gc point %llu of kinds %#x: status %d",
              (unsigned long long)first, kinds, st);
    *met = m;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}

/* Each point in a child forked from this process, which has not run the
 * workload: what the workload keeps for good is made under the failures. */
static uint64_t sweep_forked(point_fn *fn, unsigned kinds, const char *what, size_t n,
                             uint64_t max_points) {
    uint64_t total = 0, m;
    in_child(fn, kinds, 0, 0, n, &total);
    uint64_t stride = total > max_points ? (total + max_points - 1) / max_points : 1, swept = 0;
    for (uint64_t k = 1; k <= total; k += stride, swept++) {
        if (in_child(fn, kinds, k, 1, n, &m) != 0)
            break;
        if (in_child(fn, kinds, k, UINT64_MAX / 2, n, &m) != 0)
            break;
    }
    printf("   %s: %llu points, %llu swept (alone and to the end)\n", what, (unsigned long long)total,
           (unsigned long long)swept);
    return total;
}

static uint64_t alloc_point(unsigned kinds, uint64_t first, uint64_t count, size_t n) {
    (void)n;
    return run_alloc(kinds, first, count, "first run");
}

/* Descriptors are recycled: only a process's first run of the workload
 * carves them. */
static void test_first_run_sweep(void) {
    uint64_t max = OM_TEST_SANITIZED ? 3 : 30;
    uint64_t n = sweep_forked(alloc_point, 1u << OMI_FAIL_META, "first run, meta", 0, max);
    CHECK_GT(n, 0);
    sweep_forked(alloc_point, 1u << OMI_FAIL_RESERVE, "first run, reserve", 0, max);
    sweep_forked(alloc_point, ALL_KINDS, "first run, all kinds", 0, max);
}

/* With allocation tracing on: its tables and records come from the OS
 * layer too (a failure there drops a record, never an allocation). */
static void test_traced_sweep(void) {
    if (om_trace_start(8) == ENOSYS)
        return; /* built without libunwind */
    om_trace_stop();
    traced = 1;
    uint64_t max = OM_TEST_SANITIZED ? 3 : 30;
    sweep_forked(alloc_point, 1u << OMI_FAIL_RESERVE, "traced, reserve", 0, max);
    sweep_forked(alloc_point, ALL_KINDS, "traced, all kinds", 0, max);
    traced = 0;
}

static void test_gc_sweep(void) {
    size_t n = (size_t)OM_TEST_SCALE(30000);
    uint64_t max = OM_TEST_SANITIZED ? 4 : 20;
    CHECK_GT(sweep_forked(gc_point, 1u << OMI_FAIL_SIDE, "gc, side", n, max), 0);
    sweep_forked(gc_point, 1u << OMI_FAIL_RESERVE, "gc, reserve", n, max);
    sweep_forked(gc_point, 1u << OMI_FAIL_META, "gc, meta", n, max);
    sweep_forked(gc_point, ALL_KINDS, "gc, all kinds", n, max);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        CHECK_CASE(test_first_run_sweep), /* first: forks from a process that ran nothing */
        CHECK_CASE(test_gc_sweep),
        CHECK_CASE(test_traced_sweep),
        CHECK_CASE(test_release_retried),
        CHECK_CASE(test_check_without_heap),
        CHECK_CASE(test_remap_in_place_new_leaf),
        CHECK_CASE(test_alloc_sweep),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
