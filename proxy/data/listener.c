/*
 * listener: socket setup that libuv 1.44 has no flag for (SO_REUSEPORT),
 * and the accept loop's pause and log policy (see listener.h). The worker
 * makes the fd listen and watches it with a uv_poll_t.
 */
#include "proxy/data/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int px_listener_socket(const struct conf_addr *addr)
{
    int one = 1;
    int family = addr->sa.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
        (family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
        bind(fd, (const struct sockaddr *)&addr->sa, addr->salen) == -1) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

enum px_accept_action px_accept_classify(int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return PX_ACCEPT_DONE;
    case EINTR:
        return PX_ACCEPT_RETRY;
    /* The pending connection itself failed and is gone from the queue
     * (Linux also reports the new socket's network errors here). */
    case ECONNABORTED:
    case EPERM:
    case EPROTO:
    case ENOPROTOOPT:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENONET:
    case EOPNOTSUPP:
        return PX_ACCEPT_SKIP;
    default:
        /* EMFILE, ENFILE, ENOBUFS, ENOMEM: retrying now fails again, and
         * the connection stays queued. Anything else is unexpected: a
         * pause also keeps it from spinning the loop. */
        return PX_ACCEPT_PAUSE;
    }
}

void px_accept_error(struct px_accept_guard *g, int err)
{
    g->last_err = err;
    g->unlogged++;
}

void px_accept_ok(struct px_accept_guard *g)
{
    g->pause_ms = 0;
}

uint32_t px_accept_pause(struct px_accept_guard *g)
{
    uint32_t ms = g->pause_ms == 0 ? PX_ACCEPT_PAUSE_MIN_MS : 2 * g->pause_ms;

    g->pause_ms = ms < PX_ACCEPT_PAUSE_MAX_MS ? ms : PX_ACCEPT_PAUSE_MAX_MS;
    return g->pause_ms;
}

uint64_t px_accept_log_due(struct px_accept_guard *g, uint64_t now_ms)
{
    uint64_t n = g->unlogged;

    if (n == 0 || (g->logged && now_ms - g->last_log_ms < PX_ACCEPT_LOG_EVERY_MS))
        return 0;
    g->unlogged = 0;
    g->last_log_ms = now_ms;
    g->logged = true;
    return n;
}
