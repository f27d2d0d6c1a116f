/*
 * Unit tests of proxy/control/slots.c: a name keeps its slot for the
 * process's life, names come and go without moving others, and a config
 * that would need more room than the stats have is refused with a message
 * instead of being truncated.
 */
#include "tests/unit/proxy/state/state_fixture.h"
#include "proxy/control/control.h"

TEST(slots_are_stable_by_name)
{
    struct px_slots s;

    ASSERT_OK(px__control_slots_init(&s, 4));
    ASSERT_EQ(px__control_slot_find(&s, "cn"), -1);
    ASSERT_EQ(px__control_slot_add(&s, "cn"), 0);
    ASSERT_EQ(px__control_slot_add(&s, "hk"), 1);
    ASSERT_EQ(px__control_slot_add(&s, "cn"), 0); /* seen before: same slot */
    ASSERT_EQ(px__control_slot_add(&s, "us"), 2);
    ASSERT_EQ(px__control_slot_find(&s, "hk"), 1);
    ASSERT_EQ(s.n, 3);
    ASSERT_STR_EQ(s.names[2], "us");
    free(s.names);
}

TEST(slots_check_refuses_a_config_that_does_not_fit)
{
    struct px_snapshot *snap = state_snapshot(NULL); /* zones lab, default; regions east, west */
    const struct conf *cf = snap->cfg->conf;
    struct px_control ctl;
    char err[512] = "";

    memset(&ctl, 0, sizeof(ctl));
    ASSERT_OK(px__control_slots_init(&ctl.zone_slots, 3));
    ASSERT_OK(px__control_slots_init(&ctl.region_slots, 2));
    ASSERT_OK(px__control_slots_check(&ctl, cf, err, sizeof(err)));
    px__control_slot_add(&ctl.zone_slots, "old-a");
    px__control_slot_add(&ctl.zone_slots, "old-b");
    /* Two zone slots used, one free: lab and default need two. */
    ASSERT_EQ(px__control_slots_check(&ctl, cf, err, sizeof(err)), -1);
    ASSERT_STR_CONTAINS(err, "has room for 3 and 2");
    ASSERT_STR_CONTAINS(err, "adds 2 and 2");
    ASSERT_STR_CONTAINS(err, "the old config stays");
    free(ctl.zone_slots.names);
    /* Names already counted need no room: with lab in, default alone fits. */
    ASSERT_OK(px__control_slots_init(&ctl.zone_slots, 3));
    px__control_slot_add(&ctl.zone_slots, "old-a");
    px__control_slot_add(&ctl.zone_slots, "lab");
    ASSERT_OK(px__control_slots_check(&ctl, cf, err, sizeof(err)));
    free(ctl.zone_slots.names);
    free(ctl.region_slots.names);
    px_snapshot_unref(snap);
}
