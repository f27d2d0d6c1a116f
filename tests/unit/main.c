/*
 * Unit-test runner (libuv style): every test runs in its own fork()ed child
 * with a timeout, so one crash or hang cannot hide the others. Prints one line
 * per test and ends with the plain line "N passed, N failed".
 *
 *   test-unit            run all tests
 *   test-unit NAME...    run the named tests (or tests whose name starts so)
 */
#include "tests/unit/test.h"
#include "tests/unit/list.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define X_DECLARE(name) void test_##name(void);
ALL_TESTS(X_DECLARE)

struct test_entry {
    const char *name;
    void (*fn)(void);
};

#define X_ENTRY(name) {#name, test_##name},
static const struct test_entry tests[] = {ALL_TESTS(X_ENTRY){NULL, NULL}};

static unsigned timeout_s(void)
{
    const char *s = getenv("TEST_TIMEOUT");
    return s && atoi(s) > 0 ? (unsigned)atoi(s) : 5;
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strncmp(name, argv[i], strlen(argv[i])) == 0)
            return 1;
    return 0;
}

/* Runs one test in a child; returns 0 when it exited 0 within the timeout. */
static int run_one(const struct test_entry *t)
{
    pid_t pid = fork();
    if (pid == -1) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        alarm(timeout_s());
        t->fn();
        exit(0); /* not _exit: LeakSanitizer reports from an atexit hook */
    }
    int status;
    while (waitpid(pid, &status, 0) == -1)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "  %s: killed by signal %d%s\n", t->name, WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return -1;
}

int main(int argc, char **argv)
{
    unsigned passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (const struct test_entry *t = tests; t->name; t++) {
        if (!selected(t->name, argc, argv))
            continue;
        if (run_one(t) == 0) {
            passed++;
            printf("ok     %s\n", t->name);
        } else {
            failed++;
            printf("FAIL   %s\n", t->name);
        }
    }
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
