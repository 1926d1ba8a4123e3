#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The rebalancer's decision core on simulated clusters (no API, no nodes):
# rounds to converge, moves against a lower bound, time per decision round,
# moves that undid an earlier one. See bench/rebalance/main.c and sim.c.
#
#   bench/rebalance/run.sh                    the scenarios below
#   BENCH_SEEDS="42 7" bench/rebalance/run.sh the 1,000-node cluster with these seeds
#
# Results: bench/results/rebalance-STAMP.md (Markdown), .tsv (one line per
# round) and .png (gnuplot: nodes above high and time per round).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
make -s build/bench/rebalance-bench
bin=build/bench/rebalance-bench
seeds=${BENCH_SEEDS:-42 7 1234}

# The plot needs gnuplot (Debian's gnuplot-nox, as bench/run.sh installs it).
if ! command -v gnuplot >/dev/null; then
  echo "bench: installing gnuplot-nox" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox >&2
fi

bench_results rebalance
tsv=$out.tsv
printf 'scenario\tround\tmoves\tover\twall_ms\tcpu_ms\tsources\ttargets\n' >"$tsv"
load=$(cut -d' ' -f1-3 /proc/loadavg)
{
  bench_header "Rebalancer: decision rounds on a simulated cluster" \
    "json-c $(pkg-config --modversion json-c); load average before the run $load (the machine is shared)."
  cat <<'EOF'

The decision core (`controller/rebalance/`, `rb_round`) on a simulated cluster, no API: nodes of 8, 16 or 32
cores (4 GiB each; one in twenty with 4 `nvidia.com/gpu` and `accelerator=nvidia`), a third of them given four
times the pods. Each pod's CPU demand is drawn from a Pareto distribution (alpha 1.5, seeded), its memory
log-uniform 32 MiB..2 GiB, its requests half of that; one pod in ten is not migratable. A node reports its
demand capped at its cores (a saturated node's pods are measured squeezed, as their cgroups would be). A round
every 30 simulated seconds; the planned moves are done before the next report. Policy: high 85% CPU / 90%
memory, low 60% / 70%, hysteresis 5%, window 2 observations, cooldowns 600 s per pod and 120 s per node,
at most 1,000 moves a round and 4 per node, cost 1 + 2 per GiB + 10 per recent move (1 h), affinity margin 5.
The run stops after a pod cooldown and a move history with no move.

Columns: *settled*: the round after which the count of nodes above high no longer changed; *last move*: the
round of the last move; *lower bound*: the fewest migratable pods whose demand must leave the nodes above
high to bring each to 80%, largest first (ignoring where they could go); *LB / bound*: load-balance moves
made against it; *round ms*: wall time of `rb_round` (index, observation, load, locality, plan), median / p99
/ max over every round of the run, then the thread's CPU time median / p99; *undone*: moves of a pod to a node
it had left before (oscillation); *JSON ms*: turning the Nodes and Pods into structs once (`json.c`, the
wiring's share, not in the round).

| scenario | nodes | pods | settled (simulated) | last move | moves | lower bound | LB / bound | GiB moved | round ms wall med / p99 / max | CPU ms med / p99 | undone | nodes above high | locality | JSON ms |
| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |
EOF
  for seed in $seeds; do
    "$bin" --nodes 1000 --pods 30000 --seed "$seed" --label "1000n-seed$seed" --tsv "$tsv"
  done
  "$bin" --nodes 100 --pods 3000 --label 100n --tsv "$tsv"
  "$bin" --nodes 1000 --pods 30000 --pairs 1000 --gpu-pods 300 --label 1000n-pairs-gpu --tsv "$tsv"
  "$bin" --nodes 1000 --pods 30000 --noise 0.1 --label 1000n-noise --tsv "$tsv"
  cat <<'EOF'

Scenarios: *1000n-seedN*: 1,000 nodes and 30,000 pods, load only, with that seed; *100n*: 100 nodes and 3,000
pods (seed 42); *1000n-pairs-gpu*: the same 1,000 nodes with 1,000 pairs of pods that prefer each other's node
(weight 50, `kubernetes.io/hostname`) placed apart, and 300 pods that prefer `accelerator=nvidia` nodes (weight
60, a hardware label); *1000n-noise*: each pod's demand redrawn within +-10% every round.
EOF
  echo
  echo "Per round: $(basename "$tsv"); plot: ![rounds]($(basename "$out").png)"
} | tee "$out.md"

first=$(echo "$seeds" | cut -d' ' -f1)
gnuplot <<EOF
set terminal pngcairo size 1200,500 font ",10"
set output "$out.png"
set datafile separator "\t"
set key top right
set termoption noenhanced
set multiplot layout 1,2 title "Rebalancer on simulated clusters ($(bench_machine))"
set title "nodes above high (CPU demand) after each round"
set xlabel "round (30 s)"
set xrange [1:60]
set ylabel "nodes"
plot for [s in "1000n-seed$first 100n 1000n-pairs-gpu 1000n-noise"] \
  "$tsv" using 2:(strcol(1) eq s ? \$4 : 1/0) with lines title s
set title "time per decision round (wall)"
set ylabel "ms"
set yrange [0:110]
plot for [s in "1000n-seed$first 100n 1000n-pairs-gpu 1000n-noise"] \
  "$tsv" using 2:(strcol(1) eq s ? \$5 : 1/0) with points pt 7 ps 0.5 title s, 100 with lines dt 2 title "goal"
unset multiplot
EOF
echo "bench: written to $out.md, $out.tsv, $out.png" >&2
