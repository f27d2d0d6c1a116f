/*
 * log: the one logging API of proxy/. Event lines go to stderr as key=value
 * fields; access lines are buffered per worker and written in whole lines so
 * workers never interleave inside a line.
 */
#ifndef PX_LOG_H
#define PX_LOG_H

#include <stddef.h>
#include <stdint.h>

enum px_log_level { PX_LOG_ERR, PX_LOG_WARN, PX_LOG_INFO, PX_LOG_DEBUG };

/* Current threshold; lines above it are dropped. Set once at startup. */
extern enum px_log_level px_log_level;

struct sockaddr;

/*
 * Writes one line "ts level=L [client=ADDR] <fmt...>" to stderr, unless
 * LEVEL is above px_log_level. PEER (the client's address) may be NULL.
 */
void px_log(enum px_log_level level, const struct sockaddr *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define PX_ACCESSLOG_BYTES (32 * 1024)

/* A worker's access-log buffer; flushed when nearly full and on a timer. */
struct px_accesslog {
    int fd; /* borrowed; -1 when off */
    size_t len;
    char buf[PX_ACCESSLOG_BYTES];
};

/*
 * Opens the access log named by PATH ("-" is stderr, NULL is off) and
 * returns its fd, -1 when off, or a negative errno... as -2 on failure with
 * errno set.
 */
int px_accesslog_open(const char *path);

/* Appends one formatted line; flushes first when it would not fit. */
void px_accesslog_printf(struct px_accesslog *al, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes out whatever is buffered. */
void px_accesslog_flush(struct px_accesslog *al);

#endif
