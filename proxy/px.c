/*
 * px: project-wide error strings and clock. The strings are what logs and
 * error bodies show, so they stay short and specific.
 */
#include "proxy/px.h"

#include <time.h>
#include <uv.h>

const char *px_strerror(int err)
{
    switch (err) {
    case PX_EPARSE:
        return "malformed HTTP message";
    case PX_EHEADTOOBIG:
        return "header too large";
    case PX_EBODYTOOBIG:
        return "body too large";
    case PX_ENOBACKEND:
        return "no backend reachable";
    case PX_ETIMEOUT:
        return "timed out";
    case PX_ETRUNCATED:
        return "upstream closed mid-message";
    case PX_ENOMEM:
        return "out of memory";
    case PX_EVERSION:
        return "HTTP version not supported";
    case PX_EMETHOD:
        return "method not supported";
    case PX_ESHUTDOWN:
        return "shutting down";
    default:
        return err < 0 && err > -1000 ? uv_strerror(err) : "unknown error";
    }
}

uint64_t px_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
