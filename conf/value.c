/*
 * Scalar text to values: durations, sizes, integers, booleans, addresses,
 * names. Pure functions, no node or context, so later sections (probe
 * intervals, CIDR lists, ...) and tests can use them directly. Each returns
 * NULL or a static message; the caller adds the key path and the value.
 */
#include "conf/conf-int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MS_PER_DAY UINT64_C(86400000)

/* Reads decimal digits at *S into *V; returns the digit count, or -1 on overflow. */
static int read_digits(const char **s, uint64_t *v)
{
    int n = 0;

    for (*v = 0; **s >= '0' && **s <= '9'; (*s)++, n++) {
        unsigned d = (unsigned)(**s - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return -1;
        *v = *v * 10 + d;
    }
    return n;
}

static uint64_t unit_ms(const char *u)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", MS_PER_DAY}};

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(u, units[i].name) == 0)
            return units[i].ms;
    return 0;
}

/*
 * Parses a duration with a required unit into *OUT_MS; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__duration_parse(const char *s, uint64_t *out_ms)
{
    uint64_t whole, frac = 0, scale = 1, unit;
    int nw, nf = 0;

    if (s[0] == '-')
        return "durations cannot be negative";
    nw = read_digits(&s, &whole);
    if (*s == '.') {
        const char *f = ++s;
        nf = read_digits(&s, &frac);
        if (nf > 9)
            return "too many decimal places";
        for (const char *p = f; p < s; p++)
            scale *= 10;
    }
    if (nw < 0 || nf < 0)
        return "number too large";
    if (nw + nf == 0 || (nf == 0 && s[-1] == '.'))
        return "expected a number with a unit, such as 500ms, 2s, 1.5m, 1h or 7d";
    if (*s == '\0')
        return "missing unit (use ms, s, m, h or d)";
    unit = unit_ms(s);
    if (unit == 0)
        return "unknown unit (use ms, s, m, h or d)";
    if (whole > UINT64_MAX / unit)
        return "number too large";
    /* frac < scale <= 1e9 and unit <= 8.64e7, so frac * unit fits. */
    if (frac * unit % scale != 0)
        return "not a whole number of milliseconds";
    if (whole * unit > UINT64_MAX - frac * unit / scale)
        return "number too large";
    *out_ms = whole * unit + frac * unit / scale;
    return NULL;
}

/*
 * Parses bytes with an optional k/m/g suffix into *OUT_BYTES; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__size_parse(const char *s, uint64_t *out_bytes)
{
    uint64_t v, mult = 1;
    int n;

    if (s[0] == '-')
        return "sizes cannot be negative";
    n = read_digits(&s, &v);
    if (n < 0)
        return "number too large";
    if (n == 0)
        return "expected a number of bytes with an optional k, m or g suffix, such as 16k";
    switch (*s) {
    case 'k':
    case 'K':
        mult = UINT64_C(1) << 10;
        s++;
        break;
    case 'm':
    case 'M':
        mult = UINT64_C(1) << 20;
        s++;
        break;
    case 'g':
    case 'G':
        mult = UINT64_C(1) << 30;
        s++;
        break;
    }
    if (mult > 1 && (*s == 'i' || *s == 'I'))
        s++;
    if (*s == 'b' || *s == 'B')
        s++;
    if (*s != '\0')
        return "unknown size suffix (use k, m or g, powers of 1024)";
    if (v > UINT64_MAX / mult)
        return "number too large";
    *out_bytes = v * mult;
    return NULL;
}

/*
 * Parses plain decimal digits into *OUT; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__uint_parse(const char *s, uint64_t *out)
{
    uint64_t v;
    int n;

    if (s[0] == '-')
        return "must not be negative";
    n = read_digits(&s, &v);
    if (n < 0)
        return "number too large";
    if (n == 0 || *s != '\0')
        return "expected a whole number";
    *out = v;
    return NULL;
}

/*
 * Parses true/false, yes/no, on/off (any case) into *OUT as 1/0; NULL or a reason.
 * Full contract in conf-int.h.
 */
const char *conf__bool_parse(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};

    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return NULL;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return NULL;
        }
    }
    return "expected true or false";
}

/* 1 when HOST looks like a DNS name (letters, digits, '.', '-', and a letter). */
static int looks_like_hostname(const char *host)
{
    int alpha = 0;

    for (const char *p = host; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-')
            alpha = 1;
        else if (!(*p >= '0' && *p <= '9') && *p != '.')
            return 0;
    }
    return alpha;
}

/* Splits S into HOST (brackets removed) and the port text; returns NULL or a message. */
static const char *split_host_port(const char *s, char *host, size_t hostlen, const char **port)
{
    const char *colon, *end;

    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL)
            return "missing ']' after IPv6 address";
        if (end[1] != ':')
            return "missing :PORT after ']'";
        s++;
        *port = end + 2;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return "missing :PORT";
        if (strchr(s, ':') != colon)
            return "IPv6 addresses must be in brackets, as in [::1]:8080";
        end = colon;
        *port = colon + 1;
    }
    if ((size_t)(end - s) >= hostlen)
        return "address too long";
    memcpy(host, s, (size_t)(end - s));
    host[end - s] = '\0';
    return NULL;
}

static const char *parse_port(const char *s, uint16_t *port)
{
    uint64_t v;

    if (conf__uint_parse(s, &v) != NULL || s[0] == '\0')
        return "port must be a number from 1 to 65535";
    if (v < 1 || v > 65535)
        return "port must be a number from 1 to 65535";
    *port = (uint16_t)v;
    return NULL;
}

/*
 * Parses numeric "ip:port" or "[ip6]:port" into *OUT; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__addr_parse(const char *s, struct conf_addr *out)
{
    char host[INET6_ADDRSTRLEN + 1], text[INET6_ADDRSTRLEN];
    struct conf_addr a;
    const char *port_text, *why;
    uint16_t port;

    memset(&a, 0, sizeof(a));
    why = split_host_port(s, host, sizeof(host), &port_text);
    if (why == NULL)
        why = parse_port(port_text, &port);
    if (why != NULL)
        return why;
    if (s[0] == '[') {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.sa;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return "not a valid IPv6 address";
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        a.salen = sizeof(*sin6);
        inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
        snprintf(a.text, sizeof(a.text), "[%s]:%u", text, (unsigned)port);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return looks_like_hostname(host)
                       ? "must be a numeric IP:port (DNS names are not supported yet)"
                       : "not a valid IPv4 address";
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        a.salen = sizeof(*sin);
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
        snprintf(a.text, sizeof(a.text), "%s:%u", text, (unsigned)port);
    }
    *out = a;
    return NULL;
}

/*
 * Returns 1 when S matches [A-Za-z0-9_-]{1,63}, else 0.
 * Full contract in conf-int.h.
 */
int conf__name_valid(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return n >= 1 && n <= CONF_NAME_MAX;
}

/*
 * Writes MS to BUF in the largest exact unit ("7d", "1500ms"); returns BUF.
 * Full contract in conf-int.h.
 */
const char *conf__duration_format(uint64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"d", MS_PER_DAY}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    }
    snprintf(buf, len, "%llums", (unsigned long long)ms);
    return buf;
}

/*
 * Writes BYTES to BUF in the largest exact suffix ("16k", "1000"); returns BUF.
 * Full contract in conf-int.h.
 */
const char *conf__size_format(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "gmk";

    for (int i = 0; i < 3; i++) {
        uint64_t m = UINT64_C(1) << (10 * (3 - i));
        if (bytes != 0 && bytes % m == 0) {
            snprintf(buf, len, "%llu%c", (unsigned long long)(bytes / m), units[i]);
            return buf;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)bytes);
    return buf;
}
