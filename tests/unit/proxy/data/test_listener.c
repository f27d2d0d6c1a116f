/*
 * Unit tests of the accept loop's policy (proxy/data/listener.c), on a
 * simulated clock: which errors pause accepting, how the pause grows and
 * resets, and how often an accept_failed line may be written. Then a real
 * worker (proxy/data/worker.c) run out of descriptors.
 */
#include "tests/unit/test.h"
#include "tests/unit/conf/load.h"
#include "proxy/data/listener.h"
#include "proxy/data/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------- a real worker */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/*
 * Leaves this process no free descriptor: the soft limit just above the
 * highest one open, and every free number below it taken (into HELD).
 * Returns the number held.
 */
static size_t exhaust_fds(int *held, size_t cap)
{
    struct rlimit rl;
    int top = 0;
    size_t n = 0;

    ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    for (int fd = 0; (size_t)fd < cap && (rlim_t)fd < rl.rlim_cur; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            top = fd;
    rl.rlim_cur = (rlim_t)top + 1;
    ASSERT_OK(setrlimit(RLIMIT_NOFILE, &rl));
    while (n < cap && (held[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        n++;
    ASSERT_LT(n, cap);
    ASSERT_EQ(errno, EMFILE);
    return n;
}

/*
 * A worker out of descriptors at accept pauses instead of spinning or
 * dropping: the connections made meanwhile wait in the backlog, and once
 * descriptors free up the worker resumes by itself and answers each (503:
 * this worker never got a routing table, which is beside the point).
 */
TEST(accept_worker_pauses_on_emfile_and_serves_the_backlog)
{
    struct conf *cf =
        conf_test_load_ok("listen: 127.0.0.1:1\nregions:\n  r:\n    backends: [127.0.0.1:2]\n");
    struct px_process proc = {.conf = cf, .client_cap = 100};
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    struct timeval tv = {.tv_sec = 4};
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    static struct px_worker w;
    struct rlimit saved;
    static int held[4096];
    int clients[4];
    size_t nheld;

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(lfd >= 0);
    ASSERT_OK(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)));
    ASSERT_OK(getsockname(lfd, (struct sockaddr *)&sin, &len));
    ASSERT_OK(px_worker_init(&w, 0, &proc, px_stats_zone_slots(cf->nzones),
                             px_stats_slots(cf->nregions), &lfd, 1));
    ASSERT_OK(px_worker_start(&w));
    for (size_t i = 0; i < 4; i++) { /* sockets now: connecting takes no descriptor */
        clients[i] = socket(AF_INET, SOCK_STREAM, 0);
        ASSERT(clients[i] >= 0);
        ASSERT_OK(setsockopt(clients[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
    }
    ASSERT_OK(getrlimit(RLIMIT_NOFILE, &saved));
    nheld = exhaust_fds(held, sizeof(held) / sizeof(held[0]));

    uint64_t t0 = now_ms(), cpu0 = cpu_ms();
    for (size_t i = 0; i < 4; i++) {
        ASSERT_OK(connect(clients[i], (struct sockaddr *)&sin, sizeof(sin)));
        ASSERT_EQ(write(clients[i], req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    }
    usleep(700 * 1000);
    uint64_t errors = px_stats_get(&w.port.stats.accept_errors);
    uint64_t elapsed = now_ms() - t0, cpu = cpu_ms() - cpu0;
    /* Paused, not spinning: each attempt is followed by 100 ms or more. */
    ASSERT_GE(errors, 1);
    ASSERT_LE(errors, elapsed / PX_ACCEPT_PAUSE_MIN_MS + 2);
    ASSERT_LT(cpu * 4, elapsed); /* under a quarter of a CPU */
    /* Not accepted and dropped: nothing to read yet, not even an EOF. */
    for (size_t i = 0; i < 4; i++) {
        struct pollfd pf = {.fd = clients[i], .events = POLLIN};
        ASSERT_EQ(poll(&pf, 1, 0), 0);
    }

    while (nheld > 0)
        close(held[--nheld]);
    ASSERT_OK(setrlimit(RLIMIT_NOFILE, &saved));
    for (size_t i = 0; i < 4; i++) { /* served once the worker resumes (within 1 s) */
        char resp[256];
        ssize_t n = read(clients[i], resp, sizeof(resp) - 1);
        ASSERT_GT(n, 12);
        ASSERT(strncmp(resp, "HTTP/1.1 503 ", 13) == 0);
        close(clients[i]);
    }

    px_worker_stop(&w);
    px_worker_join(&w);
    conf_free(cf);
}
