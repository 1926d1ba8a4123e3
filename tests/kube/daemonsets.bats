#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# DaemonSets on kube-lite with controller-manager-lite, driven with kubectl (the
# test plays the kubelet): one bound pod per fitting node, a taint without a
# toleration keeps a node out, a cordoned node still gets its pod, a template
# change rolls one node at a time, OnDelete waits, deleting the DaemonSet
# takes its pods. And CRDs are Established for kubectl wait.
bats_require_minimum_version 1.5.0
load helpers

setup_file() { cluster_start n1 n2; }
teardown_file() { cluster_stop; }

ds_yaml() { # NAME IMAGE [STRATEGY]
  cat <<Y
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: $1}
spec:
  selector: {matchLabels: {app: $1}}
  updateStrategy: {type: ${3:-RollingUpdate}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: c, image: $2}]}
Y
}
# the DaemonSet's pods that are not terminating: "NODE=IMAGE ..." sorted
live() {
  kubectl get pods -l "app=$1" -o json | python3 -c '
import json, sys
print(" ".join(sorted(p["spec"].get("nodeName", "-") + "=" + p["spec"]["containers"][0]["image"]
      for p in json.load(sys.stdin)["items"] if not p["metadata"].get("deletionTimestamp"))))'
}
# the kubelet's part for every pod of the DaemonSet not yet running
ready_all() {
  local p
  for p in $(kubectl get pods -l "app=$1" -o json | python3 -c '
import json, sys
print(" ".join(p["metadata"]["name"] for p in json.load(sys.stdin)["items"]
      if p.get("status", {}).get("phase") != "Running" and not p["metadata"].get("deletionTimestamp")))'); do
    run_pod "$p" 10.8.0.1
  done
}

# plays the kubelet until the DaemonSet's rollout is done (each node's new pod made ready in turn)
roll_out() {
  local i
  for ((i = 0; i < 10; i++)); do
    ready_all "$1"
    kubectl rollout status "ds/$1" --timeout=2s >/dev/null 2>&1 && return 0
  done
  kubectl rollout status "ds/$1" --timeout=1s
}

@test "a DaemonSet: one pod per node, bound and owned, with the controller's affinity and tolerations; status and rollout status" {
  ds_yaml agent busybox:1 | kubectl apply -f -
  until_is "n1=busybox:1 n2=busybox:1" live agent
  run kubectl get pods -l app=agent -o jsonpath='{range .items[*]}{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].controller} {end}'
  assert_output "DaemonSet/true DaemonSet/true "
  run kubectl get pods -l app=agent -o jsonpath='{.items[0].spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key}'
  assert_output metadata.name
  run kubectl get pods -l app=agent -o jsonpath='{.items[0].spec.tolerations[*].key}'
  assert_output --partial "node.kubernetes.io/unschedulable"
  run kubectl rollout status ds/agent --timeout=1s
  assert_failure
  ready_all agent
  until_is "2 2 2 2 2 1" kubectl get ds agent -o jsonpath='{.status.desiredNumberScheduled} {.status.currentNumberScheduled} {.status.numberReady} {.status.updatedNumberScheduled} {.status.numberAvailable} {.status.observedGeneration}'
  run kubectl rollout status ds/agent --timeout=5s
  assert_success
  assert_output --partial 'daemon set "agent" successfully rolled out'
  run kubectl get ds agent
  assert_line --index 1 --regexp '^agent +2 +2 +2 +2 +2 +<none>'
  run kubectl describe ds agent
  assert_output --partial "Desired Number of Nodes Scheduled: 2"
}

@test "a taint without a toleration keeps a node out; a cordoned node keeps its daemon pod; a tolerated taint lets it in" {
  make_nodes n3
  kubectl taint node n3 dedicated=gpu:NoSchedule
  kubectl cordon n2
  sleep 0.5 # give the controller passes to (wrongly) act on n3 or n2
  run live agent
  assert_output "n1=busybox:1 n2=busybox:1"
  kubectl patch ds agent --type merge -p '{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Equal","value":"gpu","effect":"NoSchedule"}]}}}}'
  ready_all agent
  until_is 3 kubectl get ds agent -o jsonpath='{.status.desiredNumberScheduled}'
  kubectl uncordon n2
}

@test "a template change rolls one node at a time (maxUnavailable 1); a node that stops fitting loses its pod" {
  roll_out agent
  kubectl set image ds/agent c=busybox:2
  # one old pod goes and a new one takes its node; the others wait until it is ready
  until_is 1 eval "live agent | tr ' ' '\n' | grep -c busybox:2"
  sleep 0.5
  run eval "live agent | tr ' ' '\n' | grep -c busybox:2"
  assert_output 1
  ready_all agent
  until_is 2 eval "live agent | tr ' ' '\n' | grep -c busybox:2"
  ready_all agent
  until_is 3 eval "live agent | tr ' ' '\n' | grep -c busybox:2"
  ready_all agent
  run live agent
  assert_output "n1=busybox:2 n2=busybox:2 n3=busybox:2"
  roll_out agent
  kubectl label node n3 zone=elsewhere --overwrite
  kubectl patch ds agent --type merge -p '{"spec":{"template":{"spec":{"nodeSelector":{"zone":"n1"}}}}}'
  ready_all agent
  until_is "n1=busybox:2" live agent
}

@test "OnDelete: a template change waits for the old pods to be deleted" {
  ds_yaml od busybox:1 OnDelete | kubectl apply -f - # (n3 is tainted: no pod there)
  until_is "n1=busybox:1 n2=busybox:1" live od
  kubectl set image ds/od c=busybox:2
  sleep 0.5
  run live od
  assert_output "n1=busybox:1 n2=busybox:1"
  kubectl delete pod -l app=od --field-selector spec.nodeName=n2 --wait=false
  until_is "n1=busybox:1 n2=busybox:2" live od
}

@test "deleting a DaemonSet takes its pods (garbage collection by ownerReferences)" {
  kubectl delete ds agent od
  # bound pods terminate gracefully (no kubelet here to finish): every one of them has a deletionTimestamp
  until_is "" live agent
  until_is "" live od
}

@test "a CRD is Established: kubectl wait --for condition=established; acceptedNames and storedVersions" {
  kubectl apply -f "$BATS_TEST_DIRNAME/testchart/crds/gadgets.yaml"
  run kubectl wait --for condition=established --timeout=10s crd/gadgets.kl-test.example.com
  assert_success
  assert_output --partial "condition met"
  run kubectl get crd gadgets.kl-test.example.com -o jsonpath='{.status.conditions[?(@.type=="NamesAccepted")].reason} {.status.acceptedNames.listKind} {.status.acceptedNames.singular} {.status.storedVersions}'
  assert_output 'NoConflicts GadgetList gadget ["v1"]'
  run kubectl get gdg
  assert_success
}
