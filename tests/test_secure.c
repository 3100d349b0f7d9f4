/*
 * test_secure.c — hardened mode (OBJMEM_SECURE, objmem.h section 6), run
 * with OBJMEM_SECURE=1 in its environment (CTest sets it; OBJMEM_SECURE=2
 * for the zero_* cases).  Each misuse is caught where the mode promises:
 * a corrupted free-list link before it is followed (the pool quarantined,
 * nothing handed out twice), a canary or pad byte at the free, a double
 * free at the second free, a foreign free even with OBJMEM_REPORT_FOREIGN
 * off; carving is shuffled; a write past a large block's pages or into a
 * freed large block faults (a forked child, as test_death does); blocks
 * read zero after their free with OBJMEM_SECURE=2.  A handler that
 * returns records each report (the call is then a no-op).
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include "objmem.h"
#include "check.h"

static struct {
    int calls;
    om_error_code code;
    const void *pointer;
    char operation[64];
} rec;

static void record(const om_error_info *info, void *arg) {
    (void)arg;
    rec.calls++;
    rec.code = info->code;
    rec.pointer = info->pointer;
    snprintf(rec.operation, sizeof rec.operation, "%s", info->operation ? info->operation : "");
}

static void reset(void) {
    memset(&rec, 0, sizeof rec);
    om_set_error_handler(record, NULL);
}

static void expect(om_error_code code, const char *op, const void *p) {
    CHECK_EQ(rec.calls, 1);
    CHECK_MSG(rec.code == code, "code %s, want %s", om_error_name(rec.code), om_error_name(code));
    CHECK_MSG(strcmp(rec.operation, op) == 0, "operation \"%s\", want \"%s\"", rec.operation, op);
    CHECK_PTR_EQ(rec.pointer, p);
}

/* A write (a read) the compiler must not see as out of bounds. */
static __attribute__((noinline)) void poke(char *p, long off, char c) {
    volatile char *v = p;
    v[off] = c;
}
static __attribute__((noinline)) char peek(const char *p, long off) {
    const volatile char *v = p;
    return v[off];
}

static int level(void) {
    const char *s = getenv("OBJMEM_SECURE");
    return s ? atoi(s) : 0;
}

/* A free block's first word is its free-list link: overwritten, the next
 * allocation of its class reports it instead of following it, and the
 * block is never handed out (its pool is quarantined). */
static void test_link_corrupt(void) {
    reset();
    char *keep = om_malloc(40);
    char *p = om_malloc(40);
    REQUIRE(keep && p);
    om_free(p); /* the head of its pool's free list */
    memset(p, 0x41, sizeof(void *));
    void *q = om_malloc(40);
    expect(OM_ERR_CORRUPTION, "om_malloc", p);
    CHECK(q != p);
    for (int i = 0; i < 200; i++) {
        void *r = om_malloc(40);
        CHECK(r != p);
        CHECK(r != NULL);
    }
    CHECK_EQ(rec.calls, 1);
    om_free(q);
    om_free(keep);
}

/* Write by bytes from the end of a block of size bytes, as an overflow
 * does (a run from the first byte past the request). */
/* A lone byte written into the pad past its first byte (the fast path and
 * the checked ones check the same 8 bytes). */
static void test_pad_word(void) {
    reset();
    char *p = om_malloc(20); /* 12 pad bytes */
    REQUIRE(p);
    poke(p, 21, (char)~peek(p, 21));
    om_free(p);
    expect(OM_ERR_BUFFER_OVERFLOW, "om_free", p);
}

/* The pad byte is the process's, random: a run of one value passes when
 * it is that byte (1 in 255), so a second block gets another value. */
static void overflow_case(size_t size, size_t by) {
    char *p = NULL;
    for (int v = 0; v < 2; v++) {
        reset();
        p = om_malloc(size);
        REQUIRE(p);
        memset(p, 1, size);
        for (size_t i = 0; i < by; i++)
            poke(p, (long)(size + i), (char)('x' + v));
        om_free(p);
        if (rec.calls)
            break;
    }
    expect(OM_ERR_BUFFER_OVERFLOW, "om_free", p);
}

/* One byte past the request (not past the class's size) is caught, and so
 * is every longer run. */
static void test_canary_overflow(void) {
    size_t sizes[] = {0, 1, 8, 20, 100, 500, 4096, 5000, 256 * 1024 - 100};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        overflow_case(sizes[i], 1);
    overflow_case(8, 8);
    overflow_case(4096, 32);
    overflow_case(4096, 64);
}

/* A write just below a block is caught at its free: the neighbour's
 * trailer below it is checked (by the checked paths; the hardened build's
 * fast path catches it at the neighbour's free).  The neighbour is a live
 * block of the test (a free one would be caught at its reuse, by a later
 * test). */
static void test_underflow(void) {
    reset();
    enum { N = 128 };
    char *b[N], *top = NULL, *below = NULL;
    for (int i = 0; i < N && !top; i++) {
        b[i] = om_malloc(24); /* 32-byte blocks */
        for (int j = 0; j < i && !top; j++)
            if ((b[i] - b[j] == 32 || b[j] - b[i] == 32) &&
                ((uintptr_t)(b[i] > b[j] ? b[i] : b[j]) & (16384 - 1)) != 0) { /* not across two pools */
                top = b[i] > b[j] ? b[i] : b[j];
                below = b[i] > b[j] ? b[j] : b[i];
            }
    }
    REQUIRE(top);
    poke(top, -1, (char)~peek(top, -1)); /* changes the byte, whatever it held */
    om_free(top);
#if OM_TEST_HARDENED
    /* The hardened build's fast path does not look below the block. */
    CHECK_EQ(rec.calls, 0);
#else
    expect(OM_ERR_BUFFER_UNDERFLOW, "om_free", top);
#endif
    reset();
    om_free(below); /* its trailer is the byte written */
    expect(OM_ERR_BUFFER_OVERFLOW, "om_free", below);
#if OM_TEST_HARDENED
    /* top went back: take it again and keep it, or a later case's block
     * there would be reported for what lies below it */
    reset();
    int found = 0;
    for (int i = 0; i < 4096 && !found; i++)
        found = om_malloc(24) == top;
    CHECK(found);
    CHECK_EQ(rec.calls, 0);
#endif
}

static void double_free_case(size_t size) {
    reset();
    char *a = om_malloc(size), *b = om_malloc(size);
    om_free(a);
    CHECK_EQ(rec.calls, 0);
    om_free(a); /* a, a */
    expect(OM_ERR_DOUBLE_FREE, "om_free", a);
    reset();
    om_free(b);
    om_free(a); /* a, b, a */
    expect(OM_ERR_DOUBLE_FREE, "om_free", a);
}

static void test_double_free(void) {
    double_free_case(8);
    double_free_case(48); /* a plain block: no trailer while live */
    double_free_case(4096);
    double_free_case(256 * 1024);
}

/* A double free of a block whose pool went back to its arena (every block
 * freed, om_trim) is reported, not taken for a live block of a pool that
 * has none (which crashed, or let a realloc hand the block out again). */
static void test_double_free_returned_pool(void) {
    size_t sizes[] = {40, 48};
    for (size_t s = 0; s < 2; s++) {
        reset();
        enum { N = 1000 };
        char *b[N];
        for (int i = 0; i < N; i++)
            REQUIRE(b[i] = om_malloc(sizes[s]));
        for (int i = 0; i < N; i++)
            om_free(b[i]);
        om_trim(0);
        CHECK_EQ(rec.calls, 0);
        om_free(b[0]);
        expect(OM_ERR_DOUBLE_FREE, "om_free", b[0]);
        reset();
        CHECK(om_realloc(b[1], sizes[s] - 4) == NULL);
        expect(OM_ERR_DOUBLE_FREE, "om_realloc", b[1]);
    }
}

/* A freed block of a tagged list keeps a copy of its tag in its trailer:
 * an underflow from the block above changes it, and the pop that would
 * hand the block out again reports it (the block is never handed out). */
static void test_underflow_into_free(void) {
    reset();
    enum { N = 128 };
    char *b[N], *top = NULL, *below = NULL;
    for (int i = 0; i < N && !top; i++) {
        b[i] = om_malloc(24); /* 32-byte blocks of a tagged list */
        for (int j = 0; j < i && !top; j++)
            if (b[i] - b[j] == 32 && ((uintptr_t)b[i] & (16384 - 1)) != 0) {
                top = b[i];
                below = b[j];
            }
    }
    REQUIRE(top);
    om_free(below);
    poke(top, -1, (char)~peek(top, -1));
    for (int i = 0; i < 4096 && !rec.calls; i++)
        CHECK(om_malloc(24) != below);
    expect(OM_ERR_CORRUPTION, "om_malloc", below);
}

/* A block handed out does not show its free tag (keyed with the
 * process's secrets) to the program. */
static void test_no_stale_tag(void) {
    reset();
    for (int i = 0; i < 1000; i++) {
        uintptr_t *p = om_malloc((size_t)(i % 60) * 8 + 24);
        REQUIRE(p);
        if (p[2] != 0) {
            CHECK_MSG(0, "block %p of %d bytes shows word 2: %#lx", (void *)p, (i % 60) * 8 + 24, (unsigned long)p[2]);
            break;
        }
        if (i % 3)
            om_free(p);
    }
    CHECK_EQ(rec.calls, 0);
}

/* A request that leaves its class less than 8 bytes (48 of 48, 508 of
 * 512) gets a plain block: no trailer, so no canary, but its whole size
 * usable, and the pointer still checked at its free.  (OBJMEM_SECURE=2
 * gives every block its trailer.) */
static void test_plain_blocks(void) {
    size_t sizes[] = {25, 32, 48, 508, 512};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        reset();
        size_t n = sizes[i], cls = (n + 15) & ~(size_t)15;
        char *p = om_malloc(n);
        REQUIRE(p);
        om_block_info info;
        CHECK_EQ(om_block_describe(p, &info), 0);
        if (level() >= 2)
            CHECK(info.block_size >= n + 8); /* a trailer */
        else
            CHECK_EQ(info.block_size, cls);
        CHECK_EQ(om_usable_size(p), level() >= 2 ? n : cls);
        memset(p, 7, om_usable_size(p));
        om_free(p + 16);
        expect(OM_ERR_INTERIOR_POINTER, "om_free", p + 16);
        reset();
        om_free(p);
        CHECK_EQ(rec.calls, 0);
        CHECK(!om_owns(p));
        om_free(p);
        expect(OM_ERR_DOUBLE_FREE, "om_free", p);
    }
}

/* A carve links its blocks in a random order, not by address. */
static void test_shuffled(void) {
    reset();
    enum { N = 64 };
    char *b[N];
    int ascending = 1, descending = 1;
    for (int i = 0; i < N; i++) {
        b[i] = om_malloc(200);
        if (i && b[i] < b[i - 1])
            ascending = 0;
        if (i && b[i] > b[i - 1])
            descending = 0;
    }
    CHECK(!ascending && !descending);
    for (int i = 0; i < N; i++)
        om_free(b[i]);
    CHECK_EQ(rec.calls, 0);
}

static void test_foreign(void) {
    reset();
    _Alignas(16) char stack[64];
    om_free(stack);
    expect(OM_ERR_FOREIGN_POINTER, "om_free", stack);
    reset();
    char *p = om_malloc(64);
    om_free(p + 1);
    expect(OM_ERR_MISALIGNED_POINTER, "om_free", p + 1);
    reset();
    om_free(p + 16);
    expect(OM_ERR_INTERIOR_POINTER, "om_free", p + 16);
    reset();
    om_free(p);
    CHECK_EQ(rec.calls, 0);
}

/* The child's death by signal, or 0 if it lived. */
static int child_signal(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void write_past_large(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = 256 * 1024 - 8;
    volatile char *p = om_malloc(size);
    p[(size + 8 + page - 1) & ~(page - 1)] = 1; /* the page after the trailer's */
}

static void write_after_large_free(void) {
    volatile char *p = om_malloc(300 * 1024);
    om_free((void *)p);
    p[100] = 1;
}

static void test_large_guard(void) {
    if (OM_TEST_SANITIZED)
        return; /* the sanitizer's SIGSEGV handler turns the fault into an exit */
    CHECK_EQ(child_signal(write_past_large), SIGSEGV);
    CHECK_EQ(child_signal(write_after_large_free), SIGSEGV);
}

/* Sizes, alignments, realloc and calloc behave as in default mode. */
static void test_api_sound(void) {
    reset();
    uint64_t x = 88172645463325252u;
    void *live[256] = {0};
    size_t sz[256] = {0};
    for (int i = 0; i < OM_TEST_SCALE(20000); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x % 256);
        if (live[k]) {
            unsigned char *c = live[k];
            for (size_t j = 0; j < sz[k]; j++)
                if (c[j] != (unsigned char)k) {
                    CHECK_MSG(0, "block %p byte %zu changed", live[k], j);
                    break;
                }
            if (x & 256) {
                size_t n = (size_t)(x >> 20) % 3000;
                unsigned char *q = om_realloc(live[k], n);
                REQUIRE(q);
                memset(q, k, n);
                live[k] = q;
                sz[k] = n;
                continue;
            }
            om_free(live[k]);
            live[k] = NULL;
            continue;
        }
        size_t n = (x >> 8) % 8 == 0 ? (size_t)(x >> 20) % 300000 : (size_t)(x >> 20) % 700;
        size_t align = (size_t)16 << ((x >> 40) % 6);
        void *p = (x & 1) ? om_aligned_alloc(align, n) : om_calloc(1, n);
        REQUIRE(p);
        if (x & 1)
            CHECK_EQ((uintptr_t)p % align, 0);
        else
            for (size_t j = 0; j < n; j++)
                if (((unsigned char *)p)[j]) {
                    CHECK_MSG(0, "calloc block %p byte %zu not zero", p, j);
                    break;
                }
        /* the request, or a plain block's whole size (less than 8 more) */
        CHECK_MSG(om_usable_size(p) >= n && om_usable_size(p) < n + 8, "usable %zu for %zu",
                  om_usable_size(p), n);
        CHECK(om_owns(p));
        memset(p, k, n);
        live[k] = p;
        sz[k] = n;
    }
    for (int k = 0; k < 256; k++)
        om_free(live[k]);
    CHECK_EQ(rec.calls, 0);
    CHECK_EQ(om_heap_check(0), 0);
}

/* Blocks freed by another thread: no report, and their double free is
 * still caught at the free. */
static void *free_them(void *arg) {
    void **v = arg;
    for (int i = 0; i < 1000; i++)
        om_free(v[i]);
    return NULL;
}

static void test_threads(void) {
    reset();
    static void *v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = om_malloc((size_t)(i % 300) + 1);
    pthread_t t;
    pthread_create(&t, NULL, free_them, v);
    pthread_join(t, NULL);
    CHECK_EQ(rec.calls, 0);
    for (int i = 0; i < 2000; i++)
        om_free(om_malloc((size_t)(i % 300) + 1)); /* reuse what came back */
    CHECK_EQ(rec.calls, 0);
    om_free(v[7]);
    expect(OM_ERR_DOUBLE_FREE, "om_free", v[7]);
}

/* OBJMEM_SECURE=2: a freed block reads zero, and a write into it is
 * caught when it is handed out again. */
static void test_zero_on_free(void) {
    if (level() < 2)
        return;
    reset();
    unsigned char *keep = om_malloc(100), *p = om_malloc(100);
    memset(p, 0xAA, 100);
    om_free(p);
    for (size_t i = 3 * sizeof(void *); i < 100; i++) /* past the link, the mark and the tag */
        if (p[i]) {
            CHECK_MSG(0, "byte %zu of a freed block is %#x", i, p[i]);
            break;
        }
    p[50] = 1;
    void *q = om_malloc(100);
    expect(OM_ERR_WRITE_AFTER_FREE, "om_malloc", p);
    CHECK(q != p);
    om_free(q);
    om_free(keep);
}

int main(int argc, char **argv) {
    if (level() < 1) {
        fprintf(stderr, "test_secure: run with OBJMEM_SECURE=1 or 2\n");
        return 1;
    }
    static const check_case cases[] = {
        CHECK_CASE(test_link_corrupt), CHECK_CASE(test_canary_overflow), CHECK_CASE(test_underflow),
        CHECK_CASE(test_double_free),  CHECK_CASE(test_plain_blocks),    CHECK_CASE(test_shuffled),
        CHECK_CASE(test_double_free_returned_pool), CHECK_CASE(test_underflow_into_free),
        CHECK_CASE(test_no_stale_tag), CHECK_CASE(test_pad_word),
        CHECK_CASE(test_foreign),
        CHECK_CASE(test_large_guard),  CHECK_CASE(test_api_sound),       CHECK_CASE(test_threads),
        CHECK_CASE(test_zero_on_free),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
