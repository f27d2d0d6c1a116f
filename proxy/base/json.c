/*
 * json: output buffer and escaping. The buffer doubles on growth; strings
 * are escaped per RFC 8259 (control characters as \u00XX, bytes >= 0x80
 * passed through: the names we write are ASCII or UTF-8 already).
 */
#include "proxy/base/json.h"
#include "proxy/base/px.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void px_sbuf_init(struct px_sbuf *b)
{
    memset(b, 0, sizeof(*b));
}

void px_sbuf_dispose(struct px_sbuf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    px_sbuf_init(b);
}

/* Makes room for N more bytes plus the NUL; false (and oom) on failure. */
static bool reserve(struct px_sbuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 1024;
    char *p;

    if (b->oom)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    while (cap < b->len + n + 1)
        cap *= 2;
    if ((p = realloc(b->data, cap)) == NULL) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void px_sbuf_append(struct px_sbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void px_sbuf_puts(struct px_sbuf *b, const char *s)
{
    px_sbuf_append(b, s, strlen(s));
}

void px_sbuf_printf(struct px_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void px_json_str(struct px_sbuf *b, const char *s)
{
    if (s == NULL) {
        px_sbuf_puts(b, "null");
        return;
    }
    px_sbuf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            px_sbuf_append(b, e, 2);
        } else if (*p < 0x20) {
            px_sbuf_printf(b, "\\u%04x", *p);
        } else {
            px_sbuf_append(b, (const char *)p, 1);
        }
    }
    px_sbuf_append(b, "\"", 1);
}

void px_json_num(struct px_sbuf *b, double v)
{
    if (!isfinite(v))
        px_sbuf_puts(b, "null");
    else if (v == (double)(long long)v && fabs(v) < 1e15)
        px_sbuf_printf(b, "%lld", (long long)v);
    else
        px_sbuf_printf(b, "%.6g", v);
}

void px_json_init(struct px_json *j, struct px_sbuf *b)
{
    memset(j, 0, sizeof(*j));
    j->b = b;
    j->empty[0] = true;
}

/* Writes the separator due before a value, and KEY when there is one. */
static void member(struct px_json *j, const char *key)
{
    if (!j->empty[j->depth])
        px_sbuf_append(j->b, ",", 1);
    j->empty[j->depth] = false;
    if (key != NULL) {
        px_json_str(j->b, key);
        px_sbuf_append(j->b, ":", 1);
    }
}

static void open_level(struct px_json *j, const char *key, char opener, char closer)
{
    PX_ASSERT(j->depth < PX_JSON_MAX_DEPTH);
    member(j, key);
    px_sbuf_append(j->b, &opener, 1);
    j->closer[j->depth++] = closer;
    j->empty[j->depth] = true;
}

void px_json_object(struct px_json *j, const char *key)
{
    open_level(j, key, '{', '}');
}

void px_json_array(struct px_json *j, const char *key)
{
    open_level(j, key, '[', ']');
}

void px_json_end(struct px_json *j)
{
    PX_ASSERT(j->depth > 0);
    px_sbuf_append(j->b, &j->closer[--j->depth], 1);
}

void px_json_string(struct px_json *j, const char *key, const char *v)
{
    member(j, key);
    px_json_str(j->b, v);
}

void px_json_number(struct px_json *j, const char *key, double v)
{
    member(j, key);
    px_json_num(j->b, v);
}

void px_json_bool(struct px_json *j, const char *key, bool v)
{
    member(j, key);
    px_sbuf_puts(j->b, v ? "true" : "false");
}

void px_json_null(struct px_json *j, const char *key)
{
    member(j, key);
    px_sbuf_puts(j->b, "null");
}

void px_prom_label(struct px_sbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\' || *p == '"') {
            char e[2] = {'\\', *p};
            px_sbuf_append(b, e, 2);
        } else if (*p == '\n') {
            px_sbuf_append(b, "\\n", 2);
        } else {
            px_sbuf_append(b, p, 1);
        }
    }
}
