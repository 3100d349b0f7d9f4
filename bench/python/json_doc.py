#!/usr/bin/env python3
"""json_doc.py: JSON encode/decode of a large nested document.

Builds a deterministic nested document (users with tags, histories and
nested settings), then dumps it with json.dumps and parses it back with
json.loads several times, with and without indentation, and walks the
parsed copy.  Prints one checksum line.  Optional argument: scale (1.0).
"""
import json
import random
import sys
import zlib

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
         "nu xi omicron pi rho sigma tau upsilon phi chi psi omega").split()


def make_doc(rng, n_users):
    users = []
    for i in range(n_users):
        users.append({
            "id": i,
            "name": "%s %s" % (rng.choice(WORDS).title(), rng.choice(WORDS).title()),
            "email": "user%d@%s.example" % (i, rng.choice(WORDS)),
            "active": rng.random() < 0.8,
            "score": round(rng.random() * 100.0, 3),
            "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 6))],
            "history": [{"t": rng.randint(0, 10**9), "v": round(rng.random(), 6),
                         "kind": rng.choice(WORDS)}
                        for _ in range(rng.randint(0, 5))],
            "settings": {"theme": rng.choice(WORDS), "lang": rng.choice(WORDS)[:2],
                         "limits": [rng.randint(1, 1000) for _ in range(3)],
                         "nested": {"a": {"b": {"c": [i, None, True]}}}},
        })
    return {"version": 3, "generated": "fixed", "users": users,
            "index": {str(i): i * 7 for i in range(0, n_users, 3)}}


def walk(obj):
    """Count nodes and sum the ints and string lengths of a parsed document."""
    nodes = 0
    acc = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        nodes += 1
        if isinstance(o, dict):
            for k, v in o.items():
                acc += len(k)
                stack.append(v)
        elif isinstance(o, list):
            stack.extend(o)
        elif isinstance(o, bool) or o is None:
            pass
        elif isinstance(o, int):
            acc += o & 0xFFFF
        elif isinstance(o, str):
            acc += len(o)
    return nodes, acc


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rng = random.Random(12345)
    n_users = max(100, int(8000 * scale))
    doc = make_doc(rng, n_users)
    crc = 0
    total_nodes = 0
    total_acc = 0
    for rep in range(4):
        text = json.dumps(doc, indent=(2 if rep % 2 else None), sort_keys=(rep == 3))
        crc = zlib.crc32(text.encode(), crc)
        back = json.loads(text)
        nodes, acc = walk(back)
        total_nodes += nodes
        total_acc += acc
        # mutate the parsed copy and make it the next round's input
        for u in back["users"][rep::7]:
            u["tags"].append("r%d" % rep)
            u["history"] = u["history"][1:]
        doc = back
        del text, back
    print("json_doc users=%d nodes=%d acc=%d crc=%08x" % (n_users, total_nodes, total_acc, crc))


if __name__ == "__main__":
    main()
