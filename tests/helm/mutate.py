#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Shows that check_chart.py's checks can fail: each breakage in
mutations.yaml is made in a copy of the chart (or of docs/rbac.md), and
check_chart.py must then fail with the expected message.

    mutate.py CHART [WHAT-SUBSTRING]

Prints one line per breakage; exits 1 when one was not caught.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def apply(path, edits):
    with open(path) as f:
        text = f.read()
    for e in edits:
        n = text.count(e["old"])
        if n != 1:
            return "%r occurs %d times in %s" % (e["old"], n, path)
        text = text.replace(e["old"], e["new"])
    with open(path, "w") as f:
        f.write(text)
    return None


def one(chart, m):
    with tempfile.TemporaryDirectory() as d:
        copy = os.path.join(d, "ferry")
        shutil.copytree(chart, copy)
        doc = os.path.join(d, "rbac.md")
        shutil.copy(os.path.join(ROOT, "docs", "rbac.md"), doc)
        target = doc if m["file"] == "docs/rbac.md" else os.path.join(copy, m["file"])
        err = apply(target, m["edits"])
        if err:
            return False, err
        r = subprocess.run([sys.executable, os.path.join(HERE, "check_chart.py"), copy, m.get("case", "default")],
                           capture_output=True, text=True, env=dict(os.environ, FERRY_RBAC_DOC=doc))
        out = r.stdout + r.stderr
        if r.returncode == 0:
            return False, "not caught: " + out.strip()
        if m["expect"] not in out:
            return False, "caught, but not with %r: %s" % (m["expect"], out.strip())
        return True, out.strip().splitlines()[0]


def main():
    chart = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) > 2 else ""
    with open(os.path.join(HERE, "mutations.yaml")) as f:
        muts = [m for m in yaml.safe_load(f) if only in m["what"]]
    bad = 0
    for m in muts:
        ok, msg = one(chart, m)
        print("%s %s: %s" % ("caught" if ok else "MISSED", m["what"], msg))
        bad += not ok
    print("%d of %d breakages caught" % (len(muts) - bad, len(muts)))
    sys.exit(1 if bad or not muts else 0)


if __name__ == "__main__":
    main()
