#!/usr/bin/env python3
"""`make bench` report: medians of bench-results.csv as a table on stdout,
bench-summary.csv, the issue's targets checked, and bench.png (gnuplot).

Usage: bench_report.py RESULTS.csv OUTDIR
"""
import csv
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

MODES = ["criu-dump", "criu-dump-kill", "criu-dump-kill-1thr", "criu-snapshot", "criu-snapshot-thp", "criu-snapshot-wp", "criu-predump",
         "criu-incremental",
         "gcore",
         "kernel-core", "plain-copy", "idle", "restore", "restore-incremental", "replay", "replay-small",
         "convert", "cp"]
DUMPERS = ["criu-dump", "criu-snapshot", "criu-snapshot-thp", "criu-snapshot-wp", "criu-incremental",
           "gcore",
           "kernel-core"]
FIELDS = ["wall_ns", "cpu_ns", "downtime_ns", "tool_downtime_ns", "bytes", "dumper_maxrss_kb",
          "target_rss_before_kb", "target_rss_after_kb", "extra"]


def load(path):
    runs = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            key = (int(r["size_mib"]), r["mode"])
            runs.setdefault(key, []).append(r)
    return runs


def median(rows, field):
    vals = [float(r[field]) for r in rows if r.get(field) not in (None, "", "failed")]
    return statistics.median(vals) if vals else None


def summarize(runs):
    summ = {}
    for key, rows in runs.items():
        m = {f: median(rows, f) for f in FIELDS}
        m["n"] = len(rows)
        m["failed"] = sum(1 for r in rows if r["extra"] == "failed")
        # RSS change of the target, worst run (the ±1% promise is per dump).
        deltas = [abs(float(r["target_rss_after_kb"]) - float(r["target_rss_before_kb"])) /
                  float(r["target_rss_before_kb"]) * 100 for r in rows
                  if r["target_rss_before_kb"] and r["target_rss_after_kb"]]
        m["rss_delta_pct"] = max(deltas) if deltas else None
        summ[key] = m
    return summ


def ms(v):
    return "-" if v is None else ("%.1f" % (v / 1e6) if v < 1e10 else "%.0f" % (v / 1e6))


def mib(v):
    return "-" if v is None else "%.1f" % (v / 1048576)


def ratio(a, b):
    return "-" if a is None or not b else "%.3f" % (a / b)


def throughput(m, mode):
    """MiB/s: bytes read per wall second (convert: the dump it read)."""
    if not m or not m["wall_ns"]:
        return None
    b = m["extra"] if mode == "convert" else m["bytes"]
    return None if b is None else b / 1048576 / (m["wall_ns"] / 1e9)


def table(summ, sizes):
    out = []
    hdr = ("%-20s %10s %9s %12s %10s %10s %9s %8s %8s %9s %9s" %
           ("mode", "wall ms", "cpu ms", "downtime ms", "tool dt ms", "size MiB", "MiB/s",
            "RSS MiB", "tgt dRSS", "wall/gc", "down/gc"))
    for s in sizes:
        g = summ.get((s, "gcore"))
        n = max((summ[k]["n"] for k in summ if k[0] == s), default=0)
        out.append("")
        out.append("== %d MiB, %d thread target, median of %d runs ==" % (s, 4, n))
        out.append(hdr)
        for mode in MODES:
            m = summ.get((s, mode))
            if not m:
                continue
            if m["failed"] == m["n"]:
                out.append("%-20s failed in every run (see the log above)" % mode)
                continue
            tp = throughput(m, mode)
            dumper = mode in DUMPERS
            out.append("%-20s %10s %9s %12s %10s %10s %9s %8s %8s %9s %9s" % (
                mode, ms(m["wall_ns"]), ms(m["cpu_ns"]),
                ms(m["downtime_ns"]) if mode not in ("restore", "restore-incremental", "replay",
                                                     "replay-small", "convert", "cp",
                                                     "plain-copy") else "-",
                ms(m["tool_downtime_ns"]), mib(m["bytes"]),
                "-" if tp is None or mode == "idle" else "%.0f" % tp,
                "-" if m["dumper_maxrss_kb"] is None else "%.1f" % (m["dumper_maxrss_kb"] / 1024),
                "-" if m["rss_delta_pct"] is None else "%.2f%%" % m["rss_delta_pct"],
                ratio(m["wall_ns"], g and g["wall_ns"]) if dumper else "-",
                ratio(m["downtime_ns"], g and g["downtime_ns"]) if dumper else "-"))
    return out


def check(summ, sizes):
    """The issue's targets, each as PASS/MISS with the numbers behind it."""
    out = []

    def line(ok, text):
        out.append("%s  %s" % ("PASS" if ok else "MISS", text))

    big = max(sizes)
    g = summ.get((big, "gcore"))
    for mode, what in (("criu-snapshot", "fork, 4 KiB pages"), ("criu-snapshot-thp",
                       "fork, huge pages"), ("criu-snapshot-wp", "wp, 4 KiB pages")):
        snap = summ.get((big, mode))
        if snap and g and snap["downtime_ns"] and g["downtime_ns"]:
            r = snap["downtime_ns"] / g["downtime_ns"]
            line(r <= 0.02 and snap["downtime_ns"] < 100e6,
                 "--snapshot %s downtime at %d MiB: %s ms = %.1f%% of gcore's %s ms "
                 "(target <= 2%% and < 100 ms)" % (what, big, ms(snap["downtime_ns"]), r * 100,
                                                  ms(g["downtime_ns"])))
    mid = 1024 if 1024 in sizes else sorted(sizes)[len(sizes) // 2]
    d, g, c = (summ.get((mid, m)) for m in ("criu-dump", "gcore", "plain-copy"))
    if d and g and d["wall_ns"] and g["wall_ns"]:
        r = d["wall_ns"] / g["wall_ns"]
        line(r <= 0.40, "dump wall time at %d MiB: %s ms = %.0f%% of gcore's %s ms (target <= 40%%)"
             % (mid, ms(d["wall_ns"]), r * 100, ms(g["wall_ns"])))
    if d and c and throughput(d, "criu-dump") and throughput(c, "plain-copy"):
        r = throughput(d, "criu-dump") / throughput(c, "plain-copy")
        line(r >= 0.75, "dump throughput at %d MiB: %.0f MiB/s = %.0f%% of the plain copy's "
             "%.0f MiB/s (target >= 75%%)" % (mid, throughput(d, "criu-dump"), r * 100,
                                               throughput(c, "plain-copy")))
    for s in sorted(sizes):
        k, k1 = summ.get((s, "criu-dump-kill")), summ.get((s, "criu-dump-kill-1thr"))
        if k and k1 and k["wall_ns"] and k1["wall_ns"]:
            line(k["wall_ns"] <= k1["wall_ns"] + 500e6,
                 "dump --kill at %d MiB: 4 threads %s ms, 1 thread %s ms (target: the threads "
                 "add < 500 ms; reaping the leader first added 2 s)" % (s, ms(k["wall_ns"]),
                                                                         ms(k1["wall_ns"])))
            break
    rs = summ.get((big, "restore"))
    if rs and rs["wall_ns"]:
        line(rs["wall_ns"] <= 3e9 * big / 4096,
             "restore of the %d MiB dump: %s ms (target for 4096 MiB: <= 3000 ms)"
             % (big, ms(rs["wall_ns"])))
    rp = summ.get((min(sizes), "replay-small"))
    if rp and rp["wall_ns"]:
        # Page population at 1 GiB/s, generous for a few MiB.
        pop = (rp["bytes"] or 0) / (1 << 30) * 1e9
        line(rp["wall_ns"] <= 100e6 + pop,
             "replay of a small program (%s MiB of images): %s ms from start to stopped and "
             "attachable (target < 100 ms + page population)" % (mib(rp["bytes"]),
                                                                 ms(rp["wall_ns"])))
    for mode in ("criu-dump", "criu-snapshot", "criu-snapshot-wp", "criu-incremental"):
        worst = max((summ[(s, mode)]["rss_delta_pct"] for s in sizes
                     if (s, mode) in summ and summ[(s, mode)]["rss_delta_pct"] is not None),
                    default=None)
        if worst is not None:
            line(worst <= 1.0, "target RSS after %s equals before: worst change %.2f%% (target "
                 "+-1%%)" % (mode, worst))
    cv = summ.get((mid, "convert"))
    cp = summ.get((mid, "cp"))
    if cv and throughput(cv, "convert"):
        line(throughput(cv, "convert") >= 1024, "convert of the %d MiB dump: %.0f MiB/s (cp of "
             "its pages: %s MiB/s; target >= 1024 MiB/s)" % (
                 mid, throughput(cv, "convert"),
                 "%.0f" % throughput(cp, "cp") if cp and throughput(cp, "cp") else "-"))
    return out


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("model name"):
                    cpu = l.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%s, %d cores (%s), %.0f GiB RAM, Linux %s" % (
        time.strftime("%Y-%m-%d"), os.cpu_count(), cpu, mem, platform.release())


def write_summary(summ, path):
    with open(path, "w") as f:
        w = csv.writer(f)
        w.writerow(["size_mib", "mode", "runs"] + FIELDS + ["rss_delta_pct"])
        for (s, mode) in sorted(summ, key=lambda k: (k[0], MODES.index(k[1])
                                                     if k[1] in MODES else 99)):
            m = summ[(s, mode)]
            w.writerow([s, mode, m["n"]] + ["" if m[f] is None else "%.0f" % m[f] for f in FIELDS]
                       + ["" if m["rss_delta_pct"] is None else "%.3f" % m["rss_delta_pct"]])


def plot(summ, sizes, outdir):
    if not shutil.which("gnuplot"):
        return "no gnuplot: no plot"
    modes = ["criu-dump", "criu-snapshot", "criu-snapshot-thp", "criu-snapshot-wp",
             "criu-incremental", "gcore", "kernel-core", "plain-copy", "idle"]
    dat = os.path.join(outdir, "bench-plot.dat")
    with open(dat, "w") as f:
        f.write("# size " + " ".join("%s_wall %s_down" % (m, m) for m in modes) + "\n")
        for s in sizes:
            cols = []
            for m in modes:
                v = summ.get((s, m), {})
                for k in ("wall_ns", "downtime_ns"):
                    x = v.get(k)
                    cols.append("NaN" if x is None or (m == "plain-copy" and k == "downtime_ns")
                                else "%.3f" % (x / 1e6))
            f.write("%d %s\n" % (s, " ".join(cols)))
    png = os.path.join(outdir, "bench.png")
    plots = []
    for panel, off, title in (("downtime", 3, "Target downtime (ms, log)"),
                              ("wall", 2, "Dump wall time (ms, log)")):
        series = []
        for i, m in enumerate(modes):
            if (panel == "downtime" and m == "plain-copy") or (panel == "wall" and m == "idle"):
                continue
            series.append("'%s' using 1:%d with linespoints lw 2 %stitle '%s'" %
                          (dat, 2 + 2 * i + (1 if panel == "downtime" else 0),
                           "dt 2 " if m == "idle" else "",
                           "idle (no dump: the noise floor)" if m == "idle" else m))
        plots.append("set title '%s'\nplot %s" % (title, ", \\\n  ".join(series)))
    script = """set terminal pngcairo size 1200,500 noenhanced
set output '%s'
set multiplot layout 1,2
set logscale xy
set xlabel 'target memory (MiB)'
set key top left
set grid
set xtics (%s)
%s
unset multiplot
""" % (png, ", ".join("%d" % s for s in sizes), "\n".join(plots))
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode:
        return "gnuplot failed: " + r.stderr.strip().splitlines()[-1]
    return "plot: " + png


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs = load(sys.argv[1])
    sizes = sorted({k[0] for k in runs})
    summ = summarize(runs)
    print("criu-lite bench, %s, load %s" % (machine(), open("/proc/loadavg").read().split()[0]))
    print("downtime: the longest gap any target thread saw (its own clock); tool dt: what "
          "criu-lite's stats.img says; RSS: the dumper's peak; tgt dRSS: target RSS change.")
    for l in table(summ, sizes):
        print(l)
    print("")
    for l in check(summ, sizes):
        print(l)
    write_summary(summ, os.path.join(sys.argv[2], "bench-summary.csv"))
    print(plot(summ, sizes, sys.argv[2]))
    print("runs: %s, medians: %s" % (sys.argv[1], os.path.join(sys.argv[2], "bench-summary.csv")))


if __name__ == "__main__":
    main()
