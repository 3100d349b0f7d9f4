/*
 * secure_victim.c — one misuse per run, for hardened mode on the drop-in
 * (check_secure.cmake runs it with LD_PRELOAD and OBJMEM_SECURE=1).  It
 * prints "ptr=<the pointer>" before the misuse; the check wants the
 * process to die of SIGABRT with objmem's report naming that pointer.
 * "clean" exercises the malloc family and must exit 0 in silence.
 */
#include <alloca.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Alignas(16) char global[64];

static void announce(const void *p) {
    printf("ptr=%p\n", p);
    fflush(stdout);
}

/* The compiler must not see these writes as out of bounds.  The byte
 * written is never the one there (a pad byte is the process's, random). */
static __attribute__((noinline)) void poke(char *p, long off) {
    volatile char *v = p;
    v[off] = (char)~v[off];
}

static int clean(void) {
    void *v[512] = {0};
    for (int i = 0; i < 20000; i++) {
        int k = (i * 7919) % 512;
        free(v[k]);
        size_t n = (size_t)((i * 2654435761u) % (i % 50 ? 600 : 300000));
        v[k] = i % 3 ? malloc(n) : calloc(1, n);
        if (!v[k] && n)
            return 1;
        memset(v[k], i, n);
        if (i % 11 == 0)
            v[k] = realloc(v[k], n / 2 + 1);
    }
    for (int k = 0; k < 512; k++)
        free(v[k]);
    void *a = NULL;
    if (posix_memalign(&a, 256, 1000) || ((uintptr_t)a & 255))
        return 1;
    free(a);
    free(strdup("hardened"));
    return 0;
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "clean";
    if (!strcmp(m, "clean"))
        return clean();
    char *p = malloc(8), *big = malloc(256 * 1024);
    if (!strcmp(m, "stack")) {
        _Alignas(16) char buf[32];
        announce(buf);
        free(buf);
    } else if (!strcmp(m, "alloca")) {
        char *a = alloca(64);
        announce(a);
        free(a);
    } else if (!strcmp(m, "global")) {
        announce(global);
        free(global);
    } else if (!strcmp(m, "far")) {
        announce(p + ((size_t)1 << 30));
        free(p + ((size_t)1 << 30));
    } else if (!strcmp(m, "unaligned")) {
        announce(p + 1);
        free(p + 1);
    } else if (!strcmp(m, "overflow")) {
        announce(p);
        poke(p, 8);
        free(p);
    } else if (!strcmp(m, "overflow_large")) {
        announce(big);
        poke(big, 256 * 1024);
        free(big);
    } else if (!strcmp(m, "double")) {
        announce(p);
        free(p);
        free(p);
    } else if (!strcmp(m, "double_aba")) {
        char *q = malloc(8);
        announce(p);
        free(p);
        free(q);
        free(p);
    } else if (!strcmp(m, "delete_array")) { /* new[] then delete, through the drop-in's operators */
        void *(*new_array)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "_Znam");
        void (*del)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "_ZdlPv");
        if (!new_array || !del)
            return 3;
        void *q = new_array(40);
        announce(q);
        del(q);
    } else {
        return 2;
    }
    puts("SURVIVED");
    return 0;
}
