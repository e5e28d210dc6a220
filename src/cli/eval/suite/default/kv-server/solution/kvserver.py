"""An in-memory key-value store served as JSON over HTTP."""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body=None):
        self.send_response(status)
        if body is None:
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def key(self):
        if self.path.startswith("/kv/") and len(self.path) > 4:
            return self.path[4:]
        return None

    def do_GET(self):
        store = self.server.store
        if self.path == "/health":
            return self.send(200, {"status": "ok"})
        if self.path == "/kv":
            return self.send(200, {"keys": sorted(store)})
        key = self.key()
        if key is not None and key in store:
            return self.send(200, {"key": key, "value": store[key]})
        self.send(404, {"error": "not found"})

    def do_PUT(self):
        key = self.key()
        if key is None:
            return self.send(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return self.send(400, {"error": "the body is not JSON"})
        if not isinstance(body, dict) or "value" not in body:
            return self.send(400, {"error": "the body has no value"})
        new = key not in self.server.store
        self.server.store[key] = body["value"]
        self.send(201 if new else 200, {"key": key, "value": body["value"]})

    def do_DELETE(self):
        key = self.key()
        if key is not None and key in self.server.store:
            del self.server.store[key]
            return self.send(204)
        self.send(404, {"error": "not found"})


def make_server(host, port):
    server = ThreadingHTTPServer((host, port), Handler)
    server.store = {}
    return server


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args()
    try:
        make_server("127.0.0.1", args.port).serve_forever()
    except KeyboardInterrupt:
        pass
