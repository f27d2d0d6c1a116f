/*
 * accesslog: the access-log formats. Rendering costs one pass over the
 * values and no allocation; the caller hands the line to the worker's
 * buffer (px_accesslog_write).
 */
#include "proxy/data/accesslog.h"
#include "proxy/base/log.h"

#include <stdbool.h>
#include <string.h>

/* Fields that are numbers: bare in JSON. */
static bool is_number(int f)
{
    return f == CONF_LOG_STATUS || f == CONF_LOG_BYTES_IN || f == CONF_LOG_BYTES_OUT ||
           f == CONF_LOG_MS || f == CONF_LOG_RESUMED || f == CONF_LOG_TLS_MS ||
           f == CONF_LOG_STREAM;
}

/* Fields whose text may hold spaces or client bytes: quoted in logfmt. */
static bool is_quoted(int f)
{
    return f == CONF_LOG_TARGET || f == CONF_LOG_REQUEST_ID || f == CONF_LOG_ERROR ||
           f == CONF_LOG_SNI;
}

/* Fields left out of logfmt and JSON lines when they have no value: the
 * error of a request that did not fail, the stream of an HTTP/1 request,
 * the TLS facts of a plain connection. */
static bool is_optional(int f)
{
    return f == CONF_LOG_ERROR || f == CONF_LOG_STREAM || f >= CONF_LOG_TLS;
}

void px_access_set(struct px_access_rec *r, enum conf_log_field f, const char *s)
{
    r->v[f] = s;
    r->len[f] = s ? strlen(s) : 0;
}

struct out {
    char *p;
    size_t n, cap; /* cap keeps room for a JSON '}' */
};

static void put(struct out *o, const char *s, size_t n)
{
    if (n > o->cap - o->n)
        n = o->cap - o->n;
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

/* The value of F, escaped with px_log_escape: \" \\ and \xHH. */
static void put_escaped(struct out *o, const struct px_access_rec *r, int f)
{
    if (r->v[f] == NULL || r->len[f] == 0) {
        put(o, "-", 1);
        return;
    }
    o->n += px_log_escape(o->p + o->n, o->cap - o->n + 1, r->v[f], r->len[f]);
}

/* The value of F as a JSON string: \" \\ and \u00HH (bytes >= 0x80 as
 * their Latin-1 code points, so any byte sequence stays valid JSON). */
static void put_json(struct out *o, const struct px_access_rec *r, int f)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)r->v[f];
    size_t len = r->len[f];

    if (s == NULL || len == 0) {
        put(o, "\"-\"", 3);
        return;
    }
    if (is_number(f)) {
        put(o, (const char *)s, len);
        return;
    }
    put(o, "\"", 1);
    for (size_t i = 0; i < len && o->cap - o->n >= 7; i++) {
        char e[6] = {'\\', (char)s[i]};
        if (s[i] == '"' || s[i] == '\\')
            put(o, e, 2);
        else if (s[i] >= 0x20 && s[i] < 0x7f)
            put(o, e + 1, 1);
        else
            put(o, (char[]){'\\', 'u', '0', '0', hex[s[i] >> 4], hex[s[i] & 15]}, 6);
    }
    put(o, "\"", 1);
}

static void render_logfmt(struct out *o, const struct px_access_rec *r)
{
    put_escaped(o, r, CONF_LOG_TIME);
    for (int f = CONF_LOG_TIME + 1; f < CONF_LOG_NFIELDS; f++) {
        if (is_optional(f) && r->v[f] == NULL)
            continue; /* only failed requests carry error=, TLS ones tls= */
        const char *k = conf_log_field_names[f];
        put(o, " ", 1);
        put(o, k, strlen(k));
        put(o, is_quoted(f) ? "=\"" : "=", is_quoted(f) ? 2 : 1);
        put_escaped(o, r, f);
        if (is_quoted(f))
            put(o, "\"", 1);
    }
}

static void render_json(struct out *o, const struct px_access_rec *r)
{
    for (int f = 0; f < CONF_LOG_NFIELDS; f++) {
        if (is_optional(f) && r->v[f] == NULL)
            continue;
        const char *k = conf_log_field_names[f];
        put(o, f == 0 ? "{\"" : ",\"", 2);
        put(o, k, strlen(k));
        put(o, "\":", 2);
        put_json(o, r, f);
    }
    o->cap++; /* the room kept for the closing brace */
    put(o, "}", 1);
}

static void render_template(struct out *o, const struct conf_log_format *fmt,
                            const struct px_access_rec *r)
{
    for (size_t i = 0; i < fmt->npieces; i++) {
        const struct conf_log_piece *p = &fmt->pieces[i];
        put(o, fmt->text + p->off, p->len);
        if (p->field >= 0)
            put_escaped(o, r, p->field);
    }
}

size_t px_access_render(const struct conf_log_format *f, const struct px_access_rec *r, char *out,
                        size_t cap)
{
    if (cap < 2)
        return 0;
    struct out o = {.p = out, .cap = cap - 2}; /* a '}' and px_log_escape's NUL fit */

    if (f->kind == CONF_LOG_JSON)
        render_json(&o, r);
    else if (f->kind == CONF_LOG_TEMPLATE)
        render_template(&o, f, r);
    else
        render_logfmt(&o, r);
    return o.n;
}
