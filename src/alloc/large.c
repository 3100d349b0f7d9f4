/*
 * large.c — requests above the medium classes (> 128 KiB) and large
 * alignments: a mapping each, kept after its free in a cache that decays,
 * so that a program that keeps allocating big buffers reuses resident
 * pages instead of mapping and faulting new ones (what glibc's dynamic
 * mmap threshold, tcmalloc's page heap and jemalloc's extents do), while
 * the memory still goes back once the program stops using it.
 *
 * A mapping, and what its descriptor (om_large, in metadata) knows of it:
 *
 *   base          usable      resident      dirty                    map_size
 *   |== handed out ==|...........|.............|.......................|
 *   |<-- may be resident ------->|<- may hold ->|<- never written since
 *                                    data           mapped or purged: zero,
 *                                                   costs nothing -------->
 *
 * base is 1 MiB aligned (2 MiB from 2 MiB on, so that mremap can move whole
 * page tables) and map_size a multiple of 1 MiB: a mapping owns its
 * ownership-map slots alone, and no foreign pointer falls in one of them.
 * The user writes only below usable, so handing a block out raises dirty
 * and resident to usable; a purge lowers them.  These two marks answer
 * what the cache asks: what an entry weighs (resident), what calloc must
 * clear (the requested bytes below dirty: nothing on a fresh or purged
 * mapping), what a purge must cover.
 *
 * States (every transition under omi_rt.lock):
 *
 *            free              decay (madvise)         decay (munmap)
 *   LIVE ──────────▶ CACHED ──────────────▶ PURGED ──────────────▶ unmapped
 *    ▲ ◀──────────────┴── reuse: best fit, split, grow ──┘
 *    └─ realloc: grows into its headroom, into the cached mapping just after
 *       it, or by mremap; shrinks in place, its tail going to the cache
 *
 *   LIVE    on omi_rt.large_live.  Growing never copies and never faults a
 *           page it had: headroom (usable < map_size) costs nothing; a
 *           cached neighbour is taken without a system call, its pages
 *           still resident; else mremap moves the pages to a region with
 *           50% headroom, so a buffer grown in small steps pays an mremap
 *           every few steps, not at each.
 *   CACHED  freed, its pages resident, on omi_rt.large_cache newest first.
 *           An allocation takes the entry that saves the most page faults
 *           (the most resident bytes it can use, min(resident, need)), then
 *           one that fits without growing, then the smallest.  A bigger
 *           one is split at the first 1 MiB boundary above the request, the
 *           tail staying cached with its age; a smaller one is grown as a
 *           live block is, and if it still has fresh pages below the
 *           request, the resident pages of other entries are moved in by
 *           mremap (gather): the cache empties into the allocations that
 *           follow instead of filling up with leftovers to its bound.
 *   PURGED  decay gave its pages back (MADV_DONTNEED reads back zero, so
 *           dirty drops too; MADV_FREE may not, so with PURGE_DECOMMIT=0 it
 *           stays); the mapping stays as long again: reusing it saves the
 *           mmap and the memset, not the faults.
 *
 * Bounds.  Time: an entry not reused for OBJMEM_LARGE_DECAY_MS is purged,
 * and a purged one unmapped after as long again.  The list is sorted by
 * the time an entry entered its state, so the next deadline is the tail's.
 * Space: the cache's resident bytes stay under max(OBJMEM_LARGE_CACHE_MB,
 * min(peak - live, live)), live being the large bytes in use and peak their
 * most over the last one or two decay times: the cache never takes the
 * large blocks' memory above the program's own recent peak (beyond the
 * floor), never holds more than is live (after a mass free, all but the
 * floor goes back at once), and a program that frees and reallocates big
 * buffers at random keeps nearly all it needs at nearly the peak RSS it
 * would have without the cache (bench/large/bigbuf: 384 against 374 MiB).  Over the bound, the oldest entries give back
 * their top pages first (a partial purge: the low pages, which the next
 * user fills first, stay).  At most OM_LARGE_CACHE_MAX entries;
 * om_trim() unmaps them all.  Decay runs at large allocations and frees,
 * and at the purge ticks of the freeing thread's heap (a large free arms
 * them; heap.c calls omi_large_purge_old, which returns the next deadline
 * for whoever wants to wake up for it, a background thread too); the
 * purge thread also gives back every entry's pages once no block has
 * joined the cache for the purge delay (omi_large_purge_idle).  Medium
 * blocks need no cache of their own: their empty pools stay resident for
 * the purge delay and their arenas keep a spare (arena.c), and a medium
 * block realloc'd past 128 KiB becomes a large one that grows by mremap.
 *
 * Why 1 s and 64 MiB by default.  A fresh page costs a fault,
 * ~1.6 us here (a VM: 15.5 M faults took 25 s of bench/large/bigbuf), so
 * ~0.4 ms per MiB, and twice that when the program reads the zeros before
 * writing; clearing a reused MiB for calloc costs ~0.1 ms.  A buffer
 * reused within the decay time pays neither; one reused once a second,
 * just after its purge, loses < 0.05% of its time per MiB to faults.
 * jemalloc keeps dirty pages 10 s (dirty_decay_ms); objmem, which leads
 * on memory returned, gives them back within 1 s, unmaps within 2 s, and
 * never holds more than the space bound: 64 MiB covers the usual working
 * set of big buffers when few are live (the example dict's tables at 100 K
 * keys: 12 MiB).  A fixed fraction of the live bytes instead (a quarter)
 * made bigbuf purge and fault 2.6 times as many pages for the same peak.
 *
 * Locking: omi_rt.lock around lists, counters and the ownership map; the
 * system calls (mmap, munmap, madvise, mremap) and calloc's memset run
 * outside it.  An entry with a system call in flight is off the list and
 * busy, so that no one takes it meanwhile.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc/alloc.h"

#define OM_LARGE_CACHE_MAX 64
#define OM_LARGE_SLOT OM_ARENA_SIZE    /* the ownership map's granule */
#define OM_LARGE_PMD ((size_t)2 << 20) /* a page table's reach */
#define OM_LARGE_JOBS (OM_LARGE_CACHE_MAX + 8)
#define OM_LARGE_LIMIT ((size_t)PTRDIFF_MAX / 2)

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Module state under omi_rt.lock (omi_rt holds the lists and the counters
 * om_stats reports). */
static struct {
    om_large *oldest;        /* tail of omi_rt.large_cache */
    size_t live_usable;      /* usable bytes of live blocks */
    size_t peak_cur, peak_prev; /* most live_usable in this decay window, the last */
    uint64_t window_ns;      /* when this window began */
    size_t cached_resident;  /* resident bytes of listed entries */
    uint64_t reused, mapped, decayed;
} lc;

/* System calls decided under the lock, made after it. */
typedef struct os_work {
    unsigned npurge, nrelease;
    struct {
        om_large *l;
        size_t from, to;
        int decay;
    } purge[OM_LARGE_JOBS];
    struct {
        char *base;
        size_t size;
    } release[OM_LARGE_JOBS];
} os_work;

static size_t round_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
static uintptr_t tag(const om_large *l) { return (uintptr_t)l | OM_MAP_LARGE; }

static uint64_t decay_ns(void) {
    long ms = omi_option_value(OM_OPTION_LARGE_DECAY_MS);
    return ms > 0 ? (uint64_t)ms * 1000000u : 0;
}

/* Time is up for l; a stamp taken by another thread after now is not. */
static int expired(const om_large *l, uint64_t now, uint64_t d) {
    return now >= l->cached_at_ns && now - l->cached_at_ns >= d;
}

static int cache_enabled(void) { return omi_option_value(OM_OPTION_LARGE_CACHE_MB) > 0 && decay_ns() > 0; }

/* The cache's resident bound: what brings the large blocks back to their
 * peak of the last one or two decay times, at most as much as is live, at
 * least the floor. */
static size_t resident_budget(void) {
    long mb = omi_option_value(OM_OPTION_LARGE_CACHE_MB);
    size_t floor = mb > 0 ? (size_t)mb << 20 : 0, live = lc.live_usable;
    size_t peak = lc.peak_cur > lc.peak_prev ? lc.peak_cur : lc.peak_prev;
    size_t room = peak > live ? min_size(peak - live, live) : 0;
    return room > floor ? room : floor;
}

static void note_peak(void) {
    if (lc.live_usable > lc.peak_cur)
        lc.peak_cur = lc.live_usable;
}

/* A new decay window every decay time: the peak forgets what is older. */
static void rotate_window(uint64_t now) {
    uint64_t d = decay_ns();
    if (now < lc.window_ns + d)
        return;
    lc.peak_prev = now < lc.window_ns + 2 * d ? lc.peak_cur : lc.live_usable;
    lc.peak_cur = lc.live_usable;
    lc.window_ns = now;
}

/* ---- descriptors and the ownership map -------------------------------- */
static om_large *desc_new(void) {
    om_large *l = omi_rt.free_large_descs;
    if (l)
        omi_rt.free_large_descs = l->next;
    else
        l = omi_meta_alloc(sizeof(om_large));
    if (l)
        memset(l, 0, sizeof *l);
    return l;
}

static void desc_free(om_large *l) {
    l->next = omi_rt.free_large_descs;
    omi_rt.free_large_descs = l;
}

/* Clear the slots of [start, start + size) that still name l: after an
 * mremap moved l, the old range may already be someone else's. */
static void map_clear_mine(const om_large *l, char *start, size_t size) {
    for (char *a = start; a < start + size; a += OM_LARGE_SLOT)
        if (omi_map_lookup((uintptr_t)a) == tag(l))
            omi_map_clear((uintptr_t)a, OM_LARGE_SLOT);
}

/* Forget an unlisted mapping; its munmap is queued on w. */
static void forget(om_large *l, os_work *w) {
    omi_map_clear((uintptr_t)l->base, l->map_size);
    w->release[w->nrelease].base = l->base;
    w->release[w->nrelease].size = l->map_size;
    w->nrelease++;
    desc_free(l);
}

/* ---- the lists ---------------------------------------------------------- */
static void live_link(om_large *l) {
    l->prev = NULL;
    l->next = omi_rt.large_live;
    if (l->next)
        l->next->prev = l;
    omi_rt.large_live = l;
    omi_rt.large_count++;
    omi_rt.large_bytes += l->map_size;
    lc.live_usable += l->usable;
    note_peak();
}

static void live_unlink(om_large *l) {
    if (l->prev)
        l->prev->next = l->next;
    else
        omi_rt.large_live = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->next = l->prev = NULL;
    omi_rt.large_count--;
    omi_rt.large_bytes -= l->map_size;
    lc.live_usable -= l->usable;
}

/* Insert by cached_at_ns, newest first (usually at the head). */
static void cache_link(om_large *l) {
    om_large *after = NULL, *n = omi_rt.large_cache;
    while (n && n->cached_at_ns > l->cached_at_ns) {
        after = n;
        n = n->next;
    }
    l->prev = after;
    l->next = n;
    if (after)
        after->next = l;
    else
        omi_rt.large_cache = l;
    if (n)
        n->prev = l;
    else
        lc.oldest = l;
    l->cached = 1;
    l->busy = 0;
    omi_rt.large_cached++;
    omi_rt.large_cached_bytes += l->map_size;
    lc.cached_resident += l->resident;
}

static void cache_unlink(om_large *l) {
    if (l->prev)
        l->prev->next = l->next;
    else
        omi_rt.large_cache = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        lc.oldest = l->prev;
    l->next = l->prev = NULL;
    omi_rt.large_cached--;
    omi_rt.large_cached_bytes -= l->map_size;
    lc.cached_resident -= l->resident;
}

/* Cut l (unlisted) at keep, a multiple of 1 MiB below its size: l keeps the
 * head, the new descriptor returned (cached, unlisted, l's age) the tail.
 * NULL (l unchanged) without metadata memory. */
static om_large *split(om_large *l, size_t keep) {
    om_large *t = desc_new();
    if (!t)
        return NULL;
    t->base = t->user = l->base + keep;
    t->map_size = l->map_size - keep;
    t->dirty = l->dirty > keep ? l->dirty - keep : 0;
    t->resident = l->resident > keep ? l->resident - keep : 0;
    t->cached_at_ns = l->cached_at_ns;
    t->purged = l->purged;
    t->cached = 1;
    omi_map_set((uintptr_t)t->base, t->map_size, tag(t)); /* the slots' leaves exist */
    l->map_size = keep;
    l->dirty = min_size(l->dirty, keep);
    l->resident = min_size(l->resident, keep);
    if (!l->cached)
        omi_rt.large_bytes -= t->map_size;
    return t;
}

/* ---- decay and bounds (lock held; system calls queued on w) ------------- */
static void queue_purge(os_work *w, om_large *l, size_t from, int decay) {
    l->busy = 1;
    w->purge[w->npurge].l = l;
    w->purge[w->npurge].from = from;
    w->purge[w->npurge].to = l->resident;
    w->purge[w->npurge].decay = decay;
    w->npurge++;
}

static int work_full(const os_work *w) { return w->npurge == OM_LARGE_JOBS || w->nrelease == OM_LARGE_JOBS; }

/* Entries whose time is up: purge the cached, unmap the purged.  With the
 * cache off (options changed at run time), unmap everything. */
static void decay(uint64_t now, os_work *w) {
    uint64_t d = decay_ns();
    int on = cache_enabled();
    for (om_large *l = lc.oldest, *prev; l && !work_full(w); l = prev) {
        prev = l->prev;
        if (on && !expired(l, now, d))
            break;
        cache_unlink(l);
        if (l->purged || !on) {
            forget(l, w);
        } else if (l->resident == 0) {
            l->purged = 1;
            l->cached_at_ns = now;
            lc.decayed++;
            cache_link(l);
        } else {
            queue_purge(w, l, 0, 1);
        }
    }
}

static void maybe_decay(uint64_t now, os_work *w) {
    rotate_window(now);
    if (lc.oldest && (expired(lc.oldest, now, decay_ns()) || !cache_enabled()))
        decay(now, w);
}

/* At most OM_LARGE_CACHE_MAX entries: the oldest beyond go (unmapped on
 * w).  Entries off the list for a system call do not count meanwhile, so
 * this runs again when they come back. */
static void bound_count(os_work *w) {
    while (omi_rt.large_cached > OM_LARGE_CACHE_MAX && w->nrelease < OM_LARGE_JOBS) {
        om_large *l = lc.oldest;
        cache_unlink(l);
        forget(l, w);
    }
}

/* After an entry joined the cache: too many entries unmap the oldest; too
 * many resident bytes purge the oldest entries' top pages. */
static void enforce_bounds(os_work *w) {
    bound_count(w);
    size_t budget = resident_budget(), page = omi_os_page_size();
    if (lc.cached_resident <= budget)
        return;
    size_t excess = lc.cached_resident - budget;
    for (om_large *l = lc.oldest, *prev; l && excess && !work_full(w); l = prev) {
        prev = l->prev;
        if (!l->resident)
            continue;
        size_t cut = round_up(min_size(excess, l->resident), page);
        if (cut > l->resident)
            cut = l->resident;
        excess -= min_size(excess, cut);
        cache_unlink(l);
        queue_purge(w, l, l->resident - cut, 0);
    }
}

/* Make the queued system calls, then put the purged entries back. */
static void run_work(os_work *w) {
    int err[OM_LARGE_JOBS];
    for (unsigned i = 0; i < w->npurge; i++) {
        om_large *l = w->purge[i].l;
        size_t from = w->purge[i].from, to = w->purge[i].to;
        err[i] = from < to ? omi_os_purge(l->base + from, to - from) : 0;
    }
    if (w->npurge) {
        int zeroes = omi_option_value(OM_OPTION_PURGE_DECOMMIT) != 0;
        uint64_t now = omi_os_now_ns();
        pthread_mutex_lock(&omi_rt.lock);
        for (unsigned i = 0; i < w->npurge; i++) {
            om_large *l = w->purge[i].l;
            size_t from = w->purge[i].from, to = w->purge[i].to;
            if (!err[i]) {
                l->resident = from;
                if (zeroes && l->dirty <= to)
                    l->dirty = from;
            }
            if (w->purge[i].decay) {
                l->purged = 1;
                l->cached_at_ns = now;
                lc.decayed++;
            } else if (l->resident == 0) {
                l->purged = 1; /* unmapped at its deadline */
            }
            cache_link(l);
        }
        /* Others freed while these were off the list, not counting them. */
        bound_count(w);
        pthread_mutex_unlock(&omi_rt.lock);
    }
    for (unsigned i = 0; i < w->nrelease; i++)
        omi_os_release(w->release[i].base, w->release[i].size);
    w->npurge = w->nrelease = 0;
}

/* ---- growing a mapping ------------------------------------------------- */
/* Grow l (live, or cached and unlisted; lock held) into the cached mappings
 * right after it, up to want bytes: no system call, their pages kept. */
static void absorb_neighbours(om_large *l, size_t want) {
    while (l->map_size < want) {
        char *end = l->base + l->map_size;
        uintptr_t e = omi_map_lookup((uintptr_t)end);
        om_large *n = (om_large *)(e & ~(uintptr_t)OM_MAP_TAG);
        if ((e & OM_MAP_TAG) != OM_MAP_LARGE || !n->cached || n->busy || n->base != end)
            return;
        cache_unlink(n);
        size_t take = want - l->map_size;
        if (n->map_size > take) {
            om_large *t = split(n, take);
            if (t)
                cache_link(t);
        }
        if (n->dirty)
            l->dirty = l->map_size + n->dirty;
        if (n->resident)
            l->resident = l->map_size + n->resident;
        omi_map_set((uintptr_t)n->base, n->map_size, tag(l));
        if (!l->cached)
            omi_rt.large_bytes += n->map_size;
        l->map_size += n->map_size;
        desc_free(n);
    }
}

/* Extend or move l (owned by the caller: live, or busy) to span bytes by
 * mremap: pages move, none is copied or faulted again.  1, or 0 with l
 * unchanged. */
static int remap(om_large *l, size_t span, size_t align) {
    if (span >= OM_LARGE_PMD && align < OM_LARGE_PMD)
        align = OM_LARGE_PMD;
    char *old = l->base;
    size_t old_size = l->map_size;
    char *p = omi_os_remap(old, old_size, span, align);
    if (!p)
        return 0;
    pthread_mutex_lock(&omi_rt.lock);
    /* In place, only the new part: omi_map_set clears what it set when it
     * fails, and the old part is l's already. */
    int unmapped = p == old ? omi_map_set((uintptr_t)old + old_size, span - old_size, tag(l))
                            : omi_map_set((uintptr_t)p, span, tag(l));
    if (unmapped) {
        /* No memory for a map leaf: put the block back as it was. */
        if (p == old) {
            pthread_mutex_unlock(&omi_rt.lock);
            omi_os_release(old + old_size, span - old_size);
        } else {
            omi_os_put_back(p, old, old_size);
            omi_os_release(p + old_size, span - old_size);
            pthread_mutex_unlock(&omi_rt.lock);
        }
        return 0;
    }
    if (p != old)
        map_clear_mine(l, old, old_size);
    if (!l->cached)
        omi_rt.large_bytes += span - old_size;
    l->base = l->user = p;
    l->map_size = span;
    pthread_mutex_unlock(&omi_rt.lock);
    return 1;
}

#define OM_LARGE_GATHER 8 /* cached entries one allocation may collect */

/* Fill l's fresh part below want (l: live or busy, owned by the caller, at
 * least want bytes) with the resident pages of other cached entries, moved
 * by mremap, the largest first: an allocation that no single entry covers
 * still reuses what the cache holds, so the cache empties instead of
 * filling up with leftovers (and the process's peak with them).  0, or -1
 * when a move the kernel could neither finish nor undo left part of l
 * unmapped (omi_os_move's EFAULT): l then ends before that part (its map
 * size cut to a slot boundary at or above its dirty bytes, what lies past
 * released), short of want. */
static int gather(om_large *l, size_t want) {
    if (!omi_os_can_remap())
        return 0;
    for (int i = 0; i < OM_LARGE_GATHER; i++) {
        pthread_mutex_lock(&omi_rt.lock);
        size_t o = round_up(l->dirty, OM_LARGE_SLOT);
        om_large *n = NULL;
        for (om_large *c = o < want ? omi_rt.large_cache : NULL; c; c = c->next)
            if (c->resident && (!n || c->resident > n->resident))
                n = c;
        if (!n) {
            pthread_mutex_unlock(&omi_rt.lock);
            return 0;
        }
        cache_unlink(n);
        size_t m = min_size(round_up(n->resident, OM_LARGE_SLOT), want - o);
        om_large *t = m < n->map_size ? split(n, m) : NULL;
        if (m < n->map_size && !t) {
            cache_link(n);
            pthread_mutex_unlock(&omi_rt.lock);
            return 0;
        }
        if (t)
            cache_link(t);
        omi_map_clear((uintptr_t)n->base, m); /* before its range is unmapped */
        n->busy = 1;
        pthread_mutex_unlock(&omi_rt.lock);
        size_t moved;
        int err = omi_os_move(n->base, l->base + o, m, &moved);
        if (err == EFAULT) {
            /* n's first moved bytes are l's now, the rest still n's; l has
             * no pages past them up to o + m: l ends before them. */
            char *rest = n->base + moved;
            pthread_mutex_lock(&omi_rt.lock);
            size_t keep = (o + moved) & ~(OM_LARGE_SLOT - 1), old = l->map_size;
            /* what moved in may hold data and be resident (calloc, purge) */
            l->dirty = min_size(keep, n->dirty ? o + min_size(n->dirty, moved) : l->dirty);
            l->resident = min_size(keep, n->resident ? o + min_size(n->resident, moved) : l->resident);
            desc_free(n);
            omi_map_clear((uintptr_t)l->base + keep, old - keep);
            if (!l->cached)
                omi_rt.large_bytes -= old - keep;
            l->map_size = keep;
            pthread_mutex_unlock(&omi_rt.lock);
            if (m > moved)
                omi_os_release(rest, m - moved);
            if (o + moved > keep)
                omi_os_release(l->base + keep, o + moved - keep);
            if (old > o + m)
                omi_os_release(l->base + o + m, old - o - m);
            return -1;
        }
        pthread_mutex_lock(&omi_rt.lock);
        if (err) {
            omi_map_set((uintptr_t)n->base, m, tag(n));
            cache_link(n);
            pthread_mutex_unlock(&omi_rt.lock);
            return 0;
        }
        if (n->dirty)
            l->dirty = o + n->dirty;
        if (n->resident)
            l->resident = o + n->resident;
        desc_free(n);
        pthread_mutex_unlock(&omi_rt.lock);
    }
    return 0;
}

/* ---- allocation ----------------------------------------------------------- */
/* The cached entry that saves the most faults for need bytes at align. */
static om_large *cache_pick(size_t need, size_t align) {
    int can_grow = omi_os_can_remap();
    om_large *best = NULL;
    size_t best_gain = 0;
    int best_fit = 0;
    for (om_large *l = omi_rt.large_cache; l; l = l->next) {
        if ((uintptr_t)l->base & (align - 1))
            continue;
        int fit = l->map_size >= need;
        size_t gain = min_size(l->resident, need);
        if (!fit && (!can_grow || gain == 0))
            continue;
        if (!best || gain > best_gain ||
            (gain == best_gain && (fit > best_fit || (fit && best_fit && l->map_size < best->map_size)))) {
            best = l;
            best_gain = gain;
            best_fit = fit;
        }
    }
    return best;
}

static void make_live(om_large *l, size_t need) {
    l->cached = l->purged = l->busy = 0;
    l->usable = need;
    if (l->dirty < need)
        l->dirty = need;
    if (l->resident < need)
        l->resident = need;
    live_link(l);
}

/* Take a cached mapping for need bytes (lock held): NULL, or the entry
 * off the list and busy, cut to span and grown into its cached neighbours. */
static om_large *cache_take(size_t need, size_t span, size_t align) {
    om_large *l = cache_pick(need, align);
    if (!l)
        return NULL;
    cache_unlink(l);
    l->busy = 1;
    if (l->map_size > span) {
        om_large *t = split(l, span);
        if (t)
            cache_link(t);
    }
    absorb_neighbours(l, span);
    lc.reused++;
    return l;
}

void *omi_large_alloc(size_t size, size_t align, int zero) {
    size_t page = omi_os_page_size();
    omi_alloc_note_started();
    if (size > OM_LARGE_LIMIT || align > OM_MAX_ALIGNMENT) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = round_up(size ? size : 1, page), span = round_up(need, OM_LARGE_SLOT);
    size_t map_align = align > OM_LARGE_SLOT ? align : OM_LARGE_SLOT;
    os_work w;
    w.npurge = w.nrelease = 0;
    uint64_t now = omi_os_now_ns();
    size_t clear = 0;
    int done = 0;

    pthread_mutex_lock(&omi_rt.lock);
    maybe_decay(now, &w);
    om_large *l = cache_enabled() ? cache_take(need, span, map_align) : NULL;
    /* Done now if it fits and no other entry has pages to add to it. */
    if (l && l->map_size >= need && (l->resident >= need || !lc.cached_resident || !omi_os_can_remap())) {
        clear = l->dirty;
        make_live(l, need);
        done = 1;
    }
    pthread_mutex_unlock(&omi_rt.lock);
    run_work(&w);
    if (l && !done) {
        int ok = l->map_size >= need || remap(l, span, map_align);
        if (ok && gather(l, span) != 0)
            ok = 0; /* cut short: back to the cache */
        pthread_mutex_lock(&omi_rt.lock);
        if (ok) {
            clear = l->dirty;
            make_live(l, need);
        } else if (l->map_size == 0) { /* cut to nothing by gather */
            lc.reused--;
            desc_free(l);
            l = NULL;
        } else {
            lc.reused--;
            cache_link(l);
            bound_count(&w); /* it was off the list: others may have filled it */
            l = NULL;
        }
        pthread_mutex_unlock(&omi_rt.lock);
        run_work(&w);
    }
    if (l) {
        /* malloc promises nothing; calloc clears what may not be zero */
        if (zero && clear)
            memset(l->user, 0, min_size(size, clear));
        return l->user;
    }

    size_t fresh_align = span >= OM_LARGE_PMD && map_align < OM_LARGE_PMD ? OM_LARGE_PMD : map_align;
    char *base = omi_os_reserve(span, fresh_align);
    if (!base)
        return NULL;
    pthread_mutex_lock(&omi_rt.lock);
    l = desc_new();
    if (!l || omi_map_set((uintptr_t)base, span, tag(l))) {
        if (l)
            desc_free(l);
        pthread_mutex_unlock(&omi_rt.lock);
        omi_os_release(base, span);
        errno = ENOMEM;
        return NULL;
    }
    l->base = l->user = base;
    l->map_size = span;
    make_live(l, need);
    lc.mapped++;
    pthread_mutex_unlock(&omi_rt.lock);
    return base; /* fresh pages read zero: nothing to clear */
}

/* ---- resizing -------------------------------------------------------------- */
static void set_usable(om_large *l, size_t need) {
    lc.live_usable += need - l->usable; /* modular: shrinking works too */
    l->usable = need;
    note_peak();
    if (l->dirty < need)
        l->dirty = need;
    if (l->resident < need)
        l->resident = need;
}

/* A live block to size bytes without copying: in place (into its headroom or
 * a cached neighbour; a shrink gives its tail to the cache) or moved by
 * mremap.  NULL when that is not possible (l unchanged): the caller copies. */
void *omi_large_resize(om_large *l, size_t size) {
    size_t page = omi_os_page_size();
    if (size <= OM_MEDIUM_MAX || size > OM_LARGE_LIMIT || l->user != l->base)
        return NULL;
    size_t need = round_up(size, page), span = round_up(need, OM_LARGE_SLOT);
    os_work w;
    w.npurge = w.nrelease = 0;
    pthread_mutex_lock(&omi_rt.lock);
    if (need > l->map_size)
        absorb_neighbours(l, span);
    if (need <= l->map_size) {
        int shrink = need < l->usable;
        set_usable(l, need);
        om_large *t = shrink && span < l->map_size ? split(l, span) : NULL;
        if (t && cache_enabled()) {
            t->cached_at_ns = omi_os_now_ns();
            cache_link(t);
            enforce_bounds(&w);
        } else if (t) {
            forget(t, &w);
        }
        pthread_mutex_unlock(&omi_rt.lock);
        run_work(&w);
        return l->user;
    }
    pthread_mutex_unlock(&omi_rt.lock);
    /* 50% headroom: a buffer grown in small steps moves every few steps */
    if (!remap(l, round_up(need + need / 2, OM_LARGE_SLOT), OM_LARGE_SLOT))
        return NULL;
    /* Cut short by gather: grown again into the range it gave back, or
     * left moved (l->user) with its bytes, not grown. */
    if (gather(l, span) != 0 && !remap(l, span, OM_LARGE_SLOT))
        return NULL;
    pthread_mutex_lock(&omi_rt.lock);
    set_usable(l, need);
    pthread_mutex_unlock(&omi_rt.lock);
    return l->user;
}

/* ---- freeing and trimming ------------------------------------------------- */
void omi_large_free(om_large *l) {
    os_work w;
    w.npurge = w.nrelease = 0;
    uint64_t now = omi_os_now_ns();
    pthread_mutex_lock(&omi_rt.lock);
    live_unlink(l);
    l->cached = 1;
    if (cache_enabled()) {
        l->purged = 0;
        l->cached_at_ns = now;
        cache_link(l);
        enforce_bounds(&w);
    } else {
        forget(l, &w);
    }
    maybe_decay(now, &w);
    pthread_mutex_unlock(&omi_rt.lock);
    run_work(&w);
    /* The freeing thread's purge ticks decay the cache too, so that a
     * program that goes on with small blocks only still gets it back. */
    om_heap *h = omi_tls_heap;
    if (h != &omi_heap_empty) {
        int locked = omi_heap_lock_arenas(h); /* the deadline is the purge thread's too */
        if (!h->purge_deadline_ns)
            omi_heap_arm_purge(h, now);
        omi_heap_unlock_arenas(h, locked);
    }
}

/* An arena is about to be mapped: the program's memory is moving from big
 * blocks to small ones, so as many cached resident bytes as the arena's
 * size go back first (the oldest entries' top pages, as enforce_bounds
 * does), and the process does not peak at both at once (an arena is
 * mapped once per MiB or four: the lock costs nothing next to it). */
void omi_large_reclaim(size_t bytes) {
    os_work w;
    w.npurge = w.nrelease = 0;
    size_t page = omi_os_page_size();
    pthread_mutex_lock(&omi_rt.lock);
    for (om_large *l = lc.oldest, *prev; l && bytes && !work_full(&w); l = prev) {
        prev = l->prev;
        if (!l->resident)
            continue;
        size_t cut = round_up(min_size(bytes, l->resident), page);
        if (cut > l->resident)
            cut = l->resident;
        bytes -= min_size(bytes, cut);
        cache_unlink(l);
        queue_purge(&w, l, l->resident - cut, 0);
    }
    pthread_mutex_unlock(&omi_rt.lock);
    run_work(&w);
}

/* The purge thread's share: once no block has joined the cache for idle_ns
 * (the program has stopped freeing big blocks), every cached entry gives
 * its pages back now rather than at its decay time; its mapping stays, for
 * reuse without a system call, until that time (purged entries are
 * unmapped by decay as usual).  A batch at a time, until none is left. */
void omi_large_purge_idle(uint64_t now, uint64_t idle_ns) {
    for (;;) {
        os_work w;
        w.npurge = w.nrelease = 0;
        pthread_mutex_lock(&omi_rt.lock);
        om_large *newest = omi_rt.large_cache;
        if (newest && expired(newest, now, idle_ns))
            for (om_large *l = lc.oldest, *prev; l && !work_full(&w); l = prev) {
                prev = l->prev;
                if (l->purged || l->resident == 0)
                    continue;
                cache_unlink(l);
                queue_purge(&w, l, 0, 1);
            }
        pthread_mutex_unlock(&omi_rt.lock);
        if (!w.npurge)
            return;
        run_work(&w);
    }
}

uint64_t omi_large_purge_old(uint64_t now) {
    if (pthread_mutex_trylock(&omi_rt.lock) != 0)
        return now + 1000000; /* busy: try again in a millisecond */
    os_work w;
    w.npurge = w.nrelease = 0;
    maybe_decay(now, &w);
    uint64_t next = lc.oldest ? lc.oldest->cached_at_ns + decay_ns() : 0;
    pthread_mutex_unlock(&omi_rt.lock);
    run_work(&w);
    return next;
}

void omi_large_collect(void) {
    int more = 1;
    while (more) {
        os_work w;
        w.npurge = w.nrelease = 0;
        pthread_mutex_lock(&omi_rt.lock);
        while (lc.oldest && !work_full(&w)) {
            om_large *l = lc.oldest;
            cache_unlink(l);
            forget(l, &w);
        }
        more = lc.oldest != NULL;
        pthread_mutex_unlock(&omi_rt.lock);
        run_work(&w);
    }
}

void omi_large_stats(om_stats *s) {
    s->large_cached_resident = lc.cached_resident;
    s->large_reused = lc.reused;
    s->large_mapped = lc.mapped;
    s->large_decayed = lc.decayed;
}

/* ---- om_heap_check's part ----------------------------------------------- */
typedef struct check_state {
    void (*report)(void *arg, const char *msg);
    void *arg;
    unsigned problems;
} check_state;

static void problem(check_state *c, const char *what, const om_large *l) {
    char msg[160];
    snprintf(msg, sizeof msg, "large block %p (descriptor %p): %s", l ? (void *)l->base : NULL, (const void *)l,
             what);
    c->report(c->arg, msg);
    c->problems++;
}

static void check_one(check_state *c, const om_large *l, int cached) {
    if (l->cached != cached || l->busy)
        problem(c, cached ? "on the cache list but not cached, or busy" : "live but marked cached", l);
    if (((uintptr_t)l->base | l->map_size) & (OM_LARGE_SLOT - 1) || !l->map_size)
        problem(c, "not a whole number of 1 MiB slots", l);
    if (l->resident > l->dirty || l->dirty > l->map_size)
        problem(c, "resident <= dirty <= map_size does not hold", l);
    if (!cached && (l->usable > l->map_size || l->usable > l->dirty || l->user != l->base))
        problem(c, "usable outside its mapping or above its dirty mark", l);
    if (omi_map_lookup((uintptr_t)l->base) != tag(l) ||
        omi_map_lookup((uintptr_t)l->base + l->map_size - 1) != tag(l))
        problem(c, "ownership map does not name it", l);
}

/* Walk both lists (omi_rt.lock held); report each problem, return how many. */
unsigned omi_large_check(void (*report)(void *arg, const char *msg), void *arg) {
    check_state c = {report, arg, 0};
    uint64_t n = 0, bytes = 0;
    size_t usable = 0, resident = 0;
    for (const om_large *l = omi_rt.large_live; l && n <= omi_rt.large_count; l = l->next, n++) {
        check_one(&c, l, 0);
        if (l->next && l->next->prev != l)
            problem(&c, "live list broken after it", l);
        bytes += l->map_size;
        usable += l->usable;
    }
    if (n != omi_rt.large_count || bytes != omi_rt.large_bytes || usable != lc.live_usable)
        problem(&c, "live blocks' count, bytes or usable bytes differ from the counters", NULL);
    n = bytes = 0;
    const om_large *last = NULL;
    for (const om_large *l = omi_rt.large_cache; l && n <= omi_rt.large_cached; l = l->next, n++) {
        check_one(&c, l, 1);
        if (l->prev != last || (last && last->cached_at_ns < l->cached_at_ns))
            problem(&c, "cache list broken or out of time order", l);
        bytes += l->map_size;
        resident += l->resident;
        last = l;
    }
    if (last != lc.oldest || n != omi_rt.large_cached || n > OM_LARGE_CACHE_MAX || bytes != omi_rt.large_cached_bytes ||
        resident != lc.cached_resident)
        problem(&c, "cache entries' count, bytes or resident bytes differ from the counters", NULL);
    return c.problems;
}
