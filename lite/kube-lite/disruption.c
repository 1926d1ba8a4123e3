/* SPDX-License-Identifier: Apache-2.0 */
#include "disruption.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "select.h"

/* A LabelSelector on a pod's labels. An empty selector selects every pod of the namespace (policy/v1). */
static int selects(json_object *sel, json_object *pod)
{
  return kl_label_selector_matches(sel, ferry_kube_obj(pod, "metadata.labels"));
}

static int ready(json_object *pod)
{
  json_object *st, *conds;
  if (ferry_kube_str(pod, "metadata.deletionTimestamp") || !json_object_object_get_ex(pod, "status", &st) ||
      !json_object_object_get_ex(st, "conditions", &conds) || !json_object_is_type(conds, json_type_array))
    return 0;
  for (size_t i = 0; i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (!strcmp(ferry_kube_str(c, "type") ?: "", "Ready"))
      return !strcmp(ferry_kube_str(c, "status") ?: "", "True");
  }
  return 0;
}

/* An IntOrString: a number, or a percentage of total rounded up (as the disruption controller). */
static long scaled(json_object *v, long total)
{
  if (json_object_is_type(v, json_type_string)) {
    const char *s = json_object_get_string(v);
    if (s[0] && s[strlen(s) - 1] == '%')
      return (long)ceil((double)atol(s) * (double)total / 100.0);
    return atol(s);
  }
  return json_object_get_int(v);
}

int kl_eviction_blocked(json_object *pods, json_object *pdbs, json_object *pod, char *why, size_t why_len)
{
  const char *ns = ferry_kube_str(pod, "metadata.namespace") ?: "";
  if (!pdbs || !ready(pod)) /* a pod that is not ready does not count against a budget */
    return 0;
  json_object_object_foreach(pdbs, key, pdb)
  {
    (void)key;
    json_object *spec, *sel = NULL, *min = NULL, *max = NULL;
    if (strcmp(ferry_kube_str(pdb, "metadata.namespace") ?: "", ns) != 0 ||
        !json_object_object_get_ex(pdb, "spec", &spec))
      continue;
    json_object_object_get_ex(spec, "selector", &sel);
    if (!selects(sel, pod))
      continue;
    long expected = 0, healthy = 0;
    json_object_object_foreach(pods, k2, p)
    {
      (void)k2;
      if (strcmp(ferry_kube_str(p, "metadata.namespace") ?: "", ns) != 0 || !selects(sel, p))
        continue;
      const char *phase = ferry_kube_str(p, "status.phase") ?: "";
      if (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))
        continue;
      expected++;
      healthy += ready(p);
    }
    long desired;
    if (json_object_object_get_ex(spec, "minAvailable", &min))
      desired = scaled(min, expected);
    else if (json_object_object_get_ex(spec, "maxUnavailable", &max))
      desired = expected - scaled(max, expected);
    else
      desired = expected; /* neither: no disruption allowed */
    long allowed = healthy - desired;
    if (allowed < 1) {
      snprintf(why, why_len,
               "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget %s needs %ld "
               "healthy pods and has %ld currently",
               ferry_kube_str(pdb, "metadata.name") ?: "", desired, healthy);
      return 1;
    }
  }
  return 0;
}
