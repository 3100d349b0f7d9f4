/*
 * jsonparse.h — a small strict JSON reader for tests (header only).
 *
 *     json *doc = json_parse(text, &err);      NULL and err set if invalid
 *     json_get(doc, "arenas") -> array; doc->n items in doc->items
 *     json_num(json_get(doc, "seq"))           the number (double)
 *     json_free(doc);
 *
 * RFC 8259's grammar, whole text (white space around one value); strings
 * are kept with their escapes undone only for \" \\ \/ (enough to compare
 * keys and plain values).  Memory comes from libc's malloc, never from
 * objmem, so that reading a snapshot does not change the heap it shows.
 */
#ifndef OM_TEST_JSONPARSE_H
#define OM_TEST_JSONPARSE_H

#include <stdlib.h>
#include <string.h>

typedef enum json_kind { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } json_kind;

typedef struct json {
    json_kind kind;
    double num;        /* JSON_NUM; JSON_BOOL: 0 or 1 */
    char *str;         /* JSON_STR */
    size_t n;          /* JSON_ARR, JSON_OBJ: items */
    struct json **items;
    char **keys;       /* JSON_OBJ */
} json;

typedef struct json_reader {
    const char *p;
    const char *err;
    int depth;
} json_reader;

static json *json_value(json_reader *r);

static void json_ws(json_reader *r) {
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static json *json_new(json_kind k) {
    json *j = (json *)calloc(1, sizeof *j);
    if (j)
        j->kind = k;
    return j;
}

static void json_free(json *j) {
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        json_free(j->items[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
    free(j);
}

static char *json_string_raw(json_reader *r) {
    const char *s = ++r->p;
    size_t n = 0, len = 0;
    while (s[len] && s[len] != '"')
        len += s[len] == '\\' && s[len + 1] ? 2 : 1;
    char *out = (char *)malloc(len + 1);
    for (; *s != '"'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20) {
            r->err = "control character or end of text in a string";
            free(out);
            return NULL;
        }
        if (c == '\\') {
            s++;
            if (*s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) {
                        r->err = "bad \\u escape";
                        free(out);
                        return NULL;
                    }
                out[n++] = '?';
                s += 4;
                continue;
            }
            if (!*s || !strchr("\"\\/bfnrt", *s)) {
                r->err = "bad escape";
                free(out);
                return NULL;
            }
            out[n++] = *s == '"' || *s == '\\' || *s == '/' ? *s : ' ';
            continue;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    r->p = s + 1;
    return out;
}

static json *json_number(json_reader *r) {
    const char *s = r->p;
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return r->err = "bad number", (json *)NULL;
    if (*s == '.') {
        if (!(*++s >= '0' && *s <= '9'))
            return r->err = "bad fraction", (json *)NULL;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return r->err = "bad exponent", (json *)NULL;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    json *j = json_new(JSON_NUM);
    j->num = strtod(r->p, NULL);
    r->p = s;
    return j;
}

static int json_push(json *j, json *item, char *key) {
    json **items = (json **)realloc(j->items, (j->n + 1) * sizeof *items);
    if (!items)
        return 0;
    j->items = items;
    if (j->kind == JSON_OBJ) {
        char **keys = (char **)realloc(j->keys, (j->n + 1) * sizeof *keys);
        if (!keys)
            return 0;
        j->keys = keys;
        j->keys[j->n] = key;
    }
    j->items[j->n++] = item;
    return 1;
}

/* An array or object: the opening bracket is at r->p. */
static json *json_container(json_reader *r, json_kind kind) {
    char close = kind == JSON_ARR ? ']' : '}';
    json *j = json_new(kind);
    r->p++;
    json_ws(r);
    if (*r->p == close) {
        r->p++;
        return j;
    }
    for (;;) {
        char *key = NULL;
        json_ws(r);
        if (kind == JSON_OBJ) {
            if (*r->p != '"' || !(key = json_string_raw(r))) {
                if (!r->err)
                    r->err = "expected a key";
                break;
            }
            json_ws(r);
            if (*r->p != ':') { /* not past it: it may be the text's end */
                r->err = "expected ':'";
                free(key);
                break;
            }
            r->p++;
        }
        json *item = json_value(r);
        if (!item || !json_push(j, item, key)) {
            free(key);
            json_free(item);
            break;
        }
        json_ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == close) {
            r->p++;
            return j;
        }
        r->err = "expected ',' or a closing bracket";
        break;
    }
    json_free(j);
    return NULL;
}

static json *json_value(json_reader *r) {
    json_ws(r);
    if (++r->depth > 64)
        return r->err = "too deep", (json *)NULL;
    json *j = NULL;
    if (*r->p == '{' || *r->p == '[') {
        j = json_container(r, *r->p == '{' ? JSON_OBJ : JSON_ARR);
    } else if (*r->p == '"') {
        char *s = json_string_raw(r);
        if (s)
            j = json_new(JSON_STR), j->str = s;
    } else if (strncmp(r->p, "true", 4) == 0 || strncmp(r->p, "false", 5) == 0) {
        j = json_new(JSON_BOOL);
        j->num = r->p[0] == 't';
        r->p += r->p[0] == 't' ? 4 : 5;
    } else if (strncmp(r->p, "null", 4) == 0) {
        j = json_new(JSON_NULL);
        r->p += 4;
    } else {
        j = json_number(r);
    }
    r->depth--;
    return j;
}

/* The document in text (NUL-terminated), or NULL with *err saying why. */
static inline json *json_parse(const char *text, const char **err) {
    json_reader r = {text, NULL, 0};
    json *j = json_value(&r);
    json_ws(&r);
    if (j && *r.p) {
        r.err = "text after the value";
        json_free(j);
        j = NULL;
    }
    if (err)
        *err = j ? NULL : r.err ? r.err : "invalid";
    return j;
}

/* Member key of object j, or NULL. */
static inline json *json_get(const json *j, const char *key) {
    if (!j || j->kind != JSON_OBJ)
        return NULL;
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->keys[i], key) == 0)
            return j->items[i];
    return NULL;
}

static inline double json_num(const json *j) { return j && (j->kind == JSON_NUM || j->kind == JSON_BOOL) ? j->num : -1e300; }
static inline const char *json_str(const json *j) { return j && j->kind == JSON_STR ? j->str : ""; }

#endif /* OM_TEST_JSONPARSE_H */
