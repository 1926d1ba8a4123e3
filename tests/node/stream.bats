#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
bats_require_minimum_version 1.5.0
# Direct transfer: the image goes from the source's own store to the target's own
# store over TCP (no shared storage), verified before it is published there.

load helpers

setup() {
  nodes_reset
  rm -rf "$NODES_DIR"/{a,b}/images
  mkdir -p "$NODES_DIR"/{a,b}/images
}

direct_args() { # ID IMAGE
  echo --root "$(nodes_root a)" --store "dir://$NODES_DIR/a/images" --to-store "dir://$NODES_DIR/b/images" \
    --image "$2" --to-root "$(nodes_root b)" --to-bundle "$B_BUNDLE" --to-netns "/var/run/netns/$NODES_NS_B" "$1"
}

@test "migrate between two node-local stores: the image is streamed, verified on B, restored there" {
  start_on_a d1 workload --mem 32
  nodes_wait_count "$A_ROOTFS" 3
  bundle_on_b d1
  run --separate-stderr agent a --json migrate $(direct_args d1 img-d1) --bandwidth 64Mi
  assert_success
  [ "$(field "$output" 'r["outcome"]')" = migrated ]
  [ "$(field "$output" 'r["timings"]["transferMs"] > 0')" = True ]
  [ "$(field "$output" 'r["bytesMoved"]["duringFreeze"] >= 32<<20')" = True ]
  # the image is in both stores, verified in B's
  run agent b inspect --store "dir://$NODES_DIR/b/images" --image img-d1
  assert_success
  assert_output --partial "verified:    yes"
  [ -d "$NODES_DIR/a/images/img-d1" ]
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 32$'
}

@test "a transfer that cannot be published on B (the name is taken there) rolls back to A" {
  start_on_a d2 workload --mem 8
  nodes_wait_count "$A_ROOTFS" 3
  bundle_on_b d2
  mkdir -p "$NODES_DIR/b/images/img-d2"
  run agent a migrate $(direct_args d2 img-d2)
  assert_failure 3
  assert_output --partial "already exists"
  [ "$(state_of a d2)" = running ]
  [ "$(containers_on b)" -eq 0 ]
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$now"
}
