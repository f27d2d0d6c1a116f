/*
 * px: definitions every proxy/ file shares: the error enum, container_of,
 * the invariant assertion and the time helper. Nothing here allocates.
 */
#ifndef PX_PX_H
#define PX_PX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PX_VERSION "0.1.0"

#define px_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Room for every error of a config load, one line each (--check, reloads). */
#define PX_ERRBUF_BYTES (64 * 1024)

#define PX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Broken invariants only: the one place the process may abort. */
#define PX_ASSERT(expr)                                                                            \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/*
 * Project error codes. I/O errors are libuv's (negative errno); these sit
 * below -1000 so the two never collide.
 */
enum px_err {
    PX_EPARSE = -1000,      /* malformed HTTP message */
    PX_EHEADTOOBIG = -1001, /* head over max_header_bytes or max_headers */
    PX_EBODYTOOBIG = -1002, /* body over max_body_bytes */
    PX_ENOBACKEND = -1003,  /* no backend could be connected */
    PX_ETIMEOUT = -1004,    /* a phase timer fired */
    PX_ETRUNCATED = -1005,  /* upstream closed mid-message */
    PX_ENOMEM = -1006,      /* allocation failed */
    PX_EVERSION = -1007,    /* HTTP version we do not speak */
    PX_EMETHOD = -1008,     /* method we do not proxy (CONNECT) */
    PX_ESHUTDOWN = -1009,   /* process is draining */
    PX_EBUDGET = -1010,     /* a retry would overspend the retry budget */
    PX_ENOROUTES = -1011,   /* the worker has no routing table */
    PX_ETLS = -1020,        /* TLS handshake or record failure */
    PX_ETLSPLAIN = -1021,   /* plain HTTP sent to a TLS listener */
    PX_ETLSCLOSED = -1022,  /* the TLS peer sent close_notify */
    PX_ETLSVERIFY = -1023,  /* the TLS peer's certificate failed verification */
};

/* Returns a static description of a px_err or libuv error code. */
const char *px_strerror(int err);

struct sockaddr;

/* Writes the textual IP (no port) of SA (AF_INET or AF_INET6) into BUF, "-" if it has none. */
void px_sockaddr_ip(const struct sockaddr *sa, char *buf, size_t cap);

/* Writes "1.2.3.4:80" or "[::1]:80" for SA (AF_INET or AF_INET6) into BUF. */
void px_sockaddr_text(const struct sockaddr *sa, char *buf, size_t cap);

/* Returns the monotonic clock in milliseconds. */
uint64_t px_now_ms(void);

#endif
