/*
 * Unit tests of proxy/control/router.c on a simulated clock: costs, bias,
 * transfer time, switching on accumulated evidence, failover, fallback, reject, drain, slow
 * start, a randomised property test against a reference model of the
 * rules, a flapping test, and the retry budget.
 */
#include "tests/unit/test.h"
#include "proxy/control/router.h"
#include "proxy/base/px.h"

#include <math.h>

#define NEAR(a, b, eps) ASSERT(fabs((double)(a) - (double)(b)) <= (eps))

#define MAXR 6

/* A hand-built conf with one zone, its route, and the region views. */
struct rfix {
    struct conf cf;
    struct conf_region regions[MAXR];
    struct conf_zone zone;
    size_t allowed[MAXR];
    size_t fallback[MAXR];
    uint64_t bias[MAXR];
    struct px_region_view v[MAXR];
    struct px_route_state st;
};

static const char *const names[MAXR] = {"cn", "hk", "us", "eu", "jp", "sg"};

/*
 * Sets F up with NREGIONS regions (cn, hk, us, ...), all healthy with RTT
 * 100 ms; the zone allows the regions whose digits are in ALLOWED ("01")
 * and falls back to those in FALLBACK ("" = reject). Hysteresis: 10 ms or
 * 10 %, switch evidence 100 ms*s, no slow start.
 */
static void rfix_init(struct rfix *f, size_t nregions, const char *allowed, const char *fallback)
{
    memset(f, 0, sizeof(*f));
    ASSERT_LE(nregions, MAXR);
    for (size_t i = 0; i < nregions; i++) {
        snprintf(f->regions[i].name, sizeof(f->regions[i].name), "%s", names[i]);
        f->v[i] = (struct px_region_view){.healthy = true, .rtt_ms = 100};
    }
    f->cf.regions = f->regions;
    f->cf.nregions = nregions;
    f->cf.zones = &f->zone;
    f->cf.nzones = 1;
    snprintf(f->zone.name, sizeof(f->zone.name), "z");
    for (const char *p = allowed; *p; p++)
        f->allowed[f->zone.route.nregions++] = (size_t)(*p - '0');
    for (const char *p = fallback; *p; p++)
        f->fallback[f->zone.route.nfallback++] = (size_t)(*p - '0');
    f->zone.route.regions = f->allowed;
    f->zone.route.fallback = f->zone.route.nfallback ? f->fallback : NULL;
    f->zone.route.reject = f->zone.route.nfallback == 0;
    f->zone.route.bias_ms = f->bias;
    f->cf.routing = (struct conf_routing){
        .min_gain_ms = 10,
        .min_gain_pct = 10,
        .switch_evidence = 100,
        .rtt_half_life_ms = 10000,
        .slow_start_ms = 0,
        .retry_budget_pct = 20,
        .failure_penalty_ms = 1000,
    };
    ASSERT_OK(px_route_state_init(&f->st, nregions));
}

/* One request's region, split by the workers' own rule. */
static int pick(const struct px_route_state *st, struct px_rng *rng)
{
    return px_routes_split(st->current, st->secondary, st->share, rng);
}

static bool decide(struct rfix *f, uint64_t now)
{
    return px_router_decide(&f->cf, 0, f->v, 0, now, &f->st);
}

static void set_rtt(struct rfix *f, double cn, double hk, double us)
{
    f->v[0].rtt_ms = cn;
    f->v[1].rtt_ms = hk;
    f->v[2].rtt_ms = us;
}

TEST(router_min_score_wins)
{
    struct rfix f;

    rfix_init(&f, 3, "012", "");
    set_rtt(&f, 50, 20, 80);
    ASSERT_EQ(f.st.current, -1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_NONE);
    ASSERT(decide(&f, 0));
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_INITIAL);
    ASSERT_STR_EQ(f.st.why, "initial");
    ASSERT_EQ(f.st.switches, 0);
    /* The parts of every score are kept for /status. */
    NEAR(f.st.scores[0].total_ms, 50, 1e-9);
    NEAR(f.st.scores[2].rtt_ms, 80, 1e-9);
    ASSERT(f.st.scores[2].allowed && f.st.scores[2].healthy && !f.st.scores[2].fallback);
    /* Steady: "best", no change reported. */
    ASSERT(!decide(&f, 1000));
    ASSERT_EQ(f.st.reason, PX_ROUTE_BEST);
    ASSERT_STR_EQ(f.st.why, "best");
    ASSERT_STR_EQ(px_route_reason_name(f.st.reason), "best");
    /* Ties go to the region listed first in the route. */
    px_route_state_dispose(&f.st);
    rfix_init(&f, 3, "210", "");
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 2);
    px_route_state_dispose(&f.st);
}

TEST(router_bias_applied)
{
    struct rfix f;

    rfix_init(&f, 3, "012", "");
    set_rtt(&f, 50, 20, 80);
    f.bias[1] = 40; /* hk: 20 + 40 = 60 > cn 50 */
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 0);
    NEAR(f.st.scores[1].bias_ms, 40, 1e-9);
    NEAR(f.st.scores[1].total_ms, 60, 1e-9);
    px_route_state_dispose(&f.st);
}

TEST(router_size_mean)
{
    struct px_size_mean m = {0};

    NEAR(px_size_mean(&m), 0, 1e-12);
    /* Nine 1 KB calls and one 1 MB object at once: the mean is the mix's. */
    for (int i = 0; i < 9; i++)
        px_size_add(&m, 1000, 1000);
    px_size_add(&m, 1000000, 1000);
    NEAR(px_size_mean(&m), 100900, 1e-6);
    /* Half a minute later the old mix weighs half: one more 1 MB object. */
    px_size_add(&m, 1000000, 1000 + PX_SIZE_HALF_LIFE_MS);
    NEAR(px_size_mean(&m), (1009000 / 2.0 + 1000000) / 6.0, 1e-6);
}

/*
 * Phase (a) of bench-geo in miniature: cn is 5 ms away but gives 1 MB/s,
 * hk 60 ms away gives 20 MB/s. Small calls stay on cn; a zone whose mean
 * response is 500 kB moves to hk (cn 505 ms, hk 85 ms), on evidence.
 */
TEST(router_transfer_time_counts)
{
    struct rfix f;
    uint64_t t = 0;

    rfix_init(&f, 2, "01", "");
    set_rtt(&f, 5, 60, 0);
    f.v[0].goodput_bps = 1e6;
    f.v[1].goodput_bps = 20e6;
    ASSERT(px_router_decide(&f.cf, 0, f.v, 2000, t, &f.st));
    ASSERT_EQ(f.st.current, 0); /* 2 kB: 7 ms vs 60.1 ms */
    NEAR(f.st.scores[0].transfer_ms, 2, 1e-9);
    NEAR(f.st.scores[1].total_ms, 60.1, 1e-9);
    for (t = 50; t < 60000; t += 50)
        ASSERT(!px_router_decide(&f.cf, 0, f.v, 2000, t, &f.st));
    /* The zone's traffic turns bulk: 420 ms better, beyond the 50 ms margin: 0.3 s. */
    ASSERT(!px_router_decide(&f.cf, 0, f.v, 500000, t, &f.st));
    NEAR(f.st.scores[0].total_ms, 505, 1e-9);
    NEAR(f.st.scores[1].total_ms, 85, 1e-9);
    NEAR(f.st.size_bytes, 500000, 1e-9);
    uint64_t t0 = t;
    while (!px_router_decide(&f.cf, 0, f.v, 500000, t += 50, &f.st))
        ASSERT_LT(t - t0, 1000);
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_SWITCHED);
    ASSERT_LE(t - t0, 350);
    px_route_state_dispose(&f.st);

    /* An unmeasured region is charged no transfer time: a bulk zone explores it. */
    rfix_init(&f, 2, "01", "");
    set_rtt(&f, 5, 60, 0);
    f.v[0].goodput_bps = 1e6;
    px_router_decide(&f.cf, 0, f.v, 0, 0, &f.st); /* no traffic yet: RTT decides */
    ASSERT_EQ(f.st.current, 0);
    px_router_decide(&f.cf, 0, f.v, 500000, 50, &f.st);
    ASSERT_EQ(f.st.current, 0);
    NEAR(f.st.scores[1].transfer_ms, 0, 1e-12);
    NEAR(f.st.scores[1].goodput_bps, 0, 1e-12);
    for (t = 100; f.st.current == 0 && t < 2000; t += 50)
        px_router_decide(&f.cf, 0, f.v, 500000, t, &f.st);
    ASSERT_EQ(f.st.current, 1);
    /* Measured worse (100 kB/s: 5 s a response): back to cn on the same rule. */
    f.v[1].goodput_bps = 1e5;
    for (; f.st.current == 1 && t < 10000; t += 50)
        px_router_decide(&f.cf, 0, f.v, 500000, t, &f.st);
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.switches, 2);
    /* A zone of small calls never explores: RTT decides. */
    px_route_state_dispose(&f.st);
    rfix_init(&f, 2, "01", "");
    set_rtt(&f, 5, 60, 0);
    f.v[0].goodput_bps = 1e6;
    for (t = 0; t < 600000; t += 50)
        px_router_decide(&f.cf, 0, f.v, 1000, t, &f.st);
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.switches, 0);
    px_route_state_dispose(&f.st);
}

TEST(router_failover_order)
{
    struct rfix f;
    uint16_t order[MAXR];

    /* Allowed cn hk us, fallback eu jp; sg unused. */
    rfix_init(&f, 6, "012", "34");
    f.v[0].rtt_ms = 50;
    f.v[1].rtt_ms = 20;
    f.v[2].rtt_ms = 20; /* ties hk: index order */
    f.v[3].rtt_ms = 90;
    f.v[4].rtt_ms = 10; /* a fallback never comes before an allowed region */
    f.v[5].rtt_ms = 1;  /* neither allowed nor fallback: never listed */
    decide(&f, 0);
    ASSERT_EQ(px_router_failover_order(&f.st, order), 5);
    ASSERT_EQ(order[0], 1);
    ASSERT_EQ(order[1], 2);
    ASSERT_EQ(order[2], 0);
    ASSERT_EQ(order[3], 4);
    ASSERT_EQ(order[4], 3);
    /* Unhealthy and drained regions are left out; bias counts. */
    f.v[1].healthy = false;
    f.v[4].drained = true;
    f.bias[0] = 100; /* cn: 150 */
    decide(&f, 1);
    ASSERT_EQ(px_router_failover_order(&f.st, order), 3);
    ASSERT_EQ(order[0], 2);
    ASSERT_EQ(order[1], 0);
    ASSERT_EQ(order[2], 3);
    /* Nothing healthy: an empty order. */
    for (size_t r = 0; r < 6; r++)
        f.v[r].healthy = false;
    decide(&f, 2);
    ASSERT_EQ(px_router_failover_order(&f.st, order), 0);
    px_route_state_dispose(&f.st);
}

TEST(router_hysteresis_margin_and_evidence)
{
    struct rfix f;
    uint64_t t;

    rfix_init(&f, 2, "01", "");
    set_rtt(&f, 100, 120, 0);
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 0);
    /* hk better by 10 ms: not more than max(10 ms, 10 %): held for an hour. */
    f.v[1].rtt_ms = 90;
    for (t = 1000; t <= 3600 * 1000; t += 1000)
        ASSERT(!decide(&f, t));
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.reason, PX_ROUTE_HELD);
    ASSERT_STR_CONTAINS(f.st.why, "held: hk better by 10 ms");
    NEAR(f.st.evidence, 0, 1e-9);
    /* Better by 11 ms: 1 ms beyond the margin needs 100 s to reach 100 ms*s. */
    f.v[1].rtt_ms = 89;
    t = 4000000;
    ASSERT(!decide(&f, t));
    ASSERT_EQ(f.st.candidate, 1);
    for (uint64_t k = 1; k < 100; k++)
        ASSERT(!decide(&f, t + k * 1000));
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.reason, PX_ROUTE_HELD);
    ASSERT_STR_EQ(f.st.why, "held: hk better by 11 ms, margin 10 ms, evidence 99 of 100 ms*s");
    ASSERT(decide(&f, t + 100000));
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_SWITCHED);
    ASSERT_STR_EQ(f.st.why, "switched: better by 11 ms, margin 10 ms, evidence 100 ms*s");
    ASSERT_EQ(f.st.switches, 1);
    ASSERT_EQ(f.st.switched_ms, t + 100000);
    ASSERT_EQ(f.st.candidate, -1);
    NEAR(f.st.evidence, 0, 1e-9);

    /* The percentage: at 300 ms the margin is 30 ms. */
    set_rtt(&f, 400, 300, 0);
    t += 200000;
    decide(&f, t);
    ASSERT_EQ(f.st.current, 1);
    f.v[0].rtt_ms = 270; /* better by 30: not more than 30 */
    for (uint64_t i = 1; i <= 100; i++)
        decide(&f, t + i * 1000);
    ASSERT_EQ(f.st.current, 1);
    /* Better by 140 ms (110 beyond the margin), decided every 50 ms: moves in 0.95 s. */
    f.v[0].rtt_ms = 160;
    t += 200000;
    for (uint64_t k = 0; k < 19; k++)
        ASSERT(!decide(&f, t + k * 50));
    ASSERT(decide(&f, t + 19 * 50));
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.switches, 2);
    px_route_state_dispose(&f.st);
}

TEST(router_evidence_drains_below_margin)
{
    struct rfix f;

    rfix_init(&f, 2, "01", "");
    set_rtt(&f, 100, 120, 0);
    decide(&f, 0);
    /* hk better by 50 ms (40 beyond the margin): 40 ms*s a second. */
    f.v[1].rtt_ms = 50;
    decide(&f, 1000);
    decide(&f, 2000);
    NEAR(f.st.evidence, 40, 1e-9);
    /* The advantage shrinks to 5 ms (5 below the margin) for 10 s: S drains 5 a second. */
    f.v[1].rtt_ms = 95;
    decide(&f, 3000);
    NEAR(f.st.evidence, 80, 1e-9);
    for (uint64_t t = 4000; t <= 13000; t += 1000)
        ASSERT(!decide(&f, t));
    NEAR(f.st.evidence, 30, 1e-9);
    ASSERT_EQ(f.st.candidate, 1);
    /* Back to 50 ms: 70 more to go, so 2 s and not 1. */
    f.v[1].rtt_ms = 50;
    ASSERT(!decide(&f, 13000));
    ASSERT(!decide(&f, 14000));
    ASSERT(decide(&f, 15000));
    ASSERT_EQ(f.st.current, 1);
    px_route_state_dispose(&f.st);

    /* switch_evidence 0: at once once beyond the margin. */
    rfix_init(&f, 2, "01", "");
    f.cf.routing.switch_evidence = 0;
    set_rtt(&f, 100, 120, 0);
    decide(&f, 0);
    f.v[1].rtt_ms = 89;
    ASSERT(decide(&f, 1));
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_SWITCHED);
    px_route_state_dispose(&f.st);
}

TEST(router_challengers_trading_the_lead_still_switch)
{
    struct rfix f;

    /*
     * cn is clearly worst; hk and us alternate as the best every 100 ms:
     * the evidence follows cn (170 ms*s a second beyond the 30 ms margin
     * against whichever leads), so the switch comes after 0.6 s.
     */
    rfix_init(&f, 3, "012", "");
    set_rtt(&f, 50, 200, 200);
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 0);
    for (uint64_t t = 1000; t < 1600; t += 100) {
        set_rtt(&f, 300, (t / 100) % 2 ? 100 : 110, (t / 100) % 2 ? 110 : 100);
        ASSERT(!decide(&f, t));
    }
    set_rtt(&f, 300, 110, 100);
    ASSERT(decide(&f, 1600));
    ASSERT_EQ(f.st.current, 2); /* the best at the moment of the switch */
    px_route_state_dispose(&f.st);
}

TEST(router_failover_is_immediate)
{
    struct rfix f;

    rfix_init(&f, 3, "012", "");
    set_rtt(&f, 10, 100, 105);
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 0);
    f.v[0].healthy = false;
    ASSERT(decide(&f, 100));
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_FAILOVER);
    ASSERT_STR_EQ(f.st.why, "failover: current unhealthy");
    ASSERT_EQ(f.st.switches, 1);
    /* cn comes back much better: the evidence rule applies again (80 ms beyond, 1.25 s). */
    f.v[0].healthy = true;
    ASSERT(!decide(&f, 200));
    ASSERT_EQ(f.st.current, 1);
    ASSERT(!decide(&f, 1200));
    ASSERT(decide(&f, 2200));
    ASSERT_EQ(f.st.current, 0);
    /* A pending challenge does not survive a failover. */
    f.v[0].rtt_ms = 50;
    f.v[1].rtt_ms = 1;
    decide(&f, 6000);
    ASSERT_EQ(f.st.candidate, 1);
    f.v[0].healthy = false;
    decide(&f, 7000);
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.candidate, -1);
    px_route_state_dispose(&f.st);
}

/* D18: HK clients on cn because hk is down hear "failover" until hk is back, not "best". */
TEST(router_failover_reason_lasts_while_preferred_down)
{
    struct rfix f;

    rfix_init(&f, 3, "10", ""); /* a Hong Kong zone: hk, then cn */
    set_rtt(&f, 40, 10, 180);
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 1);
    f.v[1].healthy = false;
    ASSERT(decide(&f, 50));
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.reason, PX_ROUTE_FAILOVER);
    /* Every later tick while hk is out: still failover, naming hk. */
    for (uint64_t t = 100; t <= 10000; t += 50) {
        ASSERT(!decide(&f, t));
        ASSERT_EQ(f.st.current, 0);
        ASSERT_EQ(f.st.reason, PX_ROUTE_FAILOVER);
        ASSERT_STR_CONTAINS(f.st.why, "failover: hk unhealthy");
    }
    /* Drained rather than down: says so. */
    f.v[1].healthy = true;
    f.v[1].drained = true;
    decide(&f, 10050);
    ASSERT_EQ(f.st.reason, PX_ROUTE_FAILOVER);
    ASSERT_STR_CONTAINS(f.st.why, "failover: hk drained");
    /* hk back: the return follows the evidence rule, and the reason says so. */
    f.v[1].drained = false;
    ASSERT(!decide(&f, 10100));
    ASSERT_EQ(f.st.reason, PX_ROUTE_HELD);
    ASSERT_EQ(f.st.away_from, -1);
    uint64_t t = 10150;
    while (!decide(&f, t) && t < 20000)
        t += 50;
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_SWITCHED);
    decide(&f, t + 50);
    ASSERT_EQ(f.st.reason, PX_ROUTE_BEST);
    px_route_state_dispose(&f.st);
}

TEST(router_fallback_only_when_no_allowed_healthy)
{
    struct rfix f;

    /* cn, hk allowed; us fallback and by far the fastest. */
    rfix_init(&f, 3, "01", "2");
    set_rtt(&f, 100, 150, 1);
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 0);
    ASSERT(f.st.scores[2].fallback && !f.st.scores[2].allowed);
    f.v[0].healthy = false;
    decide(&f, 1000);
    ASSERT_EQ(f.st.current, 1); /* still an allowed one */
    f.v[1].healthy = false;
    ASSERT(decide(&f, 2000));
    ASSERT_EQ(f.st.current, 2);
    ASSERT_EQ(f.st.reason, PX_ROUTE_FALLBACK);
    ASSERT_STR_EQ(f.st.why, "fallback: no allowed region healthy");
    ASSERT(!decide(&f, 3000));
    ASSERT_EQ(f.st.reason, PX_ROUTE_FALLBACK);
    /* One allowed region back, even much slower: back at once. */
    f.v[1].healthy = true;
    f.v[1].rtt_ms = 900;
    ASSERT(decide(&f, 3001));
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_RECOVERED);
    ASSERT_EQ(f.st.switches, 3);
    px_route_state_dispose(&f.st);
}

TEST(router_fallback_hysteresis_among_fallbacks)
{
    struct rfix f;

    rfix_init(&f, 3, "0", "12");
    set_rtt(&f, 10, 100, 120);
    f.v[0].healthy = false;
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_FALLBACK);
    f.v[2].rtt_ms = 95; /* within the margin */
    for (uint64_t t = 1000; t < 60000; t += 1000)
        ASSERT(!decide(&f, t));
    f.v[2].rtt_ms = 50;
    ASSERT(!decide(&f, 60000));
    ASSERT(decide(&f, 65000));
    ASSERT_EQ(f.st.current, 2);
    ASSERT_EQ(f.st.reason, PX_ROUTE_FALLBACK);
    /* The current fallback dies: the other one at once. */
    f.v[2].healthy = false;
    ASSERT(decide(&f, 65001));
    ASSERT_EQ(f.st.current, 1);
    px_route_state_dispose(&f.st);
}

TEST(router_reject_when_nothing_allowed_healthy)
{
    struct rfix f;
    struct px_rng rng;

    px_rng_seed(&rng, 1);
    rfix_init(&f, 3, "0", "");
    set_rtt(&f, 100, 1, 1);
    f.v[0].healthy = false;
    ASSERT(!decide(&f, 0));
    ASSERT_EQ(f.st.current, -1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_REJECT);
    ASSERT_STR_EQ(f.st.why, "reject: no allowed region healthy");
    ASSERT_EQ(pick(&f.st, &rng), -1);
    f.v[0].healthy = true;
    ASSERT(decide(&f, 1000));
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.reason, PX_ROUTE_RECOVERED);
    ASSERT_EQ(pick(&f.st, &rng), 0);
    f.v[0].healthy = false;
    ASSERT(decide(&f, 2000));
    ASSERT_EQ(f.st.current, -1);
    ASSERT_EQ(f.st.switches, 2);
    px_route_state_dispose(&f.st);

    /* With a fallback that is also down: reject as well. */
    rfix_init(&f, 3, "0", "1");
    f.v[0].healthy = false;
    f.v[1].healthy = false;
    decide(&f, 0);
    ASSERT_EQ(f.st.current, -1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_REJECT);
    px_route_state_dispose(&f.st);
}

TEST(router_drained_region_unavailable)
{
    struct rfix f;

    rfix_init(&f, 2, "01", "");
    set_rtt(&f, 10, 100, 0);
    f.v[0].drained = true; /* healthy backends, but drained */
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 1);
    ASSERT(!f.st.scores[0].healthy);
    f.v[0].drained = false;
    decide(&f, 1000);
    ASSERT(decide(&f, 6000));
    ASSERT_EQ(f.st.current, 0);
    f.v[0].drained = true;
    ASSERT(decide(&f, 7000));
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_FAILOVER);
    ASSERT_STR_EQ(f.st.why, "failover: current drained");
    /* Everything drained: reject. */
    f.v[1].drained = true;
    decide(&f, 8000);
    ASSERT_EQ(f.st.current, -1);
    px_route_state_dispose(&f.st);
}

TEST(router_current_no_longer_allowed)
{
    struct rfix f;

    rfix_init(&f, 3, "01", "");
    set_rtt(&f, 10, 100, 200);
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 0);
    /* A reload moved cn out of the zone's regions. */
    f.allowed[0] = 1;
    f.allowed[1] = 2;
    ASSERT(decide(&f, 1000));
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.reason, PX_ROUTE_FAILOVER);
    ASSERT_STR_EQ(f.st.why, "failover: current not allowed");
    /* A stale index past the region table counts as none. */
    f.st.current = 99;
    ASSERT(decide(&f, 2000));
    ASSERT_EQ(f.st.current, 1);
    px_route_state_dispose(&f.st);
}

TEST(router_flapping_within_margin_never_switches)
{
    struct rfix f;
    uint64_t t = 0;

    rfix_init(&f, 2, "01", "");
    set_rtt(&f, 100, 100, 0);
    decide(&f, t);
    ASSERT_EQ(f.st.current, 0);
    /* A day of RTTs trading places within the margin (10 ms), every 100 ms. */
    for (int i = 0; i < 864000; i++) {
        t += 100;
        f.v[0].rtt_ms = i % 2 ? 95 : 104;
        f.v[1].rtt_ms = i % 2 ? 104 : 95;
        decide(&f, t);
    }
    ASSERT_EQ(f.st.switches, 0);
    /*
     * Beyond the margin, but noise: hk wins by 50 ms for 0.1 s, then loses
     * by 50 ms for 0.1 s, for a day. Each spell below the margin drains what
     * the one above added (the old fixed hold asserted the same with 4.9 s
     * wins; under the evidence rule those are a real advantage, below).
     */
    for (int i = 0; i < 864000; i++) {
        t += 100;
        f.v[1].rtt_ms = i % 2 ? 150 : 50;
        f.v[0].rtt_ms = 100;
        decide(&f, t);
    }
    ASSERT_EQ(f.st.switches, 0);
    ASSERT_EQ(f.st.current, 0);
    /* Winning by 50 ms 98 % of the time is an advantage: it moves. */
    for (int i = 0; i < 100 && f.st.switches == 0; i++) {
        t += 100;
        f.v[1].rtt_ms = i % 50 == 49 ? 150 : 50;
        decide(&f, t);
    }
    ASSERT_EQ(f.st.switches, 1);
    ASSERT_EQ(f.st.current, 1);
    px_route_state_dispose(&f.st);
}

TEST(router_slow_start_share_ramps_linearly)
{
    struct rfix f;
    struct px_rng rng;
    int counts[2] = {0, 0};

    px_rng_seed(&rng, 7);
    rfix_init(&f, 2, "01", "");
    /* slow_start 10 s, but a zone's ramp is capped at PX_ROUTER_RAMP_MAX_MS (3 s). */
    f.cf.routing.slow_start_ms = 10000;
    set_rtt(&f, 100, 20, 0);
    f.v[1].healthy = false;
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.secondary, -1);
    NEAR(f.st.share, 1, 1e-12);
    /* hk comes back at 100 s, 70 ms beyond the margin: held 1.5 s, then 50 % share. */
    f.v[1].healthy = true;
    f.v[1].healthy_since_ms = 100000;
    decide(&f, 100000);
    ASSERT_EQ(f.st.current, 0);
    ASSERT(!decide(&f, 101000));
    ASSERT(decide(&f, 101500));
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.secondary, 0);
    NEAR(f.st.share, 0.5, 1e-12);
    for (int i = 0; i < 100000; i++)
        counts[pick(&f.st, &rng)]++;
    NEAR(counts[1] / 100000.0, 0.5, 0.01);
    /* Linear over the 3 s from healthy_since. */
    for (uint64_t ms = 1600; ms < 3000; ms += 100) {
        ASSERT(!decide(&f, 100000 + ms));
        NEAR(f.st.share, ms / 3000.0, 1e-12);
        ASSERT_EQ(f.st.secondary, 0);
    }
    decide(&f, 103000);
    ASSERT_EQ(f.st.secondary, -1);
    NEAR(f.st.share, 1, 1e-12);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(pick(&f.st, &rng), 1);
    px_route_state_dispose(&f.st);
}

TEST(router_slow_start_edges)
{
    struct rfix f;
    struct px_rng rng;

    px_rng_seed(&rng, 9);
    /* Evidence 0: the switch comes the moment hk is back, share 0: all to cn first. */
    rfix_init(&f, 2, "01", "");
    f.cf.routing.slow_start_ms = 10000;
    f.cf.routing.switch_evidence = 0;
    set_rtt(&f, 100, 20, 0);
    f.v[1].healthy = false;
    decide(&f, 0);
    f.v[1].healthy = true;
    f.v[1].healthy_since_ms = 50000;
    ASSERT(decide(&f, 50000));
    ASSERT_EQ(f.st.current, 1);
    NEAR(f.st.share, 0, 1e-12);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(pick(&f.st, &rng), 0);
    /* The secondary turns unhealthy: the ramp ends, everything to hk. */
    f.v[0].healthy = false;
    decide(&f, 51000);
    ASSERT_EQ(f.st.secondary, -1);
    NEAR(f.st.share, 1, 1e-12);
    px_route_state_dispose(&f.st);

    /* Failover to a region healthy for long: no ramp (nothing to share with). */
    rfix_init(&f, 2, "01", "");
    f.cf.routing.slow_start_ms = 10000;
    set_rtt(&f, 10, 20, 0);
    decide(&f, 100000);
    f.v[0].healthy = false;
    decide(&f, 100001);
    ASSERT_EQ(f.st.current, 1);
    ASSERT_EQ(f.st.secondary, -1);
    px_route_state_dispose(&f.st);

    /* Back from a fallback: the fallback never shares (residency). */
    rfix_init(&f, 2, "0", "1");
    f.cf.routing.slow_start_ms = 10000;
    f.v[0].healthy = false;
    decide(&f, 0);
    ASSERT_EQ(f.st.current, 1);
    f.v[0].healthy = true;
    f.v[0].healthy_since_ms = 20000;
    decide(&f, 20000);
    ASSERT_EQ(f.st.current, 0);
    ASSERT_EQ(f.st.secondary, -1);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(pick(&f.st, &rng), 0);
    px_route_state_dispose(&f.st);
}

/* Returns whether region R is in LIST of N. */
static bool in_list(const size_t *list, size_t n, int r)
{
    for (size_t i = 0; i < n; i++)
        if ((int)list[i] == r)
            return true;
    return false;
}

/* Region R's score in F as the router computes it (no transfer: size 0). */
static double ref_score(const struct rfix *f, size_t r)
{
    return f->v[r].rtt_ms + (double)f->bias[r];
}

static bool ref_healthy(const struct rfix *f, size_t r)
{
    return f->v[r].healthy && !f->v[r].drained;
}

/*
 * The healthy region of LIST (N) but EXCEPT with the lowest score, ties to
 * the first listed; -1 none.
 */
static int ref_best(const struct rfix *f, const size_t *list, size_t n, int except)
{
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (ref_healthy(f, list[i]) && (int)list[i] != except &&
            (best < 0 || ref_score(f, list[i]) < ref_score(f, (size_t)best)))
            best = (int)list[i];
    return best;
}

TEST(router_property_random_sequences)
{
    struct px_rng rng;
    uint64_t decisions = 0, switched = 0, failovers = 0, fallbacks = 0, rejects = 0;

    px_rng_seed(&rng, 0x6765726f75746521ull);
    for (int seq = 0; seq < 5000; seq++) {
        struct rfix f;
        size_t n = 1 + px_rng_below(&rng, MAXR);
        char allowed[MAXR + 1] = {0}, fallback[MAXR + 1] = {0};
        size_t na = 0, nf = 0;
        uint64_t t = px_rng_below(&rng, 1000000), ev_at = t;
        double ev = 0, ev_x = 0; /* the reference model's S and excess */
        int prev;

        /* A random non-empty allowed set, the rest maybe fallback or unused. */
        for (size_t r = 0; r < n; r++) {
            uint32_t k = px_rng_below(&rng, 3);
            if (k == 0 || (r == n - 1 && na == 0))
                allowed[na++] = (char)('0' + r);
            else if (k == 1)
                fallback[nf++] = (char)('0' + r);
        }
        rfix_init(&f, n, allowed, fallback);
        for (size_t r = 0; r < n; r++) {
            f.bias[r] = px_rng_below(&rng, 4) ? 0 : px_rng_below(&rng, 100);
            f.v[r].rtt_ms = 1 + px_rng_below(&rng, 300);
            f.v[r].healthy = px_rng_below(&rng, 4) != 0;
        }
        f.cf.routing.min_gain_ms = px_rng_below(&rng, 50);
        f.cf.routing.min_gain_pct = px_rng_below(&rng, 50);
        f.cf.routing.switch_evidence = px_rng_below(&rng, 3) ? px_rng_below(&rng, 300) : 0;
        f.cf.routing.slow_start_ms = px_rng_below(&rng, 2) ? px_rng_below(&rng, 8000) : 0;

        prev = -1;
        for (int step = 0; step < 200; step++) {
            bool any_allowed = false, any_fb = false;
            int cur;
            uint32_t switches = f.st.switches;

            t += px_rng_below(&rng, 4) ? px_rng_below(&rng, 1000) : 0;
            for (size_t r = 0; r < n; r++) {
                struct px_region_view *v = &f.v[r];
                uint32_t k = px_rng_below(&rng, 100);
                if (k < 8) {
                    v->healthy = !v->healthy;
                    if (v->healthy)
                        v->healthy_since_ms = t;
                } else if (k < 10) {
                    v->drained = !v->drained;
                } else if (k < 50) {
                    double rtt = v->rtt_ms + (double)px_rng_below(&rng, 41) - 20;
                    v->rtt_ms = rtt < 0 ? 0 : rtt;
                } else if (k < 53) {
                    v->rtt_ms = px_rng_below(&rng, 500);
                }
                if (v->healthy && !v->drained) {
                    any_allowed |= in_list(f.allowed, na, (int)r);
                    any_fb |= in_list(f.fallback, nf, (int)r);
                }
            }
            /*
             * Reference model of the evidence rule: which list hysteresis
             * runs on (allowed while the current is a healthy allowed
             * region, fallbacks while it is a healthy fallback and no
             * allowed region is healthy), S, and whether it switches.
             */
            int ba = ref_best(&f, f.allowed, na, -1), bf = ref_best(&f, f.fallback, nf, -1);
            int hb = -1; /* the challenger, when hysteresis runs */
            bool held = false, expect_switch = false;
            if (prev >= 0 && ba >= 0 && in_list(f.allowed, na, prev) && ref_healthy(&f, prev)) {
                held = true;
                hb = ref_best(&f, f.allowed, na, prev);
            } else if (prev >= 0 && ba < 0 && bf >= 0 && in_list(f.fallback, nf, prev) &&
                       ref_healthy(&f, prev)) {
                held = true;
                hb = ref_best(&f, f.fallback, nf, prev);
            }
            if (held) {
                double cs = ref_score(&f, (size_t)prev), gain, margin;
                ev = fmax(0, ev + ev_x * (double)(t - ev_at) / 1000.0);
                ev_at = t;
                gain = hb < 0 ? 0 : cs - ref_score(&f, (size_t)hb);
                margin =
                    fmax((double)f.cf.routing.min_gain_ms, cs * f.cf.routing.min_gain_pct / 100.0);
                ev_x = gain - margin;
                expect_switch =
                    hb >= 0 && gain > margin && ev >= (double)f.cf.routing.switch_evidence;
            }

            decide(&f, t);
            decisions++;
            cur = f.st.current;

            /* Residency: never outside regions + fallback. */
            if (cur >= 0)
                ASSERT(in_list(f.allowed, na, cur) || in_list(f.fallback, nf, cur));
            if (any_allowed) {
                ASSERT(cur >= 0);
                ASSERT(in_list(f.allowed, na, cur));
                ASSERT(f.v[cur].healthy && !f.v[cur].drained);
            } else if (any_fb) {
                ASSERT(cur >= 0);
                ASSERT(in_list(f.fallback, nf, cur));
                ASSERT(f.v[cur].healthy && !f.v[cur].drained);
                fallbacks++;
            } else {
                ASSERT_EQ(cur, -1);
                ASSERT_EQ(f.st.reason, PX_ROUTE_REJECT);
                rejects++;
            }
            /* Each request goes where the decision allows. */
            if (f.st.secondary >= 0) {
                ASSERT(in_list(f.allowed, na, cur));
                ASSERT(in_list(f.allowed, na, f.st.secondary));
                ASSERT(f.v[f.st.secondary].healthy && !f.v[f.st.secondary].drained);
                ASSERT(f.st.share >= 0 && f.st.share < 1);
            }
            for (int i = 0; i < 4; i++) {
                int p = pick(&f.st, &rng);
                ASSERT(p == cur || p == f.st.secondary);
            }
            /* The switch counter counts changes, and only changes. */
            ASSERT_EQ(f.st.switches - switches, step > 0 && cur != prev ? 1 : 0);
            /* Between healthy regions of one list: switched exactly when S says so. */
            if (held) {
                ASSERT_EQ(cur, expect_switch ? hb : prev);
                ASSERT_EQ(f.st.reason == PX_ROUTE_SWITCHED,
                          expect_switch && in_list(f.allowed, na, hb));
            }
            if (f.st.reason == PX_ROUTE_SWITCHED) {
                ASSERT(expect_switch);
                switched++;
            } else if (cur != prev && prev >= 0 && cur >= 0 && in_list(f.allowed, na, prev) &&
                       f.v[prev].healthy && !f.v[prev].drained) {
                TEST_FAIL_("seq %d step %d: left healthy allowed %d for %d as \"%s\"", seq, step,
                           prev, cur, f.st.why);
            }
            if (!held || cur != prev) {
                ev = ev_x = 0;
                ev_at = t;
            }
            if (cur != prev) {
                if (f.st.reason == PX_ROUTE_FAILOVER)
                    failovers++;
            }
            prev = cur;
        }
        px_route_state_dispose(&f.st);
    }
    ASSERT_EQ(decisions, 5000 * 200);
    /* The generator reaches every branch often. */
    ASSERT_GT(switched, 1000);
    ASSERT_GT(failovers, 1000);
    ASSERT_GT(fallbacks, 1000);
    ASSERT_GT(rejects, 1000);
}

TEST(router_real_conf)
{
    static const char y[] = "listen: 127.0.0.1:8080\n"
                            "regions:\n"
                            "  cn: {backends: [127.0.0.1:9001]}\n"
                            "  hk: {backends: [127.0.0.1:9002]}\n"
                            "  us: {backends: [127.0.0.1:9003]}\n"
                            "zones:\n"
                            "  - name: lab\n"
                            "    match: {cidr: [\"127.1.0.0/16\"]}\n"
                            "    route: {regions: [cn, hk], bias: {hk: 40ms}, fallback: [us]}\n"
                            "  - name: default\n"
                            "    route: {regions: [hk], fallback: reject}\n"
                            "routing: {min_gain: 10ms, switch_evidence: 200}\n";
    struct conf *cf = NULL;
    char err[1024];
    struct px_region_view v[3] = {
        {.healthy = true, .rtt_ms = 50},
        {.healthy = true, .rtt_ms = 20},
        {.healthy = true, .rtt_ms = 5},
    };
    struct px_route_state lab, def;

    ASSERT_OK(conf_load_string(y, sizeof(y) - 1, "t.yaml", &cf, err, sizeof(err)));
    ASSERT_OK(px_route_state_init(&lab, cf->nregions));
    ASSERT_OK(px_route_state_init(&def, cf->nregions));
    /* lab: hk 20 + 40 > cn 50; us is only a fallback. */
    px_router_decide(cf, 0, v, 0, 0, &lab);
    ASSERT_EQ(lab.current, 0);
    px_router_decide(cf, 1, v, 0, 0, &def);
    ASSERT_EQ(def.current, 1);
    v[0].healthy = v[1].healthy = false;
    px_router_decide(cf, 0, v, 0, 1000, &lab);
    px_router_decide(cf, 1, v, 0, 1000, &def);
    ASSERT_EQ(lab.current, 2);
    ASSERT_EQ(def.current, -1);
    px_route_state_dispose(&lab);
    px_route_state_dispose(&def);
    px_route_state_dispose(NULL);
    conf_free(cf);
}

/*
 * Request classes: one zone, two routes decided with their own sizes. cn is
 * 5 ms away at 1 MB/s, hk 60 ms away at 20 MB/s, us (not allowed) 1 ms away
 * at 1 GB/s. Small calls stay on cn, the bulk class moves to hk on
 * evidence, and no class ever gets us: residency holds for every class.
 */
TEST(router_classes_choose_apart_within_residency)
{
    static const char y[] = "listen: 127.0.0.1:8080\n"
                            "regions:\n"
                            "  cn: {backends: [127.0.0.1:9001]}\n"
                            "  hk: {backends: [127.0.0.1:9002]}\n"
                            "  us: {backends: [127.0.0.1:9003]}\n"
                            "zones:\n"
                            "  - name: default\n"
                            "    route:\n"
                            "      regions: [cn, hk]\n"
                            "      classes: [{name: bulk, path_prefix: /photos/}]\n";
    struct px_region_view v[3] = {
        {.healthy = true, .rtt_ms = 5, .goodput_bps = 1e6},
        {.healthy = true, .rtt_ms = 60, .goodput_bps = 20e6},
        {.healthy = true, .rtt_ms = 1, .goodput_bps = 1e9},
    };
    struct px_route_state st[2];
    const double size[2] = {2000, 4000000}; /* the zone's other requests, bulk */
    struct conf *cf = NULL;
    char err[1024];

    ASSERT_OK(conf_load_string(y, sizeof(y) - 1, "t.yaml", &cf, err, sizeof(err)));
    ASSERT_EQ(cf->nroutes, 2);
    for (int k = 0; k < 2; k++)
        ASSERT_OK(px_route_state_init(&st[k], cf->nregions));
    for (uint64_t t = 0; t <= 5000; t += 50)
        for (int k = 0; k < 2; k++) {
            px_router_decide(cf, 0, v, size[k], t, &st[k]);
            ASSERT(st[k].current == 0 || st[k].current == 1);
        }
    ASSERT_EQ(st[0].current, 0); /* 7 ms vs 60.1 ms */
    ASSERT_EQ(st[1].current, 1); /* 4005 ms vs 260 ms */
    ASSERT_EQ(st[0].switches, 0);
    ASSERT_EQ(st[1].switches, 0); /* the first decision already knew its size */
    /* Both allowed regions down: reject for both classes, never us. */
    v[0].healthy = v[1].healthy = false;
    for (int k = 0; k < 2; k++) {
        px_router_decide(cf, 0, v, size[k], 6000, &st[k]);
        ASSERT_EQ(st[k].current, -1);
        px_route_state_dispose(&st[k]);
    }
    conf_free(cf);
}

/*
 * Without classes the zone is one route scored with its mean size. Waiting
 * time is linear in size, so the sum over the zone's responses of rtt +
 * size_i / goodput is N * (rtt + mean / goodput): the region with the least
 * cost at the mean is the one with the least total waiting time. Checked
 * against the sum over random mixes of small calls and large objects.
 */
TEST(router_mean_size_minimises_total_wait)
{
    struct px_rng rng;

    px_rng_seed(&rng, 7);
    for (int trial = 0; trial < 2000; trial++) {
        struct rfix f;
        struct px_size_mean m = {0};
        double sizes[50], total[2] = {0, 0};
        int n = 1 + (int)(px_rng_unit(&rng) * 50);

        rfix_init(&f, 2, "01", "");
        f.cf.routing.min_gain_ms = 0;
        f.cf.routing.min_gain_pct = 0;
        for (int r = 0; r < 2; r++) {
            f.v[r].rtt_ms = 1 + px_rng_unit(&rng) * 200;
            f.v[r].goodput_bps = 1e5 + px_rng_unit(&rng) * 5e7;
        }
        for (int i = 0; i < n; i++) {
            sizes[i] = px_rng_unit(&rng) < 0.8 ? 500 + px_rng_unit(&rng) * 2000
                                               : 1e5 + px_rng_unit(&rng) * 8e6;
            px_size_add(&m, (uint64_t)sizes[i], 0);
        }
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < n; i++)
                total[r] += f.v[r].rtt_ms + (double)(uint64_t)sizes[i] / f.v[r].goodput_bps * 1000;
        px_router_decide(&f.cf, 0, f.v, px_size_mean(&m), 0, &f.st);
        if (fabs(total[0] - total[1]) > 1e-6 * total[0])
            ASSERT_EQ(f.st.current, total[0] < total[1] ? 0 : 1);
        NEAR(f.st.scores[f.st.current].total_ms * n, total[f.st.current], 1e-6 * total[0]);
        px_route_state_dispose(&f.st);
    }
}
