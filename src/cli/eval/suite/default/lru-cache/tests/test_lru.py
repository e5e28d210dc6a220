"""Hidden acceptance tests of the lru-cache goal."""
import unittest

from lru import LRUCache, cached


class LruTest(unittest.TestCase):
    def test_capacity(self):
        for bad in (0, -1):
            with self.assertRaises(ValueError):
                LRUCache(bad)

    def test_evicts_least_recently_used(self):
        c = LRUCache(2)
        c.put("a", 1)
        c.put("b", 2)
        self.assertEqual(c.get("a"), 1)
        c.put("c", 3)
        self.assertNotIn("b", c)
        self.assertEqual(c.keys(), ["a", "c"])
        self.assertEqual(len(c), 2)

    def test_put_replaces_and_refreshes(self):
        c = LRUCache(2)
        c.put("a", 1)
        c.put("b", 2)
        c.put("a", 10)
        c.put("c", 3)
        self.assertEqual(c.keys(), ["a", "c"])
        self.assertEqual(c.get("a"), 10)

    def test_contains_keeps_order(self):
        c = LRUCache(2)
        c.put("a", 1)
        c.put("b", 2)
        self.assertIn("a", c)
        c.put("c", 3)
        self.assertNotIn("a", c)

    def test_hits_and_misses(self):
        c = LRUCache(1)
        self.assertEqual(c.get("x", "none"), "none")
        c.put("x", None)
        self.assertIsNone(c.get("x", "none"))
        self.assertEqual((c.hits, c.misses), (1, 1))

    def test_decorator(self):
        calls = []

        @cached(2)
        def square(n):
            """Squares."""
            calls.append(n)
            return n * n

        self.assertEqual([square(2), square(2), square(3), square(4), square(2)], [4, 4, 9, 16, 4])
        self.assertEqual(calls, [2, 3, 4, 2])
        self.assertEqual(square.__name__, "square")
        self.assertEqual(square.__doc__, "Squares.")
        self.assertIsInstance(square.cache, LRUCache)
        self.assertEqual(len(square.cache), 2)


if __name__ == "__main__":
    unittest.main()
