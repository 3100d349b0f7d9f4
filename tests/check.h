/*
 * check.h — objmem's in-tree test harness (header only).
 *
 * A test file defines static void functions and hands them to check_main():
 *
 *     static void test_basic(void) { CHECK(1 + 1 == 2); CHECK_EQ(x, 3); }
 *     int main(int argc, char **argv) {
 *         static const check_case cases[] = { CHECK_CASE(test_basic) };
 *         return check_main(cases, CHECK_COUNT(cases), argc, argv);
 *     }
 *
 * CHECK* record a failure and go on; REQUIRE* record a failure and return
 * from the current (void) function, for when going on would crash.  Each
 * failure prints file:line, the expression and the values.  The last line a
 * test prints is exactly "N passed, N failed"; the exit status is 0 only when
 * nothing failed.  `prog -l` lists the cases, `prog NAME...` runs only those.
 * Counters are atomic, so checks may run on any thread.
 *
 * OM_TEST_SANITIZED is 1 under ASan/TSan/UBSan builds (the compiler's own
 * macros, or -DOM_TEST_SANITIZED=1 from CMake), and OM_TEST_SCALE(n) shrinks
 * iteration counts there.  A test that cannot run in a configuration returns
 * CHECK_SKIP (77), which CTest reports as skipped.
 */
#ifndef OM_TEST_CHECK_H
#define OM_TEST_CHECK_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define OM_TEST_SANITIZER_FEATURE 1
#endif
#if __has_feature(thread_sanitizer)
#define OM_TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(OM_TEST_TSAN)
#define OM_TEST_TSAN 1
#endif
#ifndef OM_TEST_TSAN
#define OM_TEST_TSAN 0
#endif

#ifndef OM_TEST_SANITIZED
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    defined(OM_TEST_SANITIZER_FEATURE)
#define OM_TEST_SANITIZED 1
#else
#define OM_TEST_SANITIZED 0
#endif
#endif

/* Iteration counts: full in plain builds, a tenth (at least 1) under sanitizers. */
#define OM_TEST_SCALE(n) (OM_TEST_SANITIZED ? ((n) / 10 > 0 ? (n) / 10 : 1) : (n))

#define CHECK_SKIP 77

typedef struct check_case {
    const char *name;
    void (*fn)(void);
} check_case;

#define CHECK_CASE(f) { #f, f }
#define CHECK_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static atomic_ulong check_passed_n;
static atomic_ulong check_failed_n;

static inline int check_record(int ok, const char *file, int line, const char *expr)
{
    if (ok) {
        atomic_fetch_add(&check_passed_n, 1);
        return 1;
    }
    atomic_fetch_add(&check_failed_n, 1);
    fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, expr);
    fflush(stderr);
    return 0;
}

/* Integer comparison with both sides converted to uintmax_t: exact for the
 * sizes, counts and addresses these tests compare; do not order negatives. */
static inline int check_cmp(uintmax_t a, uintmax_t b, const char *op, const char *file,
                            int line, const char *ea, const char *eb)
{
    int ok;
    if (strcmp(op, "==") == 0)
        ok = a == b;
    else if (strcmp(op, "!=") == 0)
        ok = a != b;
    else if (strcmp(op, "<=") == 0)
        ok = a <= b;
    else if (strcmp(op, "<") == 0)
        ok = a < b;
    else if (strcmp(op, ">=") == 0)
        ok = a >= b;
    else
        ok = a > b;
    if (ok) {
        atomic_fetch_add(&check_passed_n, 1);
        return 1;
    }
    atomic_fetch_add(&check_failed_n, 1);
    fprintf(stderr, "%s:%d: FAILED: %s %s %s  (%" PRIuMAX " [0x%" PRIxMAX "] vs %" PRIuMAX
                    " [0x%" PRIxMAX "])\n",
            file, line, ea, op, eb, a, a, b, b);
    fflush(stderr);
    return 0;
}

#define CHECK(cond) ((void)check_record(!!(cond), __FILE__, __LINE__, #cond))
#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (!check_record(!!(cond), __FILE__, __LINE__, #cond)) {            \
            fprintf(stderr, "    ");                                         \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
        }                                                                    \
    } while (0)
#define CHECK_OP_(a, op, b) \
    check_cmp((uintmax_t)(a), (uintmax_t)(b), #op, __FILE__, __LINE__, #a, #b)
#define CHECK_EQ(a, b) ((void)CHECK_OP_(a, ==, b))
#define CHECK_NE(a, b) ((void)CHECK_OP_(a, !=, b))
#define CHECK_LE(a, b) ((void)CHECK_OP_(a, <=, b))
#define CHECK_LT(a, b) ((void)CHECK_OP_(a, <, b))
#define CHECK_GE(a, b) ((void)CHECK_OP_(a, >=, b))
#define CHECK_GT(a, b) ((void)CHECK_OP_(a, >, b))
#define CHECK_PTR_EQ(a, b) CHECK_EQ((uintptr_t)(const void *)(a), (uintptr_t)(const void *)(b))
#define CHECK_STR_HAS(hay, needle)                                                       \
    ((void)check_record((hay) != NULL && strstr((hay), (needle)) != NULL, __FILE__,     \
                        __LINE__, "strstr(" #hay ", " #needle ")"))

#define REQUIRE(cond)                                                  \
    do {                                                               \
        if (!check_record(!!(cond), __FILE__, __LINE__, #cond))       \
            return;                                                    \
    } while (0)
#define REQUIRE_EQ(a, b)              \
    do {                              \
        if (!CHECK_OP_(a, ==, b))     \
            return;                   \
    } while (0)

static inline unsigned long check_failures(void)
{
    return atomic_load(&check_failed_n);
}

static inline int check_selected(const char *name, int argc, char **argv)
{
    int any = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        any = 1;
        if (strcmp(argv[i], name) == 0)
            return 1;
    }
    return !any;
}

static inline int check_main(const check_case *cases, size_t n, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-l") == 0) {
            for (size_t k = 0; k < n; k++)
                printf("%s\n", cases[k].name);
            return 0;
        }
    }
    size_t ran = 0;
    for (size_t k = 0; k < n; k++) {
        if (!check_selected(cases[k].name, argc, argv))
            continue;
        ran++;
        unsigned long before = check_failures();
        printf("-- %s\n", cases[k].name);
        fflush(stdout);
        cases[k].fn();
        if (check_failures() != before)
            printf("-- %s: FAILED\n", cases[k].name);
        fflush(stdout);
    }
    if (ran == 0)
        check_record(0, __FILE__, __LINE__, "no test case matched the command line");
    unsigned long passed = atomic_load(&check_passed_n), failed = check_failures();
    printf("%lu passed, %lu failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

#endif /* OM_TEST_CHECK_H */
