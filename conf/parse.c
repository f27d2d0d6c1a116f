/*
 * YAML text to a tree of struct conf_node, from libyaml's event API.
 *
 * Why events and not yaml_document_t: the document API resolves aliases into
 * shared nodes and drops nothing we need, but it cannot report duplicate keys
 * or keep going past them, and its node marks are the same ones the events
 * carry. Building our own tree keeps positions, lets us drop a duplicate pair
 * after reporting it, and gives later sections one simple shape to walk.
 *
 * Aliases (*name) are refused: a config that repeats itself through anchors
 * is harder to read than one that spells things out, and supporting them
 * would mean shared subtrees with two key paths. Anchors alone are harmless
 * and ignored. Tags are ignored: every scalar is text until a directive reads
 * it.
 */
#include "conf/conf-int.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct builder {
    struct conf_ctx *ctx; /* borrowed */
    const char *text;     /* borrowed; the whole input, for hints */
    size_t len;           /* bytes in text */
    yaml_parser_t parser;
    int failed; /* a YAML error or out of memory: stop building */
};

static unsigned mark_line(yaml_mark_t m)
{
    return (unsigned)m.line + 1;
}

static unsigned mark_col(yaml_mark_t m)
{
    return (unsigned)m.column + 1;
}

/*
 * Returns a hint when line LINE (0-based) of the input holds an unquoted
 * bracketed IPv6 address: "[::1]:8080" unquoted starts a YAML flow list and
 * libyaml's message alone does not say why.
 */
static const char *syntax_hint(const struct builder *b, size_t line, size_t col)
{
    const char *p = b->text, *end = b->text + b->len, *eol, *bol;

    for (; line > 0 && p < end; line--) {
        p = memchr(p, '\n', (size_t)(end - p));
        p = p ? p + 1 : end;
    }
    eol = memchr(p, '\n', (size_t)(end - p));
    eol = eol ? eol : end;
    bol = p;
    /* Tabs in the indentation: libyaml only says a character cannot start a token. */
    for (const char *q = bol; q < eol && (*q == ' ' || *q == '\t'); q++)
        if (*q == '\t')
            return "; YAML does not allow tabs for indentation: use spaces";
    /* "key: -": the dash starts a list where a value was expected. */
    if (bol + col < eol && bol[col] == '-') {
        const char *q = bol + col;
        while (q > bol && q[-1] == ' ')
            q--;
        if (q > bol && q[-1] == ':')
            return "; a bare - starts a YAML list: quote it, as in \"-\"";
    }
    for (; p < eol; p++) {
        const char *q = p + 1;
        int colons = 0;
        if (*p != '[' || (p > b->text && (p[-1] == '"' || p[-1] == '\'')))
            continue;
        for (; q < eol && *q != '\0' && strchr("0123456789abcdefABCDEF:./", *q) != NULL; q++)
            colons += *q == ':';
        /* Two colons at least: an IPv6 address or network, not a flow list of "ip:port". */
        if (q < eol && *q == ']' && colons >= 2)
            return "; IPv6 addresses must be quoted, as in \"[::1]:8080\" or \"::1/128\"";
        /* An IPv6 network at the start of a flow list: "[::1/128]" reads as a mapping key. */
        if (colons >= 2 && q < eol && (*q == ',' || *q == ']' || *q == ' '))
            return "; IPv6 addresses must be quoted, as in \"::1/128\"";
    }
    return "";
}

/* Reports libyaml's own problem text at its position; building stops. */
static void report_yaml_error(struct builder *b)
{
    yaml_parser_t *p = &b->parser;
    const char *problem = p->problem ? p->problem : "unknown error";
    yaml_mark_t at = p->problem_mark;

    b->failed = 1;
    if (p->error == YAML_MEMORY_ERROR) {
        conf__err_at(b->ctx, 0, 0, "out of memory while reading YAML");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark; the parser's current
         * mark is where reading stopped. */
        conf__err_at(b->ctx, mark_line(p->mark), mark_col(p->mark),
                     "YAML error: %s (byte offset %zu)", problem, p->problem_offset);
        return;
    }
    if (p->context)
        conf__err_at(b->ctx, mark_line(at), mark_col(at),
                     "YAML syntax error: %s (%s at line %u, column %u)%s", problem, p->context,
                     mark_line(p->context_mark), mark_col(p->context_mark),
                     syntax_hint(b, at.line, at.column));
    else
        conf__err_at(b->ctx, mark_line(at), mark_col(at), "YAML syntax error: %s%s", problem,
                     syntax_hint(b, at.line, at.column));
}

/* Reads the next event; 0 on success, -1 (reported) on a YAML error. */
static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev))
        return 0;
    report_yaml_error(b);
    return -1;
}

static struct conf_node *node_new(struct builder *b, enum conf_node_type type, yaml_mark_t at)
{
    struct conf_node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        conf__err_at(b->ctx, mark_line(at), mark_col(at), "out of memory");
        b->failed = 1;
        return NULL;
    }
    n->type = type;
    n->line = mark_line(at);
    n->col = mark_col(at);
    return n;
}

static int is_null_text(const char *s)
{
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static struct conf_node *scalar_new(struct builder *b, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    struct conf_node *n = node_new(b, CONF_NODE_SCALAR, ev->start_mark);

    if (n == NULL)
        return NULL;
    if (memchr(v, '\0', len) != NULL) {
        conf__err(b->ctx, n, "text contains a NUL character");
        n->type = CONF_NODE_BAD;
        return n;
    }
    n->text = malloc(len + 1);
    if (n->text == NULL) {
        conf__err(b->ctx, n, "out of memory");
        b->failed = 1;
        conf__node_free(n);
        return NULL;
    }
    memcpy(n->text, v, len);
    n->text[len] = '\0';
    n->len = len;
    n->is_quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    n->is_null = !n->is_quoted && is_null_text(n->text);
    return n;
}

static struct conf_node *build_node(struct builder *b, yaml_event_t *ev, unsigned depth);

/* Grows an array of ELEM-byte elements to hold N + 1; 0 or -1. */
static int grow(void **arr, size_t n, size_t elem)
{
    void *p;

    /* Capacity is 4, then the next power of two: grow only when full. */
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
        return 0;
    p = realloc(*arr, (n ? n * 2 : 4) * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    return 0;
}

static struct conf_node *build_seq(struct builder *b, yaml_event_t *start, unsigned depth)
{
    struct conf_node *n = node_new(b, CONF_NODE_SEQ, start->start_mark);
    yaml_event_t ev;

    yaml_event_delete(start);
    while (n != NULL) {
        struct conf_node *item;

        if (next_event(b, &ev) != 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return n;
        }
        item = build_node(b, &ev, depth + 1);
        if (item == NULL)
            break;
        if (grow((void **)&n->items, n->nitems, sizeof(*n->items)) != 0) {
            conf__err(b->ctx, item, "out of memory");
            b->failed = 1;
            conf__node_free(item);
            break;
        }
        n->items[n->nitems++] = item;
    }
    conf__node_free(n);
    return NULL;
}

/* Reports KEY if MAP already has it; returns 1 when it is a duplicate. */
static int is_duplicate_key(struct builder *b, const struct conf_node *map,
                            const struct conf_node *key)
{
    char q[80];

    for (size_t i = 0; i < map->nitems; i++) {
        const struct conf_node *k = map->pairs[i].key;
        if (strcmp(k->text, key->text) == 0) {
            conf__err(b->ctx, key, "duplicate key '%s' (first at line %u, column %u)",
                      conf__quote(key->text, q, sizeof(q)), k->line, k->col);
            return 1;
        }
    }
    return 0;
}

/*
 * Adds KEY: VALUE to MAP, or drops the pair (freeing both) when the key is
 * not a usable scalar or repeats an earlier key. Returns -1 only when out of
 * memory.
 */
static int map_add(struct builder *b, struct conf_node *map, struct conf_node *key,
                   struct conf_node *value)
{
    if (key->type != CONF_NODE_SCALAR || key->is_null) {
        if (key->type != CONF_NODE_BAD)
            conf__err(b->ctx, key, "mapping key must be a non-empty string, not %s",
                      conf__node_kind(key));
        goto drop;
    }
    if (is_duplicate_key(b, map, key))
        goto drop;
    if (grow((void **)&map->pairs, map->nitems, sizeof(*map->pairs)) != 0) {
        conf__err(b->ctx, key, "out of memory");
        b->failed = 1;
        conf__node_free(key);
        conf__node_free(value);
        return -1;
    }
    /* An empty value ("connect:") is positioned by libyaml at the next token,
     * often on the next line; the key is where the user will look. */
    if (value->type == CONF_NODE_SCALAR && value->is_null && value->len == 0) {
        value->line = key->line;
        value->col = key->col;
    }
    map->pairs[map->nitems].key = key;
    map->pairs[map->nitems].value = value;
    map->nitems++;
    return 0;
drop:
    conf__node_free(key);
    conf__node_free(value);
    return 0;
}

static struct conf_node *build_map(struct builder *b, yaml_event_t *start, unsigned depth)
{
    struct conf_node *n = node_new(b, CONF_NODE_MAP, start->start_mark);
    yaml_event_t ev;

    yaml_event_delete(start);
    while (n != NULL) {
        struct conf_node *key, *value;

        if (next_event(b, &ev) != 0)
            break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return n;
        }
        key = build_node(b, &ev, depth + 1);
        if (key == NULL || next_event(b, &ev) != 0) {
            conf__node_free(key);
            break;
        }
        value = build_node(b, &ev, depth + 1);
        if (value == NULL) {
            conf__node_free(key);
            break;
        }
        if (map_add(b, n, key, value) != 0)
            break;
    }
    conf__node_free(n);
    return NULL;
}

/*
 * Builds the node that starts with event EV (consumed). Returns NULL only
 * when building must stop (b->failed set); other errors give a BAD node.
 */
static struct conf_node *build_node(struct builder *b, yaml_event_t *ev, unsigned depth)
{
    struct conf_node *n = NULL;

    if (depth > CONF_MAX_DEPTH) {
        conf__err_at(b->ctx, mark_line(ev->start_mark), mark_col(ev->start_mark),
                     "nesting deeper than %d levels", CONF_MAX_DEPTH);
        b->failed = 1;
        yaml_event_delete(ev);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = scalar_new(b, ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
        return build_seq(b, ev, depth);
    case YAML_MAPPING_START_EVENT:
        return build_map(b, ev, depth);
    case YAML_ALIAS_EVENT:
        n = node_new(b, CONF_NODE_BAD, ev->start_mark);
        if (n != NULL)
            conf__err(b->ctx, n, "YAML aliases (*%s) are not supported; write the value out",
                      (const char *)ev->data.alias.anchor);
        break;
    default:
        /* The parser only emits the above between document start and end. */
        n = node_new(b, CONF_NODE_BAD, ev->start_mark);
        if (n != NULL)
            conf__err(b->ctx, n, "unexpected YAML event %d", (int)ev->type);
        break;
    }
    yaml_event_delete(ev);
    return n;
}

/* Reads up to and including the first DOCUMENT_START; 1 = found, 0 = empty stream, -1 = error. */
static int find_document(struct builder *b)
{
    yaml_event_t ev;

    for (;;) {
        yaml_event_type_t t;
        if (next_event(b, &ev) != 0)
            return -1;
        t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_DOCUMENT_START_EVENT)
            return 1;
        if (t == YAML_STREAM_END_EVENT)
            return 0;
    }
}

/* After the root node: expects DOCUMENT_END then STREAM_END; 0 or -1 (reported). */
static int finish_stream(struct builder *b)
{
    yaml_event_t ev;
    int rc = 0;

    if (next_event(b, &ev) != 0)
        return -1;
    yaml_event_delete(&ev); /* DOCUMENT_END */
    if (next_event(b, &ev) != 0)
        return -1;
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        conf__err_at(b->ctx, mark_line(ev.start_mark), mark_col(ev.start_mark),
                     "more than one YAML document; georoute reads exactly one");
        rc = -1;
    }
    yaml_event_delete(&ev);
    return rc;
}

/*
 * Parses TEXT (LEN bytes) into a node tree the caller owns, or returns NULL
 * with the errors reported; full contract in conf-int.h. The builder owns the
 * parser for the duration of the call; every event is deleted by the function
 * that consumed it.
 */
struct conf_node *conf__tree_parse(struct conf_ctx *ctx, const char *text, size_t len)
{
    struct builder b = {.ctx = ctx, .text = text, .len = len};
    struct conf_node *root = NULL;
    yaml_event_t ev;
    int found;

    if (!yaml_parser_initialize(&b.parser)) {
        conf__err_at(ctx, 0, 0, "out of memory while reading YAML");
        return NULL;
    }
    /* libyaml asserts on a NULL input; conf/ must never abort. */
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)(text ? text : ""),
                                 text ? len : 0);
    found = find_document(&b);
    if (found == 0)
        conf__err_at(ctx, 1, 1, "configuration is empty");
    if (found != 1)
        goto out;
    if (next_event(&b, &ev) != 0)
        goto out;
    root = build_node(&b, &ev, 0);
    if (root == NULL || finish_stream(&b) != 0) {
        conf__node_free(root);
        root = NULL;
    }
out:
    yaml_parser_delete(&b.parser);
    return root;
}

/*
 * Frees N and its whole subtree; accepts NULL.
 * Full contract in conf-int.h.
 */
void conf__node_free(struct conf_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; n->type == CONF_NODE_SEQ && i < n->nitems; i++)
        conf__node_free(n->items[i]);
    for (size_t i = 0; n->type == CONF_NODE_MAP && i < n->nitems; i++) {
        conf__node_free(n->pairs[i].key);
        conf__node_free(n->pairs[i].value);
    }
    free(n->items);
    free(n->pairs);
    free(n->text);
    free(n);
}

/*
 * Returns a static noun phrase for N's type ("a list"), for messages.
 * Full contract in conf-int.h.
 */
const char *conf__node_kind(const struct conf_node *n)
{
    switch (n->type) {
    case CONF_NODE_SCALAR:
        return n->is_null ? "an empty value" : "a string";
    case CONF_NODE_SEQ:
        return "a list";
    case CONF_NODE_MAP:
        return "a mapping";
    default:
        return "an invalid value";
    }
}

/* Contract in conf-int.h. */
int conf__expect(struct conf_ctx *ctx, const struct conf_node *n, enum conf_node_type type,
                 const char *what)
{
    if (n->type == CONF_NODE_BAD)
        return -1;
    if (n->type == type)
        return 1;
    if (n->type == CONF_NODE_SCALAR && n->is_null)
        return 0;
    conf__err(ctx, n, "expected %s, got %s", what, conf__node_kind(n));
    return -1;
}

/*
 * Returns the value of KEY in MAP (borrowed), or NULL if absent or MAP is no mapping.
 * Full contract in conf-int.h.
 */
const struct conf_node *conf__map_get(const struct conf_node *map, const char *key)
{
    if (map == NULL || map->type != CONF_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->nitems; i++)
        if (strcmp(map->pairs[i].key->text, key) == 0)
            return map->pairs[i].value;
    return NULL;
}

/*
 * Returns scalar N's text (borrowed from N), or NULL after reporting why it has none.
 * Full contract in conf-int.h.
 */
const char *conf__scalar(struct conf_ctx *ctx, const struct conf_node *n)
{
    if (n->type == CONF_NODE_BAD)
        return NULL;
    if (n->type != CONF_NODE_SCALAR) {
        conf__err(ctx, n, "expected a single value, got %s", conf__node_kind(n));
        return NULL;
    }
    if (n->is_null) {
        conf__err(ctx, n, "missing value");
        return NULL;
    }
    return n->text;
}
