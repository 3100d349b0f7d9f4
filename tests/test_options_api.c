/*
 * test_options_api.c — the options API in process: om_option_describe
 * (name, kind, default, maximum, origin), om_option_origin_name, and
 * om_option_set clamping to the option's range and marking its origin.
 * The environment side (OBJMEM_* values and their warnings) is
 * test_options.c's; this test runs whatever the environment holds, so it
 * checks origins only for options the environment does not set.
 */
#include <errno.h>
#include <limits.h>
#include <objmem.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void test_describe_every_option(void)
{
    for (int i = 0; i < OM_OPTION_COUNT; i++) {
        om_option_info info;
        REQUIRE_EQ(om_option_describe((om_option)i, &info), 0);
        CHECK(strncmp(info.name, "OBJMEM_", 7) == 0);
        CHECK(info.summary && info.summary[0]);
        CHECK(strcmp(info.kind, "switch") == 0 || strcmp(info.kind, "ms") == 0 || strcmp(info.kind, "MiB") == 0 ||
              strcmp(info.kind, "count") == 0 || strcmp(info.kind, "bytes") == 0);
        CHECK_EQ(info.value, om_option_get((om_option)i));
        CHECK(info.default_value >= 0 && info.default_value <= info.max);
        if (strcmp(info.kind, "switch") == 0)
            CHECK_EQ(info.max, 1);
        if (getenv(info.name) == NULL) {
            CHECK_MSG(info.origin == OM_ORIGIN_DEFAULT, "%s: origin %d", info.name, (int)info.origin);
            CHECK_EQ(info.value, info.default_value);
        }
    }
    om_option_info info;
    CHECK_EQ(om_option_describe(OM_OPTION_COUNT, &info), EINVAL);
    CHECK_EQ(om_option_describe((om_option)-1, &info), EINVAL);
    CHECK_EQ(om_option_describe(OM_OPTION_CHECKED, NULL), EINVAL);
    CHECK_EQ(om_option_get(OM_OPTION_COUNT), 0);
}

static void test_names_and_limits(void)
{
    om_option_info info;
    REQUIRE_EQ(om_option_describe(OM_OPTION_PURGE_DELAY_MS, &info), 0);
    CHECK(strcmp(info.name, "OBJMEM_PURGE_DELAY_MS") == 0);
    CHECK(strcmp(info.kind, "ms") == 0);
    CHECK_EQ(info.default_value, 10);
    CHECK_EQ(info.max, 1000000000000L);
    REQUIRE_EQ(om_option_describe(OM_OPTION_LARGE_CACHE_MB, &info), 0);
    CHECK(strcmp(info.kind, "MiB") == 0);
    CHECK_EQ(info.default_value, 64);
    CHECK_EQ(info.max, 1048576);
    REQUIRE_EQ(om_option_describe(OM_OPTION_STATS, &info), 0);
    CHECK(strcmp(info.name, "OBJMEM_STATS") == 0);
    CHECK(strcmp(om_option_origin_name(OM_ORIGIN_DEFAULT), "default") == 0);
    CHECK(strcmp(om_option_origin_name(OM_ORIGIN_ENVIRONMENT), "environment") == 0);
    CHECK(strcmp(om_option_origin_name(OM_ORIGIN_API), "om_option_set") == 0);
    CHECK(strcmp(om_option_origin_name((om_option_origin)99), "?") == 0);
}

/* om_option_set: the origin becomes the API; values clamp into range. */
static void test_set_clamps_and_marks(void)
{
    long old_delay = om_option_get(OM_OPTION_PURGE_DELAY_MS);
    long old_cache = om_option_get(OM_OPTION_LARGE_CACHE_MB);
    long old_checked = om_option_get(OM_OPTION_CHECKED);
    om_option_info info;

    om_option_set(OM_OPTION_PURGE_DELAY_MS, -5);
    CHECK_EQ(om_option_get(OM_OPTION_PURGE_DELAY_MS), 0);
    om_option_set(OM_OPTION_PURGE_DELAY_MS, LONG_MAX);
    CHECK_EQ(om_option_get(OM_OPTION_PURGE_DELAY_MS), 1000000000000L);
    REQUIRE_EQ(om_option_describe(OM_OPTION_PURGE_DELAY_MS, &info), 0);
    CHECK_EQ(info.origin, OM_ORIGIN_API);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, 1L << 44); /* << 20 would wrap a 64-bit size */
    CHECK_EQ(om_option_get(OM_OPTION_LARGE_CACHE_MB), 1048576);
    om_option_set(OM_OPTION_CHECKED, 7);
    CHECK_EQ(om_option_get(OM_OPTION_CHECKED), 1);
    void *p = om_malloc(40); /* checked mode works with the stored 1 */
    CHECK(p != NULL);
    om_free(p);

    om_option_set(OM_OPTION_PURGE_DELAY_MS, old_delay);
    om_option_set(OM_OPTION_LARGE_CACHE_MB, old_cache);
    om_option_set(OM_OPTION_CHECKED, old_checked);
    CHECK_EQ(om_option_get(OM_OPTION_PURGE_DELAY_MS), old_delay);
    CHECK_EQ(om_option_get(OM_OPTION_LARGE_CACHE_MB), old_cache);
    CHECK_EQ(om_option_get(OM_OPTION_CHECKED), old_checked);
    om_option_set(OM_OPTION_COUNT, 1); /* ignored */
}

int main(int argc, char **argv)
{
    static const check_case cases[] = {
        CHECK_CASE(test_describe_every_option),
        CHECK_CASE(test_names_and_limits),
        CHECK_CASE(test_set_clamps_and_marks),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
