/*
 * test_gc_uncollectable.c — the garbage list as CPython's: only objects
 * that cannot be freed go there (gc.garbage gets the uncollectable objects
 * only, handle_legacy_finalizers; with DEBUG_SAVEALL, every unreachable
 * object).  An object without clear in a cycle with objects that have one
 * is freed once their clear breaks the cycle (CPython clears whatever has
 * tp_clear); one that its own cycle of objects without clear holds cannot
 * be freed: it goes to the garbage list, intact (no finalizer, weak
 * references kept, as CPython's legacy finalizers in test_finalization),
 * and what it reaches stays intact and alive but is not listed; the
 * statistics count all of those uncollectable (CPython's n), the rest
 * collected; SAVEALL; long chains (no recursion, linear); an object
 * without clear reads what it holds from release, after its neighbours'
 * clear (safe: run under ASan).  Types: gcsem.h.
 */
#include "gcsem.h"

/* ------------------------------------------------------------ the garbage list */

/* A cycle of an object without clear and one with it: clearing the one
 * with clear breaks the cycle, and reference counting frees the other.
 * Nothing is uncollectable; the garbage list stays empty; the object
 * without clear goes through weak references and its finalizer as any
 * garbage does.  In both orders of creation. */
static void test_noclear_with_clear_cycle_is_freed(void)
{
    for (int order = 0; order < 2; order++) {
        for (int fin = 0; fin < 2; fin++) {
            gc_reset();
            node *a, *b;
            if (order == 0) {
                a = mk(fin ? &fnnode_type : &nnode_type, 1);
                b = mk(&cnode_type, 2);
            } else {
                b = mk(&cnode_type, 2);
                a = mk(fin ? &fnnode_type : &nnode_type, 1);
            }
            REQUIRE(a != NULL && b != NULL);
            set_ref(a, 0, b);
            set_ref(b, 0, a);
            om_weakref *wa = om_weakref_new(OM_OBJ(a), NULL, NULL);
            om_weakref *wb = om_weakref_new(OM_OBJ(b), NULL, NULL);
            REQUIRE(wa != NULL && wb != NULL);
            om_decref(a);
            om_decref(b);
            outcome o = collect_checked(2);
            CHECK_OUTCOME(o, 2, 2, 0);
            CHECK_MSG(om_gc_garbage_count() == 0,
                      "order %d, finalizer %d: %zu objects on the garbage list, want none (log: %s)", order, fin,
                      om_gc_garbage_count(), ot_log);
            CHECK_EQ(cleared[2], 1);
            CHECK_EQ(released[1], 1);
            CHECK_EQ(released[2], 1);
            CHECK_EQ(finalized[1], fin);
            CHECK(om_weakref_get(wa) == NULL);
            CHECK(om_weakref_get(wb) == NULL);
            CHECK(strstr(ot_log, "DEAD-REF") == NULL);
            om_decref(wa);
            om_decref(wb);
            CHECK_EQ(om_gc_count_objects(-1), 0);
            om_gc_garbage_clear();
        }
    }
}

/* An object without clear that its own cycle holds (here: itself) cannot
 * be freed.  It alone goes to the garbage list; what it reaches (objects
 * with clear) stays alive and intact, in the oldest generation, and is
 * counted uncollectable with it (CPython's handle_legacy_finalizers and
 * its statistics); weak references to all of them stay; no finalizer
 * runs.  Next to it, an ordinary cycle is collected. */
static void test_uncollectable_lists_only_what_cannot_be_freed(void)
{
    gc_reset();
    node *u = mk(&fnnode_type, 1), *b = mk(&cnode_type, 2), *c = mk(&cnode_type, 3);
    node *x = mk(&cnode_type, 4), *y = mk(&cnode_type, 5);
    REQUIRE(u != NULL && b != NULL && c != NULL && x != NULL && y != NULL);
    set_ref(u, 0, u); /* its own cycle: no clear can break it */
    set_ref(u, 1, b); /* reachable from it: kept intact */
    set_ref(b, 0, c);
    set_ref(c, 0, b);
    set_ref(c, 1, u);
    set_ref(x, 0, y); /* an ordinary cycle beside it */
    set_ref(y, 0, x);
    om_weakref *wu = om_weakref_new(OM_OBJ(u), NULL, NULL);
    om_weakref *wb = om_weakref_new(OM_OBJ(b), NULL, NULL);
    REQUIRE(wu != NULL && wb != NULL);
    node *all[] = { u, b, c, x, y };
    for (int i = 0; i < 5; i++)
        om_decref(all[i]);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, 5, 2, 3);
    CHECK_MSG(om_gc_garbage_count() == 1, "%zu objects on the garbage list, want 1 (the one without clear)",
              om_gc_garbage_count());
    CHECK(in_garbage(u));
    CHECK(!in_garbage(b));
    CHECK(!in_garbage(c));
    CHECK_EQ(gen_of(u), -1);
    CHECK_EQ(gen_of(b), 2);
    CHECK_EQ(gen_of(c), 2);
    for (int id = 1; id <= 3; id++) {
        CHECK_EQ(cleared[id], 0);
        CHECK_EQ(released[id], 0);
        CHECK_EQ(finalized[id], 0);
    }
    CHECK_EQ(released[4] + released[5], 2);
    CHECK_PTR_EQ(u->ref[1], b);
    CHECK_PTR_EQ(b->ref[0], c);
    CHECK_PTR_EQ(c->ref[1], u);
    om_object *g = om_weakref_get(wu);
    CHECK_PTR_EQ(g, u);
    om_xdecref(g);
    g = om_weakref_get(wb);
    CHECK_PTR_EQ(g, b);
    om_xdecref(g);
    /* held by the garbage list: nothing found again */
    o = collect_checked(2);
    CHECK_OUTCOME(o, 0, 0, 0);
    CHECK_EQ(om_gc_garbage_count(), 1);
    /* released by the list, found again, the same way */
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(gen_of(u), 2);
    o = collect_checked(2);
    CHECK_OUTCOME(o, 3, 0, 3);
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK(in_garbage(u));
    /* broken by hand: everything dies by reference counting */
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(gen_of(u), 2); /* c still holds it */
    o = collect_checked(2); /* no longer its own cycle: collectable */
    CHECK_OUTCOME(o, 3, 3, 0);
    CHECK_EQ(om_gc_garbage_count(), 0);
    for (int id = 1; id <= 3; id++)
        CHECK_EQ(released[id], 1);
    CHECK_EQ(finalized[1], 1); /* once, when it finally died */
    CHECK(om_weakref_get(wu) == NULL);
    CHECK(om_weakref_get(wb) == NULL);
    om_decref(wu);
    om_decref(wb);
    CHECK(strstr(ot_log, "DEAD-REF") == NULL);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* An object without clear that could be freed (its cycle goes through an
 * object with clear) but that an uncollectable one holds: it cannot be
 * freed either, so it is listed too; the object with clear between them
 * is kept intact (not listed). */
static void test_noclear_held_by_uncollectable_is_listed(void)
{
    gc_reset();
    node *u = mk(&nnode_type, 1), *a = mk(&nnode_type, 2), *b = mk(&cnode_type, 3);
    REQUIRE(u != NULL && a != NULL && b != NULL);
    set_ref(u, 0, u);
    set_ref(u, 1, a);
    set_ref(a, 0, b);
    set_ref(b, 0, a);
    om_decref(u);
    om_decref(a);
    om_decref(b);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, 3, 0, 3);
    CHECK_MSG(om_gc_garbage_count() == 2, "%zu on the garbage list, want 2", om_gc_garbage_count());
    CHECK(in_garbage(u));
    CHECK(in_garbage(a));
    CHECK(!in_garbage(b));
    CHECK_EQ(gen_of(b), 2);
    CHECK_EQ(n_cleared, 0);
    CHECK_EQ(n_released, 0);
    /* drop the uncollectable self-cycle: then the rest is freeable */
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 2);
    CHECK_EQ(released[1], 1); /* u died, dropping a */
    o = collect_checked(2);
    CHECK_OUTCOME(o, 2, 2, 0);
    CHECK_EQ(om_gc_garbage_count(), 0);
    CHECK_EQ(n_released, 3);
    CHECK(strstr(ot_log, "DEAD-REF") == NULL);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* Mixed shapes, each checked against what reference counting would free
 * once every object with clear has dropped its references:
 *   - a cycle of two objects without clear (uncollectable), and an object
 *     with clear that refers to them but that they do not reach
 *     (collected: its clear drops its references to them);
 *   - an object without clear that only objects with clear refer to,
 *     hanging off an uncollectable one through one of them (kept: it is
 *     reachable from the uncollectable, so listed). */
static void test_noclear_mixed_shapes(void)
{
    gc_reset();
    node *u1 = mk(&nnode_type, 1), *u2 = mk(&nnode_type, 2), *c = mk(&cnode_type, 3);
    REQUIRE(u1 != NULL && u2 != NULL && c != NULL);
    set_ref(u1, 0, u2);
    set_ref(u2, 0, u1);
    set_ref(c, 0, u1);
    set_ref(c, 1, c);
    om_decref(u1);
    om_decref(u2);
    om_decref(c);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, 3, 1, 2);
    CHECK_EQ(om_gc_garbage_count(), 2);
    CHECK(in_garbage(u1) && in_garbage(u2));
    CHECK_EQ(released[3], 1);
    CHECK_EQ(cleared[3], 1);
    om_clear_ref(&u1->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 2); /* u1 dies (u2 held it), then u2 */
    CHECK_EQ(n_released, 3);

    reset_counters();
    node *u = mk(&nnode_type, 1), *k = mk(&cnode_type, 2), *n = mk(&nnode_type, 3), *k2 = mk(&cnode_type, 4);
    REQUIRE(u != NULL && k != NULL && n != NULL && k2 != NULL);
    set_ref(u, 0, u);
    set_ref(u, 1, k);
    set_ref(k, 0, n);  /* u -> k -> n: n reachable from the uncollectable */
    set_ref(n, 0, k2); /* n -> k2 -> n */
    set_ref(k2, 0, n);
    om_decref(u);
    om_decref(k);
    om_decref(n);
    om_decref(k2);
    o = collect_checked(2);
    CHECK_OUTCOME(o, 4, 0, 4);
    CHECK_EQ(om_gc_garbage_count(), 2);
    CHECK(in_garbage(u) && in_garbage(n));
    CHECK_EQ(n_cleared, 0);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 2);
    CHECK_EQ(released[1], 1);
    o = collect_checked(2);
    CHECK_OUTCOME(o, 2, 2, 0);
    CHECK_EQ(n_released, 4);
    CHECK(strstr(ot_log, "DEAD-REF") == NULL);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* SAVEALL: every unreachable object to the garbage list, nothing cleared;
 * the statistics still say which could not have been freed. */
static void test_saveall_keeps_everything(void)
{
    gc_reset();
    om_gc_set_debug(OM_GC_DEBUG_SAVEALL);
    node *a = mk(&nnode_type, 1), *b = mk(&cnode_type, 2);
    node *u = mk(&nnode_type, 3), *k = mk(&cnode_type, 4);
    REQUIRE(a != NULL && b != NULL && u != NULL && k != NULL);
    set_ref(a, 0, b);
    set_ref(b, 0, a);
    set_ref(u, 0, u);
    set_ref(u, 1, k);
    om_decref(a);
    om_decref(b);
    om_decref(u);
    om_decref(k);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, 4, 2, 2);
    CHECK_EQ(om_gc_garbage_count(), 4);
    CHECK(in_garbage(a) && in_garbage(b) && in_garbage(u) && in_garbage(k));
    CHECK_EQ(n_cleared, 0);
    CHECK_EQ(n_released, 0);
    om_gc_set_debug(0);
    CHECK_EQ(om_gc_garbage_clear(), 4);
    o = collect_checked(2);
    CHECK_OUTCOME(o, 4, 2, 2);
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK(in_garbage(u));
    CHECK_EQ(released[1] + released[2], 2);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(n_released, 4);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

/* Long chains, so that a recursive or quadratic classification shows:
 *   - a ring through one object with clear and n objects without
 *     (every one freed);
 *   - a chain of n objects without clear hanging off an uncollectable
 *     self-cycle (every one listed);
 *   - a chain of n objects without clear in front of (referring to) an
 *     uncollectable self-cycle (every one of the chain freed). */
static void test_noclear_long_chains(void)
{
    const long n = OM_TEST_SCALE(200000);
    gc_reset();
    quiet = 1;
    node *k = mk(&cnode_type, -1), *prev = k;
    REQUIRE(k != NULL);
    for (long i = 0; i < n; i++) {
        node *x = mk(&nnode_type, -1);
        REQUIRE(x != NULL);
        set_ref(prev, 0, x);
        if (prev != k)
            om_decref(prev);
        prev = x;
    }
    set_ref(prev, 0, k);
    om_decref(prev);
    om_decref(k);
    outcome o = collect_checked(2);
    CHECK_OUTCOME(o, n + 1, n + 1, 0);
    CHECK_EQ(om_gc_garbage_count(), 0);
    CHECK_EQ(n_released, (unsigned long)n + 1);

    reset_counters();
    node *u = mk(&nnode_type, -1);
    REQUIRE(u != NULL);
    set_ref(u, 0, u);
    prev = u;
    for (long i = 0; i < n; i++) {
        node *x = mk(&nnode_type, -1);
        REQUIRE(x != NULL);
        set_ref(prev, 1, x);
        om_decref(x);
        prev = x;
    }
    om_decref(u);
    o = collect_checked(2);
    CHECK_OUTCOME(o, n + 1, 0, n + 1);
    CHECK_EQ(om_gc_garbage_count(), (size_t)n + 1);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), (size_t)n + 1);
    CHECK_EQ(n_released, (unsigned long)n + 1);
    CHECK_EQ(om_gc_count_objects(-1), 0);

    reset_counters();
    u = mk(&nnode_type, -1);
    REQUIRE(u != NULL);
    set_ref(u, 0, u);
    node *head = mk(&nnode_type, -1);
    REQUIRE(head != NULL);
    prev = head;
    for (long i = 1; i < n; i++) {
        node *x = mk(&nnode_type, -1);
        REQUIRE(x != NULL);
        set_ref(prev, 0, x);
        om_decref(x);
        prev = x;
    }
    set_ref(prev, 0, u);
    om_decref(u);
    /* head is held from outside until a clear-able cycle holds it */
    node *c = mk(&cnode_type, -1);
    REQUIRE(c != NULL);
    set_ref(c, 0, head);
    set_ref(head, 1, c);
    om_decref(head);
    om_decref(c);
    o = collect_checked(2);
    CHECK_OUTCOME(o, n + 2, n + 1, 1);
    CHECK_EQ(om_gc_garbage_count(), 1);
    CHECK(in_garbage(u));
    CHECK_EQ(n_released, (unsigned long)n + 1);
    om_clear_ref(&u->ref[0]);
    CHECK_EQ(om_gc_garbage_clear(), 1);
    CHECK_EQ(om_gc_count_objects(-1), 0);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_noclear_with_clear_cycle_is_freed),
        CHECK_CASE(test_uncollectable_lists_only_what_cannot_be_freed),
        CHECK_CASE(test_noclear_held_by_uncollectable_is_listed),
        CHECK_CASE(test_noclear_mixed_shapes),
        CHECK_CASE(test_saveall_keeps_everything),
        CHECK_CASE(test_noclear_long_chains),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
