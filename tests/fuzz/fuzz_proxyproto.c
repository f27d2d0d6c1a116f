/*
 * libFuzzer target: px_proxyproto_parse(). Besides memory safety: a DONE
 * result consumes no more than it was given and names AF_UNSPEC, AF_INET or
 * AF_INET6; and parsing is consistent across segmentation: when the whole
 * input parses DONE with n bytes consumed, every prefix shorter than n is
 * MORE (a header split over reads must never be refused), and when the
 * whole input is MORE, so is every prefix.
 */
#include "proxy/proto/proxyproto.h"
#include "proxy/base/px.h"
#include "tests/fuzz/fuzz_common.h"

#include <string.h>

/* Prefix lengths to try: all of them when short, else a spread. */
static bool try_prefix(size_t k, size_t n)
{
    return n <= 512 || k < 64 || k + 64 > n || k % 97 == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage src;
    size_t used = (size_t)-1;
    const char *in = (const char *)data;

    /* A copy of exactly SIZE bytes, so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, in, size);
    int rc = px_proxyproto_parse(buf, size, &src, &used);
    FUZZ_CHECK(rc == PX_PROXYPROTO_DONE || rc == PX_PROXYPROTO_MORE || rc == PX_EPARSE);
    if (rc == PX_PROXYPROTO_DONE) {
        FUZZ_CHECK(used > 0 && used <= size);
        FUZZ_CHECK(src.ss_family == AF_UNSPEC || src.ss_family == AF_INET ||
                   src.ss_family == AF_INET6);
        for (size_t k = 0; k < used; k++) {
            if (!try_prefix(k, used))
                continue;
            size_t u;
            int p = px_proxyproto_parse(buf, k, &src, &u);
            if (p != PX_PROXYPROTO_MORE) {
                fprintf(stderr, "whole input DONE at %zu, prefix of %zu gives %d\n", used, k, p);
                abort();
            }
        }
        /* Bytes after the header do not change it. */
        size_t u2;
        FUZZ_CHECK(px_proxyproto_parse(buf, used, &src, &u2) == PX_PROXYPROTO_DONE && u2 == used);
    } else if (rc == PX_PROXYPROTO_MORE) {
        for (size_t k = 0; k < size; k++) {
            size_t u;
            if (try_prefix(k, size))
                FUZZ_CHECK(px_proxyproto_parse(buf, k, &src, &u) == PX_PROXYPROTO_MORE);
        }
    }
    free(buf);
    return 0;
}
