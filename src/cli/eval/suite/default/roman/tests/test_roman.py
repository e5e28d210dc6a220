"""Hidden acceptance tests of the roman goal."""
import unittest

from roman import from_roman, to_roman


class ToRomanTest(unittest.TestCase):
    def test_known(self):
        for n, s in [(1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"), (40, "XL"), (90, "XC"),
                     (400, "CD"), (1994, "MCMXCIV"), (2024, "MMXXIV"), (3999, "MMMCMXCIX")]:
            self.assertEqual(to_roman(n), s)

    def test_out_of_range(self):
        for n in (0, -1, 4000):
            with self.assertRaises(ValueError):
                to_roman(n)

    def test_not_an_int(self):
        for bad in (1.0, "5", None, True):
            with self.assertRaises(TypeError):
                to_roman(bad)


class FromRomanTest(unittest.TestCase):
    def test_known(self):
        self.assertEqual(from_roman("MCMXCIV"), 1994)
        self.assertEqual(from_roman("XLII"), 42)

    def test_round_trip(self):
        for n in range(1, 4000):
            self.assertEqual(from_roman(to_roman(n)), n)

    def test_rejects(self):
        for bad in ["", "iv", "IIII", "VV", "IC", "MCMC", "ABC", "XM", "MMMM", "IIV", " X"]:
            with self.assertRaises(ValueError, msg=bad):
                from_roman(bad)


if __name__ == "__main__":
    unittest.main()
