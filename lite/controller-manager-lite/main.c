/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcm.h"
#include "kube/kubeconfig.h"
#include "base/hash.h"
#include "base/cmdline.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/util.h"

const struct ferry_kube_resource KCM_DEPLOYMENTS = { "apps", "v1", "deployments", 1 };
const struct ferry_kube_resource KCM_REPLICASETS = { "apps", "v1", "replicasets", 1 };
const struct ferry_kube_resource KCM_STATEFULSETS = { "apps", "v1", "statefulsets", 1 };
const struct ferry_kube_resource KCM_DAEMONSETS = { "apps", "v1", "daemonsets", 1 };

const char *kcm_str(json_object *o, const char *path) { return ferry_kube_str(o, path); }

json_object *kcm_get(json_object *o, const char *key)
{
  json_object *v = NULL;
  return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int kcm_pod_active(json_object *pod)
{
  const char *phase = kcm_str(pod, "status.phase") ?: "";
  return !kcm_str(pod, "metadata.deletionTimestamp") && strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0;
}

int kcm_pod_ready(json_object *pod)
{
  json_object *conds = kcm_get(kcm_get(pod, "status"), "conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (!strcmp(kcm_str(c, "type") ?: "", "Ready"))
      return !strcmp(kcm_str(c, "status") ?: "", "True");
  }
  return 0;
}

int kcm_selector_matches(json_object *sel, json_object *obj)
{
  json_object *labels = kcm_get(kcm_get(obj, "metadata"), "labels");
  json_object *ml = kcm_get(sel, "matchLabels"), *me = kcm_get(sel, "matchExpressions");
  if (!ml && !me)
    ml = sel; /* a Service's selector is a plain map */
  if (!ml && !me)
    return 0; /* an absent selector selects nothing */
  if (ml) {
    json_object_object_foreach(ml, k, v)
    {
      json_object *have = kcm_get(labels, k);
      if (!have || strcmp(json_object_get_string(have), json_object_get_string(v)) != 0)
        return 0;
    }
  }
  for (size_t i = 0; me && i < json_object_array_length(me); i++) {
    json_object *e = json_object_array_get_idx(me, i), *vals = kcm_get(e, "values");
    const char *op = kcm_str(e, "operator") ?: "";
    json_object *have = kcm_get(labels, kcm_str(e, "key") ?: "");
    int in = 0;
    for (size_t j = 0; have && vals && j < json_object_array_length(vals); j++)
      in |= !strcmp(json_object_get_string(json_object_array_get_idx(vals, j)), json_object_get_string(have));
    if ((!strcmp(op, "In") && !in) || (!strcmp(op, "NotIn") && in) || (!strcmp(op, "Exists") && !have) ||
        (!strcmp(op, "DoesNotExist") && have))
      return 0;
  }
  return 1;
}

json_object *kcm_pod_from_template(json_object *owner, const char *kind, json_object *tmpl, const char *name,
                                   const char *generate_name)
{
  json_object *pod = json_object_new_object(), *meta = NULL, *spec = NULL;
  json_object_deep_copy(kcm_get(tmpl, "metadata"), &meta, NULL);
  json_object_deep_copy(kcm_get(tmpl, "spec"), &spec, NULL);
  if (!meta)
    meta = json_object_new_object();
  if (!spec)
    spec = json_object_new_object();
  json_object_object_add(pod, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(pod, "kind", json_object_new_string("Pod"));
  if (name)
    json_object_object_add(meta, "name", json_object_new_string(name));
  else
    json_object_object_add(meta, "generateName", json_object_new_string(generate_name));
  json_object_object_add(meta, "namespace", json_object_new_string(kcm_str(owner, "metadata.namespace") ?: "default"));
  json_object *refs = json_object_new_array(), *ref = json_object_new_object();
  json_object_object_add(ref, "apiVersion", json_object_new_string("apps/v1"));
  json_object_object_add(ref, "kind", json_object_new_string(kind));
  json_object_object_add(ref, "name", json_object_new_string(kcm_str(owner, "metadata.name") ?: ""));
  json_object_object_add(ref, "uid", json_object_new_string(kcm_str(owner, "metadata.uid") ?: ""));
  json_object_object_add(ref, "controller", json_object_new_boolean(1));
  json_object_object_add(ref, "blockOwnerDeletion", json_object_new_boolean(1));
  json_object_array_add(refs, ref);
  json_object_object_add(meta, "ownerReferences", refs);
  json_object_object_add(pod, "metadata", meta);
  json_object_object_add(pod, "spec", spec);
  return pod;
}

void kcm_write_status(struct kcm *k, const struct ferry_kube_resource *r, json_object *obj, const char *status_json)
{
  char *patch = ferry_asprintf("{\"status\":%s}", status_json);
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_kube_patch(k->kube, r, kcm_str(obj, "metadata.namespace"), kcm_str(obj, "metadata.name"), FERRY_PATCH_MERGE,
                       patch, "status", NULL, NULL, &err) < 0)
    log_debug("%s", ferry_error_msg(&err));
  ferry_error_clear(&err);
  free(patch);
}

void kcm_template_hash(json_object *tmpl, char hash[11])
{
  const char *text = json_object_to_json_string_ext(tmpl, JSON_C_TO_STRING_PLAIN);
  char h[65];
  ferry_sha256_hex(text, strlen(text), h);
  snprintf(hash, 11, "%.10s", h);
}

static struct {
  char uid[64];
  int pods;
  int64_t until;
} expectations[64];

void kcm_expect(const char *uid, int pods)
{
  int slot = 0;
  for (int i = 0; i < 64; i++) {
    if (!strcmp(expectations[i].uid, uid)) {
      slot = i;
      break;
    }
    if (expectations[i].until < expectations[slot].until)
      slot = i;
  }
  snprintf(expectations[slot].uid, sizeof expectations[slot].uid, "%s", uid);
  expectations[slot].pods = pods;
  expectations[slot].until = ferry_now_mono_ms() + 10000;
}

int kcm_waiting(const char *uid, int have)
{
  for (int i = 0; i < 64; i++)
    if (!strcmp(expectations[i].uid, uid)) {
      if (have == expectations[i].pods || ferry_now_mono_ms() >= expectations[i].until) {
        expectations[i].uid[0] = '\0'; /* seen (or given up on): look at it as it is */
        expectations[i].until = 0;
        return 0;
      }
      return 1;
    }
  return 0;
}

static void collect(void *ctx, json_object *o) { json_object_array_add(ctx, json_object_get(o)); }

json_object *kcm_list(struct ferry_informer *inf)
{
  json_object *a = json_object_new_array();
  ferry_informer_each(inf, collect, a);
  return a;
}

static const struct ferry_cmd_opt kcm_opts[] = {
  FERRY_CMD_OPT_KUBECONFIG('k'),
  FERRY_CMD_OPT_LOG_LEVEL('L'),
  FERRY_CMD_OPT_LOG_FORMAT('F'),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

static const struct ferry_cmd kcm_cmd = {
  .name = "controller-manager-lite",
  .prog = "controller-manager-lite",
  .synopsis = "controller-manager-lite",
  .summary = "The scheduler and the workload controllers, for kube-lite. Not for real clusters.",
  .details = "The scheduler and the Deployment, ReplicaSet, StatefulSet, DaemonSet, EndpointSlice/Endpoints and\n"
             "garbage collection controllers.\n",
  .exits = FERRY_CMD_EXITS_SERVER,
  .more = "docs/controller-manager-lite.md",
  .opts = kcm_opts,
};

/* The options; -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, const char **kubeconfig)
{
  struct ferry_cmd_parse p;
  ferry_cmd_start(&p, &kcm_cmd);
  int o;
  while ((o = ferry_cmd_next(&p, argc, argv)) != FERRY_CMD_DONE) {
    if (o == FERRY_CMD_HELP || o == FERRY_CMD_BAD)
      return ferry_cmd_exit_code(o);
    if (o == 'k')
      *kubeconfig = optarg;
    else if ((o == 'L' ? ferry_log_level_option : ferry_log_format_option)("controller-manager-lite", optarg) < 0)
      return 2;
  }
  if (optind != argc)
    return ferry_cmd_usage_error(&kcm_cmd, "unexpected argument %s", argv[optind]);
  return -1;
}

int main(int argc, char **argv)
{
  const char *kubeconfig = NULL;
  int code = parse_options(argc, argv, &kubeconfig);
  if (code >= 0)
    return code;
  ferry_error serr = FERRY_ERROR_INIT;
  if (ferry_catch_stop_signals(&serr) < 0) {
    log_error("%s", ferry_error_msg(&serr));
    ferry_error_clear(&serr);
    return 1;
  }
  struct kcm k;
  memset(&k, 0, sizeof k);
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ferry_error err = FERRY_ERROR_INIT;
  ferry_kube_global_init();
  int rc = 1;
  if (ferry_kube_config_auto(kubeconfig, NULL, &cfg, &err) < 0 || ferry_kube_open(&cfg, &k.kube, &err) < 0 ||
      ferry_informers_new(&cfg, &k.inf, &err) < 0 ||
      ferry_informer_add(k.inf, &FERRY_KUBE_PODS, NULL, NULL, NULL, NULL, &k.pods, &err) < 0 ||
      ferry_informer_add(k.inf, &FERRY_KUBE_NODES, NULL, NULL, NULL, NULL, &k.nodes, &err) < 0 ||
      ferry_informer_add(k.inf, &FERRY_KUBE_SERVICES, NULL, NULL, NULL, NULL, &k.services, &err) < 0 ||
      ferry_informer_add(k.inf, &FERRY_KUBE_ENDPOINTSLICES, NULL, NULL, NULL, NULL, &k.slices, &err) < 0 ||
      ferry_informer_add(k.inf, &KCM_DEPLOYMENTS, NULL, NULL, NULL, NULL, &k.deployments, &err) < 0 ||
      ferry_informer_add(k.inf, &KCM_REPLICASETS, NULL, NULL, NULL, NULL, &k.replicasets, &err) < 0 ||
      ferry_informer_add(k.inf, &KCM_STATEFULSETS, NULL, NULL, NULL, NULL, &k.statefulsets, &err) < 0 ||
      ferry_informer_add(k.inf, &KCM_DAEMONSETS, NULL, NULL, NULL, NULL, &k.daemonsets, &err) < 0) {
    log_error("%s", ferry_error_msg(&err));
    goto out;
  }
  log_info("controller-manager-lite started");
  rc = 0;
  while (!ferry_stopping) {
    if (ferry_informers_run(k.inf, 200, &err) < 0) {
      log_error("informers: %s", ferry_error_msg(&err));
      rc = 1;
      break;
    }
    struct ferry_informer *all[] = { k.pods,        k.nodes,       k.services,     k.slices,
                                     k.deployments, k.replicasets, k.statefulsets, k.daemonsets };
    int synced = 1;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
      synced &= ferry_informer_synced(all[i]);
    if (!synced)
      continue;
    /* level-triggered: every pass looks at everything (a small cluster) */
    kcm_deployments(&k);
    kcm_replicasets(&k);
    kcm_statefulsets(&k);
    kcm_daemonsets(&k);
    kcm_schedule(&k);
    kcm_endpoints(&k);
  }
  log_info("controller-manager-lite stopped");
out:
  ferry_error_clear(&err);
  ferry_informers_free(k.inf);
  ferry_kube_close(k.kube);
  ferry_kube_config_free(&cfg);
  return rc;
}
