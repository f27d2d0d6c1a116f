/*
 * Unit tests of proxy/base/notify.c: the datagram a service manager would
 * read, on a socket the test binds at a path and in the abstract
 * namespace; and what happens when $NOTIFY_SOCKET is unset or unusable.
 */
#include "tests/unit/test.h"
#include "proxy/base/notify.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Binds an AF_UNIX datagram socket to NAME ('@' = abstract); returns its fd. */
static int bind_listener(const char *name)
{
    struct sockaddr_un sun;
    size_t n = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ASSERT(fd != -1);
    ASSERT_LT(n, sizeof(sun.sun_path));
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, name, n);
    if (name[0] == '@')
        sun.sun_path[0] = '\0';
    ASSERT_OK(bind(fd, (struct sockaddr *)&sun,
                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] != '@'))));
    return fd;
}

/* Receives one datagram into BUF (NUL-terminated), waiting at most 2 s. */
static void recv_datagram(int fd, char *buf, size_t size)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    ASSERT_EQ(poll(&p, 1, 2000), 1);
    n = recv(fd, buf, size - 1, 0);
    ASSERT_GE(n, 0);
    buf[n] = '\0';
}

/* True when a datagram is waiting on FD. */
static int pending(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static unsigned long long monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

TEST(notify_path_socket)
{
    char dir[4096], path[4200], buf[256];
    unsigned long long before, after, stamp;
    int fd;

    snprintf(dir, sizeof(dir), "%s/georoute-notify-XXXXXX", test_tmpdir());
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    fd = bind_listener(path);
    ASSERT_OK(setenv("NOTIFY_SOCKET", path, 1));

    ASSERT_EQ(px_notify("READY=1"), 1);
    recv_datagram(fd, buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "READY=1");

    ASSERT_EQ(px_notify("STOPPING=1\nSTATUS=draining"), 1);
    recv_datagram(fd, buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "STOPPING=1\nSTATUS=draining");

    /* RELOADING=1 carries the CLOCK_MONOTONIC time it was sent at. */
    before = monotonic_usec();
    ASSERT_EQ(px_notify_reloading(), 1);
    after = monotonic_usec();
    recv_datagram(fd, buf, sizeof(buf));
    ASSERT_OK(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27));
    ASSERT_EQ(sscanf(buf + 27, "%llu", &stamp), 1);
    ASSERT_GE(stamp, before);
    ASSERT_LE(stamp, after);

    close(fd);
    unlink(path);
    rmdir(dir);
}

TEST(notify_abstract_socket)
{
    char name[108], buf[256];
    int fd;

    /* '@' is how the manager spells a leading NUL; the name must not reach
     * the file system, and the length, not a NUL, ends it. */
    snprintf(name, sizeof(name), "@georoute-test-notify-%ld-%lld", (long)getpid(),
             (long long)monotonic_usec());
    fd = bind_listener(name);
    ASSERT_OK(setenv("NOTIFY_SOCKET", name, 1));
    ASSERT_EQ(px_notify("READY=1"), 1);
    recv_datagram(fd, buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "READY=1");
    ASSERT_EQ(access(name, F_OK), -1);
    close(fd);
}

TEST(notify_unset_or_unusable)
{
    char dir[4096], path[4200], longname[200];
    int fd;

    /* Not under a service manager: nothing to do, not an error. */
    ASSERT_OK(unsetenv("NOTIFY_SOCKET"));
    ASSERT_EQ(px_notify("READY=1"), 0);
    ASSERT_OK(setenv("NOTIFY_SOCKET", "", 1));
    ASSERT_EQ(px_notify("READY=1"), 0);

    /* Neither absolute nor abstract, or too long for sun_path. */
    ASSERT_OK(setenv("NOTIFY_SOCKET", "run/notify", 1));
    ASSERT_EQ(px_notify("READY=1"), -EINVAL);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    ASSERT_OK(setenv("NOTIFY_SOCKET", longname, 1));
    ASSERT_EQ(px_notify("READY=1"), -EINVAL);

    /* A socket that is gone: the errno comes back, nothing else happens. */
    snprintf(dir, sizeof(dir), "%s/georoute-notify-XXXXXX", test_tmpdir());
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    ASSERT_OK(setenv("NOTIFY_SOCKET", path, 1));
    ASSERT_EQ(px_notify("READY=1"), -ENOENT);

    /* Once something listens there, the same name works. */
    fd = bind_listener(path);
    ASSERT_EQ(px_notify("READY=1"), 1);
    ASSERT(pending(fd));
    close(fd);
    unlink(path);
    rmdir(dir);
}
