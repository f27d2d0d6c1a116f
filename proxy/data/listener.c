/*
 * listener: socket setup that libuv 1.44 has no flag for (SO_REUSEPORT).
 * The worker takes the fd over with uv_tcp_open and calls uv_listen.
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
