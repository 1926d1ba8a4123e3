#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The rebalancer (docs/policies.md) on three nodes: a MigrationPolicy's load
# section spreads CPU-burning opted-in pods from a busy node (dry run first:
# its plan reported, nothing moved), then stops moving; its locality section
# brings pods preferring each other onto one node and a pod preferring
# hardware onto the node labelled with it. The three nodes share this
# machine's cores, so each node's allocatable CPU is set to one core: a node's
# load is what its pods' cgroups use over that (the agents' reports).
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  export NODES_COUNT=3
  cluster_up
  local n
  for n in a b c; do
    k patch node "node-$n" --subresource=status --type=merge -p '{"status":{"allocatable":{"cpu":"1"}}}' >/dev/null
  done
}

teardown() {
  cluster_test_teardown
  k delete migrationpolicies --all >/dev/null 2>&1 || true
  k delete pm --all >/dev/null 2>&1 || true
  clear_pods 150
}

# metric NAME: its value summed over its series, from the leading controller's /metrics.
metric() {
  local port
  port=$(sed -n 's#.*/metrics on http://127.0.0.1:0 (port \([0-9]*\)).*#\1#p' "$CLUSTER_DIR/controller-1.log" | tail -1)
  curl -sf "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'
}

# rounds_pass N: waits until the rebalancer ran N more rounds.
rounds_pass() {
  local goal
  # shellcheck disable=SC2034 # (the eval below reads it)
  goal=$(($(metric ferry_rebalancer_rounds_total) + $1))
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 600 eval '[ "$(metric ferry_rebalancer_rounds_total)" -ge $goal ]'
}

# policy NAME DRYRUN SPEC...: a MigrationPolicy NAME covering every pod, with the spec fields given (YAML, flow style).
policy() {
  local name=$1 dry=$2
  shift 2
  local IFS=,
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: MigrationPolicy\nmetadata: {name: %s}\nspec: {dryRun: %s, %s}\n' \
    "$name" "$dry" "$*" | k apply -f - >/dev/null
}

LOAD='load: {enabled: true, cpuHighPercent: 60, cpuLowPercent: 40, hysteresisPercent: 5, windowObservations: 2, maxMovesPerRound: 1, maxMovesPerNodePerRound: 1, nodeCooldownSeconds: 0, cooldownSeconds: 3600}'

# burner NAME: an opted-in pod on node-a burning a quarter of a core.
burner() {
  pod_on_a "$1" workload --mem 8 --cpu 250
  k annotate pod "$1" ferry.dev/migratable=true >/dev/null
}

# on_node NODE: the pods (names, sorted) bound to node-NODE and not being deleted.
on_node() {
  k get pods -o json | python3 -c '
import json, sys
print(" ".join(sorted(p["metadata"]["name"] for p in json.load(sys.stdin)["items"]
                      if p["spec"].get("nodeName") == sys.argv[1] and not p["metadata"].get("deletionTimestamp"))))' "node-$1"
}

# active_pms: the PodMigrations not yet ended.
active_pms() { k get pm -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -cvE '^(Succeeded|Failed|RolledBack)$' || true; }

pm_count() { k get pm -o name | wc -l; }

@test "load: a dry run plans and moves nothing; then the busy node's opted-in pods spread until every node is under the threshold, and nothing moves after" {
  burner b1
  burner b2
  burner b3
  pod_on_a stay workload --mem 8 --cpu 250 # not opted in
  policy spread true "$LOAD"
  # the dry run: the round's plan in the policy's status and in events, no PodMigration
  wait_for 600 eval '[ -n "$(k get migrationpolicy spread -o jsonpath="{.status.plan[0].pod}")" ]'
  run k get migrationpolicy spread -o jsonpath='{.status.conditions[0].type}={.status.conditions[0].status} {.status.lastRound.dryRun} {.status.plan[0].from} {.status.plan[0].reason} {.status.plan[0].executed}'
  assert_output "Valid=True true node-a LoadBalance false"
  run k get migrationpolicy spread -o jsonpath='{.status.plan[0].why}'
  assert_output --partial "node-a"
  # maxMovesPerRound 1: one move planned a round, though node-a needs more than one to get under
  run k get migrationpolicy spread -o jsonpath='{.status.plan[*].pod}'
  assert_output --regexp '^b[123]$'
  run k get events --field-selector reason=MigrationPlanned -o jsonpath='{.items[0].message}'
  assert_output --regexp "^dry run of MigrationPolicy spread: would move to node-[bc] \(LoadBalance\): "
  # kubectl ferry plan: the same plan, as a table and as JSON; an unknown policy is an error
  run kferry plan spread
  assert_success
  assert_line --index 0 --regexp "^POLICY +NAMESPACE +POD +FROM +TO +REASON +MIGRATION +WHY$"
  assert_line --index 1 --regexp "^spread +[a-z0-9-]+ +b[123] +node-a +node-[bc] +LoadBalance +\(dry run\) +.*node-a"
  run kferry plan -o json
  assert_success
  python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert d[0]["policy"] == "spread" and d[0]["status"]["lastRound"]["dryRun"] is True and d[0]["status"]["plan"][0]["executed"] is False, d' "$output"
  run kferry plan nosuch
  assert_failure 1
  assert_output --partial 'migrationpolicies.ferry.dev "nosuch" not found'
  rounds_pass 3
  [ "$(pm_count)" -eq 0 ]
  [ "$(metric 'ferry_rebalancer_moves_total{reason="LoadBalance",dry_run="true"}')" -ge 1 ]

  # for real: pods move off node-a until it is under 60% of its core (two of its four burners left)
  policy spread false "$LOAD"
  wait_for 1200 eval '[ "$(k get pm -o name | wc -l)" -ge 2 ] && [ "$(active_pms)" -eq 0 ] && [ "$(on_node a | wc -w)" -le 2 ]'
  for pm in $(k get pm -o jsonpath='{.items[*].metadata.name}'); do
    run k get pm "$pm" -o jsonpath='{.spec.reason} {.metadata.labels.ferry\.dev/policy} {.status.phase} {.status.sourceNode}'
    assert_output --regexp "^LoadBalance spread Succeeded node-a$"
  done
  # the pod not opted in never moved; no pod moved twice (its cooldown)
  run on_node a
  assert_output --regexp "(^| )stay( |$)"
  [ -z "$(k get pm -o jsonpath='{.items[*].spec.pod}' | tr ' ' '\n' | grep -x stay)" ]
  [ -z "$(k get pm -o jsonpath='{.items[*].spec.pod}' | tr ' ' '\n' | sort | uniq -d)" ]
  run k get events --field-selector reason=MigrationRequested -o jsonpath='{.items[0].message}'
  assert_output --regexp "^created PodMigration .* \(to node-[bc]\): LoadBalance: "
  # within the thresholds: no move for the next rounds (no ping-pong)
  moved=$(pm_count)
  rounds_pass 8
  [ "$(pm_count)" -eq "$moved" ]
  run k get migrationpolicy spread -o jsonpath='{.status.lastRound.overloaded} {.status.lastRound.dryRun}'
  assert_output "0 false"
  run kferry plan spread
  assert_success
  assert_output "No moves planned."
  [ "$(metric 'ferry_rebalancer_moves_total{reason="LoadBalance",dry_run="false"}')" -eq "$moved" ]
}

@test "a policy that cannot work is refused (Valid=False, a Warning event) and moves nothing until it is fixed" {
  burner w1
  burner w2
  burner w3
  policy broken false 'load: {enabled: true, cpuHighPercent: 50, cpuLowPercent: 70, windowObservations: 1}'
  wait_for 600 eval '[ "$(k get migrationpolicy broken -o jsonpath="{.status.conditions[0].status}")" = False ]'
  run k get migrationpolicy broken -o jsonpath='{.status.conditions[0].reason}: {.status.conditions[0].message}'
  assert_output "InvalidPolicy: cpuLowPercent 70 is not below cpuHighPercent 50"
  run k get events --field-selector reason=InvalidPolicy -o jsonpath='{.items[0].type} {.items[0].involvedObject.kind} {.items[0].involvedObject.name}'
  assert_output "Warning MigrationPolicy broken"
  run kferry plan broken
  assert_success
  assert_output --partial "MigrationPolicy broken is not valid: cpuLowPercent 70 is not below cpuHighPercent 50"
  # node-a is busy (three quarters of its core), yet the refused policy moves nothing
  rounds_pass 4
  [ "$(pm_count)" -eq 0 ]
  [ "$(metric 'ferry_rebalancer_rounds_total{result="invalid_policy"}')" -ge 4 ]
  # fixed (as a dry run): valid again, and planning
  policy broken true 'load: {enabled: true, cpuHighPercent: 50, cpuLowPercent: 30, windowObservations: 1}'
  wait_for 600 eval '[ -n "$(k get migrationpolicy broken -o jsonpath="{.status.plan[0].pod}")" ]'
  run k get migrationpolicy broken -o jsonpath='{.status.conditions[0].status} {.status.conditions[0].reason} {.status.plan[0].executed}'
  assert_output "True Valid false"
  [ "$(pm_count)" -eq 0 ]
}

# chatty NAME NODE: an opted-in counting pod (label group=chat) on node-NODE that prefers running next to the others of its group.
chatty() {
  k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: $1, group: chat}, annotations: {ferry.dev/migratable: "true"}}
spec:
  nodeName: node-$2
  runtimeClassName: ferry
  terminationGracePeriodSeconds: 2
  affinity:
    podAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {group: chat}}}
  containers: [{name: main, image: ferry/workload, command: [sh, -c, "workload --mem 16 & exec httpd -f -p 8080 -h /www"], resources: {requests: {cpu: 100m, memory: 64Mi}}}]
Y
  k wait --for=condition=Ready "pod/$1" --timeout=30s >/dev/null
}

@test "locality: two pods preferring each other on different nodes end on one node, counting on" {
  chatty chat1 a
  chatty chat2 b
  a1=$(ip_of chat1)
  a2=$(ip_of chat2)
  wait_for 100 eval '[ -n "$(count_on "$a1")" ] && [ -n "$(count_on "$a2")" ]'
  c1=$(count_on "$a1")
  c2=$(count_on "$a2")
  policy together false 'locality: {enabled: true}'
  wait_for 1200 eval '[ "$(pm_count)" -ge 1 ] && [ "$(active_pms)" -eq 0 ]'
  pm=$(k get pm -o jsonpath='{.items[0].metadata.name}')
  run k get pm "$pm" -o jsonpath='{.spec.reason} {.status.phase}'
  assert_output "Affinity Succeeded"
  target=$(k get pm "$pm" -o jsonpath='{.status.targetPod}')
  moved=$(k get pm "$pm" -o jsonpath='{.spec.pod}')
  other=chat1
  [ "$moved" = chat1 ] && other=chat2
  # together on the other pod's node
  [ "$(k get pod "$target" -o jsonpath='{.spec.nodeName}')" = "$(k get pod "$other" -o jsonpath='{.spec.nodeName}')" ]
  before=$c1
  [ "$moved" = chat2 ] && before=$c2
  after=$(count_served "$(target_ip "$pm")")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  # together: nothing more to gain
  rounds_pass 5
  [ "$(pm_count)" -eq 1 ]
}

@test "hardware: a pod preferring a labelled node moves there once a node has the label" {
  k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: hw, labels: {app: hw}, annotations: {ferry.dev/migratable: "true"}}
spec:
  nodeName: node-a
  runtimeClassName: ferry
  terminationGracePeriodSeconds: 2
  affinity:
    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 80
        preference: {matchExpressions: [{key: example.com/fpga, operator: In, values: ["true"]}]}
  containers: [{name: main, image: ferry/workload, command: [workload, --mem, "8"], resources: {requests: {cpu: 100m, memory: 64Mi}}}]
Y
  k wait --for=condition=Ready pod/hw --timeout=30s >/dev/null
  policy hardware false 'locality: {enabled: true, hardwareLabels: [example.com/fpga]}'
  # no node has it: the pod stays
  rounds_pass 3
  [ "$(pm_count)" -eq 0 ]
  k label node node-c example.com/fpga=true >/dev/null
  wait_for 1200 eval '[ "$(pm_count)" -ge 1 ] && [ "$(active_pms)" -eq 0 ]'
  pm=$(k get pm -o jsonpath='{.items[0].metadata.name}')
  run k get pm "$pm" -o jsonpath='{.spec.pod} {.spec.reason} {.spec.targetNode} {.status.phase}'
  assert_output "hw Hardware node-c Succeeded"
  k label node node-c example.com/fpga- >/dev/null
}
