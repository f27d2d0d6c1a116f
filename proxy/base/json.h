/*
 * json: a growable output buffer and the few writers the admin endpoint
 * needs (JSON strings and numbers, Prometheus label values). Allocation
 * failure is sticky: the buffer remembers it and the caller checks once.
 */
#ifndef PX_JSON_H
#define PX_JSON_H

#include <stdbool.h>
#include <stddef.h>

struct px_sbuf {
    char *data; /* owned; NUL-terminated while len < cap */
    size_t len; /* bytes written, excluding the NUL */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed; data holds what fit before */
};

/* Initialises B empty. Nothing is allocated until the first append. */
void px_sbuf_init(struct px_sbuf *b);

/* Frees what B owns; B may be initialised again. Accepts NULL. */
void px_sbuf_dispose(struct px_sbuf *b);

/* Appends N bytes of S. On allocation failure sets b->oom and appends nothing. */
void px_sbuf_append(struct px_sbuf *b, const char *s, size_t n);

/* Appends the NUL-terminated string S. */
void px_sbuf_puts(struct px_sbuf *b, const char *s);

/* Appends printf-formatted text. */
void px_sbuf_printf(struct px_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends S as a quoted JSON string (NULL writes null). */
void px_json_str(struct px_sbuf *b, const char *s);

/* Appends V as a JSON number (non-finite values write null). */
void px_json_num(struct px_sbuf *b, double v);

/* Appends "KEY": (quoted key and colon), preceded by a comma unless FIRST. */
void px_json_key(struct px_sbuf *b, const char *key, bool first);

/* Appends S escaped for a Prometheus label value (backslash, quote, newline), unquoted. */
void px_prom_label(struct px_sbuf *b, const char *s);

#endif
