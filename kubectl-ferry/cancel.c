/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl ferry cancel PM...: cancels a PodMigration the way ferry-controller
 * knows one to be cancelled: by deleting it (controller/reconcile.c, deleted()).
 * Before the freeze the controller fails it (reason Cancelled) and the pod runs
 * on where it was; after it, the source agent restores the pod on its node
 * (RollingBack, RolledBack); the controller's finalizer keeps the object until
 * then, so waiting for it to be gone is waiting for the rollback. The wait is a
 * watch (an informer, started before the delete): the object its deletion
 * carries is its last status, the outcome said. One that already ended is left
 * alone (deleting it would only remove its record). */
#include <string.h>

#include "kubectl_ferry.h"
#include "base/cleanup.h"
#include "base/signals.h"
#include "base/util.h"

#define PASS_MS 500
#define DEFAULT_TIMEOUT_S 300

/* One PodMigration being cancelled. */
struct cancel {
  const char *name;
  int requested, gone;
  json_object *last; /* the last object seen (own reference) */
};

struct cancels {
  struct cancel *c;
  int n;
};

static struct cancel *find(struct cancels *cs, json_object *obj)
{
  const char *name = ferry_kube_str(obj, "metadata.name") ?: "";
  for (int i = 0; i < cs->n; i++)
    if (!strcmp(cs->c[i].name, name))
      return &cs->c[i];
  return NULL;
}

static void seen(struct cancels *cs, json_object *obj, int gone)
{
  struct cancel *c = find(cs, obj);
  if (!c)
    return;
  json_object_put(c->last);
  c->last = json_object_get(obj);
  c->gone = gone;
}

static void on_add(void *ctx, json_object *obj) { seen(ctx, obj, 0); }
static void on_update(void *ctx, json_object *old_obj, json_object *new_obj)
{
  (void)old_obj;
  seen(ctx, new_obj, 0);
}
static void on_delete(void *ctx, json_object *obj) { seen(ctx, obj, 1); }

/* Deletes it unless it ended. 0, or -1 (said on stderr). */
static int request(const struct kf_env *e, struct cancel *c)
{
  struct ferry_kube_status st = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_json json_object *pm = NULL;
  if (ferry_kube_get(e->k, &FERRY_KUBE_PODMIGRATIONS, e->ns, c->name, &pm, &st, &err) < 0) {
    kf_api_error(&st, &err);
    return -1;
  }
  enum pm_phase phase = pm_phase(pm);
  if (pm_phase_is_terminal(phase)) {
    fprintf(stderr, "error: podmigration %s already ended (%s): nothing to cancel\n", c->name, pm_phase_name(phase));
    return -1;
  }
  struct ferry_kube_delete_opts del = FERRY_KUBE_DELETE_OPTS_INIT;
  del.uid = ferry_kube_str(pm, "metadata.uid");
  if (ferry_kube_delete(e->k, &FERRY_KUBE_PODMIGRATIONS, e->ns, c->name, &del, &st, &err) < 0) {
    kf_api_error(&st, &err);
    return -1;
  }
  c->requested = 1;
  return 0;
}

static int all_gone(const struct cancels *cs)
{
  for (int i = 0; i < cs->n; i++)
    if (cs->c[i].requested && !cs->c[i].gone)
      return 0;
  return 1;
}

/* The informer until every one requested is gone: 0, or -1 (deadline, signal, error). */
static int await_gone(struct cancels *cs, struct ferry_informers *g, int64_t deadline)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  while (!all_gone(cs)) {
    if (ferry_stopping || ferry_now_mono_ms() >= deadline)
      return -1;
    if (ferry_informers_run(g, PASS_MS, &err) < 0) {
      fprintf(stderr, "error: watching podmigrations: %s\n", ferry_error_msg(&err));
      return -1;
    }
  }
  return 0;
}

/* Until the informer listed, so that no deletion passes unseen. */
static int await_synced(struct ferry_informers *g, struct ferry_informer *inf, int64_t deadline)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  while (!ferry_informer_synced(inf))
    if (ferry_now_mono_ms() >= deadline || ferry_informers_run(g, PASS_MS, &err) < 0) {
      fprintf(stderr, "error: watching podmigrations: %s\n", err.msg ? err.msg : "timed out listing them");
      return -1;
    }
  return 0;
}

static void say(const struct cancel *c, int waited, enum kf_output output)
{
  enum pm_phase phase = c->last ? pm_phase(c->last) : PM_PENDING;
  if (output == KF_OUT_NAME)
    printf("%s/%s\n", KF_PM_RESOURCE, c->name);
  else if (!waited)
    printf("%s/%s cancelling\n", KF_PM_RESOURCE, c->name);
  else if (pm_phase_is_terminal(phase))
    printf("%s/%s cancelled (%s: %s)\n", KF_PM_RESOURCE, c->name, pm_phase_name(phase),
           ferry_kube_str(c->last, "status.message") ?: "");
  else
    printf("%s/%s cancelled\n", KF_PM_RESOURCE, c->name);
}

static int run(const struct kf_env *e, const struct kf_opts *o, struct cancels *cs)
{
  int64_t deadline = ferry_now_mono_ms() + (int64_t)(o->timeout_s ? o->timeout_s : DEFAULT_TIMEOUT_S) * 1000;
  int wait = o->wait != 0, rc = 0;
  cleanup_informers struct ferry_informers *g = NULL;
  struct ferry_informer *inf = NULL;
  struct ferry_informer_handlers h = { on_add, on_update, on_delete, cs };
  if (wait && (kf_pm_informer(e, e->ns, &h, &g, &inf) < 0 || await_synced(g, inf, deadline) < 0))
    return 1;
  for (int i = 0; i < cs->n; i++)
    if (request(e, &cs->c[i]) < 0)
      rc = 1;
  if (wait && await_gone(cs, g, deadline) < 0) {
    for (int i = 0; i < cs->n; i++)
      if (cs->c[i].requested && !cs->c[i].gone)
        fprintf(stderr, "error: timed out waiting for podmigration %s to be rolled back and removed (now %s)\n",
                cs->c[i].name, pm_phase_name(cs->c[i].last ? pm_phase(cs->c[i].last) : PM_PENDING));
    return 1;
  }
  for (int i = 0; i < cs->n; i++)
    if (cs->c[i].requested)
      say(&cs->c[i], wait, o->output);
  return rc;
}

int kf_cancel(const struct kf_env *e, const struct kf_opts *o)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_catch_stop_signals(&err) < 0) {
    fprintf(stderr, "error: %s\n", ferry_error_msg(&err));
    return 1;
  }
  struct cancels cs = { calloc((size_t)o->nargs, sizeof *cs.c), o->nargs };
  if (!cs.c)
    return 1;
  for (int i = 0; i < cs.n; i++)
    cs.c[i].name = o->args[i];
  int rc = run(e, o, &cs);
  for (int i = 0; i < cs.n; i++)
    json_object_put(cs.c[i].last);
  free(cs.c);
  return rc;
}
