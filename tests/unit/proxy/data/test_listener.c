/*
 * Unit tests of the accept loop's policy (proxy/data/listener.c), on a
 * simulated clock: which errors pause accepting, how the pause grows and
 * resets, and how often an accept_failed line may be written.
 */
#include "tests/unit/test.h"
#include "proxy/data/listener.h"

#include <errno.h>

TEST(accept_classify_pauses_on_exhaustion)
{
    ASSERT_EQ(px_accept_classify(EMFILE), PX_ACCEPT_PAUSE);
    ASSERT_EQ(px_accept_classify(ENFILE), PX_ACCEPT_PAUSE);
    ASSERT_EQ(px_accept_classify(ENOBUFS), PX_ACCEPT_PAUSE);
    ASSERT_EQ(px_accept_classify(ENOMEM), PX_ACCEPT_PAUSE);
    /* Unexpected errors pause too, rather than spin. */
    ASSERT_EQ(px_accept_classify(EBADF), PX_ACCEPT_PAUSE);
    ASSERT_EQ(px_accept_classify(EINVAL), PX_ACCEPT_PAUSE);
    ASSERT_EQ(px_accept_classify(EAGAIN), PX_ACCEPT_DONE);
    ASSERT_EQ(px_accept_classify(EWOULDBLOCK), PX_ACCEPT_DONE);
    ASSERT_EQ(px_accept_classify(EINTR), PX_ACCEPT_RETRY);
    /* The pending connection failed and left the queue: take the next. */
    ASSERT_EQ(px_accept_classify(ECONNABORTED), PX_ACCEPT_SKIP);
    ASSERT_EQ(px_accept_classify(EPERM), PX_ACCEPT_SKIP);
    ASSERT_EQ(px_accept_classify(EPROTO), PX_ACCEPT_SKIP);
}

TEST(accept_pause_doubles_caps_and_resets)
{
    struct px_accept_guard g = {0};

    ASSERT_EQ(px_accept_pause(&g), 100);
    ASSERT_EQ(px_accept_pause(&g), 200);
    ASSERT_EQ(px_accept_pause(&g), 400);
    ASSERT_EQ(px_accept_pause(&g), 800);
    ASSERT_EQ(px_accept_pause(&g), PX_ACCEPT_PAUSE_MAX_MS);
    ASSERT_EQ(px_accept_pause(&g), PX_ACCEPT_PAUSE_MAX_MS);
    px_accept_ok(&g);
    ASSERT_EQ(px_accept_pause(&g), PX_ACCEPT_PAUSE_MIN_MS);
}

/* Descriptors stay exhausted for 60 s: each resume tries one accept, fails
 * and pauses again. The loop wakes a few times a second at first, then
 * once a second: no busy loop. */
TEST(accept_pause_bounds_attempts_under_lasting_exhaustion)
{
    struct px_accept_guard g = {0};
    unsigned attempts = 0;

    for (uint64_t now = 0; now < 60000; attempts++) {
        ASSERT_EQ(px_accept_classify(EMFILE), PX_ACCEPT_PAUSE);
        px_accept_error(&g, EMFILE);
        now += px_accept_pause(&g);
    }
    /* 100 + 200 + 400 + 800 ms, then 1 s each: 4 + 59 (rounded up). */
    ASSERT_LE(attempts, 64);
    ASSERT_GE(attempts, 60);
}

TEST(accept_log_at_most_one_line_a_second_counting_all)
{
    struct px_accept_guard g = {0};
    uint64_t lines = 0, counted = 0, n;

    ASSERT_EQ(px_accept_log_due(&g, 0), 0); /* nothing to say */
    /* The first error is logged at once. */
    px_accept_error(&g, EMFILE);
    ASSERT_EQ(px_accept_log_due(&g, 5), 1);
    ASSERT_EQ(g.last_err, EMFILE);
    /* An error a millisecond for 10.5 s, the line asked for after each
     * one and on every 200 ms tick. */
    for (uint64_t now = 6; now < 10506; now++) {
        px_accept_error(&g, ENFILE);
        if ((n = px_accept_log_due(&g, now)) > 0)
            lines++, counted += n;
        if (now % 200 == 0 && (n = px_accept_log_due(&g, now)) > 0)
            lines++, counted += n;
    }
    ASSERT_EQ(lines, 10); /* at 1005, 2005, ... 10005 ms */
    /* What the last line did not count waits for the next second... */
    ASSERT_EQ(px_accept_log_due(&g, 10506), 0);
    n = px_accept_log_due(&g, 11005);
    ASSERT_EQ(n, 500);
    /* ...and every error is in some line. */
    ASSERT_EQ(counted + n, 10500);
    ASSERT_EQ(g.last_err, ENFILE);
    /* Quiet: no line, however much time passes. */
    ASSERT_EQ(px_accept_log_due(&g, 99999), 0);
    /* A new error after a quiet second is logged at once. */
    px_accept_error(&g, EMFILE);
    ASSERT_EQ(px_accept_log_due(&g, 100000), 1);
}
