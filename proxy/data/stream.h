/*
 * stream: one connected byte stream, a client or an upstream connection, as
 * its owner sees it (h2o's h2o_socket_t). It owns the read buffer (a slab
 * from the worker's cache, held only while it has unconsumed bytes) and the
 * one write in flight (tried synchronously first, the rest queued). Events
 * go to a const ops table that whoever consumes the bytes installs: the
 * client or the exchange, and after a 101 the tunnel, which swaps the table
 * (nginx's ngx_http_upstream_upgrade swaps its handlers the same way).
 *
 * Bytes move through the stream's transport, never through uv_* calls of
 * the owner: plain TCP (px_transport_tcp, here), plain TCP read with
 * recv(2) on a poll handle for upstreams (px_transport_sock,
 * proxy/data/sock_stream.h), or TLS (px_transport_tls,
 * proxy/data/tls_stream.h) over the same uv_tcp_t, with OpenSSL on our own
 * BIO (docs/TLS.md):
 *  - read_start starts reading the socket; ciphertext goes to the engine,
 *    and plaintext is decrypted into s->in before px__stream_deliver()
 *    runs, so owners only ever see plaintext in s->in. Before the handshake
 *    completes nothing is delivered: the handshake runs asynchronously
 *    behind the first read_start, and its own writes (and those of a key
 *    update or a ticket) go out from the transport, whatever the owner asked.
 *  - write encrypts and sends the ciphertext with the same one-write-in-
 *    flight rule; it returns 0 (queued) and calls on_written later when the
 *    socket did not take everything.
 *  - plaintext the engine holds after a read the owner paused is not
 *    signalled by the socket again, so the TLS transport delivers it itself
 *    once the owner asks to read again: read_start schedules
 *    px__stream_deliver() on the next loop turn (a uv_idle_t, which keeps
 *    the poll from blocking, unlike a check handle), never synchronously.
 *  - close sends close_notify best effort, then closes the socket.
 */
#ifndef PX_STREAM_H
#define PX_STREAM_H

#include "proxy/data/slab.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct px_stream;

/* What a stream tells whoever consumes it. Neither runs synchronously from
 * the px_stream_* call that caused it. */
struct px_stream_ops {
    /*
     * ERR 0: bytes were appended to s->in[in_off, in_len); consume what you
     * can (advance in_off). Otherwise the stream ended: UV_EOF (reading has
     * stopped), a libuv error, or PX_ENOMEM when no read buffer was left.
     */
    void (*on_read)(struct px_stream *s, int err);
    /* The write px_stream_write() queued is done: STATUS 0 or a libuv error. */
    void (*on_written)(struct px_stream *s, int status);
};

/* How bytes move for one kind of stream. Every entry is required. */
struct px_transport {
    void (*read_start)(struct px_stream *s);
    void (*read_stop)(struct px_stream *s);
    /* Same contract as px_stream_write(). */
    int (*write)(struct px_stream *s, uv_buf_t *bufs, unsigned nbufs);
    void (*close)(struct px_stream *s, uv_close_cb cb);
};

struct px_stream {
    uv_tcp_t tcp; /* data: the owner (borrowed); the close callback gets this handle */
    const struct px_stream_ops *ops; /* the consumer's callbacks; swapped by a tunnel */
    const struct px_transport *tp;   /* px_transport_tcp, _sock or _tls (their headers) */
    void *tp_data;                   /* owned by the transport: its per-connection state */
    struct px_slab_cache *slabs;     /* borrowed: the worker's */
    struct px_slab *in;              /* owned; NULL when no bytes are held */
    uv_write_t *wreq;                /* owned while a write is queued, else NULL */
    uint32_t in_off, in_len;         /* unconsumed bytes are in[in_off, in_len) */
    bool reading;                    /* the transport is reading */
    bool closing;                    /* px_stream_close() was called */
};

/* The plain TCP transport. */
extern const struct px_transport px_transport_tcp;

/*
 * Initializes S's socket on LOOP for OWNER (s->tcp.data), reading into
 * slabs of SLABS, events to OPS. Returns 0 or a negative libuv error (then S
 * needs no close).
 */
int px_stream_init(struct px_stream *s, uv_loop_t *loop, struct px_slab_cache *slabs,
                   const struct px_stream_ops *ops, void *owner);

/*
 * Initializes S with no socket, for a transport that moves the bytes in
 * memory (an HTTP/2 stream): of s->tcp only data is set, and libuv never
 * sees the handle, so that transport's close must run the callback itself,
 * on a later turn (proxy/data/later.h), as uv_close() would.
 */
void px_stream_init_memory(struct px_stream *s, struct px_slab_cache *slabs,
                           const struct px_stream_ops *ops, void *owner);

/* Starts or stops delivering reads; idempotent, and a no-op once closing. */
void px_stream_read(struct px_stream *s, bool on);

/*
 * Writes BUFS (their bytes must stay valid until on_written when queued;
 * the array itself may be reused at once): all of it synchronously when
 * the transport takes it (returns 1), else queues the rest and returns 0,
 * and on_written follows. Returns a negative libuv error or PX_ENOMEM when
 * it failed (on_written is then never called). One write at a time.
 */
int px_stream_write(struct px_stream *s, uv_buf_t *bufs, unsigned nbufs);

/* True while a queued write has not completed. */
static inline bool px_stream_writing(const struct px_stream *s)
{
    return s->wreq != NULL;
}

/* True when S holds unconsumed input. */
static inline bool px_stream_has_input(const struct px_stream *s)
{
    return s->in != NULL && s->in_off < s->in_len;
}

/* Gives the read buffer back when it holds nothing, so an idle stream holds none. */
void px_stream_shrink(struct px_stream *s);

/*
 * Closes S; CB runs with &s->tcp once it is closed (then px_stream_dispose()
 * and free). A queued write is cancelled silently. Idempotent.
 */
void px_stream_close(struct px_stream *s, uv_close_cb cb);

/* Frees the read buffer; for the owner's close callback. */
void px_stream_dispose(struct px_stream *s);

/* For transports: hands a read result to S as libuv's read callback does
 * (NREAD > 0 bytes appended at s->in + in_len, 0 nothing, < 0 an error). */
void px__stream_deliver(struct px_stream *s, ssize_t nread);

/* For transports: the buffer the next read fills, or an empty one. */
void px__stream_alloc(struct px_stream *s, uv_buf_t *buf);

/* For transports: uv_try_write's contract (bytes taken, UV_EAGAIN, or a
 * libuv error) over send(2), which skips write(2)'s VFS work. Only with
 * nothing of the transport's queued ahead of BUFS: it does not look. */
int px__stream_try_send(struct px_stream *s, const uv_buf_t *bufs, unsigned nbufs);

/* The same on a descriptor the transport keeps itself: uv_fileno() reads a
 * part of the tcp handle that per request nothing else touches, a cache
 * miss when 100 upstream connections take turns. */
int px__stream_send_fd(int fd, const uv_buf_t *bufs, unsigned nbufs);

#endif
