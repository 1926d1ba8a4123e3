#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
bats_require_minimum_version 1.5.0
# Moving running containers between two nodes with real runc and CRIU.

load helpers

teardown() { nodes_teardown pkill -f 'sleep 99999'; }

@test "check: CRIU 4.2, runc, and a passing checkpoint/restore self-test" {
  run agent a check
  assert_success
  assert_output --regexp 'criuVersion +4\.[2-9]'
  assert_output --regexp 'runcVersion +1\.'
  assert_output --regexp 'passed +true'
  run --separate-stderr agent a --json check
  assert_success
  echo "$output" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["selfTest"]["passed"] is True and r["migrationsPossible"] is True, r'
  [ -f "$NODES_DIR/a/check.json" ]
}

@test "migrate: a counting container with 64 MiB moves to B and goes on from its count" {
  start_on_a w1 workload --mem 64
  nodes_wait_count "$A_ROOTFS" 5
  before=$(count_in "$A_ROOTFS")
  bundle_on_b w1
  run --separate-stderr agent a --json migrate $(migrate_args w1 img-w1) --log "$NODES_DIR/b/work/w1.log"
  assert_success
  echo "$output" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["outcome"]=="migrated" and r["timings"]["downtimeMs"]>0 and r["bytes"]>64<<20, r'
  # gone from A, running on B, inside B's network namespace
  [ "$(containers_on a)" -eq 0 ]
  [ "$(state_of b w1)" = running ]
  [ "$(readlink "/proc/$(pid_of b w1)/ns/net")" = "$(ip netns exec "$NODES_NS_B" readlink /proc/self/ns/net)" ]
  # the count goes on from where it was: never back to the start ...
  after=$(count_in "$B_BUNDLE/rootfs")
  [ "$after" -ge "$before" ]
  nodes_wait_count "$B_BUNDLE/rootfs" "$after"
  # ... and the process was not started anew: a fresh start prints "ready"
  run cat "$NODES_DIR/b/work/w1.log"
  refute_output --partial "ready"
  # its memory came along: the 64 MiB pattern checks out
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 64$'
}

@test "migrate to its own container id on B: the source is held paused, not killed, until B runs, then removed" {
  start_on_a h1 workload --mem 64
  nodes_wait_count "$A_ROOTFS" 3
  before=$(count_in "$A_ROOTFS")
  bundle_on_b h1-b
  run agent a --log-level info migrate $(migrate_args h1 img-h1) --id h1-b
  assert_success
  assert_output --partial "the held source container h1 is removed"
  [ "$(containers_on a)" -eq 0 ]
  [ "$(state_of b h1-b)" = running ]
  after=$(count_in "$B_BUNDLE/rootfs")
  [ "$after" -ge "$before" ]
  nodes_wait_count "$B_BUNDLE/rootfs" "$after"
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 64$'
  # the image was published as it is (no fsync needed: the source was held) and verifies
  run agent a inspect --store "dir://$NODES_STORE" --image img-h1
  assert_success
}

@test "migrate: a server answers on node B's address after the move, no longer on A's" {
  start_on_a web sh -c 'workload --mem 8 & exec httpd -f -p 8080 -h /www'
  nodes_wait_count "$A_ROOTFS" 2
  run from_client "$NODES_ADDR_A" index.html
  assert_success
  assert_output "ferry demo page"
  bundle_on_b web
  run agent a migrate $(migrate_args web img-web)
  assert_success
  assert_output --partial "migrated"
  assert_output --regexp 'downtime: +[0-9]+ ms'
  run from_client "$NODES_ADDR_B" index.html
  assert_success
  assert_output "ferry demo page"
  run from_client "$NODES_ADDR_B" count
  assert_success
  [ "$output" -gt 2 ]
  run from_client "$NODES_ADDR_A" index.html
  assert_failure
}

@test "checkpoint, inspect and restore as separate commands, into the node's own config" {
  start_on_a w2 workload --mem 16
  nodes_wait_count "$A_ROOTFS" 3
  chmod 0755 "$NODES_STORE" # a store others may list: the image (the process's memory) is still root's alone
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-w2 w2
  assert_success
  assert_output --partial "checkpointed"
  [ "$(containers_on a)" -eq 0 ]
  [ "$(stat -c %a "$NODES_STORE/img-w2")" = 700 ]
  run agent a inspect --store "dir://$NODES_STORE" --image img-w2
  assert_success
  assert_output --partial "verified:    yes"
  assert_output --partial "criu/pages-1.img"
  assert_output --partial "rootfs-diff.tar"
  assert_output --partial "rootfs diff: overlay"
  frozen=$(count_in "$A_ROOTFS")
  bundle_on_b w2 keep # the runtime on B wrote config.json already (network namespace B)
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image img-w2 \
    --bundle "$B_BUNDLE" --id w2-moved
  assert_success
  assert_output --regexp 'downtime: +[0-9]+ ms'
  [ "$(state_of b w2-moved)" = running ]
  # the file the container wrote came along in the root filesystem diff
  [ "$(count_in "$B_BUNDLE/rootfs")" -ge "$frozen" ]
  nodes_wait_count "$B_BUNDLE/rootfs" "$frozen"
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 16$'
}

@test "checkpoint --leave-running keeps the source and makes a copy that restores" {
  start_on_a w3 workload --mem 8
  nodes_wait_count "$A_ROOTFS" 3
  run agent a checkpoint --leave-running --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-w3 w3
  assert_success
  [ "$(state_of a w3)" = running ]
  bundle_on_b w3
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image img-w3 --bundle "$B_BUNDLE" \
    --netns "/var/run/netns/$NODES_NS_B"
  assert_success
  [ "$(state_of b w3)" = running ]
  [ "$(state_of a w3)" = running ]
}

@test "migrate: a bind-mounted volume on shared storage comes along as an external mount" {
  vol="$NODES_DIR/volume"
  mkdir -p "$vol"
  bundle=$(nodes_bundle a vol workload --mem 8 --dir /data)
  python3 - "$bundle/config.json" "$vol" <<'PY'
import json, sys
path, vol = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["mounts"].append({"destination": "/data", "type": "bind", "source": vol, "options": ["rbind", "rw"]})
json.dump(c, open(path, "w"), indent=2)
PY
  mkdir -p "$bundle/rootfs/data"
  agent a run --root "$(nodes_root a)" --bundle "$bundle" vol >/dev/null
  for ((i = 0; i < 200; i++)); do [ -s "$vol/count" ] && break; sleep 0.05; done
  before=$(cat "$vol/count")
  bundle_on_b vol
  mkdir -p "$B_BUNDLE/rootfs/data"
  run agent a migrate $(migrate_args vol img-vol)
  assert_success
  [ "$(state_of b vol)" = running ]
  # the restored process writes through the same volume
  for ((i = 0; i < 200; i++)); do [ "$(cat "$vol/count")" -gt "$before" ] && break; sleep 0.05; done
  [ "$(cat "$vol/count")" -gt "$before" ]
  grep -q "$vol" "/proc/$(pid_of b vol)/mountinfo"
}

# A container holding an established TCP connection to a server on the client.
tcp_setup() {
  recv="$BATS_TEST_TMPDIR/recv"
  : > "$recv"
  # (busybox nc hangs up when its stdin ends: give it one that does not)
  ip netns exec "$NODES_NS_CLIENT" sh -c 'sleep 99999 | exec busybox nc -l -p 9000' > "$recv" 3>&- &
  for ((i = 0; i < 100; i++)); do
    ip netns exec "$NODES_NS_CLIENT" ss -ltn | grep -q ':9000' && break
    sleep 0.05
  done
  start_on_a tcp sh -c "workload --mem 8 & (until [ -f /tmp/count ]; do sleep 0.05; done; while cat /tmp/count; do sleep 0.1; done) | nc $NODES_ADDR_CLIENT 9000; echo connection closed; exec sleep 100000"
  for ((i = 0; i < 100; i++)); do [ -s "$recv" ] && break; sleep 0.05; done
  [ -s "$recv" ]
  seen=0 # (not "lines": bats' run sets that)
}

# received_more_than N: the server gets new lines (bounded wait).
received_more_than() {
  for ((i = 0; i < 200; i++)); do
    [ "$(wc -l < "$recv")" -gt "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

@test "an established TCP connection: refused without an option, kept with --tcp-established, closed with --tcp-close" {
  tcp_setup
  # without an option CRIU refuses, and says why; the container is untouched
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image tcp-0 tcp
  assert_failure 1
  assert_output --regexp 'TCP|tcp'
  [ "$(state_of a tcp)" = running ]
  seen=$(wc -l < "$recv")
  received_more_than "$seen"
  # the address stays (restore on the same node): the connection survives
  run agent a checkpoint --tcp-established --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image tcp-1 tcp
  assert_success
  seen=$(wc -l < "$recv")
  run agent a restore --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image tcp-1 \
    --bundle "$NODES_DIR/a/bundles/tcp" --log "$BATS_TEST_TMPDIR/a.log"
  assert_success
  received_more_than "$seen"
  # the address changes (another node): the connection is closed, the workload goes on
  bundle_on_b tcp
  run agent a migrate --tcp-close $(migrate_args tcp tcp-2) --log "$BATS_TEST_TMPDIR/b.log"
  assert_success
  [ "$(state_of b tcp)" = running ]
  for ((i = 0; i < 100; i++)); do grep -q "connection closed" "$BATS_TEST_TMPDIR/b.log" && break; sleep 0.05; done
  run cat "$BATS_TEST_TMPDIR/b.log"
  assert_output --partial "connection closed"
  now=$(count_in "$B_BUNDLE/rootfs")
  nodes_wait_count "$B_BUNDLE/rootfs" "$now"
}
