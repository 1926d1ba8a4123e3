/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's structs filled from the API's objects, for the wiring (and
 * the tests and the bench): a Pod, a Node, an agent's load report. Strings
 * point into the objects and arrays come from the arena: keep both for as long
 * as the structs are used. */
#ifndef FERRY_REBALANCE_JSON_H
#define FERRY_REBALANCE_JSON_H

#include <json-c/json.h>

#include "rebalance/rebalance.h"

/* uid, namespace, name, node, labels, requests (extended resources too), the
 * affinity terms, obj = pod. allow is RB_ALLOW_LOAD | RB_ALLOW_LOCALITY for a
 * Running pod annotated ferry.dev/migratable=true, else 0: the wiring clears
 * what the pod's MigrationPolicy does not enable, and everything for a pod in
 * a migration. The measured use, the history and the cooldown stay 0 for the
 * wiring to fill. -1 with err on a term the API server would have refused. */
int rb_pod_from_json(struct rb_arena *a, json_object *pod, struct rb_pod *out, ferry_error *err);

/* name, labels, schedulable (Ready, not cordoned), cpus and mem_total_bytes
 * from capacity, allocatable extended resources, obj = node. agent, reported,
 * cpu and memory stay 0: rb_node_load_from_report fills them. */
int rb_node_from_json(struct rb_arena *a, json_object *node, struct rb_node *out, ferry_error *err);

/* An agent's ferry.dev/load annotation ({"cpu":0.12,"cpus":2,"memory":0.35,
 * "podsCpu":0.5,"podsMemory":1048576,...}): cpu and memory are the pods' sums
 * over the node's cpus and mem_total_bytes where the report has them, else the
 * node's own figures; cpus from the report only when the node had none;
 * reported = 1. -1 with err when it is
 * not such an object; the node is then left unreported. */
int rb_node_load_from_report(struct rb_node *n, const char *report, ferry_error *err);

#endif
