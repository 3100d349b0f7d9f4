#!/usr/bin/env python3
"""gen_snapshots.py: synthetic objmem heap snapshots, for the heap map's
tests and for trying the page without a program to snapshot.

Writes JSON Lines (one snapshot object a line), in the schema that
om_heap_snapshot_write produces ("objmem_snapshot": 1): geometry, the class
table of src/alloc/sizeclass.h, heaps, arenas with their pools as
[state, class, used, carved, capacity], large mappings, totals computed from
the arenas, and (optionally) objects.  Deterministic for a given seed.

    gen_snapshots.py --preset small -o small.jsonl   3 snapshots, a few
        arenas of each geometry, large blocks, objects; the last snapshot
        has no objects or large sections and carries unknown fields
    gen_snapshots.py --preset big -o big.jsonl       10,000 small arenas
        (640,000 pools) in one snapshot
    gen_snapshots.py --arenas N --medium F --snapshots K --large L ...

Pool states: 0 never used, 1 empty resident, 2 empty purged, 3 used,
4 full, 5 quarantined; class -1 when empty or never used.
"""
import argparse
import json
import random
import sys

GEOMETRY = {"pool": 16384, "arena": 1048576, "medium_pool": 262144,
            "medium_arena": 4194304, "page": 4096}
SMALL_POOLS = GEOMETRY["arena"] // GEOMETRY["pool"]                 # 64
MEDIUM_POOLS = GEOMETRY["medium_arena"] // GEOMETRY["medium_pool"]  # 16
POOL16_MAX = 1024


def class_sizes():
    """Block size of each class, as src/alloc/sizeclass.h computes it."""
    sizes = [16 * (c + 1) for c in range(32)]
    for j in range(32):
        k = 9 + j // 4
        sizes.append((1 << k) + (j % 4 + 1) * (1 << (k - 2)))
    return sizes


CLASSES = class_sizes()
SMALL_GEOM_CLASSES = [c for c, s in enumerate(CLASSES) if s <= POOL16_MAX]
MEDIUM_GEOM_CLASSES = [c for c, s in enumerate(CLASSES) if s > POOL16_MAX]


def capacity(cls):
    pool = GEOMETRY["pool"] if CLASSES[cls] <= POOL16_MAX else GEOMETRY["medium_pool"]
    return pool // CLASSES[cls]


def make_pool(rng, medium, state=None):
    if state is None:
        state = rng.choices([1, 2, 3, 4, 5], weights=[10, 10, 50, 28, 2])[0]
    if state in (0, 1, 2):
        return [state, -1, 0, 0, 0]
    # small classes are far more common than big ones
    choices = MEDIUM_GEOM_CLASSES if medium else SMALL_GEOM_CLASSES
    cls = choices[min(len(choices) - 1, int(rng.expovariate(1 / 6)))]
    cap = capacity(cls)
    if state == 4:
        return [4, cls, cap, cap, cap]
    carved = rng.randint(1, cap)
    used = rng.randint(1, max(1, min(carved, cap - 1)))
    return [state, cls, used, carved, cap]


def make_arena(rng, base, medium, heap):
    n = MEDIUM_POOLS if medium else SMALL_POOLS
    carved_pools = rng.randint(1, n)  # pools past the carving mark were never used
    pools = [make_pool(rng, medium) if i < carved_pools else [0, -1, 0, 0, 0]
             for i in range(n)]
    return {"base": base, "geom": "medium" if medium else "small", "heap": heap,
            "order": -1, "pools": pools}


def number_orders(rng, arenas):
    """Each heap's usable arenas (those with a pool not full) in order."""
    per_heap = {}
    for a in arenas:
        a["order"] = -1
        if any(p[0] != 4 for p in a["pools"]):
            per_heap.setdefault((a["heap"], a["geom"]), []).append(a)
    for group in per_heap.values():
        rng.shuffle(group)
        for i, a in enumerate(group):
            a["order"] = i


def make_large(rng, n):
    out = []
    base = 0x7f5000000000
    for _ in range(n):
        size = int(2 ** rng.uniform(17.1, 26))
        mapped = (size + GEOMETRY["page"] - 1) // GEOMETRY["page"] * GEOMETRY["page"]
        state = "cached" if rng.random() < 0.25 else "live"
        resident = mapped if state == "live" and rng.random() < 0.5 else \
            rng.randint(0, mapped // GEOMETRY["page"]) * GEOMETRY["page"]
        out.append({"base": hex(base), "size": size, "mapped": mapped,
                    "resident": resident, "state": state})
        base += mapped + GEOMETRY["page"] * rng.randint(1, 64)
    return out


TYPE_NAMES = ["int", "float", "str", "bytes", "tuple", "list", "dict", "set",
              "weakref", "node", "frame", "cell"]


def make_objects(rng, seq):
    types = []
    for name in TYPE_NAMES:
        live = rng.randint(0, 50000) * (seq + 1)
        types.append({"name": name, "live": live, "bytes": live * rng.choice([16, 32, 48, 64, 96])})
    return {"types": types,
            "gc": {"generations": [rng.randint(0, 700), rng.randint(0, 5000), rng.randint(0, 90000)],
                   "collections": [40 * (seq + 1), 3 * (seq + 1), seq]}}


def totals(arenas, large, heaps):
    pools = [p for a in arenas for p in a["pools"]]
    in_use = sum(p[2] * CLASSES[p[1]] for p in pools if p[1] >= 0)
    small = sum(1 for a in arenas if a["geom"] == "small")
    medium = len(arenas) - small
    mapped = small * GEOMETRY["arena"] + medium * GEOMETRY["medium_arena"]
    purged_bytes = sum(GEOMETRY["pool"] if a["geom"] == "small" else GEOMETRY["medium_pool"]
                       for a in arenas for p in a["pools"] if p[0] in (0, 2))
    return {
        "arenas_current": len(arenas), "small_arenas": small, "medium_arenas": medium,
        "pools_total": len(pools),
        "pools_empty": sum(1 for p in pools if p[0] in (1, 2)),
        "pools_purged": sum(1 for p in pools if p[0] == 2),
        "bytes_in_use": in_use,
        "bytes_arena_mapped": mapped,
        "large_count": sum(1 for b in large if b["state"] == "live"),
        "large_bytes": sum(b["mapped"] for b in large if b["state"] == "live"),
        "large_cached": sum(1 for b in large if b["state"] == "cached"),
        "heaps_active": sum(1 for h in heaps if h["state"] == "active"),
        "heaps_abandoned": sum(1 for h in heaps if h["state"] == "abandoned"),
        "rss": mapped - purged_bytes + sum(b["resident"] for b in large),
    }


def generate(arenas=8, medium=0.35, snapshots=3, large=6, heaps=3, objects=True,
             seed=1, odd_last=False, churn=0.2):
    """A list of snapshot dicts.  odd_last: the last snapshot has no
    objects or large sections and carries fields the page must ignore."""
    rng = random.Random(seed)
    heap_list = [{"id": i, "state": "abandoned" if i == heaps - 1 and heaps > 1 else "active",
                  "thread": 4000 + i} for i in range(heaps)]
    n_medium = int(round(arenas * medium))
    small_base, medium_base = 0x7f3a00000000, 0x7f4000000000
    arena_list = []
    for i in range(arenas):
        is_medium = i < n_medium
        if is_medium:
            base = medium_base + i * 3 * GEOMETRY["medium_arena"]
        else:
            base = small_base + (i - n_medium) * 2 * GEOMETRY["arena"]
        arena_list.append(make_arena(rng, hex(base), is_medium, rng.randrange(heaps)))
    rng.shuffle(arena_list)  # snapshot order is not address order
    large_list = make_large(rng, large)
    out = []
    for seq in range(snapshots):
        if seq:
            for a in arena_list:
                medium_geom = a["geom"] == "medium"
                carved = sum(1 for p in a["pools"] if p[0] != 0)
                for i in range(carved):  # pools past the carving mark stay unused
                    if rng.random() < churn:
                        a["pools"][i] = make_pool(rng, medium_geom)
                if carved < len(a["pools"]) and rng.random() < churn:
                    a["pools"][carved] = make_pool(rng, medium_geom, 3)
            for b in large_list:
                if rng.random() < churn:
                    b["state"] = "cached" if b["state"] == "live" else "live"
        number_orders(rng, arena_list)
        snap = {
            "objmem_snapshot": 1, "version": "0.3.0", "pid": 12345,
            "command": "synthetic --seed %d" % seed, "seq": seq, "time_ms": 1000 + 250 * seq,
            "geometry": dict(GEOMETRY), "classes": list(CLASSES),
            "heaps": [dict(h) for h in heap_list],
            "arenas": [{**a, "pools": [list(p) for p in a["pools"]]} for a in arena_list],
            "large": [dict(b) for b in large_list],
            "totals": totals(arena_list, large_list, heap_list),
        }
        if objects:
            snap["objects"] = make_objects(rng, seq)
        if odd_last and seq == snapshots - 1:
            del snap["large"]
            snap.pop("objects", None)
            snap["future_section"] = {"not": ["known", "</script>"]}
            snap["arenas"][0]["future_field"] = 1
            snap["heaps"][0]["future_field"] = "x"
        out.append(snap)
    return out


PRESETS = {
    "small": dict(arenas=8, medium=0.375, snapshots=3, large=6, heaps=3, objects=True,
                  odd_last=True),
    "big": dict(arenas=10000, medium=0.0, snapshots=1, large=40, heaps=8, objects=True),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--arenas", type=int)
    ap.add_argument("--medium", type=float, help="fraction of arenas of the medium geometry")
    ap.add_argument("--snapshots", type=int)
    ap.add_argument("--large", type=int, help="large mappings")
    ap.add_argument("--heaps", type=int)
    ap.add_argument("--no-objects", dest="objects", action="store_false", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", default="-")
    args = ap.parse_args(argv)
    params = dict(PRESETS.get(args.preset, {}))
    for key in ("arenas", "medium", "snapshots", "large", "heaps", "objects"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    snaps = generate(seed=args.seed, **params)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    with out:
        for s in snaps:
            out.write(json.dumps(s, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
