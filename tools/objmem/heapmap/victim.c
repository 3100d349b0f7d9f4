/*
 * victim.c — a small program for the heap map's CLI tests: it allocates
 * and frees blocks of many sizes for about 300 ms (long enough for
 * several timed snapshots), then exits with the status given as its first
 * argument.  Other arguments are ignored (a test puts "</script>" there,
 * to see it escaped in the page).
 */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    static void *keep[4096];
    struct timespec pause = {0, 10 * 1000 * 1000};

    for (int round = 0; round < 30; round++) {
        for (int i = 0; i < 4096; i++) {
            free(keep[i]);
            keep[i] = malloc(16 + (size_t)((i * 37 + round * 11) % 2000));
        }
        nanosleep(&pause, NULL);
    }
    for (int i = 0; i < 4096; i += 2)
        free(keep[i]);
    return argc > 1 ? atoi(argv[1]) : 0;
}
