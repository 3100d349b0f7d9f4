/*
 * out.h — one writer, two renderings: readable terminal text or one JSON
 * document.
 *
 * The tour and the other commands say each fact once; this layer decides
 * how it looks.  A document is a sequence of sections; a section holds
 * prose (text only), facts (label: value) and tables (aligned columns in
 * text, an array of objects in JSON).  Every value is a tagged out_val so
 * that a table row carries its own types:
 *
 *   text                                   JSON
 *   ---------------------------------      ------------------------------
 *   1. Size classes                        "size_classes": {
 *      request  class  block  kind           "blocks": [
 *            1      0     16  small            {"request": 1, "class": 0,
 *
 * Addresses print as hex in both; byte counts print as "64.0 MiB" in text
 * and as plain integers in JSON.  Colour (bold headings) only when stdout
 * is a terminal and NO_COLOR is unset.
 */
#ifndef OBJMEM_CLI_OUT_H
#define OBJMEM_CLI_OUT_H

#include <stdint.h>
#include <stdio.h>

typedef enum out_type {
    OV_NONE = 0, /* unknown: "n/a" / null */
    OV_STR,      /* text */
    OV_INT,      /* signed integer */
    OV_U64,      /* unsigned integer */
    OV_BYTES,    /* byte count: human-readable in text */
    OV_PTR,      /* address: hex */
    OV_BOOL      /* yes/no, true/false */
} out_type;

typedef struct out_val {
    out_type type;
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        const void *p;
    } v;
} out_val;

#define OV_S(x) ((out_val){.type = OV_STR, .v.s = (x)})
#define OV_I(x) ((out_val){.type = OV_INT, .v.i = (int64_t)(x)})
#define OV_U(x) ((out_val){.type = OV_U64, .v.u = (uint64_t)(x)})
#define OV_B(x) ((out_val){.type = OV_BYTES, .v.u = (uint64_t)(x)})
#define OV_P(x) ((out_val){.type = OV_PTR, .v.p = (const void *)(x)})
#define OV_YN(x) ((out_val){.type = OV_BOOL, .v.i = (x) ? 1 : 0})
#define OV_NA ((out_val){.type = OV_NONE})

/* A table column: JSON key, text heading, text width (0: width of title),
 * and flags: OUT_TEXT_ONLY for a column that is only a picture (a bar),
 * OUT_JSON_ONLY for a detail the text leaves to the prose. */
typedef struct out_col {
    const char *key;
    const char *title;
    int width;
    int flags;
} out_col;

#define OUT_TEXT_ONLY 1
#define OUT_JSON_ONLY 2

#define OUT_MAX_DEPTH 8

typedef struct out {
    FILE *f;
    int json;
    int color;
    int depth;                    /* JSON nesting */
    int need_comma[OUT_MAX_DEPTH];
    const out_col *cols;          /* current table */
    int ncols;
    int chapter;                  /* text chapter number */
    int gap;                      /* text: a table or a paragraph just ended */
} out;

void out_init(out *o, FILE *f, int json);
int out_is_json(const out *o);

/* The whole document.  Text: a title line.  JSON: the outer object. */
void out_doc_begin(out *o, const char *title);
void out_doc_end(out *o);

/* A numbered chapter (text) / a keyed object (JSON). */
void out_section_begin(out *o, const char *key, const char *title);
void out_section_end(out *o);

/* Prose, word-wrapped and indented; text only.  "\n" forces a break. */
void out_para(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One fact: "label      value" in text, "key": value in JSON.  A NULL
 * label makes the fact JSON-only (the text says it in prose). */
void out_fact(out *o, const char *key, const char *label, out_val v);

/* A nested object or array inside a section (JSON only; text ignores). */
void out_object_begin(out *o, const char *key);
void out_object_end(out *o);

/* Tables: header at begin, one line / object per row. */
void out_table_begin(out *o, const char *key, const out_col *cols, int ncols);
void out_row(out *o, const out_val *vals);
void out_table_end(out *o);

/* A JSON value produced elsewhere (e.g. om_stats_format), inserted as is. */
void out_raw_json(out *o, const char *key, const char *json);

/* Text helpers shared by the commands. */
void out_format_bytes(char *buf, size_t cap, uint64_t n);

#endif /* OBJMEM_CLI_OUT_H */
