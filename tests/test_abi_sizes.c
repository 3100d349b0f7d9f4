/*
 * test_abi_sizes.c — the size convention of objmem.h section 1: a program
 * compiled against an older objmem.h, whose structs are shorter, runs with
 * this library.  Each struct the caller allocates is filled into buffers of
 * every size from 0 to past the library's own, surrounded by guard bytes:
 * the library writes exactly min(caller's size, its own) bytes, the same
 * bytes a full-size caller gets, and nothing beyond.  Arrays the same with
 * element sizes smaller and larger than the library's.  An om_type
 * compiled before its last fields existed (followed by bytes that would
 * make a bad type if read) makes, parks and frees objects, and a
 * collectable one is collected.  Built against the shared library, as an
 * older program would be.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "objmem.h"
#include "check.h"

#define GUARD 0xA5
#define SLACK 64     /* guard bytes after the biggest buffer */
#define MAXBUF 4096

/* Fill a caller struct of size bytes at out. */
typedef void (*fill_fn)(void *out, size_t size);

static void *probe;

static void fill_stats(void *out, size_t size) { (om_stats_get)((om_stats *)out, size); }
static void fill_block(void *out, size_t size) { CHECK_EQ((om_block_describe)(probe, (om_block_info *)out, size), 0); }
static void fill_lock(void *out, size_t size) { (om_lock_get_stats)((om_lock_stats *)out, size); }
static void fill_hooks(void *out, size_t size) { (om_get_os_hooks)((om_os_hooks *)out, size); }
static void fill_type_stats(void *out, size_t size) { (om_type_get_stats)(&om_weakref_type, (om_type_stats *)out, size); }
static void fill_option(void *out, size_t size) { CHECK_EQ((om_option_describe)(OM_OPTION_PURGE_DELAY_MS, (om_option_info *)out, size), 0); }

static int guards_intact(const unsigned char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != GUARD)
            return 0;
    return 1;
}

/* Every caller size from 0 to lib_size + 32: the first min(size, lib_size)
 * bytes are the full struct's, the rest of the buffer untouched. */
static void check_struct(const char *name, fill_fn fill, size_t lib_size)
{
    static unsigned char full[MAXBUF], buf[MAXBUF + SLACK];
    REQUIRE(lib_size + 32 + SLACK <= sizeof buf);
    memset(full, 0, sizeof full);
    fill(full, lib_size);
    for (size_t size = 0; size <= lib_size + 32; size++) {
        memset(buf, GUARD, sizeof buf);
        fill(buf, size);
        size_t n = size < lib_size ? size : lib_size;
        CHECK_MSG(memcmp(buf, full, n) == 0, "%s: size %zu: the prefix differs from the full struct", name, size);
        CHECK_MSG(guards_intact(buf, n, sizeof buf), "%s: size %zu: a byte past %zu was written", name, size, n);
    }
}

static void test_stats_sizes(void)
{
    void *keep = om_malloc(100); /* something in the counters */
    check_struct("om_stats", fill_stats, sizeof(om_stats));
    om_free(keep);
}

static void test_block_info_sizes(void)
{
    probe = om_malloc(48);
    REQUIRE(probe != NULL);
    check_struct("om_block_info", fill_block, sizeof(om_block_info));
    om_free(probe);
    probe = om_malloc(1 << 20); /* a large block */
    REQUIRE(probe != NULL);
    check_struct("om_block_info (large)", fill_block, sizeof(om_block_info));
    om_free(probe);
}

static void test_small_structs_sizes(void)
{
    check_struct("om_lock_stats", fill_lock, sizeof(om_lock_stats));
    check_struct("om_os_hooks", fill_hooks, sizeof(om_os_hooks));
    check_struct("om_type_stats", fill_type_stats, sizeof(om_type_stats));
    check_struct("om_option_info", fill_option, sizeof(om_option_info));
}

/* The struct an older objmem.h would have declared: om_stats up to
 * arenas_current, and nothing after. */
typedef struct old_stats {
    om_class_stats classes[OM_NUM_CLASSES];
    uint64_t arenas_allocated, arenas_reclaimed, arenas_highwater, arenas_current;
} old_stats;

static void test_old_stats_struct(void)
{
    struct {
        unsigned char before[16];
        old_stats s;
        unsigned char after[SLACK];
    } w;
    memset(&w, GUARD, sizeof w);
    void *keep = om_malloc(200);
    (om_stats_get)((om_stats *)&w.s, sizeof w.s);
    om_stats now;
    om_stats_get(&now);
    CHECK(guards_intact(w.before, 0, sizeof w.before));
    CHECK(guards_intact(w.after, 0, sizeof w.after));
    CHECK_EQ(w.s.classes[0].block_size, 16);
    CHECK_EQ(w.s.classes[12].blocks_used, now.classes[12].blocks_used);
    CHECK_GE(w.s.classes[12].blocks_used, 1);
    CHECK_EQ(w.s.arenas_current, now.arenas_current);
    CHECK_EQ(w.s.arenas_highwater, now.arenas_highwater);
    om_free(keep);
}

/* Arrays: fill count elements of elem_size bytes; check each element
 * against the library-size one and the gaps between them. */
typedef size_t (*fill_array_fn)(void *out, size_t count, size_t elem_size);

static size_t fill_arenas(void *out, size_t count, size_t elem) { return (om_heap_arenas)((om_arena_info *)out, count, elem); }
static size_t fill_gc(void *out, size_t count, size_t elem) { return (om_gc_get_stats)((om_gc_gen_stats *)out, count, elem); }

static void check_array(const char *name, fill_array_fn fill, size_t lib_size, size_t count)
{
    static unsigned char full[MAXBUF], buf[MAXBUF + SLACK];
    memset(full, 0, sizeof full);
    size_t have = fill(full, count, lib_size);
    CHECK_GE(have, 1);
    size_t filled = have < count ? have : count;
    for (size_t elem = 1; elem <= lib_size + 24; elem++) {
        if (elem * count + SLACK > sizeof buf)
            break;
        memset(buf, GUARD, sizeof buf);
        CHECK_EQ(fill(buf, count, elem), have);
        size_t n = elem < lib_size ? elem : lib_size;
        for (size_t i = 0; i < filled; i++) {
            CHECK_MSG(memcmp(buf + i * elem, full + i * lib_size, n) == 0, "%s: element size %zu: element %zu differs",
                      name, elem, i);
            CHECK_MSG(guards_intact(buf, i * elem + n, (i + 1) * elem), "%s: element size %zu: element %zu overflows",
                      name, elem, i);
        }
        CHECK_MSG(guards_intact(buf, filled * elem, sizeof buf), "%s: element size %zu: written past element %zu",
                  name, elem, filled);
    }
}

static void test_array_sizes(void)
{
    void *a = om_malloc(64), *b = om_malloc(4000); /* a small and a medium arena */
    REQUIRE(a && b);
    size_t n = (om_heap_arenas)(NULL, 0, sizeof(om_arena_info));
    CHECK_GE(n, 2);
    check_array("om_arena_info", fill_arenas, sizeof(om_arena_info), n);
    check_array("om_arena_info (fewer than there are)", fill_arenas, sizeof(om_arena_info), 1);
    om_free(a);
    om_free(b);
    CHECK_EQ(om_gc_collect(2) >= 0, 1);
    check_array("om_gc_gen_stats", fill_gc, sizeof(om_gc_gen_stats), OM_GC_GENERATIONS);
    check_array("om_gc_gen_stats (two generations)", fill_gc, sizeof(om_gc_gen_stats), 2);
}

/* om_set_os_hooks from a caller whose om_os_hooks has only reserve: the
 * rest are the defaults, whatever follows the struct. */
static void *counting_reserve(size_t size, size_t align, void *ctx)
{
    (void)ctx;
    return om_os_default_reserve(size, align, NULL);
}

static void test_os_hooks_in(void)
{
    struct {
        void *(*reserve)(size_t, size_t, void *);
        unsigned char after[SLACK];
    } old;
    memset(&old, GUARD, sizeof old); /* as pointers: not callable */
    old.reserve = counting_reserve;
    (om_set_os_hooks)((const om_os_hooks *)&old, sizeof old.reserve);
    om_os_hooks now;
    om_get_os_hooks(&now);
    CHECK(now.reserve == counting_reserve);
    CHECK(now.release == om_os_default_release);
    CHECK(now.purge == om_os_default_purge);
    CHECK(now.ctx == NULL);
    void *p = om_malloc(3 << 20); /* a mapping through the hooks, and back */
    CHECK(p != NULL);
    om_free(p);
    om_trim(1);
    om_set_os_hooks(NULL);
    om_get_os_hooks(&now);
    CHECK(now.reserve == om_os_default_reserve);
}

/* ---- om_type compiled before ref_fields and freelist_limit ------------- */
typedef struct old_type {
    size_t struct_size;
    om_type_state *state_;
    const char *name;
    size_t size, item_size;
    unsigned flags;
    size_t weaklist_offset;
    om_traverse_fn traverse;
    om_clear_fn clear;
    om_finalize_fn finalize;
    om_release_fn release;
    om_refs_fn refs;
} old_type;

/* Followed by 0xff bytes: read as ref_fields they declare the header (a
 * bad type), as freelist_limit they would park every instance. */
typedef struct old_type_slot {
    old_type t;
    unsigned char after[SLACK];
} old_type_slot;

typedef struct lnk {
    om_object ob;
    om_object *next;
} lnk;

static int link_traverse(om_object *self, om_visit_fn visit, void *arg)
{
    lnk *l = (lnk *)self;
    return l->next ? visit(l->next, arg) : 0;
}
static void link_clear(om_object *self) { om_clear_ref(&((lnk *)self)->next); }

static void old_type_init(old_type_slot *s, const char *name, unsigned flags)
{
    memset(s, 0xff, sizeof *s);
    memset(&s->t, 0, sizeof s->t);
    s->t.struct_size = sizeof s->t;
    s->t.name = name;
    s->t.size = sizeof(lnk);
    s->t.flags = flags;
    if (flags & OM_TYPE_GC) {
        s->t.traverse = link_traverse;
        s->t.clear = link_clear;
    }
}

static int untouched_after(const old_type_slot *s)
{
    for (size_t i = 0; i < sizeof s->after; i++)
        if (s->after[i] != 0xff)
            return 0;
    return 1;
}

static void test_old_type(void)
{
    static old_type_slot s;
    CHECK_EQ(sizeof(old_type), OM_TYPE_SIZE_MIN);
    old_type_init(&s, "old", 0);
    om_type *t = (om_type *)&s.t;
    om_type_set_freelist_limit(t, 5); /* before its first object: not past the struct */
    CHECK(untouched_after(&s));
    om_object *o[3];
    for (int i = 0; i < 3; i++) {
        o[i] = om_new(t);
        REQUIRE(o[i] != NULL);
        CHECK(o[i]->type == t);
    }
    CHECK(s.t.state_ != NULL);
    CHECK_EQ(s.t.size, sizeof(lnk));
    for (int i = 0; i < 3; i++)
        om_decref(o[i]);
    om_type_stats st;
    om_type_get_stats(t, &st);
    CHECK_EQ(st.created, 3);
    CHECK_EQ(st.destroyed, 3);
    CHECK_EQ(st.freelist_limit, 0);    /* the field it does not have reads as 0 */
    CHECK_EQ(st.freelist_len, 0);
    om_type_set_freelist_limit(t, 2); /* now in objmem's state */
    o[0] = om_new(t);
    REQUIRE(o[0] != NULL);
    om_decref(o[0]);
    om_type_get_stats(t, &st);
    CHECK_EQ(st.freelist_len, 1);
    CHECK_EQ(st.freelist_limit, 2);
    CHECK_EQ(om_type_freelist_clear(t), 1);
    CHECK(untouched_after(&s));
}

static void test_old_gc_type(void)
{
    static old_type_slot s;
    old_type_init(&s, "old-gc", OM_TYPE_GC);
    om_type *t = (om_type *)&s.t;
    lnk *a = (lnk *)om_new(t), *b = (lnk *)om_new(t);
    REQUIRE(a && b);
    a->next = om_newref(OM_OBJ(b));
    b->next = om_newref(OM_OBJ(a));
    om_decref(a);
    om_decref(b);
    CHECK_GE(om_gc_collect(2), 2);
    om_type_stats st;
    om_type_get_stats(t, &st);
    CHECK_EQ(st.live, 0);
    CHECK(untouched_after(&s));
}

/* A newer caller's om_type (bigger) works too: objmem reads what it knows. */
static void test_newer_type(void)
{
    static struct {
        om_type t;
        uint64_t later_fields[4];
    } newer = {{OM_TYPE_INIT, .name = "newer", .size = sizeof(lnk), .freelist_limit = 1}, {1, 2, 3, 4}};
    newer.t.struct_size = sizeof newer;
    om_object *o = om_new(&newer.t);
    REQUIRE(o != NULL);
    om_decref(o);
    om_type_stats st;
    om_type_get_stats(&newer.t, &st);
    CHECK_EQ(st.freelist_len, 1);
    CHECK_EQ(newer.later_fields[3], 4);
}

/* Without its size, or shorter than every om_type is: EINVAL. */
static void test_type_without_size(void)
{
    static om_type none = {.name = "no size", .size = sizeof(lnk)};
    static om_type small = {.struct_size = OM_TYPE_SIZE_MIN - 1, .name = "too short", .size = sizeof(lnk)};
    errno = 0;
    CHECK(om_new(&none) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(om_new(&small) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK(none.state_ == NULL);
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_stats_sizes),      CHECK_CASE(test_block_info_sizes), CHECK_CASE(test_small_structs_sizes),
        CHECK_CASE(test_old_stats_struct), CHECK_CASE(test_array_sizes),      CHECK_CASE(test_os_hooks_in),
        CHECK_CASE(test_old_type),         CHECK_CASE(test_old_gc_type),      CHECK_CASE(test_newer_type),
        CHECK_CASE(test_type_without_size),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
