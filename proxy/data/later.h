/*
 * later: work run on the next turn of a worker's loop, for things that close
 * as handles do (their close callback never runs at once) without being a
 * libuv handle. An HTTP/2 stream's client is one: it has no socket, and a
 * uv_tcp_t made only to be closed cost a handle-queue insertion and removal
 * and a close callback per request.
 */
#ifndef PX_LATER_H
#define PX_LATER_H

#include "proxy/base/list.h"

#include <uv.h>

struct px_later_item {
    struct px_list link; /* in the queue while due */
    void (*run)(struct px_later_item *it);
};

struct px_later {
    uv_idle_t idle;     /* active while items are due: the loop then does not block */
    struct px_list due; /* struct px_later_item, in the order they were added */
};

/* Initializes L on LOOP. Returns 0 or a libuv error. */
int px_later_init(struct px_later *l, uv_loop_t *loop);

/* IT->run(IT) on the next loop turn, not now. IT must not be queued already. */
void px_later_add(struct px_later *l, struct px_later_item *it);

/* Closes L's handle (CB gets it, data untouched); nothing may be due. */
void px_later_close(struct px_later *l, uv_close_cb cb);

#endif
