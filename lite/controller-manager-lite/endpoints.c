/* SPDX-License-Identifier: Apache-2.0 */
/* Services with a selector: their EndpointSlice (SERVICE-kcm, labels
 * kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by) and
 * Endpoints (SERVICE) list the matching pods that have an address, with their
 * readiness (ready pods in addresses, the others in notReadyAddresses), as the
 * EndpointSlice and Endpoints controllers keep them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcm.h"
#include "base/log.h"
#include "base/util.h"

static json_object *ports_of(json_object *svc, int for_slice)
{
  json_object *out = json_object_new_array(), *ports = kcm_get(kcm_get(svc, "spec"), "ports");
  for (size_t i = 0; ports && i < json_object_array_length(ports); i++) {
    json_object *p = json_object_array_get_idx(ports, i), *o = json_object_new_object();
    json_object *tp = kcm_get(p, "targetPort"), *port = kcm_get(p, "port");
    int number = tp && json_object_is_type(tp, json_type_int) ? json_object_get_int(tp)
                 : port                                       ? json_object_get_int(port)
                                                              : 0;
    if (kcm_str(p, "name"))
      json_object_object_add(o, "name", json_object_new_string(kcm_str(p, "name")));
    json_object_object_add(o, "port", json_object_new_int(number));
    json_object_object_add(o, "protocol", json_object_new_string(kcm_str(p, "protocol") ?: "TCP"));
    (void)for_slice;
    json_object_array_add(out, o);
  }
  return out;
}

static void upsert(struct kcm *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                   json_object *obj)
{
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_status st = { 0 };
  if (ferry_kube_create(k->kube, r, ns, obj, NULL, &st, &err) == 0)
    return;
  ferry_error_clear(&err);
  if (st.code == 409 &&
      ferry_kube_patch(k->kube, r, ns, name, FERRY_PATCH_MERGE,
                       json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN), NULL, NULL, NULL, &err) == 0)
    return;
  log_warn("%s %s/%s: %s", r->plural, ns, name, ferry_error_msg(&err));
  ferry_error_clear(&err);
}

int kcm_endpoints(struct kcm *k)
{
  json_object *svcs = kcm_list(k->services), *pods = kcm_list(k->pods);
  int writes = 0;
  for (size_t i = 0; i < json_object_array_length(svcs); i++) {
    json_object *svc = json_object_array_get_idx(svcs, i), *sel = kcm_get(kcm_get(svc, "spec"), "selector");
    const char *ns = kcm_str(svc, "metadata.namespace"), *name = kcm_str(svc, "metadata.name") ?: "";
    if (!sel || json_object_object_length(sel) == 0)
      continue; /* no selector: its endpoints are someone else's */
    json_object *eps = json_object_new_array(), *addrs = json_object_new_array(), *unready = json_object_new_array();
    for (size_t j = 0; j < json_object_array_length(pods); j++) {
      json_object *p = json_object_array_get_idx(pods, j);
      const char *ip = kcm_str(p, "status.podIP");
      if (strcmp(kcm_str(p, "metadata.namespace") ?: "", ns) != 0 || !ip || !*ip || !kcm_selector_matches(sel, p) ||
          !strcmp(kcm_str(p, "status.phase") ?: "", "Succeeded") || !strcmp(kcm_str(p, "status.phase") ?: "", "Failed"))
        continue;
      int terminating = kcm_str(p, "metadata.deletionTimestamp") != NULL, ready = kcm_pod_ready(p) && !terminating;
      char *e = ferry_asprintf(
          "{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":%s,\"serving\":%s,\"terminating\":%s},"
          "\"nodeName\":\"%s\",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"%s\",\"name\":\"%s\","
          "\"uid\":\"%s\"}}",
          ip, ready ? "true" : "false", kcm_pod_ready(p) ? "true" : "false", terminating ? "true" : "false",
          kcm_str(p, "spec.nodeName") ?: "", ns, kcm_str(p, "metadata.name"), kcm_str(p, "metadata.uid") ?: "");
      json_object_array_add(eps, json_tokener_parse(e));
      free(e);
      char *a = ferry_asprintf(
          "{\"ip\":\"%s\",\"nodeName\":\"%s\",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"%s\",\"name\":\"%s\"}}",
          ip, kcm_str(p, "spec.nodeName") ?: "", ns, kcm_str(p, "metadata.name"));
      json_object_array_add(ready ? addrs : unready, json_tokener_parse(a));
      free(a);
    }
    char *sname = ferry_asprintf("%s-kcm", name);
    json_object *have = ferry_informer_get(k->slices, ns, sname);
    if (!have || !json_object_equal(kcm_get(have, "endpoints"), eps)) {
      json_object *slice = json_object_new_object(), *meta = json_object_new_object(),
                  *labels = json_object_new_object();
      json_object_object_add(slice, "apiVersion", json_object_new_string("discovery.k8s.io/v1"));
      json_object_object_add(slice, "kind", json_object_new_string("EndpointSlice"));
      json_object_object_add(meta, "name", json_object_new_string(sname));
      json_object_object_add(meta, "namespace", json_object_new_string(ns));
      json_object_object_add(labels, "kubernetes.io/service-name", json_object_new_string(name));
      json_object_object_add(labels, "endpointslice.kubernetes.io/managed-by",
                             json_object_new_string("endpointslice-controller.k8s.io"));
      json_object_object_add(meta, "labels", labels);
      json_object_object_add(slice, "metadata", meta);
      json_object_object_add(slice, "addressType", json_object_new_string("IPv4"));
      json_object_object_add(slice, "endpoints", json_object_get(eps));
      json_object_object_add(slice, "ports", ports_of(svc, 1));
      upsert(k, &FERRY_KUBE_ENDPOINTSLICES, ns, sname, slice);
      json_object_put(slice);
      json_object *ep = json_object_new_object(), *em = json_object_new_object(), *subsets = json_object_new_array();
      json_object_object_add(ep, "apiVersion", json_object_new_string("v1"));
      json_object_object_add(ep, "kind", json_object_new_string("Endpoints"));
      json_object_object_add(em, "name", json_object_new_string(name));
      json_object_object_add(em, "namespace", json_object_new_string(ns));
      json_object_object_add(ep, "metadata", em);
      if (json_object_array_length(addrs) || json_object_array_length(unready)) {
        json_object *sub = json_object_new_object();
        if (json_object_array_length(addrs))
          json_object_object_add(sub, "addresses", json_object_get(addrs));
        if (json_object_array_length(unready))
          json_object_object_add(sub, "notReadyAddresses", json_object_get(unready));
        json_object_object_add(sub, "ports", ports_of(svc, 0));
        json_object_array_add(subsets, sub);
      }
      json_object_object_add(ep, "subsets", subsets);
      upsert(k, &FERRY_KUBE_ENDPOINTS, ns, name, ep);
      json_object_put(ep);
      log_info("service %s/%s: %zu ready, %zu not ready", ns, name, json_object_array_length(addrs),
               json_object_array_length(unready));
      writes++;
    }
    free(sname);
    json_object_put(eps);
    json_object_put(addrs);
    json_object_put(unready);
  }
  json_object_put(svcs);
  json_object_put(pods);
  return writes;
}
