/*
 * replay.c — runs a fuzz harness's LLVMFuzzerTestOneInput on files, without
 * libFuzzer: each FILE given, and each regular file of each DIRECTORY
 * given (in name order).  This is how the kept corpus and every crash
 * found stay regression tests (CTest's fuzz_*), built by any compiler.
 *
 *   fuzz_replay_NAME FILE|DIRECTORY...
 *
 * Exit status: 0 after every input ran (a failing check aborts); 1 if no
 * input was found or one could not be read.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0, n;
    uint8_t *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    /* A copy of exactly len bytes, so that a read past the input is one a
     * sanitizer sees, as under libFuzzer. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 1;
}

static int run_dir(const char *dir) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort), count = 0;
    if (n < 0) {
        perror(dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            int r = run_file(path);
            count = r < 0 || count < 0 ? -1 : count + r;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv) {
    int total = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int r = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
        if (r < 0)
            bad = 1;
        else
            total += r;
    }
    fprintf(stderr, "%d inputs replayed\n", total);
    if (total == 0)
        fprintf(stderr, "no input found\n");
    return bad || total == 0;
}
