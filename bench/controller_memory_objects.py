#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Loads an API server with NODES Nodes and PODS Pods shaped like a real
cluster's (bench/controller-memory.sh): Deployment-made pods (labels, a
ReplicaSet owner, one container with resources, probes, env and volume mounts,
a projected service-account volume, a Running status with conditions and
container statuses) spread over the nodes; nodes with capacity, allocatable,
labels, conditions, addresses and an image list; an agent Lease per node; a
dry-run MigrationPolicy so the rebalancer runs its rounds. POSTs in parallel
over keep-alive connections.

usage: controller_memory_objects.py SERVER NODES PODS [THREADS]
"""
import http.client
import json
import queue
import sys
import threading
import urllib.parse

NAMESPACES = 10
DEPLOYMENTS_PER_NS = 20
STAMP = "2026-12-01T10:00:00Z"


def node(i):
    name = f"node-{i:04d}"
    conds = []
    for t, s, r in (("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                    ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                    ("PIDPressure", "False", "KubeletHasSufficientPID"),
                    ("Ready", "True", "KubeletReady")):
        conds.append({"type": t, "status": s, "lastHeartbeatTime": STAMP, "lastTransitionTime": STAMP,
                      "reason": r, "message": f"kubelet reports {r}"})
    res = {"cpu": "16", "ephemeral-storage": "203070420Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
           "memory": "65843512Ki", "pods": "110"}
    alloc = dict(res, cpu="15890m", memory="64692536Ki", **{"ephemeral-storage": "187149698763"})
    images = [{"names": [f"registry.example.com/team/app{k}@sha256:{k:064x}", f"registry.example.com/team/app{k}:v1.{k}"],
               "sizeBytes": 50000000 + k} for k in range(10)]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       "node.kubernetes.io/instance-type": "m5.4xlarge",
                       "topology.kubernetes.io/region": "eu-west-1",
                       "topology.kubernetes.io/zone": f"eu-west-1{'abc'[i % 3]}"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"podCIDR": f"10.{64 + i // 256}.{i % 256}.0/24",
                 "podCIDRs": [f"10.{64 + i // 256}.{i % 256}.0/24"], "providerID": f"aws:///eu-west-1a/i-{i:017x}"},
        "status": {
            "capacity": res, "allocatable": alloc, "conditions": conds,
            "addresses": [{"type": "InternalIP", "address": f"172.20.{i // 256}.{i % 256}"},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": f"{i:032x}", "systemUUID": f"ec2{i:05x}-0000-0000-0000-000000000000",
                         "bootID": f"{i:08x}-1111-2222-3333-444444444444", "kernelVersion": "6.1.0-27-amd64",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.7.22",
                         "kubeletVersion": "v1.31.2", "kubeProxyVersion": "v1.31.2", "operatingSystem": "linux",
                         "architecture": "amd64"},
            "images": images,
        },
    }


def probe(path, delay):
    return {"httpGet": {"path": path, "port": 8080, "scheme": "HTTP"}, "initialDelaySeconds": delay,
            "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}


def pod(i, nodes):
    ns = f"team-{i % NAMESPACES}"
    dep = f"svc-{(i // NAMESPACES) % DEPLOYMENTS_PER_NS:02d}"
    rs = f"{dep}-7d9c5b{(i // NAMESPACES) % DEPLOYMENTS_PER_NS:04x}"
    name = f"{rs}-{i:05x}"
    n = i % nodes
    ip = f"10.{64 + n // 256}.{n % 256}.{2 + (i // nodes) % 250}"
    started = {"running": {"startedAt": STAMP}}
    conds = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": STAMP}
             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "generateName": f"{rs}-", "namespace": ns,
            "labels": {"app.kubernetes.io/name": dep, "app.kubernetes.io/part-of": "shop",
                       "pod-template-hash": rs.rsplit("-", 1)[1], "tier": "backend"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
                            "kubectl.kubernetes.io/restartedAt": STAMP},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                 "uid": f"{i % 200:08x}-aaaa-bbbb-cccc-dddddddddddd", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "containers": [{
                "name": "app", "image": f"registry.example.com/team/{dep}:v1.4.2",
                "imagePullPolicy": "IfNotPresent",
                "args": ["--listen=:8080", "--metrics=:9090", "--log-format=json"],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_HOST", "value": "db.shop.svc"},
                        {"name": "CACHE_TTL", "value": "300"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                        "fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                      "fieldPath": "status.podIP"}}}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}},
                "livenessProbe": probe("/healthz", 10), "readinessProbe": probe("/readyz", 5),
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True},
                                 {"name": "kube-api-access-x7k2p",
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            }],
            "volumes": [
                {"name": "config", "configMap": {"name": f"{dep}-config", "defaultMode": 420}},
                {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                        "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}},
            ],
            "nodeName": f"node-{n:04d}", "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler", "serviceAccountName": "default", "serviceAccount": "default",
            "runtimeClassName": "ferry", "securityContext": {}, "terminationGracePeriodSeconds": 30,
            "enableServiceLinks": True, "priority": 0, "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}],
        },
        "status": {
            "phase": "Running", "conditions": conds, "hostIP": f"172.20.{n // 256}.{n % 256}",
            "hostIPs": [{"ip": f"172.20.{n // 256}.{n % 256}"}], "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": STAMP, "qosClass": "Burstable",
            "containerStatuses": [{"name": "app", "state": started, "lastState": {}, "ready": True,
                                   "restartCount": 0, "image": f"registry.example.com/team/{dep}:v1.4.2",
                                   "imageID": f"registry.example.com/team/{dep}@sha256:{i:064x}",
                                   "containerID": f"containerd://{i:064x}", "started": True}],
        },
    }


def lease(i):
    name = f"ferry-agent-node-{i:04d}"
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "ferry-system",
                         "annotations": {"ferry.dev/load": json.dumps({"cpu": 0.3, "memory": 0.4, "cpus": 16})}},
            "spec": {"holderIdentity": f"node-{i:04d}", "leaseDurationSeconds": 40, "renewTime": STAMP}}


POLICY = {"apiVersion": "ferry.dev/v1alpha1", "kind": "MigrationPolicy", "metadata": {"name": "bench"},
          "spec": {"dryRun": True, "load": {"enabled": True}}}


def post_all(server, jobs, threads):
    url = urllib.parse.urlsplit(server)
    q = queue.Queue()
    for j in jobs:
        q.put(j)
    errors = []

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        while True:
            try:
                path, body = q.get_nowait()
            except queue.Empty:
                return
            conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status not in (200, 201, 409):
                errors.append(f"POST {path}: {r.status} {data[:200]!r}")
                return

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit("\n".join(errors))


def main():
    server, nodes, pods = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    namespaces = [f"team-{k}" for k in range(NAMESPACES)] + ["ferry-system"]
    post_all(server, [("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}})
                      for n in namespaces], threads)
    post_all(server, [("/api/v1/nodes", node(i)) for i in range(nodes)] +
             [("/apis/coordination.k8s.io/v1/namespaces/ferry-system/leases", lease(i)) for i in range(nodes)] +
             [("/apis/ferry.dev/v1alpha1/migrationpolicies", POLICY)], threads)
    post_all(server, [(f"/api/v1/namespaces/team-{i % NAMESPACES}/pods", pod(i, max(nodes, 1)))
                      for i in range(pods)], threads)


if __name__ == "__main__":
    main()
