/*
 * Unit tests of proxy/control/health.c on a simulated clock: rise/fall, probe
 * intervals and jitter, the EWMAs, passive ejection with backoff and its
 * share limit, and the region aggregate.
 */
#include "tests/unit/test.h"
#include "proxy/control/health.h"
#include "proxy/base/px.h"

#include <math.h>

#define NEAR(a, b, eps) ASSERT(fabs((double)(a) - (double)(b)) <= (eps))

struct fixture {
    struct conf_probe probe;
    struct conf_passive passive;
    struct conf_routing routing;
};

static void fixture_init(struct fixture *f)
{
    f->probe = (struct conf_probe){
        .type = CONF_PROBE_HTTP,
        .interval_ms = 1000,
        .fastinter_ms = 250,
        .downinter_ms = 5000,
        .jitter_pct = 10,
        .timeout_ms = 500,
        .rise = 2,
        .fall = 3,
    };
    f->passive = (struct conf_passive){
        .consecutive_failures = 5,
        .ejection_time_ms = 10000,
        .max_ejection_time_ms = 35000,
        .max_ejected_pct = 50,
        .count_5xx = 0,
    };
    f->routing = (struct conf_routing){
        .rtt_half_life_ms = 1000,
        .failure_penalty_ms = 1000,
    };
}

/* A backend that is up and confirmed at time 0. */
static void up_backend(struct px_health *h, struct fixture *f)
{
    px_health_init(h, &f->probe, &f->passive, &f->routing, true, 0);
    ASSERT_EQ(px_health_probe(h, PX_HEALTH_PASS, 10, 0), PX_HEALTH_SAME);
    ASSERT(h->up && h->confirmed);
}

TEST(health_rise_fall)
{
    struct fixture f;
    struct px_health h;
    uint64_t t = 0;

    fixture_init(&f);
    up_backend(&h, &f);
    /* fall = 3: two failures keep it up, the third takes it down. */
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 1000), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 250), PX_HEALTH_SAME);
    ASSERT(h.up);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 250), PX_HEALTH_WENT_DOWN);
    ASSERT(!h.up);
    ASSERT_EQ(h.changed_ms, t);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 5000), PX_HEALTH_SAME);
    /* rise = 2: one pass keeps it down, the second brings it up. */
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 10, t += 5000), PX_HEALTH_SAME);
    ASSERT(!h.up);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 10, t += 250), PX_HEALTH_WENT_UP);
    ASSERT(h.up);
    ASSERT_EQ(h.changed_ms, t);
    /* The runs are consecutive: a pass in between starts the count over. */
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 1000), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 250), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 10, t += 250), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 1000), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 250), PX_HEALTH_SAME);
    ASSERT(h.up);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 250), PX_HEALTH_WENT_DOWN);
    /* Symmetric while down: a failure resets the rise count. */
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 10, t += 250), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, t += 250), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 10, t += 250), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 10, t += 250), PX_HEALTH_WENT_UP);
    ASSERT_EQ(h.probes, 17);
    ASSERT_EQ(h.probe_failures, 10);
}

TEST(health_initial_state)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    /* Started up but unconfirmed: the first failure settles it at once. */
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    ASSERT(h.up && !h.confirmed);
    ASSERT(px_health_usable(&h, 0));
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 500, 100), PX_HEALTH_WENT_DOWN);
    /* Started down: it takes `rise` passes. */
    px_health_init(&h, &f.probe, &f.passive, &f.routing, false, 0);
    ASSERT(!h.up);
    ASSERT(!px_health_usable(&h, 0));
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 5, 100), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 5, 200), PX_HEALTH_WENT_UP);
    /* Confirmed by a pass, one failure no longer downs it. */
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 5, 100), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 5, 200), PX_HEALTH_SAME);
    ASSERT(h.up);
}

TEST(health_set_up_down_report_change)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    px_health_init(&h, &f.probe, &f.passive, &f.routing, false, 0);
    ASSERT(!px_health_set_down(&h, 5));
    ASSERT_EQ(h.changed_ms, 0);
    ASSERT(px_health_set_up(&h, 10));
    ASSERT_EQ(h.changed_ms, 10);
    ASSERT(!px_health_set_up(&h, 20));
    ASSERT_EQ(h.changed_ms, 10);
    ASSERT(px_health_set_down(&h, 30));
    ASSERT(!px_health_set_down(&h, 40));
    ASSERT_EQ(h.changed_ms, 30);
}

TEST(health_interval_selection)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    ASSERT_EQ(px_health_interval_ms(&h), 250); /* unconfirmed: find out fast */
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 5, 0), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_interval_ms(&h), 1000); /* stable up */
    px_health_probe(&h, PX_HEALTH_FAIL, 5, 1000);
    ASSERT_EQ(px_health_interval_ms(&h), 250); /* counting a fall */
    px_health_probe(&h, PX_HEALTH_FAIL, 5, 1250);
    ASSERT_EQ(px_health_interval_ms(&h), 250);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 5, 1500), PX_HEALTH_WENT_DOWN);
    ASSERT_EQ(px_health_interval_ms(&h), 5000); /* stable down */
    px_health_probe(&h, PX_HEALTH_FAIL, 5, 6500);
    ASSERT_EQ(px_health_interval_ms(&h), 5000);
    px_health_probe(&h, PX_HEALTH_PASS, 5, 11500);
    ASSERT_EQ(px_health_interval_ms(&h), 250); /* counting a rise */
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 5, 11750), PX_HEALTH_WENT_UP);
    ASSERT_EQ(px_health_interval_ms(&h), 1000);
}

TEST(health_jitter_bounds)
{
    struct fixture f;
    struct px_health h;
    struct px_rng rng;
    uint64_t lo = UINT64_MAX, hi = 0;
    double sum = 0;

    fixture_init(&f);
    up_backend(&h, &f);
    px_rng_seed(&rng, 42);
    for (int i = 0; i < 100000; i++) {
        uint64_t d = px_health_next_probe_ms(&h, &rng);
        ASSERT_GE(d, 900);
        ASSERT_LE(d, 1100);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += (double)d;
    }
    /* The whole range is used, centred on the interval. */
    ASSERT_LE(lo, 902);
    ASSERT_GE(hi, 1098);
    NEAR(sum / 100000, 1000, 2);
    /* No jitter: exact. Down: downinter with the same spread. */
    f.probe.jitter_pct = 0;
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(px_health_next_probe_ms(&h, &rng), 1000);
    f.probe.jitter_pct = 50;
    px_health_set_down(&h, 0);
    for (int i = 0; i < 10000; i++) {
        uint64_t d = px_health_next_probe_ms(&h, &rng);
        ASSERT_GE(d, 2500);
        ASSERT_LE(d, 7500);
    }
    /* Never 0, even for a 1 ms interval. */
    f.probe.downinter_ms = 1;
    for (int i = 0; i < 1000; i++)
        ASSERT_GE(px_health_next_probe_ms(&h, &rng), 1);
}

TEST(health_ewma_half_life)
{
    struct fixture f;
    struct px_health h, g;

    fixture_init(&f);
    NEAR(px_ewma_alpha(1000, 1000), 0.5, 1e-12);
    NEAR(px_ewma_alpha(2000, 1000), 0.75, 1e-12);
    NEAR(px_ewma_alpha(0, 1000), 0.0, 1e-12);
    NEAR(px_ewma_alpha(5, 0), 1.0, 1e-12);

    /* One sample, one half-life later: halfway. */
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    px_health_probe(&h, PX_HEALTH_PASS, 100, 0);
    NEAR(h.rtt_ms, 100, 1e-9);
    px_health_probe(&h, PX_HEALTH_PASS, 200, 1000);
    NEAR(h.rtt_ms, 150, 1e-9);
    NEAR(h.rtt_dev_ms, 50, 1e-9); /* |200 - 100| weighted by 0.5 */

    /*
     * Decay is by time, not by sample count: a hundred samples of the new
     * value over one half-life also land halfway.
     */
    px_health_init(&g, &f.probe, &f.passive, &f.routing, true, 0);
    px_health_probe(&g, PX_HEALTH_PASS, 100, 0);
    for (uint64_t t = 10; t <= 1000; t += 10)
        px_health_probe(&g, PX_HEALTH_PASS, 200, t);
    NEAR(g.rtt_ms, 150, 1e-9);
    /* Two half-lives: three quarters. */
    for (uint64_t t = 1010; t <= 2000; t += 10)
        px_health_probe(&g, PX_HEALTH_PASS, 200, t);
    NEAR(g.rtt_ms, 175, 1e-9);

    /* Failing probes do not move the RTT. */
    px_health_probe(&g, PX_HEALTH_FAIL, 5000, 2100);
    NEAR(g.rtt_ms, 175, 1e-9);
}

TEST(health_peak_ewma)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    ASSERT_EQ(px_health_load_ms(&h), 0); /* unknown */
    px_health_probe(&h, PX_HEALTH_PASS, 8, 0);
    NEAR(px_health_load_ms(&h), 8, 1e-9); /* a probe seeds it */
    px_health_passive(&h, PX_OUTCOME_OK, 10, 100);
    NEAR(px_health_load_ms(&h), 10, 1e-9); /* above: jumps */
    /* A spike is taken at once... */
    px_health_passive(&h, PX_OUTCOME_OK, 500, 200);
    NEAR(px_health_load_ms(&h), 500, 1e-9);
    /* ...and decays with the half-life under normal samples. */
    for (uint64_t t = 210; t <= 1200; t += 10)
        px_health_passive(&h, PX_OUTCOME_OK, 10, t);
    NEAR(px_health_load_ms(&h), 255, 1e-9);
    for (uint64_t t = 1210; t <= 11200; t += 10)
        px_health_passive(&h, PX_OUTCOME_OK, 10, t);
    ASSERT(px_health_load_ms(&h) < 10.5);
    /* The routing RTT only follows probes. */
    NEAR(h.rtt_ms, 8, 1e-9);
}

TEST(health_failures_are_never_fast)
{
    struct fixture f;
    struct px_health fast_err, slow_ok;

    fixture_init(&f);
    up_backend(&fast_err, &f);
    up_backend(&slow_ok, &f);
    for (uint64_t t = 1; t <= 3; t++) {
        px_health_passive(&fast_err, PX_OUTCOME_RESET, 0.2, t);
        px_health_passive(&slow_ok, PX_OUTCOME_OK, 80, t);
    }
    ASSERT(px_health_load_ms(&fast_err) >= 1000);
    ASSERT(px_health_load_ms(&fast_err) > px_health_load_ms(&slow_ok));
    /* A failure slower than the penalty counts its own time. */
    px_health_passive(&fast_err, PX_OUTCOME_TIMEOUT, 3000, 10);
    NEAR(px_health_load_ms(&fast_err), 3000, 1e-9);
    /* Not ejected yet (K = 5), and probes don't mask it. */
    ASSERT(px_health_usable(&fast_err, 10));
}

TEST(health_passive_ejection_after_k)
{
    struct fixture f;
    struct px_health h;
    uint64_t t = 0;

    fixture_init(&f);
    up_backend(&h, &f);
    for (int i = 0; i < 4; i++)
        ASSERT(!px_health_passive(&h, PX_OUTCOME_CONNECT_FAIL, 1, ++t));
    /* A success breaks the run. */
    ASSERT(!px_health_passive(&h, PX_OUTCOME_OK, 5, ++t));
    for (int i = 0; i < 4; i++)
        ASSERT(!px_health_passive(&h, PX_OUTCOME_RESET, 1, ++t));
    ASSERT(px_health_passive(&h, PX_OUTCOME_TIMEOUT, 1, ++t));
    ASSERT_EQ(px_health_eject(&h, t), 10000);
    ASSERT(px_health_ejected(&h, t));
    ASSERT(!px_health_usable(&h, t));
    ASSERT(h.up); /* ejection is not the active state */
    /* Late failures of requests in flight at ejection time are ignored. */
    for (int i = 0; i < 10; i++)
        ASSERT(!px_health_passive(&h, PX_OUTCOME_RESET, 1, t + 1));
    ASSERT_EQ(h.passive_fail_run, 0);
    ASSERT(px_health_ejected(&h, t + 9999));
    ASSERT(!px_health_ejected(&h, t + 10000));
    ASSERT(px_health_usable(&h, t + 10000));
}

TEST(health_passive_refused_ejection_asks_again)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    up_backend(&h, &f);
    for (uint64_t t = 1; t <= 4; t++)
        ASSERT(!px_health_passive(&h, PX_OUTCOME_RESET, 1, t));
    ASSERT(px_health_passive(&h, PX_OUTCOME_RESET, 1, 5));
    /* The caller could not eject (share limit): the next failure asks again. */
    ASSERT(px_health_passive(&h, PX_OUTCOME_RESET, 1, 6));
    ASSERT(!px_health_passive(&h, PX_OUTCOME_OK, 1, 7));
    ASSERT(!px_health_passive(&h, PX_OUTCOME_RESET, 1, 8));
}

TEST(health_ejection_backoff_doubles_and_caps)
{
    struct fixture f;
    struct px_health h;
    uint64_t t = 1000, d;
    static const uint64_t want[] = {10000, 20000, 35000, 35000, 35000};

    fixture_init(&f);
    up_backend(&h, &f);
    for (size_t i = 0; i < PX_ARRAY_LEN(want); i++) {
        d = px_health_eject(&h, t);
        ASSERT_EQ(d, want[i]);
        ASSERT_EQ(h.ejections, i + 1);
        ASSERT(!px_health_eject_expire(&h, t + d - 1));
        ASSERT(px_health_eject_expire(&h, t + d));
        /* Re-ejected soon after it comes back: the series goes on. */
        t += d + 1000;
    }
    /* max_ejection_time (35 s) without an ejection ends the series. */
    t += 35000;
    ASSERT_EQ(px_health_eject(&h, t), 10000);
    ASSERT_EQ(h.ejections, 1);
    ASSERT_EQ(h.ejections_total, 6);
    /* Just short of it does not. */
    t += 10000 + 34999;
    ASSERT_EQ(px_health_eject(&h, t), 20000);

    /* Many repeats neither overflow nor pass the cap. */
    f.passive.max_ejection_time_ms = 24ull * 3600 * 1000;
    for (int i = 0; i < 200; i++) {
        d = px_health_eject(&h, t);
        ASSERT_GT(d, 0);
        ASSERT_LE(d, f.passive.max_ejection_time_ms);
        ASSERT_EQ(h.ejected_until_ms, t + d);
        t += d;
    }
    ASSERT_EQ(d, f.passive.max_ejection_time_ms);
}

TEST(health_probe_does_not_uneject)
{
    struct fixture f;
    struct px_health h;
    uint64_t t = 0, end;

    fixture_init(&f);
    up_backend(&h, &f);
    end = t + px_health_eject(&h, t);
    for (t = 250; t < end; t += 250) {
        ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 5, t), PX_HEALTH_SAME);
        ASSERT(px_health_ejected(&h, t));
        ASSERT(!px_health_usable(&h, t));
        ASSERT(!px_health_eject_expire(&h, t));
    }
    ASSERT(px_health_usable(&h, end));
    ASSERT(px_health_eject_expire(&h, end));
    ASSERT(!px_health_eject_expire(&h, end + 1)); /* once */
    ASSERT(!h.ejected);
    /* A failing probe can still take an ejected backend down (it is both). */
    px_health_eject(&h, end + 10);
    px_health_probe(&h, PX_HEALTH_FAIL, 5, end + 20);
    px_health_probe(&h, PX_HEALTH_FAIL, 5, end + 30);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 5, end + 40), PX_HEALTH_WENT_DOWN);
}

TEST(health_5xx_counts_only_when_configured)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    up_backend(&h, &f);
    for (uint64_t t = 1; t <= 50; t++)
        ASSERT(!px_health_passive(&h, PX_OUTCOME_HTTP_5XX, 2, t));
    ASSERT_EQ(h.passive_fail_run, 0);
    ASSERT(px_health_load_ms(&h) < 11); /* plain latency samples, no penalty */
    /* An uncounted 5xx is a response: it breaks a failure run. */
    for (uint64_t t = 51; t <= 54; t++)
        ASSERT(!px_health_passive(&h, PX_OUTCOME_RESET, 1, t));
    ASSERT(!px_health_passive(&h, PX_OUTCOME_HTTP_5XX, 1, 55));
    ASSERT_EQ(h.passive_fail_run, 0);

    f.passive.count_5xx = 1;
    up_backend(&h, &f);
    for (uint64_t t = 60; t < 64; t++)
        ASSERT(!px_health_passive(&h, PX_OUTCOME_HTTP_5XX, 2, t));
    ASSERT(px_health_load_ms(&h) >= 1000);
    ASSERT(px_health_passive(&h, PX_OUTCOME_HTTP_5XX, 2, 64));
}

TEST(health_max_ejected_share)
{
    struct fixture f;
    struct px_health hs[4];
    const struct px_health *ptrs[4];

    fixture_init(&f);
    for (int i = 0; i < 4; i++) {
        up_backend(&hs[i], &f);
        ptrs[i] = &hs[i];
    }
    /* 50% of 4: two at once, not three. */
    ASSERT(px_health_may_eject(ptrs, 4, 50, 0));
    px_health_eject(&hs[0], 0);
    ASSERT(px_health_may_eject(ptrs, 4, 50, 0));
    px_health_eject(&hs[1], 5000);
    ASSERT(!px_health_may_eject(ptrs, 4, 50, 5000));
    /* Down backends are not ejected ones. */
    px_health_set_down(&hs[2], 5000);
    ASSERT(!px_health_may_eject(ptrs, 4, 50, 5000));
    /* The first ejection ends: room for one more. */
    ASSERT(!px_health_may_eject(ptrs, 4, 50, 9999));
    ASSERT(px_health_may_eject(ptrs, 4, 50, 10000));
    /* Edge shares. */
    ASSERT(!px_health_may_eject(ptrs, 1, 50, 100000));
    ASSERT(px_health_may_eject(ptrs, 1, 100, 100000));
    ASSERT(!px_health_may_eject(ptrs, 4, 0, 100000));
    ASSERT(px_health_may_eject(ptrs, 3, 34, 100000));
    ASSERT(!px_health_may_eject(ptrs, 3, 33, 100000));
}

TEST(health_probe_counters)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    ASSERT_EQ(h.probes, 0);
    ASSERT_EQ(h.probe_failures, 0);
    /* Results 1..11, every third a failure: 3, 6, 9. */
    for (int i = 1; i <= 11; i++)
        px_health_probe(&h, i % 3 != 0 ? PX_HEALTH_PASS : PX_HEALTH_FAIL, i, (uint64_t)i * 100);
    ASSERT_EQ(h.probes, 11);
    ASSERT_EQ(h.probe_failures, 3);
    /* Failures never feed the RTT: its samples were 1..11 without 3, 6, 9. */
    ASSERT(h.has_rtt);
    ASSERT(h.rtt_ms >= 1 && h.rtt_ms <= 11);
}

TEST(health_slow_is_not_down)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    f.probe.timeout_ms = 5000;
    up_backend(&h, &f);
    ASSERT_STR_EQ(px_health_why(&h, 0), "up: probes pass");
    /* A 3 s answer is a pass and a latency sample, not a failure. */
    for (uint64_t t = 1000; t <= 30000; t += 1000)
        ASSERT_EQ(px_health_probe(&h, PX_HEALTH_PASS, 3000, t), PX_HEALTH_SAME);
    ASSERT(h.up);
    ASSERT(h.rtt_ms > 2900);
    NEAR(h.last_probe_ms, 3000, 1e-9);
    ASSERT_EQ(h.probe_failures, 0);

    /* Silent probes while real requests succeed: excused, whatever the count. */
    for (uint64_t t = 31000; t <= 91000; t += 6000) {
        px_health_passive(&h, PX_OUTCOME_OK, 400, t - 500);
        ASSERT(px_health_answering(&h, t));
        ASSERT_EQ(px_health_probe(&h, PX_HEALTH_SILENT, 5000, t), PX_HEALTH_SAME);
        ASSERT(h.up);
        ASSERT_EQ(h.fail_run, 0);
    }
    ASSERT_EQ(h.probes_excused, 11);
    ASSERT_EQ(h.probe_failures, 0);
    ASSERT_STR_EQ(px_health_why(&h, 91000), "up: answers real traffic, probe silent");

    /* A refusal is not excused by real traffic: fall (3) of them take it down. */
    px_health_passive(&h, PX_OUTCOME_OK, 400, 92000);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 1, 92001), PX_HEALTH_SAME);
    ASSERT_STR_EQ(px_health_why(&h, 92001), "up: probes failing, falling");
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 1, 92002), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 1, 92003), PX_HEALTH_WENT_DOWN);
    ASSERT_STR_EQ(px_health_why(&h, 92003), "down: probes failing");

    /* Silent with no real success within timeout + interval (6 s): failures. */
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    up_backend(&h, &f);
    px_health_passive(&h, PX_OUTCOME_OK, 400, 1000);
    ASSERT(px_health_answering(&h, 7000));
    ASSERT(!px_health_answering(&h, 7001));
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_SILENT, 5000, 8000), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_SILENT, 5000, 14000), PX_HEALTH_SAME);
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_SILENT, 5000, 20000), PX_HEALTH_WENT_DOWN);
    ASSERT_EQ(h.probe_failures, 3);
    /* Failed real requests are no evidence of health. */
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    up_backend(&h, &f);
    px_health_passive(&h, PX_OUTCOME_RESET, 400, 1000);
    px_health_passive(&h, PX_OUTCOME_HTTP_5XX, 400, 1000);
    ASSERT(!px_health_answering(&h, 1001));
}

TEST(health_goodput)
{
    struct fixture f;
    struct px_health h;
    struct px_region_state rs = {0};
    struct px_health hs[2];
    const struct px_health *p[2] = {&hs[0], &hs[1]};

    fixture_init(&f);
    up_backend(&h, &f);
    /* Small bodies say nothing about bandwidth. */
    px_health_transfer(&h, PX_GOODPUT_MIN_BYTES - 1, 1, 100);
    ASSERT(!h.has_goodput);
    /* 1 MiB in 1 s: 1 MiB/s; a second sample one half-life later halves the gap. */
    px_health_transfer(&h, 1 << 20, 1000, 1000);
    ASSERT(h.has_goodput);
    NEAR(h.goodput_bps, 1 << 20, 1e-6);
    px_health_transfer(&h, 3 << 20, 1000, 2000);
    NEAR(h.goodput_bps, 2 << 20, 1e-6);
    /* A zero-time body counts as 1 ms (the workers' clock steps). */
    px_health_init(&h, &f.probe, &f.passive, &f.routing, true, 0);
    px_health_transfer(&h, 100000, 0, 10);
    NEAR(h.goodput_bps, 100000000, 1e-3);

    /* The region's goodput: the best among usable backends, 0 when none is known. */
    up_backend(&hs[0], &f);
    up_backend(&hs[1], &f);
    px_region_update(&rs, p, 2, 1, 1000, 0);
    NEAR(rs.goodput_bps, 0, 1e-12);
    px_health_transfer(&hs[0], 1 << 20, 1000, 10);
    px_health_transfer(&hs[1], 4 << 20, 1000, 10);
    px_region_update(&rs, p, 2, 1, 1000, 10);
    NEAR(rs.goodput_bps, 4 << 20, 1e-6);
    px_health_set_down(&hs[1], 20);
    px_region_update(&rs, p, 2, 1, 1000, 20);
    NEAR(rs.goodput_bps, 1 << 20, 1e-6);
}

TEST(health_real_latency_step)
{
    struct fixture f;
    struct px_health h;

    fixture_init(&f);
    up_backend(&h, &f); /* probe RTT 10 ms at 0 */
    /* Until PX_REAL_SAMPLES real latencies and a probe after them: probes alone. */
    for (uint64_t t = 10; t <= 30; t += 10)
        px_health_passive(&h, PX_OUTCOME_OK, 50, t);
    NEAR(px_health_route_rtt_ms(&h, 30), 10, 1e-9);
    px_health_probe(&h, PX_HEALTH_PASS, 10, 40); /* the base: median 50 */
    NEAR(px_health_route_rtt_ms(&h, 40), 10, 1e-9);
    /* One slow request is ignored by the median; two are a step. */
    px_health_passive(&h, PX_OUTCOME_OK, 2000, 50);
    NEAR(px_health_route_rtt_ms(&h, 50), 10, 1e-9);
    px_health_passive(&h, PX_OUTCOME_OK, 350, 60);
    NEAR(px_health_route_rtt_ms(&h, 60), 310, 1e-6);
    /* Failures are not latencies. */
    px_health_passive(&h, PX_OUTCOME_RESET, 1, 70);
    NEAR(px_health_route_rtt_ms(&h, 70), 310, 1e-6);
    /* Stale real latencies say nothing. */
    NEAR(px_health_route_rtt_ms(&h, 60 + PX_REAL_FRESH_MS + 100), 10, 1e-9);
    /* The next probe carries the step; the difference starts again from 0. */
    px_health_probe(&h, PX_HEALTH_PASS, 310, 1000);
    px_health_passive(&h, PX_OUTCOME_OK, 350, 1010);
    px_health_passive(&h, PX_OUTCOME_OK, 350, 1020);
    px_health_passive(&h, PX_OUTCOME_OK, 350, 1030);
    NEAR(px_health_route_rtt_ms(&h, 1030), h.rtt_ms, 1e-6);
    /* A drop counts as well, never below 0. */
    for (uint64_t t = 1040; t <= 1060; t += 10)
        px_health_passive(&h, PX_OUTCOME_OK, 0, t);
    NEAR(px_health_route_rtt_ms(&h, 1060), 0, 1e-9);
}

TEST(health_goodput_goes_stale)
{
    struct fixture f;
    struct px_health h;
    struct px_region_state rs = {0};
    const struct px_health *p = &h;

    fixture_init(&f);
    up_backend(&h, &f);
    px_health_transfer(&h, 1 << 20, 1000, 1000);
    px_region_update(&rs, &p, 1, 1, 1000, 1000 + PX_GOODPUT_STALE_MS - 1);
    NEAR(rs.goodput_bps, 1 << 20, 1e-6);
    /* Not refreshed: unknown again, so the router explores the region again. */
    px_region_update(&rs, &p, 1, 1, 1000, 1000 + PX_GOODPUT_STALE_MS);
    NEAR(rs.goodput_bps, 0, 1e-12);
    /* A new sample after so long replaces the old figure; a changed one keeps the TTL. */
    uint64_t t = 1000 + 2 * PX_GOODPUT_STALE_MS;
    px_health_transfer(&h, 4 << 20, 1000, t);
    NEAR(h.goodput_bps, 4 << 20, 1e-6);
    ASSERT_EQ(h.goodput_ttl_ms, PX_GOODPUT_STALE_MS);
    /* Re-measurements that find the same figure double the TTL, up to the cap. */
    for (uint64_t ttl = 2 * PX_GOODPUT_STALE_MS; ttl <= PX_GOODPUT_STALE_MAX_MS; ttl *= 2) {
        ASSERT(px_health_goodput_fresh(&h, t + h.goodput_ttl_ms - 1));
        ASSERT(!px_health_goodput_fresh(&h, t + h.goodput_ttl_ms));
        t += h.goodput_ttl_ms;
        px_health_transfer(&h, 5 << 20, 1000, t); /* 5 vs 4 MiB/s: the same */
        ASSERT_EQ(h.goodput_ttl_ms, ttl);
    }
    t += h.goodput_ttl_ms;
    px_health_transfer(&h, 5 << 20, 1000, t);
    ASSERT_EQ(h.goodput_ttl_ms, PX_GOODPUT_STALE_MAX_MS);
    /* A different figure: back to the short TTL, so a change is found soon again. */
    t += h.goodput_ttl_ms;
    px_health_transfer(&h, 1 << 20, 1000, t);
    ASSERT_EQ(h.goodput_ttl_ms, PX_GOODPUT_STALE_MS);
    NEAR(h.goodput_bps, 1 << 20, 1e-6);
}

/*
 * probe.bulk feeds px_health_transfer exactly as real responses do
 * (discovery.c, on_bulk_done). On a simulated clock, a region that carries
 * no real traffic and is bulk-probed every 30 s (1 MiB at 2 MiB/s): the
 * first probe gives it a figure; while the TTL is shorter than the
 * interval it is unmeasured between probes, and each confirmation doubles
 * the TTL, so from the third probe on it stays measured. A body shorter
 * than 64 KiB (a small file at bulk.path) measures nothing.
 */
TEST(health_bulk_probe_cadence_keeps_goodput_fresh)
{
    struct fixture f;
    struct px_health h;
    struct px_region_state rs = {0};
    const struct px_health *p = &h;
    const uint64_t interval = 30000, bytes = 1 << 20;
    uint64_t t = 0;

    fixture_init(&f);
    up_backend(&h, &f);
    px_health_transfer(&h, 32 * 1024, 10, 100);
    ASSERT(!h.has_goodput);
    unsigned fresh_ticks = 0, ticks = 0, last_stale_probe = 0;
    for (unsigned probe = 1; probe <= 10; probe++) {
        t += interval;
        px_health_transfer(&h, bytes, 500, t); /* 2 MiB/s */
        /* Every second until the next probe: is the region measured? */
        for (uint64_t dt = 0; dt < interval; dt += 1000) {
            px_region_update(&rs, &p, 1, 1, 1000, t + dt);
            ticks++;
            if (rs.goodput_bps > 0) {
                NEAR(rs.goodput_bps, 2 << 20, 1);
                fresh_ticks++;
            } else {
                last_stale_probe = probe;
            }
        }
    }
    ASSERT_EQ(last_stale_probe, 2); /* TTLs 10 s, 20 s, then 40 s: measured throughout */
    ASSERT_GT(fresh_ticks, ticks * 7 / 10);
}

TEST(health_region_aggregate)
{
    struct fixture f;
    struct px_health hs[3];
    const struct px_health *p[3] = {&hs[0], &hs[1], &hs[2]};
    struct px_region_state rs = {0};

    fixture_init(&f);
    for (int i = 0; i < 3; i++)
        px_health_init(&hs[i], &f.probe, &f.passive, &f.routing, false, 0);
    /* Nothing up. */
    ASSERT(!px_region_update(&rs, p, 3, 2, 1000, 0));
    ASSERT(!rs.healthy);
    ASSERT_EQ(rs.usable, 0);
    NEAR(rs.rtt_ms, 1000, 1e-9);
    /* Two up, min_healthy 2: healthy, RTT the best usable one. */
    for (int i = 0; i < 2; i++) {
        px_health_probe(&hs[i], PX_HEALTH_PASS, 40 + 10 * i, 100);
        px_health_probe(&hs[i], PX_HEALTH_PASS, 40 + 10 * i, 200);
    }
    px_health_probe(&hs[2], PX_HEALTH_PASS, 5, 200); /* fastest, but not up yet */
    ASSERT(px_region_update(&rs, p, 3, 2, 1000, 300));
    ASSERT(rs.healthy);
    ASSERT_EQ(rs.healthy_since_ms, 300);
    ASSERT_EQ(rs.usable, 2);
    NEAR(rs.rtt_ms, 40, 1e-9);
    ASSERT(!px_region_update(&rs, p, 3, 2, 1000, 400));
    ASSERT_EQ(rs.healthy_since_ms, 300);
    /* Up without an RTT sample counts as usable; RTT from those measured. */
    px_health_set_up(&hs[2], 400);
    ASSERT(!px_region_update(&rs, p, 3, 2, 1000, 400));
    NEAR(rs.rtt_ms, 5, 1e-9);
    /* Ejections take backends away. */
    px_health_eject(&hs[2], 500);
    px_health_eject(&hs[0], 500);
    ASSERT(px_region_update(&rs, p, 3, 2, 1000, 500));
    ASSERT(!rs.healthy);
    NEAR(rs.rtt_ms, 50, 1e-9);
    ASSERT(px_region_healthy(p, 3, 1, false, 500));
    ASSERT(!px_region_healthy(p, 3, 1, true, 500));
    /* Back after the ejection: healthy again, with a new since. */
    ASSERT(px_region_update(&rs, p, 3, 2, 1000, 10500));
    ASSERT_EQ(rs.healthy_since_ms, 10500);
    /* Drained: unhealthy whatever the backends; undrained: since restarts. */
    rs.drained = true;
    ASSERT(px_region_update(&rs, p, 3, 2, 1000, 11000));
    ASSERT(!rs.healthy);
    rs.drained = false;
    ASSERT(px_region_update(&rs, p, 3, 2, 1000, 12000));
    ASSERT_EQ(rs.healthy_since_ms, 12000);
    /* min_healthy 0 still needs one backend; no backends is never healthy. */
    ASSERT(!px_region_healthy(p, 0, 0, false, 12000));
    ASSERT(px_region_healthy(p, 1, 0, false, 12000));
}

TEST(health_reconf_keeps_state)
{
    struct fixture f, g;
    struct px_health h;

    fixture_init(&f);
    fixture_init(&g);
    g.probe.fall = 1;
    up_backend(&h, &f);
    px_health_probe(&h, PX_HEALTH_PASS, 30, 1000);
    px_health_eject(&h, 1000);
    px_health_reconf(&h, &g.probe, &g.passive, &g.routing);
    ASSERT(h.has_rtt);
    ASSERT(px_health_ejected(&h, 1001));
    ASSERT_EQ(px_health_probe(&h, PX_HEALTH_FAIL, 1, 1100), PX_HEALTH_WENT_DOWN);
}
