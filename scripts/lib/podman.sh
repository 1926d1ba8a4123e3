# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# podman as Ferry's image scripts (scripts/images.sh, tests/images) call it on
# these machines: rootful, vfs storage (overlay is untested in these VMs), and
# containers asking for rlimits within the VM's hard ones (the VM gives no
# CAP_SYS_RESOURCE, so podman's defaults cannot be set).
#
#   PODMAN                 podman with the storage options (FERRY_PODMAN_ROOT: a storage
#                          of its own under that directory, e.g. a clean one for timing)
#   PODMAN_RUN_OPTS        what every `podman run` here needs
#   ferry_image_version    the version the binaries print (the Makefile's git describe)
#   ferry_image_names      "ferry/controller:VERSION ferry/agent:VERSION"

PODMAN=(podman --storage-driver vfs)
if [ -n "${FERRY_PODMAN_ROOT:-}" ]; then
  PODMAN+=(--root "$FERRY_PODMAN_ROOT/storage" --runroot "$FERRY_PODMAN_ROOT/run")
fi
# shellcheck disable=SC2034 # for the scripts that source this
PODMAN_RUN_OPTS=(--rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

ferry_image_version() {
  if [ -n "${VERSION:-}" ]; then
    printf '%s\n' "$VERSION"
  else
    git describe --always --dirty 2>/dev/null || echo 0.1.0
  fi
}

ferry_image_names() {
  local v
  v=$(ferry_image_version)
  printf 'ferry/controller:%s ferry/agent:%s\n' "$v" "$v"
}
