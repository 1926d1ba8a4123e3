/* SPDX-License-Identifier: Apache-2.0 */
/* StatefulSets: pods NAME-0 .. NAME-(replicas-1), each with its name for
 * identity (hostname, subdomain = serviceName, label
 * statefulset.kubernetes.io/pod-name). OrderedReady: pod N is created only
 * when 0..N-1 are Running and Ready; a missing one is recreated under the same
 * name; ordinals past replicas are deleted from the highest down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcm.h"
#include "base/log.h"
#include "base/util.h"

int kcm_statefulsets(struct kcm *k)
{
  json_object *sets = kcm_list(k->statefulsets);
  int writes = 0;
  for (size_t i = 0; i < json_object_array_length(sets); i++) {
    json_object *ss = json_object_array_get_idx(sets, i), *spec = kcm_get(ss, "spec"), *r = kcm_get(spec, "replicas");
    const char *ns = kcm_str(ss, "metadata.namespace"), *name = kcm_str(ss, "metadata.name") ?: "";
    const char *uid = kcm_str(ss, "metadata.uid") ?: "";
    if (kcm_str(ss, "metadata.deletionTimestamp"))
      continue;
    int want = r ? json_object_get_int(r) : 1, ready = 0, have = 0,
        parallel = !strcmp(kcm_str(ss, "spec.podManagementPolicy") ?: "", "Parallel");
    for (int n = 0; n < want; n++) {
      char pod_name[300];
      snprintf(pod_name, sizeof pod_name, "%s-%d", name, n);
      json_object *p = ferry_informer_get(k->pods, ns, pod_name);
      if (p) {
        json_object *ref = ferry_kube_controller_ref(p);
        if (!ref || strcmp(kcm_str(ref, "uid") ?: "", uid) != 0)
          break; /* someone else's pod has the name: wait */
        have++;
        int rdy = kcm_pod_active(p) && kcm_pod_ready(p);
        ready += rdy;
        if (!rdy && !parallel)
          break; /* OrderedReady */
        continue;
      }
      json_object *pod = kcm_pod_from_template(ss, "StatefulSet", kcm_get(spec, "template"), pod_name, NULL);
      json_object *pspec = kcm_get(pod, "spec"), *meta = kcm_get(pod, "metadata"), *labels = kcm_get(meta, "labels");
      if (!labels) {
        labels = json_object_new_object();
        json_object_object_add(meta, "labels", labels);
      }
      json_object_object_add(labels, "statefulset.kubernetes.io/pod-name", json_object_new_string(pod_name));
      json_object_object_add(pspec, "hostname", json_object_new_string(pod_name));
      if (kcm_str(ss, "spec.serviceName"))
        json_object_object_add(pspec, "subdomain", json_object_new_string(kcm_str(ss, "spec.serviceName")));
      ferry_error err = FERRY_ERROR_INIT;
      struct ferry_kube_status st = { 0 };
      if (ferry_kube_create(k->kube, &FERRY_KUBE_PODS, ns, pod, NULL, &st, &err) == 0) {
        log_info("statefulset %s/%s: created pod %s", ns, name, pod_name);
        writes++;
      } else if (st.code != 409) {
        log_warn("statefulset %s/%s: creating %s: %s", ns, name, pod_name, ferry_error_msg(&err));
      }
      ferry_error_clear(&err);
      json_object_put(pod);
      if (!parallel)
        break;
    }
    /* past replicas: the highest ordinal first */
    for (int n = want + 100; n >= want; n--) {
      char pod_name[300];
      snprintf(pod_name, sizeof pod_name, "%s-%d", name, n);
      json_object *p = ferry_informer_get(k->pods, ns, pod_name), *ref = p ? ferry_kube_controller_ref(p) : NULL;
      if (!ref || strcmp(kcm_str(ref, "uid") ?: "", uid) != 0 || kcm_str(p, "metadata.deletionTimestamp"))
        continue;
      ferry_error err = FERRY_ERROR_INIT;
      if (ferry_kube_delete(k->kube, &FERRY_KUBE_PODS, ns, pod_name, NULL, NULL, &err) == 0) {
        log_info("statefulset %s/%s: deleted pod %s (scaled to %d)", ns, name, pod_name, want);
        writes++;
      }
      ferry_error_clear(&err);
      break;
    }
    json_object *cur = kcm_get(ss, "status");
    if (!cur || json_object_get_int(kcm_get(cur, "replicas")) != have ||
        json_object_get_int(kcm_get(cur, "readyReplicas")) != ready) {
      char *patch = ferry_asprintf("{\"status\":{\"replicas\":%d,\"readyReplicas\":%d,\"currentReplicas\":%d}}", have,
                                   ready, have);
      ferry_error err = FERRY_ERROR_INIT;
      if (ferry_kube_patch(k->kube, &KCM_STATEFULSETS, ns, name, FERRY_PATCH_MERGE, patch, "status", NULL, NULL, &err) <
          0)
        log_debug("%s", ferry_error_msg(&err));
      ferry_error_clear(&err);
      free(patch);
    }
  }
  json_object_put(sets);
  return writes;
}
