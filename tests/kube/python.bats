#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# kube-lite through a second client no one here wrote: Debian's python3-kubernetes.
bats_require_minimum_version 1.5.0
load helpers

@test "the Python client lists, creates, selects, patches and watches" {
  # Debian's package is for Debian's python3, not for a python3 earlier in PATH
  run /usr/bin/python3 "$BATS_TEST_DIRNAME/pyclient.py" "$KL_KC_main"
  echo "$output"
  assert_success
  assert_line "namespaces ['default', 'kube-node-lease', 'kube-public', 'kube-system']"
  assert_line "pods ['py1']"
  assert_line "event MODIFIED py1 yes"
  assert_line "event DELETED py1 yes"
}
