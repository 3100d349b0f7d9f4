/*
 * victim.c — one memory error per run, for debug mode to catch (run by
 * check_debug.cmake under OBJMEM_DEBUG=1, with the drop-in preloaded or
 * linked):
 *
 *   clean        every malloc-family call used right; fills and sizes checked
 *   overflow     a one-byte write past a 13-byte block, then free
 *   underflow    a one-byte write before it, then free
 *   uaf          a write to a freed block, found by om_debug_check
 *   uaf-evict    the same, found when the block leaves a 1 MiB quarantine
 *   double       a block freed twice while in the quarantine
 *   double-late  freed twice with no quarantine (OBJMEM_DEBUG_QUARANTINE_MB=0)
 *   stack        free of a stack array
 *   abort        overflow with the default handler: the report, then abort
 */
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "victim.h"

static int fails;
#define EXPECT(c)                                                   \
    do {                                                            \
        if (!(c)) {                                                 \
            fprintf(stderr, "victim: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            fails++;                                                \
        }                                                           \
    } while (0)

/* A write the compiler must make, even out of bounds. */
__attribute__((noinline)) static void poke(void *p, ptrdiff_t i) { ((volatile char *)p)[i] = 'x'; }

static int all(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void clean(void) {
    unsigned char *p = malloc(100);
    EXPECT(p && all(p, 100, 0xCD) && malloc_usable_size(p) == 100);
    memset(p, 1, 100);
    unsigned char *z = calloc(10, 30);
    EXPECT(z && all(z, 300, 0));
    p = realloc(p, 5000);
    EXPECT(p && all(p, 100, 1) && all(p + 100, 4900, 0xCD));
    p = realloc(p, 10);
    EXPECT(p && all(p, 10, 1));
    void *a = aligned_alloc(256, 1000), *m = memalign(4096, 10), *pm = NULL;
    EXPECT(a && ((uintptr_t)a & 255) == 0 && m && ((uintptr_t)m & 4095) == 0);
    EXPECT(posix_memalign(&pm, 64, 3) == 0 && ((uintptr_t)pm & 63) == 0);
    char *big = malloc(3 << 20);
    EXPECT(big && malloc_usable_size(big) == 3 << 20);
    memset(big, 7, 3 << 20);
    char *s = strdup("objmem");
    EXPECT(s && strcmp(s, "objmem") == 0);
    free(s);
    free(big);
    free(pm);
    free(m);
    free(a);
    free(z);
    p = realloc(p, 0); /* the drop-in frees, as glibc does */
    EXPECT(p == NULL);
    free(NULL);
    /* churn through the quarantine */
    for (int i = 0; i < 20000; i++) {
        void *q = malloc((size_t)(i % 700) + 1);
        EXPECT(q);
        free(q);
    }
    printf("clean: %d failed\n", fails);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "clean";
    victim_start(strcmp(mode, "abort") == 0);
    if (strcmp(mode, "clean") == 0) {
        clean();
    } else if (strcmp(mode, "overflow") == 0 || strcmp(mode, "abort") == 0) {
        char *p = malloc(13); victim_site(__FILE__, __LINE__);
        victim_block(p, 13);
        poke(p, 13);
        free(p);
    } else if (strcmp(mode, "underflow") == 0) {
        char *p = malloc(13); victim_site(__FILE__, __LINE__);
        victim_block(p, 13);
        poke(p, -1);
        free(p);
    } else if (strcmp(mode, "uaf") == 0 || strcmp(mode, "uaf-evict") == 0) {
        char *p = malloc(24); victim_site(__FILE__, __LINE__);
        victim_block(p, 24);
        free(p);
        poke(p, 3);
        if (strcmp(mode, "uaf-evict") == 0)
            for (int i = 0; i < 40; i++)
                free(malloc(64 << 10));
    } else if (strcmp(mode, "double") == 0 || strcmp(mode, "double-late") == 0) {
        char *p = malloc(40); victim_site(__FILE__, __LINE__);
        victim_block(p, 40);
        free(p);
        free(p);
    } else if (strcmp(mode, "stack") == 0) {
        char buf[64];
        char *volatile p = buf;
        free(p);
    } else {
        fprintf(stderr, "victim: unknown mode %s\n", mode);
        return 2;
    }
    victim_end();
    return fails ? 1 : 0;
}
