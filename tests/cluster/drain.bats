#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Drain: a cordoned node's opted-in pods (ferry.dev/migratable: "true") are
# migrated, not restarted; `kubectl ferry drain` also evicts the others the way
# kubectl drain does, honouring PodDisruptionBudgets.
bats_require_minimum_version 1.5.0
load helpers

teardown() {
  cluster_test_teardown
  k uncordon node-a >/dev/null 2>&1 || true
  k delete pdb --all >/dev/null 2>&1 || true
  clear_pods
}

@test "kubectl cordon: the opted-in pod moves with its state, the other one stays" {
  web_pod mv1
  pod_on_a st1 workload --mem 8
  k annotate pod mv1 ferry.dev/migratable=true
  src=$(ip_of mv1)
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  before=$(count_on "$src")
  k cordon node-a
  wait_for 50 eval '[ -n "$(pm_of mv1)" ]'
  pm=$(pm_of mv1)
  wait_phase "$pm" Succeeded
  run k get pm "$pm" -o jsonpath='{.spec.reason} {.status.targetNode}'
  assert_output "Drain node-b"
  after=$(count_served "$(target_ip "$pm")")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  # not opted in: left alone (the cordon only stops new pods)
  [ "$(running_on a st1)" = running ]
  run k get pm -l ferry.dev/pod=st1 -o name
  assert_output ""
  run k get node node-a
  assert_output --partial "SchedulingDisabled"
}

@test "kubectl ferry drain: opted-in pods migrated, the others evicted once their PodDisruptionBudget allows" {
  web_pod dm1
  pod_on_a de1 workload --mem 8
  k annotate pod dm1 ferry.dev/migratable=true
  before=$(count_on "$(ip_of dm1)")
  k apply -f - <<Y
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: de1}
spec: {minAvailable: 1, selector: {matchLabels: {app: de1}}}
Y
  # the budget holds: the eviction is retried until the timeout, then the drain fails
  run kferry drain node-a --timeout 8
  assert_failure
  assert_output --partial "node/node-a cordoned"
  assert_output --regexp "pod/dm1 migrated to node-b as dm1-[0-9a-f]+ \(downtime [0-9]+ms"
  assert_output --partial "Cannot evict pod as it would violate the pod's disruption budget"
  [ "$(running_on a de1)" = running ]
  pm=$(pm_of dm1)
  after=$(count_served "$(target_ip "$pm")")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  # the budget goes: the drain finishes
  k delete pdb de1
  run kferry drain node-a --timeout 30
  assert_success
  assert_output --partial "evicting pod default/de1"
  assert_output --partial "node/node-a drained"
  run k get pod de1
  assert_failure
  [ -z "$(running_on a de1)" ]
  # the moved pod is not touched a second time
  run k get pods -o name
  assert_output "pod/$(k get pm "$pm" -o jsonpath='{.status.targetPod}')"
}

@test "kubectl ferry drain: bad use is refused with the usage" {
  run kferry drain
  assert_failure
  assert_output --partial "usage: kubectl ferry drain NODE"
  run kferry drain node-x --timeout soon
  assert_failure
  assert_output --partial "--timeout: not a number of seconds: soon"
  run kferry drain node-x
  assert_failure
  assert_output --partial 'nodes "node-x" not found'
}
