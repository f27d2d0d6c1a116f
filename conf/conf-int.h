/*
 * conf internals, shared by the files of conf/ and by its unit tests.
 *
 * Loading is three steps:
 *   1. conf/parse.c turns YAML text into a small tree of struct conf_node
 *      (mapping / sequence / scalar, each with its 1-based line and column).
 *      YAML problems and duplicate keys are reported here.
 *   2. conf/directives.c walks the tree with static const directive tables,
 *      one per section, and fills the struct conf. Generic value parsers
 *      (conf/value.c) turn scalars into milliseconds, bytes, addresses, ...
 *   3. conf/validate.c (conf__finish) runs once everything is merged: it
 *      parses zones (conf/zones.c; routes name regions, matches need geo
 *      databases, and YAML keys come in any order), writes the non-integer
 *      defaults, and checks rules spanning sections.
 *   conf/conf.c owns the public API and the error buffer.
 *
 * A new section is added by writing a struct, a directive table and, where
 * no generic parser fits, one parse_fn.
 */
#ifndef CONF_CONF_INT_H
#define CONF_CONF_INT_H

#include "conf/conf.h"

#include <stdint.h>

#define CONF_MAX_ERRORS 50              /* errors written before giving up */
#define CONF_MAX_DEPTH 64               /* YAML nesting limit, against stack exhaustion */
#define CONF_MAX_FILE_BYTES (16u << 20) /* larger files are refused */
#define CONF_PATH_MAX 256               /* key path shown in messages */
#define CONF_FILE_PATH_MAX 4096         /* a file named in the config (PATH_MAX) */
#define CONF_MSG_MAX 640                /* one error line, truncated beyond */

/* Sentinels for "not set in the file" before the merge step (STYLE §28). */
#define CONF_UNSET_U32 UINT32_MAX
#define CONF_UNSET_U64 UINT64_MAX

/* ---- node tree (conf/parse.c) ---- */

enum conf_node_type {
    CONF_NODE_BAD,    /* placeholder for a node already reported as an error */
    CONF_NODE_SCALAR, /* text */
    CONF_NODE_SEQ,    /* items */
    CONF_NODE_MAP,    /* pairs */
};

struct conf_pair;

struct conf_node {
    enum conf_node_type type;
    unsigned line;            /* 1-based line of the node's first character */
    unsigned col;             /* 1-based column, in characters */
    char *text;               /* owned; SCALAR only: NUL-terminated, no inner NUL */
    size_t len;               /* SCALAR only: strlen(text) */
    unsigned is_null : 1;     /* SCALAR: plain "", "~", "null", "Null" or "NULL" */
    unsigned is_quoted : 1;   /* SCALAR: written in '...' or "..." (or a block scalar) */
    struct conf_node **items; /* owned; SEQ: nitems nodes, in file order */
    struct conf_pair *pairs;  /* owned; MAP: nitems pairs, in file order, keys unique */
    size_t nitems;            /* number of items or pairs */
};

struct conf_pair {
    struct conf_node *key;   /* owned; always a SCALAR */
    struct conf_node *value; /* owned; never NULL */
};

/* ---- error reporting and key paths (conf/conf.c) ---- */

/* One reported error, kept so the buffer can list errors in file order. */
struct conf_msg {
    unsigned line, col;      /* position, for sorting; line 0 = none */
    char text[CONF_MSG_MAX]; /* the whole "NAME:LINE:COL: message" line */
};

struct conf_ctx {
    const char *name; /* borrowed; file name used as the PATH of every message */
    char *err;        /* borrowed; caller's buffer, or NULL */
    size_t errlen;    /* size of err in bytes */
    unsigned nerrors; /* errors reported, including those past CONF_MAX_ERRORS */
    struct conf_msg msgs[CONF_MAX_ERRORS]; /* the first errors, sorted by position */
    size_t nmsgs;                          /* entries used in msgs */
    char path[CONF_PATH_MAX]; /* key path of the node being parsed, "regions.cn.backends[1]" */
    size_t pathlen;           /* strlen(path) */
    struct conf *conf;        /* borrowed; the conf being filled, for cross references */
};

/*
 * Prepares CTX for one load: no errors, empty key path. NAME and ERR are
 * borrowed for the life of CTX; ERR may be NULL or ERRLEN 0 (errors are then
 * only counted). Writes an empty string to ERR.
 */
void conf__ctx_init(struct conf_ctx *ctx, const char *name, char *err, size_t errlen);

/*
 * Reports one error at LINE:COL (1-based; LINE 0 means "no position": the
 * line is then "NAME: message"). The first CONF_MAX_ERRORS errors are kept
 * and the caller's buffer is rewritten to list them in file order (by line,
 * then column, then report order), one per line, separated by '\n'; past
 * that, one final "too many errors" line is added and the rest only counted.
 */
void conf__err_at(struct conf_ctx *ctx, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Reports an error at node N, prefixed by the current key path ("timeouts.
 * connect: ...") when there is one. N must not be NULL.
 */
void conf__err(struct conf_ctx *ctx, const struct conf_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like conf__err(), at a stored position POS (line 0: no position). */
void conf__err_pos(struct conf_ctx *ctx, struct conf_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns the position of node N as a struct conf_pos. */
struct conf_pos conf__pos(const struct conf_node *n);

/*
 * Appends a component to the key path: ".name" (or "name" at the top), or
 * "[i]" when FMT starts with '['. Returns the previous length, to be passed
 * to conf__path_pop(). A path that would not fit is truncated, never overrun.
 */
size_t conf__path_push(struct conf_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Restores the key path to the length MARK returned by conf__path_push(). */
void conf__path_pop(struct conf_ctx *ctx, size_t mark);

/*
 * Copies S into BUF (LEN > 4 bytes) for quoting in a message: control bytes
 * become '?', and text longer than the buffer ends in "...". Returns BUF.
 */
const char *conf__quote(const char *s, char *buf, size_t len);

/* ---- node tree (conf/parse.c) ---- */

/*
 * Parses the single YAML document in TEXT (LEN bytes, need not be
 * NUL-terminated) into a tree. Reports YAML errors, duplicate keys, aliases
 * and non-scalar keys through CTX. Returns the root (caller owns it; free
 * with conf__node_free), or NULL when the text is not YAML, is empty, or
 * memory ran out; errors are then already reported. A returned tree can still
 * have errors reported against it (ctx->nerrors > 0): the bad parts are
 * dropped or turned into CONF_NODE_BAD so callers can keep going.
 */
struct conf_node *conf__tree_parse(struct conf_ctx *ctx, const char *text, size_t len);

/* Releases N and everything below it. Accepts NULL. */
void conf__node_free(struct conf_node *n);

/* Returns "a string", "a list", "a mapping" or "an empty value", for messages. */
const char *conf__node_kind(const struct conf_node *n);

/* Returns the value of KEY in mapping MAP, or NULL when absent or MAP is no mapping. */
const struct conf_node *conf__map_get(const struct conf_node *map, const char *key);

/*
 * Returns the text of scalar N, or NULL after reporting "missing value" or
 * "expected a value, got a list" (nothing is reported for CONF_NODE_BAD).
 * The text is borrowed from N.
 */
const char *conf__scalar(struct conf_ctx *ctx, const struct conf_node *n);

/*
 * Checks that N is a TYPE node (CONF_NODE_SEQ or CONF_NODE_MAP) for a key
 * WHAT describes ("a list of backends"). Returns 1 when it is, 0 when the
 * key was left empty ("key:"), or -1 after reporting "expected WHAT, got
 * ..." (nothing is reported again for CONF_NODE_BAD).
 */
int conf__expect(struct conf_ctx *ctx, const struct conf_node *n, enum conf_node_type type,
                 const char *what);

/* ---- value parsers (conf/value.c) ----
 * Each returns NULL on success, or a static message saying what is wrong
 * (never containing the value itself), and writes *out only on success.
 */

/*
 * Duration: a decimal number with a unit, "500ms", "2s", "1.5s", "1m", "1h",
 * "7d". The unit is required; the result must be a whole number of
 * milliseconds. Negative values and overflow are refused; range checks are
 * the caller's.
 */
const char *conf__duration_parse(const char *s, uint64_t *out_ms);

/*
 * Size: an integer with an optional k, m or g suffix (powers of 1024, any
 * case, optionally followed by "b" or "ib": "16k", "16KiB", "1MB", "512").
 */
const char *conf__size_parse(const char *s, uint64_t *out_bytes);

/* Unsigned decimal integer: digits only, no sign, at most UINT64_MAX. */
const char *conf__uint_parse(const char *s, uint64_t *out);

/* Boolean: true/false, yes/no, on/off (any case); *out is 1 or 0. */
const char *conf__bool_parse(const char *s, int *out);

/*
 * Numeric socket address: "1.2.3.4:80" or "[::1]:80", port 1..65535. Fills
 * *out (sockaddr, length, canonical text). Host names are refused with a
 * message saying they are only allowed for backends (conf__target_parse).
 */
const char *conf__addr_parse(const char *s, struct conf_addr *out);

/*
 * Numeric address with an optional port: "1.2.3.4", "::1" (no brackets
 * needed without a port), "1.2.3.4:53", "[::1]:5353". A missing port is
 * DEFPORT. Fills *out like conf__addr_parse().
 */
const char *conf__addr_parse_port(const char *s, uint16_t defport, struct conf_addr *out);

/*
 * A backend target: numeric "ip:port" / "[ip6]:port" (fills *ADDR, *IS_NAME
 * = 0) or "name:port" with a valid host name (copies the name to HOST, of
 * HOSTLEN bytes, *IS_NAME = 1). *PORT is set either way.
 */
const char *conf__target_parse(const char *s, struct conf_addr *addr, char *host, size_t hostlen,
                               uint16_t *port, int *is_name);

/*
 * DNS name (RFC 1123): labels of 1..63 letters, digits and '-' (and '_' when
 * ALLOW_UNDERSCORE, for SRV names), not starting or ending with '-', at most
 * 253 characters, one optional trailing dot, the last label not all digits.
 */
const char *conf__hostname_check(const char *s, int allow_underscore);

/*
 * Network "10.0.0.0/8", "2001:db8::/32" or a bare address (/32, /128) into
 * *out. Host bits are cleared; an IPv4-mapped IPv6 prefix of length >= 96
 * becomes the IPv4 network. *out's pos is left zero.
 */
const char *conf__cidr_parse(const char *s, struct conf_cidr *out);

/* 1 when address ADDR (4 or 16 bytes by FAMILY) is in network C, else 0. */
int conf__cidr_contains(const struct conf_cidr *c, int family, const uint8_t *addr);

/*
 * HTTP field name (RFC 9110 token, 1..64 characters) that is not one of the
 * headers HTTP framing or the proxy itself uses (Host, Connection,
 * Content-Length, X-Forwarded-For, ...).
 */
const char *conf__header_name_check(const char *s);

/* Percentage "10" or "10%": a whole number; range checks are the caller's. */
const char *conf__pct_parse(const char *s, uint64_t *out);

/* HTTP status "200" or range "200-399": 100..599 and lo <= hi. */
const char *conf__status_range_parse(const char *s, uint32_t *lo, uint32_t *hi);

/* AS number "4134" or "AS4134" (any case): 1..4294967295. */
const char *conf__asn_parse(const char *s, uint32_t *out);

/* Returns 1 when A is a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.x.x. */
int conf__addr_is_loopback(const struct conf_addr *a);

/* Returns 1 when S is a valid region/zone name, [A-Za-z0-9_-]{1,63}, else 0. */
int conf__name_valid(const char *s);

/*
 * Stores S in *FIELD (freeing what was there) as a file path: a relative
 * path is taken relative to the config file's directory, as nginx and
 * HAProxy do, so the same file works whatever the working directory (under
 * systemd it is /). 0, or -1 reported at N.
 */
int conf__store_path(struct conf_ctx *ctx, const struct conf_node *n, char **field, const char *s);

/* Writes MS as the shortest exact duration text ("7d", "1500ms") into BUF. Returns BUF. */
const char *conf__duration_format(uint64_t ms, char *buf, size_t len);

/* Writes BYTES as the shortest exact size text ("16k", "1m", "1000") into BUF. Returns BUF. */
const char *conf__size_format(uint64_t bytes, char *buf, size_t len);

/* ---- directive tables (conf/directives.c) ---- */

struct conf_directive;

/*
 * Parses value node N of directive D into the struct at BASE (the field is at
 * BASE + D->offset). Reports every problem through CTX, with CTX's key path
 * already naming the directive. Returns 0, or -1 when an error was reported.
 */
typedef int (*conf_parse_cb)(struct conf_ctx *ctx, const struct conf_node *n,
                             const struct conf_directive *d, void *base);

struct conf_section {
    const struct conf_directive *directives; /* borrowed; static table */
    size_t ndirectives;
};

#define CONF_F_REQUIRED 0x1u /* the key must be present */

struct conf_directive {
    const char *name;               /* key in the YAML mapping */
    conf_parse_cb parse;            /* value parser */
    size_t offset;                  /* offsetof the field in the section's struct */
    size_t size;                    /* sizeof an integer field (4 or 8); 0 = not merged */
    uint64_t min, max;              /* accepted range of integer values, inclusive */
    uint64_t def;                   /* default of an integer field when absent */
    const struct conf_section *sub; /* nested section for conf_parse_section, else NULL */
    unsigned flags;                 /* CONF_F_* */
};

/* The top level of the file, on struct conf. */
extern const struct conf_section conf__root_section;
/* One region's mapping, on struct conf_region. */
extern const struct conf_section conf__region_section;
/* One backend written as a mapping, on struct conf_backend. */
extern const struct conf_section conf__backend_section;
/* One probe mapping, on struct conf_probe (a region's, or a backend's override). */
extern const struct conf_section conf__probe_section;
/* One listen entry written as a mapping, on struct conf_listener. */
extern const struct conf_section conf__listener_section;
/* One geo.databases entry, on struct conf_geo_db. */
extern const struct conf_section conf__geo_db_section;
/* One zone (conf/zones.c), on struct conf_zone; match and route are its .sub sections. */
extern const struct conf_section conf__zone_section;

/* Generic parsers, usable as conf_directive.parse; each follows conf_parse_cb. */
int conf_parse_ms(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                  void *base);
int conf_parse_bytes(struct conf_ctx *ctx, const struct conf_node *n,
                     const struct conf_directive *d, void *base);
int conf_parse_uint(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                    void *base);
int conf_parse_bool(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                    void *base);
int conf_parse_addr(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                    void *base);
int conf_parse_section(struct conf_ctx *ctx, const struct conf_node *n,
                       const struct conf_directive *d, void *base);
/* A duration, or `off` stored as 0 (d->min must then be >= 1). */
int conf_parse_ms_off(struct conf_ctx *ctx, const struct conf_node *n,
                      const struct conf_directive *d, void *base);
/* A percentage "10" or "10%" into a uint32_t field, within d->min..d->max. */
int conf_parse_pct(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                   void *base);
/* Accepts nothing itself: the key is parsed later by conf__finish (zones). */
int conf_parse_deferred(struct conf_ctx *ctx, const struct conf_node *n,
                        const struct conf_directive *d, void *base);

/*
 * Parses the value of `zones` (N may be NULL: absent) into C->zones, adding
 * the implicit default zone when none is named "default". Needs C->regions
 * and C->geo parsed. Returns 0, or -1 when anything was reported.
 * (conf/zones.c)
 */
int conf__zones_parse(struct conf_ctx *ctx, const struct conf_node *n, struct conf *c);

/* Releases what zone Z owns (not Z itself). Accepts a zeroed zone. (conf/zones.c) */
void conf__zone_dispose(struct conf_zone *z);

/*
 * After the whole tree is parsed and merged: zones, derived defaults and the
 * checks that need several sections (admin token, PROXY protocol without
 * trusted_proxies, dns TTLs). ROOT is the document's top mapping.
 * (conf/validate.c)
 */
void conf__finish(struct conf_ctx *ctx, const struct conf_node *root, struct conf *c);

/* Releases what listener TLS settings T own (not T itself). Accepts a zeroed T. */
void conf__tls_server_dispose(struct conf_tls_server *t);

/* Releases the strings of upstream TLS settings T (not T itself). Accepts a zeroed T. */
void conf__tls_client_dispose(struct conf_tls_client *t);

/* Releases the strings of probe P (not P itself). */
void conf__probe_dispose(struct conf_probe *p);

/*
 * Sets every integer field of section S (and of its nested sections) at BASE
 * to CONF_UNSET_U32/U64, before parsing.
 */
void conf__section_unset(const struct conf_section *s, void *base);

/*
 * Fills every integer field still unset: from PARENT (a struct of the same
 * type, or NULL) when the parent's is set, else from the table default.
 */
void conf__section_merge(const struct conf_section *s, void *base, const void *parent);

/*
 * Parses mapping N with the directives of S into BASE: unknown keys, wrong
 * types and missing required keys are reported; every key is visited even
 * after an error. A null value (an empty "limits:") counts as an empty
 * mapping. Returns 0, or -1 when anything was reported.
 */
int conf__section_parse(struct conf_ctx *ctx, const struct conf_node *n,
                        const struct conf_section *s, void *base);

#endif
