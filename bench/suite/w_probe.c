/*
 * w_probe.c — which library serves malloc in this process?  bench/suite.sh
 * runs it once under each allocator's preload before the measurements:
 * it prints the path of the shared object that defines the malloc and
 * free this program calls (found with dladdr), and allocates and frees a
 * few blocks through them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *owner(void *fn)
{
    Dl_info info;
    if (!dladdr(fn, &info) || !info.dli_fname)
        return "?";
    return info.dli_fname;
}

int main(void)
{
    /* through volatile pointers, so the addresses are the resolved ones */
    void *(*volatile m)(size_t) = malloc;
    void (*volatile f)(void *) = free;
    for (int i = 0; i < 1000; i++) {
        char *p = m((size_t)(16 + i * 7));
        if (!p)
            return 2;
        memset(p, i, (size_t)(16 + i * 7));
        f(p);
    }
    printf("malloc=%s\nfree=%s\n", owner((void *)m), owner((void *)f));
    return 0;
}
