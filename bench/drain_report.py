#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/drain.sh's report: per drain its times (raw), the Ready sampler's lines
(ms, Ready pods anywhere, the names Ready on node-b), the PodMigrations and the
counts before and after; the Markdown table (stdout), a TSV row per drain and a
gnuplot script for the PNG (Ready pods over the last drain of each mode).

    drain_report.py WORK RAW OUT.tsv OUT.plot"""
import json
import os
import statistics
import sys
from datetime import datetime


def ms(ts):
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def most_frozen_at_once(items):
    """The most migrations whose [frozenAt, restoredAt] overlapped: the concurrency the moves really had."""
    edges = []
    for pm in items:
        st = pm["status"]
        if st.get("frozenAt") and st.get("restoredAt"):
            edges += [(ms(st["frozenAt"]), 1), (ms(st["restoredAt"]), -1)]
    most = now = 0
    for _, d in sorted(edges, key=lambda e: (e[0], e[1])):
        now += d
        most = max(most, now)
    return most


def samples(path):
    out = []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        out.append((int(f[0]), int(f[1]), f[2].split() if len(f) > 2 else []))
    return out


def one_drain(work, mode, run, t0, drain_ms, ready_ms):
    base = os.path.join(work, f"{mode}-{run}")
    ss = samples(base + ".samples")
    fewest = min((n for t, n, _ in ss if t >= t0), default=0)
    overlap = None
    if mode == "kubectl":
        first = {}
        for t, _, names in ss:
            for n in names:
                first.setdefault(n, t - t0)
        downtimes = sorted(first.values())
    else:
        items = json.load(open(base + ".pms.json"))["items"]
        overlap = most_frozen_at_once(items)
        downtimes = sorted(pm["status"]["freezeMillis"] for pm in items if pm["status"].get("phase") == "Succeeded")
    bmin, bmax, amin, amax, went_on, n_after = open(base + ".counts").read().split()
    return {
        "mode": mode, "run": run, "drain_ms": drain_ms, "ready_ms": ready_ms, "fewest": fewest,
        "downtimes": downtimes, "before": (int(bmin), int(bmax)), "after": (int(amin), int(amax)),
        "went_on": int(went_on), "n_after": int(n_after), "overlap": overlap,
        "curve": [((t - t0) / 1000, n, len(names)) for t, n, names in ss],
    }


def cell(vals, scale=1, fmt="{:.1f}"):
    vals = [v / scale for v in vals]
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}-{fmt.format(max(vals))})" if vals else "-"


def counts_text(ds):
    if ds[0]["mode"] == "kubectl":
        restarted = all(d["after"][1] < d["before"][0] for d in ds)
        return ("started again: " if restarted else "NOT all below the old counts: ") + ", ".join(
            f"after {d['after'][0]}-{d['after'][1]} vs before {d['before'][0]}-{d['before'][1]}" for d in ds)
    return "went on: " + ", ".join(f"{d['went_on']}/{d['n_after']}" for d in ds)


def main():
    work, raw, tsv_path, plot_path = sys.argv[1:5]
    drains = []
    for line in open(raw):
        mode, run, t0, drain_ms, ready_ms = line.rstrip("\n").split("\t")
        drains.append(one_drain(work, mode, int(run), int(t0), int(drain_ms), int(ready_ms)))
    with open(tsv_path, "w") as tsv:
        tsv.write("mode\trun\tdrain_ms\tall_ready_on_target_ms\tfewest_ready\tpods_moved\tdowntime_median_ms"
                  "\tdowntime_max_ms\tcounts_before_min\tcounts_before_max\tcounts_after_min\tcounts_after_max"
                  "\tcounts_went_on\tmost_frozen_at_once\n")
        for d in drains:
            dt = d["downtimes"]
            tsv.write("\t".join(map(str, [d["mode"], d["run"], d["drain_ms"], d["ready_ms"], d["fewest"], len(dt),
                                          statistics.median(dt) if dt else "-", max(dt) if dt else "-",
                                          *d["before"], *d["after"], d["went_on"],
                                          "-" if d["overlap"] is None else d["overlap"]])) + "\n")
    groups = {}
    for d in drains:
        groups.setdefault(d["mode"], []).append(d)
    order = [m for m in ("ferry-seq", "ferry-1", "ferry-4", "kubectl") if m in groups]
    print("| mode | drain s | all Ready on node-b s | fewest Ready of 20 | downtime per pod ms, median | max |"
          " x ferry-1 drain | most frozen at once | counts |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    ref = statistics.median(d["drain_ms"] for d in groups["ferry-1"]) if "ferry-1" in groups else None
    for m in order:
        ds = groups[m]
        pooled = [x for d in ds for x in d["downtimes"]]
        ratio = f"{statistics.median(d['drain_ms'] for d in ds) / ref:.2f}x" if ref else "-"
        print(f"| {m} | {cell([d['drain_ms'] for d in ds], 1000)} | {cell([d['ready_ms'] for d in ds], 1000)} | "
              f"{cell([d['fewest'] for d in ds], 1, '{:.0f}')} | {statistics.median(pooled):.0f} | {max(pooled)} | "
              f"{ratio} | {cell([d['overlap'] for d in ds], 1, '{:.0f}') if ds[0]['overlap'] is not None else '-'} | "
              f"{counts_text(ds)} |")
    png = tsv_path[:-4] + ".png"
    machine = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    with open(plot_path, "w") as gp:
        gp.write(f'set terminal pngcairo size 1000,600 font ",10"\nset output "{png}"\n')
        gp.write(f'set title "Draining a node of 20 pods (last run of each): Ready pods\\n{machine}, '
                 f'{os.cpu_count()} cores"\n')
        gp.write('set xlabel "s since the drain started"\nset ylabel "pods"\nset yrange [0:21]\nset grid\n'
                 'set key bottom right\n')
        parts = []
        for k, m in enumerate(order):
            data = f"{tsv_path[:-4]}.samples-{k}"
            with open(data, "w") as f:
                for t, n, b in groups[m][-1]["curve"]:
                    f.write(f"{t:.2f}\t{n}\t{b}\n")
            parts.append(f'"{data}" using 1:2 with lines lw 2 lc {k + 1} title "{m}: Ready"')
            parts.append(f'"{data}" using 1:3 with lines dt 2 lc {k + 1} title "{m}: Ready on node-b"')
        gp.write("plot " + ", \\\n     ".join(parts) + "\n")


main()
