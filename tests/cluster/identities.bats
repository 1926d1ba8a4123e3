#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The cluster runs Ferry with the identities its Helm chart makes (chart.sh):
# every other test's calls are authorized by the chart's RBAC; here, what each
# identity must not do gets the API server's 403. (Requests with a token go
# through curl: kubectl sends no token over plain HTTP, which the test
# cluster's API server speaks; `kubectl auth can-i --as` asks the same
# authorizer through impersonation.)
bats_require_minimum_version 1.5.0
load helpers

# api SA METHOD PATH [BODY]: the API server's answer to SA's token (from the kubeconfig the harness made for it)
api() {
  local kc=$CLUSTER_DIR/kubeconfig-$1 server token
  if [ -f "$kc" ]; then
    token=$(sed -n 's/.*token: "\(.*\)"}}.*/\1/p' "$kc")
  else
    token=$1
  fi
  server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  curl -s -X "$2" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' ${4:+-d "$4"} "$server$3"
}
sa() { echo "system:serviceaccount:ferry-system:$1"; }

@test "the agents and the controller run as the chart's ServiceAccounts, with the chart's arguments" {
  run api ferry-agent POST /apis/authentication.k8s.io/v1/selfsubjectreviews '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
  assert_output --partial '"username":"system:serviceaccount:ferry-system:ferry-agent"'
  run api ferry-controller POST /apis/authentication.k8s.io/v1/selfsubjectreviews '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
  assert_output --partial '"username":"system:serviceaccount:ferry-system:ferry-controller"'
  run tr '\0' ' ' <"/proc/$(cat "$CLUSTER_DIR/agent-a.pid")/cmdline"
  assert_output --partial "--kubeconfig $CLUSTER_DIR/kubeconfig-ferry-agent"
  assert_output --partial "--namespace=ferry-system"
  run tr '\0' ' ' <"/proc/$(cat "$CLUSTER_DIR/controller-1.pid")/cmdline"
  assert_output --partial "--kubeconfig $CLUSTER_DIR/kubeconfig-ferry-controller"
  assert_output --partial "--runtime-class=ferry"
}

@test "the agent's identity may not read Secrets, create PodMigrations or delete Deployments" {
  run api ferry-agent GET /api/v1/namespaces/ferry-system/secrets
  assert_output --partial '"code":403'
  assert_output --partial 'secrets is forbidden: User \"system:serviceaccount:ferry-system:ferry-agent\" cannot list resource \"secrets\" in API group \"\" in the namespace \"ferry-system\"'
  run k auth can-i create podmigrations.ferry.dev -n default --as "$(sa ferry-agent)"
  assert_output no
  run k auth can-i delete deployments -n default --as "$(sa ferry-agent)"
  assert_output no
  run k auth can-i create pods --subresource binding -n default --as "$(sa ferry-agent)"
  assert_output yes
}

@test "the controller's identity may not read Secrets or write Nodes" {
  run api ferry-controller GET /api/v1/secrets
  assert_output --partial '"code":403'
  assert_output --partial 'secrets is forbidden: User \"system:serviceaccount:ferry-system:ferry-controller\" cannot list resource \"secrets\" in API group \"\" at the cluster scope'
  run --separate-stderr k auth can-i patch nodes --as "$(sa ferry-controller)"
  assert_output no
  run k auth can-i patch podmigrations.ferry.dev/status -n default --as "$(sa ferry-controller)"
  assert_output yes
}

@test "a pod's token may not create PodMigrations" {
  k create serviceaccount app -n default
  token=$(k create token app -n default)
  run api "$token" POST /apis/ferry.dev/v1alpha1/namespaces/default/podmigrations \
    '{"apiVersion":"ferry.dev/v1alpha1","kind":"PodMigration","metadata":{"name":"nope"},"spec":{"pod":"x"}}'
  assert_output --partial '"code":403'
  assert_output --partial 'podmigrations.ferry.dev is forbidden: User \"system:serviceaccount:default:app\" cannot create resource \"podmigrations\" in API group \"ferry.dev\" in the namespace \"default\"'
  run k get pm nope
  assert_failure
}
