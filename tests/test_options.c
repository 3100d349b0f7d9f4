/*
 * test_options.c — OBJMEM_* options read from the environment, seen from
 * outside: this program runs itself as a child (fork + execve of
 * /proc/self/exe) with a chosen environment, reads the child's stdout and
 * stderr through pipes, and checks
 *   - every bad value (abc, -1, 1.5, 0x10, 10000000000000G, ...) warns
 *     exactly once, without OBJMEM_VERBOSE, naming the variable, the value
 *     and the value used, and the child sees that value (om_option_get);
 *   - numbers too big are clamped to the maximum, never wrapped;
 *   - an unknown OBJMEM_ name warns once, the variables objmem itself uses
 *     (OBJMEM_STATS_JSON, OBJMEM_MALLOC_LIB) and good values do not;
 *   - OBJMEM_VERBOSE=1 lists every option in force with its origin;
 *   - under the drop-in (LD_PRELOAD of libobjmem-malloc.so, given at build
 *     time as OM_TEST_MALLOC_LIB), alone or with this program's libobjmem,
 *     each warning and the list still appear once;
 *   - OBJMEM_STATS=1 in a program linked with libobjmem writes the report at
 *     exit once, after a line naming the pid and the command; _exit writes
 *     none.
 * Linked with the shared libobjmem (the case of a program that links it).
 */
#include <errno.h>
#include <limits.h>
#include <objmem.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

extern char **environ;

static const char *const option_names[OM_OPTION_COUNT] = {
    [OM_OPTION_CHECKED] = "OBJMEM_CHECKED",
    [OM_OPTION_PURGE_DELAY_MS] = "OBJMEM_PURGE_DELAY_MS",
    [OM_OPTION_PURGE_DECOMMIT] = "OBJMEM_PURGE_DECOMMIT",
    [OM_OPTION_LARGE_CACHE_MB] = "OBJMEM_LARGE_CACHE_MB",
    [OM_OPTION_VERBOSE] = "OBJMEM_VERBOSE",
    [OM_OPTION_STATS] = "OBJMEM_STATS",
    [OM_OPTION_REPORT_FOREIGN] = "OBJMEM_REPORT_FOREIGN",
    [OM_OPTION_BACKGROUND] = "OBJMEM_BACKGROUND",
    [OM_OPTION_LARGE_DECAY_MS] = "OBJMEM_LARGE_DECAY_MS",
    [OM_OPTION_SNAPSHOT_EVERY_MS] = "OBJMEM_SNAPSHOT_EVERY_MS",
    [OM_OPTION_TRACE] = "OBJMEM_TRACE",
    [OM_OPTION_TRACE_SAMPLE] = "OBJMEM_TRACE_SAMPLE",
    [OM_OPTION_DEBUG] = "OBJMEM_DEBUG",
    [OM_OPTION_DEBUG_QUARANTINE_MB] = "OBJMEM_DEBUG_QUARANTINE_MB",
    [OM_OPTION_SECURE] = "OBJMEM_SECURE",
};

/* ---- the child ------------------------------------------------------------ */
/* values: one "NAME=value" line per option; stats: allocate, return from
 * main; _exit: allocate, _exit(0). */
static int child_main(const char *mode)
{
    if (strcmp(mode, "values") == 0) {
        for (int i = 0; i < OM_OPTION_COUNT; i++)
            printf("%s=%ld\n", option_names[i], om_option_get((om_option)i));
        return 0;
    }
    void *p = om_malloc(100), *q = om_malloc(5000);
    NEED(p && q);
    om_free(p);
    fflush(stdout);
    if (strcmp(mode, "_exit") == 0)
        _exit(0);
    return 0;
}

/* ---- running a child ---------------------------------------------------------- */
typedef struct run {
    char out[65536], err[65536];
    size_t nout, nerr;
    int status;
    pid_t pid;
} run;

static run R;

/* The parent's environment without OBJMEM_* and LD_PRELOAD, then vars. */
static char **child_env(const char *const *vars, const char *preload)
{
    static char *env[512], pre[4096];
    size_t n = 0;
    for (char **e = environ; *e && n < 400; e++)
        if (strncmp(*e, "OBJMEM_", 7) != 0 && strncmp(*e, "LD_PRELOAD=", 11) != 0)
            env[n++] = *e;
    for (; vars && *vars && n < 500; vars++)
        env[n++] = (char *)*vars;
    if (preload) {
        snprintf(pre, sizeof pre, "LD_PRELOAD=%s", preload);
        env[n++] = pre;
    }
    env[n] = NULL;
    return env;
}

static void drain(int fd, char *buf, size_t cap, size_t *n, int *open)
{
    ssize_t r = read(fd, buf + *n, cap - 1 - *n);
    if (r > 0)
        *n += (size_t)r;
    else if (r == 0 || errno != EINTR || *n + 1 >= cap)
        *open = 0;
    buf[*n] = '\0';
}

/* Run program (NULL: this test, with "--child mode") in env vars. */
static void run_child(const char *program, const char *mode, const char *const *vars, const char *preload)
{
    int po[2], pe[2];
    NEED(pipe(po) == 0 && pipe(pe) == 0);
    fflush(NULL);
    pid_t pid = fork();
    NEED(pid >= 0);
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]), close(pe[0]), close(po[1]), close(pe[1]);
        char *self = (char *)"/proc/self/exe";
        char *argv[] = {program ? (char *)program : self, (char *)"--child", (char *)mode, NULL};
        if (program)
            argv[1] = NULL;
        execve(argv[0], argv, child_env(vars, preload));
        _exit(127);
    }
    close(po[1]), close(pe[1]);
    memset(&R, 0, sizeof R);
    R.pid = pid;
    int oo = 1, eo = 1;
    while (oo || eo) {
        struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        if (poll(fds, 2, -1) < 0)
            continue;
        if (oo && fds[0].revents)
            drain(po[0], R.out, sizeof R.out, &R.nout, &oo);
        if (eo && fds[1].revents)
            drain(pe[0], R.err, sizeof R.err, &R.nerr, &eo);
    }
    close(po[0]), close(pe[0]);
    NEED(waitpid(pid, &R.status, 0) == pid);
    CHECK_MSG(WIFEXITED(R.status) && WEXITSTATUS(R.status) == 0, "child status %#x, stderr:\n%s", R.status,
              R.err);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The child's value of name (from "values" mode); LONG_MIN if absent. */
static long child_value(const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    for (const char *p = R.out; (p = strstr(p, key)) != NULL; p++)
        if (p == R.out || p[-1] == '\n')
            return strtol(p + strlen(key), NULL, 10);
    return LONG_MIN;
}

/* One run of "values" with name=value: exactly one warning, naming the
 * variable and the value, saying what is used, and the child uses it. */
static void expect_one_warning(const char *name, const char *value, const char *used, long want)
{
    char var[256], head[300];
    snprintf(var, sizeof var, "%s=%s", name, value);
    const char *vars[] = {var, NULL};
    run_child(NULL, "values", vars, NULL);
    snprintf(head, sizeof head, "objmem: warning: %s ", var);
    CHECK_MSG(count(R.err, "objmem: warning:") == 1, "%s: stderr:\n%s", var, R.err);
    CHECK_MSG(count(R.err, head) == 1, "%s: stderr:\n%s", var, R.err);
    CHECK_MSG(strstr(R.err, used) != NULL, "%s: no '%s' in:\n%s", var, used, R.err);
    CHECK_MSG(child_value(name) == want, "%s: value in force %ld, want %ld", var, child_value(name), want);
}

/* ---- the cases --------------------------------------------------------------------- */
static void test_bad_numbers_keep_default(void)
{
    static const char *const bad[] = {"abc", "-1", "1.5", "0x10", "10000000000000G", "10ms", " 5", ""};
    for (size_t i = 0; i < CHECK_COUNT(bad); i++) {
        expect_one_warning("OBJMEM_PURGE_DELAY_MS", bad[i], "; using the default 10\n", 10);
        expect_one_warning("OBJMEM_LARGE_DECAY_MS", bad[i], "; using the default 1000\n", 1000);
    }
    static const char *const bad_mib[] = {"abc", "-1", "1.5", "0x10", "512K", "2GB", "M"};
    for (size_t i = 0; i < CHECK_COUNT(bad_mib); i++)
        expect_one_warning("OBJMEM_LARGE_CACHE_MB", bad_mib[i], "; using the default 64\n", 64);
    expect_one_warning("OBJMEM_PURGE_DELAY_MS", "-1", "is negative", 10);
    expect_one_warning("OBJMEM_PURGE_DELAY_MS", "abc", "is not a number of milliseconds", 10);
}

static void test_bad_switches_keep_default(void)
{
    static const char *const bad[] = {"2", "-1", "maybe", "0x1", "1.0", "yess", ""};
    for (size_t i = 0; i < CHECK_COUNT(bad); i++) {
        expect_one_warning("OBJMEM_CHECKED", bad[i], "; using the default 0\n", 0);
        expect_one_warning("OBJMEM_PURGE_DECOMMIT", bad[i], "; using the default 1\n", 1);
    }
}

/* Too big for the option, or for any integer: the maximum, with a warning. */
static void test_too_big_is_clamped(void)
{
    expect_one_warning("OBJMEM_LARGE_CACHE_MB", "16384G", "is above the maximum 1048576 MiB; using 1048576\n",
                       1048576);
    expect_one_warning("OBJMEM_LARGE_CACHE_MB", "99999999999999999999G", "; using 1048576\n", 1048576);
    expect_one_warning("OBJMEM_LARGE_CACHE_MB", "1048577", "; using 1048576\n", 1048576);
    expect_one_warning("OBJMEM_PURGE_DELAY_MS", "99999999999999999999999",
                       "is above the maximum 1000000000000 ms; using 1000000000000\n", 1000000000000L);
    expect_one_warning("OBJMEM_LARGE_DECAY_MS", "1000000000001", "; using 1000000000000\n", 1000000000000L);
}

static void test_good_values_are_silent(void)
{
    const char *vars[] = {"OBJMEM_PURGE_DELAY_MS=007", "OBJMEM_LARGE_CACHE_MB=2G", "OBJMEM_LARGE_DECAY_MS=0",
                          "OBJMEM_CHECKED=Yes", "OBJMEM_PURGE_DECOMMIT=off", "OBJMEM_REPORT_FOREIGN=TRUE",
                          "OBJMEM_BACKGROUND=no", "OBJMEM_STATS=false", "OBJMEM_VERBOSE=0",
                          /* not options, but objmem's */
                          "OBJMEM_STATS_JSON=", "OBJMEM_MALLOC_LIB=/nowhere/libobjmem-malloc.so",
                          /* not objmem's */
                          "OBJMEMX=1", "objmem_stat=1", "XOBJMEM_STAT=1", NULL};
    run_child(NULL, "values", vars, NULL);
    CHECK_MSG(R.nerr == 0, "stderr:\n%s", R.err);
    CHECK_EQ(child_value("OBJMEM_PURGE_DELAY_MS"), 7);
    CHECK_EQ(child_value("OBJMEM_LARGE_CACHE_MB"), 2048);
    CHECK_EQ(child_value("OBJMEM_LARGE_DECAY_MS"), 0);
    CHECK_EQ(child_value("OBJMEM_CHECKED"), 1);
    CHECK_EQ(child_value("OBJMEM_PURGE_DECOMMIT"), 0);
    CHECK_EQ(child_value("OBJMEM_REPORT_FOREIGN"), 1);
    const char *more[] = {"OBJMEM_LARGE_CACHE_MB=64m", "OBJMEM_CHECKED=ON", NULL};
    run_child(NULL, "values", more, NULL);
    CHECK_MSG(R.nerr == 0, "stderr:\n%s", R.err);
    CHECK_EQ(child_value("OBJMEM_LARGE_CACHE_MB"), 64);
    CHECK_EQ(child_value("OBJMEM_CHECKED"), 1);
}

static void test_unknown_name_warns(void)
{
    const char *vars[] = {"OBJMEM_STAT=1", NULL};
    run_child(NULL, "values", vars, NULL);
    CHECK_MSG(count(R.err, "objmem: warning:") == 1, "stderr:\n%s", R.err);
    CHECK_STR_HAS(R.err, "objmem: warning: OBJMEM_STAT=1 is not an objmem option");
    CHECK_STR_HAS(R.err, "did you mean OBJMEM_STATS?");
    CHECK_STR_HAS(R.err, "; ignored\n");
    CHECK_EQ(child_value("OBJMEM_STATS"), 0);
    const char *far[] = {"OBJMEM_NOTHING_LIKE_IT=1", "OBJMEM_=2", NULL};
    run_child(NULL, "values", far, NULL);
    CHECK_MSG(count(R.err, "objmem: warning:") == 2, "stderr:\n%s", R.err);
    CHECK_STR_HAS(R.err, "objmem: warning: OBJMEM_NOTHING_LIKE_IT=1 is not an objmem option; ignored\n");
    CHECK_STR_HAS(R.err, "objmem: warning: OBJMEM_=2 is not an objmem option");
}

/* The warning does not depend on OBJMEM_VERBOSE or on where it comes. */
static void test_warning_without_verbose(void)
{
    const char *before[] = {"OBJMEM_PURGE_DELAY_MS=abc", "OBJMEM_VERBOSE=0", NULL};
    const char *after[] = {"OBJMEM_VERBOSE=0", "OBJMEM_PURGE_DELAY_MS=abc", NULL};
    run_child(NULL, "values", before, NULL);
    CHECK_MSG(count(R.err, "OBJMEM_PURGE_DELAY_MS=abc") == 1, "stderr:\n%s", R.err);
    run_child(NULL, "values", after, NULL);
    CHECK_MSG(count(R.err, "OBJMEM_PURGE_DELAY_MS=abc") == 1, "stderr:\n%s", R.err);
}

/* OBJMEM_VERBOSE=1: every option, its value and its origin, once. */
static void check_listing(void)
{
    char pid[64];
    snprintf(pid, sizeof pid, "objmem: options in force in pid %ld (", (long)R.pid);
    CHECK_MSG(count(R.err, "objmem: options in force") == 1, "stderr:\n%s", R.err);
    CHECK_MSG(strstr(R.err, pid) != NULL, "no '%s' in:\n%s", pid, R.err);
    for (int i = 0; i < OM_OPTION_COUNT; i++) {
        char name[64];
        snprintf(name, sizeof name, "objmem:   %s=", option_names[i]);
        CHECK_MSG(count(R.err, name) == 1, "%s listed %zu times", option_names[i], count(R.err, name));
    }
    CHECK(strstr(R.err, "objmem:   OBJMEM_LARGE_CACHE_MB=128 ") != NULL);
    const char *line = strstr(R.err, "objmem:   OBJMEM_LARGE_CACHE_MB=");
    CHECK(line && strstr(line, "environment") < strchr(line, '\n'));
    line = strstr(R.err, "objmem:   OBJMEM_CHECKED=0 ");
    CHECK(line && strstr(line, "default") && strstr(line, "default") < strchr(line, '\n'));
    CHECK_STR_HAS(R.err, "_exit()");
}

static void test_verbose_lists_options(void)
{
    const char *vars[] = {"OBJMEM_LARGE_CACHE_MB=128", "OBJMEM_VERBOSE=1", NULL};
    run_child(NULL, "values", vars, NULL);
    check_listing();
    CHECK_EQ(count(R.err, "objmem: warning:"), 0);
}

/* ---- under the drop-in ------------------------------------------------------------ */
#ifdef OM_TEST_MALLOC_LIB
static const char *const dropin = OM_TEST_MALLOC_LIB;
#else
static const char *const dropin = NULL;
#endif

/* The drop-in alone (in a program that does not link objmem), then with
 * this program's libobjmem: one warning each, one list. */
static void test_dropin_warns_once(void)
{
    if (!dropin || access(dropin, R_OK) != 0 || access("/bin/true", X_OK) != 0) {
        printf("   (no drop-in malloc in this build)\n");
        return;
    }
    const char *vars[] = {"OBJMEM_PURGE_DELAY_MS=abc", "OBJMEM_STAT=1", "OBJMEM_LARGE_CACHE_MB=16384G", NULL};
    for (int with_lib = 0; with_lib < 2; with_lib++) {
        run_child(with_lib ? NULL : "/bin/true", "values", vars, dropin);
        CHECK_MSG(count(R.err, "objmem: warning:") == 3, "stderr:\n%s", R.err);
        CHECK_EQ(count(R.err, "objmem: warning: OBJMEM_PURGE_DELAY_MS=abc "), 1);
        CHECK_EQ(count(R.err, "objmem: warning: OBJMEM_STAT=1 "), 1);
        CHECK_EQ(count(R.err, "objmem: warning: OBJMEM_LARGE_CACHE_MB=16384G "), 1);
        if (with_lib)
            CHECK_EQ(child_value("OBJMEM_LARGE_CACHE_MB"), 1048576);
    }
    const char *verbose[] = {"OBJMEM_LARGE_CACHE_MB=128", "OBJMEM_VERBOSE=1", NULL};
    run_child(NULL, "values", verbose, dropin);
    check_listing();
}

/* ---- the report at exit ---------------------------------------------------------------- */
static void check_report(size_t want)
{
    char head[128];
    snprintf(head, sizeof head, "objmem: report at exit of pid %ld (", (long)R.pid);
    CHECK_MSG(count(R.err, "allocator statistics") == want, "want %zu reports, stderr:\n%s", want, R.err);
    CHECK_MSG(count(R.err, "objmem: report at exit of pid") == want, "stderr:\n%s", R.err);
    if (want == 0)
        return;
    const char *h = strstr(R.err, head), *report = strstr(R.err, "allocator statistics");
    CHECK_MSG(h != NULL, "no '%s' in:\n%s", head, R.err);
    if (!h)
        return;
    const char *eol = strchr(h, '\n');
    const char *cmd = strstr(h, "--child stats");
    CHECK_MSG(cmd && cmd < eol, "the header does not name the command: %.*s", (int)(eol - h), h);
    CHECK(report > h);
}

static void test_stats_at_exit_linked(void)
{
    const char *stats[] = {"OBJMEM_STATS=1", NULL};
    run_child(NULL, "stats", stats, NULL);
    check_report(1);
    run_child(NULL, "stats", NULL, NULL);
    check_report(0);
    run_child(NULL, "_exit", stats, NULL);
    check_report(0);
}

static void test_stats_at_exit_both_libraries(void)
{
    if (!dropin || access(dropin, R_OK) != 0) {
        printf("   (no drop-in malloc in this build)\n");
        return;
    }
    const char *stats[] = {"OBJMEM_STATS=1", NULL};
    run_child(NULL, "stats", stats, dropin);
    check_report(1);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2]);
    static const check_case cases[] = {
        CHECK_CASE(test_bad_numbers_keep_default),
        CHECK_CASE(test_bad_switches_keep_default),
        CHECK_CASE(test_too_big_is_clamped),
        CHECK_CASE(test_good_values_are_silent),
        CHECK_CASE(test_unknown_name_warns),
        CHECK_CASE(test_warning_without_verbose),
        CHECK_CASE(test_verbose_lists_options),
        CHECK_CASE(test_dropin_warns_once),
        CHECK_CASE(test_stats_at_exit_linked),
        CHECK_CASE(test_stats_at_exit_both_libraries),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
