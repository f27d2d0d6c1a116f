/* Loopback TCP pair for the stream tests (see tcp_pair.h). */
#include "tests/unit/proxy/tcp_pair.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

int tcp_pair(int *peer, int buf)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    ASSERT(l >= 0);
    ASSERT_OK(bind(l, (struct sockaddr *)&sin, sizeof(sin)));
    ASSERT_OK(listen(l, 1));
    ASSERT_OK(getsockname(l, (struct sockaddr *)&sin, &len));
    *peer = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(*peer >= 0);
    ASSERT_OK(setsockopt(*peer, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)));
    ASSERT_OK(connect(*peer, (struct sockaddr *)&sin, sizeof(sin)));
    int fd = accept(l, NULL, NULL);
    ASSERT(fd >= 0);
    close(l);
    ASSERT_OK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)));
    ASSERT_OK(fcntl(*peer, F_SETFL, O_NONBLOCK));
    return fd;
}
