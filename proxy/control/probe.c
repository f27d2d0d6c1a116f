/*
 * probe: a tiny HTTP/1.1 client. It reads only as far as the status line
 * and closes; the response body and headers are none of its business.
 */
#include "proxy/control/probe.h"
#include "proxy/base/px.h"

#include <stdio.h>
#include <string.h>

#define PROBE_REQ_BYTES 1024
#define PROBE_RESP_BYTES 128

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
    size_t req_len, resp_len;
    char req[PROBE_REQ_BYTES];
    char resp[PROBE_RESP_BYTES];
};

static void on_probe_closed(uv_handle_t *h)
{
    struct px_probe *p = h->data;
    if (--p->pending_closes == 0)
        free(p);
}

/* Reports once and tears down; idempotent. */
static void finish(struct px_probe *p, int err, int status)
{
    double rtt_ms = (double)(uv_hrtime() - p->start_ns) / 1e6;
    px_probe_cb cb = p->cb;
    p->cb = NULL;
    if (cb)
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
    finish(t->data, PX_ETIMEOUT, 0);
}

static void on_probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct px_probe *p = h->data;
    (void)hint;
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

static void on_probe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_probe *p = s->data;
    int status;
    (void)buf;
    if (nread < 0) {
        finish(p, nread == UV_EOF ? PX_EPARSE : (int)nread, 0);
        return;
    }
    if (nread == 0)
        return;
    p->resp_len += (size_t)nread;
    status = status_of(p->resp, p->resp_len);
    if (status == 0 && p->resp_len < sizeof(p->resp) - 1)
        return;
    if (status <= 0)
        finish(p, PX_EPARSE, 0);
    else if ((uint32_t)status < p->cfg->expect_lo || (uint32_t)status > p->cfg->expect_hi)
        finish(p, PX_EPARSE, status);
    else
        finish(p, 0, status);
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
    if (p->cfg->type == CONF_PROBE_TCP) {
        finish(p, 0, 0);
        return;
    }
    p->start_ns = uv_hrtime();
    buf = uv_buf_init(p->req, (unsigned)p->req_len);
    if ((status = uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &buf, 1, on_probe_written)) != 0 ||
        (status = uv_read_start((uv_stream_t *)&p->tcp, on_probe_alloc, on_probe_read)) != 0)
        finish(p, status, 0);
}

struct px_probe *px_probe_start(uv_loop_t *loop, const struct conf_probe *cfg,
                                const struct sockaddr *sa, const char *host, px_probe_cb cb,
                                void *data, int *err)
{
    struct px_probe *p = calloc(1, sizeof(*p));
    int n;

    if (p == NULL) {
        *err = PX_ENOMEM;
        return NULL;
    }
    n = snprintf(p->req, sizeof(p->req),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: georoute-probe/" PX_VERSION
                 "\r\nConnection: close\r\n\r\n",
                 cfg->path ? cfg->path : "/", cfg->host ? cfg->host : host);
    if (n < 0 || (size_t)n >= sizeof(p->req)) {
        free(p);
        *err = PX_EPARSE;
        return NULL;
    }
    p->req_len = (size_t)n;
    p->cfg = cfg;
    p->cb = cb;
    p->data = data;
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
    uv_timer_start(&p->timer, on_probe_timeout, cfg->timeout_ms, 0);
    return p;
}
