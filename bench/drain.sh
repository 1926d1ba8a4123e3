#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Draining a node of 20 pods: 20 one-pod Deployments of the counting
# workload (BENCH_MEM MiB each, serving its count over HTTP), all on node-a of
# the cluster of scripts/lib/cluster.sh, then node-a drained, per mode:
#   ferry-1   kubectl ferry drain, the pods opted in (ferry.dev/migratable), no
#             MigrationPolicy: maxParallelPerNode 1, the default (one move at a time)
#   ferry-4   the same with a MigrationPolicy of maxParallelPerNode 4 (and
#             maxParallel 4, the cluster-wide default)
#   ferry-seq one move at a time, made so by the benchmark: node-a cordoned with the
#             pods not opted in, then a PodMigration to node-b per pod, each created when
#             the last one ended (what ferry-1 should match: docs/performance.md)
#   kubectl   kubectl drain of the same pods not opted in: evicted (pods/eviction),
#             their ReplicaSet starts new ones on node-b from nothing
# Reports the drain's total time (its command's), the time until all 20 pods
# were Ready on node-b, the fewest Ready pods on the way (a sampler of the
# pods' Ready conditions, about every 0.3 s), each moved pod's downtime (ferry:
# the PodMigration's freezeMillis; kubectl: from the drain's start to its
# replacement first seen Ready, the evictions all being sent at the start), and
# whether the counts went on (ferry) or started again from 0 (kubectl).
# A fresh cluster for each drain (kubelet-lite's pod address ranges are 32 per node).
#
#   bench/drain.sh                       3 runs of each mode, 16 MiB pods
#   BENCH_RUNS=1 BENCH_MODES="ferry-4 kubectl" bench/drain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

RUNS=${BENCH_RUNS:-3}
MODES=${BENCH_MODES:-ferry-seq ferry-1 ferry-4 kubectl}
MEM=${BENCH_MEM:-16}
PODS=20
[ "$(cat /proc/sys/fs/pipe-max-size)" -ge 4194304 ] || echo 4194304 > /proc/sys/fs/pipe-max-size
NODES_NET=10.231.14
work=$(mktemp -d /var/tmp/ferry-bench-drain.XXXXXX)
sampler=
stop_sampler() {
  [ -n "$sampler" ] || return 0
  kill -TERM "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sampler=
}
trap 'stop_sampler; cluster_teardown; rm -rf "$work"' EXIT
raw=$work/raw.tsv
: >"$raw"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
in_client() { ip netns exec "$NODES_NS_CLIENT" "$@"; }

# ready_pods: "NAME NODE IP" of each Ready pod of the Deployment, one a line.
ready_pods() {
  cluster_kubectl get pods -l app=dr -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    awk '$NF == "True" && NF == 4 {print $1, $2, $3}'
}

# deploy MODE: 20 Deployments of one pod each (dr-1 ... dr-20, all labelled app=dr), Ready on node-a
# (node-b cordoned meanwhile). One Deployment each: Ferry's admission webhook pairs a ReplicaSet's new pod
# with one of its migrations at a time (docs/performance.md, "Draining a node of 20 pods").
deploy() {
  local annotations='{}' i
  case $1 in ferry-1 | ferry-4) annotations='{ferry.dev/migratable: "true"}' ;; esac
  cluster_kubectl cordon node-b >/dev/null
  for ((i = 1; i <= PODS; i++)); do
    cat <<Y
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dr-$i}
spec:
  replicas: 1
  selector: {matchLabels: {app: dr, slot: "$i"}}
  template:
    metadata: {labels: {app: dr, slot: "$i"}, annotations: $annotations}
    spec:
      runtimeClassName: ferry
      terminationGracePeriodSeconds: 2
      containers: [{name: main, image: ferry/workload, command: [sh, -c, "workload --mem $MEM & exec httpd -f -p 8080 -h /www"]}]
Y
  done | cluster_kubectl apply -f - >/dev/null
  for ((i = 0; i < 600; i++)); do
    [ "$(ready_pods | grep -c ' node-a ')" = "$PODS" ] && break
    sleep 0.2
  done
  cluster_kubectl uncordon node-b >/dev/null
  [ "$(ready_pods | grep -c ' node-a ')" = "$PODS" ] || { echo "bench: the $PODS pods did not get ready on node-a" >&2; exit 1; }
  if [ "$1" = ferry-4 ]; then
    printf 'apiVersion: ferry.dev/v1alpha1\nkind: MigrationPolicy\nmetadata: {name: drain-4}\nspec: {maxParallelPerNode: 4, maxParallel: 4}\n' |
      cluster_kubectl apply -f - >/dev/null
  fi
}

# counts FILE: "NAME COUNT" of each Ready pod (asked from the client namespace).
counts() {
  local name node ip
  ready_pods | while read -r name node ip; do
    echo "$name $(in_client wget -q -T 2 -O - "http://$ip:8080/count" 2>/dev/null || echo -)"
  done >"$1"
}

# sample FILE: every ~0.3 s, "MS NAME..." of the Ready pods on node-b and the number Ready anywhere (background).
sample() {
  local f=$1 t
  while :; do
    t=$(now_ms)
    ready_pods | awk -v t="$t" '{n++} $2 == "node-b" {b = b " " $1} END {print t "\t" n + 0 "\t" b}' >>"$f"
    sleep 0.2
  done
}

# one_by_one: node-a cordoned, then each of its pods moved to node-b by a PodMigration of its own, one after the other.
one_by_one() {
  local name node ip phase
  cluster_kubectl cordon node-a
  ready_pods | while read -r name node ip; do
    [ "$node" = node-a ] || continue
    printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: m-%s}\nspec: {pod: %s, targetNode: node-b}\n' \
      "$name" "$name" | cluster_kubectl apply -f -
    phase=$(cluster_pm_end "m-$name" 1200)
    echo "pod/$name: $phase"
    [ "$phase" = Succeeded ] || return 1
  done
}

one_drain() {
  local mode=$1 i=$2 t0 t1 t2 rc=0 k
  echo "bench: drain run $i/$RUNS: $mode" >&2
  cluster_setup "$work/cluster-$mode-$i"
  deploy "$mode"
  counts "$work/before"
  # kubectl: every count past 600 first (60 s at the workload's 10 a second), more than a pod started
  # again at the drain reaches by the time the counts are read again (within 60 s): below means restarted
  for ((k = 0; k < 60; k++)); do
    if [ "$mode" != kubectl ] || [ "$(awk '$2 ~ /^[0-9]+$/ && $2 < 600' "$work/before" | wc -l)" = 0 ]; then break; fi
    sleep 5
    counts "$work/before"
  done
  sample "$work/$mode-$i.samples" &
  sampler=$!
  t0=$(now_ms)
  if [ "$mode" = kubectl ]; then
    cluster_kubectl drain node-a --ignore-daemonsets --delete-emptydir-data --timeout=600s >"$work/$mode-$i.log" 2>&1 || rc=$?
  elif [ "$mode" = ferry-seq ]; then
    one_by_one >"$work/$mode-$i.log" 2>&1 || rc=$?
  else
    PATH="$CLUSTER_BIN:$PATH" kubectl ferry drain node-a --timeout 900 >"$work/$mode-$i.log" 2>&1 || rc=$?
  fi
  t1=$(now_ms)
  [ "$rc" = 0 ] || { cat "$work/$mode-$i.log" >&2; exit 1; }
  for ((k = 0; k < 1200; k++)); do
    [ "$(ready_pods | grep -c ' node-b ')" = "$PODS" ] && break
    sleep 0.1
  done
  t2=$(now_ms)
  sleep 1
  stop_sampler
  counts "$work/after"
  cluster_kubectl get pm -o json >"$work/$mode-$i.pms.json"
  printf '%s\t%s\t%s\t%s\t%s\n' "$mode" "$i" "$t0" "$((t1 - t0))" "$((t2 - t0))" >>"$raw"
  python3 - "$work/before" "$work/after" "$work/$mode-$i.pms.json" >"$work/$mode-$i.counts" <<'PY'
import json, sys
before = dict(l.split() for l in open(sys.argv[1]) if len(l.split()) == 2)
after = dict(l.split() for l in open(sys.argv[2]) if len(l.split()) == 2)
# a moved pod's count against its source's (through its PodMigration); an evicted one's against every old count
moved = {pm["status"].get("targetPod"): pm["spec"]["pod"] for pm in json.load(open(sys.argv[3]))["items"]}
went_on = sum(1 for p, c in after.items() if p in moved and moved[p] in before and int(c) >= int(before[moved[p]]))
print(f"{min(map(int, before.values()))}\t{max(map(int, before.values()))}\t{min(map(int, after.values()))}\t"
      f"{max(map(int, after.values()))}\t{went_on}\t{len(after)}")
PY
  cluster_teardown
  CLUSTER_DIR=
}

for ((i = 1; i <= RUNS; i++)); do
  for mode in $MODES; do one_drain "$mode" "$i"; done
done

bench_results drain
{
  bench_header "Draining a node of $PODS pods: kubectl ferry drain against kubectl drain" \
    "$(runc --version | head -1); $(kubectl version --client 2>/dev/null | head -1)"
  echo
  echo "$PODS one-pod Deployments of the counting workload ($MEM MiB each, HTTP) on node-a, node-a drained to node-b;"
  echo "kube-lite, controller-manager-lite, two kubelet-lites, ferry-controller and two agents on this machine, a fresh"
  echo "cluster per drain. ferry-seq: one PodMigration at a time (the benchmark waits for each); ferry-1: kubectl ferry drain, maxParallelPerNode 1 (the default: one move at a time);"
  echo "ferry-4: with a MigrationPolicy of maxParallelPerNode 4, maxParallel 4; kubectl: kubectl drain of the same pods"
  echo "not opted in (evicted, started again by their ReplicaSet). $RUNS runs per row; median (min-max)."
  echo "drain: the command's time; all Ready: until the $PODS pods were Ready on node-b; fewest Ready: of the $PODS, on"
  echo "the way (sampled every ~0.3 s); downtime per pod: ferry: freezeMillis; kubectl: drain start to its replacement"
  echo "first seen Ready. counts: a moved pod's count at least its source's before the drain (went on), or below"
  echo "every count before it (started again)."
  echo
  python3 bench/drain_report.py "$work" "$raw" "$out.tsv" "$out.plot"
} | tee "$out.md"
gnuplot "$out.plot"
rm -f "$out.plot" "$out".samples-*
echo "bench: written to $out.md, $out.png (data $out.tsv)" >&2
