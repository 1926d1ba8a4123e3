# SPDX-License-Identifier: Apache-2.0
# A second real client of kube-lite: the Python kubernetes package (Debian python3-kubernetes).
# Lists, creates, selects by label, patches and watches; prints what it saw.
import sys, threading, time
from kubernetes import client, config, watch
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
print("namespaces", sorted(n.metadata.name for n in v1.list_namespace().items))
pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py1", labels={"app": "py"}),
                   spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))
v1.create_namespaced_pod("default", pod)
print("pods", [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=py").items])
rv = v1.list_namespaced_pod("default").metadata.resource_version
def changer():
    time.sleep(0.5)
    v1.patch_namespaced_pod("py1", "default", {"metadata": {"labels": {"seen": "yes"}}})
    v1.delete_namespaced_pod("py1", "default")
threading.Thread(target=changer).start()
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=5):
    print("event", ev["type"], ev["object"].metadata.name, ev["object"].metadata.labels.get("seen"))
    if ev["type"] == "DELETED":
        w.stop()
