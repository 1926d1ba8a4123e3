#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a client sees while its pod moves: the cluster of scripts/lib/cluster.sh,
# a Deployment of one pod on node-a behind a Service (selector app=NAME; its
# Endpoints kept by controller-manager-lite), and from the client namespace
# (NODES_NS_CLIENT, the rest of the cluster network) two clients
# (bench/client/, build/bench/ferry-bench-client):
#   paced:  a request every 10 ms, each on a new connection, 1 s timeout: the
#           longest gap between successful replies, the failed requests, p50/p99;
#   closed: one request at a time, the next as soon as the last ended: the
#           application's throughput (replies per 100 ms window) before the move
#           and while post-copy's pages still arrive after the restore.
# Neither kube-lite nor the nodes implement a ClusterIP (no kube-proxy): the
# clients go to the Service's first ready endpoint, which a watch on its
# Endpoints (bench/endpoints_watch.py, as kube-proxy follows them) keeps in a
# file they read again when it changed. So a gap is the pod's downtime plus the
# time the Endpoints take to follow (the source pod stops being Ready before the
# freeze; the restored pod is an endpoint once its kubelet reports it Ready).
# Workloads: the counting workload serving its count over HTTP (busybox httpd,
# GET /count) holding BENCH_SIZE MiB, and Debian's redis-server with 100,000
# keys (DEBUG POPULATE; GET key:N, checked to be value:N). The move is a
# PodMigration to node-b with options.tcpClose (a connection open at the freeze
# is closed on the target: the address changes), per strategy.
#
#   bench/client.sh                    3 runs, 64 MiB, stopAndCopy and postCopy, counter and redis
#   BENCH_RUNS=1 BENCH_WORKLOADS=redis BENCH_STRATEGIES=postCopy bench/client.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
# shellcheck source=scripts/lib/image-stage.sh
source scripts/lib/image-stage.sh

SIZE=${BENCH_SIZE:-64}
RUNS=${BENCH_RUNS:-3}
STRATEGIES=${BENCH_STRATEGIES:-stopAndCopy postCopy}
WORKLOADS=${BENCH_WORKLOADS:-counter redis}
KEYS=100000
BASELINE_S=3 # the clients run this long before the move and after it ended
# CRIU's page server needs 4 MiB pipes (docs/strategies.md)
[ "$(cat /proc/sys/fs/pipe-max-size)" -ge 4194304 ] || echo 4194304 > /proc/sys/fs/pipe-max-size
NODES_NET=10.231.13
work=$(mktemp -d /var/tmp/ferry-bench-client.XXXXXX)
# a copy of the client: a rebuild during the run must not change it
install -m 0755 "${FERRY_BENCH_CLIENT:-build/bench/ferry-bench-client}" "$work/client"
bg=()
stop_bg() {
  local p
  for p in "${bg[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${bg[@]}"; do wait "$p" 2>/dev/null || true; done
  bg=()
}
# BENCH_KEEP=1: the clients' rows and the PodMigrations stay in $work
trap 'stop_bg; cluster_teardown; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
raw=$work/raw.tsv
: >"$raw"

# image_add BIN: BIN (in /bin) and every library it loads (at their own paths) into the nodes' image.
image_add() {
  local f
  cp -L "$1" "$NODES_DIR/base/bin/$(basename "$1")"
  image_libraries "$1" | while read -r f; do
    mkdir -p "$NODES_DIR/base$(dirname "$f")"
    cp -L "$f" "$NODES_DIR/base$f"
  done
}

in_client() { ip netns exec "$NODES_NS_CLIENT" "$@"; }
# client ARGS: the client in the client namespace, in the background (nsenter execs it: $! is the client's pid).
client() {
  nsenter --net="/var/run/netns/$NODES_NS_CLIENT" "$work/client" "$@" &
  bg+=($!)
}
pod_of() { cluster_kubectl get pods -l "app=$1" -o jsonpath='{.items[0].metadata.name}'; }

# deploy WORKLOAD NAME: its Deployment (one pod, on node-a) and Service; prints the port once it answers.
deploy() {
  local workload=$1 name=$2 port cmd ip i
  case $workload in
    counter) port=8080 cmd="[sh, -c, \"workload --mem $SIZE & exec httpd -f -p 8080 -h /www\"]" ;;
    redis) port=6379 cmd='[redis-server, --port, "6379", --save, "", --appendonly, "no", --protected-mode, "no", --enable-debug-command, "yes"]' ;;
  esac
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
      containers: [{name: main, image: ferry/workload, command: $cmd}]
---
apiVersion: v1
kind: Service
metadata: {name: $name}
spec: {selector: {app: $name}, ports: [{port: $port, targetPort: $port}]}
Y
  ip=$(cluster_pod_ip "$(pod_of "$name")")
  for ((i = 0; i < 100; i++)); do
    case $workload in
      counter) [ -n "$(in_client wget -q -T 2 -O - "http://$ip:8080/count" 2>/dev/null)" ] && break ;;
      redis) [ "$(in_client redis-cli -h "$ip" -p 6379 PING 2>/dev/null)" = PONG ] && break ;;
    esac
    sleep 0.2
  done
  if [ "$workload" = redis ]; then
    in_client redis-cli -h "$ip" -p 6379 DEBUG POPULATE "$KEYS" key >/dev/null
    [ "$(in_client redis-cli -h "$ip" -p 6379 DBSIZE)" = "$KEYS" ] || { echo "bench: redis was not populated" >&2; exit 1; }
  fi
  for ((i = 0; i < 100; i++)); do
    [ "$(cluster_kubectl get endpoints "$name" -o jsonpath='{.subsets[0].addresses[0].ip}')" = "$ip" ] && break
    sleep 0.1
  done
  echo "$port"
}

# follow_endpoints NAME FILE: FILE holds the Service's ready addresses, rewritten on each watch event (in the background).
follow_endpoints() {
  python3 bench/endpoints_watch.py "$KUBECONFIG" default "$1" "$2" &
  bg+=($!)
}

# one_move WORKLOAD RUN STRATEGY: the clients through one move; their rows in $work/NAME.{paced,closed}, its line in $raw.
one_move() {
  local workload=$1 i=$2 strategy=$3 name port proto ep phase k
  name="$workload-$i-${strategy,,}"
  echo "bench: $workload run $i/$RUNS: $strategy" >&2
  port=$(deploy "$workload" "$name")
  proto=http
  [ "$workload" = redis ] && proto=redis
  ep=$work/$name.endpoints
  follow_endpoints "$name" "$ep"
  for ((k = 0; k < 600; k++)); do
    [ -s "$ep" ] && break
    sleep 0.05
  done
  client --proto "$proto" --endpoints "$ep" --port "$port" --keys "$KEYS" --out "$work/$name.paced"
  client --proto "$proto" --endpoints "$ep" --port "$port" --keys "$KEYS" --interval-ms 0 --out "$work/$name.closed"
  sleep "$BASELINE_S"
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: m-%s}\nspec: {pod: %s, targetNode: node-b, strategy: %s, options: {tcpClose: true}}\n' \
    "$name" "$(pod_of "$name")" "$strategy" | cluster_kubectl apply -f - >/dev/null
  phase=$(cluster_pm_end "m-$name" 1200)
  [ "$phase" = Succeeded ] || { diagnose "m-$name"; exit 1; }
  sleep "$BASELINE_S"
  stop_bg
  check_moved "$workload" "$name"
  cluster_kubectl get pm "m-$name" -o json >"$work/$name.pm.json"
  printf '%s\t%s\t%s\t%s\n' "$workload" "$strategy" "$i" "$name" >>"$raw"
  cluster_kubectl delete deployment "$name" >/dev/null
  cluster_kubectl delete service "$name" >/dev/null
  clear_pods
  rm -rf "${NODES_STORE:?}"/*
}

# diagnose PM: what went wrong (its status, CRIU's errors on both nodes).
diagnose() {
  local f
  cluster_kubectl get pm "$1" -o yaml >&2
  find "$NODES_DIR"/a/work "$NODES_DIR"/b "$CLUSTER_DIR" -maxdepth 6 -name '*.log' 2>/dev/null | while read -r f; do
    echo "--- $f" >&2
    grep -E 'Error|Warn|error' "$f" | tail -15 >&2 || true
  done
}

# check_moved WORKLOAD NAME: the moved pod kept its state (the count went on, the keys are all there).
check_moved() {
  local ip
  ip=$(cluster_kubectl get endpoints "$2" -o jsonpath='{.subsets[0].addresses[0].ip}')
  case $1 in
    counter) [ "$(in_client wget -q -T 2 -O - "http://$ip:8080/count")" -gt 20 ] ;;
    redis) [ "$(in_client redis-cli -h "$ip" -p 6379 DBSIZE)" = "$KEYS" ] ;;
  esac || { echo "bench: $2 lost its state in the move" >&2; exit 1; }
}

clear_pods() {
  local i
  for ((i = 0; i < 300; i++)); do
    [ -z "$(cluster_kubectl get pods -o name 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  echo "bench: pods left behind" >&2
  return 1
}

cluster_setup "$work/cluster"
image_add "$(command -v redis-server)"
for ((i = 1; i <= RUNS; i++)); do
  for workload in $WORKLOADS; do
    for strategy in $STRATEGIES; do one_move "$workload" "$i" "$strategy"; done
  done
done

bench_results client
{
  bench_header "What a client sees: requests through the Service during a move" \
    "$(runc --version | head -1); redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2)"
  echo
  echo "kube-lite, controller-manager-lite, two kubelet-lites, ferry-controller and two agents on this machine;"
  echo "the clients in the client network namespace. paced: a request every 10 ms, each on a new connection, 1 s timeout;"
  echo "closed: one request at a time, for the throughput. No ClusterIP here: the clients follow the Service's Endpoints"
  echo "(a watch), so a gap includes the time the Endpoints take to follow the pod (bench/client.sh)."
  echo "counter: the counting workload (${SIZE} MiB) serving its count over HTTP; redis: redis-server with $KEYS keys, GET key:N."
  echo "$RUNS runs per row; median (min-max). failed: requests without a whole reply (no endpoint, refused, reset, timed out)."
  echo "throughput: the closed client's replies per 100 ms window, before the move and from the restore until the last page"
  echo "arrived (postCopy) or for the first second after the restore (stopAndCopy); in % of before."
  echo
  python3 bench/client_report.py "$work" "$raw" "$out.tsv" "$out.plot"
} | tee "$out.md"
gnuplot "$out.plot"
rm -f "$out.plot" "$out".timeline-*
echo "bench: written to $out.md, $out.png (data $out.tsv)" >&2
