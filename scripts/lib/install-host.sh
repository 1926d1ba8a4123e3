#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# install-host.sh [DEST]: installs Ferry's host bundle (ferry-runc and CRIU 4.2,
# each with its own loader and libraries, from the agent image's /opt/ferry/host)
# into DEST on a node, default /opt/ferry:
#   DEST/bin/ferry-runc   the runtime handler's binary (containerd BinaryName, CRI-O runtime_path)
#   DEST/bin/criu         CRIU; DEST/criu/bin/criu, Ferry's default path when DEST=/opt/ferry
# Each part is copied next to its place and renamed over it, so a runtime calling the
# old one meanwhile is not disturbed. Run it again to upgrade. Needs only /bin/sh and
# coreutils on the host (the node setup runs it from the agent image, DEST on a hostPath).
set -eu

src=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
dest=${1:-/opt/ferry}

# stage SRC_PART DEST_PART: a file or directory of the bundle copied next to its place
# under DEST, as DEST_PART.new; swap DEST_PART: that copy put in place.
stage() {
  mkdir -p "$(dirname "$dest/$2")"
  rm -rf "$dest/$2.new"
  cp -a "$src/$1" "$dest/$2.new"
}
swap() {
  if [ -d "$dest/$1" ] && [ ! -L "$dest/$1" ]; then
    rm -rf "$dest/$1.old"
    mv "$dest/$1" "$dest/$1.old"
    mv "$dest/$1.new" "$dest/$1"
    rm -rf "$dest/$1.old"
  else
    mv -fT "$dest/$1.new" "$dest/$1"
  fi
}
put() { stage "$1" "$2" && swap "$2"; }

mkdir -p "$dest"
put lib/ferry-runc lib/ferry-runc
put libexec/ferry-runc libexec/ferry-runc
stage criu/. criu
# The prefix's own wrapper names the directory it was made in; DEST/bin/criu finds its
# bundle from its own path, so the prefix's entry point becomes a link to it.
ln -sfn ../../bin/criu "$dest/criu.new/bin/criu"
swap criu
put bin/criu bin/criu
put bin/ferry-runc bin/ferry-runc

version=$("$dest/bin/criu" --version | sed -n 's/^Version: //p')
[ -n "$version" ] || { echo "install-host: $dest/bin/criu does not run" >&2; exit 1; }
FERRY_RUNC_BINARY=true "$dest/bin/ferry-runc" --version ||
  { echo "install-host: $dest/bin/ferry-runc does not run" >&2; exit 1; }
echo "install-host: ferry-runc and CRIU $version in $dest (runtime binary: $dest/bin/ferry-runc)"
