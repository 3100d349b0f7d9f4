#!/usr/bin/env python3
"""objects.py: a class-heavy object simulation.

Many small instances of a plain class (instance __dict__) and of a
__slots__ class: particles that move, collide into cells, are born and
die every step, plus linked chains of slotted nodes that are built and
dropped.  Prints one checksum line.  Optional argument: scale (1.0).
"""
import random
import sys


class Particle:
    def __init__(self, pid, x, y, vx, vy):
        self.pid = pid
        self.x = x
        self.y = y
        self.vx = vx
        self.vy = vy
        self.hits = 0
        self.tag = None

    def step(self):
        self.x = (self.x + self.vx) % 1000
        self.y = (self.y + self.vy) % 1000


class SlotParticle:
    __slots__ = ("pid", "x", "y", "vx", "vy", "hits", "tag")

    def __init__(self, pid, x, y, vx, vy):
        self.pid = pid
        self.x = x
        self.y = y
        self.vx = vx
        self.vy = vy
        self.hits = 0
        self.tag = None

    def step(self):
        self.x = (self.x + self.vx) % 1000
        self.y = (self.y + self.vy) % 1000


class Node:
    __slots__ = ("value", "next")

    def __init__(self, value, nxt):
        self.value = value
        self.next = nxt


class Event:
    def __init__(self, kind, a, b):
        self.kind = kind
        self.a = a
        self.b = b


def simulate(cls, rng, n, steps):
    parts = [cls(i, rng.randrange(1000), rng.randrange(1000),
                 rng.randint(-9, 9), rng.randint(-9, 9)) for i in range(n)]
    next_id = n
    acc = 0
    for s in range(steps):
        cells = {}
        events = []
        for p in parts:
            p.step()
            key = (p.x // 50, p.y // 50)
            other = cells.get(key)
            if other is None:
                cells[key] = p
            else:
                p.hits += 1
                other.hits += 1
                p.tag = ("hit", s)
                events.append(Event("hit", p.pid, other.pid))
        acc += len(events) + len(cells)
        # death and birth: replace ~15% of the population
        survivors = []
        for p in parts:
            if p.hits > 3 or rng.random() < 0.1:
                acc += p.pid + p.hits
            else:
                survivors.append(p)
        while len(survivors) < n:
            survivors.append(cls(next_id, rng.randrange(1000), rng.randrange(1000),
                                 rng.randint(-9, 9), rng.randint(-9, 9)))
            next_id += 1
        parts = survivors
        del events, cells
    for p in parts:
        acc += p.x * 3 + p.y + p.hits
    return acc, next_id


def chains(rng, n_chains, length):
    acc = 0
    keep = []
    for c in range(n_chains):
        head = None
        for i in range(length):
            head = Node(i * c, head)
        total = 0
        node = head
        while node is not None:
            total += node.value
            node = node.next
        acc += total
        if rng.random() < 0.05:
            keep.append(head)
    return acc + len(keep)


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rng = random.Random(777)
    n = max(500, int(20000 * scale))
    a1, ids1 = simulate(Particle, rng, n, 40)
    a2, ids2 = simulate(SlotParticle, rng, n, 40)
    a3 = chains(rng, max(20, int(400 * scale)), 1000)
    print("objects n=%d plain=%d/%d slots=%d/%d chains=%d" % (n, a1, ids1, a2, ids2, a3))


if __name__ == "__main__":
    main()
