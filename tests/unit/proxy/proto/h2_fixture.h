/*
 * The test peer of proxy/proto/h2.c: a server session with a recording
 * owner, driven either by an nghttp2 client session (frames a real client
 * library generates) or by hand-made frames with an nghttp2 HPACK deflater
 * (what a client library refuses to send). Every frame the server writes is
 * walked and recorded. Time is a number the test sets: no test waits.
 */
#ifndef H2_FIXTURE_H
#define H2_FIXTURE_H

#include "proxy/base/freelist.h"
#include "proxy/base/px.h"
#include "proxy/proto/h2.h"
#include "tests/unit/test.h"

#include <nghttp2/nghttp2.h>
#include <stdbool.h>

#define MAX_IDS 512

struct owner {
    int heads, ends, closes, data_calls;
    char method[32], scheme[16], authority[256], path[256];
    char fields[4096]; /* "name: value\n" per field of the last head */
    char trailers[1024];
    int64_t content_length;
    size_t body_bytes;
    uint32_t close_code[MAX_IDS]; /* per stream id, +1 so 0 means not closed */
    struct px_h2_stream *last;
    bool auto_consume; /* consume request bytes as they arrive */
    bool respond;      /* answer each complete request with 200 "ok" */
};

/* What the server wrote, frame by frame. */
struct wire {
    uint8_t *buf;
    size_t len, cap, parsed;
    int goaways, goaway_code;
    int32_t goaway_last;
    uint32_t rst[MAX_IDS]; /* RST_STREAM code + 1 per stream id */
    int headers[MAX_IDS];
    size_t data[MAX_IDS];
    int settings, pings, window_updates;
};

struct peer {
    struct px_h2 *s;
    struct px_h2_config cfg;
    struct px_freelist mem; /* the session's memory, as a worker gives it */
    struct owner o;
    struct wire w;
    nghttp2_session *cli;       /* NULL in raw mode */
    nghttp2_hd_deflater *hpack; /* raw mode */
    int status[MAX_IDS];        /* :status the client decoded */
    size_t client_body[MAX_IDS];
    uint64_t now_ms;
    int feed_rc;      /* first non-zero px_h2_feed() result */
    size_t fed_bytes; /* bytes the client sent */
    bool cli_dead;
};

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0                            \
    }

/* Body a client request sends, read by its data provider. */
struct body {
    const char *p;
    size_t len, off;
};

/* GET https://example.com/ */
extern const nghttp2_nv get_nv[4];

void wire_walk(struct wire *w, const char *out, size_t n);
void peer_init(struct peer *p, const struct px_h2_config *cfg, bool client,
               const nghttp2_settings_entry *iv, size_t niv);
void peer_dispose(struct peer *p);
void peer_feed(struct peer *p, const void *data, size_t len);
void pump(struct peer *p);
int32_t request(struct peer *p, const nghttp2_nv *nv, size_t n, struct body *body);
void raw_frame(struct peer *p, uint8_t type, uint8_t flags, uint32_t id, const void *payload,
               size_t len);
void raw_preface(struct peer *p);
size_t raw_block(struct peer *p, const nghttp2_nv *nv, size_t n, uint8_t *out, size_t cap);
void raw_headers(struct peer *p, uint32_t id, uint8_t flags, const nghttp2_nv *nv, size_t n);
size_t frame_hd(uint8_t *b, size_t len, uint8_t type, uint8_t flags, uint32_t id);

#endif
