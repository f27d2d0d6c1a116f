/*
 * libFuzzer target: the response path of proxy/proto/http1.c. Input byte 0 picks
 * the feed mode and the exchange's toggles (response to HEAD, de-chunking
 * for an HTTP/1.0 client, keep-alive), byte 1 seeds the split points; the
 * rest is what a backend sends. On every head: scan, render the client
 * head, and check it re-parses with the same status and framing and no
 * hop-by-hop header; decoded body spans must lie inside the fed bytes.
 */
#include "proxy/proto/http1.h"
#include "proxy/base/px.h"
#include "tests/fuzz/fuzz_common.h"

#include <string.h>

#define MAX_HEAD_BYTES 2048
#define MAX_HEADERS 24

static const char *const hop[] = {"keep-alive", "proxy-connection", "te", "trailer",
                                  "proxy-authenticate"};

static unsigned count(const struct px_http *h, const char *lower)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < h->nhdrs; i++)
        if (px_http_ieq(h->buf + h->hdrs[i].name_off, h->hdrs[i].name_len, lower))
            n++;
    return n;
}

/* Returns false when the exchange would answer 502 here. */
static bool check_head(struct px_http *h, uint8_t mode)
{
    char out[16384];
    struct px_http r;
    size_t used;
    int status = px_http_status(h);

    if (px_http_scan(h) != 0)
        return false;
    FUZZ_CHECK(status >= 100 && status <= 599);
    bool decode = (mode & 0x08) && px_http_chunked(h) && !h->skip_body;
    h->decode_body = decode;
    struct px_resp_ctx ctx = {
        .keep_alive = (mode & 0x10) != 0,
        .client_1_0 = (mode & 0x08) != 0,
        .drop_te = decode,
        .upgrade = status == 101,
    };
    int n = px_http_write_response_head(h, &ctx, out, sizeof(out));
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(px_http_write_response_head(h, &ctx, out, (size_t)n - 1) == -1);

    FUZZ_CHECK(px_http_init(&r, PX_HTTP_RESPONSE, NULL, sizeof(out), 256) == 0);
    r.skip_body = h->skip_body;
    int ev = px_http_feed(&r, out, (size_t)n, &used);
    if (ev != PX_HTTP_HEAD || used != (size_t)n) {
        fprintf(stderr, "rendered head does not re-parse (%d, %zu of %d):\n%.*s\n", ev, used, n, n,
                out);
        abort();
    }
    FUZZ_CHECK(px_http_scan(&r) == 0);
    FUZZ_CHECK(px_http_status(&r) == status);
    FUZZ_CHECK(count(&r, "connection") <= 1);
    FUZZ_CHECK(count(&r, "upgrade") == (ctx.upgrade ? count(h, "upgrade") > 0 : 0));
    for (size_t i = 0; i < PX_ARRAY_LEN(hop); i++)
        FUZZ_CHECK(count(&r, hop[i]) == 0);
    if (decode)
        FUZZ_CHECK(count(&r, "transfer-encoding") == 0);
    else
        FUZZ_CHECK(px_http_chunked(&r) == px_http_chunked(h));
    FUZZ_CHECK((r.parser.flags & F_CONTENT_LENGTH) == (h->parser.flags & F_CONTENT_LENGTH));
    if (h->parser.flags & F_CONTENT_LENGTH)
        FUZZ_CHECK(r.parser.content_length == h->parser.content_length);
    px_http_dispose(&r);
    return true;
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

    FUZZ_CHECK(px_http_init(&h, PX_HTTP_RESPONSE, NULL, MAX_HEAD_BYTES, MAX_HEADERS) == 0);
    h.skip_body = (mode & 0x04) != 0;
    for (size_t guard = 0; guard < 4 * size + 64; guard++) {
        size_t avail = size - off, used = 9999;
        uint64_t body_before = h.body_bytes;
        if (mode & 1) {
            size_t step = 1 + fuzz_rand(&seed) % ((mode & 2) ? 4 : 64);
            if (avail > step)
                avail = step;
        }
        int ev = px_http_feed(&h, in + off, avail, &used);
        FUZZ_CHECK(used <= avail);
        if (h.decode_body) {
            uint64_t sum = 0;
            for (unsigned i = 0; i < h.nspans; i++) {
                FUZZ_CHECK(h.spans[i].base >= in + off &&
                           h.spans[i].base + h.spans[i].len <= in + off + used);
                sum += h.spans[i].len;
            }
            FUZZ_CHECK(ev < 0 || h.body_bytes - body_before == sum);
            h.nspans = 0;
        }
        off += used;
        if (ev < 0) {
            FUZZ_CHECK(ev == PX_EPARSE || ev == PX_EHEADTOOBIG || ev == PX_EVERSION);
            FUZZ_CHECK(px_http_feed(&h, in + off, size - off, &used) == ev && used == 0);
            break;
        }
        if (ev == PX_HTTP_HEAD) {
            FUZZ_CHECK(h.head_done);
            if (!check_head(&h, mode))
                break;
            continue;
        }
        if (ev == PX_HTTP_DONE && px_http_status(&h) >= 200) {
            /* A final response: the exchange resets for the next request. */
            bool skip = (mode & 0x20) != 0;
            px_http_reset(&h);
            h.skip_body = skip;
            if (off == size)
                break;
            continue;
        }
        /* After a 101 the exchange tunnels the bytes (or refused the 101 for a
         * request that asked no upgrade): it never parses another message on
         * that connection, and the next message would reset body_bytes. */
        if (ev == PX_HTTP_UPGRADE || (ev == PX_HTTP_DONE && px_http_status(&h) == 101))
            break;
        if (off == size && ev == PX_HTTP_MORE) {
            int f = px_http_finish(&h);
            FUZZ_CHECK(f == PX_HTTP_DONE || f == PX_ETRUNCATED || f == PX_HTTP_MORE);
            break;
        }
    }
    px_http_dispose(&h);
    return 0;
}
