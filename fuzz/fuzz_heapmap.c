/*
 * fuzz_heapmap.c — `objmem heapmap` (tools/objmem/heapmap.c): any file of
 * heap snapshots (JSON Lines) made into a page.
 *
 * The input is the file.  cli_heapmap_convert writes the page into a
 * file in memory; then the page is checked: it is the template with its
 * placeholder replaced by a JSON array ('[' ... ']'), and inside that
 * array no "</" and no "<!--" (either would end or confuse the <script>
 * element the data sits in).  A file without any whole object must fail
 * and write no page.  The sanitizers check the reading.
 *
 * The tests' strict JSON reader (tests/jsonparse.h) reads each line too,
 * and is fuzzed so: a line it takes for a JSON object must be one of the
 * snapshots heapmap keeps (its check is structural only, so it may keep
 * more).
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz.h"
#include "jsonparse.h"

extern const char cli_heapmap_template[];
extern const size_t cli_heapmap_template_len;

static const char placeholder[] = "/*OBJMEM_SNAPSHOTS*/null";

static void check_page(int fd, size_t count) {
    off_t len = lseek(fd, 0, SEEK_END);
    FZ_CHECK(len > 0, "no page written");
    char *page = malloc((size_t)len + 1);
    FZ_CHECK(page && pread(fd, page, (size_t)len, 0) == len, "reading the page back");
    page[len] = '\0';
    const char *mark = strstr(cli_heapmap_template, placeholder);
    size_t head = (size_t)(mark - cli_heapmap_template), tail = strlen(mark + strlen(placeholder));
    FZ_CHECK((size_t)len >= head + tail + 2, "the page is shorter than its template");
    FZ_CHECK(memcmp(page, cli_heapmap_template, head) == 0, "the page's start is not the template's");
    FZ_CHECK(memcmp(page + len - tail, mark + strlen(placeholder), tail) == 0, "the page's end is not the template's");
    const char *data = page + head;
    size_t n = (size_t)len - head - tail;
    FZ_CHECK(data[0] == '[' && data[n - 1] == ']', "the snapshots are not an array");
    for (size_t i = 0; i + 1 < n; i++) {
        FZ_CHECK(!(data[i] == '<' && data[i + 1] == '/'), "\"</\" at byte %zu of the data", i);
        FZ_CHECK(!(i + 3 < n && memcmp(data + i, "<!--", 4) == 0), "\"<!--\" at byte %zu of the data", i);
    }
    FZ_CHECK(count > 0, "a page with no snapshot");
    free(page);
}

/* The lines of data that jsonparse.h reads as an object. */
static size_t json_objects(const uint8_t *data, size_t size) {
    size_t n = 0;
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - data) : size;
        char *line = malloc(end - at + 1);
        FZ_CHECK(line != NULL, "malloc");
        memcpy(line, data + at, end - at);
        line[end - at] = '\0';
        if (!memchr(data + at, '\0', end - at)) { /* a NUL would end the reader's text early */
            json *j = json_parse(line, NULL);
            n += j && j->kind == JSON_OBJ;
            json_free(j);
        }
        free(line);
        at = end + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char in[64], out[64];
    int fi = fz_file_of("snapshots", data, size, in, sizeof in);
    int fo = fz_file_of("page", data, 0, out, sizeof out);
    size_t count = 0;
    int rc = cli_heapmap_convert("fuzz", in, out, &count);
    FZ_CHECK(rc == CLI_OK || rc == CLI_FAIL, "cli_heapmap_convert returned %d", rc);
    size_t objects = json_objects(data, size);
    FZ_CHECK(count >= objects, "heapmap kept %zu lines, %zu are JSON objects", count, objects);
    if (rc == CLI_OK)
        check_page(fo, count);
    else
        FZ_CHECK(lseek(fo, 0, SEEK_END) == 0, "a page written after a failure");
    close(fi);
    close(fo);
    return 0;
}
