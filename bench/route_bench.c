/*
 * route_bench: nanoseconds per routing decision on the request path, the
 * part issue 7 calls "snapshot lookup + score already computed": the zone's
 * entry in the published routing table (px_routes_pick, slow-start share
 * included) plus power of two choices among the chosen region's backends
 * (px_balancer_pick) with the per-request peer view a worker builds.
 *
 * Usage: route_bench [-n ITERATIONS] [-b BACKENDS_PER_REGION]
 * Single-threaded; run it on an idle machine and take the best of a few.
 */
#include "proxy/data/balancer.h"
#include "proxy/state/routes.h"
#include "proxy/state/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NZONES 8
#define NREGIONS 3

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A fleet of NREGIONS x PER_REGION loopback backends and NZONES zones, from a temp file. */
static struct px_fleet *make_fleet(size_t per_region)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096], err[1024];
    struct px_config *cfg = NULL;
    struct px_snapshot *snap = NULL;
    struct px_fleet *f = NULL;
    int fd;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/route_bench-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    fd = mkstemp(path);
    fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fp == NULL) {
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return NULL;
    }
    fprintf(fp, "listen: 127.0.0.1:1\nregions:\n");
    for (int r = 0; r < NREGIONS; r++) {
        fprintf(fp, "  r%d:\n    backends:\n", r);
        for (size_t b = 0; b < per_region; b++)
            fprintf(fp, "      - 127.0.%d.%zu:80\n", r, b + 1);
    }
    fprintf(fp, "zones:\n");
    for (int z = 0; z < NZONES; z++)
        fprintf(fp, "  - {name: z%d, match: {cidr: [10.%d.0.0/16]}, route: {regions: [r%d]}}\n", z,
                z, z % NREGIONS);
    fclose(fp);
    if (px_config_load(path, &cfg, err, sizeof(err)) == 0 &&
        px_snapshot_new(cfg, NULL, &snap, err, sizeof(err)) == 0 &&
        (f = px_fleet_new(snap, NREGIONS * per_region)) != NULL) {
        const struct conf *cf = snap->cfg->conf;
        for (size_t r = 0, i = 0; r < NREGIONS; r++) {
            f->region_first[r] = i;
            for (size_t b = 0; b < per_region; b++, i++)
                f->backends[i] = px_bdesc_new((uint32_t)i + 1, &cf->regions[r].backends[b].addr,
                                              cf->regions[r].name, 1);
        }
        f->region_first[NREGIONS] = NREGIONS * per_region;
    } else if (f == NULL) {
        fprintf(stderr, "route_bench: %s\n", err);
    }
    px_config_unref(cfg);
    px_snapshot_unref(snap);
    unlink(path);
    return f;
}

/* A table like the control thread publishes: every zone routed, one in slow start. */
static struct px_routes *make_table(size_t per_region, struct px_rng *rng)
{
    struct px_fleet *f = make_fleet(per_region);
    struct px_routes *rt = f ? px_routes_new(f) : NULL;
    px_fleet_unref(f);
    if (rt == NULL)
        return NULL;
    for (size_t z = 0; z < NZONES; z++) {
        rt->zones[z].current = (int)(z % NREGIONS);
        rt->zones[z].secondary = z == 0 ? 1 : -1;
        rt->zones[z].share = 0.5;
        rt->zones[z].norder = NREGIONS;
        for (unsigned r = 0; r < NREGIONS; r++)
            rt->zones[z].order[r] = (uint16_t)r;
    }
    for (size_t b = 0; b < rt->nbackends; b++) {
        rt->backends[b].usable = true;
        rt->backends[b].load_ms = 1.0 + px_rng_unit(rng) * 10.0;
        rt->backends[b].weight = 1 + (unsigned)(b % 3);
    }
    return rt;
}

int main(int argc, char **argv)
{
    long n = 20000000;
    size_t per_region = 4;
    struct px_rng rng;
    int opt;

    while ((opt = getopt(argc, argv, "n:b:")) != -1) {
        if (opt == 'n')
            n = atol(optarg);
        else if (opt == 'b')
            per_region = (size_t)atol(optarg);
        else {
            fprintf(stderr, "usage: route_bench [-n ITERATIONS] [-b BACKENDS_PER_REGION]\n");
            return 2;
        }
    }
    if (per_region < 1 || per_region > 64 || n < 1) {
        fprintf(stderr, "route_bench: -b 1..64, -n >= 1\n");
        return 2;
    }
    px_rng_seed(&rng, 42);
    struct px_routes *rt = make_table(per_region, &rng);
    struct px_balancer_peer peers[64];
    unsigned inflight[NREGIONS * 64];
    memset(inflight, 0, sizeof(inflight));
    if (rt == NULL)
        return 1;

    uint64_t sink = 0, t0 = now_ns();
    for (long i = 0; i < n; i++) {
        size_t zone = (size_t)i % NZONES;
        int r = px_routes_pick(rt, zone, &rng);
        size_t first = (size_t)r * per_region;
        for (size_t k = 0; k < per_region; k++) {
            const struct px_routes_backend *rb = &rt->backends[first + k];
            peers[k] = (struct px_balancer_peer){rb->load_ms, inflight[first + k], rb->weight,
                                                 rb->up_since_ms, rb->usable};
        }
        int b = px_balancer_pick(peers, per_region, 0, 1000, &rng);
        inflight[first + (size_t)b] ^= 1; /* vary the in-flight counts a little */
        sink += (uint64_t)b;
    }
    double ns = (double)(now_ns() - t0) / (double)n;
    printf("route_bench: %d zones, %d regions, %zu backends per region, %ld decisions\n", NZONES,
           NREGIONS, per_region, n);
    printf("routing decision (table pick + power of two choices): %7.1f ns/op (sink %llu)\n", ns,
           (unsigned long long)sink);
    px_routes_unref(rt);
    return 0;
}
