/*
 * libFuzzer target: a response read quickly by proxy/proto/http1.c must be
 * read exactly as llhttp reads it (tests/fuzz/quick_diff.h says how the
 * input is laid out and what is compared).
 */
#include "tests/fuzz/quick_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    quick_diff_run(data, size);
    return 0;
}
