/*
 * pool: idle keep-alive connections per backend per worker. LIFO, so the
 * warmest connection is reused first and the coldest ones age out through
 * upstream_keepalive. A pooled connection keeps reading: any byte or EOF
 * from the backend closes it (upstream.c), so it is never reused with
 * unread bytes.
 */
#include "proxy/base/px.h"
#include "proxy/data/upstream.h"
#include "proxy/data/worker.h"

void px_upstream_release(struct px_upstream *u)
{
    struct px_backend *b = u->b;
    struct px_worker *w = u->w;

    u->x = NULL;
    px_upstream_timer_stop(u);
    if (w->draining || b->retired || u->writing || u->in_off != u->in_len ||
        b->nidle >= w->conf->limits.upstream_pool_size) {
        px_upstream_close(u);
        return;
    }
    px_slab_put(&w->slabs, u->in);
    u->in = NULL;
    u->in_off = u->in_len = 0;
    px_http_reset(&u->resp);
    u->state = PX_UP_IDLE;
    px_list_insert_head(&b->idle, &u->node);
    b->nidle++;
    px_upstream_read(u, true);
    px_upstream_timer(u, w->conf->timeouts.upstream_keepalive_ms);
}

struct px_upstream *px_upstream_from_pool(struct px_backend *b, struct px_exchange *x)
{
    if (px_list_empty(&b->idle))
        return NULL;
    struct px_upstream *u = px_container_of(b->idle.next, struct px_upstream, node);
    px_list_remove(&u->node);
    b->nidle--;
    px_upstream_timer_stop(u);
    u->state = PX_UP_ACTIVE; /* reading stays on: no epoll_ctl per reuse */
    u->x = x;
    return u;
}

void px_upstream_pool_drain(struct px_backend *b)
{
    while (!px_list_empty(&b->idle))
        px_upstream_close(px_container_of(b->idle.next, struct px_upstream, node));
}
