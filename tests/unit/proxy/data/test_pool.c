/*
 * Unit tests of proxy/data/pool.c: idle connections come back LIFO and
 * attached to their new user, a full pool, a retired backend, a draining
 * worker or unread bytes close the connection instead, and draining closes
 * every idle one. The upstreams are real (unconnected) handles on a loop.
 */
#include "tests/unit/test.h"
#include "proxy/data/pool.h"
#include "proxy/data/backend.h"
#include "proxy/data/worker.h"

#include <stdlib.h>
#include <string.h>

static struct px_upstream *fake_upstream(struct px_worker *w, struct px_backend *b)
{
    static const struct px_stream_ops none;
    struct px_upstream *u = calloc(1, sizeof(*u));
    if (u == NULL || px_http_init(&u->resp, PX_HTTP_RESPONSE, u, 4096, 16) != 0 ||
        px_stream_init(&u->s, &w->loop, &w->slabs, &none, u) != 0)
        abort();
    /* The real stream ops live in upstream.c; a pooled connection here never
     * reads (its socket is not connected), so none are needed. */
    u->w = w;
    u->b = b;
    px_backend_ref(b);
    px_list_init(&u->node);
    px_timer_init(&w->loop, &u->timer, NULL, u);
    u->state = PX_UP_ACTIVE;
    return u;
}

static const struct px_upstream_ops user_ops;

TEST(pool_lifo_limits_and_drain)
{
    struct conf cf;
    struct px_backend b;
    static struct px_worker w;
    struct px_upstream *u[4];
    int user;

    memset(&w, 0, sizeof(w));
    memset(&cf, 0, sizeof(cf));
    memset(&b, 0, sizeof(b));
    cf.limits.upstream_pool_size = 2;
    cf.timeouts.upstream_keepalive_ms = 60000;
    w.conf = &cf;
    w.slabs.r.keep = 4;
    ASSERT_OK(uv_loop_init(&w.loop));
    px_list_init(&b.idle);
    b.refs = 1; /* the test's own: never freed */

    for (int i = 0; i < 4; i++)
        u[i] = fake_upstream(&w, &b);
    px_pool_release(u[0]);
    px_pool_release(u[1]);
    ASSERT_EQ(b.nidle, 2);
    ASSERT_EQ(u[1]->state, PX_UP_IDLE);
    ASSERT_NULL(u[1]->ops);
    px_pool_release(u[2]); /* pool full */
    ASSERT_EQ(u[2]->state, PX_UP_CLOSING);
    ASSERT_EQ(b.nidle, 2);

    /* LIFO: the warmest first, attached to its new user. */
    ASSERT_PTR_EQ(px_pool_acquire(&b, &user_ops, &user), u[1]);
    ASSERT_EQ(u[1]->state, PX_UP_ACTIVE);
    ASSERT_PTR_EQ(u[1]->ops, &user_ops);
    ASSERT_PTR_EQ(u[1]->data, &user);
    ASSERT_PTR_EQ(px_pool_acquire(&b, &user_ops, &user), u[0]);
    ASSERT_NULL(px_pool_acquire(&b, &user_ops, &user));

    /* Unread bytes: never reused. */
    u[0]->s.in = px_slab_get(&w.slabs);
    u[0]->s.in_len = 3;
    px_pool_release(u[0]);
    ASSERT_EQ(u[0]->state, PX_UP_CLOSING);

    /* A retired backend's connection closes when released. */
    b.retired = true;
    px_pool_release(u[1]);
    ASSERT_EQ(u[1]->state, PX_UP_CLOSING);
    b.retired = false;

    /* Drain closes what is idle. */
    px_pool_release(u[3]);
    ASSERT_EQ(b.nidle, 1);
    px_pool_drain(&b);
    ASSERT_EQ(b.nidle, 0);
    ASSERT_EQ(u[3]->state, PX_UP_CLOSING);

    uv_run(&w.loop, UV_RUN_DEFAULT); /* close callbacks free them */
    ASSERT_EQ(b.refs, 1);
    ASSERT_EQ(px_stats_get(&w.port.stats.upstream_closed), 4);
    ASSERT_OK(uv_loop_close(&w.loop));
    px_slab_cache_dispose(&w.slabs);
}
