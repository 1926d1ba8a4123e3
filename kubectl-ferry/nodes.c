/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl ferry nodes [NODE...]: each node's ferry-agent as its Lease tells it
 * (agent/daemon/node.c: Leases labelled app.kubernetes.io/name=ferry and
 * app.kubernetes.io/component=agent, in the agents' namespace): ready when the
 * Lease was renewed within its leaseDurationSeconds (the agent's default is
 * the controller's default --agent-stale-seconds, 40 s); the node check
 * (ferry.dev/node-check: CRIU and runc versions, the strategies it can run
 * and why not, non-root containers), "unknown" without one; the load
 * (ferry.dev/load), post-copy support and threshold, the image store's space;
 * and the migrations running from or to the node. One JSON summary a node is
 * built first ({metadata: {name}, agent, nodeCheck, load, ...}); the table
 * and -o json|yaml|name are printed from it. */
#include <string.h>

#include "kubectl_ferry.h"
#include "api/threshold.h"
#include "base/cleanup.h"
#include "base/util.h"

#define ANN_NODE_CHECK "ferry.dev/node-check" /* JSON, written by the agent's node check */
#define AGENT_SELECTOR "app.kubernetes.io/name=ferry,app.kubernetes.io/component=agent"
#define DEFAULT_LEASE_S 40

static const char *const strategies[] = { "stopAndCopy", "preCopy", "postCopy" };

static json_object *annotation(json_object *obj, const char *key)
{
  return ferry_kube_key(ferry_kube_obj(obj, "metadata.annotations"), key);
}

/* An annotation holding JSON, parsed (new reference), or NULL. */
static json_object *json_annotation(json_object *lease, const char *key)
{
  json_object *v = annotation(lease, key);
  json_object *parsed =
      v && json_object_is_type(v, json_type_string) ? json_tokener_parse(json_object_get_string(v)) : NULL;
  if (parsed && !json_object_is_type(parsed, json_type_object)) {
    json_object_put(parsed);
    return NULL;
  }
  return parsed;
}

/* The node's agent Lease (borrowed) among leases: held by the node, or named after it. */
static json_object *lease_of(json_object *leases, const char *node)
{
  char name[300];
  snprintf(name, sizeof name, "%s%s", FERRY_AGENT_LEASE_PREFIX, node);
  for (size_t i = 0; i < json_object_array_length(leases); i++) {
    json_object *l = json_object_array_get_idx(leases, i);
    if (!strcmp(ferry_kube_str(l, "spec.holderIdentity") ?: "", node) ||
        !strcmp(ferry_kube_str(l, "metadata.name") ?: "", name))
      return l;
  }
  return NULL;
}

static json_object *agent_summary(json_object *lease, int64_t now)
{
  json_object *a = json_object_new_object();
  int64_t renewed = ferry_parse_time_ms(ferry_kube_str(lease, "spec.renewTime"));
  json_object *d = ferry_kube_obj(lease, "spec.leaseDurationSeconds");
  int64_t duration = d ? json_object_get_int64(d) : DEFAULT_LEASE_S;
  json_object_object_add(a, "ready", json_object_new_boolean(renewed > 0 && now - renewed <= duration * 1000));
  if (!lease)
    return a;
  cleanup_free char *ref =
      ferry_asprintf("%s/%s", ferry_kube_str(lease, "metadata.namespace"), ferry_kube_str(lease, "metadata.name"));
  json_object_object_add(a, "lease", json_object_new_string(ref));
  json_object_object_add(a, "renewTime", json_object_new_string(ferry_kube_str(lease, "spec.renewTime") ?: ""));
  json_object_object_add(a, "leaseDurationSeconds", json_object_new_int64(duration));
  return a;
}

static void add_if(json_object *o, const char *key, json_object *v)
{
  if (v)
    json_object_object_add(o, key, v);
}

/* Active migrations from or to node. */
static int running_on(json_object *pms, const char *node)
{
  int n = 0;
  for (size_t i = 0; i < json_object_array_length(pms); i++) {
    json_object *pm = json_object_array_get_idx(pms, i);
    if (pm_phase_is_active(pm_phase(pm)) && (!strcmp(ferry_kube_str(pm, "status.sourceNode") ?: "", node) ||
                                             !strcmp(ferry_kube_str(pm, "status.targetNode") ?: "", node)))
      n++;
  }
  return n;
}

static json_object *node_summary(const char *node, json_object *lease, json_object *pms, int64_t now)
{
  json_object *o = json_object_new_object(), *meta = json_object_new_object();
  json_object_object_add(meta, "name", json_object_new_string(node));
  json_object_object_add(o, "metadata", meta);
  json_object_object_add(o, "agent", agent_summary(lease, now));
  add_if(o, "nodeCheck", json_annotation(lease, ANN_NODE_CHECK));
  json_object *support = annotation(lease, FERRY_ANN_POSTCOPY_SUPPORT);
  add_if(o, "postcopySupport", support ? json_object_get(support) : NULL);
  json_object *threshold = annotation(lease, FERRY_ANN_POSTCOPY_THRESHOLD);
  struct ferry_postcopy_threshold t;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (threshold && ferry_postcopy_threshold_parse(json_object_get_string(threshold), &t, &err) == 0)
    json_object_object_add(o, "postcopyThresholdBytes", json_object_new_int64(t.bytes));
  add_if(o, "load", json_annotation(lease, FERRY_ANN_LOAD));
  add_if(o, "store", json_annotation(lease, FERRY_ANN_STORE));
  json_object_object_add(o, "migrationsRunning", json_object_new_int(running_on(pms, node)));
  return o;
}

/* ---------- the table, from the summaries ---------- */

static const char *check_str(json_object *s, const char *path)
{
  return ferry_kube_str(ferry_kube_obj(s, "nodeCheck"), path) ?: "unknown";
}

static int check_ok(json_object *check)
{
  json_object *ok = ferry_kube_obj(check, "ok");
  return ok && json_object_get_boolean(ok);
}

/* The strategies the node check says it can run: "stopAndCopy,postCopy", "none" or "unknown". */
static void strategies_ok(json_object *s, char *buf, size_t len)
{
  json_object *st = ferry_kube_obj(s, "nodeCheck.strategies");
  size_t used = 0;
  snprintf(buf, len, "%s", st ? "none" : "unknown");
  for (size_t i = 0; st && i < sizeof strategies / sizeof *strategies; i++)
    if (check_ok(ferry_kube_key(st, strategies[i])) && used < len)
      used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "", strategies[i]);
}

/* Why what cannot run cannot: "postCopy: REASON; nonRootContainers: REASON". */
static void not_available(json_object *s, char *buf, size_t len)
{
  json_object *check = ferry_kube_obj(s, "nodeCheck"), *st = ferry_kube_obj(check, "strategies");
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; st && i < sizeof strategies / sizeof *strategies; i++) {
    json_object *c = ferry_kube_key(st, strategies[i]);
    if (c && !check_ok(c) && used < len)
      used += (size_t)snprintf(buf + used, len - used, "%s%s: %s", used ? "; " : "", strategies[i],
                               ferry_kube_str(c, "reason") ?: "?");
  }
  json_object *nonroot = ferry_kube_obj(check, "nonRootContainers");
  if (nonroot && !check_ok(nonroot) && used < len)
    used += (size_t)snprintf(buf + used, len - used, "%snonRootContainers: %s", used ? "; " : "",
                             ferry_kube_str(nonroot, "reason") ?: "?");
  const char *support = ferry_kube_str(s, "postcopySupport");
  if (!st && support && strcmp(support, "ok") != 0 && used < len)
    snprintf(buf + used, len - used, "%spostCopy: %s", used ? "; " : "", support);
}

static void percent_of(json_object *s, const char *path, char *buf, size_t len)
{
  json_object *v = ferry_kube_obj(s, path);
  if (v)
    snprintf(buf, len, "%d%%", (int)(json_object_get_double(v) * 100 + 0.5));
  else
    snprintf(buf, len, "-");
}

static void bytes_of(json_object *s, const char *path, char *buf, size_t len)
{
  json_object *v = ferry_kube_obj(s, path);
  if (v)
    ferry_format_bytes(json_object_get_int64(v), buf, len);
  else
    snprintf(buf, len, "-");
}

static void table_row(struct kf_table *t, json_object *s)
{
  json_object *lease = ferry_kube_obj(s, "agent.lease"), *ready = ferry_kube_obj(s, "agent.ready");
  json_object *nonroot = ferry_kube_obj(s, "nodeCheck.nonRootContainers");
  char strat[64], cpu[8], mem[8], running[16], threshold[32], store[32], why[1024];
  strategies_ok(s, strat, sizeof strat);
  percent_of(s, "load.cpu", cpu, sizeof cpu);
  percent_of(s, "load.memory", mem, sizeof mem);
  snprintf(running, sizeof running, "%d", json_object_get_int(ferry_kube_obj(s, "migrationsRunning")));
  bytes_of(s, "postcopyThresholdBytes", threshold, sizeof threshold);
  bytes_of(s, "store.freeBytes", store, sizeof store);
  not_available(s, why, sizeof why);
  const char *cells[] = {
    ferry_kube_str(s, "metadata.name"),
    !lease                           ? "None"
    : json_object_get_boolean(ready) ? "Ready"
                                     : "NotReady",
    check_str(s, "criu"),
    check_str(s, "runc"),
    strat,
    cpu,
    mem,
    running,
    !nonroot            ? "unknown"
    : check_ok(nonroot) ? "yes"
                        : "no",
    threshold,
    store,
    why,
  };
  kf_table_add(t, cells); /* the table's width cuts the wide columns off */
}

static void print_table(json_object *summaries, int wide)
{
  static const char *const header[] = { "NODE",       "AGENT",        "CRIU",       "RUNC",     "STRATEGIES",
                                        "CPU",        "MEMORY",       "MIGRATIONS", "NON-ROOT", "POSTCOPY-ABOVE",
                                        "STORE-FREE", "NOT-AVAILABLE" };
  enum { NARROW = 8, WIDE = 12 };
  cleanup_table struct kf_table *t = kf_table_new(wide ? WIDE : NARROW);
  kf_table_add(t, header);
  for (size_t i = 0; i < json_object_array_length(summaries); i++)
    table_row(t, json_object_array_get_idx(summaries, i));
  kf_table_print(t, stdout);
}

/* ---------- reading ---------- */

static int list(const struct kf_env *e, const struct ferry_kube_resource *r, const char *selector, json_object **out)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_kube_list(e->k, r, NULL, selector, NULL, 500, out, NULL, &err) == 0)
    return 0;
  kf_api_error(NULL, &err);
  return -1;
}

/* The named nodes are there (said when not). */
static int named_exist(json_object *nodes, char **names, int n)
{
  int rc = 0;
  for (int i = 0; i < n; i++) {
    int found = 0;
    for (size_t j = 0; j < json_object_array_length(nodes) && !found; j++)
      found = !strcmp(ferry_kube_str(json_object_array_get_idx(nodes, j), "metadata.name") ?: "", names[i]);
    if (!found) {
      fprintf(stderr, "Error from server (NotFound): nodes \"%s\" not found\n", names[i]);
      rc = -1;
    }
  }
  return rc;
}

static int wanted(const char *node, char **names, int n)
{
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], node))
      return 1;
  return !n;
}

int kf_nodes(const struct kf_env *e, const struct kf_opts *o)
{
  cleanup_json json_object *nodes = NULL, *leases = NULL, *pms = NULL;
  if (list(e, &FERRY_KUBE_NODES, NULL, &nodes) < 0 || list(e, &FERRY_KUBE_LEASES, AGENT_SELECTOR, &leases) < 0 ||
      list(e, &FERRY_KUBE_PODMIGRATIONS, NULL, &pms) < 0 || named_exist(nodes, o->args, o->nargs) < 0)
    return 1;
  cleanup_json json_object *summaries = json_object_new_array();
  int64_t now = ferry_now_real_ms();
  for (size_t i = 0; i < json_object_array_length(nodes); i++) {
    const char *node = ferry_kube_str(json_object_array_get_idx(nodes, i), "metadata.name") ?: "";
    if (wanted(node, o->args, o->nargs))
      json_object_array_add(summaries, node_summary(node, lease_of(leases, node), pms, now));
  }
  if (o->output != KF_OUT_TABLE && o->output != KF_OUT_WIDE)
    return kf_print_items(summaries, o->nargs == 1, "node", o->output, stdout) < 0 ? 1 : 0;
  print_table(summaries, o->output == KF_OUT_WIDE);
  return 0;
}
