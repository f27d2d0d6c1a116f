/*
 * Unit tests of proxy/data/timer.c on a real uv loop: a later deadline does not
 * move the armed handle but is still honoured, an earlier one moves it, a
 * cleared deadline never reaches the owner, closing leaves a loop that
 * closes with 0, and a timer that never had a deadline has no handle to close.
 */
#include "tests/unit/test.h"
#include "proxy/data/timer.h"

struct owner {
    uv_loop_t loop;
    struct px_timer t;
    unsigned expired;    /* on_expire calls */
    unsigned closed;     /* close callbacks */
    uint64_t expired_at; /* loop time of the last one */
};

static void on_owner_expire(uv_timer_t *h)
{
    struct owner *o = h->data;
    o->expired++;
    o->expired_at = uv_now(&o->loop);
}

static void owner_init(struct owner *o)
{
    memset(o, 0, sizeof(*o));
    ASSERT_OK(uv_loop_init(&o->loop));
    px_timer_init(&o->loop, &o->t, on_owner_expire, o);
}

static void on_owner_closed(uv_handle_t *h)
{
    struct owner *o = h->data;
    o->closed++;
}

/* Closes the timer the way an owner does, and checks nothing is left. */
static void owner_close(struct owner *o)
{
    ASSERT(px_timer_close(&o->t, on_owner_closed));
    ASSERT_EQ(o->closed, 0); /* a close callback never runs at once */
    ASSERT_OK(uv_run(&o->loop, UV_RUN_DEFAULT));
    ASSERT_EQ(o->closed, 1);
    ASSERT_OK(uv_loop_close(&o->loop));
}

TEST(timer_later_deadline_keeps_handle_and_is_honoured)
{
    struct owner o;
    owner_init(&o);
    px_timer_set(&o.t, 10);
    px_timer_set(&o.t, 40);
    ASSERT_EQ(uv_timer_get_due_in(&o.t.handle), 10); /* not re-armed */
    uint64_t due = o.t.due_ms;
    ASSERT_OK(uv_run(&o.loop, UV_RUN_DEFAULT)); /* fires early, re-arms, expires */
    ASSERT_EQ(o.expired, 1);
    ASSERT_GE(o.expired_at, due);
    ASSERT_EQ(o.t.due_ms, 0);
    owner_close(&o);
}

TEST(timer_earlier_deadline_rearms)
{
    struct owner o;
    owner_init(&o);
    px_timer_set(&o.t, 5000);
    px_timer_set(&o.t, 10);
    ASSERT_EQ(uv_timer_get_due_in(&o.t.handle), 10);
    uint64_t due = o.t.due_ms;
    ASSERT_OK(uv_run(&o.loop, UV_RUN_DEFAULT)); /* well before the 5 s one */
    ASSERT_EQ(o.expired, 1);
    ASSERT_GE(o.expired_at, due);
    owner_close(&o);
}

TEST(timer_cleared_deadline_never_expires)
{
    struct owner o;
    owner_init(&o);
    px_timer_set(&o.t, 10);
    px_timer_clear(&o.t);
    ASSERT_OK(uv_run(&o.loop, UV_RUN_DEFAULT)); /* the handle fires once, idle after */
    ASSERT_EQ(o.expired, 0);
    ASSERT(!uv_is_active((uv_handle_t *)&o.t.handle));
    px_timer_set(&o.t, 10); /* and it can be set again */
    ASSERT_OK(uv_run(&o.loop, UV_RUN_DEFAULT));
    ASSERT_EQ(o.expired, 1);
    owner_close(&o);
}

TEST(timer_close_while_armed)
{
    struct owner o;
    owner_init(&o);
    px_timer_set(&o.t, 10);
    owner_close(&o); /* closing stops it: no expiry, nothing left on the loop */
    ASSERT_EQ(o.expired, 0);
}

TEST(timer_without_deadline_has_no_handle)
{
    struct owner o;
    owner_init(&o);
    px_timer_clear(&o.t);
    ASSERT(!px_timer_close(&o.t, on_owner_closed)); /* no handle: no callback owed */
    ASSERT_OK(uv_run(&o.loop, UV_RUN_DEFAULT));
    ASSERT_EQ(o.closed, 0);
    ASSERT_EQ(o.expired, 0);
    ASSERT_OK(uv_loop_close(&o.loop)); /* nothing was ever put on the loop */
}

TEST(timer_first_deadline_makes_the_handle)
{
    struct owner o;
    owner_init(&o);
    ASSERT(!uv_loop_alive(&o.loop));
    px_timer_set(&o.t, 10);
    ASSERT(uv_is_active((uv_handle_t *)&o.t.handle));
    ASSERT(o.t.handle.data == &o); /* the owner survives the handle being made */
    ASSERT_OK(uv_run(&o.loop, UV_RUN_DEFAULT));
    ASSERT_EQ(o.expired, 1);
    owner_close(&o);
}
