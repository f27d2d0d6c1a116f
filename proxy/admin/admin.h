/*
 * admin: the operator's HTTP/1.1 listener (conf->admin), on the control
 * thread's loop, which owns the health, region and route state it shows and
 * changes, so nothing here locks. One request per connection (the answer
 * carries Connection: close). The endpoints, who may call them and what
 * they answer are the route table in admin.c, documented in docs/ADMIN.md;
 * the defences in docs/SECURITY.md.
 */
#ifndef PX_ADMIN_H
#define PX_ADMIN_H

#include "proxy/base/json.h"

#include <stdbool.h>

struct conf_admin;
struct px_control;
struct px_admin;

/*
 * Opens the listening socket of CA (admin.listen enabled): TCP, or a unix
 * socket created with mode CA->mode (a stale socket file nobody listens on
 * is replaced; a live one is EADDRINUSE). Call from main before any other
 * thread runs (it sets the umask for a moment). Returns the fd or a
 * negative errno.
 */
int px_admin_socket(const struct conf_admin *ca);

/* The address text of CA for messages: "127.0.0.1:9901" or the socket path. */
const char *px_admin_addr_text(const struct conf_admin *ca);

/*
 * Serves the listening socket FD (from px_admin_socket, taken over) on CTL's
 * loop, before the control thread runs, and registers it as CTL's guest,
 * which the control thread closes when it stops. Returns the listener, or
 * NULL without memory (FD is closed then).
 */
struct px_admin *px_admin_start(struct px_control *ctl, int fd);

/*
 * Stops listening and closes every admin connection, on the control thread.
 * The struct frees itself in its last close callback. Accepts NULL.
 */
void px_admin_close(struct px_admin *a);

/* One admin request, as px_admin_handle() sees it. Strings are borrowed; NULL = absent. */
struct px_admin_req {
    const char *method;
    const char *target; /* path and query */
    const char *auth;   /* Authorization */
    const char *host;   /* Host */
    const char *origin; /* Origin */
    bool admin_header;  /* X-Georoute-Admin was sent (browsers cannot, cross-origin) */
    bool unix_socket;   /* arrived on the unix socket: its file mode is the access control */
};

/* The answer: status, content type, extra header lines and body. */
struct px_admin_resp {
    int status;
    const char *ctype;   /* static */
    const char *headers; /* static "Name: value\r\n" lines, or "" */
    struct px_sbuf body; /* owned */
};

/*
 * Answers RQ into RS (whose body the caller has initialised and disposes).
 * Runs on the control thread; no I/O, so unit tests call it directly.
 * Returns RS->status.
 */
int px_admin_handle(struct px_control *ctl, const struct px_admin_req *rq,
                    struct px_admin_resp *rs);

#endif
