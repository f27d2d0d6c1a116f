/* Unit tests of proxy/: one X(name) per TEST(name). */
#define PROXY_TESTS(X)
