/*
 * client: a downstream connection from accept to close. It reads request
 * heads itself and hands everything after a head to the exchange; between
 * requests it holds no buffer and no exchange, so an idle keep-alive
 * connection costs only this struct.
 */
#include "proxy/data/client.h"
#include "proxy/data/exchange.h"
#include "proxy/data/h2conn.h"
#include "proxy/base/log.h"
#include "proxy/proto/proxyproto.h"
#include "proxy/base/px.h"
#include "proxy/data/tls_stream.h"
#include "proxy/data/worker.h"

#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

const char *const px_client_phase_names[] = {
    [PX_PHASE_HEADER] = "header",
    [PX_PHASE_KEEPALIVE] = "keepalive",
    [PX_PHASE_BODY] = "body",
    [PX_PHASE_SEND] = "send",
    [PX_PHASE_TUNNEL_IDLE] = "tunnel_idle",
    [PX_PHASE_TLS] = "tls_handshake",
    [PX_PHASE_H2_IDLE] = "h2_idle",
    [PX_PHASE_H2_LINGER] = "h2_linger",
};

void px__client_release(struct px_client *c)
{
    if (--c->pending_closes > 0)
        return;
    px_exchange_free(c->x);
    c->x = NULL;
    if (c->conn) {
        px_stream_dispose(&c->s);
        px__h2_stream_closed(c); /* the stream owns C */
        return;
    }
    px__h2conn_free(c);
    px_tls_ctx_unref(c->tls_ctx);
    c->tls_ctx = NULL;
    px_stream_dispose(&c->s);
    px_list_remove(&c->node);
    atomic_fetch_sub(&c->w->proc->nclients, 1);
    px__worker_client_gone(c->w);
    free(c);
}

static void on_client_closed(uv_handle_t *h)
{
    px__client_release(h->data);
}

/* C's handshake ended with RESULT: it no longer counts against
 * limits.max_tls_handshakes, and /metrics counts it. */
static void handshake_over(struct px_client *c, enum px_stats_tls_result result)
{
    struct px_tls_info info = {.version = ""};

    if (!c->handshaking)
        return;
    c->handshaking = false;
    c->w->tls_handshakes--;
    px_tls_stream_info(&c->s, &info);
    px_stats_tls(&c->w->port.stats, result, info.version, info.resumed,
                 (uint64_t)px_tls_stream_handshake_ms(&c->s) * 1000);
}

void px_client_close(struct px_client *c, const char *reason)
{
    if (c->state == PX_CLIENT_CLOSING)
        return;
    px_log(PX_LOG_DEBUG, &c->peer.sa, "event=close reason=\"%s\"", reason ? reason : "-");
    c->state = PX_CLIENT_CLOSING;
    handshake_over(c, PX_STATS_TLS_ABORTED);
    if (c->x)
        px__exchange_client_gone(c->x);
    c->pending_closes = 1;
    if (c->h2)
        c->pending_closes += px__h2conn_close(c);
    if (px_timer_close(&c->timer, on_client_closed))
        c->pending_closes++;
    px_stream_close(&c->s, on_client_closed);
}

void px_client_peer_ip(const struct px_client *c, char *buf, size_t cap)
{
    px_sockaddr_ip(&c->peer.sa, buf, cap);
}

static void on_client_timer(uv_timer_t *t)
{
    struct px_client *c = t->data;

    if (c->state == PX_CLIENT_BUSY || c->state == PX_CLIENT_TUNNEL) {
        px__exchange_client_timeout(c->x, (enum px_client_phase)c->phase);
        return;
    }
    if (c->state == PX_CLIENT_H2) {
        px__h2conn_timeout(c);
        return;
    }
    if (c->state == PX_CLIENT_HEAD && c->x && px_http_started(&c->x->req)) {
        px_exchange_reject(c->x, PX_ETIMEOUT);
        return;
    }
    if (c->phase == PX_PHASE_TLS)
        handshake_over(c, PX_STATS_TLS_TIMEOUT);
    px_client_close(c, px_client_phase_names[c->phase]);
}

void px__client_timer(struct px_client *c, uint64_t ms, enum px_client_phase phase)
{
    c->phase = (uint8_t)phase;
    px_timer_set(&c->timer, ms);
}

void px__client_timer_stop(struct px_client *c)
{
    px_timer_clear(&c->timer);
}

static void on_client_read(struct px_stream *s, int err)
{
    struct px_client *c = s->tcp.data;

    if (err == UV_EOF && c->state == PX_CLIENT_BUSY && c->x && c->x->req_done) {
        /* A client that half-closes after its request still gets the
         * response; the connection ends with it. */
        c->close_after = true;
        return;
    }
    if (err < 0) {
        px_client_close(c, err == UV_EOF ? "client closed" : px_strerror(err));
        return;
    }
    px__client_process(c);
    if (c->state == PX_CLIENT_HEAD)
        px_stream_shrink(&c->s); /* idle connections hold no buffer */
}

static void on_client_written(struct px_stream *s, int status)
{
    struct px_client *c = s->tcp.data;
    px__exchange_client_written(c->x, status);
}

static const struct px_stream_ops client_stream_ops = {
    .on_read = on_client_read,
    .on_written = on_client_written,
};

static bool in_list(const struct conf_cidr_list *l, const struct sockaddr *sa)
{
    return l->ncidrs > 0 && conf_cidr_list_match(l, sa);
}

/*
 * On an h2c listener, a connection whose first bytes are the HTTP/2 preface
 * becomes an HTTP/2 connection. Returns true when C's bytes are taken (or
 * when a prefix of the preface waits for the rest).
 */
static bool take_h2c(struct px_client *c)
{
    /* An HTTP/2 stream's client may have no buffer: its head came as fields. */
    if (!c->h2c || c->nrequests > 0 || c->s.in == NULL)
        return false;
    size_t n = c->s.in_len - c->s.in_off;
    const char *p = c->s.in->data + c->s.in_off;

    if (memcmp(p, PX_H2_PREFACE, n < PX_H2_PREFACE_LEN ? n : PX_H2_PREFACE_LEN) != 0)
        return false;
    if (n >= PX_H2_PREFACE_LEN)
        px__h2conn_start(c);
    return true;
}

struct px_exchange *px__client_begin_exchange(struct px_client *c)
{
    PX_ASSERT(c->x == NULL);
    if ((c->x = px_exchange_new(c)) == NULL)
        return NULL;
    c->nrequests++;
    if (c->nrequests > 1)
        px__client_timer(c, c->w->conf->timeouts.client_header_ms, PX_PHASE_HEADER);
    return c->x;
}

/* Parses request-head bytes; on a complete head, starts the exchange. */
static void read_head(struct px_client *c)
{
    size_t consumed;
    int rc;

    if (take_h2c(c))
        return;
    if (c->x == NULL && px__client_begin_exchange(c) == NULL) {
        px_client_close(c, "out of memory");
        return;
    }
    /* An HTTP/2 stream may have loaded the head into the exchange: no bytes. */
    int ev = px_http_feed(&c->x->req, c->s.in ? c->s.in->data + c->s.in_off : "",
                          c->s.in ? c->s.in_len - c->s.in_off : 0, &consumed);
    c->s.in_off += (uint32_t)consumed;
    c->x->bytes_in += consumed;
    if (ev < 0) {
        px_exchange_reject(c->x, ev);
        return;
    }
    if (ev != PX_HTTP_HEAD)
        return;
    /* Reading stays on while the exchange runs: starting and stopping it per
     * request costs epoll_ctl calls. Bytes that come early (a body before
     * the upstream is ready, a pipelined request) wait in the buffer, and a
     * full buffer stops reading (on_client_read). */
    c->state = PX_CLIENT_BUSY;
    px__client_timer_stop(c);
    if ((rc = px_exchange_start(c->x)) != 0)
        px_exchange_reject(c->x, rc);
}

/* A fixed plain-text 400 for plain HTTP on a TLS port (nginx's wording). */
static void answer_plain_http(struct px_client *c)
{
    static const char msg[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 46\r\nConnection: close\r\n\r\n"
                              "The plain HTTP request was sent to HTTPS port\n";
    uv_buf_t buf = uv_buf_init((char *)msg, sizeof(msg) - 1);
    uv_try_write((uv_stream_t *)&c->s.tcp, &buf, 1);
}

static void on_client_handshake(struct px_stream *s, int status)
{
    struct px_client *c = s->tcp.data;
    struct px_tls_info info;

    handshake_over(c, status == 0              ? PX_STATS_TLS_OK
                      : status == PX_ETLSPLAIN ? PX_STATS_TLS_PLAIN
                      : status == PX_ETLS      ? PX_STATS_TLS_FAILED
                                               : PX_STATS_TLS_ABORTED);
    if (status == PX_ETLSPLAIN) {
        px_log(PX_LOG_INFO, &c->peer.sa, "event=tls_plain_http");
        answer_plain_http(c);
        px_client_close(c, "plain HTTP on a TLS port");
        return;
    }
    if (status != 0) {
        px_log(PX_LOG_INFO, &c->peer.sa, "event=tls_handshake_failed reason=\"%s\"",
               status == PX_ETLS ? px_tls_stream_error(s) : px_strerror(status));
        px_client_close(c, "TLS handshake failed");
        return;
    }
    px_tls_stream_info(s, &info);
    px_log(PX_LOG_DEBUG, &c->peer.sa, "event=tls_handshake version=%s cipher=%s resumed=%d ms=%u",
           info.version, info.cipher, info.resumed, px_tls_stream_handshake_ms(s));
    if (info.alpn_len == 2 && memcmp(info.alpn, "h2", 2) == 0) {
        px__h2conn_start(c);
        return;
    }
    px__client_timer(c, c->w->conf->timeouts.client_header_ms, PX_PHASE_HEADER);
}

/* Puts C's stream over TLS with the context taken at accept. */
static void start_tls(struct px_client *c)
{
    int rc = px_tls_stream_accept(&c->s, c->tls_ctx, on_client_handshake);

    px_tls_ctx_unref(c->tls_ctx);
    c->tls_ctx = NULL;
    if (rc != 0)
        px_client_close(c, px_strerror(rc));
}

/*
 * Reads the PROXY header a trusted load balancer sends first. What follows
 * it is HTTP; a header we cannot parse closes the connection, since guessing
 * would classify the client by the balancer's address.
 */
static void read_proxy_header(struct px_client *c)
{
    struct sockaddr_storage src;
    size_t used = 0;
    int rc =
        px_proxyproto_parse(c->s.in->data + c->s.in_off, c->s.in_len - c->s.in_off, &src, &used);

    if (rc == PX_PROXYPROTO_MORE && c->s.in_len < PX_SLAB_BYTES)
        return;
    if (rc != PX_PROXYPROTO_DONE) {
        px_log(PX_LOG_INFO, &c->peer.sa, "event=proxy_protocol_error");
        px_client_close(c, "malformed PROXY header");
        return;
    }
    c->s.in_off += (uint32_t)used;
    c->proxy_unknown = src.ss_family != AF_INET && src.ss_family != AF_INET6;
    if (src.ss_family == AF_INET)
        memcpy(&c->peer.in, &src, sizeof(c->peer.in));
    else if (src.ss_family == AF_INET6)
        memcpy(&c->peer.in6, &src, sizeof(c->peer.in6));
    c->state = PX_CLIENT_HEAD;
    if (c->tls_ctx) {
        start_tls(c); /* what follows the header is the ClientHello */
        return;
    }
    if (px_stream_has_input(&c->s))
        read_head(c);
}

void px__client_process(struct px_client *c)
{
    switch (c->state) {
    case PX_CLIENT_PROXYHDR:
        read_proxy_header(c);
        break;
    case PX_CLIENT_HEAD:
        read_head(c);
        break;
    case PX_CLIENT_BUSY:
        px__exchange_client_data(c->x);
        break;
    default:
        c->s.in_off = c->s.in_len; /* an error response is on its way; discard */
        break;
    }
}

void px__client_exchange_done(struct px_client *c, bool keep_alive)
{
    const struct conf *cf = c->w->conf;

    px_exchange_free(c->x);
    c->x = NULL;
    if (!keep_alive || c->close_after || c->w->draining) {
        px_client_close(c, "not keep-alive");
        return;
    }
    c->state = PX_CLIENT_HEAD;
    if (px_stream_has_input(&c->s)) {
        /* Pipelined: the next request is already here. */
        px__client_process(c);
        if (c->state == PX_CLIENT_HEAD) {
            px_stream_shrink(&c->s);
            px_stream_read(&c->s, true);
        }
        return;
    }
    px_stream_shrink(&c->s);
    px__client_timer(c, cf->timeouts.client_keepalive_ms, PX_PHASE_KEEPALIVE);
    px_stream_read(&c->s, true);
}

/* Sends a fixed 503 to a connection over the limit, best effort, and closes it. */
static void refuse(uv_tcp_t *tcp)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 25\r\nConnection: close\r\n\r\n"
                               "too many open connections";
    uv_buf_t buf = uv_buf_init((char *)busy, sizeof(busy) - 1);
    uv_try_write((uv_stream_t *)tcp, &buf, 1);
}

/*
 * Takes a handshake slot and the listener's current context for C. Over the
 * cap the connection is closed at once, as HAProxy does past maxsslconn:
 * stalled handshakes cannot hold new ones in the accept queue, and the
 * established connections keep being served. Returns 0, or -1 when C was
 * closed.
 */
static int accept_tls(struct px_worker *w, struct px_client *c, size_t listener)
{
    struct px_tls_ctx *ctx = px__worker_tls_ctx(w, listener);

    if (ctx == NULL || w->tls_handshakes >= w->conf->limits.max_tls_handshakes) {
        px_stats_add(&w->port.stats.tls.result[PX_STATS_TLS_REFUSED], 1);
        px_client_close(c, ctx ? "too many TLS handshakes" : "no TLS context");
        return -1;
    }
    c->tls = true;
    c->handshaking = true;
    w->tls_handshakes++;
    c->tls_ctx = px_tls_ctx_ref(ctx);
    if (c->state == PX_CLIENT_HEAD)
        start_tls(c);
    return c->state == PX_CLIENT_CLOSING ? -1 : 0;
}

int px_client_accept(struct px_worker *w, int fd, size_t listener)
{
    const struct conf *cf = w->conf;
    const struct conf_cidr_list *proxy_from =
        listener < cf->nlisten ? conf_proxy_from(cf, &cf->listeners[listener]) : NULL;
    bool tls = listener < cf->nlisten && cf->listeners[listener].tls.enabled;
    struct px_client *c = calloc(1, sizeof(*c));
    int len = sizeof(c->peer);

    if (c == NULL || px_stream_init(&c->s, &w->loop, &w->slabs, &client_stream_ops, c) != 0) {
        free(c);
        close(fd);
        return PX_ENOMEM;
    }
    c->w = w;
    px_timer_init(&w->loop, &c->timer, on_client_timer, c);
    px_list_insert_tail(&w->clients, &c->node);
    w->nclients++;
    atomic_fetch_add(&w->proc->nclients, 1);
    if (uv_tcp_open(&c->s.tcp, fd) != 0) { /* then the handle does not own FD */
        close(fd);
        px_client_close(c, "accept failed");
        return 0;
    }
    if (atomic_load(&w->proc->nclients) > cf->limits.max_client_connections ||
        atomic_load(&w->proc->nclients) > w->proc->client_cap) {
        refuse(&c->s.tcp);
        px_stats_add(&w->port.stats.rejected, 1);
        px_client_close(c, "connection limit");
        return 0;
    }
    uv_tcp_getpeername(&c->s.tcp, &c->peer.sa, &len);
    c->sock = c->peer;
    uv_tcp_nodelay(&c->s.tcp, 1);
    c->state = proxy_from && in_list(proxy_from, &c->peer.sa) ? PX_CLIENT_PROXYHDR : PX_CLIENT_HEAD;
    c->h2c = !tls && listener < cf->nlisten && cf->listeners[listener].h2c;
    if (tls && accept_tls(w, c, listener) != 0)
        return 0;
    px__client_timer(c, tls ? cf->timeouts.tls_handshake_ms : cf->timeouts.client_header_ms,
                     tls ? PX_PHASE_TLS : PX_PHASE_HEADER);
    px_stream_read(&c->s, true);
    return 0;
}

size_t px_client_tls_facts(const struct px_client *c, enum px_tls_fmt fmt, char *buf, size_t cap)
{
    struct px_tls_info info;
    char sni[2 * 255 + 8] = "-";
    int n;

    const struct px_stream *link = &px_client_link(c)->s;

    if (cap == 0 || !px_tls_stream_info(link, &info))
        return 0;
    /* The explain header shares a small buffer with the geo headers. */
    size_t sni_cap = fmt == PX_TLS_EXPLAIN ? 96 : sizeof(sni);
    if (info.sni)
        sni[px_log_escape(sni, sni_cap, info.sni, strlen(info.sni))] = '\0';
    if (fmt == PX_TLS_LOGFMT)
        n = snprintf(buf, cap, " tls=%s cipher=%s sni=\"%s\" resumed=%d tls_ms=%u", info.version,
                     info.cipher, sni, info.resumed, px_tls_stream_handshake_ms(link));
    else
        n = snprintf(buf, cap, "; tls=%s %s sni=%s%s", info.version, info.cipher, sni,
                     info.resumed ? " resumed" : "");
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

void px__client_init_stream(struct px_client *c, struct px_client *conn,
                            const struct px_transport *tp, void *tp_data)
{
    struct px_worker *w = conn->w;

    px_stream_init_memory(&c->s, &w->slabs, &client_stream_ops, c);
    c->s.tp = tp;
    c->s.tp_data = tp_data;
    c->w = w;
    c->conn = conn;
    px_timer_init(&w->loop, &c->timer, on_client_timer, c);
    px_list_init(&c->node);
    c->peer = conn->peer;
    c->sock = conn->sock;
    c->geo = conn->geo;
    c->proxy_unknown = conn->proxy_unknown;
    c->tls = conn->tls;
    c->state = PX_CLIENT_HEAD;
    c->close_after = true; /* one request per stream */
}
