/*
 * page: the status page (proxy/admin/page.html), compiled in at build time
 * by the Makefile (od into a generated C array), so the binary serves it
 * without reading a file.
 */
#ifndef PX_ADMIN_PAGE_H
#define PX_ADMIN_PAGE_H

#include <stddef.h>

extern const unsigned char px_admin_page[]; /* the file's bytes, then a NUL */
extern const size_t px_admin_page_len;      /* without the NUL */

#endif
