"""Hidden acceptance tests of the sales-summary goal."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import sales_summary

ROOT = os.path.dirname(os.path.abspath(sales_summary.__file__))
CSV = """date,region,product,units,unit_price
2024-01-02,north,widget,3,2.50
2024-01-03,south,gadget,1,10
2024-01-03,north,gadget,2,10.00
2024-01-04,east,widget,x,2.50
2024-01-05,south,widget,4,-1
2024-01-05,south,widget,4,2.5
2024-01-06,west,gizmo,1.5,3
"""


class SummaryTest(unittest.TestCase):
    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".csv")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_summary(self):
        s = sales_summary.summarize(self.write(CSV))
        self.assertEqual(s["rows"], 4)
        self.assertEqual(s["skipped"], 3)
        self.assertAlmostEqual(s["total_revenue"], 47.5)
        self.assertEqual(
            s["by_region"],
            {"north": {"units": 5, "revenue": 27.5}, "south": {"units": 5, "revenue": 20.0}},
        )
        self.assertEqual(s["top_product"], "gadget")

    def test_tie_is_alphabetical(self):
        s = sales_summary.summarize(
            self.write("date,region,product,units,unit_price\nd,r,zeta,1,5\nd,r,alpha,5,1\n")
        )
        self.assertEqual(s["top_product"], "alpha")

    def test_rounding(self):
        s = sales_summary.summarize(
            self.write("date,region,product,units,unit_price\nd,r,p,3,0.333\nd,r,p,1,0.0049\n")
        )
        self.assertEqual(s["total_revenue"], 1.0)
        self.assertEqual(s["by_region"]["r"]["revenue"], 1.0)
        self.assertEqual(s["by_region"]["r"]["units"], 4)

    def test_empty(self):
        s = sales_summary.summarize(self.write("date,region,product,units,unit_price\n"))
        self.assertEqual(
            s,
            {"rows": 0, "skipped": 0, "total_revenue": 0, "by_region": {}, "top_product": None},
        )

    def test_cli(self):
        path = self.write(CSV)
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "sales_summary.py"), path],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), json.loads(json.dumps(sales_summary.summarize(path))))
        self.assertEqual(out.stdout.strip(), json.dumps(json.loads(out.stdout), indent=2, sort_keys=True))

    def test_cli_missing_file(self):
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "sales_summary.py"), "/nonexistent/sales.csv"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(out.returncode, 1)
        self.assertTrue(out.stderr.strip())


if __name__ == "__main__":
    unittest.main()
