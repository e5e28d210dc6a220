"""Hidden acceptance tests of the wordcount goal."""
import os
import subprocess
import sys
import tempfile
import unittest

import wordcount

ROOT = os.path.dirname(os.path.abspath(wordcount.__file__))
TEXT = "The cat sat.\nThe dog, the CAT!\n\n-- end --\n"


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "wordcount.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


class CountTest(unittest.TestCase):
    def test_count(self):
        self.assertEqual(wordcount.count(TEXT), {"lines": 4, "words": 10, "chars": len(TEXT)})

    def test_count_of_nothing(self):
        self.assertEqual(wordcount.count(""), {"lines": 0, "words": 0, "chars": 0})

    def test_unicode_chars(self):
        self.assertEqual(wordcount.count("héllo wörld")["chars"], 11)

    def test_top_words(self):
        self.assertEqual(wordcount.top_words(TEXT, 3), [("the", 3), ("cat", 2), ("dog", 1)])

    def test_top_words_drops_pure_punctuation(self):
        words = [w for w, _ in wordcount.top_words(TEXT, 10)]
        self.assertNotIn("--", words)
        self.assertNotIn("", words)
        self.assertEqual(words, ["the", "cat", "dog", "end", "sat"])


class CliTest(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(TEXT)

    def tearDown(self):
        os.unlink(self.path)

    def test_counts(self):
        out = run(self.path)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(
            out.stdout.splitlines(), ["lines: 4", "words: 10", f"chars: {len(TEXT)}"]
        )

    def test_top(self):
        out = run(self.path, "--top", "2")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines()[3:], ["the 3", "cat 2"])

    def test_stdin(self):
        out = run("-", stdin="a b\nc\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["lines: 2", "words: 3", "chars: 6"])

    def test_missing_file(self):
        out = run(os.path.join(tempfile.gettempdir(), "no-such-file-wordcount.txt"))
        self.assertEqual(out.returncode, 1)
        self.assertTrue(out.stderr.strip())
        self.assertEqual(out.stdout, "")


if __name__ == "__main__":
    unittest.main()
