/*
 * exchange: one request and its response, relayed between a client and an
 * upstream. Owns the request parser and head, the serialized heads, the
 * client-side write request, and the upstream while attached. Chooses the
 * backend, connects or reuses a pooled connection, retries when safe, streams
 * both bodies with backpressure, and writes the access-log line.
 */
#ifndef PX_EXCHANGE_H
#define PX_EXCHANGE_H

#include "proxy/proto/http1.h"
#include "proxy/state/routes.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct px_client;
struct px_upstream;
struct px_backend;

#define PX_SPARE_EXCHANGES 64 /* reset exchanges a worker keeps for reuse */

struct px_exchange {
    struct px_exchange *next_spare; /* worker's spare list while unused */
    struct px_client *c;            /* borrowed back-pointer */
    struct px_upstream *up;         /* owned while attached */
    struct px_backend *backend;     /* borrowed from view: last backend tried */
    struct px_wview *view;          /* held: the fleet, config and routes it started with */
    struct px_http req;             /* request parser and head */
    uv_write_t cw;                  /* client write in flight */
    char *out;                      /* owned: request head then response head */
    uint32_t out_cap;
    uint32_t req_head_len;                 /* serialized request head in out[0..] */
    uint32_t resp_head_off, resp_head_len; /* response head, not yet sent */
    uint64_t start_ms;
    uint64_t bytes_in, bytes_out; /* client bytes read / written */
    uint64_t tried;               /* bitmask of the view's backend indexes tried */
    int status;                   /* status sent (or being sent) to the client */
    uint16_t zone;                /* index into the snapshot's conf->zones */
    uint8_t cls;                  /* request class in the zone, 0 = none (state/classes.h) */
    enum px_route_reason why;     /* why the zone's route chose the region */
    int region;                   /* region of the current attempt, -1 = none or reject */
    uint64_t sent_ms;             /* loop time the request went to the current upstream */
    uint64_t body_bytes;          /* final response body bytes parsed (framing included) */
    uint64_t body_start_ms;       /* loop time the final response head was parsed */
    uint64_t paused_ms;           /* upstream reads paused by a slow client since then, ms */
    uint64_t paused_at_ms;        /* loop time the current pause began; 0 = reading */
    const char *error;            /* why it failed, for the log; static */
    unsigned attempts;
    bool cwriting;      /* cw in flight */
    bool attached;      /* up is connected and carries this request */
    bool req_sent_head; /* request head written to the current upstream */
    bool req_body_sent; /* request body bytes have gone upstream */
    bool req_done;      /* whole request forwarded */
    bool resp_started;  /* response bytes went to the client */
    bool resp_done;     /* whole response parsed */
    bool keep_alive;    /* client connection may serve another request */
    bool is_head;       /* HEAD request */
    bool upgrade;       /* request asked for an upgrade */
    bool decode;        /* de-chunking for an HTTP/1.0 client */
    bool retry_after;   /* a 503 that tells the client when to come back */
    bool explain;       /* debug client: add the explain header */
};

/*
 * Starts an exchange for the head just parsed in X->req (the client holds
 * the bytes after it). Returns 0, or a negative px_err when the request must
 * be refused before any upstream work (answer it with px_exchange_reject).
 */
int px_exchange_start(struct px_exchange *x);

/* Allocates an exchange for C with a ready request parser, or NULL. */
struct px_exchange *px_exchange_new(struct px_client *c);

/* Frees the worker's spare exchanges. */
struct px_worker;
void px_exchange_cache_dispose(struct px_worker *w);

/*
 * Ends X: closes its upstream if still attached, releases its snapshot hold
 * and keeps it as a spare for the next request (or frees it). Accepts NULL.
 */
void px_exchange_free(struct px_exchange *x);

/* Client bytes arrived (or were left over) while the exchange owns them. */
void px__exchange_client_data(struct px_exchange *x);

/* The client closed or failed (ERR) while the exchange was in flight. */
void px__exchange_client_gone(struct px_exchange *x);

/* The client write (cw) finished with STATUS. */
void px__exchange_client_written(struct px_exchange *x, int status);

/* Upstream events, from upstream.c. */
void px__exchange_upstream_ready(struct px_exchange *x, int status);
void px__exchange_upstream_data(struct px_exchange *x);
void px__exchange_upstream_eof(struct px_exchange *x, int err);
void px__exchange_upstream_written(struct px_exchange *x, int status);
void px__exchange_upstream_timeout(struct px_exchange *x);

/* The client timer fired in PHASE ("body", "send") during the exchange. */
void px__exchange_client_timeout(struct px_exchange *x, const char *phase);

/* Answers the client with the status for ERR (a px_err) and closes. */
void px_exchange_reject(struct px_exchange *x, int err);

#endif
