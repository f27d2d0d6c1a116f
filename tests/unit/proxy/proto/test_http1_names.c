/*
 * Unit tests of proxy/proto/http1.c's byte-level helpers, reached by
 * including the .c: the word-at-a-time case folding and line-end search
 * against byte-by-byte ones, the known-name classification that px_http_scan() and
 * the renderers rely on instead of comparing names, and the Host check's
 * byte sets against the <ctype.h> and strchr() test they replaced.
 */
#include "tests/unit/test.h"
#include "proxy/proto/http1.c"

#include <ctype.h>

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* What lower_eq() must say: px_http_ieq() over the same N bytes. */
static bool lower_eq_ref(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)s[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

TEST(http1_lower8_folds_every_byte_in_every_lane)
{
    for (unsigned lane = 0; lane < 8; lane++) {
        for (unsigned c = 0; c < 256; c++) {
            /* The other lanes hold bytes next to the edges ('@', '[', 0xff). */
            uint64_t fill = 0x40ff5b405aff4160u & ~(0xffull << (8 * lane));
            uint64_t w = fill | ((uint64_t)c << (8 * lane));
            uint64_t want = 0;
            for (unsigned k = 0; k < 8; k++)
                want |= (uint64_t)fold((unsigned char)(w >> (8 * k))) << (8 * k);
            if (px_field_lower8(w) != want)
                TEST_FAIL_("lane %u byte 0x%02x: %016" PRIx64 " vs %016" PRIx64, lane, c,
                           px_field_lower8(w), want);
        }
    }
}

/* px_field_lower() is fold() on every byte, at every length and offset. */
TEST(field_lower_folds_every_byte_at_every_place)
{
    char in[24];
    uint8_t out[24];

    for (size_t n = 0; n <= sizeof(in); n++) {
        for (size_t at = 0; at < n; at++) {
            for (unsigned c = 0; c < 256; c++) {
                for (size_t i = 0; i < n; i++)
                    in[i] = "A-zZ@[`{"[i % 8];
                in[at] = (char)c;
                px_field_lower(out, in, n);
                for (size_t i = 0; i < n; i++)
                    if (out[i] != fold((unsigned char)in[i]))
                        TEST_FAIL_("n %zu at %zu byte 0x%02x: 0x%02x at %zu", n, at, c, out[i], i);
            }
        }
    }
}

/* What px_field_value_end() must say, a byte at a time. */
static const char *value_end_ref(const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return c == '\r' && p + 1 < end && p[1] == '\n' ? p : NULL;
    }
    return NULL;
}

/* Every byte value at every place of lines of every length up to 24, with
 * a second byte after it (a CR, LF, HTAB or another) so that a first
 * suspect byte and what its word says of the bytes above it both show. */
TEST(field_value_end_finds_the_crlf_of_every_line)
{
    static const char seconds[] = {'\r', '\n', '\t', 0x01, 0x7f, 'a'};
    char in[26];

    for (size_t n = 1; n <= 24; n++) {
        for (size_t at = 0; at < n; at++) {
            for (unsigned c = 0; c < 256; c++) {
                for (size_t k = 0; k < sizeof(seconds); k++) {
                    for (size_t i = 0; i < n; i++)
                        in[i] = "v\x80 ~!\xff 0"[i % 8];
                    in[at] = (char)c;
                    if (at + 1 < n)
                        in[at + 1] = seconds[k];
                    in[n] = '\r', in[n + 1] = '\n';
                    for (size_t len = n; len <= n + 2; len++)
                        if (px_field_value_end(in, in + len) != value_end_ref(in, in + len))
                            TEST_FAIL_("n %zu at %zu byte 0x%02x then 0x%02x, %zu bytes", n, at, c,
                                       (unsigned char)seconds[k], len);
                }
            }
        }
    }
}

TEST(http1_lower_eq_matches_byte_by_byte)
{
    static const char lits[] = "proxy-authenticate_x-forwarded-for";
    char s[40];
    uint64_t r = 0x9e3779b97f4a7c15u;

    for (int round = 0; round < 200000; round++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        size_t n = r % 19, at = (r >> 8) % (sizeof(lits) - n);
        const char *lit = lits + at;
        memcpy(s, lit, n);
        /* Flip the case of some letters, and now and then change one byte. */
        for (size_t i = 0; i < n; i++)
            if ((r >> (16 + i)) & 1 && s[i] >= 'a' && s[i] <= 'z')
                s[i] = (char)(s[i] - 32);
        if (n > 0 && (r >> 40) % 3 == 0)
            s[(r >> 44) % n] = (char)(r >> 52);
        if (lower_eq(s, lit, n) != lower_eq_ref(s, lit, n))
            TEST_FAIL_("round %d: n %zu at %zu", round, n, at);
    }
}

TEST(http1_known_names_classify_in_any_case)
{
    static const struct {
        const char *name;
        uint16_t id;
    } known[] = {
        {"connection", HID_CONNECTION},
        {"keep-alive", HID_KEEP_ALIVE},
        {"proxy-connection", HID_PROXY_CONNECTION},
        {"te", HID_TE},
        {"trailer", HID_TRAILER},
        {"upgrade", HID_UPGRADE},
        {"proxy-authenticate", HID_PROXY_AUTHENTICATE},
        {"host", HID_HOST},
        {"expect", HID_EXPECT},
        {"content-length", HID_CONTENT_LENGTH},
        {"transfer-encoding", HID_TRANSFER_ENCODING},
        {"content_length", HID_CONTENT_LENGTH_US},
        {"transfer_encoding", HID_TRANSFER_ENCODING_US},
        {"x-forwarded-for", HID_X_FORWARDED_FOR},
        {"x-forwarded-proto", HID_X_FORWARDED_PROTO},
        {"forwarded", HID_FORWARDED},
        {"x-real-ip", HID_X_REAL_IP},
        {"via", HID_VIA},
    };
    char s[32];

    for (size_t k = 0; k < PX_ARRAY_LEN(known); k++) {
        const char *lit = known[k].name;
        size_t n = strlen(lit);
        for (unsigned mask = 0; mask < 4096; mask++) {
            for (size_t i = 0; i < n; i++)
                s[i] = (char)((mask >> (i % 12)) & 1 && lit[i] >= 'a' ? lit[i] - 32 : lit[i]);
            ASSERT_EQ(classify(s, n), known[k].id);
        }
        /* Any other byte anywhere makes it another name, never a known one. */
        for (size_t i = 0; i < n; i++) {
            for (unsigned c = 0; c < 256; c++) {
                if (fold((unsigned char)c) == (unsigned char)lit[i])
                    continue;
                memcpy(s, lit, n);
                s[i] = (char)c;
                uint16_t id = classify(s, n);
                if (id != HID_OTHER && strncmp(known[id - 1].name, lit, n) == 0)
                    TEST_FAIL_("%s with 0x%02x at %zu", lit, c, i);
                ASSERT(id == HID_OTHER || lower_eq_ref(s, known[id - 1].name, n));
            }
        }
        ASSERT_EQ(classify(lit, n - 1), HID_OTHER);
    }
    for (size_t k = 0; k < PX_ARRAY_LEN(known); k++)
        ASSERT_EQ(known[k].id, k + 1); /* the table is in hid order, as known[id - 1] needs */
}

/* valid_host() as it was, byte by byte with <ctype.h> (the C locale) and
 * strchr(), except that NUL is refused: strchr() found the terminator
 * (llhttp and on_header_value() refuse NUL before it gets here). */
static bool valid_host_ref(const char *v, size_t n)
{
    size_t i = 0;
    if (n > 0 && v[0] == '[') {
        while (i < n && v[i] != ']') {
            char c = v[i++];
            if (!(c == '[' && i == 1) && !isxdigit((unsigned char)c) && c != ':' && c != '.' &&
                c != 'v' && c != 'V')
                return false;
        }
        if (i == n || i < 2)
            return false;
        i++;
    } else {
        for (; i < n && v[i] != ':'; i++) {
            unsigned char c = (unsigned char)v[i];
            if (!isalnum(c) && (c == 0 || strchr("-._~%!$&'()*+,;=", c) == NULL))
                return false;
        }
    }
    if (i == n)
        return true;
    if (v[i++] != ':')
        return false;
    for (; i < n; i++)
        if (!isdigit((unsigned char)v[i]))
            return false;
    return true;
}

TEST(http1_valid_host_byte_sets_match_ctype)
{
    static const char alphabet[] = "[]:v.0aG%_~-@/ \x80\x7f\t9zZfF!=";
    const size_t na = sizeof(alphabet) - 1;
    char s[8];

    /* Every one- and two-byte value, and three or four bytes from ALPHABET. */
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (char)a;
        ASSERT_EQ(valid_host(s, 1), valid_host_ref(s, 1));
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (char)b;
            if (valid_host(s, 2) != valid_host_ref(s, 2))
                TEST_FAIL_("0x%02x 0x%02x", a, b);
        }
    }
    for (size_t k = 0; k < na * na * na * na; k++) {
        size_t x = k;
        for (size_t i = 0; i < 4; i++, x /= na)
            s[i] = alphabet[x % na];
        for (size_t n = 3; n <= 4; n++)
            if (valid_host(s, n) != valid_host_ref(s, n))
                TEST_FAIL_("\"%.*s\"", (int)n, s);
    }
    static const char *const forms[] = {
        "example.com:8080",
        "[2001:db8::1]:80",
        "[v1.fe]",
        "[::1",
        "[]",
        "a:",
        ":80",
        "a:8x",
        "xn--d1a.example",
        "%41b",
        "[::1]x",
        "[::1]:",
        "192.0.2.1:65536",
    };
    for (size_t i = 0; i < PX_ARRAY_LEN(forms); i++)
        ASSERT_EQ(valid_host(forms[i], strlen(forms[i])),
                  valid_host_ref(forms[i], strlen(forms[i])));
    ASSERT(valid_host("", 0));
}
