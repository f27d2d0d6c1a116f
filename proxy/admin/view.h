/*
 * view: the few questions every admin page asks of the control thread's
 * state (its config, readiness, a zone's relation to a region). Control
 * thread only, like everything in admin/.
 */
#ifndef PX_ADMIN_VIEW_H
#define PX_ADMIN_VIEW_H

#include "proxy/control/control.h"

#include <stdbool.h>

static inline const struct conf *px_admin_conf(const struct px_control *ctl)
{
    return ctl->snap->cfg->conf;
}

/*
 * Ready: not shutting down, a routing table is out and some region is
 * healthy and not drained.
 */
static inline bool px_admin_ready(const struct px_control *ctl)
{
    if (atomic_load(&ctl->lame_duck) || ctl->routes == NULL)
        return false;
    for (size_t r = 0; r < px_admin_conf(ctl)->nregions; r++)
        if (ctl->regions[r].healthy && !ctl->regions[r].drained)
            return true;
    return false;
}

enum px_admin_role { PX_ROLE_NONE, PX_ROLE_ALLOWED, PX_ROLE_FALLBACK };

/* What region R is to zone Z in the config. */
static inline enum px_admin_role px_admin_route_role(const struct conf *cf, size_t z, size_t r)
{
    const struct conf_route *rt = &cf->zones[z].route;
    for (size_t i = 0; i < rt->nregions; i++)
        if (rt->regions[i] == r)
            return PX_ROLE_ALLOWED;
    for (size_t i = 0; i < rt->nfallback; i++)
        if (rt->fallback[i] == r)
            return PX_ROLE_FALLBACK;
    return PX_ROLE_NONE;
}

#endif
