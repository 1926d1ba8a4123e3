#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# kube-lite checked with a client no one here wrote: kubectl.
bats_require_minimum_version 1.5.0
load helpers

setup_file() { kl_start main --faults; }

@test "discovery: namespaces, api-resources, raw paths" {
  run k get namespaces -o name
  assert_success
  assert_output --partial "namespace/default"
  assert_output --partial "namespace/kube-system"
  run k api-resources
  assert_success
  assert_output --regexp 'pods +po +v1 +true +Pod'
  assert_output --regexp 'leases +coordination.k8s.io/v1 +true +Lease'
  run k get --raw /version
  assert_output --partial '"gitVersion":"v1.32.0-kube-lite"'
}

@test "create, get, label, annotate, patch (merge, json, strategic), delete" {
  kcreate -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: c, image: busybox}]}
Y
  run k get pod web -o jsonpath='{.spec.nodeName}'
  assert_output "node-a"
  k label pod web tier=front
  k annotate pod web ferry.dev/migrate-to=auto
  run k get pods -l 'tier in (front,back)' -o name
  assert_output "pod/web"
  run k get pods -l 'tier!=front' -o name
  assert_output ""
  k patch pod web --type merge -p '{"metadata":{"labels":{"m":"1"}}}'
  k patch pod web --type json -p '[{"op":"add","path":"/metadata/labels/j","value":"2"}]'
  k patch pod web --type strategic -p '{"metadata":{"labels":{"s":"3"}}}'
  run k get pod web -o jsonpath='{.metadata.labels.m}{.metadata.labels.j}{.metadata.labels.s}{.metadata.annotations.ferry\.dev/migrate-to}'
  assert_output "123auto"
  run k get pods --field-selector spec.nodeName=node-a -o name
  assert_output "pod/web"
  # bound to a node no kubelet runs: as on a real cluster, only a forced delete removes it
  run k delete pod web --grace-period=0 --force
  assert_success
  run k get pod web
  assert_failure
  assert_output --partial 'pods "web" not found'
}

@test "strategic merge patch merges lists by key, as the API server does" {
  kcreate -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: sp}
spec:
  containers:
  - {name: a, image: busybox, env: [{name: X, value: "1"}]}
  - {name: b, image: busybox}
Y
  k patch pod sp --type strategic -p '{"spec":{"containers":[{"name":"a","env":[{"name":"Y","value":"2"}]},{"name":"b","$patch":"delete"},{"name":"c","image":"nginx"}]}}'
  run k get pod sp -o jsonpath='{range .spec.containers[*]}{.name}={.image}{range .env[*]},{.name}{end};{end}'
  assert_output "a=busybox,X,Y;c=nginx;"
  k delete pod sp
}

@test "apply creates, then applies a change" {
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n' > "$BATS_TEST_TMPDIR/svc.yaml"
  run k apply -f "$BATS_TEST_TMPDIR/svc.yaml"
  assert_success
  assert_output --partial "service/svc created"
  sed -i 's/port: 80/port: 8080/' "$BATS_TEST_TMPDIR/svc.yaml"
  run k apply -f "$BATS_TEST_TMPDIR/svc.yaml"
  assert_success
  assert_output --partial "service/svc configured"
  run k get svc svc -o jsonpath='{.spec.ports[0].port}'
  assert_output "8080"
}

@test "a stale resourceVersion is a conflict" {
  kcreate -f - <<'Y'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: l1}
spec: {holderIdentity: a}
Y
  k get lease l1 -o json > "$BATS_TEST_TMPDIR/old.json"
  k patch lease l1 --type merge -p '{"spec":{"holderIdentity":"b"}}'
  run k replace -f "$BATS_TEST_TMPDIR/old.json"
  assert_failure
  assert_output --partial "the object has been modified"
}

@test "watch: kubectl get -w sees changes" {
  k get pods -w --output-watch-events -o json > "$BATS_TEST_TMPDIR/watch.out" 2>&1 3>&- &
  watcher=$!
  sleep 0.5
  kcreate -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: watched}
spec: {containers: [{name: c, image: busybox}]}
Y
  k delete pod watched
  for ((i = 0; i < 100; i++)); do grep -q '"DELETED"' "$BATS_TEST_TMPDIR/watch.out" && break; sleep 0.05; done
  kill "$watcher" 2>/dev/null || true
  run cat "$BATS_TEST_TMPDIR/watch.out"
  assert_output --regexp '"type": ?"ADDED"'
  assert_output --regexp '"type": ?"DELETED"'
  assert_output --regexp '"name": ?"watched"'
}

@test "410 Gone for a watch from a forgotten history" {
  kl_fault "$KUBECONFIG" '{"forgetHistory":true}'
  run k get --raw '/api/v1/pods?watch=true&resourceVersion=1&timeoutSeconds=2'
  assert_output --partial '"code":410'
  assert_output --partial '"reason":"Expired"'
}

@test "chunked lists: every page at the first page's resourceVersion, the next page after the last key; kubectl --chunk-size lists all" {
  k create namespace chunks
  for n in a b c d e; do k create configmap "cm-$n" -n chunks >/dev/null; done
  run k get configmaps -n chunks --chunk-size=2 -o name
  assert_output "$(printf 'configmap/cm-%s\n' a b c d e)"
  # kubectl's table, chunked too (the Table carries the continue token)
  run k get configmaps -n chunks --chunk-size=2 --no-headers -o custom-columns=N:.metadata.name
  assert_output "$(printf 'cm-%s\n' a b c d e)"
  run k get configmaps -n chunks --chunk-size=2 --no-headers
  [ "${#lines[@]}" -eq 5 ]
  first=$(k get --raw '/api/v1/namespaces/chunks/configmaps?limit=2')
  rv=$(jq -r .metadata.resourceVersion <<<"$first")
  token=$(jq -r .metadata.continue <<<"$first")
  [ "$(jq -r '[.items[].metadata.name] | join(" ")' <<<"$first")" = "cm-a cm-b" ]
  # the token is the API server's: its list's resourceVersion and the last key
  run python3 -c 'import base64,sys; t=sys.argv[1]; print(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)).decode())' "$token"
  assert_output "{\"v\":\"meta.k8s.io/v1\",\"rv\":$rv,\"start\":\"chunks/cm-b\"}"
  # between the pages one before the token goes and one after it comes: nothing
  # is skipped, and the page is still at the first page's resourceVersion
  k delete configmap cm-a -n chunks >/dev/null
  k create configmap cm-bb -n chunks >/dev/null
  second=$(k get --raw "/api/v1/namespaces/chunks/configmaps?limit=2&continue=$token")
  [ "$(jq -r '[.items[].metadata.name] | join(" ")' <<<"$second")" = "cm-bb cm-c" ]
  [ "$(jq -r .metadata.resourceVersion <<<"$second")" = "$rv" ]
  run k get --raw '/api/v1/namespaces/chunks/configmaps?limit=2&continue=garbage'
  assert_failure
  assert_output --partial "continue key is not valid"
  # a token older than the history (compacted) is 410 Expired, as the API server says
  kl_fault "$KUBECONFIG" '{"forgetHistory":true}'
  run k get --raw "/api/v1/namespaces/chunks/configmaps?limit=2&continue=$token"
  assert_failure
  assert_output --partial "The provided continue parameter is too old"
  run k get configmaps -n chunks --chunk-size=2 -o name
  assert_output "$(printf 'configmap/cm-%s\n' b bb c d e)"
  k delete namespace chunks >/dev/null
}

@test "injected write failures come back as Status errors" {
  kl_fault "$KUBECONFIG" '{"failWrites":1,"code":500}'
  run k label namespace default x=y
  assert_failure
  assert_output --partial "injected failure"
  run k label namespace default x=y
  assert_success
}

# ferry_crd PLURAL SCOPE NAMES: a CustomResourceDefinition in group ferry.dev with
# one version, v1alpha1 (served, stored, a status subresource); NAMES: the rest of
# its names after the plural; the rest of the version (schema, columns) on stdin.
ferry_crd() {
  printf 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: %s.ferry.dev}\nspec:\n' "$1"
  printf '  group: ferry.dev\n  scope: %s\n  names: {plural: %s, %s}\n' "$2" "$1" "$3"
  printf '  versions:\n  - name: v1alpha1\n    served: true\n    storage: true\n    subresources: {status: {}}\n'
  cat
}

@test "custom resources: a CRD, its objects, schema validation, defaults and pruning" {
  ferry_crd podmigrations Namespaced 'singular: podmigration, kind: PodMigration, shortNames: [pm]' <<'Y' | kcreate -f -
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [pod]
            properties:
              pod: {type: string}
              strategy: {type: string, enum: [stopAndCopy, preCopy, postCopy], default: stopAndCopy}
              timeoutSeconds: {type: integer, minimum: 1, default: 600}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
Y
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: move-web}\nspec: {pod: web, unknownField: 1}\n' \
    > "$BATS_TEST_TMPDIR/pm.yaml"
  # kubectl's default (Strict): an unknown field refuses the object
  run kcreate -f "$BATS_TEST_TMPDIR/pm.yaml"
  assert_failure
  assert_output --partial 'PodMigration in version "v1alpha1" cannot be handled as a PodMigration: strict decoding error: unknown field "spec.unknownField"'
  # Warn: created with a warning, the field pruned
  run kcreate --validate=warn -f "$BATS_TEST_TMPDIR/pm.yaml"
  assert_success
  assert_output --partial 'Warning: unknown field "spec.unknownField"'
  run k get podmigrations -o name
  assert_output "podmigration.ferry.dev/move-web"
  # defaults applied, unknown fields pruned
  run k get pm move-web -o jsonpath='{.spec}'
  assert_output '{"pod":"web","strategy":"stopAndCopy","timeoutSeconds":600}'
  # violations are 422 with every cause named
  run kcreate -f - <<'Y'
apiVersion: ferry.dev/v1alpha1
kind: PodMigration
metadata: {name: bad}
spec: {strategy: fast, timeoutSeconds: 0}
Y
  assert_failure
  assert_output --partial 'spec.pod: Required value'
  assert_output --partial 'spec.strategy: Unsupported value: "fast": supported values: "stopAndCopy", "preCopy", "postCopy"'
  assert_output --partial 'spec.timeoutSeconds in body should be greater than or equal to 1'
  run k patch pm move-web --type merge -p '{"spec":{"timeoutSeconds":"soon"}}'
  assert_failure
  assert_output --partial 'must be of type integer'
  # the status subresource: the main resource ignores status, /status takes it
  k patch pm move-web --type merge -p '{"status":{"phase":"Ignored"}}'
  run k get pm move-web -o jsonpath='{.status.phase}'
  assert_output ""
  k patch pm move-web --subresource status --type merge -p '{"status":{"phase":"Pending"}}'
  run k get pm move-web -o jsonpath='{.status.phase}'
  assert_output "Pending"
  # strategic merge patch is for built-in kinds only
  run k patch pm move-web --type strategic -p '{"spec":{"pod":"x"}}'
  assert_failure
}

@test "printer columns: kubectl get shows a CRD's additionalPrinterColumns" {
  ferry_crd trips Cluster 'singular: trip, kind: Trip' <<'Y' | kcreate -f -
    additionalPrinterColumns:
    - {name: Phase, type: string, jsonPath: .status.phase}
    - {name: Pod, type: string, jsonPath: .spec.pod}
    - {name: Downtime, type: integer, jsonPath: .status.freezeMillis, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
Y
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: Trip\nmetadata: {name: t1}\nspec: {pod: web}\n' | kcreate -f -
  k patch trip t1 --subresource status --type merge -p '{"status":{"phase":"Restoring","freezeMillis":312}}'
  run k get trips
  assert_line --index 0 --regexp '^NAME +PHASE +POD +AGE$'
  assert_line --index 1 --regexp '^t1 +Restoring +web +[0-9]+s$'
  run k get trips -o wide
  assert_line --index 0 --regexp '^NAME +PHASE +POD +DOWNTIME +AGE$'
  assert_line --index 1 --regexp '^t1 +Restoring +web +312 +[0-9]+s$'
  run k get trip t1
  assert_line --index 1 --regexp '^t1 +Restoring +web'
}

@test "OpenAPI v3: kubectl validates through the server, explain reads a CRD's schema" {
  run k get --raw /openapi/v3
  assert_output --regexp '"api/v1":\{"serverRelativeURL":"/openapi/v3/api/v1\?hash=[0-9a-f]{64}"'
  # kubectl looks for fieldValidation on each kind's PATCH operation
  run k get --raw /openapi/v3/api/v1
  assert_output --partial '"/api/v1/namespaces/{namespace}/pods/{name}":'
  assert_output --partial '"name":"fieldValidation","in":"query"'
  run k get --raw /openapi/v3/apis/nothing.example/v1
  assert_failure
  # unknown metadata fields: refused under Strict (kubectl's default), warned under Warn
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: ov, colour: blue}\nspec: {ports: [{port: 80}]}\n' > "$BATS_TEST_TMPDIR/s.yaml"
  run k apply -f "$BATS_TEST_TMPDIR/s.yaml"
  assert_failure
  assert_output --partial 'strict decoding error: unknown field "metadata.colour"'
  run k apply --validate=warn -f "$BATS_TEST_TMPDIR/s.yaml"
  assert_success
  assert_output --partial 'Warning: unknown field "metadata.colour"'
  # explain: the CRD's schema (the custom resources test made it)
  run k explain pm.spec.strategy
  assert_success
  assert_output --partial 'ENUM:'
  assert_output --partial 'stopAndCopy'
}

@test "dry run: create, patch, delete and evict answer but write nothing" {
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: dry}\nspec: {containers: [{name: c, image: busybox}]}\n' > "$BATS_TEST_TMPDIR/p.yaml"
  run kcreate --dry-run=server -f "$BATS_TEST_TMPDIR/p.yaml"
  assert_success
  assert_output --partial '(server dry run)'
  run k get pod dry
  assert_failure
  kcreate -f "$BATS_TEST_TMPDIR/p.yaml"
  rv=$(k get pod dry -o jsonpath='{.metadata.resourceVersion}')
  run k label pod dry --dry-run=server a=b
  assert_success
  run k delete pod dry --dry-run=server
  assert_success
  run k get pod dry -o jsonpath='{.metadata.resourceVersion}{.metadata.labels}'
  assert_output "$rv"
  run curl -s -XPOST -H 'Content-Type: application/json' \
    -d '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"dry"},"deleteOptions":{"dryRun":["All"]}}' \
    "http://127.0.0.1:$(kl_port "$KUBECONFIG")/api/v1/namespaces/default/pods/dry/eviction"
  assert_output --partial '"code":201'
  run k get pod dry -o jsonpath='{.metadata.resourceVersion}'
  assert_output "$rv"
  run k get --raw '/api/v1/namespaces/default/pods?dryRun=Some'
  assert_success # reads ignore it
  run curl -s -XDELETE "http://127.0.0.1:$(kl_port "$KUBECONFIG")/api/v1/namespaces/default/pods/dry?dryRun=Some"
  assert_output --partial 'dryRun: Unsupported value: \"Some\"'
  k delete pod dry
}

@test "protobuf bodies: kubectl's generator commands work; a body that is not protobuf is a 400, not misread" {
  # (kubectl 1.32's generator commands send protobuf)
  k create namespace pb-ns
  k create secret generic pb-secret --from-literal=k=v --from-literal=empty=
  k create configmap pb-cm --from-literal=greeting=hello
  run k get secret pb-secret -o jsonpath='{.type} {.data.k} [{.data.empty}]'
  assert_output "Opaque dg== []"
  run k get configmap pb-cm -o jsonpath='{.data.greeting}'
  assert_output hello
  run k get namespace pb-ns -o jsonpath='{.status.phase}'
  assert_output Active
  run curl -s -w '\n%{http_code}' -XPOST -H 'Content-Type: application/vnd.kubernetes.protobuf' \
    --data-binary 'k8s-not-protobuf' "http://127.0.0.1:$(kl_port "$KUBECONFIG")/api/v1/namespaces"
  assert_line --index 1 "400"
  assert_output --partial "does not appear to be a protobuf message"
  printf 'k8s\000\012\377\377' >"$BATS_TEST_TMPDIR/bad.pb"
  run curl -s -w '\n%{http_code}' -XPOST -H 'Content-Type: application/vnd.kubernetes.protobuf' \
    --data-binary "@$BATS_TEST_TMPDIR/bad.pb" "http://127.0.0.1:$(kl_port "$KUBECONFIG")/api/v1/namespaces"
  assert_line --index 1 "400"
  assert_output --partial '"reason":"BadRequest"'
  k delete secret pb-secret
  k delete configmap pb-cm
  k delete namespace pb-ns
}

@test "pods: binding assigns a node once; a bound pod terminates gracefully until its kubelet confirms" {
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: gp}\nspec: {schedulerName: ferry, terminationGracePeriodSeconds: 20, containers: [{name: c, image: busybox}]}\n' \
    >"$BATS_TEST_TMPDIR/p.yaml"
  kcreate -f "$BATS_TEST_TMPDIR/p.yaml"
  printf '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"gp"},"target":{"apiVersion":"v1","kind":"Node","name":"node-x"}}' \
    >"$BATS_TEST_TMPDIR/b.json"
  run k create --raw /api/v1/namespaces/default/pods/gp/binding -f "$BATS_TEST_TMPDIR/b.json"
  assert_success
  run k get pod gp -o jsonpath='{.spec.nodeName} {.status.conditions[?(@.type=="PodScheduled")].status}'
  assert_output "node-x True"
  run k create --raw /api/v1/namespaces/default/pods/gp/binding -f "$BATS_TEST_TMPDIR/b.json"
  assert_failure
  assert_output --partial 'pod gp is already assigned to node "node-x"'
  run k get --raw /api/v1
  assert_output --partial '"name":"pods/binding"'
  # bound: delete marks it; the grace period is the pod's own
  run k delete pod gp --wait=false
  assert_success
  run k get pod gp -o jsonpath='{.metadata.deletionGracePeriodSeconds}'
  assert_output 20
  run k get pod gp
  assert_output --partial Terminating
  # a shorter grace period shortens it; the kubelet's delete with 0 removes it
  k delete pod gp --wait=false --grace-period=5
  run k get pod gp -o jsonpath='{.metadata.deletionGracePeriodSeconds}'
  assert_output 5
  run curl -s -XDELETE -H 'Content-Type: application/json' -d '{"gracePeriodSeconds":0}' \
    "http://127.0.0.1:$(kl_port "$KUBECONFIG")/api/v1/namespaces/default/pods/gp"
  assert_success
  run k get pod gp
  assert_failure
  # an unbound pod goes at once
  kcreate -f "$BATS_TEST_TMPDIR/p.yaml"
  k delete pod gp --wait=false
  run k get pod gp
  assert_failure
}

@test "eviction honours PodDisruptionBudgets (maxUnavailable as a percentage, matchExpressions): 429 while the budget holds" {
  for p in pa pb; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, labels: {tier: db}}\nspec: {nodeName: node-x, containers: [{name: c, image: busybox}]}\n' "$p" | kcreate -f -
    k patch pod "$p" --subresource status --type merge -p '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}'
  done
  printf 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: db}\nspec: {maxUnavailable: "0%%", selector: {matchExpressions: [{key: tier, operator: In, values: [db]}]}}\n' | kcreate -f -
  evict() {
    curl -s -XPOST -H 'Content-Type: application/json' -d "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"$1\"}}" \
      "http://127.0.0.1:$(kl_port "$KUBECONFIG")/api/v1/namespaces/default/pods/$1/eviction"
  }
  run evict pa
  assert_output --partial '"code":429'
  assert_output --partial "The disruption budget db needs 2 healthy pods and has 2 currently"
  k patch pdb db --type merge -p '{"spec":{"maxUnavailable":"50%"}}'
  run evict pa
  assert_output --partial '"code":201'
  run k get pod pa -o jsonpath='{.metadata.deletionTimestamp}'
  assert_output --regexp '.+'
  # pa is terminating, so no longer healthy: pb may not go too
  run evict pb
  assert_output --partial '"code":429'
  k delete pdb db
  k delete pod pa pb --grace-period=0 --force
}

@test "kubectl drain: cordons, evicts through pods/eviction, retries while a PodDisruptionBudget says no (429), then drains" {
  printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node-dr}\n' | kcreate -f -
  for p in da db; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, labels: {tier: dr}}\nspec: {nodeName: node-dr, containers: [{name: c, image: busybox}]}\n' "$p" | kcreate -f -
    k patch pod "$p" --subresource status --type merge -p '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}'
  done
  printf 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: dr}\nspec: {minAvailable: 2, selector: {matchLabels: {tier: dr}}}\n' | kcreate -f -
  # bare pods need --force; the budget holds: retried until the timeout
  run k drain node-dr --force --grace-period=0 --timeout=3s
  assert_failure
  assert_output --partial "node/node-dr cordoned"
  assert_output --partial "Cannot evict pod as it would violate the pod's disruption budget"
  run k get node node-dr -o jsonpath='{.spec.unschedulable}'
  assert_output true
  run k get pods -l tier=dr -o name
  assert_output --partial pod/da
  # the budget goes: both evicted, deleted, and the drain ends
  k delete pdb dr
  run k drain node-dr --force --grace-period=0 --timeout=30s
  assert_success
  assert_output --partial "evicting pod default/da"
  assert_output --partial "pod/db evicted"
  assert_output --partial "node/node-dr drained"
  run k get pods -l tier=dr -o name
  assert_output ""
  k delete node node-dr
}
