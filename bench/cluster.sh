#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Control-plane benchmark: a PodMigration from creation to Succeeded through
# kube-lite, ferry-controller, the two agent daemons and the two kubelet-lites
# (the target pod restored by ferry-runc; scripts/lib/cluster.sh),
# for workloads holding N MiB of touched memory. Reports the downtime the status
# records (freezeMillis: the freeze on the source to running on the target), the
# time the engine's steps took within it, what is left (handing over between the
# agents through the API: status writes, watch events, child process start-up),
# and the whole migration (totalMillis: accepted to Succeeded), per strategy,
# on each runtime in the same run: kubelet-lite calling ferry-runc itself
# (direct) and containerd's CRI calling it through its shim (containerd-V).
#
#   bench/cluster.sh                   sizes 64 512, 5 runs each, stopAndCopy and postCopy, direct and containerd-1.6
#   BENCH_SIZES="64" BENCH_RUNS=3 BENCH_STRATEGIES=postCopy BENCH_RUNTIMES="direct containerd-2" bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

SIZES=${BENCH_SIZES:-64 512}
RUNS=${BENCH_RUNS:-5}
STRATEGIES=${BENCH_STRATEGIES:-stopAndCopy postCopy}
# direct: kubelet-lite calls ferry-runc itself; containerd-V: each node runs containerd V
# (1.6, 1.7, 2) and kubelet-lite runs the pods through its CRI (CLUSTER_CRI)
RUNTIMES=${BENCH_RUNTIMES:-direct containerd-1.6}
# CRIU's page server needs 4 MiB pipes (docs/strategies.md)
[ "$(cat /proc/sys/fs/pipe-max-size)" -ge 4194304 ] || echo 4194304 > /proc/sys/fs/pipe-max-size
NODES_NET=10.231.12
work=$(mktemp -d /var/tmp/ferry-bench-cluster.XXXXXX)
trap 'cluster_teardown; rm -rf "$work"' EXIT
raw=$work/raw.tsv
: >"$raw"

# rootfs_of POD: where the pod's container's root filesystem is on node-a (the workload writes /tmp/count there).
rootfs_of() {
  if [ -z "${CLUSTER_CRI:-}" ]; then
    echo "$NODES_DIR/a/kubelet/pods/$(cluster_kubectl get pod "$1" -o jsonpath='{.metadata.uid}')/main/bundle/rootfs"
    return
  fi
  local id=''
  for _ in $(seq 300); do
    id=$(cluster_kubectl get pod "$1" -o jsonpath='{.status.containerStatuses[0].containerID}')
    [ -n "$id" ] && break
    sleep 0.1
  done
  echo "$(containerd_node_dir a)/state/io.containerd.runtime.v2.task/k8s.io/${id#containerd://}/rootfs"
}

# one_migration RUNTIME SIZE RUN STRATEGY: a pod of SIZE MiB on node-a moved to node-b; its row in $raw.
one_migration() {
  local runtime=$1 size=$2 i=$3 strategy=$4 name phase target
  echo "bench: $runtime ${size} MiB run $i/$RUNS: $strategy" >&2
  name="w$size-$i-${strategy,,}"
  cluster_pod_on_a "$name" /bin/workload --mem "$size"
  nodes_wait_count "$(rootfs_of "$name")" 2 1200 >/dev/null
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: m-%s}\nspec: {pod: %s, targetNode: node-b, strategy: %s}\n' \
    "$name" "$name" "$strategy" | cluster_kubectl apply -f - >/dev/null
  phase=$(cluster_pm_end "m-$name" 1200)
  [ "$phase" = Succeeded ] || { cluster_kubectl get pm "m-$name" -o yaml >&2; exit 1; }
  cluster_kubectl get pm "m-$name" -o json | python3 -c '
import json, sys
s = json.load(sys.stdin)["status"]; t = s["timings"]
steps = sum(t.get(k, 0) for k in ("dump", "rootfs", "write", "verify", "restore"))
b = s.get("bytesMoved", {})
print("\t".join(map(str, [sys.argv[1], sys.argv[2], s["strategy"], s["freezeMillis"], t["dump"], t.get("write", 0) + t.get("rootfs", 0),
                          t["verify"], t["restore"], s["freezeMillis"] - steps, t.get("pages", 0), s["totalMillis"],
                          b.get("duringFreeze", s["bytes"]), b.get("afterRestore", 0)])))' \
    "$runtime" "$size" >>"$raw"
  # free the memory: the moved pod on B (its kubelet stops it)
  target=$(cluster_kubectl get pm "m-$name" -o jsonpath='{.status.targetPod}')
  cluster_kubectl delete pod "$target" --grace-period=1 --timeout=60s >/dev/null
  rm -rf "${NODES_STORE:?}"/*
}

for runtime in $RUNTIMES; do
  case $runtime in
    direct) unset CLUSTER_CRI ;;
    containerd-*) export CLUSTER_CRI=${runtime#containerd-} ;;
    *) echo "bench: unknown runtime $runtime (direct, containerd-1.6, containerd-1.7, containerd-2)" >&2; exit 2 ;;
  esac
  cluster_setup "$work/cluster-$runtime"
  for size in $SIZES; do
    for ((i = 1; i <= RUNS; i++)); do
      for strategy in $STRATEGIES; do one_migration "$runtime" "$size" "$i" "$strategy"; done
    done
  done
  cluster_teardown
done

bench_results cluster
{
  bench_header "Control plane: PodMigration downtime and duration" \
    "$(runc --version | head -1); kube-lite, ferry-controller, two ferry-agent daemons and two kubelet-lites"
  printf 'Runtimes:'
  for r in $RUNTIMES; do
    case $r in
      direct) printf ' direct (kubelet-lite calls ferry-runc itself);' ;;
      containerd-*) printf ' %s (containerd %s: pods through its CRI, its shim calling ferry-runc);' "$r" \
        "$("$(containerd_bindir "${r#containerd-}")/containerd" --version | awk '{print $3}')" ;;
    esac
  done
  echo
  echo "on one machine (scripts/lib/cluster.sh), a local directory as the shared store; post-copy pages over loopback."
  echo "pages: for postCopy, from running on the target to its last page."
  echo "$RUNS runs per row; median (min-max). \"handover\" is the downtime not spent in the engine's steps:"
  echo "status writes, watch events, binding the target pod, its kubelet making the sandbox and calling ferry-runc."
  echo
  python3 - "$raw" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rows.setdefault((int(f[1]), f[2], f[0]), []).append([int(x) for x in f[3:]])
def cell(vals):
    return f"{statistics.median(vals):.0f} ({min(vals)}-{max(vals)})"
print("| memory | strategy | runtime | downtime ms | dump ms | rootfs + write ms | verify ms | restore ms | handover ms | pages ms |"
      " total ms | MiB during freeze | MiB after restore |")
print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for (size, strategy, runtime), rs in sorted(rows.items()):
    c = list(zip(*rs))
    print(f"| {size} MiB | {strategy} | {runtime} | {cell(c[0])} | {cell(c[1])} | {cell(c[2])} | {cell(c[3])} | {cell(c[4])} | "
          f"{cell(c[5])} | {statistics.median(c[6]):.0f} | {cell(c[7])} | {statistics.median(c[8]) / 1048576:.1f} | "
          f"{statistics.median(c[9]) / 1048576:.1f} |")
PY
} | tee "$out.md"
echo "bench: written to $out.md" >&2
