#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Images compressed and encrypted through the control plane: the agents write
# and read them with the cluster's key, ferry-runc decodes them on the target.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  cluster_up
  KEY=$BATS_FILE_TMPDIR/image-key
  head -c 32 /dev/urandom > "$KEY"
  export KEY
  local n
  for n in a b; do
    agent_kill "$n"
    agent_start "$n" --image-compression zstd --encryption-key-file "$KEY"
    kubelet_kill "$n"
    kubelet_start "$n" FERRY_ENCRYPTION_KEY_FILE="$KEY"
  done
}

@test "an encrypted, compressed image moves a pod; the store holds only ciphertext" {
  counting_pod sealed
  annotate_move sealed node-b
  wait_phase "$pm" Succeeded
  dst=$(target_ip "$pm")
  after=$(http "$dst" /count)
  [ -n "$after" ] && [ "$after" -ge "$before" ]
  image=$(k get pm "$pm" -o jsonpath='{.status.image}')
  dir=$NODES_STORE/${image##*/}
  run python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["encoding"]; print(e["compression"], e["encryption"], len(e["keyId"]))' "$dir/manifest.json"
  assert_output "zstd aes-256-gcm 16"
  local f
  for f in $(find "$dir" -type f ! -name 'manifest.*'); do
    [ "$(head -c 4 "$f")" = FRYE ]
  done
  # ferry-runc removed its decoded copy
  [ -z "$(find "$NODES_DIR/b/ferry-runc" -maxdepth 2 -name 'image-*' 2>/dev/null | head -1)" ]
}

@test "a target whose runtime lacks the key: the restore fails, the pod is restored on A from the encrypted image" {
  kubelet_kill b
  kubelet_start b
  web_pod keyless 8
  src=$(ip_of keyless)
  wait_for 100 eval '[ -n "$(http "$src" /count)" ]'
  # with file locks the source is not held (a held source would be resumed): the rollback restores the image
  pm=m-keyless
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: PodMigration\nmetadata: {name: %s}\nspec: {pod: keyless, targetNode: node-b, options: {fileLocks: true}}\n' "$pm" | k apply -f -
  wait_phase "$pm" RolledBack
  run k get pm "$pm" -o jsonpath='{.status.conditions[?(@.type=="Restored")].message}'
  assert_output --partial "FERRY_ENCRYPTION_KEY_FILE is not set"
  run pm_condition "$pm" SourceHeld
  assert_output " "
  run k get events --field-selector involvedObject.name="$pm",reason=RolledBack -o jsonpath='{.items[*].message}'
  assert_output --partial "restored on node-a from "
  [ "$(running_on a keyless)" = running ]
  wait_for 100 eval '[ -n "$(http "$src" /count)" ]'
  kubelet_kill b
  kubelet_start b FERRY_ENCRYPTION_KEY_FILE="$KEY"
}
