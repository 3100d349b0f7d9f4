/*
 * test_internal_os_move.c — os.c's page moves across kernel mappings: a
 * large block that took over the cached mapping after it may span two
 * kernel VMAs, which one mremap refuses (EFAULT); omi_os_remap and
 * omi_os_move then move it in pieces, contents and residency kept.
 */
#include "check.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc/alloc.h"

#define MIB ((size_t)1 << 20)

static void fill(char *p, size_t n, char v) { memset(p, v, n); }

static int all(const char *p, size_t n, char v) {
    for (size_t i = 0; i < n; i += 4096)
        if (p[i] != v)
            return 0;
    return 1;
}

/* [r, r + 8 MiB) made of two VMAs: r's own pages, then pages moved in from
 * another mapping, marked MADV_NOHUGEPAGE so that the kernel cannot merge
 * the two (recent kernels merge moved anonymous mappings otherwise). */
static char *two_vmas(void) {
    char *r = omi_os_reserve(8 * MIB, MIB);
    if (!r)
        return NULL;
    fill(r, 4 * MIB, 'a');
    char *s = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED)
        return NULL;
    fill(s, 4 * MIB, 'b');
#ifdef MADV_NOHUGEPAGE
    madvise(s, 4 * MIB, MADV_NOHUGEPAGE);
#endif
    if (mremap(s, 4 * MIB, 4 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, r + 4 * MIB) == MAP_FAILED)
        return NULL;
    return r;
}

static void test_remap_across_vmas(void) {
    char *r = two_vmas();
    REQUIRE(r != NULL);
    /* the case exists: one mremap of the whole range fails */
    void *probe = mremap(r, 8 * MIB, 8 * MIB + 4096, 0);
    if (probe != MAP_FAILED) {
        printf("    the kernel merged the two mappings: nothing to test\n");
        omi_os_release(r, 8 * MIB + 4096);
        return;
    }
    CHECK_EQ(errno, EFAULT);
    char *p = omi_os_remap(r, 8 * MIB, 16 * MIB, 2 * MIB);
    REQUIRE(p != NULL);
    CHECK(all(p, 4 * MIB, 'a'));
    CHECK(all(p + 4 * MIB, 4 * MIB, 'b'));
    CHECK(all(p + 8 * MIB, 8 * MIB, 0));
    unsigned char vec[2048];
    CHECK_EQ(mincore(p, 8 * MIB, vec), 0);
    size_t resident = 0;
    for (size_t i = 0; i < 8 * MIB / 4096; i++)
        resident += vec[i] & 1;
    CHECK_EQ(resident, 8 * MIB / 4096); /* moved, not faulted again */
    omi_os_release(p, 16 * MIB);
}

static void test_move_across_vmas(void) {
    char *r = two_vmas();
    REQUIRE(r != NULL);
    char *d = omi_os_reserve(12 * MIB, MIB);
    REQUIRE(d != NULL);
    CHECK_EQ(omi_os_move(r, d + 2 * MIB, 8 * MIB), 0);
    CHECK(all(d + 2 * MIB, 4 * MIB, 'a'));
    CHECK(all(d + 6 * MIB, 4 * MIB, 'b'));
    CHECK(all(d, 2 * MIB, 0));
    /* the source is gone */
    unsigned char vec[1];
    CHECK(mincore(r, 4096, vec) != 0 && errno == ENOMEM);
    omi_os_release(d, 12 * MIB);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        CHECK_CASE(test_remap_across_vmas),
        CHECK_CASE(test_move_across_vmas),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
