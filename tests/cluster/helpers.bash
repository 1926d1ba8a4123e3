# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The cluster of scripts/lib/cluster.sh for a test file: kube-lite, two nodes in
# network namespaces (real runc and CRIU), kubelet-lite and an agent daemon per
# node and the controller, started in setup_file.
# These are the hooks of a test file unless it defines its own (calling these).
load ../lib/common

# shellcheck source=scripts/lib/cluster.sh
source "$FERRY_TOP/scripts/lib/cluster.sh"

setup_file() { cluster_up; }
teardown_file() { cluster_down; }
teardown() { cluster_test_teardown; }

k() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }
# kferry ARGS: kubectl runs the plugin (kubectl-ferry on PATH) with the same KUBECONFIG
kferry() { PATH="$FERRY_BIN:$PATH" kubectl ferry "$@"; }

cluster_up() {
  export NODES_TAG="c$$" NODES_NET=10.231.8
  cluster_setup "$BATS_FILE_TMPDIR/cluster"
  export CLUSTER_DIR CLUSTER_BIN KUBECONFIG
  nodes_export
}

cluster_down() {
  cluster_teardown
  # the daemons' sanitizer reports (ASan/UBSan builds) end up in their logs
  no_sanitizer_reports "$CLUSTER_DIR"/*.log
}

# cluster_test_teardown: after a test: when it failed, what the daemons said.
cluster_test_teardown() {
  if test_failed; then cluster_diagnose; fi
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
pm_of() { cluster_pm_of "$1"; }

# wait_phase PM PHASE [TRIES]
wait_phase() {
  local pm=$1 want=$2 tries=${3:-300} i p
  for ((i = 0; i < tries; i++)); do
    p=$(pm_phase "$pm")
    [ "$p" = "$want" ] && return 0
    case "$p" in Succeeded | Failed | RolledBack) [ "$p" != "$want" ] && break ;; esac
    sleep 0.1
  done
  # the reason and message first: a long report may be cut short after them
  echo "podmigration $pm: phase ${p:-none}, wanted $want:" \
    "$(k get pm "$pm" -o jsonpath='{.status.reason}: {.status.message}' 2>&1)" >&2
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
# pm_condition PM TYPE: the condition's status and reason.
pm_condition() { k get pm "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status} {.status.conditions[?(@.type==\"$2\")].reason}"; }

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

# count_served ADDR: the count served there, asked up to 5 times (a just-restored pod on a
# busy 2-core node may miss one 2-second request); fails when it never answers.
count_served() {
  local i
  for ((i = 0; i < 5; i++)); do
    count_on "$1" && return 0
    sleep 0.2
  done
  return 1
}

# web_pod NAME [MEM]: pod NAME on node-a running the counting web server (MEM MiB, 16 by default).
web_pod() { pod_on_a "$1" sh -c "workload --mem ${2:-16} & exec httpd -f -p 8080 -h /www"; }

# counting_pod NAME [MEM]: web_pod NAME [MEM]; once it counts, sets src (its
# address) and before (its count).
counting_pod() {
  web_pod "$@"
  src=$(ip_of "$1")
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  # shellcheck disable=SC2034 # read by the tests
  before=$(count_on "$src")
}

# annotate_move POD TARGET: POD annotated ferry.dev/migrate-to=TARGET; once the
# controller made its PodMigration, sets pm to its name.
annotate_move() {
  local pod=$1 # (eval in wait_for sees locals, not $1)
  k annotate pod "$pod" ferry.dev/migrate-to="$2"
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 50 eval '[ -n "$(pm_of "$pod")" ]'
  # shellcheck disable=SC2034 # read by the tests
  pm=$(pm_of "$pod")
}

# clear_pods [TRIES]: every pod deleted, and gone (their kubelets confirm; TRIES
# times 0.1 s at the most, 100 by default).
clear_pods() {
  k delete pods --all --wait=false >/dev/null 2>&1 || true
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for "${1:-100}" eval '[ -z "$(k get pods -o name 2>/dev/null)" ]'
}
