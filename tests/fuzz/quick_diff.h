/*
 * The differential check of proxy/proto/http1.c's quick response reading:
 * the same bytes, in the same feeds, go to a parser that may read a
 * response quickly and to one that leaves everything to llhttp
 * (llhttp_only). Every event, byte count, pause, decoded span, head (its
 * fields, status, framing, what px_http_scan() makes of it, the head
 * rendered for a client) and error must be the same. Shared by the libFuzzer
 * target (fuzz_response_quick.c) and the unit tests, which run it over
 * generated variants of real heads.
 *
 * Input byte 0 picks the feed mode and toggles (response to HEAD, decoded
 * body, a small head limit, few headers); byte 1 seeds the split points;
 * the rest is what a backend sends, one or more responses.
 */
#ifndef QUICK_DIFF_H
#define QUICK_DIFF_H

#include "proxy/proto/http1.h"
#include "tests/fuzz/fuzz_common.h"

#include <string.h>

enum {
    QD_SPLIT = 1 << 0,       /* feeds of random sizes, not all that is left */
    QD_SMALL_STEPS = 1 << 1, /* ... of 1 to 4 bytes */
    QD_HEAD = 1 << 2,        /* every response answers a HEAD request */
    QD_DECODE = 1 << 3,      /* bodies are collected as spans (HTTP/2's way) */
    QD_SMALL_HEAD = 1 << 4,  /* max_head 96: the limit is reached */
    QD_FEW_HEADERS = 1 << 5, /* max_headers 4 */
};

static void qd_setup(struct px_http *h, uint8_t mode, bool llhttp_only)
{
    h->skip_body = (mode & QD_HEAD) != 0;
    h->decode_body = (mode & QD_DECODE) != 0;
    h->llhttp_only = llhttp_only;
}

static bool qd_same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void qd_same_fields(const struct px_http *a, const struct px_http *b)
{
    FUZZ_CHECK(a->nhdrs == b->nhdrs && a->head_nhdrs == b->head_nhdrs);
    FUZZ_CHECK(qd_same_bytes(a->buf + a->target_off, a->target_len, b->buf + b->target_off,
                             b->target_len));
    for (uint32_t i = 0; i < a->nhdrs; i++) {
        const struct px_hdr *x = &a->hdrs[i], *y = &b->hdrs[i];
        FUZZ_CHECK(x->id == y->id && x->flags == y->flags);
        FUZZ_CHECK(
            qd_same_bytes(a->buf + x->name_off, x->name_len, b->buf + y->name_off, y->name_len));
        FUZZ_CHECK(qd_same_bytes(a->buf + x->value_off, x->value_len, b->buf + y->value_off,
                                 y->value_len));
    }
}

/* What every caller reads of a message's framing. */
static void qd_same_framing(const struct px_http *a, const struct px_http *b)
{
    uint64_t la, lb;
    bool ha = px_http_content_length(a, &la), hb = px_http_content_length(b, &lb);

    FUZZ_CHECK(ha == hb && (!ha || la == lb));
    FUZZ_CHECK(px_http_status(a) == px_http_status(b));
    FUZZ_CHECK(px_http_major(a) == px_http_major(b) && px_http_minor(a) == px_http_minor(b));
    FUZZ_CHECK(px_http_chunked(a) == px_http_chunked(b));
    FUZZ_CHECK(px_http_has_body(a) == px_http_has_body(b));
    FUZZ_CHECK(px_http_needs_eof(a) == px_http_needs_eof(b));
    FUZZ_CHECK(px_http_keep_alive(a) == px_http_keep_alive(b));
    FUZZ_CHECK(px_http_is_upgrade(a) == px_http_is_upgrade(b));
}

/* The heads, what px_http_scan() makes of them and their client rendering;
 * px_http_scan()'s result. */
static int qd_same_head(struct px_http *a, struct px_http *b)
{
    static char oa[8192], ob[8192];

    qd_same_fields(a, b);
    qd_same_framing(a, b);
    int ra = px_http_scan(a), rb = px_http_scan(b);
    FUZZ_CHECK(ra == rb && px_http_why(a) == px_http_why(b));
    if (ra != 0)
        return ra;
    qd_same_fields(a, b); /* the flags px_http_scan() set */
    FUZZ_CHECK(a->conn_close == b->conn_close && a->conn_keepalive == b->conn_keepalive &&
               a->conn_upgrade == b->conn_upgrade && a->host_idx == b->host_idx &&
               a->xff_len == b->xff_len);
    struct px_resp_ctx ctx = {.keep_alive = true};
    int na = px_http_write_response_head(a, &ctx, oa, sizeof(oa));
    int nb = px_http_write_response_head(b, &ctx, ob, sizeof(ob));
    FUZZ_CHECK(na == nb && (na <= 0 || memcmp(oa, ob, (size_t)na) == 0));
    return 0;
}

/* Decoded body spans: the same bytes of the input, then both drained. */
static void qd_same_spans(struct px_http *a, struct px_http *b)
{
    FUZZ_CHECK(a->nspans == b->nspans);
    for (unsigned i = 0; i < a->nspans; i++)
        FUZZ_CHECK(a->spans[i].base == b->spans[i].base && a->spans[i].len == b->spans[i].len);
    a->nspans = b->nspans = 0;
}

/*
 * Runs the check on one input; aborts on any difference. Returns how many
 * heads the quick reading took, so a caller can tell the check ran on
 * heads of that kind at all.
 */
static unsigned quick_diff_run(const uint8_t *data, size_t size)
{
    struct px_http a, b;
    unsigned quick_heads = 0;
    size_t off = 0;

    if (size < 2)
        return 0;
    uint8_t mode = data[0];
    uint32_t seed = (uint32_t)data[1] << 8 | data[0] | 0x10000u;
    const char *in = (const char *)data + 2;
    size -= 2;
    uint32_t max_head = (mode & QD_SMALL_HEAD) ? 96 : 2048;
    uint32_t max_hdrs = (mode & QD_FEW_HEADERS) ? 4 : 24;

    FUZZ_CHECK(px_http_init(&a, PX_HTTP_RESPONSE, NULL, max_head, max_hdrs) == 0);
    FUZZ_CHECK(px_http_init(&b, PX_HTTP_RESPONSE, NULL, max_head, max_hdrs) == 0);
    qd_setup(&a, mode, false);
    qd_setup(&b, mode, true);
    for (size_t guard = 0; guard < 4 * size + 64; guard++) {
        size_t avail = size - off, ua = 9999, ub = 9999;
        if (mode & QD_SPLIT) {
            size_t step = 1 + fuzz_rand(&seed) % ((mode & QD_SMALL_STEPS) ? 4 : 64);
            if (avail > step)
                avail = step;
        }
        if (avail == 0 && !px_http_paused(&a)) { /* the backend closed here */
            FUZZ_CHECK(px_http_finish(&a) == px_http_finish(&b));
            break;
        }
        int ea = px_http_feed(&a, in + off, avail, &ua);
        int eb = px_http_feed(&b, in + off, avail, &ub);
        FUZZ_CHECK(ea == eb);
        if (ea < 0) {
            FUZZ_CHECK(px_http_why(&a) == px_http_why(&b));
            break;
        }
        FUZZ_CHECK(ua == ub && px_http_paused(&a) == px_http_paused(&b));
        FUZZ_CHECK(a.body_bytes == b.body_bytes && a.in_message == b.in_message);
        qd_same_spans(&a, &b);
        off += ua;
        if (ea == PX_HTTP_HEAD) {
            quick_heads += a.quick != 0;
            if (qd_same_head(&a, &b) != 0)
                break;
            continue;
        }
        if (ea == PX_HTTP_DONE) {
            qd_same_framing(&a, &b);
            if (px_http_status(&a) < 200)
                continue;
            if (px_http_status(&a) == 101)
                break;
            /* A final response: the exchange resets for the next request. */
            px_http_reset(&a);
            px_http_reset(&b);
            qd_setup(&a, mode, false);
            qd_setup(&b, mode, true);
            continue;
        }
        if (ea == PX_HTTP_UPGRADE)
            break;
    }
    px_http_dispose(&a);
    px_http_dispose(&b);
    return quick_heads;
}

#endif
