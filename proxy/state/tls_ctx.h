/*
 * tls_ctx: the TLS contexts connections start from, built from the config
 * and immutable once built, shared by every worker through a reference
 * count (like snapshots).
 *
 * A server context belongs to one TLS listener: an SSL_CTX per set of
 * certificates that serve the same names (an ECDSA and an RSA certificate
 * for the same names share one, and OpenSSL picks what the client supports),
 * the SNI table that picks among them, ALPN, and the session ticket keys.
 * The ticket keys are the one mutable part: the control thread rotates them
 * by publishing a new key set with an atomic store; handshakes on worker
 * threads read it with one atomic load. A retired key set is freed one
 * rotation later (at least a minute), when no handshake can still hold it.
 *
 * A client context belongs to one backend with `tls`: its SSL_CTX (CA
 * store, client certificate), the name to send and verify, and one session
 * slot so that new connections to the backend resume.
 *
 * Connections hold a reference to the context they started from for their
 * whole life: the callbacks OpenSSL runs during a handshake reach the
 * context through the SSL_CTX. A reload builds new contexts; the old ones
 * live until their last connection closes.
 */
#ifndef PX_TLS_CTX_H
#define PX_TLS_CTX_H

#include "conf/conf.h"

#include <stddef.h>
#include <stdint.h>

struct ssl_ctx_st;
struct ssl_st;
struct px_tls_ctx;
struct px_tls_client;

/*
 * Builds the server context of CF's listener LISTENER (which has tls
 * enabled), checking every certificate and key: readable, PEM, the key
 * matching its certificate, the certificate within its validity dates, the
 * key not readable by other users (world-readable: an error; group-readable:
 * a warning), and the cipher list, groups and ticket key file OpenSSL must
 * accept. Every problem is reported, not only the first, as lines
 * "FILE:LINE:COL: listen[i].tls...: message" appended to ERR (ERRLEN bytes,
 * kept NUL-terminated), warnings as "FILE:LINE:COL: warning: ...".
 *
 * PREV (may be NULL) is the listener's context before a reload: when
 * neither loads its ticket keys from a file, the new context shares PREV's
 * keys, so tickets issued before the reload still resume.
 *
 * Returns 0 and a context with one reference in *OUT (ERR may then hold
 * warnings), -1 when anything was reported as an error (*OUT NULL), or
 * PX_ENOMEM. Used by --check, start and reload alike. Control/main thread.
 */
int px_tls_ctx_build(const struct conf *cf, size_t listener, struct px_tls_ctx *prev,
                     struct px_tls_ctx **out, char *err, size_t errlen);

/* Takes one more reference on CTX and returns it. Any thread. */
struct px_tls_ctx *px_tls_ctx_ref(struct px_tls_ctx *ctx);

/* Drops one reference; the last frees the context. Accepts NULL. Any thread. */
void px_tls_ctx_unref(struct px_tls_ctx *ctx);

/*
 * Returns the number of CTX's certificates, in the listener's config order,
 * and in *NOT_AFTER (borrowed, lives with CTX) when each expires, in unix
 * seconds (0 = unreadable). For /metrics.
 */
size_t px_tls_ctx_certs(const struct px_tls_ctx *ctx, const int64_t **not_after);

/* Returns the SSL_CTX a new connection of this listener starts from (borrowed). */
struct ssl_ctx_st *px_tls_ctx_ssl(const struct px_tls_ctx *ctx);

/*
 * Rotates the ticket keys when they are due at NOW_MS (a fresh key encrypts
 * new tickets, the previous one still decrypts). Keys loaded from a file
 * never rotate. Returns 1 when it rotated, 0 when nothing was due, or
 * PX_ENOMEM (the old keys stay). Control thread only.
 */
int px_tls_ctx_rotate(struct px_tls_ctx *ctx, uint64_t now_ms);

/* Returns when the next rotation is due (monotonic ms), or UINT64_MAX for never. */
uint64_t px_tls_ctx_next_rotation_ms(const struct px_tls_ctx *ctx);

/*
 * Builds the client context of backend B of region R for upstream TLS (B's
 * tls is enabled): CA store (ca, or the system's), verification (chain and
 * name, unless verify is off), client certificate. Problems are reported as
 * px_tls_ctx_build does. Returns 0 and a context with one reference in
 * *OUT, -1 when anything was reported (*OUT NULL), or PX_ENOMEM.
 */
int px_tls_client_build(const struct conf *cf, size_t region, size_t backend,
                        struct px_tls_client **out, char *err, size_t errlen);

struct px_tls_client *px_tls_client_ref(struct px_tls_client *c);

/* Drops one reference; the last frees the context and its session. Accepts NULL. */
void px_tls_client_unref(struct px_tls_client *c);

/*
 * Prepares SSL (made from px_tls_client_ssl(C)) for a connection to the
 * backend: SNI and the name to verify (HOST when the config names none; a
 * numeric HOST is verified as an IP address and not sent as SNI), and the
 * last session the backend gave, to resume. HOST may be NULL. Sessions are
 * kept by the context itself as the backend issues them (one slot, behind
 * a short lock taken once per new upstream connection, never per request).
 * Returns 0 or PX_ENOMEM. Any worker thread.
 */
int px_tls_client_prepare(struct px_tls_client *c, struct ssl_st *ssl, const char *host);

/* Returns the SSL_CTX upstream connections to this backend start from (borrowed). */
struct ssl_ctx_st *px_tls_client_ssl(const struct px_tls_client *c);

#endif
