/*
 * test_snapshot.c — om_heap_snapshot_write: the document parses, follows
 * the schema objmem.h gives, and agrees with om_stats_get taken at the
 * same moment (blocks used per class, pools, arenas, large blocks); a
 * pool emptied and trimmed shows as purged; snapshots taken while other
 * threads allocate and free are valid documents (and, under TSan, race
 * free).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <objmem.h>

#include "check.h"
#include "jsonparse.h"

#define POOL 16384u
#define ARENA (1024u * 1024u)

/* One snapshot, read back as text through a temporary file. */
static char *snapshot_text(void) {
    FILE *f = tmpfile();
    if (!f)
        return NULL;
    int rc = om_heap_snapshot_write(fileno(f), 0);
    CHECK_EQ(rc, 0);
    long n = ftell(f) >= 0 ? (fseek(f, 0, SEEK_END), ftell(f)) : -1;
    char *text = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (text) {
        rewind(f);
        text[fread(text, 1, (size_t)n, f)] = '\0';
    }
    fclose(f);
    return text;
}

/* The text is one line ending in "\n"; the parsed document, or NULL. */
static json *snapshot_doc(void) {
    char *text = snapshot_text();
    if (!text)
        return NULL;
    size_t n = strlen(text);
    CHECK(n > 0 && text[n - 1] == '\n');
    CHECK(memchr(text, '\n', n - 1) == NULL);
    CHECK(strstr(text, "</") == NULL);
    const char *err = NULL;
    json *doc = json_parse(text, &err);
    if (!doc)
        fprintf(stderr, "snapshot does not parse: %s\n", err);
    free(text);
    return doc;
}

static double num(const json *j, const char *key) { return json_num(json_get(j, key)); }

/* ---- a known heap ----------------------------------------------------------------- */
enum { N48 = 3 * (POOL / 48) + 10, N200 = 100 };

static void test_known_heap(void) {
    static void *b48[N48], *b200[N200];
    om_trim(1);
    for (int i = 0; i < N48; i++)
        b48[i] = om_malloc(48);
    for (int i = 0; i < N200; i++)
        b200[i] = om_malloc(200);
    void *medium = om_malloc(4000), *large = om_malloc(3u << 20), *cached = om_malloc(2u << 20);
    REQUIRE(medium && large && cached);
    /* Empty the pool that holds the middle 48-byte block, keep the others. */
    uintptr_t victim = (uintptr_t)b48[N48 / 2] & ~(uintptr_t)(POOL - 1);
    for (int i = 0; i < N48; i++)
        if (((uintptr_t)b48[i] & ~(uintptr_t)(POOL - 1)) == victim)
            om_free(b48[i]), b48[i] = NULL;
    for (int i = 0; i < N200; i += 3)
        om_free(b200[i]), b200[i] = NULL;
    om_trim(0);     /* purges the empty pool */
    om_free(cached); /* to the large cache */

    om_stats s;
    om_stats_get(&s);
    json *doc = snapshot_doc();
    om_stats s2;
    om_stats_get(&s2);
    REQUIRE(doc != NULL);
    CHECK(memcmp(&s.classes, &s2.classes, sizeof s.classes) == 0); /* nothing moved meanwhile */

    CHECK_EQ(num(doc, "objmem_snapshot"), 1);
    CHECK(strcmp(json_str(json_get(doc, "version")), om_version()) == 0);
    CHECK_EQ(num(doc, "pid"), (double)getpid());
    CHECK(json_get(doc, "command") && json_get(doc, "command")->kind == JSON_STR);
    json *geom = json_get(doc, "geometry");
    CHECK_EQ(num(geom, "pool"), POOL);
    CHECK_EQ(num(geom, "arena"), ARENA);
    CHECK_EQ(num(geom, "medium_pool"), 262144);
    CHECK_EQ(num(geom, "medium_arena"), 4194304);
    CHECK_EQ(num(geom, "page"), (double)sysconf(_SC_PAGESIZE));
    json *classes = json_get(doc, "classes");
    REQUIRE(classes && classes->n == OM_NUM_CLASSES);
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++)
        CHECK_EQ(json_num(classes->items[c]), s.classes[c].block_size);

    /* Pools, summed, are om_stats_get's. */
    uint64_t used[OM_NUM_CLASSES] = {0}, pools[OM_NUM_CLASSES] = {0}, full[OM_NUM_CLASSES] = {0};
    uint64_t empty = 0, purged = 0, total = 0, small = 0, medium_n = 0;
    int victim_state = -1;
    json *arenas = json_get(doc, "arenas");
    REQUIRE(arenas && arenas->kind == JSON_ARR);
    for (size_t a = 0; a < arenas->n; a++) {
        json *ar = arenas->items[a], *ps = json_get(ar, "pools");
        int is_medium = strcmp(json_str(json_get(ar, "geom")), "medium") == 0;
        small += !is_medium, medium_n += is_medium;
        CHECK(num(ar, "heap") >= 0);
        CHECK(num(ar, "order") >= -1);
        uintptr_t base = (uintptr_t)strtoull(json_str(json_get(ar, "base")), NULL, 16);
        REQUIRE(ps && ps->n == (is_medium ? 16u : 64u));
        for (size_t i = 0; i < ps->n; i++) {
            json *p = ps->items[i];
            REQUIRE(p->kind == JSON_ARR && p->n == 5);
            int state = (int)json_num(p->items[0]), cls = (int)json_num(p->items[1]);
            uint64_t u = (uint64_t)json_num(p->items[2]), carved = (uint64_t)json_num(p->items[3]),
                     cap = (uint64_t)json_num(p->items[4]);
            total++;
            if (!is_medium && base + i * POOL == victim)
                victim_state = state;
            CHECK(state >= 0 && state <= 5);
            if (state <= 2) {
                empty++, purged += state != 1;
                CHECK_EQ(cls, -1);
                continue;
            }
            REQUIRE(cls >= 0 && cls < OM_NUM_CLASSES);
            CHECK_EQ(cap, s.classes[cls].blocks_per_pool);
            CHECK(u <= carved && carved <= cap);
            used[cls] += u, pools[cls]++, full[cls] += u == cap;
            CHECK_EQ(state == 4, u == cap);
        }
    }
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        CHECK_EQ(used[c], s.classes[c].blocks_used);
        CHECK_EQ(pools[c], s.classes[c].pools);
        CHECK_EQ(full[c], s.classes[c].full_pools);
    }
    CHECK_EQ(small, s.small_arenas);
    CHECK_EQ(medium_n, s.medium_arenas);
    CHECK_EQ(total, s.pools_total);
    CHECK_EQ(empty, s.pools_empty);
    CHECK_EQ(purged, s.pools_purged);
    CHECK_EQ(victim_state, 2);

    /* Large blocks: the live one and the cached one. */
    json *large_list = json_get(doc, "large");
    REQUIRE(large_list && large_list->kind == JSON_ARR);
    uint64_t live = 0, cached_n = 0, live_bytes = 0;
    int seen_large = 0;
    for (size_t i = 0; i < large_list->n; i++) {
        json *l = large_list->items[i];
        const char *st = json_str(json_get(l, "state"));
        CHECK(strcmp(st, "live") == 0 || strcmp(st, "cached") == 0);
        CHECK(num(l, "mapped") >= num(l, "size"));
        if (strcmp(st, "live") == 0)
            live++, live_bytes += (uint64_t)num(l, "size");
        else
            cached_n++;
        seen_large |= (uintptr_t)strtoull(json_str(json_get(l, "base")), NULL, 16) == (uintptr_t)large;
    }
    CHECK_EQ(live, s.large_count);
    CHECK_EQ(live_bytes, s.large_bytes);
    CHECK_EQ(cached_n, s.large_cached);
    CHECK(cached_n >= 1);
    CHECK(seen_large);

    /* The totals are the report's counters, and rss. */
    json *totals = json_get(doc, "totals");
    CHECK_EQ(num(totals, "bytes_in_use"), s.bytes_in_use);
    CHECK_EQ(num(totals, "arenas_current"), s.arenas_current);
    CHECK_EQ(num(totals, "large_count"), s.large_count);
    CHECK_EQ(num(totals, "meta_bytes"), s.meta_bytes);
    CHECK(num(totals, "rss") > 0);

    /* This thread's heap is active and names it. */
    json *heaps = json_get(doc, "heaps");
    REQUIRE(heaps && heaps->n >= 1);
    int mine = 0;
    for (size_t i = 0; i < heaps->n; i++)
        mine += strcmp(json_str(json_get(heaps->items[i], "state")), "active") == 0 &&
                num(heaps->items[i], "thread") == (double)gettid();
    CHECK_EQ(mine, 1);

    json *objects = json_get(doc, "objects"), *gc = json_get(objects, "gc");
    CHECK(json_get(objects, "types") && json_get(objects, "types")->kind == JSON_ARR);
    CHECK(json_get(gc, "generations") && json_get(gc, "generations")->n == OM_GC_GENERATIONS);
    CHECK(json_get(gc, "collections") && json_get(gc, "collections")->n == OM_GC_GENERATIONS);
    CHECK(json_get(doc, "stop_ns") && num(doc, "stop_ns") >= 0);
    CHECK(json_get(doc, "truncated") && json_get(doc, "truncated")->kind == JSON_BOOL);
    json_free(doc);

    for (int i = 0; i < N48; i++)
        om_free(b48[i]);
    for (int i = 0; i < N200; i++)
        om_free(b200[i]);
    om_free(medium);
    om_free(large);
    om_trim(1);
}

/* Usable-list positions: 0..k-1 once each per heap and geometry. */
static void test_order(void) {
    enum { N = 2000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = om_malloc(1000); /* 1 KiB blocks: 16 a pool, several arenas */
    for (int i = 0; i < N; i += 7)
        om_free(p[i]), p[i] = NULL;
    json *doc = snapshot_doc();
    REQUIRE(doc != NULL);
    json *arenas = json_get(doc, "arenas");
    unsigned seen[2][64] = {{0}}; /* [geom][order]: one heap here */
    int ordered = 0;
    for (size_t a = 0; a < arenas->n; a++) {
        int order = (int)num(arenas->items[a], "order");
        int g = strcmp(json_str(json_get(arenas->items[a], "geom")), "medium") == 0;
        if (order >= 0 && order < 64)
            seen[g][order]++, ordered++;
    }
    CHECK(ordered >= 1);
    for (int g = 0; g < 2; g++) {
        int k = 0;
        while (k < 64 && seen[g][k] == 1)
            k++;
        for (int j = k; j < 64; j++)
            CHECK_EQ(seen[g][j], 0); /* no gap, no repeat */
    }
    json_free(doc);
    for (int i = 0; i < N; i++)
        om_free(p[i]);
    om_trim(1);
}

static void test_seq_and_errors(void) {
    json *a = snapshot_doc(), *b = snapshot_doc();
    REQUIRE(a && b);
    CHECK_EQ(num(b, "seq"), num(a, "seq") + 1);
    CHECK(num(b, "time_ms") >= num(a, "time_ms"));
    json_free(a);
    json_free(b);
    CHECK_EQ(om_heap_snapshot_write(1, 1u), EINVAL);
    CHECK_EQ(om_heap_snapshot_write(-1, 0), EINVAL);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    close(fds[1]);
    CHECK_EQ(om_heap_snapshot_write(fds[1], 0), EBADF);
    close(fds[0]);
}

/* ---- snapshots while threads allocate ---------------------------------------------------- */
static atomic_int stop_flag;

static void *churn(void *arg) {
    enum { SLOTS = 4096 };
    void **slot = calloc(SLOTS, sizeof *slot);
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    while (!atomic_load(&stop_flag)) {
        for (int i = 0; i < 1000; i++) {
            x = x * 1103515245u + 12345u;
            unsigned k = (x >> 8) % SLOTS;
            om_free(slot[k]);
            size_t size = (x >> 20) % 8 == 0 ? 600 + (x >> 4) % 8000 : 16 + (x >> 12) % 400;
            slot[k] = om_malloc((x >> 24) == 0 ? 300000 : size);
        }
    }
    for (int i = 0; i < SLOTS; i++)
        om_free(slot[i]);
    free(slot);
    return NULL;
}

static void test_threads(void) {
    enum { T = 4 };
    pthread_t t[T];
    atomic_store(&stop_flag, 0);
    for (int i = 0; i < T; i++)
        REQUIRE(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)) == 0);
    int n = OM_TEST_SCALE(40), good = 0;
    for (int i = 0; i < n; i++) {
        json *doc = snapshot_doc();
        good += doc != NULL && json_get(doc, "arenas") != NULL;
        json_free(doc);
        usleep(2000);
    }
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(good, n);
    /* Quiescent now: the abandoned heaps' pools are exact again. */
    om_stats s;
    om_stats_get(&s);
    json *doc = snapshot_doc();
    REQUIRE(doc != NULL);
    uint64_t used = 0;
    json *arenas = json_get(doc, "arenas");
    for (size_t a = 0; a < arenas->n; a++) {
        json *ps = json_get(arenas->items[a], "pools");
        for (size_t i = 0; i < ps->n; i++)
            used += (uint64_t)json_num(ps->items[i]->items[2]);
    }
    uint64_t want = 0;
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++)
        want += s.classes[c].blocks_used;
    CHECK_EQ(used, want);
    json *heaps = json_get(doc, "heaps");
    int abandoned = 0;
    for (size_t i = 0; i < heaps->n; i++)
        abandoned += strcmp(json_str(json_get(heaps->items[i], "state")), "abandoned") == 0 &&
                     num(heaps->items[i], "thread") == 0;
    CHECK_EQ(abandoned, T);
    json_free(doc);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        CHECK_CASE(test_known_heap),
        CHECK_CASE(test_order),
        CHECK_CASE(test_seq_and_errors),
        CHECK_CASE(test_threads),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
