/* fds: see fds.h for why clients get what is left. */
#include "proxy/base/fds.h"

#include <sys/resource.h>

/* A loop's own descriptors: epoll, the async eventfd, the signal pipe, timers. */
#define FDS_PER_LOOP 8
/* stdin/stdout/stderr, the access log, files opened on reload, c-ares' own. */
#define FDS_SLACK 32

uint64_t px_fds_raise_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 1024;
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (uint64_t)rl.rlim_cur;
}

/* Backends a config can have at once: literal ones, and a bound per name. */
static uint64_t backend_count(const struct conf *cf)
{
    uint64_t n = 0;
    for (size_t r = 0; r < cf->nregions; r++)
        for (size_t b = 0; b < cf->regions[r].nbackends; b++)
            n += cf->regions[r].backends[b].kind == CONF_BACKEND_ADDR ? 1 : PX_FDS_PER_NAME;
    return n;
}

int px_fds_plan(const struct conf *cf, unsigned nworkers, uint64_t limit, struct px_fd_plan *out)
{
    uint64_t backends = backend_count(cf);
    uint64_t fixed = FDS_SLACK + (uint64_t)(nworkers + 2) * FDS_PER_LOOP +
                     (uint64_t)nworkers * cf->nlisten + 1 + PX_FDS_ADMIN + backends +
                     2 * (cf->dns.nservers ? cf->dns.nservers : 3);
    uint64_t pools = (uint64_t)nworkers * cf->limits.upstream_pool_size * backends;
    uint64_t want = cf->limits.max_client_connections;

    out->limit = limit;
    /* Idle pools can take at most half of what the fixed needs leave: with
     * thousands of backends their worst case is no reason to refuse to start. */
    if (limit > fixed && pools > (limit - fixed) / 2)
        pools = (limit - fixed) / 2;
    out->fixed = fixed + pools;
    out->wanted = out->fixed + 2 * want;
    if (out->wanted <= limit) {
        out->client_cap = (uint32_t)want;
        return 0;
    }
    out->client_cap = limit > out->fixed ? (uint32_t)((limit - out->fixed) / 2) : 0;
    return out->client_cap > 0 ? 1 : -1;
}
