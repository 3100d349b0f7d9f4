#!/usr/bin/env python3
"""memreturn.py: does memory go back to the OS after most objects die?

Builds about SIZE MiB of Python objects (argument 1, default 1024: dicts,
lists, tuples, strings of mixed lengths, a few larger strings), drops a
random 90% of them (fixed seed), calls gc.collect(), then idles for about
0.5 s, creating and dropping a small list every 50 ms.  Its own RSS is read
from /proc/self/statm before building (base), after building (peak),
after the drop and after idling.  Prints one key=value line; all RSS
values are in KiB.  The workload is the same for every allocator: the
number of records depends only on SIZE, never on measured memory.

From the start of the drop to the end of the idle it also samples its RSS
about every 10 ms, in this thread (no sampler thread whose own
allocations would differ between allocators): between records during the
drop, before and after gc.collect(), and between 10 ms sleeps while
idle.  With --rss-trace FILE the samples go to FILE as CSV lines
t_ms,rss_kb,phase (t_ms from the start of the drop; phase drop, collect
or idle), which bench/plot.py draws as RSS over time.

    memreturn.py [SIZE] [--rss-trace FILE]
"""
import gc
import os
import random
import sys
import time

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# records per MiB: calibrated so that peak RSS - base RSS is about SIZE MiB
# under CPython 3.11's default allocator (one record is roughly 1.5 KiB).
RECORDS_PER_MIB = 680

SHORT = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_KB


def hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def record(rng, i):
    n = rng.randint(0, 12)
    r = {
        "id": i,
        "name": "%s-%d" % (SHORT[i & 7], i),
        "text": "x" * rng.randint(8, 200),
        "vals": [i + k for k in range(n)],
        "pair": (i, str(i)),
        "sub": {"a": i, "b": [str(k) for k in range(n // 2)]},
    }
    if i % 97 == 0:
        r["blob"] = "B" * rng.randint(600, 8000)
    return r


class Samples:
    """RSS samples at most every PERIOD_NS, each with its phase."""
    PERIOD_NS = 10 * 1000 * 1000

    def __init__(self):
        self.t0 = time.perf_counter_ns()
        self.next = self.t0
        self.rows = []
        self.phase = "drop"

    def take(self, phase=None, force=False):
        now = time.perf_counter_ns()
        if phase:
            self.phase = phase
        if force or now >= self.next:
            self.rows.append(((now - self.t0) // 1000000, rss_kb(), self.phase))
            self.next = now + self.PERIOD_NS

    def write(self, path):
        with open(path, "w") as f:
            f.write("t_ms,rss_kb,phase\n")
            for t, kb, ph in self.rows:
                f.write("%d,%d,%s\n" % (t, kb, ph))


def main():
    args = sys.argv[1:]
    trace = None
    if "--rss-trace" in args:
        i = args.index("--rss-trace")
        if i + 1 >= len(args):
            sys.exit("memreturn.py: --rss-trace needs a file")
        trace = args[i + 1]
        del args[i:i + 2]
    size_mib = float(args[0]) if args else 1024.0
    rng = random.Random(2024)
    n = max(1000, int(size_mib * RECORDS_PER_MIB))
    gc.collect()
    base = rss_kb()
    t0 = time.perf_counter()
    recs = [record(rng, i) for i in range(n)]
    peak = rss_kb()
    t1 = time.perf_counter()

    keep = 0
    samples = Samples()
    samples.take(force=True)
    for i in range(n):
        if rng.random() < 0.9:
            recs[i] = None
        else:
            keep += 1
        if i & 255 == 0:
            samples.take()
    samples.take("collect", force=True)
    gc.collect()
    after_drop = rss_kb()
    t2 = time.perf_counter()
    samples.take("idle", force=True)

    # idle: ~0.5 s, a tiny allocation every 50 ms, RSS every 10 ms
    for k in range(50):
        time.sleep(0.01)
        if k % 5 == 4:
            tmp = [str(k), k, (k, k)]
            del tmp
        samples.take()
    after_idle = rss_kb()
    samples.take(force=True)

    chk = 0
    for r in recs:
        if r is not None:
            chk += r["id"] + len(r["text"]) + len(r["vals"]) + len(r["sub"]["b"])
    print("memreturn size_mib=%g records=%d kept=%d base_kb=%d peak_kb=%d drop_kb=%d "
          "idle_kb=%d hwm_kb=%d build_s=%.3f drop_s=%.3f chk=%d"
          % (size_mib, n, keep, base, peak, after_drop, after_idle, hwm_kb(),
             t1 - t0, t2 - t1, chk))
    if trace:
        samples.write(trace)


if __name__ == "__main__":
    main()
