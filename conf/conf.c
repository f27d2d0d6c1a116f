/*
 * conf: the public API (load, free, lookups) and the error buffer every other
 * file of conf/ reports through.
 */
#include "conf/conf-int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

/*
 * Resets CTX for one load, borrowing NAME and ERR (may be NULL); writes "" to ERR.
 * Full contract in conf-int.h.
 */
void conf__ctx_init(struct conf_ctx *ctx, const char *name, char *err, size_t errlen)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->name = name;
    ctx->err = errlen ? err : NULL;
    ctx->errlen = ctx->err ? errlen : 0;
    if (ctx->err)
        ctx->err[0] = '\0';
}

/* Rewrites the caller's buffer from the kept messages; truncates, always NUL-terminates. */
static void err_render(struct conf_ctx *ctx)
{
    size_t used = 0;

    if (ctx->err == NULL)
        return;
    ctx->err[0] = '\0';
    for (size_t i = 0; i <= ctx->nmsgs && used + 1 < ctx->errlen; i++) {
        char last[128];
        const char *text = i < ctx->nmsgs ? ctx->msgs[i].text : NULL;
        int n;

        if (text == NULL && ctx->nerrors <= CONF_MAX_ERRORS)
            break;
        if (text == NULL) {
            snprintf(last, sizeof(last), "%s: too many errors, stopped after %d", ctx->name,
                     CONF_MAX_ERRORS);
            text = last;
        }
        n = snprintf(ctx->err + used, ctx->errlen - used, "%s%s", i ? "\n" : "", text);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* The bytes snprintf wrote given its result N and buffer size ROOM (> 0). */
static size_t clamp(int n, size_t room)
{
    if (n < 0)
        return 0;
    return (size_t)n < room ? (size_t)n : room - 1;
}

static void err_vreport(struct conf_ctx *ctx, unsigned line, unsigned col, int with_path,
                        const char *fmt, va_list ap)
{
    struct conf_msg *m;
    size_t at, used;
    int n;

    if (++ctx->nerrors > CONF_MAX_ERRORS) {
        err_render(ctx);
        return;
    }
    /* Insertion keeps msgs sorted by position, stable for equal positions. */
    for (at = ctx->nmsgs; at > 0; at--) {
        const struct conf_msg *p = &ctx->msgs[at - 1];
        if (p->line < line || (p->line == line && p->col <= col))
            break;
    }
    memmove(&ctx->msgs[at + 1], &ctx->msgs[at], (ctx->nmsgs - at) * sizeof(*m));
    ctx->nmsgs++;
    m = &ctx->msgs[at];
    m->line = line;
    m->col = col;
    if (line == 0)
        n = snprintf(m->text, sizeof(m->text), "%s: ", ctx->name);
    else
        n = snprintf(m->text, sizeof(m->text), "%s:%u:%u: ", ctx->name, line, col);
    used = clamp(n, sizeof(m->text));
    if (with_path && ctx->pathlen > 0) {
        n = snprintf(m->text + used, sizeof(m->text) - used, "%s: ", ctx->path);
        used += clamp(n, sizeof(m->text) - used);
    }
    vsnprintf(m->text + used, sizeof(m->text) - used, fmt, ap);
    err_render(ctx);
}

/*
 * Reports an error at LINE:COL (LINE 0: no position) and rewrites the buffer in file order.
 * Full contract in conf-int.h.
 */
void conf__err_at(struct conf_ctx *ctx, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vreport(ctx, line, col, 0, fmt, ap);
    va_end(ap);
}

/*
 * Reports an error at node N (not NULL), prefixed by the current key path.
 * Full contract in conf-int.h.
 */
void conf__err(struct conf_ctx *ctx, const struct conf_node *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vreport(ctx, n->line, n->col, 1, fmt, ap);
    va_end(ap);
}

/*
 * Reports an error at stored position POS, prefixed by the current key path.
 * Full contract in conf-int.h.
 */
void conf__err_pos(struct conf_ctx *ctx, struct conf_pos pos, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vreport(ctx, pos.line, pos.col, 1, fmt, ap);
    va_end(ap);
}

/* Returns N's line and column as a struct conf_pos; see conf-int.h. */
struct conf_pos conf__pos(const struct conf_node *n)
{
    struct conf_pos p = {n->line, n->col};
    return p;
}

/*
 * Appends ".name" or "[i]" to the key path; returns the old length for conf__path_pop().
 * Full contract in conf-int.h.
 */
size_t conf__path_push(struct conf_ctx *ctx, const char *fmt, ...)
{
    size_t mark = ctx->pathlen;
    size_t room = sizeof(ctx->path) - ctx->pathlen;
    va_list ap;
    int n;

    if (mark > 0 && fmt[0] != '[' && room > 1) {
        ctx->path[ctx->pathlen++] = '.';
        ctx->path[ctx->pathlen] = '\0';
        room--;
    }
    va_start(ap, fmt);
    n = vsnprintf(ctx->path + ctx->pathlen, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        ctx->pathlen += (size_t)n < room ? (size_t)n : room - 1;
    return mark;
}

/*
 * Truncates the key path back to MARK, a value conf__path_push() returned.
 * Full contract in conf-int.h.
 */
void conf__path_pop(struct conf_ctx *ctx, size_t mark)
{
    ctx->pathlen = mark;
    ctx->path[mark] = '\0';
}

/*
 * Copies S into BUF (LEN > 4) with control bytes as '?' and "..." when cut; returns BUF.
 * Full contract in conf-int.h.
 */
const char *conf__quote(const char *s, char *buf, size_t len)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i + 1 < len; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
    if (s[i] != '\0' && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

/* ---- public API ---- */

/* The value position of KEY in map N (of SUB in KEY's map when SUB), or 1:1. */
static struct conf_pos key_pos(const struct conf_node *n, const char *key, const char *sub)
{
    const struct conf_node *v = conf__map_get(n, key);
    if (v && sub)
        v = v->type == CONF_NODE_MAP ? conf__map_get(v, sub) : v;
    return v ? conf__pos(v) : (struct conf_pos){1, 1};
}

static void note_restart_keys(const struct conf_node *root, struct conf_restart_pos *p)
{
    p->workers = key_pos(root, "workers", NULL);
    p->access_log = key_pos(root, "access_log", NULL);
    p->user = key_pos(root, "user", NULL);
    p->group = key_pos(root, "group", NULL);
    p->admin_listen = key_pos(root, "admin", "listen");
}

/* Parses the tree ROOT into a new struct conf; NULL when out of memory (reported). */
static struct conf *conf_from_tree(struct conf_ctx *ctx, const struct conf_node *root)
{
    struct conf *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->path = strdup(ctx->name)) == NULL) {
        free(c);
        conf__err_at(ctx, 0, 0, "out of memory");
        return NULL;
    }
    ctx->conf = c;
    conf__section_unset(&conf__root_section, c);
    if (root->type == CONF_NODE_SCALAR && root->is_null)
        conf__err_at(ctx, 1, 1, "configuration is empty");
    else if (root->type == CONF_NODE_MAP)
        conf__section_parse(ctx, root, &conf__root_section, c);
    else if (root->type != CONF_NODE_BAD)
        conf__err(ctx, root,
                  "the top level must be a mapping of keys (listen, regions, ...), "
                  "not %s",
                  conf__node_kind(root));
    conf__section_merge(&conf__root_section, c, NULL);
    if (root->type == CONF_NODE_MAP) {
        conf__finish(ctx, root, c);
        note_restart_keys(root, &c->restart_pos);
    }
    ctx->conf = NULL;
    return c;
}

/*
 * Reads and validates the YAML document TEXT (LEN bytes); see conf.h. The
 * node tree is freed before returning: everything the result points to is
 * owned by the result.
 */
int conf_load_string(const char *text, size_t len, const char *name, struct conf **out, char *err,
                     size_t errlen)
{
    struct conf_ctx ctx;
    struct conf_node *root;
    struct conf *c = NULL;

    *out = NULL;
    conf__ctx_init(&ctx, name ? name : "<string>", err, errlen);
    root = conf__tree_parse(&ctx, text, len);
    if (root != NULL)
        c = conf_from_tree(&ctx, root);
    conf__node_free(root);
    if (ctx.nerrors > 0 || c == NULL) {
        if (ctx.nerrors == 0)
            conf__err_at(&ctx, 0, 0, "invalid configuration");
        conf_free(c);
        return -1;
    }
    /* FNV-1a: not a defence, a fingerprint to compare across instances. */
    c->hash = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        c->hash = (c->hash ^ (unsigned char)text[i]) * 0x100000001b3ull;
    *out = c;
    return 0;
}

/* Reads all of F into a new buffer (caller frees); 0 or a positive errno. */
static int read_all(FILE *f, char **out, size_t *outlen)
{
    size_t len = 0, cap = 64 * 1024;
    char *buf = malloc(cap);

    errno = 0;
    if (buf == NULL)
        return ENOMEM;
    for (;;) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            char *p = cap < CONF_MAX_FILE_BYTES ? realloc(buf, cap * 2) : NULL;
            if (p == NULL) {
                free(buf);
                return cap < CONF_MAX_FILE_BYTES ? ENOMEM : EFBIG;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO; /* EISDIR for a directory */
        free(buf);
        return e;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/*
 * Reads and validates the file PATH; see conf.h. Errors opening or reading the
 * file are reported as one line "PATH: cannot read: <reason>" (no position).
 */
int conf_load_file(const char *path, struct conf **out, char *err, size_t errlen)
{
    struct conf_ctx ctx;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = errno;
        goto fail;
    }
    rc = read_all(f, &text, &len);
    fclose(f);
    if (rc != 0)
        goto fail;
    rc = conf_load_string(text, len, path, out, err, errlen);
    free(text);
    return rc;
fail:
    conf__ctx_init(&ctx, path, err, errlen);
    conf__err_at(&ctx, 0, 0, "cannot read: %s",
                 rc == EFBIG ? "file larger than 16 MiB" : strerror(rc));
    return -1;
}

/* Releases C and everything it owns; see conf.h. Accepts NULL. */
void conf_free(struct conf *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nregions; i++) {
        struct conf_region *r = &c->regions[i];
        for (size_t j = 0; j < r->nbackends; j++) {
            free(r->backends[j].host);
            conf__probe_dispose(&r->backends[j].probe);
            conf__tls_client_dispose(&r->backends[j].tls);
        }
        free(r->backends);
        conf__probe_dispose(&r->probe);
        free(r->discovery.allow.cidrs);
        free(r->discovery.ports);
        conf__tls_client_dispose(&r->tls);
    }
    free(c->regions);
    free(c->listen);
    for (size_t i = 0; c->listeners != NULL && i < c->nlisten; i++) {
        conf__tls_server_dispose(&c->listeners[i].tls);
        free(c->listeners[i].proxy_from.cidrs);
    }
    free(c->listeners);
    free(c->access_log);
    free(c->access_log_format.text);
    free(c->access_log_format.pieces);
    free(c->user);
    free(c->group);
    free(c->trusted_proxies.cidrs);
    free(c->debug_clients.cidrs);
    free(c->explain_header);
    for (size_t i = 0; i < c->geo.ndbs; i++) {
        free(c->geo.dbs[i].path);
        for (size_t f = 0; f < CONF_GEO_FIELD_COUNT; f++)
            free(c->geo.dbs[i].fields[f]);
    }
    free(c->geo.dbs);
    free(c->geo.headers.country);
    free(c->geo.headers.subdivision);
    free(c->geo.headers.continent);
    free(c->geo.headers.asn);
    free(c->geo.headers.zone);
    free(c->geo.headers.region);
    for (size_t i = 0; i < c->nzones; i++)
        conf__zone_dispose(&c->zones[i]);
    free(c->zones);
    free(c->admin.token);
    free(c->admin.unix_path);
    free(c->admin.token_file);
    free(c->admin.token_env);
    free(c->dns.servers);
    free(c->path);
    free(c);
}

/*
 * Returns the region of C named NAME, or NULL when there is none. C and NAME
 * must not be NULL; the result is borrowed from C. Linear: regions are few.
 */
const struct conf_region *conf_region_find(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nregions; i++)
        if (strcmp(c->regions[i].name, name) == 0)
            return &c->regions[i];
    return NULL;
}

/*
 * Returns the zone of C named NAME, or NULL when there is none. C and NAME
 * must not be NULL; the result is borrowed from C. After a successful load
 * "default" is always found (it is the last zone).
 */
const struct conf_zone *conf_zone_find(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nzones; i++)
        if (strcmp(c->zones[i].name, name) == 0)
            return &c->zones[i];
    return NULL;
}

/*
 * Returns 1 when SA lies in one of LIST's networks, else 0. LIST and SA must
 * not be NULL. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as dual-stack
 * listeners report IPv4 peers) is matched as the IPv4 address; families
 * other than AF_INET and AF_INET6 never match. Allocates nothing.
 */
int conf_cidr_list_match(const struct conf_cidr_list *list, const struct sockaddr *sa)
{
    uint8_t addr[16] = {0};
    int family = sa->sa_family;

    if (family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            memcpy(addr, a6->s6_addr + 12, 4);
        } else {
            memcpy(addr, a6->s6_addr, 16);
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < list->ncidrs; i++)
        if (conf__cidr_contains(&list->cidrs[i], family, addr))
            return 1;
    return 0;
}

/* Returns the static preset name of SCHEMA, or "custom" for anything else; see conf.h. */
const char *conf_geo_schema_name(enum conf_geo_schema schema)
{
    switch (schema) {
    case CONF_GEO_SCHEMA_MAXMIND:
        return "maxmind";
    case CONF_GEO_SCHEMA_MAXMIND_ASN:
        return "maxmind-asn";
    case CONF_GEO_SCHEMA_FLAT:
        return "flat";
    default:
        return "custom";
    }
}

/* Returns the config name of a TLS version; see conf.h. */
const char *conf_tls_version_name(enum conf_tls_version v)
{
    return v == CONF_TLS_1_3 ? "TLSv1.3" : "TLSv1.2";
}

/* Returns the static config name of field F, or NULL when F is out of range; see conf.h. */
const char *conf_geo_field_name(enum conf_geo_field f)
{
    static const char *const names[CONF_GEO_FIELD_COUNT] = {
        "country", "subdivision", "continent", "asn", "as_org", "latitude", "longitude",
    };

    return (unsigned)f < CONF_GEO_FIELD_COUNT ? names[f] : NULL;
}
