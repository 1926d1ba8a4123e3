# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# A real containerd of its own, as these machines can run one (no systemd, no
# CAP_SYS_RESOURCE, no registry): for the CRI tests and for the nodes of
# nodes.sh when kubelet-lite runs pods through CRI (cluster.sh, CLUSTER_CRI).
#
#   containerd_image_tar ROOTFS NAME TAR     an OCI layout tar of ROOTFS (one uncompressed
#                                            layer) named NAME, its command sleeping for ever
#   containerd_bindir VERSION                where containerd VERSION (1.6, 1.7, 2) is
#   containerd_node_start NODE VERSION       containerd VERSION for node NODE (a|b) in its network
#                                            namespace, with the ferry handler and CNI; images imported
#   containerd_node_restart NODE [VAR=VALUE...]  restarted with those variables (its pods run on)
#   containerd_node_endpoint NODE, containerd_node_runc_root NODE
#   containerd_stop DIR                      the containerd of DIR and everything it started gone
#   containerd_node_stop NODE
#
# A node's containerd lives in NODES_DIR/NODE/containerd: config.toml (an empty
# config given to deploy/containerd/add-ferry-runtime.sh, then this machine's
# settings), root, state (the pods' network namespaces too:
# netns_mounts_under_state_dir), containerd.sock, containerd.log, the handler's
# runc root ferry-root (the shim adds /k8s.io), the CNI config and IPAM state.

CONTAINERD_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The images every node's containerd gets (docker.io/ is what CRI makes of "ferry/workload").
CONTAINERD_WORKLOAD_IMAGE=docker.io/ferry/workload:latest
CONTAINERD_PAUSE_IMAGE=registry.invalid/ferry/pause:1
# The bridge the nodes' pods are on, in the node's network namespace.
CONTAINERD_BRIDGE=kbr0

# containerd_blob DIR FILE: FILE moved into DIR's blobs under its digest; prints "DIGEST SIZE".
containerd_blob() {
  local sum size
  sum=$(sha256sum "$2" | cut -d' ' -f1)
  size=$(stat -c %s "$2")
  mv "$2" "$1/blobs/sha256/$sum"
  echo "sha256:$sum $size"
}

# containerd_image_tar ROOTFS NAME TAR: TAR, an OCI layout of one uncompressed
# layer (ROOTFS), index.json naming it NAME (io.containerd.image.name, what
# `ctr images import` names it by); its default command sleeps for ever (it
# serves as a sandbox image too).
containerd_image_tar() {
  local root=$1 name=$2 out=$3 d
  d=$(mktemp -d)
  mkdir -p "$d/layout/blobs/sha256"
  tar -C "$root" -cf "$d/layer.tar" .
  local layer diff config manifest
  diff=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
  read -r -a layer <<<"$(containerd_blob "$d/layout" "$d/layer.tar")"
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sleep","2147483647"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$diff" >"$d/config.json"
  read -r -a config <<<"$(containerd_blob "$d/layout" "$d/config.json")"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "${config[0]}" "${config[1]}" "${layer[0]}" "${layer[1]}" >"$d/manifest.json"
  read -r -a manifest <<<"$(containerd_blob "$d/layout" "$d/manifest.json")"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "${manifest[0]}" "${manifest[1]}" "$name" "${name##*:}" >"$d/layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$d/layout/oci-layout"
  tar -C "$d/layout" -cf "$out" .
  rm -rf "$d"
}

# containerd_bindir VERSION: 1.6 is bookworm's /usr/bin; install-deps unpacks 1.7 and 2.x under /opt/ferry.
containerd_bindir() {
  case $1 in
    1.6) echo /usr/bin ;;
    1.7) echo "${FERRY_CONTAINERD17_BIN:-/opt/ferry/containerd-1.7/usr/bin}" ;;
    2*) echo "${FERRY_CONTAINERD2_BIN:-/opt/ferry/containerd-2/usr/bin}" ;;
    *) echo "containerd: no version $1 here (1.6, 1.7, 2)" >&2; return 1 ;;
  esac
}

# containerd_procs_with_arg ARG: the PIDs of the processes one of whose
# arguments is exactly ARG (a path of the caller's own: its containerd's socket).
containerd_procs_with_arg() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF -- "$1" && echo "${p#/proc/}"
  done
  true
}

# containerd_stop DIR: the containerd of DIR and everything it started are gone:
# its tasks killed and deleted through it (so their shims end), then containerd,
# then whatever is left: the containers' first processes (by the init.pid files
# under DIR/state; a PID namespace ends with its first process) and the shims
# (their -address is DIR's socket), with their children. DIR's mounts go (the
# pods' network namespaces too, when they are under DIR/state).
containerd_stop() {
  local d=$1 pid id ctr
  pid=$(cat "$d/containerd.pid" 2>/dev/null) || return 0
  ctr=("$(cat "$d/bindir")/ctr" --address "$d/containerd.sock" -n k8s.io)
  if kill -0 "$pid" 2>/dev/null; then
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
      "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    if kill "$pid" 2>/dev/null; then
      for id in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  kill -9 "$pid" 2>/dev/null || true
  find "$d/state" -name init.pid 2>/dev/null | while read -r f; do
    pid=$(cat "$f" 2>/dev/null) || continue
    [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  done
  for pid in $(containerd_procs_with_arg "$d/containerd.sock"); do
    for id in $(ps -o pid= --ppid "$pid"); do kill -9 "$id" 2>/dev/null || true; done
    kill -9 "$pid" 2>/dev/null || true
  done
  { grep -o " $d/[^ ]*" /proc/mounts || true; } | cut -c2- | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -f "$d/containerd.pid"
}

containerd_node_dir() { echo "$NODES_DIR/$1/containerd"; }
containerd_node_endpoint() { echo "unix://$(containerd_node_dir "$1")/containerd.sock"; }
# The runc root of the handler ferry's containers (what ferry-agent --runc-root takes).
containerd_node_runc_root() { echo "$(containerd_node_dir "$1")/ferry-root/k8s.io"; }

# containerd_node_settings DIR VERSION: add-ferry-runtime.sh's --set options for
# this machine: the pause image, CNI, the pods' network namespaces and the opt
# plugin under DIR, the stream server on loopback.
containerd_node_settings() {
  local d=$1
  if [ "$2" = 3 ]; then
    printf -- "--set\nplugins.'io.containerd.cri.v1.images'.pinned_images.sandbox = '%s'\n" "$CONTAINERD_PAUSE_IMAGE"
    printf -- "--set\nplugins.'io.containerd.cri.v1.runtime'.cni.conf_dir = '%s/cni'\n" "$d"
    printf -- "--set\nplugins.'io.containerd.cri.v1.runtime'.cni.bin_dir = '/usr/lib/cni'\n"
    printf -- "--set\nplugins.'io.containerd.cri.v1.runtime'.netns_mounts_under_state_dir = true\n"
    printf -- "--set\nplugins.'io.containerd.nri.v1.nri'.disable = true\n"
    printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.stream_server_address = '127.0.0.1'\n"
  else
    printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.sandbox_image = '%s'\n" "$CONTAINERD_PAUSE_IMAGE"
    printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.cni.conf_dir = '%s/cni'\n" "$d"
    printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.cni.bin_dir = '/usr/lib/cni'\n"
    printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.netns_mounts_under_state_dir = true\n"
    printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.stream_server_address = '127.0.0.1'\n"
  fi
  printf -- "--set\nplugins.'io.containerd.grpc.v1.cri'.stream_server_port = '0'\n"
  printf -- "--set\nplugins.'io.containerd.internal.v1.opt'.path = '%s/opt'\n" "$d"
}

# containerd_node_network NODE DIR: the node's eth0 (on the cluster network) put
# on a bridge, the node's address moved to the bridge: the CNI bridge plugin puts
# the pods on it, so they are on the cluster network as kubelet-lite's own pods
# are; host-local hands out the node's pod range (the one cluster.sh gives it).
containerd_node_network() {
  local n=$1 d=$2 ns addr first last
  ns=$(nodes_ns "$n")
  addr=$([ "$n" = a ] && echo "$NODES_ADDR_A" || echo "$NODES_ADDR_B")
  first=$([ "$n" = a ] && echo 64 || echo 96)
  last=$((first + 31))
  ip -n "$ns" link add "$CONTAINERD_BRIDGE" type bridge
  ip -n "$ns" addr del "$addr/24" dev eth0
  ip -n "$ns" link set eth0 master "$CONTAINERD_BRIDGE"
  ip -n "$ns" addr add "$addr/24" dev "$CONTAINERD_BRIDGE"
  ip -n "$ns" link set "$CONTAINERD_BRIDGE" up
  mkdir -p "$d/cni" "$d/ipam"
  cat >"$d/cni/10-ferry.conflist" <<J
{"cniVersion": "0.4.0", "name": "ferry-pods", "plugins": [{"type": "bridge", "bridge": "$CONTAINERD_BRIDGE",
 "isGateway": false, "ipMasq": false, "hairpinMode": true,
 "ipam": {"type": "host-local", "dataDir": "$d/ipam",
  "ranges": [[{"subnet": "$NODES_NET.0/24", "rangeStart": "$NODES_NET.$first", "rangeEnd": "$NODES_NET.$last"}]]}}]}
J
}

# containerd_images: the image tars of the nodes' base root filesystem (nodes.sh's
# NODES_DIR/base) as the workload and as the pause image, made once.
containerd_images() {
  mkdir -p "$NODES_DIR/images"
  [ -f "$NODES_DIR/images/workload.tar" ] ||
    containerd_image_tar "$NODES_DIR/base" "$CONTAINERD_WORKLOAD_IMAGE" "$NODES_DIR/images/workload.tar"
  [ -f "$NODES_DIR/images/pause.tar" ] ||
    containerd_image_tar "$NODES_DIR/base" "$CONTAINERD_PAUSE_IMAGE" "$NODES_DIR/images/pause.tar"
}

# containerd_host_bundle: Ferry's host bundle (what the agent image carries in
# /opt/ferry/host: ferry-runc and CRIU with their own loaders, install-host.sh),
# made once from this build's ferry-runc and CRIU as the Dockerfile makes it.
containerd_host_bundle() {
  [ -x "$NODES_DIR/host-bundle/install-host.sh" ] && return 0
  # shellcheck source=scripts/lib/image-stage.sh
  (. "$CONTAINERD_LIB_DIR/image-stage.sh" &&
    image_host_bundle "$NODES_DIR/host-bundle.new" "$NODES_BIN/ferry-runc" "${FERRY_CRIU_PREFIX:-/opt/ferry/criu}") ||
    return 1
  mv "$NODES_DIR/host-bundle.new" "$NODES_DIR/host-bundle"
}

# containerd_node_setup DIR BINDIR [--set ...]: the chart's node setup for a
# node whose host directories are under DIR, run as its init containers would:
# `install` (the host bundle's install-host.sh into DIR/opt/ferry) and `runtime`
# (node-setup.sh adding the handler to DIR/config.toml, for containerd BINDIR), with
# the arguments the chart renders, host paths mapped into DIR, the given settings added.
containerd_node_setup() {
  local d=$1 bindir=$2 a args=()
  shift 2
  containerd_host_bundle || return 1
  while read -r a; do
    case $a in
      /host/*) "$NODES_DIR/host-bundle/install-host.sh" "$d/host${a#/host}" >"$d/node-setup-install.log" || return 1 ;;
      *) echo "containerd_node_setup: unexpected install argument $a" >&2 && return 1 ;;
    esac
  done < <(chart_node_setup_args install)
  while read -r a; do
    case $a in
      /etc/ferry-setup/node-setup.sh) ;; # the chart's ConfigMap: helm/ferry/files/node-setup.sh
      --ferry-runc=*) args+=("--ferry-runc=$d/host${a#--ferry-runc=}") ;;
      --runc-root=*) args+=("--runc-root=$d/ferry-root") ;;
      --config=*) args+=("--config=$d/config.toml") ;;
      *) args+=("$a") ;;
    esac
  done < <(chart_node_setup_args runtime)
  # this shell's namespaces are the host's (pid 1 may not be ours to enter)
  bash "$CONTAINERD_LIB_DIR/../../helm/ferry/files/node-setup.sh" --host= --host-pid "$BASHPID" \
    --containerd "$bindir/containerd" \
    "${args[@]}" "$@" >>"$d/node-setup-runtime.log" 2>&1 || { cat "$d/node-setup-runtime.log" >&2; return 1; }
}

# containerd_node_start NODE VERSION: containerd VERSION (1.6, 1.7, 2) for node-NODE,
# prepared by the chart's node setup (containerd_node_setup: an empty config gets
# the handler, then this machine's settings), its pods on the node's bridge (CNI),
# started (containerd_node_run); the images imported.
containerd_node_start() {
  local n=$1 bindir d sets
  bindir=$(containerd_bindir "$2") || return 1
  d=$(containerd_node_dir "$n")
  mkdir -p "$d"/{root,state,opt,ferry-root} "$NODES_DIR/$n/admitted"
  : >"$d/config.toml"
  containerd_node_setup "$d" "$bindir" || return 1
  mapfile -t sets < <(containerd_node_settings "$d" "$(sed -n 's/^version = //p' "$d/config.toml")")
  containerd_node_setup "$d" "$bindir" "${sets[@]}" || return 1
  containerd_node_network "$n" "$d"
  containerd_images
  echo "$bindir" >"$d/bindir"
  containerd_node_run "$n" || return 1
  local ctr=("$bindir/ctr" --address "$d/containerd.sock" -n k8s.io)
  if ! "${ctr[@]}" images import "$NODES_DIR/images/workload.tar" >"$d/import.log" 2>&1 ||
    ! "${ctr[@]}" images import "$NODES_DIR/images/pause.tar" >>"$d/import.log" 2>&1; then
    cat "$d/import.log" >&2
    tail -20 "$d/containerd.log" >&2
    return 1
  fi
}

# containerd_node_run NODE [VAR=VALUE...]: node-NODE's containerd started, in the
# node's network namespace (its mounts stay in ours: nsenter --net only), with
# the variables given; the handler ferry's ferry-runc (run by the shims it
# starts, which inherit its environment) sees the node's admission directory.
# Waits until it answers.
containerd_node_run() {
  local n=$1 d bindir i
  shift
  d=$(containerd_node_dir "$n")
  bindir=$(cat "$d/bindir")
  setsid env PATH="$bindir:$PATH" FERRY_ADMISSION_DIR="$NODES_DIR/$n/admitted" \
    FERRY_RUNC_STATE="$NODES_DIR/$n/ferry-runc" "$@" nsenter --net="/var/run/netns/$(nodes_ns "$n")" \
    "$bindir/containerd" --config "$d/config.toml" --root "$d/root" --state "$d/state" \
    --address "$d/containerd.sock" >>"$d/containerd.log" 2>&1 3>&- &
  echo $! >"$d/containerd.pid"
  for ((i = 0; i < 200; i++)); do
    "$bindir/ctr" --address "$d/containerd.sock" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "containerd of node-$n does not answer" >&2
  tail -20 "$d/containerd.log" >&2
  return 1
}

# containerd_node_restart NODE [VAR=VALUE...]: node-NODE's containerd stopped
# (TERM: its shims and containers run on) and started again with the variables
# given, as a node's containerd restarted by systemd with a changed environment.
containerd_node_restart() {
  local d pid i
  d=$(containerd_node_dir "$1")
  pid=$(cat "$d/containerd.pid")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  containerd_node_run "$@"
}

containerd_node_stop() { containerd_stop "$(containerd_node_dir "$1")"; }
