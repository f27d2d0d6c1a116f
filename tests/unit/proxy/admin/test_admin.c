/*
 * Unit tests of proxy/admin/admin.c's request handling (px_admin_handle) on a
 * control struct that is initialised but never started: routing of paths
 * and methods, the bearer token, drain/undrain, /readyz before the first
 * table, and the shape of /metrics and /status.
 */
#include "tests/unit/test.h"
#include "proxy/admin/admin.h"
#include "proxy/control/control.h"
#include "proxy/base/px.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct fixture {
    char path[4096];
    struct px_snapshot *snap;
    struct px_control ctl;
};

static void setup(struct fixture *f, const char *admin)
{
    struct px_config *cfg;
    char err[1024];
    FILE *fp;

    snprintf(f->path, sizeof(f->path), "%s/georoute-test-admin-%d.yaml", test_tmpdir(),
             (int)getpid());
    fp = fopen(f->path, "w");
    ASSERT_NOT_NULL(fp);
    fprintf(fp,
            "listen: 127.0.0.1:1\n%s\nregions:\n"
            "  east:\n    backends: [127.0.0.1:2, 127.0.0.1:3]\n"
            "  west:\n    backends: [127.0.0.1:4]\n"
            "zones:\n  - name: lab\n    match: {cidr: [10.0.0.0/8]}\n"
            "    route: {regions: [east], fallback: [west]}\n"
            "  - name: default\n    route: {regions: [west, east]}\n",
            admin);
    fclose(fp);
    if (px_config_load(f->path, &cfg, err, sizeof(err)) != 0)
        TEST_FAIL_("config: %s", err);
    ASSERT_OK(px_snapshot_new(cfg, NULL, &f->snap, err, sizeof(err)));
    px_config_unref(cfg);
    static struct px_process proc;
    ASSERT_OK(px_control_init(&f->ctl, f->snap, NULL, 0, &proc));
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void teardown(struct fixture *f)
{
    px__control_close_backends(&f->ctl);
    px__control_close_names(&f->ctl);
    uv_walk(&f->ctl.loop, on_walk_close, NULL);
    uv_run(&f->ctl.loop, UV_RUN_DEFAULT);
    px__control_dispose(&f->ctl);
    px_snapshot_unref(f->snap);
    unlink(f->path);
}

/* Runs RQ; returns the status and leaves the body in OUT (and the response in RS if given). */
static int call_req(struct fixture *f, const struct px_admin_req *rq, struct px_sbuf *out,
                    struct px_admin_resp *rs_out)
{
    struct px_admin_resp rs;

    px_sbuf_dispose(out);
    px_sbuf_init(&rs.body);
    px_admin_handle(&f->ctl, rq, &rs);
    *out = rs.body;
    if (rs_out)
        *rs_out = rs;
    return rs.status;
}

/* One request as curl would send it to the fixture's admin address 127.0.0.1:9. */
static int call(struct fixture *f, const char *method, const char *target, const char *auth,
                struct px_sbuf *out)
{
    struct px_admin_req rq = {.method = method,
                              .target = target,
                              .auth = auth,
                              .host = "127.0.0.1:9",
                              .admin_header = true};
    return call_req(f, &rq, out, NULL);
}

TEST(admin_paths_methods_and_token)
{
    struct fixture f;
    struct px_sbuf b;

    setup(&f, "admin: {listen: 127.0.0.1:9, token: tok3n}");
    px_sbuf_init(&b);
    ASSERT_EQ(call(&f, "GET", "/healthz", NULL, &b), 200);
    ASSERT_EQ(call(&f, "GET", "/readyz", NULL, &b), 503); /* no routing table yet */
    ASSERT_STR_CONTAINS(b.data, "not ready");
    ASSERT_EQ(call(&f, "GET", "/nope", NULL, &b), 404);
    ASSERT_EQ(call(&f, "DELETE", "/status", NULL, &b), 405);
    ASSERT_EQ(call(&f, "GET", "/regions/east/drain", NULL, &b), 405);
    ASSERT_EQ(call(&f, "POST", "/regions/east/drain", NULL, &b), 401);
    ASSERT_EQ(call(&f, "POST", "/regions/east/drain", "Bearer tok3", &b), 401);
    ASSERT_EQ(call(&f, "POST", "/regions/east/drain", "Bearer tok3nn", &b), 401);
    ASSERT_EQ(call(&f, "POST", "/regions/east/drain", "Basic tok3n", &b), 401);
    ASSERT(!f.ctl.regions[0].drained);
    ASSERT_EQ(call(&f, "POST", "/regions/east/drain", "Bearer tok3n", &b), 200);
    ASSERT(f.ctl.regions[0].drained);
    ASSERT(f.ctl.dirty);
    ASSERT_EQ(call(&f, "POST", "/regions/nowhere/drain", "Bearer tok3n", &b), 404);
    ASSERT_EQ(call(&f, "POST", "/regions/east/undrain", "bearer  tok3n", &b), 200);
    ASSERT(!f.ctl.regions[0].drained);
    ASSERT_EQ(call(&f, "GET", "/debug/route?ip=10.1.2.3", "Bearer tok3n", &b), 200);
    ASSERT_STR_CONTAINS(b.data, "\"zone\":\"lab\"");
    ASSERT_EQ(call(&f, "GET", "/debug/route?ip=192.0.2.1", "Bearer tok3n", &b), 200);
    ASSERT_STR_CONTAINS(b.data, "\"zone\":\"default\"");
    ASSERT_EQ(call(&f, "GET", "/debug/route?ip=2001%3Adb8%3A%3A1", "Bearer tok3n", &b), 200);
    ASSERT_EQ(call(&f, "GET", "/debug/route?ip=10.1.2", "Bearer tok3n", &b), 400);
    ASSERT_EQ(call(&f, "GET", "/debug/route?ip=%zz", "Bearer tok3n", &b), 400);
    ASSERT_EQ(call(&f, "GET", "/", "Bearer tok3n", &b), 200);
    ASSERT_STR_CONTAINS(b.data, "<table id=\"matrix\">");
    px_sbuf_dispose(&b);
    teardown(&f);
}

TEST(admin_token_guards_reads_too)
{
    struct fixture f;
    struct px_sbuf b;

    setup(&f, "admin: {listen: 127.0.0.1:9, token: tok3n}");
    px_sbuf_init(&b);
    /* Load balancers' checks stay open... */
    ASSERT_EQ(call(&f, "GET", "/healthz", NULL, &b), 200);
    ASSERT_EQ(call(&f, "GET", "/readyz", NULL, &b), 503);
    /* ...every other read needs the token, as every write does. */
    const char *reads[] = {"/status", "/metrics", "/", "/debug/route?ip=10.0.0.1"};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        ASSERT_EQ(call(&f, "GET", reads[i], NULL, &b), 401);
        ASSERT_EQ(call(&f, "HEAD", reads[i], "Bearer wrong", &b), 401);
        ASSERT_EQ(call(&f, "GET", reads[i], "Bearer tok3n", &b), 200);
    }
    px_sbuf_dispose(&b);
    teardown(&f);
}

TEST(admin_without_token_refuses_rebinding_and_csrf)
{
    struct fixture f;
    struct px_sbuf b;
    struct px_admin_resp rs;
    struct px_admin_req rq = {.method = "GET", .target = "/status"};

    setup(&f, "admin: 127.0.0.1:9");
    px_sbuf_init(&b);
    /* DNS rebinding: a page at evil.example:9 resolved to 127.0.0.1 sends its own Host. */
    const char *bad_hosts[] = {"evil.example:9", "127.0.0.1:10", "localhost", "127.0.0.1", NULL};
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        rq.host = bad_hosts[i];
        ASSERT_EQ(call_req(&f, &rq, &b, NULL), 421);
    }
    const char *good_hosts[] = {"127.0.0.1:9", "localhost:9", "LocalHost:9", "[::1]:9"};
    for (size_t i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]); i++) {
        rq.host = good_hosts[i];
        ASSERT_EQ(call_req(&f, &rq, &b, NULL), 200);
    }
    rq.host = "evil.example";
    rq.target = "/healthz"; /* open: a load balancer may send any Host */
    ASSERT_EQ(call_req(&f, &rq, &b, NULL), 200);
    rq.target = "/status";
    rq.unix_socket = true; /* the socket file's mode guards it; browsers cannot reach it */
    ASSERT_EQ(call_req(&f, &rq, &b, NULL), 200);

    /* CSRF: a form or fetch() from another origin can POST, but not with our header. */
    struct px_admin_req post = {
        .method = "POST", .target = "/regions/east/drain", .host = "127.0.0.1:9"};
    ASSERT_EQ(call_req(&f, &post, &b, NULL), 403);
    ASSERT_STR_CONTAINS(b.data, "X-Georoute-Admin");
    post.admin_header = true;
    post.origin = "http://127.0.0.1:9";
    ASSERT_EQ(call_req(&f, &post, &b, NULL), 403);
    post.target = "/reload";
    ASSERT_EQ(call_req(&f, &post, &b, NULL), 403);
    ASSERT(!f.ctl.regions[0].drained);
    ASSERT_EQ(f.ctl.reloads_ok + f.ctl.reloads_failed, 0);
    post.origin = NULL;
    post.target = "/regions/east/drain";
    ASSERT_EQ(call_req(&f, &post, &b, &rs), 200);
    ASSERT(f.ctl.regions[0].drained);
    px_sbuf_dispose(&b);
    teardown(&f);
}

TEST(admin_security_headers)
{
    struct fixture f;
    struct px_sbuf b;
    struct px_admin_resp rs;
    struct px_admin_req rq = {.method = "GET", .target = "/", .host = "127.0.0.1:9"};

    setup(&f, "admin: 127.0.0.1:9");
    px_sbuf_init(&b);
    ASSERT_EQ(call_req(&f, &rq, &b, &rs), 200);
    ASSERT_STR_CONTAINS(rs.headers, "X-Frame-Options: DENY\r\n");
    ASSERT_STR_CONTAINS(rs.headers, "Content-Security-Policy: default-src 'none';");
    ASSERT_STR_CONTAINS(rs.headers, "frame-ancestors 'none'");
    px_sbuf_dispose(&b);
    teardown(&f);
}

TEST(admin_metrics_and_status_shape)
{
    struct fixture f;
    struct px_sbuf b;

    setup(&f, "admin: 127.0.0.1:9");
    px_sbuf_init(&b);
    /* Without a token, POSTs need none. */
    ASSERT_EQ(call(&f, "POST", "/regions/west/drain", NULL, &b), 200);
    ASSERT_EQ(call(&f, "GET", "/metrics", NULL, &b), 200);
    ASSERT_STR_CONTAINS(b.data, "# TYPE georoute_backend_up gauge\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_backend_up{region=\"east\",backend=\"127.0.0.1:3\"} 1\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_backend_up{region=\"west\",backend=\"127.0.0.1:4\"} 1\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_region_drained{region=\"west\"} 1\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_zone_route{zone=\"lab\",region=\"west\"} 0\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_client_rtt_seconds_bucket{zone=\"lab\",le=\"+Inf\"} 0\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_build_info{version=\"" PX_VERSION "\",revision=\"");
    ASSERT_STR_CONTAINS(b.data, "georoute_backend_probe_failures_total{region=\"east\","
                                "backend=\"127.0.0.1:2\"} 0\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_backend_ejections_total{region=\"west\","
                                "backend=\"127.0.0.1:4\"} 0\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_config_last_reload_successful 1\n");
    ASSERT_STR_CONTAINS(b.data, "georoute_config_hash{hash=\"");
    ASSERT_STR_CONTAINS(b.data,
                        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ");
    ASSERT_STR_CONTAINS(b.data, "\nprocess_open_fds ");
    ASSERT_STR_CONTAINS(b.data, "\nprocess_resident_memory_bytes ");
    ASSERT_STR_CONTAINS(b.data, "\nprocess_start_time_seconds ");
    ASSERT_EQ(call(&f, "GET", "/status", NULL, &b), 200);
    ASSERT_STR_CONTAINS(b.data, "\"name\":\"west\",\"healthy\":false,\"drained\":true");
    ASSERT_STR_CONTAINS(b.data, "\"address\":\"127.0.0.1:2\"");
    ASSERT_STR_CONTAINS(b.data, "\"last_probe\":null");
    ASSERT_STR_CONTAINS(b.data, "\"name\":\"lab\",\"region\":null");
    ASSERT_EQ(b.data[b.len - 2], '}');
    px_sbuf_dispose(&b);
    teardown(&f);
}

/* Rewrites the fixture's file: EAST_BACKENDS, the lab zone's LAB_ROUTE, and EXTRA at the end. */
static void rewrite_with(struct fixture *f, const char *east_backends, const char *lab_route,
                         const char *extra)
{
    FILE *fp = fopen(f->path, "w");
    ASSERT_NOT_NULL(fp);
    fprintf(fp,
            "listen: 127.0.0.1:1\nadmin: 127.0.0.1:9\nregions:\n"
            "  east:\n    backends: [%s]\n    passive: {consecutive_failures: 7}\n"
            "  west:\n    backends: [127.0.0.1:4]\n%s"
            "zones:\n  - name: lab\n    match: {cidr: [10.0.0.0/8]}\n"
            "    route: %s\n"
            "  - name: default\n    route: {regions: [west, east]}\n",
            east_backends, extra, lab_route);
    fclose(fp);
}

static void rewrite(struct fixture *f, const char *east_backends, const char *lab_route)
{
    rewrite_with(f, east_backends, lab_route, "");
}

/* The control thread's record of the backend at ADDR, or NULL. */
static struct px_cbackend *find(struct fixture *f, const char *addr)
{
    for (size_t i = 0; i < f->ctl.nbackends; i++)
        if (strcmp(f->ctl.backends[i]->desc->addr.text, addr) == 0)
            return f->ctl.backends[i];
    return NULL;
}

TEST(admin_reload_keeps_state_by_identity)
{
    struct fixture f;
    struct px_sbuf b;
    char err[2048];
    struct px_snapshot *first;
    struct px_cbackend *three;

    setup(&f, "admin: 127.0.0.1:9");
    px_sbuf_init(&b);
    first = f.ctl.snap;
    three = find(&f, "127.0.0.1:3");
    ASSERT_NOT_NULL(three);
    three->health.rtt_ms = 12.5;
    three->health.has_rtt = true;
    f.ctl.regions[1].drained = true;
    px_control_route(&f.ctl, 1, 0)->switches = 4;

    /* A new route for lab and new passive settings: applied, state kept. */
    rewrite(&f, "127.0.0.1:2, 127.0.0.1:3", "{regions: [west]}");
    ASSERT_OK(px_control_reload(&f.ctl, err, sizeof(err)));
    ASSERT(f.ctl.snap != first);
    ASSERT_EQ(f.ctl.reloads_ok, 1);
    ASSERT_EQ(f.ctl.snap->cfg->conf->zones[0].route.regions[0], 1);
    ASSERT_PTR_EQ(find(&f, "127.0.0.1:3"), three);
    ASSERT(three->health.rtt_ms == 12.5);
    ASSERT(f.ctl.regions[1].drained);
    ASSERT_PTR_EQ(three->conf, &f.ctl.snap->cfg->conf->regions[0].backends[1]);
    ASSERT_EQ(three->health.passive->consecutive_failures, 7);
    ASSERT_PTR_EQ(f.ctl.fleet->snap, f.ctl.snap);

    /* Backends reordered and one removed: the survivor keeps its record. */
    rewrite(&f, "127.0.0.1:3", "{regions: [west]}");
    ASSERT_OK(px_control_reload(&f.ctl, err, sizeof(err)));
    ASSERT_EQ(f.ctl.nbackends, 2);
    ASSERT_NULL(find(&f, "127.0.0.1:2"));
    ASSERT_PTR_EQ(find(&f, "127.0.0.1:3"), three);
    ASSERT_PTR_EQ(f.ctl.backends[0], three);
    ASSERT_EQ(f.ctl.fleet->region_first[1], 1);

    /* A region added in front: west keeps its drain, zones their counters. */
    rewrite_with(&f, "127.0.0.1:3, 127.0.0.1:5", "{regions: [south, east]}",
                 "  south:\n    backends: [127.0.0.1:6]\n");
    ASSERT_OK(px_control_reload(&f.ctl, err, sizeof(err)));
    ASSERT_EQ(f.ctl.snap->cfg->conf->nregions, 3);
    ASSERT(f.ctl.regions[1].drained); /* west is still index 1 */
    ASSERT(!f.ctl.regions[2].drained);
    ASSERT_EQ(px_control_route(&f.ctl, 1, 0)->switches, 4);
    ASSERT_NOT_NULL(find(&f, "127.0.0.1:6"));
    ASSERT_NOT_NULL(find(&f, "127.0.0.1:5"));
    ASSERT_EQ(f.ctl.region_slots.n, 3);
    ASSERT_STR_EQ(f.ctl.region_slots.names[2], "south");

    /* Errors keep the old snapshot and name the position. */
    struct px_snapshot *kept = f.ctl.snap;
    rewrite(&f, "127.0.0.1:2, 127.0.0.1:3", "{regions: [nowhere]}");
    ASSERT_EQ(px_control_reload(&f.ctl, err, sizeof(err)), -1);
    ASSERT_STR_CONTAINS(err, f.path);
    ASSERT_STR_CONTAINS(err, "nowhere");
    ASSERT_PTR_EQ(f.ctl.snap, kept);
    ASSERT_EQ(f.ctl.reloads_failed, 1);

    /* The admin endpoint answers 400 with the text. */
    ASSERT_EQ(call(&f, "POST", "/reload", NULL, &b), 400);
    ASSERT_STR_CONTAINS(b.data, "old config stays");
    ASSERT_EQ(call(&f, "GET", "/reload", NULL, &b), 405);
    rewrite(&f, "127.0.0.1:2, 127.0.0.1:3", "{regions: [east], fallback: [west]}");
    ASSERT_EQ(call(&f, "POST", "/reload", NULL, &b), 200);
    ASSERT_STR_CONTAINS(b.data, "\"result\":\"ok\"");
    ASSERT_EQ(f.ctl.reloads_ok, 4);
    ASSERT_PTR_EQ(find(&f, "127.0.0.1:3"), three);
    ASSERT(three->health.rtt_ms == 12.5);
    px_sbuf_dispose(&b);
    teardown(&f);
}

TEST(admin_reload_refuses_listener_changes)
{
    struct fixture f;
    char err[2048];
    FILE *fp;

    setup(&f, "admin: 127.0.0.1:9");
    fp = fopen(f.path, "w");
    ASSERT_NOT_NULL(fp);
    fprintf(fp, "listen: 127.0.0.1:7\nadmin: 127.0.0.1:9\nregions:\n"
                "  east:\n    backends: [127.0.0.1:2]\n");
    fclose(fp);
    ASSERT_EQ(px_control_reload(&f.ctl, err, sizeof(err)), -1);
    ASSERT_STR_CONTAINS(err, "reload cannot change the listen addresses");
    ASSERT_EQ(f.ctl.nbackends, 3);
    teardown(&f);
}
