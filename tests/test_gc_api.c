/*
 * test_gc_api.c — the collector's inspection and control surface
 * (objmem.h §11), CPython's gc module written for C: om_gc_get_objects and
 * om_gc_count_objects per generation (early stop, bad generations);
 * callbacks (order, om_gc_info, examined, EBUSY inside, add / remove and
 * their limits); om_gc_get_referrers / om_gc_get_referents; uncollectable
 * objects (no clear) and what they reach on the garbage list
 * (om_gc_garbage_count / _visit / _clear); OM_GC_DEBUG_SAVEALL; the debug
 * output on stderr (STATS, COLLECTABLE, UNCOLLECTABLE).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "objtest.h"
#include "gctest.h"

/* ------------------------------------------------------------ get_objects */

static int visit_count_all(om_object *o, void *arg)
{
    (void)o;
    (*(size_t *)arg)++;
    return 0;
}

static void test_get_objects(void)
{
    gt_reset();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1);
    REQUIRE(a != NULL);
    CHECK_EQ(om_gc_collect(1), 0); /* a: generation 2 */
    gt_gnode *b = gt_mk(&gt_gnode_type, 2), *b2 = gt_mk(&gt_gnode_type, 22);
    REQUIRE(b != NULL && b2 != NULL);
    CHECK_EQ(om_gc_collect(0), 0); /* b, b2: generation 1 */
    gt_gnode *c = gt_mk(&gt_gnode_type, 3);
    gt_link *x = (gt_link *)om_new(&gt_box_type); /* not a container: never listed */
    REQUIRE(c != NULL && x != NULL);
    CHECK_EQ(gt_gen_of(a), 2);
    CHECK_EQ(gt_gen_of(b), 1);
    CHECK_EQ(gt_gen_of(b2), 1);
    CHECK_EQ(gt_gen_of(c), 0);
    CHECK_EQ(gt_gen_of(x), -1);
    for (int g = -1; g < OM_GC_GENERATIONS; g++) {
        size_t n = 0;
        CHECK_EQ(om_gc_get_objects(g, visit_count_all, &n), 0);
        CHECK_EQ(n, om_gc_count_objects(g));
    }
    CHECK_EQ(om_gc_count_objects(0), 1);
    CHECK_EQ(om_gc_count_objects(1), 2);
    CHECK_EQ(om_gc_count_objects(2), 1);
    CHECK_EQ(om_gc_count_objects(-1), 4);
    gt_find f = { c, 0, 0 };
    om_gc_get_objects(-1, gt_visit_find, &f);
    CHECK_EQ(f.found, 1);
    /* early stop */
    int seen = 0;
    CHECK_EQ(om_gc_get_objects(-1, gt_visit_stop_at_2, &seen), 42);
    CHECK_EQ(seen, 2);
    seen = 0;
    CHECK_EQ(om_gc_get_objects(1, gt_visit_stop_at_2, &seen), 42);
    /* bad generations: nothing */
    size_t n = 0;
    CHECK_EQ(om_gc_get_objects(3, visit_count_all, &n), 0);
    CHECK_EQ(om_gc_get_objects(-2, visit_count_all, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(om_gc_count_objects(3), 0);
    CHECK_EQ(om_gc_count_objects(-2), 0);
    om_decref(a);
    om_decref(b);
    om_decref(b2);
    om_decref(c);
    om_decref(x);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* ------------------------------------------------------------ callbacks */

static void logging_cb(om_gc_phase phase, const om_gc_info *info, void *arg)
{
    int who = (int)(intptr_t)arg;
    if (phase == OM_GC_START)
        ot_ev("S%d.g%d", who, info->generation);
    else
        ot_ev("P%d.g%d.c%ld.u%ld", who, info->generation, info->collected, info->uncollectable);
}

static long inner_collect = 1;
static int inner_errno, inner_poll = -5;
static void collecting_cb(om_gc_phase phase, const om_gc_info *info, void *arg)
{
    (void)info, (void)arg;
    if (phase == OM_GC_START) {
        errno = 0;
        inner_collect = om_gc_collect(0);
        inner_errno = errno;
        inner_poll = (int)om_gc_poll();
    }
}

static void dummy_cb(om_gc_phase phase, const om_gc_info *info, void *arg)
{
    (void)phase, (void)info, (void)arg;
}

static void test_callbacks(void)
{
    gt_reset();
    CHECK_EQ(om_gc_callback_add(logging_cb, (void *)1), 0);
    CHECK_EQ(om_gc_callback_add(logging_cb, (void *)2), 0);
    gt_gnode *a = gt_mk(&gt_gnode_type, 7), *b = gt_mk(&gt_gnode_type, 8), *k = gt_mk(&gt_gnode_type, 9);
    REQUIRE(a != NULL && b != NULL && k != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_decref(a);
    om_decref(b);
    ot_log_reset();
    gt_quiet = 1;
    CHECK_EQ(om_gc_collect(1), 2);
    CHECK_LOG("S1.g1 S2.g1 P1.g1.c2.u0 P2.g1.c2.u0");
    ot_log_reset();
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_LOG("S1.g0 S2.g0 P1.g0.c0.u0 P2.g0.c0.u0");
    CHECK_EQ(om_gc_callback_remove(logging_cb, (void *)1), 0);
    CHECK_EQ(om_gc_callback_remove(logging_cb, (void *)1), ENOENT);
    ot_log_reset();
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_LOG("S2.g2 P2.g2.c0.u0");
    CHECK_EQ(om_gc_callback_remove(logging_cb, (void *)2), 0);
    ot_log_reset();
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_LOG("");

    /* examined: the objects of the collected generations */
    gt_recorder_start();
    gt_gnode *y = gt_mk(&gt_gnode_type, 10);
    REQUIRE(y != NULL);
    CHECK_EQ(om_gc_collect(0), 0); /* y: generation 1 */
    gt_gnode *z = gt_mk(&gt_gnode_type, 11);
    REQUIRE(z != NULL);
    size_t n01 = om_gc_count_objects(0) + om_gc_count_objects(1);
    CHECK_EQ(n01, 2);
    CHECK_EQ(om_gc_collect(1), 0);
    CHECK_EQ(gt_rec_examined, n01);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(gt_rec_examined, 3); /* k, y, z */
    gt_recorder_stop();

    /* inside a collection, another one is refused */
    CHECK_EQ(om_gc_callback_add(collecting_cb, NULL), 0);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(inner_collect, -1);
    CHECK_EQ(inner_errno, EBUSY);
    CHECK_EQ(inner_poll, 0);
    CHECK_EQ(om_gc_callback_remove(collecting_cb, NULL), 0);

    /* limits */
    CHECK_EQ(om_gc_callback_add(NULL, NULL), EINVAL);
    int added = 0;
    for (int i = 0; i < 16; i++)
        added += om_gc_callback_add(dummy_cb, (void *)(intptr_t)i) == 0;
    CHECK_EQ(added, 16);
    CHECK_EQ(om_gc_callback_add(dummy_cb, (void *)99), ENOMEM);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(om_gc_callback_remove(dummy_cb, (void *)(intptr_t)i), 0);
    CHECK_EQ(om_gc_callback_remove(dummy_cb, (void *)0), ENOENT);
    om_decref(k);
    om_decref(y);
    om_decref(z);
}

/* ------------------------------------------------------------ referrers */
static void test_referrers_referents(void)
{
    gt_reset();
    gt_gnode *x = gt_mk(&gt_gnode_type, 1);
    REQUIRE(x != NULL);
    om_object *l = ex_list_new(0), *d = ex_dict_new(), *k = ex_str_from("k"), *t = ex_tuple_new(1);
    gt_gnode *n = gt_mk(&gt_gnode_type, 2), *u = gt_mk(&gt_gnode_type, 3), *other = gt_mk(&gt_gnode_type, 4);
    gt_link *bx = (gt_link *)om_new(&gt_box_type);
    REQUIRE(l != NULL && d != NULL && k != NULL && t != NULL && n != NULL && u != NULL &&
            other != NULL && bx != NULL);
    REQUIRE_EQ(ex_list_append(l, OM_OBJ(x)), 0);
    REQUIRE_EQ(ex_dict_set(d, k, OM_OBJ(x)), 0);
    ex_tuple_set_item(t, 0, om_newref(OM_OBJ(x)));
    gt_set_ref(n, 0, x);
    gt_set_ref(n, 2, x); /* twice: still one referrer */
    gt_set_ref(u, 0, x);
    CHECK_EQ(om_gc_untrack(OM_OBJ(u)), 0); /* untracked: not reported */
    bx->ref = om_newref(OM_OBJ(x));        /* not a container: not reported */
    gt_set_ref(other, 0, other);
    CHECK_EQ(om_gc_collect(0), 0); /* referrers in two generations */
    om_object *l2 = ex_list_new(0);
    REQUIRE(l2 != NULL);
    REQUIRE_EQ(ex_list_append(l2, OM_OBJ(x)), 0);

    gt_seen s = { { NULL }, 0 };
    CHECK_EQ(om_gc_get_referrers(OM_OBJ(x), gt_visit_record, &s), 0);
    CHECK_EQ(s.n, 5);
    CHECK_EQ(gt_seen_count(&s, l), 1);
    CHECK_EQ(gt_seen_count(&s, l2), 1);
    CHECK_EQ(gt_seen_count(&s, d), 1);
    CHECK_EQ(gt_seen_count(&s, t), 1);
    CHECK_EQ(gt_seen_count(&s, n), 1);
    int stop = 0;
    CHECK_EQ(om_gc_get_referrers(OM_OBJ(x), gt_visit_stop_at_2, &stop), 42);
    CHECK_EQ(stop, 2);
    /* the key is referred to by the dict only */
    gt_seen sk = { { NULL }, 0 };
    CHECK_EQ(om_gc_get_referrers(k, gt_visit_record, &sk), 0);
    CHECK_EQ(sk.n, 1);
    CHECK_EQ(gt_seen_count(&sk, d), 1);
    /* self-reference */
    gt_seen so = { { NULL }, 0 };
    om_gc_get_referrers(OM_OBJ(other), gt_visit_record, &so);
    CHECK_EQ(so.n, 1);
    CHECK_EQ(gt_seen_count(&so, other), 1);

    /* referents: the object's traverse, whatever it is */
    gt_seen r = { { NULL }, 0 };
    CHECK_EQ(om_gc_get_referents(OM_OBJ(n), gt_visit_record, &r), 0);
    CHECK_EQ(r.n, 2);
    CHECK_EQ(gt_seen_count(&r, x), 2);
    gt_seen rd = { { NULL }, 0 };
    CHECK_EQ(om_gc_get_referents(d, gt_visit_record, &rd), 0);
    CHECK_EQ(rd.n, 2);
    CHECK_EQ(gt_seen_count(&rd, k), 1);
    CHECK_EQ(gt_seen_count(&rd, x), 1);
    gt_seen rb = { { NULL }, 0 };
    CHECK_EQ(om_gc_get_referents(OM_OBJ(bx), gt_visit_record, &rb), 0); /* untracked types too */
    CHECK_EQ(rb.n, 1);
    gt_seen rx = { { NULL }, 0 };
    CHECK_EQ(om_gc_get_referents(OM_OBJ(x), gt_visit_record, &rx), 0);
    CHECK_EQ(rx.n, 0);
    om_object *i1 = ex_int_new(5);
    REQUIRE(i1 != NULL);
    CHECK_EQ(om_gc_get_referents(i1, gt_visit_record, &rx), 0); /* no traverse */
    CHECK_EQ(rx.n, 0);
    stop = 0;
    gt_set_ref(x, 0, k);
    gt_set_ref(x, 1, i1);
    CHECK_EQ(om_gc_get_referents(OM_OBJ(x), gt_visit_stop_at_2, &stop), 42);
    om_decref(i1);

    om_object *all[] = { OM_OBJ(x), l, l2, d, k, t, OM_OBJ(n), OM_OBJ(u), OM_OBJ(bx) };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        om_decref(all[i]);
    om_decref(other);
    CHECK_EQ(om_gc_collect(2), 1); /* other */
    CHECK_EQ(gt_released[1] + gt_released[2] + gt_released[3] + gt_released[4], 4);
}

/* ------------------------------------------------------------ garbage list */

static void test_uncollectable(void)
{
    gt_reset();
    gt_gnode *u1 = gt_mk(&gt_noclear_type, 1), *u2 = gt_mk(&gt_noclear_type, 2), *c = gt_mk(&gt_gnode_type, 3),
          *e = gt_mk(&gt_gnode_type, 4), *x = gt_mk(&gt_gnode_type, 5), *y = gt_mk(&gt_gnode_type, 6);
    REQUIRE(u1 != NULL && u2 != NULL && c != NULL && e != NULL && x != NULL && y != NULL);
    gt_set_ref(u1, 0, u2);
    gt_set_ref(u2, 0, u1);
    gt_set_ref(u1, 1, c); /* reachable from the uncollectable: kept too */
    gt_set_ref(c, 0, e);
    gt_set_ref(x, 0, y); /* an ordinary cycle beside it */
    gt_set_ref(y, 0, x);
    om_weakref *w = om_weakref_new(OM_OBJ(u1), NULL, NULL);
    REQUIRE(w != NULL);
    gt_gnode *all[] = { u1, u2, c, e, x, y };
    for (int i = 0; i < 6; i++)
        om_decref(all[i]);
    om_gc_gen_stats s0[3], s1[3];
    om_gc_get_stats(s0);
    gt_recorder_start();
    CHECK_EQ(om_gc_collect(2), 6);
    CHECK_EQ(gt_rec_collected, 2);
    CHECK_EQ(gt_rec_uncollectable, 4);
    om_gc_get_stats(s1);
    CHECK_EQ(s1[2].collected - s0[2].collected, 2);
    CHECK_EQ(s1[2].uncollectable - s0[2].uncollectable, 4);
    CHECK_EQ(om_gc_garbage_count(), 2); /* only those without clear (CPython's gc.garbage) */
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(gt_in_garbage(all[i]), i < 2);
        CHECK_EQ(gt_gen_of(all[i]), i < 2 ? -1 : 2); /* c and e: alive, intact, held by u1 */
        CHECK_EQ(gt_released[i + 1], 0);
        CHECK_EQ(gt_cleared[i + 1], 0);
    }
    CHECK_EQ(gt_released[5] + gt_released[6], 2);
    CHECK_PTR_EQ(u1->ref[0], u2);
    CHECK_PTR_EQ(c->ref[0], e);
    om_object *g = om_weakref_get(w); /* alive: its weak references too */
    CHECK_PTR_EQ(g, u1);
    om_xdecref(g);
    /* the garbage list holds them: not examined again */
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(om_gc_garbage_count(), 2);
    int stop = 0;
    CHECK_EQ(om_gc_garbage_visit(gt_visit_stop_at_2, &stop), 42);
    /* cleared, the cycle goes back to the generations and is found again */
    CHECK_EQ(om_gc_garbage_clear(), 2);
    CHECK_EQ(om_gc_garbage_count(), 0);
    CHECK_EQ(gt_n_released, 2);
    CHECK_EQ(gt_gen_of(u1), 2);
    CHECK_EQ(om_gc_collect(2), 4);
    CHECK_EQ(om_gc_garbage_count(), 2);
    CHECK_EQ(gt_rec_collected, 0);
    CHECK_EQ(gt_rec_uncollectable, 4);
    gt_recorder_stop();
    /* break the cycle by hand; then the list's references are the last */
    om_clear_ref(&u1->ref[0]);
    om_clear_ref(&u1->ref[1]);
    om_clear_ref(&u2->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 2);
    CHECK_EQ(om_gc_garbage_count(), 0);
    for (int i = 1; i <= 6; i++)
        CHECK_EQ(gt_released[i], 1);
    CHECK(om_weakref_get(w) == NULL);
    om_decref(w);
    CHECK_EQ(om_gc_garbage_clear(), 0);
}

static void test_saveall(void)
{
    gt_reset();
    gt_reset_weak();
    om_gc_set_debug(OM_GC_DEBUG_SAVEALL);
    CHECK_EQ(om_gc_get_debug(), OM_GC_DEBUG_SAVEALL);
    gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2), *t = gt_mk(&gt_gnode_type, 3);
    om_object *d = ex_int_new(4);
    REQUIRE(a != NULL && b != NULL && t != NULL && d != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_weakref *w = om_weakref_new(OM_OBJ(a), gt_weak_cb, d);
    REQUIRE(w != NULL);
    om_decref(d);
    om_decref(a);
    om_decref(b);
    om_decref(t); /* no cycle: reference counting frees it as always */
    CHECK_EQ(gt_released[3], 1);
    gt_recorder_start();
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_rec_collected + gt_rec_uncollectable, 2);
    CHECK_EQ(om_gc_garbage_count(), 2);
    CHECK(gt_in_garbage(a));
    CHECK(gt_in_garbage(b));
    CHECK_EQ(gt_n_released, 1);
    CHECK_EQ(gt_n_cleared, 1);
    CHECK_PTR_EQ(a->ref[0], b);
    CHECK_EQ(gt_wcb_calls, 1); /* weak references cleared as for any garbage */
    CHECK(om_weakref_get(w) == NULL);
    CHECK_EQ(om_gc_collect(2), 0);
    CHECK_EQ(om_gc_garbage_count(), 2);
    om_gc_set_debug(0);
    CHECK_EQ(om_gc_garbage_clear(), 2);
    CHECK_EQ(gt_n_released, 1); /* still a cycle */
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_released[1] + gt_released[2], 2);
    CHECK_EQ(om_gc_garbage_count(), 0);
    gt_recorder_stop();
    om_decref(w);

    /* OM_GC_DEBUG_LEAK includes SAVEALL */
    CHECK(OM_GC_DEBUG_LEAK & OM_GC_DEBUG_SAVEALL);
}

/* ------------------------------------------------------------ debug output */

static char cap_buf[65536];
static int cap_saved = -1;
static FILE *cap_file;

static int capture_begin(void)
{
    fflush(stderr);
    cap_file = tmpfile();
    if (cap_file == NULL)
        return 0;
    cap_saved = dup(2);
    if (cap_saved < 0 || dup2(fileno(cap_file), 2) < 0) {
        fclose(cap_file);
        return 0;
    }
    return 1;
}

static const char *capture_end(void)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    cap_saved = -1;
    size_t n = 0;
    if (lseek(fileno(cap_file), 0, SEEK_SET) == 0) {
        ssize_t r;
        while (n < sizeof cap_buf - 1 &&
               (r = read(fileno(cap_file), cap_buf + n, sizeof cap_buf - 1 - n)) > 0)
            n += (size_t)r;
    }
    cap_buf[n] = '\0';
    fclose(cap_file);
    cap_file = NULL;
    return cap_buf;
}

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        size_t cp = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, line, cp);
        buf[cp] = '\0';
        if (strstr(buf, needle) != NULL)
            n++;
        line += len;
        if (*line == '\n')
            line++;
    }
    return n;
}

/* 1 if the line naming what also holds word */
static int line_with(const char *text, const char *what, const char *word)
{
    const char *p = strstr(text, what);
    if (p == NULL)
        return -1;
    const char *start = p, *end = strchr(p, '\n');
    while (start > text && start[-1] != '\n')
        start--;
    if (end == NULL)
        end = p + strlen(p);
    char line[512];
    size_t len = (size_t)(end - start) < sizeof line - 1 ? (size_t)(end - start) : sizeof line - 1;
    memcpy(line, start, len);
    line[len] = '\0';
    return strstr(line, word) != NULL;
}

static void test_debug_flags(void)
{
    gt_reset();
    gt_gnode *a = gt_mk(&gt_gnode_type, 1), *b = gt_mk(&gt_gnode_type, 2), *u = gt_mk(&gt_noclear_type, 3);
    REQUIRE(a != NULL && b != NULL && u != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    gt_set_ref(u, 0, u);
    char pa[32], pb[32], pu[32];
    snprintf(pa, sizeof pa, "%p", (void *)a);
    snprintf(pb, sizeof pb, "%p", (void *)b);
    snprintf(pu, sizeof pu, "%p", (void *)u);

    /* held: nothing found; STATS still writes a line */
    om_gc_set_debug(OM_GC_DEBUG_STATS | OM_GC_DEBUG_COLLECTABLE | OM_GC_DEBUG_UNCOLLECTABLE);
    REQUIRE(capture_begin());
    long r = om_gc_collect(2);
    const char *out = capture_end();
    CHECK_EQ(r, 0);
    CHECK_GE(count_lines_with(out, "gc"), 1);
    CHECK_EQ(count_lines_with(out, "gnode"), 0);

    om_decref(a);
    om_decref(b);
    om_decref(u);
    REQUIRE(capture_begin());
    r = om_gc_collect(2);
    out = capture_end();
    CHECK_EQ(r, 3);
    CHECK_MSG(count_lines_with(out, "gnode") == 2, "stderr:\n%s", out);
    CHECK_EQ(count_lines_with(out, "noclear"), 1);
    /* each object named (type and address) on its own line */
    CHECK_EQ(line_with(out, pa, "collectable"), 1);
    CHECK_EQ(line_with(out, pa, "uncollectable"), 0);
    CHECK_EQ(line_with(out, pb, "collectable"), 1);
    CHECK_EQ(line_with(out, pu, "uncollectable"), 1);
    CHECK_GE(count_lines_with(out, "gc"), 4); /* two, one, and the statistics */

    /* flags one at a time */
    om_gc_set_debug(0);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    gt_garbage_pair(10);
    REQUIRE(capture_begin());
    r = om_gc_collect(2);
    out = capture_end();
    CHECK_EQ(r, 1 + 2);
    CHECK_EQ(strlen(out), 0); /* no flags: silence */
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    om_gc_set_debug(OM_GC_DEBUG_UNCOLLECTABLE);
    gt_garbage_pair(12);
    REQUIRE(capture_begin());
    r = om_gc_collect(2);
    out = capture_end();
    CHECK_EQ(r, 3);
    CHECK_EQ(count_lines_with(out, "gnode"), 0);
    CHECK_EQ(count_lines_with(out, "noclear"), 1);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    om_gc_set_debug(OM_GC_DEBUG_COLLECTABLE);
    gt_garbage_pair(14);
    REQUIRE(capture_begin());
    r = om_gc_collect(2);
    out = capture_end();
    CHECK_EQ(r, 3);
    CHECK_EQ(count_lines_with(out, "gnode"), 2);
    CHECK_EQ(count_lines_with(out, "noclear"), 0);
    om_gc_set_debug(0);

    /* clean up the uncollectable self-cycle */
    CHECK_EQ(om_gc_garbage_count(), 1);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(gt_released[3], 1);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_get_objects),
        CHECK_CASE(test_callbacks),
        CHECK_CASE(test_referrers_referents),
        CHECK_CASE(test_uncollectable),
        CHECK_CASE(test_saveall),
        CHECK_CASE(test_debug_flags),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
