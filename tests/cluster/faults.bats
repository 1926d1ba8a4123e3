#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Failures while migrating: a restarted controller continues from the status;
# a killed agent and a failed restore end with the pod running once, on its
# source; kube-lite dropping watches and forgetting history changes nothing.
bats_require_minimum_version 1.5.0
load helpers

teardown() {
  cluster_test_teardown
  agent_resume a 2>/dev/null || true
  agent_resume b 2>/dev/null || true
  small_store_gone
}

# The small store of the full-store test: A's agent back on the shared store, the tmpfs gone.
small_store_gone() {
  [ -n "${SMALL_STORE:-}" ] || return 0
  agent_kill a
  sleep 0.5
  agent_start a
  umount "$SMALL_STORE" 2>/dev/null || true
  rmdir "$SMALL_STORE"
  SMALL_STORE=
}

# image_of PM: its image's directory in the shared store (empty when there is none).
image_of() { ls -d "$NODES_STORE/default.$1."* 2>/dev/null; }

@test "the controller killed in each phase: a new one finishes every migration" {
  local phase holder n=0
  for phase in Scheduled Checkpointing Transferring Restoring; do
    n=$((n + 1))
    clear_pods
    counting_pod "r$n" 64
    # hold the migration in the phase: stop the agent that moves it on
    case $phase in
      Scheduled) holder=a; agent_pause a ;;
      Transferring) holder=b; agent_pause b ;;
      *) holder= ;;
    esac
    migrate "r$n" node-b
    wait_phase_seen "m-r$n" "$phase"
    case $phase in
      Checkpointing) holder=a; agent_pause a ;;
      Restoring) holder=b; agent_pause b ;;
    esac
    controller_kill 1
    [ "$(pm_phase "m-r$n")" = "$phase" ]
    controller_start 1
    agent_resume "$holder"
    wait_phase "m-r$n" Succeeded
    after=$(count_served "$(target_ip "m-r$n")")
    [ -n "$after" ] && [ "$after" -ge "$before" ]
    wait_for 100 eval '! k get pod "r$n" >/dev/null 2>&1'
  done
}

@test "the source agent killed mid-checkpoint: rolled back, the pod runs on its source" {
  clear_pods
  web_pod k1 256
  src=$(ip_of k1)
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  migrate k1 node-b
  wait_phase_seen m-k1 Checkpointing
  # the agent's pod dies: the daemon, its checkpoint child, runc and CRIU with it
  agent_kill a
  agent_start a
  wait_phase m-k1 RolledBack
  run k get pm m-k1 -o jsonpath='{.status.rollbackFrom} {.status.message}'
  assert_output --partial "Checkpointing"
  # exactly one copy, on A, reachable, counting on
  [ "$(running_on a k1)" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  c1=$(count_on "$src")
  sleep 0.3
  c2=$(count_on "$src")
  [ -n "$c1" ] && [ "$c2" -gt "$c1" ]
  # the target pod is gone; the outcome is on the pod
  wait_for 50 eval '[ "$(k get pods -o name)" = pod/k1 ]'
  run k get pod k1 -o jsonpath='{.metadata.annotations.ferry\.dev/migration-result}'
  assert_output --partial "RolledBack"
}

@test "a failed restore on the target: the held source resumes, the pod runs once, on its source" {
  clear_pods
  counting_pod f1 16
  # on B, ferry-runc's CRIU cannot run: the kubelet's create of the restored container fails
  kubelet_kill b
  kubelet_start b FERRY_CRIU=/nonexistent/criu
  migrate f1 node-b
  wait_phase m-f1 RolledBack
  run k get pm m-f1 -o jsonpath='{.status.rollbackFrom}'
  assert_output "Restoring"
  run pm_condition m-f1 SourceHeld
  assert_output "True Paused"
  run k describe pm m-f1
  assert_output --partial "RestoreFailed"
  assert_output --partial "ferry-runc"
  assert_output --partial "the held source container was resumed on node-a"
  [ "$(running_on a f1)" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  after=$(count_served "$src")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  wait_for 50 eval '[ "$(k get pods -o name)" = pod/f1 ]'
  kubelet_kill b
  kubelet_start b
}

@test "an image damaged after the checkpoint: refused by B's ferry-runc; the held source resumes on A, its memory whole" {
  clear_pods
  counting_pod f2 16
  # B's kubelet is away while the image waits in the store: it is damaged there
  kubelet_kill b
  migrate f2 node-b
  wait_for 200 eval '[ -n "$(image_of m-f2)" ] && [ -n "$(k get pm m-f2 -o jsonpath={.status.image})" ]'
  [ "$(running_on a f2)" = paused ]
  pages=$(ls "$(image_of m-f2)"/criu/pages-*.img | head -1)
  dd if=/dev/urandom of="$pages" bs=4096 count=1 conv=notrunc status=none
  kubelet_start b
  wait_phase m-f2 RolledBack
  run k describe pm m-f2
  assert_output --regexp "refused: .*/criu/pages-[0-9]+.img: decoded to [0-9]+ bytes with SHA-256 .*, the manifest says"
  assert_output --partial "the held source container was resumed on node-a"
  [ "$(running_on a f2)" = running ]
  [ -z "$(runc --root "$(nodes_root b)" list -q)" ]
  after=$(count_served "$src")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  wait_for 50 eval '[ "$(k get pods -o name)" = pod/f2 ]'
}

@test "the source agent killed after the dump, before the image was published: a step finishes the image from the dump, the move goes on" {
  clear_pods
  counting_pod fk 64
  id=$(runc --root "$(nodes_root a)" list -q | grep "^fk-main-")
  # a 512 MiB file in its root filesystem keeps the checkpoint step busy after the dump
  rootfs=$(runc --root "$(nodes_root a)" state "$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["rootfs"])')
  dd if=/dev/zero of="$rootfs/big" bs=1M count=512 status=none
  # with file locks the source is not held: the dump ends it, its image is the one copy
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: m-fk}\nspec: {pod: fk, targetNode: node-b, options: {fileLocks: true}}\n' | k apply -f -
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 600 eval 'grep -qs "Dumping finished successfully" "$(nodes_work a)"/default.m-fk.*/dump/dump.log'
  agent_kill a
  ls -d "$NODES_STORE"/.default.m-fk.*.tmp-* # the dump, not published
  agent_start a
  wait_phase m-fk Succeeded 600
  run k describe pm m-fk
  assert_output --partial "finishing the image from the dump"
  dst=$(target_ip m-fk)
  after=$(count_served "$dst")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  [ -z "$(running_on a fk)" ]
  [ -z "$(ls -d "$NODES_STORE"/.default.m-fk.*.tmp-* 2>/dev/null)" ]
}

@test "images: a rolled-back migration's image stays, a succeeded one goes (MigrationPolicy imageRetention count 0)" {
  clear_pods
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: MigrationPolicy\nmetadata: {name: keep-none}\nspec: {imageRetention: {count: 0}}\n' | k apply -f -
  counting_pod g1 16
  kubelet_kill b
  kubelet_start b FERRY_CRIU=/nonexistent/criu
  migrate g1 node-b
  wait_phase m-g1 RolledBack
  kubelet_kill b
  kubelet_start b
  run k get pm m-g1 -o jsonpath='{.status.imageRetention.count}'
  assert_output 0
  [ -n "$(image_of m-g1)" ]
  wait_for 50 eval '[ "$(k get pods -o name)" = pod/g1 ]'
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: again-g1}\nspec: {pod: g1, targetNode: node-b}\n' | k apply -f -
  wait_phase again-g1 Succeeded
  # the agents' collector removes the succeeded one (an event says why) and, in the same passes, keeps the other
  wait_for 100 eval '[ -z "$(image_of again-g1)" ]'
  run k describe pm again-g1
  assert_output --partial "ImageCollected"
  assert_output --partial "image retention count 0"
  [ -n "$(image_of m-g1)" ]
  grep -q "collector: removed image default.again-g1" "$CLUSTER_DIR"/agent-*.log
  port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$CLUSTER_DIR/agent-b.log" | tail -1)
  run curl -sf "http://127.0.0.1:$port/metrics"
  assert_output --regexp 'ferry_agent_store_images\{node="node-b"\} [0-9]+'
  assert_output --regexp 'ferry_agent_store_free_bytes\{node="node-b"\} [1-9]'
  k delete migrationpolicy keep-none
}

@test "a full store: the checkpoint is refused before the freeze (StoreFull), the pod counts on; a store below its floor is refused by the controller" {
  clear_pods
  SMALL_STORE=$(mktemp -d /tmp/ferry-small-store.XXXXXX)
  mount -t tmpfs -o size=40m tmpfs "$SMALL_STORE"
  head -c 20M /dev/zero >"$SMALL_STORE/filler" # 20 MiB free: above the 8 MiB floor, not room for the pod too
  agent_kill a
  sleep 0.5
  agent_start a --store "dir://$SMALL_STORE" --store-min-free 8Mi
  counting_pod s1 16
  migrate s1 node-b
  wait_phase m-s1 Failed
  run k get pm m-s1 -o jsonpath='{.status.reason}: {.status.message}'
  assert_output --regexp "^StoreFull: node-a's image store has [0-9.]+ MiB free; the pod needs about [0-9.]+ MiB, which would leave less than --store-min-free 8 MiB$"
  # nothing was frozen or written: no Checkpointing, no image; the pod runs on A and its count goes on
  run k get pm m-s1 -o jsonpath='{.status.frozenAt}{.status.image}'
  assert_output ""
  run k describe pm m-s1
  refute_output --partial "Checkpointing"
  [ "$(running_on a s1)" = running ]
  wait_for 50 eval '[ "$(count_on "$src")" -gt "$before" ]'
  [ -z "$(find "$SMALL_STORE" -mindepth 1 ! -name filler)" ] # no image, not even a partial one
  # below the floor itself: the Lease says so and the controller refuses before it schedules
  head -c 16M /dev/zero >"$SMALL_STORE/filler2"
  agent_kill a
  sleep 0.5
  agent_start a --store "dir://$SMALL_STORE" --store-min-free 8Mi
  wait_for 100 eval 'k get lease -n ferry-system ferry-agent-node-a -o jsonpath="{.metadata.annotations.ferry\.dev/store}" | grep -q "\"full\":true"'
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: full-s1}\nspec: {pod: s1, targetNode: node-b}\n' | k apply -f -
  wait_phase full-s1 Failed
  run k get pm full-s1 -o jsonpath='{.status.reason}: {.status.message}'
  assert_output --regexp "^StoreFull: node-a's image store has [0-9.]+ MiB free, below its agent's --store-min-free 8 MiB$"
  [ "$(running_on a s1)" = running ]
  run k get pod s1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
  assert_output True
}

# user_pod NAME SECURITY_CONTEXT CMD: the counting web pod on node-a, its
# container's securityContext (the pod's says runAsUser 1000: the container's
# wins), running CMD; sets src, before and ctr (its container ID) once it counts.
user_pod() {
  local name=$1 # (eval in wait_for sees locals, not $1)
  k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app: $name}}
spec:
  nodeName: node-a
  runtimeClassName: ferry
  terminationGracePeriodSeconds: 2
  securityContext: {runAsUser: 1000}
  containers: [{name: main, image: ferry/workload, securityContext: $2, command: [sh, -c, "$3"]}]
Y
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 200 eval '[ "$(k get pod "$name" -o jsonpath="{.status.containerStatuses[0].ready}" 2>/dev/null)" = true ]'
  src=$(ip_of "$name")
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 100 eval '[ -n "$(count_on "$src")" ]'
  before=$(count_on "$src")
  ctr=$(k get pod "$name" -o jsonpath='{.status.containerStatuses[0].containerID}')
}

# never_frozen POD PM: PM Failed CannotCheckpoint before any freeze: no
# Checkpointing, no freeze time, no image; POD's container the same, running
# (never paused) and counting on, Ready again.
never_frozen() {
  local pod=$1
  run k get pm "$2" -o jsonpath='{.status.frozenAt}{.status.image}'
  assert_output ""
  run k describe pm "$2"
  refute_output --partial "Checkpointing"
  assert_output --regexp "Warning +CannotCheckpoint"
  [ "$(k get pod "$1" -o jsonpath='{.status.containerStatuses[0].containerID}/{.status.containerStatuses[0].restartCount}')" = "$ctr/0" ]
  [ "$(running_on a "$1")" = running ]
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 50 eval '[ "$(count_on "$src")" -gt "$before" ]'
  [ "$(running_on a "$1")" = running ]
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 100 eval '[ "$(k get pod "$pod" -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}")" = True ]'
}

@test "a non-root container this node's CRIU cannot dump (no CAP_SYS_RESOURCE): refused before the freeze (CannotCheckpoint) by the controller, and by the agent when only a process of it says so" {
  # CRIU reads each process's rlimits (prlimit), which for a non-root process takes CAP_SYS_RESOURCE
  (($(grep CapEff /proc/self/status | awk '{print $2}' | sed 's/^/0x/') & (1 << 24))) &&
    skip "this machine's root has CAP_SYS_RESOURCE: its CRIU dumps non-root processes"
  clear_pods
  # the agent's node check, in its Lease, says so
  run k get lease -n ferry-system ferry-agent-node-a -o jsonpath='{.metadata.annotations.ferry\.dev/node-check}'
  assert_success
  run python3 -c 'import json, sys; c = json.loads(sys.argv[1]); n = c["nonRootContainers"]
print(n["ok"], n["reason"], c["strategies"]["stopAndCopy"]["ok"], c["criu"])' "$output"
  assert_output --regexp "^False this node's CRIU lacks CAP_SYS_RESOURCE True [0-9.]+$"
  # securityContext runAsUser 999: kubelet-lite runs it as uid 999; the controller refuses
  user_pod u1 "{runAsUser: 999}" "workload --mem 16 & exec httpd -f -p 8080 -h /www"
  pid=$(runc --root "$(nodes_root a)" state "${ctr#*://}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
  grep -q "^Uid:.999.999.999.999$" "/proc/$pid/status"
  migrate u1 node-b
  wait_phase m-u1 Failed
  run k get pm m-u1 -o jsonpath='{.status.reason}: {.status.message}'
  assert_output "CannotCheckpoint: container main runs as uid 999 and node-a's CRIU lacks CAP_SYS_RESOURCE (it cannot dump a non-root process's rlimits)"
  run k get pm m-u1 -o jsonpath='{.status.sourceNode}{.status.targetPod}'
  assert_output "" # refused before it was scheduled: no target pod made
  never_frozen u1 m-u1
  # root by its securityContext, but one of its processes runs as uid 999 (runc
  # exec --user: runc's default spec leaves a container no CAP_SETUID to drop to
  # it itself): the controller cannot see it, the source agent finds it among
  # the container's processes (its cgroup's)
  user_pod u2 "{runAsUser: 0}" "workload --mem 16 & exec httpd -f -p 8080 -h /www"
  runc --root "$(nodes_root a)" exec -d --user 999:999 "${ctr#*://}" sleep 100000
  migrate u2 node-b
  wait_phase m-u2 Failed
  run k get pm m-u2 -o jsonpath='{.status.reason}: {.status.message}'
  assert_output --regexp "^CannotCheckpoint: container main runs as uid 999 \(process [0-9]+, sleep\) and node-a's CRIU lacks CAP_SYS_RESOURCE \(it cannot dump a non-root process's rlimits\)$"
  never_frozen u2 m-u2
}

@test "kube-lite drops every watch and forgets its history mid-migration: same outcome" {
  clear_pods
  web_pod w1 16
  wait_for 100 eval '[ -n "$(count_on "$(ip_of w1)")" ]'
  agent_pause b
  migrate w1 node-b
  wait_phase_seen m-w1 Transferring
  kl_fault '{"dropWatches":true,"forgetHistory":true}'
  kl_fault '{"failWrites":2,"code":409}'
  agent_resume b
  wait_phase m-w1 Succeeded
  [ -n "$(count_on "$(target_ip m-w1)")" ]
  grep -q 'is too old.*listing again' "$CLUSTER_DIR"/controller-1.log "$CLUSTER_DIR"/agent-*.log
}

@test "two controller replicas: only the leader acts; killing it hands over" {
  clear_pods
  controller_start 2
  sleep 1
  holder=$(k get lease -n ferry-system ferry-controller -o jsonpath='{.spec.holderIdentity}')
  [ "$holder" = controller-1 ]
  web_pod l1 16
  wait_for 100 eval '[ -n "$(count_on "$(ip_of l1)")" ]'
  agent_pause a
  migrate l1 node-b
  wait_phase_seen m-l1 Scheduled
  run grep -c 'moving pod l1' "$CLUSTER_DIR/controller-2.log"
  assert_output 0
  controller_kill 1
  agent_resume a
  wait_phase m-l1 Succeeded
  run k get lease -n ferry-system ferry-controller -o jsonpath='{.spec.holderIdentity}'
  assert_output controller-2
  grep -q 'leading: reconciling' "$CLUSTER_DIR/controller-2.log"
  controller_start 1
}
