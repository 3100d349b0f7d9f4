#!/usr/bin/env python3
"""text.py: a regex/text job.

Generates a deterministic corpus of sentences from a synthetic vocabulary,
then tokenises it with re (words, numbers, e-mail-like tokens), counts
words with a dict, normalises with str methods (lower, strip, split,
replace), rebuilds lines with str.join and formatting, and runs a few
substitutions.  Prints one checksum line.  Optional argument: scale (1.0).
"""
import random
import re
import sys
import zlib

WORD_RE = re.compile(r"[A-Za-z][a-z']+")
NUM_RE = re.compile(r"\b\d+(?:\.\d+)?\b")
MAIL_RE = re.compile(r"\b[\w.]+@[\w]+\.example\b")
SPACE_RE = re.compile(r"\s+")


def vocabulary(rng, n):
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "an", "el", "or", "ix",
            "qu", "be", "do", "fa"]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(syll) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def corpus(rng, vocab, n_lines):
    lines = []
    for i in range(n_lines):
        k = rng.randint(5, 25)
        ws = [vocab[min(int(rng.paretovariate(1.2)) - 1, len(vocab) - 1)] for _ in range(k)]
        if rng.random() < 0.3:
            ws.insert(rng.randrange(len(ws)), str(rng.randint(0, 99999)))
        if rng.random() < 0.1:
            ws.append("%s.%s@%s.example" % (ws[0], i, rng.choice(vocab)))
        ws[0] = ws[0].capitalize()
        lines.append("  " + " ".join(ws) + rng.choice((".", "!", "?", "...")) + "  ")
    return lines


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rng = random.Random(99)
    vocab = vocabulary(rng, 5000)
    n_lines = max(2000, int(60000 * scale))
    lines = corpus(rng, vocab, n_lines)
    text = "\n".join(lines)

    counts = {}
    for w in WORD_RE.findall(text):
        w = w.lower()
        counts[w] = counts.get(w, 0) + 1
    nums = sum(float(m) for m in NUM_RE.findall(text))
    mails = len(MAIL_RE.findall(text))

    # per-line normalisation with str methods
    crc = 0
    bigrams = {}
    for line in lines:
        t = line.strip().lower().replace("...", ".").rstrip(".!?")
        parts = t.split()
        for a, b in zip(parts, parts[1:]):
            key = a + " " + b
            bigrams[key] = bigrams.get(key, 0) + 1
        out = "|".join(p.upper() if len(p) > 6 else p for p in parts)
        crc = zlib.crc32(out.encode(), crc)

    # substitutions and rebuild
    squeezed = SPACE_RE.sub(" ", text)
    masked = NUM_RE.sub(lambda m: "#" * len(m.group()), squeezed)
    crc = zlib.crc32(masked.encode(), crc)

    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50]
    report = "\n".join("%-20s %8d" % kv for kv in top)
    crc = zlib.crc32(report.encode(), crc)
    top_bi = sorted(bigrams.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    print("text lines=%d words=%d distinct=%d bigrams=%d nums=%.2f mails=%d top=%s/%s crc=%08x"
          % (n_lines, sum(counts.values()), len(counts), len(bigrams), nums, mails,
             top[0][0], top_bi[0][0].replace(" ", "_"), crc))


if __name__ == "__main__":
    main()
