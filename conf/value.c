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
#include <stdlib.h>
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
        return strpbrk(s, "0123456789") ? "one unit per duration (90m, not 1h30m)"
                                        : "unknown unit (use ms, s, m, h or d)";
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
    if (*s == '.')
        return "sizes take whole numbers: use a smaller unit (1536k, not 1.5m)";
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

/* 1 when HOST is meant as a name: it has something besides digits and dots. */
static int looks_like_hostname(const char *host)
{
    for (const char *p = host; *p; p++)
        if (!(*p >= '0' && *p <= '9') && *p != '.')
            return 1;
    return 0;
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
        if (strstr(s, "://") != NULL)
            return "a URL scheme is not allowed: write host:port";
        if (colon == NULL)
            return s[0] && strspn(s, "0123456789") == strlen(s)
                       ? "missing address before the port: write 0.0.0.0:PORT (every interface) or "
                         "127.0.0.1:PORT"
                       : "missing :PORT";
        if (colon == s)
            return "missing address before ':': write 0.0.0.0:PORT (every interface) or "
                   "127.0.0.1:PORT";
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
                       ? "must be a numeric IP:port (host names are only allowed for backends)"
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

/*
 * Checks S as a DNS name; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__hostname_check(const char *s, int allow_underscore)
{
    size_t len = strlen(s), label = 0;
    const char *p, *last = s;
    int digits_only = 1;

    if (len > 0 && s[len - 1] == '.')
        len--; /* one trailing dot: a fully qualified name */
    if (len == 0)
        return "empty host name";
    if (s[len - 1] == '.')
        return "empty label in host name (two dots, or a leading dot)";
    if (len > 253)
        return "host name longer than 253 characters";
    for (p = s; p < s + len; p++) {
        char ch = *p;
        if (ch == '.') {
            if (label == 0)
                return "empty label in host name (two dots, or a leading dot)";
            if (p[-1] == '-')
                return "a host name label cannot end with '-'";
            label = 0;
            last = p + 1;
            digits_only = 1;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || (ch == '_' && allow_underscore)))
            return allow_underscore ? "a name may contain only letters, digits, '-', '_' and '.'"
                                    : "a host name may contain only letters, digits, '-' and '.'";
        if (label == 0 && ch == '-')
            return "a host name label cannot start with '-'";
        if (++label > 63)
            return "a host name label is longer than 63 characters";
        if (!(ch >= '0' && ch <= '9'))
            digits_only = 0;
    }
    if (p[-1] == '-')
        return "a host name label cannot end with '-'";
    /* RFC 1123 2.1: the top-level label is never all digits, so "1.2.3.999" is no name. */
    if (digits_only && last < s + len)
        return "the last label of a host name cannot be all digits";
    return NULL;
}

/*
 * Parses "ip:port" or "name:port" into *ADDR or HOST; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__target_parse(const char *s, struct conf_addr *addr, char *host, size_t hostlen,
                               uint16_t *port, int *is_name)
{
    char h[256];
    const char *port_text, *why;

    why = split_host_port(s, h, sizeof(h), &port_text);
    if (why == NULL)
        why = parse_port(port_text, port);
    if (why != NULL)
        return why;
    if (s[0] == '[' || !looks_like_hostname(h)) {
        why = conf__addr_parse(s, addr);
        if (why == NULL)
            *is_name = 0;
        return why;
    }
    why = conf__hostname_check(h, 0);
    if (why != NULL)
        return why;
    if (strlen(h) >= hostlen)
        return "host name too long";
    memcpy(host, h, strlen(h) + 1);
    *is_name = 1;
    return NULL;
}

/*
 * Parses a numeric address with an optional port (default DEFPORT) into *OUT.
 * Full contract in conf-int.h.
 */
const char *conf__addr_parse_port(const char *s, uint16_t defport, struct conf_addr *out)
{
    char buf[INET6_ADDRSTRLEN + 16];
    struct in6_addr a6;
    struct in_addr a4;

    if (strlen(s) < INET6_ADDRSTRLEN && inet_pton(AF_INET6, s, &a6) == 1) {
        snprintf(buf, sizeof(buf), "[%s]:%u", s, (unsigned)defport);
        return conf__addr_parse(buf, out);
    }
    if (strlen(s) < INET6_ADDRSTRLEN && inet_pton(AF_INET, s, &a4) == 1) {
        snprintf(buf, sizeof(buf), "%s:%u", s, (unsigned)defport);
        return conf__addr_parse(buf, out);
    }
    return conf__addr_parse(s, out);
}

/* Clears the bits of ADDR (LEN bytes) past the first PREFIX bits. */
static void mask_bits(uint8_t *addr, size_t len, unsigned prefix)
{
    for (size_t i = 0; i < len; i++) {
        unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
        addr[i] &= (uint8_t)(0xff00u >> keep);
    }
}

/*
 * Parses "net/len" or a bare address into *OUT (host bits cleared); NULL or a reason.
 * Full contract in conf-int.h.
 */
const char *conf__cidr_parse(const char *s, struct conf_cidr *out)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char host[INET6_ADDRSTRLEN + 1], text[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    struct conf_cidr c;
    uint64_t prefix = 0;
    int have_prefix = slash != NULL;

    memset(&c, 0, sizeof(c));
    if (hlen == 0)
        return "expected an address or a network such as 10.0.0.0/8";
    if (hlen >= sizeof(host))
        return "not a valid IP address";
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (have_prefix && (conf__uint_parse(slash + 1, &prefix) != NULL || slash[1] == '\0'))
        return "the prefix length after '/' must be a number";
    if (inet_pton(AF_INET, host, c.addr) == 1) {
        c.family = AF_INET;
        if (!have_prefix)
            prefix = 32;
        if (prefix > 32)
            return "an IPv4 prefix length is at most 32";
    } else if (inet_pton(AF_INET6, host, c.addr) == 1) {
        c.family = AF_INET6;
        if (!have_prefix)
            prefix = 128;
        if (prefix > 128)
            return "an IPv6 prefix length is at most 128";
        if (prefix >= 96 && memcmp(c.addr, v4mapped, sizeof(v4mapped)) == 0) {
            memmove(c.addr, c.addr + 12, 4);
            memset(c.addr + 4, 0, 12);
            c.family = AF_INET;
            prefix -= 96;
        }
    } else {
        return "not a valid IP address or network";
    }
    c.prefix = (uint8_t)prefix;
    mask_bits(c.addr, c.family == AF_INET ? 4 : 16, c.prefix);
    inet_ntop(c.family, c.addr, text, sizeof(text));
    snprintf(c.text, sizeof(c.text), "%s/%u", text, (unsigned)c.prefix);
    *out = c;
    return NULL;
}

/*
 * Returns 1 when the LEN-byte address ADDR of FAMILY lies in network C.
 * Full contract in conf-int.h.
 */
int conf__cidr_contains(const struct conf_cidr *c, int family, const uint8_t *addr)
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;

    if (family != c->family)
        return 0;
    if (memcmp(addr, c->addr, full) != 0)
        return 0;
    return rest == 0 || ((addr[full] ^ c->addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

/*
 * Checks S as an HTTP header field name georoute may set; NULL or a reason.
 * Full contract in conf-int.h.
 */
const char *conf__header_name_check(const char *s)
{
    /* Names that carry framing, routing or the client chain: replacing or
     * stripping them would break the proxy or let a header lie about it. */
    static const char *const reserved[] = {
        "host",      "connection", "content-length",    "transfer-encoding", "upgrade",
        "te",        "trailer",    "keep-alive",        "proxy-connection",  "x-forwarded-for",
        "forwarded", "expect",     "x-forwarded-proto", "x-forwarded-host",  "via",
    };
    size_t n = strlen(s);

    if (n == 0)
        return "empty header name";
    if (n > 64)
        return "header name longer than 64 characters";
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("!#$%&'*+-.^_`|~", ch) != NULL))
            return "a header name may contain only letters, digits and !#$%&'*+-.^_`|~";
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(s, reserved[i]) == 0)
            return "this header is used by HTTP or the proxy itself; choose another name";
    return NULL;
}

/*
 * Parses "N" or "N%" into *OUT; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__pct_parse(const char *s, uint64_t *out)
{
    char buf[32];
    size_t n = strlen(s);

    if (n > 0 && s[n - 1] == '%')
        n--;
    if (n == 0 || n >= sizeof(buf))
        return "expected a whole percentage, such as 10 or 10%";
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (conf__uint_parse(buf, out) != NULL)
        return "expected a whole percentage, such as 10 or 10%";
    return NULL;
}

/*
 * Parses "200" or "200-399" into *LO and *HI; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__status_range_parse(const char *s, uint32_t *lo, uint32_t *hi)
{
    char a[16];
    const char *dash = strchr(s, '-');
    size_t alen = dash ? (size_t)(dash - s) : strlen(s);
    uint64_t l, h;

    if (alen == 0 || alen >= sizeof(a))
        return "expected a status code or a range, such as 200 or 200-399";
    memcpy(a, s, alen);
    a[alen] = '\0';
    if (conf__uint_parse(a, &l) != NULL || (dash && conf__uint_parse(dash + 1, &h) != NULL))
        return "expected a status code or a range, such as 200 or 200-399";
    if (!dash)
        h = l;
    if (l < 100 || l > 599 || h < 100 || h > 599)
        return "status codes are from 100 to 599";
    if (l > h)
        return "the range's first status is greater than its last";
    *lo = (uint32_t)l;
    *hi = (uint32_t)h;
    return NULL;
}

/*
 * Parses "4134" or "AS4134" into *OUT, 1..4294967295; NULL or a static reason.
 * Full contract in conf-int.h.
 */
const char *conf__asn_parse(const char *s, uint32_t *out)
{
    uint64_t v;

    if ((s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's'))
        s += 2;
    if (conf__uint_parse(s, &v) != NULL)
        return "expected an AS number, such as 4134 or AS4134";
    if (v == 0)
        return "AS0 is reserved (it means \"unknown\")";
    if (v > UINT32_MAX)
        return "AS numbers are at most 4294967295";
    *out = (uint32_t)v;
    return NULL;
}

/*
 * Returns 1 when A is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped 127/8).
 * Full contract in conf-int.h.
 */
int conf__addr_is_loopback(const struct conf_addr *a)
{
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
        const uint8_t *b = sin6->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
    }
    return 0;
}

int conf__store_path(struct conf_ctx *ctx, const struct conf_node *n, char **field, const char *s)
{
    const char *slash = strrchr(ctx->name, '/');
    size_t dir = slash ? (size_t)(slash - ctx->name) + 1 : 0;
    size_t len = strlen(s);
    char *p;

    if (s[0] == '/')
        dir = 0;
    if (dir + len >= CONF_FILE_PATH_MAX) {
        conf__err(ctx, n, "path longer than %d bytes", CONF_FILE_PATH_MAX - 1);
        return -1;
    }
    if ((p = malloc(dir + len + 1)) == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    memcpy(p, ctx->name, dir);
    memcpy(p + dir, s, len + 1);
    free(*field);
    *field = p;
    return 0;
}
