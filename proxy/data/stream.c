/*
 * stream: the read buffer, the one write in flight and the event table of
 * a connection, and plain TCP as its first transport. The write request is
 * allocated only while a write is queued: most writes complete in one
 * try, and an idle keep-alive connection then holds neither a buffer nor a
 * request.
 */
#include "proxy/data/stream.h"
#include "proxy/base/px.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>

static inline struct px_stream *stream_of(void *tcp)
{
    return px_container_of((uv_tcp_t *)tcp, struct px_stream, tcp);
}

void px_stream_init_memory(struct px_stream *s, struct px_slab_cache *slabs,
                           const struct px_stream_ops *ops, void *owner)
{
    s->tcp.data = owner;
    s->ops = ops;
    s->tp = &px_transport_tcp;
    s->tp_data = NULL;
    s->slabs = slabs;
    s->in = NULL;
    s->wreq = NULL;
    s->in_off = s->in_len = 0;
    s->reading = s->closing = false;
}

int px_stream_init(struct px_stream *s, uv_loop_t *loop, struct px_slab_cache *slabs,
                   const struct px_stream_ops *ops, void *owner)
{
    int rc = uv_tcp_init(loop, &s->tcp);
    if (rc != 0)
        return rc;
    px_stream_init_memory(s, slabs, ops, owner);
    return 0;
}

void px__stream_alloc(struct px_stream *s, uv_buf_t *buf)
{
    if (s->in == NULL && (s->in = px_slab_get(s->slabs)) == NULL) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    if (s->in_off == s->in_len)
        s->in_off = s->in_len = 0;
    *buf = uv_buf_init(s->in->data + s->in_len, PX_SLAB_BYTES - s->in_len);
}

void px_stream_shrink(struct px_stream *s)
{
    if (s->in && s->in_off == s->in_len) {
        px_slab_put(s->slabs, s->in);
        s->in = NULL;
        s->in_off = s->in_len = 0;
    }
}

void px__stream_deliver(struct px_stream *s, ssize_t nread)
{
    if (s->closing)
        return;
    if (nread > 0) {
        s->in_len += (uint32_t)nread;
        s->ops->on_read(s, 0);
        return;
    }
    if (nread == 0) {
        px_stream_shrink(s); /* EAGAIN: nothing came */
        return;
    }
    if (nread == UV_ENOBUFS && s->in) {
        /* The buffer is full of bytes the consumer cannot take yet: it asks
         * for more once it has made room. */
        px_stream_read(s, false);
        return;
    }
    if (nread == UV_EOF)
        s->reading = false; /* libuv stopped reading */
    s->ops->on_read(s, nread == UV_ENOBUFS ? PX_ENOMEM : (int)nread);
}

void px_stream_read(struct px_stream *s, bool on)
{
    if (on == s->reading || s->closing)
        return;
    s->reading = on;
    if (on)
        s->tp->read_start(s);
    else
        s->tp->read_stop(s);
}

int px_stream_write(struct px_stream *s, uv_buf_t *bufs, unsigned nbufs)
{
    PX_ASSERT(s->wreq == NULL);
    return s->tp->write(s, bufs, nbufs);
}

void px_stream_close(struct px_stream *s, uv_close_cb cb)
{
    if (s->closing)
        return;
    s->closing = true;
    s->reading = false;
    s->tp->close(s, cb);
}

void px_stream_dispose(struct px_stream *s)
{
    px_slab_put(s->slabs, s->in);
    s->in = NULL;
    s->in_off = s->in_len = 0;
}

/* ------------------------------------------------------------ plain TCP */

static void on_tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    px__stream_alloc(stream_of(h), buf);
}

static void on_tcp_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    px__stream_deliver(stream_of(h), nread);
}

static void on_tcp_written(uv_write_t *req, int status)
{
    struct px_stream *s = stream_of(req->handle);
    free(s->wreq);
    s->wreq = NULL;
    if (status == UV_ECANCELED || s->closing)
        return;
    s->ops->on_written(s, status);
}

static void tcp_read_start(struct px_stream *s)
{
    uv_read_start((uv_stream_t *)&s->tcp, on_tcp_alloc, on_tcp_read);
}

static void tcp_read_stop(struct px_stream *s)
{
    uv_read_stop((uv_stream_t *)&s->tcp);
}

/*
 * uv_try_write's contract with send(2)/sendmsg(2) underneath. uv_try_write
 * calls write(2), which on a socket first goes through the VFS layer (file
 * position lock, permission hooks: vfs_write, fdget_pos, rw_verify_area in
 * a perf profile); send(2) goes to the socket directly, as HAProxy's
 * sendto does. Bytes taken, UV_EAGAIN, or a libuv error. Whether bytes are
 * queued ahead of BUFS is the caller's to know (the write in flight is the
 * transport's own: s->wreq here, the ciphertext write for TLS, the poll
 * transport's queue), not libuv's write queue, which the poll transport
 * never uses.
 */
int px__stream_try_send(struct px_stream *s, const uv_buf_t *bufs, unsigned nbufs)
{
    uv_os_fd_t fd;

    if (uv_fileno((uv_handle_t *)&s->tcp, &fd) != 0)
        return UV_EAGAIN; /* not a socket yet */
    return px__stream_send_fd(fd, bufs, nbufs);
}

int px__stream_send_fd(int fd, const uv_buf_t *bufs, unsigned nbufs)
{
    ssize_t n;

    do {
        if (nbufs == 1) {
            n = send(fd, bufs[0].base, bufs[0].len, MSG_DONTWAIT | MSG_NOSIGNAL);
        } else {
            /* uv_buf_t is laid out as struct iovec on Unix. */
            struct msghdr m = {.msg_iov = (struct iovec *)bufs, .msg_iovlen = nbufs};
            n = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
    } while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n > INT_MAX ? INT_MAX : (int)n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? UV_EAGAIN : -errno;
}

/* One try; what the socket does not take is queued with uv_write. */
static int tcp_write(struct px_stream *s, uv_buf_t *bufs, unsigned nbufs)
{
    int n = px__stream_try_send(s, bufs, nbufs);
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
    if ((s->wreq = malloc(sizeof(*s->wreq))) == NULL)
        return PX_ENOMEM;
    int rc = uv_write(s->wreq, (uv_stream_t *)&s->tcp, bufs + i, nbufs - i, on_tcp_written);
    if (rc < 0) {
        free(s->wreq);
        s->wreq = NULL;
        return rc;
    }
    return 0;
}

static void tcp_close(struct px_stream *s, uv_close_cb cb)
{
    uv_close((uv_handle_t *)&s->tcp, cb);
}

const struct px_transport px_transport_tcp = {
    .read_start = tcp_read_start,
    .read_stop = tcp_read_stop,
    .write = tcp_write,
    .close = tcp_close,
};
