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
# curl_merge SA PATH BODY: a JSON merge patch with SA's token
curl_merge() {
  local token server
  token=$(sed -n 's/.*token: "\(.*\)"}}.*/\1/p' "$CLUSTER_DIR/kubeconfig-$1")
  server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  curl -s -X PATCH -H "Authorization: Bearer $token" -H 'Content-Type: application/merge-patch+json' -d "$3" "$server$2"
}

@test "the agents and the controller run as the chart's ServiceAccounts, with the chart's arguments" {
  run api ferry-agent-node-a POST /apis/authentication.k8s.io/v1/selfsubjectreviews '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
  assert_output --partial '"username":"system:serviceaccount:ferry-system:ferry-agent"'
  run api ferry-controller POST /apis/authentication.k8s.io/v1/selfsubjectreviews '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
  assert_output --partial '"username":"system:serviceaccount:ferry-system:ferry-controller"'
  run tr '\0' ' ' <"/proc/$(cat "$CLUSTER_DIR/agent-a.pid")/cmdline"
  assert_output --partial "--kubeconfig $CLUSTER_DIR/kubeconfig-ferry-agent-node-a"
  assert_output --partial "--namespace=ferry-system"
  run tr '\0' ' ' <"/proc/$(cat "$CLUSTER_DIR/controller-1.pid")/cmdline"
  assert_output --partial "--kubeconfig $CLUSTER_DIR/kubeconfig-ferry-controller"
  assert_output --partial "--runtime-class=ferry"
}

@test "the agent's identity may not read Secrets, create PodMigrations or delete Deployments" {
  run api ferry-agent-node-a GET /api/v1/namespaces/ferry-system/secrets
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

@test "an agent may change only its own node's pods (the chart's admission policy on its node-bound token)" {
  pod_on_a on-a sleep 1000
  cluster_pod b on-b sleep 1000
  local patch='{"metadata":{"annotations":{"touched":"yes"}}}'
  run curl_merge ferry-agent-node-a /api/v1/namespaces/default/pods/on-a "$patch"
  assert_output --partial '"touched":"yes"'
  # the token says node-a (SelfSubjectReview shows the extra the policy reads)
  run api ferry-agent-node-a POST /apis/authentication.k8s.io/v1/selfsubjectreviews '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
  assert_output --partial '"authentication.kubernetes.io/node-name":["node-a"]'
  run curl_merge ferry-agent-node-a /api/v1/namespaces/default/pods/on-b "$patch"
  assert_output --partial '"code":403'
  assert_output --partial "ValidatingAdmissionPolicy 'ferry-agent-own-node' with binding 'ferry-agent-own-node' denied request: the ferry-agent of node node-a may change only pods of its node, not default/on-b on node node-b"
  run api ferry-agent-node-a DELETE /api/v1/namespaces/default/pods/on-b
  assert_output --partial '"code":403'
  k get pod on-b
  # a binding to another node
  k apply -f - <<Y
apiVersion: v1
kind: Pod
metadata: {name: unbound}
spec: {schedulerName: ferry, runtimeClassName: ferry, containers: [{name: main, image: ferry/workload, command: [sleep, "1000"]}]}
Y
  run api ferry-agent-node-a POST /api/v1/namespaces/default/pods/unbound/binding \
    '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"unbound"},"target":{"kind":"Node","name":"node-b"}}'
  assert_output --partial '"code":403'
  assert_output --partial 'may change only pods of its node, not default/unbound on node node-b'
  # a token of the agent's ServiceAccount that names no node
  k create token ferry-agent -n ferry-system >"$BATS_TEST_TMPDIR/token"
  echo "{clusters: [{cluster: {}}], users: [{user: {token: \"$(cat "$BATS_TEST_TMPDIR/token")\"}}]}" >"$CLUSTER_DIR/kubeconfig-unbound-agent"
  run curl_merge unbound-agent /api/v1/namespaces/default/pods/on-a "$patch"
  assert_output --partial "the agent's token names no node"
  k delete pod on-a on-b unbound --wait=false
}

@test "a pod may ask to move itself (reason SelfRequested), not another pod" {
  k create serviceaccount mover -n default
  k create rolebinding mover-self --clusterrole ferry-self-migration --serviceaccount default:mover -n default
  CLUSTER_POD_SA=mover pod_on_a self workload --dir /tmp
  pod_on_a other sleep 1000
  local token body
  token=$(k create token mover -n default --bound-object-kind Pod --bound-object-name self)
  body='{"apiVersion":"ferry.dev/v1alpha1","kind":"PodMigration","metadata":{"name":"NAME"},"spec":{"pod":"POD","reason":"REASON"}}'
  run api "$token" POST /apis/ferry.dev/v1alpha1/namespaces/default/podmigrations "$(sed 's/NAME/move-other/; s/POD/other/; s/REASON/SelfRequested/' <<<"$body")"
  assert_output --partial '"code":403'
  assert_output --partial 'a pod may ask to move only itself: pod self asked to move default/other'
  run api "$token" POST /apis/ferry.dev/v1alpha1/namespaces/default/podmigrations "$(sed 's/NAME/move-self/; s/POD/self/; s/REASON/Manual/' <<<"$body")"
  assert_output --partial '"code":422'
  assert_output --partial "a pod's own request to move must say spec.reason: SelfRequested"
  run api "$token" POST /apis/ferry.dev/v1alpha1/namespaces/default/podmigrations "$(sed 's/NAME/move-self/; s/POD/self/; s/REASON/SelfRequested/' <<<"$body")"
  assert_output --partial '"reason":"SelfRequested"'
  run cluster_pm_end move-self
  assert_output Succeeded
  run k get pm move-self -o jsonpath='{.spec.reason} {.status.targetNode}'
  assert_output "SelfRequested node-b"
  # an identity not bound to a pod (a user, Ferry's controller) is not limited by it
  run k auth can-i create podmigrations.ferry.dev -n default --as system:serviceaccount:default:mover
  assert_output yes
  k delete pod other --wait=false
  k delete pm move-self
}
