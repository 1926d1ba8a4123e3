#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The local demo migration (README's first command, `make demo`): a one-machine
# cluster (kube-lite as the API server, controller-manager-lite; two nodes in
# network namespaces, each with kubelet-lite and a ferry-agent; ferry-controller). A pod that counts in
# memory and serves its count over HTTP, behind a Service, moves from node-a to
# node-b when it is annotated; the Service's endpoint follows and the count goes on.
# Then a Deployment's pod; then a 512 MiB pod by post-copy and back by stop-and-copy.
# With CONTAINERD=1.6 (or 1.7, 2: `make demo CONTAINERD=2`) each node runs that
# containerd and kubelet-lite runs the pods through its CRI, as a real kubelet.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '  $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }
http() { ip netns exec "$NODES_NS_CLIENT" wget -q -t 1 -T 2 -O - "http://$1:8080/$2" 2>/dev/null; }
kubectl() { command kubectl --kubeconfig "$KUBECONFIG" "$@"; }
# the Service's ready endpoint, as controller-manager-lite's endpoints controller keeps it
svc_ip() { kubectl get endpoints counter -o jsonpath='{.subsets[0].addresses[0].ip}' 2>/dev/null; }
# migration_of POD: the PodMigration the controller made for POD (waits up to 10 s for it)
migration_of() {
  local pm=''
  for _ in $(seq 100); do
    pm=$(cluster_pm_of "$1" || true)
    [ -n "$pm" ] && break
    sleep 0.1
  done
  echo "$pm"
}
# wait_pm NAME [TRIES]: until the PodMigration ends (TRIES times 0.1 s at the most); fails unless it Succeeded
wait_pm() {
  [ "$(cluster_pm_end "$1" "${2:-600}")" = Succeeded ] || { kubectl describe pm "$1"; return 1; }
}

dir=$(mktemp -d /var/tmp/ferry-demo.XXXXXX)
trap 'cluster_teardown; rm -rf "$dir"' EXIT
NODES_NET=10.231.9
if [ -n "${CONTAINERD:-}" ]; then
  export CLUSTER_CRI=$CONTAINERD
  runtime="containerd $CONTAINERD through CRI (kubelet-lite --container-runtime-endpoint; containerd's shim calls ferry-runc)"
  made_by="containerd's pod sandbox"
else
  runtime="kubelet-lite calling ferry-runc itself, as containerd's shim would (make demo CONTAINERD=1.6 for a real containerd)"
  made_by="the pod kubelet-lite made"
fi
say "a cluster on this machine: kube-lite, node-a and node-b (kubelet-lite each); Ferry installed with its Helm chart"
echo "  container runtime: $runtime"
cluster_setup "$dir/cluster"
run kubectl get nodes -o wide # CONTAINER-RUNTIME: what each kubelet reports
run helm --kubeconfig "$KUBECONFIG" list -n ferry-system
echo "  (the controller and the agents run as processes with the chart's arguments and ServiceAccount tokens:"
echo "   scripts/lib/cluster-chart-values.yaml says why the chart's own pods do not run on these nodes)"
run kubectl get runtimeclass ferry

say "a workload on node-a: 64 MiB of patterned memory and a counter, served over HTTP; RuntimeClass ferry"
cluster_pod a counter sh -c 'workload --mem 64 & exec httpd -f -p 8080 -h /www'
src=$(cluster_pod_ip counter)
kubectl apply -f - >/dev/null <<Y
apiVersion: v1
kind: Service
metadata: {name: counter}
spec: {selector: {app: counter}, ports: [{name: http, port: 80, targetPort: 8080}]}
Y
for _ in $(seq 50); do [ "$(svc_ip)" = "$src" ] && break; sleep 0.1; done
run kubectl get pods -o wide
for _ in $(seq 50); do [ -n "$(http "$src" count)" ] && break; sleep 0.2; done
echo "  Service counter -> $(svc_ip)"
for _ in 1 2 3; do echo "  GET http://$(svc_ip):8080/count -> $(http "$(svc_ip)" count)"; sleep 0.5; done
before=$(http "$src" count)

say "move it: kubectl annotate pod counter ferry.dev/migrate-to=auto"
run kubectl annotate pod counter ferry.dev/migrate-to=auto
pm=$(migration_of counter)
phase=$(cluster_pm_end "$pm")
run kubectl get pm -o wide
if [ "$phase" != Succeeded ]; then
  kubectl describe pm "$pm"
  exit 1
fi
run kubectl describe pm "$pm"

say "the pod runs on node-b now, restored by ferry-runc inside $made_by; the Service follows"
run kubectl get pods -o wide
dst=$(kubectl get pm "$pm" -o jsonpath='{.status.targetPodIP}')
for _ in $(seq 50); do [ "$(svc_ip)" = "$dst" ] && break; sleep 0.1; done
echo "  Service counter -> $(svc_ip)   (was $src)"
for _ in 1 2 3; do echo "  GET http://$(svc_ip):8080/count -> $(http "$(svc_ip)" count)"; sleep 0.5; done
after=$(http "$dst" count)
if [ -z "$after" ] || [ "$after" -lt "$before" ]; then
  echo "  the count did not go on (before $before, after ${after:-nothing})" >&2
  exit 1
fi
if http "$src" count >/dev/null; then
  echo "  the old address still answers: that would be two copies" >&2
  exit 1
fi
echo "  counted $before before the move, $after after it: the same process, its memory intact"
echo "  downtime (frozen on node-a until running on node-b): $(kubectl get pm "$pm" -o jsonpath='{.status.downtime}')"

say "the same for a pod a Deployment owns: its ReplicaSet makes the new pod, Ferry's webhook has it restored"
cluster_deployment web 64 # its pod starts on node-a
web=$(kubectl get pods -l app=web -o jsonpath='{.items[?(@.status.containerStatuses[0].ready==true)].metadata.name}')
run kubectl get deploy,rs,pods -l app=web -o wide
wsrc=$(cluster_pod_ip "$web")
for _ in $(seq 50); do [ -n "$(http "$wsrc" count)" ] && break; sleep 0.2; done
wbefore=$(http "$wsrc" count)
echo "  GET http://$wsrc:8080/count -> $wbefore"
run kubectl annotate pod "$web" ferry.dev/migrate-to=node-b
wpm=$(migration_of "$web")
wait_pm "$wpm"
run kubectl get events --field-selector involvedObject.name="$wpm" -o custom-columns=REASON:.reason,MESSAGE:.message
for _ in $(seq 100); do [ "$(kubectl get pods -l app=web -o name | wc -l)" = 1 ] && break; sleep 0.1; done
run kubectl get rs,pods -l app=web -o wide
wdst=$(kubectl get pm "$wpm" -o jsonpath='{.status.targetPodIP}')
wafter=$(http "$wdst" count)
echo "  GET http://$wdst:8080/count -> $wafter   (was $wbefore on node-a)"
if [ -z "$wafter" ] || [ "$wafter" -lt "$wbefore" ]; then
  echo "  the Deployment's pod did not go on counting" >&2
  exit 1
fi
echo "  the ReplicaSet's own pod, restored on node-b; downtime $(kubectl get pm "$wpm" -o jsonpath='{.status.downtime}')"
say "post-copy: a pod holding 512 MiB runs on node-b at once; its memory follows from node-a"
cluster_pod a big sh -c 'workload --mem 512 & exec httpd -f -p 8080 -h /www'
bsrc=$(cluster_pod_ip big)
for _ in $(seq 100); do [ -n "$(http "$bsrc" count)" ] && break; sleep 0.2; done
printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: big-lazy}\nspec: {pod: big, targetNode: node-b, strategy: postCopy}\n' |
  kubectl apply -f - >/dev/null
echo "  $ kubectl apply -f - <<< 'kind: PodMigration ... spec: {pod: big, targetNode: node-b, strategy: postCopy}'"
wait_pm big-lazy 900
run kubectl get pm big-lazy -o custom-columns=STRATEGY:.status.strategy,DOWNTIME:.status.downtime,BYTES-FROZEN:.status.bytesMoved.duringFreeze,BYTES-AFTER:.status.bytesMoved.afterRestore,PAGES-MS:.status.timings.pages
bpod=$(kubectl get pm big-lazy -o jsonpath='{.status.targetPod}')
echo "  GET http://$(cluster_pod_ip "$bpod"):8080/count -> $(http "$(cluster_pod_ip "$bpod")" count)"
say "the same pod back to node-a by stop-and-copy, for comparison"
printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: big-back}\nspec: {pod: %s, targetNode: node-a, strategy: stopAndCopy}\n' "$bpod" |
  kubectl apply -f - >/dev/null
wait_pm big-back 900
run kubectl get pm big-lazy big-back -o custom-columns=NAME:.metadata.name,STRATEGY:.status.strategy,DOWNTIME:.status.downtime,TOTAL-MS:.status.totalMillis
echo "  post-copy's downtime does not grow with the memory; stop-and-copy's does (docs/strategies.md)"

say "done; cleaning up"
