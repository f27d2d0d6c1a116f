/*
 * takeover: the fd-passing wire between an old georoute and its successor.
 * Plain blocking sockets with timeouts: the successor uses them before its
 * threads start, the old process only for one small batch per takeover.
 */
#include "proxy/base/takeover.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAGIC "GRT1"
#define HEAD_BYTES 6 /* magic, flags, count */
#define PX_TAKEOVER_LAST 1

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path))
        return -ENAMETOOLONG;
    memcpy(sun->sun_path, path, strlen(path) + 1);
    return 0;
}

/* A socket file with nobody listening (a crash) may go; a live one may not. */
static int unlink_stale(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), rc;

    if (fd == -1)
        return -errno;
    rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ? -EADDRINUSE
         : errno == ECONNREFUSED && unlink(sun->sun_path) == 0        ? 0
                                                                      : -EADDRINUSE;
    close(fd);
    return rc;
}

int px_takeover_listen(const char *path)
{
    struct sockaddr_un sun;
    int fd, rc;
    mode_t old;

    if ((rc = unix_addr(path, &sun)) != 0)
        return rc;
    if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
        return -errno;
    /* Only the owner may connect: whoever does gets the listening sockets.
     * The umask sets the mode at creation, leaving no window (main has no
     * other thread yet). */
    old = umask(0177);
    rc = bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) == -1 ? -errno : 0;
    if (rc == -EADDRINUSE && (rc = unlink_stale(&sun)) == 0)
        rc = bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) == -1 ? -errno : 0;
    umask(old);
    if (rc == 0 && listen(fd, 4) == -1)
        rc = -errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int send_batch(int conn, const int *fds, const char *kinds, size_t n, int flags)
{
    char head[HEAD_BYTES + PX_TAKEOVER_BATCH];
    char control[CMSG_SPACE(PX_TAKEOVER_BATCH * sizeof(int))];
    struct iovec iov = {.iov_base = head, .iov_len = HEAD_BYTES + n};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    memcpy(head, MAGIC, 4);
    head[4] = (char)flags;
    head[5] = (char)n;
    memcpy(head + HEAD_BYTES, kinds, n);
    if (n > 0) {
        struct cmsghdr *c;
        memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    }
    while (sendmsg(conn, &msg, MSG_NOSIGNAL) == -1)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int px_takeover_send(int conn, const int *fds, const char *kinds, size_t n)
{
    size_t i = 0;
    do {
        size_t k = n - i < PX_TAKEOVER_BATCH ? n - i : PX_TAKEOVER_BATCH;
        int rc = send_batch(conn, fds + i, kinds + i, k, i + k == n ? PX_TAKEOVER_LAST : 0);
        if (rc != 0)
            return rc;
        i += k;
    } while (i < n);
    return 0;
}

int px_takeover_connect(const char *path, unsigned timeout_ms)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    struct sockaddr_un sun;
    int fd, rc;

    if ((rc = unix_addr(path, &sun)) != 0)
        return rc;
    if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
        connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) == -1) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/*
 * Appends the fds of the received message MSG (LEN bytes in HEAD) to OUT.
 * On error the attached fds are closed, so none leaks.
 */
static int take_batch(struct msghdr *msg, const char *head, ssize_t len,
                      struct px_takeover_fds *out)
{
    size_t n = len >= HEAD_BYTES ? (unsigned char)head[5] : 0, got = 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    int *fds = NULL;
    int rc = 0;

    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        fds = (int *)CMSG_DATA(c);
    }
    if (len != (ssize_t)(HEAD_BYTES + n) || memcmp(head, MAGIC, 4) != 0 || got != n ||
        (msg->msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || out->n + n > PX_TAKEOVER_MAX_FDS)
        rc = -EPROTO;
    if (rc == 0 && n > 0) {
        int *nf = realloc(out->fds, (out->n + n) * sizeof(int));
        char *nk = nf ? realloc(out->kinds, out->n + n) : NULL;
        if (nf)
            out->fds = nf;
        if (nk)
            out->kinds = nk;
        if (nf == NULL || nk == NULL)
            rc = -ENOMEM;
    }
    for (size_t i = 0; i < got; i++) {
        int fd;
        memcpy(&fd, fds + i, sizeof(fd)); /* CMSG_DATA may be unaligned */
        if (rc != 0) {
            close(fd);
            continue;
        }
        out->fds[out->n] = fd;
        out->kinds[out->n++] = head[HEAD_BYTES + i];
    }
    return rc;
}

int px_takeover_receive(int conn, struct px_takeover_fds *out)
{
    memset(out, 0, sizeof(*out));
    for (;;) {
        char head[HEAD_BYTES + PX_TAKEOVER_BATCH];
        char control[CMSG_SPACE(PX_TAKEOVER_BATCH * sizeof(int))];
        struct iovec iov = {.iov_base = head, .iov_len = sizeof(head)};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control,
                             .msg_controllen = sizeof(control)};
        ssize_t len = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
        int rc;

        if (len == -1 && errno == EINTR)
            continue;
        if (len == -1)
            return -errno;
        if (len == 0)
            return -EPIPE;
        if ((rc = take_batch(&msg, head, len, out)) != 0)
            return rc;
        if (head[4] & PX_TAKEOVER_LAST)
            return 0;
    }
}

void px_takeover_fds_dispose(struct px_takeover_fds *out)
{
    for (size_t i = 0; i < out->n; i++)
        if (out->fds[i] >= 0)
            close(out->fds[i]);
    free(out->fds);
    free(out->kinds);
    memset(out, 0, sizeof(*out));
}

int px_takeover_send_byte(int conn, char b)
{
    while (send(conn, &b, 1, MSG_NOSIGNAL) == -1)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int px_takeover_read_byte(int conn, char *b)
{
    for (;;) {
        ssize_t n = recv(conn, b, 1, 0);
        if (n == 1)
            return 0;
        if (n == 0)
            return -EPIPE;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}
