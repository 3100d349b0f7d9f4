/*
 * test_gc_oom.c — the collector when memory runs out.  Its side tables
 * (src/gc/side.h) are made on first touch, from the OS layer, in the middle
 * of a collection: a table that cannot be made leaves its objects without
 * a byte, and such an object must be kept (as if referenced from outside),
 * never freed wrongly and never crash the collection.  Sweep in the sqlite
 * manner: fail the 1st, 2nd, ... Nth OS reserve made during a collection
 * of a heap of several slots holding live and garbage cycles; after each,
 * the live structure is intact, the heap checks, and once the hooks are
 * back every garbage cycle is collected.  Tables are never freed, so each
 * failure point runs in a child forked before any collection: a fresh
 * directory every time.
 */
#include <sys/wait.h>
#include <unistd.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "objmem.h"
#include "check.h"

typedef struct node {
    om_object ob;
    om_object *next;
    intptr_t value;
} node;

static om_type node_type = {OM_TYPE_INIT, .name = "oomnode", .size = sizeof(node), .flags = OM_TYPE_GC,
                            .ref_fields = OM_REF_FIELD(node, next)};

/* ---- hooks that fail the Nth reserve ------------------------------------- */
static om_os_hooks inner;
static atomic_long countdown; /* the reserve that takes it to 0 fails; <= 0: none */
static atomic_long reserves, failed;

static void *fail_reserve(size_t size, size_t align, void *ctx) {
    (void)ctx;
    atomic_fetch_add(&reserves, 1);
    if (atomic_fetch_sub(&countdown, 1) == 1) {
        atomic_fetch_add(&failed, 1);
        return NULL;
    }
    return inner.reserve(size, align, inner.ctx);
}
static int pass_release(void *p, size_t size, void *ctx) {
    (void)ctx;
    return inner.release(p, size, inner.ctx);
}
static int pass_purge(void *p, size_t size, void *ctx) {
    (void)ctx;
    return inner.purge(p, size, inner.ctx);
}

static void hooks_fail_nth(long n) {
    atomic_store(&countdown, n);
    atomic_store(&reserves, 0);
    atomic_store(&failed, 0);
    om_os_hooks h = {fail_reserve, pass_release, pass_purge, NULL};
    om_set_os_hooks(&h);
}

static void hooks_restore(void) { om_set_os_hooks(&inner); }

/* A ring of n nodes with values base, base+1, ...; returns its first node
 * (one reference, the caller's). */
static node *ring(size_t n, intptr_t base) {
    node *first = (node *)om_new(&node_type), *prev = first;
    CHECK(first != NULL);
    first->value = base;
    for (size_t i = 1; i < n; i++) {
        node *x = (node *)om_new(&node_type);
        CHECK(x != NULL);
        x->value = base + (intptr_t)i;
        prev->next = &x->ob; /* the new node's reference */
        prev = x;
    }
    om_incref(&first->ob);
    prev->next = &first->ob;
    return first;
}

static int ring_intact(node *first, size_t n, intptr_t base) {
    node *x = first;
    for (size_t i = 0; i < n; i++, x = (node *)x->next)
        if (!x || x->value != base + (intptr_t)i || x->ob.refcount < 1)
            return 0;
    return x == first;
}

/* Garbage rings interleaved with a live one, over several 1 MiB slots: each
 * new slot a collection touches needs a table. */
#define RINGS 6

static void build(node **live, size_t n) {
    for (int r = 0; r < RINGS; r++) {
        node *g = ring(n, 1000000 * (r + 1));
        om_decref(&g->ob); /* garbage from now on */
    }
    *live = ring(n, 7);
}

/* One failure point, in this process: fail the kth reserve of the first
 * collection (k <= 0: none fails).  Returns how many reserves it made. */
static long one_point(long k, size_t n) {
    node *live;
    build(&live, n);
    hooks_fail_nth(k);
    long got = om_gc_collect(-1);
    long made = atomic_load(&reserves);
    hooks_restore();
    CHECK(got >= 0 && (size_t)got <= RINGS * n);
    if (k <= 0)
        CHECK_EQ((size_t)got, RINGS * n);
    CHECK(ring_intact(live, n, 7));
    CHECK_EQ(om_heap_check(0), 0);
    long rest = om_gc_collect(-1);
    CHECK_EQ((size_t)(got + rest), RINGS * n);
    CHECK(ring_intact(live, n, 7));
    om_decref(&live->ob);
    CHECK_EQ((size_t)om_gc_collect(-1), n);
    return made;
}

/* Each point in a child; its status: 0 passed (1 if the collection made
 * fewer than k reserves: the sweep is over), 2 failed. */
static int run_point(long k, size_t n) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid < 0)
        return 2;
    if (pid == 0) {
        long made = one_point(k, n);
        fflush(stdout);
        fflush(stderr);
        _exit(check_failures() ? 2 : made < k ? 1 : 0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) < 2, "failure point %ld: status %d", k, st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}

/* Every reserve of the first collection fails, then the 1st, 2nd, ...
 * alone, over a heap of more slots than one chunk of tables serves. */
static void test_side_tables_out_of_memory(void) {
    size_t n = (size_t)OM_TEST_SCALE(150000);
    CHECK_EQ(run_point(0, n), 0); /* nothing fails: the baseline */
    long k = 1;
    for (; k <= 40; k++)
        if (run_point(k, n) != 0)
            break;
    printf("   swept %ld failure points\n", k - 1);
    CHECK_GT(k, 2); /* at least the directory's leaf and a chunk were swept */
}

int main(int argc, char **argv) {
    om_get_os_hooks(&inner);
    static const check_case cases[] = {
        CHECK_CASE(test_side_tables_out_of_memory),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
