/*
 * libFuzzer target: the chunked request re-encoder of proxy/proto/http1.c,
 * as the exchange drives it. Input byte 0 seeds the split points; the rest
 * is a chunked body (sizes, extensions, data, trailers) after a fixed head.
 * When the parser takes the whole message, what we would forward (one chunk
 * per feed from px_http_rechunk, then px_http_write_last_chunk) must
 * re-parse as one complete message that decodes to the same bytes, with
 * canonical size lines (hex, no leading zero, no extension, CRLF) and no
 * trailer that says who the client is.
 */
#include "proxy/proto/http1.h"
#include "proxy/base/px.h"
#include "tests/fuzz/fuzz_common.h"

#include <string.h>

#define OUT_BYTES (1 << 17)

static const char head[] = "POST /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
static const char *const drop[] = {"x-geo-zone"};
static const char *const banned[] = {"x-forwarded-for", "forwarded", "x-real-ip", "x-geo-zone",
                                     "via"};

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
    FUZZ_CHECK(b->n + n <= b->cap);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* Feeds DATA to H in random pieces, appending what H's spans decode (when
 * DECODED) or what we would forward (else, re-encoded) to OUT. Returns the
 * last event. */
static int run(struct px_http *h, const uint8_t *data, size_t size, uint32_t seed, struct buf *out,
               bool decoded)
{
    size_t off = 0, used;
    int ev = px_http_feed(h, head, sizeof(head) - 1, &used);
    FUZZ_CHECK(ev == PX_HTTP_HEAD && px_http_scan(h) == 0);
    h->decode_body = true;
    while (off < size) {
        size_t n = 1 + fuzz_rand(&seed) % (size - off);
        ev = px_http_feed(h, (const char *)data + off, n, &used);
        off += used;
        if (ev < 0)
            return ev;
        if (decoded) {
            for (unsigned i = 0; i < h->nspans; i++)
                put(out, h->spans[i].base, h->spans[i].len);
            h->nspans = 0;
        } else {
            char line[PX_HTTP_CHUNK_LINE];
            struct px_span s[PX_HTTP_MAX_SPANS + 2];
            size_t k = px_http_rechunk(h, line, s);
            for (size_t i = 0; i < k; i++)
                put(out, s[i].base, s[i].len);
            if (k > 0) {
                FUZZ_CHECK(line[0] != '0');
                for (size_t i = 0; line[i] != '\r'; i++)
                    FUZZ_CHECK((line[i] >= '0' && line[i] <= '9') ||
                               (line[i] >= 'a' && line[i] <= 'f'));
            }
        }
        if (ev == PX_HTTP_DONE)
            return ev;
        if (used == 0 && ev != PX_HTTP_BODYFULL)
            return ev;
    }
    return ev;
}

/* Walks the chunks of P: each size line is lowercase hex without a leading
 * zero (but the last chunk's "0"), no extension, CRLF; data ends in CRLF. */
static void check_framing(const char *p, size_t n)
{
    size_t i = 0;
    for (;;) {
        uint64_t size = 0;
        size_t start = i;
        while (i < n && ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            size = size * 16 + (uint64_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10), i++;
        FUZZ_CHECK(i > start && i + 1 < n && p[i] == '\r' && p[i + 1] == '\n');
        FUZZ_CHECK(p[start] != '0' || i == start + 1);
        i += 2;
        if (size == 0)
            return; /* trailers: re-parsed above */
        FUZZ_CHECK(i + size + 2 <= n && p[i + size] == '\r' && p[i + size + 1] == '\n');
        i += size + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char a[OUT_BYTES], b[OUT_BYTES], c[OUT_BYTES];
    struct buf fwd = {a, 0, sizeof(a)}, want = {b, 0, sizeof(b)}, got = {c, 0, sizeof(c)};
    struct px_http h, r;

    if (size < 1 || size > 8192)
        return 0;
    uint32_t seed = data[0] | 1u;
    FUZZ_CHECK(px_http_init(&h, PX_HTTP_REQUEST, NULL, 4096, 32) == 0);
    int ev = run(&h, data + 1, size - 1, seed, &fwd, false);
    if (ev == PX_HTTP_DONE) {
        struct px_req_ctx ctx = {.drop_names = drop, .ndrop = 1, .drop_underscores = true};
        size_t cap = px_http_last_chunk_bytes(&h);
        int n = px_http_write_last_chunk(&h, &ctx, fwd.p + fwd.n, fwd.cap - fwd.n);
        FUZZ_CHECK(n > 0 && (size_t)n <= cap);
        fwd.n += (size_t)n;
        /* The same input, decoded by a second parser: the body the backend
         * must see. */
        struct px_http d;
        FUZZ_CHECK(px_http_init(&d, PX_HTTP_REQUEST, NULL, 4096, 32) == 0);
        FUZZ_CHECK(run(&d, data + 1, size - 1, seed, &want, true) == PX_HTTP_DONE);
        px_http_dispose(&d);

        /* What we forward re-parses as exactly one message, same body. */
        FUZZ_CHECK(px_http_init(&r, PX_HTTP_REQUEST, NULL, 4096, 64) == 0);
        size_t used;
        FUZZ_CHECK(px_http_feed(&r, head, sizeof(head) - 1, &used) == PX_HTTP_HEAD);
        FUZZ_CHECK(px_http_scan(&r) == 0);
        r.decode_body = true;
        size_t off = 0;
        int rev;
        do {
            rev = px_http_feed(&r, fwd.p + off, fwd.n - off, &used);
            off += used;
            for (unsigned i = 0; i < r.nspans; i++)
                put(&got, r.spans[i].base, r.spans[i].len);
            r.nspans = 0;
        } while (rev == PX_HTTP_BODYFULL);
        if (rev != PX_HTTP_DONE || off != fwd.n) {
            fprintf(stderr, "forwarded body does not re-parse (%d, %zu of %zu):\n%.*s\n", rev, off,
                    fwd.n, (int)fwd.n, fwd.p);
            abort();
        }
        FUZZ_CHECK(got.n == want.n && memcmp(got.p, want.p, got.n) == 0);
        for (uint32_t i = r.head_nhdrs; i < r.nhdrs; i++)
            for (size_t k = 0; k < PX_ARRAY_LEN(banned); k++)
                FUZZ_CHECK(!px_http_ieq(r.buf + r.hdrs[i].name_off, r.hdrs[i].name_len, banned[k]));
        check_framing(fwd.p, fwd.n);
        px_http_dispose(&r);
    }
    px_http_dispose(&h);
    return 0;
}
