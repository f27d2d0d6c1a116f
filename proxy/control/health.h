/*
 * health: what the control plane knows about one backend, and whether a
 * region as a whole can take traffic. Pure logic: no loop, no sockets, no
 * clock (every function takes `now_ms`), no randomness of its own (the
 * caller passes a struct px_rng). The control thread owns every struct
 * px_health and feeds it probe results and the workers' passive reports.
 *
 * Active checks follow HAProxy's `check`: `rise` consecutive passes bring a
 * down backend up, `fall` consecutive failures take an up backend down, and
 * the next probe waits `interval` in a steady state, `fastinter` while a
 * rise or fall is being counted, `downinter` while down, each randomised by
 * +- jitter_pct. Only px_health_set_up() and px_health_set_down() write the
 * up/down state; both report whether it changed, so the caller logs once.
 *
 * Slow is not down. A probe that answers, however late, is a pass and a
 * latency sample. A probe that stays silent until its timeout fails, unless
 * real requests to the backend succeeded recently (within timeout +
 * interval, px_health_answering): then the backend is plainly answering,
 * the probe path is what is slow, and the silent probe counts for nothing.
 * Refusals, resets, errors and statuses outside `expect` always fail.
 *
 * Latency is kept twice:
 *   - the RTT EWMA of passing probes, with its mean absolute deviation: the
 *     region's routing score (router.h);
 *   - a peak EWMA (Finagle/Linkerd) of request latencies and probe RTTs, in
 *     which a counted failure is a sample of `failure_penalty_ms`: the
 *     balancer's load metric. A peak EWMA jumps to a sample above it at once
 *     and decays towards lower samples with the half-life, so a backend that
 *     answers errors fast never looks fast.
 *   - a goodput EWMA: body bytes/s of responses of at least
 *     PX_GOODPUT_MIN_BYTES, timed only while the worker was reading (not
 *     while a slow client held the upstream read paused): the region's
 *     transfer cost (router.h). A figure not refreshed for its TTL is
 *     forgotten: the region is unmeasured again, so the router's optimism
 *     explores it again instead of trusting an old bad figure forever. The
 *     TTL starts at PX_GOODPUT_STALE_MS and doubles (up to
 *     PX_GOODPUT_STALE_MAX_MS) each time a re-measurement finds the same
 *     figure, because each exploration costs the zone's users a spell on
 *     the slow region; a changed figure sets it back.
 * The EWMAs decay by time, not by sample count: a sample arriving dt ms
 * after the previous one has weight alpha = 1 - 2^(-dt / half_life).
 *
 * Probes come once a second, too seldom to see a step within a second. Real
 * traffic sees it within a few requests, but its latency includes the
 * application's time, so it cannot be compared with other regions' probes.
 * What is compared is its change: the routing RTT is the probe EWMA plus
 * how far the median of the last PX_REAL_SAMPLES real latencies has moved
 * since the last probe sample (px_health_route_rtt_ms). The next probe
 * takes the step into the EWMA and the difference starts again from 0. A
 * median of three ignores one slow request; a backend without recent real
 * traffic is judged by its probes alone.
 *
 * Passive outlier ejection follows Envoy: `consecutive_failures` counted
 * failures in a row (connect failure, reset, timeout; a 5xx only with
 * count_5xx) make the backend an ejection candidate; the caller ejects it
 * when px_health_may_eject() allows (max_ejected_pct of the region). The
 * n-th ejection of a series lasts ejection_time * 2^(n-1), capped at
 * max_ejection_time. A series ends (n starts again at 1) once the backend
 * has stayed un-ejected for max_ejection_time after its last ejection ended.
 * Probes never end an ejection early: the two signals disagreeing is what
 * makes Envoy flap.
 */
#ifndef PX_HEALTH_H
#define PX_HEALTH_H

#include "conf/conf.h"
#include "proxy/state/signals.h"
#include "proxy/base/rng.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_GOODPUT_MIN_BYTES (64 * 1024) /* smaller bodies measure RTT more than bandwidth */
#define PX_GOODPUT_HALF_LIFE_MS 1000     /* a goodput sample this old weighs half */
#define PX_GOODPUT_STALE_MS 10000 /* a goodput figure not refreshed for this long is forgotten */
#define PX_GOODPUT_STALE_MAX_MS 160000 /* ... after re-measurements that found the same */
#define PX_GOODPUT_SAME 1.5            /* a re-measurement within this factor found the same */
#define PX_REAL_SAMPLES 3     /* real latencies whose median is the step detector's level */
#define PX_REAL_FRESH_MS 1000 /* ... all of them at most this old */

/* How one probe ended. */
enum px_health_result {
    PX_HEALTH_FAIL,   /* refused, reset, bad status line or status outside `expect` */
    PX_HEALTH_PASS,   /* answered in time (however slowly) with a passing status */
    PX_HEALTH_SILENT, /* no answer before the probe timeout */
};

/* What one probe result did to the up/down state. */
enum px_health_change {
    PX_HEALTH_SAME,      /* no state change */
    PX_HEALTH_WENT_UP,   /* the backend is now up (log it) */
    PX_HEALTH_WENT_DOWN, /* the backend is now down (log it) */
};

struct px_health {
    const struct conf_probe *probe;     /* borrowed from the current conf; see px_health_reconf */
    const struct conf_passive *passive; /* borrowed; the region's passive settings */
    const struct conf_routing *routing; /* borrowed; rtt_half_life_ms, failure_penalty_ms */

    /* Active checks. */
    bool up;                 /* written only by px_health_set_up/px_health_set_down */
    bool confirmed;          /* a probe result arrived since init; until then one failure downs */
    uint32_t ok_run;         /* consecutive passing probes (0 after a failure) */
    uint32_t fail_run;       /* consecutive failing probes (0 after a pass) */
    uint64_t changed_ms;     /* when `up` last flipped, or init time */
    uint64_t probes;         /* probe results seen, count */
    uint64_t probe_failures; /* failing probe results seen, count (excused ones not) */
    uint64_t probes_excused; /* silent probes ignored because real traffic answered, count */
    enum px_health_result last_result; /* of the last probe; valid when confirmed */
    bool last_excused;                 /* the last probe was silent and excused */
    double last_probe_ms;              /* duration of the last probe, ms */
    uint64_t real_ok_ms;               /* last real request that succeeded; 0 = none yet */

    /* Probe RTT EWMA: the routing latency. */
    double rtt_ms;      /* EWMA of passing probes' RTT, ms; valid when has_rtt */
    double rtt_dev_ms;  /* EWMA of |sample - rtt_ms|, ms */
    uint64_t rtt_at_ms; /* time of the last sample folded in */
    bool has_rtt;       /* at least one passing probe since init */

    /*
     * Step detector: the median of the last real latencies, and what it was
     * when the last probe sample came. Probes come once a second; real
     * traffic sees a step within a few requests (px_health_route_rtt_ms).
     */
    float real_ms[PX_REAL_SAMPLES];       /* the last real latencies (a ring), ms */
    uint64_t real_at_ms[PX_REAL_SAMPLES]; /* when each arrived */
    uint32_t real_n;                      /* real latencies seen, count; next slot = n % size */
    double real_base_ms;                  /* the median at the last probe sample; see has_ */
    bool has_real_base;                   /* the median was valid then */

    /* Goodput EWMA: large response bodies, bytes/s. */
    double goodput_bps;      /* valid when has_goodput */
    uint64_t goodput_at_ms;  /* time of the last sample folded in */
    uint64_t goodput_ttl_ms; /* the figure is forgotten this long after goodput_at_ms */
    bool has_goodput;        /* at least one large response since init */

    /* Peak EWMA: the balancer's load metric. */
    double peak_ms;      /* peak EWMA of request latencies, probe RTTs and penalties, ms */
    uint64_t peak_at_ms; /* time of the last sample folded in */
    bool has_peak;       /* at least one sample since init */

    /* Passive outlier ejection. */
    uint32_t passive_fail_run; /* counted failures in a row (0 after a success) */
    uint32_t ejections;        /* n: ejections in the current series (see the header comment) */
    bool ejected;              /* inside an ejection, or it ended and nobody expired it yet */
    uint64_t ejected_until_ms; /* end of the current or last ejection; 0 = never ejected */
    uint64_t ejections_total;  /* ejections since init, count */
};

/*
 * Region state the router consumes; the admin endpoint sets `drained`, and
 * px_region_update() computes the rest.
 */
struct px_region_state {
    bool drained;              /* ops drained the region: it takes no new traffic */
    bool healthy;              /* verdict of the last px_region_update() */
    uint64_t healthy_since_ms; /* when `healthy` last became true; meaningful while healthy */
    uint32_t usable;           /* backends up and not ejected at the last update, count */
    double rtt_ms;             /* the region's routing RTT, ms (see px_region_update) */
    double goodput_bps;        /* best goodput among usable backends, bytes/s; 0 = unknown */
};

/*
 * Returns the weight 1 - 2^(-dt/half_life) that a sample DT_MS after the
 * previous one gets in a time-decayed EWMA. HALF_LIFE_MS == 0 means "no
 * memory": 1. DT_MS == 0 gives 0 (the sample is ignored; a peak still
 * jumps).
 */
double px_ewma_alpha(uint64_t dt_ms, uint64_t half_life_ms);

/*
 * Initialises H for a backend with the borrowed settings PROBE, PASSIVE and
 * ROUTING, which must outlive H or be replaced with px_health_reconf(). UP
 * gives the initial state: true starts up but unconfirmed, so the first
 * failing probe takes it down at once (HAProxy's initial health of `rise`),
 * while a first pass only confirms it; false starts down and needs `rise`
 * passes. Nothing is allocated; H needs no dispose.
 */
void px_health_init(struct px_health *h, const struct conf_probe *probe,
                    const struct conf_passive *passive, const struct conf_routing *routing, bool up,
                    uint64_t now_ms);

/*
 * Points H at the settings of a new conf after a reload, keeping every
 * measurement, counter and ejection. Same lifetime rule as px_health_init.
 */
void px_health_reconf(struct px_health *h, const struct conf_probe *probe,
                      const struct conf_passive *passive, const struct conf_routing *routing);

/*
 * Marks H up at NOW_MS and resets the probe runs. Returns true when H was
 * down (the caller logs the transition), false when it already was up.
 */
bool px_health_set_up(struct px_health *h, uint64_t now_ms);

/* Marks H down at NOW_MS; returns true when H was up, false when already down. */
bool px_health_set_down(struct px_health *h, uint64_t now_ms);

/*
 * Feeds one active probe result RES that took RTT_MS (>= 0). A pass is
 * folded into the RTT EWMA and the peak EWMA. A silent probe is a failure
 * unless px_health_answering(): then it is counted as excused and changes
 * nothing else. Flips the state through px_health_set_up/down when `rise`
 * passes or `fall` failures (1 while unconfirmed) have been seen in a row.
 * Never touches passive ejection. Returns what changed.
 */
enum px_health_change px_health_probe(struct px_health *h, enum px_health_result res, double rtt_ms,
                                      uint64_t now_ms);

/*
 * Returns whether real requests to H succeeded recently at NOW_MS: within
 * the probe's timeout + interval, the longest a probe can take plus the gap
 * before the next one.
 */
bool px_health_answering(const struct px_health *h, uint64_t now_ms);

/*
 * Returns a short static text saying why H is usable or not at NOW_MS, for
 * /status: "ejected: real requests failing", "down: probes failing",
 * "up: probes pass", "up: answers real traffic, probe silent", ...
 */
const char *px_health_why(const struct px_health *h, uint64_t now_ms);

/*
 * Returns the probe interval that applies next, without jitter, in ms:
 * downinter while down with no pass counted, fastinter while a rise or fall
 * is being counted (or before the first result), interval otherwise.
 */
uint64_t px_health_interval_ms(const struct px_health *h);

/*
 * Returns the delay before the next probe in ms: px_health_interval_ms()
 * randomised uniformly within +- jitter_pct percent using RNG, at least 1.
 */
uint64_t px_health_next_probe_ms(const struct px_health *h, struct px_rng *rng);

/*
 * Feeds one passive report: a request to this backend ended with OUTCOME
 * after LATENCY_MS (time to the response head, or to the failure).
 * A success (OK, or a 5xx without count_5xx) folds LATENCY_MS into the peak
 * EWMA, clears the failure run and, for OK, is evidence that H answers
 * (px_health_answering). A counted failure folds
 * max(LATENCY_MS, failure_penalty_ms) into the peak EWMA and, unless H is
 * ejected, extends the failure run.
 * Returns true when H is an ejection candidate: the run has reached
 * consecutive_failures and H is not ejected. The caller then asks
 * px_health_may_eject() and calls px_health_eject(); if refused, the next
 * counted failure asks again.
 */
bool px_health_passive(struct px_health *h, enum px_outcome outcome, double latency_ms,
                       uint64_t now_ms);

/*
 * Returns whether one more of the N backends REGION (borrowed array of N
 * pointers, NULL entries not allowed) may be ejected at NOW_MS without more
 * than MAX_EJECTED_PCT percent of them being ejected at once:
 * (ejected + 1) * 100 <= MAX_EJECTED_PCT * N. So with 50% and one backend
 * nothing is ever ejected, with two backends one is. Backends that are only
 * down (active checks) do not count.
 */
bool px_health_may_eject(const struct px_health *const *region, size_t n, uint32_t max_ejected_pct,
                         uint64_t now_ms);

/*
 * Ejects H at NOW_MS for ejection_time * 2^(n-1) capped at
 * max_ejection_time, n counting this ejection within its series (the series
 * restarts when H stayed un-ejected for max_ejection_time). Clears the
 * failure run. Returns the ejection's duration in ms.
 */
uint64_t px_health_eject(struct px_health *h, uint64_t now_ms);

/*
 * Ends H's ejection when its time has passed. Returns true exactly once per
 * ejection, at the first call at or after its end (the caller logs it);
 * false otherwise. Calling it is optional: px_health_ejected() already
 * compares with the clock.
 */
bool px_health_eject_expire(struct px_health *h, uint64_t now_ms);

/* Returns whether H is inside an ejection at NOW_MS. */
bool px_health_ejected(const struct px_health *h, uint64_t now_ms);

/* Returns whether H may take traffic at NOW_MS: up and not ejected. */
bool px_health_usable(const struct px_health *h, uint64_t now_ms);

/*
 * Returns H's balancer load in ms: the peak EWMA when it has a sample, else
 * the probe RTT EWMA, else 0 ("unknown"; the balancer then assumes the
 * region's average).
 */
double px_health_load_ms(const struct px_health *h);

/*
 * Feeds one complete response body of BYTES read in ACTIVE_MS (time the
 * upstream read was not paused by the client). Bodies below
 * PX_GOODPUT_MIN_BYTES are ignored; ACTIVE_MS below 1 counts as 1 (the
 * workers' clock has millisecond steps).
 */
void px_health_transfer(struct px_health *h, uint64_t bytes, double active_ms, uint64_t now_ms);

/*
 * Returns whether H has a goodput figure at NOW_MS: measured, and last
 * refreshed less than its TTL ago (see the header comment).
 */
bool px_health_goodput_fresh(const struct px_health *h, uint64_t now_ms);

/*
 * Returns H's routing RTT at NOW_MS, ms: the probe RTT EWMA plus the move of
 * the real latencies' median since the last probe sample, when both
 * medians are known (PX_REAL_SAMPLES real latencies within
 * PX_REAL_FRESH_MS); never below 0. Meaningful when has_rtt.
 */
double px_health_route_rtt_ms(const struct px_health *h, uint64_t now_ms);

/*
 * Returns whether a region whose N backends are HS (borrowed array of
 * pointers) can take traffic at NOW_MS: not DRAINED, and at least
 * max(MIN_HEALTHY, 1) backends usable (up and not ejected).
 */
bool px_region_healthy(const struct px_health *const *hs, size_t n, uint32_t min_healthy,
                       bool drained, uint64_t now_ms);

/*
 * Recomputes RS from its backends HS (N borrowed pointers) at NOW_MS:
 * `usable`, `healthy` (px_region_healthy with RS->drained), `healthy_since_ms`
 * (set to NOW_MS when healthy turns true), and `rtt_ms`: the lowest RTT EWMA
 * among usable backends, because the balancer steers towards the fastest
 * backend, so that is the latency the region's clients mostly see; when no
 * usable backend has an RTT yet, UNKNOWN_RTT_MS (a pessimistic guess such as
 * failure_penalty_ms, so an unmeasured region does not win by default); RTTs
 * are px_health_route_rtt_ms(); and `goodput_bps`: the highest goodput EWMA
 * among usable backends with px_health_goodput_fresh(), 0 when none.
 * Returns true when `healthy` changed (the caller logs it).
 */
bool px_region_update(struct px_region_state *rs, const struct px_health *const *hs, size_t n,
                      uint32_t min_healthy, double unknown_rtt_ms, uint64_t now_ms);

#endif
