#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Ferry's CRI client (lib/cri, driven through tests/tools/cri-client) against a
# real containerd: bookworm's 1.6 (config version 2) and, when install-deps put
# them there, 1.7 from /opt/ferry/containerd-1.7 (version 2) and 2.x from
# /opt/ferry/containerd-2 (config version 3). Each containerd is
# this file's own (socket, root, state and runc root under its temp dir) and is
# killed with its shims in teardown_file. Sandboxes use the host's network (no CNI).
load helpers

setup_file() {
  cri_image_tar "$BATS_FILE_TMPDIR"
}

teardown_file() {
  containerd_stop_all
}

# The sandbox options, given again to create-container.
SANDBOX=(--pod-name web --pod-uid 3f0b5a52-cri-test --pod-namespace default --attempt 0 --host-network
         --pod-label app=web --pod-annotation ferry.dev/test=yes)

# one_lifecycle DIR: the whole life of a pod through the client, with checks.
one_lifecycle() {
  local d=$1 sid cid
  run cri version
  assert_success
  assert_output --partial '"runtimeName":"containerd"'
  assert_output --partial '"runtimeApiVersion":"v1"'

  run cri image-status "$CRI_IMAGE"
  assert_success
  assert_output --partial '"present":true'

  run cri run-sandbox "${SANDBOX[@]}" --log-dir "$d/logs"
  assert_success
  sid=$(json_field id <<<"$output")
  run cri sandbox-status "$sid"
  assert_success
  assert_output --partial '"state":"SANDBOX_READY"'
  assert_output --partial '"name":"web"'
  assert_output --partial '"namespace":"default"'

  run cri create-container "$sid" --name counter --image "$CRI_IMAGE" --log-path counter.log --env GREETING=hi \
    --label app=web "${SANDBOX[@]}" --log-dir "$d/logs" -- /bin/sh -c 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.2; done'
  assert_success
  cid=$(json_field id <<<"$output")
  run cri container-status "$cid"
  assert_output --partial '"state":"CONTAINER_CREATED"'
  run cri start-container "$cid"
  assert_success
  run cri container-status "$cid"
  assert_success
  assert_output --partial '"state":"CONTAINER_RUNNING"'
  assert_output --partial '"name":"counter"'
  [ "$(json_field pid <<<"$output")" -gt 0 ]
  [ "$(json_field startedAt <<<"$output")" -gt 0 ]

  run cri exec-sync "$cid" --exec-timeout 10 -- /bin/sh -c 'echo hello $GREETING; echo oops >&2; exit 3'
  assert_success
  assert_equal "$(json_field stdout <<<"$output")" "hello hi"
  assert_equal "$(json_field stderr <<<"$output")" "oops"
  assert_equal "$(json_field exitCode <<<"$output")" 3

  run cri list-containers "$sid"
  assert_success
  assert_output --partial "\"id\":\"$cid\""
  assert_output --partial '"state":"CONTAINER_RUNNING"'
  wait_for 30 grep -q ' stdout F 3$' "$d/logs/counter.log"

  run cri stop-container "$cid" --stop-timeout 1
  assert_success
  run cri container-status "$cid"
  assert_output --partial '"state":"CONTAINER_EXITED"'
  [ "$(json_field finishedAt <<<"$output")" -gt 0 ]
  assert_equal "$(json_field exitCode <<<"$output")" 137

  run cri remove-container "$cid"
  assert_success
  run cri container-status "$cid"
  assert_failure
  assert_output --partial 'ContainerStatus: grpc status 5 (NotFound):'
  run cri list-containers "$sid"
  assert_output '[]'

  run cri stop-sandbox "$sid"
  assert_success
  run cri sandbox-status "$sid"
  assert_output --partial '"state":"SANDBOX_NOTREADY"'
  run cri remove-sandbox "$sid"
  assert_success
}

# bad_arguments: calls the runtime refuses come back as gRPC errors with their method.
bad_arguments() {
  run cri create-container no-such-sandbox --name x --image "$CRI_IMAGE" "${SANDBOX[@]}"
  assert_failure
  assert_output --regexp 'CreateContainer: grpc status [0-9]+ \([A-Za-z]+\): .*no-such-sandbox'
  run cri run-sandbox "${SANDBOX[@]}" --pod-name other --handler no-such-handler
  assert_failure
  assert_output --regexp 'RunPodSandbox: grpc status [0-9]+ \([A-Za-z]+\): .*no-such-handler'
  run cri exec-sync 0000000000000000 -- true
  assert_failure
  assert_output --partial 'ExecSync: grpc status 5 (NotFound):'
  assert_output --partial '(grpc code 5)'
}

# kept_connection: one client makes several calls, all on the connection it keeps
# (with curl 7.88 every call after the first failed: "Error in the HTTP2 framing layer").
kept_connection() {
  run cri --repeat 3 version
  assert_success
  assert_equal "$(grep -c '"runtimeName":"containerd"' <<<"$output")" 3
  run cri --repeat 4 list-containers
  assert_success
  assert_equal "${#lines[@]}" 4
}

@test "containerd 1.6: version, a pod sandbox, a container runs, exec, stops, is removed" {
  containerd_start /usr/bin 2 "$BATS_FILE_TMPDIR/c16"
  one_lifecycle "$BATS_FILE_TMPDIR/c16"
}

@test "containerd 1.6: bad arguments give the method and the gRPC status" {
  CRI_ENDPOINT="unix://$BATS_FILE_TMPDIR/c16/containerd.sock"
  export CRI_ENDPOINT
  bad_arguments
}

@test "containerd 1.6: one client makes many calls on its kept connection" {
  CRI_ENDPOINT="unix://$BATS_FILE_TMPDIR/c16/containerd.sock"
  export CRI_ENDPOINT
  kept_connection
}

@test "no runtime on the socket: the transport error names the socket" {
  run cri --endpoint "unix://$BATS_TEST_TMPDIR/none.sock" version
  assert_failure
  assert_output --partial "Version: $BATS_TEST_TMPDIR/none.sock: "
  run cri --endpoint tcp://127.0.0.1:1 version
  assert_failure
  assert_output --partial 'only unix sockets are supported'
}

@test "containerd 1.7: the same life of a pod" {
  [ -x "$CONTAINERD17_BIN/containerd" ] || skip "no containerd 1.7 in $CONTAINERD17_BIN (make deps)"
  containerd_start "$CONTAINERD17_BIN" 2 "$BATS_FILE_TMPDIR/c17"
  one_lifecycle "$BATS_FILE_TMPDIR/c17"
}

@test "containerd 2.x: the same life of a pod, bad arguments, many calls on one connection" {
  [ -x "$CONTAINERD2_BIN/containerd" ] || skip "no containerd 2.x in $CONTAINERD2_BIN (make deps)"
  containerd_start "$CONTAINERD2_BIN" 3 "$BATS_FILE_TMPDIR/c2"
  one_lifecycle "$BATS_FILE_TMPDIR/c2"
  bad_arguments
  kept_connection
}
