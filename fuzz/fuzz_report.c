/*
 * fuzz_report.c — `objmem report FILE.json` and `objmem report --diff OLD
 * NEW` (tools/objmem/report.c) on any file: the reader of tracing reports
 * must neither crash nor read or write out of bounds, whatever the file
 * holds.
 *
 * The input is the file; a 0xff byte, if there is one, splits it into the
 * OLD and NEW of --diff, which then runs too.  The files live in memory
 * (memfd, read by path through /proc/self/fd) and the command's output
 * goes to /dev/null.  The harness checks nothing but the exit status
 * (0 or 1) itself: the sanitizers (ASan, UBSan) are the checks.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz.h"

static void run(int argc, char **argv) {
    int rc = cli_cmd_report(argc, argv);
    fflush(stdout);
    FZ_CHECK(rc == CLI_OK || rc == CLI_FAIL, "objmem report returned %d", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    char a[64], b[64];
    if (!ready) {
        FZ_CHECK(freopen("/dev/null", "w", stdout) != NULL, "stdout to /dev/null");
        ready = 1;
    }
    const uint8_t *cut = memchr(data, 0xff, size);
    int fa = fz_file_of("report", data, size, a, sizeof a);
    run(2, (char *[]){"report", a, NULL});
    if (cut) {
        size_t n = (size_t)(cut - data);
        int fo = fz_file_of("old", data, n, a, sizeof a);
        int fn = fz_file_of("new", cut + 1, size - n - 1, b, sizeof b);
        run(4, (char *[]){"report", "--diff", a, b, NULL});
        close(fo);
        close(fn);
    }
    close(fa);
    return 0;
}
