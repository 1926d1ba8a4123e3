#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks what helm/ferry renders for one values file (no cluster needed).

    check_chart.py CHART CASE [--release NAME] [--namespace NS]

CASE is "default" or the name of a file in tests/helm/values/ (without .yaml).
It runs `helm template`, then checks: the kinds and how many of each (EXPECT
below, per case), the labels every object carries, that every selector
(Deployment, DaemonSet, Service, PodDisruptionBudget, ServiceMonitor) matches
its pods' or Service's labels, who is privileged and in the host's PID or
network namespace, the exact set of host paths each workload mounts, that
ServiceAccounts and bindings refer to each other, the RBAC rules against the
table in docs/rbac.md, the webhook (its Service, its certificate: openssl
verify against the caBundle in mode helm; cert-manager's objects; an
existing Secret), the arguments the binaries get, and the monitoring objects:
the PrometheusRule's rules pass `promtool check rules` and its alerts fire as
meant on synthetic series (`promtool test rules`), the Grafana dashboard's
ConfigMap holds files/grafana-dashboard.json, valid JSON whose every query
Prometheus' parser accepts, and every query of either names only metric
families the binaries export (their C sources) and docs/metrics.md lists (which
lists every family the binaries export, and no other). Prints what failed and exits
1, or "ok CASE: N objects".
"""
import argparse
import base64
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RBAC_DOC = os.environ.get("FERRY_RBAC_DOC") or os.path.join(ROOT, "docs", "rbac.md")
METRICS_DOC = os.environ.get("FERRY_METRICS_DOC") or os.path.join(ROOT, "docs", "metrics.md")
PROMTOOL = os.environ.get("FERRY_PROMTOOL") or "/opt/ferry/prometheus/usr/bin/promtool"
# Where the binaries declare their metric families (struct prom_family_desc).
FAMILY_SOURCES = ["controller/*.c", "agent/daemon/*.c"]
ALERTS = ["FerryMigrationFailing", "FerryRollbackRateHigh", "FerryAgentNotReady"]

CONTAINERD = ["/var/lib/ferry", "/sys/fs/cgroup", "/run/containerd/runc",
              "/run/containerd/io.containerd.runtime.v2.task",
              "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"]
CRIO = ["/var/lib/ferry", "/sys/fs/cgroup", "/run/ferry-runc-crio", "/run/containers/storage",
        "/var/lib/containers/storage/overlay"]
BASE_KINDS = {"Deployment": 1, "DaemonSet": 1, "PodDisruptionBudget": 1, "ServiceAccount": 2,
              "Secret": 2, "ClusterRole": 5, "ClusterRoleBinding": 2, "Role": 2, "RoleBinding": 2,
              "Service": 3, "MutatingWebhookConfiguration": 1, "RuntimeClass": 1}
SETUP_KINDS = {"DaemonSet": 2, "ServiceAccount": 3, "ConfigMap": 1}

# Per case: kinds (changes to BASE_KINDS; 0 removes), host paths per
# component (None: the component has no workload), and the mode of the
# webhook's certificate (None: no webhook).
EXPECT = {
    "default": dict(kinds={}, hostpaths={"agent": CONTAINERD + ["/var/lib/ferry-store"]}, webhook="helm"),
    "certmanager": dict(kinds={"Secret": 1, "Issuer": 1, "Certificate": 1},
                        hostpaths={"agent": CONTAINERD + ["/var/lib/ferry-store"]}, webhook="certManager"),
    "certmanager-issuer": dict(kinds={"Secret": 1, "Certificate": 1},
                               hostpaths={"agent": CONTAINERD + ["/var/lib/ferry-store"]}, webhook="certManager"),
    "secret": dict(kinds={"Secret": 1}, hostpaths={"agent": CONTAINERD + ["/var/lib/ferry-store"]},
                   webhook="secret"),
    "crio-setup": dict(kinds=SETUP_KINDS,
                       hostpaths={"agent": CRIO + ["/var/lib/ferry-store"],
                                  "node-setup": ["/opt/ferry", "/etc/crio/crio.conf.d"]}, webhook="helm"),
    "containerd-setup": dict(kinds=SETUP_KINDS,
                             hostpaths={"agent": CONTAINERD + ["/var/lib/ferry-store"],
                                        "node-setup": ["/opt/ferry", "/etc/containerd"]}, webhook="helm"),
    "s3-encrypted": dict(kinds={}, hostpaths={"agent": CONTAINERD}, webhook="helm"),
    "minimal": dict(kinds={"PodDisruptionBudget": 0, "ServiceAccount": 0, "Secret": 0, "ClusterRole": 0,
                           "ClusterRoleBinding": 0, "Role": 0, "RoleBinding": 0, "Service": 0,
                           "MutatingWebhookConfiguration": 0, "RuntimeClass": 0},
                    hostpaths={"agent": CONTAINERD + ["/var/lib/ferry-store"]}, webhook=None),
    "custom-paths": dict(kinds={"ServiceMonitor": 2, "ValidatingAdmissionPolicy": 2,
                                "ValidatingAdmissionPolicyBinding": 2, "ConfigMap": 1, "PrometheusRule": 1},
                         hostpaths={"agent": ["/data/ferry", "/var/lib/ferry/admitted", "/sys/fs/cgroup",
                                              "/run/k3s/containerd/runc",
                                              "/run/k3s/containerd/io.containerd.runtime.v2.task",
                                              "/var/lib/rancher/k3s/agent/containerd/"
                                              "io.containerd.snapshotter.v1.overlayfs",
                                              "/mnt/nfs/ferry-images"]}, webhook="helm"),
    "pvc-store": dict(kinds={}, hostpaths={"agent": CONTAINERD}, webhook="helm"),
}

failures = []


def fail(msg):
    failures.append(msg)


def render(chart, case, release, ns):
    # as a cluster with the Prometheus Operator's CRDs would answer (monitoring.yaml asks for the kind)
    cmd = ["helm", "template", release, chart, "--namespace", ns,
           "--api-versions", "monitoring.coreos.com/v1/PrometheusRule", "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"]
    if case != "default":
        cmd += ["--values", os.path.join(HERE, "values", case + ".yaml")]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def name_of(o):
    return "%s/%s" % (o["kind"], o["metadata"]["name"])


def component(o):
    return o["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_spec(o):
    return o["spec"]["template"]["spec"]


def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


# ---------- labels and selectors ----------

def check_labels(objs, release):
    want = ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
            "app.kubernetes.io/component", "app.kubernetes.io/managed-by", "helm.sh/chart"]
    for o in objs:
        labels = o["metadata"].get("labels", {})
        for k in want:
            if not labels.get(k):
                fail("%s: no label %s" % (name_of(o), k))
        if labels.get("app.kubernetes.io/instance") != release:
            fail("%s: app.kubernetes.io/instance is not %s" % (name_of(o), release))
        if labels.get("app.kubernetes.io/managed-by") != "Helm":
            fail("%s: app.kubernetes.io/managed-by is not Helm" % name_of(o))
        if o["metadata"].get("namespace") not in (None, NS):
            fail("%s: namespace %s" % (name_of(o), o["metadata"]["namespace"]))


def check_selectors(objs):
    workloads = [o for o in objs if o["kind"] in ("Deployment", "DaemonSet")]
    pods = {name_of(w): w["spec"]["template"]["metadata"]["labels"] for w in workloads}
    for w in workloads:
        sel = w["spec"]["selector"]["matchLabels"]
        if not matches(sel, pods[name_of(w)]):
            fail("%s: its selector %s does not match its pods' labels" % (name_of(w), sel))
        others = [n for n, l in pods.items() if n != name_of(w) and matches(sel, l)]
        if others:
            fail("%s: its selector also matches the pods of %s" % (name_of(w), others))
    for o in objs:
        if o["kind"] == "Service":
            sel = o["spec"].get("selector", {})
            hit = [n for n, l in pods.items() if matches(sel, l)]
            if len(hit) != 1:
                fail("%s: its selector %s matches the pods of %s (want exactly one workload)"
                     % (name_of(o), sel, hit))
                continue
            w = next(x for x in workloads if name_of(x) == hit[0])
            ports = {p["name"]: p["containerPort"] for c in pod_spec(w)["containers"] for p in c.get("ports", [])}
            for p in o["spec"]["ports"]:
                if p["targetPort"] not in ports and p["targetPort"] not in ports.values():
                    fail("%s: targetPort %s is no port of %s" % (name_of(o), p["targetPort"], hit[0]))
        elif o["kind"] == "PodDisruptionBudget":
            sel = o["spec"]["selector"]["matchLabels"]
            hit = [n for n, l in pods.items() if matches(sel, l)]
            if hit != [n for n in pods if n.startswith("Deployment/")]:
                fail("%s: its selector matches %s, not the controller" % (name_of(o), hit))
            if o["spec"].get("minAvailable") != 1:
                fail("%s: minAvailable is not 1" % name_of(o))
        elif o["kind"] == "ServiceMonitor":
            sel = o["spec"]["selector"]["matchLabels"]
            svcs = [name_of(s) for s in objs if s["kind"] == "Service" and matches(sel, s["metadata"]["labels"])]
            if len(svcs) != 1 or not svcs[0].endswith("-metrics"):
                fail("%s: its selector matches %s, not the metrics Service" % (name_of(o), svcs))


# ---------- privileges and host paths ----------

def check_privileges(objs):
    for w in (o for o in objs if o["kind"] in ("Deployment", "DaemonSet")):
        comp, spec = component(w), pod_spec(w)
        if spec.get("hostPID") and comp not in ("agent", "node-setup"):
            fail("%s: hostPID" % name_of(w))
        if comp == "agent" and not spec.get("hostPID"):
            fail("%s: the agent needs hostPID" % name_of(w))
        if spec.get("hostNetwork") and comp != "agent":
            fail("%s: hostNetwork" % name_of(w))
        if spec.get("hostIPC"):
            fail("%s: hostIPC" % name_of(w))
        for c in containers(spec):
            priv = c.get("securityContext", {}).get("privileged", False)
            allowed = (comp, c["name"]) in (("agent", "agent"), ("node-setup", "runtime"))
            if priv and not allowed:
                fail("%s: container %s is privileged" % (name_of(w), c["name"]))
            if allowed and not priv:
                fail("%s: container %s is not privileged" % (name_of(w), c["name"]))
        if comp == "controller":
            check_restricted(w)


def check_restricted(w):
    spec = pod_spec(w)
    psc = spec.get("securityContext", {})
    for c in containers(spec):
        sc = c.get("securityContext", {})
        where = "%s container %s" % (name_of(w), c["name"])
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            fail(where + ": not runAsNonRoot")
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(where + ": root filesystem not read-only")
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(where + ": privilege escalation allowed")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            fail(where + ": capabilities are not drop ALL")
        prof = sc.get("seccompProfile", psc.get("seccompProfile", {}))
        if prof.get("type") != "RuntimeDefault":
            fail(where + ": seccomp is not RuntimeDefault")
        if not c.get("resources", {}).get("requests"):
            fail(where + ": no resource requests")


def check_hostpaths(objs, want):
    seen = {}
    for w in (o for o in objs if o["kind"] in ("Deployment", "DaemonSet")):
        vols = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
        paths = sorted(v["hostPath"]["path"] for v in vols.values() if "hostPath" in v)
        seen[component(w)] = paths
        if component(w) == "agent":
            agent_mounts(w, vols)
    for comp in set(seen) | set(want):
        if sorted(want.get(comp, [])) != seen.get(comp, []):
            fail("%s: host paths %s, want exactly %s" % (comp, seen.get(comp), sorted(want.get(comp, []))))


def agent_mounts(w, vols):
    """Each host directory at its own path: the runtime's files name host paths."""
    c = pod_spec(w)["containers"][0]
    store = next((a.split("=", 1)[1] for a in c["args"] if a.startswith("--store=")), "")
    store_dir = store[len("dir://"):].rstrip("/") if store.startswith("dir://") else None
    for m in c["volumeMounts"]:
        v = vols[m["name"]]
        if "hostPath" in v and m["mountPath"] != v["hostPath"]["path"] and m["mountPath"] != store_dir:
            fail("agent: host %s mounted at %s" % (v["hostPath"]["path"], m["mountPath"]))
        if m["name"] == "store" and m["mountPath"] != store_dir:
            fail("agent: the store is mounted at %s, its URL says %s" % (m["mountPath"], store_dir))
        if m["name"] in ("bundles", "snapshots", "storage") and not m.get("readOnly"):
            fail("agent: %s is writable" % m["mountPath"])
    if store_dir and "store" not in {m["name"] for m in c["volumeMounts"]}:
        fail("agent: the dir:// store %s is not mounted" % store_dir)


# ---------- identities and RBAC ----------

def parse_rbac_doc():
    """(component, role kind, group, resource, resourceNames) -> set of verbs, from docs/rbac.md."""
    rules = collections.defaultdict(set)
    in_table = False
    with open(RBAC_DOC) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[:2] == ["component", "role"]:
                in_table = True
                continue
            if not in_table:
                continue
            if not line.startswith("|"):
                break
            if set(cells[0]) <= set("- "):
                continue
            comp, role, group, res, verbs, names = cells[:6]
            group = "" if group == '""' else group
            key = (comp, role, group, res, tuple(sorted(n.strip() for n in names.split(",") if n.strip())))
            rules[key] |= {v.strip() for v in verbs.split(",")}
    return rules


def rendered_rules(objs, fullname):
    roles = {"%s-controller" % fullname: "controller", "%s-agent" % fullname: "agent",
             "%s-podmigrations-edit" % fullname: "users-edit", "%s-podmigrations-view" % fullname: "users-view",
             "%s-self-migration" % fullname: "users-self-migration"}
    rules = collections.defaultdict(set)
    for o in objs:
        if o["kind"] not in ("ClusterRole", "Role"):
            continue
        comp = roles.get(o["metadata"]["name"])
        if not comp:
            fail("%s: not a role docs/rbac.md knows" % name_of(o))
            continue
        for r in o.get("rules", []):
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    if "*" in r["verbs"] or "*" in r["resources"] or g == "*":
                        fail("%s: a wildcard rule %s" % (name_of(o), r))
                    key = (comp, o["kind"], g, res, tuple(sorted(r.get("resourceNames", []))))
                    rules[key] |= set(r["verbs"])
    return rules


def check_rbac(objs, fullname, rbac_on, aggregate):
    got = rendered_rules(objs, fullname)
    if not rbac_on:
        if got:
            fail("rbac.create false, yet rules are rendered")
        return
    want = parse_rbac_doc()
    if not aggregate:
        want = {k: v for k, v in want.items() if k[0] not in ("users-edit", "users-view")}
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            fail("RBAC %s: chart %s, docs/rbac.md %s" % ("/".join(x if isinstance(x, str) else ",".join(x)
                                                                  for x in k),
                                                         sorted(got.get(k, [])), sorted(want.get(k, []))))
    if "secrets" in {k[3] for k in got}:
        fail("RBAC: a rule on secrets")
    sas = {o["metadata"]["name"] for o in objs if o["kind"] == "ServiceAccount"}
    for b in (o for o in objs if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        ref = b["roleRef"]
        if not any(o["kind"] == ref["kind"] and o["metadata"]["name"] == ref["name"] for o in objs):
            fail("%s: its %s %s is not rendered" % (name_of(b), ref["kind"], ref["name"]))
        for s in b["subjects"]:
            if s["name"] not in sas or s["namespace"] != NS:
                fail("%s: subject %s/%s is not a rendered ServiceAccount" % (name_of(b), s["namespace"], s["name"]))


def check_service_accounts(objs):
    sas = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ServiceAccount"}
    for w in (o for o in objs if o["kind"] in ("Deployment", "DaemonSet")):
        sa = pod_spec(w).get("serviceAccountName")
        if not sa:
            fail("%s: no serviceAccountName" % name_of(w))
        elif sas and sa not in sas:
            fail("%s: ServiceAccount %s is not rendered" % (name_of(w), sa))
        elif sa in sas and component(sas[sa]) != component(w):
            fail("%s: runs as %s, another component's" % (name_of(w), sa))
    for name, sa in sas.items():
        if component(sa) == "node-setup" and sa.get("automountServiceAccountToken") is not False:
            fail("ServiceAccount/%s: the node setup needs no token" % name)


# ---------- the webhook ----------

def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True)


def check_webhook(objs, mode, fullname):
    hooks = [o for o in objs if o["kind"] == "MutatingWebhookConfiguration"]
    ctl = next(o for o in objs if o["kind"] == "Deployment")
    c = pod_spec(ctl)["containers"][0]
    if mode is None:
        if hooks or any(a.startswith("--webhook") for a in c["args"]):
            fail("the webhook is off, yet it is configured")
        return
    if len(hooks) != 1 or len(hooks[0]["webhooks"]) != 1:
        fail("want one MutatingWebhookConfiguration with one webhook")
        return
    hook = hooks[0]["webhooks"][0]
    svc_ref = hook["clientConfig"]["service"]
    svc = [o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == svc_ref["name"]]
    if not svc or svc_ref["namespace"] != NS or svc_ref["path"] != "/mutate-pods":
        fail("the webhook calls %s, which is not the rendered Service" % svc_ref)
    elif svc_ref["port"] not in [p["port"] for p in svc[0]["spec"]["ports"]]:
        fail("the webhook calls port %s, the Service has %s" % (svc_ref["port"], svc[0]["spec"]["ports"]))
    if hook["failurePolicy"] != "Ignore" or hook["sideEffects"] != "None":
        fail("failurePolicy %s, sideEffects %s (deploy/webhook.yaml: Ignore, None)"
             % (hook["failurePolicy"], hook["sideEffects"]))
    if hook["rules"][0]["operations"] != ["CREATE"] or hook["rules"][0]["resources"] != ["pods"]:
        fail("the webhook's rules are not pods CREATE: %s" % hook["rules"])
    args = dict(a.split("=", 1) for a in c["args"] if a.startswith("--webhook"))
    vols = {v["name"]: v for v in pod_spec(ctl)["volumes"]}
    mount = next((m for m in c["volumeMounts"] if args.get("--webhook-cert", "").startswith(m["mountPath"] + "/")),
                 None)
    if not mount or "secret" not in vols[mount["name"]]:
        fail("--webhook-cert %s is not in a mounted Secret" % args.get("--webhook-cert"))
        return
    secret_name = vols[mount["name"]]["secret"]["secretName"]
    host = "%s.%s.svc" % (svc_ref["name"], NS)
    if mode == "helm":
        check_helm_certs(objs, hook, secret_name, host)
    elif mode == "certManager":
        check_cert_manager(objs, hooks[0], hook, secret_name, host, fullname)
    elif mode == "secret":
        if secret_name != "my-webhook-tls" or hook["clientConfig"].get("caBundle") != VALUES_CA:
            fail("mode secret: Secret %s, caBundle %s" % (secret_name, hook["clientConfig"].get("caBundle")))
        if any(o["kind"] in ("Secret", "Certificate") and o["metadata"]["name"] == secret_name for o in objs):
            fail("mode secret: the chart must not make the certificate")


def check_helm_certs(objs, hook, secret_name, host):
    sec = [o for o in objs if o["kind"] == "Secret" and o["metadata"]["name"] == secret_name]
    if len(sec) != 1:
        fail("mode helm: the Secret %s is not rendered" % secret_name)
        return
    data = {k: base64.b64decode(v).decode() for k, v in sec[0]["data"].items()}
    ca = base64.b64decode(hook["clientConfig"].get("caBundle", "")).decode()
    if ca != data.get("ca.crt"):
        fail("mode helm: the caBundle is not the Secret's ca.crt")
    with tempfile.TemporaryDirectory() as d:
        for name, text in (("ca.pem", ca), ("tls.crt", data["tls.crt"]), ("tls.key", data["tls.key"])):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        r = openssl("verify", "-CAfile", os.path.join(d, "ca.pem"), "-verify_hostname", host,
                    "-purpose", "sslserver", os.path.join(d, "tls.crt"))
        if r.returncode != 0:
            fail("mode helm: openssl verify of the serving certificate for %s: %s" % (host, r.stdout + r.stderr))
        pub_crt = openssl("x509", "-noout", "-pubkey", "-in", os.path.join(d, "tls.crt")).stdout
        pub_key = openssl("pkey", "-pubout", "-in", os.path.join(d, "tls.key")).stdout
        if not pub_crt or pub_crt != pub_key:
            fail("mode helm: tls.key is not the certificate's key")


def check_cert_manager(objs, config, hook, secret_name, host, fullname):
    certs = [o for o in objs if o["kind"] == "Certificate"]
    if len(certs) != 1:
        fail("mode certManager: want one Certificate")
        return
    cert = certs[0]
    if cert["spec"]["secretName"] != secret_name or host not in cert["spec"]["dnsNames"]:
        fail("mode certManager: the Certificate makes %s for %s" % (cert["spec"]["secretName"],
                                                                    cert["spec"]["dnsNames"]))
    want = "%s/%s" % (NS, cert["metadata"]["name"])
    if config["metadata"].get("annotations", {}).get("cert-manager.io/inject-ca-from") != want:
        fail("mode certManager: cert-manager.io/inject-ca-from is not %s" % want)
    if hook["clientConfig"].get("caBundle"):
        fail("mode certManager: a caBundle is rendered (the CA injector fills it)")
    ref = cert["spec"]["issuerRef"]
    issuers = [o for o in objs if o["kind"] == "Issuer"]
    if ref.get("kind", "Issuer") == "Issuer" and [i["metadata"]["name"] for i in issuers] != [ref["name"]]:
        fail("mode certManager: issuerRef %s is not the rendered Issuer" % ref)


# ---------- arguments ----------

def arg(c, flag):
    vals = [a.split("=", 1)[1] for a in c["args"] if a.startswith(flag + "=")]
    return vals[0] if len(vals) == 1 else None


def env_field(c, name):
    for e in c.get("env", []):
        if e["name"] == name:
            return e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") or e.get("value")
    return None


def check_args(objs, case):
    agent = next(o for o in objs if o["kind"] == "DaemonSet" and component(o) == "agent")
    c = pod_spec(agent)["containers"][0]
    if arg(c, "--node") != "$(NODE_NAME)" or env_field(c, "NODE_NAME") != "spec.nodeName":
        fail("agent: --node is not NODE_NAME from spec.nodeName")
    want_ip = "status.podIP" if case == "minimal" else "status.hostIP"
    if arg(c, "--migration-address") != "$(MIGRATION_ADDRESS)" or env_field(c, "MIGRATION_ADDRESS") != want_ip:
        fail("agent: --migration-address is not %s" % want_ip)
    if arg(c, "--namespace") != NS or "daemon" not in c["args"]:
        fail("agent: not `daemon --namespace %s`" % NS)
    if pod_spec(agent).get("priorityClassName") != "system-node-critical":
        fail("agent: priorityClassName is not system-node-critical")
    if {"operator": "Exists"} not in pod_spec(agent).get("tolerations", []):
        fail("agent: does not tolerate every taint")
    check_metrics_port("agent", c, "/healthz")
    runc_root = {"crio-setup": "/run/ferry-runc-crio", "custom-paths": "/run/k3s/containerd/runc/k8s.io"}
    if arg(c, "--runc-root") != runc_root.get(case, "/run/containerd/runc/k8s.io"):
        fail("agent: --runc-root %s" % arg(c, "--runc-root"))
    if arg(c, "--postcopy-threshold") != ("1.5Gi" if case == "s3-encrypted" else "256Mi"):
        fail("agent: --postcopy-threshold %s" % arg(c, "--postcopy-threshold"))
    want_gc = {"--store-min-free": "1Gi", "--image-retention-count": "1", "--image-ttl": "24h",
               "--image-orphan-grace": "1h"}
    for flag, want in want_gc.items():
        if arg(c, flag) != want:
            fail("agent: %s %s, want %s (store.minFree, store.retention)" % (flag, arg(c, flag), want))
    if case == "s3-encrypted":
        check_s3_encrypted(agent, c)
    ctl = next(o for o in objs if o["kind"] == "Deployment")
    cc = pod_spec(ctl)["containers"][0]
    if arg(cc, "--namespace") != NS or arg(cc, "--identity") != "$(POD_NAME)":
        fail("controller: --namespace or --identity")
    if case == "minimal":
        if "--no-leader-elect" not in cc["args"] or ctl["spec"]["replicas"] != 1:
            fail("controller: minimal wants one replica, --no-leader-elect")
        if arg(cc, "--runtime-class") != "ferry-existing":
            fail("controller: --runtime-class is not runtimeClass.name")
    else:
        if ctl["spec"]["replicas"] != 2 or arg(cc, "--lease-seconds") != "15" or "--no-leader-elect" in cc["args"]:
            fail("controller: want 2 replicas with leader election")
    check_metrics_port("controller", cc, "/livez")
    if case == "containerd-setup" and pod_spec(ctl).get("priorityClassName") != "system-cluster-critical":
        fail("controller: priorityClassName")


def check_metrics_port(comp, c, live_path):
    """--metrics-listen is a container port named metrics, and the probes ask it for live_path and /readyz."""
    port = arg(c, "--metrics-listen")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if not port or int(port.rsplit(":", 1)[1]) != ports.get("metrics"):
        fail("%s: --metrics-listen %s is not the container port metrics" % (comp, port))
    want = {"livenessProbe": live_path, "readinessProbe": "/readyz"}
    for probe, path in want.items():
        got = c.get(probe, {}).get("httpGet", {})
        if got.get("path") != path or got.get("port") != "metrics":
            fail("%s: %s is not GET %s on the metrics port" % (comp, probe, path))


def check_admission_policies(objs):
    """Each binding names a rendered policy; the policies name the rendered agent's and controller's identities."""
    policies = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ValidatingAdmissionPolicy"}
    for b in (o for o in objs if o["kind"] == "ValidatingAdmissionPolicyBinding"):
        if b["spec"]["policyName"] not in policies or b["spec"].get("validationActions") != ["Deny"]:
            fail("%s: not a Deny binding of a rendered policy" % name_of(b))
    users = {"system:serviceaccount:%s:%s" % (NS, pod_spec(w).get("serviceAccountName"))
             for w in objs if w["kind"] in ("Deployment", "DaemonSet") and component(w) in ("agent", "controller")}
    for p in policies.values():
        text = yaml.safe_dump(p["spec"])
        named = set(re.findall(r"system:serviceaccount:[a-z0-9.-]+:[a-z0-9.-]+", text))
        if named - users:
            fail("%s: names %s, which are not the chart's agent or controller" % (name_of(p), sorted(named - users)))


def check_s3_encrypted(agent, c):
    vols = {v["name"]: v for v in pod_spec(agent)["volumes"]}
    mounts = {m["mountPath"]: vols[m["name"]] for m in c["volumeMounts"]}
    creds = env_field(c, "FERRY_S3_CREDENTIALS_DIR")
    if not creds or mounts.get(creds, {}).get("secret", {}).get("secretName") != "ferry-s3":
        fail("agent: FERRY_S3_CREDENTIALS_DIR is not the Secret ferry-s3 mounted")
    key = arg(c, "--encryption-key-file")
    kdir = os.path.dirname(key or "")
    if not key or mounts.get(kdir, {}).get("secret", {}).get("secretName") != "ferry-encryption":
        fail("agent: --encryption-key-file is not in the Secret ferry-encryption")
    if env_field(c, "AWS_REGION") != "eu-west-1" or arg(c, "--image-compression") != "zstd:5":
        fail("agent: AWS_REGION or --image-compression")
    if arg(c, "--store") != "s3://ferry-images/prod" or arg(c, "--migration-bandwidth") != "200Mi":
        fail("agent: --store or --migration-bandwidth")


def check_transfer_key(objs, case, fullname):
    """--transfer-key-file in a Secret mounted 0400: the user's (minimal), or the chart's, with a 32-byte key."""
    agent = next(o for o in objs if o["kind"] == "DaemonSet" and component(o) == "agent")
    c = pod_spec(agent)["containers"][0]
    vols = {v["name"]: v for v in pod_spec(agent)["volumes"]}
    mounts = {m["mountPath"]: vols[m["name"]] for m in c["volumeMounts"]}
    key = arg(c, "--transfer-key-file") or ""
    secret = mounts.get(os.path.dirname(key), {}).get("secret", {})
    want = "ferry-transfer-existing" if case == "minimal" else fullname + "-transfer-key"
    if secret.get("secretName") != want or secret.get("defaultMode") != 0o400:
        fail("agent: --transfer-key-file %r is not in the Secret %s mounted 0400 (%s)" % (key, want, secret))
        return
    made = [o for o in objs if o["kind"] == "Secret" and o["metadata"]["name"] == want]
    if case == "minimal":
        if made:
            fail("agent: the chart made the transfer key Secret the values name")
        return
    text = base64.b64decode(made[0]["data"].get(os.path.basename(key), "")) if made else b""
    if len(base64.b64decode(text or b"")) != 32:
        fail("agent: the chart's transfer key is not 32 bytes in base64")


# ---------- monitoring: the alerts and the dashboard ----------

def exported_families():
    """{name: type} of every metric family the controller and the agent declare."""
    fams = {}
    for pattern in FAMILY_SOURCES:
        for path in glob.glob(os.path.join(ROOT, pattern)):
            with open(path) as f:
                for kind, name in re.findall(r'PROM_(COUNTER|GAUGE|HISTOGRAM),\s*"(ferry_[a-z0-9_]+)"', f.read()):
                    fams[name] = kind
    return fams


def shown(path):
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def documented_families():
    """The families docs/metrics.md's tables list (first cell; `ferry_x_a`, `_b` is ferry_x_a and ferry_x_b)."""
    fams = set()
    with open(METRICS_DOC) as f:
        for line in f:
            m = re.match(r"\| (`ferry_[a-z0-9_]+`(?:, `_[a-z0-9_]+`)*) \|", line)
            if not m:
                continue
            names = re.findall(r"`([a-z0-9_]+)`", m.group(1))
            prefix = "_".join(names[0].split("_")[:2])
            fams |= {names[0]} | {prefix + n for n in names[1:]}
    return fams


def check_names(where, expr, fams):
    """expr names at least one family, and only families (a histogram's _bucket, _sum, _count) the binaries
    export and docs/metrics.md lists."""
    names = set(re.findall(r"\bferry_[a-z0-9_]+", expr))
    if not names:
        fail("%s: %r names no Ferry metric" % (where, expr))
    for n in sorted(names):
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        if n not in fams and fams.get(base) != "HISTOGRAM":
            fail("%s: names %s, which no binary exports" % (where, n))
        elif (n if n in fams else base) not in DOCUMENTED:
            fail("%s: names %s, which %s does not list" % (where, n, shown(METRICS_DOC)))


def promtool(*args, cwd=None):
    if not os.access(PROMTOOL, os.X_OK):
        fail("promtool not found at %s (scripts/install-deps.sh; FERRY_PROMTOOL)" % PROMTOOL)
        return None
    return subprocess.run([PROMTOOL] + list(args), capture_output=True, text=True, cwd=cwd)


def check_rules_file(where, groups, d):
    """promtool check rules on {groups: ...} written to d."""
    path = os.path.join(d, "rules.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"groups": groups}, f)
    r = promtool("check", "rules", path)
    if r is not None and r.returncode != 0:
        fail("%s: promtool check rules: %s" % (where, (r.stdout + r.stderr).strip()))
    return r is not None and r.returncode == 0


def series(name, values, **labels):
    return {"series": "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in sorted(labels.items()))),
            "values": values}


# Synthetic series (one a minute; two controller replicas, the standby's counters 0 as the binary keeps
# them) and the alerts that must fire, or not, at each time (the default values' thresholds).
FIN = "ferry_controller_migrations_finished_total"
RULE_TESTS = [
    dict(input_series=[
        series(FIN, "0x40", result="Succeeded", strategy="stopAndCopy", reason="Manual", instance="c1"),
        series(FIN, "0x10 1x30", result="Failed", strategy="none", reason="Manual", instance="c1"),
        series(FIN, "0x40", result="Failed", strategy="none", reason="Manual", instance="c2")],
        alert_rule_test=[dict(eval_time="5m", alertname="FerryMigrationFailing", exp_alerts=[]),
                         dict(eval_time="15m", alertname="FerryMigrationFailing",
                              exp_alerts=[dict(exp_labels=dict(severity="warning"))])]),
    dict(input_series=[  # successes only: nothing fires
        series(FIN, "0+1x90", result="Succeeded", strategy="stopAndCopy", reason="Drain", instance="c1"),
        series("ferry_controller_migration_rollbacks_total", "0x90", cause="Timeout", instance="c1")],
        alert_rule_test=[dict(eval_time="80m", alertname=a, exp_alerts=[]) for a in ALERTS[:2]]),
    dict(input_series=[  # one rollback a minute, half the ends
        series(FIN, "0+1x90", result="Succeeded", strategy="stopAndCopy", reason="Drain", instance="c1"),
        series(FIN, "0+1x90", result="RolledBack", strategy="stopAndCopy", reason="Drain", instance="c1"),
        series("ferry_controller_migration_rollbacks_total", "0+1x90", cause="RestoreFailed", instance="c1")],
        alert_rule_test=[dict(eval_time="80m", alertname="FerryRollbackRateHigh",
                              exp_alerts=[dict(exp_labels=dict(severity="warning"))]),
                         dict(eval_time="80m", alertname="FerryMigrationFailing", exp_alerts=[])]),
    dict(input_series=[  # a rollback per ten ends: under the ratio
        series(FIN, "0+1x90", result="Succeeded", strategy="postCopy", reason="LoadBalance", instance="c1"),
        series("ferry_controller_migration_rollbacks_total", "0+0.1x90", cause="Timeout", instance="c1")],
        alert_rule_test=[dict(eval_time="80m", alertname="FerryRollbackRateHigh", exp_alerts=[])]),
    dict(input_series=[  # node-a's agent stops renewing at 2m, in both replicas' caches
        series("ferry_controller_agent_ready", "1 1 0x20", node="node-a", instance="c1"),
        series("ferry_controller_agent_ready", "1 1 0x20", node="node-a", instance="c2"),
        series("ferry_controller_agent_ready", "1x22", node="node-b", instance="c1"),
        series("ferry_controller_agent_ready", "1x22", node="node-b", instance="c2")],
        alert_rule_test=[dict(eval_time="4m", alertname="FerryAgentNotReady", exp_alerts=[]),
                         dict(eval_time="10m", alertname="FerryAgentNotReady",
                              exp_alerts=[dict(exp_labels=dict(severity="warning", node="node-a"))])]),
]


def check_prometheus_rule(rule, fams, case):
    where = name_of(rule)
    groups = rule["spec"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    alerts = [r.get("alert") for r in rules]
    if sorted(a for a in alerts if a) != sorted(ALERTS):
        fail("%s: alerts %s, want %s" % (where, alerts, ALERTS))
    for r in rules:
        check_names("%s: %s" % (where, r.get("alert") or r.get("record")), r["expr"], fams)
    with tempfile.TemporaryDirectory() as d:
        if not check_rules_file(where, groups, d) or case != "custom-paths":
            return
        # the firing logic alone (the annotations' templates are promtool check rules')
        bare = [dict(g, rules=[{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]])
                for g in groups]
        with open(os.path.join(d, "rules.yaml"), "w") as f:
            yaml.safe_dump({"groups": bare}, f)
        with open(os.path.join(d, "test.yaml"), "w") as f:
            yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
                            "tests": [dict(t, interval="1m") for t in RULE_TESTS]}, f)
        r = promtool("test", "rules", "test.yaml", cwd=d)
        if r is not None and r.returncode != 0:
            fail("%s: promtool test rules: %s" % (where, (r.stdout + r.stderr).strip()))


# Grafana's variables, as Prometheus' parser needs them replaced.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "1d", "$__interval": "1m"}


def check_dashboard(cm, chart, fams):
    where = name_of(cm)
    if cm["metadata"]["labels"].get("grafana_dashboard") != "1":
        fail('%s: not labelled grafana_dashboard: "1" (the Grafana sidecar\'s label)' % where)
    text = cm.get("data", {}).get("ferry.json", "")
    with open(os.path.join(chart, "files", "grafana-dashboard.json")) as f:
        if text.strip() != f.read().strip():
            fail("%s: ferry.json is not files/grafana-dashboard.json" % where)
    try:
        dash = json.loads(text)
    except ValueError as e:
        fail("%s: ferry.json is not JSON: %s" % (where, e))
        return
    panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(set(ids)) != len(ids) or not dash.get("uid") or not panels:
        fail("%s: the dashboard needs a uid, panels, and unique panel ids" % where)
    if not any(v.get("type") == "datasource" for v in dash.get("templating", {}).get("list", [])):
        fail("%s: no data source variable" % where)
    records = []
    for p in panels:
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            check_names("%s: panel %r" % (where, p.get("title")), expr, fams)
            for k, v in GRAFANA_VARS.items():
                expr = expr.replace(k, v)
            records.append({"record": "ferry_dashboard_panel_%s_%s" % (p.get("id"), t.get("refId")), "expr": expr})
    with tempfile.TemporaryDirectory() as d:  # Prometheus' own parser on every query
        check_rules_file(where + " (its queries as recording rules)", [{"name": "dashboard", "rules": records}], d)


def check_monitoring(objs, chart, case):
    global DOCUMENTED
    fams = exported_families()
    if len(fams) < 20:
        fail("found only %d metric families in %s" % (len(fams), FAMILY_SOURCES))
    DOCUMENTED = documented_families()
    for n in sorted(set(fams) ^ DOCUMENTED):
        fail("%s %s" % (n, ("is exported but not in %s" if n in fams else "is in %s but no binary exports it")
                        % shown(METRICS_DOC)))
    for o in objs:
        if o["kind"] == "PrometheusRule":
            check_prometheus_rule(o, fams, case)
        elif o["kind"] == "ConfigMap" and component(o) == "dashboard":
            check_dashboard(o, chart, fams)


# ---------- main ----------

def check_kinds(objs, case):
    want = dict(BASE_KINDS)
    want.update(EXPECT[case]["kinds"])
    want = {k: v for k, v in want.items() if v}
    got = dict(collections.Counter(o["kind"] for o in objs))
    if got != want:
        fail("kinds %s, want %s" % (sorted(got.items()), sorted(want.items())))


def main():
    global NS, VALUES_CA
    p = argparse.ArgumentParser()
    p.add_argument("chart")
    p.add_argument("case", choices=sorted(EXPECT))
    p.add_argument("--release", default="ferry")
    p.add_argument("--namespace", default="ferry-system")
    a = p.parse_args()
    NS = a.namespace
    values = {}
    if a.case != "default":
        with open(os.path.join(HERE, "values", a.case + ".yaml")) as f:
            values = yaml.safe_load(f) or {}
    VALUES_CA = values.get("webhook", {}).get("certificates", {}).get("secret", {}).get("caBundle")
    fullname = values.get("fullnameOverride") or (a.release if "ferry" in a.release else a.release + "-ferry")
    objs = render(a.chart, a.case, a.release, a.namespace)
    check_kinds(objs, a.case)
    check_labels(objs, a.release)
    check_selectors(objs)
    check_privileges(objs)
    check_hostpaths(objs, EXPECT[a.case]["hostpaths"])
    check_service_accounts(objs)
    check_rbac(objs, fullname, values.get("rbac", {}).get("create", True),
               values.get("rbac", {}).get("aggregateToDefaultRoles", True))
    check_webhook(objs, EXPECT[a.case]["webhook"], fullname)
    check_admission_policies(objs)
    check_args(objs, a.case)
    check_transfer_key(objs, a.case, fullname)
    check_monitoring(objs, a.chart, a.case)
    for f in failures:
        print("FAIL %s: %s" % (a.case, f))
    if failures:
        sys.exit(1)
    print("ok %s: %d objects" % (a.case, len(objs)))


NS = "ferry-system"
VALUES_CA = None
DOCUMENTED = set()
if __name__ == "__main__":
    main()
