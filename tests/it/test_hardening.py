"""Data-plane hardening (issue 16): what a hostile or merely slow client can
and cannot cost the proxy, its backends and its logs. docs/SECURITY.md has
the class, the defence and the test for each case here."""

import json
import os
import re
import socket
import threading
import time
import unittest
import urllib.request

from backend import Backend, payload_bytes, payload_sha256
from harness import Conn, Proxy, georoute_only, request, wait_until


def admin_port(p):
    return int(p.config["admin"]["listen"].rsplit(":", 1)[1])


def status_json(p):
    url = "http://127.0.0.1:%d/status" % admin_port(p)
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@georoute_only("upstream timers and health are georoute's")
class SlowClients(unittest.TestCase):
    """A slow uploader is the client's problem: its 408, never a timeout
    charged to the backend (issue 16 point 2)."""

    def setUp(self):
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)
        cfg = {"workers": 1,
               "regions": {"r": {"backends": [self.b.addr],
                                 "passive": {"consecutive_failures": 3, "ejection_time": "30s",
                                             "max_ejected_pct": 100}}},
               "zones": [{"name": "default", "route": {"regions": ["r"]}}],
               "timeouts": {"upstream_response": "500ms", "client_body": "1500ms"}}
        self.p = Proxy(cfg).start()
        self.addCleanup(self.p.__exit__, None, None, None)

    def test_steady_upload_longer_than_upstream_timeout(self):
        n = 2 << 20
        body = payload_bytes(n)
        with self.p.conn() as c:
            c.send(request("POST", "/echo", [("Content-Length", str(n))]))
            # About 2 s in all, four times upstream_response, each gap far
            # below client_body.
            step = n // 40
            for i in range(0, n, step):
                c.send(body[i:i + step])
                time.sleep(0.05)
            r = c.read_response()
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertEqual(json.loads(r.body)["sha256"], payload_sha256(n))

    def test_stalled_uploads_get_408_and_cost_the_backend_nothing(self):
        conns = []
        for _ in range(12):
            c = self.p.conn()
            self.addCleanup(c.close)
            c.send(request("POST", "/echo", [("Content-Length", "100000")]) + b"x" * 10)
            conns.append(c)
        for c in conns:
            self.assertEqual(c.read_response().status, 408)
        (r,) = status_json(self.p)["regions"]
        (b,) = r["backends"]
        self.assertFalse(b["ejected"], b)
        self.assertEqual(b["consecutive_failures"], 0, b)
        with self.p.conn() as c:
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_response().status, 200)


if __name__ == "__main__":
    unittest.main()
