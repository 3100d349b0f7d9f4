#!/usr/bin/env python3
"""test_heapmap.py: the heap map page (tools/objmem/heapmap/template.html)
in a real browser, headless Chromium over the DevTools protocol (cdp.py).

    test_heapmap.py small --out DIR   3 synthetic snapshots, a few arenas of
        each geometry, large blocks, objects, a last snapshot without the
        optional sections and with unknown fields; every view checked
        against the data: rows, cells, labels, order, tooltips (computed
        here and hovered for real), totals, objects, large bars to scale,
        the timeline's slider and play button; the bare template's empty
        page; a snapshot with nothing but arenas; a screenshot.
    test_heapmap.py big --out DIR     10,000 small arenas (640,000 pools):
        ready within the bound (OBJMEM_HEAPMAP_BIG_MS, default 3000 ms:
        it took 0.4-0.8 s on a loaded 2-core machine),
        virtualised labels, a hover at the last row; a screenshot.

Every run fails on any uncaught error, console error or error log entry.
The page is built as `objmem heapmap` builds it: the template's
placeholder replaced by the JSON array, "</" written "<\\/".
Exit 77 (skipped) when Chromium is not installed.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
HEAPMAP = os.path.join(SOURCE, "tools", "objmem", "heapmap")
sys.path.insert(0, HERE)
sys.path.insert(0, HEAPMAP)

import cdp  # noqa: E402
import gen_snapshots  # noqa: E402

PLACEHOLDER = "/*OBJMEM_SNAPSHOTS*/null"
STATE_NAMES = ["never used", "empty (resident)", "empty (purged)", "used", "full", "quarantined"]
failures = []


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        failures.append(what)


def build_page(template, snapshots, path):
    with open(template, encoding="utf-8") as f:
        text = f.read()
    if text.count(PLACEHOLDER) != 1:
        raise SystemExit("%s: the placeholder %s must occur exactly once" % (template, PLACEHOLDER))
    data = json.dumps(snapshots, separators=(",", ":")).replace("</", "<\\/")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(PLACEHOLDER, data))
    return path


def fmt_bytes(n):
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    i, v = 0, float(n)
    while abs(v) >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    return ("%d" % v if v == int(v) else "%.*f" % (2 if v < 10 else 1 if v < 100 else 0, v)) + " " + units[i]


def expected_tooltip(snap, arena_index, slot):
    """The tooltip text of one pool, computed from the snapshot alone."""
    a = snap["arenas"][arena_index]
    medium = a["geom"] == "medium"
    geometry = snap["geometry"]
    pool_size = geometry["medium_pool"] if medium else geometry["pool"]
    state, cls, used, carved, cap = a["pools"][slot]
    heap = next((h for h in snap["heaps"] if h["id"] == a["heap"]), None)
    lines = [
        "arena %s (%s)" % (a["base"], "medium" if medium else "small"),
        "pool slot %d at %s (%s)" % (slot, hex(int(a["base"], 16) + slot * pool_size), fmt_bytes(pool_size)),
        "state " + STATE_NAMES[state],
        "class " + ("%d, %d B blocks" % (cls, snap["classes"][cls]) if cls >= 0 else "none"),
        "used %d / carved %d / capacity %d" % (used, carved, cap) +
        (" (%d%% used)" % math.floor(100 * used / cap + 0.5) if cap > 0 else ""),
        "heap %d" % a["heap"] + (" (%s, thread %d)" % (heap["state"], heap["thread"]) if heap else "") +
        ", arena order " + ("none" if a["order"] < 0 else str(a["order"])),
    ]
    return "\n".join(lines)


def heap_order(snap):
    arenas = snap["arenas"]
    return sorted(range(len(arenas)), key=lambda i: (
        arenas[i]["heap"], arenas[i]["order"] if arenas[i]["order"] >= 0 else math.inf, i))


def check_png(path, width, height, min_bytes):
    with open(path, "rb") as f:
        head = f.read(24)
    size = os.path.getsize(path)
    ok = head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    w, h = struct.unpack(">II", head[16:24]) if ok else (0, 0)
    check(ok and (w, h) == (width, height) and size >= min_bytes,
          "screenshot %s: PNG %dx%d, %d bytes (want %dx%d, >= %d bytes)" %
          (path, w, h, size, width, height, min_bytes))


def hover(b, arena_index, slot):
    """Move the mouse onto a pool's cell; the tooltip's text."""
    c = b.evaluate("objmemHeapmap.cellCenter(%d, %d)" % (arena_index, slot))
    b.mouse_move(c["x"], c["y"])
    return b.evaluate("(() => { const t = document.getElementById('tooltip');"
                      " return t.style.display === 'block' ? t.textContent : null; })()")


def check_snapshot_views(b, snaps, i):
    snap = snaps[i]
    b.evaluate("objmemHeapmap.show(%d)" % i)
    arenas = snap["arenas"]
    pools = sum(len(a["pools"]) for a in arenas)
    check(b.evaluate("objmemHeapmap.arenaRows()") == len(arenas), "snapshot %d: %d arena rows" % (i, len(arenas)))
    check(b.evaluate("objmemHeapmap.poolCells()") == pools, "snapshot %d: %d pool cells" % (i, pools))
    labels = b.evaluate("[...document.querySelectorAll('.arena-row')].map(e => "
                        "[e.dataset.base, e.dataset.geom, Number(e.dataset.heap), parseFloat(e.style.top)])")
    labels.sort(key=lambda x: x[3])
    order = heap_order(snap)
    want = [[arenas[k]["base"], arenas[k]["geom"], arenas[k]["heap"]] for k in order]
    check([x[:3] for x in labels] == want,
          "snapshot %d: one .arena-row per arena, by heap then arena order (%d rows)" % (i, len(want)))
    check(b.evaluate("objmemHeapmap.rowOrder()") == order, "snapshot %d: rowOrder() by heap, then order" % i)
    when = b.evaluate("document.getElementById('when').textContent")
    check("seq %d" % snap["seq"] in when and "time_ms %d" % snap["time_ms"] in when,
          "snapshot %d: seq and time_ms shown (%r)" % (i, when))
    keys = b.evaluate("[...document.querySelectorAll('#totals tr')].map(r => r.dataset.key)")
    check(keys == list(snap["totals"]), "snapshot %d: every totals key in the table" % i)
    rss = b.evaluate("document.querySelector('#totals tr[data-key=rss] td.num').textContent")
    check(rss.startswith("{:,}".format(snap["totals"]["rss"])), "snapshot %d: rss value %r" % (i, rss))
    objects = snap.get("objects")
    shown = not b.evaluate("document.getElementById('objects-section').hidden")
    check(shown == bool(objects), "snapshot %d: objects section %s" % (i, "shown" if objects else "hidden"))
    if objects:
        names = b.evaluate("[...document.querySelectorAll('#types tr.type td:first-child')].map(e => e.textContent)")
        check(sorted(names) == sorted(t["name"] for t in objects["types"]),
              "snapshot %d: one row per object type" % i)
        gens = b.evaluate("[...document.querySelectorAll('#gc tr.gen')].map(r => "
                          "Number(r.children[1].textContent.replace(/,/g, '')))")
        check(gens == objects["gc"]["generations"], "snapshot %d: GC generation sizes %s" % (i, gens))
    large = snap.get("large", [])
    check(b.evaluate("objmemHeapmap.largeBars()") == len(large), "snapshot %d: %d large bars" % (i, len(large)))
    check(b.evaluate("document.getElementById('large-section').hidden") == (not large),
          "snapshot %d: large section %s" % (i, "shown" if large else "hidden"))
    if len(large) >= 2:
        widths = b.evaluate("[...document.querySelectorAll('#large .bar')].map(e => e.getBoundingClientRect().width)")
        top = max(range(len(large)), key=lambda k: large[k]["mapped"])
        ratios_ok = all(abs(widths[k] - max(2, round(large[k]["mapped"] / large[top]["mapped"] * widths[top]))) <= 2.5
                        for k in range(len(large)))
        check(ratios_ok and widths[top] >= 200,
              "snapshot %d: large bars to scale, the largest >= 200 px (widths %s)" % (i, [round(w) for w in widths]))


def run_small(b, args):
    snaps = gen_snapshots.generate(**gen_snapshots.PRESETS["small"])
    geoms = {a["geom"] for a in snaps[0]["arenas"]}
    assert geoms == {"small", "medium"} and snaps[0]["large"] and "objects" in snaps[0]
    page = build_page(args.template, snaps, os.path.join(args.out, "heapmap-small.html"))

    # the bare template: the empty page, no errors
    b.navigate("file://" + os.path.abspath(args.template))
    b.wait_for("document.body && document.body.dataset.ready === '1'", 20)
    check(b.evaluate("document.body.dataset.empty") == "1" and b.evaluate("objmemHeapmap.snapshotCount()") == 0,
          "the template alone: ready, empty page")

    # a snapshot with only what a pool needs: no geometry, classes, heaps,
    # totals, large or objects
    bare = [{"objmem_snapshot": 1, "seq": 0, "time_ms": 0, "arenas": [
        {"base": "0x7f0000100000", "geom": "small", "heap": 0, "pools": [[3, 0, 1, 1, 1024], [2, -1, 0, 0, 0]]}]}]
    b.navigate("file://" + build_page(args.template, bare, os.path.join(args.out, "heapmap-bare.html")))
    b.wait_for("document.body && document.body.dataset.ready === '1'", 20)
    check(b.evaluate("[objmemHeapmap.arenaRows(), objmemHeapmap.poolCells(), objmemHeapmap.largeBars()]") == [1, 2, 0]
          and b.evaluate("objmemHeapmap.tooltipFor(0, 0)").startswith("arena 0x7f0000100000 (small)\npool slot 0 at "
                                                                       "0x7f0000100000 (16 KiB)\nstate used\nclass 0\n"),
          "a snapshot without its optional sections: drawn, default geometry")

    b.navigate("file://" + os.path.abspath(page))
    t = b.wait_for("document.body && document.body.dataset.ready === '1'", 20)
    print("     ready after %.0f ms (in page: %s ms)" % (t * 1000, b.evaluate("document.body.dataset.readyMs")))
    check(b.evaluate("objmemHeapmap.snapshotCount()") == 3, "3 snapshots embedded")
    for i in range(len(snaps)):
        check_snapshot_views(b, snaps, i)

    # tooltips: a used pool of a small arena and one of a medium arena,
    # from the hook and by moving the mouse onto the cell
    b.evaluate("objmemHeapmap.show(0)")
    snap = snaps[0]
    for geom in ("small", "medium"):
        ai, slot = next((ai, s) for ai, a in enumerate(snap["arenas"]) if a["geom"] == geom
                        for s, p in enumerate(a["pools"]) if p[0] == 3 and s > 0)
        want = expected_tooltip(snap, ai, slot)
        got = b.evaluate("objmemHeapmap.tooltipFor(%d, %d)" % (ai, slot))
        check(got == want, "tooltipFor(%d, %d), a %s arena's pool:\n%s" % (ai, slot, geom, got))
        check(hover(b, ai, slot) == want, "hovering arena %d slot %d shows that tooltip" % (ai, slot))
    ai = next(ai for ai, a in enumerate(snap["arenas"]) if a["pools"][-1][0] == 0) if any(
        a["pools"][-1][0] == 0 for a in snap["arenas"]) else 0
    slot = len(snap["arenas"][ai]["pools"]) - 1
    check(hover(b, ai, slot) == expected_tooltip(snap, ai, slot),
          "hovering the last slot of arena %d (state %d)" % (ai, snap["arenas"][ai]["pools"][slot][0]))

    # address order
    b.evaluate("objmemHeapmap.setOrder('address')")
    by_addr = sorted(range(len(snap["arenas"])), key=lambda k: int(snap["arenas"][k]["base"], 16))
    check(b.evaluate("objmemHeapmap.rowOrder()") == by_addr, "address order: rows sorted by base")
    tops = b.evaluate("[...document.querySelectorAll('.arena-row')].sort((x, y) => "
                      "parseFloat(x.style.top) - parseFloat(y.style.top)).map(e => Number(e.dataset.index))")
    check(tops == by_addr, "address order: labels follow")
    ai, slot = by_addr[-1], 1
    check(hover(b, ai, slot) == expected_tooltip(snap, ai, slot), "address order: hover finds the right pool")
    b.evaluate("objmemHeapmap.setOrder('heap')")

    # the screenshot of the first snapshot, then the timeline
    b.evaluate("objmemHeapmap.show(0); window.scrollTo(0, 0)")
    b.mouse_move(5, 5)
    shot = b.screenshot(os.path.join(args.out, "heapmap-small.png"))
    check_png(shot, b.width, b.height, 20000)
    check(b.evaluate("document.getElementById('slider').max") == "2"
          and not b.evaluate("document.getElementById('timeline').hidden"), "timeline slider over 3 snapshots")
    b.evaluate("document.getElementById('play').click()")
    b.wait_for("objmemHeapmap.current() === 2", 10)
    check(b.evaluate("document.getElementById('slider').value") == "2", "play runs the timeline to the last snapshot")
    b.evaluate("(() => { const s = document.getElementById('slider'); s.value = '1';"
               " s.dispatchEvent(new Event('input')); })()")
    check(b.evaluate("objmemHeapmap.current()") == 1, "the slider shows the snapshot it is moved to")


def run_big(b, args):
    t0 = time.monotonic()
    snaps = gen_snapshots.generate(**gen_snapshots.PRESETS["big"])
    snap = snaps[0]
    page = build_page(args.template, snaps, os.path.join(args.out, "heapmap-big.html"))
    print("     generated %d arenas, page %.1f MB in %.1f s" %
          (len(snap["arenas"]), os.path.getsize(page) / 1e6, time.monotonic() - t0))
    bound = float(os.environ.get("OBJMEM_HEAPMAP_BIG_MS", "3000"))
    b.navigate("file://" + os.path.abspath(page))
    t = b.wait_for("document.body && document.body.dataset.ready === '1'", max(60, bound / 1000 * 2))
    in_page = float(b.evaluate("document.body.dataset.readyMs"))
    print("     10,000 arenas ready after %.0f ms (navigation to ready, in page: %.0f ms)" % (t * 1000, in_page))
    check(t * 1000 <= bound, "10,000-arena map ready within %.0f ms (took %.0f ms)" % (bound, t * 1000))
    check(b.evaluate("objmemHeapmap.arenaRows()") == 10000, "10,000 arena rows")
    check(b.evaluate("objmemHeapmap.poolCells()") == 640000, "640,000 pool cells")
    n = b.evaluate("objmemHeapmap.renderedRowLabels()")
    check(0 < n < 1000, "row labels virtualised: %d in the DOM" % n)
    shot = b.screenshot(os.path.join(args.out, "heapmap-big.png"))
    check_png(shot, b.width, b.height, 20000)
    order = heap_order(snap)
    ai = order[-1]
    slot = max(s for s, p in enumerate(snap["arenas"][ai]["pools"]))
    want = expected_tooltip(snap, ai, slot)
    check(b.evaluate("objmemHeapmap.tooltipFor(%d, %d)" % (ai, slot)) == want, "tooltipFor the last row's last pool")
    start = time.monotonic()
    check(hover(b, ai, slot) == want, "scrolled to the last row, hovering its last pool shows its tooltip")
    print("     scroll to the end and hover: %.0f ms" % ((time.monotonic() - start) * 1000))
    check(b.evaluate("!!document.querySelector('.arena-row[data-index=\"%d\"]')" % ai),
          "the last row's label is in the DOM once scrolled to")
    start = time.monotonic()
    b.evaluate("objmemHeapmap.setOrder('address')")
    print("     redrawn in address order: %.0f ms" % ((time.monotonic() - start) * 1000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["small", "big"])
    ap.add_argument("--out", default=".")
    ap.add_argument("--template", default=os.path.join(HEAPMAP, "template.html"))
    args = ap.parse_args()
    chromium = cdp.find_chromium()
    if not chromium:
        print("SKIP: no chromium (install Debian's: tools/deps.sh install test; or set OBJMEM_CHROMIUM)")
        return 77
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, "chromium-%s.log" % args.case)
    b = cdp.Browser(chromium, log_path=log)
    try:
        (run_small if args.case == "small" else run_big)(b, args)
        b.pump(0.2)
        errors = b.evaluate("objmemHeapmap.errors()")
        check(not errors and b.evaluate("document.body.dataset.errors") == "0", "no uncaught error in the page %s" % errors)
        check(not b.problems, "no console error, exception or error log entry %s" % b.problems)
    except cdp.CDPError as e:
        check(False, "browser: %s (its output: %s)" % (e, log))
    finally:
        b.close()
    print("%d failed" % len(failures) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
