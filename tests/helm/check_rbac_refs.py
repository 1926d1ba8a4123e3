#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""docs/rbac.md's "where" cells point at code that exists: every `path` is a
file of the checkout and every `function` after it is defined or called in
that file. Prints what is not and exits 1.

    check_rbac_refs.py [RBAC_DOC]
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def refs(cell):
    """(file, [names]) pairs of a cell: a `path/x.c` starts a group, `names` follow it."""
    groups = []
    for tok in re.findall(r"`([^`]+)`", cell):
        if "/" in tok and re.search(r"\.(c|h|yaml)$", tok):
            groups.append((tok, []))
        elif groups and re.fullmatch(r"[a-z_][a-z0-9_]*", tok):
            groups[-1][1].append(tok)
    return groups


def main():
    doc = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "rbac.md")
    bad, seen = 0, 0
    with open(doc) as f:
        for line in f:
            if not line.startswith("|") or line.startswith("| ---"):
                continue
            for path, names in refs(line.rstrip().rstrip("|").rsplit("|", 1)[-1]):
                seen += 1
                full = os.path.join(ROOT, path)
                if not os.path.isfile(full):
                    print("check_rbac_refs: %s: no such file" % path)
                    bad += 1
                    continue
                with open(full) as src:
                    text = src.read()
                for n in names:
                    if not re.search(r"\b%s\s*\(" % re.escape(n), text):
                        print("check_rbac_refs: %s has no function %s" % (path, n))
                        bad += 1
    if not seen:
        print("check_rbac_refs: no references found in %s" % doc)
        bad += 1
    print("check_rbac_refs: %d references, %d wrong" % (seen, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
