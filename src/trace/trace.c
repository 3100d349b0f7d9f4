/*
 * trace.c — tracing's switch and its observer: om_trace_start/stop, the
 * counters, a block's traceback, and what the debug layer asks of it.
 *
 * On: alloc.c calls on_alloc after each allocation and on_free before
 * each free (alloc.h's observer contract).  on_alloc asks sample.c
 * whether to trace the block, captures the stack (stack.c), interns it
 * (table.c) and records the block (blocks.c), which counts it in its
 * trace and the totals.  on_free removes the record, if any.  Sampling at
 * a mean of OMI_SAMPLE_OPEN_MIN or more uses the sampling observer
 * instead: the allocator counts on its fast paths and calls on_sampled
 * only for the blocks it picked (moved to large blocks, whose frees
 * reach on_free).
 *
 * Sessions: start and stop each change `session`; a record is added only
 * if its session is still current (checked under the shard's lock), so a
 * stop that empties the map leaves nothing behind from calls that were
 * under way.  Start, stop and the reports are serialised by st.lock.
 *
 * OBJMEM_TRACE=N (a constructor) starts tracing at load, with
 * OBJMEM_TRACE_SAMPLE's rate, and a destructor writes the report at exit.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"

omi_trace_state omi_trace_st = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* r's block counted in (sign > 0) or out of its trace and the totals. */
void omi_trace_count_rec(const omi_block_rec *r, int sign) {
    omi_trace *t = omi_trace_get(r->id);
    omi_trace_state *st = &omi_trace_st;
    uint64_t bytes = r->weight == OMI_TRACE_ONE ? r->size : (uint64_t)((unsigned __int128)r->size * r->weight / OMI_TRACE_ONE);
    if (sign > 0) {
        atomic_fetch_add_explicit(&t->count, r->weight, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->blocks, r->weight, memory_order_relaxed);
        uint64_t cur = atomic_fetch_add_explicit(&st->current, bytes, memory_order_relaxed) + bytes;
        uint64_t peak = atomic_load_explicit(&st->peak, memory_order_relaxed);
        while (cur > peak && !atomic_compare_exchange_weak_explicit(&st->peak, &peak, cur, memory_order_relaxed,
                                                                    memory_order_relaxed))
            ;
    } else {
        atomic_fetch_sub_explicit(&t->count, r->weight, memory_order_relaxed);
        atomic_fetch_sub_explicit(&t->bytes, bytes, memory_order_relaxed);
        atomic_fetch_sub_explicit(&st->blocks, r->weight, memory_order_relaxed);
        atomic_fetch_sub_explicit(&st->current, bytes, memory_order_relaxed);
    }
}

/* ---- the observer ------------------------------------------------------------- */
/* rec (address, size, weight) with the caller's stack, in session. */
OMI_ENTRY static void record(omi_block_rec *rec, uint64_t session) {
    omi_trace_state *st = &omi_trace_st;
    void *frames[OMI_TRACE_MAX_FRAMES];
    uint32_t flags = 0;
    int n = omi_trace_stack_capture(frames, st->nframes, &flags);
    rec->id = omi_trace_intern(frames, n, flags);
    if (rec->id == 0 || omi_blocks_insert(rec, session) != 0)
        atomic_fetch_add_explicit(&st->dropped, 1, memory_order_relaxed);
}

OMI_ENTRY static void on_alloc(void *p, size_t size) {
    uint64_t session = atomic_load_explicit(&omi_trace_st.session, memory_order_acquire);
    omi_block_rec rec = {.addr = (uintptr_t)p, .size = size};
    if (omi_sample_take(size, &rec.weight))
        record(&rec, session);
}

static void on_free(void *p) {
    omi_block_rec rec;
    omi_blocks_remove((uintptr_t)p, &rec);
}

/* The allocator's countdown chose p (NULL: only a first distance wanted). */
OMI_ENTRY static int64_t on_sampled(void *p, size_t size) {
    omi_trace_state *st = &omi_trace_st;
    if (p) {
        uint64_t session = atomic_load_explicit(&st->session, memory_order_acquire);
        omi_block_rec rec = {.addr = (uintptr_t)p, .size = size,
                             .weight = omi_sample_weight(size ? size : 1, st->sample_bytes)};
        record(&rec, session);
    }
    return omi_sample_gap();
}

static const om_alloc_observer observer_all = {on_alloc, on_free, NULL};
static const om_alloc_observer observer_sampled = {on_alloc, on_free, on_sampled};

/* ---- fork ---------------------------------------------------------------------------
 * A thread recording a block holds a region's or a shard's lock, an
 * interning thread the table's, a report st.lock: fork() while they do
 * would leave the child's copies locked forever.  So every lock is held
 * across fork(), in the order they nest (st.lock, the table, the blocks'),
 * and released in both processes: in the child the forking thread, their
 * owner, is the only one.  These handlers run before the
 * allocator's (registered later, once the calling thread has a heap), as
 * tracing's locks are taken before the allocator's (a record's table
 * comes from the OS layer). */
static void fork_prepare(void) {
    pthread_mutex_lock(&omi_trace_st.lock);
    omi_trace_table_fork(OMI_FORK_PREPARE);
    omi_blocks_fork(OMI_FORK_PREPARE);
}

static void fork_parent(void) {
    omi_blocks_fork(OMI_FORK_PARENT);
    omi_trace_table_fork(OMI_FORK_PARENT);
    pthread_mutex_unlock(&omi_trace_st.lock);
}

static void fork_child(void) {
    omi_blocks_fork(OMI_FORK_CHILD);
    omi_trace_table_fork(OMI_FORK_CHILD);
    pthread_mutex_unlock(&omi_trace_st.lock);
}

/* pthread_atfork may allocate, and the allocator registers its own
 * handlers when a thread first gets a heap: make sure this one has one
 * first, so the allocator's come first (and run after these).  Not under
 * ThreadSanitizer: its fork interception then deadlocks the process (in
 * its own slot lock), so a TSan build traces without fork safety. */
#if defined(__SANITIZE_THREAD__)
#define OMI_TRACE_FORK_HANDLERS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OMI_TRACE_FORK_HANDLERS 0
#endif
#endif
#ifndef OMI_TRACE_FORK_HANDLERS
#define OMI_TRACE_FORK_HANDLERS 1
#endif

static void register_fork(void) {
    if (!OMI_TRACE_FORK_HANDLERS)
        return;
    om_free(om_malloc(1));
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- start and stop ----------------------------------------------------------- */
static void reset_locked(void) {
    omi_trace_state *st = &omi_trace_st;
    atomic_fetch_add(&st->session, 1);
    omi_blocks_clear();
    omi_trace_table_zero();
    atomic_store(&st->current, 0);
    atomic_store(&st->peak, 0);
    atomic_store(&st->blocks, 0);
    atomic_store(&st->dropped, 0);
}

int om_trace_start(int nframes) {
    omi_trace_state *st = &omi_trace_st;
    if (nframes < 1 || nframes > OM_TRACE_MAX_FRAMES)
        return EINVAL;
    if (!omi_trace_stack_available())
        return ENOSYS;
    omi_runtime_init();
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    pthread_once(&fork_once, register_fork);
    uint64_t sample = (uint64_t)omi_option_value(OM_OPTION_TRACE_SAMPLE);
    pthread_mutex_lock(&st->lock);
    if (atomic_load(&st->on) && st->nframes == nframes && st->sample_bytes == sample) {
        pthread_mutex_unlock(&st->lock);
        return 0;
    }
    omi_alloc_observe(NULL);
    reset_locked();
    st->nframes = nframes;
    st->for_debug = 0;
    st->sample_bytes = sample;
    omi_sample_configure(sample);
    atomic_store(&st->on, 1);
    omi_alloc_observe(sample >= OMI_SAMPLE_OPEN_MIN ? &observer_sampled : &observer_all);
    pthread_mutex_unlock(&st->lock);
    return 0;
}

int om_trace_stop(void) {
    omi_trace_state *st = &omi_trace_st;
    pthread_mutex_lock(&st->lock);
    if (atomic_load(&st->on)) {
        omi_alloc_observe(NULL);
        atomic_store(&st->on, 0);
        reset_locked();
        st->nframes = 0;
    }
    pthread_mutex_unlock(&st->lock);
    return 0;
}

int om_trace_is_tracing(void) { return atomic_load(&omi_trace_st.on); }

int om_trace_get_traceback_limit(void) { return om_trace_is_tracing() ? omi_trace_st.nframes : 0; }

void om_trace_get_traced_memory(uint64_t *current, uint64_t *peak) {
    if (current)
        *current = atomic_load(&omi_trace_st.current);
    if (peak)
        *peak = atomic_load(&omi_trace_st.peak);
}

void om_trace_reset_peak(void) { atomic_store(&omi_trace_st.peak, atomic_load(&omi_trace_st.current)); }

/* ---- one block ------------------------------------------------------------------- */
size_t om_trace_block_traceback(const void *ptr, void **frames, size_t n) {
    omi_block_rec rec;
    if (!ptr || !omi_blocks_find((uintptr_t)ptr, &rec))
        return 0;
    omi_trace *t = omi_trace_get(rec.id);
    size_t k = t && t->nframes < n ? t->nframes : (t ? n : 0);
    if (k)
        memcpy(frames, t->frames, k * sizeof(void *));
    return k;
}

uint32_t omi_trace_id_of(const void *p) {
    omi_block_rec rec;
    return p && om_trace_is_tracing() && omi_blocks_find((uintptr_t)p, &rec) ? rec.id : 0;
}

void omi_trace_describe(uint32_t id, char *buf, size_t cap) {
    omi_trace *t = omi_trace_get(id);
    size_t len = 0;
    if (!cap)
        return;
    buf[0] = '\0';
    if (!t)
        return;
    int was = omi_alloc_observe_suspend(1);
    omi_symbolizer *sym = omi_symbolizer_open();
    for (uint32_t i = 0; i < t->nframes && len + 1 < cap; i++) {
        omi_symbol s;
        char line[512];
        omi_symbolize(sym, t->frames[i], &s);
        omi_symbol_format(&s, t->frames[i], line, sizeof line);
        size_t n = strlen(line), sep = i ? 4 : 0;
        if (len + sep + n + 1 > cap)
            break;
        memcpy(buf + len, " <- ", sep);
        memcpy(buf + len + sep, line, n);
        len += sep + n;
        buf[len] = '\0';
    }
    omi_symbolizer_close(sym);
    omi_alloc_observe_suspend(was);
}

/* ---- OBJMEM_TRACE: from load to exit -------------------------------------------- */
__attribute__((constructor)) static void trace_env_start(void) {
    omi_options_init();
    long n = omi_option_value(OM_OPTION_TRACE);
    if (n <= 0) {
        /* Debug mode names each block's allocation site in its reports:
         * one frame, which the entry point gives without unwinding; no
         * report at exit, and no stacks taken at frees (OBJMEM_TRACE=N
         * asks for both). */
        if (omi_option_value(OM_OPTION_DEBUG) && omi_trace_stack_available() && om_trace_start(1) == 0)
            omi_trace_st.for_debug = 1;
        return;
    }
    int rc = om_trace_start((int)n);
    if (rc == ENOSYS && omi_process_speaks()) {
        static const char msg[] = "objmem: OBJMEM_TRACE: tracing is unavailable in this build "
                                  "(objmem was built without libunwind)\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
    if (rc == 0)
        omi_trace_signal_setup();
}

__attribute__((destructor)) static void trace_env_end(void) {
    if (om_trace_is_tracing() && omi_option_value(OM_OPTION_TRACE) > 0)
        omi_trace_exit_report();
}
