/*
 * client: a downstream connection from accept to close. It reads request
 * heads itself and hands everything after a head to the exchange; between
 * requests it holds no buffer and no exchange, so an idle keep-alive
 * connection costs only this struct.
 */
#include "proxy/data/client.h"
#include "proxy/data/exchange.h"
#include "proxy/base/log.h"
#include "proxy/proto/proxyproto.h"
#include "proxy/base/px.h"
#include "proxy/data/worker.h"

#include <arpa/inet.h>
#include <string.h>

const char *const px_client_phase_names[] = {
    [PX_PHASE_HEADER] = "header", [PX_PHASE_KEEPALIVE] = "keepalive",     [PX_PHASE_BODY] = "body",
    [PX_PHASE_SEND] = "send",     [PX_PHASE_TUNNEL_IDLE] = "tunnel_idle",
};

static void on_client_closed(uv_handle_t *h)
{
    struct px_client *c = h->data;
    if (--c->pending_closes > 0)
        return;
    px_exchange_free(c->x);
    c->x = NULL;
    px_stream_dispose(&c->s);
    px_list_remove(&c->node);
    atomic_fetch_sub(&c->w->proc->nclients, 1);
    px__worker_client_gone(c->w);
    free(c);
}

void px_client_close(struct px_client *c, const char *reason)
{
    if (c->state == PX_CLIENT_CLOSING)
        return;
    px_log(PX_LOG_DEBUG, &c->peer.sa, "event=close reason=\"%s\"", reason ? reason : "-");
    c->state = PX_CLIENT_CLOSING;
    if (c->x)
        px__exchange_client_gone(c->x);
    c->pending_closes = 2;
    px_stream_close(&c->s, on_client_closed);
    uv_close((uv_handle_t *)&c->timer.handle, on_client_closed);
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
    if (c->state == PX_CLIENT_HEAD && c->x && px_http_started(&c->x->req)) {
        px_exchange_reject(c->x, PX_ETIMEOUT);
        return;
    }
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

/* Parses request-head bytes; on a complete head, starts the exchange. */
static void read_head(struct px_client *c)
{
    const struct conf *cf = c->w->conf;
    size_t consumed;
    int rc;

    if (c->x == NULL) {
        if ((c->x = px_exchange_new(c)) == NULL) {
            px_client_close(c, "out of memory");
            return;
        }
        c->nrequests++;
        if (c->nrequests > 1)
            px__client_timer(c, cf->timeouts.client_header_ms, PX_PHASE_HEADER);
    }
    int ev =
        px_http_feed(&c->x->req, c->s.in->data + c->s.in_off, c->s.in_len - c->s.in_off, &consumed);
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

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

/* Accepts and drops a connection we have no memory for, or the listener
 * would spin on it. */
static void drop_pending(struct px_worker *w, uv_stream_t *server)
{
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t && uv_tcp_init(&w->loop, t) == 0) {
        if (uv_accept(server, (uv_stream_t *)t) != 0)
            px_log(PX_LOG_WARN, NULL, "event=accept_failed reason=out_of_memory");
        uv_close((uv_handle_t *)t, on_refused_closed);
    } else {
        free(t);
    }
}

void px_client_accept(struct px_worker *w, uv_stream_t *server,
                      const struct conf_cidr_list *proxy_from)
{
    const struct conf *cf = w->conf;
    struct px_client *c = calloc(1, sizeof(*c));
    int len = sizeof(c->peer);

    if (c == NULL || px_stream_init(&c->s, &w->loop, &w->slabs, &client_stream_ops, c) != 0) {
        free(c);
        drop_pending(w, server);
        return;
    }
    c->w = w;
    px_timer_init(&w->loop, &c->timer, on_client_timer, c);
    px_list_insert_tail(&w->clients, &c->node);
    w->nclients++;
    atomic_fetch_add(&w->proc->nclients, 1);
    if (uv_accept(server, (uv_stream_t *)&c->s.tcp) != 0) {
        px_client_close(c, "accept failed");
        return;
    }
    if (atomic_load(&w->proc->nclients) > cf->limits.max_client_connections ||
        atomic_load(&w->proc->nclients) > w->proc->client_cap) {
        refuse(&c->s.tcp);
        px_stats_add(&w->port.stats.rejected, 1);
        px_client_close(c, "connection limit");
        return;
    }
    uv_tcp_getpeername(&c->s.tcp, &c->peer.sa, &len);
    c->sock = c->peer;
    uv_tcp_nodelay(&c->s.tcp, 1);
    c->state = proxy_from && in_list(proxy_from, &c->peer.sa) ? PX_CLIENT_PROXYHDR : PX_CLIENT_HEAD;
    px__client_timer(c, cf->timeouts.client_header_ms, PX_PHASE_HEADER);
    px_stream_read(&c->s, true);
}
