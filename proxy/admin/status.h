/*
 * status: the JSON views of the control thread's state: GET /status (every
 * region, backend, zone and DNS name) and GET /debug/route (what one client
 * address would get). Control thread only.
 */
#ifndef PX_ADMIN_STATUS_H
#define PX_ADMIN_STATUS_H

#include "proxy/base/json.h"

struct px_control;

/* Appends the /status document to B. */
void px__admin_status(struct px_control *ctl, struct px_sbuf *b);

/*
 * Appends the /debug/route document for client address IP (text) to B.
 * Returns 200, or 400 with an error document when IP is not an address.
 */
int px__admin_debug_route(struct px_control *ctl, const char *ip, struct px_sbuf *b);

#endif
