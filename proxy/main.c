/*
 * main: command line, config load, listening sockets, worker threads, and
 * the signal loop. The main thread does no request work: it only starts
 * workers and tells them to drain on SIGTERM/SIGINT.
 */
#include "conf/conf.h"
#include "proxy/admin/admin.h"
#include "proxy/control/control.h"
#include "proxy/data/listener.h"
#include "proxy/base/fds.h"
#include "proxy/base/log.h"
#include "proxy/base/notify.h"
#include "proxy/base/privs.h"
#include "proxy/base/px.h"
#include "proxy/base/takeover.h"
#include "proxy/state/snapshot.h"
#include "proxy/data/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#define MAX_WORKERS 256
#define TAKEOVER_TIMEOUT_MS 10000 /* each step of a takeover, either side */

/* What the command line asks for besides the config. */
struct px_opts {
    const char *takeover_socket; /* --takeover-socket: offer the listeners there */
    const char *takeover_from;   /* --takeover: take them from the process there */
};

/* The stop sequence: SIGTERM starts the lame duck, then the drain. */
enum px_phase {
    PX_RUNNING,
    PX_LAME_DUCK, /* /readyz says 503, the listeners still accept */
    PX_DRAINING,  /* listeners closed, requests in flight finishing */
};

/* Signals georoute acts on; every one is caught for the whole run. */
static const int handled_signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
#define NHANDLED (sizeof(handled_signals) / sizeof(handled_signals[0]))

struct px_main {
    uv_loop_t *loop;
    uv_signal_t signals[NHANDLED];
    uv_timer_t lame_duck;      /* SIGTERM to the drain */
    uv_async_t workers_done;   /* the reaper saw every worker end */
    uv_thread_t reaper;        /* waits for the workers so this loop keeps taking signals */
    struct px_worker *workers; /* owned, nworkers */
    struct px_port **ports;    /* owned array, nworkers: each worker's mailbox, for control */
    struct px_control control;
    struct px_process *proc; /* borrowed: the access log reopened on SIGUSR1 */
    unsigned nworkers;
    struct px_snapshot *snap; /* one reference: the startup snapshot (the control thread
                                 owns the current one and its reloads) */
    enum px_phase phase;

    /* Takeover, the old side: successors ask here for the sockets. */
    const char *takeover_path; /* borrowed: --takeover-socket, or NULL */
    int takeover_fd;           /* listening on takeover_path; -1 when not */
    uv_poll_t takeover_poll;
    int successor_fd; /* owned: the successor being served; -1 when none */
    uv_poll_t successor_poll;
    int *offer_fds;    /* owned array, noffer: listeners (borrowed fds) and admin_dup */
    char *offer_kinds; /* owned array, noffer: PX_TAKEOVER_* */
    size_t noffer;
    int admin_dup; /* owned: the admin socket again, kept to hand over; -1 when none */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: georoute -c FILE [--check] [-v] [--takeover-socket PATH] [--takeover PATH]\n"
               "  -c, --config FILE         configuration file (YAML)\n"
               "      --check               validate the configuration and exit 0 or 1\n"
               "  -v, --verbose             debug logging\n"
               "      --takeover-socket PATH  hand the listening sockets to a successor that\n"
               "                            asks on this unix socket, then drain\n"
               "      --takeover PATH       take the listening sockets from the georoute\n"
               "                            serving PATH (zero-downtime upgrade)\n"
               "      --version             print the version\n");
}

static const char *signal_name(int signum)
{
    switch (signum) {
    case SIGTERM:
        return "TERM";
    case SIGINT:
        return "INT";
    case SIGQUIT:
        return "QUIT";
    default:
        return "?";
    }
}

/*
 * Signals whose default action ends or stops the process and that georoute
 * has no use for are ignored, so a stray `kill -USR2` or a terminal's
 * SIGTTOU cannot take the front down and lose the buffered access log.
 * Faults (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS) keep their default: they
 * mean a bug, and a core beats running on. SIGTSTP keeps job control.
 */
static void ignore_unused_signals(void)
{
    static const int unused[] = {SIGPIPE, SIGUSR2, SIGALRM,   SIGVTALRM, SIGPROF, SIGTTIN, SIGTTOU,
                                 SIGIO,   SIGPWR,  SIGSTKFLT, SIGXCPU,   SIGXFSZ, SIGWINCH};
    struct sigaction sa = {.sa_handler = SIG_IGN};

    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(unused) / sizeof(unused[0]); i++)
        sigaction(unused[i], &sa, NULL);
    for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
        sigaction(s, &sa, NULL);
}

static void on_main_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Stops offering the sockets: the path goes (a successor binds it next). */
static void takeover_close(struct px_main *m)
{
    if (m->takeover_fd < 0)
        return;
    uv_close((uv_handle_t *)&m->takeover_poll, on_main_handle_closed);
    close(m->takeover_fd);
    unlink(m->takeover_path);
    m->takeover_fd = -1;
    if (m->admin_dup >= 0)
        close(m->admin_dup);
    m->admin_dup = -1;
}

static void successor_close(struct px_main *m)
{
    if (m->successor_fd < 0)
        return;
    uv_close((uv_handle_t *)&m->successor_poll, on_main_handle_closed);
    close(m->successor_fd);
    m->successor_fd = -1;
}

/* Every worker has ended: close the main loop's handles so uv_run returns. */
static void close_main_handles(struct px_main *m)
{
    takeover_close(m);
    successor_close(m);
    for (size_t i = 0; i < NHANDLED; i++)
        uv_close((uv_handle_t *)&m->signals[i], on_main_handle_closed);
    uv_close((uv_handle_t *)&m->lame_duck, on_main_handle_closed);
    uv_close((uv_handle_t *)&m->workers_done, on_main_handle_closed);
}

static void on_workers_done(uv_async_t *a)
{
    struct px_main *m = a->data;
    uv_thread_join(&m->reaper);
    close_main_handles(m);
}

static void reap_workers(void *arg)
{
    struct px_main *m = arg;
    for (unsigned i = 0; i < m->nworkers; i++)
        px_worker_wait(&m->workers[i]);
    uv_async_send(&m->workers_done);
}

/*
 * Closes the listeners and drains. The workers are waited for on a thread
 * of their own, so this loop still reopens the log (SIGUSR1) and ignores a
 * late SIGHUP rather than dying of it while requests finish.
 */
static void start_drain(struct px_main *m)
{
    m->phase = PX_DRAINING;
    uv_timer_stop(&m->lame_duck);
    px_log(PX_LOG_INFO, NULL, "event=drain workers=%u", m->nworkers);
    for (unsigned i = 0; i < m->nworkers; i++)
        px_worker_stop(&m->workers[i]);
    if (uv_thread_create(&m->reaper, reap_workers, m) != 0)
        close_main_handles(m); /* run() waits for the workers after uv_run */
}

static void on_lame_duck_end(uv_timer_t *t)
{
    start_drain(t->data);
}

/*
 * The first SIGTERM/SIGINT/SIGQUIT: /readyz turns 503 so the load balancer
 * takes this instance out, while the listeners keep accepting for
 * timeouts.lame_duck (the health checks need time to notice); then the
 * drain. UNREADY is false when a new process took the admin socket over:
 * readiness is that process's to answer.
 */
static void begin_stop(struct px_main *m, const char *why, bool unready)
{
    uint64_t ms = px_control_lame_duck_ms(&m->control);

    m->phase = PX_LAME_DUCK;
    takeover_close(m);
    successor_close(m);
    if (unready)
        px_control_set_lame_duck(&m->control);
    px_log(PX_LOG_INFO, NULL, "event=shutdown by=%s lame_duck_ms=%llu", why,
           (unsigned long long)ms);
    px_notify("STOPPING=1");
    if (ms == 0)
        start_drain(m);
    else
        uv_timer_start(&m->lame_duck, on_lame_duck_end, ms, 0);
}

/*
 * SIGUSR1: opens the access log's path again (logrotate has renamed the
 * file) and hands the new file to every worker. Each one flushes what it
 * buffered into the old file before it switches, and the old file closes
 * with the last worker's reference, so no line is lost or written twice.
 */
static void reopen_access_log(struct px_main *m)
{
    const char *path = m->proc->conf->access_log;
    struct px_logfile *f;
    int err;

    if (m->proc->access_log == NULL || m->proc->access_log->fd == STDERR_FILENO)
        return; /* off, or stderr: nothing to reopen */
    if ((f = px_logfile_open(path, &err)) == NULL) {
        px_log(PX_LOG_ERR, NULL, "event=access_log_reopen result=failed path=%s error=\"%s\"", path,
               px_strerror(err));
        return;
    }
    for (unsigned i = 0; i < m->nworkers; i++)
        px_worker_reopen_log(&m->workers[i], f);
    px_logfile_unref(m->proc->access_log);
    m->proc->access_log = f;
    px_log(PX_LOG_INFO, NULL, "event=access_log_reopen result=ok path=%s", path);
}

static void begin_stop(struct px_main *m, const char *why, bool unready);

/*
 * The successor's answer: it serves on the sockets, so this process lets
 * go of the path and the admin socket, says so, and stops as on SIGTERM.
 * Anything else (it failed and exited) leaves this process serving.
 */
static void on_successor_message(uv_poll_t *p, int status, int events)
{
    struct px_main *m = p->data;
    char b = 0;
    int rc = status < 0 ? status : px_takeover_read_byte(m->successor_fd, &b);

    (void)events;
    if (rc == -EAGAIN)
        return;
    if (rc != 0 || b != PX_TAKEOVER_SERVING) {
        px_log(PX_LOG_WARN, NULL, "event=takeover result=failed side=old error=\"%s\"",
               rc ? px_strerror(rc) : "unexpected message");
        successor_close(m);
        return;
    }
    if (m->admin_dup >= 0)
        px_control_release_admin(&m->control);
    takeover_close(m);
    if ((rc = px_takeover_send_byte(m->successor_fd, PX_TAKEOVER_RELEASED)) != 0)
        px_log(PX_LOG_WARN, NULL, "event=takeover_release_unsent error=\"%s\"", px_strerror(rc));
    px_log(PX_LOG_INFO, NULL, "event=takeover result=handed_over side=old");
    successor_close(m);
    /* Readiness is the successor's now: it answers on the admin socket. */
    begin_stop(m, "takeover", false);
}

/* Only our own user or root may take the sockets (the file is 0600 too). */
static bool peer_trusted(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
           (cred.uid == 0 || cred.uid == geteuid());
}

/* A successor connects: send it every listening socket and wait for its word. */
static void on_takeover_connection(uv_poll_t *p, int status, int events)
{
    struct px_main *m = p->data;
    struct timeval tv = {.tv_sec = TAKEOVER_TIMEOUT_MS / 1000};
    int c, rc;

    (void)status, (void)events;
    if ((c = accept4(m->takeover_fd, NULL, NULL, SOCK_CLOEXEC)) == -1)
        return;
    if (!peer_trusted(c)) {
        px_log(PX_LOG_WARN, NULL, "event=takeover result=refused reason=peer_uid");
        close(c);
        return;
    }
    if (m->phase != PX_RUNNING || m->successor_fd >= 0) {
        close(c); /* one successor at a time, and never one while stopping */
        return;
    }
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if ((rc = px_takeover_send(c, m->offer_fds, m->offer_kinds, m->noffer)) != 0) {
        px_log(PX_LOG_WARN, NULL, "event=takeover result=failed side=old error=\"%s\"",
               px_strerror(rc));
        close(c);
        return;
    }
    px_log(PX_LOG_INFO, NULL, "event=takeover_offered sockets=%zu", m->noffer);
    m->successor_fd = c;
    uv_poll_init(m->loop, &m->successor_poll, c);
    m->successor_poll.data = m;
    uv_poll_start(&m->successor_poll, UV_READABLE | UV_DISCONNECT, on_successor_message);
}

/*
 * Offers this process's sockets at m->takeover_path (already listening on
 * m->takeover_fd): every listener in LISTEN_FDS and the admin socket.
 * Returns 0 or a negative errno.
 */
static int takeover_offer(struct px_main *m, const int *listen_fds, size_t nlisten_fds)
{
    size_t n = nlisten_fds + (m->admin_dup >= 0);

    uv_poll_init(m->loop, &m->takeover_poll, m->takeover_fd);
    m->takeover_poll.data = m;
    m->offer_fds = malloc((n ? n : 1) * sizeof(int));
    m->offer_kinds = malloc(n ? n : 1);
    if (m->offer_fds == NULL || m->offer_kinds == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < nlisten_fds; i++) {
        m->offer_fds[i] = listen_fds[i];
        m->offer_kinds[i] = PX_TAKEOVER_LISTENER;
    }
    if (m->admin_dup >= 0) {
        m->offer_fds[nlisten_fds] = m->admin_dup;
        m->offer_kinds[nlisten_fds] = PX_TAKEOVER_ADMIN;
    }
    m->noffer = n;
    return uv_poll_start(&m->takeover_poll, UV_READABLE, on_takeover_connection);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct px_main *m = s->data;

    if (signum == SIGHUP) {
        if (m->phase == PX_RUNNING && m->nworkers > 0)
            px_control_reload_async(&m->control);
    } else if (signum == SIGUSR1) {
        reopen_access_log(m);
    } else if (m->phase == PX_RUNNING) {
        begin_stop(m, signal_name(signum), true);
    } else if (m->phase == PX_LAME_DUCK) {
        /* A second stop signal: the operator does not want to wait. */
        px_log(PX_LOG_INFO, NULL, "event=lame_duck_cut signal=%s", signal_name(signum));
        start_drain(m);
    }
}

/*
 * Warns when a file holding the admin token (the config file with an inline
 * token, or admin.token_file) is readable by others: on stderr for --check,
 * as an event otherwise. Names the file, never the secret.
 */
static void warn_secret_files(const struct conf *cf, bool check)
{
    const char *holder = cf->admin.token_file  ? cf->admin.token_file
                         : cf->admin.token_env ? NULL
                         : cf->admin.token     ? cf->path
                                               : NULL;
    struct stat st;

    if (holder == NULL || stat(holder, &st) == -1 || (st.st_mode & S_IROTH) == 0)
        return;
    if (check)
        fprintf(stderr,
                "georoute: warning: %s is readable by others (mode %04o) and holds the admin "
                "token; chmod o-r it\n",
                holder, (unsigned)(st.st_mode & 07777));
    else
        px_log(PX_LOG_WARN, NULL, "event=secret_readable_by_others path=%s mode=%04o", holder,
               (unsigned)(st.st_mode & 07777));
}

static unsigned worker_count(const struct conf *cf)
{
    unsigned n = cf->workers ? cf->workers : uv_available_parallelism();
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : n;
}

/*
 * Every worker's listening sockets, in rounds of one socket per listen
 * address. A fresh start has one round per worker. A process that took
 * over from one with more workers has more rounds than workers, so that no
 * socket it received closes (closing a SO_REUSEPORT socket resets the
 * connections queued on it): worker W serves rounds W, W+N, W+2N...
 * Each worker's rounds are contiguous in fds.
 */
struct px_layout {
    int *fds; /* owned array, rounds * nlisten; the sockets go to the workers */
    size_t rounds;
    size_t nlisten;
    unsigned nworkers;
};

/* The number of rounds worker W serves. */
static size_t layout_rounds(const struct px_layout *l, unsigned w)
{
    return l->rounds / l->nworkers + (w < l->rounds % l->nworkers);
}

/* The index in l->fds of worker W's first socket. */
static size_t layout_first(const struct px_layout *l, unsigned w)
{
    size_t q = l->rounds / l->nworkers, r = l->rounds % l->nworkers;
    return (w * q + (w < r ? w : r)) * l->nlisten;
}

/* The index in l->fds of round R's socket for listen address I. */
static size_t layout_slot(const struct px_layout *l, size_t r, size_t i)
{
    return layout_first(l, (unsigned)(r % l->nworkers)) + r / l->nworkers * l->nlisten + i;
}

static bool same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
    const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
    return a->ss_family == AF_INET6 && a6->sin6_port == b6->sin6_port &&
           a6->sin6_scope_id == b6->sin6_scope_id &&
           memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
}

/* The listen address (index in cf->listen) the listening socket FD is bound to, or -1. */
static int listen_index(const struct conf *cf, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss), alen = sizeof(int);
    int acc = 0;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == -1 || !acc)
        return -1;
    for (size_t i = 0; i < cf->nlisten; i++)
        if (same_sockaddr(&ss, &cf->listen[i].sa))
            return (int)i;
    return -1;
}

/*
 * Lays out the listening sockets of NWORKERS workers into L: those received
 * from a predecessor (GOT; each one taken becomes -1 there) where they
 * match a listen address, and new SO_REUSEPORT sockets beside them for the
 * rest. Returns 0, or -1 with the error printed.
 */
static int open_listeners(const struct conf *cf, unsigned nworkers, struct px_takeover_fds *got,
                          struct px_layout *l)
{
    size_t *next = calloc(cf->nlisten ? cf->nlisten : 1, sizeof(size_t));
    int *where = calloc(got->n ? got->n : 1, sizeof(int));
    int rc = -1;

    *l = (struct px_layout){.nlisten = cf->nlisten, .nworkers = nworkers, .rounds = nworkers};
    if (next == NULL || where == NULL)
        goto nomem;
    for (size_t j = 0; j < got->n; j++) {
        where[j] = got->kinds[j] == PX_TAKEOVER_LISTENER ? listen_index(cf, got->fds[j]) : -1;
        if (where[j] >= 0 && ++next[where[j]] > l->rounds)
            l->rounds = next[where[j]];
    }
    if ((l->fds = malloc(l->rounds * cf->nlisten * sizeof(int))) == NULL)
        goto nomem;
    for (size_t k = 0; k < l->rounds * cf->nlisten; k++)
        l->fds[k] = -1;
    memset(next, 0, cf->nlisten * sizeof(size_t));
    for (size_t j = 0; j < got->n; j++) {
        if (where[j] < 0)
            continue;
        l->fds[layout_slot(l, next[where[j]]++, (size_t)where[j])] = got->fds[j];
        got->fds[j] = -1;
    }
    for (size_t r = 0; r < l->rounds; r++) {
        for (size_t i = 0; i < cf->nlisten; i++) {
            int *fd = &l->fds[layout_slot(l, r, i)];
            if (*fd >= 0)
                continue;
            if ((*fd = px_listener_socket(&cf->listen[i])) < 0) {
                fprintf(stderr, "%s:%u:%u: listen %s: %s\n", cf->path, cf->listeners[i].pos.line,
                        cf->listeners[i].pos.col, cf->listen[i].text, strerror(-*fd));
                goto out;
            }
        }
    }
    rc = 0;
    goto out;
nomem:
    fprintf(stderr, "georoute: listeners: out of memory\n");
out:
    free(next);
    free(where);
    return rc;
}

/* The admin socket received from a predecessor that CA names, taken; or -1. */
static int take_admin(struct px_takeover_fds *got, const struct conf_admin *ca)
{
    for (size_t j = 0; j < got->n; j++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = got->fds[j];

        if (got->kinds[j] != PX_TAKEOVER_ADMIN || fd < 0 ||
            getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
            continue;
        if (ca->unix_path ? ss.ss_family == AF_UNIX &&
                                strcmp(((struct sockaddr_un *)&ss)->sun_path, ca->unix_path) == 0
                          : same_sockaddr(&ss, &ca->addr.sa)) {
            got->fds[j] = -1;
            return fd;
        }
    }
    return -1;
}

/*
 * --takeover PATH: connects to the running georoute and receives its
 * listening sockets into GOT. Returns the connection (the takeover
 * finishes on it once this process serves), or -1 with the error printed.
 */
static int takeover_begin(const char *path, struct px_takeover_fds *got)
{
    int conn = px_takeover_connect(path, TAKEOVER_TIMEOUT_MS), rc;

    if (conn < 0) {
        fprintf(stderr,
                "georoute: --takeover %s: %s (is the running georoute started with "
                "--takeover-socket %s?)\n",
                path, strerror(-conn), path);
        return -1;
    }
    if ((rc = px_takeover_receive(conn, got)) != 0) {
        fprintf(stderr, "georoute: --takeover %s: receiving the sockets: %s\n", path,
                strerror(-rc));
        close(conn);
        return -1;
    }
    return conn;
}

/*
 * This process serves: tells the predecessor on CONN, which releases the
 * takeover path and the admin socket and drains. Then offers this
 * process's own sockets at --takeover-socket, if asked, for the next one.
 */
static void takeover_finish(struct px_main *m, int conn)
{
    char b = 0, state[64];
    int rc = px_takeover_send_byte(conn, PX_TAKEOVER_SERVING);

    if (rc == 0)
        rc = px_takeover_read_byte(conn, &b);
    close(conn);
    if (rc != 0 || b != PX_TAKEOVER_RELEASED)
        px_log(PX_LOG_WARN, NULL, "event=takeover result=unconfirmed side=new error=\"%s\"",
               rc ? px_strerror(rc) : "unexpected message");
    else
        px_log(PX_LOG_INFO, NULL, "event=takeover result=ok side=new");
    /* Under systemd (NotifyAccess=all) this process is the service now. */
    snprintf(state, sizeof(state), "MAINPID=%ld", (long)getpid());
    px_notify(state);
    if (m->takeover_path && (m->takeover_fd = px_takeover_listen(m->takeover_path)) < 0) {
        px_log(PX_LOG_ERR, NULL, "event=takeover_socket_failed path=%s error=\"%s\"",
               m->takeover_path, strerror(-m->takeover_fd));
        m->takeover_fd = -1;
    }
}

/*
 * Whether the access log can be written: the file, or else its directory.
 * --check cannot create it (a check changes nothing), so this is what an
 * open at start depends on. Prints FILE:LINE:COL and returns -1 when not.
 */
static int check_access_log(const struct conf *cf)
{
    const char *p = cf->access_log;
    const struct conf_pos *at = &cf->restart_pos.access_log;
    char dir[4096];

    if (p == NULL || strcmp(p, "-") == 0 || access(p, W_OK) == 0)
        return 0;
    if (errno == ENOENT) {
        const char *slash = strrchr(p, '/');
        snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - p) + 1 : 1, slash ? p : ".");
        if (access(dir, W_OK) == 0)
            return 0;
    }
    fprintf(stderr, "%s:%u:%u: access_log: cannot write %s: %s\n", cf->path, at->line, at->col, p,
            strerror(errno));
    return -1;
}

/*
 * What a start would warn about or refuse, short of binding: the fd budget
 * (clients capped to what the limit leaves, or no room at all) and running
 * as root with no user to switch to. Prints to stderr; returns the client
 * cap, or 0 when the process cannot start.
 */
static uint32_t startup_checks(const struct conf *cf)
{
    struct px_fd_plan plan;
    int fit = px_fds_plan(cf, worker_count(cf), px_fds_raise_limit(), &plan);

    if (check_access_log(cf) != 0)
        return 0;
    if (fit < 0)
        fprintf(stderr,
                "%s: the file descriptor limit %llu does not cover the %llu that listeners, "
                "pools, probes, DNS and admin need; raise it (ulimit -n, LimitNOFILE)\n",
                cf->path, (unsigned long long)plan.limit, (unsigned long long)plan.fixed);
    else if (fit > 0)
        fprintf(stderr,
                "%s: warning: limits.max_client_connections %u needs %llu file descriptors with "
                "everything else, the limit is %llu: clients are capped at %u so probes, DNS and "
                "admin keep theirs (raise ulimit -n or LimitNOFILE)\n",
                cf->path, cf->limits.max_client_connections, (unsigned long long)plan.wanted,
                (unsigned long long)plan.limit, plan.client_cap);
    if (geteuid() == 0 && cf->user == NULL)
        fprintf(stderr,
                "%s: warning: running as root; set user: (and group:) to give up root once the "
                "sockets are bound\n",
                cf->path);
    return plan.client_cap;
}

static int run(struct px_snapshot *snap, const struct px_opts *o)
{
    const struct conf *cf = snap->cfg->conf;
    struct px_process proc = {.conf = cf, .client_cap = startup_checks(cf)};
    struct px_main m = {.loop = uv_default_loop(),
                        .snap = px_snapshot_ref(snap),
                        .proc = &proc,
                        .takeover_path = o->takeover_socket,
                        .takeover_fd = -1,
                        .successor_fd = -1,
                        .admin_dup = -1};
    unsigned n = worker_count(cf);
    struct px_layout lay = {0};
    struct px_takeover_fds got = {0};
    int predecessor = -1;
    char why[PX_ERRBUF_BYTES];
    int admin_fd = -1;
    int rc = 1;
    int err;

    if (proc.client_cap == 0)
        goto out;

    /* Signals are caught before any socket listens, so a signal that comes
     * early is handled (on the first loop turn), not fatal. */
    for (size_t i = 0; i < NHANDLED; i++) {
        uv_signal_init(m.loop, &m.signals[i]);
        m.signals[i].data = &m;
        uv_signal_start(&m.signals[i], on_signal, handled_signals[i]);
    }
    uv_timer_init(m.loop, &m.lame_duck);
    uv_async_init(m.loop, &m.workers_done, on_workers_done);
    m.lame_duck.data = m.workers_done.data = &m;
    m.workers = calloc(n, sizeof(*m.workers));
    if (m.workers == NULL)
        goto out;
    if (o->takeover_from && (predecessor = takeover_begin(o->takeover_from, &got)) < 0)
        goto out;
    /* The admin address first: when another instance holds it, this one
     * must stop before it binds (and with SO_REUSEPORT shares) any public
     * port. Running on without the admin listener would hide the mistake.
     * A successor takes the socket from its predecessor instead. */
    if (cf->admin.enabled && (admin_fd = take_admin(&got, &cf->admin)) < 0 &&
        (admin_fd = px_admin_socket(&cf->admin)) < 0) {
        fprintf(stderr,
                "georoute: admin.listen %s: %s (another georoute running? "
                "`admin.listen: off` runs without the admin listener)\n",
                px_admin_addr_text(&cf->admin), uv_strerror(admin_fd));
        goto out;
    }
    /* The same for the takeover path on a fresh start: a live process there
     * is another georoute. A successor binds it once its predecessor has
     * let it go (takeover_finish). */
    if (o->takeover_socket && predecessor < 0 &&
        (m.takeover_fd = px_takeover_listen(o->takeover_socket)) < 0) {
        fprintf(stderr,
                "georoute: --takeover-socket %s: %s (another georoute running? --takeover %s "
                "takes over from it)\n",
                o->takeover_socket, strerror(-m.takeover_fd), o->takeover_socket);
        goto out;
    }
    if (o->takeover_socket && admin_fd >= 0 &&
        (m.admin_dup = fcntl(admin_fd, F_DUPFD_CLOEXEC, 0)) == -1) {
        fprintf(stderr, "georoute: admin socket: %s\n", strerror(errno));
        goto out;
    }
    if (open_listeners(cf, n, &got, &lay) != 0)
        goto out;
    px_takeover_fds_dispose(&got); /* sockets this config does not listen on */
    proc.access_log = px_logfile_open(cf->access_log, &err);
    if (err != 0) {
        fprintf(stderr, "%s:%u:%u: access_log: cannot open %s: %s\n", cf->path,
                cf->restart_pos.access_log.line, cf->restart_pos.access_log.col, cf->access_log,
                px_strerror(err));
        goto out;
    }
    /* Everything that needs root is open (listeners, admin and takeover
     * sockets, the access log); nothing else is built yet, so a refusal
     * here has nothing to undo. */
    if ((cf->user || cf->group) && px_privs_drop(cf->user, cf->group, why, sizeof(why)) != 0) {
        fprintf(stderr, "georoute: %s\n", why);
        goto out;
    }
    /* Workers are prepared first so the control thread can publish its
     * first, measured routing table to them; they start accepting after. */
    for (unsigned i = 0; i < n; i++) {
        err = px_worker_init(&m.workers[i], i, &proc, px_stats_zone_slots(cf->nzones),
                             px_stats_slots(cf->nregions), lay.fds + layout_first(&lay, i),
                             layout_rounds(&lay, i) * cf->nlisten);
        if (err != 0) {
            fprintf(stderr, "georoute: worker %u: %s\n", i, px_strerror(err));
            goto out;
        }
    }
    if ((m.ports = calloc(n, sizeof(*m.ports))) == NULL)
        goto out;
    for (unsigned i = 0; i < n; i++)
        m.ports[i] = &m.workers[i].port;
    err = px_control_init(&m.control, snap, m.ports, n, &proc);
    if (err == 0 && admin_fd >= 0) {
        if (px_admin_start(&m.control, admin_fd) == NULL)
            err = PX_ENOMEM;
        admin_fd = -1; /* taken over */
    }
    if (err == 0)
        err = px_control_start(&m.control);
    if (err != 0) {
        fprintf(stderr, "georoute: control thread: %s\n", px_strerror(err));
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        if ((err = px_worker_start(&m.workers[i])) != 0) {
            fprintf(stderr, "georoute: worker %u: %s\n", i, px_strerror(err));
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
    /* Workers accept, and the admin listener took its socket before the
     * control thread started (px_control_start waits for its first table). */
    if ((err = px_notify("READY=1")) < 0)
        px_log(PX_LOG_WARN, NULL, "event=notify_failed state=ready error=\"%s\"", strerror(-err));
    if (predecessor >= 0)
        takeover_finish(&m, predecessor);
    predecessor = -1;
    if (m.takeover_fd >= 0 && (err = takeover_offer(&m, lay.fds, lay.rounds * cf->nlisten)) != 0) {
        px_log(PX_LOG_ERR, NULL, "event=takeover_socket_failed path=%s error=\"%s\"",
               m.takeover_path, px_strerror(err));
        takeover_close(&m);
    }
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
    if (admin_fd >= 0)
        close(admin_fd);
    if (m.admin_dup >= 0)
        close(m.admin_dup);
    if (predecessor >= 0)
        close(predecessor);   /* it serves on: this start failed */
    if (m.takeover_fd >= 0) { /* a start that failed before serving */
        close(m.takeover_fd);
        unlink(m.takeover_path);
    }
    px_takeover_fds_dispose(&got);
    px_snapshot_unref(m.snap);
    px_logfile_unref(proc.access_log);
    free(m.workers);
    free(m.ports);
    free(lay.fds);
    free(m.offer_fds);
    free(m.offer_kinds);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"takeover-socket", required_argument, NULL, 'T'},
        {"takeover", required_argument, NULL, 'X'},
        {NULL, 0, NULL, 0},
    };
    struct px_opts o = {0};
    const char *path = NULL;
    bool check = false;
    char err[PX_ERRBUF_BYTES];
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
        case 'T':
            o.takeover_socket = optarg;
            break;
        case 'X':
            o.takeover_from = optarg;
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
        if (err[0] != '\0') /* warnings (a group-readable key): the file still loads */
            fprintf(stderr, "%s%s", err, err[strlen(err) - 1] == '\n' ? "" : "\n");
        loaded = px_snapshot_new(cfg, NULL, &snap, err, sizeof(err));
        px_config_unref(cfg);
    }
    if (loaded != 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        return 1;
    }
    if (px_config_lint(snap->cfg, err, sizeof(err)) > 0) {
        if (check)
            fputs(err, stderr);
        else
            px_log_lines(PX_LOG_WARN, "config_warning", "warning", err);
    }
    warn_secret_files(snap->cfg->conf, check);
    if (check) {
        if (startup_checks(snap->cfg->conf) == 0) {
            px_snapshot_unref(snap);
            return 1;
        }
        printf("%s: configuration is valid\n", path);
        px_snapshot_unref(snap);
        return 0;
    }
    ignore_unused_signals();
    int rc = px_dns_global_init();
    if (rc != 0) {
        fprintf(stderr, "georoute: DNS resolver: %s\n", px_dns_strerror(rc));
        px_snapshot_unref(snap);
        return 1;
    }
    rc = run(snap, &o);
    px_snapshot_unref(snap);
    px_dns_global_cleanup();
    return rc;
}
