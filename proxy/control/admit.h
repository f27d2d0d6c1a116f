/*
 * admit: which addresses from DNS answers may become backends. An answer
 * is hostile until checked: a record that points a region at georoute's
 * own admin port, at a cloud metadata address or at loopback would turn
 * the data plane against its host. Pure functions, but for reading the
 * host's interface addresses.
 */
#ifndef PX_ADMIT_H
#define PX_ADMIT_H

#include "conf/conf.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* This host's interface addresses, to recognise its own wildcard listeners. */
struct px_local_addrs {
    struct sockaddr_storage *addrs; /* owned, n */
    size_t n;
};

/* Reads the host's addresses into L (replacing what it held). 0 or -1. */
int px_local_addrs_read(struct px_local_addrs *l);

void px_local_addrs_dispose(struct px_local_addrs *l);

/*
 * Whether SA (port included) may be a backend of region R of CF. Returns
 * NULL when it may, else a short static reason: "own listener", "own admin
 * address", "not in discovery.allow", "loopback", "link-local",
 * "unspecified", "multicast", "reserved" or "port not in discovery.ports".
 */
const char *px_admit_address(const struct conf *cf, const struct conf_region *r,
                             const struct sockaddr *sa, const struct px_local_addrs *local);

#endif
