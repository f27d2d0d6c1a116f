/*
 * Unit tests of proxy/data/stream.c on a real uv loop over a loopback TCP
 * pair: a write is tried synchronously first and only the rest is queued,
 * with one write in flight and one on_written; reads go to whichever ops
 * table is installed (how the tunnel takes over); the read buffer goes back
 * to the cache when empty; close ends in its callback and the loop closes.
 */
#include "tests/unit/test.h"
#include "tests/unit/proxy/tcp_pair.h"
#include "proxy/data/stream.h"
#include "proxy/base/px.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fx {
    uv_loop_t loop;
    struct px_slab_cache slabs;
    struct px_stream s;
    int peer;           /* the raw other end, non-blocking */
    unsigned reads[2];  /* on_read calls per ops table */
    unsigned written;   /* on_written calls */
    int written_status; /* of the last one */
    size_t consumed;    /* bytes taken out of s.in */
    bool closed;
};

static struct fx *fx_of(struct px_stream *s)
{
    return s->tcp.data;
}

static void consume(struct px_stream *s, unsigned table)
{
    struct fx *f = fx_of(s);
    f->reads[table]++;
    f->consumed += s->in_len - s->in_off;
    s->in_off = s->in_len;
}

static void on_read_a(struct px_stream *s, int err)
{
    if (err == 0)
        consume(s, 0);
}

static void on_read_b(struct px_stream *s, int err)
{
    if (err == 0)
        consume(s, 1);
}

static void on_written(struct px_stream *s, int status)
{
    fx_of(s)->written++;
    fx_of(s)->written_status = status;
}

static const struct px_stream_ops ops_a = {.on_read = on_read_a, .on_written = on_written};
static const struct px_stream_ops ops_b = {.on_read = on_read_b, .on_written = on_written};

static void on_closed(uv_handle_t *h)
{
    struct fx *f = h->data;
    px_stream_dispose(&f->s);
    f->closed = true;
}

static void setup(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->slabs.r.keep = 4;
    int fd = tcp_pair(&f->peer, 4096);
    ASSERT_OK(uv_loop_init(&f->loop));
    ASSERT_OK(px_stream_init(&f->s, &f->loop, &f->slabs, &ops_a, f));
    ASSERT_OK(uv_tcp_open(&f->s.tcp, fd));
}

static void teardown(struct fx *f)
{
    px_stream_close(&f->s, on_closed);
    px_stream_close(&f->s, on_closed); /* idempotent */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT(f->closed);
    ASSERT_NULL(f->s.in);
    ASSERT_OK(uv_loop_close(&f->loop));
    px_slab_cache_dispose(&f->slabs);
    close(f->peer);
}

/* Reads what the peer has; returns the byte count. */
static size_t drain_peer(struct fx *f)
{
    char buf[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(f->peer, buf, sizeof(buf))) > 0)
        total += (size_t)n;
    return total;
}

TEST(stream_write_tries_first_then_queues_one)
{
    static char big[4 << 20];
    struct fx f;
    size_t got = 0;
    uv_buf_t buf;

    setup(&f);
    /* Small: uv_try_write takes it all; nothing queued, no callback. */
    buf = uv_buf_init("hello", 5);
    ASSERT_EQ(px_stream_write(&f.s, &buf, 1), 1);
    ASSERT(!px_stream_writing(&f.s));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(f.written, 0);
    for (int i = 0; i < 1000 && got < 5; i++)
        got += drain_peer(&f);
    ASSERT_EQ(got, 5);

    /* Bigger than the socket buffers: the rest is queued, one callback. */
    memset(big, 'x', sizeof(big));
    uv_buf_t bufs[2] = {uv_buf_init(big, sizeof(big) / 2), uv_buf_init(big, sizeof(big) / 2)};
    ASSERT_EQ(px_stream_write(&f.s, bufs, 2), 0);
    ASSERT(px_stream_writing(&f.s));
    got = 0;
    for (int i = 0; i < 100000 && (f.written == 0 || got < sizeof(big)); i++) {
        got += drain_peer(&f);
        uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    ASSERT_EQ(f.written, 1);
    ASSERT_OK(f.written_status);
    ASSERT(!px_stream_writing(&f.s));
    ASSERT_EQ(got, sizeof(big));
    teardown(&f);
}

TEST(stream_reads_follow_swapped_ops_and_buffer_goes_back)
{
    struct fx f;

    setup(&f);
    px_stream_read(&f.s, true);
    px_stream_read(&f.s, true); /* idempotent */
    ASSERT_EQ(write(f.peer, "abc", 3), 3);
    for (int i = 0; i < 100000 && f.reads[0] == 0; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(f.reads[0], 1);
    ASSERT_EQ(f.consumed, 3);
    px_stream_shrink(&f.s); /* all consumed: the slab goes back to the cache */
    ASSERT_NULL(f.s.in);
    ASSERT_EQ(f.slabs.r.n, 1);

    /* What a tunnel does: install its table; the next bytes go there. */
    f.s.ops = &ops_b;
    ASSERT_EQ(write(f.peer, "defg", 4), 4);
    for (int i = 0; i < 100000 && f.reads[1] == 0; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(f.reads[0], 1);
    ASSERT_EQ(f.reads[1], 1);
    ASSERT_EQ(f.consumed, 7);

    /* Stopped: bytes wait in the socket, no callback. */
    px_stream_read(&f.s, false);
    ASSERT_EQ(write(f.peer, "h", 1), 1);
    for (int i = 0; i < 100; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(f.reads[1], 1);
    teardown(&f);
}
