/*
 * libFuzzer target: a px_h2 server session fed the input, split at points
 * the input's first bytes choose, with a tiny owner that consumes request
 * bytes and answers every complete request with a small body and a
 * trailer, so the response paths run too. Time advances with the input so
 * the budgets refill. Besides memory safety: the owner hears about a
 * stream only after its head, exactly one close per head, and never more
 * body bytes than a declared content-length.
 */
#include "proxy/base/freelist.h"
#include "proxy/base/px.h"
#include "proxy/proto/h2.h"
#include "tests/fuzz/fuzz_common.h"

#include <string.h>

#define MAX_TRACKED 64

struct owner {
    struct px_h2_stream *open[MAX_TRACKED];
    int64_t content_length[MAX_TRACKED];
    uint64_t body[MAX_TRACKED];
    int heads, closes;
};

static int slot_of(struct owner *o, struct px_h2_stream *st)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (o->open[i] == st)
            return i;
    return -1;
}

static void on_head(void *data, struct px_h2_stream *st, const struct px_h2_head *h)
{
    struct owner *o = data;
    FUZZ_CHECK(slot_of(o, st) < 0);
    FUZZ_CHECK(h->method.value_len > 0 && h->authority.value_len > 0 && h->path.value_len > 0);
    o->heads++;
    int i = slot_of(o, NULL);
    if (i >= 0) {
        o->open[i] = st;
        o->content_length[i] = h->content_length;
        o->body[i] = 0;
    }
}

static void on_data(void *data, struct px_h2_stream *st, const char *buf, size_t len)
{
    struct owner *o = data;
    int i = slot_of(o, st);
    (void)buf;
    if (i >= 0) {
        o->body[i] += len;
        FUZZ_CHECK(o->content_length[i] < 0 || o->body[i] <= (uint64_t)o->content_length[i]);
    }
    px_h2_consume(st, len);
}

static void on_end(void *data, struct px_h2_stream *st, const struct px_h2_field *tr, uint32_t n)
{
    const struct px_h2_field hdr = {"content-type", "text/plain", 12, 10};
    const struct px_h2_field sum = {"x-sum", "1", 5, 1};
    (void)data;
    (void)tr;
    (void)n;
    if (px_h2_submit_response(st, 200, &hdr, 1, false) == 0 &&
        px_h2_submit_data(st, "hello", 5, false) == 0)
        px_h2_submit_trailers(st, &sum, 1);
}

static void on_close(void *data, struct px_h2_stream *st, uint32_t code)
{
    struct owner *o = data;
    int i = slot_of(o, st);
    (void)code;
    o->closes++;
    if (i >= 0)
        o->open[i] = NULL;
}

static const struct px_h2_ops ops = {on_head, on_data, on_end, on_close};

static void drain(struct px_h2 *s)
{
    char out[4096];
    for (int i = 0; i < 1000; i++)
        if (px_h2_send(s, out, sizeof(out)) <= 0)
            return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct px_h2_config cfg;
    struct owner o;
    /* As a worker runs its sessions: on a freelist, so a block reused
     * across streams is fuzzed too (ASan poisons the blocks it keeps). */
    struct px_freelist mem;
    memset(&o, 0, sizeof(o));
    px_freelist_init(&mem, 64 * 1024);
    px_h2_config_init(&cfg);
    cfg.stream_window_bytes = 1024; /* small windows reach flow control */
    cfg.mem = &mem;
    struct px_h2 *s = px_h2_new(&cfg, &ops, &o);
    if (s == NULL) {
        px_freelist_dispose(&mem);
        return 0;
    }
    uint32_t seed = size >= 4 ? (uint32_t)data[0] | (uint32_t)data[1] << 8 | 1 : 1;
    uint64_t now = 1000;
    size_t off = 0;
    while (off < size) {
        size_t n = 1 + fuzz_rand(&seed) % 512;
        if (n > size - off)
            n = size - off;
        /* A copy of exactly N bytes, so ASan sees any read past the end. */
        uint8_t *chunk = malloc(n);
        FUZZ_CHECK(chunk != NULL);
        memcpy(chunk, data + off, n);
        int rc = px_h2_feed(s, chunk, n, now);
        free(chunk);
        FUZZ_CHECK(rc == 0 || rc == PX_EPARSE);
        off += n;
        now += fuzz_rand(&seed) % 200;
        drain(s);
        if (rc != 0)
            break;
    }
    if (px_h2_want_write(s)) {
        (void)px_h2_goaway(s);
        drain(s);
    }
    FUZZ_CHECK(o.closes <= o.heads);
    px_h2_free(s);
    px_freelist_dispose(&mem);
    return 0;
}
