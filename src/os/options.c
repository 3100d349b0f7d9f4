/*
 * options.c — the OBJMEM_* options: one table, read from the environment.
 *
 * The environment is read by walking `environ` (no getenv, no allocation:
 * the first reading can happen inside the first malloc of a process that
 * preloads the drop-in).  It is read when objmem starts and again when its
 * constructors run, since the loader may call malloc before libc has set
 * `environ`.  A later reading never overwrites a value om_option_set gave.
 *
 * The grammar of a value; anything else is rejected:
 *   switch  1 yes true on | 0 no false off                  (any case)
 *   ms      decimal digits: a number of milliseconds         0 .. MAX_MS
 *   MiB     decimal digits, a number of MiB, optionally      0 .. MAX_MIB
 *           ending in M (MiB, the same) or G (GiB: x 1024)
 *   count   decimal digits                                   0 .. the option's max
 *   bytes   decimal digits, optionally ending in K, M or G   0 .. MAX_BYTES
 *           (x 1024, 1024^2, 1024^3)
 * Decimal only (a leading 0 is not octal, 0x is not hex), no sign, no
 * fraction, no spaces, no other suffix, not empty.
 *
 *   rejected value         the default is used, with a warning
 *   number above maximum   the maximum is used, with a warning (a number
 *                          too big for any integer type counts as above:
 *                          arithmetic is checked, it never wraps)
 *   unknown OBJMEM_ name   ignored, with a warning (and a near name if one
 *                          is known: OBJMEM_STAT -> OBJMEM_STATS)
 *
 * Warnings go to stderr whatever OBJMEM_VERBOSE says, each naming the
 * variable, the value given and what is used, written by write(2) from a
 * stack buffer.  They appear once per process: the reading that prints
 * them is claimed by an atomic flag (a copy of objmem prints once however
 * often it reads), and only the copy that speaks for the process prints
 * (process.c: libobjmem and the drop-in may both be loaded).
 * OBJMEM_VERBOSE=1 adds, then, the list of every option in force.
 *
 * Locking: readings and om_option_set take `lock` (a plain mutex: no
 * allocation; re-made in fork's child); om_option_get reads one atomic.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "os/os.h"

extern char **environ;

/* Milliseconds become nanoseconds in 64 bits, tripled and added to a clock
 * reading (heap.c): 10^12 ms (about 31 years) leaves room for both. */
#define MAX_MS ((long)(LONG_MAX / 1000000 < 1000000000000LL ? LONG_MAX / 1000000 : 1000000000000LL))
#define MAX_MIB 1048576L /* 1 TiB of cached large blocks */
#define MAX_BYTES (1L << 40)

typedef enum option_kind { KIND_SWITCH, KIND_MS, KIND_MIB, KIND_COUNT, KIND_BYTES } option_kind;

typedef struct option_desc {
    const char *name; /* the whole variable name */
    option_kind kind;
    long def, max;
    const char *summary;
} option_desc;

#define SWITCH(name, def, summary) {name, KIND_SWITCH, def, 1, summary}

static const option_desc table[OM_OPTION_COUNT] = {
    [OM_OPTION_CHECKED] = SWITCH("OBJMEM_CHECKED", 0, "validate every free fully"),
    [OM_OPTION_PURGE_DELAY_MS] = {"OBJMEM_PURGE_DELAY_MS", KIND_MS, 10, MAX_MS,
                                  "empty pools go back to the kernel this long after they empty"},
    [OM_OPTION_PURGE_DECOMMIT] = SWITCH("OBJMEM_PURGE_DECOMMIT", 1, "purge with MADV_DONTNEED (0: MADV_FREE)"),
    [OM_OPTION_LARGE_CACHE_MB] = {"OBJMEM_LARGE_CACHE_MB", KIND_MIB, 64, MAX_MIB,
                                  "freed large blocks kept for reuse, at least (0: no cache)"},
    [OM_OPTION_VERBOSE] = SWITCH("OBJMEM_VERBOSE", 0, "messages on stderr, this list at start"),
    [OM_OPTION_STATS] = SWITCH("OBJMEM_STATS", 0, "the statistics report on stderr at exit (not at _exit)"),
#ifdef OM_OVERRIDE
    [OM_OPTION_REPORT_FOREIGN] = SWITCH("OBJMEM_REPORT_FOREIGN", 0, "report a free of a pointer objmem does not own"),
#else
    [OM_OPTION_REPORT_FOREIGN] = SWITCH("OBJMEM_REPORT_FOREIGN", 1, "report a free of a pointer objmem does not own"),
#endif
    [OM_OPTION_BACKGROUND] = SWITCH("OBJMEM_BACKGROUND", 0, "start the background purge thread at load"),
    [OM_OPTION_LARGE_DECAY_MS] = {"OBJMEM_LARGE_DECAY_MS", KIND_MS, 1000, MAX_MS,
                                  "a cached large block unused this long gives its pages back"},
    [OM_OPTION_SNAPSHOT_EVERY_MS] = {"OBJMEM_SNAPSHOT_EVERY_MS", KIND_MS, 100, MAX_MS,
                                     "drop-in: a heap snapshot to OBJMEM_SNAPSHOT_FILE this often (0: start, exit)"},
    [OM_OPTION_TRACE] = {"OBJMEM_TRACE", KIND_COUNT, 0, 128,
                         "trace allocations with this many frames from load, report at exit (0: off)"},
    [OM_OPTION_TRACE_SAMPLE] = {"OBJMEM_TRACE_SAMPLE", KIND_BYTES, 0, MAX_BYTES,
                                "trace one allocation per this many bytes on average (0: all)"},
    [OM_OPTION_DEBUG] = SWITCH("OBJMEM_DEBUG", 0, "debug mode: guards, fills, quarantine, checked frees"),
    [OM_OPTION_DEBUG_QUARANTINE_MB] = {"OBJMEM_DEBUG_QUARANTINE_MB", KIND_MIB, 16, MAX_MIB,
                                       "freed blocks debug mode holds back and checks (0: none)"},
    [OM_OPTION_SECURE] = {"OBJMEM_SECURE", KIND_COUNT, 0, 2,
                          "hardened mode from start (1; 2: also zero on free, checked at reuse, whole-carve shuffle)"},
};

/* OBJMEM_ names that are not options in the table, but are objmem's; the
 * first is the library's own and listed with the options. */
static const char *const other_names[] = {
    "OBJMEM_STATS_JSON", /* the drop-in: file of the JSON report at exit */
    "OBJMEM_MALLOC_LIB", /* objmem run: the drop-in library to preload */
    "OBJMEM_WARNED_PID", /* objmem run: the process that warned already */
    "OBJMEM_SNAPSHOT_FILE", /* the drop-in: file heap snapshots are appended to */
    "OBJMEM_TRACE_FILE",    /* tracing: file of the JSON report at exit */
    "OBJMEM_REPORT_SIGNAL", /* tracing: the signal that asks for a report */
};

/* OBJMEM_WARNED_PID names this process: `objmem run` read the options and
 * warned before it exec'd this program (same pid); not again. */
static int warned_before_exec(char **env) {
    static const char name[] = "OBJMEM_WARNED_PID=";
    for (char **e = env; e && *e; e++) {
        if (strncmp(*e, name, sizeof name - 1) != 0)
            continue;
        long pid = 0;
        const char *s = *e + sizeof name - 1;
        if (!*s)
            return 0;
        for (; *s; s++) {
            if (*s < '0' || *s > '9' || pid > 99999999)
                return 0;
            pid = pid * 10 + (*s - '0');
        }
        return pid == (long)getpid();
    }
    return 0;
}

static const char *const origin_names[] = {"default", "environment", "om_option_set"};

static struct {
    pthread_mutex_t lock;
    _Atomic long value[OM_OPTION_COUNT];
    _Atomic int origin[OM_OPTION_COUNT]; /* om_option_origin */
    _Atomic int environ_read;            /* a reading found `environ` set */
    _Atomic int reported;                /* the warnings are printed, or left to another copy */
} opt = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- a line on the stack, written with write(2) ------------------------- */
typedef struct line {
    char buf[640];
    size_t len;
} line;

static void put_n(line *l, const char *s, size_t n) {
    for (size_t i = 0; i < n && s[i] && l->len < sizeof l->buf - 1; i++)
        l->buf[l->len++] = s[i];
}

static void put(line *l, const char *s) { put_n(l, s, (size_t)-1); }

static void put_long(line *l, long v) {
    char d[24];
    int n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do
        d[n++] = (char)('0' + u % 10);
    while ((u /= 10) && n < (int)sizeof d);
    if (v < 0)
        put(l, "-");
    while (n)
        put_n(l, &d[--n], 1);
}

/* A value as the user gave it, cut short if it is long. */
static void put_value(line *l, const char *v) {
    put_n(l, v, 80);
    if (strlen(v) > 80)
        put(l, "...");
}

static void send(line *l) {
    l->buf[l->len++] = '\n';
    for (size_t done = 0; done < l->len;) {
        ssize_t w = write(2, l->buf + done, l->len - done);
        if (w <= 0)
            return;
        done += (size_t)w;
    }
}

/* ---- parsing -------------------------------------------------------------- */
typedef enum parsed { PARSED_OK, PARSED_BAD, PARSED_NEGATIVE, PARSED_ABOVE } parsed;

/* a is the word b (lower case) in any case.  Only A-Z fold: a control
 * character is not a digit (0x10 | 0x20 is '0'). */
static int same_word(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if ((*a >= 'A' && *a <= 'Z' ? *a + ('a' - 'A') : *a) != *b)
            return 0;
    return *a == *b;
}

static parsed parse_switch(const char *v, long *out) {
    static const char *const on[] = {"1", "yes", "true", "on"}, *const off[] = {"0", "no", "false", "off"};
    for (int i = 0; i < 4; i++) {
        if (same_word(v, on[i]))
            return *out = 1, PARSED_OK;
        if (same_word(v, off[i]))
            return *out = 0, PARSED_OK;
    }
    return PARSED_BAD;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Decimal digits (MiB: and an M or G), checked against overflow and max. */
static parsed parse_number(const char *v, const option_desc *d, long *out) {
    if (v[0] == '-' && is_digit(v[1]))
        return PARSED_NEGATIVE;
    if (!is_digit(*v))
        return PARSED_BAD;
    unsigned long long n = 0;
    int over = 0;
    for (; is_digit(*v); v++)
        over |= __builtin_mul_overflow(n, 10u, &n) || __builtin_add_overflow(n, (unsigned)(*v - '0'), &n);
    unsigned long long scale = 1;
    if (d->kind == KIND_MIB && (*v == 'M' || *v == 'm'))
        v++;
    else if (d->kind == KIND_MIB && (*v == 'G' || *v == 'g'))
        scale = 1024, v++;
    else if (d->kind == KIND_BYTES && *v && strchr("KkMmGg", *v))
        scale = 1ull << (10 * (1 + (int)((strchr("KkMmGg", *v) - "KkMmGg") / 2))), v++;
    if (*v)
        return PARSED_BAD;
    over |= __builtin_mul_overflow(n, scale, &n);
    if (over || n > (unsigned long long)d->max)
        return *out = d->max, PARSED_ABOVE;
    *out = (long)n;
    return PARSED_OK;
}

static parsed parse_value(const char *v, const option_desc *d, long *out) {
    return d->kind == KIND_SWITCH ? parse_switch(v, out) : parse_number(v, d, out);
}

/* ---- warnings --------------------------------------------------------------- */
static const char *const expected[] = {
    [KIND_SWITCH] = "is not a switch (1/0, yes/no, true/false, on/off)",
    [KIND_MS] = "is not a number of milliseconds",
    [KIND_MIB] = "is not a number of MiB (decimal digits, optionally ending in M or G)",
    [KIND_COUNT] = "is not a number (decimal digits)",
    [KIND_BYTES] = "is not a number of bytes (decimal digits, optionally ending in K, M or G)",
};

static const char *const units[] = {[KIND_SWITCH] = "", [KIND_MS] = " ms", [KIND_MIB] = " MiB",
                                    [KIND_COUNT] = "", [KIND_BYTES] = " bytes"};

static void warn_value(const char *entry, const option_desc *d, parsed how, long used) {
    line l = {.len = 0};
    put(&l, "objmem: warning: ");
    put(&l, d->name);
    put(&l, "=");
    put_value(&l, strchr(entry, '=') + 1);
    put(&l, " ");
    if (how == PARSED_ABOVE) {
        put(&l, "is above the maximum ");
        put_long(&l, d->max);
        put(&l, units[d->kind]);
        put(&l, "; using ");
    } else {
        put(&l, how == PARSED_NEGATIVE ? "is negative" : expected[d->kind]);
        put(&l, "; using the default ");
    }
    put_long(&l, used);
    send(&l);
}

/* Edit distance of a and b (each at most 40 characters), for suggestions. */
static size_t distance(const char *a, size_t na, const char *b) {
    size_t nb = strlen(b), row[41];
    if (na > 40 || nb > 40)
        return (size_t)-1;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            diag = up;
            row[j] = best;
        }
    }
    return row[nb];
}

static const char *known_name(size_t i) {
    return i < OM_OPTION_COUNT ? table[i].name : other_names[i - OM_OPTION_COUNT];
}

enum { KNOWN_NAMES = OM_OPTION_COUNT + (int)(sizeof other_names / sizeof other_names[0]) };

static void warn_unknown(const char *entry, size_t name_len) {
    const char *near = NULL;
    size_t best = 3; /* suggest a name at most 2 edits away */
    for (size_t i = 0; i < KNOWN_NAMES; i++) {
        size_t d = distance(entry, name_len, known_name(i));
        if (d < best)
            best = d, near = known_name(i);
    }
    line l = {.len = 0};
    put(&l, "objmem: warning: ");
    put_value(&l, entry);
    put(&l, " is not an objmem option");
    if (near) {
        put(&l, " (did you mean ");
        put(&l, near);
        put(&l, "?)");
    }
    put(&l, "; ignored");
    send(&l);
}

/* ---- reading the environment ---------------------------------------------------- */
/* The index of the known name entry starts with, -1 if unknown. */
static int lookup(const char *entry, size_t name_len) {
    for (size_t i = 0; i < KNOWN_NAMES; i++) {
        const char *n = known_name(i);
        if (strlen(n) == name_len && strncmp(entry, n, name_len) == 0)
            return (int)i;
    }
    return -1;
}

/* One OBJMEM_ entry of environ into v/origin; a warning if speak.  The
 * first entry of a name counts, as for getenv: seen marks it. */
static void read_entry(const char *entry, long *v, int *origin, char *seen, int speak) {
    const char *eq = strchr(entry, '=');
    if (!eq)
        return;
    int i = lookup(entry, (size_t)(eq - entry));
    if (i < 0) {
        if (speak)
            warn_unknown(entry, (size_t)(eq - entry));
        return;
    }
    if (i >= OM_OPTION_COUNT || seen[i])
        return;
    seen[i] = 1;
    long got;
    parsed how = parse_value(eq + 1, &table[i], &got);
    if (how == PARSED_OK || how == PARSED_ABOVE)
        v[i] = got, origin[i] = OM_ORIGIN_ENVIRONMENT;
    if (how != PARSED_OK && speak)
        warn_value(entry, &table[i], how, v[i]);
}

static void list_options(void);

void omi_options_init(void) {
    long v[OM_OPTION_COUNT];
    int origin[OM_OPTION_COUNT];
    char seen[OM_OPTION_COUNT] = {0};
    for (int i = 0; i < OM_OPTION_COUNT; i++)
        v[i] = table[i].def, origin[i] = OM_ORIGIN_DEFAULT;

    pthread_mutex_lock(&opt.lock);
    char **env = environ;
    int speak = env && !atomic_load(&opt.reported) && omi_process_speaks() && !warned_before_exec(env);
    if (env)
        atomic_store(&opt.reported, 1);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, "OBJMEM_", 7) == 0)
            read_entry(*e, v, origin, seen, speak);
    for (int i = 0; i < OM_OPTION_COUNT; i++) {
        if (atomic_load(&opt.origin[i]) == OM_ORIGIN_API)
            continue;
        atomic_store(&opt.value[i], v[i]);
        atomic_store(&opt.origin[i], origin[i]);
    }
    if (env)
        atomic_store_explicit(&opt.environ_read, 1, memory_order_release);
    if (speak && atomic_load(&opt.value[OM_OPTION_VERBOSE]))
        list_options();
    pthread_mutex_unlock(&opt.lock);
}

/* The value of OBJMEM_<name> as a string (in environ, not copied), or NULL. */
const char *omi_option_string(const char *name) {
    size_t len = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "OBJMEM_", 7) == 0 && strncmp(*e + 7, name, len) == 0 && (*e)[7 + len] == '=')
            return *e + 8 + len;
    return NULL;
}

long omi_option_value(om_option o) {
    if ((unsigned)o >= OM_OPTION_COUNT)
        return 0;
    if (om_unlikely(!atomic_load_explicit(&opt.environ_read, memory_order_acquire)))
        omi_options_init();
    return atomic_load_explicit(&opt.value[o], memory_order_relaxed);
}

/* Clamped to the option's range: a switch holds 0 or 1. */
long omi_option_store(om_option o, long value) {
    if ((unsigned)o >= OM_OPTION_COUNT)
        return 0;
    if (!atomic_load_explicit(&opt.environ_read, memory_order_acquire))
        omi_options_init();
    const option_desc *d = &table[o];
    value = d->kind == KIND_SWITCH ? value != 0 : value < 0 ? 0 : value > d->max ? d->max : value;
    pthread_mutex_lock(&opt.lock);
    atomic_store(&opt.value[o], value);
    atomic_store(&opt.origin[o], OM_ORIGIN_API);
    pthread_mutex_unlock(&opt.lock);
    return value;
}

void omi_options_rearm_warnings(void) { atomic_store(&opt.reported, 0); }

/* fork's child: the lock may have been held by a thread the child lacks
 * (every value is an atomic on its own, so none is torn). */
void omi_options_fork_child(void) { pthread_mutex_init(&opt.lock, NULL); }

/* ---- the public face ---------------------------------------------------------------- */
long om_option_get(om_option o) { return omi_option_value(o); }

/* This copy's om_option_get, whatever the loader bound the name to. */
extern __typeof__(om_option_get) omi_option_get_own __attribute__((alias("om_option_get"), visibility("hidden")));

int (om_option_describe)(om_option o, om_option_info *out, size_t size) {
    static const char *const kinds[] = {[KIND_SWITCH] = "switch", [KIND_MS] = "ms", [KIND_MIB] = "MiB",
                                        [KIND_COUNT] = "count", [KIND_BYTES] = "bytes"};
    if ((unsigned)o >= OM_OPTION_COUNT || !out)
        return EINVAL;
    long value = omi_option_value(o);
    const option_desc *d = &table[o];
    om_option_info info = {.name = d->name, .kind = kinds[d->kind], .summary = d->summary, .value = value,
                           .default_value = d->def, .max = d->max,
                           .origin = (om_option_origin)atomic_load(&opt.origin[o])};
    omi_struct_out(out, size, &info, sizeof info);
    return 0;
}

const char *om_option_origin_name(om_option_origin origin) {
    return (unsigned)origin < sizeof origin_names / sizeof origin_names[0] ? origin_names[origin] : "?";
}

/* ---- OBJMEM_VERBOSE=1: the options in force, at start ----------------------------- */
static void list_options(void) {
    char who[256];
    line l = {.len = 0};
    omi_process_describe(who, sizeof who);
    put(&l, "objmem: options in force in ");
    put(&l, who);
    put(&l, ":");
    send(&l);
    for (int i = 0; i < OM_OPTION_COUNT; i++) {
        l.len = 0;
        put(&l, "objmem:   ");
        put(&l, table[i].name);
        put(&l, "=");
        put_long(&l, atomic_load(&opt.value[i]));
        while (l.len < 44)
            put(&l, " ");
        put(&l, origin_names[atomic_load(&opt.origin[i])]);
        send(&l);
    }
    const char *json = omi_option_string(other_names[0] + 7);
    l.len = 0;
    put(&l, "objmem:   ");
    put(&l, other_names[0]);
    put(&l, "=");
    put_value(&l, json ? json : "");
    while (l.len < 44)
        put(&l, " ");
    put(&l, json ? "environment" : "not set");
    send(&l);
    l.len = 0;
    put(&l, "objmem: reports at exit are written by exit() and a return from main, not by _exit() "
            "or a fatal signal");
    send(&l);
}
