#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Ferry's C Kubernetes client against kube-lite: every verb, an informer across
# dropped watches and 410s, leader election handed over between two processes,
# TLS with a generated CA and a token, persistence.
bats_require_minimum_version 1.5.0
load helpers

setup_file() { kl_start main --faults; }
teardown_file() {
  pkill -f 'kubeclient.*lead' 2>/dev/null || true
  kl_stop main
  kl_stop tls
  kl_stop saved
}

@test "every verb answers as a real API server does" {
  run "$KUBECLIENT" verbs team-a
  echo "$output"
  assert_success
  refute_output --partial "not ok"
}

@test "an informer keeps its cache right across dropped watches and a 410" {
  "$KUBECLIENT" watch 6 default > "$BATS_TEST_TMPDIR/w.out" 2>&1 3>&- &
  informer=$!
  for ((i = 0; i < 100; i++)); do grep -q SYNCED "$BATS_TEST_TMPDIR/w.out" && break; sleep 0.05; done
  for n in 1 2 3; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: i%s}\nspec: {containers: [{name: c, image: busybox}]}\n' "$n" | kcreate -f -
  done
  kl_fault "$KUBECONFIG" '{"dropWatches":true}'
  k label pod i1 after=drop
  kl_fault "$KUBECONFIG" '{"forgetHistory":true,"dropWatches":true}'
  k delete pod i2
  wait "$informer"
  cat "$BATS_TEST_TMPDIR/w.out"
  want=$(k get pods -o name | sed 's#pod/##' | sort | tr '\n' ' ')
  got=$(sed -n 's/^CACHE [0-9]* //p' "$BATS_TEST_TMPDIR/w.out" | tr ' ' '\n' | sort | tr '\n' ' ')
  [ "$got" = "$want" ]
  grep -q 'relists=1' "$BATS_TEST_TMPDIR/w.out"
}

@test "leader election: one leads, the other takes over when it dies, a clean stop hands over" {
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ferry-system}\n' | kcreate -f - || true
  "$KUBECLIENT" lead cand-a 2 > "$BATS_TEST_TMPDIR/a.out" 2>&1 3>&- &
  a=$!
  for ((i = 0; i < 100; i++)); do grep -q 'cand-a leading' "$BATS_TEST_TMPDIR/a.out" && break; sleep 0.05; done
  "$KUBECLIENT" lead cand-b 2 > "$BATS_TEST_TMPDIR/b.out" 2>&1 3>&- &
  b=$!
  for ((i = 0; i < 100; i++)); do grep -q 'cand-b following' "$BATS_TEST_TMPDIR/b.out" && break; sleep 0.05; done
  grep -q 'cand-a leading' "$BATS_TEST_TMPDIR/a.out"
  grep -q 'cand-b following' "$BATS_TEST_TMPDIR/b.out"
  kill -KILL "$a"
  for ((i = 0; i < 200; i++)); do grep -q 'cand-b leading' "$BATS_TEST_TMPDIR/b.out" && break; sleep 0.05; done
  grep -q 'cand-b leading' "$BATS_TEST_TMPDIR/b.out"
  run k get lease -n ferry-system kubeclient-test -o jsonpath='{.spec.holderIdentity} {.spec.leaseTransitions}'
  assert_output "cand-b 1"
  kill -TERM "$b"
  wait "$b" || true
  run k get lease -n ferry-system kubeclient-test -o jsonpath='[{.spec.holderIdentity}]'
  assert_output "[]"
}

@test "HTTPS with a generated CA and a token; a wrong token is 401" {
  d=$BATS_FILE_TMPDIR/pki
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 1 -subj /CN=kube-lite-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/srv.key" -out "$d/srv.csr" -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1' > "$d/ext"
  openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -out "$d/srv.crt" -days 1 \
    -extfile "$d/ext" 2>/dev/null
  kl_start tls --tls-cert "$d/srv.crt" --tls-key "$d/srv.key" --tls-ca "$d/ca.crt" --token s3cret
  run kubectl --kubeconfig "$KL_KC_tls" get namespaces -o name
  assert_success
  assert_output --partial "namespace/default"
  run "$KUBECLIENT" --kubeconfig "$KL_KC_tls" verbs over-tls
  assert_success
  sed 's/token: s3cret/token: wrong/' "$KL_KC_tls" > "$BATS_TEST_TMPDIR/bad.kc"
  run kubectl --kubeconfig "$BATS_TEST_TMPDIR/bad.kc" get namespaces
  assert_failure
  assert_output --partial "Unauthorized"
}

@test "with --data a restarted kube-lite keeps its objects and resourceVersions" {
  kl_start saved --data "$BATS_FILE_TMPDIR/store.json"
  printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n' | KUBECONFIG=$KL_KC_saved kcreate -f -
  rv=$(kubectl --kubeconfig "$KL_KC_saved" get node node-a -o jsonpath='{.metadata.resourceVersion}')
  kl_stop saved
  kl_start saved --data "$BATS_FILE_TMPDIR/store.json"
  run kubectl --kubeconfig "$KL_KC_saved" get node node-a -o jsonpath='{.metadata.resourceVersion}'
  assert_output "$rv"
}
