/* SPDX-License-Identifier: Apache-2.0 */
/* Pod sandboxes through the CRI: the sandbox configuration message (which
 * CreateContainer carries too), RunPodSandbox, PodSandboxStatus,
 * StopPodSandbox, RemovePodSandbox. */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "cri/internal.h"

static void build_namespaces(struct cri_sandbox_msg *m, const struct ferry_cri_sandbox_config *cfg)
{
  runtime__v1__namespace_option__init(&m->namespaces);
  m->namespaces.network = cfg->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE : RUNTIME__V1__NAMESPACE_MODE__POD;
  m->namespaces.pid = cfg->host_pid ? RUNTIME__V1__NAMESPACE_MODE__NODE : RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
  m->namespaces.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
  runtime__v1__linux_sandbox_security_context__init(&m->security);
  m->security.namespace_options = &m->namespaces;
  runtime__v1__linux_pod_sandbox_config__init(&m->linux_config);
  m->linux_config.security_context = &m->security;
  m->linux_config.cgroup_parent = cri_in(cfg->cgroup_parent);
}

void cri_sandbox_msg_build(struct cri_sandbox_msg *m, const struct ferry_cri_sandbox_config *cfg)
{
  runtime__v1__pod_sandbox_config__init(&m->config);
  runtime__v1__pod_sandbox_metadata__init(&m->metadata);
  m->metadata.name = cri_in(cfg->name);
  m->metadata.uid = cri_in(cfg->uid);
  m->metadata.namespace_ = cri_in(cfg->namespace);
  m->metadata.attempt = cfg->attempt;
  m->config.metadata = &m->metadata;
  /* A host-network sandbox has the node's UTS namespace too: runc refuses a hostname there. */
  m->config.hostname = cri_in(cfg->host_network ? NULL : cfg->hostname);
  m->config.log_directory = cri_in(cfg->log_directory);
  m->labels = cri_map(&runtime__v1__pod_sandbox_config__labels_entry__descriptor, cfg->labels, cfg->n_labels);
  m->config.labels = (Runtime__V1__PodSandboxConfig__LabelsEntry **)m->labels;
  m->config.n_labels = cfg->n_labels;
  m->annotations =
      cri_map(&runtime__v1__pod_sandbox_config__annotations_entry__descriptor, cfg->annotations, cfg->n_annotations);
  m->config.annotations = (Runtime__V1__PodSandboxConfig__AnnotationsEntry **)m->annotations;
  m->config.n_annotations = cfg->n_annotations;
  build_namespaces(m, cfg);
  m->config.linux = &m->linux_config;
  if (cfg->dns_servers || cfg->dns_searches) {
    runtime__v1__dnsconfig__init(&m->dns);
    m->dns.servers = (char **)cfg->dns_servers;
    m->dns.n_servers = cri_strv_len(cfg->dns_servers);
    m->dns.searches = (char **)cfg->dns_searches;
    m->dns.n_searches = cri_strv_len(cfg->dns_searches);
    m->config.dns_config = &m->dns;
  }
}

void cri_sandbox_msg_free(struct cri_sandbox_msg *m)
{
  free(m->labels);
  free(m->annotations);
  m->labels = m->annotations = NULL;
}

int ferry_cri_run_pod_sandbox(struct ferry_cri *c, const struct ferry_cri_sandbox_config *cfg, char **id,
                              ferry_error *err)
{
  __attribute__((cleanup(cri_sandbox_msg_free))) struct cri_sandbox_msg m = { 0 };
  cri_sandbox_msg_build(&m, cfg);
  Runtime__V1__RunPodSandboxRequest req;
  runtime__v1__run_pod_sandbox_request__init(&req);
  req.config = &m.config;
  req.runtime_handler = cri_in(cfg->runtime_handler);
  cleanup_pb Runtime__V1__RunPodSandboxResponse *r = cri_call(
      c, CRI_RUNTIME_SERVICE, "RunPodSandbox", &req.base, &runtime__v1__run_pod_sandbox_response__descriptor, 0, err);
  if (!r)
    return -1;
  *id = cri_out(r->pod_sandbox_id);
  return 0;
}

static void copy_sandbox_status(const Runtime__V1__PodSandboxStatus *s, struct ferry_cri_sandbox_status *out)
{
  out->id = cri_out(s->id);
  const Runtime__V1__PodSandboxMetadata *md = s->metadata;
  out->name = cri_out(md ? md->name : NULL);
  out->uid = cri_out(md ? md->uid : NULL);
  out->namespace = cri_out(md ? md->namespace_ : NULL);
  out->attempt = md ? md->attempt : 0;
  out->state =
      s->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? FERRY_CRI_SANDBOX_READY : FERRY_CRI_SANDBOX_NOTREADY;
  out->created_at = s->created_at;
  out->ip = cri_out(s->network ? s->network->ip : NULL);
  out->runtime_handler = cri_out(s->runtime_handler);
}

int ferry_cri_pod_sandbox_status(struct ferry_cri *c, const char *id, struct ferry_cri_sandbox_status *out,
                                 ferry_error *err)
{
  Runtime__V1__PodSandboxStatusRequest req;
  runtime__v1__pod_sandbox_status_request__init(&req);
  req.pod_sandbox_id = cri_in(id);
  req.verbose = 1;
  cleanup_pb Runtime__V1__PodSandboxStatusResponse *r =
      cri_call(c, CRI_RUNTIME_SERVICE, "PodSandboxStatus", &req.base,
               &runtime__v1__pod_sandbox_status_response__descriptor, 0, err);
  if (!r)
    return -1;
  if (!r->status)
    return ferry_error_set(err, 0, "PodSandboxStatus: the answer for %s has no status", id);
  memset(out, 0, sizeof *out);
  copy_sandbox_status(r->status, out);
  out->pid = cri_info_pid((void *const *)r->info, r->n_info);
  return 0;
}

void ferry_cri_sandbox_status_free(struct ferry_cri_sandbox_status *s)
{
  free(s->id);
  free(s->name);
  free(s->uid);
  free(s->namespace);
  free(s->ip);
  free(s->runtime_handler);
  memset(s, 0, sizeof *s);
}

const char *ferry_cri_sandbox_state_name(enum ferry_cri_sandbox_state s)
{
  return s == FERRY_CRI_SANDBOX_READY ? "SANDBOX_READY" : "SANDBOX_NOTREADY";
}

int ferry_cri_stop_pod_sandbox(struct ferry_cri *c, const char *id, ferry_error *err)
{
  Runtime__V1__StopPodSandboxRequest req;
  runtime__v1__stop_pod_sandbox_request__init(&req);
  req.pod_sandbox_id = cri_in(id);
  cleanup_pb Runtime__V1__StopPodSandboxResponse *r = cri_call(
      c, CRI_RUNTIME_SERVICE, "StopPodSandbox", &req.base, &runtime__v1__stop_pod_sandbox_response__descriptor, 0, err);
  return r ? 0 : -1;
}

int ferry_cri_remove_pod_sandbox(struct ferry_cri *c, const char *id, ferry_error *err)
{
  Runtime__V1__RemovePodSandboxRequest req;
  runtime__v1__remove_pod_sandbox_request__init(&req);
  req.pod_sandbox_id = cri_in(id);
  cleanup_pb Runtime__V1__RemovePodSandboxResponse *r =
      cri_call(c, CRI_RUNTIME_SERVICE, "RemovePodSandbox", &req.base,
               &runtime__v1__remove_pod_sandbox_response__descriptor, 0, err);
  return r ? 0 : -1;
}
