/*
 * fuzz.h — what the harnesses share: reading the input as a stream of
 * choices, and the check that stops a run.
 *
 * An input is consumed byte by byte; past its end every read is 0, so a
 * short input is still a whole run (the fuzzer grows inputs from
 * nothing).  A failed check prints where and what, then aborts: libFuzzer
 * saves the input as a crash, and the replay driver's CTest test fails.
 */
#ifndef OBJMEM_FUZZ_H
#define OBJMEM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fz_input {
    const uint8_t *p;
    size_t left;
} fz_input;

static inline int fz_more(const fz_input *in) { return in->left > 0; }

static inline unsigned fz_byte(fz_input *in) {
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

/* A number below n (n >= 1), from one or two bytes. */
static inline unsigned fz_below(fz_input *in, unsigned n) {
    unsigned v = fz_byte(in);
    if (n > 256)
        v = v << 8 | fz_byte(in);
    return v % n;
}

static inline uint64_t fz_u64(fz_input *in, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | fz_byte(in);
    return v;
}

#define FZ_CHECK(cond, ...)                                                                                            \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                                  \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* OBJMEM_FUZZ_H */
