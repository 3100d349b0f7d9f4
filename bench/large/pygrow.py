#!/usr/bin/env python3
"""pygrow.py: CPython growing big objects by realloc (run it with
PYTHONMALLOC=malloc so the objects live in the preloaded malloc).

  pygrow.py str        s += 16 KiB chunk, to 64 MiB, 8 rounds (in-place
                       str concatenation: PyUnicode_Resize -> realloc)
  pygrow.py bytearray  b += 16 KiB chunk, to 64 MiB, 8 rounds (bytearray
                       over-allocates by 1/8 -> realloc)
  pygrow.py join       b''.join of 64 MiB then a fresh one, 8 rounds
"""
import sys

CHUNK = 16384
N = 4096  # 64 MiB


def grow_str():
    total = 0
    for r in range(8):
        s = ""
        piece = chr(97 + r) * CHUNK
        for i in range(N):
            s += piece
        total += len(s)
    return total


def grow_bytearray():
    total = 0
    piece = b"x" * CHUNK
    for r in range(8):
        b = bytearray()
        for i in range(N):
            b += piece
        total += len(b)
    return total


def join():
    total = 0
    parts = [bytes([97 + i % 26]) * CHUNK for i in range(N)]
    for r in range(8):
        total += len(b"".join(parts))
    return total


print({"str": grow_str, "bytearray": grow_bytearray, "join": join}[sys.argv[1]]())
