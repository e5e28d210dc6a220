"""A small stock keeper: items with a quantity and a unit price."""


class Inventory:
    """Items by SKU, each with a quantity on hand and a unit price."""

    def __init__(self, items=None):
        """`items` maps SKU to `{"qty": int, "price": float}` (copied, never shared)."""
        self.items = {sku: dict(item) for sku, item in (items or {}).items()}

    def add(self, sku, qty, price=None):
        """Adds `qty` (> 0) of `sku`; `price` is required for a new SKU and replaces the
        unit price when given. Raises ValueError for a quantity below 1 or a new SKU
        without a price."""
        if qty < 1:
            raise ValueError("quantity must be at least 1")
        if sku not in self.items:
            if price is None:
                raise ValueError(f"{sku}: a new item needs a price")
            self.items[sku] = {"qty": 0, "price": price}
        self.items[sku]["qty"] += qty
        if price is not None:
            self.items[sku]["price"] = price

    def remove(self, sku, qty):
        """Takes `qty` (> 0) of `sku` out of stock. Raises KeyError for an unknown SKU and
        ValueError when there is not that much in stock (nothing is taken then)."""
        if qty < 1:
            raise ValueError("quantity must be at least 1")
        item = self.items[sku]
        if qty > item["qty"]:
            raise ValueError(f"{sku}: only {item['qty']} in stock")
        item["qty"] -= qty

    def quantity(self, sku):
        """The quantity on hand of `sku` (0 for an unknown SKU)."""
        return self.items.get(sku, {"qty": 0})["qty"]

    def total_value(self):
        """The value of everything in stock: the sum of quantity * unit price."""
        return round(sum(i["qty"] * i["price"] for i in self.items.values()), 2)

    def low_stock(self, threshold):
        """SKUs with fewer than `threshold` on hand, sorted."""
        return sorted(sku for sku, item in self.items.items() if item["qty"] < threshold)
