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

struct px_control;
struct px_admin;

/*
 * Binds the admin listener of CTL's config on CTL's loop (call before the
 * control thread runs, or on it) and registers it as CTL's guest, which the
 * control thread closes when it stops. Returns the listener, or NULL when
 * the config disables it or the bind failed (logged: the proxy runs without it).
 */
struct px_admin *px_admin_start(struct px_control *ctl);

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
