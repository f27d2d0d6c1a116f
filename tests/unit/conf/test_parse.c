/* Unit tests of conf/parse.c: YAML text to the node tree, with positions. */
#include "tests/unit/test.h"
#include "conf/conf-int.h"
#include "tests/unit/conf/list.h"

/* Prototypes for the TEST() definitions below (-Wmissing-prototypes). */
#define CONF_TEST_DECLARE(name) void test_##name(void);
CONF_TESTS(CONF_TEST_DECLARE)

static struct conf_ctx ctx;
static char err[4096];

static struct conf_node *tree(const char *yaml)
{
    conf__ctx_init(&ctx, "t.yaml", err, sizeof(err));
    return conf__tree_parse(&ctx, yaml, strlen(yaml));
}

TEST(conf_tree_positions)
{
    struct conf_node *root = tree("# comment\n"
                                  "a: 1\n"
                                  "b:\n"
                                  "  - x\n"
                                  "  - {k: 'v', e: }\n"
                                  "c:\n"
                                  "d: ~\n"
                                  "e: \"~\"\n");
    const struct conf_node *b, *m;

    ASSERT_NOT_NULL(root);
    ASSERT_EQ(ctx.nerrors, 0);
    ASSERT_EQ(root->type, CONF_NODE_MAP);
    ASSERT_EQ(root->nitems, 5);
    ASSERT_STR_EQ(root->pairs[0].key->text, "a");
    ASSERT_EQ(root->pairs[0].key->line, 2);
    ASSERT_EQ(root->pairs[0].key->col, 1);
    ASSERT_EQ(root->pairs[0].value->line, 2);
    ASSERT_EQ(root->pairs[0].value->col, 4);
    ASSERT_STR_EQ(root->pairs[0].value->text, "1");

    b = conf__map_get(root, "b");
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(b->type, CONF_NODE_SEQ);
    ASSERT_EQ(b->nitems, 2);
    ASSERT_EQ(b->items[0]->line, 4);
    ASSERT_EQ(b->items[0]->col, 5);
    m = b->items[1];
    ASSERT_EQ(m->type, CONF_NODE_MAP);
    ASSERT_EQ(m->line, 5);
    ASSERT_EQ(m->col, 5);
    ASSERT_STR_EQ(conf__map_get(m, "k")->text, "v");
    ASSERT_EQ(conf__map_get(m, "k")->is_quoted, 1);
    ASSERT_EQ(conf__map_get(m, "k")->col, 9); /* the opening quote */
    ASSERT_EQ(conf__map_get(m, "e")->is_null, 1);

    /* An empty value is placed at its key, not at the next token. */
    ASSERT_EQ(conf__map_get(root, "c")->is_null, 1);
    ASSERT_EQ(conf__map_get(root, "c")->line, 6);
    ASSERT_EQ(conf__map_get(root, "c")->col, 1);
    ASSERT_EQ(conf__map_get(root, "d")->is_null, 1);
    ASSERT_EQ(conf__map_get(root, "e")->is_null, 0);
    ASSERT_STR_EQ(conf__map_get(root, "e")->text, "~");
    ASSERT_NULL(conf__map_get(root, "zz"));
    conf__node_free(root);
}

TEST(conf_tree_duplicate_key_dropped)
{
    struct conf_node *root = tree("a: 1\n"
                                  "b: 2\n"
                                  "a: 3\n"
                                  "m: {x: 1, x: 2}\n");

    ASSERT_NOT_NULL(root);
    ASSERT_EQ(ctx.nerrors, 2);
    ASSERT_STR_EQ(err, "t.yaml:3:1: duplicate key 'a' (first at line 1, column 1)\n"
                       "t.yaml:4:11: duplicate key 'x' (first at line 4, column 5)");
    ASSERT_EQ(root->nitems, 3);
    ASSERT_STR_EQ(conf__map_get(root, "a")->text, "1"); /* the first one wins */
    ASSERT_EQ(conf__map_get(root, "m")->nitems, 1);
    conf__node_free(root);
}

TEST(conf_tree_rejects)
{
    struct conf_node *root;

    root = tree("a: &x 1\nb: *x\n");
    ASSERT_NOT_NULL(root);
    ASSERT_STR_EQ(err, "t.yaml:2:4: YAML aliases (*x) are not supported; write the value out");
    ASSERT_EQ(conf__map_get(root, "b")->type, CONF_NODE_BAD);
    ASSERT_EQ(conf__map_get(root, "a")->type, CONF_NODE_SCALAR); /* anchors are ignored */
    conf__node_free(root);

    root = tree("[a]: 1\n~: 2\nok: 3\n");
    ASSERT_NOT_NULL(root);
    ASSERT_EQ(ctx.nerrors, 2);
    ASSERT_STR_CONTAINS(err, "t.yaml:1:1: mapping key must be a non-empty string, not a list");
    ASSERT_STR_CONTAINS(err, "t.yaml:2:1: mapping key must be a non-empty string");
    ASSERT_EQ(root->nitems, 1);
    conf__node_free(root);

    root = tree("a: \"x\\0y\"\n");
    ASSERT_NOT_NULL(root);
    ASSERT_STR_EQ(err, "t.yaml:1:4: text contains a NUL character");
    conf__node_free(root);

    ASSERT_NULL(tree("a: 1\n---\nb: 2\n"));
    ASSERT_STR_EQ(err, "t.yaml:2:1: more than one YAML document; georoute reads exactly one");

    ASSERT_NULL(tree(""));
    ASSERT_STR_EQ(err, "t.yaml:1:1: configuration is empty");
    ASSERT_NULL(tree("# only a comment\n\n"));
    ASSERT_STR_EQ(err, "t.yaml:1:1: configuration is empty");
}

TEST(conf_tree_depth_limit)
{
    char deep[CONF_MAX_DEPTH * 2 + 8];
    size_t n = 0;

    for (int i = 0; i < CONF_MAX_DEPTH + 2; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    ASSERT_NULL(tree(deep));
    ASSERT_STR_CONTAINS(err, "nesting deeper than 64 levels");
    ASSERT_EQ(ctx.nerrors, 1);
}

TEST(conf_tree_syntax_error)
{
    ASSERT_NULL(tree("a: [1, 2\nb: 3\n"));
    ASSERT_STR_EQ(err, "t.yaml:2:2: YAML syntax error: did not find expected ',' or ']' "
                       "(while parsing a flow sequence at line 1, column 4)");
    ASSERT_NULL(tree("a: b: c\n"));
    ASSERT_STR_EQ(err, "t.yaml:1:5: YAML syntax error: mapping values are not allowed in this "
                       "context");
    ASSERT_NULL(tree("a:\n\tb: 1\n"));
    ASSERT_STR_CONTAINS(err, "t.yaml:2:1: YAML syntax error: found character that cannot start "
                             "any token");
    ASSERT_NULL(tree("a: \"\xff\"\n"));
    ASSERT_STR_CONTAINS(err, "YAML error: invalid leading UTF-8 octet");
    ASSERT_NULL(tree("listen: [::1]:80\n"));
    ASSERT_STR_CONTAINS(err, "t.yaml:1:10: YAML syntax error:");
    ASSERT_STR_CONTAINS(err, "IPv6 addresses must be quoted");
}
