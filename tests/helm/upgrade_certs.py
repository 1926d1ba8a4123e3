#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Mode helm keeps the webhook's certificate across upgrades, offline: in a
copy of the chart, `lookup` (which has no cluster here) is replaced by the
Secret a first `helm template` made, as the API server would return it.
The second rendering must carry the same ca.crt, tls.crt, tls.key and
caBundle; with the Secret made for another Service name, or without one,
a new certificate must be made.

    upgrade_certs.py CHART
"""
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

LOOKUP = '{{- $old := lookup "v1" "Secret" $ns $secretName }}'
FAKE = '{{- $old := .Files.Get "existing-secret.yaml" | fromYaml }}'


def render(chart):
    out = subprocess.run(["helm", "template", "ferry", chart, "-n", "ferry-system",
                          "--show-only", "templates/webhook.yaml"], check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    secret = next(d for d in docs if d["kind"] == "Secret")
    hook = next(d for d in docs if d["kind"] == "MutatingWebhookConfiguration")
    return secret, hook["webhooks"][0]["clientConfig"]["caBundle"]


def with_existing(chart, d, existing):
    copy = os.path.join(d, "ferry")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(chart, copy)
    path = os.path.join(copy, "templates", "webhook.yaml")
    with open(path) as f:
        text = f.read()
    if text.count(LOOKUP) != 1:
        sys.exit("upgrade_certs: the lookup of the existing Secret is not in templates/webhook.yaml")
    with open(path, "w") as f:
        f.write(text.replace(LOOKUP, FAKE))
    with open(os.path.join(copy, "existing-secret.yaml"), "w") as f:
        yaml.safe_dump(existing or {}, f)
    return render(copy)


def main():
    chart = sys.argv[1]
    first, bundle = render(chart)
    again, _ = render(chart)
    bad = []
    if again["data"] == first["data"]:
        bad.append("without a Secret to find, two renderings made the same certificate")
    with tempfile.TemporaryDirectory() as d:
        kept, kept_bundle = with_existing(chart, d, first)
        if kept["data"] != first["data"] or kept_bundle != bundle:
            bad.append("an upgrade made a new certificate although the Secret exists")
        if kept_bundle != kept["data"]["ca.crt"]:
            bad.append("after an upgrade the caBundle is not the kept ca.crt")
        other = yaml.safe_load(yaml.safe_dump(first))
        other["metadata"]["annotations"]["ferry.dev/webhook-host"] = "old-name.ferry-system.svc"
        renewed, _ = with_existing(chart, d, other)
        if renewed["data"] == first["data"]:
            bad.append("a Secret made for another Service name was kept")
        partial = yaml.safe_load(yaml.safe_dump(first))
        del partial["data"]["tls.key"]
        renewed, _ = with_existing(chart, d, partial)
        if renewed["data"] == first["data"] or renewed["data"]["tls.crt"] == first["data"]["tls.crt"]:
            bad.append("a Secret without tls.key was kept")
    for b in bad:
        print("FAIL " + b)
    if bad:
        sys.exit(1)
    print("ok: the certificate is kept across upgrades, and made again when the Secret does not fit")


if __name__ == "__main__":
    main()
