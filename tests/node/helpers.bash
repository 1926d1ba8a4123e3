# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the node tests: two nodes and a client in network namespaces (from
# scripts/lib/nodes.sh), real runc and CRIU, one shared store. Each file gets its
# nodes in setup_file; every test starts from empty nodes (teardown resets them).
# These are the hooks of a test file unless it defines its own (calling these).
load ../lib/common

AGENT=$FERRY_BIN/ferry-agent
# shellcheck source=scripts/lib/nodes.sh
source "$FERRY_TOP/scripts/lib/nodes.sh"

setup_file() { nodes_file_setup; }
teardown_file() { nodes_cleanup; }
setup() { nodes_reset; }
# shellcheck disable=SC2119 # (the files with more to clean up pass it)
teardown() { nodes_teardown; }

nodes_file_setup() {
  export NODES_TAG="t$$"
  export NODES_NET=10.231.7
  nodes_setup "$BATS_FILE_TMPDIR/nodes"
  nodes_export
}

# nodes_teardown [CMD...]: after a test: when it failed, what ferry-agent and CRIU
# said; then CMD (what the file's tests may leave behind; its failure ignored);
# then empty nodes.
# shellcheck disable=SC2120 # (the test files pass CMD)
nodes_teardown() {
  if test_failed; then diagnose; fi
  if [ $# -gt 0 ]; then "$@" 2>/dev/null || true; fi
  nodes_reset
}

# Everything a test made on the nodes goes; the namespaces stay for the next test.
nodes_reset() {
  local node id m
  for node in a b; do
    for id in $(runc --root "$(nodes_root "$node")" list -q 2>/dev/null); do
      runc --root "$(nodes_root "$node")" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  awk -v d="$NODES_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "${NODES_DIR:?}"/{a,b}/{bundles,layers,work}/* "${NODES_STORE:?}"/* "$NODES_STORE"/.[!.]* 2>/dev/null || true
  # CRIU leaves a migrated container's old namespace locked; the next test starts unlocked.
  local ns
  for ns in "$NODES_NS_A" "$NODES_NS_B"; do
    for t in iptables ip6tables; do
      if ip netns exec "$ns" "$t" -w -n -L CRIU >/dev/null 2>&1; then
        ip netns exec "$ns" "$t" -w -D INPUT -j CRIU 2>/dev/null || true
        ip netns exec "$ns" "$t" -w -D OUTPUT -j CRIU 2>/dev/null || true
        ip netns exec "$ns" "$t" -w -F CRIU 2>/dev/null || true
        ip netns exec "$ns" "$t" -w -X CRIU 2>/dev/null || true
      fi
    done
  done
}

# On failure, show what ferry-agent and CRIU said.
diagnose() {
  local f
  for f in $(find "$NODES_DIR"/a/work "$NODES_DIR"/b/work -name '*.log' 2>/dev/null | head -20); do
    echo "--- $f (errors)"
    grep -E 'Error|error' "$f" | tail -5
  done
}

# agent NODE ARGS...: ferry-agent with that node's work directory.
agent() {
  local node=$1
  shift
  "$AGENT" --work-dir "$(nodes_work "$node")" "$@" 3>&-
}

# start_on_a ID ARGS...: a container on node A; sets A_ROOTFS.
start_on_a() {
  local id=$1 bundle
  shift
  bundle=$(nodes_bundle a "$id" "$@")
  agent a run --root "$(nodes_root a)" --bundle "$bundle" "$id" >/dev/null
  # shellcheck disable=SC2034 # read by the tests
  A_ROOTFS=$bundle/rootfs
}

# bundle_on_b ID [keep]: B's bundle for ID (the same image); without "keep" its
# config.json is removed so the restore writes the checkpoint's. Sets B_BUNDLE.
bundle_on_b() {
  B_BUNDLE=$(nodes_bundle b "$1" true)
  [ "${2:-}" = keep ] || rm -f "$B_BUNDLE/config.json"
}

# live NAME: how many processes called NAME are alive (zombies are not).
live() { ps -eo stat=,comm= | awk -v n="$1" '$2 == n && $1 !~ /^Z/' | grep -c . || true; }

count_in() { cat "$1/tmp/count"; }

# verify_mem ROOTFS: the workload checks its whole buffer; prints its answer.
verify_mem() {
  rm -f "$1/tmp/verify"
  touch "$1/tmp/verify-request"
  local i
  for ((i = 0; i < 300; i++)); do
    if [ -s "$1/tmp/verify" ]; then
      cat "$1/tmp/verify"
      return 0
    fi
    sleep 0.05
  done
  echo "no answer to the verify request in $1" >&2
  return 1
}

state_of() { runc --root "$(nodes_root "$1")" state "$2" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
pid_of() { runc --root "$(nodes_root "$1")" state "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
containers_on() { runc --root "$(nodes_root "$1")" list -q | grep -c . || true; }

# from_client ADDR PATH: an HTTP GET from the client namespace.
from_client() { ip netns exec "$NODES_NS_CLIENT" curl -sf -m 3 "http://$1:8080/$2"; }

# field JSON EXPR: a Python expression over the agent's JSON answer r.
field() { python3 -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1"; }

migrate_args() { # ID IMAGE
  echo --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image "$2" --to-root "$(nodes_root b)" \
    --to-bundle "$B_BUNDLE" --to-netns "/var/run/netns/$NODES_NS_B" "$1"
}
