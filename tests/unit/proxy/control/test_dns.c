/*
 * Unit tests of proxy/control/dns.c on a real uv loop: literals never reach c-ares,
 * /etc/hosts answers complete synchronously, teardown leaves a loop that
 * closes with 0 (also from inside callbacks and with queries in flight),
 * and, against a tiny in-loop UDP responder, a failure keeps the last good
 * set, is logged once and retried. The pure helpers (ordering, SRV TTLs
 * and weights, error mapping) are tested directly.
 */
#include "tests/unit/test.h"
#include "proxy/control/dns.c"

#include <unistd.h>

/* ---- fixture: a loop, a ticking timer (so UV_RUN_ONCE returns), a px_dns ---- */

enum fake_mode { FAKE_A, FAKE_SERVFAIL, FAKE_NXDOMAIN, FAKE_DROP };

struct fake_dns {
    uv_udp_t udp;
    int port;
    enum fake_mode mode;
    uint8_t a[4];     /* address answered to A queries */
    unsigned queries; /* received */
};

struct fx {
    uv_loop_t loop;
    uv_timer_t tick;
    struct px_dns *dns;
    struct conf_dns conf;
    struct conf_addr server;
    int closed; /* close_cb calls */
    struct fake_dns fake;
    int fake_on;
};

struct rec {
    struct fx *f;
    unsigned calls;
    struct px_dns_addr addrs[8];
    size_t naddrs;
    uint64_t ttl_ms;
    unsigned depth_at_call; /* dns->depth inside the callback */
    int unwatch_self;       /* unwatch from inside the callback */
    int close_dns;          /* px_dns_close from inside the callback */
    int rc_after_close;     /* px_dns_watch_name after that close */
    struct px_dns_watch *w;
};

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void fx_init(struct fx *f, const char *server)
{
    memset(f, 0, sizeof(*f));
    ASSERT_OK(px_dns_global_init());
    ASSERT_OK(uv_loop_init(&f->loop));
    ASSERT_OK(uv_timer_init(&f->loop, &f->tick));
    ASSERT_OK(uv_timer_start(&f->tick, on_tick, 5, 5));
    f->conf.min_ttl_ms = 100;
    f->conf.max_ttl_ms = 100;
    f->conf.timeout_ms = 100;
    f->conf.retry_max_ms = 200;
    f->conf.family = CONF_DNS_ANY;
    if (server != NULL) {
        snprintf(f->server.text, sizeof(f->server.text), "%s", server);
        f->conf.servers = &f->server;
        f->conf.nservers = 1;
    }
    ASSERT_OK(px_dns_new(&f->loop, &f->conf, &f->dns));
}

static void on_closed(void *data)
{
    struct fx *f = data;
    f->closed++;
    f->dns = NULL;
}

/* Runs the loop until *flag >= want or TIMEOUT_MS pass; returns *flag >= want. */
static int run_until(struct fx *f, const unsigned *flag, unsigned want, uint64_t timeout_ms)
{
    uint64_t end = uv_now(&f->loop) + timeout_ms;

    while (*flag < want && uv_now(&f->loop) < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    return *flag >= want;
}

static void run_for(struct fx *f, uint64_t ms)
{
    uint64_t end = uv_now(&f->loop) + ms;
    while (uv_now(&f->loop) < end)
        uv_run(&f->loop, UV_RUN_ONCE);
}

/* Closes the px_dns (unless already closed), the tick and the fake; asserts a clean loop. */
static void fx_finish(struct fx *f)
{
    if (f->dns != NULL && !f->dns->closing)
        px_dns_close(f->dns, on_closed, f);
    uv_close((uv_handle_t *)&f->tick, NULL);
    if (f->fake_on)
        uv_close((uv_handle_t *)&f->fake.udp, NULL);
    ASSERT_OK(uv_run(&f->loop, UV_RUN_DEFAULT));
    ASSERT_EQ(f->closed, 1);
    ASSERT_OK(uv_loop_close(&f->loop));
    px_dns_global_cleanup();
}

static void on_rec(void *data, const struct px_dns_result *res)
{
    struct rec *r = data;
    r->calls++;
    r->naddrs = res->naddrs < 8 ? res->naddrs : 8;
    memcpy(r->addrs, res->addrs, r->naddrs * sizeof(*r->addrs));
    r->ttl_ms = res->ttl_ms;
    r->depth_at_call = r->f->dns->depth;
    ASSERT(res->naddrs >= 1);
    if (r->unwatch_self) {
        px_dns_unwatch(r->w);
        r->w = NULL;
    }
    if (r->close_dns) {
        struct px_dns_watch *w;
        px_dns_close(r->f->dns, on_closed, r->f);
        r->rc_after_close = px_dns_watch_name(r->f->dns, "x", 1, 0, on_rec, r, &w);
    }
}

/* The text of the socket address; the host-order port field must agree with it. */
static void addr_text(const struct px_dns_addr *a, char *buf, size_t cap)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;

    ASSERT_EQ(ntohs(a->sa.ss_family == AF_INET6 ? sin6->sin6_port : sin->sin_port), a->port);
    px_sockaddr_text((const struct sockaddr *)&a->sa, buf, cap);
}

#define ASSERT_ADDR(a, text)                                                                       \
    do {                                                                                           \
        char addr_buf_[80];                                                                        \
        addr_text((a), addr_buf_, sizeof(addr_buf_));                                              \
        ASSERT_STR_EQ(addr_buf_, text);                                                            \
    } while (0)

/* ---- the fake responder ---- */

static void on_fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[1500];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_fake_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *from, unsigned flags)
{
    struct fake_dns *fd = px_container_of(u, struct fake_dns, udp);
    unsigned char out[1500];
    const unsigned char *q = (const unsigned char *)buf->base;
    size_t off = 12, n;
    unsigned qtype;
    int answer;

    (void)flags;
    if (nread < 12 || from == NULL)
        return;
    n = (size_t)nread;
    if (wire_skip_name(q, n, &off) != 0 || off + 4 > n)
        return;
    qtype = (unsigned)q[off] << 8 | q[off + 1];
    off += 4;
    fd->queries++;
    if (fd->mode == FAKE_DROP)
        return;
    memcpy(out, q, off);           /* header and question */
    out[2] = 0x80 | (q[2] & 0x01); /* QR, RD copied */
    out[3] = 0x80;                 /* RA, rcode set below */
    out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
    answer = fd->mode == FAKE_A && qtype == 1;
    if (fd->mode == FAKE_SERVFAIL)
        out[3] |= 2;
    if (fd->mode == FAKE_NXDOMAIN)
        out[3] |= 3;
    if (answer) {
        static const unsigned char rr[] = {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4};
        out[7] = 1;
        memcpy(out + off, rr, sizeof(rr));
        memcpy(out + off + sizeof(rr), fd->a, 4);
        off += sizeof(rr) + 4;
    }
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)off);
    uv_udp_try_send(u, &b, 1, from);
}

static void fake_start(struct fx *f)
{
    struct sockaddr_in sa;
    struct sockaddr_storage got;
    int len = sizeof(got);

    ASSERT_OK(uv_udp_init(&f->loop, &f->fake.udp));
    ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &sa));
    ASSERT_OK(uv_udp_bind(&f->fake.udp, (const struct sockaddr *)&sa, 0));
    ASSERT_OK(uv_udp_getsockname(&f->fake.udp, (struct sockaddr *)&got, &len));
    f->fake.port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    ASSERT_OK(uv_udp_recv_start(&f->fake.udp, on_fake_alloc, on_fake_recv));
    f->fake_on = 1;
}

/* ---- tests ---- */

TEST(dns_literals_skip_cares)
{
    struct fx f;
    struct rec r4 = {0}, r6 = {0}, rb = {0};
    struct px_dns_watch *w4, *w6, *wb;
    struct px_dns_watch_info in;
    struct px_dns_stats st;

    /* A server nobody answers on: any query would fail, not resolve. */
    fx_init(&f, "127.0.0.1:9");
    r4.f = r6.f = rb.f = &f;
    ASSERT_OK(px_dns_watch_name(f.dns, "127.0.0.9", 80, CONF_DNS_IPV6, on_rec, &r4, &w4));
    ASSERT_OK(px_dns_watch_name(f.dns, "::1", 443, CONF_DNS_ANY, on_rec, &r6, &w6));
    ASSERT_OK(px_dns_watch_name(f.dns, "[2001:db8::7]", 8080, CONF_DNS_ANY, on_rec, &rb, &wb));
    ASSERT_EQ(r4.calls, 0); /* never from inside px_dns_watch_name */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(r4.calls, 1);
    ASSERT_EQ(r6.calls, 1);
    ASSERT_EQ(rb.calls, 1);
    ASSERT_EQ(r4.naddrs, 1);
    ASSERT_ADDR(&r4.addrs[0], "127.0.0.9:80");
    ASSERT_ADDR(&r6.addrs[0], "[::1]:443");
    ASSERT_ADDR(&rb.addrs[0], "[2001:db8::7]:8080");
    ASSERT_EQ(r4.addrs[0].weight, 1);
    ASSERT(r4.ttl_ms == UINT64_MAX);

    px_dns_stats(f.dns, &st);
    ASSERT_EQ(st.queries, 0);
    ASSERT_EQ(st.changes, 3);
    ASSERT_EQ(f.dns->npolls, 0);
    px_dns_watch_info(w4, &in);
    ASSERT_STR_EQ(in.name, "127.0.0.9");
    ASSERT_EQ(in.is_literal, 1);
    ASSERT_EQ(in.naddrs, 1);
    ASSERT(in.ttl_left_ms == UINT64_MAX);
    ASSERT_EQ(in.err, 0);
    ASSERT_LT(in.last_ok_age_ms, 1000);

    /* Never re-resolved. */
    run_for(&f, 150);
    ASSERT_EQ(r4.calls, 1);
    ASSERT_PTR_EQ(px_dns_watch_first(f.dns), w4);
    ASSERT_PTR_EQ(px_dns_watch_next(w4), w6);
    ASSERT_PTR_EQ(px_dns_watch_next(w6), wb);
    ASSERT_NULL(px_dns_watch_next(wb));
    px_dns_unwatch(w6);
    ASSERT_PTR_EQ(px_dns_watch_next(w4), wb);
    fx_finish(&f);
}

TEST(dns_localhost_from_hosts_is_synchronous)
{
    struct fx f;
    struct rec r = {0};
    struct px_dns_watch *w;
    struct px_dns_stats st;
    struct px_dns_watch_info in;

    fx_init(&f, "127.0.0.1:9");
    r.f = &f;
    ASSERT_OK(px_dns_watch_name(f.dns, "localhost", 8080, CONF_DNS_IPV4, on_rec, &r, &w));
    /* One loop turn: the scheduling timer starts the lookup and c-ares
     * answers from /etc/hosts (or RFC 6761) inside ares_getaddrinfo. */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(r.calls, 1);
    ASSERT_GE(r.depth_at_call, 2); /* inside watch_start's c-ares call, then the callback */
    ASSERT_EQ(r.naddrs, 1);
    ASSERT_ADDR(&r.addrs[0], "127.0.0.1:8080");
    ASSERT_EQ(r.ttl_ms, 100); /* hosts entries carry TTL 0: raised to min_ttl */
    px_dns_stats(f.dns, &st);
    ASSERT_EQ(st.queries, 1);
    ASSERT_EQ(st.failures, 0);
    ASSERT_EQ(f.dns->npolls, 0); /* no socket was ever opened */
    px_dns_watch_info(w, &in);
    ASSERT_EQ(in.is_literal, 0);
    ASSERT_EQ(in.resolving, 0);
    ASSERT_LE(in.ttl_left_ms, 100);

    /* Re-resolved at the TTL, same set: no second callback. */
    run_for(&f, 250);
    px_dns_stats(f.dns, &st);
    ASSERT_GE(st.queries, 2);
    ASSERT_EQ(r.calls, 1);
    fx_finish(&f);
}

TEST(dns_unwatch_inside_synchronous_callback)
{
    struct fx f;
    struct rec r = {0}, r2 = {0};

    fx_init(&f, "127.0.0.1:9");
    r.f = r2.f = &f;
    r.unwatch_self = 1;
    ASSERT_OK(px_dns_watch_name(f.dns, "localhost", 1, CONF_DNS_IPV4, on_rec, &r, &r.w));
    ASSERT_OK(px_dns_watch_name(f.dns, "localhost", 2, CONF_DNS_IPV4, on_rec, &r2, &r2.w));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r2.calls, 1);
    ASSERT_NULL(r.w);
    ASSERT_PTR_EQ(px_dns_watch_first(f.dns), r2.w);
    ASSERT_NULL(px_dns_watch_next(r2.w));
    fx_finish(&f);
}

TEST(dns_close_inside_callback)
{
    struct fx f;
    struct rec r = {0}, r2 = {0}, r3 = {0};
    struct px_dns_watch *w;

    fx_init(&f, "127.0.0.1:9");
    r.f = r2.f = r3.f = &f;
    r.close_dns = 1;
    ASSERT_OK(px_dns_watch_name(f.dns, "127.0.0.1", 1, CONF_DNS_ANY, on_rec, &r, &w));
    ASSERT_OK(px_dns_watch_name(f.dns, "127.0.0.2", 2, CONF_DNS_ANY, on_rec, &r2, &w));
    ASSERT_OK(px_dns_watch_name(f.dns, "localhost", 3, CONF_DNS_ANY, on_rec, &r3, &w));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r2.calls, 0); /* closed before its turn */
    ASSERT_EQ(r3.calls, 0);
    ASSERT_EQ(r.rc_after_close, PX_ESHUTDOWN);
    fx_finish(&f);
}

TEST(dns_close_with_query_in_flight)
{
    struct fx f;
    struct rec r = {0}, rs = {0};
    struct px_dns_watch *w, *ws;
    struct px_dns_watch_info in;

    fx_init(&f, NULL);
    fake_start(&f);
    f.fake.mode = FAKE_DROP;
    {
        struct conf_addr srv;
        struct conf_dns c = f.conf;
        snprintf(srv.text, sizeof(srv.text), "127.0.0.1:%d", f.fake.port);
        c.servers = &srv;
        c.nservers = 1;
        c.timeout_ms = 2000;
        ASSERT_OK(px_dns_set_conf(f.dns, &c));
    }
    r.f = rs.f = &f;
    ASSERT_OK(px_dns_watch_name(f.dns, "slow.test", 80, CONF_DNS_ANY, on_rec, &r, &w));
    ASSERT_OK(px_dns_watch_srv(f.dns, "_http._tcp.slow.test", on_rec, &rs, &ws));
    run_until(&f, &f.fake.queries, 3, 1000); /* A, AAAA and SRV sent, none answered */
    ASSERT_GE(f.fake.queries, 3);
    ASSERT_GE(f.dns->npolls, 1);
    px_dns_watch_info(w, &in);
    ASSERT_EQ(in.resolving, 1);
    ASSERT_EQ(in.naddrs, 0);
    ASSERT_EQ(in.ttl_left_ms, 0);
    ASSERT(in.last_ok_age_ms == UINT64_MAX);
    px_dns_close(f.dns, on_closed, &f);
    px_dns_close(f.dns, on_closed, &f); /* idempotent (still alive until its handles close) */
    fx_finish(&f);
    ASSERT_EQ(r.calls, 0);
    ASSERT_EQ(rs.calls, 0);
}

TEST(dns_failure_keeps_last_good_and_retries)
{
    struct fx f;
    struct rec r = {0};
    struct px_dns_watch *w;
    struct px_dns_watch_info in;
    struct px_dns_stats st;
    char server[64];
    unsigned q;

    fx_init(&f, NULL);
    fake_start(&f);
    snprintf(server, sizeof(server), "127.0.0.1:%d", f.fake.port);
    snprintf(f.server.text, sizeof(f.server.text), "%s", server);
    f.conf.servers = &f.server;
    f.conf.nservers = 1;
    ASSERT_OK(px_dns_set_conf(f.dns, &f.conf));

    f.fake.mode = FAKE_A;
    memcpy(f.fake.a, (uint8_t[]){10, 0, 0, 1}, 4);
    r.f = &f;
    ASSERT_OK(px_dns_watch_name(f.dns, "svc.test", 80, CONF_DNS_IPV4, on_rec, &r, &w));
    ASSERT(run_until(&f, &r.calls, 1, 1000));
    ASSERT_ADDR(&r.addrs[0], "10.0.0.1:80");
    ASSERT_EQ(r.ttl_ms, 100); /* TTL 1 s lowered to max_ttl */

    /* The server fails: the set stays, failures are counted, retries back off. */
    f.fake.mode = FAKE_SERVFAIL;
    q = f.fake.queries;
    run_for(&f, 700);
    ASSERT_EQ(r.calls, 1);
    px_dns_watch_info(w, &in);
    ASSERT_EQ(in.naddrs, 1);
    /* c-ares 1.18 skips a SERVFAIL answer and, out of servers, reports the
     * initial ECONNREFUSED; later versions report ESERVFAIL. */
    ASSERT(in.err == PX_EDNS_UNREACHABLE || in.err == PX_EDNS_SERVFAIL);
    ASSERT_EQ(in.last_err, in.err);
    ASSERT_STR_EQ(in.last_err_str, px_dns_strerror(in.err));
    ASSERT_GE(in.failures, 2);
    ASSERT_LE(in.failures, 6); /* 100 ms TTL, then 100/200/200 ms retries (cap 200) */
    ASSERT_GT(f.fake.queries, q);
    px_dns_stats(f.dns, &st);
    ASSERT_EQ(st.fail_servfail + st.fail_unreachable, in.failures);
    ASSERT_EQ(st.failures, in.failures);

    /* Name gone: still the last good set, a new error state. */
    f.fake.mode = FAKE_NXDOMAIN;
    run_for(&f, 500);
    px_dns_watch_info(w, &in);
    ASSERT_EQ(in.err, PX_EDNS_NOTFOUND);
    ASSERT_EQ(in.naddrs, 1);
    ASSERT_EQ(r.calls, 1);

    /* Back with a new address: one callback, error cleared. */
    f.fake.mode = FAKE_A;
    memcpy(f.fake.a, (uint8_t[]){10, 0, 0, 2}, 4);
    ASSERT(run_until(&f, &r.calls, 2, 1000));
    ASSERT_ADDR(&r.addrs[0], "10.0.0.2:80");
    px_dns_watch_info(w, &in);
    ASSERT_EQ(in.err, 0);
    ASSERT_EQ(in.last_err, PX_EDNS_NOTFOUND);
    ASSERT_EQ(in.naddrs, 1);
    fx_finish(&f);
}

TEST(dns_never_resolving_name_stays_empty)
{
    struct fx f;
    struct rec r = {0};
    struct px_dns_watch *w;
    struct px_dns_watch_info in;

    fx_init(&f, NULL);
    fake_start(&f);
    f.fake.mode = FAKE_NXDOMAIN;
    {
        struct conf_addr srv;
        struct conf_dns c = f.conf;
        snprintf(srv.text, sizeof(srv.text), "127.0.0.1:%d", f.fake.port);
        c.servers = &srv;
        c.nservers = 1;
        ASSERT_OK(px_dns_set_conf(f.dns, &c));
    }
    r.f = &f;
    ASSERT_OK(px_dns_watch_srv(f.dns, "_http._tcp.none.test", on_rec, &r, &w));
    run_for(&f, 400);
    ASSERT_EQ(r.calls, 0);
    px_dns_watch_info(w, &in);
    ASSERT_EQ(in.is_srv, 1);
    ASSERT_EQ(in.naddrs, 0);
    ASSERT_NULL(in.addrs);
    ASSERT_EQ(in.err, PX_EDNS_NOTFOUND);
    ASSERT_GE(in.failures, 1);
    ASSERT(in.last_ok_age_ms == UINT64_MAX);
    ASSERT_EQ(in.last_ok_unix_ms, 0);
    fx_finish(&f);
}

TEST(dns_bad_arguments)
{
    struct fx f;
    struct rec r = {0};
    struct px_dns_watch *w = (struct px_dns_watch *)&r;
    char big[300];

    fx_init(&f, NULL);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_EQ(px_dns_watch_name(f.dns, "", 80, 0, on_rec, &r, &w), UV_EINVAL);
    ASSERT_NULL(w);
    ASSERT_EQ(px_dns_watch_name(f.dns, big, 80, 0, on_rec, &r, &w), UV_EINVAL);
    ASSERT_EQ(px_dns_watch_name(f.dns, "a.test", 80, 99, on_rec, &r, &w), UV_EINVAL);
    ASSERT_EQ(px_dns_watch_name(f.dns, "a.test", 80, 0, NULL, &r, &w), UV_EINVAL);
    px_dns_unwatch(NULL);
    fx_finish(&f);

    /* A server list c-ares cannot parse. */
    {
        uv_loop_t loop;
        struct px_dns *d = NULL;
        struct conf_addr a;
        struct conf_dns c = {.servers = &a, .nservers = 1, .min_ttl_ms = 100, .max_ttl_ms = 100};
        ASSERT_OK(px_dns_global_init());
        ASSERT_OK(uv_loop_init(&loop));
        snprintf(a.text, sizeof(a.text), "not an address");
        ASSERT_NE(px_dns_new(&loop, &c, &d), 0);
        ASSERT_NULL(d);
        ASSERT_OK(uv_loop_close(&loop)); /* nothing left on the loop */
        px_dns_global_cleanup();
    }
}

TEST(dns_addresses_sorted_and_deduplicated)
{
    struct px_dns_addr a[6], b[6];
    size_t n;
    uint8_t v4a[4] = {10, 0, 0, 2}, v4b[4] = {10, 0, 0, 1};
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

    ASSERT_OK(addr_set(&a[0], AF_INET6, v6, 0, 80, 1, 0));
    ASSERT_OK(addr_set(&a[1], AF_INET, v4a, 0, 80, 1, 0));
    ASSERT_OK(addr_set(&a[2], AF_INET, v4b, 0, 81, 3, 0));
    ASSERT_OK(addr_set(&a[3], AF_INET, v4b, 0, 80, 1, 0));
    ASSERT_OK(addr_set(&a[4], AF_INET, v4a, 0, 80, 1, 0)); /* duplicate */
    ASSERT_OK(addr_set(&a[5], AF_INET, v4b, 0, 81, 9, 0)); /* duplicate, heavier */
    ASSERT_EQ(addr_set(&b[0], AF_UNIX, v4a, 0, 80, 1, 0), -1);
    memcpy(b, a, sizeof(a));
    n = addrs_normalize(a, 6);
    ASSERT_EQ(n, 4);
    ASSERT_ADDR(&a[0], "10.0.0.1:80");
    ASSERT_ADDR(&a[1], "10.0.0.1:81");
    ASSERT_EQ(a[1].weight, 9); /* the heavier duplicate is kept */
    ASSERT_ADDR(&a[2], "10.0.0.2:80");
    ASSERT_ADDR(&a[3], "[2001:db8::1]:80");

    ASSERT_EQ(addrs_normalize(b, 6), 4);
    ASSERT_EQ(addrs_differ(a, 4, b, 4), 0);
    b[1].weight = 2;
    ASSERT_EQ(addrs_differ(a, 4, b, 4), 1);
    ASSERT_EQ(addrs_differ(a, 4, b, 3), 1);

    ASSERT_OK(literal_parse("[::ffff:1.2.3.4]", 5, &b[0]));
    ASSERT_ADDR(&b[0], "[::ffff:1.2.3.4]:5");
    ASSERT_EQ(literal_parse("1.2.3", 5, &b[0]), -1);
    ASSERT_EQ(literal_parse("[1.2.3.4", 5, &b[0]), -1);
    ASSERT_EQ(literal_parse("host.example", 5, &b[0]), -1);
}

TEST(dns_srv_weights_and_ttl)
{
    /* Header (1 question, 2 answers), question _x._tcp.t SRV IN, two SRV RRs. */
    /* clang-format off */
    static const unsigned char msg[] = {
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
        2, '_', 'x', 4, '_', 't', 'c', 'p', 1, 't', 0, 0, 33, 0, 1,
        0xC0, 0x0C, 0, 33, 0, 1, 0, 0, 0, 30, 0, 9, 0, 1, 0, 5, 0x1F, 0x90, 1, 'a', 0,
        0xC0, 0x0C, 0, 33, 0, 1, 0, 0, 0, 7, 0, 9, 0, 1, 0, 5, 0x1F, 0x91, 1, 'b', 0,
    };
    /* clang-format on */

    ASSERT_EQ(srv_min_ttl(msg, sizeof(msg)), 7);
    ASSERT(srv_min_ttl(msg, sizeof(msg) - 3) == UINT64_MAX); /* cut short: unknown */
    ASSERT(srv_min_ttl(msg, 5) == UINT64_MAX);
    ASSERT(srv_min_ttl(NULL, 0) == UINT64_MAX);

    ASSERT_EQ(srv_weight(0, 10), 1);
    ASSERT_EQ(srv_weight(10, 10), 10);
    ASSERT_EQ(srv_weight(256, 256), 256);
    ASSERT_EQ(srv_weight(65535, 65535), 256);
    ASSERT_EQ(srv_weight(1000, 4000), 64);
    ASSERT_EQ(srv_weight(1, 65535), 1);
}

TEST(dns_ttl_clamp_and_errors)
{
    struct px_dns d;

    memset(&d, 0, sizeof(d));
    d.min_ttl_ms = 1000;
    d.max_ttl_ms = 60000;
    ASSERT_EQ(ttl_clamp_ms(&d, 0), 1000);
    ASSERT_EQ(ttl_clamp_ms(&d, 5), 5000);
    ASSERT_EQ(ttl_clamp_ms(&d, 3600), 60000);
    ASSERT_EQ(ttl_clamp_ms(&d, UINT64_MAX), 1000);
    ASSERT_EQ(ttl_clamp_ms(&d, UINT64_MAX / 10), 60000);

    ASSERT_EQ(map_ares_status(ARES_SUCCESS), 0);
    ASSERT_EQ(map_ares_status(ARES_ENOTFOUND), PX_EDNS_NOTFOUND);
    ASSERT_EQ(map_ares_status(ARES_ENODATA), PX_EDNS_NOTFOUND);
    ASSERT_EQ(map_ares_status(ARES_ETIMEOUT), PX_EDNS_UNREACHABLE);
    ASSERT_EQ(map_ares_status(ARES_ECONNREFUSED), PX_EDNS_UNREACHABLE);
    ASSERT_EQ(map_ares_status(ARES_ESERVFAIL), PX_EDNS_SERVFAIL);
    ASSERT_EQ(map_ares_status(ARES_EREFUSED), PX_EDNS_SERVFAIL);
    ASSERT_EQ(map_ares_status(ARES_EBADRESP), PX_EDNS_BADRESP);
    ASSERT_EQ(map_ares_status(ARES_EBADNAME), PX_EDNS_BADNAME);
    ASSERT_EQ(map_ares_status(ARES_ENOMEM), PX_ENOMEM);
    ASSERT_EQ(map_ares_status(ARES_ECANCELLED), PX_EDNS_CANCELED);
    ASSERT_EQ(map_ares_status(ARES_EDESTRUCTION), PX_EDNS_CANCELED);
    ASSERT_EQ(map_ares_status(ARES_EFILE), PX_EDNS_FAILED);
    ASSERT_STR_EQ(px_dns_strerror(PX_EDNS_NOTFOUND), "name or record not found");
    ASSERT_STR_EQ(px_dns_strerror(PX_ENOMEM), "out of memory");
    ASSERT_STR_EQ(px_dns_err_name(PX_EDNS_UNREACHABLE), "EDNS_UNREACHABLE");
    ASSERT_STR_EQ(px_dns_err_name(0), "OK");
    ASSERT_STR_EQ(px_dns_err_name(UV_ECONNREFUSED), "ECONNREFUSED");
}
