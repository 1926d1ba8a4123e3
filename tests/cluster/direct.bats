#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Nodes without shared storage: each agent has its own store and the image goes
# straight from the source's agent to the target's (a receive and a send step,
# a one-time token both agents derive from the nodes' shared transfer key),
# verified before the target publishes it.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  cluster_up
  local n
  for n in a b; do
    mkdir -p "$NODES_DIR/$n/images"
    agent_kill "$n"
    agent_start "$n" --store "dir://$NODES_DIR/$n/images"
  done
}

@test "a pod moves between nodes with their own stores: the image is sent straight to B" {
  counting_pod local
  annotate_move local node-b
  wait_phase "$pm" Succeeded
  image=$(k get pm "$pm" -o jsonpath='{.status.image}')
  [[ "$image" == "dir://$NODES_DIR/b/images/"* ]]
  name=${image##*/}
  [ -f "$NODES_DIR/a/images/$name/manifest.sha256" ] && [ -f "$NODES_DIR/b/images/$name/manifest.sha256" ]
  # the digest the source recorded is the image's, on both nodes
  digest=$(k get pm "$pm" -o jsonpath='{.status.imageDigest}')
  [ "$digest" = "sha256:$(cut -d' ' -f1 "$NODES_DIR/b/images/$name/manifest.sha256")" ]
  cmp "$NODES_DIR/a/images/$name/manifest.json" "$NODES_DIR/b/images/$name/manifest.json"
  run k get events --field-selector involvedObject.name="$pm" -o jsonpath='{.items[*].reason}'
  assert_output --partial Transferred
  assert_output --partial Sent
  [ "$(k get pm "$pm" -o jsonpath='{.status.timings.transfer}')" -gt 0 ]
  dst=$(target_ip "$pm")
  after=$(http "$dst" /count)
  [ -n "$after" ] && [ "$after" -ge "$before" ]

  # the token: derived by both agents, never in the PodMigration, an event or a log, its files gone
  [ -n "$(k get pm "$pm" -o jsonpath='{.status.transfer.address}')" ]
  token=$(transfer_token "$CLUSTER_DIR/transfer.key" "$(k get pm "$pm" -o jsonpath='{.metadata.uid}')")
  [ "${#token}" = 64 ]
  run grep -c "$token" < <(k get pm "$pm" -o json && k get events -o json)
  assert_output 0
  run grep -rl "$token" "$CLUSTER_DIR" --include='*.log'
  assert_failure
  # nor on the agents' metrics and health endpoints, nor the transfer key
  key=$(cat "$CLUSTER_DIR/transfer.key")
  for n in a b; do
    port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$CLUSTER_DIR/agent-$n.log" | tail -1)
    curl -sf "http://127.0.0.1:$port/metrics" "http://127.0.0.1:$port/healthz" "http://127.0.0.1:$port/readyz" \
      >"$BATS_TEST_TMPDIR/agent-$n.out"
    grep -q ferry_agent_ "$BATS_TEST_TMPDIR/agent-$n.out"
    run grep -cF -e "$token" -e "$key" "$BATS_TEST_TMPDIR/agent-$n.out"
    assert_output 0
  done
  [ -z "$(find "$NODES_DIR" -name '*.token')" ]
}

# transfer_token KEYFILE UID: the token both agents derive for migration UID
transfer_token() {
  python3 -c 'import base64, hashlib, hmac, sys
key = base64.b64decode(open(sys.argv[1]).read())
print(hmac.new(key, b"ferry.dev/transfer-token/v1:" + sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$1" "$2"
}

@test "a source whose transfer key differs is refused by the target: RolledBack, the pod counts on, on A" {
  (umask 077 && head -c 32 /dev/urandom | base64 >"$BATS_FILE_TMPDIR/other.key")
  agent_kill a
  agent_start a --store "dir://$NODES_DIR/a/images" --transfer-key-file "$BATS_FILE_TMPDIR/other.key"
  counting_pod otherkey
  annotate_move otherkey node-b
  wait_phase "$pm" RolledBack
  run k get events --field-selector involvedObject.name="$pm" -o jsonpath='{.items[*].message}'
  assert_output --partial "refused a sender without this transfer's token"
  [ "$(running_on a otherkey)" = running ]
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 100 eval '[ "$(count_on "$src")" -gt "$before" ]'
}
