/*
 * tls: a TLS connection over a BIO of our own. The BIO reads straight from
 * the caller's borrowed input span and writes into one growing output
 * buffer that the caller takes whole, so the only copies are OpenSSL's
 * (decrypting into the caller's buffer, encrypting into ours). With
 * SSL_MODE_RELEASE_BUFFERS on the context and no output pending, an idle
 * connection holds only the SSL object and its session.
 */
#include "proxy/proto/tls.h"
#include "proxy/base/px.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define OUT_MIN_BYTES 4096u       /* first output allocation */
#define RECORD_PAYLOAD_MAX 16384u /* TLS plaintext per record */
#define RECORD_OVERHEAD 64u       /* header, tag, padding: generous for every AEAD suite */

struct px_tls {
    SSL *ssl;                /* owned; owns the BIO */
    const uint8_t *in;       /* borrowed; ciphertext fed and not read yet */
    size_t in_len;           /* bytes at in */
    uint8_t *out;            /* owned; ciphertext to send */
    size_t out_len;          /* bytes used at out */
    size_t out_cap;          /* bytes allocated at out */
    size_t hs_in;            /* ciphertext read before the handshake completed */
    const char *why;         /* static; reason of the last failure, "" when none */
    unsigned server : 1;     /* accepts */
    unsigned started : 1;    /* some input was read: no more plain-HTTP sniffing */
    unsigned done : 1;       /* handshake complete */
    unsigned failed : 1;     /* a fatal error: no close_notify, no more I/O */
    unsigned too_big : 1;    /* handshake input over PX_TLS_HANDSHAKE_MAX_BYTES */
    unsigned out_failed : 1; /* the output buffer could not grow */
};

/* ---- the BIO ---- */

/*
 * The BIO method is made once per process and never changes after: a
 * pthread_once constant rather than per-engine state.
 */
static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int on_bio_read(BIO *b, char *buf, int len)
{
    struct px_tls *t = BIO_get_data(b);
    size_t n = t->in_len < (size_t)len ? t->in_len : (size_t)len;

    BIO_clear_retry_flags(b);
    if (!t->done) {
        /* A handshake is a few KiB; more is an attack on our memory or CPU. */
        if (t->hs_in + n > PX_TLS_HANDSHAKE_MAX_BYTES) {
            t->too_big = 1;
            return -1;
        }
        t->hs_in += n;
    }
    if (n == 0) {
        BIO_set_retry_read(b);
        return -1;
    }
    memcpy(buf, t->in, n);
    t->in += n;
    t->in_len -= n;
    t->started = 1;
    return (int)n;
}

/* Makes room for N more output bytes. 0, or PX_ENOMEM. */
static int out_reserve(struct px_tls *t, size_t n)
{
    size_t cap = t->out_cap ? t->out_cap : OUT_MIN_BYTES;
    uint8_t *grown;

    if (t->out_len + n <= t->out_cap)
        return 0;
    while (cap < t->out_len + n)
        cap *= 2;
    if ((grown = realloc(t->out, cap)) == NULL)
        return PX_ENOMEM;
    t->out = grown;
    t->out_cap = cap;
    return 0;
}

static int on_bio_write(BIO *b, const char *buf, int len)
{
    struct px_tls *t = BIO_get_data(b);

    BIO_clear_retry_flags(b);
    if (out_reserve(t, (size_t)len) != 0) {
        t->out_failed = 1;
        return -1;
    }
    memcpy(t->out + t->out_len, buf, (size_t)len);
    t->out_len += (size_t)len;
    return len;
}

static long on_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    /* Output is only buffered, so a flush has nothing to do and always succeeds. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int on_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void make_bio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "georoute");

    if (m != NULL &&
        (BIO_meth_set_read(m, on_bio_read) != 1 || BIO_meth_set_write(m, on_bio_write) != 1 ||
         BIO_meth_set_ctrl(m, on_bio_ctrl) != 1 || BIO_meth_set_create(m, on_bio_create) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    bio_method = m;
}

/* ---- the engine ---- */

/* See tls.h. */
struct px_tls *px_tls_new(struct ssl_ctx_st *ctx, enum px_tls_role role)
{
    struct px_tls *t;
    BIO *bio;

    if (pthread_once(&bio_once, make_bio_method) != 0 || bio_method == NULL)
        return NULL;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return NULL;
    t->why = "";
    t->server = role == PX_TLS_SERVER;
    if ((t->ssl = SSL_new(ctx)) == NULL || (bio = BIO_new(bio_method)) == NULL) {
        ERR_clear_error();
        px_tls_free(t);
        return NULL;
    }
    BIO_set_data(bio, t);
    SSL_set_bio(t->ssl, bio, bio); /* one reference, taken by both directions */
    if (t->server)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    return t;
}

/* See tls.h. */
void px_tls_free(struct px_tls *t)
{
    if (t == NULL)
        return;
    /* OpenSSL marks the session of a connection freed without close_notify as
     * not resumable. A connection closed on purpose (idle, pooled, timed out)
     * did nothing wrong, so its session stays good, as nginx's quiet
     * shutdown keeps it; one that failed loses it. */
    if (t->ssl != NULL && t->done && !t->failed)
        SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(t->ssl);
    free(t->out);
    free(t);
}

/* See tls.h. */
struct ssl_st *px_tls_ssl(struct px_tls *t)
{
    return t->ssl;
}

/* See tls.h. */
void px_tls_feed(struct px_tls *t, const void *data, size_t len)
{
    t->in = data;
    t->in_len = len;
}

/* See tls.h. */
size_t px_tls_input_left(const struct px_tls *t)
{
    return t->in_len;
}

/* A server's first bytes are a request line ("GET / HTTP/1.1"), not a TLS record. */
static bool is_plain_http(const struct px_tls *t)
{
    return t->server && !t->started && t->in_len > 0 && t->in[0] >= 'A' && t->in[0] <= 'Z';
}

/*
 * Classifies the failure of an SSL call that returned RET: 0 when it only
 * wants input, else a px_err with t->why set. OpenSSL's thread-local error
 * queue is left empty either way.
 *
 * SSL_get_error() needs that queue empty before the call it classifies.
 * Every function here leaves it empty (the handshake clears it before and
 * after, and so does this), and so does the only other OpenSSL code a
 * worker runs (state/tls_ctx.c: its callbacks run inside the handshake,
 * px_tls_client_prepare clears), so reads and writes skip the clearing:
 * ERR_clear_error() costs
 * about 390 instructions (it initializes and looks up thread state), two
 * per request were 2% of a 100-byte HTTPS request's user time.
 */
static int failure(struct px_tls *t, int ret)
{
    int e = SSL_get_error(t->ssl, ret);
    unsigned long code;

    if (e == SSL_ERROR_WANT_READ && !t->too_big && !t->out_failed)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN)
        return PX_ETLSCLOSED;
    code = ERR_peek_error();
    if (t->out_failed)
        t->why = "out of memory";
    else if (t->too_big)
        t->why = "handshake larger than 64 KiB";
    else if (code != 0 && ERR_reason_error_string(code) != NULL)
        t->why = ERR_reason_error_string(code);
    else
        t->why = e == SSL_ERROR_SYSCALL ? "unexpected end of input" : "protocol error";
    ERR_clear_error();
    t->failed = 1;
    return t->out_failed ? PX_ENOMEM : PX_ETLS;
}

/* See tls.h. */
int px_tls_handshake(struct px_tls *t)
{
    int ret;

    if (t->done)
        return 1;
    if (t->failed)
        return PX_ETLS;
    if (is_plain_http(t))
        return PX_ETLSPLAIN;
    ERR_clear_error();
    ret = SSL_do_handshake(t->ssl);
    if (ret == 1) {
        /* Callbacks (tickets, SNI) may leave entries behind on success. */
        ERR_clear_error();
        t->done = 1;
        return 1;
    }
    return failure(t, ret);
}

/* See tls.h. */
bool px_tls_handshake_done(const struct px_tls *t)
{
    return t->done;
}

/* See tls.h. */
int px_tls_read(struct px_tls *t, void *buf, size_t cap)
{
    size_t n = 0;
    int rc;

    if (!t->done && (rc = px_tls_handshake(t)) != 1)
        return rc;
    if (t->failed)
        return PX_ETLS;
    /* Nothing fed, nothing buffered and no close_notify already read (it
     * can arrive with the last record): SSL_read would only say it wants
     * input. Answering that here saves a read attempt, and its error-queue
     * work, on every request once the last record has been read. */
    if (t->in_len == 0 && !SSL_has_pending(t->ssl) &&
        !(SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN))
        return 0;
    if (cap > INT_MAX)
        cap = INT_MAX;
    if (SSL_read_ex(t->ssl, buf, cap, &n) == 1)
        return (int)n;
    return failure(t, 0);
}

/* See tls.h. */
int px_tls_write(struct px_tls *t, const void *data, size_t len)
{
    size_t records = len / RECORD_PAYLOAD_MAX + 1, n = 0;

    PX_ASSERT(t->done);
    if (t->failed)
        return PX_ETLS;
    if (len == 0)
        return 0;
    /* One allocation for all the records this write makes. */
    if (out_reserve(t, len + records * RECORD_OVERHEAD) != 0)
        return PX_ENOMEM;
    if (SSL_write_ex(t->ssl, data, len, &n) == 1 && n == len)
        return 0;
    return failure(t, 0) == PX_ENOMEM ? PX_ENOMEM : PX_ETLS;
}

/* See tls.h. */
size_t px_tls_pending_output(const struct px_tls *t)
{
    return t->out_len;
}

/* See tls.h. */
void px_tls_take_output(struct px_tls *t, struct px_tls_out *out)
{
    out->base = t->out_len ? t->out : NULL;
    out->len = t->out_len;
    if (t->out_len == 0)
        return;
    /* The buffer leaves with the write, so an idle engine holds none. */
    t->out = NULL;
    t->out_len = t->out_cap = 0;
}

/* See tls.h. */
int px_tls_shutdown(struct px_tls *t)
{
    int ret;

    if (!t->done || t->failed)
        return 0;
    ERR_clear_error();
    ret = SSL_shutdown(t->ssl);
    if (ret >= 0)
        return 0;
    return failure(t, ret) == 0 ? 0 : PX_ETLS;
}

/* See tls.h. */
void px_tls_get_info(const struct px_tls *t, struct px_tls_info *info)
{
    memset(info, 0, sizeof(*info));
    info->version = SSL_get_version(t->ssl);
    info->cipher = SSL_get_cipher_name(t->ssl);
    info->sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
    SSL_get0_alpn_selected(t->ssl, &info->alpn, &info->alpn_len);
    if (info->alpn_len == 0)
        info->alpn = NULL;
    info->resumed = SSL_session_reused(t->ssl) == 1;
}

/* See tls.h. */
const char *px_tls_error(const struct px_tls *t)
{
    return t->why;
}

/* See tls.h. */
const char *px_tls_verify_error(const struct px_tls *t)
{
    long v = SSL_get_verify_result(t->ssl);
    return t->server || v == X509_V_OK ? NULL : X509_verify_cert_error_string(v);
}
