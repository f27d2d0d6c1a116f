/*
 * log: the one logging API of proxy/. Event lines go to stderr as key=value
 * fields; access lines are buffered per worker and written in whole lines so
 * workers never interleave inside a line.
 */
#ifndef PX_LOG_H
#define PX_LOG_H

#include <stdatomic.h>
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

/*
 * Copies LEN bytes of SRC into DST (CAP bytes, NUL-terminated) so that
 * client-controlled text can sit inside a quoted log field: '"' and '\\'
 * are backslash-escaped, control bytes, DEL and every byte >= 0x80 become
 * \xHH. One log line then stays one request, whatever the client sent.
 * An escape is never cut in half; the output stops short instead. Returns
 * the length written.
 */
size_t px_log_escape(char *dst, size_t cap, const char *src, size_t len);

/*
 * Logs each line of TEXT as its own event line "event=EVENT KEY=\"line\""
 * (escaped): a multi-line report (config errors, warnings) stays one event
 * per line for log shippers. Returns the number of lines.
 */
size_t px_log_lines(enum px_log_level level, const char *event, const char *key, const char *text);

#define PX_ACCESSLOG_BYTES (32 * 1024)

/* A worker's access-log buffer; flushed when nearly full and on a timer. */
struct px_accesslog {
    int fd; /* borrowed; -1 when off */
    size_t len;
    char buf[PX_ACCESSLOG_BYTES];
};

/*
 * An open access-log file, shared by the workers. Each worker holds a
 * reference while it writes to it, so a reopen (SIGUSR1) closes the old file
 * only once the last worker has flushed into it and switched.
 */
struct px_logfile {
    int fd; /* owned, unless it is stderr */
    atomic_uint refs;
};

/*
 * Opens PATH for the access log as px_accesslog_open() does. Returns the
 * file with one reference, or NULL with *ERR set: 0 when PATH is NULL (no
 * access log), else a negative errno.
 */
struct px_logfile *px_logfile_open(const char *path, int *err);

/* Takes a reference on F (any thread). Accepts and returns NULL. */
struct px_logfile *px_logfile_ref(struct px_logfile *f);

/* Drops a reference on F (any thread); the last one closes it. Accepts NULL. */
void px_logfile_unref(struct px_logfile *f);

/*
 * Opens the access log named by PATH ("-" is stderr, NULL is off) and
 * returns its fd, -1 when off, or a negative errno... as -2 on failure with
 * errno set.
 */
int px_accesslog_open(const char *path);

/* Appends one formatted line; flushes first when it would not fit. */
void px_accesslog_printf(struct px_accesslog *al, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends LINE (N bytes, no newline) and a newline; flushes first when it
 * would not fit. */
void px_accesslog_write(struct px_accesslog *al, const char *line, size_t n);

/* Writes the current UTC time, "2026-01-02T03:04:05.678Z", into BUF. Returns its length. */
size_t px_log_timestamp(char *buf, size_t cap);

/* Writes out whatever is buffered. */
void px_accesslog_flush(struct px_accesslog *al);

#endif
