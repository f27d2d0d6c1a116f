/*
 * pool: a pooled connection keeps reading, so any byte or EOF from the
 * backend closes it (upstream.c) and it is never reused with unread bytes.
 * Reading stays on across reuse, too: no epoll_ctl per request. Only
 * connections made with the backend's current TLS client context are pooled:
 * a reload that replaces it drains the idle ones (worker.c) and closes the
 * busy ones here, once their request is done.
 */
#include "proxy/data/pool.h"
#include "proxy/base/px.h"
#include "proxy/data/worker.h"

void px_pool_release(struct px_upstream *u)
{
    struct px_backend *b = u->b;
    struct px_worker *w = u->w;

    px_upstream_detach(u);
    px_upstream_timer_stop(u);
    /* A connection made under a client context a reload has since replaced
     * (another CA, certificate, sni or verify) finished its request but
     * must not serve another: it was verified the old way. */
    if (w->draining || b->retired || u->tls != b->tls.ctx || px_stream_writing(&u->s) ||
        px_stream_has_input(&u->s) || b->nidle >= w->conf->limits.upstream_pool_size) {
        px_upstream_close(u);
        return;
    }
    px_stream_shrink(&u->s);
    px_http_reset(&u->resp);
    u->state = PX_UP_IDLE;
    px_list_insert_head(&b->idle, &u->node);
    b->nidle++;
    px_stream_read(&u->s, true);
    px_upstream_timer(u, w->conf->timeouts.upstream_keepalive_ms);
}

struct px_upstream *px_pool_acquire(struct px_backend *b, const struct px_upstream_ops *ops,
                                    void *data)
{
    if (px_list_empty(&b->idle))
        return NULL;
    struct px_upstream *u = px_container_of(b->idle.next, struct px_upstream, node);
    px_list_remove(&u->node);
    b->nidle--;
    px_upstream_timer_stop(u);
    u->state = PX_UP_ACTIVE;
    px_upstream_attach(u, ops, data);
    return u;
}

void px_pool_drain(struct px_backend *b)
{
    while (!px_list_empty(&b->idle))
        px_upstream_close(px_container_of(b->idle.next, struct px_upstream, node));
}
