/*
 * field: the field-value byte check, the end of a line of field bytes, and
 * name lowercasing, eight bytes at a time (field.h).
 */
#include "proxy/proto/field.h"

#include <stdint.h>
#include <string.h>

static bool value_bytes_ok(const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return false;
    return true;
}

/*
 * True when some byte of W is below 0x20 or is 0x7f. W - 0x2020..20 borrows
 * from a byte only above a byte below 0x20, and & ~W drops bytes >= 0x80:
 * the lowest byte below 0x20 always shows in its top bit, and with none no
 * top bit is set. A zero byte of W ^ 0x7f7f..7f (a DEL) shows the same way.
 */
static uint64_t suspect_bits8(uint64_t w)
{
    uint64_t del = w ^ PX_BYTES8(0x7f);
    return (((w - PX_BYTES8(0x20)) & ~w) | ((del - PX_BYTES8(1)) & ~del)) & PX_BYTES8(0x80);
}

static bool suspect8(uint64_t w)
{
    return suspect_bits8(w) != 0;
}

/* The last word overlaps the one before; a word that may hold a refused
 * byte (HTAB is one) is looked at byte by byte. */
bool px_field_value_ok(const void *p, size_t n)
{
    const uint8_t *v = p;
    if (n < 8)
        return value_bytes_ok(v, n);
    for (size_t at = 0;; at += 8) {
        uint64_t w;
        if (at + 8 > n)
            at = n - 8;
        memcpy(&w, v + at, 8);
        if (suspect8(w) && !value_bytes_ok(v + at, 8))
            return false;
        if (at + 8 == n)
            return true;
    }
}

/* The word of the eight bytes at P, the first of them in its low byte. */
static uint64_t load_le8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* P, the first control byte of a line, when it is the CR of a CRLF. */
static const char *crlf_at(const char *p, const char *end)
{
    return *p == '\r' && p + 1 < end && p[1] == '\n' ? p : NULL;
}

const char *px_field_value_end(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t bits = suspect_bits8(load_le8(p));
        if (bits == 0) {
            p += 8;
            continue;
        }
        /* Borrows run toward higher bytes only: the lowest byte flagged is
         * a control byte or DEL, not a false alarm. */
        size_t i = (size_t)__builtin_ctzll(bits) >> 3;
        if (p[i] != '\t')
            return crlf_at(p + i, end);
        p += i + 1;
    }
    for (; p < end; p++) {
        uint8_t c = (uint8_t)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return crlf_at(p, end);
    }
    return NULL;
}

static void lower_4(uint8_t *out, const char *name)
{
    uint32_t w;
    memcpy(&w, name, 4);
    w = (uint32_t)px_field_lower8(w);
    memcpy(out, &w, 4);
}

static void lower_8(uint8_t *out, const char *name)
{
    uint64_t w;
    memcpy(&w, name, 8);
    w = px_field_lower8(w);
    memcpy(out, &w, 8);
}

/* Names are short: the tail is one more word overlapping the last whole
 * one (lowering twice changes nothing), not a byte loop. */
void px_field_lower(uint8_t *out, const char *name, size_t n)
{
    if (n >= 8) {
        for (size_t j = 0; j + 8 <= n; j += 8)
            lower_8(out + j, name + j);
        lower_8(out + n - 8, name + n - 8);
    } else if (n >= 4) {
        lower_4(out, name);
        lower_4(out + n - 4, name + n - 4);
    } else {
        for (size_t j = 0; j < n; j++) {
            unsigned char c = (unsigned char)name[j];
            out[j] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
}
