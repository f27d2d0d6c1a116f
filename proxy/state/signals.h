/*
 * signals: passive health and transfer signals from a worker to the control
 * thread, on a single-producer single-consumer ring per worker. The worker writes an
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

/* Up to two signals a request: how it ended, and its response body. */
#define PX_SIGNALS_SLOTS 16384 /* power of two */

enum px_signal_kind {
    PX_SIGNAL_OUTCOME,  /* outcome and latency: passive health */
    PX_SIGNAL_TRANSFER, /* a complete response body: zone size, backend goodput */
};

struct px_signal {
    uint32_t backend; /* the backend descriptor's id */
    uint8_t kind;     /* enum px_signal_kind */
    uint8_t outcome;  /* OUTCOME: enum px_outcome */
    uint16_t zone;    /* TRANSFER: the zone's stats slot (fleet->zone_slot), stable by name */
    float latency_ms; /* OUTCOME: to the first response byte, or to the failure;
                         TRANSFER: body time while the upstream read was not paused */
    uint8_t cls;      /* TRANSFER: the request class, 0 = none (state/classes.h) */
    uint64_t bytes;   /* TRANSFER: response body bytes */
};

struct px_signals {
    _Atomic uint32_t head; /* next slot the worker writes */
    _Atomic uint32_t tail; /* next slot the control thread reads */
    _Atomic uint64_t dropped;
    struct px_signal ring[PX_SIGNALS_SLOTS];
};

/* Worker side: records E (drops it, counted, when the ring is full). */
static inline void px_signals_push(struct px_signals *s, const struct px_signal *e)
{
    uint32_t head = atomic_load_explicit(&s->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&s->tail, memory_order_acquire);
    if (head - tail >= PX_SIGNALS_SLOTS) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        return;
    }
    s->ring[head & (PX_SIGNALS_SLOTS - 1)] = *e;
    atomic_store_explicit(&s->head, head + 1, memory_order_release);
}

/* Worker side: how a request to BACKEND ended, after LATENCY_MS. */
static inline void px_signals_put(struct px_signals *s, uint32_t backend, enum px_outcome outcome,
                                  double latency_ms)
{
    struct px_signal e = {.backend = backend,
                          .kind = PX_SIGNAL_OUTCOME,
                          .outcome = (uint8_t)outcome,
                          .latency_ms = (float)latency_ms};
    px_signals_push(s, &e);
}

/*
 * Worker side: a complete response body of BYTES from BACKEND for class CLS
 * (0: none, else 1 + its index; classes.h) of the zone in stats slot
 * ZONE_SLOT, read in ACTIVE_MS while the upstream read was not paused by
 * client backpressure.
 */
static inline void px_signals_put_transfer(struct px_signals *s, uint32_t backend,
                                           uint16_t zone_slot, uint8_t cls, uint64_t bytes,
                                           double active_ms)
{
    struct px_signal e = {.backend = backend,
                          .kind = PX_SIGNAL_TRANSFER,
                          .cls = cls,
                          .zone = zone_slot,
                          .latency_ms = (float)active_ms,
                          .bytes = bytes};
    px_signals_push(s, &e);
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
