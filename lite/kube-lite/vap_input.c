/* SPDX-License-Identifier: Apache-2.0 */
/* The values a policy's expressions see, shaped as the API server hands them to
 * CEL: the objects as stored (null where there is none), the AdmissionRequest
 * with Go's omitempty (an empty subResource, namespace or name is absent, so
 * reading it is an error there too) and the namespace reduced to the fields the
 * API server exposes (null for cluster-scoped requests). */
#include <string.h>

#include "kube/kube.h"
#include "vap.h"

static const char *const OPERATIONS[] = {
  [KL_OP_CREATE] = "CREATE", [KL_OP_UPDATE] = "UPDATE", [KL_OP_DELETE] = "DELETE"
};
static const char *const OPTIONS[] = {
  [KL_OP_CREATE] = "CreateOptions", [KL_OP_UPDATE] = "UpdateOptions", [KL_OP_DELETE] = "DeleteOptions"
};

const char *kl_operation_name(enum kl_operation op) { return OPERATIONS[op]; }

static void add_str(json_object *o, const char *key, const char *v)
{
  json_object_object_add(o, key, json_object_new_string(v));
}

static void add_if(json_object *o, const char *key, const char *v)
{
  if (v && *v)
    add_str(o, key, v);
}

static json_object *triple(const char *k1, const char *v1, const char *k2, const char *v2, const char *k3,
                           const char *v3)
{
  json_object *o = json_object_new_object();
  add_str(o, k1, v1);
  add_str(o, k2, v2);
  add_str(o, k3, v3);
  return o;
}

static json_object *request(const struct kl_admission *a)
{
  json_object *o = json_object_new_object(), *opts = json_object_new_object();
  json_object_object_add(o, "kind", triple("group", a->kind_group, "version", a->kind_version, "kind", a->kind));
  json_object_object_add(o, "resource",
                         triple("group", a->r->group, "version", a->r->version, "resource", a->r->plural));
  add_if(o, "subResource", a->subresource);
  json_object_object_add(o, "requestKind", json_object_get(json_object_object_get(o, "kind")));
  json_object_object_add(o, "requestResource", json_object_get(json_object_object_get(o, "resource")));
  add_if(o, "requestSubResource", a->subresource);
  add_if(o, "name", a->name);
  add_if(o, "namespace", a->ns);
  add_str(o, "operation", kl_operation_name(a->op));
  json_object_object_add(o, "userInfo", kl_user_info(a->user));
  json_object_object_add(o, "dryRun", json_object_new_boolean(a->dry_run));
  add_str(opts, "kind", OPTIONS[a->op]);
  add_str(opts, "apiVersion", "meta.k8s.io/v1");
  if (a->dry_run) {
    json_object *d = json_object_new_array();
    json_object_array_add(d, json_object_new_string("All"));
    json_object_object_add(opts, "dryRun", d);
  }
  json_object_object_add(o, "options", opts);
  return o;
}

/* CreateNamespaceObject: metadata's own fields (no managedFields, ownerReferences), spec, status. */
static json_object *namespace_object(struct kl_store *s, const struct kl_admission *a)
{
  static const char *const meta_fields[] = { "name",
                                             "generateName",
                                             "namespace",
                                             "uid",
                                             "resourceVersion",
                                             "generation",
                                             "creationTimestamp",
                                             "deletionTimestamp",
                                             "deletionGracePeriodSeconds",
                                             "labels",
                                             "annotations",
                                             "finalizers" };
  json_object *ns = NULL, *m, *v;
  if (!a->ns[0] || (!a->r->group[0] && !strcmp(a->r->plural, "namespaces")) ||
      !json_object_object_get_ex(kl_store_kind(s, "/namespaces"), a->ns, &ns))
    return NULL;
  json_object *o = json_object_new_object(), *meta = json_object_new_object();
  m = ferry_kube_obj(ns, "metadata");
  for (size_t i = 0; m && i < sizeof meta_fields / sizeof meta_fields[0]; i++)
    if (json_object_object_get_ex(m, meta_fields[i], &v))
      json_object_object_add(meta, meta_fields[i], json_object_get(v));
  json_object_object_add(o, "metadata", meta);
  json_object_object_add(o, "spec", json_object_get(ferry_kube_obj(ns, "spec")) ?: json_object_new_object());
  json_object_object_add(o, "status", json_object_get(ferry_kube_obj(ns, "status")) ?: json_object_new_object());
  return o;
}

json_object *kl_vap_input(struct kl_store *s, const struct kl_admission *a)
{
  json_object *in = json_object_new_object();
  json_object_object_add(in, "object", json_object_get(a->object));
  json_object_object_add(in, "oldObject", json_object_get(a->old_object));
  json_object_object_add(in, "request", request(a));
  json_object_object_add(in, "namespaceObject", namespace_object(s, a));
  return in;
}
