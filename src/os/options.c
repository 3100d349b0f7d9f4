/*
 * options.c — runtime tunables, one table.
 *
 * Read once from the environment at initialisation by walking `environ`
 * (no getenv, no allocation: this runs inside the first malloc).  Values
 * are integers with optional K/M/G suffix; booleans accept 1/0, on/off,
 * yes/no, true/false.  A bad value keeps the default and, with
 * OBJMEM_VERBOSE, says so on stderr.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "os/os.h"

extern char **environ;

typedef struct om_option_desc {
    const char *name; /* after "OBJMEM_" */
    long def;
    int boolean;
} om_option_desc;

static const om_option_desc table[OM_OPTION_COUNT] = {
    [OM_OPTION_CHECKED] = {"CHECKED", 0, 1},
    [OM_OPTION_PURGE_DELAY_MS] = {"PURGE_DELAY_MS", 10, 0},
    [OM_OPTION_PURGE_DECOMMIT] = {"PURGE_DECOMMIT", 1, 1},
    [OM_OPTION_LARGE_CACHE_MB] = {"LARGE_CACHE_MB", 64, 0},
    [OM_OPTION_VERBOSE] = {"VERBOSE", 0, 1},
    [OM_OPTION_STATS] = {"STATS", 0, 1},
#ifdef OM_OVERRIDE
    [OM_OPTION_REPORT_FOREIGN] = {"REPORT_FOREIGN", 0, 1},
#else
    [OM_OPTION_REPORT_FOREIGN] = {"REPORT_FOREIGN", 1, 1},
#endif
    [OM_OPTION_BACKGROUND] = {"BACKGROUND", 0, 1},
    [OM_OPTION_LARGE_DECAY_MS] = {"LARGE_DECAY_MS", 1000, 0},
};

static _Atomic long values[OM_OPTION_COUNT];
static _Atomic int loaded;

static int parse_bool(const char *v, long *out) {
    static const char *const yes[] = {"1", "on", "yes", "true"}, *const no[] = {"0", "off", "no", "false"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0)
            return *out = 1, 1;
        if (strcmp(v, no[i]) == 0)
            return *out = 0, 1;
    }
    return 0;
}

static int parse_number(const char *v, long *out) {
    long n = 0;
    const char *s = v;
    if (*s < '0' || *s > '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (n > (long)1 << 40)
            return 0;
        n = n * 10 + (*s - '0');
    }
    if (*s == 'K' || *s == 'k')
        n <<= 10, s++;
    else if (*s == 'M' || *s == 'm')
        n <<= 20, s++;
    else if (*s == 'G' || *s == 'g')
        n <<= 30, s++;
    if (*s)
        return 0;
    *out = n;
    return 1;
}

static void warn_bad(const char *entry) {
    if (atomic_load(&values[OM_OPTION_VERBOSE])) {
        static const char pre[] = "objmem: ignoring bad option value: ";
        ssize_t w = write(2, pre, sizeof pre - 1);
        w = write(2, entry, strlen(entry));
        w = write(2, "\n", 1);
        (void)w;
    }
}

void omi_options_init(void) {
    for (int i = 0; i < OM_OPTION_COUNT; i++)
        atomic_store(&values[i], table[i].def);
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "OBJMEM_", 7) != 0)
            continue;
        const char *name = *e + 7, *eq = strchr(name, '=');
        if (!eq)
            continue;
        for (int i = 0; i < OM_OPTION_COUNT; i++) {
            size_t len = strlen(table[i].name);
            if ((size_t)(eq - name) != len || strncmp(name, table[i].name, len) != 0)
                continue;
            long v;
            if (table[i].boolean ? parse_bool(eq + 1, &v) : parse_number(eq + 1, &v))
                atomic_store(&values[i], v);
            else
                warn_bad(*e);
        }
    }
    atomic_store(&loaded, 1);
}

/* The value of OBJMEM_<name> as a string (in environ, not copied), or NULL. */
const char *omi_option_string(const char *name) {
    size_t len = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "OBJMEM_", 7) == 0 && strncmp(*e + 7, name, len) == 0 && (*e)[7 + len] == '=')
            return *e + 8 + len;
    return NULL;
}

static void load_once(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, omi_options_init);
}

long omi_option_value(om_option opt) {
    if ((unsigned)opt >= OM_OPTION_COUNT)
        return 0;
    if (om_unlikely(!atomic_load_explicit(&loaded, memory_order_acquire)))
        load_once();
    return atomic_load_explicit(&values[opt], memory_order_relaxed);
}

void omi_option_store(om_option opt, long value) {
    if ((unsigned)opt >= OM_OPTION_COUNT)
        return;
    load_once();
    atomic_store(&values[opt], value);
}
