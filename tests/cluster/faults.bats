#!/usr/bin/env bats
# Failures while migrating: a restarted controller continues from the status;
# a killed agent and a failed restore end with the pod running once, on its
# source; kube-lite dropping watches and forgetting history changes nothing.
bats_require_minimum_version 1.5.0
load helpers

setup_file() { cluster_up; }
teardown_file() { cluster_down; }
teardown() {
  [ -n "${BATS_TEST_COMPLETED:-}" ] || cluster_diagnose
  agent_resume a 2>/dev/null || true
  agent_resume b 2>/dev/null || true
}

web_pod() { pod_on_a "$1" sh -c "workload --mem ${2:-16} & exec httpd -f -p 8080 -h /www"; }

# Pods of finished tests are gone from A (moved, or removed here) so the next may use A's address.
clear_a() {
  local id
  for id in $(runc --root "$(nodes_root a)" list -q 2>/dev/null); do
    runc --root "$(nodes_root a)" delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(runc --root "$(nodes_root b)" list -q 2>/dev/null); do
    runc --root "$(nodes_root b)" delete -f "$id" >/dev/null 2>&1 || true
  done
  k delete pods --all --wait=false >/dev/null 2>&1 || true
  # CRIU keeps a moved container's old network namespace locked
  local t
  for t in iptables ip6tables; do
    if ip netns exec "$NODES_NS_A" "$t" -w -n -L CRIU >/dev/null 2>&1; then
      ip netns exec "$NODES_NS_A" "$t" -w -D INPUT -j CRIU 2>/dev/null || true
      ip netns exec "$NODES_NS_A" "$t" -w -D OUTPUT -j CRIU 2>/dev/null || true
      ip netns exec "$NODES_NS_A" "$t" -w -F CRIU 2>/dev/null || true
      ip netns exec "$NODES_NS_A" "$t" -w -X CRIU 2>/dev/null || true
    fi
  done
}

@test "the controller killed in each phase: a new one finishes every migration" {
  local phase holder n=0
  for phase in Scheduled Checkpointing Transferring Restoring; do
    n=$((n + 1))
    clear_a
    web_pod "r$n" 64
    wait_for 100 eval '[ -n "$(count_on "$NODES_ADDR_A")" ]'
    before=$(count_on "$NODES_ADDR_A")
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
    after=$(count_on "$NODES_ADDR_B")
    [ -n "$after" ] && [ "$after" -ge "$before" ]
    run k get pod "r$n"
    assert_failure
  done
}

@test "the source agent killed mid-checkpoint: rolled back, the pod runs on its source" {
  clear_a
  web_pod k1 256
  wait_for 100 eval '[ -n "$(count_on "$NODES_ADDR_A")" ]'
  migrate k1 node-b
  wait_phase_seen m-k1 Checkpointing
  # the agent's pod dies: the daemon, its checkpoint child, runc and CRIU with it
  agent_kill a
  agent_start a
  wait_phase m-k1 RolledBack
  run k get pm m-k1 -o jsonpath='{.status.rollbackFrom} {.status.message}'
  assert_output --partial "Checkpointing"
  # exactly one copy, on A, reachable, counting on
  [ "$(running_on a k1-main)" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  c1=$(count_on "$NODES_ADDR_A")
  sleep 0.3
  c2=$(count_on "$NODES_ADDR_A")
  [ -n "$c1" ] && [ "$c2" -gt "$c1" ]
  # the target pod is gone; the outcome is on the pod
  run k get pods -o name
  assert_output "pod/k1"
  run k get pod k1 -o jsonpath='{.metadata.annotations.ferry\.dev/migration-result}'
  assert_output --partial "RolledBack"
}

@test "a failed restore on the target: rolled back from the image, the pod runs once, on its source" {
  clear_a
  web_pod f1 16
  wait_for 100 eval '[ -n "$(count_on "$NODES_ADDR_A")" ]'
  before=$(count_on "$NODES_ADDR_A")
  # agent B restores into a network namespace that does not exist
  agent_kill b
  agent_start b --netns /var/run/netns/ferry-missing
  migrate f1 node-b
  wait_phase m-f1 RolledBack
  run k get pm m-f1 -o jsonpath='{.status.rollbackFrom}'
  assert_output "Restoring"
  run k describe pm m-f1
  assert_output --partial "RestoreFailed"
  [ "$(running_on a f1-main)" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  after=$(count_on "$NODES_ADDR_A")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  agent_kill b
  agent_start b
}

@test "kube-lite drops every watch and forgets its history mid-migration: same outcome" {
  clear_a
  web_pod w1 16
  wait_for 100 eval '[ -n "$(count_on "$NODES_ADDR_A")" ]'
  agent_pause b
  migrate w1 node-b
  wait_phase_seen m-w1 Transferring
  kl_fault '{"dropWatches":true,"forgetHistory":true}'
  kl_fault '{"failWrites":2,"code":409}'
  agent_resume b
  wait_phase m-w1 Succeeded
  [ -n "$(count_on "$NODES_ADDR_B")" ]
  grep -q 'is too old.*listing again' "$CLUSTER_DIR"/controller-1.log "$CLUSTER_DIR"/agent-*.log
}

@test "two controller replicas: only the leader acts; killing it hands over" {
  clear_a
  controller_start 2
  sleep 1
  holder=$(k get lease -n ferry-system ferry-controller -o jsonpath='{.spec.holderIdentity}')
  [ "$holder" = controller-1 ]
  web_pod l1 16
  wait_for 100 eval '[ -n "$(count_on "$NODES_ADDR_A")" ]'
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
