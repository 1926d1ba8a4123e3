/* SPDX-License-Identifier: Apache-2.0 */
/* Migrations this controller let past the limits whose new status its
 * PodMigration cache may not show yet (client-go's "expectations"): without
 * them, a burst of PodMigrations (a drain) is scheduled before the first one's
 * status comes back through the watch, and every one of them finds its nodes
 * free. An entry counts until the cache shows its migration running on its
 * nodes (then the cache counts it) or ended, or it is gone. */
#include "controller.h"

#include <stdlib.h>
#include <string.h>

#include "api/podmigration.h"
#include "base/util.h"

struct ctl_inflight_entry {
  char *ns, *name, *uid, *source, *target;
};

static void entry_free(struct ctl_inflight_entry *e)
{
  free(e->ns);
  free(e->name);
  free(e->uid);
  free(e->source);
  free(e->target);
}

static void drop(struct ctl_inflight *f, size_t i)
{
  entry_free(&f->v[i]);
  f->v[i] = f->v[--f->n];
}

void ctl_inflight_add(struct ctl *c, json_object *pm, const char *source, const char *target)
{
  struct ctl_inflight *f = &c->inflight;
  const char *uid = ferry_kube_str(pm, "metadata.uid") ?: "";
  for (size_t i = 0; i < f->n; i++)
    if (!strcmp(f->v[i].uid, uid))
      drop(f, i--);
  void *nv = realloc(f->v, (f->n + 1) * sizeof *f->v);
  if (!nv)
    abort();
  f->v = nv;
  f->v[f->n++] = (struct ctl_inflight_entry){ ferry_strdup(ferry_kube_str(pm, "metadata.namespace") ?: ""),
                                              ferry_strdup(ferry_kube_str(pm, "metadata.name") ?: ""),
                                              ferry_strdup(uid), ferry_strdup(source), ferry_strdup(target) };
}

/* 1 while the cache does not count the entry's migration on its nodes yet. */
static int still_unseen(struct ctl *c, const struct ctl_inflight_entry *e)
{
  json_object *pm = ferry_informer_get(c->pms, e->ns, e->name);
  if (!pm || strcmp(ferry_kube_str(pm, "metadata.uid") ?: "", e->uid) != 0)
    return 0; /* deleted, or another object of that name */
  enum pm_phase phase = pm_phase(pm);
  if (pm_phase_is_terminal(phase))
    return 0;
  return !(pm_phase_is_active(phase) && *(ferry_kube_str(pm, "status.sourceNode") ?: ""));
}

void ctl_inflight_count(struct ctl *c, const char *self_uid, const char *source, const char *target, struct ctl_busy *b)
{
  struct ctl_inflight *f = &c->inflight;
  for (size_t i = 0; i < f->n; i++) {
    const struct ctl_inflight_entry *e = &f->v[i];
    if (!still_unseen(c, e)) {
      drop(f, i--);
      continue;
    }
    if (!strcmp(e->uid, self_uid))
      continue;
    b->total++;
    if (source && (!strcmp(e->source, source) || !strcmp(e->target, source)))
      b->on_source++;
    if (target && (!strcmp(e->source, target) || !strcmp(e->target, target)))
      b->on_target++;
  }
}

void ctl_inflight_free(struct ctl *c)
{
  struct ctl_inflight *f = &c->inflight;
  for (size_t i = 0; i < f->n; i++)
    entry_free(&f->v[i]);
  free(f->v);
  memset(f, 0, sizeof *f);
}
