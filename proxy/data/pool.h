/*
 * pool: idle keep-alive connections per backend per worker (h2o's
 * socketpool). LIFO, so the warmest connection is reused first and the
 * coldest ones age out through upstream_keepalive.
 */
#ifndef PX_POOL_H
#define PX_POOL_H

#include "proxy/data/upstream.h"

struct px_backend;

/*
 * Takes the most recently pooled connection of B and attaches it to the
 * user DATA with OPS, or returns NULL when B has none. The connection is
 * connected and reading: nothing is reported until the user writes.
 */
struct px_upstream *px_pool_acquire(struct px_backend *b, const struct px_upstream_ops *ops,
                                    void *data);

/*
 * Puts U, which finished a response cleanly, into its backend's pool, or
 * closes it when it cannot be reused (unread or unsent bytes), the pool is
 * full, the backend is retired, the worker drains, or U's TLS client context
 * is no longer the backend's (a reload replaced it). U's user is detached.
 */
void px_pool_release(struct px_upstream *u);

/* Closes every pooled connection of B. */
void px_pool_drain(struct px_backend *b);

#endif
