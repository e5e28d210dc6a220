import unittest

from inventory import Inventory


class InventoryTest(unittest.TestCase):
    def test_add_and_quantity(self):
        inv = Inventory()
        inv.add("apple", 3, price=0.5)
        inv.add("apple", 2)
        self.assertEqual(inv.quantity("apple"), 5)
        self.assertEqual(inv.quantity("pear"), 0)

    def test_new_item_needs_a_price(self):
        with self.assertRaises(ValueError):
            Inventory().add("kiwi", 1)

    def test_total_value(self):
        inv = Inventory()
        inv.add("apple", 4, price=0.5)
        inv.add("melon", 1, price=3.0)
        self.assertEqual(inv.total_value(), 5.0)


if __name__ == "__main__":
    unittest.main()
