#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
bats_require_minimum_version 1.5.0
# Post-copy (CRIU lazy pages) and the strategy choice, with real runc and CRIU.
# Both "nodes" share this machine's cgroups, so the restored container gets its
# own ID (--id): the source stays frozen in its cgroup until its last page left.

load helpers

# a test that failed half-way may leave CRIU or the relay behind
teardown() { nodes_teardown pkill -f 'lazy-pages --images-dir'; }

postcopy_args() { # ID IMAGE EXTRA...
  local id=$1 img=$2
  shift 2
  echo --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image "$img" --to-root "$(nodes_root b)" \
    --to-bundle "$B_BUNDLE" --to-netns "/var/run/netns/$NODES_NS_B" --id "$id-b" --strategy postCopy "$@" "$id"
}

# migrate_slowly ID: a post-copy of ID over a slow link (8 MiB/s) in the
# background (its pid in MIGRATION, its answer in the test's out and err files);
# returns once the target runs and is still fetching memory.
migrate_slowly() {
  agent a --json migrate $(postcopy_args "$1" "img-$1" --bandwidth 8Mi) >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
  MIGRATION=$!
  local i
  for ((i = 0; i < 400; i++)); do
    [ "$(state_of b "$1-b")" = running ] && return 0
    sleep 0.05
  done
  return 1
}

# postcopy_killed ID PATTERN: a 128 MiB workload ID on A moved by migrate_slowly
# (8 MiB/s: 16 s for the memory, so the transfer is surely under way when it
# dies), the process matching PATTERN killed; sets MIGRATION_RC to the
# migration's exit status and shows its answer.
postcopy_killed() {
  start_on_a "$1" workload --mem 128
  nodes_wait_count "$A_ROOTFS" 3
  bundle_on_b "$1-b"
  migrate_slowly "$1"
  pkill -KILL -f "$2"
  MIGRATION_RC=0
  wait "$MIGRATION" || MIGRATION_RC=$?
  cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
}

@test "check: says which strategies this node can run and why not" {
  run --separate-stderr agent a --json check
  assert_success
  [ "$(field "$output" 'r["strategies"]["stopAndCopy"]')" = ok ]
  [ "$(field "$output" 'r["strategies"]["postCopy"]')" = ok ]
  if criu_tracks_dirty_memory; then
    [ "$(field "$output" 'r["strategies"]["preCopy"]')" = ok ]
  else
    [[ "$(field "$output" 'r["strategies"]["preCopy"]')" == *"soft-dirty"*"run as stopAndCopy"* ]]
  fi
}

@test "check: CRIU's kernel feature cache is made for this boot, a stale one and CRIU's leftover temporary file removed" {
  # a cache from before this boot and the empty temporary file CRIU leaves on a /run that is no tmpfs
  printf 'stale' >/run/criu.kdat
  touch -d '@1' /run/criu.kdat
  : >/run/criu.kdat.tmp
  touch -d '-1 hour' /run/criu.kdat.tmp
  run --separate-stderr agent a --json check
  assert_success
  made=$(field "$output" 'r["criuKernelCache"]')
  [[ "$made" == seeded || "$made" == "written by CRIU" ]]
  [ ! -e /run/criu.kdat.tmp ]
  [ "$(stat -c %s /run/criu.kdat)" -gt 100 ]
  # CRIU reads it: no probing of the kernel in a dump or a restore
  "${FERRY_CRIU:-/opt/ferry/criu/bin/criu}" check --feature mnt_id -v4 -o "$BATS_TEST_TMPDIR/criu.log" >/dev/null
  grep -q 'Loaded kdat cache from /run/criu.kdat' "$BATS_TEST_TMPDIR/criu.log"
  run --separate-stderr agent a --json check
  [ "$(field "$output" 'r["criuKernelCache"]')" = cached ]
}

@test "postCopy: 64 MiB move with a small image; the memory follows and checks out, the source is released" {
  start_on_a pc1 workload --mem 64
  nodes_wait_count "$A_ROOTFS" 5
  before=$(count_in "$A_ROOTFS")
  bundle_on_b pc1-b
  run --separate-stderr agent a --json migrate $(postcopy_args pc1 img-pc1) --log "$NODES_DIR/b/work/pc1.log"
  assert_success
  [ "$(field "$output" 'r["outcome"], r["strategy"]')" = "migrated postCopy" ]
  # the image written while frozen is small; the 64 MiB came through the page server afterwards
  [ "$(field "$output" 'r["bytesMoved"]["duringFreeze"] < 4<<20')" = True ]
  [ "$(field "$output" 'r["bytesMoved"]["afterRestore"] >= 64<<20')" = True ]
  [ "$(field "$output" 'r["timings"]["downtimeMs"] > 0 and r["timings"]["pagesMs"] > 0')" = True ]
  [ "$(containers_on a)" -eq 0 ]
  [ "$(state_of b pc1-b)" = running ]
  after=$(count_in "$B_BUNDLE/rootfs")
  [ "$after" -ge "$before" ]
  nodes_wait_count "$B_BUNDLE/rootfs" "$after"
  run cat "$NODES_DIR/b/work/pc1.log"
  refute_output --partial "ready"
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 64$'
  # the manifest says so, and such an image cannot be restored on its own
  run agent a inspect --store "dir://$NODES_STORE" --image img-pc1
  assert_output --regexp 'strategy: +postCopy'
  bundle_on_b pc1-again
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image img-pc1 --bundle "$B_BUNDLE" \
    --id pc1-again
  assert_failure 1
  assert_output --partial "holds no memory (post-copy"
}

@test "postCopy: the page transfer killed half-way: the target is removed, the source runs on from the freeze" {
  postcopy_killed pc2 'lazy-pages --images-dir'
  [ "$MIGRATION_RC" -eq 3 ]
  run cat "$BATS_TEST_TMPDIR/out"
  [ "$(field "$output" 'r["outcome"]')" = rolled-back ]
  assert_output --partial "criu lazy-pages failed"
  assert_output --partial "runs again on the source"
  [ "$(containers_on b)" -eq 0 ]
  [ "$(state_of a pc2)" = running ]
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$now"
  run verify_mem "$A_ROOTFS"
  assert_output --regexp '^ok [0-9]+ 128$'
}

@test "postCopy: the source's page server killed half-way: the target is removed, the source is thawed" {
  postcopy_killed pc3 'criu: dump'
  [ "$MIGRATION_RC" -eq 3 ]
  [ "$(containers_on b)" -eq 0 ]
  [ "$(state_of a pc3)" = running ]
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$now"
  run verify_mem "$A_ROOTFS"
  assert_output --regexp '^ok [0-9]+ 128$'
}

@test "postCopy source: a step stopped before any page went rolls back: exit 3, the container runs, nothing holds it" {
  start_on_a pcstop workload --mem 16
  nodes_wait_count "$A_ROOTFS" 3
  agent a --json checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-pcstop \
    --strategy postCopy --page-server 127.0.0.1:0 --ready-file "$BATS_TEST_TMPDIR/ready" pcstop \
    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
  step=$!
  wait_for 200 test -s "$BATS_TEST_TMPDIR/ready" # frozen, serving, no target yet
  grep -q serving "$BATS_TEST_TMPDIR/ready"
  # the step itself, as the daemon stops it (not the shell around it, not its relay)
  kill -TERM "$(pgrep -o -f -- "--ready-file $BATS_TEST_TMPDIR/ready")"
  rc=0
  wait "$step" || rc=$?
  cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
  [ "$rc" -eq 3 ]
  run cat "$BATS_TEST_TMPDIR/out"
  [ "$(field "$output" 'r["outcome"]')" = rolled-back ]
  [ "$(state_of a pcstop)" = running ]
  # no CRIU holds it: no thread traced or stopped (a dump that never ended
  # leaves them in tracing stop with the cgroup thawed)
  init=$(pid_of a pcstop)
  for t in /proc/"$init"/task/*; do
    grep -qE '^TracerPid:[[:space:]]+0$' "$t/status"
    ! grep -qE '^State:[[:space:]]+[tT]' "$t/status"
  done
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$now"
}

@test "postCopy: a restore that fails on B leaves the container running on A" {
  start_on_a pc4 workload --mem 16
  nodes_wait_count "$A_ROOTFS" 3
  B_BUNDLE=$NODES_DIR/b/bundles/nothing-here
  run --separate-stderr agent a --json migrate $(postcopy_args pc4 img-pc4)
  [ "$status" -eq 3 ]
  [ "$(field "$output" 'r["outcome"]')" = rolled-back ]
  [ "$(state_of a pc4)" = running ]
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$now"
}

@test "postCopy is refused, untouched, where CRIU's page server cannot work (fs.pipe-max-size)" {
  local was
  was=$(cat /proc/sys/fs/pipe-max-size)
  start_on_a pc5 workload --mem 8
  nodes_wait_count "$A_ROOTFS" 2
  bundle_on_b pc5-b
  echo 1048576 > /proc/sys/fs/pipe-max-size
  run agent a migrate $(postcopy_args pc5 img-pc5)
  echo "$was" > /proc/sys/fs/pipe-max-size
  assert_failure 1
  assert_output --partial "fs.pipe-max-size is 1048576"
  [ "$(state_of a pc5)" = running ]
  [ ! -e "$NODES_STORE/img-pc5" ]
}

@test "preCopy without soft-dirty tracking: says so and moves the container by stopAndCopy" {
  if criu_tracks_dirty_memory; then
    skip "this kernel tracks dirty memory"
  fi
  start_on_a pre1 workload --mem 16
  nodes_wait_count "$A_ROOTFS" 3
  bundle_on_b pre1
  run --separate-stderr agent a --json migrate $(migrate_args pre1 img-pre1) --strategy preCopy
  assert_success
  [ "$(field "$output" 'r["strategy"]')" = stopAndCopy ]
  [[ "$(field "$output" 'r["strategyNote"]')" == *"soft-dirty"* ]]
  [ "$(field "$output" 'r["bytesMoved"]["duringFreeze"] >= 16<<20')" = True ]
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 16$'
}

@test "strategy and bandwidth options are checked" {
  run agent a migrate --strategy fast x
  assert_failure 2
  assert_output --partial "--strategy is stopAndCopy, preCopy or postCopy, not fast"
  run agent a migrate --bandwidth lots x
  assert_failure 2
  assert_output --partial "bandwidth lots"
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image x --strategy postCopy \
    --leave-running x
  assert_failure 2
  assert_output --partial "--leave-running does not apply"
  run agent b pages --store "dir://$NODES_STORE" --image x
  assert_failure 2
  assert_output --partial "--lazy-dir is required"
}
