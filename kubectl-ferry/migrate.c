/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl ferry migrate POD [--to NODE] [--strategy S] [--wait]: creates the
 * PodMigration a pod's ferry.dev/migrate-to annotation would have the
 * controller create (controller/trigger.c: named after the pod and a hash,
 * labelled ferry.dev/pod), with reason Manual (a PodMigration asked for by
 * hand); --wait follows it to its end (watch.c) and exits 0 only when it
 * Succeeded. */
#include <string.h>

#include "kubectl_ferry.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/util.h"

#define PM_NAME_BASE 240 /* the pod name's share of the PodMigration's name */
#define DEFAULT_TIMEOUT_S 300

/* POD-xxxxx: the pod's name and a hash of its UID, the target and the time, so
 * that a second migrate of the same pod gets a PodMigration of its own. */
static void pm_name(json_object *pod, const char *to, char *buf, size_t len)
{
  char seed[512], h[65];
  snprintf(seed, sizeof seed, "%s/%s/%lld", ferry_kube_str(pod, "metadata.uid") ?: "", to ?: "auto",
           (long long)ferry_now_real_ms());
  ferry_sha256_hex(seed, strlen(seed), h);
  snprintf(buf, len, "%.*s-%.5s", PM_NAME_BASE, ferry_kube_str(pod, "metadata.name"), h);
}

/* The object named, or NULL (said as kubectl says it). */
static json_object *get_or_say(const struct kf_env *e, const struct ferry_kube_resource *r, const char *ns,
                               const char *name, const char *kind)
{
  struct ferry_kube_status st = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  json_object *obj = NULL;
  if (ferry_kube_get(e->k, r, ns, name, &obj, &st, &err) == 0)
    return obj;
  if (st.code == 404)
    fprintf(stderr, "Error from server (NotFound): %s \"%s\" not found\n", kind, name);
  else
    kf_api_error(&st, &err);
  return NULL;
}

/* Creates it; *out the stored object. */
static int create(const struct kf_env *e, json_object *pod, const struct kf_opts *o, json_object **out)
{
  char name[256];
  const char *pod_name = ferry_kube_str(pod, "metadata.name");
  pm_name(pod, o->to, name, sizeof name);
  cleanup_json json_object *pm =
      pm_object_new(e->ns, pod_name, name, o->to,
                    o->strategy >= 0 ? pm_strategy_name((enum pm_strategy)o->strategy) : NULL, PM_REASON_MANUAL);
  struct ferry_kube_status st = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_kube_create(e->k, &FERRY_KUBE_PODMIGRATIONS, e->ns, pm, out, &st, &err) < 0) {
    kf_api_error(&st, &err);
    return -1;
  }
  return 0;
}

/* --wait: follows it (on stdout for the table, quietly for -o); then its end as -o asks. */
static int wait_for_end(const struct kf_env *e, const char *name, const struct kf_opts *o)
{
  int quiet = o->output != KF_OUT_TABLE;
  char *names[] = { (char *)name };
  if (!quiet)
    printf("%s/%s created\n", KF_PM_RESOURCE, name);
  int rc = kf_follow(e, e->ns, names, 1, o->timeout_s ? o->timeout_s : DEFAULT_TIMEOUT_S, KF_OUT_TABLE,
                     quiet ? NULL : stdout);
  if (o->output == KF_OUT_NAME)
    printf("%s/%s\n", KF_PM_RESOURCE, name);
  if (o->output != KF_OUT_JSON && o->output != KF_OUT_YAML)
    return rc;
  cleanup_json json_object *pm = get_or_say(e, &FERRY_KUBE_PODMIGRATIONS, e->ns, name, "podmigrations.ferry.dev");
  if (!pm || kf_print_object(pm, o->output, stdout) < 0)
    return 1;
  return rc;
}

int kf_migrate(const struct kf_env *e, const struct kf_opts *o)
{
  cleanup_json json_object *pod = get_or_say(e, &FERRY_KUBE_PODS, e->ns, o->args[0], "pods");
  if (!pod)
    return 1;
  if (o->to) {
    cleanup_json json_object *node = get_or_say(e, &FERRY_KUBE_NODES, NULL, o->to, "nodes");
    if (!node)
      return 1;
  }
  cleanup_json json_object *pm = NULL;
  if (create(e, pod, o, &pm) < 0)
    return 1;
  const char *name = ferry_kube_str(pm, "metadata.name");
  if (o->wait == 1)
    return wait_for_end(e, name, o);
  if (o->output == KF_OUT_JSON || o->output == KF_OUT_YAML)
    return kf_print_object(pm, o->output, stdout) < 0 ? 1 : 0;
  printf(o->output == KF_OUT_NAME ? "%s/%s\n" : "%s/%s created\n", KF_PM_RESOURCE, name);
  return 0;
}
