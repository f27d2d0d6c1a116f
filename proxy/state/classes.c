/*
 * classes: the request-class match. Prefix lengths are computed when the
 * config is loaded, so a request costs a memcmp per prefix until one fits.
 */
#include "proxy/state/classes.h"

#include <stdbool.h>
#include <string.h>

/* Whether METHOD is among K's methods; a class without methods takes every one. */
static bool method_matches(const struct conf_class *k, const char *method)
{
    if (k->nmethod == 0)
        return true;
    for (size_t i = 0; i < k->nmethod; i++)
        if (strcmp(k->method[i], method) == 0)
            return true;
    return false;
}

/* The first matching class, 1-based; 0 = none. See classes.h. */
size_t px_class_find(const struct conf_route *rt, const char *method, const char *path, size_t len)
{
    for (size_t c = 0; c < rt->nclasses; c++) {
        const struct conf_class *k = &rt->classes[c];
        for (size_t i = 0; i < k->nprefix; i++) {
            if (k->prefix_len[i] <= len && memcmp(k->prefix[i], path, k->prefix_len[i]) == 0 &&
                method_matches(k, method))
                return c + 1;
        }
    }
    return 0;
}
