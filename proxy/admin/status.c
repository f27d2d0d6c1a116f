/*
 * status: builds /status and /debug/route with the px_json writer from the
 * control thread's own state plus one scrape of the workers' stats. Field
 * names are an interface (the status page, operators' scripts): add, never
 * rename.
 */
#include "proxy/admin/status.h"
#include "proxy/admin/view.h"
#include "proxy/base/px.h"
#include "proxy/state/stats.h"

#include <math.h>
#include <string.h>

static const char *region_name(const struct px_control *ctl, int r)
{
    return r >= 0 && (size_t)r < px_admin_conf(ctl)->nregions ? px_admin_conf(ctl)->regions[r].name
                                                              : NULL;
}

/* A zone's current choice: region, slow-start secondary and share, and why. */
static void route_choice(struct px_json *j, const struct px_control *ctl,
                         const struct px_route_state *st)
{
    px_json_string(j, "region", region_name(ctl, st->current));
    px_json_string(j, "secondary", region_name(ctl, st->secondary));
    px_json_number(j, "share", st->share);
    px_json_string(j, "reason", px_route_reason_name(st->reason));
    px_json_string(j, "why", st->why);
}

/* The scores ST (a route of zone Z) gave each region the zone may use. */
static void scores(struct px_json *j, const struct px_control *ctl, size_t z,
                   const struct px_route_state *st)
{
    const struct conf *cf = px_admin_conf(ctl);

    px_json_array(j, "scores");
    for (size_t r = 0; r < cf->nregions && r < st->nscores; r++) {
        const struct px_route_score *sc = &st->scores[r];
        enum px_admin_role role = px_admin_route_role(cf, z, r);
        if (role == PX_ROLE_NONE)
            continue;
        px_json_object(j, NULL);
        px_json_string(j, "region", cf->regions[r].name);
        px_json_bool(j, "allowed", role == PX_ROLE_ALLOWED);
        px_json_bool(j, "fallback", role == PX_ROLE_FALLBACK);
        px_json_bool(j, "healthy", sc->healthy);
        px_json_bool(j, "drained", ctl->regions[r].drained);
        px_json_number(j, "rtt_ms", sc->rtt_ms);
        px_json_number(j, "transfer_ms", sc->transfer_ms);
        px_json_number(j, "goodput_bps", sc->goodput_bps > 0 ? sc->goodput_bps : NAN);
        px_json_number(j, "bias_ms", sc->bias_ms);
        px_json_number(j, "total_ms", sc->total_ms);
        px_json_bool(j, "chosen", (int)r == st->current);
        px_json_end(j);
    }
    px_json_end(j);
}

/* One route: its choice and the evidence behind it. */
static void route(struct px_json *j, struct px_control *ctl, const struct px_route_state *st)
{
    route_choice(j, ctl, st);
    if (st->reason == PX_ROUTE_NONE)
        px_json_null(j, "since_switch_ms");
    else
        px_json_number(j, "since_switch_ms", (double)(uv_now(&ctl->loop) - st->switched_ms));
    px_json_number(j, "switches", st->switches);
    px_json_number(j, "size_bytes", st->size_bytes);
    px_json_number(j, "evidence", st->evidence);
}

/*
 * Zone Z's request classes, each with its own route; the zone's own fields
 * are the route of its other requests (all of them without classes).
 */
static void classes(struct px_json *j, struct px_control *ctl, size_t z)
{
    const struct conf_route *rt = &px_admin_conf(ctl)->zones[z].route;

    px_json_array(j, "classes");
    for (size_t k = 0; k < rt->nclasses; k++) {
        px_json_object(j, NULL);
        px_json_string(j, "name", rt->classes[k].name);
        route(j, ctl, px_control_route(ctl, z, k + 1));
        scores(j, ctl, z, px_control_route(ctl, z, k + 1));
        px_json_end(j);
    }
    px_json_end(j);
}

static void zone(struct px_json *j, struct px_control *ctl, size_t z, const struct px_stats *s)
{
    const char *name = px_admin_conf(ctl)->zones[z].name;
    int slot = px_control_zone_slot(ctl, name);
    double med = s && slot >= 0 ? px_stats_rtt_median_s(s, (size_t)slot) : -1;

    px_json_object(j, NULL);
    px_json_string(j, "name", name);
    route(j, ctl, px_control_route(ctl, z, 0));
    px_json_number(j, "client_rtt_median_ms", med < 0 ? NAN : med * 1000);
    scores(j, ctl, z, px_control_route(ctl, z, 0));
    classes(j, ctl, z);
    px_json_end(j);
}

static void backend_source(const struct conf_backend *b, char *buf, size_t cap)
{
    if (b->kind == CONF_BACKEND_ADDR)
        snprintf(buf, cap, "%s", b->addr.text);
    else if (b->kind == CONF_BACKEND_NAME)
        snprintf(buf, cap, "%s:%u", b->host, (unsigned)b->port);
    else
        snprintf(buf, cap, "srv:%s", b->host);
}

static const char *probe_error(const struct px_cbackend *cb)
{
    if (cb->last_err == 0)
        return NULL;
    if (cb->last_err == PX_EPARSE && cb->last_status)
        return "unexpected status";
    return px_strerror(cb->last_err);
}

static void last_probe(struct px_json *j, const struct px_cbackend *cb, uint64_t now)
{
    if (cb->last_probe_ms == 0) {
        px_json_null(j, "last_probe");
        return;
    }
    px_json_object(j, "last_probe");
    px_json_bool(j, "ok", cb->last_err == 0);
    px_json_string(j, "error", probe_error(cb));
    px_json_number(j, "status", cb->last_status);
    px_json_number(j, "ms", cb->health.last_probe_ms);
    px_json_number(j, "ago_ms", (double)(now - cb->last_probe_ms));
    px_json_end(j);
}

static void backend(struct px_json *j, struct px_control *ctl, size_t i)
{
    const struct px_cbackend *cb = ctl->backends[i];
    const struct px_health *h = &cb->health;
    uint64_t now = uv_now(&ctl->loop);
    bool ejected = px_health_ejected(h, now);
    char source[300];

    backend_source(cb->conf, source, sizeof(source));
    px_json_object(j, NULL);
    px_json_string(j, "address", cb->desc->addr.text);
    px_json_string(j, "source", source);
    px_json_number(j, "weight", cb->weight);
    px_json_bool(j, "up", h->up);
    px_json_bool(j, "usable", px_health_usable(h, now));
    px_json_string(j, "why", px_health_why(h, now));
    px_json_number(j, "real_success_ago_ms", h->real_ok_ms ? (double)(now - h->real_ok_ms) : NAN);
    px_json_bool(j, "ejected", ejected);
    px_json_number(j, "ejected_for_ms", ejected ? (double)(h->ejected_until_ms - now) : 0);
    px_json_number(j, "ejections", (double)h->ejections_total);
    px_json_number(j, "consecutive_failures", h->fail_run);
    px_json_number(j, "passive_consecutive_failures", h->passive_fail_run);
    px_json_number(j, "rtt_ms", h->has_rtt ? h->rtt_ms : NAN);
    px_json_number(j, "rtt_dev_ms", h->has_rtt ? h->rtt_dev_ms : NAN);
    px_json_number(j, "load_ms", px_health_load_ms(h));
    px_json_number(j, "goodput_bps", h->has_goodput ? h->goodput_bps : NAN);
    px_json_number(j, "inflight", px_bdesc_inflight(cb->desc));
    if (cb->conf->probe.bulk.path != NULL) {
        px_json_number(j, "bulk_probes", (double)cb->bulk_probes);
        px_json_number(j, "bulk_probe_failures", (double)cb->bulk_failures);
    }
    last_probe(j, cb, now);
    px_json_end(j);
}

static void region(struct px_json *j, struct px_control *ctl, size_t r)
{
    const struct px_region_state *rs = &ctl->regions[r];
    size_t first, end;

    px_json_object(j, NULL);
    px_json_string(j, "name", px_admin_conf(ctl)->regions[r].name);
    px_json_bool(j, "healthy", rs->healthy);
    px_json_bool(j, "drained", rs->drained);
    px_json_number(j, "usable", rs->usable);
    px_json_number(j, "rtt_ms", rs->rtt_ms);
    px_json_array(j, "backends");
    px_control_region_span(ctl, r, &first, &end);
    for (size_t i = first; i < end; i++)
        backend(j, ctl, i);
    px_json_end(j);
    px_json_end(j);
}

/* A name or SRV entry: where it points now, when it is asked again, what failed. */
static void dns_name(struct px_json *j, const struct px_cname *cn)
{
    bool srv = cn->conf->kind == CONF_BACKEND_SRV;
    struct px_dns_watch_info info;
    char addr[64];

    px_dns_watch_info(cn->watch, &info);
    px_json_object(j, NULL);
    px_json_string(j, "name", cn->conf->host);
    px_json_bool(j, "srv", srv);
    px_json_number(j, "port", srv ? NAN : cn->conf->port);
    px_json_string(j, "region", cn->region);
    px_json_bool(j, "resolved", cn->answered);
    px_json_array(j, "addresses");
    for (size_t k = 0; k < cn->naddrs; k++) {
        px_sockaddr_text((const struct sockaddr *)&cn->addrs[k].sa, addr, sizeof(addr));
        px_json_string(j, NULL, addr);
    }
    px_json_end(j);
    px_json_number(j, "ttl_left_s",
                   info.ttl_left_ms == UINT64_MAX ? NAN : (double)info.ttl_left_ms / 1000.0);
    px_json_string(j, "last_error", info.err ? px_dns_strerror(info.err) : NULL);
    px_json_string(j, "last_failure", info.last_err ? info.last_err_str : NULL);
    px_json_number(j, "queries", (double)info.queries);
    px_json_number(j, "failures", (double)info.failures);
    px_json_number(j, "refused", (double)cn->refused);
    px_json_string(j, "last_refusal", cn->refusal);
    px_json_string(j, "last_refused_address", cn->refusal ? cn->refused_addr : NULL);
    px_json_number(j, "capped", (double)cn->capped);
    px_json_end(j);
}

static void config(struct px_json *j, const struct px_control *ctl)
{
    px_json_object(j, "config");
    px_json_string(j, "file", px_admin_conf(ctl)->path);
    px_json_number(j, "generation", (double)ctl->snap->generation);
    px_json_number(j, "reloads_ok", (double)ctl->reloads_ok);
    px_json_number(j, "reloads_failed", (double)ctl->reloads_failed);
    px_json_end(j);
}

static void geo(struct px_json *j, const struct px_control *ctl, const struct px_stats *s)
{
    const struct conf *cf = px_admin_conf(ctl);

    px_json_object(j, "geo");
    px_json_array(j, "databases");
    for (size_t i = 0; i < cf->geo.ndbs; i++) {
        struct geo_db_meta m;
        geo_db_meta(ctl->snap->dbs[i], &m);
        px_json_object(j, NULL);
        px_json_string(j, "path", cf->geo.dbs[i].path);
        px_json_string(j, "schema", conf_geo_schema_name(cf->geo.dbs[i].schema));
        px_json_string(j, "type", m.database_type);
        px_json_number(j, "build_epoch", (double)m.build_epoch);
        px_json_number(j, "ip_version", m.ip_version);
        px_json_end(j);
    }
    px_json_end(j);
    if (s != NULL) {
        px_json_number(j, "lookups", (double)px_stats_get(&s->geo_lookups));
        px_json_number(j, "not_found", (double)px_stats_get(&s->geo_not_found));
    }
    px_json_end(j);
}

/* Upstream connections open (connecting, busy or pooled), from the scraped stats. */
static uint64_t upstream_conns(const struct px_stats *s)
{
    uint64_t opened = px_stats_get(&s->upstream_opened), closed = px_stats_get(&s->upstream_closed);
    return opened > closed ? opened - closed : 0;
}

void px__admin_status(struct px_control *ctl, struct px_sbuf *b)
{
    const struct conf *cf = px_admin_conf(ctl);
    struct px_stats s;
    bool have = px_control_scrape(ctl, &s) == 0;
    struct px_json j;

    px_json_init(&j, b);
    px_json_object(&j, NULL);
    px_json_string(&j, "version", PX_VERSION);
    px_json_number(&j, "uptime_s", (double)(uv_now(&ctl->loop) - ctl->started_ms) / 1000.0);
    px_json_bool(&j, "ready", px_admin_ready(ctl));
    px_json_array(&j, "zones_without_region");
    for (size_t z = 0; z < px_admin_conf(ctl)->nzones; z++)
        if (px_control_zone_stranded(ctl, z, -1))
            px_json_string(&j, NULL, px_admin_conf(ctl)->zones[z].name);
    px_json_end(&j);
    config(&j, ctl);
    px_json_number(&j, "routes_generation", ctl->routes ? (double)ctl->routes->generation : 0);
    geo(&j, ctl, have ? &s : NULL);
    px_json_array(&j, "regions");
    for (size_t r = 0; r < cf->nregions; r++)
        region(&j, ctl, r);
    px_json_end(&j);
    px_json_array(&j, "zones");
    for (size_t z = 0; z < cf->nzones; z++)
        zone(&j, ctl, z, have ? &s : NULL);
    px_json_end(&j);
    px_json_array(&j, "dns");
    for (size_t i = 0; i < ctl->nnames; i++)
        dns_name(&j, ctl->names[i]);
    px_json_end(&j);
    px_json_object(&j, "connections");
    px_json_number(&j, "client",
                   (double)atomic_load_explicit(&ctl->proc->nclients, memory_order_relaxed));
    px_json_number(&j, "upstream", have ? (double)upstream_conns(&s) : 0);
    px_json_end(&j);
    px_json_end(&j);
    px_sbuf_puts(b, "\n");
    px_stats_dispose(&s);
}

static void error_doc(struct px_sbuf *b, const char *msg)
{
    struct px_json j;
    px_json_init(&j, b);
    px_json_object(&j, NULL);
    px_json_string(&j, "error", msg);
    px_json_end(&j);
    px_sbuf_puts(b, "\n");
}

int px__admin_debug_route(struct px_control *ctl, const char *ip, struct px_sbuf *b)
{
    struct sockaddr_storage ss;
    struct px_geo g;
    struct px_json j;

    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss) != 0) {
        error_doc(b, "not an IP address");
        return 400;
    }
    /* The address as parsed, never the query's bytes: an IPv6 zone suffix
     * ("%...") is not checked by the parser and would echo anything. */
    char canon[64];
    px_sockaddr_ip((struct sockaddr *)&ss, canon, sizeof(canon));
    px_snapshot_classify(ctl->snap, (struct sockaddr *)&ss, NULL, &g);
    px_json_init(&j, b);
    px_json_object(&j, NULL);
    px_json_string(&j, "ip", canon);
    px_json_object(&j, "geo");
    px_json_bool(&j, "found", g.found);
    px_json_string(&j, "country", g.country[0] ? g.country : NULL);
    px_json_string(&j, "subdivision", g.subdivision[0] ? g.subdivision : NULL);
    px_json_string(&j, "continent", g.continent[0] ? g.continent : NULL);
    if (g.asn)
        px_json_number(&j, "asn", g.asn);
    else
        px_json_null(&j, "asn");
    px_json_end(&j);
    px_json_string(&j, "zone", px_admin_conf(ctl)->zones[g.zone].name);
    route_choice(&j, ctl, px_control_route(ctl, g.zone, 0));
    scores(&j, ctl, g.zone, px_control_route(ctl, g.zone, 0));
    classes(&j, ctl, g.zone);
    px_json_end(&j);
    px_sbuf_puts(b, "\n");
    return 200;
}
