/*
 * upstream: the lifecycle of one backend connection: connect, read and write
 * with a phase timer, and close through the handles' callbacks. What the
 * bytes mean is the attached exchange's business; while pooled, any byte or
 * EOF from the backend means the connection can no longer be reused.
 */
#include "proxy/data/upstream.h"
#include "proxy/data/exchange.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"
#include "proxy/data/worker.h"

#include <string.h>

static void on_upstream_closed(uv_handle_t *h)
{
    struct px_upstream *u = h->data;
    if (--u->pending_closes > 0)
        return;
    px_slab_put(&u->w->slabs, u->in);
    px_http_dispose(&u->resp);
    px_stats_add(&u->w->port.stats.upstream_closed, 1);
    px_backend_unref(u->b);
    free(u);
}

void px_upstream_close(struct px_upstream *u)
{
    if (u->state == PX_UP_CLOSING)
        return;
    if (u->state == PX_UP_IDLE) {
        px_list_remove(&u->node);
        u->b->nidle--;
    }
    u->state = PX_UP_CLOSING;
    u->x = NULL;
    u->pending_closes = 2;
    uv_close((uv_handle_t *)&u->tcp, on_upstream_closed);
    uv_close((uv_handle_t *)&u->timer.handle, on_upstream_closed);
}

static void on_upstream_timer(uv_timer_t *t)
{
    struct px_upstream *u = t->data;
    if (u->state == PX_UP_ACTIVE || u->state == PX_UP_CONNECTING) {
        if (u->x) {
            px__exchange_upstream_timeout(u->x);
            return;
        }
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

static void on_upstream_connect(uv_connect_t *req, int status)
{
    struct px_upstream *u = req->data;
    if (status == UV_ECANCELED || u->state == PX_UP_CLOSING)
        return;
    px_upstream_timer_stop(u);
    if (status == 0)
        u->state = PX_UP_ACTIVE;
    px__exchange_upstream_ready(u->x, status);
}

struct px_upstream *px_upstream_connect(struct px_worker *w, struct px_backend *b,
                                        struct px_exchange *x, int *err)
{
    const struct conf *cf = w->conf;
    struct px_upstream *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        *err = PX_ENOMEM;
        return NULL;
    }
    *err = px_http_init(&u->resp, PX_HTTP_RESPONSE, u, cf->limits.max_header_bytes,
                        cf->limits.max_headers);
    if (*err != 0) {
        free(u);
        return NULL;
    }
    u->w = w;
    u->b = b;
    px_backend_ref(b);
    px_stats_add(&w->port.stats.upstream_opened, 1);
    u->x = x;
    px_list_init(&u->node);
    uv_tcp_init(&w->loop, &u->tcp);
    px_timer_init(&w->loop, &u->timer, on_upstream_timer, u);
    u->tcp.data = u->connect_req.data = u->wreq.data = u;
    u->state = PX_UP_CONNECTING;
    uv_tcp_nodelay(&u->tcp, 1);
    *err = uv_tcp_connect(&u->connect_req, &u->tcp, (const struct sockaddr *)&b->desc->addr.sa,
                          on_upstream_connect);
    if (*err != 0) {
        u->x = NULL;
        px_upstream_close(u);
        return NULL;
    }
    px_upstream_timer(u, cf->timeouts.connect_ms);
    return u;
}

static void on_upstream_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct px_upstream *u = h->data;
    (void)hint;
    if (u->in == NULL && (u->in = px_slab_get(&u->w->slabs)) == NULL) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    if (u->in_off == u->in_len)
        u->in_off = u->in_len = 0;
    *buf = uv_buf_init(u->in->data + u->in_len, PX_SLAB_BYTES - u->in_len);
}

static void on_upstream_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_upstream *u = s->data;
    (void)buf;
    if (nread == 0 || u->state == PX_UP_CLOSING)
        goto release;
    if (u->state == PX_UP_IDLE) {
        /* A pooled connection the backend talks on or closes is done. */
        px_upstream_close(u);
        return;
    }
    if (nread == UV_ENOBUFS) {
        px__exchange_upstream_eof(u->x, PX_ENOMEM);
        return;
    }
    if (nread < 0) {
        px__exchange_upstream_eof(u->x, (int)nread);
        return;
    }
    u->in_len += (uint32_t)nread;
    px__exchange_upstream_data(u->x);
    return;
release:
    if (u->in && u->in_off == u->in_len) {
        px_slab_put(&u->w->slabs, u->in);
        u->in = NULL;
        u->in_off = u->in_len = 0;
    }
}

void px_upstream_read(struct px_upstream *u, bool on)
{
    if (on == u->reading || u->state == PX_UP_CLOSING)
        return;
    u->reading = on;
    if (on)
        uv_read_start((uv_stream_t *)&u->tcp, on_upstream_alloc, on_upstream_read);
    else
        uv_read_stop((uv_stream_t *)&u->tcp);
}

int px_stream_write(uv_stream_t *stream, uv_write_t *req, uv_buf_t *bufs, unsigned nbufs,
                    uv_write_cb cb)
{
    int n = uv_try_write(stream, bufs, nbufs);
    if (n == UV_EAGAIN)
        n = 0;
    else if (n < 0)
        return n;
    size_t left = (size_t)n;
    unsigned i = 0;
    while (i < nbufs && left >= bufs[i].len)
        left -= bufs[i++].len;
    if (i == nbufs)
        return 1;
    bufs[i].base += left;
    bufs[i].len -= left;
    int rc = uv_write(req, stream, bufs + i, nbufs - i, cb);
    return rc < 0 ? rc : 0;
}

static void on_upstream_written(uv_write_t *req, int status)
{
    struct px_upstream *u = req->data;
    u->writing = false;
    if (status == UV_ECANCELED || u->state == PX_UP_CLOSING || u->x == NULL)
        return;
    px__exchange_upstream_written(u->x, status);
}

int px_upstream_write(struct px_upstream *u, uv_buf_t *bufs, unsigned nbufs)
{
    PX_ASSERT(!u->writing);
    int rc = px_stream_write((uv_stream_t *)&u->tcp, &u->wreq, bufs, nbufs, on_upstream_written);
    if (rc == 0)
        u->writing = true;
    return rc;
}
