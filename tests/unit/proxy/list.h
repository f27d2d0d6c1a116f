/* Unit tests of proxy/: one X(name) per TEST(name). */
#define PROXY_TESTS(X)                                                                             \
    X(proxyproto_v1_tcp4)                                                                          \
    X(proxyproto_v1_tcp6_and_unknown)                                                              \
    X(proxyproto_v1_prefixes_need_more)                                                            \
    X(proxyproto_v1_rejects_garbage)                                                               \
    X(proxyproto_v2_tcp4_tcp6_local)                                                               \
    X(proxyproto_v2_rejects_bad)
