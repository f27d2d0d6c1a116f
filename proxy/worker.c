/*
 * worker: runs one uv loop on its own thread. Draining (SIGTERM) closes the
 * listeners, lets in-flight exchanges finish until shutdown_drain, then
 * closes whatever is left; the loop ends when every handle is closed.
 */
#include "proxy/worker.h"
#include "proxy/client.h"
#include "proxy/exchange.h"
#include "proxy/px.h"
#include "proxy/upstream.h"

#include <string.h>

#define TICK_MS 200

static void on_listener_connection(uv_stream_t *server, int status)
{
    struct px_worker *w = server->data;
    if (status < 0) {
        px_log(PX_LOG_WARN, NULL, "event=accept_failed err=%s", uv_strerror(status));
        return;
    }
    size_t i = (size_t)((uv_tcp_t *)server - w->listeners);
    px_stats_add(&w->stats.accepted, 1);
    px_client_accept(w, server, w->conf->listeners[i].proxy_protocol != 0);
}

static void on_worker_wake(uv_async_t *a);

static struct px_wsnap *wsnap_new(struct px_snapshot *snap)
{
    struct px_wsnap *ws = calloc(1, sizeof(*ws));
    if (ws)
        ws->snap = px_snapshot_ref(snap);
    return ws;
}

static void wsnap_free(struct px_wsnap *ws)
{
    px_snapshot_unref(ws->snap);
    free(ws);
}

struct px_wsnap *px_worker_snap_hold(struct px_worker *w)
{
    w->snap->users++;
    return w->snap;
}

void px_worker_snap_release(struct px_worker *w, struct px_wsnap *ws)
{
    (void)w;
    if (ws && --ws->users == 0 && ws->retired)
        wsnap_free(ws);
}

void px_worker_publish_routes(struct px_worker *w, struct px_routes *rt)
{
    px_routes_unref(atomic_exchange(&w->incoming_routes, px_routes_ref(rt)));
    uv_async_send(&w->wake);
}

static void take_routes(struct px_worker *w)
{
    struct px_routes *rt = atomic_exchange(&w->incoming_routes, NULL);
    if (rt == NULL)
        return;
    px_routes_unref(w->routes);
    w->routes = rt;
}

void px_worker_publish(struct px_worker *w, struct px_snapshot *snap)
{
    struct px_snapshot *old = atomic_exchange(&w->incoming, px_snapshot_ref(snap));
    px_snapshot_unref(old);
    uv_async_send(&w->wake);
}

/*
 * After a config reload: points W's config and every backend's borrowed
 * config at CF. The control thread only publishes a config with the same
 * layout (control.c: check_layout), so every index stays valid, pools and
 * counters stay with their backends, and in-flight exchanges, which hold
 * the old snapshot (and so the old config), may keep their indexes.
 */
static void rebind_config(struct px_worker *w, const struct conf *cf)
{
    w->conf = cf;
    for (size_t r = 0; r < cf->nregions; r++)
        for (size_t i = 0; i < cf->regions[r].nbackends; i++) {
            struct px_backend *b = &w->backends[w->region_first[r] + i];
            b->conf = &cf->regions[r].backends[i];
            b->region = cf->regions[r].name;
        }
}

/* Switches to a published snapshot; the old one lives while exchanges use it. */
static void take_incoming(struct px_worker *w)
{
    struct px_snapshot *s = atomic_exchange(&w->incoming, NULL);
    struct px_wsnap *ws;
    if (s == NULL)
        return;
    ws = wsnap_new(s);
    px_snapshot_unref(s);
    if (ws == NULL) {
        px_log(PX_LOG_ERR, NULL, "event=snapshot_swap_failed worker=%u reason=out_of_memory",
               w->id);
        return;
    }
    /* The new config must be in place before the old snapshot can go. */
    if (ws->snap->cfg != w->snap->snap->cfg)
        rebind_config(w, ws->snap->cfg->conf);
    w->snap->retired = true;
    if (w->snap->users == 0)
        wsnap_free(w->snap);
    w->snap = ws;
}

int px_worker_init(struct px_worker *w, unsigned id, struct px_process *proc,
                   struct px_snapshot *snap, const int *fds, size_t nfds)
{
    const struct conf *cf = proc->conf;
    size_t nb = 0;
    int rc;

    memset(w, 0, sizeof(*w));
    w->id = id;
    w->proc = proc;
    w->conf = cf;
    w->slabs.max_free = 64;
    w->alog.fd = proc->access_fd;
    px_list_init(&w->clients);
    if ((w->snap = wsnap_new(snap)) == NULL ||
        (w->geo_caches = calloc(CONF_GEO_DB_MAX, sizeof(*w->geo_caches))) == NULL)
        return UV_ENOMEM;
    for (size_t i = 0; i < CONF_GEO_DB_MAX; i++)
        geo_cache_init(&w->geo_caches[i]);
    if ((rc = px_stats_init(&w->stats, cf->nzones, cf->nregions)) != 0)
        return UV_ENOMEM;
    if ((rc = uv_loop_init(&w->loop)) != 0)
        return rc;
    for (size_t r = 0; r < cf->nregions; r++)
        nb += cf->regions[r].nbackends;
    w->listeners = calloc(nfds, sizeof(*w->listeners));
    w->backends = calloc(nb, sizeof(*w->backends));
    w->peers = calloc(nb, sizeof(*w->peers));
    w->region_first = calloc(cf->nregions, sizeof(*w->region_first));
    if (w->listeners == NULL || w->backends == NULL || w->peers == NULL || w->region_first == NULL)
        return UV_ENOMEM;
    w->nbackends = nb;
    nb = 0;
    for (size_t r = 0; r < cf->nregions; r++) {
        w->region_first[r] = nb;
        for (size_t i = 0; i < cf->regions[r].nbackends; i++, nb++) {
            struct px_backend *b = &w->backends[nb];
            b->conf = &cf->regions[r].backends[i];
            b->region = cf->regions[r].name;
            b->region_idx = (unsigned)r;
            b->index = (unsigned)nb;
            px_list_init(&b->idle);
        }
    }
    px_rng_seed(&w->rng, uv_hrtime() ^ ((uint64_t)id << 32));
    px_retry_budget_init(&w->retry_budget, 0);
    if ((rc = uv_async_init(&w->loop, &w->wake, on_worker_wake)) != 0)
        return rc;
    w->wake.data = w;
    w->rr = id; /* workers start their round robin at different backends */
    for (size_t i = 0; i < nfds; i++) {
        uv_tcp_t *l = &w->listeners[i];
        uv_tcp_init(&w->loop, l);
        l->data = w;
        w->nlisteners++;
        if ((rc = uv_tcp_open(l, fds[i])) != 0 ||
            (rc = uv_listen((uv_stream_t *)l, 1024, on_listener_connection)) != 0)
            return rc;
    }
    return 0;
}

static void on_worker_handle_closed(uv_handle_t *h)
{
    struct px_worker *w = h->data;
    w->pending_closes--;
}

/* Everything is drained: close the worker's own handles so the loop ends. */
static void worker_finish(struct px_worker *w)
{
    for (size_t i = 0; i < w->nbackends; i++)
        px_upstream_pool_drain(&w->backends[i]);
    px_accesslog_flush(&w->alog);
    w->pending_closes += 2;
    uv_close((uv_handle_t *)&w->wake, on_worker_handle_closed);
    uv_close((uv_handle_t *)&w->tick, on_worker_handle_closed);
}

static void close_listeners(struct px_worker *w)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        w->pending_closes++;
        uv_close((uv_handle_t *)&w->listeners[i], on_worker_handle_closed);
    }
    w->nlisteners = 0;
}

/* Closes every client that is between requests; busy ones close after. */
static void close_idle_clients(struct px_worker *w, bool all)
{
    struct px_list *n = w->clients.next;
    while (n != &w->clients) {
        struct px_client *c = px_container_of(n, struct px_client, node);
        n = n->next;
        if (all || (c->state == PX_CLIENT_HEAD && (c->x == NULL || !px_http_started(&c->x->req))))
            px_client_close(c, all ? "shutdown deadline" : "shutdown");
        else
            c->close_after = true;
    }
}

void px__worker_count_exchange(struct px_worker *w, struct px_client *c,
                               const struct px_exchange *x)
{
    uint64_t ms = uv_now(&w->loop) - x->start_ms;
    uv_os_fd_t fd;

    px_stats_request(&w->stats, x->zone, x->region, x->status, ms * 1000);
    if (x->attempts > 1)
        px_stats_add(&w->stats.retries, x->attempts - 1);
    /* Once per connection, after its first request was classified: by then
     * the handshake and a request/response have given the kernel samples. */
    if (c->nrequests == 1 && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        int64_t us = px_stats_tcp_rtt_us(fd);
        if (us > 0)
            px_stats_client_rtt(&w->stats, x->zone, (uint64_t)us);
    }
}

void px__worker_client_gone(struct px_worker *w)
{
    w->nclients--;
    if (w->draining && w->nclients == 0 && !uv_is_closing((uv_handle_t *)&w->tick))
        worker_finish(w);
}

static void start_drain(struct px_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_deadline_ms = uv_now(&w->loop) + w->conf->timeouts.shutdown_drain_ms;
    close_listeners(w);
    for (size_t i = 0; i < w->nbackends; i++)
        px_upstream_pool_drain(&w->backends[i]);
    close_idle_clients(w, false);
    if (w->nclients == 0 && !uv_is_closing((uv_handle_t *)&w->tick))
        worker_finish(w);
}

static void on_worker_wake(uv_async_t *a)
{
    struct px_worker *w = a->data;
    take_incoming(w);
    take_routes(w);
    if (atomic_load(&w->stop_requested))
        start_drain(w);
}

static void on_worker_tick(uv_timer_t *t)
{
    struct px_worker *w = t->data;
    px_accesslog_flush(&w->alog);
    if (w->draining && uv_now(&w->loop) >= w->drain_deadline_ms)
        close_idle_clients(w, true);
}

static void worker_main(void *arg)
{
    struct px_worker *w = arg;
    take_routes(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int px_worker_start(struct px_worker *w)
{
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_worker_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&w->tick);
    return uv_thread_create(&w->thread, worker_main, w);
}

void px_worker_stop(struct px_worker *w)
{
    atomic_store(&w->stop_requested, true);
    uv_async_send(&w->wake);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void px_worker_join(struct px_worker *w)
{
    uv_thread_join(&w->thread);
    /* A clean drain leaves nothing; this only catches a bug, loudly. */
    if (uv_loop_close(&w->loop) == UV_EBUSY) {
        px_log(PX_LOG_ERR, NULL, "event=worker_leak worker=%u", w->id);
        uv_walk(&w->loop, on_walk_close, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
    }
    px_slab_cache_dispose(&w->slabs);
    px_exchange_cache_dispose(w);
    px_snapshot_unref(atomic_exchange(&w->incoming, NULL));
    for (size_t i = 0; w->geo_caches && i < CONF_GEO_DB_MAX; i++)
        geo_cache_dispose(&w->geo_caches[i]);
    free(w->geo_caches);
    if (w->snap) {
        w->snap->retired = true;
        if (w->snap->users == 0)
            wsnap_free(w->snap);
        w->snap = NULL;
    }
    px_routes_unref(atomic_exchange(&w->incoming_routes, NULL));
    px_routes_unref(w->routes);
    free(w->listeners);
    free(w->backends);
    free(w->peers);
    free(w->region_first);
    px_stats_dispose(&w->stats);
}
