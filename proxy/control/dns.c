/*
 * dns: the c-ares bridge of one uv loop, and the watched names built on
 * it. The only file that includes ares.h.
 *
 * Loop integration: c-ares reports each socket it wants watched through
 * on_dns_sock_state; we keep one uv_poll_t per fd in a small table (never
 * two polls on one fd; an entry leaves the table before uv_close, because
 * c-ares reuses an fd number at once) and one uv_timer_t armed from
 * ares_timeout after every call into c-ares.
 *
 * Watches: every watch has a due time; one scheduling timer starts the
 * resolution ("round") of each watch that is due. A round owns what its
 * c-ares requests collect and is freed by the last request to call back; it
 * points at its watch only until the watch goes away (unwatch, close), after
 * which its answers are dropped. c-ares may call back synchronously (names
 * from /etc/hosts complete inside ares_getaddrinfo), so a round is complete
 * before the call that starts it, and nothing touches it after that call.
 *
 * Reentrancy: user callbacks run inside c-ares callbacks, and may unwatch
 * or close. `depth` counts our frames inside c-ares and user callbacks;
 * px_dns_close only marks the service closing there and the teardown
 * (ares_destroy, which must not run inside a c-ares callback) happens when
 * the outermost frame leaves.
 */
#include "proxy/control/dns.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"

#include <ares.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#define PX_DNS_TRIES 2            /* c-ares tries per server (ARES_OPT_TRIES) */
#define PX_DNS_RETRY_MIN_MS 1000u /* first retry delay after a failure */
#define PX_DNS_WEIGHT_MAX 256u    /* largest backend weight */
#define PX_DNS_NEVER UINT64_MAX   /* a due time that never comes */
#define PX_DNS_T_SRV 33           /* RR type of SRV (RFC 2782) */
#define PX_DNS_C_IN 1             /* class IN */

enum watch_kind {
    WATCH_NAME,    /* A/AAAA through ares_getaddrinfo */
    WATCH_SRV,     /* SRV through ares_search, then A/AAAA of the targets */
    WATCH_LITERAL, /* numeric address: resolved without c-ares, once */
};

/* One socket c-ares asked us to watch. */
struct dns_poll {
    uv_poll_t poll;     /* embedded; the entry is freed in on_dns_poll_closed */
    struct px_dns *dns; /* borrowed */
    ares_socket_t fd;   /* c-ares's socket */
    int events;         /* UV_READABLE | UV_WRITABLE as last asked by c-ares */
};

struct dns_round;

/* One ares_getaddrinfo of a round; its address is the c-ares callback argument. */
struct dns_req {
    struct dns_round *round; /* borrowed: the round this request belongs to */
    char *host;              /* owned; SRV targets only (NULL: the watch's name, or done) */
    uint16_t port;           /* given to every address of this request */
    uint16_t weight;         /* 1..256 */
    uint16_t priority;       /* SRV priority, 0 for names */
};

/* One resolution of one watch. Freed by the last request to call back. */
struct dns_round {
    struct px_dns *dns;         /* borrowed */
    struct px_dns_watch *watch; /* borrowed; NULL once the watch is gone (answers dropped) */
    uint32_t family;            /* enum conf_dns_family */
    unsigned pending;           /* c-ares requests that have not called back */
    int err;                    /* first failure other than "not found"; 0 = none */
    int ares_status;            /* c-ares status of the latest failure, for the log */
    unsigned notfound : 1;      /* a lookup answered "no such name/record" */
    unsigned canceled : 1;      /* ended by ares_cancel/ares_destroy */
    uint64_t ttl_s;             /* smallest TTL seen, seconds; UINT64_MAX = none */
    struct px_dns_addr *addrs;  /* owned; collected addresses */
    size_t naddrs, addrs_cap;   /* used and allocated entries of addrs */
    struct dns_req *reqs;       /* owned; SRV: one per target of the lowest priority */
    size_t nreqs;               /* entries of reqs */
    struct dns_req name_req;    /* the single request of a name round */
};

struct px_dns_watch {
    struct px_dns *dns;               /* borrowed: the owner */
    struct px_dns_watch *prev, *next; /* borrowed; dns->watches, creation order */
    char *name;                       /* owned; host, SRV name, or literal as given */
    enum watch_kind kind;
    uint16_t port;             /* NAME and LITERAL: port of every address */
    uint32_t family;           /* enum conf_dns_family */
    px_dns_watch_cb cb;        /* never NULL */
    void *data;                /* borrowed; passed to cb */
    struct px_dns_addr *addrs; /* owned; current set, sorted; NULL until resolved */
    size_t naddrs;
    struct dns_round *round;  /* borrowed; in-flight round (owned by its requests) */
    uint64_t due_ms;          /* uv_now() of the next round; PX_DNS_NEVER = none */
    uint64_t ttl_ms;          /* clamped TTL of the current set */
    uint64_t backoff_ms;      /* delay of the latest retry; 0 after a success */
    int err;                  /* latest attempt: 0 = success (or none yet) */
    int last_err;             /* latest failure ever, 0 = none */
    uint64_t last_ok_ms;      /* uv_now() of the latest success */
    uint64_t last_ok_unix_ms; /* wall clock of the latest success; 0 = never */
    uint64_t queries;         /* rounds started */
    uint64_t failures;        /* rounds failed */
    unsigned resolved : 1;    /* addrs holds a good answer */
    unsigned in_cb : 1;       /* cb is running */
    unsigned dead : 1;        /* unwatched during cb: free when it returns */
};

struct px_dns {
    uv_loop_t *loop;         /* borrowed */
    ares_channel channel;    /* owned; NULL once destroyed */
    uv_timer_t ares_timer;   /* c-ares timeouts, armed from ares_timeout */
    uv_timer_t sched_timer;  /* the next due watch */
    struct dns_poll **polls; /* owned table (entries owned too), npolls used */
    size_t npolls, polls_cap;
    struct px_dns_watch *watches;      /* owned list head, creation order */
    struct px_dns_watch *watches_tail; /* borrowed */
    uint64_t min_ttl_ms;               /* clamps of every TTL */
    uint64_t max_ttl_ms;
    uint64_t retry_max_ms; /* cap of the retry backoff */
    uint32_t family;       /* enum conf_dns_family of SRV watches */
    struct px_dns_stats stats;
    unsigned depth;           /* our frames inside c-ares and user callbacks */
    unsigned pending_closes;  /* handles closing; freed when 0 after teardown */
    unsigned closing : 1;     /* px_dns_close was called */
    unsigned torn_down : 1;   /* channel destroyed, handles closing */
    px_dns_close_cb close_cb; /* may be NULL */
    void *close_data;         /* borrowed */
};

static void dns_teardown(struct px_dns *dns);
static void sched_arm(struct px_dns *dns);
static void on_dns_ares_timer(uv_timer_t *t);
static void on_dns_sched(uv_timer_t *t);

/* ---- errors ---- */

/* The one mapping of c-ares statuses to ours. */
static int map_ares_status(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
        return PX_EDNS_NOTFOUND;
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
        return PX_EDNS_UNREACHABLE;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ENOTIMP:
        return PX_EDNS_SERVFAIL;
    case ARES_EFORMERR:
    case ARES_EBADRESP:
        return PX_EDNS_BADRESP;
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
    case ARES_EBADFAMILY:
    case ARES_ESERVICE:
        return PX_EDNS_BADNAME;
    case ARES_ENOMEM:
        return PX_ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return PX_EDNS_CANCELED;
    default:
        return PX_EDNS_FAILED;
    }
}

/* Returns a static description of ERR; see dns.h. */
const char *px_dns_strerror(int err)
{
    switch (err) {
    case PX_EDNS_NOTFOUND:
        return "name or record not found";
    case PX_EDNS_UNREACHABLE:
        return "no DNS server answered";
    case PX_EDNS_SERVFAIL:
        return "DNS server failure";
    case PX_EDNS_BADRESP:
        return "malformed DNS answer";
    case PX_EDNS_BADNAME:
        return "bad DNS name";
    case PX_EDNS_CANCELED:
        return "DNS query cancelled";
    case PX_EDNS_FAILED:
        return "DNS resolution failed";
    default:
        return px_strerror(err);
    }
}

/* Returns the static name of ERR for key=value logs; see dns.h. */
const char *px_dns_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
    case PX_EDNS_NOTFOUND:
        return "EDNS_NOTFOUND";
    case PX_EDNS_UNREACHABLE:
        return "EDNS_UNREACHABLE";
    case PX_EDNS_SERVFAIL:
        return "EDNS_SERVFAIL";
    case PX_EDNS_BADRESP:
        return "EDNS_BADRESP";
    case PX_EDNS_BADNAME:
        return "EDNS_BADNAME";
    case PX_EDNS_CANCELED:
        return "EDNS_CANCELED";
    case PX_EDNS_FAILED:
        return "EDNS_FAILED";
    case PX_ENOMEM:
        return "ENOMEM";
    default:
        return err < 0 && err > -1000 ? uv_err_name(err) : "EUNKNOWN";
    }
}

/* ---- addresses ---- */

/*
 * Fills *a with the address IP (4 or 16 bytes by FAMILY, AF_INET or AF_INET6)
 * and PORT. The sockaddr is built in a local of its own type and copied, so
 * no store goes through one struct type and a load through another.
 * Returns 0, or -1 for another family.
 */
static int addr_set(struct px_dns_addr *a, int family, const void *ip, uint32_t scope_id,
                    uint16_t port, uint16_t weight, uint16_t priority)
{
    memset(a, 0, sizeof(*a));
    if (family == AF_INET) {
        struct sockaddr_in in;
        memset(&in, 0, sizeof(in));
        in.sin_family = AF_INET;
        memcpy(&in.sin_addr, ip, sizeof(in.sin_addr));
        in.sin_port = htons(port);
        memcpy(&a->sa, &in, sizeof(in));
        a->salen = sizeof(in);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 in6;
        memset(&in6, 0, sizeof(in6));
        in6.sin6_family = AF_INET6;
        memcpy(&in6.sin6_addr, ip, sizeof(in6.sin6_addr));
        in6.sin6_scope_id = scope_id;
        in6.sin6_port = htons(port);
        memcpy(&a->sa, &in6, sizeof(in6));
        a->salen = sizeof(in6);
    } else {
        return -1;
    }
    a->port = port;
    a->weight = weight;
    a->priority = priority;
    return 0;
}

/* Fills *a from a c-ares result node; returns 0, or -1 for an unusable node. */
static int addr_from_node(struct px_dns_addr *a, const struct ares_addrinfo_node *n, uint16_t port,
                          uint16_t weight, uint16_t priority)
{
    const unsigned char *sa = (const unsigned char *)n->ai_addr;

    if (sa == NULL)
        return -1;
    if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in))
        return addr_set(a, AF_INET, sa + offsetof(struct sockaddr_in, sin_addr), 0, port, weight,
                        priority);
    if (n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(struct sockaddr_in6)) {
        uint32_t scope;
        memcpy(&scope, sa + offsetof(struct sockaddr_in6, sin6_scope_id), sizeof(scope));
        return addr_set(a, AF_INET6, sa + offsetof(struct sockaddr_in6, sin6_addr), scope, port,
                        weight, priority);
    }
    return -1;
}

/* Sets A's target to the SRV target HOST, without its trailing dot. */
static void target_name(struct px_dns_addr *a, const char *host)
{
    size_t n = strlen(host);

    if (n > 0 && host[n - 1] == '.')
        n--;
    if (n >= sizeof(a->target))
        n = sizeof(a->target) - 1; /* cannot be: longer targets are never looked up */
    memcpy(a->target, host, n);
    a->target[n] = '\0';
}

/* Orders by family (IPv4 first), address bytes, port: the identity of an address. */
static int addr_key_cmp(const struct px_dns_addr *a, const struct px_dns_addr *b)
{
    const unsigned char *pa = (const unsigned char *)&a->sa, *pb = (const unsigned char *)&b->sa;
    int fa = a->sa.ss_family, fb = b->sa.ss_family;
    int c;

    if (fa != fb)
        return fa == AF_INET ? -1 : 1;
    if (fa == AF_INET)
        c = memcmp(pa + offsetof(struct sockaddr_in, sin_addr),
                   pb + offsetof(struct sockaddr_in, sin_addr), sizeof(struct in_addr));
    else
        c = memcmp(pa + offsetof(struct sockaddr_in6, sin6_addr),
                   pb + offsetof(struct sockaddr_in6, sin6_addr), sizeof(struct in6_addr));
    if (c != 0)
        return c;
    return (int)a->port - (int)b->port;
}

/* qsort order: the key, then the better duplicate (lower priority, higher
 * weight, then the first target name) first. */
static int addr_sort_cmp(const void *pa, const void *pb)
{
    const struct px_dns_addr *a = pa, *b = pb;
    int c = addr_key_cmp(a, b);

    if (c != 0)
        return c;
    if (a->priority != b->priority)
        return (int)a->priority - (int)b->priority;
    if (a->weight != b->weight)
        return (int)b->weight - (int)a->weight;
    return strcmp(a->target, b->target); /* the same answer, the same name kept */
}

/* Sorts A and drops duplicate addresses (keeping the best); returns the new count. */
static size_t addrs_normalize(struct px_dns_addr *a, size_t n)
{
    size_t out = 0;

    if (n == 0)
        return 0;
    qsort(a, n, sizeof(*a), addr_sort_cmp);
    for (size_t i = 1; i < n; i++)
        if (addr_key_cmp(&a[out], &a[i]) != 0)
            a[++out] = a[i];
    return out + 1;
}

/* Returns 1 when two normalized sets differ in an address, port, weight,
 * priority or target name (a TLS backend is verified against the name). */
static int addrs_differ(const struct px_dns_addr *a, size_t na, const struct px_dns_addr *b,
                        size_t nb)
{
    if (na != nb)
        return 1;
    for (size_t i = 0; i < na; i++)
        if (addr_key_cmp(&a[i], &b[i]) != 0 || a[i].weight != b[i].weight ||
            a[i].priority != b[i].priority || strcmp(a[i].target, b[i].target) != 0)
            return 1;
    return 0;
}

/*
 * Parses HOST as a numeric IPv4 or IPv6 address (IPv6 optionally in
 * brackets) into *a with PORT. Returns 0, or -1 when it is not one.
 */
static int literal_parse(const char *host, uint16_t port, struct px_dns_addr *a)
{
    char buf[64];
    size_t n = strlen(host);
    unsigned char ip[16];

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        if (n - 2 >= sizeof(buf))
            return -1;
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    if (uv_inet_pton(AF_INET, host, ip) == 0)
        return addr_set(a, AF_INET, ip, 0, port, 1, 0);
    if (uv_inet_pton(AF_INET6, host, ip) == 0)
        return addr_set(a, AF_INET6, ip, 0, port, 1, 0);
    return -1;
}

/* Weight of an SRV record among records whose largest weight is MAXW (see px_dns_watch_srv). */
static uint16_t srv_weight(unsigned weight, unsigned maxw)
{
    if (maxw > PX_DNS_WEIGHT_MAX)
        weight = (weight * PX_DNS_WEIGHT_MAX + maxw / 2) / maxw;
    return (uint16_t)(weight == 0 ? 1 : weight);
}

/* Advances *off past the (possibly compressed) name at *off; returns 0 or -1. */
static int wire_skip_name(const unsigned char *p, size_t len, size_t *off)
{
    size_t o = *off;

    for (;;) {
        if (o >= len)
            return -1;
        unsigned l = p[o];
        if ((l & 0xC0) == 0xC0) {
            if (o + 2 > len)
                return -1;
            *off = o + 2;
            return 0;
        }
        if (l & 0xC0)
            return -1;
        if (l == 0) {
            *off = o + 1;
            return 0;
        }
        o += 1 + l;
    }
}

/*
 * Returns the smallest TTL (seconds) of the SRV records in the answer section
 * of the DNS message ABUF, or UINT64_MAX (unknown) when there is none or the
 * message is cut short. ares_parse_srv_reply (1.18) does not report TTLs.
 */
static uint64_t srv_min_ttl(const unsigned char *abuf, size_t alen)
{
    uint64_t min = UINT64_MAX;
    size_t off = 12;
    unsigned qd, an;

    if (abuf == NULL || alen < 12)
        return UINT64_MAX;
    qd = (unsigned)abuf[4] << 8 | abuf[5];
    an = (unsigned)abuf[6] << 8 | abuf[7];
    for (unsigned i = 0; i < qd; i++) {
        if (wire_skip_name(abuf, alen, &off) != 0 || off + 4 > alen)
            return UINT64_MAX;
        off += 4;
    }
    for (unsigned i = 0; i < an; i++) {
        unsigned type, rdlen;
        uint32_t ttl;
        if (wire_skip_name(abuf, alen, &off) != 0 || off + 10 > alen)
            return UINT64_MAX;
        type = (unsigned)abuf[off] << 8 | abuf[off + 1];
        ttl = (uint32_t)abuf[off + 4] << 24 | (uint32_t)abuf[off + 5] << 16 |
              (uint32_t)abuf[off + 6] << 8 | abuf[off + 7];
        rdlen = (unsigned)abuf[off + 8] << 8 | abuf[off + 9];
        off += 10 + rdlen;
        if (off > alen)
            return UINT64_MAX;
        if (ttl & 0x80000000u) /* RFC 2181 §8: treat as zero */
            ttl = 0;
        if (type == PX_DNS_T_SRV && ttl < min)
            min = ttl;
    }
    return min;
}

/* Clamps a TTL in seconds (UINT64_MAX = unknown) to the configured range, in ms. */
static uint64_t ttl_clamp_ms(const struct px_dns *dns, uint64_t ttl_s)
{
    uint64_t ms;

    if (ttl_s == UINT64_MAX)
        ms = 0; /* unknown: as short as allowed */
    else if (ttl_s > UINT64_MAX / 1000)
        ms = UINT64_MAX;
    else
        ms = ttl_s * 1000;
    if (ms < dns->min_ttl_ms)
        ms = dns->min_ttl_ms;
    if (ms > dns->max_ttl_ms)
        ms = dns->max_ttl_ms;
    return ms ? ms : 1;
}

static uint64_t unix_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- depth and deferred teardown ---- */

static void dns_enter(struct px_dns *dns)
{
    dns->depth++;
}

/* Leaves a frame; the outermost one runs a teardown that px_dns_close deferred. */
static void dns_leave(struct px_dns *dns)
{
    PX_ASSERT(dns->depth > 0);
    if (--dns->depth == 0 && dns->closing && !dns->torn_down)
        dns_teardown(dns);
}

/* ---- c-ares loop integration ---- */

/* Re-arms the c-ares timer from ares_timeout; call after every call into c-ares. */
static void ares_timer_arm(struct px_dns *dns)
{
    struct timeval tv, *tvp;
    uint64_t ms;

    if (dns->closing || dns->channel == NULL)
        return;
    tvp = ares_timeout(dns->channel, NULL, &tv);
    if (tvp == NULL) {
        uv_timer_stop(&dns->ares_timer);
        return;
    }
    ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
    uv_timer_start(&dns->ares_timer, on_dns_ares_timer, ms ? ms : 1, 0);
}

static void on_dns_ares_timer(uv_timer_t *t)
{
    struct px_dns *dns = px_container_of(t, struct px_dns, ares_timer);

    dns_enter(dns);
    ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ares_timer_arm(dns);
    dns_leave(dns);
}

static void dns_handle_closed(struct px_dns *dns)
{
    PX_ASSERT(dns->pending_closes > 0);
    if (--dns->pending_closes == 0 && dns->torn_down) {
        px_dns_close_cb cb = dns->close_cb;
        void *data = dns->close_data;
        free(dns->polls);
        free(dns);
        if (cb != NULL)
            cb(data);
    }
}

static void on_dns_poll_closed(uv_handle_t *h)
{
    struct dns_poll *e = px_container_of(h, struct dns_poll, poll);
    struct px_dns *dns = e->dns;

    free(e);
    dns_handle_closed(dns);
}

static struct dns_poll *poll_find(const struct px_dns *dns, ares_socket_t fd)
{
    for (size_t i = 0; i < dns->npolls; i++)
        if (dns->polls[i]->fd == fd)
            return dns->polls[i];
    return NULL;
}

/* Takes E out of the table first (its fd may come back at once), then closes it. */
static void poll_close(struct px_dns *dns, struct dns_poll *e)
{
    for (size_t i = 0; i < dns->npolls; i++) {
        if (dns->polls[i] == e) {
            dns->polls[i] = dns->polls[--dns->npolls];
            break;
        }
    }
    dns->pending_closes++;
    uv_close((uv_handle_t *)&e->poll, on_dns_poll_closed);
}

static void on_dns_poll(uv_poll_t *h, int status, int events)
{
    struct dns_poll *e = px_container_of(h, struct dns_poll, poll);
    struct px_dns *dns = e->dns;
    ares_socket_t fd = e->fd, rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

    if (status < 0) {
        /*
         * POLLERR arrives as UV_EBADF and libuv has stopped the handle. Let
         * c-ares try both directions: it reads the real error (e.g.
         * ECONNREFUSED) and moves the query on (node's cares_wrap does the
         * same).
         */
        rfd = wfd = fd;
    } else {
        if (events & UV_READABLE)
            rfd = fd;
        if (events & UV_WRITABLE)
            wfd = fd;
    }
    dns_enter(dns);
    ares_process_fd(dns->channel, rfd, wfd);
    if (!dns->closing) {
        /* Still wanted by c-ares but stopped by libuv: watch it again. */
        if (status < 0 && poll_find(dns, fd) == e && !uv_is_active((uv_handle_t *)h))
            uv_poll_start(h, e->events, on_dns_poll);
        ares_timer_arm(dns);
    }
    dns_leave(dns);
}

/* c-ares's ARES_OPT_SOCK_STATE_CB: start, change or stop watching FD. */
static void on_dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct px_dns *dns = data;
    struct dns_poll *e = poll_find(dns, fd);
    int rc;

    if (!readable && !writable) {
        if (e != NULL)
            poll_close(dns, e);
        return;
    }
    if (e == NULL) {
        if (dns->npolls == dns->polls_cap) {
            size_t cap = dns->polls_cap ? dns->polls_cap * 2 : 4;
            struct dns_poll **t = realloc(dns->polls, cap * sizeof(*t));
            if (t == NULL)
                goto nomem;
            dns->polls = t;
            dns->polls_cap = cap;
        }
        e = calloc(1, sizeof(*e));
        if (e == NULL)
            goto nomem;
        e->dns = dns;
        e->fd = fd;
        rc = uv_poll_init_socket(dns->loop, &e->poll, fd);
        if (rc != 0) {
            /* The query on this socket will time out in c-ares. */
            px_log(PX_LOG_ERR, NULL, "event=dns_poll_failed fd=%d err=%s", (int)fd,
                   uv_err_name(rc));
            free(e);
            return;
        }
        dns->polls[dns->npolls++] = e;
    }
    e->events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
    rc = uv_poll_start(&e->poll, e->events, on_dns_poll);
    if (rc != 0)
        px_log(PX_LOG_ERR, NULL, "event=dns_poll_failed fd=%d err=%s", (int)fd, uv_err_name(rc));
    return;

nomem:
    px_log(PX_LOG_ERR, NULL, "event=dns_poll_failed fd=%d err=ENOMEM", (int)fd);
}

/* ---- watches: results ---- */

static void watch_free(struct px_dns_watch *w)
{
    if (w == NULL)
        return;
    free(w->addrs);
    free(w->name);
    free(w);
}

static void watch_unlink(struct px_dns_watch *w)
{
    struct px_dns *dns = w->dns;

    if (w->prev)
        w->prev->next = w->next;
    else
        dns->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        dns->watches_tail = w->prev;
    w->prev = w->next = NULL;
    if (w->round != NULL) {
        w->round->watch = NULL; /* its answers are dropped */
        w->round = NULL;
    }
}

static const char *watch_type(const struct px_dns_watch *w)
{
    return w->kind == WATCH_SRV ? "SRV" : "A";
}

/* Calls W's callback with its current set. W may be freed on return. */
static void watch_deliver(struct px_dns_watch *w)
{
    struct px_dns *dns = w->dns;
    struct px_dns_result res = {
        .name = w->name, .addrs = w->addrs, .naddrs = w->naddrs, .ttl_ms = w->ttl_ms};

    dns->stats.changes++;
    dns_enter(dns);
    w->in_cb = 1;
    w->cb(w->data, &res);
    w->in_cb = 0;
    if (w->dead)
        watch_free(w);
    dns_leave(dns);
}

/*
 * A round of W succeeded with ADDRS (owned, taken over; N >= 1 entries) and a
 * clamped TTL. Updates W and calls back when the set changed or is the first.
 * W may be freed on return.
 */
static void watch_succeed(struct px_dns_watch *w, struct px_dns_addr *addrs, size_t n,
                          uint64_t ttl_ms)
{
    struct px_dns *dns = w->dns;
    uint64_t now = uv_now(dns->loop);
    int changed;

    n = addrs_normalize(addrs, n);
    changed = !w->resolved || addrs_differ(addrs, n, w->addrs, w->naddrs);
    dns->stats.resolutions++;
    if (w->err != 0)
        px_log(PX_LOG_INFO, NULL, "event=dns_recovered name=%s type=%s addrs=%zu", w->name,
               watch_type(w), n);
    w->err = 0;
    w->backoff_ms = 0;
    w->last_ok_ms = now;
    w->last_ok_unix_ms = unix_now_ms();
    w->ttl_ms = ttl_ms;
    w->due_ms = ttl_ms == PX_DNS_NEVER ? PX_DNS_NEVER : now + ttl_ms;
    sched_arm(dns);
    if (!changed) {
        free(addrs);
        return;
    }
    if (w->resolved)
        px_log(PX_LOG_INFO, NULL, "event=dns_changed name=%s type=%s addrs=%zu was=%zu", w->name,
               watch_type(w), n, w->naddrs);
    free(w->addrs);
    w->addrs = addrs;
    w->naddrs = n;
    w->resolved = 1;
    watch_deliver(w);
}

/*
 * A round of W failed with ERR (ARES_STATUS for the log): the last good set
 * stays, the failure is counted, logged if the error state changed, and a
 * retry is scheduled with exponential backoff.
 */
static void watch_fail(struct px_dns_watch *w, int err, int ares_status)
{
    struct px_dns *dns = w->dns;
    uint64_t first =
        PX_DNS_RETRY_MIN_MS < dns->retry_max_ms ? PX_DNS_RETRY_MIN_MS : dns->retry_max_ms;

    dns->stats.resolutions++;
    dns->stats.failures++;
    if (err == PX_EDNS_NOTFOUND)
        dns->stats.fail_notfound++;
    else if (err == PX_EDNS_UNREACHABLE)
        dns->stats.fail_unreachable++;
    else if (err == PX_EDNS_SERVFAIL)
        dns->stats.fail_servfail++;
    else
        dns->stats.fail_other++;
    w->failures++;
    w->last_err = err;
    if (w->backoff_ms == 0)
        w->backoff_ms = first;
    else if (w->backoff_ms < dns->retry_max_ms / 2)
        w->backoff_ms *= 2;
    else
        w->backoff_ms = dns->retry_max_ms;
    if (w->backoff_ms == 0)
        w->backoff_ms = 1;
    if (err != w->err)
        px_log(PX_LOG_WARN, NULL,
               "event=dns_failed name=%s type=%s err=%s detail=\"%s\" addrs_kept=%zu "
               "retry_ms=%" PRIu64,
               w->name, watch_type(w), px_dns_err_name(err),
               ares_status ? ares_strerror(ares_status) : px_dns_strerror(err), w->naddrs,
               w->backoff_ms);
    w->err = err;
    w->due_ms = uv_now(dns->loop) + w->backoff_ms;
    sched_arm(dns);
}

/* ---- rounds ---- */

static struct dns_round *round_new(struct px_dns_watch *w)
{
    struct dns_round *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->dns = w->dns;
    r->watch = w;
    r->family = w->family;
    r->ttl_s = UINT64_MAX;
    r->name_req.round = r;
    r->name_req.port = w->port;
    r->name_req.weight = 1;
    return r;
}

static void round_free(struct dns_round *r)
{
    for (size_t i = 0; i < r->nreqs; i++)
        free(r->reqs[i].host);
    free(r->reqs);
    free(r->addrs);
    free(r);
}

static void round_note_status(struct dns_round *r, int status)
{
    int err = map_ares_status(status);

    if (err == 0)
        return;
    if (err == PX_EDNS_CANCELED)
        r->canceled = 1;
    else if (err == PX_EDNS_NOTFOUND)
        r->notfound = 1;
    else if (r->err == 0)
        r->err = err;
    r->ares_status = status;
}

static int round_add(struct dns_round *r, const struct px_dns_addr *a)
{
    if (r->naddrs == r->addrs_cap) {
        size_t cap = r->addrs_cap ? r->addrs_cap * 2 : 8;
        struct px_dns_addr *t = realloc(r->addrs, cap * sizeof(*t));
        if (t == NULL)
            return -1;
        r->addrs = t;
        r->addrs_cap = cap;
    }
    r->addrs[r->naddrs++] = *a;
    return 0;
}

/*
 * Ends round R: applies its outcome to its watch (if any) and frees it. Any
 * failure other than "not found" fails the round; "not found" alone fails it
 * only when nothing resolved. Runs user code (the watch's callback).
 */
static void round_finish(struct dns_round *r)
{
    struct px_dns_watch *w = r->watch;
    struct px_dns *dns = r->dns;

    if (w != NULL) {
        w->round = NULL;
        if (dns->closing) {
            /* nothing: the watch is about to be freed */
        } else if (r->canceled) {
            w->due_ms = uv_now(dns->loop); /* ares_cancel (new servers): ask again */
            sched_arm(dns);
        } else if (r->err != 0) {
            watch_fail(w, r->err, r->ares_status);
        } else if (r->naddrs == 0) {
            watch_fail(w, r->notfound ? PX_EDNS_NOTFOUND : PX_EDNS_BADRESP, r->ares_status);
        } else {
            struct px_dns_addr *addrs = r->addrs;
            size_t n = r->naddrs;
            r->addrs = NULL;
            r->naddrs = 0;
            watch_succeed(w, addrs, n, ttl_clamp_ms(dns, r->ttl_s));
        }
    }
    round_free(r);
}

/* Returns the ai_family to ask c-ares for under FAMILY (enum conf_dns_family). */
static int family_hint(uint32_t family)
{
    return family == CONF_DNS_IPV4 ? AF_INET : family == CONF_DNS_IPV6 ? AF_INET6 : AF_UNSPEC;
}

/* c-ares's callback of one ares_getaddrinfo (a name, or one SRV target). */
static void on_dns_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct dns_req *q = arg;
    struct dns_round *r = q->round;
    int want = 0; /* prefer-*: the preferred family when present, else 0 (all) */

    (void)timeouts;
    if (status != ARES_SUCCESS) {
        round_note_status(r, status);
    } else if (r->watch != NULL && res != NULL) {
        const struct ares_addrinfo_node *n;
        const struct ares_addrinfo_cname *c;
        int pref = r->family == CONF_DNS_PREFER_IPV4   ? AF_INET
                   : r->family == CONF_DNS_PREFER_IPV6 ? AF_INET6
                                                       : 0;
        size_t before = r->naddrs;

        for (n = res->nodes; n != NULL && pref != 0; n = n->ai_next)
            if (n->ai_family == pref)
                want = pref;
        for (n = res->nodes; n != NULL; n = n->ai_next) {
            struct px_dns_addr a;
            if (want != 0 && n->ai_family != want)
                continue;
            if (addr_from_node(&a, n, q->port, q->weight, q->priority) != 0)
                continue;
            if (q->host != NULL)
                target_name(&a, q->host);
            if (round_add(r, &a) != 0) {
                if (r->err == 0)
                    r->err = PX_ENOMEM;
                break;
            }
            if (n->ai_ttl >= 0 && (uint64_t)n->ai_ttl < r->ttl_s)
                r->ttl_s = (uint64_t)n->ai_ttl;
        }
        for (c = res->cnames; c != NULL; c = c->next)
            if (c->ttl >= 0 && (uint64_t)c->ttl < r->ttl_s)
                r->ttl_s = (uint64_t)c->ttl;
        if (r->naddrs == before)
            r->notfound = 1; /* the family filter left nothing */
    }
    if (res != NULL)
        ares_freeaddrinfo(res);
    PX_ASSERT(r->pending > 0);
    if (--r->pending == 0)
        round_finish(r);
}

/*
 * Starts the A/AAAA lookup of request Q (of round R, whose pending count
 * already includes it). HOST is copied to the stack first: the callback may
 * run before the call returns and free the round that owns the string.
 */
static void req_start(struct px_dns *dns, struct dns_req *q, const char *host, uint32_t family)
{
    char name[PX_DNS_NAME_MAX + 2];
    struct ares_addrinfo_hints hints;

    snprintf(name, sizeof(name), "%s", host);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family_hint(family);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;
    dns->stats.queries++;
    ares_getaddrinfo(dns->channel, name, NULL, &hints, on_dns_addrinfo, q);
}

/* c-ares's callback of the SRV query of round ARG: starts the lookups of the targets. */
static void on_dns_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_round *r = arg;
    struct px_dns *dns = r->dns;
    struct ares_srv_reply *srv = NULL, *s;
    unsigned minprio = UINT32_MAX, maxw = 0;
    size_t n = 0, launch = 0;
    int rc;

    (void)timeouts;
    PX_ASSERT(r->pending == 1);
    r->pending = 0;
    if (status != ARES_SUCCESS) {
        round_note_status(r, status);
        goto finish;
    }
    if (r->watch == NULL || dns->closing)
        goto finish;
    rc = ares_parse_srv_reply(abuf, alen, &srv);
    if (rc != ARES_SUCCESS) {
        round_note_status(r, rc);
        goto finish;
    }
    r->ttl_s = srv_min_ttl(abuf, alen > 0 ? (size_t)alen : 0);
    /* "." (or empty) as the target: the service is decidedly not offered there. */
    for (s = srv; s != NULL; s = s->next)
        if (s->host[0] != '\0' && strcmp(s->host, ".") != 0 && s->priority < minprio)
            minprio = s->priority;
    for (s = srv; s != NULL; s = s->next) {
        if (s->host[0] == '\0' || strcmp(s->host, ".") == 0 || s->priority != minprio)
            continue;
        n++;
        if (s->weight > maxw)
            maxw = s->weight;
    }
    if (n == 0) {
        r->notfound = 1;
        goto finish;
    }
    r->reqs = calloc(n, sizeof(*r->reqs));
    if (r->reqs == NULL) {
        r->err = PX_ENOMEM;
        goto finish;
    }
    for (s = srv; s != NULL; s = s->next) {
        struct dns_req *q;
        struct px_dns_addr a;
        if (s->host[0] == '\0' || strcmp(s->host, ".") == 0 || s->priority != minprio)
            continue;
        q = &r->reqs[r->nreqs++];
        q->round = r;
        q->port = s->port;
        q->weight = srv_weight(s->weight, maxw);
        q->priority = s->priority;
        if (literal_parse(s->host, s->port, &a) == 0) {
            a.weight = q->weight;
            a.priority = q->priority;
            if (round_add(r, &a) != 0 && r->err == 0)
                r->err = PX_ENOMEM;
            continue;
        }
        if (strlen(s->host) > PX_DNS_NAME_MAX + 1) {
            r->notfound = 1;
            continue;
        }
        q->host = strdup(s->host);
        if (q->host == NULL) {
            r->err = PX_ENOMEM;
            continue;
        }
        launch++;
    }
    ares_free_data(srv);
    srv = NULL;
    if (r->err != 0 || launch == 0)
        goto finish;

    /*
     * Every lookup may complete synchronously; the round lives until the
     * last one calls back, so it is read only while some are still unstarted.
     */
    {
        struct dns_req *reqs = r->reqs;
        size_t nreqs = r->nreqs, left = launch;
        uint32_t family = r->family;

        r->pending = (unsigned)launch;
        for (size_t i = 0; i < nreqs && left > 0; i++) {
            if (reqs[i].host == NULL)
                continue;
            left--;
            req_start(dns, &reqs[i], reqs[i].host, family);
        }
    }
    return;

finish:
    if (srv != NULL)
        ares_free_data(srv);
    round_finish(r);
}

/* ---- scheduling ---- */

/* Starts a round of W (due, none in flight). W may be freed on return. */
static void watch_start(struct px_dns_watch *w)
{
    struct px_dns *dns = w->dns;
    struct dns_round *r;

    w->queries++;
    if (w->kind == WATCH_LITERAL) {
        struct px_dns_addr *a = malloc(sizeof(*a));
        if (a == NULL || literal_parse(w->name, w->port, a) != 0) {
            free(a);
            watch_fail(w, PX_ENOMEM, 0);
            return;
        }
        watch_succeed(w, a, 1, PX_DNS_NEVER);
        return;
    }
    r = round_new(w);
    if (r == NULL) {
        watch_fail(w, PX_ENOMEM, 0);
        return;
    }
    w->round = r;
    w->due_ms = PX_DNS_NEVER;
    r->pending = 1;
    dns_enter(dns);
    if (w->kind == WATCH_NAME) {
        req_start(dns, &r->name_req, w->name, r->family);
    } else {
        char name[PX_DNS_NAME_MAX + 2];
        snprintf(name, sizeof(name), "%s", w->name);
        dns->stats.queries++;
        ares_search(dns->channel, name, PX_DNS_C_IN, PX_DNS_T_SRV, on_dns_srv, r);
    }
    /* r and w may be gone now. */
    ares_timer_arm(dns);
    dns_leave(dns);
}

/* Arms the scheduling timer for the earliest due watch with no round in flight. */
static void sched_arm(struct px_dns *dns)
{
    uint64_t due = PX_DNS_NEVER, now;

    if (dns->closing)
        return;
    for (struct px_dns_watch *w = dns->watches; w != NULL; w = w->next)
        if (w->round == NULL && w->due_ms < due)
            due = w->due_ms;
    if (due == PX_DNS_NEVER) {
        uv_timer_stop(&dns->sched_timer);
        return;
    }
    now = uv_now(dns->loop);
    uv_timer_start(&dns->sched_timer, on_dns_sched, due > now ? due - now : 0, 0);
}

static void on_dns_sched(uv_timer_t *t)
{
    struct px_dns *dns = px_container_of(t, struct px_dns, sched_timer);
    uint64_t now = uv_now(dns->loop);

    /*
     * A round may complete synchronously and run callbacks that change the
     * list, so rescan from the head after each start. Every start moves its
     * watch's due time past now or puts a round in flight, so this ends.
     */
again:
    for (struct px_dns_watch *w = dns->watches; w != NULL; w = w->next) {
        if (w->round == NULL && w->due_ms <= now) {
            watch_start(w);
            if (dns->closing)
                return;
            goto again;
        }
    }
    sched_arm(dns);
}

/* ---- public API ---- */

/* ares_library_init, once from main before any thread; see dns.h. */
int px_dns_global_init(void)
{
    int st = ares_library_init(ARES_LIB_INIT_ALL);
    return st == ARES_SUCCESS ? 0 : map_ares_status(st);
}

/* ares_library_cleanup, from main after every px_dns is closed. */
void px_dns_global_cleanup(void)
{
    ares_library_cleanup();
}

/* Copies CONF's limits into DNS. */
static void dns_apply_limits(struct px_dns *dns, const struct conf_dns *conf)
{
    dns->min_ttl_ms = conf->min_ttl_ms ? conf->min_ttl_ms : 1;
    dns->max_ttl_ms = conf->max_ttl_ms > dns->min_ttl_ms ? conf->max_ttl_ms : dns->min_ttl_ms;
    dns->retry_max_ms = conf->retry_max_ms ? conf->retry_max_ms : 1;
    dns->family = conf->family <= CONF_DNS_PREFER_IPV6 ? conf->family : CONF_DNS_ANY;
}

/* Points the channel at CONF's servers ("ip:port,[ip6]:port"); none = keep. */
static int dns_set_servers(struct px_dns *dns, const struct conf_dns *conf)
{
    size_t cap = 1, len = 0;
    char *csv;
    int st;

    if (conf->nservers == 0)
        return 0;
    for (size_t i = 0; i < conf->nservers; i++)
        cap += strlen(conf->servers[i].text) + 1;
    csv = malloc(cap);
    if (csv == NULL)
        return PX_ENOMEM;
    for (size_t i = 0; i < conf->nservers; i++)
        len += (size_t)snprintf(csv + len, cap - len, "%s%s", i ? "," : "", conf->servers[i].text);
    st = ares_set_servers_ports_csv(dns->channel, csv);
    free(csv);
    if (st == ARES_EBADSTR)
        return UV_EINVAL;
    return st == ARES_SUCCESS ? 0 : map_ares_status(st);
}

/*
 * Creates the service: channel first, servers next, timers last, so a failure
 * leaves nothing on the loop. Returns 0 or a negative code; see dns.h.
 */
int px_dns_new(uv_loop_t *loop, const struct conf_dns *conf, struct px_dns **out)
{
    struct ares_options o;
    struct px_dns *dns;
    int st, rc;

    *out = NULL;
    dns = calloc(1, sizeof(*dns));
    if (dns == NULL)
        return PX_ENOMEM;
    dns->loop = loop;
    dns_apply_limits(dns, conf);

    memset(&o, 0, sizeof(o));
    o.sock_state_cb = on_dns_sock_state;
    o.sock_state_cb_data = dns;
    o.timeout = conf->timeout_ms == 0          ? 1000
                : conf->timeout_ms > INT32_MAX ? INT32_MAX
                                               : (int)conf->timeout_ms;
    o.tries = PX_DNS_TRIES;
    st = ares_init_options(&dns->channel, &o,
                           ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (st != ARES_SUCCESS) {
        rc = map_ares_status(st);
        goto fail;
    }
    rc = dns_set_servers(dns, conf);
    if (rc != 0)
        goto fail_channel;
    /* Cannot fail on Unix; done last so a failure above leaves no handle behind. */
    uv_timer_init(loop, &dns->ares_timer);
    uv_timer_init(loop, &dns->sched_timer);
    *out = dns;
    return 0;

fail_channel:
    ares_destroy(dns->channel);
fail:
    free(dns);
    return rc;
}

/*
 * Applies a reloaded conf; see dns.h. Returns UV_EBUSY from inside a watch
 * callback (ares_cancel must not run inside a c-ares callback) and
 * PX_ESHUTDOWN after px_dns_close.
 */
int px_dns_set_conf(struct px_dns *dns, const struct conf_dns *conf)
{
    int rc = 0;

    if (dns->closing)
        return PX_ESHUTDOWN;
    if (dns->depth > 0)
        return UV_EBUSY; /* ares_cancel must not run inside a c-ares callback */
    dns_apply_limits(dns, conf);
    if (conf->nservers > 0) {
        /* c-ares 1.18 refuses new servers while queries are outstanding. */
        dns_enter(dns);
        ares_cancel(dns->channel);
        dns_leave(dns);
        rc = dns_set_servers(dns, conf);
        ares_timer_arm(dns);
    }
    sched_arm(dns);
    return rc;
}

static int watch_new(struct px_dns *dns, const char *name, enum watch_kind kind, uint16_t port,
                     uint32_t family, px_dns_watch_cb cb, void *data, struct px_dns_watch **out)
{
    struct px_dns_watch *w;
    struct px_dns_addr lit;
    size_t len = name ? strlen(name) : 0;

    *out = NULL;
    if (dns->closing)
        return PX_ESHUTDOWN;
    if (len == 0 || len > PX_DNS_NAME_MAX + 1 || cb == NULL || family > CONF_DNS_PREFER_IPV6)
        return UV_EINVAL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return PX_ENOMEM;
    w->name = strdup(name);
    if (w->name == NULL) {
        free(w);
        return PX_ENOMEM;
    }
    if (kind == WATCH_NAME && literal_parse(name, port, &lit) == 0)
        kind = WATCH_LITERAL;
    w->dns = dns;
    w->kind = kind;
    w->port = port;
    w->family = family;
    w->cb = cb;
    w->data = data;
    w->due_ms = uv_now(dns->loop); /* first round on the next loop turn */
    w->prev = dns->watches_tail;
    if (dns->watches_tail)
        dns->watches_tail->next = w;
    else
        dns->watches = w;
    dns->watches_tail = w;
    sched_arm(dns);
    *out = w;
    return 0;
}

/* Watches HOST's A/AAAA records (literals skip c-ares); see dns.h. */
int px_dns_watch_name(struct px_dns *dns, const char *host, uint16_t port, uint32_t family,
                      px_dns_watch_cb cb, void *data, struct px_dns_watch **out)
{
    return watch_new(dns, host, WATCH_NAME, port, family, cb, data, out);
}

/* Watches an SRV name with the service's family; see dns.h. */
int px_dns_watch_srv(struct px_dns *dns, const char *srv_name, px_dns_watch_cb cb, void *data,
                     struct px_dns_watch **out)
{
    return watch_new(dns, srv_name, WATCH_SRV, 0, dns->family, cb, data, out);
}

/* Frees W now, or when its running callback returns; see dns.h. */
void px_dns_unwatch(struct px_dns_watch *w)
{
    if (w == NULL || w->dead)
        return;
    watch_unlink(w);
    if (w->in_cb) {
        w->dead = 1; /* freed when its callback returns */
        return;
    }
    watch_free(w);
}

/* Fills *out with W's state; pointers are borrowed; see dns.h. */
void px_dns_watch_info(const struct px_dns_watch *w, struct px_dns_watch_info *out)
{
    uint64_t now = uv_now(w->dns->loop);

    memset(out, 0, sizeof(*out));
    out->name = w->name;
    out->is_srv = w->kind == WATCH_SRV;
    out->is_literal = w->kind == WATCH_LITERAL;
    out->resolving = w->round != NULL;
    out->port = w->port;
    out->addrs = w->addrs;
    out->naddrs = w->naddrs;
    if (w->kind == WATCH_LITERAL && w->resolved)
        out->ttl_left_ms = UINT64_MAX;
    else if (w->round == NULL && w->due_ms > now)
        out->ttl_left_ms = w->due_ms == PX_DNS_NEVER ? UINT64_MAX : w->due_ms - now;
    out->err = w->err;
    out->last_err = w->last_err;
    out->last_err_str = w->last_err ? px_dns_strerror(w->last_err) : "";
    out->last_ok_age_ms = w->resolved ? now - w->last_ok_ms : UINT64_MAX;
    out->last_ok_unix_ms = w->last_ok_unix_ms;
    out->queries = w->queries;
    out->failures = w->failures;
}

/* Returns the first live watch in creation order, or NULL. */
struct px_dns_watch *px_dns_watch_first(const struct px_dns *dns)
{
    return dns->watches;
}

/* Returns the live watch after W, or NULL. */
struct px_dns_watch *px_dns_watch_next(const struct px_dns_watch *w)
{
    return w->next;
}

/* Copies the service's counters into *out. */
void px_dns_stats(const struct px_dns *dns, struct px_dns_stats *out)
{
    *out = dns->stats;
}

static void on_dns_timer_closed(uv_handle_t *h)
{
    dns_handle_closed(h->data);
}

/* The teardown of px_dns_close, run outside any c-ares or user callback. */
static void dns_teardown(struct px_dns *dns)
{
    struct px_dns_watch *w;

    dns->torn_down = 1;
    /* Orphan the rounds first: ares_destroy ends them with ARES_EDESTRUCTION. */
    while ((w = dns->watches) != NULL) {
        watch_unlink(w);
        watch_free(w);
    }
    if (dns->channel != NULL) {
        ares_destroy(dns->channel); /* reports (fd, 0, 0) for its sockets */
        dns->channel = NULL;
    }
    while (dns->npolls > 0)
        poll_close(dns, dns->polls[dns->npolls - 1]);
    dns->ares_timer.data = dns;
    dns->sched_timer.data = dns;
    dns->pending_closes += 2;
    uv_close((uv_handle_t *)&dns->ares_timer, on_dns_timer_closed);
    uv_close((uv_handle_t *)&dns->sched_timer, on_dns_timer_closed);
}

/*
 * Starts the asynchronous teardown (deferred to the outermost frame when
 * called from inside a callback); CLOSE_CB runs after the last handle has
 * closed and DNS is freed. Idempotent; see dns.h.
 */
void px_dns_close(struct px_dns *dns, px_dns_close_cb close_cb, void *data)
{
    if (dns == NULL || dns->closing)
        return;
    dns->closing = 1;
    dns->close_cb = close_cb;
    dns->close_data = data;
    if (dns->depth == 0)
        dns_teardown(dns);
}
