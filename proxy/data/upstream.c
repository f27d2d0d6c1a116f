/*
 * upstream: the lifecycle of one backend connection: connect, a phase
 * timer, and close through the handles' callbacks. What the bytes mean is
 * the attached user's business; while pooled, any byte or EOF from the
 * backend means the connection can no longer be reused.
 */
#include "proxy/data/upstream.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"
#include "proxy/data/sock_stream.h"
#include "proxy/data/tls_stream.h"
#include "proxy/data/worker.h"

#include <string.h>

static void on_upstream_closed(uv_handle_t *h)
{
    struct px_upstream *u = h->data;
    if (--u->pending_closes > 0)
        return;
    px_stream_dispose(&u->s);
    px_http_dispose(&u->resp);
    px_stats_add(&u->w->port.stats.upstream_closed, 1);
    px_backend_unref(u->b);
    free(u);
}

/* Counts U's TLS handshake in /metrics once, the way client handshakes are. */
static void handshake_over(struct px_upstream *u, enum px_stats_tls_result result)
{
    struct px_tls_info info = {.version = ""};

    if (!u->handshaking)
        return;
    u->handshaking = false;
    px_tls_stream_info(&u->s, &info);
    px_stats_tls_count(&u->w->port.stats.up_tls, result, info.version, info.resumed,
                       (uint64_t)px_tls_stream_handshake_ms(&u->s) * 1000);
}

/* The result a handshake that ended with STATUS (not 0) is counted under. */
static enum px_stats_tls_result handshake_failure(int status)
{
    if (status == PX_ETLSVERIFY)
        return PX_STATS_TLS_VERIFY;
    if (status == PX_ETLS || status == PX_ENOMEM)
        return PX_STATS_TLS_FAILED;
    return PX_STATS_TLS_ABORTED; /* the backend closed or reset the connection */
}

void px_upstream_close(struct px_upstream *u)
{
    if (u->state == PX_UP_CLOSING)
        return;
    handshake_over(u, PX_STATS_TLS_ABORTED); /* the user gave up on it first */
    if (u->state == PX_UP_IDLE) {
        px_list_remove(&u->node);
        u->b->nidle--;
    }
    u->state = PX_UP_CLOSING;
    px_upstream_detach(u);
    u->pending_closes = px_timer_close(&u->timer, on_upstream_closed) ? 2 : 1;
    px_stream_close(&u->s, on_upstream_closed);
}

static void on_upstream_timer(uv_timer_t *t)
{
    struct px_upstream *u = t->data;
    handshake_over(u, PX_STATS_TLS_TIMEOUT); /* timeouts.tls_handshake passed */
    if (u->state != PX_UP_IDLE && u->ops) {
        u->ops->on_timeout(u);
        return;
    }
    px_upstream_close(u); /* idle in the pool past upstream_keepalive */
}

void px_upstream_timer(struct px_upstream *u, uint64_t ms)
{
    px_timer_set(&u->timer, ms);
}

void px_upstream_timer_stop(struct px_upstream *u)
{
    px_timer_clear(&u->timer);
}

static void on_upstream_read(struct px_stream *s, int err)
{
    struct px_upstream *u = s->tcp.data;
    if (u->state == PX_UP_IDLE || u->ops == NULL) {
        /* A pooled connection the backend talks on or closes is done. */
        px_upstream_close(u);
        return;
    }
    u->ops->on_read(u, err);
}

static void on_upstream_written(struct px_stream *s, int status)
{
    struct px_upstream *u = s->tcp.data;
    if (u->ops)
        u->ops->on_written(u, status);
}

static const struct px_stream_ops upstream_stream_ops = {
    .on_read = on_upstream_read,
    .on_written = on_upstream_written,
};

/* The backend's TLS handshake ended: the connection is ready, or failed. */
static void on_upstream_handshake(struct px_stream *s, int status)
{
    struct px_upstream *u = s->tcp.data;

    px_upstream_timer_stop(u);
    handshake_over(u, status == 0 ? PX_STATS_TLS_OK : handshake_failure(status));
    if (status != 0) {
        /* A verification failure names itself ("certificate verify failed"). */
        px_log(PX_LOG_WARN, NULL, "event=upstream_tls_failed backend=%s region=%s reason=\"%s\"",
               u->b->desc->addr.text, u->b->desc->region,
               status == PX_ETLS || status == PX_ETLSVERIFY ? px_tls_stream_error(s)
                                                            : px_strerror(status));
    } else {
        u->state = PX_UP_ACTIVE;
    }
    u->ops->on_connect(u, status);
}

/* A plain backend's connect ended (a closing stream reports nothing). */
static void on_upstream_sock_connect(struct px_stream *s, int status)
{
    struct px_upstream *u = s->tcp.data;

    px_upstream_timer_stop(u);
    if (status == 0)
        u->state = PX_UP_ACTIVE;
    u->ops->on_connect(u, status);
}

/* A TLS backend's TCP connect ended: the handshake follows. */
static void on_upstream_connect(uv_connect_t *req, int status)
{
    struct px_upstream *u = req->data;
    if (status == UV_ECANCELED || u->state == PX_UP_CLOSING)
        return;
    px_upstream_timer_stop(u);
    if (status == 0 && u->b->tls.ctx != NULL) {
        /* Connected: the handshake decides, within timeouts.tls_handshake.
         * A backend given by address is verified by that address. */
        char ip[64];
        const char *host = u->b->tls.host;
        if (host == NULL) {
            px_sockaddr_ip((const struct sockaddr *)&u->b->desc->addr.sa, ip, sizeof(ip));
            host = ip;
        }
        u->handshaking = true;
        status = px_tls_stream_connect(&u->s, u->b->tls.ctx, host, on_upstream_handshake);
        if (status != 0)
            handshake_over(u, handshake_failure(status));
        if (status == 0) {
            u->tls = u->b->tls.ctx;
            px_upstream_timer(u, u->w->conf->timeouts.tls_handshake_ms);
            return;
        }
    }
    if (status == 0)
        u->state = PX_UP_ACTIVE;
    u->ops->on_connect(u, status);
}

/* Plain backends get the poll transport, which reads with recv(2); TLS
 * ones libuv's tcp handle, which their transport reads (tls_stream.c). */
static int connect_stream(struct px_upstream *u, const struct sockaddr *sa)
{
    if (u->b->tls.ctx == NULL)
        return px_sock_stream_connect(&u->s, sa, on_upstream_sock_connect);
    uv_tcp_nodelay(&u->s.tcp, 1);
    return uv_tcp_connect(&u->connect_req, &u->s.tcp, sa, on_upstream_connect);
}

struct px_upstream *px_upstream_connect(struct px_worker *w, struct px_backend *b,
                                        const struct px_upstream_ops *ops, void *data, int *err)
{
    const struct conf *cf = w->conf;
    struct px_upstream *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        *err = PX_ENOMEM;
        return NULL;
    }
    *err = px_http_init(&u->resp, PX_HTTP_RESPONSE, u, cf->limits.max_header_bytes,
                        cf->limits.max_headers);
    if (*err == 0 && (*err = px_stream_init(&u->s, &w->loop, &w->slabs, &upstream_stream_ops, u)))
        px_http_dispose(&u->resp);
    if (*err != 0) {
        free(u);
        return NULL;
    }
    u->w = w;
    u->b = b;
    px_backend_ref(b);
    px_stats_add(&w->port.stats.upstream_opened, 1);
    px_upstream_attach(u, ops, data);
    px_list_init(&u->node);
    px_timer_init(&w->loop, &u->timer, on_upstream_timer, u);
    u->connect_req.data = u;
    u->state = PX_UP_CONNECTING;
    *err = connect_stream(u, (const struct sockaddr *)&b->desc->addr.sa);
    if (*err != 0) {
        px_upstream_close(u);
        return NULL;
    }
    px_upstream_timer(u, cf->timeouts.connect_ms);
    return u;
}
