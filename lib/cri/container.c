/* SPDX-License-Identifier: Apache-2.0 */
/* Containers through the CRI: CreateContainer (its configuration message),
 * StartContainer, ContainerStatus, StopContainer, RemoveContainer, ListContainers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "cri/internal.h"

/* The container configuration as a message. Holds pointers into itself: build it in place. */
struct container_msg {
  Runtime__V1__ContainerConfig config;
  Runtime__V1__ContainerMetadata metadata;
  Runtime__V1__ImageSpec image;
  Runtime__V1__LinuxContainerConfig linux_config;
  Runtime__V1__LinuxContainerSecurityContext security;
  Runtime__V1__NamespaceOption namespaces;
  Runtime__V1__Int64Value user, group;
  void **envs, **labels, **annotations;
  void **mounts;
};

static void **build_mounts(const struct ferry_cri_mount *in, size_t n)
{
  void **ptrs = cri_messages(&runtime__v1__mount__descriptor, n);
  for (size_t i = 0; i < n; i++) {
    Runtime__V1__Mount *m = ptrs[i];
    m->container_path = cri_in(in[i].container_path);
    m->host_path = cri_in(in[i].host_path);
    m->readonly = in[i].readonly;
  }
  return ptrs;
}

/* Environment variables: KeyValue messages, whose value is bytes. */
static void **build_envs(const struct ferry_cri_kv *in, size_t n)
{
  void **ptrs = cri_messages(&runtime__v1__key_value__descriptor, n);
  for (size_t i = 0; i < n; i++) {
    Runtime__V1__KeyValue *kv = ptrs[i];
    kv->key = cri_in(in[i].key);
    kv->value.data = (uint8_t *)cri_in(in[i].value);
    kv->value.len = strlen((const char *)kv->value.data);
  }
  return ptrs;
}

/* The container's namespaces follow the sandbox's, as kubelet sets them; its
 * user and group, when the pod sets them. */
static void build_security(struct container_msg *m, const struct ferry_cri_container_config *cfg,
                           const struct cri_sandbox_msg *sandbox)
{
  m->namespaces = sandbox->namespaces;
  runtime__v1__linux_container_security_context__init(&m->security);
  m->security.namespace_options = &m->namespaces;
  if (cfg->run_as_user) {
    runtime__v1__int64_value__init(&m->user);
    m->user.value = *cfg->run_as_user;
    m->security.run_as_user = &m->user;
  }
  if (cfg->run_as_group) {
    runtime__v1__int64_value__init(&m->group);
    m->group.value = *cfg->run_as_group;
    m->security.run_as_group = &m->group;
  }
  runtime__v1__linux_container_config__init(&m->linux_config);
  m->linux_config.security_context = &m->security;
  m->config.linux = &m->linux_config;
}

static void build_container(struct container_msg *m, const struct ferry_cri_container_config *cfg,
                            const struct cri_sandbox_msg *sandbox)
{
  runtime__v1__container_config__init(&m->config);
  runtime__v1__container_metadata__init(&m->metadata);
  m->metadata.name = cri_in(cfg->name);
  m->metadata.attempt = cfg->attempt;
  m->config.metadata = &m->metadata;
  runtime__v1__image_spec__init(&m->image);
  m->image.image = cri_in(cfg->image);
  m->config.image = &m->image;
  m->config.command = (char **)cfg->command;
  m->config.n_command = cri_strv_len(cfg->command);
  m->config.args = (char **)cfg->args;
  m->config.n_args = cri_strv_len(cfg->args);
  m->config.working_dir = cri_in(cfg->working_dir);
  m->envs = build_envs(cfg->envs, cfg->n_envs);
  m->config.envs = (Runtime__V1__KeyValue **)m->envs;
  m->config.n_envs = cfg->n_envs;
  m->labels = cri_map(&runtime__v1__container_config__labels_entry__descriptor, cfg->labels, cfg->n_labels);
  m->config.labels = (Runtime__V1__ContainerConfig__LabelsEntry **)m->labels;
  m->config.n_labels = cfg->n_labels;
  m->annotations =
      cri_map(&runtime__v1__container_config__annotations_entry__descriptor, cfg->annotations, cfg->n_annotations);
  m->config.annotations = (Runtime__V1__ContainerConfig__AnnotationsEntry **)m->annotations;
  m->config.n_annotations = cfg->n_annotations;
  m->config.log_path = cri_in(cfg->log_path);
  m->mounts = build_mounts(cfg->mounts, cfg->n_mounts);
  m->config.mounts = (Runtime__V1__Mount **)m->mounts;
  m->config.n_mounts = cfg->n_mounts;
  build_security(m, cfg, sandbox);
}

static void container_msg_free(struct container_msg *m)
{
  free(m->envs);
  free(m->labels);
  free(m->annotations);
  free(m->mounts);
}

int ferry_cri_create_container(struct ferry_cri *c, const char *sandbox_id,
                               const struct ferry_cri_container_config *cfg,
                               const struct ferry_cri_sandbox_config *sandbox_cfg, char **id, ferry_error *err)
{
  __attribute__((cleanup(cri_sandbox_msg_free))) struct cri_sandbox_msg sandbox = { 0 };
  cri_sandbox_msg_build(&sandbox, sandbox_cfg);
  __attribute__((cleanup(container_msg_free))) struct container_msg m = { 0 };
  build_container(&m, cfg, &sandbox);
  Runtime__V1__CreateContainerRequest req;
  runtime__v1__create_container_request__init(&req);
  req.pod_sandbox_id = cri_in(sandbox_id);
  req.config = &m.config;
  req.sandbox_config = &sandbox.config;
  cleanup_pb Runtime__V1__CreateContainerResponse *r =
      cri_call(c, CRI_RUNTIME_SERVICE, "CreateContainer", &req.base,
               &runtime__v1__create_container_response__descriptor, 0, err);
  if (!r)
    return -1;
  *id = cri_out(r->container_id);
  return 0;
}

int ferry_cri_start_container(struct ferry_cri *c, const char *id, ferry_error *err)
{
  Runtime__V1__StartContainerRequest req;
  runtime__v1__start_container_request__init(&req);
  req.container_id = cri_in(id);
  cleanup_pb Runtime__V1__StartContainerResponse *r = cri_call(
      c, CRI_RUNTIME_SERVICE, "StartContainer", &req.base, &runtime__v1__start_container_response__descriptor, 0, err);
  return r ? 0 : -1;
}

static enum ferry_cri_container_state container_state(Runtime__V1__ContainerState s)
{
  switch (s) {
  case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
    return FERRY_CRI_CONTAINER_CREATED;
  case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
    return FERRY_CRI_CONTAINER_RUNNING;
  case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
    return FERRY_CRI_CONTAINER_EXITED;
  default:
    return FERRY_CRI_CONTAINER_UNKNOWN;
  }
}

const char *ferry_cri_container_state_name(enum ferry_cri_container_state s)
{
  static const char *const names[] = {
    [FERRY_CRI_CONTAINER_CREATED] = "CONTAINER_CREATED",
    [FERRY_CRI_CONTAINER_RUNNING] = "CONTAINER_RUNNING",
    [FERRY_CRI_CONTAINER_EXITED] = "CONTAINER_EXITED",
    [FERRY_CRI_CONTAINER_UNKNOWN] = "CONTAINER_UNKNOWN",
  };
  return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "CONTAINER_UNKNOWN";
}

static void copy_container_status(const Runtime__V1__ContainerStatus *s, struct ferry_cri_container_status *out)
{
  out->id = cri_out(s->id);
  out->name = cri_out(s->metadata ? s->metadata->name : NULL);
  out->attempt = s->metadata ? s->metadata->attempt : 0;
  out->state = container_state(s->state);
  out->image = cri_out(s->image ? s->image->image : NULL);
  out->image_ref = cri_out(s->image_ref);
  out->created_at = s->created_at;
  out->started_at = s->started_at;
  out->finished_at = s->finished_at;
  out->exit_code = s->exit_code;
  out->reason = cri_out(s->reason);
  out->message = cri_out(s->message);
  out->log_path = cri_out(s->log_path);
}

int ferry_cri_container_status(struct ferry_cri *c, const char *id, struct ferry_cri_container_status *out,
                               ferry_error *err)
{
  Runtime__V1__ContainerStatusRequest req;
  runtime__v1__container_status_request__init(&req);
  req.container_id = cri_in(id);
  req.verbose = 1;
  cleanup_pb Runtime__V1__ContainerStatusResponse *r =
      cri_call(c, CRI_RUNTIME_SERVICE, "ContainerStatus", &req.base,
               &runtime__v1__container_status_response__descriptor, 0, err);
  if (!r)
    return -1;
  if (!r->status)
    return ferry_error_set(err, 0, "ContainerStatus: the answer for %s has no status", id);
  memset(out, 0, sizeof *out);
  copy_container_status(r->status, out);
  out->pid = cri_info_pid((void *const *)r->info, r->n_info);
  return 0;
}

void ferry_cri_container_status_free(struct ferry_cri_container_status *s)
{
  free(s->id);
  free(s->name);
  free(s->image);
  free(s->image_ref);
  free(s->reason);
  free(s->message);
  free(s->log_path);
  memset(s, 0, sizeof *s);
}

int ferry_cri_stop_container(struct ferry_cri *c, const char *id, int64_t timeout_s, ferry_error *err)
{
  Runtime__V1__StopContainerRequest req;
  runtime__v1__stop_container_request__init(&req);
  req.container_id = cri_in(id);
  req.timeout = timeout_s;
  /* The call lasts as long as the container takes to stop: the client's timeout on top. */
  cleanup_pb Runtime__V1__StopContainerResponse *r =
      cri_call(c, CRI_RUNTIME_SERVICE, "StopContainer", &req.base, &runtime__v1__stop_container_response__descriptor,
               c->timeout_ms + timeout_s * CRI_MS_PER_S, err);
  return r ? 0 : -1;
}

int ferry_cri_remove_container(struct ferry_cri *c, const char *id, ferry_error *err)
{
  Runtime__V1__RemoveContainerRequest req;
  runtime__v1__remove_container_request__init(&req);
  req.container_id = cri_in(id);
  cleanup_pb Runtime__V1__RemoveContainerResponse *r =
      cri_call(c, CRI_RUNTIME_SERVICE, "RemoveContainer", &req.base,
               &runtime__v1__remove_container_response__descriptor, 0, err);
  return r ? 0 : -1;
}

static void copy_container(const Runtime__V1__Container *in, struct ferry_cri_container *out)
{
  out->id = cri_out(in->id);
  out->sandbox_id = cri_out(in->pod_sandbox_id);
  out->name = cri_out(in->metadata ? in->metadata->name : NULL);
  out->attempt = in->metadata ? in->metadata->attempt : 0;
  out->image = cri_out(in->image ? in->image->image : NULL);
  out->state = container_state(in->state);
  out->created_at = in->created_at;
  for (size_t i = 0; i < in->n_labels; i++)
    if (in->labels[i]->key && !strcmp(in->labels[i]->key, "io.kubernetes.pod.name"))
      out->pod_name = cri_out(in->labels[i]->value);
}

int ferry_cri_list_containers(struct ferry_cri *c, const char *sandbox_id, struct ferry_cri_container **out, size_t *n,
                              ferry_error *err)
{
  Runtime__V1__ContainerFilter filter;
  runtime__v1__container_filter__init(&filter);
  filter.pod_sandbox_id = cri_in(sandbox_id);
  Runtime__V1__ListContainersRequest req;
  runtime__v1__list_containers_request__init(&req);
  req.filter = &filter;
  cleanup_pb Runtime__V1__ListContainersResponse *r = cri_call(
      c, CRI_RUNTIME_SERVICE, "ListContainers", &req.base, &runtime__v1__list_containers_response__descriptor, 0, err);
  if (!r)
    return -1;
  *out = calloc(r->n_containers ? r->n_containers : 1, sizeof **out);
  if (!*out)
    return ferry_error_set(err, ENOMEM, "ListContainers: %zu containers", r->n_containers);
  for (size_t i = 0; i < r->n_containers; i++)
    copy_container(r->containers[i], &(*out)[i]);
  *n = r->n_containers;
  return 0;
}

void ferry_cri_containers_free(struct ferry_cri_container *list, size_t n)
{
  for (size_t i = 0; list && i < n; i++) {
    free(list[i].id);
    free(list[i].sandbox_id);
    free(list[i].name);
    free(list[i].image);
    free(list[i].pod_name);
  }
  free(list);
}
