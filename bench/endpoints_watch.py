#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Follows a Service's Endpoints for bench/client.sh, as kube-proxy follows
them: FILE holds the ready addresses (space-separated, one line), rewritten by
rename on each watch event, so a client reads it whole.

    endpoints_watch.py KUBECONFIG NAMESPACE SERVICE FILE"""
import json
import os
import sys
import urllib.request

import yaml


def write(path, ips):
    with open(path + ".tmp", "w") as f:
        f.write(" ".join(ips) + "\n")
    os.replace(path + ".tmp", path)


def main():
    kubeconfig, ns, name, path = sys.argv[1:5]
    cfg = yaml.safe_load(open(kubeconfig))
    server = cfg["clusters"][0]["cluster"]["server"]
    token = (cfg.get("users") or [{}])[0].get("user", {}).get("token")
    req = urllib.request.Request(f"{server}/api/v1/namespaces/{ns}/endpoints?watch=1&fieldSelector=metadata.name%3D{name}",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req) as stream:
        for line in stream:
            ev = json.loads(line)
            subsets = [] if ev["type"] == "DELETED" else ev["object"].get("subsets") or []
            write(path, [a["ip"] for s in subsets for a in s.get("addresses") or []])


main()
