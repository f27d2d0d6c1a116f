/*
 * router: zone -> region costs, switching on evidence, fallback, reject and
 * slow start. See router.h for the rules; this file keeps
 * them in one function, px_router_decide(), so the order in which they apply
 * is visible in one place.
 */
#include "proxy/control/router.h"
#include "proxy/base/px.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Elapsed ms from THEN to NOW, 0 when the clock appears to go backwards. */
static uint64_t elapsed(uint64_t now_ms, uint64_t then_ms)
{
    return now_ms > then_ms ? now_ms - then_ms : 0;
}

/* Formats ST's reason text; long names or huge numbers are cut, never overflowed. */
__attribute__((format(printf, 2, 3))) static void set_why(struct px_route_state *st,
                                                          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(st->why, sizeof(st->why), fmt, ap);
    va_end(ap);
}

/* Allocates the per-region score table of ST; see router.h. */
int px_route_state_init(struct px_route_state *st, size_t nregions)
{
    *st = (struct px_route_state){
        .current = -1, .secondary = -1, .candidate = -1, .away_from = -1, .share = 1.0};
    set_why(st, "%s", px_route_reason_name(PX_ROUTE_NONE));
    st->scores = calloc(nregions ? nregions : 1, sizeof(*st->scores));
    if (st->scores == NULL)
        return PX_ENOMEM;
    st->nscores = nregions;
    return 0;
}

/* Frees ST's score table. Accepts NULL. */
void px_route_state_dispose(struct px_route_state *st)
{
    if (st == NULL)
        return;
    free(st->scores);
    st->scores = NULL;
    st->nscores = 0;
}

/*
 * Returns the healthy region with the lowest total score among the N indexes
 * LIST, leaving out EXCEPT (-1: none), -1 when there is none. Ties go to the
 * one listed first, so the config order is the tie-break and decisions are
 * deterministic.
 */
static int best_of(const struct px_route_state *st, const size_t *list, size_t n, int except)
{
    int best = -1;

    for (size_t i = 0; i < n; i++) {
        size_t r = list[i];
        if (r >= st->nscores || !st->scores[r].healthy || (int)r == except)
            continue;
        if (best < 0 || st->scores[r].total_ms < st->scores[best].total_ms)
            best = (int)r;
    }
    return best;
}

/* Starts the evidence over: after a change of region, or when hysteresis did not run. */
static void evidence_reset(struct px_route_state *st, uint64_t now_ms)
{
    st->candidate = -1;
    st->evidence = 0;
    st->excess_ms = 0;
    st->evidence_at_ms = now_ms;
}

/*
 * Applies the evidence rule to the healthy current region CUR, a member of
 * LIST (N entries: the allowed regions, or the fallbacks), against the best
 * other healthy region of LIST. The gain is negative while CUR is the
 * better one, so noise that crosses back and forth drains S as fast as it
 * fills it. Returns the region to use and sets ST's reason, text and
 * evidence.
 */
static int hold(const struct conf *cf, struct px_route_state *st, int cur, const size_t *list,
                size_t n, uint64_t now_ms)
{
    const struct conf_routing *ro = &cf->routing;
    double score = st->scores[cur].total_ms, gain, margin, pct_margin, dt_s;
    int best = best_of(st, list, n, cur);

    /* The excess seen at the last decision held until now (left Riemann sum). */
    dt_s = (double)elapsed(now_ms, st->evidence_at_ms) / 1000.0;
    st->evidence += st->excess_ms * dt_s;
    if (st->evidence < 0)
        st->evidence = 0;
    st->evidence_at_ms = now_ms;

    gain = best < 0 ? 0 : score - st->scores[best].total_ms;
    margin = (double)ro->min_gain_ms;
    pct_margin = score * (double)ro->min_gain_pct / 100.0;
    if (pct_margin > margin)
        margin = pct_margin;
    st->excess_ms = gain - margin;
    if (best < 0 || gain <= 0) {
        st->candidate = -1;
        st->reason = PX_ROUTE_BEST;
        set_why(st, "best");
        return cur;
    }
    if (!(gain > margin) && st->evidence <= 0) {
        st->candidate = -1;
        st->reason = PX_ROUTE_HELD;
        set_why(st, "held: %s better by %.0f ms, margin %.0f ms", cf->regions[best].name, gain,
                margin);
        return cur;
    }
    st->candidate = best;
    /* With switch_evidence 0 the first excess beyond the margin is enough. */
    if (gain > margin && st->evidence >= (double)ro->switch_evidence) {
        st->reason = PX_ROUTE_SWITCHED;
        set_why(st, "switched: better by %.0f ms, margin %.0f ms, evidence %.0f ms*s", gain, margin,
                st->evidence);
        return best;
    }
    st->reason = PX_ROUTE_HELD;
    set_why(st, "held: %s better by %.0f ms, margin %.0f ms, evidence %.0f of %u ms*s",
            cf->regions[best].name, gain, margin, st->evidence, ro->switch_evidence);
    return cur;
}

/* Fills every region's cost; see router.h. */
static void score_all(const struct conf *cf, const struct conf_route *rt,
                      const struct px_region_view *regions, struct px_route_state *st)
{
    for (size_t r = 0; r < cf->nregions; r++) {
        struct px_route_score *s = &st->scores[r];
        s->rtt_ms = regions[r].rtt_ms;
        s->goodput_bps = regions[r].goodput_bps > 0 ? regions[r].goodput_bps : 0;
        s->transfer_ms =
            st->size_bytes > 0 && s->goodput_bps > 0 ? st->size_bytes / s->goodput_bps * 1000.0 : 0;
        s->bias_ms = rt->bias_ms ? (double)rt->bias_ms[r] : 0.0;
        s->total_ms = s->rtt_ms + s->transfer_ms + s->bias_ms;
    }
}

/* Sets ST's reason to REASON with the fixed text WHY. */
static void set_reason(struct px_route_state *st, enum px_route_reason reason, const char *why)
{
    st->reason = reason;
    set_why(st, "%s", why);
}

/*
 * Recomputes the slow-start pair after the decision moved from PREV to
 * st->current; see router.h.
 */
static void slow_start(const struct conf *cf, const struct px_region_view *regions,
                       struct px_route_state *st, int prev, uint64_t now_ms)
{
    int cur = st->current;
    uint64_t ramp = cf->routing.slow_start_ms;
    double share;

    if (ramp > PX_ROUTER_RAMP_MAX_MS)
        ramp = PX_ROUTER_RAMP_MAX_MS;
    if (cur != prev)
        st->secondary = prev;
    if (cur < 0 || ramp == 0 || st->secondary < 0 || st->secondary == cur ||
        (size_t)st->secondary >= st->nscores || !st->scores[cur].allowed ||
        !st->scores[st->secondary].allowed || !st->scores[st->secondary].healthy)
        goto off;
    share = (double)elapsed(now_ms, regions[cur].healthy_since_ms) / (double)ramp;
    if (share >= 1.0)
        goto off;
    st->share = share;
    return;
off:
    st->secondary = -1;
    st->share = 1.0;
}

/* Whether region R (-1: none) is an allowed region still unhealthy or drained. */
static bool still_away(const struct px_route_state *st, int r)
{
    return r >= 0 && (size_t)r < st->nscores && st->scores[r].allowed && !st->scores[r].healthy;
}

/*
 * Keeps the reason "failover" while the zone, on NEXT, is away from the
 * allowed region it failed over from because that region is still out;
 * forgets that region once it is back (or no longer allowed). A move on
 * evidence keeps its own reason for the tick it happens; fallback and
 * reject say more than failover and stay.
 */
static void failover_persists(const struct conf *cf, const struct px_region_view *regions,
                              struct px_route_state *st, int next)
{
    int away = st->away_from;
    char held[sizeof(st->why)];

    if (!still_away(st, away) || next < 0 || next == away) {
        st->away_from = -1;
        return;
    }
    if (st->reason != PX_ROUTE_BEST && st->reason != PX_ROUTE_HELD)
        return;
    /* The hold's own text (a challenger's evidence) follows the cause. */
    memcpy(held, st->why, sizeof(held));
    st->reason = PX_ROUTE_FAILOVER;
    set_why(st, "failover: %s %s; %s", cf->regions[away].name,
            regions[away].drained ? "drained" : "unhealthy", held);
}

/* Decides the region of one zone; returns whether current changed. */
bool px_router_decide(const struct conf *cf, size_t zone_idx, const struct px_region_view *regions,
                      double size_bytes, uint64_t now_ms, struct px_route_state *st)
{
    const struct conf_route *rt;
    bool first = st->reason == PX_ROUTE_NONE;
    int prev = st->current, next, best, best_fb;
    const struct px_route_score *ps;
    bool hysteresis = false; /* hold() ran and owns the candidate timer */

    PX_ASSERT(zone_idx < cf->nzones);
    PX_ASSERT(st->nscores == cf->nregions);
    rt = &cf->zones[zone_idx].route;

    for (size_t r = 0; r < cf->nregions; r++) {
        struct px_route_score *s = &st->scores[r];
        s->healthy = regions[r].healthy && !regions[r].drained;
        s->allowed = false;
        s->fallback = false;
    }
    for (size_t i = 0; i < rt->nregions; i++)
        if (rt->regions[i] < cf->nregions)
            st->scores[rt->regions[i]].allowed = true;
    for (size_t i = 0; i < rt->nfallback; i++)
        if (rt->fallback[i] < cf->nregions)
            st->scores[rt->fallback[i]].fallback = true;
    st->size_bytes = size_bytes > 0 ? size_bytes : 0;
    score_all(cf, rt, regions, st);

    best = best_of(st, rt->regions, rt->nregions, -1);
    best_fb = best_of(st, rt->fallback, rt->nfallback, -1);
    /* A current index from another conf is as good as none. */
    ps = prev >= 0 && (size_t)prev < st->nscores ? &st->scores[prev] : NULL;

    if (best >= 0) {
        if (ps == NULL) {
            next = best;
            set_reason(st, first ? PX_ROUTE_INITIAL : PX_ROUTE_RECOVERED,
                       first ? "initial" : "recovered: allowed region healthy again");
        } else if (!ps->allowed) {
            next = best;
            if (ps->fallback)
                set_reason(st, PX_ROUTE_RECOVERED, "recovered: allowed region healthy again");
            else
                set_reason(st, PX_ROUTE_FAILOVER, "failover: current not allowed");
        } else if (!ps->healthy) {
            next = best;
            set_reason(st, PX_ROUTE_FAILOVER,
                       regions[prev].drained ? "failover: current drained"
                                             : "failover: current unhealthy");
            /* The first region left stays the cause while it is out. */
            if (!still_away(st, st->away_from))
                st->away_from = prev;
        } else {
            next = hold(cf, st, prev, rt->regions, rt->nregions, now_ms);
            hysteresis = true;
        }
    } else if (best_fb >= 0) {
        /* Hysteresis among fallbacks too, so a fallback period does not flap. */
        if (ps != NULL && ps->fallback && ps->healthy) {
            next = hold(cf, st, prev, rt->fallback, rt->nfallback, now_ms);
            hysteresis = true;
        } else {
            next = best_fb;
        }
        set_reason(st, PX_ROUTE_FALLBACK, "fallback: no allowed region healthy");
    } else {
        next = -1;
        set_reason(st, PX_ROUTE_REJECT,
                   rt->nfallback ? "reject: no allowed or fallback region healthy"
                                 : "reject: no allowed region healthy");
    }

    if (!hysteresis || next != prev)
        evidence_reset(st, now_ms);
    failover_persists(cf, regions, st, next);
    st->current = next;
    if (next != prev) {
        st->switched_ms = now_ms;
        if (!first)
            st->switches++;
    }
    slow_start(cf, regions, st, prev, now_ms);
    return next != prev;
}

/* Decays M's sums to NOW_MS and adds one response. */
void px_size_add(struct px_size_mean *m, uint64_t bytes, uint64_t now_ms)
{
    double d = exp2(-(double)elapsed(now_ms, m->at_ms) / PX_SIZE_HALF_LIFE_MS);

    m->bytes = m->bytes * d + (double)bytes;
    m->count = m->count * d + 1;
    m->total++;
    if (now_ms > m->at_ms)
        m->at_ms = now_ms;
}

/* The decay cancels in the ratio, so the mean needs no clock. */
double px_size_mean(const struct px_size_mean *m)
{
    return m->count > 0 ? m->bytes / m->count : 0;
}

/* Healthy allowed regions by score, then healthy fallbacks by score. */
unsigned px_router_failover_order(const struct px_route_state *st, uint16_t *out)
{
    unsigned n = 0;

    for (int pass = 0; pass < 2; pass++) {
        unsigned start = n;
        for (size_t r = 0; r < st->nscores; r++) {
            const struct px_route_score *sc = &st->scores[r];
            if (!sc->healthy || !(pass == 0 ? sc->allowed : sc->fallback))
                continue;
            /* Insertion into the sorted tail; ties keep index order. */
            unsigned j = n++;
            for (; j > start && st->scores[out[j - 1]].total_ms > sc->total_ms; j--)
                out[j] = out[j - 1];
            out[j] = (uint16_t)r;
        }
    }
    return n;
}
