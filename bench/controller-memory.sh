#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The controller's memory with a cluster's worth of objects cached (issue 15:
# at most 100 MiB RSS with 10,000 pods and 1,000 nodes), against kube-lite
# itself: a fresh kube-lite per run, Ferry's CRDs, 1,000 Nodes, 1,000 agent
# Leases, a dry-run MigrationPolicy and 10,000 Deployment-made Pods POSTed in
# parallel (bench/controller_memory_objects.py); then ferry-controller, until
# /metrics says its caches synced and the rebalancer ran three rounds (a round
# builds its inputs from every cached pod and node); then VmRSS and VmHWM from
# /proc/PID/status. Each controller runs three times, and once more against an
# empty kube-lite (its baseline: what 0 objects cost).
#   bench/controller-memory.sh
#   BENCH_CONTROLLERS="before=/var/tmp/ferry-controller-old after=bin/ferry-controller" bench/controller-memory.sh
#   BENCH_PODS=1000 BENCH_NODES=100 BENCH_RUNS=1 bench/controller-memory.sh
# Results: bench/results/controller-memory-STAMP.md, .tsv and .png (gnuplot).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

PODS=${BENCH_PODS:-10000}
NODES=${BENCH_NODES:-1000}
RUNS=${BENCH_RUNS:-3}
ROUNDS=3 # rebalancer rounds to wait for
WAIT_S=600
BIN=${FERRY_BIN:-$top/bin}
CONTROLLERS=${BENCH_CONTROLLERS:-"$(git describe --always --dirty)=$BIN/ferry-controller"}

make -s -j2 "$BIN/kube-lite" "$BIN/ferry-controller" >&2
command -v gnuplot >/dev/null || {
  echo "bench: installing gnuplot-nox" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox >&2
}

work=$(mktemp -d /var/tmp/ferry-ctlmem.XXXXXX)
pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# kube-lite on a free port; sets server.
start_kube_lite() {
  rm -f "$work/kubeconfig"
  "$BIN/kube-lite" --listen 127.0.0.1:0 --kubeconfig-out "$work/kubeconfig" >"$work/kube-lite.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ -s "$work/kubeconfig" ] && break
    sleep 0.1
  done
  [ -s "$work/kubeconfig" ] || { cat "$work/kube-lite.log" >&2; return 1; }
  server=$(sed -n 's/^ *server: *//p' "$work/kubeconfig" | head -1)
  KUBECONFIG=$work/kubeconfig kubectl apply -f crd/ >/dev/null
}

# The objects, timed: sets load_s.
load_objects() {
  local t0
  t0=$(date +%s.%N)
  python3 bench/controller_memory_objects.py "$server" "$1" "$2" 4
  load_s=$(echo "$(date +%s.%N) - $t0" | bc)
}

metric() { # NAME [LABELS]: its value on the controller's /metrics, or 0
  curl -sf "http://127.0.0.1:$mport/metrics" | awk -v n="$1${2:-}" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }'
}

# Runs the controller ($1) until synced and ROUNDS rebalancer rounds (none
# without nodes); sets rss_kib, hwm_kib, sync_s.
measure() {
  local ctl=$1 want_rounds=$2 t0 pid
  : >"$work/controller.log"
  t0=$(date +%s.%N)
  "$ctl" --kubeconfig "$work/kubeconfig" --no-leader-elect --metrics-listen 127.0.0.1:0 \
    --rebalance-interval 2 --runtime-class ferry >"$work/controller.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  mport=
  for _ in $(seq 100); do
    mport=$(sed -n 's/.*metrics on http.*(port \([0-9]*\)).*/\1/p' "$work/controller.log" | head -1)
    [ -n "$mport" ] && break
    sleep 0.1
  done
  [ -n "$mport" ] || { cat "$work/controller.log" >&2; return 1; }
  sync_s=
  for _ in $(seq $((WAIT_S * 5))); do
    if [ -z "$sync_s" ] && [ "$(metric ferry_controller_caches_synced)" = 1 ]; then
      sync_s=$(echo "$(date +%s.%N) - $t0" | bc)
    fi
    [ -n "$sync_s" ] && [ "$(metric ferry_rebalancer_rounds_total '{result="planned"}' | cut -d. -f1)" -ge "$want_rounds" ] && break
    kill -0 "$pid" || { cat "$work/controller.log" >&2; return 1; }
    sleep 0.2
  done
  [ -n "$sync_s" ] || { echo "bench: the controller never synced" >&2; return 1; }
  [ "$(metric ferry_rebalancer_rounds_total '{result="planned"}' | cut -d. -f1)" -ge "$want_rounds" ] ||
    { echo "bench: fewer than $want_rounds rebalancer rounds in ${WAIT_S}s" >&2; return 1; }
  rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
  hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
}

bench_results controller-memory
tsv=$out.tsv
echo -e "controller\trun\tpods\tnodes\trss_kib\thwm_kib\tsync_s\tload_s" >"$tsv"
for spec in $CONTROLLERS; do
  label=${spec%%=*}
  ctl=${spec#*=}
  for run in baseline $(seq "$RUNS"); do
    pods=$PODS nodes=$NODES
    [ "$run" = baseline ] && pods=0 nodes=0
    start_kube_lite
    load_objects "$nodes" "$pods"
    measure "$ctl" "$([ "$nodes" -gt 0 ] && echo "$ROUNDS" || echo 0)"
    echo -e "$label\t$run\t$pods\t$nodes\t$rss_kib\t$hwm_kib\t$sync_s\t$load_s" | tee -a "$tsv" >&2
    stop_all
  done
done

# The table: per controller, the median of its runs; per object beyond the baseline.
{
  bench_header "ferry-controller's memory with $PODS pods and $NODES nodes cached" \
    "json-c $(pkg-config --modversion json-c), glibc $(ldd --version | head -1 | awk '{print $NF}')."
  echo
  echo "A fresh kube-lite per run (bin/kube-lite, no --data), Ferry's CRDs, $NODES Nodes (labels, capacity,"
  echo "allocatable, four conditions, addresses, node info, 10 images), $NODES agent Leases, a dry-run"
  echo "MigrationPolicy with load sharing on, and $PODS Deployment-made Pods (labels, a ReplicaSet owner, one"
  echo "container with resources, two probes, five env entries and two volume mounts, a projected"
  echo "service-account volume, a Running status with five conditions and a container status), POSTed in"
  echo "parallel (bench/controller_memory_objects.py). Then ferry-controller (--no-leader-elect,"
  echo "--rebalance-interval 2) until /metrics shows its caches synced and $ROUNDS planned rebalancer rounds;"
  echo "then VmRSS and VmHWM from /proc/PID/status. The baseline is the same against an empty kube-lite."
  echo "Per object: (RSS - baseline RSS) / (pods + nodes + leases)."
  echo
  echo "| controller | run | VmRSS MiB | VmHWM MiB | per object (bytes) | synced after (s) | load (s) |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
  awk -F'\t' 'NR > 1 {
      if ($2 == "baseline") base[$1] = $5
      per = ($3 + $4 > 0 && $1 in base) ? sprintf("%.0f", ($5 - base[$1]) * 1024 / ($3 + 2 * $4)) : ""
      printf "| %s | %s | %.1f | %.1f | %s | %.1f | %.1f |\n", $1, $2, $5 / 1024, $6 / 1024, per, $7, $8
    }' "$tsv"
} | tee "$out.md"

gnuplot <<EOF
set terminal pngcairo size 900,500
set output "$out.png"
set title "ferry-controller memory, $PODS pods and $NODES nodes cached (${stamp})"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "MiB"
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set key top left
set datafile separator "\t"
set xtics rotate by -20
plot "$tsv" every ::1 using (\$5/1024):xtic(sprintf("%s %s", stringcolumn(1), stringcolumn(2))) title "VmRSS", \
     "" every ::1 using (\$6/1024) title "VmHWM", 100 with lines lw 2 title "goal: 100 MiB"
EOF
echo "bench: written to $out.md, $out.tsv, $out.png" >&2
