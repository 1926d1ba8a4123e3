/* SPDX-License-Identifier: Apache-2.0 */
/* Pods, Nodes and agents' load reports turned into the rebalancer's structs
 * (json.h): labels, requests, extended resources, and the affinity terms with
 * the API's rules for them (weights 1..100, the operators each selector
 * allows, their values). */
#include "rebalance/json.h"

#include <string.h>

#include "api/podmigration.h"
#include "kube/kube.h"
#include "kube/quantity.h"

#define MILLI 1000
#define WEIGHT_MIN 1
#define WEIGHT_MAX 100
#define KUBERNETES_IO_PREFIX "kubernetes.io/"

static size_t len_of(json_object *array)
{
  return json_object_is_type(array, json_type_array) ? json_object_array_length(array) : 0;
}

static size_t keys_of(json_object *o)
{
  return json_object_is_type(o, json_type_object) ? (size_t)json_object_object_length(o) : 0;
}

static const struct rb_label *labels_of(struct rb_arena *a, json_object *obj, size_t *n)
{
  *n = keys_of(obj);
  struct rb_label *v = rb_arena_alloc(a, (*n + 1) * sizeof *v);
  size_t i = 0;
  if (*n) {
    json_object_object_foreach(obj, k, val)
    {
      v[i].key = k;
      v[i++].value = json_object_get_string(val);
    }
  }
  *n = i;
  return v;
}

/* ---------- selectors ---------- */

static const char *const OP_NAME[] = {
  [RB_OP_IN] = "In", [RB_OP_NOT_IN] = "NotIn", [RB_OP_EXISTS] = "Exists", [RB_OP_DOES_NOT_EXIST] = "DoesNotExist",
  [RB_OP_GT] = "Gt", [RB_OP_LT] = "Lt",
};

static int parse_op(const char *s, int node_ops, enum rb_op *out)
{
  int last = node_ops ? RB_OP_LT : RB_OP_DOES_NOT_EXIST;
  for (int op = 0; s && op <= last; op++)
    if (!strcmp(s, OP_NAME[op])) {
      *out = (enum rb_op)op;
      return 0;
    }
  return -1;
}

static int values_ok(const struct rb_requirement *r)
{
  switch (r->op) {
  case RB_OP_IN:
  case RB_OP_NOT_IN:
    return r->n_values > 0;
  case RB_OP_EXISTS:
  case RB_OP_DOES_NOT_EXIST:
    return r->n_values == 0;
  case RB_OP_GT:
  case RB_OP_LT:
    return r->n_values == 1;
  }
  return 0;
}

static int parse_requirement(struct rb_arena *a, json_object *e, int node_ops, int field, struct rb_requirement *r,
                             ferry_error *err)
{
  const char *op = ferry_kube_str(e, "operator");
  r->key = ferry_kube_str(e, "key");
  r->field = field;
  if (!r->key || !*r->key)
    return ferry_error_set(err, 0, "a requirement has no key");
  if (parse_op(op, node_ops, &r->op) < 0)
    return ferry_error_set(err, 0, "%s: operator %s is not one of In, NotIn, Exists, DoesNotExist%s", r->key,
                           op ? op : "(none)", node_ops ? ", Gt, Lt" : "");
  json_object *values = ferry_kube_obj(e, "values");
  r->n_values = len_of(values);
  const char **v = rb_arena_alloc(a, (r->n_values + 1) * sizeof *v);
  for (size_t i = 0; i < r->n_values; i++)
    v[i] = json_object_get_string(json_object_array_get_idx(values, i));
  r->values = v;
  if (!values_ok(r))
    return ferry_error_set(err, 0, "%s %s: %zu values", r->key, OP_NAME[r->op], r->n_values);
  return 0;
}

/* matchLabels (In with one value) and matchExpressions. A missing selector
 * matches no pod: one In without values. */
static int parse_label_selector(struct rb_arena *a, json_object *sel, struct rb_selector *out, ferry_error *err)
{
  json_object *ml = ferry_kube_obj(sel, "matchLabels"), *me = ferry_kube_obj(sel, "matchExpressions");
  size_t n_ml = keys_of(ml);
  size_t n = n_ml + len_of(me), i = 0;
  struct rb_requirement *reqs = rb_arena_alloc(a, (n + 1) * sizeof *reqs);
  out->reqs = reqs;
  if (!sel) {
    reqs[0] = (struct rb_requirement){ "", RB_OP_IN, NULL, 0, 0 };
    out->n = 1;
    return 0;
  }
  if (n_ml) {
    json_object_object_foreach(ml, k, v)
    {
      const char **value = rb_arena_alloc(a, sizeof *value);
      value[0] = json_object_get_string(v);
      reqs[i++] = (struct rb_requirement){ k, RB_OP_IN, value, 1, 0 };
    }
  }
  for (size_t k = 0; k < len_of(me); k++)
    if (parse_requirement(a, json_object_array_get_idx(me, k), 0, 0, &reqs[i++], err) < 0)
      return -1;
  out->n = i;
  return 0;
}

/* A nodeSelectorTerm: matchExpressions on labels, matchFields on metadata.name. */
static int parse_node_selector_term(struct rb_arena *a, json_object *term, struct rb_selector *out, ferry_error *err)
{
  json_object *me = ferry_kube_obj(term, "matchExpressions"), *mf = ferry_kube_obj(term, "matchFields");
  size_t i = 0;
  struct rb_requirement *reqs = rb_arena_alloc(a, (len_of(me) + len_of(mf) + 1) * sizeof *reqs);
  for (size_t k = 0; k < len_of(me); k++)
    if (parse_requirement(a, json_object_array_get_idx(me, k), 1, 0, &reqs[i++], err) < 0)
      return -1;
  for (size_t k = 0; k < len_of(mf); k++)
    if (parse_requirement(a, json_object_array_get_idx(mf, k), 1, 1, &reqs[i++], err) < 0)
      return -1;
  out->reqs = reqs;
  out->n = i;
  return 0;
}

static int parse_weight(json_object *item, int *out, ferry_error *err)
{
  json_object *w = ferry_kube_obj(item, "weight");
  *out = w ? json_object_get_int(w) : 0;
  if (*out < WEIGHT_MIN || *out > WEIGHT_MAX)
    return ferry_error_set(err, 0, "weight %d is not within %d..%d", *out, WEIGHT_MIN, WEIGHT_MAX);
  return 0;
}

/* ---------- affinity ---------- */

static int parse_node_preferred(struct rb_arena *a, json_object *list, struct rb_affinity *aff, ferry_error *err)
{
  size_t n = len_of(list);
  struct rb_node_term *v = rb_arena_alloc(a, (n + 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    json_object *item = json_object_array_get_idx(list, i);
    if (parse_weight(item, &v[i].weight, err) < 0 ||
        parse_node_selector_term(a, ferry_kube_obj(item, "preference"), &v[i].sel, err) < 0)
      return ferry_error_prefix(err, "nodeAffinity preferred term %zu", i);
  }
  aff->node_preferred = v;
  aff->n_node_preferred = n;
  return 0;
}

static int parse_pod_term(struct rb_arena *a, json_object *t, struct rb_pod_term *out, ferry_error *err)
{
  json_object *nss = ferry_kube_obj(t, "namespaces"), *nsel = ferry_kube_obj(t, "namespaceSelector");
  out->topology_key = ferry_kube_str(t, "topologyKey");
  if (!out->topology_key || !*out->topology_key)
    return ferry_error_set(err, 0, "no topologyKey");
  out->n_namespaces = len_of(nss);
  const char **v = rb_arena_alloc(a, (out->n_namespaces + 1) * sizeof *v);
  for (size_t i = 0; i < out->n_namespaces; i++)
    v[i] = json_object_get_string(json_object_array_get_idx(nss, i));
  out->namespaces = v;
  /* namespaceSelector {} selects every namespace; one with terms needs the
   * namespaces' labels, which the rebalancer does not have: the listed ones count */
  out->all_namespaces = json_object_is_type(nsel, json_type_object) && json_object_object_length(nsel) == 0;
  return parse_label_selector(a, ferry_kube_obj(t, "labelSelector"), &out->sel, err);
}

static int parse_pod_terms(struct rb_arena *a, json_object *list, int preferred, const struct rb_pod_term **out,
                           size_t *n_out, ferry_error *err)
{
  size_t n = len_of(list);
  struct rb_pod_term *v = rb_arena_alloc(a, (n + 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    json_object *item = json_object_array_get_idx(list, i);
    if (preferred && parse_weight(item, &v[i].weight, err) < 0)
      return ferry_error_prefix(err, "term %zu", i);
    if (parse_pod_term(a, preferred ? ferry_kube_obj(item, "podAffinityTerm") : item, &v[i], err) < 0)
      return ferry_error_prefix(err, "term %zu", i);
  }
  *out = v;
  *n_out = n;
  return 0;
}

#define PREFERRED "preferredDuringSchedulingIgnoredDuringExecution"
#define REQUIRED "requiredDuringSchedulingIgnoredDuringExecution"

static int parse_affinity(struct rb_arena *a, json_object *affinity, struct rb_affinity *aff, ferry_error *err)
{
  json_object *na = ferry_kube_obj(affinity, "nodeAffinity"), *pa = ferry_kube_obj(affinity, "podAffinity"),
              *anti = ferry_kube_obj(affinity, "podAntiAffinity");
  if (parse_node_preferred(a, ferry_kube_obj(na, PREFERRED), aff, err) < 0)
    return -1;
  if (parse_pod_terms(a, ferry_kube_obj(pa, PREFERRED), 1, &aff->pod_preferred, &aff->n_pod_preferred, err) < 0 ||
      parse_pod_terms(a, ferry_kube_obj(pa, REQUIRED), 0, &aff->pod_required, &aff->n_pod_required, err) < 0)
    return ferry_error_prefix(err, "podAffinity");
  if (parse_pod_terms(a, ferry_kube_obj(anti, PREFERRED), 1, &aff->anti_preferred, &aff->n_anti_preferred, err) < 0 ||
      parse_pod_terms(a, ferry_kube_obj(anti, REQUIRED), 0, &aff->anti_required, &aff->n_anti_required, err) < 0)
    return ferry_error_prefix(err, "podAntiAffinity");
  return 0;
}

/* ---------- resources ---------- */

/* Extended resources: fully qualified names outside kubernetes.io. */
static int extended(const char *name)
{
  return strchr(name, '/') && strncmp(name, KUBERNETES_IO_PREFIX, strlen(KUBERNETES_IO_PREFIX)) != 0;
}

static int64_t units(json_object *q)
{
  int64_t m = 0;
  ferry_error err = FERRY_ERROR_INIT;
  if (!q || ferry_quantity_milli(json_object_get_string(q), &m, &err) < 0)
    m = 0;
  ferry_error_clear(&err);
  return m / MILLI;
}

static void add_resource(struct rb_resource *v, size_t *n, const char *name, int64_t amount)
{
  for (size_t i = 0; i < *n; i++)
    if (!strcmp(v[i].name, name)) {
      v[i].amount += amount;
      return;
    }
  v[(*n)++] = (struct rb_resource){ name, amount };
}

/* The containers' extended resource requests, summed (limits when a container
 * gives no request: the API server defaults requests to limits). */
static void pod_ext(struct rb_arena *a, json_object *pod, struct rb_pod *out)
{
  json_object *cs = ferry_kube_obj(pod, "spec.containers");
  size_t most = 0;
  for (size_t i = 0; i < len_of(cs); i++) {
    json_object *r = ferry_kube_obj(json_object_array_get_idx(cs, i), "resources");
    most += keys_of(ferry_kube_obj(r, "requests")) + keys_of(ferry_kube_obj(r, "limits"));
  }
  struct rb_resource *v = rb_arena_alloc(a, (most + 1) * sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < len_of(cs); i++) {
    json_object *r = ferry_kube_obj(json_object_array_get_idx(cs, i), "resources");
    json_object *req = ferry_kube_obj(r, "requests"), *lim = ferry_kube_obj(r, "limits");
    if (json_object_is_type(req, json_type_object)) {
      json_object_object_foreach(req, k, q)
      {
        if (extended(k))
          add_resource(v, &n, k, units(q));
      }
    }
    if (json_object_is_type(lim, json_type_object)) {
      json_object_object_foreach(lim, k, q)
      {
        if (extended(k) && !ferry_kube_key(req, k))
          add_resource(v, &n, k, units(q));
      }
    }
  }
  out->ext = v;
  out->n_ext = n;
}

int rb_pod_from_json(struct rb_arena *a, json_object *pod, struct rb_pod *out, ferry_error *err)
{
  memset(out, 0, sizeof *out);
  json_object *meta = ferry_kube_obj(pod, "metadata");
  out->uid = ferry_kube_str(meta, "uid");
  out->ns = ferry_kube_str(meta, "namespace") ?: "default";
  out->name = ferry_kube_str(meta, "name") ?: "";
  out->node = ferry_kube_str(pod, "spec.nodeName");
  out->labels = labels_of(a, ferry_kube_obj(meta, "labels"), &out->n_labels);
  /* ferry_kube_key: the annotation's name holds a dot */
  json_object *ann = ferry_kube_key(ferry_kube_obj(meta, "annotations"), FERRY_ANN_MIGRATABLE);
  const char *migratable = ann ? json_object_get_string(ann) : NULL;
  int running = !strcmp(ferry_kube_str(pod, "status.phase") ?: "", "Running");
  out->allow = migratable && !strcmp(migratable, "true") && running ? RB_ALLOW_LOAD | RB_ALLOW_LOCALITY : 0;
  out->req_cpu_milli = placement_pod_request(pod, "cpu");
  out->req_mem_bytes = placement_pod_request(pod, "memory") / MILLI;
  pod_ext(a, pod, out);
  out->obj = pod;
  if (parse_affinity(a, ferry_kube_obj(pod, "spec.affinity"), &out->aff, err) < 0)
    return ferry_error_prefix(err, "pod %s/%s: spec.affinity", out->ns, out->name);
  return 0;
}

/* ---------- nodes ---------- */

static int node_ready(json_object *node)
{
  json_object *conds = ferry_kube_obj(node, "status.conditions");
  for (size_t i = 0; i < len_of(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (!strcmp(ferry_kube_str(c, "type") ?: "", "Ready"))
      return !strcmp(ferry_kube_str(c, "status") ?: "", "True");
  }
  return 0;
}

static json_object *resource_of(json_object *node, const char *name)
{
  return ferry_kube_key(ferry_kube_obj(node, "status.allocatable"), name)
             ?: ferry_kube_key(ferry_kube_obj(node, "status.capacity"), name);
}

int rb_node_from_json(struct rb_arena *a, json_object *node, struct rb_node *out, ferry_error *err)
{
  memset(out, 0, sizeof *out);
  out->name = ferry_kube_str(node, "metadata.name");
  if (!out->name || !*out->name)
    return ferry_error_set(err, 0, "a node without metadata.name");
  out->labels = labels_of(a, ferry_kube_obj(node, "metadata.labels"), &out->n_labels);
  json_object *u = ferry_kube_obj(node, "spec.unschedulable");
  out->schedulable = node_ready(node) && !(u && json_object_get_boolean(u));
  json_object *cpu = resource_of(node, "cpu");
  int64_t milli = 0;
  ferry_error qerr = FERRY_ERROR_INIT;
  if (cpu && ferry_quantity_milli(json_object_get_string(cpu), &milli, &qerr) == 0)
    out->cpus = (double)milli / MILLI;
  ferry_error_clear(&qerr);
  out->mem_total_bytes = units(resource_of(node, "memory"));
  json_object *alloc = ferry_kube_obj(node, "status.allocatable");
  size_t n = keys_of(alloc), k = 0;
  struct rb_resource *ext = rb_arena_alloc(a, (n + 1) * sizeof *ext);
  if (n) {
    json_object_object_foreach(alloc, name, q)
    {
      if (extended(name))
        ext[k++] = (struct rb_resource){ name, units(q) };
    }
  }
  out->ext = ext;
  out->n_ext = k;
  out->obj = node;
  return 0;
}

/* What the node's pods use (podsCpu cores, podsMemory bytes) over what the
 * node has, when the report and the node say both: the load the rebalancer
 * can move, and the one figure that tells nodes of one machine apart. */
static void pods_load(struct rb_node *n, json_object *report)
{
  json_object *v;
  if (n->cpus > 0 && json_object_object_get_ex(report, "podsCpu", &v))
    n->cpu = json_object_get_double(v) / n->cpus;
  if (n->mem_total_bytes > 0 && json_object_object_get_ex(report, "podsMemory", &v))
    n->memory = (double)json_object_get_int64(v) / (double)n->mem_total_bytes;
}

int rb_node_load_from_report(struct rb_node *n, const char *report, ferry_error *err)
{
  n->reported = 0;
  json_object *o = report ? json_tokener_parse(report) : NULL, *cpu, *mem, *cpus;
  if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "cpu", &cpu) ||
      !json_object_object_get_ex(o, "memory", &mem)) {
    json_object_put(o);
    return ferry_error_set(err, 0, "node %s: the load report is not an object with cpu and memory",
                           n->name ? n->name : "");
  }
  n->cpu = json_object_get_double(cpu);
  n->memory = json_object_get_double(mem);
  if (n->cpus <= 0 && json_object_object_get_ex(o, "cpus", &cpus) && json_object_get_double(cpus) > 0)
    n->cpus = json_object_get_double(cpus);
  pods_load(n, o);
  n->reported = 1;
  json_object_put(o);
  return 0;
}
