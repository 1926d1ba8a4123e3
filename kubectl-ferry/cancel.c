/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl ferry cancel PM...: cancels a PodMigration the way ferry-controller
 * knows one to be cancelled: by deleting it (controller/reconcile.c, deleted()).
 * Before the freeze the controller fails it (reason Cancelled) and the pod runs
 * on where it was; after it, the source agent restores the pod on its node
 * (RollingBack, RolledBack); the controller's finalizer keeps the object until
 * then, so waiting for it to be gone is waiting for the rollback. One that
 * already ended is left alone (deleting it would only remove its record). */
#include <string.h>
#include <unistd.h>

#include "kubectl_ferry.h"
#include "base/cleanup.h"
#include "base/util.h"

#define POLL_US (300 * 1000)
#define DEFAULT_TIMEOUT_S 300

/* Deletes it unless it ended. 0, or -1 (said on stderr). */
static int request(const struct kf_env *e, const char *name)
{
  struct ferry_kube_status st = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_json json_object *pm = NULL;
  if (ferry_kube_get(e->k, &FERRY_KUBE_PODMIGRATIONS, e->ns, name, &pm, &st, &err) < 0) {
    kf_api_error(&st, &err);
    return -1;
  }
  enum pm_phase phase = pm_phase(pm);
  if (pm_phase_is_terminal(phase)) {
    fprintf(stderr, "error: podmigration %s already ended (%s): nothing to cancel\n", name, pm_phase_name(phase));
    return -1;
  }
  struct ferry_kube_delete_opts del = FERRY_KUBE_DELETE_OPTS_INIT;
  del.uid = ferry_kube_str(pm, "metadata.uid");
  if (ferry_kube_delete(e->k, &FERRY_KUBE_PODMIGRATIONS, e->ns, name, &del, &st, &err) < 0) {
    kf_api_error(&st, &err);
    return -1;
  }
  return 0;
}

/* Until it is gone: *last the last phase and message seen. 0, or -1 at the deadline. */
static int await_gone(const struct kf_env *e, const char *name, int64_t deadline, json_object **last)
{
  for (;;) {
    struct ferry_kube_status st = { 0 };
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    json_object *pm = NULL;
    if (ferry_kube_get(e->k, &FERRY_KUBE_PODMIGRATIONS, e->ns, name, &pm, &st, &err) < 0 && st.code == 404)
      return 0;
    if (pm) {
      json_object_put(*last);
      *last = pm;
    }
    if (ferry_now_mono_ms() >= deadline)
      return -1;
    usleep(POLL_US);
  }
}

static void say_done(const char *name, json_object *last, enum kf_output output)
{
  if (output == KF_OUT_NAME) {
    printf("%s/%s\n", KF_PM_RESOURCE, name);
    return;
  }
  enum pm_phase phase = last ? pm_phase(last) : PM_PENDING;
  if (pm_phase_is_terminal(phase))
    printf("%s/%s cancelled (%s: %s)\n", KF_PM_RESOURCE, name, pm_phase_name(phase),
           ferry_kube_str(last, "status.message") ?: "");
  else
    printf("%s/%s cancelled\n", KF_PM_RESOURCE, name);
}

static int cancel_one(const struct kf_env *e, const char *name, const struct kf_opts *o, int64_t deadline)
{
  if (request(e, name) < 0)
    return 1;
  if (o->wait == 0) {
    printf(o->output == KF_OUT_NAME ? "%s/%s\n" : "%s/%s cancelling\n", KF_PM_RESOURCE, name);
    return 0;
  }
  cleanup_json json_object *last = NULL;
  if (await_gone(e, name, deadline, &last) < 0) {
    fprintf(stderr, "error: timed out waiting for podmigration %s to be rolled back and removed (now %s)\n", name,
            pm_phase_name(pm_phase(last)) ?: "?");
    return 1;
  }
  say_done(name, last, o->output);
  return 0;
}

int kf_cancel(const struct kf_env *e, const struct kf_opts *o)
{
  int64_t deadline = ferry_now_mono_ms() + (int64_t)(o->timeout_s ? o->timeout_s : DEFAULT_TIMEOUT_S) * 1000;
  int rc = 0;
  for (int i = 0; i < o->nargs; i++)
    rc |= cancel_one(e, o->args[i], o, deadline);
  return rc;
}
