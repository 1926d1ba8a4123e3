#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make soak (not in CI): the chaos soak. On the local cluster (kube-lite keeping
# its objects with --data, a tmpfs store), three workloads that count in memory
# and serve their count (a bare pod, a Deployment's pod, a StatefulSet's pod) are
# moved back and forth between node-a and node-b, one PodMigration a round, with
# a strategy picked at random. A seeded random schedule
# picks each round's fault and its moment:
#   none            nothing: the move must succeed
#   agent-source    the source's agent SIGKILLed (its whole session), started again
#   agent-target    the same for the target's agent
#   controller      ferry-controller SIGKILLed, started again
#   kube-lite       the API server SIGKILLed, started again on its port with its --data
#   criu            every CRIU process (dump, restore, page server) SIGKILLed
#   lazy-pages      CRIU's lazy-pages daemon SIGKILLed (post-copy rounds)
#   drop-watches    kube-lite ends every open watch
#   store-full      the store filled to less than --store-min-free before the move
#   corrupt-image   bytes of the image's memory pages overwritten once they are written
# After each round the invariants are checked (waiting up to SETTLE s for the
# cluster to settle):
#   - the PodMigration ends (Succeeded, RolledBack or Failed) within 60 s, and
#     Succeeded when there was no fault; a full store is refused before the freeze;
#   - every workload has exactly one pod in the API and exactly one running
#     container, on that pod's node; it answers, its count never went back and
#     still goes on, and its whole memory still holds the pattern it wrote (the
#     workload checks); a WorkloadLost counts as a violation (its state is gone),
#     except a StatefulSet's whose image (its only copy once its pod is deleted
#     for the replacement: one file in this shared store) the round's
#     corrupt-image damaged: counted apart, as lost to the fault; so is a
#     process CRIU was inside when the round's criu fault killed it (the failed
#     dump names it; the soak restarts the workload afresh, as an operator would);
#   - nothing held (a thread stopped or traced, a frozen cgroup);
#   - nothing leaked: no CRIU process left, no mount, network namespace or
#     cgroup more than the workloads' own, no image older than the retention
#     rules allow (--image-ttl 1m, --image-orphan-grace 1m, collected every minute).
# The report counts rounds, faults by kind and by the phase the migration was in
# when they hit (or "missed": the process to kill never showed up), outcomes, and
# violations; the exit status is 1 when there was any violation.
#
# A StatefulSet's pod moves by stopAndCopy or auto (the controller refuses to
# postCopy it); the others by stopAndCopy, postCopy or auto.
#
#   SOAK_ROUNDS (50)  SOAK_SEED (random; printed, so a run can be repeated)
#   SOAK_MEM (32: MiB each workload holds)  SOAK_FAULTS (all the kinds above; a
#   space-separated subset)  SOAK_LOG (a file the report is appended to too)
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
ROUNDS=${SOAK_ROUNDS:-50}
SEED=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
MEM=${SOAK_MEM:-32}
SETTLE=15
read -ra KINDS <<<"${SOAK_FAULTS:-none agent-source agent-target controller kube-lite criu lazy-pages drop-watches store-full corrupt-image}"
WORKLOADS=(bare deploy sts)
RANDOM=$SEED
# every CRIU process runs through its own loader (install-deps); CRIU renames
# itself ("criu: dump --rpc ..."), the loader's path stays on its command line
CRIU_BIN=${FERRY_CRIU_PREFIX:-/opt/ferry/criu}/usr/lib/x86_64-linux-gnu/ld-linux
export NODES_TAG="soak$$" NODES_NET=10.231.6
# shellcheck source=scripts/lib/cluster.sh
source "$top/scripts/lib/cluster.sh"
k() { cluster_kubectl "$@"; }
dir=$(mktemp -d /tmp/ferry-soak.XXXXXX)
store=$dir/cluster/nodes/store
export CLUSTER_KUBE_DATA=$dir/kube-lite.json
# on a violation the daemons' logs and the agents' steps are kept in /tmp/ferry-soak-logs.SEED
keep_logs() {
  [ "${violations:-0}" -gt 0 ] || return 0
  local keep=/tmp/ferry-soak-logs.$SEED
  mkdir -p "$keep" && cp -r "$dir"/cluster/*.log "$keep"/ 2>/dev/null
  for n in a b; do cp -r "$NODES_DIR/$n/state/ops" "$keep/ops-$n" 2>/dev/null; done
  say "soak: the logs are kept in $keep"
}
# a migration that does not end: each daemon's threads (gdb) and every TCP
# connection with its queues (ss), taken while they still run, kept with the logs
snapshot_stuck() {
  local keep=/tmp/ferry-soak-logs.$SEED name pid
  mkdir -p "$keep"
  ss -tanpi >"$keep/sockets.txt" 2>&1
  for name in kube-lite controller-1 controller-manager agent-a agent-b kubelet-a kubelet-b; do
    pid=$(cat "$CLUSTER_DIR/$name.pid" 2>/dev/null) || continue
    timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' >"$keep/stacks-$name.txt" 2>&1
  done
  say "soak: the daemons' threads and sockets are in $keep (stacks-*.txt, sockets.txt)"
}
trap 'keep_logs; cluster_teardown; umount "$store" 2>/dev/null; rm -rf "$dir"' EXIT
AGENT_ARGS=(--image-ttl 1m --image-orphan-grace 1m)

say() { echo "$*" | tee -a "${SOAK_LOG:-/dev/null}"; }
http() { ip netns exec "$NODES_NS_CLIENT" wget -q -t 1 -T 2 -O - "http://$1:8080$2" 2>/dev/null; }
ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
pick() { local a=("$@"); echo "${a[RANDOM % ${#a[@]}]}"; }

# --- the workloads -----------------------------------------------------------

workloads_start() {
  cluster_pod a soak-bare sh -c "workload --mem $MEM & exec httpd -f -p 8080 -h /www" || return 1
  cluster_deployment soak-deploy "$MEM" || return 1
  cluster_apply_on_a soak-sts <<Y
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: soak-sts}
spec:
  replicas: 1
  serviceName: soak-sts
  selector: {matchLabels: {app: soak-sts}}
  template:
    metadata: {labels: {app: soak-sts}}
    spec:
      runtimeClassName: ferry
      terminationGracePeriodSeconds: 2
      containers: [{name: main, image: ferry/workload, command: [sh, -c, "workload --mem $MEM & exec httpd -f -p 8080 -h /www"]}]
Y
}

# pods_of W: the names of workload W's pods in the API (label app=soak-W), not being deleted.
pods_of() {
  k get pods -l "app=soak-$1" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null |
    awk 'NF == 1 {print $1}'
}
node_of() { k get pod "$1" -o jsonpath='{.spec.nodeName}' 2>/dev/null | sed 's/^node-//'; }

# running NODE: the IDs of the running containers of NODE.
running() { runc --root "$(nodes_root "$1")" list 2>/dev/null | awk '$3 == "running" {print $1}'; }

# count_of POD: its count, once it answers (10 s at the most)
count_of() {
  local i c ip
  for ((i = 0; i < 50; i++)); do
    ip=$(cluster_pod_ip "$1")
    c=${ip:+$(http "$ip" /count)}
    if [ -n "$c" ]; then
      echo "$c"
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# memory_of POD: the workload's check of its whole buffer against its pattern
# ("ok COUNT MIB" or "bad OFFSET"), asked in its container (10 s at the most)
memory_of() {
  local n id
  n=$(node_of "$1")
  id=$(running "$n" | grep -m1 -- "^$1-main-") || return 1
  # shellcheck disable=SC2016 # (the container's shell expands it)
  runc --root "$(nodes_root "$n")" exec "$id" sh -c \
    'rm -f /tmp/verify; touch /tmp/verify-request; i=0; while [ ! -s /tmp/verify ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; cat /tmp/verify' 2>/dev/null
}

# --- the faults --------------------------------------------------------------

restart_agent() { # NODE
  cluster_signal KILL "agent-$1"
  sleep 0.3
  cluster_agent_start "$1" "${AGENT_ARGS[@]}"
}

restart_controller() {
  cluster_signal KILL controller-1
  sleep 0.3
  cluster_controller_start 1
}

kill_criu() { # WHAT (a pattern of CRIU's command line after the binary): 0 if one was killed
  local pids
  pids=$(pgrep -f "$CRIU_BIN.*($1)") || return 1
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
}

# wait_criu WHAT [TRIES]: until a CRIU process of WHAT runs (0.02 s each, 500 at the most)
wait_criu() {
  local i
  for ((i = 0; i < ${2:-500}; i++)); do
    pgrep -f "$CRIU_BIN.*($1)" >/dev/null && return 0
    sleep 0.02
  done
  return 1
}

# image_of PM: the directory of its image in the store (NS.NAME.UID8)
image_of() {
  local uid
  uid=$(k get pm "$1" -o jsonpath='{.metadata.uid}' 2>/dev/null)
  [ -n "$uid" ] && echo "$store/default.$1.${uid:0:8}"
}

# corrupt PM: once the image's memory pages are written (10 s at the most),
# 4 KiB of random bytes over them at a random offset. 0 if it could.
corrupt() {
  local img f i size
  for ((i = 0; i < 500; i++)); do
    img=$(image_of "$1")
    f=$(find "$img" -name 'pages-*.img*' -size +4k 2>/dev/null | head -1)
    [ -n "$f" ] && break
    sleep 0.02
  done
  [ -n "$f" ] || return 1
  ms_sleep $((RANDOM % 200))
  size=$(stat -c %s "$f" 2>/dev/null) || return 1
  dd if=/dev/urandom of="$f" bs=4096 count=1 seek=$((RANDOM % (size / 4096))) conv=notrunc status=none 2>/dev/null
}

# fill_store: the store left with 512 MiB free (the agents want 1Gi, --store-min-free)
fill_store() {
  local free
  free=$(df -B1 --output=avail "$store" | tail -1)
  fallocate -l $((free - 512 * 1024 * 1024)) "$store/.soak-fill"
}

# inject KIND PM SRC DST STRATEGY: the fault, at a random moment; prints what it hit:
# the migration's phase then, or "missed".
inject() {
  local kind=$1 pm=$2 src=$3 dst=$4 strategy=$5 phase
  case $kind in
  criu)
    wait_criu 'swrk|dump|restore|page-server' || { echo missed; return; }
    ms_sleep $((RANDOM % 300))
    phase=$(k get pm "$pm" -o jsonpath='{.status.phase}' 2>/dev/null)
    kill_criu 'swrk|dump|restore|page-server' || phase=missed
    ;;
  lazy-pages)
    wait_criu lazy-pages || { echo missed; return; }
    ms_sleep $((RANDOM % 1000))
    phase=$(k get pm "$pm" -o jsonpath='{.status.phase}' 2>/dev/null)
    kill_criu lazy-pages || phase=missed
    ;;
  corrupt-image)
    corrupt "$pm" || { echo missed; return; }
    phase=$(k get pm "$pm" -o jsonpath='{.status.phase}' 2>/dev/null)
    ;;
  *)
    ms_sleep $((RANDOM % 1500))
    phase=$(k get pm "$pm" -o jsonpath='{.status.phase}' 2>/dev/null)
    case $kind in
    agent-source) restart_agent "$src" ;;
    agent-target) restart_agent "$dst" ;;
    controller) restart_controller ;;
    kube-lite) cluster_kube_lite_restart >/dev/null ;;
    drop-watches) cluster_kube_lite_fault '{"dropWatches":true}' ;;
    esac
    ;;
  esac
  echo "${phase:-Pending}"
}

cluster_kube_lite_fault() {
  local port
  port=$(sed -n 's#.*server: http://127.0.0.1:\([0-9]*\).*#\1#p' "$KUBECONFIG")
  curl -sf -XPOST -d "$1" "http://127.0.0.1:$port/kube-lite/faults" >/dev/null
}

# --- the invariants ----------------------------------------------------------

violations=0 unavoidable=0 lost_process=0
violation() {
  violations=$((violations + 1))
  say "  VIOLATION: $*"
}

# held NODE: the running containers of NODE that a tracer or a freeze holds.
held() {
  local id pid t fz
  for id in $(running "$1"); do
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

# problems: what is wrong now, one line each (nothing when the cluster is as it should be)
problems() {
  local w pods pod n ids want=0 all
  for w in "${WORKLOADS[@]}"; do
    pods=$(pods_of "$w")
    [ "$(echo "$pods" | grep -c .)" = 1 ] || { echo "workload $w: pods in the API: ${pods//$'\n'/ }"; continue; }
    pod=$pods
    n=$(node_of "$pod")
    ids=$(running "$n" | grep -c -- "^$pod-main-")
    [ "$ids" = 1 ] || echo "workload $w: $ids running containers of $pod on node-$n"
    want=$((want + 1))
  done
  all=$( (running a; running b) | grep -c .)
  [ "$all" = "$want" ] || echo "$all containers run on the nodes, $want workloads: $(running a | paste -sd' ') | $(running b | paste -sd' ')"
  for n in a b; do
    h=$(held "$n")
    [ -z "$h" ] || echo "held on node-$n: $h"
  done
  local pid
  for pid in $(pgrep -f "$CRIU_BIN"); do
    ours "$pid" && echo "a CRIU process left: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
  done
  leaks
}

# The checks below look at what is the machine's (processes, network
# namespaces, cgroups), and other clusters may run beside this one (a test
# suite): each counts this cluster's only.
# ours PID: 0 when the process is this cluster's (every process its agents and
# kubelets start inherits its KUBECONFIG)
ours() { tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF "KUBECONFIG=$KUBECONFIG"; }
# pod_netns: this cluster's pod network namespaces (their eth0's peer is in its
# network's namespace) and those whose eth0 is gone (anyone's leak)
pod_netns() {
  local n
  for n in $(ip netns list | awk '/^kl-/ {print $1}'); do
    ip -n "$n" link show eth0 2>/dev/null | grep -q "link-netns $NODES_NS_NET\b" && echo "$n" && continue
    ip -n "$n" link show eth0 >/dev/null 2>&1 || echo "$n"
  done
}

# leaks: mounts, network namespaces and cgroups beyond the workloads' own; old images
leaks() {
  local m nsn pns cg img now age
  m=$(grep -c -- "$NODES_DIR" /proc/self/mountinfo)
  [ "$m" = "$base_mounts" ] || echo "$m mounts under the nodes' directory (at the start: $base_mounts)"
  grep -q 'criu' /proc/self/mountinfo && echo "a CRIU mount left: $(grep criu /proc/self/mountinfo | head -1)"
  nsn=$(find "$NODES_DIR"/*/kubelet/ips -name "[0-9]*" 2>/dev/null | grep -c .)
  pns=$(pod_netns | grep -c .)
  [ "$pns" = "$nsn" ] || echo "$pns pod network namespaces, the kubelets hold $nsn: $(pod_netns | paste -sd' ')"
  [ "$nsn" = "${#WORKLOADS[@]}" ] || echo "the kubelets hold $nsn pod network namespaces for ${#WORKLOADS[@]} pods"
  cg=$(find /sys/fs/cgroup/memory -maxdepth 3 -type d -name 'soak-*-main-*' 2>/dev/null | grep -c .)
  [ "$cg" -le "${#WORKLOADS[@]}" ] || echo "$cg container memory cgroups for ${#WORKLOADS[@]} containers: $(find /sys/fs/cgroup/memory -maxdepth 3 -type d -name 'soak-*-main-*' -printf '%f ')"
  now=$(date +%s)
  for img in "$store"/*; do
    [ -d "$img" ] || continue
    age=$((now - $(stat -c %Y "$img")))
    [ "$age" -le 180 ] || echo "image ${img##*/} is $age s old (ttl 60 s, collected every 60 s)"
  done
}

# settled: waits until problems prints nothing (SETTLE s at the most); prints what is left
settled() {
  local i p
  for ((i = 0; i < SETTLE * 2; i++)); do
    p=$(problems)
    [ -z "$p" ] && return 0
    sleep 0.5
  done
  echo "$p"
  return 1
}

# restart_workload W POD: POD deleted and W's pod made afresh (by its owner; the
# bare one here, on the same node); 0 once the new pod's count answers
restart_workload() {
  local node i p
  node=$(node_of "$2")
  k delete pod "$2" --wait=true >/dev/null 2>&1
  [ "$1" != bare ] || cluster_pod "$node" soak-bare sh -c "workload --mem $MEM & exec httpd -f -p 8080 -h /www" >/dev/null || return 1
  for ((i = 0; i < 60; i++)); do
    p=$(pods_of "$1")
    [ -n "$p" ] && count_of "$p" >/dev/null && return 0
    sleep 0.5
  done
  return 1
}

# --- the rounds --------------------------------------------------------------

mount -t tmpfs -o size=3g ferry-soak-store "$store" 2>/dev/null || { mkdir -p "$store" && mount -t tmpfs -o size=3g ferry-soak-store "$store"; } || exit 1
say "soak: $ROUNDS rounds, seed $SEED (SOAK_SEED=$SEED repeats this run), faults: ${KINDS[*]}"
cluster_setup "$dir/cluster" || exit 1
restart_agent a
restart_agent b
disown -a # killed daemons are the point here: no job reports
workloads_start || exit 1
base_mounts=$(grep -c -- "$NODES_DIR" /proc/self/mountinfo)
p=$(settled) || { say "soak: the cluster did not settle before the first round: $p"; exit 1; }
declare -A faults outcomes last
for w in "${WORKLOADS[@]}"; do last[$w]=0; done
for ((round = 1; round <= ROUNDS; round++)); do
  w=$(pick "${WORKLOADS[@]}")
  pod=$(pods_of "$w")
  src=$(node_of "$pod")
  dst=$([ "$src" = a ] && echo b || echo a)
  kind=$(pick "${KINDS[@]}")
  # (a StatefulSet's pod cannot postCopy: the controller refuses it, StrategyNotSupported)
  if [ "$w" = sts ]; then strategy=$(pick stopAndCopy auto); else strategy=$(pick stopAndCopy postCopy auto); fi
  if [ "$kind" = lazy-pages ]; then
    [ "$w" = sts ] && w=$(pick bare deploy) && pod=$(pods_of "$w") && src=$(node_of "$pod") && dst=$([ "$src" = a ] && echo b || echo a)
    strategy=postCopy
  fi
  before=$(count_of "$pod") || { violation "round $round: $pod does not answer before its move"; break; }
  [ "$before" -ge "${last[$w]}" ] || violation "round $round: $pod counts $before, it had counted ${last[$w]}"
  [ "$kind" = store-full ] && fill_store
  pm="soak-$round"
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: %s}\nspec: {pod: %s, targetNode: node-%s, strategy: %s}\n' \
    "$pm" "$pod" "$dst" "$strategy" | k apply -f - >/dev/null || { violation "round $round: cannot create $pm"; break; }
  hit=none
  case $kind in none | store-full) ;; *) hit=$(inject "$kind" "$pm" "$src" "$dst" "$strategy") ;; esac
  phase=$(cluster_pm_end "$pm" 600)
  rm -f "$store/.soak-fill"
  faults["$kind at $hit"]=$((${faults["$kind at $hit"]:-0} + 1))
  outcomes["$kind: ${phase:-none}"]=$((${outcomes["$kind: ${phase:-none}"]:-0} + 1))
  say "round $round: $w $pod node-$src -> node-$dst $strategy, $kind at $hit: ${phase:-not ended} $(k get pm "$pm" -o jsonpath='{.status.reason}' 2>/dev/null)"
  case $phase in
  Succeeded | RolledBack | Failed) ;;
  *)
    violation "round $round: $pm did not end within 60 s"
    k get pm "$pm" -o yaml | sed 's/^/    /'
    snapshot_stuck
    break
    ;;
  esac
  reason=$(k get pm "$pm" -o jsonpath='{.status.reason}' 2>/dev/null)
  if [ "$reason" = WorkloadLost ]; then
    # (the workload's state is gone: its pod starts afresh, its count from 0)
    msg=$(k get pm "$pm" -o jsonpath='{.status.message}')
    if [ "$w" = sts ] && [ "$kind" = corrupt-image ] && [[ $msg == *"the manifest says"* ]]; then
      # a StatefulSet's pod is deleted for its replacement once checkpointed: its
      # image, one file in this shared store, is its only copy, and the fault
      # damaged it. Ferry refused it and said so; nothing could have saved it.
      unavoidable=$((unavoidable + 1))
      say "  lost to the fault (its only copy damaged, refused and reported): $msg"
    else
      violation "round $round: WorkloadLost: $msg"
    fi
    before=0
  fi
  msg=$(k get pm "$pm" -o jsonpath='{.status.message}' 2>/dev/null)
  if [ "$kind" = criu ] && [[ $msg == *"ended during the dump"* ]]; then
    # CRIU works inside each process it dumps (ptrace, its injected code):
    # killed at the wrong moment there, it takes that process with it. Ferry
    # said which one died and that the container runs on without it; the
    # operator's answer is a restart, and so is the soak's.
    unavoidable=$((unavoidable + 1))
    lost_process=$((lost_process + 1))
    say "  lost to the fault (a process CRIU was inside died with it, reported): ${msg##*the container still runs on the source, }"
    restart_workload "$w" "$pod" || { violation "round $round: $w did not come back after its restart"; break; }
    before=0
  fi
  if [ "$kind" = none ] && [ "$phase" != Succeeded ]; then
    violation "round $round: $phase without a fault: $(k get pm "$pm" -o jsonpath='{.status.message}')"
  fi
  if [ "$kind" = store-full ]; then
    # (the store is shared: the target's agent may be the one found full first)
    [[ "$(k get pm "$pm" -o jsonpath='{.status.reason}: {.status.message}')" =~ ^(StoreFull|TargetDoesNotFit:.*image\ store) ]] ||
      violation "round $round: a full store was not refused as StoreFull"
    [ -z "$(k get pm "$pm" -o jsonpath='{.status.frozenAt}')" ] || violation "round $round: frozen although the store was full"
  fi
  if ! p=$(settled); then
    while read -r line; do violation "round $round: $line"; done <<<"$p"
    # the next round starts from a settled cluster, or the soak ends here
    settled >/dev/null || break
  fi
  pod=$(pods_of "$w")
  if after=$(count_of "$pod"); then
    [ "$after" -ge "$before" ] || violation "round $round: $pod's count went back ($before before the move, $after after)"
    last[$w]=$after
    # it goes on counting (every 100 ms): a workload process that died leaves its last count served
    sleep 1
    later=$(count_of "$pod")
    [ "${later:-0}" -gt "$after" ] || violation "round $round: $pod's count stopped at $after (its workload process is gone)"
  else
    violation "round $round: $pod does not answer after $phase"
  fi
  mem=$(memory_of "$pod")
  case $mem in ok*) ;; *) violation "round $round: $pod's memory after the move: ${mem:-no answer}" ;; esac
done
say "soak: $((round - 1)) rounds, seed $SEED"
for f in "${!faults[@]}"; do say "  fault $f: ${faults[$f]}"; done | sort
for o in "${!outcomes[@]}"; do say "  outcome $o: ${outcomes[$o]}"; done | sort
say "  lost to a fault that damaged the only copy: $((unavoidable - lost_process))"
say "  lost to a fault that killed a process CRIU was inside: $lost_process"
say "  violations: $violations"
[ "$violations" -eq 0 ]
