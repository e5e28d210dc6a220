"""Hidden acceptance tests of the fix-inventory goal."""
import unittest

from inventory import Inventory


class FixedInventoryTest(unittest.TestCase):
    def test_new_inventories_share_nothing(self):
        a = Inventory()
        a.add("apple", 1, price=1.0)
        b = Inventory()
        self.assertEqual(b.quantity("apple"), 0)
        self.assertEqual(b.total_value(), 0)

    def test_given_items_are_copied(self):
        items = {"pear": {"qty": 2, "price": 1.0}}
        inv = Inventory(items)
        inv.add("pear", 1)
        inv.add("plum", 1, price=2.0)
        self.assertEqual(items, {"pear": {"qty": 2, "price": 1.0}})

    def test_total_value_prices_each_item(self):
        inv = Inventory()
        inv.add("melon", 1, price=3.0)
        inv.add("apple", 4, price=0.5)
        self.assertEqual(inv.total_value(), 5.0)
        inv.add("grape", 10, price=0.125)
        self.assertEqual(inv.total_value(), 6.25)

    def test_cannot_remove_more_than_in_stock(self):
        inv = Inventory()
        inv.add("apple", 3, price=0.5)
        with self.assertRaises(ValueError):
            inv.remove("apple", 4)
        self.assertEqual(inv.quantity("apple"), 3)
        inv.remove("apple", 3)
        self.assertEqual(inv.quantity("apple"), 0)
        with self.assertRaises(ValueError):
            inv.remove("apple", 1)

    def test_remove_unknown(self):
        with self.assertRaises(KeyError):
            Inventory().remove("ghost", 1)

    def test_low_stock_is_strictly_below(self):
        inv = Inventory()
        inv.add("b", 5, price=1)
        inv.add("a", 2, price=1)
        inv.add("c", 3, price=1)
        self.assertEqual(inv.low_stock(3), ["a"])
        self.assertEqual(inv.low_stock(6), ["a", "b", "c"])

    def test_price_update(self):
        inv = Inventory()
        inv.add("apple", 2, price=0.5)
        inv.add("apple", 1, price=1.0)
        self.assertEqual(inv.total_value(), 3.0)

    def test_bad_quantities(self):
        inv = Inventory()
        with self.assertRaises(ValueError):
            inv.add("apple", 0, price=1)
        inv.add("apple", 1, price=1)
        with self.assertRaises(ValueError):
            inv.remove("apple", 0)


if __name__ == "__main__":
    unittest.main()
