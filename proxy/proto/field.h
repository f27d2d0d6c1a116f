/*
 * field: byte work on HTTP fields, a word at a time: every field of every
 * head passes here.
 *  - The bytes a field value may hold (RFC 9110 §5.5) as both our codecs'
 *    libraries take them: llhttp strict's header_value table and
 *    nghttp2_check_header_value() accept the same set, HTAB, SP, VCHAR and
 *    obs-text. Nearly every word holds no control byte at all.
 *  - Lowercasing names: HTTP/2 sends them lowercase, and names compare
 *    without case.
 */
#ifndef PX_FIELD_H
#define PX_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_BYTES8(b) (0x0101010101010101u * (b))

/*
 * W with its ASCII capitals lowered, eight bytes at once. A byte's low seven
 * bits plus 0x80 - 'A' reach the high bit exactly when it is >= 'A', plus
 * 0x80 - 'Z' - 1 exactly when > 'Z', and no sum carries into the next byte;
 * bytes >= 0x80 are left alone.
 */
static inline uint64_t px_field_lower8(uint64_t w)
{
    uint64_t low7 = w & PX_BYTES8(0x7f);
    uint64_t upper = (low7 + PX_BYTES8(0x80 - 'A')) & ~(low7 + PX_BYTES8(0x80 - 'Z' - 1)) & ~w;
    return w | ((upper & PX_BYTES8(0x80)) >> 2);
}

/* True when no byte of the N bytes at V is a control byte but HTAB, or DEL. */
bool px_field_value_ok(const void *v, size_t n);

/*
 * The CR ending the line of field bytes at P, when LF follows it; NULL when
 * some byte before it is no field byte, or END comes first. One pass finds
 * the end of a line and checks it.
 */
const char *px_field_value_end(const char *p, const char *end);

/* Writes the N bytes at NAME to OUT with ASCII capitals lowered. */
void px_field_lower(uint8_t *out, const char *name, size_t n);

#endif
