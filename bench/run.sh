#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Node engine benchmark: for a workload holding N MiB of touched memory, the
# downtime, total time and bytes moved of each Ferry strategy (`ferry-agent
# migrate --strategy ...`), next to plain `runc checkpoint` + `runc restore`, plain
# runc's post-copy (`--lazy-pages` with CRIU's lazy-pages daemon), and
# `podman container checkpoint --export` + `podman container restore --import`
# (Debian's podman, through runc and the same CRIU) of the same workload, in the
# same run, alternating the order.
#
#   bench/run.sh                                   sizes 64 512 2048, 5 runs each
#   BENCH_SIZES="64 512" BENCH_RUNS=3 bench/run.sh
#   BENCH_TOOLS="postCopy runcLazy" bench/run.sh   a subset (stopAndCopy preCopy postCopy runc runcLazy podman)
#
# Downtime: from the freeze (the start of the dump) to the process running again
# on the target. For Ferry it includes writing the root filesystem changes, the
# manifest with every file's SHA-256 and the verification (the memory hashed
# while CRIU writes and restores it; no fsyncs: the source is held, see
# docs/performance.md). For postCopy the memory arrives after that: "total" runs until the
# last page arrived and the source was released. For runc and podman, total =
# downtime (nothing happens before or after the freeze). Plain runc carries no
# file-system changes, so its restore on B uses A's root file system (a bind
# mount); podman's export carries them like Ferry's image.
# Results: bench/results/strategies-STAMP.md (Markdown table) and .png (gnuplot).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
# shellcheck source=scripts/lib/nodes.sh
source scripts/lib/nodes.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

SIZES=${BENCH_SIZES:-64 512 2048}
RUNS=${BENCH_RUNS:-5}
TOOLS=${BENCH_TOOLS:-stopAndCopy preCopy postCopy runc runcLazy podman}
CRIU=${FERRY_CRIU:-/opt/ferry/criu/bin/criu}
NODES_NET=10.231.11

# What the benchmark needs besides the test dependencies: podman and gnuplot.
need=()
command -v podman >/dev/null || need+=(podman)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
if ((${#need[@]})); then
  echo "bench: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
fi
# CRIU's page server needs 4 MiB pipes (see docs/strategies.md)
[ "$(cat /proc/sys/fs/pipe-max-size)" -ge 4194304 ] || echo 4194304 > /proc/sys/fs/pipe-max-size

work=$(mktemp -d /var/tmp/ferry-bench.XXXXXX)
# a copy of the binaries: a rebuild during the run must not change them
cp -a "${FERRY_BIN:-$top/bin}" "$work/bin"
export FERRY_BIN=$work/bin
AGENT=$FERRY_BIN/ferry-agent
# podman: its own storage under $work, runc as the runtime, and runc finds this CRIU on PATH.
PODMAN=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs --runtime runc
        --cgroup-manager cgroupfs --events-backend none)
cleanup() {
  "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1 || true
  nodes_cleanup
  umount -R "$work/podman" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
nodes_setup "$work/nodes"
# CRIU's kernel feature cache, made by the agent as on a node (docs/performance.md): every tool's CRIU reads it
kdat=$("$AGENT" --json check 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("criuKernelCache", "none"))' ||
  echo none)
# What the machine takes to give a process fresh memory (a first write to each
# page of 512 MiB, as a restore does to every page it fills), ms per GiB: the
# floor under every tool's restore, and how much it moves during the run
fault_ms_per_gib() {
  python3 -c 'import mmap, time
n = 512 << 20
m = mmap.mmap(-1, n)
t = time.monotonic()
for i in range(0, n, 4096):
    m[i] = 1
print(round((time.monotonic() - t) * 2000))'
}
fault_before=$(fault_ms_per_gib)
raw=$work/raw.tsv
: > "$raw"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

start_workload() { # NODE ID SIZE -> prints the bundle
  local b
  b=$(nodes_bundle "$1" "$2" /bin/workload --mem "$3")
  "$AGENT" --work-dir "$(nodes_work "$1")" run --root "$(nodes_root "$1")" --bundle "$b" "$2" >/dev/null
  nodes_wait_count "$b/rootfs" 2 1200 >/dev/null
  echo "$b"
}

remove() { # NODE ID
  runc --root "$(nodes_root "$1")" delete -f "$2" >/dev/null 2>&1 || true
  while umount "$NODES_DIR/$1/bundles/$2/rootfs" 2>/dev/null; do :; done
  rm -rf "$NODES_DIR/$1/bundles/$2" "$NODES_DIR/$1/layers/$2"
}

# check_moved ROOTFS SIZE: the count goes on and the memory checks out.
check_moved() {
  local before v i
  before=$(cat "$1/tmp/count")
  nodes_wait_count "$1" "$before" 1200 >/dev/null
  rm -f "$1/tmp/verify"
  touch "$1/tmp/verify-request"
  for ((i = 0; i < 1200; i++)); do
    [ -s "$1/tmp/verify" ] && break
    sleep 0.05
  done
  v=$(cat "$1/tmp/verify" 2>/dev/null || true)
  [[ "$v" == "ok "*" $2" ]] || { echo "bench: memory check after the move: '$v'" >&2; exit 1; }
}

# columns: tool size downtime_ms total_ms bytes_before bytes_during bytes_after dump_ms restore_ms write_ms
# verify_ms note (write: the root filesystem changes, fsyncs, hashing and publishing after the dump; verify:
# the target's check of every file against the manifest, and decoding; 0 for the plain tools)
bench_ferry() { # STRATEGY SIZE RUN
  local strategy=$1 size=$2 id="f${1:0:4}$2-$3" tid a b json
  tid=$id-b
  a=$(start_workload a "$id" "$size")
  b=$(nodes_bundle b "$tid" /bin/workload --mem "$size")
  rm -f "$b/config.json"
  json=$("$AGENT" --json --log-level warn --work-dir "$(nodes_work a)" migrate --root "$(nodes_root a)" \
    --store "dir://$NODES_STORE" --image "$id" --to-root "$(nodes_root b)" --to-bundle "$b" \
    --to-netns "/var/run/netns/$(nodes_ns b)" --id "$tid" --strategy "$strategy" --timeout 900 "$id")
  check_moved "$b/rootfs" "$size"
  python3 - "$json" "$size" "$strategy" >> "$raw" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); t = r["timings"]; b = r["bytesMoved"]
assert r["outcome"] == "migrated", r
used = r["strategy"]
tool = "ferry " + sys.argv[3] + ("" if used == sys.argv[3] else f" (ran {used})")
print("\t".join(map(str, [tool, sys.argv[2], t["downtimeMs"], t["totalMs"], b["beforeFreeze"],
                          b["duringFreeze"], b["afterRestore"], t["dumpMs"], t["restoreMs"], t["writeMs"],
                          t["verifyMs"], r.get("strategyNote", "")])))
PY
  remove a "$id"
  remove b "$tid"
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
  # plain runc carries no file-system changes: B restores on A's root file system
  # (files the process holds open, such as a half-written one, must be there)
  mount --bind "$a/rootfs" "$b/rootfs"
  t0=$(now_ms)
  runc --criu "$CRIU" --root "$(nodes_root a)" --log "$work/$id.log" --log-format json checkpoint \
    --image-path "$img" --work-path "$work/w-$id-dump" "$id" || fail_runc "$id" dump
  t1=$(now_ms)
  # stdio: pipes, as the container had (a host file cannot be restored)
  runc --criu "$CRIU" --root "$(nodes_root b)" --log "$work/$id.log" --log-format json restore --detach \
    --image-path "$img" --work-path "$work/w-$id-restore" --bundle "$b" "$id" < <(:) > >(cat > /dev/null) 2>&1 ||
    fail_runc "$id" restore
  t2=$(now_ms)
  check_moved "$b/rootfs" "$1"
  printf '%s\t%s\t%s\t%s\t0\t%s\t0\t%s\t%s\t0\t0\t\n' "runc checkpoint + restore" "$1" "$((t2 - t0))" "$((t2 - t0))" \
    "$(du -sb "$img" | cut -f1)" "$((t1 - t0))" "$((t2 - t1))" >> "$raw"
  remove a "$id"
  remove b "$id"
  rm -rf "$img" "$work/w-$id-dump" "$work/w-$id-restore"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_socket PATH: CRIU's lazy-pages daemon made its socket (at most 10 s).
wait_socket() {
  local i
  for ((i = 0; i < 2000; i++)); do
    [ -S "$1" ] && return 0
    sleep 0.005
  done
  return 1
}

# Plain runc post-copy, as its documentation does it by hand: `runc checkpoint
# --lazy-pages --page-server` on A (CRIU serves the memory once the image is
# written, --status-fd says when), `criu lazy-pages` and `runc restore
# --lazy-pages` on B. Nothing verified, no root filesystem changes (B uses A's).
bench_runc_lazy() { # SIZE RUN
  local id="l$1-$2" a b t0 t1 t2 t3 img="$NODES_STORE/lazy-$1-$2" port fifo dump lazy
  local lw="$work/w-$id-lazy"
  a=$(start_workload a "$id" "$1")
  b=$(nodes_bundle b "$id-b" /bin/workload --mem "$1")
  mount --bind "$a/rootfs" "$b/rootfs"
  port=$(free_port)
  fifo="$work/$id.status"
  mkfifo "$fifo"
  mkdir -p "$lw" "$img"
  t0=$(now_ms)
  runc --criu "$CRIU" --root "$(nodes_root a)" --log "$work/$id.log" --log-format json checkpoint --lazy-pages \
    --page-server "127.0.0.1:$port" --status-fd 3 --image-path "$img" --work-path "$work/w-$id-dump" "$id" 3>"$fifo" &
  dump=$!
  head -c1 "$fifo" >/dev/null || fail_runc "$id" dump
  t1=$(now_ms)
  "$CRIU" lazy-pages --images-dir "$img" --work-dir "$lw" --page-server --address 127.0.0.1 --port "$port" \
    --log-file lazy-pages.log -v2 &
  lazy=$!
  wait_socket "$lw/lazy-pages.socket" || fail_runc "$id" lazy
  runc --criu "$CRIU" --root "$(nodes_root b)" --log "$work/$id.log" --log-format json restore --detach --lazy-pages \
    --image-path "$img" --work-path "$lw" --bundle "$b" "$id-b" < <(:) > >(cat > /dev/null) 2>&1 ||
    fail_runc "$id" restore
  t2=$(now_ms)
  wait "$lazy" || fail_runc "$id" lazy
  wait "$dump" || fail_runc "$id" dump
  t3=$(now_ms)
  check_moved "$b/rootfs" "$1"
  printf '%s\t%s\t%s\t%s\t0\t%s\t%s\t%s\t%s\t0\t0\t\n' "runc post-copy (lazy pages)" "$1" "$((t2 - t0))" \
    "$((t3 - t0))" "$(du -sb "$img" | cut -f1)" 0 "$((t1 - t0))" "$((t2 - t1))" >> "$raw"
  remove a "$id"
  remove b "$id-b"
  rm -rf "$img" "$work/w-$id-dump" "$lw" "$fifo"
}

podman_image_ready=
podman_image() {
  [ -n "$podman_image_ready" ] && return 0
  tar -C "$NODES_DIR/base" -cf "$work/base.tar" .
  "${PODMAN[@]}" import "$work/base.tar" localhost/ferry-bench:latest >/dev/null
  podman_image_ready=1
}

bench_podman() { # SIZE RUN
  local id="p$1-$2" t0 t1 t2 m exp
  exp="$work/$id.tar"
  podman_image
  PATH="$(dirname "$CRIU"):$PATH" "${PODMAN[@]}" run -d --name "$id" --network none \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/ferry-bench:latest /bin/workload --mem "$1" >/dev/null
  m=$("${PODMAN[@]}" mount "$id")
  nodes_wait_count "$m" 2 1200 >/dev/null
  t0=$(now_ms)
  PATH="$(dirname "$CRIU"):$PATH" "${PODMAN[@]}" container checkpoint --export "$exp" --compress none "$id" >/dev/null
  t1=$(now_ms)
  "${PODMAN[@]}" rm -f "$id" >/dev/null
  PATH="$(dirname "$CRIU"):$PATH" "${PODMAN[@]}" container restore --import "$exp" >/dev/null
  t2=$(now_ms)
  m=$("${PODMAN[@]}" mount "$id")
  check_moved "$m" "$1"
  printf '%s\t%s\t%s\t%s\t0\t%s\t0\t%s\t%s\t0\t0\t\n' "podman checkpoint --export + restore --import" "$1" \
    "$((t2 - t0))" "$((t2 - t0))" "$(stat -c %s "$exp")" "$((t1 - t0))" "$((t2 - t1))" >> "$raw"
  "${PODMAN[@]}" rm -f -t 0 "$id" >/dev/null
  rm -f "$exp"
}

run_tool() { # TOOL SIZE RUN
  case $1 in
  runc) bench_runc "$2" "$3" ;;
  runcLazy) bench_runc_lazy "$2" "$3" ;;
  podman) bench_podman "$2" "$3" ;;
  *) bench_ferry "$1" "$2" "$3" ;;
  esac
}

for size in $SIZES; do
  for ((i = 1; i <= RUNS; i++)); do
    # rotate the order so no tool always runs first on a cold or warm page cache
    read -r -a tools <<< "$TOOLS"
    n=${#tools[@]}
    for ((k = 0; k < n; k++)); do
      tool=${tools[$(((k + i) % n))]}
      echo "bench: ${size} MiB run $i/$RUNS: $tool" >&2
      run_tool "$tool" "$size" "$i"
    done
  done
done

fault_after=$(fault_ms_per_gib)
bench_results strategies
machine="$(bench_machine), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
{
  echo "# Migration strategies: downtime, total time, bytes moved ($stamp)"
  echo
  echo "Machine: $machine; CRIU $("$CRIU" --version | awk '/^Version:/{print $2}'), $(runc --version | head -1)," \
    "$(podman --version)."
  echo "Both nodes are network namespaces on this machine; the store is a local directory" \
    "($(df -T "$NODES_STORE" | awk 'NR==2{print $2}')); post-copy pages go over loopback through Ferry's relay" \
    "(no bandwidth limit). $RUNS runs per row; median (min-max). Every move was checked: the count went on and" \
    "the memory pattern verified. CRIU's kernel feature cache (/run/criu.kdat): $kdat, read by every tool's CRIU." \
    "Fresh memory (a first write to each page, as every restore does): $fault_before ms per GiB before the runs," \
    "$fault_after ms after."
  echo
  python3 - "$raw" "$out.tsv" <<'PY'
import sys, statistics
rows, notes = {}, {}
for line in open(sys.argv[1]):
    tool, size, down, total, before, during, after, dump, rest, write, verify, note = line.rstrip("\n").split("\t")
    rows.setdefault((int(size), tool), []).append([int(down), int(total), int(before), int(during), int(after),
                                                   int(dump), int(rest), int(write), int(verify)])
    if note:
        notes[tool] = note
def cell(vals):
    return f"{statistics.median(vals):.0f} ({min(vals)}-{max(vals)})"
def mib(vals):
    return f"{statistics.median(vals) / 1048576:.1f}"
RUNC = "runc checkpoint + restore"
RUNC_LAZY = "runc post-copy (lazy pages)"
def ratio(size, down, tool):
    # post-copy against runc's own post-copy, everything else against its checkpoint + restore
    base = rows.get((size, RUNC_LAZY if "postCopy" in tool or tool == RUNC_LAZY else RUNC))
    return f"{statistics.median(down) / statistics.median(list(zip(*base))[0]):.2f}x" if base else "-"
def ms(vals):
    return f"{statistics.median(vals):.0f}" if any(vals) else "-"
print("| memory | tool | downtime ms | x runc (post-copy: x runc post-copy) | of which dump ms | write ms | verify ms | restore ms | total ms |"
      " MiB before freeze | MiB during freeze | MiB after restore |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
tools = []
with open(sys.argv[2], "w") as tsv:
    for (size, tool), rs in sorted(rows.items()):
        c = list(zip(*rs))
        after = "not counted" if tool == RUNC_LAZY else mib(c[4])  # CRIU's lazy-pages daemon keeps no count
        print(f"| {size} MiB | {tool} | {cell(c[0])} | {ratio(size, c[0], tool)} | {ms(c[5])} | {ms(c[7])} | {ms(c[8])} | "
              f"{ms(c[6])} | {cell(c[1])} | {mib(c[2])} | {mib(c[3])} | {after} |")
        if tool not in tools:
            tools.append(tool)
    # the plot's data: one block per tool (gnuplot's "index")
    for i, t in enumerate(tools):
        for (size, tool), rs in sorted(rows.items()):
            if tool == t:
                d = list(zip(*rs))[0]
                tsv.write(f"{size}\t{statistics.median(d)}\t{min(d)}\t{max(d)}\t{tool}\n")
        tsv.write("\n\n")
for tool, note in notes.items():
    print(f"\n{tool}: {note}")
PY
} | tee "$out.md"
# The plot: median downtime (min-max bars) per tool against memory size.
python3 - "$out.tsv" "$out.gp" "$out.png" "$machine" <<'PY'
import sys
tsv, gp, png, machine = sys.argv[1:]
tools, block = {}, 0
for line in open(tsv).read().split("\n\n\n"):
    if line.strip():
        tools[block] = line.strip().split("\n")[0].split("\t")[4]
        block += 1
with open(gp, "w") as f:
    f.write(f'set terminal pngcairo size 1000,600 font ",10"\nset output "{png}"\n')
    f.write(f'set title "Downtime by memory size (median, min-max)\\n{machine}"\n')
    f.write('set xlabel "touched memory (MiB)"\nset ylabel "downtime (ms)"\nset logscale xy\n')
    f.write('set key left top\nset grid\nset xtics (64, 512, 2048)\n')
    parts = []
    for i, t in sorted(tools.items()):
        parts.append(f'"{tsv}" index {i} using 1:2:3:4 with yerrorlines lw 2 title "{t}"')
    f.write("plot " + ", \\\n     ".join(parts) + "\n")
PY
gnuplot "$out.gp"
rm -f "$out.gp"
echo "bench: written to $out.md, $out.png (data $out.tsv)" >&2
