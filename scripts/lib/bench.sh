# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# What the benchmarks (bench/*.sh) share: where a run's results go and the
# machine it ran on, for the first lines of a results file.
#
#   bench_results NAME       sets stamp (UTC, to the minute) and out (bench/results/NAME-STAMP, no extension)
#   bench_machine            "CPU model, N cores"
#   bench_header TITLE MORE...   "# TITLE (STAMP)", a blank line, "Machine: CPU model, N cores, kernel K; MORE..."
# shellcheck disable=SC2034 # the variables are for the scripts that source this

bench_results() {
  stamp=$(date -u +%Y-%m-%dT%H%MZ)
  out=bench/results/$1-$stamp
}

bench_machine() { echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"; }

bench_header() {
  local title=$1
  shift
  echo "# $title ($stamp)"
  echo
  echo "Machine: $(bench_machine), kernel $(uname -r); $*"
}
