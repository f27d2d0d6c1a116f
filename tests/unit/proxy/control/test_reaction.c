/*
 * How fast routing reacts with the default settings, on a simulated clock:
 * probes (health.c) and real requests feed the routing RTT, the control
 * tick decides (router.c), every 50 ms as control.c does. The zone is
 * "near" (cn, 12 ms) or "far" (hk, 123 ms); the tests step cn's latency and
 * time the route's answer, and add noise to check that nothing flaps.
 */
#include "tests/unit/test.h"
#include "proxy/control/health.h"
#include "proxy/control/router.h"
#include "proxy/base/px.h"

#define TICK_MS 50
#define REQ_EVERY_MS 50 /* the zone's real traffic: 20 requests/s */
#define APP_MS 2.0      /* the backend's own time in a real request */

struct sim {
    struct conf *cf;
    struct px_health h[2];
    struct px_region_state rs[2];
    struct px_route_state st;
    struct px_rng rng;
    double base_ms[2];      /* each region's link latency now */
    double noise_pct;       /* +- uniform noise on every latency */
    uint64_t probe_at[2];   /* next probe start */
    uint64_t probe_done[2]; /* its end; 0 = none in flight */
    double probe_ms[2];     /* its latency */
    uint64_t req_done[64];  /* real requests in flight: end time, 0 = free */
    double req_ms[64];      /* their latency */
    int req_region[64];     /* and region */
    uint64_t now;
};

static const char conf_text[] = "listen: 127.0.0.1:8080\n"
                                "regions:\n"
                                "  cn: {backends: [127.0.0.1:9001]}\n"
                                "  hk: {backends: [127.0.0.1:9002]}\n"
                                "zones:\n"
                                "  - name: default\n"
                                "    route: {regions: [cn, hk]}\n";

static double latency(struct sim *s, int r)
{
    double n = s->noise_pct / 100.0;
    return s->base_ms[r] * (1.0 + n * (2.0 * px_rng_unit(&s->rng) - 1.0));
}

static void sim_init(struct sim *s, uint64_t seed)
{
    char err[512];

    memset(s, 0, sizeof(*s));
    ASSERT_OK(
        conf_load_string(conf_text, sizeof(conf_text) - 1, "t.yaml", &s->cf, err, sizeof(err)));
    px_rng_seed(&s->rng, seed);
    for (int r = 0; r < 2; r++) {
        const struct conf_region *cr = &s->cf->regions[r];
        px_health_init(&s->h[r], &cr->backends[0].probe, &cr->passive, &s->cf->routing, true, 0);
        s->probe_at[r] = 1 + (uint64_t)r * 300;
    }
    s->base_ms[0] = 12;
    s->base_ms[1] = 123;
    ASSERT_OK(px_route_state_init(&s->st, 2));
}

static void sim_dispose(struct sim *s)
{
    px_route_state_dispose(&s->st);
    conf_free(s->cf);
}

/* One millisecond: probes and requests that end, new ones, and the tick. */
static void step(struct sim *s)
{
    uint64_t t = ++s->now;

    for (int r = 0; r < 2; r++) {
        if (s->probe_done[r] != 0 && t >= s->probe_done[r]) {
            px_health_probe(&s->h[r], PX_HEALTH_PASS, s->probe_ms[r], t);
            s->probe_done[r] = 0;
            s->probe_at[r] = t + px_health_next_probe_ms(&s->h[r], &s->rng);
        }
        if (s->probe_done[r] == 0 && t >= s->probe_at[r]) {
            s->probe_ms[r] = latency(s, r);
            s->probe_done[r] = t + (uint64_t)s->probe_ms[r] + 1;
        }
    }
    for (size_t i = 0; i < 64; i++) {
        if (s->req_done[i] != 0 && t >= s->req_done[i]) {
            px_health_passive(&s->h[s->req_region[i]], PX_OUTCOME_OK, s->req_ms[i], t);
            s->req_done[i] = 0;
        }
    }
    if (t % REQ_EVERY_MS == 0 && s->st.current >= 0) {
        for (size_t i = 0; i < 64; i++) {
            if (s->req_done[i] != 0)
                continue;
            s->req_region[i] =
                px_routes_split(s->st.current, s->st.secondary, s->st.share, &s->rng);
            s->req_ms[i] = latency(s, s->req_region[i]) + APP_MS;
            s->req_done[i] = t + (uint64_t)s->req_ms[i] + 1;
            break;
        }
    }
    if (t % TICK_MS == 0) {
        struct px_region_view v[2];
        for (int r = 0; r < 2; r++) {
            const struct px_health *hp = &s->h[r];
            px_region_update(&s->rs[r], &hp, 1, 1, 1000, t);
            v[r] = (struct px_region_view){.healthy = s->rs[r].healthy,
                                           .rtt_ms = s->rs[r].rtt_ms,
                                           .healthy_since_ms = s->rs[r].healthy_since_ms};
        }
        px_router_decide(s->cf, 0, v, 0, t, &s->st);
    }
}

/* Runs until S's route is REGION or MAX_MS pass; returns the time it took. */
static uint64_t until_route(struct sim *s, int region, uint64_t max_ms)
{
    uint64_t start = s->now;

    while (s->st.current != region && s->now - start < max_ms)
        step(s);
    return s->now - start;
}

static void run_for(struct sim *s, uint64_t ms)
{
    for (uint64_t end = s->now + ms; s->now < end;)
        step(s);
}

/*
 * A slowdown of the current region whose gain exceeds the margin by 100 ms
 * (cn 12 -> 248 ms vs hk 123 ms: gain 125, margin 10 % of 248) is acted on
 * within 1.5 s, wherever the step falls between two probes; a larger one
 * (+300 ms) sooner. The return after recovery takes under 3 s.
 */
TEST(reaction_step_acted_on_within_1500ms_with_defaults)
{
    static const double steps[] = {236, 300};

    for (size_t k = 0; k < PX_ARRAY_LEN(steps); k++) {
        for (uint64_t phase = 0; phase < 1000; phase += 50) {
            struct sim s;
            sim_init(&s, 1 + phase);
            ASSERT_LT(until_route(&s, 0, 10000), 10000);
            run_for(&s, 10000 + phase);
            ASSERT_EQ(s.st.current, 0);
            s.base_ms[0] = 12 + steps[k];
            uint64_t took = until_route(&s, 1, 10000);
            ASSERT_LE(took, 1500);
            run_for(&s, 5000);
            s.base_ms[0] = 12;
            ASSERT_LE(until_route(&s, 0, 10000), 3000);
            sim_dispose(&s);
        }
    }
}

/* Both regions 20 ms +- 30 % on every probe and request for ten minutes: no move. */
TEST(reaction_noise_never_moves_with_defaults)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct sim s;
        sim_init(&s, seed);
        s.base_ms[0] = s.base_ms[1] = 20;
        s.noise_pct = 30;
        run_for(&s, 600000);
        ASSERT_EQ(s.st.switches, 0);
        sim_dispose(&s);
    }
}
