#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
bats_require_minimum_version 1.5.0
# Images stored compressed (zstd, lz4) and encrypted (AES-256-GCM, a key file as
# a mounted Secret gives it), with real runc and CRIU.

load helpers

setup_file() {
  nodes_file_setup
  KEY=$BATS_FILE_TMPDIR/key
  OTHER_KEY=$BATS_FILE_TMPDIR/other-key
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$KEY"
  head -c 32 /dev/urandom > "$OTHER_KEY"
  export KEY OTHER_KEY
}

@test "migrate with zstd and encryption: the store holds only ciphertext, the container moves intact" {
  start_on_a e1 workload --mem 32
  nodes_wait_count "$A_ROOTFS" 3
  bundle_on_b e1
  run --separate-stderr agent a --json migrate $(migrate_args e1 img-e1) --compress zstd --encryption-key-file "$KEY"
  assert_success
  [ "$(field "$output" 'r["outcome"]')" = migrated ]
  [ "$(field "$output" 'r["rawBytes"] >= 32<<20')" = True ]
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 32$'
  # every stored file is a Ferry-encrypted one; no raw copy is left on either node
  local f
  for f in $(find "$NODES_STORE/img-e1" -type f ! -name 'manifest.*'); do
    [ "$(head -c 4 "$f")" = FRYE ]
  done
  [ -z "$(find "$NODES_DIR"/a/work "$NODES_DIR"/b/work -path '*img-e1/stage*' -o -path '*img-e1/decoded*' | head -1)" ]
  run agent a inspect --store "dir://$NODES_STORE" --image img-e1
  assert_success
  assert_output --regexp 'encoding: +compression zstd, encryption aes-256-gcm, key [0-9a-f]{16}'
}

# checkpoint_encrypted ID COMPRESSION: run: an 8 MiB workload ID on A checkpointed
# into image img-ID, compressed so and encrypted with KEY.
checkpoint_encrypted() {
  start_on_a "$1" workload --mem 8
  nodes_wait_count "$A_ROOTFS" 3
  run agent a checkpoint --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image "img-$1" \
    --compress "$2" --encryption-key-file "$KEY" "$1"
}

@test "an encrypted image is refused without its key or with another key; nothing runs on B; its key restores it" {
  checkpoint_encrypted e2 lz4
  assert_success
  bundle_on_b e2
  restore_b() { agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image img-e2 --bundle "$B_BUNDLE" "$@"; }
  run restore_b
  assert_failure 1
  assert_output --partial "is encrypted (key"
  run restore_b --encryption-key-file "$OTHER_KEY"
  assert_failure 1
  assert_output --partial "this node's key is"
  [ "$(containers_on b)" -eq 0 ]
  # the right key restores it
  run restore_b --encryption-key-file "$KEY"
  assert_success
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 8$'
}

@test "an altered encrypted file is refused before decoding" {
  checkpoint_encrypted e3 zstd
  assert_success
  f=$(find "$NODES_STORE/img-e3/criu" -name 'pages-*.img' | head -1)
  printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
  bundle_on_b e3
  run agent b restore --root "$(nodes_root b)" --store "dir://$NODES_STORE" --image img-e3 --bundle "$B_BUNDLE" \
    --encryption-key-file "$KEY"
  assert_failure 1
  assert_output --partial "was altered"
  [ "$(containers_on b)" -eq 0 ]
}

@test "postCopy with an encrypted image: the small image is encrypted, the memory follows" {
  start_on_a e4 workload --mem 16
  nodes_wait_count "$A_ROOTFS" 3
  bundle_on_b e4-b
  run --separate-stderr agent a --json migrate --root "$(nodes_root a)" --store "dir://$NODES_STORE" --image img-e4 \
    --to-root "$(nodes_root b)" --to-bundle "$B_BUNDLE" --to-netns "/var/run/netns/$NODES_NS_B" --id e4-b \
    --strategy postCopy --compress zstd --encryption-key-file "$KEY" e4
  assert_success
  [ "$(field "$output" 'r["strategy"]')" = postCopy ]
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 16$'
}

@test "bad encoding options are usage errors" {
  run agent a checkpoint --compress gzip x
  assert_failure 2
  assert_output --partial "none, zstd or lz4"
  echo short > "$BATS_TEST_TMPDIR/k"
  run agent a checkpoint --encryption-key-file "$BATS_TEST_TMPDIR/k" x
  assert_failure 2
  assert_output --partial "expected 32 bytes"
}
