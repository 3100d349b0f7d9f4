/*
 * test_gc_side_model.c — the collector's side table, seen from outside:
 * every byte back to 0, checked against a reachability model.
 *
 * The two passes that follow references (src/gc/scan.c) keep a byte per
 * object outside the object (src/gc/side.h, src/gc/side.c): a count of
 * references from the set (at most SIDE_CMAX, the rest in the referent's
 * header), then reached / kept / unreachable marks; every byte must be 0
 * again when a collection ends.  Plain unreachable sets (declared
 * references, no clear, no finalizer, no weak references) are freed by
 * delete_fast (omi_gc_delete_fast, src/gc/unreachable.c) without counting
 * down internal references.  None of that is visible through the API, so
 * these tests check what it must produce.  The types are gctest.h's
 * side-table family (gs_).
 *
 * After collections of every kind (young sets pointing into a big old
 * heap, big sets, fast and ordinary paths, finalizers) the next
 * collections still find exactly what the model says; the model also
 * checks every survivor's reference count and the generation sizes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "testutil.h"
#include "gctest.h"

/* ---- every byte back to 0: against a model -----------------------------
 * Random graphs of nodes (fast, clear hook, finalizer), medium and large
 * vecs, tuples of leaves and leaves, over a big old heap; every round adds
 * a batch (a few objects: a small young set, bytes walked; thousands: the
 * tables zeroed) wired to itself, to old objects, to popular objects (vecs
 * holding one of them up to 20000 times) and to static objects, old
 * objects pointing at the batch, references cleared, references dropped,
 * then a collection of a random generation.  The model says which objects
 * die (the collection's unreachable set, and what reference counting frees
 * after it), the collection's result, every survivor's count and the size
 * of each generation. */
enum { RK_NODE, RK_CNODE, RK_FNODE, RK_TNODE, RK_RNODE, RK_VEC, RK_BIGVEC, RK_TUP, RK_LEAF };
#define RMAX 100000
#define R_NIL (-1)
#define R_IMM_NODE (-2)
#define R_IMM_LEAF (-3)

typedef struct robj {
    om_object *o;
    int *slot; /* target per reference slot: an index, R_NIL or a static object */
    int nslots, kind, alive, tracked, gen, ext, rc;
} robj;

static robj *R;
static int rn, nbigvec;
static int *rstack, *rqueue;
static unsigned char *rin, *rmark;
static int *rset, *rinner;
static size_t rbase[3];
static long rbad;

static int r_is_container(int i) { return R[i].kind != RK_LEAF && R[i].kind != RK_TUP; }

static om_object **r_slot(int i, int k)
{
    om_object *o = R[i].o;
    if (R[i].kind <= RK_RNODE)
        return k ? &GT_B(o) : &GT_A(o);
    return &gt_items(o)[k];
}

static om_object *r_obj(int t)
{
    return t == R_IMM_NODE ? OM_OBJ(&gs_imm_node) : t == R_IMM_LEAF ? OM_OBJ(&gs_imm_leaf) : R[t].o;
}

/* A count fell: what reference counting frees, freed in the model. */
static void r_decrc(int t)
{
    if (!R[t].alive || --R[t].rc > 0)
        return;
    int sp = 0;
    rstack[sp++] = t;
    while (sp) {
        int x = rstack[--sp];
        R[x].alive = 0;
        for (int k = 0; k < R[x].nslots; k++) {
            int s = R[x].slot[k];
            if (s >= 0 && R[s].alive && --R[s].rc == 0)
                rstack[sp++] = s;
        }
    }
}

static void r_set(int i, int k, int t)
{
    gs_set_ref(r_slot(i, k), r_obj(t));
    R[i].slot[k] = t;
    if (t >= 0)
        R[t].rc++;
}

static void r_clear(int i, int k)
{
    int t = R[i].slot[k];
    om_clear_ref(r_slot(i, k));
    R[i].slot[k] = R_NIL;
    if (t >= 0)
        r_decrc(t);
}

static void r_drop(int i)
{
    if (!R[i].alive || R[i].ext == 0)
        return;
    R[i].ext--;
    om_decref(R[i].o);
    r_decrc(i);
}

/* a random live object among [lo, rn) (R_NIL if none found quickly) */
static int r_pick(uint64_t *rng, int lo, int kind)
{
    if (lo >= rn)
        return R_NIL;
    for (int tries = 0; tries < 16; tries++) {
        int i = (int)tu_range(rng, (size_t)lo, (size_t)rn - 1);
        if (R[i].alive && (kind < 0 || R[i].kind == kind))
            return i;
    }
    return R_NIL;
}

static int r_new(uint64_t *rng, int kind)
{
    NEED(rn < RMAX && rn + 1 < GS_MAXID);
    int i = rn++;
    robj *r = &R[i];
    memset(r, 0, sizeof *r);
    intptr_t id = i + 1;
    r->kind = kind;
    r->alive = 1;
    r->ext = 1;
    r->rc = 1;
    r->tracked = kind != RK_LEAF;
    switch (kind) {
    case RK_NODE:
        r->o = gs_new_node(&gs_node_type, id);
        r->nslots = 2;
        break;
    case RK_CNODE:
        r->o = gs_new_node(&gs_cnode_type, id);
        r->nslots = 2;
        break;
    case RK_FNODE:
        r->o = gs_new_node(&gs_fnode_type, id);
        r->nslots = 2;
        break;
    case RK_TNODE:
        r->o = gs_new_node(&gs_tnode_type, id);
        r->nslots = 2;
        break;
    case RK_RNODE:
        r->o = gs_new_node(&gs_rnode_type, id);
        r->nslots = 2;
        break;
    case RK_VEC:
        r->nslots = 100;
        r->o = gs_new_vec(&gs_vec_type, 100, id);
        break;
    case RK_BIGVEC:
        r->nslots = 20000;
        r->o = gs_new_vec(&gs_vec_type, 20000, id);
        nbigvec++;
        break;
    case RK_TUP:
        r->nslots = (int)tu_range(rng, 1, 5);
        r->o = gs_new_vec(&gs_tup_type, (size_t)r->nslots, id);
        break;
    default:
        r->o = gs_new_leaf(&gs_leaf_type, id);
        break;
    }
    if (r->nslots) {
        r->slot = malloc(sizeof(int) * (size_t)r->nslots);
        NEED(r->slot != NULL);
        for (int k = 0; k < r->nslots; k++)
            r->slot[k] = R_NIL;
    }
    if (kind == RK_TUP) /* immutable: every item set now, all atomic */
        for (int k = 0; k < r->nslots; k++) {
            int t = r_pick(rng, rn > 3000 ? rn - 3000 : 0, RK_LEAF);
            r_set(i, k, t >= 0 ? t : R_IMM_LEAF);
        }
    return i;
}

/* The model's collection of generation gen; returns what it finds.  The
 * set S: live tracked objects of generations 0..gen.  An object of S is
 * referred to from outside when its count (the test's references and
 * those of live objects, kept by the model itself) exceeds the references
 * from S; what those reach inside S survives, the rest is found. */
static long r_model_collect(int gen)
{
    int ns = 0, qh = 0, qt = 0;
    for (int i = 0; i < rn; i++) {
        rin[i] = R[i].alive && R[i].tracked && R[i].gen <= gen;
        rmark[i] = 0;
        if (rin[i]) {
            rset[ns++] = i;
            rinner[i] = 0;
        }
    }
    for (int j = 0; j < ns; j++) {
        robj *r = &R[rset[j]];
        for (int k = 0; k < r->nslots; k++)
            if (r->slot[k] >= 0 && rin[r->slot[k]])
                rinner[r->slot[k]]++;
    }
    for (int j = 0; j < ns; j++) {
        int i = rset[j];
        if (R[i].rc > rinner[i]) {
            rmark[i] = 1;
            rqueue[qt++] = i;
        }
    }
    while (qh < qt) {
        int i = rqueue[qh++];
        for (int k = 0; k < R[i].nslots; k++) {
            int t = R[i].slot[k];
            if (t >= 0 && rin[t] && !rmark[t]) {
                rmark[t] = 1;
                rqueue[qt++] = t;
            }
        }
    }
    long found = 0;
    for (int j = 0; j < ns; j++)
        if (!rmark[rset[j]]) {
            R[rset[j]].alive = 0;
            found++;
        }
    /* what only the found objects held dies with them */
    for (int j = 0; j < ns; j++) {
        int i = rset[j];
        if (!rmark[i])
            for (int k = 0; k < R[i].nslots; k++) {
                int t = R[i].slot[k];
                if (t >= 0 && R[t].alive)
                    r_decrc(t);
            }
    }
    for (int j = 0; j < ns; j++) {
        int i = rset[j];
        if (rmark[i] && R[i].gen < 2)
            R[i].gen = gen + 1 < 2 ? gen + 1 : 2;
    }
    return found;
}

/* Freed exactly what the model says; deep: also every survivor's count,
 * and (gens) the size of each generation. */
static void r_verify(const char *what, int round, int deep, int gens)
{
    int bad = 0;
    size_t per_gen[3] = {0, 0, 0};
    for (int i = 0; i < rn; i++) {
        int want = !R[i].alive;
        if (gs_freed_id[i + 1] != want) {
            if (bad++ < 5)
                fprintf(stderr, "round %d (%s): object %d (kind %d, gen %d) freed %d times, model says %d\n",
                        round, what, i, R[i].kind, R[i].gen, gs_freed_id[i + 1], want);
            continue;
        }
        if (!R[i].alive || !deep)
            continue;
        if (R[i].o->refcount != R[i].rc && bad++ < 5)
            fprintf(stderr, "round %d (%s): object %d (kind %d) count %ld, model says %d\n", round, what, i,
                    R[i].kind, (long)R[i].o->refcount, R[i].rc);
        if (R[i].tracked)
            per_gen[R[i].gen]++;
    }
    for (int g = 0; g < 3 && gens; g++)
        if (om_gc_count_objects(g) != rbase[g] + per_gen[g] && bad++ < 5)
            fprintf(stderr, "round %d (%s): generation %d has %zu objects, model says %zu\n", round, what, g,
                    om_gc_count_objects(g), rbase[g] + per_gen[g]);
    CHECK_EQ(bad, 0);
    rbad += bad;
}

static void r_collect(int gen, int round)
{
    /* tuples the collector may stop tracking: those in the set */
    long want = r_model_collect(gen);
    long got = om_gc_collect(gen);
    CHECK_MSG(got == want, "round %d: om_gc_collect(%d) = %ld, model %ld", round, gen, got, want);
    rbad += got != want;
    for (int i = 0; i < rn; i++) {
        if (!R[i].alive || R[i].kind != RK_TUP || !R[i].tracked)
            continue;
        if (!om_gc_is_tracked(R[i].o)) {
            /* only a tuple the collection kept may be untracked by it */
            CHECK(rin[i] && rmark[i]);
            R[i].tracked = 0;
        }
    }
    char what[32];
    snprintf(what, sizeof what, "collect(%d)", gen);
    r_verify(what, round, 1, round % 4 == 0 || round < 0);
}

static int r_kind(uint64_t *rng, int plain)
{
    unsigned w = (unsigned)tu_range(rng, 0, 999);
    if (w == 999 && nbigvec < 4)
        return RK_BIGVEC;
    w %= 100;
    if (plain) /* only what delete_fast takes */
        return w < 55 ? RK_NODE : w < 65 ? RK_VEC : w < 80 ? RK_TUP : RK_LEAF;
    return w < 36   ? RK_NODE
           : w < 42 ? RK_CNODE
           : w < 46 ? RK_FNODE
           : w < 50 ? RK_TNODE
           : w < 54 ? RK_RNODE
           : w < 63 ? RK_VEC
           : w < 74 ? RK_TUP
                    : RK_LEAF;
}

static void r_round(uint64_t *rng, int round, int nb, int plain, int gen)
{
    int first = rn;
    if (rn + nb + 8 > RMAX)
        nb = RMAX - rn - 8;
    int pop[3];
    for (int j = 0; j < 3; j++)
        pop[j] = r_pick(rng, 0, -1);
    for (int b = 0; b < nb; b++)
        r_new(rng, r_kind(rng, plain));
    for (int i = first; i < rn; i++) {
        if (!r_is_container(i))
            continue;
        int nfill = R[i].kind == RK_VEC      ? (int)tu_range(rng, 0, 100)
                    : R[i].kind == RK_BIGVEC ? (int)tu_range(rng, 300, (size_t)OM_TEST_SCALE(20000))
                                             : 2;
        int same = R[i].kind == RK_BIGVEC || (R[i].kind == RK_VEC && tu_range(rng, 0, 99) < 30);
        int same_t = pop[tu_range(rng, 0, 2)];
        for (int k = 0; k < nfill && k < R[i].nslots; k++) {
            int t;
            if (same && same_t >= 0 && tu_range(rng, 0, 99) < 95) {
                t = same_t;
            } else {
                unsigned r = (unsigned)tu_range(rng, 0, 99);
                if (R[i].nslots == 2 && r >= 85)
                    continue; /* a node's slot left empty */
                t = r < 45   ? r_pick(rng, first, -1)
                    : r < 65 ? r_pick(rng, 0, -1)
                    : r < 78 ? pop[r % 3]
                    : r < 80 ? (r & 1 ? R_IMM_NODE : R_IMM_LEAF)
                             : i;
            }
            if (t != R_NIL)
                r_set(i, k, t);
        }
    }
    /* old objects pointing at the batch */
    int nold = (int)tu_range(rng, 0, 6);
    for (int j = 0; j < nold && first > 0; j++) {
        int o = r_pick(rng, 0, -1);
        if (o < 0 || o >= first || !r_is_container(o))
            continue;
        int k = (int)tu_range(rng, 0, (size_t)R[o].nslots - 1);
        int t = r_pick(rng, first, -1);
        if (R[o].slot[k] == R_NIL && t >= 0)
            r_set(o, k, t);
    }
    /* references cleared anywhere */
    int nclr = (int)tu_range(rng, 0, 8);
    for (int j = 0; j < nclr; j++) {
        int o = r_pick(rng, 0, -1);
        if (o < 0 || !r_is_container(o))
            continue;
        int k = (int)tu_range(rng, 0, (size_t)R[o].nslots - 1);
        if (R[o].slot[k] != R_NIL)
            r_clear(o, k);
    }
    /* references the test held */
    for (int i = first; i < rn; i++)
        if (tu_range(rng, 0, 99) < 80)
            r_drop(i);
    int ndrop = (int)tu_range(rng, 0, 12);
    for (int j = 0; j < ndrop; j++) {
        int o = r_pick(rng, 0, -1);
        if (o >= 0 && o < first)
            r_drop(o);
    }
    r_verify("built", round, 0, 0);
    r_collect(gen, round);
}

static void test_side_clean_random(void)
{
    gs_fresh();
    R = calloc(RMAX, sizeof *R);
    rstack = malloc(sizeof(int) * RMAX);
    rqueue = malloc(sizeof(int) * RMAX);
    rin = malloc(RMAX);
    rmark = malloc(RMAX);
    rset = malloc(sizeof(int) * RMAX);
    rinner = malloc(sizeof(int) * RMAX);
    NEED(R && rstack && rqueue && rin && rmark && rset && rinner);
    rn = nbigvec = 0;
    rbad = 0;
    for (int g = 0; g < 3; g++)
        rbase[g] = om_gc_count_objects(g);
    uint64_t rng = 0x5eed51deULL;
    int rounds = OM_TEST_SANITIZED ? 80 : 120;
    /* the old heap: a full collection of a big first batch */
    r_round(&rng, -1, OM_TEST_SANITIZED ? 10000 : 24000, 1, 2);
    for (int round = 0; round < rounds && !rbad; round++) {
        unsigned w = (unsigned)tu_range(&rng, 0, 99);
        int nb = w < 75 ? (int)tu_range(&rng, 2, 80) : (int)tu_range(&rng, 500, OM_TEST_SANITIZED ? 2000 : 2500);
        int plain = tu_range(&rng, 0, 99) < 35;
        unsigned gw = (unsigned)tu_range(&rng, 0, 99);
        int gen = gw < 65 ? 0 : gw < 85 ? 1 : 2;
        r_round(&rng, round, nb, plain, gen);
        if (rn > RMAX - 6000)
            break;
    }
    /* everything dropped: one full collection frees the rest */
    for (int i = 0; i < rn; i++)
        while (R[i].alive && R[i].ext > 0)
            r_drop(i);
    r_collect(2, -2);
    for (int i = 0; i < rn; i++) {
        CHECK(!R[i].alive);
        free(R[i].slot);
    }
    CHECK_EQ(gs_saw_ref, 0);
    CHECK_EQ(om_heap_check(1), 0);
    free(R);
    free(rstack);
    free(rqueue);
    free(rin);
    free(rmark);
    free(rset);
    free(rinner);
    R = NULL;
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_side_clean_random),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
