/*
 * json: a growable output buffer, a JSON writer that places the commas
 * itself, and Prometheus label escaping: what the admin endpoint needs.
 * Allocation failure is sticky: the buffer remembers it and the caller
 * checks once.
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

#define PX_JSON_MAX_DEPTH 16

/*
 * A JSON writer over a px_sbuf. Every value call takes a KEY: the member
 * name inside an object, NULL inside an array or at the top. The writer
 * tracks nesting and whether a separator is due, so callers never write
 * punctuation. Nesting deeper than PX_JSON_MAX_DEPTH is a programming
 * error (asserted).
 */
struct px_json {
    struct px_sbuf *b;                 /* borrowed */
    unsigned depth;                    /* open objects and arrays */
    char closer[PX_JSON_MAX_DEPTH];    /* '}' or ']' per open level */
    bool empty[PX_JSON_MAX_DEPTH + 1]; /* no member written yet at that level */
};

void px_json_init(struct px_json *j, struct px_sbuf *b);
void px_json_object(struct px_json *j, const char *key); /* opens {; px_json_end closes */
void px_json_array(struct px_json *j, const char *key);  /* opens [; px_json_end closes */
void px_json_end(struct px_json *j);
void px_json_string(struct px_json *j, const char *key, const char *v); /* NULL writes null */
void px_json_number(struct px_json *j, const char *key, double v);      /* non-finite: null */
void px_json_bool(struct px_json *j, const char *key, bool v);
void px_json_null(struct px_json *j, const char *key);

/* Appends S escaped for a Prometheus label value (backslash, quote, newline), unquoted. */
void px_prom_label(struct px_sbuf *b, const char *s);

#endif
