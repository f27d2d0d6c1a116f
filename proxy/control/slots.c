/*
 * slots: every zone and region name this process has seen, each with a
 * fixed index into the workers' stats arrays, so counters survive reloads
 * that add, remove or reorder names. Room is fixed at start (the stats are
 * sized once); a reload that would need more is refused, not truncated.
 */
#include "proxy/control/control.h"
#include "proxy/base/px.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int px__control_slot_find(const struct px_slots *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return (int)i;
    return -1;
}

uint16_t px__control_slot_add(struct px_slots *s, const char *name)
{
    int i = px__control_slot_find(s, name);
    if (i >= 0)
        return (uint16_t)i;
    /* px__control_slots_check() refused any config that would not fit. */
    PX_ASSERT(s->n < s->cap && s->cap <= UINT16_MAX);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    return (uint16_t)s->n++;
}

int px__control_slots_init(struct px_slots *s, size_t cap)
{
    s->n = 0;
    s->cap = cap;
    s->names = calloc(cap ? cap : 1, sizeof(*s->names));
    return s->names ? 0 : PX_ENOMEM;
}

/* New names that a config would add to S. */
static size_t slots_missing(const struct px_slots *s, const char *first, size_t n, size_t stride)
{
    size_t missing = 0;
    for (size_t i = 0; i < n; i++)
        if (px__control_slot_find(s, first + i * stride) < 0)
            missing++;
    return missing;
}

int px__control_slots_check(struct px_control *ctl, const struct conf *cf, char *err, size_t errlen)
{
    size_t z = slots_missing(&ctl->zone_slots, cf->zones[0].name, cf->nzones, sizeof(cf->zones[0]));
    size_t r = slots_missing(&ctl->region_slots, cf->regions[0].name, cf->nregions,
                             sizeof(cf->regions[0]));
    if (ctl->zone_slots.n + z <= ctl->zone_slots.cap &&
        ctl->region_slots.n + r <= ctl->region_slots.cap)
        return 0;
    snprintf(err, errlen,
             "%s:1:1: this process has counted %zu zone and %zu region names and has room for "
             "%zu and %zu; the new config adds %zu and %zu (a restart makes room); the old "
             "config stays",
             cf->path, ctl->zone_slots.n, ctl->region_slots.n, ctl->zone_slots.cap,
             ctl->region_slots.cap, z, r);
    return -1;
}
