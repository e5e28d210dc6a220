"""Counts lines, words and characters, and the most frequent words."""
import argparse
import string
import sys
from collections import Counter


def count(text):
    return {"lines": len(text.splitlines()), "words": len(text.split()), "chars": len(text)}


def top_words(text, k):
    words = (w.lower().strip(string.punctuation) for w in text.split())
    counts = Counter(w for w in words if w)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("file")
    p.add_argument("--top", type=int, default=0)
    args = p.parse_args(argv)
    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            print(f"wordcount: {e}", file=sys.stderr)
            return 1
    c = count(text)
    for key in ("lines", "words", "chars"):
        print(f"{key}: {c[key]}")
    for word, n in top_words(text, args.top):
        print(f"{word} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
