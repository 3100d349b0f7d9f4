/*
 * test_internal_os_move.c — os.c's page moves across kernel mappings: a
 * large block that took over the cached mapping after it may span two
 * kernel VMAs, which one mremap refuses (EFAULT); omi_os_remap and
 * omi_os_move then move it in pieces, contents and residency kept, and a
 * piece that fails half way (this file's mremap says when) leaves the
 * block whole, in one place or the other.
 */
#include "check.h"
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "objmem.h"
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
    size_t moved;
    CHECK_EQ(omi_os_move(r, d + 2 * MIB, 8 * MIB, &moved), 0);
    CHECK(all(d + 2 * MIB, 4 * MIB, 'a'));
    CHECK(all(d + 6 * MIB, 4 * MIB, 'b'));
    CHECK(all(d, 2 * MIB, 0));
    /* the source is gone */
    unsigned char vec[1];
    CHECK(mincore(r, 4096, vec) != 0 && errno == ENOMEM);
    omi_os_release(d, 12 * MIB);
}

/* mremap and mmap with MAP_FIXED, as objmem's os.c calls them from this
 * executable: the real ones, unless a script says what their next calls
 * answer (an errno value, or 0 for the real call): the kernel's answers
 * for a move made in pieces, whatever this kernel moves whole (Linux 6.17
 * moves several mappings in one call), and a kernel out of mappings. */
typedef struct {
    int err[8], n, calls; /* calls: since play() */
    int moves_only;       /* only the moves of a range to a fixed place, same size, play it */
} script;
static script remaps, fixed_maps;

/* In a script of mremap answers: the kernel from 6.17 moving the first of
 * the two mappings of two_vmas' range, then failing (it moves them one by
 * one, and may stop after some). */
#define PARTIAL (-1)
/* ... a kernel before 6.16 refusing a move of several mappings: the target
 * unmapped first, then EFAULT. */
#define EFAULT_UNMAPPED (-2)

static int scripted(script *s) {
    if (s->calls++ < s->n && s->err[s->calls - 1]) {
        errno = s->err[s->calls - 1];
        return 1;
    }
    return 0;
}

void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...) {
    void *to = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        to = va_arg(ap, void *);
        va_end(ap);
    }
    if ((!remaps.moves_only || ((flags & MREMAP_FIXED) && old_size == new_size)) && scripted(&remaps)) {
        if (errno == PARTIAL) {
            syscall(SYS_mremap, old, 4 * MIB, 4 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, to);
            errno = ENOMEM;
        } else if (errno == EFAULT_UNMAPPED) {
            syscall(SYS_munmap, to, new_size);
            errno = EFAULT;
        }
        return MAP_FAILED;
    }
    long r = syscall(SYS_mremap, old, old_size, new_size, flags, to);
    return r == -1 ? MAP_FAILED : (void *)r;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if ((flags & MAP_FIXED) && scripted(&fixed_maps))
        return MAP_FAILED;
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    return r == -1 ? MAP_FAILED : (void *)r;
}

static void play(script *s, int n, const int *errs) {
    for (int i = 0; i < n; i++)
        s->err[i] = errs[i];
    s->n = n;
    s->calls = 0;
    s->moves_only = 0;
}
static void play_remaps(int n, const int *errs) {
    play(&remaps, n, errs);
    play(&fixed_maps, 0, NULL);
}

static int range_is_mapped(const char *p, size_t n) {
    unsigned char vec[1];
    for (size_t i = 0; i < n; i += 4096)
        if (mincore((void *)(p + i), 4096, vec) != 0)
            return 0;
    return 1;
}

static int unmapped(const char *p, size_t n) {
    unsigned char vec[1];
    for (size_t i = 0; i < n; i += 4096)
        if (mincore((void *)(p + i), 4096, vec) == 0 || errno != ENOMEM)
            return 0;
    return 1;
}

/* A cache's move (omi_os_move) that the kernel refuses.  Refused for
 * want of mappings before it starts (not EFAULT, the target still mapped):
 * nothing moved, the target as it was.  Refused whole (EFAULT), then its
 * second half refused: finished by hand, the first half's pages moved,
 * fresh ones for the rest (a cache's bytes need not move), the source
 * gone; never reported as not done while half of it was.  The same when
 * the kernel (6.17 on) moves the first mapping and stops.  And when not
 * even a fresh mapping can be made: EFAULT, *moved saying what moved. */
static void test_move_half_fails(void) {
    char *r = two_vmas();
    REQUIRE(r != NULL);
    char *d = omi_os_reserve(12 * MIB, MIB);
    REQUIRE(d != NULL);
    fill(d, 12 * MIB, 'd');
    size_t moved;
    play_remaps(1, (const int[]){ENOMEM});
    CHECK_EQ(omi_os_move(r, d + 2 * MIB, 8 * MIB, &moved), ENOMEM);
    CHECK(all(r, 4 * MIB, 'a'));
    CHECK(all(r + 4 * MIB, 4 * MIB, 'b'));
    CHECK(all(d, 12 * MIB, 'd'));

    for (int partial = 0; partial < 2; partial++) {
        if (partial)
            play_remaps(1, (const int[]){PARTIAL});
        else
            play_remaps(3, (const int[]){EFAULT, 0, ENOMEM});
        CHECK_EQ(omi_os_move(r, d + 2 * MIB, 8 * MIB, &moved), 0);
        CHECK(all(d, 2 * MIB, 'd'));
        CHECK(all(d + 2 * MIB, 4 * MIB, 'a'));
        CHECK(all(d + 6 * MIB, 4 * MIB, 0));
        CHECK(all(d + 10 * MIB, 2 * MIB, 'd'));
        CHECK(unmapped(r, 8 * MIB));
        omi_os_release(d, 12 * MIB);
        r = two_vmas();
        REQUIRE(r != NULL);
        d = omi_os_reserve(12 * MIB, MIB);
        REQUIRE(d != NULL);
        fill(d, 12 * MIB, 'd');
    }

    play_remaps(3, (const int[]){EFAULT, 0, ENOMEM});
    play(&fixed_maps, 1, (const int[]){ENOMEM});
    CHECK_EQ(omi_os_move(r, d + 2 * MIB, 8 * MIB, &moved), EFAULT);
    CHECK_EQ(moved, 4 * MIB);
    CHECK(all(d + 2 * MIB, 4 * MIB, 'a'));
    CHECK(all(r + 4 * MIB, 4 * MIB, 'b'));
    CHECK(unmapped(r, 4 * MIB));
    play_remaps(0, NULL);
    munmap(r + 4 * MIB, 4 * MIB);
    omi_os_release(d, 12 * MIB);
}

/* A live block's remap refused the same ways (growing in place, the
 * moving grow, the whole move, then its second half; or the moving grow
 * stopping after the first mapping): its bytes are copied when its pages
 * cannot move; and when no fresh mapping can be made for them, the moved
 * half goes back and the block stays where it was. */
static void test_remap_half_fails(void) {
    for (int partial = 0; partial < 2; partial++) {
        char *r = two_vmas();
        REQUIRE(r != NULL);
        if (partial)
            play_remaps(2, (const int[]){EFAULT, PARTIAL});
        else
            play_remaps(5, (const int[]){EFAULT, EFAULT, EFAULT, 0, ENOMEM});
        char *p = omi_os_remap(r, 8 * MIB, 16 * MIB, 2 * MIB);
        REQUIRE(p != NULL);
        CHECK(all(p, 4 * MIB, 'a'));
        CHECK(all(p + 4 * MIB, 4 * MIB, 'b'));
        CHECK(all(p + 8 * MIB, 8 * MIB, 0));
        CHECK(unmapped(r, 8 * MIB));
        omi_os_release(p, 16 * MIB);
    }

    char *r = two_vmas();
    REQUIRE(r != NULL);
    play_remaps(5, (const int[]){EFAULT, EFAULT, EFAULT, 0, ENOMEM});
    play(&fixed_maps, 2, (const int[]){0, ENOMEM}); /* dst whole again, then the fresh pages */
    CHECK(omi_os_remap(r, 8 * MIB, 16 * MIB, 2 * MIB) == NULL);
    CHECK_EQ(remaps.calls, 6); /* and the move back */
    CHECK(all(r, 4 * MIB, 'a'));
    CHECK(all(r + 4 * MIB, 4 * MIB, 'b'));
    play_remaps(0, NULL);
    omi_os_release(r, 8 * MIB);
}

/* A grown block put back where it was (large.c, when the ownership map
 * cannot take its new place): the move back refused whole, then half way,
 * is finished by copying; the block is whole at its old address, its
 * bytes kept, nothing left at the new one. */
static void test_put_back_half_fails(void) {
    char *r = two_vmas();
    REQUIRE(r != NULL);
    char *p = omi_os_remap(r, 8 * MIB, 16 * MIB, 2 * MIB);
    REQUIRE(p != NULL);
    if (p == r) {
        printf("    grown in place: nothing to put back\n");
        omi_os_release(p, 16 * MIB);
        return;
    }
    play_remaps(3, (const int[]){EFAULT, 0, ENOMEM});
    omi_os_put_back(p, r, 8 * MIB);
    CHECK_EQ(remaps.calls, 3);
    play_remaps(0, NULL);
    CHECK(range_is_mapped(r, 8 * MIB));
    CHECK(all(r, 4 * MIB, 'a'));
    CHECK(all(r + 4 * MIB, 4 * MIB, 'b'));
    CHECK(unmapped(p, 8 * MIB));
    omi_os_release(p + 8 * MIB, 8 * MIB);
    omi_os_release(r, 8 * MIB);
}

static int64_t mapped_bytes(void) {
    om_stats st;
    om_stats_get(&st);
    return (int64_t)st.os_bytes_reserved;
}

/* A realloc that grows a large block with a cached one's pages (large.c's
 * gather), whose move the kernel refuses half way (an old kernel: the
 * target unmapped, then EFAULT; the second half refused; no fresh mapping
 * for it either): the block is never handed out with the hole (it ends
 * before it, and grows again into the range it gave back, or realloc
 * copies it from where the grow moved it), a calloc after it reads zero,
 * and nothing stays mapped once all is freed. */
static void test_realloc_gather_cut_short(void) {
    om_free(om_malloc(4 * MIB)); /* what stays mapped for good (descriptors) is mapped now */
    om_trim(1);
    int64_t base = mapped_bytes();
    char *a = om_malloc(4 * MIB), *spacer = om_malloc(3 * MIB), *b = om_malloc(8 * MIB);
    REQUIRE(a && spacer && b);
    fill(a, 4 * MIB, 'a');
    fill(b, 8 * MIB, 'b');
    om_free(b); /* cached, its pages resident */
    play_remaps(3, (const int[]){EFAULT_UNMAPPED, 0, ENOMEM});
    remaps.moves_only = 1;
    play(&fixed_maps, 1, (const int[]){ENOMEM});
    char *p = om_realloc(a, 6 * MIB);
    int moves = remaps.calls, maps = fixed_maps.calls;
    play_remaps(0, NULL);
    REQUIRE(p != NULL);
    if (moves < 3 || maps < 1)
        printf("    gather did not move the cached block (%d moves, %d fixed maps): nothing to test\n", moves, maps);
    CHECK(!unmapped(p, 4096) && range_is_mapped(p, 6 * MIB));
    CHECK(all(p, 4 * MIB, 'a'));
    fill(p, 6 * MIB, 'p');
    /* whatever the cut left in the cache: what moved in counts as data */
    char *z = om_calloc(1, 5 * MIB);
    REQUIRE(z != NULL);
    size_t nonzero = 0;
    for (size_t i = 0; i < 5 * MIB; i++)
        nonzero += z[i] != 0;
    CHECK_EQ(nonzero, 0);
    om_free(z);
    CHECK_EQ(om_heap_check(1), 0);
    om_free(p);
    om_free(spacer);
    om_trim(1);
    CHECK_EQ(mapped_bytes(), base);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        CHECK_CASE(test_remap_across_vmas),
        CHECK_CASE(test_move_across_vmas),
        CHECK_CASE(test_move_half_fails),
        CHECK_CASE(test_remap_half_fails),
        CHECK_CASE(test_realloc_gather_cut_short),
        CHECK_CASE(test_put_back_half_fails),
    };
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
