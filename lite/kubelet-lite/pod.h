/* SPDX-License-Identifier: Apache-2.0 */
/* A pod as kubelet-lite keeps it, and what runs its containers: the interface
 * between pod.c's logic (sync, restarts with back-off, status, graceful stop)
 * and a container runtime. Two runtimes implement it: direct.c calls the
 * RuntimeClass's OCI runtime binary itself, as containerd's shim calls runc
 * (the default); cri.c asks a CRI runtime (containerd) over its socket
 * (--container-runtime-endpoint). */
#ifndef KUBELET_LITE_POD_H
#define KUBELET_LITE_POD_H

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "kubelet.h"

#define KL_MAX_CTRS 8
#define KL_SANDBOX_ID_MAX 160

struct ctr {
  char name[64], id[160], image[256];
  pid_t pid;          /* the container's init, when this process saw it start */
  int reaped, status; /* waitpid's answer for pid */
  int running, ever_started, terminated, exit_code, restarts, term_sent;
  char reason[64];
  char *message;
  int64_t started_ms, finished_ms, next_try_ms, backoff_ms;
};

struct pod_state {
  struct pod_state *next;
  char uid[64], ns[254], name[254], ip[INET_ADDRSTRLEN];
  const char *runtime;             /* direct: the OCI runtime binary, borrowed from cfg */
  char handler[64];                /* the RuntimeClass's handler */
  char sandbox[KL_SANDBOX_ID_MAX]; /* CRI: the pod sandbox's ID, "" while there is none */
  uint32_t sandbox_attempt;        /* CRI: the sandbox's attempt (of the next one while there is none) */
  int adopted;                     /* the runtime still had it when this process first saw the pod (a restart) */
  int nctr;
  struct ctr c[KL_MAX_CTRS];
  char *last_status;
  int64_t start_ms, kill_at_ms, next_sandbox_ms;
  int stopping, seen;
};

/* A container as its runtime sees it. */
enum kl_ctr_state {
  KL_CTR_ABSENT, /* the runtime has none of this ID */
  KL_CTR_CREATED,
  KL_CTR_RUNNING,
  KL_CTR_PAUSED,
  KL_CTR_EXITED,
};

struct kl_ctr_status {
  enum kl_ctr_state state;
  pid_t pid;
  int exit_known; /* exit_code is the runtime's word, not a guess */
  int exit_code;
};

struct kl_runtime {
  const char *id_scheme; /* a pod's containerID: SCHEME://ID */
  int any_handler;       /* every RuntimeClass handler goes to the runtime, which knows its own */
  int keeps_ended;       /* an ended container stays (as the kubelet keeps the last dead one) until the next attempt */
  /* The pod's sandbox: its network (s->ip set). */
  int (*sandbox_up)(struct kubelet *k, struct pod_state *s, json_object *pod, ferry_error *err);
  /* Creates and starts c (c->id, c->pid set); on failure *reason is the container's waiting reason. */
  int (*start)(struct kubelet *k, struct pod_state *s, struct ctr *c, json_object *pod, json_object *cspec,
               const char **reason, ferry_error *err);
  void (*status)(struct kubelet *k, struct pod_state *s, struct ctr *c, struct kl_ctr_status *st);
  /* Asks c to stop: TERM with grace_s seconds left, KILL at once when grace_s is 0. */
  void (*stop)(struct kubelet *k, struct pod_state *s, struct ctr *c, enum kl_ctr_state state, int64_t grace_s);
  /* Deletes the ended container c. */
  int (*remove)(struct kubelet *k, struct pod_state *s, struct ctr *c, ferry_error *err);
  /* Once nothing runs: the sandbox and what the pod had on the node go. */
  void (*sandbox_down)(struct kubelet *k, struct pod_state *s);
  /* A new pod state (kubelet-lite restarted): what the runtime still has of the pod
   * taken back into s (its sandbox, its containers' IDs, attempts, running or not).
   * 1 when it had something, 0 when not. NULL when IDs and addresses are the pod's
   * own and found again as they are (direct). */
  int (*adopt)(struct kubelet *k, struct pod_state *s, ferry_error *err);
  /* Once every pod of the node was adopted: what the runtime has of pods this node
   * does not keep (deleted while kubelet-lite was down, a sandbox not ready) is
   * stopped and removed, as the kubelet's garbage collection does. Optional. */
  void (*sweep)(struct kubelet *k);
};

extern const struct kl_runtime kl_direct_runtime;
extern const struct kl_runtime kl_cri_runtime;

/* pod.c: FIELD (runAsUser, runAsGroup) of the container's securityContext,
 * else of the pod's (the kubelet's effective security context); -1 when
 * neither sets it. */
int64_t pod_run_as(json_object *pod, json_object *cspec, const char *field);

/* direct.c: `runc spec` as the start of every container's config. */
int direct_load_template(struct kubelet *k, ferry_error *err);

/* cri.c: connects to cfg.cri_endpoint; its runtime's name and version ("containerd://1.6.20"). */
int cri_connect(struct kubelet *k, ferry_error *err);

#endif
