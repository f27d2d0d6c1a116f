/*
 * timer: a connection's phase deadline over one lazily armed uv timer.
 * A request moves its connections through several phases (header, upstream
 * response, keep-alive, ...), and stopping and restarting a uv timer at each
 * change costs a timer-heap removal and insertion, several per request. So
 * a phase change only records its deadline; the uv timer is re-armed only
 * when that deadline is earlier than the one it is armed for. When it fires
 * before the recorded deadline, it re-arms for what is left, and only a
 * deadline that has passed reaches the owner.
 *
 * The handle itself is made by the first deadline: most HTTP/2 streams
 * never have one, and a handle costs an insertion into and a removal from
 * the loop's handle queue, and a close callback, each time.
 */
#ifndef PX_TIMER_H
#define PX_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct px_timer {
    uv_timer_t handle;     /* data: the owner (borrowed); made by the first deadline */
    uv_loop_t *unmade;     /* the loop the handle goes on, until it is made; then NULL */
    uv_timer_cb on_expire; /* the owner's handler for a deadline that passed */
    uint64_t due_ms;       /* loop time the current phase ends; 0 = no deadline */
};

/* Initializes T for LOOP with no deadline; ON_EXPIRE gets T's handle, whose
 * data is DATA. Allocates nothing and touches no loop. */
void px_timer_init(uv_loop_t *loop, struct px_timer *t, uv_timer_cb on_expire, void *data);

/* Sets T's deadline to MS (> 0) from the loop's current time, replacing any
 * earlier or later one. ON_EXPIRE never runs synchronously. */
void px_timer_set(struct px_timer *t, uint64_t ms);

/* Removes T's deadline: the phase has no time limit. The handle may still
 * fire once, harmlessly. */
static inline void px_timer_clear(struct px_timer *t)
{
    t->due_ms = 0;
}

/* Stops T for good. Returns true when CB will run with T's handle (the
 * handle was made: it closes like any handle), false when T never had one
 * (CB never runs). */
bool px_timer_close(struct px_timer *t, uv_close_cb cb);

#endif
