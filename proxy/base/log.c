/*
 * log: stderr event lines and the buffered access log. A line is built in a
 * stack buffer and written with one write(2), so concurrent workers'
 * lines do not interleave mid-line (O_APPEND keeps them whole in files).
 */
#include "proxy/base/log.h"
#include "proxy/base/px.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum px_log_level px_log_level = PX_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

size_t px_log_timestamp(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return n;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        p += w;
        n -= (size_t)w;
    }
}

void px_log(enum px_log_level level, const struct sockaddr *peer, const char *fmt, ...)
{
    char line[1024];
    size_t n;
    va_list ap;

    if (level > px_log_level)
        return;
    n = px_log_timestamp(line, sizeof(line));
    n += (size_t)snprintf(line + n, sizeof(line) - n, " level=%s ", level_names[level]);
    if (peer) {
        char ip[64];
        px_sockaddr_ip(peer, ip, sizeof(ip));
        n += (size_t)snprintf(line + n, sizeof(line) - n, "client=%s ", ip);
    }
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : n + (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    write_all(STDERR_FILENO, line, n);
}

size_t px_log_escape(char *dst, size_t cap, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)src[i];
        char esc[4];
        size_t n = 0;
        if (ch == '"' || ch == '\\') {
            esc[n++] = '\\';
            esc[n++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            esc[n++] = '\\';
            esc[n++] = 'x';
            esc[n++] = hex[ch >> 4];
            esc[n++] = hex[ch & 15];
        } else {
            esc[n++] = (char)ch;
        }
        if (o + n >= cap)
            break;
        memcpy(dst + o, esc, n);
        o += n;
    }
    dst[o] = '\0';
    return o;
}

size_t px_log_lines(enum px_log_level level, const char *event, const char *key, const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[900];
        px_log_escape(line, sizeof(line), p, len);
        if (len > 0)
            px_log(level, NULL, "event=%s %s=\"%s\"", event, key, line), n++;
        p += len + (end != NULL);
    }
    return n;
}

int px_accesslog_open(const char *path)
{
    if (path == NULL)
        return -1;
    if (strcmp(path, "-") == 0)
        return STDERR_FILENO;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return fd == -1 ? -2 : fd;
}

struct px_logfile *px_logfile_open(const char *path, int *err)
{
    struct px_logfile *f;
    int fd = px_accesslog_open(path);

    *err = fd == -2 ? -errno : 0;
    if (fd < 0)
        return NULL;
    if ((f = malloc(sizeof(*f))) == NULL) {
        if (fd > STDERR_FILENO)
            close(fd);
        *err = PX_ENOMEM;
        return NULL;
    }
    f->fd = fd;
    atomic_init(&f->refs, 1);
    return f;
}

struct px_logfile *px_logfile_ref(struct px_logfile *f)
{
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void px_logfile_unref(struct px_logfile *f)
{
    if (f == NULL || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (f->fd > STDERR_FILENO)
        close(f->fd);
    free(f);
}

void px_accesslog_printf(struct px_accesslog *al, const char *fmt, ...)
{
    char line[2048];
    size_t n;
    va_list ap;

    if (al->fd < 0)
        return;
    n = px_log_timestamp(line, sizeof(line));
    line[n++] = ' ';
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : n + (size_t)m;
    if (n > sizeof(line) - 1)
        n = sizeof(line) - 1;
    line[n++] = '\n';
    if (al->len + n > sizeof(al->buf))
        px_accesslog_flush(al);
    memcpy(al->buf + al->len, line, n);
    al->len += n;
}

void px_accesslog_write(struct px_accesslog *al, const char *line, size_t n)
{
    if (al->fd < 0)
        return;
    if (n > sizeof(al->buf) - 1)
        n = sizeof(al->buf) - 1;
    if (al->len + n + 1 > sizeof(al->buf))
        px_accesslog_flush(al);
    memcpy(al->buf + al->len, line, n);
    al->buf[al->len + n] = '\n';
    al->len += n + 1;
}

void px_accesslog_flush(struct px_accesslog *al)
{
    if (al->fd >= 0 && al->len > 0)
        write_all(al->fd, al->buf, al->len);
    al->len = 0;
}
