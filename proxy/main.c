/*
 * main: command line, config load, listening sockets, worker threads, and
 * the signal loop. The main thread does no request work: it only starts
 * workers and tells them to drain on SIGTERM/SIGINT.
 */
#include "conf/conf.h"
#include "proxy/admin/admin.h"
#include "proxy/control/control.h"
#include "proxy/data/listener.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"
#include "proxy/state/snapshot.h"
#include "proxy/data/worker.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define MAX_WORKERS 256
#define ERRBUF_BYTES 8192

struct px_main {
    uv_loop_t *loop;
    uv_signal_t sigterm, sigint, sighup;
    struct px_worker *workers; /* owned, nworkers */
    struct px_port **ports;    /* owned array, nworkers: each worker's mailbox, for control */
    struct px_control control;
    unsigned nworkers;
    struct px_snapshot *snap; /* one reference: the startup snapshot (the control thread
                                 owns the current one and its reloads) */
    bool stopping;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: georoute -c FILE [--check] [-v]\n"
               "  -c, --config FILE  configuration file (YAML)\n"
               "      --check        validate the configuration and exit 0 or 1\n"
               "  -v, --verbose      debug logging\n"
               "      --version      print the version\n");
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct px_main *m = s->data;
    if (signum == SIGHUP) {
        if (!m->stopping && m->nworkers > 0)
            px_control_reload_async(&m->control);
        return;
    }
    if (m->stopping)
        return;
    m->stopping = true;
    px_log(PX_LOG_INFO, NULL, "event=shutdown signal=%s", signum == SIGTERM ? "TERM" : "INT");
    for (unsigned i = 0; i < m->nworkers; i++)
        px_worker_stop(&m->workers[i]);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sighup, NULL);
}

static unsigned worker_count(const struct conf *cf)
{
    unsigned n = cf->workers ? cf->workers : uv_available_parallelism();
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : n;
}

/* Creates one listening socket per worker per address; 0 or -1 (logged). */
static int open_listeners(const struct conf *cf, unsigned nworkers, int *fds)
{
    for (unsigned w = 0; w < nworkers; w++) {
        for (size_t i = 0; i < cf->nlisten; i++) {
            int fd = px_listener_socket(&cf->listen[i]);
            if (fd < 0) {
                fprintf(stderr, "georoute: listen %s: %s\n", cf->listen[i].text, strerror(-fd));
                return -1;
            }
            fds[w * cf->nlisten + i] = fd;
        }
    }
    return 0;
}

static int run(struct px_snapshot *snap)
{
    const struct conf *cf = snap->cfg->conf;
    struct px_process proc = {.conf = cf};
    struct px_main m = {.loop = uv_default_loop(), .snap = px_snapshot_ref(snap)};
    unsigned n = worker_count(cf);
    int *fds = calloc((size_t)n * cf->nlisten, sizeof(int));
    int rc = 1;

    /* Signals are caught before any socket listens, so a signal that comes
     * early is handled (on the first loop turn), not fatal. */
    uv_signal_init(m.loop, &m.sigterm);
    uv_signal_init(m.loop, &m.sigint);
    uv_signal_init(m.loop, &m.sighup);
    m.sigterm.data = m.sigint.data = m.sighup.data = &m;
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    uv_signal_start(&m.sighup, on_signal, SIGHUP);
    m.workers = calloc(n, sizeof(*m.workers));
    if (fds == NULL || m.workers == NULL || open_listeners(cf, n, fds) != 0)
        goto out;
    proc.access_fd = px_accesslog_open(cf->access_log);
    if (proc.access_fd == -2) {
        fprintf(stderr, "georoute: access_log %s: %s\n", cf->access_log, strerror(errno));
        goto out;
    }
    /* Workers are prepared first so the control thread can publish its
     * first, measured routing table to them; they start accepting after. */
    for (unsigned i = 0; i < n; i++) {
        int err = px_worker_init(&m.workers[i], i, &proc, px_stats_zone_slots(cf->nzones),
                                 px_stats_slots(cf->nregions), fds + (size_t)i * cf->nlisten,
                                 cf->nlisten);
        if (err != 0) {
            fprintf(stderr, "georoute: worker %u: %s\n", i, px_strerror(err));
            goto out;
        }
    }
    if ((m.ports = calloc(n, sizeof(*m.ports))) == NULL)
        goto out;
    for (unsigned i = 0; i < n; i++)
        m.ports[i] = &m.workers[i].port;
    int err = px_control_init(&m.control, snap, m.ports, n, &proc);
    if (err == 0) {
        px_admin_start(&m.control);
        err = px_control_start(&m.control);
    }
    if (err != 0) {
        fprintf(stderr, "georoute: control thread: %s\n", uv_strerror(err));
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        if ((err = px_worker_start(&m.workers[i])) != 0) {
            fprintf(stderr, "georoute: worker %u: %s\n", i, uv_strerror(err));
            for (unsigned j = 0; j < i; j++)
                px_worker_stop(&m.workers[j]);
            for (unsigned j = 0; j < i; j++)
                px_worker_wait(&m.workers[j]);
            px_control_detach_workers(&m.control);
            for (unsigned j = 0; j < i; j++)
                px_worker_join(&m.workers[j]);
            px_control_stop(&m.control);
            px_control_join(&m.control);
            goto out;
        }
        m.nworkers++;
    }
    px_log(PX_LOG_INFO, NULL, "event=started version=%s workers=%u listen=%s config=%s", PX_VERSION,
           n, cf->listen[0].text, cf->path);
    uv_run(m.loop, UV_RUN_DEFAULT);
    /* The control thread publishes and scrapes until every worker thread
     * has ended; it must let go before their loops close. */
    for (unsigned i = 0; i < m.nworkers; i++)
        px_worker_wait(&m.workers[i]);
    px_control_detach_workers(&m.control);
    for (unsigned i = 0; i < m.nworkers; i++)
        px_worker_join(&m.workers[i]);
    px_control_stop(&m.control);
    px_control_join(&m.control);
    px_log(PX_LOG_INFO, NULL, "event=stopped");
    rc = uv_loop_close(m.loop) == 0 ? 0 : 1;
out:
    px_snapshot_unref(m.snap);
    if (proc.access_fd > STDERR_FILENO)
        close(proc.access_fd);
    free(m.workers);
    free(m.ports);
    free(fds);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},      {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check = false;
    char err[ERRBUF_BYTES];
    struct px_config *cfg;
    struct px_snapshot *snap;
    int opt;

    while ((opt = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'v':
            px_log_level = PX_LOG_DEBUG;
            break;
        case 'V':
            printf("georoute %s\n", PX_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    /* --check does everything a start does short of binding: parse,
     * validate, compile the zones and open every geo database. */
    int loaded = px_config_load(path, &cfg, err, sizeof(err));
    if (loaded == 0) {
        loaded = px_snapshot_new(cfg, NULL, &snap, err, sizeof(err));
        px_config_unref(cfg);
    }
    if (loaded != 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        return 1;
    }
    if (check) {
        printf("%s: configuration is valid\n", path);
        px_snapshot_unref(snap);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = px_dns_global_init();
    if (rc != 0) {
        fprintf(stderr, "georoute: DNS resolver: %s\n", px_dns_strerror(rc));
        px_snapshot_unref(snap);
        return 1;
    }
    rc = run(snap);
    px_snapshot_unref(snap);
    px_dns_global_cleanup();
    return rc;
}
