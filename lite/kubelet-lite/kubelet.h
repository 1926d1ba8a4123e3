/* SPDX-License-Identifier: Apache-2.0 */
/* kubelet-lite: plays the kubelet for the pods bound to one node on kube-lite,
 * for tests and the demo (never for a real cluster). By default it makes each
 * pod's network namespace with an address on the node's pod network and runs
 * the pod's containers through the OCI runtime its RuntimeClass names, called
 * exactly as containerd's shim calls runc; with --container-runtime-endpoint it
 * runs them through that CRI runtime (containerd) instead. Either way it reports
 * the pod's status, IP and readiness. */
#ifndef KUBELET_LITE_H
#define KUBELET_LITE_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/kube.h"

#define KL_MAX_HANDLERS 8
#define KL_MAX_IMAGES 16
#define KL_MAX_PREFIXES 8

struct pod_state;
struct kl_runtime;
struct ferry_cri;

struct kubelet_cfg {
  const char *node;
  const char *state_dir;                    /* pods/UID/..., ips/ */
  const char *runc_root;                    /* --root given to every runtime */
  const char *handlers[KL_MAX_HANDLERS][2]; /* RuntimeClass handler -> runtime binary; [0] "runc" default */
  int nhandlers;
  const char *images[KL_MAX_IMAGES][2]; /* image name -> root filesystem directory */
  int nimages;
  const char *pod_annotations
      [KL_MAX_PREFIXES]; /* pod annotation prefixes passed to the runtime, as containerd's pod_annotations */
  int nprefixes;
  const char *bridge_netns, *bridge; /* the pod network: a bridge in a network namespace */
  uint32_t pool_first, pool_last;    /* pod addresses (host order) */
  int prefix_len;                    /* of the pod network, for the pods' eth0 */
  const char *host_ip;
  const char *cri_endpoint; /* unix:///PATH: pods through this CRI runtime; NULL: direct */
};

struct kubelet {
  struct kubelet_cfg cfg;
  struct ferry_kube *kube;
  struct ferry_informers *inf;
  struct ferry_informer *pods, *rclasses;
  struct ferry_recorder *rec;
  struct pod_state *local;     /* the pods this node runs */
  json_object *tmpl;           /* `runc spec` as the start of every container's config */
  const struct kl_runtime *rt; /* what runs the pods (pod.h) */
  struct ferry_cri *cri;       /* CRI mode: the runtime's client */
  char *runtime_version;       /* the Node's containerRuntimeVersion */
  int adopted;                 /* the runtime's pods were taken back (pod_adopt_all): pods are synced from now */
};

/* net.c: the pod's sandbox. */
char *net_ns_name(const char *uid);
int net_setup(const struct kubelet_cfg *cfg, const char *uid, char *ip, size_t iplen, ferry_error *err);
void net_teardown(const struct kubelet_cfg *cfg, const char *uid);
/* The address recorded for the pod, or -1. */
int net_ip_of(const struct kubelet_cfg *cfg, const char *uid, char *ip, size_t iplen);

/* pod.c */
/* Once the pods are listed, before the first sync: the pods the runtime still runs
 * taken back (a restarted kubelet-lite carries on), its leftovers removed. */
void pod_adopt_all(struct kubelet *k);
void pod_sync(struct kubelet *k, json_object *pod);
/* Pods that exist here but no longer in the API (deleted outright). */
void pod_sync_orphans(struct kubelet *k);
void pod_reap(struct kubelet *k, pid_t pid, int status);
void pod_state_free_all(struct kubelet *k);

#endif
