# shellcheck shell=bash
# A small cluster on one machine: kube-lite as the API server, two nodes (network
# namespaces from scripts/lib/nodes.sh, real runc and CRIU), a ferry-agent daemon
# per node and ferry-controller. The tests play the kubelet where Ferry does
# not (issue 5's node runner will): they start a pod's container with
# `ferry-agent run` and write its Pod object and status.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load ../kube/helpers

FERRY_TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export FERRY_BIN=${FERRY_BIN:-$FERRY_TOP/bin}
AGENT=$FERRY_BIN/ferry-agent
# shellcheck source=scripts/lib/nodes.sh
source "$FERRY_TOP/scripts/lib/nodes.sh"

cluster_up() {
  export NODES_TAG="c$$" NODES_NET=10.231.8
  nodes_setup "$BATS_FILE_TMPDIR/nodes"
  export NODES_DIR NODES_STORE NODES_NS_A NODES_NS_B NODES_NS_CLIENT NODES_NS_NET NODES_ADDR_A NODES_ADDR_B NODES_ADDR_CLIENT
  kl_start main --faults
  # shellcheck disable=SC2154 # set by kl_start
  export KUBECONFIG=$KL_KC_main
  k apply -f "$FERRY_TOP/crd/" >/dev/null
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ferry-system}\n' | k apply -f - >/dev/null
  local n
  for n in a b; do
    printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node-%s, labels: {kubernetes.io/hostname: node-%s}}\nspec: {}\n' "$n" "$n" | k apply -f - >/dev/null
    k patch node "node-$n" --subresource status --type merge \
      -p '{"status":{"conditions":[{"type":"Ready","status":"True"}],"allocatable":{"cpu":"2","memory":"4Gi","pods":"110"}}}' >/dev/null
  done
  agent_start a
  agent_start b
  controller_start 1
  wait_for 100 agents_ready
}

cluster_down() {
  local p
  for p in "$BATS_FILE_TMPDIR"/*.pid; do
    [ -f "$p" ] && pkill -CONT -s "$(cat "$p")" 2>/dev/null
    [ -f "$p" ] && kill -TERM "$(cat "$p")" 2>/dev/null
  done
  local i
  for ((i = 0; i < 30; i++)); do # they stop within a loop turn (200 ms); sanitizers then report
    pgrep -s "$(cat "$BATS_FILE_TMPDIR"/*.pid | paste -sd,)" >/dev/null 2>&1 || break
    sleep 0.1
  done
  for p in "$BATS_FILE_TMPDIR"/*.pid; do
    [ -f "$p" ] && pkill -KILL -s "$(cat "$p")" 2>/dev/null
  done
  kl_stop main
  nodes_cleanup
  # the daemons' sanitizer reports (ASan/UBSan builds) end up in their logs
  if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BATS_FILE_TMPDIR"/*.log 2>/dev/null; then
    grep -h -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BATS_FILE_TMPDIR"/*.log | head -80
    return 1
  fi
}

# Each daemon runs in a session of its own (setsid), so a test can kill one with
# everything it started (runc and CRIU run in process groups of their own, but in
# its session), as a node losing the agent's pod (its cgroup) would. Containers
# and their stdio relays leave the session, as they leave a real agent's pod.
agent_start() {
  local n=$1 addr ns
  addr=$([ "$n" = a ] && echo "$NODES_ADDR_A" || echo "$NODES_ADDR_B")
  ns=$(nodes_ns "$n")
  setsid "$AGENT" --node "node-$n" --work-dir "$(nodes_work "$n")" --log-level debug daemon \
    --kubeconfig "$KUBECONFIG" --store "dir://$NODES_STORE" --runc-root "$(nodes_root "$n")" \
    --state-dir "$NODES_DIR/$n/state" --metrics-listen 127.0.0.1:0 --lease-seconds 8 \
    --rootfs-base "$NODES_DIR/base" --netns "/var/run/netns/$ns" --pod-ip "$addr" \
    >>"$BATS_FILE_TMPDIR/agent-$n.log" 2>&1 3>&- &
  echo $! >"$BATS_FILE_TMPDIR/agent-$n.pid"
}

agent_kill() { pkill -KILL -s "$(cat "$BATS_FILE_TMPDIR/agent-$1.pid")" 2>/dev/null || true; }

controller_start() {
  local i=$1
  setsid "$FERRY_BIN/ferry-controller" --kubeconfig "$KUBECONFIG" --identity "controller-$i" --lease-seconds 4 \
    --agent-stale-seconds 20 --log-level debug >>"$BATS_FILE_TMPDIR/controller-$i.log" 2>&1 3>&- &
  echo $! >"$BATS_FILE_TMPDIR/controller-$i.pid"
}

controller_kill() { pkill -KILL -s "$(cat "$BATS_FILE_TMPDIR/controller-$1.pid")" 2>/dev/null || true; }

agents_ready() {
  k get lease -n ferry-system ferry-agent-node-a ferry-agent-node-b >/dev/null 2>&1
}

# wait_for TRIES CMD...: every 0.1 s until CMD succeeds.
wait_for() {
  local tries=$1 i
  shift
  for ((i = 0; i < tries; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# pod_on_a NAME CMD...: the pod's container on node A (runc id NAME-main),
# its Pod object, and the status a kubelet would write.
pod_on_a() {
  local name=$1 bundle
  shift
  bundle=$(nodes_bundle a "$name-main" "$@")
  "$AGENT" --work-dir "$(nodes_work a)" run --root "$(nodes_root a)" --bundle "$bundle" "$name-main" >/dev/null 3>&-
  k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app: $name}}
spec:
  nodeName: node-a
  containers: [{name: main, image: ferry/workload, resources: {requests: {cpu: 100m, memory: 64Mi}}}]
Y
  k patch pod "$name" --subresource status --type merge -p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$NODES_ADDR_A\",
    \"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],
    \"containerStatuses\":[{\"name\":\"main\",\"containerID\":\"runc://$name-main\",\"ready\":true}]}}" >/dev/null
}

# A Service without a selector, its endpoints written by hand (EndpointSlice and Endpoints).
external_service() {
  local name=$1 ip=$2
  k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Service
metadata: {name: $name}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $name-1, labels: {kubernetes.io/service-name: $name}}
addressType: IPv4
endpoints: [{addresses: ["$ip"], conditions: {ready: true}, nodeName: node-a}]
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: $name}
subsets: [{addresses: [{ip: "$ip", nodeName: node-a}], ports: [{name: http, port: 8080}]}]
Y
}

# http NODE_ADDR PATH: from the client namespace.
http() { ip netns exec "$NODES_NS_CLIENT" wget -q -t 1 -T 2 -O - "http://$1:8080$2" 2>/dev/null; }

pm_phase() { k get pm "$1" -o jsonpath='{.status.phase}' 2>/dev/null; }
pm_of() { k get pm -l "ferry.dev/pod=$1" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null; }

# wait_phase PM PHASE [TRIES]
wait_phase() {
  local pm=$1 want=$2 tries=${3:-300} i p
  for ((i = 0; i < tries; i++)); do
    p=$(pm_phase "$pm")
    [ "$p" = "$want" ] && return 0
    case "$p" in Succeeded | Failed | RolledBack) [ "$p" != "$want" ] && break ;; esac
    sleep 0.1
  done
  echo "podmigration $pm: phase ${p:-none}, wanted $want" >&2
  k get pm "$pm" -o yaml >&2
  return 1
}

# On failure: what the controller and the agents said.
cluster_diagnose() {
  local f
  for f in "$BATS_FILE_TMPDIR"/controller-*.log "$BATS_FILE_TMPDIR"/agent-*.log; do
    echo "--- $f"
    tail -25 "$f"
  done
}

# Live processes of a container's workload on a node (runc's view).
running_on() { runc --root "$(nodes_root "$1")" list 2>/dev/null | awk -v id="$2" '$1 == id {print $3}'; }

# Stop and continue a daemon with everything it started (its process group).
agent_pause() { pkill -STOP -s "$(cat "$BATS_FILE_TMPDIR/agent-$1.pid")"; }
agent_resume() { pkill -CONT -s "$(cat "$BATS_FILE_TMPDIR/agent-$1.pid")"; }

# wait_phase_seen PM PHASE: until the phase is PHASE (any, also passing ones), fast polling.
wait_phase_seen() {
  local i
  for ((i = 0; i < 600; i++)); do
    [ "$(pm_phase "$1")" = "$2" ] && return 0
    sleep 0.05
  done
  echo "podmigration $1 never reached $2 (now $(pm_phase "$1"))" >&2
  return 1
}

# migrate NAME [TARGET]: a PodMigration for pod NAME.
migrate() {
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: %s}\nspec: {pod: %s%s}\n' \
    "m-$1" "$1" "${2:+, targetNode: $2}" | k apply -f - >/dev/null
}

# count_on ADDR: the workload's count served there (empty when unreachable).
count_on() { http "$1" /count; }
