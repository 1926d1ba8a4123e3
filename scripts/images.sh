#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make images: Ferry's two images, built from the Dockerfile with podman on this
# machine, and saved as OCI archives a containerd can import
# (`ctr images import`):
#
#   ferry/controller:VERSION   build/images/ferry-controller-VERSION.oci.tar
#   ferry/agent:VERSION        build/images/ferry-agent-VERSION.oci.tar
#
# (the archives name them docker.io/ferry/...:VERSION, as a CRI runtime does).
#
# No registry is reachable here, so the Dockerfile's bases (debian:bookworm,
# debian:bookworm-slim) are made locally first with mmdebstrap and imported
# (once; FERRY_IMAGES_REBASE=1 makes them again). apt inside the build reaches
# Debian's archive the way this machine's apt does: its Acquire:: settings
# (proxies, the archive's date checks) go in as a build secret, never into an
# image. VERSION: the Makefile's (git describe). FERRY_PODMAN_ROOT: a podman
# storage of its own. Needs root and `scripts/install-deps.sh images`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/podman.sh
. "$ROOT/scripts/lib/podman.sh"
OUT=${FERRY_IMAGES_OUT:-$ROOT/build/images}
SUITE=bookworm
# What debian:SUITE-slim leaves out, as the official slim images do.
SLIM_EXCLUDES=('/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*' '/usr/share/lintian/*')

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

need_tools() {
  [ "$(id -u)" = 0 ] || die "must run as root (rootful podman)"
  local t
  for t in podman mmdebstrap; do
    command -v "$t" >/dev/null || die "$t is missing: run scripts/install-deps.sh images"
  done
}

# The host's apt settings that decide how the archive is reached: proxies and
# transport options, date checks (this machine's archive serves a forky Release
# past its Valid-Until). Only Acquire:: keys; an empty file when there are none.
host_apt_conf() {
  apt-config dump \
    | grep -E '^Acquire::(Check-Valid-Until|Check-Date|Retries|ForceIPv4|ForceIPv6|(http|https|ftp)::)' || true
}

# base_image NAME [SLIM]: NAME made with mmdebstrap (minbase, as Debian's official
# images are) and imported, unless it exists. The host's apt settings are there
# while packages are fetched and gone from the result.
base_image() {
  local name=$1 slim=${2:-} conf=$WORK/apt.conf opts=() p
  if "${PODMAN[@]}" image exists "$name" && [ "${FERRY_IMAGES_REBASE:-0}" != 1 ]; then
    return 0
  fi
  log "making $name with mmdebstrap"
  if [ -n "$slim" ]; then
    for p in "${SLIM_EXCLUDES[@]}"; do opts+=(--dpkgopt="path-exclude=$p"); done
  fi
  # shellcheck disable=SC2016 # mmdebstrap's hooks expand $1
  mmdebstrap --variant=minbase "${opts[@]}" \
    --setup-hook="cp '$conf' \"\$1/etc/apt/apt.conf.d/99ferry-build\"" \
    --customize-hook='rm -f "$1/etc/apt/apt.conf.d/99ferry-build"; rm -rf "$1"/var/lib/apt/lists/*' \
    "$SUITE" "$WORK/rootfs.tar" ${FERRY_DEBIAN_MIRROR:+"$FERRY_DEBIAN_MIRROR"} > "$WORK/mmdebstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed for $name"; }
  "${PODMAN[@]}" import --change 'CMD ["bash"]' "$WORK/rootfs.tar" "$name" >/dev/null
  rm -f "$WORK/rootfs.tar"
}

# build TARGET: one of the Dockerfile's final stages as ferry/TARGET:VERSION.
build() {
  local target=$1
  log "building ferry/$target:$VERSION"
  "${PODMAN[@]}" build --isolation chroot --layers \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --secret "id=aptconf,src=$WORK/apt.conf" --build-arg "VERSION=$VERSION" \
    --target "$target" -t "ferry/$target:$VERSION" -f "$ROOT/Dockerfile" "$ROOT"
}

# save TARGET: the image as an OCI archive whose reference is the name a CRI runtime
# makes of "ferry/TARGET:VERSION" (docker.io/...), so that `ctr -n k8s.io images
# import` gives the image a pod spec names.
save() {
  local target=$1 file=$OUT/ferry-$1-$VERSION.oci.tar ref=docker.io/ferry/$1:$VERSION
  rm -f "$file"
  "${PODMAN[@]}" tag "ferry/$target:$VERSION" "$ref"
  "${PODMAN[@]}" save --format oci-archive -o "$file.tmp" "$ref"
  mv "$file.tmp" "$file"
  log "saved $file ($(du -h "$file" | cut -f1))"
}

main() {
  need_tools
  VERSION=$(ferry_image_version)
  WORK=$(mktemp -d /tmp/ferry-images.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$WORK'" EXIT
  host_apt_conf > "$WORK/apt.conf"
  mkdir -p "$OUT"
  local start=$SECONDS t=$SECONDS target times=()
  base_image "debian:$SUITE"
  base_image "debian:$SUITE-slim" slim
  times+=("bases $((SECONDS - t)) s")
  for target in controller agent; do
    t=$SECONDS
    build "$target"
    times+=("$target $((SECONDS - t)) s")
  done
  t=$SECONDS
  for target in controller agent; do save "$target"; done
  times+=("archives $((SECONDS - t)) s")
  log "done in $((SECONDS - start)) s (${times[*]}): $(ferry_image_names)"
}

main "$@"
