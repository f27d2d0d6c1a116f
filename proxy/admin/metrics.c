/*
 * metrics: every family is one row of the metrics[] table (HAProxy promex
 * style): name, type, help, which objects it has a sample for, and a getter
 * of one object's value. The objects (regions, backends, zones, DNS names)
 * bring their own labels, so a family is one line here and the writer is
 * written once. Families whose labels are not one object's (status codes,
 * histograms, results) name a writer instead of a getter.
 */
#include "proxy/admin/metrics.h"
#include "proxy/admin/view.h"
#include "proxy/base/px.h"
#include "proxy/state/stats.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* What one scrape reads once and every row shares. */
/* The process figures Prometheus client libraries export, from /proc/self. */
struct proc_figures {
    double start_s; /* unix time the process started */
    double cpu_s;   /* user + system CPU time */
    double rss_bytes;
    double open_fds, max_fds;
};

struct scrape {
    struct px_control *ctl; /* borrowed */
    const struct conf *cf;  /* borrowed */
    struct px_stats s;      /* owned: the workers' stats, summed */
    uint64_t now_ms;
    struct proc_figures proc; /* NAN where /proc did not say */
};

#ifndef PX_REVISION
#define PX_REVISION "unknown" /* the Makefile passes `git describe --always --dirty` */
#endif

/* The objects a family has one sample for. */
enum object {
    OBJ_PROCESS, /* one sample, no labels */
    OBJ_REGION,  /* region */
    OBJ_BACKEND, /* region, backend */
    OBJ_ZONE,    /* zone */
    OBJ_NAME,    /* name, region: DNS names and SRV entries */
    OBJ_CLASS,   /* zone, class: the request classes of every zone */
    OBJ_CUSTOM,  /* labels of its own: the row's writer */
};

struct metric;
typedef double (*metric_get_cb)(const struct scrape *sc, size_t i);
typedef void (*metric_write_cb)(struct px_sbuf *b, const struct scrape *sc, const struct metric *m);

struct metric {
    const char *name;
    const char *type; /* counter, gauge, histogram */
    enum object obj;
    const char *help;
    metric_get_cb get;     /* object I's value; NAN = no sample */
    metric_write_cb write; /* OBJ_CUSTOM: writes the samples */
};

/* ------------------------------------------------------------ writers */

static void prom_num(struct px_sbuf *b, double v)
{
    if (v == (double)(long long)v && fabs(v) < 1e15)
        px_sbuf_printf(b, " %lld\n", (long long)v);
    else
        px_sbuf_printf(b, " %.9g\n", v);
}

/* Writes LABEL="VALUE" escaped, after a comma unless FIRST. */
static void label(struct px_sbuf *b, const char *name, const char *value, bool first)
{
    px_sbuf_printf(b, "%s%s=\"", first ? "" : ",", name);
    px_prom_label(b, value);
    px_sbuf_puts(b, "\"");
}

static size_t object_count(const struct scrape *sc, enum object o)
{
    switch (o) {
    case OBJ_PROCESS:
        return 1;
    case OBJ_REGION:
        return sc->cf->nregions;
    case OBJ_BACKEND:
        return sc->ctl->nbackends;
    case OBJ_ZONE:
        return sc->cf->nzones;
    case OBJ_NAME:
        return sc->ctl->nnames;
    case OBJ_CLASS:
        return sc->cf->nroutes - sc->cf->nzones;
    case OBJ_CUSTOM:
        break;
    }
    return 0;
}

/* Zone *Z and class *K (1-based in its zone: route K of zone Z) of class object I. */
static void class_at(const struct conf *cf, size_t i, size_t *z, size_t *k)
{
    for (*z = 0; *z < cf->nzones && i >= cf->zones[*z].route.nclasses; (*z)++)
        i -= cf->zones[*z].route.nclasses;
    *k = i + 1;
}

/* Writes object I's labels, braces included (nothing for OBJ_PROCESS). */
static void object_labels(struct px_sbuf *b, const struct scrape *sc, enum object o, size_t i)
{
    const struct px_cbackend *cb;

    switch (o) {
    case OBJ_REGION:
        px_sbuf_puts(b, "{");
        label(b, "region", sc->cf->regions[i].name, true);
        break;
    case OBJ_BACKEND:
        cb = sc->ctl->backends[i];
        px_sbuf_puts(b, "{");
        label(b, "region", cb->desc->region, true);
        label(b, "backend", cb->desc->addr.text, false);
        break;
    case OBJ_ZONE:
        px_sbuf_puts(b, "{");
        label(b, "zone", sc->cf->zones[i].name, true);
        break;
    case OBJ_NAME:
        px_sbuf_puts(b, "{");
        label(b, "name", sc->ctl->names[i]->conf->host, true);
        label(b, "region", sc->ctl->names[i]->region, false);
        break;
    case OBJ_CLASS: {
        size_t z, k;
        class_at(sc->cf, i, &z, &k);
        px_sbuf_puts(b, "{");
        label(b, "zone", sc->cf->zones[z].name, true);
        label(b, "class", sc->cf->zones[z].route.classes[k - 1].name, false);
        break;
    }
    case OBJ_PROCESS:
    case OBJ_CUSTOM:
        return;
    }
    px_sbuf_puts(b, "}");
}

static void family(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    px_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
    if (m->write != NULL) { /* OBJ_CUSTOM, or rows of its own over an object kind */
        m->write(b, sc, m);
        return;
    }
    for (size_t i = 0, n = object_count(sc, m->obj); i < n; i++) {
        double v = m->get(sc, i);
        if (isnan(v))
            continue;
        px_sbuf_puts(b, m->name);
        object_labels(b, sc, m->obj, i);
        prom_num(b, v);
    }
}

/* Writes NAME_bucket{LABELS,le=...} lines, _sum and _count of one histogram. */
static void histogram(struct px_sbuf *b, const char *name, const char *labels,
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
    px_sbuf_printf(b, "%s_sum{%s}", name, labels);
    prom_num(b, (double)sum_us / 1e6);
    px_sbuf_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
}

/* Labels zone="..",region=".." of a request-stats slot pair (region slot 0: none). */
static void slot_labels(char *buf, size_t cap, const struct scrape *sc, size_t z, size_t slot)
{
    struct px_sbuf b;
    px_sbuf_init(&b);
    label(&b, "zone", sc->ctl->zone_slots.names[z], true);
    label(&b, "region", slot ? sc->ctl->region_slots.names[slot - 1] : "none", false);
    snprintf(buf, cap, "%s", b.oom || b.data == NULL ? "" : b.data);
    px_sbuf_dispose(&b);
}

/* ------------------------------------------------------------ /proc/self */

/* Reads up to CAP - 1 bytes of PATH into BUF; false when it cannot. */
static bool read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    size_t n;
    if (f == NULL)
        return false;
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

static void read_proc(struct proc_figures *p)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    unsigned long long utime, stime, start, btime = 0, rss;
    char buf[4096], *s;
    struct rlimit rl;
    DIR *d;

    p->start_s = p->cpu_s = p->rss_bytes = p->open_fds = p->max_fds = NAN;
    /* Fields 14, 15 (utime, stime) and 22 (starttime) come after the
     * command name, which may hold spaces: parse from its closing ')'. */
    if (read_small("/proc/self/stat", buf, sizeof(buf)) && (s = strrchr(buf, ')')) != NULL &&
        sscanf(s + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
               "%*d %llu",
               &utime, &stime, &start) == 3 &&
        tick > 0) {
        p->cpu_s = (double)(utime + stime) / (double)tick;
        if (read_small("/proc/stat", buf, sizeof(buf)) && (s = strstr(buf, "\nbtime ")) != NULL &&
            sscanf(s, "\nbtime %llu", &btime) == 1)
            p->start_s = (double)btime + (double)start / (double)tick;
    }
    if (read_small("/proc/self/statm", buf, sizeof(buf)) && sscanf(buf, "%*u %llu", &rss) == 1)
        p->rss_bytes = (double)rss * (double)page;
    if ((d = opendir("/proc/self/fd")) != NULL) {
        double n = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            n += e->d_name[0] != '.';
        closedir(d);
        p->open_fds = n - 1; /* the directory's own fd */
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        p->max_fds = (double)rl.rlim_cur;
}

/* ------------------------------------------------------------ getters */

static double g_start_time(const struct scrape *sc, size_t i)
{
    (void)i;
    return sc->proc.start_s;
}

static double g_cpu(const struct scrape *sc, size_t i)
{
    (void)i;
    return sc->proc.cpu_s;
}

static double g_open_fds(const struct scrape *sc, size_t i)
{
    (void)i;
    return sc->proc.open_fds;
}

static double g_max_fds(const struct scrape *sc, size_t i)
{
    (void)i;
    return sc->proc.max_fds;
}

static double g_rss(const struct scrape *sc, size_t i)
{
    (void)i;
    return sc->proc.rss_bytes;
}

static double g_reload_ok(const struct scrape *sc, size_t i)
{
    (void)i;
    return !sc->ctl->last_reload_failed;
}

static double g_reload_time(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)sc->ctl->config_loaded_unix_s;
}

static double g_backend_ejections(const struct scrape *sc, size_t i)
{
    return (double)sc->ctl->backends[i]->health.ejections_total;
}

static double g_backend_probe_failures(const struct scrape *sc, size_t i)
{
    return (double)sc->ctl->backends[i]->probe_failures;
}

static double g_uptime(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)(sc->now_ms - sc->ctl->started_ms) / 1000.0;
}

static double g_generation(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)sc->ctl->snap->generation;
}

static double g_accepted(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)px_stats_get(&sc->s.accepted);
}

static double g_retries(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)px_stats_get(&sc->s.retries);
}

static double g_rejected(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)px_stats_get(&sc->s.rejected);
}

static double g_accept_errors(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)px_stats_get(&sc->s.accept_errors);
}

static double g_bytes_in(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)px_stats_get(&sc->s.bytes_in);
}

static double g_bytes_out(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)px_stats_get(&sc->s.bytes_out);
}

/* Backend I's counts, summed over the workers. */
static void backend_sum(const struct scrape *sc, size_t i, struct px_bstats *out)
{
    const struct px_bdesc *d = sc->ctl->backends[i]->desc;
    memset(out, 0, sizeof(*out));
    px_stats_backend_sum(out, d->stats, d->nworkers);
}

static double g_backend_requests(const struct scrape *sc, size_t i)
{
    struct px_bstats b;
    backend_sum(sc, i, &b);
    return (double)px_stats_get(&b.requests);
}

static double g_backend_errors(const struct scrape *sc, size_t i)
{
    struct px_bstats b;
    backend_sum(sc, i, &b);
    return (double)px_stats_get(&b.errors);
}

static double g_backend_up(const struct scrape *sc, size_t i)
{
    return sc->ctl->backends[i]->health.up;
}

static double g_backend_ejected(const struct scrape *sc, size_t i)
{
    return px_health_ejected(&sc->ctl->backends[i]->health, sc->now_ms);
}

static double g_backend_rtt(const struct scrape *sc, size_t i)
{
    const struct px_health *h = &sc->ctl->backends[i]->health;
    return h->has_rtt ? h->rtt_ms / 1000.0 : NAN;
}

static double g_backend_goodput(const struct scrape *sc, size_t i)
{
    const struct px_health *h = &sc->ctl->backends[i]->health;
    return h->has_goodput ? h->goodput_bps : NAN;
}

static double g_zone_response_bytes(const struct scrape *sc, size_t i)
{
    return px_control_route(sc->ctl, i, 0)->size_bytes;
}

/* The size mean of class object I (by zone slot and class, as the control thread keeps it). */
static const struct px_size_mean *class_sizes(const struct scrape *sc, size_t i)
{
    size_t z, k;
    class_at(sc->cf, i, &z, &k);
    return &sc->ctl->sizes[sc->ctl->fleet->zone_slot[z] * PX_CLASS_SLOTS + k];
}

static double g_class_response_bytes(const struct scrape *sc, size_t i)
{
    size_t z, k;
    class_at(sc->cf, i, &z, &k);
    return px_control_route(sc->ctl, z, k)->size_bytes;
}

static double g_class_requests(const struct scrape *sc, size_t i)
{
    return (double)class_sizes(sc, i)->total;
}

static double g_backend_inflight(const struct scrape *sc, size_t i)
{
    return px_bdesc_inflight(sc->ctl->backends[i]->desc);
}

static double g_region_healthy(const struct scrape *sc, size_t i)
{
    return sc->ctl->regions[i].healthy;
}

static double g_region_drained(const struct scrape *sc, size_t i)
{
    return sc->ctl->regions[i].drained;
}

static double g_zone_switches(const struct scrape *sc, size_t i)
{
    return px_control_route(sc->ctl, i, 0)->switches;
}

static double g_dns_addresses(const struct scrape *sc, size_t i)
{
    return (double)sc->ctl->names[i]->naddrs;
}

static double g_dns_resolutions(const struct scrape *sc, size_t i)
{
    struct px_dns_watch_info info;
    px_dns_watch_info(sc->ctl->names[i]->watch, &info);
    return (double)info.queries;
}

static double g_dns_failures(const struct scrape *sc, size_t i)
{
    struct px_dns_watch_info info;
    px_dns_watch_info(sc->ctl->names[i]->watch, &info);
    return (double)info.failures;
}

static double g_dns_refused(const struct scrape *sc, size_t i)
{
    return (double)sc->ctl->names[i]->refused;
}

/* ------------------------------------------------------------ custom rows */

static void w_build_info(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    (void)sc;
    px_sbuf_printf(b, "%s{", m->name);
    label(b, "version", PX_VERSION, true);
    label(b, "revision", PX_REVISION, false);
    px_sbuf_puts(b, "} 1\n");
}

static void w_config_hash(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    px_sbuf_printf(b, "%s{hash=\"%016llx\"} 1\n", m->name, (unsigned long long)sc->cf->hash);
}

static void w_geoip_build(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    for (size_t i = 0; i < sc->cf->geo.ndbs; i++) {
        struct geo_db_meta meta;
        geo_db_meta(sc->ctl->snap->dbs[i], &meta);
        px_sbuf_printf(b, "%s{", m->name);
        label(b, "path", sc->cf->geo.dbs[i].path, true);
        px_sbuf_printf(b, "} %llu\n", (unsigned long long)meta.build_epoch);
    }
}

static void w_reloads(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    px_sbuf_printf(b, "%s{result=\"ok\"} %llu\n%s{result=\"failed\"} %llu\n", m->name,
                   (unsigned long long)sc->ctl->reloads_ok, m->name,
                   (unsigned long long)sc->ctl->reloads_failed);
}

static void w_requests(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    static const char *const classes[PX_STATS_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    char labels[512];

    for (size_t z = 0; z < sc->ctl->zone_slots.n; z++)
        for (size_t slot = 0; slot <= sc->ctl->region_slots.n; slot++)
            for (size_t k = 0; k < PX_STATS_CLASSES; k++) {
                uint64_t v = px_stats_get(&sc->s.requests[px_stats_req_index(&sc->s, z, slot, k)]);
                if (v == 0)
                    continue;
                slot_labels(labels, sizeof(labels), sc, z, slot);
                px_sbuf_printf(b, "%s{%s,code=\"%s\"} %llu\n", m->name, labels, classes[k],
                               (unsigned long long)v);
            }
}

static void w_duration(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    const struct px_stats *s = &sc->s;
    char labels[512];

    for (size_t z = 0; z < sc->ctl->zone_slots.n; z++)
        for (size_t slot = 0; slot <= sc->ctl->region_slots.n; slot++) {
            const _Atomic uint64_t *h = &s->dur[px_stats_dur_index(s, z, slot, 0)];
            uint64_t n = 0;
            for (size_t i = 0; i <= PX_STATS_DUR_BUCKETS; i++)
                n += px_stats_get(&h[i]);
            if (n == 0)
                continue;
            slot_labels(labels, sizeof(labels), sc, z, slot);
            histogram(b, m->name, labels, h, px_stats_dur_bounds_s, PX_STATS_DUR_BUCKETS,
                      px_stats_get(&s->dur_sum_us[z * (s->nregions + 1) + slot]));
        }
}

static void w_client_rtt(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    const struct px_stats *s = &sc->s;
    struct px_sbuf l;

    for (size_t z = 0; z < sc->ctl->zone_slots.n; z++) {
        if (z == PX_STATS_ZONE_NONE)
            continue; /* an unclassified request has no client RTT to count */
        px_sbuf_init(&l);
        label(&l, "zone", sc->ctl->zone_slots.names[z], true);
        if (!l.oom)
            histogram(b, m->name, l.data, &s->rtt[z * (PX_STATS_RTT_BUCKETS + 1)],
                      px_stats_rtt_bounds_s, PX_STATS_RTT_BUCKETS, px_stats_get(&s->rtt_sum_us[z]));
        px_sbuf_dispose(&l);
    }
}

static void w_backend_ttfb(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    for (size_t i = 0; i < sc->ctl->nbackends; i++) {
        const struct px_cbackend *cb = sc->ctl->backends[i];
        struct px_bstats bs;
        struct px_sbuf l;

        backend_sum(sc, i, &bs);
        px_sbuf_init(&l);
        label(&l, "region", cb->desc->region, true);
        label(&l, "backend", cb->desc->addr.text, false);
        if (!l.oom)
            histogram(b, m->name, l.data, bs.ttfb, px_stats_ttfb_bounds_s, PX_STATS_TTFB_BUCKETS,
                      px_stats_get(&bs.ttfb_sum_us));
        px_sbuf_dispose(&l);
    }
}

static void w_proxy_responses(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    for (size_t z = 0; z < sc->ctl->zone_slots.n; z++)
        for (size_t r = PX_REASON_NONE + 1; r < PX_STATS_REASONS; r++) {
            uint64_t v = px_stats_get(&sc->s.reasons[z * PX_STATS_REASONS + r]);
            if (v == 0)
                continue;
            px_sbuf_printf(b, "%s{", m->name);
            label(b, "zone", sc->ctl->zone_slots.names[z], true);
            label(b, "reason", px_stats_reason_names[r], false);
            px_sbuf_printf(b, "} %llu\n", (unsigned long long)v);
        }
}

static void w_zone_route(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    const struct conf *cf = sc->cf;
    for (size_t z = 0; z < cf->nzones; z++)
        for (size_t r = 0; r < cf->nregions; r++) {
            if (px_admin_route_role(cf, z, r) == PX_ROLE_NONE)
                continue;
            px_sbuf_printf(b, "%s{", m->name);
            label(b, "zone", cf->zones[z].name, true);
            label(b, "region", cf->regions[r].name, false);
            px_sbuf_printf(b, "} %d\n", px_control_route(sc->ctl, z, 0)->current == (int)r);
        }
}

/* Like georoute_zone_route, per request class of every zone that has classes. */
static void w_class_route(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    const struct conf *cf = sc->cf;
    for (size_t i = 0, n = object_count(sc, OBJ_CLASS); i < n; i++) {
        size_t z, k;
        class_at(cf, i, &z, &k);
        for (size_t r = 0; r < cf->nregions; r++) {
            if (px_admin_route_role(cf, z, r) == PX_ROLE_NONE)
                continue;
            px_sbuf_printf(b, "%s{", m->name);
            label(b, "zone", cf->zones[z].name, true);
            label(b, "class", cf->zones[z].route.classes[k - 1].name, false);
            label(b, "region", cf->regions[r].name, false);
            px_sbuf_printf(b, "} %d\n", px_control_route(sc->ctl, z, k)->current == (int)r);
        }
    }
}

static void w_geo_lookups(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    uint64_t lookups = px_stats_get(&sc->s.geo_lookups), nf = px_stats_get(&sc->s.geo_not_found);
    px_sbuf_printf(b, "%s{result=\"found\"} %llu\n%s{result=\"not_found\"} %llu\n", m->name,
                   (unsigned long long)(lookups - (nf < lookups ? nf : lookups)), m->name,
                   (unsigned long long)nf);
}

static void w_connections(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    uint64_t opened = px_stats_get(&sc->s.upstream_opened);
    uint64_t closed = px_stats_get(&sc->s.upstream_closed);
    unsigned clients = atomic_load_explicit(&sc->ctl->proc->nclients, memory_order_relaxed);
    px_sbuf_printf(b, "%s{side=\"client\"} %u\n%s{side=\"upstream\"} %llu\n", m->name, clients,
                   m->name, (unsigned long long)(opened > closed ? opened - closed : 0));
}

/* One side's handshakes by result: only the results that side can have. */
static void tls_results(struct px_sbuf *b, const char *name, const struct px_stats_tls *t,
                        unsigned mask)
{
    for (size_t i = 0; i < PX_STATS_TLS_RESULTS; i++)
        if (mask & (1u << i))
            px_sbuf_printf(b, "%s{result=\"%s\"} %llu\n", name, px_stats_tls_result_names[i],
                           (unsigned long long)px_stats_get(&t->result[i]));
}

static void tls_versions(struct px_sbuf *b, const char *name, const struct px_stats_tls *t)
{
    for (size_t i = 0; i < PX_STATS_TLS_VERSIONS; i++)
        px_sbuf_printf(b, "%s{version=\"%s\"} %llu\n", name, px_stats_tls_version_names[i],
                       (unsigned long long)px_stats_get(&t->version[i]));
}

static void tls_sessions(struct px_sbuf *b, const char *name, const struct px_stats_tls *t)
{
    uint64_t ok = px_stats_get(&t->result[PX_STATS_TLS_OK]);
    uint64_t resumed = px_stats_get(&t->resumed);
    px_sbuf_printf(b, "%s{kind=\"full\"} %llu\n%s{kind=\"resumed\"} %llu\n", name,
                   (unsigned long long)(ok > resumed ? ok - resumed : 0), name,
                   (unsigned long long)resumed);
}

static void w_tls_handshakes(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    tls_results(b, m->name, &sc->s.tls, PX_STATS_TLS_CLIENT_RESULTS);
}

static void w_tls_versions(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    tls_versions(b, m->name, &sc->s.tls);
}

static void w_tls_sessions(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    tls_sessions(b, m->name, &sc->s.tls);
}

static void w_requests_by_protocol(struct px_sbuf *b, const struct scrape *sc,
                                   const struct metric *m)
{
    px_sbuf_printf(b, "%s{protocol=\"http/1.1\"} %llu\n%s{protocol=\"h2\"} %llu\n", m->name,
                   (unsigned long long)px_stats_get(&sc->s.h2.requests[PX_STATS_HTTP1]), m->name,
                   (unsigned long long)px_stats_get(&sc->s.h2.requests[PX_STATS_H2]));
}

static double g_h2_connections(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)px_stats_get(&sc->s.h2.connections);
}

static double g_h2_errors(const struct scrape *sc, size_t i)
{
    (void)i;
    return (double)px_stats_get(&sc->s.h2.errors);
}

static void w_up_tls_handshakes(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    tls_results(b, m->name, &sc->s.up_tls, PX_STATS_TLS_UPSTREAM_RESULTS);
}

static void w_up_tls_versions(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    tls_versions(b, m->name, &sc->s.up_tls);
}

static void w_up_tls_sessions(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    tls_sessions(b, m->name, &sc->s.up_tls);
}

/* Both sides in one family: the side label is what tells them apart. */
static void w_tls_duration(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    histogram(b, m->name, "side=\"client\"", sc->s.tls.dur, px_stats_tls_bounds_s,
              PX_STATS_TLS_BUCKETS, px_stats_get(&sc->s.tls.dur_sum_us));
    histogram(b, m->name, "side=\"upstream\"", sc->s.up_tls.dur, px_stats_tls_bounds_s,
              PX_STATS_TLS_BUCKETS, px_stats_get(&sc->s.up_tls.dur_sum_us));
}

static void w_tls_expiry(struct px_sbuf *b, const struct scrape *sc, const struct metric *m)
{
    const struct px_config *cfg = sc->ctl->snap->cfg;

    for (size_t l = 0; cfg->tls != NULL && l < cfg->conf->nlisten; l++) {
        const int64_t *not_after;
        size_t n = cfg->tls[l] ? px_tls_ctx_certs(cfg->tls[l], &not_after) : 0;
        for (size_t i = 0; i < n && i < cfg->conf->listeners[l].tls.ncerts; i++) {
            px_sbuf_printf(b, "%s{", m->name);
            label(b, "listener", cfg->conf->listeners[l].addr.text, true);
            label(b, "cert", cfg->conf->listeners[l].tls.certs[i].cert.text, false);
            px_sbuf_printf(b, "} %lld\n", (long long)not_after[i]);
        }
    }
}

/* ------------------------------------------------------------ the table */

#define GET(n, t, o, h, g)                                                                         \
    {                                                                                              \
        .name = n, .type = t, .obj = o, .help = h, .get = g                                        \
    }
#define CUSTOM(n, t, h, w)                                                                         \
    {                                                                                              \
        .name = n, .type = t, .obj = OBJ_CUSTOM, .help = h, .write = w                             \
    }

static const struct metric metrics[] = {
    GET("process_start_time_seconds", "gauge", OBJ_PROCESS,
        "Start time of the process since unix epoch in seconds.", g_start_time),
    GET("process_cpu_seconds_total", "counter", OBJ_PROCESS,
        "Total user and system CPU time spent in seconds.", g_cpu),
    GET("process_open_fds", "gauge", OBJ_PROCESS, "Number of open file descriptors.", g_open_fds),
    GET("process_max_fds", "gauge", OBJ_PROCESS, "Maximum number of open file descriptors.",
        g_max_fds),
    GET("process_resident_memory_bytes", "gauge", OBJ_PROCESS, "Resident memory size in bytes.",
        g_rss),
    CUSTOM("georoute_build_info", "gauge", "Build information; always 1.", w_build_info),
    GET("georoute_uptime_seconds", "gauge", OBJ_PROCESS,
        "Seconds since the control thread started.", g_uptime),
    GET("georoute_config_generation", "gauge", OBJ_PROCESS,
        "Generation of the config snapshot in use.", g_generation),
    CUSTOM("georoute_config_reloads_total", "counter", "Config reloads by result.", w_reloads),
    GET("georoute_config_last_reload_successful", "gauge", OBJ_PROCESS,
        "0 when the last reload was rejected (the config before it stays in force).", g_reload_ok),
    GET("georoute_config_last_reload_success_timestamp_seconds", "gauge", OBJ_PROCESS,
        "Unix time the config in force was loaded (start or last good reload).", g_reload_time),
    CUSTOM("georoute_config_hash", "gauge",
           "FNV-1a hash of the config file in force, as a label; always 1.", w_config_hash),
    CUSTOM("georoute_geoip_database_build_timestamp_seconds", "gauge",
           "Build time of each geo database in use (its metadata build_epoch).", w_geoip_build),
    CUSTOM("georoute_requests_total", "counter",
           "Requests answered, by client zone, serving region and status class.", w_requests),
    CUSTOM("georoute_request_duration_seconds", "histogram",
           "Time from the first request byte to the end of the response, by zone and region.",
           w_duration),
    CUSTOM("georoute_client_rtt_seconds", "histogram",
           "Kernel-measured TCP RTT of client connections (once per connection), by zone.",
           w_client_rtt),
    CUSTOM("georoute_proxy_responses_total", "counter",
           "Requests the proxy answered itself, by client zone and reason: no_region (503, "
           "residency), no_backend (502), upstream_timeout (504), upstream_failed (502), "
           "client_timeout (408), refused (the request was invalid or over a limit).",
           w_proxy_responses),
    GET("georoute_client_received_bytes_total", "counter", OBJ_PROCESS,
        "Bytes read from clients in requests (heads and bodies).", g_bytes_in),
    GET("georoute_client_sent_bytes_total", "counter", OBJ_PROCESS,
        "Bytes written to clients in responses.", g_bytes_out),
    GET("georoute_backend_requests_total", "counter", OBJ_BACKEND,
        "Attempts on the backend that had an outcome (a response head or a failure).",
        g_backend_requests),
    GET("georoute_backend_errors_total", "counter", OBJ_BACKEND,
        "Attempts on the backend that failed: connect error, reset, timeout or a 5xx head.",
        g_backend_errors),
    CUSTOM("georoute_backend_ttfb_seconds", "histogram",
           "Time from sending the request to the backend's response head.", w_backend_ttfb),
    GET("georoute_backend_up", "gauge", OBJ_BACKEND,
        "1 when active health checks say the backend is up.", g_backend_up),
    GET("georoute_backend_ejected", "gauge", OBJ_BACKEND,
        "1 while passive outlier detection has the backend ejected.", g_backend_ejected),
    GET("georoute_backend_rtt_seconds", "gauge", OBJ_BACKEND,
        "EWMA of the backend's passing probe round trips.", g_backend_rtt),
    GET("georoute_backend_goodput_bytes_per_second", "gauge", OBJ_BACKEND,
        "EWMA of the backend's response body bytes/s (bodies of 64 KiB or more); NaN: none yet.",
        g_backend_goodput),
    GET("georoute_backend_inflight", "gauge", OBJ_BACKEND, "Requests in flight on the backend.",
        g_backend_inflight),
    GET("georoute_backend_ejections_total", "counter", OBJ_BACKEND,
        "Ejections of the backend by passive outlier detection.", g_backend_ejections),
    GET("georoute_backend_probe_failures_total", "counter", OBJ_BACKEND,
        "Active health probes of the backend that failed.", g_backend_probe_failures),
    GET("georoute_region_healthy", "gauge", OBJ_REGION,
        "1 when the region has enough usable backends.", g_region_healthy),
    GET("georoute_region_drained", "gauge", OBJ_REGION,
        "1 while an operator has the region drained.", g_region_drained),
    CUSTOM("georoute_zone_route", "gauge",
           "1 for the region a zone is routed to, 0 for its other allowed or fallback regions.",
           w_zone_route),
    GET("georoute_route_switches_total", "counter", OBJ_ZONE,
        "Changes of a zone's region after its first decision.", g_zone_switches),
    GET("georoute_zone_response_bytes", "gauge", OBJ_ZONE,
        "Mean response body size of the zone's traffic, as its routing cost uses it.",
        g_zone_response_bytes),
    {.name = "georoute_class_route",
     .type = "gauge",
     .obj = OBJ_CLASS,
     .help = "1 for the region a request class of a zone is routed to, 0 for the zone's other "
             "allowed or fallback regions.",
     .write = w_class_route},
    GET("georoute_class_response_bytes", "gauge", OBJ_CLASS,
        "Mean response body size of a request class's traffic, as its routing cost uses it.",
        g_class_response_bytes),
    GET("georoute_class_requests_total", "counter", OBJ_CLASS,
        "Responses of a request class that came from a backend (each feeds its typical size).",
        g_class_requests),
    CUSTOM("georoute_geo_lookups_total", "counter",
           "Client classifications computed, by whether a database knew the address.",
           w_geo_lookups),
    CUSTOM("georoute_connections", "gauge", "Open connections by side.", w_connections),
    GET("georoute_connections_accepted_total", "counter", OBJ_PROCESS,
        "Client connections accepted.", g_accepted),
    GET("georoute_connections_rejected_total", "counter", OBJ_PROCESS,
        "Client connections refused over the connection cap (answered 503 and closed).",
        g_rejected),
    GET("georoute_accept_errors_total", "counter", OBJ_PROCESS,
        "Failed accepts on the client listeners (out of descriptors or memory: accepting pauses).",
        g_accept_errors),
    CUSTOM("georoute_tls_handshakes_total", "counter",
           "TLS handshakes on TLS listeners, by how they ended.", w_tls_handshakes),
    CUSTOM("georoute_tls_handshake_versions_total", "counter",
           "Completed TLS handshakes on TLS listeners, by protocol version.", w_tls_versions),
    CUSTOM("georoute_tls_sessions_total", "counter",
           "Completed TLS handshakes: full, or resumed from a session ticket.", w_tls_sessions),
    CUSTOM("georoute_tls_handshake_duration_seconds", "histogram",
           "Time a completed TLS handshake took: from accept (side client), or from the "
           "backend's TCP connect (side upstream).",
           w_tls_duration),
    CUSTOM("georoute_tls_certificate_expiry_timestamp_seconds", "gauge",
           "Unix time each listener certificate expires (its notAfter).", w_tls_expiry),
    CUSTOM("georoute_upstream_tls_handshakes_total", "counter",
           "TLS handshakes with backends (request connections, not probes), by how they ended.",
           w_up_tls_handshakes),
    CUSTOM("georoute_upstream_tls_handshake_versions_total", "counter",
           "Completed TLS handshakes with backends, by protocol version.", w_up_tls_versions),
    CUSTOM("georoute_upstream_tls_sessions_total", "counter",
           "Completed TLS handshakes with backends: full, or resumed from the backend's session.",
           w_up_tls_sessions),
    CUSTOM("georoute_requests_by_protocol_total", "counter",
           "Requests by the protocol the client spoke (HTTP/1.0 counts as http/1.1; an HTTP/2 "
           "stream is a request).",
           w_requests_by_protocol),
    GET("georoute_h2_connections_total", "counter", OBJ_PROCESS,
        "Client connections that spoke HTTP/2 (ALPN h2, or h2c with prior knowledge).",
        g_h2_connections),
    GET("georoute_h2_connection_errors_total", "counter", OBJ_PROCESS,
        "HTTP/2 connections ended by GOAWAY for a protocol error or a flood (ENHANCE_YOUR_CALM).",
        g_h2_errors),
    GET("georoute_retries_total", "counter", OBJ_PROCESS,
        "Upstream attempts after the first one of a request.", g_retries),
    GET("georoute_dns_addresses", "gauge", OBJ_NAME,
        "Addresses of the last good answer, by backend name.", g_dns_addresses),
    GET("georoute_dns_resolutions_total", "counter", OBJ_NAME,
        "Resolution rounds of a backend name (success or failure).", g_dns_resolutions),
    GET("georoute_dns_failures_total", "counter", OBJ_NAME,
        "Failed resolution rounds of a backend name; the last good answer stays in use.",
        g_dns_failures),
    GET("georoute_dns_refused_total", "counter", OBJ_NAME,
        "Answers refused by the region's discovery rules; the last good answer stays in use.",
        g_dns_refused),
};

void px__admin_metrics(struct px_control *ctl, struct px_sbuf *b)
{
    struct scrape sc = {.ctl = ctl, .cf = px_admin_conf(ctl), .now_ms = uv_now(&ctl->loop)};

    read_proc(&sc.proc);

    if (px_control_scrape(ctl, &sc.s) != 0) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        /* A family without objects (no DNS names) is left out altogether. */
        if (metrics[i].obj != OBJ_CUSTOM && object_count(&sc, metrics[i].obj) == 0)
            continue;
        family(b, &sc, &metrics[i]);
    }
    px_stats_dispose(&sc.s);
}
