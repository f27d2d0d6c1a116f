/*
 * Unit tests of proxy/data/exchange.c: its pure helpers (which address
 * the X-Forwarded-For walk ends on, error statuses, head + small body
 * coalescing; proxy/proto/xff.c has the element forms),
 * reached by including the .c, and a real worker that never got a routing
 * table answering a request with 503 instead of crashing.
 */
#include "tests/unit/test.h"
#include "tests/unit/conf/load.h"
#include "proxy/data/exchange.c"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *ip_of(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    px_sockaddr_ip((const struct sockaddr *)ss, buf, cap);
    return buf;
}

TEST(exchange_status_for_errors)
{
    ASSERT_EQ(status_for(PX_EPARSE), 400);
    ASSERT_EQ(status_for(PX_EHEADTOOBIG), 431);
    ASSERT_EQ(status_for(PX_EBODYTOOBIG), 413);
    ASSERT_EQ(status_for(PX_EVERSION), 505);
    ASSERT_EQ(status_for(PX_EMETHOD), 501);
    ASSERT_EQ(status_for(PX_ETIMEOUT), 408);
    ASSERT_EQ(status_for(PX_ENOROUTES), 503);
    ASSERT_EQ(status_for(UV_ECONNRESET), 400);
}

/* The address client_address() finds for a request with XFF from PEER. */
static const char *walk(const struct conf *cf, const char *peer, const char *xff, char *out,
                        size_t cap)
{
    struct px_client c;
    struct px_exchange x;
    struct sockaddr_storage ss;
    char head[512];
    size_t used;

    memset(&c, 0, sizeof(c));
    memset(&x, 0, sizeof(x));
    c.peer.in.sin_family = AF_INET;
    inet_pton(AF_INET, peer, &c.peer.in.sin_addr);
    x.c = &c;
    if (px_http_init(&x.req, PX_HTTP_REQUEST, &x, 8192, 64) != 0)
        abort();
    int n = snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\n%s%s%s\r\n",
                     xff ? "X-Forwarded-For: " : "", xff ? xff : "", xff ? "\r\n" : "");
    if (px_http_feed(&x.req, head, (size_t)n, &used) != PX_HTTP_HEAD || px_http_scan(&x.req) != 0)
        abort();
    client_address(&x, cf, &ss);
    px_http_dispose(&x.req);
    return ip_of(&ss, out, cap);
}

TEST(exchange_client_address_walks_trusted_hops)
{
    struct conf *cf = conf_test_load_ok("listen: 127.0.0.1:1\ntrusted_proxies: [10.0.0.0/8]\n"
                                        "regions:\n  r:\n    backends: [127.0.0.1:2]\n");
    struct conf *none =
        conf_test_load_ok("listen: 127.0.0.1:1\nregions:\n  r:\n    backends: [127.0.0.1:2]\n");
    char ip[64];

    /* Trusted peer: right to left while the hop is trusted. */
    ASSERT_STR_EQ(walk(cf, "10.0.0.1", "203.0.113.9, 10.0.0.2", ip, sizeof(ip)), "203.0.113.9");
    ASSERT_STR_EQ(walk(cf, "10.0.0.1", "198.51.100.7, 203.0.113.9", ip, sizeof(ip)), "203.0.113.9");
    ASSERT_STR_EQ(walk(cf, "10.0.0.1", " 203.0.113.9 ,, ", ip, sizeof(ip)), "203.0.113.9");
    ASSERT_STR_EQ(walk(cf, "10.0.0.1", "[2001:db8::5]:1234", ip, sizeof(ip)), "2001:db8::5");
    ASSERT_STR_EQ(walk(cf, "10.0.0.1", "::ffff:203.0.113.9", ip, sizeof(ip)), "203.0.113.9");
    /* An element we cannot parse stops at the last trusted hop. */
    ASSERT_STR_EQ(walk(cf, "10.0.0.1", "203.0.113.9, junk", ip, sizeof(ip)), "10.0.0.1");
    /* Untrusted peer, or no trusted proxies at all: XFF is ignored. */
    ASSERT_STR_EQ(walk(cf, "192.0.2.1", "203.0.113.9", ip, sizeof(ip)), "192.0.2.1");
    ASSERT_STR_EQ(walk(none, "10.0.0.1", "203.0.113.9", ip, sizeof(ip)), "10.0.0.1");
    ASSERT_STR_EQ(walk(cf, "10.0.0.1", NULL, ip, sizeof(ip)), "10.0.0.1");
    conf_free(cf);
    conf_free(none);
}

TEST(exchange_coalesce_small_body)
{
    char out[16384], body[8192];
    struct px_exchange x;
    uv_buf_t bufs[2];

    memset(&x, 0, sizeof(x));
    memset(body, 'b', sizeof(body));
    x.out = out;
    x.out_cap = sizeof(out);
    x.resp_head_off = 100;
    memcpy(out + 100, "HEAD", 4);
    bufs[0] = uv_buf_init(out + 100, 4);
    bufs[1] = uv_buf_init(body, 10);
    ASSERT_EQ(coalesce_small_body(&x, bufs, 2), 1);
    ASSERT_EQ(bufs[0].len, 14);
    ASSERT(memcmp(out + 100, "HEADbbbbbbbbbb", 14) == 0);

    /* Too big to copy: two buffers, one writev. */
    bufs[0] = uv_buf_init(out + 100, 4);
    bufs[1] = uv_buf_init(body, COALESCE_MAX_BYTES + 1);
    ASSERT_EQ(coalesce_small_body(&x, bufs, 2), 2);
    /* Not the response head first (body bytes only): left alone. */
    bufs[0] = uv_buf_init(body, 4);
    bufs[1] = uv_buf_init(body, 10);
    ASSERT_EQ(coalesce_small_body(&x, bufs, 2), 2);
    /* No room behind the head in x->out. */
    x.resp_head_off = sizeof(out) - 8;
    bufs[0] = uv_buf_init(out + x.resp_head_off, 4);
    bufs[1] = uv_buf_init(body, 10);
    ASSERT_EQ(coalesce_small_body(&x, bufs, 2), 2);
}

/*
 * A worker whose first routing table never arrived (take_routes failing
 * for memory leaves w->view NULL the same way) answers 503 naming the
 * reason, and drains and joins cleanly.
 */
TEST(exchange_without_routing_table_answers_503)
{
    struct conf *cf =
        conf_test_load_ok("listen: 127.0.0.1:1\nregions:\n  r:\n    backends: [127.0.0.1:2]\n");
    struct px_process proc = {.conf = cf, .client_cap = 100};
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    struct timeval tv = {.tv_sec = 5};
    static struct px_worker w;
    char resp[4096];
    size_t got = 0;
    ssize_t n;

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(lfd >= 0);
    ASSERT_OK(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)));
    ASSERT_OK(listen(lfd, 8));
    ASSERT_OK(getsockname(lfd, (struct sockaddr *)&sin, &len));
    ASSERT_OK(px_worker_init(&w, 0, &proc, px_stats_zone_slots(cf->nzones),
                             px_stats_slots(cf->nregions), &lfd, 1));
    ASSERT_NULL(w.view);
    ASSERT_OK(px_worker_start(&w));

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
    ASSERT_OK(connect(fd, (struct sockaddr *)&sin, sizeof(sin)));
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
        got += (size_t)n;
    resp[got] = '\0';
    close(fd);
    ASSERT(strncmp(resp, "HTTP/1.1 503 ", 13) == 0);
    ASSERT_NOT_NULL(strstr(resp, "no routing table"));
    ASSERT_NOT_NULL(strstr(resp, "Connection: close"));

    px_worker_stop(&w);
    px_worker_join(&w);
    conf_free(cf);
}
