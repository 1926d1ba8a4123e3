#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Faults: whatever breaks, the workload ends running exactly once.
bats_require_minimum_version 1.5.0

load helpers

teardown() { nodes_teardown umount "$NODES_DIR/small"; }

# Makes a good image of a running container on A (A keeps running).
good_image() { # ID IMAGE
  start_on_a "$1" workload --mem 8
  nodes_wait_count "$A_ROOTFS" 2
  agent a checkpoint --leave-running --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image "$2" "$1" >/dev/null 2>&1
}

@test "an altered, truncated, extra or missing file in the image is refused; nothing runs on B" {
  good_image v1 img-good
  [ "$(state_of a v1)" = running ]
  for case in altered truncated extra missing; do
    cp -a "$NODES_STORE/img-good" "$NODES_STORE/img-$case"
  done
  pages=criu/pages-1.img
  printf 'X' | dd of="$NODES_STORE/img-altered/$pages" bs=1 seek=4096 conv=notrunc status=none
  truncate -s -1 "$NODES_STORE/img-truncated/$pages"
  echo extra > "$NODES_STORE/img-extra/criu/extra.img"
  rm "$NODES_STORE/img-missing/criu/core-1.img"
  declare -A expect=(
    [altered]="criu/pages-1.img was altered"
    [truncated]="criu/pages-1.img has"
    [extra]="criu/extra.img is not in the manifest"
    [missing]="criu/core-1.img is missing"
  )
  for case in altered truncated extra missing; do
    bundle_on_b "v1-$case"
    run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image "img-$case" \
      --bundle "$B_BUNDLE" --id "v1-$case" --netns "/var/run/netns/$NODES_NS_B"
    assert_failure 1
    assert_output --partial "restore refused"
    assert_output --partial "${expect[$case]}"
    [ "$(containers_on b)" -eq 0 ]
    run agent a inspect --store "dir://$NODES_STORE" --image "img-$case"
    assert_failure 1
    assert_output --partial "verified:    NO"
  done
  # the untouched image still restores, and the source ran all along
  [ "$(state_of a v1)" = running ]
  bundle_on_b v1-good
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image img-good --bundle "$B_BUNDLE" \
    --id v1-good --netns "/var/run/netns/$NODES_NS_B"
  assert_success
}

# kill_criu_dumping_pages [SIG]: starts a checkpoint of container big on A in the
# background (its pid in $ckpt, its output in $BATS_TEST_TMPDIR/out); once CRIU
# copies memory, sends SIG (if given) to the container's workload process, then kills CRIU.
kill_criu_dumping_pages() {
  local log="$NODES_DIR/a/work/img-big/dump/dump.log" i dumping=
  agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-big big \
    >"$BATS_TEST_TMPDIR/out" 2>&1 &
  ckpt=$!
  for ((i = 0; i < 2000; i++)); do
    if pgrep -f 'criu: dump' >/dev/null && grep -qs 'Dumping pages' "$log"; then
      dumping=1
      break
    fi
    sleep 0.005
  done
  [ -n "$dumping" ] || fail "CRIU never reached the memory dump"
  [ -z "${1:-}" ] || kill "-$1" "$(pgrep -x workload)"
  pkill -KILL -f 'criu: dump'
}

@test "CRIU killed in the middle of the dump: the container runs on, reachable, and no image is left" {
  start_on_a big sh -c 'workload --mem 512 & exec httpd -f -p 8080 -h /www'
  nodes_wait_count "$A_ROOTFS" 2 600
  kill_criu_dumping_pages
  rc=0
  wait "$ckpt" || rc=$?
  cat "$BATS_TEST_TMPDIR/out"
  [ "$rc" -eq 1 ] || fail "checkpoint exited $rc, expected 1 (the dump was killed, the container untouched)"
  grep -q "the container still runs on the source" "$BATS_TEST_TMPDIR/out"
  [ "$(state_of a big)" = running ]
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$now" 600
  run verify_mem "$A_ROOTFS"
  assert_output --regexp '^ok [0-9]+ 512$'
  # CRIU had locked the container's network; Ferry took the lock off
  run from_client "$NODES_ADDR_A" index.html
  assert_success
  assert_output "ferry demo page"
  run ls -A "$NODES_STORE"
  assert_output ""
}

@test "CRIU killed mid-dump as a process of the container dies: the failure names it, the container runs on" {
  start_on_a big sh -c 'workload --mem 512 & exec httpd -f -p 8080 -h /www'
  nodes_wait_count "$A_ROOTFS" 2 600
  kill_criu_dumping_pages KILL
  rc=0
  wait "$ckpt" || rc=$?
  cat "$BATS_TEST_TMPDIR/out"
  [ "$rc" -eq 1 ] || fail "checkpoint exited $rc, expected 1 (the dump failed, the container runs)"
  grep -q "the container still runs on the source, but 1 of its 2 processes ended during the dump: pid [0-9]* (workload)" \
    "$BATS_TEST_TMPDIR/out"
  [ "$(state_of a big)" = running ]
  run from_client "$NODES_ADDR_A" index.html
  assert_success
}

@test "CRIU killed mid-dump leaves a process stopped: the agent continues it and it counts on" {
  start_on_a big sh -c 'workload --mem 512 & exec httpd -f -p 8080 -h /www'
  nodes_wait_count "$A_ROOTFS" 2 600
  kill_criu_dumping_pages STOP
  rc=0
  wait "$ckpt" || rc=$?
  cat "$BATS_TEST_TMPDIR/out"
  [ "$rc" -eq 1 ] || fail "checkpoint exited $rc, expected 1 (the dump failed, the container runs)"
  grep -q "pid [0-9]* (workload) was left stopped by the failed dump; continued it" "$BATS_TEST_TMPDIR/out"
  grep -q "the container still runs on the source (processes the dump left stopped were continued)" "$BATS_TEST_TMPDIR/out"
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" $((now + 2)) 600
  run verify_mem "$A_ROOTFS"
  assert_output --regexp '^ok [0-9]+ 512$'
}

@test "a store that fills up: the checkpoint fails, the container runs on, the store stays empty" {
  mkdir -p "$NODES_DIR/small"
  mount -t tmpfs -o size=24m tmpfs "$NODES_DIR/small"
  start_on_a full workload --mem 64
  nodes_wait_count "$A_ROOTFS" 2
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_DIR/small" --image img-full full
  [ "$status" -eq 1 ] || [ "$status" -eq 3 ] || fail "exit $status, expected 1 or 3"
  assert_output --partial "No space left on device"
  [ "$(state_of a full)" = running ]
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$now"
  run verify_mem "$A_ROOTFS"
  assert_output --regexp '^ok [0-9]+ 64$'
  run ls -A "$NODES_DIR/small"
  assert_output ""
}

@test "a restore that fails on B is rolled back to A: one copy, running, reachable" {
  start_on_a rb sh -c 'workload --mem 64 & exec httpd -f -p 8080 -h /www'
  nodes_wait_count "$A_ROOTFS" 3
  before=$(count_in "$A_ROOTFS")
  bundle_on_b rb
  rm "$B_BUNDLE/rootfs/bin/workload" # B's image lacks the program: CRIU cannot restore there
  run agent a migrate $(migrate_args rb img-rb)
  assert_failure 3
  assert_output --partial "restore failed, nothing runs on the target"
  assert_output --partial "rolled back"
  [ "$(containers_on b)" -eq 0 ]
  [ "$(state_of a rb)" = running ]
  # exactly one live copy (a failed restore can leave zombies for init to reap: dead, not running)
  [ "$(live workload)" -eq 1 ]
  [ "$(live httpd)" -eq 1 ]
  nodes_wait_count "$A_ROOTFS" "$before"
  run verify_mem "$A_ROOTFS"
  assert_output --regexp '^ok [0-9]+ 64$'
  run from_client "$NODES_ADDR_A" index.html
  assert_success
  # the image stays, verified, for another try
  run agent a inspect --store "dir://$NODES_STORE" --image img-rb
  assert_success
}

@test "a held source (B restores under its own id) is resumed when B's restore fails: the same process, counting on" {
  start_on_a hr sh -c 'workload --mem 64 & exec httpd -f -p 8080 -h /www'
  nodes_wait_count "$A_ROOTFS" 3
  pid=$(pid_of a hr)
  before=$(count_in "$A_ROOTFS")
  bundle_on_b hr-b
  rm "$B_BUNDLE/rootfs/bin/workload" # CRIU cannot restore on B
  run agent a migrate $(migrate_args hr img-hr) --id hr-b
  assert_failure 3
  assert_output --partial "restore failed, nothing runs on the target"
  assert_output --partial "rolled back: container hr runs again on the source from where it was frozen"
  [ "$(containers_on b)" -eq 0 ]
  [ "$(state_of a hr)" = running ]
  # resumed, not restored: the very same process
  [ "$(pid_of a hr)" = "$pid" ]
  [ "$(live workload)" -eq 1 ]
  nodes_wait_count "$A_ROOTFS" "$before"
  run verify_mem "$A_ROOTFS"
  assert_output --regexp '^ok [0-9]+ 64$'
  run from_client "$NODES_ADDR_A" index.html
  assert_success
}

@test "checkpoint --hold: the container stays paused and whole (the answer says held); resumed, the same process counts on; not with postCopy" {
  start_on_a ch workload --mem 16
  nodes_wait_count "$A_ROOTFS" 3
  pid=$(pid_of a ch)
  run --separate-stderr agent a --json checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-ch --hold ch
  assert_success
  [ "$(field "$output" 'r["held"]')" = True ]
  [ "$(state_of a ch)" = paused ]
  before=$(count_in "$A_ROOTFS")
  runc --root "$(nodes_root a)" resume ch
  [ "$(pid_of a ch)" = "$pid" ]
  nodes_wait_count "$A_ROOTFS" "$before"
  run verify_mem "$A_ROOTFS"
  assert_output --regexp '^ok [0-9]+ 16$'
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-ch2 --hold --strategy postCopy ch
  assert_failure 2
  assert_output --partial "--hold is for a whole image that moves: not with --strategy postCopy"
  [ "$(state_of a ch)" = running ]
}

# ck_killed_after_dump ID IMAGE: the checkpoint of ID killed (with its runc) once
# CRIU's log says the dump finished; a 512 MiB file in its root filesystem keeps
# the step busy after the dump. Its temporary image is left, unpublished.
ck_killed_after_dump() {
  dd if=/dev/zero of="$A_ROOTFS/big" bs=1M count=512 status=none
  setsid "$AGENT" --work-dir "$(nodes_work a)" checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" \
    --image "$2" "$1" >/dev/null 2>&1 3>&- &
  local ck=$!
  wait_for 600 grep -q "Dumping finished successfully" "$(nodes_work a)/$2/dump/dump.log"
  kill -KILL -- "-$ck"
  wait "$ck" || true
  ls -d "$NODES_STORE/.$2.tmp-"*
  [ ! -e "$NODES_STORE/$2" ]
}

@test "a checkpoint killed after CRIU's dump: --finish publishes the image from the dump (the container gone from runc: from its bundle); it restores on B, counting on" {
  start_on_a fin workload --mem 64
  nodes_wait_count "$A_ROOTFS" 3
  bundle=$(runc --root "$(nodes_root a)" state fin | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"])')
  frozen=$(count_in "$A_ROOTFS")
  ck_killed_after_dump fin img-fin
  runc --root "$(nodes_root a)" delete -f fin 2>/dev/null || true # as runc does after a dump
  run --separate-stderr agent a --json checkpoint --finish --root "$(nodes_root a)" --store "dir://$NODES_STORE" \
    --image img-fin fin
  assert_failure 4 # runc removed it: the bundle is needed
  run --separate-stderr agent a --json checkpoint --finish --bundle "$bundle" --root "$(nodes_root a)" \
    --store "dir://$NODES_STORE" --image img-fin fin
  assert_success
  [ "$(field "$output" 'r["outcome"]')" = checkpointed ]
  [ -z "$(ls -d "$NODES_STORE/.img-fin.tmp-"* 2>/dev/null)" ]
  run agent a inspect --store "dir://$NODES_STORE" --image img-fin
  assert_output --partial "verified:    yes"
  # a second answer for the same image: the published one, verified
  run --separate-stderr agent a --json checkpoint --finish --bundle "$bundle" --root "$(nodes_root a)" \
    --store "dir://$NODES_STORE" --image img-fin fin
  assert_success
  [ "$(field "$output" 'r["outcome"]')" = checkpointed ]
  bundle_on_b fin keep
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image img-fin --bundle "$B_BUNDLE" \
    --id fin-moved
  assert_success
  [ "$(state_of b fin-moved)" = running ]
  nodes_wait_count "$B_BUNDLE/rootfs" "$frozen"
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 64$'
  [ "$(stat -c %s "$B_BUNDLE/rootfs/big")" = $((512 << 20)) ]
}

@test "checkpoint --finish without a finished dump: nothing is published (exit 4); on a running container: refused (exit 1)" {
  start_on_a nf workload --mem 8
  nodes_wait_count "$A_ROOTFS" 3
  run agent a checkpoint --finish --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-nf nf
  assert_failure 1
  assert_output --partial "container nf is running: no dump stopped it"
  [ "$(state_of a nf)" = running ]
  run agent a checkpoint --finish --bundle /nonexistent --root "$(nodes_root a)" --store "dir://$NODES_STORE" \
    --image img-none gone
  assert_failure 4
  assert_output --partial "no complete dump to finish"
  [ -z "$(ls -A "$NODES_STORE")" ]
  run agent a checkpoint --finish --hold --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-nf nf
  assert_failure 2
}

@test "a container holding a device CRIU cannot dump open (/dev/fuse): refused before the freeze, it runs on" {
  [ -c /dev/fuse ] || skip "no /dev/fuse on this machine"
  bundle=$(nodes_bundle a dev1 sh -c 'exec 3</dev/fuse; exec workload --mem 8')
  python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
lx = c.setdefault("linux", {})
lx.setdefault("devices", []).append({"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 0, "gid": 0})
lx.setdefault("resources", {}).setdefault("devices", []).append({"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"})
json.dump(c, open(p, "w"))
PY
  agent a run --root "$(nodes_root a)" --bundle "$bundle" dev1 >/dev/null
  nodes_wait_count "$bundle/rootfs" 3
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-dev1 dev1
  assert_failure 1
  assert_output --regexp "container dev1 cannot be checkpointed: process [0-9]+ \(workload\) has /dev/fuse open \(character device 10:229\), which CRIU cannot dump"
  [ "$(state_of a dev1)" = running ]
  [ -z "$(ls -A "$NODES_STORE")" ]
  before=$(count_in "$bundle/rootfs")
  nodes_wait_count "$bundle/rootfs" "$before"
}

# edit_config CONFIG PY: edits a bundle's config.json with Python statements over c.
edit_config() {
  python3 - "$1" "$2" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
exec(sys.argv[2])
json.dump(c, open(p, "w"))
PY
}

@test "a container with a mount CRIU cannot dump (ramfs): refused before the freeze, it runs on" {
  bundle=$(nodes_bundle a mnt1 workload --mem 8)
  edit_config "$bundle/config.json" 'c["mounts"].append({"destination": "/scratch", "type": "ramfs", "source": "ramfs", "options": []})'
  agent a run --root "$(nodes_root a)" --bundle "$bundle" mnt1 >/dev/null
  nodes_wait_count "$bundle/rootfs" 3
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-mnt1 mnt1
  assert_failure 1
  assert_output --partial "container mnt1 cannot be checkpointed: it runs with a ramfs mount at /scratch that CRIU cannot checkpoint"
  [ "$(state_of a mnt1)" = running ]
  [ ! -e "$NODES_DIR/a/work/img-mnt1/dump/dump.log" ] # CRIU never ran
  [ -z "$(ls -A "$NODES_STORE")" ]
  before=$(count_in "$bundle/rootfs")
  nodes_wait_count "$bundle/rootfs" "$before"
}

@test "a container whose mqueue mount holds a queue: refused before the freeze; once it is gone, checkpointed" {
  start_on_a mq1 sh -c 'touch /dev/mqueue/jobs; exec workload --mem 8'
  nodes_wait_count "$A_ROOTFS" 3
  run agent a checkpoint --leave-running --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-mq1 mq1
  assert_failure 1
  assert_output --partial "container mq1 cannot be checkpointed: its mqueue mount at /dev/mqueue is not empty"
  [ "$(state_of a mq1)" = running ]
  [ -z "$(ls -A "$NODES_STORE")" ]
  before=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$before"
  runc --root "$(nodes_root a)" exec mq1 rm /dev/mqueue/jobs
  run agent a checkpoint --leave-running --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-mq1 mq1
  assert_success
}

@test "a container in a user namespace that does not own its network namespace: refused before the freeze, it runs on" {
  bundle=$(nodes_bundle a uns1 workload --mem 8)
  # the node's network namespace, joined by path, belongs to the node's user namespace
  edit_config "$bundle/config.json" '
lx = c["linux"]
lx["namespaces"].append({"type": "user"})
lx["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
lx["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
for m in c["mounts"]:
    if m["type"] == "sysfs":  # sysfs cannot be mounted from a user namespace that does not own the netns
        m.update({"type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
c["mounts"] = [m for m in c["mounts"] if m["type"] != "cgroup"]'
  # the container's root (uid 100000 outside) walks to its rootfs: bats's directories are 0700
  d=$bundle
  while [ "$d" != / ]; do
    chmod o+x "$d"
    d=$(dirname "$d")
  done
  agent a run --root "$(nodes_root a)" --bundle "$bundle" uns1 >/dev/null
  nodes_wait_count "$bundle/rootfs" 3
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-uns1 uns1
  assert_failure 1
  assert_output --partial "container uns1 cannot be checkpointed: it runs in a user namespace of its own that does not own its network namespace"
  [ "$(state_of a uns1)" = running ]
  [ -z "$(ls -A "$NODES_STORE")" ]
  before=$(count_in "$bundle/rootfs")
  nodes_wait_count "$bundle/rootfs" "$before"
}
