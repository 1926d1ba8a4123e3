#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Helm as it is (/usr/local/bin/helm or the PATH's) against kube-lite with
# controller-manager-lite: install of tests/kube/testchart (a CRD in crds/,
# waited for until Established; a ConfigMap, a Secret, a DaemonSet, a custom
# resource; the release stored as a protobuf Secret), upgrade, list, history,
# uninstall.
bats_require_minimum_version 1.5.0
load helpers

setup_file() { cluster_start n1 n2; }
teardown_file() { cluster_stop; }

setup() {
  export KUBECONFIG=$KL_KC_main
  helm_env
}

CHART=$BATS_TEST_DIRNAME/testchart

@test "helm install: the CRD established first, every object created, the release Secret stored from protobuf" {
  run "$HELM" install t1 "$CHART" --namespace default
  assert_success
  assert_output --partial "STATUS: deployed"
  run kubectl get crd gadgets.kl-test.example.com -o jsonpath='{.status.conditions[?(@.type=="Established")].status}'
  assert_output True
  run kubectl get configmap t1-config -o jsonpath='{.data.greeting} {.metadata.labels.app\.kubernetes\.io/managed-by}'
  assert_output "hello Helm"
  run kubectl get secret t1-secret -o jsonpath='{.type}'
  assert_output Opaque
  run kubectl get gadget t1-gadget -o jsonpath='{.spec.size}'
  assert_output 3
  run kubectl get secret sh.helm.release.v1.t1.v1 -o jsonpath='{.type} {.metadata.labels.owner} {.metadata.labels.status}'
  assert_output "helm.sh/release.v1 helm deployed"
  until_is 2 eval "kubectl get pods -l app.kubernetes.io/instance=t1 -o name | wc -l"
}

@test "helm upgrade, list, history: revision 2 deployed, revision 1 superseded, the new values applied" {
  run "$HELM" upgrade t1 "$CHART" --namespace default --set greeting=hi --set image=busybox:2
  assert_success
  assert_output --partial "REVISION: 2"
  run "$HELM" list --namespace default -o json
  assert_output --partial '"name":"t1"'
  assert_output --partial '"revision":"2"'
  assert_output --partial '"status":"deployed"'
  run "$HELM" history t1 --namespace default
  assert_line --index 1 --regexp '^1 .*superseded'
  assert_line --index 2 --regexp '^2 .*deployed'
  run kubectl get configmap t1-config -o jsonpath='{.data.greeting}'
  assert_output hi
  run kubectl get ds t1-agent -o jsonpath='{.spec.template.spec.containers[0].image} {.metadata.generation}'
  assert_output "busybox:2 2"
}

@test "helm uninstall: the release's objects and Secrets go; the CRD stays (crds/ are never deleted)" {
  run "$HELM" uninstall t1 --namespace default
  assert_success
  run kubectl get configmap t1-config
  assert_failure
  run kubectl get ds t1-agent
  assert_failure
  run kubectl get secret -l owner=helm -o name
  assert_output ""
  run "$HELM" list --namespace default -q
  assert_output ""
  run kubectl get crd gadgets.kl-test.example.com
  assert_success
}
