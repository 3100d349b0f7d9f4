/*
 * test_death.c — misuse that the default error handler must catch: it
 * prints one line naming the problem and aborts.
 *
 *   test_death CASE     fork a child that commits one misuse, then print
 *                       "died of SIGABRT: <the child's stderr>" (CTest
 *                       matches that line; a crash of the test process
 *                       itself would count as a failure whatever it printed)
 *                       or "DEATH-TEST-SURVIVED", which fails the test
 *   test_death --child CASE   the misuse itself, without the fork
 *   test_death --all    every case, each checked for SIGABRT and for
 *                       om_error_name(code), the operation and the offending
 *                       pointer on stderr
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "testutil.h"

/* Each case returns the pointer it is about to misuse, via announce(),
 * then misuses it. */
static void announce(const void *p)
{
    printf("ptr=%p\n", p);
    fflush(stdout);
}

static void case_free_stack(void)
{
    _Alignas(16) char buf[64];
    memset(buf, 0, sizeof buf);
    announce(buf);
    om_free(buf);
}

static void case_free_libc(void)
{
    void *p = aligned_alloc(16, 64); /* libc's, 16-aligned so it is not "misaligned" */
    if (p == NULL)
        abort();
    announce(p);
    om_free(p);
    free(p);
}

static void case_free_misaligned_1(void)
{
    char *p = om_malloc(64);
    announce(p + 1);
    om_free(p + 1);
}

static void case_free_misaligned_8(void)
{
    char *p = om_malloc(64);
    announce(p + 8);
    om_free(p + 8);
}

static void case_free_interior_checked(void)
{
    om_option_set(OM_OPTION_CHECKED, 1);
    char *p = om_malloc(64);
    announce(p + 16);
    om_free(p + 16);
}

static void double_free(size_t n)
{
    void *keep = om_malloc(n); /* the pool stays in use */
    void *p = om_malloc(n);
    om_free(p);
    announce(p);
    om_free(p);
    om_free(keep);
}

/* Without checked mode a small block freed twice is caught when it would be
 * handed out a second time (include/objmem.h, section 2). */
static void case_double_free_small(void)
{
    void *keep = om_malloc(48);
    void *p = om_malloc(48);
    om_free(p);
    om_free(p);
    announce(p);
    void *a = om_malloc(48);
    void *b = om_malloc(48); /* would be p again: must abort instead */
    printf("got %p and %p\n", a, b);
    om_free(keep);
}

static void case_double_free_small_checked(void)
{
    om_option_set(OM_OPTION_CHECKED, 1);
    double_free(48);
}
static void case_double_free_medium(void) { double_free(5000); }
static void case_double_free_large(void) { double_free(300000); }

static void case_realloc_foreign(void)
{
    _Alignas(16) char buf[64];
    memset(buf, 0, sizeof buf);
    announce(buf);
    void *q = om_realloc(buf, 200);
    printf("om_realloc returned %p\n", q);
}

/* ---- the object layer: the checked reference counts (what OM_DEBUG's
 * om_incref/om_decref call) name the operation and the object's type */

/* A float parked on its free list, decref'd again. */
static void case_decref_dead_float(void)
{
    om_object *f = ex_float_new(1.5);
    om_decref_checked(f, __FILE__, __LINE__);
    announce(f);
    om_decref_checked(f, __FILE__, __LINE__);
}

/* A list whose count is already 0 (a missing incref). */
static void case_decref_below_zero(void)
{
    om_object *l = ex_list_new(0);
    l->refcount = 0;
    announce(l);
    om_decref_checked(l, __FILE__, __LINE__);
}

/* Checked mode keeps the type of an object given back to the allocator. */
static void case_incref_freed_dict_checked(void)
{
    om_option_set(OM_OPTION_CHECKED, 1);
    om_object *d = ex_dict_new();
    om_decref_checked(d, __FILE__, __LINE__);
    announce(d);
    om_incref_checked(d, __FILE__, __LINE__);
}

static void case_incref_not_object(void)
{
    _Alignas(16) ex_float fake;
    memset(&fake, 0, sizeof fake);
    fake.ob.refcount = 1;
    fake.ob.type = &ex_float_type;
    announce(&fake);
    om_incref_checked(&fake.ob, __FILE__, __LINE__);
}

static void *take_and_drop_lock(void *arg)
{
    om_lock_acquire();
    om_lock_release();
    return arg;
}

/* Another thread has used the runtime lock: objects need it now. */
static void case_incref_without_lock(void)
{
    om_object *s = ex_str_from("unlocked");
    pthread_t t;
    if (pthread_create(&t, NULL, take_and_drop_lock, NULL) != 0 || pthread_join(t, NULL) != 0)
        abort();
    announce(s);
    om_incref_checked(s, __FILE__, __LINE__);
}

static void case_lock_release_unheld(void)
{
    announce(NULL);
    om_lock_release();
}

typedef struct death_case {
    const char *name;
    void (*fn)(void);
    om_error_code code;
    const char *operation;
} death_case;

static const death_case cases[] = {
    { "free_stack", case_free_stack, OM_ERR_FOREIGN_POINTER, "om_free" },
    { "free_libc", case_free_libc, OM_ERR_FOREIGN_POINTER, "om_free" },
    { "free_misaligned_1", case_free_misaligned_1, OM_ERR_MISALIGNED_POINTER, "om_free" },
    { "free_misaligned_8", case_free_misaligned_8, OM_ERR_MISALIGNED_POINTER, "om_free" },
    { "free_interior_checked", case_free_interior_checked, OM_ERR_INTERIOR_POINTER, "om_free" },
    { "double_free_small", case_double_free_small, OM_ERR_DOUBLE_FREE, "om_malloc" },
    { "double_free_small_checked", case_double_free_small_checked, OM_ERR_DOUBLE_FREE, "om_free" },
    { "double_free_medium", case_double_free_medium, OM_ERR_DOUBLE_FREE, "om_free" },
    { "double_free_large", case_double_free_large, OM_ERR_DOUBLE_FREE, "om_free" },
    { "realloc_foreign", case_realloc_foreign, OM_ERR_FOREIGN_POINTER, "om_realloc" },
    { "decref_dead_float", case_decref_dead_float, OM_ERR_USE_AFTER_FREE, "om_decref" },
    { "decref_below_zero", case_decref_below_zero, OM_ERR_REFCOUNT, "om_decref" },
    { "incref_freed_dict_checked", case_incref_freed_dict_checked, OM_ERR_USE_AFTER_FREE, "om_incref" },
    { "incref_not_object", case_incref_not_object, OM_ERR_BAD_OBJECT, "om_incref" },
    { "incref_without_lock", case_incref_without_lock, OM_ERR_LOCK, "om_incref" },
    { "lock_release_unheld", case_lock_release_unheld, OM_ERR_LOCK, "om_lock_release" },
};

static int read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    return (int)n;
}

static char obuf[4096], ebuf[8192];

/* Run dc in a child with stdout and stderr captured; its wait status. */
static int run_child(const death_case *dc)
{
    int out[2], err[2];
    obuf[0] = ebuf[0] = '\0';
    if (pipe(out) != 0 || pipe(err) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        dc->fn();
        printf("DEATH-TEST-SURVIVED\n");
        fflush(stdout);
        _exit(0);
    }
    close(out[1]);
    close(err[1]);
    read_all(out[0], obuf, sizeof obuf);
    read_all(err[0], ebuf, sizeof ebuf);
    close(out[0]);
    close(err[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

static int died_of_abort(int status)
{
    return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void fork_one(const death_case *dc)
{
    int status = run_child(dc);
    CHECK_MSG(died_of_abort(status),
              "%s: child status 0x%x, not SIGABRT; stdout: %s stderr: %s", dc->name, status, obuf,
              ebuf);
    const char *name = om_error_name(dc->code);
    CHECK_MSG(strstr(ebuf, name) != NULL, "%s: stderr lacks \"%s\": %s", dc->name, name, ebuf);
    CHECK_MSG(strstr(ebuf, dc->operation) != NULL, "%s: stderr lacks \"%s\": %s", dc->name,
              dc->operation, ebuf);
    const char *ptr = strstr(obuf, "ptr=");
    CHECK_MSG(ptr != NULL, "%s: no pointer announced", dc->name);
    if (ptr != NULL) {
        char want[64];
        size_t len = strcspn(ptr + 4, "\n");
        snprintf(want, sizeof want, "%.*s", (int)len, ptr + 4);
        CHECK_MSG(strstr(ebuf, want) != NULL, "%s: stderr lacks the pointer %s: %s", dc->name,
                  want, ebuf);
    }
    /* one line: the message and its newline, nothing after */
    const char *nl = strchr(ebuf, '\n');
    CHECK_MSG(nl != NULL && nl[1] == '\0', "%s: message is not one line: %s", dc->name, ebuf);
}

static void test_all_forked(void)
{
    for (size_t i = 0; i < CHECK_COUNT(cases); i++)
        fork_one(&cases[i]);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--all") == 0) {
        static const check_case all[] = { CHECK_CASE(test_all_forked) };
        char *none[] = { argv[0], NULL };
        return check_main(all, 1, 1, none);
    }
    const char *name = argc == 2 ? argv[1] : argc == 3 && strcmp(argv[1], "--child") == 0 ? argv[2] : NULL;
    for (size_t i = 0; name != NULL && i < CHECK_COUNT(cases); i++) {
        if (strcmp(name, cases[i].name) != 0)
            continue;
        if (argc == 3) {
            cases[i].fn();
            printf("DEATH-TEST-SURVIVED\n");
            return 0;
        }
        int status = run_child(&cases[i]);
        fputs(obuf, stdout);
        if (died_of_abort(status))
            printf("died of SIGABRT: %s", ebuf);
        else
            printf("DEATH-TEST-SURVIVED (status 0x%x): %s", (unsigned)status, ebuf);
        return 0;
    }
    fprintf(stderr, "usage: %s --all | [--child] CASE\ncases:", argv[0]);
    for (size_t i = 0; i < CHECK_COUNT(cases); i++)
        fprintf(stderr, " %s", cases[i].name);
    fprintf(stderr, "\n");
    return 2;
}
