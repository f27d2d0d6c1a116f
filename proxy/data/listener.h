/*
 * listener: the listening sockets. Each worker gets its own socket per
 * listen address, bound with SO_REUSEPORT, so the kernel spreads accepts
 * across workers with no shared accept lock. Sockets are created in the
 * main thread so that a bind error stops startup with a clear message.
 */
#ifndef PX_LISTENER_H
#define PX_LISTENER_H

#include "conf/conf.h"

#include <stddef.h>

/*
 * Creates a non-blocking socket bound to ADDR with SO_REUSEADDR and
 * SO_REUSEPORT (and IPV6_V6ONLY for IPv6). Returns the fd, or a negative
 * errno; the fd is not listening yet.
 */
int px_listener_socket(const struct conf_addr *addr);

#endif
