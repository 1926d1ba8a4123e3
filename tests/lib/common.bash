# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# What every bats suite shares (tests/node, tests/runtime, tests/kube,
# tests/cluster: each suite's helpers.bash loads this first): bats-support and
# bats-assert, where the binaries under test are, waiting for a condition, and
# what a test asks of the machine.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

# FERRY_TOP: the checkout. FERRY_BIN: the binaries under test, bin/ unless the
# caller names others (tests/run names build-asan/bin for the ASan/UBSan pass).
# FERRY_BUILD: the plain build's tree (test tools such as build/tests/tools/kubeclient).
FERRY_TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export FERRY_BIN=${FERRY_BIN:-$FERRY_TOP/bin}
# shellcheck disable=SC2034 # used by the suites
FERRY_BUILD=$FERRY_TOP/build

# test_failed: in teardown, whether the test that just ran failed.
test_failed() { [ -z "${BATS_TEST_COMPLETED:-}" ]; }

# wait_for TRIES CMD...: every 0.1 s until CMD succeeds; fails after TRIES tries.
# (An eval'd CMD sees wait_for's positional parameters: a caller's $1 must be in a local.)
wait_for() {
  local tries=$1 i
  shift
  for ((i = 0; i < tries; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# no_sanitizer_reports LOG...: fails, showing them, on the reports an ASan/UBSan
# build's daemons wrote to their logs.
no_sanitizer_reports() {
  if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$@" 2>/dev/null; then
    grep -h -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$@" | head -80
    return 1
  fi
}

# criu_tracks_dirty_memory: whether CRIU here can track dirty memory (soft-dirty
# bits, what preCopy needs); the tests of the fallback skip where it can.
criu_tracks_dirty_memory() { "${FERRY_CRIU:-/opt/ferry/criu/bin/criu}" check --feature mem_dirty_track >/dev/null 2>&1; }
