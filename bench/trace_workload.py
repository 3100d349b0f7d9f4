#!/usr/bin/env python3
"""trace_workload.py — an object-heavy CPython program whose allocations
bench/run.sh records (with PYTHONMALLOC=malloc and the bench_trace LD_PRELOAD
library) into bench/traces/python.trace for bench_alloc's `trace` workload.

It does what object-heavy Python code does: builds a large nested JSON-like
document, dumps and re-parses it with json, makes lots of small objects,
dicts, lists, tuples and strings, keeps some and deletes the rest.  It is
deterministic (fixed random seed) and prints a short summary at the end.
Optional argument: a scale factor (default 1.0).
"""
import gc
import json
import random
import sys


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm2(self):
        return self.x * self.x + self.y * self.y


class Slotted:
    __slots__ = ("key", "value", "next")

    def __init__(self, key, value, nxt):
        self.key = key
        self.value = value
        self.next = nxt


WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
         "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho",
         "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"]


def make_user(rng, i):
    return {
        "id": i,
        "name": "%s %s" % (rng.choice(WORDS).title(), rng.choice(WORDS).title()),
        "email": "user%d@%s.example" % (i, rng.choice(WORDS)),
        "active": rng.random() < 0.8,
        "score": rng.random() * 100.0,
        "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 6))],
        "history": [{"t": rng.randint(0, 10**9), "v": rng.random()}
                    for _ in range(rng.randint(0, 4))],
        "address": {"street": "%d %s street" % (rng.randint(1, 999), rng.choice(WORDS)),
                    "zip": "%05d" % rng.randint(0, 99999),
                    "geo": [rng.uniform(-90, 90), rng.uniform(-180, 180)]},
        "friends": [rng.randint(0, 10**6) for _ in range(rng.randint(0, 8))],
    }


def json_phase(rng, n):
    doc = {"version": 1, "users": [make_user(rng, i) for i in range(n)]}
    text = json.dumps(doc)
    back = json.loads(text)
    assert len(back["users"]) == n
    # regroup: dict of lists keyed by tag
    by_tag = {}
    for u in back["users"]:
        for t in u["tags"]:
            by_tag.setdefault(t, []).append(u["id"])
    del doc
    return text, back, by_tag


def object_phase(rng, n):
    pts = [Point(rng.random(), rng.random()) for _ in range(n)]
    total = sum(p.norm2() for p in pts)
    chain = None
    for i in range(n // 2):
        chain = Slotted(i, (i, str(i)), chain)
    # delete a random half of the points, then make new ones
    rng.shuffle(pts)
    del pts[: n // 2]
    pts.extend(Point(i, -i) for i in range(n // 4))
    tuples = [(i, i * 2, str(i)) for i in range(n)]
    strings = ["-".join(WORDS[j % len(WORDS)] for j in range(i % 7 + 1)) for i in range(n)]
    counts = {}
    for s in strings:
        counts[s] = counts.get(s, 0) + 1
    return total, chain, pts, tuples, counts


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rng = random.Random(12345)
    keep = []
    for rnd in range(2):
        text, back, by_tag = json_phase(rng, int(2500 * scale))
        total, chain, pts, tuples, counts = object_phase(rng, int(15000 * scale))
        # keep a little of every round alive, drop the rest
        keep.append((back["users"][:100], len(text), len(by_tag), total, len(pts)))
        del text, back, by_tag, chain, pts, tuples, counts
        gc.collect()
    print("trace_workload: rounds=%d kept=%d" % (len(keep), sum(len(k[0]) for k in keep)))


if __name__ == "__main__":
    main()
