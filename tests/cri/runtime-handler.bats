#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# deploy/containerd/add-ferry-runtime.sh (with the fragments next to it) on the
# configurations a node has: none, Debian's shipped one for 1.6
# (debian-containerd-1.6.toml, a copy of bookworm's /etc/containerd/config.toml)
# and 2.x's `containerd config default`. Each case runs the script twice (the
# second run must not change a byte), then once more with this machine's own
# settings (--set: the busybox sandbox image, paths under the test's directory),
# starts that containerd version with the result and runs a host-network pod
# sandbox with the runtime handler "ferry": its containers must have been made
# by ferry-runc (a wrapper given as --ferry-runc logs its arguments, then execs
# $FERRY_BIN/ferry-runc) under the given runc root, with the pod's ferry.dev/*
# annotations in their OCI config. Each containerd is stopped with its shims at
# the end of its test (and in teardown_file).
load helpers

ADD_FERRY=$FERRY_TOP/deploy/containerd/add-ferry-runtime.sh
DEBIAN_CONFIG=$BATS_TEST_DIRNAME/debian-containerd-1.6.toml

setup_file() {
  cri_image_tar "$BATS_FILE_TMPDIR"
}

teardown_file() {
  containerd_stop_all
}

POD=(--pod-name ferried --pod-uid 5d1e0c3a-handler-test --pod-namespace default --attempt 0 --host-network
     --pod-annotation ferry.dev/test=yes --handler ferry)

# ferry_wrapper DIR: DIR/ferry-runc logs its arguments to DIR/ferry-runc.argv and
# becomes the ferry-runc under test.
ferry_wrapper() {
  printf '#!/bin/sh\necho "$*" >>%s/ferry-runc.argv\nexec %s/ferry-runc "$@"\n' "$1" "$FERRY_BIN" >"$1/ferry-runc"
  chmod +x "$1/ferry-runc"
}

# add_ferry BINDIR DIR: the script on DIR/config.toml, as a node's setup runs it.
add_ferry() {
  "$ADD_FERRY" --config "$2/config.toml" --containerd "$1/containerd" --ferry-runc "$2/ferry-runc" \
    --runc-root "$2/ferry-root" --systemd-cgroup false --restrict-oom-score-adj "${@:3}"
}

# local_settings DIR: --set options for what differs on this machine (no registry:
# the imported busybox is the sandbox image; the opt plugin, CNI and, for 2.x,
# NRI kept off the host's paths).
local_settings() {
  if grep -q '^version = 3' "$1/config.toml"; then
    printf -- "--set\nplugins.'io.containerd.cri.v1.images'.pinned_images.sandbox = '%s'\n" "$CRI_IMAGE"
    printf -- "--set\nplugins.'io.containerd.cri.v1.runtime'.cni.conf_dir = '%s/cni'\n" "$1"
    printf -- "--set\nplugins.'io.containerd.nri.v1.nri'.disable = true\n"
  else
    printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.sandbox_image = '%s'\n" "$CRI_IMAGE"
    printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.cni.conf_dir = '%s/cni'\n" "$1"
  fi
  printf -- "--set\nplugins.'io.containerd.internal.v1.opt'.path = '%s/opt'\n" "$1"
}

# configure BINDIR DIR VERSION: the script twice (same bytes the second time),
# the config is of VERSION, then this machine's settings.
configure() {
  local bindir=$1 d=$2 sets
  ferry_wrapper "$d"
  run add_ferry "$bindir" "$d"
  assert_success
  assert_output --partial 'the ferry runtime added'
  cp "$d/config.toml" "$d/first.toml"
  run add_ferry "$bindir" "$d"
  assert_success
  assert_output --partial 'the ferry runtime is there already; nothing changed'
  cmp "$d/first.toml" "$d/config.toml"
  grep -qx "version = $3" "$d/config.toml"
  mapfile -t sets < <(local_settings "$d")
  add_ferry "$bindir" "$d" "${sets[@]}"
}

# ferry_pod BINDIR DIR: containerd with DIR/config.toml; its CRI plugin loaded; a
# pod of the handler ferry runs a container made by ferry-runc.
ferry_pod() {
  local d=$2 sid cid
  containerd_run "$1" "$d"
  run "${CTR[@]}" plugins ls
  assert_success
  assert_output --regexp 'io\.containerd\.grpc\.v1 +cri +[^ ]+ +ok'
  run cri run-sandbox "${POD[@]}" --log-dir "$d/logs"
  assert_success
  sid=$(json_field id <<<"$output")
  run cri create-container "$sid" --name app --image "$CRI_IMAGE" "${POD[@]}" --log-dir "$d/logs" -- /bin/sleep 600
  assert_success
  cid=$(json_field id <<<"$output")
  run cri start-container "$cid"
  assert_success
  run cri container-status "$cid"
  assert_output --partial '"state":"CONTAINER_RUNNING"'
  run grep -E -- "--root $d/ferry-root/k8s.io .*create .*$cid\$" "$d/ferry-runc.argv"
  assert_success
  grep -q -- " create .*$sid\$" "$d/ferry-runc.argv"
  [ -d "$d/ferry-root/k8s.io/$cid" ]
  run cat "$d/state/io.containerd.runtime.v2.task/k8s.io/$cid/config.json"
  assert_output --partial '"ferry.dev/test":"yes"'
  run cri exec-sync "$cid" --exec-timeout 10 -- /bin/echo inside
  assert_equal "$(json_field stdout <<<"$output")" "inside"
  run cri stop-container "$cid" --stop-timeout 1
  assert_success
  run cri remove-container "$cid"
  assert_success
  run cri stop-sandbox "$sid"
  assert_success
  run cri remove-sandbox "$sid"
  assert_success
  grep -q -- " delete .*$cid\$" "$d/ferry-runc.argv"
  containerd_stop "$d"
}

# handler_case BINDIR DIR VERSION [START-CONFIG]
handler_case() {
  mkdir -p "$2"
  [ -z "${4:-}" ] || cp "$4" "$2/config.toml"
  configure "$1" "$2" "$3"
  ferry_pod "$1" "$2"
}

@test "add-ferry-runtime: containerd 1.6, no config: a version 2 config; a pod of the handler ferry runs" {
  handler_case /usr/bin "$BATS_FILE_TMPDIR/h16-none" 2
  grep -q 'runtimes.runc]' "$BATS_FILE_TMPDIR/h16-none/config.toml"
}

@test "add-ferry-runtime: containerd 1.6, Debian's shipped config: kept, the handler added, a pod runs" {
  local d=$BATS_FILE_TMPDIR/h16-debian
  handler_case /usr/bin "$d" 2 "$DEBIAN_CONFIG"
  grep -qF 'bin_dir = "/usr/lib/cni"' "$d/config.toml"
}

@test "add-ferry-runtime: containerd 1.7, Debian's shipped config: a pod of the handler ferry runs" {
  [ -x "$CONTAINERD17_BIN/containerd" ] || skip "no containerd 1.7 in $CONTAINERD17_BIN (make deps)"
  handler_case "$CONTAINERD17_BIN" "$BATS_FILE_TMPDIR/h17-debian" 2 "$DEBIAN_CONFIG"
}

@test "add-ferry-runtime: containerd 2.x, no config: a version 3 config; a pod of the handler ferry runs" {
  [ -x "$CONTAINERD2_BIN/containerd" ] || skip "no containerd 2.x in $CONTAINERD2_BIN (make deps)"
  handler_case "$CONTAINERD2_BIN" "$BATS_FILE_TMPDIR/h2-none" 3
}

@test "add-ferry-runtime: containerd 2.x, its default config: only the settings change, a pod runs" {
  [ -x "$CONTAINERD2_BIN/containerd" ] || skip "no containerd 2.x in $CONTAINERD2_BIN (make deps)"
  local d=$BATS_FILE_TMPDIR/h2-default
  mkdir -p "$d"
  "$CONTAINERD2_BIN/containerd" config default >"$d/default.toml"
  handler_case "$CONTAINERD2_BIN" "$d" 3 "$d/default.toml"
  # Every line of the default is still there but the values set.
  run diff "$d/default.toml" "$d/config.toml"
  refute_output --regexp '^< .*(runc|cgroup|grpc|address|snapshotter)'
}

@test "add-ferry-runtime: containerd 2.x keeping a 1.x node's version 2 config (Debian's): a pod runs" {
  [ -x "$CONTAINERD2_BIN/containerd" ] || skip "no containerd 2.x in $CONTAINERD2_BIN (make deps)"
  handler_case "$CONTAINERD2_BIN" "$BATS_FILE_TMPDIR/h2-debian" 2 "$DEBIAN_CONFIG"
}

# The script alone (no containerd).

@test "add-ferry-runtime: the cgroup driver follows runc's; a version 1 config and an inline table are refused untouched" {
  local d=$BATS_TEST_TMPDIR
  printf 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n' >"$d/systemd.toml"
  run "$ADD_FERRY" --config "$d/systemd.toml"
  assert_success
  run /usr/bin/python3 -c "import tomllib; c = tomllib.load(open('$d/systemd.toml', 'rb')); r = c['plugins']['io.containerd.grpc.v1.cri']['containerd']['runtimes']; print(r['ferry']['options'], 'runc' in r)"
  assert_output "{'BinaryName': '/usr/local/bin/ferry-runc', 'Root': '/run/containerd/runc', 'SystemdCgroup': True} True"

  printf '[plugins.cri]\n  sandbox_image = "x"\n' >"$d/v1.toml"
  cp "$d/v1.toml" "$d/v1.orig"
  run "$ADD_FERRY" --config "$d/v1.toml"
  assert_failure
  assert_output --partial 'a version 1 config; migrate it first'
  cmp "$d/v1.toml" "$d/v1.orig"

  printf 'version = 3\n[plugins]\n  "io.containerd.cri.v1.runtime" = { containerd = { runtimes = { runc = { runtime_type = "io.containerd.runc.v2" } } } }\n' >"$d/inline.toml"
  cp "$d/inline.toml" "$d/inline.orig"
  run "$ADD_FERRY" --config "$d/inline.toml"
  assert_failure
  assert_output --partial 'cannot add the settings safely to this layout; nothing written'
  assert_output --partial 'BinaryName = "/usr/local/bin/ferry-runc"'
  cmp "$d/inline.toml" "$d/inline.orig"
}
