/*
 * heapmap.c — `objmem heapmap SNAPSHOTS.json -o FILE.html`: a file of heap
 * snapshots (JSON Lines, as om_heap_snapshot_write and the drop-in's
 * OBJMEM_SNAPSHOT_FILE write them) made into one self-contained page.
 *
 * The page is the template heapmap/template.html, built into this binary
 * (heapmap/embed.cmake), with its placeholder
 *     / *OBJMEM_SNAPSHOTS* /null        (without the spaces)
 * replaced by a JSON array of the snapshots, in the file's order.  The
 * data sits in a <script> element, so no "</" may appear in it: JSON has
 * '<' only inside strings, where "</" is written "<\/" and "<!--"
 * "\u003c!--" (the same strings to a JSON reader).  A line that is not a
 * whole JSON object (the last one of a program killed while writing) is
 * left out, with a warning; a file with no snapshot is an error (and
 * no page is written).
 *
 * `objmem run --heapmap` and `objmem tour --heapmap` use the same
 * converter (cli_heapmap_convert).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char cli_heapmap_template[];
extern const size_t cli_heapmap_template_len;

static const char placeholder[] = "/*OBJMEM_SNAPSHOTS*/null";

const char cli_heapmap_help[] =
    "Makes one self-contained HTML page (no network, no other file) of the heap\n"
    "snapshots in SNAPSHOTS.json: one JSON document a line, as the drop-in malloc\n"
    "appends them with OBJMEM_SNAPSHOT_FILE=FILE (every OBJMEM_SNAPSHOT_EVERY_MS,\n"
    "default 100) or a program writes them with om_heap_snapshot_write().\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  the page to write (required)\n"
    "  -h, --help         this message\n"
    "SNAPSHOTS.json '-' reads standard input.  A line that is not a whole JSON\n"
    "object is skipped with a warning.\n"
    "\n"
    "to capture and convert in one step:\n"
    "  objmem run --heapmap FILE.html [--every MS] -- CMD [ARGS...]\n"
    "  objmem tour --heapmap DIR     one page per chapter\n";

/* ---- reading ------------------------------------------------------------------ */
/* The whole of path ('-': stdin), NUL-terminated, malloc'd; NULL after saying why. */
static char *read_all(const char *who, const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 65536, n = 0;
    char *buf = NULL;

    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
        return NULL;
    }
    for (;;) {
        char *more = realloc(buf, cap + 1);
        if (more == NULL) {
            fprintf(stderr, "%s: %s: out of memory\n", who, path);
            break;
        }
        buf = more;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            if (ferror(f)) {
                fprintf(stderr, "%s: %s: read error\n", who, path);
                break;
            }
            buf[n] = '\0';
            if (f != stdin)
                fclose(f);
            *len = n;
            return buf;
        }
        cap *= 2;
    }
    free(buf);
    if (f != stdin)
        fclose(f);
    return NULL;
}

/* Is s[0..n) one whole JSON object (brackets balanced outside strings,
 * strings closed, nothing after it)?  A structural check, enough to leave
 * out a line cut short. */
static int whole_object(const char *s, size_t n)
{
    char stack[128];
    size_t depth = 0, i = 0;
    int in_string = 0;

    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    if (i == n || s[i] != '{')
        return 0;
    for (; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            else if ((unsigned char)c < 0x20)
                return 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (depth == sizeof stack)
                return 0;
            stack[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[--depth] != c)
                return 0;
            if (depth == 0)
                break;
        }
    }
    if (i >= n || depth != 0)
        return 0;
    for (i++; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* ---- writing ---------------------------------------------------------------------- */
/* One snapshot, with "</" and "<!--" written so that they cannot end or
 * confuse the script element (they occur only inside strings). */
static void write_escaped(FILE *f, const char *s, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] != '<')
            continue;
        if (i + 1 < n && s[i + 1] == '/') {
            fwrite(s + start, 1, i + 1 - start, f);
            fputc('\\', f);
            start = i + 1;
        } else if (i + 3 < n && memcmp(s + i, "<!--", 4) == 0) {
            fwrite(s + start, 1, i - start, f);
            fputs("\\u003c", f);
            start = i + 1;
        }
    }
    fwrite(s + start, 1, n - start, f);
}

/* The snapshots of text (len bytes), one a line, as a JSON array to f
 * (NULL: only count them, and warn of the lines left out); returns how
 * many. */
static size_t write_array(FILE *f, const char *who, const char *in, const char *text, size_t len)
{
    size_t count = 0, line = 0;

    if (f)
        fputc('[', f);
    for (size_t at = 0; at < len; line++) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - at;
        int blank = 1;
        for (size_t i = at; i < end; i++)
            blank &= text[i] == ' ' || text[i] == '\t' || text[i] == '\r';
        if (!blank && whole_object(text + at, n)) {
            if (f) {
                fputs(count ? ",\n" : "\n", f);
                write_escaped(f, text + at, n);
            }
            count++;
        } else if (!blank && !f) {
            fprintf(stderr, "%s: %s:%zu: not a whole JSON object (cut short?); skipped\n", who, in, line + 1);
        }
        at = end + 1;
    }
    if (f)
        fputs("]", f);
    return count;
}

int cli_heapmap_convert(const char *who, const char *in, const char *out_path, size_t *count)
{
    const char *mark = strstr(cli_heapmap_template, placeholder);
    size_t len = 0, n;
    char *text;
    FILE *f;
    int bad;

    if (mark == NULL) {
        fprintf(stderr, "%s: the page template has no %s placeholder\n", who, placeholder);
        return CLI_FAIL;
    }
    text = read_all(who, in, &len);
    if (text == NULL)
        return CLI_FAIL;
    n = write_array(NULL, who, in, text, len);
    if (count)
        *count = n;
    if (n == 0) {
        fprintf(stderr, "%s: %s: no heap snapshot in it; %s not written\n", who, in, out_path);
        free(text);
        return CLI_FAIL;
    }
    f = fopen(out_path, "wb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", who, out_path, strerror(errno));
        free(text);
        return CLI_FAIL;
    }
    fwrite(cli_heapmap_template, 1, (size_t)(mark - cli_heapmap_template), f);
    n = write_array(f, who, in, text, len);
    fputs(mark + strlen(placeholder), f);
    free(text);
    bad = ferror(f);
    if (fclose(f) != 0)
        bad = 1;
    if (bad) {
        fprintf(stderr, "%s: %s: write error: %s\n", who, out_path, strerror(errno));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_cmd_heapmap(int argc, char **argv)
{
    const char *in = NULL, *out_path = NULL;

    for (int i = 1; i < argc; i++) {
        if (cli_is_help_option(argv[i]))
            return cli_help("heapmap") == CLI_OK ? CLI_DONE : CLI_FAIL;
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0')
                return cli_usage_error("heapmap", "%s needs a file name", argv[i]);
            out_path = argv[++i];
        } else if (strncmp(argv[i], "--output=", 9) == 0 && argv[i][9] != '\0') {
            out_path = argv[i] + 9;
        } else if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) {
            return cli_usage_error("heapmap", "unknown option '%s'", argv[i]);
        } else if (in != NULL) {
            return cli_usage_error("heapmap", "one snapshot file only ('%s' and '%s')", in, argv[i]);
        } else {
            in = argv[i];
        }
    }
    if (in == NULL)
        return cli_usage_error("heapmap", "no snapshot file");
    if (out_path == NULL)
        return cli_usage_error("heapmap", "no page to write (-o FILE.html)");
    size_t n = 0;
    int rc = cli_heapmap_convert("objmem heapmap", in, out_path, &n);
    if (rc == CLI_OK)
        fprintf(stderr, "objmem heapmap: %s: %zu snapshot%s\n", out_path, n, n == 1 ? "" : "s");
    return rc;
}
