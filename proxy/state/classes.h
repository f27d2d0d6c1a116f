/*
 * classes: which request class of its zone a request belongs to, so the
 * worker picks the region of that class (routes.h). The zone's classes are
 * a short list (at most CONF_CLASSES_MAX) matched in order on the start of
 * the path, and optionally the method: a few memcmp, no allocation.
 */
#ifndef PX_CLASSES_H
#define PX_CLASSES_H

#include "conf/conf.h"

#include <stddef.h>

/*
 * Returns the class of a request with METHOD (as llhttp names it, "GET")
 * and origin-form PATH (LEN bytes) under route RT: 1 + the index of the
 * first class with a matching prefix and method, or 0 when none matches
 * (the zone's other requests).
 */
size_t px_class_find(const struct conf_route *rt, const char *method, const char *path, size_t len);

/* Returns the routes-table index of class CLS (px_class_find) of zone ZONE of CF. */
static inline size_t px_class_route(const struct conf *cf, size_t zone, size_t cls)
{
    return cf->zones[zone].route_first + cls;
}

#endif
