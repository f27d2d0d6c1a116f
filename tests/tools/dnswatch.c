/*
 * dnswatch: runs proxy/control/dns.c on a uv loop and prints what it sees, one line
 * per event, so tests/it/test_dns.py can drive it against a real dnsmasq.
 *
 *   dnswatch [--server IP:PORT]... [--min-ttl D] [--max-ttl D] [--timeout D]
 *            [--retry-max D] [--family any|ipv4|ipv6|prefer-ipv4|prefer-ipv6]
 *            [--duration D] [--srv NAME]... [HOST:PORT]...
 *
 * D is a duration: "1s", "500ms", "2m" or plain milliseconds. Lines on stdout
 * (flushed one by one; addresses as "1.2.3.4:80" or "[::1]:80", "-" = none):
 *
 *   CB NAME ADDR,ADDR... weights=W,W... ttl_ms=N     a watch callback
 *   ERR NAME err=EDNS_... failures=N kept=N           a new failure (polled)
 *   INFO NAME addrs=... ttl_left_ms=N err=E last_err=E failures=N queries=N ok_age_ms=N
 *   STATS queries=N resolutions=N failures=N notfound=N unreachable=N servfail=N other=N
 *         changes=N
 *   CLOSED loop_close=N                               at exit; N is uv_loop_close()
 *
 * Commands on stdin (when it is a pipe), one per line: "info" prints an INFO
 * line per watch then "INFO-END", "stats" a STATS line, "unwatch NAME"
 * stops a watch, "quit" ends early. px_log lines go to stderr.
 */
#include "proxy/control/dns.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WATCHES 64

struct tool_watch {
    char name[300];
    struct px_dns_watch *w; /* NULL once unwatched */
    uint64_t failures_seen; /* failures already printed */
};

struct tool {
    uv_loop_t loop;
    struct px_dns *dns;
    uv_timer_t poll_timer;     /* looks for new failures */
    uv_timer_t duration_timer; /* ends the run */
    uv_pipe_t in;              /* stdin commands */
    int in_open;
    char line[1024];
    size_t linelen;
    struct tool_watch watches[MAX_WATCHES];
    size_t nwatches;
    int stopping;
};

static struct tool T;

static void usage(void)
{
    fprintf(stderr, "usage: dnswatch [--server IP:PORT]... [--min-ttl D] [--max-ttl D] "
                    "[--timeout D] [--retry-max D] [--family F] [--duration D] [--srv NAME]... "
                    "[HOST:PORT]...\n");
    exit(2);
}

static uint64_t parse_duration(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (end == s)
        usage();
    if (strcmp(end, "ms") == 0 || *end == '\0')
        return v;
    if (strcmp(end, "s") == 0)
        return v * 1000;
    if (strcmp(end, "m") == 0)
        return v * 60000;
    usage();
    return 0;
}

/* Prints "ADDR,ADDR... weights=W,W..." (or "- weights=-"). */
static void print_addrs(const struct px_dns_addr *addrs, size_t n)
{
    char buf[80];

    if (n == 0) {
        printf("- weights=-");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        px_sockaddr_text((const struct sockaddr *)&addrs[i].sa, buf, sizeof(buf));
        printf("%s%s", i ? "," : "", buf);
    }
    printf(" weights=");
    for (size_t i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", addrs[i].weight);
}

static void on_watch(void *data, const struct px_dns_result *res)
{
    (void)data;
    printf("CB %s ", res->name);
    print_addrs(res->addrs, res->naddrs);
    printf(" ttl_ms=%" PRIu64 "\n", res->ttl_ms);
    fflush(stdout);
}

static void print_info(void)
{
    for (struct px_dns_watch *w = px_dns_watch_first(T.dns); w; w = px_dns_watch_next(w)) {
        struct px_dns_watch_info in;
        px_dns_watch_info(w, &in);
        printf("INFO %s addrs=", in.name);
        print_addrs(in.addrs, in.naddrs);
        printf(" ttl_left_ms=%" PRIu64 " err=%s last_err=%s failures=%" PRIu64 " queries=%" PRIu64
               " ok_age_ms=%" PRId64 "\n",
               in.ttl_left_ms, px_dns_err_name(in.err), px_dns_err_name(in.last_err), in.failures,
               in.queries,
               in.last_ok_age_ms == UINT64_MAX ? (int64_t)-1 : (int64_t)in.last_ok_age_ms);
    }
    printf("INFO-END\n");
    fflush(stdout);
}

static void print_stats(void)
{
    struct px_dns_stats s;

    px_dns_stats(T.dns, &s);
    printf("STATS queries=%" PRIu64 " resolutions=%" PRIu64 " failures=%" PRIu64
           " notfound=%" PRIu64 " unreachable=%" PRIu64 " servfail=%" PRIu64 " other=%" PRIu64
           " changes=%" PRIu64 "\n",
           s.queries, s.resolutions, s.failures, s.fail_notfound, s.fail_unreachable,
           s.fail_servfail, s.fail_other, s.changes);
    fflush(stdout);
}

static void on_poll_timer(uv_timer_t *t)
{
    (void)t;
    for (size_t i = 0; i < T.nwatches; i++) {
        struct tool_watch *tw = &T.watches[i];
        struct px_dns_watch_info in;
        if (tw->w == NULL)
            continue;
        px_dns_watch_info(tw->w, &in);
        if (in.failures > tw->failures_seen) {
            tw->failures_seen = in.failures;
            printf("ERR %s err=%s failures=%" PRIu64 " kept=%zu\n", in.name,
                   px_dns_err_name(in.last_err), in.failures, in.naddrs);
            fflush(stdout);
        }
    }
}

static void on_dns_closed(void *data)
{
    (void)data;
    T.dns = NULL;
}

static void stop(void)
{
    if (T.stopping)
        return;
    T.stopping = 1;
    on_poll_timer(&T.poll_timer);
    print_stats();
    uv_close((uv_handle_t *)&T.poll_timer, NULL);
    uv_close((uv_handle_t *)&T.duration_timer, NULL);
    if (T.in_open)
        uv_close((uv_handle_t *)&T.in, NULL);
    px_dns_close(T.dns, on_dns_closed, NULL);
}

static void on_duration(uv_timer_t *t)
{
    (void)t;
    stop();
}

static void run_command(const char *cmd)
{
    if (strcmp(cmd, "info") == 0) {
        print_info();
    } else if (strcmp(cmd, "stats") == 0) {
        print_stats();
    } else if (strcmp(cmd, "quit") == 0) {
        stop();
    } else if (strncmp(cmd, "unwatch ", 8) == 0) {
        for (size_t i = 0; i < T.nwatches; i++) {
            if (T.watches[i].w != NULL && strcmp(T.watches[i].name, cmd + 8) == 0) {
                px_dns_unwatch(T.watches[i].w);
                T.watches[i].w = NULL;
                printf("UNWATCHED %s\n", cmd + 8);
                fflush(stdout);
            }
        }
    } else if (cmd[0] != '\0') {
        printf("UNKNOWN %s\n", cmd);
        fflush(stdout);
    }
}

static void on_in_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[4096];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)s;
    if (nread < 0) {
        stop();
        return;
    }
    for (ssize_t i = 0; i < nread && !T.stopping; i++) {
        char c = buf->base[i];
        if (c == '\n') {
            T.line[T.linelen] = '\0';
            T.linelen = 0;
            run_command(T.line);
        } else if (T.linelen + 1 < sizeof(T.line)) {
            T.line[T.linelen++] = c;
        }
    }
}

/* Splits "host:port" / "[v6]:port" into HOST (brackets kept) and *port. */
static void split_host_port(const char *arg, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(arg, ':');
    unsigned long p;
    char *end;

    if (colon == NULL || (size_t)(colon - arg) >= cap)
        usage();
    p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || p == 0 || p > 65535)
        usage();
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    *port = (uint16_t)p;
}

static uint32_t parse_family(const char *s)
{
    static const char *const names[] = {"any", "ipv4", "ipv6", "prefer-ipv4", "prefer-ipv6"};
    for (uint32_t i = 0; i < PX_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    usage();
    return 0;
}

int main(int argc, char **argv)
{
    struct conf_addr servers[8];
    struct conf_dns conf = {
        .servers = servers,
        .nservers = 0,
        .min_ttl_ms = 1000,
        .max_ttl_ms = 300000,
        .timeout_ms = 1000,
        .retry_max_ms = 30000,
        .family = CONF_DNS_ANY,
    };
    uint64_t duration_ms = 10000;
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(servers, 0, sizeof(servers));
    rc = px_dns_global_init();
    if (rc != 0) {
        fprintf(stderr, "dnswatch: px_dns_global_init: %s\n", px_dns_strerror(rc));
        return 1;
    }
    uv_loop_init(&T.loop);

    /* Options first, so the watches see the whole configuration. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--srv") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            continue;
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--server") == 0) {
            if (conf.nservers == PX_ARRAY_LEN(servers))
                usage();
            snprintf(servers[conf.nservers++].text, sizeof(servers[0].text), "%s", v);
        } else if (strcmp(a, "--min-ttl") == 0) {
            conf.min_ttl_ms = parse_duration(v);
        } else if (strcmp(a, "--max-ttl") == 0) {
            conf.max_ttl_ms = parse_duration(v);
        } else if (strcmp(a, "--timeout") == 0) {
            conf.timeout_ms = parse_duration(v);
        } else if (strcmp(a, "--retry-max") == 0) {
            conf.retry_max_ms = parse_duration(v);
        } else if (strcmp(a, "--family") == 0) {
            conf.family = parse_family(v);
        } else if (strcmp(a, "--duration") == 0) {
            duration_ms = parse_duration(v);
        } else if (strcmp(a, "--log-level") == 0) {
            px_log_level = strcmp(v, "debug") == 0 ? PX_LOG_DEBUG : PX_LOG_INFO;
        } else {
            usage();
        }
    }
    rc = px_dns_new(&T.loop, &conf, &T.dns);
    if (rc != 0) {
        fprintf(stderr, "dnswatch: px_dns_new: %s\n", px_dns_strerror(rc));
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        struct tool_watch *tw;
        uint16_t port = 0;
        if (strcmp(a, "--srv") != 0 && strncmp(a, "--", 2) == 0) {
            i++;
            continue;
        }
        if (T.nwatches == MAX_WATCHES)
            usage();
        tw = &T.watches[T.nwatches];
        if (strcmp(a, "--srv") == 0) {
            if (++i >= argc)
                usage();
            snprintf(tw->name, sizeof(tw->name), "%s", argv[i]);
            rc = px_dns_watch_srv(T.dns, tw->name, on_watch, tw, &tw->w);
        } else {
            split_host_port(a, tw->name, sizeof(tw->name), &port);
            rc = px_dns_watch_name(T.dns, tw->name, port, conf.family, on_watch, tw, &tw->w);
        }
        if (rc != 0) {
            fprintf(stderr, "dnswatch: watch %s: %s\n", tw->name, px_dns_strerror(rc));
            return 1;
        }
        T.nwatches++;
    }

    uv_timer_init(&T.loop, &T.poll_timer);
    uv_timer_start(&T.poll_timer, on_poll_timer, 50, 50);
    uv_timer_init(&T.loop, &T.duration_timer);
    uv_timer_start(&T.duration_timer, on_duration, duration_ms, 0);
    if (uv_guess_handle(0) == UV_NAMED_PIPE && uv_pipe_init(&T.loop, &T.in, 0) == 0) {
        if (uv_pipe_open(&T.in, 0) == 0 &&
            uv_read_start((uv_stream_t *)&T.in, on_in_alloc, on_in_read) == 0)
            T.in_open = 1;
        else
            uv_close((uv_handle_t *)&T.in, NULL);
    }
    printf("READY\n");
    fflush(stdout);

    uv_run(&T.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&T.loop);
    printf("CLOSED loop_close=%d dns_freed=%d\n", rc, T.dns == NULL);
    fflush(stdout);
    px_dns_global_cleanup();
    return rc == 0 && T.dns == NULL ? 0 : 1;
}
