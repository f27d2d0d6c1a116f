/*
 * Unit tests of proxy/proto/h2.c's field checks, reached by including the
 * .c: every byte of a response field name is lowered and checked as the
 * byte-by-byte tests before the table did, and the word-at-a-time value
 * check refuses exactly what nghttp2_check_header_value() refuses.
 */
#include "tests/unit/test.h"
#include "proxy/proto/h2.c"

/* name_byte[] as it was written out: a token character lowered, else 0. */
static uint8_t name_byte_ref(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || c == '-' || (c >= '0' && c <= '9'))
        return c;
    if (c >= 'A' && c <= 'Z')
        return (uint8_t)(c + 32);
    return c != 0 && memchr("!#$%&'*+.^_`|~", c, 14) ? c : 0;
}

TEST(h2_name_bytes_are_lowered_tokens)
{
    uint8_t out[4];
    char name[4] = "x-Y";

    for (unsigned c = 0; c < 256; c++) {
        ASSERT_EQ(name_byte[c], name_byte_ref((uint8_t)c));
        /* One bad byte anywhere refuses the name. */
        for (size_t at = 0; at < 3; at++) {
            memcpy(name, "x-Y", 3);
            name[at] = (char)c;
            bool ok = name_byte_ref((uint8_t)name[0]) && name_byte_ref((uint8_t)name[1]) &&
                      name_byte_ref((uint8_t)name[2]);
            ASSERT_EQ(lower_name(out, name, 3), ok);
        }
    }
    ASSERT(lower_name(out, "Content-Type", 4) && memcmp(out, "cont", 4) == 0);
    ASSERT(!lower_name(out, "", 0));
}

static void expect_value_check(const uint8_t *v, size_t n)
{
    if (px_field_value_ok(v, n) != (nghttp2_check_header_value(v, n) != 0)) {
        char hex[3 * 64 + 1] = "";
        for (size_t i = 0; i < n && i < 64; i++)
            snprintf(hex + 3 * i, 4, "%02x ", v[i]);
        TEST_FAIL_("px_field_value_ok() differs from nghttp2 on %zu bytes: %s", n, hex);
    }
}

TEST(h2_value_check_is_nghttp2s)
{
    /* Bytes at the edges of the refused set, and the valid ones nearest. */
    static const uint8_t edge[] = {0x00, 0x01, 0x08, 0x09, 0x0a, 0x0d, 0x1f, 0x20, 0x21,
                                   0x3f, 0x40, 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xdf, 0xff};
    uint8_t v[40];
    uint64_t r = 0x2545f4914f6cdd1du;

    /* Each byte value at each place of values of every length up to 24,
     * among valid bytes of both halves. */
    for (size_t n = 1; n <= 24; n++) {
        for (size_t at = 0; at < n; at++) {
            for (unsigned c = 0; c < 256; c++) {
                for (size_t i = 0; i < n; i++)
                    v[i] = i % 3 == 0 ? 'a' : i % 3 == 1 ? 0xe9 : '\t';
                v[at] = (uint8_t)c;
                expect_value_check(v, n);
            }
        }
    }
    /* Random mixes of edge bytes: borrows between neighbours must not tell. */
    for (int round = 0; round < 300000; round++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        size_t n = r % sizeof(v);
        uint64_t x = r;
        for (size_t i = 0; i < n; i++) {
            if (i % 10 == 0)
                r ^= r << 13, r ^= r >> 7, r ^= r << 17, x = r;
            v[i] = (x & 7) < 5 ? (uint8_t)('a' + (x & 7)) : edge[(x >> 3) % sizeof(edge)];
            x >>= 6;
        }
        expect_value_check(v, n);
    }
    expect_value_check((const uint8_t *)"", 0);
}
