/*
 * runtime.c — the allocator's process-wide state: omi_rt (descriptor lists
 * and counters under omi_rt.lock), the fast paths' read-mostly values, the
 * calling thread's heap pointers, one-time initialisation (which decides
 * whether the entry points are diverted to debug or hardened mode:
 * alloc.h), the fork
 * handlers, and the report at exit.  Thread heaps themselves are heap.c's.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"

#define P1 &omi_pool_empty
#define P8 P1, P1, P1, P1, P1, P1, P1, P1
#define P32 P8, P8, P8, P8

om_pool omi_pool_empty;
om_heap omi_heap_empty = {.used = {P32, P32, P32}};
_Static_assert(OM_NUM_LISTS == 96, "omi_heap_empty's initializer lists 96 used lists");
__thread om_heap *omi_tls_heap __attribute__((tls_model("initial-exec"))) = &omi_heap_empty;
__thread om_heap *omi_tls_free_heap __attribute__((tls_model("initial-exec"))) = &omi_heap_empty;

/* Checked mode off and no divert: the calling thread frees its own blocks
 * on the fast path.  Called when a thread gets its heap, when the option
 * changes (for the calling thread) and at every fresh pool (for the
 * others). */
void omi_heap_sync_checked(void) {
    int slow = atomic_load_explicit(&omi_fast.checked, memory_order_relaxed) || omi_divert() != NULL;
    omi_tls_free_heap = slow ? &omi_heap_empty : omi_tls_heap;
}

om_runtime omi_rt = {.lock = PTHREAD_MUTEX_INITIALIZER};
om_fast_state omi_fast = {.small_limit = 0, .free_mask = ~(uintptr_t)0, .divert = &omi_divert_init,
                          .secure_limit = 0, .secure_mask = ~(uintptr_t)0};

/* ---- diverting (alloc.h) -------------------------------------------------------
 * The first call of any entry point finds omi_divert_init: it initialises
 * the runtime, which decides (OBJMEM_DEBUG), and calls the entry point
 * again. */
static void *init_alloc(size_t size, size_t align, int zero) {
    omi_runtime_init();
    return align ? om_aligned_alloc(align, size) : zero ? om_calloc(1, size) : om_malloc(size);
}
static void init_free(void *p) {
    omi_runtime_init();
    om_free(p);
}
static void *init_realloc(void *p, size_t size) {
    omi_runtime_init();
    return om_realloc(p, size);
}
static size_t init_usable_size(const void *p) {
    omi_runtime_init();
    return om_usable_size(p);
}
static int init_owns(const void *p) {
    omi_runtime_init();
    return om_owns(p);
}
const omi_alloc_divert omi_divert_init = {init_alloc, init_free, init_realloc, init_usable_size, init_owns};

static _Atomic int alloc_started; /* a heap or a large block was made */

void omi_alloc_note_started(void) {
    if (!atomic_load_explicit(&alloc_started, memory_order_relaxed))
        atomic_store(&alloc_started, 1);
}

int omi_divert_install(const omi_alloc_divert *d) {
    if (atomic_load(&alloc_started))
        return EBUSY;
    atomic_store(&omi_fast.divert, d);
    omi_alloc_gates_update();
    return 0;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* ---- fork --------------------------------------------------------------------
 * The child of a threaded parent has only the thread that forked, whose
 * heap is consistent (it was in fork(), not in objmem).  Shared state is
 * made consistent by holding every lock across fork(), in the lock order
 * (heap locks, then omi_rt.lock), and re-creating the locks in the child.
 * Heaps of threads that do not exist in the child stay ACTIVE and unowned:
 * blocks freed into them go to their pools' xfree stacks (lock-free, touches no
 * heap internals) and are never reused, a bounded leak rather than a risk,
 * since such a heap may have been mid-operation when its thread was lost.
 */
static om_heap *fork_heaps;

static void fork_prepare(void) {
    pthread_mutex_lock(&omi_rt.lock);
    fork_heaps = omi_rt.heaps;
    pthread_mutex_unlock(&omi_rt.lock);
    for (om_heap *h = fork_heaps; h; h = h->next_all)
        pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&omi_rt.lock);
    omi_os_fork_lock();
}

static void fork_parent(void) {
    omi_os_fork_unlock();
    pthread_mutex_unlock(&omi_rt.lock);
    for (om_heap *h = fork_heaps; h; h = h->next_all)
        pthread_mutex_unlock(&h->lock);
}

static void fork_child(void) {
    omi_os_fork_unlock();
    omi_background_forget();
    omi_options_fork_child();
    pthread_mutex_init(&omi_rt.lock, NULL);
    for (om_heap *h = omi_rt.heaps; h; h = h->next_all)
        pthread_mutex_init(&h->lock, NULL);
    if (omi_tls_heap != &omi_heap_empty)
        omi_tls_heap->tid = (int)gettid(); /* the forking thread's heap is this one's */
}

void omi_runtime_register_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

static void runtime_init_once(void) {
    omi_options_init();
    omi_rt.page_size = omi_os_page_size();
    /* A per-process random cookie marks free blocks (see types.h). */
    uintptr_t c = (uintptr_t)&omi_rt ^ ((uintptr_t)omi_os_now_ns() * 0x9E3779B97F4A7C15u);
    omi_fast.cookie = c | 1; /* never 0: allocated blocks hold 0 */
    atomic_store(&omi_fast.checked, (int)omi_option_value(OM_OPTION_CHECKED));
    pthread_key_create(&omi_rt.heap_key, omi_heap_thread_exit);
    /* Debug mode wraps the allocator from the first block on (the
     * debug layer installs its divert), else hardened mode diverts to
     * secure.c; otherwise the entry points take their own paths from now
     * on. */
    long secure = omi_option_value(OM_OPTION_SECURE);
#if OM_HARDENED
    secure = secure < 1 ? 1 : secure; /* the hardened build cannot be turned off */
#endif
    if (omi_option_value(OM_OPTION_DEBUG))
        om_debug_enable();
    else if (secure)
        omi_secure_init((int)secure);
    const omi_alloc_divert *init = &omi_divert_init;
    atomic_compare_exchange_strong(&omi_fast.divert, &init, NULL);
    omi_alloc_gates_update(); /* the fast paths open (unless observed or diverted) */
}

void omi_runtime_init(void) { pthread_once(&init_once, runtime_init_once); }


/* ---- options whose change reaches the fast paths -------------------------- */
/* (om_option_get is options.c's.) */
void om_option_set(om_option opt, long value) {
    if ((unsigned)opt >= OM_OPTION_COUNT)
        return;
    omi_runtime_init(); /* the cookie and checked flag live here */
    value = omi_option_store(opt, value);
    if (opt == OM_OPTION_CHECKED) {
        atomic_store(&omi_fast.checked, value != 0);
        omi_heap_sync_checked();
    }
}

/* ---- the report at exit -------------------------------------------------------
 * OBJMEM_STATS=1: the statistics report on stderr when the process ends by
 * exit() or a return from main (a destructor: libobjmem and the drop-in
 * alike; _exit() and fatal signals run none), after a line naming the
 * process.  Only the copy of objmem that speaks for the process writes it
 * (process.c), so it appears once when both libraries are loaded.  The
 * report is the public om_stats_write, as a program would call it: it
 * covers every layer the program linked. */
__attribute__((destructor)) static void runtime_end(void) {
    if (!omi_option_value(OM_OPTION_STATS) || !omi_process_speaks())
        return;
    static const char pre[] = "objmem: report at exit of ";
    char head[sizeof pre + 512];
    memcpy(head, pre, sizeof pre - 1);
    omi_process_describe(head + sizeof pre - 1, sizeof head - sizeof pre);
    size_t n = strlen(head);
    head[n++] = '\n';
    if (write(2, head, n) == (ssize_t)n)
        om_stats_write(2, OM_REPORT_TEXT);
}
