/*
 * Unit tests of proxy/base/log.c's escaping: whatever bytes a client sends,
 * the escaped text has no quote, backslash, control byte or non-ASCII byte
 * left unescaped, never cuts an escape in half, and reads back to the input.
 */
#include "tests/unit/test.h"
#include "proxy/base/log.h"

#include <stdint.h>

TEST(log_escape_quotes_controls_and_non_ascii)
{
    char out[128];
    const char in[] = "a\"b\\c\nd\re\x01\x7f\xc3\xa9 ok";

    size_t n = px_log_escape(out, sizeof(out), in, sizeof(in) - 1);
    ASSERT_STR_EQ(out, "a\\\"b\\\\c\\x0ad\\x0de\\x01\\x7f\\xc3\\xa9 ok");
    ASSERT_EQ(n, strlen(out));
    /* A NUL inside is data, not the end. */
    n = px_log_escape(out, sizeof(out), "a\0b", 3);
    ASSERT_STR_EQ(out, "a\\x00b");
}

TEST(log_escape_never_cuts_an_escape)
{
    char out[6];
    /* "ab" fits, then \x0a needs 4 bytes and only 3 remain before the NUL. */
    size_t n = px_log_escape(out, sizeof(out), "ab\ncd", 5);
    ASSERT_STR_EQ(out, "ab");
    ASSERT_EQ(n, 2);
    ASSERT_EQ(px_log_escape(out, 0, "x", 1), 0);
    px_log_escape(out, 1, "x", 1);
    ASSERT_STR_EQ(out, "");
}

/* Reverses px_log_escape, for the property below. */
static size_t unescape(const char *s, char *out)
{
    size_t o = 0;
    while (*s) {
        if (*s != '\\') {
            out[o++] = *s++;
        } else if (s[1] == 'x') {
            char hex[3] = {s[2], s[3], 0};
            out[o++] = (char)strtoul(hex, NULL, 16);
            s += 4;
        } else {
            out[o++] = s[1];
            s += 2;
        }
    }
    return o;
}

TEST(log_escape_property_random_bytes)
{
    uint64_t x = 88172645463325252ull;
    char in[64], out[4 * 64 + 1], back[64];

    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % 64);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[i] = (char)(x & 0xff);
        }
        size_t n = px_log_escape(out, sizeof(out), in, len);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)out[i];
            ASSERT(ch >= 0x20 && ch < 0x7f); /* printable ASCII only */
            if (ch == '"')
                ASSERT(i > 0 && out[i - 1] == '\\');
        }
        ASSERT_EQ(unescape(out, back), len);
        ASSERT(memcmp(back, in, len) == 0);
    }
}
