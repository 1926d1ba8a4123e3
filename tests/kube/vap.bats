#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# kube-lite's ValidatingAdmissionPolicies (CEL by cel-go in kube-lite-cel) and
# node- and pod-bound ServiceAccount tokens, checked with kubectl: the node an
# agent's token is bound to reaches the policy as the user's extra, so a policy
# can hold an agent to its own node's pods (issue 13), denials and warnings in
# the API server's words, expressions that do not compile refused, failurePolicy
# on errors. kube-lite runs with TLS (kubectl sends tokens only over HTTPS).
bats_require_minimum_version 1.5.0
load helpers

AGENT=system:serviceaccount:ferry-system:ferry-agent

setup_file() {
  kl_pki "$BATS_FILE_TMPDIR/pki"
  kl_start main --tls-cert "$BATS_FILE_TMPDIR/pki/srv.crt" --tls-key "$BATS_FILE_TMPDIR/pki/srv.key"
  # shellcheck disable=SC2154 # (kl_start sets KL_KC_main)
  export KUBECONFIG=$KL_KC_main
  {
    kubectl create namespace ferry-system
    kubectl create serviceaccount ferry-agent -n ferry-system
    kubectl create clusterrole agent-pods --verb get,list,create,update,patch,delete \
      --resource pods,pods/binding,pods/status,pods/eviction
    kubectl create clusterrolebinding agent-pods --clusterrole agent-pods --serviceaccount ferry-system:ferry-agent
  } >/dev/null
  make_nodes n1 n2
}

# as_token TOKEN FILE: the admin kubeconfig with TOKEN as its credential.
as_token() { sed "s/^\( *token:\).*/\1 $1/" "$KL_KC_main" >"$2"; }

# agent_kc NODE: a kubeconfig of ferry-agent with a token bound to Node NODE (printed).
agent_kc() {
  local kc=$BATS_TEST_TMPDIR/agent-$1.kc
  as_token "$(k create token ferry-agent -n ferry-system --bound-object-kind Node --bound-object-name "$1")" "$kc"
  echo "$kc"
}

# claims TOKEN: the token's claims (JSON).
claims() {
  local c
  c=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while ((${#c} % 4)); do c+='='; done
  base64 -d <<<"$c"
}

pod_on() { # pod_on NAME NODE
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: default, labels: {app: vap}}\nspec: {nodeName: %s, serviceAccountName: ferry-agent, containers: [{name: c, image: busybox}]}\n' \
    "$1" "$2" | k apply -f - >/dev/null
}

# The policy the chart ships, with request.subResource read only when present
# (an AdmissionRequest leaves it out when empty: reading it then is an error).
own_node_policy() {
  k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ferry-agent-own-node}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [UPDATE, DELETE], resources: [pods, pods/status]}
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods/binding]}
  matchConditions:
  - {name: is-agent, expression: "request.userInfo.username == 'system:serviceaccount:ferry-system:ferry-agent'"}
  variables:
  - {name: node, expression: "'authentication.kubernetes.io/node-name' in request.userInfo.extra ? request.userInfo.extra['authentication.kubernetes.io/node-name'][0] : ''"}
  validations:
  - expression: "variables.node != '' && (has(request.subResource) && request.subResource == 'binding' ? object.target.name == variables.node : oldObject.spec.nodeName == variables.node)"
    messageExpression: "'ferry-agent of node ' + variables.node + ' may only change pods on its node'"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ferry-agent-own-node}
spec: {policyName: ferry-agent-own-node, validationActions: [Deny]}
Y
}

# post PATH BODY KUBECONFIG: POST BODY to the API's PATH as the kubeconfig's user; prints the answer.
post() {
  local server token
  server=$(kubectl --kubeconfig "$3" config view --raw -o jsonpath='{.clusters[0].cluster.server}')
  token=$(sed -n 's/^ *token: //p' "$3")
  curl -s --cacert "$BATS_FILE_TMPDIR/pki/srv.crt" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X POST "$server$1" -d "$2"
}

# bind POD NODE KUBECONFIG: the Binding a scheduler writes, as the kubeconfig's user.
bind() {
  post "/api/v1/namespaces/default/pods/$1/binding" \
    "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"$1\"},\"target\":{\"kind\":\"Node\",\"name\":\"$2\"}}" "$3"
}

teardown() { k delete validatingadmissionpolicy,validatingadmissionpolicybinding --all >/dev/null 2>&1 || true; }

@test "a Node-bound token: the node in its claims and in the user's extra (kubectl auth whoami), dead with its Node" {
  k create node n9 2>/dev/null || printf 'apiVersion: v1\nkind: Node\nmetadata: {name: n9}\n' | k apply -f -
  uid=$(k get node n9 -o jsonpath='{.metadata.uid}')
  t=$(k create token ferry-agent -n ferry-system --bound-object-kind Node --bound-object-name n9)
  run claims "$t"
  assert_output --partial "\"node\":{\"name\":\"n9\",\"uid\":\"$uid\"}"
  refute_output --partial '"pod"'
  as_token "$t" "$BATS_TEST_TMPDIR/n9.kc"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/n9.kc" auth whoami -o jsonpath='{.status.userInfo.extra}'
  assert_success
  assert_output --partial '"authentication.kubernetes.io/node-name":["n9"]'
  assert_output --partial "\"authentication.kubernetes.io/node-uid\":[\"$uid\"]"
  assert_output --regexp '"authentication.kubernetes.io/credential-id":\["JTI=[0-9a-f-]{36}"\]'
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/n9.kc" auth whoami -o jsonpath='{.status.userInfo.username}'
  assert_output "$AGENT"
  k delete node n9
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/n9.kc" auth whoami
  assert_failure
  assert_output --partial "Unauthorized"
  printf 'apiVersion: v1\nkind: Node\nmetadata: {name: n9}\n' | k apply -f - # the same name, another uid
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/n9.kc" auth whoami
  assert_output --partial "Unauthorized"
  run k create token ferry-agent -n ferry-system --bound-object-kind Node --bound-object-name nowhere
  assert_failure
  assert_output --partial 'nodes "nowhere" not found'
}

@test "a Pod-bound token names the pod's node too; a pod of another ServiceAccount cannot be bound" {
  pod_on bound-pod n1
  puid=$(k get pod bound-pod -o jsonpath='{.metadata.uid}')
  nuid=$(k get node n1 -o jsonpath='{.metadata.uid}')
  t=$(k create token ferry-agent -n default --bound-object-kind Pod --bound-object-name bound-pod 2>&1) || true
  assert_equal "$t" 'error: failed to create token: serviceaccounts "ferry-agent" not found'
  k create serviceaccount ferry-agent -n default
  t=$(k create token ferry-agent -n default --bound-object-kind Pod --bound-object-name bound-pod)
  run claims "$t"
  assert_output --partial "\"pod\":{\"name\":\"bound-pod\",\"uid\":\"$puid\"}"
  assert_output --partial "\"node\":{\"name\":\"n1\",\"uid\":\"$nuid\"}"
  as_token "$t" "$BATS_TEST_TMPDIR/pod.kc"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/pod.kc" auth whoami -o jsonpath='{.status.userInfo.extra}'
  assert_output --partial '"authentication.kubernetes.io/pod-name":["bound-pod"]'
  assert_output --partial "\"authentication.kubernetes.io/pod-uid\":[\"$puid\"]"
  assert_output --partial '"authentication.kubernetes.io/node-name":["n1"]'
  k create serviceaccount other -n default
  run k create token other -n default --bound-object-kind Pod --bound-object-name bound-pod
  assert_failure
  assert_output --partial 'cannot bind token for serviceaccount "other" to pod running with different serviceaccount name.'
  k delete pod bound-pod --grace-period=0 --force
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/pod.kc" auth whoami
  assert_output --partial "Unauthorized"
  k delete serviceaccount ferry-agent other -n default
}

@test "policies and bindings are served as every kind: discovery, get, apply, delete" {
  run k api-resources --api-group admissionregistration.k8s.io -o name
  assert_line validatingadmissionpolicies.admissionregistration.k8s.io
  assert_line validatingadmissionpolicybindings.admissionregistration.k8s.io
  own_node_policy
  run k get validatingadmissionpolicy ferry-agent-own-node -o jsonpath='{.spec.failurePolicy} {.spec.matchConstraints.matchPolicy} {.spec.matchConstraints.resourceRules[0].scope}'
  assert_output "Fail Equivalent *"
  run k get validatingadmissionpolicybindings -o name
  assert_output validatingadmissionpolicybinding.admissionregistration.k8s.io/ferry-agent-own-node
  run k get --raw /openapi/v3/apis/admissionregistration.k8s.io/v1
  assert_output --partial '"/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/{name}/status"'
  assert_output --partial '"/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/{name}"'
  k delete validatingadmissionpolicybinding ferry-agent-own-node
  run k get validatingadmissionpolicybindings -o name
  assert_output ""
}

@test "an agent may change only its own node's pods: patch, delete, pods/status, pods/binding (403 as the API server words it)" {
  own_node_policy
  pod_on on-n1 n1
  pod_on on-n2 n2
  kc=$(agent_kc n1)
  run kubectl --kubeconfig "$kc" label pod on-n1 checked=yes
  assert_success
  run kubectl --kubeconfig "$kc" label pod on-n2 checked=yes
  assert_failure
  assert_output "Error from server (Forbidden): pods \"on-n2\" is forbidden: ValidatingAdmissionPolicy 'ferry-agent-own-node' with binding 'ferry-agent-own-node' denied request: ferry-agent of node n1 may only change pods on its node"
  run kubectl --kubeconfig "$kc" patch pod on-n2 --subresource status --type merge -p '{"status":{"phase":"Failed"}}'
  assert_output --partial 'pods "on-n2" is forbidden: ValidatingAdmissionPolicy'
  run kubectl --kubeconfig "$kc" delete pod on-n2 --grace-period=0 --force
  assert_output --partial "may only change pods on its node"
  run kubectl --kubeconfig "$kc" delete pod on-n1 --grace-period=0 --force
  assert_success
  run k get pod on-n2 -o jsonpath='{.metadata.labels.checked}{.status.phase}'
  assert_output ""
  # the binding a scheduler would write: only to the agent's node
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: unbound, namespace: default}\nspec: {containers: [{name: c, image: busybox}]}\n' | k apply -f -
  run bind unbound n2 "$kc"
  assert_output --partial '"code":403'
  assert_output --partial '"reason":"Forbidden"'
  assert_output --partial "\"message\":\"pods \\\"unbound\\\" is forbidden: ValidatingAdmissionPolicy 'ferry-agent-own-node' with binding 'ferry-agent-own-node' denied request: ferry-agent of node n1 may only change pods on its node\""
  assert_output --partial '"details":{"name":"unbound","kind":"pods","group":"","causes":[{"message":"ValidatingAdmissionPolicy'
  run bind unbound n1 "$kc"
  assert_output --partial '"code":201'
  run k get pod unbound -o jsonpath='{.spec.nodeName}'
  assert_output n1
  # the admin and an agent of the other node are not this agent
  run k label pod on-n2 by=admin
  assert_success
  run kubectl --kubeconfig "$(agent_kc n2)" label pod on-n2 checked=n2
  assert_success
  k delete pod on-n2 unbound --grace-period=0 --force
}

@test "request.subResource is absent from the main resource's requests: the chart's draft expression errs, failurePolicy Fail denies" {
  own_node_policy
  k patch validatingadmissionpolicy ferry-agent-own-node --type json -p \
    '[{"op":"replace","path":"/spec/validations/0/expression","value":"variables.node != '"''"' && (request.subResource == '"'binding'"' ? object.target.name == variables.node : oldObject.spec.nodeName == variables.node)"}]'
  pod_on mine n1
  run kubectl --kubeconfig "$(agent_kc n1)" label pod mine checked=yes
  assert_failure
  assert_output --partial "The pods \"mine\" is invalid: : ValidatingAdmissionPolicy 'ferry-agent-own-node' with binding 'ferry-agent-own-node' denied request: expression 'variables.node != '' && (request.subResource == 'binding' ? object.target.name == variables.node : oldObject.spec.nodeName == variables.node)' resulted in error: no such key: subResource"
  k delete pod mine --grace-period=0 --force
}

@test "Warn: the write goes through and kubectl prints the warning" {
  k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: labelled}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}
  validations:
  - {expression: "has(object.metadata.labels) && 'team' in object.metadata.labels", message: "every ConfigMap needs a team label"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: labelled-warn}
spec: {policyName: labelled, validationActions: [Warn, Audit]}
Y
  run k create configmap unlabelled --from-literal a=b
  assert_success
  assert_output --partial "Warning: Validation failed for ValidatingAdmissionPolicy 'labelled' with binding 'labelled-warn': every ConfigMap needs a team label"
  assert_output --partial "configmap/unlabelled created"
  k patch validatingadmissionpolicybinding labelled-warn --type merge -p '{"spec":{"validationActions":["Deny"]}}'
  run k create configmap second --from-literal a=b
  assert_failure
  # kubectl's generator commands print the Status's message: "forbidden" whatever the code (422 here, the reason Invalid)
  assert_output "error: failed to create configmap: configmaps \"second\" is forbidden: ValidatingAdmissionPolicy 'labelled' with binding 'labelled-warn' denied request: every ConfigMap needs a team label"
  run k label configmap unlabelled team=a
  assert_success
  k delete configmap unlabelled
}

@test "an expression that does not compile is refused with the compiler's message (422); so are bad bindings" {
  run k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: broken}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
  variables:
  - {name: who, expression: "request.userInfo.usrname"}
  validations:
  - {expression: "object.spec.nodeName =="}
  - {expression: "variables.nothing == 1"}
  - {expression: "'a string'"}
Y
  assert_failure
  assert_output --partial 'The ValidatingAdmissionPolicy "broken" is invalid:'
  assert_output --partial "spec.variables[0].expression: Invalid value: \"request.userInfo.usrname\": compilation failed: ERROR: <input>:1:17: undefined field 'usrname'"
  assert_output --partial "spec.validations[0].expression: Invalid value: \"object.spec.nodeName ==\": compilation failed: ERROR: <input>:1:24: Syntax error: mismatched input '<EOF>'"
  assert_output --partial "spec.validations[1].expression: Invalid value: \"variables.nothing == 1\": compilation failed: ERROR: <input>:1:10: undefined field 'nothing'"
  assert_output --partial "spec.validations[2].expression: Invalid value: \"'a string'\": must evaluate to bool but got string"
  run k get validatingadmissionpolicy broken
  assert_failure
  run k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: loud}
spec: {policyName: p, validationActions: [Deny, Warn, Shout]}
Y
  assert_failure
  assert_output --partial 'spec.validationActions[2]: Unsupported value: "Shout": supported values: "Audit", "Deny", "Warn"'
  assert_output --partial 'spec.validationActions: Invalid value: ["Deny","Warn"]: must not contain both Deny and Warn'
  run k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: with-params}
spec: {policyName: p, validationActions: [Deny], paramRef: {name: x, parameterNotFoundAction: Deny}}
Y
  assert_output --partial 'spec.paramRef: Forbidden: kube-lite does not implement params'
}

@test "failurePolicy: an expression that errs denies under Fail and is skipped under Ignore" {
  k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: needs-owner}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [secrets]}
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: default}}
  validations:
  - {expression: "object.metadata.annotations['owner'] != ''"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: needs-owner}
spec: {policyName: needs-owner, validationActions: [Deny]}
Y
  run k create secret generic plain --from-literal a=b
  assert_failure
  assert_output --partial 'secrets "plain" is forbidden: ValidatingAdmissionPolicy '"'needs-owner'"' with binding '"'needs-owner'"' denied request: expression '"'object.metadata.annotations['owner'] != '''"' resulted in error: no such key: annotations'
  k patch validatingadmissionpolicy needs-owner --type merge -p '{"spec":{"failurePolicy":"Ignore"}}'
  run k create secret generic plain --from-literal a=b
  assert_success
  k annotate secret plain owner=me
  run k create secret generic elsewhere -n ferry-system --from-literal a=b
  assert_success
  k delete secret plain
  k delete secret elsewhere -n ferry-system
}

@test "matchConditions and objectSelector: a policy applies only where they select" {
  k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: frozen}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: ["*"], resources: [configmaps], resourceNames: [frozen-a, frozen-b]}
    objectSelector: {matchExpressions: [{key: frozen, operator: Exists}]}
  matchConditions:
  - {name: not-admin, expression: "request.userInfo.username != 'kube-lite-admin' || request.dryRun"}
  validations:
  - {expression: "false", message: "frozen"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: frozen}
spec: {policyName: frozen, validationActions: [Deny]}
Y
  run k create configmap frozen-a --from-literal a=b
  assert_success
  k label configmap frozen-a frozen=yes
  run k label configmap frozen-a more=yes --dry-run=server
  assert_output --partial 'denied request: frozen'
  run k label configmap frozen-a more=yes
  assert_success
  k delete configmap frozen-a
}

@test "pods/eviction is a CREATE of an Eviction (policy/v1) for the expressions" {
  k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-evictions}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods/eviction]}
  validations:
  - expression: "request.subResource != 'eviction'"
    messageExpression: "request.kind.group + '/' + request.kind.version + ' ' + object.kind + ' of ' + request.name + ' in ' + namespaceObject.metadata.name"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-evictions}
spec: {policyName: no-evictions, validationActions: [Deny]}
Y
  pod_on evictee n2
  run post /api/v1/namespaces/default/pods/evictee/eviction '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"evictee"}}' "$KL_KC_main"
  assert_output --partial '"code":422'
  assert_output --partial "denied request: policy/v1 Eviction of evictee in default"
  run k get pod evictee -o name
  assert_output pod/evictee
  k delete pod evictee --grace-period=0 --force
}

@test "without the CEL helper a policy is refused, saying why; a kube-lite without policies does not need it" {
  kl_start nohelper --cel-helper /nonexistent/kube-lite-cel
  # shellcheck disable=SC2154 # (kl_start sets KL_KC_nohelper)
  export KUBECONFIG=$KL_KC_nohelper
  run k create configmap fine --from-literal a=b
  assert_success
  run k apply -f - <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p}
spec:
  matchConstraints: {resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]}
  validations: [{expression: "true"}]
Y
  assert_failure
  assert_output --partial "kube-lite's CEL helper /nonexistent/kube-lite-cel cannot be run (No such file or directory)"
  kl_stop nohelper
}
