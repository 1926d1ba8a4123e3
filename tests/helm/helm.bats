#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The Helm chart helm/ferry, offline (no cluster): helm lint --strict, helm
# template over the values files in values/ checked by check_chart.py (kinds,
# labels, selectors, privileges, host paths, RBAC against docs/rbac.md, the
# webhook's certificate), that each of those checks fails on a breakage
# (mutations.yaml), the schema refusing bad values (bad-values/), the
# chart's links to crd/ and deploy/, the webhook certificate kept across
# upgrades (upgrade_certs.py, lookup replaced by the first rendering's
# Secret), NOTES.txt, and the node setup's script on a host tree. helm
# install, upgrade and uninstall against kube-lite are the kube suite's
# (tests/kube/ferry-chart.bats); the monitoring objects' are monitoring.bats'.

load ../lib/common

CHART=$FERRY_TOP/helm/ferry
HELM_TESTS=$FERRY_TOP/tests/helm

setup() {
  command -v helm >/dev/null || fail "helm is not installed (scripts/install-deps.sh)"
}

cases() {
  echo default
  for f in "$HELM_TESTS"/values/*.yaml; do basename "$f" .yaml; done
}

@test "helm lint --strict: the default values" {
  run helm lint --strict "$CHART"
  assert_success
  assert_output --partial "1 chart(s) linted, 0 chart(s) failed"
}

@test "helm lint --strict: every values file in tests/helm/values" {
  local f n=0
  for f in "$HELM_TESTS"/values/*.yaml; do
    run helm lint --strict "$CHART" -f "$f"
    assert_success
    n=$((n + 1))
  done
  [ "$n" -ge 9 ]
}

@test "helm template: each values file renders what check_chart.py expects" {
  local c
  for c in $(cases); do
    run python3 "$HELM_TESTS/check_chart.py" "$CHART" "$c"
    assert_success
    assert_output --partial "ok $c:"
  done
}

@test "helm template: another release name and namespace" {
  run python3 "$HELM_TESTS/check_chart.py" "$CHART" default --release prod --namespace ops
  assert_success
  run python3 "$HELM_TESTS/check_chart.py" "$CHART" crio-setup --release ferry-edge --namespace kube-ferry
  assert_success
}

@test "check_chart.py catches every breakage in mutations.yaml" {
  run python3 "$HELM_TESTS/mutate.py" "$CHART"
  assert_success
  refute_output --partial MISSED
  assert_output --regexp '([0-9]+) of \1 breakages caught'
}

@test "the schema refuses bad values, saying which (tests/helm/bad-values)" {
  local f want n=0
  for f in "$HELM_TESTS"/bad-values/*.yaml; do
    want=$(sed -n '1s/^# expect: //p' "$f")
    [ -n "$want" ]
    run helm lint --strict "$CHART" -f "$f"
    assert_failure
    assert_output --partial "$want"
    run helm template x "$CHART" -f "$f"
    assert_failure
    assert_output --partial "values don't meet the specifications of the schema"
    n=$((n + 1))
  done
  [ "$n" -ge 15 ]
}

@test "the schema: --set replicas as a string is refused, as a number taken" {
  run helm template x "$CHART" --set-string controller.replicas=3
  assert_failure
  assert_output --partial "controller.replicas: Invalid type. Expected: integer, given: string"
  run helm template x "$CHART" --set controller.replicas=3 --show-only templates/controller-deployment.yaml
  assert_success
  assert_output --partial "replicas: 3"
}

@test "crds/ is crd/ and files/ is deploy/'s (links), and the check fails on a difference" {
  run "$HELM_TESTS/check-copies.sh"
  assert_success
  local t=$BATS_TEST_TMPDIR/top
  mkdir -p "$t"
  cp -r "$FERRY_TOP/crd" "$FERRY_TOP/deploy" "$t/"
  mkdir -p "$t/helm" && cp -r "$CHART" "$t/helm/"
  run "$HELM_TESTS/check-copies.sh" "$t"
  assert_success
  local crd=$t/helm/ferry/crds/podmigrations.ferry.dev.yaml
  rm "$crd" && cp "$t/crd/podmigrations.ferry.dev.yaml" "$crd" # a copy instead of the link: still the same
  run "$HELM_TESTS/check-copies.sh" "$t"
  assert_success
  echo "# changed" >>"$crd"
  run "$HELM_TESTS/check-copies.sh" "$t"
  assert_failure
  assert_output --partial "helm/ferry/crds/podmigrations.ferry.dev.yaml differs from crd/podmigrations.ferry.dev.yaml"
  cp "$t/crd/podmigrations.ferry.dev.yaml" "$crd"
  rm "$t/helm/ferry/files/config-v3.toml"
  touch "$t/crd/extra.yaml"
  run "$HELM_TESTS/check-copies.sh" "$t"
  assert_failure
  assert_output --partial "helm/ferry/files/config-v3.toml is missing"
  assert_output --partial "helm/ferry/crds/extra.yaml is missing"
}

@test "docs/rbac.md names files and functions that exist" {
  run python3 "$HELM_TESTS/check_rbac_refs.py"
  assert_success
  sed 's/`renew_lease`/`renew_the_lease`/' "$FERRY_TOP/docs/rbac.md" >"$BATS_TEST_TMPDIR/rbac.md"
  run python3 "$HELM_TESTS/check_rbac_refs.py" "$BATS_TEST_TMPDIR/rbac.md"
  assert_failure
  assert_output --partial "agent/daemon/node.c has no function renew_the_lease"
}

# notes VALUES...: NOTES.txt as helm install prints it (rendered as a template of a copy).
notes() {
  local c=$BATS_TEST_TMPDIR/notes/ferry
  rm -rf "$c" && mkdir -p "${c%/ferry}" && cp -rL "$CHART" "$c"
  cp "$c/templates/NOTES.txt" "$c/templates/notes.yaml"
  helm template x "$c" -n ferry-system --show-only templates/notes.yaml --debug "$@" 2>&1 |
    sed -n '/^# Source: ferry\/templates\/notes.yaml/,/^Error: /p'
}

@test "NOTES.txt: the first annotate command and how to watch" {
  run notes
  assert_output --partial "kubectl annotate pod NAME ferry.dev/migrate-to=auto"
  assert_output --partial "kubectl get podmigrations -w"
  assert_output --partial "docs/install.md"
  run notes --set nodeSetup.enabled=true
  assert_output --partial "restart the runtime there yourself"
  run notes --set nodeSetup.enabled=true --set nodeSetup.restartRuntime=true
  assert_output --partial "It restarts containerd where the configuration changed"
  refute_output --partial "NOT INSTALLED"
}

@test "NOTES.txt: an enabled PrometheusRule or ServiceMonitor the cluster cannot take is said to be left out" {
  run notes --set metrics.prometheusRule.enabled=true --set metrics.serviceMonitor.enabled=true
  assert_output --partial "NOT INSTALLED: PrometheusRule (metrics.prometheusRule.enabled), ServiceMonitor (metrics.serviceMonitor.enabled): this cluster does not serve"
  assert_output --partial "then run helm upgrade with the same values to add them"
  run notes --set metrics.prometheusRule.enabled=true --set metrics.serviceMonitor.enabled=true \
    --api-versions monitoring.coreos.com/v1/ServiceMonitor
  assert_output --partial "NOT INSTALLED: PrometheusRule (metrics.prometheusRule.enabled): this cluster"
  assert_output --partial "to add it."
  run notes --set metrics.prometheusRule.enabled=true --api-versions monitoring.coreos.com/v1/PrometheusRule
  refute_output --partial "NOT INSTALLED"
}

@test "helm package makes an archive of the chart" {
  run helm package "$CHART" -d "$BATS_TEST_TMPDIR"
  assert_success
  run tar -tzf "$BATS_TEST_TMPDIR/ferry-0.1.0.tgz"
  assert_output --partial "ferry/values.schema.json"
  assert_output --partial "ferry/crds/podmigrations.ferry.dev.yaml"
  assert_output --partial "ferry/files/add-ferry-runtime.sh"
}

# A host tree as the node setup's container sees it: the bundle installed.
host_tree() {
  HOST=$BATS_TEST_TMPDIR/host
  mkdir -p "$HOST/opt/ferry/bin" "$HOST/etc/containerd"
  printf '#!/bin/sh\n' >"$HOST/opt/ferry/bin/ferry-runc"
  chmod 0755 "$HOST/opt/ferry/bin/ferry-runc"
}

setup_script() { bash "$CHART/files/node-setup.sh" --host="$HOST" --ferry-runc=/opt/ferry/bin/ferry-runc "$@"; }

@test "node setup: containerd's handler added to Debian's config once, then nothing changes" {
  host_tree
  cp "$FERRY_TOP/tests/cri/debian-containerd-1.6.toml" "$HOST/etc/containerd/config.toml"
  run setup_script --runtime=containerd --runc-root=/run/containerd/runc --systemd-cgroup=false
  assert_success
  assert_output --partial "the containerd handler ferry was added: restart containerd on this node"
  grep -qF '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ferry]' "$HOST/etc/containerd/config.toml"
  grep -qF 'BinaryName = "/opt/ferry/bin/ferry-runc"' "$HOST/etc/containerd/config.toml"
  grep -qF 'Root = "/run/containerd/runc"' "$HOST/etc/containerd/config.toml"
  cp "$HOST/etc/containerd/config.toml" "$BATS_TEST_TMPDIR/first.toml"
  run setup_script --runtime=containerd --runc-root=/run/containerd/runc --systemd-cgroup=false
  assert_success
  assert_output --partial "the containerd handler ferry is configured; nothing changed"
  cmp "$BATS_TEST_TMPDIR/first.toml" "$HOST/etc/containerd/config.toml"
}

@test "node setup: CRI-O's drop-in written once with the host's ferry-runc and root" {
  host_tree
  run setup_script --runtime=crio --runc-root=/run/ferry-runc-crio --crio-dropin=/etc/crio/crio.conf.d
  assert_success
  assert_output --partial "the crio handler ferry was added: restart crio"
  run cat "$HOST/etc/crio/crio.conf.d/10-ferry.conf"
  assert_output --partial 'runtime_path = "/opt/ferry/bin/ferry-runc"'
  assert_output --partial 'runtime_root = "/run/ferry-runc-crio"'
  assert_output --partial '[crio.runtime.runtimes.ferry]'
  run setup_script --runtime=crio --runc-root=/run/ferry-runc-crio --crio-dropin=/etc/crio/crio.conf.d
  assert_success
  assert_output --partial "nothing changed"
  run ls -A "$HOST/etc/crio/crio.conf.d"
  assert_output "10-ferry.conf"
}

@test "node setup: refuses without ferry-runc on the host, or an unknown runtime" {
  host_tree
  rm "$HOST/opt/ferry/bin/ferry-runc"
  run setup_script --runtime=containerd
  assert_failure
  assert_output --partial "/opt/ferry/bin/ferry-runc is not on the host"
  host_tree
  run setup_script --runtime=docker
  assert_failure
  assert_output --partial "--runtime takes containerd or crio"
}

@test "the node setup's arguments as the chart renders them reach node-setup.sh" {
  local rendered args
  rendered=$(helm template x "$CHART" -f "$HELM_TESTS/values/containerd-setup.yaml" \
    --show-only templates/node-setup.yaml 2>/dev/null) # stderr: helm's notes on the chart's links
  args=$(python3 -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d["kind"] == "DaemonSet":
        c = [c for c in d["spec"]["template"]["spec"]["initContainers"] if c["name"] == "runtime"][0]
        print("\n".join(c["args"]))' <<<"$rendered")
  host_tree
  cp "$FERRY_TOP/tests/cri/debian-containerd-1.6.toml" "$HOST/etc/containerd/config.toml"
  mapfile -t a <<<"$args"
  run bash "$CHART/files/node-setup.sh" --host="$HOST" "${a[@]}"
  assert_success
  grep -qF 'sandbox_image = "registry.example.com/pause:3.9"' "$HOST/etc/containerd/config.toml"
  grep -qF 'SystemdCgroup = true' "$HOST/etc/containerd/config.toml"
}

@test "mode helm: the webhook's certificate is kept across upgrades (lookup of its Secret)" {
  run python3 "$HELM_TESTS/upgrade_certs.py" "$CHART"
  assert_success
  assert_output --partial "ok: the certificate is kept across upgrades"
}
