/*
 * libFuzzer target: the request path of proxy/proto/http1.c, as the exchange
 * drives it. Input byte 0 picks the feed mode and limits, byte 1 seeds the
 * split points; the rest is what a client sends. On every head: scan it,
 * render the head we would forward, and check that the rendering re-parses
 * cleanly and carries exactly one Host, none of the client's copies of our
 * own headers, no hop-by-hop header and the same framing.
 */
#include "proxy/proto/http1.h"
#include "proxy/base/px.h"
#include "tests/fuzz/fuzz_common.h"

#include <string.h>

#define MAX_HEAD_BYTES 2048
#define MAX_HEADERS 24

static const char *const drop[] = {"x-geo-country", "X-Geo-Zone", NULL};
static const char extra[] = "X-Geo-Zone: fuzz\r\n";
static const char *const hop[] = {"connection", "keep-alive", "proxy-connection",  "te",
                                  "trailer",    "upgrade",    "proxy-authenticate"};

static unsigned count(const struct px_http *h, const char *lower)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < h->nhdrs; i++)
        if (px_http_ieq(h->buf + h->hdrs[i].name_off, h->hdrs[i].name_len, lower))
            n++;
    return n;
}

static void check_head(struct px_http *h)
{
    char out[16384];
    struct px_http r;
    size_t used;

    int s = px_http_scan(h);
    if (s != 0) {
        FUZZ_CHECK(s == PX_EPARSE || s == PX_EMETHOD);
        return;
    }
    FUZZ_CHECK(count(h, "host") <= 1);
    bool upgrade = px_http_is_upgrade(h) && h->conn_upgrade;
    struct px_req_ctx ctx = {
        .client_ip = "203.0.113.9",
        .upgrade = upgrade,
        .drop_names = drop,
        .ndrop = PX_ARRAY_LEN(drop),
        .extra = extra,
        .extra_len = sizeof(extra) - 1,
    };
    int n = px_http_write_request_head(h, &ctx, out, sizeof(out));
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(px_http_write_request_head(h, &ctx, out, (size_t)n - 1) == -1);

    FUZZ_CHECK(px_http_init(&r, PX_HTTP_REQUEST, NULL, sizeof(out), 256) == 0);
    int ev = px_http_feed(&r, out, (size_t)n, &used);
    if (ev != PX_HTTP_HEAD || used != (size_t)n) {
        fprintf(stderr, "rendered head does not re-parse (%d, %zu of %d):\n%.*s\n", ev, used, n, n,
                out);
        abort();
    }
    FUZZ_CHECK(px_http_scan(&r) == 0);
    FUZZ_CHECK(count(&r, "host") == 1);
    FUZZ_CHECK(count(&r, "x-geo-country") == 0);
    FUZZ_CHECK(count(&r, "x-geo-zone") == 1);
    FUZZ_CHECK(count(&r, "x-forwarded-for") == 1);
    FUZZ_CHECK(count(&r, "x-forwarded-proto") == 1);
    FUZZ_CHECK(count(&r, "via") == 1);
    for (size_t i = 0; i < PX_ARRAY_LEN(hop); i++) {
        unsigned c = count(&r, hop[i]);
        if (upgrade && (strcmp(hop[i], "connection") == 0 || strcmp(hop[i], "upgrade") == 0))
            FUZZ_CHECK(c == 1);
        else if (c != 0) {
            fprintf(stderr, "hop-by-hop %s forwarded:\n%.*s\n", hop[i], n, out);
            abort();
        }
    }
    FUZZ_CHECK(r.parser.method == h->parser.method);
    FUZZ_CHECK(px_http_minor(&r) == 1);
    FUZZ_CHECK(px_http_chunked(&r) == px_http_chunked(h));
    FUZZ_CHECK((r.parser.flags & F_CONTENT_LENGTH) == (h->parser.flags & F_CONTENT_LENGTH));
    if (h->parser.flags & F_CONTENT_LENGTH)
        FUZZ_CHECK(r.parser.content_length == h->parser.content_length);
    FUZZ_CHECK(r.target_len > 0 && (r.buf[r.target_off] == '/' || r.buf[r.target_off] == '*'));
    if (h->target_len > 0 && h->buf[h->target_off] == '/')
        FUZZ_CHECK(r.target_len == h->target_len &&
                   memcmp(r.buf + r.target_off, h->buf + h->target_off, h->target_len) == 0);
    if (h->authority_len > 0) {
        int i = px_http_find(&r, "host");
        FUZZ_CHECK(
            r.hdrs[i].value_len == h->authority_len &&
            memcmp(r.buf + r.hdrs[i].value_off, h->buf + h->authority_off, h->authority_len) == 0);
    }
    px_http_dispose(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct px_http h;
    uint32_t seed;
    uint8_t mode;
    size_t off = 0;

    if (size < 2)
        return 0;
    mode = data[0];
    seed = (uint32_t)data[1] << 8 | data[0] | 0x10000u;
    data += 2;
    size -= 2;
    const char *in = (const char *)data;

    FUZZ_CHECK(px_http_init(&h, PX_HTTP_REQUEST, NULL, MAX_HEAD_BYTES, MAX_HEADERS) == 0);
    h.max_body = (mode & 0x80) ? 100 : 0;
    for (size_t guard = 0; guard < 4 * size + 64; guard++) {
        size_t avail = size - off, used = 9999;
        if (mode & 1) {
            size_t step = 1 + fuzz_rand(&seed) % ((mode & 2) ? 4 : 64);
            if (avail > step)
                avail = step;
        }
        int ev = px_http_feed(&h, in + off, avail, &used);
        FUZZ_CHECK(used <= avail);
        off += used;
        if (ev < 0) {
            FUZZ_CHECK(ev == PX_EPARSE || ev == PX_EHEADTOOBIG || ev == PX_EBODYTOOBIG ||
                       ev == PX_EVERSION || ev == PX_EMETHOD);
            FUZZ_CHECK(px_http_feed(&h, in + off, size - off, &used) == ev && used == 0);
            break;
        }
        FUZZ_CHECK(ev != PX_HTTP_BODYFULL); /* not decoding */
        if (ev == PX_HTTP_HEAD) {
            FUZZ_CHECK(h.head_done && px_http_started(&h));
            check_head(&h);
            if (px_http_scan(&h) != 0)
                break; /* the exchange refuses it here */
            continue;
        }
        if (ev == PX_HTTP_UPGRADE)
            break;
        if (ev == PX_HTTP_MORE)
            FUZZ_CHECK(used == avail);
        if (off == size && ev != PX_HTTP_DONE)
            break;
        if (off == size && ev == PX_HTTP_DONE && !px_http_paused(&h))
            break;
    }
    (void)px_http_finish(&h);
    px_http_dispose(&h);
    return 0;
}
