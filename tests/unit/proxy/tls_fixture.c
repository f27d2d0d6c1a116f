/* TLS test fixtures: see tls_fixture.h. */
#include "tests/unit/proxy/tls_fixture.h"
#include "tests/unit/test.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *tls_fixture_dir(void)
{
    static char dir[4096];

    snprintf(dir, sizeof(dir), "%s/georoute-tls-XXXXXX", test_tmpdir());
    ASSERT_NOT_NULL(mkdtemp(dir));
    return dir;
}

static void write_pem(const char *path, int mode, int (*w)(BIO *, const void *), const void *obj)
{
    BIO *bio = BIO_new_file(path, "w");

    ASSERT_NOT_NULL(bio);
    ASSERT_EQ(w(bio, obj), 1);
    BIO_free(bio);
    ASSERT_OK(chmod(path, (mode_t)mode));
}

static int write_cert(BIO *b, const void *x)
{
    return PEM_write_bio_X509(b, (X509 *)x);
}

static int write_key(BIO *b, const void *k)
{
    return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

void tls_fixture_cert(const char *dir, const char *name, enum tls_fixture_key kind, const char *cn,
                      const char *sans, long from_s, long until_s)
{
    EVP_PKEY *key = kind == TLS_FIXTURE_EC ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
    X509 *x = X509_new();
    X509_NAME *subject = X509_NAME_new();
    char path[4200], san[1024] = "";

    ASSERT_NOT_NULL(key);
    ASSERT_NOT_NULL(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), until_s);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, subject);
    X509_set_issuer_name(x, subject);
    X509_set_pubkey(x, key);
    if (sans[0] != '\0') {
        /* "a,b" -> "DNS:a,DNS:b" */
        char copy[512];
        snprintf(copy, sizeof(copy), "%s", sans);
        for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
            snprintf(san + strlen(san), sizeof(san) - strlen(san), "%sDNS:%s", san[0] ? "," : "",
                     tok);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        ASSERT_NOT_NULL(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    ASSERT(X509_sign(x, key, EVP_sha256()) > 0);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    write_pem(path, 0644, write_cert, x);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    write_pem(path, 0600, write_key, key);
    X509_NAME_free(subject);
    X509_free(x);
    EVP_PKEY_free(key);
}

struct conf *tls_fixture_conf(const char *fmt, ...)
{
    static char yaml[8192], err[8192];
    struct conf *c = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(yaml, sizeof(yaml), fmt, ap);
    va_end(ap);
    if (conf_load_string(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err)) != 0)
        TEST_FAIL_("config refused:\n%s\n---\n%s", err, yaml);
    return c;
}

/*
 * Feeds OUT to TO and lets it consume all of it: the handshake while it
 * runs, then reads (handshake time carries no application data). Returns
 * 1 (handshake done), 0 (more needed) or an error. Frees OUT.
 */
static int pump_into(struct px_tls *to, struct px_tls_out *out)
{
    char scratch[256];
    int rc = 0, n;

    px_tls_feed(to, out->base, out->len);
    if (!px_tls_handshake_done(to))
        rc = px_tls_handshake(to);
    while (rc >= 0 && px_tls_handshake_done(to) &&
           (n = px_tls_read(to, scratch, sizeof(scratch))) != 0)
        rc = n < 0 ? n : rc;
    ASSERT(rc < 0 || px_tls_input_left(to) == 0);
    free(out->base);
    return rc < 0 ? rc : px_tls_handshake_done(to);
}

int tls_fixture_handshake(struct px_tls *c, struct px_tls *s)
{
    int rc = px_tls_handshake(c);

    for (int round = 0; round < 20 && rc >= 0; round++) {
        struct px_tls_out out;
        int sr, cr;

        px_tls_take_output(c, &out);
        sr = pump_into(s, &out);
        px_tls_take_output(s, &out);
        cr = pump_into(c, &out);
        if (sr < 0)
            return sr;
        if (cr < 0)
            return cr;
        if (sr == 1 && cr == 1 && px_tls_pending_output(c) == 0 && px_tls_pending_output(s) == 0)
            return 0;
    }
    return rc < 0 ? rc : -1;
}

long tls_fixture_transfer(struct px_tls *from, struct px_tls *to, void *buf, size_t cap)
{
    struct px_tls_out out;
    size_t got = 0;
    int n = 0;

    px_tls_take_output(from, &out);
    px_tls_feed(to, out.base, out.len);
    while (got < cap && (n = px_tls_read(to, (char *)buf + got, cap - got)) > 0)
        got += (size_t)n;
    ASSERT(n < 0 || px_tls_input_left(to) == 0);
    free(out.base);
    return n < 0 && got == 0 ? n : (long)got;
}

struct ssl_ctx_st *tls_fixture_client_ctx(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());

    ASSERT_NOT_NULL(c);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    ASSERT_EQ(SSL_CTX_set_alpn_protos(c, (const unsigned char *)"\x08http/1.1", 9), 0);
    return c;
}
