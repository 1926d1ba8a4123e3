#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The cluster of scripts/lib/cluster.sh on a real container runtime: each node
# runs containerd CONTAINERD (1.6 unless the variable says 1.7 or 2; tests/run
# runs this file on 1.6 and on 2.x) configured by deploy/containerd's
# add-ferry-runtime.sh (scripts/lib/containerd.sh: in the node's network
# namespace, the handler ferry, CNI bridge + host-local on the cluster network,
# images imported from OCI layout tars of the nodes' base root filesystem) and
# kubelet-lite runs the pods through its CRI (--container-runtime-endpoint).
# Pods of RuntimeClass ferry move with their state: annotated (the Service
# follows), a Deployment's, by postCopy; a failed restore on node-b rolls back
# through node-a's containerd (the pod's next container restored by ferry-runc).
# CRI itself is asked what runs where. Every containerd, shim and pod network
# namespace goes in teardown_file (cluster_teardown).
bats_require_minimum_version 1.5.0
load helpers

CONTAINERD=${CONTAINERD:-1.6}

setup_file() {
  export CLUSTER_CRI=$CONTAINERD NODES_TAG="d$$" NODES_NET=10.231.7
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
  agent_resume b 2>/dev/null || true
  k delete pm --all --wait=false >/dev/null 2>&1 || true
  k delete deploy --all >/dev/null 2>&1 || true
  k delete svc --all >/dev/null 2>&1 || true
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

# cri_states NODE POD: the CRI states of the pod's containers on node-NODE, one per line.
cri_states() {
  cri_on "$1" list-containers | python3 -c '
import json, sys
for c in json.load(sys.stdin):
    if c.get("podName") == sys.argv[1]:
        print(c["state"])' "$2"
}

# sandboxes_of NODE POD: the CRI sandboxes of the pod (by its uid label) on node-NODE: "STATE ID" per line.
sandboxes_of() {
  cri_on "$1" list-sandboxes --pod-label "io.kubernetes.pod.uid=$(k get pod "$2" -o jsonpath='{.metadata.uid}')" |
    python3 -c 'import json, sys; [print(s["state"], s["id"]) for s in json.load(sys.stdin)]'
}

# live_pods APP: the pods of label app=APP not being deleted.
live_pods() { k get pods -l "app=$1" -o json | python3 -c 'import json,sys; print(" ".join(p["metadata"]["name"] for p in json.load(sys.stdin)["items"] if not p["metadata"].get("deletionTimestamp")))'; }

# moved_and_counting PM: Succeeded; the target pod runs on node-b and counts on from $before.
moved_and_counting() {
  wait_phase "$1" Succeeded 600
  dst=$(target_ip "$1")
  target=$(k get pm "$1" -o jsonpath='{.status.targetPod}')
  run k get pod "$target" -o jsonpath='{.spec.nodeName} {.status.phase} {.status.podIP}'
  assert_output "node-b Running $dst"
  after=$(count_served "$dst")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
}

@test "containerd $CONTAINERD: a pod of RuntimeClass ferry runs through CRI and counts" {
  counting_pod web
  [ -n "$before" ]
  [[ $src == "$NODES_NET".* ]]
  run k get node node-a -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}'
  assert_output --partial "containerd://$CONTAINERD"
  run k get nodes -o wide
  assert_line --regexp "^node-a +Ready .* $NODES_ADDR_A +<none> +.* $(uname -r) +containerd://$CONTAINERD"
  id=$(container_of web)
  run cri_on a container-status "$id"
  assert_success
  assert_output --regexp '"state": ?"CONTAINER_RUNNING"'
  # made by ferry-runc under the handler's root, which the agent is given
  runc --root "$(containerd_node_runc_root a)" list | grep -q "^$id .*running"
  grep -q "io.kubernetes.cri.sandbox-name.*web" "$(containerd_node_dir a)"/state/io.containerd.runtime.v2.task/k8s.io/"$id"/config.json
  run k get pod web -o jsonpath='{.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount}'
  assert_output "Running true 0"
  # the node was prepared by the chart's node setup: the host bundle's ferry-runc is the handler
  local d
  d=$(containerd_node_dir a)
  run grep -c "BinaryName = \"$d/host/opt/ferry/bin/ferry-runc\"" "$d/config.toml"
  assert_output 1
  grep -q "^install-host: ferry-runc and CRIU 4\.2[.0-9]* in $d/host/opt/ferry " "$d/node-setup-install.log"
  run grep -c "^node-setup: the containerd handler ferry was added" "$d/node-setup-runtime.log"
  assert_output 2 # the handler, then this machine's settings
}

@test "containerd $CONTAINERD: kubelet-lite restarted takes its pods back from CRI: same container, restartCount 0, one sandbox; a pod deleted meanwhile is removed" {
  counting_pod keep
  id=$(container_of keep)
  sandbox=$(sandboxes_of a keep)
  [[ $sandbox == "SANDBOX_READY "* ]]
  web_pod gone
  gone_uid=$(k get pod gone -o jsonpath='{.metadata.uid}')
  gone_id=$(container_of gone)
  kubelet_kill a
  k delete pod gone --grace-period=0 --force >/dev/null 2>&1
  kubelet_start a
  wait_for 100 eval 'grep -q "pod default/keep: taken back from the runtime" "$CLUSTER_DIR/kubelet-a.log"'
  # the pod carries on: its container, address and restart count, still counting upward
  wait_for 100 eval '[ -n "$(count_on "$src")" ] && [ "$(count_on "$src")" -gt "$before" ]'
  run k get pod keep -o jsonpath='{.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].containerID} {.status.podIP}'
  assert_output "Running true 0 containerd://$id $src"
  # one sandbox (the same) and one container of it in CRI
  run sandboxes_of a keep
  assert_output "$sandbox"
  run cri_states a keep
  assert_output "CONTAINER_RUNNING"
  run grep -c "pod default/keep: sandbox:" "$CLUSTER_DIR/kubelet-a.log"
  assert_output 0
  # the pod deleted while kubelet-lite was down: its sandbox and container removed
  # (by the sweep after the pods were taken back; it says so once done)
  wait_for 100 eval 'grep -q "pod default/gone: sandbox .*: stopped and removed" "$CLUSTER_DIR/kubelet-a.log"'
  run cri_on a container-status "$gone_id"
  assert_failure
  assert_output --partial 'NotFound'
  [ -z "$(cri_on a list-sandboxes --pod-label "io.kubernetes.pod.uid=$gone_uid" | python3 -c 'import json, sys; print(*json.load(sys.stdin))')" ]
  # a pod made afterwards runs
  counting_pod fresh
  run cri_states a fresh
  assert_output "CONTAINER_RUNNING"
  k delete pod keep fresh --wait=false
  wait_for 150 eval '! k get pod keep >/dev/null 2>&1 && ! k get pod fresh >/dev/null 2>&1'
  run cri_states a keep
  assert_output ""
  # the first test's pod, taken back too, still runs
  run k get pod web -o jsonpath='{.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount}'
  assert_output "Running true 0"
}

@test "containerd $CONTAINERD: the annotated pod moves to node-b and counts on; its Service follows; held paused on A until B runs, then stopped; RUNNING on B" {
  src=$(ip_of web)
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n' | k apply -f -
  k label pod web app=web
  wait_for 50 eval '[ "$(k get endpoints web -o jsonpath="{.subsets[0].addresses[*].ip}")" = "$src" ]'
  before=$(count_on "$src")
  [ -n "$before" ]
  id=$(container_of web)
  # stopped once checkpointed: node-b's agent does not take the image yet
  agent_pause b
  annotate_move web node-b
  wait_phase_seen "$pm" Transferring
  # the checkpointed container is held paused (and whole) under containerd's runc root, RUNNING to CRI
  wait_for 100 eval '[ -n "$(k get pm "$pm" -o jsonpath="{.status.image}")" ]'
  runc --root "$(containerd_node_runc_root a)" list | grep -q "^$id .*paused"
  run cri_states a web
  assert_output "CONTAINER_RUNNING"
  agent_resume b
  moved_and_counting "$pm"
  # stopped by A's agent once B ran, before the move ended
  run pm_condition "$pm" SourceReleased
  assert_output "True Stopped"
  id=$(container_of "$target")
  run cri_on b container-status "$id"
  assert_output --regexp '"state": ?"CONTAINER_RUNNING"'
  run cri_on b exec-sync "$id" --exec-timeout 10 -- /bin/sh -c 'wget -q -O - http://127.0.0.1:8080/count'
  assert_success
  assert_output --regexp '"exitCode": ?0'
  assert_output --regexp '"stdout": ?"[0-9]+'
  # the pod's network namespace is containerd's (under its state)
  grep -q " $(containerd_node_dir b)/state/[^ ]*/netns/" /proc/mounts
  # the Service's one endpoint is the moved pod
  wait_for 50 eval '[ "$(k get endpoints web -o jsonpath="{.subsets[0].addresses[*].ip}")" = "$dst" ]'
  wait_for 100 eval '! k get pod web >/dev/null 2>&1'
  run cri_states a web
  assert_output ""
}

@test "containerd $CONTAINERD: a deleted pod's container is stopped and its sandbox removed" {
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

@test "containerd $CONTAINERD: a Deployment's pod moves: its ReplicaSet's replacement is restored on node-b" {
  cluster_deployment dep 16
  src_pod=$(live_pods dep)
  src=$(ip_of "$src_pod")
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  before=$(count_on "$src")
  annotate_move "$src_pod" node-b
  moved_and_counting "$pm"
  [ "$target" != "$src_pod" ]
  echo "# containerd $CONTAINERD: stopAndCopy downtime $(k get pm "$pm" -o jsonpath='{.status.freezeMillis}') ms (16 MiB)" >&3
  run k get pod "$target" -o jsonpath='{.metadata.ownerReferences[0].kind} {.metadata.annotations.ferry\.dev/migration-result}'
  assert_output --regexp "^ReplicaSet Succeeded: "
  wait_for 100 eval '[ "$(live_pods dep)" = "$target" ]'
  run cri_states b "$target"
  assert_output "CONTAINER_RUNNING"
  wait_for 100 eval '[ -z "$(cri_states a "$src_pod")" ]'
}

@test "containerd $CONTAINERD: postCopy: the pod runs on node-b while its memory follows" {
  clear_pods 150
  counting_pod lazy 64
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: lazy-1}\nspec: {pod: lazy, targetNode: node-b, strategy: postCopy}\n' | k apply -f -
  before=$(count_on "$src")
  moved_and_counting lazy-1
  run k get pm lazy-1 -o jsonpath='{.status.strategy} {.status.conditions[?(@.type=="MemoryTransferred")].status} {.status.conditions[?(@.type=="SourceReleased")].status}'
  assert_output "postCopy True True"
  [ "$(k get pm lazy-1 -o jsonpath='{.status.bytesMoved.afterRestore}')" -ge $((64 << 20)) ]
  echo "# containerd $CONTAINERD: postCopy downtime $(k get pm lazy-1 -o jsonpath='{.status.freezeMillis}') ms (64 MiB)" >&3
  run cri_states b "$target"
  assert_output "CONTAINER_RUNNING"
  wait_for 100 eval '! k get pod lazy >/dev/null 2>&1'
}

@test "containerd $CONTAINERD: a failed restore on node-b rolls back through node-a's containerd: one copy, on A, its state kept" {
  clear_pods 150
  counting_pod f1 16
  id=$(container_of f1)
  # node-b's containerd restarted with an environment in which ferry-runc's CRIU cannot run
  containerd_node_restart b FERRY_CRIU=/nonexistent/criu
  # with file locks the source is not held: the dump stops it, a rollback restores it
  agent_pause b
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: m-f1}\nspec: {pod: f1, targetNode: node-b, options: {fileLocks: true}}\n' | k apply -f -
  wait_phase_seen m-f1 Transferring
  # the checkpointed container ended in containerd
  wait_for 100 eval 'cri_on a container-status "$id" | grep -Eq "\"state\": ?\"CONTAINER_EXITED\""'
  # the kubelet's restart of it was refused by ferry-runc: its one container on A is the exited attempt
  wait_for 100 eval '[ "$(k get pod f1 -o jsonpath="{.status.containerStatuses[0].state.waiting.reason}")" = RunContainerError ]'
  run k get pod f1 -o jsonpath='{.status.containerStatuses[0].state.waiting.message}'
  assert_output --partial "was checkpointed by PodMigration default/m-f1"
  run cri_states a f1
  assert_output "CONTAINER_EXITED"
  agent_resume b
  wait_phase m-f1 RolledBack 900
  run k get pm m-f1 -o jsonpath='{.status.rollbackFrom} {.status.message}'
  assert_output "Restoring running again on node-a"
  run k describe pm m-f1
  assert_output --partial "RestoreFailed"
  assert_output --partial "by its container runtime"
  # the source pod's next container is the restored one: it counts on from before
  run k get pod f1 -o jsonpath='{.spec.nodeName} {.status.phase} {.metadata.annotations.ferry\.dev/restore-from}'
  assert_output "node-a Running default/m-f1"
  after=$(count_served "$src")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  # exactly one copy: one running container of f1 on A (the checkpointed one gone or exited), none on B
  run cri_states a f1
  assert_line "CONTAINER_RUNNING"
  [ "$(cri_states a f1 | grep -c CONTAINER_RUNNING)" = 1 ]
  run cri_states b f1-ferry
  assert_output ""
  [ "$(k get pods -o name)" = pod/f1 ]
  containerd_node_restart b
}

@test "containerd $CONTAINERD: a pod's securityContext.runAsUser reaches CRI: its process runs as that uid; a node without CAP_SYS_RESOURCE refuses its move before the freeze" {
  clear_pods 150
  k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: nr, labels: {app: nr}}
spec:
  nodeName: node-a
  runtimeClassName: ferry
  terminationGracePeriodSeconds: 2
  securityContext: {runAsUser: 999, runAsGroup: 998}
  containers: [{name: main, image: ferry/workload, command: [sh, -c, "sleep 100000"]}]
Y
  wait_for 300 eval '[ "$(k get pod nr -o jsonpath="{.status.containerStatuses[0].ready}" 2>/dev/null)" = true ]'
  id=$(container_of nr)
  pid=$(runc --root "$(containerd_node_runc_root a)" state "$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
  grep -q "^Uid:.999.999.999.999$" "/proc/$pid/status"
  grep -q "^Gid:.998.998.998.998$" "/proc/$pid/status"
  (($(grep CapEff /proc/self/status | awk '{print $2}' | sed 's/^/0x/') & (1 << 24))) && skip "this root has CAP_SYS_RESOURCE: its CRIU dumps non-root processes"
  migrate nr node-b
  wait_phase m-nr Failed
  run k get pm m-nr -o jsonpath='{.status.reason}: {.status.message}'
  assert_output "CannotCheckpoint: container main runs as uid 999 and node-a's CRIU lacks CAP_SYS_RESOURCE (it cannot dump a non-root process's rlimits)"
  run k get pm m-nr -o jsonpath='{.status.frozenAt}{.status.image}'
  assert_output ""
  run cri_states a nr
  assert_output "CONTAINER_RUNNING"
}
