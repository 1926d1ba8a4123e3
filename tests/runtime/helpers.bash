# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the runtime tests: ferry-runc against real runc and CRIU on the two
# nodes of scripts/lib/nodes.sh, made in setup_file; each test has its own
# ferry-runc state and admission directories and runtime log (LOG).
# These are the hooks of a test file unless it defines its own.
load ../lib/common

# shellcheck source=scripts/lib/nodes.sh
source "$FERRY_TOP/scripts/lib/nodes.sh"

setup_file() {
  export NODES_TAG="r$$" NODES_NET=10.231.6
  nodes_setup "$BATS_FILE_TMPDIR/nodes"
  nodes_export
}
teardown_file() { nodes_cleanup; }
setup() {
  export FERRY_RUNC_STATE=$BATS_TEST_TMPDIR/state FERRY_ADMISSION_DIR=$BATS_TEST_TMPDIR/admitted
  # shellcheck disable=SC2034 # used by the tests
  LOG=$BATS_TEST_TMPDIR/runc.log
}
