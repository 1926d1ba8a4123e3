#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/client.sh's report: from each move's client rows (ferry-bench-client:
seq, sent unix us, latency us or -1, outcome, endpoint, value) and its
PodMigration's status, the Markdown table (stdout), a TSV row per move and a
gnuplot script for the PNG (one panel per workload and strategy: the paced
client's latencies of the last run around the freeze).

    client_report.py WORK RAW OUT.tsv OUT.plot"""
import json
import os
import statistics
import sys
from datetime import datetime

WINDOW_US = 100_000


def parse_time_us(s):
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1_000_000)


def rows(path):
    out = []
    for line in open(path):
        seq, sent, lat, outcome, ip, value = line.rstrip("\n").split("\t")
        out.append((int(sent), int(lat), outcome, ip, value))
    return sorted(out)


def pct(vals, p):
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(round(p / 100 * (len(vals) - 1))))] if vals else 0


def windows(replies, start, end):
    """Replies per 100 ms window over [start, end) (whole windows only)."""
    counts = []
    t = start
    while t + WINDOW_US <= end:
        counts.append(sum(1 for r in replies if t <= r < t + WINDOW_US))
        t += WINDOW_US
    return counts


def one_move(work, workload, strategy, run, name):
    pm = json.load(open(os.path.join(work, name + ".pm.json")))
    st = pm["status"]
    frozen = parse_time_us(st["frozenAt"])
    restored = parse_time_us(st["restoredAt"])
    pages_ms = st.get("timings", {}).get("pages", 0)
    source_ip = st.get("sourcePodIP", "")
    paced = rows(os.path.join(work, name + ".paced"))
    ok = [(s + lat, lat, ip) for s, lat, oc, ip, _ in paced if oc == "ok"]
    replies = sorted(t for t, _, _ in ok)
    gap = max((b - a for a, b in zip(replies, replies[1:])), default=0)
    fails = {}
    for _, _, oc, _, _ in paced:
        if oc != "ok":
            fails[oc] = fails.get(oc, 0) + 1
    lats = [lat for _, lat, _ in ok]
    closed = rows(os.path.join(work, name + ".closed"))
    creplies = sorted(s + lat for s, lat, oc, _, _ in closed if oc == "ok")
    t0 = closed[0][0]
    before = windows(creplies, t0 + 500_000, t0 + 2_500_000)
    # after: from the closed client's first reply from the restored pod (its endpoint followed)
    first_target = min((s + lat for s, lat, oc, ip, _ in closed if oc == "ok" and ip != source_ip), default=None)
    end = restored + pages_ms * 1000 if strategy == "postCopy" else (first_target or restored) + 1_000_000
    after = windows(creplies, first_target, end) if first_target and first_target < end else []
    t = st.get("timings", {})
    steps = sum(t.get(k, 0) for k in ("dump", "rootfs", "write", "verify", "restore"))
    # the source out of the Endpoints before the freeze: the paced client's last reply from it
    last_source = max((s + lat for s, lat, oc, ip, _ in paced if oc == "ok" and ip == source_ip and s < frozen),
                      default=frozen)
    return {
        "workload": workload, "strategy": strategy, "run": run,
        "downtime_ms": st["freezeMillis"], "pages_ms": pages_ms, "gap_ms": gap / 1000,
        "dump_ms": t.get("dump", 0), "restore_ms": t.get("restore", 0), "handover_ms": st["freezeMillis"] - steps,
        "drained_before_ms": max(0, (frozen - last_source) / 1000),
        "requests": len(paced), "failed": sum(fails.values()), "fails": fails,
        "p50_ms": pct(lats, 50) / 1000, "p99_ms": pct(lats, 99) / 1000,
        "thr_before": statistics.median(before) if before else 0,
        "thr_after": statistics.median(after) if after else None, "after_windows": len(after),
        "timeline": [((s - frozen) / 1e6, lat / 1000 if oc == "ok" else -1) for s, lat, oc, _, _ in paced],
        "restored_s": (restored - frozen) / 1e6,
    }


def cell(vals, fmt="{:.0f}"):
    if not vals:
        return "-"
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}-{fmt.format(max(vals))})"


def main():
    work, raw, tsv_path, plot_path = sys.argv[1:5]
    moves = []
    for line in open(raw):
        workload, strategy, run, name = line.rstrip("\n").split("\t")
        moves.append(one_move(work, workload, strategy, int(run), name))
    with open(tsv_path, "w") as tsv:
        tsv.write("workload\tstrategy\trun\tdowntime_ms\tpages_ms\tlongest_gap_ms\trequests\tfailed\tfailed_by_outcome"
                  "\tp50_ms\tp99_ms\treplies_per_100ms_before\treplies_per_100ms_after_restore\tafter_windows"
                  "\tdump_ms\trestore_ms\thandover_ms\tlast_source_reply_before_freeze_ms\n")
        for m in moves:
            tsv.write("\t".join(map(str, [m["workload"], m["strategy"], m["run"], m["downtime_ms"], m["pages_ms"],
                                          f"{m['gap_ms']:.1f}", m["requests"], m["failed"],
                                          ",".join(f"{k}={v}" for k, v in sorted(m["fails"].items())) or "-",
                                          f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}", m["thr_before"],
                                          "-" if m["thr_after"] is None else m["thr_after"], m["after_windows"],
                                          m["dump_ms"], m["restore_ms"], m["handover_ms"],
                                          f"{m['drained_before_ms']:.0f}"]))
                      + "\n")
    groups = {}
    for m in moves:
        groups.setdefault((m["workload"], m["strategy"]), []).append(m)
    print("| workload | strategy | downtime ms (status) | longest gap ms | failed requests | p50 ms | p99 ms |"
          " replies/100 ms before | after restore | after / before | pages ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (workload, strategy), ms in sorted(groups.items()):
        after = [m["thr_after"] for m in ms if m["thr_after"] is not None]
        ratio = [m["thr_after"] / m["thr_before"] * 100 for m in ms if m["thr_after"] is not None and m["thr_before"]]
        print(f"| {workload} | {strategy} | {cell([m['downtime_ms'] for m in ms])} | "
              f"{cell([m['gap_ms'] for m in ms])} | {cell([m['failed'] for m in ms])} | "
              f"{cell([m['p50_ms'] for m in ms], '{:.1f}')} | {cell([m['p99_ms'] for m in ms])} | "
              f"{cell([m['thr_before'] for m in ms])} | {cell(after)} | "
              f"{cell(ratio, '{:.0f}%') if ratio else 'pages done first'} | {cell([m['pages_ms'] for m in ms])} |")
    print()
    print("Where the gap goes (the last reply from the source came this long before the freeze; handover: the downtime"
          " not in the engine's steps; the rest: from running on the target to the client's first reply from it):")
    print()
    print("| workload | strategy | last source reply before the freeze ms | dump ms |"
          " restore ms | handover ms | the rest of the gap ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for (workload, strategy), ms in sorted(groups.items()):
        print(f"| {workload} | {strategy} | {cell([m['drained_before_ms'] for m in ms])} | "
              f"{cell([m['dump_ms'] for m in ms])} | {cell([m['restore_ms'] for m in ms])} | "
              f"{cell([m['handover_ms'] for m in ms])} | "
              f"{cell([m['gap_ms'] - m['downtime_ms'] - m['drained_before_ms'] for m in ms])} |")
    print()
    print("Failed requests by outcome (all runs): " + "; ".join(
        f"{w} {s}: " + (", ".join(f"{k} {v}" for k, v in sorted(
            {k: sum(m['fails'].get(k, 0) for m in ms) for k in set().union(*[m['fails'] for m in ms])}.items())) or "none")
        for (w, s), ms in sorted(groups.items())))
    # the plot: the last run of each workload and strategy
    png = tsv_path[:-4] + ".png"
    machine = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    with open(plot_path, "w") as gp:
        gp.write(f'set terminal pngcairo size 1200,800 font ",9"\nset output "{png}"\n')
        gp.write(f'set multiplot layout 2,2 title "Paced client (a request every 10 ms) through the Service, last run; '
                 f'failed requests at 1 s\\n{machine}, {os.cpu_count()} cores"\n')
        gp.write('set xlabel "s since the freeze"\nset ylabel "latency (ms)"\nset logscale y\nset grid\n'
                 'set yrange [0.1:2000]\nset key top left\n')
        for k, ((workload, strategy), ms) in enumerate(sorted(groups.items())):
            m = ms[-1]
            data = f"{tsv_path[:-4]}.timeline-{k}"
            with open(data, "w") as f:
                for t, lat in m["timeline"]:
                    f.write(f"{t:.4f}\t{lat if lat >= 0 else 'NaN'}\t{1000 if lat < 0 else 'NaN'}\n")
            gp.write(f'set title "{workload}, {strategy}: downtime {m["downtime_ms"]} ms, longest gap '
                     f'{m["gap_ms"]:.0f} ms"\n')
            gp.write(f'set arrow 1 from 0, graph 0 to 0, graph 1 nohead dt 2\n'
                     f'set arrow 2 from {m["restored_s"]:.3f}, graph 0 to {m["restored_s"]:.3f}, graph 1 nohead dt 3\n')
            gp.write(f'plot "{data}" using 1:2 with points pt 7 ps 0.3 title "reply", '
                     f'"{data}" using 1:3 with points pt 2 ps 0.5 lc rgb "red" title "failed"\n')
        gp.write("unset multiplot\n")


main()
