/*
 * tunnel: the opaque two-way relay behind an upgraded connection. It reuses
 * the exchange's write requests and both connections' read buffers; it only
 * decides which side reads while the other side's write is pending.
 */
#include "proxy/data/tunnel.h"
#include "proxy/data/client.h"
#include "proxy/data/exchange.h"
#include "proxy/data/upstream.h"
#include "proxy/data/worker.h"

static void on_tunnel_client_written(uv_write_t *req, int status);

static void arm_idle(struct px_exchange *x)
{
    const struct conf *cf = x->c->w->conf;
    px__client_timer(x->c, cf->timeouts.tunnel_idle_ms, "tunnel_idle");
    px_upstream_timer_stop(x->up);
}

/* Upstream → client: everything buffered from the upstream. */
static void relay_to_client(struct px_exchange *x)
{
    struct px_upstream *u = x->up;
    uv_buf_t bufs[2];
    unsigned n = 0;

    if (x->cwriting)
        return;
    if (x->resp_head_len) {
        bufs[n++] = uv_buf_init(x->out + x->resp_head_off, x->resp_head_len);
        x->resp_head_len = 0;
    }
    if (u->in && u->in_off < u->in_len) {
        bufs[n++] = uv_buf_init(u->in->data + u->in_off, u->in_len - u->in_off);
        u->in_off = u->in_len;
    }
    if (n > 0) {
        for (unsigned i = 0; i < n; i++)
            x->bytes_out += bufs[i].len;
        int rc =
            px_stream_write((uv_stream_t *)&x->c->tcp, &x->cw, bufs, n, on_tunnel_client_written);
        if (rc < 0) {
            px_client_close(x->c, "tunnel client write failed");
            return;
        }
        if (rc == 0) {
            x->cwriting = true;
            px_upstream_read(u, false);
            return;
        }
    }
    px_upstream_read(u, true);
}

/* Client → upstream: everything buffered from the client. */
static void relay_to_upstream(struct px_exchange *x)
{
    struct px_client *c = x->c;
    struct px_upstream *u = x->up;

    if (u->writing)
        return;
    if (c->in && c->in_off < c->in_len) {
        uv_buf_t buf = uv_buf_init(c->in->data + c->in_off, c->in_len - c->in_off);
        x->bytes_in += buf.len;
        c->in_off = c->in_len;
        int rc = px_upstream_write(u, &buf, 1);
        if (rc < 0) {
            px_client_close(c, "tunnel upstream write failed");
            return;
        }
        if (rc == 0) {
            px__client_read(c, false);
            return;
        }
    }
    px__client_read(c, true);
}

void px_tunnel_start(struct px_exchange *x)
{
    x->c->state = PX_CLIENT_TUNNEL;
    x->resp_started = true;
    x->status = 101;
    x->keep_alive = false;
    arm_idle(x);
    relay_to_client(x);
    if (x->c->state == PX_CLIENT_TUNNEL)
        relay_to_upstream(x);
}

void px__tunnel_client_data(struct px_exchange *x)
{
    arm_idle(x);
    relay_to_upstream(x);
}

void px__tunnel_upstream_data(struct px_exchange *x)
{
    arm_idle(x);
    relay_to_client(x);
}

static void on_tunnel_client_written(uv_write_t *req, int status)
{
    struct px_exchange *x = req->data;
    x->cwriting = false;
    if (status == UV_ECANCELED || x->c->state == PX_CLIENT_CLOSING)
        return;
    if (status < 0) {
        px_client_close(x->c, "tunnel client write failed");
        return;
    }
    px__tunnel_client_written(x);
}

void px__tunnel_client_written(struct px_exchange *x)
{
    relay_to_client(x);
}

void px__tunnel_upstream_written(struct px_exchange *x)
{
    relay_to_upstream(x);
}
