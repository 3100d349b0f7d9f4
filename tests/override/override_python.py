"""override_python.py -- CPython's objects on objmem.

Run plain and under `objmem run` (LD_PRELOAD + PYTHONMALLOC=malloc): stdout
must be the same.  The script builds a large object graph -- instances with
reference cycles, dicts, lists, tuples, strings, big ints, bytes, a few
blocks above objmem's large threshold -- mutates it, drops it so that only
the cycle collector can free it, and prints checksums of what it computed.
Nothing printed depends on addresses or on string hashing.

On stderr it says whether objmem serves this process: when om_owns can be
found in the process, every one of a sample of heap objects must be owned
by objmem ("objmem: om_owns true for N of N objects"), else exit status 1.
"""
import gc
import sys
import weakref

MASK = (1 << 64) - 1


def mix(acc, value):
    return ((acc ^ value) * 1099511628211 + 0x9E3779B97F4A7C15) & MASK


def text_value(s):
    return mix(len(s), int.from_bytes(s[:24].encode(), "little") & MASK)


class Lcg:
    def __init__(self, seed):
        self.state = seed

    def next(self, bound):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & MASK
        return (self.state >> 33) % bound


class Node:
    def __init__(self, parent, key, rng):
        self.parent = parent            # child -> parent: a cycle with parent.children
        self.children = []
        self.key = key
        self.name = "node-%d-%s" % (key, "x" * rng.next(40))
        self.attrs = {"depth": 0 if parent is None else parent.attrs["depth"] + 1,
                      "weight": rng.next(1000) / 7.0,
                      "tags": tuple("t%d" % rng.next(50) for _ in range(rng.next(5)))}
        self.me = self if key % 5 == 0 else None   # a self-cycle now and then


def build(rng, count):
    root = Node(None, 0, rng)
    nodes = [root]
    for key in range(1, count):
        parent = nodes[rng.next(len(nodes))]
        child = Node(parent, key, rng)
        parent.children.append(child)
        nodes.append(child)
    return root, nodes


def mutate(nodes, rng):
    for node in nodes[::3]:
        node.children.reverse()
        node.attrs["note"] = [node.key * k for k in range(rng.next(8))]
        node.name = node.name.upper() + "/" + str(len(node.children))
    for node in nodes[::7]:
        node.attrs.pop("tags", None)
        node.attrs[("pair", node.key)] = {"big": 10 ** 30 + node.key, "b": bytes([node.key % 251, 7]) * 5}


def walk(root):
    acc, stack = 0, [root]
    while stack:
        node = stack.pop()
        acc = mix(acc, node.key)
        acc = mix(acc, text_value(node.name))
        acc = mix(acc, int(node.attrs["weight"] * 1000))
        acc = mix(acc, node.attrs["depth"])
        acc = mix(acc, text_value(",".join(sorted(str(k) for k in node.attrs))))
        stack.extend(node.children)
    return acc


def large_blocks(rng):
    big_list = [rng.next(1 << 30) for _ in range(60000)]          # ~480 KiB of pointers
    big_text = "".join(chr(97 + rng.next(26)) for _ in range(200000))
    buf = bytearray()
    for i in range(3000):
        buf += bytes([i % 256]) * 100
    table = {i: str(i) * 3 for i in range(40000)}                  # a large dict table
    acc = mix(sum(big_list) & MASK, text_value(big_text[-100:]))
    acc = mix(acc, len(buf) + buf[12345])
    return mix(acc, len(table) + len(table[39999]))


def one_round(seed):
    rng = Lcg(seed)
    root, nodes = build(rng, 20000)
    mutate(nodes, rng)
    checksum = walk(root)
    watch = [weakref.ref(n) for n in nodes[::1000]]
    del root, nodes
    gc.collect()
    collected = all(w() is None for w in watch)
    return checksum, collected, large_blocks(rng)


def objmem_ownership():
    try:
        import ctypes
        owns = ctypes.CDLL(None).om_owns
    except (ImportError, OSError, AttributeError):
        return None
    owns.argtypes = [ctypes.c_void_p]
    owns.restype = ctypes.c_int
    # Objects without a gc header start their block, so id() is what malloc
    # returned.  (No 0- or 1-byte bytes: those are static singletons.)
    sample = [float(i) + 0.5 for i in range(500)]
    sample += [10 ** 40 + i for i in range(500)]
    sample += [bytes([i % 256]) * (2 + i % 300) for i in range(500)]
    sample += ["s%06d" % i * (1 + i % 50) for i in range(500)]
    return sum(1 for obj in sample if owns(id(obj))), len(sample)


def main():
    gc.set_threshold(700, 10, 10)
    for round_no in range(2):
        checksum, collected, large = one_round(12345 + round_no)
        print("round %d: graph %016x, cycles collected: %s, large %016x"
              % (round_no, checksum, collected, large))
    owned = objmem_ownership()
    if owned is None:
        print("objmem: not loaded", file=sys.stderr)
        return 0
    print("objmem: om_owns true for %d of %d objects" % owned, file=sys.stderr)
    return 0 if owned[0] == owned[1] else 1


if __name__ == "__main__":
    sys.exit(main())
