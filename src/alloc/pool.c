/*
 * pool.c — blocks inside pools (pymalloc's heart).
 *
 * A pool serves one size class.  Its blocks are carved lazily: nextoffset
 * marks the first block never handed out, so memory is touched only when
 * needed; each carve links the blocks up to the end of the current OS page
 * onto the free list.  Free blocks are a singly linked list threaded through
 * the blocks themselves, newest first.
 *
 *   state   where                          transition
 *   USED    heap->used[class] list         last block taken → FULL (noticed
 *                                          lazily by the next allocation);
 *                                          last block freed → EMPTY, or kept
 *                                          (retained) if it is the class's
 *                                          only pool, until the next purge
 *   FULL    no list                        a block freed → USED, list back
 *   EMPTY   bit in arena->free_mask        taken for a class → USED; if it
 *                                          last served that class and its
 *                                          pages are resident, its free list
 *                                          is reused as it is (no re-carving)
 *
 * USED pools hold nused + len(freelist) + uncarved == capacity, and nused > 0
 * except for the retained pool of a class (heap->retained).  Only the head
 * of a used list can be exhausted (freeblock == NULL, nothing to carve):
 * om_malloc's fast path then falls here, and the pool moves to FULL.
 * pool->sig tracks the free list's membership (types.h, omi_block_sig).
 *
 * Hardened mode (alloc.h, secure.c): every free block's third word holds
 * the tag of its link, written by each carve, push and splice and checked
 * before a pop follows the link (which must also stay inside the pool); a
 * carve links its blocks in a random order within groups of
 * omi_secure.shuffle blocks.
 */
#include <errno.h>
#include <string.h>

#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

/* ---- the used lists ------------------------------------------------------
 * Circular and doubly linked; used[cls] is the head (&omi_pool_empty when
 * the list is empty) and head->prev the tail.  A fresh pool goes to the
 * front (it is where allocation continues); a FULL pool that gets a block
 * back goes to the back, so it collects more frees before allocation comes
 * round to it.  (pymalloc puts it at the front and so pays a relink on
 * nearly every free and every allocation once its pools are full: measured
 * 855 K relinks for 1.2 M frees on a 200 K-block random churn.)
 */
static void used_link(om_heap *h, om_pool *p, int front) {
    om_pool *head = h->used[p->list];
    p->state = OM_POOL_USED;
    if (head == &omi_pool_empty) {
        p->next = p->prev = p;
        h->used[p->list] = p;
        return;
    }
    p->next = head;
    p->prev = head->prev;
    head->prev->next = p;
    head->prev = p;
    if (front)
        h->used[p->list] = p;
}

static void used_remove(om_heap *h, om_pool *p) {
    if (p->next == p) {
        h->used[p->list] = &omi_pool_empty;
    } else {
        p->prev->next = p->next;
        p->next->prev = p->prev;
        if (h->used[p->list] == p)
            h->used[p->list] = p->next;
    }
    p->next = p->prev = NULL;
}

/* ---- carving ------------------------------------------------------------------ */
static void pool_init(om_pool *pool, unsigned cls) {
    size_t size = omi_class_size(cls);
    /* Empty: no block of it is live, so no other thread frees into it. */
    atomic_store_explicit(omi_pool_xfree(pool), 0, memory_order_relaxed);
    pool->freeblock = NULL;
    pool->nused = 0;
    pool->block_size = (uint32_t)size;
    pool->szidx = (uint8_t)cls;
    pool->list = (uint8_t)cls;
    pool->nextoffset = 0;
    pool->maxnextoffset = (uint32_t)(omi_class_pool_bytes(cls) - size);
    pool->quarantined = 0;
    pool->sig = pool->carved_sig = 0;
}

/* ---- hardened mode: shuffled carving, tagged links -------------------------- */
#define SECURE_CARVE_MIN 8   /* blocks one carve links, at least (as the pool has them) */
#define SECURE_CARVE_MAX 256 /* ... and at most */

static __thread uint64_t carve_rng __attribute__((tls_model("initial-exec")));

static uint32_t carve_random(void) {
    uint64_t x = carve_rng;
    if (om_unlikely(x == 0))
        x = omi_secure_key(&carve_rng) | 1; /* the thread's own seed */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    carve_rng = x;
    return (uint32_t)(x >> 32);
}

/* Link n blocks from first (n <= SECURE_CARVE_MAX) in front of the free
 * list, each with its link's tag, in a random order within each group of
 * omi_secure.shuffle blocks (secure.c says why the group); returns their
 * sig. */
static uint32_t carve_secure(om_pool *pool, char *first, size_t n) {
    size_t size = pool->block_size;
    uint16_t order[SECURE_CARVE_MAX];
    for (size_t i = 0; i < n; i++)
        order[i] = (uint16_t)i;
    /* Fisher-Yates within each group of omi_secure.shuffle consecutive
     * blocks (in [0, i) without a division) */
    size_t group = omi_secure.shuffle;
    for (size_t g = 0; g < n; g += group) {
        size_t m = n - g < group ? n - g : group;
        for (size_t i = m; i > 1; i--) {
            size_t j = (size_t)(((uint64_t)carve_random() * i) >> 32);
            uint16_t t = order[g + i - 1];
            order[g + i - 1] = order[g + j];
            order[g + j] = t;
        }
    }
    uint32_t sig = 0;
    om_block *next = pool->freeblock;
    for (size_t i = n; i-- > 0;) {
        om_block *b = (om_block *)(first + order[i] * size);
        if (omi_secure.zero)
            memset(b, 0, size); /* a dirty pool's pages: reuse checks for zeros */
        b->next = next;
        b->check = omi_fast.cookie;
        omi_secure_set_free_tag(pool, b, omi_free_tag(b, next));
        sig ^= omi_block_sig(b);
        next = b;
    }
    pool->freeblock = next;
    return sig;
}

/* Link the blocks from nextoffset to the end of its page (at least one). */
static int pool_extend(om_pool *pool) {
    if (pool->nextoffset > pool->maxnextoffset)
        return 0;
    char *base = omi_pool_block_base(pool);
    size_t size = pool->block_size, page = omi_os_page_size();
    char *first = base + pool->nextoffset;
    char *page_end = (char *)(((uintptr_t)first + page) & ~(uintptr_t)(page - 1));
    size_t n = (size_t)(page_end - first) / size;
    size_t left = (pool->maxnextoffset - pool->nextoffset) / size + 1;
    if (n == 0)
        n = 1;
    if (n > left)
        n = left;
    if (omi_secure.on) {
        /* a page may hold one block: shuffle among a few pages' worth */
        n = n < SECURE_CARVE_MIN ? SECURE_CARVE_MIN : n > SECURE_CARVE_MAX ? SECURE_CARVE_MAX : n;
        if (n > left)
            n = left;
        uint32_t ssig = carve_secure(pool, first, n);
        pool->sig ^= ssig;
        pool->carved_sig ^= ssig;
        pool->nextoffset += (uint32_t)(n * size);
        return 1;
    }
    om_block *b = (om_block *)first;
    uint32_t sig = 0;
    for (size_t i = 1; i < n; i++) {
        om_block *nx = (om_block *)((char *)b + size);
        b->next = nx;
        b->check = omi_fast.cookie;
        sig ^= omi_block_sig(b);
        b = nx;
    }
    b->next = pool->freeblock;
    b->check = omi_fast.cookie;
    sig ^= omi_block_sig(b);
    pool->sig ^= sig;
    pool->carved_sig ^= sig;
    pool->freeblock = (om_block *)first;
    pool->nextoffset += (uint32_t)(n * size);
    return 1;
}

/* ---- quarantine ---------------------------------------------------------
 * A pool whose free list is found corrupt (a block on it twice, or written
 * after its free) is reported and quarantined: off every list, never carved
 * again, never returned to its arena.  Its blocks leak; none is handed out
 * twice and its memory is never reused under a live block.
 */
static void quarantine(om_heap *h, om_pool *pool, const char *op, const void *bad, om_error_code code) {
    omi_report(code, op, bad);
    if (pool->state == OM_POOL_USED)
        used_remove(h, pool);
    pool->state = OM_POOL_FULL;
    pool->quarantined = 1;
    pool->freeblock = NULL;
    pool->nextoffset = pool->maxnextoffset + pool->block_size;
}

/* Before an empty pool leaves its class: its free list must hold every
 * carved block exactly once.  The signatures decide in O(1) without
 * touching the blocks; only a mismatch walks the list, to name a bad block. */
static int free_list_sig_ok(const om_pool *pool) { return pool->sig == pool->carved_sig; }

static const om_block *free_list_fault(const om_pool *pool) {
    uint32_t carved = pool->nextoffset / pool->block_size, n = 0;
    for (const om_block *b = pool->freeblock; b; b = b->next)
        if (++n > carved || b->check != omi_fast.cookie)
            return b;
    return pool->freeblock ? pool->freeblock : (const om_block *)omi_pool_block_base(pool);
}

/* Hardened mode: the head's link is followed only if its tag matches and
 * it stays inside the pool; with OBJMEM_SECURE=2 the block must still read
 * zero between its header and its trailer. */
static om_error_code secure_head_fault(const om_pool *pool, const om_block *b) {
    size_t size = pool->block_size;
    const om_block *n = b->next;
    /* The tag authenticates the link; the link must also stay in the
     * pool's span (pools start on their size), 16-byte aligned. */
    uintptr_t span = size <= OM_POOL16_MAX ? OM_POOL_SIZE : OM_MPOOL_SIZE;
    uintptr_t tag = omi_free_tag(b, n);
    if (omi_free_tag_get(b) != tag || (pool->list < OM_PLAIN_LIST && omi_trailer_get(b, size) != tag) ||
        (n && ((((uintptr_t)n ^ (uintptr_t)b) & ~(span - 1)) || ((uintptr_t)n & (OM_ALIGNMENT - 1)))))
        return OM_ERR_CORRUPTION;
    if (omi_secure.zero)
        for (const uintptr_t *w = (const uintptr_t *)b + 3; (const char *)(w + 1) < (const char *)b + size; w++)
            if (*w)
                return OM_ERR_WRITE_AFTER_FREE;
    return 0;
}

static void *pool_pop_checked(om_heap *h, om_pool *pool) {
    om_block *b = pool->freeblock;
    if (om_unlikely(b->check != omi_fast.cookie)) {
        quarantine(h, pool, "om_malloc", b, omi_secure.on ? OM_ERR_WRITE_AFTER_FREE : OM_ERR_DOUBLE_FREE);
        return NULL;
    }
    om_error_code fault = omi_secure.on ? secure_head_fault(pool, b) : 0;
    if (om_unlikely(fault)) {
        quarantine(h, pool, "om_malloc", b, fault);
        return NULL;
    }
    if (omi_secure.on)
        omi_free_tag_set(b, 0); /* keyed: not for the program to read */
    return omi_pool_pop(pool, b);
}

/* ---- frees from other threads --------------------------------------------
 * Other threads push the blocks they free on the pool's xfree stack
 * (heap.c); the owner takes the whole stack with one exchange (no ABA)
 * when the pool's own free list runs out, before carving more, and when
 * it gives memory back (om_trim, an abandoned heap's purge tick).  A pool the owner finds
 * exhausted is marked FULL only once its stack is empty: it then sets
 * OM_XFREE_WATCH in the same word, and the first block another thread
 * frees into it comes back through the heap's delayed stack. */
/* The stack is spliced onto the free list whole: the freers wrote each
 * block's link and free mark, so the walk (for the tail, the count and the
 * signature) only reads them: a write would take each block's line from
 * the freeing core's cache a second time.  A stack
 * longer than the pool's live blocks (a block pushed twice by racing
 * frees makes a cycle) is corruption: the pool is quarantined. */
/* Hardened mode: the stack's blocks, now linked onto the free list, get
 * their links' tags; a block outside the pool quarantines it. */
static int secure_retag(om_heap *h, om_pool *pool, om_block *head, om_block *tail) {
    for (om_block *b = head;; b = b->next) {
        if (!omi_pool_block_offset_ok(pool, (uintptr_t)b, 1)) {
            quarantine(h, pool, "om_free", b, OM_ERR_CORRUPTION);
            return 0;
        }
        omi_secure_set_free_tag(pool, b, omi_free_tag(b, b->next));
        if (b == tail)
            return 1;
    }
}

static void pool_take_xfree(om_heap *h, om_pool *pool) {
    uintptr_t w = atomic_exchange_explicit(omi_pool_xfree(pool), 0, memory_order_acquire);
    om_block *head = (om_block *)(w & ~OM_XFREE_FLAGS);
    if (!head)
        return;
    om_block *tail = head;
    uint32_t n = 1, sig = omi_block_sig(head);
    for (om_block *b = head->next; b; b = b->next) {
        if (om_unlikely(n >= pool->nused)) {
            quarantine(h, pool, "om_free", b, OM_ERR_DOUBLE_FREE);
            return;
        }
        tail = b;
        n++;
        sig ^= omi_block_sig(b);
    }
    om_block *old = pool->freeblock;
    tail->next = old;
    if (omi_secure.on && !secure_retag(h, pool, head, tail))
        return;
    pool->freeblock = head;
    pool->sig ^= sig;
    pool->nused -= n;
    if (pool->nused == 0 || old == NULL)
        omi_pool_free_transition(h, pool, old);
}

/* Exhausted (nothing free, nothing to carve): FULL if no other thread has
 * freed into it meanwhile; 0 if one has (its blocks are now free). */
static int pool_mark_full(om_heap *h, om_pool *pool) {
    uintptr_t expect = 0;
    if (!atomic_compare_exchange_strong_explicit(omi_pool_xfree(pool), &expect, OM_XFREE_WATCH,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        pool_take_xfree(h, pool);
        return 0;
    }
    used_remove(h, pool);
    pool->state = OM_POOL_FULL;
    return 1;
}

/* Every pool of h's used lists: what other threads freed into it comes
 * back (om_trim, a heap being abandoned).  No purge runs meanwhile, so
 * taking a pool's blocks changes only that pool's place (emptied: it
 * leaves its list). */
void omi_pool_collect_xfree(om_heap *h) {
    h->collecting = 1;
    for (unsigned c = 0; c < OM_NUM_LISTS; c++) {
        om_pool *p = h->used[c];
        if (p == &omi_pool_empty)
            continue;
        size_t n = 1;
        for (om_pool *q = p->next; q != p; q = q->next)
            n++;
        while (n--) {
            om_pool *next = p->next;
            if (atomic_load_explicit(omi_pool_xfree(p), memory_order_relaxed) & ~OM_XFREE_FLAGS)
                pool_take_xfree(h, p);
            p = next;
        }
    }
    h->collecting = 0;
}

/* used[list] has no pool: the thread's first allocation, or time for a
 * fresh pool.  This is where the purge clock is checked. */
static om_pool *pool_fresh(om_heap **hp, unsigned list) {
    unsigned cls = omi_list_class(list);
    om_heap *h = *hp;
    if (om_unlikely(h == &omi_heap_empty)) {
        h = *hp = omi_heap_init_thread();
        if (!h)
            return NULL;
    }
    if (atomic_load_explicit(&h->delayed, memory_order_relaxed)) {
        omi_heap_drain_delayed(h);
        if (h->used[list] != &omi_pool_empty)
            return h->used[list];
    }
    omi_heap_sync_checked();
    int locked = omi_heap_lock_arenas(h);
    if (h->purge_deadline_ns)
        omi_heap_maybe_purge(h);
    int intact;
    om_pool *pool = omi_arena_take_pool(h, omi_class_geom(cls), list, &intact);
    omi_heap_unlock_arenas(h, locked);
    if (!pool) {
        errno = ENOMEM;
        return NULL;
    }
    /* A resident pool that last served this list still has every carved
     * block on its free list (pymalloc's "luckily" path): no re-carving.
     * Any other is carved again: in hardened mode, a tagged list's free
     * blocks keep their tag in their trailer too, a plain list's do not. */
    if (!intact)
        pool_init(pool, cls);
    pool->list = (uint8_t)list;
    used_link(h, pool, 1);
    return pool;
}

/* The fast path found nothing at the head of used[list] (a class, or a
 * plain list in hardened mode): take back what other threads freed into
 * it, or carve more, or move the exhausted head to FULL and try the next
 * pool. */
void *omi_pool_alloc_slow(om_heap *h, unsigned list) {
    if (atomic_load_explicit(&h->delayed, memory_order_relaxed))
        omi_heap_drain_delayed(h);
    for (;;) {
        om_pool *pool = h->used[list];
        if (om_unlikely(pool == &omi_pool_empty) && !(pool = pool_fresh(&h, list)))
            return NULL;
        if (!pool->freeblock &&
            (atomic_load_explicit(omi_pool_xfree(pool), memory_order_relaxed) & ~OM_XFREE_FLAGS)) {
            pool_take_xfree(h, pool);
            if (h->used[list] != pool) /* it emptied (the retained pool stays) */
                continue;
        }
        if (pool->freeblock || pool_extend(pool)) {
            void *p = pool_pop_checked(h, pool);
            if (p)
                return p;
            continue;
        }
        pool_mark_full(h, pool);
    }
}

/* ---- freeing ------------------------------------------------------------------ */
/* The pool's header (class, free list, signature) stays as it is: while
 * its pages are resident (dirty), the arena may hand it back to the same
 * class intact. */
static void pool_return(om_heap *h, om_pool *pool) {
    const om_block *bad = free_list_sig_ok(pool) ? NULL : free_list_fault(pool);
    if (om_unlikely(bad != NULL)) {
        quarantine(h, pool, "om_free", bad, OM_ERR_DOUBLE_FREE);
        return;
    }
    if (pool->state == OM_POOL_USED)
        used_remove(h, pool);
    pool->state = OM_POOL_EMPTY;
    pool->heap = NULL;
    atomic_store_explicit(omi_pool_xfree(pool), 0, memory_order_relaxed); /* no live block: no freer */
    omi_arena_return_pool(h, omi_pool_arena(pool), pool->index);
    omi_heap_note_dirty(h);
}

void omi_pool_free_transition(om_heap *h, om_pool *pool, om_block *old_head) {
    if (om_unlikely(pool->quarantined))
        return;
    if (pool->nused == 0) {
        int locked = omi_heap_lock_arenas(h);
        /* The only pool of its class stays on its list, carved, until the
         * next purge: a class that empties and refills (a loop allocating
         * and freeing a few blocks) must not re-take and re-carve a pool
         * every time.  Not a medium one while the purge thread runs: it
         * cannot give back what is on a list, and 256 KiB pools add up. */
        if (pool->state == OM_POOL_USED && pool->next == pool &&
            !(omi_class_geom(pool->szidx) == OM_GEOM_MEDIUM && atomic_load_explicit(&omi_bg_running, memory_order_relaxed))) {
            h->retained[pool->list] = pool;
            omi_heap_arm_purge(h, omi_os_now_ns()); /* its pages are in use: not dirty */
        } else {
            pool_return(h, pool);
        }
        if (h->purge_deadline_ns && !h->collecting)
            omi_heap_maybe_purge(h);
        omi_heap_unlock_arenas(h, locked);
    } else if (old_head == NULL && pool->state == OM_POOL_FULL) {
        /* Back in use: other threads' frees go to its stack again. */
        atomic_fetch_and_explicit(omi_pool_xfree(pool), ~OM_XFREE_WATCH, memory_order_relaxed);
        used_link(h, pool, 0);
    }
}

void omi_pool_release_retained(om_heap *h) {
    for (unsigned c = 0; c < OM_NUM_LISTS; c++) {
        om_pool *p = h->retained[c];
        h->retained[c] = NULL;
        if (p && p->heap == h && p->state == OM_POOL_USED && p->list == c && p->nused == 0)
            pool_return(h, p);
    }
}

void omi_pool_free_local(om_heap *h, om_pool *pool, om_block *b) {
    om_block *old = pool->freeblock;
    b->next = old;
    b->check = omi_fast.cookie;
    pool->freeblock = b;
    pool->sig ^= omi_block_sig(b);
    if (--pool->nused == 0 || old == NULL)
        omi_pool_free_transition(h, pool, old);
}

void omi_pool_free_secure(om_heap *h, om_pool *pool, om_block *b) {
    om_block *old = pool->freeblock;
    b->next = old;
    b->check = omi_fast.cookie;
    omi_secure_set_free_tag(pool, b, omi_free_tag(b, old));
    pool->freeblock = b;
    pool->sig ^= omi_block_sig(b);
    if (--pool->nused == 0 || old == NULL)
        omi_pool_free_transition(h, pool, old);
}

void omi_pool_free_any(om_heap *h, om_pool *pool, om_block *b) {
    if (omi_secure.on)
        omi_pool_free_secure(h, pool, b);
    else
        omi_pool_free_local(h, pool, b);
}

void *omi_pool_alloc_secure(om_heap *h, unsigned list) {
    om_pool *pool = h->used[list];
    if (pool->freeblock) {
        void *p = pool_pop_checked(h, pool);
        if (p)
            return p;
    }
    return omi_pool_alloc_slow(h, list);
}

/* ---- validation (slow paths only) ------------------------------------------ */
/* a is the start of a block of pool; carved tells whether to require it to
 * be carved (only the owner may read nextoffset). */
int omi_pool_block_offset_ok(const om_pool *pool, uintptr_t a, int carved) {
    uintptr_t base = (uintptr_t)omi_pool_block_base(pool);
    if (a < base)
        return 0;
    uintptr_t off = a - base, size = pool->block_size;
    uintptr_t limit = carved ? pool->nextoffset : (uintptr_t)omi_class_capacity(pool->szidx) * size;
    return off < limit && off % size == 0;
}

int omi_pool_block_is_free(const om_pool *pool, const om_block *b) {
    unsigned limit = omi_class_capacity(pool->szidx);
    for (const om_block *f = pool->freeblock; f && limit; f = f->next, limit--)
        if (f == b)
            return 1;
    return 0;
}
