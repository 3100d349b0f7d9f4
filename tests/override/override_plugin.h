/*
 * override_plugin.h — the tiny shared library that override_program
 * dlopens, to move memory across a dlopen boundary in both directions.
 * The plugin links no allocator: its malloc is whatever the process's is.
 * Buffers carry the pattern ovr_pattern_byte(seed, i).
 */
#ifndef OVR_PLUGIN_H
#define OVR_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

static inline unsigned char ovr_pattern_byte(uint32_t seed, size_t i)
{
    return (unsigned char)(seed * 31u + (uint32_t)i * 7u + (uint32_t)(i >> 8));
}

/* malloc(n) filled with the pattern, or NULL. */
void *ovr_plugin_make(size_t n, uint32_t seed);
/* Check the pattern of a buffer the caller allocated, free it; returns a
 * checksum of the bytes, or 0 if the pattern was wrong. */
uint64_t ovr_plugin_consume(void *p, size_t n, uint32_t seed);
/* realloc(p, n) inside the plugin; the first min(old, n) bytes survive. */
void *ovr_plugin_resize(void *p, size_t n);

#endif /* OVR_PLUGIN_H */
