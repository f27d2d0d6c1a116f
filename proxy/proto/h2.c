/*
 * h2: nghttp2 1.52 glue for the server side, driven with mem_recv/mem_send.
 * nghttp2 does the framing, HPACK and most of RFC 9113 §8 (pseudo-header
 * rules, connection-specific fields, TE, field syntax, content-length
 * against DATA); the checks it lacks for a proxy that re-renders requests
 * as HTTP/1.1 are here (Host against :authority, userinfo, schemes, paths,
 * CONNECT, the decoded header list size, trailer fields), and so are the
 * flood budgets. tests/unit/proxy/proto/test_h2.c shows which side refuses
 * what; docs/H2.md has the table.
 */
#include "proxy/proto/h2.h"
#include "proxy/proto/field.h"
#include "proxy/base/freelist.h"
#include "proxy/base/list.h"
#include "proxy/base/px.h"

#include <nghttp2/nghttp2.h>
#include <string.h>
#include <strings.h>

/* A WINDOW_UPDATE smaller than this is churn unless rare (small DATA frames cost as much as big).
 */
#define SMALL_WINDOW_UPDATE_BYTES 1024

/* RFC 9113 §4.1: every frame starts with 9 octets. */
#define FRAME_HEADER_BYTES 9

/* RFC 9113 §6.5.2: each field costs its octets plus 32. */
#define FIELD_OVERHEAD_BYTES 32

/* First sizes of the per-stream buffers: a freelist class less its header
 * (px_freelist_grow), so none of the block is wasted. Most bodies and heads
 * are small; larger ones double up. */
#define QUEUE_FIRST_BYTES 240 /* a response queue */
#define ARENA_FIRST_BYTES 496 /* received field bytes */
#define REFS_FIRST 15         /* received fields: 16 bytes each */

/* Token bucket: one second's worth of tokens at most, refilled continuously. */
struct budget {
    uint32_t tokens;
    uint64_t at_ms; /* when tokens were last refilled */
};

/*
 * A response section (a head or the trailers) handed to nghttp2 without
 * copies (NGHTTP2_NV_FLAG_NO_COPY_NAME and _VALUE): the lowercased names and
 * the values, in one block. nghttp2 reads them until the frame is sent, or
 * finds the stream closed and drops the frame unread, so a stream keeps its
 * sections until it is freed; that spares nghttp2 a copy and a lowercasing
 * of every response field.
 *
 * The array pointing at them is another matter: nghttp2 copies it when a
 * head is submitted, so a head's array is the session's scratch array,
 * written over by the next head (100 streams' arrays would be 100 cold
 * blocks, a head's worth of cache misses each). Trailers are submitted
 * later, from the data callback, so theirs is in their block, before the
 * bytes.
 */
struct nv_block {
    struct nv_block *next; /* owned: the stream's earlier section */
    nghttp2_nv *nv;        /* borrowed: own (trailers) or the session's scratch (a head) */
    size_t len;
    nghttp2_nv own[]; /* the trailers' array; then the bytes */
};

/* A field as received: offsets into the stream's arena. */
struct field_ref {
    uint32_t name_off, name_len, value_off, value_len;
};

struct px_h2_stream {
    struct px_list link; /* in px_h2.streams */
    struct px_h2 *s;     /* borrowed: the session */
    void *data;          /* borrowed: the owner's */
    int32_t id;

    char *buf;              /* owned arena: received field bytes */
    uint32_t len, cap;      /* bytes used / allocated in buf */
    struct field_ref *refs; /* owned, received fields (head, then trailers) */
    uint32_t nrefs, refs_cap;
    uint32_t trailer_start;    /* first trailer field in refs */
    uint32_t section_bytes;    /* decoded size of the current section */
    struct px_h2_field *out;   /* owned: the fields handed to the owner */
    uint32_t reject_code;      /* refuse with RST_STREAM(this) at end of headers */
    int answer_status;         /* refuse with this status at end of headers */
    uint32_t unconsumed_bytes; /* request bytes delivered and not yet consumed */

    char *q; /* owned: response body bytes queued */
    size_t q_off, q_len, q_cap;
    struct nv_block *sections; /* owned: response heads nghttp2 may still read */
    struct nv_block *trailers; /* owned: the trailers, once queued */

    bool delivered;   /* on_request_head was called */
    bool ended;       /* on_request_end was called */
    bool providing;   /* a data provider is attached to the response */
    bool deferred;    /* the data provider returned DEFERRED */
    bool body_end;    /* the owner queued the end of the body */
    bool peer_reset;  /* the client sent RST_STREAM */
    bool owner_reset; /* the owner asked for the reset */

    /* Last: buf and refs until a head outgrows them, in the stream's own
     * block. Three blocks taken and given back per request were three cold
     * headers read in the freelist, with many streams in flight. */
    struct field_ref first_refs[REFS_FIRST];
    char first_buf[ARENA_FIRST_BYTES];
};

struct px_h2 {
    nghttp2_session *ng; /* owned */
    const struct px_h2_ops *ops;
    void *data; /* borrowed: the owner's */
    struct px_h2_config cfg;
    struct px_list streams;    /* owned: struct px_h2_stream */
    struct px_h2_stream *last; /* borrowed: the stream stream_of() found last */
    uint64_t now_ms;
    struct budget resets, priority, control, empty_data, small_updates;
    uint32_t continuations; /* CONTINUATION frames in the current header block */
    const uint8_t *pend;    /* borrowed from nghttp2: output not yet copied out */
    size_t pend_len;
    char *out; /* borrowed: px_h2_send's buffer, while it runs; else NULL */
    size_t out_len, out_cap;
    int goaway_code;     /* -1 until a GOAWAY is queued or sent */
    int32_t goaway_last; /* last stream of our graceful GOAWAY, -1 before it */
    const char *why;     /* static: why the session ended itself */
    bool failed;         /* mem_recv failed: read nothing more */
    bool rid_indexed;    /* an X-Request-Id went into the HPACK table (index_flags) */
    uint32_t nqueued;    /* streams with response bytes queued (q_len > 0) */
    nghttp2_nv *scratch; /* owned: a head's array while it is submitted (struct nv_block) */
    uint32_t scratch_cap;
};

/* Fields that must never come in a trailer section (RFC 9110 §6.5.1). */
static const char *const trailer_forbidden[] = {
    "content-length", "host", "trailer", "authorization", "cookie", "content-type",
};

void px_h2_config_init(struct px_h2_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_concurrent_streams = 100;
    cfg->max_header_list_bytes = 16 * 1024;
    cfg->max_header_fields = 100;
    cfg->stream_window_bytes = 65535;
    cfg->connection_window_bytes = 1024 * 1024;
    cfg->header_table_bytes = 4096;
    cfg->max_continuations = 4;
    cfg->resets_per_s = 100;
    cfg->priority_per_s = 100;
    cfg->control_per_s = 20;
    cfg->empty_data_per_s = 100;
    cfg->small_updates_per_s = 100;
}

static void budget_init(struct budget *b, uint32_t per_s)
{
    b->tokens = per_s;
    b->at_ms = 0;
}

/* Takes a token; false when the budget of PER_S per second is spent. */
static bool budget_take(struct budget *b, uint32_t per_s, uint64_t now_ms)
{
    if (now_ms > b->at_ms) {
        uint64_t add = (now_ms - b->at_ms) * per_s / 1000;
        if (add > 0 || b->tokens == per_s) {
            b->tokens = add >= per_s - b->tokens ? per_s : b->tokens + (uint32_t)add;
            b->at_ms = b->tokens == per_s ? now_ms : b->at_ms + add * 1000 / per_s;
        }
    }
    if (b->tokens == 0)
        return false;
    b->tokens--;
    return true;
}

/* Ends the session with GOAWAY(ENHANCE_YOUR_CALM): the client is flooding. */
static void calm(struct px_h2 *s, const char *why)
{
    if (s->goaway_code == PX_H2_ENHANCE_YOUR_CALM)
        return;
    s->why = why;
    s->goaway_code = PX_H2_ENHANCE_YOUR_CALM;
    nghttp2_session_terminate_session(s->ng, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* Callbacks for one frame ask for its stream several times (each field of a
 * head): the last answer is kept, until that stream is freed. */
static struct px_h2_stream *stream_of(struct px_h2 *s, int32_t id)
{
    if (s->last == NULL || s->last->id != id)
        s->last = nghttp2_session_get_stream_user_data(s->ng, id);
    return s->last;
}

static void nv_blocks_free(struct px_freelist *mem, struct nv_block *b)
{
    while (b != NULL) {
        struct nv_block *next = b->next;
        px_freelist_free(mem, b);
        b = next;
    }
}

static void stream_free(struct px_h2_stream *st)
{
    struct px_freelist *mem = st->s->cfg.mem;

    if (st->q_len > 0)
        st->s->nqueued--;
    if (st->s->last == st)
        st->s->last = NULL;
    px_list_remove(&st->link);
    if (st->buf != st->first_buf)
        px_freelist_free(mem, st->buf);
    if (st->refs != st->first_refs)
        px_freelist_free(mem, st->refs);
    px_freelist_free(mem, st->out);
    px_freelist_free(mem, st->q);
    nv_blocks_free(mem, st->sections);
    nv_blocks_free(mem, st->trailers);
    px_freelist_free(mem, st);
}

static bool field_is(const char *name, size_t len, const char *lower)
{
    return strlen(lower) == len && memcmp(name, lower, len) == 0;
}

static bool listed(const char *name, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (field_is(name, len, list[i]))
            return true;
    return false;
}

/* ------------------------------------------------------------ request side */

/* P (USED of its bytes kept) moved to a block of CAP bytes: P itself if it
 * is a block already, else (FIRST, in the stream) a new one; NULL when out
 * of memory, P then unchanged. */
static void *grow(struct px_freelist *mem, void *p, const void *first, size_t used, size_t cap)
{
    if (p != first)
        return px_freelist_realloc(mem, p, cap);
    void *b = px_freelist_alloc(mem, cap);
    if (b != NULL)
        memcpy(b, p, used);
    return b;
}

/* Makes room for N more bytes in the arena, which may move. */
static int arena_reserve(struct px_h2_stream *st, size_t n)
{
    if (st->len + n <= st->cap)
        return 0;
    size_t cap = px_freelist_grow(st->cap, ARENA_FIRST_BYTES, st->len + n);
    char *b = grow(st->s->cfg.mem, st->buf, st->first_buf, st->len, cap);
    if (b == NULL)
        return PX_ENOMEM;
    st->buf = b;
    st->cap = (uint32_t)cap;
    return 0;
}

static int arena_append(struct px_h2_stream *st, const void *p, size_t n)
{
    if (arena_reserve(st, n) != 0)
        return PX_ENOMEM;
    memcpy(st->buf + st->len, p, n);
    st->len += (uint32_t)n;
    return 0;
}

static int add_field(struct px_h2_stream *st, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen)
{
    if (st->nrefs == st->refs_cap) {
        uint32_t cap = st->refs_cap * 2 + 1;
        struct field_ref *r = grow(st->s->cfg.mem, st->refs, st->first_refs, st->nrefs * sizeof(*r),
                                   cap * sizeof(*r));
        if (r == NULL)
            return PX_ENOMEM;
        st->refs = r;
        st->refs_cap = cap;
    }
    struct field_ref *f = &st->refs[st->nrefs];
    f->name_off = st->len;
    f->name_len = (uint32_t)nlen;
    if (arena_append(st, name, nlen) != 0)
        return PX_ENOMEM;
    f->value_off = st->len;
    f->value_len = (uint32_t)vlen;
    if (arena_append(st, value, vlen) != 0)
        return PX_ENOMEM;
    st->nrefs++;
    return 0;
}

static struct px_h2_field field_at(const struct px_h2_stream *st, const struct field_ref *r)
{
    return (struct px_h2_field){st->buf + r->name_off, st->buf + r->value_off, r->name_len,
                                r->value_len};
}

/* Writes STATUS (100..999) as three digits. */
static void status_digits(uint8_t out[3], int status)
{
    out[0] = (uint8_t)('0' + status / 100 % 10);
    out[1] = (uint8_t)('0' + status / 10 % 10);
    out[2] = (uint8_t)('0' + status % 10);
}

static void reject(struct px_h2 *s, struct px_h2_stream *st, uint32_t code)
{
    st->reject_code = code;
    nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, code);
}

/*
 * Answers a request the proxy refuses on its own with STATUS and no body.
 * When the client has more to send, RST_STREAM(NO_ERROR) asks it to stop
 * (RFC 9113 §8.1).
 */
static void answer(struct px_h2 *s, struct px_h2_stream *st, int status, bool end_stream)
{
    uint8_t code[3];
    status_digits(code, status);
    nghttp2_nv nv = {(uint8_t *)":status", code, 7, 3, NGHTTP2_NV_FLAG_NONE};
    st->answer_status = status;
    if (nghttp2_submit_response(s->ng, st->id, &nv, 1, NULL) != 0 || !end_stream)
        nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    struct px_h2 *s = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        /* Our GOAWAY may still be queued when later streams arrive: they were
         * not processed, as it says, so the client may retry them elsewhere. */
        if (s->goaway_last >= 0 && frame->hd.stream_id > s->goaway_last) {
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                      NGHTTP2_REFUSED_STREAM);
            return 0;
        }
        struct px_h2_stream *st = px_freelist_alloc(s->cfg.mem, sizeof(*st));
        if (st == NULL)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        memset(st, 0, offsetof(struct px_h2_stream, first_refs)); /* not the arena's bytes */
        st->buf = st->first_buf;
        st->cap = sizeof(st->first_buf);
        st->refs = st->first_refs;
        st->refs_cap = REFS_FIRST;
        st->s = s;
        st->id = frame->hd.stream_id;
        px_list_insert_tail(&s->streams, &st->link);
        nghttp2_session_set_stream_user_data(ng, st->id, st);
        s->last = st;
        return 0;
    }
    struct px_h2_stream *st = stream_of(s, frame->hd.stream_id);
    if (st != NULL) { /* trailers */
        st->trailer_start = st->nrefs;
        st->section_bytes = 0;
    }
    return 0;
}

/*
 * nghttp2 has checked the field (RFC 9113 §8.2, §8.3) before this runs; we
 * bound the decoded size, the count, and keep a copy.
 */
static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user_data)
{
    struct px_h2 *s = user_data;
    struct px_h2_stream *st = stream_of(s, frame->hd.stream_id);
    (void)ng;
    (void)flags;
    if (st == NULL || st->reject_code || st->answer_status)
        return 0;
    bool trailers = frame->headers.cat != NGHTTP2_HCAT_REQUEST;
    st->section_bytes += (uint32_t)(nlen + vlen + FIELD_OVERHEAD_BYTES);
    if (st->section_bytes > s->cfg.max_header_list_bytes ||
        st->nrefs - st->trailer_start >= s->cfg.max_header_fields + 4) {
        /* Too big: 431 for a head (RFC 9113 §10.5.1); a body may be on its way
         * for trailers, so the stream is reset. */
        if (trailers)
            reject(s, st, NGHTTP2_PROTOCOL_ERROR);
        else
            st->answer_status = 431;
        return 0;
    }
    if (add_field(st, name, nlen, value, vlen) != 0)
        reject(s, st, NGHTTP2_INTERNAL_ERROR);
    return 0;
}

/*
 * Joins the cookie crumbs into one value at the end of the arena (RFC 9113
 * §8.2.3) and stores its offset and length. Returns 0 or PX_ENOMEM.
 */
static int join_cookies(struct px_h2_stream *st, uint32_t *off, uint32_t *len)
{
    *off = st->len;
    for (uint32_t i = 0, k = 0; i < st->nrefs; i++) {
        const struct field_ref *r = &st->refs[i];
        if (!field_is(st->buf + r->name_off, r->name_len, "cookie"))
            continue;
        if (arena_reserve(st, r->value_len + 2) != 0)
            return PX_ENOMEM;
        if (k++ > 0)
            arena_append(st, "; ", 2);
        memcpy(st->buf + st->len, st->buf + r->value_off, r->value_len);
        st->len += r->value_len;
    }
    *len = st->len - *off;
    return 0;
}

static bool value_is(const struct px_h2_field *f, const char *s)
{
    return field_is(f->value, f->value_len, s);
}

/*
 * Checks a complete request head for what nghttp2 leaves to us, and fills
 * H. Returns 0, a status to answer with (> 0), or a negated RST_STREAM code.
 */
static int build_head(struct px_h2_stream *st, struct px_h2_head *h)
{
    int host = -1;
    bool cookies = false;
    uint32_t cookie_off = 0, cookie_len = 0;

    memset(h, 0, sizeof(*h));
    h->content_length = -1;
    for (uint32_t i = 0; i < st->nrefs; i++) {
        const struct field_ref *r = &st->refs[i];
        if (field_is(st->buf + r->name_off, r->name_len, "host")) {
            if (host >= 0)
                return -NGHTTP2_PROTOCOL_ERROR;
            host = (int)i;
        }
        cookies |= field_is(st->buf + r->name_off, r->name_len, "cookie");
    }
    if (cookies && join_cookies(st, &cookie_off, &cookie_len) != 0)
        return -NGHTTP2_INTERNAL_ERROR;
    /* The arena is final: spans may point into it now. */
    st->out = px_freelist_alloc(st->s->cfg.mem, (st->nrefs + 1) * sizeof(*st->out));
    if (st->out == NULL)
        return -NGHTTP2_INTERNAL_ERROR;
    bool have_authority = false;
    for (uint32_t i = 0; i < st->nrefs; i++) {
        struct px_h2_field f = field_at(st, &st->refs[i]);
        if (field_is(f.name, f.name_len, ":method"))
            h->method = f;
        else if (field_is(f.name, f.name_len, ":scheme"))
            h->scheme = f;
        else if (field_is(f.name, f.name_len, ":path"))
            h->path = f;
        else if (field_is(f.name, f.name_len, ":authority")) {
            h->authority = f;
            have_authority = true;
        } else if ((int)i != host && !field_is(f.name, f.name_len, "cookie")) {
            if (field_is(f.name, f.name_len, "content-length"))
                h->content_length = strtoll(f.value, NULL, 10); /* digits: nghttp2 checked */
            st->out[h->nfields++] = f;
        }
    }
    if (cookies)
        st->out[h->nfields++] = (struct px_h2_field){"cookie", st->buf + cookie_off, 6, cookie_len};
    h->fields = st->out;

    /* nghttp2 passes CONNECT (RFC 9113 §8.5); we do not tunnel, as for HTTP/1.1. */
    if (value_is(&h->method, "CONNECT"))
        return 501;
    if (!value_is(&h->scheme, "http") && !value_is(&h->scheme, "https"))
        return -NGHTTP2_PROTOCOL_ERROR;
    /* nghttp2 checks the characters; the form is ours: origin-form, or "*" for OPTIONS. */
    bool star = value_is(&h->path, "*");
    if (h->path.value_len == 0 || (h->path.value[0] != '/' && !star) ||
        (star && !value_is(&h->method, "OPTIONS")))
        return -NGHTTP2_PROTOCOL_ERROR;
    /* :authority and Host must agree, or a backend might route on the one
     * we did not (RFC 9113 §8.3.1). Either becomes the HTTP/1.1 Host. */
    if (host >= 0) {
        struct px_h2_field hf = field_at(st, &st->refs[host]);
        if (!have_authority)
            h->authority = (struct px_h2_field){":authority", hf.value, 10, hf.value_len};
        else if (hf.value_len != h->authority.value_len ||
                 strncasecmp(hf.value, h->authority.value, hf.value_len) != 0)
            return -NGHTTP2_PROTOCOL_ERROR;
    }
    /* No Host to give the backend, or userinfo in it (RFC 9113 §8.3.1). */
    if (h->authority.value_len == 0 || memchr(h->authority.value, '@', h->authority.value_len))
        return -NGHTTP2_PROTOCOL_ERROR;
    return 0;
}

static void deliver_end(struct px_h2 *s, struct px_h2_stream *st, const struct px_h2_field *tr,
                        uint32_t n)
{
    st->ended = true;
    s->ops->on_request_end(s->data, st, tr, n);
}

static void head_complete(struct px_h2 *s, struct px_h2_stream *st, bool end_stream)
{
    struct px_h2_head h;
    if (st->reject_code)
        return; /* RST_STREAM already queued */
    if (st->answer_status) {
        answer(s, st, st->answer_status, end_stream);
        return;
    }
    int rc = build_head(st, &h);
    if (rc > 0) {
        answer(s, st, rc, end_stream);
        return;
    }
    if (rc < 0) {
        reject(s, st, (uint32_t)-rc);
        return;
    }
    h.end_stream = end_stream;
    st->delivered = true;
    s->ops->on_request_head(s->data, st, &h);
    if (end_stream && !st->owner_reset)
        deliver_end(s, st, NULL, 0);
}

static void trailers_complete(struct px_h2 *s, struct px_h2_stream *st)
{
    if (!st->delivered || st->reject_code || st->owner_reset)
        return;
    uint32_t n = st->nrefs - st->trailer_start;
    struct px_h2_field *tr =
        px_freelist_realloc(s->cfg.mem, st->out, (st->nrefs + 1) * sizeof(*tr));
    if (tr == NULL) {
        reject(s, st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    st->out = tr;
    for (uint32_t i = 0; i < n; i++) {
        tr[i] = field_at(st, &st->refs[st->trailer_start + i]);
        /* A backend that merges trailers into the head must not learn framing
         * or routing from them. */
        if (listed(tr[i].name, tr[i].name_len, trailer_forbidden,
                   PX_ARRAY_LEN(trailer_forbidden))) {
            reject(s, st, NGHTTP2_PROTOCOL_ERROR);
            return;
        }
    }
    deliver_end(s, st, tr, n);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    struct px_h2 *s = user_data;
    struct px_h2_stream *st = frame->hd.stream_id ? stream_of(s, frame->hd.stream_id) : NULL;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    (void)ng;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (st == NULL)
            break;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
            head_complete(s, st, end);
        else if (end)
            trailers_complete(s, st);
        break;
    case NGHTTP2_DATA:
        if (st != NULL && end && st->delivered && !st->reject_code && !st->owner_reset)
            deliver_end(s, st, NULL, 0);
        break;
    case NGHTTP2_RST_STREAM:
        if (st != NULL)
            st->peer_reset = true;
        break;
    case NGHTTP2_WINDOW_UPDATE:
        if (frame->window_update.window_size_increment < SMALL_WINDOW_UPDATE_BYTES &&
            !budget_take(&s->small_updates, s->cfg.small_updates_per_s, s->now_ms)) {
            calm(s, "small WINDOW_UPDATE flood");
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user_data)
{
    struct px_h2 *s = user_data;
    struct px_h2_stream *st = stream_of(s, id);
    (void)flags;
    if (st == NULL || !st->delivered || st->reject_code || st->owner_reset) {
        nghttp2_session_consume(ng, id, len); /* nobody will: keep the windows open */
        return 0;
    }
    st->unconsumed_bytes += (uint32_t)len;
    s->ops->on_request_data(s->data, st, (const char *)data, len);
    return 0;
}

/*
 * Counts frames that cost us work and give the client nothing, before
 * nghttp2 acts on them: a client over a budget is flooding (CVE-2023-44487,
 * CVE-2019-9512/9515/9518, CVE-2024-27316).
 */
static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *user_data)
{
    struct px_h2 *s = user_data;
    const char *why = NULL;
    (void)ng;
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        s->continuations = 0;
        break;
    case NGHTTP2_CONTINUATION:
        if (++s->continuations > s->cfg.max_continuations)
            why = "CONTINUATION flood";
        break;
    case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) &&
            !budget_take(&s->empty_data, s->cfg.empty_data_per_s, s->now_ms))
            why = "empty DATA flood";
        break;
    case NGHTTP2_PRIORITY:
        if (!budget_take(&s->priority, s->cfg.priority_per_s, s->now_ms))
            why = "PRIORITY flood";
        break;
    case NGHTTP2_RST_STREAM:
        if (!budget_take(&s->resets, s->cfg.resets_per_s, s->now_ms))
            why = "stream reset flood";
        break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) &&
            !budget_take(&s->control, s->cfg.control_per_s, s->now_ms))
            why = hd->type == NGHTTP2_PING ? "PING flood" : "SETTINGS flood";
        break;
    default:
        break;
    }
    if (why == NULL)
        return 0;
    calm(s, why);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user_data)
{
    struct px_h2 *s = user_data;
    struct px_h2_stream *st = stream_of(s, id);
    if (st == NULL)
        return 0;
    /* A stream we or nghttp2 refused costs like one the client reset: a
     * client cannot dodge the reset budget with malformed requests. */
    if (code != NGHTTP2_NO_ERROR && !st->peer_reset && !st->owner_reset &&
        !budget_take(&s->resets, s->cfg.resets_per_s, s->now_ms))
        calm(s, "malformed request flood");
    if (st->delivered)
        s->ops->on_stream_close(s->data, st, code);
    if (st->unconsumed_bytes > 0)
        nghttp2_session_consume_connection(ng, st->unconsumed_bytes);
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    stream_free(st);
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    struct px_h2 *s = user_data;
    (void)ng;
    if (frame->hd.type == NGHTTP2_GOAWAY)
        s->goaway_code = (int)frame->goaway.error_code;
    return 0;
}

/* ----------------------------------------------------------- response side */

/* Copies the first N queued bytes of ST to DST and drops them from the queue. */
static void take_queued(struct px_h2_stream *st, void *dst, size_t n)
{
    memcpy(dst, st->q + st->q_off, n);
    st->q_off += n;
    st->q_len -= n;
    if (st->q_len == 0) {
        st->q_off = 0;
        st->s->nqueued--;
    }
}

/*
 * The next DATA frame's payload. When the frame fits in what is left of
 * px_h2_send()'s buffer, its bytes stay queued and on_send_data() copies
 * them straight there (NGHTTP2_DATA_FLAG_NO_COPY), right after this within
 * the same mem_send: copied here, every body byte would go through
 * nghttp2's frame buffer, one copy more. Else they are copied here, and
 * px_h2_send() takes the frame in pieces, as it takes any other.
 */
static ssize_t on_data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t cap,
                            uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    struct px_h2_stream *st = source->ptr;
    struct px_h2 *s = st->s;
    size_t n = st->q_len < cap ? st->q_len : cap;
    size_t rest = st->q_len - n;
    (void)user_data;
    if (n > 0 && s->out != NULL && s->out_cap - s->out_len >= FRAME_HEADER_BYTES + n)
        *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    else if (n > 0)
        take_queued(st, buf, n);
    if (rest == 0 && st->body_end) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->trailers != NULL) {
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nghttp2_submit_trailer(ng, id, st->trailers->nv, st->trailers->len) != 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
    } else if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* The DATA frame on_data_read() left queued: its header and bytes into
 * px_h2_send()'s buffer, where it made sure they fit. */
static int on_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *source, void *user_data)
{
    struct px_h2 *s = user_data;
    struct px_h2_stream *st = source->ptr;
    (void)ng;
    PX_ASSERT(frame->data.padlen == 0 && length <= st->q_len); /* no padding callback */
    if (s->out == NULL || s->out_cap - s->out_len < FRAME_HEADER_BYTES + length)
        return NGHTTP2_ERR_WOULDBLOCK; /* not reached: on_data_read() checked */
    memcpy(s->out + s->out_len, framehd, FRAME_HEADER_BYTES);
    take_queued(st, s->out + s->out_len + FRAME_HEADER_BYTES, length);
    s->out_len += FRAME_HEADER_BYTES + length;
    return 0;
}

/*
 * A field name byte as HTTP/2 sends it: a token character (RFC 9110 §5.6.2)
 * with uppercase letters lowered, or 0 for any other byte (RFC 9113
 * §8.2.1). Checking and lowering names in one pass saves a second walk
 * (nghttp2_check_header_name) over every name of every response; a table
 * makes that one load per byte, not up to five comparisons and a memchr().
 */
/* clang-format off */
static const uint8_t name_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, '!', 0, '#', '$', '%', '&', '\'', 0, 0, '*', '+', 0, '-', '.', 0,
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 0, 0, 0, 0, 0, 0,
    0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, '^', '_',
    '`', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, '|', 0, '~', 0,
    /* 0x80..0xff: 0 */
};
/* clang-format on */

/* Writes NAME (N bytes) lowercased to OUT; false when a byte is no token character. */
static bool lower_name(uint8_t *out, const char *name, uint32_t n)
{
    unsigned wrapped = 0; /* top bit set once some byte mapped to 0: 0 - 1 wraps */

    for (uint32_t j = 0; j < n; j++) {
        out[j] = name_byte[(uint8_t)name[j]];
        wrapped |= out[j] - 1u;
    }
    return n > 0 && !(wrapped & ~(~0u >> 1));
}

/* Connection-specific fields (RFC 9113 §8.2.2), for a lowercase NAME:
 * every field of every response is checked, so lengths first. */
static bool connection_field(const uint8_t *name, size_t len)
{
    switch (len) {
    case 2:
        return memcmp(name, "te", 2) == 0;
    case 7:
        return memcmp(name, "upgrade", 7) == 0;
    case 10:
        return memcmp(name, "connection", 10) == 0 || memcmp(name, "keep-alive", 10) == 0;
    case 16:
        return memcmp(name, "proxy-connection", 16) == 0;
    case 17:
        return memcmp(name, "transfer-encoding", 17) == 0;
    default:
        return false;
    }
}

/*
 * How HPACK may encode a field: X-Request-Id, which the exchange adds with a
 * value new for every response, never repays a dynamic table entry, and
 * indexing it evicted the fields that do repeat (RFC 7541 §7.1.3 leaves the
 * choice to the encoder): one table insertion and eviction per response.
 * Its name does repeat, so the session's first one is indexed: later ones
 * then refer to that entry's name instead of spelling (and Huffman-coding)
 * "x-request-id" in every response (§6.2.3, indexed name).
 */
static uint8_t index_flags(struct px_h2 *s, const uint8_t *name, size_t len)
{
    if (len != 12 || memcmp(name, "x-request-id", 12) != 0)
        return NGHTTP2_NV_FLAG_NONE;
    if (s->rid_indexed)
        return NGHTTP2_NV_FLAG_NO_INDEX;
    s->rid_indexed = true;
    return NGHTTP2_NV_FLAG_NONE;
}

/* The flags of a field in a section: nghttp2 reads the block as it is. */
static uint8_t nv_flags(struct px_h2 *s, const uint8_t *name, size_t len)
{
    return NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE | index_flags(s, name, len);
}

/* The session's scratch array with room for N entries, or NULL. */
static nghttp2_nv *scratch(struct px_h2 *s, uint32_t n)
{
    if (n > s->scratch_cap) {
        nghttp2_nv *a = px_freelist_realloc(s->cfg.mem, s->scratch, n * sizeof(*a));
        if (a == NULL)
            return NULL;
        s->scratch = a;
        s->scratch_cap = n;
    }
    return s->scratch;
}

/*
 * Builds a section (struct nv_block, with STATUS first when > 0) from S's
 * freelist: F's N fields with their names lowercased, connection-specific
 * fields left out, the names and values of all but the first NPARSED
 * checked. OWN_ARRAY: the array is in the block, else in S's scratch
 * (good until the next section). Returns it (nv_blocks_free() it) or NULL
 * with *ERR set.
 */
static struct nv_block *make_nv(struct px_h2 *s, int status, const struct px_h2_field *f,
                                uint32_t nparsed, uint32_t n, bool own_array, int *err)
{
    struct px_freelist *mem = s->cfg.mem;
    size_t bytes = sizeof(struct nv_block) + (own_array ? (n + 1) * sizeof(nghttp2_nv) : 0) + 3;
    for (uint32_t i = 0; i < n; i++)
        bytes += f[i].name_len + f[i].value_len;
    nghttp2_nv *nv = own_array ? NULL : scratch(s, n + 1);
    struct nv_block *b = own_array || nv ? px_freelist_alloc(mem, bytes) : NULL;
    if (b == NULL) {
        *err = PX_ENOMEM;
        return NULL;
    }
    b->next = NULL;
    b->nv = nv = own_array ? b->own : nv;
    uint8_t *p = (uint8_t *)(b->own + (own_array ? n + 1 : 0));
    size_t k = 0;
    if (status > 0) {
        status_digits(p, status);
        nv[k++] = (nghttp2_nv){(uint8_t *)":status", p, 7, 3, nv_flags(s, NULL, 0)};
        p += 3;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *name = p;
        bool bad = false;
        if (i < nparsed)
            px_field_lower(name, f[i].name, f[i].name_len); /* a token: lowered a word at a time */
        else
            bad = !lower_name(name, f[i].name, f[i].name_len);
        if (!bad && connection_field(name, f[i].name_len))
            continue;
        if (bad || (i >= nparsed && !px_field_value_ok(f[i].value, f[i].value_len))) {
            px_freelist_free(mem, b);
            *err = PX_EPARSE;
            return NULL;
        }
        p += f[i].name_len;
        uint8_t *value = p;
        if (f[i].value_len > 0)
            memcpy(p, f[i].value, f[i].value_len);
        p += f[i].value_len;
        nv[k++] = (nghttp2_nv){name, value, f[i].name_len, f[i].value_len,
                               nv_flags(s, name, f[i].name_len)};
    }
    b->len = k;
    return b;
}

int px_h2_submit_response(struct px_h2_stream *st, int status, const struct px_h2_field *fields,
                          uint32_t n, bool end_stream)
{
    return px_h2_submit_parsed_response(st, status, fields, 0, n, end_stream);
}

int px_h2_submit_parsed_response(struct px_h2_stream *st, int status,
                                 const struct px_h2_field *fields, uint32_t nparsed, uint32_t n,
                                 bool end_stream)
{
    struct px_h2 *s = st->s;
    int err = 0, rv;
    if (status < 100 || status > 599 || status == 101)
        return PX_EPARSE;
    struct nv_block *b = make_nv(s, status, fields, nparsed, n, false, &err);
    if (b == NULL)
        return err;
    if (status < 200) {
        rv = nghttp2_submit_headers(s->ng, NGHTTP2_FLAG_NONE, st->id, NULL, b->nv, b->len, NULL);
    } else if (end_stream) {
        rv = nghttp2_submit_response(s->ng, st->id, b->nv, b->len, NULL);
    } else {
        nghttp2_data_provider prd = {.source.ptr = st, .read_callback = on_data_read};
        st->providing = true;
        rv = nghttp2_submit_response(s->ng, st->id, b->nv, b->len, &prd);
    }
    if (rv != 0) {
        px_freelist_free(s->cfg.mem, b);
        return rv == NGHTTP2_ERR_NOMEM ? PX_ENOMEM : PX_EPARSE;
    }
    b->nv = NULL; /* nghttp2 copied the array; the scratch is the next head's */
    b->next = st->sections;
    st->sections = b;
    return 0;
}

static void resume(struct px_h2_stream *st)
{
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->s->ng, st->id);
    }
}

int px_h2_submit_data(struct px_h2_stream *st, const char *buf, size_t len, bool end)
{
    if (!st->providing || st->body_end)
        return PX_EPARSE;
    if (st->q_off > 0 && st->q_off + st->q_len + len > st->q_cap) {
        memmove(st->q, st->q + st->q_off, st->q_len);
        st->q_off = 0;
    }
    if (st->q_len + len > st->q_cap) {
        size_t cap = px_freelist_grow(st->q_cap, QUEUE_FIRST_BYTES, st->q_len + len);
        char *q = px_freelist_realloc(st->s->cfg.mem, st->q, cap);
        if (q == NULL)
            return PX_ENOMEM;
        st->q = q;
        st->q_cap = cap;
    }
    if (len > 0)
        memcpy(st->q + st->q_off + st->q_len, buf, len);
    if (st->q_len == 0 && len > 0)
        st->s->nqueued++;
    st->q_len += len;
    st->body_end = end;
    resume(st);
    return 0;
}

int px_h2_submit_trailers(struct px_h2_stream *st, const struct px_h2_field *fields, uint32_t n)
{
    int err = 0;
    if (!st->providing || st->body_end)
        return PX_EPARSE;
    if ((st->trailers = make_nv(st->s, 0, fields, 0, n, true, &err)) == NULL)
        return err;
    st->body_end = true;
    resume(st);
    return 0;
}

size_t px_h2_stream_queued(const struct px_h2_stream *st)
{
    return st->q_len;
}

int32_t px_h2_stream_send_window(const struct px_h2_stream *st)
{
    return nghttp2_session_get_stream_remote_window_size(st->s->ng, st->id);
}

void px_h2_reset_stream(struct px_h2_stream *st, uint32_t code)
{
    st->owner_reset = true;
    nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id, code);
}

void px_h2_consume(struct px_h2_stream *st, size_t n)
{
    if (n > st->unconsumed_bytes)
        n = st->unconsumed_bytes;
    st->unconsumed_bytes -= (uint32_t)n;
    nghttp2_session_consume(st->s->ng, st->id, n);
}

uint32_t px_h2_stream_id(const struct px_h2_stream *st)
{
    return (uint32_t)st->id;
}

void *px_h2_stream_data(const struct px_h2_stream *st)
{
    return st->data;
}

void px_h2_stream_set_data(struct px_h2_stream *st, void *data)
{
    st->data = data;
}

/* ----------------------------------------------------------------- session */

/*
 * A block this large is the frame buffer nghttp2 1.52 keeps for a session's
 * life (16 KiB + 10; else a header field over 16 KiB, which is rare). An
 * idle connection has written a few hundred bytes of it: sparse, it costs
 * one page instead of five (bench/RESULTS.md, idle h2 connections).
 */
#define SPARSE_MIN_BYTES (16 * 1024)

/* nghttp2 allocates per stream and per header field: from the freelist. */
static void *mem_malloc(size_t n, void *mem)
{
    if (n >= SPARSE_MIN_BYTES)
        return px_freelist_alloc_sparse(mem, n);
    return px_freelist_alloc(mem, n);
}

static void mem_free(void *p, void *mem)
{
    px_freelist_free(mem, p);
}

static void *mem_calloc(size_t nmemb, size_t size, void *mem)
{
    return px_freelist_calloc(mem, nmemb, size);
}

static void *mem_realloc(void *p, size_t n, void *mem)
{
    if (p == NULL)
        return mem_malloc(n, mem); /* how nghttp2 makes its frame buffers */
    return px_freelist_realloc(mem, p, n);
}

static int submit_settings(struct px_h2 *s)
{
    const struct px_h2_config *c = &s->cfg;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->stream_window_bytes},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->max_header_list_bytes},
        {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, c->header_table_bytes},
        /* No RFC 7540 priority tree to keep up to date for PRIORITY frames. */
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    int rv = nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, PX_ARRAY_LEN(iv));
    if (rv == 0 && c->connection_window_bytes > 65535)
        rv = nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
                                                   (int32_t)c->connection_window_bytes);
    return rv;
}

struct px_h2 *px_h2_new(const struct px_h2_config *cfg, const struct px_h2_ops *ops, void *data)
{
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    struct px_h2 *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->cfg = *cfg;
    s->ops = ops;
    s->data = data;
    s->goaway_code = -1;
    s->goaway_last = -1;
    px_list_init(&s->streams);
    budget_init(&s->resets, cfg->resets_per_s);
    budget_init(&s->priority, cfg->priority_per_s);
    budget_init(&s->control, cfg->control_per_s);
    budget_init(&s->empty_data, cfg->empty_data_per_s);
    budget_init(&s->small_updates, cfg->small_updates_per_s);
    if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0)
        goto fail;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
    /* Windows open when the owner says the upstream took the bytes. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, cfg->header_table_bytes);
    /* ACKs pile up only while the client does not read: bound them. */
    nghttp2_option_set_max_outbound_ack(opt, 64);
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_mem mem = {cfg->mem, mem_malloc, mem_free, mem_calloc, mem_realloc};
    if (nghttp2_session_server_new3(&s->ng, cb, s, opt, &mem) != 0)
        goto fail;
    if (submit_settings(s) != 0)
        goto fail;
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    return s;
fail:
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    px_h2_free(s);
    return NULL;
}

void px_h2_free(struct px_h2 *s)
{
    if (s == NULL)
        return;
    nghttp2_session_del(s->ng); /* calls no callback */
    while (!px_list_empty(&s->streams))
        stream_free(px_container_of(s->streams.next, struct px_h2_stream, link));
    px_freelist_free(s->cfg.mem, s->scratch);
    free(s);
}

int px_h2_feed(struct px_h2 *s, const void *data, size_t len, uint64_t now_ms)
{
    if (s->failed)
        return PX_EPARSE;
    s->now_ms = now_ms;
    ssize_t rv = nghttp2_session_mem_recv(s->ng, data, len);
    if (rv >= 0)
        return 0;
    s->failed = true;
    if (rv == NGHTTP2_ERR_NOMEM)
        return PX_ENOMEM;
    if (s->why == NULL)
        s->why = nghttp2_strerror((int)rv);
    if (rv == NGHTTP2_ERR_FLOODED)
        calm(s, "outbound ACK queue full");
    return PX_EPARSE;
}

ssize_t px_h2_send(struct px_h2 *s, char *out, size_t cap)
{
    /* DATA frames are written at s->out_len by on_send_data(), from inside
     * mem_send; every other frame comes back from it to be copied here. */
    s->out = out;
    s->out_len = 0;
    s->out_cap = cap;
    while (s->out_len < cap) {
        if (s->pend_len == 0) {
            ssize_t rv = nghttp2_session_mem_send(s->ng, &s->pend);
            if (rv < 0) {
                s->out = NULL;
                return rv == NGHTTP2_ERR_NOMEM ? PX_ENOMEM : PX_EPARSE;
            }
            if (rv == 0)
                break;
            s->pend_len = (size_t)rv;
        }
        size_t k = s->pend_len < cap - s->out_len ? s->pend_len : cap - s->out_len;
        memcpy(out + s->out_len, s->pend, k);
        s->pend += k;
        s->pend_len -= k;
        s->out_len += k;
    }
    s->out = NULL;
    return (ssize_t)s->out_len;
}

bool px_h2_want_read(const struct px_h2 *s)
{
    return !s->failed && nghttp2_session_want_read(s->ng);
}

bool px_h2_want_write(const struct px_h2 *s)
{
    return s->pend_len > 0 || nghttp2_session_want_write(s->ng);
}

bool px_h2_stalled(const struct px_h2 *s)
{
    bool queued = false;
    if (s->nqueued == 0)
        return false; /* the common case, without walking the streams */
    if (nghttp2_session_get_remote_window_size(s->ng) > 0) {
        for (struct px_list *l = s->streams.next; l != &s->streams; l = l->next) {
            const struct px_h2_stream *st = px_container_of(l, struct px_h2_stream, link);
            if (st->q_len == 0)
                continue;
            if (px_h2_stream_send_window(st) > 0)
                return false;
            queued = true;
        }
        return queued;
    }
    for (struct px_list *l = s->streams.next; l != &s->streams; l = l->next)
        queued |= px_container_of(l, struct px_h2_stream, link)->q_len > 0;
    return queued;
}

int px_h2_goaway(struct px_h2 *s)
{
    int32_t last = nghttp2_session_get_last_proc_stream_id(s->ng);
    int rv = nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0);
    if (rv != 0)
        return PX_ENOMEM;
    s->goaway_last = last;
    if (s->goaway_code < 0)
        s->goaway_code = PX_H2_NO_ERROR;
    return 0;
}

int px_h2_goaway_code(const struct px_h2 *s)
{
    return s->goaway_code;
}

const char *px_h2_error_reason(const struct px_h2 *s)
{
    return s->why;
}
