/*
 * control: passive signals, routing decisions, reloads and publication, all
 * on one thread. Every TICK_MS it drains the workers' signal rings, applies
 * DNS changes to the fleet (discovery.c), updates region health, lets the
 * router decide each zone and publishes a new table when anything a worker
 * reads changed (and at least every second, so the balancer's load figures
 * stay fresh).
 */
#include "proxy/control/control.h"
#include "proxy/base/log.h"
#include "proxy/base/notify.h"
#include "proxy/base/px.h"
#include "proxy/state/signals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS 50
#define REPUBLISH_MS 1000

static uint64_t now_ms(struct px_control *ctl)
{
    return uv_now(&ctl->loop);
}

static const struct conf *ctl_conf(const struct px_control *ctl)
{
    return ctl->snap->cfg->conf;
}

/* Applies one passive signal; ejects within the region's allowed share. */
static void apply_signal(struct px_control *ctl, const struct px_signal *s, uint64_t now)
{
    const struct conf *cf = ctl_conf(ctl);
    struct px_cbackend *cb = px__control_find(ctl, s->backend);
    size_t first, end;

    if (s->kind == PX_SIGNAL_TRANSFER) {
        /* Slots are stable by name, so a signal from an older config still counts
         * (for a class, by its place in the zone's list). */
        if (s->zone < ctl->zone_slots.cap && s->cls < PX_CLASS_SLOTS)
            px_size_add(&ctl->sizes[s->zone * PX_CLASS_SLOTS + s->cls], s->bytes, now);
        if (cb != NULL)
            px_health_transfer(&cb->health, s->bytes, s->latency_ms, now);
        return;
    }
    if (cb == NULL) /* removed since the worker sent it */
        return;
    if (!px_health_passive(&cb->health, (enum px_outcome)s->outcome, s->latency_ms, now))
        return;
    px_control_region_span(ctl, cb->region, &first, &end);
    for (size_t i = first; i < end; i++)
        ctl->scratch[i - first] = &ctl->backends[i]->health;
    if (!px_health_may_eject(ctl->scratch, end - first,
                             cf->regions[cb->region].passive.max_ejected_pct, now))
        return;
    uint64_t ms = px_health_eject(&cb->health, now);
    ctl->dirty = true;
    px_log(PX_LOG_WARN, NULL, "event=backend_ejected backend=%s region=%s ms=%llu",
           cb->desc->addr.text, cb->desc->region, (unsigned long long)ms);
}

static void drain_signals(struct px_control *ctl, uint64_t now)
{
    struct px_signal s;
    for (unsigned w = 0; w < ctl->nworkers; w++)
        while (px_signals_take(&ctl->ports[w]->signals, &s))
            apply_signal(ctl, &s, now);
    for (size_t i = 0; i < ctl->nbackends; i++) {
        if (!px_health_eject_expire(&ctl->backends[i]->health, now))
            continue;
        ctl->dirty = true;
        px_log(PX_LOG_INFO, NULL, "event=backend_unejected backend=%s",
               ctl->backends[i]->desc->addr.text);
    }
}

/* Updates every region's health and RTT; returns true if any verdict flipped. */
static bool update_regions(struct px_control *ctl, uint64_t now)
{
    const struct conf *cf = ctl_conf(ctl);
    bool flipped = false;

    for (size_t r = 0; r < cf->nregions; r++) {
        const struct conf_region *cr = &cf->regions[r];
        size_t first, end;
        px_control_region_span(ctl, r, &first, &end);
        for (size_t i = first; i < end; i++)
            ctl->scratch[i - first] = &ctl->backends[i]->health;
        if (px_region_update(&ctl->regions[r], ctl->scratch, end - first, cr->min_healthy,
                             (double)cf->routing.failure_penalty_ms, now)) {
            flipped = true;
            px_log(ctl->regions[r].healthy ? PX_LOG_INFO : PX_LOG_WARN, NULL,
                   "event=region_%s region=%s usable=%u", ctl->regions[r].healthy ? "up" : "down",
                   cr->name, ctl->regions[r].usable);
        }
    }
    return flipped;
}

/* The name of class CLS of zone Z ("" for the zone's other requests). */
static const char *class_name(const struct conf *cf, size_t z, size_t cls)
{
    return cls ? cf->zones[z].route.classes[cls - 1].name : "";
}

/* Asks the router about class CLS of zone Z; returns true if anything workers read changed. */
static bool decide_route(struct px_control *ctl, size_t z, size_t cls,
                         const struct px_region_view *views, uint64_t now)
{
    const struct conf *cf = ctl_conf(ctl);
    struct px_route_state *st = px_control_route(ctl, z, cls);
    int before2 = st->secondary;
    enum px_route_reason before_reason = st->reason;
    size_t slot = ctl->fleet->zone_slot[z];
    double size = px_size_mean(&ctl->sizes[slot * PX_CLASS_SLOTS + cls]);
    bool changed = false;

    if (px_router_decide(cf, z, views, size, now, st)) {
        changed = true;
        /* The zone's own route keeps the line it always had; a class adds its name. */
        px_log(PX_LOG_INFO, NULL, "event=route zone=%s%s%s region=%s reason=\"%s\"",
               cf->zones[z].name, cls ? " class=" : "", class_name(cf, z, cls),
               st->current >= 0 ? cf->regions[st->current].name : "-", st->why);
    }
    /* A slow-start share moves every tick; the reason is in the explain header. */
    return changed || before2 != st->secondary || st->secondary >= 0 || before_reason != st->reason;
}

/* Asks the router about every zone and class; returns true if any choice changed. */
static bool decide_zones(struct px_control *ctl, uint64_t now)
{
    const struct conf *cf = ctl_conf(ctl);
    struct px_region_view views[cf->nregions];
    bool changed = false;

    for (size_t r = 0; r < cf->nregions; r++) {
        const struct px_region_state *rs = &ctl->regions[r];
        views[r] = (struct px_region_view){
            .healthy = rs->healthy,
            .drained = rs->drained,
            .rtt_ms = rs->rtt_ms,
            .goodput_bps = rs->goodput_bps,
            .healthy_since_ms = rs->healthy_since_ms,
        };
    }
    for (size_t z = 0; z < cf->nzones; z++)
        for (size_t k = 0; k <= cf->zones[z].route.nclasses; k++)
            changed |= decide_route(ctl, z, k, views, now);
    return changed;
}

static void publish(struct px_control *ctl, uint64_t now)
{
    const struct conf *cf = ctl_conf(ctl);
    struct px_routes *rt = px_routes_new(ctl->fleet);
    if (rt == NULL) {
        px_log(PX_LOG_ERR, NULL, "event=publish_failed reason=out_of_memory");
        return;
    }
    rt->generation = ctl->routes ? ctl->routes->generation + 1 : 1;
    for (size_t i = 0; i < cf->nroutes; i++) {
        const struct px_route_state *st = &ctl->states[i];
        struct px_routes_zone *rz = &rt->zones[i];
        rz->current = st->current;
        rz->secondary = st->secondary;
        rz->share = st->share;
        rz->reason = st->reason;
        rz->norder = px_router_failover_order(st, rz->order);
        rz->size_bytes = st->size_bytes;
    }
    for (size_t r = 0; r < cf->nregions; r++)
        rt->regions[r] = (struct px_routes_region){.rtt_ms = ctl->regions[r].rtt_ms,
                                                   .goodput_bps = ctl->regions[r].goodput_bps};
    for (size_t i = 0; i < ctl->nbackends; i++) {
        const struct px_cbackend *cb = ctl->backends[i];
        struct px_routes_backend *rb = &rt->backends[i];
        rb->usable = px_health_usable(&cb->health, now);
        rb->load_ms = px_health_load_ms(&cb->health);
        rb->weight = cb->weight;
        rb->up_since_ms = cb->health.changed_ms;
    }
    if (px__control_workers_lock(ctl)) {
        for (unsigned w = 0; w < ctl->nworkers; w++)
            px_port_publish_routes(ctl->ports[w], rt);
        px__control_workers_unlock(ctl);
    }
    px_routes_unref(ctl->routes);
    ctl->routes = rt;
    ctl->published_ms = now;
    ctl->dirty = false;
}

bool px_control_zone_stranded(const struct px_control *ctl, size_t z, int also_drained)
{
    const struct conf *cf = ctl_conf(ctl);
    const struct conf_route *rt = &cf->zones[z].route;

    for (int pass = 0; pass < 2; pass++) {
        const size_t *list = pass == 0 ? rt->regions : rt->fallback;
        size_t n = pass == 0 ? rt->nregions : rt->nfallback;
        for (size_t i = 0; i < n; i++) {
            const struct px_region_state *rs = &ctl->regions[list[i]];
            if (rs->healthy && !rs->drained && (int)list[i] != also_drained)
                return false;
        }
    }
    return true;
}

/* Writes the names of the zones stranded with R drained into BUF ("a, b"); returns how many. */
static size_t stranded_names(const struct px_control *ctl, int r, char *buf, size_t cap)
{
    const struct conf *cf = ctl_conf(ctl);
    size_t n = 0, len = 0;

    if (cap > 0)
        buf[0] = '\0';
    for (size_t z = 0; z < cf->nzones; z++) {
        /* Already stranded before this drain: not its doing. */
        if (!px_control_zone_stranded(ctl, z, r) || px_control_zone_stranded(ctl, z, -1))
            continue;
        if (len < cap) {
            int k = snprintf(buf + len, cap - len, "%s%s", n ? ", " : "", cf->zones[z].name);
            len += k > 0 ? (size_t)k : 0;
        }
        n++;
    }
    return n;
}

int px_control_drain(struct px_control *ctl, const char *name, bool on, bool force, char *err,
                     size_t errlen)
{
    const struct conf *cf = ctl_conf(ctl);
    const struct conf_region *cr = conf_region_find(cf, name);
    size_t r, n = 0;

    if (errlen > 0)
        err[0] = '\0';
    if (cr == NULL)
        return UV_ENOENT;
    r = (size_t)(cr - cf->regions);
    if (on && !ctl->regions[r].drained)
        n = stranded_names(ctl, (int)r, err, errlen);
    if (n > 0 && !force) {
        px_log(PX_LOG_WARN, NULL, "event=region_drain_refused region=%s zones=\"%s\" by=admin",
               name, err);
        return UV_EBUSY;
    }
    if (ctl->regions[r].drained == on)
        return 0;
    ctl->regions[r].drained = on;
    ctl->dirty = true;
    if (n > 0)
        px_log(PX_LOG_WARN, NULL,
               "event=region_drained region=%s by=admin forced=1 zones_without_region=\"%s\"", name,
               err);
    else
        px_log(PX_LOG_WARN, NULL, "event=region_%s region=%s by=admin",
               on ? "drained" : "undrained", name);
    return 0;
}

static bool all_probed(const struct px_control *ctl)
{
    for (size_t i = 0; i < ctl->nbackends; i++)
        if (ctl->backends[i]->last_probe_ms == 0)
            return false;
    return px__control_names_settled(ctl);
}

static void set_ready(struct px_control *ctl)
{
    uv_mutex_lock(&ctl->ready_lock);
    ctl->ready = true;
    uv_cond_signal(&ctl->ready_cond);
    uv_mutex_unlock(&ctl->ready_lock);
}

/* How long the first table may wait for first probes and first DNS answers. */
static uint64_t startup_wait_ms(const struct px_control *ctl)
{
    const struct conf *cf = ctl_conf(ctl);
    uint64_t m = 0;
    for (size_t r = 0; r < cf->nregions; r++)
        for (size_t i = 0; i < cf->regions[r].nbackends; i++)
            if (cf->regions[r].backends[i].probe.timeout_ms > m)
                m = cf->regions[r].backends[i].probe.timeout_ms;
    return ctl->nnames ? m + cf->dns.timeout_ms : m;
}

/*
 * Ticket keys of the TLS listeners rotate here, on their lifetime: the
 * control thread is the one writer, workers only load the current set.
 */
static void rotate_tickets(struct px_control *ctl)
{
    const struct px_config *cfg = ctl->snap->cfg;
    uint64_t now = px_now_ms();

    for (size_t i = 0; cfg->tls && i < cfg->conf->nlisten; i++) {
        if (cfg->tls[i] == NULL || now < px_tls_ctx_next_rotation_ms(cfg->tls[i]))
            continue;
        int rc = px_tls_ctx_rotate(cfg->tls[i], now);
        if (rc == 1)
            px_log(PX_LOG_INFO, NULL, "event=tls_ticket_keys_rotated listen=%s",
                   cfg->conf->listen[i].text);
        else if (rc < 0)
            px_log(PX_LOG_WARN, NULL, "event=tls_ticket_keys_rotation_failed listen=%s err=%s",
                   cfg->conf->listen[i].text, px_strerror(rc));
    }
}

static void on_control_tick(uv_timer_t *t)
{
    struct px_control *ctl = t->data;
    uint64_t now = now_ms(ctl);
    bool first = ctl->routes == NULL;

    /* A failure keeps the previous fleet, which is on the same config. */
    if (ctl->fleet_dirty && px__control_build_fleet(ctl, ctl->snap) == 0)
        ctl->dirty = true;
    if (first && !all_probed(ctl) && now < ctl->started_ms + startup_wait_ms(ctl) + TICK_MS)
        return;
    drain_signals(ctl, now);
    bool changed = update_regions(ctl, now);
    changed |= decide_zones(ctl, now);
    if (first || changed || ctl->dirty || ctl->routes->fleet != ctl->fleet ||
        now - ctl->published_ms >= REPUBLISH_MS)
        publish(ctl, now);
    rotate_tickets(ctl);
    if (first)
        set_ready(ctl);
}

/* Two optional strings are equal (both NULL counts). */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
}

/*
 * Workers own their listeners and access log, and the admin listener lives
 * on this loop: those are bound at start and only a restart changes them.
 * Everything else may change on reload: regions, zones and backends are
 * matched by name (backends by region and address) and keep their state.
 */
static int layout_error(char *err, size_t errlen, const struct conf *nc, struct conf_pos pos,
                        const char *what)
{
    size_t used = strnlen(err, errlen);
    if (used + 1 < errlen)
        snprintf(err + used, errlen - used,
                 "%s%s:%u:%u: reload cannot change %s (only a restart can); the old config stays",
                 used ? "\n" : "", nc->path, pos.line, pos.col, what);
    return -1;
}

/* Reports every restart-only key the new config changes, each at its place. */
static int check_layout(const struct conf *oc, const struct conf *nc, char *err, size_t errlen)
{
    const struct conf_restart_pos *at = &nc->restart_pos;
    int rc = 0;

    if (oc->nlisten != nc->nlisten)
        rc = layout_error(err, errlen, nc, nc->listeners[0].pos, "the listen addresses");
    for (size_t i = 0; rc == 0 && i < nc->nlisten; i++)
        if (strcmp(oc->listen[i].text, nc->listen[i].text) != 0 ||
            oc->listeners[i].proxy_protocol != nc->listeners[i].proxy_protocol)
            rc = layout_error(err, errlen, nc, nc->listeners[i].pos, "the listen addresses");
    if (oc->workers != nc->workers)
        rc = layout_error(err, errlen, nc, at->workers, "workers");
    if (!same_str(oc->access_log, nc->access_log))
        rc = layout_error(err, errlen, nc, at->access_log, "access_log");
    if (!same_str(oc->user, nc->user))
        rc = layout_error(err, errlen, nc, at->user, "user");
    if (!same_str(oc->group, nc->group))
        rc = layout_error(err, errlen, nc, at->group, "group");
    if (oc->admin.enabled != nc->admin.enabled ||
        strcmp(oc->admin.addr.text, nc->admin.addr.text) != 0 ||
        strcmp(oc->admin.unix_path ? oc->admin.unix_path : "",
               nc->admin.unix_path ? nc->admin.unix_path : "") != 0 ||
        oc->admin.mode != nc->admin.mode)
        rc = layout_error(err, errlen, nc, at->admin_listen, "admin.listen");
    return rc;
}

static int index_of_region(const struct conf *cf, const char *name)
{
    const struct conf_region *r = conf_region_find(cf, name);
    return r ? (int)(r - cf->regions) : -1;
}

/* Region R of OC as an index of NC, or -1 when NC lacks it (or R is -1). */
static int map_region(const struct conf *oc, const struct conf *nc, int r)
{
    return r < 0 ? -1 : index_of_region(nc, oc->regions[r].name);
}

/*
 * Copies route state FROM (on OC) into TO (on NC, initialised: it keeps its
 * score table, which the next decision recomputes), mapping region indexes.
 */
static void carry_route(const struct conf *oc, const struct conf *nc,
                        const struct px_route_state *from, struct px_route_state *to)
{
    struct px_route_score *scores = to->scores;
    size_t nscores = to->nscores;

    *to = *from;
    to->scores = scores;
    to->nscores = nscores;
    to->current = map_region(oc, nc, from->current);
    to->secondary = map_region(oc, nc, from->secondary);
    to->candidate = map_region(oc, nc, from->candidate);
    to->away_from = map_region(oc, nc, from->away_from);
    if (to->secondary < 0)
        to->share = 1.0;
}

/*
 * Region and route state for NC, carried over by name from OC: health,
 * drain, RTT, and per zone and class (by zone and class name) the route
 * choice, its evidence and switch count. New ones start as at start-up.
 * Returns 0 or PX_ENOMEM (nothing changed).
 */
static int remap_state(struct px_control *ctl, const struct conf *oc, const struct conf *nc)
{
    struct px_region_state *regions = calloc(nc->nregions, sizeof(*regions));
    struct px_route_state *states = calloc(nc->nroutes, sizeof(*states));
    size_t i = 0;

    if (regions == NULL || states == NULL)
        goto fail;
    for (; i < nc->nroutes; i++)
        if (px_route_state_init(&states[i], nc->nregions) != 0)
            goto fail;
    for (size_t r = 0; r < nc->nregions; r++) {
        int o = index_of_region(oc, nc->regions[r].name);
        if (o >= 0)
            regions[r] = ctl->regions[o];
    }
    for (size_t z = 0; z < nc->nzones; z++) {
        const struct conf_zone *oz = conf_zone_find(oc, nc->zones[z].name);
        if (oz == NULL)
            continue;
        for (size_t k = 0; k <= nc->zones[z].route.nclasses; k++)
            for (size_t ok = 0; ok <= oz->route.nclasses; ok++)
                if (strcmp(class_name(nc, z, k), class_name(oc, (size_t)(oz - oc->zones), ok)) == 0)
                    carry_route(oc, nc, &ctl->states[oz->route_first + ok],
                                &states[nc->zones[z].route_first + k]);
    }
    for (size_t o = 0; o < oc->nroutes; o++)
        px_route_state_dispose(&ctl->states[o]);
    free(ctl->states);
    free(ctl->regions);
    ctl->states = states;
    ctl->regions = regions;
    return 0;
fail:
    while (i > 0)
        px_route_state_dispose(&states[--i]);
    free(states);
    free(regions);
    return PX_ENOMEM;
}

static void on_geo_timer(uv_timer_t *t);

static void restart_geo_timer(struct px_control *ctl)
{
    const struct conf *cf = ctl_conf(ctl);
    uv_timer_stop(&ctl->geo_timer);
    if (cf->geo.ndbs > 0 && cf->geo.reload_interval_ms > 0)
        uv_timer_start(&ctl->geo_timer, on_geo_timer, cf->geo.reload_interval_ms,
                       cf->geo.reload_interval_ms);
}

/* Swaps in the validated SNAP: state by name, names, fleet, a fresh decision. */
static int apply_snapshot(struct px_control *ctl, struct px_snapshot *snap, char *err,
                          size_t errlen)
{
    const struct conf *oc = ctl_conf(ctl), *nc = snap->cfg->conf;
    uint64_t now = now_ms(ctl);

    if (remap_state(ctl, oc, nc) != 0) {
        snprintf(err, errlen, "%s:1:1: out of memory; the old config stays", nc->path);
        return -1;
    }
    px_snapshot_unref(ctl->snap);
    ctl->snap = px_snapshot_ref(snap);
    atomic_store(&ctl->lame_duck_ms, nc->timeouts.lame_duck_ms);
    /* Past the point of no return: regions and zones are already the new
     * config's, so the fleet must follow. Like Redis, treat running out of
     * memory here as fatal rather than serve a half-applied config. */
    if (px__control_sync_names(ctl, nc) != 0 || px__control_build_fleet(ctl, snap) != 0) {
        px_log(PX_LOG_ERR, NULL, "event=reload result=out_of_memory action=abort");
        abort();
    }
    if (ctl->routes != NULL) { /* before the first table, the first tick decides */
        update_regions(ctl, now);
        decide_zones(ctl, now);
        publish(ctl, now);
    }
    restart_geo_timer(ctl);
    return 0;
}

/*
 * A summary first, then one escaped event line per error: a log shipper
 * sees whole events, and an operator whose only channel after SIGHUP is
 * this log sees every error.
 */
static void log_reload_errors(const char *err)
{
    size_t n = 0;
    for (const char *p = err; *p; p++)
        n += *p == '\n';
    px_log(PX_LOG_ERR, NULL, "event=reload result=failed kept=old errors=%zu", err[0] ? n + 1 : 0);
    px_log_lines(PX_LOG_ERR, "reload_error", "error", err);
}

int px_control_reload(struct px_control *ctl, char *err, size_t errlen)
{
    const struct conf *oc = ctl_conf(ctl);
    struct px_config *cfg = NULL;
    struct px_snapshot *snap = NULL;

    err[0] = '\0';
    px_notify_reloading(); /* READY=1 again below, whatever the outcome */
    if (px_config_reload(oc->path, ctl->snap->cfg, &cfg, err, errlen) != 0 ||
        check_layout(oc, cfg->conf, err, errlen) != 0 ||
        px__control_slots_check(ctl, cfg->conf, err, errlen) != 0 ||
        px__control_dns_check(ctl, cfg->conf, err, errlen) != 0 ||
        px_snapshot_new(cfg, ctl->snap, &snap, err, errlen) != 0 ||
        apply_snapshot(ctl, snap, err, errlen) != 0) {
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        px_config_unref(cfg);
        px_snapshot_unref(snap);
        ctl->reloads_failed++;
        ctl->last_reload_failed = true;
        log_reload_errors(err);
        px_notify("READY=1");
        return -1;
    }
    if (px_config_lint(cfg, err, errlen) > 0)
        px_log_lines(PX_LOG_WARN, "config_warning", "warning", err);
    err[0] = '\0';
    px_config_unref(cfg);
    ctl->geo_error[0] = '\0';
    ctl->reloads_ok++;
    ctl->last_reload_failed = false;
    ctl->config_loaded_unix_s = (uint64_t)time(NULL);
    px_log(PX_LOG_INFO, NULL,
           "event=reload result=ok generation=%llu config=%s regions=%zu zones=%zu backends=%zu",
           (unsigned long long)snap->generation, ctl_conf(ctl)->path, ctl_conf(ctl)->nregions,
           ctl_conf(ctl)->nzones, ctl->nbackends);
    px_snapshot_unref(snap);
    px_notify("READY=1");
    return 0;
}

void px_control_reload_async(struct px_control *ctl)
{
    atomic_store(&ctl->reload_requested, true);
    uv_async_send(&ctl->wake);
}

/*
 * A changed database file is opened off to the side; only a file that opens
 * and validates replaces the one in service, for new lookups. The old handle
 * closes when the last snapshot using it goes.
 */
static void on_geo_timer(uv_timer_t *t)
{
    struct px_control *ctl = t->data;
    struct px_snapshot *next;
    char err[1024];

    if (!px_snapshot_geo_changed(ctl->snap))
        return;
    if (px_snapshot_new(ctl->snap->cfg, ctl->snap, &next, err, sizeof(err)) != 0) {
        if (strcmp(err, ctl->geo_error) != 0)
            px_log(PX_LOG_ERR, NULL, "event=geo_reload result=failed kept=old error=\"%s\"", err);
        snprintf(ctl->geo_error, sizeof(ctl->geo_error), "%s", err);
        return;
    }
    ctl->geo_error[0] = '\0';
    px_log(PX_LOG_INFO, NULL, "event=geo_reload result=ok generation=%llu",
           (unsigned long long)next->generation);
    px_snapshot_unref(ctl->snap);
    ctl->snap = next;
    /* Same config, same backends: a new fleet only carries the new databases. */
    if (px__control_build_fleet(ctl, next) != 0) {
        px_log(PX_LOG_ERR, NULL, "event=geo_reload result=out_of_memory action=abort");
        abort();
    }
    if (ctl->routes != NULL)
        publish(ctl, now_ms(ctl));
}

static void on_control_handle_closed(uv_handle_t *h)
{
    struct px_control *ctl = h->data;
    ctl->pending_closes--;
}

static void close_handle(struct px_control *ctl, uv_handle_t *h)
{
    h->data = ctl;
    ctl->pending_closes++;
    uv_close(h, on_control_handle_closed);
}

static void on_dns_closed(void *data)
{
    struct px_control *ctl = data;
    ctl->pending_closes--;
}

void px_control_release_admin(struct px_control *ctl)
{
    atomic_store(&ctl->release_admin, true);
    uv_async_send(&ctl->wake);
}

static void on_control_wake(uv_async_t *a)
{
    struct px_control *ctl = a->data;
    if (uv_is_closing((uv_handle_t *)&ctl->tick))
        return;
    if (atomic_exchange(&ctl->release_admin, false) && ctl->admin) {
        ctl->admin->release(ctl->admin);
        ctl->admin = NULL;
    }
    if (!atomic_load(&ctl->stop_requested)) {
        if (atomic_exchange(&ctl->reload_requested, false)) {
            char *err = malloc(PX_ERRBUF_BYTES);
            if (err == NULL)
                px_log(PX_LOG_ERR, NULL, "event=reload result=out_of_memory kept=old");
            else
                px_control_reload(ctl, err, PX_ERRBUF_BYTES);
            free(err);
        }
        return;
    }
    px__control_close_backends(ctl);
    px__control_close_names(ctl);
    if (ctl->dns) {
        ctl->pending_closes++;
        px_dns_close(ctl->dns, on_dns_closed, ctl);
        ctl->dns = NULL;
    }
    close_handle(ctl, (uv_handle_t *)&ctl->tick);
    close_handle(ctl, (uv_handle_t *)&ctl->geo_timer);
    close_handle(ctl, (uv_handle_t *)&ctl->wake);
    if (ctl->admin)
        ctl->admin->close(ctl->admin);
    ctl->admin = NULL;
}

static void control_main(void *arg)
{
    struct px_control *ctl = arg;
    uv_update_time(&ctl->loop);
    ctl->started_ms = now_ms(ctl);
    px__control_start_probes(ctl);
    uv_timer_start(&ctl->tick, on_control_tick, TICK_MS, TICK_MS);
    restart_geo_timer(ctl);
    uv_run(&ctl->loop, UV_RUN_DEFAULT);
    if (!ctl->ready)
        set_ready(ctl); /* stopped before the first table: release the waiter */
}

int px_control_init(struct px_control *ctl, struct px_snapshot *snap, struct px_port **ports,
                    unsigned nworkers, const struct px_process *proc)
{
    const struct conf *cf = snap->cfg->conf;
    int rc;

    memset(ctl, 0, sizeof(*ctl));
    ctl->snap = px_snapshot_ref(snap);
    atomic_store(&ctl->lame_duck_ms, cf->timeouts.lame_duck_ms);
    ctl->ports = ports;
    ctl->proc = proc;
    ctl->nworkers = nworkers;
    ctl->next_id = 1;
    px_rng_seed(&ctl->rng, uv_hrtime());
    ctl->regions = calloc(cf->nregions, sizeof(*ctl->regions));
    ctl->states = calloc(cf->nroutes, sizeof(*ctl->states));
    if (!ctl->regions || !ctl->states ||
        px__control_slots_init(&ctl->zone_slots, px_stats_zone_slots(cf->nzones)) != 0 ||
        px__control_slots_init(&ctl->region_slots, px_stats_slots(cf->nregions)) != 0 ||
        (ctl->sizes = calloc(ctl->zone_slots.cap * PX_CLASS_SLOTS, sizeof(*ctl->sizes))) == NULL)
        return PX_ENOMEM;
    /* Zone slot PX_STATS_ZONE_NONE: requests refused before classification. */
    snprintf(ctl->zone_slots.names[PX_STATS_ZONE_NONE], sizeof(ctl->zone_slots.names[0]), "%s",
             PX_STATS_ZONE_NONE_NAME);
    ctl->zone_slots.n = PX_STATS_ZONE_NONE + 1;
    if ((rc = uv_loop_init(&ctl->loop)) != 0)
        return rc;
    uv_mutex_init(&ctl->ready_lock);
    ctl->config_loaded_unix_s = (uint64_t)time(NULL);
    uv_mutex_init(&ctl->workers_lock);
    uv_cond_init(&ctl->ready_cond);
    /* On a fresh loop these only fail on a broken invariant; say so rather than run without. */
    if ((rc = uv_async_init(&ctl->loop, &ctl->wake, on_control_wake)) != 0 ||
        (rc = uv_timer_init(&ctl->loop, &ctl->tick)) != 0 ||
        (rc = uv_timer_init(&ctl->loop, &ctl->geo_timer)) != 0)
        return rc;
    ctl->wake.data = ctl->tick.data = ctl->geo_timer.data = ctl;
    for (size_t i = 0; i < cf->nroutes; i++)
        if (px_route_state_init(&ctl->states[i], cf->nregions) != 0)
            return PX_ENOMEM;
    char err[512];
    if (px__control_dns_check(ctl, cf, err, sizeof(err)) != 0) {
        px_log(PX_LOG_ERR, NULL, "event=dns_setup_failed error=\"%s\"", err);
        return UV_EINVAL;
    }
    if (px__control_sync_names(ctl, cf) != 0 || px__control_build_fleet(ctl, snap) != 0)
        return PX_ENOMEM;
    return 0;
}

int px_control_start(struct px_control *ctl)
{
    int rc = uv_thread_create(&ctl->thread, control_main, ctl);
    if (rc != 0)
        return rc;
    uv_mutex_lock(&ctl->ready_lock);
    while (!ctl->ready)
        uv_cond_wait(&ctl->ready_cond, &ctl->ready_lock);
    uv_mutex_unlock(&ctl->ready_lock);
    return 0;
}

int px_control_scrape(struct px_control *ctl, struct px_stats *s)
{
    if (px_stats_init(s, ctl->zone_slots.cap, ctl->region_slots.cap) != 0)
        return PX_ENOMEM;
    if (px__control_workers_lock(ctl)) {
        for (unsigned w = 0; w < ctl->nworkers; w++)
            px_stats_merge(s, &ctl->ports[w]->stats);
        px__control_workers_unlock(ctl);
    }
    return 0;
}

int px_control_zone_slot(const struct px_control *ctl, const char *name)
{
    return px__control_slot_find(&ctl->zone_slots, name);
}

int px_control_region_slot(const struct px_control *ctl, const char *name)
{
    return px__control_slot_find(&ctl->region_slots, name);
}

bool px__control_workers_lock(struct px_control *ctl)
{
    uv_mutex_lock(&ctl->workers_lock);
    if (!ctl->workers_detached)
        return true;
    uv_mutex_unlock(&ctl->workers_lock);
    return false;
}

void px__control_workers_unlock(struct px_control *ctl)
{
    uv_mutex_unlock(&ctl->workers_lock);
}

void px_control_detach_workers(struct px_control *ctl)
{
    uv_mutex_lock(&ctl->workers_lock);
    ctl->workers_detached = true;
    uv_mutex_unlock(&ctl->workers_lock);
}

void px_control_stop(struct px_control *ctl)
{
    atomic_store(&ctl->stop_requested, true);
    uv_async_send(&ctl->wake);
}

void px_control_join(struct px_control *ctl)
{
    uv_thread_join(&ctl->thread);
    px__control_dispose(ctl);
}

void px__control_dispose(struct px_control *ctl)
{
    if (uv_loop_close(&ctl->loop) != 0)
        px_log(PX_LOG_ERR, NULL, "event=control_leak");
    for (size_t i = 0; ctl->states && i < ctl_conf(ctl)->nroutes; i++)
        px_route_state_dispose(&ctl->states[i]);
    px_routes_unref(ctl->routes);
    px_fleet_unref(ctl->fleet);
    uv_mutex_destroy(&ctl->ready_lock);
    uv_mutex_destroy(&ctl->workers_lock);
    uv_cond_destroy(&ctl->ready_cond);
    free(ctl->states);
    free(ctl->regions);
    free(ctl->backends);
    free(ctl->by_id);
    free(ctl->scratch);
    free(ctl->zone_slots.names);
    free(ctl->sizes);
    free(ctl->region_slots.names);
    px_local_addrs_dispose(&ctl->local);
    px_snapshot_unref(ctl->snap);
}
