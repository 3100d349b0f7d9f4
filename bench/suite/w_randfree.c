/*
 * w_randfree.c — build many small objects, then free them all in a random
 * order, or in address order.
 *
 * Each of --reps repetitions allocates --objects blocks (default 1 M)
 * with CPython's size mix (75% 16..128 bytes, ~24% 129..512, ~1%
 * 513..8192) and stamps them, then:
 *   --order random   shuffles the pointer array (Fisher-Yates) and frees
 *                    in that order: the frees jump all over the heap, as
 *                    when a large object graph dies in no useful order;
 *   --order address  sorts the pointers by address (an LSD radix sort)
 *                    and frees in that order: a sweep through memory.
 *   --order alloc    frees in allocation order (a reference point).
 * Each block is checked before its free.  The pointer arrays come from
 * mmap, not from the allocator under test.  Sorting and shuffling cost
 * the same for every allocator.
 */
#include "suite.h"

static void radix_sort(uintptr_t *a, uintptr_t *tmp, size_t n)
{
    /* 16 bits a pass; user-space addresses fit in 48 bits */
    static size_t count[1 << 16];
    for (int shift = 0; shift < 48; shift += 16) {
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> shift) & 0xFFFF]++;
        size_t pos = 0;
        for (size_t d = 0; d < (1 << 16); d++) {
            size_t c = count[d];
            count[d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & 0xFFFF]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

int main(int argc, char **argv)
{
    su_opts o;
    su_opts_init(&o, "w_randfree", "Allocate many small objects, free them in random or address order.");
    su_opts_add(&o, "order", "random | address | alloc (default random)");
    su_opts_add(&o, "objects", "objects per repetition (default 1000000, quick 200000)");
    su_opts_add(&o, "reps", "repetitions (default 5, quick 3)");
    su_opts_add(&o, "seed", "RNG seed (default 1)");
    su_opts_parse(&o, argc, argv);
    const char *order = su_opt_str(&o, "order", "random");
    int mode = !strcmp(order, "random") ? 0 : !strcmp(order, "address") ? 1 : !strcmp(order, "alloc") ? 2 : -1;
    if (mode < 0)
        su_die("unknown --order '%s'", order);
    long N = su_opt_long(&o, "objects", 1000000, 200000, 1, 1L << 32);
    long R = su_opt_long(&o, "reps", 5, 3, 1, 1L << 20);
    uint64_t seed = (uint64_t)su_opt_long(&o, "seed", 1, 1, 0, 1L << 62);

    /* Each object's size and key are found again from its address: the
     * object holds them (first two words, as su_stamp_self). */
    uintptr_t *ptr = su_scratch(sizeof(uintptr_t) * (size_t)N);
    uintptr_t *tmp = su_scratch(sizeof(uintptr_t) * (size_t)N);
    su_rng rng;
    su_rng_seed(&rng, seed, 0);
    uint64_t sum = 0, bytes = 0;
    for (long r = 0; r < R; r++) {
        for (long i = 0; i < N; i++) {
            size_t n = su_size_python(&rng);
            void *p = su_nonnull(malloc(n), n);
            su_stamp_self(p, n, su_next(&rng));
            ptr[i] = (uintptr_t)p;
            bytes += n;
        }
        if (mode == 0) {
            for (long i = N - 1; i > 0; i--) {
                long j = (long)su_below(&rng, (uint32_t)(i + 1));
                uintptr_t t = ptr[i];
                ptr[i] = ptr[j];
                ptr[j] = t;
            }
        } else if (mode == 1) {
            radix_sort(ptr, tmp, (size_t)N);
        }
        for (long i = 0; i < N; i++) {
            void *p = (void *)ptr[i];
            if (!su_check_self(p, &sum))
                su_die("an object was overwritten while live");
            free(p);
        }
    }
    printf("order=%s objects=%ld reps=%ld bytes=%llu chk=%016llx\n", order, N, R,
           (unsigned long long)bytes, (unsigned long long)sum);
    return 0;
}
