/*
 * test_trace_nomalloc.c — capturing a stack allocates nothing: this
 * program is its own malloc (every call counted, then served by om_*),
 * and the count must not move while omi_trace_stack_capture runs,
 * its first call (libunwind's setup) included, once libunwind is loaded,
 * but for the one block of thread-local storage glibc allocates for a
 * dlopen'ed library at a thread's first use.  The same with tracing on:
 * an om_malloc's observer does not call malloc either.
 */
#include <stdatomic.h>
#include <string.h>

#include "check.h"
#include "objmem.h"
#include "trace/trace.h"

static _Atomic long mallocs;

void *malloc(size_t n) { return atomic_fetch_add(&mallocs, 1), om_malloc(n); }
void *calloc(size_t c, size_t n) { return atomic_fetch_add(&mallocs, 1), om_calloc(c, n); }
void *realloc(void *p, size_t n) { return atomic_fetch_add(&mallocs, 1), om_realloc(p, n); }
void free(void *p) { om_free(p); }

static void test_capture_does_not_allocate(void) {
    void *frames[64];
    /* libunwind is loaded first (libs.c: dlopen, which allocates), as
     * om_trace_start does; its first capture is its setup */
    REQUIRE(omi_trace_stack_available());
    long before = atomic_load(&mallocs);
    int n = omi_trace_stack_capture(frames, 64, NULL);
    /* at most one: glibc gives a dlopen'ed library's thread-local storage
     * its block at a thread's first use, from malloc (a re-entry the
     * observer's guard makes plain, at a point where the allocator holds
     * nothing) */
    CHECK_LE(atomic_load(&mallocs), before + 1);
    CHECK(n >= 1);
    before = atomic_load(&mallocs);
    for (int i = 0; i < 100; i++)
        omi_trace_stack_capture(frames, 64, NULL);
    CHECK_EQ(atomic_load(&mallocs), before);
}

static void test_observer_does_not_allocate(void) {
    REQUIRE_EQ(om_trace_start(32), 0);
    long before = atomic_load(&mallocs);
    for (int i = 0; i < 1000; i++)
        om_free(om_malloc((size_t)(1 + i * 13)));
    CHECK_EQ(atomic_load(&mallocs), before);
    om_trace_stop();
}

int main(int argc, char **argv) {
    static const check_case cases[] = {CHECK_CASE(test_capture_does_not_allocate),
                                       CHECK_CASE(test_observer_does_not_allocate)};
    if (!omi_trace_stack_available())
        return CHECK_SKIP;
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
