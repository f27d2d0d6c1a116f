/*
 * stats: a worker's request counters and histograms. Each worker writes
 * only its own struct px_stats, with a relaxed load and a relaxed store
 * (no lock prefix: nobody else writes it); the control thread reads every
 * worker's copy with relaxed loads and sums them for a scrape. A reading
 * may be a few requests behind; it is never torn.
 *
 * Dimensions come from the config at init: zones x (regions + 1) x status
 * class for requests, where region slot 0 is "no region" (rejected or not
 * routed) and slot r + 1 is conf->regions[r]. Zone slot PX_STATS_ZONE_NONE
 * counts requests refused before they were classified (named "-").
 */
#ifndef PX_STATS_H
#define PX_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_STATS_CLASSES 5       /* 1xx .. 5xx */
#define PX_STATS_DUR_BUCKETS 13  /* finite upper bounds of the request duration histogram */
#define PX_STATS_RTT_BUCKETS 11  /* finite upper bounds of the client RTT histogram */
#define PX_STATS_TTFB_BUCKETS 14 /* finite upper bounds of the upstream TTFB histogram */

/*
 * Why the proxy answered a request itself, for
 * dashboards that must tell a residency 503 from no backend reachable (502)
 * and a backend timeout (504).
 */
enum px_stats_reason {
    PX_REASON_NONE,             /* the backend answered */
    PX_REASON_NO_REGION,        /* 503: the zone has no allowed region left (residency) */
    PX_REASON_NO_BACKEND,       /* 502: no backend could be reached */
    PX_REASON_UPSTREAM_TIMEOUT, /* 504 */
    PX_REASON_UPSTREAM_FAILED,  /* 502: reset, closed or invalid response */
    PX_REASON_CLIENT_TIMEOUT,   /* 408, or a client too slow to send or read */
    PX_REASON_REFUSED,          /* the request was refused (400, 413, 431, 501, 505, ...) */
    PX_STATS_REASONS
};

extern const char *const px_stats_reason_names[PX_STATS_REASONS];

/* Upper bounds, in seconds, of the finite buckets (Prometheus `le`). */
extern const double px_stats_dur_bounds_s[PX_STATS_DUR_BUCKETS];
extern const double px_stats_rtt_bounds_s[PX_STATS_RTT_BUCKETS];
extern const double px_stats_ttfb_bounds_s[PX_STATS_TTFB_BUCKETS];

/*
 * One worker's counts for one backend, kept in the backend's descriptor
 * (proxy/state/fleet.h) so they follow it across reloads and DNS changes.
 */
struct px_bstats {
    _Alignas(64) _Atomic uint64_t requests;           /* attempts with an outcome; each worker's
                                                         block on its own cache lines */
    _Atomic uint64_t errors;                          /* ... that failed: connect, reset,
                                                         timeout or 5xx */
    _Atomic uint64_t ttfb[PX_STATS_TTFB_BUCKETS + 1]; /* request sent to response head; +Inf last */
    _Atomic uint64_t ttfb_sum_us;
};

/* Counts one attempt on B: FAILED or not, and its time to first byte when it got a head. */
void px_stats_backend(struct px_bstats *b, bool failed, bool has_head, uint64_t ttfb_us);

/* Adds the N per-worker blocks at SRC into DST (relaxed loads; any thread). */
void px_stats_backend_sum(struct px_bstats *dst, const struct px_bstats *src, unsigned n);

/* How a TLS handshake ended (georoute_tls_handshakes_total{result}). */
enum px_stats_tls_result {
    PX_STATS_TLS_OK,
    PX_STATS_TLS_FAILED,  /* a protocol or certificate error */
    PX_STATS_TLS_PLAIN,   /* plain HTTP sent to the TLS port */
    PX_STATS_TLS_TIMEOUT, /* timeouts.tls_handshake passed */
    PX_STATS_TLS_ABORTED, /* the peer left, or the connection was closed */
    PX_STATS_TLS_REFUSED, /* over limits.max_tls_handshakes: closed at accept */
    PX_STATS_TLS_VERIFY,  /* upstream: the backend's certificate failed verification */
    PX_STATS_TLS_RESULTS
};

/* Which results each side can have, as bits (1u << result): a client handshake
 * never verifies a certificate, an upstream one is never plain or refused. */
#define PX_STATS_TLS_CLIENT_RESULTS                                                                \
    (~(1u << PX_STATS_TLS_VERIFY) & ((1u << PX_STATS_TLS_RESULTS) - 1))
#define PX_STATS_TLS_UPSTREAM_RESULTS                                                              \
    ((1u << PX_STATS_TLS_OK) | (1u << PX_STATS_TLS_FAILED) | (1u << PX_STATS_TLS_VERIFY) |         \
     (1u << PX_STATS_TLS_TIMEOUT) | (1u << PX_STATS_TLS_ABORTED))

/* Versions of completed handshakes, and their names for labels. */
enum { PX_STATS_TLS12, PX_STATS_TLS13, PX_STATS_TLS_VERSIONS };
#define PX_STATS_TLS_BUCKETS 10 /* finite upper bounds of the handshake duration histogram */
extern const char *const px_stats_tls_result_names[PX_STATS_TLS_RESULTS];
extern const char *const px_stats_tls_version_names[PX_STATS_TLS_VERSIONS];
extern const double px_stats_tls_bounds_s[PX_STATS_TLS_BUCKETS];

/* One side's TLS handshakes; every member a counter, so it sums as an array. */
struct px_stats_tls {
    _Atomic uint64_t result[PX_STATS_TLS_RESULTS];
    _Atomic uint64_t version[PX_STATS_TLS_VERSIONS]; /* completed, by version */
    _Atomic uint64_t resumed;                        /* completed by a session ticket */
    _Atomic uint64_t dur[PX_STATS_TLS_BUCKETS + 1];  /* completed; +Inf last; not cumulative */
    _Atomic uint64_t dur_sum_us;                     /* total handshake time, microseconds */
};

/* Requests by the protocol the client spoke. */
enum px_stats_proto { PX_STATS_HTTP1, PX_STATS_H2, PX_STATS_PROTOS };

/* HTTP/2 on client connections; every member a counter, so it sums as an array. */
struct px_stats_h2 {
    _Atomic uint64_t requests[PX_STATS_PROTOS]; /* requests (streams) by protocol */
    _Atomic uint64_t connections;               /* connections that became HTTP/2 */
    _Atomic uint64_t errors; /* connections we ended with GOAWAY for an error or a flood */
};

struct px_stats {
    size_t nzones;                    /* dimension: conf->nzones at init */
    size_t nregions;                  /* dimension: conf->nregions at init (slots: nregions + 1) */
    _Atomic uint64_t *requests;       /* owned: [zone][slot][class], count */
    _Atomic uint64_t *dur;            /* owned: [zone][slot][bucket], +Inf last; not cumulative */
    _Atomic uint64_t *dur_sum_us;     /* owned: [zone][slot], total request time, microseconds */
    _Atomic uint64_t *rtt;            /* owned: [zone][bucket], +Inf last; not cumulative */
    _Atomic uint64_t *rtt_sum_us;     /* owned: [zone], total client RTT, microseconds */
    _Atomic uint64_t geo_lookups;     /* classifications computed (cache misses) */
    _Atomic uint64_t geo_not_found;   /* ... for addresses no database knew */
    _Atomic uint64_t accepted;        /* client connections accepted, count */
    _Atomic uint64_t retries;         /* attempts after the first, count */
    _Atomic uint64_t upstream_opened; /* backend connections created, count */
    _Atomic uint64_t upstream_closed; /* ... and closed; the difference is open now */
    _Atomic uint64_t rejected;        /* client connections refused over the connection cap */
    _Atomic uint64_t accept_errors;   /* accept() failures on the listeners, count */
    _Atomic uint64_t bytes_in;        /* bytes read from clients in requests */
    _Atomic uint64_t bytes_out;       /* bytes written to clients in responses */
    _Atomic uint64_t *reasons;        /* owned: [zone][reason], count */
    struct px_stats_tls tls;          /* handshakes on TLS listeners */
    struct px_stats_tls up_tls;       /* handshakes with TLS backends (requests, not probes) */
    struct px_stats_h2 h2;            /* protocols and HTTP/2 connections */
};

/* Adds N to counter C. Only the owning thread may call it. */
static inline void px_stats_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Reads counter C from any thread. */
static inline uint64_t px_stats_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

/*
 * Zone or region slots to give the stats of a process started with N of
 * them: room for names that reloads add (a reload that would need more is
 * refused; a restart makes room).
 */
static inline size_t px_stats_slots(size_t n)
{
    return 2 * n + 8;
}

/* The zone slot of requests refused before classification, and its name. */
#define PX_STATS_ZONE_NONE 0
#define PX_STATS_ZONE_NONE_NAME "-"

/* Zone slots for a process started with N zones: px_stats_slots(N) names
 * plus PX_STATS_ZONE_NONE. */
static inline size_t px_stats_zone_slots(size_t n)
{
    return px_stats_slots(n) + 1;
}

/*
 * Allocates S's arrays for NZONES x NREGIONS, all zero. Returns 0, or
 * PX_ENOMEM (then S is disposed and may be disposed again).
 */
int px_stats_init(struct px_stats *s, size_t nzones, size_t nregions);

/* Frees what S owns. Accepts NULL and a zeroed or disposed struct. */
void px_stats_dispose(struct px_stats *s);

/* Zeroes every counter of S (not its dimensions). Owner thread only. */
void px_stats_reset(struct px_stats *s);

/*
 * Counts one request of ZONE answered from REGION (-1 = none) with STATUS
 * (100..599; others are not counted by class) after DUR_US microseconds.
 * Out-of-range zones or regions are ignored. Owner thread only.
 */
void px_stats_request(struct px_stats *s, size_t zone, int region, int status, uint64_t dur_us);

/* Counts one request of ZONE the proxy answered itself for REASON. Owner thread only. */
void px_stats_reason(struct px_stats *s, size_t zone, enum px_stats_reason reason);

/* Records one client connection's RTT (RTT_US microseconds) in ZONE. Owner thread only. */
void px_stats_client_rtt(struct px_stats *s, size_t zone, uint64_t rtt_us);

/*
 * Counts one client TLS handshake that ended with RESULT; a completed one
 * (PX_STATS_TLS_OK) also with its VERSION ("TLSv1.3"), whether it RESUMED,
 * and its duration DUR_US. Owner thread only.
 */
void px_stats_tls(struct px_stats *s, enum px_stats_tls_result result, const char *version,
                  int resumed, uint64_t dur_us);

/* The same for one side's counts T (s->tls or s->up_tls). Owner thread only. */
void px_stats_tls_count(struct px_stats_tls *t, enum px_stats_tls_result result,
                        const char *version, int resumed, uint64_t dur_us);

/*
 * Adds every counter of SRC (read with relaxed loads, any thread) into DST,
 * which the caller owns. Dimensions must match; returns 0, or -1 (nothing
 * added) when they do not.
 */
int px_stats_merge(struct px_stats *dst, const struct px_stats *src);

/*
 * Returns the median client RTT of ZONE in seconds, interpolated linearly
 * within the histogram bucket that holds it, or -1 without samples.
 */
double px_stats_rtt_median_s(const struct px_stats *s, size_t zone);

/*
 * Returns the smoothed RTT the kernel measured on connected TCP socket FD
 * (TCP_INFO tcpi_rtt), in microseconds, or a negative errno.
 */
int64_t px_stats_tcp_rtt_us(int fd);

/* Index helpers (no bounds checks). */
static inline size_t px_stats_req_index(const struct px_stats *s, size_t zone, size_t slot,
                                        size_t cls)
{
    return (zone * (s->nregions + 1) + slot) * PX_STATS_CLASSES + cls;
}

static inline size_t px_stats_dur_index(const struct px_stats *s, size_t zone, size_t slot,
                                        size_t bucket)
{
    return (zone * (s->nregions + 1) + slot) * (PX_STATS_DUR_BUCKETS + 1) + bucket;
}

#endif
