#!/usr/bin/env python3
"""report.py: tables and CSV from bench/suite.sh's raw lines.

    report.py RAW --allocs A,B,.. --instances W:T,.. [--real W,..]
              [--meta TEXT] [--libs TEXT] [--md FILE] [--csv FILE]

RAW has one line per run:

    round=R work=W threads=T alloc=A wall_s= cpu_s= user_s= sys_s=
    maxrss_kb= rc= [timeout=1] hash=H [count=N]

For every (workload, allocator) it takes the median over the runs that
exited 0 of the wall time, the CPU time (user + system) and the max RSS,
and for the multi-thread workloads the median throughput (count / wall
time).  Each median is divided by the best median of its row (the
smallest time or RSS, the largest throughput), so the best allocator has
1.00.  The geometric mean of these ratios over the workloads that every
allocator completed gives one number per allocator (overall, synthetic
only, real programs only).

The outputs are checked: per workload, the reference is glibc's most
common output hash (or, without glibc, the most common one); an allocator
whose run produced another hash is listed, as is every run that did not
exit 0.  The Markdown goes to stdout and --md, the CSV to --csv.  Exit
status 3 when a run failed or an output differed, else 0.
"""
import argparse
import collections
import csv
import math
import statistics
import sys

DEFAULT_REAL = "py-json,py-objects,py-containers,py-text,sqlite,gcc,xz,pigz,zstd,redis"


def parse(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            kv = {}
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    kv[k] = v
            runs.append(kv)
    return runs


def label(work, threads):
    if threads == "-":
        return work
    if work == "xmalloc":
        return "xmalloc-%sx%s" % (threads, threads)
    return "%s-t%s" % (work, threads)


def fnum(s, default=None):
    try:
        return float(s)
    except (TypeError, ValueError):
        return default


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("raw")
    ap.add_argument("--allocs", required=True)
    ap.add_argument("--instances", required=True)
    ap.add_argument("--real", default=DEFAULT_REAL)
    ap.add_argument("--meta", default="")
    ap.add_argument("--libs", default="")
    ap.add_argument("--md")
    ap.add_argument("--csv")
    args = ap.parse_args()

    allocs = [a for a in args.allocs.split(",") if a]
    instances = [tuple(i.split(":", 1)) for i in args.instances.split(",") if i]
    real = set(args.real.split(","))
    runs = parse(args.raw)

    cell = collections.defaultdict(lambda: {"wall": [], "cpu": [], "rss": [], "tp": [],
                                            "hash": collections.Counter(), "fail": [], "n": 0})
    for r in runs:
        key = (r.get("work"), r.get("threads"), r.get("alloc"))
        c = cell[key]
        c["n"] += 1
        rc = r.get("rc", "99")
        if rc != "0":
            why = "rc=%s" % rc
            if r.get("timeout") == "1":
                why += " (timeout)"
            c["fail"].append("round %s: %s" % (r.get("round"), why))
            continue
        wall = fnum(r.get("wall_s"))
        c["wall"].append(wall)
        c["cpu"].append(fnum(r.get("cpu_s")))
        c["rss"].append(fnum(r.get("maxrss_kb"), 0.0) / 1024.0)
        cnt = fnum(r.get("count"))
        if cnt and wall:
            c["tp"].append(cnt / wall)
        c["hash"][r.get("hash", "none")] += 1

    problems = []
    rows = []  # (inst label, work, threads, {alloc: stats})
    for work, threads in instances:
        per = {}
        ref = None
        if "glibc" in allocs and cell[(work, threads, "glibc")]["hash"]:
            ref = cell[(work, threads, "glibc")]["hash"].most_common(1)[0][0]
        else:
            allh = collections.Counter()
            for a in allocs:
                allh.update(cell[(work, threads, a)]["hash"])
            if allh:
                ref = allh.most_common(1)[0][0]
        for a in allocs:
            c = cell[(work, threads, a)]
            s = {"runs": c["n"], "ok": len(c["wall"]), "fail": c["fail"]}
            for m in ("wall", "cpu", "rss", "tp"):
                vals = [v for v in c[m] if v is not None]
                s[m] = statistics.median(vals) if vals else None
                s[m + "_min"] = min(vals) if vals else None
                s[m + "_max"] = max(vals) if vals else None
            bad = sorted(h for h in c["hash"] if h != ref)
            s["output"] = "ok" if not bad else "differs"
            if len(c["hash"]) > 1:
                s["output"] = "differs" if bad else s["output"]
            if bad:
                problems.append("%s / %s: output differs from %s's (hash %s, reference %s)"
                                % (label(work, threads), a,
                                   "glibc" if "glibc" in allocs else "the majority",
                                   ",".join(bad), ref))
            for f in c["fail"]:
                problems.append("%s / %s: failed, %s" % (label(work, threads), a, f))
            if c["n"] == 0:
                problems.append("%s / %s: no run recorded" % (label(work, threads), a))
            per[a] = s
        for m, better in (("wall", min), ("cpu", min), ("rss", min), ("tp", max)):
            vals = [per[a][m] for a in allocs if per[a][m]]
            best = better(vals) if vals else None
            for a in allocs:
                v = per[a][m]
                if v and best:
                    per[a][m + "_ratio"] = v / best if m != "tp" else v / best
                else:
                    per[a][m + "_ratio"] = None
        rows.append((label(work, threads), work, threads, per))

    # geometric means over the rows every allocator completed
    def gm(metric, subset):
        out = {}
        for a in allocs:
            xs = []
            for _, work, _, per in rows:
                if subset == "synthetic" and work in real:
                    continue
                if subset == "real" and work not in real:
                    continue
                if any(per[b][metric] is None for b in allocs):
                    continue
                xs.append(per[a][metric + "_ratio"])
            out[a] = (geomean(xs), len(xs))
        return out

    subsets = [("all", "all")]
    if any(w in real for _, w, _, _ in rows) and any(w not in real for _, w, _, _ in rows):
        subsets += [("synthetic", "synthetic"), ("real programs", "real")]

    md = []
    md.append("# objmem standard-workload suite")
    md.append("")
    if args.meta:
        md.append("Run: " + args.meta.replace("=", " = ").replace("  ", " ") + ".")
    if args.libs:
        md.append("Allocators: " + ", ".join("`%s`" % x for x in args.libs.strip(";").split(";")) + ".")
    md.append("")
    md.append("Each cell: the median over the rounds, and in brackets its ratio to the best "
              "allocator of the row (1.00 = best; for time and RSS lower is better). "
              "`geomean` rows: geometric mean of the ratios over the workloads every allocator "
              "completed (the count is in the first column). A `!` marks a workload where that "
              "allocator failed a run or its output differed (see the list at the end).")
    md.append("")

    def fmt(v, ratio, digits):
        if v is None:
            return "FAIL"
        return "%.*f (%.2f)" % (digits, v, ratio)

    def table(title, metric, digits, unit_note):
        md.append("## " + title)
        md.append("")
        if unit_note:
            md.append(unit_note)
            md.append("")
        md.append("| workload | " + " | ".join(allocs) + " |")
        md.append("| --- | " + " | ".join("---:" for _ in allocs) + " |")
        for lab, _, _, per in rows:
            cells = []
            for a in allocs:
                s = per[a]
                t = fmt(s[metric], s[metric + "_ratio"], digits)
                if s["fail"] or s["output"] != "ok":
                    t += " !"
                cells.append(t)
            md.append("| %s | %s |" % (lab, " | ".join(cells)))
        for name, subset in subsets:
            g = gm(metric, subset)
            n = max((g[a][1] for a in allocs), default=0)
            md.append("| **geomean, %s** (%d) | %s |" % (
                name, n, " | ".join("**%.2f**" % g[a][0] if g[a][0] else "-" for a in allocs)))
        md.append("")

    table("Wall time (s)", "wall", 3, "Wall-clock time of the whole process (for redis: of the "
          "client, i.e. loading the data set and redis-benchmark).")
    table("CPU time (s)", "cpu", 3, "User + system time of the process and the children it "
          "waited for (gcc: cc1 and as; redis: the server).")
    table("Max RSS (MiB)", "rss", 1, "Peak resident set size (`ru_maxrss`) of the process "
          "(redis: the server).")

    mt = [r for r in rows if r[2] != "-"]
    if mt:
        md.append("## Throughput of the multi-thread workloads (M ops/s)")
        md.append("")
        md.append("Operations / wall time, median over the rounds; in brackets the ratio to the "
                  "best allocator of the row (1.00 = best, higher is better). Operations: larson "
                  "replacements, xmalloc blocks, mstress steps, rptest blocks, cache-* objects "
                  "(each written 50 000 times). The work is the same at every thread count; "
                  "xmalloc's count is producer/consumer pairs (2x2 = 4 threads).")
        md.append("")
        md.append("| workload | threads | " + " | ".join(allocs) + " |")
        md.append("| --- | ---: | " + " | ".join("---:" for _ in allocs) + " |")
        for lab, work, threads, per in sorted(mt, key=lambda r: (r[1], int(r[2]))):
            cells = []
            for a in allocs:
                s = per[a]
                if s["tp"] is None:
                    cells.append("FAIL")
                    continue
                t = "%.4g (%.2f)" % (s["tp"] / 1e6, s["tp_ratio"])
                if s["fail"] or s["output"] != "ok":
                    t += " !"
                cells.append(t)
            nthreads = threads if work != "xmalloc" else "%sx%s" % (threads, threads)
            md.append("| %s | %s | %s |" % (work, nthreads, " | ".join(cells)))
        md.append("")

    md.append("## Failures and output differences")
    md.append("")
    if problems:
        for p in problems:
            md.append("- " + p)
    else:
        md.append("None: every run exited 0 and every allocator's output matched the reference.")
    md.append("")
    text = "\n".join(md)
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["workload", "work", "threads", "alloc", "runs", "ok_runs",
                        "wall_s_median", "wall_s_min", "wall_s_max", "wall_ratio",
                        "cpu_s_median", "cpu_ratio", "maxrss_mib_median", "rss_ratio",
                        "ops_per_s_median", "throughput_ratio", "output"])

            def g(v, d=4):
                return "" if v is None else ("%.*f" % (d, v))

            for lab, work, threads, per in rows:
                for a in allocs:
                    s = per[a]
                    w.writerow([lab, work, threads, a, s["runs"], s["ok"],
                                g(s["wall"]), g(s["wall_min"]), g(s["wall_max"]), g(s["wall_ratio"]),
                                g(s["cpu"]), g(s["cpu_ratio"]), g(s["rss"], 1), g(s["rss_ratio"]),
                                g(s["tp"], 0), g(s["tp_ratio"]),
                                "failed" if not s["ok"] else s["output"]])
            for name, subset in subsets:
                gw, gc, gr = gm("wall", subset), gm("cpu", subset), gm("rss", subset)
                for a in allocs:
                    w.writerow(["geomean-" + subset, "", "", a, gw[a][1], "",
                                "", "", "", g(gw[a][0]), "", g(gc[a][0]), "", g(gr[a][0]),
                                "", "", ""])
    return 3 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
