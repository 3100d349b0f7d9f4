/*
 * fuzz.h — what the harnesses share: reading the input as a stream of
 * choices, the check that stops a run, and the input as a file.
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
#include <sys/mman.h>
#include <unistd.h>

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


/* The input as a file (a memfd): its path into path; the descriptor, for
 * the caller to close.  For harnesses that drive a command reading files. */
static inline int fz_file_of(const char *name, const uint8_t *data, size_t size, char *path, size_t cap) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    FZ_CHECK(fd >= 0, "memfd_create");
    FZ_CHECK(write(fd, data, size) == (ssize_t)size, "writing the input to a memfd");
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

#endif /* OBJMEM_FUZZ_H */
