#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# helm/ferry against kube-lite with controller-manager-lite, helm and kubectl
# as they are: install (CRDs Established, RBAC, the webhook's certificate made
# by the chart and its caBundle, the DaemonSet's pods one per node), upgrade
# (the certificate and the agents' transfer key kept, not made again), uninstall (everything of the release
# gone, the CRDs kept as Helm keeps crds/).
bats_require_minimum_version 1.5.0
load helpers

setup_file() { cluster_start n1 n2; }
teardown_file() { cluster_stop; }

setup() {
  export KUBECONFIG=$KL_KC_main
  helm_env
}

CHART=$FERRY_TOP/helm/ferry

# transfer_key: the agents' shared transfer key in the chart's Secret
transfer_key() { kubectl get secret -n ferry-system ferry-transfer-key -o jsonpath='{.data.key}' | base64 -d; }

# webhook_cert: the serving certificate in the chart's Secret (PEM)
webhook_cert() { kubectl get secret -n ferry-system ferry-webhook-tls -o jsonpath='{.data.tls\.crt}' | base64 -d; }

@test "helm install ferry: CRDs Established, the RBAC, a webhook certificate for the Service that its caBundle verifies, agent pods per node" {
  run "$HELM" install ferry "$CHART" -n ferry-system --create-namespace
  assert_success
  assert_output --partial "STATUS: deployed"
  assert_output --partial "ferry.dev/migrate-to"
  for crd in podmigrations.ferry.dev migrationpolicies.ferry.dev; do
    run kubectl get crd "$crd" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}'
    assert_output True
  done
  run kubectl get clusterrole ferry-agent ferry-controller -o name
  assert_success
  run kubectl get runtimeclass ferry -o jsonpath='{.handler}'
  assert_output ferry
  webhook_cert >"$BATS_TEST_TMPDIR/tls.crt"
  kubectl get mutatingwebhookconfiguration ferry -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d >"$BATS_TEST_TMPDIR/ca.crt"
  run openssl verify -CAfile "$BATS_TEST_TMPDIR/ca.crt" -verify_hostname ferry-controller-webhook.ferry-system.svc "$BATS_TEST_TMPDIR/tls.crt"
  assert_success
  # the DaemonSet controller makes one agent pod per node, bound to it
  until_is 2 eval "kubectl get pods -n ferry-system -l app.kubernetes.io/component=agent -o name | wc -l"
  run kubectl get pods -n ferry-system -l app.kubernetes.io/component=agent -o jsonpath='{.items[*].spec.nodeName}'
  assert_output --regexp '^(n1 n2|n2 n1)$'
  run kubectl get deploy -n ferry-system ferry-controller -o jsonpath='{.spec.replicas}'
  assert_output 2
}

@test "helm upgrade: a new revision; the webhook certificate, its CA and the transfer key kept" {
  before=$(webhook_cert | sha256sum)
  key_before=$(transfer_key)
  [ "$(base64 -d <<<"$key_before" | wc -c)" = 32 ]
  ca_before=$(kubectl get mutatingwebhookconfiguration ferry -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
  run "$HELM" upgrade ferry "$CHART" -n ferry-system --set controller.logLevel=debug
  assert_success
  assert_output --partial "REVISION: 2"
  [ "$(webhook_cert | sha256sum)" = "$before" ]
  [ "$(transfer_key)" = "$key_before" ]
  [ "$(kubectl get mutatingwebhookconfiguration ferry -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" = "$ca_before" ]
  run kubectl get deploy -n ferry-system ferry-controller -o jsonpath='{.spec.template.spec.containers[0].args}'
  assert_output --partial '--log-level=debug'
}

@test "helm uninstall: the release's objects gone, the CRDs kept" {
  run "$HELM" uninstall ferry -n ferry-system
  assert_success
  run kubectl get deploy,daemonset,serviceaccount -n ferry-system -l app.kubernetes.io/instance=ferry -o name
  assert_output ""
  run kubectl get clusterrole ferry-agent
  assert_failure
  run kubectl get mutatingwebhookconfiguration ferry
  assert_failure
  run kubectl get crd podmigrations.ferry.dev -o name
  assert_output customresourcedefinition.apiextensions.k8s.io/podmigrations.ferry.dev
}
