/*
 * Unit tests of proxy/data/sock_stream.c on a real uv loop over loopback:
 * the connect's outcome, a refusal included, comes from the loop and never
 * from px_sock_stream_connect; reads end in UV_EOF or the reset's
 * UV_ECONNRESET after the bytes that came first; a stopped read hears
 * nothing until it starts again; a write the socket does not take is
 * queued (any number of buffers) and completes once, from the loop; and a
 * close while connecting or writing reports neither and ends in one close
 * callback.
 */
#include "tests/unit/test.h"
#include "proxy/data/sock_stream.h"
#include "proxy/base/px.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sfx {
    uv_loop_t loop;
    struct px_slab_cache slabs;
    struct px_stream s;
    struct sockaddr_in addr; /* the listener's */
    int listener, peer;      /* peer: the accepted end, non-blocking */
    unsigned connects, reads, written, closed;
    int connect_status, read_err, written_status;
    size_t consumed;
};

static struct sfx *sfx_of(struct px_stream *s)
{
    return s->tcp.data;
}

static void on_connect(struct px_stream *s, int status)
{
    sfx_of(s)->connects++;
    sfx_of(s)->connect_status = status;
}

static void on_read(struct px_stream *s, int err)
{
    struct sfx *f = sfx_of(s);

    f->reads++;
    if (err != 0) {
        f->read_err = err;
        return;
    }
    f->consumed += s->in_len - s->in_off;
    s->in_off = s->in_len;
}

static void on_written(struct px_stream *s, int status)
{
    sfx_of(s)->written++;
    sfx_of(s)->written_status = status;
}

static const struct px_stream_ops ops = {.on_read = on_read, .on_written = on_written};

static void on_closed(uv_handle_t *h)
{
    struct sfx *f = h->data;
    px_stream_dispose(&f->s);
    f->closed++;
}

/* A listener with a small receive buffer (inherited by what it accepts),
 * and S initialized, not connected. */
static void setup(struct sfx *f)
{
    int buf = 4096;
    socklen_t len = sizeof(f->addr);

    memset(f, 0, sizeof(*f));
    f->peer = -1;
    f->slabs.r.keep = 4;
    f->addr.sin_family = AF_INET;
    f->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->listener = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(f->listener >= 0);
    ASSERT_OK(setsockopt(f->listener, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)));
    ASSERT_OK(bind(f->listener, (struct sockaddr *)&f->addr, sizeof(f->addr)));
    ASSERT_OK(listen(f->listener, 4));
    ASSERT_OK(getsockname(f->listener, (struct sockaddr *)&f->addr, &len));
    ASSERT_OK(uv_loop_init(&f->loop));
    ASSERT_OK(px_stream_init(&f->s, &f->loop, &f->slabs, &ops, f));
}

static void run_until(struct sfx *f, const unsigned *counter, unsigned n)
{
    for (int i = 0; i < 100000 && *counter < n; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    ASSERT_EQ(*counter, n);
}

/* Runs N loop turns: room for an event that must not come. */
static void run_turns(struct sfx *f, int n)
{
    for (int i = 0; i < n; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Connects S to the listener, accepts, and waits for the callback. */
static void connect_and_accept(struct sfx *f)
{
    ASSERT_OK(px_sock_stream_connect(&f->s, (struct sockaddr *)&f->addr, on_connect));
    ASSERT_PTR_EQ(f->s.tp, &px_transport_sock);
    ASSERT_EQ(f->connects, 0); /* never from the call */
    run_until(f, &f->connects, 1);
    ASSERT_OK(f->connect_status);
    f->peer = accept(f->listener, NULL, NULL);
    ASSERT(f->peer >= 0);
    ASSERT_OK(fcntl(f->peer, F_SETFL, O_NONBLOCK));
}

static void teardown(struct sfx *f)
{
    px_stream_close(&f->s, on_closed);
    px_stream_close(&f->s, on_closed); /* idempotent */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ(f->closed, 1);
    ASSERT_NULL(f->s.in);
    ASSERT_NULL(f->s.tp_data);
    ASSERT(!px_stream_writing(&f->s));
    ASSERT_OK(uv_loop_close(&f->loop)); /* both handles closed */
    px_slab_cache_dispose(&f->slabs);
    if (f->peer >= 0)
        close(f->peer);
    close(f->listener);
}

static void reset_peer(struct sfx *f)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    ASSERT_OK(setsockopt(f->peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
    close(f->peer);
    f->peer = -1;
}

TEST(sock_stream_refused_connect_is_reported_from_the_loop)
{
    struct sfx f;

    setup(&f);
    close(f.listener); /* nothing listens on that port now */
    f.listener = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_OK(px_sock_stream_connect(&f.s, (struct sockaddr *)&f.addr, on_connect));
    ASSERT_EQ(f.connects, 0);
    uv_os_fd_t fd;
    ASSERT_OK(uv_fileno((uv_handle_t *)&f.s.tcp, &fd)); /* the tcp handle owns the socket */
    run_until(&f, &f.connects, 1);
    ASSERT_EQ(f.connect_status, UV_ECONNREFUSED);
    run_turns(&f, 100);
    ASSERT_EQ(f.connects, 1);
    teardown(&f);
}

TEST(sock_stream_reads_bytes_then_eof_and_stopped_reads_wait)
{
    struct sfx f;

    setup(&f);
    connect_and_accept(&f);
    px_stream_read(&f.s, true);
    ASSERT_EQ(write(f.peer, "abc", 3), 3);
    run_until(&f, &f.reads, 1);
    ASSERT_EQ(f.consumed, 3);

    /* Stopped: the bytes wait in the socket, and come once reading starts. */
    px_stream_read(&f.s, false);
    ASSERT_EQ(write(f.peer, "defg", 4), 4);
    run_turns(&f, 200);
    ASSERT_EQ(f.reads, 1);
    px_stream_read(&f.s, true);
    run_until(&f, &f.reads, 2);
    ASSERT_EQ(f.consumed, 7);

    /* The backend closes: UV_EOF once, and reading has stopped. */
    shutdown(f.peer, SHUT_WR);
    run_until(&f, &f.reads, 3);
    ASSERT_EQ(f.read_err, UV_EOF);
    ASSERT(!f.s.reading);
    run_turns(&f, 200);
    ASSERT_EQ(f.reads, 3);
    teardown(&f);
}

TEST(sock_stream_reset_is_econnreset_after_the_bytes_before_it)
{
    struct sfx f;

    setup(&f);
    connect_and_accept(&f);
    ASSERT_EQ(write(f.peer, "xy", 2), 2);
    usleep(20000); /* the bytes are in before the reset */
    reset_peer(&f);
    px_stream_read(&f.s, true);
    for (int i = 0; i < 100000 && f.read_err == 0; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(f.consumed, 2);
    ASSERT_EQ(f.read_err, UV_ECONNRESET);
    teardown(&f);
}

/* Reads what the peer has; returns the byte count. */
static size_t drain_peer(struct sfx *f)
{
    static char buf[65536];
    size_t total = 0;
    ssize_t n;

    while ((n = read(f->peer, buf, sizeof(buf))) > 0)
        total += (size_t)n;
    return total;
}

TEST(sock_stream_big_writes_queue_and_complete_once_from_the_loop)
{
    static char big[4 << 20];
    struct sfx f;
    uv_buf_t bufs[6];
    size_t got = 0;

    setup(&f);
    connect_and_accept(&f);
    uv_buf_t small = uv_buf_init("hello", 5);
    ASSERT_EQ(px_stream_write(&f.s, &small, 1), 1); /* taken at once: no callback */
    memset(big, 'x', sizeof(big));
    /* Six buffers: more than the transport keeps without an allocation. */
    for (unsigned round = 0; round < 2; round++) {
        unsigned n = round == 0 ? 2 : 6;
        for (unsigned i = 0; i < n; i++)
            bufs[i] = uv_buf_init(big + i * (sizeof(big) / n), sizeof(big) / n);
        ASSERT_EQ(px_stream_write(&f.s, bufs, n), 0);
        ASSERT(px_stream_writing(&f.s));
        memset(bufs, 0, sizeof(bufs)); /* the array may be reused at once */
        ASSERT_EQ(f.written, round);
        size_t want = 5 * (round == 0) + (sizeof(big) / n) * n;
        for (int i = 0; i < 1000000 && (f.written == round || got < want); i++) {
            got += drain_peer(&f);
            uv_run(&f.loop, UV_RUN_NOWAIT);
        }
        ASSERT_EQ(f.written, round + 1);
        ASSERT_OK(f.written_status);
        ASSERT(!px_stream_writing(&f.s));
        ASSERT_EQ(got, want);
        got = 0;
    }
    teardown(&f);
}

TEST(sock_stream_queued_write_fails_on_reset)
{
    static char big[4 << 20];
    struct sfx f;

    setup(&f);
    connect_and_accept(&f);
    uv_buf_t buf = uv_buf_init(big, sizeof(big));
    ASSERT_EQ(px_stream_write(&f.s, &buf, 1), 0);
    reset_peer(&f);
    run_until(&f, &f.written, 1);
    ASSERT(f.written_status == UV_ECONNRESET || f.written_status == UV_EPIPE);
    ASSERT(!px_stream_writing(&f.s));
    teardown(&f);
}

TEST(sock_stream_close_while_connecting_or_writing_reports_nothing)
{
    static char big[4 << 20];
    struct sfx f;

    setup(&f);
    ASSERT_OK(px_sock_stream_connect(&f.s, (struct sockaddr *)&f.addr, on_connect));
    teardown(&f);
    ASSERT_EQ(f.connects, 0);

    setup(&f);
    connect_and_accept(&f);
    uv_buf_t buf = uv_buf_init(big, sizeof(big));
    ASSERT_EQ(px_stream_write(&f.s, &buf, 1), 0);
    px_stream_read(&f.s, true);
    teardown(&f);
    ASSERT_EQ(f.written, 0);
    ASSERT_EQ(f.reads, 0);
}
