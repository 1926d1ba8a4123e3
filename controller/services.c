/* SPDX-License-Identifier: Apache-2.0 */
/* Services follow the pod. A Service with a selector needs nothing from Ferry:
 * the restored pod keeps the labels and the endpoints controller adds it once
 * it is Ready. A Service without a selector has endpoints someone wrote by hand
 * (EndpointSlices labelled kubernetes.io/service-name, and the Endpoints object
 * of the same name); Ferry rewrites the source address in them: not ready
 * before the freeze, the target's address once restored, ready again after a
 * rollback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "base/log.h"
#include "base/util.h"

enum svc_op { DRAIN, FOLLOW, UNDRAIN };

struct svc_job {
  struct ctl *c;
  const char *ns, *ip, *to_ip, *to_node;
  enum svc_op op;
  json_object *todo; /* [kind, object] pairs to write */
  int slices;        /* collecting EndpointSlices (else Endpoints) */
};

static int has_selector(struct ctl *c, const char *ns, const char *svc)
{
  json_object *s = svc ? ferry_informer_get(c->services, ns, svc) : NULL, *spec, *sel;
  if (!s) /* endpoints for a Service that does not exist: leave them alone */
    return 1;
  return json_object_object_get_ex(s, "spec", &spec) && json_object_object_get_ex(spec, "selector", &sel) &&
         json_object_is_type(sel, json_type_object) && json_object_object_length(sel) > 0;
}

static void set_bool(json_object *o, const char *k, int v) { json_object_object_add(o, k, json_object_new_boolean(v)); }

/* Rewrites one EndpointSlice copy; 1 when it changed. */
static int edit_slice(const struct svc_job *j, json_object *slice)
{
  json_object *eps;
  int changed = 0;
  if (!json_object_object_get_ex(slice, "endpoints", &eps) || !json_object_is_type(eps, json_type_array))
    return 0;
  for (size_t i = 0; i < json_object_array_length(eps); i++) {
    json_object *ep = json_object_array_get_idx(eps, i), *addrs, *cond;
    if (!json_object_object_get_ex(ep, "addresses", &addrs) || !json_object_is_type(addrs, json_type_array))
      continue;
    for (size_t k = 0; k < json_object_array_length(addrs); k++) {
      if (strcmp(json_object_get_string(json_object_array_get_idx(addrs, k)), j->ip) != 0)
        continue;
      if (!json_object_object_get_ex(ep, "conditions", &cond)) {
        cond = json_object_new_object();
        json_object_object_add(ep, "conditions", cond);
      }
      if (j->op == FOLLOW) {
        json_object_array_put_idx(addrs, k, json_object_new_string(j->to_ip));
        if (j->to_node)
          json_object_object_add(ep, "nodeName", json_object_new_string(j->to_node));
      }
      set_bool(cond, "ready", j->op != DRAIN);
      set_bool(cond, "serving", j->op != DRAIN);
      set_bool(cond, "terminating", j->op == DRAIN);
      changed = 1;
    }
  }
  return changed;
}

static json_object *take_address(json_object *list, const char *ip)
{
  for (size_t i = 0; list && i < json_object_array_length(list); i++) {
    json_object *a = json_object_array_get_idx(list, i);
    if (!strcmp(ferry_kube_str(a, "ip") ?: "", ip)) {
      json_object_get(a);
      json_object_array_del_idx(list, i, 1);
      return a;
    }
  }
  return NULL;
}

static json_object *array_field(json_object *o, const char *k)
{
  json_object *a;
  if (!json_object_object_get_ex(o, k, &a) || !json_object_is_type(a, json_type_array)) {
    a = json_object_new_array();
    json_object_object_add(o, k, a);
  }
  return a;
}

/* Rewrites one Endpoints copy; 1 when it changed. */
static int edit_endpoints(const struct svc_job *j, json_object *ep)
{
  json_object *subsets;
  int changed = 0;
  if (!json_object_object_get_ex(ep, "subsets", &subsets) || !json_object_is_type(subsets, json_type_array))
    return 0;
  for (size_t i = 0; i < json_object_array_length(subsets); i++) {
    json_object *s = json_object_array_get_idx(subsets, i);
    json_object *ready = array_field(s, "addresses"), *not_ready = array_field(s, "notReadyAddresses");
    json_object *a = take_address(ready, j->ip);
    if (!a)
      a = take_address(not_ready, j->ip);
    if (!a)
      continue;
    if (j->op == FOLLOW) {
      json_object_object_add(a, "ip", json_object_new_string(j->to_ip));
      if (j->to_node)
        json_object_object_add(a, "nodeName", json_object_new_string(j->to_node));
      json_object_object_del(a, "targetRef");
    }
    json_object_array_add(j->op == DRAIN ? not_ready : ready, a);
    changed = 1;
  }
  return changed;
}

static void collect(void *ctx, json_object *obj)
{
  struct svc_job *j = ctx;
  if (strcmp(ferry_kube_str(obj, "metadata.namespace") ?: "", j->ns) != 0)
    return;
  int slice = j->slices; /* list items carry no kind */
  const char *svc = slice ? NULL : ferry_kube_str(obj, "metadata.name");
  if (slice) {
    json_object *labels, *v;
    if (json_object_object_get_ex(json_object_object_get(obj, "metadata"), "labels", &labels) &&
        json_object_object_get_ex(labels, "kubernetes.io/service-name", &v))
      svc = json_object_get_string(v);
  }
  if (has_selector(j->c, j->ns, svc))
    return;
  json_object *copy = NULL;
  json_object_deep_copy(obj, &copy, NULL);
  if (slice ? edit_slice(j, copy) : edit_endpoints(j, copy)) {
    json_object_array_add(j->todo, json_object_new_string(slice ? "endpointslices" : "endpoints"));
    json_object_array_add(j->todo, copy);
  } else {
    json_object_put(copy);
  }
}

static int run(struct svc_job *j, json_object **touched, ferry_error *err)
{
  j->todo = json_object_new_array();
  j->slices = 1;
  ferry_informer_each(j->c->slices, collect, j);
  j->slices = 0;
  ferry_informer_each(j->c->endpoints, collect, j);
  if (touched)
    *touched = json_object_new_array();
  int rc = 0;
  for (size_t i = 0; rc == 0 && i + 1 < json_object_array_length(j->todo); i += 2) {
    const char *kind = json_object_get_string(json_object_array_get_idx(j->todo, i));
    json_object *obj = json_object_array_get_idx(j->todo, i + 1);
    const struct ferry_kube_resource *r =
        !strcmp(kind, "endpoints") ? &FERRY_KUBE_ENDPOINTS : &FERRY_KUBE_ENDPOINTSLICES;
    /* a conditional PUT: a 409 fails the reconcile and it runs again on fresh caches */
    rc = ferry_kube_update(j->c->kube, r, j->ns, obj, NULL, NULL, NULL, err);
    if (rc == 0 && touched) {
      char *entry = ferry_asprintf("%s/%s/%s %s", j->ns, kind, ferry_kube_str(obj, "metadata.name"),
                                   j->op == FOLLOW ? j->to_ip : j->ip);
      json_object_array_add(*touched, json_object_new_string(entry));
      free(entry);
    }
    if (rc == 0)
      log_info("%s %s/%s: %s%s%s",
               j->op == DRAIN    ? "drained"
               : j->op == FOLLOW ? "pointed"
                                 : "restored",
               kind, ferry_kube_str(obj, "metadata.name"), j->ip, j->op == FOLLOW ? " -> " : "",
               j->op == FOLLOW ? j->to_ip : "");
  }
  json_object_put(j->todo);
  return rc;
}

int svc_drain(struct ctl *c, const char *ns, const char *ip, json_object **touched, ferry_error *err)
{
  struct svc_job j = { c, ns, ip, NULL, NULL, DRAIN, NULL, 0 };
  return run(&j, touched, err);
}

int svc_follow(struct ctl *c, const char *ns, const char *from_ip, const char *to_ip, const char *to_node,
               json_object **touched, ferry_error *err)
{
  struct svc_job j = { c, ns, from_ip, to_ip, to_node, FOLLOW, NULL, 0 };
  return run(&j, touched, err);
}

int svc_undrain(struct ctl *c, const char *ns, const char *ip, ferry_error *err)
{
  struct svc_job j = { c, ns, ip, NULL, NULL, UNDRAIN, NULL, 0 };
  return run(&j, NULL, err);
}
