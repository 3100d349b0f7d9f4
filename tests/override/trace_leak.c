/*
 * trace_leak.c — a program with planted leaks for the tracing check
 * (check_trace.cmake): it frees everything but the blocks made at
 * LEAK_LINE, and prints that line so the check knows which file:line the
 * leak report must name.  Built with -g -O0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *keep[64];

static void *leak_site(size_t n) { return malloc(n); } static const int leak_line = __LINE__;

int main(void) {
    for (int i = 0; i < 1000; i++) {
        char *p = malloc((size_t)(16 + i));
        memset(p, 1, 16);
        free(p);
    }
    for (int i = 0; i < 5; i++) {
        keep[i] = leak_site(4000);
        memset(keep[i], 2, 4000);
    }
    printf("leak at trace_leak.c:%d\n", leak_line);
    return 0;
}
