/*
 * timer: a connection's phase deadline over one lazily armed uv timer.
 * A request moves its connections through several phases (header, upstream
 * response, keep-alive, ...), and stopping and restarting a uv timer at each
 * change costs a timer-heap removal and insertion, several per request. So
 * a phase change only records its deadline; the uv timer is re-armed only
 * when that deadline is earlier than the one it is armed for. When it fires
 * before the recorded deadline, it re-arms for what is left, and only a
 * deadline that has passed reaches the owner.
 */
#ifndef PX_TIMER_H
#define PX_TIMER_H

#include <stdint.h>
#include <uv.h>

struct px_timer {
    uv_timer_t handle;     /* data: the owner (borrowed); uv_close() it to stop for good */
    uv_timer_cb on_expire; /* the owner's handler for a deadline that passed */
    uint64_t due_ms;       /* loop time the current phase ends; 0 = no deadline */
};

/* Initializes T on LOOP with no deadline; ON_EXPIRE gets T's handle, whose
 * data is DATA. */
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

#endif
