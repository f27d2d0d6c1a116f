/*
 * libFuzzer target: a server TLS engine (proxy/proto/tls.c) over the
 * listener context px_tls_ctx_build makes (SNI, ALPN, tickets included),
 * fed hostile records. The first input byte chooses how the rest is cut
 * into feeds, so records split across reads are covered. Besides memory
 * safety: reads return only data, 0, or a TLS status; a drained engine has
 * consumed all it was fed; nothing works after a failure.
 *
 * The certificate (tests/fuzz/tls_server_cert.pem, P-256, self-signed, for
 * fuzz.example and *.fuzz.example) and its key are test material made
 * once with openssl; the key protects nothing.
 */
#include "conf/conf.h"
#include "proxy/base/px.h"
#include "proxy/proto/tls.h"
#include "proxy/state/tls_ctx.h"
#include "tests/fuzz/fuzz_common.h"

#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The committed PEM files; make fuzz runs the targets from the repository root. */
#define FUZZ_TLS_CERT "tests/fuzz/tls_server_cert.pem"
#define FUZZ_TLS_KEY "tests/fuzz/tls_server_key.pem"

static struct px_tls_ctx *ctx;

/* Copies SRC to DIR/NAME with MODE: git does not keep a key's 0600. */
static void copy_file(const char *src, const char *dir, const char *name, mode_t mode)
{
    char path[4200], buf[8192];
    FILE *in = fopen(src, "rb"), *out;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    out = fopen(path, "wb");
    FUZZ_CHECK(in != NULL && out != NULL);
    n = fread(buf, 1, sizeof(buf), in);
    FUZZ_CHECK(fwrite(buf, 1, n, out) == n);
    fclose(in);
    fclose(out);
    FUZZ_CHECK(chmod(path, mode) == 0);
}

static void remove_dir(const char *dir)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    unlink(path);
    rmdir(dir);
}

static void setup(void)
{
    static char dir[4096], yaml[9216], err[4096];
    const char *tmp = getenv("TMPDIR");
    struct conf *cf;
    int len, rc;

    snprintf(dir, sizeof(dir), "%s/fuzz-tls-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    copy_file(FUZZ_TLS_CERT, dir, "cert.pem", 0644);
    copy_file(FUZZ_TLS_KEY, dir, "key.pem", 0600);
    len = snprintf(yaml, sizeof(yaml),
                   "listen: [{addr: \"127.0.0.1:8443\", tls: {certificates: "
                   "[{cert: %s/cert.pem, key: %s/key.pem}]}}]\n"
                   "regions: {r: {backends: [\"127.0.0.1:9\"]}}\n",
                   dir, dir);
    rc = conf_load_string(yaml, (size_t)len, "fuzz.yaml", &cf, err, sizeof(err));
    if (rc == 0 && (rc = px_tls_ctx_build(cf, 0, NULL, &ctx, err, sizeof(err))) != 0)
        conf_free(cf);
    /* The context holds the certificate and key once built: the copies go
     * now, before any input runs, as a crash later would leave them behind. */
    remove_dir(dir);
    if (rc != 0) {
        fprintf(stderr, "fuzz_tls_server: %s\n", err);
        abort();
    }
    conf_free(cf); /* the context keeps nothing of the conf */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct px_tls *t;
    struct px_tls_out out;
    uint32_t seed;
    char buf[4096];
    bool failed = false;

    if (ctx == NULL)
        setup();
    if (size == 0)
        return 0;
    seed = data[0] | 1u;
    data++, size--;
    t = px_tls_new(px_tls_ctx_ssl(ctx), PX_TLS_SERVER);
    FUZZ_CHECK(t != NULL);
    while (size > 0 && !failed) {
        size_t n = (seed & 1) ? size : 1 + fuzz_rand(&seed) % size;
        /* An exact-size copy, so ASan sees any read past the feed. */
        uint8_t *chunk = malloc(n);
        int rc;

        FUZZ_CHECK(chunk != NULL);
        memcpy(chunk, data, n);
        px_tls_feed(t, chunk, n);
        while ((rc = px_tls_read(t, buf, sizeof(buf))) > 0)
            FUZZ_CHECK((size_t)rc <= sizeof(buf));
        FUZZ_CHECK(rc == 0 || rc == PX_ETLS || rc == PX_ETLSPLAIN || rc == PX_ETLSCLOSED ||
                   rc == PX_ENOMEM);
        if (rc == 0)
            FUZZ_CHECK(px_tls_input_left(t) == 0);
        if (rc == PX_ETLS) {
            FUZZ_CHECK(px_tls_read(t, buf, sizeof(buf)) == PX_ETLS);
            FUZZ_CHECK(px_tls_error(t)[0] != '\0');
        }
        failed = rc < 0;
        px_tls_take_output(t, &out);
        FUZZ_CHECK((out.len == 0) == (out.base == NULL));
        free(out.base);
        free(chunk);
        data += n, size -= n;
    }
    if (px_tls_handshake_done(t)) {
        FUZZ_CHECK(px_tls_shutdown(t) == 0 || failed);
        px_tls_take_output(t, &out);
        free(out.base);
    }
    px_tls_free(t);
    return 0;
}
