#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Bad input: a clear message, the right exit code, and the container untouched.
bats_require_minimum_version 1.5.0

load helpers

setup() {
  nodes_reset
  start_on_a steady workload --mem 8
  nodes_wait_count "$A_ROOTFS" 2
}
teardown() { nodes_teardown umount "$NODES_DIR/ro"; }

# The container on A was never stopped: still running, still counting.
untouched() {
  [ "$(state_of a steady)" = running ]
  local now
  now=$(count_in "$A_ROOTFS")
  nodes_wait_count "$A_ROOTFS" "$now"
}

checkpoint() { agent a checkpoint --root "$(nodes_root a)" "$@"; }

@test "an unknown container" {
  run checkpoint --store "dir://$NODES_STORE" --image x nosuch
  assert_failure 1
  assert_output --partial "container nosuch not found in runc root"
  untouched
}

@test "a store that does not exist" {
  run checkpoint --store "dir://$NODES_DIR/nonexistent" --image x steady
  assert_failure 1
  assert_output --partial "store dir://$NODES_DIR/nonexistent: No such file or directory"
  untouched
}

@test "a store that is not writable" {
  mkdir -p "$NODES_DIR/ro"
  mount -t tmpfs -o ro,size=1m tmpfs "$NODES_DIR/ro"
  run checkpoint --store "dir://$NODES_DIR/ro" --image x steady
  assert_failure 1
  assert_output --partial "is not writable"
  assert_output --partial "Read-only file system"
  untouched
}

@test "image names with / or .. are refused" {
  for name in a/b .. ../x .hidden; do
    run checkpoint --store "dir://$NODES_STORE" --image "$name" steady
    assert_failure 2
    assert_output --partial "image name"
  done
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image ../etc --bundle /tmp
  assert_failure 2
  untouched
}

@test "a second checkpoint of the same name is refused before the freeze" {
  run checkpoint --leave-running --store "dir://$NODES_STORE" --image once steady
  assert_success
  dump_log="$NODES_DIR/a/work/once/dump/dump.log"
  stamp=$(stat -c %Y.%s "$dump_log")
  run checkpoint --store "dir://$NODES_STORE" --image once steady
  assert_failure 1
  assert_output --partial "image once already exists in store"
  # no new dump was started (CRIU's log of the first one is untouched) ...
  [ "$(stat -c %Y.%s "$dump_log")" = "$stamp" ]
  untouched
  # ... and the first image is intact
  run agent a inspect --store "dir://$NODES_STORE" --image once
  assert_success
}

@test "a restore of an image that is not there" {
  bundle_on_b none
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image missing --bundle "$B_BUNDLE"
  assert_failure 1
  assert_output --partial "image missing not found in store"
  [ "$(containers_on b)" -eq 0 ]
}

@test "a malformed manifest is named, not trusted" {
  run checkpoint --leave-running --store "dir://$NODES_STORE" --image bad steady
  assert_success
  python3 - "$NODES_STORE/bad" <<'PY'
import hashlib, json, sys
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
m["files"][0]["path"] = "../../etc/passwd"
text = json.dumps(m).encode()
open(d + "/manifest.json", "wb").write(text)
open(d + "/manifest.sha256", "w").write(hashlib.sha256(text).hexdigest() + "  manifest.json\n")
PY
  bundle_on_b bad
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image bad --bundle "$B_BUNDLE"
  assert_failure 1
  assert_output --partial "manifest: files[0].path ../../etc/passwd leaves the image"
  [ "$(containers_on b)" -eq 0 ]
}

@test "usage errors exit 2 with a message" {
  run checkpoint --image x steady
  assert_failure 2
  assert_output --partial "--store is required"
  run checkpoint --store "dir://$NODES_STORE" --image x --bogus steady
  assert_failure 2
  assert_output --partial "unknown or misplaced option --bogus"
  run checkpoint --store "dir://$NODES_STORE" --image x --tcp-established --tcp-close steady
  assert_failure 2
  assert_output --partial "exclude each other"
  run checkpoint --store "nfs://server/export" --image x steady
  assert_failure 2
  assert_output --partial "unsupported scheme nfs (supported: dir://, s3://)"
  run agent a migrate --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image x --to-root /r \
    --to-bundle /b --leave-running steady
  assert_failure 2
  assert_output --partial "copy, not a move"
  run agent a frobnicate
  assert_failure 2
  untouched
}
