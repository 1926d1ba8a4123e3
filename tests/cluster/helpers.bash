# shellcheck shell=bash
# The cluster of scripts/lib/cluster.sh for a test file: kube-lite, two nodes in
# network namespaces (real runc and CRIU), kubelet-lite and an agent daemon per
# node and the controller, started in setup_file.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

FERRY_TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export FERRY_BIN=${FERRY_BIN:-$FERRY_TOP/bin}
# shellcheck source=scripts/lib/cluster.sh
source "$FERRY_TOP/scripts/lib/cluster.sh"

k() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }

cluster_up() {
  export NODES_TAG="c$$" NODES_NET=10.231.8
  cluster_setup "$BATS_FILE_TMPDIR/cluster"
  export CLUSTER_DIR CLUSTER_BIN KUBECONFIG NODES_DIR NODES_STORE NODES_NS_A NODES_NS_B NODES_NS_CLIENT NODES_NS_NET \
    NODES_ADDR_A NODES_ADDR_B NODES_ADDR_CLIENT
}

cluster_down() {
  cluster_teardown
  # the daemons' sanitizer reports (ASan/UBSan builds) end up in their logs
  if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CLUSTER_DIR"/*.log 2>/dev/null; then
    grep -h -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CLUSTER_DIR"/*.log | head -80
    return 1
  fi
}

agent_start() { cluster_agent_start "$@"; }
agent_kill() { cluster_signal KILL "agent-$1"; }
agent_pause() { cluster_signal STOP "agent-$1"; }
agent_resume() { cluster_signal CONT "agent-$1"; }
controller_start() { cluster_controller_start "$1"; }
controller_kill() { cluster_signal KILL "controller-$1"; }
pod_on_a() { cluster_pod_on_a "$@"; }
kubelet_kill() { cluster_signal KILL "kubelet-$1"; }
kubelet_start() { cluster_kubelet_start "$@"; }
ip_of() { cluster_pod_ip "$1"; }
# target_ip PM: the restored pod's address
target_ip() { k get pm "$1" -o jsonpath='{.status.targetPodIP}' 2>/dev/null; }

# kl_fault JSON: kube-lite's fault injection.
kl_fault() {
  local port
  port=$(sed -n 's#.*server: http://127.0.0.1:\([0-9]*\).*#\1#p' "$KUBECONFIG")
  curl -sf -XPOST -d "$1" "http://127.0.0.1:$port/kube-lite/faults" >/dev/null
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

# http POD_ADDR PATH: from the client namespace.
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
  for f in "$CLUSTER_DIR"/controller-*.log "$CLUSTER_DIR"/agent-*.log; do
    echo "--- $f"
    tail -25 "$f"
  done
  # the agents' steps (checkpoint, restore, pages, ...): their logs and answers
  find "$NODES_DIR"/*/state/ops -name '*.log' -o -name '*.json' 2>/dev/null | while read -r f; do
    echo "--- $f"
    tail -8 "$f"
  done
  for f in "$CLUSTER_DIR"/kubelet-*.log; do
    echo "--- $f (last lines)"
    tail -8 "$f"
  done
}

# running_on NODE POD: the state of the pod's container on the node (runc's view;
# kubelet-lite names it POD-main-UID8), empty when it has none.
running_on() { runc --root "$(nodes_root "$1")" list 2>/dev/null | awk -v p="$2-main-" 'index($1, p) == 1 {print $3}'; }


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
