/*
 * sock_stream: plain TCP over a uv_poll_t: connect(2), one recv(2) per
 * readable event, send(2) for writes with what the socket did not take kept
 * until it is writable, and a two-stage close (the poll handle, then the
 * uv_tcp_t that owns the descriptor). Per connection it owns the poll
 * handle and the copy of a queued write's buffer array, never its bytes.
 *
 * Each uv_poll_start or uv_poll_stop costs an epoll_ctl(DEL) at once and
 * an epoll_ctl(ADD) at the next loop turn (libuv 1.44 removes the
 * descriptor whenever a poll handle changes), so the watch changes only
 * when it must: stopping reads is lazy, and the readable watch goes only
 * once an event finds the owner not reading. An upstream reads all the
 * time (pooled too), so a request whose writes go out at once costs no
 * epoll_ctl at all; a connect costs a few (uv_poll_init_socket adds and
 * removes the descriptor to check it).
 */
#include "proxy/data/sock_stream.h"
#include "proxy/base/px.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Queued buffers that fit here need no allocation (the exchange writes up
 * to a head, the region line and a body chunk or two). */
#define SMALL_BUFS 4

struct px_sock_stream {
    uv_poll_t poll;               /* on the descriptor s->tcp owns */
    px_sock_stream_cb on_connect; /* borrowed; NULL once the connect ended */
    uv_close_cb close_cb;         /* the owner's, run once the descriptor is closed */
    uv_buf_t *bufs;               /* the owner's write: bufs[first, nbufs) are unsent */
    unsigned first, nbufs;        /* nbufs 0 when no write is queued */
    int fd;                       /* s->tcp's */
    int connect_err;              /* an errno connect(2) returned at once, else 0 */
    int events;                   /* what the poll watches: UV_READABLE | UV_WRITABLE */
    uv_buf_t small[SMALL_BUFS];   /* bufs when it fits */
};

/* s->wreq while a write is queued here, so px_stream_writing() holds; no
 * uv_write_t is ever submitted. */
static uv_write_t queued_write;

static inline struct px_stream *stream_of(void *tcp)
{
    return px_container_of((uv_tcp_t *)tcp, struct px_stream, tcp);
}

static inline struct px_sock_stream *ss_of(const struct px_stream *s)
{
    return s->tp_data;
}

/* ---------------------------------------------------------- the watch */

static void on_poll(uv_poll_t *p, int status, int events);

/* What the stream waits for: the connect's end, room for a queued write,
 * bytes for an owner that reads. */
static int wanted(const struct px_stream *s)
{
    const struct px_sock_stream *ss = ss_of(s);

    if (ss->on_connect)
        return UV_WRITABLE;
    return (ss->nbufs > 0 ? UV_WRITABLE : 0) | (s->reading ? UV_READABLE : 0);
}

static void watch(struct px_stream *s, int events)
{
    struct px_sock_stream *ss = ss_of(s);

    if (events == ss->events || s->closing)
        return;
    ss->events = events;
    if (events == 0)
        uv_poll_stop(&ss->poll);
    else
        uv_poll_start(&ss->poll, events, on_poll);
}

/* ---------------------------------------------------------- writes */

/* Skips the N bytes sent from the front of BUFS; the index of the first
 * buffer with bytes left (NBUFS when none is). */
static unsigned skip_sent(uv_buf_t *bufs, unsigned nbufs, size_t n)
{
    unsigned i = 0;

    while (i < nbufs && n >= bufs[i].len)
        n -= bufs[i++].len;
    if (i < nbufs) {
        bufs[i].base += n;
        bufs[i].len -= n;
    }
    return i;
}

static void drop_queue(struct px_stream *s)
{
    struct px_sock_stream *ss = ss_of(s);

    if (ss->bufs != ss->small)
        free(ss->bufs);
    ss->bufs = NULL;
    ss->first = ss->nbufs = 0;
    s->wreq = NULL;
}

/* Keeps the array of the unsent BUFS (the owner keeps their bytes until
 * on_written, as with uv_write) until the socket is writable. */
static int queue(struct px_stream *s, const uv_buf_t *bufs, unsigned nbufs)
{
    struct px_sock_stream *ss = ss_of(s);

    ss->bufs = nbufs <= SMALL_BUFS ? ss->small : malloc(nbufs * sizeof(*bufs));
    if (ss->bufs == NULL)
        return PX_ENOMEM;
    memcpy(ss->bufs, bufs, nbufs * sizeof(*bufs));
    ss->nbufs = nbufs;
    s->wreq = &queued_write;
    watch(s, wanted(s));
    return 0;
}

/* The socket is writable: sends more of the queued write; the owner hears
 * once all of it went, or the socket failed. */
static void flush(struct px_stream *s)
{
    struct px_sock_stream *ss = ss_of(s);
    uv_buf_t *rest = ss->bufs + ss->first;
    unsigned left = ss->nbufs - ss->first, i;
    int n = px__stream_send_fd(ss->fd, rest, left);

    if (n == UV_EAGAIN)
        return;
    if (n >= 0 && (i = skip_sent(rest, left, (size_t)n)) < left) {
        ss->first += i;
        return;
    }
    drop_queue(s);
    s->ops->on_written(s, n < 0 ? n : 0);
}

/* ---------------------------------------------------------- reads */

/* One recv per readable event, as libuv reads when it got less than the
 * buffer: a second would mostly find EAGAIN. */
static void read_once(struct px_stream *s)
{
    struct px_sock_stream *ss = ss_of(s);
    uv_buf_t buf;
    ssize_t n;

    px__stream_alloc(s, &buf);
    if (buf.len == 0) {
        px__stream_deliver(s, UV_ENOBUFS);
        return;
    }
    do
        n = recv(ss->fd, buf.base, buf.len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        px__stream_deliver(s, n);
    else if (n == 0)
        px__stream_deliver(s, UV_EOF);
    else
        px__stream_deliver(s, errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno);
}

/* ---------------------------------------------------------- events */

/* The connect ended (STATUS < 0: the poll saw an error). A connect(2)
 * that failed at once leaves a socket that polls writable (hung up), which
 * is how its error comes here rather than from the call that connected. */
static void connected(struct px_stream *s, int status)
{
    struct px_sock_stream *ss = ss_of(s);
    px_sock_stream_cb cb = ss->on_connect;
    int err = ss->connect_err;
    socklen_t len = sizeof(err);

    if (err == 0 && getsockopt(ss->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    err = err != 0 ? -err : status < 0 ? UV_ECONNABORTED : 0;
    ss->on_connect = NULL;
    if (err != 0)
        drop_queue(s); /* never sent: dropped silently, as libuv cancels it */
    cb(s, err);
    /* After the owner's first read_start (or close): one change, not two. */
    watch(s, wanted(s));
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct px_stream *s = p->data;
    struct px_sock_stream *ss = ss_of(s);

    if (status < 0) {
        /* POLLERR: libuv stopped the watch and says only UV_EBADF. The
         * socket's own error comes from SO_ERROR, or from the send or
         * recv below, which fail with it (after the bytes that came first). */
        ss->events = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    if (ss->on_connect) {
        connected(s, status);
        return;
    }
    if ((events & UV_WRITABLE) && ss->nbufs > 0)
        flush(s);
    if ((events & (UV_READABLE | UV_DISCONNECT)) && s->reading && !s->closing)
        read_once(s);
    watch(s, wanted(s));
}

/* ---------------------------------------------------------- transport */

static void sock_read_start(struct px_stream *s)
{
    if (!(ss_of(s)->events & UV_READABLE))
        watch(s, wanted(s));
}

/* Lazy: the next event that finds the owner not reading stops the watch. */
static void sock_read_stop(struct px_stream *s)
{
    (void)s;
}

/* One try, as the plain transport does; the rest waits for writable. */
static int sock_write(struct px_stream *s, uv_buf_t *bufs, unsigned nbufs)
{
    struct px_sock_stream *ss = ss_of(s);
    int n = ss->on_connect ? UV_EAGAIN : px__stream_send_fd(ss->fd, bufs, nbufs);

    if (n == UV_EAGAIN)
        n = 0;
    else if (n < 0)
        return n;
    unsigned i = skip_sent(bufs, nbufs, (size_t)n);
    return i == nbufs ? 1 : queue(s, bufs + i, nbufs - i);
}

static void on_sock_tcp_closed(uv_handle_t *h)
{
    struct px_stream *s = stream_of(h);
    uv_close_cb cb = ss_of(s)->close_cb;

    free(s->tp_data);
    s->tp_data = NULL;
    cb(h);
}

static void on_sock_poll_closed(uv_handle_t *h)
{
    struct px_stream *s = h->data;
    uv_close((uv_handle_t *)&s->tcp, on_sock_tcp_closed);
}

/* The poll handle first: the descriptor must leave epoll before the tcp
 * handle closes it. A queued write is dropped silently; a connect in
 * progress is never reported. */
static void sock_close(struct px_stream *s, uv_close_cb cb)
{
    struct px_sock_stream *ss = ss_of(s);

    ss->close_cb = cb;
    drop_queue(s);
    uv_close((uv_handle_t *)&ss->poll, on_sock_poll_closed);
}

const struct px_transport px_transport_sock = {
    .read_start = sock_read_start,
    .read_stop = sock_read_stop,
    .write = sock_write,
    .close = sock_close,
};

/* ---------------------------------------------------------- connect */

/* A socket for SA's family that S's tcp handle owns (closing S closes it),
 * with TCP_NODELAY, as uv_tcp_connect would have made. FD or an error. */
static int open_socket(struct px_stream *s, int family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0)
        return -errno;
    if ((rc = uv_tcp_open(&s->tcp, fd)) != 0) {
        close(fd); /* the handle does not own it then */
        return rc;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    return fd;
}

int px_sock_stream_connect(struct px_stream *s, const struct sockaddr *sa,
                           px_sock_stream_cb on_connect)
{
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    struct px_sock_stream *ss;
    int fd = open_socket(s, sa->sa_family);
    int rc;

    if (fd < 0)
        return fd;
    if ((ss = calloc(1, sizeof(*ss))) == NULL)
        return PX_ENOMEM;
    if ((rc = uv_poll_init_socket(s->tcp.loop, &ss->poll, fd)) != 0) {
        free(ss);
        return rc;
    }
    ss->poll.data = s;
    ss->fd = fd;
    ss->on_connect = on_connect;
    s->tp = &px_transport_sock;
    s->tp_data = ss;
    /* EINTR too goes on in the background (POSIX); either way the poll
     * reports the end. */
    if (connect(fd, sa, len) != 0 && errno != EINPROGRESS && errno != EINTR)
        ss->connect_err = errno;
    watch(s, UV_WRITABLE);
    return 0;
}
