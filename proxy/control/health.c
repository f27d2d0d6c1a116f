/*
 * health: active-check counters, RTT and peak EWMAs, passive ejection with
 * backoff, and the region aggregate. See health.h for the model; this file
 * only adds the arithmetic.
 */
#include "proxy/control/health.h"

#include <math.h>

/* Elapsed ms from THEN to NOW, 0 when the clock appears to go backwards. */
static uint64_t elapsed(uint64_t now_ms, uint64_t then_ms)
{
    return now_ms > then_ms ? now_ms - then_ms : 0;
}

/* Returns 1 - 2^(-dt/half_life); see health.h. */
double px_ewma_alpha(uint64_t dt_ms, uint64_t half_life_ms)
{
    if (half_life_ms == 0)
        return 1.0;
    return 1.0 - exp2(-(double)dt_ms / (double)half_life_ms);
}

/*
 * Sets *OUT to the median of H's last PX_REAL_SAMPLES real latencies;
 * returns false (and leaves *OUT) when there are fewer, or the oldest is
 * more than PX_REAL_FRESH_MS old at NOW_MS.
 */
static bool real_median(const struct px_health *h, uint64_t now_ms, double *out)
{
    float v[PX_REAL_SAMPLES];

    if (h->real_n < PX_REAL_SAMPLES)
        return false;
    for (size_t i = 0; i < PX_REAL_SAMPLES; i++) {
        if (elapsed(now_ms, h->real_at_ms[i]) > PX_REAL_FRESH_MS)
            return false;
        /* Insertion sort of a handful of values. */
        size_t j = i;
        for (; j > 0 && v[j - 1] > h->real_ms[i]; j--)
            v[j] = v[j - 1];
        v[j] = h->real_ms[i];
    }
    *out = v[PX_REAL_SAMPLES / 2];
    return true;
}

/* Adds one real latency to the step detector's ring. */
static void real_sample(struct px_health *h, double ms, uint64_t now_ms)
{
    size_t i = h->real_n++ % PX_REAL_SAMPLES;

    h->real_ms[i] = (float)ms;
    h->real_at_ms[i] = now_ms;
}

/* The probe EWMA plus the real median's move since the last probe; see health.h. */
double px_health_route_rtt_ms(const struct px_health *h, uint64_t now_ms)
{
    double median, rtt = h->rtt_ms;

    if (h->has_real_base && real_median(h, now_ms, &median))
        rtt += median - h->real_base_ms;
    return rtt > 0 ? rtt : 0;
}

/* Folds one probe RTT into the RTT EWMA and its mean absolute deviation. */
static void rtt_sample(struct px_health *h, double rtt_ms, uint64_t now_ms)
{
    double a;

    /* The probe now carries whatever step the real latencies showed. */
    h->has_real_base = real_median(h, now_ms, &h->real_base_ms);
    if (!h->has_rtt) {
        h->rtt_ms = rtt_ms;
        h->rtt_dev_ms = 0;
        h->rtt_at_ms = now_ms;
        h->has_rtt = true;
        return;
    }
    a = px_ewma_alpha(elapsed(now_ms, h->rtt_at_ms), h->routing->rtt_half_life_ms);
    /* The deviation is measured against the estimate before this sample. */
    h->rtt_dev_ms += a * (fabs(rtt_ms - h->rtt_ms) - h->rtt_dev_ms);
    h->rtt_ms += a * (rtt_ms - h->rtt_ms);
    if (now_ms > h->rtt_at_ms)
        h->rtt_at_ms = now_ms;
}

/*
 * Folds one latency into the peak EWMA: a sample above the estimate
 * replaces it at once, one below pulls it down with the half-life decay.
 */
static void peak_sample(struct px_health *h, double ms, uint64_t now_ms)
{
    if (!h->has_peak || ms >= h->peak_ms) {
        h->peak_ms = ms;
        h->has_peak = true;
    } else {
        double a = px_ewma_alpha(elapsed(now_ms, h->peak_at_ms), h->routing->rtt_half_life_ms);
        h->peak_ms += a * (ms - h->peak_ms);
    }
    if (now_ms > h->peak_at_ms)
        h->peak_at_ms = now_ms;
}

/* Sets up H with borrowed settings and an initial state; see health.h. */
void px_health_init(struct px_health *h, const struct conf_probe *probe,
                    const struct conf_passive *passive, const struct conf_routing *routing, bool up,
                    uint64_t now_ms)
{
    *h = (struct px_health){0};
    px_health_reconf(h, probe, passive, routing);
    h->up = up;
    h->changed_ms = now_ms;
}

/* Repoints H's borrowed settings after a reload; see health.h. */
void px_health_reconf(struct px_health *h, const struct conf_probe *probe,
                      const struct conf_passive *passive, const struct conf_routing *routing)
{
    h->probe = probe;
    h->passive = passive;
    h->routing = routing;
}

/* Marks H up; returns true when that is a change. */
bool px_health_set_up(struct px_health *h, uint64_t now_ms)
{
    h->ok_run = 0;
    h->fail_run = 0;
    if (h->up)
        return false;
    h->up = true;
    h->changed_ms = now_ms;
    return true;
}

/* Marks H down; returns true when that is a change. */
bool px_health_set_down(struct px_health *h, uint64_t now_ms)
{
    h->ok_run = 0;
    h->fail_run = 0;
    if (!h->up)
        return false;
    h->up = false;
    h->changed_ms = now_ms;
    return true;
}

/* Returns whether real requests succeeded within timeout + interval. */
bool px_health_answering(const struct px_health *h, uint64_t now_ms)
{
    return h->real_ok_ms != 0 &&
           elapsed(now_ms, h->real_ok_ms) <= h->probe->timeout_ms + h->probe->interval_ms;
}

/* Feeds one probe result; returns the resulting state change. */
enum px_health_change px_health_probe(struct px_health *h, enum px_health_result res, double rtt_ms,
                                      uint64_t now_ms)
{
    bool confirmed = h->confirmed;

    if (rtt_ms < 0)
        rtt_ms = 0;
    h->probes++;
    h->last_result = res;
    h->last_probe_ms = rtt_ms;
    h->last_excused = res == PX_HEALTH_SILENT && confirmed && px_health_answering(h, now_ms);
    if (h->last_excused) {
        h->probes_excused++;
        return PX_HEALTH_SAME;
    }
    h->confirmed = true;

    if (res == PX_HEALTH_PASS) {
        rtt_sample(h, rtt_ms, now_ms);
        peak_sample(h, rtt_ms, now_ms);
        h->fail_run = 0;
        if (h->up)
            return PX_HEALTH_SAME;
        if (++h->ok_run < h->probe->rise)
            return PX_HEALTH_SAME;
        return px_health_set_up(h, now_ms) ? PX_HEALTH_WENT_UP : PX_HEALTH_SAME;
    }

    h->probe_failures++;
    h->ok_run = 0;
    if (!h->up)
        return PX_HEALTH_SAME;
    /* An unconfirmed initial "up" is a guess: the first failure settles it. */
    if (++h->fail_run < (confirmed ? h->probe->fall : 1))
        return PX_HEALTH_SAME;
    return px_health_set_down(h, now_ms) ? PX_HEALTH_WENT_DOWN : PX_HEALTH_SAME;
}

/* Returns the un-jittered next probe interval; see health.h. */
uint64_t px_health_interval_ms(const struct px_health *h)
{
    const struct conf_probe *p = h->probe;

    if (!h->up && h->ok_run == 0)
        return p->downinter_ms;
    if (!h->confirmed || h->ok_run > 0 || h->fail_run > 0)
        return p->fastinter_ms;
    return p->interval_ms;
}

/* Returns the jittered delay before the next probe, >= 1 ms. */
uint64_t px_health_next_probe_ms(const struct px_health *h, struct px_rng *rng)
{
    double base = (double)px_health_interval_ms(h);
    double j = (double)h->probe->jitter_pct / 100.0;
    /* Uniform factor in [1 - j, 1 + j]. */
    double d = base * (1.0 + j * (2.0 * px_rng_unit(rng) - 1.0));

    if (d < 1.0)
        return 1;
    return (uint64_t)llround(d);
}

/* Returns whether OUTCOME counts as a backend failure under H's settings. */
static bool outcome_is_failure(const struct px_health *h, enum px_outcome outcome)
{
    switch (outcome) {
    case PX_OUTCOME_OK:
        return false;
    case PX_OUTCOME_HTTP_5XX:
        return h->passive->count_5xx != 0;
    case PX_OUTCOME_CONNECT_FAIL:
    case PX_OUTCOME_RESET:
    case PX_OUTCOME_TIMEOUT:
        break;
    }
    return true;
}

/* Feeds one passive report; returns whether H is now an ejection candidate. */
bool px_health_passive(struct px_health *h, enum px_outcome outcome, double latency_ms,
                       uint64_t now_ms)
{
    double penalty = (double)h->routing->failure_penalty_ms;

    if (latency_ms < 0)
        latency_ms = 0;
    if (!outcome_is_failure(h, outcome)) {
        peak_sample(h, latency_ms, now_ms);
        h->passive_fail_run = 0;
        if (outcome == PX_OUTCOME_OK) {
            h->real_ok_ms = now_ms > 0 ? now_ms : 1;
            real_sample(h, latency_ms, now_ms);
        }
        return false;
    }
    peak_sample(h, latency_ms > penalty ? latency_ms : penalty, now_ms);
    /*
     * Requests that were in flight when H was ejected report late; they say
     * nothing new and must not start the next series early.
     */
    if (px_health_ejected(h, now_ms))
        return false;
    h->passive_fail_run++;
    return h->passive_fail_run >= h->passive->consecutive_failures;
}

/* Returns whether one more of REGION's N backends may be ejected now. */
bool px_health_may_eject(const struct px_health *const *region, size_t n, uint32_t max_ejected_pct,
                         uint64_t now_ms)
{
    size_t ejected = 0;

    for (size_t i = 0; i < n; i++)
        if (px_health_ejected(region[i], now_ms))
            ejected++;
    return (uint64_t)(ejected + 1) * 100 <= (uint64_t)max_ejected_pct * n;
}

/* Ejects H with backoff; returns the ejection's duration in ms. */
uint64_t px_health_eject(struct px_health *h, uint64_t now_ms)
{
    const struct conf_passive *p = h->passive;
    uint64_t d = p->ejection_time_ms, cap = p->max_ejection_time_ms;

    /* A long enough quiet spell after the last ejection ends the series. */
    if (h->ejections > 0 && !px_health_ejected(h, now_ms) &&
        elapsed(now_ms, h->ejected_until_ms) >= cap)
        h->ejections = 0;
    h->ejections++;
    if (cap < d)
        cap = d;
    for (uint32_t i = 1; i < h->ejections && d < cap; i++)
        d = d > cap / 2 ? cap : d * 2;
    if (d > cap)
        d = cap;
    h->ejected = true;
    h->ejected_until_ms = now_ms + d;
    h->ejections_total++;
    h->passive_fail_run = 0;
    return d;
}

/* Ends an ejection whose time has passed; true once per ejection. */
bool px_health_eject_expire(struct px_health *h, uint64_t now_ms)
{
    if (!h->ejected || now_ms < h->ejected_until_ms)
        return false;
    h->ejected = false;
    h->passive_fail_run = 0;
    return true;
}

/* Returns whether H is inside an ejection at NOW_MS. */
bool px_health_ejected(const struct px_health *h, uint64_t now_ms)
{
    return h->ejected && now_ms < h->ejected_until_ms;
}

/* Folds one large response body into the goodput EWMA. */
/* Whether H's goodput figure is known and younger than its TTL; see health.h. */
bool px_health_goodput_fresh(const struct px_health *h, uint64_t now_ms)
{
    return h->has_goodput && elapsed(now_ms, h->goodput_at_ms) < h->goodput_ttl_ms;
}

void px_health_transfer(struct px_health *h, uint64_t bytes, double active_ms, uint64_t now_ms)
{
    double bps;

    if (bytes < PX_GOODPUT_MIN_BYTES)
        return;
    bps = (double)bytes * 1000.0 / (active_ms < 1 ? 1 : active_ms);
    if (!h->has_goodput) {
        h->goodput_bps = bps;
        h->has_goodput = true;
        h->goodput_ttl_ms = PX_GOODPUT_STALE_MS;
    } else if (!px_health_goodput_fresh(h, now_ms)) {
        /* A re-measurement after the figure was forgotten: when it finds the
         * same (within a factor PX_GOODPUT_SAME), exploring again was for
         * nothing, so the figure is trusted twice as long next time. */
        bool same =
            bps < h->goodput_bps * PX_GOODPUT_SAME && bps * PX_GOODPUT_SAME > h->goodput_bps;
        h->goodput_ttl_ms = same ? 2 * h->goodput_ttl_ms : PX_GOODPUT_STALE_MS;
        if (h->goodput_ttl_ms > PX_GOODPUT_STALE_MAX_MS)
            h->goodput_ttl_ms = PX_GOODPUT_STALE_MAX_MS;
        h->goodput_bps = bps;
    } else {
        double a = px_ewma_alpha(elapsed(now_ms, h->goodput_at_ms), PX_GOODPUT_HALF_LIFE_MS);
        h->goodput_bps += a * (bps - h->goodput_bps);
    }
    if (now_ms > h->goodput_at_ms)
        h->goodput_at_ms = now_ms;
}

/* Returns why H is usable or not; static text. */
const char *px_health_why(const struct px_health *h, uint64_t now_ms)
{
    if (px_health_ejected(h, now_ms))
        return "ejected: real requests failing";
    if (!h->up)
        return h->ok_run > 0 ? "down: probes passing, rising" : "down: probes failing";
    if (!h->confirmed)
        return "up: not probed yet";
    if (h->last_excused)
        return "up: answers real traffic, probe silent";
    if (h->fail_run > 0)
        return "up: probes failing, falling";
    return "up: probes pass";
}

/* Returns whether H is up and not ejected at NOW_MS. */
bool px_health_usable(const struct px_health *h, uint64_t now_ms)
{
    return h->up && !px_health_ejected(h, now_ms);
}

/* Returns the balancer load in ms (peak EWMA, else RTT EWMA, else 0). */
double px_health_load_ms(const struct px_health *h)
{
    if (h->has_peak)
        return h->peak_ms;
    if (h->has_rtt)
        return h->rtt_ms;
    return 0;
}

/* Returns whether the region of HS can take traffic; see health.h. */
bool px_region_healthy(const struct px_health *const *hs, size_t n, uint32_t min_healthy,
                       bool drained, uint64_t now_ms)
{
    size_t usable = 0;

    if (drained)
        return false;
    for (size_t i = 0; i < n; i++)
        if (px_health_usable(hs[i], now_ms))
            usable++;
    return usable >= (min_healthy > 0 ? min_healthy : 1);
}

/* Recomputes RS from its backends; returns whether `healthy` changed. */
bool px_region_update(struct px_region_state *rs, const struct px_health *const *hs, size_t n,
                      uint32_t min_healthy, double unknown_rtt_ms, uint64_t now_ms)
{
    bool was = rs->healthy, have_rtt = false;
    uint32_t usable = 0;
    double best = 0, goodput = 0;

    for (size_t i = 0; i < n; i++) {
        const struct px_health *h = hs[i];
        if (!px_health_usable(h, now_ms))
            continue;
        usable++;
        if (px_health_goodput_fresh(h, now_ms) && h->goodput_bps > goodput)
            goodput = h->goodput_bps;
        double rtt = px_health_route_rtt_ms(h, now_ms);
        if (h->has_rtt && (!have_rtt || rtt < best)) {
            best = rtt;
            have_rtt = true;
        }
    }
    rs->usable = usable;
    rs->rtt_ms = have_rtt ? best : unknown_rtt_ms;
    rs->goodput_bps = goodput;
    rs->healthy = px_region_healthy(hs, n, min_healthy, rs->drained, now_ms);
    if (rs->healthy && !was)
        rs->healthy_since_ms = now_ms;
    return rs->healthy != was;
}
