/*
 * hello_objects.c — the example types end to end: a list of (str, float)
 * tuples, a dict built from it, a weak reference to the dict, then
 * teardown, checked with the per-type statistics.  Exits 1 if any object
 * is left alive.
 *
 * Reference discipline to read for: every constructor hands us a reference
 * that we either give away (ex_tuple_set_item steals it) or drop with
 * om_decref once a container holds its own (ex_list_append, ex_dict_set).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples.h"

static void die(const char *what, int err) {
    fprintf(stderr, "hello_objects: %s: %s\n", what, strerror(err));
    exit(1);
}

static om_object *need(om_object *o, const char *what) {
    if (!o)
        die(what, errno);
    return o;
}

/* A new (name, value) tuple. */
static om_object *pair_new(const char *name, double value) {
    om_object *t = need(ex_tuple_new(2), "tuple");
    ex_tuple_set_item(t, 0, need(ex_str_from(name), "str"));
    ex_tuple_set_item(t, 1, need(ex_float_new(value), "float"));
    return t;
}

static void on_dict_death(om_weakref *ref, om_object *data) {
    (void)data;
    om_object *o = om_weakref_get(ref); /* NULL: references are cleared before callbacks run */
    printf("callback: the dict is gone, its weak reference is %s\n", o ? "still set?!" : "cleared");
    om_xdecref(o);
}

int main(void) {
    static const struct { const char *name; double value; } constants[] = {
        {"pi", 3.14159265358979}, {"e", 2.71828182845905}, {"phi", 1.61803398874989},
    };
    om_lock_acquire(); /* one thread here, but a runtime holds the lock to touch objects */

    om_object *list = need(ex_list_new(0), "list");
    om_object *dict = need(ex_dict_new(), "dict");
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        om_object *t = pair_new(constants[i].name, constants[i].value);
        int err = ex_list_append(list, t);
        if (!err)
            err = ex_dict_set(dict, ex_tuple_get_item(t, 0), ex_tuple_get_item(t, 1));
        if (err)
            die("insert", err);
        om_decref(t); /* the list holds it now */
    }

    for (size_t i = 0; i < ex_list_len(list); i++) {
        om_object *t = ex_list_get_item(list, i);
        printf("list[%zu] = (%s, %g)\n", i, ex_str_data(ex_tuple_get_item(t, 0)),
               ex_float_value(ex_tuple_get_item(t, 1)));
    }
    om_object *key = need(ex_str_from("e"), "str");
    printf("dict has %zu keys; dict[\"e\"] = %g\n", ex_dict_len(dict), ex_float_value(ex_dict_get(dict, key)));
    om_decref(key);

    om_weakref *ref = om_weakref_new(dict, on_dict_death, NULL);
    if (!ref)
        die("weakref", errno);
    printf("the dict has %zu weak reference(s)\n", om_weakref_count(dict));

    om_decref(list); /* frees the tuples; their strs and floats live on in the dict */
    om_decref(dict); /* runs on_dict_death, frees the keys and values */
    om_decref(ref);

    const om_type *types[] = {&ex_int_type,   &ex_float_type, &ex_str_type,   &ex_tuple_type,
                              &ex_list_type,  &ex_dict_type,  &om_weakref_type};
    uint64_t left = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        om_type_stats st;
        om_type_get_stats(types[i], &st);
        printf("%-7s created %" PRIu64 ", live %" PRIu64 ", parked %" PRIu64 "\n", st.name, st.created,
               st.live, st.freelist_len);
        left += st.live;
    }
    om_lock_release();
    return left == 0 ? 0 : 1;
}
