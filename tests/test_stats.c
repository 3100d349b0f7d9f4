/*
 * test_stats.c — om_stats_get deltas for known allocation patterns, the
 * accounting identities between its fields, and the text and JSON reports
 * of om_stats_format / om_stats_write (truncation, return value, validity).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"

static om_stats stats(void)
{
    om_stats s;
    om_stats_get(&s);
    return s;
}

static void check_identities(const om_stats *s)
{
    uint64_t pools = 0;
    for (int c = 0; c < OM_NUM_CLASSES; c++) {
        const om_class_stats *k = &s->classes[c];
        CHECK_EQ(k->block_size, tu_class_size_at(c));
        CHECK_GE(k->blocks_per_pool, 1);
        CHECK_LE(k->full_pools, k->pools);
        CHECK_EQ(k->blocks_used + k->blocks_free, k->pools * k->blocks_per_pool);
        CHECK_GE(k->blocks_used, k->full_pools * k->blocks_per_pool);
        pools += k->pools;
    }
    CHECK_EQ(s->arenas_current, s->small_arenas + s->medium_arenas);
    CHECK_EQ(s->arenas_allocated - s->arenas_reclaimed, s->arenas_current);
    CHECK_GE(s->arenas_highwater, s->arenas_current);
    CHECK_EQ(s->pools_total, 64 * s->small_arenas + 16 * s->medium_arenas);
    CHECK_EQ(pools + s->pools_empty, s->pools_total);
    CHECK_LE(s->pools_purged, s->pools_empty);
    CHECK_EQ(s->bytes_arena_mapped,
             s->small_arenas * TU_ARENA_SIZE + s->medium_arenas * TU_MEDIUM_ARENA_SIZE);
    /* every arena byte is in exactly one bucket; pool headers count there
     * only when they live inside the pools (they may be kept out of line) */
    uint64_t blocks = s->bytes_in_use + s->bytes_free_blocks + s->bytes_empty_pools +
                      s->bytes_quantisation;
    CHECK_MSG(blocks == s->bytes_arena_mapped ||
                  blocks + s->bytes_pool_headers == s->bytes_arena_mapped,
              "in use %llu + free %llu + empty pools %llu + quantisation %llu (+ headers %llu)"
              " != arena bytes %llu",
              (unsigned long long)s->bytes_in_use, (unsigned long long)s->bytes_free_blocks,
              (unsigned long long)s->bytes_empty_pools, (unsigned long long)s->bytes_quantisation,
              (unsigned long long)s->bytes_pool_headers, (unsigned long long)s->bytes_arena_mapped);
    CHECK_LE(s->bytes_pool_headers, s->pools_total * 1024);
    CHECK_GE(s->bytes_empty_pools, s->pools_empty * TU_POOL_SIZE);
    CHECK_LE(s->bytes_empty_pools, s->pools_empty * TU_MEDIUM_POOL_SIZE);
    CHECK_GE(s->os_bytes_peak, s->os_bytes_reserved);
    CHECK_GE(s->os_bytes_reserved, s->bytes_arena_mapped + s->large_bytes);
    CHECK_GE(s->large_bytes, s->large_count * (TU_MEDIUM_MAX + 1));
    /* the cache's resident bound (large.c): at most the floor or what is live */
    uint64_t bound = (uint64_t)om_option_get(OM_OPTION_LARGE_CACHE_MB) * TU_MIB;
    if (bound < s->large_bytes)
        bound = s->large_bytes;
    CHECK_LE(s->large_cached_resident, bound);
    CHECK_LE(s->large_cached_resident, s->large_cached_bytes);
    CHECK_GE(s->heaps_active, 1);
}

static void test_class_table(void)
{
    void *p = om_malloc(1); /* make sure this thread has a heap */
    om_stats s = stats();
    for (int c = 0; c < OM_NUM_CLASSES; c++)
        CHECK_MSG(s.classes[c].block_size == tu_class_size_at(c), "class %d: %u, want %zu", c,
                  s.classes[c].block_size, tu_class_size_at(c));
    CHECK_EQ(s.classes[OM_NUM_SMALL_CLASSES - 1].block_size, 512);
    CHECK_EQ(s.classes[OM_NUM_SMALL_CLASSES].block_size, 640);
    CHECK_EQ(s.classes[OM_NUM_CLASSES - 1].block_size, 131072);
    check_identities(&s);
    om_free(p);
}

static void test_small_deltas(void)
{
    enum { N = 100 };
    void *p[N];
    int cls = tu_small_class(100); /* 112-byte class */
    om_stats s0 = stats();
    for (int i = 0; i < N; i++) {
        p[i] = om_malloc(100);
        REQUIRE(p[i] != NULL);
    }
    om_stats s1 = stats();
    CHECK_EQ(s1.classes[cls].blocks_used - s0.classes[cls].blocks_used, N);
    CHECK_EQ(s1.bytes_in_use - s0.bytes_in_use, (uint64_t)N * 112);
    for (int c = 0; c < OM_NUM_CLASSES; c++)
        if (c != cls)
            CHECK_EQ(s1.classes[c].blocks_used, s0.classes[c].blocks_used);
    check_identities(&s1);
    for (int i = 0; i < N; i++)
        om_free(p[i]);
    om_stats s2 = stats();
    CHECK_EQ(s2.classes[cls].blocks_used, s0.classes[cls].blocks_used);
    CHECK_EQ(s2.bytes_in_use, s0.bytes_in_use);
    check_identities(&s2);
}

/* Exactly one pool's worth: one more full pool. */
static void test_full_pool_delta(void)
{
    int cls = tu_small_class(208);
    om_stats s0 = stats();
    unsigned per = s0.classes[cls].blocks_per_pool;
    REQUIRE(per > 0 && per < 1000);
    void **p = calloc(per, sizeof *p);
    REQUIRE(p != NULL);
    CHECK_EQ(s0.classes[cls].pools, 0);
    for (unsigned i = 0; i < per; i++)
        p[i] = om_malloc(200);
    om_stats s1 = stats();
    CHECK_EQ(s1.classes[cls].pools, 1);
    CHECK_EQ(s1.classes[cls].full_pools, 1);
    CHECK_EQ(s1.classes[cls].blocks_free, 0);
    om_free(p[0]);
    om_stats s2 = stats();
    CHECK_EQ(s2.classes[cls].full_pools, 0);
    CHECK_EQ(s2.classes[cls].blocks_free, 1);
    CHECK_EQ(s2.bytes_free_blocks - s1.bytes_free_blocks, 208);
    for (unsigned i = 1; i < per; i++)
        om_free(p[i]);
    om_stats s3 = stats();
    CHECK_EQ(s3.classes[cls].blocks_used, 0);
    /* an emptied pool may stay with its class until the next purge */
    om_trim(0);
    CHECK_EQ(stats().classes[cls].pools, 0);
    free(p);
}

static void test_medium_large_deltas(void)
{
    void *m[10];
    void *l[3];
    om_block_info bi;
    om_stats s0 = stats();
    for (int i = 0; i < 10; i++)
        m[i] = om_malloc(5000);
    REQUIRE(m[0] != NULL);
    REQUIRE_EQ(om_block_describe(m[0], &bi), 0);
    size_t lsz[3] = { 200000, 1000000, 3000000 };
    for (int i = 0; i < 3; i++)
        l[i] = om_malloc(lsz[i]);
    om_stats s1 = stats();
    CHECK_EQ(s1.classes[bi.size_class].block_size, 5120);
    CHECK_EQ(s1.classes[bi.size_class].blocks_used - s0.classes[bi.size_class].blocks_used, 10);
    CHECK_EQ(s1.bytes_in_use - s0.bytes_in_use, 10 * 5120);
    CHECK_EQ(s1.large_count - s0.large_count, 3);
    CHECK_GE(s1.large_bytes - s0.large_bytes, lsz[0] + lsz[1] + lsz[2]);
    CHECK_GE(s1.medium_arenas, 1);
    check_identities(&s1);
    for (int i = 0; i < 10; i++)
        om_free(m[i]);
    for (int i = 0; i < 3; i++)
        om_free(l[i]);
    om_stats s2 = stats();
    CHECK_EQ(s2.large_count, s0.large_count);
    CHECK_EQ(s2.bytes_in_use, s0.bytes_in_use);
    check_identities(&s2);
    om_trim(1);
    om_stats s3 = stats();
    CHECK_EQ(s3.large_cached, 0);
    CHECK_EQ(s3.large_cached_bytes, 0);
    check_identities(&s3);
}

/* ---- a minimal JSON validator; remembers numbers of top-level keys */
typedef struct json {
    const char *s;
    int depth;
    const char *want;      /* top-level key whose number to capture */
    long long value;
    int found;
} json;

static void ws(json *j)
{
    while (*j->s == ' ' || *j->s == '\n' || *j->s == '\t' || *j->s == '\r')
        j->s++;
}

static int parse_value(json *j);

static int parse_string(json *j, const char **start, size_t *len)
{
    if (*j->s != '"')
        return 0;
    j->s++;
    *start = j->s;
    while (*j->s != '"') {
        if (*j->s == '\0' || (unsigned char)*j->s < 0x20)
            return 0;
        if (*j->s == '\\') {
            j->s++;
            if (strchr("\"\\/bfnrtu", *j->s) == NULL || *j->s == '\0')
                return 0;
        }
        j->s++;
    }
    *len = (size_t)(j->s - *start);
    j->s++;
    return 1;
}

static int parse_number(json *j, long long *out)
{
    char *end;
    const char *b = j->s;
    if (*b == '-')
        b++;
    if (!isdigit((unsigned char)*b))
        return 0;
    double d = strtod(j->s, &end);
    *out = (long long)d;
    if (strchr(j->s, '.') == NULL || strchr(j->s, '.') > end)
        *out = strtoll(j->s, NULL, 10);
    j->s = end;
    return 1;
}

static int parse_object(json *j)
{
    j->s++; /* { */
    j->depth++;
    ws(j);
    if (*j->s == '}') {
        j->s++;
        j->depth--;
        return 1;
    }
    for (;;) {
        const char *k;
        size_t klen;
        ws(j);
        if (!parse_string(j, &k, &klen))
            return 0;
        ws(j);
        if (*j->s++ != ':')
            return 0;
        ws(j);
        if (j->depth == 1 && j->want && klen == strlen(j->want) && memcmp(k, j->want, klen) == 0 &&
            (*j->s == '-' || isdigit((unsigned char)*j->s))) {
            long long v;
            if (!parse_number(j, &v))
                return 0;
            j->value = v;
            j->found++;
        } else if (!parse_value(j)) {
            return 0;
        }
        ws(j);
        if (*j->s == ',') {
            j->s++;
            continue;
        }
        if (*j->s == '}') {
            j->s++;
            j->depth--;
            return 1;
        }
        return 0;
    }
}

static int parse_array(json *j)
{
    j->s++;
    j->depth++;
    ws(j);
    if (*j->s == ']') {
        j->s++;
        j->depth--;
        return 1;
    }
    for (;;) {
        ws(j);
        if (!parse_value(j))
            return 0;
        ws(j);
        if (*j->s == ',') {
            j->s++;
            continue;
        }
        if (*j->s == ']') {
            j->s++;
            j->depth--;
            return 1;
        }
        return 0;
    }
}

static int parse_value(json *j)
{
    ws(j);
    const char *k;
    size_t len;
    long long v;
    switch (*j->s) {
    case '{': return parse_object(j);
    case '[': return parse_array(j);
    case '"': return parse_string(j, &k, &len);
    case 't': return strncmp(j->s, "true", 4) == 0 ? (j->s += 4, 1) : 0;
    case 'f': return strncmp(j->s, "false", 5) == 0 ? (j->s += 5, 1) : 0;
    case 'n': return strncmp(j->s, "null", 4) == 0 ? (j->s += 4, 1) : 0;
    default: return parse_number(j, &v);
    }
}

/* 1 if text is one valid JSON value; *value gets top-level key `want` */
static int json_valid(const char *text, const char *want, long long *value, int *found)
{
    json j = { text, 0, want, 0, 0 };
    int ok = parse_value(&j);
    ws(&j);
    ok = ok && *j.s == '\0' && j.depth == 0;
    if (value)
        *value = j.value;
    if (found)
        *found = j.found;
    return ok;
}

static char *format(int fmt, size_t *len)
{
    char dummy = 'x';
    size_t need = om_stats_format(&dummy, 0, fmt);
    CHECK_EQ(dummy, 'x');
    char *buf = malloc(need + 1);
    if (buf == NULL)
        return NULL;
    *len = om_stats_format(buf, need + 1, fmt);
    return buf;
}

static void test_json_self_check(void)
{
    /* the validator itself rejects what it must */
    CHECK(json_valid("{\"a\": [1, 2.5e3, \"x\\n\"], \"b\": {\"c\": null}}", NULL, NULL, NULL));
    CHECK(!json_valid("{\"a\": 1,}", NULL, NULL, NULL));
    CHECK(!json_valid("{\"a\": 1", NULL, NULL, NULL));
    CHECK(!json_valid("{\"a\" 1}", NULL, NULL, NULL));
    CHECK(!json_valid("{\"a\": 1}}", NULL, NULL, NULL));
    CHECK(!json_valid("[1 2]", NULL, NULL, NULL));
    long long v = 0;
    int found = 0;
    CHECK(json_valid("{\"x\": {\"k\": 5}, \"k\": 7}", "k", &v, &found));
    CHECK_EQ(v, 7);
    CHECK_EQ(found, 1);
}

static void test_json_report(void)
{
    void *blocks[50];
    for (int i = 0; i < 50; i++)
        blocks[i] = om_malloc(100);
    om_stats s = stats();
    size_t len = 0;
    char *js = format(OM_REPORT_JSON, &len);
    REQUIRE(js != NULL);
    CHECK_EQ(strlen(js), len);
    long long v = -1;
    int found = 0;
    int ok = json_valid(js, "bytes_in_use", &v, &found);
    CHECK_MSG(ok, "invalid JSON report:\n%s", js);
    CHECK_MSG(found == 1, "top-level \"bytes_in_use\" found %d times", found);
    CHECK_EQ(v, s.bytes_in_use);
    const char *keys[] = { "\"arenas_allocated\"", "\"arenas_current\"", "\"bytes_in_use\"",
                           "\"os_reserve_calls\"", "\"block_size\"", "\"blocks_used\"",
                           "\"large_count\"", "\"heaps_active\"" };
    for (size_t i = 0; i < CHECK_COUNT(keys); i++)
        CHECK_MSG(strstr(js, keys[i]) != NULL, "JSON report lacks %s", keys[i]);
    ok = json_valid(js, "arenas_current", &v, &found);
    CHECK(ok && found == 1 && (uint64_t)v == s.arenas_current);
    /* it names its process: a file of reports from many says whose */
    ok = json_valid(js, "pid", &v, &found);
    CHECK(ok && found == 1 && v == (long long)getpid());
    CHECK_MSG(strstr(js, "\"command\": \"") != NULL && strstr(js, "test_stats") != NULL,
              "JSON report lacks the command:\n%.200s", js);
    free(js);
    for (int i = 0; i < 50; i++)
        om_free(blocks[i]);
}

static int has_token(const char *line, size_t len, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= len; i++) {
        if (memcmp(line + i, tok, tl) != 0)
            continue;
        int before = i == 0 || !isalnum((unsigned char)line[i - 1]);
        int after = i + tl == len || !isalnum((unsigned char)line[i + tl]);
        if (before && after)
            return 1;
    }
    return 0;
}

static void test_text_report(void)
{
    enum { N = 77 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = om_malloc(300); /* class 304 */
    size_t len = 0;
    char *txt = format(OM_REPORT_TEXT, &len);
    REQUIRE(txt != NULL);
    CHECK_EQ(strlen(txt), len);
    /* a per-class table: some line names 304 and its 77 blocks in use */
    int lines = 0, found = 0;
    for (const char *l = txt; *l;) {
        const char *e = strchr(l, '\n');
        size_t ll = e ? (size_t)(e - l) : strlen(l);
        lines++;
        if (has_token(l, ll, "304") && has_token(l, ll, "77"))
            found = 1;
        l += ll + (e ? 1 : 0);
    }
    CHECK_MSG(found, "no class line with 304 and 77 in:\n%s", txt);
    CHECK_GE(lines, 10);
    free(txt);
    for (int i = 0; i < N; i++)
        om_free(p[i]);
}

static void test_format_truncation(void)
{
    int fmts[] = { OM_REPORT_TEXT, OM_REPORT_JSON };
    for (size_t f = 0; f < 2; f++) {
        size_t full_len = 0;
        char *full = format(fmts[f], &full_len);
        REQUIRE(full != NULL);
        REQUIRE(full_len > 20);
        size_t caps[] = { 0, 1, 2, 10, full_len / 2, full_len, full_len + 1, full_len + 100 };
        char *buf = malloc(full_len + 200);
        REQUIRE(buf != NULL);
        for (size_t i = 0; i < CHECK_COUNT(caps); i++) {
            size_t cap = caps[i];
            memset(buf, 0x5A, full_len + 200);
            size_t r = om_stats_format(buf, cap, fmts[f]);
            CHECK_MSG(r == full_len, "format %d cap %zu returned %zu, want %zu", fmts[f], cap, r,
                      full_len);
            if (cap > 0) {
                size_t got = cap - 1 < full_len ? cap - 1 : full_len;
                CHECK_EQ(strlen(buf), got);
                CHECK(memcmp(buf, full, got) == 0);
                CHECK(tu_all_bytes(buf + cap, full_len + 200 - cap, 0x5A));
            } else {
                CHECK(tu_all_bytes(buf, full_len + 200, 0x5A));
            }
        }
        free(buf);
        free(full);
    }
}

static void test_stats_write(void)
{
    int fmts[] = { OM_REPORT_TEXT, OM_REPORT_JSON };
    for (size_t f = 0; f < 2; f++) {
        FILE *tf = tmpfile();
        REQUIRE(tf != NULL);
        size_t want_len = 0;
        char *want = format(fmts[f], &want_len);
        REQUIRE(want != NULL);
        CHECK_EQ(om_stats_write(fileno(tf), fmts[f]), 0);
        char *got = calloc(want_len + 64, 1);
        REQUIRE(got != NULL);
        CHECK_EQ(lseek(fileno(tf), 0, SEEK_SET), 0);
        ssize_t n = read(fileno(tf), got, want_len + 63);
        CHECK_EQ(n, want_len);
        CHECK(strcmp(got, want) == 0);
        free(got);
        free(want);
        fclose(tf);
    }
    CHECK_EQ(om_stats_write(-1, OM_REPORT_TEXT), EBADF);
}

/* The object layer's section: each type that made an object, with its
 * counts, and the collector's generations, in text and in JSON. */
typedef struct st_obj { om_object ob; long v; } st_obj;
static om_type st_type = { OM_TYPE_INIT, .name = "stats_probe_type", .size = sizeof(st_obj), .freelist_limit = 3 };

static void test_objects_section(void)
{
    om_object *a = om_new(&st_type), *b = om_new(&st_type);
    REQUIRE(a != NULL && b != NULL);
    om_decref(a);
    char *buf = malloc(1 << 20);
    REQUIRE(buf != NULL);
    om_stats_format(buf, 1 << 20, OM_REPORT_TEXT);
    const char *line = strstr(buf, "stats_probe_type");
    CHECK(line != NULL);
    /* live 1, created 2, destroyed 1, hits 0, misses 2, parked 1 of 3 */
    CHECK(line && strncmp(line, "stats_probe_type           1             2             1", 55) == 0);
    CHECK(strstr(buf, "# gc enabled, thresholds 2000/10/10") != NULL);
    CHECK(strstr(buf, "# gc generation 2:") != NULL);
    om_stats_format(buf, 1 << 20, OM_REPORT_JSON);
    CHECK(strstr(buf, "{\"name\": \"stats_probe_type\", \"live\": 1, \"created\": 2, \"destroyed\": 1, "
                      "\"freelist_hits\": 0, \"freelist_misses\": 2, \"freelist_len\": 1, \"freelist_limit\": 3}") != NULL);
    CHECK(strstr(buf, "\"gc\": {\"enabled\": true, \"generations\": [") != NULL);
    size_t n = strlen(buf);
    CHECK(n > 2 && buf[n - 2] == '}' && buf[n - 1] == '\n');
    free(buf);
    om_decref(b);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_class_table),
        CHECK_CASE(test_small_deltas),
        CHECK_CASE(test_full_pool_delta),
        CHECK_CASE(test_medium_large_deltas),
        CHECK_CASE(test_json_self_check),
        CHECK_CASE(test_json_report),
        CHECK_CASE(test_text_report),
        CHECK_CASE(test_format_truncation),
        CHECK_CASE(test_stats_write),
        CHECK_CASE(test_objects_section),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
