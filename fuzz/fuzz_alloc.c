/*
 * fuzz_alloc.c — the allocator (objmem.h section 2) under random sequences
 * of operations, from two threads, against a model.
 *
 * The input is a list of operations on 64 slots, each holding a block or
 * nothing: om_malloc, om_calloc, om_realloc, om_aligned_alloc,
 * om_posix_memalign, om_free, om_usable_size, om_trim, om_heap_check.
 * Sizes are drawn from every size range: tiny (0..16), small (to 512 and
 * 1 KiB), medium (to 128 KiB), large (to 4 MiB), exact class boundaries,
 * and impossible ones (near SIZE_MAX, 2^62, overflowing calloc products),
 * which must fail with ENOMEM; alignments are powers of two up to 1 MiB,
 * or invalid ones, which must fail with EINVAL.
 *
 * Each operation is run by the main thread or by a second thread that
 * the input starts, one operation at a time, in turn (a mutex and a
 * condition variable hand the turn over): a run is deterministic, and
 * every block may be freed or reallocated by the thread that did not
 * allocate it (a free from another thread), also after that thread has
 * ended (its heap abandoned).  The second thread is joined at the end of
 * the input, after checking its own heap.
 *
 * The model: each block is filled with a pattern of its slot's seed, over
 * its whole usable size (sampled every 4 KiB beyond 256 KiB, with its
 * first and last 4 KiB whole), and checked before every free and
 * realloc and at every heap check: a block that overlaps another, a free
 * that did not keep its data, a realloc that lost its prefix, a calloc
 * that was not zero, a usable size that is not usable, all show there.
 * om_heap_check must find nothing; the pointer must be aligned as asked
 * (16 at least) and owned (om_owns).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "objmem.h"
#include "fuzz.h"

#define NSLOT 64
#define MAX_LIVE (96u << 20) /* bytes live at once: an allocation beyond is skipped */
#define WHOLE (256u << 10)   /* blocks up to this are filled whole */
#define EDGE 4096u

typedef struct slot {
    unsigned char *p;
    size_t size;   /* requested */
    size_t fill;   /* bytes filled (the usable size) */
    uint8_t seed;
} slot;

enum { K_MALLOC, K_CALLOC, K_REALLOC, K_ALIGNED, K_MEMALIGN, K_FREE, K_USABLE, K_CHECK, K_TRIM, K_COUNT };

typedef struct op {
    int kind, slot, force;
    size_t size, count, align;
    int impossible; /* the request must fail */
    uint8_t seed;
} op;

static struct {
    slot s[NSLOT];
    size_t live;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn; /* 0: main, 1: worker runs `next`, 2: worker ends */
    op next;
} st = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- the pattern -------------------------------------------------------- */
static uint8_t pat(uint8_t seed, size_t j) { return (uint8_t)(seed + j * 7 + (j >> 8) + 1); }

/* The next position filled at or after j below fill (fill when none). */
static size_t next_pos(size_t j, size_t fill) {
    if (fill <= WHOLE || j < EDGE || j + EDGE >= fill)
        return j;
    size_t k = (j + 4095) / 4096 * 4096;
    return k + EDGE < fill ? k : fill - EDGE;
}

static void fill(slot *s) {
    for (size_t j = next_pos(0, s->fill); j < s->fill; j = next_pos(j + 1, s->fill))
        s->p[j] = pat(s->seed, j);
}

/* The pattern holds below `upto`. */
static void verify(const slot *s, size_t upto, const char *when) {
    if (upto > s->fill)
        upto = s->fill;
    for (size_t j = next_pos(0, s->fill); j < upto; j = next_pos(j + 1, s->fill))
        FZ_CHECK(s->p[j] == pat(s->seed, j), "%s: block %p (%zu bytes, usable %zu) byte %zu is %#x, not %#x", when,
                 (void *)s->p, s->size, s->fill, j, s->p[j], pat(s->seed, j));
}

/* ---- one operation ---------------------------------------------------------- */
static void take(slot *s, void *p, size_t size, size_t align, uint8_t seed) {
    FZ_CHECK(((uintptr_t)p & 15) == 0, "%p not 16-byte aligned", p);
    FZ_CHECK(align == 0 || ((uintptr_t)p & (align - 1)) == 0, "%p not aligned to %zu", p, align);
    FZ_CHECK(om_owns(p), "om_owns(%p) is 0 for a block just allocated", p);
    size_t usable = om_usable_size(p);
    FZ_CHECK(usable >= size, "om_usable_size %zu < %zu asked", usable, size);
    s->p = p, s->size = size, s->fill = usable, s->seed = seed;
    st.live += usable;
    fill(s);
}

static void drop(slot *s) {
    if (!s->p)
        return;
    verify(s, s->fill, "before om_free");
    om_free(s->p);
    st.live -= s->fill;
    s->p = NULL;
}

static void expect_fail(void *p, int err, const op *o, const char *what) {
    FZ_CHECK(p == NULL, "%s(%zu x %zu, align %zu) succeeded", what, o->count, o->size, o->align);
    FZ_CHECK(errno == err, "%s failed with errno %d, not %d", what, errno, err);
}

static int too_much(size_t size) { return size > MAX_LIVE || st.live + size > MAX_LIVE; }

static void do_realloc(slot *s, const op *o) {
    if (!o->impossible && s->p && too_much(o->size))
        return;
    errno = 0;
    void *p = om_realloc(s->p, o->size);
    if (o->impossible) {
        expect_fail(p, ENOMEM, o, "om_realloc");
        if (s->p)
            verify(s, s->fill, "after a failed om_realloc");
        return;
    }
    FZ_CHECK(p != NULL, "om_realloc(%zu) failed: errno %d", o->size, errno);
    if (s->p) {
        slot old = *s;
        old.p = p; /* the kept prefix, read at its new place */
        verify(&old, old.size < o->size ? old.size : o->size, "after om_realloc");
        st.live -= s->fill;
    }
    take(s, p, o->size, 0, o->seed);
}

static void do_alloc(slot *s, const op *o) {
    size_t need = o->kind == K_CALLOC ? o->count * o->size : o->size;
    int aligned = o->kind == K_ALIGNED || o->kind == K_MEMALIGN;
    int bad_align = aligned && (o->align == 0 || (o->align & (o->align - 1)) ||
                                (o->kind == K_MEMALIGN && o->align < sizeof(void *)));
    if (!o->impossible && !bad_align && too_much(need + o->align))
        return;
    drop(s);
    void *p = NULL;
    errno = 0;
    switch (o->kind) {
    case K_MALLOC: p = om_malloc(o->size); break;
    case K_CALLOC: p = om_calloc(o->count, o->size); break;
    case K_ALIGNED: p = om_aligned_alloc(o->align, o->size); break;
    case K_MEMALIGN: {
        int rc = om_posix_memalign(&p, o->align, o->size);
        FZ_CHECK((rc == 0) == (p != NULL), "om_posix_memalign returned %d and %p", rc, p);
        errno = rc;
        break;
    }
    }
    if (bad_align)
        return expect_fail(p, EINVAL, o, "aligned allocation");
    if (o->impossible)
        return expect_fail(p, ENOMEM, o, "allocation");
    FZ_CHECK(p != NULL, "allocation of %zu x %zu (align %zu) failed: errno %d", o->count, o->size, o->align, errno);
    if (o->kind == K_CALLOC)
        for (size_t j = next_pos(0, need); j < need; j = next_pos(j + 1, need))
            FZ_CHECK(((unsigned char *)p)[j] == 0, "om_calloc: byte %zu of %zu is %#x", j, need,
                     ((unsigned char *)p)[j]);
    take(s, p, need, aligned ? o->align : 0, o->seed);
}

static void exec(const op *o) {
    slot *s = &st.s[o->slot];
    switch (o->kind) {
    case K_MALLOC:
    case K_CALLOC:
    case K_ALIGNED:
    case K_MEMALIGN: do_alloc(s, o); break;
    case K_REALLOC: do_realloc(s, o); break;
    case K_FREE: drop(s); break;
    case K_USABLE:
        if (s->p)
            FZ_CHECK(om_usable_size(s->p) == s->fill, "om_usable_size changed: %zu, was %zu", om_usable_size(s->p),
                     s->fill);
        break;
    case K_TRIM: om_trim(o->force); break;
    case K_CHECK:
        for (int i = 0; i < NSLOT; i++)
            if (st.s[i].p)
                verify(&st.s[i], st.s[i].fill, "at a heap check");
        FZ_CHECK(om_heap_check(1) == 0, "om_heap_check found problems (above)");
        break;
    }
}

/* ---- decoding --------------------------------------------------------------- */
static const size_t edges[] = {1, 15, 16, 17, 511, 512, 513, 1023, 1024, 1025, 4096, 16384, 65536,
                               131071, 131072, 131073, 262144, 1048576, 1048577, 4194304};

static size_t size_of(fz_input *in, int *impossible) {
    unsigned k = fz_byte(in) % 8;
    uint64_t v = fz_u64(in, k >= 3 ? 3 : 2);
    *impossible = 0;
    switch (k) {
    case 0: return v % 17;
    case 1: return v % 512 + 1;
    case 2: return v % 512 + 513;
    case 3: return v % (131072 - 1024) + 1025;
    case 4: return v % (1048576 - 131072) + 131073;
    case 5: return v % (4194304 - 1048576) + 1048577;
    case 6: {
        static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, (size_t)1 << 62,
                                      (size_t)PTRDIFF_MAX + 1, (size_t)1 << 48};
        *impossible = 1;
        return huge[v % (sizeof huge / sizeof huge[0])] - (v >> 8) % 64;
    }
    default: return edges[v % (sizeof edges / sizeof edges[0])];
    }
}

static op decode(fz_input *in, int kind) {
    op o = {.kind = kind, .slot = (int)fz_below(in, NSLOT), .seed = (uint8_t)fz_byte(in)};
    switch (kind) {
    case K_CALLOC:
        o.size = size_of(in, &o.impossible);
        o.count = fz_below(in, 8) + 1;
        if (fz_byte(in) % 8 == 0) { /* count * size overflows */
            o.count = SIZE_MAX / 4 + fz_byte(in);
            o.size = o.size < 8 ? 8 : o.size;
            o.impossible = 1;
        }
        break;
    case K_ALIGNED:
    case K_MEMALIGN: {
        unsigned a = fz_byte(in);
        static const size_t bad[] = {0, 3, 12, 24, 48, 100, 4097};
        o.align = a < 16 ? bad[a % (sizeof bad / sizeof bad[0])] : (size_t)1 << (a % 21);
        o.size = size_of(in, &o.impossible);
        break;
    }
    case K_MALLOC:
    case K_REALLOC: o.size = size_of(in, &o.impossible); break;
    case K_TRIM: o.force = fz_byte(in) & 1; break;
    }
    o.count = o.count ? o.count : 1;
    return o;
}

/* ---- the second thread ------------------------------------------------------ */
static void hand_over(int turn) {
    pthread_mutex_lock(&st.mu);
    st.turn = turn;
    pthread_cond_broadcast(&st.cv);
    while (st.turn != 0)
        pthread_cond_wait(&st.cv, &st.mu);
    pthread_mutex_unlock(&st.mu);
}

static void *worker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&st.mu);
    for (;;) {
        while (st.turn == 0)
            pthread_cond_wait(&st.cv, &st.mu);
        int t = st.turn;
        pthread_mutex_unlock(&st.mu);
        if (t == 1)
            exec(&st.next);
        else
            FZ_CHECK(om_heap_check(1) == 0, "the second thread's heap at its end (above)");
        pthread_mutex_lock(&st.mu);
        st.turn = 0;
        pthread_cond_broadcast(&st.cv);
        if (t == 2)
            break;
    }
    pthread_mutex_unlock(&st.mu);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in = {data, size};
    pthread_t t;
    int started = 0, ops = 0;
    while (fz_more(&in) && ops++ < 4000) {
        unsigned b = fz_byte(&in);
        op o = decode(&in, (int)(b & 15) % K_COUNT);
        if (b & 0x80) {
            if (!started)
                started = pthread_create(&t, NULL, worker, NULL) == 0;
            FZ_CHECK(started, "pthread_create failed");
            st.next = o;
            hand_over(1);
        } else {
            exec(&o);
        }
    }
    if (started) {
        hand_over(2);
        pthread_join(t, NULL);
    }
    for (int i = 0; i < NSLOT; i++)
        drop(&st.s[i]);
    FZ_CHECK(st.live == 0, "%zu bytes still counted live", st.live);
    FZ_CHECK(om_heap_check(1) == 0, "om_heap_check at the end (above)");
    return 0;
}
