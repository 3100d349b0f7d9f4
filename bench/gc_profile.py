#!/usr/bin/env python3
"""gc_profile.py — where objmem's collect() spends its time, by phase.

    perf script -i perf.data -F ip,sym,symoff,dso | gc_profile.py BINARY

Reads perf samples with call chains (perf record -g on a bench_gc built
with -g -fno-omit-frame-pointer, bench/gc.sh --profile), expands every
frame of the benchmark binary into its inline chain with addr2line -i, and
attributes each sample to

  * its phase: the function called (or inlined) directly by src/gc/gc.c's
    collect() on the sample's stack: gc_count_refs, gc_move_unreachable,
    gc_delete_fast, gc_delete_garbage, ...; "collect (itself)" when the
    sample is in collect's own code;
  * its leaf: the innermost function, inline ones included (gc_obj,
    visit_reachable, node2_traverse, om_free, ...).

Prints the share of samples per phase, and per phase its top leaves.
"""
import collections
import subprocess
import sys


def nm_symbols(binary):
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                         check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.setdefault(parts[2], int(parts[0], 16))
    return syms


def parse_samples(lines):
    """Yield lists of frames (sym, off or None, dso), leaf first."""
    cur = []
    for line in lines:
        s = line.strip()
        if not s:
            if cur:
                yield cur
                cur = []
            continue
        # "ip sym+0xoff (dso)"
        try:
            _, rest = s.split(None, 1)
        except ValueError:
            continue
        dso = ""
        if rest.endswith(")") and " (" in rest:
            rest, dso = rest.rsplit(" (", 1)
            dso = dso[:-1]
        sym, off = rest, None
        if "+0x" in rest:
            sym, o = rest.rsplit("+0x", 1)
            try:
                off = int(o, 16)
            except ValueError:
                off = None
        cur.append((sym, off, dso))
    if cur:
        yield cur


def inline_chains(binary, addrs):
    """addr -> [function, ...] innermost first (addr2line -i)."""
    if not addrs:
        return {}
    addrs = sorted(addrs)
    inp = "".join("0x%x\n" % a for a in addrs)
    out = subprocess.run(["addr2line", "-a", "-i", "-f", "-e", binary], input=inp,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    chains, cur, key, i = {}, None, None, 0
    while i < len(out):
        line = out[i]
        if line.startswith("0x"):
            if key is not None:
                chains[key] = cur
            key, cur = int(line, 16), []
            i += 1
            continue
        cur.append(line)       # function
        i += 2                 # skip file:line
    if key is not None:
        chains[key] = cur
    return chains


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: perf script -F ip,sym,symoff,dso | gc_profile.py BINARY")
    binary = sys.argv[1]
    syms = nm_symbols(binary)
    samples = list(parse_samples(sys.stdin))
    want = set()
    for frames in samples:
        for depth, (sym, off, dso) in enumerate(frames):
            if dso == binary and sym in syms and off is not None:
                # A caller's frame holds a return address: look up the call.
                want.add(syms[sym] + off - (1 if depth else 0))
    chains = inline_chains(binary, want)

    phases = collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    for frames in samples:
        # The whole stack, outermost first, inline frames expanded.
        stack = []
        for depth, (sym, off, dso) in enumerate(frames):
            if dso == binary and sym in syms and off is not None:
                a = syms[sym] + off - (1 if depth else 0)
                stack.extend(chains.get(a, [sym]))
            else:
                stack.append(sym if sym != "[unknown]" else "?")
        stack.reverse()
        if "collect" in stack:
            k = len(stack) - 1 - stack[::-1].index("collect")
            phase = stack[k + 1] if k + 1 < len(stack) else "collect (itself)"
        else:
            phase = "(outside collect)"
        leaf = stack[-1] if stack else "?"
        phases[phase] += 1
        leaves[phase][leaf] += 1

    total = sum(phases.values()) or 1
    print("%-28s %7s  %s" % ("phase (called by collect)", "share", "top leaf functions (share of all samples)"))
    for phase, n in phases.most_common():
        top = ", ".join("%s %.1f%%" % (f, 100.0 * c / total) for f, c in leaves[phase].most_common(5))
        print("%-28s %6.1f%%  %s" % (phase, 100.0 * n / total, top))
    print("(%d samples)" % total)


if __name__ == "__main__":
    main()
