/* SPDX-License-Identifier: Apache-2.0 */
/* A client of the Kubernetes Container Runtime Interface (CRI, runtime.v1) in C:
 * what a kubelet asks of containerd or CRI-O, over the runtime's unix socket.
 * Each function is one unary gRPC call (lib/cri/grpc.c) with a protobuf-c message
 * generated from the CRI api.proto (make builds it under $(BUILD)/gen/cri). The
 * types here are Ferry's own and small: the fields Ferry uses, not the whole API.
 * Every function returns 0, or -1 with *err set to "METHOD: what failed"; after
 * a failure ferry_cri_last_code() says the gRPC status (FERRY_GRPC_NOT_FOUND, ...).
 * Strings in results are heap copies, freed by the matching _free function.
 * A client is for one thread at a time. */
#ifndef FERRY_CRI_H
#define FERRY_CRI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "cri/grpc_wire.h"

/* The timeout of a call unless ferry_cri_open is given another (kubelet's own default). */
#define FERRY_CRI_DEFAULT_TIMEOUT_MS 120000L

struct ferry_cri;

/* endpoint: "unix:///run/containerd/containerd.sock"; timeout_ms: per call, 0 for
 * FERRY_CRI_DEFAULT_TIMEOUT_MS. Nothing is sent yet: ferry_cri_version checks the runtime. */
struct ferry_cri *ferry_cri_open(const char *endpoint, long timeout_ms, ferry_error *err);
void ferry_cri_close(struct ferry_cri *c);
int ferry_cri_last_code(const struct ferry_cri *c);

struct ferry_cri_kv {
  const char *key;
  const char *value;
};

/* ---- Version ---- */
struct ferry_cri_version {
  char *version;             /* the kubelet API version answered ("0.1.0") */
  char *runtime_name;        /* "containerd" */
  char *runtime_version;     /* "1.6.20~ds1" */
  char *runtime_api_version; /* "v1" */
};
int ferry_cri_version(struct ferry_cri *c, struct ferry_cri_version *out, ferry_error *err);
void ferry_cri_version_free(struct ferry_cri_version *v);

/* ---- Pod sandboxes ---- */
struct ferry_cri_sandbox_config {
  const char *name; /* the pod's metadata: name, uid, namespace, attempt */
  const char *uid;
  const char *namespace;
  uint32_t attempt;
  const char *hostname;      /* not sent for a host-network sandbox (it has the node's) */
  const char *log_directory; /* containers' log_path is relative to it */
  const struct ferry_cri_kv *labels;
  size_t n_labels;
  const struct ferry_cri_kv *annotations;
  size_t n_annotations;
  const char *runtime_handler; /* the RuntimeClass's handler ("ferry"); NULL: the runtime's default */
  bool host_network;           /* the node's network namespace (no CNI) */
  bool host_pid;
  const char *cgroup_parent;
  const char *const *dns_servers; /* NULL-terminated, or NULL */
  const char *const *dns_searches;
};

enum ferry_cri_sandbox_state {
  FERRY_CRI_SANDBOX_READY,
  FERRY_CRI_SANDBOX_NOTREADY,
};
const char *ferry_cri_sandbox_state_name(enum ferry_cri_sandbox_state s);

struct ferry_cri_sandbox_status {
  char *id;
  char *name;
  char *uid;
  char *namespace;
  uint32_t attempt;
  enum ferry_cri_sandbox_state state;
  int64_t created_at; /* ns since the epoch */
  char *ip;           /* "" for a host-network sandbox */
  char *runtime_handler;
  int pid; /* the sandbox's process (from the runtime's verbose info), 0 when not told */
};

int ferry_cri_run_pod_sandbox(struct ferry_cri *c, const struct ferry_cri_sandbox_config *cfg, char **id,
                              ferry_error *err);
int ferry_cri_pod_sandbox_status(struct ferry_cri *c, const char *id, struct ferry_cri_sandbox_status *out,
                                 ferry_error *err);
void ferry_cri_sandbox_status_free(struct ferry_cri_sandbox_status *s);
int ferry_cri_stop_pod_sandbox(struct ferry_cri *c, const char *id, ferry_error *err);
int ferry_cri_remove_pod_sandbox(struct ferry_cri *c, const char *id, ferry_error *err);

/* A sandbox as ListPodSandbox lists it. */
struct ferry_cri_sandbox {
  char *id;
  char *name; /* its metadata: the pod's name, uid, namespace, and the sandbox's attempt */
  char *uid;
  char *namespace;
  uint32_t attempt;
  enum ferry_cri_sandbox_state state;
  int64_t created_at; /* ns since the epoch */
  char *runtime_handler;
  char *pod_uid; /* the kubelet's label io.kubernetes.pod.uid, NULL without it */
};
/* Which sandboxes to list (every field ANDed): its ID, its state, labels that
 * all match exactly. Zeroed: every sandbox. */
struct ferry_cri_sandbox_filter {
  const char *id;
  bool by_state;
  enum ferry_cri_sandbox_state state;
  const struct ferry_cri_kv *labels;
  size_t n_labels;
};
/* The sandboxes filter selects (every one when NULL): *out (n of them) is freed
 * with ferry_cri_sandboxes_free. */
int ferry_cri_list_pod_sandboxes(struct ferry_cri *c, const struct ferry_cri_sandbox_filter *filter,
                                 struct ferry_cri_sandbox **out, size_t *n, ferry_error *err);
void ferry_cri_sandboxes_free(struct ferry_cri_sandbox *list, size_t n);

/* ---- Containers ---- */
struct ferry_cri_mount {
  const char *container_path;
  const char *host_path;
  bool readonly;
};

struct ferry_cri_container_config {
  const char *name;
  uint32_t attempt;
  const char *image;
  const char *const *command; /* NULL-terminated, or NULL for the image's entrypoint */
  const char *const *args;    /* NULL-terminated, or NULL for the image's cmd */
  const char *working_dir;
  const struct ferry_cri_kv *envs;
  size_t n_envs;
  const struct ferry_cri_kv *labels;
  size_t n_labels;
  const struct ferry_cri_kv *annotations;
  size_t n_annotations;
  const char *log_path; /* relative to the sandbox's log_directory */
  const struct ferry_cri_mount *mounts;
  size_t n_mounts;
  const int64_t *run_as_user, *run_as_group; /* NULL: unset (the image's user) */
};

enum ferry_cri_container_state {
  FERRY_CRI_CONTAINER_CREATED,
  FERRY_CRI_CONTAINER_RUNNING,
  FERRY_CRI_CONTAINER_EXITED,
  FERRY_CRI_CONTAINER_UNKNOWN,
};
const char *ferry_cri_container_state_name(enum ferry_cri_container_state s);

struct ferry_cri_container_status {
  char *id;
  char *name;
  uint32_t attempt;
  enum ferry_cri_container_state state;
  char *image;
  char *image_ref;
  int64_t created_at; /* ns since the epoch; started_at and finished_at 0 when not yet */
  int64_t started_at;
  int64_t finished_at;
  int32_t exit_code;
  char *reason;
  char *message;
  char *log_path;
  int pid; /* the container's process (from the runtime's verbose info), 0 when not told */
};

/* sandbox_cfg: the configuration the sandbox was run with (CRI asks for it again). */
int ferry_cri_create_container(struct ferry_cri *c, const char *sandbox_id,
                               const struct ferry_cri_container_config *cfg,
                               const struct ferry_cri_sandbox_config *sandbox_cfg, char **id, ferry_error *err);
int ferry_cri_start_container(struct ferry_cri *c, const char *id, ferry_error *err);
int ferry_cri_container_status(struct ferry_cri *c, const char *id, struct ferry_cri_container_status *out,
                               ferry_error *err);
void ferry_cri_container_status_free(struct ferry_cri_container_status *s);
/* Signals the container to stop, and kills it after timeout_s seconds. */
int ferry_cri_stop_container(struct ferry_cri *c, const char *id, int64_t timeout_s, ferry_error *err);
int ferry_cri_remove_container(struct ferry_cri *c, const char *id, ferry_error *err);

struct ferry_cri_container {
  char *id;
  char *sandbox_id;
  char *name;
  uint32_t attempt;
  char *image;
  enum ferry_cri_container_state state;
  int64_t created_at;
  char *pod_name; /* the kubelet's label io.kubernetes.pod.name, NULL without it */
};
/* The containers of sandbox_id (every container when NULL): *out (n of them) is
 * freed with ferry_cri_containers_free. */
int ferry_cri_list_containers(struct ferry_cri *c, const char *sandbox_id, struct ferry_cri_container **out, size_t *n,
                              ferry_error *err);
void ferry_cri_containers_free(struct ferry_cri_container *list, size_t n);

/* ---- Exec ---- */
struct ferry_cri_exec_result {
  uint8_t *out; /* NUL-terminated for convenience (the length is without it) */
  size_t out_len;
  uint8_t *errout;
  size_t errout_len;
  int32_t exit_code;
};
/* Runs cmd (NULL-terminated) in the container and waits, at most timeout_s seconds
 * (0: no limit but the client's timeout). */
int ferry_cri_exec_sync(struct ferry_cri *c, const char *id, const char *const *cmd, int64_t timeout_s,
                        struct ferry_cri_exec_result *out, ferry_error *err);
void ferry_cri_exec_result_free(struct ferry_cri_exec_result *r);

/* ---- Images ---- */
/* Whether the runtime has image (ImageService.ImageStatus); *id its ID when it has (optional). */
int ferry_cri_image_present(struct ferry_cri *c, const char *image, bool *present, char **id, ferry_error *err);

#endif
