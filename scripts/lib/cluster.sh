# shellcheck shell=bash
# A small Kubernetes cluster on one machine, for the tests, the benchmarks and
# the demo: kube-lite as the API server, the two nodes of nodes.sh (network
# namespaces, real runc and CRIU, one shared store), a ferry-agent daemon per
# node and ferry-controller. Until the node runner (issue 5) plays the kubelet,
# cluster_pod_on_a starts a pod's container with `ferry-agent run` and writes its
# Pod object and status.
#
#   cluster_setup DIR        nodes, kube-lite, CRDs, Node objects, agents, controller
#   cluster_teardown         stop everything, remove DIR
#   cluster_agent_start a|b  cluster_controller_start N   (logs and pids in DIR)
#   cluster_pod_on_a NAME CMD...
#
# Each daemon runs in a session of its own (setsid): killing the session kills
# what it started (runc and CRIU have process groups of their own, but stay in
# its session), as a node losing the agent's pod would. Containers and their
# stdio relays leave the session, as they leave a real agent's pod.
# Sets CLUSTER_DIR and KUBECONFIG, plus what nodes.sh sets.
# shellcheck disable=SC2034 # the variables are for the scripts that source this

CLUSTER_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/nodes.sh
source "$CLUSTER_LIB_DIR/nodes.sh"

cluster_kubectl() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }

cluster_setup() {
  CLUSTER_DIR=$1
  local top
  top=$(cd "$CLUSTER_LIB_DIR/../.." && pwd)
  CLUSTER_BIN=${FERRY_BIN:-$top/bin}
  mkdir -p "$CLUSTER_DIR"
  nodes_setup "$CLUSTER_DIR/nodes"
  KUBECONFIG=$CLUSTER_DIR/kubeconfig
  rm -f "$KUBECONFIG"
  setsid "$CLUSTER_BIN/kube-lite" --listen 127.0.0.1:0 --kubeconfig-out "$KUBECONFIG" --faults \
    >>"$CLUSTER_DIR/kube-lite.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/kube-lite.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    [ -s "$KUBECONFIG" ] && break
    sleep 0.05
  done
  [ -s "$KUBECONFIG" ] || { cat "$CLUSTER_DIR/kube-lite.log" >&2; return 1; }
  export KUBECONFIG
  cluster_kubectl apply -f "$top/crd/" >/dev/null
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ferry-system}\n' | cluster_kubectl apply -f - >/dev/null
  local n
  for n in a b; do
    printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node-%s, labels: {kubernetes.io/hostname: node-%s}}\nspec: {}\n' \
      "$n" "$n" | cluster_kubectl apply -f - >/dev/null
    cluster_kubectl patch node "node-$n" --subresource status --type merge \
      -p '{"status":{"conditions":[{"type":"Ready","status":"True"}],"allocatable":{"cpu":"2","memory":"16Gi","pods":"110"}}}' >/dev/null
  done
  cluster_agent_start a
  cluster_agent_start b
  cluster_controller_start 1
  for ((i = 0; i < 100; i++)); do
    cluster_kubectl get lease -n ferry-system ferry-agent-node-a ferry-agent-node-b >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "cluster: the agents did not register" >&2
  return 1
}

cluster_agent_start() {
  local n=$1 addr ns
  shift
  addr=$([ "$n" = a ] && echo "$NODES_ADDR_A" || echo "$NODES_ADDR_B")
  ns=$(nodes_ns "$n")
  setsid "$CLUSTER_BIN/ferry-agent" --node "node-$n" --work-dir "$(nodes_work "$n")" --log-level debug daemon \
    --kubeconfig "$KUBECONFIG" --store "dir://$NODES_STORE" --runc-root "$(nodes_root "$n")" \
    --state-dir "$NODES_DIR/$n/state" --metrics-listen 127.0.0.1:0 --lease-seconds 8 \
    --rootfs-base "$NODES_DIR/base" --netns "/var/run/netns/$ns" --pod-ip "$addr" "$@" \
    >>"$CLUSTER_DIR/agent-$n.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/agent-$n.pid"
}

cluster_controller_start() {
  local i=$1
  setsid "$CLUSTER_BIN/ferry-controller" --kubeconfig "$KUBECONFIG" --identity "controller-$i" --lease-seconds 4 \
    --agent-stale-seconds 20 --log-level debug >>"$CLUSTER_DIR/controller-$i.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/controller-$i.pid"
}

# cluster_signal SIGNAL NAME: to the session of agent-a, controller-1, kube-lite...
cluster_signal() { pkill "-$1" -s "$(cat "$CLUSTER_DIR/$2.pid")" 2>/dev/null || true; }

# cluster_pod_on_a NAME CMD...: the pod's container on node A (runc id NAME-main),
# its Pod object, and the status a kubelet would write.
cluster_pod_on_a() {
  local name=$1 bundle
  shift
  bundle=$(nodes_bundle a "$name-main" "$@")
  "$CLUSTER_BIN/ferry-agent" --work-dir "$(nodes_work a)" run --root "$(nodes_root a)" --bundle "$bundle" \
    "$name-main" >/dev/null 3>&-
  cluster_kubectl apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app: $name}}
spec:
  nodeName: node-a
  containers: [{name: main, image: ferry/workload, resources: {requests: {cpu: 100m, memory: 64Mi}}}]
Y
  cluster_kubectl patch pod "$name" --subresource status --type merge -p "{\"status\":{\"phase\":\"Running\",
    \"podIP\":\"$NODES_ADDR_A\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],
    \"containerStatuses\":[{\"name\":\"main\",\"containerID\":\"runc://$name-main\",\"ready\":true}]}}" >/dev/null
}

cluster_teardown() {
  [ -n "${CLUSTER_DIR:-}" ] || return 0
  local p i sessions
  sessions=$(cat "$CLUSTER_DIR"/*.pid 2>/dev/null | paste -sd,)
  for p in "$CLUSTER_DIR"/*.pid; do
    [ -f "$p" ] || continue
    pkill -CONT -s "$(cat "$p")" 2>/dev/null
    kill -TERM "$(cat "$p")" 2>/dev/null
  done
  for ((i = 0; i < 30; i++)); do # they stop within a loop turn (200 ms); sanitizers then report
    if [ -z "$sessions" ] || ! pgrep -s "$sessions" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  for p in "$CLUSTER_DIR"/*.pid; do
    [ -f "$p" ] && pkill -KILL -s "$(cat "$p")" 2>/dev/null
  done
  nodes_cleanup
}
