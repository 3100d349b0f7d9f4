/*
 * out.c — the text and JSON renderings behind out.h.
 *
 * State: one `out` per document, passed explicitly.  JSON is written as it
 * goes (no tree in memory): `depth` is the current nesting and
 * need_comma[depth] says whether the next member needs a separator.  Text
 * keeps only the current table's columns and the chapter counter.
 *
 * Nothing here allocates from objmem: the commands measure the live heap,
 * and the writer must not disturb what it reports.
 */
#include "out.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TEXT_WIDTH = 78, TEXT_INDENT = 2, FACT_LABEL_WIDTH = 36, CELL_MAX = 64 };

void out_init(out *o, FILE *f, int json)
{
    const char *no_color = getenv("NO_COLOR");

    memset(o, 0, sizeof *o);
    o->f = f;
    o->json = json;
    o->color = !json && isatty(fileno(f)) && (no_color == NULL || no_color[0] == '\0');
}

int out_is_json(const out *o)
{
    return o->json;
}

void out_format_bytes(char *buf, size_t cap, uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = -1;

    if (n < 1024) {
        snprintf(buf, cap, "%" PRIu64 " B", n);
        return;
    }
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        u++;
    }
    if (v == (double)(uint64_t)v)
        snprintf(buf, cap, "%.0f %s", v, units[u]);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
}

/* ------------------------------------------------------------ JSON */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_indent(out *o)
{
    fputc('\n', o->f);
    for (int i = 0; i < o->depth; i++)
        fputs("  ", o->f);
}

/* Start a member (or array element when key is NULL) at the current depth. */
static void json_member(out *o, const char *key)
{
    if (o->need_comma[o->depth])
        fputc(',', o->f);
    o->need_comma[o->depth] = 1;
    json_indent(o);
    if (key) {
        json_string(o->f, key);
        fputs(": ", o->f);
    }
}

static void json_open(out *o, const char *key, char bracket)
{
    json_member(o, key);
    fputc(bracket, o->f);
    if (o->depth + 1 < OUT_MAX_DEPTH)
        o->depth++;
    o->need_comma[o->depth] = 0;
}

static void json_close(out *o, char bracket)
{
    int had_members = o->need_comma[o->depth];

    if (o->depth > 0)
        o->depth--;
    if (had_members)
        json_indent(o);
    fputc(bracket, o->f);
}

static void json_value(FILE *f, out_val v)
{
    switch (v.type) {
    case OV_STR:
        json_string(f, v.v.s ? v.v.s : "");
        break;
    case OV_INT:
        fprintf(f, "%" PRId64, v.v.i);
        break;
    case OV_U64:
    case OV_BYTES:
        fprintf(f, "%" PRIu64, v.v.u);
        break;
    case OV_PTR:
        if (v.v.p)
            fprintf(f, "\"0x%" PRIxPTR "\"", (uintptr_t)v.v.p);
        else
            fputs("null", f);
        break;
    case OV_BOOL:
        fputs(v.v.i ? "true" : "false", f);
        break;
    case OV_NONE:
    default:
        fputs("null", f);
        break;
    }
}

/* ------------------------------------------------------------ text */

static void text_value(char *buf, size_t cap, out_val v)
{
    switch (v.type) {
    case OV_STR:
        snprintf(buf, cap, "%s", v.v.s ? v.v.s : "");
        break;
    case OV_INT:
        snprintf(buf, cap, "%" PRId64, v.v.i);
        break;
    case OV_U64:
        snprintf(buf, cap, "%" PRIu64, v.v.u);
        break;
    case OV_BYTES:
        out_format_bytes(buf, cap, v.v.u);
        break;
    case OV_PTR:
        if (v.v.p)
            snprintf(buf, cap, "0x%" PRIxPTR, (uintptr_t)v.v.p);
        else
            snprintf(buf, cap, "-");
        break;
    case OV_BOOL:
        snprintf(buf, cap, "%s", v.v.i ? "yes" : "no");
        break;
    case OV_NONE:
    default:
        snprintf(buf, cap, "-");
        break;
    }
}

static int right_aligned(out_type t)
{
    return t == OV_INT || t == OV_U64 || t == OV_BYTES || t == OV_NONE;
}

static void text_bold(out *o, const char *s)
{
    if (o->color)
        fprintf(o->f, "\033[1m%s\033[0m", s);
    else
        fputs(s, o->f);
}

static int col_width(const out_col *c)
{
    int t = (int)strlen(c->title);
    return c->width > t ? c->width : t;
}

/* ------------------------------------------------------------ API */

void out_doc_begin(out *o, const char *title)
{
    if (o->json) {
        fputc('{', o->f);
        o->depth = 1;
        o->need_comma[1] = 0;
        return;
    }
    text_bold(o, title);
    fputc('\n', o->f);
}

void out_doc_end(out *o)
{
    if (o->json) {
        json_close(o, '}');
        fputc('\n', o->f);
    }
    fflush(o->f);
}

void out_section_begin(out *o, const char *key, const char *title)
{
    char line[128];
    int n;

    if (o->json) {
        json_open(o, key, '{');
        return;
    }
    o->gap = 0;
    n = snprintf(line, sizeof line, "%d. %s", ++o->chapter, title);
    fputc('\n', o->f);
    text_bold(o, line);
    fputc('\n', o->f);
    for (int i = 0; i < n && i < (int)sizeof line; i++)
        fputc('-', o->f);
    fputc('\n', o->f);
}

void out_section_end(out *o)
{
    if (o->json)
        json_close(o, '}');
}

void out_para(out *o, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    int col = 0;

    if (o->json)
        return;
    o->gap = 0;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);

    fputc('\n', o->f);
    for (char *p = buf; *p;) {
        size_t len = strcspn(p, " \n");
        if (col > 0 && col + 1 + (int)len > TEXT_WIDTH) {
            fputc('\n', o->f);
            col = 0;
        }
        if (col == 0) {
            fprintf(o->f, "%*s", TEXT_INDENT, "");
            col = TEXT_INDENT;
        } else if (len > 0) {
            fputc(' ', o->f);
            col++;
        }
        fwrite(p, 1, len, o->f);
        col += (int)len;
        p += len;
        if (*p == '\n') {
            fputc('\n', o->f);
            col = 0;
        }
        if (*p)
            p++;
    }
    if (col > 0)
        fputc('\n', o->f);
    o->gap = 1; /* facts after prose start after a blank line */
}

void out_fact(out *o, const char *key, const char *label, out_val v)
{
    char cell[CELL_MAX];

    if (o->json) {
        json_member(o, key);
        json_value(o->f, v);
        return;
    }
    if (label == NULL)
        return;
    if (o->gap)
        fputc('\n', o->f);
    o->gap = 0;
    text_value(cell, sizeof cell, v);
    fprintf(o->f, "%*s%-*s %s\n", TEXT_INDENT, "", FACT_LABEL_WIDTH, label, cell);
}

void out_object_begin(out *o, const char *key)
{
    if (o->json)
        json_open(o, key, '{');
}

void out_object_end(out *o)
{
    if (o->json)
        json_close(o, '}');
}

void out_table_begin(out *o, const char *key, const out_col *cols, int ncols)
{
    o->cols = cols;
    o->ncols = ncols;
    if (o->json) {
        json_open(o, key, '[');
        return;
    }
    o->gap = 0;
    fputc('\n', o->f);
    for (int pass = 0; pass < 2; pass++) {
        const char *sep = "";
        int pad = 0;
        fprintf(o->f, "%*s", TEXT_INDENT, "");
        for (int i = 0; i < ncols; i++) {
            int w = col_width(&cols[i]);
            if (cols[i].flags & OUT_JSON_ONLY)
                continue;
            fprintf(o->f, "%s%*s", sep, pad, "");
            if (pass == 0)
                fputs(cols[i].title, o->f);
            else
                fprintf(o->f, "%.*s", w, "------------------------------------------------------------");
            pad = pass == 0 ? w - (int)strlen(cols[i].title) : 0;
            sep = "  ";
        }
        fputc('\n', o->f);
    }
}

static void text_row(out *o, const out_val *vals)
{
    char cell[CELL_MAX];
    int pending = 0; /* spaces owed by a left-aligned cell, trimmed at the end */

    fprintf(o->f, "%*s", TEXT_INDENT, "");
    for (int i = 0, first = 1; i < o->ncols; i++) {
        int w = col_width(&o->cols[i]);
        int len;

        if (o->cols[i].flags & OUT_JSON_ONLY)
            continue;
        text_value(cell, sizeof cell, vals[i]);
        len = (int)strlen(cell);
        fprintf(o->f, "%*s", pending + (first ? 0 : 2), "");
        first = 0;
        if (right_aligned(vals[i].type)) {
            fprintf(o->f, "%*s", w, cell);
            pending = 0;
        } else {
            fputs(cell, o->f);
            pending = len < w ? w - len : 0;
        }
    }
    fputc('\n', o->f);
}

void out_row(out *o, const out_val *vals)
{
    if (!o->json) {
        text_row(o, vals);
        return;
    }
    json_member(o, NULL);
    fputc('{', o->f);
    for (int i = 0, first = 1; i < o->ncols; i++) {
        if (o->cols[i].flags & OUT_TEXT_ONLY)
            continue;
        if (!first)
            fputs(", ", o->f);
        first = 0;
        json_string(o->f, o->cols[i].key);
        fputs(": ", o->f);
        json_value(o->f, vals[i]);
    }
    fputc('}', o->f);
}

void out_table_end(out *o)
{
    if (o->json)
        json_close(o, ']');
    else
        o->gap = 1; /* facts after a table start after a blank line */
    o->cols = NULL;
    o->ncols = 0;
}

void out_raw_json(out *o, const char *key, const char *json)
{
    size_t len = strlen(json);

    if (!o->json)
        return;
    while (len > 0 && (json[len - 1] == '\n' || json[len - 1] == ' '))
        len--;
    json_member(o, key);
    fwrite(json, 1, len, o->f);
}
