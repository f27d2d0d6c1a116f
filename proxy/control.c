/*
 * control: probes, passive signals, routing decisions and publication, all
 * on one thread. Every TICK_MS it drains the workers' signal rings, updates
 * region health, lets the router decide each zone and publishes a new table
 * when anything a worker reads changed (and at least every second, so the
 * balancer's load figures stay fresh).
 */
#include "proxy/control.h"
#include "proxy/admin.h"
#include "proxy/log.h"
#include "proxy/px.h"
#include "proxy/signals.h"
#include "proxy/worker.h"

#include <string.h>

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

static void schedule_probe(struct px_cbackend *cb, uint64_t delay_ms);

static void on_probe_done(void *data, int err, double rtt_ms, int status)
{
    struct px_cbackend *cb = data;
    struct px_control *ctl = cb->ctl;
    uint64_t now = now_ms(ctl);
    enum px_health_change ch;

    cb->probe = NULL;
    cb->last_err = err;
    cb->last_status = status;
    cb->last_probe_ms = now;
    ch = px_health_probe(&cb->health, err == 0, rtt_ms, now);
    if (ch != PX_HEALTH_SAME)
        ctl->dirty = true;
    if (ch == PX_HEALTH_WENT_UP)
        px_log(PX_LOG_INFO, NULL, "event=backend_up backend=%s region=%s rtt_ms=%.1f",
               cb->conf->addr.text, ctl_conf(ctl)->regions[cb->region].name, rtt_ms);
    else if (ch == PX_HEALTH_WENT_DOWN)
        px_log(PX_LOG_WARN, NULL, "event=backend_down backend=%s region=%s reason=\"%s\" status=%d",
               cb->conf->addr.text, ctl_conf(ctl)->regions[cb->region].name,
               err == PX_EPARSE && status ? "unexpected status" : px_strerror(err), status);
    if (!atomic_load(&ctl->stop_requested))
        schedule_probe(cb, px_health_next_probe_ms(&cb->health, &ctl->rng));
}

static void on_probe_timer(uv_timer_t *t)
{
    struct px_cbackend *cb = t->data;
    const struct conf_backend *b = cb->conf;
    int err;

    cb->probe = px_probe_start(&cb->ctl->loop, &b->probe, (const struct sockaddr *)&b->addr.sa,
                               b->addr.text, on_probe_done, cb, &err);
    if (cb->probe == NULL)
        on_probe_done(cb, err, 0, 0);
}

static void schedule_probe(struct px_cbackend *cb, uint64_t delay_ms)
{
    uv_timer_start(&cb->probe_timer, on_probe_timer, delay_ms, 0);
}

/* Applies one passive signal; ejects within the region's allowed share. */
static void apply_signal(struct px_control *ctl, const struct px_signal *s, uint64_t now)
{
    const struct conf *cf = ctl_conf(ctl);
    struct px_cbackend *cb;
    const struct conf_region *r;

    if (s->backend >= ctl->nbackends)
        return;
    cb = &ctl->backends[s->backend];
    r = &cf->regions[cb->region];
    if (!px_health_passive(&cb->health, (enum px_outcome)s->outcome, s->latency_ms, now))
        return;
    size_t first = ctl->region_first[cb->region];
    for (size_t i = 0; i < r->nbackends; i++)
        ctl->scratch[i] = &ctl->backends[first + i].health;
    if (!px_health_may_eject(ctl->scratch, r->nbackends, r->passive.max_ejected_pct, now))
        return;
    uint64_t ms = px_health_eject(&cb->health, now);
    ctl->dirty = true;
    px_log(PX_LOG_WARN, NULL, "event=backend_ejected backend=%s region=%s ms=%llu",
           cb->conf->addr.text, r->name, (unsigned long long)ms);
}

static void drain_signals(struct px_control *ctl, uint64_t now)
{
    struct px_signal s;
    for (unsigned w = 0; w < ctl->nworkers; w++)
        while (px_signals_take(&ctl->workers[w].signals, &s))
            apply_signal(ctl, &s, now);
    for (size_t i = 0; i < ctl->nbackends; i++) {
        if (!px_health_eject_expire(&ctl->backends[i].health, now))
            continue;
        ctl->dirty = true;
        px_log(PX_LOG_INFO, NULL, "event=backend_unejected backend=%s",
               ctl->backends[i].conf->addr.text);
    }
}

/* Updates every region's health and RTT; returns true if any verdict flipped. */
static bool update_regions(struct px_control *ctl, uint64_t now)
{
    const struct conf *cf = ctl_conf(ctl);
    bool flipped = false;

    for (size_t r = 0; r < cf->nregions; r++) {
        const struct conf_region *cr = &cf->regions[r];
        for (size_t i = 0; i < cr->nbackends; i++)
            ctl->scratch[i] = &ctl->backends[ctl->region_first[r] + i].health;
        if (px_region_update(&ctl->regions[r], ctl->scratch, cr->nbackends, cr->min_healthy,
                             (double)cf->routing.failure_penalty_ms, now)) {
            flipped = true;
            px_log(ctl->regions[r].healthy ? PX_LOG_INFO : PX_LOG_WARN, NULL,
                   "event=region_%s region=%s usable=%u", ctl->regions[r].healthy ? "up" : "down",
                   cr->name, ctl->regions[r].usable);
        }
    }
    return flipped;
}

/* Asks the router about every zone; returns true if any choice changed. */
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
            .healthy_since_ms = rs->healthy_since_ms,
        };
    }
    for (size_t z = 0; z < cf->nzones; z++) {
        struct px_route_state *st = &ctl->zones[z];
        int before2 = st->secondary;
        if (px_router_decide(cf, z, views, now, st)) {
            changed = true;
            px_log(PX_LOG_INFO, NULL, "event=route zone=%s region=%s reason=\"%s\"",
                   cf->zones[z].name, st->current >= 0 ? cf->regions[st->current].name : "-",
                   st->why);
        }
        /* A slow-start share moves every tick. */
        changed |= before2 != st->secondary || st->secondary >= 0;
    }
    return changed;
}

/* Regions a zone may try, best first: healthy allowed by score, then fallback. */
static unsigned failover_order(const struct px_route_state *st, size_t nregions, uint16_t *out)
{
    unsigned n = 0;
    for (int pass = 0; pass < 2; pass++) {
        unsigned start = n;
        for (size_t r = 0; r < nregions; r++) {
            const struct px_route_score *sc = &st->scores[r];
            if (sc->healthy && (pass == 0 ? sc->allowed : sc->fallback))
                out[n++] = (uint16_t)r;
        }
        for (unsigned i = start + 1; i < n; i++) /* insertion sort by score */
            for (unsigned j = i;
                 j > start && st->scores[out[j]].total_ms < st->scores[out[j - 1]].total_ms; j--) {
                uint16_t t = out[j];
                out[j] = out[j - 1];
                out[j - 1] = t;
            }
    }
    return n;
}

static void publish(struct px_control *ctl, uint64_t now)
{
    const struct conf *cf = ctl_conf(ctl);
    struct px_routes *rt = px_routes_new(cf->nzones, cf->nregions, ctl->nbackends);
    if (rt == NULL) {
        px_log(PX_LOG_ERR, NULL, "event=publish_failed reason=out_of_memory");
        return;
    }
    rt->generation = ctl->routes ? ctl->routes->generation + 1 : 1;
    for (size_t z = 0; z < cf->nzones; z++) {
        const struct px_route_state *st = &ctl->zones[z];
        struct px_routes_zone *rz = &rt->zones[z];
        rz->current = st->current;
        rz->secondary = st->secondary;
        rz->share = st->share;
        rz->reason = st->reason;
        snprintf(rz->why, sizeof(rz->why), "%s", st->why);
        rz->norder = failover_order(st, cf->nregions, rz->order);
    }
    for (size_t r = 0; r < cf->nregions; r++)
        rt->region_healthy[r] = ctl->regions[r].healthy && !ctl->regions[r].drained;
    for (size_t i = 0; i < ctl->nbackends; i++) {
        const struct px_cbackend *cb = &ctl->backends[i];
        struct px_routes_backend *rb = &rt->backends[i];
        rb->usable = cb->conf->kind == CONF_BACKEND_ADDR && px_health_usable(&cb->health, now);
        rb->load_ms = px_health_load_ms(&cb->health);
        rb->weight = cb->conf->weight;
        rb->up_since_ms = cb->health.changed_ms;
    }
    for (unsigned w = 0; w < ctl->nworkers; w++)
        px_worker_publish_routes(&ctl->workers[w], rt);
    px_routes_unref(ctl->routes);
    ctl->routes = rt;
}

static bool all_probed(const struct px_control *ctl)
{
    for (size_t i = 0; i < ctl->nbackends; i++)
        if (ctl->backends[i].conf->kind == CONF_BACKEND_ADDR && ctl->backends[i].last_probe_ms == 0)
            return false;
    return true;
}

static void set_ready(struct px_control *ctl)
{
    uv_mutex_lock(&ctl->ready_lock);
    ctl->ready = true;
    uv_cond_signal(&ctl->ready_cond);
    uv_mutex_unlock(&ctl->ready_lock);
}

static uint64_t max_probe_timeout(const struct px_control *ctl)
{
    uint64_t m = 0;
    for (size_t i = 0; i < ctl->nbackends; i++)
        if (ctl->backends[i].conf->probe.timeout_ms > m)
            m = ctl->backends[i].conf->probe.timeout_ms;
    return m;
}

static void on_control_tick(uv_timer_t *t)
{
    struct px_control *ctl = t->data;
    uint64_t now = now_ms(ctl);
    bool first = ctl->routes == NULL;

    if (first && !all_probed(ctl) && now < ctl->started_ms + max_probe_timeout(ctl) + TICK_MS)
        return;
    drain_signals(ctl, now);
    bool changed = update_regions(ctl, now);
    changed |= decide_zones(ctl, now);
    if (first || changed || ctl->dirty || now - ctl->published_ms >= REPUBLISH_MS) {
        publish(ctl, now);
        ctl->published_ms = now;
        ctl->dirty = false;
    }
    if (first)
        set_ready(ctl);
}

/*
 * Reload keeps every index the workers and in-flight exchanges hold valid:
 * an exchange started under the old config may retry after the swap, and it
 * picks through the worker's tables with the zone, region and backend
 * indexes it computed before. So a reload may change anything about the
 * listeners, regions, backends and zones except which ones there are and in
 * what order (routes, biases, fallbacks, probes, passive settings, weights,
 * timeouts, limits, routing, geo databases and headers, the admin token);
 * changing that layout is refused with the position of the first
 * difference, and takes a restart.
 */
static bool same_backend(const struct conf_backend *a, const struct conf_backend *b)
{
    if (a->kind != b->kind || a->port != b->port)
        return false;
    if (a->kind == CONF_BACKEND_ADDR)
        return strcmp(a->addr.text, b->addr.text) == 0;
    return strcmp(a->host, b->host) == 0;
}

static int layout_error(char *err, size_t errlen, const struct conf *nc, struct conf_pos pos,
                        const char *what)
{
    snprintf(err, errlen,
             "%s:%u:%u: reload cannot change %s (only a restart can); the old config stays",
             nc->path, pos.line, pos.col, what);
    return -1;
}

static int check_layout(const struct conf *oc, const struct conf *nc, char *err, size_t errlen)
{
    struct conf_pos top = {1, 1};

    if (oc->nlisten != nc->nlisten)
        return layout_error(err, errlen, nc, nc->listeners[0].pos, "the listen addresses");
    for (size_t i = 0; i < nc->nlisten; i++)
        if (strcmp(oc->listen[i].text, nc->listen[i].text) != 0 ||
            oc->listeners[i].proxy_protocol != nc->listeners[i].proxy_protocol)
            return layout_error(err, errlen, nc, nc->listeners[i].pos, "the listen addresses");
    if (oc->workers != nc->workers)
        return layout_error(err, errlen, nc, top, "workers");
    if ((oc->access_log == NULL) != (nc->access_log == NULL) ||
        (oc->access_log && strcmp(oc->access_log, nc->access_log) != 0))
        return layout_error(err, errlen, nc, top, "access_log");
    if (oc->admin.enabled != nc->admin.enabled ||
        strcmp(oc->admin.addr.text, nc->admin.addr.text) != 0)
        return layout_error(err, errlen, nc, top, "admin.listen");
    if (oc->nregions != nc->nregions)
        return layout_error(err, errlen, nc, nc->regions[0].pos, "the set of regions");
    for (size_t r = 0; r < nc->nregions; r++) {
        const struct conf_region *a = &oc->regions[r], *b = &nc->regions[r];
        if (strcmp(a->name, b->name) != 0)
            return layout_error(err, errlen, nc, b->pos, "the set or order of regions");
        if (a->nbackends != b->nbackends)
            return layout_error(err, errlen, nc, b->pos, "the backends of a region");
        for (size_t i = 0; i < b->nbackends; i++)
            if (!same_backend(&a->backends[i], &b->backends[i]))
                return layout_error(err, errlen, nc, b->backends[i].pos,
                                    "the backends of a region");
    }
    if (oc->nzones != nc->nzones)
        return layout_error(err, errlen, nc, nc->zones[0].pos, "the set of zones");
    for (size_t z = 0; z < nc->nzones; z++)
        if (strcmp(oc->zones[z].name, nc->zones[z].name) != 0)
            return layout_error(err, errlen, nc, nc->zones[z].pos, "the set or order of zones");
    return 0;
}

static void on_geo_timer(uv_timer_t *t);

/* Points every borrowed config pointer of the control state at SNAP's config. */
static void rebind(struct px_control *ctl, struct px_snapshot *snap)
{
    const struct conf *cf = snap->cfg->conf;

    px_snapshot_unref(ctl->snap);
    ctl->snap = px_snapshot_ref(snap);
    for (size_t i = 0; i < ctl->nbackends; i++) {
        struct px_cbackend *cb = &ctl->backends[i];
        const struct conf_region *cr = &cf->regions[cb->region];
        cb->conf = &cr->backends[i - ctl->region_first[cb->region]];
        px_health_reconf(&cb->health, &cb->conf->probe, &cr->passive, &cf->routing);
        /* A probe in flight reads the old probe settings: start it again. */
        if (cb->probe != NULL) {
            px_probe_cancel(cb->probe);
            cb->probe = NULL;
            schedule_probe(cb, 0);
        }
    }
}

/* Hands SNAP to every worker and, at once, a routing table decided on it. */
static void publish_all(struct px_control *ctl, struct px_snapshot *snap)
{
    uint64_t now = now_ms(ctl);
    for (unsigned w = 0; w < ctl->nworkers; w++)
        px_worker_publish(&ctl->workers[w], snap);
    if (ctl->routes == NULL)
        return; /* before the first table: the first tick decides */
    update_regions(ctl, now);
    decide_zones(ctl, now);
    publish(ctl, now);
    ctl->published_ms = now;
    ctl->dirty = false;
}

int px_control_reload(struct px_control *ctl, char *err, size_t errlen)
{
    const struct conf *oc = ctl_conf(ctl);
    struct px_config *cfg = NULL;
    struct px_snapshot *snap = NULL;

    err[0] = '\0';
    if (px_config_load(oc->path, &cfg, err, errlen) != 0 ||
        check_layout(oc, cfg->conf, err, errlen) != 0 ||
        px_snapshot_new(cfg, ctl->snap, &snap, err, errlen) != 0) {
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        px_config_unref(cfg);
        ctl->reloads_failed++;
        px_log(PX_LOG_ERR, NULL, "event=reload result=failed kept=old error=\"%s\"", err);
        return -1;
    }
    px_config_unref(cfg);
    rebind(ctl, snap);
    publish_all(ctl, snap);
    uv_timer_stop(&ctl->geo_timer);
    if (ctl_conf(ctl)->geo.ndbs > 0 && ctl_conf(ctl)->geo.reload_interval_ms > 0)
        uv_timer_start(&ctl->geo_timer, on_geo_timer, ctl_conf(ctl)->geo.reload_interval_ms,
                       ctl_conf(ctl)->geo.reload_interval_ms);
    ctl->geo_error[0] = '\0';
    ctl->reloads_ok++;
    px_log(PX_LOG_INFO, NULL, "event=reload result=ok generation=%llu config=%s",
           (unsigned long long)snap->generation, ctl_conf(ctl)->path);
    px_snapshot_unref(snap);
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
    for (unsigned w = 0; w < ctl->nworkers; w++)
        px_worker_publish(&ctl->workers[w], next);
    px_snapshot_unref(ctl->snap);
    ctl->snap = next;
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

static void on_control_wake(uv_async_t *a)
{
    struct px_control *ctl = a->data;
    if (uv_is_closing((uv_handle_t *)&ctl->tick))
        return;
    if (!atomic_load(&ctl->stop_requested)) {
        char err[4096];
        if (atomic_exchange(&ctl->reload_requested, false))
            px_control_reload(ctl, err, sizeof(err));
        return;
    }
    for (size_t i = 0; i < ctl->nbackends; i++) {
        if (ctl->backends[i].probe)
            px_probe_cancel(ctl->backends[i].probe);
        ctl->backends[i].probe = NULL;
        close_handle(ctl, (uv_handle_t *)&ctl->backends[i].probe_timer);
    }
    close_handle(ctl, (uv_handle_t *)&ctl->tick);
    close_handle(ctl, (uv_handle_t *)&ctl->geo_timer);
    close_handle(ctl, (uv_handle_t *)&ctl->wake);
    px_admin_close(ctl->admin);
    ctl->admin = NULL;
}

static void control_main(void *arg)
{
    struct px_control *ctl = arg;
    uv_update_time(&ctl->loop);
    ctl->started_ms = now_ms(ctl);
    for (size_t i = 0; i < ctl->nbackends; i++)
        if (ctl->backends[i].conf->kind == CONF_BACKEND_ADDR)
            schedule_probe(&ctl->backends[i], 0);
    uv_timer_start(&ctl->tick, on_control_tick, TICK_MS, TICK_MS);
    if (ctl_conf(ctl)->geo.ndbs > 0 && ctl_conf(ctl)->geo.reload_interval_ms > 0)
        uv_timer_start(&ctl->geo_timer, on_geo_timer, ctl_conf(ctl)->geo.reload_interval_ms,
                       ctl_conf(ctl)->geo.reload_interval_ms);
    ctl->admin = px_admin_start(ctl);
    uv_run(&ctl->loop, UV_RUN_DEFAULT);
    if (!ctl->ready)
        set_ready(ctl); /* stopped before the first table: release the waiter */
}

int px_control_init(struct px_control *ctl, struct px_snapshot *snap, struct px_worker *workers,
                    unsigned nworkers)
{
    const struct conf *cf = snap->cfg->conf;
    size_t n = 0;
    int rc;

    memset(ctl, 0, sizeof(*ctl));
    ctl->snap = px_snapshot_ref(snap);
    ctl->workers = workers;
    ctl->nworkers = nworkers;
    px_rng_seed(&ctl->rng, uv_hrtime());
    for (size_t r = 0; r < cf->nregions; r++)
        n += cf->regions[r].nbackends;
    ctl->nbackends = n;
    ctl->backends = calloc(n ? n : 1, sizeof(*ctl->backends));
    ctl->scratch = calloc(n ? n : 1, sizeof(*ctl->scratch));
    ctl->region_first = calloc(cf->nregions, sizeof(*ctl->region_first));
    ctl->regions = calloc(cf->nregions, sizeof(*ctl->regions));
    ctl->zones = calloc(cf->nzones, sizeof(*ctl->zones));
    if (!ctl->backends || !ctl->scratch || !ctl->region_first || !ctl->regions || !ctl->zones)
        return UV_ENOMEM;
    if ((rc = uv_loop_init(&ctl->loop)) != 0)
        return rc;
    uv_mutex_init(&ctl->ready_lock);
    uv_cond_init(&ctl->ready_cond);
    uv_async_init(&ctl->loop, &ctl->wake, on_control_wake);
    uv_timer_init(&ctl->loop, &ctl->tick);
    uv_timer_init(&ctl->loop, &ctl->geo_timer);
    ctl->wake.data = ctl->tick.data = ctl->geo_timer.data = ctl;
    for (size_t z = 0; z < cf->nzones; z++)
        if (px_route_state_init(&ctl->zones[z], cf->nregions) != 0)
            return UV_ENOMEM;
    n = 0;
    for (size_t r = 0; r < cf->nregions; r++) {
        const struct conf_region *cr = &cf->regions[r];
        ctl->region_first[r] = n;
        for (size_t i = 0; i < cr->nbackends; i++, n++) {
            struct px_cbackend *cb = &ctl->backends[n];
            cb->ctl = ctl;
            cb->conf = &cr->backends[i];
            cb->region = r;
            px_health_init(&cb->health, &cb->conf->probe, &cr->passive, &cf->routing,
                           cb->conf->kind == CONF_BACKEND_ADDR, 0);
            uv_timer_init(&ctl->loop, &cb->probe_timer);
            cb->probe_timer.data = cb;
        }
    }
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
    for (size_t z = 0; ctl->zones && z < ctl_conf(ctl)->nzones; z++)
        px_route_state_dispose(&ctl->zones[z]);
    px_routes_unref(ctl->routes);
    uv_mutex_destroy(&ctl->ready_lock);
    uv_cond_destroy(&ctl->ready_cond);
    free(ctl->zones);
    free(ctl->regions);
    free(ctl->region_first);
    free(ctl->scratch);
    free(ctl->backends);
    px_snapshot_unref(ctl->snap);
}
