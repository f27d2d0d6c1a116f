/*
 * upstream: one connection to a backend. Owns its socket, its phase timer,
 * its read buffer and its response parser (reused across the requests it
 * serves). It is attached to at most one exchange at a time, or idle in its
 * backend's pool (proxy/data/pool.c), or closing.
 */
#ifndef PX_UPSTREAM_H
#define PX_UPSTREAM_H

#include "proxy/proto/http1.h"
#include "proxy/base/list.h"
#include "proxy/data/slab.h"
#include "proxy/data/timer.h"

#include <stdbool.h>
#include <uv.h>

struct px_worker;
struct px_backend;
struct px_exchange;

enum px_upstream_state {
    PX_UP_CONNECTING,
    PX_UP_ACTIVE, /* attached to an exchange */
    PX_UP_IDLE,   /* in the pool */
    PX_UP_CLOSING,
};

struct px_upstream {
    uv_tcp_t tcp;
    struct px_timer timer; /* the current phase's deadline */
    uv_connect_t connect_req;
    uv_write_t wreq;       /* the one write in flight */
    struct px_worker *w;   /* borrowed */
    struct px_backend *b;  /* one reference (px_backend_ref) */
    struct px_exchange *x; /* borrowed; set while attached */
    struct px_list node;   /* in b->idle while pooled */
    struct px_http resp;   /* response parser + head */
    struct px_slab *in;    /* owned; NULL when no bytes are held */
    uint32_t in_off, in_len;
    uint32_t nrequests; /* requests sent on this connection */
    uint8_t state;
    uint8_t pending_closes;
    bool reading;
    bool writing; /* wreq in flight */
};

/*
 * Starts connecting to B for exchange X. Returns a new upstream (owned by the
 * pool/exchange protocol) or NULL with *err set (libuv code). The outcome is
 * reported through px__exchange_upstream_ready(); never synchronously.
 */
struct px_upstream *px_upstream_connect(struct px_worker *w, struct px_backend *b,
                                        struct px_exchange *x, int *err);

/* Closes U (idempotent); frees it in its last close callback. */
void px_upstream_close(struct px_upstream *u);

/* Starts or stops reading; idempotent. */
void px_upstream_read(struct px_upstream *u, bool on);

/* Sets the deadline of U's current phase to MS from now (armed lazily, see
 * proxy/data/timer.h); its expiry is reported to the exchange or pool. */
void px_upstream_timer(struct px_upstream *u, uint64_t ms);

/* Removes U's deadline: the current phase has no time limit. */
void px_upstream_timer_stop(struct px_upstream *u);

/*
 * Writes BUFS to U: synchronously when the socket takes it all (returns 1),
 * else queues the rest and returns 0; px__exchange_upstream_written() follows.
 * Returns a negative libuv error when the socket failed.
 */
int px_upstream_write(struct px_upstream *u, uv_buf_t *bufs, unsigned nbufs);

/* Puts U, which finished a response cleanly, into its backend's pool, or
 * closes it when the pool is full or the worker drains. */
void px_upstream_release(struct px_upstream *u);

/* Takes the most recently pooled connection of B, or NULL. */
struct px_upstream *px_upstream_from_pool(struct px_backend *b, struct px_exchange *x);

/* Closes every pooled connection of B. */
void px_upstream_pool_drain(struct px_backend *b);

/*
 * Writes BUFS to STREAM with one uv_try_write and queues what is left with
 * uv_write(REQ, CB). Returns 1 when all was written, 0 when queued, or a
 * negative libuv error (CB is then never called).
 */
int px_stream_write(uv_stream_t *stream, uv_write_t *req, uv_buf_t *bufs, unsigned nbufs,
                    uv_write_cb cb);

#endif
