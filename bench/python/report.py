#!/usr/bin/env python3
"""report.py: tables and CSV for bench/python/run.sh.

    report.py RAW [--csv FILE]

RAW holds one line per run, as run.sh writes them:

    round=R work=W config=C wall_s=S cpu_s=C maxrss_kb=K rc=N || <workload output>

It checks every run against the `default` configuration (exit status 0,
same checksum output), then prints: per workload the median wall time and
median max RSS of each configuration as a ratio to `default`; the
geometric mean of the time ratios per configuration; the same for CPU
time (user + system), which a busy machine disturbs less than wall time; and for `memreturn`
the median RSS at each reading.  Exit status 3 on a failed run or a
checksum mismatch (after printing everything it can).
"""
import argparse
import math
import statistics
import sys

CONFIG_ORDER = ["default", "glibc", "objmem", "mimalloc", "jemalloc", "tcmalloc"]
WORK_ORDER = ["json", "objects", "containers", "text", "memreturn"]


def parse(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            head, _, out = line.partition(" || ")
            r = dict(kv.split("=", 1) for kv in head.split())
            r["out"] = out.strip()
            r["round"] = int(r["round"])
            r["rc"] = int(r.get("rc", "1"))
            r["wall_s"] = float(r.get("wall_s", "nan"))
            r["cpu_s"] = float(r.get("cpu_s", "nan"))
            r["maxrss_kb"] = int(r.get("maxrss_kb", "0"))
            if r["work"] == "memreturn" and r["rc"] == 0:
                fields = dict(kv.split("=", 1) for kv in r["out"].split()[1:] if "=" in kv)
                r["mem"] = {k: int(fields[k]) for k in
                            ("base_kb", "peak_kb", "drop_kb", "idle_kb", "hwm_kb")}
                # RSS differs by allocator; the checksum is the work done
                r["chk"] = "records=%s kept=%s chk=%s" % (
                    fields.get("records"), fields.get("kept"), fields.get("chk"))
            else:
                r["chk"] = r["out"]
            runs.append(r)
    return runs


def ordered(names, order):
    return sorted(set(names), key=lambda n: (order.index(n) if n in order else len(order), n))


def mib(kb):
    return kb / 1024.0


def cpu_table(ok, works, configs, rows):
    if any(math.isnan(r["cpu_s"]) for (w, _), rs in ok.items() if w in works for r in rs):
        return  # raw lines from before cpu_s was recorded
    cw = 10
    print("CPU time (user + system): default in seconds, the others as a ratio to default")
    print()
    print("%-11s" % "workload" + "".join("%*s" % (cw, c) for c in configs))
    ratios = {c: [] for c in configs}
    for w in works:
        base = ok.get((w, "default"))
        bc = statistics.median(r["cpu_s"] for r in base) if base else None
        cells = []
        for c in configs:
            rs = ok.get((w, c))
            if not rs:
                cells.append("%*s" % (cw, "-"))
                continue
            t = statistics.median(r["cpu_s"] for r in rs)
            if c == "default":
                cells.append("%*s" % (cw, "%.2fs" % t))
            else:
                tr = t / bc if bc else float("nan")
                cells.append("%*s" % (cw, "%.2f" % tr))
                if bc:
                    ratios[c].append(tr)
            for row in rows:
                if row["work"] == w and row["config"] == c and row["section"] == "python":
                    row["cpu_s_median"] = "%.4f" % t
                    row["cpu_vs_default"] = "%.4f" % (t / bc) if bc else "nan"
        print("%-11s" % w + "".join(cells))
    cells = []
    for c in configs:
        if c == "default":
            cells.append("%*s" % (cw, "1.00"))
        elif ratios[c]:
            g = math.exp(sum(math.log(x) for x in ratios[c]) / len(ratios[c]))
            cells.append("%*s" % (cw, "%.2f" % g))
            for row in rows:
                if row["work"] == "geomean" and row["config"] == c:
                    row["cpu_vs_default"] = "%.4f" % g
        else:
            cells.append("%*s" % (cw, "-"))
    print("%-11s" % "geomean" + "".join(cells))
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--csv")
    a = ap.parse_args()
    runs = parse(a.raw)
    works = ordered([r["work"] for r in runs], WORK_ORDER)
    configs = ordered([r["config"] for r in runs], CONFIG_ORDER)
    problems = []

    # ---- checks: exit status, then checksum against default
    ref = {}
    for w in works:
        d = [r for r in runs if r["work"] == w and r["config"] == "default" and r["rc"] == 0]
        if d:
            ref[w] = d[0]["chk"]
    for r in runs:
        if r["rc"] != 0:
            problems.append("FAILED: %s/%s round %d exited with status %d"
                            % (r["work"], r["config"], r["round"], r["rc"]))
        elif r["work"] not in ref:
            problems.append("NO REFERENCE: %s has no successful default run" % r["work"])
        elif r["chk"] != ref[r["work"]]:
            problems.append("CHECKSUM MISMATCH: %s/%s round %d:\n    got      %s\n    default  %s"
                            % (r["work"], r["config"], r["round"], r["chk"], ref[r["work"]]))

    ok = {}
    for r in runs:
        if r["rc"] == 0 and r["chk"] == ref.get(r["work"]):
            ok.setdefault((r["work"], r["config"]), []).append(r)

    rows = []  # csv rows
    tworks = [w for w in works if w != "memreturn"]
    if tworks:
        cw = 17
        print("Python workloads: median wall time and median max RSS, as a ratio to default")
        print("(default shows its own medians; below 1.00 is faster / smaller than default)")
        print()
        print("%-11s" % "workload" + "".join("%*s" % (cw, c) for c in configs))
        print("%-11s" % "" + "".join("%*s" % (cw, "time   rss") for c in configs))
        ratios = {c: [] for c in configs}
        for w in tworks:
            base = ok.get((w, "default"))
            bt = statistics.median(r["wall_s"] for r in base) if base else None
            bm = statistics.median(r["maxrss_kb"] for r in base) if base else None
            cells = []
            for c in configs:
                rs = ok.get((w, c))
                if not rs:
                    cells.append("%*s" % (cw, "-"))
                    continue
                t = statistics.median(r["wall_s"] for r in rs)
                m = statistics.median(r["maxrss_kb"] for r in rs)
                tr = t / bt if bt else float("nan")
                mr = m / bm if bm else float("nan")
                if c == "default":
                    cells.append("%*s" % (cw, "%.2fs %4.0fM" % (t, mib(m))))
                else:
                    cells.append("%*s" % (cw, "%5.2f  %5.2f" % (tr, mr)))
                if bt and c != "default":
                    ratios[c].append(tr)
                rows.append({"section": "python", "work": w, "config": c, "n": len(rs),
                             "wall_s_median": "%.4f" % t,
                             "wall_s_min": "%.4f" % min(r["wall_s"] for r in rs),
                             "wall_s_max": "%.4f" % max(r["wall_s"] for r in rs),
                             "time_vs_default": "%.4f" % tr,
                             "maxrss_mib_median": "%.1f" % mib(m),
                             "rss_vs_default": "%.4f" % mr})
            print("%-11s" % w + "".join(cells))
        cells = []
        for c in configs:
            if c == "default":
                cells.append("%*s" % (cw, "1.00       "))
            elif ratios[c]:
                g = math.exp(sum(math.log(x) for x in ratios[c]) / len(ratios[c]))
                cells.append("%*s" % (cw, "%5.2f       " % g))
                rows.append({"section": "python", "work": "geomean", "config": c,
                             "n": len(ratios[c]), "time_vs_default": "%.4f" % g})
            else:
                cells.append("%*s" % (cw, "-"))
        print("%-11s" % "geomean" + "".join(cells))
        print()
        cpu_table(ok, tworks, configs, rows)

    if "memreturn" in works:
        print("memreturn: RSS in MiB (medians); idle/def = RSS after idle / default's")
        print()
        print("%-9s %4s %8s %8s %8s %8s %8s %9s" % ("config", "n", "base", "peak", "drop",
                                                    "idle", "idle/def", "build_s"))
        base = ok.get(("memreturn", "default"))
        bidle = statistics.median(r["mem"]["idle_kb"] for r in base) if base else None
        for c in configs:
            rs = ok.get(("memreturn", c))
            if not rs:
                continue
            med = {k: statistics.median(r["mem"][k] for r in rs)
                   for k in ("base_kb", "peak_kb", "drop_kb", "idle_kb", "hwm_kb")}
            build = statistics.median(float(dict(kv.split("=", 1) for kv in r["out"].split()[1:]
                                                 if "=" in kv)["build_s"]) for r in rs)
            rel = med["idle_kb"] / bidle if bidle else float("nan")
            print("%-9s %4d %8.0f %8.0f %8.0f %8.0f %8.2f %9.2f" % (
                c, len(rs), mib(med["base_kb"]), mib(med["peak_kb"]), mib(med["drop_kb"]),
                mib(med["idle_kb"]), rel, build))
            rows.append({"section": "memreturn", "work": "memreturn", "config": c, "n": len(rs),
                         "wall_s_median": "%.4f" % statistics.median(r["wall_s"] for r in rs),
                         "maxrss_mib_median": "%.1f" % mib(statistics.median(
                             r["maxrss_kb"] for r in rs)),
                         "base_mib": "%.1f" % mib(med["base_kb"]),
                         "peak_mib": "%.1f" % mib(med["peak_kb"]),
                         "drop_mib": "%.1f" % mib(med["drop_kb"]),
                         "idle_mib": "%.1f" % mib(med["idle_kb"]),
                         "idle_vs_default": "%.4f" % rel})
        print()

    if a.csv:
        cols = ["section", "work", "config", "n", "wall_s_median", "wall_s_min", "wall_s_max",
                "time_vs_default", "cpu_s_median", "cpu_vs_default", "maxrss_mib_median", "rss_vs_default", "base_mib",
                "peak_mib", "drop_mib", "idle_mib", "idle_vs_default"]
        with open(a.csv, "w") as f:
            f.write(",".join(cols) + "\n")
            for row in rows:
                f.write(",".join(str(row.get(k, "")) for k in cols) + "\n")

    if problems:
        print("*" * 72)
        for p in problems:
            print(p)
        print("*" * 72)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
