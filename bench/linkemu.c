/*
 * linkemu: a libuv TCP relay that makes a loopback hop look like a
 * long-distance link. The kernel here has no netem, so tests, the demo and
 * the border-link benchmark put a linkemu between georoute (or a client)
 * and each backend.
 *
 * Usage:
 *   linkemu --link [NAME=]LISTEN=TARGET[,KEY=VALUE...] [--link ...]
 *           [--control ADDR] [--delay-ms N] [--up-ms N] [--down-ms N]
 *           [--jitter-pct N] [--rate-bps N] [--handshake] [--queue-bytes N]
 *           [--quit-after SECONDS] [--seed N] [-v]
 *
 *   ADDR is 127.x.y.z:PORT, [::1]:PORT or a bare PORT (127.0.0.1). Listen,
 *   target and control addresses must be loopback (127.0.0.0/8 or ::1);
 *   anything else is refused. Port 0 picks a free port (see the ready lines).
 *   NAME defaults to the listen port. KEYs are those of `set` below; the
 *   --delay-ms ... flags are defaults for links that do not set that key.
 *
 *     linkemu --control 127.0.0.1:7000 \
 *             --link cn=127.0.0.1:7001=127.0.0.1:9001,delay_ms=5 \
 *             --link hk=127.0.0.1:7002=127.0.0.1:9002,delay_ms=60,jitter_pct=30 \
 *             --link us=127.0.0.1:7003=127.0.0.1:9003,up_ms=180,down_ms=190,rate_bps=2M
 *
 *   Once every socket is bound it prints one line per link and then a ready
 *   line on stdout, and nothing more on stdout afterwards:
 *     link name=cn listen=127.0.0.1:7001 target=127.0.0.1:9001 up_ms=5 ...
 *     ready control=127.0.0.1:7000          (control=none without --control)
 *   Diagnostics go to stderr (-v adds one line per connection).
 *   SIGTERM/SIGINT, --quit-after or the `shutdown` command stop it: every
 *   handle is closed through its callback, queued data is dropped, exit 0.
 *   Exit 2 on a usage error, 1 on a runtime error.
 *
 * Model. "up" is client -> target, "down" is target -> client. Bytes read at
 * time t in a direction are written at t + delay, where delay is that
 * direction's one-way delay, scaled by a uniform random factor in
 * [1 - jitter_pct/100, 1 + jitter_pct/100] drawn per chunk (one read). Bytes
 * are never reordered: a chunk's release time is max(previous release in
 * that direction, t + delay). Each direction of a connection is a FIFO of
 * timestamped chunks with one uv_timer armed for its head. Settings changed
 * at run time apply to data read after the change; queued chunks keep their
 * release time.
 *
 * Bandwidth cap: a token bucket per link and direction, shared by all the
 * link's connections (a congested border is one pipe, not one per flow);
 * with per_conn=1, one per connection and direction instead (a per-flow
 * limit: a throttling middlebox, or a long lossy path that caps each TCP
 * flow, where more flows do not slow each other).
 * Tokens accrue at rate_bps bytes per second up to 10 ms worth; a chunk is
 * sent when the bucket is not in debt and takes its size from it (it may go
 * negative), so the long-run rate is the cap. Reads are sized to ~10 ms of
 * the rate (1-64 KiB) so the output is smooth. The cap applies after the
 * delay: a chunk leaves at max(its release time, when the bucket allows).
 *
 * Backpressure: at most --queue-bytes (default 4 MiB) are queued per
 * direction of a connection (waiting plus being written); over that the
 * source is not read until the queue falls under half of it.
 *
 * EOF and errors travel the link too, in order after the data before them:
 * an EOF from one side becomes a shutdown(SHUT_WR) on the other side after
 * that direction's delay; a read error (RST) becomes a reset (SO_LINGER 0)
 * of both sides after the delay. When writing to one side fails, what was
 * queued toward it is dropped and the other side is reset after the other
 * direction's delay. A reset waits for the writes queued ahead of it to
 * reach the kernel. A connection closes when both directions have shut
 * down. If the target refuses the connection, the client (already accepted)
 * is reset at accept + up_ms + down_ms, when a real refusal would arrive.
 * The relay accepts the client before it connects to the target, so the
 * client's connect() itself is instant; `handshake=1` holds the client's
 * first bytes for one extra round trip (up_ms + down_ms), which is what a
 * real handshake costs a new connection's first request.
 *
 * Control protocol: a line protocol over TCP on the --control address. One
 * command per line, one reply line per command, starting with "ok" or
 * "err "; a connection may send many commands. LINK is a link's name, its
 * listen port, or * for all links.
 *   set LINK KEY=VALUE...   -> ok            (all keys validated first)
 *       delay_ms=N          one-way delay both ways, ms (0..600000)
 *       up_ms=N down_ms=N   one direction only
 *       jitter_pct=N        0..100, both directions
 *       rate_bps=N          BYTES per second both ways, 0 = no cap; k, M, G
 *                           suffixes are powers of 1000 (2M = 2,000,000 B/s)
 *       up_rate_bps=N down_rate_bps=N
 *       handshake=0|1
 *       per_conn=0|1        1: each connection has its own rate caps
 *   get [LINK]              -> ok name=cn listen=.. target=.. up_ms=5 down_ms=5
 *                              jitter_pct=0 up_rate_bps=0 down_rate_bps=0 handshake=0
 *                              per_conn=0
 *   stats [LINK]            -> ok name=cn accepted=N active=N failed=N
 *                              up_bytes=N down_bytes=N up_queued_bytes=N
 *                              down_queued_bytes=N
 *       (bytes are counted when read from the source; several links in one
 *        reply are separated by " ; ")
 *   ping                    -> ok pong
 *   shutdown                -> ok, then a clean exit (as SIGTERM)
 * Try it with bench/linkemu.py (`python3 bench/linkemu.py -c 127.0.0.1:7000
 * set cn delay_ms=300`) or any line client (`nc -q1 127.0.0.1 7000`).
 *
 * Limits: IPv4/IPv6 loopback only, at most 64 links, TCP_NODELAY on both
 * sides (Nagle would add its own delays), 1 ms timer resolution. This is a
 * tool, not a data plane: chunks are plain malloc'd buffers.
 */
#include "proxy/base/list.h"
#include "proxy/base/px.h"

#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LE_READ_BYTES 65536u
#define LE_MIN_READ_BYTES 1024u
#define LE_QUEUE_BYTES_DEFAULT (4u << 20)
#define LE_MAX_LINKS 64
#define LE_NAME_BYTES 32
#define LE_ADDR_BYTES 64
#define LE_CTL_LINE_BYTES 1024
#define LE_MAX_DELAY_MS 600000u
#define LE_MAX_RATE_BPS 1000000000000ull
#define LE_BURST_MS 10 /* token bucket depth and read size, in ms of the rate */
#define LE_BACKLOG 1024
#define LE_LINK_TEXT_BYTES 512 /* one link's get/stats text */

enum le_dir_id { LE_UP = 0, LE_DOWN = 1 };

/* A link's settings, indexed so a patch can address each one. */
enum le_key {
    LE_KEY_UP_MS,         /* one-way delay client -> target, ms */
    LE_KEY_DOWN_MS,       /* one-way delay target -> client, ms */
    LE_KEY_JITTER_PCT,    /* +- percent of the delay, 0..100 */
    LE_KEY_UP_RATE_BPS,   /* bytes per second client -> target, 0 = no cap */
    LE_KEY_DOWN_RATE_BPS, /* bytes per second target -> client, 0 = no cap */
    LE_KEY_HANDSHAKE,     /* 1: hold a new connection's first bytes one RTT */
    LE_KEY_PER_CONN,      /* 1: the rate caps apply to each connection, not the link */
    LE_KEY_COUNT
};

static const char *const le_key_names[LE_KEY_COUNT] = {
    "up_ms", "down_ms", "jitter_pct", "up_rate_bps", "down_rate_bps", "handshake", "per_conn",
};

/* The words `set` and --link accept; a word may set two keys. */
static const struct le_word {
    const char *name;
    enum le_key first, second; /* keys it sets (the same key twice for one) */
    uint64_t max;              /* largest accepted value */
    bool si_suffix;            /* accepts k, M, G (powers of 1000) */
} le_words[] = {
    {"delay_ms", LE_KEY_UP_MS, LE_KEY_DOWN_MS, LE_MAX_DELAY_MS, false},
    {"up_ms", LE_KEY_UP_MS, LE_KEY_UP_MS, LE_MAX_DELAY_MS, false},
    {"down_ms", LE_KEY_DOWN_MS, LE_KEY_DOWN_MS, LE_MAX_DELAY_MS, false},
    {"jitter_pct", LE_KEY_JITTER_PCT, LE_KEY_JITTER_PCT, 100, false},
    {"rate_bps", LE_KEY_UP_RATE_BPS, LE_KEY_DOWN_RATE_BPS, LE_MAX_RATE_BPS, true},
    {"up_rate_bps", LE_KEY_UP_RATE_BPS, LE_KEY_UP_RATE_BPS, LE_MAX_RATE_BPS, true},
    {"down_rate_bps", LE_KEY_DOWN_RATE_BPS, LE_KEY_DOWN_RATE_BPS, LE_MAX_RATE_BPS, true},
    {"handshake", LE_KEY_HANDSHAKE, LE_KEY_HANDSHAKE, 1, false},
    {"per_conn", LE_KEY_PER_CONN, LE_KEY_PER_CONN, 1, false},
};

/* A partial update of a link's settings (parsed and checked before use). */
struct le_patch {
    uint64_t value[LE_KEY_COUNT]; /* new values, where has[] */
    bool has[LE_KEY_COUNT];       /* which keys the patch sets */
};

/* Shared bandwidth budget of one direction of a link. */
struct le_bucket {
    double tokens_bytes; /* may be negative: debt of the last chunk sent */
    uint64_t last_ns;    /* uv_hrtime() of the last refill */
};

struct le_state;

struct le_link {
    struct le_state *st;               /* borrowed */
    char name[LE_NAME_BYTES];          /* control name, default the listen port */
    char listen_text[LE_ADDR_BYTES];   /* bound address, as printed */
    char target_text[LE_ADDR_BYTES];   /* target address, as printed */
    struct sockaddr_storage listen_ss; /* address to bind */
    struct sockaddr_storage target_ss; /* address each connection dials */
    uint16_t listen_port;              /* actual bound port */
    uv_tcp_t listener;                 /* embedded; closed at shutdown */
    bool listener_init;                /* listener was uv_tcp_init'ed */
    uint64_t set[LE_KEY_COUNT];        /* current settings */
    struct le_bucket bucket[2];        /* per direction */
    uint64_t accepted_count;           /* connections accepted, ever */
    uint64_t failed_count;             /* target connects that failed */
    uint64_t active_count;             /* connections open now */
    uint64_t bytes[2];                 /* bytes read from each direction's source */
    struct px_list conns;              /* struct le_conn.node, borrowed */
};

enum le_chunk_kind {
    LE_CHUNK_DATA,  /* bytes to write */
    LE_CHUNK_EOF,   /* shutdown(SHUT_WR) the destination */
    LE_CHUNK_RESET, /* reset both sides and close the connection */
};

/* One read, or one EOF/RESET marker, waiting for its release time. */
struct le_chunk {
    struct le_chunk *next;   /* FIFO link, owned by the direction */
    uv_write_t req;          /* embedded; req.data = the direction */
    uint64_t release_ns;     /* uv_hrtime() at which it may leave */
    enum le_chunk_kind kind; /* data or marker */
    size_t len;              /* bytes in data[] (0 for markers) */
    char data[];             /* the bytes */
};

struct le_conn;

/* One direction of a connection: source -> FIFO -> destination. */
struct le_dir {
    struct le_conn *conn;         /* borrowed: the owner */
    enum le_dir_id id;            /* LE_UP or LE_DOWN */
    uv_stream_t *src, *dst;       /* borrowed: members of conn */
    uv_timer_t timer;             /* embedded; armed for the head */
    struct le_chunk *head, *tail; /* owned FIFO (not yet written) */
    uint64_t last_release_ns;     /* release time of the last chunk queued */
    size_t queued_bytes;          /* data bytes in the FIFO plus being written */
    uv_shutdown_t shutdown_req;   /* embedded; for the EOF marker */
    struct le_bucket bucket;      /* this direction's own budget, used with per_conn=1 */
    unsigned paused : 1;          /* src read stopped for backpressure */
    unsigned ended : 1;           /* src gave EOF/error, or a RESET is queued: read no more */
    unsigned reset_queued : 1;    /* a RESET marker is queued */
    unsigned shut_done : 1;       /* the EOF reached dst (shutdown completed) */
    unsigned dead : 1;            /* writing to dst failed: it gets nothing more */
};

enum le_conn_state {
    LE_CONN_CONNECTING, /* client accepted, target connect pending */
    LE_CONN_OPEN,       /* both sides connected */
    LE_CONN_FAILED,     /* target refused; client reset pending */
    LE_CONN_CLOSING,    /* handles closing; freed in the last close callback */
};

struct le_conn {
    struct le_link *link;     /* borrowed */
    struct px_list node;      /* in link->conns */
    enum le_conn_state state; /* see above */
    uv_tcp_t client;          /* embedded; data = &dir[LE_UP] */
    uv_tcp_t target;          /* embedded; data = &dir[LE_DOWN] */
    uv_connect_t connect_req; /* embedded */
    struct le_dir dir[2];     /* LE_UP, LE_DOWN */
    uint64_t accepted_ns;     /* uv_hrtime() at accept */
    uint64_t reset_at_ns;     /* LE_CONN_FAILED: when to reset the client */
    int pending_closes;       /* handles still closing (4 at most) */
};

/* One control connection. */
struct le_ctl {
    struct le_state *st;          /* borrowed */
    struct px_list node;          /* in st->ctls */
    uv_tcp_t tcp;                 /* embedded */
    uv_shutdown_t shutdown_req;   /* embedded */
    char line[LE_CTL_LINE_BYTES]; /* bytes of the current, unfinished line */
    size_t line_len;              /* bytes used in line[] */
    bool closing;                 /* shutdown or close started */
};

/* A reply being written to a control connection. */
struct le_reply {
    uv_write_t req; /* embedded */
    size_t len;     /* bytes used in text[] */
    size_t cap;     /* bytes allocated for text[] */
    char text[];
};

struct le_state {
    uv_loop_t *loop;                    /* borrowed: the default loop */
    struct le_link links[LE_MAX_LINKS]; /* the first link_count are in use */
    size_t link_count;
    bool has_control;                   /* --control was given */
    struct sockaddr_storage control_ss; /* control address */
    char control_text[LE_ADDR_BYTES];   /* control address as bound */
    uv_tcp_t control;                   /* embedded control listener */
    struct px_list ctls;                /* struct le_ctl.node */
    uv_signal_t sig_term, sig_int;      /* embedded */
    uv_timer_t quit_timer;              /* embedded; --quit-after */
    uint64_t quit_after_ms;             /* 0 = run until told */
    size_t queue_high_bytes;            /* stop reading a source over this */
    uint64_t rnd;                       /* xorshift64* state for jitter */
    bool stopping;                      /* shutdown started */
    bool verbose;                       /* -v: a line per connection */
};

static void conn_close(struct le_conn *c, bool reset);
static void dir_pump(struct le_dir *d);
static void dir_arm(struct le_dir *d, uint64_t wait_ns);
static int dir_read_start(struct le_dir *d);
static void state_shutdown(struct le_state *st);

/* ------------------------------------------------------------------ misc */

__attribute__((format(printf, 1, 2))) static void le_log(const char *fmt, ...)
{
    va_list ap;
    char line[512];

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "linkemu: %s\n", line);
}

/* A uniform double in [0, 1) (xorshift64*; jitter needs no better). */
static double rnd_unit(struct le_state *st)
{
    st->rnd ^= st->rnd >> 12;
    st->rnd ^= st->rnd << 25;
    st->rnd ^= st->rnd >> 27;
    return (double)((st->rnd * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

/* Parses an unsigned decimal, with an optional k/M/G (x1000) suffix when
 * si_suffix; 0 or -1. */
static int parse_u64(const char *s, bool si_suffix, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    if (si_suffix && *end != '\0' && end[1] == '\0') {
        if (*end == 'k' || *end == 'K')
            mult = 1000;
        else if (*end == 'M')
            mult = 1000000;
        else if (*end == 'G')
            mult = 1000000000;
        else
            return -1;
        end++;
    }
    if (*end != '\0' || v > UINT64_MAX / mult)
        return -1;
    *out = (uint64_t)v * mult;
    return 0;
}

/* Parses ADDR (127.x.y.z:PORT, [::1]:PORT or PORT) into ss and checks that
 * it is loopback; 0 or -1 with a message in err. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[LE_ADDR_BYTES];
    const char *port_s;
    uint64_t port;
    const char *colon;
    bool v6 = false;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            goto bad;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port_s = close + 2;
        v6 = true;
    } else if ((colon = strrchr(s, ':')) != NULL) {
        if ((size_t)(colon - s) >= sizeof(host))
            goto bad;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port_s = colon + 1;
    } else {
        snprintf(host, sizeof(host), "127.0.0.1");
        port_s = s;
    }
    if (parse_u64(port_s, false, &port) != 0 || port > 65535)
        goto bad;
    if (v6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (uv_ip6_addr(host, (int)port, a6) != 0)
            goto bad;
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr)) {
            snprintf(err, errlen, "%s: not a loopback address (::1 only)", s);
            return -1;
        }
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        if (uv_ip4_addr(host, (int)port, a4) != 0)
            goto bad;
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127) {
            snprintf(err, errlen, "%s: not a loopback address (127.0.0.0/8 only)", s);
            return -1;
        }
    }
    return 0;
bad:
    snprintf(err, errlen, "%s: bad address (want 127.x.y.z:PORT, [::1]:PORT or PORT)", s);
    return -1;
}

/* Formats a socket address as 127.0.0.1:7001 or [::1]:7001. */
static void format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a6, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(a6->sin6_port));
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
        uv_ip4_name(a4, host, sizeof(host));
        snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(a4->sin_port));
    }
}

static void patch_init(struct le_patch *p)
{
    memset(p, 0, sizeof(*p));
}

/* Adds one KEY=VALUE word to p; 0 or -1 with a message in err. */
static int patch_add(struct le_patch *p, const char *word, char *err, size_t errlen)
{
    const char *eq = strchr(word, '=');
    size_t klen;
    uint64_t v;

    if (eq == NULL) {
        snprintf(err, errlen, "%s: want KEY=VALUE", word);
        return -1;
    }
    klen = (size_t)(eq - word);
    for (size_t i = 0; i < PX_ARRAY_LEN(le_words); i++) {
        const struct le_word *w = &le_words[i];
        if (strlen(w->name) != klen || memcmp(w->name, word, klen) != 0)
            continue;
        if (parse_u64(eq + 1, w->si_suffix, &v) != 0 || v > w->max) {
            snprintf(err, errlen, "%s: bad value (0..%" PRIu64 "%s)", word, w->max,
                     w->si_suffix ? ", k/M/G suffix" : "");
            return -1;
        }
        p->value[w->first] = p->value[w->second] = v;
        p->has[w->first] = p->has[w->second] = true;
        return 0;
    }
    snprintf(err, errlen,
             "%.*s: unknown key (delay_ms up_ms down_ms jitter_pct rate_bps up_rate_bps "
             "down_rate_bps handshake per_conn)",
             (int)klen, word);
    return -1;
}

/* Applies p to link l. A changed rate restarts that direction's bucket, so
 * a cap set now does not inherit a burst saved up before. */
static void link_apply(struct le_link *l, const struct le_patch *p)
{
    uint64_t now_ns = uv_hrtime();

    for (int k = 0; k < LE_KEY_COUNT; k++) {
        if (!p->has[k])
            continue;
        if (k == LE_KEY_UP_RATE_BPS || k == LE_KEY_DOWN_RATE_BPS) {
            struct le_bucket *b = &l->bucket[k == LE_KEY_UP_RATE_BPS ? LE_UP : LE_DOWN];
            if (l->set[k] != p->value[k]) {
                b->tokens_bytes = 0;
                b->last_ns = now_ns;
            }
        }
        l->set[k] = p->value[k];
    }
}

/* Writes l's settings as KEY=VALUE words; returns the length written. */
static int link_format_settings(const struct le_link *l, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "name=%s listen=%s target=%s", l->name, l->listen_text,
                     l->target_text);
    for (int k = 0; k < LE_KEY_COUNT && n >= 0 && (size_t)n < outlen; k++)
        n += snprintf(out + n, outlen - (size_t)n, " %s=%" PRIu64, le_key_names[k], l->set[k]);
    return n;
}

/* ------------------------------------------------------------ data path */

/* Time the bucket of direction d (the link's, or d's own with per_conn=1)
 * needs before a chunk of len bytes may go (0 = now, and the bytes are
 * taken). */
static uint64_t bucket_wait_ns(struct le_dir *d, size_t len, uint64_t now_ns)
{
    struct le_link *l = d->conn->link;
    double rate = (double)l->set[d->id == LE_UP ? LE_KEY_UP_RATE_BPS : LE_KEY_DOWN_RATE_BPS];
    struct le_bucket *b = l->set[LE_KEY_PER_CONN] ? &d->bucket : &l->bucket[d->id];
    double burst;

    if (rate <= 0)
        return 0;
    if (now_ns > b->last_ns) {
        b->tokens_bytes += (double)(now_ns - b->last_ns) * rate / 1e9;
        b->last_ns = now_ns;
    }
    burst = rate * LE_BURST_MS / 1000.0;
    if (burst < LE_MIN_READ_BYTES)
        burst = LE_MIN_READ_BYTES;
    if (b->tokens_bytes > burst)
        b->tokens_bytes = burst;
    if (b->tokens_bytes < 0)
        return (uint64_t)(-b->tokens_bytes * 1e9 / rate) + 1;
    b->tokens_bytes -= (double)len;
    return 0;
}

/* When a chunk read now in direction d may leave: now + delay +- jitter,
 * but never before the chunk queued ahead of it. */
static uint64_t dir_release_ns(struct le_dir *d, uint64_t now_ns)
{
    struct le_link *l = d->conn->link;
    double delay_ns = (double)l->set[d->id == LE_UP ? LE_KEY_UP_MS : LE_KEY_DOWN_MS] * 1e6;
    uint64_t t;

    if (l->set[LE_KEY_JITTER_PCT] > 0) {
        double u = rnd_unit(l->st) * 2.0 - 1.0;
        delay_ns *= 1.0 + u * (double)l->set[LE_KEY_JITTER_PCT] / 100.0;
        if (delay_ns < 0)
            delay_ns = 0;
    }
    t = now_ns + (uint64_t)delay_ns;
    if (t < d->last_release_ns)
        t = d->last_release_ns;
    d->last_release_ns = t;
    return t;
}

/* Appends k to d's FIFO with its release time. */
static void dir_push(struct le_dir *d, struct le_chunk *k)
{
    k->next = NULL;
    k->release_ns = dir_release_ns(d, uv_hrtime());
    if (d->tail != NULL)
        d->tail->next = k;
    else
        d->head = k;
    d->tail = k;
    if (k->kind == LE_CHUNK_DATA)
        d->queued_bytes += k->len;
}

/* Frees d's FIFO (chunks being written belong to libuv until their
 * callback). */
static void dir_drop_queue(struct le_dir *d)
{
    struct le_chunk *k;

    while ((k = d->head) != NULL) {
        d->head = k->next;
        if (k->kind == LE_CHUNK_DATA)
            d->queued_bytes -= k->len;
        free(k);
    }
    d->tail = NULL;
}

/* Stops reading d's source for good. */
static void dir_end(struct le_dir *d)
{
    d->ended = 1;
    uv_read_stop(d->src);
}

/* Queues a marker; false if it could not be allocated (the caller closes). */
static bool dir_push_marker(struct le_dir *d, enum le_chunk_kind kind)
{
    struct le_chunk *k = malloc(sizeof(*k));

    if (k == NULL)
        return false;
    k->kind = kind;
    k->len = 0;
    if (kind == LE_CHUNK_RESET) {
        d->reset_queued = 1;
        dir_end(d);
    }
    dir_push(d, k);
    return true;
}

/* Writing to d's destination failed: drop what was going there, read no
 * more from d's source, and reset the other side after the other
 * direction's delay (behind the data already on its way). */
static void dir_fail(struct le_dir *d, int status)
{
    struct le_conn *c = d->conn;
    struct le_dir *o = &c->dir[!d->id];

    if (d->dead || c->state == LE_CONN_CLOSING)
        return;
    if (c->link->st->verbose)
        le_log("link=%s dir=%s event=write-failed err=%s", c->link->name,
               d->id == LE_UP ? "up" : "down", uv_err_name(status));
    d->dead = 1;
    uv_timer_stop(&d->timer);
    dir_drop_queue(d);
    dir_end(d);
    if (o->dead) {
        conn_close(c, true);
        return;
    }
    if (!o->reset_queued && !dir_push_marker(o, LE_CHUNK_RESET)) {
        conn_close(c, true);
        return;
    }
    dir_pump(o);
}

static void on_chunk_written(uv_write_t *req, int status)
{
    struct le_chunk *k = px_container_of(req, struct le_chunk, req);
    struct le_dir *d = req->data;
    struct le_conn *c = d->conn;

    d->queued_bytes -= k->len;
    free(k);
    if (c->state == LE_CONN_CLOSING)
        return;
    if (status < 0) {
        dir_fail(d, status);
        return;
    }
    if (d->paused && !d->ended && d->queued_bytes <= c->link->st->queue_high_bytes / 2) {
        d->paused = 0;
        if (dir_read_start(d) != 0) {
            conn_close(c, true);
            return;
        }
    }
    if (d->queued_bytes == 0 && d->head != NULL)
        dir_pump(d); /* a RESET waits for the writes ahead of it */
}

static void on_dir_shutdown(uv_shutdown_t *req, int status)
{
    struct le_dir *d = px_container_of(req, struct le_dir, shutdown_req);
    struct le_conn *c = d->conn;

    if (c->state == LE_CONN_CLOSING)
        return;
    if (status < 0) {
        dir_fail(d, status);
        return;
    }
    d->shut_done = 1;
    if (c->dir[LE_UP].shut_done && c->dir[LE_DOWN].shut_done)
        conn_close(c, false);
}

static void on_dir_timer(uv_timer_t *t)
{
    struct le_dir *d = px_container_of(t, struct le_dir, timer);
    struct le_conn *c = d->conn;

    if (c->state == LE_CONN_FAILED) {
        uint64_t now_ns = uv_hrtime();
        if (now_ns < c->reset_at_ns)
            dir_arm(d, c->reset_at_ns - now_ns); /* the loop clock fired early */
        else
            conn_close(c, true);
        return;
    }
    dir_pump(d);
}

/* Arms d's timer to fire wait_ns from now (rounded up to whole ms: the
 * pump checks uv_hrtime() again and never sends early). */
static void dir_arm(struct le_dir *d, uint64_t wait_ns)
{
    uint64_t ms = (wait_ns + 999999) / 1000000;

    uv_timer_start(&d->timer, on_dir_timer, ms > 0 ? ms : 1, 0);
}

/* Sends every chunk of d that is due and allowed by the bucket, then arms
 * the timer for the next one. May close the connection. */
static void dir_pump(struct le_dir *d)
{
    struct le_conn *c = d->conn;
    struct le_chunk *k;
    uint64_t now_ns;

    if (c->state != LE_CONN_OPEN || d->dead)
        return;
    now_ns = uv_hrtime();
    while ((k = d->head) != NULL) {
        uint64_t wait_ns = 0;
        uv_buf_t buf;
        int r;

        if (k->release_ns > now_ns)
            wait_ns = k->release_ns - now_ns;
        else if (k->kind == LE_CHUNK_DATA)
            wait_ns = bucket_wait_ns(d, k->len, now_ns);
        if (wait_ns > 0) {
            dir_arm(d, wait_ns);
            return;
        }
        /* A reset discards unsent bytes: let the writes ahead finish first
         * (on_chunk_written pumps again). */
        if (k->kind == LE_CHUNK_RESET && d->queued_bytes > 0)
            break;
        d->head = k->next;
        if (d->head == NULL)
            d->tail = NULL;
        switch (k->kind) {
        case LE_CHUNK_DATA:
            k->req.data = d;
            buf = uv_buf_init(k->data, (unsigned)k->len);
            r = uv_write(&k->req, d->dst, &buf, 1, on_chunk_written);
            if (r != 0) {
                d->queued_bytes -= k->len;
                free(k);
                dir_fail(d, r);
                return;
            }
            break;
        case LE_CHUNK_EOF:
            free(k);
            /* libuv runs the shutdown after the writes queued before it. */
            r = uv_shutdown(&d->shutdown_req, d->dst, on_dir_shutdown);
            if (r != 0) {
                dir_fail(d, r);
                return;
            }
            break;
        case LE_CHUNK_RESET:
            free(k);
            conn_close(c, true);
            return;
        }
    }
    uv_timer_stop(&d->timer);
}

static void on_data_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct le_dir *d = h->data;
    struct le_link *l = d->conn->link;
    uint64_t rate = l->set[d->id == LE_UP ? LE_KEY_UP_RATE_BPS : LE_KEY_DOWN_RATE_BPS];
    size_t want = LE_READ_BYTES;
    struct le_chunk *k;

    (void)suggested;
    /* Under a cap, read ~LE_BURST_MS of the rate at a time so the output
     * is paced in small steps, not 64 KiB bursts. */
    if (rate > 0 && rate * LE_BURST_MS / 1000 < want)
        want = rate * LE_BURST_MS / 1000 < LE_MIN_READ_BYTES ? LE_MIN_READ_BYTES
                                                             : rate * LE_BURST_MS / 1000;
    k = malloc(sizeof(*k) + want);
    if (k == NULL) {
        *buf = uv_buf_init(NULL, 0); /* the read callback gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init(k->data, (unsigned)want);
}

static void on_data_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct le_dir *d = s->data;
    struct le_conn *c = d->conn;
    struct le_chunk *k =
        buf->base != NULL ? px_container_of(buf->base, struct le_chunk, data) : NULL;

    if (nread > 0 && !d->ended && c->state != LE_CONN_CLOSING) {
        /* Give back the unused tail of a short read (glibc shrinks in
         * place), so 4 MiB of small reads costs ~4 MiB, not 64 KiB each. */
        if ((size_t)nread < buf->len) {
            struct le_chunk *smaller = realloc(k, sizeof(*k) + (size_t)nread);
            if (smaller != NULL)
                k = smaller;
        }
        k->kind = LE_CHUNK_DATA;
        k->len = (size_t)nread;
        c->link->bytes[d->id] += (uint64_t)nread;
        dir_push(d, k);
        if (d->queued_bytes > c->link->st->queue_high_bytes && !d->paused) {
            d->paused = 1;
            uv_read_stop(s);
        }
        dir_pump(d);
        return;
    }
    free(k);
    if (nread == 0 || d->ended || c->state == LE_CONN_CLOSING)
        return;
    if (nread == UV_ENOBUFS) {
        le_log("link=%s event=close reason=out-of-memory", c->link->name);
        conn_close(c, true);
        return;
    }
    /* EOF or a reset: it travels behind the data, then reaches the peer. */
    dir_end(d);
    if (!dir_push_marker(d, nread == UV_EOF ? LE_CHUNK_EOF : LE_CHUNK_RESET)) {
        conn_close(c, true);
        return;
    }
    if (c->link->st->verbose)
        le_log("link=%s dir=%s event=%s", c->link->name, d->id == LE_UP ? "up" : "down",
               nread == UV_EOF ? "eof" : uv_err_name((int)nread));
    dir_pump(d);
}

/* Starts (or resumes) reading d's source. */
static int dir_read_start(struct le_dir *d)
{
    return uv_read_start(d->src, on_data_alloc, on_data_read);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct le_dir *d = h->data;
    struct le_conn *c = d->conn;

    if (--c->pending_closes == 0)
        free(c);
}

/* Closes a stream, with a reset (RST) when asked and possible. */
static void close_stream(uv_tcp_t *t, bool reset)
{
    if (reset && uv_tcp_close_reset(t, on_conn_handle_closed) == 0)
        return;
    uv_close((uv_handle_t *)t, on_conn_handle_closed);
}

/*
 * The one teardown of a connection; idempotent. Drops what is queued,
 * stops the timers and closes the four handles (client and target reset
 * when reset is true); c is freed in the last close callback, so the
 * caller may touch c until it returns to the loop.
 */
static void conn_close(struct le_conn *c, bool reset)
{
    struct le_link *l = c->link;

    if (c->state == LE_CONN_CLOSING)
        return;
    c->state = LE_CONN_CLOSING;
    if (l->st->verbose)
        le_log("link=%s event=close reset=%d up_queued=%zu down_queued=%zu", l->name, reset,
               c->dir[LE_UP].queued_bytes, c->dir[LE_DOWN].queued_bytes);
    px_list_remove(&c->node);
    l->active_count--;
    for (int i = 0; i < 2; i++) {
        uv_read_stop(c->dir[i].src);
        uv_timer_stop(&c->dir[i].timer);
        dir_drop_queue(&c->dir[i]);
    }
    c->pending_closes = 4;
    close_stream(&c->client, reset);
    close_stream(&c->target, reset);
    uv_close((uv_handle_t *)&c->dir[LE_UP].timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->dir[LE_DOWN].timer, on_conn_handle_closed);
}

static void on_target_connect(uv_connect_t *req, int status)
{
    struct le_conn *c = px_container_of(req, struct le_conn, connect_req);
    struct le_link *l = c->link;
    uint64_t now_ns, at_ns;

    if (c->state == LE_CONN_CLOSING)
        return;
    if (status < 0) {
        /* A real refusal reaches the client one round trip after its SYN. */
        l->failed_count++;
        if (l->st->verbose)
            le_log("link=%s event=connect-failed err=%s", l->name, uv_err_name(status));
        c->state = LE_CONN_FAILED;
        for (int i = 0; i < 2; i++) {
            uv_timer_stop(&c->dir[i].timer);
            dir_drop_queue(&c->dir[i]);
            dir_end(&c->dir[i]);
        }
        now_ns = uv_hrtime();
        at_ns = c->accepted_ns + (l->set[LE_KEY_UP_MS] + l->set[LE_KEY_DOWN_MS]) * 1000000;
        if (at_ns <= now_ns) {
            conn_close(c, true);
            return;
        }
        c->reset_at_ns = at_ns;
        dir_arm(&c->dir[LE_UP], at_ns - now_ns);
        return;
    }
    c->state = LE_CONN_OPEN;
    uv_tcp_nodelay(&c->target, 1);
    if (dir_read_start(&c->dir[LE_DOWN]) != 0) {
        conn_close(c, true);
        return;
    }
    dir_pump(&c->dir[LE_UP]);
}

static void on_link_connection(uv_stream_t *server, int status)
{
    struct le_link *l = server->data;
    struct le_conn *c;
    int r;

    if (status < 0) {
        le_log("link=%s event=accept-failed err=%s", l->name, uv_err_name(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        le_log("link=%s event=accept-failed err=ENOMEM", l->name);
        return; /* the connection stays in the backlog until memory returns */
    }
    c->link = l;
    c->state = LE_CONN_CONNECTING;
    c->accepted_ns = uv_hrtime();
    uv_tcp_init(server->loop, &c->client);
    uv_tcp_init(server->loop, &c->target);
    for (int i = 0; i < 2; i++) {
        struct le_dir *d = &c->dir[i];
        d->conn = c;
        d->id = (enum le_dir_id)i;
        d->bucket.last_ns = c->accepted_ns; /* starts empty: no burst saved up */
        uv_timer_init(server->loop, &d->timer);
        d->timer.data = d;
    }
    c->dir[LE_UP].src = (uv_stream_t *)&c->client;
    c->dir[LE_UP].dst = (uv_stream_t *)&c->target;
    c->dir[LE_DOWN].src = (uv_stream_t *)&c->target;
    c->dir[LE_DOWN].dst = (uv_stream_t *)&c->client;
    c->client.data = &c->dir[LE_UP];
    c->target.data = &c->dir[LE_DOWN];
    px_list_insert_tail(&l->conns, &c->node);
    l->accepted_count++;
    l->active_count++;
    /* SYN up, SYN-ACK down, then the first bytes go up: they arrive at
     * accept + 2 up + down at the earliest. */
    if (l->set[LE_KEY_HANDSHAKE])
        c->dir[LE_UP].last_release_ns =
            c->accepted_ns + (2 * l->set[LE_KEY_UP_MS] + l->set[LE_KEY_DOWN_MS]) * 1000000;

    r = uv_accept(server, (uv_stream_t *)&c->client);
    if (r == 0) {
        uv_tcp_nodelay(&c->client, 1);
        r = dir_read_start(&c->dir[LE_UP]);
    }
    if (r == 0)
        r = uv_tcp_connect(&c->connect_req, &c->target, (const struct sockaddr *)&l->target_ss,
                           on_target_connect);
    if (r != 0) {
        le_log("link=%s event=accept-failed err=%s", l->name, uv_err_name(r));
        conn_close(c, true);
        return;
    }
    if (l->st->verbose)
        le_log("link=%s event=accept", l->name);
}

/* --------------------------------------------------------------- control */

static struct le_reply *reply_new(size_t cap)
{
    struct le_reply *rp = malloc(sizeof(*rp) + cap);

    if (rp == NULL)
        return NULL;
    rp->len = 0;
    rp->cap = cap;
    rp->text[0] = '\0';
    return rp;
}

__attribute__((format(printf, 2, 3))) static void reply_add(struct le_reply *rp, const char *fmt,
                                                            ...)
{
    va_list ap;
    int n;

    if (rp->len + 1 >= rp->cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(rp->text + rp->len, rp->cap - rp->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        rp->len += (size_t)n < rp->cap - rp->len ? (size_t)n : rp->cap - rp->len - 1;
}

static void on_reply_written(uv_write_t *req, int status)
{
    (void)status;
    free(px_container_of(req, struct le_reply, req));
}

static void on_ctl_closed(uv_handle_t *h)
{
    free(px_container_of(h, struct le_ctl, tcp));
}

static void on_ctl_shutdown(uv_shutdown_t *req, int status)
{
    struct le_ctl *ctl = px_container_of(req, struct le_ctl, shutdown_req);

    (void)status;
    uv_close((uv_handle_t *)&ctl->tcp, on_ctl_closed);
}

/* Closes a control connection after the replies queued on it are sent. */
static void ctl_close(struct le_ctl *ctl)
{
    if (ctl->closing)
        return;
    ctl->closing = true;
    px_list_remove(&ctl->node);
    uv_read_stop((uv_stream_t *)&ctl->tcp);
    if (uv_shutdown(&ctl->shutdown_req, (uv_stream_t *)&ctl->tcp, on_ctl_shutdown) != 0)
        uv_close((uv_handle_t *)&ctl->tcp, on_ctl_closed);
}

/* Sends rp (plus a newline) on ctl; takes ownership of rp. */
static void ctl_send(struct le_ctl *ctl, struct le_reply *rp)
{
    uv_buf_t buf;

    if (rp->len + 1 < rp->cap)
        rp->text[rp->len++] = '\n';
    else
        rp->text[rp->cap - 1] = '\n';
    buf = uv_buf_init(rp->text, (unsigned)rp->len);
    if (uv_write(&rp->req, (uv_stream_t *)&ctl->tcp, &buf, 1, on_reply_written) != 0) {
        free(rp);
        ctl_close(ctl);
    }
}

/* Links named by word (a name, a listen port or *), into out; their count. */
static size_t find_links(struct le_state *st, const char *word, struct le_link **out)
{
    size_t n = 0;
    uint64_t port;

    for (size_t i = 0; i < st->link_count; i++) {
        struct le_link *l = &st->links[i];
        if (strcmp(word, "*") == 0 || strcmp(word, l->name) == 0)
            out[n++] = l;
    }
    if (n == 0 && parse_u64(word, false, &port) == 0) {
        for (size_t i = 0; i < st->link_count; i++)
            if (st->links[i].listen_port == port)
                out[n++] = &st->links[i];
    }
    return n;
}

static void cmd_set(struct le_state *st, char **argv, int argc, struct le_reply *rp)
{
    struct le_link *links[LE_MAX_LINKS];
    struct le_patch p;
    char err[256];
    size_t n;

    if (argc < 3) {
        reply_add(rp, "err usage: set LINK KEY=VALUE...");
        return;
    }
    n = find_links(st, argv[1], links);
    if (n == 0) {
        reply_add(rp, "err no link %s", argv[1]);
        return;
    }
    patch_init(&p);
    for (int i = 2; i < argc; i++) {
        if (patch_add(&p, argv[i], err, sizeof(err)) != 0) {
            reply_add(rp, "err %s", err);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char text[LE_LINK_TEXT_BYTES];
        link_apply(links[i], &p);
        link_format_settings(links[i], text, sizeof(text));
        le_log("set %s", text);
    }
    reply_add(rp, "ok");
}

/* get and stats: one record per link, " ; " between them. */
static void cmd_show(struct le_state *st, char **argv, int argc, struct le_reply *rp, bool stats)
{
    struct le_link *links[LE_MAX_LINKS];
    size_t n = find_links(st, argc > 1 ? argv[1] : "*", links);

    if (n == 0) {
        reply_add(rp, "err no link %s", argc > 1 ? argv[1] : "");
        return;
    }
    reply_add(rp, "ok");
    for (size_t i = 0; i < n; i++) {
        struct le_link *l = links[i];
        char text[LE_LINK_TEXT_BYTES];
        uint64_t queued[2] = {0, 0};
        struct px_list *it;

        if (i > 0)
            reply_add(rp, " ;");
        if (!stats) {
            link_format_settings(l, text, sizeof(text));
            reply_add(rp, " %s", text);
            continue;
        }
        for (it = l->conns.next; it != &l->conns; it = it->next) {
            struct le_conn *c = px_container_of(it, struct le_conn, node);
            queued[LE_UP] += c->dir[LE_UP].queued_bytes;
            queued[LE_DOWN] += c->dir[LE_DOWN].queued_bytes;
        }
        reply_add(rp,
                  " name=%s accepted=%" PRIu64 " active=%" PRIu64 " failed=%" PRIu64
                  " up_bytes=%" PRIu64 " down_bytes=%" PRIu64 " up_queued_bytes=%" PRIu64
                  " down_queued_bytes=%" PRIu64,
                  l->name, l->accepted_count, l->active_count, l->failed_count, l->bytes[LE_UP],
                  l->bytes[LE_DOWN], queued[LE_UP], queued[LE_DOWN]);
    }
}

/* Runs one command line and queues its reply. */
static void ctl_command(struct le_ctl *ctl, char *line)
{
    struct le_state *st = ctl->st;
    char *argv[32];
    int argc = 0;
    char *save = NULL;
    char *w;
    struct le_reply *rp;
    bool quit = false;

    for (w = strtok_r(line, " \t\r", &save); w != NULL && argc < (int)PX_ARRAY_LEN(argv);
         w = strtok_r(NULL, " \t\r", &save))
        argv[argc++] = w;
    if (argc == 0)
        return;
    rp = reply_new(64 + (st->link_count + 1) * LE_LINK_TEXT_BYTES);
    if (rp == NULL) {
        ctl_close(ctl);
        return;
    }
    if (strcmp(argv[0], "set") == 0)
        cmd_set(st, argv, argc, rp);
    else if (strcmp(argv[0], "get") == 0)
        cmd_show(st, argv, argc, rp, false);
    else if (strcmp(argv[0], "stats") == 0)
        cmd_show(st, argv, argc, rp, true);
    else if (strcmp(argv[0], "ping") == 0)
        reply_add(rp, "ok pong");
    else if (strcmp(argv[0], "shutdown") == 0) {
        reply_add(rp, "ok");
        quit = true;
    } else
        reply_add(rp, "err unknown command %.64s (set get stats ping shutdown)", argv[0]);
    ctl_send(ctl, rp);
    if (quit) {
        le_log("event=shutdown reason=control");
        state_shutdown(st);
    }
}

static void on_ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct le_ctl *ctl = h->data;

    (void)suggested;
    *buf = uv_buf_init(ctl->line + ctl->line_len, (unsigned)(sizeof(ctl->line) - ctl->line_len));
}

static void on_ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct le_ctl *ctl = s->data;
    char *nl;

    (void)buf;
    if (nread < 0) {
        ctl_close(ctl);
        return;
    }
    ctl->line_len += (size_t)nread;
    while (!ctl->closing && (nl = memchr(ctl->line, '\n', ctl->line_len)) != NULL) {
        size_t used = (size_t)(nl - ctl->line) + 1;
        *nl = '\0';
        ctl_command(ctl, ctl->line);
        memmove(ctl->line, ctl->line + used, ctl->line_len - used);
        ctl->line_len -= used;
    }
    if (!ctl->closing && ctl->line_len == sizeof(ctl->line)) {
        struct le_reply *rp = reply_new(64);
        if (rp != NULL) {
            reply_add(rp, "err line too long");
            ctl_send(ctl, rp);
        }
        ctl_close(ctl);
    }
}

static void on_control_connection(uv_stream_t *server, int status)
{
    struct le_state *st = server->data;
    struct le_ctl *ctl;

    if (status < 0)
        return;
    ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return;
    ctl->st = st;
    uv_tcp_init(server->loop, &ctl->tcp);
    ctl->tcp.data = ctl;
    px_list_insert_tail(&st->ctls, &ctl->node);
    if (uv_accept(server, (uv_stream_t *)&ctl->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&ctl->tcp, on_ctl_alloc, on_ctl_read) != 0) {
        ctl->closing = true;
        px_list_remove(&ctl->node);
        uv_close((uv_handle_t *)&ctl->tcp, on_ctl_closed);
    }
}

/* -------------------------------------------------------------- lifecycle */

/*
 * Starts the clean stop: closes listeners, connections, control clients
 * (after their pending replies), signals and the quit timer. uv_run then
 * returns once every close callback ran. Idempotent.
 */
static void state_shutdown(struct le_state *st)
{
    if (st->stopping)
        return;
    st->stopping = true;
    for (size_t i = 0; i < st->link_count; i++) {
        struct le_link *l = &st->links[i];
        if (l->listener_init && !uv_is_closing((uv_handle_t *)&l->listener))
            uv_close((uv_handle_t *)&l->listener, NULL);
        while (!px_list_empty(&l->conns))
            conn_close(px_container_of(l->conns.next, struct le_conn, node), false);
    }
    if (st->has_control && !uv_is_closing((uv_handle_t *)&st->control))
        uv_close((uv_handle_t *)&st->control, NULL);
    while (!px_list_empty(&st->ctls))
        ctl_close(px_container_of(st->ctls.next, struct le_ctl, node));
    uv_close((uv_handle_t *)&st->sig_term, NULL);
    uv_close((uv_handle_t *)&st->sig_int, NULL);
    uv_close((uv_handle_t *)&st->quit_timer, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    le_log("event=shutdown reason=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
    state_shutdown(h->data);
}

static void on_quit_timer(uv_timer_t *t)
{
    le_log("event=shutdown reason=quit-after");
    state_shutdown(t->data);
}

/* uv_walk callback for the final sweep: anything still open is a leak. */
static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        le_log("event=leak handle=%s", uv_handle_type_name(uv_handle_get_type(h)));
        uv_close(h, NULL);
    }
}

/* Binds and listens on ss; prints the bound address into text. */
static int listen_on(uv_loop_t *loop, uv_tcp_t *t, const struct sockaddr_storage *ss,
                     uv_connection_cb cb, void *data, char *text, size_t textlen, uint16_t *port)
{
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    int r;

    uv_tcp_init(loop, t);
    t->data = data;
    r = uv_tcp_bind(t, (const struct sockaddr *)ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)t, LE_BACKLOG, cb);
    if (r == 0)
        r = uv_tcp_getsockname(t, (struct sockaddr *)&bound, &len);
    if (r != 0)
        return r;
    format_addr(&bound, text, textlen);
    if (port != NULL)
        *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

/* Parses one --link spec into l (not yet bound); 0 or -1 with err. */
static int link_parse(struct le_link *l, const char *spec, const struct le_patch *defaults,
                      char *err, size_t errlen)
{
    char buf[512];
    char *parts[3];
    int nparts = 0;
    char *settings, *save = NULL, *w, *p;
    struct le_patch patch;

    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "--link %.40s...: too long", spec);
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    settings = strchr(buf, ',');
    if (settings != NULL)
        *settings++ = '\0';
    for (p = buf; nparts < 3; nparts++) {
        parts[nparts] = p;
        p = strchr(p, '=');
        if (p == NULL) {
            nparts++;
            break;
        }
        *p++ = '\0';
    }
    if (p != NULL || nparts < 2) {
        snprintf(err, errlen, "--link %s: want [NAME=]LISTEN=TARGET[,KEY=VALUE...]", spec);
        return -1;
    }
    if (nparts == 3) {
        if (parts[0][0] == '\0' || strlen(parts[0]) >= sizeof(l->name) ||
            strspn(parts[0], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                strlen(parts[0]) ||
            strcmp(parts[0], "*") == 0) {
            snprintf(err, errlen, "--link %s: NAME is 1-31 of [A-Za-z0-9_.-]", spec);
            return -1;
        }
        snprintf(l->name, sizeof(l->name), "%s", parts[0]);
    }
    if (parse_addr(parts[nparts - 2], &l->listen_ss, err, errlen) != 0 ||
        parse_addr(parts[nparts - 1], &l->target_ss, err, errlen) != 0)
        return -1;
    format_addr(&l->target_ss, l->target_text, sizeof(l->target_text));
    link_apply(l, defaults);
    patch_init(&patch);
    for (w = settings != NULL ? strtok_r(settings, ",", &save) : NULL; w != NULL;
         w = strtok_r(NULL, ",", &save)) {
        if (patch_add(&patch, w, err, errlen) != 0)
            return -1;
    }
    link_apply(l, &patch);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: linkemu --link [NAME=]LISTEN=TARGET[,KEY=VALUE...] [--link ...]\n"
               "               [--control ADDR] [--delay-ms N] [--up-ms N] [--down-ms N]\n"
               "               [--jitter-pct N] [--rate-bps N] [--handshake]\n"
               "               [--queue-bytes N] [--quit-after SECONDS] [--seed N] [-v]\n"
               "  KEYs: delay_ms up_ms down_ms jitter_pct rate_bps up_rate_bps down_rate_bps\n"
               "        handshake (rate_bps is BYTES per second; k/M/G = x1000)\n"
               "  ADDR: 127.x.y.z:PORT | [::1]:PORT | PORT (loopback only)\n"
               "  control lines: set LINK KEY=VALUE... | get [LINK] | stats [LINK] | ping |\n"
               "                 shutdown      (LINK: name, listen port or *)\n"
               "  See the header of bench/linkemu.c for the model.\n");
}

/* Fetches the value of option argv[*i] into *val; false (with a message)
 * if it is missing. */
static bool opt_value(int argc, char **argv, int *i, const char **val)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "linkemu: %s needs a value\n", argv[*i]);
        return false;
    }
    *val = argv[++*i];
    return true;
}

int main(int argc, char **argv)
{
    static struct le_state state; /* large (links[]); the only instance */
    struct le_state *st = &state;
    const char *link_specs[LE_MAX_LINKS];
    size_t nspecs = 0;
    struct le_patch defaults;
    char err[256];
    uint64_t seed = 0;
    bool has_seed = false;
    int r, rc = 0;

    patch_init(&defaults);
    st->queue_high_bytes = LE_QUEUE_BYTES_DEFAULT;
    px_list_init(&st->ctls);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        const char *word = NULL; /* a --KEY flag maps to this settings word */
        uint64_t n;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0) {
            st->verbose = true;
            continue;
        } else if (strcmp(a, "--handshake") == 0) {
            defaults.value[LE_KEY_HANDSHAKE] = 1;
            defaults.has[LE_KEY_HANDSHAKE] = true;
            continue;
        }
        if (!opt_value(argc, argv, &i, &v)) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--link") == 0) {
            if (nspecs == LE_MAX_LINKS) {
                fprintf(stderr, "linkemu: at most %d links\n", LE_MAX_LINKS);
                return 2;
            }
            link_specs[nspecs++] = v;
        } else if (strcmp(a, "--control") == 0) {
            if (parse_addr(v, &st->control_ss, err, sizeof(err)) != 0) {
                fprintf(stderr, "linkemu: --control %s\n", err);
                return 2;
            }
            st->has_control = true;
        } else if (strcmp(a, "--delay-ms") == 0) {
            word = "delay_ms";
        } else if (strcmp(a, "--up-ms") == 0) {
            word = "up_ms";
        } else if (strcmp(a, "--down-ms") == 0) {
            word = "down_ms";
        } else if (strcmp(a, "--jitter-pct") == 0) {
            word = "jitter_pct";
        } else if (strcmp(a, "--rate-bps") == 0) {
            word = "rate_bps";
        } else if (strcmp(a, "--queue-bytes") == 0) {
            if (parse_u64(v, true, &n) != 0 || n < LE_READ_BYTES || n > (1ull << 32)) {
                fprintf(stderr, "linkemu: --queue-bytes %s: want 64k..4G\n", v);
                return 2;
            }
            st->queue_high_bytes = (size_t)n;
        } else if (strcmp(a, "--quit-after") == 0) {
            char *end;
            double s = strtod(v, &end);
            if (*end != '\0' || !(s > 0) || s > 1e7) {
                fprintf(stderr, "linkemu: --quit-after %s: want seconds > 0\n", v);
                return 2;
            }
            st->quit_after_ms = (uint64_t)(s * 1000 + 0.5);
            if (st->quit_after_ms == 0)
                st->quit_after_ms = 1;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(v, false, &seed) != 0) {
                fprintf(stderr, "linkemu: --seed %s: want an integer\n", v);
                return 2;
            }
            has_seed = true;
        } else {
            fprintf(stderr, "linkemu: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (word != NULL) {
            char kv[128];
            snprintf(kv, sizeof(kv), "%s=%s", word, v);
            if (patch_add(&defaults, kv, err, sizeof(err)) != 0) {
                fprintf(stderr, "linkemu: %s %s\n", a, err);
                return 2;
            }
        }
    }
    if (nspecs == 0) {
        fprintf(stderr, "linkemu: no --link given\n");
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < nspecs; i++) {
        struct le_link *l = &st->links[i];
        l->st = st;
        px_list_init(&l->conns);
        if (link_parse(l, link_specs[i], &defaults, err, sizeof(err)) != 0) {
            fprintf(stderr, "linkemu: %s\n", err);
            return 2;
        }
        for (size_t j = 0; j < i; j++) {
            if (l->name[0] != '\0' && strcmp(l->name, st->links[j].name) == 0) {
                fprintf(stderr, "linkemu: two links named %s\n", l->name);
                return 2;
            }
        }
    }
    st->link_count = nspecs;
    st->rnd = has_seed ? seed : uv_hrtime() ^ ((uint64_t)getpid() << 32);
    if (st->rnd == 0)
        st->rnd = 0x9e3779b97f4a7c15ull;

    /* Writing to a peer that reset must be an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    st->loop = uv_default_loop();
    uv_signal_init(st->loop, &st->sig_term);
    uv_signal_init(st->loop, &st->sig_int);
    uv_timer_init(st->loop, &st->quit_timer);
    st->sig_term.data = st->sig_int.data = st->quit_timer.data = st;
    uv_signal_start(&st->sig_term, on_signal, SIGTERM);
    uv_signal_start(&st->sig_int, on_signal, SIGINT);
    if (st->quit_after_ms > 0)
        uv_timer_start(&st->quit_timer, on_quit_timer, st->quit_after_ms, 0);

    for (size_t i = 0; i < st->link_count; i++) {
        struct le_link *l = &st->links[i];
        char listen_text[LE_ADDR_BYTES];
        l->listener_init = true;
        format_addr(&l->listen_ss, listen_text, sizeof(listen_text));
        r = listen_on(st->loop, &l->listener, &l->listen_ss, on_link_connection, l, l->listen_text,
                      sizeof(l->listen_text), &l->listen_port);
        if (r != 0) {
            fprintf(stderr, "linkemu: listen %s: %s\n", listen_text, uv_strerror(r));
            rc = 1;
            break;
        }
        if (l->name[0] == '\0')
            snprintf(l->name, sizeof(l->name), "%u", (unsigned)l->listen_port);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(l->name, st->links[j].name) == 0) {
                fprintf(stderr, "linkemu: two links named %s\n", l->name);
                rc = 2;
                break;
            }
        }
        if (rc != 0)
            break;
    }
    if (rc == 0 && st->has_control) {
        char control_text[LE_ADDR_BYTES];
        format_addr(&st->control_ss, control_text, sizeof(control_text));
        r = listen_on(st->loop, &st->control, &st->control_ss, on_control_connection, st,
                      st->control_text, sizeof(st->control_text), NULL);
        if (r != 0) {
            fprintf(stderr, "linkemu: control %s: %s\n", control_text, uv_strerror(r));
            rc = 1;
            uv_close((uv_handle_t *)&st->control, NULL);
            st->has_control = false;
        }
    }
    if (rc == 0) {
        for (size_t i = 0; i < st->link_count; i++) {
            char text[LE_LINK_TEXT_BYTES];
            link_format_settings(&st->links[i], text, sizeof(text));
            printf("link %s\n", text);
        }
        printf("ready control=%s\n", st->has_control ? st->control_text : "none");
        fflush(stdout);
        uv_run(st->loop, UV_RUN_DEFAULT);
    }
    state_shutdown(st);
    uv_run(st->loop, UV_RUN_DEFAULT);
    uv_walk(st->loop, on_walk_close, NULL);
    uv_run(st->loop, UV_RUN_DEFAULT);
    r = uv_loop_close(st->loop);
    if (r != 0) {
        le_log("event=exit err=uv_loop_close:%s", uv_err_name(r));
        return 1;
    }
    return rc;
}
