/*
 * tls_stream: the TLS transport of a stream (struct px_transport), the
 * engine of proxy/proto/tls.h over the stream's socket, as stream.h and
 * docs/TLS.md describe. It owns, per connection, the engine, one reference
 * to the context the connection started from (a listener's or a backend's,
 * so a reload never pulls it away), the ciphertext read and not decrypted
 * yet, the ciphertext write in flight and an idle handle that delivers the
 * plaintext OpenSSL holds once the owner reads again. The owner only ever
 * sees plaintext in s->in, and hears once when the handshake ends.
 */
#ifndef PX_TLS_STREAM_H
#define PX_TLS_STREAM_H

#include "proxy/data/stream.h"
#include "proxy/proto/tls.h"
#include "proxy/state/tls_ctx.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * The handshake of S ended: STATUS 0 (complete), PX_ETLSPLAIN (a server's
 * peer sent plain HTTP; nothing was answered), PX_ETLS (px_tls_stream_error
 * says why; an alert was sent), PX_ENOMEM or a libuv error. Never runs
 * synchronously from the call that started the stream. A client whose
 * peer's certificate failed verification gets PX_ETLSVERIFY. After an error the
 * owner closes S.
 */
typedef void (*px_tls_stream_cb)(struct px_stream *s, int status);

extern const struct px_transport px_transport_tls;

/*
 * Makes S (initialized, accepted, not reading) a server TLS stream over CTX
 * (takes its own reference). Bytes already in s->in (what followed a PROXY
 * header) are the start of the ClientHello. The handshake runs once the
 * owner calls px_stream_read(S, true). Returns 0 or PX_ENOMEM (S unchanged).
 */
int px_tls_stream_accept(struct px_stream *s, struct px_tls_ctx *ctx,
                         px_tls_stream_cb on_handshake);

/*
 * Makes S (connected) a client TLS stream to a backend of CLI (takes its
 * own reference), verifying HOST (may be NULL: see px_tls_client_prepare),
 * and sends the ClientHello. Returns 0 (ON_HANDSHAKE follows) or an error
 * (PX_ENOMEM, PX_ETLS, a libuv code); the owner closes S as always.
 */
int px_tls_stream_connect(struct px_stream *s, struct px_tls_client *cli, const char *host,
                          px_tls_stream_cb on_handshake);

/* True when S runs over TLS. */
static inline bool px_tls_stream_is(const struct px_stream *s)
{
    return s->tp == &px_transport_tls;
}

/* Fills INFO with what S's handshake negotiated; false when S is not a TLS
 * stream or its handshake is not complete. */
bool px_tls_stream_info(const struct px_stream *s, struct px_tls_info *info);

/* Milliseconds the handshake of S took (0 before it completed). */
uint32_t px_tls_stream_handshake_ms(const struct px_stream *s);

/* Why S's engine last failed, for logs: the verification error of a
 * client ("hostname mismatch"), else the engine's; "" when it has not. */
const char *px_tls_stream_error(const struct px_stream *s);

#endif
