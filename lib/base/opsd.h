/* SPDX-License-Identifier: Apache-2.0 */
/* The operational HTTP endpoints of a Ferry daemon (the agent, the controller),
 * as Kubernetes components serve them, on their own thread:
 *   /healthz, /livez  200 while the main loop turns (a heartbeat younger than
 *                     the stall limit), else 500 saying how long it is stuck;
 *   /readyz           200 once the owner says ready, else 503 with its reason;
 *   /metrics          the Prometheus registry in the text format.
 * Plain HTTP: nothing secret is served (the probes and the scraper need no TLS). */
#ifndef FERRY_OPSD_H
#define FERRY_OPSD_H

#include <stdint.h>

#include "base/error.h"
#include "base/prom.h"

struct ferry_opsd;

struct ferry_opsd_opts {
  const char *listen;            /* "IPv4:PORT"; port 0 picks one */
  const char *flag;              /* the option listen came from, for errors: "--metrics-listen" */
  struct prom_registry *metrics; /* rendered on /metrics; owned by the caller */
  int64_t stall_ms;              /* /livez fails once the heartbeat is older; 0: never */
};

int ferry_opsd_start(const struct ferry_opsd_opts *o, struct ferry_opsd **out, int *port, ferry_error *err);
void ferry_opsd_stop(struct ferry_opsd *s); /* NULL: nothing */

/* Ready (why is ignored) or not, and why not (shown by /readyz). */
void ferry_opsd_set_ready(struct ferry_opsd *s, int ready, const char *why);
/* The main loop is turning: called once per pass. */
void ferry_opsd_heartbeat(struct ferry_opsd *s);

#endif
