/*
 * probe: one active health check of one backend: a TCP connect, or an HTTP
 * GET whose status must fall in the configured range. It owns its socket
 * and timer and frees itself after reporting. RTT is the connect time for
 * TCP and request-to-first-byte for HTTP (a user-space link emulator can
 * delay data but not the handshake, and so can a congested border).
 */
#ifndef PX_PROBE_H
#define PX_PROBE_H

#include "conf/conf.h"
#include "proxy/state/tls_ctx.h"

#include <sys/socket.h>
#include <uv.h>

/*
 * Result of a probe: ERR is 0 on success, a libuv error, PX_ETIMEOUT,
 * PX_EPARSE (bad status line, or a status outside `expect`), PX_ETLSVERIFY
 * (the backend's certificate failed verification) or PX_ETLS. RTT_MS is
 * valid when ERR is 0. STATUS is the HTTP status seen, or 0.
 */
typedef void (*px_probe_cb)(void *data, int err, double rtt_ms, int status);

struct px_probe;

/*
 * Starts a probe of the backend at SA with settings CFG (borrowed until the
 * callback). HOST is the Host header when CFG names none. With TLS (may be
 * NULL: plain) the probe speaks TLS as the data plane does, verifying
 * TLS_HOST (NULL: the address; see px_tls_client_prepare). Returns the probe,
 * or NULL with *err set; CB is then never called. CB is never called
 * synchronously.
 */
struct px_probe *px_probe_start(uv_loop_t *loop, const struct conf_probe *cfg,
                                const struct sockaddr *sa, const char *host,
                                struct px_tls_client *tls, const char *tls_host, px_probe_cb cb,
                                void *data, int *err);

/*
 * Result of a bulk probe: ERR is 0 when a 2xx response's body was read to
 * the wanted size, to its end, or until the probe timeout (then what was
 * read counts); BODY_BYTES were read in BODY_MS from the end of the head to
 * the last byte.
 */
typedef void (*px_probe_bulk_cb)(void *data, int err, uint64_t body_bytes, double body_ms);

/*
 * Starts a bulk probe (CFG->bulk: GET bulk.path with a Range for
 * bulk.bytes, reading that much body) of the backend at SA, as
 * px_probe_start otherwise (TLS, Host, timeout = CFG->timeout_ms). It only
 * measures: a goodput sample for px_health_transfer, never health.
 */
struct px_probe *px_probe_start_bulk(uv_loop_t *loop, const struct conf_probe *cfg,
                                     const struct sockaddr *sa, const char *host,
                                     struct px_tls_client *tls, const char *tls_host,
                                     px_probe_bulk_cb cb, void *data, int *err);

/* Stops P without calling its callback; P frees itself. */
void px_probe_cancel(struct px_probe *p);

#endif
