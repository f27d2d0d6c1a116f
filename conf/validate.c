/*
 * validate: the last step of a load, once every section is parsed and
 * merged. It parses zones (they refer to regions and geo databases), writes
 * the defaults that are not integers (admin address, explain header), and
 * checks the rules that span sections. Errors still point at the node that
 * broke the rule, found again in the tree by key.
 */
#include "conf/conf-int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ADMIN_DEFAULT_ADDR "127.0.0.1:9901"
#define EXPLAIN_DEFAULT_HEADER "X-Georoute"

/* Returns the value of KEY in mapping N, or N itself when KEY is absent or N no mapping. */
static const struct conf_node *key_or_self(const struct conf_node *n, const char *key)
{
    const struct conf_node *v = conf__map_get(n, key);
    return v ? v : n;
}

/* PROXY protocol is honoured only from trusted_proxies: with none, it could
 * never be. h2c is prior knowledge on plain listeners only. */
static void check_listeners(struct conf_ctx *ctx, const struct conf_node *listen,
                            const struct conf *c)
{
    for (size_t i = 0; listen != NULL && i < c->nlisten; i++) {
        const struct conf_node *item = listen->type == CONF_NODE_SEQ ? listen->items[i] : listen;
        size_t mark;

        if (c->listeners[i].h2c && c->listeners[i].tls.enabled) {
            mark = listen->type == CONF_NODE_SEQ ? conf__path_push(ctx, "listen[%zu].h2c", i)
                                                 : conf__path_push(ctx, "listen.h2c");
            conf__err(ctx, key_or_self(item, "h2c"),
                      "h2c is HTTP/2 on a plain listener; a TLS listener offers h2 by ALPN "
                      "(listen[].h2)");
            conf__path_pop(ctx, mark);
        }
        if (conf_proxy_from(c, &c->listeners[i]) == NULL ||
            conf_proxy_from(c, &c->listeners[i])->ncidrs > 0)
            continue;
        mark = listen->type == CONF_NODE_SEQ ? conf__path_push(ctx, "listen[%zu].proxy_protocol", i)
                                             : conf__path_push(ctx, "listen.proxy_protocol");
        conf__err(ctx, key_or_self(item, "proxy_protocol"),
                  "proxy_protocol: true reads the PROXY header from trusted_proxies, and that "
                  "list is empty; name the balancers with proxy_protocol: {from: [networks]}");
        conf__path_pop(ctx, mark);
    }
}

/* One token source at most; mode only for a unix socket. */
static void check_admin_keys(struct conf_ctx *ctx, const struct conf_node *admin,
                             const struct conf_admin *a)
{
    static const char *const sources[] = {"token", "token_file", "token_env"};
    const char *first = NULL;
    size_t mark;

    if (admin == NULL || admin->type != CONF_NODE_MAP)
        return;
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (conf__map_get(admin, sources[i]) == NULL)
            continue;
        if (first != NULL) {
            mark = conf__path_push(ctx, "admin.%s", sources[i]);
            conf__err(ctx, key_or_self(admin, sources[i]),
                      "admin.%s and admin.%s both give the token; keep one", first, sources[i]);
            conf__path_pop(ctx, mark);
        }
        first = sources[i];
    }
    if (conf__map_get(admin, "mode") != NULL && a->unix_path == NULL) {
        mark = conf__path_push(ctx, "admin.mode");
        conf__err(ctx, key_or_self(admin, "mode"),
                  "admin.mode is the file mode of a unix socket; admin.listen is not unix:/path");
        conf__path_pop(ctx, mark);
    }
}

/* Default address; a token when not on loopback; never one of the public listeners. */
static void check_admin(struct conf_ctx *ctx, const struct conf_node *admin, struct conf *c)
{
    struct conf_admin *a = &c->admin;
    const struct conf_node *at = admin ? key_or_self(admin, "listen") : NULL;
    size_t mark;

    check_admin_keys(ctx, admin, a);
    if (!a->enabled || a->unix_path != NULL)
        return;
    if (a->addr.salen == 0) {
        if (admin != NULL && (admin->type == CONF_NODE_SCALAR || conf__map_get(admin, "listen")))
            return; /* written, but invalid: already reported */
        conf__addr_parse(ADMIN_DEFAULT_ADDR, &a->addr);
    }
    mark = conf__path_push(ctx, "admin.listen");
    if (!conf__addr_is_loopback(&a->addr) && a->token == NULL && at != NULL)
        conf__err(ctx, at,
                  "%s is not a loopback address, so admin.token is required (a bearer token "
                  "for every admin request)",
                  a->addr.text);
    for (size_t i = 0; i < c->nlisten; i++) {
        if (strcmp(c->listen[i].text, a->addr.text) != 0)
            continue;
        if (at != NULL)
            conf__err(ctx, at,
                      "%s is also a public listen address; the admin listener must be "
                      "separate",
                      a->addr.text);
        else
            conf__err_pos(ctx, c->listeners[i].pos,
                          "%s is the default admin address; move the listener or set "
                          "admin.listen",
                          a->addr.text);
        break;
    }
    conf__path_pop(ctx, mark);
}

/* TTL clamps must be ordered. */
static void check_dns(struct conf_ctx *ctx, const struct conf_node *dns, const struct conf *c)
{
    char a[32], b[32];
    size_t mark;

    if (c->dns.max_ttl_ms >= c->dns.min_ttl_ms)
        return;
    mark = conf__path_push(ctx, "dns.%s", conf__map_get(dns, "max_ttl") ? "max_ttl" : "min_ttl");
    conf__err(ctx, key_or_self(dns, conf__map_get(dns, "max_ttl") ? "max_ttl" : "min_ttl"),
              "max_ttl (%s) is less than min_ttl (%s)",
              conf__duration_format(c->dns.max_ttl_ms, a, sizeof(a)),
              conf__duration_format(c->dns.min_ttl_ms, b, sizeof(b)));
    conf__path_pop(ctx, mark);
}

/* The geo headers are removed from client requests and set again: two keys, one header, clash. */
static void check_geo_headers(struct conf_ctx *ctx, const struct conf_node *geo)
{
    const struct conf_node *h = conf__map_get(geo, "headers");

    for (size_t i = 0; h != NULL && h->type == CONF_NODE_MAP && i < h->nitems; i++) {
        const struct conf_node *v = h->pairs[i].value;
        for (size_t j = 0; v->type == CONF_NODE_SCALAR && !v->is_null && j < i; j++) {
            const struct conf_node *w = h->pairs[j].value;
            size_t mark;
            if (w->type != CONF_NODE_SCALAR || strcasecmp(v->text, w->text) != 0)
                continue;
            mark = conf__path_push(ctx, "geo.headers.%s", h->pairs[i].key->text);
            conf__err(ctx, v, "header '%s' is already used for %s", v->text, h->pairs[j].key->text);
            conf__path_pop(ctx, mark);
            break;
        }
    }
}

/*
 * Parses zones and checks what spans sections; C is fully parsed and merged.
 * Full contract in conf-int.h.
 */
void conf__finish(struct conf_ctx *ctx, const struct conf_node *root, struct conf *c)
{
    size_t mark;

    /* Without regions every route would fail to resolve; that is reported already. */
    if (c->nregions > 0) {
        mark = conf__path_push(ctx, "zones");
        conf__zones_parse(ctx, conf__map_get(root, "zones"), c);
        conf__path_pop(ctx, mark);
    }
    if (c->explain_header == NULL && (c->explain_header = strdup(EXPLAIN_DEFAULT_HEADER)) == NULL)
        conf__err_at(ctx, 0, 0, "out of memory");
    check_listeners(ctx, conf__map_get(root, "listen"), c);
    check_admin(ctx, conf__map_get(root, "admin"), c);
    check_dns(ctx, conf__map_get(root, "dns"), c);
    check_geo_headers(ctx, conf__map_get(root, "geo"));
}
