# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Steps of the Dockerfile's build stage (sourced there, never on a developer's
# machine):
#
#   image_runtime_packages BIN...   the Debian packages whose libraries BIN... load,
#                                   one a line (the final stages install exactly these)
#   image_host_bundle OUT FERRY_RUNC CRIU_PREFIX
#                                   the host bundle in OUT: ferry-runc and CRIU, each
#                                   with its own loader and libraries, and install-host.sh
#
# The host bundle (docs/images.md) runs on a host that has none of the libraries:
#   OUT/bin/ferry-runc, OUT/bin/criu   wrappers that find the bundle from their own path
#   OUT/libexec/ferry-runc             the binary; OUT/lib/ferry-runc/ its loader and libraries
#   OUT/criu                           CRIU's prefix (scripts/install-deps.sh image-build), a link
#   OUT/install-host.sh DEST           copies it all to DEST (default /opt/ferry)

IMAGE_STAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# image_libraries BIN...: every shared library BIN... load, the loader included.
image_libraries() {
  ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | sort -u
}

image_runtime_packages() {
  local f p
  image_libraries "$@" | while read -r f; do
    p=$(dpkg -S "$f" 2>/dev/null || dpkg -S "$(readlink -f "$f")" 2>/dev/null) || {
      echo "image-stage: no package owns $f" >&2
      return 1
    }
    printf '%s\n' "${p%%:*}"
  done | sort -u
}

# image_wrapper FILE LOADER LIBPATH PROGRAM [PRELUDE]: a /bin/sh script that runs
# PROGRAM through LOADER with LIBPATH; the three are relative to the bundle's top,
# which the script finds from its own path (symlinks to it work too).
image_wrapper() {
  local file=$1 loader=$2 libpath=$3 prog=$4 prelude=${5:-}
  cat > "$file" <<WRAPPER
#!/bin/sh
# Ferry's host bundle: $(basename "$prog") through its own loader and libraries,
# whatever the host's libc (docs/images.md).
d=\$(cd "\$(dirname "\$(readlink -f "\$0")")/.." && pwd)
$prelude
exec "\$d/$loader" --library-path "$libpath" "\$d/$prog" "\$@"
WRAPPER
  chmod 0755 "$file"
}

image_host_bundle() {
  local out=$1 runc_bin=$2 criu_prefix=$3 f
  local crlib=criu/usr/lib/x86_64-linux-gnu
  rm -rf "$out"
  mkdir -p "$out/bin" "$out/libexec" "$out/lib/ferry-runc"
  install -m 0755 "$runc_bin" "$out/libexec/ferry-runc"
  image_libraries "$runc_bin" | while read -r f; do
    cp -L "$f" "$out/lib/ferry-runc/$(basename "$f")"
  done
  [ -e "$out/lib/ferry-runc/ld-linux-x86-64.so.2" ] || { echo "image-stage: no loader for $runc_bin" >&2; return 1; }
  # CRIU's prefix is the one the image has anyway (scripts/install-deps.sh image-build):
  # linked, not copied again; install-host.sh copies what the link names.
  ln -s "$(realpath --relative-to="$out" "$criu_prefix")" "$out/criu"
  [ -x "$out/$crlib/ld-linux-x86-64.so.2" ] || { echo "image-stage: $criu_prefix has no loader" >&2; return 1; }
  # shellcheck disable=SC2016 # expanded by the wrapper at run time
  image_wrapper "$out/bin/ferry-runc" lib/ferry-runc/ld-linux-x86-64.so.2 '$d/lib/ferry-runc' \
    libexec/ferry-runc ': "${FERRY_CRIU:=$d/bin/criu}"; export FERRY_CRIU'
  # shellcheck disable=SC2016
  image_wrapper "$out/bin/criu" "$crlib/ld-linux-x86-64.so.2" "\$d/$crlib:\$d/criu/lib/x86_64-linux-gnu" \
    criu/usr/sbin/criu
  install -m 0755 "$IMAGE_STAGE_DIR/install-host.sh" "$out/install-host.sh"
}
