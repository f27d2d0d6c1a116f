/*
 * admin: the operator's HTTP/1.1 listener (conf->admin), on the control
 * thread's loop, which owns the health, region and route state it shows and
 * changes, so nothing here locks. One request per connection (the answer
 * carries Connection: close). Endpoints: GET /healthz, /readyz, /status,
 * /metrics, /debug/route?ip=ADDR, / (the status page); POST
 * /regions/NAME/drain and /regions/NAME/undrain, which take the bearer
 * token when conf->admin.token is set.
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
 * the config disables it or the bind failed (logged: the proxy runs without
 * it).
 */
struct px_admin *px_admin_start(struct px_control *ctl);

/*
 * Stops listening and closes every admin connection, on the control thread.
 * The struct frees itself in its last close callback. Accepts NULL.
 */
void px_admin_close(struct px_admin *a);

/*
 * Writes the answer to one admin request into OUT: status, content type and
 * body. METHOD and TARGET are the request's; AUTH the Authorization value
 * or NULL. Runs on the control thread. Returns the HTTP status.
 */
int px_admin_handle(struct px_control *ctl, const char *method, const char *target,
                    const char *auth, const char **ctype, struct px_sbuf *out);

#endif
