/* SPDX-License-Identifier: Apache-2.0 */
/* The node as the controller sees it through this agent: its agent Lease
 * (renewed with the node's load in an annotation, for placement, and the
 * post-copy threshold and support, for strategy auto, and the node check,
 * for the controller's refusals before a freeze) and the address other
 * nodes reach it on. */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "kube/kube.h"

/* A /proc file's text (caller frees), NULL when it cannot be read. */
static char *read_proc(const char *path)
{
  char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(path, &text, NULL, &err) < 0)
    return NULL;
  return text;
}

/* CPU use since the last call (0..1) from /proc/stat. */
static double cpu_use(struct daemon *d)
{
  cleanup_free char *text = read_proc("/proc/stat");
  double use = 0;
  unsigned long long v[8] = { 0 };
  if (text && sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                     &v[6], &v[7]) == 8) {
    unsigned long long total = 0, idle = v[3] + v[4];
    for (int i = 0; i < 8; i++)
      total += v[i];
    unsigned long long busy = total - idle;
    /* iowait (in idle) may go backwards: a busy delta larger than the total's
     * (seen: 14031x) is clamped to the whole machine, a negative one to 0 */
    if (d->cpu_total && total > d->cpu_total && busy >= d->cpu_busy) {
      use = (double)(busy - d->cpu_busy) / (double)(total - d->cpu_total);
      use = use > 1 ? 1 : use;
    }
    d->cpu_busy = busy;
    d->cpu_total = total;
  }
  return use;
}

static double meminfo(const char *text, const char *key)
{
  const char *p = strstr(text, key);
  return p ? strtod(p + strlen(key), NULL) : 0;
}

/* The node's load for the controller: CPU and memory use, load average, what
 * its pods use (usage.c: per pod, and the sums podsCpu in cores and
 * podsMemory in bytes), and CPU pressure (PSI) where the kernel has it. */
static char *load_report(struct daemon *d)
{
  cleanup_json json_object *o = json_object_new_object();
  json_object_object_add(o, "cpu", json_object_new_double(cpu_use(d)));
  json_object_object_add(o, "cpus", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
  cleanup_free char *loadavg = read_proc("/proc/loadavg");
  if (loadavg)
    json_object_object_add(o, "load1", json_object_new_double(strtod(loadavg, NULL)));
  cleanup_free char *mem = read_proc("/proc/meminfo");
  if (mem) {
    double total = meminfo(mem, "MemTotal:"), avail = meminfo(mem, "MemAvailable:");
    if (total > 0)
      json_object_object_add(o, "memory", json_object_new_double(1.0 - avail / total));
  }
  double pods_cpu, pods_memory;
  json_object_object_add(o, "pods", pods_usage(d, &pods_cpu, &pods_memory));
  json_object_object_add(o, "podsCpu", json_object_new_double(pods_cpu));
  json_object_object_add(o, "podsMemory", json_object_new_int64((int64_t)pods_memory));
  cleanup_free char *psi = read_proc("/proc/pressure/cpu");
  const char *p = psi ? strstr(psi, "avg10=") : NULL;
  if (p)
    json_object_object_add(o, "psiCpuSome10", json_object_new_double(strtod(p + 6, NULL)));
  return ferry_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

/* The Lease object as this agent holds it: renewTime (a MicroTime) and the load. */
static json_object *lease_object(struct daemon *d, const char *name, const char *renew, const char *load,
                                 const char *threshold, const char *postcopy, const char *store, const char *check)
{
  json_object *lease = json_object_new_object(), *meta = json_object_new_object(), *spec = json_object_new_object(),
              *ann = json_object_new_object(), *labels = json_object_new_object();
  json_object_object_add(lease, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
  json_object_object_add(lease, "kind", json_object_new_string("Lease"));
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(meta, "namespace", json_object_new_string(d->ns));
  json_object_object_add(labels, "app.kubernetes.io/name", json_object_new_string("ferry"));
  json_object_object_add(labels, "app.kubernetes.io/component", json_object_new_string("agent"));
  json_object_object_add(meta, "labels", labels);
  json_object_object_add(ann, FERRY_ANN_LOAD, json_object_new_string(load));
  json_object_object_add(ann, FERRY_ANN_POSTCOPY_THRESHOLD, json_object_new_string(threshold));
  json_object_object_add(ann, FERRY_ANN_POSTCOPY_SUPPORT, json_object_new_string(postcopy));
  if (store)
    json_object_object_add(ann, FERRY_ANN_STORE, json_object_new_string(store));
  json_object_object_add(ann, FERRY_ANN_NODE_CHECK, json_object_new_string(check));
  json_object_object_add(meta, "annotations", ann);
  json_object_object_add(lease, "metadata", meta);
  json_object_object_add(spec, "holderIdentity", json_object_new_string(d->g->node));
  json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(d->lease_seconds));
  json_object_object_add(spec, "renewTime", json_object_new_string(renew));
  json_object_object_add(lease, "spec", spec);
  return lease;
}

/* The node's agent Lease: renewTime now; the load, the post-copy threshold,
 * whether the node can post-copy, its store's free space and what its CRIU can
 * dump (the node check) in annotations. */
int renew_lease(struct daemon *d, ferry_error *err)
{
  char now[48];
  cleanup_free char *load = load_report(d);
  cleanup_free char *threshold = moves_threshold_annotation(d);
  cleanup_free char *postcopy = moves_postcopy_support();
  cleanup_free char *store = store_annotation(d);
  cleanup_free char *check = node_check_annotation(d, postcopy);
  format_ms(ferry_now_real_ms(), now, sizeof now);
  /* MicroTime: six fractional digits */
  char micro[48];
  snprintf(micro, sizeof micro, "%.*s000Z", (int)strlen(now) - 1, now);
  char name[300];
  snprintf(name, sizeof name, "%s%s", FERRY_AGENT_LEASE_PREFIX, d->g->node);
  cleanup_json json_object *lease = lease_object(d, name, micro, load, threshold, postcopy, store, check);
  const char *patch = json_object_to_json_string_ext(lease, JSON_C_TO_STRING_PLAIN);
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_patch(d->kube, &FERRY_KUBE_LEASES, d->ns, name, FERRY_PATCH_MERGE, patch, NULL, NULL, &st, err);
  if (rc < 0 && st.code == 404) {
    ferry_error_clear(err);
    rc = ferry_kube_create(d->kube, &FERRY_KUBE_LEASES, d->ns, lease, NULL, NULL, err);
  }
  return rc;
}

/* The Node's first InternalIP (where other nodes reach this one), or NULL. */
char *node_internal_ip(struct daemon *d)
{
  cleanup_json json_object *node = NULL;
  struct ferry_kube_status st = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_kube_get(d->kube, &FERRY_KUBE_NODES, NULL, d->g->node, &node, &st, &err) < 0) {
    log_warn("node %s: %s", d->g->node, ferry_error_msg(&err));
    return NULL;
  }
  json_object *addrs = ferry_kube_obj(ferry_kube_obj(node, "status"), "addresses");
  for (size_t i = 0; addrs && i < json_object_array_length(addrs); i++) {
    json_object *a = json_object_array_get_idx(addrs, i);
    if (!strcmp(ferry_kube_str(a, "type") ?: "", "InternalIP") && ferry_kube_str(a, "address"))
      return ferry_strdup(ferry_kube_str(a, "address"));
  }
  return NULL;
}
