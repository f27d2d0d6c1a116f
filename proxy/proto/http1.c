/*
 * http1: llhttp 8.1 glue (strict mode, no lenient flags). Heads are copied
 * span by span into an arena bounded by max_header_bytes; bodies are never
 * copied: the caller forwards raw bytes, or, when de-chunking, the spans
 * collected here. The parser pauses after every head and every message so
 * the caller decides what happens next (a pause, not an error: llhttp
 * resumes from the byte it stopped at). Plain responses are read without
 * llhttp, to the same result ("responses read quickly" below).
 */
#include "proxy/proto/http1.h"
#include "proxy/proto/field.h"
#include "proxy/base/px.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { SPAN_NONE, SPAN_TARGET, SPAN_FIELD, SPAN_VALUE };

/* Head byte-scan state (h->raw), see raw_scan(). */
enum {
    RAW_CR = 1 << 0,         /* the previous byte was CR */
    RAW_BOL = 1 << 1,        /* at the beginning of a line */
    RAW_START = 1 << 2,      /* the start line has begun */
    RAW_START_DONE = 1 << 3, /* the start line has ended */
    RAW_SP1 = 1 << 4,        /* one SP seen in the start line */
    RAW_SP2 = 1 << 5,        /* two SP seen in the start line */
};

/*
 * The header names this file acts on (px_hdr.id), told apart once per field
 * as its name completes: every field of every message is checked against
 * several of them, and comparing names for each check was most of what
 * px_http_scan() cost. HID_OTHER is any other name.
 */
enum hid {
    HID_OTHER,
    HID_CONNECTION,
    HID_KEEP_ALIVE,
    HID_PROXY_CONNECTION,
    HID_TE,
    HID_TRAILER,
    HID_UPGRADE,
    HID_PROXY_AUTHENTICATE,
    HID_HOST,
    HID_EXPECT,
    HID_CONTENT_LENGTH,
    HID_TRANSFER_ENCODING,
    HID_CONTENT_LENGTH_US,    /* "content_length" */
    HID_TRANSFER_ENCODING_US, /* "transfer_encoding" */
    HID_X_FORWARDED_FOR,
    HID_X_FORWARDED_PROTO,
    HID_FORWARDED,
    HID_X_REAL_IP,
    HID_VIA,
};

#define HID_SET(id) (1u << (id))

/* Headers that never cross a proxy (RFC 9110 §7.6.1). */
#define HOP_BY_HOP                                                                                 \
    (HID_SET(HID_CONNECTION) | HID_SET(HID_KEEP_ALIVE) | HID_SET(HID_PROXY_CONNECTION) |           \
     HID_SET(HID_TE) | HID_SET(HID_TRAILER) | HID_SET(HID_UPGRADE) |                               \
     HID_SET(HID_PROXY_AUTHENTICATE))

/* Fields that must never come in a trailer section (RFC 9110 §6.5.1). */
#define TRAILER_FORBIDDEN                                                                          \
    (HID_SET(HID_CONTENT_LENGTH) | HID_SET(HID_TRANSFER_ENCODING) | HID_SET(HID_HOST) |            \
     HID_SET(HID_CONNECTION) | HID_SET(HID_KEEP_ALIVE) | HID_SET(HID_PROXY_CONNECTION) |           \
     HID_SET(HID_UPGRADE) | HID_SET(HID_TRAILER) | HID_SET(HID_TE))

/* Fields that say who the client is, which only the head (and only we) may say. */
#define CLIENT_FACTS                                                                               \
    (HID_SET(HID_X_FORWARDED_FOR) | HID_SET(HID_FORWARDED) | HID_SET(HID_X_REAL_IP) |              \
     HID_SET(HID_X_FORWARDED_PROTO) | HID_SET(HID_VIA))

/* Longest unknown method answered 501 rather than 400. */
#define METHOD_TOKEN_MAX_BYTES 32

#define ARENA_START_BYTES 2048

static llhttp_settings_t request_settings;
static llhttp_settings_t response_settings;

/* tchar as a table, for names read a byte at a time (quick_field()). */
static bool tchar_table[256];
static bool is_tchar(unsigned char c);

static struct px_http *from_parser(llhttp_t *p)
{
    return px_container_of(p, struct px_http, parser);
}

/* The prefix of every px_http_why() text: what px_strerror(PX_EPARSE) says, then what. */
#define MALFORMED "malformed HTTP message: "

/* Refuses a head with PX_EPARSE, naming why (a static MALFORMED text). */
static int refuse(struct px_http *h, const char *why)
{
    h->why = why;
    return PX_EPARSE;
}

/* REASON is static; for PX_EPARSE it is a MALFORMED text (px_http_why). */
static int fail(struct px_http *h, int err, const char *reason)
{
    h->error = err;
    if (err == PX_EPARSE)
        h->why = reason;
    llhttp_set_error_reason(&h->parser, reason);
    return HPE_USER;
}

/* arena_append() when the span does not fit in what is allocated. */
static int arena_grow_append(struct px_http *h, const char *at, size_t n)
{
    if (h->len + n > h->max_head)
        return -1;
    uint32_t cap = h->cap;
    while (cap < h->len + n)
        cap *= 2;
    if (cap > h->max_head)
        cap = h->max_head;
    char *b = realloc(h->buf, cap);
    if (b == NULL)
        return -1;
    h->buf = b;
    h->cap = cap;
    memcpy(h->buf + h->len, at, n);
    h->len += (uint32_t)n;
    return 0;
}

/*
 * Appends a span to the arena, growing it up to max_head. Every name and
 * value span of every head comes here, so the common case is inlined: cap
 * never exceeds max_head, so a span that fits in cap is within the limit.
 */
static inline int arena_append(struct px_http *h, const char *at, size_t n)
{
    if (h->len + n > h->cap)
        return arena_grow_append(h, at, n);
    memcpy(h->buf + h->len, at, n);
    h->len += (uint32_t)n;
    return 0;
}

/* K (4 or 8) bytes at P, in the low bytes of a word. */
static uint64_t load(const char *p, size_t k)
{
    uint64_t w = 0;
    memcpy(&w, p, k);
    return w;
}

/*
 * N bytes at S equal the N-byte lowercase LIT, ignoring ASCII case. Whole
 * words (the last one overlapping) instead of bytes: most of what a head
 * costs here is comparing names.
 */
static bool lower_eq(const char *s, const char *lit, size_t n)
{
    uint64_t diff = 0;
    size_t i = 0;

    if (n < 4) {
        for (; i < n; i++)
            diff |= px_field_lower8((unsigned char)s[i]) ^ (unsigned char)lit[i];
        return diff == 0;
    }
    if (n < 8)
        return ((px_field_lower8(load(s, 4)) ^ load(lit, 4)) |
                (px_field_lower8(load(s + n - 4, 4)) ^ load(lit + n - 4, 4))) == 0;
    for (; i + 8 < n; i += 8)
        diff |= px_field_lower8(load(s + i, 8)) ^ load(lit + i, 8);
    return (diff | (px_field_lower8(load(s + n - 8, 8)) ^ load(lit + n - 8, 8))) == 0;
}

/*
 * The hid of the N-byte name S: its length picks the candidates, whose
 * first letters (lowercase: S's first byte with bit 0x20 set matches one
 * only if it is that letter in either case) turn most other names away.
 */
static uint16_t classify(const char *s, size_t n)
{
#define IS(lit) ((s[0] | 0x20) == lit[0] && lower_eq(s, lit, sizeof(lit) - 1))
    switch (n) {
    case 2:
        return IS("te") ? HID_TE : HID_OTHER;
    case 3:
        return IS("via") ? HID_VIA : HID_OTHER;
    case 4:
        return IS("host") ? HID_HOST : HID_OTHER;
    case 6:
        return IS("expect") ? HID_EXPECT : HID_OTHER;
    case 7:
        return IS("upgrade") ? HID_UPGRADE : IS("trailer") ? HID_TRAILER : HID_OTHER;
    case 9:
        return IS("forwarded") ? HID_FORWARDED : IS("x-real-ip") ? HID_X_REAL_IP : HID_OTHER;
    case 10:
        return IS("connection") ? HID_CONNECTION : IS("keep-alive") ? HID_KEEP_ALIVE : HID_OTHER;
    case 14:
        return IS("content-length")   ? HID_CONTENT_LENGTH
               : IS("content_length") ? HID_CONTENT_LENGTH_US
                                      : HID_OTHER;
    case 15:
        return IS("x-forwarded-for") ? HID_X_FORWARDED_FOR : HID_OTHER;
    case 16:
        return IS("proxy-connection") ? HID_PROXY_CONNECTION : HID_OTHER;
    case 17:
        return IS("transfer-encoding")   ? HID_TRANSFER_ENCODING
               : IS("transfer_encoding") ? HID_TRANSFER_ENCODING_US
               : IS("x-forwarded-proto") ? HID_X_FORWARDED_PROTO
                                         : HID_OTHER;
    case 18:
        return IS("proxy-authenticate") ? HID_PROXY_AUTHENTICATE : HID_OTHER;
    default:
        return HID_OTHER;
    }
#undef IS
}

static bool hid_in(const struct px_hdr *hd, uint32_t set)
{
    return (HID_SET(hd->id) & set) != 0;
}

/* Forgets the previous message's head: a new one begins. */
static void clear_head(struct px_http *h)
{
    h->len = 0;
    h->nhdrs = 0;
    h->target_off = h->target_len = 0;
    h->last_span = SPAN_NONE;
    h->head_done = false;
    h->head_reported = false;
    h->head_nhdrs = 0;
    h->authority_off = h->authority_len = 0;
    h->body_bytes = 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct px_http *h = from_parser(p);
    clear_head(h);
    h->in_message = true;
    return 0;
}

static int on_target(llhttp_t *p, const char *at, size_t n)
{
    struct px_http *h = from_parser(p);
    if (h->last_span != SPAN_TARGET)
        h->target_off = h->len;
    h->last_span = SPAN_TARGET;
    if (arena_append(h, at, n) != 0)
        return fail(h, PX_EHEADTOOBIG, "request line too long");
    h->target_len += (uint32_t)n;
    return 0;
}

/* The byte K before AT in the bytes fed so far; AT - K is at most four
 * bytes before the current feed. */
static char byte_before(const struct px_http *h, const char *at, size_t k)
{
    ptrdiff_t i = (at - h->feed_start) - (ptrdiff_t)k;
    return i >= 0 ? h->feed_start[i] : h->tail[(ptrdiff_t)sizeof(h->tail) + i];
}

/* True when the line before AT ended in CRLF. llhttp 8.1 takes a bare LF
 * between trailer fields and at the end of the trailer section; heads are
 * checked in raw_scan(), which trailers never reach. */
static bool after_crlf(const struct px_http *h, const char *at)
{
    return byte_before(h, at, 1) == '\n' && byte_before(h, at, 2) == '\r';
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct px_http *h = from_parser(p);
    if (h->last_span != SPAN_FIELD && h->head_done && !after_crlf(h, at))
        return fail(h, PX_EPARSE, MALFORMED "bare LF in trailer section");
    if (h->last_span != SPAN_FIELD) {
        if (h->nhdrs == h->max_hdrs)
            return fail(h, PX_EHEADTOOBIG, "too many headers");
        struct px_hdr *hd = &h->hdrs[h->nhdrs++];
        memset(hd, 0, sizeof(*hd));
        hd->name_off = h->len;
    }
    h->last_span = SPAN_FIELD;
    if (arena_append(h, at, n) != 0)
        return fail(h, PX_EHEADTOOBIG, "header too large");
    h->hdrs[h->nhdrs - 1].name_len += (uint32_t)n;
    return 0;
}

/* The name is whole (it may have come in several spans): classify it. */
static int on_header_field_complete(llhttp_t *p)
{
    struct px_http *h = from_parser(p);
    if (h->nhdrs > 0 && h->last_span == SPAN_FIELD) {
        struct px_hdr *hd = &h->hdrs[h->nhdrs - 1];
        hd->id = classify(h->buf + hd->name_off, hd->name_len);
    }
    return 0;
}

/*
 * llhttp 8.1 accepts obs-fold even in strict mode and reports the folded
 * part as another value span. A value span never starts right after a line
 * feed (and optional SP/HTAB) except in a fold, so the bytes before it tell
 * (RFC 9112 §5.2: reject). Heads are also checked byte by byte in
 * raw_scan(); this catches folds in trailers, which it does not see.
 */
static bool starts_fold(const struct px_http *h, const char *at)
{
    const char *b = at;
    while (b > h->feed_start && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    char before = b > h->feed_start ? b[-1] : h->prev_byte;
    return before == '\n';
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct px_http *h = from_parser(p);
    /* An empty value comes as a zero-length span placed after the line's
     * LF: that is no fold (a fold always brings bytes). */
    if (n > 0 && starts_fold(h, at))
        return fail(h, PX_EPARSE, MALFORMED "obsolete line folding");
    if (h->nhdrs == 0)
        return fail(h, PX_EPARSE, MALFORMED "header value without a name");
    struct px_hdr *hd = &h->hdrs[h->nhdrs - 1];
    if (h->last_span != SPAN_VALUE)
        hd->value_off = h->len;
    h->last_span = SPAN_VALUE;
    if (arena_append(h, at, n) != 0)
        return fail(h, PX_EHEADTOOBIG, "header too large");
    hd->value_len += (uint32_t)n;
    return 0;
}

/* The reason phrase is passed on to clients: HTAB / SP / VCHAR / obs-text only. */
static int on_status(llhttp_t *p, const char *at, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)at[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(from_parser(p), PX_EPARSE, MALFORMED "control byte in reason phrase");
    }
    return on_target(p, at, n);
}

static int on_headers_complete(llhttp_t *p)
{
    struct px_http *h = from_parser(p);
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        struct px_hdr *hd = &h->hdrs[i];
        /* llhttp 8.1 strict takes ": v" as a header with an empty name. */
        if (hd->name_len == 0)
            return fail(h, PX_EPARSE, MALFORMED "empty header name");
        /* Leading OWS is not part of the value (llhttp skips it); trailing
         * OWS is not either (RFC 9112 §5), so it is not forwarded. */
        while (hd->value_len > 0 && (h->buf[hd->value_off + hd->value_len - 1] == ' ' ||
                                     h->buf[hd->value_off + hd->value_len - 1] == '\t'))
            hd->value_len--;
    }
    h->head_nhdrs = h->nhdrs;
    h->chunk_ext_bytes = 0;
    h->head_done = true;
    /* RFC 9110 §15.2: a 1xx response ends with its head. llhttp 8.1 would
     * still parse a Transfer-Encoding body after one, bytes a client reads
     * as the next response: a backend could forge responses that way. A
     * 101 hands the connection over instead, which llhttp handles. */
    bool interim = h->type == PX_HTTP_RESPONSE && p->status_code >= 100 && p->status_code < 200 &&
                   p->status_code != 101;
    if (h->skip_body || interim)
        p->flags |= F_SKIPBODY; /* what returning 1 would do; we pause instead */
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct px_http *h = from_parser(p);
    h->body_bytes += n;
    if (h->max_body && h->body_bytes > h->max_body)
        return fail(h, PX_EBODYTOOBIG, "body too large");
    if (!h->decode_body)
        return 0;
    h->spans[h->nspans].base = at;
    h->spans[h->nspans].len = n;
    if (++h->nspans == PX_HTTP_MAX_SPANS)
        return HPE_PAUSED;
    return 0;
}

/*
 * llhttp skips chunk extensions without bound (node fixed the same in
 * CVE-2024-22019); we forward them raw, so they are bounded here.
 */
static int on_chunk_extension(llhttp_t *p, const char *at, size_t n)
{
    struct px_http *h = from_parser(p);
    for (size_t i = 0; i < n; i++)
        if (at[i] == 0x7f) /* llhttp 8.1 refuses the other controls, not DEL */
            return fail(h, PX_EPARSE, MALFORMED "control byte in chunk extension");
    h->chunk_ext_bytes +=
        (uint32_t)(n > PX_HTTP_MAX_CHUNK_EXT_BYTES ? PX_HTTP_MAX_CHUNK_EXT_BYTES + 1 : n);
    if (h->chunk_ext_bytes > PX_HTTP_MAX_CHUNK_EXT_BYTES)
        return fail(h, PX_EPARSE, MALFORMED "chunk extensions too long");
    return 0;
}

/* Called at the end of each chunk-size line. */
static int on_chunk_header(llhttp_t *p)
{
    from_parser(p)->chunk_ext_bytes = 0;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct px_http *h = from_parser(p);
    /* A recipient that merges trailers into the head (some do) must not
     * learn framing or routing from them: refuse rather than pass them. */
    for (uint32_t i = h->head_nhdrs; i < h->nhdrs; i++)
        if (hid_in(&h->hdrs[i], TRAILER_FORBIDDEN))
            return fail(h, PX_EPARSE, MALFORMED "forbidden trailer field");
    h->in_message = false;
    h->raw = 0;
    h->raw_prev = 0;
    h->ended_chunked = (p->flags & F_CHUNKED) != 0;
    return HPE_PAUSED;
}

static void settings_init(void)
{
    llhttp_settings_init(&request_settings);
    request_settings.on_message_begin = on_message_begin;
    request_settings.on_url = on_target;
    request_settings.on_header_field = on_header_field;
    request_settings.on_header_field_complete = on_header_field_complete;
    request_settings.on_header_value = on_header_value;
    request_settings.on_headers_complete = on_headers_complete;
    request_settings.on_body = on_body;
    request_settings.on_message_complete = on_message_complete;
    request_settings.on_chunk_extension_name = on_chunk_extension;
    request_settings.on_chunk_extension_value = on_chunk_extension;
    request_settings.on_chunk_header = on_chunk_header;
    response_settings = request_settings;
    response_settings.on_url = NULL;
    response_settings.on_status = on_status;
    for (unsigned c = 0; c < 256; c++)
        tchar_table[c] = is_tchar((unsigned char)c);
}

int px_http_init(struct px_http *h, enum px_http_type type, void *owner, uint32_t max_head_bytes,
                 uint32_t max_headers)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, settings_init);
    memset(h, 0, sizeof(*h));
    h->type = type;
    h->owner = owner;
    h->max_head = max_head_bytes;
    h->max_hdrs = max_headers;
    h->cap = max_head_bytes < ARENA_START_BYTES ? max_head_bytes : ARENA_START_BYTES;
    h->buf = malloc(h->cap);
    h->hdrs = malloc(sizeof(*h->hdrs) * max_headers);
    if (h->buf == NULL || h->hdrs == NULL) {
        px_http_dispose(h);
        return PX_ENOMEM;
    }
    llhttp_init(&h->parser, type == PX_HTTP_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE,
                type == PX_HTTP_REQUEST ? &request_settings : &response_settings);
    return 0;
}

void px_http_recycle(struct px_http *h, void *owner)
{
    enum px_http_type type = h->type;
    char *buf = h->buf;
    uint32_t cap = h->cap, max_head = h->max_head, max_hdrs = h->max_hdrs;
    struct px_hdr *hdrs = h->hdrs;

    /* Not the span array: a kilobyte written per request for nothing. */
    memset(h, 0, offsetof(struct px_http, spans));
    h->type = type;
    h->owner = owner;
    h->buf = buf;
    h->cap = cap;
    h->max_head = max_head;
    h->hdrs = hdrs;
    h->max_hdrs = max_hdrs;
    llhttp_init(&h->parser, h->type == PX_HTTP_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE,
                h->type == PX_HTTP_REQUEST ? &request_settings : &response_settings);
}

void px_http_dispose(struct px_http *h)
{
    free(h->buf);
    h->buf = NULL;
    free(h->hdrs);
    h->hdrs = NULL;
}

void px_http_reset(struct px_http *h)
{
    llhttp_reset(&h->parser);
    h->len = h->nhdrs = 0;
    h->head_done = false;
    h->skip_body = false;
    h->decode_body = false;
    h->nspans = 0;
    h->error = 0;
    h->why = NULL;
    h->prev_byte = 0;
    h->in_message = false;
    h->loaded = false;
    h->raw = 0;
    h->raw_prev = 0;
    h->head_reported = false;
    h->head_nhdrs = 0;
    h->authority_off = h->authority_len = 0;
    h->llhttp_used = false;
    h->quick = 0;
    h->quick_paused = false;
}

/* A set of ASCII bytes: bit C of [0] for C < 64, bit C - 64 of [1] below 128. */
typedef uint64_t charset[2];

#define CS_LO(c) (1ull << (c))
#define CS_HI(c) (1ull << ((c)-64))
#define CS_DIGITS (0x3ffull << '0')
#define CS_HEX_LETTERS ((0x3full << ('A' - 64)) | (0x3full << ('a' - 64)))
#define CS_LETTERS ((0x3ffffffull << ('A' - 64)) | (0x3ffffffull << ('a' - 64)))

/* RFC 3986 reg-name bytes: unreserved, '%' of pct-encoded, sub-delims. */
static const charset reg_name_bytes = {
    CS_DIGITS | CS_LO('-') | CS_LO('.') | CS_LO('%') | CS_LO('!') | CS_LO('$') | CS_LO('&') |
        CS_LO('\'') | CS_LO('(') | CS_LO(')') | CS_LO('*') | CS_LO('+') | CS_LO(',') | CS_LO(';') |
        CS_LO('='),
    CS_LETTERS | CS_HI('_') | CS_HI('~'),
};

/* Inside an IP-literal's brackets: hex digits, ':', '.', and 'v' of IPvFuture. */
static const charset ip_literal_bytes = {
    CS_DIGITS | CS_LO(':') | CS_LO('.'),
    CS_HEX_LETTERS | CS_HI('v') | CS_HI('V'),
};

/* tchar (RFC 9110 §5.6.2): what field names and methods are made of. */
static const charset tchar_bytes = {
    CS_DIGITS | CS_LO('!') | CS_LO('#') | CS_LO('$') | CS_LO('%') | CS_LO('&') | CS_LO('\'') |
        CS_LO('*') | CS_LO('+') | CS_LO('-') | CS_LO('.'),
    CS_LETTERS | CS_HI('^') | CS_HI('_') | CS_HI('`') | CS_HI('|') | CS_HI('~'),
};

/* What llhttp strict takes in a path or query (its url_path and url_query
 * tables): VCHAR but '#', which starts a fragment. */
static const charset target_bytes = {
    ~0ull << 0x21 & ~CS_LO('#'), ~0ull >> 1, /* up to 0x7e: DEL is not a VCHAR */
};

static bool in_set(const charset set, unsigned char c)
{
    return c < 128 && (set[c >> 6] >> (c & 63)) & 1;
}

static bool is_tchar(unsigned char c)
{
    return in_set(tchar_bytes, c);
}

/*
 * llhttp knows a fixed set of methods. A request line that starts with some
 * other token and a SP is well formed with a method we cannot proxy: 501
 * (RFC 9110 §9.1); anything else is malformed. Only the bytes of this feed
 * can tell, and only when the message started in it.
 */
static int unknown_method(const char *data, size_t len)
{
    size_t i = 0, start;
    while (i + 1 < len && data[i] == '\r' && data[i + 1] == '\n')
        i += 2;
    start = i;
    while (i < len && i - start <= METHOD_TOKEN_MAX_BYTES && is_tchar((unsigned char)data[i]))
        i++;
    if (i > start && i < len && data[i] == ' ' && i - start <= METHOD_TOKEN_MAX_BYTES)
        return PX_EMETHOD;
    return PX_EPARSE;
}

/* Our words for what llhttp refused (its REASON tells its two 0x4 errors apart); NULL: none. */
static const char *llhttp_why(llhttp_errno_t e, const char *reason)
{
    switch (e) {
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return reason && strstr(reason, "Duplicate") ? MALFORMED "more than one Content-Length"
                                                     : MALFORMED
                   "both Content-Length and Transfer-Encoding";
    case HPE_INVALID_CONTENT_LENGTH:
        return MALFORMED "invalid Content-Length";
    case HPE_INVALID_TRANSFER_ENCODING:
        return MALFORMED "invalid Transfer-Encoding";
    case HPE_INVALID_HEADER_TOKEN:
        return MALFORMED "invalid character in a header";
    case HPE_INVALID_URL:
        return MALFORMED "invalid request target";
    case HPE_INVALID_METHOD:
        return MALFORMED "invalid method";
    case HPE_INVALID_CHUNK_SIZE:
        return MALFORMED "invalid chunk size";
    case HPE_CR_EXPECTED:
    case HPE_LF_EXPECTED:
    case HPE_STRICT:
        return MALFORMED "line not ended by CRLF";
    case HPE_CLOSED_CONNECTION:
        return MALFORMED "data after Connection: close";
    default:
        return NULL;
    }
}

static int map_error(struct px_http *h, llhttp_errno_t e, const char *data, size_t len,
                     bool at_boundary)
{
    const char *why = llhttp_get_error_reason(&h->parser);
    if (h->error)
        return h->error;
    h->why = llhttp_why(e, why);
    switch (e) {
    case HPE_INVALID_VERSION:
        /* "HTTP/1.2" is a version we do not speak; "HTTP/1.10", "HTTP/1.1 "
         * or a bare CR after it is a malformed line. */
        return why && strstr(why, "CRLF") ? PX_EPARSE : PX_EVERSION;
    case HPE_PAUSED_H2_UPGRADE:
        return PX_EVERSION; /* the HTTP/2 connection preface */
    case HPE_INVALID_METHOD:
        return at_boundary && h->type == PX_HTTP_REQUEST ? unknown_method(data, len) : PX_EPARSE;
    default:
        return PX_EPARSE;
    }
}

/* A byte that may start a line after the start line without ending the head
 * or being refused (CR, LF, SP and HTAB are what raw_scan() looks at there). */
static bool field_start(char b)
{
    return b != '\r' && b != '\n' && b != ' ' && b != '\t';
}

/* Where the next SP, CR or LF is in DATA from I on (N if none): the bytes of
 * the start line that raw_scan() only remembers the last of. */
static size_t start_line_run(const char *data, size_t i, size_t n)
{
    while (i < n && data[i] != ' ' && data[i] != '\r' && data[i] != '\n')
        i++;
    return i;
}

/*
 * llhttp 8.1 in strict mode still takes a bare LF as a line end in places
 * (after the request line, as the empty line ending a head), reads a line
 * starting with SP after an empty value as obs-fold, and allows "GET  /".
 * The head is re-rendered, so none of that reaches a backend as sent, but a
 * proxy must not guess at what a client meant (RFC 9112 §2.2, §3, §5.2). So
 * every head byte also goes through this line scanner: CR only before LF,
 * no bare LF, no line starting with SP/HTAB, no empty token in the start
 * line (two SP in a request line, or before a status code). State carries
 * across feeds in h->raw. Returns 0 or PX_EPARSE.
 */
static int raw_scan(struct px_http *h, const char *data, size_t n)
{
    uint8_t st = h->raw;
    char prev = (char)h->raw_prev;

    for (size_t i = 0; i < n; i++) {
        /* Inside a field line only CR and LF matter: find them with memchr
         * rather than byte by byte (most of a head is field lines). */
        if ((st & RAW_START_DONE) && !(st & (RAW_CR | RAW_BOL))) {
            const char *cr = memchr(data + i, '\r', n - i);
            size_t end = cr ? (size_t)(cr - data) : n;
            if (memchr(data + i, '\n', end - i) != NULL)
                return refuse(h, MALFORMED "bare LF");
            if (cr == NULL)
                break;
            /* CR LF and the first byte of a field line: what the byte path
             * below would do with them changes nothing, so skip them. */
            if (end + 2 < n && data[end + 1] == '\n' && field_start(data[end + 2])) {
                i = end + 2;
                continue;
            }
            st |= RAW_CR;
            i = end;
            continue;
        }
        /* Inside the start line only SP, CR and LF matter: skip to the next
         * (byte by byte the other bytes only became prev). */
        size_t j = i;
        if ((st & RAW_START) && !(st & (RAW_START_DONE | RAW_CR | RAW_BOL)) &&
            (j = start_line_run(data, i, n)) > i) {
            prev = data[j - 1];
            i = j - 1;
            continue;
        }
        char b = data[i];
        if (st & RAW_CR) {
            if (b != '\n')
                return refuse(h, MALFORMED "CR not followed by LF");
            st = (uint8_t)((st & ~RAW_CR) | RAW_BOL);
            if (st & RAW_START)
                st |= RAW_START_DONE;
            continue;
        }
        if (b == '\r') {
            st |= RAW_CR;
            continue;
        }
        if (b == '\n')
            return refuse(h, MALFORMED "bare LF");
        if ((st & RAW_BOL) || !(st & RAW_START)) {
            if (b == ' ' || b == '\t')
                return refuse(h, MALFORMED "line starting with whitespace (obs-fold)");
            st = (uint8_t)((st & ~RAW_BOL) | RAW_START);
        }
        if (!(st & RAW_START_DONE)) {
            if (b == ' ') {
                if (prev == ' ' && (h->type == PX_HTTP_REQUEST || !(st & RAW_SP2)))
                    return refuse(h, MALFORMED "two spaces in the start line");
                st |= (st & RAW_SP1) ? RAW_SP2 : RAW_SP1;
            }
            prev = b;
        }
    }
    h->raw = st;
    h->raw_prev = (uint8_t)prev;
    return 0;
}

/* Checks a complete head beyond what llhttp checks. Returns 0 or a px_err. */
static int check_head(const struct px_http *h)
{
    if (h->parser.http_major != 1)
        return PX_EVERSION; /* HTTP/2.0 in a request line; HTTP/0.9 */
    if (h->type == PX_HTTP_RESPONSE && (h->parser.status_code < 100 || h->parser.status_code > 599))
        return PX_EPARSE;
    return 0;
}

/* Remembers the last bytes of a feed for byte_before() in the next one. */
static void keep_tail(struct px_http *h, const char *data, size_t n)
{
    if (n >= sizeof(h->tail)) {
        memcpy(h->tail, data + n - sizeof(h->tail), sizeof(h->tail));
        return;
    }
    memmove(h->tail, h->tail + n, sizeof(h->tail) - n);
    memcpy(h->tail + sizeof(h->tail) - n, data, n);
}

/* What the next feed needs of the N bytes this one took: its last byte but
 * SP/HTAB (starts_fold()) and its tail (byte_before()). */
static void keep_fed_bytes(struct px_http *h, const char *data, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        if (data[i - 1] != ' ' && data[i - 1] != '\t') {
            h->prev_byte = data[i - 1];
            break;
        }
    }
    keep_tail(h, data, n);
}

/* Makes ERR sticky: every later feed returns it too. */
static int feed_fail(struct px_http *h, int err)
{
    h->error = err;
    return err;
}

/* ------------------------------------------------ heads given whole */

/* Appends a whole field, name and value, to H's head (room for it in
 * h->hdrs is the caller's check); false when the arena is full. */
static bool append_field(struct px_http *h, const char *name, size_t name_len, uint16_t id,
                         const char *value, size_t value_len)
{
    struct px_hdr *hd = &h->hdrs[h->nhdrs];

    *hd = (struct px_hdr){.name_off = h->len, .name_len = (uint32_t)name_len, .id = id};
    if (arena_append(h, name, name_len) != 0)
        return false;
    hd->value_off = h->len;
    hd->value_len = (uint32_t)value_len;
    if (value_len > 0 && arena_append(h, value, value_len) != 0)
        return false;
    h->nhdrs++;
    return true;
}

/* True when every byte of S is in SET. */
static bool all_in_set(const charset set, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!in_set(set, (unsigned char)s[i]))
            return false;
    return true;
}

/* Names llhttp reads for framing or connection state: their heads go
 * through the parser, which sets its flags from them. */
#define LOAD_PARSER_FIELDS                                                                         \
    (HID_SET(HID_UPGRADE) | HID_SET(HID_CONNECTION) | HID_SET(HID_CONTENT_LENGTH) |                \
     HID_SET(HID_PROXY_CONNECTION) | HID_SET(HID_TRANSFER_ENCODING))

/* The methods a given head may have; any other is the parser's to judge. */
static int load_method(const char *m, size_t len)
{
    static const struct {
        const char *name;
        size_t len;
        int method;
    } known[] = {
        {"GET", 3, HTTP_GET},         {"HEAD", 4, HTTP_HEAD},     {"POST", 4, HTTP_POST},
        {"PUT", 3, HTTP_PUT},         {"DELETE", 6, HTTP_DELETE}, {"PATCH", 5, HTTP_PATCH},
        {"OPTIONS", 7, HTTP_OPTIONS},
    };
    for (size_t i = 0; i < PX_ARRAY_LEN(known); i++)
        if (len == known[i].len && memcmp(m, known[i].name, len) == 0)
            return known[i].method;
    return -1;
}

bool px_http_load_begin(struct px_http *h, const char *method, size_t method_len,
                        const char *target, size_t target_len)
{
    int m = load_method(method, method_len);

    PX_ASSERT(h->type == PX_HTTP_REQUEST && !h->in_message && !h->loaded);
    /* Origin-form only: "*" and absolute-form targets take the parser's path. */
    if (m < 0 || target_len == 0 || target[0] != '/')
        return false;
    if (!all_in_set(target_bytes, target, target_len))
        return false;
    h->len = h->nhdrs = 0;
    h->target_off = 0;
    if (arena_append(h, target, target_len) != 0)
        return false;
    h->target_len = (uint32_t)target_len;
    h->parser.method = (uint8_t)m;
    h->parser.http_major = 1;
    h->parser.http_minor = 1;
    h->parser.flags = 0;
    h->parser.content_length = 0;
    h->parser.upgrade = 0;
    h->in_message = true;
    h->loaded = true;
    return true;
}

bool px_http_load_field(struct px_http *h, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    uint16_t id = name_len > 0 ? classify(name, name_len) : HID_OTHER;

    if (name_len == 0 || h->nhdrs == h->max_hdrs || (HID_SET(id) & LOAD_PARSER_FIELDS))
        return false;
    if (!all_in_set(tchar_bytes, name, name_len))
        return false;
    /* OWS around a value is not part of it (RFC 9112 §5; on_headers_complete()). */
    while (value_len > 0 && (value[0] == ' ' || value[0] == '\t'))
        value++, value_len--;
    while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
        value_len--;
    return px_field_value_ok(value, value_len) &&
           append_field(h, name, name_len, id, value, value_len);
}

void px_http_load_end(struct px_http *h)
{
    h->head_nhdrs = h->nhdrs;
    h->head_done = true;
    h->head_reported = false;
    h->last_span = SPAN_NONE;
    h->chunk_ext_bytes = 0;
    h->body_bytes = 0;
}

void px_http_load_abort(struct px_http *h)
{
    px_http_reset(h);
    h->target_off = h->target_len = 0;
}

/* A feed of a head given whole: the head once, then the message's end. */
static int feed_loaded(struct px_http *h, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (h->error)
        return h->error;
    if (!h->head_reported) {
        h->head_reported = true;
        return PX_HTTP_HEAD;
    }
    if (len > 0) /* a loaded request has no body: nothing may follow it */
        return feed_fail(h, PX_EPARSE);
    h->in_message = false;
    h->ended_chunked = false;
    return PX_HTTP_DONE;
}

/* A feed of bytes, through llhttp and the checks around it. */
static int feed_parser(struct px_http *h, const char *data, size_t len, size_t *consumed)
{
    llhttp_t *p = &h->parser;
    llhttp_errno_t e;
    bool at_boundary = !h->in_message;
    bool head_phase = !(h->in_message && h->head_done);
    int rc;

    *consumed = 0;
    if (h->error)
        return h->error;
    if (llhttp_get_errno(p) == HPE_PAUSED)
        llhttp_resume(p);
    else if (llhttp_get_errno(p) == HPE_PAUSED_UPGRADE)
        return PX_HTTP_UPGRADE;
    h->feed_start = data;
    e = llhttp_execute(p, data, len);
    *consumed = e == HPE_OK ? len : (size_t)(llhttp_get_error_pos(p) - data);
    /* The message ended in this feed, so at least its last byte is here. */
    bool crlf_end = !h->ended_chunked ||
                    (after_crlf(h, data + *consumed) && after_crlf(h, data + *consumed - 2));
    keep_fed_bytes(h, data, *consumed);
    if (head_phase) {
        /* On an error, the byte llhttp stopped at may be the bare CR/LF. */
        size_t n = *consumed + (e != HPE_OK && e != HPE_PAUSED && *consumed < len);
        if (raw_scan(h, data, n) != 0)
            return feed_fail(h, PX_EPARSE);
        /* "GET /" then CRLF: llhttp waits for headers of an HTTP/0.9 request. */
        if (e == HPE_OK && h->type == PX_HTTP_REQUEST && (h->raw & RAW_START_DONE) &&
            p->http_major == 0)
            return feed_fail(h, PX_EVERSION);
    }
    switch (e) {
    case HPE_OK:
        return PX_HTTP_MORE;
    case HPE_PAUSED_UPGRADE:
        return PX_HTTP_UPGRADE;
    case HPE_PAUSED:
        if (h->decode_body && h->nspans == PX_HTTP_MAX_SPANS)
            return PX_HTTP_BODYFULL;
        if (h->head_done && !h->head_reported) {
            /* First pause after the head: report the head once. Trailers
             * end in a pause too, which is the message's end, not a head. */
            h->head_reported = true;
            h->last_span = SPAN_NONE;
            if ((rc = check_head(h)) != 0)
                return feed_fail(h, rc);
            return PX_HTTP_HEAD;
        }
        if (!crlf_end)
            return feed_fail(h, PX_EPARSE); /* a chunked message ends in CRLF CRLF */
        h->ended_chunked = false;
        return PX_HTTP_DONE;
    default:
        return feed_fail(h, map_error(h, e, data, len, at_boundary));
    }
}

/* ------------------------------------------------ responses read quickly */

/*
 * Most responses are a plain head, whole in one read, and a Content-Length
 * body. llhttp spends about twelve instructions a byte on such a head, with
 * our callbacks and raw_scan() about 6,200 a response from nginx: a fifth
 * of an HTTP/2 request's user-space instructions. So that strict subset is
 * read here, a line at a time, and its body counted. Any other response --
 * a head split over reads, chunked or close-delimited, 1xx, 204, 304, an
 * answer to HEAD, HTTP/1.0, a field llhttp interprets other than
 * Content-Length and "Connection: keep-alive", any byte llhttp or
 * raw_scan() would look at twice -- is declined and goes to llhttp. Once
 * llhttp has read a message on a parser, it reads all the rest until
 * px_http_reset(): its state between messages (its pause, its reset of
 * flags) is its own. A response read here leaves what llhttp would: the
 * same head, events, consumed counts, spans and parser fields, which
 * tests/fuzz/quick_diff.h checks by reading the same bytes both ways.
 */

enum { QUICK_OFF, QUICK_BODY, QUICK_DONE };

/* Longer Content-Lengths go to llhttp, which checks for overflow. */
#define QUICK_LENGTH_DIGITS 15

/* What a quick read learns from the fields llhttp interprets. */
struct quick_head {
    int status;
    bool has_length, keep_alive;
    uint64_t length;
};

/* The status of "HTTP/1.1 NNN " at P, when its body is framed the quick way; or -1. */
static int quick_status(const char *p, const char *end)
{
    int status = 0;

    if (end - p < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0 || p[12] != ' ')
        return -1;
    for (size_t i = 9; i < 12; i++) {
        unsigned d = (unsigned)((unsigned char)p[i] - '0');
        if (d > 9)
            return -1;
        status = status * 10 + (int)d;
    }
    if (status < 200 || status > 599 || status == 204 || status == 304)
        return -1;
    return status;
}

/* One Content-Length of digits only. */
static bool quick_length(const char *v, size_t n, struct quick_head *q)
{
    if (q->has_length || n == 0 || n > QUICK_LENGTH_DIGITS)
        return false;
    q->length = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)v[i] - '0');
        if (d > 9)
            return false;
        q->length = q->length * 10 + d;
    }
    q->has_length = true;
    return true;
}

/* What a field of hid ID with value V of VN bytes tells of the framing;
 * false for a field llhttp would read more into. */
static bool quick_interpret(uint16_t id, const char *v, size_t vn, struct quick_head *q)
{
    switch (id) {
    case HID_TRANSFER_ENCODING:
    case HID_PROXY_CONNECTION:
    case HID_UPGRADE:
        return false;
    case HID_CONTENT_LENGTH:
        return quick_length(v, vn, q);
    case HID_CONNECTION:
        return q->keep_alive = px_http_ieq(v, vn, "keep-alive");
    default:
        return true;
    }
}

/* Appends the field line at P to H's head as llhttp and the callbacks
 * would; where the next line starts, or NULL to decline. */
static const char *quick_field(struct px_http *h, const char *p, const char *end,
                               struct quick_head *q)
{
    const char *name = p, *v, *eol;

    while (p < end && tchar_table[(unsigned char)*p])
        p++;
    if (p == name || p == end || *p != ':' || h->nhdrs == h->max_hdrs)
        return NULL;
    size_t name_len = (size_t)(p++ - name);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if ((eol = px_field_value_end(v = p, end)) == NULL)
        return NULL;
    size_t vn = (size_t)(eol - v);
    /* Trailing OWS counts against max_head in llhttp's reading, not here. */
    if (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        return NULL;
    uint16_t id = classify(name, name_len);
    if (!quick_interpret(id, v, vn, q) || !append_field(h, name, name_len, id, v, vn))
        return NULL;
    return eol + 2;
}

/*
 * Reads the head at DATA into H if it is of the quick kind and whole; the
 * bytes it took, or 0 to decline. Past the status line, declining leaves
 * H's head half written: llhttp, which then reads the same bytes, begins a
 * message at their first byte and so clears it first (on_message_begin()).
 */
static size_t quick_head_read(struct px_http *h, const char *data, size_t len, struct quick_head *q)
{
    const char *end = data + len, *p;

    if ((q->status = quick_status(data, end)) < 0)
        return 0;
    clear_head(h);
    if ((p = px_field_value_end(data + 13, end)) == NULL || /* the reason: on_status()'s bytes */
        arena_append(h, data + 13, (size_t)(p - data) - 13) != 0)
        return 0;
    h->target_len = h->len;
    for (p += 2; p < end;) {
        if (*p == '\r') /* the empty line */
            return q->has_length && p + 1 < end && p[1] == '\n' ? (size_t)(p + 2 - data) : 0;
        if ((p = quick_field(h, p, end, q)) == NULL)
            return 0;
    }
    return 0;
}

/* Leaves H, its head read quickly, as llhttp leaves a head it has read. */
static void quick_head_commit(struct px_http *h, const struct quick_head *q)
{
    llhttp_t *p = &h->parser;

    p->status_code = (uint16_t)q->status;
    p->http_major = 1;
    p->http_minor = 1;
    p->flags = F_CONTENT_LENGTH | (q->keep_alive ? F_CONNECTION_KEEP_ALIVE : 0);
    p->content_length = q->length;
    p->upgrade = 0;
    h->in_message = true;
    h->head_done = true;
    h->head_reported = true;
    h->head_nhdrs = h->nhdrs;
    h->chunk_ext_bytes = 0;
    h->ended_chunked = false;
    h->quick = QUICK_BODY;
    h->quick_paused = true;
}

/* Counts the body of a response read quickly, as on_body() and
 * on_message_complete() would. */
static int feed_quick_body(struct px_http *h, const char *data, size_t len, size_t *consumed)
{
    /* llhttp counts the body down in content_length: so does this. */
    uint64_t *left = &h->parser.content_length;
    size_t n = len < *left ? len : (size_t)*left;

    *consumed = 0;
    if (h->error)
        return h->error;
    h->body_bytes += n;
    if (h->max_body && h->body_bytes > h->max_body)
        return feed_fail(h, PX_EBODYTOOBIG);
    *left -= n;
    *consumed = n;
    keep_fed_bytes(h, data, n);
    if (h->decode_body && n > 0) {
        h->spans[h->nspans].base = data;
        h->spans[h->nspans].len = n;
        if (++h->nspans == PX_HTTP_MAX_SPANS)
            return h->quick_paused = true, PX_HTTP_BODYFULL;
    }
    if (*left > 0)
        return h->quick_paused = false, PX_HTTP_MORE;
    h->in_message = false;
    h->quick = QUICK_DONE;
    h->quick_paused = true;
    return PX_HTTP_DONE;
}

/* Reads a response head quickly if it can; PX_HTTP_HEAD, or PX_HTTP_MORE
 * having changed nothing. */
static int feed_quick_head(struct px_http *h, const char *data, size_t len, size_t *consumed)
{
    struct quick_head q = {0};
    size_t n;

    if (h->llhttp_only || h->type != PX_HTTP_RESPONSE || h->in_message || h->error ||
        h->skip_body || len == 0 || (n = quick_head_read(h, data, len, &q)) == 0)
        return PX_HTTP_MORE;
    quick_head_commit(h, &q);
    keep_fed_bytes(h, data, n);
    *consumed = n;
    return PX_HTTP_HEAD;
}

int px_http_feed(struct px_http *h, const char *data, size_t len, size_t *consumed)
{
    if (h->loaded)
        return feed_loaded(h, len, consumed);
    if (h->quick == QUICK_BODY)
        return feed_quick_body(h, data, len, consumed);
    if (!h->llhttp_used) {
        if (feed_quick_head(h, data, len, consumed) == PX_HTTP_HEAD)
            return PX_HTTP_HEAD;
        /* llhttp has read nothing here: only what quick reads wrote is to undo. */
        if (h->quick != QUICK_OFF)
            llhttp_reset(&h->parser);
        h->quick = QUICK_OFF;
        h->llhttp_used = true;
    }
    return feed_parser(h, data, len, consumed);
}

int px_http_finish(struct px_http *h)
{
    llhttp_t *p = &h->parser;
    if (llhttp_get_errno(p) == HPE_PAUSED)
        llhttp_resume(p);
    h->quick_paused = false;
    if (!px_http_started(h))
        return PX_HTTP_MORE;
    if (h->head_done && llhttp_message_needs_eof(p)) {
        llhttp_errno_t e = llhttp_finish(p);
        return e == HPE_OK || e == HPE_PAUSED ? PX_HTTP_DONE : PX_ETRUNCATED;
    }
    return PX_ETRUNCATED;
}

bool px_http_paused(const struct px_http *h)
{
    if (h->quick != QUICK_OFF)
        return h->quick_paused;
    return llhttp_get_errno(&h->parser) == HPE_PAUSED;
}

const char *px_http_why(const struct px_http *h)
{
    return h->why;
}

bool px_http_started(const struct px_http *h)
{
    return h->in_message;
}

bool px_http_ieq(const char *s, size_t n, const char *lower)
{
    size_t i;
    for (i = 0; i < n && lower[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return false;
    }
    return i == n && lower[i] == '\0';
}

int px_http_find(const struct px_http *h, const char *name)
{
    size_t n = strlen(name);

    for (uint32_t i = 0; i < h->nhdrs; i++) {
        const struct px_hdr *hd = &h->hdrs[i];
        if (hd->name_len == n && lower_eq(h->buf + hd->name_off, name, n))
            return (int)i;
    }
    return -1;
}

static bool next_token(const char *v, size_t n, size_t *pos, const char **t, size_t *tn);

/* Calls FN for each comma-separated, OWS-trimmed token of a header value. */
static int each_token(const char *v, size_t n, int (*fn)(struct px_http *, const char *, size_t),
                      struct px_http *h)
{
    const char *t;
    size_t tn, pos = 0;
    while (next_token(v, n, &pos, &t, &tn)) {
        int rc = fn(h, t, tn);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/*
 * One token of a Connection header: a flag, or a header name to drop. A
 * token that is a known name matches exactly the fields of that hid; any
 * other only fields of HID_OTHER, so those alone are compared.
 */
static int connection_token(struct px_http *h, const char *t, size_t n)
{
    uint16_t id = classify(t, n);

    if (++h->conn_tokens > PX_HTTP_MAX_CONNECTION_TOKENS)
        return refuse(h, MALFORMED "too many Connection tokens");
    if (n == 5 && lower_eq(t, "close", 5))
        h->conn_close = true;
    else if (id == HID_KEEP_ALIVE)
        h->conn_keepalive = true;
    else if (id == HID_UPGRADE)
        h->conn_upgrade = true;
    /* Naming a framing or routing header would let a client strip it from
     * what we forward after we relied on it: refuse. */
    if (id == HID_CONTENT_LENGTH || id == HID_TRANSFER_ENCODING || id == HID_HOST)
        return refuse(h, MALFORMED "Connection names a framing header or Host");
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        struct px_hdr *hd = &h->hdrs[i];
        if (hd->id == id && (id != HID_OTHER ||
                             (hd->name_len == n && strncasecmp(h->buf + hd->name_off, t, n) == 0)))
            hd->flags |= PX_HDR_DROP;
    }
    return 0;
}

/*
 * Host = uri-host [ ":" port ] (RFC 9110 §7.2): a reg-name or IPv4 of
 * unreserved / pct-encoded / sub-delims, or an IP-literal in brackets, then
 * an optional all-digit port. An empty value is allowed (RFC 9112 §3.2).
 * Every request's Host goes through here: a bit per byte value, not a
 * search of a string per byte.
 */
static bool valid_host(const char *v, size_t n)
{
    size_t i = 0;
    if (n > 0 && v[0] == '[') {
        for (i = 1; i < n && v[i] != ']'; i++)
            if (!in_set(ip_literal_bytes, (unsigned char)v[i]))
                return false;
        if (i == n || i < 2)
            return false;
        i++;
    } else {
        for (; i < n && v[i] != ':'; i++)
            if (!in_set(reg_name_bytes, (unsigned char)v[i]))
                return false;
    }
    if (i == n)
        return true;
    if (v[i++] != ':')
        return false;
    for (; i < n; i++)
        if ((unsigned)((unsigned char)v[i] - '0') > 9)
            return false;
    return true;
}

/*
 * Checks the request-target (RFC 9112 §3.2): origin-form, absolute-form
 * with an http or https scheme, a non-empty authority and no userinfo
 * (RFC 9110 §4.2.4), or "*" for OPTIONS only. Fragments are never part of
 * a target. Stores an absolute-form authority in h->authority_*.
 */
static int check_target(struct px_http *h)
{
    const char *t = h->buf + h->target_off;
    size_t n = h->target_len, i;

    h->authority_off = h->authority_len = 0;
    if (n == 0 || memchr(t, '#', n) != NULL)
        return refuse(h, MALFORMED "invalid request target");
    if (t[0] == '*')
        return n == 1 && h->parser.method == HTTP_OPTIONS
                   ? 0
                   : refuse(h, MALFORMED "'*' target outside OPTIONS");
    if (t[0] == '/')
        return 0;
    if (n > 7 && strncasecmp(t, "http://", 7) == 0)
        i = 7;
    else if (n > 8 && strncasecmp(t, "https://", 8) == 0)
        i = 8;
    else
        return refuse(h, MALFORMED "invalid request target");
    size_t start = i;
    while (i < n && t[i] != '/' && t[i] != '?')
        i++;
    if (i == start || memchr(t + start, '@', i - start) != NULL ||
        !valid_host(t + start, i - start))
        return refuse(h, MALFORMED "invalid authority in the request target");
    h->authority_off = h->target_off + (uint32_t)start;
    h->authority_len = (uint32_t)(i - start);
    return 0;
}

/* Splits the next comma-separated, OWS-trimmed, non-empty token off V at *POS. */
static bool next_token(const char *v, size_t n, size_t *pos, const char **t, size_t *tn)
{
    size_t i = *pos;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end > start) {
            *pos = i;
            *t = v + start;
            *tn = end - start;
            return true;
        }
    }
    *pos = n;
    return false;
}

/*
 * Framing a backend could read differently from us is refused (RFC 9112
 * §6.1, §6.3). A request may carry one Transfer-Encoding line, in
 * HTTP/1.1, listing only "chunked": a coding before it buys nothing in a
 * request and is where parsers disagree (nginx answers 501 to it). A
 * response may carry one line; its codings are the backend's business.
 */
static int check_framing(struct px_http *h)
{
    unsigned nlines = 0, ncodings = 0;
    bool last_chunked = false;

    for (uint32_t i = 0; i < h->nhdrs; i++) {
        const struct px_hdr *hd = &h->hdrs[i];
        const char *t;
        size_t tn, pos = 0;
        if (h->type == PX_HTTP_REQUEST &&
            (hd->id == HID_CONTENT_LENGTH_US || hd->id == HID_TRANSFER_ENCODING_US))
            /* CGI-style servers map '_' to '-' */
            return refuse(h, MALFORMED "framing header name with '_'");
        if (hd->id != HID_TRANSFER_ENCODING)
            continue;
        nlines++;
        while (next_token(h->buf + hd->value_off, hd->value_len, &pos, &t, &tn)) {
            ncodings++;
            last_chunked = px_http_ieq(t, tn, "chunked");
        }
    }
    if (nlines == 0)
        return 0;
    if (nlines > 1)
        return refuse(h, MALFORMED "more than one Transfer-Encoding");
    if (h->parser.http_minor == 0)
        return refuse(h, MALFORMED "Transfer-Encoding in HTTP/1.0");
    /* llhttp 8.1 takes "chunked" + HTAB as some other coding (SP is fine):
     * whenever its reading and ours differ, neither can be trusted. */
    if (last_chunked != ((h->parser.flags & F_CHUNKED) != 0))
        return refuse(h, MALFORMED "invalid Transfer-Encoding");
    if (h->type == PX_HTTP_REQUEST && (ncodings != 1 || !last_chunked))
        return refuse(h, MALFORMED "Transfer-Encoding other than chunked");
    return 0;
}

/* True if an Upgrade value lists h2c, which is never upgraded to through us. */
static bool lists_h2c(const char *v, size_t n)
{
    const char *t;
    size_t tn, pos = 0;
    while (next_token(v, n, &pos, &t, &tn))
        if (px_http_ieq(t, tn, "h2c"))
            return true;
    return false;
}

int px_http_scan(struct px_http *h)
{
    bool has_upgrade_hdr = false, h2c = false;
    int rc;
    h->conn_close = h->conn_keepalive = h->conn_upgrade = h->expect_continue = false;
    h->conn_tokens = 0;
    h->host_idx = -1;
    h->xff_len = 0;
    if (h->type == PX_HTTP_REQUEST) {
        if (h->parser.method == HTTP_CONNECT)
            return PX_EMETHOD;
        if ((rc = check_target(h)) != 0)
            return rc;
    }
    if ((rc = check_framing(h)) != 0)
        return rc;
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        struct px_hdr *hd = &h->hdrs[i];
        const char *v = h->buf + hd->value_off;
        if (hid_in(hd, HOP_BY_HOP))
            hd->flags |= PX_HDR_DROP;
        switch (hd->id) {
        case HID_CONNECTION:
            if (each_token(v, hd->value_len, connection_token, h) != 0)
                return PX_EPARSE; /* connection_token said why */
            break;
        case HID_UPGRADE:
            has_upgrade_hdr = true;
            h2c |= lists_h2c(v, hd->value_len);
            break;
        case HID_HOST:
            if (h->host_idx >= 0)
                return refuse(h, MALFORMED "duplicate Host header");
            if (h->type == PX_HTTP_REQUEST && !valid_host(v, hd->value_len))
                return refuse(h, MALFORMED "invalid Host header");
            h->host_idx = (int)i;
            break;
        case HID_EXPECT:
            h->expect_continue = px_http_ieq(v, hd->value_len, "100-continue");
            break;
        case HID_X_FORWARDED_FOR:
            hd->flags |= PX_HDR_XFF;
            h->xff_len += hd->value_len + 2;
            break;
        default:
            break;
        }
    }
    /* h2c would let a client speak HTTP/2 to the backend past our parser. */
    h->conn_upgrade = h->conn_upgrade && has_upgrade_hdr && !h2c;
    if (h->type == PX_HTTP_REQUEST && h->parser.http_minor == 1 && h->host_idx < 0)
        return refuse(h, MALFORMED "no Host header");
    return 0;
}

const char *px_http_method_name(const struct px_http *h)
{
    /* llhttp reports the target only after a method it knows; before that
     * parser.method is 0 (DELETE) or the previous request's. */
    if (h->target_len == 0)
        return "-";
    return llhttp_method_name((llhttp_method_t)h->parser.method);
}

static void origin_form(const char *t, size_t n, bool *slash, const char **out, size_t *outlen);

/* The target's path as a backend will see it; see http1.h. */
void px_http_path(const struct px_http *h, const char **path, size_t *len)
{
    bool slash;

    origin_form(h->buf + h->target_off, h->target_len, &slash, path, len);
    if (slash) /* "http://a?c": the path is "/", which a prefix match needs to see */
        *path = "/", *len = 1;
}

bool px_http_method_is(const struct px_http *h, const char *name)
{
    return strcmp(px_http_method_name(h), name) == 0;
}

bool px_http_is_idempotent(const struct px_http *h)
{
    switch (h->parser.method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PUT:
    case HTTP_DELETE:
        return true;
    default:
        return false;
    }
}

int px_http_status(const struct px_http *h)
{
    return h->parser.status_code;
}

unsigned px_http_major(const struct px_http *h)
{
    return h->parser.http_major;
}

unsigned px_http_minor(const struct px_http *h)
{
    return h->parser.http_minor;
}

bool px_http_content_length(const struct px_http *h, uint64_t *len)
{
    *len = h->parser.content_length;
    return (h->parser.flags & F_CONTENT_LENGTH) != 0;
}

bool px_http_chunked(const struct px_http *h)
{
    return (h->parser.flags & F_CHUNKED) != 0;
}

bool px_http_has_body(const struct px_http *h)
{
    return px_http_chunked(h) || ((h->parser.flags & F_CONTENT_LENGTH) && h->parser.content_length);
}

bool px_http_needs_eof(const struct px_http *h)
{
    return llhttp_message_needs_eof(&h->parser) != 0;
}

bool px_http_keep_alive(const struct px_http *h)
{
    return llhttp_should_keep_alive(&h->parser) != 0;
}

bool px_http_is_upgrade(const struct px_http *h)
{
    return h->parser.upgrade != 0;
}

/* A bounded string builder: writes past cap are dropped and flagged. */
struct out {
    char *p;
    size_t len, cap;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_header(struct out *o, const struct px_http *h, const struct px_hdr *hd)
{
    put(o, h->buf + hd->name_off, hd->name_len);
    put(o, ": ", 2);
    put(o, h->buf + hd->value_off, hd->value_len);
    put(o, "\r\n", 2);
}

/*
 * X-Forwarded-Proto: the scheme the client used. A trusted proxy in front
 * (a TLS terminator) knows it better than we do, so its value stays when it
 * is one of the two schemes; anyone else's is replaced, never believed.
 */
static void put_forwarded_proto(struct out *o, const struct px_http *h,
                                const struct px_req_ctx *ctx)
{
    const char *scheme = ctx->scheme ? ctx->scheme : "http";
    int i = ctx->trusted_proto ? px_http_find(h, "x-forwarded-proto") : -1;

    if (i >= 0) {
        const struct px_hdr *hd = &h->hdrs[i];
        const char *v = h->buf + hd->value_off;
        if (px_http_ieq(v, hd->value_len, "https"))
            scheme = "https";
        else if (px_http_ieq(v, hd->value_len, "http"))
            scheme = "http";
    }
    puts_(o, "X-Forwarded-Proto: ");
    puts_(o, scheme);
    put(o, "\r\n", 2);
}

/*
 * The origin-form of an absolute-form target: "http://a/b?c" → "/b?c",
 * "http://a?c" → "/" + "?c" (*slash tells to write the "/" first).
 */
static void origin_form(const char *t, size_t n, bool *slash, const char **out, size_t *outlen)
{
    *slash = false;
    *out = t;
    *outlen = n;
    if (n == 0 || t[0] == '/' || (n == 1 && t[0] == '*'))
        return;
    const char *scheme_end = memchr(t, ':', n);
    if (scheme_end == NULL || (size_t)(scheme_end - t) + 3 > n || scheme_end[1] != '/' ||
        scheme_end[2] != '/')
        return;
    const char *auth = scheme_end + 3;
    const char *path = auth;
    while (path < t + n && *path != '/' && *path != '?')
        path++;
    *slash = path == t + n || *path == '?'; /* the path is never empty */
    *out = path;
    *outlen = n - (size_t)(path - t);
}

/* Headers a client must not be able to set, such as our geo headers. */
static bool in_drop_list(const struct px_http *h, const struct px_hdr *hd,
                         const struct px_req_ctx *ctx)
{
    for (size_t i = 0; i < ctx->ndrop; i++) {
        const char *n = ctx->drop_names[i];
        if (n && strlen(n) == hd->name_len &&
            strncasecmp(h->buf + hd->name_off, n, hd->name_len) == 0)
            return true;
    }
    return false;
}

int px_http_write_request_head(const struct px_http *h, const struct px_req_ctx *ctx, char *buf,
                               size_t cap)
{
    struct out o = {buf, 0, cap, false};
    const char *target;
    size_t target_len;
    bool xff_done = false, slash;

    origin_form(h->buf + h->target_off, h->target_len, &slash, &target, &target_len);
    puts_(&o, px_http_method_name(h));
    put(&o, " /", slash ? 2 : 1);
    put(&o, target, target_len);
    puts_(&o, " HTTP/1.1\r\n");
    if (h->host_idx < 0) {
        /* HTTP/1.0 without Host, sent on as HTTP/1.1, which requires one:
         * the target's authority, or empty (RFC 9112 §3.2). */
        puts_(&o, "Host: ");
        put(&o, h->buf + h->authority_off, h->authority_len);
        put(&o, "\r\n", 2);
    }
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        const struct px_hdr *hd = &h->hdrs[i];
        if (hd->flags & PX_HDR_XFF) {
            /* All X-Forwarded-For lines merge into one, ours last, so a
             * backend reading only the first line still sees the chain. */
            if (xff_done)
                continue;
            xff_done = true;
            puts_(&o, "X-Forwarded-For: ");
            for (uint32_t j = i; j < h->nhdrs; j++) {
                if (!(h->hdrs[j].flags & PX_HDR_XFF))
                    continue;
                put(&o, h->buf + h->hdrs[j].value_off, h->hdrs[j].value_len);
                put(&o, ", ", 2);
            }
            puts_(&o, ctx->client_ip);
            put(&o, "\r\n", 2);
            continue;
        }
        if ((hd->flags & PX_HDR_DROP) || hd->id == HID_X_FORWARDED_PROTO ||
            in_drop_list(h, hd, ctx) ||
            (ctx->drop_underscores && memchr(h->buf + hd->name_off, '_', hd->name_len)))
            continue;
        if ((int)i == h->host_idx && h->authority_len > 0) {
            /* RFC 9112 §3.2.2: the target's authority, not the Host sent. */
            puts_(&o, "Host: ");
            put(&o, h->buf + h->authority_off, h->authority_len);
            put(&o, "\r\n", 2);
            continue;
        }
        if (hd->id == HID_TRANSFER_ENCODING) {
            /* px_http_scan() allows only "chunked"; send it one way. */
            puts_(&o, "Transfer-Encoding: chunked\r\n");
            continue;
        }
        put_header(&o, h, hd);
    }
    if (ctx->extra)
        put(&o, ctx->extra, ctx->extra_len);
    if (!xff_done) {
        puts_(&o, "X-Forwarded-For: ");
        puts_(&o, ctx->client_ip);
        put(&o, "\r\n", 2);
    }
    put_forwarded_proto(&o, h, ctx);
    puts_(&o, "Via: 1.1 georoute\r\n");
    if (ctx->upgrade) {
        int u = px_http_find(h, "upgrade");
        if (u >= 0)
            put_header(&o, h, &h->hdrs[u]);
        puts_(&o, "Connection: upgrade\r\n");
    }
    put(&o, "\r\n", 2);
    return o.overflow ? -1 : (int)o.len;
}

/* Fields a trailer never brings to a backend: who the client is, and hop-by-hop ones. */
static bool trailer_dropped(const struct px_http *h, const struct px_hdr *hd,
                            const struct px_req_ctx *ctx)
{
    return hid_in(hd, CLIENT_FACTS | HOP_BY_HOP) || in_drop_list(h, hd, ctx) ||
           (ctx->drop_underscores && memchr(h->buf + hd->name_off, '_', hd->name_len));
}

size_t px_http_rechunk(struct px_http *h, char line[PX_HTTP_CHUNK_LINE], struct px_span *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t total = 0, n = 0, len = 0;
    char digits[16];

    for (unsigned i = 0; i < h->nspans; i++)
        total += h->spans[i].len;
    if (total == 0) {
        h->nspans = 0;
        return 0;
    }
    for (uint64_t v = total; v; v >>= 4)
        digits[len++] = hex[v & 15];
    for (size_t i = 0; i < len; i++)
        line[i] = digits[len - 1 - i];
    memcpy(line + len, "\r\n", 2);
    out[n++] = (struct px_span){line, len + 2};
    for (unsigned i = 0; i < h->nspans; i++)
        out[n++] = h->spans[i];
    out[n++] = (struct px_span){"\r\n", 2};
    h->nspans = 0;
    return n;
}

size_t px_http_last_chunk_bytes(const struct px_http *h)
{
    size_t n = sizeof("0\r\n\r\n");
    for (uint32_t i = h->head_nhdrs; i < h->nhdrs; i++)
        n += h->hdrs[i].name_len + h->hdrs[i].value_len + 4;
    return n;
}

int px_http_write_last_chunk(const struct px_http *h, const struct px_req_ctx *ctx, char *buf,
                             size_t cap)
{
    struct out o = {buf, 0, cap, false};

    puts_(&o, "0\r\n");
    for (uint32_t i = h->head_nhdrs; i < h->nhdrs; i++) {
        struct px_hdr hd = h->hdrs[i];
        if (trailer_dropped(h, &hd, ctx))
            continue;
        while (hd.value_len > 0 && (h->buf[hd.value_off + hd.value_len - 1] == ' ' ||
                                    h->buf[hd.value_off + hd.value_len - 1] == '\t'))
            hd.value_len--;
        put_header(&o, h, &hd);
    }
    put(&o, "\r\n", 2);
    return o.overflow ? -1 : (int)o.len;
}

int px_http_write_response_head(const struct px_http *h, const struct px_resp_ctx *ctx, char *buf,
                                size_t cap)
{
    struct out o = {buf, 0, cap, false};
    unsigned status = (unsigned)px_http_status(h); /* 100..999: llhttp reads three digits */
    char line[] = {'H',
                   'T',
                   'T',
                   'P',
                   '/',
                   '1',
                   '.',
                   '1',
                   ' ',
                   (char)('0' + status / 100 % 10),
                   (char)('0' + status / 10 % 10),
                   (char)('0' + status % 10),
                   ' '};

    put(&o, line, sizeof(line)); /* no printf per response */
    put(&o, h->buf + h->target_off, h->target_len);
    put(&o, "\r\n", 2);
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        const struct px_hdr *hd = &h->hdrs[i];
        if (hd->flags & PX_HDR_DROP)
            continue;
        if (ctx->drop_te && hd->id == HID_TRANSFER_ENCODING)
            continue;
        put_header(&o, h, hd);
    }
    if (ctx->upgrade) {
        int u = px_http_find(h, "upgrade");
        if (u >= 0)
            put_header(&o, h, &h->hdrs[u]);
        puts_(&o, "Connection: upgrade\r\n");
    } else if (!ctx->keep_alive) {
        puts_(&o, "Connection: close\r\n");
    } else if (ctx->client_1_0) {
        puts_(&o, "Connection: keep-alive\r\n");
    }
    if (ctx->extra)
        put(&o, ctx->extra, ctx->extra_len);
    put(&o, "\r\n", 2);
    return o.overflow ? -1 : (int)o.len;
}

size_t px_http_response_head_size(const struct px_http *h, const struct px_resp_ctx *ctx)
{
    size_t n = 13 + h->target_len + 2 + ctx->extra_len + 2; /* status line, extra, blank line */

    for (uint32_t i = 0; i < h->nhdrs; i++) {
        const struct px_hdr *hd = &h->hdrs[i];
        if (!(hd->flags & PX_HDR_DROP) && !(ctx->drop_te && hd->id == HID_TRANSFER_ENCODING))
            n += hd->name_len + hd->value_len + 4;
    }
    if (ctx->upgrade) {
        int u = px_http_find(h, "upgrade");
        if (u >= 0)
            n += h->hdrs[u].name_len + h->hdrs[u].value_len + 4;
        n += sizeof("Connection: upgrade\r\n") - 1;
    } else if (!ctx->keep_alive) {
        n += sizeof("Connection: close\r\n") - 1;
    } else if (ctx->client_1_0) {
        n += sizeof("Connection: keep-alive\r\n") - 1;
    }
    return n;
}

const char *px_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 421:
        return "Misdirected Request";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

int px_http_write_error(int status, const char *reason, const char *extra, char *buf, size_t cap)
{
    int n =
        snprintf(buf, cap,
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                 "%sConnection: close\r\n\r\n%s\n",
                 status, px_http_reason(status), strlen(reason) + 1, extra ? extra : "", reason);
    return n < 0 ? 0 : (size_t)n >= cap ? (int)cap - 1 : n;
}
