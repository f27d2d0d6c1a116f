/*
 * h2conn: HTTP/2 on a client connection. Owns the server session
 * (proxy/proto/h2.h) of a client whose TLS handshake chose ALPN h2, or that
 * sent the prior-knowledge preface on an h2c listener, and the streams it
 * carries. Each stream is a client of its own (a "stream client") with a
 * transport made of memory instead of a socket: its request arrives as
 * HTTP/1.1 bytes rendered from the validated h2 head, and the exchange
 * hands back the upstream's response as it parsed it (its own error
 * answers as text, parsed here), submitted as h2 frames. So every
 * stream goes through the one HTTP/1.1 exchange (routing, pools, retries,
 * limits, timeouts, logs, metrics) unchanged, as HAProxy 1.8's h2 mux fed
 * its HTTP/1 stream layer. docs/H2.md describes the data flow.
 */
#ifndef PX_H2CONN_H
#define PX_H2CONN_H

#include "proxy/data/client.h"
#include "proxy/proto/http1.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The client connection preface (RFC 9113 §3.4). */
#define PX_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PX_H2_PREFACE_LEN 24

/*
 * Turns C (handshake done, or a plain connection whose first bytes are the
 * preface) into an HTTP/2 connection: bytes in c->s.in are its first.
 * Closes C on failure.
 */
void px__h2conn_start(struct px_client *c);

/*
 * C is closing: closes its streams and the session's handles. Returns how
 * many closes C must still wait for (each ends in px__client_release(C)).
 */
uint32_t px__h2conn_close(struct px_client *c);

/* Frees C's HTTP/2 state once nothing refers to it any more. */
void px__h2conn_free(struct px_client *c);

/* C's connection timer fired (idle, preface or stalled sending). */
void px__h2conn_timeout(struct px_client *c);

/*
 * Graceful shutdown: GOAWAY naming the last stream taken; open streams
 * finish, then the connection closes.
 */
void px__h2conn_goaway(struct px_client *c);

/* Finished streams a worker keeps for reuse: about 2 KiB each, without
 * buffers, so at most 1 MiB; enough for 50 connections of 10 streams. */
#define PX_SPARE_H2_STREAMS 512

/* Frees the worker's spare streams. */
struct px_worker;
void px_h2_stream_cache_dispose(struct px_worker *w);

/*
 * A response handed to a stream client already parsed, so it is not
 * rendered as HTTP/1.1 and parsed back: the upstream's parser and the
 * header lines the exchange adds. Borrowed: valid during the call.
 */
struct px_h2_response {
    const struct px_http *resp; /* status, head fields not PX_HDR_DROP, then trailers */
    const char *extra;          /* complete "Name: value\r\n" lines the proxy adds */
    uint32_t extra_len;
    bool head; /* RESP's head is new: send it (interim when 1xx) */
    bool end;  /* the final response ends after BUFS, with RESP's trailers */
};

/* True when C is an HTTP/2 stream client: it takes px__h2_stream_respond(). */
static inline bool px_client_is_h2_stream(const struct px_client *c)
{
    return c->conn != NULL;
}

/*
 * Stream client C takes R and the body bytes BUFS (decoded: no chunk
 * framing). Returns as px_stream_write(): 1 done, 0 held (on_written
 * follows), < 0 an error.
 */
int px__h2_stream_respond(struct px_client *c, const struct px_h2_response *r, uv_buf_t *bufs,
                          unsigned n);

/* Stream client C (c->conn != NULL) finished closing. */
void px__h2_stream_closed(struct px_client *c);

#endif
