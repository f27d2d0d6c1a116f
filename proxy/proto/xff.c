/* xff: see xff.h for the forms read and why a bad element stops the walk. */
#include "proxy/proto/xff.h"
#include "geo/addr.h"

#include <string.h>

/* A port: 1 to 5 digits, 1..65535. */
static int port_ok(const char *p, size_t n)
{
    unsigned v = 0;
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

static size_t count(const char *t, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += t[i] == c;
    return k;
}

int px_xff_parse(const char *t, size_t n, struct sockaddr_storage *ss)
{
    char buf[GEO_ADDR_TEXT_MAX + 1];
    struct geo_addr a;
    socklen_t len;

    if (n > 0 && t[0] == '[') {
        const char *close = memchr(t, ']', n);
        size_t rest;
        if (close == NULL)
            return -1;
        rest = n - (size_t)(close - t) - 1;
        if (rest > 0 && (close[1] != ':' || !port_ok(close + 2, rest - 1)))
            return -1;
        t++;
        n = (size_t)(close - t);
        if (count(t, n, ':') < 2) /* brackets hold IPv6 only */
            return -1;
    } else if (count(t, n, ':') == 1) {
        /* IPv4 with a port: an IPv6 address has at least two colons. */
        const char *colon = memchr(t, ':', n);
        if (!port_ok(colon + 1, n - (size_t)(colon - t) - 1))
            return -1;
        n = (size_t)(colon - t);
    }
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, t, n);
    buf[n] = '\0';
    return geo_addr_parse(&a, buf) == 0 ? geo_addr_to_sockaddr(&a, ss, &len) : -1;
}

/* Trims spaces and tabs around [*start, *end) of V. */
static void trim(const char *v, size_t *start, size_t *end)
{
    while (*start < *end && (v[*start] == ' ' || v[*start] == '\t'))
        (*start)++;
    while (*end > *start && (v[*end - 1] == ' ' || v[*end - 1] == '\t'))
        (*end)--;
}

void px_xff_walk(const struct px_span *vals, size_t n, const struct conf_cidr_list *trusted,
                 struct sockaddr_storage *ss)
{
    if (trusted->ncidrs == 0)
        return;
    for (size_t i = n; i-- > 0;) {
        const char *v = vals[i].base;
        size_t left = vals[i].len;
        while (left > 0) {
            if (!conf_cidr_list_match(trusted, (struct sockaddr *)ss))
                return;
            const char *comma = memrchr(v, ',', left);
            size_t start = comma ? (size_t)(comma - v) + 1 : 0, end = left;
            left = comma ? (size_t)(comma - v) : 0;
            trim(v, &start, &end);
            if (start == end)
                continue; /* "a,,b": an empty element is no hop */
            if (px_xff_parse(v + start, end - start, ss) != 0)
                return;
        }
    }
}
