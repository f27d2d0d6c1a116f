/*
 * libFuzzer target: conf_load_string() on arbitrary text. It must never
 * crash or leak; on success the result is freed, on failure *out stays NULL
 * and the error buffer holds a NUL-terminated message.
 */
#include "conf/conf.h"
#include "tests/fuzz/fuzz_common.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf *c = (struct conf *)1;
    char err[512];

    memset(err, 'x', sizeof(err));
    int rc = conf_load_string((const char *)data, size, "fuzz.yaml", &c, err, sizeof(err));
    if (rc == 0) {
        FUZZ_CHECK(c != NULL);
        FUZZ_CHECK(c->nregions >= 1 && c->nzones >= 1);
        conf_free(c);
    } else {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(c == NULL);
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strncmp(err, "fuzz.yaml", 9) == 0);
    }
    return 0;
}
