#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Post-copy when an agent dies (SIGKILL of its whole session: the daemon, its
# steps, their runc and CRIU, as when its pod crashes) and starts again, at
# several moments of the move. After each: the PodMigration is terminal and
# true to what happened, the workload answers within seconds and its count went
# on, exactly one copy runs, and nothing is left frozen or held by a CRIU.
# shellcheck disable=SC2154 # src and before: set by counting_pod
bats_require_minimum_version 1.5.0
load helpers

# the pages leave node A at most at 16 MiB/s: a 128 MiB pod takes 8 s
AGENT_A_ARGS=(--migration-bandwidth 16Mi)

setup_file() {
  cluster_up
  agent_kill a
  agent_start a "${AGENT_A_ARGS[@]}"
}

pm_yaml() { # NAME POD
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: %s}\nspec: {pod: %s, targetNode: node-b, strategy: postCopy}\n' "$@"
}

jp() { k get pm "$1" -o jsonpath="$2"; }
condition() { jp "$1" "{.status.conditions[?(@.type==\"$2\")].status}"; }

# moving POD PM: a 128 MiB counting pod on A, moved by post-copy; returns once
# it runs on B and its memory is still coming.
moving() {
  local pm=$2 # (eval in wait_for sees locals, not $2)
  counting_pod "$1" 128
  pm_yaml "$pm" "$1" | k apply -f -
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 300 eval '[ "$(condition "$pm" Restored)" = True ]'
  [ "$(condition "$pm" MemoryTransferred)" != True ]
}

restart_agent() { # NODE
  agent_kill "$1"
  sleep 0.5
  if [ "$1" = a ]; then agent_start a "${AGENT_A_ARGS[@]}"; else agent_start b; fi
}

# terminal PM: waits for the end (at most 60 s), prints the phase.
terminal() {
  local i p
  for ((i = 0; i < 600; i++)); do
    p=$(pm_phase "$1")
    case "$p" in Succeeded | Failed | RolledBack)
      echo "$p"
      return 0
      ;;
    esac
    sleep 0.1
  done
  k get pm "$1" -o yaml >&2
  return 1
}

# unheld NODE ID: no thread of container ID on NODE is traced or stopped, and
# its freezer cgroup (v1) is not frozen.
unheld() {
  local pid t fz
  pid=$(runc --root "$(nodes_root "$1")" state "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  for t in /proc/"$pid"/task/*; do
    grep -qE '^TracerPid:[[:space:]]+0$' "$t/status" || { grep -E 'TracerPid|State' "$t/status" >&2; return 1; }
    ! grep -qE '^State:[[:space:]]+[tT]' "$t/status" || { grep State "$t/status" >&2; return 1; }
  done
  fz=$(sed -n 's/^[0-9]*:freezer:\(.*\)/\1/p' /proc/"$pid"/cgroup)
  [ -z "$fz" ] || ! grep -q FROZEN "/sys/fs/cgroup/freezer$fz/freezer.state"
}

container_on() { runc --root "$(nodes_root "$1")" list 2>/dev/null | awk -v p="$2-main-" 'index($1, p) == 1 && $3 == "running" {print $1}'; }

# runs_on_a_again POD: one copy, on A, free, answering within seconds, counting
# on from where it was (never below the count before the move).
runs_on_a_again() {
  local pod=$1 id c1
  [ "$(running_on a "$pod")" = running ]
  id=$(container_on a "$pod")
  wait_for 100 unheld a "$id"
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  c1=$(count_on "$src")
  [ "$c1" -ge "$before" ]
  # shellcheck disable=SC2016
  wait_for 50 eval '[ "$(count_on "$src")" -gt "$c1" ]'
  [ -z "$(k get pods -o wide --no-headers | awk -v p="$pod-" 'index($1, p) == 1 && $7 == "node-b"')" ]
}

# runs_on_b POD PM: one copy, on B, answering and counting on; none on A.
runs_on_b() {
  local pod=$1 dst c1
  dst=$(target_ip "$2")
  # shellcheck disable=SC2016
  wait_for 100 eval '[ -n "$(count_on "$dst")" ]'
  c1=$(count_on "$dst")
  [ "$c1" -ge "$before" ]
  # shellcheck disable=SC2016
  wait_for 50 eval '[ "$(count_on "$dst")" -gt "$c1" ]'
  # shellcheck disable=SC2016
  wait_for 100 eval '[ -z "$(container_on a "$pod")" ]'
  wait_for 100 unheld b "$(container_on b "$(jp "$2" '{.status.targetPod}')")"
}

no_agent_holds() { # the agents are ready (no container left held) again
  local n port
  for n in a b; do
    # shellcheck disable=SC2034 # (read by the eval in wait_for)
    port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$CLUSTER_DIR/agent-$n.log" | tail -1)
    # shellcheck disable=SC2016
    wait_for 100 eval 'curl -sf "http://127.0.0.1:$port/readyz" >/dev/null'
  done
}

@test "postCopy, the target's agent killed while pages move and started again: RolledBack, the pod runs once on A" {
  moving tk1 tk1-1
  restart_agent b
  [ "$(terminal tk1-1)" = RolledBack ]
  runs_on_a_again tk1
  run jp tk1-1 '{.status.rollbackFrom}'
  assert_output Restoring
  # shellcheck disable=SC2034 # (read by the eval in wait_for)
  tpod=$(jp tk1-1 '{.status.targetPod}')
  # shellcheck disable=SC2016
  wait_for 100 eval '[ -z "$(running_on b "$tpod")" ]'
  no_agent_holds
}

@test "postCopy, the target's agent killed before the restore and started again: terminal, one copy runs" {
  counting_pod tk2 128
  pm_yaml tk2-1 tk2 | k apply -f -
  # shellcheck disable=SC2016
  wait_for 300 eval '[[ "$(pm_phase tk2-1)" =~ ^(Transferring|Restoring)$ ]]'
  restart_agent b
  end=$(terminal tk2-1)
  case "$end" in
  Succeeded) runs_on_b tk2 tk2-1 ;;
  RolledBack) runs_on_a_again tk2 ;;
  *) false ;;
  esac
  no_agent_holds
}

@test "postCopy, the target's agent killed after the last page, before the source is released: Succeeded on B" {
  moving tk3 tk3-1
  # the source agent does not see MemoryTransferred until it runs again: its
  # step keeps CRIU waiting for the commit while the target's agent dies
  kill -STOP "$(cat "$CLUSTER_DIR/agent-a.pid")"
  # shellcheck disable=SC2016
  wait_for 300 eval '[ "$(condition tk3-1 MemoryTransferred)" = True ]'
  restart_agent b
  kill -CONT "$(cat "$CLUSTER_DIR/agent-a.pid")"
  [ "$(terminal tk3-1)" = Succeeded ]
  runs_on_b tk3 tk3-1
  no_agent_holds
}

@test "postCopy, the source's agent killed while pages move and started again: RolledBack, the pod runs once on A" {
  moving sk1 sk1-1
  restart_agent a
  [ "$(terminal sk1-1)" = RolledBack ]
  runs_on_a_again sk1
  no_agent_holds
}

@test "postCopy, the source's agent killed after the last page, before it released the source: Succeeded on B" {
  moving sk2 sk2-1
  kill -STOP "$(cat "$CLUSTER_DIR/agent-a.pid")"
  # shellcheck disable=SC2016
  wait_for 300 eval '[ "$(condition sk2-1 MemoryTransferred)" = True ]'
  restart_agent a # killed while stopped: it never saw every page arrive
  [ "$(terminal sk2-1)" = Succeeded ]
  runs_on_b sk2 sk2-1
  run k get events --field-selector involvedObject.name=sk2-1 -o jsonpath='{.items[*].reason}'
  assert_output --partial SourceReleased
  no_agent_holds
}
