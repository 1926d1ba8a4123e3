#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Control-plane benchmark: a PodMigration from creation to Succeeded through
# kube-lite, ferry-controller, the two agent daemons and the two kubelet-lites
# (the target pod restored by ferry-runc; scripts/lib/cluster.sh),
# for workloads holding N MiB of touched memory. Reports the downtime the status
# records (freezeMillis: the freeze on the source to running on the target), the
# time the engine's steps took within it, what is left (handing over between the
# agents through the API: status writes, watch events, child process start-up),
# and the whole migration (totalMillis: accepted to Succeeded), per strategy.
#
#   bench/cluster.sh                   sizes 64 512, 5 runs each, stopAndCopy and postCopy
#   BENCH_SIZES="64" BENCH_RUNS=3 BENCH_STRATEGIES=postCopy bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

SIZES=${BENCH_SIZES:-64 512}
RUNS=${BENCH_RUNS:-5}
STRATEGIES=${BENCH_STRATEGIES:-stopAndCopy postCopy}
# CRIU's page server needs 4 MiB pipes (docs/strategies.md)
[ "$(cat /proc/sys/fs/pipe-max-size)" -ge 4194304 ] || echo 4194304 > /proc/sys/fs/pipe-max-size
NODES_NET=10.231.12
work=$(mktemp -d /var/tmp/ferry-bench-cluster.XXXXXX)
trap 'cluster_teardown; rm -rf "$work"' EXIT
cluster_setup "$work/cluster"
raw=$work/raw.tsv
: >"$raw"

for size in $SIZES; do
  for ((i = 1; i <= RUNS; i++)); do
   for strategy in $STRATEGIES; do
    echo "bench: ${size} MiB run $i/$RUNS: $strategy" >&2
    name="w$size-$i-${strategy,,}"
    cluster_pod_on_a "$name" /bin/workload --mem "$size"
    uid=$(cluster_kubectl get pod "$name" -o jsonpath='{.metadata.uid}')
    nodes_wait_count "$NODES_DIR/a/kubelet/pods/$uid/main/bundle/rootfs" 2 1200 >/dev/null
    printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: m-%s}\nspec: {pod: %s, targetNode: node-b, strategy: %s}\n' \
      "$name" "$name" "$strategy" | cluster_kubectl apply -f - >/dev/null
    phase=$(cluster_pm_end "m-$name" 1200)
    [ "$phase" = Succeeded ] || { cluster_kubectl get pm "m-$name" -o yaml >&2; exit 1; }
    cluster_kubectl get pm "m-$name" -o json | python3 -c '
import json, sys
s = json.load(sys.stdin)["status"]; t = s["timings"]
steps = sum(t.get(k, 0) for k in ("dump", "rootfs", "write", "verify", "restore"))
b = s.get("bytesMoved", {})
print("\t".join(map(str, [sys.argv[1], s["strategy"], s["freezeMillis"], t["dump"], t.get("write", 0) + t.get("rootfs", 0),
                          t["verify"], t["restore"], s["freezeMillis"] - steps, t.get("pages", 0), s["totalMillis"],
                          b.get("duringFreeze", s["bytes"]), b.get("afterRestore", 0)])))' \
      "$size" >>"$raw"
    # free the memory: the moved pod on B (its kubelet stops it)
    target=$(cluster_kubectl get pm "m-$name" -o jsonpath='{.status.targetPod}')
    cluster_kubectl delete pod "$target" --grace-period=1 --timeout=60s >/dev/null
    rm -rf "${NODES_STORE:?}"/*
   done
  done
done

bench_results cluster
{
  bench_header "Control plane: PodMigration downtime and duration" \
    "$(runc --version | head -1); kube-lite, ferry-controller, two ferry-agent daemons and two kubelet-lites"
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
    rows.setdefault((int(f[0]), f[1]), []).append([int(x) for x in f[2:]])
def cell(vals):
    return f"{statistics.median(vals):.0f} ({min(vals)}-{max(vals)})"
print("| memory | strategy | downtime ms | dump ms | rootfs + write ms | verify ms | restore ms | handover ms | pages ms |"
      " total ms | MiB during freeze | MiB after restore |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for (size, strategy), rs in sorted(rows.items()):
    c = list(zip(*rs))
    print(f"| {size} MiB | {strategy} | {cell(c[0])} | {cell(c[1])} | {cell(c[2])} | {cell(c[3])} | {cell(c[4])} | "
          f"{cell(c[5])} | {statistics.median(c[6]):.0f} | {cell(c[7])} | {statistics.median(c[8]) / 1048576:.1f} | "
          f"{statistics.median(c[9]) / 1048576:.1f} |")
PY
} | tee "$out.md"
echo "bench: written to $out.md" >&2
