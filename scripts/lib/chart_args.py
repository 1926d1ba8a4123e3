#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The arguments the chart gives a container, one per line: read from a
rendered manifest (`helm get manifest`, stdin) for the workload KIND/NAME and
its container or init container CONTAINER (the first container when not
given). The command's first word (the program) is left out.

    helm get manifest ferry -n ferry-system | chart_args.py DaemonSet ferry-agent agent
"""
import sys

import yaml


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: chart_args.py KIND NAME [CONTAINER] < MANIFEST")
    kind, name = sys.argv[1], sys.argv[2]
    want = sys.argv[3] if len(sys.argv) > 3 else None
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc or doc.get("kind") != kind or doc.get("metadata", {}).get("name") != name:
            continue
        spec = doc["spec"]["template"]["spec"]
        containers = spec["containers"] + spec.get("initContainers", [])
        for c in containers:
            if want is None or c["name"] == want:
                print("\n".join(c.get("command", [])[1:] + c.get("args", [])))
                return
        sys.exit(f"chart_args.py: {kind}/{name} has no container {want}")
    sys.exit(f"chart_args.py: no {kind}/{name} in the manifest")


main()
