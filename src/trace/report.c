/*
 * report.c — tracing's reports, text or JSON, written to a file
 * descriptor: statistics of a snapshot, a comparison of two, and the
 * whole report (om_trace_report; at exit the leak report; on
 * OBJMEM_REPORT_SIGNAL).
 *
 * The whole report: a line naming the process (as the statistics report
 * at exit does), the totals and peak, the top sites (file:line) by live
 * bytes and by live blocks, then every allocation stack with live blocks,
 * largest first, each frame symbolized.  At exit those are the blocks the
 * program never freed: the leak report.  JSON puts one site per line
 * (`objmem report` reads it back: tools/objmem/report.c).
 *
 * Output goes through a buffer on the stack and write(2).  Symbols come
 * from libdw, which allocates: every report suspends observation on its
 * thread, so its own allocations are not traced.
 *
 * The signal: its handler only writes a byte to a pipe (async-signal-safe,
 * errno kept); a reporter thread started with tracing waits on the pipe
 * and writes the report: JSON to OBJMEM_TRACE_FILE with ".N" appended
 * (N = 1, 2, ...) when that is set, else text on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"

#define TOP_SITES 10
#define TEXT_STACKS 50 /* stacks printed in full by the text report */

/* ---- buffered output: os/fdbuf.c ------------------------------------------------- */
typedef omi_fdbuf wbuf;

static void put(wbuf *w, const char *s, size_t n) { omi_fdbuf_put(w, s, n); }

#define wprintf_ omi_fdbuf_printf
#define json_str omi_fdbuf_json_str

static const char *group_name(int by) {
    static const char *const names[] = {"traceback", "lineno", "function", "filename"};
    return by >= 0 && by <= 3 ? names[by] : "?";
}

static uint64_t blocks_of(uint64_t count) { return (count + OMI_TRACE_ONE / 2) / OMI_TRACE_ONE; }

/* ---- statistics and comparisons --------------------------------------------------- */
static void stat_text(wbuf *w, const omi_group *g, int compare) {
    uint64_t n = blocks_of(g->count);
    int64_t dn = ((int64_t)g->count - (int64_t)g->old_count) / (int64_t)OMI_TRACE_ONE;
    int64_t db = (int64_t)g->bytes - (int64_t)g->old_bytes;
    if (compare)
        wprintf_(w, "%s: size=%llu B (%+lld B), count=%llu (%+lld), average=%llu B\n", g->key,
                 (unsigned long long)g->bytes, (long long)db, (unsigned long long)n, (long long)dn,
                 (unsigned long long)(n ? g->bytes / n : 0));
    else
        wprintf_(w, "%s: size=%llu B, count=%llu, average=%llu B\n", g->key, (unsigned long long)g->bytes,
                 (unsigned long long)n, (unsigned long long)(n ? g->bytes / n : 0));
}

static void stat_json(wbuf *w, const omi_group *g, int first) {
    wprintf_(w, "%s\n  {\"site\": ", first ? "" : ",");
    json_str(w, g->key);
    wprintf_(w, ", \"function\": ");
    json_str(w, g->function);
    wprintf_(w, ", \"bytes\": %llu, \"count\": %llu, \"bytes_diff\": %lld, \"count_diff\": %lld}",
             (unsigned long long)g->bytes, (unsigned long long)blocks_of(g->count),
             (long long)((int64_t)g->bytes - (int64_t)g->old_bytes),
             (long long)(((int64_t)g->count - (int64_t)g->old_count) / (int64_t)OMI_TRACE_ONE));
}

static int write_groups(const om_trace_snap *newer, const om_trace_snap *older, int by, int fd, int format) {
    if (!omi_trace_stack_available())
        return ENOSYS;
    if (format != OM_REPORT_TEXT && format != OM_REPORT_JSON)
        return EINVAL;
    int was = omi_alloc_observe_suspend(1);
    omi_symbolizer *sym = omi_symbolizer_open();
    omi_grouping g;
    int rc = omi_group_snaps(newer, older, by, sym, &g);
    if (rc == 0) {
        wbuf w = {.fd = fd};
        if (format == OM_REPORT_JSON)
            wprintf_(&w, "{\"group_by\": \"%s\", \"compare\": %s, \"stats\": [", group_name(by),
                     older ? "true" : "false");
        for (size_t i = 0; i < g.ngroups; i++)
            format == OM_REPORT_JSON ? stat_json(&w, &g.groups[i], i == 0) : stat_text(&w, &g.groups[i], older != NULL);
        if (format == OM_REPORT_JSON)
            wprintf_(&w, "\n]}\n");
        omi_fdbuf_flush(&w);
        rc = w.err;
        omi_grouping_free(&g);
    }
    omi_symbolizer_close(sym);
    omi_alloc_observe_suspend(was);
    return rc;
}

int om_trace_statistics(const om_trace_snap *snap, om_trace_group by, int fd, int format) {
    return write_groups(snap, NULL, (int)by, fd, format);
}

int om_trace_compare(const om_trace_snap *older, const om_trace_snap *newer, om_trace_group by, int fd, int format) {
    if (!older)
        return EINVAL;
    return write_groups(newer, older, (int)by, fd, format);
}

/* ---- the whole report ---------------------------------------------------------------- */
typedef struct report_ctx {
    wbuf w;
    int json;
    const char *reason; /* "request", "exit", "signal" */
    omi_symbolizer *sym;
} report_ctx;

static void report_head(report_ctx *c, const om_trace_snap *s) {
    char who[512], cmd[400];
    uint64_t dropped = atomic_load(&omi_trace_st.dropped);
    if (c->json) {
        omi_process_command(cmd, sizeof cmd);
        wprintf_(&c->w, "{\"objmem_trace\": 1, \"pid\": %ld, \"command\": ", (long)getpid());
        json_str(&c->w, cmd);
        wprintf_(&c->w, ", \"reason\": \"%s\", \"frames\": %d, \"sample_bytes\": %llu,\n", c->reason, s->nframes,
                 (unsigned long long)s->sample_bytes);
        wprintf_(&c->w, " \"current\": %llu, \"peak\": %llu, \"blocks\": %llu, \"traces\": %u, \"dropped\": %llu,\n",
                 (unsigned long long)s->current, (unsigned long long)s->peak,
                 (unsigned long long)blocks_of(s->count), omi_trace_count(), (unsigned long long)dropped);
        return;
    }
    omi_process_describe(who, sizeof who);
    wprintf_(&c->w, "objmem: allocation trace of %s (%s)\n", who, c->reason);
    wprintf_(&c->w, "traced memory: %llu bytes live in %llu blocks, peak %llu bytes; %u stacks of up to %d frames\n",
             (unsigned long long)s->current, (unsigned long long)blocks_of(s->count), (unsigned long long)s->peak,
             omi_trace_count(), s->nframes);
    if (s->sample_bytes)
        wprintf_(&c->w, "sampling: one allocation per %llu bytes on average (counts and bytes are estimates)\n",
                 (unsigned long long)s->sample_bytes);
    if (dropped)
        wprintf_(&c->w, "not traced: %llu allocations (no memory for their record)\n", (unsigned long long)dropped);
}

static int by_count_less(const omi_group *a, const omi_group *b) {
    return a->count != b->count ? a->count < b->count : a->bytes < b->bytes;
}

/* The top sites by bytes, then by blocks (text only: JSON readers regroup). */
static void report_top(report_ctx *c, omi_grouping *lines) {
    size_t n = lines->ngroups < TOP_SITES ? lines->ngroups : TOP_SITES;
    wprintf_(&c->w, "\ntop %zu sites by live bytes:\n", n);
    for (size_t i = 0; i < n; i++) {
        const omi_group *g = &lines->groups[i];
        wprintf_(&c->w, "  %12llu bytes %9llu blocks  %s (%s)\n", (unsigned long long)g->bytes,
                 (unsigned long long)blocks_of(g->count), g->key, g->function);
    }
    /* selection of the top by count, without reordering the list */
    wprintf_(&c->w, "\ntop %zu sites by live blocks:\n", n);
    size_t picked[TOP_SITES];
    for (size_t k = 0; k < n; k++) {
        size_t best = (size_t)-1;
        for (size_t i = 0; i < lines->ngroups; i++) {
            int taken = 0;
            for (size_t j = 0; j < k; j++)
                taken |= picked[j] == i;
            if (!taken && (best == (size_t)-1 || by_count_less(&lines->groups[best], &lines->groups[i])))
                best = i;
        }
        picked[k] = best;
        const omi_group *g = &lines->groups[best];
        wprintf_(&c->w, "  %12llu blocks %12llu bytes  %s (%s)\n", (unsigned long long)blocks_of(g->count),
                 (unsigned long long)g->bytes, g->key, g->function);
    }
}

static void report_stack(report_ctx *c, const omi_group *g, int first) {
    omi_trace *t = omi_trace_get(g->id);
    char frame[512];
    omi_symbol s;
    if (c->json) {
        wprintf_(&c->w, "%s\n  {\"bytes\": %llu, \"count\": %llu, \"site\": ", first ? "" : ",",
                 (unsigned long long)g->bytes, (unsigned long long)blocks_of(g->count));
        json_str(&c->w, g->key);
        wprintf_(&c->w, ", \"function\": ");
        json_str(&c->w, g->function);
        wprintf_(&c->w, ", \"stack\": [");
    } else {
        wprintf_(&c->w, "  %llu bytes in %llu blocks allocated at %s\n", (unsigned long long)g->bytes,
                 (unsigned long long)blocks_of(g->count), g->key);
    }
    for (uint32_t i = 0; t && i < t->nframes; i++) {
        omi_symbolize(c->sym, t->frames[i], &s);
        omi_symbol_format(&s, t->frames[i], frame, sizeof frame);
        if (c->json) {
            if (i)
                put(&c->w, ", ", 2);
            json_str(&c->w, frame);
        } else {
            wprintf_(&c->w, "      at %s\n", frame);
        }
    }
    if (c->json)
        put(&c->w, "]}", 2);
}

/* Each traceback group's key is its innermost frame; the site shown is file:line. */
static void retitle(omi_grouping *stacks, omi_symbolizer *sym) {
    for (size_t i = 0; i < stacks->ngroups; i++) {
        omi_trace *t = omi_trace_get(stacks->groups[i].id);
        omi_symbol s;
        if (!omi_trace_site(sym, t, &s))
            continue;
        if (s.file[0]) {
            char key[300];
            snprintf(key, sizeof key, "%s:%d", s.file, s.line);
            if (strlen(key) < strlen(stacks->groups[i].key) + 1)
                memcpy((char *)stacks->groups[i].key, key, strlen(key) + 1);
        }
    }
}

static int write_report(int fd, int format, const char *reason) {
    if (!omi_trace_stack_available())
        return ENOSYS;
    if (format != OM_REPORT_TEXT && format != OM_REPORT_JSON)
        return EINVAL;
    int was = omi_alloc_observe_suspend(1);
    report_ctx c = {.w = {.fd = fd}, .json = format == OM_REPORT_JSON, .reason = reason};
    om_trace_snap *s = om_trace_snapshot();
    omi_grouping lines = {0}, stacks = {0};
    int rc = s ? 0 : errno;
    c.sym = s ? omi_symbolizer_open() : NULL;
    if (rc == 0 && (rc = omi_group_snaps(s, NULL, OM_TRACE_LINENO, c.sym, &lines)) == 0 &&
        (rc = omi_group_snaps(s, NULL, OM_TRACE_TRACEBACK, c.sym, &stacks)) == 0) {
        retitle(&stacks, c.sym);
        report_head(&c, s);
        if (!c.json) {
            report_top(&c, &lines);
            int exit = strcmp(reason, "exit") == 0;
            size_t n = stacks.ngroups < TEXT_STACKS ? stacks.ngroups : TEXT_STACKS;
            if (exit)
                wprintf_(&c.w, "\nleaks: %llu blocks (%llu bytes) still live at exit, from %zu allocation sites "
                               "(largest %zu shown):\n",
                         (unsigned long long)blocks_of(s->count), (unsigned long long)s->current, stacks.ngroups, n);
            else
                wprintf_(&c.w, "\nlive blocks by allocation stack (largest %zu of %zu):\n", n, stacks.ngroups);
            for (size_t i = 0; i < n; i++)
                report_stack(&c, &stacks.groups[i], i == 0);
            omi_trace_report_objects(&c.w, 0, c.sym);
        } else {
            omi_trace_report_objects(&c.w, 1, c.sym);
            wprintf_(&c.w, " \"sites\": [");
            for (size_t i = 0; i < stacks.ngroups; i++)
                report_stack(&c, &stacks.groups[i], i == 0);
            wprintf_(&c.w, "\n]}\n");
        }
        omi_fdbuf_flush(&c.w);
        rc = c.w.err;
    }
    omi_grouping_free(&lines);
    omi_grouping_free(&stacks);
    omi_symbolizer_close(c.sym);
    om_trace_snapshot_free(s);
    omi_alloc_observe_suspend(was);
    return rc;
}

int om_trace_report(int fd, int format) { return write_report(fd, format, "request"); }

/* ---- at exit ---------------------------------------------------------------------------- */
/* pattern with "%p" as the process id and suffix appended; 0 if too long. */
static int make_path(const char *pattern, const char *suffix, char *out, size_t cap) {
    char pid[24];
    size_t n = 0;
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    for (const char *p = pattern; *p; p++) {
        const char *piece = p[0] == '%' && p[1] == 'p' ? pid : p;
        size_t len = piece == pid ? strlen(pid) : 1;
        if (piece == pid)
            p++;
        if (n + len >= cap)
            return 0;
        memcpy(out + n, piece, len);
        n += len;
    }
    if (n + strlen(suffix) >= cap)
        return 0;
    memcpy(out + n, suffix, strlen(suffix) + 1);
    return 1;
}

static void json_to_file(const char *pattern, const char *suffix, const char *reason) {
    char path[4096], msg[4400];
    int rc = ENAMETOOLONG, fd = -1;
    if (make_path(pattern, suffix, path, sizeof path)) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        rc = fd < 0 ? errno : write_report(fd, OM_REPORT_JSON, reason);
        if (fd >= 0 && close(fd) != 0 && rc == 0 && errno != EINTR)
            rc = errno;
    }
    if (rc) {
        int n = snprintf(msg, sizeof msg, "objmem: cannot write the trace report to %s%s: %s\n", pattern, suffix,
                         strerror(rc));
        if (n > 0 && write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1) < 0)
            return;
    }
}

void omi_trace_exit_report(void) {
    if (!omi_process_speaks())
        return;
    const char *file = omi_option_string("TRACE_FILE");
    if (file && *file)
        json_to_file(file, "", "exit");
    else
        write_report(2, OM_REPORT_TEXT, "exit");
}

/* ---- on a signal ----------------------------------------------------------------------- */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    char b = (char)sig;
    ssize_t w = write(signal_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

static void *reporter(void *arg) {
    (void)arg;
    unsigned n = 0;
    for (;;) {
        char b;
        ssize_t r = read(signal_pipe[0], &b, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        const char *file = omi_option_string("TRACE_FILE");
        if (file && *file) {
            char suffix[16];
            snprintf(suffix, sizeof suffix, ".%u", ++n);
            json_to_file(file, suffix, "signal");
        } else {
            write_report(2, OM_REPORT_TEXT, "signal");
        }
    }
}

/* "USR2", "SIGUSR2" or a number; 0 if not a signal a handler may take. */
static int parse_signal(const char *v) {
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT},
                 {"PROF", SIGPROF}, {"URG", SIGURG},   {"WINCH", SIGWINCH}};
    if (strncmp(v, "SIG", 3) == 0)
        v += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v, names[i].name) == 0)
            return names[i].sig;
    int n = 0;
    for (; *v >= '0' && *v <= '9' && n < 1000; v++)
        n = n * 10 + (*v - '0');
    return *v == '\0' && n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP ? n : 0;
}

void omi_trace_signal_setup(void) {
    const char *v = omi_option_string("REPORT_SIGNAL");
    if (!v || !*v || signal_pipe[0] >= 0)
        return;
    int sig = parse_signal(v);
    pthread_t t;
    if (!sig) {
        static const char msg[] = "objmem: warning: OBJMEM_REPORT_SIGNAL is not a signal name "
                                  "(USR1, USR2, HUP, ...) or number; ignored\n";
        if (omi_process_speaks() && write(2, msg, sizeof msg - 1) < 0)
            return;
        return;
    }
    if (pipe2(signal_pipe, O_CLOEXEC) != 0)
        return;
    int was = omi_alloc_observe_suspend(1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* the reporter takes no signal: the handler runs on the program's threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, &attr, reporter, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    omi_alloc_observe_suspend(was);
    if (rc != 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}
