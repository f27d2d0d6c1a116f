/*
 * h2: the HTTP/2 server session codec, the nghttp2 glue. Owns one server
 * nghttp2_session and the streams it carries. Loop-free: the caller feeds
 * it bytes it read (px_h2_feed) and pulls bytes to write (px_h2_send). It
 * hands its owner validated request heads, body bytes and ends through a
 * small ops table, and takes responses back. Request body windows open only
 * when the owner says the bytes left (px_h2_consume): flow control is the
 * backpressure. Only this file pair includes nghttp2.h; callers see px_h2_*.
 * docs/H2.md describes how the data plane drives it.
 */
#ifndef PX_H2_H
#define PX_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct px_h2;
struct px_h2_stream;
struct px_freelist;

/* RFC 9113 §7 error codes, as they appear on the wire. */
enum px_h2_code {
    PX_H2_NO_ERROR = 0x0,
    PX_H2_PROTOCOL_ERROR = 0x1,
    PX_H2_INTERNAL_ERROR = 0x2,
    PX_H2_FLOW_CONTROL_ERROR = 0x3,
    PX_H2_REFUSED_STREAM = 0x7,
    PX_H2_CANCEL = 0x8,
    PX_H2_ENHANCE_YOUR_CALM = 0xb,
};

/* A header field. Names are lowercase. Borrowed: valid during the callback. */
struct px_h2_field {
    const char *name;
    const char *value;
    uint32_t name_len, value_len;
};

/*
 * A validated request head, ready to render as HTTP/1.1: METHOD PATH, then
 * "Host: AUTHORITY" (from :authority, or Host when that was absent; both
 * agree when both came), then FIELDS, which hold no pseudo-header, no Host
 * and no connection-specific field, with the cookie crumbs joined by "; "
 * into one field (RFC 9113 §8.2.3). Borrowed: valid during the callback.
 */
struct px_h2_head {
    struct px_h2_field method, scheme, authority, path; /* values only */
    const struct px_h2_field *fields;
    uint32_t nfields;
    int64_t content_length; /* -1 when absent */
    bool end_stream;        /* no body follows: on_request_end comes next */
};

/*
 * What the session tells its owner. DATA is the owner's (px_h2_new()).
 * A stream reaches the owner only through on_request_head; from then on the
 * owner hears exactly one on_stream_close for it, after which the stream is
 * gone. Callbacks run inside px_h2_feed() and px_h2_send(); they may call
 * the px_h2_submit_*, px_h2_reset_stream and px_h2_consume functions, never
 * px_h2_free().
 */
struct px_h2_ops {
    void (*on_request_head)(void *data, struct px_h2_stream *st, const struct px_h2_head *head);
    /* BUF is borrowed. The bytes count against the stream's window until
     * the owner passes them to px_h2_consume(). */
    void (*on_request_data)(void *data, struct px_h2_stream *st, const char *buf, size_t len);
    /* The request is complete; TRAILERS (N fields, maybe 0) were validated. */
    void (*on_request_end)(void *data, struct px_h2_stream *st, const struct px_h2_field *trailers,
                           uint32_t n);
    /* CODE is PX_H2_NO_ERROR after a clean exchange; anything else before
     * on_request_end means the request was cut: never reuse its upstream. */
    void (*on_stream_close)(void *data, struct px_h2_stream *st, uint32_t code);
};

/* Limits. px_h2_config_init() sets the protective defaults. */
struct px_h2_config {
    uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t max_header_list_bytes;  /* SETTINGS_MAX_HEADER_LIST_SIZE, decoded (RFC 9113 §6.5.2) */
    uint32_t max_header_fields;      /* fields per head or trailer section */
    uint32_t stream_window_bytes;    /* SETTINGS_INITIAL_WINDOW_SIZE: request body in flight */
    uint32_t connection_window_bytes; /* all streams' request bodies in flight */
    uint32_t header_table_bytes;      /* HPACK dynamic tables, both directions */
    uint32_t max_continuations;       /* CONTINUATION frames per header block */
    /* Per-second budgets (token buckets, burst = one second's worth). */
    uint32_t resets_per_s;        /* streams reset by the client or refused as malformed */
    uint32_t priority_per_s;      /* PRIORITY frames */
    uint32_t control_per_s;       /* SETTINGS and PING frames (non-ACK) */
    uint32_t empty_data_per_s;    /* zero-length DATA without END_STREAM */
    uint32_t small_updates_per_s; /* WINDOW_UPDATE frames raising a window by < 1 KiB */
    /* Borrowed: where the session's and nghttp2's memory comes from (NULL:
     * malloc's). It must outlive the session, on the session's thread. */
    struct px_freelist *mem;
};

void px_h2_config_init(struct px_h2_config *cfg);

/*
 * Creates a server session that calls OPS with DATA, and queues its SETTINGS.
 * The client preface is expected first. Returns NULL when out of memory.
 */
struct px_h2 *px_h2_new(const struct px_h2_config *cfg, const struct px_h2_ops *ops, void *data);

/* Frees S and its streams without calling the owner. Accepts NULL. */
void px_h2_free(struct px_h2 *s);

/*
 * Parses LEN bytes the client sent; NOW_MS (monotonic) feeds the budgets.
 * Returns 0 (protocol errors only queue a GOAWAY or RST_STREAM: write it,
 * then close when px_h2_want_read/want_write say so), PX_EPARSE when the
 * client's bytes ended the session at once (bad preface, flooding), or
 * PX_ENOMEM. After an error, send what px_h2_send() still gives, then close.
 */
int px_h2_feed(struct px_h2 *s, const void *data, size_t len, uint64_t now_ms);

/*
 * Copies up to CAP bytes of pending output into OUT. Returns the count (0
 * when nothing is pending), or PX_ENOMEM. Owner callbacks may run.
 */
ssize_t px_h2_send(struct px_h2 *s, char *out, size_t cap);

bool px_h2_want_read(const struct px_h2 *s);
bool px_h2_want_write(const struct px_h2 *s);

/*
 * True when response bytes are queued but every stream holding them (or the
 * connection) has a zero send window: the client is not reading. The owner
 * arms its send timeout while this holds (zero-window stalling).
 */
bool px_h2_stalled(const struct px_h2 *s);

/*
 * Graceful shutdown (RFC 9113 §6.8): GOAWAY(NO_ERROR) naming the last stream
 * processed; streams up to it finish, later ones are refused by nghttp2.
 * Returns 0 or PX_ENOMEM.
 */
int px_h2_goaway(struct px_h2 *s);

/* The GOAWAY code the session sent or queued, or -1 if none. */
int px_h2_goaway_code(const struct px_h2 *s);

/* Why the session ended itself (a static string), or NULL. */
const char *px_h2_error_reason(const struct px_h2 *s);

uint32_t px_h2_stream_id(const struct px_h2_stream *st);
void *px_h2_stream_data(const struct px_h2_stream *st);
void px_h2_stream_set_data(struct px_h2_stream *st, void *data);

/*
 * Queues the response head: STATUS (100..599 but not 101) and N fields.
 * Names are lowercased; connection-specific fields are dropped (they mean
 * nothing in HTTP/2, RFC 9113 §8.2.2). END_STREAM: no body follows. A 1xx
 * status is interim. Returns 0, PX_EPARSE for a bad status or a field that
 * cannot be sent, or PX_ENOMEM.
 */
int px_h2_submit_response(struct px_h2_stream *st, int status, const struct px_h2_field *fields,
                          uint32_t n, bool end_stream);

/*
 * The same, when the first NPARSED of the N fields come from a head our
 * HTTP/1.1 parser took: their names are tokens and their values hold no
 * byte HTTP/2 refuses (test_http1.c: http1_field_names_are_tokens,
 * http1_rejects_control_bytes_in_values), so only the others are checked.
 */
int px_h2_submit_parsed_response(struct px_h2_stream *st, int status,
                                 const struct px_h2_field *fields, uint32_t nparsed, uint32_t n,
                                 bool end_stream);

/*
 * Queues LEN body bytes (copied) after the response head, and the end of
 * the body when END. Returns 0 or PX_ENOMEM.
 */
int px_h2_submit_data(struct px_h2_stream *st, const char *buf, size_t len, bool end);

/* Sends N trailer fields after the queued body and ends it. Returns 0, PX_EPARSE or PX_ENOMEM. */
int px_h2_submit_trailers(struct px_h2_stream *st, const struct px_h2_field *fields, uint32_t n);

/*
 * Response bytes queued and not yet sent. The owner stops reading the
 * upstream while this is at least px_h2_stream_send_window() (and 16 KiB),
 * and starts again when px_h2_send() drains it.
 */
size_t px_h2_stream_queued(const struct px_h2_stream *st);
int32_t px_h2_stream_send_window(const struct px_h2_stream *st);

/* Resets the stream with CODE. on_stream_close follows. */
void px_h2_reset_stream(struct px_h2_stream *st, uint32_t code);

/* The upstream took N request body bytes: open the stream's window by N. */
void px_h2_consume(struct px_h2_stream *st, size_t n);

#endif
