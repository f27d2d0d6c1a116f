/*
 * tls_stream: the TLS transport. Ciphertext is read into a slab of its own,
 * fed to the engine, and decrypted straight into the stream's s->in, then
 * delivered as plain TCP delivers socket bytes. Its output (handshake
 * messages, records, tickets, alerts) goes out as one socket write at a
 * time; the owner's write is "queued" while ciphertext is in flight, which
 * is its backpressure. Closing sends close_notify best effort.
 */
#include "proxy/data/tls_stream.h"
#include "proxy/base/px.h"

#include <stdlib.h>
#include <string.h>

struct px_tls_stream {
    struct px_tls *tls;            /* owned */
    struct px_tls_ctx *ctx;        /* one reference (server), else NULL */
    struct px_tls_client *cli;     /* one reference (client), else NULL */
    px_tls_stream_cb on_handshake; /* borrowed */
    uv_close_cb close_cb;          /* the owner's, run once the socket is closed */
    struct px_slab *cin;           /* owned: ciphertext read; NULL when none is held */
    uint32_t cin_off, cin_len;     /* what the engine was fed: cin[cin_off, cin_len) */
    uv_idle_t idle;                /* delivers what the engine holds, off the caller's stack */
    uv_write_t wreq;               /* the ciphertext write in flight */
    struct px_tls_out wout;        /* owned: the bytes of that write */
    uint64_t start_ns;             /* accept or connect */
    uint32_t handshake_ms;         /* how long the handshake took */
    bool sock_reading;             /* the socket is being read */
    bool more;                     /* the engine or cin may hold plaintext not delivered */
    bool writing;                  /* wreq is in flight */
    bool owner_write;              /* the owner's px_stream_write waits for wreq */
    bool shaken;                   /* on_handshake was called */
};

static inline struct px_stream *stream_of(void *tcp)
{
    return px_container_of((uv_tcp_t *)tcp, struct px_stream, tcp);
}

static inline struct px_tls_stream *ts_of(const struct px_stream *s)
{
    return s->tp_data;
}

static void free_ts(struct px_stream *s, struct px_tls_stream *ts)
{
    px_tls_free(ts->tls);
    px_tls_ctx_unref(ts->ctx);
    px_tls_client_unref(ts->cli);
    px_slab_put(s->slabs, ts->cin);
    free(ts->wout.base);
    free(ts);
}

static void on_tls_written(uv_write_t *req, int status);

/* Sends what the engine has to send, unless a write is in flight (its
 * completion sends the rest). 0, or a libuv error / PX_ENOMEM. */
static int flush(struct px_stream *s)
{
    struct px_tls_stream *ts = ts_of(s);

    if (ts->writing || px_tls_pending_output(ts->tls) == 0)
        return 0;
    px_tls_take_output(ts->tls, &ts->wout);
    uv_buf_t b = uv_buf_init((char *)ts->wout.base, (unsigned)ts->wout.len);
    int n = px__stream_try_send(s, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n >= 0 && (size_t)n < ts->wout.len) {
        b.base += n;
        b.len -= (size_t)n;
        if ((n = uv_write(&ts->wreq, (uv_stream_t *)&s->tcp, &b, 1, on_tls_written)) == 0) {
            ts->writing = true;
            return 0;
        }
    }
    free(ts->wout.base);
    ts->wout.base = NULL;
    return n < 0 ? n : 0;
}

/* Reads the socket exactly when there is a reason to: a handshake in
 * progress, or an owner that reads and nothing undelivered. */
static void on_tls_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_tls_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

static void update_socket(struct px_stream *s)
{
    struct px_tls_stream *ts = ts_of(s);
    bool want = !s->closing && (!ts->shaken || (s->reading && !ts->more));

    if (want == ts->sock_reading)
        return;
    ts->sock_reading = want;
    if (want)
        uv_read_start((uv_stream_t *)&s->tcp, on_tls_alloc, on_tls_read);
    else
        uv_read_stop((uv_stream_t *)&s->tcp);
}

static void handshake_end(struct px_stream *s, int status)
{
    struct px_tls_stream *ts = ts_of(s);

    ts->shaken = true;
    ts->handshake_ms = (uint32_t)((uv_hrtime() - ts->start_ns) / 1000000);
    ts->on_handshake(s, status);
}

/*
 * Drives the handshake, then decrypts into s->in and delivers until the
 * engine needs input, the owner stops reading or the stream closes.
 */
static void drain(struct px_stream *s)
{
    struct px_tls_stream *ts = ts_of(s);
    int rc;

    if (!ts->shaken) {
        rc = px_tls_handshake(ts->tls);
        int frc = flush(s);
        if (rc == 0 && frc == 0)
            return;
        if (rc == PX_ETLS && px_tls_verify_error(ts->tls) != NULL)
            rc = PX_ETLSVERIFY;
        handshake_end(s, rc < 0 ? rc : frc);
        if (rc < 0 || frc < 0 || s->closing)
            return;
    }
    ts->more = true;
    while (!s->closing && s->reading) {
        uv_buf_t buf;
        px__stream_alloc(s, &buf);
        if (buf.len == 0) {
            /* Full: the owner reads again once it has made room (or, with
             * no buffer at all, hears PX_ENOMEM). */
            px__stream_deliver(s, s->in ? UV_ENOBUFS : PX_ENOMEM);
            return;
        }
        int n = px_tls_read(ts->tls, buf.base, buf.len);
        int frc = flush(s);
        if (n > 0 && frc == 0) {
            px__stream_deliver(s, n);
            continue;
        }
        if (n == 0 && frc == 0) {
            ts->more = false;
            px__stream_deliver(s, 0);
            return;
        }
        ts->more = false;
        n = frc < 0 ? frc : n == PX_ETLSCLOSED ? UV_EOF : n;
        if (n == UV_EOF && ts->sock_reading) {
            ts->sock_reading = false; /* the peer is done: the rest is ignored */
            uv_read_stop((uv_stream_t *)&s->tcp);
        }
        px__stream_deliver(s, n);
        return;
    }
}

/* Keeps only the ciphertext the engine has not read. */
static void trim_input(struct px_stream *s)
{
    struct px_tls_stream *ts = ts_of(s);
    size_t left = ts->tls ? px_tls_input_left(ts->tls) : 0;

    if (ts->cin == NULL)
        return;
    if (left == 0) {
        px_slab_put(s->slabs, ts->cin);
        ts->cin = NULL;
        ts->cin_off = ts->cin_len = 0;
        return;
    }
    ts->cin_off = ts->cin_len - (uint32_t)left;
}

static void drain_and_trim(struct px_stream *s)
{
    drain(s);
    if (!s->closing) {
        trim_input(s);
        update_socket(s);
    }
}

static void on_tls_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct px_stream *s = stream_of(h);
    struct px_tls_stream *ts = ts_of(s);

    (void)hint;
    if (ts->cin == NULL && (ts->cin = px_slab_get(s->slabs)) == NULL) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(ts->cin->data + ts->cin_len, PX_SLAB_BYTES - ts->cin_len);
}

static void on_tls_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct px_stream *s = stream_of(h);
    struct px_tls_stream *ts = ts_of(s);

    (void)buf;
    if (nread > 0) {
        ts->cin_len += (uint32_t)nread;
        px_tls_feed(ts->tls, ts->cin->data + ts->cin_off, ts->cin_len - ts->cin_off);
        drain_and_trim(s);
        return;
    }
    if (nread == 0) {
        trim_input(s);
        return;
    }
    if (nread == UV_EOF)
        ts->sock_reading = false; /* libuv stopped reading */
    else
        update_socket(s);
    if (!ts->shaken && nread != UV_EOF)
        handshake_end(s, nread == UV_ENOBUFS ? PX_ENOMEM : (int)nread);
    else if (!ts->shaken)
        handshake_end(s, UV_EOF);
    else
        px__stream_deliver(s, nread == UV_ENOBUFS ? PX_ENOMEM : nread);
}

static void on_tls_idle(uv_idle_t *idle)
{
    struct px_stream *s = idle->data;

    uv_idle_stop(idle);
    drain_and_trim(s);
}

static void on_tls_written(uv_write_t *req, int status)
{
    struct px_stream *s = stream_of(req->handle);
    struct px_tls_stream *ts = ts_of(s);

    free(ts->wout.base);
    ts->wout.base = NULL;
    ts->writing = false;
    if (status == UV_ECANCELED || s->closing)
        return;
    if (status == 0)
        status = flush(s);
    if (ts->writing)
        return;
    if (ts->owner_write) {
        ts->owner_write = false;
        s->wreq = NULL;
        s->ops->on_written(s, status);
    } else if (status < 0) {
        px__stream_deliver(s, status);
    }
}

/* ---------------------------------------------------------- transport */

static void tls_read_start(struct px_stream *s)
{
    struct px_tls_stream *ts = ts_of(s);

    /* What the engine already holds is not signalled by the socket again;
     * the idle handle delivers it on the next loop turn, never from here. */
    if (ts->more && ts->shaken)
        uv_idle_start(&ts->idle, on_tls_idle);
    else
        update_socket(s);
}

static void tls_read_stop(struct px_stream *s)
{
    struct px_tls_stream *ts = ts_of(s);

    uv_idle_stop(&ts->idle);
    update_socket(s);
}

static int tls_write(struct px_stream *s, uv_buf_t *bufs, unsigned nbufs)
{
    struct px_tls_stream *ts = ts_of(s);
    int rc;

    if (!ts->shaken || !px_tls_handshake_done(ts->tls))
        return UV_ENOTCONN;
    for (unsigned i = 0; i < nbufs; i++)
        if ((rc = px_tls_write(ts->tls, bufs[i].base, bufs[i].len)) != 0)
            return rc;
    if ((rc = flush(s)) != 0)
        return rc;
    if (!ts->writing)
        return 1;
    ts->owner_write = true;
    s->wreq = &ts->wreq; /* the stream is "writing" until this flushes */
    return 0;
}

static void on_tls_tcp_closed(uv_handle_t *h)
{
    struct px_stream *s = stream_of(h);
    struct px_tls_stream *ts = ts_of(s);
    uv_close_cb cb = ts->close_cb;

    free_ts(s, ts);
    s->tp_data = NULL;
    s->wreq = NULL;
    cb(h);
}

static void on_tls_idle_closed(uv_handle_t *h)
{
    struct px_stream *s = h->data;
    uv_close((uv_handle_t *)&s->tcp, on_tls_tcp_closed);
}

static void tls_close(struct px_stream *s, uv_close_cb cb)
{
    struct px_tls_stream *ts = ts_of(s);

    ts->close_cb = cb;
    uv_idle_stop(&ts->idle);
    /* close_notify, best effort: not behind a write in flight, and no wait
     * for the peer's (nginx and HAProxy do not wait either). */
    if (!ts->writing && px_tls_shutdown(ts->tls) == 0 && px_tls_pending_output(ts->tls) > 0) {
        struct px_tls_out out;
        px_tls_take_output(ts->tls, &out);
        uv_buf_t b = uv_buf_init((char *)out.base, (unsigned)out.len);
        uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
        free(out.base);
    }
    uv_close((uv_handle_t *)&ts->idle, on_tls_idle_closed);
}

const struct px_transport px_transport_tls = {
    .read_start = tls_read_start,
    .read_stop = tls_read_stop,
    .write = tls_write,
    .close = tls_close,
};

/* ---------------------------------------------------------- set up */

/* Makes TS the transport of S. */
static void attach(struct px_stream *s, struct px_tls_stream *ts)
{
    /* Cannot fail on a live loop (libuv only initializes the struct). */
    uv_idle_init(s->tcp.loop, &ts->idle);
    ts->idle.data = s;
    s->tp_data = ts;
    s->tp = &px_transport_tls;
}

static struct px_tls_stream *ts_new(struct px_stream *s, struct ssl_ctx_st *ssl,
                                    enum px_tls_role role, px_tls_stream_cb on_handshake)
{
    struct px_tls_stream *ts = calloc(1, sizeof(*ts));

    if (ts == NULL)
        return NULL;
    if ((ts->tls = px_tls_new(ssl, role)) == NULL) {
        free(ts);
        return NULL;
    }
    (void)s;
    ts->on_handshake = on_handshake;
    ts->start_ns = uv_hrtime();
    return ts;
}

int px_tls_stream_accept(struct px_stream *s, struct px_tls_ctx *ctx, px_tls_stream_cb on_handshake)
{
    struct px_tls_stream *ts = ts_new(s, px_tls_ctx_ssl(ctx), PX_TLS_SERVER, on_handshake);

    if (ts == NULL)
        return PX_ENOMEM;
    ts->ctx = px_tls_ctx_ref(ctx);
    if (px_stream_has_input(s)) {
        /* Bytes after a PROXY header: ciphertext, fed on the first read. */
        ts->cin = s->in;
        ts->cin_off = s->in_off;
        ts->cin_len = s->in_len;
        s->in = NULL;
        s->in_off = s->in_len = 0;
        px_tls_feed(ts->tls, ts->cin->data + ts->cin_off, ts->cin_len - ts->cin_off);
        ts->more = true;
    }
    px_stream_shrink(s);
    attach(s, ts);
    if (s->reading) {
        /* Already reading plain bytes: switch the socket over. */
        uv_read_stop((uv_stream_t *)&s->tcp);
        if (ts->more)
            uv_idle_start(&ts->idle, on_tls_idle);
        else
            update_socket(s);
    }
    return 0;
}

int px_tls_stream_connect(struct px_stream *s, struct px_tls_client *cli, const char *host,
                          px_tls_stream_cb on_handshake)
{
    struct px_tls_stream *ts = ts_new(s, px_tls_client_ssl(cli), PX_TLS_CLIENT, on_handshake);
    int rc;

    if (ts == NULL)
        return PX_ENOMEM;
    ts->cli = px_tls_client_ref(cli);
    if ((rc = px_tls_client_prepare(cli, px_tls_ssl(ts->tls), host)) != 0) {
        free_ts(s, ts);
        return rc;
    }
    attach(s, ts);
    s->reading = false;
    /* The ClientHello; the handshake goes on as the server answers. */
    if ((rc = px_tls_handshake(ts->tls)) < 0 || (rc = flush(s)) < 0)
        return rc;
    update_socket(s);
    return 0;
}

bool px_tls_stream_info(const struct px_stream *s, struct px_tls_info *info)
{
    if (!px_tls_stream_is(s) || ts_of(s) == NULL || !px_tls_handshake_done(ts_of(s)->tls))
        return false;
    px_tls_get_info(ts_of(s)->tls, info);
    return true;
}

uint32_t px_tls_stream_handshake_ms(const struct px_stream *s)
{
    return px_tls_stream_is(s) && ts_of(s) ? ts_of(s)->handshake_ms : 0;
}

const char *px_tls_stream_error(const struct px_stream *s)
{
    if (!px_tls_stream_is(s) || ts_of(s) == NULL)
        return "";
    const char *v = px_tls_verify_error(ts_of(s)->tls);
    return v ? v : px_tls_error(ts_of(s)->tls);
}
