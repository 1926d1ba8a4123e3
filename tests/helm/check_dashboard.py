#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks a Grafana dashboard (JSON) against Grafana's own dashboard schema.

    check_dashboard.py DASHBOARD.json

Grafana publishes its dashboard schema (generated from its CUE dashboard kind)
on npm as TypeScript types, @grafana/schema's Dashboard; it ships no JSON
Schema and no validator. So the dashboard is written into a TypeScript file as
an object literal of that type and TypeScript's compiler checks it: unknown
fields anywhere (excess properties), missing required ones, wrong types, values
outside an enum. Grafana's string enums (ThresholdsMode, MappingType, ...) are
taken as the strings a JSON file holds. scripts/install-deps.sh installs both
packages, pinned, into /opt/ferry/grafana-schema (FERRY_GRAFANA_SCHEMA). Prints
each error at its line of DASHBOARD.json and exits 1, or prints "ok".
"""
import json
import os
import re
import subprocess
import sys
import tempfile

PREFIX = os.environ.get("FERRY_GRAFANA_SCHEMA") or "/opt/ferry/grafana-schema"
TSC = os.path.join(PREFIX, "node_modules", ".bin", "tsc")

TS_OPTIONS = {"noEmit": True, "strict": True, "skipLibCheck": True, "types": [], "target": "es2022",
              "module": "esnext", "moduleResolution": "bundler"}
# The dashboard's JSON starts on the header's last line, so its line N is the file's N + len(HEADER) - 1.
HEADER = [
    "import type { Dashboard } from '@grafana/schema';",
    "// Grafana's string enums as the strings a JSON file holds; unknown stays unknown (null allowed there)",
    "type Plain<T> = unknown extends T ? T : T extends string ? `${T}` : T extends number | boolean | null | undefined ? T",
    "  : T extends ReadonlyArray<infer U> ? Array<Plain<U>> : { [K in keyof T]: Plain<T[K]> };",
    "export const dashboard: Plain<Dashboard> = ",
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_dashboard.py DASHBOARD.json")
    path = sys.argv[1]
    if not os.access(TSC, os.X_OK):
        sys.exit("check_dashboard: no TypeScript compiler at %s (scripts/install-deps.sh; FERRY_GRAFANA_SCHEMA)" % TSC)
    with open(path) as f:
        text = f.read()
    try:
        json.loads(text)
    except ValueError as e:
        sys.exit("%s: not JSON: %s" % (path, e))
    with tempfile.TemporaryDirectory() as d:
        os.symlink(os.path.join(PREFIX, "node_modules"), os.path.join(d, "node_modules"))
        with open(os.path.join(d, "dashboard.ts"), "w") as f:
            f.write("\n".join(HEADER) + text.strip() + ";\n")
        with open(os.path.join(d, "tsconfig.json"), "w") as f:
            json.dump({"compilerOptions": TS_OPTIONS, "files": ["dashboard.ts"]}, f)
        r = subprocess.run([TSC, "-p", d, "--pretty", "false"], cwd=d, capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    if r.returncode == 0 and not out:
        print("ok %s: Grafana's dashboard schema (@grafana/schema) accepts it" % path)
        return
    shift = len(HEADER) - 1

    def at_json_line(m):
        return "%s:%d:%s" % (path, int(m.group(1)) - shift, m.group(2))
    for line in out.splitlines():
        print(re.sub(r"^dashboard\.ts\((\d+),(\d+)\)", at_json_line, line))
    if r.returncode == 0:  # something printed, yet tsc succeeded: not what this expects
        sys.exit("check_dashboard: tsc printed output but succeeded")
    sys.exit(1)


if __name__ == "__main__":
    main()
