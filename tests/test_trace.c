/*
 * test_trace.c — allocation tracing (objmem.h section 12) against what
 * the test itself allocated at the known lines of trace_sites.c:
 *   - full tracing: per-site statistics (lineno, function, traceback)
 *     and the traced totals exactly equal to the blocks made;
 *   - snapshot comparison: exactly the growth made between two snapshots;
 *   - sampling with a fixed seed: estimates within their statistical
 *     error, and zero once everything is freed;
 *   - stop forgets; a block's traceback names its site; reports name sites.
 * Links the static archive (omi_trace_seed is internal).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "objmem.h"
#include "trace/trace.h"
#include "jsonparse.h"
#include "trace_sites.h"

typedef struct site_sum {
    int line;
    const char *function;
    int64_t count, bytes, count_diff, bytes_diff;
    int groups;
} site_sum;

static int ends_with_line(const char *site, int line) {
    char want[64];
    snprintf(want, sizeof want, "trace_sites.c:%d", line);
    size_t n = strlen(site), k = strlen(want);
    return n >= k && strcmp(site + n - k, want) == 0;
}

static int add_line(const om_trace_stat *st, void *arg) {
    site_sum *s = arg;
    if (ends_with_line(st->site, s->line)) {
        s->count += (int64_t)st->count, s->bytes += (int64_t)st->bytes;
        s->count_diff += st->count_diff, s->bytes_diff += st->bytes_diff;
        s->groups++;
    }
    return 0;
}

static int add_function(const om_trace_stat *st, void *arg) {
    site_sum *s = arg;
    if (strcmp(st->site, s->function) == 0)
        s->count += (int64_t)st->count, s->bytes += (int64_t)st->bytes, s->groups++;
    return 0;
}

static site_sum sum_line(const om_trace_snap *newer, const om_trace_snap *older, int line) {
    site_sum s = {.line = line};
    CHECK_EQ(om_trace_foreach(newer, older, OM_TRACE_LINENO, add_line, &s), 0);
    return s;
}

static void test_exact_sites(void) {
    enum { N = 300 };
    static void *small[N], *zeroed[N], *aligned[8];
    REQUIRE_EQ(om_trace_start(8), 0);
    CHECK(om_trace_is_tracing());
    CHECK_EQ(om_trace_get_traceback_limit(), 8);
    int64_t want_small = 0, want_calloc = 0;
    for (int i = 0; i < N; i++) {
        small[i] = ts_small((size_t)(1 + i % 700));
        zeroed[i] = ts_calloc((size_t)(100 + 37 * i));
        want_small += 1 + i % 700, want_calloc += 100 + 37 * i;
    }
    for (int i = 0; i < 8; i++)
        aligned[i] = ts_aligned(200000);
    om_trace_snap *s = om_trace_snapshot();
    REQUIRE(s != NULL);
    site_sum a = sum_line(s, NULL, ts_line_small), b = sum_line(s, NULL, ts_line_calloc),
             c = sum_line(s, NULL, ts_line_aligned);
    CHECK_EQ(a.count, N);
    CHECK_EQ(a.bytes, want_small);
    CHECK_EQ(a.groups, 1);
    CHECK_EQ(b.count, N);
    CHECK_EQ(b.bytes, want_calloc);
    CHECK_EQ(c.count, 8);
    CHECK_EQ(c.bytes, 8 * 200000);
    uint64_t cur, peak;
    om_trace_get_traced_memory(&cur, &peak);
    CHECK_EQ(cur, (uint64_t)(want_small + want_calloc + 8 * 200000));
    CHECK(peak >= cur);
    site_sum f = {.function = "ts_calloc"};
    CHECK_EQ(om_trace_foreach(s, NULL, OM_TRACE_FUNCTION, add_function, &f), 0);
    CHECK_EQ(f.count, N);
    CHECK_EQ(f.bytes, want_calloc);
    /* a block's traceback: its site's function first, then this test */
    void *frames[8];
    size_t n = om_trace_block_traceback(zeroed[5], frames, 8);
    CHECK(n >= 2);
    uint32_t id = omi_trace_id_of(zeroed[5]);
    CHECK(id != 0);
    char text[2048];
    omi_trace_describe(id, text, sizeof text);
    CHECK_MSG(strstr(text, "ts_calloc") && strstr(text, "test_exact_sites"), "describe:\n%s", text);
    for (int i = 0; i < N; i++)
        om_free(small[i]), om_free(zeroed[i]);
    for (int i = 0; i < 8; i++)
        om_free(aligned[i]);
    om_trace_get_traced_memory(&cur, NULL);
    CHECK_EQ(cur, 0);
    CHECK_EQ(om_trace_block_traceback(zeroed[5], frames, 8), 0);
    om_trace_snapshot_free(s);
    om_trace_stop();
}

static void test_realloc_moves_the_record(void) {
    REQUIRE_EQ(om_trace_start(4), 0);
    void *p = ts_small(40);
    p = ts_realloc(p, 5000);
    REQUIRE(p != NULL);
    om_trace_snap *s = om_trace_snapshot();
    CHECK_EQ(sum_line(s, NULL, ts_line_small).count, 0);
    site_sum r = sum_line(s, NULL, ts_line_realloc);
    CHECK_EQ(r.count, 1);
    CHECK_EQ(r.bytes, 5000);
    om_free(p);
    om_trace_snapshot_free(s);
    om_trace_stop();
}

static void test_compare_shows_growth(void) {
    static void *keep[40], *grown[25];
    REQUIRE_EQ(om_trace_start(4), 0);
    for (int i = 0; i < 40; i++)
        keep[i] = ts_small(48);
    om_trace_snap *a = om_trace_snapshot();
    for (int i = 0; i < 25; i++)
        grown[i] = ts_grow(1000 + (size_t)i);
    for (int i = 0; i < 15; i++)
        om_free(keep[i]);
    om_trace_snap *b = om_trace_snapshot();
    site_sum g = sum_line(b, a, ts_line_grow), k = sum_line(b, a, ts_line_small);
    CHECK_EQ(g.count_diff, 25);
    CHECK_EQ(g.bytes_diff, 25 * 1000 + 24 * 25 / 2);
    CHECK_EQ(k.count_diff, -15);
    CHECK_EQ(k.bytes_diff, -15 * 48);
    CHECK_EQ(k.count, 25);
    /* the text comparison names the site with its change */
    char path[] = "/tmp/objmem-test-trace-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    CHECK_EQ(om_trace_compare(a, b, OM_TRACE_LINENO, fd, OM_REPORT_TEXT), 0);
    char buf[8192] = {0}, want[96];
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    CHECK(got > 0);
    snprintf(want, sizeof want, "trace_sites.c:%d: size=25300 B (+25300 B), count=25 (+25)", ts_line_grow);
    CHECK_MSG(strstr(buf, want) != NULL, "no '%s' in:\n%s", want, buf);
    close(fd);
    for (int i = 15; i < 40; i++)
        om_free(keep[i]);
    for (int i = 0; i < 25; i++)
        om_free(grown[i]);
    om_trace_snapshot_free(a);
    om_trace_snapshot_free(b);
    om_trace_stop();
}

/* 1 MiB mean gap over 64 MiB of 256-byte blocks: about 64 samples, each an
 * estimate of 1 MiB, so the total's relative error is about 1/sqrt(64). */
static void test_sampling_estimates(void) {
    enum { N = 1 << 18, SIZE = 256 };
    static void *p[N];
    om_option_set(OM_OPTION_TRACE_SAMPLE, 1 << 20);
    omi_trace_seed(42);
    REQUIRE_EQ(om_trace_start(1), 0);
    for (int i = 0; i < N; i++)
        p[i] = ts_small(SIZE);
    uint64_t cur;
    om_trace_get_traced_memory(&cur, NULL);
    double want = (double)N * SIZE, err = ((double)cur - want) / want;
    CHECK_MSG(err > -0.5 && err < 0.5, "estimate %llu for %.0f bytes", (unsigned long long)cur, want);
    om_trace_snap *s = om_trace_snapshot();
    site_sum a = sum_line(s, NULL, ts_line_small);
    CHECK_MSG(a.count > N / 2 && a.count < N * 3 / 2, "count estimate %lld for %d", (long long)a.count, N);
    om_trace_snapshot_free(s);
    for (int i = 0; i < N; i++)
        om_free(p[i]);
    om_trace_get_traced_memory(&cur, NULL);
    CHECK_EQ(cur, 0);
    om_trace_stop();
    om_option_set(OM_OPTION_TRACE_SAMPLE, 0);
}

/* Over many seeds, the estimates average to the truth (unbiased) and
 * spread as the Poisson model says. */
static void test_sampling_unbiased(void) {
    enum { N = 20000, SIZE = 100, RUNS = 40 };
    static void *p[N];
    double sum = 0;
    om_option_set(OM_OPTION_TRACE_SAMPLE, 64 << 10);
    for (int r = 0; r < RUNS; r++) {
        omi_trace_seed(1000 + (uint64_t)r);
        REQUIRE_EQ(om_trace_start(1), 0);
        for (int i = 0; i < N; i++)
            p[i] = ts_small(SIZE);
        uint64_t cur;
        om_trace_get_traced_memory(&cur, NULL);
        sum += (double)cur;
        for (int i = 0; i < N; i++)
            om_free(p[i]);
        om_trace_stop();
    }
    /* 2 MB per run / 64 KiB = ~30 samples: sd of one run ~18%, of the mean of 40 ~3% */
    double mean = sum / RUNS, want = (double)N * SIZE;
    CHECK_MSG(mean > want * 0.88 && mean < want * 1.12, "mean estimate %.0f for %.0f", mean, want);
    om_option_set(OM_OPTION_TRACE_SAMPLE, 0);
}

/* Which path sampling takes: at a mean of OMI_SAMPLE_OPEN_MIN or more the
 * fast paths stay open and every sampled block is a large block of its
 * own (so its free reaches the tracer); below, the gates close and every
 * call is observed, sampled blocks staying where they are.  Either way a
 * realloc or free of a sampled block drops its record. */
static void sampled_blocks(long mean, int want_large) {
    enum { N = 40000, SIZE = 48 };
    static void *p[N];
    int traced = 0, large = 0;
    om_option_set(OM_OPTION_TRACE_SAMPLE, mean);
    omi_trace_seed(7);
    REQUIRE_EQ(om_trace_start(1), 0);
    CHECK_EQ(atomic_load(&omi_fast.small_limit) != 0, want_large);
    for (int i = 0; i < N; i++) {
        p[i] = ts_small(SIZE);
        REQUIRE(p[i] != NULL);
        memset(p[i], i & 0xff, SIZE);
        om_block_info bi;
        if (omi_trace_id_of(p[i])) {
            traced++;
            REQUIRE_EQ(om_block_describe(p[i], &bi), 0);
            large += bi.kind == OM_BLOCK_LARGE;
        }
    }
    /* 1.9 MB at mean 64 KiB or 4 KiB: about 30 or 470 samples */
    CHECK_MSG(traced >= 8, "%d blocks traced", traced);
    CHECK_EQ(large, want_large ? traced : 0);
    for (int i = 0; i < N; i++) {
        if (!omi_trace_id_of(p[i]))
            continue;
        unsigned char *q = om_realloc(p[i], SIZE * 2);
        REQUIRE(q != NULL);
        CHECK(q[0] == (i & 0xff) && q[SIZE - 1] == (i & 0xff));
        p[i] = q;
    }
    for (int i = 0; i < N; i++)
        om_free(p[i]);
    uint64_t cur;
    om_trace_get_traced_memory(&cur, NULL);
    CHECK_EQ(cur, 0);
    om_trace_stop();
    om_option_set(OM_OPTION_TRACE_SAMPLE, 0);
}

static void test_sampling_paths(void) {
    sampled_blocks(OMI_SAMPLE_OPEN_MIN, 1);
    sampled_blocks(4096, 0);
}

static void test_stop_forgets(void) {
    REQUIRE_EQ(om_trace_start(2), 0);
    void *p = ts_small(64);
    CHECK(omi_trace_id_of(p) != 0);
    CHECK_EQ(om_trace_stop(), 0);
    CHECK(!om_trace_is_tracing());
    CHECK_EQ(om_trace_get_traceback_limit(), 0);
    uint64_t cur = 1, peak = 1;
    om_trace_get_traced_memory(&cur, &peak);
    CHECK_EQ(cur, 0);
    CHECK_EQ(peak, 0);
    CHECK_EQ(omi_trace_id_of(p), 0);
    om_trace_snap *s = om_trace_snapshot();
    REQUIRE(s != NULL);
    CHECK_EQ(sum_line(s, NULL, ts_line_small).count, 0);
    om_trace_snapshot_free(s);
    om_free(p);
    CHECK_EQ(om_trace_start(0), EINVAL);
    CHECK_EQ(om_trace_start(OM_TRACE_MAX_FRAMES + 1), EINVAL);
}

static void test_reset_peak(void) {
    REQUIRE_EQ(om_trace_start(1), 0);
    void *p = ts_small(100000);
    om_free(p);
    uint64_t cur, peak;
    om_trace_get_traced_memory(&cur, &peak);
    CHECK_EQ(cur, 0);
    CHECK_EQ(peak, 100000);
    om_trace_reset_peak();
    om_trace_get_traced_memory(&cur, &peak);
    CHECK_EQ(peak, 0);
    om_trace_stop();
}

static void test_report_names_sites(void) {
    REQUIRE_EQ(om_trace_start(4), 0);
    void *p = ts_calloc(777);
    char path[] = "/tmp/objmem-test-trace-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    CHECK_EQ(om_trace_report(fd, OM_REPORT_JSON), 0);
    static char buf[65536];
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    REQUIRE(got > 0);
    buf[got] = '\0';
    char want[96];
    snprintf(want, sizeof want, "{\"bytes\": 777, \"count\": 1, \"site\": \"");
    CHECK_MSG(strstr(buf, want) != NULL, "no '%s' in:\n%s", want, buf);
    snprintf(want, sizeof want, "trace_sites.c:%d\", \"function\": \"ts_calloc\"", ts_line_calloc);
    CHECK_MSG(strstr(buf, want) != NULL, "no '%s' in:\n%s", want, buf);
    CHECK(strstr(buf, "\"pid\": ") != NULL);
    CHECK_EQ(om_trace_report(fd, 7), EINVAL);
    close(fd);
    om_free(p);
    om_trace_stop();
}

/* Live objects by type, with their sites: objects of a plain type and of
 * a collected one (a header before the object), blocks that are not
 * objects, and instances parked on a free list, which are not live. */
typedef struct ts_node {
    om_object ob;
    om_object *child;
} ts_node;

static void test_report_objects_by_type(void) {
    static om_type plain = {OM_TYPE_INIT, .name = "ts_plain", .size = 48, .freelist_limit = 8};
    static om_type gcd = {OM_TYPE_INIT, .name = "ts_gcd", .size = sizeof(ts_node), .flags = OM_TYPE_GC,
                          .ref_fields = OM_REF_FIELD(ts_node, child)};
    static om_type inl = {OM_TYPE_INIT, .name = "ts_inlined", .size = 40};
    enum { NI = 7 };
    om_object *in[NI];
    enum { NP = 30, NG = 12, PARKED = 5 };
    om_object *p[NP], *g[NG];
    REQUIRE_EQ(om_trace_start(4), 0);
    for (int i = 0; i < NP; i++)
        REQUIRE((p[i] = ts_object(&plain)) != NULL);
    for (int i = 0; i < NG; i++)
        REQUIRE((g[i] = ts_object(&gcd)) != NULL);
    for (int i = 0; i < NI; i++)
        REQUIRE((in[i] = ts_object_o2(&inl)) != NULL);
    void *raw = ts_small(48); /* a block, no object */
    for (int i = 0; i < PARKED; i++)
        om_decref(p[i]); /* parked: allocated, but no live object */
    char path[] = "/tmp/objmem-test-trace-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    REQUIRE_EQ(om_trace_report(fd, OM_REPORT_JSON), 0);
    static char buf[1 << 20];
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    REQUIRE(got > 0);
    buf[got] = '\0';
    const char *err = NULL;
    json *doc = json_parse(buf, &err);
    CHECK_MSG(doc != NULL, "report is not JSON (%s):\n%s", err ? err : "?", buf);
    REQUIRE(doc != NULL);
    json *objs = json_get(doc, "objects");
    REQUIRE(objs && objs->kind == JSON_ARR);
    int seen = 0;
    for (size_t i = 0; i < objs->n; i++) {
        json *o = objs->items[i];
        const char *name = json_get(o, "type")->str;
        json *sites = json_get(o, "sites");
        REQUIRE(sites && sites->n >= 1);
        char want[64];
        if (strcmp(name, "ts_inlined") == 0) /* the caller's line, not objmem.h's */
            snprintf(want, sizeof want, "trace_sites_o2.c:%d", ts_line_object_o2);
        else
            snprintf(want, sizeof want, "trace_sites.c:%d", ts_line_object);
        CHECK_MSG(strstr(json_get(sites->items[0], "site")->str, want) != NULL, "site %s, not %s",
                  json_get(sites->items[0], "site")->str, want);
        if (strcmp(name, "ts_plain") == 0) {
            CHECK_EQ(json_num(json_get(o, "count")), NP - PARKED);
            CHECK_EQ(json_num(json_get(o, "bytes")), (NP - PARKED) * 48.0);
            seen |= 1;
        } else if (strcmp(name, "ts_gcd") == 0) {
            CHECK_EQ(json_num(json_get(o, "count")), NG);
            seen |= 2;
        } else if (strcmp(name, "ts_inlined") == 0) {
            CHECK_EQ(json_num(json_get(o, "count")), NI);
            seen |= 4;
        }
    }
    CHECK_EQ(seen, 7);
    json_free(doc);
    /* the text report has the section too */
    REQUIRE(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
    REQUIRE_EQ(om_trace_report(fd, OM_REPORT_TEXT), 0);
    got = pread(fd, buf, sizeof buf - 1, 0);
    REQUIRE(got > 0);
    buf[got] = '\0';
    CHECK_MSG(strstr(buf, "live objects by type") && strstr(buf, "ts_gcd"), "no object section in:\n%s", buf);
    close(fd);
    for (int i = PARKED; i < NP; i++)
        om_decref(p[i]);
    for (int i = 0; i < NG; i++)
        om_decref(g[i]);
    for (int i = 0; i < NI; i++)
        om_decref(in[i]);
    om_free(raw);
    om_trace_stop();
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        CHECK_CASE(test_exact_sites),         CHECK_CASE(test_realloc_moves_the_record),
        CHECK_CASE(test_compare_shows_growth), CHECK_CASE(test_sampling_estimates),
        CHECK_CASE(test_sampling_unbiased), CHECK_CASE(test_sampling_paths),   CHECK_CASE(test_stop_forgets),
        CHECK_CASE(test_reset_peak),          CHECK_CASE(test_report_names_sites),
        CHECK_CASE(test_report_objects_by_type),
    };
    if (!omi_trace_stack_available()) {
        CHECK_EQ(om_trace_start(4), ENOSYS);
        return CHECK_SKIP;
    }
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
