#!/usr/bin/env python3
"""report.py — summarise bench_alloc result lines into tables and a CSV.

Usage: report.py RAW_FILE [--csv OUT.csv]

RAW_FILE holds one bench_alloc output line per run (run.sh prefixes each
with round=N; failed runs carry status=failed and are counted, not used).
For every workload it prints one row per allocator: median / min / max
nanoseconds per allocator call, the median's ratio to glibc and objmem's
median divided by this allocator's, and median RSS figures in MiB.  Then
geometric means over the time workloads (churn, lifo, fifo, trace).
"""
import csv
import math
import statistics
import sys

ALLOC_ORDER = ["objmem", "pymalloc", "glibc", "mimalloc", "jemalloc", "tcmalloc"]
WORK_ORDER = ["churn", "lifo", "fifo", "frag", "trace"]
TIME_WORKS = ["churn", "lifo", "fifo", "trace"]


def parse(path):
    runs, failed = [], []
    with open(path) as f:
        for line in f:
            kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
            if "alloc" not in kv or "work" not in kv:
                continue
            (failed if kv.get("status") == "failed" else runs).append(kv)
    return runs, failed


def order(names, preferred):
    return [n for n in preferred if n in names] + sorted(n for n in names if n not in preferred)


def median_of(rows, key):
    vals = [float(r[key]) for r in rows if key in r]
    return statistics.median(vals) if vals else None


def fmt(v, spec, width):
    return ("%" + spec) % v if v is not None else "-".rjust(width)


def mib(kb):
    return None if kb is None else kb / 1024.0


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    raw = argv[1]
    csv_path = argv[argv.index("--csv") + 1] if "--csv" in argv else None
    runs, failed = parse(raw)
    if not runs:
        sys.exit("report.py: no successful runs in %s" % raw)

    groups = {}
    for r in runs:
        groups.setdefault((r["work"], r["alloc"]), []).append(r)
    works = order({w for w, _ in groups}, WORK_ORDER)
    allocs = order({a for _, a in groups}, ALLOC_ORDER)
    med = {k: median_of(v, "ns_per_op") for k, v in groups.items()}

    csv_rows = []
    out = []
    for w in works:
        rows = [a for a in allocs if (w, a) in groups]
        nruns = max(len(groups[(w, a)]) for a in rows)
        frag = w == "frag"
        out.append("")
        out.append("== %s  (%d run%s each; ns per allocator call; RSS in MiB, medians) =="
                   % (w, nruns, "" if nruns == 1 else "s"))
        head = "%-10s %9s %9s %9s %9s %9s %9s %9s %9s" % (
            "allocator", "median", "min", "max", "vs glibc", "objmem/x",
            "base", "peak", "final")
        if frag:
            head += " %9s" % "after90%"
        out.append(head)
        g = med.get((w, "glibc"))
        o = med.get((w, "objmem"))
        for a in rows:
            rs = groups[(w, a)]
            ns = [float(r["ns_per_op"]) for r in rs]
            m = med[(w, a)]
            vs_glibc = m / g if g else None
            om_over = o / m if o and m else None
            base = median_of(rs, "base_rss_kb")
            peak = median_of(rs, "peak_rss_kb")
            final = median_of(rs, "final_rss_kb")
            after = median_of(rs, "rss_after_free90_kb")
            line = "%-10s %9.2f %9.2f %9.2f %9s %9s %9s %9s %9s" % (
                a, m, min(ns), max(ns),
                fmt(vs_glibc, "8.2fx", 9), fmt(om_over, "8.2fx", 9),
                fmt(mib(base), "9.1f", 9), fmt(mib(peak), "9.1f", 9),
                fmt(mib(final), "9.1f", 9))
            if frag:
                line += " %9s" % fmt(mib(after), "9.1f", 9)
            out.append(line)
            csv_rows.append({
                "workload": w, "allocator": a, "runs": len(rs),
                "median_ns_per_op": "%.3f" % m, "min_ns_per_op": "%.3f" % min(ns),
                "max_ns_per_op": "%.3f" % max(ns),
                "ratio_vs_glibc": "%.4f" % vs_glibc if vs_glibc else "",
                "objmem_over_alloc": "%.4f" % om_over if om_over else "",
                "median_base_rss_kb": "%.0f" % base if base is not None else "",
                "median_peak_rss_kb": "%.0f" % peak if peak is not None else "",
                "median_final_rss_kb": "%.0f" % final if final is not None else "",
                "median_rss_after_free90_kb": "%.0f" % after if after is not None else "",
            })

    tw = [w for w in TIME_WORKS if w in works]
    if tw:
        label = "geomean(%s)" % ",".join(tw)
        out.append("")
        out.append("== geometric mean over %s of median time ratios ==" % ", ".join(tw))
        out.append("%-10s %16s %16s" % ("allocator", "x / glibc", "objmem / x"))
        partial = False
        for a in allocs:
            vs_g = [med[(w, a)] / med[(w, "glibc")] for w in tw
                    if (w, a) in med and (w, "glibc") in med]
            om = [med[(w, "objmem")] / med[(w, a)] for w in tw
                  if (w, a) in med and (w, "objmem") in med]
            gv, go = geomean(vs_g), geomean(om)

            # a mean over fewer workloads than the others is not comparable: mark it
            def cell(v, n):
                nonlocal partial
                if v is None:
                    return "-"
                if n < len(tw):
                    partial = True
                    return "%.3fx[%d/%d]" % (v, n, len(tw))
                return "%.3fx" % v
            out.append("%-10s %16s %16s" % (a, cell(gv, len(vs_g)), cell(go, len(om))))
            csv_rows.append({"workload": label, "allocator": a, "runs": "",
                             "ratio_vs_glibc": "%.4f" % gv if gv else "",
                             "objmem_over_alloc": "%.4f" % go if go else "",
                             "note": "vs_glibc over %d workloads; objmem_over_alloc over %d"
                                     % (len(vs_g), len(om))})
        if partial:
            out.append("([n/%d]: mean over only n workloads, because runs failed or were "
                       "not made; not comparable with the others)" % len(tw))
        out.append("(vs glibc: below 1 is faster than glibc; objmem / x: below 1 means "
                   "objmem is faster than x)")
    if failed:
        out.append("")
        out.append("FAILED runs: " + ", ".join(
            "%s/%s(round %s%s)" % (f["work"], f["alloc"], f.get("round", "?"),
                                   ", " + f["reason"] if "reason" in f else "")
            for f in failed))
    print("\n".join(out).lstrip("\n"))

    if csv_path:
        fields = ["workload", "allocator", "runs", "median_ns_per_op", "min_ns_per_op",
                  "max_ns_per_op", "ratio_vs_glibc", "objmem_over_alloc",
                  "median_base_rss_kb", "median_peak_rss_kb", "median_final_rss_kb",
                  "median_rss_after_free90_kb", "note"]
        with open(csv_path, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=fields, restval="")
            wr.writeheader()
            wr.writerows(csv_rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
