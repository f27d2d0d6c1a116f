/*
 * tls_ctx: building server and client TLS contexts from the config, SNI
 * selection, ALPN, and the session ticket keys and their rotation. The only
 * mutable state after a build is the ticket key set pointer (atomic; written
 * by the control thread) and a client context's session slot (a mutex,
 * taken once per new upstream connection).
 */
#include "proxy/state/tls_ctx.h"
#include "proxy/base/px.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PEM_FILE_MAX (1u << 20) /* a certificate chain or key file larger than this is refused */
#define NAME_MAX_BYTES 255      /* longest DNS name matched */
#define TICKET_KEY_BYTES 80     /* nginx ssl_session_ticket_key: name, HMAC key, AES key */
#define TICKET_KEYS_MAX 8       /* keys in a ticket key file */
#define KEY_BYTES 128           /* a key path in messages, "listen[0].tls" */
#define SUBKEY_BYTES 192        /* a key path below it, "listen[0].tls.certificates[1].cert" */
#define CLIENT_CERT_LIST_MAX (100u * 1024) /* longest certificate chain a backend may send */

/* Mozilla "intermediate": forward secrecy and AEAD only (TLS 1.3 suites are OpenSSL's). */
#define DEFAULT_CIPHERS                                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_GROUPS "X25519:prime256v1:secp384r1"

/* ---- ticket keys ---- */

struct ticket_key {
    unsigned char name[16];     /* sent in the ticket: finds the key that decrypts it */
    unsigned char hmac_key[32]; /* HMAC-SHA256 over the ticket */
    unsigned char aes_key[32];  /* AES-256-CBC */
};

/* Immutable once published. keys[0] encrypts new tickets; every key decrypts. */
struct ticket_keyset {
    size_t nkeys;
    struct ticket_key keys[TICKET_KEYS_MAX];
};

/*
 * The keys of one listener, shared by its contexts across reloads so that a
 * reload does not invalidate tickets. Only the control thread writes
 * current, retired, lifetime_ms and rotated_ms.
 */
struct ticket_ring {
    atomic_uint refs;
    _Atomic(struct ticket_keyset *) current; /* owned; read by handshakes on any worker */
    struct ticket_keyset *retired;           /* owned; replaced at the last rotation */
    uint64_t lifetime_ms;                    /* rotation period; 0 = tickets off */
    uint64_t rotated_ms;                     /* monotonic time of the last rotation */
    bool from_file;                          /* keys from ticket_key_file: never rotated */
};

static void keyset_free(struct ticket_keyset *ks)
{
    if (ks == NULL)
        return;
    OPENSSL_cleanse(ks, sizeof(*ks));
    free(ks);
}

static void ring_unref(struct ticket_ring *r)
{
    if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    keyset_free(atomic_load(&r->current));
    keyset_free(r->retired);
    free(r);
}

static struct ticket_ring *ring_new(struct ticket_keyset *ks, uint64_t lifetime_ms, bool from_file)
{
    struct ticket_ring *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    atomic_init(&r->refs, 1);
    atomic_init(&r->current, ks);
    r->lifetime_ms = lifetime_ms;
    r->rotated_ms = px_now_ms();
    r->from_file = from_file;
    return r;
}

/* A key set of one fresh random key followed by PREV's first key (if any). NULL on failure. */
static struct ticket_keyset *keyset_random(const struct ticket_keyset *prev)
{
    struct ticket_keyset *ks = calloc(1, sizeof(*ks));

    if (ks == NULL)
        return NULL;
    if (RAND_bytes((unsigned char *)&ks->keys[0], sizeof(ks->keys[0])) != 1) {
        keyset_free(ks);
        return NULL;
    }
    ks->nkeys = 1;
    if (prev != NULL && prev->nkeys > 0)
        ks->keys[ks->nkeys++] = prev->keys[0];
    return ks;
}

/* ---- contexts ---- */

/* One name a certificate serves, and the SSL_CTX that holds it. */
struct sni_entry {
    char *name;       /* owned; lower case; a wildcard is stored without its "*." */
    SSL_CTX *ssl_ctx; /* borrowed from px_tls_ctx.sets */
    size_t order;     /* index of the set: the first set listing a name wins */
};

struct px_tls_ctx {
    atomic_uint refs;
    SSL_CTX **sets; /* owned, nsets; sets[0] is the default and the one to start from */
    size_t nsets;
    struct sni_entry *exact; /* owned, nexact, sorted by name */
    size_t nexact;
    struct sni_entry *wild; /* owned, nwild, sorted by name ("example.com" for *.example.com) */
    size_t nwild;
    bool strict_sni;        /* unknown or missing SNI: unrecognized_name alert */
    unsigned char alpn[32]; /* ALPN protocols offered, in wire format */
    size_t alpn_len;
    EVP_CIPHER *ticket_cipher;             /* owned; AES-256-CBC, fetched once */
    struct ticket_ring *ring;              /* one reference owned; NULL when tickets are off */
    int64_t not_after[CONF_TLS_CERTS_MAX]; /* each certificate's expiry, unix seconds */
    size_t ncerts;                         /* of the listener's certificates, in config order */
};

/* What a build reports into, and where. */
struct report {
    const char *file; /* borrowed; config file name */
    char *err;        /* borrowed; caller's buffer */
    size_t errlen;
    unsigned nerrors;
};

__attribute__((format(printf, 5, 6))) static void
say(struct report *r, struct conf_pos pos, bool warning, const char *key, const char *fmt, ...)
{
    size_t used = strnlen(r->err, r->errlen);
    va_list ap;

    r->nerrors += !warning;
    if (used + 1 >= r->errlen)
        return;
    if (used > 0 && r->err[used - 1] != '\n')
        r->err[used++] = '\n';
    snprintf(r->err + used, r->errlen - used, "%s:%u:%u: %s%s: ", r->file, pos.line, pos.col,
             warning ? "warning: " : "", key);
    used = strnlen(r->err, r->errlen);
    va_start(ap, fmt);
    vsnprintf(r->err + used, r->errlen - used, fmt, ap);
    va_end(ap);
}

/* The reason of OpenSSL's oldest queued error ("no start line"), and an empty queue after. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return why ? why : "unknown OpenSSL error";
}

/*
 * Reads file PATH (at most PEM_FILE_MAX bytes) into a BIO and its mode into
 * *MODE. Returns the BIO, or NULL with a message in WHY.
 */
static BIO *read_file(const char *path, mode_t *mode, char *why, size_t whylen)
{
    struct stat st;
    char *buf = NULL;
    ssize_t got;
    size_t len = 0;
    BIO *bio = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        snprintf(why, whylen, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "cannot read '%s': not a regular file", path);
        goto out;
    }
    if (st.st_size > (off_t)PEM_FILE_MAX) {
        snprintf(why, whylen, "'%s' is larger than 1 MiB", path);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    while (len < (size_t)st.st_size && (got = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
        len += (size_t)got;
    *mode = st.st_mode;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || BIO_write(bio, buf, (int)len) != (int)len) {
        snprintf(why, whylen, "out of memory");
        BIO_free(bio);
        bio = NULL;
    }
out:
    if (buf != NULL)
        OPENSSL_cleanse(buf, len); /* it may be a private key */
    free(buf);
    close(fd);
    return bio;
}

/* Refuses a secret file others can read, warns when its group can: sshd's rule, softened. */
static void check_secret_mode(struct report *r, const struct conf_str *f, const char *key,
                              mode_t mode)
{
    if (mode & S_IROTH)
        say(r, f->pos, false, key, "'%s' is readable by every user (mode %04o); chmod 600 it",
            f->text, (unsigned)(mode & 07777));
    else if (mode & S_IRGRP)
        say(r, f->pos, true, key, "'%s' is readable by its group (mode %04o)", f->text,
            (unsigned)(mode & 07777));
}

/* Writes ASN.1 time T as "2025-01-31 12:00:00 UTC" into BUF. */
static const char *time_text(const ASN1_TIME *t, char *buf, size_t len)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        snprintf(buf, len, "an unreadable date");
    else
        strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

/* A certificate entry as loaded. */
struct loaded_cert {
    X509 *leaf;             /* owned */
    STACK_OF(X509) * chain; /* owned; may be empty */
    EVP_PKEY *key;          /* owned */
    char **names;           /* owned, nnames lower-case DNS names, sorted, unique */
    size_t nnames;
    size_t set; /* index of the SSL_CTX that serves it */
};

static void loaded_dispose(struct loaded_cert *lc)
{
    X509_free(lc->leaf);
    sk_X509_pop_free(lc->chain, X509_free);
    EVP_PKEY_free(lc->key);
    for (size_t i = 0; i < lc->nnames; i++)
        free(lc->names[i]);
    free(lc->names);
}

/* Loads the certificate and its chain from F; checks its dates. 0, or -1 (reported). */
static int load_cert(struct report *r, const struct conf_str *f, const char *key,
                     struct loaded_cert *lc)
{
    char why[512], when[64];
    mode_t mode;
    X509 *extra;
    BIO *bio = read_file(f->text, &mode, why, sizeof(why));

    if (bio == NULL) {
        say(r, f->pos, false, key, "%s", why);
        return -1;
    }
    lc->leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    if (lc->leaf == NULL) {
        ERR_clear_error();
        say(r, f->pos, false, key, "'%s' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            f->text);
        BIO_free(bio);
        return -1;
    }
    lc->chain = sk_X509_new_null();
    while (lc->chain != NULL && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(lc->chain, extra) <= 0) {
            X509_free(extra);
            break;
        }
    }
    /* The loop ends on "no start line" at the end of the file; anything else is damage. */
    unsigned long e = ERR_peek_last_error();
    bool damaged = e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE;
    BIO_free(bio);
    if (lc->chain == NULL || damaged) {
        const char *reason = ssl_reason();
        say(r, f->pos, false, key, "'%s': bad certificate in the chain: %s", f->text,
            lc->chain == NULL ? "out of memory" : reason);
        return -1;
    }
    ERR_clear_error();
    if (X509_cmp_current_time(X509_get0_notAfter(lc->leaf)) <= 0) {
        say(r, f->pos, false, key, "certificate '%s' expired on %s", f->text,
            time_text(X509_get0_notAfter(lc->leaf), when, sizeof(when)));
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(lc->leaf)) >= 0) {
        say(r, f->pos, false, key, "certificate '%s' is not valid before %s", f->text,
            time_text(X509_get0_notBefore(lc->leaf), when, sizeof(when)));
        return -1;
    }
    return 0;
}

/* OpenSSL asks for a pass phrase: refuse (never prompt on a terminal), and remember it asked. */
static int on_pem_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(bool *)u = true;
    return -1;
}

/* Loads the private key from F, checking who may read it. 0, or -1 (reported). */
static int load_key(struct report *r, const struct conf_str *f, const char *key, EVP_PKEY **out)
{
    char why[512];
    bool asked = false;
    mode_t mode;
    BIO *bio = read_file(f->text, &mode, why, sizeof(why));

    if (bio == NULL) {
        say(r, f->pos, false, key, "%s", why);
        return -1;
    }
    check_secret_mode(r, f, key, mode);
    *out = PEM_read_bio_PrivateKey(bio, NULL, on_pem_password, &asked);
    BIO_free(bio);
    ERR_clear_error();
    if (*out == NULL) {
        say(r, f->pos, false, key,
            asked ? "'%s' is encrypted; georoute needs the key without a pass phrase"
                  : "'%s' holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            f->text);
        return -1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lower-cases and copies a DNS name of LEN bytes; NULL when it cannot be one we match. */
static char *name_dup(const unsigned char *s, size_t len)
{
    char *out;

    if (len == 0 || len > NAME_MAX_BYTES || memchr(s, '\0', len) != NULL)
        return NULL;
    /* Only a whole first label may be a wildcard: "*.example.com". */
    if (memchr(s, '*', len) != NULL &&
        (len < 3 || s[0] != '*' || s[1] != '.' || memchr(s + 1, '*', len - 1) != NULL))
        return NULL;
    if ((out = malloc(len + 1)) == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower(s[i]);
    out[len] = '\0';
    return out;
}

/* Adds a copy of name S (LEN bytes) to LC's names when it is one. 0, or PX_ENOMEM. */
static int add_name(struct loaded_cert *lc, const unsigned char *s, size_t len)
{
    char *name = name_dup(s, len), **grown;

    if (name == NULL)
        return 0;
    grown = realloc(lc->names, (lc->nnames + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(name);
        return PX_ENOMEM;
    }
    lc->names = grown;
    lc->names[lc->nnames++] = name;
    return 0;
}

/*
 * Collects the DNS names LC's certificate serves: its SAN dNSNames, or its
 * subject CN only when it has none (RFC 6125). Sorted and unique, so two
 * certificates for the same names compare equal. 0, or PX_ENOMEM.
 */
static int collect_names(struct loaded_cert *lc)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(lc->leaf, NID_subject_alt_name, NULL, NULL);
    int rc = 0;

    for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && rc == 0; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS)
            rc = add_name(lc, ASN1_STRING_get0_data(gn->d.dNSName),
                          (size_t)ASN1_STRING_length(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    if (rc == 0 && lc->nnames == 0) {
        const X509_NAME *subject = X509_get_subject_name(lc->leaf);
        int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        const ASN1_STRING *cn =
            at >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)) : NULL;
        if (cn != NULL)
            rc = add_name(lc, ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
    }
    ERR_clear_error();
    if (lc->nnames > 1) {
        size_t w = 1;
        qsort(lc->names, lc->nnames, sizeof(*lc->names), cmp_str);
        for (size_t i = 1; i < lc->nnames; i++) {
            if (strcmp(lc->names[i], lc->names[w - 1]) == 0)
                free(lc->names[i]);
            else
                lc->names[w++] = lc->names[i];
        }
        lc->nnames = w;
    }
    return rc;
}

static bool same_names(const struct loaded_cert *a, const struct loaded_cert *b)
{
    if (a->nnames != b->nnames)
        return false;
    for (size_t i = 0; i < a->nnames; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return false;
    return true;
}

/* ---- handshake callbacks (worker threads; they read only immutable state) ---- */

static int cmp_entry(const void *key, const void *e)
{
    return strcmp(key, ((const struct sni_entry *)e)->name);
}

/* Returns the SSL_CTX serving NAME (any case, an optional trailing dot), or NULL. */
static SSL_CTX *sni_find(const struct px_tls_ctx *ctx, const char *name)
{
    char low[NAME_MAX_BYTES + 1];
    size_t len = strlen(name);
    const struct sni_entry *e;
    const char *dot;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > NAME_MAX_BYTES)
        return NULL;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[len] = '\0';
    e = bsearch(low, ctx->exact, ctx->nexact, sizeof(*e), cmp_entry);
    if (e != NULL)
        return e->ssl_ctx;
    /* A wildcard covers exactly one label: "a.example.com", not "example.com" or "a.b.example.com".
     */
    dot = strchr(low, '.');
    if (dot == NULL || dot == low || dot[1] == '\0')
        return NULL;
    e = bsearch(dot + 1, ctx->wild, ctx->nwild, sizeof(*e), cmp_entry);
    return e != NULL ? e->ssl_ctx : NULL;
}

static int on_tls_servername(SSL *ssl, int *alert, void *arg)
{
    const struct px_tls_ctx *ctx = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSL_CTX *pick = name != NULL ? sni_find(ctx, name) : NULL;

    if (pick == NULL) {
        if (!ctx->strict_sni)
            return SSL_TLSEXT_ERR_OK; /* the default certificate */
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (pick != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, pick) == NULL) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* A client that offers ALPN but none of our protocols is refused, as RFC 7301 and nginx do. */
static int on_tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    const struct px_tls_ctx *ctx = arg;
    unsigned char *sel;

    (void)ssl;
    if (SSL_select_next_proto(&sel, outlen, ctx->alpn, (unsigned)ctx->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Keys the cipher and the HMAC for ticket key K. 1, or 0 on failure. */
static int ticket_init(const struct px_tls_ctx *ctx, const struct ticket_key *k, unsigned char *iv,
                       EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac_key,
                                          sizeof(k->hmac_key)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return 0;
    return enc ? EVP_EncryptInit_ex2(cctx, ctx->ticket_cipher, k->aes_key, iv, NULL)
               : EVP_DecryptInit_ex2(cctx, ctx->ticket_cipher, k->aes_key, iv, NULL);
}

/*
 * Encrypts new tickets with the current key; decrypts with any key of the
 * set (2: "renew", when it is not the current one). The key set is read
 * with one atomic load and used only inside this call.
 */
static int on_tls_ticket(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    const struct px_tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const struct ticket_keyset *ks = ctx->ring ? atomic_load(&ctx->ring->current) : NULL;

    if (ks == NULL || ks->nkeys == 0)
        return enc ? -1 : 0;
    if (enc) {
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(ctx->ticket_cipher)) != 1)
            return -1;
        memcpy(key_name, ks->keys[0].name, sizeof(ks->keys[0].name));
        return ticket_init(ctx, &ks->keys[0], iv, cctx, hctx, 1) == 1 ? 1 : -1;
    }
    for (size_t i = 0; i < ks->nkeys; i++) {
        if (memcmp(key_name, ks->keys[i].name, sizeof(ks->keys[i].name)) != 0)
            continue;
        if (ticket_init(ctx, &ks->keys[i], iv, cctx, hctx, 0) != 1)
            return -1;
        /* "Renew": a fresh ticket on every resumption. TLS 1.3 clients use a
         * ticket once (OpenSSL's among them), and a resumed TLS 1.3 handshake
         * otherwise gets none, so every other connection would be full. */
        return 2;
    }
    return 0; /* unknown key: a full handshake */
}

/* ---- building ---- */

static SSL_CTX *server_ssl_ctx(struct px_tls_ctx *ctx, const struct conf_tls_server *t)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());

    if (s == NULL)
        return NULL;
    SSL_CTX_set_app_data(s, ctx);
    SSL_CTX_set_min_proto_version(s,
                                  t->min_version == CONF_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    /* Idle connections give their record buffers back (about 34 KiB each). */
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_max_early_data(s, 0);
    SSL_CTX_set_recv_max_early_data(s, 0);
    /* Resumption is by tickets only: nothing per session is kept on the server. */
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(s, (const unsigned char *)"georoute", 8);
    if (ctx->ring == NULL) {
        SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(s, 0);
    } else {
        SSL_CTX_set_num_tickets(s, 1);
        SSL_CTX_set_timeout(s, (long)(t->session_ticket_lifetime_ms / 1000));
        SSL_CTX_set_tlsext_ticket_key_evp_cb(s, on_tls_ticket);
    }
    SSL_CTX_set_tlsext_servername_callback(s, on_tls_servername);
    SSL_CTX_set_tlsext_servername_arg(s, ctx);
    SSL_CTX_set_alpn_select_cb(s, on_tls_alpn, ctx);
    if (SSL_CTX_set_cipher_list(s, t->ciphers.text ? t->ciphers.text : DEFAULT_CIPHERS) != 1 ||
        SSL_CTX_set1_groups_list(s, t->groups.text ? t->groups.text : DEFAULT_GROUPS) != 1) {
        /* Checked with messages by check_lists() before any set is built. */
        SSL_CTX_free(s);
        return NULL;
    }
    return s;
}

/* Lets OpenSSL judge the cipher list and groups once, reporting each at its position. */
static void check_lists(struct report *r, const struct conf_tls_server *t, const char *key)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    char at[SUBKEY_BYTES];

    if (s == NULL) {
        say(r, t->pos, false, key, "out of memory");
        return;
    }
    if (t->ciphers.text != NULL && SSL_CTX_set_cipher_list(s, t->ciphers.text) != 1) {
        snprintf(at, sizeof(at), "%s.ciphers", key);
        say(r, t->ciphers.pos, false, at, "OpenSSL refuses '%s': %s", t->ciphers.text,
            ssl_reason());
    }
    if (t->groups.text != NULL && SSL_CTX_set1_groups_list(s, t->groups.text) != 1) {
        snprintf(at, sizeof(at), "%s.groups", key);
        say(r, t->groups.pos, false, at, "OpenSSL refuses '%s': %s", t->groups.text, ssl_reason());
    }
    ERR_clear_error();
    SSL_CTX_free(s);
}

/* Reads ticket_key_file: whole 80-byte keys, the first encrypting. NULL when reported. */
static struct ticket_keyset *load_ticket_keys(struct report *r, const struct conf_str *f,
                                              const char *key)
{
    struct ticket_keyset *ks;
    char why[512];
    mode_t mode;
    BIO *bio = read_file(f->text, &mode, why, sizeof(why));
    long len;
    char *data;

    if (bio == NULL) {
        say(r, f->pos, false, key, "%s", why);
        return NULL;
    }
    check_secret_mode(r, f, key, mode);
    len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || len % TICKET_KEY_BYTES != 0 || len / TICKET_KEY_BYTES > TICKET_KEYS_MAX) {
        say(r, f->pos, false, key,
            "'%s' must hold 1 to %d keys of 80 bytes (nginx ssl_session_ticket_key format), "
            "not %ld bytes",
            f->text, TICKET_KEYS_MAX, len);
        BIO_free(bio);
        return NULL;
    }
    ks = calloc(1, sizeof(*ks));
    if (ks == NULL) {
        say(r, f->pos, false, key, "out of memory");
    } else {
        /* nginx's layout: 16 bytes of name, 32 of HMAC key, 32 of AES key. */
        ks->nkeys = (size_t)len / TICKET_KEY_BYTES;
        for (size_t i = 0; i < ks->nkeys; i++) {
            const char *k = data + i * TICKET_KEY_BYTES;
            memcpy(ks->keys[i].name, k, 16);
            memcpy(ks->keys[i].hmac_key, k + 16, 32);
            memcpy(ks->keys[i].aes_key, k + 48, 32);
        }
    }
    OPENSSL_cleanse(data, (size_t)len);
    BIO_free(bio);
    return ks;
}

/* Sets up the ticket keys of CTX: from the file, from PREV, or fresh. 0, or -1 (reported). */
static int setup_tickets(struct report *r, struct px_tls_ctx *ctx, const struct conf_tls_server *t,
                         struct px_tls_ctx *prev, const char *key)
{
    struct ticket_keyset *ks;
    char at[SUBKEY_BYTES];

    if (t->session_ticket_lifetime_ms == 0)
        return 0;
    if (t->ticket_key_file.text != NULL) {
        snprintf(at, sizeof(at), "%s.ticket_key_file", key);
        if ((ks = load_ticket_keys(r, &t->ticket_key_file, at)) == NULL)
            return -1;
        if ((ctx->ring = ring_new(ks, t->session_ticket_lifetime_ms, true)) == NULL)
            keyset_free(ks);
    } else if (prev != NULL && prev->ring != NULL && !prev->ring->from_file) {
        ctx->ring = prev->ring;
        atomic_fetch_add(&ctx->ring->refs, 1);
        ctx->ring->lifetime_ms = t->session_ticket_lifetime_ms;
    } else if ((ks = keyset_random(NULL)) != NULL &&
               (ctx->ring = ring_new(ks, t->session_ticket_lifetime_ms, false)) == NULL) {
        keyset_free(ks);
    }
    if (ctx->ring == NULL) {
        say(r, t->pos, false, key, "out of memory (session ticket keys)");
        return -1;
    }
    ctx->ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (ctx->ticket_cipher == NULL) {
        say(r, t->pos, false, key, "AES-256-CBC is not available: %s", ssl_reason());
        return -1;
    }
    return 0;
}

/* Loads certificate entry I into LC, every check run. 0, or -1 (reported). */
static int load_entry(struct report *r, const struct conf_tls_cert *e, const char *key, size_t i,
                      struct loaded_cert *lc)
{
    char ck[SUBKEY_BYTES], kk[SUBKEY_BYTES];
    int rc;

    snprintf(ck, sizeof(ck), "%s.certificates[%zu].cert", key, i);
    snprintf(kk, sizeof(kk), "%s.certificates[%zu].key", key, i);
    rc = load_cert(r, &e->cert, ck, lc);
    rc |= load_key(r, &e->key, kk, &lc->key);
    if (rc == 0 && X509_check_private_key(lc->leaf, lc->key) != 1) {
        ERR_clear_error();
        say(r, e->key.pos, false, kk, "key '%s' does not match certificate '%s'", e->key.text,
            e->cert.text);
        return -1;
    }
    if (rc == 0 && collect_names(lc) != 0) {
        say(r, e->cert.pos, false, ck, "out of memory");
        return -1;
    }
    return rc;
}

/*
 * Puts each loaded certificate in a set: the first set with the same names,
 * unless that set already holds a key of the same type (it would never be
 * served). Returns the number of sets, or 0 after reporting.
 */
static size_t group_sets(struct report *r, const struct conf_tls_server *t, const char *key,
                         struct loaded_cert *lcs)
{
    size_t nsets = 0;
    char ck[SUBKEY_BYTES];

    for (size_t i = 0; i < t->ncerts; i++) {
        lcs[i].set = nsets;
        for (size_t j = 0; j < i; j++) {
            if (!same_names(&lcs[i], &lcs[j]))
                continue;
            lcs[i].set = lcs[j].set;
            if (EVP_PKEY_get_base_id(lcs[i].key) == EVP_PKEY_get_base_id(lcs[j].key)) {
                snprintf(ck, sizeof(ck), "%s.certificates[%zu].cert", key, i);
                say(r, t->certs[i].cert.pos, false, ck,
                    "'%s' serves the same names with the same key type as certificates[%zu]; "
                    "it would never be used",
                    t->certs[i].cert.text, j);
                return 0;
            }
            break;
        }
        nsets += lcs[i].set == nsets;
    }
    return nsets;
}

/* Installs certificate LC (key, chain) in SSL_CTX S. 0, or -1 (reported). */
static int install_cert(struct report *r, SSL_CTX *s, struct loaded_cert *lc,
                        const struct conf_tls_cert *e, const char *key)
{
    if (SSL_CTX_use_certificate(s, lc->leaf) == 1 && SSL_CTX_use_PrivateKey(s, lc->key) == 1 &&
        SSL_CTX_set1_chain(s, lc->chain) == 1)
        return 0;
    say(r, e->cert.pos, false, key, "OpenSSL refuses '%s': %s", e->cert.text, ssl_reason());
    return -1;
}

static int cmp_sni(const void *a, const void *b)
{
    const struct sni_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* Sorts TAB (*N entries) by name and keeps the first set's entry of each name. */
static void sni_sort(struct sni_entry *tab, size_t *n)
{
    size_t w = 0;

    qsort(tab, *n, sizeof(*tab), cmp_sni);
    for (size_t i = 0; i < *n; i++) {
        if (w > 0 && strcmp(tab[w - 1].name, tab[i].name) == 0)
            free(tab[i].name);
        else
            tab[w++] = tab[i];
    }
    *n = w;
}

/* Builds the exact and wildcard SNI tables from the loaded certificates. 0, or PX_ENOMEM. */
static int sni_build(struct px_tls_ctx *ctx, const struct loaded_cert *lcs, size_t ncerts)
{
    size_t total = 0;

    for (size_t i = 0; i < ncerts; i++)
        total += lcs[i].nnames;
    ctx->exact = calloc(total ? total : 1, sizeof(*ctx->exact));
    ctx->wild = calloc(total ? total : 1, sizeof(*ctx->wild));
    if (ctx->exact == NULL || ctx->wild == NULL)
        return PX_ENOMEM;
    for (size_t i = 0; i < ncerts; i++) {
        for (size_t j = 0; j < lcs[i].nnames; j++) {
            const char *name = lcs[i].names[j];
            bool wild = name[0] == '*';
            struct sni_entry *e = wild ? &ctx->wild[ctx->nwild] : &ctx->exact[ctx->nexact];
            if ((e->name = strdup(wild ? name + 2 : name)) == NULL)
                return PX_ENOMEM;
            e->ssl_ctx = ctx->sets[lcs[i].set];
            e->order = lcs[i].set;
            *(wild ? &ctx->nwild : &ctx->nexact) += 1;
        }
    }
    sni_sort(ctx->exact, &ctx->nexact);
    sni_sort(ctx->wild, &ctx->nwild);
    return 0;
}

static void ctx_free(struct px_tls_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nsets; i++)
        SSL_CTX_free(ctx->sets[i]);
    free(ctx->sets);
    for (size_t i = 0; i < ctx->nexact; i++)
        free(ctx->exact[i].name);
    for (size_t i = 0; i < ctx->nwild; i++)
        free(ctx->wild[i].name);
    free(ctx->exact);
    free(ctx->wild);
    EVP_CIPHER_free(ctx->ticket_cipher);
    ring_unref(ctx->ring);
    free(ctx);
}

/* Builds the SSL_CTX of every set, then the SNI tables. 0, or -1 (reported). */
static int build_sets(struct report *r, struct px_tls_ctx *ctx, const struct conf_tls_server *t,
                      struct loaded_cert *lcs, size_t nsets, const char *key)
{
    char ck[SUBKEY_BYTES];

    ctx->sets = calloc(nsets, sizeof(*ctx->sets));
    if (ctx->sets == NULL)
        goto nomem;
    for (; ctx->nsets < nsets; ctx->nsets++)
        if ((ctx->sets[ctx->nsets] = server_ssl_ctx(ctx, t)) == NULL)
            goto nomem;
    for (size_t i = 0; i < t->ncerts; i++) {
        snprintf(ck, sizeof(ck), "%s.certificates[%zu].cert", key, i);
        if (install_cert(r, ctx->sets[lcs[i].set], &lcs[i], &t->certs[i], ck) != 0)
            return -1;
    }
    if (sni_build(ctx, lcs, t->ncerts) != 0)
        goto nomem;
    return 0;
nomem:
    say(r, t->pos, false, key, "out of memory");
    return -1;
}

/* See tls_ctx.h. */
int px_tls_ctx_build(const struct conf *cf, size_t listener, struct px_tls_ctx *prev,
                     struct px_tls_ctx **out, char *err, size_t errlen)
{
    const struct conf_tls_server *t = &cf->listeners[listener].tls;
    struct report r = {.file = cf->path, .err = err, .errlen = errlen};
    struct loaded_cert *lcs = calloc(t->ncerts ? t->ncerts : 1, sizeof(*lcs));
    struct px_tls_ctx *ctx = calloc(1, sizeof(*ctx));
    char key[KEY_BYTES];
    size_t nsets = 0;

    *out = NULL;
    if (lcs == NULL || ctx == NULL) {
        free(lcs);
        free(ctx);
        return PX_ENOMEM;
    }
    atomic_init(&ctx->refs, 1);
    ctx->strict_sni = t->strict_sni != 0;
    ERR_clear_error();
    snprintf(key, sizeof(key), "listen[%zu].tls", listener);
    for (size_t i = 0; i < t->ncerts && i < CONF_TLS_CERTS_MAX; i++) {
        struct tm tm;
        load_entry(&r, &t->certs[i], key, i, &lcs[i]);
        if (lcs[i].leaf && ASN1_TIME_to_tm(X509_get0_notAfter(lcs[i].leaf), &tm) == 1)
            ctx->not_after[i] = (int64_t)timegm(&tm);
        ctx->ncerts = i + 1;
    }
    check_lists(&r, t, key);
    setup_tickets(&r, ctx, t, prev, key);
    /* Our order is the preference (SSL_select_next_proto): h2 first. */
    if ((t->alpn & CONF_ALPN_H2) && cf->listeners[listener].h2) {
        memcpy(ctx->alpn + ctx->alpn_len, "\x02h2", 3);
        ctx->alpn_len += 3;
    }
    if (t->alpn & CONF_ALPN_HTTP11) {
        memcpy(ctx->alpn + ctx->alpn_len, "\x08http/1.1", 9);
        ctx->alpn_len += 9;
    }
    if (r.nerrors == 0)
        nsets = group_sets(&r, t, key, lcs);
    if (r.nerrors == 0)
        build_sets(&r, ctx, t, lcs, nsets, key);
    for (size_t i = 0; i < t->ncerts; i++)
        loaded_dispose(&lcs[i]);
    free(lcs);
    ERR_clear_error();
    if (r.nerrors > 0) {
        ctx_free(ctx);
        return -1;
    }
    *out = ctx;
    return 0;
}

/* See tls_ctx.h. */
struct px_tls_ctx *px_tls_ctx_ref(struct px_tls_ctx *ctx)
{
    atomic_fetch_add(&ctx->refs, 1);
    return ctx;
}

/* See tls_ctx.h. */
void px_tls_ctx_unref(struct px_tls_ctx *ctx)
{
    if (ctx != NULL && atomic_fetch_sub(&ctx->refs, 1) == 1)
        ctx_free(ctx);
}

/* See tls_ctx.h. */
size_t px_tls_ctx_certs(const struct px_tls_ctx *ctx, const int64_t **not_after)
{
    *not_after = ctx->not_after;
    return ctx->ncerts;
}

/* See tls_ctx.h. */
struct ssl_ctx_st *px_tls_ctx_ssl(const struct px_tls_ctx *ctx)
{
    return ctx->sets[0];
}

/* See tls_ctx.h. */
uint64_t px_tls_ctx_next_rotation_ms(const struct px_tls_ctx *ctx)
{
    const struct ticket_ring *r = ctx->ring;

    if (r == NULL || r->from_file)
        return UINT64_MAX;
    return r->rotated_ms + r->lifetime_ms;
}

/* See tls_ctx.h. */
int px_tls_ctx_rotate(struct px_tls_ctx *ctx, uint64_t now_ms)
{
    struct ticket_ring *r = ctx->ring;
    struct ticket_keyset *old, *fresh;

    if (now_ms < px_tls_ctx_next_rotation_ms(ctx))
        return 0;
    old = atomic_load(&r->current);
    if ((fresh = keyset_random(old)) == NULL)
        return PX_ENOMEM;
    atomic_store(&r->current, fresh);
    /* The set retired last time was replaced a whole lifetime (>= 1 minute) ago: no
     * handshake, which holds a set only inside on_tls_ticket, can still be using it. */
    keyset_free(r->retired);
    r->retired = old;
    r->rotated_ms = now_ms;
    return 1;
}

/* ---- upstream (client) contexts ---- */

struct px_tls_client {
    atomic_uint refs;
    SSL_CTX *ssl_ctx;     /* owned */
    char *sni;            /* owned; the configured name; NULL = the backend's host */
    bool verify;          /* chain and name are verified */
    pthread_mutex_t lock; /* guards session */
    SSL_SESSION *session; /* owned; the backend's last session, for the next connection */
};

/* The backend issued a session (TLS 1.3: a ticket, maybe after the handshake): keep it. */
static int on_tls_client_session(SSL *ssl, SSL_SESSION *sess)
{
    struct px_tls_client *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    SSL_SESSION *old;

    if (!SSL_SESSION_is_resumable(sess))
        return 0;
    pthread_mutex_lock(&c->lock);
    old = c->session;
    c->session = sess;
    pthread_mutex_unlock(&c->lock);
    SSL_SESSION_free(old);
    return 1; /* the reference is ours */
}

/* Loads the CA store: the file, or the system's. 0, or -1 (reported). */
static int load_ca(struct report *r, SSL_CTX *s, const struct conf_tls_client *t, const char *key)
{
    char why[512], at[SUBKEY_BYTES];
    mode_t mode;
    BIO *bio;

    if (t->ca.text == NULL) {
        if (SSL_CTX_set_default_verify_paths(s) == 1)
            return 0;
        say(r, t->pos, false, key, "cannot load the system CA store: %s", ssl_reason());
        return -1;
    }
    snprintf(at, sizeof(at), "%s.ca", key);
    if ((bio = read_file(t->ca.text, &mode, why, sizeof(why))) == NULL) {
        say(r, t->ca.pos, false, at, "%s", why);
        return -1;
    }
    BIO_free(bio);
    if (SSL_CTX_load_verify_file(s, t->ca.text) == 1)
        return 0;
    say(r, t->ca.pos, false, at, "'%s' holds no usable CA certificate: %s", t->ca.text,
        ssl_reason());
    return -1;
}

/* Loads the client certificate (mTLS) into S. 0, or -1 (reported). */
static int load_client_cert(struct report *r, SSL_CTX *s, const struct conf_tls_client *t,
                            const char *key)
{
    struct conf_tls_cert e = {.cert = t->cert, .key = t->key};
    struct loaded_cert lc = {0};
    char ck[SUBKEY_BYTES], kk[SUBKEY_BYTES];
    int rc;

    snprintf(ck, sizeof(ck), "%s.cert", key);
    snprintf(kk, sizeof(kk), "%s.key", key);
    rc = load_cert(r, &e.cert, ck, &lc);
    rc |= load_key(r, &e.key, kk, &lc.key);
    if (rc == 0 && X509_check_private_key(lc.leaf, lc.key) != 1) {
        ERR_clear_error();
        say(r, e.key.pos, false, kk, "key '%s' does not match certificate '%s'", e.key.text,
            e.cert.text);
        rc = -1;
    }
    if (rc == 0)
        rc = install_cert(r, s, &lc, &e, ck);
    loaded_dispose(&lc);
    return rc;
}

static void client_free(struct px_tls_client *c)
{
    SSL_CTX_free(c->ssl_ctx);
    SSL_SESSION_free(c->session);
    pthread_mutex_destroy(&c->lock);
    free(c->sni);
    free(c);
}

/* See tls_ctx.h. */
int px_tls_client_build(const struct conf *cf, size_t region, size_t backend,
                        struct px_tls_client **out, char *err, size_t errlen)
{
    const struct conf_region *rg = &cf->regions[region];
    const struct conf_tls_client *t = &rg->backends[backend].tls;
    struct report r = {.file = cf->path, .err = err, .errlen = errlen};
    struct px_tls_client *c = calloc(1, sizeof(*c));
    char key[KEY_BYTES];

    *out = NULL;
    if (c == NULL)
        return PX_ENOMEM;
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    c->verify = t->verify != 0;
    if ((c->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
        (t->sni.text != NULL && (c->sni = strdup(t->sni.text)) == NULL)) {
        client_free(c);
        return PX_ENOMEM;
    }
    ERR_clear_error();
    snprintf(key, sizeof(key), "regions.%s.backends[%zu].tls", rg->name, backend);
    SSL_CTX_set_app_data(c->ssl_ctx, c);
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(c->ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(c->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_max_cert_list(c->ssl_ctx, CLIENT_CERT_LIST_MAX);
    SSL_CTX_set_session_cache_mode(c->ssl_ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c->ssl_ctx, on_tls_client_session);
    SSL_CTX_set_verify(c->ssl_ctx, c->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (SSL_CTX_set_cipher_list(c->ssl_ctx, DEFAULT_CIPHERS) != 1 ||
        SSL_CTX_set1_groups_list(c->ssl_ctx, DEFAULT_GROUPS) != 1 ||
        SSL_CTX_set_alpn_protos(c->ssl_ctx, (const unsigned char *)"\x08http/1.1", 9) != 0) {
        client_free(c);
        return PX_ENOMEM;
    }
    if (c->verify)
        load_ca(&r, c->ssl_ctx, t, key);
    if (t->cert.text != NULL)
        load_client_cert(&r, c->ssl_ctx, t, key);
    ERR_clear_error();
    if (r.nerrors > 0) {
        client_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* See tls_ctx.h. */
struct px_tls_client *px_tls_client_ref(struct px_tls_client *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

/* See tls_ctx.h. */
void px_tls_client_unref(struct px_tls_client *c)
{
    if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
        client_free(c);
}

/* See tls_ctx.h. */
struct ssl_ctx_st *px_tls_client_ssl(const struct px_tls_client *c)
{
    return c->ssl_ctx;
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/*
 * True when SESSION was made with SNI (NULL: none), so it may be resumed by
 * a connection that sends SNI. One context serves every address of a DNS
 * or SRV entry, and a resumed handshake verifies no certificate: a session
 * verified for one SRV target must not let another target skip its check.
 */
static bool session_for(const SSL_SESSION *session, const char *sni)
{
    const char *had = SSL_SESSION_get0_hostname(session);

    if (had == NULL || sni == NULL)
        return had == sni;
    return strcmp(had, sni) == 0;
}

/* See tls_ctx.h. */
int px_tls_client_prepare(struct px_tls_client *c, struct ssl_st *ssl, const char *host)
{
    const char *name = c->sni != NULL ? c->sni : host;
    bool ip = name != NULL && is_ip_literal(name);
    int ok = 1;

    /* RFC 6066: SNI carries host names only, never an address. */
    if (name != NULL && !ip)
        ok = SSL_set_tlsext_host_name(ssl, name);
    if (ok == 1 && name != NULL && c->verify)
        ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                : SSL_set1_host(ssl, name);
    if (ok == 1) {
        pthread_mutex_lock(&c->lock);
        if (c->session != NULL && session_for(c->session, ip ? NULL : name))
            ok = SSL_set_session(ssl, c->session);
        pthread_mutex_unlock(&c->lock);
    }
    ERR_clear_error();
    return ok == 1 ? 0 : PX_ENOMEM;
}
