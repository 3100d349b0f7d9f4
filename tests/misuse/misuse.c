/*
 * misuse.c — one heap misuse per run, through the plain malloc API, for
 * misuse.sh to run under each mode of the drop-in (and under other
 * allocators, for the comparison table).
 *
 *   misuse CASE [SIZE]     run one case (SIZE: 8, 4096 or 262144 where the
 *                          case takes one: small, medium, large in objmem)
 *   misuse --list          every "CASE SIZE" pair, one a line ("-": no size)
 *
 * Every case allocates its block p of SIZE bytes between two neighbours
 * of the same size (a heap in use, not a fresh pool), writes
 * "misuse-start" to stderr, does exactly one misuse, then carries on as a
 * program would (frees what it holds, and for the reuse cases allocates
 * the same size again), writes "misuse-end" and returns 0.  An allocator
 * that detects the misuse reports it and aborts somewhere after the first
 * marker; one that does not lets the run reach the second.  A setup that
 * fails (a realloc that did not move) exits with 3 before the first.
 *
 * The misuse must really happen: every access goes through a noinline
 * function and a volatile pointer, every pointer through a volatile
 * variable, and the file is built with -fno-builtin so that no malloc/free
 * pair is folded away.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#endif
#include <alloca.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static void *volatile sink;
static volatile unsigned char acc;
static char static_buf[64];

static void say(const char *s) {
    ssize_t w = write(2, s, strlen(s));
    (void)w;
}

static void start(void) { say("misuse-start\n"); }

/* The compiler sees neither the pointer's origin nor the access. */
__attribute__((noinline)) static void *launder(void *p) {
    sink = p;
    return sink;
}
__attribute__((noinline)) static void write_range(void *p, ptrdiff_t from, size_t n) {
    for (size_t i = 0; i < n; i++)
        ((volatile unsigned char *)p)[from + (ptrdiff_t)i] = 0x5a;
}
__attribute__((noinline)) static void read_range(const void *p, ptrdiff_t from, size_t n) {
    for (size_t i = 0; i < n; i++)
        acc ^= ((const volatile unsigned char *)p)[from + (ptrdiff_t)i];
}
__attribute__((noinline)) static void do_free(void *p) { free(launder(p)); }

/* A word stored through a stale pointer: the first field of a struct. */
static void write_word(void *p) { write_range(p, 0, sizeof(void *)); }

static void setup_failed(const char *why) {
    say("misuse: setup failed: ");
    say(why);
    say("\n");
    exit(3);
}

/* A block of n bytes, filled, between two neighbours of the same size. */
typedef struct {
    char *a, *p, *b;
    size_t n;
} blocks;

static blocks take(size_t n) {
    blocks k = {malloc(n), malloc(n), malloc(n), n};
    if (!k.a || !k.p || !k.b)
        setup_failed("malloc returned NULL");
    memset(k.p, 1, n);
    return k;
}
static void give_back(blocks *k) {
    do_free(k->a);
    do_free(k->b);
}

/* A size realloc must move p to: another class, or another mapping. */
static size_t moved_size(size_t n) { return n < 4096 ? 8192 : 16 * MIB; }

static char *realloc_moved(blocks *k) {
    char *q = realloc(launder(k->p), moved_size(k->n));
    if (!q)
        setup_failed("realloc returned NULL");
    if (q == k->p)
        setup_failed("realloc did not move the block");
    return q;
}

/* ---- the cases ------------------------------------------------------------ */
typedef void (*case_fn)(size_t n);

/* overflows and underflows: bytes written (read) right past the end or
 * right before the start, as a loop running too far would */
static void overflow_write(size_t n, size_t by) {
    blocks k = take(n);
    start();
    write_range(k.p, (ptrdiff_t)n, by);
    do_free(k.p);
    give_back(&k);
}
static void overflow_write_1(size_t n) { overflow_write(n, 1); }
static void overflow_write_32(size_t n) { overflow_write(n, 32); }
static void overflow_write_1m(size_t n) { overflow_write(n, MIB); }

static void overflow_read(size_t n, size_t by) {
    blocks k = take(n);
    start();
    read_range(k.p, (ptrdiff_t)n, by);
    do_free(k.p);
    give_back(&k);
}
static void overflow_read_1(size_t n) { overflow_read(n, 1); }
static void overflow_read_32(size_t n) { overflow_read(n, 32); }
static void overflow_read_1m(size_t n) { overflow_read(n, MIB); }

static void underflow_write(size_t n, size_t by) {
    blocks k = take(n);
    start();
    write_range(k.p, -(ptrdiff_t)by, by);
    do_free(k.p);
    give_back(&k);
}
static void underflow_write_1(size_t n) { underflow_write(n, 1); }
static void underflow_write_32(size_t n) { underflow_write(n, 32); }

static void underflow_read(size_t n, size_t by) {
    blocks k = take(n);
    start();
    read_range(k.p, -(ptrdiff_t)by, by);
    do_free(k.p);
    give_back(&k);
}
static void underflow_read_1(size_t n) { underflow_read(n, 1); }
static void underflow_read_32(size_t n) { underflow_read(n, 32); }

/* aligned_alloc's block, one byte past the end */
static void aligned_overflow_1(size_t n) {
    char *p = aligned_alloc(64, n);
    if (!p)
        setup_failed("aligned_alloc returned NULL");
    start();
    write_range(p, (ptrdiff_t)n, 1);
    do_free(p);
}

/* double frees */
static void double_free(size_t n) { /* a, a */
    blocks k = take(n);
    do_free(k.p);
    start();
    do_free(k.p);
    give_back(&k);
}
static void double_free_aba(size_t n) { /* a, b, a */
    blocks k = take(n);
    do_free(k.p);
    do_free(k.b);
    start();
    do_free(k.p);
    do_free(k.a);
}
static void double_free_realloc(size_t n) { /* the old pointer after realloc moved it */
    blocks k = take(n);
    char *q = realloc_moved(&k);
    start();
    do_free(k.p);
    do_free(q);
    give_back(&k);
}
static void double_free_realloc0(size_t n) { /* realloc(p, 0) freed it (glibc) */
    blocks k = take(n);
    char *q = realloc(launder(k.p), 0);
    start();
    do_free(k.p);
    do_free(q);
    give_back(&k);
}
static void double_free_reused(size_t n) { /* a stale free of an address handed out again */
    blocks k = take(n);
    do_free(k.p);
    char *q = malloc(n);
    start();
    do_free(k.p);
    write_word(q); /* its owner goes on using it, then frees it */
    do_free(q);
    give_back(&k);
}
static void realloc_after_free(size_t n) {
    blocks k = take(n);
    do_free(k.p);
    start();
    do_free(realloc(launder(k.p), 2 * n));
    give_back(&k);
}

/* invalid frees: memory objmem never handed out, or not a block's start */
static void free_alloca(size_t n) {
    char *p = alloca(n);
    memset(p, 1, n);
    start();
    do_free(p);
}
static void free_unaligned(size_t n, size_t off) {
    blocks k = take(n);
    start();
    do_free(k.p + off);
    do_free(k.p);
    give_back(&k);
}
static void free_unaligned_1(size_t n) { free_unaligned(n, 1); }
static void free_unaligned_8(size_t n) { free_unaligned(n, 8); }
static void free_interior_16(size_t n) { free_unaligned(n, 16); }
static void free_interior_4096(size_t n) { free_unaligned(n, 4096); }

static void free_stack(size_t n) {
    (void)n;
    char buf[64];
    memset(buf, 1, sizeof buf);
    start();
    do_free(buf);
    acc ^= (unsigned char)buf[3];
}
static void free_static(size_t n) {
    (void)n;
    start();
    do_free(static_buf);
}
static void free_far(size_t n) {
    (void)n;
    start();
    do_free((void *)(uintptr_t)0x10000000000ull);
}
static void free_mmap(size_t n) {
    (void)n;
    char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        setup_failed("mmap failed");
    start();
    do_free(m + 4096);
    munmap(m, 65536);
}

/* use after free */
static void uaf_write(size_t n) {
    blocks k = take(n);
    do_free(k.p);
    start();
    write_word(k.p);
    give_back(&k);
}
static void uaf_write_later(size_t n) { /* after the program allocated other sizes */
    blocks k = take(n);
    do_free(k.p);
    void *other[16];
    for (int i = 0; i < 16; i++)
        other[i] = malloc(100 + (size_t)i * 300);
    start();
    write_word(k.p);
    for (int i = 0; i < 16; i++)
        do_free(other[i]);
    give_back(&k);
}
static void uaf_read(size_t n) {
    blocks k = take(n);
    do_free(k.p);
    start();
    read_range(k.p, 0, sizeof(void *));
    give_back(&k);
}
static void realloc_moved_write(size_t n) {
    blocks k = take(n);
    char *q = realloc_moved(&k);
    start();
    write_word(k.p);
    do_free(q);
    give_back(&k);
}
static void realloc_moved_read(size_t n) {
    blocks k = take(n);
    char *q = realloc_moved(&k);
    start();
    read_range(k.p, 0, sizeof(void *));
    do_free(q);
    give_back(&k);
}
static void realloc_zero_write(size_t n) {
    blocks k = take(n);
    char *q = realloc(launder(k.p), 0);
    start();
    write_word(k.p);
    do_free(q);
    give_back(&k);
}

/* zero-size blocks */
static void zero_write(size_t n, size_t by) {
    (void)n;
    char *p = malloc(0);
    start();
    write_range(p, 0, by);
    do_free(p);
}
static void zero_write_1(size_t n) { zero_write(n, 1); }
static void zero_write_16(size_t n) { zero_write(n, 16); }
static void zero_read_1(size_t n) {
    (void)n;
    char *p = malloc(0);
    start();
    read_range(p, 0, 1);
    do_free(p);
}

/* reuse: the program goes on allocating the same size afterwards */
static void reuse_stale_write(size_t n) { /* the old pointer writes into the new block */
    blocks k = take(n);
    do_free(k.p);
    char *q = malloc(n);
    start();
    write_word(k.p);
    do_free(q);
    give_back(&k);
}
static void reuse_after(size_t n) {
    char *q1 = malloc(n), *q2 = malloc(n);
    if (q1 && q2) {
        write_word(q1);
        write_word(q2);
    }
    do_free(q1);
    do_free(q2);
}
static void reuse_double(size_t n) { /* a, a, then two blocks of the size */
    blocks k = take(n);
    do_free(k.p);
    start();
    do_free(k.p);
    reuse_after(n);
    give_back(&k);
}
static void reuse_uaf_write(size_t n) { /* a write after free, then two blocks of the size */
    blocks k = take(n);
    do_free(k.p);
    start();
    write_word(k.p);
    reuse_after(n);
    give_back(&k);
}

static void reuse_uaf_write_byte(size_t n) { /* one byte (a flag), then two blocks of the size */
    blocks k = take(n);
    do_free(k.p);
    start();
    write_range(k.p, 0, 1);
    reuse_after(n);
    give_back(&k);
}

/* ---- the table ------------------------------------------------------------- */
#define SIZED 1   /* 8, 4096, 262144 */
#define BIG 2     /* 4096, 262144 */
#define HUGE 4    /* 262144 */
#define UNSIZED 8 /* no size */

static const struct {
    const char *name;
    case_fn fn;
    int sizes;
} cases[] = {
    {"overflow_write_1", overflow_write_1, SIZED},
    {"overflow_write_32", overflow_write_32, SIZED},
    {"overflow_write_1m", overflow_write_1m, SIZED},
    {"overflow_read_1", overflow_read_1, SIZED},
    {"overflow_read_32", overflow_read_32, SIZED},
    {"overflow_read_1m", overflow_read_1m, SIZED},
    {"underflow_write_1", underflow_write_1, SIZED},
    {"underflow_write_32", underflow_write_32, SIZED},
    {"underflow_read_1", underflow_read_1, SIZED},
    {"underflow_read_32", underflow_read_32, SIZED},
    {"aligned_overflow_1", aligned_overflow_1, SIZED},
    {"double_free", double_free, SIZED},
    {"double_free_aba", double_free_aba, SIZED},
    {"double_free_realloc", double_free_realloc, SIZED},
    {"double_free_realloc0", double_free_realloc0, SIZED},
    {"double_free_reused", double_free_reused, SIZED},
    {"realloc_after_free", realloc_after_free, SIZED},
    {"free_alloca", free_alloca, SIZED},
    {"free_unaligned_1", free_unaligned_1, SIZED},
    {"free_unaligned_8", free_unaligned_8, SIZED},
    {"free_interior_16", free_interior_16, BIG},
    {"free_interior_4096", free_interior_4096, HUGE},
    {"free_stack", free_stack, UNSIZED},
    {"free_static", free_static, UNSIZED},
    {"free_far", free_far, UNSIZED},
    {"free_mmap", free_mmap, UNSIZED},
    {"uaf_write", uaf_write, SIZED},
    {"uaf_write_later", uaf_write_later, SIZED},
    {"uaf_read", uaf_read, SIZED},
    {"realloc_moved_write", realloc_moved_write, SIZED},
    {"realloc_moved_read", realloc_moved_read, SIZED},
    {"realloc_zero_write", realloc_zero_write, SIZED},
    {"zero_write_1", zero_write_1, UNSIZED},
    {"zero_write_16", zero_write_16, UNSIZED},
    {"zero_read_1", zero_read_1, UNSIZED},
    {"reuse_stale_write", reuse_stale_write, SIZED},
    {"reuse_double", reuse_double, SIZED},
    {"reuse_uaf_write", reuse_uaf_write, SIZED},
    {"reuse_uaf_write_byte", reuse_uaf_write_byte, SIZED},
};

static const size_t sizes[] = {8, 4096, 262144};

static int size_applies(int mask, size_t n) {
    if (mask & UNSIZED)
        return n == 0;
    if (mask & SIZED)
        return n == 8 || n == 4096 || n == 262144;
    if (mask & BIG)
        return n == 4096 || n == 262144;
    return n == 262144;
}

static void list(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].sizes & UNSIZED)
            printf("%s -\n", cases[i].name);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            if (size_applies(cases[i].sizes, sizes[s]))
                printf("%s %zu\n", cases[i].name, sizes[s]);
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        list();
        return 0;
    }
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: misuse CASE [SIZE] | --list\n");
        return 2;
    }
    size_t n = argc == 3 && strcmp(argv[2], "-") != 0 ? strtoull(argv[2], NULL, 10) : 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(argv[1], cases[i].name) != 0)
            continue;
        if (!size_applies(cases[i].sizes, n)) {
            fprintf(stderr, "misuse: %s does not take size %s\n", argv[1], argc == 3 ? argv[2] : "(none)");
            return 2;
        }
        cases[i].fn(n);
        say("misuse-end\n");
        return 0;
    }
    fprintf(stderr, "misuse: unknown case %s\n", argv[1]);
    return 2;
}
