/*
 * exchange: relays one request and its response. Bodies are forwarded as the
 * raw bytes llhttp validated, straight from the read buffer, so nothing is
 * copied on the common path. Two exceptions: a chunked request body is
 * re-framed canonically (the decoded spans, still not copied, under our own
 * size lines; trailers filtered), so a backend never sees chunk syntax it
 * could read differently; and a chunked response is de-chunked for an
 * HTTP/1.0 client. Each direction has at most
 * one write in flight and stops reading its source until that write is done:
 * the backpressure high-water mark is one read buffer.
 */
#include "proxy/data/exchange.h"
#include "proxy/data/accesslog.h"
#include "proxy/proto/xff.h"
#include "proxy/data/client.h"
#include "proxy/data/h2conn.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"
#include "proxy/data/pool.h"
#include "proxy/data/tls_stream.h"
#include "proxy/data/tunnel.h"
#include "proxy/data/upstream.h"
#include "proxy/data/worker.h"
#include "proxy/state/classes.h"

#include <stdio.h>
#include <string.h>

/* The config this exchange started under: its zone and region indexes are this one's. */
static inline const struct conf *xconf(const struct px_exchange *x)
{
    return x->conf;
}

#define OUT_SLACK_BYTES 1024
#define EXTRA_HEADERS_BYTES 512  /* explain and geo header lines we add */
#define LOG_TARGET_MAX_BYTES 512 /* of a request target in the access log */

/* A 503 for a zone with no allowed region left: the control thread decides
 * routes every 50 ms, so a few seconds is when a retry may find one. */
#define RETRY_AFTER "Retry-After: 5\r\n"

static void pump_request(struct px_exchange *x);
static void request_id(struct px_exchange *x, bool trusted);
static void pump_response(struct px_exchange *x);
static void connect_next(struct px_exchange *x);
static void upstream_eof(struct px_exchange *x, int err);
static const struct px_upstream_ops upstream_ops;

/* Frees X's memory, which nothing references any more. */
static void exchange_release(struct px_exchange *x)
{
    px_http_dispose(&x->req);
    free(x->out);
    free(x);
}

/*
 * A spare exchange from the worker's cache, reset but with its buffers,
 * when its limits still match the config; else NULL. Saves four allocations
 * (about 40 KiB) per request.
 */
static struct px_exchange *spare_exchange(struct px_worker *w, const struct conf_limits *lim,
                                          uint32_t out_cap)
{
    struct px_exchange *x = w->spare;
    char *out;

    if (x == NULL) {
        px_reserve_miss(&w->spares);
        return NULL;
    }
    w->spare = x->next_spare;
    __builtin_prefetch(w->spare); /* the next request's: cold behind 100 in flight */
    px_reserve_take(&w->spares);
    if (x->out_cap != out_cap || x->req.max_head != lim->max_header_bytes ||
        x->req.max_hdrs != lim->max_headers) {
        exchange_release(x); /* limits changed by a reload */
        return NULL;
    }
    out = x->out;
    memset(x, 0, offsetof(struct px_exchange, req));
    memset(&x->req + 1, 0,
           offsetof(struct px_exchange, error_text) - offsetof(struct px_exchange, req) -
               sizeof(x->req));
    x->out = out;
    x->out_cap = out_cap;
    px_http_recycle(&x->req, x);
    return x;
}

struct px_exchange *px_exchange_new(struct px_client *c)
{
    struct px_wview *v = px_worker_view_hold(c->w);
    /* Without a routing table the request is refused (px_exchange_start);
     * it still needs limits to be parsed and answered: the worker's. */
    const struct conf *cf = v ? px_fleet_conf(v->routes->fleet) : c->w->conf;
    /* Request head, then response head after it: a request head may still
     * be in a queued write when an early response arrives. */
    uint32_t out_cap = 2 * (cf->limits.max_header_bytes + OUT_SLACK_BYTES);
    struct px_exchange *x = spare_exchange(c->w, &cf->limits, out_cap);

    if (x == NULL) {
        if ((x = calloc(1, sizeof(*x))) == NULL)
            goto fail;
        x->out_cap = out_cap;
        x->out = malloc(x->out_cap);
        if (x->out == NULL || px_http_init(&x->req, PX_HTTP_REQUEST, x, cf->limits.max_header_bytes,
                                           cf->limits.max_headers) != 0) {
            free(x->out);
            free(x);
            goto fail;
        }
    }
    x->req.max_body = cf->limits.max_body_bytes;
    x->view = v;
    x->conf = cf;
    x->c = c;
    x->start_ms = uv_now(&c->w->loop);
    x->keep_alive = true;
    x->parsed_out = px_client_is_h2_stream(c);
    x->pick.region = -1;
    x->zone = PX_ZONE_NONE;
    memcpy(&x->client, &c->peer, sizeof(c->peer));
    return x;
fail:
    px_worker_view_release(v);
    return NULL;
}

static void detach_upstream(struct px_exchange *x, bool reusable)
{
    struct px_upstream *u = x->up;
    if (u == NULL)
        return;
    x->up = NULL;
    x->attached = false;
    px_backend_inflight_add(u->b, u->w->id, -1);
    if (reusable)
        px_pool_release(u);
    else
        px_upstream_close(u);
}

void px_exchange_free(struct px_exchange *x)
{
    if (x == NULL)
        return;
    free(x->trailer);
    x->trailer = NULL;
    struct px_worker *w = x->c->w;
    detach_upstream(x, false);
    px_worker_view_release(x->view);
    x->view = NULL;
    if (!w->draining) {
        x->next_spare = w->spare;
        w->spare = x;
        px_reserve_put(&w->spares);
        return;
    }
    exchange_release(x);
}

void px_exchange_cache_trim(struct px_worker *w)
{
    unsigned surplus = px_reserve_trim(&w->spares);
    struct px_exchange **tail = &w->spare;

    if (surplus == 0)
        return;
    for (unsigned i = 0; i < w->spares.n; i++) /* the ones kept: most recently used */
        tail = &(*tail)->next_spare;
    while (*tail) {
        struct px_exchange *x = *tail;
        *tail = x->next_spare;
        exchange_release(x);
    }
}

void px_exchange_cache_dispose(struct px_worker *w)
{
    while (w->spare) {
        struct px_exchange *x = w->spare;
        w->spare = x->next_spare;
        exchange_release(x);
    }
    w->spares.n = w->spares.low = 0;
}

void px__exchange_client_gone(struct px_exchange *x)
{
    detach_upstream(x, false);
}

/* The name of X's zone, "-" before it was classified. */
static const char *zone_name(const struct px_exchange *x)
{
    return x->zone == PX_ZONE_NONE ? "-" : xconf(x)->zones[x->zone].name;
}

/* A figure for the explain header, bounded so its text stays short. */
static double bounded(double v)
{
    return v < 0 ? 0 : v > 1e12 ? 1e12 : v;
}

/*
 * "; rtt_ms=..; goodput_bps=..; transfer_ms=.." for the picked region: the
 * two parts of its cost as the last decision saw them (goodput_bps=- and no
 * transfer time while unmeasured). Empty before a region is picked.
 */
static void cost_figures(const struct px_exchange *x, char *buf, size_t cap)
{
    const struct px_routes *rt = x->view ? x->view->routes : NULL;
    int r = x->pick.region;

    buf[0] = '\0';
    if (rt == NULL || r < 0 || (size_t)r >= rt->nregions || x->zone < 0)
        return;
    const struct px_routes_region *rg = &rt->regions[r];
    double size = rt->zones[px_class_route(xconf(x), (size_t)x->zone, x->pick.cls)].size_bytes;
    if (rg->goodput_bps <= 0) {
        snprintf(buf, cap, "; rtt_ms=%.1f; goodput_bps=-; transfer_ms=0", bounded(rg->rtt_ms));
        return;
    }
    snprintf(buf, cap, "; rtt_ms=%.1f; goodput_bps=%.0f; transfer_ms=%.1f", bounded(rg->rtt_ms),
             bounded(rg->goodput_bps), bounded(size / rg->goodput_bps * 1000.0));
}

/*
 * "X-Georoute: zone=..; region=..; backend=..; why=..; rtt_ms=..; ...\r\n"
 * for debug clients. When the line would not fit in CAP, the cost figures
 * go first; when it still would not, there is no line.
 */
static size_t explain_line(const struct px_exchange *x, char *buf, size_t cap)
{
    const struct conf *cf = xconf(x);
    char cost[96];
    int n;
    if (!x->explain)
        return 0;
    char tls[PX_CLIENT_TLS_FACTS_BYTES];
    tls[px_client_tls_facts(x->c, PX_TLS_EXPLAIN, tls, sizeof(tls))] = '\0';
    cost_figures(x, cost, sizeof(cost));
    for (int pass = 0; pass < 2; pass++) {
        n = snprintf(buf, cap, "%s: zone=%s; region=%s; backend=%s; why=%s%s%s\r\n",
                     cf->explain_header, zone_name(x),
                     x->pick.region >= 0 ? cf->regions[x->pick.region].name : "-",
                     x->pick.backend ? x->pick.backend->desc->addr.text : "-",
                     px_route_reason_name(x->pick.why), pass == 0 ? cost : "", tls);
        if (n >= 0 && (size_t)n < cap)
            return (size_t)n;
    }
    return 0;
}

/* Decimal text of V at the end of BUF (24 bytes); returns its start. */
static const char *u64_text(char *buf, uint64_t v)
{
    char *p = buf + 23;
    *p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while (v /= 10);
    return p;
}

/* "X-Request-Id: ID\r\n" once the exchange has an id, else nothing. */
static size_t request_id_line(const struct px_exchange *x, char *buf, size_t cap)
{
    static const char name[] = "X-Request-Id: ";
    size_t n = sizeof(name) - 1 + x->req_id_len + 2;
    if (x->req_id_len == 0 || n > cap)
        return 0;
    memcpy(buf, name, sizeof(name) - 1);
    memcpy(buf + sizeof(name) - 1, x->req_id, x->req_id_len);
    memcpy(buf + n - 2, "\r\n", 2);
    return n;
}

static void log_access(struct px_exchange *x)
{
    struct px_client *c = x->c;
    struct px_worker *w = c->w;
    const struct conf *cf = xconf(x);
    struct px_access_rec r;
    char ts[40], client[64], peer[64], num[6][24], line[8192];
    struct px_tls_info tls;

    px__worker_count_exchange(w, c, x);
    if (w->alog.fd < 0)
        return;
    memset(&r, 0, sizeof(r)); /* only a line to write needs it */
    px_log_timestamp(ts, sizeof(ts));
    px_sockaddr_ip((const struct sockaddr *)&x->client, client, sizeof(client));
    px_sockaddr_ip(&c->sock.sa, peer, sizeof(peer));
    px_access_set(&r, CONF_LOG_TIME, ts);
    px_access_set(&r, CONF_LOG_CLIENT, client);
    px_access_set(&r, CONF_LOG_PEER, peer);
    px_access_set(&r, CONF_LOG_ZONE, zone_name(x));
    px_access_set(&r, CONF_LOG_COUNTRY, x->zone != PX_ZONE_NONE ? c->geo.country : NULL);
    px_access_set(&r, CONF_LOG_METHOD, px_http_method_name(&x->req));
    r.v[CONF_LOG_TARGET] = x->req.buf + x->req.target_off;
    r.len[CONF_LOG_TARGET] =
        x->req.target_len > LOG_TARGET_MAX_BYTES ? LOG_TARGET_MAX_BYTES : x->req.target_len;
    px_access_set(&r, CONF_LOG_STATUS, u64_text(num[0], (uint64_t)x->status));
    px_access_set(&r, CONF_LOG_BYTES_IN, u64_text(num[1], x->bytes_in));
    px_access_set(&r, CONF_LOG_BYTES_OUT, u64_text(num[2], x->bytes_out));
    px_access_set(&r, CONF_LOG_BACKEND, x->pick.backend ? x->pick.backend->desc->addr.text : NULL);
    px_access_set(&r, CONF_LOG_REGION,
                  x->pick.region >= 0 ? cf->regions[x->pick.region].name : NULL);
    px_access_set(&r, CONF_LOG_REASON, px_route_reason_name(x->pick.why));
    px_access_set(&r, CONF_LOG_MS, u64_text(num[3], uv_now(&w->loop) - x->start_ms));
    r.v[CONF_LOG_REQUEST_ID] = x->req_id;
    r.len[CONF_LOG_REQUEST_ID] = x->req_id_len;
    px_access_set(&r, CONF_LOG_ERROR, x->error);
    px_access_set(&r, CONF_LOG_PROTO, !c->conn ? "h1" : c->tls ? "h2" : "h2c");
    if (c->conn)
        px_access_set(&r, CONF_LOG_STREAM, u64_text(num[5], c->stream_id));
    const struct px_stream *link = &px_client_link(c)->s;
    if (px_tls_stream_info(link, &tls)) {
        px_access_set(&r, CONF_LOG_TLS, tls.version);
        px_access_set(&r, CONF_LOG_CIPHER, tls.cipher);
        px_access_set(&r, CONF_LOG_SNI, tls.sni ? tls.sni : "");
        px_access_set(&r, CONF_LOG_RESUMED, tls.resumed ? "1" : "0");
        px_access_set(&r, CONF_LOG_TLS_MS, u64_text(num[4], px_tls_stream_handshake_ms(link)));
    }
    px_accesslog_write(&w->alog, line,
                       px_access_render(&w->conf->access_log_format, &r, line, sizeof(line)));
}

/* The exchange is over: hand the upstream back, log, free, let the client go on. */
static void finish(struct px_exchange *x)
{
    struct px_client *c = x->c;
    struct px_upstream *u = x->up;
    bool keep = x->keep_alive && x->req_done;

    detach_upstream(x, u && x->req_done && px_http_keep_alive(&u->resp));
    log_access(x);
    px__client_exchange_done(c, keep);
}

/*
 * Finishes once both directions are complete. A backend may answer before it
 * has read the whole request body (an echo, an early error); the rest of the
 * body still goes to it so that both connections stay reusable.
 */
static void maybe_finish(struct px_exchange *x)
{
    if (x->resp_done && x->req_done && !px_stream_writing(&x->c->s) &&
        !(x->up && px_stream_writing(&x->up->s)))
        finish(x);
}

static int client_write(struct px_exchange *x, uv_buf_t *bufs, unsigned n);

static void on_error_written(struct px_exchange *x)
{
    log_access(x);
    px_client_close(x->c, x->error);
}

/*
 * Answers the client with STATUS and closes, or, when part of a response
 * already went out, just closes: a client must never take a cut response
 * for a complete one.
 */
/* The metrics reason of a failure with STATUS, unless a caller said. */
static enum px_stats_reason reason_of(const struct px_exchange *x, int status)
{
    if (x->reason != PX_REASON_NONE)
        return x->reason;
    switch (status) {
    case 503:
        return x->retry_after ? PX_REASON_NO_REGION : PX_REASON_REFUSED;
    case 504:
        return PX_REASON_UPSTREAM_TIMEOUT;
    case 502:
        return PX_REASON_UPSTREAM_FAILED;
    case 408:
        return PX_REASON_CLIENT_TIMEOUT;
    default:
        return PX_REASON_REFUSED;
    }
}

static void fail(struct px_exchange *x, int status, const char *reason)
{
    struct px_client *c = x->c;
    uv_buf_t buf;

    x->error = reason;
    x->reason = (uint8_t)reason_of(x, status);
    detach_upstream(x, false);
    if (x->resp_started || px_stream_writing(&c->s) || c->state == PX_CLIENT_ERROR) {
        if (x->resp_started)
            log_access(x);
        px_client_close(c, reason);
        return;
    }
    px_log(PX_LOG_DEBUG, &c->peer.sa, "status=%d reason=\"%s\"", status, reason);
    x->status = status;
    x->keep_alive = false;
    x->resp_started = true;
    if (x->req_id_len == 0)
        request_id(x, false); /* refused before it started: still one to quote */
    c->state = PX_CLIENT_ERROR;
    px_stream_read(&c->s, false);
    char extra[EXTRA_HEADERS_BYTES];
    size_t n = explain_line(x, extra, sizeof(extra) - sizeof(RETRY_AFTER));
    n += request_id_line(x, extra + n, sizeof(extra) - sizeof(RETRY_AFTER) - n);
    if (x->retry_after)
        memcpy(extra + n, RETRY_AFTER, sizeof(RETRY_AFTER));
    else
        extra[n] = '\0';
    buf = uv_buf_init(x->out,
                      (unsigned)px_http_write_error(status, reason, extra, x->out, x->out_cap));
    int rc = client_write(x, &buf, 1);
    if (rc == 0)
        return;
    if (rc < 0)
        x->error = "client write failed";
    on_error_written(x);
}

static int status_for(int err)
{
    switch (err) {
    case PX_EHEADTOOBIG:
        return 431;
    case PX_EBODYTOOBIG:
        return 413;
    case PX_EVERSION:
        return 505;
    case PX_EMETHOD:
        return 501;
    case PX_ETIMEOUT:
        return 408;
    case PX_ENOROUTES:
        return 503;
    default:
        return 400;
    }
}

/* The text of ERR's answer: for a malformed request, what was malformed (static). */
static const char *reject_text(const struct px_exchange *x, int err)
{
    const char *why = px_http_why(&x->req);
    return err == PX_EPARSE && why != NULL ? why : px_strerror(err);
}

void px_exchange_reject(struct px_exchange *x, int err)
{
    fail(x, status_for(err), reject_text(x, err));
}

/*
 * The address to classify: the peer (or its PROXY header's source), and
 * while that is a trusted proxy, the X-Forwarded-For element it added
 * (px_xff_walk, right to left).
 */
static void client_address(const struct px_exchange *x, const struct conf *cf,
                           struct sockaddr_storage *ss)
{
    const struct px_http *h = &x->req;
    struct px_span vals[16];
    size_t n = 0;

    memcpy(ss, &x->c->peer, sizeof(x->c->peer));
    /* After PROXY UNKNOWN or LOCAL the balancer vouched for nobody: the
     * client's own X-Forwarded-For is not believed either. */
    if (cf->trusted_proxies.ncidrs == 0 || h->xff_len == 0 || x->c->proxy_unknown)
        return;
    /* Beyond 16 lines only the rightmost are read: enough hops for any chain. */
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        if (!(h->hdrs[i].flags & PX_HDR_XFF))
            continue;
        if (n == PX_ARRAY_LEN(vals))
            memmove(vals, vals + 1, (--n) * sizeof(vals[0]));
        vals[n++] = (struct px_span){h->buf + h->hdrs[i].value_off, h->hdrs[i].value_len};
    }
    px_xff_walk(vals, n, &cf->trusted_proxies, ss);
}

/* Classifies the request's client, reusing the connection's last answer. */
static void classify(struct px_exchange *x, const struct px_snapshot *snap)
{
    const struct conf *cf = snap->cfg->conf;
    struct px_client *c = x->c;
    struct sockaddr_storage *ss = &x->client;
    struct geo_addr a;

    client_address(x, cf, ss);
    if (c->geo.generation != snap->generation ||
        geo_addr_from_sockaddr(&a, (struct sockaddr *)ss) != 0 ||
        !geo_addr_equal(&a, &c->geo.addr)) {
        px_snapshot_classify(snap, (struct sockaddr *)ss, c->w->geo_caches, &c->geo);
        px_stats_add(&c->w->port.stats.geo_lookups, 1);
        if (!c->geo.found)
            px_stats_add(&c->w->port.stats.geo_not_found, 1);
    }
    x->zone = c->geo.zone;
}

/* Renders the configured geo headers for the backend into BUF. */
static size_t geo_headers(const struct px_exchange *x, const struct conf *cf, char *buf, size_t cap)
{
    const struct conf_geo_headers *gh = &cf->geo.headers;
    const struct px_geo *g = &x->c->geo;
    char asn[16] = "";
    size_t n = 0;

    if (gh->asn != NULL && g->asn != 0) /* the only number: no printf per request otherwise */
        snprintf(asn, sizeof(asn), "%u", g->asn);
    const char *vals[][2] = {
        {gh->country, g->country},           {gh->subdivision, g->subdivision},
        {gh->continent, g->continent},       {gh->asn, asn},
        {gh->zone, cf->zones[x->zone].name},
    };
    for (size_t i = 0; i < PX_ARRAY_LEN(vals); i++) {
        if (vals[i][0] == NULL || vals[i][1][0] == '\0')
            continue;
        int m = snprintf(buf + n, cap - n, "%s: %s\r\n", vals[i][0], vals[i][1]);
        if (m < 0 || (size_t)m >= cap - n)
            break;
        n += (size_t)m;
    }
    return n;
}

#define NDROP 7

/* Client headers (and trailers) never forwarded: ours to set. */
static void drop_names(const struct px_exchange *x, const char *drop[NDROP])
{
    const struct conf_geo_headers *gh = &xconf(x)->geo.headers;
    const char *const names[NDROP] = {gh->country, gh->subdivision, gh->continent, gh->asn,
                                      gh->zone,    gh->region,      "x-request-id"};
    memcpy(drop, names, sizeof(names));
}

/* An X-Request-Id worth keeping: 1..PX_REQUEST_ID_MAX visible ASCII bytes. */
static bool request_id_valid(const char *s, size_t n)
{
    if (n == 0 || n > PX_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

/* Keeps a trusted peer's valid X-Request-Id, else makes one: the worker's
 * random prefix and a counter, unique without a syscall per request. */
static void request_id(struct px_exchange *x, bool trusted)
{
    const struct px_http *h = &x->req;
    struct px_worker *w = x->c->w;
    int i = trusted ? px_http_find(h, "x-request-id") : -1;

    if (i >= 0 && request_id_valid(h->buf + h->hdrs[i].value_off, h->hdrs[i].value_len)) {
        memcpy(x->req_id, h->buf + h->hdrs[i].value_off, h->hdrs[i].value_len);
        x->req_id_len = (uint8_t)h->hdrs[i].value_len;
        return;
    }
    static const char hex[] = "0123456789abcdef";
    char *p = x->req_id;
    uint64_t v = w->rid_next++;
    memcpy(p, w->rid_prefix, 16);
    p[16] = '-';
    for (int k = 0; k < 12; k++, v >>= 4)
        p[28 - k] = hex[v & 15];
    x->req_id_len = 29;
}

int px_exchange_start(struct px_exchange *x)
{
    struct px_client *c = x->c;
    const struct conf *cf = xconf(x);
    struct px_http *h = &x->req;
    uint64_t clen;
    char ip[64];
    int rc;

    if ((rc = px_http_scan(h)) != 0 || (px_http_major(h) != 1 && (rc = PX_EVERSION)))
        goto refuse;
    if (px_http_method_is(h, "CONNECT")) {
        rc = PX_EMETHOD;
        goto refuse;
    }
    if (cf->limits.max_body_bytes && px_http_content_length(h, &clen) &&
        clen > cf->limits.max_body_bytes) {
        rc = PX_EBODYTOOBIG;
        goto refuse;
    }
    x->is_head = px_http_method_is(h, "HEAD");
    /* px_http_scan() clears conn_upgrade for h2c: such a request goes on as
     * plain HTTP/1.1 and the connection closes after it, since llhttp
     * treats the bytes that follow as opaque. */
    x->upgrade = px_http_is_upgrade(h) && h->conn_upgrade;
    x->keep_alive =
        px_http_keep_alive(h) && !c->close_after && !c->w->draining &&
        !(cf->limits.max_keepalive_requests && c->nrequests >= cf->limits.max_keepalive_requests);
    if (px_http_is_upgrade(h) && !x->upgrade)
        x->keep_alive = false;
    if (x->view == NULL) {
        /* The worker could not take its first routing table (out of
         * memory): nothing to classify against or route with. */
        rc = PX_ENOROUTES;
        goto refuse;
    }
    px_client_peer_ip(c, ip, sizeof(ip));
    bool trusted = xconf(x)->trusted_proxies.ncidrs > 0 && !c->proxy_unknown &&
                   conf_cidr_list_match(&xconf(x)->trusted_proxies, &c->peer.sa);
    request_id(x, trusted);
    classify(x, x->view->routes->fleet->snap);
    /* Matched against the real client, as the zones are. */
    x->explain = xconf(x)->debug_clients.ncidrs > 0 &&
                 conf_cidr_list_match(&xconf(x)->debug_clients, (struct sockaddr *)&x->client);
    const char *drop[NDROP];
    drop_names(x, drop);
    char extra[EXTRA_HEADERS_BYTES];
    size_t nextra = geo_headers(x, xconf(x), extra, sizeof(extra));
    struct px_req_ctx ctx = {
        .client_ip = ip,
        .scheme = c->tls ? "https" : "http",
        .trusted_proto = trusted,
        .upgrade = x->upgrade,
        .drop_underscores = !xconf(x)->underscores_in_headers,
        .drop_names = drop,
        .ndrop = NDROP,
        .extra = extra,
        .extra_len = nextra + request_id_line(x, extra + nextra, sizeof(extra) - nextra),
    };
    rc = px_http_write_request_head(h, &ctx, x->out, x->out_cap);
    if (rc < 0) {
        rc = PX_EHEADTOOBIG;
        goto refuse;
    }
    x->req_head_len = (uint32_t)rc;
    /* A chunked body is re-encoded, never forwarded as sent (pump_request). */
    x->rechunk = px_http_chunked(h) && !x->upgrade;
    h->decode_body = x->rechunk;
    connect_next(x);
    return 0;
refuse:
    return rc;
}

/* The request's class in its zone (state/classes.h): path prefix and method. */
static uint8_t request_class(const struct px_exchange *x)
{
    const char *path;
    size_t len;

    px_http_path(&x->req, &path, &len);
    return (uint8_t)px_class_find(&xconf(x)->zones[x->zone].route, px_http_method_name(&x->req),
                                  path, len);
}

/*
 * Reports the complete response body for the zone's typical size and the
 * backend's goodput: its time counts only while the upstream read was not
 * paused by the client, so a slow client does not make a backend look slow.
 */
static void signal_transfer(struct px_exchange *x)
{
    struct px_worker *w = x->c->w;
    uint64_t now = uv_now(&w->loop), active = now - x->body_start_ms - x->paused_ms;
    if (x->pick.backend && !x->is_head && x->zone >= 0)
        px_signals_put_transfer(&w->port.signals, x->pick.backend->desc->id,
                                x->view->routes->fleet->zone_slot[x->zone], x->pick.cls,
                                x->body_bytes, (double)active);
}

/* Ends a pause of the upstream read (client backpressure), if one is on. */
static void resume_clock(struct px_exchange *x)
{
    if (x->paused_at_ms) {
        x->paused_ms += uv_now(&x->c->w->loop) - x->paused_at_ms;
        x->paused_at_ms = 0;
    }
}

/*
 * The upstream timer runs only while the backend is what the exchange waits
 * for: a write to it is queued, or the request is fully sent (or its final
 * response has begun) and more of the response is due. While the request
 * body waits on the client, the client's body timer runs instead, and while
 * a slow client reads the response, its send timer does: a slow client costs
 * itself a 408 and never charges a healthy backend a timeout.
 */
static void upstream_clock(struct px_exchange *x)
{
    struct px_upstream *u = x->up;
    bool owed = px_stream_writing(&u->s) || x->req_done || x->status != 0;

    if (owed && !x->resp_done && !px_stream_writing(&x->c->s))
        px_upstream_timer(u, xconf(x)->timeouts.upstream_response_ms);
    else
        px_upstream_timer_stop(u);
}

/* The upstream is ready for the request: send it and listen for the answer. */
static void attach(struct px_exchange *x)
{
    struct px_upstream *u = x->up;
    x->attached = true;
    x->pick.sent_ms = uv_now(&x->c->w->loop);
    u->resp.skip_body = x->is_head;
    u->nrequests++;
    x->req_sent_head = false;
    px_stream_read(&u->s, true);
    px_upstream_timer(u, xconf(x)->timeouts.upstream_response_ms);
    pump_request(x);
}

/* Answers 503 naming the zone when residency leaves nowhere to go. */
static void reject(struct px_exchange *x)
{
    const struct conf *cf = xconf(x);
    /* In the exchange, not on the stack: the log line reads it after a queued write. */
    snprintf(x->error_text, sizeof(x->error_text), "no healthy region allowed for zone %s",
             cf->zones[x->zone].name);
    x->retry_after = true;
    fail(x, 503, x->error_text);
}

/* Gets the next attempt a connection, or answers when none is left. */
static void connect_next(struct px_exchange *x)
{
    const struct conf *cf = xconf(x);
    if (x->pick.attempts == 0)
        x->pick.cls = request_class(x);
    int rc = px_backend_connect(x->c->w, x->view, x->zone, &x->pick, &upstream_ops, x, &x->up);

    if (rc == 1)
        attach(x);
    else if (rc == PX_ENOBACKEND && !px_backend_panic_zone(cf, x->zone) &&
             (cf->zones[x->zone].route.reject || x->pick.region < 0))
        reject(x); /* designed (even before the probes notice), or no region left at all */
    else if (rc < 0) {
        x->reason = PX_REASON_NO_BACKEND;
        fail(x, 502, px_strerror(rc));
    }
}

/* Opens a fresh connection to the same backend after a pooled one died. */
static void reconnect_fresh(struct px_exchange *x)
{
    detach_upstream(x, false);
    if (px_backend_reconnect(x->c->w, &x->pick, &upstream_ops, x, &x->up) != 0) {
        x->reason = PX_REASON_NO_BACKEND;
        fail(x, 502, px_strerror(PX_ENOBACKEND));
    }
}

static void on_upstream_connect(struct px_upstream *u, int status)
{
    struct px_exchange *x = u->data;

    if (status == 0) {
        px_backend_connected(x->pick.backend);
        attach(x);
        return;
    }
    px_log(PX_LOG_DEBUG, &x->c->peer.sa, "event=connect_failed backend=%s err=%s",
           x->pick.backend->desc->addr.text, px_strerror(status));
    px_backend_signal(x->c->w, &x->pick, PX_OUTCOME_CONNECT_FAIL);
    px_backend_connect_failed(x->c->w, x->pick.backend);
    detach_upstream(x, false);
    connect_next(x);
}

/*
 * The request head for this attempt. The region is picked after the head
 * was rendered (and may change on a retry), so geo.headers.region goes in
 * its own buffer in place of the head's final CRLF.
 */
static unsigned head_bufs(struct px_exchange *x, uv_buf_t *bufs)
{
    const struct conf *cf = xconf(x);
    const char *name = cf->geo.headers.region;
    int n;

    if (name == NULL || x->pick.region < 0 ||
        (n = snprintf(x->region_line, sizeof(x->region_line), "%s: %s\r\n\r\n", name,
                      cf->regions[x->pick.region].name)) < 0 ||
        (size_t)n >= sizeof(x->region_line)) {
        bufs[0] = uv_buf_init(x->out, x->req_head_len);
        return 1;
    }
    bufs[0] = uv_buf_init(x->out, x->req_head_len - 2);
    bufs[1] = uv_buf_init(x->region_line, (unsigned)n);
    return 2;
}

/*
 * The decoded body spans of one feed as one canonical chunk (hex size, no
 * extensions, CRLF), and at the end of the message the last chunk with the
 * trailers that may cross (px_http_write_last_chunk). Returns the buffers
 * put in BUFS, or -1 without memory for the trailers.
 */
static int rechunk(struct px_exchange *x, uv_buf_t *bufs, int ev)
{
    static const char last[] = "0\r\n\r\n";
    struct px_http *h = &x->req;
    struct px_span spans[PX_HTTP_MAX_SPANS + 2];
    int n = (int)px_http_rechunk(h, x->chunk_line, spans);

    for (int i = 0; i < n; i++)
        bufs[i] = uv_buf_init((char *)spans[i].base, (unsigned)spans[i].len);
    if (ev != PX_HTTP_DONE)
        return n;
    if (h->nhdrs == h->head_nhdrs) {
        bufs[n++] = uv_buf_init((char *)last, sizeof(last) - 1);
        return n;
    }
    /* Trailers are rare: their memory is taken only when they come. */
    const char *drop[NDROP];
    drop_names(x, drop);
    struct px_req_ctx ctx = {
        .drop_names = drop, .ndrop = NDROP, .drop_underscores = !xconf(x)->underscores_in_headers};
    size_t cap = px_http_last_chunk_bytes(h);
    int len;
    if ((x->trailer = malloc(cap)) == NULL ||
        (len = px_http_write_last_chunk(h, &ctx, x->trailer, cap)) < 0)
        return -1;
    bufs[n++] = uv_buf_init(x->trailer, (unsigned)len);
    return n;
}

/*
 * Sends what is ready of the request: the head once, then body bytes as the
 * parser validates them, until the message ends or a write has to wait.
 */
static void pump_request(struct px_exchange *x)
{
    struct px_client *c = x->c;

    while (x->up && x->attached && !px_stream_writing(&x->up->s) && c->state == PX_CLIENT_BUSY) {
        uv_buf_t bufs[2 + PX_HTTP_MAX_SPANS + 3]; /* head and region line, a chunk, the end */
        unsigned n = 0;
        size_t consumed = 0;
        int ev = PX_HTTP_MORE;

        if (!x->req_sent_head)
            n = head_bufs(x, bufs);
        if (!x->req_done) {
            const char *data = c->s.in ? c->s.in->data + c->s.in_off : "";
            ev = px_http_feed(&x->req, data, c->s.in ? c->s.in_len - c->s.in_off : 0, &consumed);
            if (ev < 0) {
                fail(x, status_for(ev), reject_text(x, ev));
                return;
            }
            if (x->rechunk) {
                int m = rechunk(x, bufs + n, ev);
                if (m < 0) {
                    fail(x, 500, "out of memory");
                    return;
                }
                n += (unsigned)m;
            } else if (consumed) {
                bufs[n++] = uv_buf_init((char *)data, (unsigned)consumed);
            }
            c->s.in_off += (uint32_t)consumed;
            x->bytes_in += consumed;
            if (ev == PX_HTTP_DONE || ev == PX_HTTP_UPGRADE)
                x->req_done = true;
        }
        if (n == 0)
            break;
        x->req_sent_head = true;
        x->req_body_sent |= consumed > 0;
        int rc = px_stream_write(&x->up->s, bufs, n);
        if (rc < 0) {
            upstream_eof(x, rc);
            return;
        }
        if (rc == 0) {
            px_stream_read(&c->s, false);
            upstream_clock(x);
            return;
        }
    }
    if (x->req_done || c->state != PX_CLIENT_BUSY) {
        if (c->state == PX_CLIENT_BUSY) {
            px__client_timer_stop(c);
            if (x->up && x->attached)
                upstream_clock(x);
            maybe_finish(x);
        }
        return;
    }
    if (x->up && x->attached && !px_stream_writing(&x->up->s) && !px_stream_has_input(&c->s)) {
        px_stream_read(&c->s, true);
        px__client_timer(c, xconf(x)->timeouts.client_body_ms, PX_PHASE_BODY);
        upstream_clock(x);
    }
}

void px__exchange_client_data(struct px_exchange *x)
{
    pump_request(x);
}

static void on_upstream_written(struct px_upstream *u, int status)
{
    struct px_exchange *x = u->data;
    if (status < 0) {
        upstream_eof(x, status);
        return;
    }
    pump_request(x);
}

void px__exchange_client_written(struct px_exchange *x, int status)
{
    px__client_timer_stop(x->c);
    if (status < 0) {
        x->error = "client write failed";
        px_client_close(x->c, x->error);
        return;
    }
    if (x->c->state == PX_CLIENT_ERROR) {
        on_error_written(x);
        return;
    }
    pump_response(x);
}

int px__exchange_client_write(struct px_exchange *x, uv_buf_t *bufs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        x->bytes_out += bufs[i].len;
    return px_stream_write(&x->c->s, bufs, n);
}

/*
 * Hands an HTTP/2 stream client the response parsed: the head when due (with
 * the lines we add), the decoded body BUFS, and the end when END. Returns
 * as client_write().
 */
static int client_respond(struct px_exchange *x, uv_buf_t *bufs, unsigned n, bool end)
{
    struct px_h2_response r = {
        .resp = &x->up->resp,
        .extra = x->out + x->resp_head_off,
        .extra_len = x->head_due ? x->resp_head_len : 0,
        .head = x->head_due,
        .end = end,
    };
    if (x->head_due)
        x->bytes_out += x->head_size;
    x->head_due = false;
    x->resp_head_len = 0;
    for (unsigned i = 0; i < n; i++)
        x->bytes_out += bufs[i].len;
    int rc = px__h2_stream_respond(x->c, &r, bufs, n);
    if (rc == 0)
        px__client_timer(x->c, xconf(x)->timeouts.client_send_ms, PX_PHASE_SEND);
    return rc;
}

/* Writes BUFS to the client; a queued write arms the client_send deadline.
 * Returns 1 when done, 0 when queued, < 0 on error. */
static int client_write(struct px_exchange *x, uv_buf_t *bufs, unsigned n)
{
    int rc = px__exchange_client_write(x, bufs, n);
    if (rc == 0)
        px__client_timer(x->c, xconf(x)->timeouts.client_send_ms, PX_PHASE_SEND);
    return rc;
}

/* Decides how the response is framed for this client and renders its head. */
static int response_head(struct px_exchange *x)
{
    struct px_http *r = &x->up->resp;
    bool client_1_0 = px_http_minor(&x->req) == 0;
    int status = px_http_status(r);

    if (px_http_scan(r) != 0)
        return PX_EPARSE;
    if (status == 101 && !x->upgrade)
        return PX_EPARSE;
    if (status >= 200) {
        x->status = status;
        x->decode = client_1_0 && px_http_chunked(r) && !x->is_head;
        r->decode_body = x->decode;
        /* The client connection outlives this response only when the
         * response ends by its framing, the request is fully read, and the
         * bytes after an upgrade request are not in another protocol. */
        if (px_http_needs_eof(r) || x->decode || x->upgrade || x->c->w->draining)
            x->keep_alive = false;
    }
    bool interim = status < 200 && status != 101;
    char extra[EXTRA_HEADERS_BYTES];
    struct px_resp_ctx ctx = {
        .keep_alive = x->keep_alive || interim,
        .client_1_0 = client_1_0 && !interim,
        .drop_te = x->decode,
        .upgrade = status == 101,
        .extra = extra,
        .extra_len = 0,
    };
    if (!interim) {
        ctx.extra_len = explain_line(x, extra, sizeof(extra));
        if (px_http_find(r, "x-request-id") < 0)
            ctx.extra_len +=
                request_id_line(x, extra + ctx.extra_len, sizeof(extra) - ctx.extra_len);
    }
    x->resp_head_off = x->req_head_len;
    if (x->parsed_out) {
        /* HTTP/2 frames the body itself, and takes the head as it was
         * parsed: only the lines we add are kept, as text. */
        r->decode_body = true;
        memcpy(x->out + x->resp_head_off, extra, ctx.extra_len);
        x->resp_head_len = (uint32_t)ctx.extra_len;
        x->head_size = (uint32_t)px_http_response_head_size(r, &ctx);
        x->head_due = true;
        return 0;
    }
    int n = px_http_write_response_head(r, &ctx, x->out + x->resp_head_off,
                                        x->out_cap - x->resp_head_off);
    if (n < 0)
        return PX_EHEADTOOBIG;
    x->resp_head_len = (uint32_t)n;
    return 0;
}

#define COALESCE_MAX_BYTES 4096

/*
 * A head and a small body go out as one buffer: write(2) rather than
 * writev(2), which costs the kernel noticeably more per call, for the
 * price of copying at most COALESCE_MAX_BYTES behind the head in x->out
 * (the request head before it is left alone). Returns the new count.
 */
static unsigned coalesce_small_body(struct px_exchange *x, uv_buf_t *bufs, unsigned n)
{
    char *head_end = bufs[0].base + bufs[0].len;
    if (n != 2 || bufs[0].base != x->out + x->resp_head_off || bufs[1].len > COALESCE_MAX_BYTES ||
        bufs[1].len > (size_t)(x->out + x->out_cap - head_end))
        return n;
    memcpy(head_end, bufs[1].base, bufs[1].len);
    bufs[0].len += bufs[1].len;
    return 1;
}

/*
 * Writes BUFS (and for an HTTP/2 stream, the head when due and the end when
 * END) to the client. False when pumping must stop: the client is gone, or
 * the write is queued and the upstream waits for it.
 */
static bool pump_write(struct px_exchange *x, uv_buf_t *bufs, unsigned n, bool end)
{
    struct px_upstream *u = x->up;
    int rc;

    x->resp_started = true;
    if (x->parsed_out) {
        rc = client_respond(x, bufs, n, end);
    } else {
        n = coalesce_small_body(x, bufs, n);
        rc = client_write(x, bufs, n);
    }
    if (rc < 0) {
        px_client_close(x->c, "client write failed");
        return false;
    }
    if (rc == 0) {
        px_stream_read(&u->s, false);
        px_upstream_timer_stop(u);
        x->paused_at_ms = uv_now(&x->c->w->loop);
        return false;
    }
    return true;
}

/*
 * Moves parsed response bytes to the client until the upstream buffer is
 * empty or a client write has to wait. Interim 1xx heads are passed on (to
 * HTTP/1.1 clients) and parsing goes on with the final response.
 */
static void pump_response(struct px_exchange *x)
{
    struct px_upstream *u;

    if (!px_stream_writing(&x->c->s))
        resume_clock(x);
    while ((u = x->up) != NULL && !px_stream_writing(&x->c->s) && !x->resp_done) {
        bool have_bytes = px_stream_has_input(&u->s);
        const char *data = have_bytes ? u->s.in->data + u->s.in_off : "";
        size_t consumed = 0;
        int ev = PX_HTTP_MORE;
        uv_buf_t bufs[PX_HTTP_MAX_SPANS + 1];
        unsigned n = 0;

        /* A paused parser may complete a message without another byte
         * (HEAD, 204, 304, 1xx), so it is fed even when the buffer is empty. */
        if (!have_bytes && x->resp_head_len == 0 && !x->head_due && !px_http_paused(&u->resp))
            break;
        if (have_bytes || px_http_paused(&u->resp))
            ev =
                px_http_feed(&u->resp, data, have_bytes ? u->s.in_len - u->s.in_off : 0, &consumed);
        if (ev < 0) {
            fail(x, 502, "invalid response from upstream");
            return;
        }
        u->s.in_off += (uint32_t)consumed;
        if (ev == PX_HTTP_HEAD) {
            int rc = response_head(x);
            if (rc < 0) {
                fail(x, 502,
                     rc == PX_EHEADTOOBIG ? "upstream header too large"
                                          : "invalid response from upstream");
                return;
            }
            int status = px_http_status(&u->resp);
            if (status >= 200) {
                px_backend_signal(x->c->w, &x->pick,
                                  status >= 500 ? PX_OUTCOME_HTTP_5XX : PX_OUTCOME_OK);
                x->body_start_ms = uv_now(&x->c->w->loop);
            }
            if (status < 200 && px_http_minor(&x->req) == 0)
                x->resp_head_len = 0; /* HTTP/1.0 clients get no interim responses */
            /* An interim head goes now: the parser moves on to the final one. */
            if (status < 200 && x->head_due && !pump_write(x, bufs, 0, false))
                return;
            if (status == 101) {
                x->req_done = true;
                px_tunnel_start(x);
                return;
            }
            continue;
        }
        if (x->resp_head_len && !x->parsed_out) {
            bufs[n++] = uv_buf_init(x->out + x->resp_head_off, x->resp_head_len);
            x->resp_head_len = 0;
        }
        if (x->decode || x->parsed_out) {
            for (unsigned i = 0; i < u->resp.nspans; i++)
                bufs[n++] = uv_buf_init((char *)u->resp.spans[i].base, u->resp.spans[i].len);
            u->resp.nspans = 0;
        } else if (consumed) {
            bufs[n++] = uv_buf_init((char *)data, (unsigned)consumed);
        }
        if (px_http_status(&u->resp) >= 200)
            x->body_bytes += consumed;
        if (ev == PX_HTTP_DONE && px_http_status(&u->resp) >= 200) {
            x->resp_done = true;
            signal_transfer(x);
        }
        if (n == 0 && !x->head_due && !(x->parsed_out && x->resp_done))
            continue;
        if (!pump_write(x, bufs, n, x->resp_done))
            return;
    }
    if (px_stream_writing(&x->c->s) || x->up == NULL)
        return;
    if (x->resp_done) {
        px_upstream_timer_stop(x->up);
        maybe_finish(x);
        return;
    }
    px_stream_read(&x->up->s, true);
    upstream_clock(x);
}

/* A reused connection may have been closed by the backend while idle; the
 * request is safe to send again on a fresh one when it never reached the
 * application: nothing came back, it is idempotent and it had no body. */
static bool can_resend(const struct px_exchange *x)
{
    return !x->resp_started && !px_http_started(&x->up->resp) && px_http_is_idempotent(&x->req) &&
           !px_http_has_body(&x->req);
}

/* The upstream ended (ERR: UV_EOF, a libuv error or PX_ENOMEM) or a write to it failed. */
static void upstream_eof(struct px_exchange *x, int err)
{
    struct px_upstream *u = x->up;

    if (x->resp_done) {
        /* Closed after a complete response: fine, just not reusable. If the
         * request body was still going, there is nobody left to take it. */
        detach_upstream(x, false);
        if (!x->req_done) {
            x->keep_alive = false;
            x->req_done = true;
        }
        maybe_finish(x);
        return;
    }

    if (err == UV_EOF && px_http_started(&u->resp) && px_http_finish(&u->resp) == PX_HTTP_DONE) {
        /* Close-delimited body: EOF is its end. An HTTP/1.1 client sees
         * that end as our close; an HTTP/2 stream must be told it. */
        x->resp_done = true;
        if (x->parsed_out && !pump_write(x, NULL, 0, true))
            return;
        pump_response(x);
        return;
    }
    if (can_resend(x) && u->nrequests > 1) {
        px_log(PX_LOG_DEBUG, &x->c->peer.sa,
               "event=retry reason=pooled_connection_closed backend=%s",
               x->pick.backend->desc->addr.text);
        reconnect_fresh(x);
        return;
    }
    if (can_resend(x)) {
        /* A fresh connection reset before any response byte: the backend
         * (or the path to it) failed. An idempotent request without a body
         * is safe to send elsewhere (RFC 9110 §9.2.2), as nginx's
         * proxy_next_upstream does by default. */
        px_log(PX_LOG_DEBUG, &x->c->peer.sa, "event=retry reason=reset_before_response backend=%s",
               x->pick.backend->desc->addr.text);
        px_backend_signal(x->c->w, &x->pick, PX_OUTCOME_RESET);
        detach_upstream(x, false);
        connect_next(x);
        return;
    }
    if (!x->resp_started) {
        px_backend_signal(x->c->w, &x->pick, PX_OUTCOME_RESET);
        fail(x, 502,
             px_http_started(&u->resp) ? "upstream closed mid-response"
                                       : "upstream closed before responding");
        return;
    }
    x->error = "upstream closed mid-response";
    x->reason = PX_REASON_UPSTREAM_FAILED;
    log_access(x);
    px_client_close(x->c, x->error);
}

static void on_upstream_read(struct px_upstream *u, int err)
{
    if (err < 0)
        upstream_eof(u->data, err);
    else
        pump_response(u->data);
}

static void on_upstream_timeout(struct px_upstream *u)
{
    struct px_exchange *x = u->data;
    if (u->state == PX_UP_CONNECTING) {
        on_upstream_connect(u, UV_ETIMEDOUT);
        return;
    }
    px_backend_signal(x->c->w, &x->pick, PX_OUTCOME_TIMEOUT);
    fail(x, 504, "upstream timed out");
}

static const struct px_upstream_ops upstream_ops = {
    .on_connect = on_upstream_connect,
    .on_read = on_upstream_read,
    .on_written = on_upstream_written,
    .on_timeout = on_upstream_timeout,
};

void px__exchange_client_timeout(struct px_exchange *x, enum px_client_phase phase)
{
    if (phase == PX_PHASE_BODY)
        fail(x, 408, "client body timeout");
    else
        px_client_close(x->c, px_client_phase_names[phase]);
}
