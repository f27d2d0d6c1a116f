/* The test peer of proxy/proto/h2.c (h2_fixture.h). */
#include "tests/unit/proxy/proto/h2_fixture.h"

static void on_head(void *data, struct px_h2_stream *st, const struct px_h2_head *h)
{
    struct owner *o = data;
    o->heads++;
    o->last = st;
    snprintf(o->method, sizeof(o->method), "%.*s", (int)h->method.value_len, h->method.value);
    snprintf(o->scheme, sizeof(o->scheme), "%.*s", (int)h->scheme.value_len, h->scheme.value);
    snprintf(o->authority, sizeof(o->authority), "%.*s", (int)h->authority.value_len,
             h->authority.value);
    snprintf(o->path, sizeof(o->path), "%.*s", (int)h->path.value_len, h->path.value);
    o->fields[0] = '\0';
    for (uint32_t i = 0; i < h->nfields; i++) {
        size_t n = strlen(o->fields);
        snprintf(o->fields + n, sizeof(o->fields) - n, "%.*s: %.*s\n", (int)h->fields[i].name_len,
                 h->fields[i].name, (int)h->fields[i].value_len, h->fields[i].value);
    }
    o->content_length = h->content_length;
}

static void on_data(void *data, struct px_h2_stream *st, const char *buf, size_t len)
{
    struct owner *o = data;
    (void)buf;
    o->data_calls++;
    o->body_bytes += len;
    if (o->auto_consume)
        px_h2_consume(st, len);
}

static void on_end(void *data, struct px_h2_stream *st, const struct px_h2_field *tr, uint32_t n)
{
    struct owner *o = data;
    o->ends++;
    o->trailers[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        size_t k = strlen(o->trailers);
        snprintf(o->trailers + k, sizeof(o->trailers) - k, "%.*s: %.*s\n", (int)tr[i].name_len,
                 tr[i].name, (int)tr[i].value_len, tr[i].value);
    }
    if (o->respond) {
        ASSERT_OK(px_h2_submit_response(st, 200, NULL, 0, false));
        ASSERT_OK(px_h2_submit_data(st, "ok", 2, true));
    }
}

static void on_close(void *data, struct px_h2_stream *st, uint32_t code)
{
    struct owner *o = data;
    o->closes++;
    if (px_h2_stream_id(st) < MAX_IDS)
        o->close_code[px_h2_stream_id(st)] = code + 1;
    if (o->last == st)
        o->last = NULL;
}

static const struct px_h2_ops owner_ops = {on_head, on_data, on_end, on_close};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Records every complete frame in the server's output so far. */
void wire_walk(struct wire *w, const char *out, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2;
        w->buf = realloc(w->buf, w->cap);
        ASSERT_NOT_NULL(w->buf);
    }
    memcpy(w->buf + w->len, out, n);
    w->len += n;
    while (w->len - w->parsed >= 9) {
        const uint8_t *f = w->buf + w->parsed;
        size_t flen = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
        if (w->len - w->parsed < 9 + flen)
            break;
        uint8_t type = f[3];
        uint32_t id = be32(f + 5) & 0x7fffffff;
        const uint8_t *pl = f + 9;
        ASSERT_LT(id, MAX_IDS);
        switch (type) {
        case NGHTTP2_DATA:
            w->data[id] += flen;
            break;
        case NGHTTP2_HEADERS:
            w->headers[id]++;
            break;
        case NGHTTP2_RST_STREAM:
            w->rst[id] = be32(pl) + 1;
            break;
        case NGHTTP2_SETTINGS:
            w->settings++;
            break;
        case NGHTTP2_PING:
            w->pings++;
            break;
        case NGHTTP2_GOAWAY:
            w->goaways++;
            w->goaway_last = (int32_t)(be32(pl) & 0x7fffffff);
            w->goaway_code = (int)be32(pl + 4);
            break;
        case NGHTTP2_WINDOW_UPDATE:
            w->window_updates++;
            break;
        }
        w->parsed += 9 + flen;
    }
}

static int cli_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                         size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    struct peer *p = ud;
    (void)ng;
    (void)flags;
    if (nlen == 7 && memcmp(name, ":status", 7) == 0 && frame->hd.stream_id < MAX_IDS)
        p->status[frame->hd.stream_id] = atoi((const char *)value) + 0 * (int)vlen;
    return 0;
}

static int cli_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                       size_t len, void *ud)
{
    struct peer *p = ud;
    (void)ng;
    (void)flags;
    (void)data;
    if (id < MAX_IDS)
        p->client_body[id] += len;
    return 0;
}

/* A server session; with CLIENT, an nghttp2 client session that has queued its SETTINGS. */
void peer_init(struct peer *p, const struct px_h2_config *cfg, bool client,
               const nghttp2_settings_entry *iv, size_t niv)
{
    memset(p, 0, sizeof(*p));
    if (cfg)
        p->cfg = *cfg;
    else
        px_h2_config_init(&p->cfg);
    px_freelist_init(&p->mem, 64 * 1024);
    if (p->cfg.mem == NULL)
        p->cfg.mem = &p->mem;
    p->o.auto_consume = true;
    p->now_ms = 1000;
    p->s = px_h2_new(&p->cfg, &owner_ops, &p->o);
    ASSERT_NOT_NULL(p->s);
    if (client) {
        nghttp2_session_callbacks *cb;
        ASSERT_OK(nghttp2_session_callbacks_new(&cb));
        nghttp2_session_callbacks_set_on_header_callback(cb, cli_on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cli_on_data);
        ASSERT_OK(nghttp2_session_client_new(&p->cli, cb, p));
        nghttp2_session_callbacks_del(cb);
        ASSERT_OK(nghttp2_submit_settings(p->cli, NGHTTP2_FLAG_NONE, iv, niv));
    } else {
        ASSERT_OK(nghttp2_hd_deflate_new(&p->hpack, 4096));
    }
}

void peer_dispose(struct peer *p)
{
    px_h2_free(p->s);
    px_freelist_dispose(&p->mem);
    nghttp2_session_del(p->cli);
    if (p->hpack != NULL)
        nghttp2_hd_deflate_del(p->hpack);
    free(p->w.buf);
}

void peer_feed(struct peer *p, const void *data, size_t len)
{
    if (p->feed_rc != 0)
        return;
    p->fed_bytes += len;
    p->feed_rc = px_h2_feed(p->s, data, len, p->now_ms);
}

/* Moves bytes both ways until neither side has anything to say. */
void pump(struct peer *p)
{
    for (int round = 0; round < 1000; round++) {
        bool moved = false;
        const uint8_t *d;
        ssize_t n;
        while (p->cli && !p->cli_dead && (n = nghttp2_session_mem_send(p->cli, &d)) > 0) {
            peer_feed(p, d, (size_t)n);
            moved = true;
        }
        char buf[4096];
        while ((n = px_h2_send(p->s, buf, sizeof(buf))) > 0) {
            wire_walk(&p->w, buf, (size_t)n);
            if (p->cli && !p->cli_dead && nghttp2_session_mem_recv(p->cli, (uint8_t *)buf, n) < 0)
                p->cli_dead = true;
            moved = true;
        }
        ASSERT(n >= 0);
        if (!moved)
            return;
    }
    TEST_FAIL_("%s", "pump did not settle");
}

static ssize_t body_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t cap, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    struct body *b = src->ptr;
    size_t n = b->len - b->off < cap ? b->len - b->off : cap;
    (void)ng;
    (void)id;
    (void)ud;
    memcpy(buf, b->p + b->off, n);
    b->off += n;
    if (b->off == b->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Submits a request from the client: NV fields, then BODY (NULL: END_STREAM on HEADERS). */
int32_t request(struct peer *p, const nghttp2_nv *nv, size_t n, struct body *body)
{
    nghttp2_data_provider prd = {.source.ptr = body, .read_callback = body_read};
    int32_t id = nghttp2_submit_request(p->cli, NULL, nv, n, body ? &prd : NULL, NULL);
    ASSERT_GT(id, 0);
    return id;
}

/* ---------------------------------------------------------- raw mode */

size_t frame_hd(uint8_t *b, size_t len, uint8_t type, uint8_t flags, uint32_t id)
{
    b[0] = (uint8_t)(len >> 16);
    b[1] = (uint8_t)(len >> 8);
    b[2] = (uint8_t)len;
    b[3] = type;
    b[4] = flags;
    b[5] = (uint8_t)(id >> 24);
    b[6] = (uint8_t)(id >> 16);
    b[7] = (uint8_t)(id >> 8);
    b[8] = (uint8_t)id;
    return 9;
}

/* Sends one frame with PAYLOAD straight to the server. */
void raw_frame(struct peer *p, uint8_t type, uint8_t flags, uint32_t id, const void *payload,
               size_t len)
{
    uint8_t *b = malloc(9 + len + 1);
    ASSERT_NOT_NULL(b);
    frame_hd(b, len, type, flags, id);
    if (len)
        memcpy(b + 9, payload, len);
    peer_feed(p, b, 9 + len);
    free(b);
}

/* The client preface and an empty SETTINGS frame. */
void raw_preface(struct peer *p)
{
    peer_feed(p, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
    raw_frame(p, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
}

/* HPACK-encodes NV into OUT; returns the length. */
size_t raw_block(struct peer *p, const nghttp2_nv *nv, size_t n, uint8_t *out, size_t cap)
{
    ssize_t len = nghttp2_hd_deflate_hd(p->hpack, out, cap, nv, n);
    ASSERT_GE(len, 0);
    return (size_t)len;
}

/* Sends a HEADERS frame carrying NV on stream ID with FLAGS. */
void raw_headers(struct peer *p, uint32_t id, uint8_t flags, const nghttp2_nv *nv, size_t n)
{
    uint8_t block[8192];
    size_t len = raw_block(p, nv, n, block, sizeof(block));
    raw_frame(p, NGHTTP2_HEADERS, flags, id, block, len);
}

const nghttp2_nv get_nv[4] = {
    NV(":method", "GET"),
    NV(":scheme", "https"),
    NV(":authority", "example.com"),
    NV(":path", "/"),
};
