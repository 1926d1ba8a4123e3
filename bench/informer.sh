#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Informer benchmark: watch events per second one informer applies, and the
# memory it holds for N pods (see bench/informer_bench.c). Runs three times.
#   bench/informer.sh                  10000 pods, 100000 events
#   BENCH_PODS=1000 BENCH_EVENTS=20000 bench/informer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
make -s build/bench/informer-bench
pods=${BENCH_PODS:-10000}
events=${BENCH_EVENTS:-100000}
bench_results informer
{
  bench_header "Informer: events per second and memory" \
    "json-c $(pkg-config --modversion json-c), libcurl $(pkg-config --modversion libcurl)."
  echo "A synthetic API server in the same process (libmicrohttpd on 127.0.0.1) serves a list of $pods"
  echo "pods (about 1 KB of JSON each) and then a watch stream of $events MODIFIED events as fast as the"
  echo "socket takes them; server and informer share the 2 cores. RSS after malloc_trim. Three runs."
  echo
  for i in 1 2 3; do
    if [ "$i" = 1 ]; then build/bench/informer-bench "$pods" "$events"; else build/bench/informer-bench "$pods" "$events" | tail -1; fi
  done
} | tee "$out.md"
echo "bench: written to $out.md" >&2
