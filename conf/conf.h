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

/*
 * A position in the config file, for errors found after loading (a geo code
 * the geo module rejects, a listener that cannot bind) so they can still be
 * reported as FILE:LINE:COL. Line 0 means "not from the file" (a default).
 */
struct conf_pos {
    uint32_t line; /* 1-based; 0 = implicit, no position */
    uint32_t col;  /* 1-based, in characters */
};

/*
 * An IP network. Written "10.0.0.0/8", "2001:db8::/32", or a bare address
 * (a /32 or /128). Host bits are cleared ("10.1.2.3/8" is stored as
 * 10.0.0.0/8). An IPv4-mapped prefix ("::ffff:10.0.0.0/104") is stored as
 * the IPv4 network it means (10.0.0.0/8), as peers are matched unmapped.
 */
struct conf_cidr {
    uint8_t family;      /* AF_INET or AF_INET6 */
    uint8_t prefix;      /* prefix length: 0..32 (AF_INET) or 0..128 (AF_INET6) */
    uint8_t addr[16];    /* network address, network byte order; AF_INET uses addr[0..3], rest 0 */
    char text[64];       /* canonical "10.0.0.0/8", after masking */
    struct conf_pos pos; /* of the value in the file */
};

/* A list of networks (trusted_proxies, debug_clients). */
struct conf_cidr_list {
    struct conf_cidr *cidrs; /* owned, ncidrs entries; NULL when empty */
    size_t ncidrs;
};

/*
 * A string whose problems are found after loading (a file OpenSSL cannot
 * read, a cipher list it refuses), kept with its position so they can
 * still be reported at FILE:LINE:COL.
 */
struct conf_str {
    char *text;          /* owned; NULL = not set */
    struct conf_pos pos; /* of the value; line 0 when not set */
};

/* One certificate of a TLS listener: `{cert, key}`. Relative paths are from the working directory.
 */
struct conf_tls_cert {
    struct conf_str cert; /* PEM file: the certificate, then its chain */
    struct conf_str key;  /* PEM file: its private key */
};

/* TLS protocol versions, as `min_version` names them. */
enum conf_tls_version {
    CONF_TLS_1_2 = 12,
    CONF_TLS_1_3 = 13,
};

/* ALPN protocols a listener offers, a bit each; h2 is preferred when both are. */
#define CONF_ALPN_HTTP11 0x1u
#define CONF_ALPN_H2 0x2u

#define CONF_TLS_CERTS_MAX 64 /* certificates per listener */

/* A listener's `tls`: terminate TLS on it. */
struct conf_tls_server {
    unsigned enabled;            /* 1 when the listener has a tls mapping */
    struct conf_tls_cert *certs; /* owned, ncerts (>= 1) entries; the first is the default */
    size_t ncerts;               /* entries in certs */
    uint32_t strict_sni;         /* 1: an unknown SNI gets unrecognized_name; default 0 */
    uint32_t min_version;        /* enum conf_tls_version; default 1.2 */
    uint32_t alpn;               /* CONF_ALPN_* bits offered (h2 only with the listener's h2);
                                    default h2 and http/1.1 */
    struct conf_str ciphers;     /* TLS 1.2 cipher list; NULL = Mozilla intermediate */
    struct conf_str groups;      /* key exchange groups; NULL = X25519:P-256:P-384 */
    uint64_t session_ticket_lifetime_ms; /* ticket key rotation and session life; 0 = off */
    struct conf_str ticket_key_file;     /* 80-byte keys shared by edges; NULL = random keys */
    struct conf_pos pos;                 /* of the tls mapping */
};

/* A listening socket: one entry of `listen`. */
struct conf_listener {
    struct conf_addr addr;   /* numeric address to bind */
    unsigned proxy_protocol; /* 1: read a PROXY v1/v2 header first, from proxy_from peers */
    struct conf_cidr_list proxy_from; /* who must send one; empty: trusted_proxies */
    unsigned h2;                      /* 1: offer HTTP/2 by ALPN on TLS; default 1 */
    unsigned h2c;               /* 1: HTTP/2 with prior knowledge on a plain listener; default 0 */
    struct conf_tls_server tls; /* enabled: terminate TLS */
    struct conf_pos pos;        /* of the entry */
};

/* TLS to upstreams: a region's or backend's `tls`. */
struct conf_tls_client {
    uint32_t enabled;     /* 1: connect with TLS; backends inherit the region's */
    uint32_t verify;      /* 1: verify the chain and the name; default 1 */
    struct conf_str ca;   /* PEM CA bundle; NULL = the system store */
    struct conf_str sni;  /* name sent and verified; NULL = the backend's host name */
    struct conf_str cert; /* client certificate (mTLS); NULL = none */
    struct conf_str key;  /* its private key; set exactly when cert is */
    struct conf_pos pos;  /* of the tls value */
};

/* Active health check of a backend (HAProxy `check`), per region, overridable per backend. */
enum conf_probe_type {
    CONF_PROBE_HTTP, /* GET path, status in expect_lo..expect_hi is a pass */
    CONF_PROBE_TCP,  /* a completed TCP connect is a pass */
};

/*
 * probe.bulk: a large GET now and then that measures a backend's goodput
 * where real traffic carries too few large responses (docs/ROUTING.md).
 */
struct conf_bulk_probe {
    char *path;           /* owned; request target; NULL = no bulk probe */
    uint64_t bytes;       /* body bytes read per probe, 64k..1g; default 1m */
    uint64_t interval_ms; /* from the end of one to the start of the next, 1s..1h; default 30s */
};

struct conf_probe {
    uint32_t type;               /* enum conf_probe_type; default HTTP */
    char *path;                  /* owned; HTTP request target, starts with '/'; default "/" */
    char *host;                  /* owned; Host header; NULL = the backend's address or name */
    uint32_t expect_lo;          /* lowest passing HTTP status, 100..599; default 200 */
    uint32_t expect_hi;          /* highest passing HTTP status, expect_lo..599; default 399 */
    uint64_t interval_ms;        /* between probes in a steady state; default 1s */
    uint64_t fastinter_ms;       /* while rise/fall is counting; default min(250ms, interval) */
    uint64_t downinter_ms;       /* while the backend is down; default interval */
    uint32_t jitter_pct;         /* waits randomised by +- this percent, 0..50; default 10 */
    uint64_t timeout_ms;         /* per probe, any interval (one in flight); default 5s */
    uint32_t rise;               /* consecutive passes to go up, 1..100; default 2 */
    uint32_t fall;               /* consecutive failures to go down, 1..100; default 3 */
    struct conf_bulk_probe bulk; /* goodput probe; off without bulk.path */
};

/* Passive outlier ejection, per region (Envoy outlier detection). */
struct conf_passive {
    uint32_t consecutive_failures; /* K failures in a row eject, 1..1000; default 5 */
    uint64_t ejection_time_ms;     /* first ejection, doubled on each repeat; default 10s */
    uint64_t max_ejection_time_ms; /* cap of the doubling, >= ejection_time; default 5m */
    uint32_t max_ejected_pct;      /* most of a region ejected at once, 0..100 %; default 50 */
    unsigned count_5xx;            /* 1: a 5xx response counts as a failure; default 0 */
};

/* How a backend is found. */
enum conf_backend_kind {
    CONF_BACKEND_ADDR, /* numeric ip:port in addr */
    CONF_BACKEND_NAME, /* DNS name host:port, resolved (A/AAAA) at run time */
    CONF_BACKEND_SRV,  /* SRV name in host; addresses, ports and weights from the records */
};

struct conf_backend {
    struct conf_addr addr;       /* ADDR: the address; NAME and SRV: zeroed (salen 0) */
    unsigned weight;             /* 1..256, default 1; SRV: 1 (the records' weights apply) */
    enum conf_backend_kind kind; /* how the backend is found */
    char *host;                  /* owned; NAME: host name, SRV: SRV name; ADDR: NULL */
    uint16_t port;               /* ADDR and NAME: port; SRV: 0 (from the records) */
    struct conf_probe probe;     /* the region's probe with this backend's overrides */
    struct conf_tls_client tls;  /* the region's tls with this backend's overrides */
    struct conf_pos pos;         /* of the entry */
};

/* Ports a discovered backend may use: [lo, hi]. */
struct conf_port_range {
    uint16_t lo, hi;
};

/*
 * What a DNS answer may turn into a backend of a region. Answers are
 * hostile until checked: loopback, link-local, unspecified, multicast and
 * broadcast addresses are refused unless `allow` names them, and georoute's
 * own listeners and admin address always are.
 */
struct conf_discovery {
    struct conf_cidr_list allow;   /* empty: any address but the special ones */
    struct conf_port_range *ports; /* owned, nports; empty: any port */
    size_t nports;
    uint32_t max_addresses; /* per name or SRV set; more are cut off */
};

struct conf_region {
    char name[CONF_NAME_MAX + 1];
    struct conf_backend *backends; /* owned, nbackends entries */
    size_t nbackends;
    uint32_t min_healthy;            /* up, non-ejected backends for "healthy"; default 1 */
    struct conf_probe probe;         /* the region's probe (backends hold their merged copy) */
    struct conf_passive passive;     /* outlier ejection */
    struct conf_discovery discovery; /* what DNS answers may become its backends */
    struct conf_tls_client tls; /* TLS to the region's backends (backends hold their merged copy) */
    struct conf_pos pos;        /* of the region's name */
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
    uint64_t lame_duck_ms;          /* SIGTERM to closing the listeners: still serving,
                                       /readyz 503; 0 = none */
    uint64_t shutdown_drain_ms;     /* in-flight grace on SIGTERM */
    uint64_t tls_handshake_ms;      /* accept to the end of the TLS handshake */
};

struct conf_limits {
    uint32_t max_client_connections; /* per process; excess accepted+closed */
    uint32_t max_header_bytes;       /* request/response head, bytes */
    uint32_t max_headers;            /* header fields per message */
    uint64_t max_body_bytes;         /* request body; 0 = unlimited */
    uint32_t max_keepalive_requests; /* per client connection; 0 = unlimited */
    uint32_t upstream_pool_size;     /* idle upstream conns per backend per worker */
    uint32_t retries;                /* extra attempts on another backend */
    uint32_t max_tls_handshakes;     /* concurrent TLS handshakes per worker */
    /* HTTP/2 streams per client connection (SETTINGS_MAX_CONCURRENT_STREAMS) */
    uint32_t h2_max_concurrent_streams;
};

/* Geo database layouts (issue 3); same names as geo/'s presets. */
enum conf_geo_schema {
    CONF_GEO_SCHEMA_MAXMIND,     /* GeoIP2/GeoLite2 City and Country */
    CONF_GEO_SCHEMA_MAXMIND_ASN, /* GeoLite2-ASN */
    CONF_GEO_SCHEMA_FLAT,        /* ip-location-db country_code */
    CONF_GEO_SCHEMA_CUSTOM,      /* the dotted paths in conf_geo_db.fields */
};

/*
 * Result fields a custom schema can fill. The order is geo/'s enum geo_field,
 * so fields[i] is the path of geo field i.
 */
enum conf_geo_field {
    CONF_GEO_FIELD_COUNTRY,
    CONF_GEO_FIELD_SUBDIVISION,
    CONF_GEO_FIELD_CONTINENT,
    CONF_GEO_FIELD_ASN,
    CONF_GEO_FIELD_AS_ORG,
    CONF_GEO_FIELD_LATITUDE,
    CONF_GEO_FIELD_LONGITUDE,
    CONF_GEO_FIELD_COUNT
};

#define CONF_GEO_DB_MAX 4 /* geo.databases entries */

struct conf_geo_db {
    char *path;                         /* owned; the .mmdb file */
    uint32_t schema;                    /* enum conf_geo_schema; default MAXMIND */
    char *fields[CONF_GEO_FIELD_COUNT]; /* owned; CUSTOM only: dotted paths, NULL = absent */
    struct conf_pos pos;                /* of the entry (open errors) */
    struct conf_pos field_pos[CONF_GEO_FIELD_COUNT]; /* of each fields[] value */
};

/* Request headers telling backends the classification; each NULL = not sent. */
struct conf_geo_headers {
    char *country;     /* owned; ISO 3166-1 code */
    char *subdivision; /* owned; "CN-GD" */
    char *continent;   /* owned; "AS" */
    char *asn;         /* owned; decimal AS number */
    char *zone;        /* owned; the zone's name */
    char *region;      /* owned; the chosen region's name */
};

struct conf_geo {
    struct conf_geo_db *dbs; /* owned, ndbs entries (0..CONF_GEO_DB_MAX), looked up in order */
    size_t ndbs;
    uint64_t reload_interval_ms;     /* file change check; 0 = off; default 60s */
    struct conf_geo_headers headers; /* what backends are told */
};

/* The values given under one match key, with where each was written. */
struct conf_zone_values {
    char **str;           /* owned array of n owned strings, as written (geo/ validates them) */
    struct conf_pos *pos; /* owned, n entries */
    size_t n;             /* 0 = key absent */
};

/* A zone's match: every key with values must hold (AND), one value per key (OR). */
struct conf_zone_match {
    struct conf_zone_values country;     /* "CN" */
    struct conf_zone_values subdivision; /* "CN-GD" */
    struct conf_zone_values continent;   /* "AS" */
    struct conf_zone_values cidr;        /* "10.0.0.0/8" */
    uint32_t *asn;                       /* owned, nasn AS numbers, 1..4294967295 */
    struct conf_pos *asn_pos;            /* owned, nasn entries */
    size_t nasn;
};

#define CONF_CLASSES_MAX 8 /* request classes per zone */

/*
 * A request class of a zone: requests whose origin-form path starts with
 * one of `prefix` (and, when `method` is given, with one of those methods).
 * Each class learns its own typical size and picks its own region.
 */
struct conf_class {
    char name[CONF_NAME_MAX + 1];
    char **prefix;      /* owned, nprefix owned strings, each starting with '/' */
    size_t *prefix_len; /* owned, nprefix: strlen of each, so a match needs none */
    size_t nprefix;     /* >= 1 */
    char **method;      /* owned, nmethod owned upper-case method names; 0 = any method */
    size_t nmethod;
    struct conf_pos pos; /* of the name */
};

/* Where a zone's clients may go. Region indexes are into conf->regions. */
struct conf_route {
    size_t *regions; /* owned, nregions indexes: the allowed regions (residency), >= 1 */
    size_t nregions;
    size_t *fallback;  /* owned, nfallback indexes: used only when no allowed region is healthy */
    size_t nfallback;  /* 0 = reject */
    unsigned reject;   /* 1 when nfallback == 0: answer 503 with Retry-After */
    uint64_t *bias_ms; /* owned, conf->nregions entries: added to region i's score; 0 = none */
    struct conf_class *classes; /* owned, nclasses (0..CONF_CLASSES_MAX), matched in order */
    size_t nclasses;
};

#define CONF_ZONE_DEFAULT "default" /* name of the zone that catches every other client */

struct conf_zone {
    char name[CONF_NAME_MAX + 1];
    unsigned is_default;          /* 1 for the zone named "default" (always the last zone) */
    unsigned implicit;            /* 1 when "default" was not written and was added */
    unsigned has_match;           /* 0 only for the default zone */
    struct conf_zone_match match; /* empty when !has_match */
    struct conf_route route;
    size_t route_first;        /* the zone's first route: its other requests; then a class each */
    struct conf_pos pos;       /* of the name; 0 when implicit */
    struct conf_pos match_pos; /* of the match mapping; 0 when none */
};

/* Hysteresis and scoring (DESIGN: scoring). */
struct conf_routing {
    uint64_t min_gain_ms;      /* a challenger must beat the current region by more than */
    uint32_t min_gain_pct;     /*   max(min_gain_ms, this % of the current score); 0..100 */
    uint32_t switch_evidence;  /* ... by this much excess integrated over time, ms*s; 0 = at once */
    uint64_t rtt_half_life_ms; /* EWMA half-life of RTT samples */
    uint64_t slow_start_ms;    /* ramp-up of a region or backend that comes back; 0 = off */
    uint32_t retry_budget_pct; /* retries at most this share of requests, 0..100 */
    uint64_t failure_penalty_ms; /* latency charged for a failed request (peak-EWMA) */
};

struct conf_admin {
    unsigned enabled;         /* 0 with `listen: off` */
    struct conf_addr addr;    /* default 127.0.0.1:9901; zeroed when !enabled or unix */
    char *unix_path;          /* owned; `listen: unix:/path`, else NULL */
    uint32_t mode;            /* file mode of the unix socket, default 0600 */
    char *token;              /* owned; bearer token, NULL = none (loopback or unix only) */
    char *token_file;         /* owned; where token was read from, or NULL */
    char *token_env;          /* owned; the environment variable token came from, or NULL */
    uint32_t max_connections; /* admin connections open at once, default 64 */
};

enum conf_dns_family {
    CONF_DNS_ANY,         /* A and AAAA, both used */
    CONF_DNS_IPV4,        /* A only */
    CONF_DNS_IPV6,        /* AAAA only */
    CONF_DNS_PREFER_IPV4, /* A when there are any, else AAAA */
    CONF_DNS_PREFER_IPV6, /* AAAA when there are any, else A */
};

struct conf_dns {
    struct conf_addr *servers; /* owned, nservers entries; 0 = /etc/resolv.conf */
    size_t nservers;
    uint64_t min_ttl_ms;   /* TTLs below are raised to this */
    uint64_t max_ttl_ms;   /* TTLs above are lowered to this, >= min_ttl */
    uint64_t timeout_ms;   /* per query */
    uint64_t retry_max_ms; /* cap of the retry backoff after failures */
    uint32_t family;       /* enum conf_dns_family */
};

/* Fields of an access-log line (docs/LOGS.md), in logfmt and JSON order. */
enum conf_log_field {
    CONF_LOG_TIME,
    CONF_LOG_CLIENT,
    CONF_LOG_ZONE,
    CONF_LOG_COUNTRY,
    CONF_LOG_METHOD,
    CONF_LOG_TARGET,
    CONF_LOG_STATUS,
    CONF_LOG_BYTES_IN,
    CONF_LOG_BYTES_OUT,
    CONF_LOG_BACKEND,
    CONF_LOG_REGION,
    CONF_LOG_REASON,
    CONF_LOG_MS,
    CONF_LOG_PEER,
    CONF_LOG_REQUEST_ID,
    CONF_LOG_PROTO,  /* h1, h2 or h2c */
    CONF_LOG_STREAM, /* the HTTP/2 stream id; only on HTTP/2 */
    CONF_LOG_ERROR,
    CONF_LOG_TLS, /* TLS version; these five only on TLS listeners */
    CONF_LOG_CIPHER,
    CONF_LOG_SNI,
    CONF_LOG_RESUMED,
    CONF_LOG_TLS_MS,
    CONF_LOG_NFIELDS
};

/* Each field's name in logfmt keys, JSON keys and $name in templates. */
extern const char *const conf_log_field_names[CONF_LOG_NFIELDS];

enum conf_log_kind { CONF_LOG_LOGFMT, CONF_LOG_JSON, CONF_LOG_TEMPLATE };

/* A template piece: literal text[off, off+len), then FIELD (-1: none). */
struct conf_log_piece {
    uint32_t off, len;
    int field;
};

struct conf_log_format {
    unsigned kind;                 /* enum conf_log_kind */
    char *text;                    /* owned; the template (CONF_LOG_TEMPLATE) */
    struct conf_log_piece *pieces; /* owned, npieces */
    size_t npieces;
};

struct conf {
    char *path;    /* owned; file name used in messages */
    uint64_t hash; /* FNV-1a of the file's bytes: which config is in force */

    struct conf_addr *listen; /* owned, nlisten entries (at least 1) */
    size_t nlisten;
    struct conf_listener *listeners; /* owned, nlisten entries, same order as listen */

    unsigned workers; /* 0 means "auto": one per CPU */

    struct conf_region *regions; /* owned, in file order, nregions >= 1 */
    size_t nregions;

    struct conf_timeouts timeouts;
    struct conf_limits limits;

    char *access_log; /* owned; NULL = off, "-" = stderr, else a path */
    struct conf_log_format access_log_format;
    char *user;  /* owned; run as this user after binding; NULL = stay */
    char *group; /* owned; and this group; NULL = the user's primary group */

    struct conf_cidr_list trusted_proxies; /* peers whose PROXY header / X-Forwarded-For count */
    struct conf_cidr_list debug_clients;   /* clients that get the explain header */
    char *explain_header;                  /* owned; response header name, default "X-Georoute" */
    unsigned underscores_in_headers;       /* 1: forward header names with '_'; default 0 */

    struct conf_geo geo;
    struct conf_zone *zones; /* owned, nzones >= 1 in file order; the last is "default" */
    size_t nzones;
    size_t nroutes; /* zones and their classes: sum of 1 + route.nclasses */
    struct conf_routing routing;
    struct conf_admin admin;
    struct conf_dns dns;

    /* Where the keys only a restart can change were written (1:1 when
     * absent), so a reload that changes one points at it. */
    struct conf_restart_pos {
        struct conf_pos workers, access_log, user, group, admin_listen;
    } restart_pos;
};

/* The peers of listener L that must start with a PROXY header: its own
 * `proxy_protocol.from`, else (`proxy_protocol: true`) trusted_proxies. */
static inline const struct conf_cidr_list *conf_proxy_from(const struct conf *c,
                                                           const struct conf_listener *l)
{
    if (!l->proxy_protocol)
        return NULL;
    return l->proxy_from.ncidrs > 0 ? &l->proxy_from : &c->trusted_proxies;
}

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

/* Returns the zone named NAME, or NULL. */
const struct conf_zone *conf_zone_find(const struct conf *c, const char *name);

/*
 * Returns 1 when address SA (AF_INET or AF_INET6; an IPv4-mapped IPv6
 * address counts as the IPv4 address it maps) lies in one of LIST's
 * networks, else 0 (also for other families).
 */
int conf_cidr_list_match(const struct conf_cidr_list *list, const struct sockaddr *sa);

/* Returns the preset name of SCHEMA ("maxmind", "maxmind-asn", "flat", "custom"). */
const char *conf_geo_schema_name(enum conf_geo_schema schema);

/* Returns the config name of a TLS version ("TLSv1.2"). */
const char *conf_tls_version_name(enum conf_tls_version v);

/* Returns the config name of a geo field ("country", "as_org"), or NULL if out of range. */
const char *conf_geo_field_name(enum conf_geo_field f);

#endif
