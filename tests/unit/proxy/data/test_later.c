/*
 * Unit tests of proxy/data/later.c on a real uv loop: items run on the next
 * turn and in the order added, never from px_later_add itself; an item a
 * run adds waits for the turn after; a loop with items due does not block;
 * and the handle closes with the loop.
 */
#include "tests/unit/test.h"
#include "proxy/data/later.h"
#include "proxy/base/px.h"

struct item {
    struct px_later_item it;
    struct px_later *l;
    int id;
    struct item *then; /* added by this one's run, or NULL */
};

static int order[8];
static unsigned nrun;

static void on_run(struct px_later_item *it)
{
    struct item *i = px_container_of(it, struct item, it);
    order[nrun++] = i->id;
    if (i->then)
        px_later_add(i->l, &i->then->it);
}

static void on_closed(uv_handle_t *h)
{
    (*(unsigned *)h->data)++;
}

TEST(later_runs_items_on_the_next_turn_in_order)
{
    uv_loop_t loop;
    struct px_later l;
    struct item c = {.it.run = on_run, .l = &l, .id = 3};
    struct item a = {.it.run = on_run, .l = &l, .id = 1, .then = &c};
    struct item b = {.it.run = on_run, .l = &l, .id = 2};
    unsigned closed = 0;

    nrun = 0;
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_OK(px_later_init(&l, &loop));
    l.idle.data = &closed;
    px_later_add(&l, &a.it);
    px_later_add(&l, &b.it);
    ASSERT_EQ(nrun, 0); /* never at once */
    /* One turn that would block on an empty loop: items due keep it from blocking. */
    uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ(nrun, 2);
    ASSERT_EQ(order[0], 1);
    ASSERT_EQ(order[1], 2); /* c, added by a's run, waits a turn */
    uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ(nrun, 3);
    ASSERT_EQ(order[2], 3);
    ASSERT(!uv_is_active((uv_handle_t *)&l.idle)); /* nothing due: idle, the loop may block */
    px_later_close(&l, on_closed);
    ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
    ASSERT_EQ(closed, 1);
    ASSERT_OK(uv_loop_close(&loop));
}
