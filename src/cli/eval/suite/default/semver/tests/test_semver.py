"""Hidden acceptance tests of the semver goal."""
import unittest

from semver import bump, compare, parse, sort_versions


class ParseTest(unittest.TestCase):
    def test_plain(self):
        self.assertEqual(parse("1.2.3"), (1, 2, 3, ()))

    def test_prerelease_and_build(self):
        self.assertEqual(parse("1.0.0-alpha.1+build.5"), (1, 0, 0, ("alpha", 1)))
        self.assertEqual(parse("2.0.0-x-y.0"), (2, 0, 0, ("x-y", 0)))

    def test_invalid(self):
        for bad in ["1.2", "1.2.3.4", "01.2.3", "1.2.3-01", "1.2.3-", "1.2.3-a..b",
                    "v1.2.3", "", "1.2.x", "1.2.3+"]:
            with self.assertRaises(ValueError, msg=bad):
                parse(bad)


class CompareTest(unittest.TestCase):
    def test_order(self):
        chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                 "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0",
                 "2.0.0", "10.0.0"]
        for a, b in zip(chain, chain[1:]):
            self.assertEqual(compare(a, b), -1, (a, b))
            self.assertEqual(compare(b, a), 1, (b, a))

    def test_build_ignored(self):
        self.assertEqual(compare("1.0.0+a", "1.0.0+b"), 0)


class BumpSortTest(unittest.TestCase):
    def test_bump(self):
        self.assertEqual(bump("1.2.3-rc.1", "minor"), "1.3.0")
        self.assertEqual(bump("1.2.3", "major"), "2.0.0")
        self.assertEqual(bump("1.2.3+b", "patch"), "1.2.4")
        with self.assertRaises(ValueError):
            bump("1.2.3", "build")

    def test_sort(self):
        versions = ["1.0.0", "1.0.0-rc.1", "0.9.9", "1.0.0+b1", "1.0.0-alpha"]
        original = list(versions)
        self.assertEqual(
            sort_versions(versions), ["0.9.9", "1.0.0-alpha", "1.0.0-rc.1", "1.0.0", "1.0.0+b1"]
        )
        self.assertEqual(versions, original)


if __name__ == "__main__":
    unittest.main()
