#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# PodMigrations end to end: kube-lite, ferry-controller, two ferry-agent daemons,
# real runc and CRIU on two network-namespace nodes.
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
  [ -z "$(running_on a del1)" ] # frozen and dumped: not running anywhere now
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
