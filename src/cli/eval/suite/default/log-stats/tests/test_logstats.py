"""Hidden acceptance tests of the log-stats goal."""
import json
import os
import subprocess
import sys
import unittest

import logstats

ROOT = os.path.dirname(os.path.abspath(logstats.__file__))
LOG = """127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326
10.0.0.2 - - [10/Oct/2000:13:56:01 -0700] "POST /login HTTP/1.1" 302 -
10.0.0.2 - - [10/Oct/2000:13:56:02 -0700] "GET /home HTTP/1.1" 200 512

this line is not a log line
10.0.0.3 - - [10/Oct/2000:13:57:00 -0700] "GET /home HTTP/1.1" 404 100
127.0.0.1 - frank [10/Oct/2000:13:58:00 -0700] "GET /apache_pb.gif HTTP/1.0" 304 0
"""


class ParseTest(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(
            logstats.parse_line(LOG.splitlines()[0] + "\n"),
            {
                "ip": "127.0.0.1",
                "time": "10/Oct/2000:13:55:36 -0700",
                "method": "GET",
                "path": "/apache_pb.gif",
                "protocol": "HTTP/1.0",
                "status": 200,
                "size": 2326,
            },
        )

    def test_dash_size(self):
        self.assertEqual(logstats.parse_line(LOG.splitlines()[1])["size"], 0)

    def test_malformed(self):
        for bad in ["", "nonsense", '1.2.3.4 - - [x] "GET /" 200 1',
                    '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" abc 1']:
            self.assertIsNone(logstats.parse_line(bad), bad)


class SummaryTest(unittest.TestCase):
    def test_summary(self):
        s = logstats.summarize(LOG.splitlines(keepends=True))
        self.assertEqual(s["requests"], 5)
        self.assertEqual(s["malformed"], 1)
        self.assertEqual(s["bytes"], 2326 + 512 + 100)
        self.assertEqual(s["status"], {"200": 2, "302": 1, "404": 1, "304": 1})
        self.assertEqual(s["top_paths"], [["/apache_pb.gif", 2], ["/home", 2], ["/login", 1]])
        self.assertEqual(s["unique_ips"], 3)

    def test_top_five(self):
        lines = [
            f'1.1.1.1 - - [t] "GET /p{i} HTTP/1.1" 200 1' for i in range(7) for _ in range(i + 1)
        ]
        top = logstats.summarize(lines)["top_paths"]
        self.assertEqual([p for p, _ in top], ["/p6", "/p5", "/p4", "/p3", "/p2"])

    def test_cli_stdin(self):
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "logstats.py")],
            input=LOG, capture_output=True, text=True, timeout=30,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["requests"], 5)
        self.assertEqual(json.loads(out.stdout)["top_paths"][0], ["/apache_pb.gif", 2])


if __name__ == "__main__":
    unittest.main()
