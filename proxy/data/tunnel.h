/*
 * tunnel: after a 101 Switching Protocols, the client and upstream sockets
 * of an exchange relay opaque bytes both ways until either side closes or
 * the tunnel stays idle for tunnel_idle. Same backpressure as the exchange:
 * one buffer in flight per direction.
 */
#ifndef PX_TUNNEL_H
#define PX_TUNNEL_H

struct px_exchange;

/* Takes over X's client and upstream events (their callbacks are swapped for
 * the tunnel's), sends the 101 head and any early bytes, then relays. */
void px_tunnel_start(struct px_exchange *x);

#endif
