/*
 * timer: the lazy deadline behind every connection's phase timer. The
 * invariant is that a recorded deadline always has the handle armed at or
 * before it, so no timeout fires late. Where the handle is armed is asked
 * of libuv (uv_timer_get_due_in) rather than kept here: every connection
 * has one of these, and idle connections are counted in bytes.
 */
#include "proxy/data/timer.h"
#include "proxy/base/px.h"

static void on_timer_fire(uv_timer_t *h)
{
    struct px_timer *t = px_container_of(h, struct px_timer, handle);
    uint64_t now = uv_now(h->loop);

    if (t->due_ms == 0)
        return; /* the phase that armed it ended; the current one has no limit */
    if (t->due_ms > now) {
        /* A later phase moved the deadline on. */
        uv_timer_start(h, on_timer_fire, t->due_ms - now, 0);
        return;
    }
    t->due_ms = 0; /* like a fired one-shot timer: nothing armed any more */
    t->on_expire(h);
}

void px_timer_init(uv_loop_t *loop, struct px_timer *t, uv_timer_cb on_expire, void *data)
{
    t->handle.data = data; /* libuv never touches data, made or not */
    t->unmade = loop;
    t->on_expire = on_expire;
    t->due_ms = 0;
}

void px_timer_set(struct px_timer *t, uint64_t ms)
{
    if (t->unmade) {
        void *data = t->handle.data;
        uv_timer_init(t->unmade, &t->handle); /* cannot fail */
        t->handle.data = data;
        t->unmade = NULL;
    }
    t->due_ms = uv_now(t->handle.loop) + ms;
    /* Only an earlier deadline needs the handle moved; a later one is
     * picked up when the handle fires. */
    if (!uv_is_active((uv_handle_t *)&t->handle) || ms < uv_timer_get_due_in(&t->handle))
        uv_timer_start(&t->handle, on_timer_fire, ms, 0);
}

bool px_timer_close(struct px_timer *t, uv_close_cb cb)
{
    t->due_ms = 0;
    if (t->unmade)
        return false;
    uv_close((uv_handle_t *)&t->handle, cb);
    return true;
}
