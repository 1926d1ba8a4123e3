#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Migration strategies through the whole control plane: auto choosing postCopy
# above node A's post-copy threshold (the pod runs on the target while its
# memory follows from the source), postCopy's failure half-way, and preCopy's
# stated fallback where the node tracks no dirty memory.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  cluster_up
  # the pages leave node A at most at 16 MiB/s: a 128 MiB pod takes 8 s; strategy
  # auto moves pods above 4 MiB from A by post-copy (until A has measured its own)
  agent_kill a
  agent_start a --migration-bandwidth 16Mi --postcopy-threshold 4Mi
}

pm_yaml() { # NAME POD STRATEGY
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: %s}\nspec: {pod: %s, targetNode: node-b, strategy: %s}\n' "$@"
}

jp() { k get pm "$1" -o jsonpath="$2"; }
# lease_annotation NODE KEY: the annotation ferry.dev/KEY of node-NODE's agent Lease
lease_annotation() { k get lease -n ferry-system "ferry-agent-node-$1" -o jsonpath="{.metadata.annotations.ferry\.dev/$2}"; }

@test "auto above A's threshold: postCopy, saying why; the pod runs on B while its memory follows; Succeeded once every page arrived; A keeps the move" {
  counting_pod lazy
  # A's restarted agent publishes its flag's threshold, not measured (its first renewal)
  wait_for 300 eval 'lease_annotation a postcopy-threshold | grep -q "\"bytes\":4194304,"'
  run lease_annotation a postcopy-threshold
  assert_output --partial '"bytes":4194304,"threshold":"4 MiB","source":"default"'
  run lease_annotation b postcopy-support
  assert_output ok
  # the controller reads the pod's memory from A's load report
  wait_for 300 eval 'lease_annotation a load | grep -q "/lazy\""'
  pm_yaml lazy-1 lazy auto | k apply -f -
  wait_phase lazy-1 Succeeded
  run jp lazy-1 '{.status.strategy} {.status.reason}'
  assert_output "postCopy Succeeded"
  run jp lazy-1 '{.status.strategyNote}'
  assert_output --regexp "^auto: postCopy, the pod's [0-9.]+ MiB is above node-a's default threshold of 4 MiB \(not measured yet\)$"
  run k get events --field-selector involvedObject.name=lazy-1 -o jsonpath='{.items[*].reason}'
  assert_output --partial StrategyChosen
  [ "$(jp lazy-1 '{.status.memoryBytes}')" -ge $((16 << 20)) ]
  # the small image while frozen, the 16 MiB after the restore, through the page server
  run jp lazy-1 '{.status.pageServer}'
  assert_output --regexp '^127\.0\.0\.1:[0-9]+$'
  [ "$(jp lazy-1 '{.status.bytesMoved.duringFreeze}')" -lt $((4 << 20)) ]
  [ "$(jp lazy-1 '{.status.bytesMoved.afterRestore}')" -ge $((16 << 20)) ]
  [ "$(jp lazy-1 '{.status.freezeMillis}')" -gt 0 ]
  [ "$(jp lazy-1 '{.status.timings.pages}')" -gt 0 ]
  run jp lazy-1 '{.status.conditions[?(@.type=="MemoryTransferred")].status} {.status.conditions[?(@.type=="SourceReleased")].status}'
  assert_output "True True"
  dst=$(target_ip lazy-1)
  after=$(http "$dst" /count)
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  wait_for 100 eval '! k get pod lazy >/dev/null 2>&1'
  [ -z "$(running_on a lazy)" ]
  run k describe pm lazy-1
  assert_output --partial "MemoryTransferred"
  assert_output --partial "SourceReleased"
  # A keeps the move for its threshold: one postCopy move is not a line yet
  wait_for 300 eval 'lease_annotation a postcopy-threshold | grep -q "\"postCopy\":{\"moves\":1,"'
  run lease_annotation a postcopy-threshold
  assert_output --partial '"source":"default"'
}

@test "postCopy: the target's lazy-pages daemon killed half-way: the target is stopped, the pod runs on A from its freeze" {
  web_pod half 128
  src=$(ip_of half)
  wait_for 100 eval '[ -n "$(http "$src" /count)" ]'
  pm_yaml half-1 half postCopy | k apply -f -
  # restored on B and still fetching memory (16 MiB/s)
  wait_for 200 eval '[ "$(jp half-1 "{.status.conditions[?(@.type==\"Restored\")].status}")" = True ]'
  [ "$(jp half-1 '{.status.phase}')" = Restoring ]
  pkill -KILL -f 'lazy-pages --images-dir'
  wait_phase half-1 RolledBack
  run jp half-1 '{.status.rollbackFrom}'
  assert_output Restoring
  run k get events --field-selector involvedObject.name=half-1 -o jsonpath='{.items[*].reason}'
  assert_output --partial PagesFailed
  # one copy: on A, answering again and counting on; nothing of it on B
  [ "$(running_on a half)" = running ]
  tpod=$(jp half-1 '{.status.targetPod}')
  wait_for 100 eval '! k get pod "$tpod" >/dev/null 2>&1'
  [ -z "$(running_on b "$tpod")" ]
  wait_for 100 eval '[ -n "$(http "$src" /count)" ]'
  c1=$(http "$src" /count)
  wait_for 50 eval '[ "$(http "$src" /count)" -gt "$c1" ]'
  run k get pod half -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
  wait_for 100 eval '[ "$(k get pod half -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}")" = True ]'
}

@test "preCopy from a MigrationPolicy's default, on nodes without dirty-page tracking: runs as stopAndCopy and says so" {
  if criu_tracks_dirty_memory; then
    skip "these nodes track dirty memory"
  fi
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: MigrationPolicy\nmetadata: {name: pre}\nspec: {defaultStrategy: preCopy, podSelector: {matchLabels: {app: pre}}}\n' | k apply -f -
  pod_on_a pre workload --mem 8
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: pre-1}\nspec: {pod: pre, targetNode: node-b}\n' | k apply -f -
  wait_phase pre-1 Succeeded
  run jp pre-1 '{.status.strategy}'
  assert_output stopAndCopy
  run jp pre-1 '{.status.strategyNote}'
  assert_output --partial "soft-dirty"
  [ "$(jp pre-1 '{.status.bytesMoved.duringFreeze}')" -ge $((8 << 20)) ]
  run k get events --field-selector involvedObject.name=pre-1 -o jsonpath='{.items[*].reason}'
  assert_output --partial StrategyFallback
  k delete migrationpolicy pre
}
