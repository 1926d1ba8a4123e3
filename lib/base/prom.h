/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus metrics in the text exposition format (version 0.0.4): a registry
 * of families (counter, gauge, histogram), each with fixed label names and a
 * series per set of label values, safe to update from any thread. The agent and
 * the controller register their families once at start and render the
 * registry on GET /metrics (base/opsd.h). */
#ifndef FERRY_PROM_H
#define FERRY_PROM_H

#include <stddef.h>

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

#define PROM_MAX_LABELS 4
#define PROM_MAX_BUCKETS 16

struct prom_family_desc {
  enum prom_type type;
  const char *name;                    /* ferry_agent_downtime_seconds */
  const char *help;                    /* one line */
  const char *labels[PROM_MAX_LABELS]; /* label names, NULL after the last */
  const double *buckets;               /* a histogram's upper bounds, ascending (+Inf is implied) */
  size_t nbuckets;
};

struct prom_registry;
struct prom_family;

struct prom_registry *prom_registry_new(void); /* NULL: out of memory */
void prom_registry_free(struct prom_registry *r);

/* Registers a family; the desc's strings and buckets must outlive the registry. NULL: out of memory or a bad desc. */
struct prom_family *prom_register(struct prom_registry *r, const struct prom_family_desc *d);

/* The series with these label values (as many as the family has names; NULL for
 * none) is changed; it is made on first use. A counter only goes up. */
void prom_add(struct prom_family *f, const char *const *values, double v);
void prom_set(struct prom_family *f, const char *const *values, double v);
void prom_observe(struct prom_family *f, const char *const *values, double v);
/* Every series of a gauge family removed (before setting the ones that exist now). */
void prom_clear(struct prom_family *f);

/* The registry as the text format (malloc'd), or NULL when out of memory. */
char *prom_render(struct prom_registry *r);

#endif
