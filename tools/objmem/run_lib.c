/*
 * run_lib.c — which libobjmem-malloc.so `objmem run` preloads.
 *
 * The first candidate that is readable wins:
 *
 *   1. $OBJMEM_MALLOC_LIB, when set and not empty: the user's explicit
 *      choice.  If it cannot be read, run stops there (never a silent
 *      fallback to another copy).
 *   2. Beside this executable, as `cmake --install` lays a prefix out:
 *      <directory of /proc/self/exe>/OM_MALLOC_REL_LIBDIR/OM_MALLOC_SONAME,
 *      where OM_MALLOC_REL_LIBDIR is the path from the install bindir to
 *      the install libdir that CMake computes (GNUInstallDirs: "../lib",
 *      or "../lib/x86_64-linux-gnu" for a /usr prefix on Debian).  A
 *      prefix that was installed elsewhere (--prefix at install time,
 *      DESTDIR) or moved afterwards still finds its own library.
 *   3. The build tree's library (OM_MALLOC_BUILD_LIB), only when this
 *      executable is the build tree's own (it runs from the directory it
 *      was built in, OM_CLI_BUILD_DIR): an installed objmem never preloads
 *      a build tree's library, which may be another version.
 *   4. The libdir of the prefix configured at build time
 *      (OM_MALLOC_INSTALL_LIB), for an objmem copied out of its prefix.
 *
 * When none is readable, the message lists every path tried and why.
 * `objmem run --secure` then takes the hardened build beside it,
 * libobjmem-malloc-secure.so (cli_run_secure_library), when it is there.
 * Paths are Linux's: /proc/self/exe is the executable, symlinks resolved.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { LIB_CANDIDATES = 3 };

typedef struct lib_search {
    char path[LIB_CANDIDATES][PATH_MAX];
    const char *where[LIB_CANDIDATES];
    int error[LIB_CANDIDATES];
    int count;
} lib_search;

/* Record path as tried (once); 1 if it is readable. */
static int lib_try(lib_search *s, const char *path, const char *where)
{
    int readable = access(path, R_OK) == 0, error = errno, i;

    for (i = 0; i < s->count; i++)
        if (strcmp(s->path[i], path) == 0)
            return readable;
    if (s->count < LIB_CANDIDATES && strlen(path) < PATH_MAX) {
        strcpy(s->path[s->count], path);
        s->where[s->count] = where;
        s->error[s->count] = readable ? 0 : error;
        s->count++;
    }
    return readable;
}

/* The directory this executable runs from, symlinks resolved; 0 if the
 * kernel does not say. */
static int lib_exe_dir(char *dir, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", dir, cap - 1);
    char *slash;

    if (n <= 0 || (size_t)n >= cap - 1)
        return 0;
    dir[n] = '\0';
    slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    return 1;
}

/* dir/rel/name with dir/rel resolved when it exists (no "bin/.." left in
 * LD_PRELOAD); 0 if it does not fit. */
static int lib_join(char *out, size_t cap, const char *dir, const char *rel, const char *name)
{
    char joined[PATH_MAX], resolved[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s/%s", dir, rel);

    if (n < 0 || (size_t)n >= sizeof joined)
        return 0;
    if (realpath(joined, resolved) != NULL)
        n = snprintf(out, cap, "%s/%s", resolved, name);
    else
        n = snprintf(out, cap, "%s/%s", joined, name);
    return n > 0 && (size_t)n < cap;
}

#ifdef OM_MALLOC_BUILD_LIB /* with OM_CLI_BUILD_DIR, when the build has the library */
/* Is exe_dir the directory this executable was built in? */
static int lib_is_build_tree(const char *exe_dir)
{
    char build[PATH_MAX];

    return realpath(OM_CLI_BUILD_DIR, build) != NULL && strcmp(build, exe_dir) == 0;
}
#endif

static void lib_not_found(const lib_search *s)
{
    fprintf(stderr, "objmem run: cannot find %s; looked in:\n", OM_MALLOC_SONAME);
    for (int i = 0; i < s->count; i++)
        fprintf(stderr, "  %s (%s): %s\n", s->path[i], s->where[i], strerror(s->error[i]));
    if (s->count == 0)
        fprintf(stderr, "  nowhere: this objmem cannot tell where it was installed\n");
    fprintf(stderr, "install objmem (cmake --install), or set OBJMEM_MALLOC_LIB to the library's path\n");
}

static char *lib_copy(const char *path)
{
    char *copy = malloc(strlen(path) + 1);

    if (copy == NULL)
        fprintf(stderr, "objmem run: out of memory\n");
    else
        strcpy(copy, path);
    return copy;
}

char *cli_run_find_library(void)
{
    static lib_search s; /* PATH_MAX-sized rows: off the stack */
    const char *env = getenv("OBJMEM_MALLOC_LIB");
    char exe_dir[PATH_MAX], path[PATH_MAX];
    int have_exe = lib_exe_dir(exe_dir, sizeof exe_dir);

    if (env != NULL && env[0] != '\0') {
        if (access(env, R_OK) == 0)
            return lib_copy(env);
        fprintf(stderr, "objmem run: OBJMEM_MALLOC_LIB=%s: %s\n", env, strerror(errno));
        return NULL;
    }
    memset(&s, 0, sizeof s);
    if (have_exe && lib_join(path, sizeof path, exe_dir, OM_MALLOC_REL_LIBDIR, OM_MALLOC_SONAME) &&
        lib_try(&s, path, "beside this objmem"))
        return lib_copy(path);
#ifdef OM_MALLOC_BUILD_LIB
    if (have_exe && lib_is_build_tree(exe_dir) && lib_try(&s, OM_MALLOC_BUILD_LIB, "build tree"))
        return lib_copy(OM_MALLOC_BUILD_LIB);
#endif
#ifdef OM_MALLOC_INSTALL_LIB
    if (lib_try(&s, OM_MALLOC_INSTALL_LIB, "install prefix at build time"))
        return lib_copy(OM_MALLOC_INSTALL_LIB);
#endif
    lib_not_found(&s);
    return NULL;
}

/* The hardened build beside lib (libobjmem-malloc.so.N's directory, the
 * same version suffix), or NULL if it is not readable there. */
char *cli_run_secure_library(const char *lib)
{
    static const char plain[] = "libobjmem-malloc.so";
    const char *base = strrchr(lib, '/');
    char path[PATH_MAX];
    int n;

    base = base ? base + 1 : lib;
    if (strncmp(base, plain, sizeof plain - 1) != 0)
        return NULL;
    n = snprintf(path, sizeof path, "%.*slibobjmem-malloc-secure.so%s", (int)(base - lib), lib,
                 base + sizeof plain - 1);
    if (n < 0 || (size_t)n >= sizeof path || access(path, R_OK) != 0)
        return NULL;
    return lib_copy(path);
}
