/*
 * run.c — `objmem run [--stats] [--json FILE] -- CMD ARGS...`: run a
 * program with objmem as its malloc.
 *
 * Nothing is loaded into this process: run only prepares the environment
 * and replaces itself with CMD (execvp), so CMD's pid, stdin, stdout and
 * exit status are its own.  The environment CMD sees:
 *
 *   LD_PRELOAD          libobjmem-malloc.so first, existing entries kept
 *   PYTHONMALLOC=malloc unless already set: CPython then takes every object
 *                       from malloc, i.e. from objmem's arenas
 *   OBJMEM_STATS=1      with --stats: the text report on stderr at exit
 *   OBJMEM_STATS_JSON   with --json FILE: the JSON report written at exit
 *                       (FILE made absolute, so a chdir in CMD is harmless)
 *
 * Which libobjmem-malloc.so, first found wins:
 *   1. $OBJMEM_MALLOC_LIB (an error if set but missing: never a silent
 *      fallback to another build);
 *   2. the build tree's copy, when this objmem was built beside it
 *      (OM_MALLOC_BUILD_LIB, from CMake);
 *   3. the installed copy (OM_MALLOC_INSTALL_LIB).
 *
 * Exit status: CMD's own; 2 bad usage; 1 no library or no memory;
 * 127 CMD could not be run (the shell's convention).
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RUN_EXEC_FAILED = 127 };

typedef struct run_options {
    int stats;
    const char *json;   /* NULL: no JSON report */
    char **command;     /* NULL-terminated, from argv */
} run_options;

/* Options come before the command; `--` ends them, and so does the first
 * word that is not an option (as with env(1)). */
static int run_parse(int argc, char **argv, run_options *opt)
{
    int i = 1;

    memset(opt, 0, sizeof *opt);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--stats") == 0) {
            opt->stats = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0')
                return cli_usage_error("run", "--json needs a file name");
            opt->json = argv[++i];
        } else if (strncmp(argv[i], "--json=", 7) == 0 && argv[i][7] != '\0') {
            opt->json = argv[i] + 7;
        } else {
            return cli_usage_error("run", "unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc)
        return cli_usage_error("run", "no command to run");
    opt->command = argv + i;
    return 0;
}

static int run_readable(const char *path)
{
    return path != NULL && path[0] != '\0' && access(path, R_OK) == 0;
}

/* The library to preload, or NULL after saying why on stderr. */
static const char *run_find_library(void)
{
    const char *env = getenv("OBJMEM_MALLOC_LIB");

    if (env != NULL && env[0] != '\0') {
        if (run_readable(env))
            return env;
        fprintf(stderr, "objmem run: OBJMEM_MALLOC_LIB=%s: %s\n", env, strerror(errno));
        return NULL;
    }
#ifdef OM_MALLOC_BUILD_LIB
    if (run_readable(OM_MALLOC_BUILD_LIB))
        return OM_MALLOC_BUILD_LIB;
#endif
#ifdef OM_MALLOC_INSTALL_LIB
    if (run_readable(OM_MALLOC_INSTALL_LIB))
        return OM_MALLOC_INSTALL_LIB;
#endif
    fprintf(stderr, "objmem run: cannot find libobjmem-malloc.so (looked in:");
#ifdef OM_MALLOC_BUILD_LIB
    fprintf(stderr, " %s,", OM_MALLOC_BUILD_LIB);
#endif
#ifdef OM_MALLOC_INSTALL_LIB
    fprintf(stderr, " %s,", OM_MALLOC_INSTALL_LIB);
#endif
    fprintf(stderr, " none readable)\n"
                    "  build the objmem_malloc target, install objmem, or set OBJMEM_MALLOC_LIB\n");
    return NULL;
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
    free(value);
    free(full);
    return rc;
}

/* OBJMEM_STATS_JSON=FILE, a relative FILE resolved now: the command may
 * change directory before it exits. */
static int run_set_json(const char *file)
{
    char *full = run_absolute(file);
    int rc;

    if (full == NULL)
        return CLI_FAIL;
    rc = setenv("OBJMEM_STATS_JSON", full, 1) == 0 ? CLI_OK : CLI_FAIL;
    free(full);
    return rc;
}

static int run_set_environment(const run_options *opt, const char *lib)
{
    if (run_set_preload(lib) != CLI_OK)
        return CLI_FAIL;
    if (setenv("PYTHONMALLOC", "malloc", 0) != 0)
        return CLI_FAIL;
    if (opt->stats && setenv("OBJMEM_STATS", "1", 1) != 0)
        return CLI_FAIL;
    if (opt->json && run_set_json(opt->json) != CLI_OK)
        return CLI_FAIL;
    return CLI_OK;
}

int cli_cmd_run(int argc, char **argv)
{
    run_options opt;
    const char *lib;
    int rc = run_parse(argc, argv, &opt);

    if (rc != 0)
        return rc;
    lib = run_find_library();
    if (lib == NULL)
        return CLI_FAIL;
    if (run_set_environment(&opt, lib) != CLI_OK) {
        fprintf(stderr, "objmem run: cannot set up the environment: %s\n", strerror(errno));
        return CLI_FAIL;
    }
    fflush(NULL);
    execvp(opt.command[0], opt.command);
    fprintf(stderr, "objmem run: cannot run '%s': %s\n", opt.command[0], strerror(errno));
    return RUN_EXEC_FAILED;
}
