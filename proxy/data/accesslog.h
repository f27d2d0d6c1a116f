/*
 * accesslog: renders one access-log line in the configured format (logfmt,
 * JSON lines or a template; docs/LOGS.md). Every value is escaped for its
 * format, so bytes a client chose (target, request id) can neither end the
 * line nor forge a field: one line is one request.
 */
#ifndef PX_ACCESSLOG_H
#define PX_ACCESSLOG_H

#include "conf/conf.h"

#include <stddef.h>

/* One request's fields as text (raw, unescaped); a NULL value logs "-". */
struct px_access_rec {
    const char *v[CONF_LOG_NFIELDS];
    size_t len[CONF_LOG_NFIELDS];
};

/* Sets field F of R to the NUL-terminated S (NULL or "" log "-"). */
void px_access_set(struct px_access_rec *r, enum conf_log_field f, const char *s);

/*
 * Writes R as one line in format F into OUT (CAP bytes), without the
 * newline; a line too long for CAP is cut between fields (JSON stays
 * closed). Returns its length.
 */
size_t px_access_render(const struct conf_log_format *f, const struct px_access_rec *r, char *out,
                        size_t cap);

#endif
