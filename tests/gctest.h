/*
 * gctest.h — the test object types and helpers shared by the cycle
 * collector's tests (test_gc_*.c).  Each test is its own executable, so
 * everything here is static: a file gets its own counters and types.
 *
 *   1. shapes (gt_): the structs the tests build containers from, with the
 *      traverse / clear / refs hooks that only follow references:
 *        gt_node   references a and b, then an id (declared as a run)
 *        gt_snode  a, an id, then b (declared, scattered)
 *        gt_link   one reference and an id
 *        gt_gnode  four reference slots and a weak-reference list
 *        gt_vec    an id, then items that are references
 *        gt_leaf   an id, no references
 *   2. looking at the collector (gt_): in which generation an object is,
 *      on the garbage list, count[0], referrers, block kinds, a visit that
 *      records what it sees; CHECK_COUNT3 and CHECK_COLLECT.
 *   3. logged nodes (gt_; test_gc_{cycles,generations,tracking,api,weakref,
 *      finalize,deep}.c): gnode / fnode / noclear, gt_gnode containers
 *      whose clear, release and finalize log C<id>, R<id>, F<id> to
 *      objtest.h's event log and count per id; box, a non-container
 *      holding one reference; a static container; a callback recorder;
 *      gt_weak_cb (when examples.h is included before this header).
 *   4. side-table types (gs_; test_gc_side_*.c): side-node and its variants
 *      (clear hook, finalizer, free list, weak references, traverse, refs
 *      hook, no clear), side-vec, side-tup, side-leaf, side-ofin and
 *      side-blob, counting releases per type and per id.
 *
 * Types that behave differently keep distinct names (gt_gnode_type logs,
 * gs_node_type counts, test_gc_random.c's rnode_type resurrects): the
 * shapes are shared, the behaviour stays with its test.
 */
#ifndef OM_TEST_GCTEST_H
#define OM_TEST_GCTEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "objmem.h"
#include "check.h"
#include "objtest.h"
#include "testutil.h"

/* A file uses some of these types and variables, never all of them. */
#define GT_UNUSED __attribute__((unused))

/* ================================================================ 1. shapes */

typedef struct gt_node {
    om_object ob;
    om_object *a, *b;
    intptr_t id;
} gt_node;

typedef struct gt_snode {
    om_object ob;
    om_object *a;
    intptr_t id; /* not a reference */
    om_object *b;
} gt_snode;

typedef struct gt_link {
    om_object ob;
    om_object *ref;
    intptr_t id;
} gt_link;

#define GT_NSLOT 4
typedef struct gt_gnode {
    om_object ob;
    om_weakref *weaklist;
    long id;
    int was_cleared; /* test_gc_*: clear has logged once */
    int resurrect;   /* test_gc_random: the finalizer resurrects */
    om_object *ref[GT_NSLOT];
} gt_gnode;

typedef struct gt_vec {
    om_varobject ob;
    intptr_t id;
} gt_vec; /* items follow */

typedef struct gt_leaf {
    om_object ob;
    intptr_t id;
} gt_leaf;

#define GT_A(o) (((gt_node *)(o))->a)
#define GT_B(o) (((gt_node *)(o))->b)
#define GT_NODE_REFS (OM_REF_FIELD(gt_node, a) | OM_REF_FIELD(gt_node, b))
#define GT_SNODE_REFS (OM_REF_FIELD(gt_snode, a) | OM_REF_FIELD(gt_snode, b))

static inline om_object **gt_items(om_object *v)
{
    return (om_object **)((char *)v + sizeof(gt_vec));
}

static inline int gt_node_traverse(om_object *o, om_visit_fn visit, void *arg)
{
    int r;
    if (GT_A(o) && (r = visit(GT_A(o), arg)) != 0)
        return r;
    return GT_B(o) ? visit(GT_B(o), arg) : 0;
}

static inline void gt_node_clear(om_object *o)
{
    om_clear_ref(&GT_A(o));
    om_clear_ref(&GT_B(o));
}

static inline om_refs gt_node_refs(om_object *o)
{
    return (om_refs){ &GT_A(o), 2 };
}

static inline int gt_link_traverse(om_object *o, om_visit_fn visit, void *arg)
{
    gt_link *l = (gt_link *)o;
    return l->ref ? visit(l->ref, arg) : 0;
}

static inline void gt_link_clear(om_object *o)
{
    om_clear_ref(&((gt_link *)o)->ref);
}

static inline int gt_gnode_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    gt_gnode *n = (gt_gnode *)self;
    for (int i = 0; i < GT_NSLOT; i++) {
        if (n->ref[i] != NULL) {
            int r = visit(n->ref[i], arg);
            if (r)
                return r;
        }
    }
    return 0;
}

static inline void gt_gnode_clear_refs(om_object *self)
{
    gt_gnode *n = (gt_gnode *)self;
    for (int i = 0; i < GT_NSLOT; i++)
        om_clear_ref(&n->ref[i]);
}

/* the slots as one array (NULLs allowed): the collector's fast path */
static inline om_refs gt_gnode_refs(om_object *self)
{
    return (om_refs){ ((gt_gnode *)self)->ref, GT_NSLOT };
}

/* hooks for a gt_vec type whose items are not declared (no
 * OM_TYPE_REF_ITEMS): traverse and clear walk them */
static inline int gt_vec_traverse(om_object *o, om_visit_fn visit, void *arg)
{
    om_object **it = gt_items(o);
    for (intptr_t i = 0; i < ((om_varobject *)o)->nitems; i++) {
        if (it[i] != NULL) {
            int r = visit(it[i], arg);
            if (r)
                return r;
        }
    }
    return 0;
}

static inline void gt_vec_clear(om_object *o)
{
    om_object **it = gt_items(o);
    for (intptr_t i = 0; i < ((om_varobject *)o)->nitems; i++)
        om_clear_ref(&it[i]);
}

/* ================================================================ 2. looking */

/* om_gc_collect(gen) must return want; the message says which case. */
#define CHECK_COLLECT(gen, want, fmt, ...)                                                   \
    do {                                                                                     \
        long got_ = om_gc_collect(gen), want_ = (long)(want);                               \
        CHECK_MSG(got_ == want_, "om_gc_collect(%d) = %ld, expected %ld: " fmt, (int)(gen), \
                  got_, want_, __VA_ARGS__);                                                 \
    } while (0)

/* the three counts of om_gc_get_count */
#define CHECK_COUNT3(a, b, c)                        \
    do {                                             \
        long cc_[OM_GC_GENERATIONS];                 \
        om_gc_get_count(cc_);                        \
        CHECK_EQ(cc_[0], (a));                       \
        CHECK_EQ(cc_[1], (b));                       \
        CHECK_EQ(cc_[2], (c));                       \
    } while (0)

/* A visit looking for target: n counts the objects visited, found how
 * often target was among them.  gt_visit_find stops at target;
 * gt_visit_find_all walks on. */
typedef struct gt_find {
    const void *target;
    size_t n;
    int found;
} gt_find;

static inline int gt_visit_find(om_object *o, void *arg)
{
    gt_find *f = arg;
    f->n++;
    if ((const void *)o == f->target) {
        f->found++;
        return 1;
    }
    return 0;
}

static inline int gt_visit_find_all(om_object *o, void *arg)
{
    gt_find *f = arg;
    f->n++;
    if ((const void *)o == f->target)
        f->found++;
    return 0;
}

/* The generation o is tracked in (0..2), or -1 */
static inline int gt_gen_of(const void *o)
{
    for (int g = 0; g < OM_GC_GENERATIONS; g++) {
        gt_find f = { o, 0, 0 };
        om_gc_get_objects(g, gt_visit_find, &f);
        if (f.found)
            return g;
    }
    return -1;
}

/* Is o on generation gen's list?  (Walks the whole list: a damaged list
 * shows here, or as a count that differs from om_gc_count_objects.) */
static inline int gt_in_generation(om_object *o, int gen)
{
    gt_find f = { o, 0, 0 };
    om_gc_get_objects(gen, gt_visit_find_all, &f);
    return f.found && f.n == om_gc_count_objects(gen);
}

static inline int gt_in_garbage(const void *o)
{
    gt_find f = { o, 0, 0 };
    om_gc_garbage_visit(gt_visit_find, &f);
    return f.found;
}

/* how many tracked containers refer to o */
static inline size_t gt_referrers_of(om_object *o)
{
    gt_find f = { NULL, 0, 0 };
    om_gc_get_referrers(o, gt_visit_find_all, &f);
    return f.n;
}

static inline long gt_count0(void)
{
    long c[OM_GC_GENERATIONS];
    om_gc_get_count(c);
    return c[0];
}

/* om_block_describe's kind of the block at p, or -1 */
static inline int gt_block_kind(const void *p)
{
    om_block_info bi;
    return om_block_describe(p, &bi) == 0 ? (int)bi.kind : -1;
}

/* A visit that records the first GT_MAXSEEN objects it sees (n counts all) */
#define GT_MAXSEEN 32
typedef struct gt_seen {
    om_object *o[GT_MAXSEEN];
    int n;
} gt_seen;

static inline int gt_visit_record(om_object *o, void *arg)
{
    gt_seen *s = arg;
    if (s->n < GT_MAXSEEN)
        s->o[s->n] = o;
    s->n++;
    return 0;
}

static inline int gt_seen_count(const gt_seen *s, const void *o)
{
    int c = 0;
    for (int i = 0; i < s->n && i < GT_MAXSEEN; i++)
        c += (const void *)s->o[i] == o;
    return c;
}

/* stops the walk at the second object, returning 42 */
static inline int gt_visit_stop_at_2(om_object *o, void *arg)
{
    (void)o;
    return ++*(int *)arg == 2 ? 42 : 0;
}

/* ================================================================ 3. logged nodes
 * gnode: a gt_gnode container.  clear logs C<id>, release logs R<id> and
 * counts; fnode adds a finalizer (logs F<id>, calls gt_fin_hook); noclear
 * has no clear, so the collector cannot free it. */
#define GT_MAXID 256

static int gt_quiet GT_UNUSED;  /* 1: no event log (big tests) */
static unsigned long gt_n_cleared GT_UNUSED, gt_n_released GT_UNUSED, gt_n_finalized GT_UNUSED;
static int gt_released[GT_MAXID] GT_UNUSED, gt_cleared[GT_MAXID] GT_UNUSED,
    gt_finalized[GT_MAXID] GT_UNUSED;
static void (*gt_fin_hook)(gt_gnode *self) GT_UNUSED;

/* clear may run twice (the collector's, then destruction's once the
 * count reaches zero); it logs and counts the first time only */
static inline void gt_logged_clear(om_object *self)
{
    gt_gnode *n = (gt_gnode *)self;
    if (!n->was_cleared) {
        n->was_cleared = 1;
        gt_n_cleared++;
        if (n->id >= 0 && n->id < GT_MAXID)
            gt_cleared[n->id]++;
        if (!gt_quiet)
            ot_ev("C%ld", n->id);
    }
    gt_gnode_clear_refs(self);
}

static inline void gt_logged_release(om_object *self)
{
    gt_gnode *n = (gt_gnode *)self;
    gt_n_released++;
    if (n->id >= 0 && n->id < GT_MAXID)
        gt_released[n->id]++;
    if (!gt_quiet)
        ot_ev("R%ld", n->id);
}

static inline void gt_logged_finalize(om_object *self)
{
    gt_gnode *n = (gt_gnode *)self;
    gt_n_finalized++;
    if (n->id >= 0 && n->id < GT_MAXID)
        gt_finalized[n->id]++;
    if (!gt_quiet)
        ot_ev("F%ld", n->id);
    if (gt_fin_hook != NULL)
        gt_fin_hook(n);
}

static om_type gt_gnode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "gnode",
    .size = sizeof(gt_gnode),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(gt_gnode, weaklist),
    .traverse = gt_gnode_traverse,
    .clear = gt_logged_clear,
    .release = gt_logged_release,
};

static om_type gt_fnode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "fnode",
    .size = sizeof(gt_gnode),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(gt_gnode, weaklist),
    .traverse = gt_gnode_traverse,
    .clear = gt_logged_clear,
    .finalize = gt_logged_finalize,
    .release = gt_logged_release,
};

static om_type gt_noclear_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "noclear",
    .size = sizeof(gt_gnode),
    .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(gt_gnode, weaklist),
    .traverse = gt_gnode_traverse,
    .release = gt_logged_release,
};

/* box: a gt_link that is not a container (no collector header), but it
 * holds a reference */
static om_type gt_box_type GT_UNUSED = { OM_TYPE_INIT, .name = "box", .size = sizeof(gt_link),
                                         .traverse = gt_link_traverse, .clear = gt_link_clear };

/* A static (immortal) object of a container type has no collector header:
 * the collector must never look before it.  The guard makes "the header"
 * non-zero, as whatever precedes a static object in memory may be. */
static struct {
    uintptr_t guard[2];
    gt_gnode obj;
} gt_static_gc GT_UNUSED = { { ~(uintptr_t)0xf, ~(uintptr_t)0 },
                             { OM_STATIC_OBJECT_INIT(&gt_gnode_type), NULL, 99, 0, 0, { NULL } } };

static inline gt_gnode *gt_mk(om_type *t, long id)
{
    gt_gnode *n = (gt_gnode *)om_new(t);
    if (n != NULL)
        n->id = id;
    return n;
}

/* n->ref[slot] = new reference to target (or NULL); drops the old one */
static inline void gt_set_ref(gt_gnode *n, int slot, void *target)
{
    om_object *old = n->ref[slot];
    n->ref[slot] = target ? om_newref(OM_OBJ(target)) : NULL;
    om_xdecref(old);
}

static inline void gt_reset_counters(void)
{
    memset(gt_released, 0, sizeof gt_released);
    memset(gt_cleared, 0, sizeof gt_cleared);
    memset(gt_finalized, 0, sizeof gt_finalized);
    gt_n_cleared = gt_n_released = gt_n_finalized = 0;
    ot_log_reset();
}

/* A clean collector: defaults, nothing pending, no garbage from earlier
 * cases, counts at zero. */
static inline void gt_reset(void)
{
    gt_fin_hook = NULL;
    gt_quiet = 0;
    om_gc_set_debug(0);
    om_gc_enable();
    om_gc_set_threshold(2000, 10, 10);
    om_gc_unfreeze();
    om_gc_garbage_clear();
    om_gc_collect(2);
    om_gc_collect(2);
    gt_reset_counters();
}

/* a garbage cycle of two gnodes, id and id + 1 */
static inline void gt_garbage_pair(long id)
{
    gt_gnode *a = gt_mk(&gt_gnode_type, id), *b = gt_mk(&gt_gnode_type, id + 1);
    if (a == NULL || b == NULL) {
        CHECK(0);
        return;
    }
    gt_set_ref(a, 0, b);
    gt_set_ref(b, 0, a);
    om_decref(a);
    om_decref(b);
}

/* gc callback recording generations and results */
static int gt_rec_n GT_UNUSED, gt_rec_gen[4096] GT_UNUSED;
static long gt_rec_collected GT_UNUSED, gt_rec_uncollectable GT_UNUSED;
static uint64_t gt_rec_examined GT_UNUSED;

static inline void gt_recorder(om_gc_phase phase, const om_gc_info *info, void *arg)
{
    (void)arg;
    if (phase == OM_GC_START) {
        if (gt_rec_n < (int)(sizeof gt_rec_gen / sizeof gt_rec_gen[0]))
            gt_rec_gen[gt_rec_n] = info->generation;
        gt_rec_n++;
    } else {
        gt_rec_collected = info->collected;
        gt_rec_uncollectable = info->uncollectable;
        gt_rec_examined = info->examined;
    }
}

static inline void gt_recorder_start(void)
{
    gt_rec_n = 0;
    gt_rec_collected = gt_rec_uncollectable = -1;
    CHECK_EQ(om_gc_callback_add(gt_recorder, NULL), 0);
}

static inline void gt_recorder_stop(void)
{
    CHECK_EQ(om_gc_callback_remove(gt_recorder, NULL), 0);
}

#ifdef OBJMEM_EXAMPLES_H
/* a weak-reference callback: counts, notes whether the referent was
 * already gone and how much was cleared before it, logs W<data's int> */
static int gt_wcb_calls GT_UNUSED;
static unsigned long gt_wcb_cleared_before GT_UNUSED;
static int gt_wcb_get_null GT_UNUSED = 1;

static inline void gt_weak_cb(om_weakref *ref, om_object *data)
{
    gt_wcb_calls++;
    om_object *o = om_weakref_get(ref);
    if (o != NULL) {
        gt_wcb_get_null = 0;
        om_decref(o);
    }
    gt_wcb_cleared_before += gt_n_cleared;
    ot_ev("W%d", data ? (int)ex_int_value(data) : -1);
}

static inline void gt_reset_weak(void)
{
    gt_wcb_calls = 0;
    gt_wcb_cleared_before = 0;
    gt_wcb_get_null = 1;
}
#endif

/* ================================================================ 4. side-table types
 * side-node: a gt_node with declared references (the kind delete_fast
 * frees); side-cnode adds a clear hook, side-fnode a finalizer, side-pnode
 * a free list, side-wnode a weak-reference list: each of those needs the
 * ordinary path.  side-tnode and side-rnode have no declarations but a
 * traverse hook (and a refs hook), side-unode no clear (uncollectable).
 * side-vec: a gt_vec of items (OM_TYPE_REF_ITEMS); side-tup the same,
 * immutable.  side-leaf: not a container; side-ofin: not a container, with
 * a finalizer; side-blob: a variable-size byte buffer.  Every release
 * counts per type (gs_freed_n) and per id (gs_freed_id; id 0: not
 * followed), and notes a reference it finds still set (gs_saw_ref). */
typedef struct gs_wnode {
    om_object ob;
    om_object *a, *b; /* where gt_node has them: GT_A() and GT_B() work on both */
    intptr_t id;
    om_weakref *weaklist;
} gs_wnode;

enum {
    GS_T_NODE, GS_T_CNODE, GS_T_FNODE, GS_T_PNODE, GS_T_WNODE, GS_T_TNODE, GS_T_RNODE,
    GS_T_UNODE, GS_T_VEC, GS_T_TUP, GS_T_LEAF, GS_T_OFIN, GS_T_BLOB, GS_T_COUNT
};

#define GS_MAXID 100008
static long gs_freed_n[GS_T_COUNT] GT_UNUSED; /* release calls per type */
static int gs_freed_id[GS_MAXID] GT_UNUSED;   /* release calls per id (id 0: not followed) */
static long gs_saw_ref GT_UNUSED;             /* release hooks that found a reference still set */
static long gs_clear_calls GT_UNUSED, gs_fin_calls GT_UNUSED;
static void (*gs_fin_hook)(om_object *self) GT_UNUSED;     /* what side-fnode's and side-ofin's finalizers do */
static void (*gs_release_hook)(om_object *self) GT_UNUSED; /* what side-node's release does besides counting */

static inline void gs_note(int kind, intptr_t id)
{
    gs_freed_n[kind]++;
    if (id > 0 && id < GS_MAXID)
        gs_freed_id[id]++;
}

static inline void gs_check_fields(om_object *o)
{
    if (GT_A(o) || GT_B(o))
        gs_saw_ref++;
}

static inline void gs_check_items(om_object *o)
{
    om_object **it = gt_items(o);
    for (intptr_t i = 0; i < ((om_varobject *)o)->nitems; i++)
        if (it[i]) {
            gs_saw_ref++;
            return;
        }
}

static inline void gs_node_release(om_object *o)
{
    gs_check_fields(o);
    gs_note(GS_T_NODE, ((gt_node *)o)->id);
    if (gs_release_hook)
        gs_release_hook(o);
}

/* clear hooks count their calls */
static inline void gs_counting_clear(om_object *o)
{
    gs_clear_calls++;
    gt_node_clear(o);
}

static inline void gs_finalize(om_object *o)
{
    gs_fin_calls++;
    if (gs_fin_hook)
        gs_fin_hook(o);
}

static inline void gs_cnode_release(om_object *o)
{
    gs_check_fields(o);
    gs_note(GS_T_CNODE, ((gt_node *)o)->id);
}

static inline void gs_fnode_release(om_object *o)
{
    gs_check_fields(o);
    gs_note(GS_T_FNODE, ((gt_node *)o)->id);
}

static inline void gs_pnode_release(om_object *o)
{
    gs_check_fields(o);
    gs_note(GS_T_PNODE, ((gt_node *)o)->id);
}

static inline void gs_wnode_release(om_object *o)
{
    gs_check_fields(o);
    gs_note(GS_T_WNODE, ((gs_wnode *)o)->id);
}

static inline void gs_tnode_release(om_object *o)
{
    gs_check_fields(o);
    gs_note(GS_T_TNODE, ((gt_node *)o)->id);
}

static inline void gs_rnode_release(om_object *o)
{
    gs_check_fields(o);
    gs_note(GS_T_RNODE, ((gt_node *)o)->id);
}

static inline void gs_unode_release(om_object *o)
{
    gs_note(GS_T_UNODE, ((gt_node *)o)->id);
}

static inline void gs_vec_release(om_object *o)
{
    gs_check_items(o);
    gs_note(GS_T_VEC, ((gt_vec *)o)->id);
}

static inline void gs_tup_release(om_object *o)
{
    gs_check_items(o);
    gs_note(GS_T_TUP, ((gt_vec *)o)->id);
}

static inline void gs_leaf_release(om_object *o)
{
    gs_note(GS_T_LEAF, ((gt_leaf *)o)->id);
}

static inline void gs_ofin_release(om_object *o)
{
    gs_note(GS_T_OFIN, ((gt_leaf *)o)->id);
}

static inline void gs_blob_release(om_object *o)
{
    (void)o;
    gs_note(GS_T_BLOB, 0);
}

static om_type gs_node_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-node", .size = sizeof(gt_node), .flags = OM_TYPE_GC,
    .ref_fields = GT_NODE_REFS, .release = gs_node_release};
static om_type gs_cnode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-cnode", .size = sizeof(gt_node), .flags = OM_TYPE_GC,
    .ref_fields = GT_NODE_REFS, .clear = gs_counting_clear, .release = gs_cnode_release};
static om_type gs_fnode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-fnode", .size = sizeof(gt_node), .flags = OM_TYPE_GC,
    .ref_fields = GT_NODE_REFS, .finalize = gs_finalize, .release = gs_fnode_release};
static om_type gs_pnode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-pnode", .size = sizeof(gt_node), .flags = OM_TYPE_GC,
    .ref_fields = GT_NODE_REFS, .release = gs_pnode_release, .freelist_limit = 16};
static om_type gs_wnode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-wnode", .size = sizeof(gs_wnode), .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(gs_wnode, weaklist),
    .ref_fields = OM_REF_FIELD(gs_wnode, a) | OM_REF_FIELD(gs_wnode, b),
    .release = gs_wnode_release};
/* traverse and clear hooks (no declared references): the collector calls
 * them per reference (visit_count, visit_reachable, visit_clean) */
static om_type gs_tnode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-tnode", .size = sizeof(gt_node), .flags = OM_TYPE_GC,
    .traverse = gt_node_traverse, .clear = gs_counting_clear, .release = gs_tnode_release};
static om_type gs_rnode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-rnode", .size = sizeof(gt_node), .flags = OM_TYPE_GC,
    .traverse = gt_node_traverse, .refs = gt_node_refs, .clear = gs_counting_clear,
    .release = gs_rnode_release};
/* no clear: uncollectable */
static om_type gs_unode_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-unode", .size = sizeof(gt_node), .flags = OM_TYPE_GC,
    .traverse = gt_node_traverse, .release = gs_unode_release};
static om_type gs_vec_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-vec", .size = sizeof(gt_vec), .item_size = sizeof(om_object *),
    .flags = OM_TYPE_GC | OM_TYPE_REF_ITEMS, .release = gs_vec_release};
static om_type gs_tup_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-tup", .size = sizeof(gt_vec), .item_size = sizeof(om_object *),
    .flags = OM_TYPE_GC | OM_TYPE_GC_IMMUTABLE | OM_TYPE_REF_ITEMS, .release = gs_tup_release};
static om_type gs_leaf_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-leaf", .size = sizeof(gt_leaf), .release = gs_leaf_release};
static om_type gs_ofin_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-ofin", .size = sizeof(gt_leaf), .finalize = gs_finalize, .release = gs_ofin_release};
static om_type gs_blob_type GT_UNUSED = {
    OM_TYPE_INIT,
    .name = "side-blob", .size = sizeof(om_varobject), .item_size = 1, .release = gs_blob_release};

/* Static, hence immortal, objects: no side byte, no header. */
static gt_leaf gs_imm_leaf GT_UNUSED = { OM_STATIC_OBJECT_INIT(&gs_leaf_type), 0 };
static gt_node gs_imm_node GT_UNUSED = { OM_STATIC_OBJECT_INIT(&gs_node_type), NULL, NULL, 0 };

static inline om_object *gs_new_node(om_type *t, intptr_t id)
{
    om_object *o = om_new(t);
    NEED(o != NULL);
    ((gt_node *)o)->id = id;
    return o;
}

static inline om_object *gs_new_vec(om_type *t, size_t n, intptr_t id)
{
    om_object *o = om_new_var(t, n);
    NEED(o != NULL);
    ((gt_vec *)o)->id = id;
    return o;
}

static inline om_object *gs_new_leaf(om_type *t, intptr_t id)
{
    om_object *o = om_new(t);
    NEED(o != NULL);
    ((gt_leaf *)o)->id = id;
    return o;
}

/* slot must be empty; it takes a new reference to target */
static inline void gs_set_ref(om_object **slot, om_object *target)
{
    NEED(*slot == NULL);
    *slot = om_newref(target);
}

static inline void gs_reset_counts(void)
{
    memset(gs_freed_n, 0, sizeof gs_freed_n);
    memset(gs_freed_id, 0, sizeof gs_freed_id);
    gs_saw_ref = gs_clear_calls = gs_fin_calls = 0;
    gs_fin_hook = NULL;
    gs_release_hook = NULL;
}

/* A clean start: nothing collectable left, the counters at 0. */
static inline void gs_fresh(void)
{
    om_gc_collect(2);
    gs_reset_counts();
}

static inline long gs_total_freed(void)
{
    long n = 0;
    for (int i = 0; i < GS_T_COUNT; i++)
        n += gs_freed_n[i];
    return n;
}

#endif /* OM_TEST_GCTEST_H */
