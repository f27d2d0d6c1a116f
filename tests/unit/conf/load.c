/* Loading helpers shared by the conf/ unit tests; see load.h. */
#include "tests/unit/test.h"
#include "tests/unit/conf/load.h"

char conf_test_err[16384];

/* Loads YAML as "t.yaml"; the conf is the caller's; fails the test on error. */
struct conf *conf_test_load_ok(const char *yaml)
{
    struct conf *c = (struct conf *)1;

    if (conf_load_string(yaml, strlen(yaml), "t.yaml", &c, conf_test_err, sizeof(conf_test_err)) !=
        0)
        TEST_FAIL_("load failed:\n%s", conf_test_err);
    ASSERT_NOT_NULL(c);
    ASSERT_STR_EQ(conf_test_err, "");
    return c;
}

/* Loads YAML as "t.yaml" expecting failure; returns the error text (in conf_test_err). */
const char *conf_test_load_err(const char *yaml)
{
    struct conf *c = (struct conf *)1;

    ASSERT_EQ(
        conf_load_string(yaml, strlen(yaml), "t.yaml", &c, conf_test_err, sizeof(conf_test_err)),
        -1);
    ASSERT_NULL(c);
    ASSERT(conf_test_err[0] != '\0');
    return conf_test_err;
}
