/*
 * Unit tests of proxy/data/tls_stream.c on a real uv loop over a loopback
 * TCP pair: the stream is a server TLS stream; the raw other end is driven
 * by a client engine in the test. The handshake is reported once; an owner
 * that pauses gets the plaintext the engine holds once it reads again,
 * without new socket bytes; a large write is queued and reported once;
 * close sends close_notify; plain HTTP is reported as such.
 */
#include "tests/unit/test.h"
#include "tests/unit/proxy/tls_fixture.h"
#include "tests/unit/proxy/tcp_pair.h"
#include "proxy/data/tls_stream.h"
#include "proxy/base/px.h"
#include "proxy/state/tls_ctx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG (1u << 20)

struct fx {
    uv_loop_t loop;
    struct px_slab_cache slabs;
    struct px_stream s;
    struct conf *cf;
    struct px_tls_ctx *sctx;
    struct ssl_ctx_st *cctx;
    struct px_tls *peer_tls; /* the client end, driven by hand */
    int peer;                /* its raw socket, non-blocking */
    unsigned handshakes;     /* on_handshake calls */
    int handshake_status;
    unsigned reads, written;
    int read_err, written_status;
    size_t take;  /* bytes the owner consumes per on_read (0 = all) */
    bool pause;   /* stop reading after each on_read */
    uint8_t *got; /* what the owner consumed, in order */
    size_t got_len;
    uint8_t *peer_got; /* plaintext the peer decrypted */
    size_t peer_got_len;
    int peer_end;     /* the peer's last read status (PX_ETLSCLOSED at close_notify) */
    unsigned resumed; /* times a paused owner asked to read again */
    bool closed;
};

static struct fx *fx_of(struct px_stream *s)
{
    return s->tcp.data;
}

static void on_read(struct px_stream *s, int err)
{
    struct fx *f = fx_of(s);
    f->reads++;
    if (err != 0) {
        f->read_err = err;
        return;
    }
    size_t n = s->in_len - s->in_off;
    if (f->take && n > f->take)
        n = f->take;
    memcpy(f->got + f->got_len, s->in->data + s->in_off, n);
    f->got_len += n;
    s->in_off += (uint32_t)n;
    if (f->pause)
        px_stream_read(s, false);
}

static void on_written(struct px_stream *s, int status)
{
    fx_of(s)->written++;
    fx_of(s)->written_status = status;
}

static void on_handshake(struct px_stream *s, int status)
{
    fx_of(s)->handshakes++;
    fx_of(s)->handshake_status = status;
}

static const struct px_stream_ops ops = {.on_read = on_read, .on_written = on_written};

static void on_closed(uv_handle_t *h)
{
    struct fx *f = h->data;
    px_stream_dispose(&f->s);
    f->closed = true;
}

static void setup(struct fx *f)
{
    const char *dir = tls_fixture_dir();
    char err[4096] = "";

    memset(f, 0, sizeof(*f));
    tls_fixture_cert(dir, "a", TLS_FIXTURE_EC, "a.example.com", "a.example.com", -60, 86400);
    f->cf = tls_fixture_conf("listen: [{addr: \"127.0.0.1:8443\", tls: {certificates: "
                             "[{cert: %s/a.pem, key: %s/a.key}]}}]\n"
                             "regions: {r: {backends: [\"127.0.0.1:9000\"]}}\n",
                             dir, dir);
    if (px_tls_ctx_build(f->cf, 0, NULL, &f->sctx, err, sizeof(err)) != 0)
        TEST_FAIL_("build: %s", err);
    f->cctx = tls_fixture_client_ctx();
    ASSERT_NOT_NULL(f->peer_tls = px_tls_new(f->cctx, PX_TLS_CLIENT));
    ASSERT_NOT_NULL(f->got = malloc(4 * BIG));
    ASSERT_NOT_NULL(f->peer_got = malloc(4 * BIG));
    f->slabs.r.keep = 4;
    int fd = tcp_pair(&f->peer, 8192);
    ASSERT_OK(uv_loop_init(&f->loop));
    ASSERT_OK(px_stream_init(&f->s, &f->loop, &f->slabs, &ops, f));
    ASSERT_OK(uv_tcp_open(&f->s.tcp, fd));
    ASSERT_OK(px_tls_stream_accept(&f->s, f->sctx, on_handshake));
    ASSERT(px_tls_stream_is(&f->s));
    /* The stream holds its own reference: the test's may go at once. */
    px_tls_ctx_unref(f->sctx);
    f->sctx = NULL;
}

static void teardown(struct fx *f)
{
    px_stream_close(&f->s, on_closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT(f->closed);
    ASSERT_NULL(f->s.in);
    ASSERT_OK(uv_loop_close(&f->loop));
    px_slab_cache_dispose(&f->slabs);
    close(f->peer);
    px_tls_free(f->peer_tls);
    SSL_CTX_free(f->cctx);
    conf_free(f->cf);
    free(f->got);
    free(f->peer_got);
}

/* A paused owner reads again, as the client does: it first takes what is
 * left in s->in, then asks for more; what the engine holds comes on a later
 * turn. */
static void resume(struct fx *f)
{
    struct px_stream *s = &f->s;
    if (px_stream_has_input(s)) {
        size_t n = s->in_len - s->in_off;
        memcpy(f->got + f->got_len, s->in->data + s->in_off, n);
        f->got_len += n;
        s->in_off = s->in_len;
    }
    unsigned before = f->reads;
    px_stream_read(&f->s, true);
    ASSERT_EQ(f->reads, before); /* never synchronously */
    f->resumed++;
}

/* Sends the peer engine's pending output, all of it. */
static void peer_flush(struct fx *f)
{
    struct px_tls_out out;
    size_t off = 0;

    px_tls_take_output(f->peer_tls, &out);
    while (off < out.len) {
        ssize_t n = write(f->peer, out.base + off, out.len - off);
        if (n > 0)
            off += (size_t)n;
        else if (!f->s.reading && f->pause)
            resume(f);
        else
            uv_run(&f->loop, UV_RUN_NOWAIT); /* the stream reads: room comes */
    }
    free(out.base);
}

/* Reads what the socket has into the peer engine, decrypts, answers. */
static void peer_pump(struct fx *f)
{
    static uint8_t buf[65536];
    ssize_t n;

    while ((n = read(f->peer, buf, sizeof(buf))) > 0) {
        px_tls_feed(f->peer_tls, buf, (size_t)n);
        int rc;
        while ((rc = px_tls_read(f->peer_tls, f->peer_got + f->peer_got_len,
                                 4 * BIG - f->peer_got_len)) > 0)
            f->peer_got_len += (size_t)rc;
        if (rc < 0)
            f->peer_end = rc;
        peer_flush(f);
    }
}

/* Runs the loop and the peer until DONE or a bounded number of turns. */
#define RUN_UNTIL(f, done)                                                                         \
    for (int i_ = 0; i_ < 200000 && !(done); i_++) {                                               \
        uv_run(&(f)->loop, UV_RUN_NOWAIT);                                                         \
        peer_pump(f);                                                                              \
    }

static void handshake(struct fx *f)
{
    px_stream_read(&f->s, true);
    ASSERT_EQ(px_tls_handshake(f->peer_tls), 0); /* the ClientHello */
    peer_flush(f);
    RUN_UNTIL(f, f->handshakes == 1 && px_tls_handshake_done(f->peer_tls));
    ASSERT_EQ(f->handshakes, 1);
    ASSERT_OK(f->handshake_status);
    ASSERT(px_tls_handshake_done(f->peer_tls));
}

TEST(tls_stream_handshake_then_paused_reads_resume_without_socket_bytes)
{
    struct fx f;
    struct px_tls_info info;

    setup(&f);
    handshake(&f);
    ASSERT(px_tls_stream_info(&f.s, &info));
    ASSERT_STR_EQ(info.version, "TLSv1.3");

    /* 256 KiB in records of 16 KiB, sent at once; the owner takes 1000
     * bytes per callback and stops reading each time. */
    static uint8_t msg[256 * 1024];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7 + i / 251);
    ASSERT_OK(px_tls_write(f.peer_tls, msg, sizeof(msg)));
    f.take = 1000;
    f.pause = true;
    peer_flush(&f);
    for (int i = 0; i < 200000 && f.got_len < sizeof(msg); i++) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
        if (!f.s.reading)
            resume(&f);
    }
    ASSERT_EQ(f.got_len, sizeof(msg));
    ASSERT(memcmp(f.got, msg, sizeof(msg)) == 0);
    /* At least one pause per record: each resumed delivery came from what
     * the engine and the held ciphertext kept, not from a socket event. */
    ASSERT(f.resumed >= sizeof(msg) / 16384);
    ASSERT_OK(f.read_err);
    teardown(&f);
}

TEST(tls_stream_big_write_is_queued_once_and_close_sends_close_notify)
{
    struct fx f;
    uv_buf_t bufs[2];

    setup(&f);
    handshake(&f);
    for (size_t i = 0; i < BIG; i++)
        f.got[i] = (uint8_t)(i * 13 + i / 509);
    bufs[0] = uv_buf_init((char *)f.got, BIG / 2);
    bufs[1] = uv_buf_init((char *)f.got + BIG / 2, BIG / 2);
    ASSERT_EQ(px_stream_write(&f.s, bufs, 2), 0); /* more than the socket takes */
    ASSERT(px_stream_writing(&f.s));
    RUN_UNTIL(&f, f.written == 1 && f.peer_got_len == BIG);
    ASSERT_EQ(f.written, 1);
    ASSERT_OK(f.written_status);
    ASSERT(!px_stream_writing(&f.s));
    ASSERT_EQ(f.peer_got_len, BIG);
    ASSERT(memcmp(f.peer_got, f.got, BIG) == 0);

    px_stream_close(&f.s, on_closed);
    RUN_UNTIL(&f, f.closed && f.peer_end != 0);
    ASSERT_EQ(f.peer_end, PX_ETLSCLOSED);
    teardown(&f);
}

TEST(tls_stream_reports_plain_http_and_bad_input_once)
{
    struct fx f;

    setup(&f);
    px_stream_read(&f.s, true);
    ASSERT_EQ(write(f.peer, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    RUN_UNTIL(&f, f.handshakes == 1);
    ASSERT_EQ(f.handshakes, 1);
    ASSERT_EQ(f.handshake_status, PX_ETLSPLAIN);
    ASSERT_EQ(f.reads, 0); /* nothing was delivered as plaintext */
    teardown(&f);

    setup(&f);
    px_stream_read(&f.s, true);
    static const uint8_t junk[] = {0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
    ASSERT_EQ(write(f.peer, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    RUN_UNTIL(&f, f.handshakes == 1);
    ASSERT_EQ(f.handshakes, 1);
    ASSERT_EQ(f.handshake_status, PX_ETLS);
    ASSERT(px_tls_stream_error(&f.s)[0] != '\0');
    teardown(&f);
}
