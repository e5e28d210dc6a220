"""Hidden acceptance tests of the kv-server goal: real HTTP on 127.0.0.1."""
import json
import threading
import unittest
import urllib.error
import urllib.request

import kvserver


class KvServerTest(unittest.TestCase):
    def setUp(self):
        self.server = kvserver.make_server("127.0.0.1", 0)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def call(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method
        )
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def json_call(self, method, path, body=None, raw=None):
        status, ctype, payload = self.call(method, path, body, raw)
        self.assertIn("application/json", ctype, (method, path, status))
        return status, json.loads(payload)

    def test_health(self):
        self.assertEqual(self.json_call("GET", "/health"), (200, {"status": "ok"}))

    def test_put_get_replace(self):
        self.assertEqual(
            self.json_call("PUT", "/kv/a", {"value": [1, 2]}), (201, {"key": "a", "value": [1, 2]})
        )
        self.assertEqual(self.json_call("GET", "/kv/a"), (200, {"key": "a", "value": [1, 2]}))
        self.assertEqual(
            self.json_call("PUT", "/kv/a", {"value": {"x": None}}),
            (200, {"key": "a", "value": {"x": None}}),
        )
        self.assertEqual(self.json_call("GET", "/kv/a"), (200, {"key": "a", "value": {"x": None}}))

    def test_missing(self):
        self.assertEqual(self.json_call("GET", "/kv/nope"), (404, {"error": "not found"}))
        self.assertEqual(self.json_call("DELETE", "/kv/nope"), (404, {"error": "not found"}))

    def test_delete(self):
        self.json_call("PUT", "/kv/gone", {"value": 1})
        status, _, payload = self.call("DELETE", "/kv/gone")
        self.assertEqual((status, payload), (204, b""))
        self.assertEqual(self.json_call("GET", "/kv/gone")[0], 404)

    def test_list_sorted(self):
        for k in ["b", "c", "a"]:
            self.json_call("PUT", f"/kv/{k}", {"value": k})
        self.assertEqual(self.json_call("GET", "/kv"), (200, {"keys": ["a", "b", "c"]}))

    def test_bad_bodies(self):
        status, body = self.json_call("PUT", "/kv/x", raw=b"{not json")
        self.assertEqual(status, 400)
        self.assertIsInstance(body.get("error"), str)
        status, body = self.json_call("PUT", "/kv/x", {"val": 1})
        self.assertEqual(status, 400)
        self.assertEqual(self.json_call("GET", "/kv/x")[0], 404)

    def test_unknown_path(self):
        self.assertEqual(self.json_call("GET", "/nothing/here"), (404, {"error": "not found"}))

    def test_servers_do_not_share(self):
        other = kvserver.make_server("127.0.0.1", 0)
        try:
            self.json_call("PUT", "/kv/mine", {"value": 1})
            port = other.server_address[1]
            t = threading.Thread(target=other.serve_forever, daemon=True)
            t.start()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/kv/mine")
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(e.exception.code, 404)
            e.exception.close()
        finally:
            other.shutdown()
            other.server_close()


if __name__ == "__main__":
    unittest.main()
