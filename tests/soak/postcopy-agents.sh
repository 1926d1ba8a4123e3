#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make soak (not in CI): the randomized version of tests/cluster/agentkill.bats.
# On the local cluster, a pod holding 64 MiB that counts in memory is moved back
# and forth between node-a and node-b by post-copy PodMigrations; in each round
# a seeded random schedule picks a fault (the target's agent, the source's
# agent, or none) and a moment (0 to 4 s after the PodMigration is made) at
# which that agent's whole session is SIGKILLed, then started again. After each
# round the invariants are checked:
#   - the PodMigration ends (Succeeded, RolledBack or Failed) within 60 s;
#   - exactly one copy of the workload runs, on the node the phase says;
#   - it answers within 10 s and its count never went below the count read
#     before the move (post-copy rolls back to the freeze, never before it);
#   - no container of either node is held (a thread in a stop under a tracer,
#     a frozen freezer cgroup).
# The report counts rounds, faults by kind, outcomes, and violations; the exit
# status is 1 when there was any violation.
#
#   SOAK_ROUNDS (20)  SOAK_SEED (random; printed, so a run can be repeated)
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
ROUNDS=${SOAK_ROUNDS:-20}
SEED=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
export NODES_TAG="soak$$" NODES_NET=10.231.6
# shellcheck source=scripts/lib/cluster.sh
source "$top/scripts/lib/cluster.sh"
k() { cluster_kubectl "$@"; }
dir=$(mktemp -d /tmp/ferry-soak.XXXXXX)
trap 'cluster_teardown; rm -rf "$dir"' EXIT

http() { ip netns exec "$NODES_NS_CLIENT" wget -q -t 1 -T 2 -O - "http://$1:8080$2" 2>/dev/null; }

# A container of NODE named POD-main-*: its runc ID, when it runs.
container_of() { runc --root "$(nodes_root "$1")" list 2>/dev/null | awk -v p="$2-main-" 'index($1, p) == 1 && $3 == "running" {print $1}'; }

# held NODE: prints the running containers of NODE that a tracer or a freeze holds.
held() {
  local id pid t fz
  for id in $(runc --root "$(nodes_root "$1")" list 2>/dev/null | awk '$3 == "running" {print $1}'); do
    pid=$(runc --root "$(nodes_root "$1")" state "$id" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    [ -n "$pid" ] || continue
    for t in /proc/"$pid"/task/*; do
      if ! grep -qE '^TracerPid:[[:space:]]+0$' "$t/status" 2>/dev/null ||
        grep -qE '^State:[[:space:]]+[tT]' "$t/status" 2>/dev/null; then
        echo "$id (thread ${t##*/} stopped or traced)"
        break
      fi
    done
    fz=$(sed -n 's/^[0-9]*:freezer:\(.*\)/\1/p' /proc/"$pid"/cgroup 2>/dev/null)
    if [ -n "$fz" ] && grep -q FROZEN "/sys/fs/cgroup/freezer$fz/freezer.state" 2>/dev/null; then echo "$id (frozen)"; fi
  done
}

restart_agent() { # NODE
  cluster_signal KILL "agent-$1"
  sleep 0.3
  cluster_agent_start "$1" --migration-bandwidth 32Mi
  disown -a # killed daemons are the point here: no job reports
}

wait_count() { # IP: prints the count once it answers (10 s at the most)
  local i c
  for ((i = 0; i < 100; i++)); do
    c=$(http "$1" /count)
    if [ -n "$c" ]; then
      echo "$c"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

violations=0
violation() {
  violations=$((violations + 1))
  echo "  VIOLATION: $*"
}

echo "soak: $ROUNDS rounds, seed $SEED (SOAK_SEED=$SEED repeats this run)"
cluster_setup "$dir/cluster" || exit 1
disown -a
restart_agent a
restart_agent b
cluster_pod a soak sh -c "workload --mem 64 & exec httpd -f -p 8080 -h /www" || exit 1
pod=soak node=a
declare -A faults outcomes
for ((round = 1; round <= ROUNDS; round++)); do
  to=$([ "$node" = a ] && echo b || echo a)
  ip=$(cluster_pod_ip "$pod")
  before=$(wait_count "$ip") || { violation "round $round: $pod does not answer before its move"; break; }
  case $((RANDOM % 3)) in
  0) fault=target ;;
  1) fault=source ;;
  *) fault=none ;;
  esac
  delay_ms=$((RANDOM % 4000))
  pm="soak-$round"
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: %s}\nspec: {pod: %s, targetNode: node-%s, strategy: postCopy}\n' \
    "$pm" "$pod" "$to" | k apply -f - >/dev/null
  if [ "$fault" != none ]; then
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    restart_agent "$([ "$fault" = target ] && echo "$to" || echo "$node")"
  fi
  phase=$(cluster_pm_end "$pm" 600)
  faults[$fault]=$((${faults[$fault]:-0} + 1))
  outcomes[${phase:-none}]=$((${outcomes[${phase:-none}]:-0} + 1))
  echo "round $round: $pod node-$node -> node-$to, fault $fault at ${delay_ms} ms: ${phase:-not ended}"
  case $phase in
  Succeeded)
    pod=$(k get pm "$pm" -o jsonpath='{.status.targetPod}')
    node=$to
    ;;
  RolledBack | Failed) ;;
  *)
    violation "round $round: $pm did not end within 60 s"
    k get pm "$pm" -o yaml | sed 's/^/    /'
    break
    ;;
  esac
  [ "$phase" = Failed ] && violation "round $round: Failed ($(k get pm "$pm" -o jsonpath='{.status.message}'))"
  # one copy, where the phase says
  for n in a b; do
    for p in $(runc --root "$(nodes_root "$n")" list 2>/dev/null | awk '$3 == "running" {print $1}' | grep -- '-main-' || true); do
      if [ "$n" != "$node" ] || [ "${p%-main-*}" != "$pod" ]; then
        # (a target's container may take a moment to be removed after a rollback)
        sleep 2
        if runc --root "$(nodes_root "$n")" list 2>/dev/null | awk '$3 == "running" {print $1}' | grep -qx -- "$p"; then
          violation "round $round: a second copy $p runs on node-$n"
        fi
      fi
    done
  done
  [ -n "$(container_of "$node" "$pod")" ] || violation "round $round: $pod does not run on node-$node"
  ip=$(cluster_pod_ip "$pod")
  if after=$(wait_count "$ip"); then
    [ "$after" -ge "$before" ] || violation "round $round: the count went back ($before before the move, $after after)"
  else
    violation "round $round: $pod does not answer within 10 s of $phase"
  fi
  for n in a b; do
    h=$(held "$n")
    [ -z "$h" ] || violation "round $round: held on node-$n: $h"
  done
done
echo "soak: $((round - 1)) rounds, seed $SEED"
for f in "${!faults[@]}"; do echo "  fault $f: ${faults[$f]}"; done
for o in "${!outcomes[@]}"; do echo "  outcome $o: ${outcomes[$o]}"; done
echo "  violations: $violations"
[ "$violations" -eq 0 ]
