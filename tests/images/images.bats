#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The images `make images` built (make images-test; not part of tests/run): the
# binaries run in them, the agent image carries runc and CRIU 4.2 where
# FERRY_CRIU says, its host bundle installs from the image and runs on this host
# and on a Debian without Ferry's libraries, and the OCI archives import into a
# containerd under the names a pod spec gives. Needs root, podman and the images
# of this VERSION (the Makefile's git describe).
load ../lib/common
# shellcheck source=scripts/lib/podman.sh
source "$FERRY_TOP/scripts/lib/podman.sh"
# containerd_stop
# shellcheck source=scripts/lib/containerd.sh
source "$FERRY_TOP/scripts/lib/containerd.sh"

VERSION=$(cd "$FERRY_TOP" && ferry_image_version)
CONTROLLER=ferry/controller:$VERSION
AGENT=ferry/agent:$VERSION

prun() { "${PODMAN[@]}" run "${PODMAN_RUN_OPTS[@]}" "$@"; }

# The host bundle, installed once from the agent image into a directory of this
# host by the image's own install-host.sh (what the node setup does with a hostPath).
setup_file() {
  local img
  for img in "$CONTROLLER" "$AGENT"; do
    "${PODMAN[@]}" image exists "$img" || { echo "no image $img: run make images first" >&2; return 1; }
  done
  BUNDLE=$BATS_FILE_TMPDIR/host
  mkdir -p "$BUNDLE"
  prun -v "$BUNDLE:/dest" --entrypoint /opt/ferry/host/install-host.sh "$AGENT" /dest >"$BATS_FILE_TMPDIR/install.log" 2>&1 ||
    { cat "$BATS_FILE_TMPDIR/install.log" >&2; return 1; }
  export BUNDLE
}

teardown_file() {
  containerd_stop "$BATS_FILE_TMPDIR/containerd"
}

@test "controller image: ferry-controller --version prints the image's version" {
  run prun "$CONTROLLER" --version
  assert_success
  assert_output --partial "$VERSION"
}

@test "controller image: runs as the non-root user 65532, every library found" {
  run "${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$CONTROLLER"
  assert_output "65532:65532"
  run prun --entrypoint sh "$CONTROLLER" -c 'id -u; ldd /usr/local/bin/ferry-controller'
  assert_success
  assert_line --index 0 65532
  refute_output --partial "not found"
}

@test "agent image: ferry-agent --version prints the image's version" {
  run prun "$AGENT" --version
  assert_success
  assert_output "ferry-agent $VERSION"
}

@test "agent image: ferry-agent check passes in a privileged container (as the DaemonSet runs it)" {
  run prun --privileged "$AGENT" check
  assert_success
  assert_line --regexp '^criuPath +/opt/ferry/criu/bin/criu$'
  assert_line --regexp '^criuVersion +4\.[2-9]'
  assert_line --regexp '^runcVersion +1\.'
  assert_line --regexp '^migrationsPossible +true$'
}

@test "agent image: ferry-runc, runc, iptables and CRIU 4.2 at FERRY_CRIU, every library found" {
  # shellcheck disable=SC2016 # the container's shell expands these
  run prun --entrypoint sh "$AGENT" -c \
    'echo "FERRY_CRIU=$FERRY_CRIU"; for t in ferry-runc runc iptables-restore; do command -v "$t"; done; "$FERRY_CRIU" --version;
     ldd /usr/local/bin/ferry-agent /usr/local/bin/ferry-runc'
  assert_success
  assert_line "FERRY_CRIU=/opt/ferry/criu/bin/criu"
  assert_line /usr/local/bin/ferry-runc
  assert_line --regexp '^/usr/s?bin/runc$'
  assert_line --regexp '^/usr/s?bin/iptables-restore$'
  assert_line --regexp '^Version: 4\.[2-9]'
  refute_output --partial "not found"
}

@test "host bundle: criu and ferry-runc run on this host from a temporary directory, /opt/ferry hidden" {
  # A private mount namespace with an empty /opt/ferry: nothing of this machine's
  # own CRIU (scripts/install-deps.sh) can stand in for the bundle's.
  # shellcheck disable=SC2016 # the inner shell expands these
  run unshare -m sh -ec '
    if [ -d /opt/ferry ]; then mount -t tmpfs none /opt/ferry; fi
    "$1/bin/criu" --version
    "$1/criu/bin/criu" check
    FERRY_RUNC_BINARY=/usr/bin/env "$1/bin/ferry-runc"
    "$1/bin/ferry-runc" --version' sh "$BUNDLE"
  assert_success
  assert_line --regexp '^Version: 4\.[2-9]'
  assert_line "Looks good."
  assert_line "FERRY_CRIU=$BUNDLE/bin/criu"
  assert_line --regexp '^runc version '
}

@test "host bundle: runs on a Debian that has none of Ferry's libraries" {
  run prun -v "$BUNDLE:/host:ro" --entrypoint sh debian:bookworm-slim -c '
    test ! -e /usr/lib/x86_64-linux-gnu/libjson-c.so.5 && test ! -e /usr/lib/x86_64-linux-gnu/libcurl.so.4 && echo bare
    /host/bin/criu --version
    FERRY_RUNC_BINARY=/bin/echo /host/bin/ferry-runc checked'
  assert_success
  assert_line bare
  assert_line --regexp '^Version: 4\.[2-9]'
  assert_line checked
}

@test "OCI archives: a containerd imports them as docker.io/ferry/NAME:VERSION" {
  local d=$BATS_FILE_TMPDIR/containerd name
  mkdir -p "$d/root" "$d/state"
  printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' >"$d/config.toml"
  containerd --config "$d/config.toml" --root "$d/root" --state "$d/state" \
    --address "$d/containerd.sock" >"$d/containerd.log" 2>&1 &
  echo $! >"$d/containerd.pid"
  dirname "$(command -v containerd)" >"$d/bindir"
  local ctr=(ctr --address "$d/containerd.sock" -n k8s.io)
  wait_for 100 "${ctr[@]}" version >/dev/null 2>&1 || { tail -20 "$d/containerd.log"; false; }
  for name in controller agent; do
    run "${ctr[@]}" images import "$FERRY_TOP/build/images/ferry-$name-$VERSION.oci.tar"
    assert_success
  done
  run "${ctr[@]}" images ls -q
  assert_line "docker.io/ferry/controller:$VERSION"
  assert_line "docker.io/ferry/agent:$VERSION"
}
