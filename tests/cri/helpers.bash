# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the CRI tests: a real containerd of its own per test file (its own
# socket, root, state, runc root and config under the file's temp dir; nothing
# global but the shim sockets containerd names after its own address), a busybox
# image imported from an OCI layout made here (no registry is reachable) that is
# also the sandbox image, and the cri-client tool (tests/tools/cri-client.c).
load ../lib/common
# containerd_image_tar, containerd_stop
# shellcheck source=scripts/lib/containerd.sh
source "$FERRY_TOP/scripts/lib/containerd.sh"

CRI_IMAGE=registry.invalid/ferry/busybox:cri-test
# containerd 1.7 and 2.x where install-deps unpacks them (1.6 is bookworm's /usr/bin).
# shellcheck disable=SC2034 # used by the .bats files
CONTAINERD17_BIN=${FERRY_CONTAINERD17_BIN:-/opt/ferry/containerd-1.7/usr/bin}
# shellcheck disable=SC2034
CONTAINERD2_BIN=${FERRY_CONTAINERD2_BIN:-/opt/ferry/containerd-2/usr/bin}
# The client under test: the build FERRY_BIN belongs to (build-asan for build-asan/bin).
CRI_CLIENT=$FERRY_BUILD/tests/tools/cri-client
if [ "$FERRY_BIN" = "$FERRY_TOP/build-asan/bin" ]; then
  CRI_CLIENT=$FERRY_TOP/build-asan/tests/tools/cri-client
fi

# cri_image_tar DIR: an OCI layout tar (DIR/image.tar) of one uncompressed layer,
# a root filesystem of the static busybox, named $CRI_IMAGE; its default command
# sleeps for ever (it is the sandbox image too).
cri_image_tar() {
  local d=$1 root=$1/rootfs a
  mkdir -p "$root/bin" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  for a in sh sleep echo cat ls true false id hostname; do ln -s busybox "$root/bin/$a"; done
  containerd_image_tar "$root" "$CRI_IMAGE" "$d/image.tar"
}

# containerd_config VERSION DIR: a config of containerd's format VERSION (2 for
# 1.6 and 1.7, 3 for 2.x): host paths under DIR, runc (cgroupfs: no systemd here)
# with its own root, the busybox image as the sandbox image, CNI from an empty
# directory (the tests' sandboxes use the host's network), the CRI's oom_score_adj
# kept within this process's reach (no CAP_SYS_RESOURCE here).
containerd_config() {
  local d=$2
  if [ "$1" = 3 ]; then
    cat <<EOF3
version = 3
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[plugins.'io.containerd.internal.v1.opt']
  path = '$d/opt'
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '$CRI_IMAGE'
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = '$d/runc'
[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dir = '/usr/lib/cni'
  conf_dir = '$d/cni'
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
EOF3
    return
  fi
  cat <<EOF2
version = 2
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$CRI_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "$d/runc"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$d/cni"
EOF2
}

# containerd_start BINDIR CONFIG-VERSION DIR: containerd_run with the config of
# containerd_config.
containerd_start() {
  mkdir -p "$3"
  containerd_config "$2" "$3" >"$3/config.toml"
  containerd_run "$1" "$3"
}

# containerd_run BINDIR DIR: containerd from BINDIR (its shim first on PATH) with
# DIR/config.toml on DIR/containerd.sock; waits for the CRI to answer, imports the
# busybox image. Sets CRI_ENDPOINT, CONTAINERD_PID, CTR.
containerd_run() {
  local bindir=$1 d=$2
  mkdir -p "$d/root" "$d/state" "$d/cni" "$d/opt" "$d/runc" "$d/logs"
  [ ! -e "$d/containerd.sock" ] || { echo "$d/containerd.sock is there already: another containerd?"; return 1; }
  export PATH="$bindir:$PATH"
  "$bindir/containerd" --config "$d/config.toml" --root "$d/root" --state "$d/state" \
    --address "$d/containerd.sock" >"$d/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  echo "$CONTAINERD_PID" >"$d/containerd.pid"
  echo "$bindir" >"$d/bindir"
  export CRI_ENDPOINT="unix://$d/containerd.sock" CONTAINERD_PID
  CTR=("$bindir/ctr" --address "$d/containerd.sock" -n k8s.io)
  wait_for 200 "$CRI_CLIENT" --timeout-ms 2000 version >/dev/null 2>&1 ||
    { tail -30 "$d/containerd.log"; return 1; }
  [ -f "$d/../image.tar" ] || cri_image_tar "$d/.."
  "${CTR[@]}" images import "$d/../image.tar" >"$d/import.log" 2>&1 || { cat "$d/import.log"; return 1; }
}

# containerd_stop_all: containerd_stop for every containerd the test file started
# (its directories under BATS_FILE_TMPDIR).
containerd_stop_all() {
  local d
  for d in "$BATS_FILE_TMPDIR"/*/; do
    [ ! -f "$d/containerd.pid" ] || containerd_stop "${d%/}"
  done
}

# cri ARGS...: the client against this file's containerd.
cri() { "$CRI_CLIENT" "$@"; }

# json_field FIELD: FIELD of the JSON object on stdin.
json_field() { /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin)['$1']; print(v if not isinstance(v,bool) else str(v).lower())"; }
