"""Summarises a CSV file of sales."""
import csv
import json
import sys
from collections import defaultdict


def summarize(path):
    rows = skipped = 0
    total = 0.0
    regions = {}
    products = defaultdict(float)
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                units = int(row["units"])
                price = float(row["unit_price"])
            except (TypeError, ValueError):
                skipped += 1
                continue
            if units < 0 or price < 0:
                skipped += 1
                continue
            rows += 1
            revenue = units * price
            total += revenue
            r = regions.setdefault(row["region"], {"units": 0, "revenue": 0.0})
            r["units"] += units
            r["revenue"] += revenue
            products[row["product"]] += revenue
    for r in regions.values():
        r["revenue"] = round(r["revenue"], 2)
    top = min(products.items(), key=lambda kv: (-kv[1], kv[0]))[0] if products else None
    return {
        "rows": rows,
        "skipped": skipped,
        "total_revenue": round(total, 2),
        "by_region": regions,
        "top_product": top,
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: sales_summary.py FILE", file=sys.stderr)
        sys.exit(2)
    try:
        summary = summarize(sys.argv[1])
    except OSError as e:
        print(f"sales_summary: {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(summary, indent=2, sort_keys=True))
