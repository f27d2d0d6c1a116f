/*
 * sock_stream: the plain TCP transport of upstream connections (struct
 * px_transport), on a uv_poll_t of its own so that it reads with recv(2):
 * libuv 1.44 reads a uv_tcp_t with read(2), whose VFS layer (vfs_read,
 * fdget_pos, fput) costs more than the socket call itself at small
 * responses. It connects the socket itself, reads once per readable event
 * and keeps the part of a write the socket did not take until the socket is
 * writable. The stream's uv_tcp_t owns the descriptor (uv_fileno, the
 * handle's data and its close go on working) but its own watcher is never
 * started: libuv dispatches one watcher per descriptor.
 */
#ifndef PX_SOCK_STREAM_H
#define PX_SOCK_STREAM_H

#include "proxy/data/stream.h"

#include <sys/socket.h>

/* The connect of S ended: STATUS 0 or a libuv error (UV_ECONNREFUSED...).
 * Never runs synchronously from px_sock_stream_connect, nor once S closes. */
typedef void (*px_sock_stream_cb)(struct px_stream *s, int status);

extern const struct px_transport px_transport_sock;

/*
 * Opens a socket for S (initialized, never opened) and connects it to SA,
 * with TCP_NODELAY, S's transport becoming px_transport_sock. Returns 0,
 * then ON_CONNECT reports the outcome, even one connect(2) knew at once; or
 * a negative libuv error or PX_ENOMEM when no socket could be set up (S
 * keeps the plain transport and closes as usual).
 */
int px_sock_stream_connect(struct px_stream *s, const struct sockaddr *sa,
                           px_sock_stream_cb on_connect);

#endif
