#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Nodes without shared storage: each agent has its own store and the image goes
# straight from the source's agent to the target's (a receive and a send step,
# a one-time token), verified before the target publishes it.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  cluster_up
  local n
  for n in a b; do
    mkdir -p "$NODES_DIR/$n/images"
    agent_kill "$n"
    agent_start "$n" --store "dir://$NODES_DIR/$n/images"
  done
}

@test "a pod moves between nodes with their own stores: the image is sent straight to B" {
  counting_pod local
  annotate_move local node-b
  wait_phase "$pm" Succeeded
  image=$(k get pm "$pm" -o jsonpath='{.status.image}')
  [[ "$image" == "dir://$NODES_DIR/b/images/"* ]]
  name=${image##*/}
  [ -f "$NODES_DIR/a/images/$name/manifest.sha256" ] && [ -f "$NODES_DIR/b/images/$name/manifest.sha256" ]
  run k get events --field-selector involvedObject.name="$pm" -o jsonpath='{.items[*].reason}'
  assert_output --partial Transferred
  assert_output --partial Sent
  [ "$(k get pm "$pm" -o jsonpath='{.status.timings.transfer}')" -gt 0 ]
  dst=$(target_ip "$pm")
  after=$(http "$dst" /count)
  [ -n "$after" ] && [ "$after" -ge "$before" ]
}
