/*
 * Unit-test harness: TEST(name) defines a test, ASSERT_* check inside it.
 * Each test runs in a fork()ed child with a timeout (tests/unit/main.c), so a
 * crash or a hang fails that test only. Tests are listed once, per module, in
 * tests/unit/<module>/list.h.
 */
#ifndef TEST_H
#define TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Where a test makes its files: the TMPDIR tests/unit/main.c gives each test
 * and removes after it, so nothing a test writes there outlives it, even when
 * the test fails or crashes. Never name /tmp directly.
 */
static inline const char *test_tmpdir(void)
{
    const char *d = getenv("TMPDIR");
    return d != NULL && d[0] != '\0' ? d : "/tmp";
}

#define TEST(name)                                                                                 \
    void test_##name(void);                                                                        \
    void test_##name(void)

#define TEST_FAIL_(fmt, ...)                                                                       \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);                      \
        exit(1);                                                                                   \
    } while (0)

#define ASSERT(expr)                                                                               \
    do {                                                                                           \
        if (!(expr))                                                                               \
            TEST_FAIL_("assertion failed: %s", #expr);                                             \
    } while (0)

#define ASSERT_INT_OP_(a, op, b)                                                                   \
    do {                                                                                           \
        int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                              \
        if (!(a_ op b_))                                                                           \
            TEST_FAIL_("%s %s %s (%" PRId64 " vs %" PRId64 ")", #a, #op, #b, a_, b_);              \
    } while (0)

#define ASSERT_EQ(a, b) ASSERT_INT_OP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_INT_OP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_INT_OP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_INT_OP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_INT_OP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_INT_OP_(a, >=, b)
#define ASSERT_OK(a) ASSERT_INT_OP_(a, ==, 0)

#define ASSERT_PTR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const void *a_ = (a), *b_ = (b);                                                           \
        if (a_ != b_)                                                                              \
            TEST_FAIL_("%s == %s (%p vs %p)", #a, #b, a_, b_);                                     \
    } while (0)
#define ASSERT_NULL(a) ASSERT_PTR_EQ(a, NULL)
#define ASSERT_NOT_NULL(a) ASSERT((a) != NULL)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                       \
            TEST_FAIL_("%s == %s (\"%s\" vs \"%s\")", #a, #b, a_ ? a_ : "(null)",                  \
                       b_ ? b_ : "(null)");                                                        \
    } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                                           \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                                  \
            TEST_FAIL_("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                  \
    } while (0)

#endif
