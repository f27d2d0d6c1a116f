/*
 * upstream: one connection to a backend. Owns its stream (socket, read
 * buffer, write in flight), its phase timer, its connect request and its
 * response parser (reused across the requests it serves). It is attached to
 * at most one user at a time (an exchange, then maybe a tunnel), which hears
 * its events through a struct px_upstream_ops, or idle in its backend's pool
 * (proxy/data/pool.h), or closing.
 */
#ifndef PX_UPSTREAM_H
#define PX_UPSTREAM_H

#include "proxy/proto/http1.h"
#include "proxy/base/list.h"
#include "proxy/data/stream.h"
#include "proxy/data/timer.h"

#include <stdbool.h>
#include <uv.h>

struct px_worker;
struct px_backend;
struct px_upstream;

enum px_upstream_state {
    PX_UP_CONNECTING,
    PX_UP_ACTIVE, /* attached to a user */
    PX_UP_IDLE,   /* in the pool */
    PX_UP_CLOSING,
};

/* What an upstream's user hears. None runs synchronously from the call that
 * caused it; none runs once the user detached (px_upstream_detach). */
struct px_upstream_ops {
    void (*on_connect)(struct px_upstream *u, int status); /* 0 or a libuv error */
    void (*on_read)(struct px_upstream *u, int err);       /* as px_stream_ops.on_read */
    void (*on_written)(struct px_upstream *u, int status); /* as px_stream_ops.on_written */
    void (*on_timeout)(struct px_upstream *u);             /* the phase deadline passed */
};

struct px_upstream {
    struct px_stream s;                /* s.tcp.data = this */
    struct px_timer timer;             /* the current phase's deadline */
    uv_connect_t connect_req;          /* a TLS backend's (plain ones connect in sock_stream.c) */
    struct px_worker *w;               /* borrowed */
    struct px_backend *b;              /* one reference (px_backend_ref) */
    const struct px_upstream_ops *ops; /* the user's callbacks; NULL while unattached */
    void *data;                        /* borrowed: the user */
    struct px_list node;               /* in b->idle while pooled */
    struct px_http resp;               /* response parser + head */
    /* The client context the TLS handshake started from, or NULL for plain
     * TCP. Borrowed: the stream holds a reference as long as U lives, so it
     * can be compared with the backend's current one (a reload replaces it). */
    struct px_tls_client *tls;
    uint32_t nrequests; /* requests sent on this connection */
    uint8_t state;      /* enum px_upstream_state */
    uint8_t pending_closes;
    bool handshaking; /* the TLS handshake is under way: its end is counted once */
};

/*
 * Starts connecting to B for the user DATA with OPS. Returns a new upstream
 * (closed by px_upstream_close or handed to the pool) or NULL with *err set
 * (libuv code or PX_ENOMEM). The outcome is reported through
 * ops->on_connect, never synchronously.
 */
struct px_upstream *px_upstream_connect(struct px_worker *w, struct px_backend *b,
                                        const struct px_upstream_ops *ops, void *data, int *err);

/* Attaches U to the user DATA with OPS (a pooled connection, or a tunnel
 * taking over). */
static inline void px_upstream_attach(struct px_upstream *u, const struct px_upstream_ops *ops,
                                      void *data)
{
    u->ops = ops;
    u->data = data;
}

/* Detaches U's user: it hears nothing more. */
static inline void px_upstream_detach(struct px_upstream *u)
{
    u->ops = NULL;
    u->data = NULL;
}

/* Closes U (idempotent); frees it in its last close callback. */
void px_upstream_close(struct px_upstream *u);

/* Sets the deadline of U's current phase to MS from now (armed lazily, see
 * proxy/data/timer.h); its expiry goes to the user, or closes a pooled U. */
void px_upstream_timer(struct px_upstream *u, uint64_t ms);

/* Removes U's deadline: the current phase has no time limit. */
void px_upstream_timer_stop(struct px_upstream *u);

#endif
