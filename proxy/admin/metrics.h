/*
 * metrics: GET /metrics, the Prometheus text exposition (format 0.0.4) of
 * the control thread's state and the workers' summed stats. Control thread
 * only.
 */
#ifndef PX_ADMIN_METRICS_H
#define PX_ADMIN_METRICS_H

#include "proxy/base/json.h"

struct px_control;

/* Appends every metric family to B (b->oom set when memory ran out). */
void px__admin_metrics(struct px_control *ctl, struct px_sbuf *b);

#endif
