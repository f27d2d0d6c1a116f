/*
 * worker: one thread, one uv loop, its own SO_REUSEPORT listeners, clients,
 * upstream pools, buffers and access log. Workers share only the immutable
 * config and one atomic connection count, so the request path takes no lock.
 */
#ifndef PX_WORKER_H
#define PX_WORKER_H

#include "conf/conf.h"
#include "proxy/base/freelist.h"
#include "proxy/base/list.h"
#include "proxy/base/log.h"
#include "proxy/base/reserve.h"
#include "proxy/base/rng.h"
#include "proxy/data/backend.h"
#include "proxy/data/later.h"
#include "proxy/data/listener.h"
#include "proxy/data/slab.h"
#include "proxy/state/port.h"
#include "proxy/state/snapshot.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

/*
 * A worker's view of one fleet: the latest routing table decided on it and
 * this worker's px_backend for each of its backends, in the fleet's order.
 * Exchanges count themselves in `users` (plain integer: one thread), so a
 * request never pays for an atomic; a retired view (its fleet replaced) is
 * freed once no exchange uses it. Exchanges pick backends through their own
 * view, so every index they hold stays valid across a reload.
 */
struct px_wview {
    struct px_routes *routes; /* one reference: the latest table of this fleet */
    struct px_backend **bk;   /* routes->nbackends, one reference each */
    unsigned users;           /* exchanges started under it */
    bool retired;             /* replaced by a view of a newer fleet */
};

/*
 * One listening socket of a worker, watched for readability: the worker
 * accepts by itself so that it can pause accepting (proxy/data/listener.h).
 * A uv_poll_t does not own its fd, so the fd closes in the handle's close
 * callback, once the loop no longer watches it.
 */
struct px_wlistener {
    uv_poll_t poll;
    int fd;              /* owned */
    size_t index;        /* its listen address: index in conf->listen */
    struct px_worker *w; /* borrowed */
};

struct px_worker {
    uv_loop_t loop;
    struct px_port port; /* routes in; signals and stats out (the control thread's side) */
    unsigned id;
    struct px_process *proc; /* borrowed */
    const struct conf *conf; /* borrowed: the current view's config (a new fleet repoints it) */

    struct px_wlistener *listeners; /* owned array, nlisteners */
    size_t nlisteners;
    uv_timer_t accept_timer;       /* ends a pause of accepting */
    struct px_accept_guard accept; /* accept errors: pause length, log line owed */
    bool accept_paused;            /* listeners unwatched until accept_timer fires */
    unsigned pending_closes;       /* listener/worker handles still closing */

    uv_async_t wake;       /* main thread → worker: start draining */
    uv_timer_t tick;       /* access-log flush, slab trim and drain deadline */
    unsigned ticks;        /* ... how many have fired */
    struct px_later later; /* HTTP/2 stream clients' closes completing */
    atomic_bool stop_requested;
    struct px_wview *view;        /* owned: the current fleet and routes; NULL until the first */
    struct geo_cache *geo_caches; /* owned, CONF_GEO_DB_MAX decoded-record caches */

    struct px_slab_cache slabs;
    struct px_list clients; /* every open px_client */
    unsigned nclients;

    struct px_rng rng;              /* balancer and route draws */
    struct px_backend_ctx backends; /* proxy/data/backend.c's: peer scratch, retry budget */
    struct px_exchange *spare;      /* proxy/data/exchange.c's: reset exchanges for reuse */
    struct px_reserve spares;       /* ... how many, and how many went unused */
    struct px_h2s *h2_spare;        /* proxy/data/h2conn.c's: finished HTTP/2 streams */
    unsigned nh2_spare;             /* ... how many */
    struct px_freelist h2_mem;      /* HTTP/2 sessions' and nghttp2's memory (h2conn.c) */

    struct px_accesslog alog;
    struct px_logfile *logfile; /* one reference: the file alog writes to; NULL when off */
    _Atomic(struct px_logfile *) incoming_log; /* reopened (SIGUSR1), not yet taken; one ref */
    char rid_prefix[17]; /* random per worker: generated request ids are prefix-counter */
    uint64_t rid_next;

    unsigned tls_handshakes; /* TLS handshakes in progress, against limits.max_tls_handshakes */
    bool draining;
    uint64_t drain_deadline_ms;
    uv_thread_t thread;
    bool joined; /* thread ended and joined */
};

/*
 * Prepares W (loop, listeners from FDS, stats with NZSLOTS x NRSLOTS zone
 * and region slots). FDS are bound listening sockets the worker takes over,
 * in rounds of one per listen address (NFDS is a multiple of conf->nlisten:
 * more than one round after a takeover from a process with more workers).
 * W serves once the control thread has published its first routing table
 * (which brings the fleet and config). Returns 0, PX_ENOMEM or a negative libuv error.
 */
int px_worker_init(struct px_worker *w, unsigned id, struct px_process *proc, size_t nzslots,
                   size_t nrslots, const int *fds, size_t nfds);

/* Starts W's thread. Returns 0 or a negative libuv error. */
int px_worker_start(struct px_worker *w);

/* Asks W, from any thread, to stop accepting and drain. */
void px_worker_stop(struct px_worker *w);

/*
 * Hands W, from any thread, the reopened access log F (W takes its own
 * reference): W flushes what it buffered into its old file and switches on
 * its next loop turn, then drops the old file, which closes with the last
 * worker's reference. A file W has not taken yet is replaced.
 */
void px_worker_reopen_log(struct px_worker *w, struct px_logfile *f);

/* Waits for W's thread to end; its loop and memory stay until px_worker_join. */
void px_worker_wait(struct px_worker *w);

/* Waits for W's thread to end (unless px_worker_wait did) and frees what W owns. */
void px_worker_join(struct px_worker *w);

/* Takes a hold on W's current view for one exchange; NULL when W has none yet. */
struct px_wview *px_worker_view_hold(struct px_worker *w);

/* Releases a hold taken with px_worker_view_hold(). Accepts NULL. */
void px_worker_view_release(struct px_wview *v);

struct px_client;
struct px_exchange;

/*
 * Counts the finished exchange X of client C in W's stats: status class and
 * duration by zone and region, retries, and for a connection's first
 * request the client's TCP RTT (one getsockopt per connection).
 */
void px__worker_count_exchange(struct px_worker *w, struct px_client *c,
                               const struct px_exchange *x);

/* Called by client.c when a client connection is gone. */
void px__worker_client_gone(struct px_worker *w);

struct px_tls_ctx;
/* The TLS context new connections of W's listener LISTENER take (the
 * current view's, so a reload's certificates serve new connections);
 * NULL for a plain listener or before W has a view. */
struct px_tls_ctx *px__worker_tls_ctx(struct px_worker *w, size_t listener);

#endif
