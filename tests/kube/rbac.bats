#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# kube-lite authenticates and authorizes as the API server does, checked with
# kubectl: RBAC kinds, ServiceAccount tokens (kubectl create token), 401 and
# 403 in the real words, kubectl auth can-i (also --as and --list), impersonation,
# watches authorized as watch. kube-lite runs with TLS (kubectl sends tokens
# only over HTTPS) and a signing key the tests know, so they can forge tokens.
bats_require_minimum_version 1.5.0
load helpers

SA_USER=system:serviceaccount:ferry-system:ferry-agent

setup_file() {
  local d=$BATS_FILE_TMPDIR/pki
  mkdir -p "$d"
  # a self-signed serving certificate: the kubeconfig carries it as its CA
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/srv.key" -out "$d/srv.crt" -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  kl_start main --tls-cert "$d/srv.crt" --tls-key "$d/srv.key" \
    --service-account-signing-key-file "$d/sa.key"
  # shellcheck disable=SC2154 # (kl_start sets KL_KC_main)
  KUBECONFIG=$KL_KC_main kubectl apply -f - >/dev/null <<'Y'
apiVersion: v1
kind: Namespace
metadata: {name: ferry-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ferry-agent, namespace: ferry-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [allowed]
  verbs: [get]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: agent-reads-pods, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: ferry-agent, namespace: ferry-system}
Y
}

# sa_kubeconfig TOKEN FILE: the admin kubeconfig with TOKEN as its credential.
sa_kubeconfig() { sed "s/^\( *token:\).*/\1 $1/" "$KL_KC_main" >"$2"; }

# kubectl as the agent's ServiceAccount (a fresh token each time).
ka() {
  local t kc=$BATS_TEST_TMPDIR/sa.kc
  t=$(k create token ferry-agent -n ferry-system) || return 1
  sa_kubeconfig "$t" "$kc"
  kubectl --kubeconfig "$kc" "$@"
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# forge CLAIMS_JSON: a token signed with kube-lite's ServiceAccount key.
forge() {
  local h c
  h=$(printf '{"alg":"RS256","kid":"x"}' | b64url)
  c=$(printf '%s' "$1" | b64url)
  printf '%s.%s.%s' "$h" "$c" "$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$BATS_FILE_TMPDIR/pki/sa.key" | b64url)"
}

claims_of() { cut -d. -f2 <<<"$1" | tr -- '-_' '+/' | base64 -d 2>/dev/null; }

@test "RBAC kinds: served, in discovery and OpenAPI; the bootstrap roles exist" {
  run k api-resources --api-group rbac.authorization.k8s.io -o name
  assert_output --partial "roles.rbac.authorization.k8s.io"
  assert_output --partial "clusterrolebindings.rbac.authorization.k8s.io"
  run k get clusterrolebinding cluster-admin -o jsonpath='{.roleRef.name}={.subjects[0].kind}/{.subjects[0].name}'
  assert_output "cluster-admin=Group/system:masters"
  run k get clusterrolebinding system:public-info-viewer -o jsonpath='{.subjects[*].name}'
  assert_output "system:authenticated system:unauthenticated"
  run k get role pod-reader -o jsonpath='{.rules[0].verbs}'
  assert_output '["get","list"]'
  k patch role pod-reader --type json -p '[{"op":"add","path":"/metadata/labels","value":{"t":"1"}}]'
  run k get roles -l t=1 -o name
  assert_output "role.rbac.authorization.k8s.io/pod-reader"
  run k explain clusterrole
  assert_success
  run k auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}'
  assert_output 'kube-lite-admin ["system:masters","system:authenticated"]'
}

@test "kubectl create token: an RS256 JWT with the API server's claims" {
  uid=$(k get sa ferry-agent -n ferry-system -o jsonpath='{.metadata.uid}')
  t=$(k create token ferry-agent -n ferry-system --duration 20m)
  claims=$(claims_of "$t")
  run jq -r '[.iss, .sub, .aud[0], .exp - .iat, .["kubernetes.io"].namespace,
    .["kubernetes.io"].serviceaccount.name, .["kubernetes.io"].serviceaccount.uid] | join(" ")' <<<"$claims"
  assert_output "https://kubernetes.default.svc.cluster.local $SA_USER https://kubernetes.default.svc.cluster.local 1200 ferry-system ferry-agent $uid"
  run jq -r .alg < <(cut -d. -f1 <<<"$t" | base64 -d 2>/dev/null)
  assert_output "RS256"
  run k create token ferry-agent -n ferry-system --duration 1m
  assert_failure
  assert_output --partial 'spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes'
  run k create token nobody -n ferry-system
  assert_failure
  assert_output --partial 'serviceaccounts "nobody" not found'
}

@test "a ServiceAccount token gets what its Role allows and the API server's 403 otherwise" {
  run ka get pods -n default
  assert_success
  run ka get secret x -n default
  assert_failure
  assert_output --partial "Error from server (Forbidden): secrets \"x\" is forbidden: User \"$SA_USER\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
  run ka get secrets -n default
  assert_output --partial "secrets is forbidden: User \"$SA_USER\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
  run ka get pods -n kube-system
  assert_output --partial "pods is forbidden: User \"$SA_USER\" cannot list resource \"pods\" in API group \"\" in the namespace \"kube-system\""
  run ka get nodes
  assert_output --partial "nodes is forbidden: User \"$SA_USER\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
  run ka get leases -n default
  assert_output --partial "leases.coordination.k8s.io is forbidden: User \"$SA_USER\" cannot list resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"default\""
  run ka delete pod nothing -n default
  assert_output --partial "pods \"nothing\" is forbidden: User \"$SA_USER\" cannot delete resource \"pods\""
  # the Status itself, as a client library sees it
  t=$(k create token ferry-agent -n ferry-system)
  run curl -s --cacert "$BATS_FILE_TMPDIR/pki/srv.crt" -H "Authorization: Bearer $t" \
    "https://127.0.0.1:$(kl_port "$KL_KC_main")/api/v1/namespaces/default/secrets/x"
  run jq -c '{kind, status, reason, code, details}' <<<"$output"
  assert_output '{"kind":"Status","status":"Failure","reason":"Forbidden","code":403,"details":{"name":"x","kind":"secrets","group":""}}'
}

@test "resourceNames, subresources and a binding to a missing role" {
  run ka auth can-i get configmaps/allowed -n default
  assert_output "yes"
  run ka auth can-i get configmaps/other -n default
  assert_output "no"
  run ka auth can-i list configmaps -n default
  assert_output "no"
  run ka auth can-i create pods --subresource eviction -n default
  assert_output "yes"
  run ka auth can-i create pods -n default
  assert_output "no"
  k create -f - <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: not-there}
subjects:
- {kind: ServiceAccount, name: ferry-agent, namespace: ferry-system}
Y
  run ka get secrets -n default
  assert_output --partial 'in the namespace "default": RBAC: role.rbac.authorization.k8s.io "not-there" not found'
  k delete rolebinding dangling -n default
}

@test "a bad, expired or orphaned token is 401 Unauthorized; no token is system:anonymous" {
  sa_kubeconfig garbage "$BATS_TEST_TMPDIR/bad.kc"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/bad.kc" get pods
  assert_failure
  assert_output --partial "error: You must be logged in to the server (Unauthorized)"
  uid=$(k get sa ferry-agent -n ferry-system -o jsonpath='{.metadata.uid}')
  now=$(date +%s)
  claims() { # EXP UID
    printf '{"iss":"https://kubernetes.default.svc.cluster.local","sub":"%s","aud":["https://kubernetes.default.svc.cluster.local"],"iat":%d,"nbf":%d,"exp":%d,"kubernetes.io":{"namespace":"ferry-system","serviceaccount":{"name":"ferry-agent","uid":"%s"}}}' \
      "$SA_USER" $((now - 7200)) $((now - 7200)) "$1" "$2"
  }
  # a forged token with the right key and claims works: the check is the claims'
  sa_kubeconfig "$(forge "$(claims $((now + 600)) "$uid")")" "$BATS_TEST_TMPDIR/ok.kc"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/ok.kc" get pods -n default
  assert_success
  sa_kubeconfig "$(forge "$(claims $((now - 60)) "$uid")")" "$BATS_TEST_TMPDIR/expired.kc"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/expired.kc" get pods -n default
  assert_output --partial "(Unauthorized)"
  sa_kubeconfig "$(forge "$(claims $((now + 600)) 00000000-0000-4000-8000-000000000000)")" "$BATS_TEST_TMPDIR/uid.kc"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/uid.kc" get pods -n default
  assert_output --partial "(Unauthorized)"
  port=$(kl_port "$KL_KC_main")
  run curl -s --cacert "$BATS_FILE_TMPDIR/pki/srv.crt" "https://127.0.0.1:$port/version"
  assert_output --partial '"gitVersion"'
  run curl -s --cacert "$BATS_FILE_TMPDIR/pki/srv.crt" "https://127.0.0.1:$port/api/v1/namespaces"
  assert_output --partial 'namespaces is forbidden: User \"system:anonymous\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope'
  run curl -s --cacert "$BATS_FILE_TMPDIR/pki/srv.crt" "https://127.0.0.1:$port/apis"
  assert_output --partial 'forbidden: User \"system:anonymous\" cannot get path \"/apis\"'
}

@test "a token dies with its ServiceAccount, and a bound one with its Pod" {
  k create -f - <<'Y'
apiVersion: v1
kind: ServiceAccount
metadata: {name: short-lived, namespace: default}
---
apiVersion: v1
kind: Pod
metadata: {name: holder, namespace: default}
spec: {serviceAccountName: short-lived, containers: [{name: c, image: busybox}]}
Y
  k create rolebinding short-lived-view --role pod-reader --serviceaccount default:short-lived -n default -o yaml --dry-run=client | k create -f -
  sa_kubeconfig "$(k create token short-lived -n default --bound-object-kind Pod --bound-object-name holder)" "$BATS_TEST_TMPDIR/pod.kc"
  sa_kubeconfig "$(k create token short-lived -n default)" "$BATS_TEST_TMPDIR/plain.kc"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/pod.kc" get pods -n default
  assert_success
  k delete pod holder -n default
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/pod.kc" get pods -n default
  assert_output --partial "(Unauthorized)"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/plain.kc" get pods -n default
  assert_success
  k delete sa short-lived -n default
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/plain.kc" get pods -n default
  assert_output --partial "(Unauthorized)"
}

@test "kubectl auth can-i: yes and no for a ServiceAccount, for the admin, with --as, and --list" {
  run ka auth can-i list pods -n default
  assert_output "yes"
  run ka auth can-i watch pods -n default
  assert_output "no"
  run ka auth can-i get secrets -n default
  assert_output "no"
  run k auth can-i '*' '*'
  assert_output "yes"
  run k auth can-i get pods -n default --as "$SA_USER"
  assert_output "yes"
  run k auth can-i delete pods -n default --as "$SA_USER"
  assert_output "no"
  run k auth can-i get pods -n default --as jane
  assert_output "no"
  run k auth can-i get pods -n default --as jane --as-group system:masters
  assert_output "yes"
  run ka auth can-i --list -n default
  assert_output --regexp 'pods +\[\] +\[\] +\[get list\]'
  assert_output --regexp 'configmaps +\[\] +\[allowed\] +\[get\]'
  assert_output --regexp 'selfsubjectaccessreviews.authorization.k8s.io +\[\] +\[\] +\[create\]'
  # SubjectAccessReview, as a webhook or an aggregated server asks it (kubectl
  # validates a created object client-side with /openapi/v2, which kube-lite does not serve: --raw)
  run k create --raw /apis/authorization.k8s.io/v1/subjectaccessreviews -f - <<Y
{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {"user": "$SA_USER",
 "groups": ["system:serviceaccounts"], "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}}
Y
  run jq -r '.status.allowed, .status.reason' <<<"$output"
  assert_output "true
RBAC: allowed by RoleBinding \"agent-reads-pods/default\" of Role \"pod-reader\" to ServiceAccount \"ferry-agent/ferry-system\""
  run k create --raw /apis/authorization.k8s.io/v1/subjectaccessreviews -f - <<<'{"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}'
  assert_failure
  assert_output --partial 'is invalid'
}

@test "impersonation needs the impersonate verb on users, groups and serviceaccounts" {
  run ka get pods -n default --as jane
  assert_failure
  assert_output --partial "users \"jane\" is forbidden: User \"$SA_USER\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
  run ka get pods -n default --as system:serviceaccount:default:other
  assert_output --partial "serviceaccounts \"other\" is forbidden: User \"$SA_USER\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"default\""
  k create -f - <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-jane}
rules:
- {apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [jane]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: agent-impersonates-jane}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-jane}
subjects:
- {kind: ServiceAccount, name: ferry-agent, namespace: ferry-system}
Y
  # jane may now be impersonated, and jane herself may read nothing
  run ka get pods -n default --as jane
  assert_output --partial 'pods is forbidden: User "jane" cannot list resource "pods"'
  run ka auth whoami --as jane -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}'
  assert_output 'jane ["system:authenticated"]'
  run ka get pods -n default --as jane --as-group system:masters
  assert_output --partial "groups \"system:masters\" is forbidden: User \"$SA_USER\" cannot impersonate resource \"groups\""
}

@test "ClusterRoles: cluster scope through a ClusterRoleBinding, one namespace through a RoleBinding" {
  k create -f - <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-and-lease-reader}
rules:
- {apiGroups: [""], resources: [nodes], verbs: [get, list]}
- {apiGroups: [coordination.k8s.io], resources: ["*"], verbs: ["*"]}
- {nonResourceURLs: [/metrics], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: agent-reads-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-and-lease-reader}
subjects:
- {kind: ServiceAccount, name: ferry-agent, namespace: ferry-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: agent-reads-secrets, namespace: ferry-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: ServiceAccount, name: ferry-agent, namespace: ferry-system}
Y
  run ka get nodes
  assert_success
  run ka get leases -A
  assert_success
  run ka get secrets -n ferry-system
  assert_success
  run ka get secrets -n default
  assert_output --partial 'cannot list resource "secrets" in API group "" in the namespace "default"'
  run ka get secrets -A
  assert_output --partial 'cannot list resource "secrets" in API group "" at the cluster scope'
  run ka auth can-i get /metrics
  assert_output "yes"
  run ka auth can-i get /debug
  assert_output "no"
}

@test "a watch is authorized as verb watch" {
  run ka get --raw '/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1'
  assert_failure
  assert_output --partial "pods is forbidden: User \"$SA_USER\" cannot watch resource \"pods\" in API group \"\" in the namespace \"default\""
  k patch role pod-reader -n default --type json -p '[{"op":"add","path":"/rules/0/verbs/-","value":"watch"}]'
  k create -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: watched, namespace: default}
spec: {containers: [{name: c, image: busybox}]}
Y
  run ka get --raw '/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1'
  assert_success
  assert_output --partial '"type":"ADDED"'
  assert_output --partial '"name":"watched"'
  # a watch of one object by name (kubectl get NAME -w) is authorized for that name
  k patch role pod-reader -n default --type json -p '[{"op":"add","path":"/rules/1/verbs/-","value":"watch"}]'
  run ka get --raw '/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Dallowed'
  assert_success
  run ka get --raw '/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1'
  assert_output --partial 'configmaps is forbidden: User "'"$SA_USER"'" cannot watch resource "configmaps"'
}
