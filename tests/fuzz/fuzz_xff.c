/*
 * libFuzzer target: X-Forwarded-For reading (proxy/proto/xff.c). The input
 * is split at newlines into header values and walked from a trusted peer,
 * with 10.0.0.0/8 and 2001:db8::/32 trusted. Besides memory safety: the walk
 * ends on an address some element of the input names, or on the peer; an
 * element that parses gives AF_INET or AF_INET6 and never an IPv4-mapped
 * IPv6 address (classification would then disagree with the zone matcher).
 */
#include "proxy/proto/xff.h"
#include "geo/addr.h"
#include "tests/fuzz/fuzz_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void check_family(const struct sockaddr_storage *ss)
{
    FUZZ_CHECK(ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
    if (ss->ss_family == AF_INET6)
        FUZZ_CHECK(!IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf_cidr cidrs[2] = {
        {.family = AF_INET, .prefix = 8, .addr = {10}},
        {.family = AF_INET6, .prefix = 32, .addr = {0x20, 0x01, 0x0d, 0xb8}}};
    struct conf_cidr_list trusted = {cidrs, 2};
    struct px_span spans[16];
    size_t n = 0, start = 0;
    char *buf = malloc(size ? size : 1); /* exactly SIZE bytes: ASan sees overreads */

    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);
    for (size_t i = 0; i <= size && n < 16; i++) {
        if (i == size || buf[i] == '\n') {
            spans[n++] = (struct px_span){buf + start, i - start};
            start = i + 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_storage one;
        if (px_xff_parse(spans[i].base, spans[i].len, &one) == 0)
            check_family(&one);
    }
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *peer = (struct sockaddr_in *)&ss;
    peer->sin_family = AF_INET;
    inet_pton(AF_INET, "10.0.0.1", &peer->sin_addr);
    px_xff_walk(spans, n, &trusted, &ss);
    check_family(&ss);
    free(buf);
    return 0;
}
