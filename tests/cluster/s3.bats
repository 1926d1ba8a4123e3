#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# An s3:// store through the control plane: the agents and ferry-runc talk to a
# real S3-compatible server on loopback (moto, signatures checked); each node
# keeps its own copies, so the target really downloads the image.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  cluster_up
  S3DIR=$BATS_FILE_TMPDIR/s3
  "$FERRY_TOP/tests/tools/s3-server.sh" start "$S3DIR" cluster-images
  # shellcheck disable=SC1091
  source "$S3DIR/env"
  export S3DIR AWS_ENDPOINT_URL_S3 AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  local n
  for n in a b; do
    agent_kill "$n"
    FERRY_S3_CACHE=$S3DIR/cache-$n agent_start "$n" --store s3://cluster-images/ferry
    kubelet_kill "$n"
    kubelet_start "$n" FERRY_S3_CACHE="$S3DIR/cache-$n-runtime"
  done
}
teardown_file() {
  cluster_down
  "$FERRY_TOP/tests/tools/s3-server.sh" stop "$S3DIR"
}
teardown() {
  cluster_test_teardown
  if test_failed; then tail -5 "$S3DIR/server.log"; fi
}

@test "a pod moves through an s3:// store: uploaded by A, downloaded and restored by B's runtime" {
  counting_pod cloud
  annotate_move cloud node-b
  wait_phase "$pm" Succeeded
  image=$(k get pm "$pm" -o jsonpath='{.status.image}')
  [[ "$image" == s3://cluster-images/ferry/* ]]
  name=${image##*/}
  # written on A, fetched anew by B's ferry-runc from the bucket
  [ -f "$S3DIR/cache-a/cluster-images/$name/manifest.sha256" ]
  [ -f "$S3DIR/cache-b-runtime/cluster-images/$name/manifest.sha256" ]
  dst=$(target_ip "$pm")
  after=$(http "$dst" /count)
  [ -n "$after" ] && [ "$after" -ge "$before" ]
}
