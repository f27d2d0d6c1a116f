/*
 * Unit tests of proxy/proto/h2.c's field checks, reached by including the
 * .c: every byte of a response field name is lowered and checked as the
 * byte-by-byte tests before the table did.
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
