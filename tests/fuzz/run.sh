#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer harness of DIR (make fuzz builds them into build-fuzz/fuzz)
# for FUZZ_SECONDS (default 60) each, FUZZ_JOBS (default 1) at a time, from a copy
# of its corpus, tests/fuzz/corpus/NAME: new inputs never go into the tree. Prints
# TAP, one test a harness: "ok N - fuzz NAME: E executions, cov C, no crash", or
# "not ok" with the input that crashed (kept in FUZZ_ARTIFACTS, default
# /tmp/ferry-fuzz-artifacts) and the sanitizer's report.
#
#   tests/fuzz/run.sh build-fuzz/fuzz [NAME...]
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
bins=${1:?usage: tests/fuzz/run.sh DIR [NAME...]}
shift
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
artifacts=${FUZZ_ARTIFACTS:-/tmp/ferry-fuzz-artifacts}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do
    f=${f#tests/fuzz/fuzz_}
    names+=("${f%.c}")
  done
fi
# The corpus copies, the logs and the harnesses' own directories (FERRY_FUZZ_TMP,
# tests/fuzz/fuzz.h): in memory, and gone afterwards even when a harness crashed.
work=$(mktemp -d /dev/shm/ferry-fuzz-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
export FERRY_FUZZ_TMP="$work"
mkdir -p "$artifacts"

# fuzz_one NAME: runs the harness into $work/NAME.log, its exit status into $work/NAME.rc.
fuzz_one() {
  local name=$1 corpus="$work/corpus-$1"
  mkdir -p "$corpus"
  cp -r "tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null
  # -rss_limit_mb: ASan's shadow counts; -timeout: one input that long is a hang.
  "$bins/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "$corpus" >"$work/$name.log" 2>&1
  echo $? >"$work/$name.rc"
}

# report N NAME: its TAP line (and, after a crash, the report as TAP comments).
report() {
  local n=$1 name=$2 log="$work/$2.log" rc execs cov
  rc=$(cat "$work/$name.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
    echo "ok $n - fuzz $name: ${execs} executions, cov ${cov:-0}, no crash"
    return
  fi
  local input
  input=$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')
  echo "not ok $n - fuzz $name: exit $rc after ${execs:-?} executions, input ${input:-none}"
  grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x|deadly|timeout|leak' "$log" | head -40 | sed 's/^/# /'
}

echo "1..${#names[@]}"
running=0
for name in "${names[@]}"; do
  if [ ! -x "$bins/$name" ]; then
    echo "missing harness $bins/$name (make fuzz builds them)" >"$work/$name.log"
    echo 127 >"$work/$name.rc"
    continue
  fi
  fuzz_one "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait
failed=0
n=0
for name in "${names[@]}"; do
  n=$((n + 1))
  report "$n" "$name" | tee "$work/line"
  grep -q '^not ok' "$work/line" && failed=$((failed + 1))
done
[ "$failed" -eq 0 ]
