/*
 * signals: passive health signals from a worker to the control thread, on a
 * single-producer single-consumer ring per worker. The worker writes an
 * entry and publishes its head with a release store; the control thread
 * drains on its tick. No lock, no shared counter contended: when the ring is
 * full the newest signal is dropped and counted.
 */
#ifndef PX_SIGNALS_H
#define PX_SIGNALS_H

#include <stdatomic.h>
#include <stdint.h>

/* How a proxied request ended, as a worker reports it (passive health). */
enum px_outcome {
    PX_OUTCOME_OK,           /* a response head arrived (any status but a counted 5xx) */
    PX_OUTCOME_CONNECT_FAIL, /* the TCP connect failed or timed out */
    PX_OUTCOME_RESET,        /* the connection closed or reset before a complete response */
    PX_OUTCOME_TIMEOUT,      /* upstream_response timeout */
    PX_OUTCOME_HTTP_5XX,     /* a 5xx response head; a failure only with passive.count_5xx */
};

#define PX_SIGNALS_SLOTS 4096 /* power of two */

struct px_signal {
    uint32_t backend; /* flattened backend index */
    uint8_t outcome;  /* enum px_outcome */
    float latency_ms; /* time to the first response byte, or to the failure */
};

struct px_signals {
    _Atomic uint32_t head; /* next slot the worker writes */
    _Atomic uint32_t tail; /* next slot the control thread reads */
    _Atomic uint64_t dropped;
    struct px_signal ring[PX_SIGNALS_SLOTS];
};

/* Worker side: records one signal (drops it when the ring is full). */
static inline void px_signals_put(struct px_signals *s, uint32_t backend, enum px_outcome outcome,
                                  double latency_ms)
{
    uint32_t head = atomic_load_explicit(&s->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&s->tail, memory_order_acquire);
    if (head - tail >= PX_SIGNALS_SLOTS) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        return;
    }
    struct px_signal *e = &s->ring[head & (PX_SIGNALS_SLOTS - 1)];
    e->backend = backend;
    e->outcome = (uint8_t)outcome;
    e->latency_ms = (float)latency_ms;
    atomic_store_explicit(&s->head, head + 1, memory_order_release);
}

/* Control side: takes the oldest signal into *out; returns 0 when empty. */
static inline int px_signals_take(struct px_signals *s, struct px_signal *out)
{
    uint32_t tail = atomic_load_explicit(&s->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&s->head, memory_order_acquire);
    if (tail == head)
        return 0;
    *out = s->ring[tail & (PX_SIGNALS_SLOTS - 1)];
    atomic_store_explicit(&s->tail, tail + 1, memory_order_release);
    return 1;
}

#endif
