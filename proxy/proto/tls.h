/*
 * tls: one TLS connection as a codec, with no socket and no loop (OpenSSL
 * through a BIO of our own, as h2o and Node do). Ciphertext from the peer
 * goes in with px_tls_feed(); plaintext comes out of px_tls_read();
 * plaintext to send goes in with px_tls_write(); the ciphertext to send
 * (handshake messages, records, alerts, close_notify) comes out of
 * px_tls_take_output(). It owns the SSL object and the pending output;
 * nothing else. docs/TLS.md shows how a stream drives it.
 *
 * Any call may produce output, a read included (a handshake answers what
 * it reads), so callers check px_tls_pending_output() after each one.
 */
#ifndef PX_TLS_H
#define PX_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ssl_ctx_st;
struct ssl_st;
struct px_tls;

enum px_tls_role {
    PX_TLS_SERVER, /* accepts: the client speaks first */
    PX_TLS_CLIENT, /* connects: px_tls_handshake() produces the ClientHello */
};

/* Most ciphertext a peer may send before the handshake completes. */
#define PX_TLS_HANDSHAKE_MAX_BYTES (64u * 1024)

/* What was negotiated; pointers are borrowed and live as long as the engine. */
struct px_tls_info {
    const char *version;       /* "TLSv1.3" */
    const char *cipher;        /* "TLS_AES_128_GCM_SHA256" */
    const char *sni;           /* the server name the client sent; NULL = none */
    const unsigned char *alpn; /* the protocol chosen, not NUL-terminated; NULL = none */
    unsigned alpn_len;         /* bytes at alpn */
    bool resumed;              /* an abbreviated handshake (session ticket) */
};

/* Ciphertext taken from the engine: the caller owns base and frees it with free(). */
struct px_tls_out {
    uint8_t *base;
    size_t len;
};

/*
 * Makes an engine over SSL_CTX CTX (borrowed: the caller keeps CTX, and
 * whatever it belongs to, alive as long as the engine). Returns NULL when
 * out of memory.
 */
struct px_tls *px_tls_new(struct ssl_ctx_st *ctx, enum px_tls_role role);

/* Releases T, its SSL object and any output not taken. Accepts NULL. */
void px_tls_free(struct px_tls *t);

/* The SSL object, for the few settings made per connection (a client's SNI). */
struct ssl_st *px_tls_ssl(struct px_tls *t);

/*
 * Hands the engine LEN bytes of ciphertext at DATA. They are borrowed, not
 * copied: they must stay valid until px_tls_input_left() is 0 (every read
 * drained to 0 does that) or until the next px_tls_feed(), which replaces
 * them. A caller that stops reading early gives the px_tls_input_left()
 * unread bytes (the tail of what it fed) to the next px_tls_feed() first.
 */
void px_tls_feed(struct px_tls *t, const void *data, size_t len);

/* Bytes of the last feed OpenSSL has not read yet. */
size_t px_tls_input_left(const struct px_tls *t);

/*
 * Drives the handshake with the input fed so far. Returns 1 when it is
 * complete, 0 when it needs more input (there may be output to send
 * first), PX_ETLS when it failed (there may be an alert to send), or
 * PX_ETLSPLAIN when a server's first bytes are a plain HTTP request.
 */
int px_tls_handshake(struct px_tls *t);

/* True once the handshake has completed. */
bool px_tls_handshake_done(const struct px_tls *t);

/*
 * Decrypts up to CAP bytes into BUF, driving the handshake first when it is
 * not done. Returns the number of bytes (> 0), 0 when nothing more can be
 * read without new input, PX_ETLSCLOSED when the peer sent close_notify,
 * PX_ETLSPLAIN (server: plain HTTP instead of a ClientHello; nothing is
 * consumed, so the caller can still answer in plain text), or PX_ETLS.
 * Plaintext can remain inside OpenSSL after a read returns data even with
 * no input left, so callers read until 0 (or stop, and come back later).
 */
int px_tls_read(struct px_tls *t, void *buf, size_t cap);

/*
 * Encrypts LEN bytes at DATA (copied) into records; the output grows by
 * them. The handshake must be done. Returns 0, PX_ETLS, or PX_ENOMEM.
 */
int px_tls_write(struct px_tls *t, const void *data, size_t len);

/* Bytes of ciphertext waiting for px_tls_take_output(). */
size_t px_tls_pending_output(const struct px_tls *t);

/*
 * Moves the pending ciphertext to *OUT (the caller now owns OUT->base and
 * frees it after the write), leaving the engine with none. OUT->len is 0
 * and OUT->base NULL when nothing is pending. No copy is made.
 */
void px_tls_take_output(struct px_tls *t, struct px_tls_out *out);

/*
 * Queues close_notify, once the handshake is done and nothing failed (a
 * connection that failed or never finished its handshake closes without
 * it). Does not wait for the peer's. Returns 0, or PX_ETLS.
 */
int px_tls_shutdown(struct px_tls *t);

/* Fills *INFO with what the handshake negotiated. The handshake must be done. */
void px_tls_get_info(const struct px_tls *t, struct px_tls_info *info);

/*
 * Why a client's verification of its peer's certificate failed ("hostname
 * mismatch", "unable to get local issuer certificate"), or NULL when it did
 * not (or was not attempted).
 */
const char *px_tls_verify_error(const struct px_tls *t);

/* Why the engine last failed ("wrong version number"), for logs; "" when it has not. */
const char *px_tls_error(const struct px_tls *t);

#endif
