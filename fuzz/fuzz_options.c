/*
 * fuzz_options.c — the OBJMEM_* options read from the environment
 * (src/os/options.c; objmem.h section 7), against a parser of the
 * documented grammar written here.
 *
 * The input is a list of environment entries separated by NUL or newline
 * bytes; the first byte of each says what it is: OBJMEM_<a known option>=
 * followed by the rest (the value fuzzed), OBJMEM_ followed by the rest
 * (the name fuzzed), or the rest as it is.  `environ` is pointed at that
 * list and the options are read again (omi_options_init, the reading at
 * start), warnings re-armed so that they are printed every time, into a
 * file in memory instead of stderr.  Then:
 *   - each option has the value and origin the grammar gives for the
 *     first entry of its name (a switch: 1/yes/true/on, 0/no/false/off in
 *     any case; a number: decimal digits, a MiB one may end in M or G, a
 *     bytes one in K, M or G; above the maximum, or too big for any
 *     integer: the maximum; anything else: the default);
 *   - every line written is an objmem line ("objmem: ..."), ends with a
 *     newline, and is at most 640 bytes; a value the grammar rejects or
 *     clamps gets a warning.
 * Reading an empty environment then restores every default.
 * FUZZ_OPTIONS_STDERR=1 leaves the warnings on stderr (and a sanitizer's
 * report there too, when one is expected inside the reading).
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os/os.h"
#include "fuzz.h"

extern char **environ;

#define MAX_ENTRIES 64

static struct {
    om_option_info info[OM_OPTION_COUNT];
    int sink;  /* a memfd the warnings go to, -1: stderr */
    int ready;
} fx;

static void setup(void) {
    for (int i = 0; i < OM_OPTION_COUNT; i++)
        FZ_CHECK(om_option_describe((om_option)i, &fx.info[i]) == 0, "om_option_describe(%d)", i);
    const char *keep = getenv("FUZZ_OPTIONS_STDERR");
    fx.sink = keep && *keep == '1' ? -1 : memfd_create("objmem-fuzz-options", MFD_CLOEXEC);
    fx.ready = 1;
}

/* ---- the grammar, as objmem.h and options.c's comment state it ------------ */
enum { OK, BAD, ABOVE };

static int lower_eq(const char *v, const char *word) {
    size_t n = strlen(word);
    if (strlen(v) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]) != word[i])
            return 0;
    return 1;
}

static int grammar(const char *v, const om_option_info *o, long *out) {
    if (strcmp(o->kind, "switch") == 0) {
        static const char *const on[] = {"1", "yes", "true", "on"}, *const off[] = {"0", "no", "false", "off"};
        for (int i = 0; i < 4; i++) {
            if (lower_eq(v, on[i]))
                return *out = 1, OK;
            if (lower_eq(v, off[i]))
                return *out = 0, OK;
        }
        return BAD;
    }
    size_t digits = strspn(v, "0123456789");
    if (digits == 0)
        return BAD;
    const char *suffix = v + digits;
    long double scale = 1;
    if (*suffix && strcmp(o->kind, "MiB") == 0 && strchr("MmGg", *suffix))
        scale = *suffix == 'G' || *suffix == 'g' ? 1024 : 1;
    else if (*suffix && strcmp(o->kind, "bytes") == 0 && strchr("KkMmGg", *suffix))
        scale = *suffix == 'K' || *suffix == 'k' ? 1024.0L
              : *suffix == 'M' || *suffix == 'm' ? 1048576.0L : 1073741824.0L;
    else if (*suffix)
        return BAD;
    if (*suffix && suffix[1])
        return BAD;
    /* The number's size without integer arithmetic: leading zeros off,
     * then digits beyond 19 are above any maximum. */
    const char *d = v;
    while (d < suffix - 1 && *d == '0')
        d++;
    if (suffix - d > 19)
        return *out = o->max, ABOVE;
    unsigned long long n = 0;
    for (; d < suffix; d++)
        n = n * 10 + (unsigned)(*d - '0');
    if ((long double)n * scale > (long double)o->max)
        return *out = o->max, ABOVE;
    *out = (long)(n * (unsigned long long)scale);
    return OK;
}

/* ---- building the environment --------------------------------------------------- */
static int build_env(const uint8_t *data, size_t size, char *store, size_t cap, char **env) {
    int n = 0;
    size_t at = 0, used = 0;
    while (at < size && n < MAX_ENTRIES) {
        unsigned sel = data[at++];
        size_t end = at;
        while (end < size && data[end] != '\n' && data[end] != '\0')
            end++;
        char *e = store + used;
        int w = 0;
        if (sel % 3 == 0)
            w = snprintf(e, cap - used, "%s=", fx.info[(sel / 3) % OM_OPTION_COUNT].name);
        else if (sel % 3 == 1)
            w = snprintf(e, cap - used, "OBJMEM_");
        used += (size_t)w;
        memcpy(store + used, data + at, end - at);
        used += end - at;
        store[used++] = '\0';
        env[n++] = e;
        at = end + 1;
    }
    env[n] = NULL;
    return n;
}

/* What the reading must give: the first entry of each option's name. */
static void expect(char **env, long *value, int *origin, int *warnings) {
    /* `objmem run` names the process that warned already: then none. */
    for (char **e = env; *e; e++)
        if (strncmp(*e, "OBJMEM_WARNED_PID=", 18) == 0)
            *warnings = INT_MIN;
    for (int i = 0; i < OM_OPTION_COUNT; i++) {
        const char *name = fx.info[i].name;
        size_t len = strlen(name);
        value[i] = fx.info[i].default_value, origin[i] = OM_ORIGIN_DEFAULT;
        for (char **e = env; *e; e++) {
            if (strncmp(*e, name, len) != 0 || (*e)[len] != '=')
                continue;
            long v;
            int how = grammar(*e + len + 1, &fx.info[i], &v);
            if (how != BAD)
                value[i] = v, origin[i] = OM_ORIGIN_ENVIRONMENT;
            *warnings += how != OK;
            break;
        }
    }
}

static void check_output(int warnings) {
    if (fx.sink < 0)
        return;
    char buf[65536];
    ssize_t n = pread(fx.sink, buf, sizeof buf - 1, 0);
    FZ_CHECK(n >= 0, "reading the warnings back");
    buf[n] = '\0';
    int lines = 0;
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        FZ_CHECK(nl != NULL, "a line without its newline: '%s'", line);
        FZ_CHECK(strncmp(line, "objmem: ", 8) == 0, "a line that is not objmem's: '%.*s'", (int)(nl - line), line);
        FZ_CHECK(nl - line < 640, "a line of %d bytes", (int)(nl - line));
        lines += strncmp(line, "objmem: warning: OBJMEM_", 24) == 0;
        line = nl + 1;
    }
    FZ_CHECK(lines >= warnings, "%d warnings written, %d values rejected or clamped", lines, warnings);
    FZ_CHECK(ftruncate(fx.sink, 0) == 0 && lseek(fx.sink, 0, SEEK_SET) == 0, "emptying the warnings' file");
}

/* Read env as the options' environment, warnings going to the sink. */
static void read_options(char **env) {
    char **saved = environ;
    int err = -1;
    if (fx.sink >= 0) {
        err = dup(2);
        dup2(fx.sink, 2);
    }
    omi_options_rearm_warnings();
    environ = env;
    omi_options_init();
    environ = saved;
    if (err >= 0) {
        dup2(err, 2);
        close(err);
    }
}

static void check_values(const long *value, const int *origin, const char *when) {
    for (int i = 0; i < OM_OPTION_COUNT; i++) {
        om_option_info now;
        FZ_CHECK(om_option_describe((om_option)i, &now) == 0, "om_option_describe");
        FZ_CHECK(now.value == value[i] && om_option_get((om_option)i) == value[i] && (int)now.origin == origin[i],
                 "%s: %s is %ld (origin %s), the grammar says %ld (origin %s)", when, now.name, now.value,
                 om_option_origin_name(now.origin), value[i], om_option_origin_name((om_option_origin)origin[i]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char store[1 << 17];
    char *env[MAX_ENTRIES + 1], *none[1] = {NULL};
    long value[OM_OPTION_COUNT];
    int origin[OM_OPTION_COUNT], warnings = 0;
    if (!fx.ready)
        setup();
    if (size > sizeof store / 2)
        return 0;
    build_env(data, size, store, sizeof store, env);
    expect(env, value, origin, &warnings);
    read_options(env);
    check_values(value, origin, "from the input's environment");
    check_output(warnings);
    read_options(none);
    for (int i = 0; i < OM_OPTION_COUNT; i++)
        value[i] = fx.info[i].default_value, origin[i] = OM_ORIGIN_DEFAULT;
    check_values(value, origin, "after an empty environment");
    check_output(0);
    return 0;
}
