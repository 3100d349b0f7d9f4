/*
 * os.c — kernel memory, behind replaceable hooks.
 *
 * Contract (what the rest of objmem may assume):
 *   omi_os_reserve(size, align)  size, align: multiples of the page size,
 *       align a power of two.  Returns a zero-filled read/write region
 *       aligned to align, or NULL (errno = ENOMEM).  Default: mmap of
 *       size + align, then the unaligned head and tail are unmapped.
 *   omi_os_release(p, size)      returns a reserved region (or a page-aligned
 *       part of one) to the kernel.  0 or an errno value.
 *   omi_os_purge(p, size)        the pages' contents may go; they read back as
 *       zeros and stop counting in RSS.  Default MADV_DONTNEED (or MADV_FREE
 *       when OBJMEM_PURGE_DECOMMIT=0: cheaper, but RSS drops only under
 *       memory pressure).
 *   omi_os_remap(old, old_size, new_size, align)  large blocks only: the
 *       region grown to new_size, in place or moved (pages, not bytes) to a
 *       new region aligned to align; NULL if that is not possible, leaving
 *       old untouched.  Only with the default hooks (mremap has no hook:
 *       replaced hooks make objmem copy instead); omi_os_can_remap() says
 *       whether it may succeed.
 *   omi_os_move(from, to, size, moved)  large blocks only, default hooks only:
 *       the pages of [from, from + size) moved (not copied, residency kept)
 *       onto [to, to + size), a page-aligned part of a reserved region;
 *       from is unmapped.  0, or an errno value with nothing moved.  For
 *       their residency, not their bytes (large.c moves cached pages): a
 *       move the kernel refuses half way leaves fresh pages under the rest
 *       of to; EFAULT when not even those can be mapped: [to + *moved,
 *       to + size) is not mapped (objmem's no more) and [from + *moved,
 *       from + size) still is: the caller releases the latter.
 *   omi_os_put_back(from, to, size)  a live large block's pages, just
 *       moved to from by omi_os_remap, moved back to to (the range they
 *       left, unmapped since): in pieces or by copy as a move refused half
 *       way is finished, never injected with failures, counts unchanged.
 *   omi_os_protect(p, size, access)  default hooks only: the pages of
 *       [p, p + size) (page-aligned, inside a reserved region) made
 *       inaccessible (access 0: hardened mode's guard pages) or read/write
 *       again (1).  0, or an errno value (ENOTSUP with replaced hooks: no
 *       guard pages then; ENOMEM when the kernel cannot split a mapping
 *       further, vm.max_map_count), after which the pages may have their
 *       old access or, for part of them, the new one.
 * A release that fails leaves the range mapped and counted: it is kept
 * (up to OM_OS_PENDING ranges) and tried again at the next reserve or
 * release, and by omi_os_retry_releases (om_trim), so that a munmap that
 * failed once (the kernel out of mappings) does not leak for good.
 * Each call asks omi_fail_point first (fail.c: the sweeps' injected
 * failures), and fails as the system would.
 * Every call through the hooks is counted, with the bytes currently and at
 * most mapped.  The counters are atomics: any thread may call these.
 * The hooks are read without a lock: set them before other threads
 * allocate, or accept that a racing call uses the old ones.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

#define OM_OS_PENDING 64

typedef struct om_os_state {
    om_os_hooks hooks;
    /* releases that failed, to try again; under pending_lock */
    atomic_flag pending_lock;
    _Atomic unsigned npending;
    struct {
        void *p;
        size_t size;
    } pending[OM_OS_PENDING];
    _Atomic uint64_t reserve_calls, release_calls, purge_calls, remap_calls, failures;
    _Atomic uint64_t bytes_mapped, bytes_peak;
    _Atomic size_t page_size; /* 0 until first asked: any thread may be first */
} om_os_state;

static om_os_state os = {
    .hooks = {om_os_default_reserve, om_os_default_release, om_os_default_purge, NULL},
    .pending_lock = ATOMIC_FLAG_INIT,
};

size_t omi_os_page_size(void) {
    size_t ps = atomic_load_explicit(&os.page_size, memory_order_relaxed);
    if (om_unlikely(ps == 0)) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096; /* every thread finds the same value */
        atomic_store_explicit(&os.page_size, ps, memory_order_relaxed);
    }
    return ps;
}

uint64_t omi_os_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- defaults ---------------------------------------------------------- */
void *om_os_default_reserve(size_t size, size_t align, void *ctx) {
    (void)ctx;
    size_t page = omi_os_page_size();
    if (align < page)
        align = page;
    size_t span = size + align - page;
    if (span < size) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    char *aligned = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
    size_t head = (size_t)(aligned - p), tail = span - head - size;
    if (head)
        munmap(p, head);
    if (tail)
        munmap(aligned + size, tail);
    return aligned;
}

int om_os_default_release(void *p, size_t size, void *ctx) {
    (void)ctx;
    return munmap(p, size) == 0 ? 0 : errno;
}

int om_os_default_purge(void *p, size_t size, void *ctx) {
    (void)ctx;
    int advice = MADV_DONTNEED;
#ifdef MADV_FREE
    if (omi_option_value(OM_OPTION_PURGE_DECOMMIT) == 0)
        advice = MADV_FREE;
#endif
    return madvise(p, size, advice) == 0 ? 0 : errno;
}

/* ---- hooks ---------------------------------------------------------------- */
void (om_set_os_hooks)(const om_os_hooks *hooks, size_t size) {
    om_os_hooks h = {om_os_default_reserve, om_os_default_release, om_os_default_purge, NULL};
    if (hooks) {
        omi_struct_in(&h, sizeof h, hooks, size);
        if (!h.reserve)
            h.reserve = om_os_default_reserve;
        if (!h.release)
            h.release = om_os_default_release;
        if (!h.purge)
            h.purge = om_os_default_purge;
    }
    os.hooks = h;
}

void (om_get_os_hooks)(om_os_hooks *out, size_t size) {
    if (out)
        omi_struct_out(out, size, &os.hooks, sizeof os.hooks);
}

/* ---- counted calls ------------------------------------------------------ */
static void note_mapped(int64_t delta) {
    uint64_t now = atomic_fetch_add(&os.bytes_mapped, (uint64_t)delta) + (uint64_t)delta;
    uint64_t peak = atomic_load_explicit(&os.bytes_peak, memory_order_relaxed);
    while (delta > 0 && now > peak &&
           !atomic_compare_exchange_weak(&os.bytes_peak, &peak, now)) {
    }
}

/* One release through the hooks (or an injected failure), counted. */
static int release_once(void *p, size_t size) {
    atomic_fetch_add_explicit(&os.release_calls, 1, memory_order_relaxed);
    int err = omi_fail_point(OMI_FAIL_RELEASE) ? ENOMEM : os.hooks.release(p, size, os.hooks.ctx);
    if (err)
        atomic_fetch_add_explicit(&os.failures, 1, memory_order_relaxed);
    else
        note_mapped(-(int64_t)size);
    return err;
}

static void pending_lock(void) {
    while (atomic_flag_test_and_set_explicit(&os.pending_lock, memory_order_acquire)) {
    }
}

static void pending_unlock(void) { atomic_flag_clear_explicit(&os.pending_lock, memory_order_release); }

/* Keep a range whose release failed; 0, or -1 when the table is full (the
 * range stays mapped for good: counted, never reused). */
static int pending_add(void *p, size_t size) {
    int kept = -1;
    pending_lock();
    unsigned n = atomic_load_explicit(&os.npending, memory_order_relaxed);
    if (n < OM_OS_PENDING) {
        os.pending[n].p = p;
        os.pending[n].size = size;
        atomic_store_explicit(&os.npending, n + 1, memory_order_relaxed);
        kept = 0;
    }
    pending_unlock();
    return kept;
}

void omi_os_retry_releases(void) {
    if (om_likely(atomic_load_explicit(&os.npending, memory_order_relaxed) == 0))
        return;
    if (atomic_flag_test_and_set_explicit(&os.pending_lock, memory_order_acquire))
        return; /* another thread is at it */
    unsigned n = atomic_load_explicit(&os.npending, memory_order_relaxed), kept = 0;
    for (unsigned i = 0; i < n; i++)
        if (release_once(os.pending[i].p, os.pending[i].size) != 0)
            os.pending[kept++] = os.pending[i];
    atomic_store_explicit(&os.npending, kept, memory_order_relaxed);
    pending_unlock();
}

/* fork: the table is whole in the child (runtime.c's handlers). */
void omi_os_fork_lock(void) { pending_lock(); }
void omi_os_fork_unlock(void) { pending_unlock(); }

void *omi_os_reserve(size_t size, size_t align) {
    omi_os_retry_releases();
    atomic_fetch_add_explicit(&os.reserve_calls, 1, memory_order_relaxed);
    void *p = omi_fail_point(OMI_FAIL_RESERVE) ? NULL : os.hooks.reserve(size, align, os.hooks.ctx);
    if (!p) {
        atomic_fetch_add_explicit(&os.failures, 1, memory_order_relaxed);
        errno = ENOMEM;
        return NULL;
    }
    note_mapped((int64_t)size);
    return p;
}

int omi_os_release(void *p, size_t size) {
    omi_os_retry_releases();
    int err = release_once(p, size);
    if (err)
        pending_add(p, size);
    return err;
}

int omi_os_purge(void *p, size_t size) {
    atomic_fetch_add_explicit(&os.purge_calls, 1, memory_order_relaxed);
    int err = omi_fail_point(OMI_FAIL_PURGE) ? ENOMEM : os.hooks.purge(p, size, os.hooks.ctx);
    if (err)
        atomic_fetch_add_explicit(&os.failures, 1, memory_order_relaxed);
    return err;
}

int omi_os_can_remap(void) {
    return os.hooks.reserve == om_os_default_reserve && os.hooks.release == om_os_default_release;
}

int omi_os_protect(void *p, size_t size, int access) {
    if (!omi_os_can_remap())
        return ENOTSUP;
    int err = ENOMEM;
    if (!omi_fail_point(OMI_FAIL_PROTECT))
        err = mprotect(p, size, access ? PROT_READ | PROT_WRITE : PROT_NONE) == 0 ? 0 : errno;
    if (err)
        atomic_fetch_add_explicit(&os.failures, 1, memory_order_relaxed);
    return err;
}

/* The pages at the start of [p, p + size) that are not mapped: what a
 * move the kernel stopped half way took from there (it moves in address
 * order), found by halving with mincore. */
static size_t unmapped_prefix(const char *p, size_t size) {
    size_t page = omi_os_page_size(), lo = 0, hi = size / page; /* pages: [0, lo) unmapped, [hi, ..) unknown */
    unsigned char v;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mincore((void *)(p + mid * page), page, &v) != 0 && errno == ENOMEM)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo * page;
}

/* Whether every page of [p, p + size) is mapped. */
static int range_mapped(const char *p, size_t size) {
    unsigned char v[1024];
    size_t page = omi_os_page_size(), step = sizeof v * page;
    for (size_t off = 0; off < size; off += step)
        if (mincore((void *)(p + off), size - off < step ? size - off : step, v) != 0)
            return 0;
    return 1;
}

/* Move [from, from + size) onto [to, to + size) as far as the kernel
 * goes; the bytes moved, a prefix of the range.  One mremap, which before
 * Linux 6.17 refuses a range of several mappings (VMAs: a large block
 * that took over the cached mapping after it) with EFAULT: then in halves,
 * down to pages; since 6.17 it moves several, and may stop after some.
 * *hole: a refused mremap moved part of the range, or unmapped part of
 * its target (mremap_to does that first, before it looks at the source,
 * up to 6.15), so what to holds past the prefix is not what it was.
 * inject: an injected failure (fail.c) may stop it. */
static size_t move_prefix(char *from, char *to, size_t size, int *hole, int inject) {
    if (inject && omi_fail_point(OMI_FAIL_REMAP)) {
        errno = ENOMEM;
        return 0;
    }
    if (mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to) != MAP_FAILED)
        return size;
    int err = errno;
    size_t page = omi_os_page_size(), gone = unmapped_prefix(from, size);
    if (gone || !range_mapped(to, size))
        *hole = 1;
    if (gone || err != EFAULT || size <= page) {
        errno = err;
        return gone;
    }
    size_t half = (size / 2 + page - 1) & ~(page - 1);
    size_t moved = move_prefix(from, to, half, hole, inject);
    return moved < half ? moved : half + move_prefix(from + half, to + half, size - half, hole, inject);
}

/* Move [from, from + size) onto [to, to + size) (to: writable pages of a
 * reservation): 0 with from unmapped, or -1 with nothing moved and to as
 * it was.  A move the kernel refused half way, or after unmapping part of
 * the target, is finished without it: what to has past the prefix made
 * fresh pages, the rest of from's bytes copied there (copy; else a
 * cache's pages, whose bytes do not matter), the rest of from unmapped.
 * -2 if even that fails: to's range has unmapped pages past the prefix
 * *moved, from's are mapped past it.  (Between a refusal that unmapped
 * part of to and the fresh pages, another thread's mmap could take that
 * hole, and MAP_FIXED would replace its mapping, which nothing here can
 * tell from objmem's own pages; the window is a few system calls long.) */
static int move_range(char *from, char *to, size_t size, int copy, size_t *moved, int inject) {
    int hole = 0;
    size_t done = move_prefix(from, to, size, &hole, inject);
    *moved = done;
    if (done == size)
        return 0;
    if (done == 0 && !hole)
        return -1;
    atomic_fetch_add_explicit(&os.failures, 1, memory_order_relaxed);
    size_t rest = size - done;
    if (mmap(to + done, rest, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
             0) == MAP_FAILED)
        return -2;
    if (copy)
        memcpy(to + done, from + done, rest);
    /* The callers count the whole range gone: a munmap that fails keeps
     * its part counted, and tried again as a release is. */
    if (munmap(from + done, rest) != 0) {
        note_mapped((int64_t)rest);
        (void)pending_add(from + done, rest);
    }
    return 0;
}

/* dst (size bytes, reserved) mapped whole and fresh again: 1, or 0. */
static int dst_remapped(char *dst, size_t size) {
    return mmap(dst, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) !=
           MAP_FAILED;
}

/* A live block's move that stopped with its first moved bytes at dst and
 * the rest at old (move_range's -2): those bytes go back, or, when the
 * kernel cannot even do that, the block is in two places that no address
 * joins, and the process stops with the reason. */
static void move_back(char *dst, char *old, size_t moved) {
    int hole = 0;
    if (move_prefix(dst, old, moved, &hole, 0) != moved)
        omi_os_fatal("the kernel ran out of memory mappings (vm.max_map_count) half way through moving a "
                     "large block; it cannot be put back together");
}

void omi_os_put_back(void *from, void *to, size_t size) {
    size_t moved;
    if (move_range(from, to, size, 1, &moved, 0) != 0)
        omi_os_fatal("the kernel ran out of memory mappings (vm.max_map_count) while putting a large block back "
                     "where it was");
}

void omi_os_fatal(const char *why) {
    static const char head[] = "objmem: ";
    ssize_t w = write(2, head, sizeof head - 1);
    w = write(2, why, strlen(why));
    w = write(2, "\n", 1);
    (void)w;
    abort();
}

void *omi_os_remap(void *old, size_t old_size, size_t new_size, size_t align) {
    if (!omi_os_can_remap())
        return NULL;
    atomic_fetch_add_explicit(&os.remap_calls, 1, memory_order_relaxed);
    if (omi_fail_point(OMI_FAIL_REMAP))
        return NULL; /* as a real mremap that cannot: not a failure */
    void *p = mremap(old, old_size, new_size, 0); /* grow in place */
    if (p == MAP_FAILED) {
        /* Move: reserve an aligned range, then let the kernel move the
         * pages there (MREMAP_FIXED replaces that part of the reservation;
         * the rest stays, fresh). */
        char *dst = om_os_default_reserve(new_size, align, NULL);
        if (!dst)
            return NULL;
        p = mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
        if (p == MAP_FAILED && (errno == EFAULT || unmapped_prefix(old, old_size))) {
            /* Several mappings: moved by the same size, in pieces if need
             * be (a kernel from 6.17 may have moved some already, and the
             * refusal may have unmapped dst: mapped whole again past them,
             * where old is still mapped). */
            size_t gone = unmapped_prefix(old, old_size), moved;
            int r = -1;
            if (dst_remapped(dst + gone, new_size - gone))
                r = move_range(old + gone, dst + gone, old_size - gone, 1, &moved, 1);
            else if (gone)
                r = -2, moved = 0;
            if (r == -2)
                move_back(dst, old, gone + moved);
            if (r == 0)
                p = dst;
            else if (gone && r == -1)
                move_back(dst, old, gone);
        }
        if (p == MAP_FAILED) {
            munmap(dst, new_size);
            return NULL;
        }
    }
    note_mapped((int64_t)new_size - (int64_t)old_size);
    return p;
}

int omi_os_move(void *from, void *to, size_t size, size_t *moved) {
    *moved = 0;
    if (!omi_os_can_remap())
        return ENOTSUP;
    atomic_fetch_add_explicit(&os.remap_calls, 1, memory_order_relaxed);
    int r = move_range(from, to, size, 0, moved, 1);
    if (r == -2) {
        /* to's pages leave the count, replaced or unmapped (what the
         * kernel left of them past the prefix: unmapped now, or kept to
         * be tried again); from's rest stays counted, the caller's to
         * release */
        note_mapped(-(int64_t)size);
        if (munmap((char *)to + *moved, size - *moved) != 0) {
            note_mapped((int64_t)(size - *moved));
            (void)pending_add((char *)to + *moved, size - *moved);
        }
        return EFAULT;
    }
    if (r != 0) {
        atomic_fetch_add_explicit(&os.failures, 1, memory_order_relaxed);
        return errno ? errno : ENOMEM;
    }
    note_mapped(-(int64_t)size); /* to was counted when it was reserved */
    return 0;
}

void omi_os_stats(om_stats *out) {
    out->os_remap_calls = atomic_load(&os.remap_calls);
    out->os_reserve_calls = atomic_load(&os.reserve_calls);
    out->os_release_calls = atomic_load(&os.release_calls);
    out->os_purge_calls = atomic_load(&os.purge_calls);
    out->os_failures = atomic_load(&os.failures);
    out->os_bytes_reserved = atomic_load(&os.bytes_mapped);
    out->os_bytes_peak = atomic_load(&os.bytes_peak);
}
