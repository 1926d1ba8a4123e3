#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
bats_require_minimum_version 1.5.0
# The s3:// store against a real S3-compatible server on loopback (moto, which
# checks every request's AWS Signature V4): checkpoint on A, restore on B from
# its own download, and what a wrong key, a missing image or an altered object do.

load helpers

setup_file() {
  nodes_file_setup
  S3DIR=$BATS_FILE_TMPDIR/s3
  "$FERRY_TOP/tests/tools/s3-server.sh" start "$S3DIR" images
  export S3DIR
}
teardown_file() {
  "$FERRY_TOP/tests/tools/s3-server.sh" stop "$S3DIR"
  nodes_cleanup
}
setup() {
  nodes_reset
  # shellcheck disable=SC1091
  source "$S3DIR/env"
  rm -rf "$S3DIR"/cache-*
}
teardown() {
  nodes_teardown
  if test_failed; then tail -5 "$S3DIR/server.log"; fi
}

# on NODE ARGS...: ferry-agent on that node, with its own local copies of S3 images
on() {
  local n=$1
  shift
  FERRY_S3_CACHE=$S3DIR/cache-$n agent "$n" "$@"
}

# objects PREFIX: the keys in the bucket under PREFIX (signed, with boto3)
objects() {
  /usr/bin/python3 -c '
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
r = s3.list_objects_v2(Bucket="images", Prefix=sys.argv[1])
print("\n".join(o["Key"] for o in r.get("Contents", [])))' "$1"
}

@test "s3://: checkpoint on A uploads the image, B downloads, verifies and restores it" {
  start_on_a s1 workload --mem 16
  nodes_wait_count "$A_ROOTFS" 3
  run on a checkpoint --root "$(nodes_root a)" --store s3://images/run1 --image img-s1 s1
  assert_success
  [ "$(containers_on a)" -eq 0 ]
  run objects run1/img-s1/
  assert_output --partial "run1/img-s1/manifest.sha256"
  assert_output --partial "run1/img-s1/manifest.json"
  assert_output --regexp 'run1/img-s1/criu/pages-[0-9]+\.img'
  bundle_on_b s1
  run on b restore --root "$(nodes_root b)" --store s3://images/run1 --image img-s1 --bundle "$B_BUNDLE" \
    --netns "/var/run/netns/$NODES_NS_B"
  assert_success
  [ -f "$S3DIR/cache-b/images/img-s1/manifest.sha256" ] # B's own copy, downloaded
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 16$'
  # the name is taken now
  start_on_a s1x workload --mem 4
  nodes_wait_count "$A_ROOTFS" 1
  run on a checkpoint --root "$(nodes_root a)" --store s3://images/run1 --image img-s1 s1x
  assert_failure 1
  assert_output --partial "already exists in store s3://images/run1"
  [ "$(state_of a s1x)" = running ]
}

@test "s3://: a wrong secret key is refused by the server's signature check; the container runs on" {
  start_on_a s2 workload --mem 8
  nodes_wait_count "$A_ROOTFS" 2
  AWS_SECRET_ACCESS_KEY=wrong-secret run on a checkpoint --root "$(nodes_root a)" --store s3://images/run2 \
    --image img-s2 s2
  assert_failure 1
  assert_output --partial "HTTP 403"
  [ "$(state_of a s2)" = running ]
  run objects run2/
  assert_output ""
}

@test "s3://: no credentials, a bad URL, a missing image" {
  run env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY FERRY_S3_CACHE="$S3DIR/cache-a" "$AGENT" --work-dir \
    "$(nodes_work a)" inspect --store s3://images/x --image nothing
  assert_failure 2
  assert_output --partial "no credentials"
  run on a inspect --store s3://B --image nothing
  assert_failure 2
  assert_output --partial "3 to 63 characters"
  run on b inspect --store s3://images/run3 --image nothing-here
  assert_failure 1
  assert_output --partial "image nothing-here not found in store s3://images/run3"
}

@test "s3://: an object altered in the bucket is refused on B; nothing runs there" {
  start_on_a s4 workload --mem 8
  nodes_wait_count "$A_ROOTFS" 2
  run on a checkpoint --root "$(nodes_root a)" --store s3://images/run4 --image img-s4 s4
  assert_success
  key=$(objects run4/img-s4/criu/ | grep -m1 'pages-')
  /usr/bin/python3 -c '
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
body = s3.get_object(Bucket="images", Key=sys.argv[1])["Body"].read()
s3.put_object(Bucket="images", Key=sys.argv[1], Body=body[:100] + b"X" + body[101:])' "$key"
  bundle_on_b s4
  run on b restore --root "$(nodes_root b)" --store s3://images/run4 --image img-s4 --bundle "$B_BUNDLE"
  assert_failure 1
  assert_output --partial "was altered"
  [ "$(containers_on b)" -eq 0 ]
}

@test "s3:// with encryption: the bucket holds ciphertext only; migrate rolls forward through it" {
  head -c 32 /dev/urandom > "$BATS_TEST_TMPDIR/key"
  start_on_a s5 workload --mem 8
  nodes_wait_count "$A_ROOTFS" 2
  bundle_on_b s5
  run on a migrate --root "$(nodes_root a)" --store s3://images/run5 --image img-s5 --to-root "$(nodes_root b)" \
    --to-bundle "$B_BUNDLE" --to-netns "/var/run/netns/$NODES_NS_B" --encryption-key-file "$BATS_TEST_TMPDIR/key" s5
  assert_success
  key=$(objects run5/img-s5/criu/ | grep -m1 'pages-')
  run /usr/bin/python3 -c '
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
print(s3.get_object(Bucket="images", Key=sys.argv[1])["Body"].read()[:4].decode())' "$key"
  assert_output FRYE
  run verify_mem "$B_BUNDLE/rootfs"
  assert_output --regexp '^ok [0-9]+ 8$'
}
