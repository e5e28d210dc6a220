"""Semantic versions: parsed, compared, bumped."""
import functools
import re

NUM = r"(0|[1-9]\d*)"
IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
VERSION = re.compile(
    rf"^{NUM}\.{NUM}\.{NUM}(?:-({IDENT}(?:\.{IDENT})*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


def parse(version):
    m = VERSION.match(version)
    if not m:
        raise ValueError(f"not a semantic version: {version!r}")
    pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split(".")) if m.group(4) else ()
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), pre


def _cmp(x, y):
    return (x > y) - (x < y)


def compare(a, b):
    pa, pb = parse(a), parse(b)
    c = _cmp(pa[:3], pb[:3])
    if c:
        return c
    ra, rb = pa[3], pb[3]
    if not ra or not rb:
        return _cmp(not ra, not rb)
    for x, y in zip(ra, rb):
        if isinstance(x, int) != isinstance(y, int):
            return -1 if isinstance(x, int) else 1
        c = _cmp(x, y)
        if c:
            return c
    return _cmp(len(ra), len(rb))


def bump(version, part):
    major, minor, patch, _ = parse(version)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ValueError(f"unknown part: {part!r}")


def sort_versions(versions):
    return sorted(versions, key=functools.cmp_to_key(compare))
