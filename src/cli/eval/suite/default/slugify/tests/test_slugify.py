"""Hidden acceptance tests of the slugify goal."""
import unittest

from slugify import slugify, unique_slug


class SlugifyTest(unittest.TestCase):
    def test_plain(self):
        self.assertEqual(slugify("Hello World"), "hello-world")

    def test_accents_and_punctuation(self):
        self.assertEqual(slugify("  Héllo, Wörld! "), "hello-world")
        self.assertEqual(slugify("Crème brûlée à la carte"), "creme-brulee-a-la-carte")

    def test_runs_collapse(self):
        self.assertEqual(slugify("a -- b__c...d"), "a-b-c-d")

    def test_digits_kept(self):
        self.assertEqual(slugify("Top 10 of 2024"), "top-10-of-2024")

    def test_non_latin_is_a_separator(self):
        self.assertEqual(slugify("tea 茶 time"), "tea-time")

    def test_empty(self):
        self.assertEqual(slugify(""), "")
        self.assertEqual(slugify("!!! ???"), "")

    def test_other_separator(self):
        self.assertEqual(slugify("Hello World", sep="_"), "hello_world")

    def test_empty_separator(self):
        with self.assertRaises(ValueError):
            slugify("x", sep="")

    def test_max_length(self):
        self.assertEqual(slugify("hello wonderful world", max_length=10), "hello-wond")
        self.assertEqual(slugify("hello wonderful world", max_length=6), "hello")
        self.assertEqual(slugify("hello", max_length=50), "hello")


class UniqueTest(unittest.TestCase):
    def test_new(self):
        self.assertEqual(unique_slug("Hello World", set()), "hello-world")

    def test_taken(self):
        existing = {"hello-world", "hello-world-2"}
        self.assertEqual(unique_slug("Hello World", existing), "hello-world-3")
        self.assertEqual(existing, {"hello-world", "hello-world-2"})

    def test_separator(self):
        self.assertEqual(unique_slug("a b", {"a_b"}, sep="_"), "a_b_2")


if __name__ == "__main__":
    unittest.main()
