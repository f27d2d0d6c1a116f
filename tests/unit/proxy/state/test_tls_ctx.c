/*
 * Unit tests of proxy/state/tls_ctx.c: certificate checks and their
 * messages, SNI selection, ECDSA and RSA side by side, session tickets and
 * their rotation, shared key files, and upstream contexts.
 */
#include "tests/unit/test.h"
#include "tests/unit/proxy/tls_fixture.h"
#include "proxy/proto/tls.h"
#include "proxy/state/tls_ctx.h"
#include "proxy/base/px.h"

#include <openssl/ssl.h>
#include <sys/stat.h>

#define REGIONS "regions: {r: {backends: [\"127.0.0.1:9000\"]}}\n"

static char err[8192];

/* A server context for a listener with TLS_YAML (the body of its tls mapping). */
static struct px_tls_ctx *server(struct conf **cf, const char *tls_yaml)
{
    struct px_tls_ctx *ctx = NULL;

    *cf = tls_fixture_conf("listen: [{addr: \"127.0.0.1:8443\", tls: {%s}}]\n" REGIONS, tls_yaml);
    err[0] = '\0';
    if (px_tls_ctx_build(*cf, 0, NULL, &ctx, err, sizeof(err)) != 0)
        TEST_FAIL_("build: %s", err);
    return ctx;
}

/*
 * One handshake of a fresh client (SNI may be NULL, SIGALGS limits what it
 * accepts, SESS resumes) against CTX. Returns the handshake result; fills
 * *CN with the served certificate's CN and *SESS with the client's session.
 */
static int connect_once(struct px_tls_ctx *ctx, const char *sni, const char *sigalgs, int max_ver,
                        SSL_SESSION **sess, char *cn, size_t cnlen, bool *resumed)
{
    SSL_CTX *cctx = tls_fixture_client_ctx();
    struct px_tls *c, *s;
    int rc;

    if (max_ver)
        SSL_CTX_set_max_proto_version(cctx, max_ver);
    c = px_tls_new(cctx, PX_TLS_CLIENT);
    s = px_tls_new(px_tls_ctx_ssl(ctx), PX_TLS_SERVER);
    if (sni)
        SSL_set_tlsext_host_name(px_tls_ssl(c), sni);
    if (sigalgs)
        ASSERT_EQ(SSL_set1_sigalgs_list(px_tls_ssl(c), sigalgs), 1);
    if (sess && *sess)
        ASSERT_EQ(SSL_set_session(px_tls_ssl(c), *sess), 1);
    rc = tls_fixture_handshake(c, s);
    if (rc == 0 && cn) {
        X509 *peer = SSL_get1_peer_certificate(px_tls_ssl(c));
        ASSERT_NOT_NULL(peer);
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, (int)cnlen);
        X509_free(peer);
    }
    if (rc == 0 && resumed) {
        struct px_tls_info info;
        px_tls_get_info(s, &info);
        *resumed = info.resumed;
    }
    if (rc == 0 && sess) {
        SSL_SESSION_free(*sess);
        *sess = SSL_get1_session(px_tls_ssl(c));
    }
    px_tls_free(c);
    px_tls_free(s);
    SSL_CTX_free(cctx);
    return rc;
}

static const char *served(struct px_tls_ctx *ctx, const char *sni)
{
    static char cn[64];
    cn[0] = '\0';
    if (connect_once(ctx, sni, NULL, 0, NULL, cn, sizeof(cn), NULL) != 0)
        return "(failed)";
    return cn;
}

TEST(tls_ctx_sni_selects_certificate)
{
    const char *d = tls_fixture_dir();
    struct conf *cf;
    struct px_tls_ctx *ctx;
    char tls[8192];

    tls_fixture_cert(d, "def", TLS_FIXTURE_EC, "default", "default.test", -60, 86400);
    tls_fixture_cert(d, "a", TLS_FIXTURE_EC, "a", "a.example.com,*.w.example.com", -60, 86400);
    tls_fixture_cert(d, "cn", TLS_FIXTURE_EC, "cn.example.com", "", -60, 86400);
    snprintf(tls, sizeof(tls),
             "certificates: [{cert: %s/def.pem, key: %s/def.key}, {cert: %s/a.pem, key: "
             "%s/a.key}, {cert: %s/cn.pem, key: %s/cn.key}]",
             d, d, d, d, d, d);
    ctx = server(&cf, tls);
    ASSERT_STR_EQ(served(ctx, "a.example.com"), "a");
    ASSERT_STR_EQ(served(ctx, "A.Example.COM."), "a");
    ASSERT_STR_EQ(served(ctx, "x.w.example.com"), "a");
    ASSERT_STR_EQ(served(ctx, "w.example.com"), "default");         /* the wildcard needs a label */
    ASSERT_STR_EQ(served(ctx, "y.x.w.example.com"), "default");     /* ... exactly one */
    ASSERT_STR_EQ(served(ctx, "cn.example.com"), "cn.example.com"); /* CN without SAN */
    ASSERT_STR_EQ(served(ctx, "unknown.test"), "default");
    ASSERT_STR_EQ(served(ctx, NULL), "default");
    px_tls_ctx_unref(ctx);
    conf_free(cf);
}

TEST(tls_ctx_strict_sni_refuses_unknown_names)
{
    const char *d = tls_fixture_dir();
    struct conf *cf;
    struct px_tls_ctx *ctx;
    char tls[8192];

    tls_fixture_cert(d, "a", TLS_FIXTURE_EC, "a", "a.example.com", -60, 86400);
    snprintf(tls, sizeof(tls), "certificates: [{cert: %s/a.pem, key: %s/a.key}], strict_sni: true",
             d, d);
    ctx = server(&cf, tls);
    ASSERT_STR_EQ(served(ctx, "a.example.com"), "a");
    ASSERT_STR_EQ(served(ctx, "b.example.com"), "(failed)");
    ASSERT_STR_EQ(served(ctx, NULL), "(failed)");
    px_tls_ctx_unref(ctx);
    conf_free(cf);
}

TEST(tls_ctx_ecdsa_and_rsa_side_by_side)
{
    const char *d = tls_fixture_dir();
    struct conf *cf;
    struct px_tls_ctx *ctx;
    char tls[8192], cn[64];

    tls_fixture_cert(d, "ec", TLS_FIXTURE_EC, "ec", "a.example.com", -60, 86400);
    tls_fixture_cert(d, "rsa", TLS_FIXTURE_RSA, "rsa", "a.example.com", -60, 86400);
    snprintf(tls, sizeof(tls),
             "certificates: [{cert: %s/ec.pem, key: %s/ec.key}, {cert: %s/rsa.pem, key: "
             "%s/rsa.key}]",
             d, d, d, d);
    ctx = server(&cf, tls);
    ASSERT_OK(connect_once(ctx, "a.example.com", "ECDSA+SHA256", 0, NULL, cn, sizeof(cn), NULL));
    ASSERT_STR_EQ(cn, "ec");
    ASSERT_OK(connect_once(ctx, "a.example.com", "RSA-PSS+SHA256:RSA+SHA256", 0, NULL, cn,
                           sizeof(cn), NULL));
    ASSERT_STR_EQ(cn, "rsa");
    ASSERT_OK(connect_once(ctx, "a.example.com", "rsa_pss_rsae_sha256:RSA+SHA256", TLS1_2_VERSION,
                           NULL, cn, sizeof(cn), NULL));
    ASSERT_STR_EQ(cn, "rsa");
    /* TLS 1.0 and 1.1 are refused. */
    ASSERT_NE(connect_once(ctx, "a.example.com", NULL, TLS1_1_VERSION, NULL, NULL, 0, NULL), 0);
    px_tls_ctx_unref(ctx);
    conf_free(cf);
}

/* Resumes with a ticket from a first handshake: RESUMED when it worked. */
static bool resumes(struct px_tls_ctx *first, struct px_tls_ctx *second, int max_ver)
{
    SSL_SESSION *sess = NULL;
    bool resumed = true;

    ASSERT_OK(connect_once(first, NULL, NULL, max_ver, &sess, NULL, 0, &resumed));
    ASSERT(!resumed);
    ASSERT_NOT_NULL(sess);
    ASSERT_OK(connect_once(second, NULL, NULL, max_ver, &sess, NULL, 0, &resumed));
    SSL_SESSION_free(sess);
    return resumed;
}

TEST(tls_ctx_tickets_resume_and_rotate)
{
    const char *d = tls_fixture_dir();
    struct conf *cf;
    struct px_tls_ctx *ctx, *reloaded;
    SSL_SESSION *sess = NULL;
    char tls[8192];
    bool resumed;

    tls_fixture_cert(d, "a", TLS_FIXTURE_EC, "a", "a.example.com", -60, 86400);
    snprintf(tls, sizeof(tls),
             "certificates: [{cert: %s/a.pem, key: %s/a.key}], session_ticket_lifetime: 1h", d, d);
    ctx = server(&cf, tls);
    ASSERT(resumes(ctx, ctx, 0));
    ASSERT(resumes(ctx, ctx, TLS1_2_VERSION));

    /* A ticket from before one rotation resumes (the previous key decrypts), not two. */
    ASSERT_OK(connect_once(ctx, NULL, NULL, 0, &sess, NULL, 0, &resumed));
    ASSERT_EQ(px_tls_ctx_rotate(ctx, px_tls_ctx_next_rotation_ms(ctx) - 1), 0);
    ASSERT_EQ(px_tls_ctx_rotate(ctx, px_tls_ctx_next_rotation_ms(ctx)), 1);
    SSL_SESSION *old = SSL_SESSION_dup(sess);
    ASSERT_OK(connect_once(ctx, NULL, NULL, 0, &sess, NULL, 0, &resumed));
    ASSERT(resumed);
    ASSERT_EQ(px_tls_ctx_rotate(ctx, px_tls_ctx_next_rotation_ms(ctx)), 1);
    ASSERT_OK(connect_once(ctx, NULL, NULL, 0, &old, NULL, 0, &resumed));
    ASSERT(!resumed);
    SSL_SESSION_free(old);
    SSL_SESSION_free(sess);

    /* A reload keeps the keys: tickets from before it resume after it. */
    ASSERT_OK(px_tls_ctx_build(cf, 0, ctx, &reloaded, err, sizeof(err)));
    ASSERT(resumes(ctx, reloaded, 0));
    px_tls_ctx_unref(reloaded);
    px_tls_ctx_unref(ctx);
    conf_free(cf);
}

TEST(tls_ctx_ticket_key_file_is_shared_by_edges)
{
    const char *d = tls_fixture_dir();
    struct conf *cf1, *cf2;
    struct px_tls_ctx *a, *b;
    char tls[8192], path[4200];
    FILE *f;

    tls_fixture_cert(d, "a", TLS_FIXTURE_EC, "a", "a.example.com", -60, 86400);
    snprintf(path, sizeof(path), "%s/ticket.key", d);
    ASSERT_NOT_NULL(f = fopen(path, "w"));
    for (int i = 0; i < 160; i++)
        fputc(i * 37 + 11, f);
    fclose(f);
    ASSERT_OK(chmod(path, 0600));
    snprintf(tls, sizeof(tls),
             "certificates: [{cert: %s/a.pem, key: %s/a.key}], ticket_key_file: %s", d, d, path);
    a = server(&cf1, tls);
    b = server(&cf2, tls);
    ASSERT(resumes(a, b, 0));
    ASSERT(resumes(b, a, TLS1_2_VERSION));
    ASSERT_EQ(px_tls_ctx_next_rotation_ms(a), UINT64_MAX); /* the file's keys never rotate */
    ASSERT_EQ(px_tls_ctx_rotate(a, UINT64_MAX - 1), 0);
    px_tls_ctx_unref(a);
    px_tls_ctx_unref(b);
    conf_free(cf1);
    conf_free(cf2);
}

TEST(tls_ctx_build_reports_every_problem)
{
    const char *d = tls_fixture_dir();
    struct px_tls_ctx *ctx = (void *)1;
    struct conf *cf;
    char p[4200];
    FILE *f;

    tls_fixture_cert(d, "ok", TLS_FIXTURE_EC, "ok", "ok.example.com", -60, 86400);
    tls_fixture_cert(d, "other", TLS_FIXTURE_EC, "other", "o.example.com", -60, 86400);
    tls_fixture_cert(d, "old", TLS_FIXTURE_EC, "old", "old.example.com", -86400, -3600);
    tls_fixture_cert(d, "new", TLS_FIXTURE_EC, "new", "new.example.com", 86400, 2 * 86400);
    snprintf(p, sizeof(p), "%s/ok.key", d);
    ASSERT_OK(chmod(p, 0644));
    snprintf(p, sizeof(p), "%s/notpem.pem", d);
    ASSERT_NOT_NULL(f = fopen(p, "w"));
    fputs("hello\n", f);
    fclose(f);
    cf = tls_fixture_conf("listen:\n"
                          "  - addr: \"127.0.0.1:8443\"\n"
                          "    tls:\n"
                          "      certificates:\n"
                          "        - {cert: %s/missing.pem, key: %s/other.key}\n"
                          "        - {cert: %s/notpem.pem, key: %s/old.key}\n"
                          "        - {cert: %s/old.pem, key: %s/old.key}\n"
                          "        - {cert: %s/new.pem, key: %s/new.key}\n"
                          "        - {cert: %s/ok.pem, key: %s/ok.key}\n"
                          "        - {cert: %s/other.pem, key: %s/new.key}\n"
                          "      ciphers: NOT-A-CIPHER\n" REGIONS,
                          d, d, d, d, d, d, d, d, d, d, d, d);
    ASSERT_EQ(px_tls_ctx_build(cf, 0, NULL, &ctx, err, sizeof(err)), -1);
    ASSERT_NULL(ctx);
    ASSERT_STR_CONTAINS(err, "t.yaml:5:18: listen[0].tls.certificates[0].cert: cannot read '");
    ASSERT_STR_CONTAINS(err, "/missing.pem': No such file or directory");
    ASSERT_STR_CONTAINS(err, "t.yaml:6:18: listen[0].tls.certificates[1].cert: '");
    ASSERT_STR_CONTAINS(err, "/notpem.pem' holds no PEM certificate");
    ASSERT_STR_CONTAINS(err, "t.yaml:7:18: listen[0].tls.certificates[2].cert: certificate '");
    ASSERT_STR_CONTAINS(err, "/old.pem' expired on ");
    ASSERT_STR_CONTAINS(err, "/new.pem' is not valid before ");
    ASSERT_STR_CONTAINS(err, "listen[0].tls.certificates[4].key: '");
    ASSERT_STR_CONTAINS(err, "/ok.key' is readable by every user (mode 0644); chmod 600 it");
    ASSERT_STR_CONTAINS(err, "listen[0].tls.certificates[5].key: key '");
    ASSERT_STR_CONTAINS(err, "/new.key' does not match certificate '");
    ASSERT_STR_CONTAINS(err, "t.yaml:11:16: listen[0].tls.ciphers: OpenSSL refuses 'NOT-A-CIPHER'");
    conf_free(cf);

    /* A group-readable key is a warning: the context builds, the warning is reported. */
    snprintf(p, sizeof(p), "%s/other.key", d);
    ASSERT_OK(chmod(p, 0640));
    /* Block style: the key's column must not depend on how long the directory's name is. */
    cf = tls_fixture_conf("listen:\n"
                          "  - addr: \"127.0.0.1:8443\"\n"
                          "    tls:\n"
                          "      certificates:\n"
                          "        - cert: %s/other.pem\n"
                          "          key: %s/other.key\n" REGIONS,
                          d, d);
    err[0] = '\0';
    ASSERT_OK(px_tls_ctx_build(cf, 0, NULL, &ctx, err, sizeof(err)));
    ASSERT_STR_CONTAINS(err, "t.yaml:6:16: warning: listen[0].tls.certificates[0].key: '");
    ASSERT_STR_CONTAINS(err, "/other.key' is readable by its group (mode 0640)");
    px_tls_ctx_unref(ctx);
    conf_free(cf);
}

TEST(tls_client_verifies_the_backend)
{
    const char *d = tls_fixture_dir();
    struct conf *scf, *ccf;
    struct px_tls_ctx *sctx;
    struct px_tls_client *cl;
    char tls[8192];

    tls_fixture_cert(d, "a", TLS_FIXTURE_EC, "a", "a.example.com", -60, 86400);
    snprintf(tls, sizeof(tls), "certificates: [{cert: %s/a.pem, key: %s/a.key}]", d, d);
    sctx = server(&scf, tls);
    ccf = tls_fixture_conf("listen: \"127.0.0.1:8080\"\n"
                           "regions: {r: {tls: {ca: %s/a.pem}, backends: [\"127.0.0.1:9000\", "
                           "{addr: \"127.0.0.1:9001\", tls: {sni: b.example.com}}]}}\n",
                           d);
    for (size_t b = 0; b < 2; b++) {
        ASSERT_OK(px_tls_client_build(ccf, 0, b, &cl, err, sizeof(err)));
        for (int round = 0; round < 3; round++) {
            struct px_tls *c = px_tls_new(px_tls_client_ssl(cl), PX_TLS_CLIENT);
            struct px_tls *s = px_tls_new(px_tls_ctx_ssl(sctx), PX_TLS_SERVER);
            struct px_tls_info info;

            ASSERT_OK(px_tls_client_prepare(cl, px_tls_ssl(c), "a.example.com"));
            if (b == 1) {
                /* Backend 1 is to be b.example.com; the certificate says a. */
                ASSERT_EQ(tls_fixture_handshake(c, s), PX_ETLS);
                ASSERT_STR_CONTAINS(px_tls_error(c), "certificate verify failed");
            } else {
                ASSERT_OK(tls_fixture_handshake(c, s));
                px_tls_get_info(s, &info);
                ASSERT_STR_EQ(info.sni, "a.example.com");
                /* The first connection is full; each later one resumes the ticket the one
                 * before it got, TLS 1.3 tickets being used once. */
                ASSERT_EQ(info.resumed, round > 0);
            }
            px_tls_free(c);
            px_tls_free(s);
        }
        px_tls_client_unref(cl);
    }
    px_tls_ctx_unref(sctx);
    conf_free(scf);
    conf_free(ccf);
}
