/*
 * http1: the llhttp glue. Owns one parser plus the parsed head of the current
 * message (method or status, target, headers) copied into an arena, so no
 * pointer into a read buffer survives a read. Also writes the rewritten head
 * a proxy sends on: hop-by-hop headers removed, forwarding headers added.
 * A plain response (whole head, one Content-Length) is read without llhttp,
 * to the same result (http1.c, "responses read quickly").
 * Only this file pair includes llhttp.h; callers see px_http_* results.
 */
#ifndef PX_HTTP1_H
#define PX_HTTP1_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum px_http_type { PX_HTTP_REQUEST, PX_HTTP_RESPONSE };

/* What px_http_feed() stopped at. Negative values are px_err codes. */
enum px_http_event {
    PX_HTTP_MORE = 0,     /* every byte consumed, message not complete */
    PX_HTTP_HEAD = 1,     /* head complete; body (if any) not yet parsed */
    PX_HTTP_DONE = 2,     /* message complete */
    PX_HTTP_UPGRADE = 3,  /* the bytes after this point are another protocol */
    PX_HTTP_BODYFULL = 4, /* decoded-body span list is full; drain, feed on */
};

/* Header flags set by px_http_scan(). */
enum {
    PX_HDR_DROP = 1 << 0, /* hop-by-hop: not forwarded */
    PX_HDR_XFF = 1 << 1,  /* X-Forwarded-For: merged into ours */
};

struct px_hdr {
    uint32_t name_off, name_len;   /* in head.buf */
    uint32_t value_off, value_len; /* in head.buf */
    uint16_t flags;                /* PX_HDR_* */
    uint16_t id; /* known name (enum hid in http1.c), set once the name is whole */
};

#define PX_HTTP_MAX_SPANS 64

/* Connection tokens examined per head: each one is matched against every
 * header, so a longer list is refused (a real one has a few). */
#define PX_HTTP_MAX_CONNECTION_TOKENS 16

/* Chunk extensions are forwarded, never used: a line longer than this is refused. */
#define PX_HTTP_MAX_CHUNK_EXT_BYTES 4096

/* A decoded body span, pointing into the caller's read buffer. */
struct px_span {
    const char *base; /* borrowed: valid until the next read */
    size_t len;
};

struct px_http {
    llhttp_t parser;
    enum px_http_type type;
    void *owner; /* borrowed back-reference for the caller */

    char *buf;           /* owned arena: target/reason and headers */
    uint32_t len, cap;   /* bytes used / allocated in buf */
    uint32_t max_head;   /* max_header_bytes from config */
    struct px_hdr *hdrs; /* owned, max_hdrs entries */
    uint32_t nhdrs, max_hdrs;
    uint32_t target_off, target_len;       /* request target or reason phrase */
    uint8_t last_span;                     /* which span kind was appended last */
    char prev_byte;                        /* last byte of the previous feed: obs-fold check */
    char tail[4];                          /* last bytes of the previous feeds: line ends */
    bool ended_chunked;                    /* the message that just completed was chunked */
    const char *feed_start;                /* start of the current feed */
    int error;                             /* px_err raised; sticky until px_http_reset() */
    const char *why;                       /* static: what was malformed, or NULL (see _why) */
    uint8_t raw;                           /* head byte-scan state (RAW_* in http1.c) */
    uint8_t raw_prev;                      /* previous byte of the start line */
    bool head_reported;                    /* PX_HTTP_HEAD returned for the current message */
    uint32_t head_nhdrs;                   /* headers in the head; those after are trailers */
    uint32_t authority_off, authority_len; /* absolute-form authority in buf (0 = none) */
    uint32_t chunk_ext_bytes;              /* extension bytes of the current chunk-size line */

    bool in_message;     /* a message has begun and not completed */
    bool loaded;         /* the head was given whole (px_http_load_*), not parsed */
    bool llhttp_used;    /* llhttp has been fed since init/reset: no more quick reads */
    bool llhttp_only;    /* never read a response quickly (the differential tests) */
    uint8_t quick;       /* QUICK_* in http1.c: a response read without llhttp */
    bool quick_paused;   /* what llhttp's pause would be had it read that response */
    bool head_done;      /* headers complete for the current message */
    bool decode_body;    /* collect on_body spans instead of raw forwarding */
    bool skip_body;      /* response to HEAD: no body whatever the headers say */
    uint64_t body_bytes; /* decoded body bytes of the current message */
    uint64_t max_body;   /* 0 = unlimited */
    unsigned nspans;     /* decoded body spans in spans[] */

    /* Filled by px_http_scan() at PX_HTTP_HEAD. */
    uint32_t conn_tokens; /* Connection tokens seen by px_http_scan() */
    bool conn_close;      /* Connection: close (or HTTP/1.0 without keep-alive) */
    bool conn_keepalive;  /* Connection: keep-alive */
    bool conn_upgrade;    /* Connection: upgrade and an Upgrade header */
    bool expect_continue; /* Expect: 100-continue */
    int host_idx;         /* index of the Host header, -1 if none */
    uint32_t xff_len;     /* total bytes of X-Forwarded-For values */

    /* Last: read only below nspans, so never cleared (px_http_recycle). */
    struct px_span spans[PX_HTTP_MAX_SPANS];
};

/*
 * Sets up H to parse messages of TYPE; limits bound the head arena. Returns 0
 * or PX_ENOMEM (then H needs no dispose).
 */
int px_http_init(struct px_http *h, enum px_http_type type, void *owner, uint32_t max_head_bytes,
                 uint32_t max_headers);

/*
 * Makes H, which px_http_init() set up, as good as new for OWNER, keeping
 * its buffers (and their limits).
 */
void px_http_recycle(struct px_http *h, void *owner);

/* Frees what H owns. Safe on a zeroed struct. */
void px_http_dispose(struct px_http *h);

/* Prepares H for the next message on the same connection (keeps the arena). */
void px_http_reset(struct px_http *h);

/*
 * Parses up to LEN bytes of DATA and stores in *consumed how many belong to
 * the events reported so far. Returns a px_http_event, or a negative px_err
 * (PX_EPARSE, PX_EHEADTOOBIG, PX_EBODYTOOBIG, PX_EVERSION). After PX_HTTP_HEAD
 * call px_http_scan(), then feed the rest. Errors are sticky.
 */
int px_http_feed(struct px_http *h, const char *data, size_t len, size_t *consumed);

/*
 * A request head given whole rather than parsed, for a request with no body
 * (an HTTP/2 HEADERS frame with END_STREAM): begin with the request line,
 * add each field, end. H must be fresh (px_http_init/recycle/reset). The
 * result is what px_http_feed() would have made of the head rendered as
 * HTTP/1.1 ("METHOD TARGET HTTP/1.1", "NAME: VALUE" lines): the next feed
 * reports PX_HTTP_HEAD, the one after PX_HTTP_DONE. Each call returns false
 * when the head is one only the parser should judge (an unusual method or
 * byte, a framing or connection field, over a limit); then call
 * px_http_load_abort() and feed the rendered text instead, so every
 * decision the parser makes stays the parser's.
 */
bool px_http_load_begin(struct px_http *h, const char *method, size_t method_len,
                        const char *target, size_t target_len);
bool px_http_load_field(struct px_http *h, const char *name, size_t name_len, const char *value,
                        size_t value_len);
void px_http_load_end(struct px_http *h);
void px_http_load_abort(struct px_http *h);

/*
 * Tells the parser the peer closed. Returns PX_HTTP_DONE when that ends a
 * close-delimited message, PX_ETRUNCATED when a message was cut short, or
 * PX_HTTP_MORE when no message had started.
 */
int px_http_finish(struct px_http *h);

/* True while the parser waits at a head or message boundary. */
bool px_http_paused(const struct px_http *h);

/* True once any byte of a message was parsed since the last reset. */
bool px_http_started(const struct px_http *h);

/*
 * Returns a static one-line text naming what made H's message malformed
 * ("malformed HTTP message: duplicate Host header", ...) after
 * px_http_feed() or px_http_scan() returned PX_EPARSE, or NULL when there is
 * nothing more specific than px_strerror(PX_EPARSE). Cleared by
 * px_http_reset().
 */
const char *px_http_why(const struct px_http *h);

/*
 * Classifies the headers of a complete head: marks hop-by-hop ones (the
 * fixed list plus those Connection names), Host, Expect and XFF. Returns 0,
 * PX_EMETHOD for CONNECT, or PX_EPARSE for a head a proxy must refuse:
 * duplicate, missing (HTTP/1.1) or invalid Host; Connection naming framing
 * headers; a request-target that is not origin-form, absolute-form
 * (http/https, no userinfo) or "*" with OPTIONS; a request
 * Transfer-Encoding other than one "chunked" line in HTTP/1.1;
 * "Content_Length"/"Transfer_Encoding" look-alikes; a response with more
 * than one Transfer-Encoding line or one in HTTP/1.0. An "Upgrade: h2c"
 * request is never an upgrade (conn_upgrade stays false).
 */
int px_http_scan(struct px_http *h);

/* Accessors for the current message. */
/* The request's method, "-" until one llhttp knows was read. */
const char *px_http_method_name(const struct px_http *h);
bool px_http_method_is(const struct px_http *h, const char *name);
/*
 * Points *PATH at the request target in origin-form ("/a?b"), *LEN bytes,
 * the way the backend receives it: an absolute-form target loses its scheme
 * and authority ("http://h/a" -> "/a", "http://h?b" -> "/"). The bytes are
 * H's; valid until the next message.
 */
void px_http_path(const struct px_http *h, const char **path, size_t *len);
bool px_http_is_idempotent(const struct px_http *h);
int px_http_status(const struct px_http *h);
unsigned px_http_major(const struct px_http *h);
unsigned px_http_minor(const struct px_http *h);
/* True when the head just parsed has a Content-Length; stores it in *LEN. */
bool px_http_content_length(const struct px_http *h, uint64_t *len);
bool px_http_has_body(const struct px_http *h); /* request: CL > 0 or chunked */
bool px_http_chunked(const struct px_http *h);
bool px_http_needs_eof(const struct px_http *h);
bool px_http_keep_alive(const struct px_http *h);
bool px_http_is_upgrade(const struct px_http *h); /* llhttp saw Upgrade/CONNECT */

/* Finds header NAME (case-insensitive); returns its index or -1. */
int px_http_find(const struct px_http *h, const char *name);

/* Compares bytes to a lowercase token, ignoring ASCII case. */
bool px_http_ieq(const char *s, size_t n, const char *lower);

struct px_req_ctx {
    const char *client_ip; /* appended to X-Forwarded-For */
    const char *scheme;    /* X-Forwarded-Proto we send: "http" or "https" */
    bool trusted_proto;    /* the peer is a trusted proxy: its X-Forwarded-Proto stays */
    bool upgrade;          /* forward Upgrade + Connection: upgrade */
    bool drop_underscores; /* drop header names with '_' (nginx underscores_in_headers off) */
    const char *const *drop_names; /* headers never forwarded from clients (NULLs skipped) */
    size_t ndrop;
    const char *extra; /* complete header lines to add, or NULL */
    size_t extra_len;
};

/*
 * Writes the request head to forward into OUT (capacity CAP): request line
 * in origin form, HTTP/1.1, kept headers, merged X-Forwarded-For, Via and
 * X-Forwarded-Proto. For an absolute-form target the Host line carries the
 * target's authority (RFC 9112 §3.2.2), whatever Host the client sent.
 * Returns the length, or -1 if CAP is too small.
 */
int px_http_write_request_head(const struct px_http *h, const struct px_req_ctx *ctx, char *out,
                               size_t cap);

/*
 * A chunked request body is forwarded re-encoded (the exchange frames the
 * decoded spans itself: one chunk per read, hex size without leading zeros,
 * no extensions, CRLF). This writes its end: the last chunk, the trailer
 * fields that may cross (none that says who the client is: X-Forwarded-For,
 * Forwarded, X-Real-IP, X-Forwarded-Proto, Via, CTX's drop list and, with
 * drop_underscores, names with '_'; no hop-by-hop field), and the final
 * CRLF. px_http_last_chunk_bytes() is enough room. Returns the length or -1.
 */
#define PX_HTTP_CHUNK_LINE 20 /* bytes of a chunk-size line we write: 16 hex digits, CRLF */

/*
 * Frames the body spans decoded by the last feed as one chunk: LINE gets its
 * size line, OUT (PX_HTTP_MAX_SPANS + 2 entries) the line, the spans and the
 * CRLF, which stay valid until the caller's read buffer moves. Clears the
 * spans. Returns the entries written (0 when the feed decoded no data).
 */
size_t px_http_rechunk(struct px_http *h, char line[PX_HTTP_CHUNK_LINE], struct px_span *out);

size_t px_http_last_chunk_bytes(const struct px_http *h);
int px_http_write_last_chunk(const struct px_http *h, const struct px_req_ctx *ctx, char *out,
                             size_t cap);

struct px_resp_ctx {
    bool keep_alive;   /* the client connection stays open after this */
    bool client_1_0;   /* the client spoke HTTP/1.0 */
    bool drop_te;      /* body is being de-chunked: drop Transfer-Encoding */
    bool upgrade;      /* 101: forward Upgrade + Connection: upgrade */
    const char *extra; /* complete header lines to add, or NULL */
    size_t extra_len;
};

/* Writes the response head to send the client. Returns its length or -1. */
int px_http_write_response_head(const struct px_http *h, const struct px_resp_ctx *ctx, char *out,
                                size_t cap);

/*
 * The length px_http_write_response_head() would write, without writing it:
 * what an HTTP/2 client's response head counts in bytes_out, so that the
 * access log and the metrics read the same as when it was rendered.
 */
size_t px_http_response_head_size(const struct px_http *h, const struct px_resp_ctx *ctx);

/*
 * Writes a complete error response (text/plain body naming REASON, with
 * Connection: close, plus EXTRA header lines when not NULL) into OUT.
 * Returns the length (truncated to fit).
 */
int px_http_write_error(int status, const char *reason, const char *extra, char *out, size_t cap);

/* The standard reason phrase for STATUS. */
const char *px_http_reason(int status);

#endif
