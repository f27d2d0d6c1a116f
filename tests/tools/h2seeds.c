/*
 * h2seeds: writes the seed corpus of tests/fuzz/fuzz_h2_server.c, each seed
 * the bytes an nghttp2 client session sends (preface, SETTINGS, requests),
 * so the fuzzer starts from frames a real client library generates.
 *
 *   h2seeds DIR     writes DIR/get, DIR/post-trailers, DIR/cookies-host, DIR/reset
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0                            \
    }

static const nghttp2_nv get_nv[] = {NV(":method", "GET"), NV(":scheme", "https"),
                                    NV(":authority", "example.com"), NV(":path", "/")};
static const nghttp2_nv post_nv[] = {
    NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "example.com"),
    NV(":path", "/up"),    NV("te", "trailers"),   NV("content-length", "5")};
static const nghttp2_nv cookie_nv[] = {NV(":method", "GET"),  NV(":scheme", "http"),
                                       NV(":path", "/c?x=1"), NV("host", "h.example"),
                                       NV("cookie", "a=1"),   NV("cookie", "b=2")};
static const nghttp2_nv trailer_nv[] = {NV("x-sum", "1")};

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t cap, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)id;
    (void)src;
    (void)ud;
    memcpy(buf, "hello", cap < 5 ? cap : 5);
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return nghttp2_submit_trailer(ng, 1, trailer_nv, 1) == 0 ? 5 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Appends what NG has to send to F. */
static int drain(nghttp2_session *ng, FILE *f)
{
    const uint8_t *p;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(ng, &p)) > 0)
        fwrite(p, 1, (size_t)n, f);
    return n == 0 ? 0 : -1;
}

static FILE *open_seed(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        perror(path);
    return f;
}

static nghttp2_session *client(void)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session *ng = NULL;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return NULL;
    if (nghttp2_session_client_new(&ng, cb, NULL) != 0 ||
        nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, NULL, 0) != 0) {
        nghttp2_session_del(ng);
        ng = NULL;
    }
    nghttp2_session_callbacks_del(cb);
    return ng;
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"get", "post-trailers", "cookies-host", "reset"};
    nghttp2_data_provider body = {.read_callback = read_body};
    int rc = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: h2seeds DIR\n");
        return 2;
    }
    for (int i = 0; i < 4; i++) {
        nghttp2_session *ng = client();
        FILE *f = open_seed(argv[1], names[i]);
        if (ng == NULL || f == NULL)
            return 1;
        if (i == 0)
            nghttp2_submit_request(ng, NULL, get_nv, 4, NULL, NULL);
        else if (i == 1)
            nghttp2_submit_request(ng, NULL, post_nv, 6, &body, NULL);
        else if (i == 2)
            nghttp2_submit_request(ng, NULL, cookie_nv, 6, NULL, NULL);
        else
            for (int k = 0; k < 8; k++) { /* Rapid Reset: each HEADERS, then its RST */
                int32_t id = nghttp2_submit_headers(ng, 0, -1, NULL, get_nv, 4, NULL);
                rc |= drain(ng, f);
                nghttp2_submit_rst_stream(ng, 0, id, NGHTTP2_CANCEL);
            }
        rc |= drain(ng, f);
        rc |= fclose(f);
        nghttp2_session_del(ng);
    }
    return rc ? 1 : 0;
}
