/*
 * tunnel: the opaque two-way relay behind an upgraded connection. It swaps
 * the client stream's and the upstream's callbacks for its own (nginx's
 * ngx_http_upstream_upgrade), so the exchange never sees a tunnelled byte;
 * it reuses both connections' read buffers and only decides which side
 * reads while the other side's write is pending.
 */
#include "proxy/data/tunnel.h"
#include "proxy/data/client.h"
#include "proxy/data/exchange.h"
#include "proxy/base/px.h"
#include "proxy/data/upstream.h"
#include "proxy/data/worker.h"

static void arm_idle(struct px_exchange *x)
{
    const struct conf *cf = x->conf;
    px__client_timer(x->c, cf->timeouts.tunnel_idle_ms, PX_PHASE_TUNNEL_IDLE);
    px_upstream_timer_stop(x->up);
}

/* Upstream → client: everything buffered from the upstream. */
static void relay_to_client(struct px_exchange *x)
{
    struct px_stream *in = &x->up->s;
    uv_buf_t bufs[2];
    unsigned n = 0;

    if (px_stream_writing(&x->c->s))
        return;
    if (x->resp_head_len) {
        bufs[n++] = uv_buf_init(x->out + x->resp_head_off, x->resp_head_len);
        x->resp_head_len = 0;
    }
    if (px_stream_has_input(in)) {
        bufs[n++] = uv_buf_init(in->in->data + in->in_off, in->in_len - in->in_off);
        in->in_off = in->in_len;
    }
    if (n > 0) {
        int rc = px__exchange_client_write(x, bufs, n);
        if (rc < 0) {
            px_client_close(x->c, "tunnel client write failed");
            return;
        }
        if (rc == 0) {
            px_stream_read(in, false);
            return;
        }
    }
    px_stream_read(in, true);
}

/* Client → upstream: everything buffered from the client. */
static void relay_to_upstream(struct px_exchange *x)
{
    struct px_stream *in = &x->c->s;

    if (px_stream_writing(&x->up->s))
        return;
    if (px_stream_has_input(in)) {
        uv_buf_t buf = uv_buf_init(in->in->data + in->in_off, in->in_len - in->in_off);
        x->bytes_in += buf.len;
        in->in_off = in->in_len;
        int rc = px_stream_write(&x->up->s, &buf, 1);
        if (rc < 0) {
            px_client_close(x->c, "tunnel upstream write failed");
            return;
        }
        if (rc == 0) {
            px_stream_read(in, false);
            return;
        }
    }
    px_stream_read(in, true);
}

static void on_tunnel_client_read(struct px_stream *s, int err)
{
    struct px_client *c = s->tcp.data;
    if (err < 0) {
        px_client_close(c, err == UV_EOF ? "client closed" : px_strerror(err));
        return;
    }
    arm_idle(c->x);
    relay_to_upstream(c->x);
}

static void on_tunnel_client_written(struct px_stream *s, int status)
{
    struct px_client *c = s->tcp.data;
    if (status < 0) {
        px_client_close(c, "tunnel client write failed");
        return;
    }
    relay_to_client(c->x);
}

static void on_tunnel_upstream_read(struct px_upstream *u, int err)
{
    struct px_exchange *x = u->data;
    if (err < 0) {
        px_client_close(x->c, "tunnel closed by upstream");
        return;
    }
    arm_idle(x);
    relay_to_client(x);
}

static void on_tunnel_upstream_written(struct px_upstream *u, int status)
{
    struct px_exchange *x = u->data;
    if (status < 0) {
        px_client_close(x->c, "tunnel closed by upstream");
        return;
    }
    relay_to_upstream(x);
}

static void on_tunnel_upstream_timeout(struct px_upstream *u)
{
    struct px_exchange *x = u->data;
    px_client_close(x->c, "tunnel idle");
}

static const struct px_stream_ops tunnel_client_ops = {
    .on_read = on_tunnel_client_read,
    .on_written = on_tunnel_client_written,
};

static const struct px_upstream_ops tunnel_upstream_ops = {
    .on_connect = NULL, /* connected before any 101 */
    .on_read = on_tunnel_upstream_read,
    .on_written = on_tunnel_upstream_written,
    .on_timeout = on_tunnel_upstream_timeout,
};

void px_tunnel_start(struct px_exchange *x)
{
    x->c->state = PX_CLIENT_TUNNEL;
    x->c->s.ops = &tunnel_client_ops;
    px_upstream_attach(x->up, &tunnel_upstream_ops, x);
    x->resp_started = true;
    x->status = 101;
    x->keep_alive = false;
    arm_idle(x);
    relay_to_client(x);
    if (x->c->state == PX_CLIENT_TUNNEL)
        relay_to_upstream(x);
}
