#!/usr/bin/env bash
# The local demo migration (README's first command, `make demo`): two nodes in
# their own network namespaces, a container that counts in memory and serves its
# count over HTTP moves from node A to node B while it runs, and goes on counting.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/nodes.sh
source scripts/lib/nodes.sh
AGENT=${FERRY_BIN:-$PWD/bin}/ferry-agent

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
http() { ip netns exec "$NODES_NS_CLIENT" curl -sf -m 2 "http://$1:8080/$2"; }

dir=$(mktemp -d /var/tmp/ferry-demo.XXXXXX)
trap 'nodes_cleanup; rm -rf "$dir"' EXIT
nodes_setup "$dir/nodes"

say "node A ($NODES_ADDR_A, netns $NODES_NS_A), node B ($NODES_ADDR_B, netns $NODES_NS_B), a client ($NODES_ADDR_CLIENT), one shared store"
"$AGENT" --work-dir "$(nodes_work a)" check | sed 's/^/  /'

say "start the workload on node A: 64 MiB of patterned memory, a counter, busybox httpd serving it"
a=$(nodes_bundle a counter sh -c 'workload --mem 64 & exec httpd -f -p 8080 -h /www')
"$AGENT" --work-dir "$(nodes_work a)" run --root "$(nodes_root a)" --bundle "$a" counter
nodes_wait_count "$a/rootfs" 10 >/dev/null
for _ in 1 2 3; do echo "  GET http://$NODES_ADDR_A:8080/count -> $(http "$NODES_ADDR_A" count)"; sleep 0.5; done

say "migrate it to node B (checkpoint, verify, restore; rollback to A on any failure)"
b=$(nodes_bundle b counter sh -c 'true') # node B prepares the same image; the config comes from the checkpoint
rm -f "$b/config.json"
"$AGENT" --work-dir "$(nodes_work a)" migrate --root "$(nodes_root a)" --store "dir://$NODES_STORE" \
  --image counter-1 --to-root "$(nodes_root b)" --to-bundle "$b" --to-netns "/var/run/netns/$NODES_NS_B" counter \
  | sed 's/^/  /'

say "the count goes on on node B, over HTTP on B's address"
for _ in 1 2 3; do echo "  GET http://$NODES_ADDR_B:8080/count -> $(http "$NODES_ADDR_B" count)"; sleep 0.5; done
if http "$NODES_ADDR_A" count >/dev/null; then
  echo "  node A still answers: that would be two copies" >&2
  exit 1
fi
echo "  node A's address no longer answers (the container left it; CRIU keeps A's network locked, so"
echo "  clients see silence rather than resets until the old pod's namespace is gone)"
echo "  runc on A: $(runc --root "$(nodes_root a)" list -q | wc -l) containers; on B: $(runc --root "$(nodes_root b)" list -q | tr '\n' ' ')"

say "its memory came along intact"
touch "$b/rootfs/tmp/verify-request"
for _ in $(seq 100); do [ -s "$b/rootfs/tmp/verify" ] && break; sleep 0.1; done
echo "  workload's own check of its 64 MiB: $(cat "$b/rootfs/tmp/verify")"

say "the image in the store"
"$AGENT" inspect --store "dir://$NODES_STORE" --image counter-1 | sed -n '1,10p;$p' | sed 's/^/  /'
say "done; cleaning up"
