/*
 * xff: reading X-Forwarded-For. Which address a request is classified by
 * decides its zone, and with it residency, so an element is read in every
 * form real proxies write (HAProxy, nginx, Envoy, cloud load balancers) and
 * anything else stops the walk instead of being guessed at.
 */
#ifndef PX_XFF_H
#define PX_XFF_H

#include "conf/conf.h"
#include "proxy/proto/http1.h"

#include <stddef.h>
#include <sys/socket.h>

/*
 * Parses one element: "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]",
 * "[2001:db8::1]:80", "::ffff:1.2.3.4" (HAProxy's v4v6) and "[::ffff:1.2.3.4]:80";
 * an IPv4-mapped address becomes the IPv4 address it maps. Anything else
 * ("unknown", an obfuscated RFC 7239 name, a bad port, junk) is -1.
 * Returns 0 with the address (port 0) in *SS.
 */
int px_xff_parse(const char *t, size_t n, struct sockaddr_storage *ss);

/*
 * Walks the X-Forwarded-For values VALS[0..N) (the header lines, in order)
 * from right to left, starting at *SS (the peer, or its PROXY source):
 * while *SS is in TRUSTED it becomes the element to its left. An element
 * that does not parse stops the walk: the last trusted hop is then the best
 * we know, never a client-chosen value.
 */
void px_xff_walk(const struct px_span *vals, size_t n, const struct conf_cidr_list *trusted,
                 struct sockaddr_storage *ss);

#endif
