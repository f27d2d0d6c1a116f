/*
 * client: one downstream connection. Owns its socket, its phase timer, its
 * read buffer (only while it has bytes to hold) and the exchange in flight.
 * Reads request heads, enforces the client-side timeouts, answers errors,
 * keeps the connection alive between requests, and tears it down once.
 */
#ifndef PX_CLIENT_H
#define PX_CLIENT_H

#include "proxy/base/list.h"
#include "proxy/data/slab.h"
#include "proxy/state/snapshot.h"
#include "proxy/data/timer.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct px_worker;
struct px_exchange;

enum px_client_state {
    PX_CLIENT_PROXYHDR, /* waiting for a trusted peer's PROXY protocol header */
    PX_CLIENT_HEAD,     /* waiting for or reading a request head */
    PX_CLIENT_BUSY,     /* an exchange owns the connection's I/O */
    PX_CLIENT_TUNNEL,   /* upgraded: bytes relayed both ways */
    PX_CLIENT_ERROR,    /* writing an error response, then closing */
    PX_CLIENT_CLOSING,  /* handles closing; freed in the last close callback */
};

union px_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

struct px_client {
    uv_tcp_t tcp;
    struct px_timer timer;   /* the current phase's deadline */
    struct px_worker *w;     /* borrowed */
    struct px_list node;     /* in w->clients */
    struct px_exchange *x;   /* owned; NULL between requests */
    struct px_slab *in;      /* owned; NULL when no bytes are held */
    uint32_t in_off, in_len; /* unconsumed bytes are in[in_off, in_len) */
    uint32_t nrequests;      /* requests started on this connection */
    const char *timer_phase; /* static name of the armed phase */
    union px_sockaddr peer;  /* the socket peer, or its PROXY header's source */
    struct px_geo geo;       /* last classification (cache); generation 0 = none */
    uint8_t state;           /* enum px_client_state */
    uint8_t pending_closes;  /* handles still closing */
    bool reading;            /* uv_read_start is active */
    bool close_after;        /* close once the current response is sent */
};

/*
 * Accepts one connection from SERVER into a new client of W. With
 * PROXY_PROTOCOL, a peer in trusted_proxies must start with a PROXY header.
 */
void px_client_accept(struct px_worker *w, uv_stream_t *server, bool proxy_protocol);

/*
 * Tears C down: stops reading and timers, aborts its exchange, closes its
 * handles. Idempotent; C stays valid until its last close callback, so a
 * caller may look at c->state afterwards. REASON is for the debug log.
 */
void px_client_close(struct px_client *c, const char *reason);

/* Called by the exchange when it has finished and freed itself. */
void px__client_exchange_done(struct px_client *c, bool keep_alive);

/* Starts or stops reading; idempotent. */
void px__client_read(struct px_client *c, bool on);

/* Sets the deadline of C's current phase to MS from now (armed lazily, see
 * proxy/data/timer.h); PHASE is a static string naming it for the timeout. */
void px__client_timer(struct px_client *c, uint64_t ms, const char *phase);

/* Removes the client deadline: the current phase has no time limit. */
void px__client_timer_stop(struct px_client *c);

/* Writes the textual peer address (no port) into BUF. */
void px_client_peer_ip(const struct px_client *c, char *buf, size_t cap);

/* Processes the bytes held in c->in for the current state. */
void px__client_process(struct px_client *c);

#endif
