#!/usr/bin/env bash
# Node engine benchmark: downtime and image size of `ferry-agent migrate` for a
# workload holding N MiB of touched memory, next to plain `runc checkpoint` +
# `runc restore` of the same workload between the same two nodes, in the same run.
#
#   bench/run.sh                    sizes 64 512, 5 runs each
#   BENCH_SIZES="64 512 2048" BENCH_RUNS=3 bench/run.sh
#
# Downtime: from the start of the checkpoint (the container freezes within
# milliseconds of it) to the restored process running on the target (runc restore
# returned). For Ferry it also includes writing the root filesystem changes, the
# manifest with every file's SHA-256, the fsyncs and the verification before the
# restore: what a migration that never restores a corrupted image costs.
# Results: a Markdown table on stdout and in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
# shellcheck source=scripts/lib/nodes.sh
source scripts/lib/nodes.sh

SIZES=${BENCH_SIZES:-64 512}
RUNS=${BENCH_RUNS:-5}
CRIU=${FERRY_CRIU:-/opt/ferry/criu/bin/criu}
AGENT=${FERRY_BIN:-$top/bin}/ferry-agent
NODES_NET=10.231.11
work=$(mktemp -d /var/tmp/ferry-bench.XXXXXX)
trap 'nodes_cleanup; rm -rf "$work"' EXIT
nodes_setup "$work/nodes"
raw=$work/raw.tsv
: > "$raw"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

start_workload() { # NODE ID SIZE -> prints the bundle
  local b
  b=$(nodes_bundle "$1" "$2" /bin/workload --mem "$3")
  "$AGENT" --work-dir "$(nodes_work "$1")" run --root "$(nodes_root "$1")" --bundle "$b" "$2" >/dev/null
  nodes_wait_count "$b/rootfs" 2 600 >/dev/null
  echo "$b"
}

remove() { # NODE ID
  runc --root "$(nodes_root "$1")" delete -f "$2" >/dev/null 2>&1 || true
  umount "$NODES_DIR/$1/bundles/$2/rootfs" 2>/dev/null || true
  rm -rf "$NODES_DIR/$1/bundles/$2" "$NODES_DIR/$1/layers/$2"
}

bench_ferry() { # SIZE RUN
  local id="f$1-$2" a b t0 t1 json
  a=$(start_workload a "$id" "$1")
  b=$(nodes_bundle b "$id" /bin/workload --mem "$1")
  t0=$(now_ms)
  json=$("$AGENT" --json --work-dir "$(nodes_work a)" migrate --root "$(nodes_root a)" \
    --store "dir://$NODES_STORE" --image "$id" --to-root "$(nodes_root b)" --to-bundle "$b" \
    --to-netns "/var/run/netns/$(nodes_ns b)" "$id")
  t1=$(now_ms)
  local before
  before=$(cat "$b/rootfs/tmp/count")
  nodes_wait_count "$b/rootfs" "$before" 600 >/dev/null # it goes on counting on the target
  python3 - "$json" "$1" "$((t1 - t0))" >> "$raw" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); t = r["timings"]
assert r["outcome"] == "migrated", r
print("\t".join(map(str, ["ferry-agent migrate", sys.argv[2], t["downtimeMs"], t["dumpMs"],
                          t["restoreMs"], r["bytes"], sys.argv[3]])))
PY
  remove a "$id"
  remove b "$id"
  rm -rf "${NODES_STORE:?}/$id" "${NODES_DIR:?}/a/work/$id"
}

fail_runc() { # ID dump|restore
  echo "bench: plain runc $2 of $1 failed:" >&2
  cat "$work/$1.log" >&2
  grep -h 'Error' "$work/w-$1-$2/$2.log" >&2 || true
  exit 1
}

bench_runc() { # SIZE RUN
  local id="r$1-$2" a b t0 t1 t2 img="$NODES_STORE/plain-$1-$2"
  a=$(start_workload a "$id" "$1")
  b=$(nodes_bundle b "$id" /bin/workload --mem "$1")
  t0=$(now_ms)
  runc --criu "$CRIU" --root "$(nodes_root a)" --log "$work/$id.log" --log-format json checkpoint \
    --image-path "$img" --work-path "$work/w-$id-dump" "$id" || fail_runc "$id" dump
  t1=$(now_ms)
  # stdio: pipes, as the container had (a host file cannot be restored)
  runc --criu "$CRIU" --root "$(nodes_root b)" --log "$work/$id.log" --log-format json restore --detach \
    --image-path "$img" --work-path "$work/w-$id-restore" --bundle "$b" "$id" < <(:) > >(cat > /dev/null) 2>&1 ||
    fail_runc "$id" restore
  t2=$(now_ms)
  nodes_wait_count "$b/rootfs" 0 600 >/dev/null
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "runc checkpoint + restore" "$1" "$((t2 - t0))" "$((t1 - t0))" \
    "$((t2 - t1))" "$(du -sb "$img" | cut -f1)" "$((t2 - t0))" >> "$raw"
  remove a "$id"
  remove b "$id"
  rm -rf "$img" "$work/w-$id-dump" "$work/w-$id-restore"
}

for size in $SIZES; do
  for ((i = 1; i <= RUNS; i++)); do
    echo "bench: ${size} MiB run $i/$RUNS" >&2
    # alternate the order so neither tool always runs on a warmer page cache
    if ((i % 2)); then bench_ferry "$size" "$i"; bench_runc "$size" "$i"
    else bench_runc "$size" "$i"; bench_ferry "$size" "$i"; fi
  done
done

stamp=$(date -u +%Y-%m-%dT%H%MZ)
out=bench/results/node-engine-$stamp.md
{
  echo "# Node engine: stop-and-copy downtime ($stamp)"
  echo
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
    "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r);" \
    "CRIU $("$CRIU" --version | awk '/^Version:/{print $2}'), $(runc --version | head -1)."
  echo "Store: a local directory ($(df -T "$NODES_STORE" | awk 'NR==2{print $2}')). $RUNS runs per row; median (min-max)."
  echo
  python3 - "$raw" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    tool, size, down, dump, rest, size_b, wall = line.rstrip("\n").split("\t")
    rows.setdefault((int(size), tool), []).append([int(down), int(dump), int(rest), int(size_b), int(wall)])
def cell(vals):
    return f"{statistics.median(vals):.0f} ({min(vals)}-{max(vals)})"
print("| memory | tool | downtime ms | dump ms | restore ms | image MiB | command wall ms |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
for (size, tool), rs in sorted(rows.items()):
    cols = list(zip(*rs))
    print(f"| {size} MiB | {tool} | {cell(cols[0])} | {cell(cols[1])} | {cell(cols[2])} | "
          f"{statistics.median(cols[3]) / 1048576:.1f} | {cell(cols[4])} |")
PY
} | tee "$out"
echo "bench: written to $out" >&2
