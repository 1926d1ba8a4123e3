# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# kube-lite for a test file: started on 127.0.0.1 (a free port) in setup_file,
# stopped in teardown_file; kubectl and the C client use the kubeconfig it writes.
# These are the hooks of a test file unless it defines its own: kube-lite "main"
# for the file, its kubeconfig for every test.
load ../lib/common

# shellcheck disable=SC2034 # used by the tests
KUBECLIENT=$FERRY_BUILD/tests/tools/kubeclient

setup_file() { kl_start main; }
teardown_file() { kl_stop main; }
# shellcheck disable=SC2154 # (kl_start sets KL_KC_main)
setup() { export KUBECONFIG=$KL_KC_main; }

# kl_start NAME [kube-lite options...]: starts one; sets KL_KC_<NAME> and KL_PID_<NAME>.
kl_start() {
  local name=$1
  shift
  local kc="$BATS_FILE_TMPDIR/$name.kubeconfig" log="$BATS_FILE_TMPDIR/$name.log"
  rm -f "$kc"
  "$FERRY_BIN/kube-lite" --listen 127.0.0.1:0 --kubeconfig-out "$kc" "$@" >"$log" 2>&1 3>&- &
  local pid=$! i
  for ((i = 0; i < 100; i++)); do
    [ -s "$kc" ] && break
    sleep 0.05
  done
  [ -s "$kc" ] || { cat "$log"; return 1; }
  printf -v "KL_KC_$name" '%s' "$kc"
  printf -v "KL_PID_$name" '%s' "$pid"
  export "KL_KC_$name" "KL_PID_$name"
  # tests run in subshells: teardown_file finds the process through this file
  echo "$pid" >"$BATS_FILE_TMPDIR/$name.pid"
}

# kl_pki DIR: a self-signed serving certificate for 127.0.0.1 (DIR/srv.crt, DIR/srv.key)
# for kube-lite --tls-cert/--tls-key; its kubeconfig then carries it as the CA.
kl_pki() {
  mkdir -p "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$1/srv.key" -out "$1/srv.crt" 2>/dev/null
}

kl_stop() {
  local f="$BATS_FILE_TMPDIR/$1.pid" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  rm -f "$f"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

kl_port() { sed -n 's#.*server: https\{0,1\}://127.0.0.1:\([0-9]*\).*#\1#p' "$1"; }

# kl_fault KUBECONFIG JSON
kl_fault() { curl -sf -XPOST -d "$2" "http://127.0.0.1:$(kl_port "$1")/kube-lite/faults" >/dev/null; }

# kubectl as an operator runs it: validation on (kube-lite serves /openapi/v3 and
# fieldValidation, so kubectl leaves the checking to the server).
k() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }
kcreate() { kubectl --kubeconfig "$KUBECONFIG" create "$@"; }

# controller-manager-lite on KUBECONFIG for a test file (kcm_start in setup_file, kcm_stop in teardown_file).
kcm_start() {
  "$FERRY_BIN/controller-manager-lite" --kubeconfig "$KUBECONFIG" >"$BATS_FILE_TMPDIR/kcm.log" 2>&1 3>&- &
  echo $! >"$BATS_FILE_TMPDIR/kcm.pid"
}
kcm_stop() { kill -TERM "$(cat "$BATS_FILE_TMPDIR/kcm.pid")" 2>/dev/null || true; }

# cluster_start NODE...: kube-lite "main", controller-manager-lite and the Nodes (setup_file); cluster_stop.
cluster_start() {
  kl_start main
  export KUBECONFIG=$KL_KC_main
  kcm_start
  make_nodes "$@"
}
cluster_stop() {
  kcm_stop
  kl_stop main
}

# make_nodes NAME...: Node objects labelled zone=NAME and Ready (no kubelet: the test plays it).
make_nodes() {
  local n
  for n in "$@"; do
    printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s, labels: {zone: %s}}\n' "$n" "$n" | kubectl apply -f - >/dev/null
    kubectl patch node "$n" --subresource status --type merge -p '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}' >/dev/null
  done
}

# until_is WANT CMD...: waits up to 5 s for CMD's output to be WANT
until_is() {
  local want=$1 i
  shift
  for ((i = 0; i < 50; i++)); do
    [ "$("$@" 2>/dev/null)" = "$want" ] && return 0
    sleep 0.1
  done
  echo "wanted '$want', got '$("$@" 2>&1)'" >&2
  return 1
}
# run_pod POD IP: the kubelet's part: running, ready, an address
run_pod() { kubectl patch pod "$1" --subresource status --type merge -p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$2\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}" >/dev/null; }

# helm_env: HELM (helm as make deps installs it), with its cache, configuration
# and data under the test file's own directory (nothing of the machine's user).
helm_env() {
  # shellcheck disable=SC2034 # used by the .bats files
  HELM=$(command -v helm || echo /usr/local/bin/helm)
  export HELM_CACHE_HOME=$BATS_FILE_TMPDIR/helm/cache HELM_CONFIG_HOME=$BATS_FILE_TMPDIR/helm/config \
    HELM_DATA_HOME=$BATS_FILE_TMPDIR/helm/data
}
