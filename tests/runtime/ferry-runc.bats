#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# ferry-runc called exactly as containerd-shim-runc-v2 calls runc: global --root,
# --log, --log-format json; create --bundle --pid-file; start; state; kill;
# delete --force. A plain container behaves as under runc; a container whose pod
# asks to be restored (and was admitted) comes back from a Ferry image.
bats_require_minimum_version 1.5.0
load helpers

# shim ROOT ARGS...: as the shim calls the runtime: the container's stdio are
# pipes the shim drains (the drains must not hold bats' own output open)
shim() {
  local root=$1
  shift
  "$RUNTIME" --root "$root" --log "$LOG" --log-format json "$@" < <(:) > >(cat >/dev/null 2>&1) 2> >(cat >/dev/null 2>&1)
}

# annotate BUNDLE KEY=VALUE...: annotations in config.json, as the runtime passes the pod's
annotate() {
  python3 - "$@" <<'PY'
import json, sys
path = sys.argv[1] + "/config.json"
c = json.load(open(path))
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    c.setdefault("annotations", {})[k] = v
json.dump(c, open(path, "w"), indent=2)
PY
}

state_of() { runc --root "$1" state "$2" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || echo gone; }

@test "a container that is not migrating: the same answers and states as plain runc" {
  root=$(nodes_root a)
  for rt in runc ferry; do
    RUNTIME=$([ $rt = runc ] && command -v runc || echo "$FERRY_BIN/ferry-runc")
    id=plain-$rt
    bundle=$(nodes_bundle a "$id" workload --mem 4)
    annotate "$bundle" io.kubernetes.cri.container-type=container io.kubernetes.cri.sandbox-name=p
    run shim "$root" create --bundle "$bundle" --pid-file "$BATS_TEST_TMPDIR/$id.pid" "$id"
    echo "$status" >"$BATS_TEST_TMPDIR/$rt.trace"
    state_of "$root" "$id" >>"$BATS_TEST_TMPDIR/$rt.trace"
    [ -s "$BATS_TEST_TMPDIR/$id.pid" ] && echo pidfile >>"$BATS_TEST_TMPDIR/$rt.trace"
    run shim "$root" start "$id"
    echo "$status $(state_of "$root" "$id")" >>"$BATS_TEST_TMPDIR/$rt.trace"
    run shim "$root" kill "$id" KILL
    echo "$status" >>"$BATS_TEST_TMPDIR/$rt.trace"
    for ((i = 0; i < 50; i++)); do [ "$(state_of "$root" "$id")" = stopped ] && break; sleep 0.05; done
    state_of "$root" "$id" >>"$BATS_TEST_TMPDIR/$rt.trace"
    run shim "$root" delete --force "$id"
    echo "$status $(state_of "$root" "$id")" >>"$BATS_TEST_TMPDIR/$rt.trace"
    run shim "$root" state nothing-here
    echo "$status" >>"$BATS_TEST_TMPDIR/$rt.trace"
  done
  run cat "$BATS_TEST_TMPDIR/ferry.trace"
  assert_output "$(cat "$BATS_TEST_TMPDIR/runc.trace")"
  assert_output "0
created
pidfile
0 running
0
stopped
0 gone
1"
}

@test "every command and flag reaches runc unchanged" {
  printf '#!/bin/sh\nprintf "%%s\\n" "$@" >> %s\n' "$BATS_TEST_TMPDIR/args" >"$BATS_TEST_TMPDIR/fake-runc"
  chmod +x "$BATS_TEST_TMPDIR/fake-runc"
  bundle=$BATS_TEST_TMPDIR/b
  mkdir -p "$bundle"
  echo '{"annotations":{"io.kubernetes.cri.container-type":"container"}}' >"$bundle/config.json"
  local -a calls=(
    "--root /r --log /l.json --log-format json --systemd-cgroup create --bundle $bundle --pid-file /p --console-socket /s c1"
    "--root /r --log /l.json --log-format json --systemd-cgroup start c1"
    "--root /r --log /l.json --log-format json --systemd-cgroup state c1"
    "--root /r --log /l.json --log-format json --systemd-cgroup kill --all c1 9"
    "--root /r --log /l.json --log-format json --systemd-cgroup delete --force c1"
    "--root=/r --debug exec --process /proc.json --detach c1"
    "--version"
  )
  for c in "${calls[@]}"; do
    rm -f "$BATS_TEST_TMPDIR/args"
    # shellcheck disable=SC2086 # word splitting is the point
    FERRY_RUNC_BINARY=$BATS_TEST_TMPDIR/fake-runc "$FERRY_BIN/ferry-runc" $c
    run paste -sd' ' "$BATS_TEST_TMPDIR/args"
    assert_output "$c"
  done
}

# A workload checkpointed on A; the runtime's bundle for it on B.
checkpoint_on_a() {
  local id=$1
  bundle=$(nodes_bundle a "$id" workload --mem 8)
  "$FERRY_BIN/ferry-agent" --work-dir "$(nodes_work a)" run --root "$(nodes_root a)" --bundle "$bundle" "$id" >/dev/null 3>&-
  nodes_wait_count "$bundle/rootfs" 3 >/dev/null
  echo "written on A" >"$bundle/rootfs/data/note"
  "$FERRY_BIN/ferry-agent" --work-dir "$(nodes_work a)" checkpoint --root "$(nodes_root a)" \
    --store "dir://$NODES_STORE" --image "img-$id" "$id" >/dev/null 3>&-
  COUNT_AT_DUMP=$(cat "$bundle/rootfs/tmp/count")
  TARGET=$(nodes_bundle b "$id-new" workload --mem 8)
  annotate "$TARGET" io.kubernetes.cri.container-type=container io.kubernetes.cri.sandbox-namespace=default \
    io.kubernetes.cri.sandbox-name=web-new io.kubernetes.cri.container-name=main \
    io.kubernetes.cri.sandbox-uid="$TARGET_UID" ferry.dev/restore-from=default/move-web
}
TARGET_UID=7c4e2a10-bbbb-cccc-dddd-000000000002

admit() { # POD_MIGRATION IMAGE [POD_UID [DIGEST]]
  mkdir -p "$FERRY_ADMISSION_DIR"
  printf '{"podMigration":"%s","store":"dir://%s","image":"%s","podUID":"%s","imageDigest":"%s"}' "$1" "$NODES_STORE" \
    "$2" "${3:-$TARGET_UID}" "${4:-sha256:$(cut -d' ' -f1 "$NODES_STORE/$2/manifest.sha256")}" \
    >"$FERRY_ADMISSION_DIR/default_web-new_main.json"
}

@test "create of an admitted restore: restored into the runtime's bundle, start is a no-op, kill and delete as usual" {
  checkpoint_on_a rs1
  admit default/move-web img-rs1
  RUNTIME=$FERRY_BIN/ferry-runc
  root=$(nodes_root b)
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rs1-new
  assert_success
  [ "$(state_of "$root" rs1-new)" = running ]
  [ "$(cat "$BATS_TEST_TMPDIR/rs.pid")" = "$(runc --root "$root" state rs1-new | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')" ]
  # the same process, counting on from where it was frozen; the file it wrote came along
  nodes_wait_count "$TARGET/rootfs" "$COUNT_AT_DUMP" >/dev/null
  run cat "$TARGET/rootfs/data/note"
  assert_output "written on A"
  grep -q '"level":"info","msg":"ferry-runc: restoring default/web-new container rs1-new' "$LOG"
  # CRIU read ferry-runc's own copy, each file checked as it was written (a change in
  # the store after the check cannot reach CRIU), and the copy is gone once restored
  grep -q "container rs1-new from $FERRY_RUNC_STATE/${root//\//_}/image-rs1-new (default/move-web" "$LOG"
  [ ! -e "$FERRY_RUNC_STATE/${root//\//_}/image-rs1-new" ]
  run shim "$root" start rs1-new
  assert_success
  [ "$(state_of "$root" rs1-new)" = running ]
  run shim "$root" kill rs1-new KILL
  assert_success
  for ((i = 0; i < 50; i++)); do [ "$(state_of "$root" rs1-new)" = stopped ] && break; sleep 0.05; done
  run shim "$root" delete --force rs1-new
  assert_success
  [ "$(state_of "$root" rs1-new)" = gone ]
  # the restore forgotten: its marker and CRIU's work directory (its logs) gone
  [ ! -e "$FERRY_RUNC_STATE/${root//\//_}/rs1-new" ] && [ ! -e "$FERRY_RUNC_STATE/${root//\//_}/work-rs1-new" ]
  # the restore is recorded for the agent, and the admission is used up
  run python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["podMigration"], r["containerID"], r["restoredAtMs"] > 0)' \
    "$FERRY_ADMISSION_DIR/default_web-new_main.restored.json"
  assert_output "default/move-web rs1-new True"
  [ ! -e "$FERRY_ADMISSION_DIR/default_web-new_main.json" ]
  # the kubelet restarting the container: a plain create, it starts fresh
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rs1-new
  assert_success
  [ "$(state_of "$root" rs1-new)" = created ]
  grep -q 'restored by default/move-web before; this create starts it fresh' "$LOG"
  shim "$root" delete --force rs1-new
}

@test "a container checkpointed away is not created again on its source" {
  RUNTIME=$FERRY_BIN/ferry-runc
  root=$(nodes_root a)
  bundle=$(nodes_bundle a dep1 workload --mem 4)
  annotate "$bundle" io.kubernetes.cri.container-type=container io.kubernetes.cri.sandbox-namespace=default \
    io.kubernetes.cri.sandbox-name=web io.kubernetes.cri.container-name=main io.kubernetes.cri.sandbox-uid=0f1e2d3c-aaaa-bbbb-cccc-000000000001
  mkdir -p "$FERRY_ADMISSION_DIR/departed"
  echo -n default/move-web >"$FERRY_ADMISSION_DIR/departed/0f1e2d3c-aaaa-bbbb-cccc-000000000001_main"
  run shim "$root" create --bundle "$bundle" --pid-file "$BATS_TEST_TMPDIR/d.pid" dep1
  assert_failure
  run tail -1 "$LOG"
  assert_output --partial 'container main of pod default/web was checkpointed by PodMigration default/move-web: it is not started again here'
  [ "$(state_of "$root" dep1)" = gone ]
  # rolled back: the record goes, the kubelet may create it again
  rm "$FERRY_ADMISSION_DIR/departed/0f1e2d3c-aaaa-bbbb-cccc-000000000001_main"
  run shim "$root" create --bundle "$bundle" --pid-file "$BATS_TEST_TMPDIR/d.pid" dep1
  assert_success
  shim "$root" delete --force dep1
}

@test "a restore nobody admitted, or admitted for another migration, pod or image, is refused; nothing runs" {
  checkpoint_on_a rs2
  RUNTIME=$FERRY_BIN/ferry-runc
  root=$(nodes_root b)
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rs2-new
  assert_failure
  run tail -1 "$LOG"
  assert_output --regexp '"level":"error","msg":"ferry-runc: pod default/web-new asks to be restored from PodMigration default/move-web, but no migration of its container main to this node was admitted'
  [ "$(state_of "$root" rs2-new)" = gone ]
  admit default/other img-rs2
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rs2-new
  assert_failure
  run tail -1 "$LOG"
  assert_output --partial 'but this node admitted default/other for it; refusing'
  [ "$(state_of "$root" rs2-new)" = gone ]
  # admitted for another pod of that name (deleted and made again by someone else)
  admit default/move-web img-rs2 0badc0de-0000-0000-0000-000000000000
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rs2-new
  assert_failure
  run tail -1 "$LOG"
  assert_output --partial "pod default/web-new (uid $TARGET_UID) asks to be restored from PodMigration default/move-web, but this node admitted the restore for pod uid 0badc0de-0000-0000-0000-000000000000; refusing"
  [ "$(state_of "$root" rs2-new)" = gone ]
  # an image whose manifest is not the one its migration recorded (the store's own sum agreeing)
  admit default/move-web img-rs2 "$TARGET_UID" "sha256:$(printf '%064d' 0)"
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rs2-new
  assert_failure
  run tail -1 "$LOG"
  assert_output --partial "manifest.json is not the image's"
  [ "$(state_of "$root" rs2-new)" = gone ]
  # an altered image is refused before anything is touched
  admit default/move-web img-rs2
  echo x >>"$NODES_STORE/img-rs2/config.json"
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rs2-new
  assert_failure
  run tail -1 "$LOG"
  assert_output --partial 'restore of default/web-new (default/move-web) refused'
  [ "$(state_of "$root" rs2-new)" = gone ]
}

@test "private copies a killed ferry-runc left are removed by the next restore; a held one stays" {
  checkpoint_on_a pc1
  admit default/move-web img-pc1
  RUNTIME=$FERRY_BIN/ferry-runc
  root=$(nodes_root b)
  state=$FERRY_RUNC_STATE/${root//\//_}
  # a copy whose ferry-runc was killed (its lock released with it), a lock
  # file alone, and a copy whose ferry-runc still runs (its lock held)
  mkdir -p "$state/image-killed/criu" "$state/image-busy"
  head -c 1M /dev/zero >"$state/image-killed/criu/pages-1.img"
  : >"$state/image-killed.lock"
  : >"$state/image-gone.lock"
  flock "$state/image-busy.lock" sleep 600 3>&- &
  holder=$!
  while flock -n "$state/image-busy.lock" true; do sleep 0.05; done # until the holder has it
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" pc1-new
  kill "$holder"
  assert_success
  [ ! -e "$state/image-killed" ] && [ ! -e "$state/image-killed.lock" ] && [ ! -e "$state/image-gone.lock" ]
  [ -d "$state/image-busy" ]
  grep -q "removed the private copy $state/image-killed a killed ferry-runc left" "$LOG"
  # its own copy went as it ended, with its lock
  [ ! -e "$state/image-pc1-new" ] && [ ! -e "$state/image-pc1-new.lock" ]
  shim "$root" delete --force pc1-new
}

# criu_held_at ACTION: FERRY_CRIU is CRIU with an action script that, at ACTION of
# a restore, records CRIU's pid and waits until the test releases it
criu_held_at() {
  local at=$BATS_TEST_TMPDIR/criu-hold
  mkdir -p "$at"
  cat >"$at/hold.sh" <<SH
#!/bin/sh
[ "\$CRTOOLS_SCRIPT_ACTION" = "$1" ] || exit 0
touch "$at/held"
while [ ! -e "$at/release" ]; do sleep 0.05; done
SH
  cat >"$at/criu" <<SH
#!/bin/sh
{ [ -n "\$CRIU_CONFIG_FILE" ] && cat "\$CRIU_CONFIG_FILE"; echo "action-script $at/hold.sh"; } >"$at/criu.conf"
echo \$\$ >"$at/criu.pid"
CRIU_CONFIG_FILE=$at/criu.conf exec "${FERRY_CRIU:-/opt/ferry/criu/bin/criu}" "\$@"
SH
  chmod +x "$at/hold.sh" "$at/criu"
  export FERRY_CRIU=$at/criu
}

@test "CRIU killed mid-restore: the create fails; nothing it mounted or started stays; the container can be restored again" {
  checkpoint_on_a rk1
  admit default/move-web img-rk1
  RUNTIME=$FERRY_BIN/ferry-runc
  root=$(nodes_root b)
  work=$FERRY_RUNC_STATE/${root//\//_}/work-rk1-new
  restoring() { pgrep -f 'criu: restore' | sort; }
  before=$(restoring)
  criu_held_at setup-namespaces
  hold=$BATS_TEST_TMPDIR/criu-hold
  shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rk1-new &
  create=$!
  while [ ! -e "$hold/held" ]; do kill -0 "$create" || fail "the restore ended before CRIU reached setup-namespaces"; sleep 0.05; done
  # CRIU is inside the restore: its cgroup yard is mounted in its work directory, its tasks made
  grep -q " $work/.criu.cgyard" /proc/self/mountinfo
  [ "$(restoring)" != "$before" ]
  kill -KILL "$(cat "$hold/criu.pid")"
  touch "$hold/release"
  rc=0
  wait "$create" || rc=$?
  [ "$rc" -ne 0 ]
  grep -q "restore of default/web-new container rk1-new from default/move-web failed" "$LOG"
  # the tasks CRIU had made held its socket, runc waiting on: ferry-runc killed them
  grep -q "CRIU (pid $(cat "$hold/criu.pid")) ended mid-restore; killed the [0-9]* processes it left below runc" "$LOG"
  run grep -c " $work" /proc/self/mountinfo
  assert_output 0
  [ "$(restoring)" = "$before" ]
  [ "$(state_of "$root" rk1-new)" = gone ]
  # admitted again (as the agent does for a retry), the same create restores it
  unset FERRY_CRIU
  admit default/move-web img-rk1
  run shim "$root" create --bundle "$TARGET" --pid-file "$BATS_TEST_TMPDIR/rs.pid" rk1-new
  assert_success
  [ "$(state_of "$root" rk1-new)" = running ]
  nodes_wait_count "$TARGET/rootfs" "$COUNT_AT_DUMP" >/dev/null
  shim "$root" delete --force rk1-new
}
