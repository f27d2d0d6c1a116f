/*
 * fds: the process's file-descriptor budget. Clients are the only users
 * whose number the network decides, so they get what is left after
 * everything else has its share: listeners, loops, the admin listener and
 * its connections, one probe per backend, DNS sockets, idle upstream pools
 * and the logs. Each client may also hold one upstream connection, so it
 * costs two. Capping clients to what fits keeps a reserve that probes, DNS
 * and admin never lose to a flood of idle connections.
 */
#ifndef PX_FDS_H
#define PX_FDS_H

#include "conf/conf.h"

#include <stdint.h>

/* Addresses one DNS name or SRV set may expand to, for the budget. */
#define PX_FDS_PER_NAME 32
/* Admin connections the budget keeps room for. */
#define PX_FDS_ADMIN 64

struct px_fd_plan {
    uint64_t limit;      /* RLIMIT_NOFILE soft limit in force */
    uint64_t fixed;      /* everything but clients and their upstreams */
    uint64_t wanted;     /* fixed + 2 per configured client connection */
    uint32_t client_cap; /* client connections that fit: <= max_client_connections */
};

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (best effort) and returns
 * the soft limit then in force.
 */
uint64_t px_fds_raise_limit(void);

/*
 * Plans CF's descriptors for NWORKERS workers under LIMIT. Returns 0 when
 * max_client_connections fits, 1 when client_cap had to be lowered to fit,
 * and -1 when not even the fixed needs fit (client_cap 0).
 */
int px_fds_plan(const struct conf *cf, unsigned nworkers, uint64_t limit, struct px_fd_plan *out);

#endif
