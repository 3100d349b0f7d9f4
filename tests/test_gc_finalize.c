/*
 * test_gc_finalize.c — finalizers in collections (PEP 442; objmem.h §8,
 * §11): they run once ever, all of them before any clear, on intact
 * objects; they resurrect themselves or a part of the garbage (not counted
 * as collected), create new cycles, break their own cycle; om_gc_collect
 * inside a finalizer or a weak-reference callback is EBUSY; a collection
 * started from inside the destruction loop (a release hook), also when a
 * finalizer breaks the cycle there or a member has a weak reference with a
 * callback.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "examples.h"
#include "check.h"
#include "objtest.h"
#include "gctest.h"

/* ------------------------------------------------------------ finalizers */

static om_object *holder[8];
static long resurrect_id = -1, resurrect_other_slot = -1;
static void fin_resurrect(gt_gnode *self)
{
    if (self->id == resurrect_id) {
        if (resurrect_other_slot >= 0)
            holder[0] = om_newref(self->ref[resurrect_other_slot]);
        else
            holder[0] = om_newref(OM_OBJ(self));
    }
}

static void test_finalizer_resurrects(void)
{
    gt_reset();
    resurrect_id = 1;
    resurrect_other_slot = -1;
    gt_fin_hook = fin_resurrect;
    gt_gnode *a = gt_mk(&gt_fnode_type, 1), *b = gt_mk(&gt_fnode_type, 2);
    REQUIRE(a != NULL && b != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_weakref *w = om_weakref_new(OM_OBJ(a), NULL, NULL);
    REQUIRE(w != NULL);
    CHECK_EQ(om_gc_is_finalized(OM_OBJ(a)), 0);
    om_decref(a);
    om_decref(b);
    /* found unreachable, then resurrected: as CPython's gc.collect(), the
     * resurrected are not counted */
    CHECK_EQ(om_gc_collect(0), 0);
    CHECK_EQ(gt_finalized[1], 1);
    CHECK_EQ(gt_finalized[2], 1);      /* every finalizer ran before any check */
    CHECK_EQ(gt_n_cleared, 0);
    CHECK_EQ(gt_n_released, 0);
    CHECK_PTR_EQ(holder[0], a);
    CHECK_PTR_EQ(a->ref[0], b);     /* intact, and b with it */
    CHECK_PTR_EQ(b->ref[0], a);
    CHECK_EQ(a->ob.refcount, 2);
    CHECK_EQ(b->ob.refcount, 1);
    CHECK(om_weakref_get(w) == NULL); /* cleared before the finalizers ran */
    CHECK_EQ(om_gc_is_finalized(OM_OBJ(a)), 1);
    CHECK_EQ(om_gc_is_finalized(OM_OBJ(b)), 1);
    CHECK_EQ(gt_gen_of(a), 1); /* survivors of a young collection are older */
    CHECK_EQ(gt_gen_of(b), 1);
    CHECK(om_gc_is_tracked(OM_OBJ(a)));
    om_decref(w);

    /* garbage again: finalizers never run twice (PEP 442) */
    om_clear_ref(&holder[0]);
    CHECK_EQ(gt_n_released, 0);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_finalized[1], 1);
    CHECK_EQ(gt_finalized[2], 1);
    CHECK_EQ(gt_released[1], 1);
    CHECK_EQ(gt_released[2], 1);
    CHECK(holder[0] == NULL);
    resurrect_id = -1;
}

/* the finalizer of a stores a reference to c, which only garbage reached:
 * c and what it reaches survive, the rest is freed */
static void test_finalizer_resurrects_part(void)
{
    gt_reset();
    resurrect_id = 1;
    resurrect_other_slot = 1;
    gt_fin_hook = fin_resurrect;
    gt_gnode *a = gt_mk(&gt_fnode_type, 1), *b = gt_mk(&gt_fnode_type, 2), *c = gt_mk(&gt_gnode_type, 3),
          *d = gt_mk(&gt_gnode_type, 4);
    REQUIRE(a != NULL && b != NULL && c != NULL && d != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    gt_set_ref(a, 1, c); /* a -> c -> d -> c */
    gt_set_ref(c, 0, d);
    gt_set_ref(d, 0, c);
    om_decref(a);
    om_decref(b);
    om_decref(c);
    om_decref(d);
    CHECK_EQ(om_gc_collect(2), 2); /* a, b; c and d were resurrected */
    CHECK_PTR_EQ(holder[0], c);
    CHECK_EQ(gt_released[1] + gt_released[2], 2);
    CHECK_EQ(gt_released[3] + gt_released[4], 0);
    CHECK_EQ(gt_cleared[3] + gt_cleared[4], 0);
    CHECK_PTR_EQ(c->ref[0], d);
    CHECK_PTR_EQ(d->ref[0], c);
    CHECK_EQ(c->ob.refcount, 2); /* holder and d */
    CHECK_EQ(gt_gen_of(c), 2);
    CHECK_EQ(gt_gen_of(d), 2);
    om_clear_ref(&holder[0]);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(gt_released[3] + gt_released[4], 2);
    resurrect_id = resurrect_other_slot = -1;
}

/* all finalizers run before any clear, on intact objects */
static int fin_bad;
static void fin_check_intact(gt_gnode *self)
{
    if (gt_n_cleared != 0)
        fin_bad++;
    gt_gnode *next = (gt_gnode *)self->ref[0];
    if (next == NULL || next->ob.refcount <= 0 || next->ref[0] == NULL)
        fin_bad++;
    om_object *s = self->ref[1];
    char want[32];
    snprintf(want, sizeof want, "s%ld", self->id);
    if (s == NULL || s->refcount <= 0 || strcmp(ex_str_data(s), want) != 0)
        fin_bad++;
}

static void test_finalizers_see_intact_objects(void)
{
    gt_reset();
    gt_fin_hook = fin_check_intact;
    fin_bad = 0;
    enum { N = 8 };
    gt_gnode *n[N];
    for (int i = 0; i < N; i++) {
        n[i] = gt_mk(&gt_fnode_type, i);
        REQUIRE(n[i] != NULL);
        char s[32];
        snprintf(s, sizeof s, "s%d", i);
        n[i]->ref[1] = ex_str_from(s);
        REQUIRE(n[i]->ref[1] != NULL);
    }
    for (int i = 0; i < N; i++)
        gt_set_ref(n[i], 0, n[(i + 1) % N]);
    for (int i = 0; i < N; i++)
        om_decref(n[i]);
    CHECK_EQ(om_gc_collect(2), N);
    CHECK_EQ(fin_bad, 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(gt_finalized[i], 1);
        CHECK_EQ(gt_released[i], 1);
    }
}

/* a finalizer that makes a new cycle: the new objects are young, alive,
 * and found by the next collection */
static void fin_new_cycle(gt_gnode *self)
{
    (void)self;
    gt_gnode *x = gt_mk(&gt_gnode_type, 100), *y = gt_mk(&gt_gnode_type, 101);
    if (x == NULL || y == NULL)
        return;
    gt_set_ref(x, 0, y);
    gt_set_ref(y, 0, x);
    om_decref(x);
    om_decref(y);
}

/* a finalizer that makes a new self-cycle referring to the finalized
 * object: resurrection through new objects */
static void fin_new_cycle_to_self(gt_gnode *self)
{
    gt_gnode *x = gt_mk(&gt_gnode_type, 102);
    if (x == NULL)
        return;
    gt_set_ref(x, 0, x);
    gt_set_ref(x, 1, self);
    om_decref(x);
}

static void test_finalizer_creates_cycle(void)
{
    gt_reset();
    gt_fin_hook = fin_new_cycle;
    gt_gnode *a = gt_mk(&gt_fnode_type, 1);
    REQUIRE(a != NULL);
    gt_set_ref(a, 0, a);
    om_decref(a);
    CHECK_EQ(om_gc_collect(2), 1);
    CHECK_EQ(gt_finalized[1], 1);
    CHECK_EQ(gt_released[1], 1);
    CHECK_EQ(gt_released[100] + gt_released[101], 0);
    CHECK_EQ(om_gc_count_objects(0), 2);
    CHECK_EQ(om_gc_collect(0), 2);
    CHECK_EQ(gt_released[100] + gt_released[101], 2);

    gt_reset_counters();
    gt_fin_hook = fin_new_cycle_to_self;
    gt_gnode *b = gt_mk(&gt_fnode_type, 2);
    REQUIRE(b != NULL);
    gt_set_ref(b, 0, b);
    om_decref(b);
    CHECK_EQ(om_gc_collect(2), 0); /* resurrected by the new object */
    CHECK_EQ(gt_finalized[2], 1);
    CHECK_EQ(gt_released[2], 0); /* the new object refers to it */
    CHECK_EQ(gt_cleared[2], 0);
    CHECK_EQ(gt_released[102], 0);
    CHECK_EQ(om_gc_collect(2), 2); /* both garbage now; no second finalizer */
    CHECK_EQ(gt_finalized[2], 1);
    CHECK_EQ(gt_released[2], 1);
    CHECK_EQ(gt_released[102], 1);
}

/* a finalizer that breaks its own cycle: part of the garbage dies by
 * reference counting in the middle of the collection */
static void fin_break(gt_gnode *self)
{
    if (self->id == 1)
        om_clear_ref(&self->ref[0]);
}

static void test_finalizer_breaks_cycle(void)
{
    gt_reset();
    gt_fin_hook = fin_break;
    for (int order = 0; order < 2; order++) {
        gt_reset_counters();
        gt_gnode *n[4];
        for (int i = 0; i < 4; i++) {
            /* order 1: the breaker is created last */
            n[i] = gt_mk(&gt_fnode_type, order ? 4 - i : i + 1);
            REQUIRE(n[i] != NULL);
        }
        for (int i = 0; i < 4; i++)
            gt_set_ref(n[i], 0, n[(i + 1) % 4]);
        for (int i = 0; i < 4; i++)
            om_decref(n[i]);
        CHECK_EQ(om_gc_collect(2), 4);
        for (int i = 1; i <= 4; i++) {
            CHECK_EQ(gt_finalized[i], 1);
            CHECK_EQ(gt_released[i], 1);
        }
        CHECK_EQ(om_gc_collect(2), 0);
    }
}

static long fin_collect_ret = 1, fin_poll_ret = -5;
static int fin_collect_errno;
static void fin_collect(gt_gnode *self)
{
    (void)self;
    errno = 0;
    fin_collect_ret = om_gc_collect(0);
    fin_collect_errno = errno;
    fin_poll_ret = om_gc_poll();
}

static long wcb_collect_ret = 1;
static int wcb_collect_errno;
static void weak_collect_cb(om_weakref *ref, om_object *data)
{
    (void)ref, (void)data;
    errno = 0;
    wcb_collect_ret = om_gc_collect(2);
    wcb_collect_errno = errno;
}

static void test_collect_inside_collection(void)
{
    gt_reset();
    gt_fin_hook = fin_collect;
    om_gc_set_threshold(1, 10, 10); /* a poll would be due */
    gt_gnode *a = gt_mk(&gt_fnode_type, 1), *b = gt_mk(&gt_fnode_type, 2);
    REQUIRE(a != NULL && b != NULL);
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_weakref *w = om_weakref_new(OM_OBJ(a), weak_collect_cb, NULL);
    REQUIRE(w != NULL);
    om_decref(a);
    om_decref(b);
    CHECK_EQ(om_gc_collect(2), 2);
    CHECK_EQ(fin_collect_ret, -1);
    CHECK_EQ(fin_collect_errno, EBUSY);
    CHECK_EQ(fin_poll_ret, 0);
    CHECK_EQ(wcb_collect_ret, -1);
    CHECK_EQ(wcb_collect_errno, EBUSY);
    CHECK_EQ(gt_released[1] + gt_released[2], 2);
    om_decref(w);
    /* and after it, collections work again */
    CHECK_EQ(om_gc_collect(2), 0);
    gt_reset();
}

/* a collection started from inside the destruction loop (a release hook
 * of an object dying by reference counting) */
static long release_collect_ret = -7;
static void trigger_release(om_object *self)
{
    (void)self;
    release_collect_ret = om_gc_collect(2);
}
static om_type trigger_type = { OM_TYPE_INIT, .name = "trigger", .size = sizeof(gt_link), .release = trigger_release };

static void test_collect_during_destruction(void)
{
    /* variant 0: plain; 1: the finalizer breaks the cycle (a member dies
     * inside the nested collection, its destruction deferred to the
     * loop); 2: a weak reference with a callback to a member */
    for (int variant = 0; variant < 3; variant++) {
        gt_reset();
        gt_reset_weak();
        gt_fin_hook = variant == 1 ? fin_break : NULL;
        gt_gnode *a = gt_mk(&gt_fnode_type, 1), *b = gt_mk(&gt_gnode_type, 2), *c = gt_mk(&gt_gnode_type, 3);
        REQUIRE(a != NULL && b != NULL && c != NULL);
        gt_set_ref(a, 0, b);
        gt_set_ref(b, 0, c);
        gt_set_ref(c, 0, a);
        om_weakref *w = NULL;
        if (variant == 2) {
            om_object *d = ex_int_new(6);
            REQUIRE(d != NULL);
            w = om_weakref_new(OM_OBJ(b), gt_weak_cb, d);
            REQUIRE(w != NULL);
            om_decref(d);
        }
        om_decref(a);
        om_decref(b);
        om_decref(c);
        /* holder (box) -> trigger: dropping the box destroys the trigger
         * in the same loop, whose release collects */
        gt_link *bx = (gt_link *)om_new(&gt_box_type);
        om_object *tr = om_new(&trigger_type);
        REQUIRE(bx != NULL && tr != NULL);
        bx->ref = tr;
        release_collect_ret = -7;
        om_decref(bx);
        /* variant 1: a's finalizer drops b, which then waits in the loop
         * holding c: c and a are no longer unreachable (resurrected, in
         * CPython's count), and die by reference counting afterwards */
        CHECK_EQ(release_collect_ret, variant == 1 ? 1 : 3);
        CHECK_EQ(gt_finalized[1], 1);
        CHECK_EQ(gt_released[1], 1);
        CHECK_EQ(gt_released[2], 1);
        CHECK_EQ(gt_released[3], 1);
        CHECK_EQ(om_gc_count_objects(-1), variant == 2 ? 1 : 0); /* w */
        CHECK_EQ(om_gc_collect(2), 0);
        CHECK_EQ(gt_count0(), 0);
        if (w != NULL) {
            CHECK_EQ(gt_wcb_calls, 1);
            CHECK(om_weakref_get(w) == NULL);
            om_decref(w);
        }
    }
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_finalizer_resurrects),
        CHECK_CASE(test_finalizer_resurrects_part),
        CHECK_CASE(test_finalizers_see_intact_objects),
        CHECK_CASE(test_finalizer_creates_cycle),
        CHECK_CASE(test_finalizer_breaks_cycle),
        CHECK_CASE(test_collect_inside_collection),
        CHECK_CASE(test_collect_during_destruction),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
