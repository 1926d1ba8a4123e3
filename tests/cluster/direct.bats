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

# A 512 MiB move sent at 128 MiB/s (seconds on the way, whatever the machine):
# status.progress, every change as the API server sends it, shows B's agent
# receiving the image (Transferring, growing to the image's size in B's store),
# then ferry-runc's private copy of it on B (Verifying, of the copy's size).
@test "a direct move's progress: Transferring as B receives the image, Verifying as ferry-runc copies it" {
  agent_kill a
  agent_start a --store "dir://$NODES_DIR/a/images" --migration-bandwidth 128Mi
  pod_on_a big workload --mem 512
  # moved once its memory is filled (it counts then), so that the image holds it
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 300 eval '[ -s "$(runc --root "$(nodes_root a)" state "$(runc --root "$(nodes_root a)" list -q | grep "^big-main-")" |
    python3 -c "import json, sys; print(json.load(sys.stdin)[\"rootfs\"])")/tmp/count" ]'
  # every change of every PodMigration from before the move (ended by the kill below, or its timeout)
  timeout 300 kubectl --kubeconfig "$KUBECONFIG" get pm -w -o json >"$BATS_TEST_TMPDIR/pm.json" 2>&1 3>&- &
  watcher=$!
  run kferry migrate big --to node-b -o name
  assert_success
  pm=${output#podmigration.ferry.dev/}
  wait_phase "$pm" Succeeded 1800 || { kill "$watcher"; false; }
  # the watch has printed the PodMigration as it is now
  rv=$(k get pm "$pm" -o jsonpath='{.metadata.resourceVersion}')
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 100 eval 'grep -Eq "\"resourceVersion\": ?\"$rv\"" "$BATS_TEST_TMPDIR/pm.json"' || { kill "$watcher"; false; }
  kill "$watcher"
  # ferry-runc's record of its private copy went with the copy
  [ -z "$(find "$NODES_DIR/b/admitted" -name '*.copy.json')" ]
  image=$(k get pm "$pm" -o jsonpath='{.status.image}')
  [[ "$image" == "dir://$NODES_DIR/b/images/"* ]]
  received=$(find "$NODES_DIR/b/images/${image##*/}" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
  python3 - "$BATS_TEST_TMPDIR/pm.json" "$pm" "$received" "$(k get pm "$pm" -o jsonpath='{.status.bytes}')" <<'PY'
import json, sys
path, name, received, image_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s, d, samples, i = open(path).read(), json.JSONDecoder(), [], 0
while i < len(s):
    if s[i].isspace():
        i += 1
        continue
    o, i = d.raw_decode(s, i)
    p = o.get("status", {}).get("progress")
    if o["metadata"]["name"] == name and p and (not samples or samples[-1] != p):
        samples.append(p)
stages = [p["stage"] for p in samples]
moving = [p["bytesDone"] for p in samples if p["stage"] == "Transferring"]
copied = [p for p in samples if p["stage"] == "Verifying"]
print(stages, moving, [(p["bytesDone"], p["totalBytes"]) for p in copied])
# Transferring: growing, up to every byte of the image as B's store holds it
assert len(set(moving)) >= 2 and moving == sorted(moving) and moving[-1] == received, (moving, received)
# then Verifying: ferry-runc's copy, of its size (the image's files as they are, not encoded here), whole at the end
assert copied and stages.index("Verifying") > max(i for i, t in enumerate(stages) if t == "Transferring"), stages
assert all(p["totalBytes"] == image_bytes and 0 < p["bytesDone"] <= image_bytes for p in copied), (copied, image_bytes)
assert copied[-1]["bytesDone"] == image_bytes, copied
PY
}
