# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Two-node (NODES_COUNT=3: three-node) playground on one machine, for the demo and the benchmarks: each
# "node" is a network namespace with its own address (10.231.N.x, only inside
# the namespaces this file makes), its own runc root and work directory; both
# share one image store. A client namespace on the same bridge plays the rest of
# the cluster. Containers get a busybox root filesystem as an overlay
# mount (lower: the shared base image, upper: per container), the way
# containerd's overlay snapshotter prepares them.
#
#   nodes_setup DIR          make DIR/{base,store,a,b[,c]}, namespaces, the veth link
#   nodes_bundle NODE ID ARGS...   a bundle for container ID on NODE (a, b or c)
#   nodes_names              the nodes' letters: "a b" or "a b c"
#   nodes_cleanup            remove everything nodes_setup and nodes_bundle made
#   nodes_export             export what nodes_setup set (for what runs apart: bats tests)
#
# Needs root, runc, busybox (static), python3, bin/ferry-workload.
# Sets NODES_DIR, NODES_STORE, NODES_NS_{A,B,C,CLIENT,NET}, NODES_ADDR_{A,B,C,CLIENT}
# (C: only with NODES_COUNT=3).
# shellcheck disable=SC2034 # the variables are for the scripts that source this

NODES_NET=${NODES_NET:-10.231.9}

nodes_setup() {
  NODES_DIR=$1
  NODES_TAG=${NODES_TAG:-$$}
  NODES_NS_A="ferry-a-$NODES_TAG"
  NODES_NS_B="ferry-b-$NODES_TAG"
  NODES_ADDR_A="$NODES_NET.1"
  NODES_ADDR_B="$NODES_NET.2"
  NODES_COUNT=${NODES_COUNT:-2}
  NODES_NS_C="" NODES_ADDR_C=""
  if [ "$NODES_COUNT" = 3 ]; then
    NODES_NS_C="ferry-n3-$NODES_TAG"
    NODES_ADDR_C="$NODES_NET.3"
  fi
  NODES_STORE="$NODES_DIR/store"
  local top
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  NODES_BIN=${FERRY_BIN:-$top/bin}
  mkdir -p "$NODES_DIR"/{base,store}
  local n
  for n in $(nodes_names); do mkdir -p "$NODES_DIR/$n"/{root,work,bundles,layers}; done
  # The container image: busybox, the workload, a page to serve.
  local base=$NODES_DIR/base
  mkdir -p "$base"/{bin,dev,proc,sys,tmp,etc,www,data}
  cp /bin/busybox "$base/bin/busybox"
  local a
  for a in sh cat echo ls sleep httpd wget mkdir rm touch nc; do ln -sf busybox "$base/bin/$a"; done
  cp "$NODES_BIN/ferry-workload" "$base/bin/workload"
  echo "root:x:0:0:root:/:/bin/sh" > "$base/etc/passwd"
  echo "ferry demo page" > "$base/www/index.html"
  ln -sf /tmp/count "$base/www/count"
  chmod 1777 "$base/tmp"
  # The nodes and a client on one "cluster network": a bridge in a namespace of
  # its own, a veth from each of them to it.
  NODES_NS_NET="ferry-net-$NODES_TAG"
  NODES_NS_CLIENT="ferry-c-$NODES_TAG"
  NODES_ADDR_CLIENT="$NODES_NET.10"
  ip netns add "$NODES_NS_NET"
  ip -n "$NODES_NS_NET" link add br0 type bridge
  ip -n "$NODES_NS_NET" link set br0 up
  local ns addr i=0 hosts=("$NODES_NS_A:$NODES_ADDR_A" "$NODES_NS_B:$NODES_ADDR_B" "$NODES_NS_CLIENT:$NODES_ADDR_CLIENT")
  [ -z "$NODES_NS_C" ] || hosts+=("$NODES_NS_C:$NODES_ADDR_C")
  for ns in "${hosts[@]}"; do
    addr=${ns#*:}
    ns=${ns%%:*}
    i=$((i + 1))
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$NODES_NS_NET" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$NODES_NS_NET" link set "p$i" master br0 up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

nodes_export() {
  export NODES_DIR NODES_STORE NODES_NS_A NODES_NS_B NODES_NS_CLIENT NODES_NS_NET NODES_ADDR_A NODES_ADDR_B \
    NODES_ADDR_CLIENT NODES_COUNT NODES_NS_C NODES_ADDR_C
}

nodes_names() { if [ "${NODES_COUNT:-2}" = 3 ]; then echo a b c; else echo a b; fi; }

# nodes_ns a|b|c, nodes_addr a|b|c, nodes_root a|b|c, nodes_work a|b|c
nodes_ns() {
  case $1 in a) echo "$NODES_NS_A" ;; b) echo "$NODES_NS_B" ;; *) echo "$NODES_NS_C" ;; esac
}
nodes_addr() {
  case $1 in a) echo "$NODES_ADDR_A" ;; b) echo "$NODES_ADDR_B" ;; *) echo "$NODES_ADDR_C" ;; esac
}
nodes_root() { echo "$NODES_DIR/$1/root"; }
nodes_work() { echo "$NODES_DIR/$1/work"; }

# nodes_bundle NODE ID ARGS...: prints the bundle directory.
nodes_bundle() {
  local node=$1 id=$2
  shift 2
  local bundle=$NODES_DIR/$node/bundles/$id layers=$NODES_DIR/$node/layers/$id
  mkdir -p "$bundle/rootfs" "$layers/upper" "$layers/work"
  mount -t overlay overlay -o "lowerdir=$NODES_DIR/base,upperdir=$layers/upper,workdir=$layers/work" "$bundle/rootfs"
  (cd "$bundle" && runc spec)
  python3 - "$bundle/config.json" "/var/run/netns/$(nodes_ns "$node")" "$@" <<'PY'
import json, sys
path, netns, args = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
c["process"]["cwd"] = "/"
c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
c["root"]["readonly"] = False
for ns in c["linux"]["namespaces"]:
    if ns["type"] == "network":
        ns["path"] = netns
json.dump(c, open(path, "w"), indent=2)
PY
  echo "$bundle"
}

# nodes_wait_count ROOTFS ABOVE [TRIES]: waits until ROOTFS/tmp/count > ABOVE; prints it.
nodes_wait_count() {
  local f=$1/tmp/count above=$2 tries=${3:-300} i v
  for ((i = 0; i < tries; i++)); do
    v=$(cat "$f" 2>/dev/null || true)
    if [ -n "$v" ] && [ "$v" -gt "$above" ] 2>/dev/null; then
      echo "$v"
      return 0
    fi
    sleep 0.05
  done
  echo "count in $f did not pass $above" >&2
  return 1
}

nodes_cleanup() {
  [ -n "${NODES_DIR:-}" ] || return 0
  local node id
  for node in $(nodes_names); do
    for id in $(runc --root "$NODES_DIR/$node/root" list -q 2>/dev/null); do
      runc --root "$NODES_DIR/$node/root" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  # relays end by themselves once their container is gone; a CRIU or runc that
  # outlived its agent (forked while its session was being killed) works below
  # NODES_DIR and may hold the test runner's output pipe: it goes too
  local p cwd
  for p in /proc/[0-9]*; do
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    case $cwd in "$NODES_DIR"/*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;; esac
  done
  local m
  awk -v d="$NODES_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  local ns
  for ns in "$NODES_NS_A" "$NODES_NS_B" "$NODES_NS_CLIENT" "$NODES_NS_NET" ${NODES_NS_C:+"$NODES_NS_C"}; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$NODES_DIR"
  NODES_DIR=
}
