/*
 * run.c — `objmem run [--stats] [--debug] [--json FILE] [--trace[=N]]
 * [--heapmap FILE.html [--every MS]] -- CMD ARGS...`: run a program with objmem as its malloc.
 *
 * Nothing is loaded into this process: run only prepares the environment
 * and replaces itself with CMD (execvp), so CMD's pid, stdin, stdout,
 * signals and exit status are its own.  With --heapmap it cannot replace
 * itself, since the page is made after CMD ends: it forks, the child
 * execs CMD with OBJMEM_SNAPSHOT_FILE naming a temporary file (in
 * $TMPDIR, else /tmp) and OBJMEM_SNAPSHOT_EVERY_MS the interval, the
 * parent waits (ignoring SIGINT and SIGQUIT meanwhile, as system(3) does:
 * they reach CMD from the terminal), makes the page (heapmap.c), removes
 * the temporary file and exits with CMD's status, 128+N if a signal N
 * killed it.  The environment CMD sees:
 *
 *   LD_PRELOAD          libobjmem-malloc.so first, existing entries kept
 *                       (which library: run_lib.c; with --secure the
 *                       hardened build beside it, if it is there)
 *   PYTHONMALLOC=malloc unless already set: CPython then takes every object
 *                       from malloc, i.e. from objmem's arenas
 *   OBJMEM_STATS=1      with --stats: the text report on stderr at exit
 *   OBJMEM_DEBUG=1      with --debug: debug mode (debug/debug.h)
 *   OBJMEM_SECURE=1     with --secure: hardened mode (alloc/secure.c)
 *   OBJMEM_STATS_JSON   with --json FILE: the JSON report written at exit
 *                       (FILE made absolute, so a chdir in CMD is harmless)
 *   OBJMEM_SNAPSHOT_FILE, OBJMEM_SNAPSHOT_EVERY_MS   with --heapmap
 *   OBJMEM_TRACE=N      with --trace[=N]: allocation tracing with N frames
 *                       (16 without =N) and its leak report at exit
 *
 * Exit status, as env(1) and timeout(1) have it: CMD's own once CMD runs
 * (a signal that kills CMD is reported by the parent, e.g. as 128+N by a
 * shell, since CMD is this process); before that, 125 when run itself
 * fails (bad usage, no library, a --json FILE that cannot be written, no
 * memory), 126 when CMD is found but cannot be run, 127 when it is not
 * found.  With --heapmap, a page that cannot be made (no snapshot: CMD
 * never ran with the drop-in, or died before its first) is said on stderr
 * and makes the status 125 only if CMD's was 0.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RUN_CONTINUE = -1 };

const char cli_run_help[] =
    "Runs CMD with objmem as its malloc: LD_PRELOAD gets libobjmem-malloc.so and\n"
    "objmem run replaces itself with CMD (same pid, stdin, stdout and signals).\n"
    "Options end at '--' or at the first word that does not start with '-'.\n"
    "\n"
    "options:\n"
    "  --stats        the text statistics report on stderr when CMD exits\n"
    "  --debug        debug mode: guard bytes, fills, a quarantine of freed blocks;\n"
    "                 overflows, writes after free, double and mismatched frees are\n"
    "                 reported (and abort CMD)\n"
    "  --secure       hardened mode: canaries, checked links, guard pages; misuse\n"
    "                 found at a free is reported and aborts CMD (the hardened build,\n"
    "                 libobjmem-malloc-secure.so, when it is beside libobjmem-malloc.so)\n"
    "  --json FILE    the JSON report written to FILE when CMD exits ('%p' in FILE\n"
    "                 becomes the process id); FILE is made absolute, and one that\n"
    "                 cannot be written (a directory, a missing directory) is refused\n"
    "  --heapmap FILE.html  a heap snapshot at start, every MS and at exit, made into\n"
    "                 one page when CMD ends (objmem heapmap); objmem run then waits\n"
    "                 for CMD instead of replacing itself\n"
    "  --every MS     with --heapmap: milliseconds between snapshots (default 100;\n"
    "                 0: at start and exit only)\n"
    "  --trace[=N]    trace every allocation with N frames of stack (default 16):\n"
    "                 the tracing report (top sites, leaks) on stderr when CMD exits\n"
    "                 (OBJMEM_TRACE_FILE=F: as JSON to F; OBJMEM_TRACE_SAMPLE,\n"
    "                 OBJMEM_REPORT_SIGNAL pass through; `objmem report` reads JSON)\n"
    "  -h, --help     this message\n"
    "\n"
    "environment set for CMD:\n"
    "  LD_PRELOAD           the library first, entries already there kept\n"
    "  PYTHONMALLOC=malloc  unless already set: CPython takes every object from malloc\n"
    "  OBJMEM_STATS=1       with --stats\n"
    "  OBJMEM_DEBUG=1       with --debug\n"
    "  OBJMEM_SECURE=1      with --secure\n"
    "  OBJMEM_STATS_JSON    with --json: FILE, made absolute\n"
    "  OBJMEM_WARNED_PID    this pid: objmem run warned about bad options, CMD does not\n"
    "  OBJMEM_SNAPSHOT_FILE, OBJMEM_SNAPSHOT_EVERY_MS  with --heapmap: a temporary\n"
    "                       file, removed once the page is made; --every's MS\n"
    "  OBJMEM_TRACE=N       with --trace[=N]\n"
    "Other OBJMEM_* variables (README: options at run time) pass through to CMD.\n"
    "\n"
    "environment read:\n"
    "  OBJMEM_MALLOC_LIB    the library to preload; when set, it must be readable\n"
    "  LD_PRELOAD, PYTHONMALLOC  kept as above;  PATH  where CMD is found\n"
    "\n"
    "the library preloaded, the first one readable:\n"
    "  1. $OBJMEM_MALLOC_LIB\n"
    "  2. beside this objmem, as installed: <its directory>/" OM_MALLOC_REL_LIBDIR "/" OM_MALLOC_SONAME "\n"
    "  3. the build tree's, when this objmem is the build tree's\n"
    "  4. " OM_MALLOC_INSTALL_LIB " (the install prefix when objmem was built)\n"
    "\n"
    "exit status:\n"
    "  CMD's own  once CMD runs (a signal that kills CMD is reported by your shell,\n"
    "             as 128+N: CMD replaces objmem run; with --heapmap, objmem run\n"
    "             exits with 128+N itself)\n"
    "  125        objmem run failed: bad usage, library not found, a --json FILE\n"
    "             that cannot be written, or a write error on stdout\n"
    "  126        CMD was found but cannot be run (not executable, a directory)\n"
    "  127        CMD was not found\n";

typedef struct run_options {
    int stats;
    const char *trace;  /* frames, as text; NULL: no tracing */
    int debug;          /* --debug: OBJMEM_DEBUG=1 */
    int secure;         /* --secure: OBJMEM_SECURE=1 */
    const char *json;   /* NULL: no JSON report */
    const char *heapmap; /* NULL: exec CMD; else the page to make */
    const char *every;  /* --every MS, as given; NULL: the default */
    char **command;     /* NULL-terminated, from argv */
} run_options;

/* The value of option argv[*i] (--name VALUE or --name=VALUE), or NULL
 * when argv[*i] is not that option; *missing when it is, without one. */
static const char *run_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);

    if (strcmp(argv[*i], name) == 0) {
        if (*i + 1 >= argc || argv[*i + 1][0] == '\0') {
            *missing = 1;
            return NULL;
        }
        return argv[++*i];
    }
    if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=' && argv[*i][n + 1] != '\0')
        return argv[*i] + n + 1;
    return NULL;
}

static int run_is_number(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Options come before the command; `--` ends them, and so does the first
 * word that is not an option (as with env(1)).  RUN_CONTINUE, or the exit
 * status (after --help, or bad usage). */
static int run_parse(int argc, char **argv, run_options *opt)
{
    int i = 1, missing = 0;
    const char *v;

    memset(opt, 0, sizeof *opt);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (cli_is_help_option(argv[i])) {
            return cli_help("run");
        } else if (strcmp(argv[i], "--stats") == 0) {
            opt->stats = 1;
        } else if ((v = run_value(argc, argv, &i, "--heapmap", &missing)) != NULL || missing) {
            if (missing) {
                cli_usage_error("run", "--heapmap needs a file name");
                return CLI_RUN_FAILED;
            }
            opt->heapmap = v;
        } else if ((v = run_value(argc, argv, &i, "--every", &missing)) != NULL || missing) {
            if (missing || !run_is_number(v)) {
                cli_usage_error("run", "--every needs a number of milliseconds");
                return CLI_RUN_FAILED;
            }
            opt->every = v;
        } else if (strcmp(argv[i], "--debug") == 0) {
            opt->debug = 1;
        } else if (strcmp(argv[i], "--secure") == 0) {
            opt->secure = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                cli_usage_error("run", "--json needs a file name");
                return CLI_RUN_FAILED;
            }
            opt->json = argv[++i];
        } else if (strncmp(argv[i], "--json=", 7) == 0 && argv[i][7] != '\0') {
            opt->json = argv[i] + 7;
        } else if (strcmp(argv[i], "--trace") == 0) {
            opt->trace = "16";
        } else if (strncmp(argv[i], "--trace=", 8) == 0) {
            char *end;
            long n = strtol(argv[i] + 8, &end, 10);
            if (argv[i][8] < '1' || argv[i][8] > '9' || *end || n < 1 || n > 128) {
                cli_usage_error("run", "--trace=N: N is a number of frames, 1 to 128");
                return CLI_RUN_FAILED;
            }
            opt->trace = argv[i] + 8;
        } else {
            cli_usage_error("run", "unknown option '%s'", argv[i]);
            return CLI_RUN_FAILED;
        }
    }
    if (i >= argc) {
        cli_usage_error("run", "no command to run");
        return CLI_RUN_FAILED;
    }
    if (opt->every && !opt->heapmap) {
        cli_usage_error("run", "--every goes with --heapmap");
        return CLI_RUN_FAILED;
    }
    opt->command = argv + i;
    return RUN_CONTINUE;
}

/* path made absolute against the current directory: a malloc'd string,
 * or NULL after saying why. */
static char *run_absolute(const char *path)
{
    char cwd[PATH_MAX], *full;
    size_t n;

    if (path[0] != '/' && getcwd(cwd, sizeof cwd) == NULL) {
        fprintf(stderr, "objmem run: current directory: %s\n", strerror(errno));
        return NULL;
    }
    if (path[0] == '/')
        cwd[0] = '\0';
    n = strlen(cwd) + strlen(path) + 2;
    full = malloc(n);
    if (full == NULL) {
        fprintf(stderr, "objmem run: out of memory\n");
        return NULL;
    }
    snprintf(full, n, "%s%s%s", cwd, cwd[0] ? "/" : "", path);
    return full;
}

/* LD_PRELOAD=LIB:old...  The loader splits the list at ':' and ' ', so a
 * path holding either cannot be preloaded at all. */
static int run_set_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    char *full = run_absolute(lib), *value;
    size_t n;
    int rc;

    if (full == NULL)
        return CLI_FAIL;
    if (strpbrk(full, ": ") != NULL) {
        fprintf(stderr, "objmem run: '%s': LD_PRELOAD cannot hold a path with ':' or ' '\n", full);
        free(full);
        return CLI_FAIL;
    }
    n = strlen(full) + (old ? strlen(old) : 0) + 2;
    value = malloc(n);
    if (value != NULL)
        snprintf(value, n, "%s%s%s", full, old && old[0] ? ":" : "", old && old[0] ? old : "");
    rc = value != NULL && setenv("LD_PRELOAD", value, 1) == 0 ? CLI_OK : CLI_FAIL;
    if (rc != CLI_OK)
        fprintf(stderr, "objmem run: cannot set LD_PRELOAD: %s\n", strerror(errno));
    free(value);
    free(full);
    return rc;
}

/* Say why `option` FILE is refused; returns CLI_FAIL. */
static int run_output_refused(const char *option, const char *full, const char *dir, int err)
{
    if (dir != NULL)
        fprintf(stderr, "objmem run: %s %s: cannot create it in %s: %s\n", option, full, dir,
                strerror(err));
    else
        fprintf(stderr, "objmem run: %s %s: %s\n", option, full, strerror(err));
    return CLI_FAIL;
}

/* Refuse now what could not be written when CMD exits (by the drop-in:
 * --json; by run itself: --heapmap): FILE is a directory or not writable,
 * or its directory is missing or not writable.  A '%' in the directory
 * part stands for process ids not known yet: that directory is not
 * checked.  Whatever passes here may still fail at exit (CMD removed the
 * directory): the writer reports that. */
static int run_check_output(const char *option, const char *full)
{
    struct stat st;
    const char *slash = strrchr(full, '/'); /* full is absolute: never NULL */
    char dir[PATH_MAX];

    if (stat(full, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return run_output_refused(option, full, NULL, EISDIR);
        if (access(full, W_OK) != 0)
            return run_output_refused(option, full, NULL, errno);
        return CLI_OK;
    }
    if (errno != ENOENT)
        return run_output_refused(option, full, NULL, errno);
    snprintf(dir, sizeof dir, "%.*s", slash == full ? 1 : (int)(slash - full), full);
    if (strchr(dir, '%') == NULL && access(dir, W_OK | X_OK) != 0)
        return run_output_refused(option, full, dir, errno);
    return CLI_OK;
}

/* OBJMEM_STATS_JSON=FILE, a relative FILE resolved now: the command may
 * change directory before it exits. */
static int run_set_json(const char *file)
{
    char *full = run_absolute(file);
    int rc;

    if (full == NULL)
        return CLI_FAIL;
    rc = run_check_output("--json", full);
    if (rc == CLI_OK && setenv("OBJMEM_STATS_JSON", full, 1) != 0) {
        fprintf(stderr, "objmem run: cannot set OBJMEM_STATS_JSON: %s\n", strerror(errno));
        rc = CLI_FAIL;
    }
    free(full);
    return rc;
}

/* --heapmap: the page's place checked, the temporary snapshot file made
 * (empty: the drop-in appends) and named in CMD's environment, with the
 * interval.  CLI_OK, or CLI_FAIL after saying why. */
static int run_set_heapmap(const run_options *opt, char *tmp, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    char *full = run_absolute(opt->heapmap);
    int fd, rc;

    if (full == NULL)
        return CLI_FAIL;
    rc = run_check_output("--heapmap", full);
    free(full);
    if (rc != CLI_OK)
        return rc;
    snprintf(tmp, cap, "%s/objmem-heapmap-XXXXXX", dir && dir[0] == '/' ? dir : "/tmp");
    fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "objmem run: --heapmap: temporary file %s: %s\n", tmp, strerror(errno));
        tmp[0] = '\0';
        return CLI_FAIL;
    }
    close(fd);
    if (setenv("OBJMEM_SNAPSHOT_FILE", tmp, 1) != 0 ||
        setenv("OBJMEM_SNAPSHOT_EVERY_MS", opt->every ? opt->every : "100", 1) != 0) {
        fprintf(stderr, "objmem run: cannot set up the environment: %s\n", strerror(errno));
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* 0, or CLI_FAIL after saying why. */
static int run_set_environment(const run_options *opt, const char *lib)
{
    if (opt->json && run_set_json(opt->json) != CLI_OK)
        return CLI_FAIL;
    if (run_set_preload(lib) != CLI_OK)
        return CLI_FAIL;
    /* This process has read the OBJMEM_* options (and warned about bad ones,
     * om_option_get makes sure); the command, which keeps its pid, then
     * does not warn a second time. */
    char pid[24];
    (void)om_option_get(OM_OPTION_VERBOSE);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    if (setenv("PYTHONMALLOC", "malloc", 0) != 0 || setenv("OBJMEM_WARNED_PID", pid, 1) != 0 ||
        (opt->stats && setenv("OBJMEM_STATS", "1", 1) != 0) ||
        (opt->trace && setenv("OBJMEM_TRACE", opt->trace, 1) != 0) ||
        (opt->debug && setenv("OBJMEM_DEBUG", "1", 1) != 0) ||
        (opt->secure && setenv("OBJMEM_SECURE", "1", 1) != 0)) {
        fprintf(stderr, "objmem run: cannot set up the environment: %s\n", strerror(errno));
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* CMD as a child; its exit status, 128+N if signal N killed it. */
static int run_child(char **command)
{
    struct sigaction ignore, old_int, old_quit;
    int status, rc;
    pid_t pid = fork();

    if (pid < 0) {
        fprintf(stderr, "objmem run: fork: %s\n", strerror(errno));
        return CLI_RUN_FAILED;
    }
    if (pid == 0) {
        char self[24]; /* the warnings were printed: this process is CMD now */
        snprintf(self, sizeof self, "%ld", (long)getpid());
        setenv("OBJMEM_WARNED_PID", self, 1);
        execvp(command[0], command);
        rc = errno;
        fprintf(stderr, "objmem run: cannot run '%s': %s\n", command[0], strerror(rc));
        _exit(rc == ENOENT ? CLI_RUN_NOT_FOUND : CLI_RUN_CANNOT_INVOKE);
    }
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGINT, &ignore, &old_int);
    sigaction(SIGQUIT, &ignore, &old_quit);
    while ((rc = (int)waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (rc < 0) {
        fprintf(stderr, "objmem run: waiting for '%s': %s\n", command[0], strerror(errno));
        return CLI_RUN_FAILED;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : CLI_RUN_FAILED;
}

/* --heapmap: CMD as a child, then its snapshots made into the page. */
static int run_with_heapmap(const run_options *opt, const char *tmp)
{
    int rc = run_child(opt->command);
    size_t n = 0;

    if (cli_heapmap_convert("objmem run", tmp, opt->heapmap, &n) == CLI_OK)
        fprintf(stderr, "objmem run: heap map of %zu snapshot%s in %s\n", n, n == 1 ? "" : "s",
                opt->heapmap);
    else if (rc == 0)
        rc = CLI_RUN_FAILED;
    unlink(tmp);
    return rc;
}

int cli_cmd_run(int argc, char **argv)
{
    run_options opt;
    char *lib, tmp[4096] = "";
    int rc = run_parse(argc, argv, &opt);

    if (rc != RUN_CONTINUE)
        return rc;
    lib = cli_run_find_library();
    if (lib == NULL)
        return CLI_RUN_FAILED;
    if (opt.secure && getenv("OBJMEM_MALLOC_LIB") == NULL) {
        char *hardened = cli_run_secure_library(lib);
        if (hardened != NULL) {
            free(lib);
            lib = hardened;
        }
    }
    rc = run_set_environment(&opt, lib);
    free(lib);
    if (rc == CLI_OK && opt.heapmap)
        rc = run_set_heapmap(&opt, tmp, sizeof tmp);
    if (rc == CLI_OK && fflush(NULL) != 0) {
        fprintf(stderr, "objmem run: write error: %s\n", strerror(errno));
        rc = CLI_FAIL;
    }
    if (rc != CLI_OK) {
        if (tmp[0])
            unlink(tmp);
        return CLI_RUN_FAILED;
    }
    if (opt.heapmap)
        return run_with_heapmap(&opt, tmp);
    execvp(opt.command[0], opt.command);
    rc = errno;
    fprintf(stderr, "objmem run: cannot run '%s': %s\n", opt.command[0], strerror(rc));
    return rc == ENOENT ? CLI_RUN_NOT_FOUND : CLI_RUN_CANNOT_INVOKE;
}
