/*
 * probe: a tiny HTTP/1.1 client, over TLS for a backend with tls (the
 * engine of proto/tls.h and the backend's client context, as the data plane
 * uses them). A health probe reads only as far as the status line and
 * closes; the response body and headers are none of its business. A bulk
 * probe (probe.bulk) reads on to the end of the head and then counts body
 * bytes, unparsed, up to the size it wants: goodput, not content, is what
 * it measures.
 */
#include "proxy/control/probe.h"
#include "proxy/base/px.h"
#include "proxy/proto/tls.h"

#include <stdio.h>
#include <string.h>

#define PROBE_REQ_BYTES 1024
#define PROBE_RESP_BYTES 128
#define PROBE_TLS_IN_BYTES 16384    /* ciphertext read at once: a handshake flight */
#define PROBE_BULK_READ_BYTES 65536 /* plaintext read at once by a bulk probe */

struct px_probe {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t creq;
    uv_write_t wreq;
    const struct conf_probe *cfg; /* borrowed */
    px_probe_cb cb;               /* NULL once reported or cancelled */
    void *data;
    uint64_t start_ns; /* connect start (TCP) or request sent (HTTP) */
    int pending_closes;
    struct px_tls *tls;            /* owned; NULL for a plain backend */
    struct px_tls_client *tls_ctx; /* one reference while tls lives */
    uint8_t *cin;                  /* owned: ciphertext read buffer (TLS only) */
    bool sent;                     /* the request went out (TLS: after the handshake) */
    bool http;                     /* speaks HTTP (an http probe, or a bulk one) */
    /* A bulk probe: reads the body too, up to bulk_want bytes (px_probe_start_bulk). */
    px_probe_bulk_cb bulk_cb;            /* set for a bulk probe; cb is then only the "live" flag */
    char *bulk_buf;                      /* owned: plaintext body reads */
    uint64_t bulk_want, body_bytes;      /* body bytes to read, and read so far */
    uint64_t body_start_ns, body_end_ns; /* end of the head, last body byte */
    int status;                          /* of the bulk response, once its head is in */
    unsigned head_match;                 /* bytes of CRLF CRLF matched so far */
    bool head_done;
    size_t req_len, resp_len;
    char req[PROBE_REQ_BYTES];
    char resp[PROBE_RESP_BYTES];
};

static void on_probe_closed(uv_handle_t *h)
{
    struct px_probe *p = h->data;
    if (--p->pending_closes > 0)
        return;
    px_tls_free(p->tls);
    px_tls_client_unref(p->tls_ctx);
    free(p->cin);
    free(p->bulk_buf);
    free(p);
}

/* Reports once and tears down; idempotent. */
static void finish(struct px_probe *p, int err, int status)
{
    double rtt_ms = (double)(uv_hrtime() - p->start_ns) / 1e6;
    px_probe_cb cb = p->cb;
    p->cb = NULL;
    if (cb && p->bulk_cb)
        p->bulk_cb(p->data, err, p->body_bytes, (double)(p->body_end_ns - p->body_start_ns) / 1e6);
    else if (cb)
        cb(p->data, err, rtt_ms, status);
    if (!uv_is_closing((uv_handle_t *)&p->tcp)) {
        p->pending_closes = 2;
        uv_close((uv_handle_t *)&p->tcp, on_probe_closed);
        uv_close((uv_handle_t *)&p->timer, on_probe_closed);
    }
}

void px_probe_cancel(struct px_probe *p)
{
    p->cb = NULL;
    finish(p, PX_ESHUTDOWN, 0);
}

static void on_probe_timeout(uv_timer_t *t)
{
    struct px_probe *p = t->data;
    /* A bulk transfer cut by the timeout still measured what it read. */
    finish(p, p->bulk_cb && p->body_bytes > 0 ? 0 : PX_ETIMEOUT, p->status);
}

static void on_probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct px_probe *p = h->data;
    (void)hint;
    if (p->tls)
        *buf = uv_buf_init((char *)p->cin, PROBE_TLS_IN_BYTES);
    else if (p->bulk_cb)
        *buf = uv_buf_init(p->bulk_buf, PROBE_BULK_READ_BYTES);
    else
        *buf = uv_buf_init(p->resp + p->resp_len, (unsigned)(sizeof(p->resp) - 1 - p->resp_len));
}

/* Parses "HTTP/1.x NNN" from what was read; 0 = need more. */
static int status_of(const char *s, size_t n)
{
    if (n < 12)
        return 0;
    if (memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ' || s[9] < '1' || s[9] > '5' || s[10] < '0' ||
        s[10] > '9' || s[11] < '0' || s[11] > '9')
        return -1;
    return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

/* Judges the response bytes read so far (resp_len grew); may finish. */
static void check_status(struct px_probe *p)
{
    int status = status_of(p->resp, p->resp_len);
    if (status == 0 && p->resp_len < sizeof(p->resp) - 1)
        return;
    if (status <= 0)
        finish(p, PX_EPARSE, 0);
    else if ((uint32_t)status < p->cfg->expect_lo || (uint32_t)status > p->cfg->expect_hi)
        finish(p, PX_EPARSE, status);
    else
        finish(p, 0, status);
}

/* The end of a bulk probe's head: its status must be 2xx (206 for the range). */
static void bulk_head_done(struct px_probe *p)
{
    int status = status_of(p->resp, p->resp_len);

    p->head_done = true;
    p->body_start_ns = p->body_end_ns = uv_hrtime();
    p->status = status > 0 ? status : 0;
    if (status < 200 || status > 299)
        finish(p, PX_EPARSE, p->status);
}

/*
 * Plaintext of a bulk probe's response: the head is scanned for its end
 * (its first bytes kept for the status line), then body bytes are counted
 * until bulk_want; they are not looked at.
 */
static void bulk_input(struct px_probe *p, const char *data, size_t n)
{
    static const char end[] = "\r\n\r\n";
    size_t i = 0;

    for (; i < n && !p->head_done; i++) {
        char c = data[i];
        if (p->resp_len < sizeof(p->resp) - 1)
            p->resp[p->resp_len++] = c;
        p->head_match = c == end[p->head_match] ? p->head_match + 1 : c == '\r';
        if (p->head_match == 4)
            bulk_head_done(p);
    }
    if (p->cb == NULL || !p->head_done || i == n)
        return;
    p->body_bytes += n - i;
    p->body_end_ns = uv_hrtime();
    if (p->body_bytes >= p->bulk_want)
        finish(p, 0, p->status);
}

/* The bulk response ended (EOF or close_notify): complete when its head was in. */
static void bulk_eof(struct px_probe *p)
{
    finish(p, p->head_done ? 0 : PX_EPARSE, p->status);
}

/* One flight of ciphertext on its way, with the bytes it owns. */
struct tls_write {
    uv_write_t req;
    uint8_t *base; /* owned: from px_tls_take_output */
};

static void on_tls_written(uv_write_t *req, int status)
{
    struct tls_write *w = px_container_of(req, struct tls_write, req);
    struct px_probe *p = req->data;
    free(w->base);
    free(w);
    if (status < 0 && status != UV_ECANCELED && p->cb)
        finish(p, status, 0);
}

/* Sends what the engine has to send: a write of its own each (a probe's
 * few flights), freed with its request. 0, or an error. */
static int tls_flush(struct px_probe *p)
{
    struct px_tls_out out;
    struct tls_write *w;

    if (px_tls_pending_output(p->tls) == 0)
        return 0;
    if ((w = malloc(sizeof(*w))) == NULL)
        return PX_ENOMEM;
    px_tls_take_output(p->tls, &out);
    w->base = out.base;
    w->req.data = p;
    uv_buf_t b = uv_buf_init((char *)out.base, (unsigned)out.len);
    int rc = uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, on_tls_written);
    if (rc != 0) {
        free(w->base);
        free(w);
    }
    return rc;
}

/* A failed handshake: a certificate that failed verification says so. */
static int tls_failure(const struct px_probe *p, int rc)
{
    return rc == PX_ETLS && px_tls_verify_error(p->tls) != NULL ? PX_ETLSVERIFY : rc;
}

/* Ciphertext came: handshake, then the request once, then the status line. */
static void on_tls_input(struct px_probe *p, size_t n)
{
    int rc;

    px_tls_feed(p->tls, p->cin, n);
    if (!px_tls_handshake_done(p->tls)) {
        rc = px_tls_handshake(p->tls);
        if (rc < 0 || (rc = tls_flush(p)) < 0) {
            finish(p, tls_failure(p, rc), 0);
            return;
        }
        if (!px_tls_handshake_done(p->tls))
            return;
    }
    if (!p->sent) {
        p->sent = true;
        p->start_ns = uv_hrtime();
        if ((rc = px_tls_write(p->tls, p->req, p->req_len)) != 0 || (rc = tls_flush(p)) != 0) {
            finish(p, rc, 0);
            return;
        }
    }
    while (p->cb && p->bulk_cb &&
           (rc = px_tls_read(p->tls, p->bulk_buf, PROBE_BULK_READ_BYTES)) != 0) {
        if (rc < 0) {
            if (rc == PX_ETLSCLOSED)
                bulk_eof(p);
            else
                finish(p, rc, 0);
            return;
        }
        bulk_input(p, p->bulk_buf, (size_t)rc);
    }
    while (p->cb && !p->bulk_cb &&
           (rc = px_tls_read(p->tls, p->resp + p->resp_len, sizeof(p->resp) - 1 - p->resp_len)) !=
               0) {
        if (rc < 0) {
            finish(p, rc == PX_ETLSCLOSED ? PX_EPARSE : rc, 0);
            return;
        }
        p->resp_len += (size_t)rc;
        check_status(p);
    }
    if (p->cb && tls_flush(p) != 0)
        finish(p, PX_ENOMEM, 0);
}

static void on_probe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_probe *p = s->data;
    if (p->cb == NULL)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && p->bulk_cb && !p->tls)
            bulk_eof(p);
        else
            finish(p, nread == UV_EOF ? PX_EPARSE : (int)nread, 0);
        return;
    }
    if (nread == 0)
        return;
    if (p->tls) {
        on_tls_input(p, (size_t)nread);
        return;
    }
    if (p->bulk_cb) {
        bulk_input(p, buf->base, (size_t)nread);
        return;
    }
    p->resp_len += (size_t)nread;
    check_status(p);
}

static void on_probe_written(uv_write_t *req, int status)
{
    struct px_probe *p = req->data;
    if (status < 0 && p->cb)
        finish(p, status, 0);
}

static void on_probe_connect(uv_connect_t *req, int status)
{
    struct px_probe *p = req->data;
    uv_buf_t buf;
    if (p->cb == NULL)
        return;
    if (status < 0) {
        finish(p, status, 0);
        return;
    }
    if (!p->http) {
        finish(p, 0, 0);
        return;
    }
    if (p->tls) {
        /* The ClientHello; the request follows the handshake (on_tls_input). */
        if ((status = px_tls_handshake(p->tls)) < 0 || (status = tls_flush(p)) != 0 ||
            (status = uv_read_start((uv_stream_t *)&p->tcp, on_probe_alloc, on_probe_read)) != 0)
            finish(p, status, 0);
        return;
    }
    p->start_ns = uv_hrtime();
    buf = uv_buf_init(p->req, (unsigned)p->req_len);
    if ((status = uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &buf, 1, on_probe_written)) != 0 ||
        (status = uv_read_start((uv_stream_t *)&p->tcp, on_probe_alloc, on_probe_read)) != 0)
        finish(p, status, 0);
}

/*
 * Sets up a probe sending the request in P->req (already written) and
 * starts its connect; see px_probe_start. Frees P and returns NULL on error.
 */
static struct px_probe *launch(struct px_probe *p, uv_loop_t *loop, const struct sockaddr *sa,
                               struct px_tls_client *tls, const char *tls_host, int *err)
{
    if (tls != NULL && p->http &&
        ((p->cin = malloc(PROBE_TLS_IN_BYTES)) == NULL ||
         (p->tls = px_tls_new(px_tls_client_ssl(tls), PX_TLS_CLIENT)) == NULL ||
         (*err = px_tls_client_prepare(tls, px_tls_ssl(p->tls), tls_host)) != 0)) {
        px_tls_free(p->tls);
        free(p->cin);
        free(p->bulk_buf);
        free(p);
        *err = PX_ENOMEM; /* px_tls_client_prepare fails only for want of memory too */
        return NULL;
    }
    if (p->tls)
        p->tls_ctx = px_tls_client_ref(tls);
    uv_tcp_init(loop, &p->tcp);
    uv_timer_init(loop, &p->timer);
    p->tcp.data = p->timer.data = p->creq.data = p->wreq.data = p;
    p->start_ns = uv_hrtime();
    *err = uv_tcp_connect(&p->creq, &p->tcp, sa, on_probe_connect);
    if (*err != 0) {
        p->cb = NULL;
        finish(p, *err, 0);
        return NULL;
    }
    uv_tcp_nodelay(&p->tcp, 1);
    uv_timer_start(&p->timer, on_probe_timeout, p->cfg->timeout_ms, 0);
    return p;
}

/* Writes P's request for PATH with the extra header lines EXTRA; false when too long. */
static bool write_request(struct px_probe *p, const char *path, const char *host, const char *extra)
{
    int n = snprintf(p->req, sizeof(p->req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: georoute-probe/" PX_VERSION
                     "\r\n%sConnection: close\r\n\r\n",
                     path, p->cfg->host ? p->cfg->host : host, extra);
    if (n < 0 || (size_t)n >= sizeof(p->req))
        return false;
    p->req_len = (size_t)n;
    return true;
}

struct px_probe *px_probe_start(uv_loop_t *loop, const struct conf_probe *cfg,
                                const struct sockaddr *sa, const char *host,
                                struct px_tls_client *tls, const char *tls_host, px_probe_cb cb,
                                void *data, int *err)
{
    struct px_probe *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        *err = PX_ENOMEM;
        return NULL;
    }
    p->cfg = cfg;
    p->http = cfg->type != CONF_PROBE_TCP;
    if (!write_request(p, cfg->path ? cfg->path : "/", host, "")) {
        free(p);
        *err = PX_EPARSE;
        return NULL;
    }
    p->cb = cb;
    p->data = data;
    return launch(p, loop, sa, tls, tls_host, err);
}

/* Marks a bulk probe live; never called (finish calls bulk_cb instead). */
static void bulk_live(void *data, int err, double rtt_ms, int status)
{
    (void)data, (void)err, (void)rtt_ms, (void)status;
}

struct px_probe *px_probe_start_bulk(uv_loop_t *loop, const struct conf_probe *cfg,
                                     const struct sockaddr *sa, const char *host,
                                     struct px_tls_client *tls, const char *tls_host,
                                     px_probe_bulk_cb cb, void *data, int *err)
{
    struct px_probe *p = calloc(1, sizeof(*p));
    char range[64];

    if (p == NULL || (p->bulk_buf = malloc(PROBE_BULK_READ_BYTES)) == NULL) {
        free(p);
        *err = PX_ENOMEM;
        return NULL;
    }
    p->cfg = cfg;
    p->http = true;
    p->bulk_want = cfg->bulk.bytes;
    snprintf(range, sizeof(range), "Range: bytes=0-%llu\r\n",
             (unsigned long long)(cfg->bulk.bytes - 1));
    if (cfg->bulk.path == NULL || cfg->bulk.bytes == 0 ||
        !write_request(p, cfg->bulk.path, host, range)) {
        free(p->bulk_buf);
        free(p);
        *err = PX_EPARSE;
        return NULL;
    }
    p->cb = bulk_live;
    p->bulk_cb = cb;
    p->data = data;
    return launch(p, loop, sa, tls, tls_host, err);
}
