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


def main():
    size_mib = float(sys.argv[1]) if len(sys.argv) > 1 else 1024.0
    rng = random.Random(2024)
    n = max(1000, int(size_mib * RECORDS_PER_MIB))
    gc.collect()
    base = rss_kb()
    t0 = time.perf_counter()
    recs = [record(rng, i) for i in range(n)]
    peak = rss_kb()
    t1 = time.perf_counter()

    keep = 0
    for i in range(n):
        if rng.random() < 0.9:
            recs[i] = None
        else:
            keep += 1
    gc.collect()
    after_drop = rss_kb()
    t2 = time.perf_counter()

    # idle: ~0.5 s, a tiny allocation every 50 ms
    for k in range(10):
        time.sleep(0.05)
        tmp = [str(k), k, (k, k)]
        del tmp
    after_idle = rss_kb()

    chk = 0
    for r in recs:
        if r is not None:
            chk += r["id"] + len(r["text"]) + len(r["vals"]) + len(r["sub"]["b"])
    print("memreturn size_mib=%g records=%d kept=%d base_kb=%d peak_kb=%d drop_kb=%d "
          "idle_kb=%d hwm_kb=%d build_s=%.3f drop_s=%.3f chk=%d"
          % (size_mib, n, keep, base, peak, after_drop, after_idle, hwm_kb(),
             t1 - t0, t2 - t1, chk))


if __name__ == "__main__":
    main()
