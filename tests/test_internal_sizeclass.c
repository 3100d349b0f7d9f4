/*
 * test_internal_sizeclass.c — the size-class table in sizeclass.h.
 *
 * Checks the table against its definition rather than against a copy of
 * it: classes are increasing, 16-byte aligned, every size maps to the
 * smallest class that fits, medium waste stays under 25% of the request,
 * and the capacities fill their pools.
 */
#include "check.h"
#include "alloc/alloc.h"
#include "alloc/sizeclass.h"

static void test_small_classes(void) {
    for (unsigned c = 0; c < OM_NUM_SMALL_CLASSES; c++)
        CHECK_EQ(omi_class_size(c), (size_t)16 * (c + 1));
    CHECK_EQ(omi_size_class(0), 0);
    CHECK_EQ(omi_size_class(1), 0);
    CHECK_EQ(omi_size_class(16), 0);
    CHECK_EQ(omi_size_class(17), 1);
    CHECK_EQ(omi_size_class(512), 31);
    CHECK_EQ(omi_size_class(513), 32);
}

static void test_classes_increase_and_align(void) {
    for (unsigned c = 1; c < OM_NUM_CLASSES; c++) {
        CHECK(omi_class_size(c) > omi_class_size(c - 1));
        CHECK_EQ(omi_class_size(c) % OM_ALIGNMENT, 0);
    }
    CHECK_EQ(omi_class_size(OM_NUM_CLASSES - 1), (size_t)OM_MEDIUM_MAX);
}

/* Every size maps to the smallest class that holds it. */
static void test_every_size_fits_tightly(void) {
    for (size_t n = 1; n <= OM_MEDIUM_MAX; n++) {
        unsigned c = omi_size_class(n);
        if (!check_record(c < OM_NUM_CLASSES && omi_class_size(c) >= n && (c == 0 || omi_class_size(c - 1) < n),
                          __FILE__, __LINE__, "class of n is the tightest fit")) {
            fprintf(stderr, "  n = %zu, class %u\n", n, c);
            return;
        }
    }
}

static void test_medium_waste_bound(void) {
    double worst = 0;
    for (size_t n = OM_SMALL_MAX + 1; n <= OM_MEDIUM_MAX; n++) {
        double waste = (double)(omi_class_size(omi_size_class(n)) - n) / (double)n;
        if (waste > worst)
            worst = waste;
    }
    CHECK(worst < 0.25);
}

static void test_capacity_fills_pool(void) {
    for (unsigned c = 0; c < OM_NUM_CLASSES; c++) {
        size_t cap = omi_class_capacity(c), size = omi_class_size(c), bytes = omi_class_pool_bytes(c);
        CHECK(cap >= 1);
        CHECK(cap * size <= bytes);
        CHECK((cap + 1) * size > bytes);
    }
}

/* The medium block-boundary test by multiplication (alloc.c's free path)
 * agrees with division for every offset of every medium pool, and the
 * constant table matches its formula. */
static void test_medium_magic(void) {
    for (unsigned c = OM_NUM_SMALL_CLASSES; c < OM_NUM_CLASSES; c++) {
        uint64_t magic = omi_medium_magic(c);
        uint32_t size = (uint32_t)omi_class_size(c);
        CHECK_EQ(omi_medium_magic_table[c], magic);
        for (uint64_t off = 0; off < OM_MPOOL_SIZE; off += 16)
            if (!check_record(omi_medium_offset_ok(off, size, magic) == (off % size == 0), __FILE__, __LINE__,
                              "magic boundary test agrees with division")) {
                fprintf(stderr, "  class %u size %u offset %llu\n", c, size, (unsigned long long)off);
                return;
            }
    }
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        CHECK_CASE(test_small_classes),
        CHECK_CASE(test_classes_increase_and_align),
        CHECK_CASE(test_every_size_fits_tightly),
        CHECK_CASE(test_medium_waste_bound),
        CHECK_CASE(test_capacity_fills_pool),
        CHECK_CASE(test_medium_magic),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
