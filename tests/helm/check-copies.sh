#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# check-copies.sh [TOP]: the chart carries the project's files, byte for
# byte: helm/ferry/crds/ holds exactly crd/*.yaml, and helm/ferry/files/ the
# node setup's add-ferry-runtime.sh and fragments from deploy/. They are
# symbolic links there (Helm reads and packages what they point at); this
# fails when one is missing or differs (a link replaced by a stale copy),
# printing each. To make them again:
#   cd helm/ferry/crds && ln -sf ../../../crd/*.yaml .
#   cd helm/ferry/files && ln -sf ../../../deploy/containerd/{add-ferry-runtime.sh,config-v2.toml,config-v3.toml} ../../../deploy/crio/10-ferry.conf .
set -euo pipefail

top=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
chart=$top/helm/ferry
bad=0

differs() {
  echo "check-copies: $*" >&2
  bad=1
}

same() { # same ORIGINAL COPY
  if [ ! -f "$2" ]; then
    differs "${2#"$top"/} is missing (a copy of ${1#"$top"/})"
  elif ! cmp -s "$1" "$2"; then
    differs "${2#"$top"/} differs from ${1#"$top"/}"
    diff -u "$1" "$2" | head -20 >&2 || true
  fi
}

for f in "$top"/crd/*.yaml; do
  same "$f" "$chart/crds/$(basename "$f")"
done
for f in "$chart"/crds/*; do
  [ -f "$top/crd/$(basename "$f")" ] || differs "helm/ferry/crds/$(basename "$f") is not in crd/"
done
for f in containerd/add-ferry-runtime.sh containerd/config-v2.toml containerd/config-v3.toml crio/10-ferry.conf; do
  same "$top/deploy/$f" "$chart/files/$(basename "$f")"
done
[ "$bad" = 0 ] && echo "check-copies: helm/ferry/crds/ is crd/, helm/ferry/files/ has deploy/'s scripts and fragments"
exit "$bad"
