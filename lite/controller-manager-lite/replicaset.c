/* SPDX-License-Identifier: Apache-2.0 */
/* Deployments -> ReplicaSets -> Pods, and garbage collection of pods whose
 * controller is gone. A Deployment has one ReplicaSet per pod template
 * (DEPLOYMENT-HASH, label pod-template-hash); the current one is scaled to
 * spec.replicas and the others to 0 (a Recreate-like rollout: no surge). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcm.h"
#include "base/log.h"
#include "base/hash.h"
#include "base/util.h"

static int owned_by(json_object *pod, const char *uid)
{
  json_object *ref = ferry_kube_controller_ref(pod);
  return ref && !strcmp(kcm_str(ref, "uid") ?: "", uid);
}

static int replicas_of(json_object *o)
{
  json_object *r = kcm_get(kcm_get(o, "spec"), "replicas");
  return r ? json_object_get_int(r) : 1;
}

int kcm_replicasets(struct kcm *k)
{
  json_object *sets = kcm_list(k->replicasets), *pods = kcm_list(k->pods);
  int writes = 0;
  for (size_t i = 0; i < json_object_array_length(sets); i++) {
    json_object *rs = json_object_array_get_idx(sets, i);
    const char *uid = kcm_str(rs, "metadata.uid") ?: "", *ns = kcm_str(rs, "metadata.namespace");
    if (kcm_str(rs, "metadata.deletionTimestamp"))
      continue;
    int want = replicas_of(rs), have = 0, ready = 0;
    json_object *mine = json_object_new_array();
    for (size_t j = 0; j < json_object_array_length(pods); j++) {
      json_object *p = json_object_array_get_idx(pods, j);
      if (owned_by(p, uid) && kcm_pod_active(p)) {
        have++;
        ready += kcm_pod_ready(p);
        json_object_array_add(mine, json_object_get(p));
      }
    }
    if (!kcm_waiting(uid, have)) {
      if (have < want) {
        char *gen = ferry_asprintf("%s-", kcm_str(rs, "metadata.name"));
        int made = 0;
        for (int n = have; n < want; n++) {
          json_object *pod =
              kcm_pod_from_template(rs, "ReplicaSet", kcm_get(kcm_get(rs, "spec"), "template"), NULL, gen);
          ferry_error err = FERRY_ERROR_INIT;
          json_object *out = NULL;
          if (ferry_kube_create(k->kube, &FERRY_KUBE_PODS, ns, pod, &out, NULL, &err) == 0) {
            log_info("replicaset %s/%s: created pod %s", ns, kcm_str(rs, "metadata.name"),
                     kcm_str(out, "metadata.name"));
            made++;
          } else {
            log_warn("replicaset %s/%s: creating a pod: %s", ns, kcm_str(rs, "metadata.name"), ferry_error_msg(&err));
          }
          json_object_put(out);
          json_object_put(pod);
          ferry_error_clear(&err);
        }
        free(gen);
        kcm_expect(uid, have + made);
        writes += made;
      } else if (have > want) { /* the unbound and the not ready go first */
        for (int pass = 0; pass < 3 && have > want; pass++)
          for (size_t j = 0; j < json_object_array_length(mine) && have > want; j++) {
            json_object *p = json_object_array_get_idx(mine, j);
            int bound = kcm_str(p, "spec.nodeName") != NULL, rdy = kcm_pod_ready(p);
            if ((pass == 0 && bound) || (pass == 1 && rdy))
              continue;
            ferry_error err = FERRY_ERROR_INIT;
            struct ferry_kube_delete_opts d = FERRY_KUBE_DELETE_OPTS_INIT;
            d.uid = kcm_str(p, "metadata.uid");
            if (ferry_kube_delete(k->kube, &FERRY_KUBE_PODS, ns, kcm_str(p, "metadata.name"), &d, NULL, &err) == 0) {
              log_info("replicaset %s/%s: deleted pod %s", ns, kcm_str(rs, "metadata.name"),
                       kcm_str(p, "metadata.name"));
              have--;
              writes++;
            }
            ferry_error_clear(&err);
            json_object_array_del_idx(mine, j, 1);
            j--;
          }
        kcm_expect(uid, have);
      }
    }
    json_object_put(mine);
    char st[128];
    snprintf(st, sizeof st, "{\"replicas\":%d,\"readyReplicas\":%d,\"availableReplicas\":%d,\"observedGeneration\":%d}",
             have, ready, ready, json_object_get_int(kcm_get(kcm_get(rs, "metadata"), "generation")));
    json_object *cur = kcm_get(rs, "status");
    if (!cur || json_object_get_int(kcm_get(cur, "replicas")) != have ||
        json_object_get_int(kcm_get(cur, "readyReplicas")) != ready)
      kcm_write_status(k, &KCM_REPLICASETS, rs, st);
  }
  /* garbage collection: a pod whose controller (ReplicaSet, StatefulSet or DaemonSet) is gone goes too */
  json_object *ssets = kcm_list(k->statefulsets), *dsets = kcm_list(k->daemonsets);
  for (size_t j = 0; j < json_object_array_length(pods); j++) {
    json_object *p = json_object_array_get_idx(pods, j), *ref = ferry_kube_controller_ref(p);
    const char *kind = ref ? kcm_str(ref, "kind") ?: "" : "";
    json_object *owners = !strcmp(kind, "ReplicaSet")    ? sets
                          : !strcmp(kind, "StatefulSet") ? ssets
                          : !strcmp(kind, "DaemonSet")   ? dsets
                                                         : NULL;
    if (!owners || kcm_str(p, "metadata.deletionTimestamp"))
      continue;
    int found = 0;
    for (size_t i = 0; i < json_object_array_length(owners) && !found; i++)
      found = !strcmp(kcm_str(json_object_array_get_idx(owners, i), "metadata.uid") ?: "", kcm_str(ref, "uid") ?: "");
    if (!found) {
      ferry_error err = FERRY_ERROR_INIT;
      if (ferry_kube_delete(k->kube, &FERRY_KUBE_PODS, kcm_str(p, "metadata.namespace"), kcm_str(p, "metadata.name"),
                            NULL, NULL, &err) == 0)
        log_info("garbage collection: pod %s/%s (its %s is gone)", kcm_str(p, "metadata.namespace"),
                 kcm_str(p, "metadata.name"), kind);
      ferry_error_clear(&err);
      writes++;
    }
  }
  json_object_put(ssets);
  json_object_put(dsets);
  json_object_put(sets);
  json_object_put(pods);
  return writes;
}

int kcm_deployments(struct kcm *k)
{
  json_object *deps = kcm_list(k->deployments), *sets = kcm_list(k->replicasets);
  int writes = 0;
  for (size_t i = 0; i < json_object_array_length(deps); i++) {
    json_object *d = json_object_array_get_idx(deps, i), *tmpl = kcm_get(kcm_get(d, "spec"), "template");
    const char *ns = kcm_str(d, "metadata.namespace"), *name = kcm_str(d, "metadata.name"),
               *uid = kcm_str(d, "metadata.uid") ?: "";
    if (kcm_str(d, "metadata.deletionTimestamp"))
      continue;
    char hash[11];
    kcm_template_hash(tmpl, hash);
    char *rsname = ferry_asprintf("%s-%s", name, hash);
    int have_current = 0, ready = 0, total = 0;
    for (size_t j = 0; j < json_object_array_length(sets); j++) {
      json_object *rs = json_object_array_get_idx(sets, j), *ref = ferry_kube_controller_ref(rs);
      if (!ref || strcmp(kcm_str(ref, "uid") ?: "", uid) != 0)
        continue;
      int current = !strcmp(kcm_str(rs, "metadata.name") ?: "", rsname);
      have_current |= current;
      ready += json_object_get_int(kcm_get(kcm_get(rs, "status"), "readyReplicas"));
      total += json_object_get_int(kcm_get(kcm_get(rs, "status"), "replicas"));
      int want = current ? replicas_of(d) : 0;
      if (replicas_of(rs) != want) {
        char *patch = ferry_asprintf("{\"spec\":{\"replicas\":%d}}", want);
        ferry_error err = FERRY_ERROR_INIT;
        if (ferry_kube_patch(k->kube, &KCM_REPLICASETS, ns, kcm_str(rs, "metadata.name"), FERRY_PATCH_MERGE, patch,
                             NULL, NULL, NULL, &err) == 0) {
          log_info("deployment %s/%s: replicaset %s scaled to %d", ns, name, kcm_str(rs, "metadata.name"), want);
          writes++;
        }
        ferry_error_clear(&err);
        free(patch);
      }
    }
    if (!have_current) {
      json_object *rs = json_object_new_object(), *meta = json_object_new_object(), *spec = json_object_new_object();
      json_object *t = NULL, *sel = NULL;
      json_object_deep_copy(tmpl, &t, NULL);
      json_object_deep_copy(kcm_get(kcm_get(d, "spec"), "selector"), &sel, NULL);
      if (!sel)
        sel = json_object_new_object();
      json_object *tmeta = kcm_get(t, "metadata"), *tl = kcm_get(tmeta, "labels"), *ml = kcm_get(sel, "matchLabels");
      if (!tl && tmeta) {
        tl = json_object_new_object();
        json_object_object_add(tmeta, "labels", tl);
      }
      if (!ml) {
        ml = json_object_new_object();
        json_object_object_add(sel, "matchLabels", ml);
      }
      if (tl)
        json_object_object_add(tl, "pod-template-hash", json_object_new_string(hash));
      json_object_object_add(ml, "pod-template-hash", json_object_new_string(hash));
      json_object_object_add(rs, "apiVersion", json_object_new_string("apps/v1"));
      json_object_object_add(rs, "kind", json_object_new_string("ReplicaSet"));
      json_object_object_add(meta, "name", json_object_new_string(rsname));
      json_object_object_add(meta, "namespace", json_object_new_string(ns));
      json_object *labels = NULL;
      json_object_deep_copy(tl, &labels, NULL);
      if (labels)
        json_object_object_add(meta, "labels", labels);
      char *ref = ferry_asprintf("[{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"%s\",\"uid\":\"%s\","
                                 "\"controller\":true,\"blockOwnerDeletion\":true}]",
                                 name, uid);
      json_object_object_add(meta, "ownerReferences", json_tokener_parse(ref));
      free(ref);
      json_object_object_add(rs, "metadata", meta);
      json_object_object_add(spec, "replicas", json_object_new_int(replicas_of(d)));
      json_object_object_add(spec, "selector", sel);
      json_object_object_add(spec, "template", t);
      json_object_object_add(rs, "spec", spec);
      ferry_error err = FERRY_ERROR_INIT;
      struct ferry_kube_status st = { 0 };
      if (ferry_kube_create(k->kube, &KCM_REPLICASETS, ns, rs, NULL, &st, &err) == 0) {
        log_info("deployment %s/%s: created replicaset %s", ns, name, rsname);
        writes++;
      } else if (st.code != 409) {
        log_warn("deployment %s/%s: %s", ns, name, ferry_error_msg(&err));
      }
      ferry_error_clear(&err);
      json_object_put(rs);
    }
    json_object *cur = kcm_get(d, "status");
    if (!cur || json_object_get_int(kcm_get(cur, "replicas")) != total ||
        json_object_get_int(kcm_get(cur, "readyReplicas")) != ready) {
      char st[160];
      snprintf(st, sizeof st, "{\"replicas\":%d,\"readyReplicas\":%d,\"availableReplicas\":%d,\"updatedReplicas\":%d}",
               total, ready, ready, total);
      kcm_write_status(k, &KCM_DEPLOYMENTS, d, st);
    }
    free(rsname);
  }
  /* ReplicaSets of a Deployment that is gone */
  for (size_t j = 0; j < json_object_array_length(sets); j++) {
    json_object *rs = json_object_array_get_idx(sets, j), *ref = ferry_kube_controller_ref(rs);
    if (!ref || strcmp(kcm_str(ref, "kind") ?: "", "Deployment") != 0 || kcm_str(rs, "metadata.deletionTimestamp"))
      continue;
    int found = 0;
    for (size_t i = 0; i < json_object_array_length(deps) && !found; i++)
      found = !strcmp(kcm_str(json_object_array_get_idx(deps, i), "metadata.uid") ?: "", kcm_str(ref, "uid") ?: "");
    if (!found) {
      ferry_error err = FERRY_ERROR_INIT;
      if (ferry_kube_delete(k->kube, &KCM_REPLICASETS, kcm_str(rs, "metadata.namespace"), kcm_str(rs, "metadata.name"),
                            NULL, NULL, &err) == 0)
        log_info("garbage collection: replicaset %s (its Deployment is gone)", kcm_str(rs, "metadata.name"));
      ferry_error_clear(&err);
      writes++;
    }
  }
  json_object_put(deps);
  json_object_put(sets);
  return writes;
}
