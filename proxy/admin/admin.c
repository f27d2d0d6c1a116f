/*
 * admin: listener, connections and endpoint handlers. A connection reads
 * one request head with px_http, answers it from the control thread's own
 * state, writes the whole response in one uv_write and closes. Handlers
 * build their body in a struct px_sbuf; px_admin_handle() is the pure part
 * (no I/O) so unit tests can call it.
 */
#include "proxy/admin/admin.h"
#include "proxy/control/control.h"
#include "proxy/proto/http1.h"
#include "proxy/base/list.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"
#include "proxy/state/stats.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#define ADMIN_READ_BYTES 8192
#define ADMIN_MAX_HEAD_BYTES 8192
#define ADMIN_MAX_HEADERS 64
#define ADMIN_TIMEOUT_MS 10000

struct px_admin {
    struct px_control_guest guest; /* ctl->admin while it runs */
    uv_tcp_t listener;
    struct px_control *ctl; /* borrowed */
    struct px_list conns;   /* every open admin_conn */
    unsigned pending_closes;
    bool closing;
};

struct admin_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;    /* whole-request deadline */
    uv_write_t wr;       /* the response write */
    struct px_admin *a;  /* borrowed */
    struct px_list node; /* in a->conns */
    struct px_http req;  /* owned parser */
    struct px_sbuf out;  /* owned response bytes */
    char rbuf[ADMIN_READ_BYTES];
    unsigned pending_closes;
    bool answered; /* a response is written or being written */
    bool closing;
};

static const char *status_page(void);

/* ------------------------------------------------------------ connections */

static void admin_maybe_free(struct px_admin *a)
{
    if (a->closing && a->pending_closes == 0 && px_list_empty(&a->conns))
        free(a);
}

static void on_admin_conn_closed(uv_handle_t *h)
{
    struct admin_conn *ac = h->data;
    struct px_admin *a = ac->a;
    if (--ac->pending_closes > 0)
        return;
    px_list_remove(&ac->node);
    px_http_dispose(&ac->req);
    px_sbuf_dispose(&ac->out);
    free(ac);
    admin_maybe_free(a);
}

static void conn_close(struct admin_conn *ac)
{
    if (ac->closing)
        return;
    ac->closing = true;
    ac->pending_closes = 2;
    uv_read_stop((uv_stream_t *)&ac->tcp);
    uv_close((uv_handle_t *)&ac->timer, on_admin_conn_closed);
    uv_close((uv_handle_t *)&ac->tcp, on_admin_conn_closed);
}

static void on_admin_written(uv_write_t *wr, int status)
{
    (void)status;
    conn_close(wr->data);
}

static void on_admin_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return px_http_reason(status);
    }
}

/* Sends STATUS with BODY (moved into the connection) and closes after. */
static void respond(struct admin_conn *ac, int status, const char *ctype, struct px_sbuf *body)
{
    struct px_sbuf *o = &ac->out;
    uv_buf_t buf;

    ac->answered = true;
    uv_read_stop((uv_stream_t *)&ac->tcp);
    px_sbuf_printf(o,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\nConnection: close\r\n",
                   status, reason(status), ctype, body->len);
    if (status == 401)
        px_sbuf_puts(o, "WWW-Authenticate: Bearer realm=\"georoute\"\r\n");
    else if (status == 405)
        px_sbuf_puts(o, "Allow: POST\r\n");
    px_sbuf_puts(o, "\r\n");
    px_sbuf_append(o, body->data ? body->data : "", body->len);
    px_sbuf_dispose(body);
    if (o->oom) {
        conn_close(ac);
        return;
    }
    buf = uv_buf_init(o->data, (unsigned)o->len);
    ac->wr.data = ac;
    if (uv_write(&ac->wr, (uv_stream_t *)&ac->tcp, &buf, 1, on_admin_written) != 0)
        conn_close(ac);
}

static void respond_text(struct admin_conn *ac, int status, const char *text)
{
    struct px_sbuf b;
    px_sbuf_init(&b);
    px_sbuf_puts(&b, text);
    respond(ac, status, "text/plain; charset=utf-8", &b);
}

/* Copies header I's value into BUF (NUL-terminated, cut to fit). */
static const char *header_value(const struct px_http *h, int i, char *buf, size_t cap)
{
    const struct px_hdr *hd;
    size_t n;
    if (i < 0)
        return NULL;
    hd = &h->hdrs[i];
    n = hd->value_len < cap - 1 ? hd->value_len : cap - 1;
    memcpy(buf, h->buf + hd->value_off, n);
    buf[n] = '\0';
    return buf;
}

static void handle(struct admin_conn *ac)
{
    struct px_http *h = &ac->req;
    char target[2048], auth[512];
    const char *ctype = "text/plain; charset=utf-8";
    struct px_sbuf body;
    size_t n = h->target_len < sizeof(target) - 1 ? h->target_len : sizeof(target) - 1;
    int status;

    memcpy(target, h->buf + h->target_off, n);
    target[n] = '\0';
    px_sbuf_init(&body);
    status = px_admin_handle(ac->a->ctl, px_http_method_name(h), target,
                             header_value(h, px_http_find(h, "authorization"), auth, sizeof(auth)),
                             &ctype, &body);
    respond(ac, status, ctype, &body);
}

static void on_admin_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    struct admin_conn *ac = hd->data;
    (void)suggested;
    *buf = uv_buf_init(ac->rbuf, sizeof(ac->rbuf));
}

static void on_admin_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct admin_conn *ac = s->data;
    size_t consumed;
    int ev;

    if (nread < 0) {
        conn_close(ac);
        return;
    }
    if (nread == 0 || ac->answered)
        return;
    ev = px_http_feed(&ac->req, buf->base, (size_t)nread, &consumed);
    if (ev == PX_HTTP_MORE)
        return;
    if (ev < 0) {
        respond_text(ac, ev == PX_EHEADTOOBIG ? 431 : 400, "bad request\n");
        return;
    }
    handle(ac);
}

static void on_admin_connection(uv_stream_t *server, int status)
{
    struct px_admin *a = server->data;
    struct admin_conn *ac;

    if (status < 0 || a->closing)
        return;
    if ((ac = calloc(1, sizeof(*ac))) == NULL)
        return;
    ac->a = a;
    px_sbuf_init(&ac->out);
    uv_tcp_init(&a->ctl->loop, &ac->tcp);
    uv_timer_init(&a->ctl->loop, &ac->timer);
    ac->tcp.data = ac->timer.data = ac;
    px_list_insert_tail(&a->conns, &ac->node);
    if (px_http_init(&ac->req, PX_HTTP_REQUEST, ac, ADMIN_MAX_HEAD_BYTES, ADMIN_MAX_HEADERS) != 0 ||
        uv_accept(server, (uv_stream_t *)&ac->tcp) != 0) {
        conn_close(ac);
        return;
    }
    uv_timer_start(&ac->timer, on_admin_timeout, ADMIN_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&ac->tcp, on_admin_alloc, on_admin_read);
}

static void on_admin_listener_closed(uv_handle_t *h)
{
    struct px_admin *a = h->data;
    a->pending_closes--;
    admin_maybe_free(a);
}

static void close_guest(struct px_control_guest *g)
{
    px_admin_close(px_container_of(g, struct px_admin, guest));
}

struct px_admin *px_admin_start(struct px_control *ctl)
{
    const struct conf_admin *ca = &ctl->snap->cfg->conf->admin;
    struct px_admin *a;
    int rc;

    if (!ca->enabled || ca->addr.salen == 0)
        return NULL;
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        px_log(PX_LOG_ERR, NULL, "event=admin_failed reason=out_of_memory");
        return NULL;
    }
    a->ctl = ctl;
    px_list_init(&a->conns);
    uv_tcp_init(&ctl->loop, &a->listener);
    a->listener.data = a;
    if ((rc = uv_tcp_bind(&a->listener, (const struct sockaddr *)&ca->addr.sa, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&a->listener, 64, on_admin_connection)) != 0) {
        px_log(PX_LOG_ERR, NULL, "event=admin_listen_failed addr=%s err=%s", ca->addr.text,
               uv_strerror(rc));
        a->closing = true;
        a->pending_closes = 1;
        uv_close((uv_handle_t *)&a->listener, on_admin_listener_closed);
        return NULL;
    }
    px_log(PX_LOG_INFO, NULL, "event=admin_listening addr=%s", ca->addr.text);
    a->guest.close = close_guest;
    ctl->admin = &a->guest;
    return a;
}

void px_admin_close(struct px_admin *a)
{
    struct px_list *n;
    if (a == NULL || a->closing)
        return;
    a->closing = true;
    a->pending_closes++;
    uv_close((uv_handle_t *)&a->listener, on_admin_listener_closed);
    for (n = a->conns.next; n != &a->conns;) {
        struct admin_conn *ac = px_container_of(n, struct admin_conn, node);
        n = n->next;
        conn_close(ac);
    }
}

/* ------------------------------------------------------------ state views */

static const struct conf *cfg_of(const struct px_control *ctl)
{
    return ctl->snap->cfg->conf;
}

static uint64_t now_of(struct px_control *ctl)
{
    return uv_now(&ctl->loop);
}

static void backend_name(const struct conf_backend *b, char *buf, size_t cap)
{
    if (b->kind == CONF_BACKEND_ADDR)
        snprintf(buf, cap, "%s", b->addr.text);
    else if (b->kind == CONF_BACKEND_NAME)
        snprintf(buf, cap, "%s:%u", b->host, (unsigned)b->port);
    else
        snprintf(buf, cap, "srv:%s", b->host);
}

/* Sum of every worker's in-flight requests on fleet backend I (racy, relaxed). */
static unsigned backend_inflight(const struct px_control *ctl, size_t i)
{
    return px_bdesc_inflight(ctl->backends[i]->desc);
}

/* Upstream connections open (connecting, busy or pooled), from the scraped stats. */
static uint64_t upstream_conns(const struct px_stats *s)
{
    uint64_t opened = px_stats_get(&s->upstream_opened), closed = px_stats_get(&s->upstream_closed);
    return opened > closed ? opened - closed : 0;
}

static uint64_t client_conns(const struct px_control *ctl)
{
    return atomic_load_explicit(&ctl->proc->nclients, memory_order_relaxed);
}

/* The region name of a request-stats slot: 0 is "none", k + 1 is region slot k. */
static const char *slot_region(const struct px_control *ctl, size_t slot)
{
    return slot ? ctl->region_slots.names[slot - 1] : "none";
}

/* Sums every worker's stats into S (initialised here; the caller disposes). */
static int scrape(struct px_control *ctl, struct px_stats *s)
{
    if (px_stats_init(s, ctl->zone_slots.cap, ctl->region_slots.cap) != 0)
        return -1;
    if (px__control_workers_lock(ctl)) {
        for (unsigned w = 0; w < ctl->nworkers; w++)
            px_stats_merge(s, &ctl->ports[w]->stats);
        px__control_workers_unlock(ctl);
    }
    return 0;
}

static bool any_region_healthy(const struct px_control *ctl)
{
    for (size_t r = 0; r < cfg_of(ctl)->nregions; r++)
        if (ctl->regions[r].healthy && !ctl->regions[r].drained)
            return true;
    return false;
}

static const char *region_name(const struct px_control *ctl, int r)
{
    return r >= 0 && (size_t)r < cfg_of(ctl)->nregions ? cfg_of(ctl)->regions[r].name : NULL;
}

/* ------------------------------------------------------------ /status */

/* What region R is to zone Z in the config: 1 allowed, 2 fallback, 0 neither. */
static int route_role(const struct conf *cf, size_t z, size_t r)
{
    const struct conf_route *rt = &cf->zones[z].route;
    for (size_t i = 0; i < rt->nregions; i++)
        if (rt->regions[i] == r)
            return 1;
    for (size_t i = 0; i < rt->nfallback; i++)
        if (rt->fallback[i] == r)
            return 2;
    return 0;
}

/* A zone's current choice: region, slow-start secondary and share, and why. */
static void json_route_choice(struct px_sbuf *b, const struct px_control *ctl,
                              const struct px_route_state *st)
{
    px_json_key(b, "region", false);
    px_json_str(b, region_name(ctl, st->current));
    px_json_key(b, "secondary", false);
    px_json_str(b, region_name(ctl, st->secondary));
    px_json_key(b, "share", false);
    px_json_num(b, st->share);
    px_json_key(b, "reason", false);
    px_json_str(b, px_route_reason_name(st->reason));
    px_json_key(b, "why", false);
    px_json_str(b, st->why);
}

static void json_scores(struct px_sbuf *b, const struct px_control *ctl, size_t z)
{
    const struct px_route_state *st = &ctl->zones[z];
    const struct conf *cf = cfg_of(ctl);
    bool first = true;

    px_sbuf_puts(b, "[");
    for (size_t r = 0; r < cf->nregions && r < st->nscores; r++) {
        const struct px_route_score *sc = &st->scores[r];
        int role = route_role(cf, z, r);
        if (role == 0)
            continue;
        px_sbuf_puts(b, first ? "{" : ",{");
        first = false;
        px_json_key(b, "region", true);
        px_json_str(b, cf->regions[r].name);
        px_json_key(b, "allowed", false);
        px_sbuf_puts(b, role == 1 ? "true" : "false");
        px_json_key(b, "fallback", false);
        px_sbuf_puts(b, role == 2 ? "true" : "false");
        px_json_key(b, "healthy", false);
        px_sbuf_puts(b, sc->healthy ? "true" : "false");
        px_json_key(b, "drained", false);
        px_sbuf_puts(b, ctl->regions[r].drained ? "true" : "false");
        px_json_key(b, "rtt_ms", false);
        px_json_num(b, sc->rtt_ms);
        px_json_key(b, "bias_ms", false);
        px_json_num(b, sc->bias_ms);
        px_json_key(b, "load_ms", false);
        px_json_num(b, sc->load_penalty_ms);
        px_json_key(b, "total_ms", false);
        px_json_num(b, sc->total_ms);
        px_json_key(b, "chosen", false);
        px_sbuf_puts(b, (int)r == st->current ? "true" : "false");
        px_sbuf_puts(b, "}");
    }
    px_sbuf_puts(b, "]");
}

static void json_zone(struct px_sbuf *b, struct px_control *ctl, size_t z, const struct px_stats *s)
{
    const struct px_route_state *st = &ctl->zones[z];
    uint64_t now = now_of(ctl);
    int slot = px__control_slot_find(&ctl->zone_slots, cfg_of(ctl)->zones[z].name);
    double med = s && slot >= 0 ? px_stats_rtt_median_s(s, (size_t)slot) : -1;

    px_json_key(b, "name", true);
    px_json_str(b, cfg_of(ctl)->zones[z].name);
    json_route_choice(b, ctl, st);
    px_json_key(b, "since_switch_ms", false);
    if (st->reason == PX_ROUTE_NONE)
        px_sbuf_puts(b, "null");
    else
        px_json_num(b, (double)(now - st->switched_ms));
    px_json_key(b, "switches", false);
    px_json_num(b, st->switches);
    px_json_key(b, "client_rtt_median_ms", false);
    px_json_num(b, med < 0 ? NAN : med * 1000);
    px_json_key(b, "scores", false);
    json_scores(b, ctl, z);
}

static void json_backend(struct px_sbuf *b, struct px_control *ctl, size_t i)
{
    const struct px_cbackend *cb = ctl->backends[i];
    const struct px_health *h = &cb->health;
    uint64_t now = now_of(ctl);
    char name[300];

    backend_name(cb->conf, name, sizeof(name));
    px_json_key(b, "address", true);
    px_json_str(b, cb->desc->addr.text);
    px_json_key(b, "source", false);
    px_json_str(b, name);
    px_json_key(b, "weight", false);
    px_json_num(b, cb->weight);
    px_json_key(b, "up", false);
    px_sbuf_puts(b, h->up ? "true" : "false");
    px_json_key(b, "usable", false);
    px_sbuf_puts(b, px_health_usable(h, now) ? "true" : "false");
    px_json_key(b, "ejected", false);
    px_sbuf_puts(b, px_health_ejected(h, now) ? "true" : "false");
    px_json_key(b, "ejected_for_ms", false);
    px_json_num(b, px_health_ejected(h, now) ? (double)(h->ejected_until_ms - now) : 0);
    px_json_key(b, "ejections", false);
    px_json_num(b, (double)h->ejections_total);
    px_json_key(b, "consecutive_failures", false);
    px_json_num(b, h->fail_run);
    px_json_key(b, "passive_consecutive_failures", false);
    px_json_num(b, h->passive_fail_run);
    px_json_key(b, "rtt_ms", false);
    px_json_num(b, h->has_rtt ? h->rtt_ms : NAN);
    px_json_key(b, "rtt_dev_ms", false);
    px_json_num(b, h->has_rtt ? h->rtt_dev_ms : NAN);
    px_json_key(b, "load_ms", false);
    px_json_num(b, px_health_load_ms(h));
    px_json_key(b, "inflight", false);
    px_json_num(b, backend_inflight(ctl, i));
    px_json_key(b, "last_probe", false);
    if (cb->last_probe_ms == 0) {
        px_sbuf_puts(b, "null");
        return;
    }
    px_sbuf_puts(b, "{");
    px_json_key(b, "ok", true);
    px_sbuf_puts(b, cb->last_err == 0 ? "true" : "false");
    px_json_key(b, "error", false);
    px_json_str(b, cb->last_err == 0                              ? NULL
                   : cb->last_err == PX_EPARSE && cb->last_status ? "unexpected status"
                                                                  : px_strerror(cb->last_err));
    px_json_key(b, "status", false);
    px_json_num(b, cb->last_status);
    px_json_key(b, "ago_ms", false);
    px_json_num(b, (double)(now - cb->last_probe_ms));
    px_sbuf_puts(b, "}");
}

/* Every name and SRV entry: where it points now, when it is asked again, what failed. */
static void json_dns(struct px_sbuf *b, const struct px_control *ctl)
{
    px_sbuf_puts(b, "[");
    for (size_t i = 0; i < ctl->nnames; i++) {
        const struct px_cname *cn = ctl->names[i];
        struct px_dns_watch_info info;
        px_dns_watch_info(cn->watch, &info);
        px_sbuf_puts(b, i ? ",{" : "{");
        px_json_key(b, "name", true);
        px_json_str(b, cn->conf->host);
        px_json_key(b, "srv", false);
        px_sbuf_puts(b, cn->conf->kind == CONF_BACKEND_SRV ? "true" : "false");
        px_json_key(b, "port", false);
        px_json_num(b, cn->conf->kind == CONF_BACKEND_SRV ? NAN : cn->conf->port);
        px_json_key(b, "region", false);
        px_json_str(b, cn->region);
        px_json_key(b, "resolved", false);
        px_sbuf_puts(b, cn->answered ? "true" : "false");
        px_json_key(b, "addresses", false);
        px_sbuf_puts(b, "[");
        for (size_t k = 0; k < cn->naddrs; k++) {
            struct conf_addr a;
            px__control_addr_from_dns(&cn->addrs[k], &a);
            if (k)
                px_sbuf_puts(b, ",");
            px_json_str(b, a.text);
        }
        px_sbuf_puts(b, "]");
        px_json_key(b, "ttl_left_s", false);
        px_json_num(b, info.ttl_left_ms == UINT64_MAX ? NAN : (double)info.ttl_left_ms / 1000.0);
        px_json_key(b, "last_error", false);
        px_json_str(b, info.err ? px_dns_strerror(info.err) : NULL);
        px_json_key(b, "last_failure", false);
        px_json_str(b, info.last_err ? info.last_err_str : NULL);
        px_json_key(b, "queries", false);
        px_json_num(b, (double)info.queries);
        px_json_key(b, "failures", false);
        px_json_num(b, (double)info.failures);
        px_sbuf_puts(b, "}");
    }
    px_sbuf_puts(b, "]");
}

static void status_json(struct px_control *ctl, struct px_sbuf *b)
{
    const struct conf *cf = cfg_of(ctl);
    struct px_stats s;
    bool have = scrape(ctl, &s) == 0;

    px_sbuf_puts(b, "{");
    px_json_key(b, "version", true);
    px_json_str(b, PX_VERSION);
    px_json_key(b, "uptime_s", false);
    px_json_num(b, (double)(now_of(ctl) - ctl->started_ms) / 1000.0);
    px_json_key(b, "ready", false);
    px_sbuf_puts(b, ctl->routes && any_region_healthy(ctl) ? "true" : "false");
    px_json_key(b, "config", false);
    px_sbuf_puts(b, "{");
    px_json_key(b, "file", true);
    px_json_str(b, cf->path);
    px_json_key(b, "generation", false);
    px_json_num(b, (double)ctl->snap->generation);
    px_json_key(b, "reloads_ok", false);
    px_json_num(b, (double)ctl->reloads_ok);
    px_json_key(b, "reloads_failed", false);
    px_json_num(b, (double)ctl->reloads_failed);
    px_sbuf_puts(b, "}");
    px_json_key(b, "routes_generation", false);
    px_json_num(b, ctl->routes ? (double)ctl->routes->generation : 0);

    px_json_key(b, "geo", false);
    px_sbuf_puts(b, "{\"databases\":[");
    for (size_t i = 0; i < cf->geo.ndbs; i++) {
        struct geo_db_meta m;
        geo_db_meta(ctl->snap->dbs[i], &m);
        px_sbuf_puts(b, i ? ",{" : "{");
        px_json_key(b, "path", true);
        px_json_str(b, cf->geo.dbs[i].path);
        px_json_key(b, "schema", false);
        px_json_str(b, conf_geo_schema_name(cf->geo.dbs[i].schema));
        px_json_key(b, "type", false);
        px_json_str(b, m.database_type);
        px_json_key(b, "build_epoch", false);
        px_json_num(b, (double)m.build_epoch);
        px_json_key(b, "ip_version", false);
        px_json_num(b, m.ip_version);
        px_sbuf_puts(b, "}");
    }
    px_sbuf_puts(b, "]");
    if (have) {
        px_json_key(b, "lookups", false);
        px_json_num(b, (double)px_stats_get(&s.geo_lookups));
        px_json_key(b, "not_found", false);
        px_json_num(b, (double)px_stats_get(&s.geo_not_found));
    }
    px_sbuf_puts(b, "}");

    px_json_key(b, "regions", false);
    px_sbuf_puts(b, "[");
    for (size_t r = 0; r < cf->nregions; r++) {
        const struct px_region_state *rs = &ctl->regions[r];
        px_sbuf_puts(b, r ? ",{" : "{");
        px_json_key(b, "name", true);
        px_json_str(b, cf->regions[r].name);
        px_json_key(b, "healthy", false);
        px_sbuf_puts(b, rs->healthy ? "true" : "false");
        px_json_key(b, "drained", false);
        px_sbuf_puts(b, rs->drained ? "true" : "false");
        px_json_key(b, "usable", false);
        px_json_num(b, rs->usable);
        px_json_key(b, "rtt_ms", false);
        px_json_num(b, rs->rtt_ms);
        px_json_key(b, "backends", false);
        px_sbuf_puts(b, "[");
        size_t first, end;
        px_control_region_span(ctl, r, &first, &end);
        for (size_t i = first; i < end; i++) {
            px_sbuf_puts(b, i > first ? ",{" : "{");
            json_backend(b, ctl, i);
            px_sbuf_puts(b, "}");
        }
        px_sbuf_puts(b, "]}");
    }
    px_sbuf_puts(b, "]");

    px_json_key(b, "zones", false);
    px_sbuf_puts(b, "[");
    for (size_t z = 0; z < cf->nzones; z++) {
        px_sbuf_puts(b, z ? ",{" : "{");
        json_zone(b, ctl, z, have ? &s : NULL);
        px_sbuf_puts(b, "}");
    }
    px_sbuf_puts(b, "]");

    px_json_key(b, "dns", false);
    json_dns(b, ctl);

    px_json_key(b, "connections", false);
    px_sbuf_printf(b, "{\"client\":%llu,\"upstream\":%llu}", (unsigned long long)client_conns(ctl),
                   have ? (unsigned long long)upstream_conns(&s) : 0ull);
    px_sbuf_puts(b, "}\n");
    px_stats_dispose(&s);
}

/* ------------------------------------------------------------ /metrics */

static void prom_head(struct px_sbuf *b, const char *name, const char *type, const char *help)
{
    px_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_num(struct px_sbuf *b, double v)
{
    if (v == (double)(long long)v && v < 1e15 && v > -1e15)
        px_sbuf_printf(b, "%lld\n", (long long)v);
    else
        px_sbuf_printf(b, "%.9g\n", v);
}

/* Writes NAME{LABELS,le="..."} lines, _sum and _count of one histogram. */
static void prom_hist(struct px_sbuf *b, const char *name, const char *labels,
                      const _Atomic uint64_t *counts, const double *bounds, size_t nb,
                      uint64_t sum_us)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= nb; i++) {
        cum += px_stats_get(&counts[i]);
        if (i < nb)
            px_sbuf_printf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, bounds[i],
                           (unsigned long long)cum);
        else
            px_sbuf_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
                           (unsigned long long)cum);
    }
    px_sbuf_printf(b, "%s_sum{%s} ", name, labels);
    prom_num(b, (double)sum_us / 1e6);
    px_sbuf_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
}

static void backend_labels(struct px_sbuf *b, const struct px_control *ctl, size_t i)
{
    const struct px_cbackend *cb = ctl->backends[i];
    px_sbuf_puts(b, "{region=\"");
    px_prom_label(b, cb->desc->region);
    px_sbuf_puts(b, "\",backend=\"");
    px_prom_label(b, cb->desc->addr.text);
    px_sbuf_puts(b, "\"} ");
}

enum dns_figure { DNS_ADDRESSES, DNS_RESOLUTIONS, DNS_FAILURES };

static uint64_t dns_figure(const struct px_cname *cn, enum dns_figure f)
{
    struct px_dns_watch_info info;
    if (f == DNS_ADDRESSES)
        return cn->naddrs;
    px_dns_watch_info(cn->watch, &info);
    return f == DNS_RESOLUTIONS ? info.queries : info.failures;
}

/* One metric family with a sample per backend name. */
static void prom_dns(struct px_sbuf *b, const struct px_control *ctl, const char *metric,
                     const char *type, const char *help, enum dns_figure f)
{
    prom_head(b, metric, type, help);
    for (size_t i = 0; i < ctl->nnames; i++) {
        px_sbuf_printf(b, "%s{name=\"", metric);
        px_prom_label(b, ctl->names[i]->conf->host);
        px_sbuf_printf(b, "\"} %llu\n", (unsigned long long)dns_figure(ctl->names[i], f));
    }
}

static void metrics_dns(const struct px_control *ctl, struct px_sbuf *b)
{
    if (ctl->nnames == 0)
        return;
    prom_dns(b, ctl, "georoute_dns_addresses", "gauge",
             "Addresses of the last good answer, by backend name.", DNS_ADDRESSES);
    prom_dns(b, ctl, "georoute_dns_resolutions_total", "counter",
             "Resolution rounds of a backend name (success or failure).", DNS_RESOLUTIONS);
    prom_dns(b, ctl, "georoute_dns_failures_total", "counter",
             "Failed resolution rounds of a backend name; the last good answer stays in use.",
             DNS_FAILURES);
}

static void metrics_text(struct px_control *ctl, struct px_sbuf *b)
{
    static const char *const classes[PX_STATS_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    const struct conf *cf = cfg_of(ctl);
    uint64_t now = now_of(ctl);
    struct px_stats s;
    char labels[512];

    if (scrape(ctl, &s) != 0) {
        b->oom = true;
        return;
    }
    prom_head(b, "georoute_build_info", "gauge", "Build information; always 1.");
    px_sbuf_printf(b, "georoute_build_info{version=\"%s\"} 1\n", PX_VERSION);
    prom_head(b, "georoute_uptime_seconds", "gauge", "Seconds since the control thread started.");
    px_sbuf_puts(b, "georoute_uptime_seconds ");
    prom_num(b, (double)(now - ctl->started_ms) / 1000.0);
    prom_head(b, "georoute_config_generation", "gauge",
              "Generation of the config snapshot in use.");
    px_sbuf_printf(b, "georoute_config_generation %llu\n",
                   (unsigned long long)ctl->snap->generation);
    prom_head(b, "georoute_config_reloads_total", "counter", "Config reloads by result.");
    px_sbuf_printf(b,
                   "georoute_config_reloads_total{result=\"ok\"} %llu\n"
                   "georoute_config_reloads_total{result=\"failed\"} %llu\n",
                   (unsigned long long)ctl->reloads_ok, (unsigned long long)ctl->reloads_failed);

    prom_head(b, "georoute_requests_total", "counter",
              "Requests answered, by client zone, serving region and status class.");
    for (size_t z = 0; z < ctl->zone_slots.n; z++)
        for (size_t slot = 0; slot <= ctl->region_slots.n; slot++)
            for (size_t k = 0; k < PX_STATS_CLASSES; k++) {
                uint64_t v = px_stats_get(&s.requests[px_stats_req_index(&s, z, slot, k)]);
                if (v == 0)
                    continue;
                px_sbuf_printf(b,
                               "georoute_requests_total{zone=\"%s\",region=\"%s\",code=\"%s\"} "
                               "%llu\n",
                               ctl->zone_slots.names[z], slot_region(ctl, slot), classes[k],
                               (unsigned long long)v);
            }
    prom_head(b, "georoute_request_duration_seconds", "histogram",
              "Time from the first request byte to the end of the response, by zone and region.");
    for (size_t z = 0; z < ctl->zone_slots.n; z++)
        for (size_t slot = 0; slot <= ctl->region_slots.n; slot++) {
            const _Atomic uint64_t *h = &s.dur[px_stats_dur_index(&s, z, slot, 0)];
            uint64_t n = 0;
            for (size_t i = 0; i <= PX_STATS_DUR_BUCKETS; i++)
                n += px_stats_get(&h[i]);
            if (n == 0)
                continue;
            snprintf(labels, sizeof(labels), "zone=\"%s\",region=\"%s\"", ctl->zone_slots.names[z],
                     slot_region(ctl, slot));
            prom_hist(b, "georoute_request_duration_seconds", labels, h, px_stats_dur_bounds_s,
                      PX_STATS_DUR_BUCKETS,
                      px_stats_get(&s.dur_sum_us[z * (s.nregions + 1) + slot]));
        }
    prom_head(b, "georoute_client_rtt_seconds", "histogram",
              "Kernel-measured TCP RTT of client connections (once per connection), by zone.");
    for (size_t z = 0; z < ctl->zone_slots.n; z++) {
        if (z == PX_STATS_ZONE_NONE)
            continue; /* an unclassified request has no client RTT to count */
        snprintf(labels, sizeof(labels), "zone=\"%s\"", ctl->zone_slots.names[z]);
        prom_hist(b, "georoute_client_rtt_seconds", labels, &s.rtt[z * (PX_STATS_RTT_BUCKETS + 1)],
                  px_stats_rtt_bounds_s, PX_STATS_RTT_BUCKETS, px_stats_get(&s.rtt_sum_us[z]));
    }

    prom_head(b, "georoute_backend_up", "gauge",
              "1 when active health checks say the backend is up.");
    for (size_t i = 0; i < ctl->nbackends; i++) {
        px_sbuf_puts(b, "georoute_backend_up");
        backend_labels(b, ctl, i);
        prom_num(b, ctl->backends[i]->health.up ? 1 : 0);
    }
    prom_head(b, "georoute_backend_ejected", "gauge",
              "1 while passive outlier detection has the backend ejected.");
    for (size_t i = 0; i < ctl->nbackends; i++) {
        px_sbuf_puts(b, "georoute_backend_ejected");
        backend_labels(b, ctl, i);
        prom_num(b, px_health_ejected(&ctl->backends[i]->health, now) ? 1 : 0);
    }
    prom_head(b, "georoute_backend_rtt_seconds", "gauge",
              "EWMA of the backend's passing probe round trips.");
    for (size_t i = 0; i < ctl->nbackends; i++) {
        if (!ctl->backends[i]->health.has_rtt)
            continue;
        px_sbuf_puts(b, "georoute_backend_rtt_seconds");
        backend_labels(b, ctl, i);
        prom_num(b, ctl->backends[i]->health.rtt_ms / 1000.0);
    }
    prom_head(b, "georoute_backend_inflight", "gauge", "Requests in flight on the backend.");
    for (size_t i = 0; i < ctl->nbackends; i++) {
        px_sbuf_puts(b, "georoute_backend_inflight");
        backend_labels(b, ctl, i);
        prom_num(b, backend_inflight(ctl, i));
    }
    prom_head(b, "georoute_region_healthy", "gauge",
              "1 when the region has enough usable backends.");
    for (size_t r = 0; r < cf->nregions; r++)
        px_sbuf_printf(b, "georoute_region_healthy{region=\"%s\"} %d\n", cf->regions[r].name,
                       ctl->regions[r].healthy ? 1 : 0);
    prom_head(b, "georoute_region_drained", "gauge", "1 while an operator has the region drained.");
    for (size_t r = 0; r < cf->nregions; r++)
        px_sbuf_printf(b, "georoute_region_drained{region=\"%s\"} %d\n", cf->regions[r].name,
                       ctl->regions[r].drained ? 1 : 0);

    prom_head(b, "georoute_zone_route", "gauge",
              "1 for the region a zone is routed to, 0 for its other allowed or fallback regions.");
    for (size_t z = 0; z < cf->nzones; z++) {
        const struct px_route_state *st = &ctl->zones[z];
        for (size_t r = 0; r < cf->nregions; r++) {
            if (route_role(cf, z, r) == 0)
                continue;
            px_sbuf_printf(b, "georoute_zone_route{zone=\"%s\",region=\"%s\"} %d\n",
                           cf->zones[z].name, cf->regions[r].name, st->current == (int)r);
        }
    }
    prom_head(b, "georoute_route_switches_total", "counter",
              "Changes of a zone's region after its first decision.");
    for (size_t z = 0; z < cf->nzones; z++)
        px_sbuf_printf(b, "georoute_route_switches_total{zone=\"%s\"} %u\n", cf->zones[z].name,
                       ctl->zones[z].switches);

    prom_head(b, "georoute_geo_lookups_total", "counter",
              "Client classifications computed, by whether a database knew the address.");
    uint64_t lookups = px_stats_get(&s.geo_lookups), nf = px_stats_get(&s.geo_not_found);
    px_sbuf_printf(b,
                   "georoute_geo_lookups_total{result=\"found\"} %llu\n"
                   "georoute_geo_lookups_total{result=\"not_found\"} %llu\n",
                   (unsigned long long)(lookups - (nf < lookups ? nf : lookups)),
                   (unsigned long long)nf);
    prom_head(b, "georoute_connections", "gauge", "Open connections by side.");
    px_sbuf_printf(b,
                   "georoute_connections{side=\"client\"} %llu\n"
                   "georoute_connections{side=\"upstream\"} %llu\n",
                   (unsigned long long)client_conns(ctl), (unsigned long long)upstream_conns(&s));
    prom_head(b, "georoute_connections_accepted_total", "counter", "Client connections accepted.");
    px_sbuf_printf(b, "georoute_connections_accepted_total %llu\n",
                   (unsigned long long)px_stats_get(&s.accepted));
    prom_head(b, "georoute_retries_total", "counter",
              "Upstream attempts after the first one of a request.");
    px_sbuf_printf(b, "georoute_retries_total %llu\n",
                   (unsigned long long)px_stats_get(&s.retries));
    metrics_dns(ctl, b);
    px_stats_dispose(&s);
}

/* ------------------------------------------------------------ /debug/route */

/* Decodes %XX in place; returns false on a malformed escape. */
static bool url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%') {
            unsigned v;
            if (!s[1] || !s[2] || sscanf(s + 1, "%2x", &v) != 1)
                return false;
            *o++ = (char)v;
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
    return true;
}

/* Finds query parameter NAME in QUERY into BUF; false when absent. */
static bool query_param(const char *query, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1 < cap - 1 ? len - nl - 1 : cap - 1;
            memcpy(buf, p + nl + 1, vl);
            buf[vl] = '\0';
            return url_decode(buf);
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

static int debug_route(struct px_control *ctl, const char *query, struct px_sbuf *b)
{
    const struct conf *cf = cfg_of(ctl);
    struct sockaddr_storage ss;
    struct px_geo g;
    char ip[128];
    const struct px_route_state *st;

    memset(&ss, 0, sizeof(ss));
    if (!query_param(query, "ip", ip, sizeof(ip))) {
        px_sbuf_puts(b, "{\"error\":\"missing ip=ADDR\"}\n");
        return 400;
    }
    if (uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss) != 0) {
        px_sbuf_puts(b, "{\"error\":");
        px_json_str(b, "not an IP address");
        px_sbuf_puts(b, "}\n");
        return 400;
    }
    px_snapshot_classify(ctl->snap, (struct sockaddr *)&ss, NULL, &g);
    st = &ctl->zones[g.zone];
    px_sbuf_puts(b, "{");
    px_json_key(b, "ip", true);
    px_json_str(b, ip);
    px_json_key(b, "geo", false);
    px_sbuf_puts(b, "{");
    px_json_key(b, "found", true);
    px_sbuf_puts(b, g.found ? "true" : "false");
    px_json_key(b, "country", false);
    px_json_str(b, g.country[0] ? g.country : NULL);
    px_json_key(b, "subdivision", false);
    px_json_str(b, g.subdivision[0] ? g.subdivision : NULL);
    px_json_key(b, "continent", false);
    px_json_str(b, g.continent[0] ? g.continent : NULL);
    px_json_key(b, "asn", false);
    if (g.asn)
        px_json_num(b, g.asn);
    else
        px_sbuf_puts(b, "null");
    px_sbuf_puts(b, "}");
    px_json_key(b, "zone", false);
    px_json_str(b, cf->zones[g.zone].name);
    json_route_choice(b, ctl, st);
    px_json_key(b, "scores", false);
    json_scores(b, ctl, g.zone);
    px_sbuf_puts(b, "}\n");
    return 200;
}

/* ------------------------------------------------------------ dispatch */

/* Constant-time comparison of the Authorization value with "Bearer TOKEN". */
static bool authorized(const struct conf_admin *ca, const char *auth)
{
    const char *tok = ca->token;
    size_t tl, al;
    unsigned diff = 0;

    if (tok == NULL)
        return true;
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    auth += 7;
    while (*auth == ' ')
        auth++;
    tl = strlen(tok);
    al = strlen(auth);
    while (al > 0 && auth[al - 1] == ' ')
        al--;
    diff = tl != al;
    for (size_t i = 0; i < tl; i++)
        diff |= (unsigned)(unsigned char)tok[i] ^ (unsigned)(unsigned char)(i < al ? auth[i] : 0);
    return diff == 0;
}

static int drain(struct px_control *ctl, const char *name, bool on, struct px_sbuf *b)
{
    const struct conf *cf = cfg_of(ctl);
    for (size_t r = 0; r < cf->nregions; r++) {
        if (strcmp(cf->regions[r].name, name) != 0)
            continue;
        if (ctl->regions[r].drained != on) {
            ctl->regions[r].drained = on;
            ctl->dirty = true;
            px_log(PX_LOG_WARN, NULL, "event=region_%s region=%s by=admin",
                   on ? "drained" : "undrained", name);
        }
        px_sbuf_puts(b, "{");
        px_json_key(b, "region", true);
        px_json_str(b, name);
        px_json_key(b, "drained", false);
        px_sbuf_puts(b, on ? "true}\n" : "false}\n");
        return 200;
    }
    px_sbuf_puts(b, "{\"error\":\"no such region\"}\n");
    return 404;
}

int px_admin_handle(struct px_control *ctl, const char *method, const char *target,
                    const char *auth, const char **ctype, struct px_sbuf *out)
{
    static const char json[] = "application/json";
    const struct conf *cf = cfg_of(ctl);
    char path[1024];
    const char *q = strchr(target, '?');
    size_t n = q ? (size_t)(q - target) : strlen(target);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    char region[CONF_NAME_MAX + 2];
    char action[16];

    *ctype = "text/plain; charset=utf-8";
    if (n >= sizeof(path)) {
        px_sbuf_puts(out, "not found\n");
        return 404;
    }
    memcpy(path, target, n);
    path[n] = '\0';
    q = q ? q + 1 : "";

    if (strcmp(path, "/reload") == 0) {
        char err[4096];
        if (!post) {
            px_sbuf_puts(out, "method not allowed: use POST\n");
            return 405;
        }
        if (!authorized(&cf->admin, auth)) {
            px_sbuf_puts(out, "unauthorized\n");
            return 401;
        }
        if (px_control_reload(ctl, err, sizeof(err)) != 0) {
            px_sbuf_printf(out, "reload failed, the old config stays:\n%s\n", err);
            return 400;
        }
        *ctype = json;
        px_sbuf_printf(out, "{\"result\":\"ok\",\"generation\":%llu}\n",
                       (unsigned long long)ctl->snap->generation);
        return 200;
    }
    if (sscanf(path, "/regions/%64[^/]/%15s", region, action) == 2 &&
        (strcmp(action, "drain") == 0 || strcmp(action, "undrain") == 0)) {
        if (!post) {
            px_sbuf_puts(out, "method not allowed: use POST\n");
            return 405;
        }
        if (!authorized(&cf->admin, auth)) {
            px_sbuf_puts(out, "unauthorized\n");
            return 401;
        }
        *ctype = json;
        return drain(ctl, region, strcmp(action, "drain") == 0, out);
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
        strcmp(path, "/status") == 0 || strcmp(path, "/metrics") == 0 ||
        strcmp(path, "/debug/route") == 0 || strcmp(path, "/") == 0) {
        if (!get) {
            px_sbuf_puts(out, "method not allowed\n");
            return 405;
        }
    } else {
        px_sbuf_puts(out, "not found\n");
        return 404;
    }
    if (strcmp(path, "/healthz") == 0) {
        px_sbuf_puts(out, "ok\n");
        return 200;
    }
    if (strcmp(path, "/readyz") == 0) {
        if (ctl->routes == NULL) {
            px_sbuf_puts(out, "not ready: no routing table yet\n");
            return 503;
        }
        if (!any_region_healthy(ctl)) {
            px_sbuf_puts(out, "not ready: no healthy region\n");
            return 503;
        }
        px_sbuf_puts(out, "ready\n");
        return 200;
    }
    if (strcmp(path, "/status") == 0) {
        *ctype = json;
        status_json(ctl, out);
        return 200;
    }
    if (strcmp(path, "/metrics") == 0) {
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        metrics_text(ctl, out);
        return 200;
    }
    if (strcmp(path, "/debug/route") == 0) {
        *ctype = json;
        return debug_route(ctl, q, out);
    }
    *ctype = "text/html; charset=utf-8";
    px_sbuf_puts(out, status_page());
    return 200;
}

/* ------------------------------------------------------------ the page */

static const char *status_page(void)
{
    return "<!DOCTYPE html>\n"
           "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>georoute</title>\n"
           "<style>\n"
           "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\n"
           "table{border-collapse:collapse;margin-top:1em}\n"
           "th,td{border:1px solid #bbb;padding:.35em .7em;text-align:right}\n"
           "th{background:#f0f0f0}\n"
           "td.zone{text-align:left;font-weight:600}\n"
           "td.chosen{background:#b7e4b7;font-weight:700;outline:2px solid #2a8a2a}\n"
           "td.secondary{background:#e3f3e3}\n"
           "td.unhealthy{color:#a00;background:#fbe3e3}\n"
           "td.na{color:#bbb}\n"
           "th.drained,td.drained{text-decoration:line-through;color:#888}\n"
           "th.unhealthy{color:#a00}\n"
           "#meta{color:#555}\n"
           "</style></head><body>\n"
           "<h1>georoute</h1><div id=\"meta\">loading&hellip;</div>\n"
           "<table id=\"matrix\"></table>\n"
           "<p>Cells: score in ms (rtt + bias + load). Green: chosen region. Red: unhealthy. "
           "Struck through: drained.</p>\n"
           "<script>\n"
           "function el(t,c,x){var e=document.createElement(t);if(c)e.className=c;"
           "if(x!==undefined)e.textContent=x;return e}\n"
           "function draw(s){\n"
           " document.getElementById('meta').textContent='version '+s.version+' \\u00b7 config '+"
           "s.config.file+' (generation '+s.config.generation+') \\u00b7 up "
           "'+Math.round(s.uptime_s)+"
           "' s \\u00b7 '+(s.ready?'ready':'NOT READY');\n"
           " var t=document.getElementById('matrix');t.textContent='';\n"
           " var h=el('tr');h.appendChild(el('th','','zone \\\\ region'));\n"
           " s.regions.forEach(function(r){var c=[];if(!r.healthy)c.push('unhealthy');"
           "if(r.drained)c.push('drained');var th=el('th',c.join(' '),r.name);"
           "th.setAttribute('data-region',r.name);h.appendChild(th)});\n"
           " h.appendChild(el('th','','why'));h.appendChild(el('th','','client RTT'));"
           "t.appendChild(h);\n"
           " var reg={};s.regions.forEach(function(r){reg[r.name]=r});\n"
           " s.zones.forEach(function(z){var tr=el('tr');var zc=el('td','zone',z.name);"
           "tr.appendChild(zc);\n"
           "  var sc={};z.scores.forEach(function(x){sc[x.region]=x});\n"
           "  s.regions.forEach(function(r){var x=sc[r.name];var c=[];var td;\n"
           "   if(!x){td=el('td','na','\\u2013')}else{\n"
           "    if(z.region===r.name)c.push('chosen');else "
           "if(z.secondary===r.name)c.push('secondary');\n"
           "    if(!x.healthy)c.push('unhealthy');if(reg[r.name].drained)c.push('drained');\n"
           "    td=el('td',c.join(' '),(x.total_ms===null?'?':x.total_ms.toFixed(1))+"
           "(x.fallback?' (fb)':''));\n"
           "    td.title='rtt '+x.rtt_ms+' + bias '+x.bias_ms+' + load '+x.load_ms}\n"
           "   td.setAttribute('data-zone',z.name);td.setAttribute('data-region',r.name);"
           "tr.appendChild(td)});\n"
           "  tr.appendChild(el('td','',z.why));tr.appendChild(el('td','',"
           "z.client_rtt_median_ms===null?'\\u2013':z.client_rtt_median_ms.toFixed(2)+' ms'));\n"
           "  t.appendChild(tr)})}\n"
           "function tick(){fetch('/status',{cache:'no-store'}).then(function(r){return r.json()})"
           ".then(draw).catch(function(e){document.getElementById('meta').textContent="
           "'error: '+e})}\n"
           "tick();setInterval(tick,2000);\n"
           "</script></body></html>\n";
}
