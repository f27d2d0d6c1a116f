/*
 * exchange: one request and its response, relayed between a client and an
 * upstream. Owns the request parser and head, the serialized heads and the
 * upstream while attached. Gets a
 * connection through proxy/data/backend.c, retries when safe, streams both
 * bodies with backpressure, and writes the access-log line.
 */
#ifndef PX_EXCHANGE_H
#define PX_EXCHANGE_H

#include "proxy/data/backend.h"
#include "proxy/data/client.h"
#include "proxy/proto/http1.h"
#include "proxy/state/routes.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct px_client;
struct px_upstream;
struct px_backend;

#define PX_SPARE_EXCHANGES 64 /* reset exchanges a worker keeps however idle */
#define PX_ZONE_NONE (-1)     /* a request refused before it was classified */
#define PX_REQUEST_ID_MAX 128 /* bytes of an X-Request-Id we keep */

struct px_exchange {
    struct px_exchange *next_spare; /* worker's spare list while unused */
    struct px_client *c;            /* borrowed back-pointer */
    struct px_upstream *up;         /* owned while attached */
    struct px_wview *view;          /* held: the fleet, config and routes it started with;
                                       NULL when the worker had no routing table */
    const struct conf *conf;        /* borrowed: view's config (else the worker's startup one) */
    struct px_http req;             /* request parser and head */
    char *out;                      /* owned: request head then response head */
    uint32_t out_cap;
    uint32_t req_head_len;                 /* serialized request head in out[0..] */
    uint32_t resp_head_off, resp_head_len; /* response head, not yet sent */
    uint64_t start_ms;
    uint64_t bytes_in, bytes_out;   /* client bytes read / written */
    int status;                     /* status sent (or being sent) to the client */
    int zone;                       /* index into conf->zones; PX_ZONE_NONE until classified */
    struct px_pick pick;            /* backend choice across attempts */
    uint64_t body_bytes;            /* final response body bytes parsed (framing included) */
    uint64_t body_start_ms;         /* loop time the final response head was parsed */
    uint64_t paused_ms;             /* upstream reads paused by a slow client since then, ms */
    uint64_t paused_at_ms;          /* loop time the current pause began; 0 = reading */
    const char *error;              /* why it failed, for the log; static or error_text */
    struct sockaddr_storage client; /* the real client: peer, then trusted PROXY/XFF hops */
    uint8_t req_id_len;             /* bytes in req_id */
    uint8_t reason;                 /* enum px_stats_reason: why the proxy answered itself */
    char *trailer;                  /* owned: the re-encoded end of a chunked body with trailers */
    bool attached;                  /* up is connected and carries this request */
    bool req_sent_head;             /* request head written to the current upstream */
    bool req_body_sent;             /* request body bytes have gone upstream */
    bool req_done;                  /* whole request forwarded */
    bool resp_started;              /* response bytes went to the client */
    bool resp_done;                 /* whole response parsed */
    bool keep_alive;                /* client connection may serve another request */
    bool is_head;                   /* HEAD request */
    bool upgrade;                   /* request asked for an upgrade */
    bool decode;                    /* de-chunking for an HTTP/1.0 client */
    bool rechunk;                   /* chunked request body: forwarded re-encoded */
    bool retry_after;               /* a 503 that tells the client when to come back */
    bool explain;                   /* debug client: add the explain header */
    bool parsed_out;    /* an HTTP/2 stream client: the response goes parsed, not as text */
    bool head_due;      /* parsed_out: the final head waits to go with what follows it */
    uint32_t head_size; /* parsed_out: the head's HTTP/1.1 size, counted in bytes_out */

    /* Last: written before they are read, so a reused exchange does not
     * clear them (spare_exchange in exchange.c). */
    char error_text[112];                /* a failure reason built for this exchange */
    char req_id[PX_REQUEST_ID_MAX + 1];  /* X-Request-Id: a trusted peer's, else ours */
    char region_line[160];               /* geo.headers.region line for the current attempt */
    char chunk_line[PX_HTTP_CHUNK_LINE]; /* size line of the chunk being forwarded */
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

/* Frees the spare exchanges no request needed since the last call, beyond
 * PX_SPARE_EXCHANGES (proxy/base/reserve.h). Called periodically. */
void px_exchange_cache_trim(struct px_worker *w);

/*
 * Ends X: closes its upstream if still attached, releases its snapshot hold
 * and keeps it as a spare for the next request (or frees it). Accepts NULL.
 */
void px_exchange_free(struct px_exchange *x);

/* Client bytes arrived (or were left over) while the exchange owns them. */
void px__exchange_client_data(struct px_exchange *x);

/* The client closed or failed (ERR) while the exchange was in flight. */
void px__exchange_client_gone(struct px_exchange *x);

/* The client write queued by the exchange finished with STATUS. */
void px__exchange_client_written(struct px_exchange *x, int status);

/*
 * Writes BUFS to X's client and counts them in bytes_out; for the exchange
 * and the tunnel it hands over to. Returns as px_stream_write().
 */
int px__exchange_client_write(struct px_exchange *x, uv_buf_t *bufs, unsigned n);

/* The client timer fired in PHASE during the exchange or its tunnel. */
void px__exchange_client_timeout(struct px_exchange *x, enum px_client_phase phase);

/* Answers the client with the status for ERR (a px_err) and closes. */
void px_exchange_reject(struct px_exchange *x, int err);

#endif
