/*
 * admin: the listener, its connections and the route table. A connection
 * reads one request head with px_http, px_admin_handle() finds its row in
 * routes[] (path, methods, access class, content type, handler), checks the
 * access class once for every row, runs the handler into a px_sbuf, and the
 * whole response goes out in one uv_write before the connection closes.
 * The bodies come from status.c, metrics.c and page.html.
 */
#include "proxy/admin/admin.h"
#include "proxy/admin/metrics.h"
#include "proxy/admin/page.h"
#include "proxy/admin/status.h"
#include "proxy/admin/view.h"
#include "proxy/base/list.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"
#include "proxy/control/control.h"
#include "proxy/proto/http1.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ADMIN_READ_BYTES 8192
#define ADMIN_MAX_HEAD_BYTES 8192
#define ADMIN_MAX_HEADERS 64
#define ADMIN_TIMEOUT_MS 10000
#define ADMIN_HEADER "x-georoute-admin" /* what state-changing requests must carry */

/* A TCP or unix stream: the listener and its connections are one or the other. */
union admin_stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

struct px_admin {
    struct px_control_guest guest; /* ctl->admin while it runs */
    union admin_stream listener;
    struct px_control *ctl; /* borrowed */
    struct px_list conns;   /* every open admin_conn */
    unsigned nconns;        /* in conns, for admin.max_connections */
    char unix_path[108];    /* the socket file to remove at close, or "" */
    bool unix_socket;
    unsigned pending_closes;
    bool closing;
};

struct admin_conn {
    union admin_stream io;
    uv_timer_t timer;    /* whole-request deadline */
    uv_write_t wr;       /* the response write */
    struct px_admin *a;  /* borrowed */
    struct px_list node; /* in a->conns */
    struct px_http req;  /* owned parser */
    struct px_sbuf out;  /* owned response bytes */
    char rbuf[ADMIN_READ_BYTES];
    unsigned pending_closes;
    bool answered; /* a response is written or being written */
    bool closing;
};

static const char TEXT[] = "text/plain; charset=utf-8";
static const char JSON[] = "application/json";

/* ------------------------------------------------------------ connections */

static void admin_maybe_free(struct px_admin *a)
{
    if (a->closing && a->pending_closes == 0 && px_list_empty(&a->conns))
        free(a);
}

static void on_admin_conn_closed(uv_handle_t *h)
{
    struct admin_conn *ac = h->data;
    struct px_admin *a = ac->a;
    if (--ac->pending_closes > 0)
        return;
    px_list_remove(&ac->node);
    a->nconns--;
    px_http_dispose(&ac->req);
    px_sbuf_dispose(&ac->out);
    free(ac);
    admin_maybe_free(a);
}

static void conn_close(struct admin_conn *ac)
{
    if (ac->closing)
        return;
    ac->closing = true;
    ac->pending_closes = 2;
    uv_read_stop(&ac->io.stream);
    uv_close((uv_handle_t *)&ac->timer, on_admin_conn_closed);
    uv_close(&ac->io.handle, on_admin_conn_closed);
}

static void on_admin_written(uv_write_t *wr, int status)
{
    (void)status;
    conn_close(wr->data);
}

static void on_admin_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

/* Sends RS (its body moved into the connection) and closes after. A HEAD
 * answer has the GET answer's headers, Content-Length included, and no body
 * (RFC 9110 section 9.3.2). */
static void respond(struct admin_conn *ac, struct px_admin_resp *rs, bool head)
{
    struct px_sbuf *o = &ac->out;
    uv_buf_t buf;

    ac->answered = true;
    uv_read_stop(&ac->io.stream);
    px_sbuf_printf(o,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                   "Connection: close\r\n%s\r\n",
                   rs->status, px_http_reason(rs->status), rs->ctype, rs->body.len, rs->headers);
    if (!head)
        px_sbuf_append(o, rs->body.data ? rs->body.data : "", rs->body.len);
    px_sbuf_dispose(&rs->body);
    if (o->oom || rs->body.oom) {
        conn_close(ac);
        return;
    }
    buf = uv_buf_init(o->data, (unsigned)o->len);
    ac->wr.data = ac;
    if (uv_write(&ac->wr, &ac->io.stream, &buf, 1, on_admin_written) != 0)
        conn_close(ac);
}

static void respond_error(struct admin_conn *ac, int status, const char *text)
{
    struct px_admin_resp rs = {.status = status, .ctype = TEXT, .headers = ""};
    px_sbuf_init(&rs.body);
    px_sbuf_puts(&rs.body, text);
    respond(ac, &rs, false);
}

/* Copies header NAME's value into BUF (NUL-terminated, cut to fit); NULL when absent. */
static const char *header(const struct px_http *h, const char *name, char *buf, size_t cap)
{
    int i = px_http_find(h, name);
    const struct px_hdr *hd;
    size_t n;

    if (i < 0)
        return NULL;
    hd = &h->hdrs[i];
    n = hd->value_len < cap - 1 ? hd->value_len : cap - 1;
    memcpy(buf, h->buf + hd->value_off, n);
    buf[n] = '\0';
    return buf;
}

static void handle(struct admin_conn *ac)
{
    struct px_http *h = &ac->req;
    char target[2048], auth[512], host[300], origin[300];
    size_t n = h->target_len < sizeof(target) - 1 ? h->target_len : sizeof(target) - 1;
    struct px_admin_req rq = {.method = px_http_method_name(h), .target = target};
    struct px_admin_resp rs;

    memcpy(target, h->buf + h->target_off, n);
    target[n] = '\0';
    rq.auth = header(h, "authorization", auth, sizeof(auth));
    rq.host = header(h, "host", host, sizeof(host));
    rq.origin = header(h, "origin", origin, sizeof(origin));
    rq.admin_header = px_http_find(h, ADMIN_HEADER) >= 0;
    rq.unix_socket = ac->a->unix_socket;
    px_sbuf_init(&rs.body);
    px_admin_handle(ac->a->ctl, &rq, &rs);
    respond(ac, &rs, px_http_method_is(h, "HEAD"));
}

static void on_admin_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    struct admin_conn *ac = hd->data;
    (void)suggested;
    *buf = uv_buf_init(ac->rbuf, sizeof(ac->rbuf));
}

static void on_admin_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct admin_conn *ac = s->data;
    size_t consumed;
    int ev;

    if (nread < 0) {
        conn_close(ac);
        return;
    }
    if (nread == 0 || ac->answered)
        return;
    ev = px_http_feed(&ac->req, buf->base, (size_t)nread, &consumed);
    if (ev == PX_HTTP_MORE)
        return;
    if (ev < 0) {
        respond_error(ac, ev == PX_EHEADTOOBIG ? 431 : 400, "bad request\n");
        return;
    }
    handle(ac);
}

static void on_admin_connection(uv_stream_t *server, int status)
{
    struct px_admin *a = server->data;
    struct admin_conn *ac;
    int rc;

    if (status < 0 || a->closing)
        return;
    if ((ac = calloc(1, sizeof(*ac))) == NULL)
        return;
    ac->a = a;
    px_sbuf_init(&ac->out);
    if (a->unix_socket)
        uv_pipe_init(&a->ctl->loop, &ac->io.pipe, 0);
    else
        uv_tcp_init(&a->ctl->loop, &ac->io.tcp);
    uv_timer_init(&a->ctl->loop, &ac->timer);
    ac->io.handle.data = ac->timer.data = ac;
    px_list_insert_tail(&a->conns, &ac->node);
    a->nconns++;
    rc = px_http_init(&ac->req, PX_HTTP_REQUEST, ac, ADMIN_MAX_HEAD_BYTES, ADMIN_MAX_HEADERS);
    if (rc != 0 || uv_accept(server, &ac->io.stream) != 0) {
        conn_close(ac);
        return;
    }
    /* Over the cap, the connection is accepted only to be closed at once:
     * leaving it in the backlog would keep the client waiting instead. */
    if (a->nconns > px_admin_conf(a->ctl)->admin.max_connections) {
        conn_close(ac);
        return;
    }
    uv_timer_start(&ac->timer, on_admin_timeout, ADMIN_TIMEOUT_MS, 0);
    uv_read_start(&ac->io.stream, on_admin_alloc, on_admin_read);
}

static void on_admin_listener_closed(uv_handle_t *h)
{
    struct px_admin *a = h->data;
    a->pending_closes--;
    admin_maybe_free(a);
}

static void close_guest(struct px_control_guest *g)
{
    px_admin_close(px_container_of(g, struct px_admin, guest));
}

/* The socket's file now belongs to the successor that took the socket. */
static void release_guest(struct px_control_guest *g)
{
    struct px_admin *a = px_container_of(g, struct px_admin, guest);
    a->unix_path[0] = '\0';
    px_admin_close(a);
}

/* A unix socket file nobody listens on (left by a crash) may be replaced;
 * one with a live listener means another instance: refuse. */
static int unlink_stale(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

    if (fd == -1)
        return -errno;
    rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ? UV_EADDRINUSE
         : errno == ECONNREFUSED && unlink(sun->sun_path) == 0        ? 0
                                                                      : UV_EADDRINUSE;
    close(fd);
    return rc;
}

static int unix_socket(const struct conf_admin *ca)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd, rc = 0;
    mode_t old;

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ca->unix_path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
        return -errno;
    /* The umask makes the file's mode right from its creation (a chmod after
     * bind leaves a window); the process has no other thread yet. */
    old = umask(~ca->mode & 0777);
    if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) == -1) {
        rc = -errno;
        if (rc == UV_EADDRINUSE && (rc = unlink_stale(&sun)) == 0 &&
            bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) == -1)
            rc = -errno;
    }
    umask(old);
    if (rc == 0 && (chmod(sun.sun_path, ca->mode) == -1 || listen(fd, 64) == -1))
        rc = -errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int tcp_socket(const struct conf_admin *ca)
{
    int fd = socket(ca->addr.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd == -1)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(fd, (const struct sockaddr *)&ca->addr.sa, ca->addr.salen) == -1 ||
        listen(fd, 64) == -1) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int px_admin_socket(const struct conf_admin *ca)
{
    return ca->unix_path ? unix_socket(ca) : tcp_socket(ca);
}

const char *px_admin_addr_text(const struct conf_admin *ca)
{
    return ca->unix_path ? ca->unix_path : ca->addr.text;
}

struct px_admin *px_admin_start(struct px_control *ctl, int fd)
{
    const struct conf_admin *ca = &px_admin_conf(ctl)->admin;
    struct px_admin *a;
    int rc;

    if ((a = calloc(1, sizeof(*a))) == NULL)
        return NULL;
    a->ctl = ctl;
    a->unix_socket = ca->unix_path != NULL;
    px_list_init(&a->conns);
    if (a->unix_socket) {
        uv_pipe_init(&ctl->loop, &a->listener.pipe, 0);
        rc = uv_pipe_open(&a->listener.pipe, fd);
    } else {
        uv_tcp_init(&ctl->loop, &a->listener.tcp);
        rc = uv_tcp_open(&a->listener.tcp, fd);
    }
    a->listener.handle.data = a;
    if (rc != 0 || uv_listen(&a->listener.stream, 64, on_admin_connection) != 0) {
        if (rc != 0)
            close(fd);
        a->closing = true;
        a->pending_closes = 1;
        uv_close(&a->listener.handle, on_admin_listener_closed);
        return NULL;
    }
    if (a->unix_socket)
        snprintf(a->unix_path, sizeof(a->unix_path), "%s", ca->unix_path);
    px_log(PX_LOG_INFO, NULL, "event=admin_listening addr=%s", px_admin_addr_text(ca));
    a->guest.close = close_guest;
    a->guest.release = release_guest;
    ctl->admin = &a->guest;
    return a;
}

void px_admin_close(struct px_admin *a)
{
    struct px_list *n;
    if (a == NULL || a->closing)
        return;
    a->closing = true;
    a->pending_closes++;
    uv_close(&a->listener.handle, on_admin_listener_closed);
    if (a->unix_path[0])
        unlink(a->unix_path);
    for (n = a->conns.next; n != &a->conns;) {
        struct admin_conn *ac = px_container_of(n, struct admin_conn, node);
        n = n->next;
        conn_close(ac);
    }
}

/* ------------------------------------------------------------ requests */

/* Decodes %XX in place; returns false on a malformed escape. */
static bool url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%') {
            unsigned v;
            if (!s[1] || !s[2] || sscanf(s + 1, "%2x", &v) != 1)
                return false;
            *o++ = (char)v;
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
    return true;
}

/* Finds query parameter NAME in QUERY into BUF; false when absent. */
static bool query_param(const char *query, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1 < cap - 1 ? len - nl - 1 : cap - 1;
            memcpy(buf, p + nl + 1, vl);
            buf[vl] = '\0';
            return url_decode(buf);
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Constant-time comparison of the Authorization value with "Bearer TOKEN". */
static bool bearer_matches(const char *tok, const char *auth)
{
    size_t tl, al;
    unsigned diff;

    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    auth += 7;
    while (*auth == ' ')
        auth++;
    tl = strlen(tok);
    al = strlen(auth);
    while (al > 0 && auth[al - 1] == ' ')
        al--;
    diff = tl != al;
    for (size_t i = 0; i < tl; i++)
        diff |= (unsigned)(unsigned char)tok[i] ^ (unsigned)(unsigned char)(i < al ? auth[i] : 0);
    return diff == 0;
}

/* ------------------------------------------------------------ handlers */

/* What a handler gets besides the control thread: the request's parts. */
struct call {
    const char *arg;   /* the path segment a '*' in the route matched, or "" */
    const char *query; /* after '?', or "" */
};

/* Writes the answer's body into OUT and returns its status; a handler may
 * change *CTYPE from the route's (an error in plain text). */
typedef int (*route_cb)(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                        const char **ctype);

static int on_healthz(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                      const char **ctype)
{
    (void)ctl, (void)c, (void)ctype;
    px_sbuf_puts(out, "ok\n");
    return 200;
}

static int on_readyz(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                     const char **ctype)
{
    const struct conf *cf = px_admin_conf(ctl);
    bool ready = px_admin_ready(ctl);

    (void)c, (void)ctype;
    if (ctl->routes == NULL) {
        px_sbuf_puts(out, "not ready: no routing table yet\n");
        return 503;
    }
    if (atomic_load(&ctl->lame_duck)) {
        px_sbuf_puts(out, "not ready: shutting down\n");
        return 503;
    }
    px_sbuf_puts(out, ready ? "ready\n" : "not ready: no healthy region\n");
    /* Ready while any zone is served; the others are named, so a drain's cost shows. */
    for (size_t z = 0; z < cf->nzones; z++)
        if (px_control_zone_stranded(ctl, z, -1))
            px_sbuf_printf(out, "zone without a region: %s\n", cf->zones[z].name);
    return ready ? 200 : 503;
}

static int on_status(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                     const char **ctype)
{
    (void)c, (void)ctype;
    px__admin_status(ctl, out);
    return 200;
}

static int on_metrics(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                      const char **ctype)
{
    (void)c, (void)ctype;
    px__admin_metrics(ctl, out);
    return 200;
}

static int on_page(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                   const char **ctype)
{
    (void)ctl, (void)c, (void)ctype;
    px_sbuf_append(out, (const char *)px_admin_page, px_admin_page_len);
    return 200;
}

static int on_debug_route(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                          const char **ctype)
{
    (void)ctype;
    char ip[128];
    if (!query_param(c->query, "ip", ip, sizeof(ip))) {
        px_sbuf_puts(out, "{\"error\":\"missing ip=ADDR\"}\n");
        return 400;
    }
    return px__admin_debug_route(ctl, ip, out);
}

static int on_reload(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                     const char **ctype)
{
    char err[4096];
    (void)c;
    if (px_control_reload(ctl, err, sizeof(err)) != 0) {
        *ctype = TEXT;
        px_sbuf_printf(out, "reload failed, the old config stays:\n%s\n", err);
        return 400;
    }
    px_sbuf_printf(out, "{\"result\":\"ok\",\"generation\":%llu}\n",
                   (unsigned long long)ctl->snap->generation);
    return 200;
}

/*
 * Drains or undrains a region through px_control_drain: a drain that would
 * leave some zone without any region answers 409 and names the zones,
 * unless ?force=1.
 */
static int drain(struct px_control *ctl, const char *name, bool on, const char *query,
                 struct px_sbuf *out)
{
    char force[8] = "", zones[512];
    int rc;

    query_param(query, "force", force, sizeof(force));
    rc = px_control_drain(ctl, name, on, strcmp(force, "1") == 0, zones, sizeof(zones));
    if (rc == UV_ENOENT) {
        px_sbuf_puts(out, "{\"error\":\"no such region\"}\n");
        return 404;
    }
    struct px_json j;
    px_json_init(&j, out);
    px_json_object(&j, NULL);
    px_json_string(&j, "region", name);
    px_json_bool(&j, "drained", on && rc == 0);
    if (rc == UV_EBUSY) {
        px_json_string(&j, "error", "would leave zones without a region; add ?force=1");
        px_json_string(&j, "zones", zones);
    } else {
        px_json_string(&j, "zones_without_region", zones);
    }
    px_json_end(&j);
    px_sbuf_puts(out, "\n");
    return rc == UV_EBUSY ? 409 : 200;
}

static int on_drain(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                    const char **ctype)
{
    (void)ctype;
    return drain(ctl, c->arg, true, c->query, out);
}

static int on_undrain(struct px_control *ctl, const struct call *c, struct px_sbuf *out,
                      const char **ctype)
{
    (void)ctype;
    return drain(ctl, c->arg, false, c->query, out);
}

/* ------------------------------------------------------------ the table */

enum { M_GET = 1, M_HEAD = 2, M_POST = 4, M_READ = M_GET | M_HEAD };

/* Who may call a route: OPEN always (load balancer checks), READ and WRITE
 * as check_access() says. */
enum access { OPEN, READ, WRITE };

struct route {
    const char *path; /* exact; a '*' matches one non-empty path segment */
    unsigned methods; /* M_* */
    enum access access;
    const char *ctype;
    route_cb handler;
    const char *headers; /* extra response header lines, or "" */
};

/* The page runs only its own inline script and style, fetches only this
 * origin, and may not be framed (clickjacking a drain button, should it
 * ever get one). */
#define PAGE_HEADERS                                                                               \
    "X-Frame-Options: DENY\r\n"                                                                    \
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "                    \
    "style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; "         \
    "frame-ancestors 'none'\r\n"

static const struct route routes[] = {
    {"/healthz", M_READ, OPEN, TEXT, on_healthz, ""},
    {"/readyz", M_READ, OPEN, TEXT, on_readyz, ""},
    {"/status", M_READ, READ, JSON, on_status, ""},
    {"/metrics", M_READ, READ, "text/plain; version=0.0.4; charset=utf-8", on_metrics, ""},
    {"/debug/route", M_READ, READ, JSON, on_debug_route, ""},
    {"/", M_READ, READ, "text/html; charset=utf-8", on_page, PAGE_HEADERS},
    {"/reload", M_POST, WRITE, JSON, on_reload, ""},
    {"/regions/*/drain", M_POST, WRITE, JSON, on_drain, ""},
    {"/regions/*/undrain", M_POST, WRITE, JSON, on_undrain, ""},
};

/* Matches PATH against PATTERN; a '*' segment is copied into ARG (cut to CAP). */
static bool path_match(const char *pattern, const char *path, char *arg, size_t cap)
{
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= cap)
                return false;
            memcpy(arg, path, n);
            arg[n] = '\0';
            path += n;
            pattern++;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

static unsigned method_bit(const char *method)
{
    if (strcmp(method, "GET") == 0)
        return M_GET;
    if (strcmp(method, "HEAD") == 0)
        return M_HEAD;
    if (strcmp(method, "POST") == 0)
        return M_POST;
    return 0;
}

static int refuse(struct px_admin_resp *rs, int status, const char *headers, const char *text)
{
    rs->status = status;
    rs->ctype = TEXT;
    rs->headers = headers;
    px_sbuf_puts(&rs->body, text);
    return status;
}

/* Host names the admin listener itself: its address text, or localhost,
 * 127.0.0.1 or [::1] with its port. A page that rebinds its own DNS name to
 * 127.0.0.1 still sends its own name, so it gets nothing here. */
static bool host_allowed(const struct conf_admin *ca, const char *host)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    const char *colon;
    char port[8];

    if (host == NULL)
        return false;
    if (strcasecmp(host, ca->addr.text) == 0)
        return true;
    colon = strrchr(ca->addr.text, ':');
    snprintf(port, sizeof(port), "%s", colon ? colon : "");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(host, names[i], n) == 0 && strcmp(host + n, port) == 0)
            return true;
    }
    return false;
}

/*
 * The access class, checked once for every route (docs/SECURITY.md). With a
 * token, READ and WRITE need it. Without one (loopback or unix only), a
 * browser on this machine is the threat: TCP requests must name the admin
 * address in Host (DNS rebinding), and WRITE requests must carry
 * X-Georoute-Admin, which a cross-origin page cannot send without a CORS
 * preflight we never grant. WRITE requests with an Origin come from a page:
 * refused either way. Returns 0 or the refusal's status.
 */
static int check_access(const struct conf_admin *ca, const struct route *rt,
                        const struct px_admin_req *rq, struct px_admin_resp *rs)
{
    if (rt->access == OPEN)
        return 0;
    if (ca->token != NULL && !bearer_matches(ca->token, rq->auth))
        return refuse(rs, 401, "WWW-Authenticate: Bearer realm=\"georoute\"\r\n", "unauthorized\n");
    if (ca->token == NULL && !rq->unix_socket && !host_allowed(ca, rq->host))
        return refuse(rs, 421, "", "misdirected request: Host is not the admin address\n");
    if (rt->access != WRITE)
        return 0;
    if (rq->origin != NULL)
        return refuse(rs, 403, "",
                      "forbidden: state-changing requests are not taken from "
                      "web pages (Origin present)\n");
    if (ca->token == NULL && !rq->admin_header)
        return refuse(rs, 403, "", "forbidden: send the header X-Georoute-Admin: 1\n");
    return 0;
}

int px_admin_handle(struct px_control *ctl, const struct px_admin_req *rq, struct px_admin_resp *rs)
{
    const struct conf_admin *ca = &px_admin_conf(ctl)->admin;
    const char *q = strchr(rq->target, '?');
    size_t n = q ? (size_t)(q - rq->target) : strlen(rq->target);
    char path[1024], arg[CONF_NAME_MAX + 1] = "";
    struct call c = {.arg = arg, .query = q ? q + 1 : ""};
    const struct route *rt = NULL;

    rs->headers = "";
    if (n >= sizeof(path))
        return refuse(rs, 404, "", "not found\n");
    memcpy(path, rq->target, n);
    path[n] = '\0';
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]) && rt == NULL; i++)
        if (path_match(routes[i].path, path, arg, sizeof(arg)))
            rt = &routes[i];
    if (rt == NULL)
        return refuse(rs, 404, "", "not found\n");
    if ((rt->methods & method_bit(rq->method)) == 0)
        return refuse(rs, 405, rt->methods == M_POST ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n",
                      rt->methods == M_POST ? "method not allowed: use POST\n"
                                            : "method not allowed\n");
    if (check_access(ca, rt, rq, rs) != 0)
        return rs->status;
    rs->ctype = rt->ctype;
    rs->headers = rt->headers;
    rs->status = rt->handler(ctl, &c, &rs->body, &rs->ctype);
    return rs->status;
}
