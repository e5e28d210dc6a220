"""Hidden acceptance tests of the md-toc goal."""
import os
import subprocess
import sys
import tempfile
import unittest

import mdtoc

ROOT = os.path.dirname(os.path.abspath(mdtoc.__file__))
DOC = """# Project Title

Intro text.

## Getting Started

### Install it!

```
# not a heading
## nor this
```

## Usage ##

#### Deep detail

## Usage

#no-space is not a heading
"""


class TocTest(unittest.TestCase):
    def test_toc(self):
        self.assertEqual(
            mdtoc.toc(DOC),
            "\n".join(
                [
                    "- [Project Title](#project-title)",
                    "  - [Getting Started](#getting-started)",
                    "    - [Install it!](#install-it)",
                    "  - [Usage](#usage)",
                    "  - [Usage](#usage-1)",
                ]
            ),
        )

    def test_max_level(self):
        self.assertEqual(
            mdtoc.toc(DOC, max_level=1), "- [Project Title](#project-title)"
        )
        self.assertIn("      - [Deep detail](#deep-detail)", mdtoc.toc(DOC, max_level=4))

    def test_indent_from_shallowest(self):
        self.assertEqual(
            mdtoc.toc("## A\n### B\n## C"), "- [A](#a)\n  - [B](#b)\n- [C](#c)"
        )

    def test_anchor_punctuation(self):
        self.assertEqual(
            mdtoc.toc("# Hello, World: v2.0 (beta) snake_case"),
            "- [Hello, World: v2.0 (beta) snake_case](#hello-world-v20-beta-snake_case)",
        )

    def test_tilde_fence(self):
        self.assertEqual(mdtoc.toc("~~~\n# no\n~~~\n# yes"), "- [yes](#yes)")

    def test_no_headings(self):
        self.assertEqual(mdtoc.toc("just text\n"), "")

    def test_cli(self):
        fd, path = tempfile.mkstemp(suffix=".md")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(DOC)
        self.addCleanup(os.unlink, path)
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "mdtoc.py"), path],
            capture_output=True, text=True, timeout=30,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), mdtoc.toc(DOC))


if __name__ == "__main__":
    unittest.main()
