/*
 * notify: the service manager's notification protocol, see notify.h.
 */
#include "proxy/base/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int px_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun;
    socklen_t len;
    size_t n;
    int fd, err = 0;

    if (name == NULL || name[0] == '\0')
        return 0;
    n = strlen(name);
    /* An abstract name is not NUL-terminated, so it may fill sun_path; a
     * path keeps room for its NUL. Relative paths are refused, as
     * libsystemd does: the manager always passes an absolute one. */
    if ((name[0] != '/' && name[0] != '@') || n > sizeof(sun.sun_path) ||
        (name[0] == '/' && n == sizeof(sun.sun_path)))
        return -EINVAL;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, name, n);
    if (name[0] == '@')
        sun.sun_path[0] = '\0'; /* the abstract namespace: the length ends the name */
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sun,
               len) == -1)
        err = -errno;
    close(fd);
    return err ? err : 1;
}

int px_notify_reloading(void)
{
    struct timespec ts;
    char msg[64];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return px_notify(msg);
}
