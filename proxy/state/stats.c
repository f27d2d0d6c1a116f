/*
 * stats: per-worker counters. See stats.h for the one-writer rule that lets
 * every increment be a plain relaxed load and store.
 */
#include "proxy/state/stats.h"
#include "proxy/base/px.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

const double px_stats_dur_bounds_s[PX_STATS_DUR_BUCKETS] = {
    .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
};

const double px_stats_rtt_bounds_s[PX_STATS_RTT_BUCKETS] = {
    .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
};

/* Up to four times the default upstream_response (30 s). */
const double px_stats_ttfb_bounds_s[PX_STATS_TTFB_BUCKETS] = {
    .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120,
};

const char *const px_stats_reason_names[PX_STATS_REASONS] = {
    [PX_REASON_NONE] = "backend",
    [PX_REASON_NO_REGION] = "no_region",
    [PX_REASON_NO_BACKEND] = "no_backend",
    [PX_REASON_UPSTREAM_TIMEOUT] = "upstream_timeout",
    [PX_REASON_UPSTREAM_FAILED] = "upstream_failed",
    [PX_REASON_CLIENT_TIMEOUT] = "client_timeout",
    [PX_REASON_REFUSED] = "refused",
};

const char *const px_stats_tls_result_names[PX_STATS_TLS_RESULTS] = {
    "ok", "failed", "plain_http", "timeout", "aborted", "refused", "verify_failed",
};

const char *const px_stats_tls_version_names[PX_STATS_TLS_VERSIONS] = {"TLSv1.2", "TLSv1.3"};

const double px_stats_tls_bounds_s[PX_STATS_TLS_BUCKETS] = {
    .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
};

#define TLS_COUNTERS (sizeof(struct px_stats_tls) / sizeof(_Atomic uint64_t))
#define H2_COUNTERS (sizeof(struct px_stats_h2) / sizeof(_Atomic uint64_t))

/* Sizes of the arrays, in counters. */
static size_t n_requests(const struct px_stats *s)
{
    return s->nzones * (s->nregions + 1) * PX_STATS_CLASSES;
}

static size_t n_dur(const struct px_stats *s)
{
    return s->nzones * (s->nregions + 1) * (PX_STATS_DUR_BUCKETS + 1);
}

static size_t n_dur_sum(const struct px_stats *s)
{
    return s->nzones * (s->nregions + 1);
}

static size_t n_rtt(const struct px_stats *s)
{
    return s->nzones * (PX_STATS_RTT_BUCKETS + 1);
}

static _Atomic uint64_t *counters(size_t n)
{
    _Atomic uint64_t *a = calloc(n ? n : 1, sizeof(*a));
    for (size_t i = 0; a && i < n; i++)
        atomic_init(&a[i], 0);
    return a;
}

int px_stats_init(struct px_stats *s, size_t nzones, size_t nregions)
{
    memset(s, 0, sizeof(*s));
    s->nzones = nzones;
    s->nregions = nregions;
    atomic_init(&s->geo_lookups, 0);
    atomic_init(&s->geo_not_found, 0);
    atomic_init(&s->accepted, 0);
    atomic_init(&s->retries, 0);
    atomic_init(&s->upstream_opened, 0);
    atomic_init(&s->upstream_closed, 0);
    for (size_t i = 0; i < TLS_COUNTERS; i++) {
        atomic_init((_Atomic uint64_t *)&s->tls + i, 0);
        atomic_init((_Atomic uint64_t *)&s->up_tls + i, 0);
    }
    for (size_t i = 0; i < H2_COUNTERS; i++)
        atomic_init((_Atomic uint64_t *)&s->h2 + i, 0);
    s->requests = counters(n_requests(s));
    s->dur = counters(n_dur(s));
    s->dur_sum_us = counters(n_dur_sum(s));
    s->rtt = counters(n_rtt(s));
    s->rtt_sum_us = counters(nzones);
    s->reasons = counters(nzones * PX_STATS_REASONS);
    atomic_init(&s->rejected, 0);
    atomic_init(&s->accept_errors, 0);
    atomic_init(&s->bytes_in, 0);
    atomic_init(&s->bytes_out, 0);
    if (!s->requests || !s->dur || !s->dur_sum_us || !s->rtt || !s->rtt_sum_us || !s->reasons) {
        px_stats_dispose(s);
        return PX_ENOMEM;
    }
    return 0;
}

void px_stats_dispose(struct px_stats *s)
{
    if (s == NULL)
        return;
    free(s->requests);
    free(s->dur);
    free(s->dur_sum_us);
    free(s->rtt);
    free(s->rtt_sum_us);
    free(s->reasons);
    s->requests = s->dur = s->dur_sum_us = s->rtt = s->rtt_sum_us = s->reasons = NULL;
    s->nzones = s->nregions = 0;
}

static void zero(_Atomic uint64_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&a[i], 0, memory_order_relaxed);
}

void px_stats_reset(struct px_stats *s)
{
    zero(s->requests, n_requests(s));
    zero(s->dur, n_dur(s));
    zero(s->dur_sum_us, n_dur_sum(s));
    zero(s->rtt, n_rtt(s));
    zero(s->rtt_sum_us, s->nzones);
    zero(&s->geo_lookups, 1);
    zero(&s->geo_not_found, 1);
    zero(&s->accepted, 1);
    zero(&s->retries, 1);
    zero(&s->upstream_opened, 1);
    zero(&s->upstream_closed, 1);
    zero(&s->rejected, 1);
    zero(&s->accept_errors, 1);
    zero(&s->bytes_in, 1);
    zero(&s->bytes_out, 1);
    zero(s->reasons, s->nzones * PX_STATS_REASONS);
    zero((_Atomic uint64_t *)&s->tls, TLS_COUNTERS);
    zero((_Atomic uint64_t *)&s->up_tls, TLS_COUNTERS);
    zero((_Atomic uint64_t *)&s->h2, H2_COUNTERS);
}

/* The first bucket whose upper bound holds V seconds; N (the +Inf bucket) if none. */
static size_t bucket_of(const double *bounds, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        if (v <= bounds[i])
            return i;
    return n;
}

void px_stats_request(struct px_stats *s, size_t zone, int region, int status, uint64_t dur_us)
{
    size_t slot = region < 0 ? 0 : (size_t)region + 1;

    if (zone >= s->nzones || slot > s->nregions)
        return;
    if (status >= 100 && status <= 599)
        px_stats_add(&s->requests[px_stats_req_index(s, zone, slot, (size_t)(status / 100 - 1))],
                     1);
    size_t b = bucket_of(px_stats_dur_bounds_s, PX_STATS_DUR_BUCKETS, (double)dur_us / 1e6);
    px_stats_add(&s->dur[px_stats_dur_index(s, zone, slot, b)], 1);
    px_stats_add(&s->dur_sum_us[zone * (s->nregions + 1) + slot], dur_us);
}

void px_stats_client_rtt(struct px_stats *s, size_t zone, uint64_t rtt_us)
{
    if (zone >= s->nzones)
        return;
    size_t b = bucket_of(px_stats_rtt_bounds_s, PX_STATS_RTT_BUCKETS, (double)rtt_us / 1e6);
    px_stats_add(&s->rtt[zone * (PX_STATS_RTT_BUCKETS + 1) + b], 1);
    px_stats_add(&s->rtt_sum_us[zone], rtt_us);
}

void px_stats_tls_count(struct px_stats_tls *t, enum px_stats_tls_result result,
                        const char *version, int resumed, uint64_t dur_us)
{
    px_stats_add(&t->result[result], 1);
    if (result != PX_STATS_TLS_OK)
        return;
    for (size_t v = 0; v < PX_STATS_TLS_VERSIONS; v++)
        if (strcmp(version, px_stats_tls_version_names[v]) == 0)
            px_stats_add(&t->version[v], 1);
    if (resumed)
        px_stats_add(&t->resumed, 1);
    size_t b = bucket_of(px_stats_tls_bounds_s, PX_STATS_TLS_BUCKETS, (double)dur_us / 1e6);
    px_stats_add(&t->dur[b], 1);
    px_stats_add(&t->dur_sum_us, dur_us);
}

void px_stats_tls(struct px_stats *s, enum px_stats_tls_result result, const char *version,
                  int resumed, uint64_t dur_us)
{
    px_stats_tls_count(&s->tls, result, version, resumed, dur_us);
}

static void add_all(_Atomic uint64_t *dst, const _Atomic uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        px_stats_add(&dst[i], px_stats_get(&src[i]));
}

int px_stats_merge(struct px_stats *dst, const struct px_stats *src)
{
    if (dst->nzones != src->nzones || dst->nregions != src->nregions)
        return -1;
    add_all(dst->requests, src->requests, n_requests(src));
    add_all(dst->dur, src->dur, n_dur(src));
    add_all(dst->dur_sum_us, src->dur_sum_us, n_dur_sum(src));
    add_all(dst->rtt, src->rtt, n_rtt(src));
    add_all(dst->rtt_sum_us, src->rtt_sum_us, src->nzones);
    add_all(&dst->geo_lookups, &src->geo_lookups, 1);
    add_all(&dst->geo_not_found, &src->geo_not_found, 1);
    add_all(&dst->accepted, &src->accepted, 1);
    add_all(&dst->retries, &src->retries, 1);
    add_all(&dst->upstream_opened, &src->upstream_opened, 1);
    add_all(&dst->upstream_closed, &src->upstream_closed, 1);
    add_all(&dst->rejected, &src->rejected, 1);
    add_all(&dst->accept_errors, &src->accept_errors, 1);
    add_all(&dst->bytes_in, &src->bytes_in, 1);
    add_all(&dst->bytes_out, &src->bytes_out, 1);
    add_all(dst->reasons, src->reasons, src->nzones * PX_STATS_REASONS);
    add_all((_Atomic uint64_t *)&dst->tls, (const _Atomic uint64_t *)&src->tls, TLS_COUNTERS);
    add_all((_Atomic uint64_t *)&dst->up_tls, (const _Atomic uint64_t *)&src->up_tls, TLS_COUNTERS);
    add_all((_Atomic uint64_t *)&dst->h2, (const _Atomic uint64_t *)&src->h2, H2_COUNTERS);
    return 0;
}

void px_stats_reason(struct px_stats *s, size_t zone, enum px_stats_reason reason)
{
    if (zone < s->nzones && reason < PX_STATS_REASONS)
        px_stats_add(&s->reasons[zone * PX_STATS_REASONS + reason], 1);
}

void px_stats_backend(struct px_bstats *b, bool failed, bool has_head, uint64_t ttfb_us)
{
    px_stats_add(&b->requests, 1);
    if (failed)
        px_stats_add(&b->errors, 1);
    if (!has_head)
        return;
    size_t i = bucket_of(px_stats_ttfb_bounds_s, PX_STATS_TTFB_BUCKETS, (double)ttfb_us / 1e6);
    px_stats_add(&b->ttfb[i], 1);
    px_stats_add(&b->ttfb_sum_us, ttfb_us);
}

void px_stats_backend_sum(struct px_bstats *dst, const struct px_bstats *src, unsigned n)
{
    for (unsigned w = 0; w < n; w++) {
        add_all(&dst->requests, &src[w].requests, 1);
        add_all(&dst->errors, &src[w].errors, 1);
        add_all(dst->ttfb, src[w].ttfb, PX_STATS_TTFB_BUCKETS + 1);
        add_all(&dst->ttfb_sum_us, &src[w].ttfb_sum_us, 1);
    }
}

double px_stats_rtt_median_s(const struct px_stats *s, size_t zone)
{
    const _Atomic uint64_t *h;
    uint64_t total = 0, cum = 0;

    if (zone >= s->nzones)
        return -1;
    h = &s->rtt[zone * (PX_STATS_RTT_BUCKETS + 1)];
    for (size_t i = 0; i <= PX_STATS_RTT_BUCKETS; i++)
        total += px_stats_get(&h[i]);
    if (total == 0)
        return -1;
    for (size_t i = 0; i <= PX_STATS_RTT_BUCKETS; i++) {
        uint64_t c = px_stats_get(&h[i]);
        if (c == 0 || (double)(cum + c) < (double)total / 2) {
            cum += c;
            continue;
        }
        /* The +Inf bucket has no upper bound: report its lower one. */
        if (i == PX_STATS_RTT_BUCKETS)
            return px_stats_rtt_bounds_s[PX_STATS_RTT_BUCKETS - 1];
        double lo = i == 0 ? 0 : px_stats_rtt_bounds_s[i - 1];
        double hi = px_stats_rtt_bounds_s[i];
        return lo + (hi - lo) * (((double)total / 2 - (double)cum) / (double)c);
    }
    return -1;
}

int64_t px_stats_tcp_rtt_us(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
        return -errno;
    return (int64_t)ti.tcpi_rtt;
}
