/* SPDX-License-Identifier: Apache-2.0 */
/* Pod sandboxes through the CRI: the sandbox configuration message (which
 * CreateContainer carries too), RunPodSandbox, PodSandboxStatus,
 * StopPodSandbox, RemovePodSandbox, ListPodSandbox. */
#include <errno.h>
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

static enum ferry_cri_sandbox_state sandbox_state(Runtime__V1__PodSandboxState s)
{
  return s == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? FERRY_CRI_SANDBOX_READY : FERRY_CRI_SANDBOX_NOTREADY;
}

/* A sandbox's metadata: the pod's name, uid and namespace, the sandbox's attempt. */
static void copy_metadata(const Runtime__V1__PodSandboxMetadata *md, char **name, char **uid, char **namespace,
                          uint32_t *attempt)
{
  *name = cri_out(md ? md->name : NULL);
  *uid = cri_out(md ? md->uid : NULL);
  *namespace = cri_out(md ? md->namespace_ : NULL);
  *attempt = md ? md->attempt : 0;
}

static void copy_sandbox_status(const Runtime__V1__PodSandboxStatus *s, struct ferry_cri_sandbox_status *out)
{
  out->id = cri_out(s->id);
  copy_metadata(s->metadata, &out->name, &out->uid, &out->namespace, &out->attempt);
  out->state = sandbox_state(s->state);
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

static void copy_sandbox(const Runtime__V1__PodSandbox *in, struct ferry_cri_sandbox *out)
{
  out->id = cri_out(in->id);
  copy_metadata(in->metadata, &out->name, &out->uid, &out->namespace, &out->attempt);
  out->state = sandbox_state(in->state);
  out->created_at = in->created_at;
  out->runtime_handler = cri_out(in->runtime_handler);
  for (size_t i = 0; i < in->n_labels; i++)
    if (in->labels[i]->key && !strcmp(in->labels[i]->key, "io.kubernetes.pod.uid"))
      out->pod_uid = cri_out(in->labels[i]->value);
}

int ferry_cri_list_pod_sandboxes(struct ferry_cri *c, const struct ferry_cri_sandbox_filter *filter,
                                 struct ferry_cri_sandbox **out, size_t *n, ferry_error *err)
{
  static const struct ferry_cri_sandbox_filter every = { 0 };
  const struct ferry_cri_sandbox_filter *f = filter ? filter : &every;
  Runtime__V1__PodSandboxStateValue state;
  runtime__v1__pod_sandbox_state_value__init(&state);
  state.state = f->state == FERRY_CRI_SANDBOX_READY ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
                                                    : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
  cleanup_free void **labels =
      cri_map(&runtime__v1__pod_sandbox_filter__label_selector_entry__descriptor, f->labels, f->n_labels);
  Runtime__V1__PodSandboxFilter pf;
  runtime__v1__pod_sandbox_filter__init(&pf);
  pf.id = cri_in(f->id);
  pf.state = f->by_state ? &state : NULL;
  pf.label_selector = (Runtime__V1__PodSandboxFilter__LabelSelectorEntry **)labels;
  pf.n_label_selector = f->n_labels;
  Runtime__V1__ListPodSandboxRequest req;
  runtime__v1__list_pod_sandbox_request__init(&req);
  req.filter = &pf;
  cleanup_pb Runtime__V1__ListPodSandboxResponse *r = cri_call(
      c, CRI_RUNTIME_SERVICE, "ListPodSandbox", &req.base, &runtime__v1__list_pod_sandbox_response__descriptor, 0, err);
  if (!r)
    return -1;
  *out = calloc(r->n_items ? r->n_items : 1, sizeof **out);
  if (!*out)
    return ferry_error_set(err, ENOMEM, "ListPodSandbox: %zu sandboxes", r->n_items);
  for (size_t i = 0; i < r->n_items; i++)
    copy_sandbox(r->items[i], &(*out)[i]);
  *n = r->n_items;
  return 0;
}

void ferry_cri_sandboxes_free(struct ferry_cri_sandbox *list, size_t n)
{
  for (size_t i = 0; list && i < n; i++) {
    free(list[i].id);
    free(list[i].name);
    free(list[i].uid);
    free(list[i].namespace);
    free(list[i].runtime_handler);
    free(list[i].pod_uid);
  }
  free(list);
}
