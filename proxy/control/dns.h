/*
 * dns: asynchronous name and SRV discovery for one uv loop (the control
 * thread's), on c-ares. The only file that includes ares.h is dns.c: no
 * c-ares type or status code crosses this header.
 *
 * A watch resolves a name (A/AAAA) or an SRV name, re-resolves it when the
 * answer's TTL runs out (clamped to [min_ttl, max_ttl]) and reports the
 * address set through its callback the first time it resolves and whenever
 * the set changes. A failed resolution keeps the last good set (no callback),
 * is counted, logged once per change of error state, and retried with an
 * exponential backoff capped at retry_max.
 */
#ifndef PX_DNS_H
#define PX_DNS_H

#include "conf/conf.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/*
 * DNS error codes (below px_err's range). Every c-ares status is mapped to
 * one of these, to PX_ENOMEM, or (cancellation) to PX_EDNS_CANCELED, in one
 * place in dns.c.
 */
enum px_dns_err {
    PX_EDNS_NOTFOUND = -1200,    /* NXDOMAIN, or no record of the asked type (NODATA) */
    PX_EDNS_UNREACHABLE = -1201, /* no server answered: timeout or connection refused */
    PX_EDNS_SERVFAIL = -1202,    /* the servers answered SERVFAIL, REFUSED or NOTIMP */
    PX_EDNS_BADRESP = -1203,     /* malformed or unusable answer */
    PX_EDNS_BADNAME = -1204,     /* the name cannot be queried */
    PX_EDNS_CANCELED = -1205,    /* the query was cancelled (px_dns_close) */
    PX_EDNS_FAILED = -1206,      /* any other resolver failure */
};

/* Returns a static description of a px_dns_err, or px_strerror(err) for other codes. */
const char *px_dns_strerror(int err);

/* Returns the static name of a px_dns_err ("EDNS_NOTFOUND"), for key=value logs. */
const char *px_dns_err_name(int err);

#define PX_DNS_NAME_MAX 253 /* longest DNS name, without the trailing dot */

/* One resolved address. */
struct px_dns_addr {
    struct sockaddr_storage sa; /* AF_INET or AF_INET6, port set */
    socklen_t salen;            /* sizeof(struct sockaddr_in) or sizeof(struct sockaddr_in6) */
    uint16_t port;              /* host order; same as in sa */
    uint16_t weight;            /* 1..256; name watches: 1; SRV: scaled record weight */
    uint16_t priority;          /* SRV record priority (the lowest present); names: 0 */
    /* SRV: the target name the address was resolved from, without the
     * trailing dot: the name a TLS backend is verified against. "" for name
     * watches and for targets that are numeric addresses. */
    char target[PX_DNS_NAME_MAX + 1];
};

/*
 * A watch's address set, as handed to its callback. Addresses are sorted
 * (IPv4 before IPv6, then by address bytes, then port) and deduplicated (an
 * address two SRV targets share keeps the better record: lower priority,
 * then higher weight, then the first target name).
 */
struct px_dns_result {
    const char *name;                /* borrowed: the watched name */
    const struct px_dns_addr *addrs; /* borrowed: valid during the callback only; naddrs >= 1 */
    size_t naddrs;
    uint64_t ttl_ms; /* until the next re-resolution (clamped TTL); UINT64_MAX for a literal */
};

/*
 * Called on a watch's first result and on every change of its set, from the
 * loop (never from inside px_dns_watch_*). It may call px_dns_unwatch (on
 * this or any watch), px_dns_watch_* and px_dns_close.
 */
typedef void (*px_dns_watch_cb)(void *data, const struct px_dns_result *res);

/* Called once when px_dns_close is complete; the px_dns is already freed. */
typedef void (*px_dns_close_cb)(void *data);

struct px_dns;       /* one per loop; opaque (it holds the c-ares channel) */
struct px_dns_watch; /* one watched name; opaque */

/* Counters of one px_dns since px_dns_new. */
struct px_dns_stats {
    uint64_t queries;          /* c-ares lookups started (SRV: one plus one per target) */
    uint64_t resolutions;      /* resolution rounds that ended (success or failure) */
    uint64_t failures;         /* rounds that failed, by kind below */
    uint64_t fail_notfound;    /* PX_EDNS_NOTFOUND */
    uint64_t fail_unreachable; /* PX_EDNS_UNREACHABLE */
    uint64_t fail_servfail;    /* PX_EDNS_SERVFAIL */
    uint64_t fail_other;       /* anything else */
    uint64_t changes;          /* callbacks made (first results and changes) */
};

/* A snapshot of one watch, for /status. */
struct px_dns_watch_info {
    const char *name;                /* borrowed: valid while the watch lives */
    unsigned is_srv : 1;             /* watched with px_dns_watch_srv */
    unsigned is_literal : 1;         /* a numeric address: never sent to DNS */
    unsigned resolving : 1;          /* a resolution is in flight */
    uint16_t port;                   /* name watches: the port given; SRV: 0 */
    const struct px_dns_addr *addrs; /* borrowed: valid until the next callback or unwatch */
    size_t naddrs;                   /* 0 until the name first resolves */
    uint64_t ttl_left_ms;            /* until the next resolution (or retry); 0 = due now;
                                        UINT64_MAX for a literal */
    int err;                         /* of the latest attempt: 0 = it succeeded (or none yet) */
    int last_err;                    /* most recent failure, 0 = never failed */
    const char *last_err_str;        /* static: px_dns_strerror(last_err), "" when 0 */
    uint64_t last_ok_age_ms;         /* since the latest success; UINT64_MAX = never */
    uint64_t last_ok_unix_ms;        /* wall clock of the latest success; 0 = never */
    uint64_t queries;                /* resolution rounds started for this watch */
    uint64_t failures;               /* rounds that failed */
};

/*
 * Initialises c-ares for the process (ares_library_init). Call once from
 * main before any thread starts: it is not thread-safe. Returns 0 or a
 * negative px/DNS error code.
 */
int px_dns_global_init(void);

/* Undoes px_dns_global_init; call from main after every px_dns is closed. */
void px_dns_global_cleanup(void);

/*
 * Creates the DNS service of LOOP with CONF's servers (none: the system's
 * /etc/resolv.conf), per-query timeout, TTL clamps, retry cap and default
 * family. CONF is copied, not kept. On success stores the new service in *out
 * and returns 0; the caller owns it and ends it with px_dns_close. On failure
 * returns a negative code (PX_ENOMEM, PX_EDNS_*, UV_EINVAL for a bad server)
 * and nothing is left on the loop.
 */
int px_dns_new(uv_loop_t *loop, const struct conf_dns *conf, struct px_dns **out);

/*
 * Applies a reloaded CONF: servers, TTL clamps, retry cap, and the family of
 * later SRV watches. The per-query timeout is fixed at px_dns_new. With new
 * servers, resolutions in flight are cancelled (c-ares 1.18 refuses to change
 * servers while queries are outstanding) and start again on the next loop
 * turn, without callbacks or failures. The new clamps apply from each watch's
 * next answer. Returns 0; UV_EBUSY from inside a watch callback (nothing
 * changed); PX_ESHUTDOWN after px_dns_close; or another negative code from
 * the servers, with the old servers kept.
 */
int px_dns_set_conf(struct px_dns *dns, const struct conf_dns *conf);

/*
 * Watches HOST (a DNS name, or a numeric IPv4/IPv6 address, optionally in
 * brackets, which never goes to c-ares) for A/AAAA records; every address
 * gets PORT and weight 1. FAMILY is an enum conf_dns_family:
 *   CONF_DNS_ANY          A and AAAA, both used
 *   CONF_DNS_IPV4/IPV6    one family only
 *   CONF_DNS_PREFER_IPV4  the A records when there are any, else the AAAA ones
 *   CONF_DNS_PREFER_IPV6  the AAAA records when there are any, else the A ones
 * The first resolution starts on the next loop turn. CB(DATA, result) is
 * called as described at px_dns_watch_cb, never synchronously from this
 * function. HOST is copied. On success stores the watch in *out (owned by
 * DNS; release with px_dns_unwatch or px_dns_close) and returns 0. Returns
 * UV_EINVAL for an empty or over-long name or a bad family, PX_ENOMEM, or
 * PX_ESHUTDOWN after px_dns_close.
 */
int px_dns_watch_name(struct px_dns *dns, const char *host, uint16_t port, uint32_t family,
                      px_dns_watch_cb cb, void *data, struct px_dns_watch **out);

/*
 * Watches the SRV name SRV_NAME ("_http._tcp.example.com"), then the A/AAAA
 * records of every target of the lowest priority present, with the family of
 * the px_dns conf. Each address gets its record's port, its target's name
 * (a change of name is a change of the set) and its record's weight: record
 * weights are used as they are when the largest is at most 256, else scaled
 * proportionally to 1..256; a weight of 0 becomes 1 (RFC 2782 gives such
 * targets a very small share, and 1 is the smallest backend weight). A target
 * "." (service not offered) or one whose name does not exist adds nothing;
 * any other failure of a target fails the whole round (last good set kept).
 * Otherwise as px_dns_watch_name.
 */
int px_dns_watch_srv(struct px_dns *dns, const char *srv_name, px_dns_watch_cb cb, void *data,
                     struct px_dns_watch **out);

/*
 * Stops and frees watch W: its callback is never called again, and a
 * resolution in flight is abandoned (its answer is dropped). Safe from
 * inside any watch callback, including W's own. W must not be used after.
 * Accepts NULL.
 */
void px_dns_unwatch(struct px_dns_watch *w);

/* Fills *out with W's current state. Pointers in *out are borrowed (see the struct). */
void px_dns_watch_info(const struct px_dns_watch *w, struct px_dns_watch_info *out);

/*
 * Iteration over the live watches in creation order: px_dns_watch_first
 * returns the first (NULL when none), px_dns_watch_next the one after W.
 * Do not unwatch W while holding it for px_dns_watch_next.
 */
struct px_dns_watch *px_dns_watch_first(const struct px_dns *dns);
struct px_dns_watch *px_dns_watch_next(const struct px_dns_watch *w);

/* Copies DNS's counters into *out. */
void px_dns_stats(const struct px_dns *dns, struct px_dns_stats *out);

/*
 * Cancels everything and frees DNS asynchronously: every watch is freed
 * (without callbacks; watch pointers must not be used after), the channel is
 * destroyed (pending queries end with cancellation and start nothing new),
 * and the timers and poll handles are closed. CLOSE_CB(DATA), which may be
 * NULL, runs once from the loop when the last handle has closed; the loop can
 * then be closed with uv_loop_close() == 0. Idempotent (later calls are
 * ignored); safe from inside a watch callback, where the teardown is deferred
 * until the callback returns.
 */
void px_dns_close(struct px_dns *dns, px_dns_close_cb close_cb, void *data);

#endif
