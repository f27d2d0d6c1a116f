/*
 * discovery: which backends are in service, on the control thread. It turns
 * the config's entries (addresses, names, SRV names) and the DNS answers
 * into the control thread's backend records and a fleet for the workers,
 * matching backends by identity (region and address) so that one that
 * stays keeps its health, probes and pools across reloads and DNS changes.
 * It owns the records' probe timers and the DNS watches.
 */
#include "proxy/control/control.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ probes */

static void schedule_probe(struct px_cbackend *cb, uint64_t delay_ms)
{
    uv_timer_start(&cb->probe_timer, px__control_probe_timer, delay_ms, 0);
}

static void on_probe_done(void *data, int err, double rtt_ms, int status)
{
    struct px_cbackend *cb = data;
    struct px_control *ctl = cb->ctl;
    uint64_t now = uv_now(&ctl->loop);
    enum px_health_change ch;

    cb->probe = NULL;
    cb->last_err = err;
    cb->probe_failures += err != 0;
    cb->last_status = status;
    cb->last_probe_ms = now;
    ch = px_health_probe(&cb->health,
                         err == 0             ? PX_HEALTH_PASS
                         : err == PX_ETIMEOUT ? PX_HEALTH_SILENT
                                              : PX_HEALTH_FAIL,
                         rtt_ms, now);
    if (ch != PX_HEALTH_SAME)
        ctl->dirty = true;
    if (ch == PX_HEALTH_WENT_UP)
        px_log(PX_LOG_INFO, NULL, "event=backend_up backend=%s region=%s rtt_ms=%.1f",
               cb->desc->addr.text, cb->desc->region, rtt_ms);
    else if (ch == PX_HEALTH_WENT_DOWN)
        px_log(PX_LOG_WARN, NULL, "event=backend_down backend=%s region=%s reason=\"%s\" status=%d",
               cb->desc->addr.text, cb->desc->region,
               err == PX_EPARSE && status ? "unexpected status" : px_strerror(err), status);
    if (!atomic_load(&ctl->stop_requested))
        schedule_probe(cb, px_health_next_probe_ms(&cb->health, &ctl->rng));
}

/* Where a probe of CB goes and as whom: Host, TLS context and name; IP is scratch (64). */
struct probe_target {
    const char *host;          /* a name entry's probes carry the name, as its clients do */
    struct px_tls_client *tls; /* borrowed; NULL for plain */
    const char *tls_host;      /* the name TLS verifies (and sends as SNI) without an sni */
    char ip[64];
};

/*
 * The name CB's TLS is verified against when its entry's tls sets no sni,
 * as requests do (fleet_of): a name entry's name, an SRV backend's target
 * name, else the address itself, verified as an IP address.
 */
static void probe_target(const struct px_cbackend *cb, struct probe_target *t)
{
    const struct conf_backend *b = cb->conf;
    const struct conf_region *rg = &cb->ctl->snap->cfg->conf->regions[cb->region];

    px_sockaddr_ip((const struct sockaddr *)&cb->desc->addr.sa, t->ip, sizeof(t->ip));
    t->host = b->kind == CONF_BACKEND_NAME ? b->host : cb->desc->addr.text;
    t->tls = px_config_upstream_tls(cb->ctl->snap->cfg, cb->region, (size_t)(b - rg->backends));
    if (b->kind == CONF_BACKEND_NAME)
        t->tls_host = b->host;
    else if (b->kind == CONF_BACKEND_SRV && cb->target[0] != '\0')
        t->tls_host = cb->target;
    else
        t->tls_host = t->ip;
}

void px__control_probe_timer(uv_timer_t *t)
{
    struct px_cbackend *cb = t->data;
    struct probe_target pt;
    int err;

    probe_target(cb, &pt);
    cb->probe = px_probe_start(&cb->ctl->loop, &cb->conf->probe,
                               (const struct sockaddr *)&cb->desc->addr.sa, pt.host, pt.tls,
                               pt.tls_host, on_probe_done, cb, &err);
    if (cb->probe == NULL)
        on_probe_done(cb, err, 0, 0);
}

/* ------------------------------------------------------------ bulk probes */

static void on_bulk_timer(uv_timer_t *t);

/* Arms CB's next bulk probe when its probe has a bulk section, else disarms it. */
static void schedule_bulk(struct px_cbackend *cb)
{
    const struct conf_bulk_probe *bulk = &cb->conf->probe.bulk;

    if (bulk->path == NULL || atomic_load(&cb->ctl->stop_requested))
        uv_timer_stop(&cb->bulk_timer);
    else
        uv_timer_start(&cb->bulk_timer, on_bulk_timer, bulk->interval_ms, 0);
}

/*
 * A bulk probe ended: its body feeds the goodput estimate exactly as a real
 * response's does (px_health_transfer ignores bodies too small to measure).
 * It says nothing about health: a failure only waits for the next one.
 */
static void on_bulk_done(void *data, int err, uint64_t bytes, double ms)
{
    struct px_cbackend *cb = data;

    cb->bulk = NULL;
    if (err == 0) {
        cb->bulk_probes++;
        px_health_transfer(&cb->health, bytes, ms, uv_now(&cb->ctl->loop));
    } else {
        cb->bulk_failures++;
    }
    px_log(PX_LOG_DEBUG, NULL, "event=bulk_probe backend=%s region=%s bytes=%llu ms=%.1f err=%s",
           cb->desc->addr.text, cb->desc->region, (unsigned long long)bytes, ms,
           err ? px_strerror(err) : "-");
    schedule_bulk(cb);
}

static void on_bulk_timer(uv_timer_t *t)
{
    struct px_cbackend *cb = t->data;
    struct probe_target pt;
    int err;

    if (cb->bulk != NULL || cb->conf->probe.bulk.path == NULL)
        return; /* one in flight at most; its end arms the next */
    probe_target(cb, &pt);
    cb->bulk = px_probe_start_bulk(&cb->ctl->loop, &cb->conf->probe,
                                   (const struct sockaddr *)&cb->desc->addr.sa, pt.host, pt.tls,
                                   pt.tls_host, on_bulk_done, cb, &err);
    if (cb->bulk == NULL)
        on_bulk_done(cb, err, 0, 0);
}

/* Stops CB's bulk probe in flight and its timer. */
static void stop_bulk(struct px_cbackend *cb)
{
    if (cb->bulk)
        px_probe_cancel(cb->bulk);
    cb->bulk = NULL;
    uv_timer_stop(&cb->bulk_timer);
}

void px__control_stop_probes(struct px_control *ctl)
{
    for (size_t i = 0; i < ctl->nbackends; i++) {
        struct px_cbackend *cb = ctl->backends[i];
        if (cb->probe)
            px_probe_cancel(cb->probe);
        cb->probe = NULL;
        uv_timer_stop(&cb->probe_timer);
        stop_bulk(cb);
    }
}

/* Restarts probes in flight, which read the settings of the config they began under. */
static void restart_probe(struct px_cbackend *cb)
{
    stop_bulk(cb);
    schedule_bulk(cb);
    if (cb->probe == NULL)
        return;
    px_probe_cancel(cb->probe);
    cb->probe = NULL;
    schedule_probe(cb, 0);
}

/* ------------------------------------------------------------ records */

static void on_cbackend_closed(uv_handle_t *h)
{
    struct px_cbackend *cb = h->data;
    struct px_control *ctl = cb->ctl;
    if (--cb->closing > 0)
        return;
    ctl->pending_closes--;
    px_bdesc_unref(cb->desc);
    free(cb);
}

/* Ends CB: its probes stop and it is freed through its timers' close callbacks. */
static void cbackend_close(struct px_cbackend *cb)
{
    if (cb->probe)
        px_probe_cancel(cb->probe);
    cb->probe = NULL;
    stop_bulk(cb);
    cb->ctl->pending_closes++;
    cb->closing = 2;
    uv_close((uv_handle_t *)&cb->probe_timer, on_cbackend_closed);
    uv_close((uv_handle_t *)&cb->bulk_timer, on_cbackend_closed);
}

void px__control_close_backends(struct px_control *ctl)
{
    for (size_t i = 0; i < ctl->nbackends; i++)
        cbackend_close(ctl->backends[i]);
    ctl->nbackends = 0;
}

/*
 * A new record for ADDR in region R of CF. Before the first routing table
 * it is up but unconfirmed (one failing probe takes it down), and that
 * table waits for every first probe; one that appears later (reload, DNS)
 * starts down and takes traffic once `rise` probes have passed, like a
 * backend coming back.
 */
static struct px_cbackend *cbackend_new(struct px_control *ctl, const struct conf *cf, size_t r,
                                        const struct conf_backend *entry,
                                        const struct conf_addr *addr, unsigned weight,
                                        const char *target)
{
    struct px_cbackend *cb = calloc(1, sizeof(*cb));
    if (cb == NULL)
        return NULL;
    cb->desc = px_bdesc_new(ctl->next_id, addr, cf->regions[r].name, ctl->nworkers);
    if (cb->desc == NULL) {
        free(cb);
        return NULL;
    }
    ctl->next_id++;
    cb->ctl = ctl;
    cb->conf = entry;
    cb->region = r;
    cb->weight = weight;
    snprintf(cb->target, sizeof(cb->target), "%s", target);
    px_health_init(&cb->health, &entry->probe, &cf->regions[r].passive, &cf->routing,
                   ctl->routes == NULL, uv_now(&ctl->loop));
    uv_timer_init(&ctl->loop, &cb->probe_timer);
    uv_timer_init(&ctl->loop, &cb->bulk_timer);
    cb->probe_timer.data = cb->bulk_timer.data = cb;
    if (uv_is_active((uv_handle_t *)&ctl->tick)) { /* else control_main starts every probe */
        schedule_probe(cb, 0);
        schedule_bulk(cb);
    }
    return cb;
}

void px__control_start_probes(struct px_control *ctl)
{
    for (size_t i = 0; i < ctl->nbackends; i++) {
        schedule_probe(ctl->backends[i], 0);
        schedule_bulk(ctl->backends[i]);
    }
}

static int cmp_by_id(const void *a, const void *b)
{
    uint32_t x = (*(struct px_cbackend *const *)a)->desc->id;
    uint32_t y = (*(struct px_cbackend *const *)b)->desc->id;
    return x < y ? -1 : x > y;
}

struct px_cbackend *px__control_find(const struct px_control *ctl, uint32_t id)
{
    size_t lo = 0, hi = ctl->nbackends;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t m = ctl->by_id[mid]->desc->id;
        if (m == id)
            return ctl->by_id[mid];
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------ DNS */

void px__control_addr_from_dns(const struct px_dns_addr *d, struct conf_addr *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(&out->sa, &d->sa, d->salen);
    out->salen = d->salen;
    px_sockaddr_text((const struct sockaddr *)&d->sa, out->text, sizeof(out->text));
}

/*
 * Checks every address of RES against the region's discovery rules. An
 * answer with one refused address is refused whole (logged and counted; the
 * last good set stays): a poisoned or misconfigured record should not be
 * half applied. Returns the number of addresses to keep, 0 when refused.
 */
static size_t admit_answer(struct px_cname *cn, const struct px_dns_result *res)
{
    struct px_control *ctl = cn->ctl;
    const struct conf *cf = ctl->snap->cfg->conf;
    const struct conf_region *r = conf_region_find(cf, cn->region);
    size_t keep = res->naddrs;

    if (r == NULL)
        return 0;
    px_local_addrs_read(&ctl->local); /* interfaces come and go; a failed read keeps the last */
    for (size_t i = 0; i < res->naddrs; i++) {
        const char *why =
            px_admit_address(cf, r, (const struct sockaddr *)&res->addrs[i].sa, &ctl->local);
        if (why == NULL)
            continue;
        struct conf_addr a;
        px__control_addr_from_dns(&res->addrs[i], &a);
        cn->refused++;
        cn->refusal = why;
        snprintf(cn->refused_addr, sizeof(cn->refused_addr), "%s", a.text);
        px_log(PX_LOG_WARN, NULL,
               "event=dns_answer_refused name=%s region=%s address=%s reason=\"%s\" kept=%zu",
               res->name, cn->region, a.text, why, cn->naddrs);
        return 0;
    }
    if (keep > r->discovery.max_addresses) {
        cn->capped++;
        px_log(PX_LOG_WARN, NULL, "event=dns_answer_capped name=%s region=%s addresses=%zu kept=%u",
               res->name, cn->region, res->naddrs, (unsigned)r->discovery.max_addresses);
        keep = r->discovery.max_addresses;
    }
    return keep;
}

/* A changed answer is applied on the next tick, so a burst of answers builds one fleet. */
static void on_dns_answer(void *data, const struct px_dns_result *res)
{
    struct px_cname *cn = data;
    size_t n = admit_answer(cn, res);
    if (n == 0 && res->naddrs > 0)
        return;
    struct px_dns_addr *copy = malloc((n ? n : 1) * sizeof(*copy));
    if (copy == NULL) {
        px_log(PX_LOG_ERR, NULL, "event=dns_answer_dropped name=%s reason=out_of_memory",
               res->name);
        return;
    }
    memcpy(copy, res->addrs, n * sizeof(*copy));
    free(cn->addrs);
    cn->addrs = copy;
    cn->naddrs = n;
    cn->answered = true;
    cn->ctl->fleet_dirty = true;
    px_log(PX_LOG_INFO, NULL, "event=dns_answer name=%s region=%s addresses=%zu ttl_ms=%llu",
           res->name, cn->region, n, (unsigned long long)res->ttl_ms);
}

static bool same_entry(const struct conf_backend *a, const struct conf_backend *b)
{
    return a->kind == b->kind && a->port == b->port && strcmp(a->host, b->host) == 0;
}

static void cname_free(struct px_control *ctl, struct px_cname *cn)
{
    if (cn->watch && ctl->dns)
        px_dns_unwatch(cn->watch);
    free(cn->addrs);
    free(cn);
}

static struct px_cname *cname_new(struct px_control *ctl, const struct conf *cf, size_t r,
                                  const struct conf_backend *e)
{
    struct px_cname *cn = calloc(1, sizeof(*cn));
    int rc;
    if (cn == NULL)
        return NULL;
    cn->ctl = ctl;
    cn->conf = e;
    snprintf(cn->region, sizeof(cn->region), "%s", cf->regions[r].name);
    if (e->kind == CONF_BACKEND_SRV)
        rc = px_dns_watch_srv(ctl->dns, e->host, on_dns_answer, cn, &cn->watch);
    else
        rc = px_dns_watch_name(ctl->dns, e->host, e->port, cf->dns.family, on_dns_answer, cn,
                               &cn->watch);
    if (rc != 0) {
        px_log(PX_LOG_ERR, NULL, "event=dns_watch_failed name=%s err=%s", e->host,
               px_dns_strerror(rc));
        cname_free(ctl, cn);
        return NULL;
    }
    return cn;
}

/* The watch of entry E of region R, kept from the old config when it is the same. */
static struct px_cname *take_cname(struct px_control *ctl, const struct conf *cf, size_t r,
                                   const struct conf_backend *e)
{
    for (size_t i = 0; i < ctl->nnames; i++) {
        struct px_cname *cn = ctl->names[i];
        if (!cn->keep && strcmp(cn->region, cf->regions[r].name) == 0 && same_entry(cn->conf, e)) {
            cn->keep = true;
            cn->conf = e;
            return cn;
        }
    }
    return cname_new(ctl, cf, r, e);
}

static size_t count_names(const struct conf *cf)
{
    size_t n = 0;
    for (size_t r = 0; r < cf->nregions; r++)
        for (size_t i = 0; i < cf->regions[r].nbackends; i++)
            n += cf->regions[r].backends[i].kind != CONF_BACKEND_ADDR;
    return n;
}

/* Creates the DNS service on first need, or applies CF's settings to it. */
static int dns_for(struct px_control *ctl, const struct conf *cf)
{
    int rc;
    if (ctl->dns == NULL) {
        if (count_names(cf) == 0)
            return 0;
        rc = px_dns_new(&ctl->loop, &cf->dns, &ctl->dns);
    } else {
        rc = px_dns_set_conf(ctl->dns, &cf->dns);
    }
    return rc;
}

int px__control_dns_check(struct px_control *ctl, const struct conf *cf, char *err, size_t errlen)
{
    int rc = dns_for(ctl, cf);
    if (rc != 0)
        snprintf(err, errlen, "%s:1:1: dns: %s; the old config stays", cf->path,
                 px_dns_strerror(rc));
    return rc ? -1 : 0;
}

int px__control_sync_names(struct px_control *ctl, const struct conf *cf)
{
    size_t n = count_names(cf), k = 0;
    struct px_cname **names = calloc(n ? n : 1, sizeof(*names));

    if (names == NULL)
        return PX_ENOMEM;
    if (n > 0 && ctl->dns == NULL && dns_for(ctl, cf) != 0) {
        free(names);
        return -1;
    }
    for (size_t i = 0; i < ctl->nnames; i++)
        ctl->names[i]->keep = false;
    for (size_t r = 0; r < cf->nregions; r++)
        for (size_t i = 0; i < cf->regions[r].nbackends; i++) {
            const struct conf_backend *e = &cf->regions[r].backends[i];
            if (e->kind != CONF_BACKEND_ADDR && (names[k] = take_cname(ctl, cf, r, e)) != NULL)
                names[k++]->keep = true;
        }
    for (size_t i = 0; i < ctl->nnames; i++)
        if (!ctl->names[i]->keep)
            cname_free(ctl, ctl->names[i]);
    free(ctl->names);
    ctl->names = names;
    ctl->nnames = k;
    return 0;
}

void px__control_close_names(struct px_control *ctl)
{
    for (size_t i = 0; i < ctl->nnames; i++)
        cname_free(ctl, ctl->names[i]);
    free(ctl->names);
    ctl->names = NULL;
    ctl->nnames = 0;
}

bool px__control_names_settled(const struct px_control *ctl)
{
    for (size_t i = 0; i < ctl->nnames; i++) {
        struct px_dns_watch_info info;
        if (ctl->names[i]->answered)
            continue;
        px_dns_watch_info(ctl->names[i]->watch, &info);
        if (info.last_err == 0)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ fleet */

/* The entry's answer: its own address, or the last good DNS answer. */
static const struct px_cname *entry_name(const struct px_control *ctl, const struct conf_backend *e)
{
    for (size_t i = 0; i < ctl->nnames; i++)
        if (ctl->names[i]->conf == e)
            return ctl->names[i];
    return NULL;
}

/* A backend an entry lists: its address, weight and, for SRV, target name. */
struct found {
    struct conf_addr addr;
    unsigned weight;
    const char *target; /* "" unless an SRV target name */
};

/* Marks CB as listed again, as F of entry E in region R. */
static void relist(struct px_cbackend *cb, const struct conf_backend *e, size_t r,
                   const struct found *f)
{
    cb->keep = true;
    cb->next_conf = e;
    cb->next_region = r;
    cb->next_weight = f->weight;
    snprintf(cb->next_target, sizeof(cb->next_target), "%s", f->target);
}

/* The record for F in region R: the existing one (kept) or a new one. */
static struct px_cbackend *record_for(struct px_control *ctl, const struct conf *cf, size_t r,
                                      const struct conf_backend *e, const struct found *f)
{
    const char *region = cf->regions[r].name;
    for (size_t i = 0; i < ctl->nbackends; i++) {
        struct px_cbackend *cb = ctl->backends[i];
        if (cb->keep || strcmp(cb->desc->region, region) != 0 ||
            strcmp(cb->desc->addr.text, f->addr.text) != 0)
            continue;
        relist(cb, e, r, f);
        return cb;
    }
    struct px_cbackend *cb = cbackend_new(ctl, cf, r, e, &f->addr, f->weight, f->target);
    if (cb)
        relist(cb, e, r, f);
    return cb;
}

/* Points a kept record at its entry in CF, keeping every measurement. */
static void rebind(struct px_cbackend *cb, const struct conf *cf)
{
    const struct conf_backend *old = cb->conf;
    bool renamed = strcmp(cb->target, cb->next_target) != 0;
    cb->conf = cb->next_conf;
    cb->region = cb->next_region;
    cb->weight = cb->next_weight;
    memcpy(cb->target, cb->next_target, sizeof(cb->target));
    px_health_reconf(&cb->health, &cb->conf->probe, &cf->regions[cb->region].passive, &cf->routing);
    if (old != cb->conf || renamed) /* a probe in flight verifies the old name */
        restart_probe(cb);
}

/* Appends F to OUT unless region R already has its address (two entries, one address). */
static int add_backend(struct px_control *ctl, const struct conf *cf, size_t r,
                       const struct conf_backend *e, const struct found *f,
                       struct px_cbackend **out, size_t first, size_t *n)
{
    for (size_t i = first; i < *n; i++)
        if (strcmp(out[i]->desc->addr.text, f->addr.text) == 0)
            return 0;
    if ((out[*n] = record_for(ctl, cf, r, e, f)) == NULL)
        return PX_ENOMEM;
    (*n)++;
    return 0;
}

static int add_entry(struct px_control *ctl, const struct conf *cf, size_t r,
                     const struct conf_backend *e, struct px_cbackend **out, size_t first,
                     size_t *n)
{
    const struct px_cname *cn;
    if (e->kind == CONF_BACKEND_ADDR) {
        struct found f = {.addr = e->addr, .weight = e->weight, .target = ""};
        return add_backend(ctl, cf, r, e, &f, out, first, n);
    }
    if ((cn = entry_name(ctl, e)) == NULL)
        return 0;
    for (size_t k = 0; k < cn->naddrs; k++) {
        bool srv = e->kind == CONF_BACKEND_SRV;
        struct found f = {.weight = srv ? cn->addrs[k].weight : e->weight,
                          .target = srv ? cn->addrs[k].target : ""};
        px__control_addr_from_dns(&cn->addrs[k], &f.addr);
        int rc = add_backend(ctl, cf, r, e, &f, out, first, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static size_t count_candidates(const struct px_control *ctl, const struct conf *cf)
{
    size_t n = 0;
    for (size_t r = 0; r < cf->nregions; r++)
        for (size_t i = 0; i < cf->regions[r].nbackends; i++)
            n += cf->regions[r].backends[i].kind == CONF_BACKEND_ADDR ? 1 : 0;
    for (size_t i = 0; i < ctl->nnames; i++)
        n += ctl->names[i]->naddrs;
    return n;
}

/*
 * Sets the name T verifies (and sends as SNI) when the entry's tls sets no
 * sni: a name entry's own name, the target of an SRV record, else none (the
 * address, verified as an IP). A backend found by DNS is never verified by
 * the address DNS gave: a certificate for that address says nothing about
 * the service the config names. 0 or PX_ENOMEM.
 */
static int fleet_tls_name(struct px_fleet_tls *t, const struct conf_backend *e,
                          const struct px_cbackend *cb)
{
    if (e->kind == CONF_BACKEND_NAME)
        t->host = e->host;
    else if (e->kind == CONF_BACKEND_SRV && cb->next_target[0] != '\0')
        t->host = t->own_host = strdup(cb->next_target);
    else
        return 0;
    return t->host != NULL ? 0 : PX_ENOMEM;
}

static struct px_fleet *fleet_of(struct px_control *ctl, struct px_snapshot *snap,
                                 struct px_cbackend **list, size_t n, const size_t *first)
{
    const struct conf *cf = snap->cfg->conf;
    struct px_fleet *f = px_fleet_new(snap, n);
    if (f == NULL)
        return NULL;
    f->generation = ctl->fleet ? ctl->fleet->generation + 1 : 1;
    for (size_t i = 0; i < n; i++) {
        const struct conf_backend *e = list[i]->next_conf;
        size_t r = list[i]->next_region;
        f->backends[i] = px_bdesc_ref(list[i]->desc);
        f->tls[i].ctx = px_config_upstream_tls(snap->cfg, r, (size_t)(e - cf->regions[r].backends));
        if (f->tls[i].ctx != NULL && fleet_tls_name(&f->tls[i], e, list[i]) != 0) {
            px_fleet_unref(f);
            return NULL;
        }
    }
    memcpy(f->region_first, first, (cf->nregions + 1) * sizeof(*first));
    for (size_t z = 0; z < cf->nzones; z++)
        f->zone_slot[z] = px__control_slot_add(&ctl->zone_slots, cf->zones[z].name);
    for (size_t r = 0; r < cf->nregions; r++)
        f->region_slot[r] = px__control_slot_add(&ctl->region_slots, cf->regions[r].name);
    return f;
}

/* Closes the records no longer listed and installs LIST (on CF) as ctl's backends. */
static void install(struct px_control *ctl, const struct conf *cf, struct px_cbackend **list,
                    struct px_cbackend **by_id, const struct px_health **scratch, size_t n)
{
    for (size_t i = 0; i < ctl->nbackends; i++)
        if (!ctl->backends[i]->keep)
            cbackend_close(ctl->backends[i]);
    for (size_t i = 0; i < n; i++)
        rebind(list[i], cf);
    free(ctl->backends);
    free(ctl->by_id);
    free(ctl->scratch);
    memcpy(by_id, list, n * sizeof(*list));
    qsort(by_id, n, sizeof(*by_id), cmp_by_id);
    ctl->backends = list;
    ctl->by_id = by_id;
    ctl->scratch = scratch;
    ctl->nbackends = n;
}

int px__control_build_fleet(struct px_control *ctl, struct px_snapshot *snap)
{
    const struct conf *cf = snap->cfg->conf;
    size_t cap = count_candidates(ctl, cf), n = 0, nold = ctl->nbackends;
    struct px_cbackend **list = calloc(cap ? cap : 1, sizeof(*list));
    struct px_cbackend **by_id = calloc(cap ? cap : 1, sizeof(*by_id));
    const struct px_health **scratch = calloc(cap ? cap : 1, sizeof(*scratch));
    size_t *first = calloc(cf->nregions + 1, sizeof(*first));
    struct px_fleet *f = NULL;
    int rc = PX_ENOMEM;

    for (size_t i = 0; i < nold; i++)
        ctl->backends[i]->keep = false;
    if (!list || !by_id || !scratch || !first)
        goto out;
    for (size_t r = 0; r < cf->nregions; r++) {
        first[r] = n;
        for (size_t i = 0; i < cf->regions[r].nbackends; i++)
            if ((rc = add_entry(ctl, cf, r, &cf->regions[r].backends[i], list, first[r], &n)) != 0)
                goto out;
    }
    first[cf->nregions] = n;
    if ((f = fleet_of(ctl, snap, list, n, first)) == NULL) {
        rc = PX_ENOMEM;
        goto out;
    }
    install(ctl, cf, list, by_id, scratch, n);
    list = NULL;
    by_id = NULL;
    scratch = NULL;
    px_fleet_unref(ctl->fleet);
    ctl->fleet = f;
    ctl->fleet_dirty = false;
    rc = 0;
out:
    if (list) { /* records made for this attempt go; old ones stay */
        for (size_t i = 0; i < n; i++)
            if (px__control_find(ctl, list[i]->desc->id) == NULL)
                cbackend_close(list[i]);
    }
    free(list);
    free(by_id);
    free(scratch);
    free(first);
    return rc;
}
