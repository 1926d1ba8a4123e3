/* SPDX-License-Identifier: Apache-2.0 */
#include "table.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kube/kube.h"
#include "base/util.h"

static json_object *printer_columns(json_object *crd, const char *version)
{
  json_object *spec, *versions;
  if (!json_object_object_get_ex(crd, "spec", &spec) || !json_object_object_get_ex(spec, "versions", &versions))
    return NULL;
  for (size_t i = 0; i < json_object_array_length(versions); i++) {
    json_object *v = json_object_array_get_idx(versions, i), *cols;
    if (!strcmp(ferry_kube_str(v, "name") ?: "", version) &&
        json_object_object_get_ex(v, "additionalPrinterColumns", &cols) && json_object_array_length(cols) > 0)
      return cols;
  }
  return NULL;
}

/* "5s", "3m", "2h", "4d", like kubectl's ages. */
static void age(const char *stamp, char *buf, size_t len)
{
  int64_t t = ferry_parse_time_ms(stamp);
  if (!t) {
    snprintf(buf, len, "<unknown>");
    return;
  }
  int64_t s = (ferry_now_real_ms() - t) / 1000;
  if (s < 0)
    s = 0;
  if (s < 120)
    snprintf(buf, len, "%llds", (long long)s);
  else if (s < 7200)
    snprintf(buf, len, "%lldm", (long long)(s / 60));
  else if (s < 172800)
    snprintf(buf, len, "%lldh", (long long)(s / 3600));
  else
    snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

/* A column's cell: its jsonPath (".a.b") read from obj, typed as the column says. */
static json_object *cell(json_object *col, json_object *obj)
{
  const char *path = ferry_kube_str(col, "jsonPath") ?: "", *type = ferry_kube_str(col, "type") ?: "string";
  json_object *cur = obj;
  char key[128];
  for (const char *p = path[0] == '.' ? path + 1 : path; cur && *p;) {
    const char *dot = strchr(p, '.');
    size_t l = dot ? (size_t)(dot - p) : strlen(p);
    if (l >= sizeof key)
      return NULL;
    memcpy(key, p, l);
    key[l] = '\0';
    if (!json_object_object_get_ex(cur, key, &cur))
      cur = NULL;
    p = dot ? dot + 1 : p + l;
  }
  if (!cur)
    return NULL; /* an absent value prints as <none> */
  if (!strcmp(type, "date")) {
    char a[32];
    age(json_object_get_string(cur), a, sizeof a);
    return json_object_new_string(a);
  }
  return json_object_get(cur);
}

/* A Table row: its cells (taken) and the object's metadata, as PartialObjectMetadata. */
static json_object *table_row(json_object *obj, json_object *cells)
{
  json_object *row = json_object_new_object(), *pom = json_object_new_object(), *m;
  json_object_object_add(row, "cells", cells);
  json_object_object_add(pom, "kind", json_object_new_string("PartialObjectMetadata"));
  json_object_object_add(pom, "apiVersion", json_object_new_string("meta.k8s.io/v1"));
  if (json_object_object_get_ex(obj, "metadata", &m))
    json_object_object_add(pom, "metadata", json_object_get(m));
  json_object_object_add(row, "object", pom);
  return row;
}

json_object *kl_table(json_object *crd, const char *version, json_object *items, const char *rv)
{
  json_object *cols = printer_columns(crd, version);
  if (!cols)
    return NULL;
  json_object *t = json_object_new_object(), *defs = json_object_new_array(), *rows = json_object_new_array();
  json_object_object_add(t, "kind", json_object_new_string("Table"));
  json_object_object_add(t, "apiVersion", json_object_new_string("meta.k8s.io/v1"));
  json_object *meta = json_object_new_object();
  json_object_object_add(meta, "resourceVersion", json_object_new_string(rv));
  json_object_object_add(t, "metadata", meta);
  json_object_array_add(defs, json_tokener_parse("{\"name\":\"Name\",\"type\":\"string\",\"format\":\"name\","
                                                 "\"description\":\"Name of the object\",\"priority\":0}"));
  for (size_t i = 0; i < json_object_array_length(cols); i++) {
    json_object *c = json_object_array_get_idx(cols, i), *d = json_object_new_object(), *pr;
    const char *type = ferry_kube_str(c, "type") ?: "string";
    json_object_object_add(d, "name", json_object_new_string(ferry_kube_str(c, "name") ?: ""));
    json_object_object_add(d, "type", json_object_new_string(!strcmp(type, "date") ? "string" : type));
    json_object_object_add(d, "format", json_object_new_string(ferry_kube_str(c, "format") ?: ""));
    json_object_object_add(d, "description", json_object_new_string(ferry_kube_str(c, "description") ?: ""));
    json_object_object_add(
        d, "priority",
        json_object_new_int(json_object_object_get_ex(c, "priority", &pr) ? json_object_get_int(pr) : 0));
    json_object_array_add(defs, d);
  }
  for (size_t r = 0; r < json_object_array_length(items); r++) {
    json_object *obj = json_object_array_get_idx(items, r), *cells = json_object_new_array();
    json_object_array_add(cells, json_object_new_string(ferry_kube_str(obj, "metadata.name") ?: ""));
    for (size_t i = 0; i < json_object_array_length(cols); i++)
      json_object_array_add(cells, cell(json_object_array_get_idx(cols, i), obj));
    json_object_array_add(rows, table_row(obj, cells));
  }
  json_object_object_add(t, "columnDefinitions", defs);
  json_object_object_add(t, "rows", rows);
  return t;
}

/* ---- built-in kinds: the columns the API server prints for them ---- */

static json_object *coldef(const char *name, const char *type, int priority, const char *desc)
{
  json_object *d = json_object_new_object();
  json_object_object_add(d, "name", json_object_new_string(name));
  json_object_object_add(d, "type", json_object_new_string(type));
  json_object_object_add(d, "format", json_object_new_string(!strcmp(name, "Name") ? "name" : ""));
  json_object_object_add(d, "description", json_object_new_string(desc));
  json_object_object_add(d, "priority", json_object_new_int(priority));
  return d;
}

static const char *cond_status(json_object *obj, const char *type)
{
  json_object *st, *conds;
  if (!json_object_object_get_ex(obj, "status", &st) || !json_object_object_get_ex(st, "conditions", &conds) ||
      !json_object_is_type(conds, json_type_array))
    return NULL;
  for (size_t i = 0; i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (!strcmp(ferry_kube_str(c, "type") ?: "", type))
      return ferry_kube_str(c, "status");
  }
  return NULL;
}

/* NAME READY STATUS RESTARTS AGE | IP NODE: STATUS as kubectl shows it (a
 * waiting or terminated container's reason, Terminating while deleting). */
static void pod_cells(json_object *obj, json_object *cells)
{
  json_object *spec, *st, *cs = NULL, *ctrs = NULL;
  int total = 0, ready = 0, restarts = 0;
  const char *reason = NULL;
  if (json_object_object_get_ex(obj, "spec", &spec) && json_object_object_get_ex(spec, "containers", &ctrs))
    total = (int)json_object_array_length(ctrs);
  if (json_object_object_get_ex(obj, "status", &st) && json_object_object_get_ex(st, "containerStatuses", &cs) &&
      json_object_is_type(cs, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(cs); i++) {
      json_object *c = json_object_array_get_idx(cs, i), *v;
      if (json_object_object_get_ex(c, "ready", &v) && json_object_get_boolean(v))
        ready++;
      if (json_object_object_get_ex(c, "restartCount", &v))
        restarts += json_object_get_int(v);
      const char *r = ferry_kube_str(c, "state.waiting.reason") ?: ferry_kube_str(c, "state.terminated.reason");
      if (r && !reason)
        reason = r;
    }
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%d/%d", ready, total);
  json_object_array_add(cells, json_object_new_string(buf));
  const char *status = ferry_kube_str(obj, "metadata.deletionTimestamp") ? "Terminating"
                       : reason                                           ? reason
                                                                          : ferry_kube_str(obj, "status.phase") ?: "Pending";
  json_object_array_add(cells, json_object_new_string(status));
  json_object_array_add(cells, json_object_new_int(restarts));
  age(ferry_kube_str(obj, "metadata.creationTimestamp") ?: "", buf, sizeof buf);
  json_object_array_add(cells, json_object_new_string(buf));
  json_object_array_add(cells, json_object_new_string(ferry_kube_str(obj, "status.podIP") ?: "<none>"));
  json_object_array_add(cells, json_object_new_string(ferry_kube_str(obj, "spec.nodeName") ?: "<none>"));
}

/* The node's first address of type (InternalIP, ExternalIP), "<none>" without one. */
static const char *node_address(json_object *obj, const char *type)
{
  json_object *addrs = ferry_kube_obj(obj, "status.addresses");
  for (size_t i = 0; addrs && json_object_is_type(addrs, json_type_array) && i < json_object_array_length(addrs); i++) {
    json_object *a = json_object_array_get_idx(addrs, i);
    if (!strcmp(ferry_kube_str(a, "type") ?: "", type))
      return ferry_kube_str(a, "address") ?: "<none>";
  }
  return "<none>";
}

static void add_str(json_object *cells, const char *s) { json_object_array_add(cells, json_object_new_string(s)); }

/* NAME STATUS ROLES AGE VERSION, and with -o wide INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME */
static void node_cells(json_object *obj, json_object *cells)
{
  const char *ready = cond_status(obj, "Ready");
  json_object *spec, *u;
  int cordoned = json_object_object_get_ex(obj, "spec", &spec) &&
                 json_object_object_get_ex(spec, "unschedulable", &u) && json_object_get_boolean(u);
  char buf[64];
  snprintf(buf, sizeof buf, "%s%s",
           ready && !strcmp(ready, "True") ? "Ready"
           : ready                         ? "NotReady"
                                           : "Unknown",
           cordoned ? ",SchedulingDisabled" : "");
  json_object_array_add(cells, json_object_new_string(buf));
  json_object_array_add(cells, json_object_new_string("<none>"));
  age(ferry_kube_str(obj, "metadata.creationTimestamp") ?: "", buf, sizeof buf);
  json_object_array_add(cells, json_object_new_string(buf));
  json_object_array_add(cells, json_object_new_string(ferry_kube_str(obj, "status.nodeInfo.kubeletVersion") ?: ""));
  add_str(cells, node_address(obj, "InternalIP"));
  add_str(cells, node_address(obj, "ExternalIP"));
  add_str(cells, ferry_kube_str(obj, "status.nodeInfo.osImage") ?: "<unknown>");
  add_str(cells, ferry_kube_str(obj, "status.nodeInfo.kernelVersion") ?: "<unknown>");
  add_str(cells, ferry_kube_str(obj, "status.nodeInfo.containerRuntimeVersion") ?: "<unknown>");
}

/* NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE */
static void daemonset_cells(json_object *obj, json_object *cells)
{
  static const char *const counts[] = { "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                        "updatedNumberScheduled", "numberAvailable" };
  json_object *st = NULL, *v, *spec, *sel = NULL;
  json_object_object_get_ex(obj, "status", &st);
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    json_object_array_add(
        cells, json_object_new_int(st && json_object_object_get_ex(st, counts[i], &v) ? json_object_get_int(v) : 0));
  char buf[256] = "";
  if (json_object_object_get_ex(obj, "spec", &spec) && json_object_object_get_ex(spec, "template", &v) &&
      json_object_object_get_ex(v, "spec", &v))
    json_object_object_get_ex(v, "nodeSelector", &sel);
  size_t l = 0;
  if (json_object_is_type(sel, json_type_object)) {
    json_object_object_foreach(sel, k, val)
    {
      if (l < sizeof buf)
        l += (size_t)snprintf(buf + l, sizeof buf - l, "%s%s=%s", l ? "," : "", k, json_object_get_string(val));
    }
  }
  json_object_array_add(cells, json_object_new_string(buf[0] ? buf : "<none>"));
  age(ferry_kube_str(obj, "metadata.creationTimestamp") ?: "", buf, sizeof buf);
  json_object_array_add(cells, json_object_new_string(buf));
}

json_object *kl_table_builtin(const char *group, const char *plural, json_object *items, const char *rv)
{
  void (*fill)(json_object *, json_object *);
  json_object *defs = json_object_new_array();
  json_object_array_add(defs, coldef("Name", "string", 0, "Name of the object"));
  if (!group[0] && !strcmp(plural, "pods")) {
    fill = pod_cells;
    json_object_array_add(
        defs, coldef("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."));
    json_object_array_add(defs, coldef("Status", "string", 0, "The aggregate status of the containers in this pod."));
    json_object_array_add(
        defs, coldef("Restarts", "integer", 0, "The number of times the containers in this pod have been restarted."));
    json_object_array_add(defs, coldef("Age", "string", 0, "CreationTimestamp"));
    json_object_array_add(defs, coldef("IP", "string", 1, "IP address allocated to the pod."));
    json_object_array_add(defs, coldef("Node", "string", 1, "Name of the node the pod is assigned to."));
  } else if (!group[0] && !strcmp(plural, "nodes")) {
    fill = node_cells;
    json_object_array_add(defs, coldef("Status", "string", 0, "The status of the node"));
    json_object_array_add(defs, coldef("Roles", "string", 0, "The roles of the node"));
    json_object_array_add(defs, coldef("Age", "string", 0, "CreationTimestamp"));
    json_object_array_add(defs, coldef("Version", "string", 0, "Kubelet Version reported by the node."));
    json_object_array_add(defs, coldef("Internal-IP", "string", 1, "List of internal IPs in the node."));
    json_object_array_add(defs, coldef("External-IP", "string", 1, "List of external IPs in the node."));
    json_object_array_add(defs, coldef("OS-Image", "string", 1,
                                       "OS image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 "
                                       "(wheezy))."));
    json_object_array_add(defs,
                          coldef("Kernel-Version", "string", 1,
                                 "Kernel version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."));
    json_object_array_add(defs, coldef("Container-Runtime", "string", 1,
                                       "Container runtime version reported by the node through runtime remote API "
                                       "(e.g. containerd://1.4.2)."));
  } else if (!strcmp(group, "apps") && !strcmp(plural, "daemonsets")) {
    static const char *const names[] = { "Desired", "Current", "Ready", "Up-to-date", "Available" };
    fill = daemonset_cells;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      json_object_array_add(defs, coldef(names[i], "integer", 0, "The number of nodes (status)"));
    json_object_array_add(defs, coldef("Node Selector", "string", 0, "The pod template's nodeSelector"));
    json_object_array_add(defs, coldef("Age", "string", 0, "CreationTimestamp"));
  } else {
    json_object_put(defs);
    return NULL;
  }
  json_object *t = json_object_new_object(), *rows = json_object_new_array(), *meta = json_object_new_object();
  json_object_object_add(t, "kind", json_object_new_string("Table"));
  json_object_object_add(t, "apiVersion", json_object_new_string("meta.k8s.io/v1"));
  json_object_object_add(meta, "resourceVersion", json_object_new_string(rv));
  json_object_object_add(t, "metadata", meta);
  for (size_t r = 0; r < json_object_array_length(items); r++) {
    json_object *obj = json_object_array_get_idx(items, r), *cells = json_object_new_array();
    json_object_array_add(cells, json_object_new_string(ferry_kube_str(obj, "metadata.name") ?: ""));
    fill(obj, cells);
    json_object_array_add(rows, table_row(obj, cells));
  }
  json_object_object_add(t, "columnDefinitions", defs);
  json_object_object_add(t, "rows", rows);
  return t;
}
