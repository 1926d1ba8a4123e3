#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# controller-manager-lite on kube-lite, driven with kubectl: the scheduler binds,
# Deployments make ReplicaSets make pods, StatefulSets make ordinal pods in
# order, Services with a selector get their endpoints, orphans are collected.
bats_require_minimum_version 1.5.0
load helpers

setup_file() { cluster_start n1 n2; }
teardown_file() { cluster_stop; }

@test "a Deployment: one ReplicaSet, its pods bound to nodes, a deleted one replaced, scaled down; its Service's endpoints" {
  kubectl apply -f - <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
Y
  until_is 3 eval 'kubectl get pods -l app=web -o name | wc -l'
  run kubectl get rs -o jsonpath='{.items[*].metadata.ownerReferences[0].kind}'
  assert_output Deployment
  until_is 3 eval 'kubectl get pods -l app=web -o jsonpath="{.items[*].spec.nodeName}" | wc -w'
  run kubectl get pods -l app=web -o jsonpath='{.items[*].metadata.ownerReferences[0].kind}'
  assert_output "ReplicaSet ReplicaSet ReplicaSet"
  i=1
  for p in $(kubectl get pods -l app=web -o jsonpath='{.items[*].metadata.name}'); do
    run_pod "$p" "10.9.0.$i"
    i=$((i + 1))
  done
  until_is "10.9.0.1 10.9.0.2 10.9.0.3" eval 'kubectl get endpoints web -o jsonpath="{.subsets[0].addresses[*].ip}" | tr " " "\n" | sort | xargs'
  run kubectl get endpointslice web-kcm -o jsonpath='{.metadata.labels.kubernetes\.io/service-name} {.ports[0].port}'
  assert_output "web 8080"
  until_is 3 kubectl get deploy web -o jsonpath='{.status.readyReplicas}'
  # a pod that is deleted is replaced
  victim=$(kubectl get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
  kubectl delete pod "$victim" --grace-period=0 --force
  until_is 3 eval 'kubectl get pods -l app=web -o name | wc -l'
  run kubectl get pod "$victim"
  assert_failure
  kubectl scale deploy web --replicas=1 || kubectl patch deploy web --type merge -p '{"spec":{"replicas":1}}'
  until_is 1 eval 'kubectl get pods -l app=web -o json | python3 -c "import json,sys; print(sum(1 for p in json.load(sys.stdin)[\"items\"] if not p[\"metadata\"].get(\"deletionTimestamp\")))"'
}

@test "a StatefulSet: NAME-0 first, NAME-1 once it is ready; a lost pod comes back under its name" {
  kubectl apply -f - <<'Y'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {nodeSelector: {zone: n2}, containers: [{name: c, image: busybox}]}
Y
  until_is db-0 kubectl get pods -l app=db -o jsonpath='{.items[*].metadata.name}'
  sleep 0.5
  run kubectl get pods -l app=db -o jsonpath='{.items[*].metadata.name}'
  assert_output db-0 # OrderedReady: db-1 waits for db-0
  until_is n2 kubectl get pod db-0 -o jsonpath='{.spec.nodeName}'
  run kubectl get pod db-0 -o jsonpath='{.spec.hostname} {.spec.subdomain} {.metadata.labels.statefulset\.kubernetes\.io/pod-name}'
  assert_output "db-0 db db-0"
  run_pod db-0 10.9.1.1
  until_is "db-0 db-1" kubectl get pods -l app=db -o jsonpath='{.items[*].metadata.name}'
  uid=$(kubectl get pod db-0 -o jsonpath='{.metadata.uid}')
  kubectl delete pod db-0 --grace-period=0 --force
  until_is db-0 kubectl get pod db-0 -o jsonpath='{.metadata.name}'
  [ "$(kubectl get pod db-0 -o jsonpath='{.metadata.uid}')" != "$uid" ]
}

@test "pods whose controller is gone are collected; pods for another scheduler are left unbound" {
  kubectl delete statefulset db
  # bound pods terminate (no kubelet here to finish): deletionTimestamp set on both
  until_is 2 eval 'kubectl get pods -l app=db -o json | python3 -c "import json,sys; print(sum(1 for p in json.load(sys.stdin)[\"items\"] if p[\"metadata\"].get(\"deletionTimestamp\")))"'
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: mine}\nspec: {schedulerName: ferry, containers: [{name: c, image: busybox}]}\n' | kubectl apply -f -
  sleep 0.5
  run kubectl get pod mine -o jsonpath='{.spec.nodeName}'
  assert_output ""
}
