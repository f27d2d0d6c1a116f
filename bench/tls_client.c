/*
 * tls_client: a handshake load for bench/run-bench --proto https. Each
 * operation connects, completes a TLS 1.3 handshake (P-256 key share,
 * SNI bench.test), sends one HTTP/1.1 request with a Host header, reads the
 * response to EOF and closes. `full` never offers a session, so every
 * handshake is full; `resumed` offers the ticket of the first one, so every
 * later handshake resumes. It prints how many of each it got, so a run that
 * is not 100% what it claims is caught (wrk -H 'Connection: close' resumes
 * sessions; openssl s_time sends no Host).
 *
 * Usage: tls_client HOST PORT COUNT full|resumed PATH [SECONDS]
 * Stops after COUNT operations or SECONDS (default 60), whichever first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One operation; returns 1 resumed, 0 full, -1 failed. *KEEP gets the session when asked. */
static int one(SSL_CTX *ctx, const struct sockaddr_in *to, const char *req, SSL_SESSION *offer,
               SSL_SESSION **keep)
{
    char buf[16384];
    int fd = dial(to), rc = -1, status = 0;
    SSL *ssl;

    if (fd < 0)
        return -1;
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "bench.test");
    if (offer)
        SSL_set_session(ssl, offer);
    if (SSL_connect(ssl) == 1 && SSL_write(ssl, req, (int)strlen(req)) > 0) {
        int n;
        size_t got = 0;
        while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
            if (got == 0 && n >= 12)
                status = atoi(buf + 9);
            got += (size_t)n;
        }
        if (status == 200)
            rc = SSL_session_reused(ssl) ? 1 : 0;
        /* TLS 1.3 tickets arrive after the handshake: take it once the reply is in. */
        if (keep && rc >= 0)
            *keep = SSL_get1_session(ssl);
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 6 || (strcmp(argv[4], "full") != 0 && strcmp(argv[4], "resumed") != 0)) {
        fprintf(stderr, "usage: tls_client HOST PORT COUNT full|resumed PATH [SECONDS]\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    long count = atol(argv[3]);
    int resumed_mode = strcmp(argv[4], "resumed") == 0;
    double limit = argc > 6 ? atof(argv[6]) : 60.0, t0 = now_s();
    char req[512];
    long full = 0, resumed = 0, failed = 0;
    SSL_SESSION *ticket = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1 || ctx == NULL || count < 1) {
        fprintf(stderr, "tls_client: bad address, count or no TLS context\n");
        return 2;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set1_groups_list(ctx, "P-256");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* the bench's own self-signed certificate */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n",
             argv[5]);
    if (resumed_mode && one(ctx, &to, req, NULL, &ticket) < 0) {
        fprintf(stderr, "tls_client: the first handshake failed\n");
        return 1;
    }
    for (long i = 0; i < count && now_s() - t0 < limit; i++) {
        int rc = one(ctx, &to, req, resumed_mode ? ticket : NULL, NULL);
        full += rc == 0;
        resumed += rc == 1;
        failed += rc < 0;
    }
    printf("operations=%ld full=%ld resumed=%ld failed=%ld seconds=%.3f\n", full + resumed + failed,
           full, resumed, failed, now_s() - t0);
    SSL_SESSION_free(ticket);
    SSL_CTX_free(ctx);
    return failed ? 1 : 0;
}
