/*
 * Unit-test runner (libuv style): every test runs in its own fork()ed child
 * with a timeout, so one crash or hang cannot hide the others. Prints one line
 * per test and ends with the plain line "N passed, N failed".
 *
 * Each test also gets a TMPDIR of its own (under the inherited TMPDIR, else
 * /tmp), made before the fork and removed after it whatever the test did: a
 * failed ASSERT exits, and a crash or a timeout runs no cleanup at all, so a
 * test cannot be trusted to remove its own files. Tests put every file they
 * make under test_tmpdir() (tests/unit/test.h).
 *
 *   test-unit            run all tests
 *   test-unit NAME...    run the named tests (or tests whose name starts so)
 */
#include "tests/unit/test.h"
#include "tests/unit/list.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
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

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "  cannot remove %s: %s\n", path, strerror(errno));
    return 0; /* remove what else can be: the run's TMPDIR check names the rest */
}

/* Runs one test in a child; returns 0 when it exited 0 within the timeout. */
static int run_one(const struct test_entry *t)
{
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s/test-unit.XXXXXX", test_tmpdir());
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "  %s: mkdtemp %s: %s\n", t->name, dir, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == -1) {
        perror("fork");
        rmdir(dir);
        return -1;
    }
    if (pid == 0) {
        setenv("TMPDIR", dir, 1);
        alarm(timeout_s());
        t->fn();
        exit(0); /* not _exit: LeakSanitizer reports from an atexit hook */
    }
    int status;
    while (waitpid(pid, &status, 0) == -1)
        ;
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
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
