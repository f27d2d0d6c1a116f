/*
 * notify: tells the service manager how the process is doing, with
 * systemd's notification protocol (sd_notify(3)): one datagram of
 * newline-separated KEY=VALUE assignments to the AF_UNIX socket named by
 * $NOTIFY_SOCKET. Written out here rather than linked from libsystemd: the
 * protocol is a sendto(2), and one library fewer is worth thirty lines.
 * Stateless and thread-safe: each call opens and closes its own socket.
 */
#ifndef PX_NOTIFY_H
#define PX_NOTIFY_H

/*
 * Sends STATE ("READY=1", "STOPPING=1", several lines joined by '\n') to
 * the socket named by $NOTIFY_SOCKET: a file system path ("/run/...") or,
 * with a leading '@', a name in the abstract namespace. Never blocks: a
 * full receive queue is reported, not waited for.
 *
 * Returns 1 when the datagram was sent, 0 when $NOTIFY_SOCKET is unset or
 * empty (not started by a service manager: nothing to do), -EINVAL when it
 * names neither an absolute path nor an abstract name or is too long for
 * sun_path, or a negative errno from socket(2) or sendto(2).
 */
int px_notify(const char *state);

/*
 * Sends "RELOADING=1" with "MONOTONIC_USEC=" set to CLOCK_MONOTONIC now,
 * the pair systemd expects at the start of a reload (the stamp is required
 * by Type=notify-reload, harmless with Type=notify). Send "READY=1" when
 * the reload is over, whether it succeeded or not. Returns as px_notify.
 */
int px_notify_reloading(void);

#endif
