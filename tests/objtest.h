/*
 * objtest.h — helpers shared by the object-layer tests (test_objects*.c,
 * test_freelist.c, test_weakref*.c, test_lock.c, test_object_debug.c,
 * test_object_oom.c) and, through gctest.h, the collector's: an event log
 * that destruction hooks and weak-reference callbacks append to (compared
 * as a string, so a failure prints the whole order), per-type statistics
 * snapshots, a runner for code that must work on a thread with a small
 * stack, the tag data object, and the object types that the split tests
 * share: probe, plain and node (test_objects*.c), target, noweak and the
 * ot_log_cb callback (test_weakref*.c).  Everything is static (inline or
 * unused): each test is its own executable.
 */
#ifndef OM_TEST_OBJTEST_H
#define OM_TEST_OBJTEST_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "objmem.h"
#include "check.h"

/* ---- event log: space-separated tokens such as "F1 W11 W10 C1 R1" */
static char ot_log[16384];

static inline void ot_log_reset(void)
{
    ot_log[0] = '\0';
}

__attribute__((format(printf, 1, 2))) static inline void ot_ev(const char *fmt, ...)
{
    size_t n = strlen(ot_log);
    if (n + 2 >= sizeof ot_log)
        return;
    if (n > 0)
        ot_log[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ot_log + n, sizeof ot_log - n, fmt, ap);
    va_end(ap);
}

#define CHECK_LOG(want) \
    CHECK_MSG(strcmp(ot_log, (want)) == 0, "event log \"%s\", want \"%s\"", ot_log, (want))

/* Position of token tok in the log (as a whole word), or -1; *count gets
 * how many times it occurs. */
static inline int ot_log_find(const char *tok, int *count)
{
    int pos = -1, idx = 0, n = 0;
    size_t tl = strlen(tok);
    const char *s = ot_log;
    while (*s) {
        size_t wl = strcspn(s, " ");
        if (wl == tl && strncmp(s, tok, tl) == 0) {
            if (pos < 0)
                pos = idx;
            n++;
        }
        idx++;
        s += wl;
        while (*s == ' ')
            s++;
    }
    if (count)
        *count = n;
    return pos;
}

/* Each of the NULL-terminated tokens occurs exactly once, in this order
 * (other tokens may come between them). */
static inline int ot_log_subseq(const char *const *toks)
{
    int last = -1;
    for (size_t i = 0; toks[i] != NULL; i++) {
        int n;
        int p = ot_log_find(toks[i], &n);
        if (n != 1 || p <= last)
            return 0;
        last = p;
    }
    return 1;
}

#define CHECK_LOG_SUBSEQ(...)                                                          \
    do {                                                                               \
        static const char *const ot_toks_[] = { __VA_ARGS__, NULL };                   \
        CHECK_MSG(ot_log_subseq(ot_toks_), "event log \"%s\" lacks, in order, " #__VA_ARGS__, \
                  ot_log);                                                             \
    } while (0)

/* ---- per-type statistics */
static inline om_type_stats ot_stats(const om_type *t)
{
    om_type_stats s;
    memset(&s, 0xa5, sizeof s);
    om_type_get_stats(t, &s);
    return s;
}

static inline uint64_t ot_live(const om_type *t)
{
    return ot_stats(t).live;
}

static inline uint64_t ot_bytes_in_use(void)
{
    om_stats s;
    om_stats_get(&s);
    return s.bytes_in_use;
}

/* ---- run fn(arg) on a thread with a stack of stack_bytes; 0 or an errno */
static inline int ot_run_on_stack(void *(*fn)(void *), void *arg, size_t stack_bytes)
{
    pthread_attr_t a;
    pthread_t t;
    int rc = pthread_attr_init(&a);
    if (rc != 0)
        return rc;
    rc = pthread_attr_setstacksize(&a, stack_bytes);
    if (rc == 0)
        rc = pthread_create(&t, &a, fn, arg);
    pthread_attr_destroy(&a);
    if (rc == 0)
        rc = pthread_join(t, NULL);
    return rc;
}

/* tag: a data object for weak-reference callbacks; logs t<id> at release */
typedef struct ot_tag { om_object ob; int id; } ot_tag;
static inline void ot_tag_release(om_object *self) { ot_ev("t%d", ((ot_tag *)self)->id); }
__attribute__((unused)) static om_type ot_tag_type = { OM_TYPE_INIT, .name = "tag", .size = sizeof(ot_tag),
                                                       .release = ot_tag_release };

static inline om_object *ot_new_tag(int id)
{
    ot_tag *t = (ot_tag *)om_new(&ot_tag_type);
    if (t != NULL)
        t->id = id;
    return OM_OBJ(t);
}

/* ---- object types shared by the split object-layer tests.  Each test is
 * its own executable: these are static, a file gets its own copies.  Their
 * names in objmem's registry ("probe", "plain", ...) are the originals'. */

/* probe (test_objects.c, test_objects_chain.c): logs F<id> (finalize),
 * C<id> (clear), R<id> (release); finalize counts calls per id, records
 * whether *ot_watched_slot was already NULL, and resurrects the object
 * whose id is ot_resurrect_id by storing a reference in ot_saved. */
typedef struct ot_probe {
    om_object ob;
    om_object *ref;          /* strong reference, dropped by clear */
    om_weakref *weaklist;
    int id;
    unsigned char body[44];
} ot_probe;

__attribute__((unused)) static int ot_resurrect_id = -1;
__attribute__((unused)) static om_object *ot_saved;
__attribute__((unused)) static int ot_finalize_calls[64];
__attribute__((unused)) static om_object **ot_watched_slot;
__attribute__((unused)) static int ot_watched_was_null = -1;

static inline void ot_probe_finalize(om_object *self)
{
    ot_probe *p = (ot_probe *)self;
    ot_ev("F%d", p->id);
    if (p->id >= 0 && p->id < 64)
        ot_finalize_calls[p->id]++;
    if (ot_watched_slot != NULL)
        ot_watched_was_null = *ot_watched_slot == NULL;
    if (p->id == ot_resurrect_id)
        ot_saved = om_newref(self);
}

static inline void ot_probe_clear(om_object *self)
{
    ot_probe *p = (ot_probe *)self;
    ot_ev("C%d", p->id);
    om_clear_ref(&p->ref);
}

static inline void ot_probe_release(om_object *self)
{
    ot_ev("R%d", ((ot_probe *)self)->id);
}

static inline int ot_probe_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    ot_probe *p = (ot_probe *)self;
    return p->ref ? visit(p->ref, arg) : 0;
}

__attribute__((unused)) static om_type ot_probe_type = {
    OM_TYPE_INIT,
    .name = "probe",
    .size = sizeof(ot_probe),
    .weaklist_offset = offsetof(ot_probe, weaklist),
    .traverse = ot_probe_traverse,
    .clear = ot_probe_clear,
    .finalize = ot_probe_finalize,
    .release = ot_probe_release,
};

static inline ot_probe *ot_new_probe(int id)
{
    ot_probe *p = (ot_probe *)om_new(&ot_probe_type);
    if (p != NULL)
        p->id = id;
    return p;
}

/* plain (test_objects.c, test_objects_var.c): no methods, no collector
 * header */
typedef struct ot_plain { om_object ob; unsigned char body[112]; } ot_plain;
__attribute__((unused)) static om_type ot_plain_type = { OM_TYPE_INIT, .name = "plain", .size = sizeof(ot_plain) };

/* node (test_objects.c, test_objects_chain.c): one reference, next */
typedef struct ot_node { om_object ob; om_object *next; } ot_node;
static inline void ot_node_clear(om_object *self) { om_clear_ref(&((ot_node *)self)->next); }
static inline int ot_node_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    ot_node *n = (ot_node *)self;
    return n->next ? visit(n->next, arg) : 0;
}
__attribute__((unused)) static om_type ot_node_type = { OM_TYPE_INIT, .name = "node", .size = sizeof(ot_node),
                                                        .traverse = ot_node_traverse,
                                                        .clear = ot_node_clear };

/* target (test_weakref.c, test_weakref_callback.c): weakly referenceable,
 * logs C<id> at clear (which drops ref) and R<id> at release; release asks
 * for a weak reference to the dead object when ot_try_new_on_dead is set
 * and keeps the result and errno.  ot_gctarget_type is the same with a
 * collector header before the object. */
typedef struct ot_target {
    om_object ob;
    om_weakref *weaklist;
    int id;
    om_object *ref;          /* strong reference, dropped by clear */
} ot_target;

__attribute__((unused)) static om_weakref *ot_dead_new_result = (om_weakref *)1;
__attribute__((unused)) static int ot_dead_new_errno = -1;
__attribute__((unused)) static int ot_try_new_on_dead;

static inline void ot_target_clear(om_object *self)
{
    ot_target *t = (ot_target *)self;
    ot_ev("C%d", t->id);
    om_clear_ref(&t->ref);
}

static inline void ot_target_release(om_object *self)
{
    ot_ev("R%d", ((ot_target *)self)->id);
    if (ot_try_new_on_dead) {
        errno = 0;
        ot_dead_new_result = om_weakref_new(self, NULL, NULL);
        ot_dead_new_errno = errno;
    }
}

static inline int ot_target_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    ot_target *t = (ot_target *)self;
    return t->ref ? visit(t->ref, arg) : 0;
}

__attribute__((unused)) static om_type ot_target_type = {
    OM_TYPE_INIT,
    .name = "target", .size = sizeof(ot_target),
    .weaklist_offset = offsetof(ot_target, weaklist),
    .clear = ot_target_clear, .release = ot_target_release,
    .traverse = ot_target_traverse };
__attribute__((unused)) static om_type ot_gctarget_type = {
    OM_TYPE_INIT,
    .name = "gctarget", .size = sizeof(ot_target), .flags = OM_TYPE_GC,
    .weaklist_offset = offsetof(ot_target, weaklist),
    .clear = ot_target_clear, .release = ot_target_release,
    .traverse = ot_target_traverse };

/* noweak: cannot be weakly referenced (no weaklist_offset) */
typedef struct ot_noweak { om_object ob; void *pad; } ot_noweak;
__attribute__((unused)) static om_type ot_noweak_type = { OM_TYPE_INIT, .name = "noweak", .size = sizeof(ot_noweak) };

static inline ot_target *ot_new_target(om_type *t, int id)
{
    ot_target *o = (ot_target *)om_new(t);
    if (o != NULL)
        o->id = id;
    return o;
}

/* the id of an ot_tag data object, -1 for none */
static inline int ot_tag_id(om_object *data)
{
    return data ? ((ot_tag *)data)->id : -1;
}

/* ot_log_cb: a weak-reference callback that counts its calls, keeps its
 * arguments, checks that its weak reference (and ot_cb_other, when set)
 * already reads NULL and that its data is alive, and logs W<tag id>. */
__attribute__((unused)) static int ot_cb_calls;
__attribute__((unused)) static om_weakref *ot_cb_last_ref;
__attribute__((unused)) static om_object *ot_cb_last_data;
__attribute__((unused)) static om_weakref *ot_cb_other; /* must already read NULL in any callback */

static inline void ot_log_cb(om_weakref *ref, om_object *data)
{
    ot_cb_calls++;
    ot_cb_last_ref = ref;
    ot_cb_last_data = data;
    CHECK(om_weakref_get(ref) == NULL);
    if (ot_cb_other != NULL)
        CHECK(om_weakref_get(ot_cb_other) == NULL);
    if (data != NULL)
        CHECK_GE(data->refcount, 1); /* alive while its callback runs */
    ot_ev("W%d", ot_tag_id(data));
}

/* live weak-reference objects */
static inline uint64_t ot_weakrefs_live(void)
{
    return ot_live(&om_weakref_type);
}

#endif /* OM_TEST_OBJTEST_H */
