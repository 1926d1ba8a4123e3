#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The chart's monitoring objects (templates/monitoring.yaml) in a cluster and
# against the schemas of the projects they are for: the PrometheusRule installed
# into kube-lite (bin/) under the Prometheus Operator's own CRD
# (fixtures/prometheus-operator, validated there as the API server does), read
# back with kubectl, its rules checked by promtool; without that CRD the chart
# installs and leaves the rule out; the Grafana dashboard checked against
# Grafana's dashboard schema (check_dashboard.py). check_chart.py checks every
# query's PromQL and metric families (helm.bats).
bats_require_minimum_version 1.5.0
load ../kube/helpers

CHART=$FERRY_TOP/helm/ferry
HELM_TESTS=$FERRY_TOP/tests/helm
CRD=$HELM_TESTS/fixtures/prometheus-operator/monitoring.coreos.com_prometheusrules.yaml
PROMTOOL=${FERRY_PROMTOOL:-/opt/ferry/prometheus/usr/bin/promtool}
NS=ferry-monitoring
MON=(--set metrics.prometheusRule.enabled=true --set metrics.dashboard.enabled=true)

setup_file() { kl_start main; }
teardown_file() { kl_stop main; }

# shellcheck disable=SC2154 # (kl_start sets KL_KC_main)
setup() {
  export KUBECONFIG=$KL_KC_main
  helm_env
}

# rule_groups FILE: the groups of the PrometheusRule in the cluster, as a rule file ({groups: ...}) in FILE.
rule_groups() {
  kubectl get prometheusrules -n "$NS" -o yaml >"$BATS_TEST_TMPDIR/read.yaml"
  python3 -c '
import sys, yaml
items = yaml.safe_load(open(sys.argv[1]))["items"]
assert len(items) == 1, "want one PrometheusRule, have %d" % len(items)
yaml.safe_dump({"groups": items[0]["spec"]["groups"]}, open(sys.argv[2], "w"))' "$BATS_TEST_TMPDIR/read.yaml" "$1"
}

# rendered_groups FILE: the groups helm template renders for a cluster that serves the kind.
rendered_groups() {
  helm template ferry "$CHART" -n "$NS" "${MON[@]}" --api-versions monitoring.coreos.com/v1/PrometheusRule \
    --show-only templates/monitoring.yaml 2>/dev/null >"$BATS_TEST_TMPDIR/rendered.yaml"
  python3 -c '
import sys, yaml
rules = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PrometheusRule"]
yaml.safe_dump({"groups": rules[0]["spec"]["groups"]}, open(sys.argv[2], "w"))' "$BATS_TEST_TMPDIR/rendered.yaml" "$1"
}

@test "the vendored PrometheusRule CRD is the Prometheus Operator's v0.93.0 file, unchanged" {
  local want
  # shellcheck disable=SC2016 # the backquotes are the README's
  want=$(sed -n 's/^- sha256: `\([0-9a-f]*\)`.*/\1/p' "$HELM_TESTS/fixtures/prometheus-operator/README.md")
  [ "${#want}" = 64 ]
  run sha256sum "$CRD"
  assert_output "$want  $CRD"
  run grep -c 'operator.prometheus.io/version: 0.93.0' "$CRD"
  assert_output 1
}

@test "helm template renders the PrometheusRule only for a cluster that serves the kind" {
  run helm template ferry "$CHART" "${MON[@]}" --show-only templates/monitoring.yaml
  assert_success
  refute_output --partial "kind: PrometheusRule"
  assert_output --partial "kind: ConfigMap"
  run helm template ferry "$CHART" "${MON[@]}" --show-only templates/monitoring.yaml \
    --api-versions monitoring.coreos.com/v1/PrometheusRule
  assert_success
  assert_output --partial "kind: PrometheusRule"
}

@test "without the CRD: the cluster refuses a PrometheusRule, the chart installs without it" {
  rendered_groups "$BATS_TEST_TMPDIR/groups.yaml"
  # what the chart used to send regardless (kube-lite has no /openapi/v2: client-side validation off)
  run kubectl create --validate=false -f "$BATS_TEST_TMPDIR/rendered.yaml" -n default --dry-run=server
  assert_failure
  assert_output --partial 'no matches for kind "PrometheusRule" in version "monitoring.coreos.com/v1"'
  run "$HELM" install ferry "$CHART" -n "$NS" --create-namespace "${MON[@]}"
  assert_success
  assert_output --partial "STATUS: deployed"
  # its notes say what was left out (helm asked the cluster what it serves)
  assert_output --partial "NOT INSTALLED: PrometheusRule (metrics.prometheusRule.enabled)"
  run "$HELM" get manifest ferry -n "$NS"
  refute_output --partial "kind: PrometheusRule"
  run kubectl get configmap -n "$NS" ferry-dashboard -o jsonpath='{.metadata.labels.grafana_dashboard}'
  assert_output 1
}

@test "the operator's CRD installed: helm upgrade makes the PrometheusRule, which kubectl reads back as rendered and promtool accepts" {
  run kubectl create -f "$CRD"
  assert_success
  run kubectl wait --for condition=established --timeout=10s crd/prometheusrules.monitoring.coreos.com
  assert_success
  run "$HELM" upgrade ferry "$CHART" -n "$NS" "${MON[@]}"
  assert_success
  assert_output --partial "REVISION: 2"
  refute_output --partial "NOT INSTALLED"
  run kubectl get prometheusrules -n "$NS" -o name
  assert_output prometheusrule.monitoring.coreos.com/ferry-alerts
  rule_groups "$BATS_TEST_TMPDIR/read.rules.yaml"
  rendered_groups "$BATS_TEST_TMPDIR/rendered.rules.yaml"
  run diff -u "$BATS_TEST_TMPDIR/rendered.rules.yaml" "$BATS_TEST_TMPDIR/read.rules.yaml"
  assert_success
  run "$PROMTOOL" check rules "$BATS_TEST_TMPDIR/read.rules.yaml"
  assert_success
  assert_output --partial "SUCCESS: 3 rules found"
}

@test "the operator's CRD installed: helm install makes the PrometheusRule at once; uninstall takes it" {
  run "$HELM" uninstall ferry -n "$NS"
  assert_success
  run kubectl get prometheusrules -n "$NS" -o name
  assert_output ""
  run "$HELM" install ferry "$CHART" -n "$NS" "${MON[@]}"
  assert_success
  run kubectl get prometheusrules -n "$NS" ferry-alerts -o jsonpath='{.spec.groups[0].rules[*].alert}'
  assert_output "FerryMigrationFailing FerryRollbackRateHigh FerryAgentNotReady"
  rule_groups "$BATS_TEST_TMPDIR/read.rules.yaml"
  run "$PROMTOOL" check rules "$BATS_TEST_TMPDIR/read.rules.yaml"
  assert_success
}

@test "kube-lite holds a PrometheusRule to the CRD's schema as the API server does" {
  # the chart's own rule with a duration the CRD's pattern refuses (the chart's values schema is skipped)
  run "$HELM" upgrade ferry "$CHART" -n "$NS" "${MON[@]}" --skip-schema-validation \
    --set metrics.prometheusRule.agentNotReadyFor='5 minutes'
  assert_failure
  assert_output --partial 'spec.groups[0].rules[2].for: Invalid value: "5 minutes": spec.groups[0].rules[2].for in body should match'
  cat >"$BATS_TEST_TMPDIR/bad.yaml" <<'EOF'
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: bad, namespace: ferry-monitoring}
spec:
  groups:
    - name: a
      rules:
        - {alert: A, expr: true}
    - name: a
      rules: []
    - name: ""
      partial_response_strategy: ignore
      rules:
        - {record: "r", expr: "1", keep_firing_for: ""}
EOF
  run kubectl create -f "$BATS_TEST_TMPDIR/bad.yaml"
  assert_failure
  assert_output --partial 'spec.groups[0].rules[0].expr: Invalid value: "boolean": spec.groups[0].rules[0].expr in body must be of type integer,string: "boolean"'
  assert_output --partial 'spec.groups[1]: Duplicate value: map[string]interface {}{"name":"a"}'
  assert_output --partial 'spec.groups[2].name: Invalid value: "": spec.groups[2].name in body should be at least 1 chars long'
  assert_output --partial "spec.groups[2].partial_response_strategy: Invalid value: \"ignore\": spec.groups[2].partial_response_strategy in body should match '^(?i)(abort|warn)?\$'"
  assert_output --partial 'spec.groups[2].rules[0].keep_firing_for: Invalid value: "": spec.groups[2].rules[0].keep_firing_for in body should be at least 1 chars long'
  # what the schema allows: an integer expr, WARN (the pattern ignores case), a duration in its units
  cat >"$BATS_TEST_TMPDIR/good.yaml" <<'EOF'
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: bad, namespace: ferry-monitoring}
spec:
  groups:
    - name: a
      rules:
        - {alert: A, expr: 1, for: 1h30m}
    - name: b
      partial_response_strategy: WARN
      rules:
        - {record: "r", expr: "1", keep_firing_for: 5m}
EOF
  run kubectl create -f "$BATS_TEST_TMPDIR/good.yaml"
  assert_success
  run kubectl get prometheusrule -n "$NS" bad -o jsonpath='{.spec.groups[*].name} {.spec.groups[1].partial_response_strategy}'
  assert_output "a b WARN"
}

@test "Grafana's dashboard schema (@grafana/schema) accepts the chart's dashboard" {
  run python3 "$HELM_TESTS/check_dashboard.py" "$CHART/files/grafana-dashboard.json"
  assert_success
  assert_output --partial "accepts it"
}

# broken_dashboard PYTHON: a copy of the dashboard changed by PYTHON (d is the dashboard), in $BROKEN.
broken_dashboard() {
  BROKEN=$BATS_TEST_TMPDIR/broken.json
  python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
$1
json.dump(d, open(sys.argv[2], 'w'), indent=2)" "$CHART/files/grafana-dashboard.json" "$BROKEN"
}

@test "the dashboard check fails on what Grafana's schema refuses, at its line" {
  broken_dashboard 'd["templating"]["list"][0]["current"] = {}'
  run python3 "$HELM_TESTS/check_dashboard.py" "$BROKEN"
  assert_failure
  assert_output --regexp "broken.json:[0-9]+:[0-9]+: error TS2739: .* text, value"
  local line=${output#*broken.json:}
  line=${line%%:*}
  run sed -n "${line}p" "$BROKEN"
  assert_output --partial '"current": {}'
  broken_dashboard 'd["panels"][1]["gridPos"]["h"] = "4"'
  run python3 "$HELM_TESTS/check_dashboard.py" "$BROKEN"
  assert_failure
  assert_output --partial "Type 'string' is not assignable to type 'number'"
  broken_dashboard 'd["panels"][1]["targts"] = d["panels"][1].pop("targets")'
  run python3 "$HELM_TESTS/check_dashboard.py" "$BROKEN"
  assert_failure
  assert_output --partial "'\"targts\"' does not exist in type"
  broken_dashboard 'd["panels"][1]["fieldConfig"]["defaults"]["thresholds"] = {"mode": "abs", "steps": []}'
  run python3 "$HELM_TESTS/check_dashboard.py" "$BROKEN"
  assert_failure
  assert_output --partial "Type '\"abs\"' is not assignable to type '\"absolute\" | \"percentage\"'"
  broken_dashboard 'd["graphTooltip"] = 7'
  run python3 "$HELM_TESTS/check_dashboard.py" "$BROKEN"
  assert_failure
  assert_output --partial "Type '7' is not assignable to type 'DashboardCursorSync"
}

@test "docs/metrics.md lists every family the binaries export and the chart's queries use, and check_chart.py says when not" {
  # shellcheck disable=SC2016 # the backquotes are the table's
  sed 's/^| `ferry_agent_store_free_bytes` |/| `ferry_agent_store_free` |/' "$FERRY_TOP/docs/metrics.md" >"$BATS_TEST_TMPDIR/metrics.md"
  run env FERRY_METRICS_DOC="$BATS_TEST_TMPDIR/metrics.md" python3 "$HELM_TESTS/check_chart.py" "$CHART" custom-paths
  assert_failure
  assert_output --partial "ferry_agent_store_free_bytes is exported but not in $BATS_TEST_TMPDIR/metrics.md"
  assert_output --partial "ferry_agent_store_free is in $BATS_TEST_TMPDIR/metrics.md but no binary exports it"
  assert_output --partial "names ferry_agent_store_free_bytes, which $BATS_TEST_TMPDIR/metrics.md does not list"
}
