#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The cluster of scripts/lib/cluster.sh with CLUSTER_CRI=1.6: each node runs
# bookworm's containerd 1.6 (scripts/lib/containerd.sh: in the node's network
# namespace, the handler ferry from deploy/containerd, CNI bridge + host-local on
# the cluster network, images imported from OCI layout tars of the nodes' base
# root filesystem) and kubelet-lite runs the pods through its CRI
# (--container-runtime-endpoint). A pod of RuntimeClass ferry runs and counts;
# CRI shows its container RUNNING under the handler's runc root; annotated, it
# moves to node-b and counts on there. Every containerd, shim and pod network
# namespace goes in teardown_file (cluster_teardown).
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  export CLUSTER_CRI=1.6 NODES_TAG="d$$" NODES_NET=10.231.7
  cluster_setup "$BATS_FILE_TMPDIR/cluster"
  export CLUSTER_DIR CLUSTER_BIN KUBECONFIG
  nodes_export
}

teardown() {
  if test_failed; then
    cluster_diagnose
    local n
    for n in a b; do
      echo "--- kubelet-$n"
      tail -30 "$CLUSTER_DIR/kubelet-$n.log"
      echo "--- containerd $n"
      tail -15 "$(containerd_node_dir "$n")/containerd.log"
    done
  fi
}

# cri_on NODE ARGS...: tests/tools/cri-client against node-NODE's containerd.
cri_on() { "$FERRY_BUILD/tests/tools/cri-client" --endpoint "$(containerd_node_endpoint "$1")" "${@:2}"; }

# container_of POD: the CRI ID of the pod's container (its containerID without containerd://).
container_of() {
  local id
  id=$(k get pod "$1" -o jsonpath='{.status.containerStatuses[0].containerID}')
  [[ $id == containerd://* ]] || { echo "containerID: $id" >&2; return 1; }
  echo "${id#containerd://}"
}

@test "kubelet-lite in CRI mode: a pod of RuntimeClass ferry runs through containerd 1.6 and counts" {
  counting_pod web
  [ -n "$before" ]
  [[ $src == "$NODES_NET".* ]]
  run k get node node-a -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}'
  assert_output --partial "containerd://1.6"
  id=$(container_of web)
  run cri_on a container-status "$id"
  assert_success
  assert_output --regexp '"state": ?"CONTAINER_RUNNING"'
  # made by ferry-runc under the handler's root, which the agent is given
  runc --root "$(containerd_node_runc_root a)" list | grep -q "^$id .*running"
  grep -q "io.kubernetes.cri.sandbox-name.*web" "$(containerd_node_dir a)"/state/io.containerd.runtime.v2.task/k8s.io/"$id"/config.json
  run k get pod web -o jsonpath='{.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount}'
  assert_output "Running true 0"
}

@test "CRI mode: the annotated pod moves to node-b and counts on" {
  src=$(ip_of web)
  before=$(count_on "$src")
  [ -n "$before" ]
  annotate_move web node-b
  wait_phase "$pm" Succeeded 600
  dst=$(target_ip "$pm")
  target=$(k get pm "$pm" -o jsonpath='{.status.targetPod}')
  run k get pod "$target" -o jsonpath='{.spec.nodeName} {.status.phase} {.status.podIP}'
  assert_output "node-b Running $dst"
  after=$(count_on "$dst")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  id=$(container_of "$target")
  grep -q " $(containerd_node_dir b)/state/[^ ]*/netns/" /proc/mounts
  run cri_on b container-status "$id"
  assert_output --regexp '"state": ?"CONTAINER_RUNNING"'
  run k get pm "$pm" -o jsonpath='{.status.freezeMillis}'
  echo "# downtime ${output} ms" >&3
  wait_for 100 eval '! k get pod web >/dev/null 2>&1'
}

@test "CRI mode: a deleted pod's container is stopped and its sandbox removed" {
  target=$(k get pods -o jsonpath='{.items[0].metadata.name}')
  id=$(container_of "$target")
  k delete pod "$target" --wait=false
  wait_for 150 eval '! k get pod "$target" >/dev/null 2>&1'
  run cri_on b container-status "$id"
  assert_failure
  assert_output --partial 'NotFound'
  # its network namespace (containerd mounts them under its state: netns_mounts_under_state_dir) is gone
  run grep -c " $(containerd_node_dir b)/state/[^ ]*/netns/" /proc/mounts
  assert_output 0
}
