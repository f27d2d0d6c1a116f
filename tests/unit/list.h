/* Every unit test, listed once per module in that module's list.h. */
#include "tests/unit/conf/list.h"
#include "tests/unit/geo/list.h"
#include "tests/unit/proxy/list.h"

#define ALL_TESTS(X) CONF_TESTS(X) GEO_TESTS(X) PROXY_TESTS(X)
