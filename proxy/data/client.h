/*
 * client: one downstream connection. Owns its stream (socket, read buffer
 * only while it has bytes to hold, write in flight), its phase timer and the
 * exchange in flight.
 * Reads request heads, enforces the client-side timeouts, answers errors,
 * keeps the connection alive between requests, and tears it down once.
 */
#ifndef PX_CLIENT_H
#define PX_CLIENT_H

#include "proxy/base/list.h"
#include "proxy/state/snapshot.h"
#include "proxy/data/stream.h"
#include "proxy/data/timer.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct px_worker;
struct px_exchange;
struct px_h2conn;

enum px_client_state {
    PX_CLIENT_PROXYHDR, /* waiting for a trusted peer's PROXY protocol header */
    PX_CLIENT_HEAD,     /* waiting for or reading a request head */
    PX_CLIENT_BUSY,     /* an exchange owns the connection's I/O */
    PX_CLIENT_TUNNEL,   /* upgraded: bytes relayed both ways */
    PX_CLIENT_H2,       /* an HTTP/2 connection: its streams are clients (h2conn.h) */
    PX_CLIENT_ERROR,    /* writing an error response, then closing */
    PX_CLIENT_CLOSING,  /* handles closing; freed in the last close callback */
};

/* What the client timer is measuring; px_client_phase_names[] names each
 * for the close reason. */
enum px_client_phase {
    PX_PHASE_HEADER,      /* from accept or a request's first byte to its head */
    PX_PHASE_KEEPALIVE,   /* idle between requests */
    PX_PHASE_BODY,        /* gaps while reading a request body */
    PX_PHASE_SEND,        /* a write to the client is queued */
    PX_PHASE_TUNNEL_IDLE, /* no byte either way through a tunnel */
    PX_PHASE_TLS,         /* from accept to the end of the TLS handshake */
    PX_PHASE_H2_IDLE,     /* an HTTP/2 connection with no stream open */
    PX_PHASE_H2_LINGER,   /* after a GOAWAY for an error: reading, discarding */
};

extern const char *const px_client_phase_names[];

union px_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

struct px_client {
    struct px_stream s;         /* socket, read buffer, write in flight; s.tcp.data = this */
    struct px_timer timer;      /* the current phase's deadline */
    struct px_worker *w;        /* borrowed */
    struct px_list node;        /* in w->clients */
    struct px_exchange *x;      /* owned; NULL between requests */
    uint32_t nrequests;         /* requests started on this connection */
    union px_sockaddr peer;     /* the socket peer, or its PROXY header's source */
    union px_sockaddr sock;     /* the socket peer, for the log */
    struct px_geo geo;          /* last classification (cache); generation 0 = none */
    uint8_t state;              /* enum px_client_state */
    uint8_t phase;              /* enum px_client_phase of the armed deadline */
    uint32_t pending_closes;    /* handles (and, on HTTP/2, stream clients) still closing */
    bool close_after;           /* close once the current response is sent */
    bool proxy_unknown;         /* PROXY UNKNOWN or LOCAL: the balancer vouched for nobody */
    bool tls;                   /* accepted on a TLS listener */
    bool handshaking;           /* counted in w->tls_handshakes */
    bool h2c;                   /* the listener takes HTTP/2 with prior knowledge */
    struct px_tls_ctx *tls_ctx; /* one reference while a PROXY header precedes the handshake */
    struct px_h2conn *h2;       /* owned: the HTTP/2 session of a PX_CLIENT_H2 connection */
    struct px_client *conn;     /* borrowed: a stream client's connection; NULL otherwise */
    uint32_t stream_id;         /* a stream client's HTTP/2 stream */
};

/* The connection C's bytes travel on: C itself, or a stream client's
 * HTTP/2 connection (for its socket, its TLS facts, its RTT). */
static inline const struct px_client *px_client_link(const struct px_client *c)
{
    return c->conn ? c->conn : c;
}
/*
 * Makes FD, a connection accepted on W's listener for listen address
 * LISTENER, a new client of W (which owns FD from then on). A peer the
 * listener's PROXY trust list names must start with a PROXY header; on a
 * TLS listener the handshake follows it. Over the connection caps it gets
 * a 503 and is closed; over limits.max_tls_handshakes handshakes in
 * progress on W, a new TLS connection is closed at once. Returns 0, or
 * PX_ENOMEM when there was no memory for a client (FD is closed).
 */
int px_client_accept(struct px_worker *w, int fd, size_t listener);

/*
 * Appends the TLS facts of C's connection to BUF in FMT: PX_TLS_LOGFMT for
 * the access log (" tls=TLSv1.3 cipher=.. sni=\"..\" resumed=1 tls_ms=3"),
 * PX_TLS_EXPLAIN for the explain header ("; tls=TLSv1.3 .."). Returns the
 * length (0 on a plain connection).
 */
enum px_tls_fmt { PX_TLS_LOGFMT, PX_TLS_EXPLAIN };
#define PX_CLIENT_TLS_FACTS_BYTES 768 /* room for the longest (an escaped 255-byte SNI) */
size_t px_client_tls_facts(const struct px_client *c, enum px_tls_fmt fmt, char *buf, size_t cap);

/*
 * Tears C down: stops reading and timers, aborts its exchange, closes its
 * handles. Idempotent; C stays valid until its last close callback, so a
 * caller may look at c->state afterwards. REASON is for the debug log.
 */
void px_client_close(struct px_client *c, const char *reason);

/*
 * Initializes C as a stream client of CONN: one request over transport TP
 * (data TP_DATA) instead of a socket, with CONN's peer, TLS and trust, and
 * closed once its response is sent. C gets no libuv handle until a deadline
 * needs its timer: TP's close runs its callback itself, on a later turn
 * (px_stream_init_memory).
 */
void px__client_init_stream(struct px_client *c, struct px_client *conn,
                            const struct px_transport *tp, void *tp_data);

/* One of the closes C waits for is done; the last one frees C. */
void px__client_release(struct px_client *c);

/* Called by the exchange when it has finished: C frees it and reads the
 * next request, or closes unless KEEP_ALIVE. */
void px__client_exchange_done(struct px_client *c, bool keep_alive);

/* Sets the deadline of C's current PHASE to MS from now (armed lazily, see
 * proxy/data/timer.h). */
void px__client_timer(struct px_client *c, uint64_t ms, enum px_client_phase phase);

/* Removes the client deadline: the current phase has no time limit. */
void px__client_timer_stop(struct px_client *c);

/* Writes the textual peer address (no port) into BUF. */
void px_client_peer_ip(const struct px_client *c, char *buf, size_t cap);

/* Starts C's next exchange (c->x, which must be NULL) and counts the
 * request. Returns it, or NULL when out of memory. */
struct px_exchange *px__client_begin_exchange(struct px_client *c);

/* Processes the bytes held in c->s.in for the current state. */
void px__client_process(struct px_client *c);

#endif
