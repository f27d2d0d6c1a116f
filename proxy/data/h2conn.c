/*
 * h2conn: an HTTP/2 client connection and its streams. The connection
 * feeds the session what the socket brings and writes what the session
 * has, one write in flight; submissions from streams are batched and
 * flushed once per loop turn (a uv_idle_t "kick"), so the responses of
 * many streams that became ready together leave in one TLS write.
 *
 * A stream is a client (struct px_h2s embeds it) whose transport is memory:
 *  - in: a request with no body goes into the exchange's parser as fields
 *    (load_head); any other head is rendered as HTTP/1.1, then the body.
 *    A body without content-length goes as chunks. DATA waits in the stream's
 *    inbox, and its window opens (px_h2_consume) only as the bytes move
 *    into the client's read buffer, which the exchange fills only as fast
 *    as the upstream takes them: flow control is the backpressure.
 *  - out: the exchange hands the upstream's response as it parsed it
 *    (px__h2_stream_respond: the head's fields, decoded body bytes, the
 *    trailers), submitted as HEADERS, DATA and trailers. Only the answers
 *    the proxy writes itself (errors) come as HTTP/1.1 text, parsed back
 *    with the same llhttp parser as for upstreams. A write is held while
 *    the stream has more queued than its send window, so a client that does
 *    not read a stream stops that stream's upstream, not the connection.
 */
#include "proxy/data/h2conn.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"
#include "proxy/data/exchange.h"
#include "proxy/data/worker.h"
#include "proxy/proto/h2.h"
#include "proxy/proto/http1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MIN_BYTES (16 * 1024) /* a stream's write waits beyond max(this, its window) */
#define CHUNK_FRAMING_BYTES 12      /* "%x\r\n" of a 32-bit size, and the CRLF after the data */
#define RESPONSE_HEAD_SLACK 4096    /* what the exchange adds to an upstream head */
#define STACK_FIELDS 64
#define LINGER_MS 1000 /* reading on after the last GOAWAY, so that it is read before a reset */

struct px_h2conn {
    struct px_client *c;    /* borrowed: the connection, which owns this */
    struct px_h2 *sess;     /* owned */
    uv_idle_t kick;         /* flushes on the next loop turn; data: this */
    struct px_list streams; /* struct px_h2s, until freed */
    struct px_list ready;   /* streams with something for serve_streams() to do */
    struct px_slab *out;    /* owned while a socket write is in flight */
    uint32_t nopen;         /* stream clients whose close has not completed */
    bool flushing, again;   /* flush() is running; run it once more */
    bool draining;          /* our GOAWAY went out: close when the last stream ends */
    bool goaway_due;        /* send a graceful GOAWAY on the next flush */
    bool lingering;         /* the last GOAWAY went out: reading on until EOF or LINGER_MS */
    bool closing;           /* the connection is closing: leave the session alone */
};

struct px_h2s {
    struct px_client c;        /* the stream client; c.s.tp_data = this */
    struct px_h2s *next_spare; /* in the worker's spare list while unused */
    struct px_list link;       /* in h->streams */
    struct px_list ready;      /* in h->ready while it needs serving; else alone */
    struct px_h2conn *h;       /* borrowed */
    struct px_h2_stream *st;   /* the session's; NULL once the session closed it */
    char *inbox;               /* owned: request DATA the client has not had yet */
    uint32_t inbox_len, inbox_cap;
    char *end; /* owned: a chunked body's end (last chunk, trailers, CRLF) */
    uint32_t end_len;
    uint32_t head_len;    /* rendered request head in c.s.in, not yet delivered */
    bool head_loaded;     /* the head is in the exchange's parser, not yet processed */
    bool chunked;         /* the body goes to the client as chunks */
    bool req_ended;       /* the session delivered the whole request */
    bool end_given;       /* ... and the client has had all of it */
    bool head_held;       /* a final response head parsed, not yet submitted */
    bool resp_ended;      /* the response's end was submitted */
    bool write_held;      /* the client's write waits for the queue to drain */
    bool client_closed;   /* the stream client's close completed */
    bool reset_when_sent; /* RST_STREAM(NO_ERROR) once the response is out */
    bool is_head;         /* a HEAD request: a response to it has no body */
    bool resp_ready;      /* resp is set up for this stream */
    uv_close_cb close_cb; /* the client's, run by `closed` on the turn after its close */
    struct px_later_item closed;
    /* Last, and kept when X is reused: parses what the exchange writes as
     * text (its own answers). Set up on first use, which is rare: upstream
     * responses come parsed (px__h2_stream_respond). */
    struct px_http resp;
};

static uv_write_t held_write; /* c.s.wreq of a held write: the stream is "writing" */

static void flush(struct px_h2conn *h);

static void on_kick(uv_idle_t *t)
{
    uv_idle_stop(t);
    flush(t->data);
}

static void kick(struct px_h2conn *h)
{
    if (!h->closing && !uv_is_active((uv_handle_t *)&h->kick))
        uv_idle_start(&h->kick, on_kick);
}

/* X has something to be served on the next flush: its request to give,
 * a held write, a reset to send. */
static void mark(struct px_h2s *x)
{
    if (px_list_empty(&x->ready))
        px_list_insert_tail(&x->h->ready, &x->ready);
    kick(x->h);
}

static struct px_h2s *stream_of(struct px_stream *s)
{
    return s->tp_data;
}

/* ------------------------------------------------------- request side */

static void put(char **p, const char *s, size_t n)
{
    if (n == 0)
        return; /* S may be NULL then (an empty field) */
    memcpy(*p, s, n);
    *p += n;
}

/* The bytes of HEAD rendered as HTTP/1.1 (render_head), without the chunked framing line. */
static size_t rendered_size(const struct px_h2_head *head)
{
    size_t n = head->method.value_len + 1 + head->path.value_len + 11 + 2;
    if (head->authority.value_len)
        n += 6 + head->authority.value_len + 2;
    for (uint32_t i = 0; i < head->nfields; i++)
        n += head->fields[i].name_len + 2 + head->fields[i].value_len + 2;
    return n;
}

/* Renders HEAD as an HTTP/1.1 request head into OUT (CAP bytes); -1 if it does not fit. */
static ssize_t render_head(const struct px_h2_head *head, bool chunked, char *out, size_t cap)
{
    if (rendered_size(head) + 28 > cap)
        return -1;
    char *p = out;
    put(&p, head->method.value, head->method.value_len);
    put(&p, " ", 1);
    put(&p, head->path.value, head->path.value_len);
    put(&p, " HTTP/1.1\r\n", 11);
    if (head->authority.value_len) {
        put(&p, "Host: ", 6);
        put(&p, head->authority.value, head->authority.value_len);
        put(&p, "\r\n", 2);
    }
    for (uint32_t i = 0; i < head->nfields; i++) {
        put(&p, head->fields[i].name, head->fields[i].name_len);
        put(&p, ": ", 2);
        put(&p, head->fields[i].value, head->fields[i].value_len);
        put(&p, "\r\n", 2);
    }
    if (chunked)
        put(&p, "Transfer-Encoding: chunked\r\n", 28);
    put(&p, "\r\n", 2);
    return p - out;
}

static void stream_release(struct px_h2s *x)
{
    px_http_dispose(&x->resp);
    free(x);
}

/* X is done: kept as a spare for the worker's next stream, or freed. A
 * spare keeps no parser buffers: few streams ever need them. */
static void stream_free(struct px_h2s *x)
{
    struct px_worker *w = x->c.w;

    px_list_remove(&x->link);
    px_list_remove(&x->ready);
    free(x->inbox);
    free(x->end);
    if (w->nh2_spare < PX_SPARE_H2_STREAMS && !w->draining) {
        px_http_dispose(&x->resp);
        x->next_spare = w->h2_spare;
        w->h2_spare = x;
        w->nh2_spare++;
        return;
    }
    stream_release(x);
}

void px_h2_stream_cache_dispose(struct px_worker *w)
{
    while (w->h2_spare) {
        struct px_h2s *x = w->h2_spare;
        w->h2_spare = x->next_spare;
        stream_release(x);
    }
    w->nh2_spare = 0;
}

/* A zeroed stream, from the worker's spares when there is one. */
static struct px_h2s *stream_alloc(struct px_worker *w)
{
    struct px_h2s *x = w->h2_spare;

    if (x == NULL)
        return calloc(1, sizeof(*x));
    w->h2_spare = x->next_spare;
    __builtin_prefetch(w->h2_spare); /* the next stream's: cold behind 100 in flight */
    w->nh2_spare--;
    /* resp holds no buffers (stream_free disposed of them); resp_parser sets
     * it up. The client's two handles are left as they are: it never makes
     * its socket's and makes its timer's only for a deadline, and what of
     * them it uses px__client_init_stream sets: some 350 bytes per stream
     * not written, on lines that are cold behind many streams in flight. */
    memset(&x->c.s.ops, 0, offsetof(struct px_h2s, c.timer) - offsetof(struct px_h2s, c.s.ops));
    memset(&x->c.timer.unmade, 0,
           offsetof(struct px_h2s, resp) - offsetof(struct px_h2s, c.timer.unmade));
    return x;
}

/* Sets up the parser of the answers the exchange writes as text. */
static int resp_parser(struct px_h2s *x)
{
    const struct conf_limits *lim = &x->c.w->conf->limits;

    if (x->resp_ready)
        return 0;
    if (px_http_init(&x->resp, PX_HTTP_RESPONSE, x, lim->max_header_bytes + RESPONSE_HEAD_SLACK,
                     lim->max_headers + 16) != 0)
        return PX_ENOMEM;
    x->resp.decode_body = true; /* HTTP/2 frames its body itself: no chunks */
    x->resp.skip_body = x->is_head;
    x->resp_ready = true;
    return 0;
}

/* Frees X once neither its client nor the session refers to it. */
static void maybe_free(struct px_h2s *x)
{
    if (x->client_closed && x->st == NULL)
        stream_free(x);
}

static const struct px_transport stream_transport;

/*
 * A request with no body goes into the exchange's parser as fields
 * (px_http_load_*): the HTTP/1.1 text would only be parsed back. Any head
 * the loader leaves to the parser is rendered instead. bytes_in counts the
 * rendered size either way, so logs and metrics read the same.
 */
static bool load_head(struct px_h2s *x, const struct px_h2_head *head)
{
    struct px_client *c = &x->c;
    struct px_http *r;
    bool ok;

    if (!head->end_stream || head->content_length >= 0 || px__client_begin_exchange(c) == NULL)
        return false;
    r = &c->x->req;
    ok = px_http_load_begin(r, head->method.value, head->method.value_len, head->path.value,
                            head->path.value_len) &&
         (head->authority.value_len == 0 ||
          px_http_load_field(r, "Host", 4, head->authority.value, head->authority.value_len));
    for (uint32_t i = 0; ok && i < head->nfields; i++)
        ok = px_http_load_field(r, head->fields[i].name, head->fields[i].name_len,
                                head->fields[i].value, head->fields[i].value_len);
    if (!ok) {
        px_http_load_abort(r);
        return false;
    }
    px_http_load_end(r);
    c->x->bytes_in = rendered_size(head);
    return true;
}

/* A new stream: its client, with the head loaded into its exchange or
 * waiting rendered in its read buffer. */
static struct px_h2s *stream_new(struct px_h2conn *h, struct px_h2_stream *st,
                                 const struct px_h2_head *head)
{
    const struct conf_limits *lim = &h->c->w->conf->limits;
    struct px_h2s *x = stream_alloc(h->c->w);
    ssize_t n;

    if (x == NULL)
        return NULL;
    px__client_init_stream(&x->c, h->c, &stream_transport, x);
    x->h = h;
    x->st = st;
    x->chunked = head->content_length < 0 && !head->end_stream;
    x->is_head = head->method.value_len == 4 && memcmp(head->method.value, "HEAD", 4) == 0;
    x->c.stream_id = px_h2_stream_id(st);
    px_list_insert_tail(&h->streams, &x->link);
    px_list_init(&x->ready);
    h->nopen++;
    /* keepalive_requests holds for HTTP/2 too, as in nginx: after the
     * last one, GOAWAY (not from inside the session's callback). */
    if (++h->c->nrequests == lim->max_keepalive_requests)
        h->goaway_due = true;
    if (load_head(x, head)) {
        x->head_loaded = true;
    } else if ((x->c.s.in = px_slab_get(x->c.s.slabs)) == NULL ||
               (n = render_head(head, x->chunked, x->c.s.in->data, PX_SLAB_BYTES)) < 0) {
        px_client_close(&x->c, "h2 head not rendered");
        return x;
    } else {
        x->head_len = (uint32_t)n;
    }
    px_stream_read(&x->c.s, true); /* marks X */
    return x;
}

static void on_request_head(void *data, struct px_h2_stream *st, const struct px_h2_head *head)
{
    struct px_h2conn *h = data;
    struct px_h2s *x = stream_new(h, st, head);

    if (x == NULL) {
        px_h2_reset_stream(st, PX_H2_INTERNAL_ERROR);
        return;
    }
    px_h2_stream_set_data(st, x);
}

/* True when X's client takes no more request bytes: they are dropped. */
static bool stream_deaf(const struct px_h2s *x)
{
    return x->client_closed || x->c.state == PX_CLIENT_CLOSING;
}

static void on_request_data(void *data, struct px_h2_stream *st, const char *buf, size_t len)
{
    struct px_h2s *x = px_h2_stream_data(st);

    (void)data;
    if (x == NULL || stream_deaf(x)) {
        px_h2_consume(st, len); /* the window stays open for a request nobody reads */
        return;
    }
    if (x->inbox_len + len > x->inbox_cap) {
        /* Bounded by the stream's window: the session refuses more. */
        uint32_t cap = x->inbox_cap ? x->inbox_cap : 16 * 1024;
        while (cap < x->inbox_len + len)
            cap *= 2;
        char *p = realloc(x->inbox, cap);
        if (p == NULL) {
            px_client_close(&x->c, "out of memory");
            px_h2_consume(st, len);
            return;
        }
        x->inbox = p;
        x->inbox_cap = cap;
    }
    memcpy(x->inbox + x->inbox_len, buf, len);
    x->inbox_len += (uint32_t)len;
    mark(x);
}

/* The end of a chunked body: the last chunk, the trailers, the final CRLF. */
static int render_end(struct px_h2s *x, const struct px_h2_field *trailers, uint32_t n)
{
    size_t need = 5;
    for (uint32_t i = 0; i < n; i++)
        need += trailers[i].name_len + trailers[i].value_len + 4;
    if ((x->end = malloc(need)) == NULL)
        return -1;
    char *p = x->end;
    put(&p, "0\r\n", 3);
    for (uint32_t i = 0; i < n; i++) {
        put(&p, trailers[i].name, trailers[i].name_len);
        put(&p, ": ", 2);
        put(&p, trailers[i].value, trailers[i].value_len);
        put(&p, "\r\n", 2);
    }
    put(&p, "\r\n", 2);
    x->end_len = (uint32_t)(p - x->end);
    return 0;
}

static void on_request_end(void *data, struct px_h2_stream *st, const struct px_h2_field *trailers,
                           uint32_t n)
{
    struct px_h2s *x = px_h2_stream_data(st);

    (void)data;
    if (x == NULL)
        return;
    x->req_ended = true;
    /* A body framed by content-length has no room for trailers: they go. */
    if (x->chunked && !stream_deaf(x) && render_end(x, trailers, n) != 0)
        px_client_close(&x->c, "out of memory");
    mark(x);
}

static void on_stream_close(void *data, struct px_h2_stream *st, uint32_t code)
{
    struct px_h2s *x = px_h2_stream_data(st);

    (void)data;
    if (x == NULL)
        return;
    x->st = NULL;
    if (x->c.state != PX_CLIENT_CLOSING)
        px_client_close(&x->c, code == PX_H2_NO_ERROR ? "h2 stream closed" : "h2 stream reset");
    maybe_free(x);
}

static const struct px_h2_ops session_ops = {
    .on_request_head = on_request_head,
    .on_request_data = on_request_data,
    .on_request_end = on_request_end,
    .on_stream_close = on_stream_close,
};

/* Appends what fits of X's body (and its end) to the client's read buffer; returns the bytes. */
static size_t fill_body(struct px_h2s *x, struct px_stream *s)
{
    if (s->in_off > 0) {
        memmove(s->in->data, s->in->data + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off;
        s->in_off = 0;
    }
    char *start = s->in->data + s->in_len, *p = start;
    size_t room = PX_SLAB_BYTES - s->in_len, k = x->inbox_len;
    if (k > 0 && room > CHUNK_FRAMING_BYTES) {
        if (k > room - CHUNK_FRAMING_BYTES)
            k = room - CHUNK_FRAMING_BYTES;
        if (x->chunked)
            p += sprintf(p, "%zx\r\n", k);
        put(&p, x->inbox, k);
        if (x->chunked)
            put(&p, "\r\n", 2);
        memmove(x->inbox, x->inbox + k, x->inbox_len - k);
        x->inbox_len -= (uint32_t)k;
        if (x->st)
            px_h2_consume(x->st, k);
    }
    if (x->inbox_len == 0 && x->req_ended && x->end_len <= room - (size_t)(p - start)) {
        put(&p, x->end, x->end_len);
        x->end_given = true;
    }
    return (size_t)(p - start);
}

/* Hands X's client what it can take of the request, while it reads. */
static void give(struct px_h2s *x)
{
    struct px_stream *s = &x->c.s;

    if (x->head_loaded && s->reading && !s->closing) {
        x->head_loaded = false;
        s->ops->on_read(s, 0); /* the client processes the head it has */
    }
    if (x->head_len && s->reading && !s->closing) {
        size_t n = x->head_len;
        x->head_len = 0;
        px__stream_deliver(s, (ssize_t)n);
        /* The exchange took the head (the upstream gets its own rendering,
         * and no body byte was in this buffer): the slab goes back rather
         * than staying with every stream in flight, 64 KiB each. */
        if (!s->closing)
            px_stream_shrink(s);
    }
    while (s->reading && !s->closing && x->c.state != PX_CLIENT_CLOSING &&
           (x->inbox_len > 0 || (x->req_ended && !x->end_given))) {
        if (x->inbox_len == 0 && x->end_len == 0) {
            x->end_given = true; /* an end of no bytes (no body, or one by length) */
            break;
        }
        if (s->in == NULL && (s->in = px_slab_get(s->slabs)) == NULL) {
            px_client_close(&x->c, "out of memory");
            return;
        }
        size_t n = fill_body(x, s);
        if (n == 0)
            return; /* the buffer is full: the client reads on later */
        px__stream_deliver(s, (ssize_t)n);
    }
}

/* ------------------------------------------------------ response side */

/* Fields [FROM, TO) of R as h2 fields into F, leaving out the hop-by-hop ones
 * px_http_scan() marked; returns the count. */
static uint32_t fields_of(const struct px_http *r, uint32_t from, uint32_t to,
                          struct px_h2_field *f)
{
    uint32_t n = 0;

    for (uint32_t i = from; i < to; i++) {
        const struct px_hdr *hd = &r->hdrs[i];
        if (hd->flags & PX_HDR_DROP)
            continue;
        f[n++] = (struct px_h2_field){r->buf + hd->name_off, r->buf + hd->value_off, hd->name_len,
                                      hd->value_len};
    }
    return n;
}

/* Appends the "Name: value\r\n" lines of EXTRA (ours, well formed) to F; returns the count. */
static uint32_t extra_fields(const char *extra, size_t len, struct px_h2_field *f)
{
    if (len == 0)
        return 0; /* EXTRA may be NULL then */
    const char *p = extra, *end = extra + len;
    uint32_t n = 0;

    while (p < end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *eol = colon ? memchr(colon, '\r', (size_t)(end - colon)) : NULL;
        if (eol == NULL)
            break;
        const char *v = colon + 1;
        while (v < eol && *v == ' ')
            v++;
        f[n++] = (struct px_h2_field){p, v, (uint32_t)(colon - p), (uint32_t)(eol - v)};
        p = eol + 2;
    }
    return n;
}

static uint32_t count_lines(const char *p, size_t len)
{
    uint32_t n = 0;

    if (len == 0)
        return 0; /* P may be NULL then */
    for (const char *e = p + len; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        n++;
    return n;
}

/* Submits R's head with the EXTRA lines after its fields; END_STREAM when no body follows. */
static int submit_parsed_head(struct px_h2s *x, const struct px_http *r, const char *extra,
                              size_t extra_len, bool end_stream)
{
    struct px_h2_field stack[STACK_FIELDS], *f = stack;
    size_t max = r->head_nhdrs + count_lines(extra, extra_len);
    int rc;

    if (max > STACK_FIELDS && (f = malloc(max * sizeof(*f))) == NULL)
        return PX_ENOMEM;
    uint32_t nparsed = fields_of(r, 0, r->head_nhdrs, f);
    uint32_t n = nparsed + extra_fields(extra, extra_len, f + nparsed);
    rc = px_h2_submit_parsed_response(x->st, px_http_status(r), f, nparsed, n, end_stream);
    if (f != stack)
        free(f);
    x->resp_ended |= end_stream && px_http_status(r) >= 200;
    return rc;
}

/* Submits the response head the parser holds; END_STREAM when no body follows. */
static int submit_head(struct px_h2s *x, bool end_stream)
{
    x->head_held = false;
    x->resp_ended |= end_stream;
    return submit_parsed_head(x, &x->resp, NULL, 0, end_stream);
}

/* Sends R's trailers (the fields after its head), or just the end of the body. */
static int submit_trailers_of(struct px_h2s *x, const struct px_http *r)
{
    uint32_t ntr = r->nhdrs - r->head_nhdrs;
    struct px_h2_field stack[STACK_FIELDS], *f = stack;
    int rc;

    x->resp_ended = true;
    if (ntr == 0)
        return px_h2_submit_data(x->st, NULL, 0, true);
    if (ntr > STACK_FIELDS && (f = malloc(ntr * sizeof(*f))) == NULL)
        return PX_ENOMEM;
    rc = px_h2_submit_trailers(x->st, f, fields_of(r, r->head_nhdrs, r->nhdrs, f));
    if (f != stack)
        free(f);
    return rc;
}

/* The response is complete: its end, with the trailers of a chunked one. */
static int submit_end(struct px_h2s *x)
{
    struct px_http *r = &x->resp;
    uint32_t ntr = r->nhdrs - r->head_nhdrs;
    int rc;

    if (x->head_held && (ntr == 0 || (rc = submit_head(x, false)) != 0))
        return ntr == 0 ? submit_head(x, true) : rc;
    return submit_trailers_of(x, r);
}

/* Submits the body spans the last feed decoded. */
static int submit_spans(struct px_h2s *x)
{
    struct px_http *r = &x->resp;
    int rc = 0;

    for (unsigned i = 0; i < r->nspans && rc == 0; i++) {
        if (x->head_held && (rc = submit_head(x, false)) != 0)
            break;
        rc = px_h2_submit_data(x->st, r->spans[i].base, r->spans[i].len, false);
    }
    r->nspans = 0;
    return rc;
}

static int on_response_head(struct px_h2s *x)
{
    int status = px_http_status(&x->resp);

    /* The exchange wrote this head from one it checked (px_http_scan), so it
     * is not scanned again: what HTTP/1.1 hop-by-hop fields it still holds
     * (Connection, Keep-Alive, Transfer-Encoding) px_h2_submit_response drops. */
    if (status == 101)
        return PX_EPARSE;
    if (status >= 200) {
        x->head_held = true; /* END_STREAM is known once the bytes after it are */
        return 0;
    }
    return submit_head(x, false); /* interim: 100 Continue, 103 Early Hints */
}

/* Parses LEN bytes the exchange wrote and submits what they complete. */
static int take_response(struct px_h2s *x, const char *p, size_t len)
{
    for (;;) {
        size_t used = 0;
        int ev, rc = 0;

        if (x->resp_ended)
            return len == 0 ? 0 : PX_EPARSE;
        if (len == 0 && !px_http_paused(&x->resp))
            return 0;
        if ((ev = px_http_feed(&x->resp, p, len, &used)) < 0)
            return ev;
        p += used;
        len -= used;
        if (ev == PX_HTTP_HEAD)
            rc = on_response_head(x);
        else
            rc = submit_spans(x);
        if (rc == 0 && ev == PX_HTTP_DONE && px_http_status(&x->resp) >= 200)
            rc = submit_end(x);
        if (rc != 0)
            return rc;
        if (ev == PX_HTTP_MORE && len == 0)
            return 0;
    }
}

/* True while X has more queued than its client may take now. */
static bool stream_full(const struct px_h2s *x)
{
    int32_t win = px_h2_stream_send_window(x->st);
    size_t limit = win > QUEUE_MIN_BYTES ? (size_t)win : QUEUE_MIN_BYTES;
    return px_h2_stream_queued(x->st) >= limit;
}

/* What a write to X returns once its submissions are made (RC): an error
 * resets the stream; a queue over the window holds the write. */
static int write_done(struct px_h2s *x, int rc)
{
    struct px_stream *s = &x->c.s;

    if (rc != 0) {
        px_h2_reset_stream(x->st, PX_H2_INTERNAL_ERROR);
        kick(x->h);
        return rc == PX_ENOMEM ? PX_ENOMEM : UV_EPROTO;
    }
    kick(x->h);
    if (!x->resp_ended && stream_full(x)) {
        x->write_held = true;
        s->wreq = &held_write;
        mark(x);
        return 0;
    }
    return 1;
}

/* HTTP/1.1 text the exchange wrote (its own answers: errors): parsed back. */
static int stream_write(struct px_stream *s, uv_buf_t *bufs, unsigned nbufs)
{
    struct px_h2s *x = stream_of(s);
    int rc = 0;

    if (x->st == NULL || x->h->closing)
        return UV_EPIPE;
    rc = resp_parser(x);
    for (unsigned i = 0; i < nbufs && rc == 0; i++)
        rc = take_response(x, bufs[i].base, bufs[i].len);
    if (rc == 0 && x->head_held)
        rc = submit_head(x, false);
    return write_done(x, rc);
}

int px__h2_stream_respond(struct px_client *c, const struct px_h2_response *r, uv_buf_t *bufs,
                          unsigned n)
{
    struct px_h2s *x = px_container_of(c, struct px_h2s, c);
    bool body = false;
    int rc = 0;

    PX_ASSERT(c->s.wreq == NULL);
    if (x->st == NULL || x->h->closing)
        return UV_EPIPE;
    if (x->resp_ended || x->head_held)
        return write_done(x, PX_EPARSE); /* never after an end, nor mixed with parsed text */
    for (unsigned i = 0; i < n; i++)
        body |= bufs[i].len > 0;
    /* A final head with nothing after it goes with END_STREAM (HEAD, 204, 304, empty bodies). */
    if (r->head)
        rc = submit_parsed_head(x, r->resp, r->extra, r->extra_len,
                                r->end && !body && r->resp->nhdrs == r->resp->head_nhdrs);
    for (unsigned i = 0; i < n && rc == 0; i++)
        if (bufs[i].len > 0)
            rc = px_h2_submit_data(x->st, bufs[i].base, bufs[i].len, false);
    if (rc == 0 && r->end && !x->resp_ended)
        rc = submit_trailers_of(x, r->resp);
    return write_done(x, rc);
}

/* A held write completes once the stream's queue went below its window. */
static void release_write(struct px_h2s *x)
{
    struct px_stream *s = &x->c.s;

    if (!x->write_held || s->closing || (x->st && stream_full(x)))
        return;
    x->write_held = false;
    s->wreq = NULL;
    s->ops->on_written(s, x->st ? 0 : UV_EPIPE);
}

static void stream_read_start(struct px_stream *s)
{
    mark(stream_of(s));
}

static void stream_read_stop(struct px_stream *s)
{
    (void)s;
}

/* The stream client's close completes, as uv_close()'s would: it has no handle. */
static void on_closed_later(struct px_later_item *it)
{
    struct px_h2s *x = px_container_of(it, struct px_h2s, closed);

    x->close_cb((uv_handle_t *)&x->c.s.tcp);
}

/*
 * The stream client closes. A response cut short is reset; a complete one
 * whose request is still coming is followed by RST_STREAM(NO_ERROR) once it
 * is out, so the client stops sending a body nobody reads (RFC 9113 §8.1).
 */
static void stream_close(struct px_stream *s, uv_close_cb cb)
{
    struct px_h2s *x = stream_of(s);

    s->wreq = NULL;
    x->write_held = false;
    if (x->st && !x->h->closing) {
        if (!x->resp_ended)
            px_h2_reset_stream(x->st, PX_H2_INTERNAL_ERROR);
        else if (!x->req_ended)
            x->reset_when_sent = true;
        mark(x);
    }
    x->close_cb = cb;
    x->closed.run = on_closed_later;
    px_later_add(&x->c.w->later, &x->closed);
}

static const struct px_transport stream_transport = {
    .read_start = stream_read_start,
    .read_stop = stream_read_stop,
    .write = stream_write,
    .close = stream_close,
};

void px__h2_stream_closed(struct px_client *c)
{
    struct px_h2s *x = px_container_of(c, struct px_h2s, c);
    struct px_h2conn *h = x->h;

    x->client_closed = true;
    h->nopen--;
    if (h->closing) {
        px__client_release(h->c); /* the connection frees X */
        return;
    }
    maybe_free(x);
    kick(h);
}

/* ---------------------------------------------------------- connection */

/* True while X waits for something serve_streams() does. */
static bool needs_serving(const struct px_h2s *x)
{
    const struct px_stream *s = &x->c.s;
    bool to_give = x->head_loaded || x->head_len || x->inbox_len || (x->req_ended && !x->end_given);

    return x->write_held || (x->reset_when_sent && x->st) ||
           (to_give && s->reading && !s->closing && x->c.state != PX_CLIENT_CLOSING);
}

/*
 * Serves the streams marked ready: deliveries, held writes, resets after a
 * response. Only those: a connection with 100 streams open does not walk
 * them all on every flush.
 */
static void serve_streams(struct px_h2conn *h)
{
    struct px_list *n = h->ready.next;

    while (n != &h->ready && !h->closing) {
        struct px_h2s *x = px_container_of(n, struct px_h2s, ready);
        give(x);
        release_write(x);
        if (x->reset_when_sent && x->st && px_h2_stream_queued(x->st) == 0 &&
            !px_h2_want_write(h->sess)) {
            x->reset_when_sent = false;
            px_h2_reset_stream(x->st, PX_H2_NO_ERROR);
        }
        n = n->next; /* X stays listed until freed, and frees wait for a close callback */
        if (!needs_serving(x))
            px_list_remove(&x->ready);
    }
}

/* Writes what the session has until the socket would block; true when it wrote. */
static bool send_frames(struct px_h2conn *h)
{
    struct px_client *c = h->c;
    bool wrote = false;

    while (!px_stream_writing(&c->s) && !h->closing) {
        if (h->out == NULL && (h->out = px_slab_get(c->s.slabs)) == NULL) {
            px_client_close(c, "out of memory");
            return wrote;
        }
        ssize_t n = px_h2_send(h->sess, h->out->data, PX_SLAB_BYTES);
        if (n <= 0) {
            if (n < 0)
                px_client_close(c, "out of memory");
            break;
        }
        uv_buf_t buf = uv_buf_init(h->out->data, (unsigned)n);
        int rc = px_stream_write(&c->s, &buf, 1);
        if (rc < 0) {
            px_client_close(c, px_strerror(rc));
            return wrote;
        }
        wrote = true;
        if (rc == 0)
            return wrote; /* h->out stays until on_conn_written */
    }
    if (h->out && !px_stream_writing(&c->s)) {
        px_slab_put(c->s.slabs, h->out);
        h->out = NULL;
    }
    return wrote;
}

/* Arms the connection's deadline for what it is waiting for. */
static void connection_timer(struct px_h2conn *h)
{
    struct px_client *c = h->c;
    const struct conf_timeouts *t = &c->w->conf->timeouts;
    bool sending = px_stream_writing(&c->s) || px_h2_stalled(h->sess);

    if (sending) {
        if (c->phase != PX_PHASE_SEND || c->timer.due_ms == 0)
            px__client_timer(c, t->client_send_ms, PX_PHASE_SEND);
    } else if (h->nopen == 0) {
        if (c->timer.due_ms == 0 || c->phase == PX_PHASE_SEND)
            px__client_timer(c, t->client_keepalive_ms, PX_PHASE_H2_IDLE);
    } else {
        px__client_timer_stop(c);
    }
}

static void flush(struct px_h2conn *h)
{
    struct px_client *c = h->c;

    if (h->flushing) {
        h->again = true;
        return;
    }
    h->flushing = true;
    if (h->goaway_due && !h->draining) {
        h->draining = true;
        px_h2_goaway(h->sess);
    }
    do {
        h->again = false;
        serve_streams(h);
        /* Queues the send drained may release held writes: serve again. */
        if (send_frames(h) && !px_list_empty(&h->ready))
            h->again = true;
    } while (h->again && !h->closing);
    h->flushing = false;
    if (h->closing)
        return;
    if (h->lingering)
        return;
    bool done = !px_h2_want_read(h->sess) && !px_h2_want_write(h->sess);
    if (!px_stream_writing(&c->s) && (done || (h->draining && h->nopen == 0))) {
        /* Closing with unread input would reset the connection, and the
         * client's kernel could drop our GOAWAY unread: linger a moment,
         * as nginx's lingering_close does. The streams are over. */
        const char *why = px_h2_error_reason(h->sess);
        if (px_h2_goaway_code(h->sess) > 0)
            px_log(PX_LOG_INFO, &c->peer.sa, "event=h2_goaway code=%d reason=\"%s\"",
                   px_h2_goaway_code(h->sess), why ? why : "protocol error");
        h->lingering = true;
        px__client_timer(c, LINGER_MS, PX_PHASE_H2_LINGER);
        return;
    }
    connection_timer(h);
}

static void on_conn_read(struct px_stream *s, int err)
{
    struct px_client *c = s->tcp.data;
    struct px_h2conn *h = c->h2;

    if (err < 0) {
        px_client_close(c, err == UV_EOF ? "client closed" : px_strerror(err));
        return;
    }
    /* A failed session reads nothing more: its bytes are discarded. */
    int rc =
        px_h2_feed(h->sess, s->in->data + s->in_off, s->in_len - s->in_off, uv_now(&c->w->loop));
    s->in_off = s->in_len;
    px_stream_shrink(s);
    if (rc == PX_ENOMEM) {
        px_client_close(c, "out of memory");
        return;
    }
    if (c->phase == PX_PHASE_HEADER)
        px__client_timer_stop(c); /* the preface came: from now on, the idle deadline */
    flush(h);
}

static void on_conn_written(struct px_stream *s, int status)
{
    struct px_client *c = s->tcp.data;
    struct px_h2conn *h = c->h2;

    if (status < 0) {
        px_client_close(c, "client write failed");
        return;
    }
    if (c->phase == PX_PHASE_SEND)
        px__client_timer_stop(c); /* progress: the send deadline starts again */
    flush(h);
}

static const struct px_stream_ops conn_ops = {
    .on_read = on_conn_read,
    .on_written = on_conn_written,
};

static void session_config(struct px_worker *w, const struct conf *cf, struct px_h2_config *cfg)
{
    px_h2_config_init(cfg);
    cfg->max_concurrent_streams = cf->limits.h2_max_concurrent_streams;
    cfg->max_header_list_bytes = cf->limits.max_header_bytes;
    cfg->max_header_fields = cf->limits.max_headers;
    cfg->mem = &w->h2_mem;
}

void px__h2conn_start(struct px_client *c)
{
    struct px_h2_config cfg;
    struct px_h2conn *h = calloc(1, sizeof(*h));

    session_config(c->w, c->w->conf, &cfg);
    if (h == NULL || (h->sess = px_h2_new(&cfg, &session_ops, h)) == NULL) {
        free(h);
        px_client_close(c, "out of memory");
        return;
    }
    h->c = c;
    px_list_init(&h->streams);
    px_list_init(&h->ready);
    uv_idle_init(&c->w->loop, &h->kick);
    h->kick.data = h;
    c->h2 = h;
    c->state = PX_CLIENT_H2;
    c->s.ops = &conn_ops;
    px_stats_add(&c->w->port.stats.h2.connections, 1);
    px__client_timer(c, c->w->conf->timeouts.client_header_ms, PX_PHASE_HEADER);
    px_stream_read(&c->s, true);
    if (px_stream_has_input(&c->s))
        on_conn_read(&c->s, 0);
    else
        flush(h); /* our SETTINGS */
}

static void on_kick_closed(uv_handle_t *t)
{
    struct px_h2conn *h = t->data;
    px__client_release(h->c);
}

uint32_t px__h2conn_close(struct px_client *c)
{
    struct px_h2conn *h = c->h2;
    uint32_t waits = 1;

    if (px_h2_goaway_code(h->sess) > 0)
        px_stats_add(&c->w->port.stats.h2.errors, 1);
    h->closing = true;
    for (struct px_list *n = h->streams.next; n != &h->streams; n = n->next) {
        struct px_h2s *x = px_container_of(n, struct px_h2s, link);
        if (x->client_closed)
            continue;
        waits++;
        px_client_close(&x->c, "h2 connection closed");
    }
    uv_close((uv_handle_t *)&h->kick, on_kick_closed);
    return waits;
}

void px__h2conn_free(struct px_client *c)
{
    struct px_h2conn *h = c->h2;

    if (h == NULL)
        return;
    while (!px_list_empty(&h->streams))
        stream_free(px_container_of(h->streams.next, struct px_h2s, link));
    px_h2_free(h->sess);
    px_slab_put(c->s.slabs, h->out);
    free(h);
    c->h2 = NULL;
}

void px__h2conn_timeout(struct px_client *c)
{
    struct px_h2conn *h = c->h2;

    if (c->phase == PX_PHASE_H2_IDLE) {
        /* An idle connection says goodbye before it goes, as nginx does. */
        px_h2_goaway(h->sess);
        send_frames(h);
    }
    px_client_close(c, px_client_phase_names[c->phase]);
}

void px__h2conn_goaway(struct px_client *c)
{
    struct px_h2conn *h = c->h2;

    if (h->draining || h->closing)
        return;
    h->goaway_due = true;
    flush(h);
}
