/*
 * report.c — `objmem report FILE.json` prints a tracing report saved as
 * JSON (OBJMEM_TRACE_FILE, om_trace_report(fd, OM_REPORT_JSON));
 * `objmem report --diff OLD.json NEW.json` compares two, site by site.
 *
 * It reads the format objmem writes (src/trace/report.c), not JSON at
 * large: the header's fields by name, then one site per line, each
 * `{"bytes": N, "count": N, "site": "...", "function": "...", "stack":
 * [...]}`.  A file without the "objmem_trace" key is refused.  Sites are
 * whole stacks; both views group them by site (file:line), as the text
 * report at exit does.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_report_help[] =
    "FILE.json is a tracing report objmem wrote as JSON (OBJMEM_TRACE_FILE=FILE with\n"
    "OBJMEM_TRACE or `objmem run --trace`, or om_trace_report).  Prints its process,\n"
    "totals, the top sites (file:line) by live bytes and by live blocks, and the\n"
    "largest allocation stacks; a report written at exit lists the leaks.\n"
    "\n"
    "options:\n"
    "  --diff OLD NEW  each site's change from OLD to NEW, largest change first\n"
    "  -h, --help      this message\n";

typedef struct site {
    char *site, *function, *stack; /* stack: frames, one "      at ..." line each */
    uint64_t bytes, count, old_bytes, old_count;
} site;

typedef struct report {
    char *text;
    char command[512], reason[32];
    long pid;
    uint64_t current, peak, blocks, sample;
    site *sites;
    size_t nsites;
} report;

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    if (!f)
        return NULL;
    do {
        if (len + 4096 + 1 > cap) {
            char *b = realloc(buf, cap = cap * 2 + 8192);
            if (!b) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = b;
        }
        n = fread(buf + len, 1, 4096, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* The JSON string at *p (at its opening quote) into out; *p past it. */
static void parse_string(const char **p, char *out, size_t cap) {
    const char *s = *p;
    size_t n = 0;
    if (*s == '"')
        s++;
    for (; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\' && s[1]) {
            c = *++s;
            if (c == 'u' && strlen(s) >= 5) {
                c = (char)strtol((char[]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
                s += 4;
            } else if (c == 'n') {
                c = '\n';
            }
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    out[n] = '\0';
    *p = *s ? s + 1 : s;
}

static uint64_t field_u64(const char *text, const char *key) {
    const char *p = strstr(text, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void field_string(const char *text, const char *key, char *out, size_t cap) {
    const char *p = strstr(text, key);
    out[0] = '\0';
    if (p) {
        p += strlen(key);
        parse_string(&p, out, cap);
    }
}

/* "      at FRAME\n" after the *len bytes of s->stack (*cap allocated),
 * which grows to fit: a line of many short frames ("", "", ...) makes
 * more text than any fixed multiple of its length.  0 when out of memory
 * (s->stack freed, NULL). */
static int append_frame(site *s, size_t *len, size_t *cap, const char *frame) {
    size_t need = *len + strlen(frame) + sizeof "      at \n";
    if (need > *cap) {
        char *more = realloc(s->stack, *cap = need * 2);
        if (!more) {
            free(s->stack);
            s->stack = NULL;
            return 0;
        }
        s->stack = more;
    }
    *len += (size_t)snprintf(s->stack + *len, *cap - *len, "      at %s\n", frame);
    return 1;
}

/* One site line into s; 0 if the line is not one. */
static int parse_site(const char *line, site *s) {
    char buf[4096];
    const char *p;
    memset(s, 0, sizeof *s);
    if (strncmp(line, "  {\"bytes\": ", 12) != 0)
        return 0;
    s->bytes = field_u64(line, "{\"bytes\": ");
    s->count = field_u64(line, "\"count\": ");
    field_string(line, "\"site\": ", buf, sizeof buf);
    s->site = strdup(buf);
    field_string(line, "\"function\": ", buf, sizeof buf);
    s->function = strdup(buf);
    size_t cap = 256, len = 0;
    s->stack = calloc(1, cap);
    p = strstr(line, "\"stack\": [");
    for (p = p ? p + 10 : ""; s->stack && *p == '"';) {
        parse_string(&p, buf, sizeof buf);
        if (!append_frame(s, &len, &cap, buf))
            break;
        while (*p == ',' || *p == ' ')
            p++;
    }
    if (s->site && s->function && s->stack)
        return 1;
    free(s->site), free(s->function), free(s->stack);
    return 0;
}

static void unload(report *r) {
    for (size_t i = 0; i < r->nsites; i++)
        free(r->sites[i].site), free(r->sites[i].function), free(r->sites[i].stack);
    free(r->sites);
    free(r->text);
    memset(r, 0, sizeof *r);
}

static int load(const char *path, report *r) {
    memset(r, 0, sizeof *r);
    if (!(r->text = read_file(path))) {
        fprintf(stderr, "objmem report: %s: %s\n", path, strerror(errno));
        return CLI_FAIL;
    }
    if (!strstr(r->text, "{\"objmem_trace\": ")) {
        fprintf(stderr, "objmem report: %s: not a tracing report of objmem's (no \"objmem_trace\" key)\n", path);
        return CLI_FAIL;
    }
    r->pid = (long)field_u64(r->text, "\"pid\": ");
    field_string(r->text, "\"command\": ", r->command, sizeof r->command);
    field_string(r->text, "\"reason\": ", r->reason, sizeof r->reason);
    r->current = field_u64(r->text, "\"current\": ");
    r->peak = field_u64(r->text, "\"peak\": ");
    r->blocks = field_u64(r->text, "\"blocks\": ");
    r->sample = field_u64(r->text, "\"sample_bytes\": ");
    size_t cap = 16;
    r->sites = malloc(cap * sizeof *r->sites);
    for (char *line = r->text; r->sites && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (r->nsites == cap) {
            site *s = realloc(r->sites, (cap *= 2) * sizeof *s);
            if (!s)
                break;
            r->sites = s;
        }
        if (parse_site(line, &r->sites[r->nsites]))
            r->nsites++;
        line = nl ? nl + 1 : NULL;
    }
    if (!r->sites) {
        fprintf(stderr, "objmem report: %s: out of memory\n", path);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* Sites by site name, merged: a new array (caller frees); old = 1 puts the
 * numbers in old_bytes/old_count. */
static site *by_site(site *merged, size_t *n, const report *r, int old) {
    for (size_t i = 0; i < r->nsites; i++) {
        const site *s = &r->sites[i];
        size_t j = 0;
        while (j < *n && strcmp(merged[j].site, s->site) != 0)
            j++;
        if (j == *n) {
            merged[j] = *s;
            merged[j].bytes = merged[j].count = merged[j].old_bytes = merged[j].old_count = 0;
            (*n)++;
        }
        if (old)
            merged[j].old_bytes += s->bytes, merged[j].old_count += s->count;
        else
            merged[j].bytes += s->bytes, merged[j].count += s->count;
    }
    return merged;
}

static int cmp_bytes(const void *a, const void *b) {
    const site *x = a, *y = b;
    return x->bytes != y->bytes ? (x->bytes < y->bytes ? 1 : -1) : strcmp(x->site, y->site);
}

static int cmp_count(const void *a, const void *b) {
    const site *x = a, *y = b;
    return x->count != y->count ? (x->count < y->count ? 1 : -1) : strcmp(x->site, y->site);
}

/* |bytes - old_bytes|, in unsigned arithmetic: a difference of 2^63 has
 * no negation in int64_t. */
static uint64_t change(const site *s) {
    return s->bytes >= s->old_bytes ? s->bytes - s->old_bytes : s->old_bytes - s->bytes;
}

static int cmp_change(const void *a, const void *b) {
    uint64_t x = change(a), y = change(b);
    return x != y ? (x < y ? 1 : -1) : cmp_bytes(a, b);
}

static void print_head(const report *r, const char *path) {
    printf("%s: allocation trace of pid %ld (%s), written at %s\n", path, r->pid, r->command, r->reason);
    printf("traced memory: %" PRIu64 " bytes live in %" PRIu64 " blocks, peak %" PRIu64 " bytes\n", r->current,
           r->blocks, r->peak);
    if (r->sample)
        printf("sampling: one allocation per %" PRIu64 " bytes on average (estimates)\n", r->sample);
}

static int show_report(const report *rp, const char *path) {
    const report r = *rp;
    size_t n = 0, top;
    site *m = calloc(r.nsites + 1, sizeof *m);
    if (!m)
        return CLI_FAIL;
    by_site(m, &n, &r, 0);
    print_head(&r, path);
    top = n < 10 ? n : 10;
    qsort(m, n, sizeof *m, cmp_bytes);
    printf("\ntop %zu sites by live bytes:\n", top);
    for (size_t i = 0; i < top; i++)
        printf("  %12" PRIu64 " bytes %9" PRIu64 " blocks  %s (%s)\n", m[i].bytes, m[i].count, m[i].site,
               m[i].function);
    qsort(m, n, sizeof *m, cmp_count);
    printf("\ntop %zu sites by live blocks:\n", top);
    for (size_t i = 0; i < top; i++)
        printf("  %12" PRIu64 " blocks %12" PRIu64 " bytes  %s (%s)\n", m[i].count, m[i].bytes, m[i].site,
               m[i].function);
    int at_exit = strcmp(r.reason, "exit") == 0;
    printf("\n%s: %zu allocation stacks (largest 50 shown)\n", at_exit ? "leaks, live at exit" : "live blocks",
           r.nsites);
    for (size_t i = 0; i < r.nsites && i < 50; i++)
        printf("  %" PRIu64 " bytes in %" PRIu64 " blocks allocated at %s\n%s", r.sites[i].bytes, r.sites[i].count,
               r.sites[i].site, r.sites[i].stack);
    free(m);
    return CLI_OK;
}

static int show(const char *path) {
    report r;
    int rc = load(path, &r);
    if (rc == CLI_OK)
        rc = show_report(&r, path);
    unload(&r);
    return rc;
}

static int diff_reports(const report *rap, const report *rbp) {
    const report ra = *rap, rb = *rbp;
    size_t n = 0;
    site *m = calloc(ra.nsites + rb.nsites + 1, sizeof *m);
    if (!m)
        return CLI_FAIL;
    by_site(m, &n, &rb, 0);
    by_site(m, &n, &ra, 1);
    qsort(m, n, sizeof *m, cmp_change);
    printf("old: pid %ld (%s): %" PRIu64 " bytes in %" PRIu64 " blocks\n", ra.pid, ra.command, ra.current,
           ra.blocks);
    printf("new: pid %ld (%s): %" PRIu64 " bytes in %" PRIu64 " blocks (%+" PRId64 " bytes, %+" PRId64 " blocks)\n",
           rb.pid, rb.command, rb.current, rb.blocks, (int64_t)(rb.current - ra.current),
           (int64_t)(rb.blocks - ra.blocks));
    for (size_t i = 0; i < n; i++) {
        if (m[i].bytes == m[i].old_bytes && m[i].count == m[i].old_count)
            continue;
        uint64_t c = m[i].count;
        printf("%s: size=%" PRIu64 " B (%+" PRId64 " B), count=%" PRIu64 " (%+" PRId64 "), average=%" PRIu64 " B\n",
               m[i].site, m[i].bytes, (int64_t)(m[i].bytes - m[i].old_bytes), c, (int64_t)(c - m[i].old_count),
               c ? m[i].bytes / c : 0);
    }
    free(m);
    return CLI_OK;
}

static int diff(const char *a, const char *b) {
    report ra, rb;
    int rc = load(a, &ra);
    memset(&rb, 0, sizeof rb);
    if (rc == CLI_OK)
        rc = load(b, &rb);
    if (rc == CLI_OK)
        rc = diff_reports(&ra, &rb);
    unload(&ra);
    unload(&rb);
    return rc;
}

int cli_cmd_report(int argc, char **argv) {
    int d = 0, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (cli_is_help_option(argv[i]))
            return cli_help("report");
        if (strcmp(argv[i], "--diff") == 0)
            d = 1;
        else
            return cli_usage_error("report", "unknown option '%s'", argv[i]);
    }
    if (argc - i != (d ? 2 : 1))
        return cli_usage_error("report", d ? "--diff needs two files" : "one report file expected");
    return d ? diff(argv[i], argv[i + 1]) : show(argv[i]);
}
