#!/usr/bin/env python3
"""check_plots.py: bench/plot.py on the samples in bench/testdata/.

    check_plots.py SOURCE_DIR

Runs every chart kind of bench/plot.py on its sample (the formats the
bench scripts write), into a scratch directory, and checks each chart it
must write: it parses as SVG (xml.etree), its text is text (svg.fonttype
none: no glyph paths), it names the series and groups the sample holds,
and objmem's bars or line have objmem's colour.  Also --allocs (the other
allocators leave the chart) and a bad input (status 1, no traceback).
Exit 0 when all hold, 1 otherwise, 77 (skipped) when plot.py reports that
matplotlib is missing (status 4).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
OBJMEM_COLOUR = "#d55e00"
PEERS = ["glibc", "mimalloc", "jemalloc", "tcmalloc"]

# kind, sample, options, {chart: names its text must hold}
CASES = [
    ("suite", "suite.csv", [], {
        "suite-time": PEERS + ["objmem", "geomean (9)", "bigbuf-calloc", "larson-t4", "sqlite",
                               "wall time / fastest"],
        "suite-rss": PEERS + ["objmem", "geomean (9)", "max RSS / smallest"],
        "suite-threads": PEERS + ["objmem", "larson", "xmalloc", "producer/consumer pairs",
                                  "M ops/s"]}),
    ("alloc", "alloc.csv", [], {
        "alloc-time": PEERS + ["objmem", "pymalloc (CPython)", "churn", "trace",
                               "geomean (4, no frag)"]}),
    ("gc", "gc.json", [], {
        "gc-time": ["objmem", "CPython", "Boehm GC", "ring", "random", "tree", "young+refs",
                    "ns per node"]}),
    ("objects", "objects.json", [], {
        "objects-time": ["objmem", "CPython", "float_freelist", "dict", "faster",
                         "ns per object"]}),
    ("python", "python.csv", [], {
        "python-time": PEERS + ["objmem", "CPython (pymalloc)", "json", "text", "geomean"]}),
    ("rss", "python-rss.csv", [], {
        "python-rss": ["objmem", "glibc", "CPython (pymalloc)", "gc.collect() begins",
                       "RSS (MiB)"]}),
]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def run(plot, args):
    p = subprocess.run([sys.executable, plot] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode == 4:
        print("check_plots: skipped: %s" % p.stderr.strip())
        sys.exit(77)
    return p


def svg_text(path):
    """The text of every <text> element, and the whole file."""
    root = ET.parse(path).getroot()
    if root.tag != SVG + "svg":
        raise ValueError("root element is %s, not svg" % root.tag)
    texts = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
    with open(path) as f:
        return texts, f.read()


def check_chart(path, names, absent=()):
    try:
        texts, raw = svg_text(path)
    except (OSError, ET.ParseError, ValueError) as e:
        fail("%s: not a valid SVG: %s" % (path, e))
        return
    joined = "\n".join(texts)
    if not texts:
        fail("%s: no <text> elements (fonts drawn as paths?)" % path)
    if "glyph" in raw or "DejaVuSans-" in raw:
        fail("%s: embeds font glyphs" % path)
    for n in names:
        if n not in joined:
            fail("%s: no text %r" % (path, n))
    for n in absent:
        if n in texts:
            fail("%s: still shows %r" % (path, n))
    if OBJMEM_COLOUR not in raw.lower() and "objmem" not in absent:
        fail("%s: objmem's colour %s is not used" % (path, OBJMEM_COLOUR))
    if os.path.getsize(path) > 200 * 1024:
        fail("%s: %d bytes" % (path, os.path.getsize(path)))


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    plot = os.path.join(src, "bench", "plot.py")
    data = os.path.join(src, "bench", "testdata")
    out = tempfile.mkdtemp(prefix="check_plots.")
    try:
        for kind, sample, opts, charts in CASES:
            p = run(plot, [kind, os.path.join(data, sample), out] + opts)
            if p.returncode != 0:
                fail("plot.py %s %s: status %d: %s" % (kind, sample, p.returncode, p.stderr))
                continue
            for chart, names in charts.items():
                path = os.path.join(out, chart + ".svg")
                if path not in p.stdout:
                    fail("plot.py %s did not report %s" % (kind, path))
                check_chart(path, names)
        # --allocs: only those allocators, under another prefix
        p = run(plot, ["suite", os.path.join(data, "suite.csv"), out, "--allocs", "glibc,objmem",
                       "--prefix", "two"])
        if p.returncode != 0:
            fail("plot.py suite --allocs: status %d: %s" % (p.returncode, p.stderr))
        else:
            check_chart(os.path.join(out, "two-time.svg"), ["glibc", "objmem"],
                        absent=("mimalloc", "jemalloc", "tcmalloc"))
        # a file of another kind: a message and status 1
        p = run(plot, ["gc", os.path.join(data, "suite.csv"), out])
        if p.returncode != 1 or "Traceback" in p.stderr or "plot.py:" not in p.stderr:
            fail("plot.py gc on a CSV: status %d, stderr %r (want 1 and a message)"
                 % (p.returncode, p.stderr))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print("check_plots: %d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
