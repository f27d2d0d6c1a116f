/*
 * field: the bytes an HTTP field value may hold (RFC 9110 §5.5) as both
 * our codecs' libraries take them: llhttp strict's header_value table and
 * nghttp2_check_header_value() accept the same set, HTAB, SP, VCHAR and
 * obs-text. Checked a word at a time: every value of every head passes
 * here, and nearly every word holds no control byte at all.
 */
#ifndef PX_FIELD_H
#define PX_FIELD_H

#include <stdbool.h>
#include <stddef.h>

/* True when no byte of the N bytes at V is a control byte but HTAB, or DEL. */
bool px_field_value_ok(const void *v, size_t n);

#endif
