/*
 * takeover: hands the listening sockets of a running georoute to its
 * successor (HAProxy's `-x`), so an upgrade or a restart never closes a
 * listening socket and never refuses a connection. The running process
 * listens on a unix socket (--takeover-socket PATH); the new one
 * (--takeover PATH) connects, receives every listening fd with SCM_RIGHTS,
 * starts serving on them, sends PX_TAKEOVER_SERVING and waits for
 * PX_TAKEOVER_RELEASED, after which the old process has released the path
 * and its admin listener and drains as on SIGTERM.
 *
 * The wire is SOCK_SEQPACKET, so each message is one record: the magic
 * "GRT1", a flags byte (PX_TAKEOVER_LAST on the last), a count N (at most
 * PX_TAKEOVER_BATCH), then N kind bytes, with the N fds attached. Addresses
 * are not sent: the receiver asks each socket with getsockname().
 */
#ifndef PX_TAKEOVER_H
#define PX_TAKEOVER_H

#include <stddef.h>

#define PX_TAKEOVER_LISTENER 'L' /* a data-plane listening socket */
#define PX_TAKEOVER_ADMIN 'A'    /* the admin listening socket */
#define PX_TAKEOVER_SERVING 'S'  /* new → old: serving on the sockets, release them */
#define PX_TAKEOVER_RELEASED 'R' /* old → new: path and admin released, draining */
#define PX_TAKEOVER_BATCH 64     /* fds per message (the kernel's limit is 253) */
#define PX_TAKEOVER_MAX_FDS 8192 /* a bound on what a successor accepts */

/* Sockets received from the old process; each fd is -1 once taken. */
struct px_takeover_fds {
    int *fds;    /* owned array, n; each fd owned until taken */
    char *kinds; /* owned array, n: PX_TAKEOVER_LISTENER or PX_TAKEOVER_ADMIN */
    size_t n;
};

/*
 * Creates the unix socket PATH (mode 0600: it hands out the listeners) and
 * listens on it. A file nobody listens on (a crash) is replaced; a live one
 * means another georoute runs: -EADDRINUSE. Returns the fd or a negative
 * errno.
 */
int px_takeover_listen(const char *path);

/*
 * Sends the N fds FDS with their KINDS on the connected socket CONN, in
 * batches, the last one flagged. Returns 0 or a negative errno.
 */
int px_takeover_send(int conn, const int *fds, const char *kinds, size_t n);

/*
 * Connects to PATH; reads and writes on the result time out after
 * TIMEOUT_MS. Returns the fd or a negative errno.
 */
int px_takeover_connect(const char *path, unsigned timeout_ms);

/*
 * Receives every fd the old process sends on CONN into OUT (which the
 * caller disposes). Returns 0, a negative errno, or -EPROTO for a message
 * that is not ours.
 */
int px_takeover_receive(int conn, struct px_takeover_fds *out);

/* Closes the fds OUT still owns and frees its arrays. */
void px_takeover_fds_dispose(struct px_takeover_fds *out);

/* Writes the one-byte message B on CONN. Returns 0 or a negative errno. */
int px_takeover_send_byte(int conn, char b);

/*
 * Reads a one-byte message from CONN into *B. Returns 0, -EPIPE when the
 * peer closed, or a negative errno (-EAGAIN: timed out).
 */
int px_takeover_read_byte(int conn, char *b);

#endif
