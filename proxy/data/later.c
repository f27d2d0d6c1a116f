/*
 * later: see later.h. One idle handle per worker, started while anything is
 * due: an active idle handle keeps the next poll from blocking, so an item
 * added from any phase (a close callback included) runs on the next turn.
 */
#include "proxy/data/later.h"
#include "proxy/base/px.h"

static void on_idle(uv_idle_t *h)
{
    struct px_later *l = px_container_of(h, struct px_later, idle);
    struct px_list batch;

    /* What these runs add waits for the next turn, as a handle closed from
     * a close callback does; the queue is empty while they run, so a run
     * that ends the worker may close L. */
    px_list_move_all(&batch, &l->due);
    uv_idle_stop(h);
    while (!px_list_empty(&batch)) {
        struct px_later_item *it = px_container_of(batch.next, struct px_later_item, link);
        px_list_remove(&it->link);
        it->run(it);
    }
}

int px_later_init(struct px_later *l, uv_loop_t *loop)
{
    px_list_init(&l->due);
    return uv_idle_init(loop, &l->idle);
}

void px_later_add(struct px_later *l, struct px_later_item *it)
{
    if (px_list_empty(&l->due))
        uv_idle_start(&l->idle, on_idle);
    px_list_insert_tail(&l->due, &it->link);
}

void px_later_close(struct px_later *l, uv_close_cb cb)
{
    PX_ASSERT(px_list_empty(&l->due));
    uv_close((uv_handle_t *)&l->idle, cb);
}
