"""A table of contents for a Markdown document."""
import re
import sys

HEADING = re.compile(r"^(#{1,6}) (.*)$")


def anchor(title):
    a = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return a.replace(" ", "-")


def toc(markdown, max_level=3):
    fence = None
    entries = []
    used = {}
    for line in markdown.splitlines():
        if fence:
            if line.startswith(fence):
                fence = None
            continue
        if line.startswith("```") or line.startswith("~~~"):
            fence = line[:3]
            continue
        m = HEADING.match(line)
        if not m:
            continue
        level = len(m.group(1))
        title = re.sub(r"\s+#+\s*$", "", " " + m.group(2)).strip()
        base = anchor(title)
        n = used.get(base, 0)
        used[base] = n + 1
        slug = base if n == 0 else f"{base}-{n}"
        if level <= max_level:
            entries.append((level, title, slug))
    if not entries:
        return ""
    top = min(level for level, _, _ in entries)
    return "\n".join(f"{'  ' * (level - top)}- [{t}](#{s})" for level, t, s in entries)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(toc(f.read()))
