#!/usr/bin/env python3
"""containers.py: dict/list churn.

Keeps a pool of live containers of mixed sizes (small dicts, large dicts,
lists from a few items to thousands, sets, tuples) and, per step, builds
new ones, mutates some (insert, update, pop, append, extend, slice-delete,
sort) and deletes others, so the allocator sees growth, shrinking and
frees of every size.  Prints one checksum line.  Optional argument:
scale (1.0).
"""
import random
import sys

SIZES = (1, 2, 3, 5, 8, 13, 30, 100, 400, 2000)
WEIGHTS = (20, 20, 15, 12, 10, 8, 6, 5, 3, 1)


def make(rng, kind, size, step):
    if kind == 0:
        return {("k%d" % i): i * step for i in range(size)}
    if kind == 1:
        return [i ^ step for i in range(size)]
    if kind == 2:
        return {i * 31 + step for i in range(size)}
    if kind == 3:
        return tuple(str(i) for i in range(size))
    return {i: [i, str(i)] for i in range(size)}


def mutate(rng, c, step):
    if isinstance(c, dict):
        n = len(c)
        for i in range(4):
            c["m%d_%d" % (step, i)] = [step, i]
        if n > 2:
            for k in list(c)[: n // 3]:
                del c[k]
        c.update({"u%d" % (step % 17): step})
        return len(c)
    if isinstance(c, list):
        c.extend(range(step % 23))
        c.append(str(step))
        if len(c) > 6:
            del c[1: len(c) // 2]
        c.insert(0, step)
        c.sort(key=lambda v: v if isinstance(v, int) else -1)
        return len(c)
    if isinstance(c, set):
        c.add(step)
        c.discard(step - 1)
        return len(c)
    return len(c)


def checksum(c):
    if isinstance(c, dict):
        return len(c) * 7 + sum(v if isinstance(v, int) else len(v) for v in c.values())
    if isinstance(c, (list, tuple, set)):
        return len(c) * 3 + sum(v if isinstance(v, int) else len(v) for v in c)
    return 0


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rng = random.Random(4242)
    live_target = max(200, int(6000 * scale))
    steps = max(2000, int(30000 * scale))
    pool = []
    acc = 0
    for step in range(steps):
        # build a few
        for _ in range(3):
            size = rng.choices(SIZES, WEIGHTS)[0]
            pool.append(make(rng, rng.randrange(5), size, step))
        # mutate a few
        for _ in range(3):
            acc += mutate(rng, pool[rng.randrange(len(pool))], step)
        # delete down to the target (random victims, swap-remove)
        while len(pool) > live_target:
            i = rng.randrange(len(pool))
            acc += checksum(pool[i]) & 0xFFFF
            pool[i] = pool[-1]
            pool.pop()
        # every so often drop a large fraction at once
        if step % 5000 == 4999:
            rng.shuffle(pool)
            for c in pool[len(pool) // 2:]:
                acc += len(c)
            del pool[len(pool) // 2:]
    for c in pool:
        acc += checksum(c) & 0xFFFF
    print("containers steps=%d live=%d acc=%d" % (steps, len(pool), acc))


if __name__ == "__main__":
    main()
