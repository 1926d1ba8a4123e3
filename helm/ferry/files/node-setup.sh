#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# node-setup.sh: the Helm chart's node setup, second step (after the host
# bundle, ferry-runc and CRIU, was copied to the host's /opt/ferry): adds the
# runtime handler "ferry" to the node's containerd or CRI-O configuration,
# then restarts the runtime when asked to, or says that it must be restarted.
# It runs in a privileged container in the host's PID namespace, with the
# host's configuration directory mounted under --host (default /host); the
# runtime's version and its restart are run in the host's namespaces
# (nsenter --target 1). Its last line goes to the termination message.
#
#   node-setup.sh --runtime containerd|crio --ferry-runc HOST_PATH
#       [--runc-root DIR] [--config FILE] [--crio-dropin DIR] [--restart]
#       [--host /host] [--host-pid 1] [--containerd PATH] [ADD-FERRY-RUNTIME OPTIONS...]
#
# --host-pid: a process in the host's namespaces (default 1: the pod shares the
# host's PID namespace). --containerd: the host's containerd binary (default:
# containerd on the host's PATH), asked for its version when the configuration
# file is new.
#
# Options it does not know go to add-ferry-runtime.sh (containerd):
# --systemd-cgroup, --restrict-oom-score-adj, --set.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
runtime=containerd
ferry_runc=""
runc_root=""
config=/etc/containerd/config.toml
crio_dropin=/etc/crio/crio.conf.d
restart=false
host=/host
host_containerd=containerd
host_pid=1
pass=()

# The kubelet's termination message file, when there is one.
report() { [ ! -f /dev/termination-log ] || echo "$*" >/dev/termination-log; }

die() {
  echo "node-setup: $*" >&2
  report "node-setup: $*"
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;; esac
  case $1 in
    --runtime) runtime=${2:?}; shift ;;
    --ferry-runc) ferry_runc=${2:?}; shift ;;
    --runc-root) runc_root=${2:?}; shift ;;
    --config) config=${2:?}; shift ;;
    --crio-dropin) crio_dropin=${2:?}; shift ;;
    --restart) restart=true ;;
    --host) host=${2?}; shift ;;
    --containerd) host_containerd=${2:?}; shift ;;
    --host-pid) host_pid=${2:?}; shift ;;
    --systemd-cgroup | --set) pass+=("$1" "${2:?}"); shift ;;
    --restrict-oom-score-adj) pass+=("$1") ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done
[ -n "$ferry_runc" ] || die "--ferry-runc is required"
[ -x "$host$ferry_runc" ] || die "$ferry_runc is not on the host (did the host bundle's install run?)"

# A command in the host's namespaces (its mount namespace has its binaries and systemd).
on_host() { nsenter --target "$host_pid" --mount --uts --ipc --net --pid -- "$@"; }

digest() { if [ -e "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo none; fi; }

containerd_handler() {
  local file=$host$config
  mkdir -p "$(dirname "$file")"
  # add-ferry-runtime.sh asks containerd's version only for a new file
  wrapper=$(mktemp "${TMPDIR:-/tmp}/host-containerd.XXXXXX") || die "cannot write ${TMPDIR:-/tmp}"
  trap 'rm -f "$wrapper"' EXIT
  case $host_containerd in *"'"*) die "--containerd $host_containerd: a path without quotes" ;; esac
  printf '#!/bin/sh\nexec nsenter --target %d --mount -- '"'%s'"' "$@"\n' "$host_pid" "$host_containerd" >"$wrapper"
  chmod 0755 "$wrapper"
  local args=(--config "$file" --ferry-runc "$ferry_runc" --containerd "$wrapper")
  [ -z "$runc_root" ] || args+=(--runc-root "$runc_root")
  "$here/add-ferry-runtime.sh" "${args[@]}" ${pass[@]+"${pass[@]}"}
}

crio_handler() {
  local file=$host$crio_dropin/10-ferry.conf tmp
  mkdir -p "$host$crio_dropin"
  local edits=(-e "s|^runtime_path = .*|runtime_path = \"$ferry_runc\"|")
  [ -z "$runc_root" ] || edits+=(-e "s|^runtime_root = .*|runtime_root = \"$runc_root\"|")
  tmp=$(mktemp "$host$crio_dropin/.10-ferry.conf.XXXXXX")
  sed "${edits[@]}" "$here/10-ferry.conf" >"$tmp"
  chmod 0644 "$tmp"
  if cmp -s "$tmp" "$file"; then rm -f "$tmp"; else mv -f "$tmp" "$file"; fi
}

case $runtime in
  containerd) file=$host$config ;;
  crio) file=$host$crio_dropin/10-ferry.conf ;;
  *) die "--runtime takes containerd or crio" ;;
esac
before=$(digest "$file")
"${runtime}_handler"
after=$(digest "$file")

unit=$runtime
if [ "$before" = "$after" ]; then
  msg="the $runtime handler ferry is configured; nothing changed"
elif [ "$restart" = true ]; then
  on_host systemctl restart "$unit" || die "the $runtime configuration changed, but 'systemctl restart $unit' failed"
  msg="the $runtime handler ferry was added and $unit restarted"
else
  msg="the $runtime handler ferry was added: restart $unit on this node (systemctl restart $unit) to load it"
fi
echo "node-setup: $msg"
report "$msg"
