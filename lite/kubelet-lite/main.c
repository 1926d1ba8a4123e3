/* SPDX-License-Identifier: Apache-2.0 */
/* kubelet-lite: the kubelet for one node on kube-lite (tests and the demo). */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kube/kubeconfig.h"
#include "cri/cri.h"
#include "kubelet.h"
#include "pod.h"
#include "base/cleanup.h"
#include "base/cmdline.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/proc.h"
#include "base/util.h"

static const struct ferry_kube_resource RUNTIMECLASSES = { "node.k8s.io", "v1", "runtimeclasses", 0 };

static const struct ferry_cmd_opt klet_opts[] = {
  FERRY_CMD_REQ("node", 'n', "NAME", "the Node this kubelet plays"),
  FERRY_CMD_REQ("state-dir", 's', "DIR", "its pods' state"),
  FERRY_CMD_ARG("root", 'r', "RUNC_ROOT", "the OCI runtime's state root (needed without a CRI endpoint)", NULL),
  FERRY_CMD_ARG("image", 'i', "NAME=DIR", "a container image NAME is the root filesystem DIR (repeatable)", NULL),
  FERRY_CMD_ARG("pod-network", 'N', "NETNS/BRIDGE",
                "the pods' bridge, in the network namespace NETNS (needed without a CRI endpoint)", NULL),
  FERRY_CMD_ARG("pod-range", 'R', "FIRST-LAST", "the pods' IPv4 addresses (needed without a CRI endpoint)", NULL),
  FERRY_CMD_ARG("prefix-len", 'p', "N", "the pod network's prefix length, 1 to 32", "24"),
  FERRY_CMD_ARG("host-ip", 'H', "IP", "the Node's address", "127.0.0.1"),
  FERRY_CMD_ARG("runtime-handler", 'x', "NAME=BINARY",
                "RuntimeClass handler NAME runs with the OCI runtime BINARY (repeatable)", "runc=runc"),
  FERRY_CMD_ARG("pod-annotations", 'a', "PREFIX",
                "pod annotations with this prefix reach the runtime, as containerd's pod_annotations (repeatable)",
                "none"),
  FERRY_CMD_ARG("container-runtime-endpoint", 'c', "unix:///PATH",
                "run the pods through this CRI runtime (containerd) instead of calling the OCI runtime; then only "
                "--node and --state-dir are needed",
                "the OCI runtime directly"),
  FERRY_CMD_OPT_KUBECONFIG('k'),
  FERRY_CMD_OPT_LOG_LEVEL('L'),
  FERRY_CMD_OPT_LOG_FORMAT('F'),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

static const struct ferry_cmd klet_cmd = {
  .name = "kubelet-lite",
  .prog = "kubelet-lite",
  .synopsis = "kubelet-lite",
  .summary = "Plays the kubelet for the pods bound to NAME on kube-lite. Not for real clusters.",
  .exits = FERRY_CMD_EXITS_SERVER,
  .more = "docs/kubelet-lite.md",
  .opts = klet_opts,
};

static int pair(char *arg, const char *out[2])
{
  char *eq = strchr(arg, '=');
  if (!eq || eq == arg || !eq[1])
    return -1;
  *eq = '\0';
  out[0] = arg;
  out[1] = eq + 1;
  return 0;
}

static void changed(void *ctx, json_object *pod) { pod_sync(ctx, pod); }
static void updated(void *ctx, json_object *old, json_object *pod)
{
  (void)old;
  pod_sync(ctx, pod);
}
static void each(void *ctx, json_object *pod) { pod_sync(ctx, pod); }

/* PRETTY_NAME of /etc/os-release, as the kubelet reports osImage ("Unknown" without it). */
static void node_os_image(char *buf, size_t len)
{
  snprintf(buf, len, "Unknown");
  cleanup_file FILE *f = fopen("/etc/os-release", "re");
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "PRETTY_NAME=", 12)) {
      char *v = line + 12, *end = v + strcspn(v, "\n");
      *end = '\0';
      if (*v == '"' && end > v + 1 && end[-1] == '"') {
        end[-1] = '\0';
        v++;
      }
      for (char *p = v; *p; p++)
        if (*p == '"' || *p == '\\')
          *p = ' '; /* it goes into JSON as it is */
      snprintf(buf, len, "%.*s", (int)(len - 1), v);
    }
}

/* The Node: Ready, with its address and version (registered if missing). */
static int node_status(struct kubelet *k, ferry_error *err)
{
  json_object *node = NULL;
  struct ferry_kube_status st;
  if (ferry_kube_get(k->kube, &FERRY_KUBE_NODES, NULL, k->cfg.node, &node, &st, err) < 0) {
    if (st.code != 404)
      return -1;
    ferry_error_clear(err);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    char *body = ferry_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\",\"labels\":"
                                "{\"kubernetes.io/hostname\":\"%s\",\"kubernetes.io/os\":\"linux\"}},\"spec\":{}}",
                                k->cfg.node, k->cfg.node);
    json_object *o = json_tokener_parse(body);
    free(body);
    int rc = ferry_kube_create(k->kube, &FERRY_KUBE_NODES, NULL, o, NULL, NULL, err);
    json_object_put(o);
    if (rc < 0)
      return -1;
    char *alloc = ferry_asprintf("{\"status\":{\"capacity\":{\"cpu\":\"%ld\",\"memory\":\"%ldKi\",\"pods\":\"110\"},"
                                 "\"allocatable\":{\"cpu\":\"%ld\",\"memory\":\"%ldKi\",\"pods\":\"110\"}}}",
                                 cpus, pages / 1024 * psize, cpus, pages / 1024 * psize);
    rc = ferry_kube_patch(k->kube, &FERRY_KUBE_NODES, NULL, k->cfg.node, FERRY_PATCH_MERGE, alloc, "status", NULL, NULL,
                          err);
    free(alloc);
    if (rc < 0)
      return -1;
  }
  json_object_put(node);
  char now[40], os_image[128];
  struct utsname u;
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  if (uname(&u) < 0)
    snprintf(u.release, sizeof u.release, "unknown");
  node_os_image(os_image, sizeof os_image);
  char *patch = ferry_asprintf(
      "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\","
      "\"message\":\"kubelet-lite is posting ready status\",\"lastHeartbeatTime\":\"%s\"}],"
      "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"%s\"},{\"type\":\"Hostname\",\"address\":\"%s\"}],"
      "\"nodeInfo\":{\"kubeletVersion\":\"v1.32.0-kubelet-lite\",\"containerRuntimeVersion\":\"%s\","
      "\"operatingSystem\":\"linux\",\"architecture\":\"amd64\",\"kernelVersion\":\"%s\",\"osImage\":\"%s\"}}}",
      now, k->cfg.host_ip ?: "127.0.0.1", k->cfg.node, k->runtime_version ?: "runc", u.release, os_image);
  int rc = ferry_kube_patch(k->kube, &FERRY_KUBE_NODES, NULL, k->cfg.node, FERRY_PATCH_MERGE, patch, "status", NULL,
                            NULL, err);
  free(patch);
  return rc;
}

static int parse_range(const char *arg, struct kubelet_cfg *c)
{
  char buf[64];
  snprintf(buf, sizeof buf, "%s", arg);
  char *dash = strchr(buf, '-');
  struct in_addr a, b;
  if (!dash)
    return -1;
  *dash = '\0';
  if (inet_pton(AF_INET, buf, &a) != 1 || inet_pton(AF_INET, dash + 1, &b) != 1)
    return -1;
  c->pool_first = ntohl(a.s_addr);
  c->pool_last = ntohl(b.s_addr);
  return c->pool_first <= c->pool_last ? 0 : -1;
}

/* What the mode needs: the CRI runtime has its own runtimes, images and pod network. */
static int args_complete(const struct kubelet_cfg *c)
{
  if (!c->node || !c->state_dir)
    return 0;
  return c->cri_endpoint || (c->runc_root && c->bridge && c->pool_first && c->prefix_len >= 1 && c->prefix_len <= 32);
}

/* One option into k (or *kubeconfig): 0, or 2 for a bad value. */
static int apply_option(struct kubelet *k, const char **kubeconfig, int o, char *arg)
{
  const char *kv[2];
  switch (o) {
  case 'n':
    k->cfg.node = arg;
    break;
  case 's':
    k->cfg.state_dir = arg;
    break;
  case 'r':
    k->cfg.runc_root = arg;
    break;
  case 'i':
    if (k->cfg.nimages >= KL_MAX_IMAGES || pair(arg, kv) < 0) {
      fprintf(stderr, "kubelet-lite: --image NAME=DIR\n");
      return 2;
    }
    k->cfg.images[k->cfg.nimages][0] = kv[0];
    k->cfg.images[k->cfg.nimages++][1] = kv[1];
    break;
  case 'x': {
    if (pair(arg, kv) < 0) {
      fprintf(stderr, "kubelet-lite: --runtime-handler NAME=BINARY\n");
      return 2;
    }
    int i = 0;
    while (i < k->cfg.nhandlers && strcmp(k->cfg.handlers[i][0], kv[0]) != 0)
      i++;
    if (i >= KL_MAX_HANDLERS) {
      fprintf(stderr, "kubelet-lite: too many runtime handlers\n");
      return 2;
    }
    k->cfg.handlers[i][0] = kv[0];
    k->cfg.handlers[i][1] = kv[1];
    if (i == k->cfg.nhandlers)
      k->cfg.nhandlers++;
    break;
  }
  case 'a':
    if (k->cfg.nprefixes >= KL_MAX_PREFIXES)
      return 2;
    k->cfg.pod_annotations[k->cfg.nprefixes++] = arg;
    break;
  case 'N': {
    char *slash = strchr(arg, '/');
    if (!slash || !slash[1]) {
      fprintf(stderr, "kubelet-lite: --pod-network NETNS/BRIDGE\n");
      return 2;
    }
    *slash = '\0';
    k->cfg.bridge_netns = arg;
    k->cfg.bridge = slash + 1;
    break;
  }
  case 'R':
    if (parse_range(arg, &k->cfg) < 0) {
      fprintf(stderr, "kubelet-lite: --pod-range FIRST-LAST (IPv4)\n");
      return 2;
    }
    break;
  case 'p':
    k->cfg.prefix_len = atoi(arg);
    break;
  case 'H':
    k->cfg.host_ip = arg;
    break;
  case 'c':
    k->cfg.cri_endpoint = arg;
    break;
  case 'k':
    *kubeconfig = arg;
    break;
  case 'L':
    if (ferry_log_level_option("kubelet-lite", arg) < 0)
      return 2;
    break;
  case 'F':
    if (ferry_log_format_option("kubelet-lite", arg) < 0)
      return 2;
    break;
  }
  return 0;
}

/* The options; -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, struct kubelet *k, const char **kubeconfig)
{
  struct ferry_cmd_parse p;
  ferry_cmd_start(&p, &klet_cmd);
  int o;
  while ((o = ferry_cmd_next(&p, argc, argv)) != FERRY_CMD_DONE) {
    if (o == FERRY_CMD_HELP || o == FERRY_CMD_BAD)
      return ferry_cmd_exit_code(o);
    if (apply_option(k, kubeconfig, o, optarg))
      return 2;
  }
  if (optind != argc)
    return ferry_cmd_usage_error(&klet_cmd, "unexpected argument %s", argv[optind]);
  if (!args_complete(&k->cfg))
    return ferry_cmd_usage_error(&klet_cmd, "without --container-runtime-endpoint, --root, --pod-network, --pod-range "
                                            "and a --prefix-len from 1 to 32 are needed");
  return -1;
}

int main(int argc, char **argv)
{
  struct kubelet k;
  memset(&k, 0, sizeof k);
  k.rt = &kl_direct_runtime;
  const char *kubeconfig = NULL;
  k.cfg.handlers[0][0] = "runc";
  k.cfg.handlers[0][1] = "runc";
  k.cfg.nhandlers = 1;
  k.cfg.prefix_len = 24;
  int code = parse_options(argc, argv, &k, &kubeconfig);
  if (code >= 0)
    return code;
  ferry_error serr = FERRY_ERROR_INIT;
  if (ferry_catch_stop_signals(&serr) < 0) {
    log_error("%s", ferry_error_msg(&serr));
    ferry_error_clear(&serr);
    return 1;
  }
  /* containers' first processes become our children when their runtime exits: their exit codes are ours to read */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    log_warn("PR_SET_CHILD_SUBREAPER: %s (exit codes will be unknown)", strerror(errno));

  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ferry_kube_global_init();
  int rc = 1;
  char *fs = ferry_asprintf("spec.nodeName=%s", k.cfg.node);
  struct ferry_informer_handlers h = { changed, updated, NULL, &k };
  if (ferry_mkdir_p(k.cfg.state_dir, 0700, &err) < 0 ||
      (k.cfg.cri_endpoint ? cri_connect(&k, &err) : direct_load_template(&k, &err)) < 0 ||
      ferry_kube_config_auto(kubeconfig, NULL, &cfg, &err) < 0 || ferry_kube_open(&cfg, &k.kube, &err) < 0 ||
      ferry_informers_new(&cfg, &k.inf, &err) < 0 ||
      ferry_informer_add(k.inf, &FERRY_KUBE_PODS, NULL, NULL, fs, &h, &k.pods, &err) < 0 ||
      ferry_informer_add(k.inf, &RUNTIMECLASSES, NULL, NULL, NULL, NULL, &k.rclasses, &err) < 0) {
    log_error("%s", ferry_error_msg(&err));
    goto out;
  }
  if (!(k.rec = ferry_recorder_new(k.kube, "kubelet", k.cfg.node))) {
    log_error("out of memory");
    goto out;
  }
  if (k.cri)
    log_info("kubelet-lite on node %s: CRI %s (%s), state %s", k.cfg.node, k.cfg.cri_endpoint, k.runtime_version,
             k.cfg.state_dir);
  else
    log_info("kubelet-lite on node %s: runc root %s, state %s", k.cfg.node, k.cfg.runc_root, k.cfg.state_dir);
  rc = 0;
  int64_t next_beat = 0, next_sweep = 0;
  while (!ferry_stopping) {
    int64_t now = ferry_now_mono_ms();
    if (now >= next_beat) {
      if (node_status(&k, &err) < 0)
        log_warn("node status: %s", ferry_error_msg(&err));
      ferry_error_clear(&err);
      next_beat = now + 10000;
    }
    if (ferry_informers_run(k.inf, 250, &err) < 0) {
      log_error("informers: %s", ferry_error_msg(&err));
      rc = 1;
      break;
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
      pod_reap(&k, pid, status);
    if (ferry_informer_synced(k.pods) && ferry_informer_synced(k.rclasses) && ferry_now_mono_ms() >= next_sweep) {
      if (!k.adopted)
        pod_adopt_all(&k);
      /* what the watch does not say: containers that ended, back-offs that ran out */
      ferry_informer_each(k.pods, each, &k);
      pod_sync_orphans(&k);
      next_sweep = ferry_now_mono_ms() + 500;
    }
  }
  log_info("kubelet-lite stopped (containers keep running, as under a real kubelet)");
out:
  free(fs);
  ferry_error_clear(&err);
  pod_state_free_all(&k);
  json_object_put(k.tmpl);
  ferry_cri_close(k.cri);
  free(k.runtime_version);
  ferry_recorder_free(k.rec);
  ferry_informers_free(k.inf);
  ferry_kube_close(k.kube);
  ferry_kube_config_free(&cfg);
  return rc;
}
