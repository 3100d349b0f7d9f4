/*
 * objtest.h — helpers shared by the object-layer tests (test_objects.c,
 * test_freelist.c, test_weakref.c, test_lock.c, test_object_debug.c,
 * test_object_oom.c) and, through gctest.h, the collector's: an event log
 * that destruction hooks and weak-reference callbacks append to (compared
 * as a string, so a failure prints the whole order), per-type statistics
 * snapshots, and a runner for code that must work on a thread with a small
 * stack.
 */
#ifndef OM_TEST_OBJTEST_H
#define OM_TEST_OBJTEST_H

#include <pthread.h>
#include <stdarg.h>
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
__attribute__((unused)) static om_type ot_tag_type = { .name = "tag", .size = sizeof(ot_tag),
                                                       .release = ot_tag_release };

static inline om_object *ot_new_tag(int id)
{
    ot_tag *t = (ot_tag *)om_new(&ot_tag_type);
    if (t != NULL)
        t->id = id;
    return OM_OBJ(t);
}

#endif /* OM_TEST_OBJTEST_H */
