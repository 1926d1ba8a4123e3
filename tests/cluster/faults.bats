#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Failures while migrating: a restarted controller continues from the status;
# a killed agent and a failed restore end with the pod running once, on its
# source; kube-lite dropping watches and forgetting history changes nothing.
bats_require_minimum_version 1.5.0
load helpers

teardown() {
  cluster_test_teardown
  agent_resume a 2>/dev/null || true
  agent_resume b 2>/dev/null || true
}

@test "the controller killed in each phase: a new one finishes every migration" {
  local phase holder n=0
  for phase in Scheduled Checkpointing Transferring Restoring; do
    n=$((n + 1))
    clear_pods
    counting_pod "r$n" 64
    # hold the migration in the phase: stop the agent that moves it on
    case $phase in
      Scheduled) holder=a; agent_pause a ;;
      Transferring) holder=b; agent_pause b ;;
      *) holder= ;;
    esac
    migrate "r$n" node-b
    wait_phase_seen "m-r$n" "$phase"
    case $phase in
      Checkpointing) holder=a; agent_pause a ;;
      Restoring) holder=b; agent_pause b ;;
    esac
    controller_kill 1
    [ "$(pm_phase "m-r$n")" = "$phase" ]
    controller_start 1
    agent_resume "$holder"
    wait_phase "m-r$n" Succeeded
    after=$(count_served "$(target_ip "m-r$n")")
    [ -n "$after" ] && [ "$after" -ge "$before" ]
    wait_for 100 eval '! k get pod "r$n" >/dev/null 2>&1'
  done
}

@test "the source agent killed mid-checkpoint: rolled back, the pod runs on its source" {
  clear_pods
  web_pod k1 256
  src=$(ip_of k1)
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  migrate k1 node-b
  wait_phase_seen m-k1 Checkpointing
  # the agent's pod dies: the daemon, its checkpoint child, runc and CRIU with it
  agent_kill a
  agent_start a
  wait_phase m-k1 RolledBack
  run k get pm m-k1 -o jsonpath='{.status.rollbackFrom} {.status.message}'
  assert_output --partial "Checkpointing"
  # exactly one copy, on A, reachable, counting on
  [ "$(running_on a k1)" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  c1=$(count_on "$src")
  sleep 0.3
  c2=$(count_on "$src")
  [ -n "$c1" ] && [ "$c2" -gt "$c1" ]
  # the target pod is gone; the outcome is on the pod
  wait_for 50 eval '[ "$(k get pods -o name)" = pod/k1 ]'
  run k get pod k1 -o jsonpath='{.metadata.annotations.ferry\.dev/migration-result}'
  assert_output --partial "RolledBack"
}

@test "a failed restore on the target: rolled back from the image, the pod runs once, on its source" {
  clear_pods
  counting_pod f1 16
  # on B, ferry-runc's CRIU cannot run: the kubelet's create of the restored container fails
  kubelet_kill b
  kubelet_start b FERRY_CRIU=/nonexistent/criu
  migrate f1 node-b
  wait_phase m-f1 RolledBack
  run k get pm m-f1 -o jsonpath='{.status.rollbackFrom}'
  assert_output "Restoring"
  run k describe pm m-f1
  assert_output --partial "RestoreFailed"
  assert_output --partial "ferry-runc"
  [ "$(running_on a f1)" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  after=$(count_served "$src")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  wait_for 50 eval '[ "$(k get pods -o name)" = pod/f1 ]'
  kubelet_kill b
  kubelet_start b
}

@test "kube-lite drops every watch and forgets its history mid-migration: same outcome" {
  clear_pods
  web_pod w1 16
  wait_for 100 eval '[ -n "$(count_on "$(ip_of w1)")" ]'
  agent_pause b
  migrate w1 node-b
  wait_phase_seen m-w1 Transferring
  kl_fault '{"dropWatches":true,"forgetHistory":true}'
  kl_fault '{"failWrites":2,"code":409}'
  agent_resume b
  wait_phase m-w1 Succeeded
  [ -n "$(count_on "$(target_ip m-w1)")" ]
  grep -q 'is too old.*listing again' "$CLUSTER_DIR"/controller-1.log "$CLUSTER_DIR"/agent-*.log
}

@test "two controller replicas: only the leader acts; killing it hands over" {
  clear_pods
  controller_start 2
  sleep 1
  holder=$(k get lease -n ferry-system ferry-controller -o jsonpath='{.spec.holderIdentity}')
  [ "$holder" = controller-1 ]
  web_pod l1 16
  wait_for 100 eval '[ -n "$(count_on "$(ip_of l1)")" ]'
  agent_pause a
  migrate l1 node-b
  wait_phase_seen m-l1 Scheduled
  run grep -c 'moving pod l1' "$CLUSTER_DIR/controller-2.log"
  assert_output 0
  controller_kill 1
  agent_resume a
  wait_phase m-l1 Succeeded
  run k get lease -n ferry-system ferry-controller -o jsonpath='{.spec.holderIdentity}'
  assert_output controller-2
  grep -q 'leading: reconciling' "$CLUSTER_DIR/controller-2.log"
  controller_start 1
}
