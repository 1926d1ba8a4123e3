#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# PodMigrations end to end: kube-lite, ferry-controller, two ferry-agent daemons,
# real runc and CRIU on two network-namespace nodes; the kubectl plugin's commands (kubectl ferry) against them.
bats_require_minimum_version 1.5.0
load helpers

# controller_metrics FILE: the leading controller replica's /metrics into FILE.
controller_metrics() {
  local i port
  for i in 1 2; do
    [ -f "$CLUSTER_DIR/controller-$i.log" ] || continue
    port=$(sed -n 's/.*\/metrics on http.*(port \([0-9]*\)).*/\1/p' "$CLUSTER_DIR/controller-$i.log" | tail -1)
    curl -sf "http://127.0.0.1:$port/metrics" >"$1" && grep -q '^ferry_controller_leader 1$' "$1" && return 0
  done
  return 1
}
# agent_metrics a|b FILE: that node's agent's /metrics into FILE.
agent_metrics() {
  local port
  port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$CLUSTER_DIR/agent-$1.log" | tail -1)
  curl -sf "http://127.0.0.1:$port/metrics" >"$2"
}
# metric FILE PREFIX: the sum of the series whose name and labels begin with PREFIX (0 for none).
metric() { awk -v p="$2" 'index($1, p) == 1 { s += $2 } END { print s + 0 }' "$1"; }

@test "ferry.dev/migrate-to=auto: Succeeded, state intact on B, the Service's endpoints follow" {
  web_pod web
  src=$(ip_of web)
  external_service web-ext "$src"
  # and one with a selector, whose endpoints the endpoints controller keeps
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n' | k apply -f -
  wait_for 50 eval '[ "$(k get endpointslice web-kcm -o jsonpath="{.endpoints[0].addresses[0]}")" = "$src" ]'
  wait_for 100 eval '[ -n "$(http "$src" /count)" ]'
  before=$(http "$src" /count)
  annotate_move web auto
  wait_phase "$pm" Succeeded
  # the count goes on from where it was, at the new pod's address; the old one is silent
  dst=$(target_ip "$pm")
  after=$(http "$dst" /count)
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  run http "$src" /count
  assert_failure
  run k get pm "$pm" -o jsonpath='{.status.sourceNode} {.status.targetNode} {.status.reason}'
  assert_output "node-a node-b Succeeded"
  run k get pm "$pm" -o jsonpath='{.status.freezeMillis}'
  [ "$output" -gt 0 ]
  # a whole image: the source was held paused and whole until B ran, then stopped
  run k get pm "$pm" -o jsonpath='{.status.strategy}'
  assert_output stopAndCopy
  run pm_condition "$pm" SourceHeld
  assert_output "True Paused"
  run pm_condition "$pm" SourceReleased
  assert_output "True Stopped"
  # the restored pod: bound to B by its agent, run by B's kubelet through ferry-runc, same labels; the source pod gone
  target=$(k get pm "$pm" -o jsonpath='{.status.targetPod}')
  run k get pod "$target" -o jsonpath='{.spec.nodeName} {.spec.schedulerName} {.spec.runtimeClassName} {.metadata.labels.app} {.status.phase} {.status.podIP}'
  assert_output "node-b ferry ferry web Running $dst"
  grep -q "ferry-runc: restored default/$target container" "$NODES_DIR"/b/kubelet/pods/*/main.runtime.log
  wait_for 100 eval '! k get pod web >/dev/null 2>&1'
  [ -z "$(running_on a web)" ]
  run k get pod "$target" -o jsonpath='{.metadata.annotations.ferry\.dev/migration-result}'
  assert_output --partial "Succeeded"
  # the selector-less Service's endpoints point at B, and the status says so
  run k get endpointslice web-ext-1 -o jsonpath='{.endpoints[0].addresses[0]} {.endpoints[0].conditions.ready} {.endpoints[0].nodeName}'
  assert_output "$dst true node-b"
  run k get endpoints web-ext -o jsonpath='{.subsets[0].addresses[0].ip}'
  assert_output "$dst"
  # the Service with a selector: the restored pod (same labels) is its one ready endpoint
  wait_for 50 eval '[ "$(k get endpoints web -o jsonpath="{.subsets[0].addresses[*].ip}")" = "$dst" ]'
  run k get endpointslice web-kcm -o jsonpath='{.endpoints[*].addresses[0]} {.endpoints[*].conditions.ready}'
  assert_output "$dst true"
  run k get pm "$pm" -o jsonpath='{.status.endpoints.before[0]} / {.status.endpoints.after[0]}'
  assert_output "default/endpointslices/web-ext-1 $src / default/endpointslices/web-ext-1 $dst"
  # kubectl get pm shows the columns; describe shows the events
  run k get pm "$pm"
  assert_output --regexp "$pm +Succeeded +web +node-a +node-b +[0-9]+ms"
  run k describe pm "$pm"
  assert_output --partial "Checkpointed"
  assert_output --partial "Restored"
}

@test "a migration to a node that does not fit is refused, with the reason; the pod keeps running" {
  pod_on_a stay workload --mem 8
  k patch node node-b --type merge -p '{"spec":{"taints":[{"key":"dedicated","value":"gpu","effect":"NoSchedule"}]}}'
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: to-b}\nspec: {pod: stay, targetNode: node-b}\n' | k apply -f -
  wait_phase to-b Failed
  run k get pm to-b -o jsonpath='{.status.reason}: {.status.message}'
  assert_output "TargetDoesNotFit: node node-b: tainted (taint dedicated=gpu:NoSchedule)"
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: anywhere}\nspec: {pod: stay}\n' | k apply -f -
  wait_phase anywhere Failed
  run k get pm anywhere -o jsonpath='{.status.reason}: {.status.message}'
  assert_output "NoNodeFits: 0/2 nodes fit: 1 is the source, 1 tainted"
  [ "$(running_on a stay)" = running ]
  k patch node node-b --type json -p '[{"op":"remove","path":"/spec/taints"}]'
}

@test "the agents serve /healthz, /readyz and Prometheus /metrics" {
  port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$CLUSTER_DIR/agent-a.log" | tail -1)
  run curl -sf "http://127.0.0.1:$port/healthz"
  assert_output "ok"
  run curl -sf "http://127.0.0.1:$port/readyz"
  assert_output "ok"
  run curl -sf "http://127.0.0.1:$port/metrics"
  assert_output --partial '# TYPE ferry_agent_downtime_seconds histogram'
  assert_output --regexp 'ferry_agent_migrations_total\{node="node-a",role="source",outcome="checkpointed"\} [1-9]'
  assert_output --partial 'ferry_agent_info{node="node-a"'
  port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$CLUSTER_DIR/agent-b.log" | tail -1)
  run curl -sf "http://127.0.0.1:$port/metrics"
  assert_output --regexp 'ferry_agent_downtime_seconds_count\{node="node-b"\} [1-9]'
  run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nothing"
  assert_output 404
  # the load report the controller reads
  run k get lease -n ferry-system ferry-agent-node-b -o jsonpath='{.metadata.annotations.ferry\.dev/load}'
  assert_output --regexp '"cpu":[0-9.]+,"cpus":[0-9]+,"load1":[0-9.]+,"memory":[0-9.]+'
}

@test "the controller serves /livez, /readyz and /metrics, which promtool accepts, as the agents' do" {
  local promtool=${FERRY_PROMTOOL:-/opt/ferry/prometheus/usr/bin/promtool} i port leaders=0
  for i in 1 2; do
    [ -f "$CLUSTER_DIR/controller-$i.log" ] || continue
    port=$(sed -n 's/.*\/metrics on http.*(port \([0-9]*\)).*/\1/p' "$CLUSTER_DIR/controller-$i.log" | tail -1)
    run curl -sf "http://127.0.0.1:$port/livez"
    assert_output "ok"
    run curl -sf "http://127.0.0.1:$port/readyz"
    assert_output "ok"
    curl -sf "http://127.0.0.1:$port/metrics" >"$BATS_TEST_TMPDIR/controller-$i.prom"
    run "$promtool" check metrics <"$BATS_TEST_TMPDIR/controller-$i.prom"
    assert_success
    run grep -c '^ferry_controller_leader 1$' "$BATS_TEST_TMPDIR/controller-$i.prom"
    leaders=$((leaders + output))
  done
  [ "$leaders" = 1 ] # exactly one replica leads
  local leader
  leader=$(grep -l '^ferry_controller_leader 1$' "$BATS_TEST_TMPDIR"/controller-*.prom)
  # the migrations of the tests above: reconciled and in the phase gauges
  run grep -E '^ferry_controller_migrations\{phase="Succeeded",reason="Annotation"\} [1-9]' "$leader"
  assert_success
  run grep -E '^ferry_controller_reconcile_total\{kind="podmigration",result="success"\} [1-9]' "$leader"
  assert_success
  run grep -E '^ferry_controller_reconcile_duration_seconds_count\{kind="podmigration"\} [1-9]' "$leader"
  assert_success
  # and counted as they ended: web Succeeded (annotated, stop-and-copy), to-b and anywhere Failed
  # before they were scheduled (no strategy ran), nothing rolled back
  local fin=ferry_controller_migrations_finished_total
  [ "$(metric "$leader" "$fin{result=\"Succeeded\",strategy=\"stopAndCopy\",reason=\"Annotation\"}")" = 1 ]
  [ "$(metric "$leader" "$fin{result=\"Succeeded\"")" = 1 ]
  [ "$(metric "$leader" "$fin{result=\"Failed\",strategy=\"none\",reason=\"Manual\"}")" = 2 ]
  [ "$(metric "$leader" "$fin{result=\"Failed\"")" = 2 ]
  [ "$(metric "$leader" "$fin{result=\"RolledBack\"")" = 0 ]
  [ "$(metric "$leader" ferry_controller_migration_rollbacks_total)" = 0 ]
  # its downtime and total time observed once; the image it wrote during the freeze counted
  [ "$(metric "$leader" 'ferry_controller_migration_downtime_seconds_count{strategy="stopAndCopy"}')" = 1 ]
  [ "$(metric "$leader" 'ferry_controller_migration_downtime_seconds_bucket{strategy="stopAndCopy",le="+Inf"}')" = 1 ]
  [ "$(metric "$leader" 'ferry_controller_migration_duration_seconds_count{result="Succeeded"}')" = 1 ]
  [ "$(metric "$leader" ferry_controller_migration_duration_seconds_count)" = 1 ]
  awk '$1 == "ferry_controller_migration_moved_bytes_total{stage=\"duringFreeze\"}" && $2 > 0 { f = 1 } END { exit !f }' "$leader"
  # both agents renew their Leases
  [ "$(metric "$leader" 'ferry_controller_agent_ready{node="node-a"}')" = 1 ]
  [ "$(metric "$leader" 'ferry_controller_agent_ready{node="node-b"}')" = 1 ]
  port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$CLUSTER_DIR/agent-a.log" | tail -1)
  curl -sf "http://127.0.0.1:$port/metrics" >"$BATS_TEST_TMPDIR/agent-a.prom"
  run "$promtool" check metrics <"$BATS_TEST_TMPDIR/agent-a.prom"
  assert_success
}

@test "a bad ferry.dev/migrate-to value: a Warning event and the result on the pod, no migration" {
  pod_on_a odd workload --mem 8
  k annotate pod odd ferry.dev/migrate-to=Not_A_Node
  wait_for 50 eval '[ -n "$(k get pod odd -o jsonpath="{.metadata.annotations.ferry\.dev/migration-result}")" ]'
  run k get pod odd -o jsonpath='{.metadata.annotations}'
  assert_output --partial 'Invalid: ferry.dev/migrate-to=\"Not_A_Node\" is neither a node name nor \"auto\"'
  refute_output --partial '"ferry.dev/migrate-to"'
  run k get events --field-selector involvedObject.name=odd -o jsonpath='{.items[*].reason}'
  assert_output --partial InvalidAnnotation
  run k get pm -l ferry.dev/pod=odd -o name
  assert_output ""
}

@test "limits: a second migration from the same node waits while the first runs" {
  pod_on_a q1 workload --mem 8
  pod_on_a q2 workload --mem 8
  agent_pause b
  migrate q1 node-b
  wait_phase_seen m-q1 Transferring
  migrate q2 node-b
  wait_for 50 eval '[[ "$(k get pm m-q2 -o jsonpath="{.status.message}")" == waiting:* ]]'
  run k get pm m-q2 -o jsonpath='{.status.phase}: {.status.message}'
  assert_output "Pending: waiting: 1 migrations running on node-a (limit 1)"
  agent_resume b
  wait_phase m-q1 Succeeded
  wait_phase m-q2 Succeeded
}

@test "deleting a PodMigration after the freeze rolls it back; the PodMigration goes once it has" {
  pod_on_a del1 workload --mem 8
  agent_pause b
  migrate del1 node-b
  wait_phase_seen m-del1 Transferring
  [ "$(running_on a del1)" = paused ] # frozen, dumped and held: not running anywhere now
  k delete pm m-del1 --wait=false
  wait_for 100 eval '! k get pm m-del1 >/dev/null 2>&1'
  [ "$(running_on a del1)" = running ]
  agent_resume b
  wait_for 50 eval '! k get pods -o name | grep -q "del1-"'
  run runc --root "$(nodes_root b)" list -q
  refute_output --partial del1
}

@test "before the freeze the source pod stops being Ready (selector Services drop it); a phase timeout rolls back" {
  pod_on_a tm workload --mem 8
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: tm}\nspec: {selector: {app: tm}, ports: [{port: 80}]}\n' | k apply -f -
  wait_for 50 eval '[ "$(k get endpointslice tm-kcm -o jsonpath="{.endpoints[0].conditions.ready}")" = true ]'
  agent_pause a
  agent_pause b
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: m-tm}\nspec: {pod: tm, targetNode: node-b, phaseTimeoutSeconds: 8}\n' | k apply -f -
  wait_phase_seen m-tm Scheduled
  run k get pod tm -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}'
  assert_output "False FerryMigrating"
  # so the endpoints controller takes it out of the Service before the freeze
  wait_for 50 eval '[ "$(k get endpointslice tm-kcm -o jsonpath="{.endpoints[0].conditions.ready}")" = false ]'
  run k get endpoints tm -o jsonpath='{.subsets[0].addresses}'
  assert_output ""
  controller_metrics "$BATS_TEST_TMPDIR/before.prom"
  agent_resume a
  agent_metrics a "$BATS_TEST_TMPDIR/agent-before.prom"
  wait_phase_seen m-tm Transferring
  # nobody restores within 8 s: the controller rolls back, the source restores from the image
  # (8 s: long enough for the checkpoint itself on a slow node with the ASan/UBSan agent)
  wait_phase m-tm RolledBack
  # the controller's metrics, which promtool accepts, count it: one more RolledBack (a manual
  # stop-and-copy), one more rollback caused by Timeout, its total time; no success, failure or downtime more
  local b=$BATS_TEST_TMPDIR/before.prom a=$BATS_TEST_TMPDIR/after.prom s
  local fin=ferry_controller_migrations_finished_total rb='ferry_controller_migrations_finished_total{result="RolledBack",strategy="stopAndCopy",reason="Manual"}'
  wait_for 50 eval 'controller_metrics "$a" && [ "$(metric "$a" "$rb")" = $(($(metric "$b" "$rb") + 1)) ]'
  run "${FERRY_PROMTOOL:-/opt/ferry/prometheus/usr/bin/promtool}" check metrics <"$a"
  assert_success
  for s in "$fin{result=\"RolledBack\"" 'ferry_controller_migration_rollbacks_total{cause="Timeout"}' \
    'ferry_controller_migration_rollbacks_total{' 'ferry_controller_migration_duration_seconds_count{result="RolledBack"}'; do
    [ "$(metric "$a" "$s")" = $(($(metric "$b" "$s") + 1)) ] || fail "$s: $(metric "$b" "$s") before, $(metric "$a" "$s") after"
  done
  for s in "$fin{result=\"Succeeded\"" "$fin{result=\"Failed\"" ferry_controller_migration_downtime_seconds_count; do
    [ "$(metric "$a" "$s")" = "$(metric "$b" "$s")" ] || fail "$s: $(metric "$b" "$s") before, $(metric "$a" "$s") after"
  done
  # and node-a's agent, which restored it there, one more rollback
  agent_metrics a "$BATS_TEST_TMPDIR/agent-after.prom"
  run "${FERRY_PROMTOOL:-/opt/ferry/prometheus/usr/bin/promtool}" check metrics <"$BATS_TEST_TMPDIR/agent-after.prom"
  assert_success
  s='ferry_agent_migrations_total{node="node-a",role="source",outcome="rolled_back"}'
  [ "$(metric "$BATS_TEST_TMPDIR/agent-after.prom" "$s")" = $(($(metric "$BATS_TEST_TMPDIR/agent-before.prom" "$s") + 1)) ]
  run k get pm m-tm -o jsonpath='{.status.rollbackFrom}'
  assert_output Transferring
  run k describe pm m-tm
  assert_output --partial "Timeout"
  [ "$(running_on a tm)" = running ]
  wait_for 50 eval '[ "$(k get pod tm -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}")" = True ]'
  wait_for 50 eval '[ "$(k get endpointslice tm-kcm -o jsonpath="{.endpoints[0].conditions.ready}")" = true ]'
  agent_resume b
  wait_for 50 eval '! k get pods -o name | grep -q "tm-"'
  run runc --root "$(nodes_root b)" list -q
  refute_output --partial tm-
}

@test "options.tcpClose: a pod with a client connected at the freeze is restored by ferry-runc (the connection closed), the count goes on" {
  counting_pod tc1
  # a client's connection open across the freeze: httpd waits for its request
  ip netns exec "$NODES_NS_CLIENT" timeout 20 busybox nc "$src" 8080 < <(sleep 20) >/dev/null 2>&1 3>&- &
  sleep 0.5
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: m-tc1}\nspec: {pod: tc1, targetNode: node-b, options: {tcpClose: true}}\n' |
    k apply -f -
  wait_phase m-tc1 Succeeded
  after=$(count_served "$(target_ip m-tc1)")
  [ -n "$after" ] && [ "$after" -ge "$before" ]
}

@test "kubectl ferry: a help page per command, its flags listed; usage errors as kubectl says them" {
  local cmd flag
  for cmd in migrate status watch cancel nodes plan drain completion; do
    run kferry "$cmd" --help
    assert_success
    assert_line "Usage:"
    assert_output --partial "kubectl ferry $cmd "
  done
  declare -A flags=([migrate]="--to --strategy --wait --timeout --output --namespace --context --kubeconfig"
    [status]="--all-namespaces --output --namespace" [watch]="--all-namespaces --timeout --namespace"
    [cancel]="--wait --timeout" [nodes]="--output" [plan]="--output" [drain]="--timeout")
  for cmd in "${!flags[@]}"; do
    run kferry "$cmd" --help
    for flag in ${flags[$cmd]}; do assert_output --partial "$flag"; done
  done
  run kferry migrate
  assert_failure 1
  assert_line --index 0 --regexp "^error: usage: kubectl ferry migrate POD"
  assert_line --index 1 "See 'kubectl ferry migrate --help' for usage."
  run kferry status -o table
  assert_failure 1
  assert_output --partial 'allowed formats are: wide,json,yaml,name'
  run kferry migrate web --strategy fast
  assert_failure 1
  run kferry migrate nosuch
  assert_failure 1
  assert_output 'Error from server (NotFound): pods "nosuch" not found'
  # completion: the script, and kubectl's plugin completion through kubectl_complete-ferry
  run kferry completion bash
  assert_success
  assert_output --partial "complete -F _kubectl_ferry kubectl-ferry"
  run env PATH="$FERRY_BIN:$PATH" kubectl __complete ferry mig
  assert_line migrate
  run env PATH="$FERRY_BIN:$PATH" kubectl __complete ferry drain node-
  assert_line node-a
  assert_line node-b
}

@test "kubectl ferry migrate --wait, status -o json|yaml|wide|name, watch's lines, nodes" {
  pod_on_a small workload --mem 8
  run kferry migrate small --to node-b --wait
  assert_success
  assert_line --index 0 --regexp "^podmigration.ferry.dev/small-[0-9a-f]{5} created$"
  assert_output --regexp " small-[0-9a-f]{5} Succeeded stage=- strategy=stopAndCopy from=node-a to=node-b "
  pm=$(pm_of small)
  run k get pm "$pm" -o jsonpath='{.spec.pod} {.spec.targetNode} {.spec.reason} {.metadata.labels.ferry\.dev/pod}'
  assert_output "small node-b Manual small"
  run kferry status "$pm" -o json
  assert_success
  python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert d["kind"] == "PodMigration" and d["status"]["phase"] == "Succeeded" and d["status"]["targetNode"] == "node-b", d' "$output"
  run kferry status -o yaml
  assert_success
  python3 -c 'import yaml, sys; d = yaml.safe_load(sys.argv[1]); i = [i for i in d["items"] if i["metadata"]["name"] == sys.argv[2]][0]; assert d["kind"] == "List" and i["status"]["phase"] == "Succeeded" and isinstance(i["metadata"]["creationTimestamp"], str), d' "$output" "$pm"
  run kferry status -o wide
  assert_success
  assert_line --index 0 --regexp "^NAME +POD +PHASE +STRATEGY +SOURCE +TARGET +MOVED +PROGRESS +RATE +FROZEN +ETA +AGE +STAGE +BEFORE-FREEZE +DURING-FREEZE +AFTER-RESTORE +TARGET-POD +MESSAGE$"
  assert_line --regexp "^$pm +small +Succeeded +stopAndCopy +node-a +node-b +[0-9.]+ [KMG]?i?B(/[0-9.]+ [KMG]i?B)? +([0-9]+%|-) +- +[0-9.]+m?s +- +[0-9]+s +- "
  run kferry status -A -o name
  assert_line "podmigration.ferry.dev/$pm"
  # watch of a 1 GiB move: a line per change (not a terminal), the source's agent
  # publishing how much of the image it wrote while it checkpoints, ending at 100%;
  # moved once its memory is filled (it counts then), so that the pod's memory is the image's size
  pod_on_a big workload --mem 1024
  # shellcheck disable=SC2016 # (wait_for evals it)
  wait_for 300 eval '[ -s "$(runc --root "$(nodes_root a)" state "$(runc --root "$(nodes_root a)" list -q | grep "^big-main-")" |
    python3 -c "import json, sys; print(json.load(sys.stdin)[\"rootfs\"])")/tmp/count" ]'
  run kferry migrate big --to node-b -o name
  assert_success
  big=${output#podmigration.ferry.dev/}
  run kferry watch "$big" --timeout 180
  assert_success
  assert_line --regexp " $big Checkpointing stage=Checkpointing strategy=stopAndCopy from=node-a to=node-b moved=[0-9.]+ [KMG]?i?B/[0-9.]+ [MG]iB \(([0-9]|[1-9][0-9])%\) "
  assert_line --regexp " $big Succeeded stage=- strategy=stopAndCopy from=node-a to=node-b moved=[0-9.]+ [MG]iB/[0-9.]+ [MG]iB \(100%\) "
  refute_output --partial $'\033'
  # -o json and yaml: the whole object per change, the last one Succeeded
  run kferry watch "$big" -o json --timeout 60
  assert_success
  python3 -c 'import json, sys
s, d, objs = sys.argv[1], json.JSONDecoder(), []
i = 0
while i < len(s):
    if s[i].isspace():
        i += 1
        continue
    o, i = d.raw_decode(s, i)
    objs.append(o)
assert objs and all(o["kind"] == "PodMigration" for o in objs) and objs[-1]["status"]["phase"] == "Succeeded", objs' "$output"
  run kferry watch "$big" -o yaml --timeout 60
  assert_success
  python3 -c 'import yaml, sys; d = list(yaml.safe_load_all(sys.argv[1])); assert d and d[-1]["status"]["phase"] == "Succeeded", d' "$output"
  # nodes: both agents ready, as a table and as JSON
  run kferry nodes
  assert_success
  assert_line --index 0 --regexp "^NODE +AGENT +CRIU +RUNC +STRATEGIES +CPU +MEMORY +MIGRATIONS$"
  assert_line --index 1 --regexp "^node-a +Ready +[^ ]+ +[^ ]+ +[^ ]+ +[0-9]+% +[0-9]+% +[0-9]+$"
  run kferry nodes -o json
  assert_success
  python3 -c 'import json, sys; d = json.loads(sys.argv[1]); n = {i["metadata"]["name"]: i for i in d["items"]}; assert n["node-a"]["agent"]["ready"] is True and n["node-b"]["agent"]["lease"].endswith("/ferry-agent-node-b") and n["node-a"]["migrationsRunning"] >= 0 and "cpu" in n["node-a"]["load"], d' "$output"
  run kferry nodes node-b -o wide
  assert_line --index 0 --regexp "NON-ROOT +POSTCOPY-ABOVE +STORE-FREE +NOT-AVAILABLE$"
  assert_line --index 1 --regexp "^node-b +Ready "
}

@test "kubectl ferry cancel: a migration that has not ended is deleted and fails before the freeze; one that ended is refused" {
  pod_on_a stuck workload --mem 8
  agent_pause a # the source agent does not checkpoint: the migration stays Scheduled
  run kferry migrate stuck --to node-b -o name
  pm=${output#podmigration.ferry.dev/}
  wait_phase_seen "$pm" Scheduled
  run kferry cancel "$pm" --timeout 60
  agent_resume a
  assert_success
  assert_output "podmigration.ferry.dev/$pm cancelled (Failed: the PodMigration was deleted before the pod was frozen)"
  run k get pm "$pm"
  assert_failure
  [ "$(running_on a stuck)" = running ]
  # one that ended is left alone
  run kferry migrate stuck --to node-b --wait -o json
  assert_success
  done_pm=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["metadata"]["name"])' "$output")
  run kferry cancel "$done_pm"
  assert_failure 1
  assert_output "error: podmigration $done_pm already ended (Succeeded): nothing to cancel"
}
