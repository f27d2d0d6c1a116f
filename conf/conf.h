/*
 * conf: the validated, immutable configuration georoute runs on.
 *
 * conf_load_file() parses a YAML file (libyaml), checks every key against the
 * directive tables in conf/directives.c, fills defaults and derived values,
 * and validates cross references. It owns everything reachable from the
 * struct conf it returns; conf_free() releases it all. conf/ never logs,
 * exits or aborts: errors go to the caller's buffer as lines of
 * "FILE:LINE:COL: message".
 */
#ifndef CONF_CONF_H
#define CONF_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONF_NAME_MAX 63 /* region and zone names: [A-Za-z0-9_-]{1,63} */

/* A numeric socket address, as written in the file and as a sockaddr. */
struct conf_addr {
    struct sockaddr_storage sa; /* AF_INET or AF_INET6, port set */
    socklen_t salen;
    char text[64]; /* canonical "1.2.3.4:80" or "[::1]:80" */
};

struct conf_backend {
    struct conf_addr addr;
    unsigned weight; /* 1..256, default 1 */
};

struct conf_region {
    char name[CONF_NAME_MAX + 1];
    struct conf_backend *backends; /* owned, nbackends entries */
    size_t nbackends;
};

struct conf_timeouts {
    uint64_t connect_ms;            /* upstream TCP connect, per attempt */
    uint64_t client_header_ms;      /* first byte to end of request head */
    uint64_t client_body_ms;        /* idle gap while reading a request body */
    uint64_t client_keepalive_ms;   /* idle client between requests */
    uint64_t client_send_ms;        /* client not draining our writes */
    uint64_t upstream_response_ms;  /* request sent to response head, and gaps */
    uint64_t upstream_keepalive_ms; /* idle pooled upstream connection */
    uint64_t tunnel_idle_ms;        /* upgraded (WebSocket) tunnel idle */
    uint64_t shutdown_drain_ms;     /* in-flight grace on SIGTERM */
};

struct conf_limits {
    uint32_t max_client_connections; /* per process; excess accepted+closed */
    uint32_t max_header_bytes;       /* request/response head, bytes */
    uint32_t max_headers;            /* header fields per message */
    uint64_t max_body_bytes;         /* request body; 0 = unlimited */
    uint32_t max_keepalive_requests; /* per client connection; 0 = unlimited */
    uint32_t upstream_pool_size;     /* idle upstream conns per backend per worker */
    uint32_t retries;                /* extra attempts on another backend */
};

struct conf {
    char *path; /* owned; file name used in messages */

    struct conf_addr *listen; /* owned, nlisten entries (at least 1) */
    size_t nlisten;

    unsigned workers; /* 0 means "auto": one per CPU */

    struct conf_region *regions; /* owned, in file order, nregions >= 1 */
    size_t nregions;

    struct conf_timeouts timeouts;
    struct conf_limits limits;

    char *access_log; /* owned; NULL = off, "-" = stderr, else a path */
};

/*
 * Reads and validates PATH. On success returns 0 and stores a new struct conf
 * in *out (caller owns it; release with conf_free). On failure returns -1,
 * leaves *out NULL, and writes one or more '\n'-separated lines
 * "PATH:LINE:COL: message" to err (always NUL-terminated, truncated to
 * errlen). Every error found is reported, not only the first.
 */
int conf_load_file(const char *path, struct conf **out, char *err, size_t errlen);

/* Like conf_load_file(), on an in-memory document; NAME is used in messages. */
int conf_load_string(const char *text, size_t len, const char *name, struct conf **out, char *err,
                     size_t errlen);

/* Releases C and everything it owns. Accepts NULL. */
void conf_free(struct conf *c);

/* Returns the region named NAME, or NULL. */
const struct conf_region *conf_region_find(const struct conf *c, const char *name);

#endif
