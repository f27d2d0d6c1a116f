/*
 * listener: the listening sockets, and the rules of the worker's own accept
 * loop. Each worker gets its own socket per listen address, bound with
 * SO_REUSEPORT, so the kernel spreads accepts across workers with no shared
 * accept lock. Sockets are created in the main thread so that a bind error
 * stops startup with a clear message.
 *
 * The worker accepts by itself (proxy/data/worker.c) rather than through
 * uv_listen, because libuv 1.44 cannot pause a listening uv_tcp_t: on
 * EMFILE it accepts and closes every pending connection (its reserve-fd
 * trick) and otherwise retries at once. Like nginx, a worker that runs out
 * of descriptors or memory at accept stops accepting for a while instead:
 * the connections wait in the kernel's listen backlog and are served once
 * it resumes. The functions below are that policy, kept free of the loop so
 * a simulated clock can test it.
 */
#ifndef PX_LISTENER_H
#define PX_LISTENER_H

#include "conf/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Creates a non-blocking socket bound to ADDR with SO_REUSEADDR and
 * SO_REUSEPORT (and IPV6_V6ONLY for IPv6). Returns the fd, or a negative
 * errno; the fd is not listening yet.
 */
int px_listener_socket(const struct conf_addr *addr);

#define PX_ACCEPT_PAUSE_MIN_MS 100  /* the first pause after a resource error */
#define PX_ACCEPT_PAUSE_MAX_MS 1000 /* pauses double up to this while it lasts */
#define PX_ACCEPT_LOG_EVERY_MS 1000 /* at most one accept_failed line this often */

/* What the accept loop does after accept4() failed with an errno. */
enum px_accept_action {
    PX_ACCEPT_DONE,  /* nothing pending (EAGAIN): wait for the next wakeup */
    PX_ACCEPT_RETRY, /* interrupted: try again at once */
    PX_ACCEPT_SKIP,  /* that connection failed (aborted, refused by a filter): the next one */
    PX_ACCEPT_PAUSE, /* out of descriptors or memory, or the listener is broken: pause */
};

/* A worker's accept errors: the pause in force and the log line owed. */
struct px_accept_guard {
    uint32_t pause_ms;    /* the last pause; 0 once an accept succeeds */
    int last_err;         /* the last error, a positive errno */
    uint64_t unlogged;    /* errors not yet in an accept_failed line */
    uint64_t last_log_ms; /* when the last line was written */
    bool logged;          /* a line was ever written */
};

/* The action for accept4()'s errno ERR. */
enum px_accept_action px_accept_classify(int err);

/* Counts an accept error ERR (a positive errno) toward the next log line. */
void px_accept_error(struct px_accept_guard *g, int err);

/* An accept succeeded: the next pause starts again from the shortest. */
void px_accept_ok(struct px_accept_guard *g);

/*
 * Starts a pause: returns its length, PX_ACCEPT_PAUSE_MIN_MS after a
 * success, else twice the last one, at most PX_ACCEPT_PAUSE_MAX_MS.
 */
uint32_t px_accept_pause(struct px_accept_guard *g);

/*
 * Whether an accept_failed line is due at NOW_MS: when errors went unlogged
 * and none was written in the last PX_ACCEPT_LOG_EVERY_MS. Returns how
 * many errors the line reports (0: write none) and starts the next count.
 */
uint64_t px_accept_log_due(struct px_accept_guard *g, uint64_t now_ms);

#endif
