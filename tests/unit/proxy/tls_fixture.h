/*
 * TLS test fixtures (tests/unit/proxy/tls_fixture.c): certificates made with
 * the OpenSSL API into a temporary directory, a config naming them, and a
 * pump that carries ciphertext between two engines in one process.
 */
#ifndef TESTS_UNIT_PROXY_TLS_FIXTURE_H
#define TESTS_UNIT_PROXY_TLS_FIXTURE_H

#include "conf/conf.h"
#include "proxy/proto/tls.h"

#include <stddef.h>

enum tls_fixture_key { TLS_FIXTURE_EC, TLS_FIXTURE_RSA };

/*
 * Creates a fresh directory under test_tmpdir(), removed with it by the
 * runner when the test ends. The name is in static storage: the next call
 * overwrites it.
 */
const char *tls_fixture_dir(void);

/*
 * Writes DIR/NAME.pem (a self-signed certificate) and DIR/NAME.key (mode
 * 0600). SANS is a comma-separated list of DNS names, "" for none (then CN
 * is the only name). Valid from now + FROM_S to now + UNTIL_S seconds.
 */
void tls_fixture_cert(const char *dir, const char *name, enum tls_fixture_key kind, const char *cn,
                      const char *sans, long from_s, long until_s);

/* Loads YAML (printf-style) as "t.yaml", failing the test on any error. Caller frees. */
struct conf *tls_fixture_conf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Carries output between client C and server S until neither produces more
 * (session tickets included). Returns 0 when both handshakes completed, else the
 * first error either side returned.
 */
int tls_fixture_handshake(struct px_tls *c, struct px_tls *s);

/*
 * Moves FROM's pending output to TO and reads what it decrypts into BUF
 * (CAP bytes, which must be enough for all of it). Returns the bytes read,
 * or the error TO returned before any.
 */
long tls_fixture_transfer(struct px_tls *from, struct px_tls *to, void *buf, size_t cap);

/* A plain client SSL_CTX trusting nothing (tests look at what they got, not at trust). */
struct ssl_ctx_st *tls_fixture_client_ctx(void);

#endif
