/*
 * test_internal_debug.c — debug mode through libobjmem's API (no drop-in):
 * om_debug_enable before and after the first allocation, the four
 * families (an object freed by om_free is a mismatch), om_usable_size and
 * om_owns of debug blocks, om_resize_var keeping objects in their family,
 * om_debug_check over live and quarantined blocks, and tracing's hook
 * (trace ids in the header, the tracer's stacks in reports).
 *
 * Debug mode is for the whole process, so each case runs in a child
 * (fork) whose own first allocation comes after om_debug_enable.
 */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "debug/debug.h"
#include "objmem.h"

static struct {
    int n;
    om_error_info last;
    char message[2048];
} seen;

static void record(const om_error_info *info, void *arg) {
    (void)arg;
    seen.n++;
    seen.last = *info;
    snprintf(seen.message, sizeof seen.message, "%s", info->message);
}

/* A write the compiler must make. */
__attribute__((noinline)) static void poke(void *p, ptrdiff_t i) { ((volatile char *)p)[i] = 0; }

/* Run fn in a child with debug mode on; the child's failures become the
 * parent's. */
static void in_child(void (*fn)(void), int enable) {
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        unsigned long before = check_failures();
        int rc = enable ? om_debug_enable() : 0;
        if (rc != 0) {
            fprintf(stderr, "om_debug_enable: %d\n", rc);
            _exit(3);
        }
        om_set_error_handler(record, NULL);
        fn();
        fflush(NULL);
        _exit(check_failures() != before ? 1 : 0);
    }
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

static void enable_after_first_allocation(void) {
    void *p = om_malloc(10);
    CHECK_EQ(om_debug_enable(), EBUSY);
    CHECK_EQ(om_debug_enabled(), 0);
    CHECK_EQ(om_debug_serial(p), 0);
    om_free(p);
}

static void blocks(void) {
    CHECK_EQ(om_debug_enabled(), 1);
    unsigned char *p = om_malloc(13), *z = om_calloc(3, 7), *a = om_aligned_alloc(4096, 100);
    REQUIRE(p && z && a);
    CHECK(om_debug_serial(z) == om_debug_serial(p) + 1);
    CHECK_EQ(om_usable_size(p), 13);
    CHECK(om_owns(p) && !om_owns(p + 16));
    CHECK_EQ(p[0], 0xCD);
    CHECK_EQ(z[20], 0);
    CHECK_EQ((uintptr_t)a & 4095, 0);
    unsigned char *q = om_realloc(p, 2000);
    REQUIRE(q && q != p);
    CHECK_EQ(q[12], 0xCD);
    CHECK_EQ(p[0], 0xDD); /* in the quarantine */
    CHECK(!om_owns(p));
    om_free(q);
    om_free(z);
    om_free(a);
    CHECK_EQ(om_debug_check(), 0);
    CHECK_EQ(seen.n, 0);
}

static void check_finds_everything(void) {
    char *live = om_malloc(30), *freed = om_malloc(40), *under = om_malloc(50);
    REQUIRE(live && freed && under);
    uint64_t s_live = om_debug_serial(live), s_freed = om_debug_serial(freed);
    om_free(freed);
    poke(live, 30); /* the compiler may drop a plain store out of bounds */
    poke(freed, 39);
    poke(under, -3);
    CHECK_EQ(om_debug_check(), 3);
    CHECK_EQ(seen.n, 3);
    CHECK_EQ(om_debug_check(), 0); /* reported blocks are left alone */
    om_free(live);                  /* and their frees do nothing */
    CHECK_EQ(seen.n, 3);
    (void)s_live;
    CHECK_EQ(seen.last.serial, s_freed);
    CHECK_EQ(seen.last.code, OM_ERR_WRITE_AFTER_FREE);
    CHECK_STR_HAS(seen.message, "byte 39 of the freed data");
}

static om_type plain_type = {OM_TYPE_INIT, .name = "plain", .size = 48};
static om_type var_type = {OM_TYPE_INIT, .name = "var", .size = sizeof(om_varobject), .item_size = 8};

static void objects(void) {
    om_object *o = om_new(&plain_type);
    REQUIRE(o);
    om_object *v = om_new_var(&var_type, 3);
    REQUIRE(v);
    CHECK_EQ(om_resize_var(&v, 100), 0);
    CHECK_EQ(seen.n, 0);
    om_free(o); /* not the object's family */
    CHECK_EQ(seen.n, 1);
    CHECK_EQ(seen.last.code, OM_ERR_FAMILY_MISMATCH);
    CHECK_EQ(seen.last.family, OM_FAMILY_OBJECT);
    CHECK_EQ(seen.last.free_family, OM_FAMILY_MALLOC);
    om_decref(o); /* the right way still works */
    om_decref(v);
    om_freelists_clear();
    CHECK_EQ(om_debug_check(), 0);
    CHECK_EQ(seen.n, 1);
}

/* With tracing on, a report names where the block was allocated and where
 * it was freed (the tracer's stacks, debug mode's ids). */
static void tracing(void) {
    char buf[16];
    CHECK_EQ(omi_debug_set_trace_id(buf, 1), EINVAL); /* not a debug block */
    int rc = om_trace_start(8);
    if (rc == ENOSYS)
        return; /* built without libunwind: nothing to name */
    REQUIRE_EQ(rc, 0);
    char *p = om_malloc(77), *q = om_malloc(5);
    CHECK(omi_debug_trace_id(p) != 0);
    CHECK_EQ(omi_debug_set_trace_id(q, 11), 0);
    CHECK_EQ(omi_debug_trace_id(q), 11);
    om_free(p);
    poke(p, 0);
    CHECK_EQ(om_debug_check(), 1);
    CHECK_STR_HAS(seen.message, "; allocated at ");
    CHECK_STR_HAS(seen.message, "; freed at ");
    om_free(q);
    om_trace_stop();
}

static void test_enable_busy(void) { in_child(enable_after_first_allocation, 0); }
static void test_blocks(void) { in_child(blocks, 1); }
static void test_check(void) { in_child(check_finds_everything, 1); }
static void test_objects(void) { in_child(objects, 1); }
static void test_tracing(void) { in_child(tracing, 1); }

int main(int argc, char **argv) {
    static const check_case cases[] = {CHECK_CASE(test_enable_busy), CHECK_CASE(test_blocks), CHECK_CASE(test_check),
                                       CHECK_CASE(test_objects), CHECK_CASE(test_tracing)};
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
