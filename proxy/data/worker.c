/*
 * worker: runs one uv loop on its own thread. Draining (SIGTERM) closes the
 * listeners, lets in-flight exchanges finish until shutdown_drain, then
 * closes whatever is left; the loop ends when every handle is closed.
 */
#include "proxy/data/worker.h"
#include "proxy/data/client.h"
#include "proxy/data/exchange.h"
#include "proxy/data/h2conn.h"
#include "proxy/base/px.h"
#include "proxy/data/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define TICK_MS 200
#define SLABS_KEPT 64         /* free read buffers kept however idle (4 MiB) */
#define CACHE_TRIM_TICKS 50   /* every 10 s, free the buffers and spares not needed since */
#define LISTEN_BACKLOG 1024   /* pending connections per listener, capped by somaxconn */
#define ACCEPTS_PER_WAKEUP 32 /* per listener, before other handles (and workers) get a turn */
/* HTTP/2 memory a worker keeps for reuse: 500 streams in flight (50
 * connections of 10) come and go within this. */
#define H2_MEM_KEPT_BYTES (2 * 1024 * 1024)

/* Writes the accept_failed line when one is due: at most one a second per
 * worker, with the number of errors since the last, so a flood of errors
 * cannot flood the log. */
static void accept_log(struct px_worker *w)
{
    uint64_t n = px_accept_log_due(&w->accept, uv_now(&w->loop));
    const char *name = strerrorname_np(w->accept.last_err);

    if (n > 0)
        px_log(PX_LOG_WARN, NULL, "event=accept_failed worker=%u err=%s errors=%llu pause_ms=%u",
               w->id, name ? name : "?", (unsigned long long)n,
               w->accept_paused ? w->accept.pause_ms : 0);
}

/* Counts accept error ERR (a positive errno) in /metrics and the log. */
static void accept_error(struct px_worker *w, int err)
{
    px_stats_add(&w->port.stats.accept_errors, 1);
    px_accept_error(&w->accept, err);
}

static void watch_listeners(struct px_worker *w);

static void on_accept_resume(uv_timer_t *t)
{
    struct px_worker *w = t->data;

    w->accept_paused = false;
    watch_listeners(w);
}

/*
 * Stops accepting on every listener of W for a while (see listener.h): the
 * descriptors are the process's, so another listener would fail the same
 * way. Connections wait in the listen backlog meanwhile; the timer resumes.
 */
static void pause_accepting(struct px_worker *w)
{
    uint32_t ms = px_accept_pause(&w->accept);

    for (size_t i = 0; i < w->nlisteners; i++)
        uv_poll_stop(&w->listeners[i].poll);
    w->accept_paused = true;
    uv_timer_start(&w->accept_timer, on_accept_resume, ms, 0);
    accept_log(w);
}

/*
 * Accepts what L has pending, at most ACCEPTS_PER_WAKEUP (the poll is
 * level-triggered, so the rest wakes the loop again after the other
 * handles had their turn), into new clients.
 */
static void on_listener_readable(uv_poll_t *p, int status, int events)
{
    struct px_wlistener *l = p->data;
    struct px_worker *w = l->w;

    (void)events;
    if (status < 0) { /* an error on the socket: libuv stopped watching it */
        accept_error(w, -status);
        pause_accepting(w);
        return;
    }
    for (int n = 0; n < ACCEPTS_PER_WAKEUP && !w->accept_paused; n++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int err = errno;

        if (fd >= 0) {
            px_accept_ok(&w->accept);
            px_stats_add(&w->port.stats.accepted, 1);
            if (px_client_accept(w, fd, l->index) == 0)
                continue;
            err = ENOMEM; /* the connection is closed: no memory for a client */
        }
        switch (px_accept_classify(err)) {
        case PX_ACCEPT_DONE:
            return;
        case PX_ACCEPT_RETRY:
            continue;
        case PX_ACCEPT_SKIP:
            accept_error(w, err);
            accept_log(w);
            continue;
        case PX_ACCEPT_PAUSE:
            accept_error(w, err);
            pause_accepting(w);
            return;
        }
    }
}

/* Watches every listener of W for pending connections. */
static void watch_listeners(struct px_worker *w)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        int rc = uv_poll_start(&w->listeners[i].poll, UV_READABLE, on_listener_readable);
        if (rc != 0) {
            accept_error(w, -rc);
            pause_accepting(w);
            return;
        }
    }
}

static void on_worker_wake(uv_async_t *a);

static void view_free(struct px_wview *v)
{
    for (size_t i = 0; i < v->routes->nbackends; i++)
        px_backend_unref(v->bk[i]);
    px_routes_unref(v->routes);
    free(v->bk);
    free(v);
}

struct px_wview *px_worker_view_hold(struct px_worker *w)
{
    if (w->view)
        w->view->users++;
    return w->view;
}

void px_worker_view_release(struct px_wview *v)
{
    if (v && --v->users == 0 && v->retired)
        view_free(v);
}

/* Retires W's current view: freed now, or by its last exchange. */
static void view_retire(struct px_worker *w)
{
    if (w->view) {
        w->view->retired = true;
        if (w->view->users == 0)
            view_free(w->view);
        w->view = NULL;
    }
}

static void wake_for_routes(struct px_port *p)
{
    uv_async_send(&px_container_of(p, struct px_worker, port)->wake);
}

static int cmp_backend_desc(const void *a, const void *b)
{
    const struct px_bdesc *x = (*(struct px_backend *const *)a)->desc;
    const struct px_bdesc *y = (*(struct px_backend *const *)b)->desc;
    return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * This worker's backend for descriptor D: the one OLD (sorted by id) has,
 * which keeps its pool and failure state, or a new one. NULL without memory.
 */
static struct px_backend *backend_for(struct px_bdesc *d, struct px_backend **old, size_t nold)
{
    size_t lo = 0, hi = nold;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (old[mid]->desc->id == d->id) {
            old[mid]->refs++;
            old[mid]->retired = false;
            return old[mid];
        }
        if (old[mid]->desc->id < d->id)
            lo = mid + 1;
        else
            hi = mid;
    }
    struct px_backend *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->desc = px_bdesc_ref(d);
    b->refs = 1;
    px_list_init(&b->idle);
    return b;
}

/*
 * A view of RT's fleet. Backends the current view also lists are carried
 * over by identity; the ones it lists that the new fleet lacks are retired.
 */
static struct px_wview *view_new(struct px_worker *w, struct px_routes *rt)
{
    const struct px_fleet *f = rt->fleet;
    size_t nold = w->view ? w->view->routes->nbackends : 0;
    struct px_wview *v = calloc(1, sizeof(*v));
    struct px_backend **old = malloc((nold ? nold : 1) * sizeof(*old));
    size_t i = 0;

    if (v == NULL || old == NULL ||
        (v->bk = calloc(f->nbackends ? f->nbackends : 1, sizeof(*v->bk))) == NULL)
        goto fail;
    if (nold)
        memcpy(old, w->view->bk, nold * sizeof(*old));
    qsort(old, nold, sizeof(*old), cmp_backend_desc);
    for (size_t j = 0; j < nold; j++)
        old[j]->retired = true; /* until the new fleet is found to list it */
    for (; i < f->nbackends; i++) {
        if ((v->bk[i] = backend_for(f->backends[i], old, nold)) == NULL)
            goto fail;
        if (v->bk[i]->tls.ctx != f->tls[i].ctx)
            px_pool_drain(v->bk[i]); /* pooled connections speak the old way */
        v->bk[i]->tls = f->tls[i];
    }
    v->routes = rt;
    for (size_t j = 0; j < nold; j++)
        if (old[j]->retired)
            px_pool_drain(old[j]);
    free(old);
    return v;
fail:
    while (i > 0)
        px_backend_unref(v->bk[--i]);
    for (size_t j = 0; j < nold; j++)
        old[j]->retired = false;
    if (v)
        free(v->bk);
    free(v);
    free(old);
    return NULL;
}

/*
 * A reload asks HTTP/2 clients to reconnect (GOAWAY; open streams finish),
 * as nginx's and HAProxy's reloads do: a connection carries its listener's
 * settings (TLS context, stream limits) from when it began. HTTP/1.1
 * connections need nothing: each request takes the new config.
 */
static void goaway_h2(struct px_worker *w)
{
    for (struct px_list *n = w->clients.next; n != &w->clients; n = n->next) {
        struct px_client *c = px_container_of(n, struct px_client, node);
        if (c->state == PX_CLIENT_H2)
            px__h2conn_goaway(c);
    }
}

/* Switches to a published table: same fleet, same view; else a new view. */
static void take_routes(struct px_worker *w)
{
    struct px_routes *rt = atomic_exchange(&w->port.incoming_routes, NULL);
    struct px_wview *v;

    if (rt == NULL)
        return;
    if (w->view && w->view->routes->fleet == rt->fleet) {
        px_routes_unref(w->view->routes);
        w->view->routes = rt;
        return;
    }
    if (px_backend_ctx_reserve(&w->backends, rt->fleet->nbackends) != 0 ||
        (v = view_new(w, rt)) == NULL) {
        px_log(PX_LOG_ERR, NULL, "event=fleet_swap_failed worker=%u reason=out_of_memory", w->id);
        px_routes_unref(rt);
        return;
    }
    const struct conf *was = w->conf;
    w->conf = px_fleet_conf(rt->fleet);
    view_retire(w);
    w->view = v;
    if (w->conf != was)
        goaway_h2(w);
}

/* Request ids need to be unique across workers and restarts, not secret:
 * 64 random bits once, then a counter (no syscall per request). */
static void request_id_prefix(struct px_worker *w)
{
    uint64_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = px_rng_next(&w->rng);
    snprintf(w->rid_prefix, sizeof(w->rid_prefix), "%016llx", (unsigned long long)r);
}

int px_worker_init(struct px_worker *w, unsigned id, struct px_process *proc, size_t nzslots,
                   size_t nrslots, const int *fds, size_t nfds)
{
    const struct conf *cf = proc->conf;
    int rc;

    memset(w, 0, sizeof(*w));
    w->id = id;
    w->proc = proc;
    w->conf = cf;
    w->slabs.r.keep = SLABS_KEPT;
    w->spares.keep = PX_SPARE_EXCHANGES;
    px_freelist_init(&w->h2_mem, H2_MEM_KEPT_BYTES);
    w->logfile = px_logfile_ref(proc->access_log);
    w->alog.fd = w->logfile ? w->logfile->fd : -1;
    px_list_init(&w->clients);
    if ((w->geo_caches = calloc(CONF_GEO_DB_MAX, sizeof(*w->geo_caches))) == NULL)
        return PX_ENOMEM;
    for (size_t i = 0; i < CONF_GEO_DB_MAX; i++)
        geo_cache_init(&w->geo_caches[i]);
    if ((rc = px_stats_init(&w->port.stats, nzslots, nrslots)) != 0)
        return rc;
    if ((rc = uv_loop_init(&w->loop)) != 0)
        return rc;
    if ((w->listeners = calloc(nfds ? nfds : 1, sizeof(*w->listeners))) == NULL)
        return PX_ENOMEM;
    px_rng_seed(&w->rng, uv_hrtime() ^ ((uint64_t)id << 32));
    request_id_prefix(w);
    px_retry_budget_init(&w->backends.budget, 0);
    if ((rc = uv_async_init(&w->loop, &w->wake, on_worker_wake)) != 0)
        return rc;
    w->wake.data = w;
    w->port.wake = wake_for_routes;
    if ((rc = uv_timer_init(&w->loop, &w->accept_timer)) != 0)
        return rc;
    w->accept_timer.data = w;
    if ((rc = px_later_init(&w->later, &w->loop)) != 0)
        return rc;
    w->later.idle.data = w;
    for (size_t i = 0; i < nfds; i++) {
        struct px_wlistener *l = &w->listeners[i];
        /* Listeners come in rounds of one per listen address: a worker that
         * took over more sockets than it has peers serves several rounds. */
        *l = (struct px_wlistener){.fd = fds[i], .index = i % cf->nlisten, .w = w};
        if ((rc = uv_poll_init(&w->loop, &l->poll, l->fd)) != 0)
            return rc;
        l->poll.data = l;
        w->nlisteners++;
        /* A socket taken over is listening already; listen() again only
         * sets the backlog. */
        if (listen(l->fd, LISTEN_BACKLOG) == -1)
            return -errno;
    }
    watch_listeners(w);
    return 0;
}

static void on_worker_handle_closed(uv_handle_t *h)
{
    struct px_worker *w = h->data;
    w->pending_closes--;
}

/* Everything is drained: close the worker's own handles so the loop ends. */
static void drain_pools(struct px_worker *w)
{
    for (size_t i = 0; w->view && i < w->view->routes->nbackends; i++)
        px_pool_drain(w->view->bk[i]);
}

static void worker_finish(struct px_worker *w)
{
    drain_pools(w);
    px_accesslog_flush(&w->alog);
    w->pending_closes += 3;
    uv_close((uv_handle_t *)&w->wake, on_worker_handle_closed);
    uv_close((uv_handle_t *)&w->tick, on_worker_handle_closed);
    px_later_close(&w->later, on_worker_handle_closed);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct px_wlistener *l = h->data;

    close(l->fd);
    l->fd = -1;
    l->w->pending_closes--;
}

/* Stops accepting for good: the listeners and the pause timer close. */
static void close_listeners(struct px_worker *w)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        w->pending_closes++;
        uv_close((uv_handle_t *)&w->listeners[i].poll, on_listener_closed);
    }
    w->nlisteners = 0;
    w->pending_closes++;
    uv_close((uv_handle_t *)&w->accept_timer, on_worker_handle_closed);
}

/*
 * Closes every client that is between requests; busy ones close after. A
 * connection accepted just before the listener closed has its first request
 * on the way, not idle: it is served (bounded by client_header and the
 * drain deadline), else a takeover or restart would reset it.
 */
static void close_idle_clients(struct px_worker *w, bool all)
{
    struct px_list *n = w->clients.next;
    while (n != &w->clients) {
        struct px_client *c = px_container_of(n, struct px_client, node);
        n = n->next;
        if (all || (c->state == PX_CLIENT_HEAD && c->nrequests > 0 &&
                    (c->x == NULL || !px_http_started(&c->x->req))))
            px_client_close(c, all ? "shutdown deadline" : "shutdown");
        else if (c->state == PX_CLIENT_H2)
            px__h2conn_goaway(c); /* open streams finish; new ones are refused */
        else
            c->close_after = true;
    }
}

void px__worker_count_exchange(struct px_worker *w, struct px_client *c,
                               const struct px_exchange *x)
{
    uint64_t ms = uv_now(&w->loop) - x->start_ms;
    uv_os_fd_t fd;

    /* A request refused before classification (or before the worker had a
     * view) belongs to no zone and no region. */
    const struct px_fleet *f = x->view ? x->view->routes->fleet : NULL;
    bool zoned = f && x->zone != PX_ZONE_NONE;
    size_t zslot = zoned ? f->zone_slot[x->zone] : PX_STATS_ZONE_NONE;
    int rslot = f && x->pick.region >= 0 ? f->region_slot[x->pick.region] : -1;

    px_stats_request(&w->port.stats, zslot, rslot, x->status, ms * 1000);
    px_stats_add(&w->port.stats.bytes_in, x->bytes_in);
    px_stats_add(&w->port.stats.bytes_out, x->bytes_out);
    if (x->reason != PX_REASON_NONE)
        px_stats_reason(&w->port.stats, zslot, (enum px_stats_reason)x->reason);
    if (x->pick.attempts > 1)
        px_stats_add(&w->port.stats.retries, x->pick.attempts - 1);
    /* Once per connection, after its first request was classified: by then
     * the handshake and a request/response have given the kernel samples. */
    px_stats_add(&w->port.stats.h2.requests[c->conn ? PX_STATS_H2 : PX_STATS_HTTP1], 1);
    const struct px_client *link = px_client_link(c);
    if (zoned && link->nrequests == 1 && uv_fileno((uv_handle_t *)&link->s.tcp, &fd) == 0) {
        int64_t us = px_stats_tcp_rtt_us(fd);
        if (us > 0)
            px_stats_client_rtt(&w->port.stats, zslot, (uint64_t)us);
    }
}

struct px_tls_ctx *px__worker_tls_ctx(struct px_worker *w, size_t listener)
{
    const struct px_config *cfg = w->view ? w->view->routes->fleet->snap->cfg : NULL;

    if (cfg == NULL || cfg->tls == NULL || listener >= cfg->conf->nlisten)
        return NULL;
    return cfg->tls[listener];
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
    drain_pools(w);
    close_idle_clients(w, false);
    if (w->nclients == 0 && !uv_is_closing((uv_handle_t *)&w->tick))
        worker_finish(w);
}

/* Switches to a reopened access log, after flushing into the old one. */
static void take_log(struct px_worker *w)
{
    struct px_logfile *f = atomic_exchange(&w->incoming_log, NULL);

    if (f == NULL)
        return;
    px_accesslog_flush(&w->alog);
    px_logfile_unref(w->logfile);
    w->logfile = f;
    w->alog.fd = f->fd;
}

void px_worker_reopen_log(struct px_worker *w, struct px_logfile *f)
{
    px_logfile_unref(atomic_exchange(&w->incoming_log, px_logfile_ref(f)));
    uv_async_send(&w->wake);
}

static void on_worker_wake(uv_async_t *a)
{
    struct px_worker *w = a->data;
    take_routes(w);
    take_log(w);
    if (atomic_load(&w->stop_requested))
        start_drain(w);
}

static void on_worker_tick(uv_timer_t *t)
{
    struct px_worker *w = t->data;
    px_accesslog_flush(&w->alog);
    accept_log(w); /* errors the last line did not count */
    if (++w->ticks % CACHE_TRIM_TICKS == 0) {
        px_slab_trim(&w->slabs);
        px_exchange_cache_trim(w);
        px_freelist_trim_sparse(&w->h2_mem);
    }
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

void px_worker_wait(struct px_worker *w)
{
    if (!w->joined)
        uv_thread_join(&w->thread);
    w->joined = true;
}

void px_worker_join(struct px_worker *w)
{
    px_worker_wait(w);
    /* A clean drain leaves nothing; this only catches a bug, loudly. */
    if (uv_loop_close(&w->loop) == UV_EBUSY) {
        px_log(PX_LOG_ERR, NULL, "event=worker_leak worker=%u", w->id);
        uv_walk(&w->loop, on_walk_close, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
    }
    px_slab_cache_dispose(&w->slabs);
    px_exchange_cache_dispose(w);
    px_h2_stream_cache_dispose(w);
    px_freelist_dispose(&w->h2_mem); /* after the last session */
    for (size_t i = 0; w->geo_caches && i < CONF_GEO_DB_MAX; i++)
        geo_cache_dispose(&w->geo_caches[i]);
    free(w->geo_caches);
    view_retire(w);
    px_routes_unref(atomic_exchange(&w->port.incoming_routes, NULL));
    px_logfile_unref(atomic_exchange(&w->incoming_log, NULL));
    px_logfile_unref(w->logfile);
    w->logfile = NULL;
    free(w->listeners);
    px_backend_ctx_dispose(&w->backends);
    px_stats_dispose(&w->port.stats);
}
