#!/usr/bin/env python3
"""plot.py: SVG charts of the benchmark results, written next to their tables.

    bench/plot.py suite   RESULTS.csv    OUTDIR [--allocs A,B,...] [--prefix NAME]
                          [--charts time,rss,threads]
    bench/plot.py alloc   alloc.csv      OUTDIR [--allocs A,B,...] [--prefix NAME]
    bench/plot.py gc      gc.json        OUTDIR [--prefix NAME]
    bench/plot.py objects objects.json   OUTDIR [--prefix NAME]
    bench/plot.py python  python.csv     OUTDIR [--allocs A,B,...] [--prefix NAME]
    bench/plot.py rss     python-rss.csv OUTDIR [--allocs A,B,...] [--prefix NAME]

Each kind reads the file its script writes (bench/suite.sh, bench/run.sh,
bench/gc.sh, bench/objects.sh, bench/python/run.sh) and writes
OUTDIR/PREFIX-CHART.svg, PREFIX being the input's name without its
extension (suite.csv gives suite-time.svg):

    suite    -time: wall time / the fastest allocator's, per workload, and the
             geometric mean; -rss: max RSS / the smallest; -threads: throughput
             by thread count, one panel per multi-thread workload run at two
             or more counts (only when the run chose them with --threads)
    alloc    -time: ns per allocator call / the fastest allocator's
    gc       -time: ns per node of one collection, per graph shape
    objects  -time: ns per object, objmem and CPython side by side
    python   -time: wall time / CPython's own (pymalloc) per workload
    rss      PREFIX.svg: RSS over time during the mass free and the idle of
             bench/python/memreturn.py, per allocator

--charts writes only those of the suite's charts.  Ratios are
recomputed over the allocators shown (--allocs keeps only
those, in the fixed order below), so leaving one out never leaves a row
without its 1.00.  Every chart gives each allocator the same colour
(COLOURS) and draws objmem on top, outlined.  Each written path is printed.

Exit status: 0 when the charts are written, 1 on bad input, 4 when
matplotlib is missing (Debian: python3-matplotlib, in the bench group of
tools/deps.sh).  When the running interpreter lacks matplotlib and
/usr/bin/python3 is another one, plot.py runs itself again with that one
(Debian's matplotlib is installed for it).
"""
import csv
import json
import math
import os
import sys

NO_MATPLOTLIB = 4

# One colour per allocator in every chart (Okabe-Ito colours where they
# fit); objmem's is the strongest and its bars and lines are outlined.
COLOURS = {
    "glibc": "#56B4E9",
    "mimalloc": "#009E73",
    "jemalloc": "#E69F00",
    "tcmalloc": "#CC79A7",
    "objmem": "#D55E00",
    "CPython": "#0072B2",
    "Boehm": "#8C6D31",
}
ORDER = ["glibc", "mimalloc", "jemalloc", "tcmalloc", "CPython", "Boehm", "objmem"]
# names the scripts use for the same allocator
ALIASES = {"pymalloc": "CPython", "cpython": "CPython", "default": "CPython", "boehm": "Boehm"}
LABELS = {"pymalloc": "pymalloc (CPython)", "default": "CPython (pymalloc)",
          "cpython": "CPython", "boehm": "Boehm GC"}
EXTRA_COLOURS = ["#777777", "#444444", "#AAAAAA", "#222222"]


def load_matplotlib():
    """pyplot set up for small SVGs without embedded fonts, or exit 4."""
    try:
        import matplotlib
    except ImportError:
        debian = "/usr/bin/python3"
        if os.path.exists(debian) and os.path.realpath(sys.executable) != os.path.realpath(debian):
            os.execv(debian, [debian] + sys.argv)
        sys.stderr.write("plot.py: no charts: matplotlib is not installed "
                         "(Debian: apt-get install python3-matplotlib, or tools/deps.sh install bench)\n")
        sys.exit(NO_MATPLOTLIB)
    matplotlib.use("svg")
    matplotlib.rcParams.update({
        "svg.fonttype": "none",       # text stays text: no glyph paths
        "svg.hashsalt": "objmem",     # the same ids on every run
        "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],  # a short font list in each <text>
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.fontsize": 8,
        "legend.frameon": False,
    })
    import matplotlib.pyplot as plt
    return plt


# ------------------------------------------------------------ allocators
def canonical(name):
    return ALIASES.get(name, name)


def colour_map(names):
    """Colour of each name: the fixed one, or a grey for a name outside it."""
    out, extra = {}, 0
    for n in names:
        c = COLOURS.get(canonical(n))
        if c is None:
            c = EXTRA_COLOURS[extra % len(EXTRA_COLOURS)]
            extra += 1
        out[n] = c
    return out


def order_allocs(names, keep=None):
    """The fixed order (peers, extras as they came, objmem last), kept to --allocs."""
    names = [n for n in dict.fromkeys(names) if n]
    if keep:
        names = [n for n in names if n in keep]
    rank = {a: i for i, a in enumerate(ORDER)}

    def key(n):
        c = canonical(n)
        if c == "objmem":
            return (2, 0)
        return (0, rank[c]) if c in rank else (1, names.index(n))
    return sorted(names, key=key)


def label_of(name):
    return LABELS.get(name, name)


def is_objmem(name):
    return canonical(name) == "objmem"


def style_legend(leg):
    for t in leg.get_texts():
        if t.get_text() == "objmem":
            t.set_fontweight("bold")


# ------------------------------------------------------------ numbers
def num(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def ratios_to_best(values, groups, series, better=min):
    """{(g, s): v / best of g} over the series shown, None where v is."""
    out = {}
    for g in groups:
        vals = [values.get((g, s)) for s in series if values.get((g, s))]
        best = better(vals) if vals else None
        for s in series:
            v = values.get((g, s))
            out[(g, s)] = v / best if v and best else None
    return out


def geomeans(ratios, groups, series):
    """Per series, the geometric mean over the groups every series has."""
    full = [g for g in groups if all(ratios.get((g, s)) for s in series)]
    return {s: geomean([ratios[(g, s)] for g in full]) for s in series}, len(full)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------ chart kinds
def grouped_bars(plt, groups, series, values, title, ylabel, log=True, ref=None,
                 geo=None, geo_label="geomean", annotate=None):
    """One group of bars per entry of groups, one bar per series.

    values: {(group, series): number or None}.  geo: {series: number}
    drawn as a last, hatched group with its values written above.  ref:
    a dashed horizontal line (1.0 for ratios).  annotate: {group: text}
    written above the group.  Returns the figure.
    """
    colours = colour_map(series)
    ngroups = len(groups) + (1 if geo else 0)
    width = 0.8 / max(1, len(series))
    fig_w = min(16.0, max(6.0, 0.16 * ngroups * len(series) + 0.35 * ngroups + 1.5))
    fig, ax = plt.subplots(figsize=(fig_w, 4.2))
    for i, s in enumerate(series):
        xs, ys = [], []
        for j, g in enumerate(groups):
            v = values.get((g, s))
            if v:
                xs.append(j + (i - (len(series) - 1) / 2) * width)
                ys.append(v)
        hi = is_objmem(s)
        ax.bar(xs, ys, width, label=label_of(s), color=colours[s], zorder=3 if hi else 2,
               edgecolor="black" if hi else "none", linewidth=0.8 if hi else 0)
        if geo and geo.get(s):
            x = len(groups) + (i - (len(series) - 1) / 2) * width
            ax.bar([x], [geo[s]], width, color=colours[s], hatch="///", edgecolor="black",
                   linewidth=0.8 if hi else 0.3, zorder=3)
            ax.text(x, geo[s] * (1.04 if log else 1.0), "%.2f" % geo[s], rotation=90,
                    ha="center", va="bottom", fontsize=7,
                    fontweight="bold" if hi else "normal")
    labels = list(groups) + ([geo_label] if geo else [])
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=40 if len(labels) > 6 else 0,
                       ha="right" if len(labels) > 6 else "center")
    if geo:
        ax.axvline(len(groups) - 0.5, color="#888888", linestyle=":", linewidth=0.8)
        ax.get_xticklabels()[-1].set_fontweight("bold")
    if log:
        shown = [v for v in list(values.values()) + list((geo or {}).values()) if v]
        log_axis(ax.yaxis, min(shown + [1.0]), max(shown + [1.0]))
    if ref is not None:
        ax.axhline(ref, color="black", linestyle="--", linewidth=0.7, zorder=1)
    if annotate:
        top = max([v for v in values.values() if v] + [1.0])
        for j, g in enumerate(groups):
            if annotate.get(g):
                ax.text(j, top * (1.15 if log else 1.05), annotate[g], ha="center",
                        va="bottom", fontsize=7)
        ax.set_ylim(top=top * (1.6 if log else 1.18))
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5, zorder=0)
    style_legend(ax.legend(ncol=min(len(series), 7), loc="upper left",
                           bbox_to_anchor=(0, -0.28 if len(labels) > 6 else -0.1)))
    fig.tight_layout()
    return fig


def log_axis(axis, lo, hi):
    """A log scale for values in [lo, hi], written plainly, ticked at 1, 2
    and 5 times the powers of ten, more densely when the range is narrow."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    axis.axes.set_yscale("log")
    if hi > 12 * lo:
        subs = (1.0, 2.0, 5.0)
    elif hi > 2.5 * lo:
        subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    else:
        subs = (1.0, 1.1, 1.2, 1.4, 1.6, 2.0, 2.5)
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
    axis.set_minor_formatter(NullFormatter())


def per_second(values):
    """(divisor, unit) that keeps the largest rate between 1 and 1000."""
    top = max(values) if values else 0
    for div, unit in ((1e6, "M ops/s"), (1e3, "k ops/s")):
        if top >= div:
            return div, unit
    return 1.0, "ops/s"


def save(fig, outdir, name, written):
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, name + ".svg")
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")
    written.append(path)


def suite_table(path, keep):
    """Rows of a suite CSV: instances in file order, allocators, and medians."""
    rows = [r for r in read_csv(path) if not r["workload"].startswith("geomean")]
    if not rows:
        raise ValueError("%s: no workload rows" % path)
    insts = list(dict.fromkeys(r["workload"] for r in rows))
    allocs = order_allocs([r["alloc"] for r in rows], keep)
    med = {}
    for r in rows:
        for col in ("wall_s_median", "maxrss_mib_median", "ops_per_s_median"):
            med[(col, r["workload"], r["alloc"])] = num(r.get(col))
    return rows, insts, allocs, med


def plot_suite(plt, path, outdir, prefix, keep, charts=None):
    """bench/suite.sh's CSV: time and RSS ratios, and the scaling panels
    (only the charts named in charts, when given)."""
    rows, insts, allocs, med = suite_table(path, keep)
    written = []
    for col, chart, title, ylabel in (
            ("wall_s_median", "time",
             "Wall time per workload, relative to the fastest allocator (lower is better)",
             "wall time / fastest (×, log scale)"),
            ("maxrss_mib_median", "rss",
             "Peak memory per workload, relative to the smallest (lower is better)",
             "max RSS / smallest (×, log scale)")):
        if charts and chart not in charts:
            continue
        values = {(g, a): med[(col, g, a)] for g in insts for a in allocs}
        ratios = ratios_to_best(values, insts, allocs)
        geo, n = geomeans(ratios, insts, allocs)
        fig = grouped_bars(plt, insts, allocs, ratios, title, ylabel, ref=1.0, geo=geo,
                           geo_label="geomean (%d)" % n)
        save(fig, outdir, "%s-%s" % (prefix, chart), written)
        plt.close(fig)
    fig = suite_scaling(plt, rows, allocs, med) if not charts or "threads" in charts else None
    if fig is not None:
        save(fig, outdir, prefix + "-threads", written)
        plt.close(fig)
    return written


def suite_scaling(plt, rows, allocs, med):
    """Throughput by thread count, one panel per multi-thread workload, or
    None when no workload ran at several counts beyond suite.sh's default
    (xmalloc at 1 and 2 pairs)."""
    counts = {}
    for r in rows:
        if r["threads"] not in ("-", "") and r["alloc"] in allocs:
            counts.setdefault(r["work"], {})[int(r["threads"])] = r["workload"]
    works = [w for w, c in counts.items() if len(c) >= 2]
    if not works or (works == ["xmalloc"] and sorted(counts["xmalloc"]) == [1, 2]):
        return None
    colours = colour_map(allocs)
    ncols = min(3, len(works))
    nrows = (len(works) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows + 0.7),
                             squeeze=False)
    for k, w in enumerate(works):
        ax = axes[k // ncols][k % ncols]
        ts = sorted(counts[w])
        div, unit = per_second([med[("ops_per_s_median", counts[w][t], a)] or 0
                                for t in ts for a in allocs])
        for a in allocs:
            pts = [(t, med[("ops_per_s_median", counts[w][t], a)]) for t in ts]
            pts = [(t, v / div) for t, v in pts if v]
            if not pts:
                continue
            hi = is_objmem(a)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                    markersize=4 if hi else 3, linewidth=2.2 if hi else 1.2,
                    color=colours[a], label=label_of(a), zorder=3 if hi else 2)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts)
        ax.set_xticklabels([str(t) for t in ts])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.set_title(w)
        ax.set_xlabel("producer/consumer pairs" if w == "xmalloc" else "threads")
        ax.set_ylabel(unit)
        ax.grid(color="#eeeeee", linewidth=0.5)
    for k in range(len(works), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    style_legend(fig.legend(handles, labels, loc="lower center", ncol=len(labels)))
    fig.suptitle("Throughput by thread count (median ops per second of wall time; "
                 "higher is better)", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_alloc(plt, path, outdir, prefix, keep):
    """bench/run.sh's alloc.csv: ns per call relative to the fastest."""
    rows = [r for r in read_csv(path) if not r["workload"].startswith("geomean")]
    if not rows:
        raise ValueError("%s: no workload rows" % path)
    works = list(dict.fromkeys(r["workload"] for r in rows))
    allocs = order_allocs([r["allocator"] for r in rows], keep)
    values = {(r["workload"], r["allocator"]): num(r["median_ns_per_op"]) for r in rows}
    ratios = ratios_to_best(values, works, allocs)
    # the mean of report.py: the time workloads (frag is there for its RSS)
    timed = [w for w in works if w != "frag"]
    geo, n = geomeans(ratios, timed, allocs)
    fig = grouped_bars(plt, works, allocs, ratios,
                       "Allocator micro-benchmarks: time per call, relative to the fastest "
                       "(lower is better)",
                       "ns per call / fastest (×, log scale)", ref=1.0, geo=geo,
                       geo_label="geomean (%d, no frag)" % n if "frag" in works else
                       "geomean (%d)" % n)
    written = []
    save(fig, outdir, prefix + "-time", written)
    plt.close(fig)
    return written


def plot_gc(plt, path, outdir, prefix, keep):
    """bench_gc's gc.json: ns per node of one collection, per graph shape."""
    with open(path) as f:
        data = json.load(f)
    clock = data.get("clock", "cpu")
    groups, values, sides = [], {}, []
    for r in data["rows"]:
        if r["graph"].startswith("young"):
            g = "%s\n%s" % (r["graph"], r["state"])
        else:
            g = "%s\n%s %s" % (r["graph"], r["hold"], r["state"])
        groups.append(g)
        for s, v in r["sides"].items():
            sides.append(s)
            values[(g, s)] = num(v[clock]["ns_per_node"])
    if not groups:
        raise ValueError("%s: no rows" % path)
    sides = order_allocs(sides, keep)
    fig = grouped_bars(plt, groups, sides, values,
                       "Cycle collection: time per object by graph shape, %s nodes "
                       "(lower is better)" % count_text(data.get("nodes")),
                       "ns per node (%s time, median, log scale)" %
                       ("thread CPU" if clock == "cpu" else "wall-clock"))
    written = []
    save(fig, outdir, prefix + "-time", written)
    plt.close(fig)
    return written


def count_text(n):
    if not n:
        return "N"
    for div, suf in ((1000000, "M"), (1000, "k")):
        if n >= div and n % div == 0:
            return "%d%s" % (n // div, suf)
    return str(n)


def plot_objects(plt, path, outdir, prefix, keep):
    """bench_objects' objects.json: ns per object on both sides."""
    with open(path) as f:
        data = json.load(f)
    clock = data.get("clock", "cpu")
    groups, values, notes = [], {}, {}
    for r in data["rows"]:
        c = r["clocks"][clock]
        g = r["workload"]
        groups.append(g)
        values[(g, "objmem")] = num(c["objmem"]["median"])
        values[(g, "cpython")] = num(c["cpython"]["median"])
        ratio = num(c.get("ratio_cpython_over_objmem"))
        if ratio:
            notes[g] = ("%.2f× faster" % ratio) if ratio >= 1 else ("%.2f× slower" % (1 / ratio))
    if not groups:
        raise ValueError("%s: no rows" % path)
    fig = grouped_bars(plt, groups, order_allocs(["cpython", "objmem"], keep), values,
                       "Object operations: objmem against CPython's C API (lower is better; "
                       "above the bars: objmem vs CPython)",
                       "ns per object (%s time, median)" %
                       ("thread CPU" if clock == "cpu" else "wall-clock"),
                       log=False, annotate=notes)
    written = []
    save(fig, outdir, prefix + "-time", written)
    plt.close(fig)
    return written


def plot_python(plt, path, outdir, prefix, keep):
    """bench/python/run.sh's python.csv: wall time relative to CPython's own."""
    rows = [r for r in read_csv(path) if r.get("section") == "python"]
    works = [w for w in dict.fromkeys(r["work"] for r in rows) if w != "geomean"]
    if not works:
        raise ValueError("%s: no workload rows" % path)
    configs = order_allocs([r["config"] for r in rows], keep)
    values, geo = {}, {}
    for r in rows:
        v = num(r.get("time_vs_default"))
        if r["work"] == "geomean":
            geo[r["config"]] = v
        else:
            values[(r["work"], r["config"])] = v
    if "default" in configs:
        geo["default"] = 1.0
    fig = grouped_bars(plt, works, configs, values,
                       "CPython programs under each malloc: wall time relative to CPython's "
                       "pymalloc (lower is better)",
                       "wall time / pymalloc's (×, log scale)", ref=1.0, geo=geo)
    written = []
    save(fig, outdir, prefix + "-time", written)
    plt.close(fig)
    return written


def plot_rss(plt, path, outdir, prefix, keep):
    """memreturn's RSS samples (config,round,t_ms,rss_kb,phase): one line per
    configuration, from its round with the median final RSS."""
    runs = {}
    for r in read_csv(path):
        t, v = num(r["t_ms"]), num(r["rss_kb"])
        if t is not None and v is not None:
            runs.setdefault((r["config"], r["round"]), []).append((t, v / 1024.0, r["phase"]))
    if not runs:
        raise ValueError("%s: no samples" % path)
    configs = order_allocs([c for c, _ in runs], keep)
    colours = colour_map(configs)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    marks = {}   # phase -> marker drawn where a line enters it
    for c in configs:
        mine = sorted((pts for (cc, _), pts in runs.items() if cc == c),
                      key=lambda pts: pts[-1][1])
        pts = mine[len(mine) // 2]
        hi = is_objmem(c)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colours[c],
                linewidth=2.2 if hi else 1.2, label=label_of(c), zorder=3 if hi else 2)
        for prev, cur in zip(pts, pts[1:]):
            if cur[2] != prev[2]:
                m = marks.setdefault(cur[2], "osD^v"[len(marks) % 5])
                ax.plot([cur[0]], [cur[1]], marker=m, markersize=6, color=colours[c],
                        markeredgecolor="black", markeredgewidth=0.6, zorder=4)
    handles, labels = ax.get_legend_handles_labels()
    from matplotlib.lines import Line2D
    for ph, m in marks.items():
        handles.append(Line2D([], [], linestyle="none", marker=m, markersize=6, color="white",
                              markeredgecolor="black", markeredgewidth=0.6))
        labels.append("%s begins" % PHASES.get(ph, ph))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("time since the mass free began (ms)")
    ax.set_ylabel("RSS (MiB)")
    ax.set_title("Memory returned to the OS: RSS while 90% of the objects are freed, "
                 "then idle (lower is better)", pad=14)
    ax.grid(color="#eeeeee", linewidth=0.5)
    style_legend(ax.legend(handles, labels, loc="upper right"))
    fig.tight_layout()
    written = []
    save(fig, outdir, prefix, written)
    plt.close(fig)
    return written


# memreturn.py's phases, as the legend names them
PHASES = {"drop": "the free", "collect": "gc.collect()", "idle": "the idle"}

KINDS = {"suite": plot_suite, "alloc": plot_alloc, "gc": plot_gc, "objects": plot_objects,
         "python": plot_python, "rss": plot_rss}


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="plot.py", description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=sorted(KINDS))
    ap.add_argument("results", help="the CSV or JSON file the bench script wrote")
    ap.add_argument("outdir", help="where the SVG files go")
    ap.add_argument("--allocs", help="only these allocators (comma-separated)")
    ap.add_argument("--prefix", help="file name prefix (default: the results file's name)")
    ap.add_argument("--charts", help="suite only: which charts (time, rss, threads)")
    args = ap.parse_args(argv)
    charts = [c for c in args.charts.split(",") if c] if args.charts else None
    if charts and (args.kind != "suite" or set(charts) - {"time", "rss", "threads"}):
        ap.error("--charts: suite's time, rss, threads")
    plt = load_matplotlib()
    keep = [a for a in args.allocs.split(",") if a] if args.allocs else None
    prefix = args.prefix or os.path.splitext(os.path.basename(args.results))[0]
    try:
        if charts:
            written = plot_suite(plt, args.results, args.outdir, prefix, keep, charts)
        else:
            written = KINDS[args.kind](plt, args.results, args.outdir, prefix, keep)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        sys.stderr.write("plot.py: %s: %s\n" % (args.results, e))
        return 1
    for p in written:
        print("plot.py: wrote %s" % p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
