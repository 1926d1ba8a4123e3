#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Pods a Deployment owns: the ReplicaSet makes the target pod (the source pod is
# quarantined from it once checkpointed), Ferry's admission webhook steers that
# pod to be restored on the target; never two copies, and a rollback gives the
# source pod back to its ReplicaSet.
bats_require_minimum_version 1.5.0
load helpers

teardown() {
  cluster_test_teardown
  cluster_signal CONT controller-manager 2>/dev/null || true
  k delete pm --all --wait=false >/dev/null 2>&1 || true
  k delete deploy --all >/dev/null 2>&1 || true
  k delete statefulset --all >/dev/null 2>&1 || true
  k uncordon node-b >/dev/null 2>&1 || true
  clear_pods 150
}

# deployment NAME: one replica of the counting web server, started on node-a
deployment() { cluster_deployment "$1" 16; }
# counting_deployment NAME: deployment NAME; once its pod counts, sets src_pod,
# src (its address) and before (its count)
counting_deployment() {
  deployment "$1"
  src_pod=$(live_pods "$1")
  src=$(ip_of "$src_pod")
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  before=$(count_on "$src")
}
live_pods() { k get pods -l "app=$1" -o json | python3 -c 'import json,sys; print(" ".join(p["metadata"]["name"] for p in json.load(sys.stdin)["items"] if not p["metadata"].get("deletionTimestamp")))'; }

@test "a Deployment's pod moves: its ReplicaSet's replacement is restored on the target, one pod, state intact" {
  counting_deployment dep
  rs_uid=$(k get rs -l app=dep -o jsonpath='{.items[0].metadata.uid}')
  annotate_move "$src_pod" node-b
  wait_phase "$pm" Succeeded
  target=$(k get pm "$pm" -o jsonpath='{.status.targetPod}')
  [ "$target" != "$src_pod" ]
  run k get pm "$pm" -o jsonpath='{.status.owner.kind} {.status.owner.uid}'
  assert_output "ReplicaSet $rs_uid"
  # the target is the ReplicaSet's own pod, restored on node-b; the source is gone
  run k get pod "$target" -o jsonpath='{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].uid} {.spec.nodeName} {.spec.schedulerName} {.metadata.annotations.ferry\.dev/migration-result}'
  assert_output --regexp "^ReplicaSet $rs_uid node-b ferry Succeeded: "
  after=$(count_served "$(target_ip "$pm")")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  wait_for 100 eval '[ "$(live_pods dep)" = "$target" ]'
  sleep 1
  run live_pods dep
  assert_output "$target"
  run k get rs -l app=dep -o jsonpath='{.items[0].status.replicas}'
  assert_output 1
  run k describe pm "$pm"
  assert_output --partial "Quarantined"
  grep -q "webhook: a new pod of default/dep-" "$CLUSTER_DIR/controller-1.log"
}

@test "a Deployment's replacement steered by the webhook and then never stored: the ReplicaSet's next pod is steered and restored on the target" {
  counting_deployment dlost
  # the ReplicaSet's first replacement passes the webhook (which claims it for the
  # migration) and fails after it, as when the API server dies before storing it
  kl_fault '{"failAdmittedCreates":1,"resource":"pods"}'
  annotate_move "$src_pod" node-b
  wait_phase "$pm" Succeeded 600
  grep -q "creating a pod: .*injected failure after admission" "$CLUSTER_DIR/controller-manager.log"
  grep -q "podmigration default/$pm: the replacement pod the webhook steered .* was not made; the next one is steered" \
    "$CLUSTER_DIR"/controller-*.log
  target=$(k get pm "$pm" -o jsonpath='{.status.targetPod}')
  run k get pod "$target" -o jsonpath='{.spec.nodeName} {.metadata.annotations.ferry\.dev/migration-result}'
  assert_output --regexp "^node-b Succeeded: "
  after=$(count_served "$(target_ip "$pm")")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  wait_for 100 eval '[ "$(live_pods dlost)" = "$target" ]'
  wait_for 100 eval '[ -z "$(running_on a "$src_pod")" ]'
}

@test "a Deployment's pod whose restore fails: rolled back, the source pod is its ReplicaSet's again, one pod runs" {
  counting_deployment dfail
  kubelet_kill b
  kubelet_start b FERRY_CRIU=/nonexistent/criu
  annotate_move "$src_pod" node-b
  wait_phase "$pm" RolledBack
  # the source pod runs again, owned and labelled as before; the replicaset's extra pod goes
  wait_for 100 eval '[ "$(live_pods dfail)" = "$src_pod" ]'
  run k get pod "$src_pod" -o jsonpath='{.metadata.ownerReferences[0].kind} {.metadata.labels.app} {.metadata.annotations.ferry\.dev/quarantine}'
  assert_output "ReplicaSet dfail "
  [ "$(running_on a "$src_pod")" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  after=$(count_served "$src")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  sleep 1
  run live_pods dfail
  assert_output "$src_pod"
  kubelet_kill b
  kubelet_start b
}

# statefulset NAME: one replica of the counting web server, started on node-a,
# with a hostPath volume on storage both nodes share (its data in /data)
statefulset() {
  local name=$1
  mkdir -p "$NODES_DIR/shared/$name"
  cluster_apply_on_a "$name" <<Y
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $name}
spec:
  replicas: 1
  serviceName: $name
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec:
      runtimeClassName: ferry
      terminationGracePeriodSeconds: 2
      volumes: [{name: data, hostPath: {path: "$NODES_DIR/shared/$name"}}]
      containers:
      - name: main
        image: ferry/workload
        volumeMounts: [{name: data, mountPath: /data}]
        command: [sh, -c, "echo started on \$(hostname) >> /data/log; workload --mem 16 & exec httpd -f -p 8080 -h /www"]
Y
}

@test "a StatefulSet's pod moves under its own name and with its volume: deleted once checkpointed, made again, restored on the target" {
  statefulset db
  src=$(ip_of db-0)
  uid=$(k get pod db-0 -o jsonpath='{.metadata.uid}')
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  before=$(count_on "$src")
  annotate_move db-0 node-b
  wait_phase "$pm" Succeeded
  run k get pm "$pm" -o jsonpath='{.status.owner.kind} {.status.targetPod}'
  assert_output "StatefulSet db-0"
  run k get pod db-0 -o jsonpath='{.spec.nodeName} {.metadata.ownerReferences[0].kind} {.spec.hostname}'
  assert_output "node-b StatefulSet db-0"
  [ "$(k get pod db-0 -o jsonpath='{.metadata.uid}')" != "$uid" ]
  after=$(count_served "$(ip_of db-0)")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  sleep 1
  [ "$(running_on b db-0)" = running ]
  [ -z "$(running_on a db-0)" ]
  run k describe pm "$pm"
  assert_output --partial "Replacing"
  # its volume came along: the restored process writes to the same storage, and never started again
  pid=$(runc --root "$(nodes_root b)" state "$(runc --root "$(nodes_root b)" list -q | grep '^db-0-main-')" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  nsenter -t "$pid" -m sh -c 'echo written after the move >> /data/log'
  run cat "$NODES_DIR/shared/db/log"
  assert_output "started on db-0
written after the move"
}

@test "a StatefulSet's pod made again while the admission webhook did not answer: deleted and made again, restored on the target" {
  statefulset un
  src=$(ip_of un-0)
  uid=$(k get pod un-0 -o jsonpath='{.metadata.uid}')
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  before=$(count_on "$src")
  # the StatefulSet controller waits; the source pod is deleted once checkpointed
  cluster_signal STOP controller-manager
  annotate_move un-0 node-b
  wait_for 300 eval '! k get pod un-0 >/dev/null 2>&1'
  # no controller, no webhook (failurePolicy Ignore): the StatefulSet's pod is made as it is
  controller_kill 1
  cluster_signal CONT controller-manager
  wait_for 100 eval 'k get pod un-0 >/dev/null 2>&1'
  [ -z "$(k get pod un-0 -o jsonpath='{.metadata.annotations.ferry\.dev/restore-from}')" ]
  controller_start 1
  wait_phase "$pm" Succeeded 600
  run k describe pm "$pm"
  assert_output --partial "ReplacementNotSteered"
  run k get pod un-0 -o jsonpath='{.spec.nodeName} {.metadata.ownerReferences[0].kind}'
  assert_output "node-b StatefulSet"
  [ "$(k get pod un-0 -o jsonpath='{.metadata.uid}')" != "$uid" ]
  after=$(count_served "$(ip_of un-0)")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  # the pod made afresh on A is gone with its container
  wait_for 100 eval '[ -z "$(running_on a un-0)" ]'
}

@test "a StatefulSet's pod whose restore fails: rolled back into its new pod on the source, state intact, one copy" {
  statefulset sf
  src=$(ip_of sf-0)
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  before=$(count_on "$src")
  kubelet_kill b
  kubelet_start b FERRY_CRIU=/nonexistent/criu
  annotate_move sf-0 node-b
  wait_phase "$pm" RolledBack
  run k get pod sf-0 -o jsonpath='{.spec.nodeName} {.metadata.ownerReferences[0].kind}'
  assert_output "node-a StatefulSet"
  wait_for 100 eval '[ -n "$(count_on "$(ip_of sf-0)")" ]'
  after=$(count_served "$(ip_of sf-0)")
  [ "$after" -ge "$before" ]
  [ "$(running_on a sf-0)" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  kubelet_kill b
  kubelet_start b
}
