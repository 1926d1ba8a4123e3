/* SPDX-License-Identifier: Apache-2.0 */
/* What ferry-controller keeps of each object it caches (kube/trim.h): the
 * fields its readers use, found by reading every one (watch.c, trigger.c,
 * schedule.c, target.c, placement.c, policy.c, owned.c, reconcile.c,
 * rebalancer*.c, rebalance/json.c, services.c, and the event recorder). With
 * 10,000 pods and 1,000 nodes the rest is most of the controller's memory
 * (docs/performance.md, "Controller memory").
 *
 * Kept whole: PodMigrations and MigrationPolicies (their state machine and
 * rounds read most of them, and there are few), Endpoints and EndpointSlices
 * (services.c sends an edited copy of the cached object back with a PUT: a
 * trimmed one would lose fields on the server). A target pod is made from a
 * fresh GET of the source pod, not from the cache (schedule.c). */
#include "controller.h"

/* Every cached object: what the informer (key, updates) and an Event about it need. */
#define KEEP_IDENTITY                                                                                                  \
  "\"apiVersion\":true,\"kind\":true,"                                                                                 \
  "\"metadata\":{\"name\":true,\"namespace\":true,\"uid\":true,\"resourceVersion\":true"

/* Pods: the triggers (Ferry's annotations, deletion), the checks before a move
 * (phase, node, address, one container, owner, RuntimeClass), placement (the
 * containers' requests and limits, selector, affinity, tolerations), the
 * policies' and the rebalancer's pod selectors and affinity terms (labels), the
 * quarantine of an owned pod (labels, ownerReferences), which of an owner's pods
 * are new (creationTimestamp: a replacement made unsteered) and the Scheduled status
 * (the container's name and ID). */
static const char KEEP_PODS[] =
    "{" KEEP_IDENTITY
    ",\"creationTimestamp\":true,\"deletionTimestamp\":true,\"labels\":\"shared\",\"ownerReferences\":\"shared\","
    "\"annotations\":{\"ferry.dev/*\":true}},"
    "\"spec\":{\"nodeName\":true,\"runtimeClassName\":true,\"nodeSelector\":\"shared\",\"affinity\":\"shared\","
    "\"tolerations\":\"shared\",\"containers\":{\"(shared)\":true,\"name\":true,\"resources\":true},"
    "\"initContainers\":{\"(shared)\":true,\"name\":true,\"resources\":true}},"
    "\"status\":{\"phase\":true,\"podIP\":true,\"containerStatuses\":{\"name\":true,\"containerID\":true}}}";

/* Nodes: placement and the rebalancer (labels, cordon, taints, Ready, allocatable and capacity). */
static const char KEEP_NODES[] = "{" KEEP_IDENTITY ",\"labels\":true},"
                                 "\"spec\":{\"unschedulable\":true,\"taints\":\"shared\"},"
                                 "\"status\":{\"allocatable\":\"shared\",\"capacity\":\"shared\",\"conditions\":{\"("
                                 "shared)\":true,\"type\":true,\"status\":true}}}";

/* Services: whether one has a selector (selector-less ones follow the pod). */
static const char KEEP_SERVICES[] = "{" KEEP_IDENTITY "},\"spec\":{\"selector\":true}}";

/* The agents' Leases: renewed when, and the load they report (ferry.dev/load). */
static const char KEEP_LEASES[] = "{" KEEP_IDENTITY ",\"annotations\":{\"ferry.dev/*\":true}},"
                                  "\"spec\":{\"holderIdentity\":true,\"renewTime\":true}}";

int ctl_keep(struct ctl *c, ferry_error *err)
{
  if (ferry_informer_keep(c->pods, KEEP_PODS, err) < 0 || ferry_informer_keep(c->nodes, KEEP_NODES, err) < 0 ||
      ferry_informer_keep(c->services, KEEP_SERVICES, err) < 0 || ferry_informer_keep(c->leases, KEEP_LEASES, err) < 0)
    return ferry_error_prefix(err, "informers' keep specs");
  return 0;
}
