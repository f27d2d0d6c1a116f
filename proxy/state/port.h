/*
 * port: the one place a worker and the control thread meet. Each worker
 * owns a port; the control thread publishes routing tables into it, drains
 * its passive-health ring and sums its stats. Everything here is either
 * atomic or single-writer, so neither side takes a lock on the request path.
 * The process-wide counters every worker shares live here too.
 */
#ifndef PX_PORT_H
#define PX_PORT_H

#include "proxy/base/log.h"
#include "proxy/state/routes.h"
#include "proxy/state/signals.h"
#include "proxy/state/stats.h"

#include <stdatomic.h>

/* State shared by every worker of the process. */
struct px_process {
    const struct conf *conf;       /* borrowed: the startup config; lives as long as the process */
    atomic_uint nclients;          /* open client connections, all workers */
    struct px_logfile *access_log; /* one reference: the current file (SIGUSR1 replaces it) */
    uint32_t client_cap;           /* client connections the fd limit leaves room for */
};

struct px_port {
    _Atomic(struct px_routes *) incoming_routes; /* published, not yet taken; one ref */
    struct px_signals signals;                   /* passive health, worker → control */
    struct px_stats stats; /* written only by the worker; the control thread sums */
    /* Set by the worker before it starts: makes its loop take incoming_routes. */
    void (*wake)(struct px_port *port);
};

/*
 * Hands RT to the port's worker from any thread (takes its own reference);
 * the worker takes it on its next loop turn, dropping any table it had not
 * taken yet.
 */
static inline void px_port_publish_routes(struct px_port *p, struct px_routes *rt)
{
    px_routes_unref(atomic_exchange(&p->incoming_routes, px_routes_ref(rt)));
    p->wake(p);
}

#endif
