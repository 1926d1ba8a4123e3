# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# A small Kubernetes cluster on one machine, for the tests, the benchmarks and
# the demo: kube-lite as the API server, controller-manager-lite (scheduler,
# Deployments, ReplicaSets, StatefulSets, Service endpoints), the two nodes of
# nodes.sh (network namespaces, real runc and CRIU, one shared store), on each node kubelet-lite
# (pods in network namespaces of their own on the nodes' bridge, containers
# through ferry-runc by RuntimeClass "ferry") and a ferry-agent daemon, and
# ferry-controller.
#
#   cluster_setup DIR        nodes, kube-lite, Ferry installed by its Helm chart (chart.sh), kubelets, and
#                            the agents and the controller as processes with the chart's arguments and identities
#   cluster_teardown         stop everything, remove DIR
#   cluster_agent_start a|b|c [ARGS]   cluster_kubelet_start a|b|c [VAR=VALUE...]
#                                    (node c: with NODES_COUNT=3, nodes.sh)
#   cluster_controller_start N       (logs and pids in DIR)
#   cluster_kube_lite_restart        kube-lite killed and started again (with CLUSTER_KUBE_DATA=FILE: --data)
#   cluster_pod NODE NAME CMD...     a pod running CMD on node-NODE (as CLUSTER_POD_SA, default
#                                    "default"); waits until it runs
#   cluster_pod_ip NAME
#   cluster_apply_on_a NAME          applies a workload (stdin) so that its pod, app=NAME, runs on node-a
#   cluster_deployment NAME MEM      a Deployment's pod serving its count on node-a; waits until it is ready
#   cluster_pm_of POD                the PodMigration of POD
#   cluster_pm_end PM [TRIES]        waits until PodMigration PM ends; prints its phase
#
# Each daemon runs in a session of its own (setsid): killing the session kills
# what it started (runc and CRIU have process groups of their own, but stay in
# its session), as a node losing the agent's pod would. Containers and their
# stdio relays leave the session, as they leave a real agent's pod.
# With CLUSTER_CRI=VERSION (1.6, 1.7, 2) each node runs a containerd of that
# version (containerd.sh) and kubelet-lite runs the pods through its CRI
# (--container-runtime-endpoint); the agents get the handler's runc root.
# Sets CLUSTER_DIR and KUBECONFIG, plus what nodes.sh sets.
# shellcheck disable=SC2034 # the variables are for the scripts that source this

CLUSTER_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/nodes.sh
source "$CLUSTER_LIB_DIR/nodes.sh"
# shellcheck source=scripts/lib/containerd.sh
source "$CLUSTER_LIB_DIR/containerd.sh"
# shellcheck source=scripts/lib/chart.sh
source "$CLUSTER_LIB_DIR/chart.sh"

cluster_kubectl() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }

cluster_setup() {
  CLUSTER_DIR=$1
  local top
  top=$(cd "$CLUSTER_LIB_DIR/../.." && pwd)
  CLUSTER_BIN=${FERRY_BIN:-$top/bin}
  mkdir -p "$CLUSTER_DIR"
  nodes_setup "$CLUSTER_DIR/nodes"
  if [ -n "${CLUSTER_CRI:-}" ]; then
    containerd_node_start a "$CLUSTER_CRI" && containerd_node_start b "$CLUSTER_CRI" || return 1
  fi
  KUBECONFIG=$CLUSTER_DIR/kubeconfig
  [ -f "$CLUSTER_DIR/sa.key" ] || openssl genrsa -out "$CLUSTER_DIR/sa.key" 2048 2>/dev/null || return 1
  cluster_kube_lite_start 127.0.0.1:0 || return 1
  export KUBECONFIG
  # Ferry as users install it: the chart (its CRDs, RuntimeClass, RBAC, webhook configuration ...)
  chart_install && chart_identity ferry-controller || return 1
  setsid "$CLUSTER_BIN/controller-manager-lite" --kubeconfig "$KUBECONFIG" >>"$CLUSTER_DIR/controller-manager.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/controller-manager.pid"
  local n leases=() nodes=()
  for n in $(nodes_names); do
    cluster_kubelet_start "$n"
    cluster_agent_start "$n"
    leases+=("ferry-agent-node-$n")
    nodes+=("node-$n")
  done
  cluster_webhook_setup || return 1
  cluster_controller_start 1
  for ((i = 0; i < 100; i++)); do
    cluster_kubectl get lease -n ferry-system "${leases[@]}" >/dev/null 2>&1 &&
      cluster_kubectl get node "${nodes[@]}" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "cluster: the agents or kubelets did not register" >&2
  return 1
}

# cluster_kube_lite_start ADDR: kube-lite listening on ADDR (127.0.0.1:0 picks a
# port), writing KUBECONFIG; with CLUSTER_KUBE_DATA=FILE it keeps its objects
# there (--data), so that it can be killed and started again on the same port
# (cluster_kube_lite_restart) as an API server restarts on its etcd.
cluster_kube_lite_start() {
  local i
  rm -f "$KUBECONFIG"
  setsid "$CLUSTER_BIN/kube-lite" --listen "$1" --kubeconfig-out "$KUBECONFIG" --faults \
    ${CLUSTER_KUBE_DATA:+--data "$CLUSTER_KUBE_DATA"} \
    --service-account-signing-key-file "$CLUSTER_DIR/sa.key" >>"$CLUSTER_DIR/kube-lite.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/kube-lite.pid"
  for ((i = 0; i < 100; i++)); do
    [ -s "$KUBECONFIG" ] && return 0
    sleep 0.05
  done
  cat "$CLUSTER_DIR/kube-lite.log" >&2
  return 1
}

# cluster_kube_lite_restart: kube-lite SIGKILLed and started again on its port
# (CLUSTER_KUBE_DATA: with its objects).
cluster_kube_lite_restart() {
  local port
  port=$(sed -n 's#.*server: http://127.0.0.1:\([0-9]*\).*#\1#p' "$KUBECONFIG")
  cluster_signal KILL kube-lite
  cluster_kube_lite_start "127.0.0.1:$port"
}

# cluster_kubelet_start a|b [VAR=VALUE...]: kubelet-lite for node-a|b; its
# runtimes (ferry-runc) see the node's admission directory and the variables given.
cluster_kubelet_start() {
  local n=$1 addr range
  shift
  addr=$(nodes_addr "$n")
  if [ -n "${CLUSTER_CRI:-}" ]; then
    cluster_kubelet_cri_start "$n" "$addr" "$@"
    return
  fi
  case $n in
    a) range="$NODES_NET.64-$NODES_NET.95" ;;
    b) range="$NODES_NET.96-$NODES_NET.127" ;;
    *) range="$NODES_NET.128-$NODES_NET.159" ;;
  esac
  mkdir -p "$NODES_DIR/$n/admitted"
  setsid env FERRY_ADMISSION_DIR="$NODES_DIR/$n/admitted" FERRY_RUNC_STATE="$NODES_DIR/$n/ferry-runc" "$@" \
    "$CLUSTER_BIN/kubelet-lite" --node "node-$n" --kubeconfig "$KUBECONFIG" --state-dir "$NODES_DIR/$n/kubelet" \
    --root "$(nodes_root "$n")" --image ferry/workload="$NODES_DIR/base" --pod-network "$NODES_NS_NET/br0" \
    --pod-range "$range" --prefix-len 24 --host-ip "$addr" --runtime-handler ferry="$CLUSTER_BIN/ferry-runc" \
    --pod-annotations ferry.dev/ --log-level debug >>"$CLUSTER_DIR/kubelet-$n.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/kubelet-$n.pid"
}

# cluster_kubelet_cri_start a|b ADDR [VAR=VALUE...]: kubelet-lite for node-a|b
# running the pods through the node's containerd.
cluster_kubelet_cri_start() {
  local n=$1 addr=$2
  shift 2
  setsid env "$@" "$CLUSTER_BIN/kubelet-lite" --node "node-$n" --kubeconfig "$KUBECONFIG" \
    --state-dir "$NODES_DIR/$n/kubelet" --container-runtime-endpoint "$(containerd_node_endpoint "$n")" \
    --host-ip "$addr" --log-level debug >>"$CLUSTER_DIR/kubelet-$n.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/kubelet-$n.pid"
}

# cluster_runc_root a|b: where the node's containers' runc state is (the agent's --runc-root).
cluster_runc_root() {
  if [ -n "${CLUSTER_CRI:-}" ]; then containerd_node_runc_root "$1"; else nodes_root "$1"; fi
}

# The nodes' shared transfer key (the chart's Secret, mounted 0400): made once per cluster.
cluster_transfer_key() {
  local f=$CLUSTER_DIR/transfer.key
  [ -s "$f" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$f")
  echo "$f"
}

cluster_agent_start() {
  local n=$1 a args=() i
  shift
  mkdir -p "$NODES_DIR/$n/admitted"
  # its identity: the agent's ServiceAccount, the token bound to its Node (as
  # the projected token of a pod on that node names the node), once registered
  if [ ! -f "$CLUSTER_DIR/kubeconfig-ferry-agent-node-$n" ]; then
    for ((i = 0; i < 100; i++)); do
      cluster_kubectl get node "node-$n" >/dev/null 2>&1 && break
      sleep 0.1
    done
    chart_identity ferry-agent "node-$n" || return 1
  fi
  # the chart's arguments for its agent container, the host paths mapped to the node's directories
  while read -r a; do
    case $a in
      --node=*) args+=("--node=node-$n") ;;
      --work-dir=*) args+=("--work-dir=$(nodes_work "$n")") ;;
      --runc-root=*) args+=("--runc-root=$(cluster_runc_root "$n")") ;;
      --state-dir=*) args+=("--state-dir=$NODES_DIR/$n/state") ;;
      --admission-dir=*) args+=("--admission-dir=$NODES_DIR/$n/admitted") ;;
      --metrics-listen=*) args+=("--metrics-listen=127.0.0.1:0") ;;
      --migration-address=*) args+=("--migration-address=127.0.0.1") ;;
      --transfer-key-file=*) args+=("--transfer-key-file=$(cluster_transfer_key)") ;;
      daemon) args+=(daemon --kubeconfig "$CLUSTER_DIR/kubeconfig-ferry-agent-node-$n") ;;
      *) args+=("$a") ;;
    esac
  done < <(chart_args DaemonSet ferry-agent agent)
  setsid "$CLUSTER_BIN/ferry-agent" "${args[@]}" "$@" >>"$CLUSTER_DIR/agent-$n.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/agent-$n.pid"
}

# The controller's pod admission webhook: the chart's configuration calls its
# Service; the Service's endpoint is controller-1's port on loopback, which
# serves the chart's certificate (made for the Service's DNS name).
cluster_webhook_setup() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
    >"$CLUSTER_DIR/webhook.port"
  chart_webhook_serve "$(cat "$CLUSTER_DIR/webhook.port")"
}

cluster_controller_start() {
  local i=$1 port=0 a args=()
  [ "$i" = 1 ] && port=$(cat "$CLUSTER_DIR/webhook.port")
  # the chart's arguments for its controller container; the webhook on loopback with the chart's certificate
  while read -r a; do
    case $a in
      --identity=*) args+=("--identity=controller-$i") ;;
      --webhook-listen=*) args+=("--webhook-listen=127.0.0.1:$port") ;;
      --webhook-cert=*) args+=("--webhook-cert=$CLUSTER_DIR/webhook.crt") ;;
      --webhook-key=*) args+=("--webhook-key=$CLUSTER_DIR/webhook.key") ;;
      --metrics-listen=*) args+=("--metrics-listen=127.0.0.1:0") ;;
      *) args+=("$a") ;;
    esac
  done < <(chart_args Deployment ferry-controller controller)
  setsid "$CLUSTER_BIN/ferry-controller" --kubeconfig "$CLUSTER_DIR/kubeconfig-ferry-controller" "${args[@]}" \
    >>"$CLUSTER_DIR/controller-$i.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/controller-$i.pid"
}

# cluster_signal SIGNAL NAME: to the session of agent-a, controller-1, kube-lite...
# cluster_signal SIG NAME: SIG to every process of NAME's session. A KILL is
# repeated until the session is empty, as when a pod's cgroup is killed: a
# process forked (runc starting CRIU) while pkill went through /proc would
# otherwise outlive it.
cluster_signal() {
  local sid i
  sid=$(cat "$CLUSTER_DIR/$2.pid")
  pkill "-$1" -s "$sid" 2>/dev/null || true
  if [ "$1" = KILL ]; then
    for ((i = 0; i < 50; i++)); do
      pgrep -s "$sid" >/dev/null 2>&1 || return 0
      pkill -KILL -s "$sid" 2>/dev/null || true
      sleep 0.02
    done
  fi
}

# cluster_pod NODE NAME CMD...: a pod (label app=NAME, RuntimeClass ferry) on
# node-NODE running CMD in the workload image; waits until it runs with an address.
cluster_pod() {
  local node=$1 name=$2 i cmd=""
  shift 2
  local a
  for a in "$@"; do cmd+="${cmd:+, }$(printf '%s' "$a" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"; done
  cluster_kubectl apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app: $name}}
spec:
  nodeName: node-$node
  runtimeClassName: ferry
  serviceAccountName: ${CLUSTER_POD_SA:-default}
  terminationGracePeriodSeconds: 2
  containers: [{name: main, image: ferry/workload, command: [$cmd], resources: {requests: {cpu: 100m, memory: 64Mi}}}]
Y
  for ((i = 0; i < 200; i++)); do
    [ "$(cluster_kubectl get pod "$name" -o jsonpath='{.status.phase}/{.status.containerStatuses[0].ready}' 2>/dev/null)" = "Running/true" ] &&
      return 0
    sleep 0.05
  done
  echo "cluster: pod $name did not start" >&2
  cluster_kubectl get pod "$name" -o yaml >&2
  return 1
}

cluster_pod_on_a() { cluster_pod a "$@"; }
cluster_pod_ip() { cluster_kubectl get pod "$1" -o jsonpath='{.status.podIP}' 2>/dev/null; }

# cluster_apply_on_a NAME: applies the manifest on stdin, a workload of one pod
# labelled app=NAME, with node-b cordoned until that pod is ready, so that it runs on node-a.
cluster_apply_on_a() {
  local name=$1 i ready=''
  cluster_kubectl cordon node-b >/dev/null
  cluster_kubectl apply -f - >/dev/null
  for ((i = 0; i < 200; i++)); do
    ready=$(cluster_kubectl get pods -l "app=$name" -o jsonpath='{.items[0].status.containerStatuses[0].ready}' 2>/dev/null || true)
    [ "$ready" = true ] && break
    sleep 0.1
  done
  cluster_kubectl uncordon node-b >/dev/null
  [ "$ready" = true ] || { echo "cluster: the pod of $name did not get ready" >&2; return 1; }
}

# cluster_deployment NAME MEM: a Deployment NAME (one replica, label app=NAME,
# RuntimeClass ferry) of the workload holding MEM MiB and serving its count over
# HTTP, its pod on node-a; waits until that pod is ready.
cluster_deployment() {
  local name=$1 mem=$2
  cluster_apply_on_a "$name" <<Y
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name}
spec:
  replicas: 1
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec:
      runtimeClassName: ferry
      terminationGracePeriodSeconds: 2
      containers: [{name: main, image: ferry/workload, command: [sh, -c, "workload --mem $mem & exec httpd -f -p 8080 -h /www"]}]
Y
}

# cluster_pm_of POD: the name of the PodMigration of POD (empty while there is none).
cluster_pm_of() { cluster_kubectl get pm -l "ferry.dev/pod=$1" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null; }

# cluster_pm_end PM [TRIES]: waits until PodMigration PM ended (Succeeded, Failed or
# RolledBack; every 0.1 s, TRIES times at the most, 600 by default); prints its phase.
cluster_pm_end() {
  local tries=${2:-600} i phase=
  for ((i = 0; i < tries; i++)); do
    phase=$(cluster_kubectl get pm "$1" -o jsonpath='{.status.phase}')
    case $phase in Succeeded | Failed | RolledBack) break ;; esac
    sleep 0.1
  done
  echo "$phase"
}

cluster_teardown() {
  [ -n "${CLUSTER_DIR:-}" ] || return 0
  local p i sessions
  sessions=$(cat "$CLUSTER_DIR"/*.pid 2>/dev/null | paste -sd,)
  # (|| true: this runs from EXIT traps of scripts with set -e)
  for p in "$CLUSTER_DIR"/*.pid; do
    [ -f "$p" ] || continue
    pkill -CONT -s "$(cat "$p")" 2>/dev/null || true
    kill -TERM "$(cat "$p")" 2>/dev/null || true
  done
  for ((i = 0; i < 30; i++)); do # they stop within a loop turn (200 ms); sanitizers then report
    if [ -z "$sessions" ] || ! pgrep -s "$sessions" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  for p in "$CLUSTER_DIR"/*.pid; do
    if [ -f "$p" ]; then pkill -KILL -s "$(cat "$p")" 2>/dev/null || true; fi
  done
  if [ -n "${CLUSTER_CRI:-}" ]; then
    containerd_node_stop a
    containerd_node_stop b
  fi
  # the pods' network namespaces (kubelet-lite names them kl-UID8)
  local f uid
  for f in "$NODES_DIR"/*/kubelet/ips/*; do
    if [ ! -f "$f" ] || [ "${f##*/}" = last ]; then continue; fi
    uid=$(tr -d '-' <"$f")
    ip netns del "kl-${uid:0:8}" 2>/dev/null || true
  done
  nodes_cleanup
}
