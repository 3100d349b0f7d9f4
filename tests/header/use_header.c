/*
 * use_header.c — every macro and inline function of objmem.h, in one
 * translation unit that tests/header/check_header.sh compiles as C and as
 * C++ with each compiler and warning set of the header tests (see
 * tests/CMakeLists.txt, label build), links against objmem and runs.  It
 * checks that the header builds clean, not what the calls do (other
 * tests do that), though the program does run them.
 */
#ifdef TU_NO_ATTRIBUTES
/* A compiler without GNU attributes.  glibc's headers, which objmem.h
 * includes, define __attribute__ away when __GNUC__ is not defined; turn
 * any use that objmem.h does not guard into a syntax error instead. */
#include <stddef.h>
#include <stdint.h>
#undef __attribute__
#define __attribute__(x) tu_unguarded_attribute x
#endif
#include "objmem.h" /* alone: glibc's other headers need a GNU compiler once __GNUC__ is gone */

#ifdef __cplusplus
#define TU_NULL nullptr
#else
#define TU_NULL ((void *)0)
#endif

typedef struct tu_pair {
    om_object ob;
    om_object *items[2];
} tu_pair;

/* OM_TYPE_INIT is a designated initialiser: C, or C++20. */
#if !defined(__cplusplus) || __cplusplus >= 202002L
static om_type tu_pair_type = {
    OM_TYPE_INIT,
    .name = "tu_pair",
    .size = sizeof(tu_pair),
    .flags = OM_TYPE_GC,
    .ref_fields = OM_REF_FIELD(tu_pair, items[0]) | OM_REF_FIELD(tu_pair, items[1]),
};
static om_type *pair_type(void) { return &tu_pair_type; }
#else
static om_type *pair_type(void)
{
    static om_type t;
    if (!t.struct_size) {
        t.struct_size = sizeof t;
        t.name = "tu_pair";
        t.size = sizeof(tu_pair);
        t.flags = OM_TYPE_GC;
        t.ref_fields = OM_REF_FIELD(tu_pair, items[0]) | OM_REF_FIELD(tu_pair, items[1]);
    }
    return &t;
}
#endif

static om_object tu_none = OM_STATIC_OBJECT_INIT(&om_weakref_type);

static int tu_visit(om_object *o, void *arg)
{
    (void)o;
    (void)arg;
    return 0;
}

static int use_allocation(void)
{
    void *p = om_malloc(10), *q = om_calloc(2, 8), *a = om_aligned_alloc(64, 64), *m = TU_NULL;
    void *r = om_realloc(p, 100);
    if (!r || !q || !a || om_posix_memalign(&m, 32, 32) != 0)
        return 1;
    int ok = om_owns(r) && om_usable_size(q) >= 16;
    om_free(r);
    om_free(q);
    om_free(a);
    om_free(m);
    om_trim(0);
    return !ok;
}

static int use_structs(void)
{
    om_stats st;
    om_block_info bi;
    om_arena_info arenas[4];
    om_gc_gen_stats gs[OM_GC_GENERATIONS];
    om_lock_stats ls;
    om_os_hooks hooks;
    om_type_stats ts;
    long count[OM_GC_GENERATIONS];
    void *p = om_malloc(32);
    om_stats_get(&st);
    int rc = om_block_describe(p, &bi);
    size_t n = om_heap_arenas(arenas, 4);
    om_gc_get_stats(gs);
    om_lock_get_stats(&ls);
    om_get_os_hooks(&hooks);
    om_set_os_hooks(&hooks);
    om_set_os_hooks(TU_NULL);
    om_type_get_stats(&om_weakref_type, &ts);
    om_gc_get_count(count);
    char buf[64];
    (void)om_stats_format(buf, sizeof buf, OM_REPORT_TEXT);
    (void)om_stats_format(buf, sizeof buf, OM_REPORT_JSON);
    om_free(p);
    return rc != 0 || n == 0 || st.classes[OM_NUM_CLASSES - 1].block_size == 0 || bi.kind != OM_BLOCK_SMALL ||
           sizeof(om_type) < OM_TYPE_SIZE_MIN;
}

static int use_objects(void)
{
    om_object *a = om_new(pair_type()), *b = om_new_var(&om_weakref_type, 0);
    if (!a)
        return 1;
    (void)b; /* EINVAL: not a variable-size type */
    tu_pair *pa = OM_PTR_CAST(tu_pair *, a);
    pa->items[0] = om_newref(OM_OBJ(pa));
    om_xincref(pa->items[0]);
    om_xdecref(pa->items[0]);
    om_incref(pa);
    om_decref(pa);
    om_object *ret = om_newref(&tu_none);
    om_decref(ret);
    int imm = om_is_immortal(&tu_none) && tu_none.refcount >= OM_IMMORTAL_REFCNT;
    om_weakref *w = om_weakref_new(a, TU_NULL, TU_NULL);
    om_xdecref(w);
    om_clear_ref(&pa->items[0]);
    om_decref(a);
    om_gc_set_debug(OM_GC_DEBUG_STATS & 0);
    (void)om_gc_get_objects(-1, tu_visit, TU_NULL);
    return !imm || om_gc_collect(2) < 0;
}

static int use_lock(void)
{
    om_lock_acquire();
    OM_BEGIN_ALLOW_THREADS
    OM_END_ALLOW_THREADS
    om_lock_release();
    return 0;
}

int main(void)
{
    int bad = use_allocation() | use_structs() | use_objects() | use_lock();
    return bad || !om_version() || OM_VERSION_MAJOR + OM_VERSION_MINOR + OM_VERSION_PATCH < 0;
}
