/*
 * A config written to a temp file and loaded into a snapshot, for the
 * state/ tests: two regions (east: two backends, west: one) and two zones
 * (lab by CIDR, then default).
 */
#ifndef TEST_STATE_FIXTURE_H
#define TEST_STATE_FIXTURE_H

#include "tests/unit/test.h"
#include "proxy/state/snapshot.h"

#include <stdio.h>
#include <unistd.h>

/* A config of YAML (written whole), loaded. */
__attribute__((unused)) static struct px_config *state_config(const char *yaml)
{
    struct px_config *cfg;
    char path[4096], err[1024];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/georoute-test-cfg-%d.yaml", test_tmpdir(), (int)getpid());
    fp = fopen(path, "w");
    ASSERT_NOT_NULL(fp);
    fputs(yaml, fp);
    fclose(fp);
    if (px_config_load(path, &cfg, err, sizeof(err)) != 0)
        TEST_FAIL_("config: %s", err);
    unlink(path);
    return cfg;
}

__attribute__((unused)) static struct px_snapshot *state_snapshot(const char *extra)
{
    struct px_config *cfg;
    struct px_snapshot *snap;
    char path[4096], err[1024];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/georoute-test-state-%d.yaml", test_tmpdir(), (int)getpid());
    fp = fopen(path, "w");
    ASSERT_NOT_NULL(fp);
    fprintf(fp,
            "listen: 127.0.0.1:1\nregions:\n"
            "  east:\n    backends: [127.0.0.1:2, 127.0.0.1:3]\n"
            "  west:\n    backends: [127.0.0.1:4]\n"
            "zones:\n  - name: lab\n    match: {cidr: [10.0.0.0/8, \"2001:db8::/32\"]}\n"
            "    route: {regions: [east], fallback: [west]}\n"
            "  - name: default\n    route: {regions: [west, east]}\n%s",
            extra ? extra : "");
    fclose(fp);
    if (px_config_load(path, &cfg, err, sizeof(err)) != 0)
        TEST_FAIL_("config: %s", err);
    unlink(path);
    if (px_snapshot_new(cfg, NULL, &snap, err, sizeof(err)) != 0)
        TEST_FAIL_("snapshot: %s", err);
    px_config_unref(cfg);
    return snap;
}

#endif
