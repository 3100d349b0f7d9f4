/*
 * override_plugin.c — libovr_plugin.so: memory allocated and freed on the
 * far side of a dlopen (see override_plugin.h).  Deliberately ordinary:
 * plain malloc, realloc and free, resolved by the dynamic loader.
 */
#include "override_plugin.h"

#include <stdlib.h>

void *ovr_plugin_make(size_t n, uint32_t seed)
{
    unsigned char *p = malloc(n);

    for (size_t i = 0; p != NULL && i < n; i++)
        p[i] = ovr_pattern_byte(seed, i);
    return p;
}

uint64_t ovr_plugin_consume(void *p, size_t n, uint32_t seed)
{
    const unsigned char *b = p;
    uint64_t sum = 1;

    for (size_t i = 0; i < n; i++) {
        if (b[i] != ovr_pattern_byte(seed, i)) {
            sum = 0;
            break;
        }
        sum = sum * 1099511628211u + b[i];
    }
    free(p);
    return sum;
}

void *ovr_plugin_resize(void *p, size_t n)
{
    return realloc(p, n);
}
